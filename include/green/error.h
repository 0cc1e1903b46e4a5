/* SPDX-License-Identifier: MIT */
/* Error codes as text: what a negative return value means, and its name.
 *
 * Every libgreen call that can fail returns 0 or a negative number, as
 * libuv's do: either a negative errno (-EINVAL, -ETIMEDOUT, -ECANCELED,
 * ...), or, from the resolver (green/dns.h), GREEN_EAI(EAI_x), a range of
 * its own below every errno. These two functions take either kind:
 *
 *     err                     green_strerror(err)          green_err_name(err)
 *     -EINVAL                 "Invalid argument"           "EINVAL"
 *     -ETIMEDOUT              "Connection timed out"       "ETIMEDOUT"
 *     GREEN_EAI(EAI_NONAME)   "Name or service not known"  "EAI_NONAME"
 *     0                       "Success"                    "0"
 *     anything else           "unknown error"              "UNKNOWN"
 *
 * The texts of errno values are glibc's (strerrordesc_np: untranslated,
 * the same as strerror() gives in the C locale), their names glibc's too
 * (strerrorname_np), so aliases get the one name glibc prints:
 * -EWOULDBLOCK is "EAGAIN", -ENOTSUP "EOPNOTSUPP", -EDEADLOCK "EDEADLK".
 * The resolver's texts are gai_strerror()'s (which, unlike the errno
 * texts, follow the locale's translations once a program has called
 * setlocale), except where glibc has none (EAI_OVERFLOW); their names
 * are the EAI_* macros' own.
 *
 * 0 is "Success", as strerror(0) says, and its name "0", as glibc's
 * strerrorname_np(0) says: no errno macro is 0.
 *
 * Unknown codes. Positive numbers are unknown: libgreen never returns a
 * positive error, so a positive value is a caller's sign slip, which these
 * functions show rather than quietly mend. So are negative numbers that
 * are neither an errno glibc names nor a resolver error. For every one of
 * them the answer is the same fixed string, "unknown error" and
 * "UNKNOWN" (libuv's UV_UNKNOWN spells them so): the number is not in it,
 * so print the number beside it if it matters.
 *
 * Every string returned is static and constant: it stays valid for the
 * life of the process, no later call (in any thread) changes it, and it is
 * never to be freed. Both functions are thread-safe and never switch. */
#ifndef GREEN_ERROR_H
#define GREEN_ERROR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The message for err: a negative errno, a resolver error
 * GREEN_EAI(EAI_x), or 0 ("Success"); "unknown error" for anything else.
 * Never NULL; a static string. Never switches. */
GREEN_EXTERN const char *green_strerror(int err);

/* The symbolic name of err: "EINVAL" for -EINVAL, "EAI_NONAME" for
 * GREEN_EAI(EAI_NONAME), "0" for 0, "UNKNOWN" for anything else. Never
 * NULL; a static string. Never switches. */
GREEN_EXTERN const char *green_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif
