/* SPDX-License-Identifier: MIT */
/* POSIX semaphores between threads:
 *   - sem_init / sem_getvalue / sem_trywait (EAGAIN when 0) / sem_post;
 *   - sem_post at SEM_VALUE_MAX fails with EOVERFLOW;
 *   - sem_timedwait: ETIMEDOUT after (not before) the deadline, EINVAL
 *     for a bad tv_nsec, success when posted in time; sem_clockwait with
 *     CLOCK_MONOTONIC;
 *   - a bounded buffer of 200 producers and 200 consumers on two
 *     semaphores and a mutex: every item arrives once, and while they all
 *     wait there is one OS thread;
 *   - a signal handled while main waits in sem_timedwait ends it with
 *     EINTR, even with SA_RESTART (Linux restarts only an untimed futex
 *     wait). */
#include "thread_util.h"

#include <limits.h>
#include <string.h>
#include <signal.h>
#include <sys/time.h>

#define N 200
#define SLOTS 8

static sem_t empty_slots, full_slots, started;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long ring[SLOTS];
static int head, tail;
static long sum;
static int seen[N];

static void *producer(void *arg)
{
    sem_post(&started);
    LEGACY_CHECK(sem_wait(&empty_slots) == 0);
    pthread_mutex_lock(&lock);
    ring[head] = (long)arg;
    head = (head + 1) % SLOTS;
    pthread_mutex_unlock(&lock);
    LEGACY_CHECK(sem_post(&full_slots) == 0);
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    sem_post(&started);
    LEGACY_CHECK(sem_wait(&full_slots) == 0);
    pthread_mutex_lock(&lock);
    long v = ring[tail];
    tail = (tail + 1) % SLOTS;
    seen[v]++;
    sum += v;
    pthread_mutex_unlock(&lock);
    LEGACY_CHECK(sem_post(&empty_slots) == 0);
    return NULL;
}

static void check_queue(void)
{
    pthread_t p[N], c[N];
    LEGACY_CHECK(sem_init(&empty_slots, 0, SLOTS) == 0);
    LEGACY_CHECK(sem_init(&full_slots, 0, 0) == 0);
    LEGACY_CHECK(sem_init(&started, 0, 0) == 0);
    for (long i = 0; i < N; i++) {
        LEGACY_CHECK(pthread_create(&c[i], NULL, consumer, NULL) == 0);
    }
    for (int i = 0; i < N; i++) {
        LEGACY_CHECK(sem_wait(&started) == 0);
    }
    LEGACY_CHECK_ONE_THREAD(); /* N consumers blocked in sem_wait */
    for (long i = 0; i < N; i++) {
        LEGACY_CHECK(pthread_create(&p[i], NULL, producer, (void *)i) == 0);
    }
    for (int i = 0; i < N; i++) {
        LEGACY_CHECK(pthread_join(p[i], NULL) == 0);
        LEGACY_CHECK(pthread_join(c[i], NULL) == 0);
    }
    for (int i = 0; i < N; i++) {
        LEGACY_CHECK(seen[i] == 1);
    }
    LEGACY_CHECK(sum == (long)N * (N - 1) / 2);
    int v;
    LEGACY_CHECK(sem_getvalue(&empty_slots, &v) == 0 && v == SLOTS);
    LEGACY_CHECK(sem_getvalue(&full_slots, &v) == 0 && v == 0);
    sem_destroy(&empty_slots);
    sem_destroy(&full_slots);
    sem_destroy(&started);
}

static sem_t late;

static void *post_later(void *arg)
{
    (void)arg;
    tu_nap(30);
    sem_post(&late);
    return NULL;
}

static void check_basics(void)
{
    sem_t s;
    int v;
    LEGACY_CHECK(sem_init(&s, 0, 2) == 0);
    LEGACY_CHECK(sem_getvalue(&s, &v) == 0 && v == 2);
    LEGACY_CHECK(sem_trywait(&s) == 0 && sem_trywait(&s) == 0);
    errno = 0;
    LEGACY_CHECK(sem_trywait(&s) == -1 && errno == EAGAIN);
    LEGACY_CHECK(sem_post(&s) == 0);
    LEGACY_CHECK(sem_getvalue(&s, &v) == 0 && v == 1);
    LEGACY_CHECK(sem_destroy(&s) == 0);

    LEGACY_CHECK(sem_init(&s, 0, SEM_VALUE_MAX) == 0);
    errno = 0;
    LEGACY_CHECK(sem_post(&s) == -1 && errno == EOVERFLOW);
    sem_destroy(&s);
    errno = 0;
    LEGACY_CHECK(sem_init(&s, 0, (unsigned)SEM_VALUE_MAX + 1) == -1 &&
                 errno == EINVAL);

    /* Timeouts. */
    LEGACY_CHECK(sem_init(&s, 0, 0) == 0);
    struct timespec dl = tu_deadline(CLOCK_REALTIME, 50);
    errno = 0;
    LEGACY_CHECK(sem_timedwait(&s, &dl) == -1 && errno == ETIMEDOUT);
    LEGACY_CHECK(tu_ms(dl, tu_now(CLOCK_REALTIME)) >= 0);
    dl.tv_nsec = 1000000000L;
    errno = 0;
    LEGACY_CHECK(sem_timedwait(&s, &dl) == -1 && errno == EINVAL);
    struct timespec mono = tu_deadline(CLOCK_MONOTONIC, 20);
    errno = 0;
    LEGACY_CHECK(sem_clockwait(&s, CLOCK_MONOTONIC, &mono) == -1 &&
                 errno == ETIMEDOUT);
    LEGACY_CHECK(tu_ms(mono, tu_now(CLOCK_MONOTONIC)) >= 0);
    sem_destroy(&s);

    /* Posted in time by another thread. */
    pthread_t t;
    LEGACY_CHECK(sem_init(&late, 0, 0) == 0);
    LEGACY_CHECK(pthread_create(&t, NULL, post_later, NULL) == 0);
    dl = tu_deadline(CLOCK_REALTIME, 5000);
    LEGACY_CHECK(sem_timedwait(&late, &dl) == 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    sem_destroy(&late);
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void check_eintr(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    LEGACY_CHECK(sigaction(SIGALRM, &sa, NULL) == 0);
    struct itimerval it = {{0, 0}, {0, 50000}};
    LEGACY_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    sem_t s;
    LEGACY_CHECK(sem_init(&s, 0, 0) == 0);
    struct timespec dl = tu_deadline(CLOCK_REALTIME, 5000);
    errno = 0;
    LEGACY_CHECK(sem_timedwait(&s, &dl) == -1 && errno == EINTR);
    LEGACY_CHECK(alarms == 1);
    sem_destroy(&s);
}

int main(void)
{
    check_basics();
    check_queue();
    check_eintr();
    return 0;
}
