/* SPDX-License-Identifier: MIT */
/* Waiting on many tasks at once: gather, wait and as_completed, the C
 * forms of asyncio.gather(return_exceptions=True), asyncio.wait and
 * asyncio.as_completed. None of them joins or releases the tasks: the
 * caller still owns every handle (and must not release one while a call
 * here or an as_completed iterator uses it). The tasks may be on any OS
 * thread's hub (green/hubs.h), mixed; a fail-fast gather kills another
 * thread's tasks through their home, and waits for their cleanup. An
 * as_completed iterator is used on the OS thread that made it. */
#ifndef GREEN_GATHER_H
#define GREEN_GATHER_H

#include <stddef.h>

#include "common.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What became of one task. */
typedef struct {
    green_task_status_t status; /* DONE, FAILED, CANCELLED; or PENDING /
                                   RUNNING for a task that had not ended */
    int error;                  /* 0, or the task's error */
    void *value;                /* the result when DONE, else NULL */
} green_outcome_t;

/* Fills *out with t's outcome (as it is now). Switching: never switches. */
GREEN_EXTERN void green_outcome_of(green_task_t *t, green_outcome_t *out);

/* green_gather() flags. */
#define GREEN_GATHER_FAIL_FAST 1 /* at the first task that fails or is
                                    cancelled, kill the rest, wait for
                                    their cleanup, return its error */

/* Waits for tasks[0..n), at most timeout seconds, and stores each outcome
 * in out[i] (argument order, not finishing order).
 * Returns 0 when every task ended (each slot says how: a value or an
 * error, like return_exceptions=True); -ETIMEDOUT (slots of tasks still
 * running say RUNNING or PENDING); with GREEN_GATHER_FAIL_FAST, the error
 * of the first task to fail; or -EINVAL, -ECANCELED, -EDEADLK,
 * -ENOMEM. Switching: may switch. */
GREEN_EXTERN int green_gather(green_task_t *const *tasks, size_t n,
                              double timeout, int flags,
                              green_outcome_t *out);

/* Runs fn(args[i]) for every i as n tasks and gathers them as above; the
 * tasks are released before it returns (on timeout they are killed first
 * and their cleanup waited for). Switching: may switch. */
GREEN_EXTERN int green_gather_run(green_fn_t fn, void *const *args, size_t n,
                                  double timeout, int flags,
                                  green_outcome_t *out);

typedef enum {
    GREEN_FIRST_COMPLETED, /* as soon as any task ends */
    GREEN_FIRST_ERROR,     /* as soon as any fails or is cancelled, else
                              when all have ended (FIRST_EXCEPTION) */
    GREEN_ALL_COMPLETED    /* when all have ended */
} green_wait_when_t;

/* Waits, at most timeout seconds, until `when` holds for tasks[0..n),
 * then splits them into done[0..*ndone) and pending[0..*npending) in
 * argument order (either array may be NULL if not wanted; each needs room
 * for n). Returns 0 when the condition was met, -ETIMEDOUT when the
 * timeout came first (the split is still made), or -EINVAL,
 * -ECANCELED, -EDEADLK, -ENOMEM. Switching: may switch. */
GREEN_EXTERN int green_wait(green_task_t *const *tasks, size_t n,
                            double timeout, green_wait_when_t when,
                            green_task_t **done, size_t *ndone,
                            green_task_t **pending, size_t *npending);

/* An iterator over tasks in the order they end. */
typedef struct green_as_completed green_as_completed_t;

/* Starts iterating over tasks[0..n) with an overall deadline of timeout
 * seconds from now. Tasks that have already ended come first, in argument
 * order. Returns 0, -EINVAL, -ENOMEM. Switching: never switches, except
 * when it fails after linking to another thread's task that was ending
 * (as green_as_completed_free). */
GREEN_EXTERN int green_as_completed_new(green_as_completed_t **out,
                                        green_task_t *const *tasks, size_t n,
                                        double timeout);

/* Stores the next task to end in *task. Returns 0, -ENOENT (every task
 * has been returned), -ETIMEDOUT (the overall deadline passed first; later
 * calls may still return tasks that ended meanwhile), -ECANCELED,
 * -EDEADLK, -EPERM (it was made on another OS thread). Switching: may
 * switch. */
GREEN_EXTERN int green_as_completed_next(green_as_completed_t *it,
                                         green_task_t **task);

/* Frees the iterator (the tasks are untouched). Switching: may switch
 * briefly, shielded from kills and timeouts, to let another thread's
 * task that is ending finish telling the iterator (the gather family's
 * calls wait so too before they return). */
GREEN_EXTERN void green_as_completed_free(green_as_completed_t *it);

#ifdef __cplusplus
}
#endif

#endif
