/* SPDX-License-Identifier: MIT */
/* glibc's other exported names for pthread functions the preload
 * replaces: __pthread_mutex_*, __pthread_rwlock_*, __pthread_once,
 * __pthread_key_create, __pthread_get/setspecific (GLIBC_2.2.5, from
 * the days of a separate libpthread; __pthread_key_create is a default
 * version again since 2.34) and pthread_mutex_consistent_np (GLIBC_2.4).
 *
 * New programs cannot link against most of them, but old binaries (and
 * a program that looks one up with dlvsym) still bind to them, and glibc
 * implements them as its own functions, not calls through the public
 * names: a green thread locking a green mutex through __pthread_mutex_lock
 * would run glibc's futex protocol on the green layout and block the OS
 * thread (measured: a program taking one mutex through it from 4 green
 * threads hangs), and a key made by __pthread_key_create would be unknown
 * to the preload's pthread_setspecific (EINVAL in a green thread). Each
 * name here calls the public function of the same meaning, so it reaches
 * the interposer (preload/sync.c, rwlock.c, thread.c). The attribute
 * ones (__pthread_mutexattr_*) touch only the attribute object and stay
 * glibc's. See docs/pthread-audit.md. */
#include "preload.h"

#include <pthread.h>

/* Not declared by glibc's headers (but __pthread_key_create's). */
int __pthread_mutex_init(pthread_mutex_t *, const pthread_mutexattr_t *);
int __pthread_mutex_destroy(pthread_mutex_t *);
int __pthread_mutex_lock(pthread_mutex_t *);
int __pthread_mutex_trylock(pthread_mutex_t *);
int __pthread_mutex_unlock(pthread_mutex_t *);
int __pthread_rwlock_init(pthread_rwlock_t *, const pthread_rwlockattr_t *);
int __pthread_rwlock_destroy(pthread_rwlock_t *);
int __pthread_rwlock_rdlock(pthread_rwlock_t *);
int __pthread_rwlock_tryrdlock(pthread_rwlock_t *);
int __pthread_rwlock_wrlock(pthread_rwlock_t *);
int __pthread_rwlock_trywrlock(pthread_rwlock_t *);
int __pthread_rwlock_unlock(pthread_rwlock_t *);
int __pthread_once(pthread_once_t *, void (*)(void));
int __pthread_key_create(pthread_key_t *, void (*)(void *));
void *__pthread_getspecific(pthread_key_t);
int __pthread_setspecific(pthread_key_t, const void *);

GREEN_INTERPOSE int __pthread_mutex_init(pthread_mutex_t *m,
                                         const pthread_mutexattr_t *a)
{
    return pthread_mutex_init(m, a);
}

GREEN_INTERPOSE int __pthread_mutex_destroy(pthread_mutex_t *m)
{
    return pthread_mutex_destroy(m);
}

GREEN_INTERPOSE int __pthread_mutex_lock(pthread_mutex_t *m)
{
    return pthread_mutex_lock(m);
}

GREEN_INTERPOSE int __pthread_mutex_trylock(pthread_mutex_t *m)
{
    return pthread_mutex_trylock(m);
}

GREEN_INTERPOSE int __pthread_mutex_unlock(pthread_mutex_t *m)
{
    return pthread_mutex_unlock(m);
}

/* <pthread.h> sends the old name to the new one (an asm redirect), so
 * it is defined under its symbol name. */
GREEN_INTERPOSE int green_mutex_consistent_np_(pthread_mutex_t *m)
    __asm__("pthread_mutex_consistent_np");
GREEN_INTERPOSE int green_mutex_consistent_np_(pthread_mutex_t *m)
{
    return pthread_mutex_consistent(m);
}

GREEN_INTERPOSE int __pthread_rwlock_init(pthread_rwlock_t *rw,
                                          const pthread_rwlockattr_t *a)
{
    return pthread_rwlock_init(rw, a);
}

GREEN_INTERPOSE int __pthread_rwlock_destroy(pthread_rwlock_t *rw)
{
    return pthread_rwlock_destroy(rw);
}

GREEN_INTERPOSE int __pthread_rwlock_rdlock(pthread_rwlock_t *rw)
{
    return pthread_rwlock_rdlock(rw);
}

GREEN_INTERPOSE int __pthread_rwlock_tryrdlock(pthread_rwlock_t *rw)
{
    return pthread_rwlock_tryrdlock(rw);
}

GREEN_INTERPOSE int __pthread_rwlock_wrlock(pthread_rwlock_t *rw)
{
    return pthread_rwlock_wrlock(rw);
}

GREEN_INTERPOSE int __pthread_rwlock_trywrlock(pthread_rwlock_t *rw)
{
    return pthread_rwlock_trywrlock(rw);
}

GREEN_INTERPOSE int __pthread_rwlock_unlock(pthread_rwlock_t *rw)
{
    return pthread_rwlock_unlock(rw);
}

GREEN_INTERPOSE int __pthread_once(pthread_once_t *once, void (*init)(void))
{
    return pthread_once(once, init);
}

GREEN_INTERPOSE int __pthread_key_create(pthread_key_t *key,
                                         void (*dtor)(void *))
{
    return pthread_key_create(key, dtor);
}

GREEN_INTERPOSE void *__pthread_getspecific(pthread_key_t key)
{
    return pthread_getspecific(key);
}

GREEN_INTERPOSE int __pthread_setspecific(pthread_key_t key, const void *value)
{
    return pthread_setspecific(key, value);
}
