/* SPDX-License-Identifier: MIT */
/* Event wake-up latency: two tasks ping-pong N rounds over two events.
 * The pinger sets `ping` and waits for `pong`; the ponger waits for
 * `ping`, clears it, and sets `pong`; each clears the event it was woken
 * by before setting the other's, so no set is ever lost or seen twice.
 * Every half round is one wake-up: from green_event_set() through the
 * setter parking in its own green_event_wait() to the waiter running
 * again. The result is the total time / (2 N). Go's two unbuffered
 * channels (and sync.Cond) and gevent's Event are measured the same way in
 * bench/go and bench/gevent.
 *
 *   event.libgreen   ns per wake-up (set -> waiter running)
 *
 * Checked: every wait returns 0 with its event set, and the two sides
 * never get more than one round apart.
 *
 * BENCH_ROUNDS sets N (default 1,000,000). */
#include <stdint.h>

#include "green.h"

#include "bench.h"

static green_event_t *ping, *pong;
static long rounds;
static long pinged, ponged; /* rounds completed by each side */

static void *pinger(void *arg)
{
    for (long i = 0; i < rounds; i++) {
        BENCH_CHECK(green_event_set(ping) == 0);
        BENCH_CHECK(green_event_wait(pong, GREEN_FOREVER) == 0);
        BENCH_CHECK(green_event_is_set(pong));
        BENCH_CHECK(green_event_clear(pong) == 0);
        pinged++;
        BENCH_CHECK(pinged == ponged);
    }
    return arg;
}

static void *ponger(void *arg)
{
    for (long i = 0; i < rounds; i++) {
        BENCH_CHECK(green_event_wait(ping, GREEN_FOREVER) == 0);
        BENCH_CHECK(green_event_is_set(ping));
        BENCH_CHECK(green_event_clear(ping) == 0);
        BENCH_CHECK(ponged == pinged);
        ponged++;
        BENCH_CHECK(green_event_set(pong) == 0);
    }
    return arg;
}

static uint64_t run(long n)
{
    rounds = n;
    pinged = ponged = 0;
    BENCH_CHECK(green_event_new(&ping) == 0);
    BENCH_CHECK(green_event_new(&pong) == 0);

    green_task_t *a, *b;
    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(green_spawn(&b, ponger, NULL) == 0);
    BENCH_CHECK(green_spawn(&a, pinger, NULL) == 0);
    BENCH_CHECK(green_join(a, GREEN_FOREVER, NULL) == 0);
    BENCH_CHECK(green_join(b, GREEN_FOREVER, NULL) == 0);
    uint64_t t1 = bench_now_ns();

    BENCH_CHECK(green_task_status(a) == GREEN_TASK_DONE);
    BENCH_CHECK(green_task_status(b) == GREEN_TASK_DONE);
    green_task_release(a);
    green_task_release(b);
    BENCH_CHECK(pinged == n && ponged == n);
    BENCH_CHECK(!green_event_is_set(ping) && !green_event_is_set(pong));
    BENCH_CHECK(green_event_free(ping) == 0);
    BENCH_CHECK(green_event_free(pong) == 0);
    return t1 - t0;
}

int main(void)
{
    long n = bench_env_long("BENCH_ROUNDS", 1000000);

    run(n / 100 > 0 ? n / 100 : 1); /* warm-up: hub, stacks, caches */
    uint64_t ns = run(n);
    BENCH_CHECK(green_run() == 0);
    bench_report("event.libgreen", (double)ns / (2.0 * (double)n), "ns");
    return 0;
}
