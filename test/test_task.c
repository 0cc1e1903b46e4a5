/* SPDX-License-Identifier: MIT */
/* The public task API (include/green/task.h): spawn, join, joinall, sleep,
 * kill, link, run, outcomes, bad input, running out of memory, and load.
 *
 * Task bodies never call ck_assert: under CK_FORK=no (the valgrind setup) a
 * failed assert longjmps, and a longjmp from a greenlet stack to the root
 * stack would wreck the run. Bodies record what they saw; the root checks. */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "crosswait.h"
#include "internal.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

/* Slack for comparing two readings of CLOCK_MONOTONIC through doubles. */
#define CLOCK_EPS 1e-4

static void join_ok(green_task_t *t)
{
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    green_task_release(t);
}

/* A body that records that it ran and returns its argument. */
static int ran;

static void *mark_body(void *arg)
{
    ran++;
    return arg;
}

static void *sleep_forever_body(void *arg)
{
    int *ret = arg;
    int r = green_sleep(GREEN_FOREVER);
    if (ret != NULL) {
        *ret = r;
    }
    return NULL;
}

/* --- spawn and join --------------------------------------------------- */

START_TEST(join_returns_result)
{
    static int value;
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, mark_body, &value), 0);
    void *res = NULL;
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, &res), 0);
    ck_assert_ptr_eq(res, &value);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_DONE);
    ck_assert_int_eq(green_task_error(t), 0);
    ck_assert_ptr_eq(green_task_result(t), &value);
    ck_assert(green_task_done(t));
    green_task_release(t);
}
END_TEST

struct inside {
    green_task_t *self;            /* green_current() inside */
    green_task_status_t status;    /* own status inside */
    int done;                      /* green_task_done() inside */
    int error;                     /* green_task_error() inside */
};

static void *inside_body(void *arg)
{
    struct inside *in = arg;
    in->self = green_current();
    in->status = green_task_status(in->self);
    in->done = green_task_done(in->self);
    in->error = green_task_error(in->self);
    green_sleep(0.01);
    return in;
}

START_TEST(status_progression)
{
    struct inside in = {.status = -1, .done = -1, .error = -1};
    ck_assert_ptr_null(green_current());
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, inside_body, &in), 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_PENDING);
    ck_assert(!green_task_done(t));

    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_ptr_eq(in.self, t);
    ck_assert_int_eq(in.status, GREEN_TASK_RUNNING);
    ck_assert_int_eq(in.done, 0);
    ck_assert_int_eq(in.error, 0);
    /* Blocked in its sleep, it is still RUNNING from outside. */
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_RUNNING);
    ck_assert_ptr_null(green_task_result(t));

    join_ok(t);
    ck_assert_ptr_null(green_current());
}
END_TEST

START_TEST(status_names)
{
    ck_assert_str_eq(green_task_status_name(GREEN_TASK_PENDING), "pending");
    ck_assert_str_eq(green_task_status_name(GREEN_TASK_RUNNING), "running");
    ck_assert_str_eq(green_task_status_name(GREEN_TASK_DONE), "done");
    const char *f = green_task_status_name(GREEN_TASK_FAILED);
    const char *c = green_task_status_name(GREEN_TASK_CANCELLED);
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(c);
    ck_assert_str_ne(f, c);
    ck_assert_str_ne(f, "done");
}
END_TEST

static void *release_self_later(void *arg);

START_TEST(detached_spawn_frees_itself)
{
    /* Warm the pools first so that the comparison below sees only what the
     * detached tasks themselves keep. */
    ran = 0;
    ck_assert_int_eq(green_spawn(NULL, mark_body, NULL), 0);
    ck_assert_int_eq(green_run(), 0);
    size_t stacks = green__stack_in_use();

    for (int i = 0; i < 100; i++) {
        ck_assert_int_eq(green_spawn(NULL, mark_body, NULL), 0);
    }
    ck_assert_int_eq(green_test_live_tasks(), 100);
    ck_assert_int_eq(green_run(), 0);
    ck_assert_int_eq(ran, 101);
    ck_assert_int_eq(green_test_live_tasks(), 0);
    ck_assert_uint_eq(green__stack_in_use(), stacks);
}
END_TEST

/* Spawns n detached tasks and runs them; returns how many spawns or runs
 * failed. No ck_assert in here: a passing one still does I/O and may
 * allocate, which the caller's heap measurement would count. */
static int detached_round(int n)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        bad += green_spawn(NULL, release_self_later, NULL) != 0;
    }
    return bad + (green_run() != 0);
}

START_TEST(detached_spawn_leaks_nothing)
{
    /* Nobody holds a handle to a detached task, so only the heap can show
     * whether it was freed: 3,000 leaked tasks would keep ~0.5 MiB, while
     * libev may still grow its own arrays by a few KiB. (Under ASan
     * mallinfo2 reads 0; ASan's own leak check covers that build.) */
    ck_assert_int_eq(detached_round(1000), 0); /* warm up pools and libev */
    size_t before = mallinfo2().uordblks;
    int bad = detached_round(1000) + detached_round(1000) +
              detached_round(1000);
    size_t after = mallinfo2().uordblks;
    ck_assert_int_eq(bad, 0);
    ck_assert_msg(after < before + (64 << 10),
                  "heap grew from %zu to %zu bytes", before, after);
}
END_TEST

static void *release_self_later(void *arg)
{
    green_sleep(0.02);
    return mark_body(arg);
}

START_TEST(release_running_detaches)
{
    ran = 0;
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, release_self_later, NULL), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    green_task_release(t); /* running: it goes on alone */
    green_task_release(NULL);
    ck_assert_int_eq(green_run(), 0);
    ck_assert_int_eq(ran, 1);
    ck_assert_int_eq(green_test_live_tasks(), 0);
}
END_TEST

struct order {
    int seen[16];
    int n;
};

struct order_arg {
    struct order *o;
    int index;
};

static void *order_body(void *arg)
{
    struct order_arg *a = arg;
    a->o->seen[a->o->n++] = a->index;
    return NULL;
}

START_TEST(spawn_order_is_run_order)
{
    struct order o = {0};
    struct order_arg a[10];
    green_task_t *t[10];
    for (int i = 0; i < 10; i++) {
        a[i] = (struct order_arg){&o, i};
        ck_assert_int_eq(green_spawn(&t[i], order_body, &a[i]), 0);
    }
    /* Spawning never switches. */
    ck_assert_int_eq(o.n, 0);
    for (int i = 9; i >= 0; i--) {
        join_ok(t[i]);
    }
    ck_assert_int_eq(o.n, 10);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(o.seen[i], i);
    }
}
END_TEST

static void *sleep_arg_body(void *arg)
{
    double *s = arg;
    return (void *)(intptr_t)green_sleep(*s);
}

START_TEST(sleepers_overlap)
{
    static double d1 = 0.2, d2 = 0.1;
    green_task_t *a, *b;
    double t0 = green_test_now();
    ck_assert_int_eq(green_spawn(&a, sleep_arg_body, &d1), 0);
    ck_assert_int_eq(green_spawn(&b, sleep_arg_body, &d2), 0);
    void *ra = (void *)1, *rb = (void *)1;
    ck_assert_int_eq(green_join(a, GREEN_FOREVER, &ra), 0);
    ck_assert_int_eq(green_join(b, GREEN_FOREVER, &rb), 0);
    double el = green_test_now() - t0;
    ck_assert_ptr_null(ra);
    ck_assert_ptr_null(rb);
    ck_assert_double_ge(el, 0.2 - CLOCK_EPS);
    ck_assert_double_lt(el, 0.27 + slow(0.01)); /* serially: 0.3 s */
    green_task_release(a);
    green_task_release(b);
}
END_TEST

START_TEST(spawn_ex_name_is_copied)
{
    char name[16] = "worker-1";
    green_spawn_opts_t opts = {.name = name, .stack_size = 64 << 10};
    green_task_t *t;
    ck_assert_int_eq(green_spawn_ex(&t, mark_body, NULL, &opts), 0);
    strcpy(name, "clobbered");
    greenlet_t *g = green_task_greenlet(t);
    ck_assert_ptr_nonnull(g);
    ck_assert_str_eq(greenlet_name(g), "worker-1");
    ck_assert_uint_ge(greenlet_stack_size(g), 64 << 10);

    ck_assert_int_eq(green_task_set_name(t, "renamed"), 0);
    ck_assert_str_eq(greenlet_name(g), "renamed");
    ck_assert_int_eq(green_task_set_name(NULL, "x"), -EINVAL);
    join_ok(t);

    /* NULL options mean the defaults. */
    ck_assert_int_eq(green_spawn_ex(&t, mark_body, NULL, NULL), 0);
    join_ok(t);
}
END_TEST

/* --- spawn_later ------------------------------------------------------ */

struct later {
    double started; /* when the body began */
    int runs;
};

static void *later_body(void *arg)
{
    struct later *l = arg;
    l->started = green_test_now();
    l->runs++;
    return l;
}

START_TEST(spawn_later_waits)
{
    struct later l = {0};
    green_task_t *t;
    double t0 = green_test_now();
    ck_assert_int_eq(green_spawn_later(&t, 0.1, later_body, &l), 0);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert_int_eq(l.runs, 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_PENDING);

    void *res = NULL;
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, &res), 0);
    ck_assert_ptr_eq(res, &l);
    ck_assert_int_eq(l.runs, 1);
    ck_assert_double_ge(l.started - t0, 0.1 - CLOCK_EPS);
    ck_assert_double_lt(l.started - t0, 0.1 + slow(0.2));
    green_task_release(t);
}
END_TEST

START_TEST(spawn_later_zero_delay)
{
    struct later l = {0};
    green_task_t *t;
    ck_assert_int_eq(green_spawn_later(&t, 0, later_body, &l), 0);
    join_ok(t);
    ck_assert_int_eq(l.runs, 1);
}
END_TEST

START_TEST(spawn_later_killed_never_runs)
{
    struct later l = {0};
    green_task_t *t;
    double k = green_test_slowdown();
    ck_assert_int_eq(green_spawn_later(&t, 0.05 * k, later_body, &l), 0);
    ck_assert_int_eq(green_kill(t), 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_CANCELLED);

    /* Join returns at once: the task ended when it was killed. */
    double t0 = green_test_now();
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    ck_assert_double_lt(green_test_now() - t0, 0.04 * k);
    ck_assert_int_eq(green_task_error(t), -ECANCELED);

    /* Its timer must not fire later and start it anyway. */
    ck_assert_int_eq(green_sleep(0.1), 0);
    ck_assert_int_eq(l.runs, 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_CANCELLED);
    green_task_release(t);
}
END_TEST

START_TEST(spawn_later_forever_never_starts)
{
    struct later l = {0};
    green_task_t *t;
    ck_assert_int_eq(green_spawn_later(&t, GREEN_FOREVER, later_body, &l), 0);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert_int_eq(l.runs, 0);
    ck_assert_int_eq(green_join(t, 0.01, NULL), -ETIMEDOUT);
    ck_assert_int_eq(green_kill(t), 0);
    join_ok(t);
    ck_assert_int_eq(l.runs, 0);
}
END_TEST

static void sleep_after_killing_later(void *arg)
{
    green_test_child_deadline(8);
    green_task_t *t;
    if (green_spawn_later(&t, 5.0, mark_body, NULL) != 0 ||
        green_kill(t) != 0) {
        _exit(100);
    }
    green_task_release(t);
    double t0 = green_test_now();
    int r = green_sleep(GREEN_FOREVER);
    if (r == -EDEADLK && green_test_now() - t0 > 2.5) {
        _exit(100); /* waited for the dead task's timer */
    }
    _exit(-r & 0xff);
}

static char report[8192];

START_TEST(killed_later_leaves_no_timer)
{
    /* With the task killed, nothing could ever wake the root: its endless
     * sleep must be reported as a deadlock at once, not after the dead
     * task's 5 s timer. */
    int st = green_test_fork_capture(sleep_after_killing_later, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
}
END_TEST

static void join_never_starting(void *arg)
{
    green_test_child_deadline(5);
    green_task_t *t;
    int r = green_spawn_later(&t, GREEN_FOREVER, mark_body, NULL);
    if (r == 0) {
        r = green_join(t, GREEN_FOREVER, NULL);
    }
    _exit(-r & 0xff);
}

START_TEST(spawn_later_forever_join_deadlocks)
{
    /* A task due to start after GREEN_FOREVER never starts, so nothing
     * could ever end it: joining it is a deadlock, not a hang. */
    int st = green_test_fork_capture(join_never_starting, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
}
END_TEST

/* --- join timeouts and joinall ---------------------------------------- */

START_TEST(join_timeout_leaves_task_joinable)
{
    static double d = 0.2;
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, sleep_arg_body, &d), 0);
    double t0 = green_test_now();
    void *res = (void *)1;
    ck_assert_int_eq(green_join(t, 0.05, &res), -ETIMEDOUT);
    double el = green_test_now() - t0;
    ck_assert_double_ge(el, 0.05 * 0.9);
    ck_assert_double_lt(el, 0.15 + slow(0.02));
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_RUNNING);

    ck_assert_int_eq(green_join(t, GREEN_FOREVER, &res), 0);
    ck_assert_ptr_null(res);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_DONE);
    ck_assert_double_ge(green_test_now() - t0, 0.2 - CLOCK_EPS);
    green_task_release(t);
}
END_TEST

START_TEST(join_zero_timeout_polls)
{
    static double d;
    d = 0.05 * green_test_slowdown();
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, sleep_arg_body, &d), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_join(t, 0, NULL), -ETIMEDOUT);
    ck_assert_double_lt(green_test_now() - t0, 0.03 * green_test_slowdown());

    ck_assert_int_eq(green_sleep(2 * d), 0);
    ck_assert(green_task_done(t));
    ck_assert_int_eq(green_join(t, 0, NULL), 0);
    green_task_release(t);
}
END_TEST

START_TEST(joinall_waits_for_all)
{
    static double d[3] = {0.05, 0.15, 0.1};
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(green_spawn(&t[i], sleep_arg_body, &d[i]), 0);
    }
    double t0 = green_test_now();
    ck_assert_int_eq(green_joinall(t, 3, GREEN_FOREVER), 0);
    double el = green_test_now() - t0;
    ck_assert_double_ge(el, 0.15 - CLOCK_EPS);
    ck_assert_double_lt(el, 0.25 + slow(0.02));
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(green_task_status(t[i]), GREEN_TASK_DONE);
    }
    /* joinall does not count as joining. */
    for (int i = 0; i < 3; i++) {
        join_ok(t[i]);
    }
    ck_assert_int_eq(green_joinall(NULL, 0, GREEN_FOREVER), 0);
}
END_TEST

START_TEST(joinall_timeout)
{
    static double d[2] = {0.01, 0.3};
    green_task_t *t[2];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(green_spawn(&t[i], sleep_arg_body, &d[i]), 0);
    }
    double t0 = green_test_now();
    ck_assert_int_eq(green_joinall(t, 2, 0.1), -ETIMEDOUT);
    double el = green_test_now() - t0;
    ck_assert_double_ge(el, 0.1 * 0.9);
    ck_assert_double_lt(el, 0.3);
    ck_assert(green_task_done(t[0]));
    ck_assert(!green_task_done(t[1]));
    ck_assert_int_eq(green_joinall(t, 2, 0), -ETIMEDOUT);

    ck_assert_int_eq(green_joinall(t, 2, GREEN_FOREVER), 0);
    ck_assert(green_task_done(t[1]));
    join_ok(t[0]);
    join_ok(t[1]);
}
END_TEST

/* --- green_fail ------------------------------------------------------- */

static void *fail_body(void *arg)
{
    return green_fail((int)(intptr_t)arg);
}

static void check_failed_with(int given, int expected)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, fail_body, (void *)(intptr_t)given), 0);
    void *res = (void *)1;
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, &res), 0);
    ck_assert_ptr_null(res);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_FAILED);
    ck_assert_int_eq(green_task_error(t), expected);
    ck_assert_ptr_null(green_task_result(t));
    ck_assert(green_task_done(t));
    green_task_release(t);
}

START_TEST(fail_keeps_error)
{
    check_failed_with(-EIO, -EIO);
    check_failed_with(-ENOSPC, -ENOSPC);
}
END_TEST

START_TEST(fail_zero_is_einval)
{
    check_failed_with(0, -EINVAL);
}
END_TEST

START_TEST(fail_positive_is_negated)
{
    check_failed_with(EIO, -EIO);
}
END_TEST

START_TEST(fail_outside_task)
{
    ck_assert_ptr_null(green_fail(-EIO));
    /* It changed nothing: a task spawned afterwards still succeeds. */
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, mark_body, &t), 0);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_DONE);
    green_task_release(t);
}
END_TEST

/* --- kill ------------------------------------------------------------- */

struct victim {
    int sleep_ret;      /* the sleep it was killed in */
    double sleep_s;
    int later_sleep;    /* a later 1 s sleep */
    double later_s;
    int later_yield;    /* a later green_sleep(0) */
    int later_forever;  /* a later GREEN_FOREVER sleep */
    int later_join;     /* a later join of another task */
    int cleaned_up;     /* the code after the sleep ran */
};

static void *victim_body(void *arg)
{
    struct victim *v = arg;
    double t0 = green_test_now();
    v->sleep_ret = green_sleep(10.0);
    v->sleep_s = green_test_now() - t0;

    t0 = green_test_now();
    v->later_sleep = green_sleep(1.0);
    v->later_s = green_test_now() - t0;
    v->later_yield = green_sleep(0);
    v->later_forever = green_sleep(GREEN_FOREVER);
    green_task_t *other;
    v->later_join = green_spawn(&other, mark_body, NULL);
    if (v->later_join == 0) {
        v->later_join = green_join(other, GREEN_FOREVER, NULL);
        if (v->later_join != 0) {
            green_kill(other);
            green_join(other, GREEN_FOREVER, NULL);
        }
        green_task_release(other);
    }
    v->cleaned_up = 1;
    return v;
}

START_TEST(kill_during_sleep)
{
    struct victim v = {0};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, victim_body, &v), 0);
    ck_assert_int_eq(green_sleep(0.02), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_kill(t), 0);
    /* Killing never switches: the victim has not seen it yet. */
    ck_assert_int_eq(v.cleaned_up, 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_RUNNING);

    void *res = (void *)1;
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, &res), 0);
    ck_assert_double_lt(green_test_now() - t0, slow(0.5));
    ck_assert_int_eq(v.sleep_ret, -ECANCELED);
    ck_assert_double_lt(v.sleep_s, 5.0);
    ck_assert_int_eq(v.later_sleep, -ECANCELED);
    ck_assert_double_lt(v.later_s, 0.5);
    ck_assert_int_eq(v.later_yield, -ECANCELED);
    ck_assert_int_eq(v.later_forever, -ECANCELED);
    ck_assert_int_eq(v.later_join, -ECANCELED);
    ck_assert_int_eq(v.cleaned_up, 1);

    /* It returned a value, but a killed task's outcome is CANCELLED. */
    ck_assert_ptr_null(res);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_CANCELLED);
    ck_assert_int_eq(green_task_error(t), -ECANCELED);
    ck_assert_ptr_null(green_task_result(t));
    green_task_release(t);
}
END_TEST

struct joiner {
    green_task_t *target;
    int ret;
};

static void *joiner_body(void *arg)
{
    struct joiner *j = arg;
    j->ret = green_join(j->target, GREEN_FOREVER, NULL);
    return NULL;
}

START_TEST(kill_during_join)
{
    int target_ret = 1;
    green_task_t *target, *j;
    ck_assert_int_eq(green_spawn(&target, sleep_forever_body, &target_ret),
                     0);
    struct joiner jn = {.target = target, .ret = 1};
    ck_assert_int_eq(green_spawn(&j, joiner_body, &jn), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(green_kill(j), 0);
    join_ok(j);
    ck_assert_int_eq(jn.ret, -ECANCELED);

    /* The failed join left the target alone: it runs on, and the root can
     * still join it (once). */
    ck_assert_int_eq(green_task_status(target), GREEN_TASK_RUNNING);
    ck_assert_int_eq(green_kill(target), 0);
    ck_assert_int_eq(green_join(target, GREEN_FOREVER, NULL), 0);
    ck_assert_int_eq(target_ret, -ECANCELED);
    ck_assert_int_eq(green_task_status(target), GREEN_TASK_CANCELLED);
    green_task_release(target);
}
END_TEST

START_TEST(kill_before_start)
{
    ran = 0;
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, mark_body, NULL), 0);
    ck_assert_int_eq(green_kill(t), 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_CANCELLED);
    ck_assert(green_task_done(t));
    ck_assert_int_eq(green_kill(t), -ESRCH);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(ran, 0);
    ck_assert_int_eq(green_task_error(t), -ECANCELED);
    green_task_release(t);
    ck_assert_int_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(kill_ended_or_null)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, mark_body, NULL), 0);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    ck_assert_int_eq(green_kill(t), -ESRCH);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_DONE);
    green_task_release(t);

    ck_assert_int_eq(green_spawn(&t, fail_body, (void *)(intptr_t)-EIO), 0);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    ck_assert_int_eq(green_kill(t), -ESRCH);
    ck_assert_int_eq(green_task_error(t), -EIO);
    green_task_release(t);

    ck_assert_int_eq(green_kill(NULL), -EINVAL);
}
END_TEST

struct self_killer {
    int kill_ret;
    int after_kill;  /* ran straight after the kill (it does not switch) */
    int sleep_ret;
    int cleaned_up;
};

static void *self_kill_body(void *arg)
{
    struct self_killer *s = arg;
    s->kill_ret = green_kill(green_current());
    s->after_kill = 1;
    s->sleep_ret = green_sleep(1.0);
    s->cleaned_up = 1;
    return s;
}

START_TEST(kill_self)
{
    struct self_killer s = {0};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, self_kill_body, &s), 0);
    double t0 = green_test_now();
    join_ok(t);
    ck_assert_double_lt(green_test_now() - t0, 0.5);
    ck_assert_int_eq(s.kill_ret, 0);
    ck_assert_int_eq(s.after_kill, 1);
    ck_assert_int_eq(s.sleep_ret, -ECANCELED);
    ck_assert_int_eq(s.cleaned_up, 1);
}
END_TEST

/* --- link ------------------------------------------------------------- */

struct linklog {
    int entries[16];           /* userdata indexes, and 99 for the joiner */
    green_task_t *tasks[16];   /* the t each callback got */
    green_task_t *current[16]; /* green_current() in each callback */
    int done[16];              /* green_task_done(t) in each callback */
    int joiner_parked[16];     /* the joiner had not been woken yet */
    struct greenlet *joiner;   /* a task joining t, or NULL */
    int n;
};

static struct linklog linklog;

static void link_cb(green_task_t *t, void *userdata)
{
    int i = linklog.n++;
    linklog.entries[i] = (int)(intptr_t)userdata;
    linklog.tasks[i] = t;
    linklog.current[i] = green_current();
    linklog.done[i] = green_task_done(t);
    /* White-box: "before joiners wake" means the joiner is still PARKED,
     * not merely not yet running (waking never switches). */
    linklog.joiner_parked[i] =
        linklog.joiner != NULL && linklog.joiner->state == GREEN__PARKED;
}

static void *link_joiner_body(void *arg)
{
    green_join(arg, GREEN_FOREVER, NULL);
    linklog.entries[linklog.n++] = 99;
    return NULL;
}

START_TEST(link_callbacks_in_order)
{
    memset(&linklog, 0, sizeof linklog);
    static double d = 0.02;
    green_task_t *t, *j;
    ck_assert_int_eq(green_spawn(&t, sleep_arg_body, &d), 0);
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(green_link(t, link_cb, (void *)(intptr_t)i), 0);
    }
    /* Another task joins t: the callbacks must run before it wakes. */
    ck_assert_int_eq(green_spawn(&j, link_joiner_body, t), 0);
    linklog.joiner = (struct greenlet *)green_task_greenlet(j);
    ck_assert_int_eq(green_joinall(&j, 1, GREEN_FOREVER), 0);
    linklog.joiner = NULL;
    green_task_release(j);

    ck_assert_int_eq(linklog.n, 4);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(linklog.entries[i], i + 1);
        ck_assert_ptr_eq(linklog.tasks[i], t);
        /* Run on the task that ended, as it ends. */
        ck_assert_ptr_eq(linklog.current[i], t);
        ck_assert_int_eq(linklog.done[i], 1);
        ck_assert_int_eq(linklog.joiner_parked[i], 1);
    }
    ck_assert_int_eq(linklog.entries[3], 99);

    /* The joiner joined t; a second join must fail. */
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), -EINVAL);
    green_task_release(t);
}
END_TEST

START_TEST(link_after_end_runs_at_once)
{
    memset(&linklog, 0, sizeof linklog);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, mark_body, NULL), 0);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    ck_assert_int_eq(green_link(t, link_cb, (void *)(intptr_t)7), 0);
    ck_assert_int_eq(linklog.n, 1);
    ck_assert_int_eq(linklog.entries[0], 7);
    ck_assert_ptr_eq(linklog.tasks[0], t);
    green_task_release(t);
}
END_TEST

START_TEST(link_on_killed_before_start)
{
    memset(&linklog, 0, sizeof linklog);
    ran = 0;
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, mark_body, NULL), 0);
    ck_assert_int_eq(green_link(t, link_cb, (void *)(intptr_t)5), 0);
    ck_assert_int_eq(linklog.n, 0);
    ck_assert_int_eq(green_kill(t), 0);
    /* The killer ended it, so the killer ran the callback. */
    ck_assert_int_eq(linklog.n, 1);
    ck_assert_int_eq(linklog.entries[0], 5);
    ck_assert_ptr_null(linklog.current[0]);
    ck_assert_int_eq(linklog.done[0], 1);
    join_ok(t);
    ck_assert_int_eq(ran, 0);
    ck_assert_int_eq(linklog.n, 1);
}
END_TEST

START_TEST(link_on_failed_and_killed)
{
    memset(&linklog, 0, sizeof linklog);
    green_task_t *f, *k;
    int kret = 0;
    ck_assert_int_eq(green_spawn(&f, fail_body, (void *)(intptr_t)-EIO), 0);
    ck_assert_int_eq(green_spawn(&k, sleep_forever_body, &kret), 0);
    ck_assert_int_eq(green_link(f, link_cb, (void *)(intptr_t)1), 0);
    ck_assert_int_eq(green_link(k, link_cb, (void *)(intptr_t)2), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(green_kill(k), 0);
    join_ok(f);
    join_ok(k);
    ck_assert_int_eq(linklog.n, 2);
    ck_assert_int_eq(linklog.entries[0], 1);
    ck_assert_int_eq(linklog.entries[1], 2);
}
END_TEST

START_TEST(link_bad_input)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, mark_body, NULL), 0);
    ck_assert_int_eq(green_link(t, NULL, NULL), -EINVAL);
    ck_assert_int_eq(green_link(NULL, link_cb, NULL), -EINVAL);
    join_ok(t);
}
END_TEST

/* --- green_run -------------------------------------------------------- */

static int run_steps;

static void *run_leaf(void *arg)
{
    green_sleep(0.01);
    run_steps++;
    return NULL;
}

static void *run_parent(void *arg)
{
    green_spawn(NULL, run_leaf, NULL);
    green_spawn_later(NULL, 0.05, run_leaf, NULL);
    run_steps++;
    return NULL;
}

START_TEST(run_until_all_end)
{
    run_steps = 0;
    ck_assert_int_eq(green_run(), 0); /* nothing to run */
    double t0 = green_test_now();
    ck_assert_int_eq(green_spawn(NULL, run_parent, NULL), 0);
    green_task_t *t;
    ck_assert_int_eq(green_spawn_later(&t, 0.02, run_leaf, NULL), 0);
    ck_assert_int_eq(green_run(), 0);
    ck_assert_int_eq(run_steps, 4);
    ck_assert_double_ge(green_test_now() - t0, 0.06 - CLOCK_EPS);
    ck_assert_int_eq(green_test_live_tasks(), 0);
    ck_assert(green_task_done(t));
    join_ok(t);
}
END_TEST

static void *run_in_task(void *arg)
{
    return (void *)(intptr_t)green_run();
}

START_TEST(run_from_task)
{
    green_task_t *t;
    void *res;
    ck_assert_int_eq(green_spawn(&t, run_in_task, NULL), 0);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, &res), 0);
    ck_assert_int_eq((int)(intptr_t)res, -EDEADLK);
    green_task_release(t);
}
END_TEST

static struct green__waitq never_q;

static void *never_body(void *arg)
{
    green__waitq_wait(&never_q, GREEN_FOREVER, "nobody-signals", NULL);
    return NULL;
}

static void run_deadlocked(void *arg)
{
    green_test_child_deadline(5);
    green__waitq_init(&never_q);
    green_spawn_opts_t opts = {.name = "hopeless-task"};
    int r = green_spawn_ex(NULL, never_body, NULL, &opts);
    if (r == 0) {
        r = green_run();
    }
    _exit(-r & 0xff);
}

START_TEST(run_deadlock)
{
    int st = green_test_fork_capture(run_deadlocked, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    ck_assert_msg(strstr(report, "hopeless-task") != NULL,
                  "report does not name the task: %s", report);
    ck_assert_msg(strstr(report, "nobody-signals") != NULL,
                  "report does not say what it waits on: %s", report);
}
END_TEST

static void join_forever_sleeper(void *arg)
{
    green_test_child_deadline(5);
    green_spawn_opts_t opts = {.name = "eternal-sleeper"};
    green_task_t *t;
    int r = green_spawn_ex(&t, sleep_forever_body, NULL, &opts);
    if (r == 0) {
        r = green_join(t, GREEN_FOREVER, NULL);
    }
    _exit(-r & 0xff);
}

START_TEST(join_deadlock_sleep_forever)
{
    /* Only a kill could end a GREEN_FOREVER sleep, and the only other
     * greenlet is the root, blocked in the join. */
    int st = green_test_fork_capture(join_forever_sleeper, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    ck_assert_msg(strstr(report, "eternal-sleeper") != NULL,
                  "report does not name the task: %s", report);
}
END_TEST

/* --- bad input -------------------------------------------------------- */

START_TEST(spawn_null_fn)
{
    green_task_t *t = NULL;
    green_spawn_opts_t opts = {0};
    ck_assert_int_eq(green_spawn(&t, NULL, NULL), -EINVAL);
    ck_assert_int_eq(green_spawn(NULL, NULL, NULL), -EINVAL);
    ck_assert_int_eq(green_spawn_ex(&t, NULL, NULL, &opts), -EINVAL);
    ck_assert_int_eq(green_spawn_later(&t, 0.01, NULL, NULL), -EINVAL);
    ck_assert_int_eq(green_test_live_tasks(), 0);
}
END_TEST

struct self_join {
    int join;    /* green_join on itself */
    int joinall; /* green_joinall with itself among others */
};

static void *join_self_body(void *arg)
{
    struct self_join *sj = arg;
    green_task_t *self = green_current();
    sj->join = green_join(self, GREEN_FOREVER, NULL);
    green_task_t *other;
    sj->joinall = green_spawn(&other, mark_body, NULL);
    if (sj->joinall == 0) {
        green_task_t *both[2] = {other, self};
        sj->joinall = green_joinall(both, 2, GREEN_FOREVER);
        green_join(other, GREEN_FOREVER, NULL);
        green_task_release(other);
    }
    return NULL;
}

START_TEST(join_self)
{
    struct self_join sj = {1, 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, join_self_body, &sj), 0);
    ck_assert_int_eq(green_join(t, 1.0, NULL), 0);
    ck_assert_int_eq(sj.join, -EDEADLK);
    ck_assert_int_eq(sj.joinall, -EDEADLK);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_DONE);
    green_task_release(t);
}
END_TEST

START_TEST(join_twice)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, mark_body, &t), 0);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    void *res = (void *)1;
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, &res), -EINVAL);
    ck_assert_int_eq(green_join(t, 0, NULL), -EINVAL);
    /* Still readable after the refused join. */
    ck_assert_ptr_eq(green_task_result(t), &t);
    green_task_release(t);
    ck_assert_int_eq(green_join(NULL, GREEN_FOREVER, NULL), -EINVAL);
}
END_TEST

START_TEST(bad_timeouts)
{
    ran = 0;
    static double d = 0.01;
    green_task_t *t, *u = NULL;
    ck_assert_int_eq(green_spawn(&t, sleep_arg_body, &d), 0);
    ck_assert_int_eq(green_join(t, -1.0, NULL), -EINVAL);
    ck_assert_int_eq(green_join(t, NAN, NULL), -EINVAL);
    ck_assert_int_eq(green_join(t, -GREEN_FOREVER, NULL), -EINVAL);
    ck_assert_int_eq(green_joinall(&t, 1, -0.5), -EINVAL);
    ck_assert_int_eq(green_joinall(&t, 1, NAN), -EINVAL);
    /* The refused joins left t as it was. */
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_PENDING);
    ck_assert_int_eq(green_sleep(-0.001), -EINVAL);
    ck_assert_int_eq(green_sleep(NAN), -EINVAL);
    ck_assert_int_eq(green_spawn_later(&u, -1.0, mark_body, NULL), -EINVAL);
    ck_assert_int_eq(green_spawn_later(&u, NAN, mark_body, NULL), -EINVAL);
    ck_assert_int_eq(green_spawn_later(NULL, NAN, mark_body, NULL), -EINVAL);
    /* None of that spawned anything. */
    ck_assert_int_eq(green_test_live_tasks(), 1);
    join_ok(t);
    ck_assert_int_eq(green_run(), 0);
    ck_assert_int_eq(ran, 0);
}
END_TEST

START_TEST(joinall_bad_input)
{
    green_task_t *t[2] = {NULL, NULL};
    ck_assert_int_eq(green_joinall(NULL, 1, GREEN_FOREVER), -EINVAL);
    ck_assert_int_eq(green_spawn(&t[0], mark_body, NULL), 0);
    ck_assert_int_eq(green_joinall(t, 2, GREEN_FOREVER), -EINVAL);
    join_ok(t[0]);
}
END_TEST

/* --- tasks used from another OS thread ---------------------------------- */

/* Another OS thread spawns two tasks on its hub and runs that hub while
 * this thread joins, waits for, links to and kills them. */
struct foreign {
    sem_t spawned;  /* posted by the thread once its tasks are spawned */
    sem_t checked;  /* posted by main when done with them */
    green_task_t *done_task, *sleeper;
    pthread_t home;
    int spawn_ret, sleeper_ret;
    int link_n;        /* atomic: link callbacks run */
    pthread_t link_in; /* the OS thread the sleeper's callback ran in */
};

static void *short_sleep_body(void *arg)
{
    green_sleep(0.05);
    return arg;
}

static void foreign_link_cb(green_task_t *t, void *userdata)
{
    struct foreign *f = userdata;
    if (t == f->sleeper) {
        f->link_in = pthread_self();
    }
    __atomic_add_fetch(&f->link_n, 1, __ATOMIC_RELEASE);
}

static void *foreign_thread(void *arg)
{
    struct foreign *f = arg;
    f->home = pthread_self();
    f->spawn_ret = green_spawn(&f->done_task, short_sleep_body, &ran);
    if (f->spawn_ret == 0) {
        f->spawn_ret = green_spawn(&f->sleeper, sleep_forever_body, NULL);
    }
    sem_post(&f->spawned);
    if (f->spawn_ret == 0) {
        /* This hub runs both until main's kill ends the sleeper. */
        f->sleeper_ret = green_task_wait(f->sleeper, 10.0);
    }
    sem_wait(&f->checked);
    if (f->spawn_ret == 0) {
        green_task_release(f->done_task);
        green_task_release(f->sleeper);
    }
    return NULL;
}

START_TEST(foreign_thread_task)
{
    struct foreign f = {.sleeper_ret = 1};
    sem_init(&f.spawned, 0, 0);
    sem_init(&f.checked, 0, 0);
    ck_assert_int_eq(green_sleep(0), 0); /* this thread has a hub too */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
    sem_wait(&f.spawned);
    ck_assert_int_eq(f.spawn_ret, 0);

    /* A join from here waits for the other hub to end the task. */
    void *res = NULL;
    ck_assert_int_eq(green_join(f.done_task, 5.0, &res), 0);
    ck_assert_ptr_eq(res, &ran);
    ck_assert_int_eq(green_task_status(f.done_task), GREEN_TASK_DONE);
    ck_assert_ptr_eq(green_task_result(f.done_task), &ran);
    ck_assert_int_eq(green_join(f.done_task, 1.0, NULL), -EINVAL); /* twice */
    ck_assert_int_eq(green_joinall(&f.done_task, 1, 1.0), 0);
    ck_assert_int_eq(green_kill(f.done_task), -ESRCH);
    /* A link to an ended task runs at once, here. */
    ck_assert_int_eq(green_link(f.done_task, foreign_link_cb, &f), 0);
    ck_assert_int_eq(__atomic_load_n(&f.link_n, __ATOMIC_ACQUIRE), 1);

    /* The sleeper: a wait times out, a link waits for its end, a kill
     * ends it there. */
    double t0 = green_test_now();
    ck_assert_int_eq(green_task_wait(f.sleeper, 0.05), -ETIMEDOUT);
    ck_assert_double_ge(green_test_now() - t0, 0.04);
    ck_assert_int_eq(green_task_status(f.sleeper), GREEN_TASK_RUNNING);
    ck_assert_int_eq(green_link(f.sleeper, foreign_link_cb, &f), 0);
    ck_assert_int_eq(green_link(f.sleeper, NULL, &f), -EINVAL);
    ck_assert_int_eq(green_kill(f.sleeper), 0);
    void *v = &f;
    ck_assert_int_eq(green_task_get(f.sleeper, 5.0, &v), -ECANCELED);
    ck_assert_ptr_eq(v, &f);
    ck_assert_int_eq(green_task_status(f.sleeper), GREEN_TASK_CANCELLED);
    ck_assert_int_eq(green_task_error(f.sleeper), -ECANCELED);
    ck_assert_int_eq(green_kill(f.sleeper), -ESRCH);
    /* Its callback ran once, in its home thread, before the end was
     * seen here. */
    ck_assert_int_eq(__atomic_load_n(&f.link_n, __ATOMIC_ACQUIRE), 2);
    ck_assert(pthread_equal(f.link_in, f.home));

    sem_post(&f.checked);
    pthread_join(th, NULL);
    ck_assert_int_eq(f.sleeper_ret, 0);
    sem_destroy(&f.spawned);
    sem_destroy(&f.checked);
}
END_TEST

/* Tasks spawned here, joined and released by another OS thread as soon
 * as each ends: the release is the home's to do, and a handle given back
 * the moment a join returns, while the end is still being served, frees
 * nothing too early (ASan and valgrind check that). */
#define HANDED 200

struct handed {
    green_task_t *tasks[HANDED];
    int joined;             /* joins that returned 0 with the result */
    int killed;             /* kills of the odd ones that returned 0 */
    int gone;               /* atomic: set once the thread is through */
};

static void *handed_thread(void *arg)
{
    struct handed *h = arg;
    for (int i = 0; i < HANDED; i++) {
        if (i % 2 == 1 && green_kill(h->tasks[i]) == 0) {
            h->killed++;
        }
        void *res = NULL;
        int r = green_join(h->tasks[i], 10.0, &res);
        if (r == 0 && (i % 2 == 1 || res == (void *)(intptr_t)i)) {
            h->joined++;
        }
        green_task_release(h->tasks[i]);
    }
    __atomic_store_n(&h->gone, 1, __ATOMIC_RELEASE);
    return NULL;
}

static void *handed_body(void *arg)
{
    green_sleep(0.0);
    if ((intptr_t)arg % 2 == 1) {
        green_sleep(GREEN_FOREVER); /* killed from the other thread */
    }
    return arg;
}

START_TEST(released_from_other_thread)
{
    struct handed h = {.joined = 0};
    ck_assert_int_eq(green_sleep(0), 0);
    size_t before = green_test_task_records();
    for (int i = 0; i < HANDED; i++) {
        ck_assert_int_eq(
            green_spawn(&h.tasks[i], handed_body, (void *)(intptr_t)i), 0);
    }
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, handed_thread, &h), 0);
    /* This hub runs them, and reads the other thread's releases. */
    while (!__atomic_load_n(&h.gone, __ATOMIC_ACQUIRE)) {
        ck_assert_int_eq(green_sleep(0.001), 0);
    }
    pthread_join(th, NULL);
    ck_assert_int_eq(h.joined, HANDED);
    ck_assert_int_eq(h.killed, HANDED / 2);
    /* Every release has arrived, and freed its task, once the hub has
     * looked again. */
    for (int i = 0; i < 500 && green_test_task_records() != before; i++) {
        ck_assert_int_eq(green_sleep(0.001), 0);
    }
    ck_assert_uint_eq(green_test_task_records(), before);
}
END_TEST

/* A plain thread, which never made green state, kills and releases a
 * task of this thread's hub. */
static void *plain_kill_release(void *arg)
{
    green_task_t *t = arg;
    long r = green_kill(t);
    green_task_release(t);
    return (void *)r;
}

START_TEST(plain_thread_kills)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, sleep_forever_body, NULL), 0);
    ck_assert_int_eq(green_sleep(0.01), 0); /* it runs, and sleeps */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, plain_kill_release, t), 0);
    void *r = (void *)1;
    pthread_join(th, &r);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(green_run(), 0); /* it ends, killed */
    for (int i = 0; i < 100 && green_test_live_tasks() != 0; i++) {
        ck_assert_int_eq(green_sleep(0.001), 0);
    }
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* A waiter on another OS thread whose wait ended otherwise (a timeout)
 * is still queued on the task when the task ends and its home releases
 * it: the home must keep the memory until the waiter has taken itself
 * out. The test hook holds the waiter between marking its record leaving
 * and taking the guard; before the fix the release freed the task at
 * once, and ASan saw the waiter take the freed task's guard. */
static void *wait_event_body(void *arg)
{
    return (void *)(intptr_t)green_event_wait(arg, GREEN_FOREVER);
}

struct outlive {
    green_task_t *t;
    sem_t leaving, go;
    int join_ret;
};

static struct outlive *outlive_now;

static void outlive_hook(int point, const void *obj)
{
    if (point == GREEN__TEST_LEAVING && outlive_now != NULL &&
        obj == outlive_now->t) {
        sem_post(&outlive_now->leaving);
        sem_wait(&outlive_now->go);
    }
}

static void *outlive_thread(void *arg)
{
    struct outlive *o = arg;
    /* A wait, not a join: a handle may be released while another thread
     * waits for its end, not while one joins it (as pthread_detach). */
    o->join_ret = green_task_wait(o->t, 0.02);
    return NULL;
}

START_TEST(foreign_waiter_outlives_release)
{
    struct outlive o = {.join_ret = 1};
    sem_init(&o.leaving, 0, 0);
    sem_init(&o.go, 0, 0);
    green_event_t *e;
    ck_assert_int_eq(green_event_new(&e), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    size_t before = green_test_task_records();
    ck_assert_int_eq(green_spawn(&o.t, wait_event_body, e), 0);
    outlive_now = &o;
    __atomic_store_n(&green__test_hook, outlive_hook, __ATOMIC_RELEASE);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, outlive_thread, &o), 0);
    /* The wait times out; the waiter is held with its record queued. */
    while (sem_trywait(&o.leaving) != 0) {
        ck_assert_int_eq(green_sleep(0.001), 0);
    }
    ck_assert_int_eq(green_event_set(e), 0);
    ck_assert_int_eq(green_task_wait(o.t, 5.0), 0);
    ck_assert_int_eq(green_sleep(0), 0); /* its greenlet has died */
    green_task_release(o.t);
    /* Still held: the other thread's record is queued on it. */
    ck_assert_uint_eq(green_test_task_records(), before + 1);
    sem_post(&o.go);
    void *r = (void *)1;
    while (pthread_tryjoin_np(th, &r) == EBUSY) {
        ck_assert_int_eq(green_sleep(0.001), 0); /* reads the inbox */
    }
    __atomic_store_n(&green__test_hook, NULL, __ATOMIC_RELEASE);
    outlive_now = NULL;
    ck_assert_int_eq(o.join_ret, -ETIMEDOUT);
    /* The last record out asked this hub to free it. */
    for (int i = 0; i < 500 && green_test_task_records() != before; i++) {
        ck_assert_int_eq(green_sleep(0.001), 0);
    }
    ck_assert_uint_eq(green_test_task_records(), before);
    green_event_free(e);
    sem_destroy(&o.leaving);
    sem_destroy(&o.go);
}
END_TEST

/* Two joins of one task at once: one waits, the other gets -EINVAL (as
 * pthread_join does), on the same thread or from another; a join that
 * timed out gives its claim back. */
static void *join_forever_body(void *arg)
{
    return (void *)(intptr_t)green_join(arg, GREEN_FOREVER, NULL);
}

static void *second_join_thread(void *arg)
{
    return (void *)(intptr_t)green_join(arg, 1.0, NULL);
}

START_TEST(two_joins_at_once)
{
    green_event_t *e;
    ck_assert_int_eq(green_event_new(&e), 0);
    green_task_t *t, *j;
    ck_assert_int_eq(green_spawn(&t, wait_event_body, e), 0);
    ck_assert_int_eq(green_join(t, 0.01, NULL), -ETIMEDOUT);
    ck_assert_int_eq(green_spawn(&j, join_forever_body, t), 0);
    ck_assert_int_eq(green_sleep(0), 0); /* j is joining t */
    ck_assert_int_eq(green_join(t, 1.0, NULL), -EINVAL);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, second_join_thread, t), 0);
    void *r = (void *)1;
    while (pthread_tryjoin_np(th, &r) == EBUSY) {
        ck_assert_int_eq(green_sleep(0.001), 0);
    }
    ck_assert_int_eq((int)(intptr_t)r, -EINVAL);
    ck_assert_int_eq(green_event_set(e), 0);
    void *jr = (void *)1;
    ck_assert_int_eq(green_join(j, 5.0, &jr), 0);
    ck_assert_int_eq((int)(intptr_t)jr, 0); /* j's join won */
    ck_assert_int_eq(green_join(t, 1.0, NULL), -EINVAL); /* joined */
    green_task_release(j);
    green_task_release(t);
    green_event_free(e);
}
END_TEST

START_TEST(stack_size_limit)
{
    green_task_t *t = NULL;
    green_spawn_opts_t opts = {.stack_size = GREEN__STACK_MAX + 1};
    ck_assert_int_eq(green_spawn_ex(&t, mark_body, NULL, &opts), -EINVAL);
    opts.stack_size = SIZE_MAX;
    ck_assert_int_eq(green_spawn_ex(&t, mark_body, NULL, &opts), -EINVAL);
    ck_assert_int_eq(green_test_live_tasks(), 0);

    /* Exactly 1 GiB is allowed; kill it before it needs the stack. */
    opts.stack_size = GREEN__STACK_MAX;
    ck_assert_int_eq(green_spawn_ex(&t, mark_body, NULL, &opts), 0);
    ck_assert_int_eq(green_kill(t), 0);
    join_ok(t);
}
END_TEST

/* In a child with little address space left: spawn sleepers until memory
 * runs out. Exits 0 when every failure was -ENOMEM (from spawn, or as the
 * outcome of a task that could get no stack) and cleanup worked; otherwise
 * exits with a code naming the first broken promise and says why on
 * stderr. */
enum { OOM_MAX = 200000, OOM_BATCH = 32 };

static green_task_t *oom_tasks[OOM_MAX];

static void oom_limit(void)
{
    /* Make the hub and warm the pools before limiting. */
    green_task_t *warm;
    if (green_spawn(&warm, mark_body, NULL) != 0 ||
        green_join(warm, GREEN_FOREVER, NULL) != 0) {
        _exit(10);
    }
    green_task_release(warm);
    struct rlimit rl;
    rl.rlim_cur = rl.rlim_max =
        (rlim_t)green_test_status_kib("VmSize") * 1024 + (64 << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0) {
        _exit(11);
    }
}

/* Checks that none of tasks [from, n) is still PENDING after a yield. */
static void oom_none_pending(size_t from, size_t n)
{
    for (size_t i = from; i < n; i++) {
        if (green_task_status(oom_tasks[i]) == GREEN_TASK_PENDING) {
            fprintf(stderr, "task %zu still pending after a yield\n", i);
            _exit(13);
        }
    }
}

/* A task without a stack must fail itself, not the yielder. */
static void oom_yield(size_t n)
{
    int y = green_sleep(0);
    if (y != 0) {
        fprintf(stderr, "green_sleep(0) after %zu spawns: %d\n", n, y);
        _exit(12);
    }
}

/* Phase 1: spawns batches, yielding after each so the batch starts and
 * takes stacks, until a task ends for want of a stack (or a spawn fails).
 * Returns the number spawned; *spawn_err gets a failed spawn's error. */
static size_t oom_fill_stacks(int *spawn_err)
{
    size_t n = 0;
    int failed = 0;
    while (n < OOM_MAX && failed == 0) {
        *spawn_err = green_spawn(&oom_tasks[n], sleep_forever_body, NULL);
        if (*spawn_err != 0) {
            break;
        }
        if (++n % OOM_BATCH == 0) {
            oom_yield(n);
            oom_none_pending(n - OOM_BATCH, n);
            for (size_t i = n - OOM_BATCH; i < n; i++) {
                failed += green_task_done(oom_tasks[i]);
            }
        }
    }
    fprintf(stderr, "phase 1: %zu tasks, %d without a stack, spawn %d\n", n,
            failed, *spawn_err);
    if (failed == 0 && *spawn_err == 0) {
        _exit(15); /* the limit never bit: the test proved nothing */
    }
    return n;
}

/* Phase 2: spawns without yielding until spawn itself runs out of memory,
 * then lets them all try to start. Returns the new total. */
static size_t oom_fill_heap(size_t n, int *spawn_err)
{
    size_t first = n;
    while (*spawn_err == 0 && n < OOM_MAX) {
        *spawn_err = green_spawn(&oom_tasks[n], sleep_forever_body, NULL);
        n += (*spawn_err == 0);
    }
    fprintf(stderr, "phase 2: %zu more tasks, spawn %d\n", n - first,
            *spawn_err);
    oom_yield(n);
    oom_none_pending(first, n);
    return n;
}

static size_t oom_fill(void)
{
    int spawn_err = 0;
    size_t n = oom_fill_stacks(&spawn_err);
    n = oom_fill_heap(n, &spawn_err);
    if (spawn_err != -ENOMEM && n < OOM_MAX) {
        _exit(14);
    }
    return n;
}

static void oom_child(void *arg)
{
    green_test_child_deadline(15);
    oom_limit();
    size_t n = oom_fill();
    for (size_t i = 0; i < n; i++) {
        green_task_t *t = oom_tasks[i];
        if (!green_task_done(t)) {
            if (green_kill(t) != 0) {
                _exit(16);
            }
        } else if (green_task_status(t) != GREEN_TASK_FAILED ||
                   green_task_error(t) != -ENOMEM) {
            fprintf(stderr, "task %zu: %s %d\n", i,
                    green_task_status_name(green_task_status(t)),
                    green_task_error(t));
            _exit(17);
        }
    }
    int r = green_joinall(oom_tasks, n, GREEN_FOREVER);
    if (r != 0) {
        fprintf(stderr, "joinall: %d\n", r);
        _exit(18);
    }
    for (size_t i = 0; i < n; i++) {
        green_task_release(oom_tasks[i]);
    }
    _exit(0);
}

START_TEST(spawn_out_of_memory)
{
#if defined(GREEN__ASAN) || defined(GREEN__TSAN)
    /* The sanitizers reserve terabytes of shadow: an address-space limit
     * kills them. */
    return;
#endif
    if (green_test_valgrind() || green_test_emulated()) {
        return; /* valgrind's (qemu's) own mappings count against the
                   limit: qemu aborted in its allocator */
    }
    int st = green_test_fork_capture(oom_child, NULL, report, sizeof report);
    check_child(st, 0, report);
}
END_TEST

/* --- adversarial ------------------------------------------------------ */

static int spawn_join_round(green_task_t **t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (green_spawn(&t[i], mark_body, &t[i]) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        void *res = NULL;
        if (green_join(t[i], GREEN_FOREVER, &res) != 0 || res != &t[i]) {
            return -2;
        }
        green_task_release(t[i]);
    }
    return 0;
}

START_TEST(many_tasks_no_growth)
{
    /* Smaller under the tools, whose allocators are several times slower
     * (ASan timed out at 100,000 on a loaded machine), and under qemu-user
     * (the aarch64 step with return-address signing took over 20 s). */
    size_t n = green_test_valgrind()  ? 10000
               : green_test_tsan()     ? 4000 /* its limit: 8,128 fibers */
               : green_test_emulated() ? 20000
               : green_test_asan()     ? 30000
                                       : 100000;
    green_task_t **t = calloc(n, sizeof *t);
    ck_assert_ptr_nonnull(t);
    ran = 0;
    ck_assert_int_eq(spawn_join_round(t, n), 0);
    size_t stacks1 = green__stack_in_use(); /* the hub's own, if any */
    long rss1 = green_test_status_kib("VmRSS");
    int maps1 = green_test_count_maps();
    for (int round = 1; round < 5; round++) {
        ck_assert_int_eq(spawn_join_round(t, n), 0);
    }
    long rss5 = green_test_status_kib("VmRSS");
    int maps5 = green_test_count_maps();
    free(t);

    ck_assert_int_eq(ran, (int)(5 * n));
    ck_assert_int_eq(green_test_live_tasks(), 0);
    ck_assert_uint_eq(green__stack_in_use(), stacks1);
    /* A leak of even 16 bytes a task would add 6 MiB over four rounds.
     * valgrind and ASan keep freed blocks in quarantine, which RSS counts;
     * their own leak checks stand in for this bound there. qemu-user's RSS
     * holds its translations, and its smaller n would hide a small leak;
     * the same test on the host bounds it. */
    if (green_test_slowdown() == 1.0 && !green_test_emulated()) {
        ck_assert_msg(rss5 - rss1 < 4096, "RSS grew from %ld to %ld KiB",
                      rss1, rss5);
    }
    ck_assert_msg(maps5 - maps1 <= 4, "maps grew from %d to %d", maps1,
                  maps5);
}
END_TEST

enum { NYIELDERS_MAX = 10000, NYIELDS = 10 };

/* 10,000, or 4,000 under TSan (its fiber limit). */
static int nyielders;
#define NYIELDERS nyielders

struct yielders {
    int started;
    int started_at_first_finish; /* -1 until a task finishes */
    int bad_yields;
    long yields;
};

static struct yielders ys;

static void *yielder_body(void *arg)
{
    ys.started++;
    for (int i = 0; i < NYIELDS; i++) {
        ys.bad_yields += (green_sleep(0) != 0);
        ys.yields++;
    }
    if (ys.started_at_first_finish < 0) {
        ys.started_at_first_finish = ys.started;
    }
    return NULL;
}

START_TEST(many_yielders)
{
    ys = (struct yielders){.started_at_first_finish = -1};
    nyielders = green_test_tsan() ? 4000 : NYIELDERS_MAX;
    green_task_t **t = calloc(NYIELDERS, sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < NYIELDERS; i++) {
        ck_assert_int_eq(green_spawn(&t[i], yielder_body, NULL), 0);
    }
    ck_assert_int_eq(green_joinall(t, NYIELDERS, GREEN_FOREVER), 0);
    for (int i = 0; i < NYIELDERS; i++) {
        ck_assert_int_eq(green_task_status(t[i]), GREEN_TASK_DONE);
        green_task_release(t[i]);
    }
    free(t);
    ck_assert_int_eq(ys.bad_yields, 0);
    ck_assert_int_eq(ys.yields, (long)NYIELDERS * NYIELDS);
    /* Each yield lets every ready task run, so nobody can finish its ten
     * yields before all the others have started. */
    ck_assert_int_eq(ys.started_at_first_finish, NYIELDERS);
}
END_TEST

enum { NVICTIMS = 1000 };

START_TEST(kill_many_sleepers)
{
    static int rets[NVICTIMS];
    green_task_t **t = calloc(NVICTIMS, sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < NVICTIMS; i++) {
        rets[i] = 1;
        ck_assert_int_eq(green_spawn(&t[i], sleep_forever_body, &rets[i]), 0);
    }
    /* Kill a tenth before they start, the rest while they sleep. */
    for (int i = 0; i < NVICTIMS; i += 10) {
        ck_assert_int_eq(green_kill(t[i]), 0);
    }
    ck_assert_int_eq(green_sleep(0.01), 0);
    for (int i = 0; i < NVICTIMS; i++) {
        ck_assert_int_eq(green_kill(t[i]), (i % 10 == 0) ? -ESRCH : 0);
    }
    double t0 = green_test_now();
    ck_assert_int_eq(green_joinall(t, NVICTIMS, GREEN_FOREVER), 0);
    ck_assert_double_lt(green_test_now() - t0, slow(2.0));
    for (int i = 0; i < NVICTIMS; i++) {
        ck_assert_int_eq(green_task_status(t[i]), GREEN_TASK_CANCELLED);
        ck_assert_int_eq(rets[i], (i % 10 == 0) ? 1 : -ECANCELED);
        join_ok(t[i]);
    }
    free(t);
    ck_assert_int_eq(green_test_live_tasks(), 0);
}
END_TEST

/* --- suite ------------------------------------------------------------ */

static TCase *tcase(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    return tc;
}

Suite *green_test_task_suite(void)
{
    Suite *s = suite_create("task");

    TCase *tc = tcase("spawn", 10);
    tcase_add_test(tc, join_returns_result);
    tcase_add_test(tc, status_progression);
    tcase_add_test(tc, status_names);
    tcase_add_test(tc, detached_spawn_frees_itself);
    tcase_add_test(tc, detached_spawn_leaks_nothing);
    tcase_add_test(tc, release_running_detaches);
    tcase_add_test(tc, spawn_order_is_run_order);
    tcase_add_test(tc, sleepers_overlap);
    tcase_add_test(tc, spawn_ex_name_is_copied);
    suite_add_tcase(s, tc);

    tc = tcase("spawn_later", 10);
    tcase_add_test(tc, spawn_later_waits);
    tcase_add_test(tc, spawn_later_zero_delay);
    tcase_add_test(tc, spawn_later_killed_never_runs);
    tcase_add_test(tc, spawn_later_forever_never_starts);
    tcase_add_test(tc, killed_later_leaves_no_timer);
    tcase_add_test(tc, spawn_later_forever_join_deadlocks);
    suite_add_tcase(s, tc);

    tc = tcase("join", 10);
    tcase_add_test(tc, join_timeout_leaves_task_joinable);
    tcase_add_test(tc, join_zero_timeout_polls);
    tcase_add_test(tc, joinall_waits_for_all);
    tcase_add_test(tc, joinall_timeout);
    suite_add_tcase(s, tc);

    tc = tcase("fail", 10);
    tcase_add_test(tc, fail_keeps_error);
    tcase_add_test(tc, fail_zero_is_einval);
    tcase_add_test(tc, fail_positive_is_negated);
    tcase_add_test(tc, fail_outside_task);
    suite_add_tcase(s, tc);

    tc = tcase("kill", 10);
    tcase_add_test(tc, kill_during_sleep);
    tcase_add_test(tc, kill_during_join);
    tcase_add_test(tc, kill_before_start);
    tcase_add_test(tc, kill_ended_or_null);
    tcase_add_test(tc, kill_self);
    suite_add_tcase(s, tc);

    tc = tcase("link", 10);
    tcase_add_test(tc, link_callbacks_in_order);
    tcase_add_test(tc, link_after_end_runs_at_once);
    tcase_add_test(tc, link_on_killed_before_start);
    tcase_add_test(tc, link_on_failed_and_killed);
    tcase_add_test(tc, link_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase("run", 10);
    tcase_add_test(tc, run_until_all_end);
    tcase_add_test(tc, run_from_task);
    tcase_add_test(tc, run_deadlock);
    tcase_add_test(tc, join_deadlock_sleep_forever);
    suite_add_tcase(s, tc);

    tc = tcase("bad_input", 20);
    tcase_add_test(tc, spawn_null_fn);
    tcase_add_test(tc, join_self);
    tcase_add_test(tc, join_twice);
    tcase_add_test(tc, bad_timeouts);
    tcase_add_test(tc, joinall_bad_input);
    tcase_add_test(tc, foreign_thread_task);
    tcase_add_test(tc, released_from_other_thread);
    tcase_add_test(tc, plain_thread_kills);
    tcase_add_test(tc, foreign_waiter_outlives_release);
    tcase_add_test(tc, two_joins_at_once);
    tcase_add_test(tc, stack_size_limit);
    tcase_add_test(tc, spawn_out_of_memory);
    suite_add_tcase(s, tc);

    tc = tcase("adversarial", 20);
    tcase_add_test(tc, many_tasks_no_growth);
    tcase_add_test(tc, many_yielders);
    tcase_add_test(tc, kill_many_sleepers);
    suite_add_tcase(s, tc);

    return s;
}
