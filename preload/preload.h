/* SPDX-License-Identifier: MIT */
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
#include "patch.h"
#include "real.h"

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

/* Exported, so that it replaces libc's. The preload is compiled with
 * hidden visibility (meson.build), so every interposer must carry this,
 * and nothing else of the preload is exported. */
#define GREEN_INTERPOSE __attribute__((visibility("default")))

#endif
