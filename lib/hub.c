/* The hub: one libev loop per OS thread, run by its own greenlet, and the
 * scheduler that parks and wakes greenlets around it. The only file that
 * includes <ev.h>.
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
 * can ever wake anyone: that is a deadlock, reported on stderr with every
 * greenlet and what it waits for, and the root greenlet's wait (or, if the
 * root is not parked, every wait) fails with -EDEADLK instead of hanging. */
#include "internal.h"
#include "real.h"

#include <ev.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GREEN__BUDGET 256
#define GREEN__HUB_STACK ((size_t)256 << 10)

/* A timer that starts a NEW task later (green_spawn_later). */
struct later {
    ev_timer w;
    struct greenlet *g;
};

/* An fd's registration in this thread's loop: made on the first wait on
 * the fd and kept, its event mask following its waiters, until the fd is
 * forgotten (closed). libev applies mask changes lazily at the next poll,
 * so a wait costs no epoll_ctl unless the mask really changes. */
struct green__fdw {
    ev_io io;                 /* io.data == this */
    struct green__link nodes; /* struct iowait, in arrival order */
    bool counted;             /* in t->nwatch (has waiters) */
};

/* One greenlet's interest in one fd. A consumer (a read, an accept) is
 * woken alone for an event, so that one connection does not wake a
 * thousand greenlets in accept(); an observer (poll) is woken with every
 * other observer, since looking does not use the event up. */
struct iowait {
    struct green__link link;  /* in green__fdw.nodes while waiting */
    struct greenlet *g;
    unsigned short want, got; /* POLLIN/POLLOUT */
    bool observe;
};

/* Appends g to the ready queue. */
static inline void ready_push(struct green__thread *t, struct greenlet *g)
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
        green__greenlet_nostack(g);
    }
    return t->hub;
}

static void deadlock(struct green__thread *t);

/* --- blocking monitor ----------------------------------------------------
 * gevent's max_blocking_time: a greenlet that keeps the hub from running
 * for longer than GREEN_MAX_BLOCKING_MS (default 100; 0 turns it off) is
 * named once on stderr, so that users find the call the patch did not
 * reach. The time a greenlet ran is measured when it parks or ends, from
 * the previous park or hub turn, with the coarse clock (a few ns, 4 ms
 * resolution); the yield path is left unmeasured, so a greenlet that
 * blocks and then yields is caught at the next hub turn, unnamed. */
static double max_blocking = -1.0; /* seconds; 0 = off; < 0 = unread */

static double blocking_limit(void)
{
    if (GREEN__UNLIKELY(max_blocking < 0.0)) {
        double v = 0.1;
        const char *e = getenv("GREEN_MAX_BLOCKING_MS");
        if (e != NULL && *e != '\0') {
            char *end;
            long ms = strtol(e, &end, 10);
            if (*end != '\0' || ms < 0 || ms > 86400000L) {
                fprintf(stderr, "libgreen: GREEN_MAX_BLOCKING_MS=%s: "
                                "expected milliseconds (0 = off); using "
                                "100\n", e);
            } else {
                v = ms / 1e3;
            }
        }
        max_blocking = v;
    }
    return max_blocking;
}

static double coarse_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Checks how long the hub has been away; g, if not NULL, is who ran. */
static void monitor(struct green__thread *t, struct greenlet *g)
{
    double limit = blocking_limit();
    if (limit == 0.0) {
        return;
    }
    double now = coarse_now();
    double prev = t->stamp; /* 0: nothing stamped yet */
    double ran = now - prev;
    t->stamp = now;
    if (prev == 0.0 || ran <= limit) {
        return;
    }
    char a[80];
    if (g == NULL) {
        fprintf(stderr, "libgreen: the hub did not run for %.0f ms: a "
                        "greenlet blocked the OS thread in a call the "
                        "patch does not reach\n", ran * 1e3);
    } else if (!(g->flags & GREEN__REPORTED)) {
        g->flags |= GREEN__REPORTED;
        fprintf(stderr, "libgreen: greenlet %s kept the hub from running "
                        "for %.0f ms (GREEN_MAX_BLOCKING_MS=%.0f): it "
                        "blocked the OS thread in a call the patch does not "
                        "reach, or computed without yielding\n",
                green__greenlet_label(g, a, sizeof(a)), ran * 1e3,
                limit * 1e3);
    }
}

/* --- signals ---------------------------------------------------------- */

int green__signal_handlers;

/* Whether only a signal could still wake someone: the program has
 * handlers, and the main greenlet waits where a signal would end the
 * system call (alarm(1); sem_wait(...) is not a deadlock). */
static bool signal_may_wake(struct green__thread *t)
{
    return green__signal_handlers != 0 && t->sig_async != NULL &&
           t->root.state == GREEN__PARKED &&
           t->root.intr != GREEN__INTR_NEVER;
}

static void on_sig_async(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop, (void)w, (void)revents; /* the hub turn does the work */
}

void green__hub_signal(bool restart)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL || t->sig_async == NULL) {
        return;
    }
    unsigned long gen = t->sig_gen + 1;
    t->sig_gen = gen;
    if (!restart) {
        t->sig_norestart = gen;
    }
    ev_async_send(t->loop, t->sig_async);
}

/* Ends the root greenlet's wait with -EINTR if a signal handled since it
 * parked would have interrupted that system call. */
static void deliver_signals(struct green__thread *t)
{
    unsigned long gen = t->sig_gen;
    if (GREEN__LIKELY(gen == t->sig_seen)) {
        return;
    }
    t->sig_seen = gen;
    struct greenlet *r = &t->root;
    if (r->state != GREEN__PARKED || r->intr == GREEN__INTR_NEVER) {
        return;
    }
    unsigned long last = r->intr == GREEN__INTR_ALWAYS ? gen
                                                       : t->sig_norestart;
    if (last > r->park_gen) {
        green__hub_wake(r, -EINTR);
    }
}

static void *hub_run(void *arg)
{
    struct green__thread *t = green__thread_peek();
    struct ev_loop *loop = t->loop;
    (void)arg;
    for (;;) {
        if (t->ready_head == NULL) {
            if (t->nwatch == 0 && !signal_may_wake(t)) {
                deadlock(t);
                continue;
            }
            monitor(t, NULL);
            ev_run(loop, EVRUN_ONCE);
        } else {
            monitor(t, NULL);
            ev_run(loop, EVRUN_NOWAIT);
        }
        t->stamp = max_blocking > 0.0 ? coarse_now() : 0.0;
        deliver_signals(t);
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
    green__greenlet_init(h, t, hub_run, &t->root, GREEN__HUB_STACK);
    h->flags |= GREEN__HUB;
    h->name = NULL;
    if (green__greenlet_prepare(t, h) != 0) {
        ev_loop_destroy(t->loop);
        t->loop = NULL;
        t->root.live_children--;
        free(h);
        return -ENOMEM;
    }
    ev_async *a = malloc(sizeof(*a));
    if (a != NULL) { /* without it, signals do not interrupt waits */
        ev_async_init(a, on_sig_async);
        ev_async_start(t->loop, a); /* not in nwatch: it wakes no one */
    }
    t->sig_async = a;
    h->state = GREEN__PARKED;
    t->hub = h;
    return 0;
}

/* The calling thread's state with a hub, or NULL if one cannot be made. */
static struct green__thread *hub_thread(void)
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

/* The thread of a greenlet about to block, or NULL with the reason in
 * *err: -ENOMEM (no hub), -EPERM (the hub itself), -ECANCELED (killed and
 * not shielded). */
static struct green__thread *may_block(int *err)
{
    struct green__thread *t = hub_thread();
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

int green__hub_park(double timeout, const char *what, const void *obj)
{
    return green__hub_park_intr(timeout, what, obj, GREEN__INTR_NEVER);
}

int green__hub_park_intr(double timeout, const char *what, const void *obj,
                         int intr)
{
    int err;
    struct green__thread *t = may_block(&err);
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
    if (max_blocking != 0.0) {
        monitor(t, self);
    }
    self->state = GREEN__PARKED;
    self->wait_what = what;
    self->wait_obj = obj;
    self->wake = 0;
    self->intr = (unsigned char)intr;
    self->park_gen = t->sig_gen;
    int r = schedule(t);
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
        ready_push(g->thread, g);
    }
}

void green__hub_ready(struct greenlet *g)
{
    ready_push(g->thread, g);
}

int green__hub_yield(void)
{
    int err;
    struct green__thread *t = may_block(&err);
    if (t == NULL) {
        return err;
    }
    ready_push(t, t->current);
    return schedule(t);
}

_Noreturn void green__hub_exit(void *result)
{
    struct green__thread *t = green__thread_peek();
    if (max_blocking != 0.0) {
        monitor(t, t->current);
    }
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
    ready_push(l->g->thread, l->g);
    free(l);
}

void *green__hub_ready_later(struct greenlet *g, double seconds, int *err)
{
    struct green__thread *t = hub_thread();
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

/* --- fd waits ------------------------------------------------------------ */

/* The registration of fd, made on first use. NULL with *err = -EBADF for
 * an fd that is not open (libev asserts if the kernel refuses one, so the
 * fd is checked before it is first registered), or -ENOMEM. */
static struct green__fdw *fdw_get(struct green__thread *t, int fd, int *err)
{
    *err = -ENOMEM;
    if ((size_t)fd >= t->nfds) {
        size_t n = t->nfds != 0 ? t->nfds : 64;
        while (n <= (size_t)fd) {
            n *= 2;
        }
        struct green__fdw **a = realloc(t->fds, n * sizeof(*a));
        if (a == NULL) {
            return NULL;
        }
        for (size_t i = t->nfds; i < n; i++) {
            a[i] = NULL;
        }
        t->fds = a;
        t->nfds = n;
    }
    struct green__fdw *w = t->fds[fd];
    if (w == NULL && GREEN_REAL(fcntl)(fd, F_GETFD) == -1) {
        *err = -EBADF;
        return NULL;
    }
    if (w == NULL && (w = malloc(sizeof(*w))) != NULL) {
        ev_io_init(&w->io, NULL, fd, 0);
        w->io.data = w;
        w->nodes.prev = w->nodes.next = &w->nodes;
        w->counted = false;
        t->fds[fd] = w;
    }
    return w;
}

static void on_io(struct ev_loop *loop, ev_io *io, int revents);

/* What w's waiters want, as libev events. */
static int fdw_want(const struct green__fdw *w)
{
    int want = 0;
    for (const struct green__link *l = w->nodes.next; l != &w->nodes;
         l = l->next) {
        const struct iowait *n = GREEN__CONTAINER(l, struct iowait, link);
        want |= (n->want & POLLIN ? EV_READ : 0) |
                (n->want & POLLOUT ? EV_WRITE : 0);
    }
    return want;
}

/* Sets the registration's mask. The mask only grows while waiters come
 * and go: a greenlet that reads, is woken, and reads again must not cost
 * two epoll_ctl calls per round trip. It shrinks in on_io(), when an
 * event fires that nobody waits for. t->nwatch counts registrations with
 * a waiter: an armed fd that nobody waits for cannot wake anyone. */
static void fdw_set(struct green__thread *t, struct green__fdw *w, int mask)
{
    bool active = ev_is_active(&w->io);
    int have = active ? (w->io.events & (EV_READ | EV_WRITE)) : 0;
    if (mask != have) {
        if (active) {
            ev_io_stop(t->loop, &w->io);
        }
        if (mask != 0) {
            if (!active && w->io.cb != on_io) { /* first start */
                ev_io_set(&w->io, w->io.fd, mask);
                ev_set_cb(&w->io, on_io);
            } else {
                ev_io_modify(&w->io, mask);
            }
            ev_io_start(t->loop, &w->io);
        }
    }
    bool waited = !green__link_empty(&w->nodes);
    if (waited != w->counted) {
        w->counted = waited;
        if (waited) {
            t->nwatch++;
        } else {
            t->nwatch--;
        }
    }
}

/* After a waiter joined or left: the mask grows if needed. */
static void fdw_update(struct green__thread *t, struct green__fdw *w)
{
    int have = ev_is_active(&w->io) ? (w->io.events & (EV_READ | EV_WRITE))
                                    : 0;
    fdw_set(t, w, have | fdw_want(w));
}

/* Takes n off its fd and wakes its greenlet with code. */
static void iowait_fire(struct iowait *n, unsigned short got, int code)
{
    n->got = got;
    green__link_remove(&n->link);
    green__hub_wake(n->g, code);
}

/* Wakes, for each event that fired, every observer that wants it and the
 * first consumer that does. If the fd stays ready, the next poll wakes
 * the next consumer. */
static void on_io(struct ev_loop *loop, ev_io *io, int revents)
{
    struct green__fdw *w = io->data;
    struct green__thread *t = green__thread_peek();
    (void)loop;
    int got = (revents & EV_READ ? POLLIN : 0) |
              (revents & EV_WRITE ? POLLOUT : 0);
    int left = got;
    bool bad = (revents & EV_ERROR) != 0; /* libev found the fd invalid */
    struct green__link *l = w->nodes.next;
    while (l != &w->nodes) {
        struct iowait *n = GREEN__CONTAINER(l, struct iowait, link);
        l = l->next;
        if (bad) {
            iowait_fire(n, n->want, n->observe ? 0 : -EBADF);
        } else if (n->observe ? (n->want & got) : (n->want & left)) {
            if (!n->observe) {
                left &= ~n->want;
            }
            iowait_fire(n, (unsigned short)(n->want & got), 0);
        }
    }
    /* Events that fired keep their bit only if someone still waits for
     * them or was just woken by them (it will most likely wait again);
     * a bit that fired for nobody is dropped. */
    int fired = revents & (EV_READ | EV_WRITE);
    int keep = (w->io.events & (EV_READ | EV_WRITE)) & ~fired;
    int woke = ((got & ~left) & POLLIN ? EV_READ : 0) |
               ((got & ~left) & POLLOUT ? EV_WRITE : 0);
    fdw_set(t, w, bad ? 0 : (keep | woke | fdw_want(w)));
}

/* Links n for fd (registering the fd on first use). 0 or -EBADF,
 * -ENOMEM. */
static int iowait_add(struct green__thread *t, struct iowait *n, int fd)
{
    int err;
    struct green__fdw *w = fdw_get(t, fd, &err);
    if (w == NULL) {
        return err;
    }
    n->g = t->current;
    n->got = 0;
    n->link.prev = w->nodes.prev;
    n->link.next = &w->nodes;
    w->nodes.prev->next = &n->link;
    w->nodes.prev = &n->link;
    fdw_update(t, w);
    return 0;
}

/* Unlinks n if no event took it, and updates its fd's mask. (The fd's
 * registration is looked up again: green_close() may have dropped it.) */
static void iowait_drop(struct green__thread *t, struct iowait *n, int fd)
{
    if (green__link_linked(&n->link)) {
        green__link_remove(&n->link);
        struct green__fdw *w = (size_t)fd < t->nfds ? t->fds[fd] : NULL;
        if (w != NULL) {
            fdw_update(t, w);
        }
    }
}

int green__hub_io_wait(int fd, int events, double timeout)
{
    return green__hub_io_wait_intr(fd, events, timeout, GREEN__INTR_RESTART);
}

int green__hub_io_wait_intr(int fd, int events, double timeout, int intr)
{
    if (fd < 0) {
        return -EBADF;
    }
    events &= POLLIN | POLLOUT;
    if (events == 0 || green__check_timeout(timeout) != 0) {
        return -EINVAL;
    }
    int err;
    struct green__thread *t = may_block(&err);
    if (t == NULL) {
        return err;
    }
    struct iowait n = {.want = (unsigned short)events};
    if ((err = iowait_add(t, &n, fd)) != 0) {
        return err;
    }
    int r = green__hub_park_intr(timeout, "a wait on fd",
                                 (void *)(intptr_t)fd, intr);
    iowait_drop(t, &n, fd);
    return r == 0 ? n.got : r;
}

int green__hub_poll_wait(const struct pollfd *fds, size_t nfds,
                         double timeout)
{
    int err;
    struct green__thread *t = may_block(&err);
    if (t == NULL) {
        return err;
    }
    struct iowait small[8];
    struct iowait *n = nfds <= 8 ? small : calloc(nfds, sizeof(*n));
    if (n == NULL) {
        return -ENOMEM;
    }
    size_t added = 0;
    for (size_t i = 0; i < nfds; i++) {
        unsigned short want =
            (unsigned short)(fds[i].events & (POLLIN | POLLOUT | POLLPRI));
        want = (unsigned short)((want & POLLOUT) |
                                (want & (POLLIN | POLLPRI) ? POLLIN : 0));
        n[i] = (struct iowait){.want = want, .observe = true};
        n[i].link.prev = n[i].link.next = &n[i].link;
        if (fds[i].fd >= 0 && want != 0 &&
            iowait_add(t, &n[i], fds[i].fd) == 0) {
            added++;
        }
    }
    int r = green__hub_park_intr(timeout, "poll", NULL, GREEN__INTR_ALWAYS);
    for (size_t i = 0; i < nfds; i++) {
        iowait_drop(t, &n[i], fds[i].fd);
    }
    if (n != small) {
        free(n);
    }
    (void)added;
    return r == 0 ? 1 : r;
}

void green__hub_io_forget(int fd)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL || fd < 0 || (size_t)fd >= t->nfds || t->fds[fd] == NULL) {
        return;
    }
    struct green__fdw *w = t->fds[fd];
    if (ev_is_active(&w->io)) {
        ev_io_stop(t->loop, &w->io);
    }
    if (w->counted) {
        t->nwatch--;
    }
    /* Readers and writers fail with EBADF; pollers look again and see
     * POLLNVAL. */
    while (w->nodes.next != &w->nodes) {
        struct iowait *n = GREEN__CONTAINER(w->nodes.next, struct iowait,
                                            link);
        iowait_fire(n, n->want, n->observe ? 0 : -EBADF);
    }
    free(w);
    t->fds[fd] = NULL;
}

/* --- wait queues ---------------------------------------------------------- */

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
        green__hub_wake(g, 0);
    }
    return g;
}

void green__waitq_wake_all(struct green__waitq *q, int code)
{
    struct greenlet *g;
    while ((g = green__waitq_pop(q)) != NULL) {
        green__hub_wake(g, code);
    }
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

static void deadlock(struct green__thread *t)
{
    char a[80], b[80];
    fprintf(stderr, "libgreen: deadlock: every greenlet of this thread is "
                    "blocked, and no fd, timer or ready greenlet is left "
                    "that could wake one:\n");
    size_t parked = 0;
    for (struct green__link *l = t->live.next; l != &t->live; l = l->next) {
        struct greenlet *g = GREEN__CONTAINER(l, struct greenlet, live);
        if (g->flags & GREEN__HUB) {
            continue;
        }
        fprintf(stderr, "  greenlet %s: %s",
                green__greenlet_label(g, a, sizeof(a)), state_name(g));
        if (g->state == GREEN__PARKED) {
            parked++;
            fprintf(stderr, " %s", g->wait_what ? g->wait_what : "a wait");
            if (g->wait_on != NULL) {
                fprintf(stderr, " %s",
                        green__greenlet_label(g->wait_on, b, sizeof(b)));
            } else if (g->wait_obj != NULL) {
                fprintf(stderr, " %p", g->wait_obj);
            }
        }
        fputc('\n', stderr);
    }
    if (t->root.state == GREEN__PARKED) {
        green__hub_wake(&t->root, -EDEADLK);
        return;
    }
    if (parked == 0) {
        fprintf(stderr, "libgreen: nothing is waiting on the hub either; "
                        "aborting\n");
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
    for (size_t i = 0; i < t->nfds; i++) {
        free(t->fds[i]);
    }
    free(t->fds);
    t->fds = NULL;
    t->nfds = 0;
    if (t->hub != NULL) {
        if (t->sig_async != NULL) {
            ev_async_stop(t->loop, t->sig_async);
            free(t->sig_async);
            t->sig_async = NULL;
        }
        ev_loop_destroy(t->loop);
        t->loop = NULL;
        free(t->hub);
        t->hub = NULL;
    }
}
