/* SPDX-License-Identifier: MIT */
/* asyncio.gather, the first coroutine program: three tasks that each sleep
 * 1 s, started at once and collected in argument order, take about 1 s;
 * the same three calls made one after the other take about 3 s.
 *
 *     results = await asyncio.gather(square("A", 2), square("B", 3),
 *                                    square("C", 4))
 */
#include <green.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double t0;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0;
}

/* "Computes" n * n, which takes a second of waiting (a request, say). */
static void *square(void *arg)
{
    intptr_t n = (intptr_t)arg;
    printf("%5.2f s  square(%ld): started, sleeping 1 s\n", now(), (long)n);
    int r = green_sleep(1.0);
    if (r < 0) {
        return green_fail(r);
    }
    printf("%5.2f s  square(%ld): done\n", now(), (long)n);
    return (void *)(n * n);
}

int main(void)
{
    void *const args[] = { (void *)2, (void *)3, (void *)4 };
    enum { N = sizeof(args) / sizeof(args[0]) };
    green_outcome_t out[N];
    int ok = 1;

    t0 = 0;
    t0 = now();
    printf("concurrently, with green_gather_run:\n");
    int r = green_gather_run(square, args, N, GREEN_FOREVER, 0, out);
    if (r < 0) {
        fprintf(stderr, "green_gather_run: %s\n", strerror(-r));
        return 1;
    }
    double concurrent = now();
    for (size_t i = 0; i < N; i++) {
        long n = (long)(intptr_t)args[i];
        long v = (long)(intptr_t)out[i].value;
        printf("  result %zu: square(%ld) = %ld (%s)\n", i, n, v,
               green_task_status_name(out[i].status));
        if (out[i].status != GREEN_TASK_DONE || v != n * n) {
            ok = 0;
        }
    }

    printf("sequentially, one call after the other:\n");
    t0 = 0;
    t0 = now();
    for (size_t i = 0; i < N; i++) {
        long n = (long)(intptr_t)args[i];
        long v = (long)(intptr_t)square(args[i]);
        printf("  result %zu: square(%ld) = %ld\n", i, n, v);
        if (v != n * n) {
            ok = 0;
        }
    }
    double sequential = now();

    printf("concurrent: %.2f s, sequential: %.2f s\n", concurrent,
           sequential);
    if (concurrent > 1.5 || sequential < 2.9) {
        printf("FAILED: the three sleeps did not overlap\n");
        ok = 0;
    }
    return ok ? 0 : 1;
}
