/* SPDX-License-Identifier: MIT */
/* Semaphores, locks and condition variables.
 *
 * Fairness by hand-off: a release with waiters does not make the permit
 * or the lock free; it gives it to the first waiter and wakes it
 * (green__waitq_handoff). A waiter that wakes without being handed it
 * timed out or was cancelled. */
#include "internal.h"
#include "cycle.h"

#include "green/lock.h"

#include <limits.h>
#include <stdlib.h>

struct green_sem {
    unsigned value;               /* free permits */
    unsigned bound;               /* max value if bounded */
    bool bounded;
    struct green__waitq waiters;  /* FIFO */
    struct green__thread *thread; /* owner */
};

struct green_lock {
    struct greenlet *owner;       /* holder, or NULL */
    unsigned count;               /* times the holder took it */
    bool reentrant;
    struct green__waitq waiters;  /* FIFO */
    struct green__thread *thread; /* owner */
};

struct green_cond {
    green_lock_t *lock;
    bool own_lock;                /* made by green_cond_new: free it too */
    struct green__waitq waiters;
};

static int owned(const void *obj, const struct green__thread *t)
{
    if (obj == NULL) {
        return -EINVAL;
    }
    return t == green__thread_peek() ? 0 : -EPERM;
}

/* --- semaphores ------------------------------------------------------------ */

static int sem_new(green_sem_t **out, unsigned value, bool bounded)
{
    if (out == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    green_sem_t *s = t != NULL ? malloc(sizeof(*s)) : NULL;
    if (s == NULL) {
        return -ENOMEM;
    }
    s->value = value;
    s->bound = value;
    s->bounded = bounded;
    green__waitq_init(&s->waiters);
    s->thread = t;
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
    int r = owned(s, s != NULL ? s->thread : NULL);
    if (r != 0) {
        return r;
    }
    if (!green__waitq_empty(&s->waiters)) {
        return -EBUSY;
    }
    free(s);
    return 0;
}

int green_sem_try_acquire(green_sem_t *s)
{
    int r = owned(s, s != NULL ? s->thread : NULL);
    if (r != 0) {
        return r;
    }
    if (s->value == 0 || !green__waitq_empty(&s->waiters)) {
        return -EAGAIN;
    }
    s->value--;
    return 0;
}

int green_sem_acquire(green_sem_t *s, double timeout)
{
    int r = green__check_timeout(timeout);
    if (r != 0 || (r = green_sem_try_acquire(s)) != -EAGAIN) {
        return r;
    }
    return green__waitq_wait_handoff(&s->waiters, timeout, "green_sem_acquire on", s);
}

int green_sem_release(green_sem_t *s)
{
    int r = owned(s, s != NULL ? s->thread : NULL);
    if (r != 0) {
        return r;
    }
    if (green__waitq_handoff(&s->waiters) != NULL) {
        return 0;
    }
    if ((s->bounded && s->value >= s->bound) || s->value == UINT_MAX) {
        return -EOVERFLOW;
    }
    s->value++;
    return 0;
}

unsigned green_sem_value(const green_sem_t *s)
{
    return s != NULL ? s->value : 0;
}

/* --- locks ----------------------------------------------------------------- */

static int lock_new(green_lock_t **out, bool reentrant)
{
    if (out == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    green_lock_t *l = t != NULL ? calloc(1, sizeof(*l)) : NULL;
    if (l == NULL) {
        return -ENOMEM;
    }
    l->reentrant = reentrant;
    green__waitq_init(&l->waiters);
    l->thread = t;
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
    int r = owned(l, l != NULL ? l->thread : NULL);
    if (r != 0) {
        return r;
    }
    if (l->owner != NULL || !green__waitq_empty(&l->waiters)) {
        return -EBUSY;
    }
    free(l);
    return 0;
}

int green_lock_try_acquire(green_lock_t *l)
{
    int r = owned(l, l != NULL ? l->thread : NULL);
    if (r != 0) {
        return r;
    }
    struct greenlet *self = l->thread->current;
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
    if (l->owner != NULL || !green__waitq_empty(&l->waiters)) {
        return -EBUSY;
    }
    l->owner = self;
    l->count = 1;
    return 0;
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
    struct greenlet *self = l->thread->current;
    struct greenlet *const *prev = self->wait_owner;
    self->wait_owner = &l->owner;
    if (green__cycle_closes(self, l->owner, "green_lock_acquire on", l,
                            GREEN__CYCLE_FAIL)) {
        self->wait_owner = prev;
        return -EDEADLK;
    }
    r = green__waitq_wait_handoff(&l->waiters, timeout, "green_lock_acquire on", l);
    self->wait_owner = prev;
    return r;
}

int green_lock_release(green_lock_t *l)
{
    int r = owned(l, l != NULL ? l->thread : NULL);
    if (r != 0) {
        return r;
    }
    if (l->owner != l->thread->current) {
        return -EPERM;
    }
    if (--l->count == 0) {
        l->owner = green__waitq_handoff(&l->waiters);
        l->count = l->owner != NULL ? 1 : 0;
    }
    return 0;
}

bool green_lock_locked(const green_lock_t *l)
{
    return l != NULL && l->owner != NULL;
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
    green__waitq_init(&c->waiters);
    *out = c;
    return 0;
}

int green_cond_free(green_cond_t *c)
{
    int r = c != NULL ? owned(c->lock, c->lock->thread) : -EINVAL;
    if (r != 0) {
        return r;
    }
    if (!green__waitq_empty(&c->waiters)) {
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

/* The caller holds c's lock: 0, else -EINVAL / -EPERM. */
static int cond_check(green_cond_t *c)
{
    if (c == NULL) {
        return -EINVAL;
    }
    int r = owned(c->lock, c->lock->thread);
    if (r == 0 && c->lock->owner != c->lock->thread->current) {
        r = -EPERM;
    }
    return r;
}

int green_cond_wait(green_cond_t *c, double timeout)
{
    int r = cond_check(c);
    if (r != 0 || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    green_lock_t *l = c->lock;
    struct greenlet *self = l->thread->current;
    unsigned depth = l->count;
    l->count = 1;
    green_lock_release(l);
    r = green__waitq_wait(&c->waiters, timeout, "green_cond_wait on", c);

    /* Take the lock back whatever happened: the caller will release it.
     * Shielded, so that a kill or a timeout scope cannot stop us. */
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    int again = green_lock_acquire(l, GREEN_FOREVER);
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    if (again != 0) {
        return again; /* -EDEADLK: nobody will ever release it */
    }
    l->count = depth;
    return r;
}

int green_cond_notify(green_cond_t *c, unsigned n)
{
    int r = cond_check(c);
    if (r != 0) {
        return r;
    }
    int woken = 0;
    struct greenlet *g;
    while (n-- > 0 && (g = green__waitq_pop(&c->waiters)) != NULL) {
        green__hub_wake(g, 0);
        woken++;
    }
    return woken;
}

int green_cond_notify_all(green_cond_t *c)
{
    return green_cond_notify(c, (unsigned)-1);
}
