/* SPDX-License-Identifier: MIT */
/* The GREEN_* environment variables, read with one set of rules.
 *
 * Unset: the default, silently. Set to anything that is not a valid value
 * (the empty string included): one warning line naming the variable, the
 * value, what was expected and the default used, and then the default.
 * Each variable is read once, by the module it configures, on first use. */
#ifndef GREEN_CONFIG_H
#define GREEN_CONFIG_H

#include <stddef.h>

/* getenv(name), also before libc has set environ up (an interposed call
 * from a sanitizer's preinit function comes that early): then the
 * variable is read from /proc/self/environ, the environment the process
 * started with. Never allocates through malloc. */
const char *green__getenv(const char *name);

/* Reports an invalid value in the common form:
 * "NAME=VALUE: expected EXPECTED; using DEFAULT". */
void green__env_invalid(const char *name, const char *value,
                        const char *expected, const char *dflt);

/* A decimal integer in [min, max] from name, or dflt (unset or invalid;
 * invalid is reported with `expected`). */
long green__env_long(const char *name, long min, long max, long dflt,
                     const char *expected);

/* A byte count with an optional k, m or g suffix (powers of 1024), in
 * [min, max], from name; or dflt, as green__env_long. */
size_t green__env_size(const char *name, size_t min, size_t max,
                       size_t dflt, const char *expected);

/* The signal s names as kill(1) takes it: a number (12), a name with or
 * without SIG, in either case (USR2, SIGUSR2, usr2), or a real-time one
 * counted from either end (RTMIN, RTMIN+3, SIGRTMAX-1). 0 if s names no
 * signal of this system (1 to SIGRTMAX). */
int green__signal_parse(const char *s);

/* A signal from name, parsed as green__signal_parse does, that ok(sig)
 * accepts (NULL: any); 0 if unset, or invalid (reported with `expected`,
 * the default being no signal). */
int green__env_signal(const char *name, int (*ok)(int sig),
                      const char *expected);

#endif
