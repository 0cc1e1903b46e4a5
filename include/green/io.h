/* SPDX-License-Identifier: MIT */
/* Cooperative I/O: waiting on file descriptors without blocking the OS
 * thread. While one greenlet waits, the hub runs the others. */
#ifndef GREEN_IO_H
#define GREEN_IO_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parks the caller until fd is ready for `events` (POLLIN, POLLOUT or
 * both), at most timeout seconds. Each fd keeps one registration with the
 * hub for as long as it is open, however often it is waited on; several
 * greenlets may wait on one fd, and each readiness wakes one of them.
 * Returns the ready events (> 0; an error or hang-up on the fd reports
 * every event asked for, so the next read or write sees it), or a negative
 * errno: -EBADF (fd negative or not open, or closed with green_close()
 * while waiting), -EINVAL (no POLLIN/POLLOUT asked; bad timeout),
 * -ETIMEDOUT, -ECANCELED (the caller was killed), -ENOMEM.
 * Switching: may switch (it parks unless it fails at once, as it does
 * with a timeout of 0). */
GREEN_EXTERN int green_wait_fd(int fd, int events, double timeout);

/* Closes fd. Greenlets waiting on it wake first with -EBADF, and the hub
 * drops its registration before the number can be reused. Close an fd that
 * was ever waited on with this, not close(2) (under the preload, close(2)
 * is this). Returns 0 or a
 * negative errno from close(2) (-EBADF, -EIO, ...).
 * Switching: never switches. */
GREEN_EXTERN int green_close(int fd);

/* The calls below behave as the libc call of the same name does on a
 * blocking thread, except that only the calling greenlet waits: each
 * tries the operation and, when it would block, waits on the hub for the
 * fd and tries again. They work on any fd:
 *  - sockets, pipes, FIFOs, ttys wait cooperatively; regular files and
 *    block devices never wait (the kernel never says EAGAIN for them);
 *  - an fd the program itself made non-blocking (O_NONBLOCK through
 *    green_fcntl(), SOCK_NONBLOCK, FIONBIO; or already set when libgreen
 *    first saw the fd) still fails with -EAGAIN;
 *  - SO_RCVTIMEO and SO_SNDTIMEO set through green_setsockopt() (or
 *    found on the socket) end a wait with -EAGAIN, as the kernel's do.
 * libgreen keeps a table of what the program asked of each fd, apart
 * from what the runtime itself needs (it may put sockets in non-blocking
 * mode; green_fcntl(F_GETFL) hides that). Bound any call in time with a
 * timeout scope (green/timeout.h): it then fails with -ETIMEDOUT.
 * Each returns a negative errno on failure, -ECANCELED if the caller is
 * killed while waiting, -EBADF if the fd is closed with green_close()
 * while waiting.
 * Switching: each may switch, except green_fcntl, green_ioctl,
 * green_setsockopt, green_socket, green_socketpair, green_pipe2, green_dup*,
 * green_shutdown, which never do. */

/* read(2): the bytes read (0 at end of file), or a negative errno.
 * Switching: may switch. */
GREEN_EXTERN ssize_t green_read(int fd, void *buf, size_t n);

/* write(2). On a blocking fd it writes all n bytes, as a blocking write
 * to a socket or pipe does, unless an error, a signal or the fd's send
 * timeout stops it after some bytes: then it returns that count.
 * Switching: may switch. */
GREEN_EXTERN ssize_t green_write(int fd, const void *buf, size_t n);

/* readv(2), writev(2), pread(2), pwrite(2), recv(2), recvfrom(2),
 * recvmsg(2), send(2), sendto(2), sendmsg(2). Switching: may switch. */
GREEN_EXTERN ssize_t green_readv(int fd, const struct iovec *iov, int n);
GREEN_EXTERN ssize_t green_writev(int fd, const struct iovec *iov, int n);
GREEN_EXTERN ssize_t green_pread(int fd, void *buf, size_t n, off_t off);
GREEN_EXTERN ssize_t green_pwrite(int fd, const void *buf, size_t n,
                                  off_t off);
GREEN_EXTERN ssize_t green_recv(int fd, void *buf, size_t n, int flags);
GREEN_EXTERN ssize_t green_recvfrom(int fd, void *buf, size_t n, int flags,
                                    struct sockaddr *addr, socklen_t *len);
GREEN_EXTERN ssize_t green_recvmsg(int fd, struct msghdr *msg, int flags);
GREEN_EXTERN ssize_t green_send(int fd, const void *buf, size_t n,
                                int flags);
GREEN_EXTERN ssize_t green_sendto(int fd, const void *buf, size_t n,
                                  int flags, const struct sockaddr *addr,
                                  socklen_t len);
GREEN_EXTERN ssize_t green_sendmsg(int fd, const struct msghdr *msg,
                                   int flags);

/* accept(2) and accept4(2): the new fd (blocking unless SOCK_NONBLOCK is
 * in flags, as the kernel makes it), or a negative errno. addr and len
 * may be NULL. Switching: may switch. */
GREEN_EXTERN int green_accept(int fd, struct sockaddr *addr, socklen_t *len);
GREEN_EXTERN int green_accept4(int fd, struct sockaddr *addr, socklen_t *len,
                               int flags);

/* connect(2): on a blocking socket waits for the outcome (0,
 * -ECONNREFUSED, -ETIMEDOUT, ...); on a socket the program made
 * non-blocking returns -EINPROGRESS as the kernel does.
 * Switching: may switch. */
GREEN_EXTERN int green_connect(int fd, const struct sockaddr *addr,
                               socklen_t len);

/* poll(2) with the timeout in seconds (GREEN_FOREVER: none): the number of
 * fds with events, 0 on timeout, or a negative errno.
 * Switching: may switch (never with a timeout of 0). */
GREEN_EXTERN int green_poll(struct pollfd *fds, nfds_t n, double timeout);

/* socket(2), socketpair(2), pipe2(2), dup(2), dup3(2) (and dup2(2)),
 * shutdown(2): as the kernel's, with the fd table kept up to date.
 * Switching: never switches. */
GREEN_EXTERN int green_socket(int domain, int type, int protocol);
GREEN_EXTERN int green_socketpair(int domain, int type, int protocol,
                                  int sv[2]);
GREEN_EXTERN int green_pipe2(int fds[2], int flags);
GREEN_EXTERN int green_dup(int fd);
GREEN_EXTERN int green_dup3(int fd, int fd2, int flags);
GREEN_EXTERN int green_shutdown(int fd, int how);

/* fcntl(2) with an integer argument (F_GETFL, F_SETFL, F_DUPFD, ...):
 * F_GETFL shows O_NONBLOCK as the program set it; F_SETFL records it.
 * Commands that take a pointer go through green_fcntl_ptr().
 * Switching: never switches. */
GREEN_EXTERN int green_fcntl(int fd, int cmd, long arg);
GREEN_EXTERN int green_fcntl_ptr(int fd, int cmd, void *arg);

/* ioctl(2): FIONBIO records the program's non-blocking mode; other
 * requests go to the kernel. Switching: never switches. */
GREEN_EXTERN int green_ioctl(int fd, unsigned long request, void *arg);

/* setsockopt(2): SO_RCVTIMEO and SO_SNDTIMEO are recorded (and given to
 * the kernel), as the cooperative calls honour them.
 * Switching: never switches. */
GREEN_EXTERN int green_setsockopt(int fd, int level, int name,
                                  const void *val, socklen_t len);

#ifdef __cplusplus
}
#endif

#endif
