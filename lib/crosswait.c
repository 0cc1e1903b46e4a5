/* SPDX-License-Identifier: MIT */
/* Guards and waiter records of the objects any OS thread may share (see
 * crosswait.h). */
#include "crosswait.h"

#include <sched.h>

#include "real.h"
#include "scheduler.h"

#if defined(__x86_64__) || defined(__i386__)
# define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
# define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
# define cpu_relax() ((void)0)
#endif

void green__guard_spin(struct green__guard *g)
{
    for (unsigned spins = 0;; spins++) {
        if (__atomic_load_n(&g->lock, __ATOMIC_RELAXED) == 0 &&
            !__atomic_exchange_n(&g->lock, 1, __ATOMIC_ACQUIRE)) {
            return;
        }
        if (spins < 256) {
            cpu_relax();
        } else {
            GREEN_REAL(sched_yield)(); /* the holder was descheduled */
        }
    }
}

int green__xwait_push(struct green__link *l, struct green__xwait *w,
                      struct green__thread *t)
{
    if (GREEN__UNLIKELY(t->hub == NULL) && green__hub_thread() == NULL) {
        return -ENOMEM; /* its inbox's wake-up needs the loop */
    }
    w->g = t->current;
    w->state = GREEN__XW_WAITING;
    w->sent = false;
    w->link.prev = l->prev;
    w->link.next = l;
    l->prev->next = &w->link;
    __atomic_store_n(&l->prev, &w->link, __ATOMIC_RELAXED);
    return 0;
}

struct green__xwait *green__xwait_take(struct green__link *l,
                                       const struct green__thread *t,
                                       int state, bool give, void *item)
{
    for (struct green__link *e = l->next; e != l; e = e->next) {
        struct green__xwait *w = GREEN__CONTAINER(e, struct green__xwait,
                                                  link);
        if (green__wait_killed(w->g, t)) {
            continue;
        }
        /* Everything the waiter reads once it sees the state is written
         * before the state: it may return the moment it does. */
        struct greenlet *g = w->g;
        bool remote = g->thread != t;
        if (give) {
            w->item = item;
        }
        if (remote) {
            w->sent = true;
            w->remote.g = g;
            w->remote.code = 0;
        }
        int expect = GREEN__XW_WAITING;
        if (!__atomic_compare_exchange_n(&w->state, &expect, state, false,
                                         __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            continue; /* leaving: it takes itself out */
        }
        green__link_remove(&w->link);
        return w;
    }
    return NULL;
}

/* The waiter queued itself and parked on its own hub with nothing in
 * between that could let its hub run, so an inbox wake-up always finds it
 * parked (or woken already for another reason, when it is a no-op). */
void green__xwait_wake(struct green__xwait *w, struct green__thread *t)
{
    struct greenlet *g = w->g;
    if (g->thread == t) {
        green__hub_wake(g, 0);
    } else if (t->xguards == 0) {
        green__remote_wake(&w->remote);
    } else {
        w->later = NULL;
        if (t->xlater == NULL) {
            t->xlater = w;
        } else {
            *t->xlater_tail = w;
        }
        t->xlater_tail = &w->later;
    }
}

void green__xwait_send_later(struct green__thread *t)
{
    struct green__xwait *w = t->xlater;
    t->xlater = NULL;
    while (w != NULL) {
        struct green__xwait *next = w->later; /* w may go once it is sent */
        green__remote_wake(&w->remote);
        w = next;
    }
}

int green__xwait_park(struct green__xwait *w, double timeout,
                      const char *what, const void *obj)
{
    struct green__thread *t = w->g->thread;
    t->nmaybe++; /* another OS thread may serve it (lib/hub.c) */
    int r = green__hub_park(timeout, what, obj);
    t->nmaybe--;
    return r;
}

int green__xwait_end(struct green__xwait *w)
{
    int expect = GREEN__XW_WAITING;
    if (__atomic_compare_exchange_n(&w->state, &expect, GREEN__XW_LEAVING,
                                    false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        return GREEN__XW_LEAVING;
    }
    return expect; /* served, or ended with an error */
}

void green__xwait_settle(struct green__xwait *w, const char *what,
                         const void *obj)
{
    if (!w->sent) {
        return;
    }
    struct greenlet *g = w->g;
    unsigned char shield = g->flags & GREEN__SHIELD;
    g->flags |= GREEN__SHIELD;
    g->thread->nwatch++;
    while (!__atomic_load_n(&w->remote.done, __ATOMIC_ACQUIRE)) {
        green__hub_park(GREEN_FOREVER, what, obj);
    }
    g->thread->nwatch--;
    g->flags = (unsigned char)((g->flags & ~GREEN__SHIELD) | shield);
}

void (*green__test_hook)(int point, const void *obj);

int green__xwait_wait(struct green__held *h, struct green__link *l,
                      struct green__xwait *w, struct green__thread *t,
                      double timeout, const char *what, const void *obj)
{
    return green__xwait_wait_ex(h, l, w, t, timeout, what, obj, NULL);
}

int green__xwait_wait_ex(struct green__held *h, struct green__link *l,
                         struct green__xwait *w, struct green__thread *t,
                         double timeout, const char *what, const void *obj,
                         const struct green__xwait_opts *o)
{
    struct green__guard *g = h->guard;
    int r = green__xwait_push(l, w, t);
    green__guard_drop(h);
    if (r != 0) {
        return r;
    }
    double deadline = timeout == GREEN_FOREVER ? GREEN_FOREVER
                                               : green__now() + timeout;
    for (;;) {
        double rest = deadline == GREEN_FOREVER ? GREEN_FOREVER
                                                : deadline - green__now();
        rest = rest > 0 ? rest : 0;
        r = o != NULL && o->local ? green__hub_park(rest, what, obj)
                                  : green__xwait_park(w, rest, what, obj);
        if (r != 0 ||
            __atomic_load_n(&w->state, __ATOMIC_ACQUIRE) != GREEN__XW_WAITING) {
            break;
        }
        /* Woken, not served: a condition's wake-up that reached this
         * greenlet while it took the lock back (green_cond_wait). */
    }
    int state = green__xwait_end(w);
    if (state == GREEN__XW_LEAVING) {
        /* Still queued, so the object is still there. */
        green__test_point(GREEN__TEST_LEAVING, obj);
        green__guard_take(h, g, t);
        green__link_remove(&w->link);
        struct green__remote *send =
            o != NULL && o->left != NULL ? o->left(o->arg) : NULL;
        green__guard_drop(h);
        if (send != NULL) { /* the object may be gone once it is sent */
            green__remote_wake(send);
        }
        return r;
    }
    /* Served: the object may be gone already; only our record is ours. */
    green__xwait_settle(w, what, obj);
    return state == GREEN__XW_SERVED ? 0 : state;
}
