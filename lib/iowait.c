/* SPDX-License-Identifier: MIT */
/* fd waits: a greenlet that waits for an fd parks on the hub with an
 * iowait record linked to the fd's registration in this thread's libev
 * loop, and the loop's I/O callback wakes the waiters its events are for.
 *
 * Design. Each fd keeps one registration (an ev_io) for as long as it is
 * open in this thread, whatever the number of waits: made on its first
 * wait, dropped when the fd is forgotten (green__hub_io_forget, before a
 * close, or when a new fd reuses the number). Its event mask follows the
 * waiters but only grows while they come and go, so a greenlet that
 * reads, is woken and reads again costs no epoll_ctl per round trip; it
 * shrinks when an event fires that nobody waits for (fdw_set, on_io).
 * t->nwatch counts the registrations that have a waiter, which is what
 * the hub's deadlock check needs: an armed fd that nobody waits for
 * cannot wake anyone.
 *
 * Close while waiting. Linux lets a call in progress keep its open file
 * description when another thread closes the fd: a read goes on and gets
 * what comes later, poll goes on waiting and then sees POLLNVAL. So when
 * the program closes an fd (green__fd_close), the waits that follow it
 * (those of the fd calls, and poll's) move to a private dup of the
 * description, placed high (green__fd_hide), and go on there; the dup is
 * closed when the last of them lets go (green__hub_io_release; a call
 * holds it until it returns, a poll until its wait ends). Other waiters
 * (green_wait_fd, green stdio) wake with EBADF, as green_close() wakes
 * them.
 *
 * The park, the wake-up and the may-block check are the hub's (hub.c,
 * scheduler.h); this file only adds watchers to the hub's loop. */
#include "internal.h"
#include "fd.h"
#include "real.h"
#include "scheduler.h"

#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

/* An fd's registration in this thread's loop: made on the first wait on
 * the fd and kept, its event mask following its waiters, until the fd is
 * forgotten (closed). libev applies mask changes lazily at the next poll,
 * so a wait costs no epoll_ctl unless the mask really changes. */
struct green__fdw {
    ev_io io;                 /* io.data == this */
    struct green__link nodes; /* struct iowait, in arrival order */
    bool counted;             /* in t->nwatch (has waiters) */
    unsigned holds;           /* a private dup (green__hub_io_move): the
                                 calls and polls on it; closed at 0 */
    dev_t dev;                /* and its file, to close only that (the */
    ino_t ino;                /* program may have closed the number) */
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
    bool follow;              /* moves to a private dup when the program
                                 closes fd (green__hub_io_move) */
    bool moved;               /* it did: fd is that dup, held */
    int fd;                   /* the fd it waits on */
};

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
        w->holds = 0;
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
    n->fd = fd;
    n->moved = false;
    n->link.prev = w->nodes.prev;
    n->link.next = &w->nodes;
    w->nodes.prev->next = &n->link;
    w->nodes.prev = &n->link;
    fdw_update(t, w);
    return 0;
}

/* Unlinks n if no event took it, and updates its fd's mask. (The fd's
 * registration is looked up again: green_close() may have dropped it,
 * green__hub_io_move() moved n to a dup.) */
static void iowait_drop(struct green__thread *t, struct iowait *n)
{
    if (green__link_linked(&n->link)) {
        green__link_remove(&n->link);
        struct green__fdw *w = (size_t)n->fd < t->nfds ? t->fds[n->fd]
                                                       : NULL;
        if (w != NULL) {
            fdw_update(t, w);
        }
    }
}

int green__hub_io_wait(int fd, int events, double timeout)
{
    return green__hub_io_wait_intr(fd, events, timeout, GREEN__INTR_RESTART);
}

/* The wait of green__hub_io_wait_intr() and green__hub_io_wait_follow(). */
static int io_wait(int *fd, int events, double timeout, int intr,
                   bool follow)
{
    if (*fd < 0) {
        return -EBADF;
    }
    events &= POLLIN | POLLOUT;
    if (events == 0 || green__check_timeout(timeout) != 0) {
        return -EINVAL;
    }
    int err;
    struct green__thread *t = green__may_block(&err);
    if (t == NULL) {
        return err;
    }
    struct iowait n = {.want = (unsigned short)events, .follow = follow};
    if ((err = iowait_add(t, &n, *fd)) != 0) {
        return err;
    }
    bool noted = green__wait_note(t->current, GREEN__WAIT_FD, *fd,
                                  (unsigned)events);
    int r = green__hub_park_intr(timeout, "a wait on fd",
                                 (void *)(intptr_t)*fd, intr);
    green__wait_unnote(t->current, noted);
    iowait_drop(t, &n);
    *fd = n.fd; /* a dup if the program closed *fd: the caller's hold */
    return r == 0 ? n.got : r;
}

int green__hub_io_wait_intr(int fd, int events, double timeout, int intr)
{
    return io_wait(&fd, events, timeout, intr, false);
}

int green__hub_io_wait_follow(int *fd, int events, double timeout, int intr)
{
    return io_wait(fd, events, timeout, intr, true);
}

int green__hub_poll_wait(const struct pollfd *fds, size_t nfds,
                         double timeout)
{
    struct green__poll_holds h = {0};
    int r = green__hub_poll_wait_held(fds, nfds, timeout, &h);
    green__hub_poll_release(&h);
    return r;
}

void green__hub_poll_release(struct green__poll_holds *h)
{
    while (h->n > 0) {
        green__hub_io_release(h->fd[--h->n]);
    }
}

int green__hub_poll_wait_held(const struct pollfd *fds, size_t nfds,
                              double timeout, struct green__poll_holds *h)
{
    int err;
    struct green__thread *t = green__may_block(&err);
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
        n[i] = (struct iowait){.want = want, .observe = true,
                               .follow = true};
        n[i].link.prev = n[i].link.next = &n[i].link;
        if (fds[i].fd >= 0 && want != 0 &&
            iowait_add(t, &n[i], fds[i].fd) == 0) {
            added++;
        }
    }
    bool noted = green__wait_note(t->current, GREEN__WAIT_POLL,
                                  (long)nfds, 0);
    int r = green__hub_park_intr(timeout, "poll", NULL, GREEN__INTR_ALWAYS);
    green__wait_unnote(t->current, noted);
    for (size_t i = 0; i < nfds; i++) {
        iowait_drop(t, &n[i]);
        if (n[i].moved) { /* poll looks at the number again: POLLNVAL */
            if (h->n < (int)(sizeof(h->fd) / sizeof(h->fd[0]))) {
                h->fd[h->n++] = n[i].fd;
            } else {
                green__hub_io_release(n[i].fd);
            }
        }
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

void green__hub_io_move(int fd)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL || fd < 0 || (size_t)fd >= t->nfds || t->fds[fd] == NULL) {
        return;
    }
    struct green__fdw *w = t->fds[fd];
    unsigned n = 0;
    for (struct green__link *l = w->nodes.next; l != &w->nodes; l = l->next) {
        n += GREEN__CONTAINER(l, struct iowait, link)->follow;
    }
    if (n == 0) {
        return;
    }
    int err, d = green__fd_hide(fd);
    struct green__fdw *dw = d >= 0 ? fdw_get(t, d, &err) : NULL;
    if (dw == NULL) { /* no room for a dup: they wake with EBADF */
        if (d >= 0) {
            green__fd_unhide(d);
        }
        return;
    }
    struct green__link *l = w->nodes.next;
    while (l != &w->nodes) {
        struct iowait *x = GREEN__CONTAINER(l, struct iowait, link);
        l = l->next;
        if (x->follow) {
            green__link_remove(&x->link);
            x->link.prev = dw->nodes.prev;
            x->link.next = &dw->nodes;
            dw->nodes.prev->next = &x->link;
            dw->nodes.prev = &x->link;
            x->fd = d;
            x->moved = true;
        }
    }
    struct stat st;
    if (dw->holds == 0 && fstat(d, &st) == 0) {
        dw->dev = st.st_dev;
        dw->ino = st.st_ino;
    }
    dw->holds += n;
    fdw_update(t, dw);
    /* (While the dup keeps the description alive, the kernel may still
     * report it under fd's number in the loop's epoll set, which libev
     * never deletes from: libev sees an event nobody wants, or of an
     * older generation, and deletes it or builds its set anew.) */
}

void green__hub_io_release(int d)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL || d < 0 || (size_t)d >= t->nfds || t->fds[d] == NULL ||
        t->fds[d]->holds == 0) {
        return;
    }
    struct green__fdw *w = t->fds[d];
    if (--w->holds == 0) {
        /* Closed only if the number still holds the dup's file: a
         * close_range() of the program's may have taken it, and a new
         * fd of the program's the number. */
        struct stat st;
        bool ours = fstat(d, &st) == 0 && st.st_dev == w->dev &&
                    st.st_ino == w->ino;
        green__hub_io_forget(d);
        if (ours) {
            green__fd_unhide(d);
        } else {
            green__fd_forget(d);
        }
    }
}
