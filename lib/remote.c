/* SPDX-License-Identifier: MIT */
/* Wake-ups that cross OS threads.
 *
 * A greenlet parks on its own OS thread's hub, and only that thread may
 * touch its state or its ready queue. A waker on another OS thread (a
 * native thread posting to a futex word a green thread waits on, a worker
 * of the thread pool finishing a job, later another hub) pushes a record
 * onto the target thread's inbox instead, and the hub delivers it with an
 * ordinary green__hub_wake() at its next turn.
 *
 * The inbox is a lock-free stack (a Treiber stack: compare-and-swap on
 * its head), which any number of threads may push to and only the owner
 * drains, taking the whole list with one exchange and reversing it so
 * that wake-ups are delivered in the order they were sent. Only the push
 * that finds the inbox empty sends the hub's ev_async (an eventfd write):
 * a burst of wake-ups costs one system call, and none when the hub is
 * already going to look. The hub looks at every turn with one relaxed
 * load (green__remote_poll), so a wake-up sent while it runs greenlets is
 * picked up without the async's round trip.
 *
 * The record is the waiter's, so nothing is allocated; the waiter keeps
 * it alive until `done`, which the hub sets after reading what it needs,
 * on the waiter's own thread: the waiter cannot run between the two. */
#include "internal.h"

#include <ev.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "handoff.h"
#include "rawsys.h"

void (*green__remote_task)(struct green__remote *r);

void green__remote_wake(struct green__remote *r)
{
    struct green__thread *t = r->g->thread;
    /* Counted before the push: once r is in, its greenlet may run, and
     * its thread end and destroy the loop the signal below goes to
     * (green__hub_thread_term waits for the count to fall). */
    __atomic_add_fetch(&t->senders, 1, __ATOMIC_ACQ_REL);
    __atomic_store_n(&r->done, 0, __ATOMIC_RELAXED);
    struct green__remote *head = __atomic_load_n(&t->remote,
                                                 __ATOMIC_RELAXED);
    do {
        r->next = head;
    } while (!__atomic_compare_exchange_n(&t->remote, &head, r, true,
                                          __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    if (head == NULL) {
        ev_async_send(t->loop, t->sig_async);
    }
    __atomic_sub_fetch(&t->senders, 1, __ATOMIC_RELEASE);
}

void green__remote_drain(struct green__thread *t)
{
    struct green__remote *list =
        __atomic_exchange_n(&t->remote, NULL, __ATOMIC_ACQUIRE);
    struct green__remote *fifo = NULL;
    while (list != NULL) { /* newest first: reverse */
        struct green__remote *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo != NULL) {
        struct green__remote *r = fifo;
        fifo = r->next;
        struct greenlet *g = r->g;
        int code = r->code;
        __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
        if (GREEN__UNLIKELY(code == GREEN__TASK_MSG)) {
            /* a record of the task's own */
            __atomic_load_n(&green__remote_task, __ATOMIC_ACQUIRE)(r);
            continue;
        }
        if (GREEN__UNLIKELY(code == GREEN__REJOIN)) {
            /* its old host waits for this (lib/handoff.c) */
            green__syscall(SYS_futex, &r->done, FUTEX_WAKE_PRIVATE, 1);
            green__handoff_arrived(t, g);
            continue;
        }
        green__hub_wake(g, code);
    }
}
