/* SPDX-License-Identifier: MIT */
/* Tasks: greenlets the hub schedules, with an outcome others can wait for.
 *
 * A task is one allocation: the greenlet it runs on is embedded, so a
 * spawn costs one malloc and no stack until the task first runs. Its life:
 *
 *   spawn -> PENDING (queued, or waiting for its spawn_later timer)
 *         -> RUNNING (task_main started on its own stack)
 *         -> DONE / FAILED / CANCELLED ("ended": links run, joiners wake)
 *
 * and, apart from that, its memory lives until both the caller has given
 * the handle back (green_task_release) and the greenlet will never run
 * again. A task that ends while its greenlet is still on the ready queue
 * (killed before it started) is only freed once the greenlet has been
 * popped and died, which the greenlet layer reports through
 * green__greenlet_reap after the stack is given back.
 *
 * Other OS threads. A task runs on the hub of the thread that spawned it
 * (its home), and only that thread touches its greenlet, its links and
 * its local joiners. A greenlet of another thread that joins or waits
 * queues a waiter record under the task's guard (lib/crosswait.h), which
 * the task's end serves; a kill or a release from another thread (or a
 * plain one) is a bit of a message to the home's inbox, and the home
 * does it there. What only other threads need (their joiners' FIFO, the
 * message and its bits) is a side record made on first use, so that a
 * task of one thread is hardly bigger than before; a message in flight
 * keeps the task: it is freed only once the home has read it. A link
 * added from another thread runs on the home thread when the task ends.
 * A spawn on another hub (green/hubs.h) allocates the task where it is
 * made, fills what any thread may, and sets the message's spawn bit, on
 * which the home makes it ready; the calls above work on it at once,
 * and the home reads a spawn before a kill before a release. */
#include "internal.h"
#include "crosswait.h"
#include "cycle.h"
#include "real.h"

#include "green/hubs.h"

#include <pthread.h>
#include <stdlib.h>

struct link {
    green_link_fn_t fn;
    void *userdata;
    struct link *next;
};

struct green_task {
    struct greenlet g;            /* the greenlet it runs on */
    green_fn_t fn;                /* body and its argument */
    void *arg;
    void *result;                 /* fn's return value once DONE */
    int err;                      /* 0, or the error once FAILED/CANCELLED */
    int fail;                     /* set by green_fail() while running */
    unsigned char status;         /* green_task_status_t */
    unsigned char joined;         /* atomic: JOIN_* */
    unsigned char released;       /* the caller gave the handle back */
    unsigned char served;         /* ended, and its links have run */
    struct green__guard guard;    /* status, links and x's FIFO, for
                                     other OS threads */
    struct green__waitq joiners;  /* green_join()/joinall() callers */
    struct link *links;           /* callbacks to run at the end, FIFO */
    void *later;                  /* spawn_later timer while g is NEW */
    void *local;                  /* the preload's record for a green
                                     pthread (green__task_local), or NULL */
    struct task_x *x;             /* atomic: made on first use from
                                     another OS thread, or NULL */
};

/* A task's joins: none yet, one waiting, one that succeeded. */
enum { JOIN_NONE, JOIN_WAITING, JOIN_DONE };

/* What other OS threads need of a task, made the first time one does. */
enum { MSG_SPAWN = 1, MSG_KILL = 2, MSG_RELEASE = 4, MSG_FREE = 8 };

struct task_x {
    struct green__link xwaiters;  /* their joiners: struct green__xwait */
    struct green__remote msg;     /* in the home's inbox while pending */
    int pending;                  /* atomic: MSG_* not yet read */
    unsigned char free_later;     /* under the guard: to be freed once
                                     msg has been read and xwaiters is
                                     empty (MSG_FREE: it is now) */
    unsigned char heap;           /* the task is malloc'd (spawned from
                                     another thread), not the slab's */
};

#define TASK_OF(gl) GREEN__CONTAINER(gl, struct green_task, g)

/* Task memory: per-thread chunks of SLAB_N tasks and a free list, so a
 * spawn costs no malloc and a release no free (they were a third of the
 * instructions of a spawn + join). Like Go's g structures, freed tasks are
 * kept for reuse until the thread exits, so the memory held is that of the
 * most tasks ever alive at once. Under ASan every task is malloc'd, so a
 * stale handle is still caught. */
#define SLAB_N 64

#ifdef GREEN__ASAN
static size_t asan_records; /* atomic: tasks of task_alloc not yet freed */
#endif

#ifndef GREEN__ASAN
struct slab_chunk {
    struct slab_chunk *next;
    struct green_task tasks[SLAB_N];
};

#endif

/* The slab lives in the OS thread's state (t->task_slab), not in TLS: a
 * green pthread has TLS of its own. Freed at the thread's end by
 * green__task_thread_term(). */
static struct green_task *task_alloc(void)
{
#ifdef GREEN__ASAN
    struct green_task *t = malloc(sizeof(struct green_task));
    if (t != NULL) {
        __atomic_add_fetch(&asan_records, 1, __ATOMIC_RELAXED);
    }
    return t;
#else
    struct green__thread *th = green__thread_get();
    if (GREEN__UNLIKELY(th == NULL)) {
        return NULL;
    }
    if (GREEN__UNLIKELY(th->task_slab.free == NULL)) {
        struct slab_chunk *c = malloc(sizeof(*c));
        if (c == NULL) {
            return NULL;
        }
        c->next = th->task_slab.chunks;
        th->task_slab.chunks = c;
        for (size_t i = 0; i < SLAB_N; i++) {
            c->tasks[i].arg = th->task_slab.free;
            th->task_slab.free = &c->tasks[i];
        }
    }
    struct green_task *t = th->task_slab.free;
    th->task_slab.free = t->arg;
    return t;
#endif
}

static void task_dealloc(struct green_task *t)
{
#ifdef GREEN__ASAN
    if (t->x == NULL || !t->x->heap) {
        __atomic_sub_fetch(&asan_records, 1, __ATOMIC_RELAXED);
    }
    free(t->x);
    free(t);
#else
    struct task_x *x = t->x;
    if (GREEN__UNLIKELY(x != NULL)) {
        bool heap = x->heap;
        free(x);
        if (heap) {
            free(t);
            return;
        }
    }
    struct green__thread *th = green__thread_peek();
    t->arg = th->task_slab.free;
    th->task_slab.free = t;
#endif
}

size_t green__task_records(const struct green__thread *th)
{
#ifdef GREEN__ASAN
    (void)th;
    return __atomic_load_n(&asan_records, __ATOMIC_RELAXED);
#else
    size_t n = 0;
    for (const struct slab_chunk *c = th->task_slab.chunks; c != NULL;
         c = c->next) {
        n += SLAB_N;
    }
    for (const struct green_task *t = th->task_slab.free; t != NULL;
         t = t->arg) {
        n--;
    }
    return n;
#endif
}

void green__task_thread_term(struct green__thread *th)
{
#ifndef GREEN__ASAN
    while (th->task_slab.chunks != NULL) {
        struct slab_chunk *c = th->task_slab.chunks;
        th->task_slab.chunks = c->next;
        free(c);
    }
    th->task_slab.free = NULL;
#else
    (void)th;
#endif
}

static bool ended(const struct green_task *t)
{
    return __atomic_load_n(&t->status, __ATOMIC_ACQUIRE) >= GREEN_TASK_DONE;
}

/* On t's home: whether another thread still needs t's memory, a message
 * on its way or a joiner whose wait ended otherwise (a timeout, a kill)
 * and who has yet to take its record out. If so, t is freed by
 * on_message once that is over. */
static bool x_busy(struct green_task *t, struct task_x *x)
{
    struct green__held h;
    green__guard_take(&h, &t->guard, green__thread_peek());
    bool busy = __atomic_load_n(&x->pending, __ATOMIC_ACQUIRE) != 0 ||
                !green__xlist_empty(&x->xwaiters);
    x->free_later = busy;
    green__guard_drop(&h);
    return busy;
}

/* A foreign joiner took its record out of t's FIFO (green__xwait_wait_ex,
 * guard held): the last one out of a task that was to be freed asks the
 * home to free it now. */
static struct green__remote *x_left(void *arg)
{
    struct green_task *t = arg;
    struct task_x *x = t->x;
    if (!x->free_later || !green__xlist_empty(&x->xwaiters) ||
        __atomic_fetch_or(&x->pending, MSG_FREE, __ATOMIC_ACQ_REL) != 0) {
        return NULL; /* not yet; or a message on its way will do it */
    }
    return &x->msg;
}

static void task_free(struct green_task *t)
{
    struct task_x *x = __atomic_load_n(&t->x, __ATOMIC_ACQUIRE);
    if (GREEN__UNLIKELY(x != NULL) && x_busy(t, x)) {
        return;
    }
    green__greenlet_fini(&t->g);
    task_dealloc(t);
}

/* The greenlet will never run again (or never ran and never will). */
static bool greenlet_gone(const struct green_task *t)
{
    return t->g.state == GREEN__DEAD ||
           (t->g.state == GREEN__NEW && t->later == NULL);
}

/* Records the outcome and tells everyone who asked. */
static void finish(struct green_task *t, green_task_status_t status, int err,
                   void *result)
{
    struct green__thread *th = t->g.thread;
    struct green__held h;
    green__guard_take(&h, &t->guard, th);
    t->err = err;
    t->result = result;
    __atomic_store_n(&t->status, (unsigned char)status, __ATOMIC_RELEASE);
    struct link *links = t->links; /* a later one runs where it is added */
    t->links = NULL;
    __atomic_store_n(&th->live_tasks, th->live_tasks - 1, __ATOMIC_RELAXED);
    if (links != NULL) {
        green__guard_drop(&h);
        while (links != NULL) {
            struct link *l = links;
            links = l->next;
            l->fn(t, l->userdata);
            free(l);
        }
        green__guard_take(&h, &t->guard, th);
    }
    /* Joiners of other threads, like those here, after the links. */
    t->served = 1;
    struct task_x *x = __atomic_load_n(&t->x, __ATOMIC_ACQUIRE);
    struct green__xwait *w;
    while (x != NULL &&
           (w = green__xwait_take(&x->xwaiters, th, GREEN__XW_SERVED, false,
                                  NULL)) != NULL) {
        green__xwait_wake(w, th);
    }
    green__guard_drop(&h);
    green__waitq_wake_all(&t->joiners, 0);
    if (th->live_tasks == 0) {
        green__waitq_wake_all(&th->run_waiters, 0);
    }
}

/* Ends the running task t whose body produced r (returned it, or gave it
 * to green__task_exit), and leaves its greenlet for good. */
_Noreturn static void task_end(struct green_task *t, void *r)
{
    if (t->g.flags & GREEN__CANCELLED) {
        finish(t, GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    } else if (t->fail != 0) {
        finish(t, GREEN_TASK_FAILED, t->fail, NULL);
    } else {
        finish(t, GREEN_TASK_DONE, 0, r);
    }
    if (t->released) {
        t->g.flags |= GREEN__REAP;
    }
    green__hub_exit(NULL);
}

static void *task_main(void *arg)
{
    struct green_task *t = TASK_OF(green__thread_peek()->current);
    (void)arg;
    if (ended(t)) { /* killed while still queued: never runs */
        if (t->released) {
            t->g.flags |= GREEN__REAP;
        }
        green__hub_exit(NULL);
    }
    if (t->g.flags & GREEN__CANCELLED) { /* kill_from_inbox: never runs */
        task_end(t, NULL);
    }
    __atomic_store_n(&t->status, GREEN_TASK_RUNNING, __ATOMIC_RELAXED);
    task_end(t, t->fn(t->arg));
}

/* For pthread_exit (preload/thread.c): the body's frames are abandoned,
 * not unwound; their stack goes back with the greenlet's. */
_Noreturn void green__task_exit(void *result)
{
    task_end(TASK_OF(green__thread_peek()->current), result);
}

void green__task_set_local(green_task_t *t, void *local)
{
    t->local = local;
}

void *green__task_local(const green_task_t *t)
{
    return t->local;
}

static void reap(struct greenlet *g)
{
    task_free(TASK_OF(g));
}

static void nostack(struct greenlet *g)
{
    struct green_task *t = TASK_OF(g);
    if (!ended(t)) {
        finish(t, GREEN_TASK_FAILED, -ENOMEM, NULL);
    }
    if (t->released) {
        task_free(t);
    }
}

static void release_here(struct green_task *t);
static inline int task_fill(struct green_task *t, green_fn_t fn, void *arg,
                            const green_spawn_opts_t *opts,
                            struct green_task **out);

static void x_init(struct task_x *x, struct green_task *t)
{
    green__xlist_init(&x->xwaiters);
    x->msg.g = &t->g;
    x->msg.code = GREEN__TASK_MSG;
}

/* t's side record, made now if it has none; NULL if there is no memory. */
static struct task_x *task_x(struct green_task *t)
{
    struct task_x *x = __atomic_load_n(&t->x, __ATOMIC_ACQUIRE);
    if (x != NULL) {
        return x;
    }
    struct task_x *made = calloc(1, sizeof(*made));
    if (made == NULL) {
        return NULL;
    }
    x_init(made, t);
    if (__atomic_compare_exchange_n(&t->x, &x, made, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_ACQUIRE)) {
        return made;
    }
    free(made); /* another thread's came first */
    return x;
}

/* A kill another thread sent, read by the hub's own greenlet: a task not
 * started yet is made to start now and end at once, so that its links
 * run on its own greenlet, which may switch (green__task_kill would run
 * them here). */
static void kill_from_inbox(struct green_task *t)
{
    if (t->status != GREEN_TASK_PENDING) {
        green__task_kill(t);
        return;
    }
    t->g.flags |= GREEN__CANCELLED;
    if (t->g.state == GREEN__NEW && t->later != NULL) {
        green__hub_cancel_later(t->later);
        t->later = NULL;
        green__hub_ready(&t->g);
    }
}

/* On the home thread: what other threads sent (a spawn, a kill, a
 * release, in that order). t may be gone once this returns. */
static void on_message(struct green__remote *r)
{
    struct green_task *t = TASK_OF(r->g);
    struct task_x *x = t->x;
    int bits = __atomic_exchange_n(&x->pending, 0, __ATOMIC_ACQ_REL);
    if (bits & MSG_SPAWN) { /* made on another thread for this hub */
        struct green__thread *th = t->g.thread;
        __atomic_sub_fetch(&th->inbound, 1, __ATOMIC_RELAXED);
        green__greenlet_adopt(&t->g);
        __atomic_store_n(&th->live_tasks, th->live_tasks + 1,
                         __ATOMIC_RELAXED);
        green__hub_ready(&t->g);
    }
    if ((bits & MSG_KILL) && !ended(t)) {
        kill_from_inbox(t);
    }
    if (x->free_later) { /* released and gone while others needed it */
        task_free(t);
    } else if (bits & MSG_RELEASE) {
        release_here(t);
    }
}

/* Asks t's home for what bit says; returns -ENOMEM if t's side record
 * cannot be made. */
static int send_home(struct green_task *t, int bit)
{
    struct task_x *x = task_x(t);
    if (x == NULL) {
        return -ENOMEM;
    }
    if (__atomic_fetch_or(&x->pending, bit, __ATOMIC_ACQ_REL) == 0) {
        green__remote_wake(&x->msg);
    }
    return 0;
}

/* Whether the caller runs on another OS thread than t's home, or t was
 * spawned here from another thread and the home has not read the spawn
 * yet (its kill and release must then come after the spawn). */
static bool foreign(const struct green_task *t)
{
    if (t->g.thread != green__thread_peek()) {
        return true;
    }
    struct task_x *x = __atomic_load_n(&t->x, __ATOMIC_ACQUIRE);
    return GREEN__UNLIKELY(x != NULL) &&
           (__atomic_load_n(&x->pending, __ATOMIC_ACQUIRE) & MSG_SPAWN);
}

static int task_new(struct green_task **out, green_fn_t fn, void *arg,
                    const green_spawn_opts_t *opts)
{
    size_t size;
    if (fn == NULL ||
        green__stack_size(opts != NULL ? opts->stack_size : 0, &size) != 0) {
        return -EINVAL;
    }
    struct green__thread *th = green__thread_get();
    struct green_task *t = th != NULL ? task_alloc() : NULL;
    if (t == NULL) {
        return -ENOMEM;
    }
    green__greenlet_init(&t->g, th, task_main, NULL, size);
    int r = task_fill(t, fn, arg, opts, out);
    if (r != 0) {
        task_dealloc(t);
    }
    return r;
}

/* The fields of a new task t whose greenlet is made, and the name. */
static inline __attribute__((always_inline)) int
task_fill(struct green_task *t, green_fn_t fn, void *arg,
          const green_spawn_opts_t *opts, struct green_task **out)
{
    t->g.flags = GREEN__TASK;
    t->fn = fn;
    t->arg = arg;
    t->result = NULL;
    t->err = 0;
    t->fail = 0;
    t->status = GREEN_TASK_PENDING;
    t->joined = JOIN_NONE;
    t->released = 0;
    green__waitq_init(&t->joiners);
    t->links = NULL;
    t->later = NULL;
    t->local = NULL;
    t->guard.lock = 0;
    t->x = NULL;
    t->served = 0;
    if (opts != NULL && opts->name != NULL &&
        greenlet_set_name(&t->g, opts->name) != 0) {
        return -ENOMEM; /* the caller frees t */
    }
    /* The hooks into the core, set by the first spawn (of any thread):
     * read before written, so that later spawns leave the line alone. */
    if (GREEN__UNLIKELY(__atomic_load_n(&green__remote_task,
                                        __ATOMIC_RELAXED) != on_message)) {
        __atomic_store_n(&green__greenlet_reap, reap, __ATOMIC_RELAXED);
        __atomic_store_n(&green__greenlet_nostack, nostack, __ATOMIC_RELAXED);
        __atomic_store_n(&green__remote_task, on_message, __ATOMIC_RELEASE);
    }
    *out = t;
    return 0;
}

/* Hands the new task to the caller, or detaches it. */
static void task_publish(struct green_task *t, green_task_t **out)
{
    struct green__thread *th = t->g.thread;
    __atomic_store_n(&th->live_tasks, th->live_tasks + 1, __ATOMIC_RELAXED);
    if (out != NULL) {
        *out = t;
    } else {
        t->released = 1;
    }
}

/* A spawn on the hub of another OS thread, th. */
static int spawn_on(struct green__thread *th, struct green__thread *me,
                    green_task_t **out, green_fn_t fn, void *arg,
                    const green_spawn_opts_t *opts, size_t size)
{
    struct green_task *t = malloc(sizeof(*t));
    if (t == NULL) {
        return -ENOMEM;
    }
    struct task_x *x = calloc(1, sizeof(*x));
    if (x == NULL) {
        free(t);
        return -ENOMEM;
    }
    green__greenlet_init_for(&t->g, th, task_main, size, me->current->id);
    int r = task_fill(t, fn, arg, opts, &t);
    if (r != 0) {
        free(x);
        free(t);
        return r;
    }
    x_init(x, t);
    x->heap = 1;
    t->x = x;
    t->released = out == NULL; /* detached: it frees itself at its end */
    __atomic_add_fetch(&th->inbound, 1, __ATOMIC_RELAXED);
    send_home(t, MSG_SPAWN);
    if (out != NULL) {
        *out = t;
    }
    return 0;
}

int green_spawn_ex(green_task_t **out, green_fn_t fn, void *arg,
                   const green_spawn_opts_t *opts)
{
    if (opts != NULL && opts->hub != GREEN_HUB_SELF) {
        size_t size;
        struct green__thread *me = green__thread_get();
        struct green__thread *th =
            me != NULL ? green__hubs_pick(opts->hub, me) : NULL;
        if (fn == NULL || green__stack_size(opts->stack_size, &size) != 0 ||
            (me != NULL && th == NULL)) {
            return -EINVAL;
        }
        if (me == NULL) {
            return -ENOMEM;
        }
        if (th != me) {
            return spawn_on(th, me, out, fn, arg, opts, size);
        }
    }
    struct green_task *t;
    int r = task_new(&t, fn, arg, opts);
    if (r != 0) {
        return r;
    }
    task_publish(t, out);
    green__hub_ready(&t->g);
    return 0;
}

int green_spawn(green_task_t **out, green_fn_t fn, void *arg)
{
    return green_spawn_ex(out, fn, arg, NULL);
}

int green_spawn_later(green_task_t **out, double seconds, green_fn_t fn,
                      void *arg)
{
    if (green__check_timeout(seconds) != 0) {
        return -EINVAL;
    }
    struct green_task *t;
    int r = task_new(&t, fn, arg, NULL);
    if (r != 0) {
        return r;
    }
    if ((t->later = green__hub_ready_later(&t->g, seconds, &r)) == NULL) {
        task_free(t);
        return r;
    }
    task_publish(t, out);
    return 0;
}

int green__task_check(const struct green_task *t)
{
    if (t == NULL || t->released) {
        return -EINVAL;
    }
    return t->g.thread == green__thread_peek() ? 0 : -EPERM;
}

/* For the calls any OS thread may make on a task. */
static int usable(const struct green_task *t)
{
    return t == NULL || t->released ? -EINVAL : 0;
}

/* A wait for t's end from a greenlet of another OS thread: a record under
 * t's guard, served by finish(). No cycle check: the waits of other
 * threads' greenlets are theirs to read. */
static int wait_foreign(struct green_task *t, double timeout, const char *what)
{
    struct green__thread *me = green__thread_get();
    if (me == NULL) {
        return -ENOMEM;
    }
    struct green__held h;
    struct task_x *x = task_x(t);
    if (x == NULL) {
        return -ENOMEM;
    }
    green__guard_take(&h, &t->guard, me);
    if (t->served) {
        green__guard_drop(&h);
        return 0;
    }
    struct green__xwait w;
    struct green__xwait_opts o = {.left = x_left, .arg = t};
    return green__xwait_wait_ex(&h, &x->xwaiters, &w, me, timeout,
                                what != NULL ? what : "green_join on", t, &o);
}

/* Waits for t to end, at most timeout seconds, in call `what` (NULL:
 * no cycle check); a wait that closes a cycle of joins and locks fails
 * with -EDEADLK or goes on as mode says (lib/cycle.h). */
static int wait_end(struct green_task *t, double timeout, const char *what,
                    enum green__cycle_mode mode)
{
    if (foreign(t)) {
        return wait_foreign(t, timeout, what);
    }
    if (ended(t)) {
        return 0;
    }
    struct green__thread *th = t->g.thread;
    if (th->current == &t->g) {
        return -EDEADLK;
    }
    struct greenlet *self = th->current;
    self->wait_on = &t->g;
    if (what != NULL && green__cycle_closes(self, &t->g, what, t, mode) &&
        mode == GREEN__CYCLE_FAIL) {
        self->wait_on = NULL;
        return -EDEADLK;
    }
    int r = green__waitq_wait(&t->joiners, timeout,
                              what != NULL ? what : "green_join on", t);
    self->wait_on = NULL;
    return r; /* the first event wins: a kill or timeout before the end */
}

static int join(green_task_t *t, double timeout, void **result,
                const char *what, enum green__cycle_mode mode)
{
    int r = usable(t);
    if (r != 0) {
        return r;
    }
    if (green__check_timeout(timeout) != 0) {
        return -EINVAL;
    }
    struct green__thread *me = green__thread_peek();
    if (me != NULL && me->current == &t->g) {
        return -EDEADLK; /* before the claim, as pthread_join's EDEADLK */
    }
    /* Claimed before the wait, so of two joins at once (on any threads)
     * one gets -EINVAL, as pthread_join's EINVAL for a thread another
     * already joins; a join that fails gives the claim back. */
    unsigned char none = JOIN_NONE;
    if (!__atomic_compare_exchange_n(&t->joined, &none, JOIN_WAITING, false,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
        return -EINVAL;
    }
    if ((r = wait_end(t, timeout, what, mode)) != 0) {
        __atomic_store_n(&t->joined, JOIN_NONE, __ATOMIC_RELAXED);
        return r;
    }
    __atomic_store_n(&t->joined, JOIN_DONE, __ATOMIC_RELAXED);
    if (result != NULL) {
        *result = t->result;
    }
    return 0;
}

int green_join(green_task_t *t, double timeout, void **result)
{
    return join(t, timeout, result, "green_join on", GREEN__CYCLE_FAIL);
}

int green__task_join(green_task_t *t, double timeout, const char *what)
{
    return join(t, timeout, NULL, what, GREEN__CYCLE_WAIT);
}

void green__task_reap_all(green_task_t *const *tasks, size_t n)
{
    struct greenlet *self = greenlet_current();
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    for (size_t i = 0; i < n; i++) {
        if (foreign(tasks[i])) {
            green_kill(tasks[i]); /* its home kills it, at its next turn */
        } else {
            green__task_kill(tasks[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (wait_end(tasks[i], GREEN_FOREVER, NULL, GREEN__CYCLE_WAIT) ==
            -EDEADLK) {
            break; /* a task that ignores its cancellation forever */
        }
    }
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
}

int green_task_wait(green_task_t *t, double timeout)
{
    int r = usable(t);
    if (r != 0 || (r = green__check_timeout(timeout)) != 0) {
        return r;
    }
    return wait_end(t, timeout, "green_task_wait on", GREEN__CYCLE_FAIL);
}

int green_task_get(green_task_t *t, double timeout, void **value)
{
    int r = green_task_wait(t, timeout);
    if (r != 0) {
        return r;
    }
    if (t->status == GREEN_TASK_DONE && value != NULL) {
        *value = t->result;
    }
    return t->err;
}

/* The arguments of a call on tasks[0..n), each checked by check. */
static int check_all(green_task_t *const *tasks, size_t n, double timeout,
                     int (*check)(const struct green_task *))
{
    if ((tasks == NULL && n > 0) || green__check_timeout(timeout) != 0) {
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        int r = check(tasks[i]);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

int green__task_check_all(green_task_t *const *tasks, size_t n,
                          double timeout)
{
    return check_all(tasks, n, timeout, usable);
}

int green_joinall(green_task_t *const *tasks, size_t n, double timeout)
{
    int c = check_all(tasks, n, timeout, usable);
    if (c != 0) {
        return c;
    }
    double deadline = green__now() + timeout;
    for (size_t i = 0; i < n; i++) {
        double left = isfinite(timeout) ? deadline - green__now() : timeout;
        int r = wait_end(tasks[i], left > 0.0 ? left : 0.0,
                         "green_joinall on", GREEN__CYCLE_FAIL);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

int green_sleep(double seconds)
{
    if (green__check_timeout(seconds) != 0) {
        return -EINVAL;
    }
    if (seconds == 0.0) {
        return green__hub_yield();
    }
    int r = green__hub_park_intr(seconds, "green_sleep", NULL,
                                 GREEN__INTR_ALWAYS);
    if (r == -ETIMEDOUT) {
        /* The sleep's own end is success; a timeout scope's is not. */
        struct green__thread *th = green__thread_peek();
        return green__scope_expired(th->current) ? -ETIMEDOUT : 0;
    }
    return r;
}

int green__task_kill(green_task_t *t)
{
    if (t == NULL) {
        return -EINVAL;
    }
    if (t->g.thread != green__thread_peek()) {
        return -EPERM;
    }
    if (ended(t)) {
        return -ESRCH;
    }
    t->g.flags |= GREEN__CANCELLED;
    if (t->status == GREEN_TASK_PENDING) {
        if (t->g.state == GREEN__NEW && t->later != NULL) {
            green__hub_cancel_later(t->later);
            t->later = NULL;
        }
        finish(t, GREEN_TASK_CANCELLED, -ECANCELED, NULL);
    } else {
        green__hub_wake(&t->g, -ECANCELED);
    }
    return 0;
}

int green_kill(green_task_t *t)
{
    int r = usable(t);
    if (r != 0) {
        return r;
    }
    if (!foreign(t)) {
        return green__task_kill(t);
    }
    /* From another thread: the home kills it when it reads the message
     * (a task that ends first is left as it ended). */
    if (ended(t)) {
        return -ESRCH;
    }
    return send_home(t, MSG_KILL);
}

int green_link(green_task_t *t, green_link_fn_t fn, void *userdata)
{
    int r = usable(t);
    if (r != 0 || fn == NULL) {
        return r != 0 ? r : -EINVAL;
    }
    return green__task_link(t, fn, userdata);
}

bool green__task_unlink(green_task_t *t, green_link_fn_t fn, void *userdata)
{
    struct green__held h;
    green__guard_take(&h, &t->guard, green__thread_get());
    struct link *gone = NULL;
    for (struct link **p = &t->links; *p != NULL; p = &(*p)->next) {
        if ((*p)->fn == fn && (*p)->userdata == userdata) {
            gone = *p;
            *p = gone->next;
            break;
        }
    }
    green__guard_drop(&h);
    free(gone);
    return gone != NULL;
}

int green__task_link(green_task_t *t, green_link_fn_t fn, void *userdata)
{
    struct green__thread *me = green__thread_get();
    struct link *l = malloc(sizeof(*l));
    if (me == NULL || l == NULL) {
        free(l);
        return -ENOMEM;
    }
    l->fn = fn;
    l->userdata = userdata;
    l->next = NULL;
    struct green__held h;
    green__guard_take(&h, &t->guard, me);
    bool now = ended(t);
    if (!now) {
        struct link **p = &t->links;
        while (*p != NULL) {
            p = &(*p)->next;
        }
        *p = l;
    }
    green__guard_drop(&h);
    if (now) { /* it has ended: here, at once */
        free(l);
        fn(t, userdata);
    }
    return 0;
}

int green_run(void)
{
    struct green__thread *th = green__thread_get();
    if (th == NULL) {
        return -ENOMEM;
    }
    if (th->current->flags & GREEN__TASK) {
        return -EDEADLK; /* it would wait for itself */
    }
    while (th->live_tasks > 0) {
        int r = green__waitq_wait(&th->run_waiters, GREEN_FOREVER,
                                  "green_run", NULL);
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

void *green_fail(int err)
{
    green_task_t *t = green_current();
    if (t != NULL) {
        t->fail = err < 0 ? err : err > 0 ? -err : -EINVAL;
    }
    return NULL;
}

green_task_t *green_current(void)
{
    struct green__thread *th = green__thread_peek();
    if (th == NULL || !(th->current->flags & GREEN__TASK)) {
        return NULL;
    }
    return TASK_OF(th->current);
}

green_task_status_t green_task_status(const green_task_t *t)
{
    return t != NULL ? (green_task_status_t)__atomic_load_n(&t->status,
                                                            __ATOMIC_ACQUIRE)
                     : GREEN_TASK_PENDING;
}

int green_task_error(const green_task_t *t)
{
    if (t == NULL) {
        return -EINVAL;
    }
    return ended(t) ? t->err : 0;
}

void *green_task_result(const green_task_t *t)
{
    return t != NULL && ended(t) ? t->result : NULL;
}

bool green_task_done(const green_task_t *t)
{
    return t != NULL && ended(t);
}

greenlet_t *green_task_greenlet(green_task_t *t)
{
    return t != NULL ? &t->g : NULL;
}

int green_task_set_name(green_task_t *t, const char *name)
{
    return t != NULL ? greenlet_set_name(&t->g, name) : -EINVAL;
}

void green_task_release(green_task_t *t)
{
    if (t == NULL) {
        return;
    }
    if (foreign(t)) { /* the home thread releases it */
        send_home(t, MSG_RELEASE); /* no memory: it is left to its home */
        return;
    }
    release_here(t);
}

static void release_here(struct green_task *t)
{
    if (t->released) {
        return;
    }
    t->released = 1;
    if (ended(t) && greenlet_gone(t)) {
        task_free(t);
    } else if (t->g.state != GREEN__NEW || t->later != NULL) {
        t->g.flags |= GREEN__REAP; /* freed once its greenlet has died */
    }
}

const char *green_task_status_name(green_task_status_t s)
{
    static const char *const names[] = {"pending", "running", "done",
                                        "failed", "cancelled"};
    return (unsigned)s < 5 ? names[s] : "invalid";
}
