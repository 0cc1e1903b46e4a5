/* SPDX-License-Identifier: MIT */
/* A future with done-callbacks, asyncio's
 *
 *     fut.add_done_callback(functools.partial(print_result, 123))
 *
 * The extra argument rides in the callback's userdata. Another task sets
 * the future after 0.5 s: the waiter wakes and the callbacks run, in the
 * order they were added. A callback added once the future is done runs at
 * once, inside the add call. */
#include <green.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int calls; /* callbacks run so far */

/* The partial: `extra` is the bound argument, f the completed future. */
static void print_result(green_future_t *f, void *userdata)
{
    long extra = (long)(intptr_t)userdata;
    calls++;
    printf("  callback(extra=%ld): future done, result \"%s\"\n", extra,
           (const char *)green_future_result(f));
}

/* Sets the future after a while: the "other task" of the asyncio demo. */
static void *setter(void *arg)
{
    green_future_t *f = arg;
    printf("setter: working for 0.5 s\n");
    int r = green_sleep(0.5);
    if (r < 0) {
        return green_fail(r);
    }
    printf("setter: set_result(\"hello\")\n");
    if ((r = green_future_set_result(f, "hello")) < 0) {
        return green_fail(r);
    }
    printf("setter: returned from set_result (%d callbacks ran)\n", calls);
    return NULL;
}

static int check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", what, strerror(-r));
    }
    return r;
}

int main(void)
{
    green_future_t *f;
    green_task_t *t;
    int ok = 1;

    if (check(green_future_new(&f), "green_future_new") < 0 ||
        check(green_future_add_done_callback(f, print_result, (void *)123),
              "add_done_callback") < 0 ||
        check(green_future_add_done_callback(f, print_result, (void *)7),
              "add_done_callback") < 0 ||
        check(green_spawn(&t, setter, f), "green_spawn") < 0) {
        return 1;
    }
    printf("main: two callbacks added (extra=123, extra=7), waiting\n");
    void *value;
    if (check(green_future_get(f, 5.0, &value), "green_future_get") < 0) {
        return 1;
    }
    printf("main: future gave \"%s\"; %d callbacks had run\n",
           (const char *)value, calls);
    if (calls != 2 || strcmp(value, "hello") != 0) {
        ok = 0;
    }

    printf("main: adding a callback (extra=456) to the done future\n");
    if (check(green_future_add_done_callback(f, print_result, (void *)456),
              "add_done_callback") < 0) {
        return 1;
    }
    printf("main: add returned, %d callbacks have run\n", calls);
    if (calls != 3) {
        ok = 0;
    }

    if (check(green_join(t, GREEN_FOREVER, NULL), "green_join") < 0) {
        return 1;
    }
    if (green_task_status(t) != GREEN_TASK_DONE) {
        fprintf(stderr, "setter: %s\n", strerror(-green_task_error(t)));
        ok = 0;
    }
    green_task_release(t);
    if (check(green_future_free(f), "green_future_free") < 0) {
        return 1;
    }
    printf("%s\n", ok ? "ok" : "FAILED: callbacks did not run as expected");
    return ok ? 0 : 1;
}
