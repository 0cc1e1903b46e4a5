/* SPDX-License-Identifier: MIT */
/* The patch boundary: which families are patched (green/patch.h).
 *
 * The mask starts "unread" (every bit set) and is settled by the first
 * interposed call that asks, whoever makes it and however early: from a
 * constructor of another library, from inside an allocator, before
 * libgreen's own constructor. Its bits are only ever added to, so a
 * family that reads as patched stays patched. */
#ifndef GREEN_PATCH_INTERNAL_H
#define GREEN_PATCH_INTERNAL_H

#include <stdbool.h>

#include "green/patch.h"

#define GREEN__PATCH_UNREAD (~0u)

/* The patched families; GREEN__PATCH_UNREAD until settled. */
extern unsigned green__patched;

/* Settles the mask if it is unread (GREEN_PATCH, or all when preloaded
 * and none when linked) and returns it. */
unsigned green__patch_settle(void);

/* Whether libgreen was loaded by LD_PRELOAD (or /etc/ld.so.preload), not
 * as a dependency of the program. */
bool green__preloaded(void);

/* Whether `family` is patched. For a family that is not, this is the
 * same load and test as before the boundary existed. */
static inline bool green__patch_on(unsigned family)
{
    unsigned m = __atomic_load_n(&green__patched, __ATOMIC_RELAXED);
    if (__builtin_expect((m & family) == 0, 1)) {
        return false;
    }
    if (__builtin_expect(m == GREEN__PATCH_UNREAD, 0)) {
        m = green__patch_settle();
    }
    return (m & family) != 0;
}

/* Whether the calling OS thread runs the green pthreads: the one that
 * turned the thread family on (the main thread when preloaded or when
 * GREEN_PATCH names it at start; otherwise the caller of green_patch).
 * Every other OS thread, such as those the program made before the patch
 * and what they make, keeps libc's pthreads. One byte of TLS, cached. */
extern __thread signed char green__here
    __attribute__((tls_model("initial-exec")));
bool green__pthreads_here_slow(void);

static inline bool green__pthreads_here(void)
{
    signed char c = green__here;
    return __builtin_expect(c != 0, 1) ? c > 0 : green__pthreads_here_slow();
}

/* fork: in the child, the calling thread keeps what it was (`here`,
 * read before the fork), under its new thread id. */
void green__pthreads_after_fork(bool here);

/* Whether addr is code of a sanitizer runtime (libasan, libtsan,
 * libclang_rt.*...), which keeps per-OS-thread records of its own.
 * dladdr: for rare calls only. */
bool green__sanitizer_code(const void *addr);

/* Defined by the interposers (preload/): whether this build has them. */
extern const char green__interposers[] __attribute__((weak));

#endif
