/* SPDX-License-Identifier: MIT */
/* The greenlet core: stackful coroutines switched explicitly, with values
 * passed both ways, the way Python's greenlet module works.
 *
 * Every greenlet belongs to the OS thread that created it. Each thread has a
 * root greenlet (the thread's own stack), made on first use. A greenlet runs
 * run(arg) on its own stack, where arg is the value of the first switch into
 * it; when run returns, its return value is switched to its parent (the
 * nearest ancestor that is not dead). The stack is allocated on the first
 * switch into the greenlet and given back the moment it dies.
 *
 * Errors are negative errno values; nothing here sets errno. errno itself is
 * saved and restored per greenlet on every switch. */
#ifndef GREEN_GREENLET_H
#define GREEN_GREENLET_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct greenlet greenlet_t;

/* The body of a greenlet. Its return value goes to the parent. */
typedef void *(*greenlet_run_t)(void *arg);

/* Creates a greenlet that will call run(value of the first switch into it).
 *
 * parent NULL means the calling greenlet. stack_size 0 means the default
 * (GREEN_STACK_SIZE in the environment, else 128 KiB); other sizes are
 * rounded up to whole pages, with a minimum of 16 KiB. Below each stack
 * lies a 16 KiB guard: an overflow aborts with a report naming the
 * greenlet, but a single frame larger than the guard can jump over it
 * (compile such code with -fstack-clash-protection).
 * Returns 0 and stores the greenlet in *out, or a negative errno:
 * -EINVAL (out or run is NULL, or stack_size over 1 GiB), -EPERM (parent
 * belongs to another OS thread), -ENOMEM.
 * Ownership: the caller owns *out until greenlet_free().
 * Switching: never switches. */
GREEN_EXTERN int greenlet_new(greenlet_t **out, greenlet_run_t run,
                              greenlet_t *parent, size_t stack_size);

/* Suspends the calling greenlet and resumes g, handing it value: g's own
 * pending greenlet_switch() returns with value, or g starts with run(value).
 *
 * Returns 0 once something switches back, with the value it passed in
 * *result (result may be NULL); or the error that greenlet_throw() raised
 * here; or, without switching, a negative errno: -EINVAL (g is NULL),
 * -ESRCH (g is dead), -EPERM (g belongs to another OS thread), -EBUSY (g is
 * parked on the hub: only the hub may resume it), -ENOMEM (g's stack could
 * not be allocated on its first switch; g is left unstarted).
 * Switching to the calling greenlet itself returns 0 and value at once.
 * Switching: switches (that is the point). */
GREEN_EXTERN int greenlet_switch(greenlet_t *g, void *value, void **result);

/* The C form of greenlet.throw(): resumes g so that its pending
 * greenlet_switch() returns err (a negative errno of the caller's choosing)
 * instead of a value. If g has not started, it never will: it is marked
 * dead and this call returns err at once, without switching.
 *
 * Returns like greenlet_switch(); -EINVAL also when err is not negative.
 * Switching: switches, unless g had not started. */
GREEN_EXTERN int greenlet_throw(greenlet_t *g, int err, void **result);

/* The running greenlet of the calling OS thread (its root greenlet if none
 * was switched to). NULL only if the thread's state cannot be allocated.
 * Switching: never switches. */
GREEN_EXTERN greenlet_t *greenlet_current(void);

/* The parent of g (NULL for a root greenlet or a NULL g).
 * Switching: never switches. */
GREEN_EXTERN greenlet_t *greenlet_parent(const greenlet_t *g);

/* Makes parent the parent of g.
 * Returns 0, or -EINVAL (NULL argument, g is a root, or the change would
 * make a cycle), -EPERM (different OS threads).
 * Switching: never switches. */
GREEN_EXTERN int greenlet_set_parent(greenlet_t *g, greenlet_t *parent);

/* True once g has been switched to (a root is always started).
 * Switching: never switches. */
GREEN_EXTERN bool greenlet_started(const greenlet_t *g);

/* True once g's run has returned (or g was thrown into before starting).
 * Switching: never switches. */
GREEN_EXTERN bool greenlet_dead(const greenlet_t *g);

/* The value g's run returned (NULL unless g is dead).
 * Switching: never switches. */
GREEN_EXTERN void *greenlet_result(const greenlet_t *g);

/* A name for diagnostics (stack overflow and deadlock reports). The string
 * is copied. Returns 0, -EINVAL (g NULL) or -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int greenlet_set_name(greenlet_t *g, const char *name);

/* The name given with greenlet_set_name(), or NULL.
 * Switching: never switches. */
GREEN_EXTERN const char *greenlet_name(const greenlet_t *g);

/* A process-wide unique number for g, starting at 1 (0 for NULL).
 * Switching: never switches. */
GREEN_EXTERN unsigned long greenlet_id(const greenlet_t *g);

/* The stack size g has or will have, in bytes. Switching: never switches. */
GREEN_EXTERN size_t greenlet_stack_size(const greenlet_t *g);

/* Frees g. A suspended greenlet that is not dead is discarded without
 * resuming it (its stack is dropped, not unwound: throw into it first if it
 * holds resources).
 * Returns 0, or -EINVAL (g NULL, or a root, or a greenlet owned by a task),
 * -EBUSY (g is running, parked on the hub, or the parent of a greenlet
 * that is not dead: free those first), -EPERM (other OS thread).
 * Switching: never switches. */
GREEN_EXTERN int greenlet_free(greenlet_t *g);

#ifdef __cplusplus
}
#endif

#endif
