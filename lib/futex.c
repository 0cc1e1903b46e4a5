/* SPDX-License-Identifier: MIT */
/* Futexes for green threads: what syscall(SYS_futex, ...) does under the
 * preload (preload/futex.c), on top of the parking lot (parking.h).
 * C++20's std::atomic::wait and notify (and so counting_semaphore, latch
 * and barrier), Rust's Mutex, Condvar and Once, MariaDB's own locks all
 * wait with syscall(SYS_futex, ...). WAIT, WAKE, their BITSET forms,
 * REQUEUE, CMP_REQUEUE and WAKE_OP, private and shared, with relative and
 * absolute timeouts on either clock, park and wake green threads, and
 * still reach the kernel's waiters. The priority-inheritance futexes
 * (LOCK_PI, WAIT_REQUEUE_PI, ...) are the kernel's: their owner is a
 * kernel thread id, which all green threads of an OS thread share.
 *
 * Wakers. A FUTEX_WAKE made through here (syscall() under the preload)
 * from any OS thread wakes the green waiters on the word first (up to the
 * count), then asks the kernel for the rest, so that native threads and
 * other processes waiting on the word wake too; the count returned is
 * both together.
 *
 * Waiters the kernel alone can wake. A wake-up that does not come through
 * here — another process's on a shared futex, a raw syscall
 * instruction or glibc's internal futex calls in another OS thread —
 * reaches only the kernel's queue, where a green waiter is not. The
 * choices were a helper OS thread waiting in the kernel on every word
 * green threads wait on (futex_waitv: at most 128 words, and every green
 * park and leave would cost a system call to tell it), or a bounded
 * poll. This takes the poll, made cheap: per OS thread, one poller task
 * (a greenlet, spawned by the first waiter and ending with the last)
 * rechecks the word of every green wait in progress on that thread at an
 * interval, and wakes the waiters of a word that changed, which FUTEX_WAIT
 * may always do (futex(2): a return of 0 may be a spurious wake-up; every
 * caller rechecks its condition). The interval is 1 ms, doubling to 32 ms
 * while such a waker can exist — some waiter's futex is shared (another
 * process may map it) or the process has OS threads besides this one and
 * the runtime's own (green__other_os_threads(), the kernel's count, read
 * at most every 5 ms) — and to 1 s otherwise, which covers a native
 * thread made during the wait; a new wait that may have raw wakers starts
 * it over. Waits that green threads end cost no system call and no timer
 * of their own: they are parked once, with the caller's own timeout.
 * What the poll cannot see: a raw wake-up that leaves the word as it was
 * (futex protocols change the word before they wake; a word going
 * A -> B -> A between two looks is the same case), and a raw wake-up of
 * a green waiter a requeue moved to another word (its record still names
 * the first); such a wait runs on to its timeout or a green wake-up.
 *
 * Faults. The word is read under the parking lot's lock; a word on a
 * page that is not mapped would fault there where the kernel says
 * EFAULT. So the first wait on a page in each OS thread asks the kernel
 * first (a FUTEX_CMP_REQUEUE that moves nobody, which reads the word and
 * touches no waiter), and the page is remembered (a few per OS thread).
 * A page unmapped after a wait on it faults instead of EFAULT: the
 * program waits on memory it freed.
 *
 * Green waits are shielded from green_kill (POSIX gives syscall() no
 * ECANCELED), and end with EINTR as the kernel's do: an untimed wait
 * unless the handler has SA_RESTART, a timed one always (only the main
 * green thread is ever interrupted, as elsewhere). */
#include "futex.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <math.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "parking.h"
#include "real.h"
#include "scheduler.h"
#include "workers.h"

/* Set once some green thread waited: until then wakers skip the parking
 * lot. */
static int green_waited;

/* The poller's interval in seconds: from MIXED_FIRST, doubling to
 * MIXED_CAP while raw wakers may exist, to PURE_CAP otherwise. */
#define MIXED_FIRST 0.001
#define MIXED_CAP 0.032
#define PURE_CAP 1.0

/* The kernel's futex, as a negative errno. */
static long real_futex(void *w, int op, long val, const void *ts, void *w2,
                       long val3)
{
    long r = GREEN_REAL(syscall)(SYS_futex, w, op, val, ts, w2, val3);
    return r == -1 ? -(long)errno : r;
}

/* --- pages known to be readable ----------------------------------------- */

#define PAGES 8

static __thread uintptr_t known[PAGES]
    __attribute__((tls_model("initial-exec")));
static __thread unsigned known_next
    __attribute__((tls_model("initial-exec")));

/* 0 if the 4-byte word at p can be read, else the kernel's errno for it
 * (EFAULT; EINVAL for a misaligned one). */
static int readable(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (a & 3) {
        return EINVAL;
    }
    uintptr_t page = (a >> 12) + 1; /* + 1: 0 marks an empty slot */
    for (unsigned i = 0; i < PAGES; i++) {
        if (known[i] == page) {
            return 0;
        }
    }
    /* A requeue of nobody reads the word (EFAULT, or EAGAIN when it is
     * not val3) and touches no waiter. */
    long r = real_futex((void *)p, FUTEX_CMP_REQUEUE | FUTEX_PRIVATE_FLAG, 0,
                        NULL, (void *)p, 0);
    int e = r < 0 ? (int)-r : 0;
    if (e == 0 || e == EAGAIN) {
        known[known_next++ % PAGES] = page;
        return 0;
    }
    return e;
}

/* --- the poller ---------------------------------------------------------- */

/* A green wait in progress, in its frame, on its OS thread's list. */
struct rec {
    struct rec *next, **pprev;
    const uint32_t *w;
    uint32_t val;
    bool shared;
};

/* Per OS thread (struct green__thread's futex): its green waits in
 * progress, and its poller, a task that runs while there are any. */

static bool word_is(const void *addr, void *arg)
{
    return __atomic_load_n((const uint32_t *)addr, __ATOMIC_SEQ_CST) ==
           *(uint32_t *)arg;
}

static bool mixed_now(bool shared)
{
    return shared || green__other_os_threads();
}

static void *poller(void *arg)
{
    struct green__thread *t = arg;
    t->futex.poller = t->current;
    t->futex.slice = MIXED_FIRST;
    while (t->futex.waits != NULL) {
        int r = green__hub_park(t->futex.slice, "futex poll", NULL);
        if (r != 0 && r != -ETIMEDOUT) {
            break; /* killed (never: nothing knows it), or no hub */
        }
        bool woke = false, shared = false;
        for (struct rec *q = t->futex.waits; q != NULL; q = q->next) {
            if (!word_is(q->w, &q->val)) {
                green__unpark(q->w, INT_MAX, FUTEX_BITSET_MATCH_ANY);
                woke = true;
            }
            shared |= q->shared;
        }
        double cap = mixed_now(shared) ? MIXED_CAP : PURE_CAP;
        t->futex.slice = woke || r == 0 ? MIXED_FIRST
                                        : fmin(t->futex.slice * 2, cap);
    }
    t->futex.poller = NULL;
    t->futex.running = false;
    return NULL;
}

/* Adds q to this thread's waits, and makes sure the poller runs soon
 * enough for a wait that raw wakers may reach (mixed). */
static void rec_add(struct green__thread *t, struct rec *q, bool mixed)
{
    int pid = (int)getpid();
    if (GREEN__UNLIKELY(t->futex.pid != pid)) {
        /* A forked child (or the first wait): the parent's waits and
         * poller stayed there. */
        t->futex.waits = NULL;
        t->futex.running = false;
        t->futex.poller = NULL;
        t->futex.pid = pid;
    }
    struct rec *head = t->futex.waits;
    q->next = head;
    q->pprev = (struct rec **)&t->futex.waits;
    if (head != NULL) {
        head->pprev = &q->next;
    }
    t->futex.waits = q;
    if (!t->futex.running) {
        green_spawn_opts_t o = {.name = "futex poll",
                                .stack_size = 32 << 10};
        t->futex.running = green_spawn_ex(NULL, poller, t, &o) == 0;
        t->futex.slice = MIXED_FIRST;
    } else if (mixed && t->futex.slice > MIXED_FIRST &&
               t->futex.poller != NULL) {
        green__hub_wake(t->futex.poller, 0); /* sooner: it starts over */
    }
}

static void rec_remove(struct rec *q)
{
    *q->pprev = q->next;
    if (q->next != NULL) {
        q->next->pprev = q->pprev;
    }
}

/* --- waiting ------------------------------------------------------------- */

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The kernel's test of a timeout: EINVAL unless 0 <= sec, 0 <= nsec < 1e9. */
static bool bad_timespec(const struct timespec *ts)
{
    return ts->tv_sec < 0 || ts->tv_nsec < 0 || ts->tv_nsec >= 1000000000L;
}

/* A green FUTEX_WAIT / FUTEX_WAIT_BITSET. ts: NULL, relative (abs false,
 * on the monotonic clock) or absolute on clk. */
static long green_wait_on(uint32_t *w, uint32_t val, unsigned bitset,
                       const struct timespec *ts, bool abs, clockid_t clk,
                       bool shared)
{
    if (ts != NULL) {
        if (readable(ts) != 0) {
            return -EFAULT;
        }
        if (bad_timespec(ts)) {
            return -EINVAL;
        }
    }
    if (bitset == 0) {
        return -EINVAL;
    }
    int e = readable(w);
    if (e != 0) {
        return -e;
    }
    double deadline = INFINITY; /* on clk */
    if (ts != NULL) {
        double s = (double)ts->tv_sec + (double)ts->tv_nsec / 1e9;
        deadline = abs ? s : clock_s(clk) + s;
    }
    int intr = ts != NULL ? GREEN__INTR_ALWAYS : GREEN__INTR_RESTART;
    struct green__thread *t = green__thread_peek();
    struct greenlet *self = t->current;
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    __atomic_store_n(&green_waited, 1, __ATOMIC_RELAXED);

    struct rec q = {.w = w, .val = val, .shared = shared};
    rec_add(t, &q, mixed_now(shared));
    bool noted = green__wait_note(self, GREEN__WAIT_FUTEX, (long)val, 0);
    int r;
    for (bool first = true;; first = false) {
        double left = isfinite(deadline) ? deadline - clock_s(clk)
                                         : INFINITY;
        if (left <= 0.0) {
            /* The kernel compares before it sleeps, even when the
             * deadline has passed. */
            r = first && !word_is(w, &val) ? -EAGAIN : -ETIMEDOUT;
            break;
        }
        r = green__park(w, word_is, &val, bitset, left, intr, true,
                        "futex wait on");
        if (r == -EAGAIN && !first) {
            r = 0; /* (a realtime deadline moved) it changed: woken */
        }
        /* The hub's timers are monotonic; a realtime deadline that has
         * not passed on its own clock (the clock was set back) waits on. */
        if (r != -ETIMEDOUT || clock_s(clk) >= deadline) {
            break;
        }
    }
    green__wait_unnote(self, noted);
    rec_remove(&q);
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    return r;
}

/* --- waking -------------------------------------------------------------- */

/* FUTEX_WAKE(_BITSET): green waiters first, then the kernel's. */
static long wake(uint32_t *w, int op, int n, unsigned bitset)
{
    int cmd = op & FUTEX_CMD_MASK;
    if (!__atomic_load_n(&green_waited, __ATOMIC_RELAXED) || bitset == 0 ||
        ((uintptr_t)w & 3) != 0) {
        return real_futex(w, op, n, NULL, NULL, (long)bitset);
    }
    /* The kernel wakes one even when asked for none. */
    int want = n <= 0 ? 1 : n;
    int g = green__unpark(w, want, bitset);
    if (g >= want) {
        return g;
    }
    long k = cmd == FUTEX_WAKE_BITSET
                 ? real_futex(w, op, want - g, NULL, NULL, (long)bitset)
                 : real_futex(w, op, want - g, NULL, NULL, 0);
    if (k < 0) {
        return g > 0 ? g : k;
    }
    return g + k;
}

/* FUTEX_REQUEUE and FUTEX_CMP_REQUEUE. */
static long requeue(uint32_t *w, int op, long nwake, long nmove, uint32_t *w2,
                    uint32_t val3)
{
    bool cmp = (op & FUTEX_CMD_MASK) == FUTEX_CMP_REQUEUE;
    if (!__atomic_load_n(&green_waited, __ATOMIC_RELAXED) || nwake < 0 ||
        nmove < 0 || (int)nwake != nwake || (int)nmove != nmove ||
        readable(w) != 0 || readable(w2) != 0) {
        return real_futex(w, op, nwake, (void *)nmove, w2, val3);
    }
    int gw = green__unpark_requeue(w, (int)nwake, w2, 0,
                                   cmp ? word_is : NULL, &val3);
    if (gw == -EAGAIN) {
        return -EAGAIN;
    }
    int gm = 0;
    if (nmove > 0 && w2 != w) {
        gm = green__unpark_requeue(w, 0, w2, (int)nmove, NULL, NULL);
    } else if (nmove > 0) {
        /* Onto the same word: to the back of its queue, as the kernel
         * does, by way of an address of this frame's own. */
        char via;
        gm = green__unpark_requeue(w, 0, &via, (int)nmove, NULL, NULL);
        green__unpark_requeue(&via, 0, w, INT_MAX, NULL, NULL);
    }
    long k = real_futex(w, op, nwake - gw, (void *)(nmove - gm), w2, val3);
    if (k < 0) {
        return gw + gm > 0 ? gw + gm : k;
    }
    return gw + gm + k;
}

/* FUTEX_WAKE_OP's operation and comparison (futex(2)), on the old value. */
static bool op_cond(uint32_t val3, uint32_t old, uint32_t now)
{
    unsigned op = (val3 >> 28) & 7, cmp = (val3 >> 24) & 15;
    int oparg = (int)(val3 << 8) >> 20, cmparg = (int)(val3 << 20) >> 20;
    if (val3 & ((uint32_t)FUTEX_OP_OPARG_SHIFT << 28)) {
        oparg = (int)(1u << (oparg & 31));
    }
    uint32_t want;
    switch (op) {
    case FUTEX_OP_SET: want = (uint32_t)oparg; break;
    case FUTEX_OP_ADD: want = old + (uint32_t)oparg; break;
    case FUTEX_OP_OR: want = old | (uint32_t)oparg; break;
    case FUTEX_OP_ANDN: want = old & ~(uint32_t)oparg; break;
    case FUTEX_OP_XOR: want = old ^ (uint32_t)oparg; break;
    default: return true;
    }
    if (want != now) {
        return true; /* someone else changed it too: wake, to be safe */
    }
    int o = (int)old;
    switch (cmp) {
    case FUTEX_OP_CMP_EQ: return o == cmparg;
    case FUTEX_OP_CMP_NE: return o != cmparg;
    case FUTEX_OP_CMP_LT: return o < cmparg;
    case FUTEX_OP_CMP_LE: return o <= cmparg;
    case FUTEX_OP_CMP_GT: return o > cmparg;
    case FUTEX_OP_CMP_GE: return o >= cmparg;
    default: return true;
    }
}

/* FUTEX_WAKE_OP: the kernel does the operation on *w2 and wakes its own
 * waiters; green waiters of w are woken too (up to nwake), and those of
 * w2 (up to nwake2) when the comparison holds for the value the word had
 * just before the kernel's operation (or, should another thread have
 * changed it in between, in any case: a spurious wake-up, never a lost
 * one). */
static long wake_op(uint32_t *w, int op, long nwake, long nwake2,
                    uint32_t *w2, uint32_t val3)
{
    if (!__atomic_load_n(&green_waited, __ATOMIC_RELAXED) || nwake < 0 ||
        nwake2 < 0 || readable(w2) != 0) {
        return real_futex(w, op, nwake, (void *)nwake2, w2, val3);
    }
    uint32_t old = __atomic_load_n(w2, __ATOMIC_SEQ_CST);
    long k = real_futex(w, op, nwake, (void *)nwake2, w2, val3);
    if (k < 0) {
        return k;
    }
    uint32_t now = __atomic_load_n(w2, __ATOMIC_SEQ_CST);
    int g = green__unpark(w, (int)(nwake > INT_MAX ? INT_MAX : nwake), ~0u);
    if (op_cond(val3, old, now)) {
        g += green__unpark(w2, (int)(nwake2 > INT_MAX ? INT_MAX : nwake2),
                           ~0u);
    }
    return k + g;
}

long green__futex(uint32_t *w, int op, long val, const void *ts,
                  uint32_t *w2, long val3, bool green_wait)
{
    int cmd = op & FUTEX_CMD_MASK;
    bool shared = !(op & FUTEX_PRIVATE_FLAG);
    bool rt = (op & FUTEX_CLOCK_REALTIME) != 0;
    if (green_wait && (cmd == FUTEX_WAIT || cmd == FUTEX_WAIT_BITSET)) {
        /* A green wait needs a hub, and a greenlet that is not the hub. */
        struct green__thread *t = green__hub_thread();
        green_wait = t != NULL && !(t->current->flags & GREEN__HUB);
    }
    switch (cmd) {
    case FUTEX_WAIT:
        if (rt || !green_wait) {
            break; /* CLOCK_REALTIME with FUTEX_WAIT: the kernel's ENOSYS */
        }
        return green_wait_on(w, (uint32_t)val, FUTEX_BITSET_MATCH_ANY, ts,
                             false, CLOCK_MONOTONIC, shared);
    case FUTEX_WAIT_BITSET:
        if (!green_wait) {
            break;
        }
        return green_wait_on(w, (uint32_t)val, (unsigned)val3, ts, true,
                             rt ? CLOCK_REALTIME : CLOCK_MONOTONIC, shared);
    case FUTEX_WAKE:
    case FUTEX_WAKE_BITSET:
        if (rt) {
            break;
        }
        return wake(w, op, (int)val,
                    cmd == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY
                                      : (unsigned)val3);
    case FUTEX_REQUEUE:
    case FUTEX_CMP_REQUEUE:
        if (rt) {
            break;
        }
        return requeue(w, op, val, (long)ts, w2, (uint32_t)val3);
    case FUTEX_WAKE_OP:
        if (rt) {
            break;
        }
        return wake_op(w, op, val, (long)ts, w2, (uint32_t)val3);
    default:
        break;
    }
    return real_futex(w, op, val, ts, w2, val3);
}
