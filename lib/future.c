/* SPDX-License-Identifier: MIT */
/* Future: one completion (value, error or cancellation), its waiters and
 * its done-callbacks, usable from greenlets of any OS thread.
 *
 * The outcome, the FIFO of waiter records and the callback list are under
 * the future's guard (lib/crosswait.h). A completion copies the outcome
 * into every queued record before it serves them, so a served waiter never
 * reads the future again (it may be freed by then: green_future_free only
 * refuses while records are queued). Callbacks run in the thread that
 * completes the future, after its waiters are served, with the guard let
 * go (so a callback may use the future), as concurrent.futures runs them;
 * a future without callbacks is not touched once the guard is let go, so
 * a waiter whose wait returned may free it at once.
 * The outcome is written before the state, which is stored last: the
 * lockless readers (green_future_done, _result, ...) see a whole one. */
#include "internal.h"
#include "crosswait.h"

#include "green/future.h"

#include <stdlib.h>

enum { PENDING, RESULT, ERROR, CANCELLED };

struct callback {
    green_future_cb_t fn;
    void *userdata;
    struct callback *next;
};

struct green_future {
    unsigned char state;          /* atomic: PENDING until completed, once */
    void *value;                  /* with RESULT */
    int err;                      /* with ERROR / CANCELLED */
    struct green__guard guard;
    struct green__link waiters;   /* struct fwait, FIFO */
    struct callback *callbacks;   /* to run on completion, in order */
};

/* A waiter's record, with the outcome the completion copies into it. */
struct fwait {
    struct green__xwait x;
    void *value;
    int err;
};

static inline int state_of(const green_future_t *f)
{
    return __atomic_load_n(&f->state, __ATOMIC_ACQUIRE);
}

/* The caller's green state for a guard: any thread that touches a future
 * needs it (its arrival ends solo mode, lib/solo.h). */
static struct green__thread *take(green_future_t *f, struct green__held *h)
{
    struct green__thread *t = green__thread_get();
    if (t != NULL) {
        green__guard_take(h, &f->guard, t);
    }
    return t;
}

int green_future_new(green_future_t **out)
{
    if (out == NULL) {
        return -EINVAL;
    }
    green_future_t *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return -ENOMEM;
    }
    green__xlist_init(&f->waiters);
    *out = f;
    return 0;
}

static void free_callbacks(struct callback *c)
{
    while (c != NULL) {
        struct callback *next = c->next;
        free(c);
        c = next;
    }
}

int green_future_free(green_future_t *f)
{
    if (f == NULL) {
        return -EINVAL;
    }
    if (!green__xlist_empty(&f->waiters)) {
        return -EBUSY;
    }
    free_callbacks(f->callbacks);
    free(f);
    return 0;
}

static int complete(green_future_t *f, int state, void *value, int err)
{
    if (f == NULL) {
        return -EINVAL;
    }
    struct green__held h;
    struct green__thread *t = take(f, &h);
    if (t == NULL) {
        return -ENOMEM;
    }
    if (f->state != PENDING) {
        green__guard_drop(&h);
        return -EINVAL;
    }
    f->value = value;
    f->err = err;
    __atomic_store_n(&f->state, (unsigned char)state, __ATOMIC_RELEASE);
    /* Every queued record gets the outcome, before any is served: a
     * waiter may return the moment its record's state moves on. */
    for (struct green__link *e = f->waiters.next; e != &f->waiters;
         e = e->next) {
        struct fwait *w = GREEN__CONTAINER(e, struct fwait, x.link);
        w->value = state == RESULT ? value : NULL;
        w->err = err;
    }
    struct green__xwait *x;
    while ((x = green__xwait_take(&f->waiters, t, GREEN__XW_SERVED, false,
                                  NULL)) != NULL) {
        green__xwait_wake(x, t);
    }
    struct callback *c = f->callbacks;
    f->callbacks = NULL;
    green__guard_drop(&h);
    /* Complete now, f takes no new callback: these are all it will run. */
    while (c != NULL) {
        struct callback *next = c->next;
        c->fn(f, c->userdata);
        free(c);
        c = next;
    }
    return 0;
}

int green_future_set_result(green_future_t *f, void *value)
{
    return complete(f, RESULT, value, 0);
}

int green_future_set_error(green_future_t *f, int err)
{
    return err < 0 ? complete(f, ERROR, NULL, err) : -EINVAL;
}

int green_future_cancel(green_future_t *f)
{
    return complete(f, CANCELLED, NULL, -ECANCELED);
}

/* Waits for f; 0 with its outcome in *w, or the wait's error. */
static int wait_outcome(green_future_t *f, double timeout, struct fwait *w)
{
    if (f == NULL) {
        return -EINVAL;
    }
    int r = green__check_timeout(timeout);
    if (r != 0) {
        return r;
    }
    /* Under the guard even when complete: a completion still serving
     * waiters would touch f after a lockless reader had freed it. */
    struct green__held h;
    struct green__thread *t = take(f, &h);
    if (t == NULL) {
        return -ENOMEM;
    }
    int st = f->state;
    if (st == PENDING) {
        w->x.item = NULL;
        return green__xwait_wait(&h, &f->waiters, &w->x, t, timeout,
                                 "green_future_wait on", f);
    }
    w->value = st == RESULT ? f->value : NULL;
    w->err = f->err;
    green__guard_drop(&h);
    return 0;
}

int green_future_wait(green_future_t *f, double timeout)
{
    struct fwait w;
    return wait_outcome(f, timeout, &w);
}

int green_future_get(green_future_t *f, double timeout, void **value)
{
    struct fwait w;
    int r = wait_outcome(f, timeout, &w);
    if (r != 0) {
        return r;
    }
    if (w.err == 0 && value != NULL) {
        *value = w.value;
    }
    return w.err;
}

bool green_future_done(const green_future_t *f)
{
    return f != NULL && state_of(f) != PENDING;
}

bool green_future_cancelled(const green_future_t *f)
{
    return f != NULL && state_of(f) == CANCELLED;
}

int green_future_error(const green_future_t *f)
{
    if (f == NULL) {
        return -EINVAL;
    }
    return state_of(f) != PENDING ? f->err : 0;
}

void *green_future_result(const green_future_t *f)
{
    return f != NULL && state_of(f) == RESULT ? f->value : NULL;
}

int green_future_add_done_callback(green_future_t *f, green_future_cb_t cb,
                                   void *userdata)
{
    if (f == NULL || cb == NULL) {
        return -EINVAL;
    }
    /* Made before the guard is taken: no malloc under a spinlock. */
    struct callback *c = malloc(sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->fn = cb;
    c->userdata = userdata;
    c->next = NULL;
    struct green__held h;
    if (take(f, &h) == NULL) {
        free(c);
        return -ENOMEM;
    }
    if (f->state != PENDING) {
        green__guard_drop(&h);
        free(c);
        cb(f, userdata);
        return 0;
    }
    struct callback **p = &f->callbacks;
    while (*p != NULL) {
        p = &(*p)->next;
    }
    *p = c;
    green__guard_drop(&h);
    return 0;
}

int green_future_remove_done_callback(green_future_t *f, green_future_cb_t cb,
                                      void *userdata)
{
    struct green__held h;
    if (f == NULL || take(f, &h) == NULL) {
        return 0;
    }
    struct callback *gone = NULL;
    int n = 0;
    struct callback **p = &f->callbacks;
    while (*p != NULL) {
        struct callback *c = *p;
        if (c->fn == cb && c->userdata == userdata) {
            *p = c->next;
            c->next = gone;
            gone = c;
            n++;
        } else {
            p = &c->next;
        }
    }
    green__guard_drop(&h);
    free_callbacks(gone);
    return n;
}
