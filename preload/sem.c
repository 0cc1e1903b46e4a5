/* Green POSIX semaphores: sem_init (not process-shared), sem_wait and its
 * try / timed / clock forms, sem_post, sem_getvalue, sem_destroy, in the
 * bytes of sem_t.
 *
 * Fair like lib/lock.c's semaphore: a post with waiters hands the unit to
 * the first one instead of raising the value, so nobody overtakes a
 * waiter, and a waiter that timed out has left the queue already.
 *
 * Process-shared semaphores (sem_init with pshared, and every sem_open)
 * stay glibc's: glibc keeps its `private` word at offset 8, 0 for those,
 * where a green semaphore keeps SEM_MAGIC. They block the OS thread.
 *
 * These are the libc boundary: errors become -1 and errno (green__ret).
 * A signal handler ends the wait with EINTR as it does on Linux (not
 * quite as signal(7) says): sem_timedwait and sem_clockwait always,
 * sem_wait unless the handler has SA_RESTART. EDEADLK when nothing could
 * ever post. */
#include "thread.h"

#include <limits.h>
#include <semaphore.h>
#include <string.h>

#define SEM_MAGIC 0x6772736du /* "grsm" */

struct gsem {
    unsigned value;               /* free units (glibc's value is here too) */
    unsigned spare0;
    unsigned magic;               /* SEM_MAGIC; glibc's `private` word */
    unsigned spare1;
    struct green__waitq waiters;  /* FIFO; zero bytes when empty */
};

_Static_assert(sizeof(struct gsem) <= sizeof(sem_t),
               "a green semaphore fits in sem_t");
_Static_assert(_Alignof(struct gsem) <= _Alignof(sem_t),
               "and is aligned like it");

static inline struct gsem *gs(sem_t *s)
{
    return (struct gsem *)(void *)s;
}

static inline bool sem_green(sem_t *s)
{
    return green__thread_on() && gs(s)->magic == SEM_MAGIC;
}

/* Takes a unit, waiting (unless try) until abs on clock if given. */
static int sem_take(struct gsem *s, bool try, clockid_t clock,
                    const struct timespec *abs)
{
    if (s->value > 0) { /* with hand-off, a value means nobody waits */
        s->value--;
        return 0;
    }
    if (try) {
        return -EAGAIN;
    }
    /* As on Linux: the kernel restarts an untimed futex wait after an
     * SA_RESTART handler, never a timed one. */
    bool handed;
    return green__objq_wait(&s->waiters, &handed, clock, abs,
                            abs != NULL ? GREEN__INTR_ALWAYS
                                        : GREEN__INTR_RESTART,
                            "sem_wait on", s);
}

/* sem_timedwait and sem_clockwait check the deadline before anything. */
static int sem_timed(sem_t *s, clockid_t clock, const struct timespec *abs)
{
    int r = green__deadline_check(clock, abs);
    return (int)green__ret(r != 0 ? r : sem_take(gs(s), false, clock, abs));
}

GREEN_INTERPOSE int sem_init(sem_t *s, int pshared, unsigned value)
{
    if (!green__thread_on() || pshared != 0) {
        return GREEN_REAL(sem_init)(s, pshared, value);
    }
    if (value > SEM_VALUE_MAX) {
        return (int)green__ret(-EINVAL);
    }
    memset(s, 0, sizeof(*s));
    gs(s)->value = value;
    gs(s)->magic = SEM_MAGIC;
    return 0;
}

GREEN_INTERPOSE int sem_destroy(sem_t *s)
{
    if (!sem_green(s)) {
        return GREEN_REAL(sem_destroy)(s);
    }
    if (!green__objq_empty(&gs(s)->waiters)) {
        return (int)green__ret(-EBUSY);
    }
    gs(s)->magic = 0;
    return 0;
}

GREEN_INTERPOSE int sem_wait(sem_t *s)
{
    if (!sem_green(s)) {
        return GREEN_REAL(sem_wait)(s);
    }
    return (int)green__ret(sem_take(gs(s), false, CLOCK_REALTIME, NULL));
}

GREEN_INTERPOSE int sem_trywait(sem_t *s)
{
    if (!sem_green(s)) {
        return GREEN_REAL(sem_trywait)(s);
    }
    return (int)green__ret(sem_take(gs(s), true, CLOCK_REALTIME, NULL));
}

GREEN_INTERPOSE int sem_timedwait(sem_t *s, const struct timespec *abs)
{
    if (!sem_green(s)) {
        return GREEN_REAL(sem_timedwait)(s, abs);
    }
    return sem_timed(s, CLOCK_REALTIME, abs);
}

GREEN_INTERPOSE int sem_clockwait(sem_t *s, clockid_t clock,
                                  const struct timespec *abs)
{
    if (!sem_green(s)) {
        return GREEN_REAL(sem_clockwait)(s, clock, abs);
    }
    return sem_timed(s, clock, abs);
}

GREEN_INTERPOSE int sem_post(sem_t *ps)
{
    if (!sem_green(ps)) {
        return GREEN_REAL(sem_post)(ps);
    }
    struct gsem *s = gs(ps);
    if (green__objq_handoff(&s->waiters) != NULL) {
        return 0;
    }
    if (s->value >= SEM_VALUE_MAX) {
        return (int)green__ret(-EOVERFLOW);
    }
    s->value++;
    return 0;
}

GREEN_INTERPOSE int sem_getvalue(sem_t *s, int *value)
{
    if (!sem_green(s)) {
        return GREEN_REAL(sem_getvalue)(s, value);
    }
    *value = (int)gs(s)->value;
    return 0;
}
