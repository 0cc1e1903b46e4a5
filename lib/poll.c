/* SPDX-License-Identifier: MIT */
/* Cooperative poll, and the wait-then-look loop it shares with the
 * preload's epoll_wait (green__poll_until): ask the kernel with a zero
 * timeout, and while it has nothing, wait on the hub for any of the fds
 * (green__hub_poll_wait) and ask again, until the timeout. The kernel
 * stays the one that says which fds are ready, so every event poll(2)
 * reports (POLLHUP, POLLNVAL...) is reported as it would be. */
#include "coop.h"
#include "fd.h"

#include "green/io.h"

#include "real.h"

/* The loop of green__poll_until(). The dups of fds another thread closed
 * while it waited (lib/iowait.c) are held in *h until it returns. */
static int poll_until(const struct pollfd *fds, size_t n, double timeout,
                      int (*look)(void *), void *arg,
                      struct green__poll_holds *h)
{
    double deadline = isfinite(timeout) ? green__now() + timeout : INFINITY;
    for (;;) {
        int r = look(arg);
        if (r != 0) {
            return r;
        }
        double left = GREEN_FOREVER;
        if (isfinite(deadline)) {
            left = deadline - green__now();
            if (left <= 0.0) {
                return 0;
            }
        }
        int w = green__hub_poll_wait_held(fds, n, left, h);
        if (w == -ETIMEDOUT && green__now() >= deadline) {
            return look(arg); /* a last look */
        }
        if (w < 0) {
            return w;
        }
    }
}

int green__poll_until(const struct pollfd *fds, size_t n, double timeout,
                      int (*look)(void *), void *arg)
{
    if (green__check_timeout(timeout) != 0) {
        return -EINVAL;
    }
    struct green__poll_holds h = {0};
    int r = poll_until(fds, n, timeout, look, arg, &h);
    green__hub_poll_release(&h);
    return r;
}

struct poll_arg {
    struct pollfd *fds;
    nfds_t n;
};

static int look_poll(void *a)
{
    struct poll_arg *p = a;
    int r = GREEN_REAL(poll)(p->fds, p->n, 0);
    if (r < 0) {
        return -errno;
    }
    /* A program that polls before it reads (select, then recv on a
     * blocking socket) must not wait a hub turn in the read. */
    for (nfds_t i = 0; r > 0 && i < p->n; i++) {
        if (p->fds[i].revents & (POLLIN | POLLPRI | POLLHUP | POLLERR)) {
            green__fd_readable(p->fds[i].fd);
        }
    }
    return r;
}

int green_poll(struct pollfd *fds, nfds_t n, double timeout)
{
    struct poll_arg p = {fds, n};
    return green__poll_until(fds, n, timeout, look_poll, &p);
}
