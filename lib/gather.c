/* SPDX-License-Identifier: MIT */
/* gather, wait and as_completed: waiting on many tasks at once.
 *
 * All three rest on a watch: a link callback on every task records the
 * order in which they end and wakes the one greenlet that waits on the
 * watch. Tasks already ended are recorded at once, in argument order. The
 * links are removed again when the watch ends, so a task that ends later
 * calls nothing.
 *
 * The tasks may be on any OS thread's hub: a link of another thread's
 * task runs on its home thread (lib/task.c), so the watch is a shared
 * object (lib/crosswait.h): a guard around what was seen, and the
 * waiters' records. A watch ends only once every callback that had been
 * taken to run has let its guard go. */
#include "internal.h"

#include "crosswait.h"
#include "green/gather.h"
#include "real.h"

#include <math.h>
#include <stdlib.h>

struct watch {
    green_task_t **tasks;         /* what is watched (our own copy: an
                                     as_completed iterator outlives the
                                     caller's array) */
    size_t n;
    green_task_t **order;         /* tasks in the order they ended */
    size_t nended;                /* under the guard; written with
                                     release, after order[] */
    struct green__guard guard;
    struct green__link waiter;    /* the parked watch_wait()s' records */
    double deadline;              /* absolute, green__now() seconds */
    bool local;                   /* every task is the watcher's thread's:
                                     its waits count for the deadlock
                                     check as local ones */
};

static size_t seen_ended(const struct watch *w)
{
    return __atomic_load_n(&w->nended, __ATOMIC_ACQUIRE);
}

/* On the task's home thread (or the linker's, for a task that had ended). */
static void on_end(green_task_t *t, void *userdata)
{
    struct watch *w = userdata;
    struct green__thread *th = green__thread_get();
    struct green__held h;
    green__guard_take(&h, &w->guard, th);
    w->order[w->nended] = t;
    __atomic_store_n(&w->nended, w->nended + 1, __ATOMIC_RELEASE);
    green__test_point(GREEN__TEST_WATCH_END, w); /* a watcher reading
                                                    nended now must wait */
    struct green__xwait *x;
    while ((x = green__xwait_take(&w->waiter, th, GREEN__XW_SERVED, false,
                                  NULL)) != NULL) {
        green__xwait_wake(x, th);
    }
    green__guard_drop(&h); /* w may be gone once this returns */
}

/* Parks until nended differs from seen (a task ended) or the deadline
 * passes: 0, or the park's error. */
static int watch_wait_for(struct watch *w, size_t seen, double deadline,
                          bool shielded)
{
    struct green__thread *th = green__thread_get();
    struct greenlet *self = th->current;
    unsigned char shield = self->flags & GREEN__SHIELD;
    if (shielded) {
        self->flags |= GREEN__SHIELD;
    }
    int r = 0;
    for (;;) {
        struct green__held h;
        green__guard_take(&h, &w->guard, th);
        if (w->nended != seen) {
            green__guard_drop(&h);
            break;
        }
        double left = isfinite(deadline) ? deadline - green__now()
                                         : GREEN_FOREVER;
        if (left <= 0.0) {
            green__guard_drop(&h);
            r = -ETIMEDOUT;
            break;
        }
        struct green__xwait x;
        struct green__xwait_opts o = {.local = w->local};
        r = green__xwait_wait_ex(&h, &w->waiter, &x, th, left,
                                 "a wait on tasks", w, &o);
        if (r != 0 && shielded && r != -ETIMEDOUT) {
            if (r != -ECANCELED) {
                GREEN_REAL(sched_yield)(); /* -ENOMEM: no hub to park on */
            }
            continue; /* the end of a watch waits, whatever comes */
        }
        if (r != 0) {
            break;
        }
    }
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    return r;
}

static int watch_wait(struct watch *w, size_t seen)
{
    return watch_wait_for(w, seen, w->deadline, false);
}

static void watch_fini(struct watch *w, size_t linked)
{
    /* A link found is gone; one not found was taken by its task's end,
     * and its callback has run or runs now on the task's home. */
    size_t coming = linked;
    for (size_t i = 0; i < linked; i++) {
        if (!green_task_done(w->tasks[i]) &&
            green__task_unlink(w->tasks[i], on_end, w)) {
            coming--;
        }
    }
    size_t seen;
    while ((seen = seen_ended(w)) < coming) {
        watch_wait_for(w, seen, GREEN_FOREVER, true);
    }
    /* The last call may still hold the guard after its count was seen:
     * its letting go is its last touch of w. */
    struct green__held h;
    green__guard_take(&h, &w->guard, green__thread_get());
    green__guard_drop(&h);
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
    w->guard.lock = 0;
    green__xlist_init(&w->waiter);
    w->deadline = green__now() + timeout;
    struct green__thread *me = green__thread_get();
    w->local = true;
    for (size_t i = 0; i < n; i++) {
        w->local &= green_task_greenlet(tasks[i])->thread == me;
    }
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
    size_t seen = 0, ended;
    while ((ended = seen_ended(&w)) < n) {
        for (; seen < ended && first_failure == NULL; seen++) {
            if ((flags & GREEN_GATHER_FAIL_FAST) && failed(w.order[seen])) {
                first_failure = w.order[seen];
            }
        }
        if (first_failure != NULL || (r = watch_wait(&w, ended)) != 0) {
            break;
        }
    }
    ended = seen_ended(&w);
    for (; seen < ended && first_failure == NULL; seen++) {
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

/* Whether `when` holds once the watch has seen `ended` tasks end. */
static bool wait_met(const struct watch *w, green_wait_when_t when,
                     size_t ended)
{
    if (ended == w->n) {
        return true;
    }
    if (when == GREEN_FIRST_COMPLETED) {
        return ended > 0;
    }
    if (when == GREEN_FIRST_ERROR) {
        for (size_t i = 0; i < ended; i++) {
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
    size_t ended;
    while (!wait_met(&w, when, ended = seen_ended(&w)) &&
           (r = watch_wait(&w, ended)) == 0) {
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
    size_t ended;
    while (it->next == (ended = seen_ended(&it->w))) {
        if (it->next == it->w.n) {
            return -ENOENT;
        }
        int r = watch_wait(&it->w, ended);
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
