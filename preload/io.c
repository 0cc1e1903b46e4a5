/* SPDX-License-Identifier: MIT */
/* The fd I/O interposers: read, write and their vector, positioned and
 * socket variants, plus the fortified __*_chk forms that programs built
 * with _FORTIFY_SOURCE call instead. Each goes green (the same code as
 * the API's green_* call) when green__go_green(GREEN_PATCH_SOCKET) says
 * so, and straight to libc otherwise. */
#include "preload.h"

#include "cancel.h"
#include "green/io.h"

/* The interposer's body: the cooperative call, or the real one. */
#define IO(green_call, real_call)                                         \
    return green__go_green(GREEN_PATCH_SOCKET)                            \
               ? green__ret(GREEN__CANCELLABLE(long, green_call))         \
               : (real_call)

GREEN_INTERPOSE ssize_t read(int fd, void *buf, size_t n)
{
    IO(green_read(fd, buf, n), GREEN_REAL(read)(fd, buf, n));
}

GREEN_INTERPOSE ssize_t write(int fd, const void *buf, size_t n)
{
    IO(green_write(fd, buf, n), GREEN_REAL(write)(fd, buf, n));
}

GREEN_INTERPOSE ssize_t readv(int fd, const struct iovec *iov, int n)
{
    IO(green_readv(fd, iov, n), GREEN_REAL(readv)(fd, iov, n));
}

GREEN_INTERPOSE ssize_t writev(int fd, const struct iovec *iov, int n)
{
    IO(green_writev(fd, iov, n), GREEN_REAL(writev)(fd, iov, n));
}

GREEN_INTERPOSE ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    IO(green_pread(fd, buf, n, off), GREEN_REAL(pread)(fd, buf, n, off));
}

GREEN_INTERPOSE ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    IO(green_pwrite(fd, buf, n, off), GREEN_REAL(pwrite)(fd, buf, n, off));
}

/* On LP64 off_t is off64_t, and glibc's pread64 is the same function. */
GREEN_INTERPOSE ssize_t pread64(int fd, void *buf, size_t n, off_t off)
{
    return pread(fd, buf, n, off);
}

GREEN_INTERPOSE ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite(fd, buf, n, off);
}

GREEN_INTERPOSE ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    IO(green_recv(fd, buf, n, flags), GREEN_REAL(recv)(fd, buf, n, flags));
}

GREEN_INTERPOSE ssize_t recvfrom(int fd, void *restrict buf, size_t n,
                                 int flags, struct sockaddr *restrict addr,
                                 socklen_t *restrict len)
{
    IO(green_recvfrom(fd, buf, n, flags, addr, len),
       GREEN_REAL(recvfrom)(fd, buf, n, flags, addr, len));
}

GREEN_INTERPOSE ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    IO(green_recvmsg(fd, msg, flags), GREEN_REAL(recvmsg)(fd, msg, flags));
}

GREEN_INTERPOSE ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    IO(green_send(fd, buf, n, flags), GREEN_REAL(send)(fd, buf, n, flags));
}

GREEN_INTERPOSE ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                               const struct sockaddr *addr, socklen_t len)
{
    IO(green_sendto(fd, buf, n, flags, addr, len),
       GREEN_REAL(sendto)(fd, buf, n, flags, addr, len));
}

GREEN_INTERPOSE ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    IO(green_sendmsg(fd, msg, flags), GREEN_REAL(sendmsg)(fd, msg, flags));
}

/* --- _FORTIFY_SOURCE ------------------------------------------------------ */

/* glibc's report of a buffer overflow caught by a __*_chk function. */
extern _Noreturn void __chk_fail(void);

/* glibc declares these only inside its fortify inlines. */
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *restrict buf, size_t n, size_t buflen,
                       int flags, struct sockaddr *restrict addr,
                       socklen_t *restrict len);

GREEN_INTERPOSE ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (n > buflen) {
        __chk_fail();
    }
    return read(fd, buf, n);
}

GREEN_INTERPOSE ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off,
                                    size_t buflen)
{
    if (n > buflen) {
        __chk_fail();
    }
    return pread(fd, buf, n, off);
}

GREEN_INTERPOSE ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off,
                                      size_t buflen)
{
    return __pread_chk(fd, buf, n, off, buflen);
}

GREEN_INTERPOSE ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen,
                                   int flags)
{
    if (n > buflen) {
        __chk_fail();
    }
    return recv(fd, buf, n, flags);
}

GREEN_INTERPOSE ssize_t __recvfrom_chk(int fd, void *restrict buf, size_t n,
                                       size_t buflen, int flags,
                                       struct sockaddr *restrict addr,
                                       socklen_t *restrict len)
{
    if (n > buflen) {
        __chk_fail();
    }
    return recvfrom(fd, buf, n, flags, addr, len);
}
