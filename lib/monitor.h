/* SPDX-License-Identifier: MIT */
/* The blocking monitor's interface, for the hub (lib/monitor.c explains
 * what it measures and reports, lib/watchdog.c what watches it from
 * another OS thread).
 *
 * The hub asks the monitor on every park and every greenlet's end, so the
 * test whether the monitor is on at all, and the clock it stamps hub turns
 * with, are inline here: with the monitor off a park pays one comparison,
 * as it did when the monitor lived in hub.c. The check itself is out of
 * line in monitor.c, as it was a call before too. */
#ifndef GREEN_MONITOR_H
#define GREEN_MONITOR_H

#include <time.h>

#include "internal.h"
#include "watchdog.h"

/* GREEN_MAX_BLOCKING_MS in seconds: 0 = off; < 0 = not read yet (the
 * first green__monitor() call reads it). */
extern double green__max_blocking;

/* green__max_blocking, read as a whole (any thread may read it first). */
static inline double green__max_blocking_load(void)
{
    double v;
    __atomic_load(&green__max_blocking, &v, __ATOMIC_RELAXED);
    return v;
}

static inline void green__max_blocking_store(double v)
{
    __atomic_store(&green__max_blocking, &v, __ATOMIC_RELAXED);
}

/* green__max_blocking when GREEN_MAX_BLOCKING_MS is 0 but the hand-off
 * (lib/handoff.c) is on: the beats go on, no report is ever made. */
#define GREEN__NEVER_REPORT 1e9

/* The coarse monotonic clock: a few ns, 4 ms resolution. */
static inline double green__coarse_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* green_patch() added families: the default limit, which follows the
 * mask, is read again. */
void green__monitor_repatched(void);

/* Checks how long the hub has been away; g, if not NULL, is who ran. */
void green__monitor(struct green__thread *t, struct greenlet *g);

/* g is about to park or has ended: checks how long it ran, unless the
 * monitor is off. */
static inline void green__monitor_ran(struct green__thread *t,
                                      struct greenlet *g)
{
    if (green__max_blocking_load() != 0.0) {
        green__monitor(t, g);
    }
}

/* A hub turn is over: stamps the time the next check measures from (0,
 * "nothing stamped yet", while the monitor is off), and beats the
 * watchdog's record (even again: out of the poll). */
static inline void green__monitor_stamp(struct green__thread *t)
{
    struct green__watch *w = t->watch;
    if (w != NULL) {
        __atomic_store_n(&w->beat, w->beat + 1, __ATOMIC_RELAXED);
    }
    t->stamp = green__max_blocking_load() > 0.0 ? green__coarse_now() : 0.0;
}

/* The hub of t was made: the watchdog watches it if the monitor is on. */
void green__monitor_hub(struct green__thread *t);

/* t's OS thread is ending (its hub goes). */
static inline void green__monitor_forget(struct green__thread *t)
{
    if (t->watch != NULL) {
        green__watchdog_forget(t);
    }
}

/* The preload's start: the main thread is watched from now on, before it
 * has a hub, if the monitor is on. */
void green__monitor_early(void);

#endif
