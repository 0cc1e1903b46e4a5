/* SPDX-License-Identifier: MIT */
/* The hub, through the internal interface (green__hub_park/wake/yield and
 * the wait queues) and green_sleep: timeouts, wake codes, FIFO order,
 * fairness, timers at scale, the lazy hub and deadlock reports.
 *
 * Task bodies never call ck_assert: under CK_FORK=no (the valgrind setup) a
 * failed assert longjmps, and a longjmp from a greenlet stack to the root
 * stack would wreck the run. Bodies record what they saw; the root checks. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "internal.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

/* Slack for comparing two readings of CLOCK_MONOTONIC taken through
 * doubles; far below any scheduling effect. */
#define CLOCK_EPS 1e-4

static struct greenlet *task_greenlet(green_task_t *t)
{
    return (struct greenlet *)green_task_greenlet(t);
}

static void join_ok(green_task_t *t)
{
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    green_task_release(t);
}

/* --- park ------------------------------------------------------------- */

START_TEST(park_timeout_returns_etimedout)
{
    const double d = 0.1;
    double t0 = green_test_now();
    int r = green__hub_park(d, "park-timeout", NULL);
    double el = green_test_now() - t0;

    ck_assert_int_eq(r, -ETIMEDOUT);
    ck_assert_double_ge(el, 0.9 * d);
    ck_assert_double_lt(el, 5 * d * green_test_slowdown());
}
END_TEST

struct waker {
    struct greenlet *target; /* whom to wake */
    int code;                /* with what */
    double delay;            /* after sleeping this long (0: at once) */
    int sleep_ret;           /* what the sleep returned */
};

static void *waker_body(void *arg)
{
    struct waker *w = arg;
    if (w->delay > 0) {
        w->sleep_ret = green_sleep(w->delay);
    }
    green__hub_wake(w->target, w->code);
    return NULL;
}

START_TEST(park_woken_returns_code)
{
    /* The root parks with no deadline; only the task can wake it, so the
     * park must return exactly the code the task chose. */
    struct waker w = {.target = greenlet_current(), .code = 42};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, waker_body, &w), 0);

    ck_assert_int_eq(green__hub_park(GREEN_FOREVER, "woken", NULL), 42);
    join_ok(t);

    /* A negative code is passed through unchanged too. */
    w.code = -EPIPE;
    ck_assert_int_eq(green_spawn(&t, waker_body, &w), 0);
    ck_assert_int_eq(green__hub_park(5.0, "woken", NULL), -EPIPE);
    join_ok(t);
}
END_TEST

struct parker {
    double timeout;  /* of the first park */
    int first;       /* what the first park returned */
    int second;      /* what the second park returned */
    double second_s; /* how long the second park took */
};

static void *parker_body(void *arg)
{
    struct parker *p = arg;
    p->first = green__hub_park(p->timeout, "parker", p);
    double t0 = green_test_now();
    p->second = green__hub_park(0.3, "parker-again", p);
    p->second_s = green_test_now() - t0;
    return NULL;
}

static void *double_waker_body(void *arg)
{
    struct greenlet *g = arg;
    green__hub_wake(g, 1);
    /* g is READY now, not PARKED: this must be ignored. */
    green__hub_wake(g, 2);
    return NULL;
}

START_TEST(wake_ready_is_ignored)
{
    struct parker p = {.timeout = GREEN_FOREVER};
    green_task_t *a, *b;
    ck_assert_int_eq(green_spawn(&a, parker_body, &p), 0);
    ck_assert_int_eq(green_sleep(0), 0); /* a parks */
    ck_assert_int_eq(green_spawn(&b, double_waker_body, task_greenlet(a)), 0);
    join_ok(b);
    join_ok(a);

    ck_assert_int_eq(p.first, 1);
    /* A second wake-up that leaked through would end this park early. */
    ck_assert_int_eq(p.second, -ETIMEDOUT);
}
END_TEST

START_TEST(wake_cancels_park_timer)
{
    /* The first park has a 50 ms deadline but is woken at once. If its
     * timer stayed armed it would cut the second, 300 ms park short. */
    struct parker p = {.timeout = 0.05};
    green_task_t *a;
    ck_assert_int_eq(green_spawn(&a, parker_body, &p), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    green__hub_wake(task_greenlet(a), 5);
    join_ok(a);

    ck_assert_int_eq(p.first, 5);
    ck_assert_int_eq(p.second, -ETIMEDOUT);
    ck_assert_double_ge(p.second_s, 0.3 * 0.9);
}
END_TEST

START_TEST(wake_running_is_ignored)
{
    /* The root is RUNNING: a wake-up must not be remembered for its next
     * park. */
    green__hub_wake(greenlet_current(), 9);
    ck_assert_int_eq(green__hub_park(0.02, "after-self-wake", NULL),
                     -ETIMEDOUT);
}
END_TEST

static int plain_steps;

static void *plain_body(void *arg)
{
    plain_steps++;
    greenlet_switch(greenlet_parent(greenlet_current()), NULL, NULL);
    plain_steps++;
    return arg;
}

START_TEST(wake_plain_greenlet_is_ignored)
{
    /* Plain greenlets are never PARKED: waking one, new or suspended,
     * must not make the hub run it. */
    greenlet_t *g;
    plain_steps = 0;
    ck_assert_int_eq(greenlet_new(&g, plain_body, NULL, 0), 0);
    green__hub_wake(g, 3);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(plain_steps, 0);
    ck_assert(!greenlet_started(g));

    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert_int_eq(plain_steps, 1);
    green__hub_wake(g, 3);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(plain_steps, 1);

    ck_assert_int_eq(greenlet_switch(g, NULL, NULL), 0);
    ck_assert_int_eq(plain_steps, 2);
    ck_assert(greenlet_dead(g));
    green__hub_wake(g, 3);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(greenlet_free(g), 0);
}
END_TEST

struct cancelled_parker {
    int first;  /* park during which the task was killed */
    int second; /* park after the kill */
    double second_s;
};

static void *cancelled_parker_body(void *arg)
{
    struct cancelled_parker *c = arg;
    c->first = green__hub_park(GREEN_FOREVER, "until-killed", NULL);
    double t0 = green_test_now();
    c->second = green__hub_park(5.0, "after-kill", NULL);
    c->second_s = green_test_now() - t0;
    return NULL;
}

START_TEST(park_of_cancelled_greenlet)
{
    struct cancelled_parker c = {0};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, cancelled_parker_body, &c), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(green_kill(t), 0);
    join_ok(t);

    ck_assert_int_eq(c.first, -ECANCELED);
    ck_assert_int_eq(c.second, -ECANCELED);
    ck_assert_double_lt(c.second_s, 1.0);
}
END_TEST

/* --- wait queues ------------------------------------------------------ */

enum { NWAITERS = 5 };

struct fifo {
    struct green__waitq q;
    int queued[NWAITERS]; /* waiter indexes in the order they queued */
    int nqueued;
    int woken[NWAITERS];  /* ...in the order they ran after waking */
    int codes[NWAITERS];  /* the code each waiter's wait returned */
    int nwoken;
};

struct fifo_waiter {
    struct fifo *f;
    int index;
};

static void *fifo_waiter_body(void *arg)
{
    struct fifo_waiter *w = arg;
    struct fifo *f = w->f;
    /* Later-spawned waiters sleep less, so the queue order is the reverse
     * of the spawn order and a queue that merely replayed spawn order
     * would be caught. */
    green_sleep(0.01 * (NWAITERS - w->index));
    f->queued[f->nqueued++] = w->index;
    int r = green__waitq_wait(&f->q, GREEN_FOREVER, "fifo", &f->q);
    f->codes[w->index] = r;
    f->woken[f->nwoken++] = w->index;
    return NULL;
}

START_TEST(waitq_is_fifo)
{
    struct fifo f = {0};
    struct fifo_waiter w[NWAITERS];
    green_task_t *t[NWAITERS];
    green__waitq_init(&f.q);
    for (int i = 0; i < NWAITERS; i++) {
        w[i] = (struct fifo_waiter){.f = &f, .index = i};
        ck_assert_int_eq(green_spawn(&t[i], fifo_waiter_body, &w[i]), 0);
    }
    for (int i = 0; i < 100 && f.nqueued < NWAITERS; i++) {
        ck_assert_int_eq(green_sleep(0.01), 0);
    }
    ck_assert_int_eq(f.nqueued, NWAITERS);
    ck_assert_int_eq(f.queued[0], NWAITERS - 1);

    /* Wake one at a time, letting it run before waking the next. */
    for (int i = 0; i < NWAITERS; i++) {
        struct greenlet *g = green__waitq_pop(&f.q);
        ck_assert_ptr_nonnull(g);
        green__hub_wake(g, 100 + i);
        ck_assert_int_eq(green_sleep(0), 0);
        ck_assert_int_eq(f.nwoken, i + 1);
        ck_assert_int_eq(f.woken[i], f.queued[i]);
        ck_assert_int_eq(f.codes[f.queued[i]], 100 + i);
    }
    ck_assert(green__waitq_empty(&f.q));
    ck_assert_int_eq(green_joinall(t, NWAITERS, GREEN_FOREVER), 0);
    for (int i = 0; i < NWAITERS; i++) {
        join_ok(t[i]);
    }
}
END_TEST

struct qwaiter {
    struct green__waitq *q;
    double timeout;
    int ret;
    double took;
};

static void *qwaiter_body(void *arg)
{
    struct qwaiter *w = arg;
    double t0 = green_test_now();
    w->ret = green__waitq_wait(w->q, w->timeout, "qwaiter", w->q);
    w->took = green_test_now() - t0;
    return NULL;
}

START_TEST(waitq_timeout_unlinks)
{
    /* Two waiters: the first times out, the second waits for ever. The
     * timed-out one must leave the queue, so popping yields the second. */
    struct green__waitq q;
    green__waitq_init(&q);
    struct qwaiter a = {.q = &q, .timeout = 0.03};
    struct qwaiter b = {.q = &q, .timeout = GREEN_FOREVER};
    green_task_t *ta, *tb;
    ck_assert_int_eq(green_spawn(&ta, qwaiter_body, &a), 0);
    ck_assert_int_eq(green_spawn(&tb, qwaiter_body, &b), 0);
    join_ok(ta);
    ck_assert_int_eq(a.ret, -ETIMEDOUT);
    ck_assert_double_ge(a.took, 0.03 * 0.9);

    struct greenlet *g = green__waitq_pop(&q);
    ck_assert_ptr_eq(g, task_greenlet(tb));
    ck_assert(green__waitq_empty(&q));
    green__hub_wake(g, 7);
    join_ok(tb);
    ck_assert_int_eq(b.ret, 7);
}
END_TEST

START_TEST(waitq_killed_waiter_unlinks)
{
    struct green__waitq q;
    green__waitq_init(&q);
    struct qwaiter a = {.q = &q, .timeout = GREEN_FOREVER};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, qwaiter_body, &a), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert(!green__waitq_empty(&q));
    ck_assert_int_eq(green_kill(t), 0);
    join_ok(t);
    ck_assert_int_eq(a.ret, -ECANCELED);
    ck_assert(green__waitq_empty(&q));
}
END_TEST

START_TEST(waitq_wake_all)
{
    struct green__waitq q;
    green__waitq_init(&q);
    struct qwaiter w[4];
    green_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct qwaiter){.q = &q, .timeout = 5.0};
        ck_assert_int_eq(green_spawn(&t[i], qwaiter_body, &w[i]), 0);
    }
    ck_assert_int_eq(green_sleep(0), 0);
    green__waitq_wake_all(&q, -EPIPE);
    ck_assert(green__waitq_empty(&q));
    for (int i = 0; i < 4; i++) {
        join_ok(t[i]);
        ck_assert_int_eq(w[i].ret, -EPIPE);
        ck_assert_double_lt(w[i].took, 1.0);
    }
}
END_TEST

/* --- yield and round robin -------------------------------------------- */

struct trace {
    char log[64];
    int n;
};

static void trace_add(struct trace *tr, char c)
{
    if (tr->n < (int)sizeof tr->log - 1) {
        tr->log[tr->n++] = c;
    }
}

struct tracer {
    struct trace *tr;
    char first, second; /* logged before and after one hub yield */
};

static void *tracer_body(void *arg)
{
    struct tracer *t = arg;
    trace_add(t->tr, t->first);
    if (t->second != 0) {
        green__hub_yield();
        trace_add(t->tr, t->second);
    }
    return NULL;
}

START_TEST(yield_runs_all_ready_first)
{
    struct trace tr = {0};
    struct tracer x[3] = {{&tr, 'a', 0}, {&tr, 'b', 0}, {&tr, 'c', 0}};
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(green_spawn(&t[i], tracer_body, &x[i]), 0);
    }
    ck_assert_int_eq(green__hub_yield(), 0);
    trace_add(&tr, 'R');
    ck_assert_str_eq(tr.log, "abcR");
    for (int i = 0; i < 3; i++) {
        join_ok(t[i]);
    }
}
END_TEST

START_TEST(yield_queues_caller_behind_ready)
{
    /* a and b each yield once. The root's yield queues it behind them, and
     * their own yields queue them behind the root: a b R A B. */
    struct trace tr = {0};
    struct tracer x[2] = {{&tr, 'a', 'A'}, {&tr, 'b', 'B'}};
    green_task_t *t[2];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(green_spawn(&t[i], tracer_body, &x[i]), 0);
    }
    ck_assert_int_eq(green__hub_yield(), 0);
    trace_add(&tr, 'R');
    ck_assert_int_eq(green_joinall(t, 2, GREEN_FOREVER), 0);
    ck_assert_str_eq(tr.log, "abRAB");
    join_ok(t[0]);
    join_ok(t[1]);
}
END_TEST

START_TEST(yield_with_nothing_ready)
{
    double t0 = green_test_now();
    ck_assert_int_eq(green__hub_yield(), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_double_lt(green_test_now() - t0, 0.5 * green_test_slowdown());
}
END_TEST

struct rr {
    struct trace *tr;
    char id;
    int rets; /* sum of |green_sleep(0) results|: 0 when all succeeded */
};

static void *rr_body(void *arg)
{
    struct rr *r = arg;
    for (int i = 0; i < 4; i++) {
        trace_add(r->tr, r->id);
        r->rets += abs(green_sleep(0));
    }
    return NULL;
}

START_TEST(sleep0_round_robin)
{
    struct trace tr = {0};
    struct rr r[3] = {{&tr, '0', 0}, {&tr, '1', 0}, {&tr, '2', 0}};
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(green_spawn(&t[i], rr_body, &r[i]), 0);
    }
    ck_assert_int_eq(green_joinall(t, 3, GREEN_FOREVER), 0);
    ck_assert_str_eq(tr.log, "012012012012");
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r[i].rets, 0);
        join_ok(t[i]);
    }
}
END_TEST

/* --- timers ----------------------------------------------------------- */

enum { NSLEEPERS = 1000 };

struct sleeper {
    double seconds; /* to sleep */
    int ret;        /* green_sleep's result */
    double early;   /* how much earlier than asked it returned, or <= 0 */
    int woke;
};

static void *sleeper_body(void *arg)
{
    struct sleeper *s = arg;
    double t0 = green_test_now();
    s->ret = green_sleep(s->seconds);
    s->early = (t0 + s->seconds) - green_test_now();
    s->woke = 1;
    return NULL;
}

static void run_sleepers(struct sleeper *s, size_t n)
{
    green_task_t **t = calloc(n, sizeof *t);
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(green_spawn(&t[i], sleeper_body, &s[i]), 0);
    }
    ck_assert_int_eq(green_joinall(t, n, GREEN_FOREVER), 0);
    for (size_t i = 0; i < n; i++) {
        join_ok(t[i]);
    }
    free(t);
}

START_TEST(many_random_timers)
{
    static struct sleeper s[NSLEEPERS];
    uint32_t x = 12345; /* xorshift32: the same "random" delays every run */
    for (int i = 0; i < NSLEEPERS; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s[i] = (struct sleeper){.seconds = (x % 51) / 1000.0};
    }
    double t0 = green_test_now();
    run_sleepers(s, NSLEEPERS);
    double el = green_test_now() - t0;

    for (int i = 0; i < NSLEEPERS; i++) {
        ck_assert_msg(s[i].woke && s[i].ret == 0,
                      "sleeper %d: woke %d ret %d", i, s[i].woke, s[i].ret);
        ck_assert_msg(s[i].early <= CLOCK_EPS,
                      "sleeper %d (%.3f s) woke %.6f s early", i,
                      s[i].seconds, s[i].early);
    }
    ck_assert_double_lt(el, 2.0 * green_test_slowdown());
}
END_TEST

START_TEST(many_timers_concurrently)
{
    /* Serially this would take 1000 s; concurrently just over 1 s. */
    static struct sleeper s[NSLEEPERS];
    for (int i = 0; i < NSLEEPERS; i++) {
        s[i] = (struct sleeper){.seconds = 1.0};
    }
    double t0 = green_test_now();
    run_sleepers(s, NSLEEPERS);
    double el = green_test_now() - t0;

    for (int i = 0; i < NSLEEPERS; i++) {
        ck_assert_int_eq(s[i].ret, 0);
        ck_assert_double_le(s[i].early, CLOCK_EPS);
    }
    ck_assert_double_ge(el, 1.0);
    ck_assert_double_lt(el, 3.0 * green_test_slowdown());
}
END_TEST

START_TEST(sleep_duration)
{
    double t0 = green_test_now();
    ck_assert_int_eq(green_sleep(0.05), 0);
    double el = green_test_now() - t0;
    ck_assert_double_ge(el, 0.05 - CLOCK_EPS);
    ck_assert_double_lt(el, 0.25 * green_test_slowdown());
}
END_TEST

/* --- the lazy hub ----------------------------------------------------- */

struct lazy {
    int fds_before;     /* fds when the thread starts */
    int fds_no_hub;     /* after calls that need no hub */
    int hub_before;     /* whether a hub existed before any blocking call */
    int fds_hub;        /* after the first blocking call */
    int hub_after;      /* whether a hub existed then */
    int sleep_ret;
};

static void *lazy_task(void *arg)
{
    return arg;
}

static void *lazy_thread(void *arg)
{
    struct lazy *l = arg;
    l->fds_before = green_test_count_fds();
    (void)greenlet_current();
    (void)green_current();
    struct green__thread *t = green__thread_peek();
    l->hub_before = t != NULL && t->hub != NULL;
    l->fds_no_hub = green_test_count_fds();

    green_task_t *task = NULL;
    int r = green_spawn(&task, lazy_task, NULL);
    l->sleep_ret = (r == 0) ? green_sleep(0.001) : r;
    t = green__thread_peek();
    l->hub_after = t != NULL && t->hub != NULL && t->loop != NULL;
    l->fds_hub = green_test_count_fds();
    if (task != NULL) {
        green_join(task, GREEN_FOREVER, NULL);
        green_task_release(task);
    }
    return NULL;
}

START_TEST(hub_is_lazy)
{
    /* A fresh OS thread has no hub whatever earlier tests did here (they
     * share one process under CK_FORK=no). */
    struct lazy l = {0};
    ck_assert_ptr_null(green_test_in_thread(lazy_thread, &l));

    ck_assert(!l.hub_before);
    ck_assert_int_eq(l.fds_no_hub, l.fds_before);
    ck_assert_int_eq(l.sleep_ret, 0);
    ck_assert(l.hub_after);
    ck_assert_int_gt(l.fds_hub, l.fds_before); /* the epoll fd at least */
    /* The thread's hub is destroyed when the thread exits. */
    ck_assert_int_eq(green_test_count_fds(), l.fds_before);
}
END_TEST

/* --- deadlock --------------------------------------------------------- */

static char report[8192];

static void root_parks_alone(void *arg)
{
    green_test_child_deadline(5);
    greenlet_set_name(greenlet_current(), "lonely-root");
    int r = green__hub_park(GREEN_FOREVER, "token-nobody-sends", NULL);
    _exit(-r & 0xff);
}

START_TEST(deadlock_root_alone)
{
    int st = green_test_fork_capture(root_parks_alone, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    ck_assert_msg(strstr(report, "lonely-root") != NULL,
                  "report does not name the root: %s", report);
    ck_assert_msg(strstr(report, "token-nobody-sends") != NULL,
                  "report does not say what it waits on: %s", report);
}
END_TEST

static void root_sleeps_forever(void *arg)
{
    green_test_child_deadline(5);
    int r = green_sleep(GREEN_FOREVER);
    _exit(-r & 0xff);
}

START_TEST(deadlock_sleep_forever_in_root)
{
    int st = green_test_fork_capture(root_sleeps_forever, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
}
END_TEST

static struct green__waitq never_q;

static void *stuck_body(void *arg)
{
    green__waitq_wait(&never_q, GREEN_FOREVER, "never-signalled", &never_q);
    return NULL;
}

static void root_joins_stuck_task(void *arg)
{
    green_test_child_deadline(5);
    green__waitq_init(&never_q);
    greenlet_set_name(greenlet_current(), "joining-root");
    green_spawn_opts_t opts = {.name = "stuck-task"};
    green_task_t *t;
    int r = green_spawn_ex(&t, stuck_body, NULL, &opts);
    if (r == 0) {
        r = green_join(t, GREEN_FOREVER, NULL);
    }
    _exit(-r & 0xff);
}

START_TEST(deadlock_join_stuck_task)
{
    int st = green_test_fork_capture(root_joins_stuck_task, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    ck_assert_msg(strstr(report, "stuck-task") != NULL,
                  "report does not name the task: %s", report);
    ck_assert_msg(strstr(report, "never-signalled") != NULL,
                  "report does not say what the task waits on: %s", report);
    ck_assert_msg(strstr(report, "joining-root") != NULL,
                  "report does not name the root: %s", report);
}
END_TEST

START_TEST(no_deadlock_while_timer_pending)
{
    /* Nothing is ready when the root parks, but a sleeping task will wake
     * it: that is not a deadlock. */
    struct waker w = {.target = greenlet_current(), .code = 7, .delay = 0.05};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, waker_body, &w), 0);
    ck_assert_int_eq(green__hub_park(GREEN_FOREVER, "timer-waker", NULL), 7);
    join_ok(t);
    ck_assert_int_eq(w.sleep_ret, 0);
}
END_TEST

START_TEST(no_deadlock_while_spawn_later_pending)
{
    struct waker w = {.target = greenlet_current(), .code = 8};
    green_task_t *t;
    ck_assert_int_eq(green_spawn_later(&t, 0.05, waker_body, &w), 0);
    ck_assert_int_eq(green__hub_park(GREEN_FOREVER, "later-waker", NULL), 8);
    join_ok(t);
}
END_TEST

START_TEST(no_deadlock_join_task_woken_later)
{
    /* The root joins a task parked on a queue; a third task will wake it
     * after a sleep. */
    struct green__waitq q;
    green__waitq_init(&q);
    struct qwaiter a = {.q = &q, .timeout = GREEN_FOREVER};
    green_task_t *ta, *tw;
    ck_assert_int_eq(green_spawn(&ta, qwaiter_body, &a), 0);
    struct waker w = {.target = task_greenlet(ta), .code = 3, .delay = 0.05};
    ck_assert_int_eq(green_spawn(&tw, waker_body, &w), 0);
    ck_assert_int_eq(green_join(ta, GREEN_FOREVER, NULL), 0);
    green_task_release(ta);
    join_ok(tw);
    ck_assert_int_eq(a.ret, 3);
    ck_assert(green__waitq_empty(&q));
}
END_TEST

/* --- suite ------------------------------------------------------------ */

static TCase *tcase(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    return tc;
}

Suite *green_test_hub_suite(void)
{
    Suite *s = suite_create("hub");

    TCase *tc = tcase("park", 10);
    tcase_add_test(tc, park_timeout_returns_etimedout);
    tcase_add_test(tc, park_woken_returns_code);
    tcase_add_test(tc, wake_ready_is_ignored);
    tcase_add_test(tc, wake_cancels_park_timer);
    tcase_add_test(tc, wake_running_is_ignored);
    tcase_add_test(tc, wake_plain_greenlet_is_ignored);
    tcase_add_test(tc, park_of_cancelled_greenlet);
    suite_add_tcase(s, tc);

    tc = tcase("waitq", 10);
    tcase_add_test(tc, waitq_is_fifo);
    tcase_add_test(tc, waitq_timeout_unlinks);
    tcase_add_test(tc, waitq_killed_waiter_unlinks);
    tcase_add_test(tc, waitq_wake_all);
    suite_add_tcase(s, tc);

    tc = tcase("yield", 10);
    tcase_add_test(tc, yield_runs_all_ready_first);
    tcase_add_test(tc, yield_queues_caller_behind_ready);
    tcase_add_test(tc, yield_with_nothing_ready);
    tcase_add_test(tc, sleep0_round_robin);
    suite_add_tcase(s, tc);

    tc = tcase("timers", 20);
    tcase_add_test(tc, sleep_duration);
    tcase_add_test(tc, many_random_timers);
    tcase_add_test(tc, many_timers_concurrently);
    suite_add_tcase(s, tc);

    tc = tcase("lazy", 10);
    tcase_add_test(tc, hub_is_lazy);
    suite_add_tcase(s, tc);

    tc = tcase("deadlock", 10);
    tcase_add_test(tc, deadlock_root_alone);
    tcase_add_test(tc, deadlock_sleep_forever_in_root);
    tcase_add_test(tc, deadlock_join_stuck_task);
    tcase_add_test(tc, no_deadlock_while_timer_pending);
    tcase_add_test(tc, no_deadlock_while_spawn_later_pending);
    tcase_add_test(tc, no_deadlock_join_task_woken_later);
    suite_add_tcase(s, tc);

    return s;
}
