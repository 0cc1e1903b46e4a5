/* SPDX-License-Identifier: MIT */
/* Robust and process-shared objects, one line of outcome per case;
 * differential.sh requires the same bytes natively and under the
 * preload. A ticker thread runs throughout, and a case that waits says
 * whether it went on ticking meanwhile (under the preload every thread
 * is green on one OS thread: a wait that blocked the OS thread would
 * stop the ticker, or hang).
 *
 *   robust     a robust mutex whose owner thread ends holding it (by
 *              returning, by pthread_exit, cancelled in a sleep): the
 *              next locker gets EOWNERDEAD, also one already waiting for
 *              it; pthread_mutex_consistent makes it usable; a recursive
 *              robust mutex held twice; trylock of a dead owner's too
 *   norecover  EOWNERDEAD then unlock without consistent: the mutex is
 *              ENOTRECOVERABLE to lock, trylock and timedlock, a waiter
 *              woken too; consistent on a healthy or a non-robust mutex
 *              is EINVAL; unlock by a thread that does not hold it EPERM
 *   robustproc a forked child locks a robust process-shared mutex in a
 *              MAP_SHARED mapping and dies holding it: the parent,
 *              waiting meanwhile, gets EOWNERDEAD; and again with the
 *              parent locking only after the child is gone
 *   mutex      a process-shared mutex between threads: 50 threads add
 *              under it; a holder that sleeps does not stop the others;
 *              timedlock times out (ETIMEDOUT) on a held one and says
 *              EINVAL for a bad tv_nsec
 *   recursive  a process-shared recursive mutex held 3 deep excludes a
 *              second thread (trylock EBUSY, lock waits until the last
 *              unlock); robust recursive the same
 *   errcheck   process-shared error-checking: relock EDEADLK, trylock
 *              EBUSY, unlock by another thread or when free EPERM;
 *              robust error-checking: relock and trylock EDEADLK
 *   mutexproc  parent and child add under one process-shared mutex in a
 *              MAP_SHARED mapping, each holding it across a sleep: every
 *              addition counted
 *   cond       a process-shared condition variable with a process-shared
 *              mutex between threads: a waiter woken by a signal, 30
 *              waiters by a broadcast, a queue of 200 items between 4
 *              producers and 4 consumers; timedwait ETIMEDOUT (the mutex
 *              held again after), EINVAL for a bad tv_nsec, EPERM with an
 *              error-checking mutex not held; with a private mutex too
 *   condproc   parent and child hand a counter back and forth 50 times
 *              through a process-shared mutex and condition variable in a
 *              MAP_SHARED mapping
 *   seminit    sem_init(s, 1, n) between threads (a wait woken by a post,
 *              trywait EAGAIN, timedwait ETIMEDOUT and EINVAL, getvalue,
 *              50 waiters and 50 posts) and between processes (ping-pong)
 *   semopen    sem_open/sem_unlink: a named semaphore between threads and
 *              with a child that opens it by name; O_EXCL is EEXIST, a
 *              missing name ENOENT, a value past SEM_VALUE_MAX EINVAL
 *   spin       pthread_spin_lock against a holder that sleeps: it gets the
 *              lock after the sleep, and the ticker ran meanwhile
 */
#include "thread_util.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int ticks, stop_ticker;

static void *ticker(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_ticker)) {
        tu_nap(2);
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}

/* Whether the ticker ticked since the count was `since`: waits a little
 * for it, so a fast case does not depend on timing. */
static int ticked(int since)
{
    for (int i = 0; i < 200 && atomic_load(&ticks) == since; i++) {
        usleep(1000);
    }
    return atomic_load(&ticks) != since;
}

static void *shared_page(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    LEGACY_CHECK(p != MAP_FAILED);
    memset(p, 0, size);
    return p;
}

static void mutex_make(pthread_mutex_t *m, int type, bool pshared,
                       bool robust)
{
    pthread_mutexattr_t a;
    LEGACY_CHECK(pthread_mutexattr_init(&a) == 0);
    LEGACY_CHECK(pthread_mutexattr_settype(&a, type) == 0);
    if (pshared) {
        LEGACY_CHECK(pthread_mutexattr_setpshared(&a,
                                                  PTHREAD_PROCESS_SHARED) == 0);
    }
    if (robust) {
        LEGACY_CHECK(pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) ==
                     0);
    }
    LEGACY_CHECK(pthread_mutex_init(m, &a) == 0);
    pthread_mutexattr_destroy(&a);
}

static const char *err(int e)
{
    switch (e) {
    case 0: return "0";
    case EOWNERDEAD: return "EOWNERDEAD";
    case ENOTRECOVERABLE: return "ENOTRECOVERABLE";
    case EBUSY: return "EBUSY";
    case EDEADLK: return "EDEADLK";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EAGAIN: return "EAGAIN";
    case EEXIST: return "EEXIST";
    case ENOENT: return "ENOENT";
    default: return "other";
    }
}

/* --- robust ---------------------------------------------------------------- */

static pthread_mutex_t *rm;
static sem_t held;

static void *hold_and_return(void *arg)
{
    LEGACY_CHECK(pthread_mutex_lock(rm) == 0);
    if (arg != NULL) {
        LEGACY_CHECK(pthread_mutex_lock(rm) == 0); /* recursive: twice */
    }
    sem_post(&held);
    tu_nap(30);
    return NULL;
}

static void *hold_and_exit(void *arg)
{
    (void)arg;
    LEGACY_CHECK(pthread_mutex_lock(rm) == 0);
    sem_post(&held);
    tu_nap(30);
    pthread_exit(NULL);
}

static void *hold_and_sleep(void *arg)
{
    (void)arg;
    LEGACY_CHECK(pthread_mutex_lock(rm) == 0);
    sem_post(&held);
    for (;;) {
        sleep(10);
    }
    return NULL;
}

/* Locks rm and says how it went; leaves it as it found it. */
static void *lock_reporter(void *arg)
{
    (void)arg;
    int r = pthread_mutex_lock(rm);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(rm);
    }
    if (r == 0 || r == EOWNERDEAD) {
        pthread_mutex_unlock(rm);
    }
    return (void *)(long)r;
}

/* Locks rm and ends holding it. */
static void *lock_and_end(void *arg)
{
    (void)arg;
    return (void *)(long)pthread_mutex_lock(rm);
}

/* Starts fn holding rm; then main locks (waiting while it holds). */
static void robust_case(const char *name, void *(*fn)(void *), int type,
                        bool cancel)
{
    pthread_mutex_t m;
    mutex_make(&m, type, false, true);
    rm = &m;
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, fn,
                                type == PTHREAD_MUTEX_RECURSIVE ? &m : NULL) ==
                 0);
    sem_wait(&held);
    int since = atomic_load(&ticks);
    if (cancel) {
        tu_nap(20);
        LEGACY_CHECK(pthread_cancel(t) == 0);
    }
    int r = pthread_mutex_lock(&m);
    int tk = ticked(since);
    int c = pthread_mutex_consistent(&m);
    int again = pthread_mutex_consistent(&m);
    int u = pthread_mutex_unlock(&m);
    int l = pthread_mutex_lock(&m);
    int u2 = pthread_mutex_unlock(&m);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    printf("robust %s: lock %s ticked %d consistent %s again %s unlock %s "
           "relock %s unlock %s\n",
           name, err(r), tk, err(c), err(again), err(u), err(l), err(u2));
    LEGACY_CHECK(pthread_mutex_destroy(&m) == 0);
}

static void robusts(void)
{
    robust_case("return", hold_and_return, PTHREAD_MUTEX_NORMAL, false);
    robust_case("exit", hold_and_exit, PTHREAD_MUTEX_NORMAL, false);
    robust_case("cancelled", hold_and_sleep, PTHREAD_MUTEX_NORMAL, true);
    robust_case("recursive", hold_and_return, PTHREAD_MUTEX_RECURSIVE, false);
    robust_case("errorcheck", hold_and_return, PTHREAD_MUTEX_ERRORCHECK,
                false);

    /* A waiter that is already waiting when the owner ends. */
    pthread_mutex_t m;
    mutex_make(&m, PTHREAD_MUTEX_NORMAL, false, true);
    rm = &m;
    pthread_t owner, waiter;
    LEGACY_CHECK(pthread_create(&owner, NULL, hold_and_return, NULL) == 0);
    sem_wait(&held);
    LEGACY_CHECK(pthread_create(&waiter, NULL, lock_reporter, NULL) == 0);
    void *wr;
    LEGACY_CHECK(pthread_join(waiter, &wr) == 0);
    LEGACY_CHECK(pthread_join(owner, NULL) == 0);
    int u = pthread_mutex_unlock(&m);
    printf("robust waiter: lock %s then unlocked by it; main's unlock %s\n",
           err((int)(long)wr), err(u));

    /* trylock of a dead owner's mutex. */
    LEGACY_CHECK(pthread_create(&owner, NULL, hold_and_return, NULL) == 0);
    LEGACY_CHECK(pthread_join(owner, NULL) == 0);
    sem_wait(&held);
    int t = pthread_mutex_trylock(&m);
    int c = pthread_mutex_consistent(&m);
    u = pthread_mutex_unlock(&m);
    printf("robust trylock: %s consistent %s unlock %s destroy %s\n", err(t),
           err(c), err(u), err(pthread_mutex_destroy(&m)));
}

/* --- not recoverable ----------------------------------------------------- */

static void norecovers(void)
{
    pthread_mutex_t m;
    mutex_make(&m, PTHREAD_MUTEX_NORMAL, false, true);
    rm = &m;
    pthread_t t, waiter;
    LEGACY_CHECK(pthread_create(&t, NULL, hold_and_return, NULL) == 0);
    sem_wait(&held);
    int r = pthread_mutex_lock(&m);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    LEGACY_CHECK(pthread_create(&waiter, NULL, lock_reporter, NULL) == 0);
    tu_nap(20); /* the waiter waits */
    int u = pthread_mutex_unlock(&m);
    void *wr;
    LEGACY_CHECK(pthread_join(waiter, &wr) == 0);
    struct timespec dl = tu_deadline(CLOCK_REALTIME, 20);
    int l = pthread_mutex_lock(&m);
    int tm = pthread_mutex_timedlock(&m, &dl);
    int c = pthread_mutex_consistent(&m);
    /* Last: glibc 2.36's trylock leaves a not-recoverable mutex locked. */
    int tl = pthread_mutex_trylock(&m);
    printf("norecover: lock %s unlock %s waiter %s lock %s timedlock %s "
           "consistent %s trylock %s\n",
           err(r), err(u), err((int)(long)wr), err(l), err(tm), err(c),
           err(tl));
    pthread_mutex_destroy(&m);

    pthread_mutex_t healthy, plain;
    mutex_make(&healthy, PTHREAD_MUTEX_NORMAL, false, true);
    mutex_make(&plain, PTHREAD_MUTEX_NORMAL, true, false);
    LEGACY_CHECK(pthread_mutex_lock(&healthy) == 0);
    LEGACY_CHECK(pthread_mutex_lock(&plain) == 0);
    printf("consistent: healthy %s non-robust %s\n",
           err(pthread_mutex_consistent(&healthy)),
           err(pthread_mutex_consistent(&plain)));
    rm = &healthy;
    LEGACY_CHECK(pthread_create(&t, NULL, lock_and_end, NULL) == 0);
    tu_nap(10);
    int ub = pthread_mutex_unlock(&healthy); /* main holds: fine */
    LEGACY_CHECK(pthread_join(t, &wr) == 0);
    /* Now the (ended) thread held it: main does not. */
    int up = pthread_mutex_unlock(&healthy);
    int l2 = pthread_mutex_lock(&healthy);
    printf("robust unlock: holder %s thread got %s non-holder %s "
           "after its end %s\n",
           err(ub), err((int)(long)wr), err(up), err(l2));
    pthread_mutex_consistent(&healthy);
    pthread_mutex_unlock(&healthy);
    pthread_mutex_unlock(&plain);
}

/* --- robust across processes -------------------------------------------- */

static void robustprocs(void)
{
    for (int late = 0; late < 2; late++) {
        struct {
            pthread_mutex_t m;
            sem_t locked;
        } *sh = shared_page(4096);
        mutex_make(&sh->m, PTHREAD_MUTEX_NORMAL, true, true);
        LEGACY_CHECK(sem_init(&sh->locked, 1, 0) == 0);
        fflush(stdout);
        pid_t pid = fork();
        LEGACY_CHECK(pid >= 0);
        if (pid == 0) {
            if (pthread_mutex_lock(&sh->m) != 0) {
                _exit(3);
            }
            sem_post(&sh->locked);
            usleep(100 * 1000);
            _exit(0); /* holding it */
        }
        LEGACY_CHECK(sem_wait(&sh->locked) == 0);
        int st;
        if (late) {
            LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
        }
        int since = atomic_load(&ticks);
        int r = pthread_mutex_lock(&sh->m);
        int tk = ticked(since);
        int c = pthread_mutex_consistent(&sh->m);
        int u = pthread_mutex_unlock(&sh->m);
        int l = pthread_mutex_trylock(&sh->m);
        int u2 = pthread_mutex_unlock(&sh->m);
        if (!late) {
            LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
        }
        printf("robust child %s: lock %s ticked %d consistent %s unlock %s "
               "trylock %s unlock %s child status %d\n",
               late ? "gone" : "dies while waited for", err(r), tk, err(c),
               err(u), err(l), err(u2), WEXITSTATUS(st));
        munmap(sh, 4096);
    }
}

/* --- process-shared mutexes between threads ----------------------------- */

static pthread_mutex_t *pm;
static long total;

static void *adder(void *arg)
{
    for (int i = 0; i < 20; i++) {
        LEGACY_CHECK(pthread_mutex_lock(pm) == 0);
        long v = total;
        if (i % 5 == 0) {
            sched_yield();
        }
        total = v + 1;
        LEGACY_CHECK(pthread_mutex_unlock(pm) == 0);
    }
    return (void *)((long)arg + 1);
}

static void *sleepy_holder(void *arg)
{
    (void)arg;
    LEGACY_CHECK(pthread_mutex_lock(pm) == 0);
    sem_post(&held);
    tu_nap(50);
    LEGACY_CHECK(pthread_mutex_unlock(pm) == 0);
    return NULL;
}

static void mutexes(void)
{
    pthread_mutex_t m;
    mutex_make(&m, PTHREAD_MUTEX_NORMAL, true, false);
    pm = &m;
    total = 0;
    tu_run(50, adder, 1);
    printf("pshared mutex: 50 threads x 20 additions: %ld\n", total);

    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, sleepy_holder, NULL) == 0);
    sem_wait(&held);
    int since = atomic_load(&ticks);
    int tr = pthread_mutex_trylock(&m);
    struct timespec dl = tu_deadline(CLOCK_REALTIME, 10);
    int tm = pthread_mutex_timedlock(&m, &dl);
    struct timespec bad = {0, 1000000000L};
    int tb = pthread_mutex_timedlock(&m, &bad);
    int r = pthread_mutex_lock(&m);
    printf("pshared held: trylock %s timedlock %s bad %s lock %s ticked %d "
           "unlock %s\n",
           err(tr), err(tm), err(tb), err(r), ticked(since),
           err(pthread_mutex_unlock(&m)));
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    printf("pshared destroy: %s\n", err(pthread_mutex_destroy(&m)));
}

/* --- recursive and error-checking ---------------------------------------- */

static sem_t tried; /* the other thread's trylock is done */

static void *try_then_lock(void *arg)
{
    (void)arg;
    int t = pthread_mutex_trylock(pm);
    sem_post(&tried);
    int r = pthread_mutex_lock(pm);
    long depth_seen = total; /* main set it to 0 before its last unlock */
    pthread_mutex_unlock(pm);
    return (void *)(long)(t * 1000 + r * 10 + depth_seen);
}

static void recursives(void)
{
    for (int rob = 0; rob < 2; rob++) {
        pthread_mutex_t m;
        mutex_make(&m, PTHREAD_MUTEX_RECURSIVE, true, rob);
        pm = &m;
        int a = pthread_mutex_lock(&m), b = pthread_mutex_lock(&m),
            c = pthread_mutex_trylock(&m);
        total = 3;
        pthread_t t;
        sem_init(&tried, 0, 0);
        LEGACY_CHECK(pthread_create(&t, NULL, try_then_lock, NULL) == 0);
        /* Its trylock while all three are held (it came after the
         * unlocks on a loaded machine when a nap was all that ordered
         * them: CI's sanitizer run), then its lock, which waits. */
        while (sem_wait(&tried) != 0) {
        }
        tu_nap(20);
        total = 2;
        pthread_mutex_unlock(&m);
        tu_nap(10);
        total = 1;
        pthread_mutex_unlock(&m);
        tu_nap(10);
        total = 0;
        pthread_mutex_unlock(&m);
        void *v;
        LEGACY_CHECK(pthread_join(t, &v) == 0);
        long x = (long)v;
        printf("recursive%s: locks %s %s %s other trylock %s lock %s saw "
               "depth %ld unlock free %s\n",
               rob ? " robust" : "", err(a), err(b), err(c),
               err((int)(x / 1000)), err((int)(x % 1000 / 10)), x % 10,
               err(pthread_mutex_unlock(&m)));
        pthread_mutex_destroy(&m);
    }
}

static void *unlock_other(void *arg)
{
    return (void *)(long)pthread_mutex_unlock(arg);
}

static void errchecks(void)
{
    for (int rob = 0; rob < 2; rob++) {
        pthread_mutex_t m;
        mutex_make(&m, PTHREAD_MUTEX_ERRORCHECK, true, rob);
        int free_unlock = pthread_mutex_unlock(&m);
        int l = pthread_mutex_lock(&m);
        int re = pthread_mutex_lock(&m);
        int tr = pthread_mutex_trylock(&m);
        pthread_t t;
        void *v;
        LEGACY_CHECK(pthread_create(&t, NULL, unlock_other, &m) == 0);
        LEGACY_CHECK(pthread_join(t, &v) == 0);
        int u = pthread_mutex_unlock(&m);
        int u2 = pthread_mutex_unlock(&m);
        printf("errorcheck%s: unlock free %s lock %s relock %s trylock %s "
               "other's unlock %s unlock %s again %s\n",
               rob ? " robust" : "", err(free_unlock), err(l), err(re),
               err(tr), err((int)(long)v), err(u), err(u2));
        pthread_mutex_destroy(&m);
    }
}

/* --- process-shared mutex between processes ----------------------------- */

static void mutexprocs(void)
{
    struct {
        pthread_mutex_t m;
        long count;
        int inside;
        int overlap;
    } *sh = shared_page(4096);
    mutex_make(&sh->m, PTHREAD_MUTEX_ERRORCHECK, true, false);
    fflush(stdout);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    for (int i = 0; i < 30; i++) {
        if (pthread_mutex_lock(&sh->m) != 0) {
            _exit(4);
        }
        sh->overlap += sh->inside++;
        long v = sh->count;
        if (i % 10 == 0) {
            usleep(2000);
        }
        sh->count = v + 1;
        sh->inside--;
        if (pthread_mutex_unlock(&sh->m) != 0) {
            _exit(5);
        }
        sched_yield();
    }
    if (pid == 0) {
        _exit(0);
    }
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    printf("pshared mutex across processes: count %ld overlap %d child %d\n",
           sh->count, sh->overlap, WEXITSTATUS(st));
    pthread_mutex_destroy(&sh->m);
    munmap(sh, 4096);
}

/* --- process-shared condition variables --------------------------------- */

static pthread_cond_t *pc;
static int flag, woken, queue_len, produced, consumed;

static void cond_make(pthread_cond_t *c, bool pshared)
{
    pthread_condattr_t a;
    LEGACY_CHECK(pthread_condattr_init(&a) == 0);
    if (pshared) {
        LEGACY_CHECK(pthread_condattr_setpshared(&a,
                                                 PTHREAD_PROCESS_SHARED) == 0);
    }
    LEGACY_CHECK(pthread_cond_init(c, &a) == 0);
    pthread_condattr_destroy(&a);
}

static void *flag_waiter(void *arg)
{
    (void)arg;
    LEGACY_CHECK(pthread_mutex_lock(pm) == 0);
    while (!flag) {
        LEGACY_CHECK(pthread_cond_wait(pc, pm) == 0);
    }
    woken++;
    LEGACY_CHECK(pthread_mutex_unlock(pm) == 0);
    return NULL;
}

static void *producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        pthread_mutex_lock(pm);
        while (queue_len == 5) {
            pthread_cond_wait(pc, pm);
        }
        queue_len++;
        produced++;
        pthread_cond_broadcast(pc);
        pthread_mutex_unlock(pm);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < 50; i++) {
        pthread_mutex_lock(pm);
        while (queue_len == 0) {
            pthread_cond_wait(pc, pm);
        }
        queue_len--;
        consumed++;
        pthread_cond_broadcast(pc);
        pthread_mutex_unlock(pm);
    }
    return NULL;
}

static void cond_cases(const char *name, int mtype, bool mshared)
{
    pthread_mutex_t m;
    pthread_cond_t c;
    mutex_make(&m, mtype, mshared, false);
    cond_make(&c, true);
    pm = &m;
    pc = &c;
    flag = woken = 0;
    pthread_t t[30];
    LEGACY_CHECK(pthread_create(&t[0], NULL, flag_waiter, NULL) == 0);
    int since = atomic_load(&ticks);
    tu_nap(20);
    pthread_mutex_lock(&m);
    flag = 1;
    pthread_cond_signal(&c);
    pthread_mutex_unlock(&m);
    LEGACY_CHECK(pthread_join(t[0], NULL) == 0);
    int one = woken, tk = ticked(since);
    flag = woken = 0;
    for (int i = 0; i < 30; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, flag_waiter, NULL) == 0);
    }
    tu_nap(30);
    pthread_mutex_lock(&m);
    flag = 1;
    pthread_cond_broadcast(&c);
    pthread_mutex_unlock(&m);
    for (int i = 0; i < 30; i++) {
        LEGACY_CHECK(pthread_join(t[i], NULL) == 0);
    }
    int all = woken;
    queue_len = produced = consumed = 0;
    pthread_t p[4], q[4];
    for (int i = 0; i < 4; i++) {
        LEGACY_CHECK(pthread_create(&p[i], NULL, producer, NULL) == 0);
        LEGACY_CHECK(pthread_create(&q[i], NULL, consumer, NULL) == 0);
    }
    for (int i = 0; i < 4; i++) {
        LEGACY_CHECK(pthread_join(p[i], NULL) == 0);
        LEGACY_CHECK(pthread_join(q[i], NULL) == 0);
    }
    pthread_mutex_lock(&m);
    struct timespec dl = tu_deadline(CLOCK_REALTIME, 20);
    int tw = pthread_cond_timedwait(&c, &m, &dl);
    int held_after = pthread_mutex_trylock(&m);
    struct timespec bad = {0, 2000000000L};
    int tb = pthread_cond_timedwait(&c, &m, &bad);
    struct timespec mono = tu_deadline(CLOCK_MONOTONIC, 10);
    int cw = pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &mono);
    pthread_mutex_unlock(&m);
    int notheld = mtype == PTHREAD_MUTEX_ERRORCHECK
                      ? pthread_cond_wait(&c, &m)
                      : EPERM;
    printf("cond %s: signal woke %d ticked %d, broadcast woke %d of 30, "
           "queue %d/%d left %d, timedwait %s then trylock %s, bad %s, "
           "clockwait %s, not held %s\n",
           name, one, tk, all, produced, consumed, queue_len, err(tw),
           err(held_after == EBUSY || held_after == EDEADLK ? EBUSY
                                                             : held_after),
           err(tb), err(cw), err(notheld));
    LEGACY_CHECK(pthread_cond_destroy(&c) == 0);
    LEGACY_CHECK(pthread_mutex_destroy(&m) == 0);
}

static void conds(void)
{
    cond_cases("pshared mutex", PTHREAD_MUTEX_NORMAL, true);
    cond_cases("pshared errorcheck mutex", PTHREAD_MUTEX_ERRORCHECK, true);
    cond_cases("private mutex", PTHREAD_MUTEX_NORMAL, false);
}

static void condprocs(void)
{
    struct {
        pthread_mutex_t m;
        pthread_cond_t c;
        int turn; /* 0: parent's, 1: child's */
        int count;
    } *sh = shared_page(4096);
    mutex_make(&sh->m, PTHREAD_MUTEX_NORMAL, true, false);
    cond_make(&sh->c, true);
    fflush(stdout);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    int me = pid == 0;
    int since = atomic_load(&ticks);
    for (int i = 0; i < 50; i++) {
        pthread_mutex_lock(&sh->m);
        while (sh->turn != me) {
            pthread_cond_wait(&sh->c, &sh->m);
        }
        sh->count++;
        sh->turn = !me;
        pthread_cond_broadcast(&sh->c);
        pthread_mutex_unlock(&sh->m);
    }
    if (me) {
        _exit(0);
    }
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    printf("cond across processes: count %d ticked %d child %d\n",
           sh->count, ticked(since), WEXITSTATUS(st));
    pthread_cond_destroy(&sh->c);
    pthread_mutex_destroy(&sh->m);
    munmap(sh, 4096);
}

/* --- semaphores ------------------------------------------------------------ */

static sem_t *ps;

static void *sem_waiter(void *arg)
{
    (void)arg;
    return (void *)(long)sem_wait(ps);
}

/* The thread cases on *s (value 0 on entry). */
static void sem_threads(const char *name, sem_t *s)
{
    ps = s;
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, sem_waiter, NULL) == 0);
    int since = atomic_load(&ticks);
    tu_nap(20);
    int tk = ticked(since);
    LEGACY_CHECK(sem_post(s) == 0);
    void *v, *first;
    LEGACY_CHECK(pthread_join(t, &first) == 0);
    int tw = sem_trywait(s);
    int tw_e = errno;
    struct timespec dl = tu_deadline(CLOCK_REALTIME, 20);
    int tm = sem_timedwait(s, &dl);
    int tm_e = errno;
    struct timespec bad = {0, -1};
    int tb = sem_timedwait(s, &bad);
    int tb_e = errno;
    struct timespec mono = tu_deadline(CLOCK_MONOTONIC, 10);
    int cw = sem_clockwait(s, CLOCK_MONOTONIC, &mono);
    int cw_e = errno;
    int val = -1;
    for (int i = 0; i < 3; i++) {
        sem_post(s);
    }
    sem_getvalue(s, &val);
    while (sem_trywait(s) == 0) {
    }
    pthread_t w[50];
    for (int i = 0; i < 50; i++) {
        LEGACY_CHECK(pthread_create(&w[i], NULL, sem_waiter, NULL) == 0);
    }
    tu_nap(20);
    for (int i = 0; i < 50; i++) {
        LEGACY_CHECK(sem_post(s) == 0);
    }
    int ok = 0;
    for (int i = 0; i < 50; i++) {
        LEGACY_CHECK(pthread_join(w[i], &v) == 0);
        ok += v == NULL;
    }
    int left = -1;
    sem_getvalue(s, &left);
    printf("%s threads: waiter %d ticked %d trywait %d %s timedwait %d %s "
           "bad %d %s clockwait %d %s value %d, 50 waiters woken %d left %d\n",
           name, (int)(long)first, tk, tw, err(tw_e), tm, err(tm_e), tb,
           err(tb_e), cw, err(cw_e), val, ok, left);
}

/* Parent and child take turns 50 times on the pair (ping, pong). */
static void sem_procs(const char *name, sem_t *ping, sem_t *pong, long *turns)
{
    fflush(stdout);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        for (int i = 0; i < 50; i++) {
            if (sem_wait(ping) != 0) {
                _exit(6);
            }
            ++*turns;
            if (sem_post(pong) != 0) {
                _exit(7);
            }
        }
        _exit(0);
    }
    int since = atomic_load(&ticks);
    int bad = 0;
    for (int i = 0; i < 50; i++) {
        ++*turns;
        sem_post(ping);
        bad += sem_wait(pong) != 0;
    }
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    printf("%s processes: turns %ld failed %d ticked %d child %d\n", name,
           *turns, bad, ticked(since), WEXITSTATUS(st));
}

static void seminits(void)
{
    struct {
        sem_t a, b;
        long turns;
    } *sh = shared_page(4096);
    LEGACY_CHECK(sem_init(&sh->a, 1, 0) == 0);
    LEGACY_CHECK(sem_init(&sh->b, 1, 0) == 0);
    sem_threads("sem_init pshared", &sh->a);
    sem_procs("sem_init pshared", &sh->a, &sh->b, &sh->turns);
    sem_t big;
    int r = sem_init(&big, 1, (unsigned)SEM_VALUE_MAX + 1u);
    printf("sem_init past SEM_VALUE_MAX: %d %s\n", r, err(errno));
    LEGACY_CHECK(sem_init(&big, 1, SEM_VALUE_MAX) == 0);
    r = sem_post(&big);
    printf("sem_post at SEM_VALUE_MAX: %d %s\n", r,
           errno == EOVERFLOW ? "EOVERFLOW" : err(errno));
    sem_destroy(&sh->a);
    sem_destroy(&sh->b);
    munmap(sh, 4096);
}

static void semopens(void)
{
    char name[64], name2[64];
    snprintf(name, sizeof(name), "/legacy-pshared-%d", (int)getpid());
    snprintf(name2, sizeof(name2), "/legacy-pshared-%d-b", (int)getpid());
    sem_unlink(name);
    sem_unlink(name2);
    sem_t *s = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    LEGACY_CHECK(s != SEM_FAILED);
    sem_t *again = sem_open(name, O_CREAT | O_EXCL, 0600, 0);
    printf("sem_open O_EXCL again: %s %s\n",
           again == SEM_FAILED ? "failed" : "opened", err(errno));
    sem_t *missing = sem_open("/legacy-pshared-none", 0);
    printf("sem_open missing: %s %s\n",
           missing == SEM_FAILED ? "failed" : "opened", err(errno));
    sem_t *huge = sem_open(name2, O_CREAT, 0600, (unsigned)SEM_VALUE_MAX + 1u);
    printf("sem_open past SEM_VALUE_MAX: %s %s\n",
           huge == SEM_FAILED ? "failed" : "opened", err(errno));
    sem_threads("sem_open", s);

    sem_t *b = sem_open(name2, O_CREAT | O_EXCL, 0600, 0);
    LEGACY_CHECK(b != SEM_FAILED);
    long *turns = shared_page(4096);
    fflush(stdout);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        /* The child opens them by name, as an unrelated process would. */
        sem_t *ca = sem_open(name, 0), *cb = sem_open(name2, 0);
        if (ca == SEM_FAILED || cb == SEM_FAILED) {
            _exit(8);
        }
        for (int i = 0; i < 50; i++) {
            if (sem_wait(ca) != 0) {
                _exit(6);
            }
            ++*turns;
            sem_post(cb);
        }
        _exit(0);
    }
    int since = atomic_load(&ticks);
    int bad = 0;
    for (int i = 0; i < 50; i++) {
        ++*turns;
        sem_post(s);
        bad += sem_wait(b) != 0;
    }
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    printf("sem_open processes: turns %ld failed %d ticked %d child %d\n",
           *turns, bad, ticked(since), WEXITSTATUS(st));
    int c1 = sem_close(s), c2 = sem_close(b);
    int u1 = sem_unlink(name), u2 = sem_unlink(name2);
    int u3 = sem_unlink(name);
    printf("sem_close %d %d sem_unlink %d %d, again %d %s\n", c1, c2, u1, u2,
           u3, err(errno));
    munmap(turns, 4096);
}

/* --- spin locks ---------------------------------------------------------- */

static pthread_spinlock_t spin;

static void *spin_holder(void *arg)
{
    (void)arg;
    LEGACY_CHECK(pthread_spin_lock(&spin) == 0);
    sem_post(&held);
    tu_nap(40);
    total = 1;
    LEGACY_CHECK(pthread_spin_unlock(&spin) == 0);
    return NULL;
}

static void spins(void)
{
    LEGACY_CHECK(pthread_spin_init(&spin, PTHREAD_PROCESS_PRIVATE) == 0);
    total = 0;
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, spin_holder, NULL) == 0);
    sem_wait(&held);
    int since = atomic_load(&ticks);
    int tr = pthread_spin_trylock(&spin);
    int r = pthread_spin_lock(&spin);
    long seen = total;
    int tk = ticked(since);
    pthread_spin_unlock(&spin);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    printf("spin: trylock %s lock %s after the holder's sleep %ld ticked "
           "%d\n",
           err(tr), err(r), seen, tk);
    pthread_spin_destroy(&spin);
}

/* --- process-shared rwlocks and barriers ---------------------------------- */

static pthread_rwlock_t *prw;
static atomic_int readers_in, readers_done;

static void rwlock_make(pthread_rwlock_t *rw)
{
    pthread_rwlockattr_t a;
    LEGACY_CHECK(pthread_rwlockattr_init(&a) == 0);
    LEGACY_CHECK(pthread_rwlockattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ==
                 0);
    LEGACY_CHECK(pthread_rwlock_init(rw, &a) == 0);
    pthread_rwlockattr_destroy(&a);
}

static void *reader(void *arg)
{
    (void)arg;
    int r = pthread_rwlock_rdlock(prw);
    atomic_fetch_add(&readers_in, 1);
    tu_nap(5);
    pthread_rwlock_unlock(prw);
    atomic_fetch_add(&readers_done, 1);
    return (void *)(long)r;
}

static void *timed_writer(void *arg)
{
    (void)arg;
    struct timespec abs = tu_deadline(CLOCK_REALTIME, 30);
    return (void *)(long)pthread_rwlock_timedwrlock(prw, &abs);
}

static void *writer(void *arg)
{
    (void)arg;
    int r = pthread_rwlock_wrlock(prw);
    int alone = atomic_load(&readers_in) == atomic_load(&readers_done);
    if (r == 0) {
        r = pthread_rwlock_unlock(prw);
    }
    return (void *)(long)(r == 0 && alone ? 0 : 1);
}

static void rwlocks(void)
{
    static pthread_rwlock_t rw;
    prw = &rw;
    rwlock_make(prw);
    atomic_store(&readers_in, 0);
    atomic_store(&readers_done, 0);
    /* Main writes; three readers wait for it, the ticker meanwhile runs. */
    LEGACY_CHECK(pthread_rwlock_wrlock(prw) == 0);
    pthread_t t[3], tw;
    for (int i = 0; i < 3; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, reader, NULL) == 0);
    }
    int k = atomic_load(&ticks);
    int early = atomic_load(&readers_in);
    int ran = ticked(k);
    errno = 0;
    int self = pthread_rwlock_trywrlock(prw);
    LEGACY_CHECK(pthread_rwlock_unlock(prw) == 0);
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        void *r;
        LEGACY_CHECK(pthread_join(t[i], &r) == 0);
        ok += r == NULL;
    }
    printf("pshared rwlock: readers waited for the writer %d, got in %d of 3, "
           "ticker ran %d, trywrlock held %s\n",
           early == 0, ok, ran, err(self));
    /* A reader holds it: a timed writer times out, a writer waits. */
    LEGACY_CHECK(pthread_rwlock_rdlock(prw) == 0);
    LEGACY_CHECK(pthread_create(&tw, NULL, timed_writer, NULL) == 0);
    void *tr;
    LEGACY_CHECK(pthread_join(tw, &tr) == 0);
    LEGACY_CHECK(pthread_create(&tw, NULL, writer, NULL) == 0);
    tu_nap(10);
    LEGACY_CHECK(pthread_rwlock_unlock(prw) == 0);
    void *wr;
    LEGACY_CHECK(pthread_join(tw, &wr) == 0);
    printf("pshared rwlock: timedwrlock %s, the writer got it and unlocked "
           "%d\n", err((int)(long)tr), wr == NULL);
    LEGACY_CHECK(pthread_rwlock_destroy(prw) == 0);
}

static void rwlockprocs(void)
{
    struct {
        pthread_rwlock_t rw;
        long count;
        int inside;
        int overlap;
    } *sh = shared_page(4096);
    rwlock_make(&sh->rw);
    fflush(stdout);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    for (int i = 0; i < 30; i++) {
        if (pthread_rwlock_wrlock(&sh->rw) != 0) {
            _exit(4);
        }
        sh->overlap += sh->inside++;
        long v = sh->count;
        if (i % 10 == 0) {
            usleep(2000);
        }
        sh->count = v + 1;
        sh->inside--;
        if (pthread_rwlock_unlock(&sh->rw) != 0) {
            _exit(5);
        }
        sched_yield();
    }
    if (pid == 0) {
        _exit(0);
    }
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    printf("pshared rwlock across processes: count %ld overlap %d child %d\n",
           sh->count, sh->overlap, WEXITSTATUS(st));
    pthread_rwlock_destroy(&sh->rw);
    munmap(sh, 4096);
}

static pthread_barrier_t *pb;
static atomic_int serials;

static void barrier_make(pthread_barrier_t *b, unsigned n)
{
    pthread_barrierattr_t a;
    LEGACY_CHECK(pthread_barrierattr_init(&a) == 0);
    LEGACY_CHECK(pthread_barrierattr_setpshared(&a, PTHREAD_PROCESS_SHARED) ==
                 0);
    LEGACY_CHECK(pthread_barrier_init(b, &a, n) == 0);
    pthread_barrierattr_destroy(&a);
}

static void *barrier_waiter(void *arg)
{
    (void)arg;
    int r = 0;
    for (int round = 0; round < 3 && r >= 0; round++) {
        int w = pthread_barrier_wait(pb);
        if (w == PTHREAD_BARRIER_SERIAL_THREAD) {
            atomic_fetch_add(&serials, 1);
        } else if (w != 0) {
            r = -1;
        }
    }
    return (void *)(long)r;
}

static void barriers(void)
{
    static pthread_barrier_t b;
    pb = &b;
    barrier_make(pb, 4);
    atomic_store(&serials, 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, barrier_waiter, NULL) == 0);
    }
    int k = atomic_load(&ticks);
    int ran = ticked(k); /* three wait at the barrier: the ticker goes on */
    void *mine = barrier_waiter(NULL);
    int ok = mine == NULL;
    for (int i = 0; i < 3; i++) {
        void *r;
        LEGACY_CHECK(pthread_join(t[i], &r) == 0);
        ok += r == NULL;
    }
    printf("pshared barrier: 4 threads x 3 rounds ok %d, serial threads %d, "
           "ticker ran %d\n", ok, atomic_load(&serials), ran);
    LEGACY_CHECK(pthread_barrier_destroy(pb) == 0);
}

static void barrierprocs(void)
{
    struct {
        pthread_barrier_t b;
        int serial[2];
    } *sh = shared_page(4096);
    barrier_make(&sh->b, 2);
    fflush(stdout);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    int me = pid == 0;
    for (int round = 0; round < 5; round++) {
        int w = pthread_barrier_wait(&sh->b);
        if (w == PTHREAD_BARRIER_SERIAL_THREAD) {
            __atomic_fetch_add(&sh->serial[me], 1, __ATOMIC_SEQ_CST);
        } else if (w != 0) {
            _exit(3);
        }
    }
    if (pid == 0) {
        _exit(0);
    }
    int st;
    LEGACY_CHECK(waitpid(pid, &st, 0) == pid);
    printf("pshared barrier across processes: serial waits %d of 5, child %d\n",
           sh->serial[0] + sh->serial[1], WEXITSTATUS(st));
    munmap(sh, 4096);
}

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"robust", robusts},       {"norecover", norecovers},
    {"robustproc", robustprocs}, {"mutex", mutexes},
    {"recursive", recursives}, {"errcheck", errchecks},
    {"mutexproc", mutexprocs}, {"cond", conds},
    {"condproc", condprocs},   {"seminit", seminits},
    {"semopen", semopens},     {"spin", spins},
    {"rwlock", rwlocks},       {"rwlockproc", rwlockprocs},
    {"barrier", barriers},     {"barrierproc", barrierprocs},
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
    LEGACY_CHECK(sem_init(&held, 0, 0) == 0);
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
