/* Resolves the real libc functions (see real.h). */
#include "real.h"

#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "internal.h"

struct green__real green__real;

/* Not inlined into its callers and not a tail call: dlsym(RTLD_NEXT)
 * looks up from the object its *caller* is in, and a sibling call would
 * make that some other object (libco's crash at load). */
__attribute__((noinline, optimize("no-optimize-sibling-calls"))) static void *
lookup(const char *name, const char *version)
{
    void *p = NULL;
    if (version != NULL) {
        p = dlvsym(RTLD_NEXT, name, version);
    }
    if (p == NULL) {
        p = dlsym(RTLD_NEXT, name);
    }
    if (p == NULL) {
        static const char msg[] = "libgreen: cannot find the real ";
        /* write(2) itself may be what is missing: the raw system call. */
        syscall(SYS_write, 2, msg, sizeof(msg) - 1);
        syscall(SYS_write, 2, name, strlen(name));
        syscall(SYS_write, 2, "\n", 1);
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
