/* SPDX-License-Identifier: MIT */
/* pthread_once under contention: 100 threads call pthread_once while the
 * first caller's init routine is blocked (it naps, so the others run);
 * the routine runs exactly once, and every caller returns only after it
 * has finished. A second once_control whose routine calls pthread_once
 * on a third one (nesting) works too. */
#include "thread_util.h"

#define N 100

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_once_t outer = PTHREAD_ONCE_INIT;
static pthread_once_t inner = PTHREAD_ONCE_INIT;
static int init_runs, init_done, inner_runs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int started;

static void init(void)
{
    init_runs++;
    tu_nap(50);
    LEGACY_CHECK_ONE_THREAD(); /* while the N callers are alive */
    init_done = 1;
}

static void init_inner(void)
{
    inner_runs++;
}

static void init_outer(void)
{
    pthread_once(&inner, init_inner);
}

static void *caller(void *arg)
{
    pthread_mutex_lock(&lock);
    started++;
    pthread_mutex_unlock(&lock);
    LEGACY_CHECK(pthread_once(&once, init) == 0);
    LEGACY_CHECK(init_done == 1);
    LEGACY_CHECK(pthread_once(&outer, init_outer) == 0);
    LEGACY_CHECK(inner_runs == 1);
    return (void *)((long)arg + 1);
}

int main(void)
{
    tu_run(N, caller, 1);
    LEGACY_CHECK(started == N);
    LEGACY_CHECK(init_runs == 1);
    LEGACY_CHECK(pthread_once(&once, init) == 0 && init_runs == 1);
    return 0;
}
