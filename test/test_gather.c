/* SPDX-License-Identifier: MIT */
/* The gather suite: green_gather, green_gather_run, green_wait and
 * green_as_completed (include/green/gather.h). Outcomes in argument order,
 * fail-fast with cleanup, timeouts, the three wait modes, finishing order,
 * errors of the tasks and of the caller, deadlock, bad input.
 *
 * Task bodies never call ck_assert (see test_task.c): they record what
 * they saw and the root checks. */
#include <errno.h>
#include <pthread.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "crosswait.h"
#include "internal.h"
#include "green/gather.h"
#include "green/hubs.h"
#include "green/lock.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

static char report[16384];

/* A task body: sleeps `delay` (GREEN_FOREVER: until killed), runs its
 * cleanup whatever the sleep returned, then returns `value` or fails with
 * `fail`. */
struct job {
    double delay;
    int fail;         /* green_fail(fail) if nonzero */
    void *value;
    int started;
    int sleep_ret;
    int cleanup;      /* the code after the sleep ran */
    double t_end;
};

static void *job_body(void *arg)
{
    struct job *j = arg;
    j->started = 1;
    j->sleep_ret = j->delay > 0 ? green_sleep(j->delay) : 0;
    j->cleanup = 1;
    j->t_end = green_test_now();
    if (j->sleep_ret != 0) {
        return NULL;
    }
    return j->fail != 0 ? green_fail(j->fail) : j->value;
}

static void spawn_jobs(green_task_t **t, struct job *j, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(green_spawn(&t[i], job_body, &j[i]), 0);
    }
}

/* Kills and joins whatever still runs, then releases every handle. */
static void finish_all(green_task_t **t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        green_kill(t[i]);
    }
    ck_assert_int_eq(green_joinall(t, n, slow(2.0)), 0);
    for (size_t i = 0; i < n; i++) {
        green_task_release(t[i]);
    }
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}

/* Kills `victim` after `delay`. */
struct killer {
    double delay;
    green_task_t *victim;
    int ret;
};

static void *killer_body(void *arg)
{
    struct killer *k = arg;
    green_sleep(k->delay);
    k->ret = green_kill(k->victim);
    return NULL;
}

static void check_outcome(const green_outcome_t *o, green_task_status_t st,
                          int err, void *value)
{
    ck_assert_int_eq(o->status, st);
    ck_assert_int_eq(o->error, err);
    ck_assert_ptr_eq(o->value, value);
}

/* --- gather --------------------------------------------------------------- */

static int v0, v3;

START_TEST(gather_outcomes_in_argument_order)
{
    struct job j[4] = {
        {.delay = 0.06, .value = &v0},   /* ends last */
        {.delay = 0.02, .fail = -EDOM},
        {.delay = GREEN_FOREVER},        /* killed at 0.04 */
        {.value = &v3},                  /* ends first */
    };
    green_task_t *t[4], *kt;
    spawn_jobs(t, j, 4);
    struct killer k = {.delay = 0.04, .victim = t[2], .ret = 1};
    ck_assert_int_eq(green_spawn(&kt, killer_body, &k), 0);
    green_outcome_t out[4];
    memset(out, 0xa5, sizeof out);
    double t0 = green_test_now();
    ck_assert_int_eq(green_gather(t, 4, GREEN_FOREVER, 0, out), 0);
    ck_assert_double_ge(green_test_now() - t0, 0.055);
    check_outcome(&out[0], GREEN_TASK_DONE, 0, &v0);
    check_outcome(&out[1], GREEN_TASK_FAILED, -EDOM, NULL);
    check_outcome(&out[2], GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    check_outcome(&out[3], GREEN_TASK_DONE, 0, &v3);
    ck_assert_int_eq(j[2].sleep_ret, -ECANCELED);
    ck_assert_int_eq(j[2].cleanup, 1);
    ck_assert_int_eq(k.ret, 0);
    /* gather does not join: each task can still be joined once. */
    void *res = NULL;
    ck_assert_int_eq(green_join(t[0], 0, &res), 0);
    ck_assert_ptr_eq(res, &v0);
    ck_assert_int_eq(green_join(kt, slow(1.0), NULL), 0);
    green_task_release(kt);
    finish_all(t, 4);
}
END_TEST

START_TEST(gather_fail_fast)
{
    /* Two failures: the first in finishing order (-EIO at 0.02) wins over
     * the first in argument order (-EDOM, due at 0.05, killed before). */
    struct job j[5] = {
        {.delay = 0.05, .fail = -EDOM},
        {.delay = 0.02, .fail = -EIO},
        {.delay = 5.0},
        {.delay = GREEN_FOREVER},
        {.value = &v3},
    };
    green_task_t *t[5];
    spawn_jobs(t, j, 5);
    green_outcome_t out[5];
    double t0 = green_test_now();
    ck_assert_int_eq(green_gather(t, 5, GREEN_FOREVER, GREEN_GATHER_FAIL_FAST,
                                  out), -EIO);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.015);
    ck_assert_double_lt(dt, slow(1.0));
    check_outcome(&out[0], GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    check_outcome(&out[1], GREEN_TASK_FAILED, -EIO, NULL);
    check_outcome(&out[2], GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    check_outcome(&out[3], GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    check_outcome(&out[4], GREEN_TASK_DONE, 0, &v3);
    /* The others were killed and their cleanup ran before the return. */
    for (int i = 0; i < 4; i++) {
        if (i == 1) {
            continue;
        }
        ck_assert_int_eq(j[i].sleep_ret, -ECANCELED);
        ck_assert_int_eq(j[i].cleanup, 1);
        ck_assert(green_task_done(t[i]));
    }
    finish_all(t, 5);
}
END_TEST

START_TEST(gather_fail_fast_cancelled_member)
{
    /* A member that is killed counts as failed: its -ECANCELED is the
     * result, and the rest are cancelled too. */
    struct job j[3] = {{.delay = GREEN_FOREVER}, {.delay = GREEN_FOREVER},
                       {.delay = GREEN_FOREVER}};
    green_task_t *t[3], *kt;
    spawn_jobs(t, j, 3);
    struct killer k = {.delay = 0.02, .victim = t[1]};
    ck_assert_int_eq(green_spawn(&kt, killer_body, &k), 0);
    green_outcome_t out[3];
    ck_assert_int_eq(green_gather(t, 3, slow(2.0), GREEN_GATHER_FAIL_FAST,
                                  out), -ECANCELED);
    for (int i = 0; i < 3; i++) {
        check_outcome(&out[i], GREEN_TASK_CANCELLED, -ECANCELED, NULL);
        ck_assert_int_eq(j[i].cleanup, 1);
    }
    ck_assert_int_eq(green_join(kt, slow(1.0), NULL), 0);
    green_task_release(kt);
    finish_all(t, 3);
}
END_TEST

START_TEST(gather_fail_fast_already_failed)
{
    struct job j[3] = {{.delay = 1.0}, {.fail = -EDOM}, {.delay = 1.0}};
    green_task_t *t[3];
    spawn_jobs(t, j, 3);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(green_task_status(t[1]), GREEN_TASK_FAILED);
    green_outcome_t out[3];
    double t0 = green_test_now();
    ck_assert_int_eq(green_gather(t, 3, GREEN_FOREVER, GREEN_GATHER_FAIL_FAST,
                                  out), -EDOM);
    ck_assert_double_lt(green_test_now() - t0, slow(0.5));
    check_outcome(&out[0], GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    check_outcome(&out[1], GREEN_TASK_FAILED, -EDOM, NULL);
    check_outcome(&out[2], GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    ck_assert_int_eq(j[0].cleanup, 1);
    ck_assert_int_eq(j[2].cleanup, 1);
    finish_all(t, 3);
}
END_TEST

START_TEST(gather_fail_fast_all_succeed)
{
    struct job j[3] = {{.delay = 0.03, .value = &v0}, {.value = &v3},
                       {.delay = 0.01, .value = &v0}};
    green_task_t *t[3];
    spawn_jobs(t, j, 3);
    green_outcome_t out[3];
    ck_assert_int_eq(green_gather(t, 3, GREEN_FOREVER, GREEN_GATHER_FAIL_FAST,
                                  out), 0);
    check_outcome(&out[0], GREEN_TASK_DONE, 0, &v0);
    check_outcome(&out[1], GREEN_TASK_DONE, 0, &v3);
    check_outcome(&out[2], GREEN_TASK_DONE, 0, &v0);
    finish_all(t, 3);
}
END_TEST

START_TEST(gather_timeout)
{
    struct job j[3] = {{.value = &v0}, {.delay = 0.15}, {.value = &v3}};
    green_task_t *t[3];
    ck_assert_int_eq(green_spawn(&t[0], job_body, &j[0]), 0);
    ck_assert_int_eq(green_spawn(&t[1], job_body, &j[1]), 0);
    ck_assert_int_eq(green_spawn_later(&t[2], 5.0, job_body, &j[2]), 0);
    green_outcome_t out[3];
    double t0 = green_test_now();
    ck_assert_int_eq(green_gather(t, 3, 0.05, 0, out), -ETIMEDOUT);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.045);
    ck_assert_double_lt(dt, slow(0.5));
    check_outcome(&out[0], GREEN_TASK_DONE, 0, &v0);
    check_outcome(&out[1], GREEN_TASK_RUNNING, 0, NULL);
    check_outcome(&out[2], GREEN_TASK_PENDING, 0, NULL);
    /* A zero timeout polls. */
    ck_assert_int_eq(green_gather(t, 3, 0, 0, out), -ETIMEDOUT);
    ck_assert_int_eq(out[1].status, GREEN_TASK_RUNNING);
    /* The timed-out gathers left no callback behind: t[1] ends on its
     * own now (ASan and valgrind watch for a write into the old watch). */
    ck_assert_int_eq(green_join(t[1], slow(1.0), NULL), 0);
    ck_assert_int_eq(j[1].sleep_ret, 0);
    ck_assert_int_eq(green_gather(t, 2, 0, 0, out), 0);
    finish_all(t, 3);
    ck_assert_int_eq(j[2].started, 0);
}
END_TEST

START_TEST(gather_empty)
{
    ck_assert_int_eq(green_gather(NULL, 0, GREEN_FOREVER, 0, NULL), 0);
    ck_assert_int_eq(green_gather(NULL, 0, 0, GREEN_GATHER_FAIL_FAST, NULL),
                     0);
    ck_assert_int_eq(green_gather_run(job_body, NULL, 0, GREEN_FOREVER, 0,
                                      NULL), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* Runs green_gather (or green_wait, or as_completed) over `tasks` from a
 * task of its own, so that the root can kill the caller. */
struct caller {
    green_task_t **tasks;
    size_t n;
    int mode;          /* 0 gather, 1 wait, 2 as_completed */
    int ret;
    green_outcome_t out[4];
    size_t ndone, npending;
};

static void *caller_body(void *arg)
{
    struct caller *c = arg;
    if (c->mode == 0) {
        c->ret = green_gather(c->tasks, c->n, GREEN_FOREVER, 0, c->out);
    } else if (c->mode == 1) {
        green_task_t *done[4], *pending[4];
        c->ret = green_wait(c->tasks, c->n, GREEN_FOREVER,
                            GREEN_ALL_COMPLETED, done, &c->ndone, pending,
                            &c->npending);
    } else {
        green_as_completed_t *it;
        c->ret = green_as_completed_new(&it, c->tasks, c->n, GREEN_FOREVER);
        if (c->ret == 0) {
            green_task_t *t;
            c->ret = green_as_completed_next(it, &t);
            green_as_completed_free(it);
        }
    }
    return NULL;
}

START_TEST(caller_killed)
{
    /* Killing the greenlet that waits ends its wait with -ECANCELED; the
     * tasks it waited on are not its own and run on. */
    for (int mode = 0; mode < 3; mode++) {
        struct job j[2] = {{.delay = 0.3}, {.delay = 0.3}};
        green_task_t *t[2], *ct;
        spawn_jobs(t, j, 2);
        struct caller c = {.tasks = t, .n = 2, .mode = mode, .ret = 1};
        ck_assert_int_eq(green_spawn(&ct, caller_body, &c), 0);
        ck_assert_int_eq(green_sleep(0.02), 0);
        ck_assert_int_eq(green_kill(ct), 0);
        ck_assert_int_eq(green_join(ct, slow(1.0), NULL), 0);
        green_task_release(ct);
        ck_assert_msg(c.ret == -ECANCELED, "mode %d returned %d", mode,
                      c.ret);
        if (mode == 0) {
            ck_assert_int_eq(c.out[0].status, GREEN_TASK_RUNNING);
        } else if (mode == 1) {
            ck_assert_uint_eq(c.ndone, 0);
            ck_assert_uint_eq(c.npending, 2);
        }
        ck_assert(!green_task_done(t[0]));
        ck_assert(!green_task_done(t[1]));
        ck_assert_int_eq(green_joinall(t, 2, slow(2.0)), 0);
        ck_assert_int_eq(j[0].sleep_ret, 0); /* never killed by the wait */
        finish_all(t, 2);
    }
}
END_TEST

/* --- gather_run ----------------------------------------------------------- */

START_TEST(gather_run_overlaps)
{
    struct job j[3] = {{.delay = 0.2, .value = &v0},
                       {.delay = 0.2, .fail = -EDOM},
                       {.delay = 0.2, .value = &v3}};
    void *args[3] = {&j[0], &j[1], &j[2]};
    green_outcome_t out[3];
    double t0 = green_test_now();
    ck_assert_int_eq(green_gather_run(job_body, args, 3, GREEN_FOREVER, 0,
                                      out), 0);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.19);
    /* Together: about 0.2 s, not 0.6 s. */
    ck_assert_double_lt(dt, green_test_valgrind() ? slow(0.5) : 0.45);
    check_outcome(&out[0], GREEN_TASK_DONE, 0, &v0);
    check_outcome(&out[1], GREEN_TASK_FAILED, -EDOM, NULL);
    check_outcome(&out[2], GREEN_TASK_DONE, 0, &v3);
    /* Released: nothing of them is left. */
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(gather_run_timeout_kills_and_waits)
{
    struct job j[3] = {{.delay = 1.0}, {.delay = GREEN_FOREVER},
                       {.value = &v0}};
    void *args[3] = {&j[0], &j[1], &j[2]};
    green_outcome_t out[3];
    double t0 = green_test_now();
    ck_assert_int_eq(green_gather_run(job_body, args, 3, 0.05, 0, out),
                     -ETIMEDOUT);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.045);
    ck_assert_double_lt(dt, slow(0.5));
    /* Killed and waited for before the return: their cleanup ran. */
    ck_assert_int_eq(j[0].cleanup, 1);
    ck_assert_int_eq(j[0].sleep_ret, -ECANCELED);
    ck_assert_int_eq(j[1].cleanup, 1);
    ck_assert_int_eq(j[1].sleep_ret, -ECANCELED);
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(out[i].status == GREEN_TASK_RUNNING ||
                      out[i].status == GREEN_TASK_CANCELLED,
                      "slot %d says %s", i,
                      green_task_status_name(out[i].status));
        ck_assert_ptr_null(out[i].value);
    }
    check_outcome(&out[2], GREEN_TASK_DONE, 0, &v0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(gather_run_fail_fast)
{
    struct job j[3] = {{.delay = 1.0}, {.delay = 0.02, .fail = -EDOM},
                       {.delay = GREEN_FOREVER}};
    void *args[3] = {&j[0], &j[1], &j[2]};
    green_outcome_t out[3];
    double t0 = green_test_now();
    ck_assert_int_eq(green_gather_run(job_body, args, 3, GREEN_FOREVER,
                                      GREEN_GATHER_FAIL_FAST, out), -EDOM);
    ck_assert_double_lt(green_test_now() - t0, slow(0.5));
    check_outcome(&out[0], GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    check_outcome(&out[1], GREEN_TASK_FAILED, -EDOM, NULL);
    check_outcome(&out[2], GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    ck_assert_int_eq(j[0].cleanup, 1);
    ck_assert_int_eq(j[2].cleanup, 1);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* Runs green_gather_run from a task, and notes how many of the jobs had
 * run their cleanup when it returned. */
struct runner {
    struct job *jobs;
    size_t n;
    int ret;
    int cleaned_at_return;
    size_t live_at_return;
};

static void *runner_body(void *arg)
{
    struct runner *rn = arg;
    void *args[4];
    green_outcome_t out[4];
    for (size_t i = 0; i < rn->n; i++) {
        args[i] = &rn->jobs[i];
    }
    rn->ret = green_gather_run(job_body, args, rn->n, GREEN_FOREVER, 0, out);
    for (size_t i = 0; i < rn->n; i++) {
        rn->cleaned_at_return += rn->jobs[i].cleanup;
    }
    rn->live_at_return = green_test_live_tasks();
    return NULL;
}

START_TEST(gather_run_caller_killed)
{
    /* The tasks are gather_run's own: killed with their caller, and
     * waited for before it returns, even though the caller is being
     * cancelled (nothing outlives the call). */
    struct job j[3] = {{.delay = 0.3}, {.delay = GREEN_FOREVER},
                       {.delay = 0.3}};
    struct runner rn = {.jobs = j, .n = 3, .ret = 1};
    green_task_t *rt;
    ck_assert_int_eq(green_spawn(&rt, runner_body, &rn), 0);
    ck_assert_int_eq(green_sleep(0.02), 0);
    ck_assert_int_eq(j[0].started + j[1].started + j[2].started, 3);
    double t0 = green_test_now();
    ck_assert_int_eq(green_kill(rt), 0);
    ck_assert_int_eq(green_join(rt, slow(1.0), NULL), 0);
    ck_assert_double_lt(green_test_now() - t0, slow(0.25));
    green_task_release(rt);
    ck_assert_int_eq(rn.ret, -ECANCELED);
    ck_assert_int_eq(rn.cleaned_at_return, 3);
    /* Only the runner itself was left when it returned. */
    ck_assert_uint_eq(rn.live_at_return, 1);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(j[i].sleep_ret, -ECANCELED);
    }
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(gather_run_bad_input)
{
    struct job j = {.value = &v0};
    void *args[1] = {&j};
    green_outcome_t out[1];
    ck_assert_int_eq(green_gather_run(NULL, args, 1, GREEN_FOREVER, 0, out),
                     -EINVAL);
    ck_assert_int_eq(green_gather_run(job_body, NULL, 1, GREEN_FOREVER, 0,
                                      out), -EINVAL);
    ck_assert_int_eq(green_gather_run(job_body, args, 1, GREEN_FOREVER, 0,
                                      NULL), -EINVAL);
    ck_assert_int_eq(green_gather_run(job_body, args, 1, -1.0, 0, out),
                     -EINVAL);
    ck_assert_int_eq(green_gather_run(job_body, args, 1, NAN, 0, out),
                     -EINVAL);
    /* Refused calls ran nothing and left nothing. */
    ck_assert_int_eq(j.started, 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* --- wait ----------------------------------------------------------------- */

START_TEST(wait_first_completed)
{
    struct job j[3] = {{.delay = 0.3}, {.delay = 0.02}, {.delay = 0.3}};
    green_task_t *t[3], *done[3], *pending[3];
    size_t nd = 99, np = 99;
    spawn_jobs(t, j, 3);
    double t0 = green_test_now();
    ck_assert_int_eq(green_wait(t, 3, GREEN_FOREVER, GREEN_FIRST_COMPLETED,
                                done, &nd, pending, &np), 0);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.015);
    ck_assert_double_lt(dt, slow(0.25));
    ck_assert_uint_eq(nd, 1);
    ck_assert_ptr_eq(done[0], t[1]);
    ck_assert_uint_eq(np, 2);
    ck_assert_ptr_eq(pending[0], t[0]);
    ck_assert_ptr_eq(pending[1], t[2]);
    /* Already met: returns at once. */
    t0 = green_test_now();
    ck_assert_int_eq(green_wait(t, 3, GREEN_FOREVER, GREEN_FIRST_COMPLETED,
                                done, &nd, pending, &np), 0);
    ck_assert_double_lt(green_test_now() - t0, slow(0.1));
    ck_assert_uint_eq(nd, 1);
    finish_all(t, 3);
}
END_TEST

START_TEST(wait_first_error)
{
    struct job j[3] = {{.delay = 0.01}, {.delay = 0.04, .fail = -EDOM},
                       {.delay = 0.5}};
    green_task_t *t[3], *done[3], *pending[3];
    size_t nd = 99, np = 99;
    spawn_jobs(t, j, 3);
    double t0 = green_test_now();
    ck_assert_int_eq(green_wait(t, 3, GREEN_FOREVER, GREEN_FIRST_ERROR,
                                done, &nd, pending, &np), 0);
    double dt = green_test_now() - t0;
    /* Not at the first success (0.01), at the first failure (0.04). */
    ck_assert_double_ge(dt, 0.035);
    ck_assert_double_lt(dt, slow(0.4));
    ck_assert_uint_eq(nd, 2);
    ck_assert_ptr_eq(done[0], t[0]);
    ck_assert_ptr_eq(done[1], t[1]);
    ck_assert_uint_eq(np, 1);
    ck_assert_ptr_eq(pending[0], t[2]);
    ck_assert_int_eq(green_task_error(done[1]), -EDOM);
    finish_all(t, 3);
}
END_TEST

START_TEST(wait_first_error_cancelled)
{
    /* A killed task counts as an error. */
    struct job j[2] = {{.delay = GREEN_FOREVER}, {.delay = 0.5}};
    green_task_t *t[2], *done[2], *pending[2], *kt;
    size_t nd = 99, np = 99;
    spawn_jobs(t, j, 2);
    struct killer k = {.delay = 0.02, .victim = t[0]};
    ck_assert_int_eq(green_spawn(&kt, killer_body, &k), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_wait(t, 2, GREEN_FOREVER, GREEN_FIRST_ERROR,
                                done, &nd, pending, &np), 0);
    ck_assert_double_lt(green_test_now() - t0, slow(0.4));
    ck_assert_uint_eq(nd, 1);
    ck_assert_ptr_eq(done[0], t[0]);
    ck_assert_int_eq(green_task_status(t[0]), GREEN_TASK_CANCELLED);
    ck_assert_uint_eq(np, 1);
    ck_assert_ptr_eq(pending[0], t[1]);
    ck_assert_int_eq(green_join(kt, slow(1.0), NULL), 0);
    green_task_release(kt);
    finish_all(t, 2);
}
END_TEST

START_TEST(wait_first_error_none_fails)
{
    /* Without a failure, FIRST_ERROR waits for every task. */
    struct job j[3] = {{.delay = 0.06}, {.delay = 0.01}, {.delay = 0.03}};
    green_task_t *t[3], *done[3], *pending[3];
    size_t nd = 99, np = 99;
    spawn_jobs(t, j, 3);
    double t0 = green_test_now();
    ck_assert_int_eq(green_wait(t, 3, GREEN_FOREVER, GREEN_FIRST_ERROR,
                                done, &nd, pending, &np), 0);
    ck_assert_double_ge(green_test_now() - t0, 0.055);
    ck_assert_uint_eq(nd, 3);
    ck_assert_uint_eq(np, 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_eq(done[i], t[i]);
    }
    finish_all(t, 3);
}
END_TEST

START_TEST(wait_all_completed)
{
    /* Finishing order 2, 1, 0; the split keeps argument order. */
    struct job j[3] = {{.delay = 0.06}, {.delay = 0.03, .fail = -EDOM},
                       {.delay = 0.01}};
    green_task_t *t[3], *done[3], *pending[3];
    size_t nd = 99, np = 99;
    spawn_jobs(t, j, 3);
    double t0 = green_test_now();
    ck_assert_int_eq(green_wait(t, 3, GREEN_FOREVER, GREEN_ALL_COMPLETED,
                                done, &nd, pending, &np), 0);
    ck_assert_double_ge(green_test_now() - t0, 0.055);
    ck_assert_uint_eq(nd, 3);
    ck_assert_uint_eq(np, 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_ptr_eq(done[i], t[i]);
        ck_assert(green_task_done(t[i]));
    }
    finish_all(t, 3);
}
END_TEST

START_TEST(wait_timeout_split)
{
    struct job j[3] = {{.delay = 0.01}, {.delay = 0.5},
                       {.delay = GREEN_FOREVER}};
    green_task_t *t[3], *done[3], *pending[3];
    size_t nd = 99, np = 99;
    spawn_jobs(t, j, 3);
    double t0 = green_test_now();
    ck_assert_int_eq(green_wait(t, 3, 0.05, GREEN_ALL_COMPLETED, done, &nd,
                                pending, &np), -ETIMEDOUT);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.045);
    ck_assert_double_lt(dt, slow(0.45));
    ck_assert_uint_eq(nd, 1);
    ck_assert_ptr_eq(done[0], t[0]);
    ck_assert_uint_eq(np, 2);
    ck_assert_ptr_eq(pending[0], t[1]);
    ck_assert_ptr_eq(pending[1], t[2]);
    /* FIRST_COMPLETED over the two still running: nothing ends in time. */
    ck_assert_int_eq(green_wait(t + 1, 2, 0.02, GREEN_FIRST_COMPLETED, done,
                                &nd, pending, &np), -ETIMEDOUT);
    ck_assert_uint_eq(nd, 0);
    ck_assert_uint_eq(np, 2);
    ck_assert_int_eq(green_wait(t + 1, 2, 0, GREEN_FIRST_ERROR, done, &nd,
                                pending, &np), -ETIMEDOUT);
    ck_assert_uint_eq(np, 2);
    finish_all(t, 3);
}
END_TEST

START_TEST(wait_optional_arrays)
{
    struct job j[2] = {{.delay = 0.01}, {.delay = 0.5}};
    green_task_t *t[2];
    size_t nd = 99, np = 99;
    spawn_jobs(t, j, 2);
    ck_assert_int_eq(green_wait(t, 2, GREEN_FOREVER, GREEN_FIRST_COMPLETED,
                                NULL, &nd, NULL, &np), 0);
    ck_assert_uint_eq(nd, 1);
    ck_assert_uint_eq(np, 1);
    ck_assert_int_eq(green_wait(t, 2, 0, GREEN_FIRST_COMPLETED, NULL, NULL,
                                NULL, NULL), 0);
    ck_assert_int_eq(green_wait(NULL, 0, 0, GREEN_ALL_COMPLETED, NULL, &nd,
                                NULL, &np), 0);
    ck_assert_uint_eq(nd, 0);
    ck_assert_uint_eq(np, 0);
    finish_all(t, 2);
}
END_TEST

/* --- as_completed --------------------------------------------------------- */

START_TEST(as_completed_finish_order)
{
    struct job j[3] = {{.delay = 0.3}, {.delay = 0.1}, {.delay = 0.2}};
    green_task_t *t[3];
    spawn_jobs(t, j, 3);
    green_as_completed_t *it;
    double t0 = green_test_now();
    ck_assert_int_eq(green_as_completed_new(&it, t, 3, GREEN_FOREVER), 0);
    green_task_t *got;
    const int want[3] = {1, 2, 0};
    for (int i = 0; i < 3; i++) {
        got = NULL;
        ck_assert_int_eq(green_as_completed_next(it, &got), 0);
        ck_assert_ptr_eq(got, t[want[i]]);
        ck_assert(green_task_done(got));
        /* It waited for each one. */
        ck_assert_double_ge(green_test_now() - t0, 0.095 + 0.1 * i);
    }
    ck_assert_double_lt(green_test_now() - t0, slow(0.6));
    ck_assert_int_eq(green_as_completed_next(it, &got), -ENOENT);
    ck_assert_int_eq(green_as_completed_next(it, &got), -ENOENT);
    green_as_completed_free(it);
    finish_all(t, 3);
}
END_TEST

START_TEST(as_completed_ended_first)
{
    /* t[2] ended before t[1], both before the iterator: they come first,
     * in argument order; the running t[0] comes last. */
    struct job j[3] = {{.delay = 0.05}, {.delay = 0.005}, {.delay = 0}};
    green_task_t *t[3];
    spawn_jobs(t, j, 3);
    ck_assert_int_eq(green_sleep(0.02), 0);
    ck_assert(green_task_done(t[1]) && green_task_done(t[2]));
    ck_assert_double_lt(j[2].t_end, j[1].t_end);
    ck_assert(!green_task_done(t[0]));
    green_as_completed_t *it;
    ck_assert_int_eq(green_as_completed_new(&it, t, 3, GREEN_FOREVER), 0);
    green_task_t *got;
    ck_assert_int_eq(green_as_completed_next(it, &got), 0);
    ck_assert_ptr_eq(got, t[1]);
    ck_assert_int_eq(green_as_completed_next(it, &got), 0);
    ck_assert_ptr_eq(got, t[2]);
    ck_assert(!green_task_done(t[0]));
    ck_assert_int_eq(green_as_completed_next(it, &got), 0);
    ck_assert_ptr_eq(got, t[0]);
    ck_assert_int_eq(green_as_completed_next(it, &got), -ENOENT);
    green_as_completed_free(it);
    finish_all(t, 3);
}
END_TEST

START_TEST(as_completed_errors)
{
    /* Failed and killed tasks are yielded like the others; their status
     * tells how they ended. */
    struct job j[3] = {{.delay = 0.06, .value = &v0},
                       {.delay = 0.01, .fail = -EDOM},
                       {.delay = GREEN_FOREVER}};
    green_task_t *t[3], *kt;
    spawn_jobs(t, j, 3);
    struct killer k = {.delay = 0.03, .victim = t[2]};
    ck_assert_int_eq(green_spawn(&kt, killer_body, &k), 0);
    green_as_completed_t *it;
    ck_assert_int_eq(green_as_completed_new(&it, t, 3, GREEN_FOREVER), 0);
    green_task_t *got;
    green_outcome_t o;
    ck_assert_int_eq(green_as_completed_next(it, &got), 0);
    ck_assert_ptr_eq(got, t[1]);
    green_outcome_of(got, &o);
    check_outcome(&o, GREEN_TASK_FAILED, -EDOM, NULL);
    ck_assert_int_eq(green_as_completed_next(it, &got), 0);
    ck_assert_ptr_eq(got, t[2]);
    green_outcome_of(got, &o);
    check_outcome(&o, GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    ck_assert_int_eq(green_as_completed_next(it, &got), 0);
    ck_assert_ptr_eq(got, t[0]);
    green_outcome_of(got, &o);
    check_outcome(&o, GREEN_TASK_DONE, 0, &v0);
    ck_assert_int_eq(green_as_completed_next(it, &got), -ENOENT);
    green_as_completed_free(it);
    ck_assert_int_eq(green_join(kt, slow(1.0), NULL), 0);
    green_task_release(kt);
    finish_all(t, 3);
}
END_TEST

START_TEST(as_completed_deadline)
{
    struct job j[2] = {{.delay = 0.15}, {.delay = GREEN_FOREVER}};
    green_task_t *t[2];
    spawn_jobs(t, j, 2);
    green_as_completed_t *it;
    ck_assert_int_eq(green_as_completed_new(&it, t, 2, 0.05), 0);
    green_task_t *got = NULL;
    double t0 = green_test_now();
    ck_assert_int_eq(green_as_completed_next(it, &got), -ETIMEDOUT);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.04);
    ck_assert_double_lt(dt, slow(0.5));
    /* The deadline is overall: past it, no more waiting. */
    t0 = green_test_now();
    ck_assert_int_eq(green_as_completed_next(it, &got), -ETIMEDOUT);
    ck_assert_double_lt(green_test_now() - t0, slow(0.05));
    /* A task that ended meanwhile is still returned. */
    ck_assert_int_eq(green_join(t[0], slow(1.0), NULL), 0);
    ck_assert_int_eq(green_as_completed_next(it, &got), 0);
    ck_assert_ptr_eq(got, t[0]);
    ck_assert_int_eq(green_as_completed_next(it, &got), -ETIMEDOUT);
    green_as_completed_free(it);
    finish_all(t, 2);
}
END_TEST

/* Sizes around those of the iterator and its order array. */
#define JUNK_SIZE(i) ((size_t)16 + (size_t)((i) % 8) * 8)

START_TEST(as_completed_free_early)
{
    /* Freed before the end: the tasks that end afterwards, on their own
     * or killed, must not call into the freed iterator (run under ASan
     * and valgrind to see a stale callback). */
    struct job j[4] = {{.delay = 0.01}, {.delay = 0.03}, {.delay = 0.05},
                       {.delay = GREEN_FOREVER}};
    green_task_t *t[4];
    spawn_jobs(t, j, 4);
    green_as_completed_t *it;
    ck_assert_int_eq(green_as_completed_new(&it, t, 4, GREEN_FOREVER), 0);
    green_task_t *got;
    ck_assert_int_eq(green_as_completed_next(it, &got), 0);
    ck_assert_ptr_eq(got, t[0]);
    green_as_completed_free(it);
    /* Churn the heap so that a stale callback would scribble on live
     * memory. */
    void *junk[64];
    for (int i = 0; i < 64; i++) {
        junk[i] = malloc(JUNK_SIZE(i));
        ck_assert_ptr_nonnull(junk[i]);
        memset(junk[i], 0x5a, JUNK_SIZE(i));
    }
    ck_assert_int_eq(green_kill(t[3]), 0);
    ck_assert_int_eq(green_joinall(t, 4, slow(2.0)), 0);
    for (int i = 0; i < 64; i++) {
        for (size_t b = 0; b < JUNK_SIZE(i); b++) {
            ck_assert_int_eq(((unsigned char *)junk[i])[b], 0x5a);
        }
        free(junk[i]);
    }
    green_as_completed_free(NULL);
    /* An iterator over nothing ends at once. */
    ck_assert_int_eq(green_as_completed_new(&it, NULL, 0, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_as_completed_next(it, &got), -ENOENT);
    green_as_completed_free(it);
    finish_all(t, 4);
}
END_TEST

START_TEST(as_completed_keeps_no_caller_array)
{
    /* green_as_completed_new() returns an iterator that lives on; the
     * header asks the caller to keep the task handles, not the array
     * they were passed in. Free the array right away (and clear it first
     * when forking: a crash then fails this test only; without a fork,
     * under valgrind, the stale read is reported instead). */
    struct job j[3] = {{.delay = 0.01}, {.delay = 0.2}, {.delay = 0.3}};
    green_task_t *t[3];
    spawn_jobs(t, j, 3);
    green_task_t **arr = malloc(sizeof(t));
    ck_assert_ptr_nonnull(arr);
    memcpy(arr, t, sizeof(t));
    green_as_completed_t *it;
    ck_assert_int_eq(green_as_completed_new(&it, arr, 3, GREEN_FOREVER), 0);
    if (green_test_forking()) {
        memset(arr, 0, sizeof(t));
    }
    free(arr);
    green_task_t *got;
    ck_assert_int_eq(green_as_completed_next(it, &got), 0);
    ck_assert_ptr_eq(got, t[0]);
    green_as_completed_free(it); /* two tasks still running */
    finish_all(t, 3);
}
END_TEST

/* --- deadlock ------------------------------------------------------------- */

static void *sem_forever_body(void *arg)
{
    green_sem_acquire(arg, GREEN_FOREVER);
    return NULL;
}

static void *sleep_forever_body(void *arg)
{
    (void)arg;
    green_sleep(GREEN_FOREVER);
    return NULL;
}

static void *native_sleeper(void *arg)
{
    (void)arg;
    sleep(30); /* the child's deadline comes first */
    return NULL;
}

/* which 0-2: gather, wait, as_completed on tasks stuck on a semaphore;
 * 3: a gather on tasks asleep for ever while another OS thread exists,
 * which cannot end them (a watch of this thread's tasks only is a local
 * wait: it was judged as one another thread might end). */
static void gather_deadlock_child(void *arg)
{
    int which = (int)(intptr_t)arg;
    green_test_child_deadline(5);
    green_sem_t *s;
    green_task_t *t[2];
    if (green_sem_new(&s, 0) != 0) {
        _exit(100);
    }
    pthread_t other;
    if (which == 3 && pthread_create(&other, NULL, native_sleeper, NULL)) {
        _exit(100);
    }
    for (int i = 0; i < 2; i++) {
        green_spawn_opts_t o = {.name = i ? "stuck-two" : "stuck-one"};
        if (green_spawn_ex(&t[i], which == 3 ? sleep_forever_body
                                             : sem_forever_body,
                           s, &o) != 0) {
            _exit(100);
        }
    }
    int r;
    if (which == 0 || which == 3) {
        green_outcome_t out[2];
        r = green_gather(t, 2, GREEN_FOREVER, 0, out);
        if (r == -EDEADLK && out[0].status != GREEN_TASK_RUNNING) {
            _exit(101);
        }
    } else if (which == 1) {
        size_t nd = 9, np = 9;
        r = green_wait(t, 2, GREEN_FOREVER, GREEN_FIRST_COMPLETED, NULL, &nd,
                       NULL, &np);
        if (r == -EDEADLK && (nd != 0 || np != 2)) {
            _exit(101);
        }
    } else {
        green_as_completed_t *it;
        green_task_t *got;
        r = green_as_completed_new(&it, t, 2, GREEN_FOREVER);
        if (r == 0) {
            r = green_as_completed_next(it, &got);
        }
    }
    _exit(-r & 0xff);
}

START_TEST(deadlock_reported)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    for (int which = 0; which < 4; which++) {
        int st = green_test_fork_capture(gather_deadlock_child,
                                         (void *)(intptr_t)which, report,
                                         sizeof report);
        check_child(st, EDEADLK, report);
        ck_assert_msg(strstr(report, "stuck-one") != NULL &&
                      strstr(report, "stuck-two") != NULL,
                      "report does not name the tasks: %s", report);
    }
}
END_TEST

/* --- bad input ------------------------------------------------------------ */

START_TEST(bad_input)
{
    struct job j = {.delay = 0.5};
    green_task_t *t, *bad[2];
    green_outcome_t out[2];
    green_task_t *done[2], *pending[2];
    size_t nd, np;
    green_as_completed_t *it = (void *)1;
    ck_assert_int_eq(green_spawn(&t, job_body, &j), 0);
    ck_assert_int_eq(green_sleep(0), 0); /* it sleeps now */
    bad[0] = t;
    bad[1] = NULL;

    ck_assert_int_eq(green_gather(NULL, 1, GREEN_FOREVER, 0, out), -EINVAL);
    ck_assert_int_eq(green_gather(&t, 1, GREEN_FOREVER, 0, NULL), -EINVAL);
    ck_assert_int_eq(green_gather(bad, 2, GREEN_FOREVER, 0, out), -EINVAL);
    ck_assert_int_eq(green_gather(&t, 1, -1.0, 0, out), -EINVAL);
    ck_assert_int_eq(green_gather(&t, 1, NAN, 0, out), -EINVAL);

    ck_assert_int_eq(green_wait(NULL, 1, GREEN_FOREVER, GREEN_ALL_COMPLETED,
                                done, &nd, pending, &np), -EINVAL);
    ck_assert_int_eq(green_wait(bad, 2, GREEN_FOREVER, GREEN_ALL_COMPLETED,
                                done, &nd, pending, &np), -EINVAL);
    ck_assert_int_eq(green_wait(&t, 1, -0.1, GREEN_ALL_COMPLETED, done, &nd,
                                pending, &np), -EINVAL);
    ck_assert_int_eq(green_wait(&t, 1, NAN, GREEN_FIRST_COMPLETED, done, &nd,
                                pending, &np), -EINVAL);
    ck_assert_int_eq(green_wait(&t, 1, GREEN_FOREVER, (green_wait_when_t)3,
                                done, &nd, pending, &np), -EINVAL);
    ck_assert_int_eq(green_wait(&t, 1, GREEN_FOREVER, (green_wait_when_t)-1,
                                done, &nd, pending, &np), -EINVAL);
    ck_assert_int_eq(green_wait(NULL, 0, GREEN_FOREVER, (green_wait_when_t)7,
                                NULL, NULL, NULL, NULL), -EINVAL);

    ck_assert_int_eq(green_as_completed_new(NULL, &t, 1, GREEN_FOREVER),
                     -EINVAL);
    ck_assert_int_eq(green_as_completed_new(&it, NULL, 1, GREEN_FOREVER),
                     -EINVAL);
    ck_assert_int_eq(green_as_completed_new(&it, bad, 2, GREEN_FOREVER),
                     -EINVAL);
    ck_assert_int_eq(green_as_completed_new(&it, &t, 1, -1.0), -EINVAL);
    ck_assert_int_eq(green_as_completed_new(&it, &t, 1, NAN), -EINVAL);
    ck_assert_ptr_eq(it, (void *)1); /* untouched on failure */
    green_task_t *got;
    ck_assert_int_eq(green_as_completed_next(NULL, &got), -EINVAL);
    ck_assert_int_eq(green_as_completed_new(&it, &t, 1, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_as_completed_next(it, NULL), -EINVAL);
    green_as_completed_free(it);
    green_as_completed_free(NULL);

    /* None of that touched the task, and no refused call left a link
     * behind (it ends now without calling anything stale). */
    ck_assert_int_eq(j.started, 1);
    ck_assert(!green_task_done(t));
    ck_assert_int_eq(green_join(t, slow(2.0), NULL), 0);
    ck_assert_int_eq(j.sleep_ret, 0);
    green_task_release(t);

    /* A released handle is not a task any more. */
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* Tasks of another OS thread's hub, gathered, waited for and iterated
 * from here: their ends are seen here, a fail-fast gather kills the rest
 * through their home, and a watch that ends while another hub is still
 * calling its link for a task that just ended waits for that call. */
static void spawn_on_hub1(green_task_t **t, struct job *j, size_t n)
{
    green_spawn_opts_t o = {.hub = 1};
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(green_spawn_ex(&t[i], job_body, &j[i], &o), 0);
    }
}

START_TEST(other_hub_tasks)
{
    ck_assert_int_eq(green_hubs_start(2), 2);
    struct job j[3] = {
        {.delay = 0.05, .value = &j[0]},
        {.delay = 0.15, .fail = -EIO},
        {.delay = 10.0},
    };
    green_task_t *t[3];
    spawn_on_hub1(t, j, 3);
    green_outcome_t out[3];
    ck_assert_int_eq(green_gather(t, 1, 0.0, 0, out), -ETIMEDOUT);
    ck_assert_int_lt(out[0].status, GREEN_TASK_DONE); /* pending or running */

    green_task_t *done[3], *pending[3];
    size_t nd = 9, np = 9;
    green_task_t *ac[2] = {t[0], t[2]};
    ck_assert_int_eq(green_wait(ac, 2, slow(5.0), GREEN_FIRST_COMPLETED,
                                done, &nd, pending, &np), 0);
    ck_assert_uint_eq(nd, 1);
    ck_assert_uint_eq(np, 1);
    ck_assert_ptr_eq(done[0], t[0]);
    ck_assert_ptr_eq(pending[0], t[2]);

    /* b fails: c, asleep on hub 1, is killed there and its cleanup
     * waited for. */
    ck_assert_int_eq(green_gather(t, 3, slow(5.0), GREEN_GATHER_FAIL_FAST,
                                  out), -EIO);
    ck_assert_int_eq(out[0].status, GREEN_TASK_DONE);
    ck_assert_ptr_eq(out[0].value, &j[0]);
    ck_assert_int_eq(out[1].status, GREEN_TASK_FAILED);
    ck_assert_int_eq(out[1].error, -EIO);
    ck_assert_int_eq(out[2].status, GREEN_TASK_CANCELLED);
    ck_assert_int_eq(j[2].cleanup, 1);
    ck_assert_int_eq(j[2].sleep_ret, -ECANCELED);

    /* All ended: an iterator gives them in argument order. */
    green_as_completed_t *it;
    ck_assert_int_eq(green_as_completed_new(&it, t, 3, 1.0), 0);
    for (int i = 0; i < 3; i++) {
        green_task_t *got = NULL;
        ck_assert_int_eq(green_as_completed_next(it, &got), 0);
        ck_assert_ptr_eq(got, t[i]);
    }
    green_task_t *got = NULL;
    ck_assert_int_eq(green_as_completed_next(it, &got), -ENOENT);
    green_as_completed_free(it);
    for (int i = 0; i < 3; i++) {
        green_task_release(t[i]);
    }
    ck_assert_int_eq(green_hubs_stop(), 0);
}
END_TEST

/* Runs on hub 1 before the watch's link of the same task: the task has
 * ended (it reads as done here) while the watch's call is still to come. */
static void slow_link(green_task_t *t, void *userdata)
{
    (void)t;
    (void)userdata;
    usleep(1000);
}

START_TEST(other_hub_ends_race_watch_end)
{
    /* Two tasks of hub 1 that end one after the other: the first end ends
     * the wait, whose watch ends while hub 1 is still to call its link of
     * the second (a slow link of the test's own runs first). Freeing the
     * watch without waiting for that call was a use-after-free (ASan). */
    ck_assert_int_eq(green_hubs_start(2), 2);
    int rounds = green_test_emulated() ? 40 : green_test_valgrind() ? 50 : 200;
    for (int round = 0; round < rounds; round++) {
        struct job j[2] = {{.delay = 0}, {.delay = 0}};
        green_task_t *t[2];
        spawn_on_hub1(t, j, 2);
        ck_assert_int_eq(green_link(t[1], slow_link, NULL), 0);
        size_t nd = 0;
        ck_assert_int_eq(green_wait(t, 2, slow(5.0), GREEN_FIRST_COMPLETED,
                                    NULL, &nd, NULL, NULL), 0);
        ck_assert_uint_ge(nd, 1);
        green_outcome_t out[2];
        ck_assert_int_eq(green_gather(t, 2, slow(5.0), 0, out), 0);
        for (int i = 0; i < 2; i++) {
            ck_assert_int_eq(out[i].status, GREEN_TASK_DONE);
            green_task_release(t[i]);
        }
    }
    ck_assert_int_eq(green_hubs_stop(), 0);
}
END_TEST

/* A watcher that sees the last end counted (it polls, never parking)
 * ends its watch while that end still holds the watch's guard: the end
 * must wait for the guard to go (before, it freed the iterator under the
 * end, which went on to read and unlock it; ASan). The test hook holds
 * the end on hub 1 for 20 ms at that point. */
static int end_hook_done;

static void slow_end_hook(int point, const void *obj)
{
    (void)obj;
    if (point != GREEN__TEST_WATCH_END) {
        return;
    }
    usleep(20000);
    __atomic_store_n(&end_hook_done, 1, __ATOMIC_RELEASE);
}

START_TEST(watch_end_waits_for_last_call)
{
    ck_assert_int_eq(green_hubs_start(2), 2);
    struct job j = {.delay = 0.01};
    green_task_t *t;
    spawn_on_hub1(&t, &j, 1);
    green_as_completed_t *it;
    ck_assert_int_eq(green_as_completed_new(&it, &t, 1, 0.0), 0);
    __atomic_store_n(&end_hook_done, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&green__test_hook, slow_end_hook, __ATOMIC_RELEASE);
    green_task_t *got = NULL;
    int r;
    while ((r = green_as_completed_next(it, &got)) == -ETIMEDOUT) {
        ck_assert_int_eq(green_sleep(0.0005), 0);
    }
    ck_assert_int_eq(r, 0);
    ck_assert_ptr_eq(got, t);
    green_as_completed_free(it);
    ck_assert_int_eq(__atomic_load_n(&end_hook_done, __ATOMIC_ACQUIRE), 1);
    __atomic_store_n(&green__test_hook, NULL, __ATOMIC_RELEASE);
    ck_assert_int_eq(green_join(t, slow(5.0), NULL), 0);
    green_task_release(t);
    ck_assert_int_eq(green_hubs_stop(), 0);
}
END_TEST

struct foreign_it {
    green_as_completed_t *it;
    int r;
    double dt;
};

static void *foreign_next(void *arg)
{
    struct foreign_it *f = arg;
    green_task_t *got = NULL;
    double t0 = green_test_now();
    f->r = green_as_completed_next(f->it, &got);
    f->dt = green_test_now() - t0;
    return NULL;
}

START_TEST(foreign_thread_iterator)
{
    /* An iterator over this thread's tasks, driven from another OS
     * thread: refused at once with -EPERM, like every other object here
     * (it must not park that thread on tasks it cannot see end), and it
     * still works on its own thread afterwards. */
    struct job j = {.delay = 0.1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, job_body, &j), 0);
    struct foreign_it f = {.r = 1};
    ck_assert_int_eq(green_as_completed_new(&f.it, &t, 1, GREEN_FOREVER), 0);
    ck_assert_ptr_null(green_test_in_thread(foreign_next, &f));
    green_task_t *got = NULL;
    ck_assert_int_eq(green_as_completed_next(f.it, &got), 0);
    ck_assert_ptr_eq(got, t);
    ck_assert_int_eq(green_as_completed_next(f.it, &got), -ENOENT);
    green_as_completed_free(f.it);
    finish_all(&t, 1);
    ck_assert_int_eq(f.r, -EPERM);
    ck_assert_double_lt(f.dt, slow(0.5));
}
END_TEST

/* --- suite ---------------------------------------------------------------- */

static TCase *tcase(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    return tc;
}

Suite *green_test_gather_suite(void)
{
    Suite *s = suite_create("gather");

    TCase *tc = tcase("gather", 10);
    tcase_add_test(tc, gather_outcomes_in_argument_order);
    tcase_add_test(tc, gather_fail_fast);
    tcase_add_test(tc, gather_fail_fast_cancelled_member);
    tcase_add_test(tc, gather_fail_fast_already_failed);
    tcase_add_test(tc, gather_fail_fast_all_succeed);
    tcase_add_test(tc, gather_timeout);
    tcase_add_test(tc, gather_empty);
    tcase_add_test(tc, caller_killed);
    suite_add_tcase(s, tc);

    tc = tcase("gather_run", 10);
    tcase_add_test(tc, gather_run_overlaps);
    tcase_add_test(tc, gather_run_timeout_kills_and_waits);
    tcase_add_test(tc, gather_run_fail_fast);
    tcase_add_test(tc, gather_run_caller_killed);
    tcase_add_test(tc, gather_run_bad_input);
    suite_add_tcase(s, tc);

    tc = tcase("wait", 10);
    tcase_add_test(tc, wait_first_completed);
    tcase_add_test(tc, wait_first_error);
    tcase_add_test(tc, wait_first_error_cancelled);
    tcase_add_test(tc, wait_first_error_none_fails);
    tcase_add_test(tc, wait_all_completed);
    tcase_add_test(tc, wait_timeout_split);
    tcase_add_test(tc, wait_optional_arrays);
    suite_add_tcase(s, tc);

    tc = tcase("as_completed", 10);
    tcase_add_test(tc, as_completed_finish_order);
    tcase_add_test(tc, as_completed_ended_first);
    tcase_add_test(tc, as_completed_errors);
    tcase_add_test(tc, as_completed_deadline);
    tcase_add_test(tc, as_completed_free_early);
    tcase_add_test(tc, as_completed_keeps_no_caller_array);
    suite_add_tcase(s, tc);

    tc = tcase("errors", 10);
    tcase_add_test(tc, deadlock_reported);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, other_hub_tasks);
    tcase_add_test(tc, other_hub_ends_race_watch_end);
    tcase_add_test(tc, watch_end_waits_for_last_call);
    tcase_add_test(tc, foreign_thread_iterator);
    suite_add_tcase(s, tc);

    return s;
}
