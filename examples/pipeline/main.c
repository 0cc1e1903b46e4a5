/* SPDX-License-Identifier: MIT */
/* Producer/consumer on a queue, the asyncio.Queue tutorial: two producers
 * put 5 items each, two consumers take and process them. green_queue_join
 * returns once every item has been marked done; then the consumers, idle
 * in green_queue_get forever, are cancelled with green_kill. */
#include <green.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum { PRODUCERS = 2, CONSUMERS = 2, ITEMS = 5 };

static green_queue_t *queue;
static long produced_sum, consumed_sum;
static int consumed_count;

static const char *me(void)
{
    return greenlet_name(green_task_greenlet(green_current()));
}

/* Producer p puts items p*100+1 .. p*100+ITEMS, one every 0.05 s. */
static void *producer(void *arg)
{
    long p = (long)(intptr_t)arg;
    for (long i = 1; i <= ITEMS; i++) {
        long item = p * 100 + i;
        int r = green_sleep(0.05);
        if (r == 0) {
            r = green_queue_put(queue, (void *)(intptr_t)item, GREEN_FOREVER);
        }
        if (r < 0) {
            return green_fail(r);
        }
        produced_sum += item;
        printf("%-10s put %ld (queue size %zu)\n", me(), item,
               green_queue_size(queue));
    }
    return NULL;
}

/* Takes items for ever; processing one takes 0.1 s. */
static void *consumer(void *arg)
{
    for (;;) {
        void *item;
        int r = green_queue_get(queue, GREEN_FOREVER, &item);
        if (r < 0) {
            printf("%-10s stops: %s\n", me(), strerror(-r));
            return green_fail(r);
        }
        r = green_sleep(0.1);
        consumed_sum += (long)(intptr_t)item;
        consumed_count++;
        printf("%-10s processed %ld\n", me(), (long)(intptr_t)item);
        int d = green_queue_task_done(queue);
        r = r < 0 ? r : d;
        if (r < 0) {
            return green_fail(r);
        }
    }
}

static int spawn_named(green_task_t **t, green_fn_t fn, void *arg,
                       const char *name)
{
    green_spawn_opts_t o = { .name = name };
    int r = green_spawn_ex(t, fn, arg, &o);
    if (r < 0) {
        fprintf(stderr, "green_spawn_ex: %s\n", strerror(-r));
    }
    return r;
}

int main(void)
{
    static const char *const pnames[] = { "producer1", "producer2" };
    static const char *const cnames[] = { "consumer1", "consumer2" };
    green_task_t *prod[PRODUCERS], *cons[CONSUMERS];
    int r = green_queue_new(&queue, GREEN_QUEUE_FIFO, 0, NULL);
    if (r < 0) {
        fprintf(stderr, "green_queue_new: %s\n", strerror(-r));
        return 1;
    }
    for (int i = 0; i < PRODUCERS; i++) {
        if (spawn_named(&prod[i], producer, (void *)(intptr_t)(i + 1),
                        pnames[i]) < 0) {
            return 1;
        }
    }
    for (int i = 0; i < CONSUMERS; i++) {
        if (spawn_named(&cons[i], consumer, NULL, cnames[i]) < 0) {
            return 1;
        }
    }

    if ((r = green_joinall(prod, PRODUCERS, GREEN_FOREVER)) < 0 ||
        (r = green_queue_join(queue, 10.0)) < 0) {
        fprintf(stderr, "waiting for the work: %s\n", strerror(-r));
        return 1;
    }
    printf("main       queue joined: %d items processed, cancelling the "
           "consumers\n", consumed_count);
    int ok = consumed_count == PRODUCERS * ITEMS &&
             consumed_sum == produced_sum && green_queue_empty(queue);

    for (int i = 0; i < CONSUMERS && r == 0; i++) {
        r = green_kill(cons[i]);
    }
    if (r < 0 || (r = green_joinall(cons, CONSUMERS, GREEN_FOREVER)) < 0) {
        fprintf(stderr, "green_joinall: %s\n", strerror(-r));
        return 1;
    }
    for (int i = 0; i < PRODUCERS; i++) {
        ok = ok && green_task_status(prod[i]) == GREEN_TASK_DONE;
        green_task_release(prod[i]);
    }
    for (int i = 0; i < CONSUMERS; i++) {
        ok = ok && green_task_status(cons[i]) == GREEN_TASK_CANCELLED;
        green_task_release(cons[i]);
    }
    if ((r = green_queue_free(queue)) < 0) {
        fprintf(stderr, "green_queue_free: %s\n", strerror(-r));
        return 1;
    }
    printf("produced sum %ld, consumed sum %ld: %s\n", produced_sum,
           consumed_sum, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
