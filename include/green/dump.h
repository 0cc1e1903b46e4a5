/* SPDX-License-Identifier: MIT */
/* Seeing inside a green program: a dump of every green thread, and the
 * runtime's counters.
 *
 *     green_dump(2);                 // every green thread of this OS
 *                                    // thread, to stderr
 *     struct green_stats s;
 *     green_stats(&s);               // how many, how busy
 *
 * The dump lists, for each green thread of the calling OS thread: its id,
 * name (green_task_set_name, greenlet_set_name; pthread_setname_np under
 * the preload), state (running, ready, parked, suspended, new), what a
 * parked one waits on (the fd and for what, the event, queue, lock,
 * mutex or condition variable by address, the task it joins, the futex
 * word, the child process, and when its timer fires), how long it has
 * waited, the id of the green thread that made it, and a backtrace of its
 * stack, symbolised with dladdr (link with -rdynamic to see a program's
 * own functions). The counters come first. The format is for people:
 * one line per thread, then one "backtrace:" line, as README.md shows.
 *
 * Under the preload, GREEN_DUMP_SIGNAL=USR2 (or green-run
 * --dump-signal=USR2) writes the same dump to stderr whenever the process
 * gets that signal, and the program runs on. */
#ifndef GREEN_DUMP_H
#define GREEN_DUMP_H

#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the dump to fd, whole, with write(2) from the calling green
 * thread (it does not switch: nothing else runs while it is written).
 * Returns 0, -EBADF (fd negative), -ENOMEM, or write's -errno (-EPIPE,
 * -EIO...). Switching: never switches. */
GREEN_EXTERN int green_dump(int fd);

/* The counters of the calling OS thread's runtime (under the preload:
 * every green thread of the process) and of the process's worker pool.
 * Fields are only ever added in place of `reserved`, so the size stays
 * that of version 0.1.0; a field not known to the library running is
 * 0. */
struct green_stats {
    uint64_t threads;      /* green threads alive: started and not ended,
                              or spawned and waiting to start */
    uint64_t parked;       /* ...waiting on the hub (I/O, timers, locks) */
    uint64_t ready;        /* ...woken or spawned, queued to run */
    uint64_t switches;     /* context switches from green thread to green
                              thread (the hub included), since the start */
    uint64_t hub_turns;    /* times the hub polled for I/O and timers */
    uint64_t fds;          /* fds registered with the hub */
    double max_stall;      /* longest the hub was kept from running, in
                              seconds, as the blocking monitor measured
                              it (GREEN_MAX_BLOCKING_MS; 0 while it is
                              off) */
    uint64_t pool_queued;  /* jobs waiting for a worker thread (blocking
                              calls made on the pool, green_threadpool_run) */
    uint64_t pool_threads; /* worker threads alive */
    uint64_t reserved[7];
};

/* Fills *out. Returns 0, or -EINVAL (out NULL). A thread that never used
 * the runtime has zero green threads. Switching: never switches. */
GREEN_EXTERN int green_stats(struct green_stats *out);

#ifdef __cplusplus
}
#endif

#endif
