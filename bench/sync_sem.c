/* SPDX-License-Identifier: MIT */
/* Semaphore (and lock) under contention: N tasks each take a
 * green_sem_t(1) K times, doing nothing while they hold it. To make every
 * take a contended one, the root greenlet holds the semaphore while the
 * tasks start, so all N are parked in green_sem_acquire() before the
 * clock starts; then it lets go. From there a release hands the permit to
 * the task that has waited longest, and the releaser's next acquire parks
 * it at the back of the line: every acquire + release is one hand-off and
 * one switch, with N - 1 tasks waiting. The result is the time from the
 * root's release until every task has been joined, / (N K). Go's buffered
 * channel of capacity 1 (and sync.Mutex) and gevent's Semaphore are
 * measured the same way in bench/go and bench/gevent.
 *
 *   sem.libgreen    ns per acquire + release, green_sem_t(1)
 *   lock.libgreen   ns per acquire + release, green_lock_t, the same way
 *
 * Checked: each task got it K times, nobody held it together with
 * another, and the semaphore is fair as lock.h promises: takes come in
 * strict rotation, task 0, 1, ..., N - 1, 0, 1, ...
 *
 * BENCH_SEM_TASKS sets N (default 10,000), BENCH_SEM_ROUNDS sets K
 * (default 100). */
#include <stdint.h>

#include "green.h"

#include "bench.h"

/* The primitive under test, behind two small wrappers. */
struct prim {
    const char *name;
    int (*make)(void **obj);
    int (*acquire)(void *obj);
    int (*release)(void *obj);
    int (*destroy)(void *obj);
};

static int sem_make(void **obj)
{
    return green_sem_new((green_sem_t **)obj, 1);
}

static int sem_acquire(void *obj)
{
    return green_sem_acquire(obj, GREEN_FOREVER);
}

static int sem_release(void *obj)
{
    return green_sem_release(obj);
}

static int sem_destroy(void *obj)
{
    return green_sem_free(obj);
}

static int lock_make(void **obj)
{
    return green_lock_new((green_lock_t **)obj);
}

static int lock_acquire(void *obj)
{
    return green_lock_acquire(obj, GREEN_FOREVER);
}

static int lock_release(void *obj)
{
    return green_lock_release(obj);
}

static int lock_destroy(void *obj)
{
    return green_lock_free(obj);
}

static const struct prim prims[] = {
    { "sem.libgreen", sem_make, sem_acquire, sem_release, sem_destroy },
    { "lock.libgreen", lock_make, lock_acquire, lock_release, lock_destroy },
};

static const struct prim *prim;
static void *obj;
static long ntasks, per_task;
static long started;      /* tasks that reached their first acquire */
static long takes;        /* acquisitions so far, by all tasks */
static long holder;       /* the task holding it, or -1 */
static long *counts;      /* acquisitions per task */

static void *contender(void *arg)
{
    long me = (long)(uintptr_t)arg;
    started++;
    for (long k = 0; k < per_task; k++) {
        BENCH_CHECK(prim->acquire(obj) == 0);
        BENCH_CHECK(holder == -1);
        BENCH_CHECK(takes % ntasks == me); /* FIFO hand-off */
        holder = me;
        takes++;
        counts[me]++;
        holder = -1;
        BENCH_CHECK(prim->release(obj) == 0);
    }
    return arg;
}

static uint64_t run(const struct prim *p, green_task_t **tasks, long n,
                    long k)
{
    prim = p;
    ntasks = n;
    per_task = k;
    started = takes = 0;
    holder = -1;
    for (long i = 0; i < n; i++) {
        counts[i] = 0;
    }
    BENCH_CHECK(p->make(&obj) == 0);
    BENCH_CHECK(p->acquire(obj) == 0); /* the root holds it ... */
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(green_spawn(&tasks[i], contender,
                                (void *)(uintptr_t)i) == 0);
    }
    /* ... while every task starts and parks in its first acquire. */
    for (int tries = 0; tries < 100 && started < n; tries++) {
        BENCH_CHECK(green_sleep(0) == 0);
    }
    BENCH_CHECK(started == n && takes == 0);

    uint64_t t0 = bench_now_ns();
    BENCH_CHECK(p->release(obj) == 0);
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(green_join(tasks[i], GREEN_FOREVER, NULL) == 0);
    }
    uint64_t t1 = bench_now_ns();

    for (long i = 0; i < n; i++) {
        BENCH_CHECK(green_task_status(tasks[i]) == GREEN_TASK_DONE);
        BENCH_CHECK(counts[i] == k);
        green_task_release(tasks[i]);
    }
    BENCH_CHECK(takes == n * k && holder == -1);
    BENCH_CHECK(p->destroy(obj) == 0);
    return t1 - t0;
}

int main(void)
{
    long n = bench_env_long("BENCH_SEM_TASKS", 10000);
    long k = bench_env_long("BENCH_SEM_ROUNDS", 100);
    green_task_t **tasks = calloc((size_t)n, sizeof *tasks);
    counts = calloc((size_t)n, sizeof *counts);
    BENCH_CHECK(tasks != NULL && counts != NULL);

    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++) {
        run(&prims[i], tasks, n, k / 10 > 0 ? k / 10 : 1); /* warm-up */
        uint64_t ns = run(&prims[i], tasks, n, k);
        bench_report(prims[i].name, (double)ns / ((double)n * (double)k),
                     "ns");
    }
    BENCH_CHECK(green_run() == 0);
    free(tasks);
    free(counts);
    return 0;
}
