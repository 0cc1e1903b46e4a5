/* SPDX-License-Identifier: MIT */
/* The patch boundary, from a program that links libgreen.so (-lgreen, no
 * preload): nothing is patched until it asks.
 *
 *   boundary threads   a pthread is an OS thread until green_patch("thread"),
 *                      a green thread afterwards; the one made before the
 *                      patch stays native and so do the threads it makes;
 *                      bad lists are -EINVAL and change nothing
 *   boundary quiet     a 250 ms computation in a task of an unpatched
 *                      program; its stderr must stay empty (boundary.sh)
 *   boundary log       the same with GREEN_MAX_BLOCKING_MS=50 set: the
 *                      monitor's line reaches the program's own sink and
 *                      not stderr
 *   boundary yield     sched_yield and usleep in an unpatched program
 *                      with a hub: libc's own (no task runs meanwhile)
 *   boundary hubs      hubs and the thread family exclude each other for
 *                      now (green/hubs.h): green_hubs_start is -ENOTSUP
 *                      once "thread" is patched, and green_patch("thread")
 *                      is -EBUSY while hubs run, changing nothing
 *
 * Each prints what it saw and exits 0 when every check held. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <green.h>


/* Under qemu-user (meson's exe wrapper: the aarch64 CI step) the
 * emulator's own threads are in /proc/self/task too: counts of OS threads
 * mean nothing there. */
static int emulated(void)
{
    const char *v = getenv("MESON_EXE_WRAPPER");
    return v != NULL && v[0] != '\0';
}

static int failures;

#define CHECK(cond)                                                       \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "boundary: %s:%d: check failed: %s\n",        \
                    __FILE__, __LINE__, #cond);                           \
            failures++;                                                   \
        }                                                                 \
    } while (0)

/* OS threads of this process, as /proc counts them, but for libgreen's
 * own (named green-...: its watchdog, its worker pool). */
static int os_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[300], name[32] = "";
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(name, sizeof(name), f) == NULL) {
                name[0] = '\0';
            }
            fclose(f);
        }
        n += strncmp(name, "green-", 6) != 0;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* The elder waits on a pipe, not a condition variable: an object shared
 * between a native thread and green threads is not supported (its two
 * sides would use two protocols). */
static int elder_pipe[2];

static void *count_threads(void *arg)
{
    *(int *)arg = os_threads();
    return NULL;
}

/* The native thread made before the patch: after it, it makes a thread of
 * its own, which must be an OS thread too. */
static void *native_elder(void *arg)
{
    (void)arg;
    char c;
    CHECK(read(elder_pipe[0], &c, 1) == 1);
    int seen = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, count_threads, &seen) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(emulated() || seen == 3); /* main, this one, its child */
    printf("native thread's child after the patch: %d OS threads\n", seen);
    return NULL;
}

static int threads(void)
{
    CHECK(green_patched() == 0);
    int seen = 0;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, count_threads, &seen) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("before green_patch: %d OS threads\n", seen);
    CHECK(emulated() || seen == 2);

    pthread_t elder;
    CHECK(pipe(elder_pipe) == 0);
    CHECK(pthread_create(&elder, NULL, native_elder, NULL) == 0);

    CHECK(green_patch("thread,bogus") == -EINVAL);
    CHECK(green_patch("") == -EINVAL);
    CHECK(green_patch(NULL) == -EINVAL);
    CHECK(green_patch("-none") == -EINVAL);
    CHECK(green_patched() == 0);
    CHECK(green_patch("thread") == 0);
    CHECK(green_patched() == GREEN_PATCH_THREAD);

    seen = 0;
    CHECK(pthread_create(&t, NULL, count_threads, &seen) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    printf("after green_patch(\"thread\"): %d OS threads\n", seen);
    CHECK(emulated() || seen == 2); /* main and the elder: the new one is green */

    CHECK(write(elder_pipe[1], "x", 1) == 1);
    CHECK(pthread_join(elder, NULL) == 0);
    CHECK(green_patch("socket time") == 0);
    CHECK(green_patched() ==
          (GREEN_PATCH_THREAD | GREEN_PATCH_SOCKET | GREEN_PATCH_TIME));
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *compute(void *arg)
{
    double end = now() + 0.25;
    while (now() < end) {
    }
    return arg;
}

/* A task that computes 250 ms, then a sleep so the hub turns. */
static void run_computation(void)
{
    green_task_t *t;
    CHECK(green_spawn(&t, compute, NULL) == 0);
    CHECK(green_join(t, GREEN_FOREVER, NULL) == 0);
    green_task_release(t);
    CHECK(green_sleep(0.01) == 0);
}

static int logged;

static void sink(void *userdata, int level, const char *message)
{
    CHECK(userdata == &logged);
    CHECK(level == GREEN_LOG_WARNING);
    CHECK(strstr(message, "kept the hub from running") != NULL);
    CHECK(strchr(message, '\n') == NULL);
    logged++;
}

static int ticks;

static void *ticker(void *arg)
{
    (void)arg;
    for (;;) {
        ticks++;
        if (green_sleep(0.001) != 0) {
            return NULL;
        }
    }
}

static int yield(void)
{
    green_task_t *t;
    CHECK(green_spawn(&t, ticker, NULL) == 0);
    CHECK(green_sleep(0.005) == 0); /* the ticker has run */
    int before = ticks;
    for (int i = 0; i < 100; i++) {
        sched_yield();
    }
    usleep(20000);
    printf("ticks during libc's sched_yield and usleep: %d\n",
           ticks - before);
    CHECK(ticks == before); /* they did not switch */
    green_kill(t);
    green_join(t, GREEN_FOREVER, NULL);
    green_task_release(t);
    return 0;
}

static int hubs(void)
{
    CHECK(green_hubs_start(2) == 2);
    CHECK(green_patch("all") == -EBUSY);
    CHECK(green_patched() == 0);
    CHECK(green_patch("socket,time") == 0); /* the rest may be patched */
    CHECK(green_patch("thread") == -EBUSY);
    CHECK(green_hubs_stop() == 0);
    CHECK(green_patch("thread") == 0);
    CHECK(green_hubs_start(2) == -ENOTSUP);
    CHECK(green_hubs_start(1) == 1); /* one hub is no hub thread */
    CHECK(green_hubs_count() == 1);
    printf("hubs and the thread family: refused both ways\n");
    return 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "threads") == 0) {
        threads();
    } else if (strcmp(what, "quiet") == 0) {
        CHECK(green_patched() == 0);
        run_computation();
    } else if (strcmp(what, "log") == 0) {
        green_set_log(sink, &logged);
        run_computation();
        printf("messages to the program's sink: %d\n", logged);
        CHECK(logged == 1);
    } else if (strcmp(what, "yield") == 0) {
        yield();
    } else if (strcmp(what, "hubs") == 0) {
        hubs();
    } else {
        fprintf(stderr, "usage: boundary threads|quiet|log|yield|hubs\n");
        return 2;
    }
    return failures == 0 ? 0 : 1;
}
