/* SPDX-License-Identifier: MIT */
/* pthread_create / join / detach / self / equal, stack sizes, names and
 * join errors, as a blocking program sees them:
 *   - 1,000 threads alive at once (each blocked on a condition variable
 *     until main has seen them all and checked there is one OS thread),
 *     each returning its own value to join;
 *   - pthread_self unique per thread, stable, distinct from main's, and
 *     pthread_equal agreeing;
 *   - detached threads (by attribute and by pthread_detach) run to their
 *     end; joining one is EINVAL; joining oneself is EDEADLK;
 *   - a 16 KiB stack request works, a 1 MiB one can be used in full, and
 *     pthread_getattr_np reports at least what was asked;
 *   - pthread_setname_np / getname_np round-trip, ERANGE on long names. */
#include "thread_util.h"

#include <string.h>

#define N 1000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;
static int ready, go;
static pthread_t selves[N];
static pthread_t main_self;

static void *member(void *arg)
{
    long i = (long)arg;
    pthread_t me = pthread_self();
    LEGACY_CHECK(!pthread_equal(me, main_self));
    pthread_mutex_lock(&lock);
    selves[i] = me;
    ready++;
    pthread_cond_signal(&ready_cond);
    while (!go) {
        pthread_cond_wait(&go_cond, &lock);
    }
    pthread_mutex_unlock(&lock);
    LEGACY_CHECK(pthread_equal(pthread_self(), me)); /* stable */
    return (void *)(i + 1);
}

static void check_many(void)
{
    pthread_t t[N];
    for (long i = 0; i < N; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, member, (void *)i) == 0);
    }
    pthread_mutex_lock(&lock);
    while (ready < N) {
        pthread_cond_wait(&ready_cond, &lock);
    }
    LEGACY_CHECK_ONE_THREAD(); /* N threads alive, all waiting */
    for (int i = 0; i < N; i++) {
        LEGACY_CHECK(pthread_equal(selves[i], t[i]));
        if (i > 0) {
            LEGACY_CHECK(!pthread_equal(selves[i], selves[i - 1]));
        }
    }
    go = 1;
    pthread_cond_broadcast(&go_cond);
    pthread_mutex_unlock(&lock);
    for (long i = 0; i < N; i++) {
        void *r;
        LEGACY_CHECK(pthread_join(t[i], &r) == 0);
        LEGACY_CHECK(r == (void *)(i + 1));
    }
}

static int detached_done;

static void *detached(void *arg)
{
    (void)arg;
    tu_nap(5);
    pthread_mutex_lock(&lock);
    detached_done++;
    pthread_cond_broadcast(&ready_cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void check_detached(void)
{
    pthread_attr_t a;
    pthread_t t1, t2;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    LEGACY_CHECK(pthread_create(&t1, &a, detached, NULL) == 0);
    pthread_attr_destroy(&a);
    LEGACY_CHECK(pthread_create(&t2, NULL, detached, NULL) == 0);
    LEGACY_CHECK(pthread_detach(t2) == 0);
    LEGACY_CHECK(pthread_join(t1, NULL) == EINVAL);
    pthread_mutex_lock(&lock);
    while (detached_done < 2) {
        pthread_cond_wait(&ready_cond, &lock);
    }
    pthread_mutex_unlock(&lock);
}

static void *join_self(void *arg)
{
    (void)arg;
    return (void *)(long)pthread_join(pthread_self(), NULL);
}

/* Uses most of a 1 MiB stack. */
static void *deep(void *arg)
{
    volatile char buf[768 << 10];
    memset((char *)buf, (int)(long)arg, sizeof(buf));
    pthread_attr_t a;
    size_t size;
    LEGACY_CHECK(pthread_getattr_np(pthread_self(), &a) == 0);
    LEGACY_CHECK(pthread_attr_getstacksize(&a, &size) == 0);
    LEGACY_CHECK(size >= (1 << 20));
    pthread_attr_destroy(&a);
    return (void *)(long)buf[sizeof(buf) - 1];
}

static void *shallow(void *arg)
{
    return arg;
}

static void check_stacks(void)
{
    pthread_attr_t a;
    pthread_t t;
    void *r;
    pthread_attr_init(&a);
    LEGACY_CHECK(pthread_attr_setstacksize(&a, 1 << 20) == 0);
    LEGACY_CHECK(pthread_create(&t, &a, deep, (void *)7L) == 0);
    LEGACY_CHECK(pthread_join(t, &r) == 0 && r == (void *)7L);
    LEGACY_CHECK(pthread_attr_setstacksize(&a, 16 << 10) == 0);
    LEGACY_CHECK(pthread_create(&t, &a, shallow, (void *)3L) == 0);
    LEGACY_CHECK(pthread_join(t, &r) == 0 && r == (void *)3L);
    pthread_attr_destroy(&a);
}

static void *named(void *arg)
{
    char buf[32];
    (void)arg;
    LEGACY_CHECK(pthread_setname_np(pthread_self(), "worker-1") == 0);
    LEGACY_CHECK(pthread_getname_np(pthread_self(), buf, sizeof(buf)) == 0);
    LEGACY_CHECK(strcmp(buf, "worker-1") == 0);
    LEGACY_CHECK(pthread_setname_np(pthread_self(),
                                    "a-name-that-is-too-long") == ERANGE);
    LEGACY_CHECK(pthread_getname_np(pthread_self(), buf, 4) == ERANGE);
    return NULL;
}

int main(void)
{
    pthread_t t;
    void *r;
    main_self = pthread_self();
    check_many();
    LEGACY_CHECK(pthread_equal(pthread_self(), main_self));
    check_detached();
    LEGACY_CHECK(pthread_create(&t, NULL, join_self, NULL) == 0);
    LEGACY_CHECK(pthread_join(t, &r) == 0 && r == (void *)(long)EDEADLK);
    LEGACY_CHECK(pthread_join(pthread_self(), NULL) == EDEADLK);
    check_stacks();
    LEGACY_CHECK(pthread_create(&t, NULL, named, NULL) == 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    tu_run(100, shallow, 0);
    return 0;
}
