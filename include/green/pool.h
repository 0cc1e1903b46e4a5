/* SPDX-License-Identifier: MIT */
/* Pools and groups of tasks (gevent.pool.Pool and Group).
 *
 * A pool runs at most `size` tasks at once: spawning into a full pool
 * waits for a slot, first come, first served. A group is a pool without a
 * limit, for spawning many tasks and then joining or killing them all.
 * Killing a pool is a structured shutdown: every member is cancelled and
 * the call returns once all of them have finished their cleanup.
 *
 * A pool tracks its members until they end, whether or not the spawner
 * kept their handles. It belongs to the OS thread that made it. */
#ifndef GREEN_POOL_H
#define GREEN_POOL_H

#include <stddef.h>

#include "common.h"
#include "gather.h"
#include "task.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_pool green_pool_t;

/* Makes a pool of `size` slots (0: no limit, same as a group).
 * Returns 0 and *out, -EINVAL (out NULL), -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_pool_new(green_pool_t **out, size_t size);
GREEN_EXTERN int green_group_new(green_pool_t **out);

/* Frees p. Returns 0, -EINVAL, -EPERM, -EBUSY (members still running or
 * spawners waiting: join or kill it first). Switching: never switches. */
GREEN_EXTERN int green_pool_free(green_pool_t *p);

/* Spawns fn(arg) in p, first waiting for a free slot. *out gets the
 * handle as green_spawn() gives it (out NULL: detached).
 * Returns 0, or -EINVAL, -EPERM, -ECANCELED (the caller was killed while
 * waiting), -EDEADLK, -ENOMEM. Switching: may switch (only while full). */
GREEN_EXTERN int green_pool_spawn(green_pool_t *p, green_task_t **out,
                                  green_fn_t fn, void *arg);

/* Waits until p has no members, at most timeout seconds. Returns 0,
 * -EINVAL, -EPERM, -ETIMEDOUT, -ECANCELED, -EDEADLK. Switching: may
 * switch. */
GREEN_EXTERN int green_pool_join(green_pool_t *p, double timeout);

/* Kills every member, then waits like green_pool_join() for all of them to
 * finish their cleanup. Switching: may switch. */
GREEN_EXTERN int green_pool_kill(green_pool_t *p, double timeout);

/* Members running (started or queued) now. Switching: never switches. */
GREEN_EXTERN size_t green_pool_running(const green_pool_t *p);

/* Free slots now (SIZE_MAX for a group). Switching: never switches. */
GREEN_EXTERN size_t green_pool_free_slots(const green_pool_t *p);

/* Runs fn(args[i]) for every i through p (so at most `size` at once),
 * waits for all and stores the outcomes in out[i], in argument order.
 * Returns 0, or -EINVAL, -EPERM, -ECANCELED, -EDEADLK, -ENOMEM (tasks
 * already spawned are killed and waited for). Switching: may switch. */
GREEN_EXTERN int green_pool_map(green_pool_t *p, green_fn_t fn,
                                void *const *args, size_t n,
                                green_outcome_t *out);

/* imap_unordered: fn(args[i]) through p, results as they finish. */
typedef struct green_pool_iter green_pool_iter_t;

/* Starts feeding args[0..n) into p (from a task of the iterator's own).
 * Returns 0 and *out, -EINVAL, -EPERM, -ENOMEM. Switching: never. */
GREEN_EXTERN int green_pool_imap_unordered(green_pool_t *p, green_fn_t fn,
                                           void *const *args, size_t n,
                                           green_pool_iter_t **out);

/* Waits for the next call to finish: 0 with its argument index in *index
 * and its outcome in *out, -ENOENT when all n have been returned, or
 * -ECANCELED, -EDEADLK, -EINVAL. Switching: may switch. */
GREEN_EXTERN int green_pool_iter_next(green_pool_iter_t *it, size_t *index,
                                      green_outcome_t *out);

/* Stops the iteration: calls not yet finished are killed and waited for.
 * Switching: may switch. */
GREEN_EXTERN void green_pool_iter_free(green_pool_iter_t *it);

#ifdef __cplusplus
}
#endif

#endif
