/* SPDX-License-Identifier: MIT */
/* pthread_exit and thread-specific data:
 *   - a thread that calls pthread_exit(v) deep in its calls is joined with
 *     v, and code after the call never runs;
 *   - keys are per thread: 50 threads set their own value on two keys and
 *     read it back after yielding to each other, main's value untouched;
 *   - destructors run at the thread's end (after a return or a
 *     pthread_exit), with the value, not for NULL values, and again (up to
 *     PTHREAD_DESTRUCTOR_ITERATIONS rounds) when a destructor sets a value;
 *   - a deleted key's destructor does not run; getspecific of a fresh
 *     key in a thread is NULL;
 *   - main ends with pthread_exit while threads still run: the process
 *     lives on until the last one ends, then exits with 0 (an atexit
 *     handler checks that they all finished). */
#include "thread_util.h"

#include <unistd.h>

#define N 50

static pthread_key_t key_a, key_b, key_gone;
static pthread_barrier_t all_set;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int dtor_a_calls, dtor_b_calls, dtor_gone_calls, rearm_calls;
static int values_seen[N];

static void dtor_a(void *v)
{
    pthread_mutex_lock(&lock);
    values_seen[(long)v - 1]++;
    dtor_a_calls++;
    pthread_mutex_unlock(&lock);
}

/* Sets a value again twice: the destructor must be called three times. */
static void dtor_b(void *v)
{
    pthread_mutex_lock(&lock);
    dtor_b_calls++;
    pthread_mutex_unlock(&lock);
    long n = (long)v;
    if (n < 3) {
        rearm_calls++;
        pthread_setspecific(key_b, (void *)(n + 1));
    }
}

static void dtor_gone(void *v)
{
    (void)v;
    dtor_gone_calls++;
}

/* pthread_exit a few calls deep. */
static __attribute__((noinline)) void leave3(long value)
{
    pthread_exit((void *)value);
}

static __attribute__((noinline)) void leave2(long value)
{
    leave3(value);
    LEGACY_CHECK(!"pthread_exit returned");
}

static __attribute__((noinline)) void leave(long value)
{
    leave2(value);
    LEGACY_CHECK(!"pthread_exit returned");
}

static void *worker(void *arg)
{
    long i = (long)arg;
    LEGACY_CHECK(pthread_getspecific(key_a) == NULL);
    LEGACY_CHECK(pthread_setspecific(key_a, (void *)(i + 1)) == 0);
    LEGACY_CHECK(pthread_setspecific(key_gone, (void *)1) == 0);
    if (i == 0) {
        LEGACY_CHECK(pthread_setspecific(key_b, (void *)1) == 0);
    }
    int r = pthread_barrier_wait(&all_set); /* everyone has set theirs */
    LEGACY_CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    tu_nap(10);
    LEGACY_CHECK(pthread_getspecific(key_a) == (void *)(i + 1));
    if (i % 2 == 0) {
        leave(i + 1);
    }
    return (void *)(i + 1);
}

static void check_keys(void)
{
    LEGACY_CHECK(pthread_key_create(&key_a, dtor_a) == 0);
    LEGACY_CHECK(pthread_key_create(&key_b, dtor_b) == 0);
    LEGACY_CHECK(pthread_key_create(&key_gone, dtor_gone) == 0);
    LEGACY_CHECK(pthread_setspecific(key_a, (void *)-1L) == 0);
    LEGACY_CHECK(pthread_barrier_init(&all_set, NULL, N + 1) == 0);
    pthread_t t[N];
    for (long i = 0; i < N; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    }
    int r = pthread_barrier_wait(&all_set);
    LEGACY_CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    LEGACY_CHECK_ONE_THREAD();
    /* Deleted while the threads hold values: no destructor for it. */
    LEGACY_CHECK(pthread_key_delete(key_gone) == 0);
    for (long i = 0; i < N; i++) {
        void *r;
        LEGACY_CHECK(pthread_join(t[i], &r) == 0);
        LEGACY_CHECK(r == (void *)(i + 1));
    }
    LEGACY_CHECK(pthread_getspecific(key_a) == (void *)-1L);
    LEGACY_CHECK(dtor_a_calls == N);
    for (int i = 0; i < N; i++) {
        LEGACY_CHECK(values_seen[i] == 1);
    }
    LEGACY_CHECK(dtor_b_calls == 3 && rearm_calls == 2);
    LEGACY_CHECK(dtor_gone_calls == 0);
    LEGACY_CHECK(pthread_setspecific(key_a, NULL) == 0);
}

/* --- main's pthread_exit ----------------------------------------------- */

static int late_finished;

static void *late(void *arg)
{
    tu_nap(20 * (long)arg);
    pthread_mutex_lock(&lock);
    late_finished++;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void at_exit(void)
{
    if (late_finished != 5) {
        fprintf(stderr, "exit with %d of 5 threads finished\n",
                late_finished);
        _exit(1);
    }
}

int main(void)
{
    check_keys();
    atexit(at_exit);
    for (long i = 1; i <= 5; i++) {
        pthread_t t;
        LEGACY_CHECK(pthread_create(&t, NULL, late, (void *)i) == 0);
        LEGACY_CHECK(pthread_detach(t) == 0);
    }
    LEGACY_CHECK_ONE_THREAD();
    pthread_exit(NULL);
}
