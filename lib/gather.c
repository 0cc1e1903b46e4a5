/* SPDX-License-Identifier: MIT */
/* gather, wait and as_completed: waiting on many tasks at once.
 *
 * All three rest on a watch: a link callback on every task records the
 * order in which they end and wakes the one greenlet that waits on the
 * watch. Tasks already ended are recorded at once, in argument order. The
 * links are removed again when the watch ends, so a task that ends later
 * calls nothing. */
#include "internal.h"

#include "green/gather.h"

#include <math.h>
#include <stdlib.h>

struct watch {
    green_task_t **tasks;         /* what is watched (our own copy: an
                                     as_completed iterator outlives the
                                     caller's array) */
    size_t n;
    green_task_t **order;         /* tasks in the order they ended */
    size_t nended;
    struct greenlet *waiter;      /* parked in watch_wait(), or NULL */
    double deadline;              /* absolute, green__now() seconds */
};

static void on_end(green_task_t *t, void *userdata)
{
    struct watch *w = userdata;
    w->order[w->nended++] = t;
    if (w->waiter != NULL) {
        green__hub_wake(w->waiter, 0);
    }
}

static void watch_fini(struct watch *w, size_t linked)
{
    for (size_t i = 0; i < linked; i++) {
        if (!green_task_done(w->tasks[i])) {
            green__task_unlink(w->tasks[i], on_end, w);
        }
    }
    free(w->order); /* one block with tasks */
    w->order = NULL;
    w->tasks = NULL;
}

static int watch_init(struct watch *w, green_task_t *const *tasks, size_t n,
                      double timeout)
{
    int r = green__task_check_all(tasks, n, timeout);
    if (r != 0) {
        return r;
    }
    w->n = n;
    w->nended = 0;
    w->waiter = NULL;
    w->deadline = green__now() + timeout;
    if ((w->order = malloc((2 * n + 1) * sizeof(*w->order))) == NULL) {
        return -ENOMEM;
    }
    w->tasks = w->order + n;
    for (size_t i = 0; i < n; i++) {
        w->tasks[i] = tasks[i];
    }
    for (size_t i = 0; i < n; i++) {
        if ((r = green__task_link(tasks[i], on_end, w)) != 0) {
            watch_fini(w, i);
            return r;
        }
    }
    return 0;
}

/* Parks until another watched task ends or the deadline passes. */
static int watch_wait(struct watch *w)
{
    double left = isfinite(w->deadline) ? w->deadline - green__now()
                                        : GREEN_FOREVER;
    if (left <= 0.0) {
        return -ETIMEDOUT;
    }
    w->waiter = greenlet_current();
    int r = green__hub_park(left, "a wait on tasks", w);
    w->waiter = NULL;
    return r;
}

void green_outcome_of(green_task_t *t, green_outcome_t *out)
{
    out->status = green_task_status(t);
    out->error = green_task_error(t);
    out->value = green_task_result(t);
}

static bool failed(green_task_t *t)
{
    return green_task_status(t) >= GREEN_TASK_FAILED;
}

int green_gather(green_task_t *const *tasks, size_t n, double timeout,
                 int flags, green_outcome_t *out)
{
    struct watch w;
    int r = out == NULL && n > 0 ? -EINVAL : watch_init(&w, tasks, n, timeout);
    if (r != 0) {
        return r;
    }
    green_task_t *first_failure = NULL;
    size_t seen = 0;
    while (w.nended < n) {
        for (; seen < w.nended && first_failure == NULL; seen++) {
            if ((flags & GREEN_GATHER_FAIL_FAST) && failed(w.order[seen])) {
                first_failure = w.order[seen];
            }
        }
        if (first_failure != NULL || (r = watch_wait(&w)) != 0) {
            break;
        }
    }
    for (; seen < w.nended && first_failure == NULL; seen++) {
        if ((flags & GREEN_GATHER_FAIL_FAST) && failed(w.order[seen])) {
            first_failure = w.order[seen];
        }
    }
    if (first_failure != NULL) {
        green__task_reap_all(tasks, n); /* cancel the rest, await cleanup */
        r = green_task_error(first_failure);
    }
    for (size_t i = 0; i < n; i++) {
        green_outcome_of(tasks[i], &out[i]);
    }
    watch_fini(&w, n);
    return r;
}

int green_gather_run(green_fn_t fn, void *const *args, size_t n,
                     double timeout, int flags, green_outcome_t *out)
{
    if (fn == NULL || (args == NULL && n > 0)) {
        return -EINVAL;
    }
    green_task_t **t = malloc((n != 0 ? n : 1) * sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    size_t spawned = 0;
    int r = 0;
    while (spawned < n && (r = green_spawn(&t[spawned], fn, args[spawned])) == 0) {
        spawned++;
    }
    if (r == 0) {
        r = green_gather(t, n, timeout, flags, out);
    }
    /* Nothing outlives the call: stop what still runs, wait, release. */
    green__task_reap_all(t, spawned);
    for (size_t i = 0; i < spawned; i++) {
        if (r == -ETIMEDOUT) {
            green_outcome_of(t[i], &out[i]);
        }
        green_task_release(t[i]);
    }
    free(t);
    return r;
}

/* Whether `when` holds for what the watch has seen. */
static bool wait_met(const struct watch *w, green_wait_when_t when)
{
    if (w->nended == w->n) {
        return true;
    }
    if (when == GREEN_FIRST_COMPLETED) {
        return w->nended > 0;
    }
    if (when == GREEN_FIRST_ERROR) {
        for (size_t i = 0; i < w->nended; i++) {
            if (failed(w->order[i])) {
                return true;
            }
        }
    }
    return false;
}

int green_wait(green_task_t *const *tasks, size_t n, double timeout,
               green_wait_when_t when, green_task_t **done, size_t *ndone,
               green_task_t **pending, size_t *npending)
{
    if ((unsigned)when > GREEN_ALL_COMPLETED) {
        return -EINVAL;
    }
    struct watch w;
    int r = watch_init(&w, tasks, n, timeout);
    if (r != 0) {
        return r;
    }
    while (!wait_met(&w, when) && (r = watch_wait(&w)) == 0) {
    }
    size_t nd = 0, np = 0;
    for (size_t i = 0; i < n; i++) {
        if (green_task_done(tasks[i])) {
            if (done != NULL) {
                done[nd] = tasks[i];
            }
            nd++;
        } else {
            if (pending != NULL) {
                pending[np] = tasks[i];
            }
            np++;
        }
    }
    if (ndone != NULL) {
        *ndone = nd;
    }
    if (npending != NULL) {
        *npending = np;
    }
    watch_fini(&w, n);
    return r;
}

struct green_as_completed {
    struct watch w;
    size_t next;                  /* order[next] is returned next */
    struct green__thread *thread; /* owner */
};

int green_as_completed_new(green_as_completed_t **out,
                           green_task_t *const *tasks, size_t n,
                           double timeout)
{
    if (out == NULL) {
        return -EINVAL;
    }
    green_as_completed_t *it = malloc(sizeof(*it));
    if (it == NULL) {
        return -ENOMEM;
    }
    int r = watch_init(&it->w, tasks, n, timeout);
    if (r != 0) {
        free(it);
        return r;
    }
    it->next = 0;
    it->thread = green__thread_peek();
    *out = it;
    return 0;
}

int green_as_completed_next(green_as_completed_t *it, green_task_t **task)
{
    if (it == NULL || task == NULL) {
        return -EINVAL;
    }
    if (it->thread != green__thread_peek()) {
        return -EPERM;
    }
    while (it->next == it->w.nended) {
        if (it->next == it->w.n) {
            return -ENOENT;
        }
        int r = watch_wait(&it->w);
        if (r != 0) {
            return r;
        }
    }
    *task = it->w.order[it->next++];
    return 0;
}

void green_as_completed_free(green_as_completed_t *it)
{
    if (it != NULL) {
        watch_fini(&it->w, it->w.n);
        free(it);
    }
}
