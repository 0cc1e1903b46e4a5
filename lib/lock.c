/* SPDX-License-Identifier: MIT */
/* Semaphores, locks and condition variables, usable from greenlets of
 * any OS thread's hub.
 *
 * Fairness by hand-off: a release with waiters does not make the permit
 * or the lock free; it gives it to the first waiter and wakes it. The
 * waiters park in the parking lot (lib/parking.c) on the object's word,
 * and the release makes the hand-off inside green__unpark_one's callback,
 * under the word's bucket lock, so a waiter cannot park or leave between
 * the releaser's look and its choice. Each waiter parks with a token, a
 * record in its own frame that the releaser marks handed: a waiter that
 * finds it marked owns the resource whatever else ended its park (a
 * timeout, a kill, a spurious wake-up).
 *
 * Words. A semaphore's is its count of free permits, shifted left by
 * one to make room for PARKED (bit 0), which a waiter sets when it finds
 * no permit and parks: a release that finds PARKED clear counts its
 * permit with one compare-and-swap; one that finds it set goes to the
 * parking lot, hands the permit to the first waiter (clearing PARKED if
 * it was the last) or, if every waiter has left, counts it. A
 * lock's is its owner, a greenlet pointer, with bit 0 (PARKED) set by a
 * waiter before it parks: a release that finds the word exactly its own
 * greenlet frees it with one compare-and-swap, and only one that finds
 * PARKED goes to the parking lot. A condition variable keeps its waiters
 * in a FIFO of records in their frames, guarded by its lock: a waiter
 * queues itself before it lets the lock go, a notify dequeues and marks
 * with the lock held, and a waiter whose park ended otherwise takes the
 * lock back before it looks at its record, so notify and timeout never
 * both win.
 *
 * One OS thread alone pays no atomic instruction: while it is the only
 * one with green state (lib/solo.h), the uncontended acquire and release
 * are plain loads and stores; from the second OS thread on, they are one
 * compare-and-swap each (bench/README.md has the measured figures). The
 * slow paths are the same in both modes.
 *
 * A wait is judged deadlocked (-EDEADLK, lib/hub.c) only while no other
 * OS thread could end it: the hub asks the kernel, when it would judge,
 * whether the process has OS threads besides its own and the runtime's
 * (GREEN__WAKER_MAYBE). */
#include "internal.h"
#include "cycle.h"
#include "parking.h"
#include "solo.h"

#include "green/lock.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>

#define PARKED ((uintptr_t)1)

struct green_sem {
    uint64_t word;                /* free permits << 1 | PARKED; atomic */
    unsigned bound;               /* max value if bounded */
    bool bounded;
};

struct green_lock {
    struct greenlet *owner;       /* holder | PARKED, or NULL; atomic */
    unsigned count;               /* times the holder took it: only the
                                     holder (or the releaser handing it
                                     over) touches it */
    bool reentrant;
};

struct cwaiter {
    struct green__link link;      /* in the condition's FIFO while queued */
    struct greenlet *g;
    int notified;                 /* atomic: the waiter's park reads it */
};

struct green_cond {
    green_lock_t *lock;
    bool own_lock;                /* made by green_cond_new: free it too */
    struct green__link waiters;   /* of struct cwaiter; under lock */
};

/* A hand-off's token: the waiter's own record, marked by the releaser
 * under the parking lot's lock. */
struct token {
    struct greenlet *g;
    int handed;
};

static struct greenlet *current(void)
{
    struct green__thread *t = green__thread_get();
    return t != NULL ? t->current : NULL;
}

/* The time left until deadline, for a wait that parks more than once. */
static double left(double deadline)
{
    if (deadline == GREEN_FOREVER) {
        return GREEN_FOREVER;
    }
    double l = deadline - green__now();
    return l > 0.0 ? l : 0.0;
}

static double deadline_of(double timeout)
{
    return timeout == GREEN_FOREVER ? GREEN_FOREVER : green__now() + timeout;
}

/* --- semaphores ------------------------------------------------------------ */

/* A semaphore's word: its free permits shifted left by one, and PARKED. */
#define SEM_ONE ((uint64_t)2)

static inline uint64_t sem_word(const green_sem_t *s)
{
    return __atomic_load_n(&s->word, __ATOMIC_RELAXED);
}

static int sem_new(green_sem_t **out, unsigned value, bool bounded)
{
    if (out == NULL) {
        return -EINVAL;
    }
    green_sem_t *s = malloc(sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->word = (uint64_t)value * SEM_ONE;
    s->bound = value;
    s->bounded = bounded;
    *out = s;
    return 0;
}

int green_sem_new(green_sem_t **out, unsigned value)
{
    return sem_new(out, value, false);
}

int green_sem_new_bounded(green_sem_t **out, unsigned value)
{
    return sem_new(out, value, true);
}

int green_sem_free(green_sem_t *s)
{
    if (s == NULL) {
        return -EINVAL;
    }
    if (green__parked_on(&s->word)) {
        return -EBUSY;
    }
    free(s);
    return 0;
}

int green_sem_try_acquire(green_sem_t *s)
{
    if (s == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    if (t == NULL) {
        return -ENOMEM;
    }
    if (green__solo_enter(t)) {
        uint64_t w = sem_word(s);
        if (w >= SEM_ONE) {
            __atomic_store_n(&s->word, w - SEM_ONE, __ATOMIC_RELAXED);
        }
        green__solo_leave();
        return w >= SEM_ONE ? 0 : -EAGAIN;
    }
    uint64_t w = sem_word(s);
    do {
        if (w < SEM_ONE) {
            return -EAGAIN; /* no permit: waiters may be queued */
        }
    } while (!__atomic_compare_exchange_n(&s->word, &w, w - SEM_ONE, true,
                                          __ATOMIC_ACQUIRE,
                                          __ATOMIC_RELAXED));
    return 0;
}

/* The park's check: with no permit, marks the word PARKED and parks. */
static bool sem_mark(const void *addr, void *arg)
{
    (void)arg;
    uint64_t *word = (uint64_t *)(uintptr_t)addr;
    uint64_t w = __atomic_load_n(word, __ATOMIC_RELAXED);
    while (w == 0) {
        if (__atomic_compare_exchange_n(word, &w, PARKED, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            return true;
        }
    }
    return w == PARKED;
}

int green_sem_acquire(green_sem_t *s, double timeout)
{
    int r = green__check_timeout(timeout);
    if (r != 0 || (r = green_sem_try_acquire(s)) != -EAGAIN) {
        return r;
    }
    double deadline = deadline_of(timeout);
    for (;;) {
        struct token me = {current(), 0};
        if (me.g == NULL) {
            return -ENOMEM;
        }
        r = green__park_token(&s->word, sem_mark, NULL, ~0u, left(deadline),
                              GREEN__INTR_NEVER, GREEN__WAKER_MAYBE,
                              "green_sem_acquire on", &me);
        if (__atomic_load_n(&me.handed, __ATOMIC_ACQUIRE)) {
            return 0; /* the releaser gave its permit to us */
        }
        if (r != 0 && r != -EAGAIN) {
            return r;
        }
        if (green_sem_try_acquire(s) == 0) {
            return 0;
        }
        if (r == -EAGAIN && left(deadline) == 0.0) {
            return -ETIMEDOUT; /* a permit came and went: time is up */
        }
    }
}

/* Whether one more permit would pass s's bound (or UINT_MAX). */
static bool sem_full(const green_sem_t *s, uint64_t w)
{
    uint64_t v = w / SEM_ONE;
    return (s->bounded && v >= s->bound) || v == UINT_MAX;
}

struct sem_release {
    green_sem_t *s;
    int r;
};

/* Under the word's bucket lock, with PARKED set: the permit goes to the
 * first waiter, or is counted if none is left. */
static void sem_give(void *arg, void *token, bool woke, bool more)
{
    struct sem_release *x = arg;
    green_sem_t *s = x->s;
    if (woke) {
        if (!more) {
            __atomic_store_n(&s->word, 0, __ATOMIC_RELAXED);
        }
        __atomic_store_n(&((struct token *)token)->handed, 1,
                         __ATOMIC_RELEASE);
        return;
    }
    if (sem_full(s, 0)) {
        x->r = -EOVERFLOW; /* a bound of 0: nobody waited for it */
        __atomic_store_n(&s->word, 0, __ATOMIC_RELAXED);
        return;
    }
    __atomic_store_n(&s->word, SEM_ONE, __ATOMIC_RELEASE);
}

int green_sem_release(green_sem_t *s)
{
    if (s == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    if (t == NULL) {
        return -ENOMEM;
    }
    uint64_t w = sem_word(s);
    if (!(w & PARKED) && green__solo_enter(t)) {
        w = sem_word(s);
        int r = 0;
        if (w & PARKED) {
            r = 1; /* cannot be: only this thread parks */
        } else if (sem_full(s, w)) {
            r = -EOVERFLOW;
        } else {
            __atomic_store_n(&s->word, w + SEM_ONE, __ATOMIC_RELAXED);
        }
        green__solo_leave();
        if (r <= 0) {
            return r;
        }
    }
    while (!(w & PARKED)) { /* nobody waits: count it */
        if (sem_full(s, w)) {
            return -EOVERFLOW;
        }
        if (__atomic_compare_exchange_n(&s->word, &w, w + SEM_ONE, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
            return 0;
        }
    }
    struct sem_release x = {s, 0};
    green__unpark_one(&s->word, sem_give, &x);
    return x.r;
}

unsigned green_sem_value(const green_sem_t *s)
{
    return s != NULL ? (unsigned)(sem_word(s) / SEM_ONE) : 0;
}

/* --- locks ----------------------------------------------------------------- */

static inline struct greenlet *owner_of(uintptr_t w)
{
    return (struct greenlet *)(w & ~PARKED);
}

static inline uintptr_t word_of(const green_lock_t *l)
{
    return (uintptr_t)__atomic_load_n(&l->owner, __ATOMIC_ACQUIRE);
}

static int lock_new(green_lock_t **out, bool reentrant)
{
    if (out == NULL) {
        return -EINVAL;
    }
    green_lock_t *l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return -ENOMEM;
    }
    l->reentrant = reentrant;
    *out = l;
    return 0;
}

int green_lock_new(green_lock_t **out)
{
    return lock_new(out, false);
}

int green_rlock_new(green_lock_t **out)
{
    return lock_new(out, true);
}

int green_lock_free(green_lock_t *l)
{
    if (l == NULL) {
        return -EINVAL;
    }
    if (word_of(l) != 0 || green__parked_on(&l->owner)) {
        return -EBUSY;
    }
    free(l);
    return 0;
}

/* Takes l for self, of OS thread t, if that needs no wait. */
static int lock_try(green_lock_t *l, struct green__thread *t,
                    struct greenlet *self)
{
    uintptr_t w = word_of(l);
    if (owner_of(w) == self) {
        if (!l->reentrant) {
            return -EDEADLK;
        }
        if (l->count == UINT_MAX) {
            return -EOVERFLOW;
        }
        l->count++;
        return 0;
    }
    if (w != 0) {
        return -EBUSY; /* held (and with waiters, if any, behind it) */
    }
    if (green__solo_enter(t)) {
        bool free_now = __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == NULL;
        if (free_now) {
            __atomic_store_n(&l->owner, self, __ATOMIC_RELAXED);
            l->count = 1;
        }
        green__solo_leave();
        return free_now ? 0 : -EBUSY;
    }
    struct greenlet *none = NULL;
    if (!__atomic_compare_exchange_n(&l->owner, &none, self, false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        return -EBUSY;
    }
    l->count = 1;
    return 0;
}

int green_lock_try_acquire(green_lock_t *l)
{
    if (l == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    return t != NULL ? lock_try(l, t, t->current) : -ENOMEM;
}

/* The park's check: marks the word PARKED if it is held; false (do not
 * park) if it is free. */
static bool lock_mark(const void *addr, void *arg)
{
    (void)arg;
    struct greenlet **word = (struct greenlet **)(uintptr_t)addr;
    uintptr_t w = (uintptr_t)__atomic_load_n(word, __ATOMIC_RELAXED);
    for (;;) {
        if (w == 0) {
            return false;
        }
        if (w & PARKED) {
            return true;
        }
        struct greenlet *expect = (struct greenlet *)w;
        if (__atomic_compare_exchange_n(word, &expect,
                                        (struct greenlet *)(w | PARKED), true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
            return true;
        }
        w = (uintptr_t)expect;
    }
}

int green_lock_acquire(green_lock_t *l, double timeout)
{
    int r = green__check_timeout(timeout);
    if (r != 0 || (r = green_lock_try_acquire(l)) != -EBUSY) {
        return r;
    }
    /* On hand-off the releaser made us the owner already. While parked
     * it waits for the owner (lib/cycle.c): a wait that would close a
     * cycle fails now. */
    struct green__thread *t = green__thread_get();
    struct greenlet *self = t->current;
    struct greenlet *const *prev = self->wait_owner;
    self->wait_owner = &l->owner;
    if (green__cycle_closes(self, owner_of(word_of(l)),
                            "green_lock_acquire on", l, GREEN__CYCLE_FAIL)) {
        self->wait_owner = prev;
        return -EDEADLK;
    }
    double deadline = deadline_of(timeout);
    for (;;) {
        struct token me = {self, 0};
        r = green__park_token(&l->owner, lock_mark, NULL, ~0u,
                              left(deadline), GREEN__INTR_NEVER,
                              GREEN__WAKER_MAYBE, "green_lock_acquire on",
                              &me);
        if (__atomic_load_n(&me.handed, __ATOMIC_ACQUIRE)) {
            r = 0; /* the releaser made us the owner */
            break;
        }
        if (r != 0 && r != -EAGAIN) {
            break;
        }
        if ((r = lock_try(l, t, self)) != -EBUSY) {
            break;
        }
        if (left(deadline) == 0.0) {
            r = -ETIMEDOUT;
            break;
        }
    }
    self->wait_owner = prev;
    return r;
}

static void lock_give(void *arg, void *token, bool woke, bool more)
{
    green_lock_t *l = arg;
    if (!woke) {
        __atomic_store_n(&l->owner, NULL, __ATOMIC_RELEASE);
        return;
    }
    struct token *t = token;
    l->count = 1;
    __atomic_store_n(&l->owner,
                     (struct greenlet *)((uintptr_t)t->g | (more ? PARKED : 0)),
                     __ATOMIC_RELEASE);
    __atomic_store_n(&t->handed, 1, __ATOMIC_RELEASE);
}

static int lock_release(green_lock_t *l, struct green__thread *t,
                        struct greenlet *self)
{
    if (owner_of(word_of(l)) != self) {
        return -EPERM;
    }
    if (--l->count != 0) {
        return 0;
    }
    bool freed;
    if (green__solo_enter(t)) {
        freed = __atomic_load_n(&l->owner, __ATOMIC_RELAXED) == self;
        if (freed) {
            __atomic_store_n(&l->owner, NULL, __ATOMIC_RELAXED);
        }
        green__solo_leave();
    } else {
        struct greenlet *expect = self;
        freed = __atomic_compare_exchange_n(&l->owner, &expect, NULL, false,
                                            __ATOMIC_RELEASE,
                                            __ATOMIC_RELAXED);
    }
    if (!freed) {
        green__unpark_one(&l->owner, lock_give, l); /* PARKED: hand over */
    }
    return 0;
}

int green_lock_release(green_lock_t *l)
{
    if (l == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    return t != NULL ? lock_release(l, t, t->current) : -EPERM;
}

bool green_lock_locked(const green_lock_t *l)
{
    return l != NULL && word_of(l) != 0;
}

/* --- conditions ------------------------------------------------------------ */

int green_cond_new(green_cond_t **out, green_lock_t *lock)
{
    if (out == NULL) {
        return -EINVAL;
    }
    green_cond_t *c = malloc(sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->own_lock = lock == NULL;
    if (c->own_lock && green_rlock_new(&lock) != 0) {
        free(c);
        return -ENOMEM;
    }
    c->lock = lock;
    c->waiters.next = c->waiters.prev = &c->waiters;
    *out = c;
    return 0;
}

int green_cond_free(green_cond_t *c)
{
    if (c == NULL) {
        return -EINVAL;
    }
    if (__atomic_load_n(&c->waiters.next, __ATOMIC_ACQUIRE) != &c->waiters) {
        return -EBUSY;
    }
    if (c->own_lock) {
        int r = green_lock_free(c->lock);
        if (r != 0) {
            return r;
        }
    }
    free(c);
    return 0;
}

green_lock_t *green_cond_lock(green_cond_t *c)
{
    return c != NULL ? c->lock : NULL;
}

/* The caller holds c's lock: its greenlet, else NULL with *r set. */
static struct greenlet *cond_check(green_cond_t *c, int *r)
{
    if (c == NULL) {
        *r = -EINVAL;
        return NULL;
    }
    struct greenlet *self = current();
    if (self == NULL || owner_of(word_of(c->lock)) != self) {
        *r = -EPERM;
        return NULL;
    }
    return self;
}

static bool not_notified(const void *addr, void *arg)
{
    (void)arg;
    return !__atomic_load_n(&((const struct cwaiter *)addr)->notified,
                            __ATOMIC_ACQUIRE);
}

int green_cond_wait(green_cond_t *c, double timeout)
{
    int r = 0;
    struct greenlet *self = cond_check(c, &r);
    if (self == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    green_lock_t *l = c->lock;
    struct cwaiter me = {.g = self, .notified = 0};
    /* Queued before the lock goes: a notify made after can only come
     * with the lock, and finds us. */
    me.link.prev = c->waiters.prev;
    me.link.next = &c->waiters;
    c->waiters.prev->next = &me.link;
    __atomic_store_n(&c->waiters.prev, &me.link, __ATOMIC_RELEASE);
    unsigned depth = l->count;
    l->count = 1;
    lock_release(l, self->thread, self);

    double deadline = deadline_of(timeout);
    do {
        r = green__park(&me, not_notified, NULL, ~0u, left(deadline),
                        GREEN__INTR_NEVER, GREEN__WAKER_MAYBE,
                        "green_cond_wait on");
    } while (r == 0 && !__atomic_load_n(&me.notified, __ATOMIC_ACQUIRE));

    /* Take the lock back whatever happened: the caller will release it.
     * Shielded, so that a kill or a timeout scope cannot stop us. */
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    int again = green_lock_acquire(l, GREEN_FOREVER);
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    if (again != 0) {
        /* -EDEADLK: nobody will ever release it. Our record must leave
         * the queue all the same; no notify can run without the lock. */
        if (!__atomic_load_n(&me.notified, __ATOMIC_ACQUIRE)) {
            green__link_remove(&me.link);
        }
        return again;
    }
    if (__atomic_load_n(&me.notified, __ATOMIC_ACQUIRE)) {
        r = 0; /* a notify chose us: it wins over the timeout */
    } else {
        green__link_remove(&me.link);
    }
    l->count = depth;
    return r;
}

int green_cond_notify(green_cond_t *c, unsigned n)
{
    int r = 0;
    if (cond_check(c, &r) == NULL) {
        return r;
    }
    int woken = 0;
    const struct green__thread *t = green__thread_peek();
    for (struct green__link *l = c->waiters.next;
         n > 0 && l != &c->waiters;) {
        struct cwaiter *w = GREEN__CONTAINER(l, struct cwaiter, link);
        l = l->next;
        if (green__wait_killed(w->g, t)) {
            continue; /* it leaves the queue itself, with -ECANCELED */
        }
        n--;
        green__link_remove(&w->link);
        /* Marked and woken while we hold the lock: the waiter looks at
         * its record only once it has the lock back, so it is still
         * there for the wake-up. */
        __atomic_store_n(&w->notified, 1, __ATOMIC_RELEASE);
        green__unpark(w, 1, ~0u);
        woken++;
    }
    return woken;
}

int green_cond_notify_all(green_cond_t *c)
{
    return green_cond_notify(c, (unsigned)-1);
}
