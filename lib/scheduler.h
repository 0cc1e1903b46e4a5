/* SPDX-License-Identifier: MIT */
/* The scheduler's inline core: appending to the ready queue, waking a
 * parked greenlet, and the check every blocking call starts with. For
 * hub.c, which owns the ready queue and the loop, and for the parts split
 * off it that are as hot as the hub's own code (iowait.c, waitq.c);
 * everyone else calls green__hub_wake(), green__hub_ready() and
 * green__hub_park() (lib/internal.h).
 *
 * They are inline here rather than calls into hub.c so that a wait or a
 * wake-up costs what it cost when all of it lived in hub.c, where the
 * compiler inlined them. */
#ifndef GREEN_SCHEDULER_H
#define GREEN_SCHEDULER_H

#include "internal.h"

/* Appends g to the ready queue. */
static inline void green__sched_push(struct green__thread *t,
                                     struct greenlet *g)
{
    g->state = GREEN__READY;
    g->ready_next = NULL;
    if (t->ready_tail != NULL) {
        t->ready_tail->ready_next = g;
    } else {
        t->ready_head = g;
    }
    t->ready_tail = g;
    t->nready++;
}

/* green__hub_wake(): makes a PARKED greenlet READY with wake code `code`;
 * a greenlet that is not PARKED is left alone. Never switches. */
static inline void green__sched_wake(struct greenlet *g, int code)
{
    if (code == -ECANCELED && (g->flags & GREEN__SHIELD)) {
        return; /* shielded: the kill takes effect at its next wait */
    }
    if (g->state == GREEN__PARKED && !(g->flags & GREEN__HUB)) {
        /* Out of its wait queue at once: the first event wins, and no
         * later hand-off (an item, a lock) may go to a greenlet that has
         * already been woken for something else. */
        if (green__link_linked(&g->wait)) {
            green__link_remove(&g->wait);
        }
        g->wake = code;
        green__sched_push(g->thread, g);
    }
}

/* The calling thread's state with a hub (made on first use), or NULL if
 * one cannot be made. */
struct green__thread *green__hub_thread(void);

/* The thread of a greenlet about to block, or NULL with the reason in
 * *err: -ENOMEM (no hub), -EPERM (the hub itself), -ECANCELED (killed and
 * not shielded). */
static inline struct green__thread *green__may_block(int *err)
{
    struct green__thread *t = green__hub_thread();
    if (t == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    unsigned flags = t->current->flags;
    if (flags & GREEN__HUB) {
        *err = -EPERM;
        return NULL;
    }
    if ((flags & (GREEN__CANCELLED | GREEN__SHIELD)) == GREEN__CANCELLED) {
        *err = -ECANCELED;
        return NULL;
    }
    return t;
}

#endif
