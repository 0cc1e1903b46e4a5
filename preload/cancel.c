/* SPDX-License-Identifier: MIT */
/* Cancellation of green pthreads as POSIX and glibc give it:
 * pthread_cancel, pthread_setcancelstate, pthread_setcanceltype,
 * pthread_testcancel, the cleanup handlers of pthread_cleanup_push (the
 * __pthread_register_cancel family its C macros call), and the unwinding
 * that a cancel and pthread_exit do.
 *
 * State. Each green pthread keeps a struct green__cancel in its record
 * (gthread.h); the main greenlet of an OS thread gets one on first use
 * (a short list, never freed). Anything else (API tasks, OS threads that
 * do not run green pthreads) passes to glibc.
 *
 * Where a cancel acts. Deferred cancellation acts at the cancellation
 * points the preload interposes: each brackets its call with
 * GREEN__CANCELLABLE (cancel.h). At entry a pending, enabled cancel acts
 * at once; inside, the thread is counted as being in a point, and a
 * pthread_cancel that finds it parked there wakes it with -EINTR (the
 * same wake-up pthread_kill's EINTR uses: every wait cleans up after
 * itself on that path, and the loops that retry after EINTR ask
 * green__cancel_woken() first), or with -ECANCELED, green_kill's, where
 * the wait is one a signal always ends and is not shielded (pause waits
 * on after an EINTR until a handler ran); when the call comes back the
 * bracket acts. A call that completed before the cancel came (its wake-up won)
 * returns its result, and the cancel acts at the next point, as glibc's
 * does. PTHREAD_CANCEL_ASYNCHRONOUS: a green thread is never interrupted
 * between two instructions, so an asynchronous cancel acts at once when
 * the thread cancels itself or turns it on, and otherwise the next time
 * the thread comes back into the runtime: at any cancellation point
 * (also one whose call completed) and at sched_yield, the call a busy
 * loop that lets others run makes.
 *
 * How it acts: as glibc's nptl does, a forced unwind (_Unwind_ForcedUnwind
 * with a stop function, exception class 0), so C++ destructors and
 * catch (...) { throw; } run as natively (abi::__forced_unwind). The C
 * macros' cleanup buffers are kept in a chain per thread (here, not in
 * glibc's descriptor, which green pthreads may share); the stop function
 * longjmps into the innermost buffer once the unwinding reaches the frame
 * that holds it, the macro runs the handler and calls
 * __pthread_unwind_next, which goes on with the next buffer. The unwinding
 * never walks past the green stack's first frame: green__cancel_run calls
 * the start routine after a sigsetjmp, and the stop function jumps back
 * there when it reaches that frame (or a frame without unwind data), so
 * the thread then ends as if its routine had returned PTHREAD_CANCELED:
 * thread_local and key destructors, and the joiner gets it. For main,
 * the unwinding goes to the end of its stack and then main ends as
 * pthread_exit in main does (join.c: it waits for the green pthreads,
 * then glibc ends it). pthread_exit unwinds the same way with its value.
 *
 * Not here: glibc's own cancellation points that the preload does not
 * interpose (open, close, fcntl's locks, msgrcv, tcdrain, ...) do not act
 * for green threads; a cancel of a green thread from another OS thread is
 * only marked pending (it acts at the target's next point). */
#include "gthread.h"
#include "handoff.h"

#include "log.h"
#include "tls.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

/* A cleanup buffer chained here, told apart from one given to glibc by
 * the last of its private words (glibc uses the first three). */
#define BUF_MINE ((void *)0x67636e6c) /* "gcnl" */
#define BUF_PREV(b) ((b)->__pad[0])
#define BUF_TYPE(b) ((b)->__pad[2])
#define BUF_MARK(b) ((b)->__pad[3])

/* --- glibc's own, for everything that is not green ----------------------- */

static void *next_fn(const char *name, void **slot)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (f == NULL) {
        f = dlsym(RTLD_NEXT, name);
        if (f == NULL) {
            green__log(GREEN_LOG_ERROR, "no %s in libc", name);
            abort();
        }
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}

#define NEXT(name)                                                        \
    ({                                                                    \
        static void *slot_;                                               \
        (__typeof__(&name))next_fn(#name, &slot_);                        \
    })

/* --- records ------------------------------------------------------------- */

/* The main greenlet of an OS thread: its record, made on first use. */
struct root_cancel {
    struct green__thread *thread;
    struct green__cancel c;
    struct root_cancel *next;
};

static struct root_cancel *roots;

static struct green__cancel *root_record(struct green__thread *t, bool make)
{
    struct root_cancel *r = __atomic_load_n(&roots, __ATOMIC_ACQUIRE);
    for (; r != NULL; r = r->next) {
        if (r->thread == t) {
            return &r->c;
        }
    }
    if (!make || (r = calloc(1, sizeof(*r))) == NULL) {
        return NULL;
    }
    r->thread = t;
    r->c.root = true;
    r->next = __atomic_load_n(&roots, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(&roots, &r->next, r, true,
                                        __ATOMIC_RELEASE, __ATOMIC_RELAXED)) {
    }
    return &r->c;
}

/* The calling thread's record: a green pthread's, main's (made if make),
 * or NULL (glibc's business). *g is its greenlet. */
static struct green__cancel *record(bool make, struct greenlet **g)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL || !green__thread_on()) {
        return NULL;
    }
    if (g != NULL) {
        *g = t->current;
    }
    if (t->current == &t->root) {
        return root_record(t, make);
    }
    struct gthread *th = green__gthread_current();
    return th != NULL ? &th->cancel : NULL;
}

static bool actionable(const struct green__cancel *c)
{
    return c->pending && c->state == PTHREAD_CANCEL_ENABLE && !c->exiting &&
           (c->root || c->base != NULL);
}

/* --- the unwinding ------------------------------------------------------- */

/* A catch (...) that ends without rethrowing the forced unwind: glibc
 * stops the process too. */
static void not_rethrown(_Unwind_Reason_Code reason,
                         struct _Unwind_Exception *exc)
{
    (void)reason, (void)exc;
    green__log(GREEN_LOG_ERROR, "a thread's cancellation or pthread_exit "
               "was caught and not rethrown; aborting");
    abort();
}

/* Called for each frame the unwinding is about to leave. target: the
 * innermost cleanup buffer not yet run, or NULL (then the base). Frames
 * grow down, so the frame that holds an object is the first whose CFA
 * (its caller's stack pointer) lies above the object. */
static _Unwind_Reason_Code stop(int version, _Unwind_Action actions,
                                _Unwind_Exception_Class cls,
                                struct _Unwind_Exception *exc,
                                struct _Unwind_Context *ctx, void *target)
{
    (void)version, (void)cls;
    struct green__cancel *c =
        (struct green__cancel *)(void *)((char *)exc -
                                         offsetof(struct green__cancel, exc));
    uintptr_t cfa = (uintptr_t)_Unwind_GetCFA(ctx);
    bool end = (actions & _UA_END_OF_STACK) != 0;
    __pthread_unwind_buf_t *buf = target;
    if (buf != NULL) {
        if (end || cfa > (uintptr_t)buf) {
            c->chain = BUF_PREV(buf); /* its handler runs now */
            /* The macro's buffer is a jmp_buf without the saved mask
             * that siglongjmp's type has room for: a copy that has. */
            sigjmp_buf jb;
            memcpy(jb[0].__jmpbuf, buf->__cancel_jmp_buf[0].__cancel_jmp_buf,
                   sizeof(jb[0].__jmpbuf));
            jb[0].__mask_was_saved = 0;
            siglongjmp(jb, 1);
        }
        return _URC_NO_REASON;
    }
    if (c->base != NULL) {
        if (end || cfa > (uintptr_t)c->base) {
            siglongjmp(c->base->jb, 1);
        }
        return _URC_NO_REASON;
    }
    if (end && c->root) {
        green__root_exit(c->value); /* main's stack has been unwound */
    }
    return end ? _URC_FATAL_PHASE2_ERROR : _URC_NO_REASON;
}

_Noreturn static void unwind(struct green__cancel *c,
                             __pthread_unwind_buf_t *target)
{
    c->exc.exception_class = 0;
    c->exc.exception_cleanup = not_rethrown;
    _Unwind_ForcedUnwind(&c->exc, stop, target);
    green__log(GREEN_LOG_ERROR, "a thread's stack cannot be unwound; "
               "aborting");
    abort();
}

/* The thread ends with value, unwinding its stack. */
_Noreturn static void unwind_exit(struct green__cancel *c, void *value)
{
    c->exiting = true;
    c->value = value;
    unwind(c, c->chain);
}

_Noreturn static void act(struct green__cancel *c)
{
    unwind_exit(c, PTHREAD_CANCELED);
}

void *green__cancel_run(struct gthread *th)
{
    struct green__cancel *c = &th->cancel;
    struct green__cancel_base base;
    c->base = &base;
    if (sigsetjmp(base.jb, 0) == 0) {
        c->value = green__handoff_call(th->start, th->arg);
    }
    green__handoff_ended();
    /* Destructors run from here on; a cancel acts no more. */
    c->base = NULL;
    c->exiting = true;
    c->chain = NULL;
    return c->value;
}

void green__cancel_exit(struct gthread *th, void *value)
{
    if (th->cancel.base != NULL) {
        unwind_exit(&th->cancel, value);
    }
}

void green__cancel_root_exit(void *value)
{
    struct green__cancel *c = record(true, NULL);
    if (c != NULL && c->root && !c->exiting) {
        unwind_exit(c, value);
    }
}

/* --- cancellation points ------------------------------------------------- */

struct green__cancel *green__cancel_enter(void)
{
    struct green__cancel *c = record(true, NULL);
    if (c == NULL) {
        return NULL;
    }
    if (GREEN__UNLIKELY(c->pending) && actionable(c)) {
        act(c);
    }
    c->points++;
    return c;
}

void green__cancel_leave(struct green__cancel *c)
{
    if (c == NULL) {
        return;
    }
    c->points--;
    if (GREEN__UNLIKELY(c->pending) && actionable(c) &&
        (c->woke || c->type == PTHREAD_CANCEL_ASYNCHRONOUS)) {
        act(c);
    }
    if (c->points == 0) {
        c->woke = false;
    }
}

void green__cancel_point(void)
{
    struct green__cancel *c = record(false, NULL);
    if (c != NULL && actionable(c)) {
        act(c);
    }
}

bool green__cancel_woken(void)
{
    struct green__cancel *c = record(false, NULL);
    return c != NULL && c->woke;
}

void green__cancel_async_point(void)
{
    struct green__cancel *c = record(false, NULL);
    if (c != NULL && c->type == PTHREAD_CANCEL_ASYNCHRONOUS &&
        actionable(c)) {
        act(c);
    }
}

/* --- the pthread calls --------------------------------------------------- */

/* Whether t is the OS thread's own pthread_t (its main greenlet's). */
static bool is_os_thread(struct green__thread *t, pthread_t h)
{
    if (h == (pthread_t)t->os_tp) {
        return true;
    }
    return !green__tls_private() && h == GREEN_REAL(pthread_self)();
}

GREEN_INTERPOSE int pthread_cancel(pthread_t h)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL || !green__thread_on()) {
        return NEXT(pthread_cancel)(h);
    }
    bool dead = false;
    struct gthread *th = green__gthread_of(h, &dead);
    struct green__cancel *c;
    struct greenlet *g;
    if (th != NULL) {
        if (th->ended) {
            return 0;
        }
        c = &th->cancel;
        g = th->g;
    } else if (dead) {
        return 0; /* glibc 2.36: a thread that has exited is not an error */
    } else if (is_os_thread(t, h) && (c = root_record(t, true)) != NULL) {
        g = &t->root;
    } else {
        return NEXT(pthread_cancel)(h);
    }
    if (c->pending) {
        return 0;
    }
    c->pending = true;
    if (c->state != PTHREAD_CANCEL_ENABLE || c->exiting) {
        return 0;
    }
    if (g == t->current) {
        if (c->type == PTHREAD_CANCEL_ASYNCHRONOUS && actionable(c)) {
            act(c);
        }
        return 0;
    }
    if (c->points > 0 && g->state == GREEN__PARKED && g->thread == t) {
        /* -EINTR, which every wait handles as a signal's end; but the
         * waits that a signal always ends (sleeps, poll, pause) may wait
         * on for the handler to run, and end at once on -ECANCELED when
         * not shielded, as for green_kill. */
        bool always = g->intr == GREEN__INTR_ALWAYS &&
                      !(g->flags & GREEN__SHIELD);
        c->woke = true;
        green__hub_wake(g, always ? -ECANCELED : -EINTR);
    }
    return 0;
}

GREEN_INTERPOSE int pthread_setcancelstate(int state, int *old)
{
    struct green__cancel *c = record(true, NULL);
    if (c == NULL) {
        return NEXT(pthread_setcancelstate)(state, old);
    }
    if (state != PTHREAD_CANCEL_ENABLE && state != PTHREAD_CANCEL_DISABLE) {
        return EINVAL;
    }
    if (old != NULL) {
        *old = c->state;
    }
    c->state = (unsigned char)state;
    if (c->type == PTHREAD_CANCEL_ASYNCHRONOUS && actionable(c)) {
        act(c);
    }
    return 0;
}

GREEN_INTERPOSE int pthread_setcanceltype(int type, int *old)
{
    struct green__cancel *c = record(true, NULL);
    if (c == NULL) {
        return NEXT(pthread_setcanceltype)(type, old);
    }
    if (type != PTHREAD_CANCEL_DEFERRED &&
        type != PTHREAD_CANCEL_ASYNCHRONOUS) {
        return EINVAL;
    }
    if (old != NULL) {
        *old = c->type;
    }
    c->type = (unsigned char)type;
    if (type == PTHREAD_CANCEL_ASYNCHRONOUS && actionable(c)) {
        act(c);
    }
    return 0;
}

GREEN_INTERPOSE void pthread_testcancel(void)
{
    struct green__cancel *c = record(false, NULL);
    if (c == NULL) {
        if (!green__thread_on() || green__thread_peek() == NULL) {
            NEXT(pthread_testcancel)();
        }
        return;
    }
    if (actionable(c)) {
        act(c);
    }
}

/* --- cleanup handlers (pthread_cleanup_push / pop in C) ------------------ */

GREEN_INTERPOSE void __pthread_register_cancel(__pthread_unwind_buf_t *buf)
{
    struct green__cancel *c = record(true, NULL);
    if (c == NULL) {
        BUF_MARK(buf) = NULL;
        NEXT(__pthread_register_cancel)(buf);
        return;
    }
    BUF_PREV(buf) = c->chain;
    BUF_MARK(buf) = BUF_MINE;
    c->chain = buf;
}

GREEN_INTERPOSE void __pthread_unregister_cancel(__pthread_unwind_buf_t *buf)
{
    struct green__cancel *c = record(false, NULL);
    if (c == NULL || BUF_MARK(buf) != BUF_MINE) {
        NEXT(__pthread_unregister_cancel)(buf);
        return;
    }
    c->chain = BUF_PREV(buf);
}

GREEN_INTERPOSE void
__pthread_register_cancel_defer(__pthread_unwind_buf_t *buf)
{
    struct green__cancel *c = record(true, NULL);
    if (c == NULL) {
        BUF_MARK(buf) = NULL;
        NEXT(__pthread_register_cancel_defer)(buf);
        return;
    }
    BUF_TYPE(buf) = (void *)(uintptr_t)c->type;
    c->type = PTHREAD_CANCEL_DEFERRED;
    __pthread_register_cancel(buf);
}

GREEN_INTERPOSE void
__pthread_unregister_cancel_restore(__pthread_unwind_buf_t *buf)
{
    struct green__cancel *c = record(false, NULL);
    if (c == NULL || BUF_MARK(buf) != BUF_MINE) {
        NEXT(__pthread_unregister_cancel_restore)(buf);
        return;
    }
    c->chain = BUF_PREV(buf);
    c->type = (unsigned char)(uintptr_t)BUF_TYPE(buf);
    if (c->type == PTHREAD_CANCEL_ASYNCHRONOUS && actionable(c)) {
        act(c);
    }
}

GREEN_INTERPOSE _Noreturn void
__pthread_unwind_next(__pthread_unwind_buf_t *buf)
{
    struct green__cancel *c = record(false, NULL);
    if (c == NULL || BUF_MARK(buf) != BUF_MINE) {
        NEXT(__pthread_unwind_next)(buf);
        __builtin_unreachable();
    }
    unwind(c, BUF_PREV(buf));
}
