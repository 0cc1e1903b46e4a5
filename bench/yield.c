/* SPDX-License-Identifier: MIT */
/* Yield cost on the hub: two tasks each call green_sleep(0) N times. With
 * nothing else ready, every call hands the thread to the other task, so the
 * result, total time / (2 N), is the cost of one yield: one green_sleep(0)
 * call, from the caller giving up the thread to the other task running
 * (the same measure as Go's runtime.Gosched and gevent.sleep(0) in
 * bench/go and bench/gevent).
 *
 *   yield.libgreen   ns per green_sleep(0)
 *
 * BENCH_YIELDS sets N (default 5,000,000 per task). */
#include <stdint.h>

#include "green.h"

#include "bench.h"

static long yields_per_task;
static long done[2];        /* yields completed, per task */
static long max_lead;       /* most yields one task got ahead of the other */

static void *yielder(void *arg)
{
    int me = (int)(uintptr_t)arg;
    for (long i = 0; i < yields_per_task; i++) {
        BENCH_CHECK(green_sleep(0) == 0);
        done[me]++;
        long lead = done[me] - done[1 - me];
        if (lead > max_lead) {
            max_lead = lead;
        }
    }
    return arg;
}

static uint64_t run(long n)
{
    green_task_t *t[2];
    yields_per_task = n;
    done[0] = done[1] = 0;
    max_lead = 0;

    uint64_t t0 = bench_now_ns();
    for (int i = 0; i < 2; i++) {
        BENCH_CHECK(green_spawn(&t[i], yielder, (void *)(uintptr_t)i) == 0);
    }
    for (int i = 0; i < 2; i++) {
        void *r;
        BENCH_CHECK(green_join(t[i], GREEN_FOREVER, &r) == 0);
        BENCH_CHECK(green_task_status(t[i]) == GREEN_TASK_DONE);
        BENCH_CHECK((uintptr_t)r == (uintptr_t)i);
        green_task_release(t[i]);
    }
    uint64_t t1 = bench_now_ns();

    BENCH_CHECK(done[0] == n && done[1] == n);
    /* A yield must let the other task run: neither may get ahead by more
     * than one step. */
    BENCH_CHECK(max_lead <= 1);
    return t1 - t0;
}

int main(void)
{
    long n = bench_env_long("BENCH_YIELDS", 5000000);

    run(n / 100 > 0 ? n / 100 : 1); /* warm-up: hub, stacks, caches */
    uint64_t ns = run(n);
    bench_report("yield.libgreen", (double)ns / (2.0 * (double)n), "ns");
    return 0;
}
