/* SPDX-License-Identifier: MIT */
/* What the thread family of the preload shares (thread.c: pthreads
 * themselves, sync.c: mutexes and condition variables, rwlock.c: rwlocks
 * and barriers, sem.c: semaphores): wait queues kept inside libc's own
 * objects, deadlines given as timespecs, and the one way they all park
 * (park.c).
 *
 * Every object keeps its green state in the bytes of the libc type, laid
 * out so that an idle object is all zero except where glibc keeps a field
 * that a static initialiser or the program may set (a mutex's kind, a
 * rwlock's flags, a condition variable's clock). Zero bytes are a valid
 * empty queue here, which is why the queues below are reached through
 * green__objq_get() and put back to zero by green__objq_tidy(): a static
 * initialiser needs no init call, and an idle object may even be copied.
 *
 * All green pthreads of a process run on one OS thread, so none of this
 * needs atomics; an object shared with another OS thread (one the program
 * made by means the preload does not see) is not supported. */
#ifndef GREEN_PRELOAD_THREAD_H
#define GREEN_PRELOAD_THREAD_H

#include <stdbool.h>
#include <time.h>

#include "preload.h"

/* Whether the thread family is handled here: it is patched, and the
 * caller is the OS thread that runs green pthreads (lib/patch.h); any
 * other OS thread keeps libc's. */
static inline bool green__thread_on(void)
{
    return green__patch_on(GREEN_PATCH_THREAD) && green__pthreads_here();
}

/* The queue q, made valid if it is still the zero bytes of a static
 * initialiser. */
static inline struct green__waitq *green__objq_get(struct green__waitq *q)
{
    if (q->head.next == NULL) {
        green__waitq_init(q);
    }
    return q;
}

/* Puts an empty queue back to zero bytes. Call after anything that may
 * have emptied it (a pop, or a waiter that left on its own). */
static inline void green__objq_tidy(struct green__waitq *q)
{
    if (q->head.next == &q->head) {
        q->head.next = q->head.prev = NULL;
    }
}

static inline bool green__objq_empty(const struct green__waitq *q)
{
    return q->head.next == NULL || q->head.next == &q->head;
}

/* Removes and returns the first waiter, or NULL. */
static inline struct greenlet *green__objq_pop(struct green__waitq *q)
{
    if (green__objq_empty(q)) {
        return NULL;
    }
    struct greenlet *g = green__waitq_pop(q);
    green__objq_tidy(q);
    return g;
}

/* Wakes every waiter of q with code 0. */
static inline void green__objq_wake_all(struct green__waitq *q)
{
    struct greenlet *g;
    while ((g = green__objq_pop(q)) != NULL) {
        green__hub_wake(g, 0);
    }
}

/* Hands "the resource" to the first waiter of q (see
 * green__waitq_handoff) and returns it, or NULL if nobody waits. */
static inline struct greenlet *green__objq_handoff(struct green__waitq *q)
{
    if (green__objq_empty(q)) {
        return NULL;
    }
    struct greenlet *g = green__waitq_handoff(q);
    green__objq_tidy(q);
    return g;
}

/* The running greenlet, making the thread state if needed; NULL only when
 * out of memory. An uncontended lock needs nothing more (no hub). */
static inline struct greenlet *green__self(void)
{
    struct green__thread *t = green__thread_get();
    return t != NULL ? t->current : NULL;
}

/* Checks a deadline (clock and absolute time) the way glibc does:
 * -EINVAL for a clock other than CLOCK_REALTIME / CLOCK_MONOTONIC or a
 * tv_nsec outside [0, 1e9). */
int green__deadline_check(clockid_t clock, const struct timespec *abs);

/* Parks the running greenlet on q until a waker takes it off (hand-off
 * waits, handed not NULL: until *handed is set by whoever gives it the
 * resource, see green__waitq_handoff; a record passed as wait_data must
 * start with that bool), or
 * until abs on clock has passed (abs NULL: no deadline). The wait is
 * shielded from green_kill: no pthread call may fail with ECANCELED.
 * Returns 0 (woken / handed), -ETIMEDOUT (the deadline has passed on its
 * own clock, not only on the hub's), -EINTR (a signal ended it, as intr
 * allows: enum green__intr; only sem_wait asks for that), -EDEADLK
 * (nothing could ever wake it,
 * or the caller is the hub, which can never wait), -ENOMEM. The caller
 * has checked the deadline. */
int green__objq_wait(struct green__waitq *q, bool *handed, clockid_t clock,
                     const struct timespec *abs, int intr, const char *what,
                     const void *obj);

/* For the waits POSIX gives no EDEADLK (pthread_cond_wait,
 * pthread_barrier_wait, pthread_once): the hub has printed which
 * greenlets wait on what; a program that would hang for ever stops here
 * with that report instead. */
_Noreturn void green__thread_deadlock(const char *fn);

#endif
