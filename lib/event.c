/* SPDX-License-Identifier: MIT */
/* Event: a flag, and greenlets of any OS thread waiting for it to be set.
 *
 * The flag and the FIFO of waiter records are under the event's guard
 * (lib/crosswait.h): a set serves every waiter, on whichever thread's hub
 * it waits, and a waiter served by a set returns 0 even if the flag was
 * cleared again before it ran. */
#include "internal.h"
#include "crosswait.h"

#include "green/event.h"

#include <stdlib.h>

struct green_event {
    bool set;                     /* the flag */
    struct green__guard guard;
    struct green__link waiters;   /* struct green__xwait, FIFO */
};

int green_event_new(green_event_t **out)
{
    if (out == NULL) {
        return -EINVAL;
    }
    green_event_t *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        return -ENOMEM;
    }
    green__xlist_init(&e->waiters);
    *out = e;
    return 0;
}

int green_event_free(green_event_t *e)
{
    if (e == NULL) {
        return -EINVAL;
    }
    if (!green__xlist_empty(&e->waiters)) {
        return -EBUSY;
    }
    free(e);
    return 0;
}

/* Sets or clears e. Any thread that touches it needs green state: its
 * arrival ends solo mode (lib/solo.h) before it takes the guard. */
static int put_flag(green_event_t *e, bool set)
{
    if (e == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    if (t == NULL) {
        return -ENOMEM;
    }
    struct green__held h;
    green__guard_take(&h, &e->guard, t);
    __atomic_store_n(&e->set, set, __ATOMIC_RELAXED);
    struct green__xwait *w;
    while (set && (w = green__xwait_take(&e->waiters, t, GREEN__XW_SERVED,
                                         false, NULL)) != NULL) {
        green__xwait_wake(w, t);
    }
    green__guard_drop(&h);
    return 0;
}

int green_event_set(green_event_t *e)
{
    return put_flag(e, true);
}

int green_event_clear(green_event_t *e)
{
    return put_flag(e, false);
}

bool green_event_is_set(const green_event_t *e)
{
    return e != NULL && __atomic_load_n(&e->set, __ATOMIC_RELAXED);
}

int green_event_wait(green_event_t *e, double timeout)
{
    if (e == NULL) {
        return -EINVAL;
    }
    int r = green__check_timeout(timeout);
    if (r != 0) {
        return r;
    }
    struct green__thread *t = green__thread_get();
    if (t == NULL) {
        return -ENOMEM;
    }
    struct green__held h;
    green__guard_take(&h, &e->guard, t);
    if (e->set) {
        green__guard_drop(&h);
        return 0;
    }
    struct green__xwait w = {.item = NULL};
    return green__xwait_wait(&h, &e->waiters, &w, t, timeout,
                             "green_event_wait on", e);
}
