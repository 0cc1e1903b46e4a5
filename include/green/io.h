/* Cooperative I/O: waiting on file descriptors without blocking the OS
 * thread. While one greenlet waits, the hub runs the others. */
#ifndef GREEN_IO_H
#define GREEN_IO_H

#include <poll.h>

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

#ifdef __cplusplus
}
#endif

#endif
