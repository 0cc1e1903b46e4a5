/* SPDX-License-Identifier: MIT */
/* The hand-off, measured from a plain pthread program (built without
 * libgreen; bench/handoff.sh runs it natively and under the preload).
 *
 *   handoff compute   two threads compute the same fixed work at once;
 *                     prints the wall time
 *   handoff stall     one thread blocks about 1 s in a raw read (the
 *                     syscall instruction: no interposer sees it) of a
 *                     pipe a child process writes; meanwhile a ticker
 *                     thread sleeps 1 ms at a time and measures how late
 *                     each wake-up is: prints its percentiles and the
 *                     ticks it made
 *
 * Output: `name value unit` lines. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- compute ---------------------------------------------------------------- */

static void *work(void *arg)
{
    uint64_t x = (uintptr_t)arg | 1, n = 400000000ULL;
    for (uint64_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return (void *)(uintptr_t)(x & 1);
}

static int compute(void)
{
    pthread_t a, b;
    double t0 = now();
    pthread_create(&a, NULL, work, (void *)1);
    pthread_create(&b, NULL, work, (void *)2);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    printf("compute_wall %.3f s\n", now() - t0);
    return 0;
}

/* --- stall ------------------------------------------------------------------- */

static int stop;
static double lates[4000];
static int nlate;

static void *ticker(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE) && nlate < 4000) {
        double t0 = now();
        struct timespec ts = {0, 1000000L};
        nanosleep(&ts, NULL);
        lates[nlate++] = (now() - t0 - 1e-3) * 1e6;
    }
    return NULL;
}

static long raw_read(int fd, void *buf, size_t n)
{
#if defined(__x86_64__)
    long r;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"((long)SYS_read), "D"((long)fd), "S"(buf), "d"(n)
                     : "rcx", "r11", "memory");
    return r;
#else
    return syscall(SYS_read, fd, buf, n);
#endif
}

static void *stuck(void *arg)
{
    char c;
    return (void *)(intptr_t)raw_read(*(int *)arg, &c, 1);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int stall(void)
{
    int p[2];
    if (pipe(p) != 0) {
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
        _exit(write(p[1], "x", 1) == 1 ? 0 : 1);
    }
    pthread_t tk, st;
    pthread_create(&st, NULL, stuck, &p[0]);
    pthread_create(&tk, NULL, ticker, NULL);
    pthread_join(st, NULL);
    __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
    pthread_join(tk, NULL);
    waitpid(child, NULL, 0);
    qsort(lates, (size_t)nlate, sizeof(lates[0]), cmp);
    int n = nlate > 0 ? nlate : 1;
    printf("stall_ticks %d count\n", nlate);
    printf("stall_p50 %.0f us\n", lates[n / 2]);
    printf("stall_p99 %.0f us\n", lates[(n * 99) / 100]);
    printf("stall_max %.0f us\n", lates[n - 1]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "compute") == 0) {
        return compute();
    }
    if (argc > 1 && strcmp(argv[1], "stall") == 0) {
        return stall();
    }
    fprintf(stderr, "usage: handoff compute|stall\n");
    return 2;
}
