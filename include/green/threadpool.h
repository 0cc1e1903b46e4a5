/* SPDX-License-Identifier: MIT */
/* The worker pool: a few real OS threads for what cannot be made
 * non-blocking (gevent's threadpool.spawn(...).get(), asyncio's
 * to_thread). The calling greenlet waits; its OS thread's other
 * greenlets run meanwhile.
 *
 * The pool is one per process, GREEN_THREADPOOL_SIZE threads at most for
 * ordinary work (default 4, as libuv's); threads are made when work
 * comes and none is idle, and end after a few seconds without work. A
 * full pool queues work, first come first served; it never drops any.
 * The preload runs its own blocking calls there too (a read of a file
 * that is not in the page cache, fsync, file-lock waits). */
#ifndef GREEN_THREADPOOL_H
#define GREEN_THREADPOOL_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs fn(arg) on one of the pool's OS threads and waits for it, at most
 * timeout seconds (GREEN_FOREVER for no limit). fn runs on another OS
 * thread: it must not touch the caller's greenlets, tasks or sync objects
 * (they belong to the caller's thread), and it may block as it likes.
 *
 * Returns 0 with fn's return value in *result (result may be NULL), or:
 * -ETIMEDOUT, -ECANCELED (the caller was killed): if fn had not started,
 * it never will (work is cancellable while queued); if it had, it runs to
 * its end and its value is dropped. -EINVAL (fn NULL, a bad timeout),
 * -ENOMEM, -EAGAIN (no OS thread could be made and none is there),
 * -EPERM (called from the hub). Switching: may switch. */
GREEN_EXTERN int green_threadpool_run(void *(*fn)(void *), void *arg,
                                      double timeout, void **result);

/* The most OS threads the pool runs ordinary work on
 * (GREEN_THREADPOOL_SIZE, read on first use; default 4).
 * Switching: never switches. */
GREEN_EXTERN int green_threadpool_size(void);

#ifdef __cplusplus
}
#endif

#endif
