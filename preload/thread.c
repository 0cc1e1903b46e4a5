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
 * Not done: pthread_cancel and cleanup handlers (pthread_cleanup_push
 * records them in the OS thread's descriptor, which every greenlet
 * shares), and pthread_exit does not unwind (C++ destructors of the
 * abandoned frames do not run). */
#include "thread.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GTHREAD_LIVE 0x67746872u /* "gthr" */
#define GTHREAD_DEAD 0x64656164u /* "dead" */

#define KEY_BLOCK 32
#define KEY_BLOCKS ((PTHREAD_KEYS_MAX + KEY_BLOCK - 1) / KEY_BLOCK)

/* glibc's pthread_once_t states (nptl's __PTHREAD_ONCE_*), kept so that
 * a once done here reads as done to libc too. */
#define ONCE_INPROGRESS 1
#define ONCE_DONE 2

/* A thread name, as the kernel's comm: 15 characters and the NUL. */
#define NAME_MAX_LEN 16

struct tsd_slot {
    unsigned seq;                 /* the key's sequence when set */
    void *value;
};

/* A pthread_once running in this thread: reset if the thread exits
 * inside the init routine, so that the next caller runs it. */
struct once_frame {
    pthread_once_t *once;
    struct once_frame *outer;
};

struct gthread {
    unsigned magic;               /* GTHREAD_LIVE, or GTHREAD_DEAD once
                                     joined / ended detached */
    bool detached;                /* nobody joins it: freed at its end */
    bool ended;                   /* the start routine has finished */
    green_task_t *task;           /* its task; the handle is held until
                                     join or detach */
    struct greenlet *g;           /* the task's greenlet (names, stack) */
    void *(*start)(void *);
    void *arg;
    void *retval;                 /* set when it ends */
    struct greenlet *joiner;      /* who waits in pthread_join, or NULL */
    struct once_frame *onces;     /* pthread_once calls it is inside */
    struct tsd_slot **tsd;        /* thread-specific data: KEY_BLOCKS
                                     block pointers, made on first use
                                     (most threads never set a key) */
    struct gthread *next_free;    /* link in the free list */
};

/* Per key: the destructor, and a sequence that is odd while the key is
 * in use and changes at every create and delete. */
static struct {
    unsigned seq;
    void (*dtor)(void *);
} keys[PTHREAD_KEYS_MAX];

/* Per OS thread: spare records, the number of green pthreads that have
 * not ended, and main's wait for them in pthread_exit. */
static __thread struct gthread *free_records;
static __thread size_t live_threads;
static __thread struct green__waitq all_ended;
/* Callers of pthread_once waiting for someone else's init routine. */
static __thread struct green__waitq once_waiters;

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
    return th;
}

static void record_free(struct gthread *th)
{
    if (th->tsd != NULL) {
        for (size_t b = 0; b < KEY_BLOCKS; b++) {
            free(th->tsd[b]);
        }
        free(th->tsd);
        th->tsd = NULL;
    }
    th->magic = GTHREAD_DEAD;
    th->next_free = free_records;
    free_records = th;
}

/* The record behind a pthread_t: a live one, NULL for anything that is
 * not a record (libc's threads). *dead says it was one and is gone. */
static struct gthread *record_of(pthread_t t, bool *dead)
{
    struct gthread *th = (struct gthread *)t;
    *dead = false;
    if (th == NULL) {
        return NULL;
    }
    if (th->magic == GTHREAD_DEAD) {
        *dead = true;
        return NULL;
    }
    return th->magic == GTHREAD_LIVE ? th : NULL;
}

/* The green pthread running now, or NULL (main, the hub, API tasks). */
static struct gthread *current_record(void)
{
    green_task_t *t = green_current();
    return t != NULL ? green__task_local(t) : NULL;
}

/* --- thread-specific data ------------------------------------------------ */

static struct tsd_slot *tsd_slot(struct gthread *th, pthread_key_t k,
                                 bool make)
{
    if (th->tsd == NULL &&
        (!make || (th->tsd = calloc(KEY_BLOCKS, sizeof(*th->tsd))) == NULL)) {
        return NULL;
    }
    struct tsd_slot **block = &th->tsd[k / KEY_BLOCK];
    if (*block == NULL) {
        if (!make || (*block = calloc(KEY_BLOCK, sizeof(**block))) == NULL) {
            return NULL;
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
    if (r == 0 && green__thread_on() && *key < PTHREAD_KEYS_MAX) {
        keys[*key].dtor = dtor;
        __atomic_fetch_add(&keys[*key].seq, 1, __ATOMIC_RELEASE);
    }
    return r;
}

GREEN_INTERPOSE int pthread_key_delete(pthread_key_t key)
{
    if (green__thread_on() && key < PTHREAD_KEYS_MAX &&
        (keys[key].seq & 1) != 0) {
        keys[key].dtor = NULL;
        __atomic_fetch_add(&keys[key].seq, 1, __ATOMIC_RELEASE);
    }
    return GREEN_REAL(pthread_key_delete)(key);
}

GREEN_INTERPOSE void *pthread_getspecific(pthread_key_t key)
{
    struct gthread *th = green__thread_on() ? current_record() : NULL;
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
    struct gthread *th = green__thread_on() ? current_record() : NULL;
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
static void thread_end(struct gthread *th, void *retval)
{
    th->retval = retval;
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
        record_free(th);
    }
}

static void *thread_main(void *arg)
{
    struct gthread *th = arg;
    void *r = th->start(th->arg);
    thread_end(th, r);
    return r;
}

/* --- create, join, detach, exit ------------------------------------------- */

/* The stack size and detach state asked for in attr. A stack size equal
 * to glibc's default (RLIMIT_STACK, usually 8 MiB) means "not set", and
 * gets libgreen's default; green__stack_size rounds the rest up to pages
 * and its 16 KiB minimum. */
static int attr_read(const pthread_attr_t *attr, size_t *stack, int *detach)
{
    *stack = 0;
    *detach = PTHREAD_CREATE_JOINABLE;
    if (attr == NULL) {
        return 0;
    }
    size_t size, dflt = 0;
    pthread_attr_t d;
    if (pthread_attr_getstacksize(attr, &size) != 0 ||
        pthread_attr_getdetachstate(attr, detach) != 0) {
        return EINVAL;
    }
    if (pthread_getattr_default_np(&d) == 0) {
        pthread_attr_getstacksize(&d, &dflt);
        pthread_attr_destroy(&d);
    }
    if (size != dflt) {
        /* Past libgreen's 1 GiB limit glibc would still try to map it. */
        *stack = size < GREEN__STACK_MAX ? size : GREEN__STACK_MAX;
    }
    return 0;
}

GREEN_INTERPOSE int pthread_create(pthread_t *out, const pthread_attr_t *attr,
                                   void *(*start)(void *), void *arg)
{
    if (!green__thread_on()) {
        return GREEN_REAL(pthread_create)(out, attr, start, arg);
    }
    green_spawn_opts_t opts = {0};
    int detach;
    int r = attr_read(attr, &opts.stack_size, &detach);
    if (r != 0) {
        return r;
    }
    struct gthread *th = record_new();
    if (th == NULL) {
        return EAGAIN;
    }
    th->start = start;
    th->arg = arg;
    if (green_spawn_ex(&th->task, thread_main, th, &opts) != 0) {
        record_free(th);
        return EAGAIN;
    }
    /* Nothing has run yet: spawning never switches. */
    green__task_set_local(th->task, th);
    th->g = green_task_greenlet(th->task);
    live_threads++;
    if (detach == PTHREAD_CREATE_DETACHED) {
        th->detached = true;
        green_task_release(th->task);
        th->task = NULL;
    }
    *out = (pthread_t)th;
    return 0;
}

/* Waits for th to end, shielded, without EINTR. */
static int join_wait(struct gthread *th)
{
    struct greenlet *self = green__self();
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    int r;
    do {
        r = green_join(th->task, GREEN_FOREVER, NULL);
    } while (r == -EINTR);
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    return r;
}

GREEN_INTERPOSE int pthread_join(pthread_t t, void **retval)
{
    bool dead;
    struct gthread *th = green__thread_on() ? record_of(t, &dead) : NULL;
    if (th == NULL) {
        return green__thread_on() && dead ? ESRCH
                                          : GREEN_REAL(pthread_join)(t, retval);
    }
    struct greenlet *self = green__self();
    struct gthread *me = current_record();
    if (self == NULL) {
        return ENOMEM;
    }
    if (th->g == self || (me != NULL && me->joiner == th->g)) {
        return EDEADLK; /* itself, or a thread that is joining us */
    }
    if (th->detached || th->joiner != NULL) {
        return EINVAL;
    }
    th->joiner = self;
    int r = join_wait(th);
    if (r != 0) {
        th->joiner = NULL;
        return r == -EPERM ? ESRCH : -r; /* -EDEADLK: nothing can end it */
    }
    if (retval != NULL) {
        *retval = th->retval;
    }
    green_task_release(th->task);
    record_free(th);
    return 0;
}

GREEN_INTERPOSE int pthread_detach(pthread_t t)
{
    bool dead;
    struct gthread *th = green__thread_on() ? record_of(t, &dead) : NULL;
    if (th == NULL) {
        return green__thread_on() && dead ? ESRCH
                                          : GREEN_REAL(pthread_detach)(t);
    }
    if (th->detached) {
        return EINVAL;
    }
    if (th->joiner != NULL) {
        return 0; /* glibc: the joiner wins */
    }
    green_task_release(th->task);
    th->task = NULL;
    if (th->ended) {
        record_free(th);
    } else {
        th->detached = true;
    }
    return 0;
}

/* pthread_exit in main (or in any OS thread's root): as in glibc, the
 * thread ends and the process lives on until its last thread ends. The
 * root's stack cannot end while greenlets run on this OS thread, so it
 * waits for every green pthread, then ends for real: glibc runs main's
 * key destructors and, main being the last thread, exits with 0. */
_Noreturn static void root_exit(void *retval)
{
    struct greenlet *self = green__self();
    if (self != NULL) {
        self->flags |= GREEN__SHIELD;
        while (live_threads > 0) {
            int r = green__waitq_wait(green__objq_get(&all_ended),
                                      GREEN_FOREVER,
                                      "pthread_exit, for the other threads",
                                      NULL);
            green__objq_tidy(&all_ended);
            if (r == -EDEADLK) {
                green__thread_deadlock("pthread_exit");
            }
        }
        self->flags &= (unsigned char)~GREEN__SHIELD;
    }
    GREEN_REAL(pthread_exit)(retval);
    __builtin_unreachable(); /* the pointer's type drops the noreturn */
}

GREEN_INTERPOSE _Noreturn void pthread_exit(void *retval)
{
    if (green__thread_on()) {
        struct green__thread *t = green__thread_peek();
        struct gthread *th = current_record();
        if (th != NULL) {
            thread_end(th, retval);
            green__task_exit(retval);
        }
        if (green_current() != NULL) {
            green__task_exit(retval); /* an API task: ends like a return */
        }
        if (t == NULL || t->current == &t->root) {
            root_exit(retval);
        }
    }
    GREEN_REAL(pthread_exit)(retval);
    __builtin_unreachable();
}

GREEN_INTERPOSE pthread_t pthread_self(void)
{
    struct gthread *th = green__thread_on() ? current_record() : NULL;
    return th != NULL ? (pthread_t)th : GREEN_REAL(pthread_self)();
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
        struct gthread *th = current_record();
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

/* --- names and attributes ------------------------------------------------- */

GREEN_INTERPOSE int pthread_setname_np(pthread_t t, const char *name)
{
    bool dead;
    struct gthread *th = green__thread_on() ? record_of(t, &dead) : NULL;
    if (th == NULL) {
        return green__thread_on() && dead
                   ? ESRCH
                   : GREEN_REAL(pthread_setname_np)(t, name);
    }
    if (strlen(name) >= NAME_MAX_LEN) {
        return ERANGE;
    }
    return greenlet_set_name(th->g, name) == 0 ? 0 : ENOMEM;
}

GREEN_INTERPOSE int pthread_getname_np(pthread_t t, char *buf, size_t len)
{
    bool dead;
    struct gthread *th = green__thread_on() ? record_of(t, &dead) : NULL;
    if (th == NULL) {
        return green__thread_on() && dead
                   ? ESRCH
                   : GREEN_REAL(pthread_getname_np)(t, buf, len);
    }
    if (len < NAME_MAX_LEN) {
        return ERANGE;
    }
    const char *name = greenlet_name(th->g);
    if (name == NULL) { /* unnamed: like a new thread, the process's name */
        return GREEN_REAL(pthread_getname_np)(GREEN_REAL(pthread_self)(), buf,
                                              len);
    }
    snprintf(buf, len, "%s", name);
    return 0;
}

/* glibc would read a green pthread_t as its own descriptor: the common
 * pthread_t-taking calls are answered here. */
GREEN_INTERPOSE int pthread_getattr_np(pthread_t t, pthread_attr_t *attr)
{
    bool dead;
    struct gthread *th = green__thread_on() ? record_of(t, &dead) : NULL;
    if (th == NULL) {
        return green__thread_on() && dead
                   ? ESRCH
                   : GREEN_REAL(pthread_getattr_np)(t, attr);
    }
    int r = pthread_attr_init(attr);
    if (r != 0) {
        return r;
    }
    pthread_attr_setdetachstate(attr, th->detached ? PTHREAD_CREATE_DETACHED
                                                   : PTHREAD_CREATE_JOINABLE);
    if (th->g->stack != NULL) {
        pthread_attr_setstack(attr, th->g->stack->lo, th->g->stack->size);
    } else {
        pthread_attr_setstacksize(attr, greenlet_stack_size(th->g));
    }
    return 0;
}

/* A signal for a green pthread goes to the OS thread they all share;
 * signal 0 only asks whether the thread exists. */
GREEN_INTERPOSE int pthread_kill(pthread_t t, int sig)
{
    bool dead;
    struct gthread *th = green__thread_on() ? record_of(t, &dead) : NULL;
    if (th == NULL) {
        return green__thread_on() && dead ? ESRCH
                                          : GREEN_REAL(pthread_kill)(t, sig);
    }
    if (sig == 0) {
        return 0;
    }
    return GREEN_REAL(pthread_kill)(GREEN_REAL(pthread_self)(), sig);
}
