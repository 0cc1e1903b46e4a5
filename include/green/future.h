/* SPDX-License-Identifier: MIT */
/* Future: a result that arrives later (gevent AsyncResult, asyncio
 * Future). Someone completes it once, with a value, an error code, or a
 * cancellation; any number of greenlets wait for it; callbacks run when it
 * completes. Greenlets of any OS thread may complete, wait for and add
 * callbacks to the same future, and a plain thread may complete it.
 *
 * Tasks are awaitable the same way: see green_task_wait() and
 * green_task_get() in green/task.h, and green_link() for callbacks. */
#ifndef GREEN_FUTURE_H
#define GREEN_FUTURE_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_future green_future_t;

/* Called once when the future completes. */
typedef void (*green_future_cb_t)(green_future_t *f, void *userdata);

/* Makes a pending future. Returns 0 and *out, -EINVAL, -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_future_new(green_future_t **out);

/* Frees f and its pending callbacks: a waiter whose wait returned may
 * free it at once, even while another thread's completion has not
 * returned, unless f has done-callbacks (they run after the waiters are
 * woken). Returns 0, -EINVAL, -EBUSY (greenlets wait on it).
 * Switching: never switches. */
GREEN_EXTERN int green_future_free(green_future_t *f);

/* Completes f with a value / an error (err < 0) / as cancelled: waiters
 * wake, then callbacks run, in the order they were added, in the calling
 * thread. Returns 0, or -EINVAL (NULL, err >= 0, or f already complete: a
 * future completes once; of two racing completions exactly one returns
 * 0), -ENOMEM (the calling thread's green state could not be made).
 * Switching: never switches (unless a callback does). */
GREEN_EXTERN int green_future_set_result(green_future_t *f, void *value);
GREEN_EXTERN int green_future_set_error(green_future_t *f, int err);
GREEN_EXTERN int green_future_cancel(green_future_t *f);

/* Waits until f is complete, at most timeout seconds. Returns 0 once it
 * is (whatever the outcome), or -EINVAL, -ETIMEDOUT, -ECANCELED (the
 * caller was killed), -EDEADLK (judged only while no other OS thread
 * could complete f), -ENOMEM. Switching: may switch. */
GREEN_EXTERN int green_future_wait(green_future_t *f, double timeout);

/* Waits like green_future_wait(), then returns 0 with the value in *value
 * (value may be NULL), or f's error (-ECANCELED if it was cancelled).
 * Test green_future_done() to tell an error of f's from a failed wait.
 * Switching: may switch. */
GREEN_EXTERN int green_future_get(green_future_t *f, double timeout,
                                  void **value);

/* Whether f is complete / complete as cancelled (false for NULL).
 * Switching: never switches. */
GREEN_EXTERN bool green_future_done(const green_future_t *f);
GREEN_EXTERN bool green_future_cancelled(const green_future_t *f);
/* 0 unless complete with an error (-ECANCELED when cancelled).
 * Switching: never switches. */
GREEN_EXTERN int green_future_error(const green_future_t *f);
/* The value, or NULL unless complete with one. Switching: never
 * switches. */
GREEN_EXTERN void *green_future_result(const green_future_t *f);

/* Calls cb(f, userdata) when f completes (in the thread that completes
 * it), or at once if it has (the way asyncio's add_done_callback with
 * functools.partial passes extra data). Callbacks should not block.
 * Returns 0, -EINVAL, -ENOMEM.
 * Switching: never switches (unless cb does). */
GREEN_EXTERN int green_future_add_done_callback(green_future_t *f,
                                                green_future_cb_t cb,
                                                void *userdata);

/* Removes every pending (cb, userdata) callback; returns how many.
 * Switching: never switches. */
GREEN_EXTERN int green_future_remove_done_callback(green_future_t *f,
                                                   green_future_cb_t cb,
                                                   void *userdata);

#ifdef __cplusplus
}
#endif

#endif
