/* SPDX-License-Identifier: MIT */
/* The monkey patch, asked for by the program.
 *
 * Preloaded (LD_PRELOAD=libgreen.so, green-run), libgreen patches every
 * family, or those GREEN_PATCH names. Linked into a program (-lgreen), it
 * patches nothing until the program calls green_patch() or GREEN_PATCH is
 * set: libc's functions stay libc's, for the program and every library it
 * uses, as `import gevent` patches nothing until monkey.patch_all(). */
#ifndef GREEN_PATCH_H
#define GREEN_PATCH_H

#include "green/common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The families, gevent's patch_all() keywords. */
enum {
    GREEN_PATCH_SOCKET = 1,  /* fd I/O on sockets, pipes, FIFOs, ttys; the
                                socket calls */
    GREEN_PATCH_SELECT = 2,  /* poll, select, epoll_wait */
    GREEN_PATCH_TIME = 4,    /* sleep, nanosleep, sched_yield */
    GREEN_PATCH_THREAD = 8,  /* pthreads and semaphores */
    GREEN_PATCH_DNS = 16,    /* getaddrinfo and friends, through c-ares */
    GREEN_PATCH_SIGNAL = 32, /* handlers on a sigaltstack; EINTR */
    GREEN_PATCH_OS = 64,     /* fork */
    GREEN_PATCH_ALL = 127
};

/* Patches the families a list names, in GREEN_PATCH's syntax: words
 * separated by commas or spaces, each a family, "all" or "none", and
 * each but "none" optionally prefixed with "-" (leave out) or "+"; a list
 * that starts with a removal starts from "all" ("-thread" is "all,-thread").
 * Patching only adds: a family patched stays patched.
 *
 * Threads the program made before green_patch("thread") stay the OS
 * threads they are; the ones it makes afterwards are green.
 *
 * Returns 0, -EINVAL (an unknown word: nothing is changed), -EBUSY (the
 * list adds "thread" while more than one hub runs, green/hubs.h: nothing
 * is changed) or -ENOSYS (a build without the interposers, such as
 * libgreen.a). Never switches. */
GREEN_EXTERN int green_patch(const char *families);

/* The families patched now (GREEN_PATCH_* bits). Never switches. */
GREEN_EXTERN unsigned green_patched(void);

#ifdef __cplusplus
}
#endif

#endif
