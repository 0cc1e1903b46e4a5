/* SPDX-License-Identifier: MIT */
/* Solo mode (see solo.h): the first OS thread with green state uses
 * plain loads and stores on shared objects until a second one comes.
 *
 * The second thread's side of the asymmetric Dekker: it clears
 * green__solo (sequentially consistent), then membarrier's private
 * expedited command makes every running thread of the process execute a
 * full barrier. After it, the solo thread either had stored
 * green__solo_busy = 1 where this thread sees it (and this thread waits
 * for the section to end), or its recheck of green__solo in
 * green__solo_enter comes after the barrier and sees NULL. Registration
 * for the command is made while the first thread is still the only one
 * that could need it. */
#include "solo.h"

#include <linux/membarrier.h>
#include <stdbool.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "log.h"
#include "rawsys.h"
#include "real.h"

struct green__thread *green__solo;
int green__solo_busy;

/* Where solo mode is: nobody arrived yet, the first thread is setting
 * up, solo (or never: green__solo NULL), ending (the second thread's
 * barrier and wait), over. A thread that arrives while the first sets
 * up or the second ends waits for that to finish: none may use a shared
 * object atomically while a plain section could still run. */
enum { NOBODY, SETUP, FIRST, ENDING, OVER };
static int state;

static void wait_past(int s)
{
    while (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == s) {
        GREEN_REAL(sched_yield)();
    }
}

/* A forked child has one thread, but maybe not the solo one, and the
 * kernel does not carry the membarrier registration over: no solo mode
 * there. */
static void fork_child(void)
{
    __atomic_store_n(&green__solo, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&green__solo_busy, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&state, OVER, __ATOMIC_RELEASE);
}

/* Whether the process has one OS thread. Registering for membarrier is
 * cheap then; with other threads the kernel waits for an RCU grace
 * period (tens of ms seen here), so a process that made threads before
 * its first green call goes without solo mode. */
static bool alone(void)
{
    struct stat st;
    return green__syscall(SYS_newfstatat, AT_FDCWD, "/proc/self/task", &st,
                          0) == 0 &&
           st.st_nlink == 3; /* ".", ".." and this thread */
}

void green__solo_arrive(struct green__thread *t)
{
    int s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
    if (s == OVER) {
        return;
    }
    if (s == NOBODY &&
        __atomic_compare_exchange_n(&state, &s, SETUP, false,
                                    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        if (alone() && pthread_atfork(NULL, NULL, fork_child) == 0 &&
            green__syscall(SYS_membarrier,
                           MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0) {
            __atomic_store_n(&green__solo, t, __ATOMIC_SEQ_CST);
        }
        __atomic_store_n(&state, FIRST, __ATOMIC_RELEASE);
        return;
    }
    wait_past(SETUP);
    s = FIRST;
    if (!__atomic_compare_exchange_n(&state, &s, ENDING, false,
                                     __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        wait_past(ENDING); /* another second thread ends it */
        return;
    }
    if (__atomic_exchange_n(&green__solo, NULL, __ATOMIC_SEQ_CST) != NULL) {
        if (green__syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED,
                           0) != 0) {
            /* Registered, so this cannot fail; if it did, a fence-free
             * section could still be running unseen. */
            green__log(GREEN_LOG_ERROR, "membarrier failed after it was "
                       "registered: the first thread's lock fast path "
                       "cannot be ended safely; aborting");
            abort();
        }
        while (__atomic_load_n(&green__solo_busy, __ATOMIC_ACQUIRE)) {
            GREEN_REAL(sched_yield)();
        }
    }
    __atomic_store_n(&state, OVER, __ATOMIC_RELEASE);
}
