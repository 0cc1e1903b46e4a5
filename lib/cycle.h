/* SPDX-License-Identifier: MIT */
/* Deadlock cycles, found the moment they close (lib/cycle.c).
 *
 * The wait-for graph is the greenlets' own wait descriptors
 * (lib/internal.h): a greenlet parked in a join waits for wait_on, one
 * parked on a lock with an owner waits for whoever *wait_owner holds.
 * Before a join or an owned-lock wait parks, its site asks
 * green__cycle_closes() whether the chain from the awaited greenlet comes
 * back to the caller; nothing is kept besides those fields, so a wait that
 * closes no cycle pays a few loads. */
#ifndef GREEN_CYCLE_H
#define GREEN_CYCLE_H

#include <stdbool.h>

#include "internal.h"

/* How a wait that closes a cycle goes on: the API's returns -EDEADLK at
 * once; the preload's waits on, as the native call would hang. */
enum green__cycle_mode {
    GREEN__CYCLE_FAIL = 0,
    GREEN__CYCLE_WAIT = 1
};

/* The running greenlet self is about to wait, in call `what` (its name:
 * "green_join", "pthread_mutex_lock"...), on obj, for `awaited`: the
 * greenlet it joins, or the lock's owner. Follows what awaited waits for,
 * and what that one does, on this OS thread, for a few steps; if the
 * chain comes back to self, logs the cycle (a warning, every member with
 * what it waits for and the closing caller's backtrace; under
 * GREEN__CYCLE_WAIT once while the cycle stands) and returns true. */
bool green__cycle_closes(struct greenlet *self, const struct greenlet *awaited,
                         const char *what, const void *obj,
                         enum green__cycle_mode mode);

#endif
