/* SPDX-License-Identifier: MIT */
/* Threads that keep their OS thread where no interposer reaches them (a
 * computation, a raw system call), and the others that must keep running
 * meanwhile (issue 12: the hand-off). An ordinary pthread program, built
 * without libgreen; test/legacy/meson.build runs it natively and under
 * the preload and requires the same output.
 *
 * Natively every case ends by itself. Under the preload without a
 * hand-off each one hangs: the computing or blocked thread never lets the
 * one OS thread go, so the thread that would end it never runs.
 *
 *   compute   a thread spins (no call) until a ticker thread has ticked
 *             20 times; both malloc and free all along, so a cache shared
 *             by two OS threads would show
 *   rawread   a thread reads a pipe with the syscall instruction itself;
 *             the ticker writes the byte after 10 ticks
 *   serve     an echo thread serves 200 round trips over a socket pair
 *             while another thread spins until they are done
 *   locks     after the spin, the spinning thread takes a mutex and
 *             signals a condition variable that another waits on
 *   two       two threads spin at once until a third has ticked 20 times
 *   main      the main thread spins until a ticker has ticked 20 times,
 *             then does it again after the ticker has been joined
 *
 * Usage: handoff [list | GROUP] (no argument: every group). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int ticks;        /* atomics */
static int stop_ticker;

static void nap_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Ticks every 2 ms until told to stop; writes a byte to *arg's fd after
 * 10 ticks if it is >= 0. Mallocs and frees as it goes. */
static void *ticker(void *arg)
{
    int fd = arg != NULL ? *(int *)arg : -1;
    while (!__atomic_load_n(&stop_ticker, __ATOMIC_ACQUIRE)) {
        char *p = malloc(64 + (size_t)(ticks % 7) * 100);
        if (p == NULL) {
            abort();
        }
        memset(p, 1, 64);
        nap_ms(2);
        free(p);
        int n = __atomic_add_fetch(&ticks, 1, __ATOMIC_ACQ_REL);
        if (n == 10 && fd >= 0) {
            if (write(fd, "x", 1) != 1) {
                abort();
            }
        }
    }
    return NULL;
}

static void ticker_start(pthread_t *th, int *fd)
{
    __atomic_store_n(&ticks, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&stop_ticker, 0, __ATOMIC_RELEASE);
    if (pthread_create(th, NULL, ticker, fd) != 0) {
        abort();
    }
}

static void ticker_stop(pthread_t th)
{
    __atomic_store_n(&stop_ticker, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
}

/* Spins, with no call but malloc and free, until *until is at least
 * want; gives up after about 20 s of spinning (clock_gettime through the
 * vDSO every million turns). Returns whether it saw want. */
static int spin_until(int *until, int want)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (unsigned long i = 0;; i++) {
        if (__atomic_load_n(until, __ATOMIC_ACQUIRE) >= want) {
            return 1;
        }
        if ((i & 1023) == 0) {
            void *p = malloc(32 + (i >> 10) % 500);
            if (p == NULL) {
                abort();
            }
            free(p);
        }
        if ((i & 0xfffff) == 0) {
            clock_gettime(CLOCK_MONOTONIC, &t);
            if (t.tv_sec - t0.tv_sec > 20) {
                return 0;
            }
        }
    }
}

/* --- compute --------------------------------------------------------------- */

static void *spinner(void *arg)
{
    (void)arg;
    return (void *)(long)spin_until(&ticks, 20);
}

static void group_compute(void)
{
    pthread_t tk, sp;
    ticker_start(&tk, NULL);
    pthread_create(&sp, NULL, spinner, NULL);
    void *r;
    pthread_join(sp, &r);
    ticker_stop(tk);
    printf("compute: the spin saw 20 ticks: %s\n", r != NULL ? "yes" : "no");
}

/* --- rawread ----------------------------------------------------------------- */

static long raw_read(int fd, void *buf, size_t n)
{
#if defined(__x86_64__)
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"((long)SYS_read), "D"((long)fd), "S"(buf),
                       "d"(n)
                     : "rcx", "r11", "memory");
    return r;
#else
    return syscall(SYS_read, fd, buf, n);
#endif
}

static void *raw_reader(void *arg)
{
    int fd = *(int *)arg;
    char c = 0;
    long r = raw_read(fd, &c, 1);
    printf("rawread: read %ld byte '%c', after %s10 ticks\n", r,
           r == 1 ? c : '?',
           __atomic_load_n(&ticks, __ATOMIC_ACQUIRE) >= 10 ? "" : "fewer than ");
    return NULL;
}

static void group_rawread(void)
{
    int p[2];
    if (pipe(p) != 0) {
        abort();
    }
    pthread_t tk, rd;
    int rfd = p[0], wfd = p[1];
    pthread_create(&rd, NULL, raw_reader, &rfd);
    nap_ms(20); /* the reader is in its read */
    ticker_start(&tk, &wfd);
    pthread_join(rd, NULL);
    ticker_stop(tk);
    close(p[0]);
    close(p[1]);
}

/* --- serve ------------------------------------------------------------------- */

static int served;

static void *echo(void *arg)
{
    int fd = *(int *)arg;
    char buf[64];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0) {
            return NULL;
        }
        if (write(fd, buf, (size_t)n) != n) {
            return NULL;
        }
    }
}

static void *serve_spinner(void *arg)
{
    (void)arg;
    return (void *)(long)spin_until(&served, 200);
}

static void group_serve(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        abort();
    }
    __atomic_store_n(&served, 0, __ATOMIC_RELEASE);
    pthread_t ec, sp;
    pthread_create(&ec, NULL, echo, &sv[1]);
    pthread_create(&sp, NULL, serve_spinner, NULL);
    nap_ms(50); /* the spinner has the OS thread by now */
    int ok = 0;
    for (int i = 0; i < 200; i++) {
        char msg[32], back[32];
        int len = snprintf(msg, sizeof(msg), "request %d", i);
        if (write(sv[0], msg, (size_t)len) != len) {
            break;
        }
        ssize_t got = 0;
        while (got < len) {
            ssize_t n = read(sv[0], back + got, (size_t)(len - got));
            if (n <= 0) {
                break;
            }
            got += n;
        }
        ok += got == len && memcmp(msg, back, (size_t)len) == 0;
        __atomic_add_fetch(&served, 1, __ATOMIC_ACQ_REL);
    }
    void *r;
    pthread_join(sp, &r);
    shutdown(sv[0], SHUT_WR);
    pthread_join(ec, NULL);
    close(sv[0]);
    close(sv[1]);
    printf("serve: %d of 200 round trips echoed; the spin saw them all: "
           "%s\n", ok, r != NULL ? "yes" : "no");
}

/* --- locks ------------------------------------------------------------------- */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int signalled;

static void *lock_spinner(void *arg)
{
    (void)arg;
    int saw = spin_until(&ticks, 20);
    pthread_mutex_lock(&mu);
    signalled = saw ? 1 : 2;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void group_locks(void)
{
    pthread_t tk, sp;
    signalled = 0;
    pthread_mutex_lock(&mu);
    ticker_start(&tk, NULL);
    pthread_create(&sp, NULL, lock_spinner, NULL);
    while (signalled == 0) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    pthread_join(sp, NULL);
    ticker_stop(tk);
    printf("locks: signalled after the spin: %s\n",
           signalled == 1 ? "yes" : "no");
}

/* --- two --------------------------------------------------------------------- */

static void group_two(void)
{
    pthread_t tk, a, b;
    ticker_start(&tk, NULL);
    pthread_create(&a, NULL, spinner, NULL);
    pthread_create(&b, NULL, spinner, NULL);
    void *ra, *rb;
    pthread_join(a, &ra);
    pthread_join(b, &rb);
    ticker_stop(tk);
    printf("two: both spins saw 20 ticks: %s\n",
           ra != NULL && rb != NULL ? "yes" : "no");
}

/* --- main ------------------------------------------------------------------- */

static void group_main(void)
{
    int saw[2];
    for (int round = 0; round < 2; round++) {
        pthread_t tk;
        ticker_start(&tk, NULL);
        saw[round] = spin_until(&ticks, 20);
        ticker_stop(tk);
    }
    printf("main: the main thread's spins saw 20 ticks: %s, %s\n",
           saw[0] ? "yes" : "no", saw[1] ? "yes" : "no");
}

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"compute", group_compute}, {"rawread", group_rawread},
    {"serve", group_serve},     {"locks", group_locks},
    {"two", group_two},         {"main", group_main},
};

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int n = (int)(sizeof(groups) / sizeof(groups[0]));
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (int i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], groups[i].name) != 0) {
            continue;
        }
        groups[i].run();
    }
    return 0;
}
