/* SPDX-License-Identifier: MIT */
/* Cancellation of green pthreads (preload/cancel.c): the state a green
 * pthread (and the main greenlet of an OS thread) keeps about it, and the
 * bracket every interposed cancellation point puts around its call.
 *
 * A cancellation point is written
 *     r = GREEN__CANCELLABLE(long, green_read(fd, buf, n));
 * which acts on a cancel that is pending at entry, marks the thread as
 * inside a point while the call runs (pthread_cancel then ends its wait
 * with -EINTR), and acts when the call comes back from a wait that the
 * cancel ended. Outside green pthreads and main it costs two calls that
 * find nothing. */
#ifndef GREEN_PRELOAD_CANCEL_H
#define GREEN_PRELOAD_CANCEL_H

#include <pthread.h>
#include <setjmp.h>
#include <stdbool.h>
#include <unwind.h>

/* Where a green pthread's start routine was called from: the unwinding
 * of a cancel or pthread_exit ends here (its jmp_buf), so it never walks
 * past the green stack's first frame. */
struct green__cancel_base {
    sigjmp_buf jb;
};

struct green__cancel {
    unsigned char state;          /* PTHREAD_CANCEL_ENABLE / _DISABLE */
    unsigned char type;           /* PTHREAD_CANCEL_DEFERRED / _ASYNCHRONOUS */
    bool pending;                 /* pthread_cancel was called for it */
    bool exiting;                 /* unwinding (cancelled or exiting): no
                                     cancel acts any more */
    bool woke;                    /* pthread_cancel ended its wait */
    bool root;                    /* main's (an OS thread's own stack) */
    unsigned points;              /* cancellation points it is inside */
    __pthread_unwind_buf_t *chain;/* its pthread_cleanup_push buffers,
                                     innermost first */
    struct green__cancel_base *base; /* NULL outside the start routine
                                     (and for main) */
    void *value;                  /* what it ends with: PTHREAD_CANCELED
                                     or pthread_exit's value */
    struct _Unwind_Exception exc; /* the forced unwind in progress */
};

/* The bracket (see above). enter returns the caller's record or NULL;
 * leave takes it back. */
struct green__cancel *green__cancel_enter(void);
void green__cancel_leave(struct green__cancel *c);

#define GREEN__CANCELLABLE(type, call)                                    \
    __extension__({                                                       \
        struct green__cancel *cancel_ = green__cancel_enter();            \
        type cancel_r_ = (call);                                          \
        green__cancel_leave(cancel_);                                     \
        cancel_r_;                                                        \
    })

/* A cancellation point with nothing to wait for: acts on a pending,
 * enabled cancel (pthread_testcancel's test, for the interposers). */
void green__cancel_point(void);

/* Whether the calling thread's wait was ended by pthread_cancel: a loop
 * that retries a wait after EINTR stops instead. */
bool green__cancel_woken(void);

/* An asynchronous cancel acts here (sched_yield: a green thread is never
 * interrupted between two instructions, so a loop that yields is where
 * one can act). */
void green__cancel_async_point(void);

#endif
