/* SPDX-License-Identifier: MIT */
/* The parking lot (see parking.h): WebKit's ParkingLot and the kernel's
 * futex hash table, for greenlets.
 *
 * Design. A fixed table of buckets, each a spinlock and a FIFO of waiter
 * records, is indexed by a hash of the address. A waiter's record lives
 * in its park's frame: parking allocates nothing, and the table's size
 * is fixed, so a million waiters cost a million records on a million
 * stacks and nothing else. Collisions only share a queue; every waker
 * compares addresses.
 *
 * The lock is a spinlock because its sections are a few list operations
 * long, never park and never call out, except to the caller's check (a
 * load and a compare) and hand-off callbacks of the same size; a holder
 * that stays long (descheduled) makes a contending thread yield the CPU
 * after a few hundred spins.
 *
 * A waker takes the record out of the queue under the lock and then wakes
 * its greenlet: directly, with green__hub_wake(), when the waker runs on
 * the waiter's own OS thread, else through that thread's inbox
 * (lib/remote.c). A waiter whose park ended for another reason (timeout,
 * signal, kill) takes the lock and leaves the queue itself, unless a
 * waker took it out first: then the waker's wake-up wins, and if it is a
 * remote one still on its way, the waiter waits for it (shielded) before
 * its record, which the wake-up points to, goes out of scope. */
#include "parking.h"

#include "internal.h"
#include "real.h"
#include "scheduler.h"

#include <sched.h>

#define NBUCKETS 1024 /* a power of two */

#if defined(__x86_64__) || defined(__i386__)
# define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
# define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
# define cpu_relax() ((void)0)
#endif

enum {
    QUEUED = 0,  /* in its bucket's queue */
    WOKEN,       /* taken out and woken on its own thread */
    SENT         /* taken out; a remote wake-up is on its way */
};

struct parker {
    struct green__link link;    /* in the bucket's queue while QUEUED */
    const void *addr;
    void *token;                /* the parker's, for green__unpark_one */
    unsigned bitset;
    int state;                  /* set under the bucket's lock; read
                                   without it once not QUEUED */
    struct green__remote remote;/* for a waker on another OS thread */
};

struct bucket {
    int lock;
    struct green__link queue;   /* zero until first used */
} __attribute__((aligned(64)));

static struct bucket table[NBUCKETS];

static struct bucket *bucket_of(const void *addr)
{
    uint64_t h = (uint64_t)(uintptr_t)addr * 0x9e3779b97f4a7c15ull;
    return &table[h >> (64 - 10)];
}

static void lock(struct bucket *b)
{
    for (unsigned spins = 0;; spins++) {
        if (__atomic_load_n(&b->lock, __ATOMIC_RELAXED) == 0 &&
            !__atomic_exchange_n(&b->lock, 1, __ATOMIC_ACQUIRE)) {
            break;
        }
        if (spins < 256) {
            cpu_relax();
        } else {
            GREEN_REAL(sched_yield)();
        }
    }
    if (GREEN__UNLIKELY(b->queue.next == NULL)) {
        b->queue.next = b->queue.prev = &b->queue;
    }
}

static void unlock(struct bucket *b)
{
    __atomic_store_n(&b->lock, 0, __ATOMIC_RELEASE);
}

static void enqueue(struct bucket *b, struct parker *p)
{
    p->link.prev = b->queue.prev;
    p->link.next = &b->queue;
    b->queue.prev->next = &p->link;
    b->queue.prev = &p->link;
}

/* Locks the bucket p is queued in: a requeue may move p to another
 * address, and does so holding both buckets' locks. */
static struct bucket *lock_parker(struct parker *p)
{
    for (;;) {
        const void *a = __atomic_load_n(&p->addr, __ATOMIC_RELAXED);
        struct bucket *b = bucket_of(a);
        lock(b);
        if (p->addr == a) {
            return b;
        }
        unlock(b);
    }
}

static struct parker *parker_of(struct green__link *l)
{
    return GREEN__CONTAINER(l, struct parker, link);
}

/* Whether p's greenlet, on the waker's own OS thread, was killed
 * (green_kill) and is only waiting for its turn to leave the queue: a
 * waker passes over it, as the wait queues do (lib/waitq.c), so that a
 * wake-up or a hand-off is not spent on a waiter whose wait fails with
 * -ECANCELED (task.h: a kill ends the call it is in). A timeout or a
 * signal in the same turn loses to the waker, as in the kernel's futex
 * queue. A waiter on another OS thread cannot be read: there the waker
 * wins. */
static bool leaving(const struct parker *p, const struct green__thread *self)
{
    return green__wait_killed(p->remote.g, self);
}

/* Takes p out of its queue (the bucket is locked) and marks how it will
 * be woken; remote ones are chained on *sendq for after the unlock. */
static void take(struct parker *p, struct green__thread *self,
                 struct green__remote **sendq)
{
    green__link_remove(&p->link);
    struct greenlet *g = p->remote.g;
    if (g->thread == self) {
        /* Last touch of p: its waiter may look without the lock. */
        __atomic_store_n(&p->state, WOKEN, __ATOMIC_RELEASE);
        green__hub_wake(g, 0);
    } else {
        p->remote.code = 0;
        p->remote.next = *sendq;
        *sendq = &p->remote;
        __atomic_store_n(&p->state, SENT, __ATOMIC_RELEASE);
    }
}

/* Sends the remote wake-ups take() chained, after the bucket's unlock. */
static void send_all(struct green__remote *q)
{
    while (q != NULL) {
        struct green__remote *next = q->next;
        green__remote_wake(q);
        q = next;
    }
}

int green__park_token(const void *addr, green_park_check_fn check,
                      void *arg, unsigned bitset, double timeout, int intr,
                      bool remote, const char *what, void *token)
{
    int err;
    struct green__thread *t = green__may_block(&err);
    if (t == NULL) {
        return err;
    }
    struct greenlet *self = t->current;
    struct parker p = {.addr = addr, .token = token, .bitset = bitset,
                       .state = QUEUED};
    p.remote.g = self;
    struct bucket *b = bucket_of(addr);
    lock(b);
    if (check != NULL && !check(addr, arg)) {
        unlock(b);
        return -EAGAIN;
    }
    enqueue(b, &p);
    unlock(b);

    t->nwatch += remote;
    err = green__hub_park_intr(timeout, what, addr, intr);
    t->nwatch -= remote;

    /* Taken out by a waker: final, and the waker is done with p (take),
     * so no lock is needed to know it. Still queued: leave under it. */
    int state = __atomic_load_n(&p.state, __ATOMIC_ACQUIRE);
    if (state == QUEUED) {
        b = lock_parker(&p);
        state = p.state;
        if (state == QUEUED) {
            green__link_remove(&p.link);
        }
        unlock(b);
    }
    if (state == QUEUED) {
        return err; /* timeout, signal, kill, deadlock (or spurious 0) */

    }
    /* A waker chose us: its wake-up wins. A remote one may still be on
     * its way, and it points into this frame. */
    if (state == SENT) {
        unsigned char shield = self->flags & GREEN__SHIELD;
        self->flags |= GREEN__SHIELD;
        t->nwatch++;
        while (!__atomic_load_n(&p.remote.done, __ATOMIC_ACQUIRE)) {
            green__hub_park_intr(GREEN_FOREVER, what, addr,
                                 GREEN__INTR_NEVER);
        }
        t->nwatch--;
        self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) |
                                      shield);
    }
    return 0;
}

int green__unpark(const void *addr, int n, unsigned bitset)
{
    struct green__thread *self = green__thread_peek();
    struct green__remote *sendq = NULL;
    struct bucket *b = bucket_of(addr);
    int woken = 0;
    lock(b);
    for (struct green__link *l = b->queue.next;
         l != &b->queue && woken < n;) {
        struct parker *p = parker_of(l);
        l = l->next;
        if (p->addr == addr && (p->bitset & bitset) != 0 &&
            !leaving(p, self)) {
            take(p, self, &sendq);
            woken++;
        }
    }
    unlock(b);
    send_all(sendq);
    return woken;
}

bool green__unpark_one(const void *addr, green_unpark_fn fn, void *arg)
{
    struct green__thread *self = green__thread_peek();
    struct green__remote *sendq = NULL;
    struct bucket *b = bucket_of(addr);
    struct parker *first = NULL;
    bool more = false;
    lock(b);
    for (struct green__link *l = b->queue.next; l != &b->queue;
         l = l->next) {
        struct parker *p = parker_of(l);
        if (p->addr == addr && !leaving(p, self)) {
            first = p;
            /* Anyone behind it, without reading their records: with
             * thousands parked, the next one's is a cache miss. */
            more = l->next != &b->queue;
            break;
        }
    }
    if (fn != NULL) {
        fn(arg, first != NULL ? first->token : NULL, first != NULL, more);
    }
    if (first != NULL) {
        take(first, self, &sendq);
    }
    unlock(b);
    send_all(sendq);
    return first != NULL;
}

int green__unpark_requeue(const void *addr, int nwake, const void *addr2,
                          int nmove, green_park_check_fn check, void *arg)
{
    struct green__thread *self = green__thread_peek();
    struct green__remote *sendq = NULL;
    struct bucket *b = bucket_of(addr), *b2 = bucket_of(addr2);
    /* Two locks, always in table order. */
    struct bucket *lo = b < b2 ? b : b2, *hi = b < b2 ? b2 : b;
    lock(lo);
    if (hi != lo) {
        lock(hi);
    }
    int r;
    if (check != NULL && !check(addr, arg)) {
        r = -EAGAIN;
    } else {
        int woken = 0, moved = 0;
        for (struct green__link *l = b->queue.next; l != &b->queue;) {
            struct parker *p = parker_of(l);
            l = l->next;
            if (p->addr != addr || leaving(p, self)) {
                continue;
            }
            if (woken < nwake) {
                take(p, self, &sendq);
                woken++;
            } else if (moved < nmove) {
                green__link_remove(&p->link);
                __atomic_store_n(&p->addr, addr2, __ATOMIC_RELAXED);
                enqueue(b2, p);
                moved++;
            } else {
                break;
            }
        }
        r = woken + moved;
    }
    if (hi != lo) {
        unlock(hi);
    }
    unlock(lo);
    send_all(sendq);
    return r;
}

bool green__parked_on(const void *addr)
{
    struct bucket *b = bucket_of(addr);
    bool found = false;
    lock(b);
    for (struct green__link *l = b->queue.next; l != &b->queue && !found;
         l = l->next) {
        found = parker_of(l)->addr == addr;
    }
    unlock(b);
    return found;
}
