/* SPDX-License-Identifier: MIT */
/* Timeout scopes, the C form of gevent.Timeout and asyncio.timeout(): a
 * deadline for everything a greenlet blocks on between start and cancel.
 *
 *     green_timeout_start(2.0);
 *     r = fetch_everything();          // any wait inside, at any depth,
 *                                      // fails with -ETIMEDOUT after 2 s
 *     if (green_timeout_cancel() == -ETIMEDOUT) ... // it expired
 *
 * Scopes nest; the nearest deadline wins (an inner scope cannot extend an
 * outer one). They belong to the greenlet that opened them. */
#ifndef GREEN_TIMEOUT_H
#define GREEN_TIMEOUT_H

#include <stdbool.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Opens a scope ending `seconds` from now (GREEN_FOREVER: no deadline of
 * its own). Returns 0, -EINVAL (negative or NaN), -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_timeout_start(double seconds);

/* Closes the innermost scope of the calling greenlet. Returns 0 if its
 * deadline had not passed, -ETIMEDOUT if it had, -ENOENT if no scope is
 * open. Switching: never switches. */
GREEN_EXTERN int green_timeout_cancel(void);

/* Whether the innermost open scope's deadline has passed.
 * Switching: never switches. */
GREEN_EXTERN bool green_timeout_expired(void);

/* Runs fn(arg) on the calling greenlet inside a scope of `seconds`.
 * Returns 0 (with fn's return value in *result, which may be NULL) if the
 * scope had not expired when fn returned, else -ETIMEDOUT (fn's return
 * value is still stored); -EINVAL (fn NULL, bad seconds), -ENOMEM.
 * Switching: whatever fn does. */
GREEN_EXTERN int green_with_timeout(double seconds, green_fn_t fn, void *arg,
                                    void **result);

#ifdef __cplusplus
}
#endif

#endif
