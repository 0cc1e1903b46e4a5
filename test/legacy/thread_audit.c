/* SPDX-License-Identifier: MIT */
/* The names of glibc's pthread export list that no other legacy program
 * calls (docs/pthread-audit.md lists them all and where each is tested),
 * one line of outcome per case; differential.sh requires the same bytes
 * natively and under the preload. A ticker thread runs throughout, and a
 * case that waits says whether it went on ticking meanwhile (under the
 * preload every thread is green on one OS thread: a wait that blocked the
 * OS thread would stop the ticker, or hang).
 *
 *   c11     C11 threads (<threads.h>), which glibc builds on its internal
 *           pthread aliases: thrd_create/join/detach/exit/current/equal/
 *           sleep/yield, mtx_* (plain, timed, recursive: trylock
 *           thrd_busy, timedlock thrd_timedout), cnd_* (wait, timedwait
 *           thrd_timedout, signal, broadcast), tss_* (a value per thread,
 *           destructors at the thread's end), call_once with racing
 *           callers; under the preload all of it on one OS thread
 *   attrs   attribute objects read back as set (pthread_attr_*,
 *           mutexattr, rwlockattr, barrierattr, condattr), and objects
 *           made from them used between threads: a writer-preferring
 *           rwlock, a barrier; a priority-protect mutex's ceiling;
 *           setprioceiling EINVAL on a mutex without one
 *   misc    pthread_setconcurrency/getconcurrency, pthread_rwlock_
 *           clockrdlock timing out while a writer sleeps holding it,
 *           __pthread_cleanup_routine, _pthread_cleanup_push/pop (and
 *           the handler run by pthread_exit)
 *   compat  the names only old binaries reach (symbol versions
 *           GLIBC_2.2.5 / 2.4, referred to by version as an old binary's
 *           references are): __pthread_mutex_*, __pthread_rwlock_*,
 *           __pthread_once, __pthread_key_create and __pthread_get/
 *           setspecific, pthread_mutex_consistent_np, pthread_yield,
 *           pthread_kill_other_threads_np
 */
#include "thread_util.h"

#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <threads.h>

static atomic_int ticks, stop_ticker;

static void *ticker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_ticker)) {
        atomic_fetch_add(&ticks, 1);
        tu_nap(2);
    }
    return NULL;
}

static void out(const char *group, const char *name, long v)
{
    printf("%s: %-44s %ld\n", group, name, v);
}

/* A C11 nap of ms milliseconds. */
static void c11_nap(long ms)
{
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    LEGACY_CHECK(thrd_sleep(&d, NULL) == 0);
}

/* --- c11 ------------------------------------------------------------------- */

static mtx_t c_m;
static cnd_t c_cv;
static int c_go, c_inside, c_overlap, c_sum;
static tss_t c_key;
static atomic_int c_dtors, c_once_runs;
static once_flag c_once = ONCE_FLAG_INIT;
static thrd_t c_ids[4];

static void c_dtor(void *v)
{
    atomic_fetch_add(&c_dtors, (int)(intptr_t)v);
}

static void c_init(void)
{
    c11_nap(20); /* the other callers must wait, not run it again */
    atomic_fetch_add(&c_once_runs, 1);
}

static int c_worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    call_once(&c_once, c_init);
    LEGACY_CHECK(tss_get(c_key) == NULL);
    LEGACY_CHECK(tss_set(c_key, (void *)(intptr_t)(i + 1)) == thrd_success);
    LEGACY_CHECK(mtx_lock(&c_m) == thrd_success);
    while (!c_go) {
        LEGACY_CHECK(cnd_wait(&c_cv, &c_m) == thrd_success);
    }
    LEGACY_CHECK(mtx_unlock(&c_m) == thrd_success);
    for (int k = 0; k < 5; k++) {
        LEGACY_CHECK(mtx_lock(&c_m) == thrd_success);
        c_overlap += c_inside++;
        c11_nap(1); /* hold it across a sleep */
        thrd_yield();
        c_inside--;
        c_sum++;
        LEGACY_CHECK(mtx_unlock(&c_m) == thrd_success);
    }
    LEGACY_CHECK(tss_get(c_key) == (void *)(intptr_t)(i + 1));
    if (i == 3) {
        thrd_exit(100 + i); /* as if it returned */
    }
    return 100 + i;
}

static int c_self(void *arg)
{
    thrd_t *me = arg;
    *me = thrd_current();
    return 0;
}

static mtx_t c_held;
static atomic_int c_held_state;

static int c_holder(void *arg)
{
    (void)arg;
    LEGACY_CHECK(mtx_lock(&c_held) == thrd_success);
    atomic_store(&c_held_state, 1);
    while (atomic_load(&c_held_state) == 1) {
        c11_nap(2);
    }
    LEGACY_CHECK(mtx_unlock(&c_held) == thrd_success);
    return 0;
}

static atomic_int c_detached_done;

static int c_detached(void *arg)
{
    (void)arg;
    c11_nap(5);
    atomic_store(&c_detached_done, 1);
    return 0;
}

static atomic_int c_yield_seen;

static int c_yield_peer(void *arg)
{
    (void)arg;
    atomic_store(&c_yield_seen, 1);
    return 0;
}

static void group_c11(void)
{
    LEGACY_CHECK(mtx_init(&c_m, mtx_plain) == thrd_success);
    LEGACY_CHECK(cnd_init(&c_cv) == thrd_success);
    LEGACY_CHECK(tss_create(&c_key, c_dtor) == thrd_success);
    for (int i = 0; i < 4; i++) {
        LEGACY_CHECK(thrd_create(&c_ids[i], c_worker, (void *)(intptr_t)i) ==
                     thrd_success);
    }
    int before = atomic_load(&ticks);
    c11_nap(40);
    /* Every worker now waits in cnd_wait, on one OS thread if green. */
    LEGACY_CHECK_ONE_THREAD();
    out("c11", "the ticker ran while they waited", atomic_load(&ticks) > before);
    LEGACY_CHECK(mtx_lock(&c_m) == thrd_success);
    c_go = 1;
    LEGACY_CHECK(cnd_broadcast(&c_cv) == thrd_success);
    LEGACY_CHECK(mtx_unlock(&c_m) == thrd_success);
    int results = 0;
    for (int i = 0; i < 4; i++) {
        int r = -1;
        LEGACY_CHECK(thrd_join(c_ids[i], &r) == thrd_success);
        results += r == 100 + i;
    }
    out("c11", "thrd_join results (of 4, one by thrd_exit)", results);
    out("c11", "call_once ran its function", atomic_load(&c_once_runs));
    out("c11", "mutex held by one at a time", c_overlap == 0 && c_sum == 20);
    out("c11", "tss destructors' sum (1+2+3+4)", atomic_load(&c_dtors));
    tss_delete(c_key);

    thrd_t t, seen;
    LEGACY_CHECK(thrd_create(&t, c_self, &seen) == thrd_success);
    LEGACY_CHECK(thrd_join(t, NULL) == thrd_success);
    out("c11", "thrd_current in the thread is its thrd_t", thrd_equal(t, seen) != 0);
    out("c11", "thrd_equal(main's, the thread's)",
        thrd_equal(thrd_current(), seen) != 0);

    /* trylock and timedlock against a holder that sleeps */
    LEGACY_CHECK(mtx_init(&c_held, mtx_timed) == thrd_success);
    LEGACY_CHECK(thrd_create(&t, c_holder, NULL) == thrd_success);
    while (atomic_load(&c_held_state) == 0) {
        c11_nap(1);
    }
    out("c11", "mtx_trylock on a held mutex is thrd_busy",
        mtx_trylock(&c_held) == thrd_busy);
    before = atomic_load(&ticks);
    struct timespec abs = tu_deadline(CLOCK_REALTIME, 30);
    out("c11", "mtx_timedlock on it is thrd_timedout",
        mtx_timedlock(&c_held, &abs) == thrd_timedout);
    out("c11", "the ticker ran during mtx_timedlock", atomic_load(&ticks) > before);
    atomic_store(&c_held_state, 2);
    abs = tu_deadline(CLOCK_REALTIME, 5000);
    out("c11", "mtx_timedlock gets it when released",
        mtx_timedlock(&c_held, &abs) == thrd_success);
    LEGACY_CHECK(mtx_unlock(&c_held) == thrd_success);
    LEGACY_CHECK(thrd_join(t, NULL) == thrd_success);
    mtx_destroy(&c_held);

    /* recursive */
    mtx_t rec;
    LEGACY_CHECK(mtx_init(&rec, mtx_plain | mtx_recursive) == thrd_success);
    bool ok = mtx_lock(&rec) == thrd_success && mtx_trylock(&rec) == thrd_success &&
              mtx_lock(&rec) == thrd_success;
    ok = ok && mtx_unlock(&rec) == thrd_success && mtx_unlock(&rec) == thrd_success &&
         mtx_unlock(&rec) == thrd_success;
    out("c11", "mtx_recursive held three deep", ok);
    mtx_destroy(&rec);

    /* cnd_timedwait with nobody signalling */
    before = atomic_load(&ticks);
    LEGACY_CHECK(mtx_lock(&c_m) == thrd_success);
    abs = tu_deadline(CLOCK_REALTIME, 30);
    out("c11", "cnd_timedwait unsignalled is thrd_timedout",
        cnd_timedwait(&c_cv, &c_m, &abs) == thrd_timedout);
    out("c11", "and holds the mutex again", mtx_trylock(&c_m) == thrd_busy);
    LEGACY_CHECK(mtx_unlock(&c_m) == thrd_success);
    out("c11", "the ticker ran during cnd_timedwait", atomic_load(&ticks) > before);
    LEGACY_CHECK(cnd_signal(&c_cv) == thrd_success); /* nobody waits: fine */
    cnd_destroy(&c_cv);
    mtx_destroy(&c_m);

    /* detach, sleep, yield */
    LEGACY_CHECK(thrd_create(&t, c_detached, NULL) == thrd_success);
    out("c11", "thrd_detach", thrd_detach(t) == thrd_success);
    while (!atomic_load(&c_detached_done)) {
        c11_nap(1);
    }
    out("c11", "the detached thread ran", 1);
    struct timespec bad = {0, 2000000000L};
    out("c11", "thrd_sleep with a bad timespec is -2", thrd_sleep(&bad, NULL));
    LEGACY_CHECK(thrd_create(&t, c_yield_peer, NULL) == thrd_success);
    int spins = 0;
    while (!atomic_load(&c_yield_seen) && spins < 1000000) {
        thrd_yield(); /* a green thread runs others only if this yields */
        spins++;
    }
    out("c11", "thrd_yield let a ready thread run", atomic_load(&c_yield_seen));
    LEGACY_CHECK(thrd_join(t, NULL) == thrd_success);
}

/* --- attrs ------------------------------------------------------------------ */

static pthread_rwlock_t a_rw;
static pthread_barrier_t a_bar;
static atomic_int a_order, a_writer_at, a_reader_at, a_passed;

static void *a_writer(void *arg)
{
    (void)arg;
    LEGACY_CHECK(pthread_rwlock_wrlock(&a_rw) == 0);
    atomic_store(&a_writer_at, atomic_fetch_add(&a_order, 1) + 1);
    LEGACY_CHECK(pthread_rwlock_unlock(&a_rw) == 0);
    return NULL;
}

static void *a_reader(void *arg)
{
    (void)arg;
    LEGACY_CHECK(pthread_rwlock_rdlock(&a_rw) == 0);
    atomic_store(&a_reader_at, atomic_fetch_add(&a_order, 1) + 1);
    LEGACY_CHECK(pthread_rwlock_unlock(&a_rw) == 0);
    return NULL;
}

static void *a_barrier(void *arg)
{
    (void)arg;
    tu_nap(5);
    int r = pthread_barrier_wait(&a_bar);
    LEGACY_CHECK(r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD);
    atomic_fetch_add(&a_passed, 1);
    return NULL;
}

static void group_attrs(void)
{
    pthread_attr_t a;
    LEGACY_CHECK(pthread_attr_init(&a) == 0);
    int v = -1;
    LEGACY_CHECK(pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED) == 0);
    pthread_attr_getinheritsched(&a, &v);
    out("attrs", "inheritsched", v == PTHREAD_EXPLICIT_SCHED);
    LEGACY_CHECK(pthread_attr_setschedpolicy(&a, SCHED_RR) == 0);
    pthread_attr_getschedpolicy(&a, &v);
    out("attrs", "schedpolicy", v == SCHED_RR);
    int rr = sched_get_priority_min(SCHED_RR);
    struct sched_param sp = {rr}, sp2 = {-1};
    LEGACY_CHECK(pthread_attr_setschedparam(&a, &sp) == 0);
    pthread_attr_getschedparam(&a, &sp2);
    out("attrs", "schedparam", sp2.sched_priority == rr);
    out("attrs", "setscope PROCESS is ENOTSUP",
        pthread_attr_setscope(&a, PTHREAD_SCOPE_PROCESS) == ENOTSUP);
    pthread_attr_getscope(&a, &v);
    out("attrs", "scope", v == PTHREAD_SCOPE_SYSTEM);
    cpu_set_t cs, cs2;
    CPU_ZERO(&cs);
    CPU_SET(0, &cs);
    CPU_ZERO(&cs2);
    LEGACY_CHECK(pthread_attr_setaffinity_np(&a, sizeof(cs), &cs) == 0);
    pthread_attr_getaffinity_np(&a, sizeof(cs2), &cs2);
    out("attrs", "affinity_np", CPU_EQUAL(&cs, &cs2));
    sigset_t ss, ss2;
    sigemptyset(&ss);
    sigaddset(&ss, SIGUSR2);
    sigemptyset(&ss2);
    LEGACY_CHECK(pthread_attr_setsigmask_np(&a, &ss) == 0);
    out("attrs", "sigmask_np", pthread_attr_getsigmask_np(&a, &ss2) == 0 &&
                                   sigismember(&ss2, SIGUSR2) == 1);
    LEGACY_CHECK(pthread_attr_destroy(&a) == 0);

    pthread_mutexattr_t ma;
    LEGACY_CHECK(pthread_mutexattr_init(&ma) == 0);
    pthread_mutexattr_gettype(&ma, &v);
    out("attrs", "mutexattr default type", v == PTHREAD_MUTEX_DEFAULT);
    LEGACY_CHECK(pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK) == 0);
    pthread_mutexattr_gettype(&ma, &v);
    out("attrs", "mutexattr type", v == PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutexattr_getpshared(&ma, &v);
    out("attrs", "mutexattr pshared", v == PTHREAD_PROCESS_PRIVATE);
    pthread_mutexattr_getrobust(&ma, &v);
    out("attrs", "mutexattr robust", v == PTHREAD_MUTEX_STALLED);
    LEGACY_CHECK(pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_PROTECT) == 0);
    pthread_mutexattr_getprotocol(&ma, &v);
    out("attrs", "mutexattr protocol", v == PTHREAD_PRIO_PROTECT);
    int prio = sched_get_priority_min(SCHED_FIFO);
    LEGACY_CHECK(pthread_mutexattr_setprioceiling(&ma, prio) == 0);
    pthread_mutexattr_getprioceiling(&ma, &v);
    out("attrs", "mutexattr prioceiling", v == prio);
    pthread_mutex_t pp;
    LEGACY_CHECK(pthread_mutex_init(&pp, &ma) == 0);
    /* (pthread_mutex_getprioceiling on it reads 0 under the preload:
     * docs/pthread-audit.md) */
    LEGACY_CHECK(pthread_mutex_destroy(&pp) == 0);
    LEGACY_CHECK(pthread_mutexattr_destroy(&ma) == 0);
    pthread_mutex_t plain = PTHREAD_MUTEX_INITIALIZER;
    out("attrs", "setprioceiling without a ceiling is EINVAL",
        pthread_mutex_setprioceiling(&plain, prio, &v) == EINVAL);

    pthread_rwlockattr_t ra;
    LEGACY_CHECK(pthread_rwlockattr_init(&ra) == 0);
    LEGACY_CHECK(pthread_rwlockattr_setkind_np(
                     &ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP) == 0);
    pthread_rwlockattr_getkind_np(&ra, &v);
    out("attrs", "rwlockattr kind_np",
        v == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    LEGACY_CHECK(pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_PRIVATE) == 0);
    pthread_rwlockattr_getpshared(&ra, &v);
    out("attrs", "rwlockattr pshared", v == PTHREAD_PROCESS_PRIVATE);
    LEGACY_CHECK(pthread_rwlock_init(&a_rw, &ra) == 0);
    LEGACY_CHECK(pthread_rwlockattr_destroy(&ra) == 0);
    /* A reader holds it; a writer queues; a later reader must wait for
     * the writer (writer preferred), not join the first reader. */
    LEGACY_CHECK(pthread_rwlock_rdlock(&a_rw) == 0);
    pthread_t w, r;
    LEGACY_CHECK(pthread_create(&w, NULL, a_writer, NULL) == 0);
    tu_nap(20);
    LEGACY_CHECK(pthread_create(&r, NULL, a_reader, NULL) == 0);
    tu_nap(20);
    out("attrs", "writer-preferring: neither got in yet", atomic_load(&a_order) == 0);
    LEGACY_CHECK(pthread_rwlock_unlock(&a_rw) == 0);
    LEGACY_CHECK(pthread_join(w, NULL) == 0);
    LEGACY_CHECK(pthread_join(r, NULL) == 0);
    out("attrs", "writer-preferring: the writer first",
        atomic_load(&a_writer_at) == 1 && atomic_load(&a_reader_at) == 2);
    LEGACY_CHECK(pthread_rwlock_destroy(&a_rw) == 0);

    pthread_barrierattr_t ba;
    LEGACY_CHECK(pthread_barrierattr_init(&ba) == 0);
    LEGACY_CHECK(pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_PRIVATE) == 0);
    pthread_barrierattr_getpshared(&ba, &v);
    out("attrs", "barrierattr pshared", v == PTHREAD_PROCESS_PRIVATE);
    out("attrs", "barrierattr bad pshared is EINVAL",
        pthread_barrierattr_setpshared(&ba, 7) == EINVAL);
    LEGACY_CHECK(pthread_barrier_init(&a_bar, &ba, 4) == 0);
    LEGACY_CHECK(pthread_barrierattr_destroy(&ba) == 0);
    pthread_t bt[3];
    for (int i = 0; i < 3; i++) {
        LEGACY_CHECK(pthread_create(&bt[i], NULL, a_barrier, NULL) == 0);
    }
    int before = atomic_load(&ticks);
    int rb = pthread_barrier_wait(&a_bar);
    LEGACY_CHECK(rb == 0 || rb == PTHREAD_BARRIER_SERIAL_THREAD);
    for (int i = 0; i < 3; i++) {
        LEGACY_CHECK(pthread_join(bt[i], NULL) == 0);
    }
    out("attrs", "barrier from the attr: all passed", atomic_load(&a_passed));
    out("attrs", "the ticker ran at the barrier", atomic_load(&ticks) > before);
    LEGACY_CHECK(pthread_barrier_destroy(&a_bar) == 0);

    pthread_condattr_t ca;
    LEGACY_CHECK(pthread_condattr_init(&ca) == 0);
    clockid_t clk = -1;
    pthread_condattr_getclock(&ca, &clk);
    out("attrs", "condattr default clock", clk == CLOCK_REALTIME);
    LEGACY_CHECK(pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0);
    pthread_condattr_getclock(&ca, &clk);
    out("attrs", "condattr clock", clk == CLOCK_MONOTONIC);
    pthread_condattr_getpshared(&ca, &v);
    out("attrs", "condattr pshared", v == PTHREAD_PROCESS_PRIVATE);
    LEGACY_CHECK(pthread_condattr_destroy(&ca) == 0);
}

/* --- misc ------------------------------------------------------------------- */

static pthread_rwlock_t m_rw = PTHREAD_RWLOCK_INITIALIZER;
static atomic_int m_state;

static void *m_writer(void *arg)
{
    (void)arg;
    LEGACY_CHECK(pthread_rwlock_wrlock(&m_rw) == 0);
    atomic_store(&m_state, 1);
    while (atomic_load(&m_state) == 1) {
        tu_nap(2);
    }
    LEGACY_CHECK(pthread_rwlock_unlock(&m_rw) == 0);
    return NULL;
}

extern void _pthread_cleanup_push(struct _pthread_cleanup_buffer *buf,
                                  void (*fn)(void *), void *arg);
extern void _pthread_cleanup_pop(struct _pthread_cleanup_buffer *buf,
                                 int execute);

/* Declared by <pthread.h> only for C compiled with -fexceptions. */
extern void __pthread_cleanup_routine(struct __pthread_cleanup_frame *frame);

static int m_cleaned;

static void m_cleanup(void *arg)
{
    m_cleaned += (int)(intptr_t)arg;
}

static void *m_exit_with_old_cleanup(void *arg)
{
    (void)arg;
    struct _pthread_cleanup_buffer b;
    _pthread_cleanup_push(&b, m_cleanup, (void *)(intptr_t)1000);
    pthread_exit(NULL); /* runs the handler, as glibc's unwinding does */
}

static void group_misc(void)
{
    int c0 = pthread_getconcurrency();
    out("misc", "getconcurrency at first", c0);
    LEGACY_CHECK(pthread_setconcurrency(3) == 0);
    out("misc", "getconcurrency after set 3", pthread_getconcurrency());
    out("misc", "setconcurrency -1 is EINVAL", pthread_setconcurrency(-1) == EINVAL);
    LEGACY_CHECK(pthread_setconcurrency(0) == 0);

    pthread_t w;
    LEGACY_CHECK(pthread_create(&w, NULL, m_writer, NULL) == 0);
    while (atomic_load(&m_state) == 0) {
        tu_nap(1);
    }
    int before = atomic_load(&ticks);
    struct timespec abs = tu_deadline(CLOCK_MONOTONIC, 30);
    out("misc", "rwlock_clockrdlock MONOTONIC is ETIMEDOUT",
        pthread_rwlock_clockrdlock(&m_rw, CLOCK_MONOTONIC, &abs) == ETIMEDOUT);
    out("misc", "the ticker ran meanwhile", atomic_load(&ticks) > before);
    abs = tu_deadline(CLOCK_REALTIME, 30);
    out("misc", "rwlock_clockwrlock REALTIME is ETIMEDOUT",
        pthread_rwlock_clockwrlock(&m_rw, CLOCK_REALTIME, &abs) == ETIMEDOUT);
    out("misc", "rwlock_clockrdlock bad clock is EINVAL",
        pthread_rwlock_clockrdlock(&m_rw, CLOCK_PROCESS_CPUTIME_ID, &abs) == EINVAL);
    atomic_store(&m_state, 2);
    abs = tu_deadline(CLOCK_MONOTONIC, 5000);
    out("misc", "rwlock_clockrdlock when released",
        pthread_rwlock_clockrdlock(&m_rw, CLOCK_MONOTONIC, &abs) == 0);
    LEGACY_CHECK(pthread_rwlock_unlock(&m_rw) == 0);
    LEGACY_CHECK(pthread_join(w, NULL) == 0);

    struct __pthread_cleanup_frame f = {m_cleanup, (void *)(intptr_t)1, 1, 0};
    __pthread_cleanup_routine(&f);
    f.__do_it = 0;
    __pthread_cleanup_routine(&f);
    out("misc", "__pthread_cleanup_routine ran once", m_cleaned);
    struct _pthread_cleanup_buffer b;
    _pthread_cleanup_push(&b, m_cleanup, (void *)(intptr_t)10);
    _pthread_cleanup_pop(&b, 1);
    _pthread_cleanup_push(&b, m_cleanup, (void *)(intptr_t)100);
    _pthread_cleanup_pop(&b, 0);
    out("misc", "_pthread_cleanup_pop(1) ran it, (0) did not", m_cleaned);
    pthread_t e;
    LEGACY_CHECK(pthread_create(&e, NULL, m_exit_with_old_cleanup, NULL) == 0);
    LEGACY_CHECK(pthread_join(e, NULL) == 0);
    out("misc", "_pthread_cleanup_push ran at pthread_exit", m_cleaned);
}

/* --- compat ----------------------------------------------------------------- */

typedef int (*mutex_fn)(pthread_mutex_t *);
typedef int (*rw_fn)(pthread_rwlock_t *);

/* References bound to an old symbol version, as an old binary's are:
 * old_X is X@version (the assembler's .symver). The oldest versions are
 * the architecture's first: x86-64's 2.2.5 (2.4 for the robust-mutex
 * names), aarch64's 2.17 for all. */
#if defined(__aarch64__)
# define V_BASE "GLIBC_2.17"
# define V_ROBUST "GLIBC_2.17"
#else
# define V_BASE "GLIBC_2.2.5"
# define V_ROBUST "GLIBC_2.4"
#endif
#define OLD(ret, name, version, params)                                  \
    ret old_##name params;                                               \
    __asm__(".symver old_" #name "," #name "@" version)
OLD(int, __pthread_mutex_init, V_BASE,
    (pthread_mutex_t *, const pthread_mutexattr_t *));
OLD(int, __pthread_mutex_destroy, V_BASE, (pthread_mutex_t *));
OLD(int, __pthread_mutex_lock, V_BASE, (pthread_mutex_t *));
OLD(int, __pthread_mutex_trylock, V_BASE, (pthread_mutex_t *));
OLD(int, __pthread_mutex_unlock, V_BASE, (pthread_mutex_t *));
OLD(int, __pthread_mutexattr_init, V_BASE, (pthread_mutexattr_t *));
OLD(int, __pthread_mutexattr_settype, V_BASE,
    (pthread_mutexattr_t *, int));
OLD(int, __pthread_mutexattr_destroy, V_BASE, (pthread_mutexattr_t *));
OLD(int, __pthread_rwlock_init, V_BASE,
    (pthread_rwlock_t *, const pthread_rwlockattr_t *));
OLD(int, __pthread_rwlock_destroy, V_BASE, (pthread_rwlock_t *));
OLD(int, __pthread_rwlock_rdlock, V_BASE, (pthread_rwlock_t *));
OLD(int, __pthread_rwlock_wrlock, V_BASE, (pthread_rwlock_t *));
OLD(int, __pthread_rwlock_unlock, V_BASE, (pthread_rwlock_t *));
OLD(int, __pthread_rwlock_tryrdlock, V_BASE, (pthread_rwlock_t *));
OLD(int, __pthread_rwlock_trywrlock, V_BASE, (pthread_rwlock_t *));
OLD(int, __pthread_once, V_BASE, (pthread_once_t *, void (*)(void)));
OLD(int, __pthread_key_create, V_BASE,
    (pthread_key_t *, void (*)(void *)));
OLD(int, __pthread_setspecific, V_BASE, (pthread_key_t, const void *));
OLD(void *, __pthread_getspecific, V_BASE, (pthread_key_t));
OLD(int, pthread_mutex_consistent_np, V_ROBUST, (pthread_mutex_t *));
OLD(int, pthread_yield, V_BASE, (void));
OLD(void, pthread_kill_other_threads_np, V_BASE, (void));

static mutex_fn o_lock, o_unlock, o_trylock;
static rw_fn o_rdlock, o_wrlock, o_rwunlock, o_tryrdlock, o_trywrlock;
static pthread_mutex_t o_m;
static pthread_rwlock_t o_rw;
static int o_inside, o_overlap, o_sum, o_writers, o_shared;
static pthread_once_t o_once = PTHREAD_ONCE_INIT;
static int o_once_runs;
static pthread_key_t o_key;
static int (*o_once_fn)(pthread_once_t *, void (*)(void));
static int (*o_setspecific)(pthread_key_t, const void *);
static void *(*o_getspecific)(pthread_key_t);
static atomic_int o_dtors;

static void o_init(void)
{
    tu_nap(10);
    o_once_runs++;
}

static void o_dtor(void *v)
{
    atomic_fetch_add(&o_dtors, (int)(intptr_t)v);
}

static void *o_worker(void *arg)
{
    int i = (int)(intptr_t)arg;
    LEGACY_CHECK(o_once_fn(&o_once, o_init) == 0);
    LEGACY_CHECK(o_setspecific(o_key, (void *)(intptr_t)(i + 1)) == 0);
    for (int k = 0; k < 5; k++) {
        LEGACY_CHECK(o_lock(&o_m) == 0);
        o_overlap += o_inside++;
        tu_nap(1);
        o_inside--;
        o_sum++;
        LEGACY_CHECK(o_unlock(&o_m) == 0);
        LEGACY_CHECK(o_wrlock(&o_rw) == 0);
        o_overlap += o_writers++;
        tu_nap(1);
        o_writers--;
        LEGACY_CHECK(o_rwunlock(&o_rw) == 0);
    }
    LEGACY_CHECK(o_getspecific(o_key) == (void *)(intptr_t)(i + 1));
    return NULL;
}

/* Main holds a read lock: another reader gets in, a writer does not. */
static void *o_reader(void *arg)
{
    (void)arg;
    o_shared = o_trywrlock(&o_rw) == EBUSY && o_rdlock(&o_rw) == 0;
    LEGACY_CHECK(o_rwunlock(&o_rw) == 0);
    return NULL;
}

static pthread_mutex_t o_robust;

static void *o_die_holding(void *arg)
{
    (void)arg;
    LEGACY_CHECK(pthread_mutex_lock(&o_robust) == 0);
    return NULL;
}

static atomic_int o_yield_seen;

static void *o_yield_peer(void *arg)
{
    (void)arg;
    atomic_store(&o_yield_seen, 1);
    return NULL;
}

static void group_compat(void)
{
    int (*o_init_m)(pthread_mutex_t *, const pthread_mutexattr_t *) =
        old___pthread_mutex_init;
    int (*o_init_rw)(pthread_rwlock_t *, const pthread_rwlockattr_t *) =
        old___pthread_rwlock_init;
    int (*o_key_create)(pthread_key_t *, void (*)(void *)) =
        old___pthread_key_create;
    mutex_fn o_destroy = old___pthread_mutex_destroy;
    rw_fn o_rwdestroy = old___pthread_rwlock_destroy;
    int (*o_attr_init)(pthread_mutexattr_t *) = old___pthread_mutexattr_init;
    int (*o_attr_settype)(pthread_mutexattr_t *, int) =
        old___pthread_mutexattr_settype;
    int (*o_attr_destroy)(pthread_mutexattr_t *) =
        old___pthread_mutexattr_destroy;
    o_lock = old___pthread_mutex_lock;
    o_unlock = old___pthread_mutex_unlock;
    o_trylock = old___pthread_mutex_trylock;
    o_rdlock = old___pthread_rwlock_rdlock;
    o_wrlock = old___pthread_rwlock_wrlock;
    o_rwunlock = old___pthread_rwlock_unlock;
    o_tryrdlock = old___pthread_rwlock_tryrdlock;
    o_trywrlock = old___pthread_rwlock_trywrlock;
    o_once_fn = old___pthread_once;
    o_setspecific = old___pthread_setspecific;
    o_getspecific = old___pthread_getspecific;

    pthread_mutexattr_t ma;
    LEGACY_CHECK(o_attr_init(&ma) == 0);
    LEGACY_CHECK(o_attr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK) == 0);
    LEGACY_CHECK(o_init_m(&o_m, &ma) == 0);
    LEGACY_CHECK(o_attr_destroy(&ma) == 0);
    LEGACY_CHECK(o_init_rw(&o_rw, NULL) == 0);
    LEGACY_CHECK(o_key_create(&o_key, o_dtor) == 0);

    LEGACY_CHECK(o_lock(&o_m) == 0);
    out("compat", "__pthread_mutex_trylock held is EBUSY", o_trylock(&o_m) == EBUSY);
    out("compat", "errorcheck relock is EDEADLK", o_lock(&o_m) == EDEADLK);
    LEGACY_CHECK(o_unlock(&o_m) == 0);
    LEGACY_CHECK(o_wrlock(&o_rw) == 0);
    out("compat", "__pthread_rwlock_tryrdlock on a writer EBUSY",
        o_tryrdlock(&o_rw) == EBUSY);
    LEGACY_CHECK(o_rwunlock(&o_rw) == 0);

    pthread_t t[4];
    int before = atomic_load(&ticks);
    for (int i = 0; i < 4; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, o_worker, (void *)(intptr_t)i) == 0);
    }
    for (int i = 0; i < 4; i++) {
        LEGACY_CHECK(pthread_join(t[i], NULL) == 0);
    }
    out("compat", "__pthread_mutex_lock held by one at a time",
        o_overlap == 0 && o_sum == 20);
    out("compat", "__pthread_rwlock_wrlock held by one at a time", o_overlap == 0);
    LEGACY_CHECK(o_rdlock(&o_rw) == 0);
    LEGACY_CHECK(pthread_create(&t[0], NULL, o_reader, NULL) == 0);
    LEGACY_CHECK(pthread_join(t[0], NULL) == 0);
    LEGACY_CHECK(o_rwunlock(&o_rw) == 0);
    out("compat", "__pthread_rwlock_rdlock shared by two readers", o_shared);
    out("compat", "__pthread_once ran its function", o_once_runs);
    out("compat", "__pthread_key_create destructors' sum", atomic_load(&o_dtors));
    out("compat", "the ticker ran meanwhile", atomic_load(&ticks) > before);
    out("compat", "__pthread_rwlock_trywrlock free", o_trywrlock(&o_rw) == 0);
    LEGACY_CHECK(o_rwunlock(&o_rw) == 0);
    LEGACY_CHECK(o_destroy(&o_m) == 0);
    LEGACY_CHECK(o_rwdestroy(&o_rw) == 0);
    LEGACY_CHECK(pthread_key_delete(o_key) == 0);

    /* pthread_mutex_consistent_np (GLIBC_2.4) on a dead owner's mutex */
    int (*o_consistent)(pthread_mutex_t *) =
        old_pthread_mutex_consistent_np;
    LEGACY_CHECK(pthread_mutexattr_init(&ma) == 0);
    LEGACY_CHECK(pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) == 0);
    LEGACY_CHECK(pthread_mutex_init(&o_robust, &ma) == 0);
    LEGACY_CHECK(pthread_mutexattr_destroy(&ma) == 0);
    pthread_t d;
    LEGACY_CHECK(pthread_create(&d, NULL, o_die_holding, NULL) == 0);
    LEGACY_CHECK(pthread_join(d, NULL) == 0);
    out("compat", "robust, owner gone: EOWNERDEAD",
        pthread_mutex_lock(&o_robust) == EOWNERDEAD);
    out("compat", "pthread_mutex_consistent_np", o_consistent(&o_robust) == 0);
    out("compat", "then unlock", pthread_mutex_unlock(&o_robust) == 0);
    out("compat", "and lock again", pthread_mutex_lock(&o_robust) == 0);
    LEGACY_CHECK(pthread_mutex_unlock(&o_robust) == 0);

    int (*o_yield)(void) = old_pthread_yield;
    void (*o_kill_others)(void) = old_pthread_kill_other_threads_np;
    LEGACY_CHECK(pthread_create(&d, NULL, o_yield_peer, NULL) == 0);
    int spins = 0;
    while (!atomic_load(&o_yield_seen) && spins < 1000000) {
        LEGACY_CHECK(o_yield() == 0);
        spins++;
    }
    out("compat", "pthread_yield let a ready thread run", atomic_load(&o_yield_seen));
    LEGACY_CHECK(pthread_join(d, NULL) == 0);
    o_kill_others(); /* a no-op in glibc since LinuxThreads */
    before = atomic_load(&ticks);
    tu_nap(20);
    out("compat", "pthread_kill_other_threads_np: the ticker lives",
        atomic_load(&ticks) > before);
}

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"c11", group_c11},
    {"attrs", group_attrs},
    {"misc", group_misc},
    {"compat", group_compat},
};

/* No argument: every group; "list": their names; a name: that group. */
int main(int argc, char **argv)
{
    size_t n = sizeof(groups) / sizeof(groups[0]);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    pthread_t tick;
    LEGACY_CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0);
    for (size_t i = 0; i < n; i++) {
        if (argc < 2 || strcmp(argv[1], groups[i].name) == 0) {
            groups[i].run();
            fflush(stdout);
        }
    }
    atomic_store(&stop_ticker, 1);
    LEGACY_CHECK(pthread_join(tick, NULL) == 0);
    LEGACY_CHECK_ONE_THREAD();
    return 0;
}
