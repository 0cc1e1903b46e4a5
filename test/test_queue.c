/* SPDX-License-Identifier: MIT */
/* The queue suite (include/green/queue.h): FIFO, LIFO and priority order
 * (ties in FIFO order), growth of the buffer; waiting getters and putters
 * served strictly in the order they began waiting, with no latecomer
 * overtaking them; bounded queues; the nowait calls; timeouts; getters and
 * putters killed while waiting; close (putters fail, getters drain first);
 * task_done and join; free with waiters; deadlock reports; bad input and
 * queues used from another OS thread. Then the Channel: rendezvous both
 * ways, timeouts, order, close and kill.
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

#define ITEM(i) ((void *)(intptr_t)(i))
#define NUM(p) ((int)(intptr_t)(p))
#define UNTOUCHED ITEM(-12345)

/* Takes the next item at once; fails the test if there is none. */
static int take(green_queue_t *q)
{
    void *v = UNTOUCHED;
    int r = green_queue_get_nowait(q, &v);
    ck_assert_msg(r == 0, "get_nowait: %d", r);
    return NUM(v);
}

/* --- waiting getters and putters -------------------------------------- */

enum { NW = 5 };

static const int perm[NW] = {3, 0, 4, 1, 2};

enum kind { GETTER, PUTTER, RECEIVER, SENDER, JOINER };

struct op {
    green_queue_t *q;
    enum kind kind;
    int id;
    void *item;        /* what a putter puts */
    double timeout;
    int rc;            /* its call's result, 1 until it returns */
    void *got;         /* what a getter got, UNTOUCHED if nothing */
};

static struct op ops[NW];
static int order[NW];  /* op ids in the order their calls returned */
static int norder;

static void reset(void)
{
    for (int i = 0; i < NW; i++) {
        ops[i] = (struct op){.id = i, .rc = 1, .got = UNTOUCHED,
                             .timeout = GREEN_FOREVER};
        order[i] = -1;
    }
    norder = 0;
}

static void *op_body(void *arg)
{
    struct op *o = arg;
    switch (o->kind) {
    case GETTER:
        o->rc = green_queue_get(o->q, o->timeout, &o->got);
        break;
    case PUTTER:
        o->rc = green_queue_put(o->q, o->item, o->timeout);
        break;
    case RECEIVER:
        o->rc = green_channel_recv(o->q, o->timeout, &o->got);
        break;
    case SENDER:
        o->rc = green_channel_send(o->q, o->item, o->timeout);
        break;
    case JOINER:
        o->rc = green_queue_join(o->q, o->timeout);
        break;
    }
    if (norder < NW) {
        order[norder++] = o->id;
    }
    return NULL;
}

/* Spawns op `id` and lets it run until it parks. */
static green_task_t *start_op(green_queue_t *q, enum kind kind, int id,
                              void *item, double timeout)
{
    green_task_t *t;
    ops[id].q = q;
    ops[id].kind = kind;
    ops[id].item = item;
    ops[id].timeout = timeout;
    ck_assert_int_eq(green_spawn(&t, op_body, &ops[id]), 0);
    ck_assert_int_eq(green_sleep(0), 0);
    ck_assert_msg(!green_task_done(t), "op %d did not wait (rc %d)", id,
                  ops[id].rc);
    return t;
}

/* --- order ------------------------------------------------------------ */

START_TEST(fifo_order_across_growth)
{
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    ck_assert(green_queue_empty(q));
    ck_assert(!green_queue_full(q));
    int next_in = 1, next_out = 1;
    /* Fill, drain part, refill so the ring wraps, then grow it while
     * wrapped, several times over. */
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 16 + round * 9; i++) {
            ck_assert_int_eq(green_queue_put_nowait(q, ITEM(next_in++)), 0);
        }
        for (int i = 0; i < 10 + round; i++) {
            ck_assert_int_eq(take(q), next_out++);
        }
        ck_assert_uint_eq(green_queue_size(q), (size_t)(next_in - next_out));
    }
    while (next_out < next_in) {
        ck_assert_int_eq(take(q), next_out++);
    }
    ck_assert(green_queue_empty(q));
    ck_assert_uint_eq(green_queue_size(q), 0);
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_queue_get_nowait(q, &v), -EAGAIN);
    ck_assert_ptr_eq(v, UNTOUCHED);
    /* NULL is an item like any other. */
    ck_assert_int_eq(green_queue_put(q, NULL, 0.0), 0);
    ck_assert_int_eq(green_queue_get(q, 0.0, &v), 0);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(lifo_order)
{
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_LIFO, 0, NULL), 0);
    for (int i = 1; i <= 40; i++) {
        ck_assert_int_eq(green_queue_put(q, ITEM(i), 0.0), 0);
    }
    for (int i = 40; i > 30; i--) {
        ck_assert_int_eq(take(q), i);
    }
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(100)), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(101)), 0);
    ck_assert_int_eq(take(q), 101);
    ck_assert_int_eq(take(q), 100);
    for (int i = 30; i >= 1; i--) {
        ck_assert_int_eq(take(q), i);
    }
    ck_assert(green_queue_empty(q));
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(priority_by_pointer_value)
{
    /* cmp NULL: items are ordered by their pointer value. */
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_PRIORITY, 0, NULL), 0);
    static const int in[] = {5, 3, 9, 1, 7, 3, 8, 2, 6, 4, 1, 0};
    static const int out[] = {0, 1, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9};
    for (size_t i = 0; i < sizeof in / sizeof *in; i++) {
        ck_assert_int_eq(green_queue_put_nowait(q, ITEM(in[i])), 0);
    }
    for (size_t i = 0; i < sizeof out / sizeof *out; i++) {
        ck_assert_int_eq(take(q), out[i]);
    }
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

struct pitem {
    int key;
    int seq;  /* order of insertion */
};

static int cmp_key(const void *a, const void *b)
{
    const struct pitem *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

START_TEST(priority_ties_fifo)
{
    enum { N = 600 };
    static struct pitem items[N];
    static struct pitem *model[N];
    size_t nmodel = 0;
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_PRIORITY, 0, cmp_key),
                     0);
    /* Random keys from a small range (many ties), puts and gets
     * interleaved, each get checked against a plain model: the smallest
     * key, and among equal keys the earliest put. */
    unsigned seed = 12345;
    int nput = 0;
    while (nput < N || nmodel > 0) {
        seed = seed * 1103515245u + 12345u;
        bool do_put = nput < N && (nmodel == 0 || (seed >> 16) % 3 != 0);
        if (do_put) {
            seed = seed * 1103515245u + 12345u;
            items[nput] = (struct pitem){(int)((seed >> 16) % 7), nput};
            ck_assert_int_eq(green_queue_put_nowait(q, &items[nput]), 0);
            model[nmodel++] = &items[nput];
            nput++;
        } else {
            size_t best = 0;
            for (size_t i = 1; i < nmodel; i++) {
                if (model[i]->key < model[best]->key ||
                    (model[i]->key == model[best]->key &&
                     model[i]->seq < model[best]->seq)) {
                    best = i;
                }
            }
            void *v = NULL;
            ck_assert_int_eq(green_queue_get_nowait(q, &v), 0);
            struct pitem *got = v;
            ck_assert_msg(got == model[best],
                          "got key %d seq %d, wanted key %d seq %d",
                          got->key, got->seq, model[best]->key,
                          model[best]->seq);
            model[best] = model[--nmodel];
        }
        ck_assert_uint_eq(green_queue_size(q), nmodel);
    }
    ck_assert(green_queue_empty(q));
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

/* --- waiting getters -------------------------------------------------- */

START_TEST(get_waits_for_put)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    green_task_t *t = start_op(q, GETTER, 0, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_sleep(0.02), 0);
    ck_assert(!green_task_done(t));
    ck_assert_int_eq(green_queue_put(q, ITEM(42), GREEN_FOREVER), 0);
    join_release(t);
    ck_assert_int_eq(ops[0].rc, 0);
    ck_assert_int_eq(NUM(ops[0].got), 42);
    ck_assert(green_queue_empty(q));
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(getters_served_in_queue_order)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    green_task_t *t[NW];
    for (int k = 0; k < NW; k++) {
        t[perm[k]] = start_op(q, GETTER, perm[k], NULL, GREEN_FOREVER);
    }
    /* Each item goes straight to the longest waiter: a get by someone
     * who was not waiting finds nothing. */
    for (int k = 0; k < NW; k++) {
        ck_assert_int_eq(green_queue_put_nowait(q, ITEM(100 + k)), 0);
        void *v = UNTOUCHED;
        ck_assert_int_eq(green_queue_get_nowait(q, &v), -EAGAIN);
        ck_assert_ptr_eq(v, UNTOUCHED);
    }
    ck_assert_int_eq(green_joinall(t, NW, slow(2.0)), 0);
    for (int k = 0; k < NW; k++) {
        ck_assert_int_eq(ops[perm[k]].rc, 0);
        ck_assert_msg(NUM(ops[perm[k]].got) == 100 + k,
                      "waiter %d (queued %d-th) got %d, wanted %d", perm[k],
                      k, NUM(ops[perm[k]].got), 100 + k);
        ck_assert_int_eq(order[k], perm[k]);
    }
    for (int i = 0; i < NW; i++) {
        join_release(t[i]);
    }
    ck_assert(green_queue_empty(q));
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

/* --- bounded queues and waiting putters ------------------------------- */

START_TEST(bounded_put_waits_when_full)
{
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 2, NULL), 0);
    ck_assert_int_eq(green_queue_put(q, ITEM(1), 0.0), 0);
    ck_assert(!green_queue_full(q));
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(2)), 0);
    ck_assert(green_queue_full(q));
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(3)), -EAGAIN);
    ck_assert_int_eq(green_queue_put(q, ITEM(3), 0.0), -ETIMEDOUT);
    double t0 = green_test_now();
    ck_assert_int_eq(green_queue_put(q, ITEM(3), 0.05), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    /* None of the refused items got in. */
    ck_assert_uint_eq(green_queue_size(q), 2);
    ck_assert_int_eq(take(q), 1);
    ck_assert_int_eq(take(q), 2);
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_queue_get_nowait(q, &v), -EAGAIN);
    ck_assert(green_queue_empty(q));
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(slot_goes_to_first_putter)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 2, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(2)), 0);
    green_task_t *t[NW];
    for (int k = 0; k < NW; k++) {
        t[perm[k]] = start_op(q, PUTTER, perm[k], ITEM(100 + perm[k]),
                              GREEN_FOREVER);
    }
    ck_assert_uint_eq(green_queue_size(q), 2);
    /* A freed slot goes to the first waiting putter at once: a latecomer
     * finds the queue full again. */
    ck_assert_int_eq(take(q), 1);
    ck_assert(green_queue_full(q));
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(999)), -EAGAIN);
    ck_assert_int_eq(take(q), 2);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(999)), -EAGAIN);
    for (int k = 0; k < NW; k++) {
        int got = take(q);
        ck_assert_msg(got == 100 + perm[k],
                      "item %d came from putter %d, wanted %d", k, got - 100,
                      perm[k]);
    }
    ck_assert(green_queue_empty(q));
    ck_assert_int_eq(green_joinall(t, NW, slow(2.0)), 0);
    for (int k = 0; k < NW; k++) {
        ck_assert_int_eq(ops[perm[k]].rc, 0);
        ck_assert_int_eq(order[k], perm[k]);
    }
    for (int i = 0; i < NW; i++) {
        join_release(t[i]);
    }
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(lifo_bounded_putter)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_LIFO, 2, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(2)), 0);
    green_task_t *t = start_op(q, PUTTER, 0, ITEM(3), GREEN_FOREVER);
    ck_assert_int_eq(take(q), 2);
    /* The waiting putter's item went in on top. */
    ck_assert_int_eq(take(q), 3);
    ck_assert_int_eq(take(q), 1);
    join_release(t);
    ck_assert_int_eq(ops[0].rc, 0);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(nowait_errors)
{
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 1, NULL), 0);
    ck_assert_int_eq(green_queue_get_nowait(q, NULL), -EAGAIN);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(7)), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(8)), -EAGAIN);
    ck_assert_uint_eq(green_queue_size(q), 1);
    ck_assert_int_eq(green_queue_get_nowait(q, NULL), 0); /* item dropped */
    ck_assert_int_eq(green_queue_get_nowait(q, NULL), -EAGAIN);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

/* --- timeouts --------------------------------------------------------- */

START_TEST(get_times_out)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    void *v = UNTOUCHED;
    double t0 = green_test_now();
    ck_assert_int_eq(green_queue_get(q, 0.05, &v), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_int_eq(green_queue_get(q, 0.0, &v), -ETIMEDOUT);
    ck_assert_ptr_eq(v, UNTOUCHED);
    /* A task's get times out alone; nothing of it is left behind to take
     * a later item. */
    green_task_t *t = start_op(q, GETTER, 0, NULL, 0.05);
    join_release(t);
    ck_assert_int_eq(ops[0].rc, -ETIMEDOUT);
    ck_assert_ptr_eq(ops[0].got, UNTOUCHED);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(5)), 0);
    ck_assert_int_eq(take(q), 5);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(put_timeout_leaves_no_item)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 1, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    green_task_t *t = start_op(q, PUTTER, 0, ITEM(2), 0.05);
    join_release(t);
    ck_assert_int_eq(ops[0].rc, -ETIMEDOUT);
    ck_assert_int_eq(take(q), 1);
    ck_assert_int_eq(green_queue_get_nowait(q, NULL), -EAGAIN);
    ck_assert_int_eq(green_queue_task_done(q), 0);
    ck_assert_int_eq(green_queue_task_done(q), -EINVAL); /* 2 never counted */
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

/* --- cancellation ----------------------------------------------------- */

START_TEST(kill_getter)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    green_task_t *a = start_op(q, GETTER, 0, NULL, GREEN_FOREVER);
    green_task_t *b = start_op(q, GETTER, 1, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_kill(a), 0);
    ck_assert_int_eq(green_join(a, slow(1.0), NULL), 0);
    green_task_release(a);
    ck_assert_int_eq(ops[0].rc, -ECANCELED);
    ck_assert_ptr_eq(ops[0].got, UNTOUCHED);
    /* The next item goes to the live getter, the one after to the queue. */
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(2)), 0);
    join_release(b);
    ck_assert_int_eq(NUM(ops[1].got), 1);
    ck_assert_int_eq(take(q), 2);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(killed_getter_takes_no_later_item)
{
    /* Killed, and an item put before the killed getter got to run: its
     * get fails with -ECANCELED (task.h: the call it is in fails), so it
     * must not take the item, which stays for others. */
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    green_task_t *a = start_op(q, GETTER, 0, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_kill(a), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(9)), 0);
    ck_assert_int_eq(green_join(a, slow(1.0), NULL), 0);
    green_task_release(a);
    void *v = UNTOUCHED;
    int r = green_queue_get_nowait(q, &v);
    /* Freed before the checks, so that a failure leaks nothing into the
     * next tests (CK_FORK=no under valgrind). */
    ck_assert_int_eq(green_queue_free(q), 0);
    ck_assert_msg(ops[0].rc == -ECANCELED,
                  "killed getter's get returned %d (got %d)", ops[0].rc,
                  NUM(ops[0].got));
    ck_assert_msg(r == 0 && NUM(v) == 9, "the item put after the kill was "
                  "swallowed by the killed getter (get_nowait: %d)", r);
}
END_TEST

START_TEST(kill_putter)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 1, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    green_task_t *a = start_op(q, PUTTER, 0, ITEM(2), GREEN_FOREVER);
    green_task_t *b = start_op(q, PUTTER, 1, ITEM(3), GREEN_FOREVER);
    ck_assert_int_eq(green_kill(a), 0);
    ck_assert_int_eq(green_join(a, slow(1.0), NULL), 0);
    green_task_release(a);
    ck_assert_int_eq(ops[0].rc, -ECANCELED);
    /* The killed putter's item never appears; the live one's does. */
    ck_assert_int_eq(take(q), 1);
    ck_assert_int_eq(take(q), 3);
    ck_assert_int_eq(green_queue_get_nowait(q, NULL), -EAGAIN);
    join_release(b);
    ck_assert_int_eq(ops[1].rc, 0);
    ck_assert_int_eq(green_queue_task_done(q), 0);
    ck_assert_int_eq(green_queue_task_done(q), 0);
    ck_assert_int_eq(green_queue_task_done(q), -EINVAL);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(killed_putter_item_never_appears)
{
    /* Killed, and a slot freed before the killed putter got to run: its
     * put fails with -ECANCELED, so its item must not enter the queue. */
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 1, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    green_task_t *a = start_op(q, PUTTER, 0, ITEM(2), GREEN_FOREVER);
    ck_assert_int_eq(green_kill(a), 0);
    ck_assert_int_eq(take(q), 1);
    void *v = UNTOUCHED;
    int r = green_queue_get_nowait(q, &v);
    ck_assert_int_eq(green_join(a, slow(1.0), NULL), 0);
    green_task_release(a);
    ck_assert_int_eq(green_queue_free(q), 0); /* before the checks */
    ck_assert_msg(r == -EAGAIN, "the killed putter's item appeared (get: "
                  "%d, item %d)", r, NUM(v));
    ck_assert_msg(ops[0].rc == -ECANCELED, "killed putter's put returned %d",
                  ops[0].rc);
}
END_TEST

/* --- close ------------------------------------------------------------ */

START_TEST(close_wakes_getters)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = start_op(q, GETTER, i, NULL, GREEN_FOREVER);
    }
    ck_assert(!green_queue_closed(q));
    ck_assert_int_eq(green_queue_close(q), 0);
    ck_assert(green_queue_closed(q));
    double t0 = green_test_now();
    for (int i = 0; i < 3; i++) {
        join_release(t[i]);
        ck_assert_int_eq(ops[i].rc, -EPIPE);
        ck_assert_ptr_eq(ops[i].got, UNTOUCHED);
    }
    check_elapsed(t0, 0.0, slow(0.5));
    /* Closed for good: nothing waits and nothing goes in. */
    ck_assert_int_eq(green_queue_put(q, ITEM(1), GREEN_FOREVER), -EPIPE);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), -EPIPE);
    ck_assert_int_eq(green_queue_get(q, GREEN_FOREVER, NULL), -EPIPE);
    ck_assert_int_eq(green_queue_get_nowait(q, NULL), -EPIPE);
    check_elapsed(t0, 0.0, slow(0.5));
    ck_assert(green_queue_empty(q));
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

static void *drain_body(void *arg)
{
    /* Gets until the queue says it is closed and empty. */
    struct op *o = arg;
    int got[8], n = 0, r;
    void *v;
    while ((r = green_queue_get(o->q, GREEN_FOREVER, &v)) == 0 && n < 8) {
        got[n++] = NUM(v);
    }
    o->rc = r;
    o->got = ITEM(n == 3 && got[0] == 1 && got[1] == 2 && got[2] == 3);
    return NULL;
}

START_TEST(close_lets_getters_drain)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(green_queue_put_nowait(q, ITEM(i)), 0);
    }
    ck_assert_int_eq(green_queue_close(q), 0);
    ck_assert(green_queue_closed(q));
    ck_assert_uint_eq(green_queue_size(q), 3);
    ops[0].q = q;
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, drain_body, &ops[0]), 0);
    join_release(t);
    ck_assert_int_eq(ops[0].rc, -EPIPE);
    ck_assert_msg(NUM(ops[0].got) == 1, "did not drain 1, 2, 3 in order");
    ck_assert_int_eq(green_queue_get_nowait(q, NULL), -EPIPE);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(close_wakes_putters)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 1, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    green_task_t *a = start_op(q, PUTTER, 0, ITEM(2), GREEN_FOREVER);
    green_task_t *b = start_op(q, PUTTER, 1, ITEM(3), 5.0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_queue_close(q), 0);
    join_release(a);
    join_release(b);
    check_elapsed(t0, 0.0, slow(0.5));
    ck_assert_int_eq(ops[0].rc, -EPIPE);
    ck_assert_int_eq(ops[1].rc, -EPIPE);
    /* Their items never got in; the one already there drains. */
    ck_assert_int_eq(take(q), 1);
    ck_assert_int_eq(green_queue_get(q, 1.0, NULL), -EPIPE);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

/* --- task_done and join ----------------------------------------------- */

struct worker {
    green_queue_t *q;
    int n;           /* items to process */
    int processed;
    int done_rc;     /* first failing task_done, or 0 */
};

static void *worker_body(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->n; i++) {
        if (green_queue_get(w->q, GREEN_FOREVER, NULL) != 0) {
            break;
        }
        green_sleep(0.01);
        w->processed++;
        int r = green_queue_task_done(w->q);
        if (r != 0 && w->done_rc == 0) {
            w->done_rc = r;
        }
    }
    return NULL;
}

START_TEST(join_waits_for_task_done)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    ck_assert_int_eq(green_queue_join(q, 0.0), 0); /* nothing put yet */
    ck_assert_int_eq(green_queue_task_done(q), -EINVAL);
    for (int i = 1; i <= 3; i++) {
        ck_assert_int_eq(green_queue_put_nowait(q, ITEM(i)), 0);
    }
    /* Two other joiners wait along with the root. */
    green_task_t *j[2];
    for (int i = 0; i < 2; i++) {
        j[i] = start_op(q, JOINER, i, NULL, GREEN_FOREVER);
    }
    static struct worker w;
    w = (struct worker){q, 3, 0, 0};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, worker_body, &w), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_queue_join(q, slow(5.0)), 0);
    ck_assert_int_eq(w.processed, 3); /* not before the last task_done */
    check_elapsed(t0, 0.025, slow(1.0));
    for (int i = 0; i < 2; i++) {
        join_release(j[i]);
        ck_assert_int_eq(ops[i].rc, 0);
    }
    join_release(t);
    ck_assert_int_eq(w.done_rc, 0);
    ck_assert_int_eq(green_queue_task_done(q), -EINVAL); /* one too many */
    ck_assert_int_eq(green_queue_join(q, 0.0), 0);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(join_times_out)
{
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_LIFO, 0, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    ck_assert_int_eq(take(q), 1); /* got, but not marked done */
    double t0 = green_test_now();
    ck_assert_int_eq(green_queue_join(q, 0.05), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_int_eq(green_queue_join(q, 0.0), -ETIMEDOUT);
    ck_assert_int_eq(green_queue_task_done(q), 0);
    ck_assert_int_eq(green_queue_join(q, 0.0), 0);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(every_path_counts_once)
{
    /* An item handed straight to a waiting getter and one that waited in
     * a putter both count once as unfinished. */
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 1, NULL), 0);
    green_task_t *g = start_op(q, GETTER, 0, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0); /* hand-off */
    join_release(g);
    ck_assert_int_eq(NUM(ops[0].got), 1);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(2)), 0); /* stored */
    green_task_t *p = start_op(q, PUTTER, 1, ITEM(3), GREEN_FOREVER);
    ck_assert_int_eq(take(q), 2);
    ck_assert_int_eq(take(q), 3); /* came in from the waiting putter */
    join_release(p);
    ck_assert_int_eq(ops[1].rc, 0);
    ck_assert_int_eq(green_queue_join(q, 0.0), -ETIMEDOUT);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(green_queue_task_done(q), 0);
    }
    ck_assert_int_eq(green_queue_task_done(q), -EINVAL);
    ck_assert_int_eq(green_queue_join(q, 0.0), 0);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(kill_joiner)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    green_task_t *j = start_op(q, JOINER, 0, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_queue_free(q), -EBUSY);
    ck_assert_int_eq(green_kill(j), 0);
    join_release(j);
    ck_assert_int_eq(ops[0].rc, -ECANCELED);
    /* Items still in the queue are dropped by free (valgrind: no leak). */
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(killed_joiner_fails)
{
    /* Killed first, the count reaching zero before the killed joiner got
     * to run: the first event wins (task.h), so its join fails with
     * -ECANCELED. */
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    ck_assert_int_eq(take(q), 1);
    green_task_t *j = start_op(q, JOINER, 0, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_kill(j), 0);
    ck_assert_int_eq(green_queue_task_done(q), 0);
    join_release(j);
    ck_assert_int_eq(green_queue_free(q), 0); /* before the checks */
    ck_assert_msg(ops[0].rc == -ECANCELED, "killed joiner's join returned %d",
                  ops[0].rc);
}
END_TEST

/* --- free ------------------------------------------------------------- */

START_TEST(free_with_waiters_is_busy)
{
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 1, NULL), 0);
    green_task_t *g = start_op(q, GETTER, 0, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_queue_free(q), -EBUSY);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    join_release(g);
    ck_assert_int_eq(NUM(ops[0].got), 1);

    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(2)), 0);
    green_task_t *p = start_op(q, PUTTER, 1, ITEM(3), GREEN_FOREVER);
    ck_assert_int_eq(green_queue_free(q), -EBUSY);
    ck_assert_int_eq(take(q), 2);
    join_release(p);
    ck_assert_int_eq(take(q), 3);
    ck_assert_int_eq(green_queue_free(q), 0);
}
END_TEST

START_TEST(free_drops_items)
{
    green_queue_t *q;
    for (int kind = GREEN_QUEUE_FIFO; kind <= GREEN_QUEUE_PRIORITY; kind++) {
        ck_assert_int_eq(green_queue_new(&q, (green_queue_kind_t)kind, 0,
                                         NULL), 0);
        for (int i = 0; i < 100; i++) {
            ck_assert_int_eq(green_queue_put_nowait(q, ITEM(i)), 0);
        }
        ck_assert_int_eq(green_queue_free(q), 0);
    }
}
END_TEST

START_TEST(free_right_after_wake_ups)
{
    /* Close, a hand-off and the last task_done wake their waiters; free
     * then says 0 (nobody is queued any more) or -EBUSY (they have not
     * returned yet). After a 0 the waiters must not touch the queue again
     * (ASan and valgrind see any read of freed memory). */
    reset();
    green_queue_t *q;
    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(1)), 0);
    ck_assert_int_eq(take(q), 1);
    green_task_t *t[4];
    t[0] = start_op(q, JOINER, 0, NULL, GREEN_FOREVER);
    t[1] = start_op(q, JOINER, 1, NULL, 5.0);
    t[2] = start_op(q, GETTER, 2, NULL, GREEN_FOREVER);
    t[3] = start_op(q, GETTER, 3, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(2)), 0); /* to t[2] */
    ck_assert_int_eq(green_queue_close(q), 0);               /* t[3] */
    ck_assert_int_eq(green_queue_task_done(q), 0);           /* 1 left */
    ck_assert_int_eq(green_queue_task_done(q), 0);           /* joiners */
    int r = green_queue_free(q);
    ck_assert_int_eq(green_joinall(t, 4, slow(2.0)), 0);
    for (int i = 0; i < 4; i++) {
        join_release(t[i]);
    }
    if (r == -EBUSY) {
        ck_assert_int_eq(green_queue_free(q), 0);
    }
    ck_assert_msg(r == 0 || r == -EBUSY, "free: %d", r);
    ck_assert_int_eq(ops[0].rc, 0);
    ck_assert_int_eq(ops[1].rc, 0);
    ck_assert_int_eq(ops[2].rc, 0);
    ck_assert_int_eq(NUM(ops[2].got), 2);
    ck_assert_int_eq(ops[3].rc, -EPIPE);
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

static char report[8192];

static void deadlock_get_child(void *arg)
{
    green_test_child_deadline(5);
    green_queue_t *empty, *full;
    if (green_queue_new(&empty, GREEN_QUEUE_FIFO, 0, NULL) != 0 ||
        green_queue_new(&full, GREEN_QUEUE_FIFO, 1, NULL) != 0 ||
        green_queue_put_nowait(full, ITEM(1)) != 0) {
        _exit(90);
    }
    reset();
    ops[0] = (struct op){.q = full, .kind = PUTTER, .item = ITEM(2),
                         .timeout = GREEN_FOREVER, .rc = 1};
    green_spawn_opts_t o = {.name = "stuck-putter"};
    if (green_spawn_ex(NULL, op_body, &ops[0], &o) != 0) {
        _exit(91);
    }
    if (green_queue_get(empty, 0.05, NULL) != -ETIMEDOUT) {
        _exit(92);
    }
    int r = green_queue_get(empty, GREEN_FOREVER, NULL);
    _exit(-r & 0xff);
}

START_TEST(deadlock_get)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    int st = green_test_fork_capture(deadlock_get_child, NULL, report,
                                     sizeof report);
    check_report(st, report, "deadlock", "stuck-putter",
                 "green_queue_put", "green_queue_get");
}
END_TEST

static void deadlock_join_child(void *arg)
{
    green_test_child_deadline(5);
    green_queue_t *q;
    if (green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL) != 0 ||
        green_queue_put_nowait(q, ITEM(1)) != 0) {
        _exit(90);
    }
    int r = green_queue_join(q, GREEN_FOREVER);
    _exit(-r & 0xff);
}

START_TEST(deadlock_join)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    int st = green_test_fork_capture(deadlock_join_child, NULL, report,
                                     sizeof report);
    check_report(st, report, "deadlock", "green_queue_join");
}
END_TEST

static void deadlock_recv_child(void *arg)
{
    green_test_child_deadline(5);
    green_channel_t *ch;
    if (green_channel_new(&ch) != 0) {
        _exit(90);
    }
    int r = green_channel_recv(ch, GREEN_FOREVER, NULL);
    _exit(-r & 0xff);
}

START_TEST(deadlock_recv)
{
    if (green_test_emulated()) {
        /* qemu-user's own threads are in /proc/self/task: there a wait
         * that another OS thread may end is never judged deadlocked. */
        return;
    }
    int st = green_test_fork_capture(deadlock_recv_child, NULL, report,
                                     sizeof report);
    check_report(st, report, "deadlock");
}
END_TEST

/* --- bad input -------------------------------------------------------- */

START_TEST(bad_input)
{
    green_queue_t *q = NULL;
    ck_assert_int_eq(green_queue_new(NULL, GREEN_QUEUE_FIFO, 0, NULL),
                     -EINVAL);
    ck_assert_int_eq(green_queue_new(&q, (green_queue_kind_t)3, 0, NULL),
                     -EINVAL);
    ck_assert_int_eq(green_queue_new(&q, (green_queue_kind_t)-1, 0, NULL),
                     -EINVAL);
    ck_assert_int_eq(green_queue_new(&q, (green_queue_kind_t)1000, 4,
                                     cmp_key), -EINVAL);
    ck_assert_int_eq(green_queue_free(NULL), -EINVAL);
    ck_assert_int_eq(green_queue_put(NULL, ITEM(1), 1.0), -EINVAL);
    ck_assert_int_eq(green_queue_put_nowait(NULL, ITEM(1)), -EINVAL);
    ck_assert_int_eq(green_queue_get(NULL, 1.0, NULL), -EINVAL);
    ck_assert_int_eq(green_queue_get_nowait(NULL, NULL), -EINVAL);
    ck_assert_int_eq(green_queue_task_done(NULL), -EINVAL);
    ck_assert_int_eq(green_queue_join(NULL, 1.0), -EINVAL);
    ck_assert_int_eq(green_queue_close(NULL), -EINVAL);
    ck_assert_uint_eq(green_queue_size(NULL), 0);
    ck_assert(!green_queue_closed(NULL));
    (void)green_queue_empty(NULL);
    (void)green_queue_full(NULL);
    ck_assert_int_eq(green_channel_new(NULL), -EINVAL);
    ck_assert_int_eq(green_channel_free(NULL), -EINVAL);
    ck_assert_int_eq(green_channel_send(NULL, ITEM(1), 1.0), -EINVAL);
    ck_assert_int_eq(green_channel_recv(NULL, 1.0, NULL), -EINVAL);
    ck_assert_int_eq(green_channel_close(NULL), -EINVAL);

    ck_assert_int_eq(green_queue_new(&q, GREEN_QUEUE_FIFO, 1, NULL), 0);
    double t0 = green_test_now();
    static const double bad[] = {-1.0, -1e-9, -INFINITY, NAN};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        void *v = UNTOUCHED;
        ck_assert_int_eq(green_queue_put(q, ITEM(1), bad[i]), -EINVAL);
        ck_assert_int_eq(green_queue_get(q, bad[i], &v), -EINVAL);
        ck_assert_int_eq(green_queue_join(q, bad[i]), -EINVAL);
        ck_assert_ptr_eq(v, UNTOUCHED);
    }
    /* The refused puts left nothing behind... */
    ck_assert_uint_eq(green_queue_size(q), 0);
    ck_assert_int_eq(green_queue_task_done(q), -EINVAL);
    /* ...and a bad timeout is refused even when no wait is needed. */
    ck_assert_int_eq(green_queue_put_nowait(q, ITEM(5)), 0);
    ck_assert_int_eq(green_queue_get(q, NAN, NULL), -EINVAL);
    ck_assert_uint_eq(green_queue_size(q), 1);
    ck_assert_int_eq(take(q), 5);
    ck_assert_int_eq(green_queue_put(q, ITEM(6), -1.0), -EINVAL);
    ck_assert_uint_eq(green_queue_size(q), 0);
    check_elapsed(t0, 0.0, slow(0.5));
    ck_assert_int_eq(green_queue_free(q), 0);

    green_channel_t *ch;
    ck_assert_int_eq(green_channel_new(&ch), 0);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        ck_assert_int_eq(green_channel_send(ch, ITEM(1), bad[i]), -EINVAL);
        ck_assert_int_eq(green_channel_recv(ch, bad[i], NULL), -EINVAL);
    }
    ck_assert_int_eq(green_channel_free(ch), 0);
}
END_TEST

/* --- across OS threads ------------------------------------------------ */

/* Greenlets of XQ_THREADS OS threads (each with its own hub) put into and
 * get from one bounded queue and one channel: every item arrives once,
 * each producer's items in its order, and task_done/join work across the
 * threads. Then a close on one thread ends the gets parked on another. */
#define XQ_THREADS 3
#define XQ_ITEMS 2000

struct xq {
    green_queue_t *q;        /* maxsize 4 */
    green_channel_t *ch;
    long sum_q, sum_ch;      /* items got, by their values: atomic */
    int order_bad;           /* a producer's items out of order: atomic */
    int errors;              /* any unexpected result: atomic */
    int closed_seen;         /* gets that ended with -EPIPE: atomic */
};

static void xq_bad(struct xq *x)
{
    __atomic_fetch_add(&x->errors, 1, __ATOMIC_RELAXED);
}

/* Thread i puts i * XQ_ITEMS + 1 ... (i + 1) * XQ_ITEMS into both. */
static void *xq_producer(void *arg)
{
    struct xq **a = arg;
    struct xq *x = a[0];
    long base = (long)(intptr_t)a[1] * XQ_ITEMS;
    for (long k = 1; k <= XQ_ITEMS; k++) {
        if (green_queue_put(x->q, ITEM(base + k), GREEN_FOREVER) != 0 ||
            green_channel_send(x->ch, ITEM(base + k), k % 3 ? 10.0
                                                             : GREEN_FOREVER)
                != 0) {
            xq_bad(x);
        }
    }
    return NULL;
}

static void *xq_consumer(void *arg)
{
    struct xq *x = arg;
    long last[XQ_THREADS] = {0};
    for (int k = 0; k < XQ_ITEMS; k++) {
        void *v = NULL;
        int r = green_queue_get(x->q, k % 4 ? GREEN_FOREVER : 10.0, &v);
        if (r != 0) {
            xq_bad(x);
            continue;
        }
        long n = NUM(v), who = (n - 1) / XQ_ITEMS;
        if (who < 0 || who >= XQ_THREADS || n <= last[who]) {
            __atomic_fetch_add(&x->order_bad, 1, __ATOMIC_RELAXED);
        } else {
            last[who] = n;
        }
        __atomic_fetch_add(&x->sum_q, n, __ATOMIC_RELAXED);
        if (green_queue_task_done(x->q) != 0) {
            xq_bad(x);
        }
        if ((r = green_channel_recv(x->ch, GREEN_FOREVER, &v)) != 0) {
            xq_bad(x);
            continue;
        }
        __atomic_fetch_add(&x->sum_ch, NUM(v), __ATOMIC_RELAXED);
    }
    return NULL;
}

/* One OS thread: a producer and a consumer greenlet. */
static void *xq_thread(void *arg)
{
    struct xq **a = arg;
    green_task_t *p, *c;
    if (green_spawn(&p, xq_producer, a) != 0 ||
        green_spawn(&c, xq_consumer, a[0]) != 0) {
        xq_bad(a[0]);
        return NULL;
    }
    if (green_join(p, GREEN_FOREVER, NULL) != 0 ||
        green_join(c, GREEN_FOREVER, NULL) != 0) {
        xq_bad(a[0]);
    }
    green_task_release(p);
    green_task_release(c);
    return NULL;
}

START_TEST(queue_across_threads)
{
    struct xq x = {0};
    ck_assert_int_eq(green_queue_new(&x.q, GREEN_QUEUE_FIFO, 4, NULL), 0);
    ck_assert_int_eq(green_channel_new(&x.ch), 0);
    pthread_t th[XQ_THREADS];
    struct xq *args[XQ_THREADS][2];
    for (int i = 0; i < XQ_THREADS; i++) {
        args[i][0] = &x;
        args[i][1] = (struct xq *)(intptr_t)i;
        ck_assert_int_eq(pthread_create(&th[i], NULL, xq_thread, args[i]), 0);
    }
    /* Everything put is marked done in the end: join from here. */
    ck_assert_int_eq(green_queue_join(x.q, 60.0), 0);
    for (int i = 0; i < XQ_THREADS; i++) {
        ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    }
    long n = (long)XQ_THREADS * XQ_ITEMS;
    ck_assert_int_eq(x.errors, 0);
    ck_assert_int_eq(x.order_bad, 0);
    ck_assert_int_eq(x.sum_q, n * (n + 1) / 2);
    ck_assert_int_eq(x.sum_ch, n * (n + 1) / 2);
    ck_assert_uint_eq(green_queue_size(x.q), 0);
    ck_assert_int_eq(green_queue_free(x.q), 0);
    ck_assert_int_eq(green_channel_free(x.ch), 0);
}
END_TEST

/* Gets parked on another thread's hub end with -EPIPE at a close here. */
struct xclose {
    green_queue_t *q;
    int parked;   /* getters about to wait: atomic */
    int rc[3];
};

static void *xclose_get(void *arg)
{
    struct xclose *x = *(struct xclose **)arg;
    int i = (int)(intptr_t)((void **)arg)[1];
    void *v;
    __atomic_fetch_add(&x->parked, 1, __ATOMIC_RELEASE);
    x->rc[i] = green_queue_get(x->q, 30.0, &v);
    return NULL;
}

static void *xclose_thread(void *arg)
{
    struct xclose *x = arg;
    void *a[3][2];
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        a[i][0] = x;
        a[i][1] = (void *)(intptr_t)i;
        if (green_spawn(&t[i], xclose_get, a[i]) != 0) {
            x->rc[i] = 999;
            t[i] = NULL;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (t[i] != NULL) {
            green_join(t[i], GREEN_FOREVER, NULL);
            green_task_release(t[i]);
        }
    }
    return NULL;
}

START_TEST(close_across_threads)
{
    struct xclose x = {.rc = {1, 1, 1}};
    ck_assert_int_eq(green_queue_new(&x.q, GREEN_QUEUE_FIFO, 0, NULL), 0);
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, xclose_thread, &x), 0);
    while (__atomic_load_n(&x.parked, __ATOMIC_ACQUIRE) < 3) {
        ck_assert_int_eq(green_sleep(0.001), 0);
    }
    ck_assert_int_eq(green_sleep(0.02), 0);
    ck_assert_int_eq(green_queue_put(x.q, ITEM(5), 0), 0); /* one served */
    ck_assert_int_eq(green_queue_close(x.q), 0);          /* two ended */
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    int ok = 0, piped = 0;
    for (int i = 0; i < 3; i++) {
        ok += x.rc[i] == 0;
        piped += x.rc[i] == -EPIPE;
    }
    ck_assert_int_eq(ok, 1);
    ck_assert_int_eq(piped, 2);
    ck_assert_int_eq(green_queue_free(x.q), 0);
}
END_TEST


/* --- channel ---------------------------------------------------------- */

START_TEST(channel_send_waits_for_recv)
{
    reset();
    green_channel_t *ch;
    ck_assert_int_eq(green_channel_new(&ch), 0);
    green_task_t *t = start_op(ch, SENDER, 0, ITEM(11), GREEN_FOREVER);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert_msg(!green_task_done(t), "send returned with no receiver");
    ck_assert_int_eq(ops[0].rc, 1);
    ck_assert_uint_eq(green_queue_size(ch), 0); /* nothing is buffered */
    void *v = UNTOUCHED;
    ck_assert_int_eq(green_channel_recv(ch, 1.0, &v), 0);
    ck_assert_int_eq(NUM(v), 11);
    join_release(t);
    ck_assert_int_eq(ops[0].rc, 0);
    ck_assert_int_eq(green_channel_free(ch), 0);
}
END_TEST

START_TEST(channel_recv_waits_for_send)
{
    reset();
    green_channel_t *ch;
    ck_assert_int_eq(green_channel_new(&ch), 0);
    green_task_t *t = start_op(ch, RECEIVER, 0, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert(!green_task_done(t));
    double t0 = green_test_now();
    ck_assert_int_eq(green_channel_send(ch, ITEM(12), 1.0), 0);
    check_elapsed(t0, 0.0, slow(0.5));
    join_release(t);
    ck_assert_int_eq(ops[0].rc, 0);
    ck_assert_int_eq(NUM(ops[0].got), 12);
    ck_assert_int_eq(green_channel_free(ch), 0);
}
END_TEST

START_TEST(channel_timeouts)
{
    green_channel_t *ch;
    ck_assert_int_eq(green_channel_new(&ch), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_channel_send(ch, ITEM(1), 0.05), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_int_eq(green_channel_send(ch, ITEM(2), 0.0), -ETIMEDOUT);
    /* The unsent items are not waiting for a receiver. */
    void *v = UNTOUCHED;
    t0 = green_test_now();
    ck_assert_int_eq(green_channel_recv(ch, 0.05, &v), -ETIMEDOUT);
    check_elapsed(t0, 0.04, slow(1.0));
    ck_assert_int_eq(green_channel_recv(ch, 0.0, &v), -ETIMEDOUT);
    ck_assert_ptr_eq(v, UNTOUCHED);
    ck_assert_int_eq(green_channel_free(ch), 0);
}
END_TEST

START_TEST(channel_senders_in_queue_order)
{
    reset();
    green_channel_t *ch;
    ck_assert_int_eq(green_channel_new(&ch), 0);
    green_task_t *t[NW];
    for (int k = 0; k < NW; k++) {
        t[perm[k]] = start_op(ch, SENDER, perm[k], ITEM(100 + perm[k]),
                              GREEN_FOREVER);
    }
    for (int k = 0; k < NW; k++) {
        void *v = UNTOUCHED;
        ck_assert_int_eq(green_channel_recv(ch, 1.0, &v), 0);
        ck_assert_msg(NUM(v) == 100 + perm[k], "recv %d got %d, wanted %d",
                      k, NUM(v), 100 + perm[k]);
    }
    ck_assert_int_eq(green_joinall(t, NW, slow(2.0)), 0);
    for (int i = 0; i < NW; i++) {
        ck_assert_int_eq(ops[i].rc, 0);
        join_release(t[i]);
    }
    ck_assert_int_eq(green_channel_free(ch), 0);
}
END_TEST

START_TEST(channel_receivers_in_queue_order)
{
    reset();
    green_channel_t *ch;
    ck_assert_int_eq(green_channel_new(&ch), 0);
    green_task_t *t[NW];
    for (int k = 0; k < NW; k++) {
        t[perm[k]] = start_op(ch, RECEIVER, perm[k], NULL, GREEN_FOREVER);
    }
    for (int k = 0; k < NW; k++) {
        ck_assert_int_eq(green_channel_send(ch, ITEM(200 + k), 1.0), 0);
    }
    ck_assert_int_eq(green_joinall(t, NW, slow(2.0)), 0);
    for (int k = 0; k < NW; k++) {
        ck_assert_int_eq(ops[perm[k]].rc, 0);
        ck_assert_int_eq(NUM(ops[perm[k]].got), 200 + k);
    }
    for (int i = 0; i < NW; i++) {
        join_release(t[i]);
    }
    ck_assert_int_eq(green_channel_free(ch), 0);
}
END_TEST

START_TEST(channel_close_wakes_both)
{
    reset();
    green_channel_t *a, *b;
    ck_assert_int_eq(green_channel_new(&a), 0);
    ck_assert_int_eq(green_channel_new(&b), 0);
    green_task_t *s = start_op(a, SENDER, 0, ITEM(1), GREEN_FOREVER);
    green_task_t *r = start_op(b, RECEIVER, 1, NULL, GREEN_FOREVER);
    double t0 = green_test_now();
    ck_assert_int_eq(green_channel_close(a), 0);
    ck_assert_int_eq(green_channel_close(b), 0);
    join_release(s);
    join_release(r);
    check_elapsed(t0, 0.0, slow(0.5));
    ck_assert_int_eq(ops[0].rc, -EPIPE);
    ck_assert_int_eq(ops[1].rc, -EPIPE);
    ck_assert_ptr_eq(ops[1].got, UNTOUCHED);
    /* The sender's item did not stay behind to be received. */
    ck_assert_int_eq(green_channel_recv(a, GREEN_FOREVER, NULL), -EPIPE);
    ck_assert_int_eq(green_channel_send(b, ITEM(2), GREEN_FOREVER), -EPIPE);
    ck_assert_int_eq(green_channel_free(a), 0);
    ck_assert_int_eq(green_channel_free(b), 0);
}
END_TEST

START_TEST(channel_kill)
{
    /* A killed sender's item is not received; a killed receiver does not
     * complete a later send. Each runs (and leaves) before the next step. */
    reset();
    green_channel_t *ch;
    ck_assert_int_eq(green_channel_new(&ch), 0);
    green_task_t *s = start_op(ch, SENDER, 0, ITEM(2), GREEN_FOREVER);
    ck_assert_int_eq(green_kill(s), 0);
    join_release(s);
    ck_assert_int_eq(ops[0].rc, -ECANCELED);
    ck_assert_int_eq(green_channel_recv(ch, 0.05, NULL), -ETIMEDOUT);

    green_task_t *r = start_op(ch, RECEIVER, 1, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_kill(r), 0);
    join_release(r);
    ck_assert_int_eq(ops[1].rc, -ECANCELED);
    ck_assert_int_eq(green_channel_send(ch, ITEM(3), 0.05), -ETIMEDOUT);
    ck_assert_int_eq(green_channel_free(ch), 0);
}
END_TEST

START_TEST(channel_killed_receiver_takes_nothing)
{
    /* Killed, and a send made before the killed receiver got to run: the
     * receiver's recv fails with -ECANCELED, so nobody received the item
     * and the send must not report a rendezvous. */
    reset();
    green_channel_t *ch;
    ck_assert_int_eq(green_channel_new(&ch), 0);
    green_task_t *r = start_op(ch, RECEIVER, 0, NULL, GREEN_FOREVER);
    ck_assert_int_eq(green_kill(r), 0);
    int sr = green_channel_send(ch, ITEM(4), 0.05);
    join_release(r);
    ck_assert_int_eq(green_channel_free(ch), 0); /* before the checks */
    ck_assert_msg(ops[0].rc == -ECANCELED, "killed receiver's recv "
                  "returned %d (item %d)", ops[0].rc, NUM(ops[0].got));
    ck_assert_msg(sr == -ETIMEDOUT, "send to a killed receiver returned %d",
                  sr);
}
END_TEST

START_TEST(channel_free_busy)
{
    reset();
    green_channel_t *ch;
    ck_assert_int_eq(green_channel_new(&ch), 0);
    green_task_t *s = start_op(ch, SENDER, 0, ITEM(5), GREEN_FOREVER);
    ck_assert_int_eq(green_channel_free(ch), -EBUSY);
    void *v = NULL;
    ck_assert_int_eq(green_channel_recv(ch, 1.0, &v), 0);
    ck_assert_int_eq(NUM(v), 5);
    join_release(s);
    ck_assert_int_eq(green_channel_free(ch), 0);
}
END_TEST

/* A getter frees the queue the moment its get returns, while the putter
 * on another OS thread may still be inside green_queue_put (test/helpers.h:
 * AddressSanitizer catches a putter that touches it after its inbox
 * wake-up went out). */
static int freed_item;

static void *queue_make(void)
{
    green_queue_t *q;
    return green_queue_new(&q, GREEN_QUEUE_FIFO, 0, NULL) == 0 ? q : NULL;
}

static int queue_give(void *q)
{
    return green_queue_put(q, &freed_item, 10.0);
}

static int queue_take_free(void *q)
{
    void *item = NULL;
    int r = green_queue_get(q, 10.0, &item);
    if (r == 0 && item != &freed_item) {
        r = -EIO;
    }
    return r != 0 ? r : green_queue_free(q);
}

START_TEST(getter_frees_at_once)
{
    int rounds = green_test_emulated() ? 400 : 4000;
    ck_assert_int_eq(green_test_free_race(rounds, queue_make, queue_give,
                                          queue_take_free), 0);
}
END_TEST

/* --- suite ------------------------------------------------------------ */

static TCase *tcase(const char *name, int timeout)
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, timeout);
    return tc;
}

Suite *green_test_queue_suite(void)
{
    Suite *s = suite_create("queue");

    /* First: a forked child inherits valgrind's error count, so under
     * valgrind (CK_FORK=no) an error in an earlier test would fail it. */
    TCase *tc = tcase("deadlock", 15);
    tcase_add_test(tc, deadlock_get);
    tcase_add_test(tc, deadlock_join);
    tcase_add_test(tc, deadlock_recv);
    suite_add_tcase(s, tc);

    tc = tcase("order", 10);
    tcase_add_test(tc, fifo_order_across_growth);
    tcase_add_test(tc, lifo_order);
    tcase_add_test(tc, priority_by_pointer_value);
    tcase_add_test(tc, priority_ties_fifo);
    suite_add_tcase(s, tc);

    tc = tcase("waiters", 10);
    tcase_add_test(tc, get_waits_for_put);
    tcase_add_test(tc, getters_served_in_queue_order);
    tcase_add_test(tc, bounded_put_waits_when_full);
    tcase_add_test(tc, slot_goes_to_first_putter);
    tcase_add_test(tc, lifo_bounded_putter);
    tcase_add_test(tc, nowait_errors);
    tcase_add_test(tc, get_times_out);
    tcase_add_test(tc, put_timeout_leaves_no_item);
    suite_add_tcase(s, tc);

    tc = tcase("cancel", 10);
    tcase_add_test(tc, kill_getter);
    tcase_add_test(tc, killed_getter_takes_no_later_item);
    tcase_add_test(tc, kill_putter);
    tcase_add_test(tc, killed_putter_item_never_appears);
    suite_add_tcase(s, tc);

    tc = tcase("close", 10);
    tcase_add_test(tc, close_wakes_getters);
    tcase_add_test(tc, close_lets_getters_drain);
    tcase_add_test(tc, close_wakes_putters);
    suite_add_tcase(s, tc);

    tc = tcase("join", 10);
    tcase_add_test(tc, join_waits_for_task_done);
    tcase_add_test(tc, join_times_out);
    tcase_add_test(tc, every_path_counts_once);
    tcase_add_test(tc, kill_joiner);
    tcase_add_test(tc, killed_joiner_fails);
    suite_add_tcase(s, tc);

    tc = tcase("free", 10);
    tcase_add_test(tc, free_with_waiters_is_busy);
    tcase_add_test(tc, free_drops_items);
    tcase_add_test(tc, free_right_after_wake_ups);
    suite_add_tcase(s, tc);

    tc = tcase("bad_input", 10);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, queue_across_threads);
    tcase_add_test(tc, close_across_threads);
    tcase_add_test(tc, getter_frees_at_once);
    suite_add_tcase(s, tc);

    tc = tcase("channel", 10);
    tcase_add_test(tc, channel_send_waits_for_recv);
    tcase_add_test(tc, channel_recv_waits_for_send);
    tcase_add_test(tc, channel_timeouts);
    tcase_add_test(tc, channel_senders_in_queue_order);
    tcase_add_test(tc, channel_receivers_in_queue_order);
    tcase_add_test(tc, channel_close_wakes_both);
    tcase_add_test(tc, channel_kill);
    tcase_add_test(tc, channel_killed_receiver_takes_nothing);
    tcase_add_test(tc, channel_free_busy);
    suite_add_tcase(s, tc);
    return s;
}
