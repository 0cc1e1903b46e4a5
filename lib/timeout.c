/* SPDX-License-Identifier: MIT */
/* Timeout scopes. Each greenlet keeps a stack of scopes; the hub caps every
 * park by the innermost scope's deadline (lib/hub.c, green__hub_park), so
 * any blocking call inside a scope fails with -ETIMEDOUT once it passes. A
 * scope's deadline is folded with its outer scope's when it is opened, so
 * the innermost deadline is always the nearest. */
#include "internal.h"

#include "green/timeout.h"

#include <stdlib.h>
#include <time.h>

double green__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool green__scope_expired(const struct greenlet *g)
{
    return g->scopes != NULL && green__now() >= g->scopes->deadline;
}

int green_timeout_start(double seconds)
{
    if (green__check_timeout(seconds) != 0) {
        return -EINVAL;
    }
    struct greenlet *self = greenlet_current();
    struct green__scope *s = self != NULL ? malloc(sizeof(*s)) : NULL;
    if (s == NULL) {
        return -ENOMEM;
    }
    s->deadline = green__now() + seconds;
    if (self->scopes != NULL && self->scopes->deadline < s->deadline) {
        s->deadline = self->scopes->deadline;
    }
    s->outer = self->scopes;
    self->scopes = s;
    return 0;
}

int green_timeout_cancel(void)
{
    struct greenlet *self = greenlet_current();
    struct green__scope *s = self != NULL ? self->scopes : NULL;
    if (s == NULL) {
        return -ENOENT;
    }
    int r = green__now() >= s->deadline ? -ETIMEDOUT : 0;
    self->scopes = s->outer;
    free(s);
    return r;
}

bool green_timeout_expired(void)
{
    struct greenlet *self = greenlet_current();
    return self != NULL && green__scope_expired(self);
}

int green_with_timeout(double seconds, green_fn_t fn, void *arg,
                       void **result)
{
    if (fn == NULL) {
        return -EINVAL;
    }
    int r = green_timeout_start(seconds);
    if (r != 0) {
        return r;
    }
    void *v = fn(arg);
    if (result != NULL) {
        *result = v;
    }
    return green_timeout_cancel();
}

void green__scopes_free(struct greenlet *g)
{
    while (g->scopes != NULL) {
        struct green__scope *s = g->scopes;
        g->scopes = s->outer;
        free(s);
    }
}
