/* SPDX-License-Identifier: MIT */
/* The scenarios of the fault sweep (faults.sh): plain pthread programs,
 * built WITHOUT libgreen and run under LD_PRELOAD of a fault-injection
 * build of libgreen.so with one fault injected (GREEN_FAULT=KIND:N).
 * Each checks what it got and says so in its exit status:
 *   0  every call either did its job or failed with an error its manual
 *      page documents (the program handled it, as a careful program
 *      would), and every byte and result that was reported is right;
 *   1  an invariant broke: a wrong result, a lost or corrupted byte, a
 *      child that went missing (the line says which);
 *   2  a call failed with an error its manual page does not document
 *      (pthread_create saying ENOMEM, say): reported, not a crash.
 * A signal, a hang (faults.sh's time limit) or a sanitizer's report are
 * judged from outside.
 *
 *   faultprog spawn [N]            N (1000) threads: create, run, join
 *   faultprog dns [N]              N (40) getaddrinfo calls in 8 threads
 *                                  against GREEN_DNS_SERVERS (fakedns)
 *   faultprog fork [N]             N (8) threads each fork a child that
 *                                  writes to a pipe; read, waitpid
 *   faultprog echo PORT [N]        (natively) N (100) clients of an echo
 *                                  server on 127.0.0.1:PORT: each sends,
 *                                  reads the echo back and checks it
 *   faultprog list                 nothing (for differential.sh) */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int broken, undocumented, reported;

/* An error a call documents: counted, the program goes on. */
static void documented(const char *what, int err)
{
    atomic_fetch_add(&reported, 1);
    fprintf(stderr, "faultprog: %s: %s (documented)\n", what,
            strerrorname_np(err) ? strerrorname_np(err) : "?");
}

static void undocumented_error(const char *what, int err)
{
    atomic_fetch_add(&undocumented, 1);
    fprintf(stderr, "faultprog: %s: %s is not an error it documents\n", what,
            strerrorname_np(err) ? strerrorname_np(err) : "?");
}

static void broke(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "faultprog: BROKEN: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    atomic_fetch_add(&broken, 1);
}

static int is_one_of(int e, const int *list)
{
    for (; *list != 0; list++) {
        if (*list == e) {
            return 1;
        }
    }
    return 0;
}

static int finish(const char *scenario)
{
    int b = atomic_load(&broken), u = atomic_load(&undocumented);
    printf("%s: %s (%d documented errors, %d undocumented, %d broken)\n",
           scenario, b ? "BROKEN" : u ? "undocumented error" : "ok",
           atomic_load(&reported), u, b);
    fflush(stdout);
    return b ? 1 : u ? 2 : 0;
}

/* ---- spawn: N threads, each runs and is joined ------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long ran;

static void *spawned(void *arg)
{
    int e = pthread_mutex_lock(&mu);
    if (e != 0) {
        broke("pthread_mutex_lock: %s", strerrorname_np(e));
        return NULL;
    }
    ran++;
    pthread_mutex_unlock(&mu);
    sched_yield();
    return (void *)((intptr_t)arg * 2 + 1);
}

static int spawn(int n)
{
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    int made = 0;
    /* pthread_create documents EAGAIN (and EINVAL, EPERM for bad
     * attributes, which are not made here). */
    static const int ok[] = {EAGAIN, 0};
    for (int i = 0; i < n; i++) {
        int e = pthread_create(&t[made], NULL, spawned, (void *)(intptr_t)i);
        if (e == 0) {
            made++;
            continue;
        }
        if (is_one_of(e, ok)) {
            documented("pthread_create", e);
        } else {
            undocumented_error("pthread_create", e);
        }
    }
    /* Every thread that was made runs once and is joined with its value;
     * the values are 2i+1 for distinct i, so their sum is checked. */
    long sum = 0;
    for (int i = 0; i < made; i++) {
        void *v = NULL;
        int e = pthread_join(t[i], &v);
        if (e != 0) {
            broke("pthread_join of a thread that was made: %s",
                  strerrorname_np(e));
            continue;
        }
        if (((intptr_t)v & 1) == 0) {
            broke("thread %d returned %ld", i, (long)(intptr_t)v);
        }
        sum += (long)(intptr_t)v;
    }
    if (ran != made) {
        broke("%d threads made, %ld ran", made, ran);
    }
    if (made == n && sum != (long)n * n) {
        broke("results add up to %ld, not %ld", sum, (long)n * n);
    }
    free(t);
    return finish("spawn");
}

/* ---- dns: getaddrinfo from several threads ----------------------------- */

struct lookup {
    const char *name;
    const char *want; /* the first address, or NULL: must not resolve */
};

static const struct lookup lookups[] = {
    {"one.test", "192.0.2.10"}, {"two.test", "192.0.2.20"},
    {"alias.test", "192.0.2.10"}, {"h300.test", "10.0.1.44"},
    {"nxdomain.test", NULL},
};

static int dns_each;

static void *resolver(void *arg)
{
    int id = (int)(intptr_t)arg;
    /* getaddrinfo documents EAI_AGAIN, EAI_MEMORY, EAI_FAIL, EAI_SYSTEM
     * (with errno) for what can go wrong on the way. */
    static const int ok[] = {EAI_AGAIN, EAI_MEMORY, EAI_FAIL, EAI_SYSTEM, 0};
    for (int k = 0; k < dns_each; k++) {
        const struct lookup *l = &lookups[(id + k) % 5];
        struct addrinfo hints = {.ai_family = AF_INET,
                                 .ai_socktype = SOCK_STREAM};
        struct addrinfo *res = NULL;
        int r = getaddrinfo(l->name, NULL, &hints, &res);
        if (r == 0) {
            char ip[INET_ADDRSTRLEN] = "";
            inet_ntop(AF_INET,
                      &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip,
                      sizeof(ip));
            if (l->want == NULL) {
                broke("%s resolved to %s", l->name, ip);
            } else if (strcmp(ip, l->want) != 0) {
                bool found = false;
                for (struct addrinfo *a = res; a != NULL; a = a->ai_next) {
                    inet_ntop(AF_INET,
                              &((struct sockaddr_in *)a->ai_addr)->sin_addr,
                              ip, sizeof(ip));
                    found = found || strcmp(ip, l->want) == 0;
                }
                if (!found) {
                    broke("%s: %s is not in the answer", l->name, l->want);
                }
            }
            freeaddrinfo(res);
        } else if (l->want == NULL && (r == EAI_NONAME || r == EAI_NODATA)) {
            /* the right answer */
        } else if (is_one_of(r, ok)) {
            documented(l->name, r == EAI_SYSTEM ? errno : EAGAIN);
        } else if (r == EAI_NONAME && l->want != NULL) {
            broke("%s: EAI_NONAME, but it exists (a fault became a wrong "
                  "answer)", l->name);
        } else {
            atomic_fetch_add(&undocumented, 1);
            fprintf(stderr, "faultprog: %s: %s\n", l->name, gai_strerror(r));
        }
    }
    return NULL;
}

static int dns(int n)
{
    if (getenv("GREEN_DNS_SERVERS") == NULL) {
        fprintf(stderr, "faultprog dns: set GREEN_DNS_SERVERS (fakedns)\n");
        return 77;
    }
    enum { T = 8 };
    pthread_t t[T];
    bool made[T] = {false};
    dns_each = (n + T - 1) / T;
    for (int i = 0; i < T; i++) {
        int e = pthread_create(&t[i], NULL, resolver, (void *)(intptr_t)i);
        if (e == 0) {
            made[i] = true;
        } else if (e == EAGAIN) {
            documented("pthread_create", e);
        } else {
            undocumented_error("pthread_create", e);
        }
    }
    for (int i = 0; i < T; i++) {
        if (made[i]) {
            pthread_join(t[i], NULL);
        }
    }
    return finish("dns");
}

/* ---- fork: threads that fork children ---------------------------------- */

static void *forker(void *arg)
{
    int id = (int)(intptr_t)arg;
    int p[2];
    if (pipe(p) != 0) {
        if (errno == EMFILE || errno == ENFILE) {
            documented("pipe", errno);
        } else {
            undocumented_error("pipe", errno);
        }
        return NULL;
    }
    pid_t pid = fork();
    if (pid < 0) {
        if (errno == EAGAIN || errno == ENOMEM) {
            documented("fork", errno);
        } else {
            undocumented_error("fork", errno);
        }
        close(p[0]);
        close(p[1]);
        return NULL;
    }
    if (pid == 0) {
        /* The child: a line to the parent. A fault here (the counts go
         * on in the child) is a documented error too: status 2. */
        close(p[0]);
        char msg[32];
        int len = snprintf(msg, sizeof(msg), "child %d", id);
        ssize_t w = write(p[1], msg, (size_t)len);
        _exit(w == len ? 0 : w < 0 && (errno == EINTR || errno == EAGAIN) ? 2
                                                                        : 3);
    }
    close(p[1]);
    char buf[64];
    size_t got = 0;
    bool read_failed = false;
    for (;;) {
        ssize_t r = read(p[0], buf + got, sizeof(buf) - 1 - got);
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR) {
            documented("read", errno);
            continue;
        }
        if (r < 0) {
            undocumented_error("read", errno);
            read_failed = true;
        }
        break;
    }
    buf[got] = '\0';
    close(p[0]);
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR) {
        documented("waitpid", EINTR);
    }
    if (w != pid) {
        broke("waitpid: child %d lost (%s)", (int)pid, strerrorname_np(errno));
    } else if (read_failed) {
        /* reported; the child may have died of the closed pipe */
    } else if (!WIFEXITED(st)) {
        broke("child %d died of signal %d", id, WTERMSIG(st));
    } else if (WEXITSTATUS(st) == 2) {
        documented("the child's write", EINTR);
    } else if (WEXITSTATUS(st) != 0) {
        broke("child %d exited %d", id, WEXITSTATUS(st));
    } else {
        char want[32];
        snprintf(want, sizeof(want), "child %d", id);
        if (strcmp(buf, want) != 0) {
            broke("child %d wrote '%s'", id, buf);
        }
    }
    return NULL;
}

static int forks(int n)
{
    pthread_t t[64];
    bool made[64] = {false};
    if (n > 64) {
        n = 64;
    }
    for (int i = 0; i < n; i++) {
        int e = pthread_create(&t[i], NULL, forker, (void *)(intptr_t)i);
        if (e == 0) {
            made[i] = true;
        } else if (e == EAGAIN) {
            documented("pthread_create", e);
        } else {
            undocumented_error("pthread_create", e);
        }
    }
    for (int i = 0; i < n; i++) {
        if (made[i]) {
            pthread_join(t[i], NULL);
        }
    }
    return finish("fork");
}

/* ---- echo: clients of a server under faults (this side native) -------- */

static int echo_port;
static atomic_int dropped;

/* One connection: send a distinct message, read the echo until all of it
 * came back or the server ended the connection. What came back must be
 * exactly the start of what was sent. */
static void *client(void *arg)
{
    int id = (int)(intptr_t)arg;
    char msg[1500], back[1500];
    size_t len = 200 + (size_t)(id * 37) % 1200;
    for (size_t k = 0; k < len; k++) {
        msg[k] = (char)('A' + (id * 7 + (int)k) % 53);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)echo_port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        atomic_fetch_add(&dropped, 1);
        close(fd);
        return NULL;
    }
    size_t sent = 0, got = 0;
    while (sent < len) {
        ssize_t w = send(fd, msg + sent, len - sent, MSG_NOSIGNAL);
        if (w <= 0) {
            break;
        }
        sent += (size_t)w;
    }
    while (got < sent) {
        ssize_t r = recv(fd, back + got, sent - got, 0);
        if (r <= 0) {
            if (r < 0 && errno == EAGAIN) {
                broke("client %d: no echo for 5 s (%zu of %zu bytes)", id,
                      got, sent);
            }
            break;
        }
        got += (size_t)r;
    }
    if (memcmp(msg, back, got) != 0) {
        broke("client %d: the echo differs from what was sent", id);
    }
    if (got < len) {
        atomic_fetch_add(&dropped, 1);
    }
    close(fd);
    return NULL;
}

static int echo(int port, int n)
{
    echo_port = port;
    pthread_t t[1024];
    if (n > 1024) {
        n = 1024;
    }
    for (int i = 0; i < n; i++) {
        pthread_create(&t[i], NULL, client, (void *)(intptr_t)i);
    }
    for (int i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
    }
    /* The server must still serve: one more client, four tries half a
     * second apart (an accept that failed with EMFILE makes legacy_echo
     * sleep 1 s). */
    int before = atomic_load(&dropped);
    bool served = false;
    for (int k = 0; k < 4 && !served; k++) {
        int d = atomic_load(&dropped);
        client((void *)(intptr_t)(n + k));
        served = atomic_load(&dropped) == d;
        if (!served) {
            usleep(500000);
        }
    }
    atomic_store(&dropped, before);
    if (!served) {
        broke("the server no longer serves");
    }
    printf("echo: %d clients, %d ended early\n", n, atomic_load(&dropped));
    return finish("echo");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "list") == 0) {
        return argc < 2 ? 2 : 0;
    }
    const char *what = argv[1];
    if (strcmp(what, "spawn") == 0) {
        return spawn(argc > 2 ? atoi(argv[2]) : 1000);
    }
    if (strcmp(what, "dns") == 0) {
        return dns(argc > 2 ? atoi(argv[2]) : 40);
    }
    if (strcmp(what, "fork") == 0) {
        return forks(argc > 2 ? atoi(argv[2]) : 8);
    }
    if (strcmp(what, "echo") == 0 && argc > 2) {
        return echo(atoi(argv[2]), argc > 3 ? atoi(argv[3]) : 100);
    }
    fprintf(stderr, "usage: faultprog spawn|dns|fork [N] | echo PORT [N]\n");
    return 2;
}
