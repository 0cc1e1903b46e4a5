/* SPDX-License-Identifier: MIT */
/* Raw futexes through libc's syscall(), as C++20's atomic wait, Rust's
 * locks and MariaDB's make them, one line of outcome per case; run
 * natively and under the preload by differential.sh, which requires the
 * same bytes. A ticker thread runs throughout, and each wait checks that
 * it ticked meanwhile (natively it runs on its own CPU; under the preload
 * only if the wait parked just the caller).
 *
 *   errors      EAGAIN, EINVAL (timeout, bitset 0, misaligned), EFAULT
 *               (unmapped word or timeout), ENOSYS (WAIT|CLOCK_REALTIME)
 *   timeouts    relative, absolute monotonic and realtime, a deadline
 *               already passed (ETIMEDOUT or EAGAIN by the word)
 *   wake        thread to thread, private and shared; WAKE_BITSET that
 *               matches and one that does not; the counts returned
 *   requeue     CMP_REQUEUE (and its EAGAIN), REQUEUE, WAKE_OP both ways
 *   native      a native OS thread (libc's own pthread_create, found with
 *               dlvsym) wakes a green waiter with a raw syscall
 *               instruction, and is woken by syscall(SYS_futex)
 *   process     another process (fork, a shared mapping) wakes a waiter
 *               with a raw syscall instruction, and is woken
 *   syscalls    read of a pipe, nanosleep, clock_nanosleep, ppoll made
 *               through syscall() park only the caller; errors as the
 *               kernel's; calls that cannot wait pass through
 */
#include "legacy.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void say(const char *name, const char *fmt, long v)
{
    printf("%-46s ", name);
    printf(fmt, v);
    printf("\n");
    fflush(stdout);
}

/* "0", or "-1 ENAME". */
static void outcome(const char *name, long r)
{
    if (r == -1) {
        printf("%-46s -1 %s\n", name, strerrorname_np(errno));
    } else {
        printf("%-46s %ld\n", name, r);
    }
    fflush(stdout);
}

static long fx(void *w, int op, long val, const void *ts, void *w2, long val3)
{
    return syscall(SYS_futex, w, op, val, ts, w2, val3);
}

/* The system call instruction itself: neither libc nor an interposer. */
static long raw_futex(void *w, int op, long val, const void *ts)
{
#if defined(__x86_64__)
    register long r10 __asm__("r10") = (long)ts;
    long ret;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"((long)SYS_futex), "D"(w), "S"((long)op),
                           "d"(val), "r"(r10)
                         : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = SYS_futex;
    register long x0 __asm__("x0") = (long)w;
    register long x1 __asm__("x1") = op;
    register long x2 __asm__("x2") = val;
    register long x3 __asm__("x3") = (long)ts;
    __asm__ __volatile__("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2),
                         "r"(x3) : "memory");
    return x0;
#else
# error "raw_futex: no system call instruction for this architecture"
#endif
}

static double now_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timespec at(clockid_t c, double from_now)
{
    double t = now_s(c) + from_now;
    struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
    return ts;
}

/* --- the ticker ----------------------------------------------------------- */

static atomic_long ticks;
static atomic_int stop;

static void *ticker(void *arg)
{
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&ticks, 1);
        usleep(1000);
    }
    return arg;
}

/* Sleeps until the ticker has ticked n more times. */
static void await_ticks(long n)
{
    long t0 = atomic_load(&ticks);
    while (atomic_load(&ticks) < t0 + n) {
        usleep(1000);
    }
}

static void fact(const char *name, bool b)
{
    printf("%-46s %s\n", name, b ? "yes" : "no");
    fflush(stdout);
}

/* Waiters queued on w in the kernel or the preload's parking lot, counted
 * without waking any: a requeue of them all from w to w itself. */
static long queued(atomic_uint *w, int priv)
{
    return fx(w, FUTEX_CMP_REQUEUE | priv, 0, (void *)(long)INT_MAX, w,
              (long)atomic_load(w));
}

static void await_queued(atomic_uint *w, int priv, long n)
{
    while (queued(w, priv) < n) {
        usleep(1000);
    }
}

/* --- errors --------------------------------------------------------------- */

static void errors(void)
{
    static atomic_uint word = 1;
    struct timespec bad = {0, 1000000000L}, neg = {-1, 0};
    outcome("wait, word differs", fx(&word, FUTEX_WAIT_PRIVATE, 0, NULL,
                                     NULL, 0));
    outcome("wait, tv_nsec 1e9", fx(&word, FUTEX_WAIT_PRIVATE, 1, &bad,
                                    NULL, 0));
    outcome("wait, tv_sec -1", fx(&word, FUTEX_WAIT_PRIVATE, 1, &neg, NULL,
                                  0));
    outcome("wait_bitset, bitset 0",
            fx(&word, FUTEX_WAIT_BITSET_PRIVATE, 1, NULL, NULL, 0));
    char *p = (char *)&word;
    outcome("wait, misaligned", fx(p + 1, FUTEX_WAIT_PRIVATE, 1, NULL,
                                   NULL, 0));
    /* A page no access may touch, kept reserved: an unmapped hole could
     * be mapped again meanwhile by another thread's allocation (ASan's
     * allocator did, and the timeout read zeros: ETIMEDOUT). */
    void *gone = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    LEGACY_CHECK(gone != MAP_FAILED);
    outcome("wait, unmapped word", fx(gone, FUTEX_WAIT_PRIVATE, 0, NULL,
                                      NULL, 0));
    outcome("wait, shared, unmapped word", fx(gone, FUTEX_WAIT, 0, NULL,
                                              NULL, 0));
    outcome("wait, unmapped timeout", fx(&word, FUTEX_WAIT_PRIVATE, 1, gone,
                                         NULL, 0));
    outcome("wait|clock_realtime",
            fx(&word, FUTEX_WAIT_PRIVATE | FUTEX_CLOCK_REALTIME, 1, NULL,
               NULL, 0));
    outcome("wake, misaligned", fx(p + 1, FUTEX_WAKE_PRIVATE, 1, NULL, NULL,
                                   0));
    outcome("wake_bitset, bitset 0",
            fx(&word, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 0));
    outcome("wake, nobody waits", fx(&word, FUTEX_WAKE_PRIVATE, INT_MAX,
                                     NULL, NULL, 0));
    outcome("cmp_requeue, word differs",
            fx(&word, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &word, 7));
    outcome("cmp_requeue, negative count",
            fx(&word, FUTEX_CMP_REQUEUE_PRIVATE, -1, (void *)1L, &word, 1));
    munmap(gone, 4096);
}

/* --- timeouts --------------------------------------------------------------- */

static void timed(const char *name, int op, const struct timespec *ts,
                  double min_s, uint32_t val)
{
    static atomic_uint word = 1;
    long t0 = atomic_load(&ticks);
    double s0 = now_s(CLOCK_MONOTONIC);
    long r = fx(&word, op, val, ts, NULL, FUTEX_BITSET_MATCH_ANY);
    double took = now_s(CLOCK_MONOTONIC) - s0;
    outcome(name, r);
    if (min_s > 0) {
        char line[80];
        snprintf(line, sizeof(line), "  %s: waited the time out", name);
        fact(line, took >= min_s - 0.001);
        snprintf(line, sizeof(line), "  %s: ticker ran meanwhile", name);
        /* One tick: a wait that blocked the one OS thread gets none; a
         * count in proportion to the time fails natively on a loaded
         * machine, and under the preload too (its 1 ms naps are 1 ms
         * timers, late under load). */
        fact(line, atomic_load(&ticks) - t0 >= 1);
    }
}

static void timeouts(void)
{
    struct timespec rel = {0, 40000000L};
    timed("wait, relative 40 ms", FUTEX_WAIT_PRIVATE, &rel, 0.04, 1);
    timed("wait, shared, relative 40 ms", FUTEX_WAIT, &rel, 0.04, 1);
    struct timespec mono = at(CLOCK_MONOTONIC, 0.04);
    timed("wait_bitset, monotonic +40 ms", FUTEX_WAIT_BITSET_PRIVATE, &mono,
          0.04, 1);
    struct timespec real = at(CLOCK_REALTIME, 0.04);
    timed("wait_bitset, realtime +40 ms",
          FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, &real, 0.04, 1);
    struct timespec past = at(CLOCK_MONOTONIC, -1.0);
    timed("wait_bitset, deadline passed", FUTEX_WAIT_BITSET_PRIVATE, &past,
          0, 1);
    timed("wait_bitset, deadline passed, differs",
          FUTEX_WAIT_BITSET_PRIVATE, &past, 0, 2);
    struct timespec zero = {0, 0};
    timed("wait, relative 0", FUTEX_WAIT_PRIVATE, &zero, 0, 1);
}

/* --- wake-ups between threads ----------------------------------------------- */

struct waiter {
    atomic_uint *w;
    int op;
    uint32_t val;
    unsigned bitset;
    long ret;
    int err;
    long ticks_at_start;
    long ticks_seen;
};

static void *wait_once(void *arg)
{
    struct waiter *x = arg;
    x->ticks_at_start = atomic_load(&ticks);
    errno = 0;
    x->ret = fx(x->w, x->op, x->val, NULL, NULL, x->bitset);
    x->err = errno;
    x->ticks_seen = atomic_load(&ticks) - x->ticks_at_start;
    return NULL;
}

static void start(pthread_t *t, struct waiter *x, atomic_uint *w, int op,
                  unsigned bitset)
{
    *x = (struct waiter){.w = w, .op = op, .val = atomic_load(w),
                         .bitset = bitset};
    LEGACY_CHECK(pthread_create(t, NULL, wait_once, x) == 0);
}

static void finish(const char *name, pthread_t t, struct waiter *x)
{
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    char line[80];
    snprintf(line, sizeof(line), "  %s: waiter returned", name);
    errno = x->err;
    outcome(line, x->ret);
    snprintf(line, sizeof(line), "  %s: ticker ran while it waited", name);
    fact(line, x->ticks_seen >= 5);
}

static void wake_one(const char *name, int priv)
{
    static atomic_uint word;
    atomic_store(&word, 0);
    pthread_t t;
    struct waiter x;
    start(&t, &x, &word, FUTEX_WAIT | priv, 0);
    await_queued(&word, priv, 1);
    LEGACY_CHECK_ONE_THREAD(); /* the waiter parked, the ticker sleeps */
    await_ticks(5);
    atomic_store(&word, 1);
    outcome(name, fx(&word, FUTEX_WAKE | priv, 1, NULL, NULL, 0));
    finish(name, t, &x);
}

static void bitsets(void)
{
    static atomic_uint word;
    pthread_t t;
    struct waiter x;
    start(&t, &x, &word, FUTEX_WAIT_BITSET_PRIVATE, 0x1);
    await_queued(&word, FUTEX_PRIVATE_FLAG, 1);
    await_ticks(5);
    outcome("wake_bitset 0x2 (waiter has 0x1)",
            fx(&word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX, NULL, NULL, 0x2));
    outcome("wake_bitset 0x3", fx(&word, FUTEX_WAKE_BITSET_PRIVATE, INT_MAX,
                                  NULL, NULL, 0x3));
    finish("wake_bitset 0x3", t, &x);
}

/* --- requeue ------------------------------------------------------------------ */

static void requeues(void)
{
    static atomic_uint a, b;
    pthread_t t[3];
    struct waiter x[3];
    for (int i = 0; i < 3; i++) {
        start(&t[i], &x[i], &a, FUTEX_WAIT_PRIVATE, 0);
        await_queued(&a, FUTEX_PRIVATE_FLAG, i + 1);
    }
    await_ticks(5);
    outcome("cmp_requeue a->b 1+2, val3 differs",
            fx(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2L, &b, 5));
    outcome("cmp_requeue a->b 1+2",
            fx(&a, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)2L, &b, 0));
    outcome("  left on a", queued(&a, FUTEX_PRIVATE_FLAG));
    outcome("  queued on b", queued(&b, FUTEX_PRIVATE_FLAG));
    await_ticks(5);
    outcome("wake b", fx(&b, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    for (int i = 0; i < 3; i++) {
        finish("cmp_requeue", t[i], &x[i]);
    }

    for (int i = 0; i < 2; i++) {
        start(&t[i], &x[i], &a, FUTEX_WAIT_PRIVATE, 0);
        await_queued(&a, FUTEX_PRIVATE_FLAG, i + 1);
    }
    await_ticks(5);
    outcome("requeue a->b 0+1", fx(&a, FUTEX_REQUEUE_PRIVATE, 0, (void *)1L,
                                   &b, 0));
    outcome("wake a", fx(&a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    outcome("wake b", fx(&b, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0));
    for (int i = 0; i < 2; i++) {
        finish("requeue", t[i], &x[i]);
    }

    /* WAKE_OP: *b = 5 (it was 0), wake one on a and, since the old value
     * was 0, one on b; then *b = 6, and the old value 5 is not 0. */
    start(&t[0], &x[0], &a, FUTEX_WAIT_PRIVATE, 0);
    start(&t[1], &x[1], &b, FUTEX_WAIT_PRIVATE, 0);
    await_queued(&a, FUTEX_PRIVATE_FLAG, 1);
    await_queued(&b, FUTEX_PRIVATE_FLAG, 1);
    await_ticks(5);
    outcome("wake_op set b=5, if old == 0",
            fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b,
               FUTEX_OP(FUTEX_OP_SET, 5, FUTEX_OP_CMP_EQ, 0)));
    outcome("  b", atomic_load(&b));
    finish("wake_op a", t[0], &x[0]);
    finish("wake_op b", t[1], &x[1]);
    start(&t[1], &x[1], &b, FUTEX_WAIT_PRIVATE, 0);
    await_queued(&b, FUTEX_PRIVATE_FLAG, 1);
    await_ticks(5);
    outcome("wake_op set b=6, if old == 0",
            fx(&a, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &b,
               FUTEX_OP(FUTEX_OP_SET, 6, FUTEX_OP_CMP_EQ, 0)));
    outcome("  b", atomic_load(&b));
    outcome("  still queued on b", queued(&b, FUTEX_PRIVATE_FLAG));
    outcome("wake b", fx(&b, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0));
    finish("wake_op, then wake b", t[1], &x[1]);
}

/* --- a native OS thread --------------------------------------------------------- */

static atomic_uint green_word, native_word;
static atomic_int native_go;

static void *native_body(void *arg)
{
    (void)arg;
    while (!atomic_load(&native_go)) {
        usleep(1000);
    }
    usleep(20000);
    atomic_store(&green_word, 1);
    raw_futex(&green_word, FUTEX_WAKE_PRIVATE, 1, NULL);
    /* Now wait to be woken by the green side. */
    while (atomic_load(&native_word) == 0) {
        raw_futex(&native_word, FUTEX_WAIT_PRIVATE, 0, NULL);
    }
    return NULL;
}

static void native(void)
{
    /* libc's own pthread_create, whatever interposes it. */
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    LEGACY_CHECK(libc != NULL);
    int (*real_create)(pthread_t *, const pthread_attr_t *,
                       void *(*)(void *), void *) =
        (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
                 void *))dlvsym(libc, "pthread_create", "GLIBC_2.34");
    if (real_create == NULL) {
        real_create = (int (*)(pthread_t *, const pthread_attr_t *,
                               void *(*)(void *), void *))
            dlvsym(libc, "pthread_create", "GLIBC_2.2.5");
    }
    LEGACY_CHECK(real_create != NULL);
    pthread_t n;
    LEGACY_CHECK(real_create(&n, NULL, native_body, NULL) == 0);

    pthread_t t;
    struct waiter x;
    start(&t, &x, &green_word, FUTEX_WAIT_PRIVATE, 0);
    atomic_store(&native_go, 1);
    finish("native thread's raw wake", t, &x);
    say("  the word it set", "%ld", (long)atomic_load(&green_word));

    await_queued(&native_word, FUTEX_PRIVATE_FLAG, 1);
    atomic_store(&native_word, 1);
    outcome("wake of a native waiter", fx(&native_word, FUTEX_WAKE_PRIVATE,
                                          1, NULL, NULL, 0));
    LEGACY_CHECK(pthread_join(n, NULL) == 0);
    dlclose(libc);
}

/* --- another process ---------------------------------------------------------- */

static void process(void)
{
    atomic_uint *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    LEGACY_CHECK(m != MAP_FAILED);
    atomic_uint *to_parent = &m[0], *to_child = &m[1];
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        struct timespec d = {0, 30000000L};
        nanosleep(&d, NULL);
        atomic_store(to_parent, 1);
        raw_futex(to_parent, FUTEX_WAKE, 1, NULL);
        while (atomic_load(to_child) == 0) {
            raw_futex(to_child, FUTEX_WAIT, 0, NULL);
        }
        _exit(0);
    }
    pthread_t t;
    struct waiter x;
    start(&t, &x, to_parent, FUTEX_WAIT, 0);
    finish("other process's raw wake", t, &x);
    await_queued(to_child, 0, 1);
    atomic_store(to_child, 1);
    outcome("wake of another process's waiter",
            fx(to_child, FUTEX_WAKE, 1, NULL, NULL, 0));
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    say("  it exited", "%ld", (long)(WIFEXITED(st) ? WEXITSTATUS(st) : -1));
    munmap(m, 4096);
}

/* --- other system calls through syscall() ------------------------------------ */

static int rpipe[2];
static long rread_ret, rread_ticks;
static atomic_int rread_started;

static void *raw_reader(void *arg)
{
    char c;
    long t0 = atomic_load(&ticks);
    atomic_store(&rread_started, 1);
    rread_ret = syscall(SYS_read, rpipe[0], &c, 1);
    rread_ticks = atomic_load(&ticks) - t0;
    return arg;
}

static void ticked(const char *name, long r, long t0)
{
    outcome(name, r);
    char line[80];
    snprintf(line, sizeof(line), "  %s: ticker ran meanwhile", name);
    fact(line, atomic_load(&ticks) - t0 >= 1); /* see timed() */
}

static void syscalls(void)
{
    LEGACY_CHECK(pipe(rpipe) == 0);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, raw_reader, NULL) == 0);
    while (!atomic_load(&rread_started)) {
        usleep(1000);
    }
    await_ticks(10);
    outcome("write to the pipe", write(rpipe[1], "x", 1));
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    outcome("syscall(SYS_read) on an empty pipe", rread_ret);
    fact("  ticker ran while it waited", rread_ticks >= 10);
    close(rpipe[0]);
    close(rpipe[1]);

    struct timespec d = {0, 30000000L};
    long t0 = atomic_load(&ticks);
    ticked("syscall(SYS_nanosleep) 30 ms", syscall(SYS_nanosleep, &d, NULL),
           t0);
    t0 = atomic_load(&ticks);
    ticked("syscall(SYS_clock_nanosleep) 30 ms",
           syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &d, NULL), t0);
    outcome("syscall(SYS_clock_nanosleep), bad clock",
            syscall(SYS_clock_nanosleep, 12345, 0, &d, NULL));
    int p2[2];
    LEGACY_CHECK(pipe(p2) == 0);
    struct pollfd pf = {.fd = p2[0], .events = POLLIN};
    t0 = atomic_load(&ticks);
    ticked("syscall(SYS_ppoll) 30 ms, nothing ready",
           syscall(SYS_ppoll, &pf, 1, &d, NULL, _NSIG / 8), t0);
    close(p2[0]);
    close(p2[1]);
    char c;
    outcome("syscall(SYS_read) of fd -1", syscall(SYS_read, -1, &c, 1));
    int fd = open("/proc/self/stat", O_RDONLY);
    LEGACY_CHECK(fd >= 0);
    outcome("syscall(SYS_read) of a /proc file, 1 byte",
            syscall(SYS_read, fd, &c, 1));
    close(fd);
    fact("syscall(SYS_gettid) is gettid()", syscall(SYS_gettid) == gettid());
}

static void wakes(void)
{
    wake_one("wake, private", FUTEX_PRIVATE_FLAG);
    wake_one("wake, shared", 0);
    bitsets();
}

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"errors", errors},   {"timeouts", timeouts}, {"wake", wakes},
    {"requeue", requeues}, {"native", native},    {"process", process},
    {"syscalls", syscalls},
};

/* No argument: every group; "list": their names; a name: that group. */
int main(int argc, char **argv)
{
    size_t n = sizeof(groups) / sizeof(groups[0]);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    pthread_t tick;
    LEGACY_CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0);
    for (size_t i = 0; i < n; i++) {
        if (argc < 2 || strcmp(argv[1], groups[i].name) == 0) {
            groups[i].run();
        }
    }
    atomic_store(&stop, 1);
    LEGACY_CHECK(pthread_join(tick, NULL) == 0);
    return 0;
}
