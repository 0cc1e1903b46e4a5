/* SPDX-License-Identifier: MIT */
/* Cooperative calls that make and configure fds other than sockets:
 * pipe2, dup, dup3, fcntl and ioctl. None of them waits; what they do for
 * the runtime is keep the fd table (fd.h) true: a new fd's kind, a dup
 * sharing its description's entry, O_NONBLOCK as the program set it
 * (F_SETFL, FIONBIO) apart from the runtime's own. io.c's top comment
 * has the design. */
#include "coop.h"

#include "green/io.h"

#include <fcntl.h>

#include "real.h"

/* --- making and configuring fds ------------------------------------------- */

int green_pipe2(int fds[2], int flags)
{
    if (GREEN_REAL(pipe2)(fds, flags) != 0) {
        return -errno;
    }
    bool nb = (flags & O_NONBLOCK) != 0;
    green__coop_made(fds[0], GREEN__FD_STREAM, O_RDONLY, true, nb);
    green__coop_made(fds[1], GREEN__FD_STREAM, O_WRONLY, true, nb);
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
