/* SPDX-License-Identifier: MIT */
/* The green pthread record (struct gthread) and what the files of the
 * thread family share about it: preload/thread.c (records, create, keys,
 * once), preload/join.c (join, detach, exit), preload/pthread_np.c (names,
 * attributes, scheduling, affinity, signals to threads, spin locks). */
#ifndef GREEN_PRELOAD_GTHREAD_H
#define GREEN_PRELOAD_GTHREAD_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#include "cancel.h"
#include "thread.h"

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
    bool sched_set;               /* a policy was set (pthread_np.c) */
    int sched_policy;
    struct sched_param sched_param;
    void *affinity;               /* its CPU set, malloc'd, or NULL for the
                                     OS thread's */
    size_t affinity_size;
    pid_t vtid;                   /* its thread id (preload/tid.c), or 0
                                     for the kernel's */
    struct gthread *vtid_next;    /* link in tid.c's table */
    void *pd;                     /* its glibc descriptor and TLS (its
                                     pthread_t), or NULL if it shares the
                                     OS thread's TLS (its pthread_t is then
                                     this record) */
    struct green__cancel cancel;  /* its cancellation state (cancel.c) */
};

/* Per OS thread: spare records, the number of green pthreads that have
 * not ended, and main's wait for them in pthread_exit. In the OS thread's
 * state, not in TLS: a green pthread has TLS of its own. If the state
 * cannot be made (no memory for one page), a process-wide stand-in keeps
 * the counts meaningful. */
typedef __typeof__(((struct green__thread *)0)->pthreads) os_pthreads_t;

static inline os_pthreads_t *pthreads_of_os_thread(void)
{
    extern os_pthreads_t green__pthreads_stand_in;
    struct green__thread *t = green__thread_get();
    return t != NULL ? &t->pthreads : &green__pthreads_stand_in;
}
#define free_records (pthreads_of_os_thread()->free_records)
#define live_threads (pthreads_of_os_thread()->live)
#define all_ended (pthreads_of_os_thread()->ended)
/* Callers of pthread_once waiting for someone else's init routine. */
#define once_waiters (pthreads_of_os_thread()->once_waiters)


/* The record behind a pthread_t: a live one, NULL for anything that is
 * not a green pthread (libc's threads). *dead says it was one and is
 * gone. */
struct gthread *green__gthread_of(pthread_t t, bool *dead);

/* The green pthread running now, or NULL (main, the hub, API tasks). */
struct gthread *green__gthread_current(void);

/* Gives a record back (joined, or ended detached). */
void green__gthread_free(struct gthread *th);

/* What every green pthread does last (its start routine returned or it
 * called pthread_exit): key and thread_local destructors, pending
 * pthread_once callers, the count of live threads. */
void green__gthread_end(struct gthread *th, void *retval);

/* Calls th's start routine, where a cancel's or pthread_exit's unwinding
 * ends; returns what the thread ends with (cancel.c). */
void *green__cancel_run(struct gthread *th);

/* pthread_exit in a green pthread: unwinds its stack (cleanup handlers,
 * C++ destructors) and ends it with value; returns if it is not inside
 * its start routine (a destructor calls pthread_exit). */
void green__cancel_exit(struct gthread *th, void *value);

/* pthread_exit in main: the same unwinding, which then ends main as
 * green__root_exit does; returns if main has no record (no memory). */
void green__cancel_root_exit(void *value);

/* main's end (join.c): waits for every green pthread, then ends the OS
 * thread's main for real. */
_Noreturn void green__root_exit(void *retval);

/* Thread ids (preload/tid.c): one for each record, given back when it
 * is freed; the forking thread takes the kernel's in a child. */
void green__vtid_new(struct gthread *th);
void green__vtid_drop(struct gthread *th);
void green__vtid_after_fork(void);

/* gettid() and tgkill()/tkill() (check_tgid false) as the preload gives
 * them: a green pthread's own id; the kernel's answer as -errno. */
pid_t green__gettid(void);
long green__tgkill(pid_t tgid, pid_t tid, int sig, bool check_tgid);

/* The pthread_t of a record: its descriptor when it has TLS of its own,
 * else the record's address. */
static inline pthread_t green__gthread_handle(const struct gthread *th)
{
    return th->pd != NULL ? (pthread_t)th->pd : (pthread_t)th;
}

#endif
