/* SPDX-License-Identifier: MIT */
/* Green pthreads: pthread_create makes a task, and join, detach, exit,
 * self, once, thread-specific data and thread names follow it.
 *
 * A green pthread is a record (struct gthread) beside its task; its
 * pthread_t is the record's address, and the task points back to it
 * (green__task_local), so pthread_self() is two loads. The main thread,
 * the hub and tasks made through the API are not green pthreads: for them
 * every call here passes to libc, so main keeps glibc's own pthread_t and
 * thread-specific data.
 *
 * Records are never given back to malloc, only kept on a per-OS-thread
 * free list, so a pthread_t that outlived its thread still points at
 * readable memory whose magic says "dead" (ESRCH) instead of at freed
 * memory. Anything that is not a record (main's pthread_t, a thread the
 * program made by other means) goes to libc.
 *
 * Thread-specific data. Keys are glibc's (pthread_key_create goes to libc,
 * which hands out the numbers and keeps main's values and destructors);
 * this file keeps each key's destructor and a sequence number that changes
 * at every create and delete, and each green pthread keeps (sequence,
 * value) pairs in blocks of KEY_BLOCK made on first use. A value whose
 * sequence is stale belongs to a deleted key and reads as NULL.
 *
 * Cancellation, cleanup handlers and the unwinding of pthread_exit are
 * cancel.c's: the start routine is called through green__cancel_run. */
#include "gthread.h"

#include "scheduler.h"
#include "tls.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The per-OS-thread bookkeeping when the OS thread's state cannot be made
 * (gthread.h). */
os_pthreads_t green__pthreads_stand_in;

/* Per key: the destructor, and a sequence that is odd while the key is
 * in use and changes at every create and delete. */
static struct {
    unsigned seq;
    void (*dtor)(void *);
} keys[PTHREAD_KEYS_MAX];

/* --- records ------------------------------------------------------------- */

static struct gthread *record_new(void)
{
    struct gthread *th = free_records;
    if (th != NULL) {
        free_records = th->next_free;
    } else if ((th = malloc(sizeof(*th))) == NULL) {
        return NULL;
    }
    memset(th, 0, sizeof(*th));
    th->magic = GTHREAD_LIVE;
    green__vtid_new(th);
    return th;
}

void green__gthread_free(struct gthread *th)
{
    free(th->affinity);
    th->affinity = NULL;
    if (th->tsd != NULL) {
        for (size_t b = 0; b < KEY_BLOCKS; b++) {
            free(th->tsd[b]);
        }
        free(th->tsd);
        th->tsd = NULL;
    }
    green__vtid_drop(th);
    th->magic = GTHREAD_DEAD;
    th->next_free = free_records;
    free_records = th;
}

/* The record behind a pthread_t: a live one, NULL for anything that is
 * not a record (libc's threads). *dead says it was one and is gone. */
struct gthread *green__gthread_of(pthread_t t, bool *dead)
{
    struct gthread *th = green__tls_private()
                             ? green__tls_record((const void *)t)
                             : (struct gthread *)t;
    *dead = false;
    if (th == NULL) {
        return NULL;
    }
    if (th->pd != NULL && th->pd != (void *)t) {
        *dead = true; /* a stale descriptor whose record went to another */
        return NULL;
    }
    if (th->magic == GTHREAD_DEAD) {
        *dead = true;
        return NULL;
    }
    return th->magic == GTHREAD_LIVE ? th : NULL;
}

/* The green pthread running now, or NULL (main, the hub, API tasks). */
struct gthread *green__gthread_current(void)
{
    green_task_t *t = green_current();
    return t != NULL ? green__task_local(t) : NULL;
}

/* --- thread-specific data ------------------------------------------------ */

static struct tsd_slot *tsd_slot(struct gthread *th, pthread_key_t k,
                                 bool make)
{
    /* calloc may call back in: an allocator that keeps thread-specific
     * data of its own (jemalloc) sets its key from inside the allocation
     * that makes our table. What the inner call made wins; ours goes. The
     * second looks are atomic loads: the compiler takes calloc to write
     * no memory but the block it returns, and would reuse the first. */
    if (th->tsd == NULL) {
        struct tsd_slot **table;
        if (!make || (table = calloc(KEY_BLOCKS, sizeof(*table))) == NULL) {
            return NULL;
        }
        if (__atomic_load_n(&th->tsd, __ATOMIC_RELAXED) == NULL) {
            th->tsd = table;
        } else {
            free(table);
        }
    }
    struct tsd_slot **block = &th->tsd[k / KEY_BLOCK];
    if (*block == NULL) {
        struct tsd_slot *b;
        if (!make || (b = calloc(KEY_BLOCK, sizeof(*b))) == NULL) {
            return NULL;
        }
        if (__atomic_load_n(block, __ATOMIC_RELAXED) == NULL) {
            *block = b;
        } else {
            free(b);
        }
    }
    return &(*block)[k % KEY_BLOCK];
}

/* One round of destructors over th's values; whether any ran. */
static bool tsd_round(struct gthread *th)
{
    bool ran = false;
    for (pthread_key_t k = 0; th->tsd != NULL && k < PTHREAD_KEYS_MAX; k++) {
        if (th->tsd[k / KEY_BLOCK] == NULL) {
            k += KEY_BLOCK - 1;
            continue;
        }
        struct tsd_slot *s = tsd_slot(th, k, false);
        void (*dtor)(void *) = keys[k].dtor;
        if (s->value == NULL || s->seq != keys[k].seq) {
            continue;
        }
        void *v = s->value;
        s->value = NULL;
        if (dtor != NULL) {
            dtor(v);
            ran = true;
        }
    }
    return ran;
}

GREEN_INTERPOSE int pthread_key_create(pthread_key_t *key,
                                       void (*dtor)(void *))
{
    int r = GREEN_REAL(pthread_key_create)(key, dtor);
    /* Recorded whether or not the family is on yet: a key made before
     * green_patch("thread"), or by a library set up before libgreen, is
     * as usable in a green pthread as any other. A sanitizer runtime's
     * key keeps its values per green pthread, but where green pthreads
     * share their OS thread's TLS its destructor would tear down the OS
     * thread's records (its TLS bookkeeping), so it then runs at the OS
     * thread's end only; with TLS of their own it runs as for any
     * thread. */
    if (r == 0 && *key < PTHREAD_KEYS_MAX) {
        bool san = !green__tls_private() &&
                   green__sanitizer_code(__builtin_return_address(0));
        keys[*key].dtor = san ? NULL : dtor;
        __atomic_fetch_add(&keys[*key].seq, 1, __ATOMIC_RELEASE);
    }
    return r;
}

GREEN_INTERPOSE int pthread_key_delete(pthread_key_t key)
{
    if (key < PTHREAD_KEYS_MAX && (keys[key].seq & 1) != 0) {
        keys[key].dtor = NULL;
        __atomic_fetch_add(&keys[key].seq, 1, __ATOMIC_RELEASE);
    }
    return GREEN_REAL(pthread_key_delete)(key);
}

GREEN_INTERPOSE void *pthread_getspecific(pthread_key_t key)
{
    struct gthread *th = green__thread_on() ? green__gthread_current() : NULL;
    if (th == NULL) {
        return GREEN_REAL(pthread_getspecific)(key);
    }
    if (key >= PTHREAD_KEYS_MAX) {
        return NULL;
    }
    struct tsd_slot *s = tsd_slot(th, key, false);
    return s != NULL && s->seq == keys[key].seq ? s->value : NULL;
}

GREEN_INTERPOSE int pthread_setspecific(pthread_key_t key, const void *value)
{
    struct gthread *th = green__thread_on() ? green__gthread_current() : NULL;
    if (th == NULL) {
        return GREEN_REAL(pthread_setspecific)(key, value);
    }
    if (key >= PTHREAD_KEYS_MAX || (keys[key].seq & 1) == 0) {
        return EINVAL;
    }
    struct tsd_slot *s = tsd_slot(th, key, true);
    if (s == NULL) {
        return ENOMEM;
    }
    s->seq = keys[key].seq;
    s->value = (void *)value;
    return 0;
}

/* --- the end of a green pthread ------------------------------------------ */

/* What every green pthread does last, whether its start routine returned
 * or it called pthread_exit: run the key destructors (glibc's
 * PTHREAD_DESTRUCTOR_ITERATIONS rounds), let pending pthread_once callers
 * retry, and be counted out. A detached record is gone afterwards. */
void green__gthread_end(struct gthread *th, void *retval)
{
    th->retval = retval;
    if (th->pd != NULL) {
        green__tls_dtors(); /* C++ thread_local first, as glibc does */
    }
    for (int i = 0; i < PTHREAD_DESTRUCTOR_ITERATIONS && tsd_round(th); i++) {
    }
    for (struct once_frame *f = th->onces; f != NULL; f = f->outer) {
        __atomic_store_n(f->once, 0, __ATOMIC_RELEASE);
        green__objq_wake_all(&once_waiters);
    }
    th->onces = NULL;
    th->ended = true;
    if (--live_threads == 0) {
        green__objq_wake_all(&all_ended);
    }
    if (th->detached) {
        green__task_set_local(green_current(), NULL);
        green__gthread_free(th);
    }
}

static void *thread_main(void *arg)
{
    struct gthread *th = arg;
    if (th->pd != NULL) {
        green__tls_enter(); /* the switch here installed its TLS */
    }
    void *r = green__cancel_run(th);
    green__gthread_end(th, r);
    return r;
}

/* --- create, join, detach, exit ------------------------------------------- */

/* What attr asks of a new thread's stack, read as glibc reads it. */
struct stack_ask {
    size_t size;  /* bytes: attr's, or glibc's default (RLIMIT_STACK at
                     start, or pthread_setattr_default_np's) */
    size_t guard; /* guardsize asked for */
    char *user;   /* lowest byte of the program's own stack, or NULL */
    int detach;
};

/* Reads attr (NULL: glibc's default attributes, as pthread_create
 * takes them), so a green pthread gets the stack a native one would.
 * glibc's pthread_attr_getstacksize answers the default for a size
 * never set; that size, where GREEN_STACK_SIZE is set, becomes its
 * value (green-run --stack-size), as the one knob that trades fidelity
 * for address space. EINVAL where glibc's pthread_create says it: a
 * user stack too small for the descriptor and TLS it carries at its
 * top. */
static int attr_read(const pthread_attr_t *attr, struct stack_ask *a)
{
    pthread_attr_t d;
    const pthread_attr_t *from = attr != NULL ? attr : &d;
    size_t dflt = 0;
    memset(a, 0, sizeof(*a));
    a->detach = PTHREAD_CREATE_JOINABLE;
    if (pthread_getattr_default_np(&d) != 0) {
        return EAGAIN;
    }
    pthread_attr_getstacksize(&d, &dflt);
    int r = 0;
    void *lo = NULL;
    size_t raw = 0;
    if (pthread_attr_getstacksize(from, &a->size) != 0 ||
        pthread_attr_getguardsize(from, &a->guard) != 0 ||
        pthread_attr_getdetachstate(from, &a->detach) != 0 ||
        pthread_attr_getstack(from, &lo, &raw) != 0) {
        r = EINVAL;
    }
    pthread_attr_destroy(&d);
    /* glibc keeps a user stack as its top (setstackaddr's argument,
     * setstack's addr + size) and the size set, and getstack answers
     * top - size: a top that is not NULL is a user stack. */
    uintptr_t top = (uintptr_t)lo + raw;
    if (r == 0 && top != 0) {
        a->user = (char *)(top - a->size);
        /* What start() needs: the descriptor and TLS in at most half. */
        if (a->size < 2 * green__tls_reserve() + 4096) {
            r = EINVAL;
        }
    } else if (r == 0) {
        size_t env = green__stack_env_size();
        if (env != 0 && a->size == dflt) {
            a->size = env;
        }
        /* Past libgreen's 1 GiB limit glibc would still try to map it. */
        if (green__stack_size(a->size < GREEN__STACK_MAX ? a->size
                                                         : GREEN__STACK_MAX,
                              &a->size) != 0) {
            r = EINVAL;
        }
    }
    return r;
}

/* Undoes a green pthread whose creation failed after its spawn: the task,
 * never run, is killed and given to the hub, which frees it. */
static void create_undo(struct gthread *th)
{
    green__task_set_local(th->task, NULL);
    green_kill(th->task);
    green_task_release(th->task);
    green__gthread_free(th);
}

GREEN_INTERPOSE int pthread_create(pthread_t *out, const pthread_attr_t *attr,
                                   void *(*start)(void *), void *arg)
{
    if (!green__thread_on()) {
        return GREEN_REAL(pthread_create)(out, attr, start, arg);
    }
    struct stack_ask ask;
    int r = attr_read(attr, &ask);
    if (r != 0) {
        return r;
    }
    /* The hub first: the first wait of any thread needs it (and its
     * stack), and a wait cannot say ENOMEM where glibc's would not. */
    struct green__thread *t = green__hub_thread();
    struct gthread *th = t != NULL ? record_new() : NULL;
    if (th == NULL) {
        return EAGAIN;
    }
    th->start = start;
    th->arg = arg;
    if (green_spawn(&th->task, thread_main, th) != 0) {
        green__gthread_free(th);
        return EAGAIN;
    }
    /* Nothing has run yet: spawning never switches. Its stack now, as
     * glibc's pthread_create maps one (or takes the program's): a stack
     * that cannot be had is EAGAIN, as glibc's, and nothing is lost. */
    green__task_set_local(th->task, th);
    th->g = green_task_greenlet(th->task);
    struct green__stack *s;
    if ((ask.user != NULL ? green__stack_user(ask.user, ask.size, &s)
                          : green__stack_alloc_guard(ask.size, ask.guard,
                                                     &s)) != 0) {
        create_undo(th);
        return EAGAIN;
    }
    s->guard_asked = ask.guard;
    th->g->top_reserve = green__tls_reserve();
    green__greenlet_prepare_on(t, th->g, s);
    if (green__tls_private()) {
        /* The descriptor at its top is the pthread_t returned. */
        char *lo = s->lo, *top = lo + s->size;
        th->pd = green__tls_make(lo, top, th);
        th->g->tp = th->pd;
        if (th->pd == NULL) {
            th->g->top_reserve = 0; /* it shares the OS thread's TLS */
        } else {
            /* The descriptor outlives the thread until it is joined or
             * detached, as glibc's does. */
            th->g->keep_stack = ask.detach != PTHREAD_CREATE_DETACHED;
        }
    }
    live_threads++;
    if (ask.detach == PTHREAD_CREATE_DETACHED) {
        th->detached = true;
        green_task_release(th->task);
        th->task = NULL;
    }
    *out = th->pd != NULL ? (pthread_t)th->pd : (pthread_t)th;
    return 0;
}

GREEN_INTERPOSE pthread_t pthread_self(void)
{
    struct gthread *th = green__thread_on() ? green__gthread_current() : NULL;
    if (th == NULL) {
        return GREEN_REAL(pthread_self)();
    }
    return th->pd != NULL ? (pthread_t)th->pd : (pthread_t)th;
}

GREEN_INTERPOSE int pthread_equal(pthread_t a, pthread_t b)
{
    return a == b;
}

/* --- pthread_once ---------------------------------------------------------- */

/* Waits until once is no longer in progress. */
static void once_wait(pthread_once_t *once)
{
    while (__atomic_load_n(once, __ATOMIC_ACQUIRE) & ONCE_INPROGRESS) {
        int r = green__objq_wait(&once_waiters, NULL, CLOCK_MONOTONIC, NULL,
                                 GREEN__INTR_NEVER, "pthread_once on", once);
        if (r == -EDEADLK || r == -ENOMEM) {
            green__thread_deadlock("pthread_once");
        }
    }
}

GREEN_INTERPOSE int pthread_once(pthread_once_t *once, void (*init)(void))
{
    if (!green__thread_on()) {
        return GREEN_REAL(pthread_once)(once, init);
    }
    for (;;) {
        int v = __atomic_load_n(once, __ATOMIC_ACQUIRE);
        if (v & ONCE_DONE) {
            return 0;
        }
        if (v & ONCE_INPROGRESS) {
            once_wait(once);
            continue;
        }
        if (!__atomic_compare_exchange_n(once, &v, ONCE_INPROGRESS, false,
                                         __ATOMIC_ACQUIRE,
                                         __ATOMIC_RELAXED)) {
            continue;
        }
        struct gthread *th = green__gthread_current();
        struct once_frame f = {once, th != NULL ? th->onces : NULL};
        if (th != NULL) {
            th->onces = &f;
        }
        init();
        if (th != NULL) {
            th->onces = f.outer;
        }
        __atomic_store_n(once, ONCE_DONE, __ATOMIC_RELEASE);
        green__objq_wake_all(&once_waiters);
        return 0;
    }
}

