/* What every interposer in preload/ shares: which families are patched,
 * the pass-through test, and the one place errno is set.
 *
 * An interposer is a thin wrapper: it decides between the real function
 * and the cooperative one in lib/, calls it, and turns a negative errno
 * into -1 and errno. It holds no policy of its own. */
#ifndef GREEN_PRELOAD_H
#define GREEN_PRELOAD_H

#include <errno.h>
#include <stdbool.h>

#include "internal.h"
#include "real.h"

/* The families GREEN_PATCH chooses from (gevent's patch_all keywords). */
enum green__patch {
    GREEN_PATCH_SOCKET = 1, /* fd I/O: sockets, pipes, ttys; socket calls */
    GREEN_PATCH_SELECT = 2, /* poll, select, epoll_wait */
    GREEN_PATCH_TIME = 4,   /* sleep, nanosleep, sched_yield */
    GREEN_PATCH_THREAD = 8, /* pthreads and semaphores */
    GREEN_PATCH_DNS = 16,   /* getaddrinfo and friends through c-ares */
    GREEN_PATCH_SIGNAL = 32,/* handlers on a sigaltstack; EINTR */
    GREEN_PATCH_OS = 64,    /* fork */
    GREEN_PATCH_ALL = 127
};

/* The patched families, from GREEN_PATCH (read once, at load). */
extern unsigned green__patched;

/* GREEN_DEBUG: 0 (quiet) or more. */
extern int green__debug;

/* Reads GREEN_PATCH and GREEN_DEBUG if not done yet (the constructor
 * does it; an interposer called earlier, from another library's
 * constructor, does it first). */
void green__preload_init(void);

static inline bool green__patch_on(unsigned family)
{
    return (green__patched & family) != 0;
}

/* Whether a blocking call of `family` made now should go green: the
 * family is patched, the thread has touched the runtime (spawned a green
 * thread, waited on something green), and the caller is not the hub
 * itself (libev's own calls reach libc). A thread that never touched the
 * runtime has nothing else to run while it waits, so it blocks in the
 * kernel, as the program would without the preload. */
static inline bool green__go_green(unsigned family)
{
    struct green__thread *t = green__thread_peek();
    return green__patch_on(family) && t != NULL && t->current != t->hub;
}

/* The libc return convention from lib/'s: r >= 0 passes, a negative
 * errno becomes -1 with errno set. The last step of an interposer. */
static inline long green__ret(long r)
{
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

/* Exported, so that it replaces libc's. */
#define GREEN_INTERPOSE __attribute__((visibility("default")))

#endif
