/* SPDX-License-Identifier: MIT */
/* Memory per blocked task: N tasks alive at once, each blocked in
 * green_sleep(one hour) with the default stack size. The result is
 * (VmRSS with all of them blocked - VmRSS before) / N: what the process
 * really holds per task (touched stack pages, task and greenlet objects,
 * timers), not the reserved address space. Then every task is killed and
 * joined, and each must report -ECANCELED.
 *
 * Also printed: vm.max_map_count and the number of mappings at the peak,
 * since one mmap (plus guard) per stack would stop near 32,000 tasks.
 *
 *   memory.libgreen            KiB per blocked task
 *   memory.libgreen_block_ns   ns per task to spawn it and let it block
 *   memory.max_map_count       the limit (count)
 *   memory.libgreen_maps       mappings with every task blocked (count)
 *
 * BENCH_BLOCKED sets N (default 1,000,000). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "green.h"

#include "bench.h"

static long blocked, cancelled;

static void *sleeper(void *arg)
{
    blocked++;
    int r = green_sleep(3600.0);
    BENCH_CHECK(r == -ECANCELED);
    cancelled++;
    return arg;
}

int main(void)
{
    long n = bench_env_long("BENCH_BLOCKED", 1000000);
    long max_maps = bench_read_long("/proc/sys/vm/max_map_count");
    green_task_t **tasks = calloc((size_t)n, sizeof *tasks);
    BENCH_CHECK(tasks != NULL);
    memset(tasks, 0xff, (size_t)n * sizeof *tasks); /* fault it in now */

    /* Warm-up: make the hub and the first stack arena outside the count. */
    green_task_t *w;
    BENCH_CHECK(green_spawn(&w, sleeper, NULL) == 0);
    BENCH_CHECK(green_sleep(0) == 0);
    BENCH_CHECK(green_kill(w) == 0);
    BENCH_CHECK(green_join(w, GREEN_FOREVER, NULL) == 0);
    green_task_release(w);
    blocked = cancelled = 0;

    long rss0 = bench_rss_kib();
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(green_spawn(&tasks[i], sleeper, NULL) == 0);
    }
    /* One yield runs everything that is ready: every task starts and
     * blocks. Loop anyway, in case the hub hands over in slices. */
    for (int k = 0; k < 100 && blocked < n; k++) {
        BENCH_CHECK(green_sleep(0) == 0);
    }
    uint64_t t1 = bench_now_ns();
    BENCH_CHECK(blocked == n);
    long rss1 = bench_rss_kib();
    long maps = bench_map_count();
    size_t stack = greenlet_stack_size(green_task_greenlet(tasks[0]));

    for (long i = 0; i < n; i++) {
        BENCH_CHECK(green_kill(tasks[i]) == 0);
    }
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(green_join(tasks[i], GREEN_FOREVER, NULL) == 0);
        BENCH_CHECK(green_task_status(tasks[i]) == GREEN_TASK_CANCELLED);
        green_task_release(tasks[i]);
    }
    BENCH_CHECK(cancelled == n);
    free(tasks);

    bench_report("memory.libgreen", (double)(rss1 - rss0) / (double)n, "KiB");
    bench_report("memory.libgreen_block_ns", (double)(t1 - t0) / (double)n,
                 "ns");
    bench_report("memory.libgreen_stack_kib", (double)stack / 1024.0, "KiB");
    bench_report("memory.max_map_count", (double)max_maps, "count");
    bench_report("memory.libgreen_maps", (double)maps, "count");
    return 0;
}
