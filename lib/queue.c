/* SPDX-License-Identifier: MIT */
/* Queues and channels, usable from greenlets of any OS thread's hub.
 *
 * Items live in one growable array used three ways: a ring (FIFO), a stack
 * (LIFO) or a binary heap (priority, with a sequence number so that equal
 * items leave in FIFO order). Waiting putters, getters and joiners keep a
 * record on their own stack (struct green__xwait) in the queue's FIFOs, so a
 * hand-off writes the item straight into the waiter's record: whoever
 * waited longest is served first, and nobody can snatch an item between
 * the wake-up and the moment the woken greenlet runs.
 *
 * Sharing: everything in the queue is under its guard, and waiters wait
 * with records of lib/crosswait.h, so greenlets of any OS thread's hub
 * may use one queue.
 *
 * A channel is a queue of capacity 0: with nothing buffered, every item
 * goes from a putter's record to a getter's. */
#include "internal.h"
#include "crosswait.h"

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
    struct green__link getters;   /* struct green__xwait: to get, FIFO */
    struct green__link putters;   /* ...to put */
    struct green__link joiners;   /* ...for unfinished == 0 */
    struct green__guard guard;    /* over all of the above */
};

/* The caller's OS thread state, or NULL with *r set. */
static struct green__thread *caller(const green_queue_t *q, int *r)
{
    if (q == NULL) {
        *r = -EINVAL;
        return NULL;
    }
    struct green__thread *t = green__thread_get();
    *r = t != NULL ? 0 : -ENOMEM;
    return t;
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

/* Hands item to the first waiting getter, if any. */
static bool hand_off(green_queue_t *q, struct green__thread *t,
                     void *item)
{
    struct green__xwait *w = green__xwait_take(&q->getters, t,
                                               GREEN__XW_SERVED, true, item);
    if (w == NULL) {
        return false;
    }
    green__xwait_wake(w, t);
    return true;
}

/* Takes the item of the first waiting putter, if any. */
static bool take_from_putter(green_queue_t *q, struct green__thread *t,
                             void **item)
{
    struct green__xwait *w = green__xwait_take(&q->putters, t,
                                               GREEN__XW_SERVED, false, NULL);
    if (w == NULL) {
        return false;
    }
    *item = w->item; /* before the wake-up: then its frame may go */
    green__xwait_wake(w, t);
    return true;
}

static void serve_all(struct green__link *l, struct green__thread *t,
                      int state)
{
    struct green__xwait *w;
    while ((w = green__xwait_take(l, t, state, false, NULL)) != NULL) {
        green__xwait_wake(w, t);
    }
}

static int put(green_queue_t *q, void *item, double timeout, bool wait)
{
    int r;
    struct green__thread *t = caller(q, &r);
    if (t == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &q->guard, t);
    if (q->closed) {
        r = -EPIPE;
    } else if (hand_off(q, t, item)) {
        r = 0;
        accepted(q);
    } else if (q->count < q->max) {
        if ((r = store_push(q, item)) == 0) {
            accepted(q);
        }
    } else if (!wait) {
        r = -EAGAIN;
    } else {
        struct green__xwait w = {.item = item};
        return green__xwait_wait(&h, &q->putters, &w, t, timeout,
                                 "green_queue_put on", q);
    }
    green__guard_drop(&h);
    return r;
}

static int get(green_queue_t *q, double timeout, void **item, bool wait)
{
    int r;
    struct green__thread *t = caller(q, &r);
    if (t == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &q->guard, t);
    void *v = NULL;
    if (q->count > 0) {
        v = store_pop(q);
        void *next;
        if (q->count < q->max && take_from_putter(q, t, &next)) {
            store_push(q, next); /* cannot fail: a slot was just freed */
            accepted(q);
        }
    } else if (take_from_putter(q, t, &v)) {
        accepted(q); /* a channel: straight from the putter */
    } else if (q->closed) {
        r = -EPIPE;
    } else if (!wait) {
        r = -EAGAIN;
    } else {
        struct green__xwait w = {.item = NULL};
        if ((r = green__xwait_wait(&h, &q->getters, &w, t, timeout,
                                   "green_queue_get on", q)) == 0 &&
            item != NULL) {
            *item = w.item;
        }
        return r;
    }
    green__guard_drop(&h);
    if (r == 0 && item != NULL) {
        *item = v;
    }
    return r;
}

static int queue_new(green_queue_t **out, green_queue_kind_t kind, size_t max,
                     green_queue_cmp_t cmp)
{
    if (out == NULL || (unsigned)kind > GREEN_QUEUE_PRIORITY) {
        return -EINVAL;
    }
    green_queue_t *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return -ENOMEM;
    }
    q->max = max;
    q->kind = kind;
    q->cmp = cmp;
    green__xlist_init(&q->getters);
    green__xlist_init(&q->putters);
    green__xlist_init(&q->joiners);
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
    if (q == NULL) {
        return -EINVAL;
    }
    if (!green__xlist_empty(&q->getters) || !green__xlist_empty(&q->putters) ||
        !green__xlist_empty(&q->joiners)) {
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
    int r;
    struct green__thread *t = caller(q, &r);
    if (t == NULL) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &q->guard, t);
    if (q->unfinished == 0) {
        r = -EINVAL;
    } else if (--q->unfinished == 0) {
        serve_all(&q->joiners, t, GREEN__XW_SERVED);
    }
    green__guard_drop(&h);
    return r;
}

int green_queue_join(green_queue_t *q, double timeout)
{
    int r;
    struct green__thread *t = caller(q, &r);
    if (t == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &q->guard, t);
    if (q->unfinished == 0) {
        green__guard_drop(&h);
        return 0;
    }
    struct green__xwait w = {.item = NULL};
    return green__xwait_wait(&h, &q->joiners, &w, t, timeout,
                             "green_queue_join on", q);
}

int green_queue_close(green_queue_t *q)
{
    int r;
    struct green__thread *t = caller(q, &r);
    if (t == NULL) {
        return r;
    }
    struct green__held h;
    green__guard_take(&h, &q->guard, t);
    q->closed = true;
    serve_all(&q->getters, t, -EPIPE);
    serve_all(&q->putters, t, -EPIPE);
    green__guard_drop(&h);
    return 0;
}

size_t green_queue_size(const green_queue_t *q)
{
    return q != NULL ? __atomic_load_n(&q->count, __ATOMIC_RELAXED) : 0;
}

bool green_queue_empty(const green_queue_t *q)
{
    return green_queue_size(q) == 0;
}

bool green_queue_full(const green_queue_t *q)
{
    return q != NULL && green_queue_size(q) >= q->max;
}

bool green_queue_closed(const green_queue_t *q)
{
    return q != NULL && __atomic_load_n(&q->closed, __ATOMIC_RELAXED);
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
