/* SPDX-License-Identifier: MIT */
/* The real libc functions behind the ones libgreen interposes.
 *
 * libgreen.so exports read, write, pthread_create, ... (preload/). Every
 * call to one of those from inside the library, and from libev and
 * c-ares through the callbacks libgreen gives them, must reach libc
 * instead of coming back to the interposer: code in lib/ calls
 * GREEN_REAL(read)(fd, buf, n), never read(fd, buf, n).
 *
 * The pointers are resolved once, by a constructor, with
 * dlsym(RTLD_NEXT) (dlvsym where glibc versions a symbol). A call that
 * comes before that (from another library's constructor) resolves the
 * table on the spot.
 *
 * In a fault-injection test build (GREEN_FAULT_INJECTION, lib/fault.h)
 * GREEN_REAL asks lib/fault.c which function to call, so that any of
 * these calls can be made to fail; in every other build it is the load,
 * test and indirect call below and nothing more. */
#ifndef GREEN_REAL_H
#define GREEN_REAL_H

#include <dlfcn.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <grp.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>
/* _FORTIFY_SOURCE's open forms (preload/flock.c), declared by glibc only
 * inside its fortify headers. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
#include "stdio_real.h"

struct green__real {
#define REAL_FN(name) __typeof__(name) *name;
#define REAL_VFN(name, version) __typeof__(name) *name;
#include "real.def"
#undef REAL_FN
#undef REAL_VFN
};

extern struct green__real green__real;

/* Fills green__real. Safe to call again; aborts with a message if libc
 * lacks one of the functions. */
void green__real_init(void);

#ifndef GREEN_FAULT_INJECTION
#define GREEN_REAL(name)                                                  \
    (*(__builtin_expect(green__real.name != NULL, 1)                      \
           ? green__real.name                                             \
           : (green__real_init(), green__real.name)))
#else
/* Fault-injection test builds (meson -Dfault_injection=true, lib/fault.h):
 * the real function, or while faults are on a wrapper of the same type
 * that may make this call fail. */
#include "fault.h"
#define GREEN_REAL(name)                                                  \
    (*(__typeof__(green__real.name))green__fault_real(                    \
        GREEN__RID_##name,                                                \
        (green__fault_fn)(__builtin_expect(green__real.name != NULL, 1)   \
                              ? green__real.name                          \
                              : (green__real_init(), green__real.name))))
#endif

#endif
