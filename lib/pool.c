/* SPDX-License-Identifier: MIT */
/* Pools and groups: a slot count, the member list, and the greenlets
 * waiting for a slot or for the pool to empty. A member leaves the pool
 * from its task's end link, which hands its slot straight to the first
 * waiting spawner (fairness by hand-off, as in lib/lock.c). */
#include "internal.h"

#include "green/pool.h"
#include "green/queue.h"

#include <stdint.h>
#include <stdlib.h>

struct member {
    green_task_t *task;
    green_pool_t *pool;
    struct member *prev, *next;
};

struct green_pool {
    size_t size;                  /* slots, SIZE_MAX for a group */
    size_t running;               /* members, plus slots handed to spawners
                                     that have not spawned yet */
    struct member *members;       /* running tasks */
    struct green__waitq spawners; /* waiting for a slot, FIFO */
    struct green__waitq joiners;  /* waiting for running == 0 */
    struct green__thread *thread; /* owner */
};

static int check(const green_pool_t *p)
{
    if (p == NULL) {
        return -EINVAL;
    }
    return p->thread == green__thread_peek() ? 0 : -EPERM;
}

int green_pool_new(green_pool_t **out, size_t size)
{
    if (out == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    green_pool_t *p = t != NULL ? calloc(1, sizeof(*p)) : NULL;
    if (p == NULL) {
        return -ENOMEM;
    }
    p->size = size != 0 ? size : SIZE_MAX;
    green__waitq_init(&p->spawners);
    green__waitq_init(&p->joiners);
    p->thread = t;
    *out = p;
    return 0;
}

int green_group_new(green_pool_t **out)
{
    return green_pool_new(out, 0);
}

int green_pool_free(green_pool_t *p)
{
    int r = check(p);
    if (r != 0) {
        return r;
    }
    if (p->running != 0 || !green__waitq_empty(&p->spawners) ||
        !green__waitq_empty(&p->joiners)) {
        return -EBUSY;
    }
    free(p);
    return 0;
}

/* A slot is free again: it goes to the first waiting spawner, if any. */
static void slot_free(green_pool_t *p)
{
    if (green__waitq_handoff(&p->spawners) == NULL && --p->running == 0) {
        green__waitq_wake_all(&p->joiners, 0);
    }
}

static void on_member_end(green_task_t *t, void *userdata)
{
    struct member *m = userdata;
    green_pool_t *p = m->pool;
    (void)t;
    if (m->prev != NULL) {
        m->prev->next = m->next;
    } else {
        p->members = m->next;
    }
    if (m->next != NULL) {
        m->next->prev = m->prev;
    }
    free(m);
    slot_free(p);
}

int green_pool_spawn(green_pool_t *p, green_task_t **out, green_fn_t fn,
                     void *arg)
{
    int r = check(p);
    if (r != 0 || fn == NULL) {
        return r != 0 ? r : -EINVAL;
    }
    if (p->running < p->size && green__waitq_empty(&p->spawners)) {
        p->running++;
    } else if ((r = green__waitq_wait_handoff(&p->spawners, GREEN_FOREVER,
                                              "green_pool_spawn on", p))) {
        return r;
    }
    /* We hold a slot. Nothing below switches until the task is linked. */
    struct member *m = malloc(sizeof(*m));
    green_task_t *t = NULL;
    if (m == NULL || (r = green_spawn(&t, fn, arg)) != 0 ||
        (r = green__task_link(t, on_member_end, m)) != 0) {
        if (t != NULL) { /* spawned but not tracked: it must not run */
            green_kill(t);
            green_task_release(t);
        }
        free(m);
        slot_free(p);
        return r != 0 ? r : -ENOMEM;
    }
    m->task = t;
    m->pool = p;
    m->prev = NULL;
    m->next = p->members;
    if (p->members != NULL) {
        p->members->prev = m;
    }
    p->members = m;
    if (out != NULL) {
        *out = t;
    } else {
        green_task_release(t);
    }
    return 0;
}

int green_pool_join(green_pool_t *p, double timeout)
{
    int r = check(p);
    if (r != 0 || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    if (p->running == 0) {
        return 0;
    }
    return green__waitq_wait(&p->joiners, timeout, "green_pool_join on", p);
}

int green_pool_kill(green_pool_t *p, double timeout)
{
    int r = check(p);
    if (r != 0 || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    /* Killing a task that never started ends it at once, which unlinks
     * its member: step to the next member before killing. */
    struct member *m = p->members;
    while (m != NULL) {
        struct member *next = m->next;
        green__task_kill(m->task); /* handle may have been released */
        m = next;
    }
    return green_pool_join(p, timeout);
}

size_t green_pool_running(const green_pool_t *p)
{
    return p != NULL ? p->running : 0;
}

size_t green_pool_free_slots(const green_pool_t *p)
{
    if (p == NULL) {
        return 0;
    }
    return p->size == SIZE_MAX ? SIZE_MAX : p->size - p->running;
}

int green_pool_map(green_pool_t *p, green_fn_t fn, void *const *args,
                   size_t n, green_outcome_t *out)
{
    int r = check(p);
    if (r != 0 || fn == NULL || ((args == NULL || out == NULL) && n > 0)) {
        return r != 0 ? r : -EINVAL;
    }
    green_task_t **t = malloc((n != 0 ? n : 1) * sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    size_t spawned = 0;
    while (spawned < n &&
           (r = green_pool_spawn(p, &t[spawned], fn, args[spawned])) == 0) {
        spawned++;
    }
    if (r == 0) {
        r = green_joinall(t, spawned, GREEN_FOREVER);
    }
    if (r != 0) { /* spawning failed, or we were killed: nothing outlives us */
        green__task_reap_all(t, spawned);
    }
    for (size_t i = 0; i < spawned; i++) {
        green_outcome_of(t[i], &out[i]);
        green_task_release(t[i]);
    }
    free(t);
    return r;
}

/* --- imap_unordered -------------------------------------------------------- */

struct call {
    green_pool_iter_t *it;
    size_t index;
};

struct green_pool_iter {
    green_pool_t *pool;
    green_fn_t fn;
    void *const *args;
    size_t n;
    green_task_t **tasks;         /* tasks[i] once spawned, else NULL */
    struct call *calls;           /* link data, one per argument */
    green_queue_t *finished;      /* indexes of ended calls, in order */
    size_t returned;              /* results handed out by next() */
    green_task_t *feeder;         /* spawns the calls into the pool */
};

static void on_call_end(green_task_t *t, void *userdata)
{
    struct call *c = userdata;
    (void)t;
    green_queue_put_nowait(c->it->finished, (void *)(uintptr_t)c->index);
}

static void *feed(void *arg)
{
    green_pool_iter_t *it = arg;
    for (size_t i = 0; i < it->n; i++) {
        int r = green_pool_spawn(it->pool, &it->tasks[i], it->fn,
                                 it->args[i]);
        if (r != 0) {
            return green_fail(r);
        }
        it->calls[i].it = it;
        it->calls[i].index = i;
        if ((r = green__task_link(it->tasks[i], on_call_end,
                                  &it->calls[i])) != 0) {
            return green_fail(r);
        }
    }
    return NULL;
}

int green_pool_imap_unordered(green_pool_t *p, green_fn_t fn,
                              void *const *args, size_t n,
                              green_pool_iter_t **out)
{
    int r = check(p);
    if (r != 0 || fn == NULL || out == NULL || (args == NULL && n > 0)) {
        return r != 0 ? r : -EINVAL;
    }
    green_pool_iter_t *it = calloc(1, sizeof(*it));
    if (it == NULL) {
        return -ENOMEM;
    }
    it->pool = p;
    it->fn = fn;
    it->args = args;
    it->n = n;
    it->tasks = calloc(n != 0 ? n : 1, sizeof(*it->tasks));
    it->calls = calloc(n != 0 ? n : 1, sizeof(*it->calls));
    if (it->tasks == NULL || it->calls == NULL ||
        (r = green_queue_new(&it->finished, GREEN_QUEUE_FIFO, 0, NULL)) ||
        (r = green_spawn(&it->feeder, feed, it)) != 0) {
        if (it->finished != NULL) {
            green_queue_free(it->finished);
        }
        free(it->tasks);
        free(it->calls);
        free(it);
        return r != 0 ? r : -ENOMEM;
    }
    *out = it;
    return 0;
}

int green_pool_iter_next(green_pool_iter_t *it, size_t *index,
                         green_outcome_t *out)
{
    if (it == NULL) {
        return -EINVAL;
    }
    int r = check(it->pool); /* the pool's thread's, like the pool */
    if (r != 0) {
        return r;
    }
    if (it->returned == it->n) {
        return -ENOENT;
    }
    void *v;
    r = green_queue_get(it->finished, GREEN_FOREVER, &v);
    if (r != 0) {
        return r;
    }
    size_t i = (uintptr_t)v;
    it->returned++;
    if (index != NULL) {
        *index = i;
    }
    if (out != NULL) {
        green_outcome_of(it->tasks[i], out);
    }
    return 0;
}

void green_pool_iter_free(green_pool_iter_t *it)
{
    if (it == NULL) {
        return;
    }
    green__task_reap_all(&it->feeder, 1);
    green_task_release(it->feeder);
    size_t spawned = 0;
    while (spawned < it->n && it->tasks[spawned] != NULL) {
        spawned++;
    }
    green__task_reap_all(it->tasks, spawned);
    for (size_t i = 0; i < spawned; i++) {
        green_task_release(it->tasks[i]);
    }
    green_queue_free(it->finished);
    free(it->tasks);
    free(it->calls);
    free(it);
}
