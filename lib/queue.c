/* SPDX-License-Identifier: MIT */
/* Queues and channels, usable from greenlets of any OS thread's hub.
 *
 * Items live in one growable array used three ways: a ring (FIFO), a stack
 * (LIFO) or a binary heap (priority, with a sequence number so that equal
 * items leave in FIFO order). Waiting putters, getters and joiners keep a
 * record on their own stack (struct qwait) in the queue's FIFOs, so a
 * hand-off writes the item straight into the waiter's record: whoever
 * waited longest is served first, and nobody can snatch an item between
 * the wake-up and the moment the woken greenlet runs.
 *
 * Sharing. Everything in the queue is guarded by its spinlock, which the
 * solo thread skips (lib/solo.h: while one OS thread alone has green
 * state its plain section is the lock). A waiter queues its record, lets
 * the lock go and parks on its own hub; the waker marks the record with
 * the lock held and wakes the waiter, directly on its own OS thread or
 * through the waiter's thread's inbox (lib/remote.c), and a waiter whose
 * park ended otherwise takes the lock before it reads its record, so a
 * hand-off and a timeout never both win. A waiter of the waker's own OS
 * thread that was killed is passed over, as in the wait queues.
 *
 * A channel is a queue of capacity 0: with nothing buffered, every item
 * goes from a putter's record to a getter's. */
#include "internal.h"
#include "solo.h"

#include "green/queue.h"

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

#include "real.h"

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
    struct green__link getters;   /* struct qwait waiting to get, FIFO */
    struct green__link putters;   /* ...to put */
    struct green__link joiners;   /* ...for unfinished == 0 */
    int lock;                     /* guards all of the above */
};

/* A waiter's record: the item it offers or receives, and how its wait
 * ended (written by the waker with the queue locked). */
enum { WAITING = 0, SERVED = 1 }; /* or -EPIPE: closed */

struct qwait {
    struct green__link link;      /* in one of the queue's FIFOs */
    struct greenlet *g;
    void *item;
    int state;                    /* written with the queue held */
    bool sent;                    /* woken through g's thread's inbox */
    struct green__remote remote;  /* ...with this */
};

/* --- the queue's lock -------------------------------------------------- */

/* How the caller holds the queue: as the solo thread (no lock), or by
 * its spinlock. */
struct held {
    green_queue_t *q;
    bool solo;
};

static void lock(struct held *h, green_queue_t *q, struct green__thread *t)
{
    h->q = q;
    h->solo = green__solo_enter(t);
    if (h->solo) {
        return;
    }
    for (unsigned spins = 0;; spins++) {
        if (__atomic_load_n(&q->lock, __ATOMIC_RELAXED) == 0 &&
            !__atomic_exchange_n(&q->lock, 1, __ATOMIC_ACQUIRE)) {
            return;
        }
        if (spins < 256) {
            __asm__ __volatile__("" ::: "memory");
        } else {
            GREEN_REAL(sched_yield)();
        }
    }
}

static void unlock(struct held *h)
{
    if (h->solo) {
        green__solo_leave();
    } else {
        __atomic_store_n(&h->q->lock, 0, __ATOMIC_RELEASE);
    }
}

/* The caller's OS thread state, or NULL for -ENOMEM; q must not be NULL. */
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

static void list_init(struct green__link *l)
{
    l->next = l->prev = l;
}

static bool list_empty(const struct green__link *l)
{
    return __atomic_load_n(&l->next, __ATOMIC_RELAXED) == l;
}

static void list_push(struct green__link *l, struct qwait *w)
{
    w->link.prev = l->prev;
    w->link.next = l;
    l->prev->next = &w->link;
    l->prev = &w->link;
}

/* The first waiter of l that was not killed (on this thread), taken out
 * of the list, or NULL. */
static struct qwait *list_pop(struct green__link *l,
                              const struct green__thread *t)
{
    for (struct green__link *e = l->next; e != l; e = e->next) {
        struct qwait *w = GREEN__CONTAINER(e, struct qwait, link);
        if (!green__wait_killed(w->g, t)) {
            green__link_remove(&w->link);
            return w;
        }
    }
    return NULL;
}

/* Ends w's wait with state (the queue is locked). A waiter of this OS
 * thread is woken directly; one of another goes through its thread's
 * inbox, and waits for the delivery before its record goes. The waiter
 * queued itself and parked on its own hub with nothing in between that
 * could let its hub run, so the inbox's wake-up always finds it parked. */
static void serve(struct qwait *w, int state)
{
    w->state = state;
    struct greenlet *g = w->g;
    if (g->thread == green__thread_peek()) {
        green__hub_wake(g, 0);
    } else {
        w->sent = true;
        w->remote.g = g;
        w->remote.code = 0;
        green__remote_wake(&w->remote);
    }
}

static void serve_all(struct green__link *l, const struct green__thread *t,
                      int state)
{
    struct qwait *w;
    while ((w = list_pop(l, t)) != NULL) {
        serve(w, state);
    }
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
static bool hand_off(green_queue_t *q, const struct green__thread *t,
                     void *item)
{
    struct qwait *w = list_pop(&q->getters, t);
    if (w == NULL) {
        return false;
    }
    w->item = item;
    serve(w, SERVED);
    return true;
}

/* Takes the item of the first waiting putter, if any. */
static bool take_from_putter(green_queue_t *q, const struct green__thread *t,
                             void **item)
{
    struct qwait *w = list_pop(&q->putters, t);
    if (w == NULL) {
        return false;
    }
    *item = w->item;
    serve(w, SERVED);
    return true;
}

/* With q held by *h: queues w on l, lets q go and parks until a waker
 * ends the wait or the timeout, a kill or a deadlock does; returns with
 * q let go, 0 once served, the waker's error, or the park's. */
static int wait_on(struct held *h, struct green__link *l, struct qwait *w,
                   double timeout, const char *what)
{
    green_queue_t *q = h->q;
    struct green__thread *t = w->g->thread;
    w->state = WAITING;
    w->sent = false;
    list_push(l, w);
    unlock(h);
    t->nmaybe++; /* another OS thread may serve it (lib/hub.c) */
    int r = green__hub_park(timeout, what, q);
    t->nmaybe--;
    lock(h, q, t);
    int state = w->state;
    if (state == WAITING) {
        green__link_remove(&w->link); /* not served: our own end */
    }
    unlock(h);
    if (state != WAITING && w->sent) {
        /* Served from another thread: its wake-up, which points into
         * this frame, may still be on its way. */
        unsigned char shield = w->g->flags & GREEN__SHIELD;
        w->g->flags |= GREEN__SHIELD;
        t->nwatch++;
        while (!__atomic_load_n(&w->remote.done, __ATOMIC_ACQUIRE)) {
            green__hub_park(GREEN_FOREVER, what, q);
        }
        t->nwatch--;
        w->g->flags = (unsigned char)((w->g->flags & ~GREEN__SHIELD) |
                                      shield);
    }
    return state == SERVED ? 0 : state == WAITING ? r : state;
}

static int put(green_queue_t *q, void *item, double timeout, bool wait)
{
    int r;
    struct green__thread *t = caller(q, &r);
    if (t == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    struct held h;
    lock(&h, q, t);
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
        struct qwait w = {.g = t->current, .item = item};
        return wait_on(&h, &q->putters, &w, timeout, "green_queue_put on");
    }
    unlock(&h);
    return r;
}

static int get(green_queue_t *q, double timeout, void **item, bool wait)
{
    int r;
    struct green__thread *t = caller(q, &r);
    if (t == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    struct held h;
    lock(&h, q, t);
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
        struct qwait w = {.g = t->current};
        if ((r = wait_on(&h, &q->getters, &w, timeout,
                         "green_queue_get on")) == 0 && item != NULL) {
            *item = w.item;
        }
        return r;
    }
    unlock(&h);
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
    list_init(&q->getters);
    list_init(&q->putters);
    list_init(&q->joiners);
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
    if (!list_empty(&q->getters) || !list_empty(&q->putters) ||
        !list_empty(&q->joiners)) {
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
    struct held h;
    lock(&h, q, t);
    if (q->unfinished == 0) {
        r = -EINVAL;
    } else if (--q->unfinished == 0) {
        serve_all(&q->joiners, t, SERVED);
    }
    unlock(&h);
    return r;
}

int green_queue_join(green_queue_t *q, double timeout)
{
    int r;
    struct green__thread *t = caller(q, &r);
    if (t == NULL || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    struct held h;
    lock(&h, q, t);
    if (q->unfinished == 0) {
        unlock(&h);
        return 0;
    }
    struct qwait w = {.g = t->current};
    return wait_on(&h, &q->joiners, &w, timeout, "green_queue_join on");
}

int green_queue_close(green_queue_t *q)
{
    int r;
    struct green__thread *t = caller(q, &r);
    if (t == NULL) {
        return r;
    }
    struct held h;
    lock(&h, q, t);
    q->closed = true;
    serve_all(&q->getters, t, -EPIPE);
    serve_all(&q->putters, t, -EPIPE);
    unlock(&h);
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
