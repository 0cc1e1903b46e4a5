/* SPDX-License-Identifier: MIT */
/* Event: a flag and the queue of greenlets waiting for it to be set. */
#include "internal.h"

#include "green/event.h"

#include <stdlib.h>

struct green_event {
    bool set;                     /* the flag */
    struct green__waitq waiters;  /* parked until set, FIFO */
    struct green__thread *thread; /* owner */
};

static int check(const green_event_t *e)
{
    if (e == NULL) {
        return -EINVAL;
    }
    return e->thread == green__thread_peek() ? 0 : -EPERM;
}

int green_event_new(green_event_t **out)
{
    if (out == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    green_event_t *e = t != NULL ? malloc(sizeof(*e)) : NULL;
    if (e == NULL) {
        return -ENOMEM;
    }
    e->set = false;
    green__waitq_init(&e->waiters);
    e->thread = t;
    *out = e;
    return 0;
}

int green_event_free(green_event_t *e)
{
    int r = check(e);
    if (r != 0) {
        return r;
    }
    if (!green__waitq_empty(&e->waiters)) {
        return -EBUSY;
    }
    free(e);
    return 0;
}

int green_event_set(green_event_t *e)
{
    int r = check(e);
    if (r == 0) {
        e->set = true;
        green__waitq_wake_all(&e->waiters, 0);
    }
    return r;
}

int green_event_clear(green_event_t *e)
{
    int r = check(e);
    if (r == 0) {
        e->set = false;
    }
    return r;
}

bool green_event_is_set(const green_event_t *e)
{
    return e != NULL && e->set;
}

int green_event_wait(green_event_t *e, double timeout)
{
    int r = check(e);
    if (r != 0 || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    if (e->set) {
        return 0;
    }
    r = green__waitq_wait(&e->waiters, timeout, "green_event_wait on", e);
    /* Set and cleared again before we ran: we were woken, that counts. */
    return r;
}
