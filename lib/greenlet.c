/* SPDX-License-Identifier: MIT */
/* The greenlet core: greenlet objects and the one place where contexts
 * are switched. The per-OS-thread state they live in is lib/thread.c's.
 *
 * Every switch in libgreen, whether a user's greenlet_switch() or the hub
 * resuming a parked task, goes through jump() below, which keeps the
 * invariants the rest of the library relies on:
 *   - t->current is the running greenlet, in state RUNNING;
 *   - errno is saved in the greenlet left and restored in the one resumed;
 *   - a greenlet that died in the previous switch (t->zombie) gives its stack
 *     back as soon as another context runs: never before, since the dying
 *     greenlet is still on that stack while it switches away;
 *   - under ASan, every switch is announced to the sanitizer (the fiber API)
 *     so it follows the stacks; under valgrind, lib/stack.c registered them.
 *
 * The value (or thrown error) of a switch travels in t->xfer_value and
 * t->xfer_err, read by the resumed side straight after its jump returns.
 *
 * Stacks are allocated on the first switch into a greenlet, not at
 * creation: a million spawned tasks that run one after another then share
 * one warm stack instead of faulting in a million.
 *
 * The fast path. greenlet_switch() between two user call sites is what
 * Python's greenlet users do in loops, and a ret across a stack switch is
 * mispredicted every time (the CPU expects to return to its own caller).
 * So on x86-64 greenlet_switch() ends in green__ctx_leap, which resumes
 * the other side with an indirect jump straight into *its* caller: no C
 * code runs on the resumed side. Whoever resumes a greenlet suspended this
 * way ("fast") therefore does its share first: errno, the value into its
 * result pointer, the return code as the leap's value (deliver()). The one
 * thing that cannot be done before the switch is freeing the stack of a
 * greenlet that dies switching to a fast greenlet: that greenlet's saved
 * return address is redirected through a detour that frees the stack and
 * then continues (green__ctx_redirect, green__greenlet_reaped). */
#include "internal.h"
#include "handoff.h"
#include "log.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef GREEN__ASAN
# include <sanitizer/common_interface_defs.h>
#endif

#ifndef GREEN_CTX_LEAP
# define GREEN_CTX_LEAP 0 /* set by meson where green__ctx_leap exists */
#endif

static unsigned long next_id = 1;

void (*green__greenlet_reap)(struct greenlet *g);
void (*green__greenlet_nostack)(struct greenlet *g);

static unsigned long new_id(void)
{
    return __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
}

unsigned long green__greenlet_new_id(void)
{
    return new_id();
}

/* --- switching ----------------------------------------------------------- */

#ifdef GREEN__ASAN
static void asan_start(struct greenlet *from, struct greenlet *to, int dying)
{
    const void *bottom = to->stack ? to->stack->lo : to->asan_bottom;
    size_t size = to->stack ? to->stack->size : to->asan_size;
    __sanitizer_start_switch_fiber(dying ? NULL : &from->asan_fake, bottom,
                                   size);
}

static void asan_finish(struct greenlet *self, struct greenlet *from)
{
    const void *bottom;
    size_t size;
    __sanitizer_finish_switch_fiber(self->asan_fake, &bottom, &size);
    self->asan_fake = NULL;
    if (from != NULL && from->stack == NULL && from->asan_size == 0) {
        from->asan_bottom = bottom; /* a root: we just learnt its bounds */
        from->asan_size = size;
    }
}
#else
# define asan_start(from, to, dying) ((void)0)
# define asan_finish(self, from) ((void)0)
#endif

/* TSan follows each greenlet's stack as a fiber of its own: made with
 * the stack, switched to just before each jump, gone with the stack. */
#ifdef GREEN__TSAN
# define tsan_start(to) __tsan_switch_to_fiber((to)->tsan_fiber, 0)
static void tsan_fiber_new(struct greenlet *g)
{
    g->tsan_fiber = __tsan_create_fiber(0);
}

static void tsan_fiber_gone(struct greenlet *g)
{
    if (g->tsan_fiber != NULL && !(g->flags & GREEN__ROOT)) {
        __tsan_destroy_fiber(g->tsan_fiber);
        g->tsan_fiber = NULL;
    }
}
#else
# define tsan_start(to) ((void)0)
# define tsan_fiber_new(g) ((void)0)
# define tsan_fiber_gone(g) ((void)0)
#endif

/* Frees what glibc allocated for a dead green pthread's TLS (its DTV),
 * from another thread's context, as glibc frees a thread's TLS from the
 * joiner or the stack cache: the dying thread's allocator state (its TLS)
 * is gone by then. It runs on the OS thread's own TLS: the greenlet
 * running now may be a green pthread that has not used its allocator
 * yet, whose first free would set the allocator up in the middle of this
 * one (jemalloc's does, through pthread_setspecific, and crashes). */
static void release_tls(struct greenlet *z)
{
    if (z->tp != NULL) {
        struct green__thread *t = z->thread;
        void *here = t->current != NULL ? t->current->tp : NULL;
        if (here != NULL) {
            green__tp_set(t->os_tp);
        }
        green__tls_free(z->tp);
        if (here != NULL) {
            green__tp_set(here);
        }
        z->tp = NULL;
    }
}

/* Gives back the stack of the greenlet that died in the last switch. */
static void reap_zombie(struct green__thread *t)
{
    struct greenlet *z = t->zombie;
    t->zombie = NULL;
    if (z->keep_stack) {
        return; /* given back by green__greenlet_drop_stack() */
    }
    release_tls(z);
    tsan_fiber_gone(z);
    green__stack_free(z->stack);
    z->stack = NULL;
    if (z->flags & GREEN__REAP) {
        __atomic_load_n(&green__greenlet_reap, __ATOMIC_RELAXED)(z);
    }
}

/* Runs first in every context that resumes in C (its errno was restored
 * by the switcher): gives back the stack of a greenlet that died
 * switching here. */
static inline void after_switch(struct green__thread *t, struct greenlet *self,
                                struct greenlet *from)
{
    asan_finish(self, from);
    (void)self, (void)from;
    if (GREEN__UNLIKELY(t->zombie != NULL)) {
        reap_zombie(t);
    }
}

void green__greenlet_resumed(struct green__thread *t)
{
    if (GREEN__UNLIKELY(t->zombie != NULL)) {
        reap_zombie(t);
    }
}

void *green__greenlet_reaped(void)
{
    struct green__thread *t = green__thread_peek();
    if (t->zombie != NULL) {
        reap_zombie(t);
    }
    return t->current->resume_to;
}

/* Prepares `to` to be resumed with (value, err); returns the code the
 * switch must carry. See "The fast path" above. */
static inline int deliver(struct green__thread *t, struct greenlet *to,
                          void *value, int err)
{
    if (to->fast) {
        if (err == 0 && to->result_slot != NULL) {
            *to->result_slot = value;
        }
        return err;
    }
    t->xfer_value = value;
    t->xfer_err = err;
    return 0;
}

static void entry(void *arg);

/* Gives a NEW greenlet the stack s and its initial context. */
static void start_on(struct green__thread *t, struct greenlet *g,
                     struct green__stack *s)
{
    s->owner_id = g->id;
    s->owner_name = g->name;
    g->stack = s;
    g->flags |= GREEN__STARTED;
    /* A green pthread's TLS takes the top of its stack (lib/tls.c). */
    size_t reserve = g->top_reserve < s->size / 2 ? g->top_reserve : 0;
    g->top_reserve = reserve;
    g->sp = green__ctx_make(s->lo + s->size - reserve, s->size - reserve,
                            entry);
    tsan_fiber_new(g);
    g->live.prev = t->live.prev;
    g->live.next = &t->live;
    t->live.prev->next = &g->live;
    t->live.prev = &g->live;
}

/* Gives a NEW greenlet a stack of its size and its initial context. */
static int start(struct green__thread *t, struct greenlet *g)
{
    struct green__stack *s;
    int r = green__stack_alloc(g->stack_size, &s);
    if (r != 0) {
        return r;
    }
    start_on(t, g, s);
    return 0;
}

/* Installs to's TLS if it is not from's: a green pthread's own, or the
 * OS thread's for everyone else (API greenlets, the hub, main), who pay
 * this compare and nothing more. */
static inline void switch_tls(struct green__thread *t,
                              const struct greenlet *from,
                              struct greenlet *to)
{
    if (GREEN__UNLIKELY(from->tp != to->tp)) {
        if (GREEN__UNLIKELY(to->host_gen != t->host_gen) && to->tp != NULL) {
            green__handoff_refit(t, to); /* it moved with a hand-off */
        }
        green__tp_set(to->tp != NULL ? to->tp : t->os_tp);
    }
}

/* Switches to `to`, carrying code (see deliver()). */
static inline int jump(struct green__thread *t, struct greenlet *to, int code)
{
    struct greenlet *from = t->current;
    if (GREEN__UNLIKELY(to->stack == NULL && !(to->flags & GREEN__ROOT))) {
        int r = start(t, to);
        if (r != 0) {
            return r;
        }
    }
    from->saved_errno = *t->errnop;
    from->fast = 0;
    *t->errnop = to->saved_errno;
    to->state = GREEN__RUNNING;
    t->current = to;
    t->switches++;
    switch_tls(t, from, to);
    asan_start(from, to, 0);
    tsan_start(to);
#ifdef GREEN__ASAN
    (void)code; /* no fast greenlets under ASan: the arg names the switcher */
    struct greenlet *prev = green__ctx_jump(&from->sp, to->sp, from);
#else
    struct greenlet *prev = NULL;
    green__ctx_jump(&from->sp, to->sp, (void *)(intptr_t)code);
#endif
    /* Resumed: whoever switched here set t->current = from. */
    after_switch(t, from, prev);
    return 0;
}

int green__greenlet_prepare(struct green__thread *t, struct greenlet *g)
{
    return g->stack == NULL && !(g->flags & GREEN__ROOT) ? start(t, g) : 0;
}

int green__greenlet_prepare_on(struct green__thread *t, struct greenlet *g,
                               struct green__stack *s)
{
    if (g->stack != NULL || (g->flags & GREEN__ROOT)) {
        return -EINVAL;
    }
    start_on(t, g, s);
    return 0;
}

int green__greenlet_jump(struct green__thread *t, struct greenlet *to)
{
    return jump(t, to, 0);
}

_Noreturn void green__greenlet_exit(struct green__thread *t,
                                    struct greenlet *to, void *result)
{
    struct greenlet *self = t->current;
    self->state = GREEN__DEAD;
    self->result = result;
    green__scopes_free(self);
    green__link_remove(&self->live);
    if (self->parent != NULL) {
        self->parent->live_children--;
    }
    if (to->stack == NULL && !(to->flags & GREEN__ROOT) &&
        start(t, to) != 0) {
        green__log(GREEN_LOG_ERROR, "no stack to start greenlet #%lu, which "
                   "a finished greenlet switched to; aborting", to->id);
        abort();
    }
    if (t->zombie != NULL) {
        reap_zombie(t); /* not ours: we are not running on that stack */
    }
    t->zombie = self;
    int code = deliver(t, to, result, 0);
#if GREEN_CTX_LEAP && !defined(GREEN__SAN_FIBERS)
    if (to->fast) { /* it runs no C before its caller: detour via reaper */
        to->resume_to = green__ctx_redirect(to->sp, green__ctx_reaper);
    }
#endif
    *t->errnop = to->saved_errno;
    to->state = GREEN__RUNNING;
    t->current = to;
    t->switches++;
    switch_tls(t, self, to);
    asan_start(self, to, 1);
    tsan_start(to);
#ifdef GREEN__ASAN
    (void)code;
    green__ctx_jump(&self->sp, to->sp, self);
#else
    green__ctx_jump(&self->sp, to->sp, (void *)(intptr_t)code);
#endif
    abort(); /* a dead greenlet is never resumed */
}

/* The first frame of every greenlet. */
static void entry(void *arg)
{
    struct green__thread *t = green__thread_peek();
    struct greenlet *self = t->current;
    after_switch(t, self, arg);
    void *ret = self->run(t->xfer_value);

    /* Return to the nearest living ancestor. A parent the hub owns (parked
     * or queued) cannot take the value without breaking its wait. */
    struct greenlet *p = self->parent;
    while (p != NULL && p->state == GREEN__DEAD) {
        p = p->parent;
    }
    if (p == NULL || p->state == GREEN__PARKED || p->state == GREEN__READY) {
        green__log(GREEN_LOG_WARNING, "greenlet #%lu finished while its "
                   "parent #%lu waits on the hub; its result is dropped",
                   self->id, p != NULL ? p->id : 0UL);
        green__hub_exit(ret);
    }
    green__greenlet_exit(t, p, ret);
}

void green__greenlet_drop_stack(struct greenlet *g)
{
    struct green__thread *t = g->thread;
    g->keep_stack = 0;
    if (g->state != GREEN__DEAD || g->stack == NULL || t->zombie == g) {
        return; /* running, or still on it: reaped as usual */
    }
    release_tls(g);
    tsan_fiber_gone(g);
    green__stack_free(g->stack);
    g->stack = NULL;
}

/* --- public API --------------------------------------------------------- */

void green__greenlet_init_for(struct greenlet *g, struct green__thread *t,
                              greenlet_run_t run, size_t stack_size,
                              unsigned long creator)
{
    memset(g, 0, sizeof(*g));
    g->thread = t;
    g->run = run;
    g->stack_size = stack_size;
    g->id = new_id();
    g->creator = creator;
    g->state = GREEN__NEW;
    g->wait.prev = g->wait.next = &g->wait;
}

void green__greenlet_adopt(struct greenlet *g)
{
    struct green__thread *t = g->thread;
    g->sig_mask = green__sig_inherit(t); /* as a new thread's */
    g->host_gen = t->host_gen;
}

int green__greenlet_init(struct greenlet *g, struct green__thread *t,
                         greenlet_run_t run, struct greenlet *parent,
                         size_t stack_size)
{
    unsigned long creator =
        t->current != NULL && t->current != g ? t->current->id : 0;
    green__greenlet_init_for(g, t, run, stack_size, creator);
    g->parent = parent;
    green__greenlet_adopt(g);
    if (parent != NULL) {
        parent->live_children++;
    }
    return 0;
}

int greenlet_new(greenlet_t **out, greenlet_run_t run, greenlet_t *parent,
                 size_t stack_size)
{
    size_t size;
    if (out == NULL || run == NULL || green__stack_size(stack_size, &size)) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    if (t == NULL) {
        return -ENOMEM;
    }
    if (parent == NULL) {
        parent = t->current;
    } else if (parent->thread != t) {
        return -EPERM;
    }
    struct greenlet *g = malloc(sizeof(*g));
    if (g == NULL) {
        return -ENOMEM;
    }
    green__greenlet_init(g, t, run, parent, size);
    *out = g;
    return 0;
}

/* Checks shared by switch and throw. */
static int switch_check(struct green__thread **tp, greenlet_t *g)
{
    if (g == NULL) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_get();
    if (t == NULL) {
        return -ENOMEM;
    }
    if (g->thread != t) {
        return -EPERM;
    }
    *tp = t;
    if (g->state == GREEN__DEAD) {
        return -ESRCH;
    }
    if (g->state == GREEN__PARKED || g->state == GREEN__READY ||
        (g->flags & GREEN__HUB) ||
        ((g->flags & GREEN__TASK) && g->state == GREEN__NEW)) {
        return -EBUSY;
    }
    return 0;
}

/* Switches to g carrying value or err; returns what comes back. */
static int do_switch(struct green__thread *t, greenlet_t *g, void *value,
                     int err, void **result)
{
    struct greenlet *cur = t->current;
    int code = deliver(t, g, value, err);
    cur->state = GREEN__SUSPENDED;
    int r = jump(t, g, code);
    if (GREEN__UNLIKELY(r != 0)) {
        cur->state = GREEN__RUNNING;
        return r;
    }
    if (GREEN__UNLIKELY(t->xfer_err != 0)) {
        r = t->xfer_err;
        t->xfer_err = 0;
        return r;
    }
    if (result != NULL) {
        *result = t->xfer_value;
    }
    return 0;
}

int greenlet_switch(greenlet_t *g, void *value, void **result)
{
    struct green__thread *t = green__thread_peek();
    /* The fast path: a suspended greenlet of this thread. */
    if (GREEN__LIKELY(t != NULL && g != NULL && g->thread == t &&
                      g->state == GREEN__SUSPENDED &&
                      g->tp == t->current->tp)) {
#if GREEN_CTX_LEAP && !defined(GREEN__SAN_FIBERS)
        struct greenlet *cur = t->current;
        int code = deliver(t, g, value, 0);
        cur->state = GREEN__SUSPENDED;
        cur->fast = 1;
        cur->result_slot = result;
        cur->saved_errno = *t->errnop;
        *t->errnop = g->saved_errno;
        g->state = GREEN__RUNNING;
        t->current = g;
        t->switches++;
        return green__ctx_leap(&cur->sp, g->sp, code);
#else
        return do_switch(t, g, value, 0, result);
#endif
    }
    int r = switch_check(&t, g);
    if (r != 0) {
        return r;
    }
    if (g == t->current) {
        if (result != NULL) {
            *result = value;
        }
        return 0;
    }
    return do_switch(t, g, value, 0, result);
}

int greenlet_throw(greenlet_t *g, int err, void **result)
{
    struct green__thread *t;
    int r = switch_check(&t, g);
    if (r != 0) {
        return r;
    }
    if (err >= 0) {
        return -EINVAL;
    }
    if (g == t->current) {
        return err;
    }
    if (g->state == GREEN__NEW) {
        g->state = GREEN__DEAD; /* never runs */
        if (g->parent != NULL) {
            g->parent->live_children--;
        }
        return err;
    }
    return do_switch(t, g, NULL, err, result);
}

greenlet_t *greenlet_current(void)
{
    struct green__thread *t = green__thread_get();
    return t != NULL ? t->current : NULL;
}

greenlet_t *greenlet_parent(const greenlet_t *g)
{
    return g != NULL ? g->parent : NULL;
}

int greenlet_set_parent(greenlet_t *g, greenlet_t *parent)
{
    if (g == NULL || parent == NULL || (g->flags & GREEN__ROOT) ||
        (g->flags & (GREEN__TASK | GREEN__HUB))) {
        return -EINVAL;
    }
    if (g->thread != parent->thread ||
        g->thread != green__thread_peek()) {
        return -EPERM;
    }
    for (struct greenlet *p = parent; p != NULL; p = p->parent) {
        if (p == g) {
            return -EINVAL; /* would make a cycle */
        }
    }
    if (g->state != GREEN__DEAD) {
        g->parent->live_children--;
        parent->live_children++;
    }
    g->parent = parent;
    return 0;
}

bool greenlet_started(const greenlet_t *g)
{
    return g != NULL && (g->flags & GREEN__STARTED);
}

bool greenlet_dead(const greenlet_t *g)
{
    return g != NULL && g->state == GREEN__DEAD;
}

void *greenlet_result(const greenlet_t *g)
{
    return g != NULL && g->state == GREEN__DEAD ? g->result : NULL;
}

int greenlet_set_name(greenlet_t *g, const char *name)
{
    if (g == NULL) {
        return -EINVAL;
    }
    char *copy = NULL;
    if (name != NULL && (copy = strdup(name)) == NULL) {
        return -ENOMEM;
    }
    free(g->name);
    g->name = copy;
    if (g->stack != NULL) {
        g->stack->owner_name = copy;
    }
    return 0;
}

const char *greenlet_name(const greenlet_t *g)
{
    return g != NULL ? g->name : NULL;
}

unsigned long greenlet_id(const greenlet_t *g)
{
    return g != NULL ? g->id : 0;
}

size_t greenlet_stack_size(const greenlet_t *g)
{
    return g == NULL ? 0 : g->stack != NULL ? g->stack->size : g->stack_size;
}

void green__greenlet_fini(struct greenlet *g)
{
    free(g->name);
    g->name = NULL;
}

int greenlet_free(greenlet_t *g)
{
    if (g == NULL || (g->flags & (GREEN__ROOT | GREEN__TASK | GREEN__HUB))) {
        return -EINVAL;
    }
    struct green__thread *t = green__thread_peek();
    if (g->thread != t) {
        return -EPERM;
    }
    if (g == t->current || g->state == GREEN__PARKED ||
        g->state == GREEN__READY || g->live_children != 0) {
        return -EBUSY;
    }
    if (g->state == GREEN__SUSPENDED) {
        /* Discarded mid-run: drop its stack without resuming it. */
        green__scopes_free(g);
        green__link_remove(&g->live);
        tsan_fiber_gone(g);
        green__stack_free(g->stack);
        g->stack = NULL;
    }
    if (g->state != GREEN__DEAD && g->parent != NULL) {
        g->parent->live_children--;
    }
    green__greenlet_fini(g);
    free(g);
    return 0;
}

const char *green__greenlet_label(const struct greenlet *g, char *buf,
                                  size_t len)
{
    if (g->name != NULL) {
        snprintf(buf, len, "'%s' (#%lu)", g->name, g->id);
    } else if (g->flags & GREEN__ROOT) {
        snprintf(buf, len, "root (#%lu)", g->id);
    } else {
        snprintf(buf, len, "#%lu", g->id);
    }
    return buf;
}
