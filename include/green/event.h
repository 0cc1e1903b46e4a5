/* SPDX-License-Identifier: MIT */
/* Event: a flag greenlets can wait for (gevent.event.Event,
 * asyncio.Event). Setting it wakes every waiter; it stays set until
 * cleared. Greenlets of any OS thread may share an event: a set on one
 * thread wakes the waiters parked on every other thread's hub. */
#ifndef GREEN_EVENT_H
#define GREEN_EVENT_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_event green_event_t;

/* Makes an event, clear. Returns 0 and *out, or -EINVAL (out NULL),
 * -ENOMEM. Switching: never switches. */
GREEN_EXTERN int green_event_new(green_event_t **out);

/* Frees e; a waiter whose wait returned may free it at once, even while
 * the set of another OS thread that woke it has not returned. Returns 0,
 * or -EINVAL (NULL), -EBUSY (greenlets wait on it). Switching: never
 * switches. */
GREEN_EXTERN int green_event_free(green_event_t *e);

/* Sets e and wakes every waiter (in the order they began waiting).
 * Returns 0, -EINVAL, -ENOMEM. Any OS thread, also one that made no
 * green call before. Switching: never switches. */
GREEN_EXTERN int green_event_set(green_event_t *e);

/* Clears e. Returns 0, -EINVAL, -ENOMEM. Switching: never switches. */
GREEN_EXTERN int green_event_clear(green_event_t *e);

/* Whether e is set (false for NULL). Switching: never switches. */
GREEN_EXTERN bool green_event_is_set(const green_event_t *e);

/* Waits until e is set, at most timeout seconds (returns at once if it
 * is). Returns 0, or -EINVAL, -EPERM (in the hub itself), -ETIMEDOUT,
 * -ECANCELED (the caller was killed), -EDEADLK (nothing could ever set
 * it: judged only while the process has no OS threads besides the
 * caller's and libgreen's own), -ENOMEM. Switching: may switch. */
GREEN_EXTERN int green_event_wait(green_event_t *e, double timeout);

#ifdef __cplusplus
}
#endif

#endif
