/* SPDX-License-Identifier: MIT */
/* The stdio line-echo benchmark: a thread-per-connection server whose
 * threads wrap their sockets in streams (fdopen, "r" and "w" on a dup)
 * and echo lines with fgets, fputs and fflush, and a load client in a
 * child process (one thread, poll, raw read and write) that keeps every
 * connection busy with one 64-byte line in flight. Built WITHOUT
 * libgreen, run natively (an OS thread per connection) and under
 * LD_PRELOAD=libgreen.so (green threads on one OS thread): bench/
 * stdio_echo.sh runs both and prints the table.
 *
 *   stdio_echo [CONNS [LINES [LABEL]]]     (100, 5000 per connection)
 *
 * STDIO_ECHO_RAW=1: the server threads use read and write instead, the
 * reference for what the streams cost.
 *
 * Measured: the server process's CPU time (user + system, getrusage)
 * from the moment every connection is up until the client has had its
 * last echo, divided by the lines echoed; the lines per second of wall
 * time; the server's OS threads. With two CPUs or more the server runs
 * on CPU 0 and the client on CPU 1. Prints `name value unit` lines:
 *   stdio_echo.LABEL.cpu_per_line  ns
 *   stdio_echo.LABEL.lines_per_s   lines/s
 *   stdio_echo.LABEL.threads       threads
 * and exits non-zero if any echo was wrong. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINE 64

static void die(const char *what)
{
    fprintf(stderr, "stdio_echo: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static int os_threads(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "Threads:", 8) == 0) {
            n = atoi(line + 8);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return n;
}

static void pin(int cpu)
{
    if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        return;
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof(set), &set);
}

/* --- the server ----------------------------------------------------------- */

static int listen_fd, nconns;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int up;

/* The reference: the same thread per connection with read and write. */
static void serve_raw(int fd)
{
    char buf[256];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (write(fd, buf, (size_t)n) != n) {
            break;
        }
    }
    close(fd);
}

static int raw;

static void *serve(void *arg)
{
    int fd = (int)(long)arg;
    if (raw) {
        pthread_mutex_lock(&mu);
        up++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        serve_raw(fd);
        return NULL;
    }
    FILE *in = fdopen(fd, "r");
    FILE *out = fdopen(dup(fd), "w");
    if (in == NULL || out == NULL) {
        die("fdopen");
    }
    pthread_mutex_lock(&mu);
    up++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    char line[256];
    while (fgets(line, sizeof(line), in) != NULL) {
        if (fputs(line, out) == EOF || fflush(out) == EOF) {
            break;
        }
    }
    fclose(in);
    fclose(out);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 64 * 1024);
    for (int i = 0; i < nconns; i++) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0) {
            die("accept");
        }
        pthread_t t;
        if (pthread_create(&t, &a, serve, (void *)(long)fd) != 0) {
            die("pthread_create");
        }
        pthread_detach(t);
    }
    return NULL;
}

/* --- the client (a child process, one thread) ---------------------------- */

static int client(struct sockaddr_in *addr, int go_fd, int done_fd,
                  long lines)
{
    pin(1);
    int *fd = calloc((size_t)nconns, sizeof(int));
    long *left = calloc((size_t)nconns, sizeof(long));
    int *have = calloc((size_t)nconns, sizeof(int));
    struct pollfd *p = calloc((size_t)nconns, sizeof(*p));
    if (fd == NULL || left == NULL || have == NULL || p == NULL) {
        die("calloc");
    }
    for (int i = 0; i < nconns; i++) {
        fd[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fd[i] < 0 ||
            connect(fd[i], (struct sockaddr *)addr, sizeof(*addr)) != 0) {
            die("connect");
        }
        left[i] = lines;
        p[i] = (struct pollfd){.fd = fd[i], .events = POLLIN};
    }
    char go;
    if (read(go_fd, &go, 1) != 1) {
        die("read go");
    }
    char msg[LINE];
    memset(msg, 'e', sizeof(msg) - 1);
    msg[LINE - 1] = '\n';
    for (int i = 0; i < nconns; i++) {
        if (write(fd[i], msg, LINE) != LINE) {
            die("write");
        }
    }
    int active = nconns, bad = 0;
    char buf[LINE * 4];
    while (active > 0) {
        if (poll(p, (nfds_t)nconns, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("poll");
        }
        for (int i = 0; i < nconns; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            ssize_t n = read(fd[i], buf, sizeof(buf));
            if (n <= 0) {
                die("read");
            }
            for (ssize_t k = 0; k < n; k++) {
                bad += buf[k] != msg[have[i]];
                have[i]++;
                if (have[i] == LINE) {
                    have[i] = 0;
                    if (--left[i] > 0) {
                        if (write(fd[i], msg, LINE) != LINE) {
                            die("write");
                        }
                    } else {
                        p[i].fd = -1;
                        active--;
                    }
                }
            }
        }
    }
    char done = bad == 0 ? 'y' : 'n';
    if (write(done_fd, &done, 1) != 1) {
        die("write done");
    }
    return bad == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    nconns = argc > 1 ? atoi(argv[1]) : 100;
    long lines = argc > 2 ? atol(argv[2]) : 5000;
    const char *label = argc > 3 ? argv[3] : "run";
    raw = getenv("STDIO_ECHO_RAW") != NULL; /* read/write, for reference */
    if (nconns <= 0 || lines <= 0) {
        fprintf(stderr, "usage: stdio_echo [CONNS [LINES [LABEL]]]\n");
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
        rl.rlim_cur < (rlim_t)nconns * 3 + 64) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(addr);
    if (listen_fd < 0 ||
        bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        getsockname(listen_fd, (struct sockaddr *)&addr, &alen) != 0 ||
        listen(listen_fd, 4096) != 0) {
        die("listen");
    }
    int go[2], done[2];
    if (pipe(go) != 0 || pipe(done) != 0) {
        die("pipe");
    }
    /* The client first, while this process has no thread: under the
     * preload it stays a plain process. */
    pid_t pid = fork();
    if (pid < 0) {
        die("fork");
    }
    if (pid == 0) {
        close(listen_fd);
        _exit(client(&addr, go[0], done[1], lines));
    }
    pin(0);
    pthread_t acc;
    if (pthread_create(&acc, NULL, accept_loop, NULL) != 0) {
        die("pthread_create");
    }
    pthread_mutex_lock(&mu);
    while (up < nconns) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    pthread_join(acc, NULL);
    int threads = os_threads();
    double c0 = cpu_seconds(), t0 = now();
    if (write(go[1], "g", 1) != 1) {
        die("write go");
    }
    char ok;
    if (read(done[0], &ok, 1) != 1) {
        die("read done");
    }
    double c1 = cpu_seconds(), t1 = now();
    int st;
    waitpid(pid, &st, 0);
    double total = (double)nconns * (double)lines;
    printf("stdio_echo.%s.cpu_per_line %.0f ns\n", label,
           (c1 - c0) / total * 1e9);
    printf("stdio_echo.%s.lines_per_s %.0f lines/s\n", label,
           total / (t1 - t0));
    printf("stdio_echo.%s.threads %d threads\n", label, threads);
    fflush(stdout);
    _exit(ok == 'y' && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1);
}
