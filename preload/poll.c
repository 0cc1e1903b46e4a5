/* SPDX-License-Identifier: MIT */
/* The waiting interposers: poll, ppoll, select, pselect, epoll_wait,
 * epoll_pwait and the fortified __poll_chk / __ppoll_chk. poll and select
 * go through green_poll(); an epoll wait waits for the epoll fd itself on
 * the hub, then asks the kernel with a zero timeout. */
#include "preload.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cancel.h"
#include "fd.h"
#include "green/io.h"

static bool green(void)
{
    return green__go_green(GREEN_PATCH_SELECT);
}

/* A timeout in milliseconds (negative: none) as seconds. */
static double ms_seconds(int ms)
{
    return ms < 0 ? GREEN_FOREVER : ms / 1e3;
}

GREEN_INTERPOSE int poll(struct pollfd *fds, nfds_t n, int ms)
{
    if (!green()) {
        return GREEN_REAL(poll)(fds, n, ms);
    }
    if (ms == 0) {
        return GREEN__CANCELLABLE(int, GREEN_REAL(poll)(fds, n, 0));
    }
    return (int)green__ret(
        GREEN__CANCELLABLE(int, green_poll(fds, n, ms_seconds(ms))));
}

extern _Noreturn void __chk_fail(void);
int __poll_chk(struct pollfd *fds, nfds_t n, int ms, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts,
                const sigset_t *mask, size_t fdslen);

GREEN_INTERPOSE int __poll_chk(struct pollfd *fds, nfds_t n, int ms,
                               size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n) {
        __chk_fail();
    }
    return poll(fds, n, ms);
}

/* A timespec timeout as seconds; -1 if invalid (EINVAL). */
static double ts_seconds(const struct timespec *ts)
{
    if (ts == NULL) {
        return GREEN_FOREVER;
    }
    if (ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L) {
        return -1.0;
    }
    return (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
}

/* Runs wait() with the signal mask `mask` in place (ppoll, pselect,
 * epoll_pwait), as the kernel would for the wait's duration. While the
 * greenlet waits, the mask is the OS thread's, so other greenlets run
 * under it too (documented). */
#define WITH_MASK(mask, stmt)                                             \
    do {                                                                  \
        sigset_t old_;                                                    \
        if ((mask) != NULL) {                                             \
            pthread_sigmask(SIG_SETMASK, (mask), &old_);                  \
        }                                                                 \
        stmt;                                                             \
        if ((mask) != NULL) {                                             \
            pthread_sigmask(SIG_SETMASK, &old_, NULL);                    \
        }                                                                 \
    } while (0)

GREEN_INTERPOSE int ppoll(struct pollfd *fds, nfds_t n,
                          const struct timespec *ts, const sigset_t *mask)
{
    double t = ts_seconds(ts);
    if (!green() || t == 0.0 || t < 0.0) {
        return GREEN_REAL(ppoll)(fds, n, ts, mask);
    }
    int r;
    WITH_MASK(mask, r = GREEN__CANCELLABLE(int, green_poll(fds, n, t)));
    return (int)green__ret(r);
}

GREEN_INTERPOSE int __ppoll_chk(struct pollfd *fds, nfds_t n,
                                const struct timespec *ts,
                                const sigset_t *mask, size_t fdslen)
{
    if (fdslen / sizeof(*fds) < n) {
        __chk_fail();
    }
    return ppoll(fds, n, ts, mask);
}

/* select's sets as a pollfd array, and back, with the kernel's own
 * mapping (a hang-up or error makes an fd readable, and writable). */
#define IN_SET (POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR)
#define OUT_SET (POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR)
#define EX_SET (POLLPRI)

/* One look of select: poll(2) with a zero timeout over the fds, then
 * select's view of what it said. poll reports POLLHUP and POLLERR
 * whatever was asked, select only where a set maps them: a pipe's read
 * end whose writer is gone, in the write set alone, is never ready for
 * select, which goes on waiting for the others. Such an fd is taken out
 * (its number made negative, which poll skips) and the wait goes on. An
 * fd not open at the first look fails the call (EBADF); one another
 * thread closed since is ready in its read and write sets, as the
 * kernel's select counts an fd gone while it waits (its look at a closed
 * number gives the default mask). */
struct select_arg {
    struct pollfd *p;
    size_t n;
    bool looked;
};

static int look_select(void *a)
{
    struct select_arg *s = a;
    int got = GREEN_REAL(poll)(s->p, (nfds_t)s->n, 0);
    if (got < 0) {
        return -errno;
    }
    bool first = !s->looked, counted = false;
    s->looked = true;
    for (size_t i = 0; got > 0 && i < s->n; i++) {
        struct pollfd *q = &s->p[i];
        short ev = q->events, rev = q->revents;
        if (q->fd < 0 || rev == 0) {
            continue;
        }
        if (rev & POLLNVAL) {
            if (first) {
                return -EBADF;
            }
            rev = q->revents = (short)(ev & (POLLIN | POLLOUT));
        }
        if (((ev & POLLIN) && (rev & IN_SET)) ||
            ((ev & POLLOUT) && (rev & OUT_SET)) ||
            ((ev & POLLPRI) && (rev & EX_SET))) {
            counted = true;
            if (rev & IN_SET) { /* as green_poll(): a read after select */
                green__fd_readable(q->fd);
            }
        } else {
            q->fd = ~q->fd;
        }
    }
    return counted;
}

static int select_green(int nfds, fd_set *r, fd_set *w, fd_set *e,
                        double timeout)
{
    if (nfds < 0 || nfds > FD_SETSIZE) {
        return -EINVAL;
    }
    struct pollfd small[64] = {{0}}; /* (zeroed: a const pointer to it
                                        goes out, which GCC checks) */
    struct pollfd *p = small;
    size_t n = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = (short)((r && FD_ISSET(fd, r) ? POLLIN : 0) |
                           (w && FD_ISSET(fd, w) ? POLLOUT : 0) |
                           (e && FD_ISSET(fd, e) ? POLLPRI : 0));
        if (ev == 0) {
            continue;
        }
        if (p == small && n == 64) {
            p = malloc((size_t)nfds * sizeof(*p));
            if (p == NULL) {
                return -ENOMEM;
            }
            memcpy(p, small, sizeof(small));
        }
        p[n++] = (struct pollfd){.fd = fd, .events = ev};
    }
    struct select_arg sa = {p, n, false};
    int got = green__poll_until(p, n, timeout, look_select, &sa), count = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].fd < 0) {
            p[i].fd = ~p[i].fd;
            p[i].revents = 0;
        }
    }
    if (got >= 0) {
        if (r) FD_ZERO(r);
        if (w) FD_ZERO(w);
        if (e) FD_ZERO(e);
        for (size_t i = 0; i < n; i++) {
            short ev = p[i].events, rev = p[i].revents;
            if (r && (ev & POLLIN) && (rev & IN_SET)) {
                FD_SET(p[i].fd, r), count++;
            }
            if (w && (ev & POLLOUT) && (rev & OUT_SET)) {
                FD_SET(p[i].fd, w), count++;
            }
            if (e && (ev & POLLPRI) && (rev & EX_SET)) {
                FD_SET(p[i].fd, e), count++;
            }
        }
    }
    if (p != small) {
        free(p);
    }
    return got < 0 ? got : count;
}

GREEN_INTERPOSE int select(int nfds, fd_set *restrict r, fd_set *restrict w,
                           fd_set *restrict e, struct timeval *restrict tv)
{
    if (!green() || (tv != NULL && tv->tv_sec == 0 && tv->tv_usec == 0)) {
        return GREEN_REAL(select)(nfds, r, w, e, tv);
    }
    double t = GREEN_FOREVER;
    if (tv != NULL) {
        if (tv->tv_sec < 0 || tv->tv_usec < 0) {
            errno = EINVAL;
            return -1;
        }
        t = (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
    }
    double start = green__now();
    int res = GREEN__CANCELLABLE(int, select_green(nfds, r, w, e, t));
    if (tv != NULL) { /* Linux reports the time left */
        double left = t - (green__now() - start);
        if (left < 0.0 || res == 0) {
            left = 0.0;
        }
        tv->tv_sec = (time_t)left;
        tv->tv_usec = (suseconds_t)((left - (double)tv->tv_sec) * 1e6);
    }
    return (int)green__ret(res);
}

GREEN_INTERPOSE int pselect(int nfds, fd_set *restrict r, fd_set *restrict w,
                            fd_set *restrict e,
                            const struct timespec *restrict ts,
                            const sigset_t *restrict mask)
{
    double t = ts_seconds(ts);
    if (!green() || t == 0.0 || t < 0.0) {
        return GREEN_REAL(pselect)(nfds, r, w, e, ts, mask);
    }
    int res;
    WITH_MASK(mask, res = GREEN__CANCELLABLE(int, select_green(nfds, r, w, e,
                                                              t)));
    return (int)green__ret(res);
}

struct epoll_arg {
    int epfd;
    struct epoll_event *ev;
    int max;
};

static int look_epoll(void *a)
{
    struct epoll_arg *e = a;
    int r = GREEN_REAL(epoll_wait)(e->epfd, e->ev, e->max, 0);
    return r < 0 ? -errno : r;
}

/* Waits for the epoll fd itself on the hub, then collects the events. */
static int epoll_green(int epfd, struct epoll_event *ev, int max, double t)
{
    struct pollfd p = {.fd = epfd, .events = POLLIN};
    struct epoll_arg e = {epfd, ev, max};
    return green__poll_until(&p, 1, t, look_epoll, &e);
}

GREEN_INTERPOSE int epoll_wait(int epfd, struct epoll_event *ev, int max,
                               int ms)
{
    if (!green() || ms == 0 || max <= 0) {
        return GREEN_REAL(epoll_wait)(epfd, ev, max, ms);
    }
    return (int)green__ret(GREEN__CANCELLABLE(
        int, epoll_green(epfd, ev, max, ms_seconds(ms))));
}

GREEN_INTERPOSE int epoll_pwait(int epfd, struct epoll_event *ev, int max,
                                int ms, const sigset_t *mask)
{
    if (!green() || ms == 0 || max <= 0) {
        return GREEN_REAL(epoll_pwait)(epfd, ev, max, ms, mask);
    }
    int r;
    WITH_MASK(mask, r = GREEN__CANCELLABLE(
                        int, epoll_green(epfd, ev, max, ms_seconds(ms))));
    return (int)green__ret(r);
}
