/* SPDX-License-Identifier: MIT */
/* Green POSIX semaphores: sem_init, sem_wait and its try / timed / clock
 * forms, sem_post, sem_getvalue, sem_destroy, in the bytes of sem_t.
 *
 * Fair like lib/lock.c's semaphore: a post with waiters hands the unit to
 * the first one instead of raising the value, so nobody overtakes a
 * waiter, and a waiter that timed out has left the queue already.
 *
 * Process-shared semaphores (sem_init with pshared, and every sem_open)
 * keep glibc's layout and protocol, since another process (native or
 * preloaded) or a native thread may wait on them or post: a 64-bit word
 * with the value in its low half and the number of waiters in its high
 * half, and glibc's `private` word at offset 8 (FUTEX_PRIVATE_FLAG or 0)
 * where a green semaphore keeps SEM_MAGIC. Their waits park on the
 * value's half through lib/futex.c (green__futex), which polls a word
 * others may change and wakes the kernel's waiters too, so a wait never
 * blocks the OS thread. Any sem_t without the magic is taken to be
 * glibc's (sem_init(s, 1, n), sem_open's, one made before the preload).
 *
 * These are the libc boundary: errors become -1 and errno (green__ret).
 * A signal handler ends the wait with EINTR as it does on Linux (not
 * quite as signal(7) says): sem_timedwait and sem_clockwait always,
 * sem_wait unless the handler has SA_RESTART. EDEADLK when nothing could
 * ever post. */
#include "thread.h"

#include "cancel.h"

#include "futex.h"

#include <limits.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <stdint.h>
#include <string.h>

#define SEM_MAGIC 0x6772736du /* "grsm" */

struct gsem {
    unsigned value;               /* free units (glibc's value is here too) */
    unsigned spare0;
    unsigned magic;               /* SEM_MAGIC; glibc's `private` word */
    unsigned spare1;
    struct green__waitq waiters;  /* FIFO; zero bytes when empty */
};

_Static_assert(sizeof(struct gsem) <= sizeof(sem_t),
               "a green semaphore fits in sem_t");
_Static_assert(_Alignof(struct gsem) <= _Alignof(sem_t),
               "and is aligned like it");

static inline struct gsem *gs(sem_t *s)
{
    return (struct gsem *)(void *)s;
}

static inline bool sem_green(sem_t *s)
{
    return green__thread_on() && gs(s)->magic == SEM_MAGIC;
}

/* glibc's semaphore, waited on by a thread that runs green pthreads. */
static inline bool sem_libc_green(sem_t *s)
{
    return green__thread_on() && gs(s)->magic != SEM_MAGIC;
}

/* --- glibc's semaphores ----------------------------------------------------- */

struct libc_sem {
    uint64_t data;                /* value | waiters << 32 */
    int private;                  /* FUTEX_PRIVATE_FLAG, or 0: shared */
    int pad;
};

_Static_assert(sizeof(struct libc_sem) <= sizeof(sem_t), "glibc's layout");

#define NWAITERS_ONE ((uint64_t)1 << 32)

static inline struct libc_sem *ls(sem_t *s)
{
    return (struct libc_sem *)(void *)s;
}

/* The half of data the futex is on: the value's. */
static inline uint32_t *value_word(struct libc_sem *s)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return (uint32_t *)(void *)&s->data + 1;
#else
    return (uint32_t *)(void *)&s->data;
#endif
}

static bool libc_try(struct libc_sem *s)
{
    uint64_t d = __atomic_load_n(&s->data, __ATOMIC_RELAXED);
    while ((uint32_t)d > 0) {
        if (__atomic_compare_exchange_n(&s->data, &d, d - 1, true,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            return true;
        }
    }
    return false;
}

/* sem_wait on glibc's semaphore: registered as a waiter while it waits
 * for the value to leave 0. */
static int libc_take(struct libc_sem *s, bool try, clockid_t clock,
                     const struct timespec *abs)
{
    if (libc_try(s)) {
        return 0;
    }
    if (try) {
        return -EAGAIN;
    }
    int op = FUTEX_WAIT_BITSET | (s->private & FUTEX_PRIVATE_FLAG) |
             (abs != NULL && clock == CLOCK_REALTIME ? FUTEX_CLOCK_REALTIME
                                                     : 0);
    uint64_t d = __atomic_add_fetch(&s->data, NWAITERS_ONE, __ATOMIC_RELAXED);
    for (;;) {
        if ((uint32_t)d == 0) {
            long r = abs != NULL && abs->tv_sec < 0
                         ? -ETIMEDOUT
                         : green__futex(value_word(s), op, 0, abs, NULL,
                                        (long)FUTEX_BITSET_MATCH_ANY, true);
            if (r == -ETIMEDOUT || r == -EINTR) {
                __atomic_sub_fetch(&s->data, NWAITERS_ONE, __ATOMIC_RELAXED);
                return (int)r;
            }
            d = __atomic_load_n(&s->data, __ATOMIC_RELAXED);
            continue;
        }
        if (__atomic_compare_exchange_n(&s->data, &d, d - 1 - NWAITERS_ONE,
                                        true, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
            return 0;
        }
    }
}

static int libc_post(struct libc_sem *s)
{
    uint64_t d = __atomic_load_n(&s->data, __ATOMIC_RELAXED);
    do {
        if ((uint32_t)d >= SEM_VALUE_MAX) {
            return -EOVERFLOW;
        }
    } while (!__atomic_compare_exchange_n(&s->data, &d, d + 1, true,
                                          __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    if ((d >> 32) != 0) {
        green__futex(value_word(s), FUTEX_WAKE | (s->private & FUTEX_PRIVATE_FLAG),
                     1, NULL, NULL, 0, false);
    }
    return 0;
}

/* --- green semaphores ------------------------------------------------------- */

/* Takes a unit, waiting (unless try) until abs on clock if given. */
static int sem_take(struct gsem *s, bool try, clockid_t clock,
                    const struct timespec *abs)
{
    if (s->value > 0) { /* with hand-off, a value means nobody waits */
        s->value--;
        return 0;
    }
    if (try) {
        return -EAGAIN;
    }
    /* As on Linux: the kernel restarts an untimed futex wait after an
     * SA_RESTART handler, never a timed one. */
    bool handed;
    return green__objq_wait(&s->waiters, &handed, clock, abs,
                            abs != NULL ? GREEN__INTR_ALWAYS
                                        : GREEN__INTR_RESTART,
                            "sem_wait on", s);
}

/* sem_timedwait and sem_clockwait check the deadline before anything. */
static int sem_timed(sem_t *s, clockid_t clock, const struct timespec *abs)
{
    int r = green__deadline_check(clock, abs);
    if (r != 0) {
        return (int)green__ret(r);
    }
    if (sem_green(s)) {
        r = GREEN__CANCELLABLE(int, sem_take(gs(s), false, clock, abs));
    } else {
        r = GREEN__CANCELLABLE(int, libc_take(ls(s), false, clock, abs));
    }
    return (int)green__ret(r);
}

GREEN_INTERPOSE int sem_init(sem_t *s, int pshared, unsigned value)
{
    if (!green__thread_on() || pshared != 0) {
        return GREEN_REAL(sem_init)(s, pshared, value);
    }
    if (value > SEM_VALUE_MAX) {
        return (int)green__ret(-EINVAL);
    }
    memset(s, 0, sizeof(*s));
    gs(s)->value = value;
    gs(s)->magic = SEM_MAGIC;
    return 0;
}

GREEN_INTERPOSE int sem_destroy(sem_t *s)
{
    if (!sem_green(s)) {
        return GREEN_REAL(sem_destroy)(s);
    }
    if (!green__objq_empty(&gs(s)->waiters)) {
        return (int)green__ret(-EBUSY);
    }
    gs(s)->magic = 0;
    return 0;
}

GREEN_INTERPOSE int sem_wait(sem_t *s)
{
    if (sem_libc_green(s)) {
        return (int)green__ret(GREEN__CANCELLABLE(
            int, libc_take(ls(s), false, CLOCK_REALTIME, NULL)));
    }
    if (!sem_green(s)) {
        return GREEN_REAL(sem_wait)(s);
    }
    return (int)green__ret(GREEN__CANCELLABLE(
        int, sem_take(gs(s), false, CLOCK_REALTIME, NULL)));
}

GREEN_INTERPOSE int sem_trywait(sem_t *s)
{
    if (sem_libc_green(s)) {
        return (int)green__ret(libc_take(ls(s), true, CLOCK_REALTIME, NULL));
    }
    if (!sem_green(s)) {
        return GREEN_REAL(sem_trywait)(s);
    }
    return (int)green__ret(sem_take(gs(s), true, CLOCK_REALTIME, NULL));
}

GREEN_INTERPOSE int sem_timedwait(sem_t *s, const struct timespec *abs)
{
    if (!green__thread_on()) {
        return GREEN_REAL(sem_timedwait)(s, abs);
    }
    return sem_timed(s, CLOCK_REALTIME, abs);
}

GREEN_INTERPOSE int sem_clockwait(sem_t *s, clockid_t clock,
                                  const struct timespec *abs)
{
    if (!green__thread_on()) {
        return GREEN_REAL(sem_clockwait)(s, clock, abs);
    }
    return sem_timed(s, clock, abs);
}

GREEN_INTERPOSE int sem_post(sem_t *ps)
{
    if (sem_libc_green(ps)) {
        return (int)green__ret(libc_post(ls(ps))); /* wakes green waiters */
    }
    if (!sem_green(ps)) {
        return GREEN_REAL(sem_post)(ps);
    }
    struct gsem *s = gs(ps);
    if (green__objq_handoff(&s->waiters) != NULL) {
        return 0;
    }
    if (s->value >= SEM_VALUE_MAX) {
        return (int)green__ret(-EOVERFLOW);
    }
    s->value++;
    return 0;
}

GREEN_INTERPOSE int sem_getvalue(sem_t *s, int *value)
{
    if (!sem_green(s)) {
        return GREEN_REAL(sem_getvalue)(s, value);
    }
    *value = (int)gs(s)->value;
    return 0;
}
