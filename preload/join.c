/* SPDX-License-Identifier: MIT */
/* Green pthreads' ends: join (and glibc's tryjoin, timedjoin and
 * clockjoin), detach and exit, on the records of preload/gthread.h.
 *
 * A join waits for the thread's task, shielded from green_kill and from
 * EINTR as glibc's join is; the variants with a deadline return
 * ETIMEDOUT when it passes (checked as glibc checks it: EINVAL for a
 * tv_nsec out of range, a clock other than CLOCK_REALTIME or
 * CLOCK_MONOTONIC), and tryjoin EBUSY while the thread runs. A thread
 * joined or detached gives its descriptor's stack back. */
#include "gthread.h"
#include "handoff.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

/* Waits for th to end, shielded, without EINTR, until abs on clock (abs
 * NULL: for ever). Returns 0 or a negative errno. */
static int join_wait(struct gthread *th, clockid_t clock,
                     const struct timespec *abs)
{
    struct greenlet *self = green__self();
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    int r;
    do {
        double left = GREEN_FOREVER;
        if (abs != NULL) {
            struct timespec now;
            clock_gettime(clock, &now);
            left = (double)(abs->tv_sec - now.tv_sec) +
                   (double)(abs->tv_nsec - now.tv_nsec) * 1e-9;
            if (left <= 0.0) {
                r = -ETIMEDOUT;
                break;
            }
        }
        /* Only this OS thread's: the end of a joined green pthread (its
         * stack, its record) is its home's to undo. */
        r = green__task_check(th->task);
        if (r == 0) {
            r = green__task_join(th->task, left, "pthread_join on");
        }
        /* The hub's clock is monotonic; the deadline's may be another. */
    } while ((r == -EINTR && !green__cancel_woken()) ||
             (r == -ETIMEDOUT && abs != NULL));
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    return r;
}

enum join_mode { JOIN_WAIT, JOIN_TRY, JOIN_DEADLINE };

/* pthread_join and its glibc variants: the checks in glibc's order
 * (ESRCH, EINVAL for a detached thread, EDEADLK, EINVAL for a second
 * joiner), then the wait; a deadline is checked only if the thread has not
 * ended (EINVAL for a bad clock or tv_nsec, as glibc's futex wait gives).
 * NOT_GREEN for a thread that is not a green pthread. */
#define NOT_GREEN (-1) /* t is libc's: the caller asks libc */

static int join_common(pthread_t t, void **retval, enum join_mode mode,
                       clockid_t clock, const struct timespec *abs)
{
    bool dead = false;
    struct gthread *th = green__gthread_of(t, &dead);
    if (th == NULL) {
        return dead ? ESRCH : NOT_GREEN;
    }
    struct greenlet *self = green__self();
    struct gthread *me = green__gthread_current();
    if (self == NULL) {
        return ENOMEM;
    }
    if (th->detached) {
        return EINVAL;
    }
    if (th->g == self || (me != NULL && me->joiner == th->g)) {
        return EDEADLK; /* itself, or a thread that is joining us */
    }
    if (th->joiner != NULL) {
        return EINVAL;
    }
    if (!th->ended) {
        if (mode == JOIN_TRY) {
            return EBUSY;
        }
        if (mode == JOIN_DEADLINE && abs != NULL &&
            green__deadline_check(clock, abs) != 0) {
            return EINVAL;
        }
    }
    th->joiner = self;
    int r = join_wait(th, clock, mode == JOIN_DEADLINE ? abs : NULL);
    if (r != 0) {
        th->joiner = NULL;
        return r == -EPERM ? ESRCH : -r; /* -EDEADLK: nothing can end it */
    }
    if (retval != NULL) {
        *retval = th->retval;
    }
    green__greenlet_drop_stack(th->g);
    green_task_release(th->task);
    green__gthread_free(th);
    return 0;
}

GREEN_INTERPOSE int pthread_join(pthread_t t, void **retval)
{
    int r = green__thread_on()
                ? GREEN__CANCELLABLE(int, join_common(t, retval, JOIN_WAIT,
                                                      CLOCK_REALTIME, NULL))
                : NOT_GREEN;
    return r != NOT_GREEN ? r : GREEN_REAL(pthread_join)(t, retval);
}

GREEN_INTERPOSE int pthread_tryjoin_np(pthread_t t, void **retval)
{
    int r = green__thread_on()
                ? join_common(t, retval, JOIN_TRY, CLOCK_REALTIME, NULL)
                : NOT_GREEN;
    return r != NOT_GREEN ? r : GREEN_REAL(pthread_tryjoin_np)(t, retval);
}

GREEN_INTERPOSE int pthread_timedjoin_np(pthread_t t, void **retval,
                                         const struct timespec *abs)
{
    int r = green__thread_on()
                ? GREEN__CANCELLABLE(int, join_common(t, retval, JOIN_DEADLINE,
                                                      CLOCK_REALTIME, abs))
                : NOT_GREEN;
    return r != NOT_GREEN ? r
                          : GREEN_REAL(pthread_timedjoin_np)(t, retval, abs);
}

GREEN_INTERPOSE int pthread_clockjoin_np(pthread_t t, void **retval,
                                         clockid_t clock,
                                         const struct timespec *abs)
{
    int r = green__thread_on()
                ? GREEN__CANCELLABLE(int, join_common(t, retval, JOIN_DEADLINE,
                                                      clock, abs))
                : NOT_GREEN;
    return r != NOT_GREEN
               ? r
               : GREEN_REAL(pthread_clockjoin_np)(t, retval, clock, abs);
}

GREEN_INTERPOSE int pthread_detach(pthread_t t)
{
    bool dead = false;
    struct gthread *th = green__thread_on() ? green__gthread_of(t, &dead) : NULL;
    if (th == NULL) {
        return green__thread_on() && dead ? ESRCH
                                          : GREEN_REAL(pthread_detach)(t);
    }
    if (th->detached) {
        return EINVAL;
    }
    if (th->joiner != NULL) {
        return 0; /* glibc: the joiner wins */
    }
    green__greenlet_drop_stack(th->g);
    green_task_release(th->task);
    th->task = NULL;
    if (th->ended) {
        green__gthread_free(th);
    } else {
        th->detached = true;
    }
    return 0;
}

/* pthread_exit in main (or in any OS thread's root): as in glibc, the
 * thread ends and the process lives on until its last thread ends. The
 * root's stack cannot end while greenlets run on this OS thread, so it
 * waits for every green pthread, then ends for real: glibc runs main's
 * key destructors and, main being the last thread, exits with 0. */
_Noreturn void green__root_exit(void *retval)
{
    struct greenlet *self = green__self();
    if (self != NULL) {
        self->flags |= GREEN__SHIELD;
        while (live_threads > 0) {
            int r = green__waitq_wait(green__objq_get(&all_ended),
                                      GREEN_FOREVER,
                                      "pthread_exit, for the other threads",
                                      NULL);
            green__objq_tidy(&all_ended);
            if (r == -EDEADLK) {
                green__thread_deadlock("pthread_exit");
            }
        }
        self->flags &= (unsigned char)~GREEN__SHIELD;
        /* glibc ends the process with its last thread: main's own. */
        green__handoff_home(green__thread_peek());
    }
    GREEN_REAL(pthread_exit)(retval);
    __builtin_unreachable(); /* the pointer's type drops the noreturn */
}

GREEN_INTERPOSE _Noreturn void pthread_exit(void *retval)
{
    if (green__thread_on()) {
        struct green__thread *t = green__thread_peek();
        struct gthread *th = green__gthread_current();
        if (th != NULL) {
            green__cancel_exit(th, retval); /* returns if it cannot */
            green__gthread_end(th, retval);
            green__task_exit(retval);
        }
        if (green_current() != NULL) {
            green__task_exit(retval); /* an API task: ends like a return */
        }
        if (t == NULL || t->current == &t->root) {
            green__cancel_root_exit(retval);
            green__root_exit(retval);
        }
    }
    GREEN_REAL(pthread_exit)(retval);
    __builtin_unreachable();
}

