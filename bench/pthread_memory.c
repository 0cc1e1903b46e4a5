/* SPDX-License-Identifier: MIT */
/* Reference for bench/memory.c: memory per OS thread blocked in sleep().
 * N threads with default attributes (8 MiB of reserved stack each under the
 * usual `ulimit -s`), all asleep at once; the result is (VmRSS with all of
 * them asleep - VmRSS before) / N. That leaves out what the kernel holds per
 * thread (its 16 KiB kernel stack, task_struct and the rest), so the growth
 * of /proc/meminfo's KernelStack is printed beside it (system-wide, so only
 * as exact as the machine is quiet). Then every thread is cancelled (sleep
 * is a cancellation point) and joined.
 *
 *   memory.pthread               KiB per thread, user space (VmRSS)
 *   memory.pthread_kernel_stack  KiB per thread of kernel stack
 *
 * BENCH_PTHREADS_BLOCKED sets N (default 10,000). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#include "bench.h"

static atomic_long asleep;

static void *sleeper(void *arg)
{
    atomic_fetch_add(&asleep, 1);
    for (;;) {
        sleep(3600);
    }
    return arg;
}

int main(void)
{
    long n = bench_env_long("BENCH_PTHREADS_BLOCKED", 10000);
    pthread_t *threads = calloc((size_t)n, sizeof *threads);
    BENCH_CHECK(threads != NULL);
    memset(threads, 0, (size_t)n * sizeof *threads); /* fault it in now */

    long rss0 = bench_rss_kib();
    long kstack0 = bench_proc_kib("/proc/meminfo", "KernelStack");
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(pthread_create(&threads[i], NULL, sleeper, NULL) == 0);
    }
    /* Wait (at most 60 s) until every thread has got as far as sleep(). */
    for (int k = 0; k < 60000 && atomic_load(&asleep) < n; k++) {
        usleep(1000);
    }
    BENCH_CHECK(atomic_load(&asleep) == n);
    usleep(10000); /* let the last ones enter the kernel */
    long rss1 = bench_rss_kib();
    long kstack1 = bench_proc_kib("/proc/meminfo", "KernelStack");

    for (long i = 0; i < n; i++) {
        BENCH_CHECK(pthread_cancel(threads[i]) == 0);
    }
    for (long i = 0; i < n; i++) {
        void *r;
        BENCH_CHECK(pthread_join(threads[i], &r) == 0);
        BENCH_CHECK(r == PTHREAD_CANCELED);
    }
    free(threads);

    bench_report("memory.pthread", (double)(rss1 - rss0) / (double)n, "KiB");
    bench_report("memory.pthread_kernel_stack",
                 (double)(kstack1 - kstack0) / (double)n, "KiB");
    return 0;
}
