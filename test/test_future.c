/* SPDX-License-Identifier: MIT */
/* The future suite (include/green/future.h): completion with a value, an
 * error or a cancellation, seen by get and by every waiter; completing
 * once; waiters woken in the order they began waiting; timeouts; waiters
 * killed while waiting; done-callbacks (order, userdata, after completion,
 * removal); free; deadlock reports; bad input; futures used from other
 * OS threads (waited for on two hubs, completed by a plain thread, two
 * completions racing); and tasks awaited like futures (green_task_wait and
 * green_task_get in include/green/task.h).
 *
 * Task bodies never call ck_assert (see test_task.c): they record what
 * they saw and the root checks. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <green.h>

#include "checks.h"
#include "helpers.h"
#include "suites.h"

/* Distinct addresses to pass as values and userdata. */
static int val_a, val_b;
#define UNTOUCHED ((void *)&untouched_marker)
static int untouched_marker;

/* --- waiters ---------------------------------------------------------- */

enum { NW = 5 };

static const int perm[NW] = {3, 0, 4, 1, 2};

static green_future_t *fut;

struct waiter {
    int id;
    bool use_get;      /* green_future_get, else green_future_wait */
    double timeout;
    int rc;            /* its call's result, 1 until it returns */
    void *value;       /* what get stored, UNTOUCHED if nothing */
    bool done_seen;    /* green_future_done() when its call returned */
};

static struct waiter ws[NW];
static int order[NW];
static int norder;

static void reset(void)
{
    for (int i = 0; i < NW; i++) {
        ws[i] = (struct waiter){.id = i, .use_get = true,
                                .timeout = GREEN_FOREVER, .rc = 1,
                                .value = UNTOUCHED};
        order[i] = -1;
    }
    norder = 0;
}

/* Like wait_body, but never touches the future after its call returns
 * (the root may have freed it by then). */
static void *wait_only_body(void *arg)
{
    struct waiter *w = arg;
    if (w->use_get) {
        w->rc = green_future_get(fut, w->timeout, &w->value);
    } else {
        w->rc = green_future_wait(fut, w->timeout);
    }
    return NULL;
}

static void *wait_body(void *arg)
{
    struct waiter *w = arg;
    if (w->use_get) {
        w->rc = green_future_get(fut, w->timeout, &w->value);
    } else {
        w->rc = green_future_wait(fut, w->timeout);
    }
    w->done_seen = green_future_done(fut);
    if (norder < NW) {
        order[norder++] = w->id;
    }
    return NULL;
}

static green_task_t *start_waiter(int id, bool use_get, double timeout)
{
    green_task_t *t;
    ws[id].use_get = use_get;
    ws[id].timeout = timeout;
    ck_assert_int_eq(green_spawn(&t, wait_body, &ws[id]), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert(!green_task_done(t));
    return t;
}

/* --- completion ------------------------------------------------------- */

static void *set_later_body(void *arg)
{
    green_sleep(0.03);
    green_future_set_result(arg, &val_a);
    return NULL;
}

START_TEST(result_reaches_root)
{
    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert(!green_future_done(f));
    ck_assert(!green_future_cancelled(f));
    ck_assert_int_eq(green_future_error(f), 0);
    ck_assert_ptr_null(green_future_result(f));
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, set_later_body, f), 0);
    void *v = UNTOUCHED;
    double t0 = green_test_now();
    ck_assert_int_eq(green_future_get(f, slow(5.0), &v), 0);
    check_elapsed(t0, 0.02, slow(1.0));
    ck_assert_ptr_eq(v, &val_a);
    ck_assert(green_future_done(f));
    ck_assert(!green_future_cancelled(f));
    ck_assert_int_eq(green_future_error(f), 0);
    ck_assert_ptr_eq(green_future_result(f), &val_a);
    /* Complete: every later wait or get returns at once, again and again. */
    t0 = green_test_now();
    ck_assert_int_eq(green_future_wait(f, 0.0), 0);
    v = NULL;
    ck_assert_int_eq(green_future_get(f, 0.0, &v), 0);
    ck_assert_ptr_eq(v, &val_a);
    ck_assert_int_eq(green_future_get(f, GREEN_FOREVER, NULL), 0);
    check_elapsed(t0, 0.0, slow(0.5));
    join_release(t);
    ck_assert_int_eq(green_future_free(f), 0);
}
END_TEST

START_TEST(null_result_is_a_result)
{
    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert_int_eq(green_future_set_result(f, NULL), 0);
    ck_assert(green_future_done(f));
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_future_get(f, 0.0, &v), 0);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(green_future_set_result(f, &val_a), -EINVAL);
    ck_assert_ptr_null(green_future_result(f));
    ck_assert_int_eq(green_future_free(f), 0);
}
END_TEST

START_TEST(result_reaches_every_waiter)
{
    reset();
    ck_assert_int_eq(green_future_new(&fut), 0);
    green_task_t *t[3];
    t[0] = start_waiter(0, true, GREEN_FOREVER);
    t[1] = start_waiter(1, true, 5.0);
    t[2] = start_waiter(2, false, GREEN_FOREVER);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(norder, 0);
    ck_assert_int_eq(green_future_set_result(fut, &val_b), 0);
    for (int i = 0; i < 3; i++) {
        join_release(t[i]);
        ck_assert_int_eq(ws[i].rc, 0);
        ck_assert(ws[i].done_seen);
    }
    ck_assert_ptr_eq(ws[0].value, &val_b);
    ck_assert_ptr_eq(ws[1].value, &val_b);
    ck_assert_int_eq(green_future_free(fut), 0);
}
END_TEST

START_TEST(error_reaches_every_waiter)
{
    reset();
    ck_assert_int_eq(green_future_new(&fut), 0);
    green_task_t *t[4];
    for (int i = 0; i < 3; i++) {
        t[i] = start_waiter(i, true, GREEN_FOREVER);
    }
    t[3] = start_waiter(3, false, GREEN_FOREVER);
    ck_assert_int_eq(green_future_set_error(fut, -EIO), 0);
    for (int i = 0; i < 4; i++) {
        join_release(t[i]);
        ck_assert(ws[i].done_seen);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ws[i].rc, -EIO);
        ck_assert_ptr_eq(ws[i].value, UNTOUCHED);
    }
    ck_assert_int_eq(ws[3].rc, 0); /* a wait succeeds whatever the outcome */
    ck_assert(green_future_done(fut));
    ck_assert(!green_future_cancelled(fut));
    ck_assert_int_eq(green_future_error(fut), -EIO);
    ck_assert_ptr_null(green_future_result(fut));
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_future_get(fut, 0.0, &v), -EIO);
    ck_assert_ptr_eq(v, UNTOUCHED);
    ck_assert_int_eq(green_future_get(fut, GREEN_FOREVER, NULL), -EIO);
    ck_assert_int_eq(green_future_free(fut), 0);
}
END_TEST

START_TEST(cancel_reaches_every_waiter)
{
    reset();
    ck_assert_int_eq(green_future_new(&fut), 0);
    green_task_t *t[4];
    for (int i = 0; i < 3; i++) {
        t[i] = start_waiter(i, true, GREEN_FOREVER);
    }
    t[3] = start_waiter(3, false, GREEN_FOREVER);
    ck_assert_int_eq(green_future_cancel(fut), 0);
    for (int i = 0; i < 4; i++) {
        join_release(t[i]);
        ck_assert(ws[i].done_seen);
        /* The waiters were not killed: their tasks end normally. */
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(ws[i].rc, -ECANCELED);
        ck_assert_ptr_eq(ws[i].value, UNTOUCHED);
    }
    ck_assert_int_eq(ws[3].rc, 0);
    ck_assert(green_future_done(fut));
    ck_assert(green_future_cancelled(fut));
    ck_assert_int_eq(green_future_error(fut), -ECANCELED);
    ck_assert_ptr_null(green_future_result(fut));
    ck_assert_int_eq(green_future_get(fut, 0.0, NULL), -ECANCELED);
    ck_assert_int_eq(green_future_free(fut), 0);
}
END_TEST

static int cb_calls;

static void count_cb(green_future_t *f, void *userdata)
{
    cb_calls++;
}

START_TEST(completes_once)
{
    green_future_t *f;
    cb_calls = 0;

    /* A value first: nothing later changes it. */
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert_int_eq(green_future_add_done_callback(f, count_cb, NULL), 0);
    ck_assert_int_eq(green_future_set_result(f, &val_a), 0);
    ck_assert_int_eq(cb_calls, 1);
    ck_assert_int_eq(green_future_set_result(f, &val_b), -EINVAL);
    ck_assert_int_eq(green_future_set_error(f, -EIO), -EINVAL);
    ck_assert_int_eq(green_future_cancel(f), -EINVAL);
    ck_assert_int_eq(cb_calls, 1);
    ck_assert_ptr_eq(green_future_result(f), &val_a);
    ck_assert_int_eq(green_future_error(f), 0);
    ck_assert(!green_future_cancelled(f));
    ck_assert_int_eq(green_future_free(f), 0);

    /* An error first. */
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert_int_eq(green_future_set_error(f, -EPIPE), 0);
    ck_assert_int_eq(green_future_set_result(f, &val_b), -EINVAL);
    ck_assert_int_eq(green_future_set_error(f, -EIO), -EINVAL);
    ck_assert_int_eq(green_future_cancel(f), -EINVAL);
    ck_assert_int_eq(green_future_error(f), -EPIPE);
    ck_assert_ptr_null(green_future_result(f));
    ck_assert(!green_future_cancelled(f));
    ck_assert_int_eq(green_future_free(f), 0);

    /* A cancellation first. */
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert_int_eq(green_future_cancel(f), 0);
    ck_assert_int_eq(green_future_cancel(f), -EINVAL);
    ck_assert_int_eq(green_future_set_result(f, &val_b), -EINVAL);
    ck_assert_int_eq(green_future_set_error(f, -EIO), -EINVAL);
    ck_assert(green_future_cancelled(f));
    ck_assert_int_eq(green_future_error(f), -ECANCELED);
    ck_assert_int_eq(green_future_free(f), 0);
}
END_TEST

START_TEST(set_error_needs_negative)
{
    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert_int_eq(green_future_set_error(f, 0), -EINVAL);
    ck_assert_int_eq(green_future_set_error(f, EIO), -EINVAL);
    /* Refused: still pending, and completable. */
    ck_assert(!green_future_done(f));
    ck_assert_int_eq(green_future_get(f, 0.0, NULL), -ETIMEDOUT);
    ck_assert_int_eq(green_future_set_error(f, -EIO), 0);
    ck_assert_int_eq(green_future_error(f), -EIO);
    ck_assert_int_eq(green_future_free(f), 0);
}
END_TEST

START_TEST(waiters_woken_in_queue_order)
{
    reset();
    ck_assert_int_eq(green_future_new(&fut), 0);
    green_task_t *t[NW];
    for (int k = 0; k < NW; k++) {
        t[perm[k]] = start_waiter(perm[k], k % 2 == 0, GREEN_FOREVER);
    }
    ck_assert_int_eq(green_future_set_result(fut, &val_a), 0);
    ck_assert_int_eq(green_joinall(t, NW, slow(2.0)), 0);
    ck_assert_int_eq(norder, NW);
    for (int k = 0; k < NW; k++) {
        ck_assert_msg(order[k] == perm[k],
                      "wake-up %d went to waiter %d, wanted %d", k,
                      order[k], perm[k]);
    }
    for (int i = 0; i < NW; i++) {
        ck_assert_int_eq(ws[i].rc, 0);
        join_release(t[i]);
    }
    ck_assert_int_eq(green_future_free(fut), 0);
}
END_TEST

/* --- timeouts and cancellation ------------------------------------------ */

START_TEST(wait_times_out)
{
    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    void *v = UNTOUCHED;
    double t0 = green_test_now();
    ck_assert_int_eq(green_future_get(f, 0.05, &v), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_ptr_eq(v, UNTOUCHED);
    t0 = green_test_now();
    ck_assert_int_eq(green_future_wait(f, 0.05), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    t0 = green_test_now();
    ck_assert_int_eq(green_future_wait(f, 0.0), -ETIMEDOUT);
    ck_assert_int_eq(green_future_get(f, 0.0, &v), -ETIMEDOUT);
    check_elapsed(t0, 0.0, slow(0.5));
    /* A failed wait is told apart from an error of f's by done(). */
    ck_assert(!green_future_done(f));
    /* Nothing stale is left: f completes and frees normally. */
    ck_assert_int_eq(green_future_set_result(f, &val_a), 0);
    ck_assert_int_eq(green_future_get(f, 0.0, &v), 0);
    ck_assert_ptr_eq(v, &val_a);
    ck_assert_int_eq(green_future_free(f), 0);
}
END_TEST

START_TEST(kill_waiter)
{
    reset();
    ck_assert_int_eq(green_future_new(&fut), 0);
    green_task_t *a = start_waiter(0, true, GREEN_FOREVER);
    green_task_t *b = start_waiter(1, true, GREEN_FOREVER);
    ck_assert_int_eq(green_kill(a), 0);
    ck_assert_int_eq(green_join(a, slow(1.0), NULL), 0);
    ck_assert_int_eq(green_task_status(a), GREEN_TASK_CANCELLED);
    green_task_release(a);
    ck_assert_int_eq(ws[0].rc, -ECANCELED);
    ck_assert(!ws[0].done_seen); /* its get failed, not the future */
    ck_assert_ptr_eq(ws[0].value, UNTOUCHED);
    ck_assert(!green_future_done(fut));
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert(!green_task_done(b));
    ck_assert_int_eq(green_future_set_result(fut, &val_b), 0);
    join_release(b);
    ck_assert_int_eq(ws[1].rc, 0);
    ck_assert_ptr_eq(ws[1].value, &val_b);
    ck_assert_int_eq(green_future_free(fut), 0);
}
END_TEST

START_TEST(kill_then_set_at_once)
{
    /* Killed first, completed before the killed waiter got to run: its
     * get was the call it was in when killed, so it fails with -ECANCELED
     * (task.h) and takes no value, as green_event_wait does. */
    reset();
    ck_assert_int_eq(green_future_new(&fut), 0);
    green_task_t *a = start_waiter(0, true, GREEN_FOREVER);
    ck_assert_int_eq(green_kill(a), 0);
    ck_assert_int_eq(green_future_set_result(fut, &val_a), 0);
    join_release(a);
    ck_assert_int_eq(green_future_free(fut), 0); /* before the checks */
    ck_assert_msg(ws[0].rc == -ECANCELED, "killed waiter's get returned %d",
                  ws[0].rc);
    ck_assert_ptr_eq(ws[0].value, UNTOUCHED);
}
END_TEST

START_TEST(free_with_waiters_is_busy)
{
    reset();
    ck_assert_int_eq(green_future_new(&fut), 0);
    green_task_t *a = start_waiter(0, true, GREEN_FOREVER);
    ck_assert_int_eq(green_future_free(fut), -EBUSY);
    ck_assert(!green_future_done(fut));
    ck_assert_int_eq(green_future_set_result(fut, &val_a), 0);
    join_release(a);
    ck_assert_ptr_eq(ws[0].value, &val_a);
    ck_assert_int_eq(green_future_free(fut), 0);
}
END_TEST

START_TEST(free_right_after_completion)
{
    /* Completion wakes the waiters; free then says 0 (nobody is queued any
     * more) or -EBUSY (they have not returned yet). After a 0 the waiters
     * must not touch the future again: their gets still report what it
     * held (and ASan and valgrind see any read of freed memory). */
    reset();
    ck_assert_int_eq(green_future_new(&fut), 0);
    green_task_t *t[3];
    static const bool use_get[3] = {true, false, true};
    for (int i = 0; i < 3; i++) {
        ws[i].use_get = use_get[i];
        ck_assert_int_eq(green_spawn(&t[i], wait_only_body, &ws[i]), 0);
    }
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(green_future_set_error(fut, -EIO), 0);
    int r = green_future_free(fut);
    ck_assert_int_eq(green_joinall(t, 3, slow(2.0)), 0);
    for (int i = 0; i < 3; i++) {
        join_release(t[i]);
    }
    if (r == -EBUSY) {
        ck_assert_int_eq(green_future_free(fut), 0);
    }
    ck_assert_msg(r == 0 || r == -EBUSY, "free: %d", r);
    ck_assert_int_eq(ws[0].rc, -EIO);
    ck_assert_int_eq(ws[1].rc, 0);
    ck_assert_int_eq(ws[2].rc, -EIO);
}
END_TEST

/* --- callbacks -------------------------------------------------------- */

struct call {
    green_future_t *f;
    void *userdata;
    bool done;        /* green_future_done() inside the callback */
    void *result;     /* green_future_result() inside it */
    int err;          /* green_future_error() inside it */
};

static struct call calls[16];
static int ncalls;

static void record_cb(green_future_t *f, void *userdata)
{
    if (ncalls < 16) {
        calls[ncalls++] = (struct call){f, userdata, green_future_done(f),
                                        green_future_result(f),
                                        green_future_error(f)};
    }
}

static void other_cb(green_future_t *f, void *userdata)
{
    record_cb(f, (char *)userdata + 1000);
}

static int ud[4];

START_TEST(callbacks_run_in_order)
{
    ncalls = 0;
    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[i]),
                         0);
    }
    ck_assert_int_eq(ncalls, 0); /* pending: nothing ran yet */
    ck_assert_int_eq(green_future_set_result(f, &val_a), 0);
    ck_assert_int_eq(ncalls, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_eq(calls[i].f, f);
        ck_assert_ptr_eq(calls[i].userdata, &ud[i]);
        ck_assert(calls[i].done);
        ck_assert_ptr_eq(calls[i].result, &val_a);
        ck_assert_int_eq(calls[i].err, 0);
    }
    /* Each ran once: nothing runs again later. */
    ck_assert_int_eq(green_future_set_result(f, &val_b), -EINVAL);
    ck_assert_int_eq(green_future_cancel(f), -EINVAL);
    ck_assert_int_eq(ncalls, 4);
    ck_assert_int_eq(green_future_free(f), 0);
    ck_assert_int_eq(ncalls, 4);
}
END_TEST

START_TEST(callbacks_see_error)
{
    ncalls = 0;
    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[0]), 0);
    ck_assert_int_eq(green_future_set_error(f, -ENOSPC), 0);
    ck_assert_int_eq(ncalls, 1);
    ck_assert(calls[0].done);
    ck_assert_int_eq(calls[0].err, -ENOSPC);
    ck_assert_ptr_null(calls[0].result);
    ck_assert_int_eq(green_future_free(f), 0);

    ncalls = 0;
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[1]), 0);
    ck_assert_int_eq(green_future_cancel(f), 0);
    ck_assert_int_eq(ncalls, 1);
    ck_assert_ptr_eq(calls[0].userdata, &ud[1]);
    ck_assert_int_eq(calls[0].err, -ECANCELED);
    ck_assert_int_eq(green_future_free(f), 0);
}
END_TEST

START_TEST(callback_after_completion_runs_at_once)
{
    ncalls = 0;
    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert_int_eq(green_future_set_result(f, &val_b), 0);
    ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[2]), 0);
    ck_assert_int_eq(ncalls, 1); /* before add returned */
    ck_assert_ptr_eq(calls[0].f, f);
    ck_assert_ptr_eq(calls[0].userdata, &ud[2]);
    ck_assert_ptr_eq(calls[0].result, &val_b);
    ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[3]), 0);
    ck_assert_int_eq(ncalls, 2);
    ck_assert_ptr_eq(calls[1].userdata, &ud[3]);
    /* Nothing was kept to run again. */
    ck_assert_int_eq(green_future_remove_done_callback(f, record_cb, &ud[2]),
                     0);
    ck_assert_int_eq(green_future_free(f), 0);
    ck_assert_int_eq(ncalls, 2);
}
END_TEST

START_TEST(remove_done_callback)
{
    ncalls = 0;
    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[0]), 0);
    ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[1]), 0);
    ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[0]), 0);
    ck_assert_int_eq(green_future_add_done_callback(f, other_cb, &ud[0]), 0);
    ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[2]), 0);
    /* Every (record_cb, &ud[0]) pair goes; same cb with other userdata
     * and same userdata with another cb stay. */
    ck_assert_int_eq(green_future_remove_done_callback(f, record_cb, &ud[0]),
                     2);
    ck_assert_int_eq(green_future_remove_done_callback(f, record_cb, &ud[0]),
                     0);
    ck_assert_int_eq(green_future_remove_done_callback(f, record_cb, &ud[3]),
                     0);
    ck_assert_int_eq(green_future_set_result(f, &val_a), 0);
    ck_assert_int_eq(ncalls, 3);
    ck_assert_ptr_eq(calls[0].userdata, &ud[1]);
    ck_assert_ptr_eq(calls[1].userdata, (char *)&ud[0] + 1000);
    ck_assert_ptr_eq(calls[2].userdata, &ud[2]);
    /* After completion nothing is pending. */
    ck_assert_int_eq(green_future_remove_done_callback(f, record_cb, &ud[1]),
                     0);
    ck_assert_int_eq(green_future_free(f), 0);
}
END_TEST

START_TEST(free_drops_pending_callbacks)
{
    /* Freed before completion: the callbacks never run and nothing leaks
     * (valgrind checks the second part). */
    ncalls = 0;
    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(green_future_add_done_callback(f, record_cb, &ud[i]),
                         0);
    }
    ck_assert_int_eq(green_future_free(f), 0);
    ck_assert_int_eq(ncalls, 0);
}
END_TEST

static int woken_before_cb;

static void check_waiter_cb(green_future_t *f, void *userdata)
{
    /* The waiter was woken (queued to run) but cannot have run yet:
     * callbacks do not switch. */
    struct waiter *w = userdata;
    woken_before_cb = w->rc;
}

START_TEST(callbacks_do_not_switch)
{
    reset();
    woken_before_cb = 0;
    ck_assert_int_eq(green_future_new(&fut), 0);
    green_task_t *a = start_waiter(0, true, GREEN_FOREVER);
    ck_assert_int_eq(green_future_add_done_callback(fut, check_waiter_cb,
                                                    &ws[0]), 0);
    ck_assert_int_eq(green_future_set_result(fut, &val_a), 0);
    ck_assert_int_eq(woken_before_cb, 1); /* set_result never switched */
    ck_assert_int_eq(ws[0].rc, 1);
    join_release(a);
    ck_assert_int_eq(ws[0].rc, 0);
    ck_assert_int_eq(green_future_free(fut), 0);
}
END_TEST

/* --- deadlock --------------------------------------------------------- */

#define check_report(st, report, ...)                                     \
    do {                                                                  \
        check_child(st, EDEADLK, report);                                 \
        const char *want_[] = {__VA_ARGS__};                              \
        for (size_t i_ = 0; i_ < sizeof want_ / sizeof *want_; i_++) {    \
            ck_assert_msg(strstr(report, want_[i_]) != NULL,              \
                          "report lacks \"%s\": %s", want_[i_], report);  \
        }                                                                 \
    } while (0)

static void deadlock_child(void *arg)
{
    green_test_child_deadline(5);
    if (green_future_new(&fut) != 0) {
        _exit(90);
    }
    reset();
    green_spawn_opts_t o = {.name = "future-waiter"};
    if (green_spawn_ex(NULL, wait_body, &ws[0], &o) != 0) {
        _exit(91);
    }
    if (green_future_get(fut, 0.05, NULL) != -ETIMEDOUT) {
        _exit(92);
    }
    int r = green_future_get(fut, GREEN_FOREVER, NULL);
    if (green_future_done(fut)) {
        _exit(93); /* the error must be the wait's, not the future's */
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
    static char report[8192];
    int st = green_test_fork_capture(deadlock_child, NULL, report,
                                     sizeof report);
    check_report(st, report, "deadlock", "future-waiter",
                 "green_future_wait");
}
END_TEST

/* --- bad input -------------------------------------------------------- */

START_TEST(bad_input)
{
    ck_assert_int_eq(green_future_new(NULL), -EINVAL);
    ck_assert_int_eq(green_future_free(NULL), -EINVAL);
    ck_assert_int_eq(green_future_set_result(NULL, &val_a), -EINVAL);
    ck_assert_int_eq(green_future_set_error(NULL, -EIO), -EINVAL);
    ck_assert_int_eq(green_future_cancel(NULL), -EINVAL);
    ck_assert_int_eq(green_future_wait(NULL, 1.0), -EINVAL);
    ck_assert_int_eq(green_future_get(NULL, 1.0, NULL), -EINVAL);
    ck_assert_int_eq(green_future_add_done_callback(NULL, record_cb, NULL),
                     -EINVAL);
    int nr = green_future_remove_done_callback(NULL, record_cb, NULL);
    ck_assert_msg(nr == 0 || nr == -EINVAL, "remove on NULL: %d", nr);
    ck_assert(!green_future_done(NULL));
    ck_assert(!green_future_cancelled(NULL));
    ck_assert_ptr_null(green_future_result(NULL));

    green_future_t *f;
    ck_assert_int_eq(green_future_new(&f), 0);
    ncalls = 0;
    ck_assert_int_eq(green_future_add_done_callback(f, NULL, NULL), -EINVAL);
    double t0 = green_test_now();
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_future_wait(f, -1.0), -EINVAL);
    ck_assert_int_eq(green_future_wait(f, NAN), -EINVAL);
    ck_assert_int_eq(green_future_wait(f, -INFINITY), -EINVAL);
    ck_assert_int_eq(green_future_get(f, -1.0, &v), -EINVAL);
    ck_assert_int_eq(green_future_get(f, NAN, &v), -EINVAL);
    check_elapsed(t0, 0.0, slow(0.5));
    ck_assert_ptr_eq(v, UNTOUCHED);
    /* Rejected whatever the state (common.h). */
    ck_assert_int_eq(green_future_set_result(f, &val_a), 0);
    ck_assert_int_eq(green_future_wait(f, -1.0), -EINVAL);
    ck_assert_int_eq(green_future_get(f, NAN, &v), -EINVAL);
    ck_assert_ptr_eq(v, UNTOUCHED);
    ck_assert_int_eq(green_future_free(f), 0);
}
END_TEST

/* --- futures across OS threads ---------------------------------------- */

/* The OS thread each callback ran in, and how often (atomics: the
 * callbacks run in whichever thread completes). */
struct cbseen {
    pthread_t who;
    int n;
};

static void seen_cb(green_future_t *f, void *userdata)
{
    struct cbseen *c = userdata;
    (void)f;
    c->who = pthread_self();
    __atomic_add_fetch(&c->n, 1, __ATOMIC_RELEASE);
}

/* A future made on another OS thread, which waits for it there; this
 * thread adds a callback and completes it, then waits for that thread's
 * task. */
struct foreign {
    sem_t made, done;
    green_future_t *f;
    green_task_t *t;
    int new_rc, cb_rc, spawn_rc, get_rc, free_rc, join_rc;
    void *got;
    struct cbseen theirs;
};

static void *short_body(void *arg)
{
    green_sleep(0.01);
    return arg;
}

static void *foreign_thread(void *arg)
{
    struct foreign *f = arg;
    f->new_rc = green_future_new(&f->f);
    if (f->new_rc == 0) {
        f->cb_rc = green_future_add_done_callback(f->f, seen_cb, &f->theirs);
    }
    f->spawn_rc = green_spawn(&f->t, short_body, &val_b);
    sem_post(&f->made);
    if (f->new_rc == 0) {
        f->get_rc = green_future_get(f->f, 10.0, &f->got);
    }
    if (f->spawn_rc == 0) { /* this hub runs it to its end */
        f->join_rc = green_join(f->t, 5.0, NULL);
    }
    sem_wait(&f->done); /* the root is through with f and t */
    if (f->new_rc == 0) {
        f->free_rc = green_future_free(f->f);
    }
    if (f->spawn_rc == 0) {
        green_task_release(f->t);
    }
    return NULL;
}

START_TEST(other_thread_future)
{
    struct foreign f = {.get_rc = 1, .free_rc = 1, .join_rc = 1};
    struct cbseen ours = {0};
    sem_init(&f.made, 0, 0);
    sem_init(&f.done, 0, 0);
    ck_assert_int_eq(green_sleep(0), 0); /* this thread has a runtime too */
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, foreign_thread, &f), 0);
    sem_wait(&f.made);
    ck_assert_int_eq(f.new_rc, 0);
    ck_assert_int_eq(f.cb_rc, 0);
    ck_assert_int_eq(f.spawn_rc, 0);
    ck_assert_int_eq(green_sleep(0.02), 0); /* it waits by now */
    ck_assert(!green_future_done(f.f));
    ck_assert_int_eq(green_future_add_done_callback(f.f, seen_cb, &ours), 0);
    ck_assert_int_eq(green_future_set_result(f.f, &val_a), 0);
    /* It completes once, whoever tries again. */
    ck_assert_int_eq(green_future_set_error(f.f, -EIO), -EINVAL);
    ck_assert_int_eq(green_future_cancel(f.f), -EINVAL);
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_future_get(f.f, 0.2, &v), 0);
    ck_assert_ptr_eq(v, &val_a);
    ck_assert_ptr_eq(green_future_result(f.f), &val_a);
    /* Both callbacks ran, once each, here: where it was completed. */
    ck_assert_int_eq(f.theirs.n, 1);
    ck_assert_int_eq(ours.n, 1);
    ck_assert(pthread_equal(f.theirs.who, pthread_self()));
    ck_assert(pthread_equal(ours.who, pthread_self()));
    /* Added after completion, from here: it runs at once, here. */
    struct cbseen late = {0};
    ck_assert_int_eq(green_future_add_done_callback(f.f, seen_cb, &late), 0);
    ck_assert_int_eq(late.n, 1);
    /* The other thread's task can be waited for from here too. */
    v = UNTOUCHED;
    ck_assert_int_eq(green_task_wait(f.t, 5.0), 0);
    ck_assert_int_eq(green_task_get(f.t, 5.0, &v), 0);
    ck_assert_ptr_eq(v, &val_b);

    sem_post(&f.done);
    pthread_join(th, NULL);
    ck_assert_int_eq(f.get_rc, 0);
    ck_assert_ptr_eq(f.got, &val_a);
    ck_assert_int_eq(f.free_rc, 0);
    ck_assert_int_eq(f.join_rc, 0);
    sem_destroy(&f.made);
    sem_destroy(&f.done);
}
END_TEST

/* A plain thread that never made green state completes a future that
 * greenlets of this thread wait for, with an error. */
struct plain {
    green_future_t *f;
    struct cbseen cb;
};

static void *plain_completer(void *arg)
{
    struct plain *p = arg;
    usleep(20000);
    return (void *)(intptr_t)green_future_set_error(p->f, -EIO);
}

static void *get_body(void *arg)
{
    void *v = UNTOUCHED;
    int r = green_future_get(arg, 10.0, &v);
    return v == UNTOUCHED ? (void *)(intptr_t)r : NULL;
}

START_TEST(plain_thread_completes)
{
    struct plain p = {0};
    ck_assert_int_eq(green_future_new(&p.f), 0);
    ck_assert_int_eq(green_future_add_done_callback(p.f, seen_cb, &p.cb), 0);
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(green_spawn(&t[i], get_body, p.f), 0);
    }
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, plain_completer, &p), 0);
    for (int i = 0; i < 3; i++) {
        void *r = NULL;
        ck_assert_int_eq(green_join(t[i], GREEN_FOREVER, &r), 0);
        ck_assert_int_eq((int)(intptr_t)r, -EIO);
        green_task_release(t[i]);
    }
    void *r = (void *)1;
    ck_assert_int_eq(pthread_join(th, &r), 0);
    ck_assert_ptr_null(r);
    ck_assert(green_future_done(p.f));
    ck_assert_int_eq(green_future_error(p.f), -EIO);
    ck_assert_int_eq(p.cb.n, 1);
    ck_assert(pthread_equal(p.cb.who, th)); /* run by the completer */
    ck_assert_int_eq(green_future_free(p.f), 0);
}
END_TEST

/* Two OS threads complete the same future at once, many times: exactly
 * one wins each time, and what every waiter and reader sees is the
 * winner's outcome. */
struct race {
    pthread_barrier_t go;
    green_future_t *f;
    int rounds;
    int rc[2][256];
};

static int race_vals[2];

struct racer_arg {
    struct race *r;
    int me;
};

static void *race_thread(void *arg)
{
    struct racer_arg *a = arg;
    for (int i = 0; i < a->r->rounds; i++) {
        pthread_barrier_wait(&a->r->go); /* f is new */
        a->r->rc[a->me][i] = a->me == 0
            ? green_future_set_result(a->r->f, &race_vals[0])
            : green_future_set_error(a->r->f, -EIO);
        pthread_barrier_wait(&a->r->go); /* both tried */
        pthread_barrier_wait(&a->r->go); /* checked */
    }
    return NULL;
}

START_TEST(racing_completions)
{
    struct race r = {.rounds = green_test_emulated() ? 32 : 256};
    ck_assert_int_eq(pthread_barrier_init(&r.go, NULL, 3), 0);
    struct racer_arg a[2] = {{&r, 0}, {&r, 1}};
    pthread_t th[2];
    ck_assert_int_eq(green_future_new(&r.f), 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(pthread_create(&th[i], NULL, race_thread, &a[i]), 0);
    }
    int wins[2] = {0, 0};
    for (int i = 0; i < r.rounds; i++) {
        pthread_barrier_wait(&r.go);
        pthread_barrier_wait(&r.go);
        ck_assert_msg((r.rc[0][i] == 0) != (r.rc[1][i] == 0),
                      "round %d: set_result %d, set_error %d", i,
                      r.rc[0][i], r.rc[1][i]);
        int w = r.rc[0][i] == 0 ? 0 : 1;
        ck_assert_int_eq(r.rc[1 - w][i], -EINVAL);
        wins[w]++;
        void *v = UNTOUCHED;
        int g = green_future_get(r.f, 1.0, &v);
        if (w == 0) {
            ck_assert_int_eq(g, 0);
            ck_assert_ptr_eq(v, &race_vals[0]);
            ck_assert_ptr_eq(green_future_result(r.f), &race_vals[0]);
        } else {
            ck_assert_int_eq(g, -EIO);
            ck_assert_ptr_eq(v, UNTOUCHED);
            ck_assert_int_eq(green_future_error(r.f), -EIO);
        }
        ck_assert_int_eq(green_future_free(r.f), 0);
        ck_assert_int_eq(green_future_new(&r.f), 0);
        pthread_barrier_wait(&r.go);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
    }
    ck_assert_int_eq(wins[0] + wins[1], r.rounds);
    ck_assert_int_eq(green_future_free(r.f), 0);
    pthread_barrier_destroy(&r.go);
}
END_TEST

/* Waiters on two OS threads' hubs, many at once, and a third thread
 * completes each future while they park: every waiter is served. */
enum { XW = 8, XROUNDS = 64 };

struct spread {
    green_future_t *f[XROUNDS];
    int got[2];
};

static void *spread_waiter(void *arg)
{
    green_future_t *f = arg;
    void *v = NULL;
    return (void *)(intptr_t)(green_future_get(f, 10.0, &v) == 0 &&
                              v == &val_b);
}

static void *spread_side(void *arg)
{
    struct spread *s = arg;
    int ok = 0;
    for (int i = 0; i < XROUNDS; i++) {
        green_task_t *t[XW];
        for (int k = 0; k < XW; k++) {
            if (green_spawn(&t[k], spread_waiter, s->f[i]) != 0) {
                return (void *)(intptr_t)-1;
            }
        }
        for (int k = 0; k < XW; k++) {
            void *r = NULL;
            if (green_join(t[k], GREEN_FOREVER, &r) == 0 && r != NULL) {
                ok++;
            }
            green_task_release(t[k]);
        }
    }
    return (void *)(intptr_t)ok;
}

static void *spread_completer(void *arg)
{
    struct spread *s = arg;
    for (int i = 0; i < XROUNDS; i++) {
        usleep(200);
        if (green_future_set_result(s->f[i], &val_b) != 0) {
            return (void *)1;
        }
    }
    return NULL;
}

START_TEST(waiters_on_two_hubs)
{
    struct spread s;
    for (int i = 0; i < XROUNDS; i++) {
        ck_assert_int_eq(green_future_new(&s.f[i]), 0);
    }
    pthread_t side, done;
    ck_assert_int_eq(pthread_create(&side, NULL, spread_side, &s), 0);
    ck_assert_int_eq(pthread_create(&done, NULL, spread_completer, &s), 0);
    void *ours = spread_side(&s);
    void *theirs = NULL, *cr = (void *)2;
    pthread_join(side, &theirs);
    pthread_join(done, &cr);
    ck_assert_ptr_null(cr);
    ck_assert_int_eq((int)(intptr_t)ours, XW * XROUNDS);
    ck_assert_int_eq((int)(intptr_t)theirs, XW * XROUNDS);
    for (int i = 0; i < XROUNDS; i++) {
        ck_assert_int_eq(green_future_free(s.f[i]), 0);
    }
}
END_TEST

/* A waiter frees the future the moment its get returns, while the
 * completer on another OS thread may still be inside set_result (as
 * test_event.c's waiter_frees_at_once). */
static void *future_make(void)
{
    green_future_t *f;
    return green_future_new(&f) == 0 ? f : NULL;
}

static int future_complete(void *f)
{
    return green_future_set_result(f, &val_a);
}

static int future_get_free(void *f)
{
    void *v = NULL;
    int r = green_future_get(f, 10.0, &v);
    if (r == 0 && v != &val_a) {
        r = -EIO;
    }
    return r != 0 ? r : green_future_free(f);
}

START_TEST(waiter_frees_at_once)
{
    int rounds = green_test_emulated() ? 400 : 4000;
    ck_assert_int_eq(green_test_free_race(rounds, future_make,
                                          future_complete, future_get_free),
                     0);
}
END_TEST

/* --- tasks awaited like futures --------------------------------------- */

static void *value_body(void *arg)
{
    green_sleep(0.03);
    return arg;
}

static void *failing_body(void *arg)
{
    green_sleep(0.01);
    return green_fail(-EIO);
}

static void *forever_body(void *arg)
{
    green_sleep(GREEN_FOREVER);
    return arg;
}

struct task_waiter {
    green_task_t *target;
    int rc;
    void *value;
};

static void *task_get_body(void *arg)
{
    struct task_waiter *w = arg;
    w->rc = green_task_get(w->target, GREEN_FOREVER, &w->value);
    return NULL;
}

START_TEST(task_get_value)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, value_body, &val_a), 0);
    static struct task_waiter tw[3];
    green_task_t *w[3];
    for (int i = 0; i < 3; i++) {
        tw[i] = (struct task_waiter){t, 1, UNTOUCHED};
        ck_assert_int_eq(green_spawn(&w[i], task_get_body, &tw[i]), 0);
    }
    double t0 = green_test_now();
    ck_assert_int_eq(green_task_wait(t, slow(5.0)), 0);
    check_elapsed(t0, 0.02, slow(1.0));
    ck_assert(green_task_done(t));
    /* Repeatable, and returns at once now. */
    ck_assert_int_eq(green_task_wait(t, 0.0), 0);
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_task_get(t, 0.0, &v), 0);
    ck_assert_ptr_eq(v, &val_a);
    ck_assert_int_eq(green_task_get(t, GREEN_FOREVER, NULL), 0);
    for (int i = 0; i < 3; i++) {
        join_release(w[i]);
        ck_assert_int_eq(tw[i].rc, 0);
        ck_assert_ptr_eq(tw[i].value, &val_a);
    }
    /* Waiting did not count as joining. */
    v = NULL;
    ck_assert_int_eq(green_join(t, 1.0, &v), 0);
    ck_assert_ptr_eq(v, &val_a);
    ck_assert_int_eq(green_join(t, 1.0, NULL), -EINVAL);
    green_task_release(t);
}
END_TEST

START_TEST(task_get_error)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, failing_body, NULL), 0);
    static struct task_waiter tw;
    tw = (struct task_waiter){t, 1, UNTOUCHED};
    green_task_t *w;
    ck_assert_int_eq(green_spawn(&w, task_get_body, &tw), 0);
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_task_get(t, slow(5.0), &v), -EIO);
    ck_assert_ptr_eq(v, UNTOUCHED);
    ck_assert_int_eq(green_task_wait(t, 0.0), 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_FAILED);
    join_release(w);
    ck_assert_int_eq(tw.rc, -EIO);
    ck_assert_ptr_eq(tw.value, UNTOUCHED);
    join_release(t);
}
END_TEST

START_TEST(task_get_killed)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, forever_body, &val_a), 0);
    static struct task_waiter tw;
    tw = (struct task_waiter){t, 1, UNTOUCHED};
    green_task_t *w;
    ck_assert_int_eq(green_spawn(&w, task_get_body, &tw), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(tw.rc, 1);
    ck_assert_int_eq(green_kill(t), 0);
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_task_get(t, slow(1.0), &v), -ECANCELED);
    ck_assert_ptr_eq(v, UNTOUCHED);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_CANCELLED);
    join_release(w);
    ck_assert_int_eq(tw.rc, -ECANCELED);
    ck_assert_ptr_eq(tw.value, UNTOUCHED);
    /* The waiter was not killed itself: it ended normally. */
    join_release(t);
}
END_TEST

static void *task_wait_body(void *arg)
{
    struct task_waiter *w = arg;
    w->rc = green_task_wait(w->target, GREEN_FOREVER);
    return NULL;
}

START_TEST(killed_task_waiter_fails)
{
    /* A waiter killed while in green_task_wait fails with -ECANCELED, even
     * when the task it waits for ends before the waiter gets to run (a
     * task killed before it started ends at once, in green_kill). */
    green_task_t *t;
    ck_assert_int_eq(green_spawn_later(&t, 10.0, value_body, &val_a), 0);
    static struct task_waiter tw;
    tw = (struct task_waiter){t, 1, UNTOUCHED};
    green_task_t *w;
    ck_assert_int_eq(green_spawn(&w, task_wait_body, &tw), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(tw.rc, 1);
    ck_assert_int_eq(green_kill(w), 0);
    ck_assert_int_eq(green_kill(t), 0);
    ck_assert(green_task_done(t));
    join_release(w);
    join_release(t);
    ck_assert_msg(tw.rc == -ECANCELED, "killed waiter's green_task_wait "
                  "returned %d", tw.rc);
}
END_TEST

START_TEST(task_wait_times_out)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, forever_body, NULL), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_task_wait(t, 0.05), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    void *v = UNTOUCHED;
    t0 = green_test_now();
    ck_assert_int_eq(green_task_get(t, 0.05, &v), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_ptr_eq(v, UNTOUCHED);
    ck_assert(!green_task_done(t));
    ck_assert_int_eq(green_kill(t), 0);
    join_release(t);
}
END_TEST

static void *wait_self_body(void *arg)
{
    int *rc = arg;
    rc[0] = green_task_wait(green_current(), 1.0);
    rc[1] = green_task_get(green_current(), 1.0, NULL);
    return NULL;
}

START_TEST(task_wait_bad_input)
{
    ck_assert_int_eq(green_task_wait(NULL, 1.0), -EINVAL);
    ck_assert_int_eq(green_task_get(NULL, 1.0, NULL), -EINVAL);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, value_body, &val_a), 0);
    ck_assert_int_eq(green_task_wait(t, -1.0), -EINVAL);
    ck_assert_int_eq(green_task_wait(t, NAN), -EINVAL);
    ck_assert_int_eq(green_task_get(t, -1.0, NULL), -EINVAL);
    ck_assert_int_eq(green_task_get(t, NAN, NULL), -EINVAL);
    join_release(t);

    static int rc[2] = {1, 1};
    ck_assert_int_eq(green_spawn(&t, wait_self_body, rc), 0);
    double t0 = green_test_now();
    join_release(t);
    check_elapsed(t0, 0.0, slow(0.5));
    ck_assert_int_eq(rc[0], -EDEADLK);
    ck_assert_int_eq(rc[1], -EDEADLK);
}
END_TEST

/* --- suite ------------------------------------------------------------ */

static TCase *tcase(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    return tc;
}

Suite *green_test_future_suite(void)
{
    Suite *s = suite_create("future");

    /* First: a forked child inherits valgrind's error count, so under
     * valgrind (CK_FORK=no) an error in an earlier test would fail it. */
    TCase *tc = tcase("deadlock", 15);
    tcase_add_test(tc, deadlock_reported);
    suite_add_tcase(s, tc);

    tc = tcase("complete", 10);
    tcase_add_test(tc, result_reaches_root);
    tcase_add_test(tc, null_result_is_a_result);
    tcase_add_test(tc, result_reaches_every_waiter);
    tcase_add_test(tc, error_reaches_every_waiter);
    tcase_add_test(tc, cancel_reaches_every_waiter);
    tcase_add_test(tc, completes_once);
    tcase_add_test(tc, set_error_needs_negative);
    tcase_add_test(tc, waiters_woken_in_queue_order);
    suite_add_tcase(s, tc);

    tc = tcase("wait", 10);
    tcase_add_test(tc, wait_times_out);
    tcase_add_test(tc, kill_waiter);
    tcase_add_test(tc, kill_then_set_at_once);
    tcase_add_test(tc, free_with_waiters_is_busy);
    tcase_add_test(tc, free_right_after_completion);
    suite_add_tcase(s, tc);

    tc = tcase("callbacks", 10);
    tcase_add_test(tc, callbacks_run_in_order);
    tcase_add_test(tc, callbacks_see_error);
    tcase_add_test(tc, callback_after_completion_runs_at_once);
    tcase_add_test(tc, remove_done_callback);
    tcase_add_test(tc, free_drops_pending_callbacks);
    tcase_add_test(tc, callbacks_do_not_switch);
    suite_add_tcase(s, tc);

    tc = tcase("bad_input", 10);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, other_thread_future);
    tcase_add_test(tc, plain_thread_completes);
    tcase_add_test(tc, racing_completions);
    tcase_add_test(tc, waiters_on_two_hubs);
    tcase_add_test(tc, waiter_frees_at_once);
    suite_add_tcase(s, tc);

    tc = tcase("task", 10);
    tcase_add_test(tc, task_get_value);
    tcase_add_test(tc, task_get_error);
    tcase_add_test(tc, task_get_killed);
    tcase_add_test(tc, killed_task_waiter_fails);
    tcase_add_test(tc, task_wait_times_out);
    tcase_add_test(tc, task_wait_bad_input);
    suite_add_tcase(s, tc);
    return s;
}
