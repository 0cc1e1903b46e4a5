/* SPDX-License-Identifier: MIT */
/* glibc's pthread extensions on green threads, as on native ones:
 *   - pthread_tryjoin_np: EBUSY while the thread runs, then the join;
 *   - pthread_timedjoin_np / pthread_clockjoin_np: ETIMEDOUT at the
 *     deadline, EINVAL for a bad clock while it runs, the join
 *     once it ends, EDEADLK on oneself;
 *   - pthread_setschedparam / getschedparam / setschedprio: what was set
 *     is what is read; bad policies and priorities are EINVAL;
 *   - pthread_setaffinity_np / getaffinity_np: a thread's own set, read
 *     back; the process (main) keeps its set; an empty set is EINVAL;
 *   - pthread_getcpuclockid: a clock that can be read;
 *   - spin locks held across a sleep by one thread, contended by others,
 *     while a ticker keeps running.
 * Prints results only (no timings), the same natively and preloaded. */
#include "legacy.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

static volatile int release;
static pthread_spinlock_t spin;
static int in_spin, spin_max, spin_done;
static volatile int ticks;
static volatile int stop_ticker;

static void *until_released(void *arg)
{
    while (!release) {
        usleep(1000);
    }
    return arg;
}

static void *ticker(void *arg)
{
    while (!stop_ticker) {
        ticks++;
        usleep(1000);
    }
    return arg;
}

static void *spinner(void *arg)
{
    for (int i = 0; i < 5; i++) {
        pthread_spin_lock(&spin);
        in_spin++;
        if (in_spin > spin_max) {
            spin_max = in_spin;
        }
        usleep(2000); /* others contend meanwhile */
        in_spin--;
        pthread_spin_unlock(&spin);
        usleep(500);
    }
    __atomic_fetch_add(&spin_done, 1, __ATOMIC_RELAXED);
    return arg;
}

static struct timespec in_ms(clockid_t c, long ms)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    ts.tv_nsec += ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static void joins(void)
{
    pthread_t t;
    void *r = NULL;
    LEGACY_CHECK(pthread_create(&t, NULL, until_released, (void *)7) == 0);
    printf("tryjoin while running: %s\n",
           pthread_tryjoin_np(t, &r) == EBUSY ? "EBUSY" : "other");
    struct timespec soon = in_ms(CLOCK_REALTIME, 20);
    printf("timedjoin before it ends: %s\n",
           pthread_timedjoin_np(t, &r, &soon) == ETIMEDOUT ? "ETIMEDOUT"
                                                           : "other");
    soon = in_ms(CLOCK_MONOTONIC, 20);
    printf("clockjoin, monotonic, before it ends: %s\n",
           pthread_clockjoin_np(t, &r, CLOCK_MONOTONIC, &soon) == ETIMEDOUT
               ? "ETIMEDOUT"
               : "other");
    printf("clockjoin, bad clock: %s\n",
           pthread_clockjoin_np(t, &r, CLOCK_PROCESS_CPUTIME_ID, &soon) ==
                   EINVAL
               ? "EINVAL"
               : "other");
    /* (A tv_nsec out of range is not tried: glibc 2.36's join then loops
     * for ever on the futex's EINVAL.) */
    release = 1;
    struct timespec later = in_ms(CLOCK_REALTIME, 5000);
    int rc = pthread_timedjoin_np(t, &r, &later);
    printf("timedjoin once it ends: %d, value %ld\n", rc, (long)r);
    printf("clockjoin on oneself: %s\n",
           pthread_clockjoin_np(pthread_self(), &r, CLOCK_MONOTONIC, &later) ==
                   EDEADLK
               ? "EDEADLK"
               : "other");
    release = 0;
    LEGACY_CHECK(pthread_create(&t, NULL, until_released, (void *)8) == 0);
    release = 1;
    int tries = 0;
    while ((rc = pthread_tryjoin_np(t, &r)) == EBUSY && tries < 10000) {
        usleep(100);
        tries++;
    }
    printf("tryjoin after it ends: %d, value %ld\n", rc, (long)r);
    release = 0;
}

static void *sched_body(void *arg)
{
    pthread_t me = pthread_self();
    struct sched_param p = {.sched_priority = 0};
    int policy = -1;
    int ok = pthread_setschedparam(me, SCHED_BATCH, &p) == 0;
    ok &= pthread_getschedparam(me, &policy, &p) == 0 &&
          policy == SCHED_BATCH && p.sched_priority == 0;
    p.sched_priority = 5;
    ok &= pthread_setschedparam(me, SCHED_OTHER, &p) == EINVAL;
    ok &= pthread_setschedparam(me, 12345, &p) == EINVAL;
    ok &= pthread_setschedprio(me, 7) == EINVAL; /* SCHED_BATCH: 0 only */
    ok &= pthread_getschedparam(me, &policy, &p) == 0 &&
          policy == SCHED_BATCH;
    printf("scheduling set and read back: %d\n", ok);

    cpu_set_t one, got;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    int aff = pthread_setaffinity_np(me, sizeof(one), &one) == 0;
    aff &= pthread_getaffinity_np(me, sizeof(got), &got) == 0 &&
           CPU_EQUAL(&one, &got);
    cpu_set_t none;
    CPU_ZERO(&none);
    aff &= pthread_setaffinity_np(me, sizeof(none), &none) == EINVAL;
    printf("affinity set and read back: %d\n", aff);

    clockid_t c;
    struct timespec ts;
    printf("cpu clock readable: %d\n",
           pthread_getcpuclockid(me, &c) == 0 && clock_gettime(c, &ts) == 0);
    return arg;
}

int main(void)
{
    cpu_set_t before, after;
    LEGACY_CHECK(sched_getaffinity(0, sizeof(before), &before) == 0);
    joins();
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, sched_body, NULL) == 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    LEGACY_CHECK(sched_getaffinity(0, sizeof(after), &after) == 0);
    printf("main's affinity unchanged: %d\n", CPU_EQUAL(&before, &after));

    pthread_t tick, s[4];
    LEGACY_CHECK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE) == 0);
    LEGACY_CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0);
    for (int i = 0; i < 4; i++) {
        LEGACY_CHECK(pthread_create(&s[i], NULL, spinner, NULL) == 0);
    }
    for (int i = 0; i < 4; i++) {
        LEGACY_CHECK(pthread_join(s[i], NULL) == 0);
    }
    int ticked = ticks > 0;
    stop_ticker = 1;
    LEGACY_CHECK(pthread_join(tick, NULL) == 0);
    printf("spin lock: %d threads done, at most %d inside, ticker ran: %d\n",
           spin_done, spin_max, ticked);
    LEGACY_CHECK_ONE_THREAD();
    return 0;
}
