/* SPDX-License-Identifier: MIT */
/* What the objects any OS thread may share are made of (lib/crosswait.c):
 * a guard, and waiter records.
 *
 * A guard is a spinlock around an object's whole state, which the solo
 * thread does not take (lib/solo.h: while one OS thread alone has green
 * state, its plain section is the lock), so one thread's objects cost
 * what they did before they could be shared. A waiter keeps a record in
 * the object's FIFO, lets the guard go and parks on its own hub; a waker
 * takes the record out and serves it with the guard held, waking the
 * waiter directly on its own OS thread or through the waiter's thread's
 * inbox (lib/remote.c). An inbox wake-up is sent only once the waker has
 * let every guard go: the waiter may return, and free the object, the
 * moment it arrives, and the record it reaches stays until then. A
 * waiter whose park ended otherwise takes the guard before it reads its
 * record, so a hand-off and a timeout never both win, and it waits for
 * an inbox wake-up still on its way before its record goes out of scope. Queues (lib/queue.c), semaphores, locks
 * and conditions (lib/lock.c) are built this way. */
#ifndef GREEN_CROSSWAIT_H
#define GREEN_CROSSWAIT_H

#include <stdbool.h>

#include "internal.h"
#include "solo.h"

struct green__guard {
    int lock; /* 1 while a thread other than the solo one holds it */
};

/* How the caller holds a guard. */
struct green__held {
    struct green__guard *guard;
    struct green__thread *t;
    bool solo;
};

/* The spinlock's side of green__guard_take. */
void green__guard_spin(struct green__guard *g);

/* Sends the inbox wake-ups t put off while it held guards. */
void green__xwait_send_later(struct green__thread *t);

/* Takes g for t's greenlet (a spin, never a park). t must be the
 * caller's green state (green__thread_get): a thread that touches a
 * shared object without it would not have ended solo mode. */
static inline void green__guard_take(struct green__held *h,
                                     struct green__guard *g,
                                     struct green__thread *t)
{
    h->guard = g;
    h->t = t;
    h->solo = green__solo_enter(t);
    if (!h->solo) {
        green__guard_spin(g);
        t->xguards++;
    }
}

/* Lets g go; the object may be gone once this returns. In solo mode no
 * waiter is on another OS thread, so nothing was put off. */
static inline void green__guard_drop(struct green__held *h)
{
    if (h->solo) {
        green__solo_leave();
    } else {
        struct green__thread *t = h->t;
        __atomic_store_n(&h->guard->lock, 0, __ATOMIC_RELEASE);
        if (--t->xguards == 0 && GREEN__UNLIKELY(t->xlater != NULL)) {
            green__xwait_send_later(t);
        }
    }
}

/* A record's state: waiting, served (or ended by the waker with an
 * -errno), or leaving (its waiter's park ended otherwise and it is on its
 * way to take itself out). The waker and the waiter move it on from
 * WAITING with a compare-and-swap, so exactly one of them does: a served
 * waiter then never touches the object again (it may be freed at once),
 * and a leaving one is still queued, which keeps the object from being
 * freed until it has taken itself out. */
enum {
    GREEN__XW_WAITING = 0,
    GREEN__XW_SERVED = 1,
    GREEN__XW_LEAVING = 2
};

struct green__xwait {
    struct green__link link;      /* in the object's FIFO while queued */
    struct greenlet *g;
    void *item;                   /* what a hand-off carries */
    int state;                    /* atomic: see above */
    bool sent;                    /* woken through g's thread's inbox */
    struct green__remote remote;  /* ...with this */
    struct green__xwait *later;   /* in the waker's put-off sends */
};

/* Appends w, for the calling greenlet of t, to the FIFO l, once t has a
 * hub for a waker of another thread to wake it through. Returns 0, or
 * -ENOMEM (no hub could be made: w is not queued). */
int green__xwait_push(struct green__link *l, struct green__xwait *w,
                      struct green__thread *t);

/* With the guard held: takes the first waiter of l that is neither
 * leaving nor killed (one of t killed leaves by itself with -ECANCELED),
 * gives it item if give, and ends its wait with state; returns it, not
 * yet woken (read what it offered now), or NULL. */
struct green__xwait *green__xwait_take(struct green__link *l,
                                       const struct green__thread *t,
                                       int state, bool give, void *item);

/* Wakes w's waiter, which green__xwait_take served; t is the caller's OS
 * thread. One on t is woken at once (it runs only once t's greenlet
 * switches); one on another thread through its inbox, at once if t holds
 * no guard (a condition's notify, under the condition's lock), else once
 * t has let every guard go. w may be gone once its waiter is woken. */
void green__xwait_wake(struct green__xwait *w, struct green__thread *t);

/* Parks w's greenlet, whose record is queued and whose guard is let go,
 * for at most timeout seconds; returns the park's result. A wait another
 * OS thread may end does not count as a deadlock while one exists. */
int green__xwait_park(struct green__xwait *w, double timeout,
                      const char *what, const void *obj);

/* After a park that ended: the record's state if a waker served it, else
 * GREEN__XW_LEAVING, having marked it so (the waiter must then take the
 * guard and green__link_remove it). */
int green__xwait_end(struct green__xwait *w);

/* For a waiter a waker served: waits until an inbox wake-up aimed at w
 * has been delivered (shielded from kills). */
void green__xwait_settle(struct green__xwait *w, const char *what,
                         const void *obj);

/* The common wait: with h held, queues w on l, parks, and returns with h
 * let go: 0 once served, the waker's error, or the park's. A spurious
 * wake-up parks again. */
int green__xwait_wait(struct green__held *h, struct green__link *l,
                      struct green__xwait *w, struct green__thread *t,
                      double timeout, const char *what, const void *obj);

/* Called by a waiter that took itself out of an object's FIFO (its park
 * ended otherwise), with the guard still held: returns an inbox record to
 * send once the guard is let go, or NULL. The object may be freed the
 * moment that record arrives, so nothing of it is read after. */
typedef struct green__remote *(*green__xwait_left_fn)(void *arg);

/* What green__xwait_wait_ex does beyond green__xwait_wait. */
struct green__xwait_opts {
    green__xwait_left_fn left;    /* if not NULL: left(arg), as above, once
                                     w took itself out */
    void *arg;
    bool local;                   /* only this OS thread's greenlets can
                                     serve w: the wait counts for the
                                     deadlock check as a local one */
};

/* green__xwait_wait with the options o (NULL: none). */
int green__xwait_wait_ex(struct green__held *h, struct green__link *l,
                         struct green__xwait *w, struct green__thread *t,
                         double timeout, const char *what, const void *obj,
                         const struct green__xwait_opts *o);

/* For the unit tests only: when not NULL, called at the moments where
 * two OS threads meet an object that one of them may free next, so that
 * a test can hold a thread there:
 *  - GREEN__TEST_LEAVING: a waiter whose park ended otherwise has marked
 *    its record leaving and has yet to take the guard to take it out;
 *  - GREEN__TEST_WATCH_END: a watched task's end (lib/gather.c) has
 *    counted itself and has yet to let the watch's guard go.
 * obj is the object waited on. */
enum { GREEN__TEST_LEAVING, GREEN__TEST_WATCH_END };
extern void (*green__test_hook)(int point, const void *obj);

static inline void green__test_point(int point, const void *obj)
{
    void (*hook)(int, const void *) =
        __atomic_load_n(&green__test_hook, __ATOMIC_ACQUIRE);
    if (GREEN__UNLIKELY(hook != NULL)) {
        hook(point, obj);
    }
}

static inline void green__xlist_init(struct green__link *l)
{
    l->next = l->prev = l;
}

static inline bool green__xlist_empty(const struct green__link *l)
{
    return __atomic_load_n(&l->next, __ATOMIC_RELAXED) == l;
}

#endif
