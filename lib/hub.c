/* SPDX-License-Identifier: MIT */
/* The hub: one libev loop per OS thread, run by its own greenlet, and the
 * scheduler that parks and wakes greenlets around it: the ready queue,
 * park and wake, yield, timers, and the deadlock report.
 *
 * Design. A greenlet that must wait parks: it records what it waits for,
 * arms a timer if it has a deadline, and gives the CPU away. Whoever wakes
 * it (a timer or I/O callback, a task ending, an event being set) only
 * appends it to the ready queue with a wake code; nothing switches on a
 * wake-up.
 *
 * Giving the CPU away goes straight to the next ready greenlet when there
 * is one: a yield or a hand-off costs one context switch, not two through
 * the hub. The hub greenlet runs only when nothing is ready, or when
 * GREEN__BUDGET hand-offs in a row have passed without it, so that I/O and
 * timers are polled even while greenlets keep each other busy (Go's
 * scheduler makes the same trade with its global run queue check every 61
 * schedule ticks). The budget is never less than what one poll made ready:
 * polling again before every greenlet woken by the last poll has run would
 * report their fds again (libev's epoll is level-triggered), which costs
 * the kernel a readiness check per fd and the loop a mask change each.
 *
 * Rejected: running every greenlet from the hub's loop as libev callbacks
 * (gevent's way) doubles the switches per wake-up; polling the loop with
 * EVRUN_NOWAIT on every yield costs a system call per yield.
 *
 * Deadlock. The hub runs with nothing ready only to wait in ev_run(). If
 * the loop then has no active watcher (no timer, no fd, no async), nothing
 * can ever wake anyone: that is a deadlock, reported (lib/log.c) with every
 * greenlet and what it waits for, and the root greenlet's wait (or, if the
 * root is not parked, every wait) fails with -EDEADLK instead of hanging.
 *
 * Around the hub, each in its own file:
 *  - scheduler.h: the scheduler's inline core (the ready queue's push,
 *    the wake-up, the may-this-greenlet-block check), shared with the
 *    files below so that their hot paths cost what they did in hub.c;
 *  - iowait.c: fd waits, one libev registration per fd;
 *  - waitq.c: the wait queues every blocking object is built on;
 *  - monitor.c: the blocking monitor, which checks on every park how long
 *    the hub was kept from running, and watchdog.c, the OS thread that
 *    reports a hub stuck for good;
 *  - sigbridge.c: the signal bridge, which gives a signal to the green
 *    thread that takes it and ends its wait with EINTR.
 * The libev loop is made and run here only; iowait.c and sigbridge.c add
 * their watchers to it (they are the other files that include <ev.h>). */
#include "internal.h"
#include "handoff.h"
#include "dump.h"
#include "log.h"
#include "monitor.h"
#include "patch.h"
#include "real.h"
#include "scheduler.h"
#include "workers.h"

#include <ev.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#define GREEN__BUDGET 256
#define GREEN__HUB_STACK ((size_t)256 << 10)

/* A timer that starts a NEW task later (green_spawn_later). */
struct later {
    ev_timer w;
    struct greenlet *g;
};

/* Takes the first greenlet off the ready queue (green__sched_push, in
 * scheduler.h, appends). */
static inline struct greenlet *ready_pop(struct green__thread *t)
{
    struct greenlet *g = t->ready_head;
    if (g != NULL) {
        t->ready_head = g->ready_next;
        if (t->ready_head == NULL) {
            t->ready_tail = NULL;
        }
        t->nready--;
    }
    return g;
}

/* The next greenlet to run: a ready one that has (or can get) a stack, or,
 * when the budget is spent or nothing is ready, the hub. A spawned task
 * whose stack cannot be allocated is ended by the task layer here. */
static struct greenlet *pick_next(struct green__thread *t)
{
    while (t->budget != 0) {
        struct greenlet *g = ready_pop(t);
        if (g == NULL) {
            break;
        }
        t->budget--;
        if (GREEN__LIKELY(g->stack != NULL || (g->flags & GREEN__ROOT)) ||
            green__greenlet_prepare(t, g) == 0) {
            return g;
        }
        g->state = GREEN__NEW;
        __atomic_load_n(&green__greenlet_nostack, __ATOMIC_RELAXED)(g);
    }
    return t->hub;
}

static void deadlock(struct green__thread *t);

static void *hub_run(void *arg)
{
    struct green__thread *t = green__thread_peek();
    struct ev_loop *loop = t->loop;
    (void)arg;
    for (;;) {
        if (t->ready_head == NULL) {
            if (t->nwatch == 0 && !green__signal_may_wake(t) &&
                (t->nmaybe == 0 || !green__other_os_threads_now())) {
                /* What a thread sent before it ended is not lost. */
                if (__atomic_load_n(&t->remote, __ATOMIC_ACQUIRE) != NULL) {
                    green__remote_drain(t);
                    continue;
                }
                deadlock(t);
                continue;
            }
            green__monitor(t, NULL);
            ev_run(loop, EVRUN_ONCE);
        } else {
            green__monitor(t, NULL);
            ev_run(loop, EVRUN_NOWAIT);
        }
        green__monitor_stamp(t);
        t->hub_turns++;
        t->turn_time = ev_now(loop);
        green__remote_poll(t);
        green__deliver_signals(t);
        green__dump_poll(t);
        if (GREEN__UNLIKELY(__atomic_load_n(&green__handoff_want,
                                            __ATOMIC_RELAXED))) {
            green__handoff_replenish(); /* the last spare took this hub */
        }
        t->budget = t->nready > GREEN__BUDGET ? t->nready : GREEN__BUDGET;
        struct greenlet *next = pick_next(t);
        if (next != t->hub) {
            t->hub->state = GREEN__PARKED; /* only the scheduler resumes it */
            green__greenlet_jump(t, next);
        }
    }
    return NULL;
}

static int hub_create(struct green__thread *t)
{
    struct greenlet *h = malloc(sizeof(*h));
    if (h == NULL) {
        return -ENOMEM;
    }
    t->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (t->loop == NULL) {
        free(h);
        return -ENOMEM;
    }
    /* The async that signals and remote wake-ups need, before anything
     * that is harder to take back. */
    green__sigbridge_start(t);
    if (t->sig_async == NULL) {
        ev_loop_destroy(t->loop);
        t->loop = NULL;
        free(h);
        return -ENOMEM;
    }
    green__greenlet_init(h, t, hub_run, &t->root, GREEN__HUB_STACK);
    h->flags |= GREEN__HUB;
    h->name = NULL;
    if (green__greenlet_prepare(t, h) != 0) {
        green__sigbridge_stop(t);
        ev_loop_destroy(t->loop);
        t->loop = NULL;
        t->root.live_children--;
        free(h);
        return -ENOMEM;
    }
    h->state = GREEN__PARKED;
    t->hub = h;
    t->turn_time = ev_now(t->loop);
    green__monitor_hub(t);
    green__handoff_hub(t);
    return 0;
}

struct green__thread *green__hub_thread(void)
{
    struct green__thread *t = green__thread_get();
    if (GREEN__UNLIKELY(t == NULL || (t->hub == NULL && hub_create(t) != 0))) {
        return NULL;
    }
    return t;
}

/* Leaves the running greenlet (already PARKED or READY) for the next. */
static inline int schedule(struct green__thread *t)
{
    struct greenlet *self = t->current;
    struct greenlet *next = pick_next(t);
    if (next == self) {
        self->state = GREEN__RUNNING; /* it was the only one ready */
        return 0;
    }
    return green__greenlet_jump(t, next);
}

static void on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct greenlet *g = w->data;
    (void)loop, (void)revents;
    g->thread->nwatch--;
    green__hub_wake(g, -ETIMEDOUT);
}

int green__hub_park_intr(double timeout, const char *what, const void *obj,
                         int intr)
{
    int err;
    struct green__thread *t = green__may_block(&err);
    if (t == NULL) {
        return err;
    }
    struct greenlet *self = t->current;
    if (self->scopes != NULL && !(self->flags & GREEN__SHIELD)) {
        /* A timeout scope's deadline caps every wait inside it. */
        double left = self->scopes->deadline - green__now();
        if (left < timeout) {
            timeout = left;
        }
    }
    if (timeout <= 0.0) {
        return -ETIMEDOUT;
    }
    /* The timer lives in this frame, which lives as long as the park. */
    ev_timer tw;
    bool timed = isfinite(timeout);
    if (timed) {
        ev_now_update(t->loop); /* ev_now() is stale after a busy spell */
        ev_timer_init(&tw, on_timeout, timeout, 0.0);
        tw.data = self;
        ev_timer_start(t->loop, &tw);
        t->nwatch++;
    }
    green__monitor_ran(t, self);
    self->state = GREEN__PARKED;
    /* The wait descriptor (internal.h): the time of the last hub turn,
     * or the one just updated for the timer; no clock read, so that an
     * untimed park costs a load and two stores more. */
    if (timed) {
        self->wait_since = ev_now(t->loop);
        self->wait_until = self->wait_since + timeout;
    } else {
        self->wait_since = t->turn_time;
        self->wait_until = HUGE_VAL;
    }
    self->wait_what = what;
    self->wait_obj = obj;
    self->wake = 0;
    self->intr = (unsigned char)intr;
    int r = schedule(t);
    if (GREEN__UNLIKELY(self->sig_pend & ~self->sig_mask)) {
        green__sig_resume(t, self); /* the handlers of its EINTR */
    }
    self->intr = GREEN__INTR_NEVER;
    if (timed && ev_is_active(&tw)) {
        ev_timer_stop(t->loop, &tw);
        t->nwatch--;
    }
    self->wait_what = NULL;
    self->wait_obj = NULL;
    self->wait_on = NULL;
    return r != 0 ? r : self->wake;
}

void green__hub_wake(struct greenlet *g, int code)
{
    green__sched_wake(g, code);
}

void green__hub_ready(struct greenlet *g)
{
    green__sched_push(g->thread, g);
}

int green__hub_yield(void)
{
    int err;
    struct green__thread *t = green__may_block(&err);
    if (t == NULL) {
        return err;
    }
    struct greenlet *self = t->current;
    green__sched_push(t, self);
    int r = schedule(t);
    if (GREEN__UNLIKELY(self->sig_pend & ~self->sig_mask)) {
        green__sig_resume(t, self);
    }
    return r;
}

_Noreturn void green__hub_exit(void *result)
{
    struct green__thread *t = green__thread_peek();
    green__monitor_ran(t, t->current);
    if (GREEN__UNLIKELY(t->fork_sole == t->current)) {
        exit(0); /* the last thread of a forked child ended */
    }
    green__greenlet_exit(t, pick_next(t), result);
}

static void on_later(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct later *l = (struct later *)w;
    (void)loop, (void)revents;
    l->g->thread->nwatch--;
    green__sched_push(l->g->thread, l->g);
    free(l);
}

void *green__hub_ready_later(struct greenlet *g, double seconds, int *err)
{
    struct green__thread *t = green__hub_thread();
    struct later *l = t != NULL ? malloc(sizeof(*l)) : NULL;
    if (l == NULL) {
        *err = -ENOMEM;
        return NULL;
    }
    l->g = g;
    ev_timer_init(&l->w, on_later, seconds, 0.0);
    if (isfinite(seconds)) { /* GREEN_FOREVER: never starts, wakes nobody */
        ev_now_update(t->loop);
        ev_timer_start(t->loop, &l->w);
        t->nwatch++;
    }
    return l;
}

void green__hub_cancel_later(void *timer)
{
    struct later *l = timer;
    if (ev_is_active(&l->w)) {
        ev_timer_stop(l->g->thread->loop, &l->w);
        l->g->thread->nwatch--;
    }
    free(l);
}

static const char *state_name(const struct greenlet *g)
{
    switch (g->state) {
    case GREEN__RUNNING: return "running";
    case GREEN__SUSPENDED: return "suspended in greenlet_switch";
    case GREEN__READY: return "ready";
    case GREEN__PARKED: return "waiting in";
    default: return "?";
    }
}

/* The report, line by line: a warning where something is patched (the
 * program would hang natively), a debugging line in a program that
 * patched nothing (its wait returns -EDEADLK, which says it). */
static void deadlock(struct green__thread *t)
{
    char a[80], b[80], line[256];
    int level = green__patch_settle() != 0 ? GREEN_LOG_WARNING
                                           : GREEN_LOG_DEBUG;
    bool say = green__log_on(level);
    if (say) {
        green__log(level, "deadlock: every greenlet of this thread is "
                   "blocked, and no fd, timer or ready greenlet is left "
                   "that could wake one:");
    }
    size_t parked = 0;
    for (struct green__link *l = t->live.next; l != &t->live; l = l->next) {
        struct greenlet *g = GREEN__CONTAINER(l, struct greenlet, live);
        if (g->flags & GREEN__HUB) {
            continue;
        }
        parked += g->state == GREEN__PARKED;
        if (!say) {
            continue;
        }
        int n = snprintf(line, sizeof(line), "  greenlet %s: %s",
                         green__greenlet_label(g, a, sizeof(a)),
                         state_name(g));
        if (g->state == GREEN__PARKED && n > 0 &&
            (size_t)n < sizeof(line)) {
            const char *what = g->wait_what ? g->wait_what : "a wait";
            if (g->wait_on != NULL) {
                snprintf(line + n, sizeof(line) - (size_t)n, " %s %s", what,
                         green__greenlet_label(g->wait_on, b, sizeof(b)));
            } else if (g->wait_obj != NULL) {
                snprintf(line + n, sizeof(line) - (size_t)n, " %s %p", what,
                         g->wait_obj);
            } else {
                snprintf(line + n, sizeof(line) - (size_t)n, " %s", what);
            }
        }
        green__log(level, "%s", line);
    }
    if (t->root.state == GREEN__PARKED) {
        green__hub_wake(&t->root, -EDEADLK);
        return;
    }
    if (parked == 0) {
        green__log(GREEN_LOG_ERROR, "nothing is waiting on the hub either; "
                   "aborting");
        abort();
    }
    for (struct green__link *l = t->live.next; l != &t->live; l = l->next) {
        green__hub_wake(GREEN__CONTAINER(l, struct greenlet, live), -EDEADLK);
    }
}

void green__hub_after_fork(void)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL || t->hub == NULL) {
        return;
    }
    ev_loop_fork(t->loop);
    green__sig_after_fork(t);
    struct greenlet *self = t->current;
    /* Everyone else stays where it is, never to run again: out of the
     * ready queue, and no longer PARKED, so no wake-up readies it. */
    t->ready_head = t->ready_tail = NULL;
    t->nready = 0;
    for (struct green__link *l = t->live.next; l != &t->live; l = l->next) {
        struct greenlet *g = GREEN__CONTAINER(l, struct greenlet, live);
        if (g != self && !(g->flags & GREEN__HUB)) {
            g->state = GREEN__SUSPENDED;
        }
    }
    if (!(self->flags & GREEN__ROOT)) {
        t->fork_sole = self;
    }
}

void green__hub_thread_term(struct green__thread *t)
{
    green__monitor_forget(t);
    for (size_t i = 0; i < t->nfds; i++) {
        free(t->fds[i]);
    }
    free(t->fds);
    t->fds = NULL;
    t->nfds = 0;
    if (t->hub != NULL) {
        /* A thread that pushed a wake-up just before this one stopped may
         * still be signalling its loop (lib/remote.c). */
        while (__atomic_load_n(&t->senders, __ATOMIC_ACQUIRE) != 0) {
            GREEN_REAL(sched_yield)();
        }
        green__sigbridge_stop(t);
        ev_loop_destroy(t->loop);
        t->loop = NULL;
        free(t->hub);
        t->hub = NULL;
    }
}
