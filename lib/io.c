/* SPDX-License-Identifier: MIT */
/* Cooperative I/O: the fd calls of the public API, which the preload's
 * interposers also use. Each behaves as libc's on a blocking thread,
 * except that only the calling greenlet waits.
 *
 * Design. The open file description's O_NONBLOCK is shared with every
 * process that inherited the fd, so the runtime leaves it alone wherever
 * it can (a pitfall of other runtimes: a server that spawns a child with
 * a socket or pipe as its stdout breaks the child):
 *  - sockets: every data call is made with MSG_DONTWAIT (read becomes
 *    recv, readv recvmsg, and so on), which leaves the description alone;
 *    only accept on a listening socket, and connect while it lasts, need
 *    the description non-blocking;
 *  - pipes, FIFOs, ttys: the call is made once the fd is ready (a poll(2)
 *    with a zero timeout, then the hub), and writes go in PIPE_BUF pieces,
 *    which a ready pipe always takes whole;
 *  - regular files never wait: the call passes through.
 * What the program set itself (O_NONBLOCK, SO_RCVTIMEO, SO_SNDTIMEO) is in
 * the fd table (fd.h) and honoured: EAGAIN as the kernel would say it.
 *
 * Errors are negative errno values; errno is read on the line after each
 * call, before anything can switch.
 *
 * Close while waiting: when the program closes an fd a call here waits
 * on (green__fd_close, the preload's close), the call goes on with the
 * open file description, as the kernel's does: its wait moves to a
 * private dup (iowait.c), and the call works on that dup (coop_at's *fd)
 * until it returns, then lets go of it.
 *
 * Files. This one has the loop every call goes through (green__coop) and
 * the reads and writes; sockio.c the socket calls (accept, connect,
 * socket, socketpair, shutdown, setsockopt); fdctl.c pipes, dup, fcntl
 * and ioctl; poll.c poll. coop.h is what they share. */
#include "coop.h"

#include "green/io.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "real.h"
#include "workers.h"

int green_wait_fd(int fd, int events, double timeout)
{
    return green__hub_io_wait(fd, events, timeout);
}

int green_close(int fd)
{
    green__hub_io_forget(fd);
    green__fd_forget(fd);
    return GREEN_REAL(close)(fd) == 0 ? 0 : -errno;
}

int green__fd_close(int fd)
{
    struct green__fd *f = green__fd_slot(fd);
    if (f != NULL && f->hidden) {
        return -EBADF; /* not the program's: as if never opened */
    }
    green__hub_io_move(fd);
    return green_close(fd);
}

/* --- the core loop ------------------------------------------------------- */

/* Whether fd is ready for events now (or has an error to report). */
static bool ready_now(int fd, int events)
{
    struct pollfd p = {.fd = fd, .events = (short)events};
    return GREEN_REAL(poll)(&p, 1, 0) != 0;
}

/* Whether socket fd's reading side is shut down (POLLRDHUP). */
static bool read_shut(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};
    return GREEN_REAL(poll)(&p, 1, 0) == 1 && (p.revents & POLLRDHUP);
}

/* green__coop_wait() on *fd; a wait that follows *fd when the program
 * closes it (follow: *fd is then a private dup the caller holds). */
static int coop_wait_at(int *fd, int events, double deadline, bool follow)
{
    double left = GREEN_FOREVER;
    if (isfinite(deadline)) {
        left = deadline - green__now();
        if (left <= 0.0) {
            return -EAGAIN;
        }
    }
    /* Linux never restarts a call on a socket with a timeout set. */
    int intr = isfinite(deadline) ? GREEN__INTR_ALWAYS : GREEN__INTR_RESTART;
    int r = follow ? green__hub_io_wait_follow(fd, events, left, intr)
                   : green__hub_io_wait_intr(*fd, events, left, intr);
    if (r == -ETIMEDOUT && isfinite(deadline) && green__now() >= deadline) {
        return -EAGAIN;
    }
    return r < 0 ? r : 0;
}

int green__coop_wait(int fd, int events, double deadline)
{
    return coop_wait_at(&fd, events, deadline, false);
}

/* A wait when the hub has no memory to register fd: poll(2) itself,
 * which blocks the OS thread (every green thread with it), as libc's
 * call would, rather than fail a read with an ENOMEM read(2) does not
 * have. 0 when ready, -EAGAIN at the deadline (a signal restarts it). */
static int blocking_wait(int fd, int events, double deadline)
{
    for (;;) {
        int ms = -1;
        if (isfinite(deadline)) {
            double left = deadline - green__now();
            if (left <= 0.0) {
                return -EAGAIN;
            }
            ms = left > 1e6 ? 1000000000 : (int)ceil(left * 1e3);
        }
        struct pollfd p = {.fd = fd, .events = (short)events};
        int r = GREEN_REAL(poll)(&p, 1, ms);
        if (r > 0) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

/* Runs op until it does not say EAGAIN, waiting for the fd in between,
 * unless the program made the fd non-blocking. f is fd's entry or NULL
 * (not in the table: the call is made as it is).
 *
 * want is what a read asks for, or 0. A blocking read on a byte stream
 * that comes back short has emptied it, so the next read there most
 * likely finds nothing: it waits for the fd before trying (a server's
 * read after its reply would otherwise cost a system call that says
 * EAGAIN on every round trip; epoll(7) Q9 says as much, and netty's epoll
 * transport stops reading on a short read for the same reason).
 * A wrong guess costs a hub turn, never a lost wake-up: the fd stays
 * registered with the level-triggered loop, which reports it at once if
 * it is readable.
 *
 * This is green__coop() on *fdp and *fp: when the program closes *fdp while
 * the call waits, they become the private dup the wait moved to (and
 * its entry, if *fp was fd's table entry; a caller's copy stays), which
 * the caller holds until its call ends (release_at). */
static ssize_t coop_at(int *fdp, struct green__fd **fp, int events,
                       double deadline, green__coop_op op, void *arg,
                       size_t want)
{
    int fd = *fdp;
    struct green__fd *f = *fp;
    if (f == NULL || f->kind == GREEN__FD_FILE) {
        return op(fd, arg, false);
    }
    if (GREEN__UNLIKELY(f->epoch != green__fd_epoch)) {
        green__fd_sync(fd, f);
    }
    /* The wrong end of a pipe is never ready: the call says EBADF. */
    if (f->acc != O_RDWR &&
        (f->acc == O_RDONLY) != (events == POLLIN)) {
        return op(fd, arg, false);
    }
    /* O_NONBLOCK as the call found it: one that blocks goes on blocking
     * when another thread sets the flag meanwhile (a socket call samples
     * it at entry). */
    bool nonblock = f->user_nonblock;
    bool hint = want != 0 && f->bytes && !nonblock;
    bool untried = hint && f->drained; /* waiting before any try */
    int failed = 0; /* how that wait ended, if in error */
    bool woke = false; /* a wait said the fd was ready */
    if (untried) {
        f->drained = false;
        goto wait;
    }
    for (;;) {
        bool dontwait = false;
        if (!f->sys_nonblock) {
            if (f->kind == GREEN__FD_SOCKET) {
                dontwait = true;
            } else if (!nonblock && !ready_now(fd, events)) {
                /* (MSG_DONTWAIT on a pipe: the call is made as it is,
                 * and says ENOTSOCK.) */
                if (failed != 0) {
                    return failed;
                }
                goto wait;
            }
        }
        ssize_t r = op(fd, arg, dontwait);
        if (r != -EAGAIN && r != -EWOULDBLOCK) {
            if (hint) {
                f->drained = r > 0 && (size_t)r < want;
            }
            return r;
        }
        if (nonblock) {
            return -EAGAIN;
        }
        if (failed != 0) {
            return failed;
        }
        /* A datagram socket shut down for reading polls readable and
         * says EAGAIN to MSG_DONTWAIT, but a blocking read returns 0. */
        if (woke && events == POLLIN && f->kind == GREEN__FD_SOCKET &&
            !f->bytes && read_shut(fd)) {
            return 0;
        }
    wait:;
        int w = coop_wait_at(&fd, events, deadline, true);
        if (w == -ENOMEM) {
            w = blocking_wait(fd, events, deadline);
        }
        if (fd != *fdp) { /* closed meanwhile: on with the description */
            if (f == green__fd_slot(*fdp)) {
                f = green__fd_slot(fd);
            }
            *fdp = fd;
            *fp = f;
        }
        if (w != 0) {
            /* A signal or a timeout ends a call only while it blocks: if
             * the hint made it wait with data already there, the data
             * wins, as it would have without the hint. */
            if (untried && (w == -EINTR || w == -EAGAIN || w == -ETIMEDOUT)) {
                failed = w;
                untried = false;
                continue;
            }
            return w;
        }
        untried = false;
        woke = true;
    }
}

/* The end of a call that used coop_at() on fd: its hold on a private dup
 * the call moved to (at) goes. */
static void release_at(int fd, int at)
{
    if (at != fd) {
        green__hub_io_release(at);
    }
}

int green__coop_wait_follow(int *fd, int events, double deadline)
{
    int r = coop_wait_at(fd, events, deadline, true);
    return r == -ENOMEM ? blocking_wait(*fd, events, deadline) : r;
}

void green__coop_done(int fd, int at)
{
    release_at(fd, at);
}

ssize_t green__coop(int fd, struct green__fd *f, int events, double deadline,
                    green__coop_op op, void *arg, size_t want)
{
    int at = fd;
    ssize_t r = coop_at(&at, &f, events, deadline, op, arg, want);
    release_at(fd, at);
    return r;
}

/* --- reading --------------------------------------------------------------- */

/* f for a call with these flags: MSG_DONTWAIT makes this call alone
 * non-blocking (a copy of the entry in *once says so). The entry is
 * brought up to date first: green__coop would otherwise resync the copy
 * and lose the flag. */
static struct green__fd *per_call(int fd, struct green__fd *f, int flags,
                                  struct green__fd *once)
{
    if (f == NULL || !(flags & MSG_DONTWAIT)) {
        return f;
    }
    if (GREEN__UNLIKELY(f->epoch != green__fd_epoch)) {
        green__fd_sync(fd, f);
    }
    *once = *f;
    once->user_nonblock = true;
    return once;
}

struct buf_arg {
    void *buf;
    size_t n;
    int flags;
    struct sockaddr *addr;
    socklen_t *len;
    off_t off;
};

static ssize_t op_read(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    if (dontwait) {
        GREEN__RET(GREEN_REAL(recv)(fd, b->buf, b->n, MSG_DONTWAIT));
    }
    GREEN__RET(GREEN_REAL(read)(fd, b->buf, b->n));
}

ssize_t green_read(int fd, void *buf, size_t n)
{
    if (n == 0) { /* the kernel answers at once, ready or not */
        GREEN__RET(GREEN_REAL(read)(fd, buf, 0));
    }
    struct green__fd *f = green__fd_get(fd);
    struct buf_arg b = {.buf = buf, .n = n};
    if (f != NULL && f->kind == GREEN__FD_FILE) {
        struct iovec v = {.iov_base = buf, .iov_len = n};
        return green__file_read(fd, &v, 1, -1); /* a miss on a worker */
    }
    return green__coop(fd, f, POLLIN,
                       f ? green__coop_deadline(f, POLLIN) : INFINITY,
                       op_read, &b, n);
}

static ssize_t op_pread(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    (void)dontwait; /* pread on a socket fails with ESPIPE anyway */
    GREEN__RET(GREEN_REAL(pread)(fd, b->buf, b->n, b->off));
}

ssize_t green_pread(int fd, void *buf, size_t n, off_t off)
{
    struct green__fd *f = green__fd_get(fd);
    struct buf_arg b = {.buf = buf, .n = n, .off = off};
    if (f != NULL && f->kind == GREEN__FD_FILE && off >= 0 && n != 0) {
        struct iovec v = {.iov_base = buf, .iov_len = n};
        return green__file_read(fd, &v, 1, off); /* a miss on a worker */
    }
    if (f != NULL && f->kind == GREEN__FD_SOCKET) {
        f = NULL; /* ESPIPE, at once */
    }
    return green__coop(fd, f, POLLIN,
                       f ? green__coop_deadline(f, POLLIN) : INFINITY,
                       op_pread, &b, 0);
}

static ssize_t op_recvfrom(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    GREEN__RET(GREEN_REAL(recvfrom)(fd, b->buf, b->n,
                                    b->flags | (dontwait ? MSG_DONTWAIT : 0),
                                    b->addr, b->len));
}

/* Whether a read with these flags is a MSG_WAITALL loop here: on a byte
 * stream that blocks (a datagram or seqpacket socket returns one record
 * whatever the flag says, and the kernel does that for us). The loop
 * works on a snapshot of f taken now, kept current (its epoch) so that
 * green__coop never resyncs it: O_NONBLOCK set by another thread while
 * the call waits does not end it, as the kernel samples the flag once,
 * when the call begins. */
static bool waitall(int fd, struct green__fd *f, int flags)
{
    if (!(flags & MSG_WAITALL) || (flags & MSG_PEEK) || f == NULL) {
        return false;
    }
    if (GREEN__UNLIKELY(f->epoch != green__fd_epoch)) {
        green__fd_sync(fd, f); /* O_NONBLOCK set through a dup */
    }
    return !f->user_nonblock && f->bytes;
}

static void iov_advance(struct msghdr *m, size_t done);

/* Whether the next try of a MSG_WAITALL loop that has bytes already may
 * be made: not when the socket has an error pending (POLLERR), which
 * the kernel leaves for the next call after returning the bytes (a try
 * would take it). */
static bool waitall_more(int fd)
{
    struct pollfd p = {.fd = fd, .events = 0};
    return !(GREEN_REAL(poll)(&p, 1, 0) == 1 && (p.revents & POLLERR));
}

/* The deadline of a MSG_WAITALL loop's next wait: once bytes came, a
 * handled signal ends the call with them, SA_RESTART or not, as the
 * kernel's does; a finite deadline makes green__coop's wait one that
 * any signal ends (a billion seconds is no timeout anyone sees). */
static double waitall_deadline(double deadline, size_t done)
{
    return done > 0 && !isfinite(deadline) ? green__now() + 1e9 : deadline;
}

ssize_t green_recvfrom(int fd, void *buf, size_t n, int flags,
                       struct sockaddr *addr, socklen_t *len)
{
    struct green__fd *f = green__fd_get(fd);
    struct green__fd once;
    f = per_call(fd, f, flags, &once);
    double deadline = f ? green__coop_deadline(f, POLLIN) : INFINITY;
    struct buf_arg b = {.buf = buf, .n = n, .flags = flags & ~MSG_WAITALL,
                        .addr = addr, .len = len};
    if (!waitall(fd, f, flags)) {
        b.flags = flags;
        return green__coop(fd, f, POLLIN, deadline, op_recvfrom, &b,
                    flags & (MSG_PEEK | MSG_OOB) ? 0 : n);
    }
    /* MSG_WAITALL: until n bytes, end of file, an error or the timeout;
     * bytes already received are returned rather than the error. */
    struct green__fd snap = *f, *sf = &snap;
    size_t done = 0;
    int at = fd; /* see coop_at() */
    ssize_t r = 0;
    while (done < n && (done == 0 || waitall_more(at))) {
        b.buf = (char *)buf + done;
        b.n = n - done;
        snap.epoch = green__fd_epoch; /* see waitall() */
        r = coop_at(&at, &sf, POLLIN, waitall_deadline(deadline, done),
                    op_recvfrom, &b, b.n);
        if (r <= 0) {
            break;
        }
        done += (size_t)r;
    }
    release_at(fd, at);
    if (r <= 0 && (done == 0 || r == -ECANCELED)) {
        return r;
    }
    return (ssize_t)done;
}

ssize_t green_recv(int fd, void *buf, size_t n, int flags)
{
    return green_recvfrom(fd, buf, n, flags, NULL, NULL);
}

struct msg_arg {
    struct msghdr *msg;
    int flags;
};

static ssize_t op_recvmsg(int fd, void *a, bool dontwait)
{
    struct msg_arg *m = a;
    GREEN__RET(GREEN_REAL(recvmsg)(fd, m->msg,
                                   m->flags | (dontwait ? MSG_DONTWAIT : 0)));
}

ssize_t green_recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct green__fd *f = green__fd_get(fd);
    struct green__fd once;
    f = per_call(fd, f, flags, &once);
    double deadline = f ? green__coop_deadline(f, POLLIN) : INFINITY;
    struct msg_arg m = {.msg = msg, .flags = flags};
    if (!waitall(fd, f, flags) || msg->msg_iovlen > IOV_MAX) {
        return green__coop(fd, f, POLLIN, deadline, op_recvmsg, &m, 0);
    }
    /* MSG_WAITALL, as in green_recvfrom: the pieces after the first go
     * into a copy of the iovec array moved past what came; the address
     * and any ancillary data come with the first. */
    size_t total = 0;
    for (size_t i = 0; i < msg->msg_iovlen; i++) {
        total += msg->msg_iov[i].iov_len;
    }
    struct iovec small[8];
    struct iovec *copy = msg->msg_iovlen <= 8
                             ? small
                             : malloc(msg->msg_iovlen * sizeof(*copy));
    if (copy == NULL) {
        return -ENOMEM;
    }
    memcpy(copy, msg->msg_iov, msg->msg_iovlen * sizeof(*copy));
    struct msghdr part = *msg;
    part.msg_iov = copy;
    m.msg = &part;
    m.flags = flags & ~MSG_WAITALL;
    struct green__fd snap = *f, *sf = &snap;
    size_t done = 0;
    ssize_t r = 0;
    int at = fd; /* see coop_at() */
    while (done < total && (done == 0 || waitall_more(at))) {
        snap.epoch = green__fd_epoch; /* see waitall() */
        r = coop_at(&at, &sf, POLLIN, waitall_deadline(deadline, done),
                    op_recvmsg, &m, total - done);
        if (r <= 0) {
            break;
        }
        if (done == 0) {
            msg->msg_namelen = part.msg_namelen;
            msg->msg_controllen = part.msg_controllen;
            msg->msg_flags = 0;
            part.msg_name = NULL;
            part.msg_namelen = 0;
            part.msg_control = NULL;
            part.msg_controllen = 0;
        }
        msg->msg_flags |= part.msg_flags;
        done += (size_t)r;
        iov_advance(&part, (size_t)r);
    }
    release_at(fd, at);
    if (copy != small) {
        free(copy);
    }
    if (r < 0 && (done == 0 || r == -ECANCELED)) {
        return r;
    }
    return (ssize_t)done;
}

struct iov_arg {
    const struct iovec *iov;
    int n;
};

static ssize_t op_readv(int fd, void *a, bool dontwait)
{
    struct iov_arg *v = a;
    if (dontwait) {
        struct msghdr m = {.msg_iov = (struct iovec *)v->iov,
                           .msg_iovlen = (size_t)v->n};
        GREEN__RET(GREEN_REAL(recvmsg)(fd, &m, MSG_DONTWAIT));
    }
    GREEN__RET(GREEN_REAL(readv)(fd, v->iov, v->n));
}

/* Whether an iovec array holds no bytes (the kernel answers at once). */
static bool iov_empty(const struct iovec *iov, int n)
{
    for (int i = 0; i < n; i++) {
        if (iov[i].iov_len != 0) {
            return false;
        }
    }
    return true;
}

ssize_t green_readv(int fd, const struct iovec *iov, int n)
{
    if (n <= 0 || iov_empty(iov, n)) {
        GREEN__RET(GREEN_REAL(readv)(fd, iov, n));
    }
    struct green__fd *f = green__fd_get(fd);
    struct iov_arg v = {.iov = iov, .n = n};
    if (f != NULL && f->kind == GREEN__FD_FILE) {
        return green__file_read(fd, iov, n, -1); /* a miss on a worker */
    }
    size_t want = 0;
    for (int i = 0; i < n; i++) {
        want += iov[i].iov_len;
    }
    return green__coop(fd, f, POLLIN,
                       f ? green__coop_deadline(f, POLLIN) : INFINITY,
                       op_readv, &v, want);
}

/* --- writing --------------------------------------------------------------- */

/* A blocking write writes everything (the kernel loops for a blocking
 * socket or pipe): so do these, one green__coop() at a time. A later failure
 * after some bytes went returns the count, as the kernel does; a kill
 * (-ECANCELED), a timeout scope (-ETIMEDOUT) or a close (-EBADF) is
 * reported as such. */
static ssize_t partial(size_t done, ssize_t r)
{
    if (done == 0 || r == -ECANCELED || r == -ETIMEDOUT || r == -EBADF) {
        return r;
    }
    return (ssize_t)done;
}

/* How much of `left` one attempt may offer: a blocking pipe or tty is
 * written only once ready, and in pieces it takes without blocking. */
static size_t piece(const struct green__fd *f, size_t left)
{
    if (f != NULL && f->kind == GREEN__FD_STREAM && !f->sys_nonblock &&
        left > PIPE_BUF) {
        return PIPE_BUF;
    }
    return left;
}

static ssize_t op_write(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    if (dontwait) {
        GREEN__RET(GREEN_REAL(send)(fd, b->buf, b->n, MSG_DONTWAIT));
    }
    GREEN__RET(GREEN_REAL(write)(fd, b->buf, b->n));
}

static ssize_t op_pwrite(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    (void)dontwait;
    GREEN__RET(GREEN_REAL(pwrite)(fd, b->buf, b->n, b->off));
}

static ssize_t op_sendto(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    GREEN__RET(GREEN_REAL(sendto)(fd, b->buf, b->n,
                                  b->flags | (dontwait ? MSG_DONTWAIT : 0),
                                  b->addr, b->len ? *b->len : 0));
}

/* The write-everything loop over a flat buffer. */
static ssize_t write_all(int fd, struct green__fd *f, green__coop_op op,
                         struct buf_arg *b)
{
    if (f != NULL && GREEN__UNLIKELY(f->epoch != green__fd_epoch)) {
        green__fd_sync(fd, f); /* before the choice below */
    }
    if (f == NULL || f->kind == GREEN__FD_FILE || f->user_nonblock) {
        return green__coop(fd, f, POLLOUT, INFINITY, op, b, 0);
    }
    double deadline = green__coop_deadline(f, POLLOUT);
    const char *p = b->buf;
    size_t n = b->n, done = 0;
    int at = fd; /* see coop_at() */
    ssize_t r;
    do {
        b->buf = (void *)(p + done);
        b->n = piece(f, n - done);
        r = coop_at(&at, &f, POLLOUT, deadline, op, b, 0);
        if (r < 0) {
            break;
        }
        done += (size_t)r;
        b->off += r;
    } while (done < n);
    release_at(fd, at);
    return r < 0 ? partial(done, r) : (ssize_t)done;
}

ssize_t green_write(int fd, const void *buf, size_t n)
{
    if (n == 0) {
        GREEN__RET(GREEN_REAL(write)(fd, buf, 0));
    }
    struct buf_arg b = {.buf = (void *)buf, .n = n};
    return write_all(fd, green__fd_get(fd), op_write, &b);
}

ssize_t green_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    struct green__fd *f = green__fd_get(fd);
    struct buf_arg b = {.buf = (void *)buf, .n = n, .off = off};
    if (f != NULL && f->kind == GREEN__FD_SOCKET) {
        f = NULL; /* ESPIPE, at once */
    }
    return write_all(fd, f, op_pwrite, &b);
}

ssize_t green_sendto(int fd, const void *buf, size_t n, int flags,
                     const struct sockaddr *addr, socklen_t len)
{
    struct green__fd *f = green__fd_get(fd);
    struct green__fd once;
    f = per_call(fd, f, flags, &once);
    struct buf_arg b = {.buf = (void *)buf, .n = n, .flags = flags,
                        .addr = (struct sockaddr *)addr, .len = &len};
    return write_all(fd, f, op_sendto, &b);
}

ssize_t green_send(int fd, const void *buf, size_t n, int flags)
{
    return green_sendto(fd, buf, n, flags, NULL, 0);
}

struct smsg_arg {
    struct msghdr msg;
    int flags;
};

static ssize_t op_sendmsg(int fd, void *a, bool dontwait)
{
    struct smsg_arg *m = a;
    GREEN__RET(GREEN_REAL(sendmsg)(fd, &m->msg,
                                   m->flags | (dontwait ? MSG_DONTWAIT : 0)));
}

static ssize_t op_writev(int fd, void *a, bool dontwait)
{
    struct smsg_arg *m = a;
    if (dontwait) {
        GREEN__RET(GREEN_REAL(sendmsg)(fd, &m->msg, MSG_DONTWAIT));
    }
    GREEN__RET(GREEN_REAL(writev)(fd, m->msg.msg_iov, (int)m->msg.msg_iovlen));
}

/* Drops the first `done` bytes from the iovec array (a copy). */
static void iov_advance(struct msghdr *m, size_t done)
{
    while (m->msg_iovlen > 0 && done >= m->msg_iov->iov_len) {
        done -= m->msg_iov->iov_len;
        m->msg_iov++;
        m->msg_iovlen--;
    }
    if (m->msg_iovlen > 0) {
        m->msg_iov->iov_base = (char *)m->msg_iov->iov_base + done;
        m->msg_iov->iov_len -= done;
    }
}

/* The write-everything loop over an iovec array. */
static ssize_t writev_all(int fd, struct green__fd *f, green__coop_op op,
                          struct smsg_arg *m)
{
    size_t total = 0;
    for (size_t i = 0; i < m->msg.msg_iovlen; i++) {
        total += m->msg.msg_iov[i].iov_len;
    }
    if (f != NULL && GREEN__UNLIKELY(f->epoch != green__fd_epoch)) {
        green__fd_sync(fd, f); /* before the choice below */
    }
    if (f == NULL || f->kind == GREEN__FD_FILE || f->user_nonblock ||
        m->msg.msg_iovlen > IOV_MAX) {
        return green__coop(fd, f, POLLOUT, INFINITY, op, m, 0);
    }
    double deadline = green__coop_deadline(f, POLLOUT);
    /* The first attempt uses the caller's array; a partial write moves
     * on in a copy. A blocking pipe takes PIPE_BUF pieces (flat). */
    if (f->kind == GREEN__FD_STREAM && !f->sys_nonblock && total > PIPE_BUF) {
        char *flat = malloc(total);
        if (flat == NULL) {
            return -ENOMEM;
        }
        size_t at = 0;
        for (size_t i = 0; i < m->msg.msg_iovlen; i++) {
            memcpy(flat + at, m->msg.msg_iov[i].iov_base,
                   m->msg.msg_iov[i].iov_len);
            at += m->msg.msg_iov[i].iov_len;
        }
        struct buf_arg b = {.buf = flat, .n = total};
        ssize_t r = write_all(fd, f, op_write, &b);
        free(flat);
        return r;
    }
    int at = fd; /* see coop_at() */
    ssize_t r = coop_at(&at, &f, POLLOUT, deadline, op, m, 0);
    if (r < 0 || (size_t)r == total) {
        release_at(fd, at);
        return r;
    }
    struct iovec small[8];
    size_t niov = m->msg.msg_iovlen;
    struct iovec *copy = niov <= 8 ? small : malloc(niov * sizeof(*copy));
    if (copy == NULL) {
        release_at(fd, at);
        return r;
    }
    memcpy(copy, m->msg.msg_iov, niov * sizeof(*copy));
    m->msg.msg_iov = copy;
    m->msg.msg_control = NULL; /* ancillary data went with the first bytes */
    m->msg.msg_controllen = 0;
    size_t done = (size_t)r;
    iov_advance(&m->msg, done);
    while (done < total) {
        r = coop_at(&at, &f, POLLOUT, deadline, op, m, 0);
        if (r < 0) {
            break;
        }
        done += (size_t)r;
        iov_advance(&m->msg, (size_t)r);
    }
    release_at(fd, at);
    if (copy != small) {
        free(copy);
    }
    return r < 0 ? partial(done, r) : (ssize_t)done;
}

ssize_t green_writev(int fd, const struct iovec *iov, int n)
{
    if (n <= 0 || iov_empty(iov, n)) {
        GREEN__RET(GREEN_REAL(writev)(fd, iov, n));
    }
    struct smsg_arg m = {.msg = {.msg_iov = (struct iovec *)iov,
                                 .msg_iovlen = (size_t)n}};
    return writev_all(fd, green__fd_get(fd), op_writev, &m);
}

ssize_t green_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct green__fd *f = green__fd_get(fd);
    struct green__fd once;
    f = per_call(fd, f, flags, &once);
    struct smsg_arg m = {.msg = *msg, .flags = flags};
    return writev_all(fd, f, op_sendmsg, &m);
}
