/* SPDX-License-Identifier: MIT */
/* What issue 11 made green, timed in a plain pthread program built
 * without libgreen (bench/blocking.sh runs it natively and under
 * LD_PRELOAD=libgreen.so, the same binary):
 *
 *   blocking waitpid LABEL   waitpid latency: a child sleeps 1 ms (so the
 *                            parent is surely waiting), stamps the time in
 *                            shared memory and exits; µs from that stamp
 *                            to the parent's waitpid returning, median of
 *                            BENCH_CHILDREN (1,000) children; also µs per
 *                            whole fork + waitpid round (after a thread
 *                            was made and joined, so that under the
 *                            preload the waits go green); first the same
 *                            before that (latency_libc: under the preload,
 *                            libc's own waitpid in a preloaded process),
 *                            and after it a raw wait4 instruction
 *                            (latency_raw: the kernel's wait in the same
 *                            state as the green one)
 *   blocking futex LABEL     futex wake-to-run: two threads ping-pong a
 *                            word through syscall(SYS_futex) WAIT/WAKE,
 *                            BENCH_ROUNDS (200,000) rounds; ns per wake =
 *                            time / (2 × rounds) (each half round a wake
 *                            and the waiter running)
 *   blocking cond LABEL      the same over a pthread mutex, two condition
 *                            variables and a turn flag
 *   blocking read LABEL      a cache-hit read of a regular file: 4 KiB
 *                            and 64 bytes at offsets cycling through a
 *                            1 MiB file read once before, three ways
 *                            taken in turn, block by block (10,000
 *                            calls each), BENCH_READS (1,000,000) calls
 *                            a way; ns per call, the median block:
 *                            pread (libc's, which the preload
 *                            interposes: green, after a thread was made
 *                            and joined, so the RWF_NOWAIT probe), a raw
 *                            pread64 instruction (the kernel's pread, no
 *                            preload), and preadv2(RWF_NOWAIT) called
 *                            directly (the probe's own system call,
 *                            which the preload leaves alone)
 * LABEL ("native", "preload") ends each metric's name. Each mode checks
 * its results (the word's turns, the bytes read, the exit statuses). */
#define _GNU_SOURCE /* preadv2, RWF_NOWAIT */
#include "bench.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *label;

static void report(const char *what, double v, const char *unit)
{
    char name[128];
    snprintf(name, sizeof(name), "%s.%s", what, label);
    bench_report(name, v, unit);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Under the preload a thread that never touched the runtime keeps libc's
 * blocking calls (preload/preload.h): the waitpid and read modes make and
 * join a thread first, so that their calls go green. */
static void *nothing(void *arg)
{
    return arg;
}

static void touch_runtime(void)
{
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, nothing, NULL) == 0);
    BENCH_CHECK(pthread_join(th, NULL) == 0);
}

/* --- waitpid -------------------------------------------------------------- */

/* wait4 made with the instruction itself, which no preload can reach:
 * the kernel's own wait, in the same process state as the green one. */
static long raw_wait4(pid_t pid, int *st)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = 0;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"((long)SYS_wait4), "D"((long)pid), "S"(st),
                           "d"(0L), "r"(r10)
                         : "rcx", "r11", "memory");
    return ret;
#else
    return waitpid(pid, st, 0);
#endif
}

/* n children; the median and p90 latency and the mean round, in ns. raw:
 * the parent waits in raw_wait4. */
static void waitpid_phase(long n, uint64_t *stamp, uint64_t *lat,
                          double *median, double *p90, double *round,
                          bool raw)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        *stamp = 0;
        pid_t pid = fork();
        BENCH_CHECK(pid >= 0);
        if (pid == 0) {
            struct timespec ts = {0, 1000000L};
            nanosleep(&ts, NULL);
            *stamp = bench_now_ns();
            _exit(7);
        }
        int st;
        BENCH_CHECK((raw ? raw_wait4(pid, &st) : waitpid(pid, &st, 0)) ==
                    pid);
        uint64_t back = bench_now_ns();
        BENCH_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 7 && *stamp != 0);
        lat[i] = back - *stamp;
    }
    *round = (double)(bench_now_ns() - t0) / (double)n;
    qsort(lat, (size_t)n, sizeof(*lat), cmp_u64);
    *median = (double)lat[n / 2];
    *p90 = (double)lat[n * 9 / 10];
}

static void run_waitpid(void)
{
    long n = bench_env_long("BENCH_CHILDREN", 1000);
    uint64_t *stamp = mmap(NULL, sizeof(*stamp), PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    BENCH_CHECK(stamp != MAP_FAILED);
    uint64_t *lat = malloc((size_t)n * sizeof(*lat));
    BENCH_CHECK(lat != NULL);
    double med, p90, round;
    /* First before the runtime was touched: under the preload libc's own
     * waitpid, in a process (and children) that carry the preload. */
    waitpid_phase(n, stamp, lat, &med, &p90, &round, false);
    report("waitpid.latency_libc", med / 1e3, "us");
    touch_runtime();
    /* The kernel's wait in the same state as the green one: what is left
     * is the green path's own (children of a process that touched the
     * runtime take longer to exit: more mappings to tear down). */
    waitpid_phase(n, stamp, lat, &med, &p90, &round, true);
    report("waitpid.latency_raw", med / 1e3, "us");
    waitpid_phase(n, stamp, lat, &med, &p90, &round, false);
    report("waitpid.latency", med / 1e3, "us");
    report("waitpid.latency_p90", p90 / 1e3, "us");
    report("waitpid.round", round / 1e3, "us");
    free(lat);
}

/* --- futex and condvar ping-pong ------------------------------------------ */

static long rounds;
static int word; /* 0: B's turn to be woken... see ping/pong */

static long futex(int *addr, int op, int val)
{
    return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}

/* A sets word to 1 and wakes B, then waits until B set it back to 0. */
static void *pong(void *arg)
{
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        while (__atomic_load_n(&word, __ATOMIC_ACQUIRE) != 1) {
            futex(&word, FUTEX_WAIT_PRIVATE, 0);
        }
        __atomic_store_n(&word, 0, __ATOMIC_RELEASE);
        futex(&word, FUTEX_WAKE_PRIVATE, 1);
    }
    return NULL;
}

static void run_futex(void)
{
    rounds = bench_env_long("BENCH_ROUNDS", 200000);
    pthread_t b;
    BENCH_CHECK(pthread_create(&b, NULL, pong, NULL) == 0);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < rounds; i++) {
        __atomic_store_n(&word, 1, __ATOMIC_RELEASE);
        futex(&word, FUTEX_WAKE_PRIVATE, 1);
        while (__atomic_load_n(&word, __ATOMIC_ACQUIRE) != 0) {
            futex(&word, FUTEX_WAIT_PRIVATE, 1);
        }
    }
    uint64_t t = bench_now_ns() - t0;
    BENCH_CHECK(pthread_join(b, NULL) == 0);
    report("futex.wake", (double)t / (2.0 * (double)rounds), "ns");
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t to_a = PTHREAD_COND_INITIALIZER;
static pthread_cond_t to_b = PTHREAD_COND_INITIALIZER;
static int turn; /* 0: A's, 1: B's */
static long b_rounds;

static void *cond_b(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (long i = 0; i < rounds; i++) {
        while (turn != 1) {
            pthread_cond_wait(&to_b, &mu);
        }
        turn = 0;
        b_rounds++;
        pthread_cond_signal(&to_a);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void run_cond(void)
{
    rounds = bench_env_long("BENCH_ROUNDS", 200000);
    pthread_t b;
    BENCH_CHECK(pthread_create(&b, NULL, cond_b, NULL) == 0);
    uint64_t t0 = bench_now_ns();
    pthread_mutex_lock(&mu);
    for (long i = 0; i < rounds; i++) {
        turn = 1;
        pthread_cond_signal(&to_b);
        while (turn != 0) {
            pthread_cond_wait(&to_a, &mu);
        }
    }
    pthread_mutex_unlock(&mu);
    uint64_t t = bench_now_ns() - t0;
    BENCH_CHECK(pthread_join(b, NULL) == 0);
    BENCH_CHECK(b_rounds == rounds);
    report("cond.wake", (double)t / (2.0 * (double)rounds), "ns");
}

/* --- a cache-hit read --------------------------------------------------------- */

/* pread64 made with the instruction itself: the kernel's pread, which
 * no preload reaches, for comparing in the same process. */
static long raw_pread(int fd, void *buf, size_t n, off_t off)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = (long)off;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"((long)SYS_pread64), "D"((long)fd), "S"(buf),
                           "d"(n), "r"(r10)
                         : "rcx", "r11", "memory");
    return ret;
#else
    return pread(fd, buf, n, off);
#endif
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run_read(void)
{
    long n = bench_env_long("BENCH_READS", 1000000);
    touch_runtime();
    enum { SIZE = 1 << 20, BLOCK = 10000, WAYS = 3 };
    char path[] = "/tmp/green-bench-read.XXXXXX";
    int fd = mkstemp(path);
    BENCH_CHECK(fd >= 0);
    unlink(path);
    static char data[SIZE], buf[4096];
    for (size_t i = 0; i < SIZE; i++) {
        data[i] = (char)(i * 7 + 1);
    }
    BENCH_CHECK(write(fd, data, SIZE) == SIZE);
    BENCH_CHECK(pread(fd, data, SIZE, 0) == SIZE); /* in the cache */
    static const size_t sizes[] = {4096, 64};
    static const char *tags[] = {"4k", "64"};
    static const char *ways[WAYS] = {"pread", "raw_pread", "preadv2_nowait"};
    long blocks = n / BLOCK < 3 ? 3 : n / BLOCK;
    double *t = malloc((size_t)(WAYS * blocks) * sizeof(*t));
    BENCH_CHECK(t != NULL);
    for (int k = 0; k < 2; k++) {
        size_t len = sizes[k];
        struct iovec v = {.iov_base = buf, .iov_len = len};
        /* The three ways in turn, block by block, so that a busy spell
         * of the machine lands on all of them alike; the median block. */
        for (long b = 0; b < blocks; b++) {
            for (int w = 0; w < WAYS; w++) {
                uint64_t t0 = bench_now_ns();
                for (long i = 0; i < BLOCK; i++) {
                    off_t off = (off_t)(((b * BLOCK + i) * 4096) %
                                        (SIZE - 4096));
                    ssize_t r = w == 0   ? pread(fd, buf, len, off)
                                : w == 1 ? raw_pread(fd, buf, len, off)
                                         : preadv2(fd, &v, 1, off,
                                                   RWF_NOWAIT);
                    if (r != (ssize_t)len || buf[0] != data[off]) {
                        BENCH_CHECK(r == (ssize_t)len && buf[0] == data[off]);
                    }
                }
                t[w * blocks + b] =
                    (double)(bench_now_ns() - t0) / (double)BLOCK;
            }
        }
        for (int w = 0; w < WAYS; w++) {
            qsort(t + w * blocks, (size_t)blocks, sizeof(*t), cmp_double);
            char name[64];
            snprintf(name, sizeof(name), "read.%s_%s", ways[w], tags[k]);
            report(name, t[w * blocks + blocks / 2], "ns");
        }
    }
    free(t);
    close(fd);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: blocking waitpid|futex|cond|read LABEL\n");
        return 2;
    }
    label = argv[2];
    if (strcmp(argv[1], "waitpid") == 0) {
        run_waitpid();
    } else if (strcmp(argv[1], "futex") == 0) {
        run_futex();
    } else if (strcmp(argv[1], "cond") == 0) {
        run_cond();
    } else if (strcmp(argv[1], "read") == 0) {
        run_read();
    } else {
        fprintf(stderr, "blocking: unknown mode %s\n", argv[1]);
        return 2;
    }
    return 0;
}
