/* SPDX-License-Identifier: MIT */
/* Two tasks that sleep 2 s and 1 s, spawned together and joined: they
 * sleep at the same time, so the whole run takes about 2 s, not 3. */
#include <green.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double t0;

static void *sleeper(void *arg)
{
    intptr_t seconds = (intptr_t)arg;
    printf("%5.2f s  task %s: sleeping %ld s\n", now() - t0,
           greenlet_name(green_task_greenlet(green_current())),
           (long)seconds);
    green_sleep((double)seconds);
    printf("%5.2f s  task %s: awake\n", now() - t0,
           greenlet_name(green_task_greenlet(green_current())));
    return (void *)(seconds * 10);
}

int main(void)
{
    green_task_t *a, *b;
    t0 = now();
    green_spawn_opts_t oa = { .name = "A" }, ob = { .name = "B" };
    if (green_spawn_ex(&a, sleeper, (void *)(intptr_t)2, &oa) < 0 ||
        green_spawn_ex(&b, sleeper, (void *)(intptr_t)1, &ob) < 0) {
        fprintf(stderr, "spawn failed\n");
        return 1;
    }
    void *ra, *rb;
    int r = green_join(a, GREEN_FOREVER, &ra);
    if (r == 0) {
        r = green_join(b, GREEN_FOREVER, &rb);
    }
    if (r < 0) {
        fprintf(stderr, "join: %s\n", strerror(-r));
        return 1;
    }
    double took = now() - t0;
    printf("%5.2f s  both joined: results %ld and %ld, %s\n", took,
           (long)(intptr_t)ra, (long)(intptr_t)rb,
           took < 2.5 ? "concurrently (2 s, not 3 s)" : "NOT concurrently");
    green_task_release(a);
    green_task_release(b);
    return took < 2.5 ? 0 : 1;
}
