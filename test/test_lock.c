/* SPDX-License-Identifier: MIT */
/* The lock suite: semaphores, bounded semaphores, locks, reentrant locks
 * and conditions (include/green/lock.h). Fair hand-off to the longest
 * waiter, contention, ownership, timeouts, cancellation while waiting,
 * condition wait/notify, deadlock reports and bad input.
 *
 * Task bodies never call ck_assert: under CK_FORK=no (the valgrind setup) a
 * failed assert longjmps, and a longjmp from a greenlet stack to the root
 * stack would wreck the run. Bodies record what they saw; the root checks.
 * Tests that are expected to catch a lie clean up before they assert, so
 * that a failure leaves nothing waiting on freed memory. */
#include <errno.h>
#include <limits.h>
#include <linux/membarrier.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "internal.h"
#include "rawsys.h"
#include "solo.h"
#include "green/event.h"
#include "green/lock.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

static char report[16384];

/* --- semaphores ----------------------------------------------------------- */

/* A greenlet taking a semaphore or a lock: it announces itself just before
 * the acquire (nothing switches between the two, so `queued` means it is
 * in the wait queue), records the outcome and, when told to, releases. */
struct taker {
    green_sem_t *s;
    green_lock_t *l;
    int id;
    double delay;   /* sleep before queueing */
    double timeout; /* for the acquire; 0 means GREEN_FOREVER here */
    int release;    /* release right after getting it */
    int *queued;    /* incremented just before the acquire */
    int *order;     /* ids in the order they got it */
    int *norder;
    int ret;        /* the acquire's result */
    int rel;        /* the release's result, if released */
};

static void *taker_body(void *arg)
{
    struct taker *k = arg;
    if (k->delay > 0 && green_sleep(k->delay) != 0) {
        k->ret = 999;
        return NULL;
    }
    double timeout = k->timeout > 0 ? k->timeout : GREEN_FOREVER;
    if (k->queued != NULL) {
        (*k->queued)++;
    }
    k->ret = k->s != NULL ? green_sem_acquire(k->s, timeout)
                          : green_lock_acquire(k->l, timeout);
    if (k->ret == 0) {
        if (k->order != NULL) {
            k->order[(*k->norder)++] = k->id;
        }
        if (k->release) {
            k->rel = k->s != NULL ? green_sem_release(k->s)
                                  : green_lock_release(k->l);
        }
    }
    return NULL;
}

START_TEST(sem_counts_permits)
{
    green_sem_t *s;
    ck_assert_int_eq(green_sem_new(&s, 2), 0);
    ck_assert_uint_eq(green_sem_value(s), 2);
    ck_assert_int_eq(green_sem_try_acquire(s), 0);
    ck_assert_int_eq(green_sem_acquire(s, 0), 0);
    ck_assert_uint_eq(green_sem_value(s), 0);
    ck_assert_int_eq(green_sem_try_acquire(s), -EAGAIN);
    ck_assert_uint_eq(green_sem_value(s), 0);
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_int_eq(green_sem_release(s), 0);
    /* An unbounded semaphore may go past its initial value. */
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_uint_eq(green_sem_value(s), 3);
    ck_assert_int_eq(green_sem_free(s), 0);
}
END_TEST

START_TEST(sem_value_cannot_wrap)
{
    /* An unbounded semaphore at UINT_MAX permits cannot count one more:
     * the release is refused, not wrapped round to no permits at all. */
    green_sem_t *s;
    ck_assert_int_eq(green_sem_new(&s, UINT_MAX), 0);
    int r = green_sem_release(s);
    unsigned v = green_sem_value(s);
    ck_assert_int_eq(green_sem_free(s), 0);
    ck_assert_int_eq(r, -EOVERFLOW);
    ck_assert_uint_eq(v, UINT_MAX);
}
END_TEST

START_TEST(sem_fifo_five_waiters)
{
    /* The waiters queue in the order 4, 3, 2, 1, 0 (shortest delay first),
     * the reverse of their spawn order, so serving them in spawn order or
     * waking them all to race would both show. */
    green_sem_t *s;
    ck_assert_int_eq(green_sem_new(&s, 0), 0);
    int queued = 0, order[5], n = 0;
    struct taker k[5];
    green_task_t *t[5];
    for (int i = 0; i < 5; i++) {
        k[i] = (struct taker){.s = s, .id = i, .delay = 0.02 * (5 - i),
                              .queued = &queued, .order = order,
                              .norder = &n, .ret = 1};
        ck_assert_int_eq(green_spawn(&t[i], taker_body, &k[i]), 0);
    }
    wait_flag(&queued, 5);
    ck_assert_int_eq(n, 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(green_sem_release(s), 0);
        /* Handed to the first waiter: no permit is free for anyone else,
         * not even with a single waiter left. */
        ck_assert_uint_eq(green_sem_value(s), 0);
        ck_assert_int_eq(green_sem_try_acquire(s), -EAGAIN);
        ck_assert_int_eq(green_sleep(0), 0);
        ck_assert_int_eq(n, i + 1);
        ck_assert_int_eq(order[i], 4 - i);
    }
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(k[i].ret, 0);
        join_release(t[i]);
    }
    ck_assert_uint_eq(green_sem_value(s), 0);
    ck_assert_int_eq(green_sem_free(s), 0);
}
END_TEST

static struct {
    green_sem_t *s;
    int *order;
    int n;
    int bad;
} cont;

static void *contender_body(void *arg)
{
    int id = (int)(intptr_t)arg;
    if (green_sem_acquire(cont.s, GREEN_FOREVER) != 0) {
        cont.bad++;
        return NULL;
    }
    cont.order[cont.n++] = id;
    /* Hold it across a yield: everyone else gets a chance to overtake. */
    if (green_sleep(0) != 0 || green_sem_release(cont.s) != 0) {
        cont.bad++;
    }
    return NULL;
}

START_TEST(sem_contention_in_order)
{
    int n = green_test_valgrind() ? 500 : green_test_tsan() ? 2000 : 10000;
    cont.order = calloc((size_t)n, sizeof(int));
    green_task_t **t = calloc((size_t)n, sizeof(*t));
    ck_assert_ptr_nonnull(cont.order);
    ck_assert_ptr_nonnull(t);
    cont.n = 0;
    cont.bad = 0;
    ck_assert_int_eq(green_sem_new(&cont.s, 1), 0);
    ck_assert_int_eq(green_sem_acquire(cont.s, GREEN_FOREVER), 0);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(green_spawn(&t[i], contender_body,
                                     (void *)(intptr_t)i), 0);
    }
    ck_assert_int_eq(green_sleep(0), 0); /* every contender queues */
    ck_assert_int_eq(cont.n, 0);
    ck_assert_int_eq(green_sem_release(cont.s), 0);
    /* The root queues behind all of them: served last. */
    ck_assert_int_eq(green_sem_acquire(cont.s, GREEN_FOREVER), 0);
    ck_assert_int_eq(cont.n, n);
    ck_assert_int_eq(green_sem_release(cont.s), 0);
    ck_assert_int_eq(green_joinall(t, (size_t)n, slow(5.0)), 0);
    ck_assert_int_eq(cont.bad, 0);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(cont.order[i], i);
        ck_assert_int_eq(green_task_status(t[i]), GREEN_TASK_DONE);
        green_task_release(t[i]);
    }
    ck_assert_uint_eq(green_sem_value(cont.s), 1);
    ck_assert_int_eq(green_sem_free(cont.s), 0);
    free(cont.order);
    free(t);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(sem_bounded_refuses_overflow)
{
    green_sem_t *s;
    ck_assert_int_eq(green_sem_new_bounded(&s, 2), 0);
    ck_assert_int_eq(green_sem_release(s), -EOVERFLOW);
    ck_assert_uint_eq(green_sem_value(s), 2);
    ck_assert_int_eq(green_sem_acquire(s, 0), 0);
    ck_assert_int_eq(green_sem_acquire(s, 0), 0);
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_uint_eq(green_sem_value(s), 2);
    ck_assert_int_eq(green_sem_release(s), -EOVERFLOW);
    ck_assert_uint_eq(green_sem_value(s), 2);

    /* A release with a waiter hands the permit over; the waiter's own
     * release brings it back to the bound, and one more overflows. */
    ck_assert_int_eq(green_sem_acquire(s, 0), 0);
    ck_assert_int_eq(green_sem_acquire(s, 0), 0);
    int queued = 0;
    struct taker k = {.s = s, .queued = &queued, .ret = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, taker_body, &k), 0);
    wait_flag(&queued, 1);
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_uint_eq(green_sem_value(s), 0);
    join_release(t);
    ck_assert_int_eq(k.ret, 0);
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_int_eq(green_sem_release(s), -EOVERFLOW);
    ck_assert_uint_eq(green_sem_value(s), 2);
    ck_assert_int_eq(green_sem_free(s), 0);
}
END_TEST

START_TEST(sem_bounded_zero)
{
    /* Bounded at an initial value of 0: any release is past the bound
     * (Python's BoundedSemaphore(0).release() raises). */
    green_sem_t *s;
    ck_assert_int_eq(green_sem_new_bounded(&s, 0), 0);
    int r = green_sem_release(s);
    unsigned v = green_sem_value(s);
    ck_assert_int_eq(green_sem_free(s), 0);
    ck_assert_int_eq(r, -EOVERFLOW);
    ck_assert_uint_eq(v, 0);
}
END_TEST

START_TEST(sem_timeout)
{
    green_sem_t *s;
    ck_assert_int_eq(green_sem_new(&s, 0), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_sem_acquire(s, 0.05), -ETIMEDOUT);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.045);
    ck_assert_double_lt(dt, slow(1.0));
    t0 = green_test_now();
    ck_assert_int_eq(green_sem_acquire(s, 0), -ETIMEDOUT);
    ck_assert_double_lt(green_test_now() - t0, slow(0.5));
    ck_assert_uint_eq(green_sem_value(s), 0);

    /* A waiter that timed out left the queue: the next release goes to
     * the one behind it, and the semaphore can be freed afterwards. */
    int queued = 0;
    struct taker a = {.s = s, .id = 0, .timeout = 0.03, .queued = &queued,
                      .ret = 1};
    struct taker b = {.s = s, .id = 1, .delay = 0.005, .queued = &queued,
                      .ret = 1};
    green_task_t *ta, *tb;
    ck_assert_int_eq(green_spawn(&ta, taker_body, &a), 0);
    ck_assert_int_eq(green_spawn(&tb, taker_body, &b), 0);
    ck_assert_int_eq(green_join(ta, slow(2.0), NULL), 0);
    ck_assert_int_eq(a.ret, -ETIMEDOUT);
    wait_flag(&queued, 2);
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_uint_eq(green_sem_value(s), 0);
    ck_assert_int_eq(green_join(tb, slow(2.0), NULL), 0);
    ck_assert_int_eq(b.ret, 0);
    green_task_release(ta);
    green_task_release(tb);
    ck_assert_int_eq(green_sem_free(s), 0);
}
END_TEST

START_TEST(sem_cancel_while_waiting)
{
    green_sem_t *s;
    ck_assert_int_eq(green_sem_new(&s, 0), 0);
    int queued = 0, order[3], n = 0;
    struct taker k[3];
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        k[i] = (struct taker){.s = s, .id = i, .delay = 0.01 * (i + 1),
                              .queued = &queued, .order = order,
                              .norder = &n, .ret = 1};
        ck_assert_int_eq(green_spawn(&t[i], taker_body, &k[i]), 0);
    }
    wait_flag(&queued, 3);
    ck_assert_int_eq(green_kill(t[1]), 0);
    ck_assert_int_eq(green_join(t[1], slow(1.0), NULL), 0);
    ck_assert_int_eq(k[1].ret, -ECANCELED);
    ck_assert_int_eq(green_task_status(t[1]), GREEN_TASK_CANCELLED);
    ck_assert_uint_eq(green_sem_value(s), 0);
    /* Two releases serve the two waiters left, skipping the dead one. */
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_uint_eq(green_sem_value(s), 0);
    join_release(t[0]);
    join_release(t[2]);
    green_task_release(t[1]);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(order[0], 0);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(green_sem_free(s), 0);
}
END_TEST

START_TEST(sem_kill_then_release_at_once)
{
    /* The root kills waiter A and releases before A has run again. The kill
     * came first, so A's acquire fails with -ECANCELED (task.h: "every
     * blocking call in t, the one it is in now ... fail with -ECANCELED")
     * and the permit must go to B, the next waiter. */
    green_sem_t *s;
    ck_assert_int_eq(green_sem_new(&s, 0), 0);
    int queued = 0, order[2], n = 0;
    struct taker a = {.s = s, .id = 0, .queued = &queued, .order = order,
                      .norder = &n, .ret = 1, .release = 1};
    struct taker b = {.s = s, .id = 1, .delay = 0.01, .queued = &queued,
                      .order = order, .norder = &n, .ret = 1};
    green_task_t *ta, *tb;
    ck_assert_int_eq(green_spawn(&ta, taker_body, &a), 0);
    ck_assert_int_eq(green_spawn(&tb, taker_body, &b), 0);
    wait_flag(&queued, 2);
    ck_assert_int_eq(green_kill(ta), 0);
    ck_assert_int_eq(green_sem_release(s), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    /* Clean up whatever happened before asserting. */
    int b_served = green_task_done(tb);
    if (!b_served) {
        green_kill(tb);
    }
    ck_assert_int_eq(green_join(ta, slow(1.0), NULL), 0);
    ck_assert_int_eq(green_join(tb, slow(1.0), NULL), 0);
    green_task_release(ta);
    green_task_release(tb);
    ck_assert_int_eq(green_sem_free(s), 0);
    ck_assert_int_eq(a.ret, -ECANCELED);
    ck_assert_msg(b_served && b.ret == 0,
                  "the release did not go to the next waiter (B: %d)",
                  b.ret);
}
END_TEST

START_TEST(sem_free_busy)
{
    green_sem_t *s;
    ck_assert_int_eq(green_sem_new(&s, 0), 0);
    int queued = 0;
    struct taker k = {.s = s, .queued = &queued, .ret = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, taker_body, &k), 0);
    wait_flag(&queued, 1);
    ck_assert_int_eq(green_sem_free(s), -EBUSY);
    ck_assert_int_eq(green_kill(t), 0);
    join_release(t);
    ck_assert_int_eq(k.ret, -ECANCELED);
    ck_assert_int_eq(green_sem_free(s), 0);
}
END_TEST

/* Every greenlet waits on a semaphore that nobody will ever release. */
static void *sem_forever_body(void *arg)
{
    green_sem_acquire(arg, GREEN_FOREVER);
    return NULL;
}

static const char *const sem_waiter_names[] = {
    "sem-waiter-one", "sem-waiter-two", "sem-waiter-three"};

static void sem_deadlock_child(void *arg)
{
    green_test_child_deadline(5);
    green_sem_t *s;
    if (green_sem_new(&s, 0) != 0) {
        _exit(100);
    }
    for (int i = 0; i < 3; i++) {
        green_spawn_opts_t o = {.name = sem_waiter_names[i]};
        if (green_spawn_ex(NULL, sem_forever_body, s, &o) != 0) {
            _exit(100);
        }
    }
    double t0 = green_test_now();
    int r = green_sem_acquire(s, GREEN_FOREVER);
    if (r == -EDEADLK &&
        (green_sem_value(s) != 0 || green_test_now() - t0 > 2.0)) {
        _exit(101);
    }
    _exit(-r & 0xff);
}

START_TEST(sem_deadlock_reported)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    int st = green_test_fork_capture(sem_deadlock_child, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    for (int i = 0; i < 3; i++) {
        ck_assert_msg(strstr(report, sem_waiter_names[i]) != NULL,
                      "report does not name %s: %s", sem_waiter_names[i],
                      report);
    }
    ck_assert_msg(green_test_count_substr(report, "green_sem_acquire") >= 3,
                  "report does not say what they wait on: %s", report);
}
END_TEST

/* --- locks ---------------------------------------------------------------- */

/* Holds l until `go` is set, then releases it. */
struct holder {
    green_lock_t *l;
    green_event_t *go;
    int got;  /* the acquire's result */
    int rel;  /* the release's result */
};

static void *holder_body(void *arg)
{
    struct holder *h = arg;
    h->got = green_lock_acquire(h->l, GREEN_FOREVER);
    if (h->got == 0) {
        green_event_wait(h->go, GREEN_FOREVER);
        h->rel = green_lock_release(h->l);
    }
    return NULL;
}

START_TEST(lock_ownership)
{
    green_lock_t *l;
    green_event_t *go;
    ck_assert_int_eq(green_lock_new(&l), 0);
    ck_assert_int_eq(green_event_new(&go), 0);
    ck_assert(!green_lock_locked(l));
    struct holder h = {.l = l, .go = go, .got = 1, .rel = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, holder_body, &h), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(h.got, 0);
    ck_assert(green_lock_locked(l));
    /* Not ours: refused, and it stays the holder's. */
    ck_assert_int_eq(green_lock_release(l), -EPERM);
    ck_assert(green_lock_locked(l));
    ck_assert_int_eq(green_lock_try_acquire(l), -EBUSY);
    ck_assert_int_eq(green_lock_acquire(l, 0), -ETIMEDOUT);
    ck_assert_int_eq(green_lock_free(l), -EBUSY);
    ck_assert_int_eq(green_event_set(go), 0);
    join_release(t);
    ck_assert_int_eq(h.rel, 0);
    ck_assert(!green_lock_locked(l));

    /* A plain lock taken again by its owner is a deadlock, not a wait. */
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), -EDEADLK);
    ck_assert_int_eq(green_lock_acquire(l, 1.0), -EDEADLK);
    ck_assert_double_lt(green_test_now() - t0, slow(0.5));
    ck_assert_int_eq(green_lock_try_acquire(l), -EDEADLK);
    ck_assert(green_lock_locked(l));
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_lock_release(l), -EPERM);
    ck_assert_int_eq(green_lock_try_acquire(l), 0);
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_lock_free(l), 0);
    ck_assert_int_eq(green_event_free(go), 0);
}
END_TEST

START_TEST(rlock_counts_levels)
{
    green_lock_t *l;
    ck_assert_int_eq(green_rlock_new(&l), 0);
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_lock_try_acquire(l), 0);
    ck_assert_int_eq(green_lock_acquire(l, 0), 0);
    int queued = 0, order[1], n = 0;
    struct taker w = {.l = l, .queued = &queued, .order = order,
                      .norder = &n, .ret = 1, .release = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, taker_body, &w), 0);
    wait_flag(&queued, 1);
    for (int level = 3; level > 1; level--) {
        ck_assert_int_eq(green_lock_release(l), 0);
        ck_assert(green_lock_locked(l));
        ck_assert_int_eq(green_sleep(0.005), 0);
        ck_assert_int_eq(n, 0); /* levels remain: the waiter still waits */
    }
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_lock_release(l), -EPERM); /* handed over */
    join_release(t);
    ck_assert_int_eq(w.ret, 0);
    ck_assert_int_eq(w.rel, 0);
    ck_assert_int_eq(n, 1);
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_lock_release(l), -EPERM);
    ck_assert_int_eq(green_lock_free(l), 0);
}
END_TEST

/* Takes an rlock twice and holds it until told; meanwhile the root must
 * be refused, whatever it tries. */
struct rholder {
    green_lock_t *l;
    green_event_t *go;
    int got;
    int rel[3];
};

static void *rholder_body(void *arg)
{
    struct rholder *h = arg;
    h->got = green_lock_acquire(h->l, GREEN_FOREVER) |
             green_lock_acquire(h->l, GREEN_FOREVER);
    green_event_wait(h->go, GREEN_FOREVER);
    for (int i = 0; i < 3; i++) {
        h->rel[i] = green_lock_release(h->l);
    }
    return NULL;
}

START_TEST(rlock_non_owner)
{
    green_lock_t *l;
    green_event_t *go;
    ck_assert_int_eq(green_rlock_new(&l), 0);
    ck_assert_int_eq(green_event_new(&go), 0);
    struct rholder h = {.l = l, .go = go, .got = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, rholder_body, &h), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(h.got, 0);
    ck_assert_int_eq(green_lock_release(l), -EPERM);
    ck_assert_int_eq(green_lock_try_acquire(l), -EBUSY);
    ck_assert_int_eq(green_lock_acquire(l, 0.01), -ETIMEDOUT);
    ck_assert_int_eq(green_lock_free(l), -EBUSY);
    ck_assert_int_eq(green_event_set(go), 0);
    join_release(t);
    ck_assert_int_eq(h.rel[0], 0);
    ck_assert_int_eq(h.rel[1], 0);
    ck_assert_int_eq(h.rel[2], -EPERM);
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_lock_free(l), 0);
    ck_assert_int_eq(green_event_free(go), 0);
}
END_TEST

START_TEST(lock_fifo_handoff)
{
    green_lock_t *l;
    ck_assert_int_eq(green_lock_new(&l), 0);
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    int queued = 0, order[4], n = 0;
    struct taker k[4];
    green_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        /* Queue in the order 3, 2, 1, 0. */
        k[i] = (struct taker){.l = l, .id = i, .delay = 0.02 * (4 - i),
                              .queued = &queued, .order = order,
                              .norder = &n, .ret = 1, .release = 1};
        ck_assert_int_eq(green_spawn(&t[i], taker_body, &k[i]), 0);
    }
    wait_flag(&queued, 4);
    ck_assert_int_eq(green_lock_release(l), 0);
    /* Handed to the first waiter: still locked, and not ours to take. */
    ck_assert(green_lock_locked(l));
    ck_assert_int_eq(green_lock_try_acquire(l), -EBUSY);
    ck_assert_int_eq(green_lock_release(l), -EPERM);
    /* The root queues behind the four: it gets the lock last. */
    ck_assert_int_eq(green_lock_acquire(l, slow(2.0)), 0);
    ck_assert_int_eq(n, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(order[i], 3 - i);
        ck_assert_int_eq(k[i].ret, 0);
        ck_assert_int_eq(k[i].rel, 0);
        join_release(t[i]);
    }
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_lock_free(l), 0);
}
END_TEST

START_TEST(lock_timeout)
{
    green_lock_t *l;
    green_event_t *go;
    ck_assert_int_eq(green_lock_new(&l), 0);
    ck_assert_int_eq(green_event_new(&go), 0);
    struct holder h = {.l = l, .go = go, .got = 1, .rel = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, holder_body, &h), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_lock_acquire(l, 0.05), -ETIMEDOUT);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.045);
    ck_assert_double_lt(dt, slow(1.0));
    ck_assert_int_eq(green_lock_acquire(l, 0), -ETIMEDOUT);
    ck_assert(green_lock_locked(l));
    ck_assert_int_eq(green_event_set(go), 0);
    join_release(t);
    ck_assert_int_eq(h.rel, 0);
    /* The timed-out wait left nothing behind: free, and freeable. */
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_lock_free(l), 0);
    ck_assert_int_eq(green_event_free(go), 0);
}
END_TEST

START_TEST(lock_cancel_while_waiting)
{
    green_lock_t *l;
    ck_assert_int_eq(green_lock_new(&l), 0);
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    int queued = 0, order[3], n = 0;
    struct taker k[3];
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        k[i] = (struct taker){.l = l, .id = i, .delay = 0.01 * (i + 1),
                              .queued = &queued, .order = order,
                              .norder = &n, .ret = 1, .release = 1};
        ck_assert_int_eq(green_spawn(&t[i], taker_body, &k[i]), 0);
    }
    wait_flag(&queued, 3);
    ck_assert_int_eq(green_kill(t[1]), 0);
    ck_assert_int_eq(green_join(t[1], slow(1.0), NULL), 0);
    ck_assert_int_eq(k[1].ret, -ECANCELED);
    ck_assert(green_lock_locked(l)); /* still the root's */
    ck_assert_int_eq(green_lock_release(l), 0);
    join_release(t[0]);
    join_release(t[2]);
    green_task_release(t[1]);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(order[0], 0);
    ck_assert_int_eq(order[1], 2);
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_lock_free(l), 0);
}
END_TEST

START_TEST(lock_kill_then_release_at_once)
{
    /* As for semaphores: killed first, then the lock released before the
     * victim ran again. The victim's acquire must fail with -ECANCELED
     * and the lock must go straight to the next waiter. */
    green_lock_t *l;
    ck_assert_int_eq(green_lock_new(&l), 0);
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    int queued = 0, order[2], n = 0;
    struct taker a = {.l = l, .id = 0, .queued = &queued, .order = order,
                      .norder = &n, .ret = 1, .release = 1};
    struct taker b = {.l = l, .id = 1, .delay = 0.01, .queued = &queued,
                      .order = order, .norder = &n, .ret = 1, .release = 1};
    green_task_t *ta, *tb;
    ck_assert_int_eq(green_spawn(&ta, taker_body, &a), 0);
    ck_assert_int_eq(green_spawn(&tb, taker_body, &b), 0);
    wait_flag(&queued, 2);
    ck_assert_int_eq(green_kill(ta), 0);
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_join(ta, slow(1.0), NULL), 0);
    ck_assert_int_eq(green_join(tb, slow(1.0), NULL), 0);
    green_task_release(ta);
    green_task_release(tb);
    ck_assert_int_eq(green_lock_free(l), 0);
    ck_assert_int_eq(b.ret, 0);
    ck_assert_int_eq(a.ret, -ECANCELED);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(order[0], 1);
}
END_TEST

START_TEST(lock_free_busy)
{
    green_lock_t *l;
    ck_assert_int_eq(green_lock_new(&l), 0);
    ck_assert_int_eq(green_lock_acquire(l, 0), 0);
    ck_assert_int_eq(green_lock_free(l), -EBUSY); /* held */
    int queued = 0;
    struct taker k = {.l = l, .queued = &queued, .ret = 1, .release = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, taker_body, &k), 0);
    wait_flag(&queued, 1);
    ck_assert_int_eq(green_lock_free(l), -EBUSY); /* held and waited on */
    ck_assert_int_eq(green_lock_release(l), 0);
    join_release(t);
    ck_assert_int_eq(k.ret, 0);
    ck_assert_int_eq(k.rel, 0);
    ck_assert_int_eq(green_lock_free(l), 0);
}
END_TEST

/* A task takes the lock and then waits forever on a semaphore: nothing can
 * ever release the lock the root then asks for. */
struct lock_sem {
    green_lock_t *l;
    green_sem_t *s;
};

static void *hold_then_block_body(void *arg)
{
    struct lock_sem *ls = arg;
    if (green_lock_acquire(ls->l, GREEN_FOREVER) == 0) {
        green_sem_acquire(ls->s, GREEN_FOREVER);
    }
    return NULL;
}

static void lock_deadlock_child(void *arg)
{
    green_test_child_deadline(5);
    struct lock_sem ls;
    if (green_lock_new(&ls.l) != 0 || green_sem_new(&ls.s, 0) != 0) {
        _exit(100);
    }
    green_spawn_opts_t o = {.name = "lock-holder-blocked"};
    if (green_spawn_ex(NULL, hold_then_block_body, &ls, &o) != 0 ||
        green_sleep(0) != 0 || !green_lock_locked(ls.l)) {
        _exit(100);
    }
    int r = green_lock_acquire(ls.l, GREEN_FOREVER);
    _exit(-r & 0xff);
}

START_TEST(lock_deadlock_reported)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    int st = green_test_fork_capture(lock_deadlock_child, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    ck_assert_msg(strstr(report, "lock-holder-blocked") != NULL,
                  "report does not name the holder: %s", report);
    ck_assert_msg(strstr(report, "green_lock_acquire") != NULL,
                  "report does not show the root's wait: %s", report);
}
END_TEST

/* --- conditions ----------------------------------------------------------- */

/* Takes c's lock (depth times), waits on c, records how it came back and
 * whether it held the lock then (by releasing every level). */
struct cwaiter {
    green_cond_t *c;
    int id;
    double delay;     /* sleep before taking the lock */
    double timeout;   /* 0: GREEN_FOREVER */
    int depth;        /* levels to take (1 for a plain lock) */
    int *queued;      /* incremented just before the wait */
    int *order;
    int *norder;
    int ret;          /* green_cond_wait's result */
    double t_ret;     /* when it returned */
    int locked_after; /* green_lock_locked() right after */
    int rel[4];       /* releases of each level, plus one too many */
};

static void *cwaiter_body(void *arg)
{
    struct cwaiter *w = arg;
    green_lock_t *l = green_cond_lock(w->c);
    if (w->delay > 0) {
        green_sleep(w->delay);
    }
    int depth = w->depth > 0 ? w->depth : 1;
    for (int i = 0; i < depth; i++) {
        if (green_lock_acquire(l, GREEN_FOREVER) != 0) {
            w->ret = 999;
            return NULL;
        }
    }
    (*w->queued)++;
    w->ret = green_cond_wait(w->c, w->timeout > 0 ? w->timeout
                                                  : GREEN_FOREVER);
    w->t_ret = green_test_now();
    w->locked_after = green_lock_locked(l);
    if (w->order != NULL) {
        w->order[(*w->norder)++] = w->id;
    }
    for (int i = 0; i <= depth && i < 4; i++) {
        w->rel[i] = green_lock_release(l);
    }
    return NULL;
}

START_TEST(cond_notify_fifo)
{
    green_cond_t *c;
    ck_assert_int_eq(green_cond_new(&c, NULL), 0);
    green_lock_t *l = green_cond_lock(c);
    ck_assert_ptr_nonnull(l);
    int queued = 0, order[4], n = 0;
    struct cwaiter w[4];
    green_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        /* They begin waiting in the order 3, 2, 1, 0. */
        w[i] = (struct cwaiter){.c = c, .id = i, .delay = 0.02 * (4 - i),
                                .queued = &queued, .order = order,
                                .norder = &n, .ret = 1};
        ck_assert_int_eq(green_spawn(&t[i], cwaiter_body, &w[i]), 0);
    }
    wait_flag(&queued, 4);
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_cond_notify(c, 1), 1);
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(order[0], 3);

    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_cond_notify(c, 2), 2);
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], 1);

    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_cond_notify(c, 0), 0);
    ck_assert_int_eq(green_cond_notify_all(c), 1);
    ck_assert_int_eq(green_cond_notify_all(c), 0);
    ck_assert_int_eq(green_cond_notify(c, 5), 0);
    ck_assert_int_eq(green_lock_release(l), 0);
    for (int i = 0; i < 4; i++) {
        join_release(t[i]);
        ck_assert_int_eq(w[i].ret, 0);
        ck_assert_int_eq(w[i].locked_after, 1);
        ck_assert_int_eq(w[i].rel[0], 0);
    }
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(order[3], 0);
    ck_assert_int_eq(green_cond_free(c), 0);
}
END_TEST

START_TEST(cond_notify_all_wakes_everyone)
{
    green_cond_t *c;
    ck_assert_int_eq(green_cond_new(&c, NULL), 0);
    green_lock_t *l = green_cond_lock(c);
    int queued = 0, order[5], n = 0;
    struct cwaiter w[5];
    green_task_t *t[5];
    for (int i = 0; i < 5; i++) {
        w[i] = (struct cwaiter){.c = c, .id = i, .delay = 0.01 * (i + 1),
                                .queued = &queued, .order = order,
                                .norder = &n, .ret = 1};
        ck_assert_int_eq(green_spawn(&t[i], cwaiter_body, &w[i]), 0);
    }
    wait_flag(&queued, 5);
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_cond_notify_all(c), 5);
    /* Woken, they still need the lock the root holds. */
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(green_lock_release(l), 0);
    for (int i = 0; i < 5; i++) {
        join_release(t[i]);
        ck_assert_int_eq(w[i].ret, 0);
        ck_assert_int_eq(w[i].locked_after, 1);
        ck_assert_int_eq(order[i], i);
    }
    ck_assert_int_eq(green_cond_free(c), 0);
}
END_TEST

START_TEST(cond_wait_releases_all_levels)
{
    green_cond_t *c;
    ck_assert_int_eq(green_cond_new(&c, NULL), 0);
    green_lock_t *l = green_cond_lock(c);
    int queued = 0;
    struct cwaiter w = {.c = c, .depth = 3, .queued = &queued, .ret = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, cwaiter_body, &w), 0);
    wait_flag(&queued, 1);
    /* Taken three times by the waiter, yet free while it waits. */
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_lock_try_acquire(l), 0);
    ck_assert_int_eq(green_cond_notify(c, 1), 1);
    ck_assert_int_eq(green_lock_release(l), 0);
    join_release(t);
    ck_assert_int_eq(w.ret, 0);
    ck_assert_int_eq(w.locked_after, 1);
    /* All three levels came back: three releases, and the fourth is
     * refused. */
    ck_assert_int_eq(w.rel[0], 0);
    ck_assert_int_eq(w.rel[1], 0);
    ck_assert_int_eq(w.rel[2], 0);
    ck_assert_int_eq(w.rel[3], -EPERM);
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_cond_free(c), 0);
}
END_TEST

START_TEST(cond_timeout_returns_locked)
{
    green_cond_t *c;
    ck_assert_int_eq(green_cond_new(&c, NULL), 0);
    green_lock_t *l = green_cond_lock(c);
    int queued = 0;
    struct cwaiter w = {.c = c, .timeout = 0.03, .queued = &queued,
                        .ret = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, cwaiter_body, &w), 0);
    wait_flag(&queued, 1);
    double t0 = green_test_now();
    /* The root holds the lock across the waiter's deadline: the waiter
     * times out but may not return before it has the lock back. */
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_sleep(0.1), 0);
    ck_assert(!green_task_done(t));
    double t_rel = green_test_now();
    ck_assert_int_eq(green_lock_release(l), 0);
    join_release(t);
    ck_assert_int_eq(w.ret, -ETIMEDOUT);
    ck_assert_double_ge(w.t_ret, t_rel);
    ck_assert_double_ge(w.t_ret - t0, 0.09);
    ck_assert_int_eq(w.locked_after, 1);
    ck_assert_int_eq(w.rel[0], 0);
    ck_assert_int_eq(w.rel[1], -EPERM);

    /* Alone, a timed-out wait takes about the timeout. */
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    t0 = green_test_now();
    ck_assert_int_eq(green_cond_wait(c, 0.05), -ETIMEDOUT);
    double dt = green_test_now() - t0;
    ck_assert_double_ge(dt, 0.045);
    ck_assert_double_lt(dt, slow(1.0));
    ck_assert_int_eq(green_lock_release(l), 0); /* held again */
    ck_assert_int_eq(green_cond_free(c), 0);
}
END_TEST

START_TEST(cond_killed_returns_locked)
{
    green_cond_t *c;
    ck_assert_int_eq(green_cond_new(&c, NULL), 0);
    green_lock_t *l = green_cond_lock(c);
    int queued = 0;
    struct cwaiter w = {.c = c, .depth = 2, .queued = &queued, .ret = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, cwaiter_body, &w), 0);
    wait_flag(&queued, 1);
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_kill(t), 0);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert(!green_task_done(t)); /* waits for the lock, killed or not */
    double t_rel = green_test_now();
    ck_assert_int_eq(green_lock_release(l), 0);
    join_release(t);
    ck_assert_int_eq(w.ret, -ECANCELED);
    ck_assert_double_ge(w.t_ret, t_rel);
    ck_assert_int_eq(w.locked_after, 1);
    ck_assert_int_eq(w.rel[0], 0);
    ck_assert_int_eq(w.rel[1], 0);
    ck_assert_int_eq(w.rel[2], -EPERM);
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_cond_free(c), 0);
}
END_TEST

/* Takes the lock, yields (and is killed meanwhile, while ready, not
 * parked), then waits on the condition. */
struct late_kill {
    green_cond_t *c;
    int yield_ret;
    int ret;
    int locked_after;
    int rel[2];
};

static void *late_kill_body(void *arg)
{
    struct late_kill *k = arg;
    green_lock_t *l = green_cond_lock(k->c);
    if (green_lock_acquire(l, GREEN_FOREVER) != 0) {
        k->ret = 999;
        return NULL;
    }
    k->yield_ret = green_sleep(0);
    k->ret = green_cond_wait(k->c, GREEN_FOREVER);
    k->locked_after = green_lock_locked(l);
    k->rel[0] = green_lock_release(l);
    k->rel[1] = green_lock_release(l);
    return NULL;
}

START_TEST(cond_wait_after_kill)
{
    /* Killed before the wait began: the wait fails at once with
     * -ECANCELED, and still returns holding the lock. */
    green_cond_t *c;
    ck_assert_int_eq(green_cond_new(&c, NULL), 0);
    struct late_kill k = {.c = c, .ret = 1, .yield_ret = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, late_kill_body, &k), 0);
    ck_assert_int_eq(green_sleep(0), 0); /* it takes the lock and yields */
    ck_assert(green_lock_locked(green_cond_lock(c)));
    ck_assert_int_eq(green_kill(t), 0);
    join_release(t);
    ck_assert_int_eq(k.ret, -ECANCELED);
    ck_assert_int_eq(k.locked_after, 1);
    ck_assert_int_eq(k.rel[0], 0);
    ck_assert_int_eq(k.rel[1], -EPERM);
    ck_assert(!green_lock_locked(green_cond_lock(c)));
    ck_assert_int_eq(green_cond_free(c), 0);
}
END_TEST

START_TEST(cond_killed_waiter_takes_no_notify)
{
    /* A waiter killed before a notify is leaving anyway: the notify must
     * go to the next waiter, not be spent on the dead one. */
    green_cond_t *c;
    ck_assert_int_eq(green_cond_new(&c, NULL), 0);
    green_lock_t *l = green_cond_lock(c);
    int queued = 0;
    struct cwaiter a = {.c = c, .queued = &queued, .ret = 1};
    struct cwaiter b = {.c = c, .delay = 0.01, .queued = &queued, .ret = 1};
    green_task_t *ta, *tb;
    ck_assert_int_eq(green_spawn(&ta, cwaiter_body, &a), 0);
    ck_assert_int_eq(green_spawn(&tb, cwaiter_body, &b), 0);
    wait_flag(&queued, 2);
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    ck_assert_int_eq(green_kill(ta), 0);
    int woken = green_cond_notify(c, 1);
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_sleep(0.02), 0);
    int b_woken = green_task_done(tb);
    /* Clean up before asserting. */
    ck_assert_int_eq(green_lock_acquire(l, GREEN_FOREVER), 0);
    green_cond_notify_all(c);
    ck_assert_int_eq(green_lock_release(l), 0);
    join_release(ta);
    join_release(tb);
    ck_assert_int_eq(green_cond_free(c), 0);
    ck_assert_int_eq(a.ret, -ECANCELED);
    ck_assert_int_eq(woken, 1);
    ck_assert_msg(b_woken, "the notify was spent on the killed waiter");
    ck_assert_int_eq(b.ret, 0);
}
END_TEST

START_TEST(cond_external_lock)
{
    green_lock_t *l;
    green_cond_t *c;
    ck_assert_int_eq(green_lock_new(&l), 0);
    ck_assert_int_eq(green_cond_new(&c, l), 0);
    ck_assert_ptr_eq(green_cond_lock(c), l);
    int queued = 0;
    struct cwaiter w = {.c = c, .queued = &queued, .ret = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, cwaiter_body, &w), 0);
    wait_flag(&queued, 1);
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_cond_free(c), -EBUSY); /* waited on */
    ck_assert_int_eq(green_lock_acquire(l, 0), 0);
    ck_assert_int_eq(green_cond_notify(c, 1), 1);
    ck_assert_int_eq(green_lock_release(l), 0);
    join_release(t);
    ck_assert_int_eq(w.ret, 0);
    ck_assert_int_eq(w.locked_after, 1);
    ck_assert_int_eq(w.rel[0], 0);
    ck_assert_int_eq(w.rel[1], -EPERM);
    ck_assert_int_eq(green_cond_free(c), 0);
    /* The lock was the caller's: still alive, and free. */
    ck_assert(!green_lock_locked(l));
    ck_assert_int_eq(green_lock_acquire(l, 0), 0);
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_lock_free(l), 0);
}
END_TEST

START_TEST(cond_needs_the_lock)
{
    green_cond_t *c;
    ck_assert_int_eq(green_cond_new(&c, NULL), 0);
    green_lock_t *l = green_cond_lock(c);
    ck_assert_int_eq(green_cond_wait(c, 0.01), -EPERM);
    ck_assert_int_eq(green_cond_notify(c, 1), -EPERM);
    ck_assert_int_eq(green_cond_notify_all(c), -EPERM);
    /* Held by someone else is not held by the caller. */
    green_event_t *go;
    ck_assert_int_eq(green_event_new(&go), 0);
    struct holder h = {.l = l, .go = go, .got = 1, .rel = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, holder_body, &h), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(h.got, 0);
    ck_assert_int_eq(green_cond_wait(c, 0.01), -EPERM);
    ck_assert_int_eq(green_cond_notify(c, 1), -EPERM);
    ck_assert_int_eq(green_cond_notify_all(c), -EPERM);
    ck_assert(green_lock_locked(l));
    ck_assert_int_eq(green_cond_free(c), -EBUSY); /* its own lock is held */
    ck_assert_int_eq(green_event_set(go), 0);
    join_release(t);
    ck_assert_int_eq(h.rel, 0);
    ck_assert_int_eq(green_event_free(go), 0);
    ck_assert_int_eq(green_cond_free(c), 0);
}
END_TEST

static void cond_deadlock_child(void *arg)
{
    green_test_child_deadline(5);
    green_cond_t *c;
    if (green_cond_new(&c, NULL) != 0 ||
        green_lock_acquire(green_cond_lock(c), GREEN_FOREVER) != 0) {
        _exit(100);
    }
    int r = green_cond_wait(c, GREEN_FOREVER);
    /* Nothing could notify it, but the lock was free: it is taken back. */
    if (r == -EDEADLK && green_lock_release(green_cond_lock(c)) != 0) {
        _exit(101);
    }
    _exit(-r & 0xff);
}

START_TEST(cond_deadlock_reported)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    int st = green_test_fork_capture(cond_deadlock_child, NULL, report,
                                     sizeof report);
    check_child(st, EDEADLK, report);
    ck_assert_msg(strstr(report, "green_cond_wait") != NULL,
                  "report does not show the wait: %s", report);
}
END_TEST

/* --- adversarial: timeouts, kills and hand-offs all at once --------------- */

static unsigned rnd(unsigned *x)
{
    *x = *x * 1103515245u + 12345u;
    return (*x >> 16) & 0x7fff;
}

/* Many greenlets take and give back a semaphore (or a lock) with tiny
 * timeouts while the root kills some of them: the holders never exceed
 * the permits, and no permit is lost or made up on the way. */
static struct {
    green_sem_t *s;
    green_lock_t *l;
    int held;
    int max_held;
    int acquired, timeouts, cancels, bad;
} stress;

static void *stress_body(void *arg)
{
    unsigned x = (unsigned)(uintptr_t)arg * 2654435761u + 1u;
    for (int i = 0; i < 20; i++) {
        double to = (rnd(&x) % 4) * 0.001; /* 0 to 3 ms */
        int r = stress.s != NULL ? green_sem_acquire(stress.s, to)
                                 : green_lock_acquire(stress.l, to);
        if (r == -ECANCELED) {
            stress.cancels++;
            return NULL;
        }
        if (r == -ETIMEDOUT) {
            stress.timeouts++;
            continue;
        }
        if (r != 0) {
            stress.bad++;
            return NULL;
        }
        stress.acquired++;
        if (++stress.held > stress.max_held) {
            stress.max_held = stress.held;
        }
        unsigned y = rnd(&x) % 3;
        int sr = y == 0 ? 0 : green_sleep(y == 1 ? 0 : 0.0005);
        stress.held--;
        r = stress.s != NULL ? green_sem_release(stress.s)
                             : green_lock_release(stress.l);
        if (r != 0) {
            stress.bad++;
        }
        if (sr == -ECANCELED) {
            stress.cancels++;
            return NULL;
        }
    }
    return NULL;
}

static void run_stress(int permits)
{
    int n = green_test_valgrind() ? 40 : 200;
    green_task_t **t = calloc((size_t)n, sizeof(*t));
    ck_assert_ptr_nonnull(t);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(green_spawn(&t[i], stress_body,
                                     (void *)(uintptr_t)i), 0);
    }
    unsigned x = 7;
    for (int k = 0; k < n / 10; k++) {
        ck_assert_int_eq(green_sleep(0.001), 0);
        green_kill(t[rnd(&x) % (unsigned)n]);
    }
    ck_assert_int_eq(green_joinall(t, (size_t)n, slow(10.0)), 0);
    for (int i = 0; i < n; i++) {
        green_task_release(t[i]);
    }
    free(t);
    ck_assert_int_eq(stress.bad, 0);
    ck_assert_int_le(stress.max_held, permits);
    ck_assert_int_eq(stress.held, 0);
    ck_assert_int_gt(stress.acquired, 0);
    ck_assert_int_gt(stress.timeouts, 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}

START_TEST(sem_stress_conserves_permits)
{
    memset(&stress, 0, sizeof stress);
    ck_assert_int_eq(green_sem_new(&stress.s, 3), 0);
    run_stress(3);
    ck_assert_int_eq(stress.max_held, 3);
    ck_assert_uint_eq(green_sem_value(stress.s), 3);
    ck_assert_int_eq(green_sem_free(stress.s), 0);
}
END_TEST

START_TEST(lock_stress_one_holder)
{
    memset(&stress, 0, sizeof stress);
    ck_assert_int_eq(green_lock_new(&stress.l), 0);
    run_stress(1);
    ck_assert(!green_lock_locked(stress.l));
    ck_assert_int_eq(green_lock_free(stress.l), 0);
}
END_TEST

/* Waiters with tiny timeouts, a notifier, and kills: every notify that
 * counted a waiter as woken must show up as exactly one wait returning 0
 * (none spent on a waiter that had already timed out or been killed). */
static struct {
    green_cond_t *c;
    int waiters_left;
    int notified;  /* sum of what notify returned */
    int zero;      /* waits that returned 0 */
    int timeouts, cancels, bad;
} cst;

static void *cstress_waiter(void *arg)
{
    unsigned x = (unsigned)(uintptr_t)arg * 2246822519u + 3u;
    green_lock_t *l = green_cond_lock(cst.c);
    for (int i = 0; i < 10; i++) {
        if (green_lock_acquire(l, GREEN_FOREVER) != 0) {
            break; /* killed */
        }
        int r = green_cond_wait(cst.c, (rnd(&x) % 4) * 0.001);
        if (!green_lock_locked(l) || green_lock_release(l) != 0) {
            cst.bad++;
        }
        if (r == 0) {
            cst.zero++;
        } else if (r == -ETIMEDOUT) {
            cst.timeouts++;
        } else if (r == -ECANCELED) {
            cst.cancels++;
            break;
        } else {
            cst.bad++;
        }
    }
    cst.waiters_left--;
    return NULL;
}

static void *cstress_notifier(void *arg)
{
    unsigned x = 11;
    green_lock_t *l = green_cond_lock(cst.c);
    (void)arg;
    while (cst.waiters_left > 0) {
        if (green_lock_acquire(l, GREEN_FOREVER) != 0) {
            cst.bad++;
            return NULL;
        }
        int w = green_cond_notify(cst.c, rnd(&x) % 3);
        if (w < 0) {
            cst.bad++;
        } else {
            cst.notified += w;
        }
        green_lock_release(l);
        green_sleep((rnd(&x) % 2) * 0.0005);
    }
    return NULL;
}

START_TEST(cond_stress_no_lost_notify)
{
    memset(&cst, 0, sizeof cst);
    ck_assert_int_eq(green_cond_new(&cst.c, NULL), 0);
    int n = green_test_valgrind() ? 30 : 150;
    green_task_t **t = calloc((size_t)n, sizeof(*t));
    ck_assert_ptr_nonnull(t);
    cst.waiters_left = n;
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(green_spawn(&t[i], cstress_waiter,
                                     (void *)(uintptr_t)i), 0);
    }
    green_task_t *nt;
    ck_assert_int_eq(green_spawn(&nt, cstress_notifier, NULL), 0);
    unsigned x = 5;
    for (int k = 0; k < n / 10; k++) {
        ck_assert_int_eq(green_sleep(0.001), 0);
        green_kill(t[rnd(&x) % (unsigned)n]);
    }
    ck_assert_int_eq(green_joinall(t, (size_t)n, slow(10.0)), 0);
    ck_assert_int_eq(green_join(nt, slow(2.0), NULL), 0);
    green_task_release(nt);
    for (int i = 0; i < n; i++) {
        green_task_release(t[i]);
    }
    free(t);
    ck_assert_int_eq(cst.bad, 0);
    ck_assert_int_gt(cst.zero, 0);
    ck_assert_int_gt(cst.timeouts, 0);
    ck_assert_int_eq(cst.notified, cst.zero);
    ck_assert(!green_lock_locked(green_cond_lock(cst.c)));
    ck_assert_int_eq(green_cond_free(cst.c), 0);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

/* --- bad input ------------------------------------------------------------ */

START_TEST(null_everywhere)
{
    ck_assert_int_eq(green_sem_new(NULL, 1), -EINVAL);
    ck_assert_int_eq(green_sem_new_bounded(NULL, 1), -EINVAL);
    ck_assert_int_eq(green_sem_free(NULL), -EINVAL);
    ck_assert_int_eq(green_sem_acquire(NULL, 0), -EINVAL);
    ck_assert_int_eq(green_sem_acquire(NULL, GREEN_FOREVER), -EINVAL);
    ck_assert_int_eq(green_sem_try_acquire(NULL), -EINVAL);
    ck_assert_int_eq(green_sem_release(NULL), -EINVAL);
    ck_assert_uint_eq(green_sem_value(NULL), 0);

    ck_assert_int_eq(green_lock_new(NULL), -EINVAL);
    ck_assert_int_eq(green_rlock_new(NULL), -EINVAL);
    ck_assert_int_eq(green_lock_free(NULL), -EINVAL);
    ck_assert_int_eq(green_lock_acquire(NULL, GREEN_FOREVER), -EINVAL);
    ck_assert_int_eq(green_lock_try_acquire(NULL), -EINVAL);
    ck_assert_int_eq(green_lock_release(NULL), -EINVAL);
    ck_assert(!green_lock_locked(NULL));

    ck_assert_int_eq(green_cond_new(NULL, NULL), -EINVAL);
    ck_assert_int_eq(green_cond_free(NULL), -EINVAL);
    ck_assert_ptr_null(green_cond_lock(NULL));
    ck_assert_int_eq(green_cond_wait(NULL, GREEN_FOREVER), -EINVAL);
    ck_assert_int_eq(green_cond_notify(NULL, 1), -EINVAL);
    ck_assert_int_eq(green_cond_notify_all(NULL), -EINVAL);
    ck_assert_uint_eq(green_test_live_tasks(), 0);
}
END_TEST

START_TEST(bad_timeouts_while_waiting)
{
    /* Nothing free: the wait itself is refused, and leaves no waiter. */
    green_sem_t *s;
    green_lock_t *l;
    green_cond_t *c;
    ck_assert_int_eq(green_sem_new(&s, 0), 0);
    ck_assert_int_eq(green_sem_acquire(s, -1.0), -EINVAL);
    ck_assert_int_eq(green_sem_acquire(s, NAN), -EINVAL);
    ck_assert_int_eq(green_sem_acquire(s, -INFINITY), -EINVAL);
    ck_assert_int_eq(green_sem_free(s), 0);

    green_event_t *go;
    ck_assert_int_eq(green_event_new(&go), 0);
    ck_assert_int_eq(green_lock_new(&l), 0);
    struct holder h = {.l = l, .go = go, .got = 1, .rel = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, holder_body, &h), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_int_eq(green_lock_acquire(l, -0.5), -EINVAL);
    ck_assert_int_eq(green_lock_acquire(l, NAN), -EINVAL);
    ck_assert_int_eq(green_event_set(go), 0);
    join_release(t);
    ck_assert_int_eq(green_lock_free(l), 0);
    ck_assert_int_eq(green_event_free(go), 0);

    /* A condition wait with a bad timeout keeps the lock, every level. */
    ck_assert_int_eq(green_cond_new(&c, NULL), 0);
    l = green_cond_lock(c);
    ck_assert_int_eq(green_lock_acquire(l, 0), 0);
    ck_assert_int_eq(green_lock_acquire(l, 0), 0);
    ck_assert_int_eq(green_cond_wait(c, -1.0), -EINVAL);
    ck_assert_int_eq(green_cond_wait(c, NAN), -EINVAL);
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_lock_release(l), -EPERM);
    ck_assert_int_eq(green_cond_free(c), 0);
}
END_TEST

START_TEST(bad_timeouts_with_free_permit)
{
    /* common.h: "a negative or NaN timeout is rejected with -EINVAL",
     * whether or not the call would have had to wait; a refused call
     * takes nothing. */
    green_sem_t *s;
    green_lock_t *l;
    ck_assert_int_eq(green_sem_new(&s, 1), 0);
    ck_assert_int_eq(green_lock_new(&l), 0);
    int rs1 = green_sem_acquire(s, -1.0);
    int rs2 = green_sem_acquire(s, NAN);
    unsigned v = green_sem_value(s);
    int rl1 = green_lock_acquire(l, -1.0);
    bool locked = green_lock_locked(l);
    while (green_lock_locked(l) && green_lock_release(l) == 0) {
    }
    int rl2 = green_lock_acquire(l, NAN);
    while (green_lock_locked(l) && green_lock_release(l) == 0) {
    }
    ck_assert_int_eq(green_sem_free(s), 0);
    ck_assert_int_eq(green_lock_free(l), 0);
    ck_assert_int_eq(rs1, -EINVAL);
    ck_assert_int_eq(rs2, -EINVAL);
    ck_assert_uint_eq(v, 1);
    ck_assert_int_eq(rl1, -EINVAL);
    ck_assert(!locked);
    ck_assert_int_eq(rl2, -EINVAL);
}
END_TEST

/* --- across OS threads ------------------------------------------------------ */

/* Objects of the main thread used from another OS thread (its own hub):
 * they work there as here, and ownership still counts. */
struct foreign {
    green_sem_t *s;
    green_lock_t *l;
    green_cond_t *c;  /* with its own lock */
    green_cond_t *ce; /* over l */
    int r[20];
};

static void *foreign_calls(void *arg)
{
    struct foreign *f = arg;
    int i = 0;
    f->r[i++] = green_sem_acquire(f->s, 0);          /* 0: the permit */
    f->r[i++] = green_sem_try_acquire(f->s);         /* -EAGAIN */
    f->r[i++] = green_sem_acquire(f->s, 0.01);       /* -ETIMEDOUT */
    f->r[i++] = green_sem_release(f->s);             /* 0 */
    f->r[i++] = green_lock_try_acquire(f->l);        /* -EBUSY: root's */
    f->r[i++] = green_lock_acquire(f->l, 0.01);      /* -ETIMEDOUT */
    f->r[i++] = green_lock_release(f->l);            /* -EPERM */
    f->r[i++] = green_lock_free(f->l);               /* -EBUSY */
    f->r[i++] = green_cond_wait(f->c, 0.01);         /* -EPERM */
    f->r[i++] = green_cond_notify(f->c, 1);          /* -EPERM */
    f->r[i++] = green_cond_lock(f->c) != NULL ? 0 : -1;
    f->r[i++] = green_lock_acquire(green_cond_lock(f->c), GREEN_FOREVER);
    f->r[i++] = green_cond_wait(f->c, 0.01);         /* -ETIMEDOUT */
    f->r[i++] = green_cond_notify_all(f->c);         /* 0 waiters */
    f->r[i++] = green_lock_release(green_cond_lock(f->c));
    return NULL;
}

START_TEST(foreign_thread)
{
    struct foreign f = {0};
    ck_assert_int_eq(green_sem_new(&f.s, 1), 0);
    ck_assert_int_eq(green_lock_new(&f.l), 0);
    ck_assert_int_eq(green_cond_new(&f.c, NULL), 0);
    /* The root holds the lock: a foreign release must not free it. */
    ck_assert_int_eq(green_lock_acquire(f.l, 0), 0);
    ck_assert_ptr_null(green_test_in_thread(foreign_calls, &f));
    const int want[] = {0, -EAGAIN, -ETIMEDOUT, 0, -EBUSY, -ETIMEDOUT,
                        -EPERM, -EBUSY, -EPERM, -EPERM, 0, 0, -ETIMEDOUT,
                        0, 0};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ck_assert_msg(f.r[i] == want[i], "call %zu returned %d, wanted %d",
                      i, f.r[i], want[i]);
    }
    ck_assert_uint_eq(green_sem_value(f.s), 1);
    ck_assert(green_lock_locked(f.l));
    ck_assert_int_eq(green_lock_release(f.l), 0);
    ck_assert(!green_lock_locked(f.l));
    ck_assert_int_eq(green_sem_free(f.s), 0);
    ck_assert_int_eq(green_lock_free(f.l), 0);
    ck_assert_int_eq(green_cond_free(f.c), 0);
}
END_TEST

static void *foreign_cond_free(void *arg)
{
    struct foreign *f = arg;
    f->r[0] = green_cond_free(f->ce);
    return NULL;
}

START_TEST(foreign_thread_cond_free)
{
    /* A condition nobody waits on may be freed from any thread. */
    struct foreign f = {0};
    ck_assert_int_eq(green_lock_new(&f.l), 0);
    ck_assert_int_eq(green_cond_new(&f.ce, f.l), 0);
    ck_assert_ptr_null(green_test_in_thread(foreign_cond_free, &f));
    ck_assert_int_eq(f.r[0], 0);
    ck_assert_int_eq(green_lock_free(f.l), 0);
}
END_TEST

/* A lock held here, waited for by a greenlet of another OS thread: the
 * release hands it over there, and that thread's release back here. */
struct across {
    green_lock_t *l;
    green_sem_t *s;
    int parked;      /* the other side is about to wait */
    int got;         /* ...and has it */
    int r[4];
};

static void *across_waiter(void *arg)
{
    struct across *a = arg;
    __atomic_store_n(&a->parked, 1, __ATOMIC_RELEASE);
    a->r[0] = green_lock_acquire(a->l, GREEN_FOREVER);
    __atomic_store_n(&a->got, 1, __ATOMIC_RELEASE);
    a->r[1] = green_sem_acquire(a->s, GREEN_FOREVER); /* the root's nod */
    a->r[2] = green_lock_release(a->l);
    return NULL;
}

START_TEST(lock_handoff_across_threads)
{
    struct across a = {0};
    ck_assert_int_eq(green_lock_new(&a.l), 0);
    ck_assert_int_eq(green_sem_new(&a.s, 0), 0);
    ck_assert_int_eq(green_lock_acquire(a.l, 0), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, across_waiter, &a), 0);
    while (!__atomic_load_n(&a.parked, __ATOMIC_ACQUIRE)) {
        ck_assert_int_eq(green_sleep(0.001), 0);
    }
    ck_assert_int_eq(green_sleep(0.02), 0); /* now parked, surely */
    ck_assert_int_eq(green_lock_release(a.l), 0);
    /* Handed over: held by the other side before it even runs. */
    ck_assert(green_lock_locked(a.l));
    ck_assert_int_eq(green_lock_try_acquire(a.l), -EBUSY);
    ck_assert_int_eq(green_sem_release(a.s), 0); /* wakes it remotely */
    /* This wait is ended by the other thread's release. */
    ck_assert_int_eq(green_lock_acquire(a.l, slow(5.0)), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(a.r[0], 0);
    ck_assert_int_eq(a.got, 1);
    ck_assert_int_eq(a.r[1], 0);
    ck_assert_int_eq(a.r[2], 0);
    ck_assert_int_eq(green_lock_release(a.l), 0);
    ck_assert_int_eq(green_lock_free(a.l), 0);
    ck_assert_int_eq(green_sem_free(a.s), 0);
}
END_TEST

/* Greenlets on three OS threads (each with its own hub) share one lock,
 * one semaphore of two permits and a condition-variable queue: counts
 * come out exact, never more than two hold the semaphore, and every item
 * sent is received once, with timed waits in the mix. */
#define XT_THREADS 3
#define XT_GREENLETS 4
#define XT_ROUNDS 3000

struct xshared {
    green_lock_t *l;
    green_sem_t *s;
    green_cond_t *c;            /* over l */
    long counter;               /* under l */
    int inside;                 /* holders of s: atomic */
    int inside_max;
    long queue[64];             /* under l: a ring */
    int head, len;
    long received;              /* sum of items taken */
    int timeouts;               /* timed waits that ran out: atomic */
    int errors;                 /* any unexpected result: atomic */
};

static void xt_bad(struct xshared *x)
{
    __atomic_fetch_add(&x->errors, 1, __ATOMIC_RELAXED);
}

static void *xt_body(void *arg)
{
    struct xshared *x = arg;
    for (int i = 0; i < XT_ROUNDS; i++) {
        /* The lock: a timed acquire now and then. */
        int r = green_lock_acquire(x->l, i % 7 == 0 ? 0.0005 : GREEN_FOREVER);
        if (r == -ETIMEDOUT) {
            __atomic_fetch_add(&x->timeouts, 1, __ATOMIC_RELAXED);
            r = green_lock_acquire(x->l, GREEN_FOREVER);
        }
        if (r != 0) {
            xt_bad(x);
            continue;
        }
        long v = x->counter;
        if (i % 5 == 0 && green_sleep(0) != 0) { /* hold it across a switch */
            xt_bad(x);
        }
        x->counter = v + 1;
        if (green_lock_release(x->l) != 0) {
            xt_bad(x);
        }

        /* The semaphore. */
        if (green_sem_acquire(x->s, GREEN_FOREVER) != 0) {
            xt_bad(x);
            continue;
        }
        int n = __atomic_add_fetch(&x->inside, 1, __ATOMIC_RELAXED);
        int m = __atomic_load_n(&x->inside_max, __ATOMIC_RELAXED);
        while (n > m && !__atomic_compare_exchange_n(&x->inside_max, &m, n,
                                                     true, __ATOMIC_RELAXED,
                                                     __ATOMIC_RELAXED)) {
        }
        if (i % 3 == 0 && green_sleep(0) != 0) {
            xt_bad(x);
        }
        __atomic_sub_fetch(&x->inside, 1, __ATOMIC_RELAXED);
        if (green_sem_release(x->s) != 0) {
            xt_bad(x);
        }
    }
    return NULL;
}

/* Producer and consumer halves of the condition-variable queue. */
static void *xt_producer(void *arg)
{
    struct xshared *x = arg;
    for (long item = 1; item <= XT_ROUNDS; item++) {
        if (green_lock_acquire(x->l, GREEN_FOREVER) != 0) {
            xt_bad(x);
            return NULL;
        }
        while (x->len == 64) {
            int r = green_cond_wait(x->c, 0.002);
            if (r == -ETIMEDOUT) {
                __atomic_fetch_add(&x->timeouts, 1, __ATOMIC_RELAXED);
            } else if (r != 0) {
                xt_bad(x);
            }
        }
        x->queue[(x->head + x->len++) % 64] = item;
        green_cond_notify_all(x->c);
        green_lock_release(x->l);
    }
    return NULL;
}

static void *xt_consumer(void *arg)
{
    struct xshared *x = arg;
    for (int i = 0; i < XT_ROUNDS; i++) {
        if (green_lock_acquire(x->l, GREEN_FOREVER) != 0) {
            xt_bad(x);
            return NULL;
        }
        while (x->len == 0) {
            int r = green_cond_wait(x->c, i % 2 ? 0.002 : GREEN_FOREVER);
            if (r == -ETIMEDOUT) {
                __atomic_fetch_add(&x->timeouts, 1, __ATOMIC_RELAXED);
            } else if (r != 0) {
                xt_bad(x);
            }
        }
        x->received += x->queue[x->head];
        x->head = (x->head + 1) % 64;
        x->len--;
        green_cond_notify_all(x->c);
        green_lock_release(x->l);
    }
    return NULL;
}

/* One OS thread: XT_GREENLETS workers, and one producer or consumer. */
struct xt_thread {
    struct xshared *x;
    int id;
};

static void *xt_thread_main(void *arg)
{
    struct xt_thread *a = arg;
    green_task_t *t[XT_GREENLETS + 1];
    int n = 0;
    for (int i = 0; i < XT_GREENLETS; i++) {
        if (green_spawn(&t[n], xt_body, a->x) == 0) {
            n++;
        } else {
            xt_bad(a->x);
        }
    }
    /* Thread 0 produces, thread 1 consumes, thread 2 only works. */
    if (a->id < 2) {
        if (green_spawn(&t[n], a->id == 0 ? xt_producer : xt_consumer,
                        a->x) == 0) {
            n++;
        } else {
            xt_bad(a->x);
        }
    }
    for (int i = 0; i < n; i++) {
        if (green_join(t[i], GREEN_FOREVER, NULL) != 0) {
            xt_bad(a->x);
        }
        green_task_release(t[i]);
    }
    return NULL;
}

/* Solo mode (lib/solo.h): the only thread with green state takes a lock
 * with plain stores; a second thread that comes while it hammers the lock
 * ends solo mode under it, and no increment is lost either side. */
#define SOLO_ROUNDS 200000 /* a tenth under an emulator */

struct solo_race {
    green_lock_t *l;
    long counter;
    int started;    /* the second thread is about to use the lock */
    int errors;
};

static int solo_rounds(void)
{
    return green_test_emulated() ? SOLO_ROUNDS / 10 : SOLO_ROUNDS;
}

static void *solo_second(void *arg)
{
    struct solo_race *x = arg;
    __atomic_store_n(&x->started, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < solo_rounds(); i++) {
        if (green_lock_acquire(x->l, GREEN_FOREVER) != 0) {
            x->errors++;
            continue;
        }
        x->counter++;
        if (green_lock_release(x->l) != 0) {
            x->errors++;
        }
    }
    return NULL;
}

START_TEST(solo_mode_ends_under_load)
{
    struct solo_race x = {0};
    /* One thread before the first green state: solo mode may begin
     * (lib/solo.c). Under qemu-user its own threads show here too. */
    struct stat st;
    bool alone = stat("/proc/self/task", &st) == 0 && st.st_nlink == 3;
    ck_assert_int_eq(green_lock_new(&x.l), 0);
    ck_assert_int_eq(green_lock_acquire(x.l, 0), 0);
    ck_assert_int_eq(green_lock_release(x.l), 0);
    long q = green__syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);
    bool can = q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED);
    /* Alone: solo, where the kernel has the command. Not so where every
     * test shares one process (CK_FORK=no): an earlier one made threads. */
    const char *fork_mode = getenv("CK_FORK");
    if (fork_mode == NULL || strcmp(fork_mode, "no") != 0) {
        ck_assert(green__solo == (can && alone ? green__thread_peek() : NULL));
    }
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, solo_second, &x), 0);
    int errors = 0;
    int rounds = solo_rounds();
    for (int i = 0; i < rounds; i++) {
        if (green_lock_acquire(x.l, GREEN_FOREVER) != 0) {
            errors++;
            continue;
        }
        x.counter++;
        if (i == rounds / 2 &&
            !__atomic_load_n(&x.started, __ATOMIC_ACQUIRE)) {
            /* Keep at it until the other thread is there: it has not
             * counted yet, since it sets started before its first try. */
            i = -1;
            x.counter = 0;
        }
        if (green_lock_release(x.l) != 0) {
            errors++;
        }
    }
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert(green__solo == NULL); /* ended for good */
    ck_assert_int_eq(errors + x.errors, 0);
    ck_assert_int_eq(x.counter, 2L * rounds);
    ck_assert_int_eq(green_lock_free(x.l), 0);
}
END_TEST

/* A forked child of a solo process ends solo mode itself: a thread it
 * makes then shares a lock with it (the kernel does not carry membarrier's
 * registration into the child, so the parent's way out would fail). */
static void *child_locker(void *arg)
{
    green_lock_t *l = arg;
    int r = green_lock_acquire(l, GREEN_FOREVER);
    return (void *)(intptr_t)(r == 0 ? green_lock_release(l) : r);
}

START_TEST(solo_fork_child)
{
    green_lock_t *l;
    ck_assert_int_eq(green_lock_new(&l), 0);
    ck_assert_int_eq(green_lock_acquire(l, 0), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        pthread_t th;
        void *r = (void *)1;
        int bad = green__solo != NULL ? 1
                  : pthread_create(&th, NULL, child_locker, l) != 0 ? 2
                  : green_sleep(0.01) != 0 ? 3
                  : green_lock_release(l) != 0 ? 4
                  : pthread_join(th, &r) != 0 ? 5
                  : r != NULL ? 6 : 0;
        _exit(bad);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
    ck_assert_int_eq(green_lock_release(l), 0);
    ck_assert_int_eq(green_lock_free(l), 0);
}
END_TEST

START_TEST(shared_across_threads_stress)
{
    struct xshared x = {0};
    ck_assert_int_eq(green_lock_new(&x.l), 0);
    ck_assert_int_eq(green_sem_new(&x.s, 2), 0);
    ck_assert_int_eq(green_cond_new(&x.c, x.l), 0);
    pthread_t th[XT_THREADS];
    struct xt_thread a[XT_THREADS];
    for (int i = 0; i < XT_THREADS; i++) {
        a[i] = (struct xt_thread){&x, i};
        ck_assert_int_eq(pthread_create(&th[i], NULL, xt_thread_main, &a[i]),
                         0);
    }
    for (int i = 0; i < XT_THREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    }
    ck_assert_int_eq(x.errors, 0);
    ck_assert_int_eq(x.counter, (long)XT_THREADS * XT_GREENLETS * XT_ROUNDS);
    ck_assert_int_le(x.inside_max, 2);
    ck_assert_int_ge(x.inside_max, 1);
    ck_assert_uint_eq(green_sem_value(x.s), 2);
    ck_assert_int_eq(x.received, (long)XT_ROUNDS * (XT_ROUNDS + 1) / 2);
    ck_assert_int_eq(x.len, 0);
    ck_assert(!green_lock_locked(x.l));
    ck_assert_int_eq(green_cond_free(x.c), 0);
    ck_assert_int_eq(green_lock_free(x.l), 0);
    ck_assert_int_eq(green_sem_free(x.s), 0);
}
END_TEST

/* A waiter frees the semaphore the moment its acquire returns, while the
 * releaser on another OS thread may still be inside green_sem_release
 * (test/helpers.h: AddressSanitizer catches a releaser that touches it
 * after its inbox wake-up went out). */
static void *sem_make(void)
{
    green_sem_t *s;
    return green_sem_new(&s, 0) == 0 ? s : NULL;
}

static int sem_give(void *s)
{
    return green_sem_release(s);
}

static int sem_take_free(void *s)
{
    int r = green_sem_acquire(s, 10.0);
    return r != 0 ? r : green_sem_free(s);
}

START_TEST(sem_waiter_frees_at_once)
{
    int rounds = green_test_emulated() ? 400 : 4000;
    ck_assert_int_eq(green_test_free_race(rounds, sem_make, sem_give,
                                          sem_take_free), 0);
}
END_TEST

/* --- suite ---------------------------------------------------------------- */

static TCase *tcase(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    return tc;
}

Suite *green_test_lock_suite(void)
{
    Suite *s = suite_create("lock");

    TCase *tc = tcase("semaphore", 10);
    tcase_add_test(tc, sem_counts_permits);
    tcase_add_test(tc, sem_value_cannot_wrap);
    tcase_add_test(tc, sem_fifo_five_waiters);
    tcase_add_test(tc, sem_contention_in_order);
    tcase_add_test(tc, sem_bounded_refuses_overflow);
    tcase_add_test(tc, sem_bounded_zero);
    tcase_add_test(tc, sem_timeout);
    tcase_add_test(tc, sem_cancel_while_waiting);
    tcase_add_test(tc, sem_kill_then_release_at_once);
    tcase_add_test(tc, sem_free_busy);
    tcase_add_test(tc, sem_deadlock_reported);
    suite_add_tcase(s, tc);

    tc = tcase("lock", 10);
    tcase_add_test(tc, lock_ownership);
    tcase_add_test(tc, rlock_counts_levels);
    tcase_add_test(tc, rlock_non_owner);
    tcase_add_test(tc, lock_fifo_handoff);
    tcase_add_test(tc, lock_timeout);
    tcase_add_test(tc, lock_cancel_while_waiting);
    tcase_add_test(tc, lock_kill_then_release_at_once);
    tcase_add_test(tc, lock_free_busy);
    tcase_add_test(tc, lock_deadlock_reported);
    suite_add_tcase(s, tc);

    tc = tcase("condition", 10);
    tcase_add_test(tc, cond_notify_fifo);
    tcase_add_test(tc, cond_notify_all_wakes_everyone);
    tcase_add_test(tc, cond_wait_releases_all_levels);
    tcase_add_test(tc, cond_timeout_returns_locked);
    tcase_add_test(tc, cond_killed_returns_locked);
    tcase_add_test(tc, cond_wait_after_kill);
    tcase_add_test(tc, cond_killed_waiter_takes_no_notify);
    tcase_add_test(tc, cond_external_lock);
    tcase_add_test(tc, cond_needs_the_lock);
    tcase_add_test(tc, cond_deadlock_reported);
    suite_add_tcase(s, tc);

    tc = tcase("adversarial", 20);
    tcase_add_test(tc, sem_stress_conserves_permits);
    tcase_add_test(tc, lock_stress_one_holder);
    tcase_add_test(tc, cond_stress_no_lost_notify);
    suite_add_tcase(s, tc);

    tc = tcase("bad_input", 10);
    tcase_add_test(tc, null_everywhere);
    tcase_add_test(tc, bad_timeouts_while_waiting);
    tcase_add_test(tc, bad_timeouts_with_free_permit);
    tcase_add_test(tc, foreign_thread);
    tcase_add_test(tc, foreign_thread_cond_free);
    suite_add_tcase(s, tc);

    tc = tcase("across_threads", 60);
    tcase_add_test(tc, lock_handoff_across_threads);
    tcase_add_test(tc, sem_waiter_frees_at_once);
    tcase_add_test(tc, solo_mode_ends_under_load);
    tcase_add_test(tc, solo_fork_child);
    tcase_add_test(tc, shared_across_threads_stress);
    suite_add_tcase(s, tc);

    return s;
}
