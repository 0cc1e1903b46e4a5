/* SPDX-License-Identifier: MIT */
/* The runtime's own OS threads (lib/workers.c): the worker pool that runs
 * what cannot be made non-blocking while the caller parks, and the helper
 * every thread the runtime makes for itself is started with (the pool's
 * workers, the watchdog). */
#ifndef GREEN_WORKERS_H
#define GREEN_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The OS threads the runtime made for itself and that have not ended
 * (they are named green-...): a program's own threads are the kernel's
 * count minus these. */
extern int green__own_threads;

/* Starts fn(arg) on a new native OS thread: made with the real
 * pthread_create, detached, named `name` (which must start with
 * "green-"), with every signal blocked (a program's signal handlers run
 * on its own threads, as they would natively), counted in
 * green__own_threads until fn returns. stack_size 0: libc's default.
 * Returns 0 or a negative errno. Never switches. */
int green__os_thread(const char *name, void *(*fn)(void *), void *arg,
                     size_t stack_size);

/* The same for a thread whose greenlets may wake others' (a hub of
 * green/hubs.h), with libc's default stack: it is not counted in
 * green__own_threads, so it is one of the threads beside which a wait
 * that another OS thread may end is not a deadlock. */
int green__os_thread_waking(const char *name, void *(*fn)(void *), void *arg);

/* Work for the pool: run(j) is called on a worker, fills ret and err (or
 * whatever the caller put around the record) and returns. */
struct green__job {
    void (*run)(struct green__job *j);
    /* Called by the worker instead, once run returned, if the caller had
     * left (green__work_intr's -EINTR): undoes what run did (closes the
     * fd an open got, releases the lock a lock wait took). May be NULL. */
    void (*undo)(struct green__job *j);
    void *arg;
    long ret;
    int err;
    /* The pool's own, under its lock. */
    struct green__job *next;
    int state;                 /* QUEUED, RUNNING, DONE: the word the
                                  caller parks on (read atomically) */
    unsigned flags;            /* GREEN__JOB_* */
    bool abandoned;            /* its caller left: the worker frees it */
    void *result;              /* green_threadpool_run's */
};

enum {
    /* The work may wait for another party for as long as that takes (a
     * file lock, a FIFO's other end, a child process): it gets a thread
     * of its own if none is idle, whatever the pool's size, so that it
     * never waits in the queue behind work that waits for it. */
    GREEN__JOB_WAITS = 1
};

/* Runs j->run(j) on a worker while the calling greenlet waits, shielded
 * from kills and timeout scopes: it returns once run has returned.
 * Returns 0, or -ENOMEM, -EAGAIN (no worker could be made and none is
 * there: run never ran), -EPERM (called from the hub). May switch. */
int green__work(struct green__job *j, unsigned flags);

/* green__work() for a job on the heap (malloc) whose wait a signal may
 * end as intr says (enum green__intr; only the root greenlet is ever
 * interrupted). Returns 0 once run has returned (the caller frees j), or
 * -EINTR: the wait ended first, and j belongs to the pool from then on
 * (queued, it never runs; running, it runs to its end); either way the
 * pool frees it. -ENOMEM, -EAGAIN, -EPERM as green__work (j was not
 * queued: the caller frees it). May switch. */
int green__work_intr(struct green__job *j, unsigned flags, int intr);

/* A read of a regular file (read, pread, readv, preadv: iov[0..n), at off,
 * or at the file position when off is -1), green: a page-cache hit is
 * read at once (preadv2 with RWF_NOWAIT, one system call as the plain
 * read), a miss, or the part of a partial hit past what was cached, on a
 * worker while the caller parks. A file system that cannot say (no
 * RWF_NOWAIT) is read inline as before. Returns the count or a negative
 * errno, as the read would. May switch. */
ssize_t green__file_read(int fd, const struct iovec *iov, int n, off_t off);

/* fsync(fd) (datasync false) or fdatasync(fd) on a worker while the
 * caller parks. 0 or a negative errno. May switch. */
int green__file_sync(int fd, bool datasync);

/* For tests: how long an idle worker waits for work before it ends
 * (5000 ms), and how many workers there are now. */
extern int green__pool_idle_ms;
int green__pool_threads(void);

/* Jobs queued and not yet taken by a worker (green_stats' pool queue
 * depth). Takes the pool's lock. Never switches. */
size_t green__pool_queued(void);

/* Whether the process has OS threads besides the calling one and the
 * runtime's own (the kernel's count, /proc/self/task, read at most every
 * few milliseconds). Never switches. */
bool green__other_os_threads(void);

/* The same, read now (a system call). Never switches. */
bool green__other_os_threads_now(void);

#endif
