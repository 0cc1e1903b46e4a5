/* SPDX-License-Identifier: MIT */
/* Two threads bat a counter back and forth through two pipes 10,000
 * times; then a producer and a consumer share a bounded buffer under a
 * mutex and two condition variables, the consumer waiting with
 * pthread_cond_timedwait so that some of its waits time out (ETIMEDOUT)
 * while the producer naps. */
#include "legacy.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 10000

static int ping[2]; /* pinger -> ponger */
static int pong[2]; /* ponger -> pinger */

static void read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        LEGACY_CHECK(r > 0);
        p += r;
        n -= (size_t)r;
    }
}

static void write_full(int fd, const void *buf, size_t n)
{
    LEGACY_CHECK(write(fd, buf, n) == (ssize_t)n);
}

static void *pinger(void *arg)
{
    (void)arg;
    uint32_t v = 0;
    for (int i = 0; i < ROUNDS; i++) {
        write_full(ping[1], &v, sizeof(v));
        uint32_t back;
        read_full(pong[0], &back, sizeof(back));
        LEGACY_CHECK(back == v + 1);
        v = back + 1;
        if (i == ROUNDS / 2) {
            LEGACY_CHECK_ONE_THREAD();
        }
    }
    return (void *)(uintptr_t)v;
}

static void *ponger(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        uint32_t v;
        read_full(ping[0], &v, sizeof(v));
        LEGACY_CHECK(v == (uint32_t)(2 * i));
        v++;
        write_full(pong[1], &v, sizeof(v));
    }
    return NULL;
}

/* The bounded buffer. */
#define CAP 8
#define ITEMS 2000
#define NAPS 5 /* the producer naps 50 ms before each of the first NAPS */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER;
static int buf[CAP];
static int head, count;
static int timeouts;

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ITEMS; i++) {
        if (i < NAPS) {
            usleep(50000);
        }
        pthread_mutex_lock(&mu);
        while (count == CAP) {
            pthread_cond_wait(&not_full, &mu);
        }
        buf[(head + count) % CAP] = i;
        count++;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += ms * 1000000L;
    ts->tv_sec += ts->tv_nsec / 1000000000L;
    ts->tv_nsec %= 1000000000L;
}

static void *consumer(void *arg)
{
    (void)arg;
    long sum = 0;
    for (int i = 0; i < ITEMS; i++) {
        pthread_mutex_lock(&mu);
        while (count == 0) {
            struct timespec ts;
            deadline_in(&ts, 5);
            int r = pthread_cond_timedwait(&not_empty, &mu, &ts);
            LEGACY_CHECK(r == 0 || r == ETIMEDOUT);
            if (r == ETIMEDOUT) {
                timeouts++;
            }
        }
        int v = buf[head];
        head = (head + 1) % CAP;
        count--;
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&mu);
        LEGACY_CHECK(v == i);
        sum += v;
    }
    return (void *)sum;
}

int main(void)
{
    LEGACY_CHECK(pipe(ping) == 0 && pipe(pong) == 0);
    pthread_t a, b;
    LEGACY_CHECK(pthread_create(&a, NULL, pinger, NULL) == 0);
    LEGACY_CHECK(pthread_create(&b, NULL, ponger, NULL) == 0);
    void *ra;
    LEGACY_CHECK(pthread_join(a, &ra) == 0);
    LEGACY_CHECK(pthread_join(b, NULL) == 0);
    LEGACY_CHECK((uintptr_t)ra == 2 * ROUNDS);

    pthread_t p, c;
    LEGACY_CHECK(pthread_create(&c, NULL, consumer, NULL) == 0);
    LEGACY_CHECK(pthread_create(&p, NULL, producer, NULL) == 0);
    LEGACY_CHECK_ONE_THREAD();
    void *rc;
    LEGACY_CHECK(pthread_join(p, NULL) == 0);
    LEGACY_CHECK(pthread_join(c, &rc) == 0);
    LEGACY_CHECK((long)rc == (long)ITEMS * (ITEMS - 1) / 2);
    /* Five 50 ms naps against 5 ms waits: many waits timed out. */
    LEGACY_CHECK(timeouts >= NAPS);

    /* A wait nobody signals times out, and not early. */
    struct timespec t0, t1, ts;
    pthread_cond_t lonely = PTHREAD_COND_INITIALIZER;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_mutex_lock(&mu);
    deadline_in(&ts, 100);
    LEGACY_CHECK(pthread_cond_timedwait(&lonely, &mu, &ts) == ETIMEDOUT);
    pthread_mutex_unlock(&mu);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    LEGACY_CHECK(dt >= 0.099);

    printf("pingpong: %d rounds, %d items, %d timed-out waits\n", ROUNDS,
           ITEMS, timeouts);
    return 0;
}
