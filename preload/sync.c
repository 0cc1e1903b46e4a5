/* Green mutexes, condition variables, rwlocks and barriers, in the bytes
 * of glibc's own types (see thread.h for the layout rule), plus the
 * parking and deadline helpers the thread family shares.
 *
 * Fairness is lib/lock.c's hand-off: an unlock with waiters does not make
 * the lock free, it makes the first waiter the owner and wakes it; a
 * waiter that timed out has already left the queue (green__hub_wake
 * unlinks it), so it is never handed a lock it will not know it has.
 *
 * Process-shared objects keep glibc's layout and go to libc, told apart
 * by glibc's own marks: the mutex kind's PSHARED bit, bit 0 of a
 * condition variable's __wrefs, a rwlock's __shared, and for barriers
 * (whose layout is private to glibc) the absence of our magic. They block
 * the OS thread, as they must: the other side is another process.
 *
 * What may wait and how it fails: a mutex lock never fails with EINTR;
 * a condition wait may wake spuriously instead; nothing here fails with
 * ECANCELED (the waits are shielded from green_kill). A wait that nothing
 * could ever end returns EDEADLK where POSIX lists it (mutex, rwlock) and
 * stops the program with the hub's report where it does not. */
#include "thread.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- shared: deadlines and parking ------------------------------------- */

int green__deadline_check(clockid_t clock, const struct timespec *abs)
{
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) {
        return -EINVAL;
    }
    return abs->tv_nsec >= 0 && abs->tv_nsec < 1000000000L ? 0 : -EINVAL;
}

/* Seconds from now until abs on clock; <= 0 once it has passed. */
static double seconds_left(clockid_t clock, const struct timespec *abs)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (double)(abs->tv_sec - now.tv_sec) +
           (double)(abs->tv_nsec - now.tv_nsec) * 1e-9;
}

int green__objq_wait(struct green__waitq *q, bool *handed, clockid_t clock,
                     const struct timespec *abs, int intr, const char *what,
                     const void *obj)
{
    struct greenlet *self = green__self();
    if (self == NULL) {
        return -ENOMEM;
    }
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    if (handed != NULL) {
        *handed = false;
    }
    int r;
    for (;;) {
        double left = abs != NULL ? seconds_left(clock, abs) : GREEN_FOREVER;
        if (left <= 0.0) {
            r = -ETIMEDOUT;
            break;
        }
        self->wait_data = handed;
        green__waitq_push(green__objq_get(q), self);
        r = green__hub_park_intr(left, what, obj, intr);
        if (green__link_linked(&self->wait)) {
            green__link_remove(&self->wait);
        }
        self->wait_data = NULL;
        green__objq_tidy(q);
        if (handed != NULL && *handed) {
            r = 0; /* the first event wins: it has the resource */
            break;
        }
        /* The hub's clock is monotonic; the deadline's may be another. */
        if (r != -ETIMEDOUT || abs == NULL) {
            break;
        }
    }
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    return r == -EPERM ? -EDEADLK : r; /* -EPERM: the hub itself */
}

_Noreturn void green__thread_deadlock(const char *fn)
{
    fprintf(stderr, "libgreen: %s can never return (see the report above); "
                    "aborting\n", fn);
    abort();
}

/* --- mutexes --------------------------------------------------------------- */

/* glibc's mutex kind: the type in the low bits, flags above. */
#define KIND_TYPE_MASK 3
#define KIND_PSHARED 128 /* PTHREAD_MUTEX_PSHARED_BIT */
#define KIND_DESTROYED (-1)

struct gmutex {
    struct greenlet *owner;       /* holder, or NULL */
    unsigned count;               /* times the holder took it (recursive) */
    unsigned spare0;
    int kind;                     /* glibc's __kind: static initialisers
                                     set it; -1 once destroyed */
    unsigned spare1;
    struct green__waitq waiters;  /* FIFO; zero bytes when empty */
};

_Static_assert(offsetof(struct gmutex, kind) ==
                   offsetof(pthread_mutex_t, __data.__kind),
               "the kind stays where glibc's initialisers put it");
_Static_assert(sizeof(struct gmutex) <= sizeof(pthread_mutex_t),
               "a green mutex fits in pthread_mutex_t");
_Static_assert(_Alignof(struct gmutex) <= _Alignof(pthread_mutex_t),
               "and is aligned like it");

static inline struct gmutex *gm(pthread_mutex_t *m)
{
    return (struct gmutex *)(void *)m;
}

/* Whether m is ours: the family is patched and m is not process-shared. */
static inline bool mutex_green(pthread_mutex_t *m)
{
    int kind = gm(m)->kind;
    return green__thread_on() &&
           (kind == KIND_DESTROYED || (kind & KIND_PSHARED) == 0);
}

/* Locks m, waiting unless try, until abs on clock if abs is given. */
static int mutex_lock(struct gmutex *m, bool try, clockid_t clock,
                      const struct timespec *abs)
{
    if (m->kind == KIND_DESTROYED) {
        return -EINVAL;
    }
    struct greenlet *self = green__self();
    if (self == NULL) {
        return -ENOMEM;
    }
    if (m->owner == NULL) {
        m->owner = self;
        m->count = 1;
        return 0;
    }
    int type = m->kind & KIND_TYPE_MASK;
    if (m->owner == self && type == PTHREAD_MUTEX_RECURSIVE) {
        if (m->count == UINT_MAX) {
            return -EAGAIN;
        }
        m->count++;
        return 0;
    }
    if (try) {
        return -EBUSY;
    }
    if (m->owner == self && type == PTHREAD_MUTEX_ERRORCHECK) {
        return -EDEADLK;
    }
    /* glibc checks the deadline only when it has to wait. */
    int r = abs != NULL ? green__deadline_check(clock, abs) : 0;
    if (r != 0) {
        return r;
    }
    bool handed;
    do {
        r = green__objq_wait(&m->waiters, &handed, clock, abs,
                             GREEN__INTR_NEVER, "pthread_mutex_lock on", m);
    } while (r == -EINTR);
    return r; /* 0: the unlocker made us the owner */
}

/* Gives m up: to the first waiter, if any. */
static void mutex_release(struct gmutex *m)
{
    m->owner = green__objq_handoff(&m->waiters);
    m->count = m->owner != NULL ? 1 : 0;
}

static int mutex_unlock(struct gmutex *m)
{
    if (m->kind == KIND_DESTROYED) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_peek();
    struct greenlet *self = t != NULL ? t->current : NULL;
    int type = m->kind & KIND_TYPE_MASK;
    if (m->owner != self || m->owner == NULL) {
        if (type == PTHREAD_MUTEX_RECURSIVE ||
            type == PTHREAD_MUTEX_ERRORCHECK) {
            return -EPERM;
        }
        if (m->owner == NULL) {
            return 0; /* glibc does not check a normal mutex either */
        }
    }
    if (type == PTHREAD_MUTEX_RECURSIVE && --m->count > 0) {
        return 0;
    }
    mutex_release(m);
    return 0;
}

GREEN_INTERPOSE int pthread_mutex_init(pthread_mutex_t *m,
                                       const pthread_mutexattr_t *attr)
{
    /* libc validates attr and writes its layout: all zero but the kind,
     * which is an idle green mutex too. */
    int r = GREEN_REAL(pthread_mutex_init)(m, attr);
    if (r == 0 && mutex_green(m)) {
        int kind = gm(m)->kind;
        memset(m, 0, sizeof(*m));
        gm(m)->kind = kind;
    }
    return r;
}

GREEN_INTERPOSE int pthread_mutex_destroy(pthread_mutex_t *m)
{
    if (!mutex_green(m)) {
        return GREEN_REAL(pthread_mutex_destroy)(m);
    }
    struct gmutex *g = gm(m);
    if (g->owner != NULL || !green__objq_empty(&g->waiters)) {
        return EBUSY;
    }
    g->kind = KIND_DESTROYED; /* as glibc: later use is EINVAL */
    return 0;
}

GREEN_INTERPOSE int pthread_mutex_lock(pthread_mutex_t *m)
{
    if (!mutex_green(m)) {
        return GREEN_REAL(pthread_mutex_lock)(m);
    }
    return -mutex_lock(gm(m), false, CLOCK_REALTIME, NULL);
}

GREEN_INTERPOSE int pthread_mutex_trylock(pthread_mutex_t *m)
{
    if (!mutex_green(m)) {
        return GREEN_REAL(pthread_mutex_trylock)(m);
    }
    return -mutex_lock(gm(m), true, CLOCK_REALTIME, NULL);
}

GREEN_INTERPOSE int pthread_mutex_timedlock(pthread_mutex_t *m,
                                            const struct timespec *abs)
{
    if (!mutex_green(m)) {
        return GREEN_REAL(pthread_mutex_timedlock)(m, abs);
    }
    return -mutex_lock(gm(m), false, CLOCK_REALTIME, abs);
}

GREEN_INTERPOSE int pthread_mutex_clocklock(pthread_mutex_t *m,
                                            clockid_t clock,
                                            const struct timespec *abs)
{
    if (!mutex_green(m)) {
        return GREEN_REAL(pthread_mutex_clocklock)(m, clock, abs);
    }
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) {
        return EINVAL; /* glibc checks the clock first */
    }
    return -mutex_lock(gm(m), false, clock, abs);
}

GREEN_INTERPOSE int pthread_mutex_unlock(pthread_mutex_t *m)
{
    if (!mutex_green(m)) {
        return GREEN_REAL(pthread_mutex_unlock)(m);
    }
    return -mutex_unlock(gm(m));
}

/* --- condition variables --------------------------------------------------- */

/* glibc's __wrefs bits that pthread_cond_init sets. */
#define WREFS_PSHARED 1u
#define WREFS_MONOTONIC 2u

struct gcond {
    struct green__waitq waiters;  /* FIFO; zero bytes when empty */
    unsigned char spare[offsetof(pthread_cond_t, __data.__wrefs) -
                        sizeof(struct green__waitq)];
    unsigned wrefs;               /* glibc's __wrefs: only the two bits
                                     above, set by pthread_cond_init */
};

_Static_assert(offsetof(struct gcond, wrefs) ==
                   offsetof(pthread_cond_t, __data.__wrefs),
               "the clock and pshared bits stay where glibc keeps them");
_Static_assert(sizeof(struct gcond) <= sizeof(pthread_cond_t),
               "a green condition variable fits in pthread_cond_t");
_Static_assert(_Alignof(struct gcond) <= _Alignof(pthread_cond_t),
               "and is aligned like it");

static inline struct gcond *gc(pthread_cond_t *c)
{
    return (struct gcond *)(void *)c;
}

static inline bool cond_green(pthread_cond_t *c)
{
    return green__thread_on() && (gc(c)->wrefs & WREFS_PSHARED) == 0;
}

/* Unlocks m, waits on c until signalled or abs on clock, and locks m
 * again before returning, whatever happened. */
static int cond_wait(struct gcond *c, pthread_mutex_t *pm, clockid_t clock,
                     const struct timespec *abs)
{
    struct gmutex *m = gm(pm);
    if (!mutex_green(pm) || m->kind == KIND_DESTROYED ||
        (abs != NULL && green__deadline_check(clock, abs) != 0)) {
        return -EINVAL;
    }
    struct greenlet *self = green__self();
    if (self == NULL) {
        return -ENOMEM;
    }
    int type = m->kind & KIND_TYPE_MASK;
    if (m->owner != self && (type == PTHREAD_MUTEX_RECURSIVE ||
                             type == PTHREAD_MUTEX_ERRORCHECK)) {
        return -EPERM; /* glibc's unlock would refuse */
    }
    /* Neither step switches, so no signal can slip between them. A
     * recursive mutex is released in full and retaken as deep. */
    unsigned depth = m->count;
    mutex_release(m);
    int r = green__objq_wait(&c->waiters, NULL, clock, abs,
                             GREEN__INTR_NEVER, "pthread_cond_wait on", c);
    if (r == -EDEADLK || r == -ENOMEM) {
        green__thread_deadlock("pthread_cond_wait");
    }
    int again;
    do {
        again = mutex_lock(m, false, CLOCK_REALTIME, NULL);
    } while (again == -EINTR);
    if (again != 0) {
        green__thread_deadlock("pthread_cond_wait (taking the mutex back)");
    }
    m->count = depth != 0 ? depth : 1;
    return r == -EINTR ? 0 : r; /* a signal: a spurious wake-up */
}

GREEN_INTERPOSE int pthread_cond_init(pthread_cond_t *c,
                                      const pthread_condattr_t *attr)
{
    /* libc writes its layout: zero but the clock and pshared bits. */
    int r = GREEN_REAL(pthread_cond_init)(c, attr);
    if (r == 0 && cond_green(c)) {
        unsigned wrefs = gc(c)->wrefs;
        memset(c, 0, sizeof(*c));
        gc(c)->wrefs = wrefs & (WREFS_PSHARED | WREFS_MONOTONIC);
    }
    return r;
}

GREEN_INTERPOSE int pthread_cond_destroy(pthread_cond_t *c)
{
    if (!cond_green(c)) {
        return GREEN_REAL(pthread_cond_destroy)(c);
    }
    return green__objq_empty(&gc(c)->waiters) ? 0 : EBUSY;
}

GREEN_INTERPOSE int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
{
    if (!cond_green(c)) {
        return GREEN_REAL(pthread_cond_wait)(c, m);
    }
    return -cond_wait(gc(c), m, CLOCK_REALTIME, NULL);
}

GREEN_INTERPOSE int pthread_cond_timedwait(pthread_cond_t *c,
                                           pthread_mutex_t *m,
                                           const struct timespec *abs)
{
    if (!cond_green(c)) {
        return GREEN_REAL(pthread_cond_timedwait)(c, m, abs);
    }
    clockid_t clock =
        gc(c)->wrefs & WREFS_MONOTONIC ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    return -cond_wait(gc(c), m, clock, abs);
}

GREEN_INTERPOSE int pthread_cond_clockwait(pthread_cond_t *c,
                                           pthread_mutex_t *m,
                                           clockid_t clock,
                                           const struct timespec *abs)
{
    if (!cond_green(c)) {
        return GREEN_REAL(pthread_cond_clockwait)(c, m, clock, abs);
    }
    return -cond_wait(gc(c), m, clock, abs);
}

GREEN_INTERPOSE int pthread_cond_signal(pthread_cond_t *c)
{
    if (!cond_green(c)) {
        return GREEN_REAL(pthread_cond_signal)(c);
    }
    struct greenlet *g = green__objq_pop(&gc(c)->waiters);
    if (g != NULL) {
        green__hub_wake(g, 0);
    }
    return 0;
}

GREEN_INTERPOSE int pthread_cond_broadcast(pthread_cond_t *c)
{
    if (!cond_green(c)) {
        return GREEN_REAL(pthread_cond_broadcast)(c);
    }
    green__objq_wake_all(&gc(c)->waiters);
    return 0;
}

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
        return GREEN_REAL(pthread_rwlock_rdlock)(rw);
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
        return GREEN_REAL(pthread_rwlock_timedrdlock)(rw, abs);
    }
    return rw_timed(rw, false, CLOCK_REALTIME, abs);
}

GREEN_INTERPOSE int pthread_rwlock_clockrdlock(pthread_rwlock_t *rw,
                                               clockid_t clock,
                                               const struct timespec *abs)
{
    if (!rwlock_green(rw)) {
        return GREEN_REAL(pthread_rwlock_clockrdlock)(rw, clock, abs);
    }
    return rw_timed(rw, false, clock, abs);
}

GREEN_INTERPOSE int pthread_rwlock_wrlock(pthread_rwlock_t *rw)
{
    if (!rwlock_green(rw)) {
        return GREEN_REAL(pthread_rwlock_wrlock)(rw);
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
        return GREEN_REAL(pthread_rwlock_timedwrlock)(rw, abs);
    }
    return rw_timed(rw, true, CLOCK_REALTIME, abs);
}

GREEN_INTERPOSE int pthread_rwlock_clockwrlock(pthread_rwlock_t *rw,
                                               clockid_t clock,
                                               const struct timespec *abs)
{
    if (!rwlock_green(rw)) {
        return GREEN_REAL(pthread_rwlock_clockwrlock)(rw, clock, abs);
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
