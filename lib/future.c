/* SPDX-License-Identifier: MIT */
/* Future: one completion (value, error or cancellation), its waiters and
 * its done-callbacks. */
#include "internal.h"

#include "green/future.h"

#include <stdlib.h>

enum { PENDING, RESULT, ERROR, CANCELLED };

struct callback {
    green_future_cb_t fn;
    void *userdata;
    struct callback *next;
};

struct green_future {
    unsigned char state;          /* PENDING until completed, once */
    void *value;                  /* with RESULT */
    int err;                      /* with ERROR / CANCELLED */
    struct green__waitq waiters;  /* parked until complete, FIFO */
    struct callback *callbacks;   /* to run on completion, in order */
    struct green__thread *thread; /* owner */
};

/* A waiter's record: completion copies the outcome into it, so a waiter
 * never has to read the future again after it wakes (it may be freed by
 * then: green_future_free only refuses while greenlets are queued). */
struct fwait {
    void *value;
    int err;
};

static int check(const green_future_t *f)
{
    if (f == NULL) {
        return -EINVAL;
    }
    return f->thread == green__thread_peek() ? 0 : -EPERM;
}

int green_future_new(green_future_t **out)
{
    if (out == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    green_future_t *f = t != NULL ? calloc(1, sizeof(*f)) : NULL;
    if (f == NULL) {
        return -ENOMEM;
    }
    green__waitq_init(&f->waiters);
    f->thread = t;
    *out = f;
    return 0;
}

int green_future_free(green_future_t *f)
{
    int r = check(f);
    if (r != 0) {
        return r;
    }
    if (!green__waitq_empty(&f->waiters)) {
        return -EBUSY;
    }
    while (f->callbacks != NULL) {
        struct callback *c = f->callbacks;
        f->callbacks = c->next;
        free(c);
    }
    free(f);
    return 0;
}

static int complete(green_future_t *f, int state, void *value, int err)
{
    int r = check(f);
    if (r != 0 || f->state != PENDING) {
        return r != 0 ? r : -EINVAL;
    }
    f->state = (unsigned char)state;
    f->value = value;
    f->err = err;
    struct greenlet *g;
    while ((g = green__waitq_pop(&f->waiters)) != NULL) {
        struct fwait *w = g->wait_data;
        w->value = state == RESULT ? value : NULL;
        w->err = err;
        green__hub_wake(g, 0);
    }
    while (f->callbacks != NULL) {
        struct callback *c = f->callbacks;
        f->callbacks = c->next;
        c->fn(f, c->userdata);
        free(c);
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
    int r = check(f);
    if (r != 0 || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    if (f->state != PENDING) {
        w->value = f->state == RESULT ? f->value : NULL;
        w->err = f->err;
        return 0;
    }
    struct greenlet *self = greenlet_current();
    self->wait_data = w;
    r = green__waitq_wait(&f->waiters, timeout, "green_future_wait on", f);
    self->wait_data = NULL;
    return r;
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
    return f != NULL && f->state != PENDING;
}

bool green_future_cancelled(const green_future_t *f)
{
    return f != NULL && f->state == CANCELLED;
}

int green_future_error(const green_future_t *f)
{
    return f != NULL ? f->err : -EINVAL;
}

void *green_future_result(const green_future_t *f)
{
    return f != NULL && f->state == RESULT ? f->value : NULL;
}

int green_future_add_done_callback(green_future_t *f, green_future_cb_t cb,
                                   void *userdata)
{
    int r = check(f);
    if (r != 0 || cb == NULL) {
        return r != 0 ? r : -EINVAL;
    }
    if (f->state != PENDING) {
        cb(f, userdata);
        return 0;
    }
    struct callback *c = malloc(sizeof(*c));
    if (c == NULL) {
        return -ENOMEM;
    }
    c->fn = cb;
    c->userdata = userdata;
    c->next = NULL;
    struct callback **p = &f->callbacks;
    while (*p != NULL) {
        p = &(*p)->next;
    }
    *p = c;
    return 0;
}

int green_future_remove_done_callback(green_future_t *f, green_future_cb_t cb,
                                      void *userdata)
{
    if (check(f) != 0) {
        return 0;
    }
    int n = 0;
    struct callback **p = &f->callbacks;
    while (*p != NULL) {
        struct callback *c = *p;
        if (c->fn == cb && c->userdata == userdata) {
            *p = c->next;
            free(c);
            n++;
        } else {
            p = &c->next;
        }
    }
    return n;
}
