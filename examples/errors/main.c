/* SPDX-License-Identifier: MIT */
/* asyncio.gather(..., return_exceptions=True): every task's outcome, value
 * or error, in argument order. One task succeeds, one divides by zero
 * (reported as an error code, -EDOM), and one sleeps for a minute until
 * another task cancels it after 2 s.
 *
 * Then the same trio with GREEN_GATHER_FAIL_FAST, plain asyncio.gather:
 * the first error comes back at once and the task still running is
 * cancelled. */
#include <green.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static void *succeed(void *arg)
{
    int r = green_sleep(0.1);
    return r < 0 ? green_fail(r) : (void *)42;
}

static void *divide_by_zero(void *arg)
{
    long a = 1, b = 0;
    int r = green_sleep(0.2);
    if (r < 0) {
        return green_fail(r);
    }
    if (b == 0) {
        return green_fail(-EDOM); /* ZeroDivisionError */
    }
    return (void *)(intptr_t)(a / b);
}

static void *sleep_long(void *arg)
{
    int r = green_sleep(60);
    printf("  sleep_long: woke with %s, cleaning up\n", strerror(-r));
    return r < 0 ? green_fail(r) : NULL;
}

static void *killer(void *arg)
{
    int r = green_sleep(2.0);
    if (r < 0) {
        return green_fail(r);
    }
    printf("  killer: 2 s passed, cancelling sleep_long\n");
    r = green_kill(arg);
    return r < 0 ? green_fail(r) : NULL;
}

static const char *const names[] = { "succeed", "divide_by_zero",
                                     "sleep_long" };
static const green_fn_t fns[] = { succeed, divide_by_zero, sleep_long };
enum { N = 3 };

/* Spawns the trio, gathers it with `flags`, prints every slot. */
static int run(int flags, green_outcome_t out[N])
{
    green_task_t *t[N + 1];
    int r = 0;
    for (int i = 0; i < N && r == 0; i++) {
        r = green_spawn(&t[i], fns[i], NULL);
    }
    if (r == 0) {
        r = green_spawn(&t[N], killer, t[2]);
    }
    if (r < 0) {
        fprintf(stderr, "green_spawn: %s\n", strerror(-r));
        return r;
    }
    int g = green_gather(t, N, 10.0, flags, out);
    printf("  green_gather returned %d (%s)\n", g,
           g < 0 ? strerror(-g) : "ok");
    for (int i = 0; i < N; i++) {
        printf("  slot %d %-15s status %-9s value %-4ld error %s\n", i,
               names[i], green_task_status_name(out[i].status),
               (long)(intptr_t)out[i].value,
               out[i].error ? strerror(-out[i].error) : "-");
    }
    r = green_kill(t[N]); /* the killer, if it is still waiting */
    if ((r < 0 && r != -ESRCH) ||
        (r = green_joinall(t, N + 1, GREEN_FOREVER)) < 0) {
        fprintf(stderr, "green_joinall: %s\n", strerror(-r));
        return r;
    }
    for (int i = 0; i <= N; i++) {
        green_task_release(t[i]);
    }
    return g;
}

int main(void)
{
    green_outcome_t out[N];
    int ok = 1;

    printf("gather, every outcome (return_exceptions=True):\n");
    int r = run(0, out);
    if (r != 0 || out[0].status != GREEN_TASK_DONE ||
        out[0].value != (void *)42 || out[1].status != GREEN_TASK_FAILED ||
        out[1].error != -EDOM || out[2].status != GREEN_TASK_CANCELLED ||
        out[2].error != -ECANCELED) {
        ok = 0;
    }

    printf("gather, fail fast (the first error wins):\n");
    r = run(GREEN_GATHER_FAIL_FAST, out);
    if (r != -EDOM || out[0].status != GREEN_TASK_DONE ||
        out[1].error != -EDOM || out[2].status != GREEN_TASK_CANCELLED) {
        ok = 0;
    }
    printf("%s\n", ok ? "ok" : "FAILED: unexpected outcomes");
    return ok ? 0 : 1;
}
