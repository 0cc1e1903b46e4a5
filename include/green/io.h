/* Cooperative I/O: waiting on file descriptors without blocking the OS
 * thread. While one greenlet waits, the hub runs the others. */
#ifndef GREEN_IO_H
#define GREEN_IO_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

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
 * Switching: switches. */
GREEN_EXTERN int green_wait_fd(int fd, int events, double timeout);

/* Closes fd. Greenlets waiting on it wake first with -EBADF, and the hub
 * drops its registration before the number can be reused. Close an fd that
 * was ever waited on with this, not close(2) (under the preload, close(2)
 * is this). Returns 0 or a
 * negative errno from close(2) (-EBADF, -EIO, ...).
 * Switching: never switches. */
GREEN_EXTERN int green_close(int fd);

/* The calls below try the operation, and when it would block, wait on
 * the hub for the fd and try again: the calling greenlet waits, the
 * thread does not. They need fds in non-blocking mode (as green_accept()
 * returns them; set O_NONBLOCK on others). Bound them in time with a
 * timeout scope (green/timeout.h). Each returns a negative errno on
 * failure, -ECANCELED if the caller is killed while waiting.
 * Switching: each may switch. */

/* read(2): the bytes read (0 at end of file), or a negative errno. */
GREEN_EXTERN ssize_t green_read(int fd, void *buf, size_t n);

/* write(2), but writes all n bytes, as a blocking write to a socket does:
 * returns n, or a negative errno (bytes written before the error are
 * lost to the caller, as with a blocking write that fails midway). */
GREEN_EXTERN ssize_t green_write(int fd, const void *buf, size_t n);

/* accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: the new fd, or a negative
 * errno. addr and len may be NULL. */
GREEN_EXTERN int green_accept(int fd, struct sockaddr *addr, socklen_t *len);

/* connect(2) on a non-blocking socket, waiting for the outcome: 0 or a
 * negative errno (-ECONNREFUSED, -ETIMEDOUT, ...). */
GREEN_EXTERN int green_connect(int fd, const struct sockaddr *addr,
                               socklen_t len);

#ifdef __cplusplus
}
#endif

#endif
