/* SPDX-License-Identifier: MIT */
/* Reference for bench/spawn.c: the cost of an OS thread from birth to
 * burial, pthread_create() + pthread_join() with default attributes, one
 * thread at a time (the best case for pthreads: glibc reuses the stack of
 * the thread just joined).
 *
 *   spawn.pthread   ns per thread
 *
 * BENCH_THREADS sets N (default 100,000). */
#include <pthread.h>
#include <stdint.h>

#include "bench.h"

static void *body(void *arg)
{
    return (void *)((uintptr_t)arg + 1);
}

static uint64_t run(long n)
{
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        pthread_t t;
        void *r;
        BENCH_CHECK(pthread_create(&t, NULL, body, (void *)(uintptr_t)i) == 0);
        BENCH_CHECK(pthread_join(t, &r) == 0);
        BENCH_CHECK((uintptr_t)r == (uintptr_t)i + 1);
    }
    return bench_now_ns() - t0;
}

int main(void)
{
    long n = bench_env_long("BENCH_THREADS", 100000);

    run(n / 100 > 0 ? n / 100 : 1); /* warm-up */
    uint64_t ns = run(n);
    bench_report("spawn.pthread", (double)ns / (double)n, "ns");
    return 0;
}
