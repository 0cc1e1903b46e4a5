/* SPDX-License-Identifier: MIT */
/* A program written to libgreen's API, for test/gdb/gdb.sh: named tasks
 * parked on an fd, an event, a sleep and a join, one of them inside
 * task_waits_here(), the frame the test looks for in its backtrace.
 *
 *   api live    prints "ready" once they are parked, then main waits in
 *               green_run() until the test kills the process
 *   api crash   a task named "crasher" calls abort() once they are
 *               parked, for a core file */
#include <green.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int pipefd[2];
static green_event_t *never;
static green_task_t *sleeper_task;

static void *on_fd(void *arg)
{
    char c;
    green_read(pipefd[0], &c, 1);
    return NULL;
}

/* Not inlined, so that it is a frame of its own. */
void task_waits_here(void); /* a named frame for gdb */

__attribute__((noinline)) void task_waits_here(void)
{
    green_event_wait(never, GREEN_FOREVER);
    __asm__ volatile("" ::: "memory");
}

static void *on_event(void *arg)
{
    task_waits_here();
    return NULL;
}

static void *sleeper(void *arg)
{
    green_sleep(1000);
    return NULL;
}

static void *joiner(void *arg)
{
    green_join(sleeper_task, GREEN_FOREVER, NULL);
    return NULL;
}

static void *crasher(void *arg)
{
    abort();
}

static void *announce(void *arg)
{
    printf("ready\n");
    fflush(stdout);
    return NULL;
}

static void spawn(green_task_t **out, green_fn_t fn, const char *name)
{
    green_spawn_opts_t opts;
    memset(&opts, 0, sizeof(opts));
    opts.name = name;
    if (green_spawn_ex(out, fn, NULL, &opts) != 0) {
        fprintf(stderr, "green_spawn_ex failed\n");
        exit(1);
    }
}

int main(int argc, char **argv)
{
    int crash = argc > 1 && strcmp(argv[1], "crash") == 0;
    if (pipe(pipefd) != 0 || green_event_new(&never) != 0) {
        return 1;
    }
    spawn(NULL, on_fd, "on-fd");
    spawn(NULL, on_event, "on-event");
    spawn(&sleeper_task, sleeper, "sleeper");
    spawn(NULL, joiner, "joiner");
    green_sleep(0.02); /* every one is parked by now */
    spawn(NULL, crash ? crasher : announce, crash ? "crasher" : "announce");
    green_run();
    return 1;
}
