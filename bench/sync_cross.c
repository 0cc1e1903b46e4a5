/* SPDX-License-Identifier: MIT */
/* Locks, semaphores and conditions shared across OS threads (issue 12),
 * and what sharing costs one hub.
 *
 *   lock-fast.libgreen   ns per green_lock_acquire + release, uncontended,
 *                        one greenlet (the single-hub fast path)
 *   sem-fast.libgreen    the same for green_sem_acquire + release
 *   lock-fast.pthread    ns per pthread_mutex_lock + unlock, uncontended
 *   future-fast.libgreen ns per green_future_new + set_result + get + free,
 *                        one greenlet (nothing waits)
 *   future-wake.libgreen ns per future a greenlet of the same hub waits
 *                        for: new, a waiter spawned, parked, woken by
 *                        set_result and joined, free (the spawn and join
 *                        are most of it; compare builds, not rows)
 *   lock-fast-mt.*, sem-fast-mt.*, future-*-mt.*  the same once a second OS thread
 *                        has made green state (the words are then atomic)
 *   sem-pingpong-x.libgreen   ns per hand-off: greenlets on two OS threads
 *                        (two hubs) pass a turn back and forth through
 *                        two green_sem_t(0); one hand-off is a release on
 *                        one hub waking the acquire parked on the other
 *   cond-pingpong-x.libgreen  the same through one green_lock_t and a
 *                        green_cond_t (a flag, notify, wait)
 *   sem-pingpong-x.pthread / cond-pingpong-x.pthread  the same with two
 *                        native threads: sem_t, and pthread_mutex_t +
 *                        pthread_cond_t
 *
 * Checked: each side saw every turn in order. BENCH_FAST_ROUNDS (default
 * 10,000,000) and BENCH_PINGPONG_ROUNDS (100,000) set the sizes. On a
 * machine whose other core is busy the ping-pong figures are mostly the
 * kernel's wake-up of an idle thread. */
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>

#include "green.h"

#include "bench.h"

static long fast_rounds, pp_rounds;

static void *future_waiter(void *arg)
{
    void *v = NULL;
    BENCH_CHECK(green_future_get(arg, GREEN_FOREVER, &v) == 0 && v == arg);
    return NULL;
}

/* Futures on one hub: completed with nothing waiting, and with one
 * greenlet parked on each. */
static void futures(const char *mt)
{
    char name[64];
    long rounds = fast_rounds / 10;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < rounds; i++) {
        green_future_t *f;
        void *v = NULL;
        BENCH_CHECK(green_future_new(&f) == 0);
        BENCH_CHECK(green_future_set_result(f, f) == 0);
        BENCH_CHECK(green_future_get(f, GREEN_FOREVER, &v) == 0 && v == f);
        BENCH_CHECK(green_future_free(f) == 0);
    }
    uint64_t t1 = bench_now_ns();
    long wrounds = rounds / 10;
    for (long i = 0; i < wrounds; i++) {
        green_future_t *f;
        green_task_t *t;
        BENCH_CHECK(green_future_new(&f) == 0);
        BENCH_CHECK(green_spawn(&t, future_waiter, f) == 0);
        BENCH_CHECK(green_sleep(0) == 0); /* it parks on f */
        BENCH_CHECK(green_future_set_result(f, f) == 0);
        BENCH_CHECK(green_join(t, GREEN_FOREVER, NULL) == 0);
        green_task_release(t);
        BENCH_CHECK(green_future_free(f) == 0);
    }
    uint64_t t2 = bench_now_ns();
    snprintf(name, sizeof(name), "future-fast%s.libgreen", mt);
    bench_report(name, (double)(t1 - t0) / rounds, "ns");
    snprintf(name, sizeof(name), "future-wake%s.libgreen", mt);
    bench_report(name, (double)(t2 - t1) / wrounds, "ns");
}

/* The uncontended paths; names end in `which` (fast, or fast-mt once a
 * second OS thread has made green state and the words are atomic). */
static void fast(const char *which)
{
    char name[64];
    green_lock_t *l;
    green_sem_t *s;
    BENCH_CHECK(green_lock_new(&l) == 0);
    BENCH_CHECK(green_sem_new(&s, 1) == 0);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < fast_rounds; i++) {
        BENCH_CHECK(green_lock_acquire(l, GREEN_FOREVER) == 0);
        BENCH_CHECK(green_lock_release(l) == 0);
    }
    uint64_t t1 = bench_now_ns();
    for (long i = 0; i < fast_rounds; i++) {
        BENCH_CHECK(green_sem_acquire(s, GREEN_FOREVER) == 0);
        BENCH_CHECK(green_sem_release(s) == 0);
    }
    uint64_t t2 = bench_now_ns();
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    for (long i = 0; i < fast_rounds; i++) {
        BENCH_CHECK(pthread_mutex_lock(&m) == 0);
        BENCH_CHECK(pthread_mutex_unlock(&m) == 0);
    }
    uint64_t t3 = bench_now_ns();
    snprintf(name, sizeof(name), "lock-%s.libgreen", which);
    bench_report(name, (double)(t1 - t0) / fast_rounds, "ns");
    snprintf(name, sizeof(name), "sem-%s.libgreen", which);
    bench_report(name, (double)(t2 - t1) / fast_rounds, "ns");
    snprintf(name, sizeof(name), "lock-%s.pthread", which);
    bench_report(name, (double)(t3 - t2) / fast_rounds, "ns");
    BENCH_CHECK(green_lock_free(l) == 0);
    BENCH_CHECK(green_sem_free(s) == 0);
}

/* --- ping-pong ------------------------------------------------------------ */

struct pp {
    green_sem_t *gs[2];
    green_lock_t *gl;
    green_cond_t *gc;
    sem_t ns[2];
    pthread_mutex_t nm;
    pthread_cond_t nc;
    long turn;              /* whose turn: even side 0, odd side 1 */
    long seen[2];
};

static void *green_sem_side(void *arg)
{
    struct pp *p = *(struct pp **)arg;
    int me = (int)(((struct pp **)arg)[1] != NULL);
    for (long i = 0; i < pp_rounds; i++) {
        BENCH_CHECK(green_sem_acquire(p->gs[me], GREEN_FOREVER) == 0);
        BENCH_CHECK(p->turn % 2 == me);
        p->turn++;
        p->seen[me]++;
        BENCH_CHECK(green_sem_release(p->gs[!me]) == 0);
    }
    return NULL;
}

static void *green_cond_side(void *arg)
{
    struct pp *p = *(struct pp **)arg;
    int me = (int)(((struct pp **)arg)[1] != NULL);
    BENCH_CHECK(green_lock_acquire(p->gl, GREEN_FOREVER) == 0);
    for (long i = 0; i < pp_rounds; i++) {
        while (p->turn % 2 != me) {
            BENCH_CHECK(green_cond_wait(p->gc, GREEN_FOREVER) == 0);
        }
        p->turn++;
        p->seen[me]++;
        BENCH_CHECK(green_cond_notify(p->gc, 1) >= 0);
    }
    BENCH_CHECK(green_lock_release(p->gl) == 0);
    return NULL;
}

static void *native_sem_side(void *arg)
{
    struct pp *p = *(struct pp **)arg;
    int me = (int)(((struct pp **)arg)[1] != NULL);
    for (long i = 0; i < pp_rounds; i++) {
        BENCH_CHECK(sem_wait(&p->ns[me]) == 0);
        BENCH_CHECK(p->turn % 2 == me);
        p->turn++;
        p->seen[me]++;
        BENCH_CHECK(sem_post(&p->ns[!me]) == 0);
    }
    return NULL;
}

static void *native_cond_side(void *arg)
{
    struct pp *p = *(struct pp **)arg;
    int me = (int)(((struct pp **)arg)[1] != NULL);
    pthread_mutex_lock(&p->nm);
    for (long i = 0; i < pp_rounds; i++) {
        while (p->turn % 2 != me) {
            pthread_cond_wait(&p->nc, &p->nm);
        }
        p->turn++;
        p->seen[me]++;
        pthread_cond_signal(&p->nc);
    }
    pthread_mutex_unlock(&p->nm);
    return NULL;
}

/* Runs side on two OS threads (side 0 here, side 1 on a new thread) and
 * reports ns per hand-off. */
static void pingpong(const char *name, struct pp *p, void *(*side)(void *),
                     void (*start)(struct pp *))
{
    p->turn = 0;
    p->seen[0] = p->seen[1] = 0;
    struct pp *a0[2] = {p, NULL}, *a1[2] = {p, p};
    pthread_t th;
    BENCH_CHECK(pthread_create(&th, NULL, side, a1) == 0);
    uint64_t t0 = bench_now_ns();
    if (start != NULL) {
        start(p);
    }
    side(a0);
    BENCH_CHECK(pthread_join(th, NULL) == 0);
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(p->seen[0] == pp_rounds && p->seen[1] == pp_rounds);
    BENCH_CHECK(p->turn == 2 * pp_rounds);
    bench_report(name, (double)(t1 - t0) / (2.0 * pp_rounds), "ns");
}

static void green_sem_start(struct pp *p)
{
    BENCH_CHECK(green_sem_release(p->gs[0]) == 0);
}

static void native_sem_start(struct pp *p)
{
    BENCH_CHECK(sem_post(&p->ns[0]) == 0);
}

int main(void)
{
    fast_rounds = bench_env_long("BENCH_FAST_ROUNDS", 10000000);
    pp_rounds = bench_env_long("BENCH_PINGPONG_ROUNDS", 100000);
    fast("fast");
    futures("");

    struct pp p = {0};
    BENCH_CHECK(green_sem_new(&p.gs[0], 0) == 0);
    BENCH_CHECK(green_sem_new(&p.gs[1], 0) == 0);
    BENCH_CHECK(green_lock_new(&p.gl) == 0);
    BENCH_CHECK(green_cond_new(&p.gc, p.gl) == 0);
    BENCH_CHECK(sem_init(&p.ns[0], 0, 0) == 0);
    BENCH_CHECK(sem_init(&p.ns[1], 0, 0) == 0);
    pthread_mutex_init(&p.nm, NULL);
    pthread_cond_init(&p.nc, NULL);

    pingpong("sem-pingpong-x.libgreen", &p, green_sem_side, green_sem_start);
    pingpong("sem-pingpong-x.pthread", &p, native_sem_side, native_sem_start);
    pingpong("cond-pingpong-x.libgreen", &p, green_cond_side, NULL);
    pingpong("cond-pingpong-x.pthread", &p, native_cond_side, NULL);
    fast("fast-mt");
    futures("-mt");

    BENCH_CHECK(green_cond_free(p.gc) == 0);
    BENCH_CHECK(green_lock_free(p.gl) == 0);
    BENCH_CHECK(green_sem_free(p.gs[0]) == 0);
    BENCH_CHECK(green_sem_free(p.gs[1]) == 0);
    sem_destroy(&p.ns[0]);
    sem_destroy(&p.ns[1]);
    return 0;
}
