/* SPDX-License-Identifier: MIT */
/* Wait queues: FIFOs of parked greenlets, the one waiting structure under
 * every blocking object of the toolbox (task joiners, events, futures,
 * queues, semaphores and locks, pools, green_run callers).
 *
 * A queue is an intrusive list through greenlet.wait (the inline half is
 * in lib/internal.h: init, push, pop). A waiter links itself and parks on
 * the hub; a waker pops it and wakes it, which only queues it to run.
 * green__hub_wake() unlinks a greenlet woken for any other reason (a
 * timeout, a kill) at once, so a waker never finds a waiter that has
 * already been woken.
 *
 * Hand-off waits are for resources that must not be stolen (fair
 * semaphores, locks, pool slots): the waker gives the resource to the
 * first waiter itself and marks it handed through the waiter's wait_data,
 * so the waiter knows it owns the resource even if a timeout or a kill
 * woke it in the same turn. */
#include "internal.h"
#include "scheduler.h"

int green__waitq_wait(struct green__waitq *q, double timeout,
                      const char *what, const void *obj)
{
    struct greenlet *self = greenlet_current();
    if (self == NULL) {
        return -ENOMEM;
    }
    green__waitq_push(q, self);
    int r = green__hub_park(timeout, what, obj);
    if (green__link_linked(&self->wait)) {
        green__link_remove(&self->wait); /* not woken by a waker */
    }
    return r;
}

int green__waitq_wait_handoff(struct green__waitq *q, double timeout,
                              const char *what, const void *obj)
{
    bool handed = false;
    struct greenlet *self = greenlet_current();
    self->wait_data = &handed;
    int r = green__waitq_wait(q, timeout, what, obj);
    self->wait_data = NULL;
    return handed ? 0 : r;
}

struct greenlet *green__waitq_handoff(struct green__waitq *q)
{
    struct greenlet *g = green__waitq_pop(q);
    if (g != NULL) {
        *(bool *)g->wait_data = true;
        green__sched_wake(g, 0);
    }
    return g;
}

void green__waitq_wake_all(struct green__waitq *q, int code)
{
    struct greenlet *g;
    while ((g = green__waitq_pop(q)) != NULL) {
        green__sched_wake(g, code);
    }
}
