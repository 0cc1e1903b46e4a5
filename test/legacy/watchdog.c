/* SPDX-License-Identifier: MIT */
/* For test/legacy/watchdog.sh: a plain program that blocks its OS thread
 * in raw `syscall` instructions, which no preload can reach, so that the
 * watchdog (lib/watchdog.c) must name it while it is still stuck.
 *
 *   watchdog episodes   with a green thread made (the hub exists), two
 *                       episodes: a raw nanosleep of 700 ms (not
 *                       restartable: named from a stack scan), then a
 *                       raw read of a pipe that a child process writes
 *                       700 ms later (restartable: named through the
 *                       probe signal's backtrace). After each a marker
 *                       goes to stderr, so the script can check that the
 *                       report came while the call was still blocked.
 *   watchdog early      a constructor blocks in a raw nanosleep of 500 ms
 *                       before main and before any green call (reported:
 *                       no interposer could ever reach it); then main
 *                       sleeps 300 ms in libc's usleep, still before any
 *                       green call (not reported: the preload lets a
 *                       thread with nothing green block, as natively).
 *
 * stdout says what each call returned (the probe must not end either
 * with EINTR, nor make the read lose its byte): the same natively and
 * under the preload. Built with -rdynamic, so that dladdr names these
 * functions. */
#include "legacy.h"

#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long raw3(long nr, long a, long b, long c)
{
    long ret;
#if defined(__x86_64__)
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(nr), "D"(a), "S"(b), "d"(c)
                         : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ __volatile__("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2)
                         : "memory");
    ret = x0;
#else
    ret = syscall(nr, a, b, c); /* elsewhere: the test skips */
#endif
    return ret;
}

/* Global, not static: -rdynamic puts them in the dynamic symbol table. */
long stuck_in_raw_nanosleep(long ms);
long stuck_in_raw_read(int fd);

__attribute__((noinline)) long stuck_in_raw_nanosleep(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    return raw3(SYS_nanosleep, (long)&ts, 0, 0);
}

__attribute__((noinline)) long stuck_in_raw_read(int fd)
{
    char c = 0;
    long r = raw3(SYS_read, fd, (long)&c, 1);
    return r == 1 ? c : r;
}

static void marker(const char *m)
{
    if (write(2, m, strlen(m)) < 0) {
        exit(1);
    }
}

static long early_result = 1;

__attribute__((constructor)) static void early(void)
{
    const char *v = getenv("WATCHDOG_EARLY");
    if (v != NULL && strcmp(v, "1") == 0) {
        early_result = stuck_in_raw_nanosleep(500);
        marker("marker: early returned\n");
    }
}

static volatile int stop;

/* A green thread under the preload: the OS thread's hub exists from its
 * creation on, and main's sleeps go green. */
static void *ticker(void *arg)
{
    (void)arg;
    while (!stop) {
        usleep(10000);
    }
    return NULL;
}

static int episodes(void)
{
    pthread_t tick;
    LEGACY_CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0);
    LEGACY_CHECK(usleep(30000) == 0);
    long r = stuck_in_raw_nanosleep(700);
    marker("marker: episode 1 returned\n");
    printf("raw nanosleep returned %ld\n", r);
    LEGACY_CHECK(usleep(50000) == 0); /* the hub turns: a new episode */

    int p[2];
    LEGACY_CHECK(pipe(p) == 0);
    pid_t child = fork();
    LEGACY_CHECK(child >= 0);
    if (child == 0) {
        struct timespec ts = {0, 700000000L};
        raw3(SYS_nanosleep, (long)&ts, 0, 0);
        _exit(raw3(SYS_write, p[1], (long)"x", 1) == 1 ? 0 : 1);
    }
    r = stuck_in_raw_read(p[0]);
    marker("marker: episode 2 returned\n");
    printf("raw read returned '%c'\n", (int)r);
    int st;
    LEGACY_CHECK(waitpid(child, &st, 0) == child);
    printf("child exited %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    stop = 1;
    LEGACY_CHECK(pthread_join(tick, NULL) == 0);
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
#if !defined(__x86_64__) && !defined(__aarch64__)
    (void)what;
    return 77;
#endif
    if (strcmp(what, "episodes") == 0) {
        return episodes();
    }
    if (strcmp(what, "early") == 0) {
        /* libc's sleep before any green call blocks the OS thread by
         * design (nothing green to starve): not reported. */
        LEGACY_CHECK(usleep(300000) == 0);
        printf("early nanosleep returned %ld\n", early_result);
        return early_result == 0 ? 0 : 1;
    }
    fprintf(stderr, "usage: watchdog episodes|early\n");
    return 2;
}
