/* SPDX-License-Identifier: MIT */
/* Event: a flag, and greenlets of any OS thread parked until it is set.
 *
 * The flag is one atomic word and its waiters park on it in the parking
 * lot (lib/parking.c): a set stores the flag and then wakes every waiter
 * of the word, on whichever thread's hub it waits. A waiter parks only if
 * the flag is clear under the word's bucket lock, so a set cannot slip
 * between its look and its park. A waiter woken by a set returns 0 even
 * if the flag was cleared again before it ran. */
#include "internal.h"
#include "parking.h"

#include "green/event.h"

#include <limits.h>
#include <stdlib.h>

struct green_event {
    int set; /* the flag; atomic */
};

int green_event_new(green_event_t **out)
{
    if (out == NULL) {
        return -EINVAL;
    }
    green_event_t *e = malloc(sizeof(*e));
    if (e == NULL) {
        return -ENOMEM;
    }
    e->set = 0;
    *out = e;
    return 0;
}

int green_event_free(green_event_t *e)
{
    if (e == NULL) {
        return -EINVAL;
    }
    if (green__parked_on(&e->set)) {
        return -EBUSY;
    }
    free(e);
    return 0;
}

int green_event_set(green_event_t *e)
{
    if (e == NULL) {
        return -EINVAL;
    }
    __atomic_store_n(&e->set, 1, __ATOMIC_RELEASE);
    green__unpark(&e->set, INT_MAX, ~0u);
    return 0;
}

int green_event_clear(green_event_t *e)
{
    if (e == NULL) {
        return -EINVAL;
    }
    __atomic_store_n(&e->set, 0, __ATOMIC_RELAXED);
    return 0;
}

bool green_event_is_set(const green_event_t *e)
{
    return e != NULL && __atomic_load_n(&e->set, __ATOMIC_ACQUIRE);
}

static bool still_clear(const void *addr, void *arg)
{
    (void)arg;
    return !__atomic_load_n((const int *)addr, __ATOMIC_ACQUIRE);
}

int green_event_wait(green_event_t *e, double timeout)
{
    if (e == NULL) {
        return -EINVAL;
    }
    int r = green__check_timeout(timeout);
    if (r != 0 || green_event_is_set(e)) {
        return r;
    }
    r = green__park(&e->set, still_clear, NULL, ~0u, timeout,
                    GREEN__INTR_NEVER, GREEN__WAKER_MAYBE,
                    "green_event_wait on");
    return r == -EAGAIN ? 0 : r; /* -EAGAIN: set before we parked */
}
