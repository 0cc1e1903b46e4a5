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
 * call, before anything can switch. */
#include "internal.h"

#include "green/io.h"

#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fd.h"
#include "real.h"

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

/* Records a new fd. A registration left under its number (the old fd
 * was closed behind libgreen's back, by fclose or glibc itself) is
 * dropped: the kernel forgot it with the old file. */
static void made(int fd, enum green__fd_kind kind, int acc, bool bytes,
                 bool nonblock)
{
    green__hub_io_forget(fd);
    green__fd_made(fd, kind, acc, bytes, nonblock, nonblock);
}

/* --- the core loop ------------------------------------------------------- */

/* One attempt at an operation: the real call, never blocking when
 * dontwait (MSG_DONTWAIT on a socket). Returns >= 0 or a negative errno. */
typedef ssize_t (*op_fn)(int fd, void *arg, bool dontwait);

/* The deadline of a call from the fd's SO_RCVTIMEO/SO_SNDTIMEO. */
static double deadline_of(const struct green__fd *f, int events)
{
    double t = events == POLLIN ? f->rcvtimeo : f->sndtimeo;
    return t > 0.0 ? green__now() + t : INFINITY;
}

/* Whether fd is ready for events now (or has an error to report). */
static bool ready_now(int fd, int events)
{
    struct pollfd p = {.fd = fd, .events = (short)events};
    return GREEN_REAL(poll)(&p, 1, 0) != 0;
}

/* Waits for fd until the deadline: 0 to try again, -EAGAIN when the
 * deadline (the fd's own timeout) passed, or the wait's error. */
static int wait_fd(int fd, int events, double deadline)
{
    double left = GREEN_FOREVER;
    if (isfinite(deadline)) {
        left = deadline - green__now();
        if (left <= 0.0) {
            return -EAGAIN;
        }
    }
    /* Linux never restarts a call on a socket with a timeout set. */
    int r = green__hub_io_wait_intr(fd, events, left,
                                    isfinite(deadline) ? GREEN__INTR_ALWAYS
                                                       : GREEN__INTR_RESTART);
    if (r == -ETIMEDOUT && isfinite(deadline) && green__now() >= deadline) {
        return -EAGAIN;
    }
    return r < 0 ? r : 0;
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
 * it is readable. */
static ssize_t coop(int fd, struct green__fd *f, int events, double deadline,
                    op_fn op, void *arg, size_t want)
{
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
    bool hint = want != 0 && f->bytes && !f->user_nonblock;
    bool untried = hint && f->drained; /* waiting before any try */
    int failed = 0; /* how that wait ended, if in error */
    if (untried) {
        f->drained = false;
        goto wait;
    }
    for (;;) {
        bool dontwait = false;
        if (!f->sys_nonblock) {
            if (f->kind == GREEN__FD_SOCKET) {
                dontwait = true;
            } else if (!ready_now(fd, events)) {
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
        if (f->user_nonblock) {
            return -EAGAIN;
        }
        if (failed != 0) {
            return failed;
        }
    wait:;
        int w = wait_fd(fd, events, deadline);
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
    }
}

#define RET(expr)                                                         \
    do {                                                                  \
        ssize_t r_ = (expr);                                              \
        return r_ < 0 ? -errno : r_;                                      \
    } while (0)

/* --- reading --------------------------------------------------------------- */

/* f for a call with these flags: MSG_DONTWAIT makes this call alone
 * non-blocking (a copy of the entry in *once says so). */
static struct green__fd *per_call(struct green__fd *f, int flags,
                                  struct green__fd *once)
{
    if (f == NULL || !(flags & MSG_DONTWAIT)) {
        return f;
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
        RET(GREEN_REAL(recv)(fd, b->buf, b->n, MSG_DONTWAIT));
    }
    RET(GREEN_REAL(read)(fd, b->buf, b->n));
}

ssize_t green_read(int fd, void *buf, size_t n)
{
    if (n == 0) { /* the kernel answers at once, ready or not */
        RET(GREEN_REAL(read)(fd, buf, 0));
    }
    struct green__fd *f = green__fd_get(fd);
    struct buf_arg b = {.buf = buf, .n = n};
    return coop(fd, f, POLLIN, f ? deadline_of(f, POLLIN) : INFINITY,
                op_read, &b, n);
}

static ssize_t op_pread(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    (void)dontwait; /* pread on a socket fails with ESPIPE anyway */
    RET(GREEN_REAL(pread)(fd, b->buf, b->n, b->off));
}

ssize_t green_pread(int fd, void *buf, size_t n, off_t off)
{
    struct green__fd *f = green__fd_get(fd);
    struct buf_arg b = {.buf = buf, .n = n, .off = off};
    if (f != NULL && f->kind == GREEN__FD_SOCKET) {
        f = NULL; /* ESPIPE, at once */
    }
    return coop(fd, f, POLLIN, f ? deadline_of(f, POLLIN) : INFINITY,
                op_pread, &b, 0);
}

static ssize_t op_recvfrom(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    RET(GREEN_REAL(recvfrom)(fd, b->buf, b->n,
                             b->flags | (dontwait ? MSG_DONTWAIT : 0),
                             b->addr, b->len));
}

ssize_t green_recvfrom(int fd, void *buf, size_t n, int flags,
                       struct sockaddr *addr, socklen_t *len)
{
    struct green__fd *f = green__fd_get(fd);
    struct green__fd once;
    f = per_call(f, flags, &once);
    double deadline = f ? deadline_of(f, POLLIN) : INFINITY;
    struct buf_arg b = {.buf = buf, .n = n, .flags = flags & ~MSG_WAITALL,
                        .addr = addr, .len = len};
    if (!(flags & MSG_WAITALL) || (flags & MSG_PEEK) || f == NULL ||
        f->user_nonblock) {
        b.flags = flags;
        return coop(fd, f, POLLIN, deadline, op_recvfrom, &b,
                    flags & (MSG_PEEK | MSG_OOB) ? 0 : n);
    }
    /* MSG_WAITALL: until n bytes, end of file, an error or the timeout;
     * bytes already received are returned rather than the error. */
    size_t done = 0;
    while (done < n) {
        b.buf = (char *)buf + done;
        b.n = n - done;
        ssize_t r = coop(fd, f, POLLIN, deadline, op_recvfrom, &b, b.n);
        if (r <= 0) {
            return done > 0 && r != -ECANCELED ? (ssize_t)done : r;
        }
        done += (size_t)r;
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
    RET(GREEN_REAL(recvmsg)(fd, m->msg,
                            m->flags | (dontwait ? MSG_DONTWAIT : 0)));
}

ssize_t green_recvmsg(int fd, struct msghdr *msg, int flags)
{
    struct green__fd *f = green__fd_get(fd);
    struct green__fd once;
    f = per_call(f, flags, &once);
    struct msg_arg m = {.msg = msg, .flags = flags};
    return coop(fd, f, POLLIN, f ? deadline_of(f, POLLIN) : INFINITY,
                op_recvmsg, &m, 0);
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
        RET(GREEN_REAL(recvmsg)(fd, &m, MSG_DONTWAIT));
    }
    RET(GREEN_REAL(readv)(fd, v->iov, v->n));
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
        RET(GREEN_REAL(readv)(fd, iov, n));
    }
    struct green__fd *f = green__fd_get(fd);
    struct iov_arg v = {.iov = iov, .n = n};
    size_t want = 0;
    for (int i = 0; i < n; i++) {
        want += iov[i].iov_len;
    }
    return coop(fd, f, POLLIN, f ? deadline_of(f, POLLIN) : INFINITY,
                op_readv, &v, want);
}

/* --- writing --------------------------------------------------------------- */

/* A blocking write writes everything (the kernel loops for a blocking
 * socket or pipe): so do these, one coop() at a time. A later failure
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
        RET(GREEN_REAL(send)(fd, b->buf, b->n, MSG_DONTWAIT));
    }
    RET(GREEN_REAL(write)(fd, b->buf, b->n));
}

static ssize_t op_pwrite(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    (void)dontwait;
    RET(GREEN_REAL(pwrite)(fd, b->buf, b->n, b->off));
}

static ssize_t op_sendto(int fd, void *a, bool dontwait)
{
    struct buf_arg *b = a;
    RET(GREEN_REAL(sendto)(fd, b->buf, b->n,
                           b->flags | (dontwait ? MSG_DONTWAIT : 0),
                           b->addr, b->len ? *b->len : 0));
}

/* The write-everything loop over a flat buffer. */
static ssize_t write_all(int fd, struct green__fd *f, op_fn op,
                         struct buf_arg *b)
{
    if (f == NULL || f->kind == GREEN__FD_FILE || f->user_nonblock) {
        return coop(fd, f, POLLOUT, INFINITY, op, b, 0);
    }
    double deadline = deadline_of(f, POLLOUT);
    const char *p = b->buf;
    size_t n = b->n, done = 0;
    do {
        b->buf = (void *)(p + done);
        b->n = piece(f, n - done);
        ssize_t r = coop(fd, f, POLLOUT, deadline, op, b, 0);
        if (r < 0) {
            return partial(done, r);
        }
        done += (size_t)r;
        b->off += r;
    } while (done < n);
    return (ssize_t)done;
}

ssize_t green_write(int fd, const void *buf, size_t n)
{
    if (n == 0) {
        RET(GREEN_REAL(write)(fd, buf, 0));
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
    f = per_call(f, flags, &once);
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
    RET(GREEN_REAL(sendmsg)(fd, &m->msg,
                            m->flags | (dontwait ? MSG_DONTWAIT : 0)));
}

static ssize_t op_writev(int fd, void *a, bool dontwait)
{
    struct smsg_arg *m = a;
    if (dontwait) {
        RET(GREEN_REAL(sendmsg)(fd, &m->msg, MSG_DONTWAIT));
    }
    RET(GREEN_REAL(writev)(fd, m->msg.msg_iov, (int)m->msg.msg_iovlen));
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
static ssize_t writev_all(int fd, struct green__fd *f, op_fn op,
                          struct smsg_arg *m)
{
    size_t total = 0;
    for (size_t i = 0; i < m->msg.msg_iovlen; i++) {
        total += m->msg.msg_iov[i].iov_len;
    }
    if (f == NULL || f->kind == GREEN__FD_FILE || f->user_nonblock ||
        m->msg.msg_iovlen > IOV_MAX) {
        return coop(fd, f, POLLOUT, INFINITY, op, m, 0);
    }
    double deadline = deadline_of(f, POLLOUT);
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
    ssize_t r = coop(fd, f, POLLOUT, deadline, op, m, 0);
    if (r < 0 || (size_t)r == total) {
        return r;
    }
    struct iovec small[8];
    size_t niov = m->msg.msg_iovlen;
    struct iovec *copy = niov <= 8 ? small : malloc(niov * sizeof(*copy));
    if (copy == NULL) {
        return r;
    }
    memcpy(copy, m->msg.msg_iov, niov * sizeof(*copy));
    m->msg.msg_iov = copy;
    m->msg.msg_control = NULL; /* ancillary data went with the first bytes */
    m->msg.msg_controllen = 0;
    size_t done = (size_t)r;
    iov_advance(&m->msg, done);
    while (done < total) {
        r = coop(fd, f, POLLOUT, deadline, op, m, 0);
        if (r < 0) {
            break;
        }
        done += (size_t)r;
        iov_advance(&m->msg, (size_t)r);
    }
    if (copy != small) {
        free(copy);
    }
    return r < 0 ? partial(done, r) : (ssize_t)done;
}

ssize_t green_writev(int fd, const struct iovec *iov, int n)
{
    if (n <= 0 || iov_empty(iov, n)) {
        RET(GREEN_REAL(writev)(fd, iov, n));
    }
    struct smsg_arg m = {.msg = {.msg_iov = (struct iovec *)iov,
                                 .msg_iovlen = (size_t)n}};
    return writev_all(fd, green__fd_get(fd), op_writev, &m);
}

ssize_t green_sendmsg(int fd, const struct msghdr *msg, int flags)
{
    struct green__fd *f = green__fd_get(fd);
    struct green__fd once;
    f = per_call(f, flags, &once);
    struct smsg_arg m = {.msg = *msg, .flags = flags};
    return writev_all(fd, f, op_sendmsg, &m);
}

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
    RET(GREEN_REAL(accept4)(fd, x->addr, x->len, x->flags));
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
    ssize_t r = coop(fd, f, POLLIN, f ? deadline_of(f, POLLIN) : INFINITY,
                     op_accept, &x, 0);
    if (r >= 0) {
        bool nb = (flags & SOCK_NONBLOCK) != 0;
        made((int)r, GREEN__FD_SOCKET, O_RDWR, f != NULL && f->bytes, nb);
        struct green__fd *n = green__fd_slot((int)r);
        if (n != NULL && f != NULL) { /* Linux copies these from the
                                         listening socket */
            n->rcvtimeo = f->rcvtimeo;
            n->sndtimeo = f->sndtimeo;
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
    double deadline = deadline_of(f, POLLOUT);
    /* Wait, then ask connect(2) again: it reports the outcome and moves
     * the socket to connected, so a later connect says EISCONN as the
     * kernel's would after a blocking one. */
    bool first = true;
    for (;;) {
        e = GREEN_REAL(connect)(fd, addr, len) == 0 ? 0 : -errno;
        bool pending = e == -EAGAIN || e == -EINPROGRESS ||
                       (!first && e == -EALREADY);
        if (!first && e == -EISCONN) {
            e = 0;
        }
        first = false;
        if (!pending) {
            break;
        }
        int w = wait_fd(fd, POLLOUT, deadline);
        if (w != 0) {
            e = w == -EAGAIN ? -EINPROGRESS : w; /* SO_SNDTIMEO: as the
                                                    kernel says it */
            break;
        }
    }
    if (e != -EBADF) {
        restore_blocking(fd, f, was);
    }
    return e;
}

/* --- poll ------------------------------------------------------------------- */

int green__poll_until(const struct pollfd *fds, size_t n, double timeout,
                      int (*look)(void *), void *arg)
{
    if (green__check_timeout(timeout) != 0) {
        return -EINVAL;
    }
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
        int w = green__hub_poll_wait(fds, n, left);
        if (w == -ETIMEDOUT && green__now() >= deadline) {
            return look(arg); /* a last look */
        }
        if (w < 0) {
            return w;
        }
    }
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

/* --- making and configuring fds ------------------------------------------- */

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
    made(fd, GREEN__FD_SOCKET, O_RDWR, is_stream(type), nb);
    return fd;
}

int green_socketpair(int domain, int type, int protocol, int sv[2])
{
    if (GREEN_REAL(socketpair)(domain, type, protocol, sv) != 0) {
        return -errno;
    }
    bool nb = (type & SOCK_NONBLOCK) != 0;
    made(sv[0], GREEN__FD_SOCKET, O_RDWR, is_stream(type), nb);
    made(sv[1], GREEN__FD_SOCKET, O_RDWR, is_stream(type), nb);
    return 0;
}

int green_pipe2(int fds[2], int flags)
{
    if (GREEN_REAL(pipe2)(fds, flags) != 0) {
        return -errno;
    }
    bool nb = (flags & O_NONBLOCK) != 0;
    made(fds[0], GREEN__FD_STREAM, O_RDONLY, true, nb);
    made(fds[1], GREEN__FD_STREAM, O_WRONLY, true, nb);
    return 0;
}

/* After a dup onto fd2: it shares fd's description, so its entry. */
static int dup_done(int fd, int fd2)
{
    if (fd2 < 0) {
        return -errno;
    }
    if (fd2 != fd) {
        green__hub_io_forget(fd2);
        green__fd_get(fd);
        green__fd_copy(fd, fd2);
    }
    return fd2;
}

int green_dup(int fd)
{
    return dup_done(fd, GREEN_REAL(dup)(fd));
}

int green_dup3(int fd, int fd2, int flags)
{
    if (fd == fd2 && flags == 0) { /* dup2(fd, fd): fd if open */
        return GREEN_REAL(fcntl)(fd, F_GETFD) == -1 ? -errno : fd;
    }
    if (fd2 >= 0 && fd != fd2) {
        /* fd2 is closed by the dup: its waiters wake with EBADF first. */
        green__hub_io_forget(fd2);
    }
    int r = flags == 0 ? GREEN_REAL(dup2)(fd, fd2)
                       : GREEN_REAL(dup3)(fd, fd2, flags);
    return dup_done(fd, r);
}

int green_shutdown(int fd, int how)
{
    return GREEN_REAL(shutdown)(fd, how) == 0 ? 0 : -errno;
}

int green_fcntl(int fd, int cmd, long arg)
{
    struct green__fd *f;
    int r;
    switch (cmd) {
    case F_GETFL:
        r = GREEN_REAL(fcntl)(fd, F_GETFL);
        if (r == -1) {
            return -errno;
        }
        if ((f = green__fd_get(fd)) != NULL) {
            if (f->epoch != green__fd_epoch) {
                green__fd_sync(fd, f);
            }
            r = f->user_nonblock ? (r | O_NONBLOCK) : (r & ~O_NONBLOCK);
        }
        return r;
    case F_SETFL:
        f = green__fd_get(fd);
        if (f == NULL) {
            return GREEN_REAL(fcntl)(fd, F_SETFL, arg) == -1 ? -errno : 0;
        }
        /* The runtime's own O_NONBLOCK stays on the description. */
        bool want = (arg & O_NONBLOCK) != 0;
        long sys = want || (f->sys_nonblock && !f->user_nonblock)
                       ? (arg | O_NONBLOCK)
                       : (arg & ~O_NONBLOCK);
        if (GREEN_REAL(fcntl)(fd, F_SETFL, sys) == -1) {
            return -errno;
        }
        if (want != f->user_nonblock) {
            green__fd_epoch++; /* dups of fd see it too */
        }
        f->sys_nonblock = (sys & O_NONBLOCK) != 0;
        f->user_nonblock = want;
        f->epoch = green__fd_epoch;
        return 0;
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
        r = GREEN_REAL(fcntl)(fd, cmd, arg);
        return dup_done(fd, r);
    default:
        r = GREEN_REAL(fcntl)(fd, cmd, arg);
        return r == -1 ? -errno : r;
    }
}

int green_fcntl_ptr(int fd, int cmd, void *arg)
{
    int r = GREEN_REAL(fcntl)(fd, cmd, arg);
    return r == -1 ? -errno : r;
}

int green_ioctl(int fd, unsigned long request, void *arg)
{
    if (request == FIONBIO && arg != NULL) {
        struct green__fd *f = green__fd_get(fd);
        if (f != NULL) {
            int fl = green_fcntl(fd, F_GETFL, 0);
            if (fl < 0) {
                return fl;
            }
            return green_fcntl(fd, F_SETFL,
                               *(int *)arg ? (fl | O_NONBLOCK)
                                           : (fl & ~O_NONBLOCK));
        }
    }
    int r = GREEN_REAL(ioctl)(fd, request, arg);
    return r == -1 ? -errno : r;
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
