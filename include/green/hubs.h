/* SPDX-License-Identifier: MIT */
/* More hubs for new code: OS threads of the runtime's own, each running a
 * hub of its own, which tasks spawned with .hub = GREEN_HUB_ANY (or a
 * hub's number) run on, so that tasks that compute use more than one core.
 *
 * Hub 0 is the calling OS thread's own hub; green_hubs_start(n) adds hubs
 * 1 to n - 1, each on a new OS thread named green-hub-K that runs until
 * green_hubs_stop(). A task runs on the hub it was spawned on for its
 * whole life (tasks do not move); it may be joined, waited for, linked
 * to, killed and released from any OS thread (green/task.h), and the
 * objects of green/lock.h, event.h, future.h and queue.h work between
 * greenlets of any hubs. green_spawn() and green_spawn_ex() without .hub
 * spawn on the caller's hub, as before. A forked child has one hub, its
 * own thread's. */
#ifndef GREEN_HUBS_H
#define GREEN_HUBS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values of green_spawn_opts_t.hub besides a hub's number. */
#define GREEN_HUB_SELF 0  /* the calling OS thread's hub (the default) */
#define GREEN_HUB_ANY (-1) /* the hub with the fewest live tasks among the
                              caller's and the started ones */

/* Starts hubs so that there are n in all: the caller's and n - 1 new OS
 * threads. n = 0: GREEN_HUBS if it is set (1 to 1024; anything else is
 * reported and ignored), else the number of CPUs the process may run on.
 * Returns the number of hubs, or -EINVAL (n negative or above 1024),
 * -EBUSY (hubs are started, or another call is starting or stopping
 * them), -EAGAIN (an OS thread could not be made: none is left
 * running), -ENOMEM, -ENOTSUP (n > 1 while the thread family is
 * patched, green/patch.h: the hubs' OS threads would be native threads to
 * it, and a pthread object their tasks shared with green pthreads would
 * be read two ways; green_patch("thread") is -EBUSY while hubs run, for
 * the same reason). Switching: may switch (it waits for the new hubs to
 * run). */
GREEN_EXTERN int green_hubs_start(int n);

/* The number of hubs tasks may be spawned on: 1 plus the started ones. */
GREEN_EXTERN int green_hubs_count(void);

/* Ends the started hubs: each runs its remaining tasks to their end, then
 * its OS thread ends; waits for that. Release the handles of their tasks
 * first, and spawn nothing on them meanwhile. Returns 0, or -ESRCH (no
 * hub was started), -EBUSY (another call is starting or stopping them),
 * -EDEADLK (called on a started hub). Switching: may switch. */
GREEN_EXTERN int green_hubs_stop(void);

#ifdef __cplusplus
}
#endif

#endif
