/* SPDX-License-Identifier: MIT */
/* Read-write locks and barriers:
 *   - 20 readers hold a rwlock at once (each waits on a barrier while it
 *     holds its read lock, so all must be inside together);
 *   - a writer excludes readers and writers: tryrdlock / trywrlock EBUSY,
 *     timedrdlock / timedwrlock / clockwrlock ETIMEDOUT no earlier than
 *     the deadline, EINVAL for a bad tv_nsec; wrlock twice is EDEADLK;
 *   - 30 threads mixing reads and writes: a writer is always alone;
 *   - readers get in past a queued writer by default (glibc prefers
 *     readers), not with PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;
 *   - a barrier of 21 (20 threads + main): exactly one gets
 *     PTHREAD_BARRIER_SERIAL_THREAD per round, over three rounds; a
 *     barrier of 0 is EINVAL. */
#include "thread_util.h"

#define READERS 20

static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static pthread_barrier_t inside;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int serials;

static void *reader(void *arg)
{
    LEGACY_CHECK(pthread_rwlock_rdlock(&rw) == 0);
    int r = pthread_barrier_wait(&inside); /* every reader holds it now */
    LEGACY_CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    if (r == PTHREAD_BARRIER_SERIAL_THREAD) {
        pthread_mutex_lock(&lock);
        serials++;
        pthread_mutex_unlock(&lock);
    }
    LEGACY_CHECK(pthread_rwlock_unlock(&rw) == 0);
    return (void *)((long)arg + 1);
}

static void check_readers(void)
{
    pthread_t t[READERS];
    LEGACY_CHECK(pthread_barrier_init(&inside, NULL, READERS + 1) == 0);
    for (long i = 0; i < READERS; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, reader, (void *)i) == 0);
    }
    /* Main is the last to arrive: the readers are all inside by now. */
    LEGACY_CHECK(pthread_rwlock_rdlock(&rw) == 0);
    LEGACY_CHECK_ONE_THREAD();
    int r = pthread_barrier_wait(&inside);
    if (r == PTHREAD_BARRIER_SERIAL_THREAD) {
        pthread_mutex_lock(&lock);
        serials++;
        pthread_mutex_unlock(&lock);
    }
    LEGACY_CHECK(pthread_rwlock_unlock(&rw) == 0);
    for (long i = 0; i < READERS; i++) {
        LEGACY_CHECK(pthread_join(t[i], NULL) == 0);
    }
    LEGACY_CHECK(serials == 1);
    LEGACY_CHECK(pthread_barrier_destroy(&inside) == 0);
}

static void *try_read(void *arg)
{
    (void)arg;
    return (void *)(long)pthread_rwlock_tryrdlock(&rw);
}

static void *try_write(void *arg)
{
    (void)arg;
    return (void *)(long)pthread_rwlock_trywrlock(&rw);
}

static void *timed_both(void *arg)
{
    (void)arg;
    struct timespec dl = tu_deadline(CLOCK_REALTIME, 30);
    LEGACY_CHECK(pthread_rwlock_timedrdlock(&rw, &dl) == ETIMEDOUT);
    LEGACY_CHECK(tu_ms(dl, tu_now(CLOCK_REALTIME)) >= 0);
    dl = tu_deadline(CLOCK_REALTIME, 30);
    LEGACY_CHECK(pthread_rwlock_timedwrlock(&rw, &dl) == ETIMEDOUT);
    LEGACY_CHECK(tu_ms(dl, tu_now(CLOCK_REALTIME)) >= 0);
    dl = tu_deadline(CLOCK_MONOTONIC, 30);
    LEGACY_CHECK(pthread_rwlock_clockwrlock(&rw, CLOCK_MONOTONIC, &dl) ==
                 ETIMEDOUT);
    LEGACY_CHECK(tu_ms(dl, tu_now(CLOCK_MONOTONIC)) >= 0);
    dl.tv_nsec = 1000000000L;
    LEGACY_CHECK(pthread_rwlock_timedrdlock(&rw, &dl) == EINVAL);
    return NULL;
}

static long in_thread(void *(*fn)(void *))
{
    pthread_t t;
    void *r;
    LEGACY_CHECK(pthread_create(&t, NULL, fn, NULL) == 0);
    LEGACY_CHECK(pthread_join(t, &r) == 0);
    return (long)r;
}

static void check_writer(void)
{
    LEGACY_CHECK(pthread_rwlock_wrlock(&rw) == 0);
    LEGACY_CHECK(pthread_rwlock_wrlock(&rw) == EDEADLK);
    LEGACY_CHECK(in_thread(try_read) == EBUSY);
    LEGACY_CHECK(in_thread(try_write) == EBUSY);
    in_thread(timed_both);
    LEGACY_CHECK(pthread_rwlock_unlock(&rw) == 0);

    LEGACY_CHECK(pthread_rwlock_rdlock(&rw) == 0);
    LEGACY_CHECK(in_thread(try_write) == EBUSY);
    LEGACY_CHECK(in_thread(try_read) == 0); /* and it keeps it: */
    LEGACY_CHECK(pthread_rwlock_unlock(&rw) == 0);
    LEGACY_CHECK(pthread_rwlock_unlock(&rw) == 0);
    LEGACY_CHECK(in_thread(try_write) == 0); /* it ends holding it */
}

/* --- mixed traffic ---------------------------------------------------------- */

static pthread_rwlock_t mixed;
static int readers_in, writers_in, writes_done;

static void *mixer(void *arg)
{
    long i = (long)arg;
    for (int k = 0; k < 10; k++) {
        if ((i + k) % 4 == 0) {
            LEGACY_CHECK(pthread_rwlock_wrlock(&mixed) == 0);
            pthread_mutex_lock(&lock);
            LEGACY_CHECK(readers_in == 0 && writers_in == 0);
            writers_in++;
            pthread_mutex_unlock(&lock);
            tu_nap(1);
            pthread_mutex_lock(&lock);
            writers_in--;
            writes_done++;
            pthread_mutex_unlock(&lock);
        } else {
            LEGACY_CHECK(pthread_rwlock_rdlock(&mixed) == 0);
            pthread_mutex_lock(&lock);
            LEGACY_CHECK(writers_in == 0);
            readers_in++;
            pthread_mutex_unlock(&lock);
            tu_nap(1);
            pthread_mutex_lock(&lock);
            readers_in--;
            pthread_mutex_unlock(&lock);
        }
        LEGACY_CHECK(pthread_rwlock_unlock(&mixed) == 0);
    }
    return (void *)(i + 1);
}

static void check_mixed(void)
{
    LEGACY_CHECK(pthread_rwlock_init(&mixed, NULL) == 0);
    tu_run(30, mixer, 1);
    int expect = 0;
    for (int i = 0; i < 30; i++) {
        for (int k = 0; k < 10; k++) {
            expect += (i + k) % 4 == 0;
        }
    }
    LEGACY_CHECK(writes_done == expect);
    LEGACY_CHECK(pthread_rwlock_destroy(&mixed) == 0);
}

/* --- preference ------------------------------------------------------------ */

static pthread_rwlock_t pref_r = PTHREAD_RWLOCK_INITIALIZER;
static pthread_rwlock_t pref_w =
    PTHREAD_RWLOCK_WRITER_NONRECURSIVE_INITIALIZER_NP;

static void *write_once(void *arg)
{
    LEGACY_CHECK(pthread_rwlock_wrlock(arg) == 0);
    LEGACY_CHECK(pthread_rwlock_unlock(arg) == 0);
    return NULL;
}

static void *try_read_on(void *arg)
{
    int r = pthread_rwlock_tryrdlock(arg);
    if (r == 0) {
        pthread_rwlock_unlock(arg);
    }
    return (void *)(long)r;
}

/* What a reader gets while main reads and a writer is queued. */
static long reader_past_writer(pthread_rwlock_t *l)
{
    pthread_t w, r;
    void *res;
    LEGACY_CHECK(pthread_rwlock_rdlock(l) == 0);
    LEGACY_CHECK(pthread_create(&w, NULL, write_once, l) == 0);
    tu_nap(50); /* the writer is queued by now */
    LEGACY_CHECK(pthread_create(&r, NULL, try_read_on, l) == 0);
    LEGACY_CHECK(pthread_join(r, &res) == 0);
    LEGACY_CHECK(pthread_rwlock_unlock(l) == 0);
    LEGACY_CHECK(pthread_join(w, NULL) == 0);
    return (long)res;
}

static void check_preference(void)
{
    LEGACY_CHECK(reader_past_writer(&pref_r) == 0);
    LEGACY_CHECK(reader_past_writer(&pref_w) == EBUSY);
}

/* --- barrier rounds --------------------------------------------------------- */

#define PARTIES 20

static pthread_barrier_t rounds;
static int round_serials[3];

static void *party(void *arg)
{
    for (int k = 0; k < 3; k++) {
        int r = pthread_barrier_wait(&rounds);
        LEGACY_CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
        if (r == PTHREAD_BARRIER_SERIAL_THREAD) {
            pthread_mutex_lock(&lock);
            round_serials[k]++;
            pthread_mutex_unlock(&lock);
        }
    }
    return (void *)((long)arg + 1);
}

static void check_barrier(void)
{
    pthread_barrier_t zero;
    LEGACY_CHECK(pthread_barrier_init(&zero, NULL, 0) == EINVAL);
    LEGACY_CHECK(pthread_barrier_init(&rounds, NULL, PARTIES) == 0);
    tu_run(PARTIES, party, 1);
    for (int k = 0; k < 3; k++) {
        LEGACY_CHECK(round_serials[k] == 1);
    }
    LEGACY_CHECK(pthread_barrier_destroy(&rounds) == 0);
}

int main(void)
{
    check_readers();
    check_writer();
    check_mixed();
    check_preference();
    check_barrier();
    return 0;
}
