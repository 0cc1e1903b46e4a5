/* SPDX-License-Identifier: MIT */
/* Tasks: greenlets scheduled by the hub, the C counterpart of gevent.spawn
 * and asyncio tasks.
 *
 * A task runs fn(arg) on its own greenlet when the calling greenlet next
 * blocks or yields. Blocking calls (green_sleep, green_join, and everything
 * else in libgreen that waits) park the calling greenlet on its OS thread's
 * hub and run whatever is ready; the hub, a libev loop in its own greenlet,
 * is created on first use.
 *
 * Outcome. A task ends in one of three ways: fn returns (GREEN_TASK_DONE,
 * with fn's return value as the result), fn returns green_fail(err)
 * (GREEN_TASK_FAILED, with err as the error), or it is killed
 * (GREEN_TASK_CANCELLED, error -ECANCELED).
 *
 * Cancellation is libdill's: green_kill(t) makes every blocking call in t,
 * the one it is in now and every later one, fail with -ECANCELED. The task
 * then runs its own cleanup and returns. A task killed before it started
 * never runs. (A call whose wait has already been satisfied, the task
 * woken but not yet resumed, completes normally: the first event wins, as
 * in gevent; the next blocking call fails.)
 *
 * Ownership. green_spawn() hands the caller a handle that stays valid,
 * whatever the task does, until the caller gives it back with
 * green_task_release(). Releasing a running task detaches it: it runs on and
 * frees itself when it ends. Passing NULL for the handle spawns detached.
 *
 * Other OS threads. A task runs on the hub of the thread that spawned it,
 * its home. A greenlet of any other OS thread may join it, wait for it,
 * read its outcome, link to it, kill it and release the handle; a plain
 * thread may kill and release. A kill or a release from another thread is
 * done by the home's hub at its next turn (green_kill() has returned 0 by
 * then, unless the task had already ended), so the home must be running
 * its hub for it to happen; a callback linked from another thread runs on
 * the home thread, before that thread's joiners wake. Waits across
 * threads are not part of the cycle check, and the home's hub does not
 * know that another thread may kill one of its tasks: a home whose every
 * greenlet waits for its own tasks only (green_run(), a join) with no fd
 * or timer left reports a deadlock. A handle must be released before its
 * home thread ends, and no other thread may still be waiting for it then.
 * green_run() counts the home's tasks only. A task that
 * has not started when another thread's kill arrives starts then and ends
 * at once, cancelled, so its callbacks run on its own greenlet.
 * The gather family (green/gather.h) takes tasks of any thread; a pool
 * (green/pool.h) belongs to the thread that made it (-EPERM).
 *
 * Timeouts are seconds (see GREEN_FOREVER in green/common.h). */
#ifndef GREEN_TASK_H
#define GREEN_TASK_H

#include <stddef.h>

#include "common.h"
#include "greenlet.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_task green_task_t;

/* A task body. Its return value is the task's result. */
typedef void *(*green_fn_t)(void *arg);

typedef enum {
    GREEN_TASK_PENDING = 0, /* spawned, has not run yet */
    GREEN_TASK_RUNNING,     /* started (running, ready or blocked) */
    GREEN_TASK_DONE,        /* fn returned a value */
    GREEN_TASK_FAILED,      /* fn returned green_fail(err), or no stack */
    GREEN_TASK_CANCELLED    /* killed */
} green_task_status_t;

/* Optional settings for green_spawn_ex(). Zero-initialise and set what you
 * need. */
typedef struct {
    const char *name;  /* for diagnostics; copied */
    size_t stack_size; /* 0: the default (see greenlet_new) */
    int hub;           /* where it runs (green/hubs.h): GREEN_HUB_SELF (0,
                          the caller's hub), GREEN_HUB_ANY, or a started
                          hub's number, 1 to green_hubs_count() - 1 */
} green_spawn_opts_t;

/* Spawns fn(arg) as a task on the calling thread's hub.
 * Returns 0 and stores the handle in *out (out NULL: detached), or
 * -EINVAL (fn NULL), -ENOMEM.
 * If no stack can be had when the task first runs, it ends FAILED with
 * -ENOMEM without running fn.
 * Switching: never switches; the task runs at the next block or yield. */
GREEN_EXTERN int green_spawn(green_task_t **out, green_fn_t fn, void *arg);

/* green_spawn() with options (opts may be NULL). Also -EINVAL if the stack
 * size is over 1 GiB or hub names no hub. A task spawned on another hub
 * starts when that hub's thread reads the spawn; green_run() of the
 * caller's thread does not wait for it. Switching: never switches. */
GREEN_EXTERN int green_spawn_ex(green_task_t **out, green_fn_t fn, void *arg,
                                const green_spawn_opts_t *opts);

/* Spawns fn(arg) to start after the given number of seconds.
 * Returns like green_spawn(); also -EINVAL for a negative or NaN delay.
 * Switching: never switches. */
GREEN_EXTERN int green_spawn_later(green_task_t **out, double seconds,
                                   green_fn_t fn, void *arg);

/* Waits until t has ended, at most timeout seconds.
 * Returns 0 once t has ended, whatever its outcome, storing its result in
 * *result (result may be NULL; the result is NULL unless t is DONE); read
 * the outcome with green_task_status() / green_task_error(). A task can be
 * joined once. Otherwise a negative errno, t unchanged: -EINVAL (t NULL,
 * detached, already joined, or being joined by another caller now, as
 * pthread_join; bad timeout), -EDEADLK (t is the calling task,
 * or nothing could ever end t: also at once when this wait would close a
 * cycle, t waiting, itself or through others, in a join or for a lock the
 * caller holds; the cycle is logged as a warning), -ETIMEDOUT (still
 * running at the deadline), -ECANCELED (the caller was killed), -ENOMEM
 * (the hub could not be created). t may belong to another OS thread.
 * Switching: may switch. */
GREEN_EXTERN int green_join(green_task_t *t, double timeout, void **result);

/* Waits until every task in tasks[0..n) has ended, at most timeout seconds.
 * Does not count as joining them. Returns 0, or -EINVAL (tasks NULL with
 * n > 0, a NULL or detached entry, bad timeout), -EDEADLK, -ETIMEDOUT,
 * -ECANCELED as green_join() does; the tasks may be of any OS threads.
 * Switching: may switch. */
GREEN_EXTERN int green_joinall(green_task_t *const *tasks, size_t n,
                               double timeout);

/* Waits until t has ended, like green_future_wait(): returns 0 once it
 * has, or the errors of green_join(); does not count as joining, so it can
 * be repeated. Switching: may switch. */
GREEN_EXTERN int green_task_wait(green_task_t *t, double timeout);

/* Waits like green_task_wait(), then returns 0 with t's result in *value
 * (value may be NULL), or t's error (-ECANCELED if it was killed), like
 * green_future_get(). Switching: may switch. */
GREEN_EXTERN int green_task_get(green_task_t *t, double timeout, void **value);

/* Parks the caller for seconds. 0 yields: every greenlet that is ready runs
 * before the caller continues. GREEN_FOREVER sleeps until killed.
 * Returns 0, or -EINVAL (negative or NaN), -ECANCELED (killed),
 * -EDEADLK (GREEN_FOREVER in the root greenlet with nothing left that
 * could ever run), -ENOMEM (the hub could not be created).
 * Switching: may switch: always, unless it fails at once, except that a
 * sleep of 0 with nothing else ready may return without switching. */
GREEN_EXTERN int green_sleep(double seconds);

/* Cancels t (see the top of this file). Returns 0, or -EINVAL (t NULL),
 * -ESRCH (t has already ended). From another OS thread the home's hub
 * cancels it at its next turn (see the top of this file).
 * Switching: never switches (unless a green_link() callback does: a task
 * that never started ends here, and its callbacks run at once); join t
 * to wait for its cleanup. */
GREEN_EXTERN int green_kill(green_task_t *t);

/* A callback run once when t ends. */
typedef void (*green_link_fn_t)(green_task_t *t, void *userdata);

/* Calls fn(t, userdata) when t ends, or at once if it already has.
 * Callbacks run in the order they were linked, on the greenlet that ended
 * the task (the task itself, or the killer of a task that never started),
 * before joiners wake; they should not block. One linked from another OS
 * thread runs on t's thread, or at once in the caller if t has ended.
 * Returns 0, -EINVAL (t or fn NULL), -ENOMEM.
 * Switching: never switches (unless fn does). */
GREEN_EXTERN int green_link(green_task_t *t, green_link_fn_t fn,
                            void *userdata);

/* Runs the hub until every task of the calling OS thread has ended, like
 * asyncio.run() or gevent.wait(). Returns 0, or -EDEADLK (tasks remain but
 * nothing could ever wake them; a report naming them goes to stderr, or
 * when called from a task, which would wait for itself), -ECANCELED.
 * Switching: may switch. */
GREEN_EXTERN int green_run(void);

/* Ends the calling task as FAILED with err: use as `return green_fail(err);`
 * in a task body. err must be negative (a positive err is negated; 0 becomes
 * -EINVAL). Outside a task it only returns NULL. Returns NULL.
 * Switching: never switches. */
GREEN_EXTERN void *green_fail(int err);

/* The task the calling greenlet runs, or NULL (root or plain greenlet).
 * Switching: never switches. */
GREEN_EXTERN green_task_t *green_current(void);

/* Where t is in its life (PENDING for NULL). Switching: never switches. */
GREEN_EXTERN green_task_status_t green_task_status(const green_task_t *t);

/* 0 while running or when DONE; the error once FAILED or CANCELLED.
 * Switching: never switches. */
GREEN_EXTERN int green_task_error(const green_task_t *t);

/* fn's return value once DONE, else NULL. Switching: never switches. */
GREEN_EXTERN void *green_task_result(const green_task_t *t);

/* Whether t has ended (DONE, FAILED or CANCELLED).
 * Switching: never switches. */
GREEN_EXTERN bool green_task_done(const green_task_t *t);

/* The greenlet a task runs on: for greenlet_name/id and diagnostics only;
 * never switch to it or free it. Switching: never switches. */
GREEN_EXTERN greenlet_t *green_task_greenlet(green_task_t *t);

/* Names t for diagnostics. Returns 0, -EINVAL, -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_task_set_name(green_task_t *t, const char *name);

/* Gives the handle back (see Ownership above). NULL is ignored. After this
 * call the handle must not be used. Switching: never switches. */
GREEN_EXTERN void green_task_release(green_task_t *t);

/* A short string for a status ("pending", "running", "done", ...).
 * Switching: never switches. */
GREEN_EXTERN const char *green_task_status_name(green_task_status_t s);

#ifdef __cplusplus
}
#endif

#endif
