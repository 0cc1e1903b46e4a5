/* SPDX-License-Identifier: MIT */
/* C11 threads (<threads.h>): thrd_*, mtx_*, cnd_*, tss_* and call_once,
 * each mapped onto the preload's pthread functions.
 *
 * Why they need interposers at all: glibc (2.34 and later) builds its C11
 * threads on pthreads, but calls its own internal aliases (its
 * __pthread_create, __pthread_mutex_lock, ...), never through the PLT.
 * Without these, a program using <threads.h> under the preload gets real
 * OS threads from thrd_create and blocks its OS thread in mtx_lock,
 * cnd_wait and thrd_sleep, whatever the pthread interposers do. Here every
 * C11 call goes to the pthread function of the same meaning by its public
 * name, so it reaches preload/thread.c, join.c, sync.c and time.c (or
 * glibc's, where those pass a call through).
 *
 * The results are glibc's: an error number of the pthread call becomes
 * thrd_success (0), thrd_nomem (ENOMEM), thrd_timedout (ETIMEDOUT),
 * thrd_busy (EBUSY) or else thrd_error; thrd_sleep returns 0, -1 for a
 * signal, -2 for any other failure; a thread's int result travels through
 * its void * as glibc's does (uintptr_t). See docs/pthread-audit.md. */
#include "preload.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is a pthread_t");
_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t),
               "mtx_t is a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t),
               "cnd_t is a pthread_cond_t");
_Static_assert(sizeof(tss_t) == sizeof(pthread_key_t),
               "tss_t is a pthread_key_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t),
               "once_flag is a pthread_once_t");

/* A pthread error number as C11 reports it (glibc's mapping). */
static int c11_result(int err)
{
    switch (err) {
    case 0:
        return thrd_success;
    case ENOMEM:
        return thrd_nomem;
    case ETIMEDOUT:
        return thrd_timedout;
    case EBUSY:
        return thrd_busy;
    default:
        return thrd_error;
    }
}

/* --- threads --------------------------------------------------------------- */

/* What a C11 thread runs: its int function and argument, given to the
 * pthread start routine below, which frees it before calling. */
struct c11_start {
    thrd_start_t fn;
    void *arg;
};

static void *c11_run(void *p)
{
    struct c11_start s = *(struct c11_start *)p;
    free(p);
    return (void *)(uintptr_t)s.fn(s.arg);
}

GREEN_INTERPOSE int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    struct c11_start *s = malloc(sizeof(*s));
    if (s == NULL) {
        return thrd_nomem;
    }
    s->fn = fn;
    s->arg = arg;
    pthread_t t;
    int err = pthread_create(&t, NULL, c11_run, s);
    if (err != 0) {
        free(s);
        return c11_result(err);
    }
    *thr = (thrd_t)t;
    return thrd_success;
}

GREEN_INTERPOSE int thrd_join(thrd_t thr, int *res)
{
    void *r = NULL;
    int err = pthread_join((pthread_t)thr, &r);
    if (res != NULL) {
        *res = (int)(uintptr_t)r; /* glibc writes it even on an error */
    }
    return c11_result(err);
}

GREEN_INTERPOSE int thrd_detach(thrd_t thr)
{
    return c11_result(pthread_detach((pthread_t)thr));
}

GREEN_INTERPOSE _Noreturn void thrd_exit(int res)
{
    pthread_exit((void *)(uintptr_t)res);
}

GREEN_INTERPOSE thrd_t thrd_current(void)
{
    return (thrd_t)pthread_self();
}

GREEN_INTERPOSE int thrd_equal(thrd_t a, thrd_t b)
{
    return a == b;
}

GREEN_INTERPOSE int thrd_sleep(const struct timespec *d, struct timespec *rem)
{
    switch (clock_nanosleep(CLOCK_REALTIME, 0, d, rem)) {
    case 0:
        return 0;
    case EINTR:
        return -1;
    default:
        return -2;
    }
}

GREEN_INTERPOSE void thrd_yield(void)
{
    sched_yield();
}

/* --- mutexes and condition variables --------------------------------------- */

GREEN_INTERPOSE int mtx_init(mtx_t *m, int type)
{
    /* glibc: recursive for mtx_plain or mtx_timed with mtx_recursive,
     * a normal mutex for anything else (no value is refused). */
    bool recursive = type == (mtx_plain | mtx_recursive) ||
                     type == (mtx_timed | mtx_recursive);
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, recursive ? PTHREAD_MUTEX_RECURSIVE
                                            : PTHREAD_MUTEX_NORMAL);
    int err = pthread_mutex_init((pthread_mutex_t *)m, &a);
    pthread_mutexattr_destroy(&a);
    return c11_result(err);
}

GREEN_INTERPOSE int mtx_lock(mtx_t *m)
{
    return c11_result(pthread_mutex_lock((pthread_mutex_t *)m));
}

GREEN_INTERPOSE int mtx_timedlock(mtx_t *restrict m,
                                  const struct timespec *restrict abs)
{
    return c11_result(pthread_mutex_timedlock((pthread_mutex_t *)m, abs));
}

GREEN_INTERPOSE int mtx_trylock(mtx_t *m)
{
    return c11_result(pthread_mutex_trylock((pthread_mutex_t *)m));
}

GREEN_INTERPOSE int mtx_unlock(mtx_t *m)
{
    return c11_result(pthread_mutex_unlock((pthread_mutex_t *)m));
}

GREEN_INTERPOSE void mtx_destroy(mtx_t *m)
{
    pthread_mutex_destroy((pthread_mutex_t *)m);
}

GREEN_INTERPOSE int cnd_init(cnd_t *c)
{
    return c11_result(pthread_cond_init((pthread_cond_t *)c, NULL));
}

GREEN_INTERPOSE int cnd_wait(cnd_t *c, mtx_t *m)
{
    return c11_result(
        pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

GREEN_INTERPOSE int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m,
                                  const struct timespec *restrict abs)
{
    return c11_result(pthread_cond_timedwait((pthread_cond_t *)c,
                                             (pthread_mutex_t *)m, abs));
}

GREEN_INTERPOSE int cnd_signal(cnd_t *c)
{
    return c11_result(pthread_cond_signal((pthread_cond_t *)c));
}

GREEN_INTERPOSE int cnd_broadcast(cnd_t *c)
{
    return c11_result(pthread_cond_broadcast((pthread_cond_t *)c));
}

GREEN_INTERPOSE void cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *)c);
}

/* --- thread-specific storage and call_once ---------------------------------- */

GREEN_INTERPOSE int tss_create(tss_t *key, tss_dtor_t dtor)
{
    return c11_result(pthread_key_create((pthread_key_t *)key, dtor));
}

GREEN_INTERPOSE void *tss_get(tss_t key)
{
    return pthread_getspecific((pthread_key_t)key);
}

GREEN_INTERPOSE int tss_set(tss_t key, void *value)
{
    return c11_result(pthread_setspecific((pthread_key_t)key, value));
}

GREEN_INTERPOSE void tss_delete(tss_t key)
{
    pthread_key_delete((pthread_key_t)key);
}

GREEN_INTERPOSE void call_once(once_flag *flag, void (*fn)(void))
{
    pthread_once((pthread_once_t *)flag, fn);
}
