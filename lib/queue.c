/* SPDX-License-Identifier: MIT */
/* Queues and channels.
 *
 * Items live in one growable array used three ways: a ring (FIFO), a stack
 * (LIFO) or a binary heap (priority, with a sequence number so that equal
 * items leave in FIFO order). Waiting putters and getters keep a record on
 * their own stack (struct qwait, reached through greenlet.wait_data), so a
 * hand-off writes the item straight into the waiter's record: whoever
 * waited longest is served first, and nobody can snatch an item between
 * the wake-up and the moment the woken greenlet runs.
 *
 * A channel is a queue of capacity 0: with nothing buffered, every item
 * goes from a putter's record to a getter's. */
#include "internal.h"

#include "green/queue.h"

#include <stdint.h>
#include <stdlib.h>

struct entry {
    void *item;
    unsigned long long seq;       /* order of arrival, for heap ties */
};

struct green_queue {
    struct entry *buf;            /* items; see the top of this file */
    size_t alloc;                 /* slots in buf */
    size_t head;                  /* first item of the FIFO ring */
    size_t count;                 /* items held */
    size_t max;                   /* capacity: SIZE_MAX unbounded, 0 channel */
    unsigned long long seq;       /* next arrival number */
    green_queue_kind_t kind;
    green_queue_cmp_t cmp;        /* priority order, or NULL: by pointer */
    bool closed;
    size_t unfinished;            /* items accepted, not yet task_done */
    struct green__waitq getters;  /* waiting to get, FIFO */
    struct green__waitq putters;  /* waiting to put, FIFO */
    struct green__waitq joiners;  /* waiting for unfinished == 0 */
    struct green__thread *thread; /* owner */
};

/* A waiter's record: the item it offers or receives. */
struct qwait {
    void *item;
    bool done;                    /* the hand-off happened */
};

static int check(const green_queue_t *q)
{
    if (q == NULL) {
        return -EINVAL;
    }
    return q->thread == green__thread_peek() ? 0 : -EPERM;
}

static bool before(const green_queue_t *q, const struct entry *a,
                   const struct entry *b)
{
    int c = q->cmp != NULL ? q->cmp(a->item, b->item)
            : (uintptr_t)a->item < (uintptr_t)b->item ? -1
            : (uintptr_t)a->item > (uintptr_t)b->item ? 1 : 0;
    return c < 0 || (c == 0 && a->seq < b->seq);
}

/* Makes room for one more item. */
static int grow(green_queue_t *q)
{
    if (q->count < q->alloc) {
        return 0;
    }
    size_t n = q->alloc != 0 ? q->alloc * 2 : 16;
    struct entry *b = malloc(n * sizeof(*b));
    if (b == NULL) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < q->count; i++) { /* unwrap the ring */
        b[i] = q->buf[(q->head + i) % q->alloc];
    }
    free(q->buf);
    q->buf = b;
    q->alloc = n;
    q->head = 0;
    return 0;
}

static int store_push(green_queue_t *q, void *item)
{
    int r = grow(q);
    if (r != 0) {
        return r;
    }
    struct entry e = { item, q->seq++ };
    if (q->kind == GREEN_QUEUE_FIFO) {
        q->buf[(q->head + q->count) % q->alloc] = e;
    } else if (q->kind == GREEN_QUEUE_LIFO) {
        q->buf[q->count] = e;
    } else {
        size_t i = q->count;
        while (i > 0 && before(q, &e, &q->buf[(i - 1) / 2])) {
            q->buf[i] = q->buf[(i - 1) / 2];
            i = (i - 1) / 2;
        }
        q->buf[i] = e;
    }
    q->count++;
    return 0;
}

static void *store_pop(green_queue_t *q)
{
    q->count--;
    if (q->kind == GREEN_QUEUE_FIFO) {
        void *item = q->buf[q->head].item;
        q->head = (q->head + 1) % q->alloc;
        return item;
    }
    if (q->kind == GREEN_QUEUE_LIFO) {
        return q->buf[q->count].item;
    }
    void *top = q->buf[0].item;
    struct entry last = q->buf[q->count];
    size_t i = 0;
    for (;;) { /* sift the last entry down from the root */
        size_t c = 2 * i + 1;
        if (c >= q->count) {
            break;
        }
        if (c + 1 < q->count && before(q, &q->buf[c + 1], &q->buf[c])) {
            c++;
        }
        if (!before(q, &q->buf[c], &last)) {
            break;
        }
        q->buf[i] = q->buf[c];
        i = c;
    }
    q->buf[i] = last;
    return top;
}

/* Counts an item in for task_done/join (channels are not joinable). */
static void accepted(green_queue_t *q)
{
    if (q->max != 0) {
        q->unfinished++;
    }
}

/* Hands item to the first waiting greenlet of wq, if any. */
static bool hand_off(struct green__waitq *wq, void *item)
{
    struct greenlet *g = green__waitq_pop(wq);
    if (g == NULL) {
        return false;
    }
    struct qwait *w = g->wait_data;
    w->item = item;
    w->done = true;
    green__hub_wake(g, 0);
    return true;
}

/* Takes the item of the first waiting putter, if any. */
static bool take_from_putter(green_queue_t *q, void **item)
{
    struct greenlet *g = green__waitq_pop(&q->putters);
    if (g == NULL) {
        return false;
    }
    struct qwait *w = g->wait_data;
    *item = w->item;
    w->done = true;
    green__hub_wake(g, 0);
    return true;
}

/* Parks the caller on wq with its record; 0 once served. */
static int wait_on(green_queue_t *q, struct green__waitq *wq,
                   struct qwait *w, double timeout, const char *what)
{
    struct greenlet *self = greenlet_current();
    self->wait_data = w;
    int r = green__waitq_wait(wq, timeout, what, q);
    self->wait_data = NULL;
    return w->done ? 0 : r;
}

static int put(green_queue_t *q, void *item, double timeout, bool wait)
{
    int r = check(q);
    if (r != 0 || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    if (q->closed) {
        return -EPIPE;
    }
    if (hand_off(&q->getters, item)) {
        accepted(q);
        return 0;
    }
    if (q->count < q->max) {
        if ((r = store_push(q, item)) == 0) {
            accepted(q);
        }
        return r;
    }
    if (!wait) {
        return -EAGAIN;
    }
    struct qwait w = { item, false };
    return wait_on(q, &q->putters, &w, timeout, "green_queue_put on");
}

static int get(green_queue_t *q, double timeout, void **item, bool wait)
{
    int r = check(q);
    if (r != 0 || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    void *v;
    if (q->count > 0) {
        v = store_pop(q);
        void *next;
        if (q->count < q->max && take_from_putter(q, &next)) {
            store_push(q, next); /* cannot fail: a slot was just freed */
            accepted(q);
        }
    } else if (take_from_putter(q, &v)) {
        accepted(q); /* a channel: straight from the putter */
    } else if (q->closed) {
        return -EPIPE;
    } else if (!wait) {
        return -EAGAIN;
    } else {
        struct qwait w = { NULL, false };
        if ((r = wait_on(q, &q->getters, &w, timeout,
                         "green_queue_get on")) != 0) {
            return r;
        }
        v = w.item;
    }
    if (item != NULL) {
        *item = v;
    }
    return 0;
}

static int queue_new(green_queue_t **out, green_queue_kind_t kind, size_t max,
                     green_queue_cmp_t cmp)
{
    if (out == NULL || (unsigned)kind > GREEN_QUEUE_PRIORITY) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    green_queue_t *q = t != NULL ? calloc(1, sizeof(*q)) : NULL;
    if (q == NULL) {
        return -ENOMEM;
    }
    q->max = max;
    q->kind = kind;
    q->cmp = cmp;
    green__waitq_init(&q->getters);
    green__waitq_init(&q->putters);
    green__waitq_init(&q->joiners);
    q->thread = t;
    *out = q;
    return 0;
}

int green_queue_new(green_queue_t **out, green_queue_kind_t kind,
                    size_t maxsize, green_queue_cmp_t cmp)
{
    return queue_new(out, kind, maxsize != 0 ? maxsize : SIZE_MAX, cmp);
}

int green_queue_free(green_queue_t *q)
{
    int r = check(q);
    if (r != 0) {
        return r;
    }
    if (!green__waitq_empty(&q->getters) || !green__waitq_empty(&q->putters) ||
        !green__waitq_empty(&q->joiners)) {
        return -EBUSY;
    }
    free(q->buf);
    free(q);
    return 0;
}

int green_queue_put(green_queue_t *q, void *item, double timeout)
{
    return put(q, item, timeout, true);
}

int green_queue_put_nowait(green_queue_t *q, void *item)
{
    return put(q, item, 0.0, false);
}

int green_queue_get(green_queue_t *q, double timeout, void **item)
{
    return get(q, timeout, item, true);
}

int green_queue_get_nowait(green_queue_t *q, void **item)
{
    return get(q, 0.0, item, false);
}

int green_queue_task_done(green_queue_t *q)
{
    int r = check(q);
    if (r != 0 || q->unfinished == 0) {
        return r != 0 ? r : -EINVAL;
    }
    if (--q->unfinished == 0) {
        green__waitq_wake_all(&q->joiners, 0);
    }
    return 0;
}

int green_queue_join(green_queue_t *q, double timeout)
{
    int r = check(q);
    if (r != 0 || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    if (q->unfinished == 0) {
        return 0;
    }
    /* The first event wins: killed or timed out first, that is the answer
     * even if the count reached zero before we ran again. */
    return green__waitq_wait(&q->joiners, timeout, "green_queue_join on", q);
}

int green_queue_close(green_queue_t *q)
{
    int r = check(q);
    if (r == 0) {
        q->closed = true;
        green__waitq_wake_all(&q->getters, -EPIPE);
        green__waitq_wake_all(&q->putters, -EPIPE);
    }
    return r;
}

size_t green_queue_size(const green_queue_t *q)
{
    return q != NULL ? q->count : 0;
}

bool green_queue_empty(const green_queue_t *q)
{
    return q == NULL || q->count == 0;
}

bool green_queue_full(const green_queue_t *q)
{
    return q != NULL && q->count >= q->max;
}

bool green_queue_closed(const green_queue_t *q)
{
    return q != NULL && q->closed;
}

int green_channel_new(green_channel_t **out)
{
    return queue_new(out, GREEN_QUEUE_FIFO, 0, NULL);
}

int green_channel_free(green_channel_t *ch)
{
    return green_queue_free(ch);
}

int green_channel_send(green_channel_t *ch, void *item, double timeout)
{
    return put(ch, item, timeout, true);
}

int green_channel_recv(green_channel_t *ch, double timeout, void **item)
{
    return get(ch, timeout, item, true);
}

int green_channel_close(green_channel_t *ch)
{
    return green_queue_close(ch);
}
