/* SPDX-License-Identifier: MIT */
/* Helpers for the thread_*.c legacy programs: deadlines, a nap that
 * needs nothing but pthreads and semaphores (so that these programs
 * yield under the preload through the thread family alone, whatever the
 * time and I/O families do), and a way to run many threads at once. */
#ifndef THREAD_UTIL_H
#define THREAD_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#include "legacy.h"

/* Now + ms on clock, as an absolute timespec. */
static inline struct timespec tu_deadline(clockid_t clock, long ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Milliseconds from a to b. */
static inline double tu_ms(struct timespec a, struct timespec b)
{
    return (double)(b.tv_sec - a.tv_sec) * 1e3 +
           (double)(b.tv_nsec - a.tv_nsec) / 1e6;
}

static inline struct timespec tu_now(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return ts;
}

/* Sleeps about ms milliseconds by timing out on a semaphore nobody posts. */
static inline void tu_nap(long ms)
{
    sem_t never;
    LEGACY_CHECK(sem_init(&never, 0, 0) == 0);
    struct timespec ts = tu_deadline(CLOCK_REALTIME, ms);
    int r;
    while ((r = sem_timedwait(&never, &ts)) == -1 && errno == EINTR) {
    }
    LEGACY_CHECK(r == -1 && errno == ETIMEDOUT);
    sem_destroy(&never);
}

/* Starts n threads of fn(i), then joins them all, checking that each
 * returned (void *)(i + 1) unless fn's result is not checked (check 0). */
static inline void tu_run(int n, void *(*fn)(void *), int check)
{
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    LEGACY_CHECK(t != NULL);
    for (long i = 0; i < n; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, fn, (void *)i) == 0);
    }
    for (long i = 0; i < n; i++) {
        void *r;
        LEGACY_CHECK(pthread_join(t[i], &r) == 0);
        if (check) {
            LEGACY_CHECK(r == (void *)(i + 1));
        }
    }
    free(t);
}

#endif
