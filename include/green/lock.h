/* SPDX-License-Identifier: MIT */
/* Semaphores, locks and condition variables for greenlets (gevent.lock,
 * asyncio.Semaphore/Lock/Condition, Python's threading.RLock).
 *
 * All are fair: a release hands the semaphore or lock straight to the
 * greenlet that has waited longest, so nobody can overtake a waiter.
 *
 * Any OS thread may use them: greenlets of different threads' hubs share
 * one object, a waiter parks on its own hub and a release on another
 * thread wakes it there; a plain thread may release a semaphore. -EPERM
 * is only what it says below (a lock the caller does not hold, a wait in
 * the hub itself). A wait is judged deadlocked (-EDEADLK) only while the
 * process has no OS threads besides the caller's and libgreen's own. */
#ifndef GREEN_LOCK_H
#define GREEN_LOCK_H

#include <stdbool.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- Semaphore and BoundedSemaphore -------------------------------------- */

typedef struct green_sem green_sem_t;

/* Makes a semaphore with `value` permits. A bounded one refuses a release
 * that would take it past its initial value (Python's BoundedSemaphore).
 * Returns 0 and *out, -EINVAL (out NULL), -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_sem_new(green_sem_t **out, unsigned value);
GREEN_EXTERN int green_sem_new_bounded(green_sem_t **out, unsigned value);

/* Frees s; a waiter whose acquire returned may free it at once, even
 * while the release of another OS thread that woke it has not returned
 * (as glibc's sem_destroy allows). Returns 0, -EINVAL, -EBUSY (greenlets
 * wait on it). Switching: never switches. */
GREEN_EXTERN int green_sem_free(green_sem_t *s);

/* Takes a permit, waiting at most timeout seconds. Returns 0, -EINVAL,
 * -EPERM (in the hub itself), -ETIMEDOUT, -ECANCELED, -EDEADLK, -ENOMEM.
 * Switching: may switch. */
GREEN_EXTERN int green_sem_acquire(green_sem_t *s, double timeout);

/* Takes a permit if one is free now and nobody waits: 0 or -EAGAIN.
 * Switching: never switches. */
GREEN_EXTERN int green_sem_try_acquire(green_sem_t *s);

/* Gives a permit back (to the first waiter, if any, on whichever OS
 * thread it waits). Returns 0, -EINVAL, -EOVERFLOW (bounded, and already
 * at its initial value; or at UINT_MAX), -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_sem_release(green_sem_t *s);

/* Free permits now. Switching: never switches. */
GREEN_EXTERN unsigned green_sem_value(const green_sem_t *s);

/* --- Lock and RLock -------------------------------------------------------- */

typedef struct green_lock green_lock_t;

/* Makes a lock, or a reentrant lock that its owner may take again (and
 * must release as often). Returns 0, -EINVAL, -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_lock_new(green_lock_t **out);
GREEN_EXTERN int green_rlock_new(green_lock_t **out);

/* Frees l. Returns 0, -EINVAL, -EBUSY (held, or waited on).
 * Switching: never switches. */
GREEN_EXTERN int green_lock_free(green_lock_t *l);

/* Takes l, waiting at most timeout seconds. Returns 0, or -EINVAL,
 * -EPERM, -EDEADLK (a plain lock the caller already holds, or nothing
 * could ever release it: also at once when the wait would close a cycle,
 * the owner waiting, itself or through others, for a lock the caller
 * holds or in a join of the caller; the cycle is logged as a warning),
 * -ETIMEDOUT, -ECANCELED.
 * Switching: may switch. */
GREEN_EXTERN int green_lock_acquire(green_lock_t *l, double timeout);

/* Takes l if that needs no wait: 0 or -EBUSY (or -EDEADLK as above;
 * -EOVERFLOW for a reentrant lock already taken UINT_MAX times).
 * Switching: never switches. */
GREEN_EXTERN int green_lock_try_acquire(green_lock_t *l);

/* Releases l (once, for a reentrant lock). Returns 0, -EINVAL, -EPERM
 * (the caller does not hold it). Switching: never switches. */
GREEN_EXTERN int green_lock_release(green_lock_t *l);

/* Whether l is held by anyone. Switching: never switches. */
GREEN_EXTERN bool green_lock_locked(const green_lock_t *l);

/* --- Condition ------------------------------------------------------------- */

typedef struct green_cond green_cond_t;

/* Makes a condition variable over lock (NULL: it makes its own reentrant
 * lock, reachable with green_cond_lock()). Returns 0, -EINVAL, -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_cond_new(green_cond_t **out, green_lock_t *lock);

/* Frees c (and its own lock, if it made one). Returns 0, -EINVAL,
 * -EBUSY (greenlets wait on it). Switching: never switches. */
GREEN_EXTERN int green_cond_free(green_cond_t *c);

/* The lock of c. Switching: never switches. */
GREEN_EXTERN green_lock_t *green_cond_lock(green_cond_t *c);

/* With c's lock held: releases it (all levels of a reentrant lock), waits
 * for a notify at most timeout seconds, and takes the lock back before
 * returning, whatever the outcome (even when cancelled or timed out).
 * Returns 0 (notified), -EINVAL, -EPERM (lock not held by the caller),
 * -ETIMEDOUT, -ECANCELED, or -EDEADLK (nothing could ever notify it, or
 * ever release the lock again: only then does it return without the
 * lock). Switching: may switch. */
GREEN_EXTERN int green_cond_wait(green_cond_t *c, double timeout);

/* With c's lock held: wakes up to n waiters / every waiter, in the order
 * they began waiting. Returns how many were woken, or -EINVAL, -EPERM.
 * Switching: never switches. */
GREEN_EXTERN int green_cond_notify(green_cond_t *c, unsigned n);
GREEN_EXTERN int green_cond_notify_all(green_cond_t *c);

#ifdef __cplusplus
}
#endif

#endif
