/* SPDX-License-Identifier: MIT */
/* The parking suite: waits on addresses (lib/parking.c) and wake-ups
 * across OS threads (lib/remote.c). Order of wake-ups, the check made
 * under the lock, bitsets, requeue, timeouts and kills, the race between
 * a timeout and a waker (the waker wins), hand-off callbacks, and wakers
 * on native OS threads waking green waiters, one and a thousand at a
 * time.
 *
 * Task bodies never call ck_assert (see test_lock.c): they record, the
 * root checks. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "internal.h"
#include "parking.h"
#include "green/task.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

static int word;

struct waiter {
    const void *addr;
    unsigned bitset;
    double timeout;
    int id;
    int ret;
    int *order;
    int *norder;
};

static bool word_is(const void *addr, void *arg)
{
    return __atomic_load_n((const int *)addr, __ATOMIC_RELAXED) ==
           *(int *)arg;
}

static void *wait_body(void *arg)
{
    struct waiter *w = arg;
    w->ret = green__park(w->addr, NULL, NULL, w->bitset, w->timeout,
                         GREEN__INTR_NEVER, false, "test park on");
    if (w->order != NULL) {
        w->order[(*w->norder)++] = w->id;
    }
    return NULL;
}

/* Spawns n waiters on addr and lets them all park. */
static void spawn_waiters(struct waiter *w, green_task_t **t, int n,
                          const void *addr, int *order, int *norder)
{
    for (int i = 0; i < n; i++) {
        w[i] = (struct waiter){.addr = addr, .bitset = ~0u,
                               .timeout = GREEN_FOREVER, .id = i,
                               .order = order, .norder = norder};
        ck_assert_int_eq(green_spawn(&t[i], wait_body, &w[i]), 0);
    }
    ck_assert_int_eq(green_sleep(0.001), 0);
}

static void join_all(green_task_t **t, int n)
{
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(green_join(t[i], GREEN_FOREVER, NULL), 0);
        green_task_release(t[i]);
    }
}

START_TEST(fifo_and_counts)
{
    struct waiter w[5];
    green_task_t *t[5];
    int order[5], n = 0;
    spawn_waiters(w, t, 5, &word, order, &n);
    ck_assert(green__parked_on(&word));
    ck_assert_int_eq(green__unpark(&word, 2, ~0u), 2);
    ck_assert_int_eq(green_sleep(0.001), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(green__unpark(&word, 10, ~0u), 3);
    join_all(t, 5);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(order[i], i); /* first parked, first woken */
        ck_assert_int_eq(w[i].ret, 0);
    }
    ck_assert(!green__parked_on(&word));
    ck_assert_int_eq(green__unpark(&word, 1, ~0u), 0);
}
END_TEST

START_TEST(check_under_lock)
{
    word = 7;
    int want = 8;
    ck_assert_int_eq(green__park(&word, word_is, &want, ~0u, GREEN_FOREVER,
                                 GREEN__INTR_NEVER, false, "x"),
                     -EAGAIN);
    want = 7;
    ck_assert_int_eq(green__park(&word, word_is, &want, ~0u, 0.01,
                                 GREEN__INTR_NEVER, false, "x"),
                     -ETIMEDOUT);
    ck_assert(!green__parked_on(&word)); /* the timed-out one left */
}
END_TEST

START_TEST(bitsets_and_addresses)
{
    static int a, b;
    struct waiter w[3];
    green_task_t *t[3];
    int order[3], n = 0;
    unsigned bits[3] = {1, 2, 3};
    const void *addrs[3] = {&a, &a, &b};
    for (int i = 0; i < 3; i++) {
        w[i] = (struct waiter){.addr = addrs[i], .bitset = bits[i],
                               .timeout = GREEN_FOREVER, .id = i,
                               .order = order, .norder = &n};
        ck_assert_int_eq(green_spawn(&t[i], wait_body, &w[i]), 0);
    }
    ck_assert_int_eq(green_sleep(0.001), 0);
    ck_assert_int_eq(green__unpark(&a, 10, 2), 1); /* only waiter 1 */
    ck_assert_int_eq(green_sleep(0.001), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(order[0], 1);
    ck_assert_int_eq(green__unpark(&b, 10, 1), 1); /* 3 & 1: waiter 2 */
    ck_assert_int_eq(green__unpark(&a, 10, ~0u), 1);
    join_all(t, 3);
}
END_TEST

START_TEST(requeue)
{
    static int from, to;
    struct waiter w[4];
    green_task_t *t[4];
    int order[4], n = 0;
    spawn_waiters(w, t, 4, &from, order, &n);
    from = 3;
    int want = 4;
    ck_assert_int_eq(green__unpark_requeue(&from, 1, &to, 2, word_is, &want),
                     -EAGAIN);
    want = 3;
    ck_assert_int_eq(green__unpark_requeue(&from, 1, &to, 2, word_is, &want),
                     3);
    ck_assert_int_eq(green_sleep(0.001), 0);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(order[0], 0);
    /* Two moved, one left behind. */
    ck_assert_int_eq(green__unpark(&to, 10, ~0u), 2);
    ck_assert_int_eq(green__unpark(&from, 10, ~0u), 1);
    join_all(t, 4);
    ck_assert_int_eq(order[1], 1);
    ck_assert_int_eq(order[2], 2);
    ck_assert_int_eq(order[3], 3);
}
END_TEST

/* A requeued waiter that times out leaves the queue it was moved to. */
START_TEST(requeued_timeout)
{
    static int from, to;
    struct waiter w = {.addr = &from, .bitset = ~0u, .timeout = 0.02};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, wait_body, &w), 0);
    ck_assert_int_eq(green_sleep(0.001), 0);
    ck_assert_int_eq(green__unpark_requeue(&from, 0, &to, 1, NULL, NULL), 1);
    ck_assert(green__parked_on(&to));
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    green_task_release(t);
    ck_assert_int_eq(w.ret, -ETIMEDOUT);
    ck_assert(!green__parked_on(&to) && !green__parked_on(&from));
}
END_TEST

START_TEST(kill_while_parked)
{
    struct waiter w = {.addr = &word, .bitset = ~0u,
                       .timeout = GREEN_FOREVER};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, wait_body, &w), 0);
    ck_assert_int_eq(green_sleep(0.001), 0);
    ck_assert_int_eq(green_kill(t), 0);
    green_join(t, GREEN_FOREVER, NULL);
    green_task_release(t);
    ck_assert_int_eq(w.ret, -ECANCELED);
    ck_assert(!green__parked_on(&word));
}
END_TEST

/* A waker that chooses a waiter whose timeout fired in the same hub turn
 * wins: the waiter sees 0, so a hand-off is never lost. The hub is held
 * up (a blocking usleep: this binary is not preloaded) until both the
 * waker's sleep and the waiter's deadline have passed; the waker's timer
 * is the earlier, so it runs first and takes the waiter that its own
 * timeout has already made ready. */
struct racer {
    int ret;
    int woke;
};

static void *race_waiter(void *arg)
{
    struct racer *r = arg;
    r->ret = green__park(&word, NULL, NULL, ~0u, 0.005, GREEN__INTR_NEVER,
                         false, "race");
    return NULL;
}

static void *race_waker(void *arg)
{
    struct racer *r = arg;
    if (green_sleep(0.002) == 0) {
        r->woke = green__unpark(&word, 1, ~0u);
    }
    return NULL;
}

static void *hold_hub(void *arg)
{
    (void)arg;
    usleep(20000);
    return NULL;
}

START_TEST(waker_beats_timeout)
{
    struct racer r = {99, -1};
    green_task_t *a, *b, *c;
    ck_assert_int_eq(green_spawn(&a, race_waiter, &r), 0);
    ck_assert_int_eq(green_spawn(&b, race_waker, &r), 0);
    ck_assert_int_eq(green_spawn(&c, hold_hub, NULL), 0);
    ck_assert_int_eq(green_join(a, GREEN_FOREVER, NULL), 0);
    ck_assert_int_eq(green_join(b, GREEN_FOREVER, NULL), 0);
    ck_assert_int_eq(green_join(c, GREEN_FOREVER, NULL), 0);
    green_task_release(a);
    green_task_release(b);
    green_task_release(c);
    ck_assert_int_eq(r.woke, 1); /* it was still queued for the waker */
    ck_assert_int_eq(r.ret, 0);  /* and the waker won */
}
END_TEST

/* unpark_one's callback runs under the lock with what it found. */
struct seen {
    int calls;
    bool woke, more;
    void *token;
};

static void note(void *arg, void *token, bool woke, bool more)
{
    struct seen *s = arg;
    s->calls++;
    s->token = token;
    s->woke = woke;
    s->more = more;
}

START_TEST(unpark_one_callback)
{
    struct seen s = {0};
    ck_assert(!green__unpark_one(&word, note, &s));
    ck_assert_int_eq(s.calls, 1);
    ck_assert(!s.woke && !s.more);
    struct waiter w[2];
    green_task_t *t[2];
    int order[2], n = 0;
    spawn_waiters(w, t, 2, &word, order, &n);
    ck_assert(green__unpark_one(&word, note, &s));
    ck_assert(s.woke && s.more);
    ck_assert(green__unpark_one(&word, note, &s));
    ck_assert(s.woke && !s.more);
    join_all(t, 2);
    ck_assert_int_eq(order[0], 0);
}
END_TEST

/* The callback gets the token its waiter parked with. */
static void *token_waiter(void *arg)
{
    int *mine = arg;
    *mine = green__park_token(&word, NULL, NULL, ~0u, GREEN_FOREVER,
                              GREEN__INTR_NEVER, false, "test", mine);
    return NULL;
}

START_TEST(unpark_one_gets_token)
{
    int mine = 99;
    struct seen s = {0};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, token_waiter, &mine), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert(green__unpark_one(&word, note, &s));
    ck_assert_ptr_eq(s.token, &mine);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    green_task_release(t);
    ck_assert_int_eq(mine, 0);
    ck_assert(!green__unpark_one(&word, note, &s));
    ck_assert_ptr_null(s.token);
}
END_TEST

/* --- wakers on other OS threads -------------------------------------------- */

struct native_waker {
    const void *addr;
    int n;        /* wake-ups to send, one at a time */
    int woken;    /* what unpark returned in all */
    int ready;    /* green side: all waiters parked */
};

static void *native_wake(void *arg)
{
    struct native_waker *k = arg;
    while (!__atomic_load_n(&k->ready, __ATOMIC_ACQUIRE)) {
        usleep(100);
    }
    int sent = 0;
    while (sent < k->n) {
        int r = green__unpark(k->addr, 1, ~0u);
        sent += r;
        if (r == 0) {
            usleep(50);
        }
    }
    __atomic_store_n(&k->woken, sent, __ATOMIC_RELEASE);
    return NULL;
}

static void *remote_body(void *arg)
{
    struct waiter *w = arg;
    w->ret = green__park(w->addr, NULL, NULL, ~0u, GREEN_FOREVER,
                         GREEN__INTR_NEVER, true, "remote park on");
    return NULL;
}

static void remote_wakes(int n)
{
    static int target;
    struct waiter *w = calloc((size_t)n, sizeof(*w));
    green_task_t **t = calloc((size_t)n, sizeof(*t));
    ck_assert(w != NULL && t != NULL);
    struct native_waker k = {.addr = &target, .n = n};
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, native_wake, &k), 0);
    for (int i = 0; i < n; i++) {
        w[i] = (struct waiter){.addr = &target, .bitset = ~0u};
        ck_assert_int_eq(green_spawn(&t[i], remote_body, &w[i]), 0);
    }
    ck_assert_int_eq(green_sleep(0.001), 0);
    __atomic_store_n(&k.ready, 1, __ATOMIC_RELEASE);
    /* The joins park with only remote waits pending: not a deadlock. */
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(green_join(t[i], GREEN_FOREVER, NULL), 0);
        green_task_release(t[i]);
        ck_assert_int_eq(w[i].ret, 0);
    }
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(k.woken, n);
    ck_assert(!green__parked_on(&target));
    free(w);
    free(t);
}

START_TEST(remote_one)
{
    remote_wakes(1);
}
END_TEST

START_TEST(remote_many)
{
    remote_wakes(1000);
}
END_TEST

/* The root itself parked, woken by a native thread. */
static void *wake_root_later(void *arg)
{
    usleep(20000);
    while (green__unpark(arg, 1, ~0u) == 0) {
        usleep(1000);
    }
    return NULL;
}

START_TEST(remote_wakes_root)
{
    static int target;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, wake_root_later, &target), 0);
    ck_assert_int_eq(green__park(&target, NULL, NULL, ~0u, GREEN_FOREVER,
                                 GREEN__INTR_NEVER, true, "root park"),
                     0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
}
END_TEST

/* A remote wake-up racing the waiter's own timeout: the waiter must not
 * leave (its record is what the wake-up points to) before delivery, and
 * it returns 0 if the waker chose it. Many rounds, to meet the race. */
static int slow_tool; /* set by remote_vs_timeout under valgrind */

static void *remote_racer(void *arg)
{
    for (int i = 0; i < 200; i++) {
        while (green__unpark(arg, 1, ~0u) == 0 &&
               !__atomic_load_n((int *)arg + 1, __ATOMIC_ACQUIRE)) {
            if (slow_tool) {
                /* valgrind runs one thread at a time: a racer that never
                 * lets go starves the waiter spinning for the bucket */
                sched_yield();
            }
        }
        if (__atomic_load_n((int *)arg + 1, __ATOMIC_ACQUIRE)) {
            break;
        }
    }
    return NULL;
}

START_TEST(remote_vs_timeout)
{
    static int target[2];
    target[1] = 0;
    slow_tool = green_test_valgrind();
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, remote_racer, target), 0);
    int woken = 0, timed = 0;
    for (int i = 0; i < 200; i++) {
        int r = green__park(&target[0], NULL, NULL, ~0u, 0.0005,
                            GREEN__INTR_NEVER, true, "race");
        ck_assert_msg(r == 0 || r == -ETIMEDOUT, "park returned %d", r);
        woken += r == 0;
        timed += r == -ETIMEDOUT;
    }
    __atomic_store_n(&target[1], 1, __ATOMIC_RELEASE);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert(!green__parked_on(&target[0]));
    ck_assert_int_eq(woken + timed, 200);
}
END_TEST

Suite *green_test_parking_suite(void)
{
    Suite *s = suite_create("parking");
    TCase *tc = tcase_create("local");
    tcase_add_test(tc, fifo_and_counts);
    tcase_add_test(tc, check_under_lock);
    tcase_add_test(tc, bitsets_and_addresses);
    tcase_add_test(tc, requeue);
    tcase_add_test(tc, requeued_timeout);
    tcase_add_test(tc, kill_while_parked);
    tcase_add_test(tc, waker_beats_timeout);
    tcase_add_test(tc, unpark_one_callback);
    tcase_add_test(tc, unpark_one_gets_token);
    suite_add_tcase(s, tc);
    tc = tcase_create("remote");
    tcase_add_test(tc, remote_one);
    tcase_add_test(tc, remote_many);
    tcase_add_test(tc, remote_wakes_root);
    tcase_add_test(tc, remote_vs_timeout);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
