/* SPDX-License-Identifier: MIT */
/* The syscall() interposer. Programs and libraries that make system calls
 * through libc's syscall() bypass every other interposer: C++20's
 * std::atomic::wait and notify (and so counting_semaphore, latch and
 * barrier), Rust's Mutex, Condvar and Once, MariaDB's own locks all wait
 * with syscall(SYS_futex, ...). Here
 *  - SYS_futex goes to lib/futex.c (the futex operations for green
 *    threads, on the parking lot; its opening comment says how waits,
 *    wakes and the kernel's own waiters and wakers meet) when the thread
 *    family is patched; a wait parks only when the caller may go green;
 *  - a blocking system call the preload knows as a function (read,
 *    write, accept4, poll, nanosleep, wait4, flock, openat, fsync, ...;
 *    execve, which restores file flags first, whatever the thread) made
 *    by a thread for which that
 *    function goes green goes to that function, so it does what the
 *    function does under the preload;
 *  - everything else, and every call from a thread that is not green,
 *    passes to libc's syscall() untouched. */
#include "preload.h"
#include "gthread.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/file.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "futex.h"

/* libc's convention for a negative errno. */
static long fail(int e)
{
    errno = e;
    return -1;
}

/* --- syscall() ----------------------------------------------------------- */

/* The kernel's sigset_t, which the raw calls take the size of. */
#define KSIGSET (_NSIG / 8)

/* Whether fd is a stream that may wait (socket, pipe, FIFO, tty): a
 * regular file never does. Allocators read /proc files through syscall()
 * precisely to stay out of every interposer while they initialise; those
 * reads stay raw. */
static bool may_wait(long fd)
{
    struct stat st;
    return fstat((int)fd, &st) == 0 &&
           (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode) ||
            S_ISCHR(st.st_mode));
}

/* A blocking system call the preload knows as a function, made by a
 * thread for which that function goes green: made through the function
 * (this library's interposer), with libc's return convention, as
 * syscall() has. *handled is false for the rest, which stay raw: calls
 * that cannot wait, and every call from a thread that is not green. */
static long as_function(long n, long a, long b, long c, long d, long e,
                        long f, bool *handled)
{
    *handled = true;
    switch (n) {
    case SYS_gettid:
        return green__gettid(); /* preload/tid.c */
    case SYS_tgkill:
    case SYS_tkill: {
        long r = n == SYS_tgkill ? green__tgkill((pid_t)a, (pid_t)b, (int)c, true)
                                 : green__tgkill(0, (pid_t)a, (int)b, false);
        if (r < 0) {
            errno = (int)-r;
            return -1;
        }
        return r;
    }
    case SYS_read:
    case SYS_write:
    case SYS_readv:
    case SYS_writev:
    case SYS_pread64:
    case SYS_pwrite64:
        if (!green__go_green(GREEN_PATCH_SOCKET) || !may_wait(a)) {
            break;
        }
        switch (n) {
        case SYS_read: return read((int)a, (void *)b, (size_t)c);
        case SYS_write: return write((int)a, (const void *)b, (size_t)c);
        case SYS_readv:
            return readv((int)a, (const struct iovec *)b, (int)c);
        case SYS_writev:
            return writev((int)a, (const struct iovec *)b, (int)c);
        case SYS_pread64:
            return pread((int)a, (void *)b, (size_t)c, (off_t)d);
        default:
            return pwrite((int)a, (const void *)b, (size_t)c, (off_t)d);
        }
    case SYS_recvfrom:
    case SYS_sendto:
    case SYS_recvmsg:
    case SYS_sendmsg:
    case SYS_accept:
    case SYS_accept4:
    case SYS_connect:
        if (!green__go_green(GREEN_PATCH_SOCKET)) {
            break;
        }
        switch (n) {
        case SYS_recvfrom:
            return recvfrom((int)a, (void *)b, (size_t)c, (int)d,
                            (struct sockaddr *)e, (socklen_t *)f);
        case SYS_sendto:
            return sendto((int)a, (const void *)b, (size_t)c, (int)d,
                          (const struct sockaddr *)e, (socklen_t)f);
        case SYS_recvmsg: return recvmsg((int)a, (struct msghdr *)b, (int)c);
        case SYS_sendmsg:
            return sendmsg((int)a, (const struct msghdr *)b, (int)c);
        case SYS_accept:
            return accept((int)a, (struct sockaddr *)b, (socklen_t *)c);
        case SYS_accept4:
            return accept4((int)a, (struct sockaddr *)b, (socklen_t *)c,
                           (int)d);
        default:
            return connect((int)a, (const struct sockaddr *)b,
                           (socklen_t)c);
        }
    case SYS_ppoll:
        if (!green__go_green(GREEN_PATCH_SELECT) ||
            ((size_t)e != KSIGSET && d != 0)) {
            break;
        }
        return ppoll((struct pollfd *)a, (nfds_t)b,
                     (const struct timespec *)c, (const sigset_t *)d);
    case SYS_pselect6: {
        const struct { const sigset_t *ss; size_t len; } *m = (void *)f;
        if (!green__go_green(GREEN_PATCH_SELECT) ||
            (m != NULL && m->ss != NULL && m->len != KSIGSET)) {
            break;
        }
        return pselect((int)a, (fd_set *)b, (fd_set *)c, (fd_set *)d,
                       (const struct timespec *)e, m ? m->ss : NULL);
    }
    case SYS_epoll_pwait:
        if (!green__go_green(GREEN_PATCH_SELECT) ||
            ((size_t)f != KSIGSET && e != 0)) {
            break;
        }
        return epoll_pwait((int)a, (struct epoll_event *)b, (int)c, (int)d,
                           (const sigset_t *)e);
#ifdef SYS_poll
    case SYS_poll:
        if (!green__go_green(GREEN_PATCH_SELECT)) {
            break;
        }
        return poll((struct pollfd *)a, (nfds_t)b, (int)c);
#endif
#ifdef SYS_select
    case SYS_select:
        if (!green__go_green(GREEN_PATCH_SELECT)) {
            break;
        }
        return select((int)a, (fd_set *)b, (fd_set *)c, (fd_set *)d,
                      (struct timeval *)e);
#endif
#ifdef SYS_epoll_wait
    case SYS_epoll_wait:
        if (!green__go_green(GREEN_PATCH_SELECT)) {
            break;
        }
        return epoll_wait((int)a, (struct epoll_event *)b, (int)c, (int)d);
#endif
    case SYS_nanosleep:
        if (!green__go_green(GREEN_PATCH_TIME)) {
            break;
        }
        return nanosleep((const struct timespec *)a, (struct timespec *)b);
    case SYS_clock_nanosleep: {
        if (!green__go_green(GREEN_PATCH_TIME)) {
            break;
        }
        int r = clock_nanosleep((clockid_t)a, (int)b,
                                (const struct timespec *)c,
                                (struct timespec *)d);
        return r == 0 ? 0 : fail(r);
    }
    case SYS_sched_yield:
        if (!green__go_green(GREEN_PATCH_TIME)) {
            break;
        }
        return sched_yield();
    case SYS_fsync:
        if (!green__go_green(GREEN_PATCH_SOCKET)) {
            break;
        }
        return fsync((int)a);
    case SYS_fdatasync:
        if (!green__go_green(GREEN_PATCH_SOCKET)) {
            break;
        }
        return fdatasync((int)a);
    case SYS_flock:
        if (!green__go_green(GREEN_PATCH_OS)) {
            break;
        }
        return flock((int)a, (int)b);
    case SYS_fcntl:
        if ((b != F_SETLKW && b != F_OFD_SETLKW) ||
            !green__go_green(GREEN_PATCH_OS)) {
            break;
        }
        return fcntl((int)a, (int)b, (void *)c);
    case SYS_openat:
        if (!green__go_green(GREEN_PATCH_OS)) {
            break;
        }
        return openat((int)a, (const char *)b, (int)c, (mode_t)d);
#ifdef SYS_open
    case SYS_open:
        if (!green__go_green(GREEN_PATCH_OS)) {
            break;
        }
        return open((const char *)a, (int)b, (mode_t)c);
#endif
    case SYS_execve:
        return execve((const char *)a, (char *const *)b, (char *const *)c);
    case SYS_wait4:
        if (!green__go_green(GREEN_PATCH_OS)) {
            break;
        }
        return wait4((pid_t)a, (int *)b, (int)c, (struct rusage *)d);
    case SYS_waitid:
        if (!green__go_green(GREEN_PATCH_OS) || e != 0) {
            break; /* the raw call's rusage, which waitid() lacks */
        }
        return waitid((idtype_t)a, (id_t)b, (siginfo_t *)c, (int)d);
    default:
        break;
    }
    *handled = false;
    return 0;
}

GREEN_INTERPOSE long syscall(long n, ...)
{
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_futex) {
        if (!green__patch_on(GREEN_PATCH_THREAD)) {
            return GREEN_REAL(syscall)(n, a, b, c, d, e, f);
        }
        return green__ret(green__futex((uint32_t *)a, (int)b, c,
                                       (const void *)d, (uint32_t *)e, f,
                                       green__go_green(GREEN_PATCH_THREAD)));
    }
    bool handled;
    long r = as_function(n, a, b, c, d, e, f, &handled);
    return handled ? r : GREEN_REAL(syscall)(n, a, b, c, d, e, f);
}
