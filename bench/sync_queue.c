/* SPDX-License-Identifier: MIT */
/* Queue and channel hand-off between two tasks: a producer puts the items
 * 1..N (as pointers) and then closes; a consumer, spawned first so that it
 * is already waiting, gets until the close (-EPIPE) and checks that every
 * item came, once, in order. The result is the total time / N: one put and
 * one get, with whatever switches the capacity forces. Go channels and
 * gevent's Queue/Channel are measured the same way in bench/go and
 * bench/gevent.
 *
 *   queue.libgreen_unbounded  ns per item, green_queue_t of maxsize 0: the
 *                             producer never waits, so it puts everything
 *                             before the consumer runs (Go: a channel
 *                             with room for all N)
 *   queue.libgreen_bounded1   ns per item, maxsize 1: a switch every item
 *                             or two (Go: a channel of capacity 1)
 *   queue.libgreen_channel    ns per item, green_channel_t: every item
 *                             goes from a waiting sender to a waiting
 *                             receiver (Go: an unbuffered channel)
 *
 * Besides the order, the producer checks how far it ever got ahead of the
 * consumer: at most one item for the channel (a send returns once the
 * item is taken) and two for the bounded queue (one buffered, one handed
 * to the waiting consumer).
 *
 * BENCH_ITEMS sets N (default 2,000,000). */
#include <errno.h>
#include <stdint.h>

#include "green.h"

#include "bench.h"

enum kind { UNBOUNDED, BOUNDED1, CHANNEL };

static const char *const names[] = {
    "queue.libgreen_unbounded", "queue.libgreen_bounded1",
    "queue.libgreen_channel",
};

/* Most items the producer may be ahead of the consumer, by kind. */
static const long max_lead_allowed[] = { -1, 2, 1 };

static enum kind kind;
static green_queue_t *q;  /* a green_channel_t too: the same type */
static long items;        /* N */
static long sent, got;    /* puts returned, gets returned */
static long max_lead;     /* most puts ahead of gets, seen by the producer */

static void *producer(void *arg)
{
    for (long i = 1; i <= items; i++) {
        void *item = (void *)(uintptr_t)i;
        int r = kind == CHANNEL ? green_channel_send(q, item, GREEN_FOREVER)
                                : green_queue_put(q, item, GREEN_FOREVER);
        BENCH_CHECK(r == 0);
        sent++;
        if (sent - got > max_lead) {
            max_lead = sent - got;
        }
    }
    BENCH_CHECK((kind == CHANNEL ? green_channel_close(q)
                                 : green_queue_close(q)) == 0);
    return arg;
}

static void *consumer(void *arg)
{
    for (;;) {
        void *item;
        int r = kind == CHANNEL ? green_channel_recv(q, GREEN_FOREVER, &item)
                                : green_queue_get(q, GREEN_FOREVER, &item);
        if (r == -EPIPE) {
            break;
        }
        BENCH_CHECK(r == 0);
        BENCH_CHECK((uintptr_t)item == (uintptr_t)got + 1); /* in order */
        got++;
    }
    return arg;
}

static uint64_t run(enum kind k, long n)
{
    kind = k;
    items = n;
    sent = got = max_lead = 0;
    int r = k == CHANNEL ? green_channel_new(&q)
                         : green_queue_new(&q, GREEN_QUEUE_FIFO,
                                           k == BOUNDED1 ? 1 : 0, NULL);
    BENCH_CHECK(r == 0);

    green_task_t *c, *p;
    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(green_spawn(&c, consumer, NULL) == 0);
    BENCH_CHECK(green_spawn(&p, producer, NULL) == 0);
    BENCH_CHECK(green_join(c, GREEN_FOREVER, NULL) == 0);
    BENCH_CHECK(green_join(p, GREEN_FOREVER, NULL) == 0);
    uint64_t t1 = bench_now_ns();

    BENCH_CHECK(green_task_status(c) == GREEN_TASK_DONE);
    BENCH_CHECK(green_task_status(p) == GREEN_TASK_DONE);
    green_task_release(c);
    green_task_release(p);
    BENCH_CHECK(sent == n && got == n);
    BENCH_CHECK(max_lead_allowed[k] < 0 || max_lead <= max_lead_allowed[k]);
    BENCH_CHECK(green_queue_empty(q));
    BENCH_CHECK((k == CHANNEL ? green_channel_free(q)
                              : green_queue_free(q)) == 0);
    return t1 - t0;
}

int main(void)
{
    long n = bench_env_long("BENCH_ITEMS", 2000000);

    for (enum kind k = UNBOUNDED; k <= CHANNEL; k++) {
        run(k, n / 100 > 0 ? n / 100 : 1); /* warm-up: hub, stacks */
        uint64_t ns = run(k, n);
        bench_report(names[k], (double)ns / (double)n, "ns");
    }
    BENCH_CHECK(green_run() == 0); /* nothing may be left behind */
    return 0;
}
