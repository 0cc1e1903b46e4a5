/* SPDX-License-Identifier: MIT */
/* Condition variables, as a blocking program uses them:
 *   - a bounded queue on one mutex and two condition variables (not_full,
 *     not_empty): 100 producers x 50 items, 100 consumers, every item
 *     consumed once; the consumers wait with pthread_cond_timedwait in a
 *     loop (CLOCK_REALTIME deadlines), the producers on a condition
 *     variable made with a CLOCK_MONOTONIC condattr, so both clocks carry
 *     real traffic; one OS thread while they run;
 *   - ETIMEDOUT from both clocks no earlier than the deadline, with the
 *     mutex held again on return (an errorcheck mutex unlocks with 0);
 *   - EINVAL for a bad tv_nsec; pthread_cond_clockwait with
 *     CLOCK_MONOTONIC; signal wakes one waiter, broadcast all. */
#include "thread_util.h"

#define PRODUCERS 100
#define CONSUMERS 100
#define ITEMS 50
#define SLOTS 16

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER;
static pthread_cond_t not_full; /* CLOCK_MONOTONIC */
static long ring[SLOTS];
static int count, head, tail, producers_left = PRODUCERS;
static long consumed, sum;

static void put(long v)
{
    pthread_mutex_lock(&lock);
    while (count == SLOTS) {
        struct timespec dl = tu_deadline(CLOCK_MONOTONIC, 20);
        int r = pthread_cond_timedwait(&not_full, &lock, &dl);
        LEGACY_CHECK(r == 0 || r == ETIMEDOUT);
    }
    ring[head] = v;
    head = (head + 1) % SLOTS;
    count++;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&lock);
}

static void *producer(void *arg)
{
    long id = (long)arg;
    for (long k = 0; k < ITEMS; k++) {
        put(id * ITEMS + k);
    }
    pthread_mutex_lock(&lock);
    if (--producers_left == 0) {
        pthread_cond_broadcast(&not_empty); /* consumers: time to go */
    }
    pthread_mutex_unlock(&lock);
    return (void *)(id + 1);
}

static void *consumer(void *arg)
{
    long id = (long)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (count == 0 && producers_left > 0) {
            struct timespec dl = tu_deadline(CLOCK_REALTIME, 30);
            int r = pthread_cond_timedwait(&not_empty, &lock, &dl);
            LEGACY_CHECK(r == 0 || r == ETIMEDOUT);
        }
        if (count == 0) {
            break;
        }
        sum += ring[tail];
        tail = (tail + 1) % SLOTS;
        count--;
        consumed++;
        if (consumed == 1) {
            LEGACY_CHECK_ONE_THREAD();
        }
        pthread_cond_signal(&not_full);
    }
    pthread_mutex_unlock(&lock);
    return (void *)(id + 1);
}

static void check_queue(void)
{
    pthread_condattr_t a;
    LEGACY_CHECK(pthread_condattr_init(&a) == 0);
    LEGACY_CHECK(pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0);
    LEGACY_CHECK(pthread_cond_init(&not_full, &a) == 0);
    pthread_condattr_destroy(&a);
    pthread_t p[PRODUCERS], c[CONSUMERS];
    for (long i = 0; i < CONSUMERS; i++) {
        LEGACY_CHECK(pthread_create(&c[i], NULL, consumer, (void *)i) == 0);
    }
    for (long i = 0; i < PRODUCERS; i++) {
        LEGACY_CHECK(pthread_create(&p[i], NULL, producer, (void *)i) == 0);
    }
    for (long i = 0; i < PRODUCERS; i++) {
        void *r;
        LEGACY_CHECK(pthread_join(p[i], &r) == 0 && r == (void *)(i + 1));
    }
    for (long i = 0; i < CONSUMERS; i++) {
        void *r;
        LEGACY_CHECK(pthread_join(c[i], &r) == 0 && r == (void *)(i + 1));
    }
    long n = (long)PRODUCERS * ITEMS;
    LEGACY_CHECK(consumed == n && sum == n * (n - 1) / 2);
    LEGACY_CHECK(pthread_cond_destroy(&not_full) == 0);
}

/* --- timeouts and errors -------------------------------------------------- */

static pthread_mutex_t ec = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;

static void check_timeouts(void)
{
    pthread_cond_t rt = PTHREAD_COND_INITIALIZER, mono;
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    LEGACY_CHECK(pthread_cond_init(&mono, &a) == 0);
    pthread_condattr_destroy(&a);

    LEGACY_CHECK(pthread_mutex_lock(&ec) == 0);
    struct timespec dl = tu_deadline(CLOCK_REALTIME, 40);
    LEGACY_CHECK(pthread_cond_timedwait(&rt, &ec, &dl) == ETIMEDOUT);
    LEGACY_CHECK(tu_ms(dl, tu_now(CLOCK_REALTIME)) >= 0);
    LEGACY_CHECK(pthread_mutex_lock(&ec) == EDEADLK); /* held again */

    dl = tu_deadline(CLOCK_MONOTONIC, 40);
    LEGACY_CHECK(pthread_cond_timedwait(&mono, &ec, &dl) == ETIMEDOUT);
    LEGACY_CHECK(tu_ms(dl, tu_now(CLOCK_MONOTONIC)) >= 0);
    LEGACY_CHECK(pthread_mutex_lock(&ec) == EDEADLK);

    dl = tu_deadline(CLOCK_MONOTONIC, 20);
    LEGACY_CHECK(pthread_cond_clockwait(&rt, &ec, CLOCK_MONOTONIC, &dl) ==
                 ETIMEDOUT);
    LEGACY_CHECK(tu_ms(dl, tu_now(CLOCK_MONOTONIC)) >= 0);

    struct timespec past = {0, 0};
    LEGACY_CHECK(pthread_cond_timedwait(&rt, &ec, &past) == ETIMEDOUT);
    struct timespec bad = {time(NULL) + 10, 1000000000L};
    LEGACY_CHECK(pthread_cond_timedwait(&rt, &ec, &bad) == EINVAL);
    bad.tv_nsec = -5;
    LEGACY_CHECK(pthread_cond_timedwait(&mono, &ec, &bad) == EINVAL);
    LEGACY_CHECK(pthread_mutex_unlock(&ec) == 0);
    LEGACY_CHECK(pthread_mutex_unlock(&ec) == EPERM); /* exactly once */
    pthread_cond_destroy(&mono);
    pthread_cond_destroy(&rt);
}

/* --- signal and broadcast -------------------------------------------------- */

static pthread_cond_t bell = PTHREAD_COND_INITIALIZER;
static int waiting, rung, woken;

static void *listener(void *arg)
{
    pthread_mutex_lock(&lock);
    waiting++;
    int my = rung;
    while (rung == my) {
        pthread_cond_wait(&bell, &lock);
    }
    woken++;
    pthread_mutex_unlock(&lock);
    return (void *)((long)arg + 1);
}

static void wait_for(int *what, int n)
{
    for (;;) {
        pthread_mutex_lock(&lock);
        int v = *what;
        pthread_mutex_unlock(&lock);
        if (v >= n) {
            return;
        }
        tu_nap(2);
    }
}

static void check_wakeups(void)
{
    pthread_t t[10];
    for (long i = 0; i < 10; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, listener, (void *)i) == 0);
    }
    wait_for(&waiting, 10);
    pthread_mutex_lock(&lock);
    rung++;
    pthread_cond_broadcast(&bell);
    pthread_mutex_unlock(&lock);
    wait_for(&woken, 10);
    for (long i = 0; i < 10; i++) {
        LEGACY_CHECK(pthread_join(t[i], NULL) == 0);
    }
    /* signal: one at a time. */
    waiting = woken = 0;
    for (long i = 0; i < 3; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, listener, (void *)i) == 0);
    }
    wait_for(&waiting, 3);
    pthread_mutex_lock(&lock);
    rung++;
    pthread_mutex_unlock(&lock);
    for (int k = 1; k <= 3; k++) {
        pthread_mutex_lock(&lock);
        pthread_cond_signal(&bell);
        pthread_mutex_unlock(&lock);
        wait_for(&woken, k);
    }
    for (long i = 0; i < 3; i++) {
        LEGACY_CHECK(pthread_join(t[i], NULL) == 0);
    }
}

int main(void)
{
    check_timeouts();
    check_wakeups();
    check_queue();
    return 0;
}
