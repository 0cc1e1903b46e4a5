/* SPDX-License-Identifier: MIT */
/* Resolves the real libc functions (see real.h). */
#include "real.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "log.h"

struct green__real green__real;

/* Not inlined into its callers and not a tail call: dlsym(RTLD_NEXT)
 * looks up from the object its *caller* is in, and a sibling call would
 * make that some other object (libco's crash at load). */
__attribute__((noinline, optimize("no-optimize-sibling-calls"))) static void *
lookup(const char *name, const char *version)
{
    void *p = NULL;
#ifdef GREEN__TSAN
    /* TSan's interceptors carry no versions: a versioned lookup would go
     * past them to libc, and TSan would not see a condition wait give its
     * mutex up. The default version is the one they wrap. */
    (void)version;
#else
    if (version != NULL) {
        p = dlvsym(RTLD_NEXT, name, version);
    }
#endif
    if (p == NULL) {
        p = dlsym(RTLD_NEXT, name);
    }
    if (p == NULL) {
        /* Formatted by hand: the log's raw path makes no libc call that
         * could be the one missing. */
        char msg[128] = "cannot find the real ";
        size_t n = strlen(msg), len = strlen(name);
        if (len > sizeof(msg) - n) {
            len = sizeof(msg) - n;
        }
        memcpy(msg + n, name, len);
        green__log_raw(GREEN_LOG_ERROR, msg, n + len);
        abort();
    }
    return p;
}

__attribute__((constructor(101))) void green__real_init(void)
{
    struct green__real r;
#define REAL_FN(name) r.name = (__typeof__(r.name))lookup(#name, NULL);
#define REAL_VFN(name, version)                                          \
    r.name = (__typeof__(r.name))lookup(#name, version);
#include "real.def"
#undef REAL_FN
#undef REAL_VFN
    /* Published member by member: each is a whole pointer, and every
     * value is the same whoever resolves it first. */
#define REAL_FN(name)                                                     \
    __atomic_store_n(&green__real.name, r.name, __ATOMIC_RELEASE);
#define REAL_VFN(name, version) REAL_FN(name)
#include "real.def"
#undef REAL_FN
#undef REAL_VFN
}
