/* SPDX-License-Identifier: MIT */
/* Semaphores, locks and condition variables, usable from greenlets of
 * any OS thread's hub.
 *
 * Fairness by hand-off: a release with waiters does not make the permit
 * or the lock free; it gives it to the first waiter and wakes it. A
 * waiter that finds its record served owns the resource whatever else
 * ended its park (a timeout, a kill in the same turn); one killed before
 * the release is passed over.
 *
 * Sharing: each object's state is under its guard and its waiters wait
 * with records (lib/crosswait.h). While one OS thread alone has green
 * state the guard is no instruction at all (solo mode), so acquire and
 * release cost what they did when objects belonged to their thread;
 * from the second OS thread on they take a spinlock (bench/README.md has
 * the measured figures). A condition's FIFO is guarded by its lock: a
 * waiter queues itself before it lets the lock go and reads its record
 * only once it has the lock back, and notify is made with the lock held.
 *
 * A wait is judged deadlocked (-EDEADLK, lib/hub.c) only while no other
 * OS thread could end it: the hub asks the kernel, when it would judge,
 * whether the process has OS threads besides its own and the runtime's. */
#include "internal.h"
#include "crosswait.h"
#include "cycle.h"

#include "green/lock.h"

#include <limits.h>
#include <stdlib.h>

struct green_sem {
    unsigned value;               /* free permits: > 0 only with nobody
                                     waiting */
    unsigned bound;               /* max value if bounded */
    bool bounded;
    struct green__guard guard;
    struct green__link waiters;   /* struct green__xwait, FIFO */
};

struct green_lock {
    struct greenlet *owner;       /* holder, or NULL (lib/cycle.c reads
                                     it through wait_owner) */
    unsigned count;               /* times the holder took it */
    bool reentrant;
    struct green__guard guard;
    struct green__link waiters;   /* struct green__xwait, FIFO */
};

struct green_cond {
    green_lock_t *lock;
    bool own_lock;                /* made by green_cond_new: free it too */
    struct green__link waiters;   /* struct green__xwait; under lock */
};

/* The caller's OS thread state, or NULL with *r set (-EINVAL for a NULL
 * object, -ENOMEM). */
static struct green__thread *caller(const void *obj, int *r)
{
    if (obj == NULL) {
        *r = -EINVAL;
        return NULL;
    }
    struct green__thread *t = green__thread_get();
    *r = t != NULL ? 0 : -ENOMEM;
    return t;
}

/* --- semaphores ------------------------------------------------------------ */

static int sem_new(green_sem_t **out, unsigned value, bool bounded)
{
    if (out == NULL) {
        return -EINVAL;
    }
    green_sem_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->value = value;
    s->bound = value;
    s->bounded = bounded;
    green__xlist_init(&s->waiters);
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
    if (!green__xlist_empty(&s->waiters)) {
        return -EBUSY;
    }
    free(s);
    return 0;
}

int green_sem_try_acquire(green_sem_t *s)
{
    int r;
    struct green__thread *t = caller(s, &r);
    if (t == NULL) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &s->guard, t);
    if (s->value > 0) {
        s->value--; /* and so nobody waits */
    } else {
        r = -EAGAIN;
    }
    green__guard_drop(&h);
    return r;
}

int green_sem_acquire(green_sem_t *s, double timeout)
{
    int r;
    struct green__thread *t = caller(s, &r);
    if (t == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &s->guard, t);
    if (s->value > 0) {
        s->value--;
        green__guard_drop(&h);
        return 0;
    }
    struct green__xwait w = {.item = NULL};
    return green__xwait_wait(&h, &s->waiters, &w, t, timeout,
                             "green_sem_acquire on", s);
}

int green_sem_release(green_sem_t *s)
{
    int r;
    struct green__thread *t = caller(s, &r);
    if (t == NULL) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &s->guard, t);
    struct green__xwait *w = green__xwait_take(&s->waiters, t,
                                               GREEN__XW_SERVED, false, NULL);
    if (w != NULL) {
        green__xwait_wake(w, t); /* the permit is its */
    } else if ((s->bounded && s->value >= s->bound) || s->value == UINT_MAX) {
        r = -EOVERFLOW;
    } else {
        s->value++;
    }
    green__guard_drop(&h);
    return r;
}

unsigned green_sem_value(const green_sem_t *s)
{
    return s != NULL ? __atomic_load_n(&s->value, __ATOMIC_RELAXED) : 0;
}

/* --- locks ----------------------------------------------------------------- */

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
    green__xlist_init(&l->waiters);
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
    if (__atomic_load_n(&l->owner, __ATOMIC_RELAXED) != NULL ||
        !green__xlist_empty(&l->waiters)) {
        return -EBUSY;
    }
    free(l);
    return 0;
}

/* Takes l for self if that needs no wait (guard held). */
static int lock_try(green_lock_t *l, struct greenlet *self)
{
    if (l->owner == self) {
        if (!l->reentrant) {
            return -EDEADLK;
        }
        if (l->count == UINT_MAX) {
            return -EOVERFLOW;
        }
        l->count++;
        return 0;
    }
    if (l->owner != NULL) {
        return -EBUSY; /* held (and with waiters, if any, behind it) */
    }
    __atomic_store_n(&l->owner, self, __ATOMIC_RELAXED);
    l->count = 1;
    return 0;
}

int green_lock_try_acquire(green_lock_t *l)
{
    int r;
    struct green__thread *t = caller(l, &r);
    if (t == NULL) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &l->guard, t);
    r = lock_try(l, t->current);
    green__guard_drop(&h);
    return r;
}

int green_lock_acquire(green_lock_t *l, double timeout)
{
    int r;
    struct green__thread *t = caller(l, &r);
    if (t == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    struct greenlet *self = t->current;
    struct green__held h;
    green__guard_take(&h, &l->guard, t);
    if ((r = lock_try(l, self)) != -EBUSY) {
        green__guard_drop(&h);
        return r;
    }
    /* On hand-off the releaser made us the owner already. While parked
     * it waits for the owner (lib/cycle.c): a wait that would close a
     * cycle fails now. The check reads greenlets of this thread only. */
    struct greenlet *const *prev = self->wait_owner;
    self->wait_owner = &l->owner;
    if (green__cycle_closes(self, l->owner, "green_lock_acquire on", l,
                            GREEN__CYCLE_FAIL)) {
        green__guard_drop(&h);
        self->wait_owner = prev;
        return -EDEADLK;
    }
    struct green__xwait w = {.item = NULL};
    r = green__xwait_wait(&h, &l->waiters, &w, t, timeout,
                          "green_lock_acquire on", l);
    self->wait_owner = prev;
    return r;
}

/* Releases one level of l for self (guard held). */
static int lock_release(green_lock_t *l, struct green__thread *t,
                        struct greenlet *self)
{
    if (l->owner != self) {
        return -EPERM;
    }
    if (--l->count != 0) {
        return 0;
    }
    /* Handed over: the new owner may see its record served before the
     * two fields below are set, but cannot get past the guard we hold. */
    struct green__xwait *w = green__xwait_take(&l->waiters, t,
                                               GREEN__XW_SERVED, false, NULL);
    __atomic_store_n(&l->owner, w != NULL ? w->g : NULL, __ATOMIC_RELAXED);
    if (w != NULL) {
        l->count = 1;
        green__xwait_wake(w, t);
    }
    return 0;
}

int green_lock_release(green_lock_t *l)
{
    int r;
    struct green__thread *t = caller(l, &r);
    if (t == NULL) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &l->guard, t);
    r = lock_release(l, t, t->current);
    green__guard_drop(&h);
    return r;
}

bool green_lock_locked(const green_lock_t *l)
{
    return l != NULL && __atomic_load_n(&l->owner, __ATOMIC_RELAXED) != NULL;
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
    green__xlist_init(&c->waiters);
    *out = c;
    return 0;
}

int green_cond_free(green_cond_t *c)
{
    if (c == NULL) {
        return -EINVAL;
    }
    if (!green__xlist_empty(&c->waiters)) {
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

/* The caller holds c's lock: its thread, else NULL with *r set. */
static struct green__thread *cond_check(green_cond_t *c, int *r)
{
    struct green__thread *t = caller(c, r);
    if (t != NULL &&
        __atomic_load_n(&c->lock->owner, __ATOMIC_RELAXED) != t->current) {
        *r = -EPERM;
        return NULL;
    }
    return t;
}

int green_cond_wait(green_cond_t *c, double timeout)
{
    int r;
    struct green__thread *t = cond_check(c, &r);
    if (t == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    green_lock_t *l = c->lock;
    struct greenlet *self = t->current;
    /* Queued before the lock goes: a notify made after can only come
     * with the lock, and finds us. */
    struct green__xwait w = {.item = NULL};
    if ((r = green__xwait_push(&c->waiters, &w, t)) != 0) {
        return r;
    }
    unsigned depth = l->count;
    struct green__held h;
    green__guard_take(&h, &l->guard, t);
    l->count = 1;
    lock_release(l, t, self);
    green__guard_drop(&h);
    r = green__xwait_park(&w, timeout, "green_cond_wait on", c);

    /* Take the lock back whatever happened: the caller will release it.
     * Shielded, so that a kill or a timeout scope cannot stop us. */
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    int again = green_lock_acquire(l, GREEN_FOREVER);
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    /* With the lock (or, on -EDEADLK, where no notify can run without
     * it): our record leaves the queue unless a notify took it. */
    int state = __atomic_load_n(&w.state, __ATOMIC_ACQUIRE);
    if (state == GREEN__XW_WAITING) {
        green__link_remove(&w.link); /* no notify took it, nor can now */
    } else {
        green__xwait_settle(&w, "green_cond_wait on", c);
    }
    if (again != 0) {
        return again; /* -EDEADLK: nobody will ever release it */
    }
    l->count = depth;
    return state == GREEN__XW_SERVED ? 0 : r; /* a notify wins */
}

int green_cond_notify(green_cond_t *c, unsigned n)
{
    int r;
    struct green__thread *t = cond_check(c, &r);
    if (t == NULL) {
        return r;
    }
    int woken = 0;
    struct green__xwait *w;
    while (n-- > 0 && (w = green__xwait_take(&c->waiters, t,
                                              GREEN__XW_SERVED, false,
                                              NULL)) != NULL) {
        green__xwait_wake(w, t);
        woken++;
    }
    return woken;
}

int green_cond_notify_all(green_cond_t *c)
{
    return green_cond_notify(c, (unsigned)-1);
}
