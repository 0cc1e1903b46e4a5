/* SPDX-License-Identifier: MIT */
/* The worker pool's round trip (green/threadpool.h): BENCH_JOBS (100,000)
 * green_threadpool_run calls of a function that returns its argument + 1,
 * one after another from one task, each result checked; µs per call, from
 * the call to the caller running again with the result (the job queued,
 * a worker woken, the function run, the caller's hub woken from the
 * worker's thread, the caller scheduled).
 *
 * References in the same run: the same through a hand-written native pool
 * of one worker thread (a mutex, two condition variables, one job slot),
 * as a program without libgreen would do it; and a batch of 8 calls from
 * 8 tasks at once (µs per call), which the pool's threads share.
 *
 *   threadpool.libgreen         µs per green_threadpool_run, one caller
 *   threadpool.libgreen_8       µs per call, 8 callers at once
 *   threadpool.pthread          µs per round trip, native one-worker pool */
#include "bench.h"

#include <pthread.h>

#include <green.h>

static void *plus_one(void *arg)
{
    return (void *)((long)arg + 1);
}

static long jobs;

static void *caller(void *arg)
{
    long n = (long)arg;
    for (long i = 0; i < n; i++) {
        void *r = NULL;
        BENCH_CHECK(green_threadpool_run(plus_one, (void *)i, GREEN_FOREVER,
                                         &r) == 0);
        BENCH_CHECK((long)r == i + 1);
    }
    return NULL;
}

/* The native reference: one worker, one slot. */
static struct {
    pthread_mutex_t mu;
    pthread_cond_t job, done;
    long arg, result;
    int state; /* 0 idle, 1 job posted, 2 result ready, 3 quit */
} slot = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER, 0, 0, 0};

static void *native_worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&slot.mu);
    for (;;) {
        while (slot.state != 1 && slot.state != 3) {
            pthread_cond_wait(&slot.job, &slot.mu);
        }
        if (slot.state == 3) {
            break;
        }
        slot.result = (long)plus_one((void *)slot.arg);
        slot.state = 2;
        pthread_cond_signal(&slot.done);
    }
    pthread_mutex_unlock(&slot.mu);
    return NULL;
}

static double native_round_trip(long n)
{
    pthread_t w;
    BENCH_CHECK(pthread_create(&w, NULL, native_worker, NULL) == 0);
    uint64_t t0 = bench_now_ns();
    pthread_mutex_lock(&slot.mu);
    for (long i = 0; i < n; i++) {
        slot.arg = i;
        slot.state = 1;
        pthread_cond_signal(&slot.job);
        while (slot.state != 2) {
            pthread_cond_wait(&slot.done, &slot.mu);
        }
        BENCH_CHECK(slot.result == i + 1);
    }
    slot.state = 3;
    pthread_cond_signal(&slot.job);
    pthread_mutex_unlock(&slot.mu);
    uint64_t t = bench_now_ns() - t0;
    BENCH_CHECK(pthread_join(w, NULL) == 0);
    return (double)t / (double)n / 1e3;
}

int main(void)
{
    jobs = bench_env_long("BENCH_JOBS", 100000);
    caller((void *)1000L); /* warm: the workers exist */
    uint64_t t0 = bench_now_ns();
    caller((void *)jobs);
    uint64_t t = bench_now_ns() - t0;
    bench_report("threadpool.libgreen", (double)t / (double)jobs / 1e3, "us");

    green_task_t *t8[8];
    t0 = bench_now_ns();
    for (int i = 0; i < 8; i++) {
        BENCH_CHECK(green_spawn(&t8[i], caller, (void *)(jobs / 8)) == 0);
    }
    for (int i = 0; i < 8; i++) {
        BENCH_CHECK(green_join(t8[i], GREEN_FOREVER, NULL) == 0);
        green_task_release(t8[i]);
    }
    t = bench_now_ns() - t0;
    bench_report("threadpool.libgreen_8",
                 (double)t / (double)(jobs / 8 * 8) / 1e3, "us");

    bench_report("threadpool.pthread", native_round_trip(jobs), "us");
    return 0;
}
