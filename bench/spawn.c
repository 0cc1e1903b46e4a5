/* SPDX-License-Identifier: MIT */
/* Spawn + join cost: N tasks are spawned with green_spawn(), all before any
 * runs, each returning at once; then each is joined (green_join) and its
 * handle released (green_task_release). The result is the total time / N:
 * everything a task costs from birth to burial (object, stack, two switches,
 * the join). Go's `go f()` + WaitGroup and gevent's spawn + joinall are
 * measured the same way in bench/go and bench/gevent.
 *
 *   spawn.libgreen   ns per task
 *
 * BENCH_TASKS sets N (default 1,000,000). */
#include <stdint.h>

#include "green.h"

#include "bench.h"

static long ran;

static void *body(void *arg)
{
    ran++;
    return arg;
}

static uint64_t run(green_task_t **tasks, long n)
{
    ran = 0;
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(green_spawn(&tasks[i], body, (void *)(uintptr_t)i) == 0);
    }
    for (long i = 0; i < n; i++) {
        void *r;
        BENCH_CHECK(green_join(tasks[i], GREEN_FOREVER, &r) == 0);
        BENCH_CHECK((uintptr_t)r == (uintptr_t)i);
        green_task_release(tasks[i]);
    }
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(ran == n);
    return t1 - t0;
}

int main(void)
{
    long n = bench_env_long("BENCH_TASKS", 1000000);
    green_task_t **tasks = calloc((size_t)n, sizeof *tasks);
    BENCH_CHECK(tasks != NULL);

    run(tasks, n / 100 > 0 ? n / 100 : 1); /* warm-up: hub, stack pool */
    uint64_t ns = run(tasks, n);
    BENCH_CHECK(green_run() == 0); /* nothing may be left behind */
    free(tasks);
    bench_report("spawn.libgreen", (double)ns / (double)n, "ns");
    return 0;
}
