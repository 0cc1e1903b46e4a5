/* SPDX-License-Identifier: MIT */
/* Queues between greenlets (gevent.queue, asyncio.Queue) and an
 * unbuffered Channel (gevent.queue.Channel, Go's unbuffered chan).
 *
 * Items are pointers, passed as they are. Waiters are served strictly in
 * the order they began waiting: an item put while getters wait goes
 * straight to the first of them, and a slot freed in a full bounded queue
 * goes to the first waiting putter, so no latecomer can overtake them.
 *
 * Every queue is joinable (asyncio.Queue / gevent JoinableQueue): each
 * item put counts as unfinished until someone calls green_queue_task_done()
 * for it; green_queue_join() waits for the count to reach zero.
 *
 * Closing wakes everyone waiting: putters fail with -EPIPE at once, getters
 * first drain what is left and then fail with -EPIPE.
 *
 * Greenlets of any OS thread's hub may share a queue or a channel: a put
 * on one thread hands its item to a getter parked on another, and a close
 * ends waits on every thread. -EPERM is only a wait in the hub itself. */
#ifndef GREEN_QUEUE_H
#define GREEN_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct green_queue green_queue_t;

typedef enum {
    GREEN_QUEUE_FIFO = 0, /* first in, first out */
    GREEN_QUEUE_LIFO,     /* last in, first out */
    GREEN_QUEUE_PRIORITY  /* smallest first by cmp; ties in FIFO order */
} green_queue_kind_t;

/* Orders two items for a priority queue: < 0 when a comes first. */
typedef int (*green_queue_cmp_t)(const void *a, const void *b);

/* Makes a queue holding at most maxsize items (0: unbounded). cmp is for
 * GREEN_QUEUE_PRIORITY (NULL there orders items by their pointer value,
 * handy for small integers cast to pointers) and ignored otherwise.
 * Returns 0 and *out, or -EINVAL (out NULL, unknown kind), -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_queue_new(green_queue_t **out, green_queue_kind_t kind,
                                 size_t maxsize, green_queue_cmp_t cmp);

/* Frees q (items still in it are dropped, not freed). Returns 0, -EINVAL,
 * -EBUSY (greenlets wait on it). Switching: never switches. */
GREEN_EXTERN int green_queue_free(green_queue_t *q);

/* Puts item, waiting at most timeout seconds while the queue is full.
 * Returns 0, or -EINVAL, -EPERM, -EPIPE (closed), -ETIMEDOUT, -ECANCELED
 * (the caller was killed), -EDEADLK, -ENOMEM. Switching: may switch. */
GREEN_EXTERN int green_queue_put(green_queue_t *q, void *item,
                                 double timeout);

/* Puts item if there is room now: 0, or -EAGAIN (full), -EPIPE, -EINVAL,
 * -ENOMEM. Switching: never switches. */
GREEN_EXTERN int green_queue_put_nowait(green_queue_t *q, void *item);

/* Takes the next item into *item (item may be NULL), waiting at most
 * timeout seconds while the queue is empty. Returns 0, or -EINVAL, -EPERM,
 * -EPIPE (closed and empty), -ETIMEDOUT, -ECANCELED, -EDEADLK.
 * Switching: may switch. */
GREEN_EXTERN int green_queue_get(green_queue_t *q, double timeout,
                                 void **item);

/* Takes the next item if there is one now: 0, or -EAGAIN (empty), -EPIPE
 * (closed and empty), -EINVAL, -ENOMEM. Switching: never switches. */
GREEN_EXTERN int green_queue_get_nowait(green_queue_t *q, void **item);

/* Marks one item got earlier as processed. Returns 0, or -EINVAL (NULL,
 * or more calls than items put), -ENOMEM. Switching: never switches. */
GREEN_EXTERN int green_queue_task_done(green_queue_t *q);

/* Waits until every item put has been marked done, at most timeout
 * seconds. Returns 0, -EINVAL, -EPERM, -ETIMEDOUT, -ECANCELED, -EDEADLK.
 * Switching: may switch. */
GREEN_EXTERN int green_queue_join(green_queue_t *q, double timeout);

/* Closes q (see the top of this file). Returns 0, -EINVAL, -ENOMEM.
 * Switching: never switches. */
GREEN_EXTERN int green_queue_close(green_queue_t *q);

/* The number of items in q now; whether it is empty, full, closed.
 * Switching: never switches. */
GREEN_EXTERN size_t green_queue_size(const green_queue_t *q);
GREEN_EXTERN bool green_queue_empty(const green_queue_t *q);
GREEN_EXTERN bool green_queue_full(const green_queue_t *q);
GREEN_EXTERN bool green_queue_closed(const green_queue_t *q);

/* Channel: a queue with no buffer. A send waits until a receiver takes
 * the item; a receive waits until a sender offers one. Same errors as the
 * queue calls they mirror. */
typedef struct green_queue green_channel_t;

/* Make and free, as green_queue_new() and green_queue_free() do.
 * Switching: never switches. */
GREEN_EXTERN int green_channel_new(green_channel_t **out);
GREEN_EXTERN int green_channel_free(green_channel_t *ch);
/* Send and receive, each waiting at most timeout seconds for the other
 * side, as green_queue_put() and green_queue_get() do. Switching: may
 * switch. */
GREEN_EXTERN int green_channel_send(green_channel_t *ch, void *item,
                                    double timeout);
GREEN_EXTERN int green_channel_recv(green_channel_t *ch, double timeout,
                                    void **item);
/* Close, as green_queue_close() does. Switching: never switches. */
GREEN_EXTERN int green_channel_close(green_channel_t *ch);

#ifdef __cplusplus
}
#endif

#endif
