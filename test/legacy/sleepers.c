/* SPDX-License-Identifier: MIT */
/* 1,000 threads each sleep one second, each with one of the five ways
 * libc offers (sleep, usleep, nanosleep, clock_nanosleep relative and
 * clock_nanosleep TIMER_ABSTIME on CLOCK_MONOTONIC). All are joined; the
 * whole run takes about one second, never 1,000: the sleeps overlap.
 * Each thread also checks that its own sleep lasted at least a second. */
#include "legacy.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define NTHREADS 1000
#define NKINDS 5

static atomic_int started;
static atomic_int finished;
static atomic_int short_sleeps;
static atomic_int failed_calls;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sleeps one second with the call numbered `kind`; returns 0 on success. */
static int sleep_one_second(int kind)
{
    struct timespec ts = {1, 0};
    switch (kind) {
    case 0:
        return sleep(1) == 0 ? 0 : -1;
    case 1:
        /* usleep takes at most a second's worth of microseconds. */
        return usleep(999999) == 0 && usleep(1) == 0 ? 0 : -1;
    case 2:
        return nanosleep(&ts, NULL);
    case 3:
        return clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL) == 0 ? 0 : -1;
    default: {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until,
                               NULL) == 0
                   ? 0
                   : -1;
    }
    }
}

static void *sleeper(void *arg)
{
    int kind = (int)(long)arg % NKINDS;
    atomic_fetch_add(&started, 1);
    double t0 = now();
    if (sleep_one_second(kind) != 0) {
        atomic_fetch_add(&failed_calls, 1);
    }
    if (now() - t0 < 0.999) {
        atomic_fetch_add(&short_sleeps, 1);
    }
    atomic_fetch_add(&finished, 1);
    return arg;
}

int main(void)
{
    static pthread_t th[NTHREADS];
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);

    double t0 = now();
    for (long i = 0; i < NTHREADS; i++) {
        LEGACY_CHECK(pthread_create(&th[i], &attr, sleeper, (void *)i) == 0);
    }
    pthread_attr_destroy(&attr);

    /* Half a second in, every thread has started and none has woken. */
    usleep(500000);
    LEGACY_CHECK(atomic_load(&started) == NTHREADS);
    LEGACY_CHECK(atomic_load(&finished) == 0);
    LEGACY_CHECK_ONE_THREAD();

    for (long i = 0; i < NTHREADS; i++) {
        void *ret;
        LEGACY_CHECK(pthread_join(th[i], &ret) == 0);
        LEGACY_CHECK(ret == (void *)i);
    }
    double wall = now() - t0;

    LEGACY_CHECK(atomic_load(&finished) == NTHREADS);
    LEGACY_CHECK(atomic_load(&failed_calls) == 0);
    LEGACY_CHECK(atomic_load(&short_sleeps) == 0);
    LEGACY_CHECK(wall >= 1.0);
    LEGACY_CHECK(wall < 30.0);
    printf("sleepers: %d threads slept 1 s each in %.2f s\n", NTHREADS, wall);
    return 0;
}
