/* SPDX-License-Identifier: MIT */
/* Green mutexes and condition variables, in the bytes of glibc's own
 * types (see thread.h for the layout rule); rwlocks and barriers are in
 * rwlock.c. Every wait parks through park.c's green__objq_wait, as the
 * whole thread family's waits do.
 *
 * Fairness is lib/lock.c's hand-off: an unlock with waiters does not make
 * the lock free, it makes the first waiter the owner and wakes it; a
 * waiter that timed out has already left the queue (green__hub_wake
 * unlinks it), so it is never handed a lock it will not know it has.
 *
 * Process-shared and robust objects keep glibc's layout and protocol,
 * told apart by glibc's own marks (the mutex kind's PSHARED and ROBUST
 * bits, bit 0 of a condition variable's __wrefs), since another process,
 * the kernel or a native thread may be the other side: such mutexes wait
 * on glibc's futex word through lib/futex.c, such condition variables in
 * glibc's own wait made on a worker (both sections below say how); the OS
 * thread never blocks. Priority-inheritance and -protection mutexes of
 * those kinds stay libc's and block it.
 *
 * What may wait and how it fails: a mutex lock never fails with EINTR;
 * a condition wait may wake spuriously instead; nothing here fails with
 * ECANCELED (the waits are shielded from green_kill). A wait that nothing
 * could ever end returns EDEADLK where POSIX lists it (mutex) and stops
 * the program with the hub's report where it does not (condition
 * waits). */
#include "thread.h"

#include "cancel.h"
#include "cycle.h"
#include "futex.h"
#include "rawsys.h"
#include "workers.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Where m is handled: libc's (another OS thread, or a process-shared or
 * robust mutex with priority inheritance or protection), a green queue
 * (every other private mutex), or glibc's word protocol with green waits
 * (process-shared and robust ones: see below). */
enum { MX_LIBC, MX_GREEN, MX_WORD };

#define KIND_ROBUST 16            /* PTHREAD_MUTEX_ROBUST_NORMAL_NP */
#define KIND_PI_PP (32 | 64)      /* priority inheritance / protection */

static inline int mutex_class(pthread_mutex_t *m)
{
    int kind = gm(m)->kind;
    if (!green__thread_on()) {
        return MX_LIBC;
    }
    if (kind == KIND_DESTROYED || (kind & (KIND_PSHARED | KIND_ROBUST)) == 0) {
        return MX_GREEN;
    }
    return kind & KIND_PI_PP ? MX_LIBC : MX_WORD;
}

static inline bool mutex_green(pthread_mutex_t *m)
{
    return mutex_class(m) == MX_GREEN;
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
    /* While parked it waits for the owner: a wait that closes a cycle
     * is reported (lib/cycle.c) and goes on, as natively. */
    struct greenlet *const *prev = self->wait_owner;
    self->wait_owner = &m->owner;
    green__cycle_closes(self, m->owner, "pthread_mutex_lock on", m,
                        GREEN__CYCLE_WAIT);
    bool handed;
    do {
        r = green__objq_wait(&m->waiters, &handed, clock, abs,
                             GREEN__INTR_NEVER, "pthread_mutex_lock on", m);
    } while (r == -EINTR);
    self->wait_owner = prev;
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

/* --- mutexes in glibc's word protocol (process-shared, robust) ------------ */

/* A process-shared or robust mutex may be locked by another process, by
 * the kernel (a robust owner's death), or by a native OS thread of this
 * one, so it keeps glibc's word protocol rather than a green queue, and
 * its waits park on the word through lib/futex.c (green__futex), which
 * polls a word other parties may change and still wakes the kernel's
 * waiters:
 *  - not robust: __lock is 0 free, 1 held, 2 held with waiters; __owner
 *    is the holder's kernel thread id, __count the recursion depth;
 *  - robust: __lock is the holder's kernel thread id, with FUTEX_WAITERS
 *    when someone may wait and FUTEX_OWNER_DIED once the holder died;
 *    __owner says INCONSISTENT (locked with EOWNERDEAD, not yet made
 *    consistent) or NOTRECOVERABLE; a held robust mutex is on the OS
 *    thread's robust list (the kernel's, get_robust_list), so that the
 *    kernel marks it FUTEX_OWNER_DIED when the process dies.
 * Green threads of one OS thread share its kernel id, so the id alone
 * cannot say which of them holds a mutex: each green pthread also has a
 * 32-bit owner number of its own (kept in a thread-specific key, made at
 * its first such lock, never 0), stored in __spins/__elision, which
 * glibc leaves alone for these kinds. "Held by me" is the kernel id and
 * the number both; another process never has our kernel id, and the
 * kernel, another process and glibc see only what glibc itself writes.
 * The key's destructor runs when the green pthread ends (returns,
 * pthread_exit, cancelled): it does what the kernel does at a thread's
 * exit for each robust mutex the thread still holds (FUTEX_OWNER_DIED,
 * one waiter woken), so the next locker gets EOWNERDEAD. */

#define OWNER_INCONSISTENT INT_MAX
#define OWNER_NOTRECOVERABLE (INT_MAX - 1)

#if defined(__x86_64__)
_Static_assert(offsetof(pthread_mutex_t, __data.__elision) ==
                   offsetof(pthread_mutex_t, __data.__spins) + 2,
               "__spins and __elision make one 32-bit word");
#else
_Static_assert(sizeof(((pthread_mutex_t *)0)->__data.__spins) == 4,
               "__spins is one 32-bit word (glibc's generic layout)");
#endif

static inline uint32_t *word_of(pthread_mutex_t *m)
{
    return (uint32_t *)(void *)&m->__data.__lock;
}

static inline uint32_t *number_of(pthread_mutex_t *m)
{
    return (uint32_t *)(void *)&m->__data.__spins;
}

static inline int futex_flags(pthread_mutex_t *m)
{
    return m->__data.__kind & KIND_PSHARED ? 0 : FUTEX_PRIVATE_FLAG;
}

/* Who is asking: the OS thread's kernel id and the green pthread's
 * owner number. */
struct who {
    pid_t tid;
    uint32_t number;
};

static pthread_key_t number_key;
static uint32_t last_number;

static void number_end(void *v);

static void number_key_make(void)
{
    pthread_key_create(&number_key, number_end);
}

static int who_am_i(struct who *me)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, number_key_make);
    me->tid = (pid_t)green__syscall(SYS_gettid);
    uintptr_t n = (uintptr_t)pthread_getspecific(number_key);
    if (n == 0) {
        do {
            n = __atomic_add_fetch(&last_number, 1, __ATOMIC_RELAXED);
        } while ((uint32_t)n == 0);
        if (pthread_setspecific(number_key, (void *)n) != 0) {
            return -ENOMEM;
        }
    }
    me->number = (uint32_t)n;
    return 0;
}

static bool robust(pthread_mutex_t *m)
{
    return (m->__data.__kind & KIND_ROBUST) != 0;
}

static bool held_by(pthread_mutex_t *m, const struct who *me)
{
    uint32_t w = __atomic_load_n(word_of(m), __ATOMIC_RELAXED);
    bool id = robust(m) ? (w & FUTEX_TID_MASK) == (uint32_t)me->tid
                        : w != 0 && m->__data.__owner == me->tid;
    return id && __atomic_load_n(number_of(m), __ATOMIC_RELAXED) == me->number;
}

/* Waits while *w is val, until abs on clock if given (checked by the
 * caller): 0 (woken, or it changed), -ETIMEDOUT, -EINTR. */
static int word_wait(pthread_mutex_t *m, uint32_t val, clockid_t clock,
                     const struct timespec *abs)
{
    int op = FUTEX_WAIT_BITSET | futex_flags(m) |
             (abs != NULL && clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME
                                                     : 0);
    if (abs != NULL && abs->tv_sec < 0) {
        return -ETIMEDOUT; /* before the epoch: passed, as glibc says */
    }
    long r = green__futex(word_of(m), op, (long)val, abs, NULL,
                          (long)FUTEX_BITSET_MATCH_ANY, true);
    return r == -ETIMEDOUT || r == -EINTR ? (int)r : 0;
}

static void word_wake(pthread_mutex_t *m)
{
    green__futex(word_of(m), FUTEX_WAKE | futex_flags(m), 1, NULL, NULL, 0,
                 false);
}

/* The kernel's robust list of this OS thread (glibc registered it at
 * the thread's start, and again in a child of fork); NULL if there is
 * none in glibc's form, and robust mutexes are then kept off it (a green
 * owner's end still marks them; a dead process's stay held). */
static struct robust_list_head *robust_head(void)
{
    struct robust_list_head *h = NULL;
    size_t len = 0;
    long r = green__syscall(SYS_get_robust_list, 0, &h, &len);
    long want = (long)offsetof(pthread_mutex_t, __data.__lock) -
                (long)offsetof(pthread_mutex_t, __data.__list.__next);
    if (r != 0 || h == NULL || len != sizeof(*h) || h->futex_offset != want) {
        return NULL;
    }
    return h;
}

static struct robust_list *entry_of(pthread_mutex_t *m)
{
    return (struct robust_list *)(void *)&m->__data.__list.__next;
}

static void robust_pending(struct robust_list_head *h, pthread_mutex_t *m)
{
    if (h != NULL) {
        __atomic_store_n(&h->list_op_pending, m ? entry_of(m) : NULL,
                         __ATOMIC_SEQ_CST);
    }
}

static void robust_enqueue(struct robust_list_head *h, pthread_mutex_t *m)
{
    if (h != NULL) {
        struct robust_list *e = entry_of(m);
        e->next = h->list.next;
        __atomic_store_n(&h->list.next, e, __ATOMIC_SEQ_CST);
    }
}

static void robust_dequeue(struct robust_list_head *h, pthread_mutex_t *m)
{
    struct robust_list *e = entry_of(m);
    for (struct robust_list *p = h != NULL ? &h->list : NULL;
         p != NULL && p->next != &h->list; p = p->next) {
        if (p->next == e) {
            __atomic_store_n(&p->next, e->next, __ATOMIC_SEQ_CST);
            return;
        }
    }
}

/* Takes the robust m for me; the caller has checked it is not mine. */
static int robust_lock(pthread_mutex_t *m, const struct who *me, bool try,
                       clockid_t clock, const struct timespec *abs)
{
    struct robust_list_head *h = robust_head();
    robust_pending(h, m);
    uint32_t *w = word_of(m);
    uint32_t keep = 0; /* FUTEX_WAITERS once we may have shared it */
    bool checked = false;
    int r = 0;
    for (;;) {
        uint32_t old = __atomic_load_n(w, __ATOMIC_RELAXED);
        if (old == 0 || (old & FUTEX_OWNER_DIED)) {
            uint32_t neu = (uint32_t)me->tid | keep | (old & FUTEX_WAITERS);
            if (!__atomic_compare_exchange_n(w, &old, neu, false,
                                             __ATOMIC_ACQUIRE,
                                             __ATOMIC_RELAXED)) {
                continue;
            }
            r = old & FUTEX_OWNER_DIED ? -EOWNERDEAD : 0;
            break;
        }
        if (try) {
            robust_pending(h, NULL);
            return -EBUSY;
        }
        if (!checked && abs != NULL &&
            (r = green__deadline_check(clock, abs)) != 0) {
            robust_pending(h, NULL);
            return r;
        }
        checked = true;
        if (!(old & FUTEX_WAITERS) &&
            !__atomic_compare_exchange_n(w, &old, old | FUTEX_WAITERS, false,
                                         __ATOMIC_RELAXED,
                                         __ATOMIC_RELAXED)) {
            continue;
        }
        keep = FUTEX_WAITERS;
        if (word_wait(m, old | FUTEX_WAITERS, clock, abs) == -ETIMEDOUT) {
            robust_pending(h, NULL);
            return -ETIMEDOUT;
        }
    }
    __atomic_store_n(number_of(m), me->number, __ATOMIC_RELAXED);
    if (r == 0 && m->__data.__owner == OWNER_NOTRECOVERABLE) {
        m->__data.__count = 0;
        __atomic_store_n(number_of(m), 0, __ATOMIC_RELAXED);
        if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) & FUTEX_WAITERS) {
            word_wake(m);
        }
        robust_pending(h, NULL);
        return -ENOTRECOVERABLE;
    }
    m->__data.__count = 1;
    robust_enqueue(h, m);
    robust_pending(h, NULL);
    if (r == -EOWNERDEAD) {
        m->__data.__owner = OWNER_INCONSISTENT;
        return r; /* the dead owner stays counted in __nusers, as glibc */
    }
    m->__data.__owner = me->tid;
    m->__data.__nusers++;
    return 0;
}

/* Takes the non-robust m (glibc's 0 / 1 / 2 word). */
static int plain_lock(pthread_mutex_t *m, const struct who *me, bool try,
                      clockid_t clock, const struct timespec *abs)
{
    uint32_t *w = word_of(m);
    uint32_t zero = 0;
    if (!__atomic_compare_exchange_n(w, &zero, 1, false, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED)) {
        if (try) {
            return -EBUSY;
        }
        int r = abs != NULL ? green__deadline_check(clock, abs) : 0;
        if (r != 0) {
            return r;
        }
        while (__atomic_exchange_n(w, 2, __ATOMIC_ACQUIRE) != 0) {
            if (word_wait(m, 2, clock, abs) == -ETIMEDOUT) {
                return -ETIMEDOUT;
            }
        }
    }
    m->__data.__owner = me->tid;
    __atomic_store_n(number_of(m), me->number, __ATOMIC_RELAXED);
    m->__data.__count = 1;
    m->__data.__nusers++;
    return 0;
}

static int word_lock(pthread_mutex_t *m, bool try, clockid_t clock,
                     const struct timespec *abs)
{
    struct who me;
    if (who_am_i(&me) != 0) {
        return -ENOMEM;
    }
    int type = m->__data.__kind & KIND_TYPE_MASK;
    if (held_by(m, &me)) {
        if (type == PTHREAD_MUTEX_RECURSIVE) {
            if (m->__data.__count == UINT_MAX) {
                return -EAGAIN;
            }
            m->__data.__count++;
            return 0;
        }
        /* glibc: a robust error-checking mutex says EDEADLK even to
         * trylock, a plain one EBUSY; a normal one deadlocks (trylock:
         * EBUSY). */
        if (type == PTHREAD_MUTEX_ERRORCHECK && (robust(m) || !try)) {
            return -EDEADLK;
        }
    }
    return robust(m) ? robust_lock(m, &me, try, clock, abs)
                     : plain_lock(m, &me, try, clock, abs);
}

static int word_unlock(pthread_mutex_t *m)
{
    struct who me;
    if (who_am_i(&me) != 0) {
        return -ENOMEM;
    }
    int type = m->__data.__kind & KIND_TYPE_MASK;
    bool mine = held_by(m, &me);
    if (!mine && (robust(m) || type != PTHREAD_MUTEX_NORMAL)) {
        return -EPERM;
    }
    if (type == PTHREAD_MUTEX_RECURSIVE && --m->__data.__count != 0) {
        return 0;
    }
    uint32_t *w = word_of(m);
    __atomic_store_n(number_of(m), 0, __ATOMIC_RELAXED);
    if (!robust(m)) {
        m->__data.__owner = 0;
        m->__data.__nusers--;
        if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) > 1) {
            word_wake(m);
        }
        return 0;
    }
    struct robust_list_head *h = robust_head();
    robust_pending(h, m);
    robust_dequeue(h, m);
    m->__data.__owner = m->__data.__owner == OWNER_INCONSISTENT
                            ? OWNER_NOTRECOVERABLE
                            : 0;
    m->__data.__nusers--;
    if (__atomic_exchange_n(w, 0, __ATOMIC_RELEASE) & FUTEX_WAITERS) {
        word_wake(m);
    }
    robust_pending(h, NULL);
    return 0;
}

/* A green pthread with an owner number ends: each robust mutex it still
 * holds is left as the kernel leaves a dead thread's. */
static void number_end(void *v)
{
    struct robust_list_head *h = robust_head();
    uint32_t number = (uint32_t)(uintptr_t)v;
    uint32_t tid = (uint32_t)green__syscall(SYS_gettid);
    for (struct robust_list *p = h != NULL ? &h->list : NULL;
         p != NULL && p->next != &h->list;) {
        pthread_mutex_t *m = (pthread_mutex_t *)(void *)((char *)p->next -
            offsetof(pthread_mutex_t, __data.__list.__next));
        uint32_t *w = word_of(m);
        uint32_t old = __atomic_load_n(w, __ATOMIC_RELAXED);
        if ((old & FUTEX_TID_MASK) != tid ||
            __atomic_load_n(number_of(m), __ATOMIC_RELAXED) != number) {
            p = p->next;
            continue;
        }
        p->next = p->next->next; /* off the list; p stays */
        __atomic_store_n(number_of(m), 0, __ATOMIC_RELAXED);
        while (!__atomic_compare_exchange_n(
            w, &old, (old & FUTEX_WAITERS) | FUTEX_OWNER_DIED, false,
            __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
        }
        if (old & FUTEX_WAITERS) {
            word_wake(m);
        }
    }
}

GREEN_INTERPOSE int pthread_mutex_consistent(pthread_mutex_t *m)
{
    /* glibc's test, with the kernel's id (the OS thread's). */
    if (!(m->__data.__kind & KIND_ROBUST) || m->__data.__kind == KIND_DESTROYED ||
        m->__data.__owner != OWNER_INCONSISTENT) {
        return EINVAL;
    }
    m->__data.__owner = (pid_t)green__syscall(SYS_gettid);
    return 0;
}

GREEN_INTERPOSE int pthread_mutex_init(pthread_mutex_t *m,
                                       const pthread_mutexattr_t *attr)
{
    /* libc validates attr and writes its layout: all zero but the kind,
     * which is an idle green mutex too (and glibc's own for the word
     * protocol). */
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
        return GREEN_REAL(pthread_mutex_destroy)(m); /* never waits */
    }
    struct gmutex *g = gm(m);
    if (g->owner != NULL || !green__objq_empty(&g->waiters)) {
        return EBUSY;
    }
    g->kind = KIND_DESTROYED; /* as glibc: later use is EINVAL */
    return 0;
}

/* The lock calls, wherever m is handled. */
static int lock_any(pthread_mutex_t *m, bool try, clockid_t clock,
                    const struct timespec *abs)
{
    switch (mutex_class(m)) {
    case MX_GREEN:
        return mutex_lock(gm(m), try, clock, abs);
    case MX_WORD:
        return word_lock(m, try, clock, abs);
    default:
        break;
    }
    if (try) {
        return -GREEN_REAL(pthread_mutex_trylock)(m);
    }
    if (abs == NULL) {
        return -GREEN_REAL(pthread_mutex_lock)(m);
    }
    return -GREEN_REAL(pthread_mutex_clocklock)(m, clock, abs);
}

GREEN_INTERPOSE int pthread_mutex_lock(pthread_mutex_t *m)
{
    return -lock_any(m, false, CLOCK_REALTIME, NULL);
}

GREEN_INTERPOSE int pthread_mutex_trylock(pthread_mutex_t *m)
{
    return -lock_any(m, true, CLOCK_REALTIME, NULL);
}

GREEN_INTERPOSE int pthread_mutex_timedlock(pthread_mutex_t *m,
                                            const struct timespec *abs)
{
    if (mutex_class(m) == MX_LIBC) {
        return GREEN_REAL(pthread_mutex_timedlock)(m, abs);
    }
    return -lock_any(m, false, CLOCK_REALTIME, abs);
}

GREEN_INTERPOSE int pthread_mutex_clocklock(pthread_mutex_t *m,
                                            clockid_t clock,
                                            const struct timespec *abs)
{
    if (mutex_class(m) == MX_LIBC) {
        return GREEN_REAL(pthread_mutex_clocklock)(m, clock, abs);
    }
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) {
        return EINVAL; /* glibc checks the clock first */
    }
    return -lock_any(m, false, clock, abs);
}

GREEN_INTERPOSE int pthread_mutex_unlock(pthread_mutex_t *m)
{
    switch (mutex_class(m)) {
    case MX_GREEN:
        return -mutex_unlock(gm(m));
    case MX_WORD:
        return -word_unlock(m);
    default:
        return GREEN_REAL(pthread_mutex_unlock)(m);
    }
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

/* Gives m up in full for a condition wait (a recursive mutex however
 * deep: *depth says how deep). -EPERM where glibc's unlock would refuse
 * (not the holder of an error-checking, recursive or robust mutex),
 * -EINVAL for a mutex that cannot be waited with here. dry: only says
 * whether it could. Never switches. */
static int mutex_give(pthread_mutex_t *pm, unsigned *depth, bool dry)
{
    if (mutex_class(pm) == MX_WORD) {
        struct who me;
        if (who_am_i(&me) != 0) {
            return -ENOMEM;
        }
        int type = pm->__data.__kind & KIND_TYPE_MASK;
        if (!held_by(pm, &me) && (robust(pm) || type != PTHREAD_MUTEX_NORMAL)) {
            return -EPERM;
        }
        if (dry) {
            return 0;
        }
        *depth = pm->__data.__count;
        pm->__data.__count = 1;
        return word_unlock(pm);
    }
    struct gmutex *m = gm(pm);
    if (mutex_class(pm) != MX_GREEN || m->kind == KIND_DESTROYED) {
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
    if (!dry) {
        *depth = m->count;
        mutex_release(m);
    }
    return 0;
}

/* Takes m back after a condition wait, as deep as it was held: 0, or a
 * robust mutex's -EOWNERDEAD (held) / -ENOTRECOVERABLE (not held), which
 * the wait returns as glibc's does. */
static int mutex_retake(pthread_mutex_t *pm, unsigned depth)
{
    int r;
    do {
        r = lock_any(pm, false, CLOCK_REALTIME, NULL);
    } while (r == -EINTR);
    if (r == -ENOTRECOVERABLE) {
        return r;
    }
    if (r != 0 && r != -EOWNERDEAD) {
        green__thread_deadlock("pthread_cond_wait (taking the mutex back)");
    }
    if (mutex_class(pm) == MX_WORD) {
        pm->__data.__count = depth != 0 ? depth : 1;
    } else {
        gm(pm)->count = depth != 0 ? depth : 1;
    }
    return r;
}

/* Unlocks m, waits on c until signalled or abs on clock, and locks m
 * again before returning, whatever happened. */
static int cond_wait(struct gcond *c, pthread_mutex_t *pm, clockid_t clock,
                     const struct timespec *abs)
{
    if (abs != NULL && green__deadline_check(clock, abs) != 0) {
        return -EINVAL;
    }
    /* Neither step switches, so no signal can slip between them. */
    unsigned depth;
    int r = mutex_give(pm, &depth, false);
    if (r != 0) {
        return r;
    }
    r = green__objq_wait(&c->waiters, NULL, clock, abs,
                         GREEN__INTR_NEVER, "pthread_cond_wait on", c);
    if (r == -EDEADLK || r == -ENOMEM) {
        green__thread_deadlock("pthread_cond_wait");
    }
    int again = mutex_retake(pm, depth);
    if (again != 0) {
        return again;
    }
    return r == -EINTR ? 0 : r; /* a signal: a spurious wake-up */
}

/* --- process-shared condition variables ------------------------------------ */

/* A process-shared condition variable keeps glibc's layout and protocol
 * (its waiters and signallers may be other processes, native or
 * preloaded), and glibc's algorithm is not redone here: a green thread's
 * wait is glibc's own pthread_cond_wait, made on a worker (lib/workers.h,
 * a thread of its own while it waits) while the green thread parks, so
 * the OS thread never blocks. The wait must be registered on the
 * condition variable before the program's mutex is given up, or a signal
 * sent in between would be lost: the worker waits with a mutex of its
 * own (hm, a plain private one that the green thread locks first and
 * glibc's wait unlocks once the worker is a registered waiter), the green
 * thread gives up the program's mutex when it sees hm free, and takes it
 * back once the worker's wait has returned. Signal, broadcast, init and
 * destroy are glibc's, made in place: they never wait long (signal may
 * wait for woken workers to leave a group). A helper task (same OS
 * thread) hands the job to the pool, since the green thread itself has
 * to watch hm meanwhile. The wait is not ended by pthread_cancel (a
 * cancel pending at its start acts; one that comes during it acts at the
 * next cancellation point). */

enum { CW_WAIT, CW_TIMED, CW_CLOCK };

struct cwjob {
    struct green__job job;
    pthread_cond_t *c;
    pthread_mutex_t hm;
    int how;
    clockid_t clock;
    struct timespec abs;
    int r;                        /* the wait's answer */
    int work_r;                   /* green__work's */
    uint32_t done;                /* the helper has finished */
};

static void cw_run(struct green__job *j)
{
    struct cwjob *w = j->arg;
    switch (w->how) {
    case CW_WAIT:
        w->r = GREEN_REAL(pthread_cond_wait)(w->c, &w->hm);
        break;
    case CW_TIMED:
        w->r = GREEN_REAL(pthread_cond_timedwait)(w->c, &w->hm, &w->abs);
        break;
    default:
        w->r = GREEN_REAL(pthread_cond_clockwait)(w->c, &w->hm, w->clock,
                                                  &w->abs);
        break;
    }
    GREEN_REAL(pthread_mutex_unlock)(&w->hm);
}

static void *cw_helper(void *arg)
{
    struct cwjob *w = arg;
    w->work_r = green__work(&w->job, GREEN__JOB_WAITS);
    if (w->work_r != 0) {
        GREEN_REAL(pthread_mutex_unlock)(&w->hm); /* it never ran */
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    green__futex(&w->done, FUTEX_WAKE, INT_MAX, NULL, NULL, 0, false);
    return NULL;
}

/* Waits on *word until it is not val (polled: shared, so soon). */
static void watch_word(uint32_t *word, uint32_t val)
{
    uint32_t v;
    while ((v = __atomic_load_n(word, __ATOMIC_ACQUIRE)) == val) {
        green__futex(word, FUTEX_WAIT, (long)v, NULL, NULL, 0, true);
    }
}

static int cond_wait_shared(pthread_cond_t *c, pthread_mutex_t *pm, int how,
                            clockid_t clock, const struct timespec *abs)
{
    unsigned depth = 0;
    int r = mutex_give(pm, &depth, true);
    if (r == -EINVAL && mutex_class(pm) == MX_LIBC) {
        /* A mutex libc keeps (priority inheritance): libc's wait. */
        return how == CW_WAIT    ? -GREEN_REAL(pthread_cond_wait)(c, pm)
               : how == CW_TIMED ? -GREEN_REAL(pthread_cond_timedwait)(c, pm,
                                                                       abs)
                                 : -GREEN_REAL(pthread_cond_clockwait)(
                                       c, pm, clock, abs);
    }
    if (r != 0) {
        return r;
    }
    if (how == CW_CLOCK && clock != CLOCK_REALTIME &&
        clock != CLOCK_MONOTONIC) {
        return -EINVAL;
    }
    if (abs != NULL && (abs->tv_nsec < 0 || abs->tv_nsec >= 1000000000L)) {
        return -EINVAL;
    }
    struct cwjob *w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return -ENOMEM;
    }
    w->job.run = cw_run;
    w->job.arg = w;
    w->c = c;
    w->how = how;
    w->clock = clock;
    if (abs != NULL) {
        w->abs = *abs;
    }
    GREEN_REAL(pthread_mutex_init)(&w->hm, NULL);
    GREEN_REAL(pthread_mutex_lock)(&w->hm);
    green_spawn_opts_t o = {.name = "pthread_cond_wait (shared)",
                            .stack_size = 64 << 10};
    if (green_spawn_ex(NULL, cw_helper, w, &o) != 0) {
        GREEN_REAL(pthread_mutex_unlock)(&w->hm);
        free(w);
        return -ENOMEM;
    }
    /* Registered once glibc's wait in the worker has let hm go. */
    watch_word((uint32_t *)(void *)&w->hm.__data.__lock, 1);
    mutex_give(pm, &depth, false);
    watch_word(&w->done, 0);
    int again = mutex_retake(pm, depth);
    r = w->work_r != 0 ? w->work_r : -w->r;
    GREEN_REAL(pthread_mutex_destroy)(&w->hm);
    free(w);
    return again != 0 ? again : r;
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
        if (!green__thread_on()) {
            return GREEN_REAL(pthread_cond_wait)(c, m);
        }
        return -GREEN__CANCELLABLE(
            int, cond_wait_shared(c, m, CW_WAIT, CLOCK_REALTIME, NULL));
    }
    return -GREEN__CANCELLABLE(int, cond_wait(gc(c), m, CLOCK_REALTIME, NULL));
}

GREEN_INTERPOSE int pthread_cond_timedwait(pthread_cond_t *c,
                                           pthread_mutex_t *m,
                                           const struct timespec *abs)
{
    if (!cond_green(c)) {
        if (!green__thread_on()) {
            return GREEN_REAL(pthread_cond_timedwait)(c, m, abs);
        }
        return -GREEN__CANCELLABLE(
            int, cond_wait_shared(c, m, CW_TIMED, CLOCK_REALTIME, abs));
    }
    clockid_t clock =
        gc(c)->wrefs & WREFS_MONOTONIC ? CLOCK_MONOTONIC : CLOCK_REALTIME;
    return -GREEN__CANCELLABLE(int, cond_wait(gc(c), m, clock, abs));
}

GREEN_INTERPOSE int pthread_cond_clockwait(pthread_cond_t *c,
                                           pthread_mutex_t *m,
                                           clockid_t clock,
                                           const struct timespec *abs)
{
    if (!cond_green(c)) {
        if (!green__thread_on()) {
            return GREEN_REAL(pthread_cond_clockwait)(c, m, clock, abs);
        }
        return -GREEN__CANCELLABLE(
            int, cond_wait_shared(c, m, CW_CLOCK, clock, abs));
    }
    return -GREEN__CANCELLABLE(int, cond_wait(gc(c), m, clock, abs));
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
