/* SPDX-License-Identifier: MIT */
/* The hubs suite (include/green/hubs.h): starting and stopping hubs on OS
 * threads of the runtime's own, tasks spawned on a hub by number or on
 * the least loaded one (GREEN_HUB_ANY), killed before they ran, detached,
 * named; a forked child's one hub; and the errors of bad input.
 *
 * Task bodies never call ck_assert (see test_task.c): they record what
 * they saw and the root checks. */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include <green.h>

#include "helpers.h"
#include "suites.h"

static long tid_now(void)
{
    return syscall(SYS_gettid);
}

/* How many of this process's threads are named name. */
static int threads_named(const char *name)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[320], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = e->d_name[0] != '.' ? fopen(path, "r") : NULL;
        if (f != NULL) {
            if (fgets(comm, sizeof(comm), f) != NULL) {
                comm[strcspn(comm, "\n")] = '\0';
                n += strcmp(comm, name) == 0;
            }
            fclose(f);
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* Waits (greenly, at most 2 s) until no thread is named name. */
static int threads_gone(const char *name)
{
    for (int i = 0; i < 200 && threads_named(name) != 0; i++) {
        green_sleep(0.01);
    }
    return threads_named(name) == 0;
}

static void *tid_body(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)tid_now();
}

/* Computes for about 20 ms without yielding, then says where it ran. */
static void *busy_body(void *arg)
{
    (void)arg;
    double t0 = green_test_now();
    volatile unsigned long x = 1;
    while (green_test_now() - t0 < 0.02) {
        x = x * 6364136223846793005UL + 1;
    }
    return (void *)(intptr_t)tid_now();
}

static int ran;

static void *count_body(void *arg)
{
    (void)arg;
    __atomic_add_fetch(&ran, 1, __ATOMIC_RELAXED);
    return NULL;
}

START_TEST(bad_input)
{
    ck_assert_int_eq(green_hubs_start(-1), -EINVAL);
    ck_assert_int_eq(green_hubs_start(1025), -EINVAL);
    ck_assert_int_eq(green_hubs_count(), 1);
    ck_assert_int_eq(green_hubs_stop(), -ESRCH);
    green_task_t *t = NULL;
    green_spawn_opts_t o = {.hub = 1};
    ck_assert_int_eq(green_spawn_ex(&t, tid_body, NULL, &o), -EINVAL);
    o.hub = -2;
    ck_assert_int_eq(green_spawn_ex(&t, tid_body, NULL, &o), -EINVAL);
    ck_assert_ptr_null(t);
    /* Without hubs, "any" is this one. */
    o.hub = GREEN_HUB_ANY;
    ck_assert_int_eq(green_spawn_ex(&t, tid_body, NULL, &o), 0);
    void *r = NULL;
    ck_assert_int_eq(green_join(t, 5.0, &r), 0);
    ck_assert_int_eq((long)(intptr_t)r, tid_now());
    green_task_release(t);
    /* One hub is no new thread. */
    ck_assert_int_eq(green_hubs_start(1), 1);
    ck_assert_int_eq(green_hubs_count(), 1);
    ck_assert_int_eq(green_hubs_stop(), -ESRCH);
}
END_TEST

START_TEST(numbered_hubs)
{
    ck_assert_int_eq(green_hubs_start(3), 3);
    ck_assert_int_eq(green_hubs_count(), 3);
    ck_assert_int_eq(green_hubs_start(2), -EBUSY);
    if (!green_test_emulated()) { /* qemu-user's /proc is its own */
        ck_assert_int_eq(threads_named("green-hub-1"), 1);
        ck_assert_int_eq(threads_named("green-hub-2"), 1);
    }
    green_task_t *t[4];
    for (int i = 0; i < 4; i++) {
        green_spawn_opts_t o = {.hub = i % 3};
        ck_assert_int_eq(green_spawn_ex(&t[i], tid_body, NULL, &o), 0);
    }
    ck_assert_int_eq(green_joinall(t, 4, 5.0), 0);
    long tid[4];
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(green_task_status(t[i]), GREEN_TASK_DONE);
        tid[i] = (long)(intptr_t)green_task_result(t[i]);
        green_task_release(t[i]);
    }
    /* Hub 0 is this thread; 1 and 2 are two others, the same each time. */
    ck_assert_int_eq(tid[0], tid_now());
    ck_assert_int_ne(tid[1], tid_now());
    ck_assert_int_ne(tid[2], tid_now());
    ck_assert_int_ne(tid[1], tid[2]);
    ck_assert_int_eq(tid[3], tid[0]);
    green_spawn_opts_t o = {.hub = 3};
    green_task_t *u = NULL;
    ck_assert_int_eq(green_spawn_ex(&u, tid_body, NULL, &o), -EINVAL);
    ck_assert_int_eq(green_hubs_stop(), 0);
    ck_assert_int_eq(green_hubs_count(), 1);
    ck_assert_int_eq(green_hubs_stop(), -ESRCH);
    if (!green_test_emulated()) {
        ck_assert(threads_gone("green-hub-1"));
        ck_assert(threads_gone("green-hub-2"));
    }
}
END_TEST

START_TEST(any_spreads)
{
    /* Twelve tasks that compute without yielding, on the least loaded of
     * three hubs: each hub gets some, and they are all joined from here. */
    ck_assert_int_eq(green_hubs_start(3), 3);
    enum { N = 12 };
    green_task_t *t[N];
    green_spawn_opts_t o = {.hub = GREEN_HUB_ANY};
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(green_spawn_ex(&t[i], busy_body, NULL, &o), 0);
    }
    ck_assert_int_eq(green_joinall(t, N, 30.0), 0);
    long seen[3] = {0, 0, 0};
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        long tid = (long)(intptr_t)green_task_result(t[i]);
        int k = 0;
        while (k < distinct && seen[k] != tid) {
            k++;
        }
        if (k == distinct && distinct < 3) {
            seen[distinct++] = tid;
        }
        green_task_release(t[i]);
    }
    ck_assert_int_eq(distinct, 3);
    ck_assert_int_eq(green_hubs_stop(), 0);
}
END_TEST

/* Keeps its hub's OS thread in a plain semaphore wait, the hub with it. */
static void *hold_body(void *arg)
{
    sem_wait(arg);
    return NULL;
}

/* On hub 1, before that hub has read the spawn of `handed`: kills and
 * releases it there, which must wait for the spawn. */
static green_task_t *handed;

static void *hold_then_kill_body(void *arg)
{
    sem_wait(arg);
    int r = green_kill(handed);
    green_task_release(handed);
    return (void *)(intptr_t)r;
}

static void *stop_body(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)green_hubs_stop();
}

/* A link that may switch, as a link may: it must run on a greenlet that
 * can (the task's), not on the hub's own. */
struct switching_link {
    int ran;
    int on_task;   /* green_current() was the task that ended */
    int sleep_ret;
};

static void switching_link_fn(green_task_t *t, void *userdata)
{
    struct switching_link *l = userdata;
    l->on_task = green_current() == t;
    l->sleep_ret = green_sleep(0.001);
    __atomic_store_n(&l->ran, 1, __ATOMIC_RELEASE);
}

START_TEST(kill_detach_name)
{
    ck_assert_int_eq(green_hubs_start(2), 2);
    __atomic_store_n(&ran, 0, __ATOMIC_RELAXED);
    /* Killed before its hub read the spawn (its OS thread is held in a
     * plain wait meanwhile): it never runs. */
    sem_t hold;
    sem_init(&hold, 0, 0);
    green_task_t *hl, *k;
    green_spawn_opts_t o = {.hub = 1, .name = "far"};
    ck_assert_int_eq(green_spawn_ex(&hl, hold_body, &hold, &o), 0);
    ck_assert_int_eq(green_sleep(0.05), 0); /* it holds the hub by now */
    ck_assert_int_eq(green_spawn_ex(&k, count_body, NULL, &o), 0);
    ck_assert_str_eq(greenlet_name(green_task_greenlet(k)), "far");
    struct switching_link sl = {.sleep_ret = 1};
    ck_assert_int_eq(green_link(k, switching_link_fn, &sl), 0);
    ck_assert_int_eq(green_kill(k), 0);
    sem_post(&hold);
    ck_assert_int_eq(green_task_wait(k, 5.0), 0);
    ck_assert_int_eq(green_task_status(k), GREEN_TASK_CANCELLED);
    ck_assert_int_eq(__atomic_load_n(&sl.ran, __ATOMIC_ACQUIRE), 1);
    ck_assert_int_eq(sl.on_task, 1);
    /* ...as the links of a running task that is killed: on its greenlet,
     * whose blocking calls fail, since it was killed. */
    ck_assert_int_eq(sl.sleep_ret, -ECANCELED);
    ck_assert_int_eq(green_join(hl, 5.0, NULL), 0);
    green_task_release(k);
    green_task_release(hl);
    sem_destroy(&hold);
    /* Detached, on hub 1: it runs, and frees itself. */
    o.name = NULL;
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(green_spawn_ex(NULL, count_body, NULL, &o), 0);
    }
    /* Killed and released on its own hub before that hub read the spawn:
     * it never runs, and nothing of it is used after it is freed. */
    sem_init(&hold, 0, 0);
    ck_assert_int_eq(green_spawn_ex(&hl, hold_then_kill_body, &hold, &o), 0);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert_int_eq(green_spawn_ex(&handed, count_body, NULL, &o), 0);
    sem_post(&hold);
    void *kr = (void *)1;
    ck_assert_int_eq(green_join(hl, 5.0, &kr), 0);
    ck_assert_ptr_null(kr);
    green_task_release(hl);
    sem_destroy(&hold);
    /* A hub cannot stop the hubs. */
    green_task_t *s;
    ck_assert_int_eq(green_spawn_ex(&s, stop_body, NULL, &o), 0);
    void *r = NULL;
    ck_assert_int_eq(green_join(s, 5.0, &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, -EDEADLK);
    green_task_release(s);
    /* Stopping runs what is left to its end. */
    ck_assert_int_eq(green_hubs_stop(), 0);
    ck_assert_int_eq(__atomic_load_n(&ran, __ATOMIC_RELAXED), 10);
}
END_TEST

START_TEST(default_count)
{
    /* 0: GREEN_HUBS, unset here, else the CPUs this process may use. */
    cpu_set_t set;
    ck_assert_int_eq(sched_getaffinity(0, sizeof(set), &set), 0);
    int n = green_hubs_start(0);
    ck_assert_int_eq(n, CPU_COUNT(&set));
    ck_assert_int_eq(green_hubs_count(), n);
    if (n > 1) {
        ck_assert_int_eq(green_hubs_stop(), 0);
    }
}
END_TEST

START_TEST(fork_child_one_hub)
{
    /* The child of a process with hubs has its own thread's only. Not
     * under valgrind, whose child reports the table it inherited (and
     * leaves, as its threads are not there) as lost. */
    if (green_test_valgrind()) {
        return;
    }
    ck_assert_int_eq(green_hubs_start(2), 2);
    pid_t pid = fork();
    ck_assert_int_ne(pid, -1);
    if (pid == 0) {
        int ok = green_hubs_count() == 1;
        green_task_t *t = NULL;
        green_spawn_opts_t o = {.hub = GREEN_HUB_ANY};
        void *r = NULL;
        ok = ok && green_spawn_ex(&t, tid_body, NULL, &o) == 0 &&
             green_join(t, 5.0, &r) == 0 && (long)(intptr_t)r == tid_now();
        o.hub = 1;
        ok = ok && green_spawn_ex(&t, tid_body, NULL, &o) == -EINVAL;
        _exit(ok ? 0 : 1);
    }
    int status = -1;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "child status %d", status);
    ck_assert_int_eq(green_hubs_count(), 2);
    ck_assert_int_eq(green_hubs_stop(), 0);
}
END_TEST

Suite *green_test_hubs_suite(void)
{
    Suite *s = suite_create("hubs");
    TCase *tc = tcase_create("hubs");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, numbered_hubs);
    tcase_add_test(tc, any_spreads);
    tcase_add_test(tc, kill_detach_name);
    tcase_add_test(tc, default_count);
    tcase_add_test(tc, fork_child_one_hub);
    suite_add_tcase(s, tc);
    return s;
}
