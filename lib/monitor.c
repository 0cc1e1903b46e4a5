/* SPDX-License-Identifier: MIT */
/* The blocking monitor: gevent's max_blocking_time. A greenlet that keeps
 * the hub from running for longer than GREEN_MAX_BLOCKING_MS is named
 * once (a warning through lib/log.c), so that users find the call the
 * patch did not reach. The default is 100 ms where something is patched
 * and off where nothing is: a program that patched nothing blocks in libc
 * by its own choice. 0 turns it off. The time a greenlet ran is measured when
 * it parks or ends, from the previous park or hub turn, with the coarse
 * clock (a few ns, 4 ms resolution); the yield path is left unmeasured,
 * so a greenlet that blocks and then yields is caught at the next hub
 * turn, unnamed.
 *
 * The hub calls in through lib/monitor.h: green__monitor_ran() on a park
 * or a greenlet's end, green__monitor() before it polls, and
 * green__monitor_stamp() after. The per-thread stamp is t->stamp; the
 * limit is process-wide, read from the environment on first use.
 *
 * What never parks again is the watchdog's (lib/watchdog.c): an OS thread
 * that reports a hub stuck for the limit while it still is, named with
 * its backtrace. The calls above beat its record of the thread (t->watch)
 * and revive it in a forked child; an episode the watchdog told already
 * (green__watchdog_claim) is not told again here when it ends. */
#include "monitor.h"

#include "config.h"
#include "log.h"
#include "patch.h"
#include "watchdog.h"
#include "handoff.h"

double green__max_blocking = -1.0; /* seconds; 0 = off; < 0 = unread */

static double blocking_limit(void)
{
    if (GREEN__UNLIKELY(green__max_blocking_load() < 0.0)) {
        long dflt = green__patch_settle() != 0 ? 100 : 0;
        long ms = green__env_long("GREEN_MAX_BLOCKING_MS", 0, 86400000L,
                                  dflt, "milliseconds, 0 for off");
        /* With the monitor off, the hand-off still needs the beats and
         * the watchdog: a limit no stall reaches. */
        green__max_blocking_store(
            ms == 0 && green__patch_on(GREEN_PATCH_THREAD) &&
                    green__handoff_after() > 0.0
                ? GREEN__NEVER_REPORT
                : (double)ms / 1e3);
    }
    return green__max_blocking_load();
}

void green__monitor_repatched(void)
{
    /* The default follows the mask: read it again at the next park (a
     * set variable is simply read again). */
    green__max_blocking_store(-1.0);
}

void green__monitor_hub(struct green__thread *t)
{
    double limit = blocking_limit();
    if (limit > 0.0 && t->watch == NULL) {
        green__watchdog_watch(t, limit);
    }
}

void green__monitor_early(void)
{
    double limit = blocking_limit();
    if (limit > 0.0) {
        green__watchdog_early(limit);
    }
}

void green__monitor(struct green__thread *t, struct greenlet *g)
{
    double limit = blocking_limit();
    if (limit == 0.0) {
        return;
    }
    /* The beat: odd from here to the stamp after the poll (a hub turn,
     * g NULL), +2 for a park or an end. */
    struct green__watch *w = t->watch;
    unsigned long beat = 0;
    if (GREEN__LIKELY(w != NULL)) {
        beat = w->beat;
        __atomic_store_n(&w->beat, beat + (g == NULL ? 1 : 2),
                         __ATOMIC_RELAXED);
        if (GREEN__UNLIKELY(__atomic_load_n(&green__watchdog_down,
                                            __ATOMIC_RELAXED))) {
            green__watchdog_revive(); /* a forked child's, or a retry */
        }
    } else {
        green__watchdog_watch(t, limit); /* the monitor came on later */
    }
    double now = green__coarse_now();
    double prev = t->stamp; /* 0: nothing stamped yet */
    double ran = now - prev;
    t->stamp = now;
    if (prev != 0.0 && ran > t->stall_max) {
        t->stall_max = ran; /* green_stats' longest stall */
    }
    if (prev == 0.0 || ran <= limit) {
        return;
    }
    if (w != NULL && !green__watchdog_claim(w, beat)) {
        return; /* the watchdog told this one while it lasted */
    }
    char a[80];
    if (g == NULL) {
        green__log(GREEN_LOG_WARNING, "the hub did not run for %.0f ms: a "
                   "greenlet blocked the OS thread in a call the patch "
                   "does not reach", ran * 1e3);
    } else if (!(g->flags & GREEN__REPORTED)) {
        g->flags |= GREEN__REPORTED;
        green__log(GREEN_LOG_WARNING, "greenlet %s kept the hub from "
                   "running for %.0f ms (GREEN_MAX_BLOCKING_MS=%.0f): it "
                   "blocked the OS thread in a call the patch does not "
                   "reach, or computed without yielding",
                   green__greenlet_label(g, a, sizeof(a)), ran * 1e3,
                   limit * 1e3);
    }
}
