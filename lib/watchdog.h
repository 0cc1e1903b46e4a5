/* SPDX-License-Identifier: MIT */
/* The watchdog (lib/watchdog.c): an OS thread of the runtime's own that
 * notices a hub that has stopped turning while it is still stuck, and
 * names the green thread and the call it is in.
 *
 * Each OS thread that runs greenlets has a record here, which its hub
 * beats through lib/monitor.c and monitor.h (the only cost on the hot
 * path: one store per hub turn and per park). The watchdog looks at every
 * record every half GREEN_MAX_BLOCKING_MS; a beat that has not moved for
 * the whole limit, outside the hub's poll, is an episode, reported once. */
#ifndef GREEN_WATCHDOG_H
#define GREEN_WATCHDOG_H

#include <stdbool.h>

struct green__thread;

/* One watched OS thread. The beat is written by that thread only: +1
 * before the hub polls (odd: in the poll, where waiting is its job), +1
 * after (even: greenlets run), +2 on every park and greenlet end. */
struct green__watch {
    unsigned long beat;
    /* The last beat reported: the watchdog and the thread's own check at
     * a park (monitor.c) both claim an episode with a compare-and-swap on
     * it, so that one episode is told once. */
    unsigned long claimed;
    /* The watchdog's own, under its lock. */
    struct green__thread *t;    /* NULL before the thread's hub exists */
    int tid;
    unsigned long seen;         /* the beat at the last look */
    double seen_at;             /* when that beat was first seen */
    double handoff_retry;       /* no hand-off try before this */
    struct green__watch *next;
};

/* Watches t's OS thread from now on (its hub was made, or the monitor was
 * turned on after that): sets t->watch, adopting the record the thread
 * got before it had state (green__watchdog_early), and starts the
 * watchdog thread if it is not running. limit: GREEN_MAX_BLOCKING_MS in
 * seconds (> 0). Out of memory: t->watch stays NULL and t is not
 * watched. Never switches. */
void green__watchdog_watch(struct green__thread *t, double limit);

/* The preload's start: watches the calling (main) thread before it has
 * any runtime state, so that a block before its first green call is
 * seen too. */
void green__watchdog_early(double limit);

/* t's OS thread is ending: its record goes. */
void green__watchdog_forget(struct green__thread *t);

/* w's hub runs on OS thread tid from now on (lib/handoff.c). */
void green__watchdog_moved(struct green__watch *w, int tid);

/* Claims the episode `beat` of w for a report; false if it was told
 * already (by the watchdog while it lasted). Any thread. */
bool green__watchdog_claim(struct green__watch *w, unsigned long beat);

/* Set in a forked child, whose watchdog thread did not come along, and
 * after a failed start: the next check (green__watchdog_revive) starts
 * one. */
extern int green__watchdog_down;
void green__watchdog_revive(void);

/* For tests: how many records are watched, and whether the watchdog
 * thread runs. */
int green__watchdog_records(void);
bool green__watchdog_running(void);

#endif
