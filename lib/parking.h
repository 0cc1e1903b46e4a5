/* SPDX-License-Identifier: MIT */
/* The parking lot: greenlets waiting on an address (lib/parking.c).
 *
 * What a futex is to the kernel, this is to green threads: a wait on a
 * word's address, checked and queued atomically with respect to wakers of
 * the same address, and a wake-up of some of the waiters. Green mutexes,
 * condition variables and semaphores that keep glibc's own layouts, and
 * futex calls made through syscall(), are built on it. Any OS thread may
 * wake, also one that is not green; waiters are greenlets. */
#ifndef GREEN_PARKING_H
#define GREEN_PARKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The check a park makes under the address's lock: the waiter parks only
 * if it returns true (a futex's "*addr == expected"). It must not block,
 * switch or park. */
typedef bool (*green_park_check_fn)(const void *addr, void *arg);

/* What a waker learns under the lock, for lock hand-offs: the token the
 * first waiter parked with (green__park_token), whether it found a
 * waiter and whether others may remain parked on the address (true if
 * anyone is queued behind it in the address's bucket: a waiter of an
 * address that shares the bucket, or one that is leaving, counts too, so
 * false means surely none). */
typedef void (*green_unpark_fn)(void *arg, void *token, bool woke,
                                bool more);

/* Parks the running greenlet on addr, carrying token for a waker's
 * green__unpark_one callback, if check (NULL: always) holds, until
 * a wake-up for addr whose bitset shares a bit with `bitset` (futex's
 * WAIT_BITSET; ~0u for any), the timeout (seconds, GREEN_FOREVER), a
 * signal as intr allows (enum green__intr) or a kill. remote says that a
 * thread other than this OS thread may be the waker: the wait then counts
 * as one the deadlock check must not give up on. what names the wait for
 * reports.
 *
 * Returns 0 (woken by a waker), -EAGAIN (check said no: not parked),
 * -ETIMEDOUT, -EINTR, -ECANCELED, -EDEADLK, -EPERM (the hub), -ENOMEM.
 * A waker that chose this waiter always wins over a timeout or signal
 * that ends the wait at the same time: the park then returns 0, so a
 * hand-off is never lost. May switch. */
int green__park_token(const void *addr, green_park_check_fn check,
                      void *arg, unsigned bitset, double timeout, int intr,
                      bool remote, const char *what, void *token);

static inline int green__park(const void *addr, green_park_check_fn check,
                              void *arg, unsigned bitset, double timeout,
                              int intr, bool remote, const char *what)
{
    return green__park_token(addr, check, arg, bitset, timeout, intr, remote,
                             what, NULL);
}

/* Wakes up to n waiters on addr whose bitset shares a bit with `bitset`,
 * first parked first. Returns how many. Any OS thread. Never switches. */
int green__unpark(const void *addr, int n, unsigned bitset);

/* Wakes the first waiter on addr (any bitset) and, under the address's
 * lock, calls fn(arg, token, woke, more) with that waiter's token — also when there was nobody to wake —
 * so that a lock can be handed to the waiter, or marked free, in the
 * same step. Returns whether one was woken. Any OS thread. Never
 * switches. */
bool green__unpark_one(const void *addr, green_unpark_fn fn, void *arg);

/* FUTEX_CMP_REQUEUE's core: if check (NULL: always) holds under both
 * addresses' locks, wakes up to nwake waiters of addr and moves up to
 * nmove of the others to addr2. Returns the number woken plus moved, or
 * -EAGAIN if check said no. Any OS thread. Never switches. */
int green__unpark_requeue(const void *addr, int nwake, const void *addr2,
                          int nmove, green_park_check_fn check, void *arg);

/* Whether a greenlet is parked on addr now (a snapshot). */
bool green__parked_on(const void *addr);

#endif
