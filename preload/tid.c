/* SPDX-License-Identifier: MIT */
/* Thread ids of green pthreads: gettid(), tgkill() and tkill(), and the
 * same through syscall() (preload/futex.c sends them here).
 *
 * Natively every thread has a kernel thread id of its own; programs log
 * it, key tables by it, and make recursive locks that compare it with
 * the owner's. Green pthreads of one OS thread share its kernel id, so
 * each gets an id of its own instead, above any id the kernel can give
 * (PID_MAX_LIMIT, 2^22), so that it can never name another thread or
 * process of the system. Main (and every OS thread's root) keeps the
 * kernel's id; so does the forking thread in a child of fork(), where it
 * is the child's only thread (its id is the child's pid, as natively).
 * tgkill and tkill of such an id send the signal to that green thread,
 * as pthread_kill does; an id that names no live green thread is ESRCH.
 * What stays the kernel's: /proc/self/task has no entry for these ids,
 * and calls that take a thread id for the kernel (sched_setaffinity,
 * setpriority, ioprio_set) given one say ESRCH. glibc's own descriptor
 * keeps the OS thread's id (lib/tls.c), which its internals need. */
#include "preload.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gthread.h"
#include "rawsys.h"

/* Above the kernel's PID_MAX_LIMIT (4 << 20 on 64-bit). */
#define VTID_BASE ((pid_t)(4 << 20) + 1)
#define BUCKETS 1024

static struct {
    pthread_mutex_t lock;       /* tgkill may come from any OS thread */
    pid_t next;
    struct gthread *bucket[BUCKETS];
} ids = {.lock = PTHREAD_MUTEX_INITIALIZER, .next = VTID_BASE};

static unsigned slot(pid_t id)
{
    return (unsigned)id % BUCKETS;
}

static bool in_table(pid_t id)
{
    for (struct gthread *p = ids.bucket[slot(id)]; p != NULL;
         p = p->vtid_next) {
        if (p->vtid == id) {
            return true;
        }
    }
    return false;
}

void green__vtid_new(struct gthread *th)
{
    GREEN_REAL(pthread_mutex_lock)(&ids.lock);
    pid_t id;
    do {
        id = ids.next;
        ids.next = id == 0x7fffffff ? VTID_BASE : id + 1;
    } while (in_table(id)); /* after two thousand million threads */
    th->vtid = id;
    th->vtid_next = ids.bucket[slot(id)];
    ids.bucket[slot(id)] = th;
    GREEN_REAL(pthread_mutex_unlock)(&ids.lock);
}

void green__vtid_drop(struct gthread *th)
{
    if (th->vtid == 0) {
        return;
    }
    GREEN_REAL(pthread_mutex_lock)(&ids.lock);
    for (struct gthread **pp = &ids.bucket[slot(th->vtid)]; *pp != NULL;
         pp = &(*pp)->vtid_next) {
        if (*pp == th) {
            *pp = th->vtid_next;
            break;
        }
    }
    GREEN_REAL(pthread_mutex_unlock)(&ids.lock);
    th->vtid = 0;
    th->vtid_next = NULL;
}

void green__vtid_after_fork(void)
{
    /* The child's only thread: the one that forked, whose id the kernel
     * made the child's pid. The table's other entries are records of
     * threads the child does not have. */
    ids.lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    for (unsigned i = 0; i < BUCKETS; i++) {
        ids.bucket[i] = NULL;
    }
    struct gthread *me = green__gthread_current();
    if (me != NULL) {
        me->vtid = 0;
        me->vtid_next = NULL;
    }
}

pid_t green__gettid(void)
{
    struct gthread *th = green__thread_on() ? green__gthread_current() : NULL;
    if (th != NULL && th->vtid != 0) {
        return th->vtid;
    }
    return (pid_t)green__syscall(SYS_gettid);
}

GREEN_INTERPOSE pid_t gettid(void)
{
    return green__gettid();
}

/* The pthread_t of the green thread whose id is tid, if any. */
static bool handle_of(pid_t tid, pthread_t *out)
{
    bool found = false;
    GREEN_REAL(pthread_mutex_lock)(&ids.lock);
    for (struct gthread *p = ids.bucket[slot(tid)]; p != NULL;
         p = p->vtid_next) {
        if (p->vtid == tid && p->magic == GTHREAD_LIVE && !p->ended) {
            *out = green__gthread_handle(p);
            found = true;
            break;
        }
    }
    GREEN_REAL(pthread_mutex_unlock)(&ids.lock);
    return found;
}

long green__tgkill(pid_t tgid, pid_t tid, int sig, bool check_tgid)
{
    if (tid < VTID_BASE) {
        return check_tgid ? green__syscall(SYS_tgkill, tgid, tid, sig)
                          : green__syscall(SYS_tkill, tid, sig);
    }
    pthread_t t;
    if ((check_tgid && tgid != getpid()) || !handle_of(tid, &t)) {
        return -ESRCH;
    }
    int r = pthread_kill(t, sig); /* the preload's */
    return r == 0 ? 0 : -r;
}

GREEN_INTERPOSE int tgkill(pid_t tgid, pid_t tid, int sig)
{
    long r = green__tgkill(tgid, tid, sig, true);
    if (r < 0) {
        errno = (int)-r;
        return -1;
    }
    return 0;
}
