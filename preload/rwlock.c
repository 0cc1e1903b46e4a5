/* SPDX-License-Identifier: MIT */
/* Green rwlocks and barriers, in the bytes of glibc's own types (see
 * thread.h for the layout rule), beside sync.c's mutexes and condition
 * variables. Every wait parks through park.c's green__objq_wait.
 *
 * A rwlock's readers and writers wait in one FIFO, and the lock is
 * handed over rather than made free (rw_grant): once no writer holds it,
 * the first queued writer gets it if no reader holds it and either no
 * reader waits or writers are preferred, else every queued reader does.
 * glibc's default prefers readers: a reader gets in whenever no writer
 * holds the lock; under writer preference new readers queue behind a
 * waiting writer. A handed waiter owns the lock even if a timeout woke it
 * in the same turn, as with lib/lock.c's hand-off.
 *
 * Process-shared objects keep glibc's layout and glibc's code, told apart
 * by glibc's own marks: a rwlock's __shared, and for barriers (whose
 * layout is private to glibc) the absence of our magic. Their waits must
 * keep glibc's protocol (the other side may be another process), so a
 * lock that is not free at once, and every barrier wait, is glibc's own
 * call made on a worker thread (lib/workers.h) while only the caller
 * parks. A write lock taken so is then marked as the caller's
 * (__cur_writer: its descriptor's thread id, which glibc's unlock
 * compares), so that the caller's unlock is a writer's. Left out: EDEADLK
 * for a green thread that write-locks a process-shared rwlock it holds
 * (the green threads of an OS thread share its kernel id; it waits for
 * ever, as a second process would).
 *
 * What may wait and how it fails: nothing here fails with EINTR or
 * ECANCELED (the waits are shielded from green_kill). A rwlock wait that
 * nothing could ever end returns EDEADLK, as POSIX lists it; a barrier
 * wait, which POSIX gives no error, stops the program with the hub's
 * report. */
#include "thread.h"

#include "rawsys.h"
#include "workers.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

/* --- rwlocks --------------------------------------------------------------- */

struct grwlock {
    struct green__waitq waiters;  /* readers and writers, FIFO; each
                                     waiter's wait_data is a struct
                                     rwwait */
    unsigned readers;             /* read locks held */
    unsigned writers_waiting;     /* writers queued */
    int spare0;
    int shared;                   /* glibc's __shared: process-shared */
    struct greenlet *writer;      /* write-lock holder, or NULL */
    unsigned long spare1;
    unsigned flags;               /* glibc's __flags: the preference, set
                                     by init or a static initialiser */
};

_Static_assert(offsetof(struct grwlock, shared) ==
                   offsetof(pthread_rwlock_t, __data.__shared),
               "__shared stays where glibc keeps it");
_Static_assert(offsetof(struct grwlock, flags) ==
                   offsetof(pthread_rwlock_t, __data.__flags),
               "__flags stays where glibc's initialisers put it");
_Static_assert(sizeof(struct grwlock) <= sizeof(pthread_rwlock_t),
               "a green rwlock fits in pthread_rwlock_t");
_Static_assert(_Alignof(struct grwlock) <= _Alignof(pthread_rwlock_t),
               "and is aligned like it");

/* A queued waiter; `handed` first, as green__waitq_handoff expects. */
struct rwwait {
    bool handed;
    bool writer;
};

static inline struct grwlock *grw(pthread_rwlock_t *rw)
{
    return (struct grwlock *)(void *)rw;
}

static inline bool rwlock_green(pthread_rwlock_t *rw)
{
    return green__thread_on() && grw(rw)->shared == 0;
}

/* --- process-shared objects: glibc's calls on a worker ------------------- */

enum shared_op { SH_RD, SH_WR, SH_BARRIER };

struct shared_wait {
    struct green__job job;
    enum shared_op op;
    void *obj;
    clockid_t clock;
    const struct timespec *abs;   /* NULL: no deadline */
};

static void run_shared(struct green__job *j)
{
    struct shared_wait *w = (struct shared_wait *)j;
    pthread_rwlock_t *rw = w->obj;
    switch (w->op) {
    case SH_RD:
        j->ret = w->abs == NULL
                     ? GREEN_REAL(pthread_rwlock_rdlock)(rw)
                     : GREEN_REAL(pthread_rwlock_clockrdlock)(rw, w->clock,
                                                               w->abs);
        break;
    case SH_WR:
        j->ret = w->abs == NULL
                     ? GREEN_REAL(pthread_rwlock_wrlock)(rw)
                     : GREEN_REAL(pthread_rwlock_clockwrlock)(rw, w->clock,
                                                               w->abs);
        break;
    case SH_BARRIER:
        j->ret = GREEN_REAL(pthread_barrier_wait)(w->obj);
        break;
    }
}

/* Whether a process-shared object's wait can be made green here: the
 * thread family on, and a green thread (not the hub) calling. */
static bool shared_green(void)
{
    return green__thread_on() && green__self() != NULL;
}

/* glibc's wait for op on a worker, its result in *ret; false if none
 * could run it (then the caller blocks in glibc, as before). */
static bool shared_on_worker(enum shared_op op, void *obj, clockid_t clock,
                             const struct timespec *abs, int *ret)
{
    struct shared_wait w = {.job = {.run = run_shared}, .op = op,
                            .obj = obj, .clock = clock, .abs = abs};
    if (green__work(&w.job, GREEN__JOB_WAITS) != 0) {
        return false;
    }
    *ret = (int)w.job.ret;
    return true;
}

/* A process-shared rwlock: glibc's try first, then glibc's wait on a
 * worker; a write lock so taken becomes the caller's. */
static int shared_rwlock(pthread_rwlock_t *rw, bool write, clockid_t clock,
                         const struct timespec *abs)
{
    int r = write ? GREEN_REAL(pthread_rwlock_trywrlock)(rw)
                  : GREEN_REAL(pthread_rwlock_tryrdlock)(rw);
    if (r != EBUSY || !shared_green()) {
        if (r == EBUSY) { /* the hub, or the family off: glibc's wait */
            return write ? (abs == NULL
                                ? GREEN_REAL(pthread_rwlock_wrlock)(rw)
                                : GREEN_REAL(pthread_rwlock_clockwrlock)(
                                      rw, clock, abs))
                         : (abs == NULL
                                ? GREEN_REAL(pthread_rwlock_rdlock)(rw)
                                : GREEN_REAL(pthread_rwlock_clockrdlock)(
                                      rw, clock, abs));
        }
        return r;
    }
    if (abs != NULL && (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC)) {
        return EINVAL;
    }
    if (!shared_on_worker(write ? SH_WR : SH_RD, rw, clock, abs, &r)) {
        return write ? GREEN_REAL(pthread_rwlock_wrlock)(rw)
                     : GREEN_REAL(pthread_rwlock_rdlock)(rw);
    }
    if (r == 0 && write) {
        /* The worker's id is the writer's for glibc: make it ours (the
         * id in the running descriptor, which glibc's unlock reads). */
        __atomic_store_n(&rw->__data.__cur_writer,
                         (int)green__syscall(SYS_gettid), __ATOMIC_RELAXED);
    }
    return r;
}

/* glibc's default prefers readers: a reader gets in whenever no writer
 * holds the lock. PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP makes new
 * readers wait behind queued writers. */
static inline bool prefer_writers(const struct grwlock *rw)
{
    return rw->flags == PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP;
}

static void rw_hand(struct grwlock *rw, struct greenlet *g)
{
    struct rwwait *w = g->wait_data;
    green__link_remove(&g->wait);
    w->handed = true;
    if (w->writer) {
        rw->writer = g;
    } else {
        rw->readers++;
    }
    green__hub_wake(g, 0);
}

/* The first queued waiter of the given sort, or NULL. */
static struct greenlet *rw_first(struct grwlock *rw, bool writer)
{
    if (green__objq_empty(&rw->waiters)) {
        return NULL;
    }
    struct green__link *h = &rw->waiters.head;
    for (struct green__link *l = h->next; l != h; l = l->next) {
        struct greenlet *g = GREEN__CONTAINER(l, struct greenlet, wait);
        if (((struct rwwait *)g->wait_data)->writer == writer) {
            return g;
        }
    }
    return NULL;
}

/* The lock has just become free of writers (and of readers, if a writer
 * is to be let in): lets in the next writer or every queued reader. */
static void rw_grant(struct grwlock *rw)
{
    struct greenlet *w = rw->readers == 0 ? rw_first(rw, true) : NULL;
    bool readers = rw_first(rw, false) != NULL;
    if (w != NULL && (prefer_writers(rw) || !readers)) {
        rw_hand(rw, w);
    } else {
        struct greenlet *r;
        while ((r = rw_first(rw, false)) != NULL) {
            rw_hand(rw, r);
        }
    }
    green__objq_tidy(&rw->waiters);
}

static int rw_wait(struct grwlock *rw, bool writer, clockid_t clock,
                   const struct timespec *abs)
{
    struct rwwait w = {false, writer};
    rw->writers_waiting += writer;
    int r;
    do {
        r = green__objq_wait(&rw->waiters, &w.handed, clock, abs,
                             GREEN__INTR_NEVER,
                             writer ? "pthread_rwlock_wrlock on"
                                    : "pthread_rwlock_rdlock on",
                             rw);
    } while (r == -EINTR);
    rw->writers_waiting -= writer;
    if (r != 0 && writer && rw->writer == NULL &&
        rw->writers_waiting == 0) {
        rw_grant(rw); /* readers that queued behind us (writer preference) */
    }
    return r;
}

static int rw_lock(struct grwlock *rw, bool writer, bool try, clockid_t clock,
                   const struct timespec *abs)
{
    struct greenlet *self = green__self();
    if (self == NULL) {
        return -ENOMEM;
    }
    if (rw->writer == self) {
        return try ? -EBUSY : -EDEADLK;
    }
    bool free_now = writer ? rw->writer == NULL && rw->readers == 0
                           : rw->writer == NULL &&
                                 !(prefer_writers(rw) &&
                                   rw->writers_waiting > 0);
    if (free_now) {
        if (writer) {
            rw->writer = self;
        } else if (rw->readers == UINT_MAX) {
            return -EAGAIN;
        } else {
            rw->readers++;
        }
        return 0;
    }
    if (try) {
        return -EBUSY;
    }
    return rw_wait(rw, writer, clock, abs);
}

/* The timed forms check clock and deadline first, as glibc does. */
static int rw_timed(pthread_rwlock_t *rw, bool writer, clockid_t clock,
                    const struct timespec *abs)
{
    int r = green__deadline_check(clock, abs);
    return r != 0 ? -r : -rw_lock(grw(rw), writer, false, clock, abs);
}

GREEN_INTERPOSE int pthread_rwlock_init(pthread_rwlock_t *rw,
                                        const pthread_rwlockattr_t *attr)
{
    int r = GREEN_REAL(pthread_rwlock_init)(rw, attr);
    if (r == 0 && rwlock_green(rw)) {
        unsigned flags = grw(rw)->flags;
        memset(rw, 0, sizeof(*rw));
        grw(rw)->flags = flags;
    }
    return r;
}

GREEN_INTERPOSE int pthread_rwlock_destroy(pthread_rwlock_t *rw)
{
    if (!rwlock_green(rw)) {
        return GREEN_REAL(pthread_rwlock_destroy)(rw);
    }
    struct grwlock *g = grw(rw);
    return g->writer == NULL && g->readers == 0 &&
                   green__objq_empty(&g->waiters)
               ? 0
               : EBUSY;
}

GREEN_INTERPOSE int pthread_rwlock_rdlock(pthread_rwlock_t *rw)
{
    if (!rwlock_green(rw)) {
        return green__thread_on() ? shared_rwlock(rw, false, CLOCK_REALTIME, NULL)
                                   : GREEN_REAL(pthread_rwlock_rdlock)(rw);
    }
    return -rw_lock(grw(rw), false, false, CLOCK_REALTIME, NULL);
}

GREEN_INTERPOSE int pthread_rwlock_tryrdlock(pthread_rwlock_t *rw)
{
    if (!rwlock_green(rw)) {
        return GREEN_REAL(pthread_rwlock_tryrdlock)(rw);
    }
    return -rw_lock(grw(rw), false, true, CLOCK_REALTIME, NULL);
}

GREEN_INTERPOSE int pthread_rwlock_timedrdlock(pthread_rwlock_t *rw,
                                               const struct timespec *abs)
{
    if (!rwlock_green(rw)) {
        return green__thread_on()
                   ? shared_rwlock(rw, false, CLOCK_REALTIME, abs)
                   : GREEN_REAL(pthread_rwlock_timedrdlock)(rw, abs);
    }
    return rw_timed(rw, false, CLOCK_REALTIME, abs);
}

GREEN_INTERPOSE int pthread_rwlock_clockrdlock(pthread_rwlock_t *rw,
                                               clockid_t clock,
                                               const struct timespec *abs)
{
    if (!rwlock_green(rw)) {
        return green__thread_on()
                   ? shared_rwlock(rw, false, clock, abs)
                   : GREEN_REAL(pthread_rwlock_clockrdlock)(rw, clock, abs);
    }
    return rw_timed(rw, false, clock, abs);
}

GREEN_INTERPOSE int pthread_rwlock_wrlock(pthread_rwlock_t *rw)
{
    if (!rwlock_green(rw)) {
        return green__thread_on() ? shared_rwlock(rw, true, CLOCK_REALTIME, NULL)
                                   : GREEN_REAL(pthread_rwlock_wrlock)(rw);
    }
    return -rw_lock(grw(rw), true, false, CLOCK_REALTIME, NULL);
}

GREEN_INTERPOSE int pthread_rwlock_trywrlock(pthread_rwlock_t *rw)
{
    if (!rwlock_green(rw)) {
        return GREEN_REAL(pthread_rwlock_trywrlock)(rw);
    }
    return -rw_lock(grw(rw), true, true, CLOCK_REALTIME, NULL);
}

GREEN_INTERPOSE int pthread_rwlock_timedwrlock(pthread_rwlock_t *rw,
                                               const struct timespec *abs)
{
    if (!rwlock_green(rw)) {
        return green__thread_on()
                   ? shared_rwlock(rw, true, CLOCK_REALTIME, abs)
                   : GREEN_REAL(pthread_rwlock_timedwrlock)(rw, abs);
    }
    return rw_timed(rw, true, CLOCK_REALTIME, abs);
}

GREEN_INTERPOSE int pthread_rwlock_clockwrlock(pthread_rwlock_t *rw,
                                               clockid_t clock,
                                               const struct timespec *abs)
{
    if (!rwlock_green(rw)) {
        return green__thread_on()
                   ? shared_rwlock(rw, true, clock, abs)
                   : GREEN_REAL(pthread_rwlock_clockwrlock)(rw, clock, abs);
    }
    return rw_timed(rw, true, clock, abs);
}

GREEN_INTERPOSE int pthread_rwlock_unlock(pthread_rwlock_t *rw)
{
    if (!rwlock_green(rw)) {
        return GREEN_REAL(pthread_rwlock_unlock)(rw);
    }
    struct grwlock *g = grw(rw);
    struct green__thread *t = green__thread_peek();
    if (g->writer != NULL) {
        if (t == NULL || g->writer != t->current) {
            return EPERM;
        }
        g->writer = NULL;
        rw_grant(g);
        return 0;
    }
    if (g->readers == 0) {
        return EPERM;
    }
    if (--g->readers == 0) {
        rw_grant(g);
    }
    return 0;
}

/* --- barriers -------------------------------------------------------------- */

#define BARRIER_MAGIC 0x6772626eu /* "grbn" */

/* glibc keeps `shared` at offset 12 of its private layout, 0 for a
 * process-shared barrier: never our magic. */
struct gbarrier {
    unsigned count;               /* threads per round */
    unsigned arrived;             /* waiting in this round */
    unsigned round;               /* rounds completed */
    unsigned magic;               /* BARRIER_MAGIC */
    struct green__waitq waiters;  /* this round's waiters */
};

_Static_assert(sizeof(struct gbarrier) <= sizeof(pthread_barrier_t),
               "a green barrier fits in pthread_barrier_t");
_Static_assert(_Alignof(struct gbarrier) <= _Alignof(pthread_barrier_t),
               "and is aligned like it");

static inline struct gbarrier *gb(pthread_barrier_t *b)
{
    return (struct gbarrier *)(void *)b;
}

static inline bool barrier_green(pthread_barrier_t *b)
{
    return green__thread_on() && gb(b)->magic == BARRIER_MAGIC;
}

GREEN_INTERPOSE int pthread_barrier_init(pthread_barrier_t *b,
                                         const pthread_barrierattr_t *attr,
                                         unsigned count)
{
    int pshared = PTHREAD_PROCESS_PRIVATE;
    if (attr != NULL) {
        pthread_barrierattr_getpshared(attr, &pshared);
    }
    if (!green__thread_on() || pshared != PTHREAD_PROCESS_PRIVATE) {
        return GREEN_REAL(pthread_barrier_init)(b, attr, count);
    }
    if (count == 0 || count > INT_MAX) {
        return EINVAL;
    }
    memset(b, 0, sizeof(*b));
    gb(b)->count = count;
    gb(b)->magic = BARRIER_MAGIC;
    return 0;
}

GREEN_INTERPOSE int pthread_barrier_destroy(pthread_barrier_t *b)
{
    if (!barrier_green(b)) {
        return GREEN_REAL(pthread_barrier_destroy)(b);
    }
    if (gb(b)->arrived != 0) {
        return EBUSY;
    }
    gb(b)->magic = 0;
    return 0;
}

GREEN_INTERPOSE int pthread_barrier_wait(pthread_barrier_t *pb)
{
    if (!barrier_green(pb)) {
        int r;
        if (shared_green() && /* process-shared: glibc's, on a worker */
            shared_on_worker(SH_BARRIER, pb, CLOCK_REALTIME, NULL, &r)) {
            return r;
        }
        return GREEN_REAL(pthread_barrier_wait)(pb);
    }
    struct gbarrier *b = gb(pb);
    if (++b->arrived == b->count) {
        b->arrived = 0;
        b->round++;
        green__objq_wake_all(&b->waiters);
        return PTHREAD_BARRIER_SERIAL_THREAD;
    }
    unsigned round = b->round;
    while (b->round == round) { /* only the round's end wakes us */
        int r = green__objq_wait(&b->waiters, NULL, CLOCK_MONOTONIC, NULL,
                                 GREEN__INTR_NEVER, "pthread_barrier_wait on",
                                 b);
        if (r == -EDEADLK || r == -ENOMEM) {
            green__thread_deadlock("pthread_barrier_wait");
        }
    }
    return 0;
}
