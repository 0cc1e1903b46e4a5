/* SPDX-License-Identifier: MIT */
/* The cooperative call loop, shared by the fd calls of lib/: io.c (the
 * loop itself, reads and writes), sockio.c (sockets) and fdctl.c (pipes,
 * dup, fcntl, ioctl). io.c's top comment explains the design; fd.h is
 * the per-fd table the loop consults. Internal to those files. */
#ifndef GREEN_COOP_H
#define GREEN_COOP_H

#include <math.h>
#include <stdbool.h>
#include <sys/types.h>

#include "internal.h"
#include "fd.h"

/* One attempt at an operation: the real call, never blocking when
 * dontwait (MSG_DONTWAIT on a socket). Returns >= 0 or a negative errno. */
typedef ssize_t (*green__coop_op)(int fd, void *arg, bool dontwait);

/* Returns from an op: expr's value, or the negative errno if it failed
 * (errno is read on the line after the call, before anything can
 * switch). */
#define GREEN__RET(expr)                                                  \
    do {                                                                  \
        ssize_t r_ = (expr);                                              \
        return r_ < 0 ? -errno : r_;                                      \
    } while (0)

/* Records a new fd. A registration left under its number (the old fd
 * was closed behind libgreen's back, by fclose or glibc itself) is
 * dropped: the kernel forgot it with the old file. */
static inline void green__coop_made(int fd, enum green__fd_kind kind,
                                    int acc, bool bytes, bool nonblock)
{
    green__hub_io_forget(fd);
    green__fd_made(fd, kind, acc, bytes, nonblock, nonblock);
}

/* The deadline of a call from the fd's SO_RCVTIMEO/SO_SNDTIMEO. */
static inline double green__coop_deadline(const struct green__fd *f,
                                           int events)
{
    double t = events == POLLIN ? f->rcvtimeo : f->sndtimeo;
    return t > 0.0 ? green__now() + t : INFINITY;
}

/* Waits for fd until the deadline: 0 to try again, -EAGAIN when the
 * deadline (the fd's own timeout) passed, or the wait's error. */
int green__coop_wait(int fd, int events, double deadline);

/* Runs op until it does not say EAGAIN, waiting for the fd in between,
 * unless the program made the fd non-blocking. f is fd's entry or NULL
 * (not in the table: the call is made as it is); want is what a read
 * asks for, or 0 (see the short-read hint at the definition, io.c).
 * Returns op's result or a negative errno. */
ssize_t green__coop(int fd, struct green__fd *f, int events, double deadline,
                    green__coop_op op, void *arg, size_t want);

#endif
