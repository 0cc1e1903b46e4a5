/* SPDX-License-Identifier: MIT */
/* asyncio.wait and asyncio.as_completed.
 *
 * Part 1: three tasks sleep 0.5, 1 and 2 s; green_wait with a 1.5 s
 * timeout splits them into done (0.5 and 1) and pending (2), and does not
 * cancel the pending one: we do that ourselves.
 *
 * Part 2: three tasks sleep 0.3, 0.1 and 0.2 s; green_as_completed hands
 * them back in the order they finish: 0.1, 0.2, 0.3. */
#include <green.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { N = 3 };

static double t0;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t0;
}

/* Sleeps arg milliseconds and returns arg. */
static void *nap(void *arg)
{
    int r = green_sleep((double)(intptr_t)arg / 1000.0);
    return r < 0 ? green_fail(r) : arg;
}

static int spawn_naps(green_task_t *t[N], const long ms[N])
{
    for (int i = 0; i < N; i++) {
        int r = green_spawn(&t[i], nap, (void *)(intptr_t)ms[i]);
        if (r < 0) {
            fprintf(stderr, "green_spawn: %s\n", strerror(-r));
            return r;
        }
    }
    return 0;
}

static long ms_of(green_task_t *t)
{
    return (long)(intptr_t)green_task_result(t);
}

int main(void)
{
    static const long part1[N] = { 500, 1000, 2000 };
    static const long part2[N] = { 300, 100, 200 };
    green_task_t *t[N], *done[N], *pending[N];
    size_t ndone, npending;
    int ok = 1;

    t0 = 0;
    t0 = now();
    if (spawn_naps(t, part1) < 0) {
        return 1;
    }
    printf("%5.2f s  wait for naps of 500, 1000, 2000 ms, timeout 1.5 s\n",
           now());
    int r = green_wait(t, N, 1.5, GREEN_ALL_COMPLETED, done, &ndone, pending,
                       &npending);
    printf("%5.2f s  green_wait: %s\n", now(),
           r == -ETIMEDOUT ? "-ETIMEDOUT, the timeout came first"
                           : r < 0 ? strerror(-r) : "all done");
    if (r != -ETIMEDOUT) {
        ok = 0;
    }
    for (size_t i = 0; i < ndone; i++) {
        printf("          done:    the %ld ms nap\n", ms_of(done[i]));
    }
    for (size_t i = 0; i < npending; i++) {
        printf("          pending: a task still %s\n",
               green_task_status_name(green_task_status(pending[i])));
    }
    if (ndone != 2 || npending != 1 || pending[0] != t[2] ||
        ms_of(done[0]) != 500 || ms_of(done[1]) != 1000) {
        ok = 0;
    }
    for (size_t i = 0; i < npending; i++) {
        if ((r = green_kill(pending[i])) < 0) {
            fprintf(stderr, "green_kill: %s\n", strerror(-r));
            return 1;
        }
    }
    if ((r = green_joinall(t, N, GREEN_FOREVER)) < 0) {
        fprintf(stderr, "green_joinall: %s\n", strerror(-r));
        return 1;
    }
    printf("%5.2f s  killed the pending one: %s\n", now(),
           green_task_status_name(green_task_status(t[2])));
    for (int i = 0; i < N; i++) {
        green_task_release(t[i]);
    }

    t0 = 0;
    t0 = now();
    if (spawn_naps(t, part2) < 0) {
        return 1;
    }
    printf("%5.2f s  as_completed over naps of 300, 100, 200 ms\n", now());
    green_as_completed_t *it;
    if ((r = green_as_completed_new(&it, t, N, 5.0)) < 0) {
        fprintf(stderr, "green_as_completed_new: %s\n", strerror(-r));
        return 1;
    }
    long last = 0;
    int count = 0;
    green_task_t *next;
    while ((r = green_as_completed_next(it, &next)) == 0) {
        long ms = ms_of(next);
        printf("%5.2f s  finished: the %ld ms nap\n", now(), ms);
        if (ms < last) {
            ok = 0;
        }
        last = ms;
        count++;
    }
    if (r != -ENOENT) {
        fprintf(stderr, "green_as_completed_next: %s\n", strerror(-r));
        ok = 0;
    }
    green_as_completed_free(it);
    for (int i = 0; i < N; i++) {
        green_task_release(t[i]);
    }
    if (count != N) {
        ok = 0;
    }
    printf("%s\n", ok ? "ok" : "FAILED: not the expected split or order");
    return ok ? 0 : 1;
}
