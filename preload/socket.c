/* SPDX-License-Identifier: MIT */
/* The interposers that make, connect, configure and close fds: socket,
 * socketpair, pipe, accept, connect, shutdown, close, dup*, fcntl, ioctl,
 * setsockopt. The ones that never block keep the fd table (lib/fd.h)
 * up to date whenever the socket family is patched, in every thread; the
 * blocking ones (accept, connect) go green only when green__go_green()
 * says so. */
#include "preload.h"

#include <stdarg.h>

#include "cancel.h"
#include "green/io.h"
#include "fd.h"

/* A call that never blocks: through lib/ (which keeps the table) when the
 * family is patched. */
#define TABLE(green_call, real_call)                                      \
    return green__patch_on(GREEN_PATCH_SOCKET) ? green__ret(green_call)   \
                                               : (real_call)

#define BLOCKING(green_call, real_call)                                   \
    return green__go_green(GREEN_PATCH_SOCKET)                            \
               ? green__ret(GREEN__CANCELLABLE(long, green_call))         \
               : (real_call)

GREEN_INTERPOSE int socket(int domain, int type, int protocol)
{
    TABLE(green_socket(domain, type, protocol),
          GREEN_REAL(socket)(domain, type, protocol));
}

GREEN_INTERPOSE int socketpair(int domain, int type, int protocol, int sv[2])
{
    TABLE(green_socketpair(domain, type, protocol, sv),
          GREEN_REAL(socketpair)(domain, type, protocol, sv));
}

GREEN_INTERPOSE int pipe(int fds[2])
{
    TABLE(green_pipe2(fds, 0), GREEN_REAL(pipe)(fds));
}

GREEN_INTERPOSE int pipe2(int fds[2], int flags)
{
    TABLE(green_pipe2(fds, flags), GREEN_REAL(pipe2)(fds, flags));
}

GREEN_INTERPOSE int accept(int fd, struct sockaddr *restrict addr,
                           socklen_t *restrict len)
{
    BLOCKING(green_accept4(fd, addr, len, 0),
             GREEN_REAL(accept)(fd, addr, len));
}

GREEN_INTERPOSE int accept4(int fd, struct sockaddr *restrict addr,
                            socklen_t *restrict len, int flags)
{
    BLOCKING(green_accept4(fd, addr, len, flags),
             GREEN_REAL(accept4)(fd, addr, len, flags));
}

GREEN_INTERPOSE int connect(int fd, const struct sockaddr *addr,
                            socklen_t len)
{
    BLOCKING(green_connect(fd, addr, len),
             GREEN_REAL(connect)(fd, addr, len));
}

GREEN_INTERPOSE int shutdown(int fd, int how)
{
    return GREEN_REAL(shutdown)(fd, how);
}

/* close always goes through lib/: whatever is patched, its registration
 * must go before the kernel can reuse the number, and calls waiting on
 * the fd go on with its description, as the kernel's do (lib/fd.h). */
GREEN_INTERPOSE int close(int fd)
{
    return (int)green__ret(green__fd_close(fd));
}

/* fclose, which closes its fd inside glibc, is green stdio's
 * (preload/stdio.c): it forgets the fd first, as close() does. */

GREEN_INTERPOSE int dup(int fd)
{
    TABLE(green_dup(fd), GREEN_REAL(dup)(fd));
}

/* dup2 and dup3 close fd2 first: calls waiting on it go on with its
 * description, as after close (lib/fd.h). */
static void dup_closes(int fd, int fd2)
{
    if (fd != fd2 && green__patch_on(GREEN_PATCH_SOCKET)) {
        green__hub_io_move(fd2);
    }
}

GREEN_INTERPOSE int dup2(int fd, int fd2)
{
    dup_closes(fd, fd2);
    TABLE(green_dup3(fd, fd2, 0), GREEN_REAL(dup2)(fd, fd2));
}

GREEN_INTERPOSE int dup3(int fd, int fd2, int flags)
{
    if (fd == fd2) {
        return GREEN_REAL(dup3)(fd, fd2, flags); /* EINVAL */
    }
    dup_closes(fd, fd2);
    TABLE(green_dup3(fd, fd2, flags), GREEN_REAL(dup3)(fd, fd2, flags));
}

/* Whether an fcntl command takes a pointer (the rest take an int). */
static bool ptr_cmd(int cmd)
{
    switch (cmd) {
    case F_GETLK:
    case F_SETLK:
    case F_SETLKW:
    case F_OFD_GETLK:
    case F_OFD_SETLK:
    case F_OFD_SETLKW:
    case F_GETOWN_EX:
    case F_SETOWN_EX:
    case F_GET_RW_HINT:
    case F_SET_RW_HINT:
    case F_GET_FILE_RW_HINT:
    case F_SET_FILE_RW_HINT:
        return true;
    default:
        return false;
    }
}

/* Record-lock waits park only the caller (preload/flock.c). */
int green__fcntl_setlkw(int fd, int cmd, void *arg);

static int do_fcntl(int fd, int cmd, void *arg)
{
    if ((cmd == F_SETLKW || cmd == F_OFD_SETLKW) &&
        green__go_green(GREEN_PATCH_OS)) {
        return green__fcntl_setlkw(fd, cmd, arg);
    }
    if (!green__patch_on(GREEN_PATCH_SOCKET) || ptr_cmd(cmd)) {
        return GREEN_REAL(fcntl)(fd, cmd, arg);
    }
    return (int)green__ret(green_fcntl(fd, cmd, (long)arg));
}

GREEN_INTERPOSE int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}

/* What programs built with _FILE_OFFSET_BITS=64 call (the same on LP64). */
GREEN_INTERPOSE int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return do_fcntl(fd, cmd, arg);
}

GREEN_INTERPOSE int ioctl(int fd, unsigned long request, ...)
{
    va_list ap;
    va_start(ap, request);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    TABLE(green_ioctl(fd, request, arg), GREEN_REAL(ioctl)(fd, request, arg));
}

GREEN_INTERPOSE int setsockopt(int fd, int level, int name, const void *val,
                               socklen_t len)
{
    TABLE(green_setsockopt(fd, level, name, val, len),
          GREEN_REAL(setsockopt)(fd, level, name, val, len));
}
