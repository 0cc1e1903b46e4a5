/* SPDX-License-Identifier: MIT */
/* How the thread family parks (preload/thread.h declares it): the wait
 * the green pthread objects share (mutexes, condition variables, rwlocks,
 * barriers, semaphores, pthread_once), its deadline check, and the stop
 * for the waits POSIX gives no error to fail with.
 *
 * Design. The objects keep their waiters in queues inside libc's own
 * types (thread.h), so a wait pushes the running greenlet on such a
 * queue, parks on the hub, and leaves the queue again, putting it back
 * to zero bytes when it is empty. Deadlines come as an absolute timespec
 * on the object's clock (CLOCK_REALTIME or CLOCK_MONOTONIC) and the hub's
 * timers run on the monotonic clock, so a wait that the hub ends with
 * -ETIMEDOUT checks the deadline on its own clock and waits again if it
 * has not passed there (the realtime clock may have been set back).
 * Every wait is shielded from green_kill: POSIX gives no pthread call an
 * ECANCELED. */
#include "thread.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>

int green__deadline_check(clockid_t clock, const struct timespec *abs)
{
    if (clock != CLOCK_REALTIME && clock != CLOCK_MONOTONIC) {
        return -EINVAL;
    }
    return abs->tv_nsec >= 0 && abs->tv_nsec < 1000000000L ? 0 : -EINVAL;
}

/* Seconds from now until abs on clock; <= 0 once it has passed. */
static double seconds_left(clockid_t clock, const struct timespec *abs)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return (double)(abs->tv_sec - now.tv_sec) +
           (double)(abs->tv_nsec - now.tv_nsec) * 1e-9;
}

int green__objq_wait(struct green__waitq *q, bool *handed, clockid_t clock,
                     const struct timespec *abs, int intr, const char *what,
                     const void *obj)
{
    struct greenlet *self = green__self();
    if (self == NULL) {
        return -ENOMEM;
    }
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    if (handed != NULL) {
        *handed = false;
    }
    int r;
    for (;;) {
        double left = abs != NULL ? seconds_left(clock, abs) : GREEN_FOREVER;
        if (left <= 0.0) {
            r = -ETIMEDOUT;
            break;
        }
        self->wait_data = handed;
        green__waitq_push(green__objq_get(q), self);
        r = green__hub_park_intr(left, what, obj, intr);
        if (green__link_linked(&self->wait)) {
            green__link_remove(&self->wait);
        }
        self->wait_data = NULL;
        green__objq_tidy(q);
        if (handed != NULL && *handed) {
            r = 0; /* the first event wins: it has the resource */
            break;
        }
        /* The hub's clock is monotonic; the deadline's may be another. */
        if (r != -ETIMEDOUT || abs == NULL) {
            break;
        }
    }
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    return r == -EPERM ? -EDEADLK : r; /* -EPERM: the hub itself */
}

_Noreturn void green__thread_deadlock(const char *fn)
{
    green__log(GREEN_LOG_ERROR, "%s can never return (see the report "
               "above); aborting", fn);
    abort();
}
