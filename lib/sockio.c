/* SPDX-License-Identifier: MIT */
/* Cooperative socket calls: accept and connect, which wait, and the calls
 * that make and configure sockets, which record what the fd table needs
 * (a new socket's kind and O_NONBLOCK, SO_RCVTIMEO and SO_SNDTIMEO).
 *
 * accept and connect have no MSG_DONTWAIT, so unlike the data calls
 * (io.c) they need the open file description non-blocking: a listening
 * socket stays so, a connecting one is put back once the connect is
 * over. The program still sees its own flags (the fd table's). io.c's
 * top comment has the design these calls share. */
#include "coop.h"

#include "green/io.h"

#include <fcntl.h>

#include "real.h"

/* --- connections ------------------------------------------------------------ */

struct accept_arg {
    struct sockaddr *addr;
    socklen_t *len;
    int flags;
};

static ssize_t op_accept(int fd, void *a, bool dontwait)
{
    struct accept_arg *x = a;
    (void)dontwait;
    GREEN__RET(GREEN_REAL(accept4)(fd, x->addr, x->len, x->flags));
}

int green_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    struct green__fd *f = green__fd_get(fd);
    struct accept_arg x = {addr, len, flags};
    if (f != NULL && f->kind == GREEN__FD_SOCKET && !f->sys_nonblock) {
        /* accept has no MSG_DONTWAIT: the listening socket's description
         * must be non-blocking (it stays so; the program sees its own
         * flags). */
        int e = green__fd_set_sys_nonblock(fd, f);
        if (e != 0) {
            return e;
        }
    }
    /* (What the new socket inherits, read before the wait: a close of
     * fd meanwhile lets the accept go on, and a new fd may take the
     * number and its entry.) */
    struct green__fd l = f != NULL ? *f : (struct green__fd){0};
    ssize_t r = green__coop(fd, f, POLLIN,
                            f ? green__coop_deadline(f, POLLIN) : INFINITY,
                            op_accept, &x, 0);
    if (r >= 0) {
        bool nb = (flags & SOCK_NONBLOCK) != 0;
        green__coop_made((int)r, GREEN__FD_SOCKET, O_RDWR,
                         f != NULL && l.bytes, nb);
        struct green__fd *n = green__fd_slot((int)r);
        if (n != NULL && f != NULL) { /* Linux copies these from the
                                         listening socket */
            n->rcvtimeo = l.rcvtimeo;
            n->sndtimeo = l.sndtimeo;
        }
    }
    return (int)r;
}

int green_accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return green_accept4(fd, addr, len, 0);
}

/* Puts fd's description back in blocking mode after a connect. */
static void restore_blocking(int fd, struct green__fd *f, bool was)
{
    if (!was) {
        int fl = GREEN_REAL(fcntl)(fd, F_GETFL);
        if (fl != -1) {
            GREEN_REAL(fcntl)(fd, F_SETFL, fl & ~O_NONBLOCK);
        }
        f->sys_nonblock = false;
    }
}

int green_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct green__fd *f = green__fd_get(fd);
    if (f == NULL || f->kind != GREEN__FD_SOCKET || f->user_nonblock) {
        return GREEN_REAL(connect)(fd, addr, len) == 0 ? 0 : -errno;
    }
    /* connect has no MSG_DONTWAIT either: the description is made
     * non-blocking for as long as the connect takes. */
    bool was = f->sys_nonblock;
    int e = was ? 0 : green__fd_set_sys_nonblock(fd, f);
    if (e != 0) {
        return e;
    }
    double deadline = green__coop_deadline(f, POLLOUT);
    /* Wait, then ask connect(2) again: it reports the outcome and moves
     * the socket to connected, so a later connect says EISCONN as the
     * kernel's would after a blocking one. */
    bool first = true;
    int at = fd; /* a close of fd meanwhile: the connect goes on (fd.h) */
    for (;;) {
        e = GREEN_REAL(connect)(at, addr, len) == 0 ? 0 : -errno;
        bool pending = e == -EAGAIN || e == -EINPROGRESS ||
                       (!first && e == -EALREADY);
        if (!first && e == -EISCONN) {
            e = 0;
        }
        first = false;
        if (!pending) {
            break;
        }
        int w = green__coop_wait_follow(&at, POLLOUT, deadline);
        if (w != 0) {
            e = w == -EAGAIN ? -EINPROGRESS : w; /* SO_SNDTIMEO: as the
                                                    kernel says it */
            break;
        }
    }
    struct green__fd *af = at == fd ? f : green__fd_slot(at);
    if (e != -EBADF && af != NULL) {
        restore_blocking(at, af, was);
    }
    green__coop_done(fd, at);
    return e;
}

/* --- making and configuring sockets ------------------------------------- */

/* Whether a socket type (with its SOCK_* flags) is a byte stream. */
static bool is_stream(int type)
{
    return (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM;
}

int green_socket(int domain, int type, int protocol)
{
    int fd = GREEN_REAL(socket)(domain, type, protocol);
    if (fd < 0) {
        return -errno;
    }
    bool nb = (type & SOCK_NONBLOCK) != 0;
    green__coop_made(fd, GREEN__FD_SOCKET, O_RDWR, is_stream(type), nb);
    return fd;
}

int green_socketpair(int domain, int type, int protocol, int sv[2])
{
    if (GREEN_REAL(socketpair)(domain, type, protocol, sv) != 0) {
        return -errno;
    }
    bool nb = (type & SOCK_NONBLOCK) != 0;
    green__coop_made(sv[0], GREEN__FD_SOCKET, O_RDWR, is_stream(type), nb);
    green__coop_made(sv[1], GREEN__FD_SOCKET, O_RDWR, is_stream(type), nb);
    return 0;
}

int green_shutdown(int fd, int how)
{
    return GREEN_REAL(shutdown)(fd, how) == 0 ? 0 : -errno;
}

int green_setsockopt(int fd, int level, int name, const void *val,
                     socklen_t len)
{
    if (GREEN_REAL(setsockopt)(fd, level, name, val, len) != 0) {
        return -errno;
    }
    if (level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
        struct green__fd *f = green__fd_get(fd);
        const struct timeval *tv = val;
        if (f != NULL) {
            double t = (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
            *(name == SO_RCVTIMEO ? &f->rcvtimeo : &f->sndtimeo) = t;
        }
    }
    return 0;
}
