/* SPDX-License-Identifier: MIT */
/* The echo benchmark's load client. Opens N connections to an echo server
 * on 127.0.0.1, and has each ping-pong one message of SIZE bytes (64) at
 * a time: send, wait for the whole echo, check it byte for byte, send the
 * next. After a warm-up it measures for a fixed time and prints one line
 * of `key=value` pairs:
 *
 *   rt_per_s        round trips per second, all connections together
 *   p50_us, p99_us  latency of one round trip (send to last byte back)
 *   cpu_us_per_rt   the SERVER's CPU time (utime + stime of every thread,
 *                   /proc/PID/stat) over the measured window / round trips
 *   server_util     the server's CPU time / wall time (1.0 = one core busy)
 *   client_util     this client's own, the same way: near 1.0 means the
 *                   client, not the server, set the pace
 *   rss_kib, hwm_kib, base_rss_kib   the server's VmRSS at the end of the
 *                   window, its VmHWM (peak), its VmRSS before we connected
 *   kib_per_conn    (rss_kib - base_rss_kib) / N
 *   threads         the server's own OS threads (/proc/PID/status; but
 *                   for libgreen's own, named green-..., where few)
 *
 * One OS thread and one epoll set (level-triggered): pin it to a core of
 * its own (taskset) so that it and the server do not share one. It raises
 * RLIMIT_NOFILE to the hard limit, and connects in batches of --batch: a
 * batch is connected and each of its connections has had one echo back
 * (so the server has accepted it) before the next batch starts, so the
 * listen backlog never holds more than one batch.
 *
 *   client --port P [--pid PID] [--conns N] [--warmup S] [--duration S]
 *          [--size BYTES] [--batch B] [--timeout S]
 *
 * Exits 1, naming the cause on stderr, if a connection fails, an echo is
 * wrong, or nothing comes back for --timeout seconds (10). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_SIZE = 4096, EVENTS = 1024 };

struct conn {
    int fd;
    uint32_t id;
    uint32_t got;     /* bytes of the current echo received */
    uint64_t seq;     /* the message in flight */
    uint64_t sent_ns; /* when it was sent */
};

static struct {
    int port, pid, conns, size, batch;
    double warmup, duration, timeout;
} opt = {.port = 0, .pid = 0, .conns = 1, .size = 64, .batch = 100,
         .warmup = 1.0, .duration = 3.0, .timeout = 10.0};

static struct conn *conns;
static int ep;
static char rbuf[MAX_SIZE];

/* Latency histogram: 64 linear sub-buckets per power of two of the value
 * in ns (within 1.6%), up to 2^40 ns. */
enum { SUB_BITS = 6, SUB = 1 << SUB_BITS, BUCKETS = (41 - SUB_BITS) * SUB };
static uint64_t hist[BUCKETS];

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB) {
        return (unsigned)v;
    }
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
    if (e > 40) {
        return BUCKETS - 1;
    }
    uint64_t m = v >> (e - SUB_BITS); /* in [SUB, 2 SUB) */
    unsigned i = (e - SUB_BITS + 1) * SUB + (unsigned)(m - SUB);
    return i < BUCKETS ? i : BUCKETS - 1;
}

/* The middle of bucket i, in ns. */
static double value_of(unsigned i)
{
    if (i < SUB) {
        return i;
    }
    unsigned e = i / SUB - 1 + SUB_BITS;
    double lo = (double)((uint64_t)(SUB + i % SUB) << (e - SUB_BITS));
    return lo + (double)(1ull << (e - SUB_BITS)) / 2;
}

static double percentile(double p, uint64_t total)
{
    uint64_t want = (uint64_t)(p * (double)total), seen = 0;
    for (unsigned i = 0; i < BUCKETS; i++) {
        seen += hist[i];
        if (seen > want) {
            return value_of(i);
        }
    }
    return 0;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "client: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fail(const char *what)
{
    fprintf(stderr, "client: %s\n", what);
    exit(1);
}

/* The message of connection id, number seq: both in its first 16 bytes,
 * then a pattern that depends on them. */
static void fill(char *msg, uint32_t id, uint64_t seq)
{
    memcpy(msg, &id, sizeof(id));
    memcpy(msg + 4, &seq, sizeof(seq));
    for (int i = 12; i < opt.size; i++) {
        msg[i] = (char)('a' + (i + id + seq) % 26);
    }
}

static void send_msg(struct conn *c, uint64_t now)
{
    char msg[MAX_SIZE];
    c->seq++;
    fill(msg, c->id, c->seq);
    c->got = 0;
    c->sent_ns = now;
    ssize_t n = write(c->fd, msg, (size_t)opt.size);
    if (n != opt.size) {
        /* One message in flight never fills a socket buffer. */
        if (n < 0) {
            die("write");
        }
        fail("short write");
    }
}

/* Reads what connection c has; returns true when its echo is complete
 * (and checked). */
static bool receive(struct conn *c)
{
    ssize_t n = read(c->fd, rbuf + c->got, (size_t)opt.size - c->got);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return false;
        }
        die("read");
    }
    if (n == 0) {
        fprintf(stderr, "client: connection %u closed by the server\n",
                c->id);
        exit(1);
    }
    c->got += (uint32_t)n;
    if (c->got < (uint32_t)opt.size) {
        return false;
    }
    char want[MAX_SIZE];
    fill(want, c->id, c->seq);
    if (memcmp(want, rbuf, (size_t)opt.size) != 0) {
        fprintf(stderr, "client: connection %u: echo %" PRIu64
                        " differs from what was sent\n", c->id, c->seq);
        exit(1);
    }
    return true;
}

struct proc {
    double cpu_s; /* utime + stime */
    long rss_kib, hwm_kib, threads;
};

/* The server's threads that libgreen made for itself (named green-...:
 * its watchdog, its workers), which are not the program's. */
static long runtime_threads(void)
{
    char path[320];
    snprintf(path, sizeof(path), "/proc/%d/task", opt.pid);
    DIR *d = opendir(path);
    long n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char name[32] = "";
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", opt.pid,
                 e->d_name);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(name, sizeof(name), f) == NULL) {
                name[0] = '\0';
            }
            fclose(f);
        }
        n += strncmp(name, "green-", 6) == 0;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static void read_proc(struct proc *p)
{
    memset(p, 0, sizeof(*p));
    if (opt.pid <= 0) {
        return;
    }
    char path[64], buf[4096];
    snprintf(path, sizeof(path), "/proc/%d/stat", opt.pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        die(path);
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command name, which may hold spaces: state is
     * field 3, utime 14, stime 15. */
    char *s = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (s == NULL || sscanf(s + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                                   "%*u %lu %lu", &ut, &st) != 2) {
        fail("cannot parse /proc/PID/stat");
    }
    p->cpu_s = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
    snprintf(path, sizeof(path), "/proc/%d/status", opt.pid);
    if ((f = fopen(path, "r")) == NULL) {
        die(path);
    }
    while (fgets(buf, sizeof(buf), f) != NULL) {
        sscanf(buf, "VmRSS: %ld", &p->rss_kib);
        sscanf(buf, "VmHWM: %ld", &p->hwm_kib);
        sscanf(buf, "Threads: %ld", &p->threads);
    }
    fclose(f);
    if (p->threads <= 64) {
        p->threads -= runtime_threads();
    }
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)opt.conns + 16) {
            fprintf(stderr, "client: RLIMIT_NOFILE hard limit %llu is too "
                            "low for %d connections\n",
                    (unsigned long long)rl.rlim_max, opt.conns);
            exit(1);
        }
    }
}

/* Connects connections [from, to), sends each one message, and waits
 * until every one of them has its echo. */
static void connect_batch(int from, int to)
{
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)opt.port);
    uint64_t now = now_ns();
    for (int i = from; i < to; i++) {
        struct conn *c = &conns[i];
        int one = 1;
        c->id = (uint32_t)i;
        c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0) {
            die("socket");
        }
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
            die("connect");
        }
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        fcntl(c->fd, F_SETFL, O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
            die("epoll_ctl");
        }
        send_msg(c, now);
    }
    int left = to - from;
    struct epoll_event evs[EVENTS];
    while (left > 0) {
        int n = epoll_wait(ep, evs, EVENTS, (int)(opt.timeout * 1000));
        if (n < 0 && errno != EINTR) {
            die("epoll_wait");
        }
        if (n == 0) {
            fprintf(stderr, "client: %d of connections %d..%d got no echo "
                            "in %.0f s\n", left, from, to - 1, opt.timeout);
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            left -= receive(evs[i].data.ptr);
        }
    }
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
    char *end;
    double x = strtod(v, &end);
    if (*end != '\0' || !(x >= lo && x <= hi)) {
        fprintf(stderr, "client: %s %s: expected a number in [%g, %g]\n",
                name, v, lo, hi);
        exit(2);
    }
    return x;
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "client: %s needs a value\n", a);
            exit(2);
        }
        i++;
        if (strcmp(a, "--port") == 0) {
            opt.port = (int)num_arg(a, v, 1, 65535);
        } else if (strcmp(a, "--pid") == 0) {
            opt.pid = (int)num_arg(a, v, 0, 1 << 30);
        } else if (strcmp(a, "--conns") == 0) {
            opt.conns = (int)num_arg(a, v, 1, 1000000);
        } else if (strcmp(a, "--warmup") == 0) {
            opt.warmup = num_arg(a, v, 0, 3600);
        } else if (strcmp(a, "--duration") == 0) {
            opt.duration = num_arg(a, v, 0.1, 3600);
        } else if (strcmp(a, "--size") == 0) {
            opt.size = (int)num_arg(a, v, 16, MAX_SIZE);
        } else if (strcmp(a, "--batch") == 0) {
            opt.batch = (int)num_arg(a, v, 1, 1000000);
        } else if (strcmp(a, "--timeout") == 0) {
            opt.timeout = num_arg(a, v, 0.1, 3600);
        } else {
            fprintf(stderr, "client: unknown option %s\n", a);
            exit(2);
        }
    }
    if (opt.port == 0) {
        fprintf(stderr, "usage: client --port P [--pid PID] [--conns N] "
                        "[--warmup S] [--duration S] [--size BYTES] "
                        "[--batch B] [--timeout S]\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    raise_nofile();
    conns = calloc((size_t)opt.conns, sizeof(*conns));
    if (conns == NULL || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        die("setup");
    }
    struct proc base, p0, p1;
    read_proc(&base);
    for (int i = 0; i < opt.conns; i += opt.batch) {
        connect_batch(i, i + opt.batch < opt.conns ? i + opt.batch
                                                   : opt.conns);
    }

    /* Every connection has had one echo and is idle: start them all,
     * warm up, then measure. */
    uint64_t t = now_ns();
    for (int i = 0; i < opt.conns; i++) {
        send_msg(&conns[i], t);
    }
    uint64_t start = t + (uint64_t)(opt.warmup * 1e9), end = 0;
    uint64_t last_progress = t, count = 0;
    double c0 = 0;
    bool measuring = false;
    struct epoll_event evs[EVENTS];
    for (;;) {
        int n = epoll_wait(ep, evs, EVENTS, 100);
        if (n < 0 && errno != EINTR) {
            die("epoll_wait");
        }
        uint64_t now = now_ns();
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (!receive(c)) {
                continue;
            }
            now = now_ns();
            if (measuring) {
                hist[bucket_of(now - c->sent_ns)]++;
                count++;
            }
            send_msg(c, now);
        }
        if (n > 0) {
            last_progress = now;
        } else if (now - last_progress > (uint64_t)(opt.timeout * 1e9)) {
            fprintf(stderr, "client: no echo for %.0f s\n", opt.timeout);
            return 1;
        }
        if (!measuring && now >= start) {
            read_proc(&p0);
            c0 = self_cpu();
            start = now_ns();
            end = start + (uint64_t)(opt.duration * 1e9);
            measuring = true;
        } else if (measuring && now >= end) {
            break;
        }
    }
    read_proc(&p1);
    uint64_t stop = now_ns();
    double wall = (double)(stop - start) / 1e9, c1 = self_cpu();
    for (int i = 0; i < opt.conns; i++) {
        close(conns[i].fd);
    }
    if (count == 0) {
        fail("no round trip completed in the measured window");
    }
    double server_cpu = p1.cpu_s - p0.cpu_s;
    printf("conns=%d rt=%" PRIu64 " seconds=%.3f rt_per_s=%.0f p50_us=%.1f "
           "p99_us=%.1f",
           opt.conns, count, wall, (double)count / wall,
           percentile(0.50, count) / 1e3, percentile(0.99, count) / 1e3);
    if (opt.pid > 0) {
        printf(" cpu_us_per_rt=%.3f server_util=%.2f rss_kib=%ld "
               "hwm_kib=%ld base_rss_kib=%ld kib_per_conn=%.2f threads=%ld",
               server_cpu * 1e6 / (double)count, server_cpu / wall,
               p1.rss_kib, p1.hwm_kib, base.rss_kib,
               (double)(p1.rss_kib - base.rss_kib) / opt.conns, p1.threads);
    }
    printf(" client_util=%.2f\n", (c1 - c0) / wall);
    return 0;
}
