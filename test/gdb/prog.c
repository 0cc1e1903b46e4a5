/* SPDX-License-Identifier: MIT */
/* A plain pthreads program for test/gdb/gdb.sh, compiled without
 * libgreen and run under LD_PRELOAD=libgreen.so: four named threads
 * blocked in four different ways, for gdb's `info greenlets` and
 * `greenlet bt N` to find.
 *
 *   reader     read() on a pipe nobody writes
 *   condwait   pthread_cond_wait() never signalled
 *   sleeper    sleep() in a loop
 *   worker     sem_wait() inside worker_waits_here(), the frame the test
 *              looks for in the worker's backtrace
 *
 * `prog live` prints "ready" once all four are parked and then waits on
 * pause() until the test kills it; `prog crash` calls abort() in a fifth
 * thread ("crasher") once the others are parked, for a core file. */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pipefd[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static sem_t sem;
static int started;

static void mark_started(void)
{
    pthread_mutex_lock(&mu);
    started++;
    pthread_mutex_unlock(&mu);
}

static void *reader(void *arg)
{
    char c;
    mark_started();
    ssize_t n = read(pipefd[0], &c, 1);
    return (void *)n;
}

static void *condwait(void *arg)
{
    pthread_mutex_lock(&mu);
    started++;
    for (;;) {
        pthread_cond_wait(&cv, &mu);
    }
    return NULL;
}

static void *sleeper(void *arg)
{
    mark_started();
    for (;;) {
        sleep(1000);
    }
    return NULL;
}

/* Not inlined, so that it is a frame of its own in the backtrace; global,
 * so that its name is the one gdb shows. */
void worker_waits_here(int depth);
__attribute__((noinline)) void worker_waits_here(int depth)
{
    if (depth > 0) {
        worker_waits_here(depth - 1);
        __asm__ volatile("" ::: "memory");
        return;
    }
    mark_started();
    sem_wait(&sem);
}

static void *worker(void *arg)
{
    worker_waits_here(2);
    return NULL;
}

static void *crasher(void *arg)
{
    abort();
}

static pthread_t spawn(void *(*fn)(void *), const char *name)
{
    pthread_t t;
    if (pthread_create(&t, NULL, fn, NULL) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(1);
    }
    pthread_setname_np(t, name);
    return t;
}

int main(int argc, char **argv)
{
    int crash = argc > 1 && strcmp(argv[1], "crash") == 0;
    if (pipe(pipefd) != 0 || sem_init(&sem, 0, 0) != 0) {
        return 1;
    }
    spawn(reader, "reader");
    spawn(condwait, "condwait");
    spawn(sleeper, "sleeper");
    spawn(worker, "worker");
    for (;;) {
        pthread_mutex_lock(&mu);
        int n = started;
        pthread_mutex_unlock(&mu);
        if (n == 4) {
            break;
        }
        usleep(1000);
    }
    usleep(20000); /* each is in its blocking call by now */
    if (crash) {
        pthread_join(spawn(crasher, "crasher"), NULL);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        pause(); /* until the test kills it */
    }
}
