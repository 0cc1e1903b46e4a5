/* SPDX-License-Identifier: MIT */
/* The timeout suite (include/green/timeout.h): scopes that cap every wait
 * of the greenlet that opened them, at any call depth (green_sleep,
 * green_event_wait, green_queue_get, green_join, green_future_wait,
 * green_channel_recv, green_task_wait); nesting (the nearest deadline
 * wins, an inner scope cannot extend an outer one); what
 * green_timeout_cancel reports; scopes belonging to one greenlet only;
 * kills inside scopes; green_with_timeout; bad input.
 *
 * Task bodies never call ck_assert (see test_task.c): they record what
 * they saw and the root checks. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <check.h>

#include <green.h>

#include "checks.h"
#include "helpers.h"
#include "suites.h"

/* Closes every scope a failed test may have left on the root, so that
 * under CK_FORK=no one failure does not spill into the next tests. */
static void no_scopes_left(void)
{
    int n = 0;
    while (green_timeout_cancel() != -ENOENT) {
        n++;
    }
    ck_assert_msg(n == 0, "%d scope(s) left open", n);
}

/* --- blocking calls at any depth -------------------------------------- */

enum blocker {
    B_SLEEP,
    B_EVENT,
    B_QUEUE,
    B_JOIN,
    B_FUTURE,
    B_CHANNEL,
    B_TASK_WAIT,
    NBLOCKERS
};

static const char *const blocker_names[NBLOCKERS] = {
    "green_sleep", "green_event_wait", "green_queue_get", "green_join",
    "green_future_wait", "green_channel_recv", "green_task_wait"};

/* Things nobody will ever signal while a test runs. */
static green_event_t *ev;
static green_queue_t *queue;
static green_future_t *fut;
static green_channel_t *chan;
static green_task_t *sleeper;

static void *sleeper_body(void *arg)
{
    green_sleep(GREEN_FOREVER);
    return arg;
}

static void make_objects(void)
{
    ck_assert_int_eq(green_event_new(&ev), 0);
    ck_assert_int_eq(green_queue_new(&queue, GREEN_QUEUE_FIFO, 0, NULL), 0);
    ck_assert_int_eq(green_future_new(&fut), 0);
    ck_assert_int_eq(green_channel_new(&chan), 0);
    ck_assert_int_eq(green_spawn(&sleeper, sleeper_body, NULL), 0);
}

static void free_objects(void)
{
    ck_assert_int_eq(green_event_free(ev), 0);
    ck_assert_int_eq(green_queue_free(queue), 0);
    ck_assert_int_eq(green_future_free(fut), 0);
    ck_assert_int_eq(green_channel_free(chan), 0);
    ck_assert_int_eq(green_kill(sleeper), 0);
    join_release(sleeper);
}

/* Blocks forever, as far as the call itself goes. */
static int block(enum blocker b)
{
    switch (b) {
    case B_SLEEP:
        return green_sleep(GREEN_FOREVER);
    case B_EVENT:
        return green_event_wait(ev, GREEN_FOREVER);
    case B_QUEUE:
        return green_queue_get(queue, GREEN_FOREVER, NULL);
    case B_JOIN:
        return green_join(sleeper, GREEN_FOREVER, NULL);
    case B_FUTURE:
        return green_future_wait(fut, GREEN_FOREVER);
    case B_CHANNEL:
        return green_channel_recv(chan, GREEN_FOREVER, NULL);
    case B_TASK_WAIT:
        return green_task_wait(sleeper, GREEN_FOREVER);
    default:
        return -EINVAL;
    }
}

/* Blocks `depth` calls down, the way library code calls library code. */
static __attribute__((noinline)) int nested(int depth, enum blocker b)
{
    volatile int r = depth == 0 ? block(b) : nested(depth - 1, b);
    return r;
}

START_TEST(scope_caps_every_blocking_call)
{
    make_objects();
    for (int b = 0; b < NBLOCKERS; b++) {
        ck_assert_int_eq(green_timeout_start(0.05), 0);
        double t0 = green_test_now();
        int r = nested(3, (enum blocker)b);
        double took = green_test_now() - t0;
        ck_assert_msg(r == -ETIMEDOUT, "%s in a scope returned %d",
                      blocker_names[b], r);
        ck_assert_msg(took >= 0.04 && took < slow(1.0),
                      "%s took %.3f s in a 0.05 s scope", blocker_names[b],
                      took);
        ck_assert(green_timeout_expired());
        ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);
        ck_assert(!green_timeout_expired());
    }
    /* The join that timed out did not count: the task is still there. */
    ck_assert(!green_task_done(sleeper));
    free_objects();
    no_scopes_left();
}
END_TEST

START_TEST(expired_scope_fails_at_once)
{
    /* A scope of 0 has expired when it opens: blocking calls inside fail
     * at once, without waiting. */
    make_objects();
    for (int b = 0; b < NBLOCKERS; b++) {
        ck_assert_int_eq(green_timeout_start(0.0), 0);
        double t0 = green_test_now();
        int r = nested(1, (enum blocker)b);
        ck_assert_msg(r == -ETIMEDOUT, "%s in an expired scope returned %d",
                      blocker_names[b], r);
        check_elapsed(t0, 0.0, slow(0.5));
        ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);
    }
    free_objects();
    no_scopes_left();
}
END_TEST

START_TEST(short_wait_in_long_scope)
{
    /* A call's own, shorter timeout is its own business: sleep succeeds,
     * waits time out, and the scope has not expired. */
    make_objects();
    ck_assert_int_eq(green_timeout_start(1.0), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_sleep(0.05), 0);
    check_elapsed(t0, 0.04, slow(0.9));
    ck_assert(!green_timeout_expired());
    ck_assert_int_eq(green_event_wait(ev, 0.05), -ETIMEDOUT);
    ck_assert_int_eq(green_queue_get(queue, 0.05, NULL), -ETIMEDOUT);
    ck_assert(!green_timeout_expired());
    ck_assert_int_eq(green_timeout_cancel(), 0);
    free_objects();
    no_scopes_left();
}
END_TEST

static void *set_soon_body(void *arg)
{
    green_sleep(0.02);
    green_event_set(arg);
    return NULL;
}

START_TEST(wait_that_succeeds_in_scope)
{
    green_event_t *e;
    ck_assert_int_eq(green_event_new(&e), 0);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, set_soon_body, e), 0);
    ck_assert_int_eq(green_timeout_start(slow(2.0)), 0);
    ck_assert_int_eq(green_event_wait(e, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_timeout_cancel(), 0);
    join_release(t);
    ck_assert_int_eq(green_event_free(e), 0);
    no_scopes_left();
}
END_TEST

/* --- cancel and expired ------------------------------------------------- */

START_TEST(cancel_reports_expiry)
{
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);
    ck_assert(!green_timeout_expired());

    /* Not expired. */
    ck_assert_int_eq(green_timeout_start(1.0), 0);
    ck_assert(!green_timeout_expired());
    ck_assert_int_eq(green_timeout_cancel(), 0);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);

    /* Expired with nothing blocking in it: still expired. */
    ck_assert_int_eq(green_timeout_start(0.02), 0);
    double t0 = green_test_now();
    while (green_test_now() - t0 < 0.05) {
        /* busy, no wait */
    }
    ck_assert(green_timeout_expired());
    ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);

    /* No deadline of its own. */
    ck_assert_int_eq(green_timeout_start(GREEN_FOREVER), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert(!green_timeout_expired());
    ck_assert_int_eq(green_timeout_cancel(), 0);
}
END_TEST

START_TEST(cancelled_scope_stops_capping)
{
    ck_assert_int_eq(green_timeout_start(0.03), 0);
    ck_assert_int_eq(green_sleep(1.0), -ETIMEDOUT);
    ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);
    /* Closed: later waits run their own full time. */
    double t0 = green_test_now();
    ck_assert_int_eq(green_sleep(0.05), 0);
    check_elapsed(t0, 0.04, slow(1.0));
    green_event_t *e;
    ck_assert_int_eq(green_event_new(&e), 0);
    t0 = green_test_now();
    ck_assert_int_eq(green_event_wait(e, 0.05), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_int_eq(green_event_free(e), 0);
    no_scopes_left();
}
END_TEST

/* --- nesting ---------------------------------------------------------- */

START_TEST(inner_nearer_deadline_wins)
{
    ck_assert_int_eq(green_timeout_start(slow(2.0)), 0);
    ck_assert_int_eq(green_timeout_start(0.05), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_sleep(GREEN_FOREVER), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert(green_timeout_expired());
    ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);
    /* The outer scope has not expired: waits in it work again. */
    ck_assert(!green_timeout_expired());
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(green_timeout_cancel(), 0);
    no_scopes_left();
}
END_TEST

START_TEST(inner_cannot_extend_outer)
{
    ck_assert_int_eq(green_timeout_start(0.05), 0);
    ck_assert_int_eq(green_timeout_start(5.0), 0);
    ck_assert_int_eq(green_timeout_start(GREEN_FOREVER), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_sleep(GREEN_FOREVER), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    /* Whatever the inner scopes report, the outer one expired. */
    (void)green_timeout_cancel();
    (void)green_timeout_cancel();
    ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);
}
END_TEST

START_TEST(scopes_nest_deeply)
{
    enum { DEPTH = 100 };
    /* Deadlines 1.01, 1.00, ... 0.02 s: the innermost caps. */
    for (int i = 0; i < DEPTH; i++) {
        ck_assert_int_eq(green_timeout_start(0.02 + (DEPTH - 1 - i) * 0.01),
                         0);
    }
    double t0 = green_test_now();
    ck_assert_int_eq(green_sleep(GREEN_FOREVER), -ETIMEDOUT);
    check_elapsed(t0, 0.0, slow(0.5));
    int closed = 0;
    while (green_timeout_cancel() != -ENOENT) {
        closed++;
    }
    ck_assert_int_eq(closed, DEPTH);
}
END_TEST

/* --- scopes belong to their greenlet ---------------------------------- */

struct scoped {
    double scope;      /* the task's own scope, or < 0 for none */
    double sleep;      /* what it sleeps */
    int sleep_rc;
    int cancel_rc;
    double took;
};

static void *scoped_body(void *arg)
{
    struct scoped *s = arg;
    if (s->scope >= 0.0) {
        green_timeout_start(s->scope);
    }
    double t0 = green_test_now();
    s->sleep_rc = green_sleep(s->sleep);
    s->took = green_test_now() - t0;
    s->cancel_rc = green_timeout_cancel();
    return NULL;
}

START_TEST(scope_is_per_greenlet)
{
    /* The root's scope does not reach a task, and a task's scope does not
     * reach the root. */
    static struct scoped free_task, bound_task;
    free_task = (struct scoped){-1.0, 0.15, 1, 1, 0.0};
    bound_task = (struct scoped){0.03, 5.0, 1, 1, 0.0};
    green_task_t *a, *b;
    ck_assert_int_eq(green_spawn(&a, scoped_body, &free_task), 0);
    ck_assert_int_eq(green_spawn(&b, scoped_body, &bound_task), 0);

    ck_assert_int_eq(green_timeout_start(0.05), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_join(a, GREEN_FOREVER, NULL), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);

    join_release(a);
    ck_assert_int_eq(free_task.sleep_rc, 0);
    ck_assert_double_ge(free_task.took, 0.14);
    ck_assert_int_eq(free_task.cancel_rc, -ENOENT);

    join_release(b);
    ck_assert_int_eq(bound_task.sleep_rc, -ETIMEDOUT);
    ck_assert_double_lt(bound_task.took, slow(1.0));
    ck_assert_int_eq(bound_task.cancel_rc, -ETIMEDOUT);

    /* The task's scope ended with it: the root has none. */
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);
    double t1 = green_test_now();
    ck_assert_int_eq(green_sleep(0.05), 0);
    check_elapsed(t1, 0.04, slow(1.0));
}
END_TEST

static void *leave_scopes_open_body(void *arg)
{
    green_timeout_start(5.0);
    green_timeout_start(1.0);
    green_timeout_start(GREEN_FOREVER);
    return green_sleep(0.01) == 0 ? arg : NULL;
}

START_TEST(task_ends_with_scopes_open)
{
    /* Scopes left open by a task that ends are its own to drop (valgrind
     * checks that nothing leaks). */
    static int mark;
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, leave_scopes_open_body, &mark), 0);
    void *res = NULL;
    ck_assert_int_eq(green_join(t, slow(2.0), &res), 0);
    ck_assert_ptr_eq(res, &mark);
    green_task_release(t);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);
}
END_TEST

struct killed {
    int wait_rc;
    int cancel_rc;
    int later_rc;
};

static void *wait_in_scope_body(void *arg)
{
    struct killed *k = arg;
    green_timeout_start(5.0);
    k->wait_rc = green_event_wait(ev, GREEN_FOREVER);
    k->later_rc = green_sleep(0.01);
    k->cancel_rc = green_timeout_cancel();
    return NULL;
}

START_TEST(kill_inside_scope)
{
    /* A kill is a kill, not a timeout, and the scope is still there to
     * close (not expired). */
    static struct killed k;
    k = (struct killed){1, 1, 1};
    ck_assert_int_eq(green_event_new(&ev), 0);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, wait_in_scope_body, &k), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(green_kill(t), 0);
    join_release(t);
    ck_assert_int_eq(k.wait_rc, -ECANCELED);
    ck_assert_int_eq(k.later_rc, -ECANCELED);
    ck_assert_int_eq(k.cancel_rc, 0);
    ck_assert_int_eq(green_event_free(ev), 0);
}
END_TEST

static void *no_scope_thread(void *arg)
{
    int *r = arg;
    /* A thread that never touched libgreen. */
    r[0] = green_timeout_expired();
    r[1] = green_timeout_cancel();
    /* Its root greenlet can open a scope like any other. */
    r[2] = green_timeout_start(0.03);
    r[3] = green_sleep(GREEN_FOREVER);
    r[4] = green_timeout_cancel();
    r[5] = green_timeout_cancel();
    return NULL;
}

START_TEST(scope_in_fresh_thread)
{
    int r[6] = {9, 9, 9, 9, 9, 9};
    ck_assert_ptr_null(green_test_in_thread(no_scope_thread, r));
    ck_assert_int_eq(r[0], 0);
    ck_assert_int_eq(r[1], -ENOENT);
    ck_assert_int_eq(r[2], 0);
    ck_assert_int_eq(r[3], -ETIMEDOUT);
    ck_assert_int_eq(r[4], -ETIMEDOUT);
    ck_assert_int_eq(r[5], -ENOENT);
}
END_TEST

static void *leave_root_scopes_thread(void *arg)
{
    int *r = arg;
    r[0] = green_timeout_start(5.0);
    r[1] = green_timeout_start(GREEN_FOREVER);
    r[2] = green_sleep(0.01);
    return NULL; /* the thread ends with both scopes open */
}

START_TEST(thread_ends_with_scopes_open)
{
    /* Scopes a thread's root greenlet left open end with the thread, as a
     * task's end with the task (valgrind and LeakSanitizer check that
     * nothing leaks). */
    int r[3] = {9, 9, 9};
    ck_assert_ptr_null(green_test_in_thread(leave_root_scopes_thread, r));
    ck_assert_int_eq(r[0], 0);
    ck_assert_int_eq(r[1], 0);
    ck_assert_int_eq(r[2], 0);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT); /* not ours */
}
END_TEST

/* --- green_with_timeout ------------------------------------------------- */

static int fn_calls;

static void *sleep_fn(void *arg)
{
    fn_calls++;
    return (void *)(intptr_t)green_sleep(*(double *)arg);
}

START_TEST(with_timeout_expires)
{
    static double secs = 5.0;
    fn_calls = 0;
    void *res = (void *)1;
    double t0 = green_test_now();
    ck_assert_int_eq(green_with_timeout(0.05, sleep_fn, &secs, &res),
                     -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_int_eq(fn_calls, 1);
    /* fn's return value is stored even so. */
    ck_assert_int_eq((int)(intptr_t)res, -ETIMEDOUT);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT); /* scope closed */
    ck_assert_int_eq(green_with_timeout(0.05, sleep_fn, &secs, NULL),
                     -ETIMEDOUT);
    ck_assert_int_eq(fn_calls, 2);
    no_scopes_left();
}
END_TEST

START_TEST(with_timeout_in_time)
{
    static double secs = 0.01;
    fn_calls = 0;
    void *res = (void *)1;
    ck_assert_int_eq(green_with_timeout(slow(2.0), sleep_fn, &secs, &res), 0);
    ck_assert_int_eq(fn_calls, 1);
    ck_assert_ptr_null(res); /* green_sleep returned 0 */
    ck_assert_int_eq(green_with_timeout(GREEN_FOREVER, sleep_fn, &secs,
                                        NULL), 0);
    ck_assert_int_eq(fn_calls, 2);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);
}
END_TEST

START_TEST(with_timeout_inside_scope)
{
    /* green_with_timeout is a scope like the others: an outer, nearer
     * deadline caps it. */
    static double secs = 5.0;
    fn_calls = 0;
    ck_assert_int_eq(green_timeout_start(0.05), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_with_timeout(5.0, sleep_fn, &secs, NULL),
                     -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);
}
END_TEST

static void *with_timeout_task(void *arg)
{
    static double secs = 5.0;
    return (void *)(intptr_t)green_with_timeout(0.03, sleep_fn, &secs, NULL);
}

START_TEST(with_timeout_in_task)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, with_timeout_task, NULL), 0);
    void *res = NULL;
    ck_assert_int_eq(green_join(t, slow(2.0), &res), 0);
    ck_assert_int_eq((int)(intptr_t)res, -ETIMEDOUT);
    green_task_release(t);
}
END_TEST

/* --- bad input -------------------------------------------------------- */

START_TEST(bad_input)
{
    static double secs = 0.0;
    ck_assert_int_eq(green_timeout_start(-1.0), -EINVAL);
    ck_assert_int_eq(green_timeout_start(-1e-9), -EINVAL);
    ck_assert_int_eq(green_timeout_start(NAN), -EINVAL);
    ck_assert_int_eq(green_timeout_start(-INFINITY), -EINVAL);
    /* None of them opened a scope. */
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);
    ck_assert(!green_timeout_expired());

    fn_calls = 0;
    void *res = (void *)1;
    ck_assert_int_eq(green_with_timeout(1.0, NULL, NULL, &res), -EINVAL);
    ck_assert_int_eq(green_with_timeout(-1.0, sleep_fn, &secs, &res),
                     -EINVAL);
    ck_assert_int_eq(green_with_timeout(NAN, sleep_fn, &secs, &res), -EINVAL);
    ck_assert_int_eq(fn_calls, 0); /* fn never ran */
    ck_assert_ptr_eq(res, (void *)1);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);

    /* A bad start inside a good scope leaves that scope alone. */
    ck_assert_int_eq(green_timeout_start(1.0), 0);
    ck_assert_int_eq(green_timeout_start(NAN), -EINVAL);
    ck_assert_int_eq(green_timeout_cancel(), 0);
    ck_assert_int_eq(green_timeout_cancel(), -ENOENT);
}
END_TEST

/* --- suite ------------------------------------------------------------ */

static TCase *tcase(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    return tc;
}

Suite *green_test_timeout_suite(void)
{
    Suite *s = suite_create("timeout");

    TCase *tc = tcase("scope", 10);
    tcase_add_test(tc, scope_caps_every_blocking_call);
    tcase_add_test(tc, expired_scope_fails_at_once);
    tcase_add_test(tc, short_wait_in_long_scope);
    tcase_add_test(tc, wait_that_succeeds_in_scope);
    tcase_add_test(tc, cancel_reports_expiry);
    tcase_add_test(tc, cancelled_scope_stops_capping);
    suite_add_tcase(s, tc);

    tc = tcase("nesting", 10);
    tcase_add_test(tc, inner_nearer_deadline_wins);
    tcase_add_test(tc, inner_cannot_extend_outer);
    tcase_add_test(tc, scopes_nest_deeply);
    suite_add_tcase(s, tc);

    tc = tcase("greenlets", 10);
    tcase_add_test(tc, scope_is_per_greenlet);
    tcase_add_test(tc, task_ends_with_scopes_open);
    tcase_add_test(tc, kill_inside_scope);
    tcase_add_test(tc, scope_in_fresh_thread);
    tcase_add_test(tc, thread_ends_with_scopes_open);
    suite_add_tcase(s, tc);

    tc = tcase("with_timeout", 10);
    tcase_add_test(tc, with_timeout_expires);
    tcase_add_test(tc, with_timeout_in_time);
    tcase_add_test(tc, with_timeout_inside_scope);
    tcase_add_test(tc, with_timeout_in_task);
    tcase_add_test(tc, bad_input);
    suite_add_tcase(s, tc);
    return s;
}
