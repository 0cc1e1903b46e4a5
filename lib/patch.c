/* SPDX-License-Identifier: MIT */
/* The patch boundary (see patch.h and green/patch.h).
 *
 * How libgreen was loaded decides the default. The dynamic loader keeps no
 * flag for "preloaded", so the test is the one it applies itself: an
 * object is preloaded when a name in LD_PRELOAD (spaces or colons between
 * names) or in /etc/ld.so.preload loaded it. The names are compared by
 * their last path component with the name the loader opened us by
 * (dladdr), which is the entry's own name for a bare entry ("libgreen.so")
 * and the same file for a path. Nothing here allocates: it runs inside
 * other libraries' allocators and constructors. */
#include "patch.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "green/hubs.h"
#include "internal.h"
#include "log.h"
#include "monitor.h"
#include "patchspec.h"
#include "rawsys.h"

unsigned green__patched = GREEN__PATCH_UNREAD;

/* The thread id of the OS thread that runs green pthreads, 0 for none
 * yet; and each thread's cached answer (1 yes, -1 no, 0 not asked). */
static pid_t pthreads_tid;
__thread signed char green__here __attribute__((tls_model("initial-exec")));

bool green__pthreads_here_slow(void)
{
    if (GREEN__UNLIKELY((uintptr_t)green__tls_thread & GREEN__AWAY_BIT)) {
        green__handoff_rejoin(); /* away (lib/handoff.c): back first */
        return true;
    }
    struct green__thread *t = green__tls_thread;
    if (t != NULL && t->host != NULL) {
        /* a hub that may have changed OS threads: green pthreads run
         * wherever it does */
        return true;
    }
    pid_t want = __atomic_load_n(&pthreads_tid, __ATOMIC_ACQUIRE);
    if (want == 0) {
        return false; /* not settled: asked again next time */
    }
    green__here = (pid_t)green__syscall(SYS_gettid) == want ? 1 : -1;
    return green__here > 0;
}

/* Makes the calling thread the one for green pthreads, if none is yet. */
static void claim_pthreads(pid_t tid)
{
    pid_t none = 0;
    __atomic_compare_exchange_n(&pthreads_tid, &none, tid, false,
                                __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

void green__pthreads_after_fork(bool here)
{
    pid_t tid = (pid_t)green__syscall(SYS_gettid);
    __atomic_store_n(&pthreads_tid, here ? tid : 0, __ATOMIC_RELEASE);
    green__here = here ? 1 : -1;
}

static const char *base_name(const char *path, size_t len, size_t *blen)
{
    const char *b = path;
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '/') {
            b = path + i + 1;
        }
    }
    *blen = len - (size_t)(b - path);
    return b;
}

/* Whether the list (names separated by any of seps) names `self`. */
static bool list_names(const char *list, size_t len, const char *seps,
                       const char *self, size_t selflen)
{
    size_t i = 0;
    while (i < len) {
        size_t n = 0;
        while (i + n < len && strchr(seps, list[i + n]) == NULL) {
            n++;
        }
        size_t bl;
        const char *b = base_name(list + i, n, &bl);
        if (n != 0 && bl == selflen && memcmp(b, self, bl) == 0) {
            return true;
        }
        i += n + 1;
    }
    return false;
}

/* /etc/ld.so.preload, read with raw system calls into a fixed buffer. */
static bool system_preload_names(const char *self, size_t selflen)
{
    char buf[4096];
    long fd = green__syscall(SYS_openat, AT_FDCWD, "/etc/ld.so.preload",
                            O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return false;
    }
    long n = green__syscall(SYS_read, (int)fd, buf, sizeof(buf));
    green__syscall(SYS_close, (int)fd);
    return n > 0 && list_names(buf, (size_t)n, " \t\n:", self, selflen);
}

bool green__preloaded(void)
{
    static int cached = -1;
    int c = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (c >= 0) {
        return c != 0;
    }
    Dl_info info;
    bool yes = false;
    if (dladdr((void *)&green__patched, &info) != 0 &&
        info.dli_fname != NULL) {
        size_t selflen;
        const char *self =
            base_name(info.dli_fname, strlen(info.dli_fname), &selflen);
        const char *env = green__getenv("LD_PRELOAD");
        yes = (env != NULL &&
               list_names(env, strlen(env), " :", self, selflen)) ||
              system_preload_names(self, selflen);
    }
    __atomic_store_n(&cached, yes, __ATOMIC_RELAXED);
    return yes;
}

bool green__sanitizer_code(const void *addr)
{
    static const char *const names[] = {"libasan", "libtsan", "liblsan",
                                        "libubsan", "libhwasan", "libmsan",
                                        "libclang_rt."};
    Dl_info info;
    if (dladdr(addr, &info) == 0 || info.dli_fname == NULL) {
        return false;
    }
    size_t n;
    const char *b = base_name(info.dli_fname, strlen(info.dli_fname), &n);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strncmp(b, names[i], strlen(names[i])) == 0) {
            return true;
        }
    }
    return false;
}

unsigned green__patch_settle(void)
{
    unsigned m = __atomic_load_n(&green__patched, __ATOMIC_ACQUIRE);
    if (m != GREEN__PATCH_UNREAD) {
        return m;
    }
    bool pre = green__interposers != NULL && green__preloaded();
    unsigned bits = pre ? GREEN_PATCH_ALL : 0;
    const char *spec = green__getenv("GREEN_PATCH");
    if (spec != NULL && green__interposers != NULL) {
        char bad[64];
        unsigned want;
        if (green__patch_parse(spec, &want, bad, sizeof(bad)) == 0) {
            bits = want;
        } else {
            char expected[160];
            snprintf(expected, sizeof(expected),
                     "families from: %s (each but none may have a - "
                     "before it)%s%s%s",
                     green__patch_words, bad[0] ? "; '" : "", bad,
                     bad[0] ? "' is not one" : "");
            green__env_invalid("GREEN_PATCH", spec, expected,
                               pre ? "all" : "none");
        }
    }
    /* At start, green pthreads run on the main thread, whichever thread
     * settles (before main, that is the main thread anyway). */
    if (bits & GREEN_PATCH_THREAD) {
        claim_pthreads(getpid());
    }
    /* Whoever settles first wins; everyone returns the same mask. */
    unsigned expect = GREEN__PATCH_UNREAD;
    if (!__atomic_compare_exchange_n(&green__patched, &expect, bits, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        return expect;
    }
    return bits;
}

int green_patch(const char *families)
{
    unsigned bits;
    char bad[64];
    if (families == NULL ||
        green__patch_parse(families, &bits, bad, sizeof(bad)) != 0) {
        return -EINVAL;
    }
    if (green__interposers == NULL) {
        return -ENOSYS;
    }
    unsigned had = green__patch_settle();
    if ((bits & GREEN_PATCH_THREAD) && !(had & GREEN_PATCH_THREAD) &&
        green_hubs_count() > 1) {
        return -EBUSY; /* green/hubs.h: not with hubs running */
    }
    if (bits & GREEN_PATCH_THREAD) {
        claim_pthreads((pid_t)green__syscall(SYS_gettid));
    }
    __atomic_fetch_or(&green__patched, bits, __ATOMIC_ACQ_REL);
    green__monitor_repatched();
    return 0;
}

unsigned green_patched(void)
{
    return green__patch_settle();
}
