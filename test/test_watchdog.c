/* SPDX-License-Identifier: MIT */
/* The watchdog suite (lib/watchdog.c): a task stuck in a raw system call
 * is reported while it is still stuck, once, naming the call, and the
 * park-time check of lib/monitor.c does not tell the episode again; two
 * episodes are two reports; an OS thread with a hub is watched until it
 * ends; a forked child has no watchdog until its next park makes one, and
 * does not report the parent's last spell as its own.
 *
 * The monitor is off in a program that patched nothing: each test turns
 * it on by setting the limit (green__max_blocking) itself. Check runs
 * every test in a process of its own. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "internal.h"
#include "monitor.h"
#include "rawsys.h"
#include "watchdog.h"
#include "green/log.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

static volatile int in_call;    /* the task is inside its raw call */
static int reports;             /* the watchdog's, "still does" */
static int during;              /* ...that came while in_call */
static int others;              /* any other monitor line */
static char first[1100];

static void sink(void *userdata, int level, const char *message)
{
    (void)userdata, (void)level;
    if (strstr(message, "and still does") != NULL) {
        if (reports++ == 0) {
            strncpy(first, message, sizeof(first) - 1);
        }
        during += in_call;
    } else if (strstr(message, "kept the hub from running") != NULL) {
        others++;
    }
}

/* valgrind runs code it has not seen yet many times slower: a first
 * join or release there can pass 50 ms on its own. */
static double limit(void)
{
    return green_test_valgrind() ? 0.4 : 0.05;
}

static void on(void)
{
    green_set_log(sink, NULL);
    green__max_blocking = limit();
    ck_assert_int_eq(green_sleep(0.001), 0); /* a hub, watched */
}

/* Blocks the OS thread for ms in a call no interposer could reach. */
static void *stuck(void *arg)
{
    long ms = (long)arg;
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    in_call = 1;
    long r = green__syscall(SYS_nanosleep, &ts, NULL);
    in_call = 0;
    return (void *)r;
}

static long run_stuck(long ms)
{
    green_task_t *t;
    void *r = (void *)-1L;
    ck_assert_int_eq(green_spawn(&t, stuck, (void *)ms), 0);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, &r), 0);
    green_task_release(t);
    return (long)r;
}

START_TEST(names_a_stuck_task_once)
{
    if (green_test_emulated()) {
        return; /* qemu-user asserted in its own signal and fork paths */
    }
    on();
    /* Stuck for 6 limits: the watchdog looks every half limit. */
    ck_assert_int_eq(run_stuck((long)(limit() * 6e3)), 0); /* the probe
                                                             never ended it */
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(reports, 1);
    ck_assert_int_eq(during, 1);
    ck_assert_int_eq(others, 0); /* the task's end did not tell it again */
    ck_assert_ptr_nonnull(strstr(first, "nanosleep"));
    ck_assert_ptr_nonnull(strstr(first, "greenlet #"));
    ck_assert_ptr_nonnull(strstr(first, "backtrace"));
}
END_TEST

START_TEST(two_episodes_two_reports)
{
    if (green_test_valgrind()) {
        return; /* 20x slower: the hub's own work passes the limit there */
    }
    on();
    run_stuck(200);
    ck_assert_int_eq(green_sleep(0.01), 0);
    run_stuck(200);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(reports, 2);
    ck_assert_int_eq(during, 2);
}
END_TEST

START_TEST(short_blocks_are_not_stuck)
{
    if (green_test_valgrind()) {
        return; /* as two_episodes_two_reports */
    }
    on();
    for (int i = 0; i < 10; i++) {
        run_stuck(10);
        ck_assert_int_eq(green_sleep(0.02), 0); /* idle in the poll */
    }
    ck_assert_int_eq(reports, 0);
}
END_TEST

static void *native(void *arg)
{
    int *n = arg;
    ck_assert_int_eq(green_sleep(0.001), 0); /* this thread's own hub */
    *n = green__watchdog_records();
    return NULL;
}

START_TEST(watches_each_hub_until_it_ends)
{
    on();
    int before = green__watchdog_records();
    int during_n = 0;
    pthread_t th;
    ck_assert_int_eq(pthread_create(&th, NULL, native, &during_n), 0);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(during_n, before + 1);
    ck_assert_int_eq(green__watchdog_records(), before);
    ck_assert(green__watchdog_running());
}
END_TEST

START_TEST(fork_child_makes_its_own)
{
    if (green_test_emulated()) {
        return; /* qemu-user asserted in its own signal and fork paths */
    }
    on();
    ck_assert(green__watchdog_running());
    /* The root computes past the limit and forks before the watchdog
     * (which looks every half limit) has told it: the child's first park
     * must not take the parent's spell for its own. */
    double end = green__coarse_now() + limit() * 1.2;
    while (green__coarse_now() < end) {
    }
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int ok = !green__watchdog_running() &&
                 green__watchdog_records() == 1;
        others = 0;
        green_sleep(0.001); /* the park makes it again */
        ok = ok && others == 0; /* and does not tell the parent's spell */
        ok = ok && green__watchdog_running();
        reports = 0;
        in_call = 0;
        run_stuck((long)(limit() * 4e3)); /* and it reports in the child */
        green_sleep(0.01);
        _exit(ok && reports == 1 ? 0 : 1);
    }
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

Suite *green_test_watchdog_suite(void)
{
    Suite *s = suite_create("watchdog");
    TCase *tc = tcase_create("watchdog");
    tcase_add_test(tc, names_a_stuck_task_once);
    tcase_add_test(tc, two_episodes_two_reports);
    tcase_add_test(tc, short_blocks_are_not_stuck);
    tcase_add_test(tc, watches_each_hub_until_it_ends);
    tcase_add_test(tc, fork_child_makes_its_own);
    suite_add_tcase(s, tc);
    return s;
}
