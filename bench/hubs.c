/* SPDX-License-Identifier: MIT */
/* Tasks that compute, on one hub and on several (green/hubs.h), beside
 * native threads doing the same: BENCH_TASKS tasks (default 8) each make
 * BENCH_STEPS xorshift steps (default 50,000,000) without a call, spawned
 * and then joined from main. Three ways, round by round, BENCH_RUNS
 * times (default 5):
 *
 *   native   one pthread per task (pthread_create + pthread_join)
 *   1 hub    green_spawn on the caller's hub: the tasks take turns
 *   N hubs   green_hubs_start(0) (GREEN_HUBS, else one per CPU) and
 *            .hub = GREEN_HUB_ANY
 *
 * Prints a Markdown table of median wall times [min-max] and each one's
 * ratio to native, with the machine's CPU count; and the bench_report
 * lines (hubs.native, hubs.one, hubs.many, in ms). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "green.h"

#include "bench.h"

static long steps;
static volatile uint64_t sink;

static void *crunch(void *arg)
{
    uint64_t x = (uint64_t)(uintptr_t)arg * 2654435761u + 1;
    for (long i = 0; i < steps; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    sink += x;
    return NULL;
}

static double native(long n)
{
    pthread_t *th = calloc((size_t)n, sizeof(*th));
    BENCH_CHECK(th != NULL);
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(pthread_create(&th[i], NULL, crunch,
                                   (void *)(uintptr_t)(i + 1)) == 0);
    }
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(pthread_join(th[i], NULL) == 0);
    }
    uint64_t t1 = bench_now_ns();
    free(th);
    return (double)(t1 - t0) / 1e6;
}

static double green(long n, int hub)
{
    green_task_t **t = calloc((size_t)n, sizeof(*t));
    BENCH_CHECK(t != NULL);
    green_spawn_opts_t o = {.hub = hub};
    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(green_spawn_ex(&t[i], crunch, (void *)(uintptr_t)(i + 1),
                                   &o) == 0);
    }
    BENCH_CHECK(green_joinall(t, (size_t)n, GREEN_FOREVER) == 0);
    uint64_t t1 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        green_task_release(t[i]);
    }
    free(t);
    return (double)(t1 - t0) / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    long n = bench_env_long("BENCH_TASKS", 8);
    long runs = bench_env_long("BENCH_RUNS", 5);
    steps = bench_env_long("BENCH_STEPS", 50000000);
    BENCH_CHECK(n > 0 && runs > 0 && runs <= 100 && steps > 0);
    int hubs = green_hubs_start(0);
    BENCH_CHECK(hubs >= 1);
    double r[3][100];
    for (long k = 0; k < runs; k++) {
        r[0][k] = native(n);
        r[1][k] = green(n, GREEN_HUB_SELF);
        r[2][k] = green(n, GREEN_HUB_ANY);
    }
    if (hubs > 1) {
        BENCH_CHECK(green_hubs_stop() == 0);
    }
    const char *name[3] = {"native threads", "libgreen, 1 hub", NULL};
    char many[32];
    snprintf(many, sizeof(many), "libgreen, %d hubs", hubs);
    name[2] = many;
    double med[3];
    for (int c = 0; c < 3; c++) {
        qsort(r[c], (size_t)runs, sizeof(double), cmp);
        med[c] = r[c][runs / 2];
    }
    printf("%ld tasks x %ld steps, %ld CPUs online, median of %ld\n\n", n,
           steps, sysconf(_SC_NPROCESSORS_ONLN), runs);
    printf("| way | wall ms | min-max | x native |\n|---|---|---|---|\n");
    for (int c = 0; c < 3; c++) {
        printf("| %s | %.1f | %.1f-%.1f | %.2f |\n", name[c], med[c], r[c][0],
               r[c][runs - 1], med[c] / med[0]);
    }
    bench_report("hubs.native", med[0], "ms");
    bench_report("hubs.one", med[1], "ms");
    bench_report("hubs.many", med[2], "ms");
    return 0;
}
