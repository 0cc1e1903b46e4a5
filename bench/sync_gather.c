/* SPDX-License-Identifier: MIT */
/* Gather over many tasks: N tasks that return at once (task i returns
 * i + 1), all spawned before any runs, collected with green_gather(), then
 * released. The result is the total time / N, spawn to release. Go's
 * goroutines + WaitGroup filling a result slice and asyncio.gather over N
 * coroutines are measured the same way in bench/go and bench/asyncio.
 *
 *   gather.libgreen        ns per task: green_spawn x N, green_gather,
 *                          green_task_release x N
 *   gather.libgreen_run    ns per task: one green_gather_run() call
 *   gather.libgreen_join   ns per task: green_spawn x N, then green_join +
 *                          green_task_release each, as spawn.c does: the
 *                          baseline gather's own cost shows against
 *
 * Checked: every outcome is DONE with its own task's value, in argument
 * order. Each way runs once at full size before it is timed, so the
 * figures are for memory the allocator already has (the tasks of spawn.c,
 * ten times as many, are measured cold).
 *
 * BENCH_GATHER_TASKS sets N (default 100,000). */
#include <stdint.h>

#include "green.h"

#include "bench.h"

enum way { GATHER, GATHER_RUN, JOIN };

static const char *const names[] = {
    "gather.libgreen", "gather.libgreen_run", "gather.libgreen_join",
};

static long ran;

static void *body(void *arg)
{
    ran++;
    return (void *)((uintptr_t)arg + 1);
}

struct bufs {
    green_task_t **tasks;
    void **args;
    green_outcome_t *out;
};

static void check_outcomes(const green_outcome_t *out, long n)
{
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(out[i].status == GREEN_TASK_DONE);
        BENCH_CHECK(out[i].error == 0);
        BENCH_CHECK((uintptr_t)out[i].value == (uintptr_t)i + 1);
    }
}

static uint64_t run(enum way way, const struct bufs *b, long n)
{
    ran = 0;
    for (long i = 0; i < n; i++) {
        b->out[i] = (green_outcome_t){ GREEN_TASK_PENDING, -1, NULL };
    }
    uint64_t t0 = bench_now_ns();
    if (way == GATHER_RUN) {
        BENCH_CHECK(green_gather_run(body, b->args, (size_t)n, GREEN_FOREVER,
                                     0, b->out) == 0);
    } else {
        for (long i = 0; i < n; i++) {
            BENCH_CHECK(green_spawn(&b->tasks[i], body, b->args[i]) == 0);
        }
        if (way == GATHER) {
            BENCH_CHECK(green_gather(b->tasks, (size_t)n, GREEN_FOREVER, 0,
                                     b->out) == 0);
            for (long i = 0; i < n; i++) {
                green_task_release(b->tasks[i]);
            }
        } else {
            for (long i = 0; i < n; i++) {
                void *r;
                BENCH_CHECK(green_join(b->tasks[i], GREEN_FOREVER, &r) == 0);
                b->out[i] = (green_outcome_t){
                    green_task_status(b->tasks[i]),
                    green_task_error(b->tasks[i]), r };
                green_task_release(b->tasks[i]);
            }
        }
    }
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(ran == n);
    check_outcomes(b->out, n);
    return t1 - t0;
}

int main(void)
{
    long n = bench_env_long("BENCH_GATHER_TASKS", 100000);
    struct bufs b = {
        calloc((size_t)n, sizeof *b.tasks),
        calloc((size_t)n, sizeof *b.args),
        calloc((size_t)n, sizeof *b.out),
    };
    BENCH_CHECK(b.tasks != NULL && b.args != NULL && b.out != NULL);
    for (long i = 0; i < n; i++) {
        b.args[i] = (void *)(uintptr_t)i;
    }

    for (enum way w = GATHER; w <= JOIN; w++) {
        run(w, &b, n); /* warm-up at full size */
        uint64_t ns = run(w, &b, n);
        bench_report(names[w], (double)ns / (double)n, "ns");
    }
    BENCH_CHECK(green_run() == 0);
    free(b.tasks);
    free(b.args);
    free(b.out);
    return 0;
}
