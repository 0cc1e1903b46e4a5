/* SPDX-License-Identifier: MIT */
/* The one-OS-thread fast path of objects that any OS thread may use
 * (lib/solo.c).
 *
 * Semaphores, locks, conditions and queues keep their state under a
 * guard (lib/crosswait.h) that greenlets of any OS thread's hub may take,
 * which is an atomic exchange per operation. While the process has made
 * green state for only one OS thread, nobody else can be in there, and
 * the guard need not be taken. The solo
 * thread brackets such a plain section with green__solo_enter/leave; the
 * second OS thread that comes to green state ends solo mode for good,
 * before its first call goes on: it clears green__solo, makes every other
 * thread pass a memory barrier (membarrier(2)), and waits for a section
 * in progress to end. The solo thread's bracket therefore costs two
 * plain stores and a load, and no fence (an asymmetric Dekker: the fence
 * is the second thread's, once). Where membarrier is missing (old
 * kernels, valgrind), or the process already had other OS threads when
 * it first made green state (registering then costs an RCU grace
 * period), there is no solo mode: every call is atomic. */
#ifndef GREEN_SOLO_H
#define GREEN_SOLO_H

#include <stdbool.h>

struct green__thread;

/* The only OS thread with green state while it is the only one; NULL
 * once a second one came (or if solo mode is not available). */
extern struct green__thread *green__solo;

/* 1 while the solo thread is inside a plain section. */
extern int green__solo_busy;

/* Called for each new green__thread (lib/thread.c), on its own OS
 * thread, before it is used: the first one becomes solo if it may; a
 * second one ends solo mode and returns once no plain section runs. */
void green__solo_arrive(struct green__thread *t);

/* Whether t may use plain loads and stores on shared objects until
 * green__solo_leave(): true only for the solo thread. */
static inline bool green__solo_enter(const struct green__thread *t)
{
    if (__atomic_load_n(&green__solo, __ATOMIC_RELAXED) != t) {
        return false;
    }
    __atomic_store_n(&green__solo_busy, 1, __ATOMIC_RELAXED);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(&green__solo, __ATOMIC_RELAXED) != t) {
        __atomic_store_n(&green__solo_busy, 0, __ATOMIC_RELAXED);
        return false; /* ended meanwhile: the atomic path */
    }
    return true;
}

static inline void green__solo_leave(void)
{
    __atomic_store_n(&green__solo_busy, 0, __ATOMIC_RELEASE);
}

#endif
