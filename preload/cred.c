/* SPDX-License-Identifier: MIT */
/* Credentials: setuid, setgid, seteuid, setegid, setreuid, setregid,
 * setresuid, setresgid and setgroups. glibc's own, run on the calling OS
 * thread's own descriptor (lib/tls.h, green__tls_own_enter): glibc's
 * broadcast to every other thread finds itself by THREAD_SELF, and a
 * green pthread's descriptor (or main's, on a spare after a hand-off) is
 * not the OS thread's. Before this, a green pthread's setgid signalled
 * its own OS thread for ever. errno is the caller's. */
#include "preload.h"

#include "tls.h"

#include <errno.h>
#include <grp.h>
#include <unistd.h>

#define ON_OWN(call)                                                         \
    do {                                                                     \
        void *prev_ = green__tls_own_enter();                                \
        int r_ = (call);                                                     \
        int e_ = errno;                                                      \
        green__tls_own_leave(prev_);                                         \
        errno = e_;                                                          \
        return r_;                                                           \
    } while (0)

GREEN_INTERPOSE int setuid(uid_t uid)
{
    ON_OWN(GREEN_REAL(setuid)(uid));
}

GREEN_INTERPOSE int setgid(gid_t gid)
{
    ON_OWN(GREEN_REAL(setgid)(gid));
}

GREEN_INTERPOSE int seteuid(uid_t uid)
{
    ON_OWN(GREEN_REAL(seteuid)(uid));
}

GREEN_INTERPOSE int setegid(gid_t gid)
{
    ON_OWN(GREEN_REAL(setegid)(gid));
}

GREEN_INTERPOSE int setreuid(uid_t r, uid_t e)
{
    ON_OWN(GREEN_REAL(setreuid)(r, e));
}

GREEN_INTERPOSE int setregid(gid_t r, gid_t e)
{
    ON_OWN(GREEN_REAL(setregid)(r, e));
}

GREEN_INTERPOSE int setresuid(uid_t r, uid_t e, uid_t s)
{
    ON_OWN(GREEN_REAL(setresuid)(r, e, s));
}

GREEN_INTERPOSE int setresgid(gid_t r, gid_t e, gid_t s)
{
    ON_OWN(GREEN_REAL(setresgid)(r, e, s));
}

GREEN_INTERPOSE int setgroups(size_t n, const gid_t *list)
{
    ON_OWN(GREEN_REAL(setgroups)(n, list));
}
