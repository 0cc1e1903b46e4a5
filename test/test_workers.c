/* SPDX-License-Identifier: MIT */
/* The worker pool suite (lib/workers.c, green/threadpool.h): results,
 * work on named OS threads of their own while the caller's other
 * greenlets run, at most GREEN_THREADPOOL_SIZE at once and the rest
 * queued (never dropped), a timeout or a kill while queued cancels the
 * work and while running leaves it to finish, jobs that wait for one
 * another beyond the size (GREEN__JOB_WAITS), idle workers retiring, and
 * bad arguments.
 *
 * Task bodies never call ck_assert: they record, the root checks. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <check.h>

#include "internal.h"
#include "workers.h"
#include "green/threadpool.h"
#include "checks.h"
#include "helpers.h"
#include "suites.h"

static void *plus_one(void *arg)
{
    return (void *)((long)arg + 1);
}

START_TEST(result)
{
    void *r = NULL;
    ck_assert_int_eq(green_threadpool_run(plus_one, (void *)41L,
                                          GREEN_FOREVER, &r),
                     0);
    ck_assert_ptr_eq(r, (void *)42L);
    ck_assert_int_eq(green_threadpool_run(plus_one, NULL, 1.0, NULL), 0);
    ck_assert_int_eq(green_threadpool_size(), 4);
}
END_TEST

struct where {
    pid_t tid;
    char name[16];
};

static void *where_am_i(void *arg)
{
    struct where *w = arg;
    w->tid = (pid_t)syscall(SYS_gettid);
    prctl(PR_GET_NAME, w->name, 0, 0, 0);
    return NULL;
}

START_TEST(own_named_thread)
{
    struct where w = {0};
    ck_assert_int_eq(green_threadpool_run(where_am_i, &w, GREEN_FOREVER,
                                          NULL),
                     0);
    ck_assert_int_ne(w.tid, (pid_t)syscall(SYS_gettid));
    ck_assert_str_eq(w.name, "green-worker");
    ck_assert_int_ge(green__own_threads, 1);
}
END_TEST

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

static void *nap(void *arg)
{
    usleep((useconds_t)(long)arg);
    return arg;
}

START_TEST(others_run_meanwhile)
{
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, ticker, NULL), 0);
    ck_assert_int_eq(green_sleep(0.002), 0);
    int before = ticks;
    ck_assert_int_eq(green_threadpool_run(nap, (void *)50000L, GREEN_FOREVER,
                                          NULL),
                     0);
    ck_assert_int_ge(ticks - before, 10);
    green_kill(t);
    ck_assert_int_eq(green_join(t, GREEN_FOREVER, NULL), 0);
    green_task_release(t);
}
END_TEST

static int running, most;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *counted_nap(void *arg)
{
    pthread_mutex_lock(&mu);
    if (++running > most) {
        most = running;
    }
    pthread_mutex_unlock(&mu);
    usleep(50000);
    pthread_mutex_lock(&mu);
    running--;
    pthread_mutex_unlock(&mu);
    return arg;
}

struct runner {
    void *(*fn)(void *);
    void *arg;
    double timeout;
    int ret;
    void *result;
};

static void *run_body(void *arg)
{
    struct runner *r = arg;
    r->ret = green_threadpool_run(r->fn, r->arg, r->timeout, &r->result);
    return NULL;
}

static void spawn_runners(struct runner *r, green_task_t **t, int n,
                          void *(*fn)(void *), double timeout)
{
    for (int i = 0; i < n; i++) {
        r[i] = (struct runner){.fn = fn, .arg = (void *)(long)i,
                               .timeout = timeout};
        ck_assert_int_eq(green_spawn(&t[i], run_body, &r[i]), 0);
    }
}

static void join_all(green_task_t **t, int n)
{
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(green_join(t[i], slow(30.0), NULL), 0);
        green_task_release(t[i]);
    }
}

START_TEST(size_bounds_and_queue)
{
    enum { N = 40 };
    most = 0;
    struct runner r[N];
    green_task_t *t[N];
    double t0 = green_test_now();
    spawn_runners(r, t, N, counted_nap, GREEN_FOREVER);
    join_all(t, N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(r[i].ret, 0);
        ck_assert_ptr_eq(r[i].result, (void *)(long)i);
    }
    ck_assert_int_eq(most, 4); /* never more, and the pool filled up */
    /* 40 naps of 50 ms, 4 at a time: 10 rounds. */
    check_elapsed(t0, 0.45, slow(5.0));
    ck_assert_int_le(green__pool_threads(), 4);
}
END_TEST

START_TEST(size_from_environment)
{
    if (!green_test_forking()) {
        return; /* the size is read once per process */
    }
    most = 0;
    setenv("GREEN_THREADPOOL_SIZE", "2", 1);
    ck_assert_int_eq(green_threadpool_size(), 2);
    enum { N = 6 };
    struct runner r[N];
    green_task_t *t[N];
    spawn_runners(r, t, N, counted_nap, GREEN_FOREVER);
    join_all(t, N);
    ck_assert_int_eq(most, 2);
}
END_TEST

static int ran;

static void *mark(void *arg)
{
    __atomic_store_n(&ran, 1, __ATOMIC_SEQ_CST);
    return arg;
}

static void *long_nap(void *arg)
{
    usleep(200000);
    return arg;
}

START_TEST(timeout_while_queued)
{
    ran = 0;
    enum { N = 4 };
    struct runner r[N];
    green_task_t *t[N];
    spawn_runners(r, t, N, long_nap, GREEN_FOREVER);
    ck_assert_int_eq(green_sleep(0.02), 0); /* the four are running */
    double t0 = green_test_now();
    ck_assert_int_eq(green_threadpool_run(mark, NULL, 0.05, NULL),
                     -ETIMEDOUT);
    check_elapsed(t0, 0.045, slow(1.0));
    join_all(t, N);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert_int_eq(__atomic_load_n(&ran, __ATOMIC_SEQ_CST), 0);
}
END_TEST

static int finished;

static void *nap_then_mark(void *arg)
{
    usleep(100000);
    __atomic_store_n(&finished, 1, __ATOMIC_SEQ_CST);
    return arg;
}

START_TEST(timeout_while_running)
{
    ck_assert_int_eq(green_threadpool_run(nap_then_mark, NULL, 0.02, NULL),
                     -ETIMEDOUT);
    ck_assert_int_eq(__atomic_load_n(&finished, __ATOMIC_SEQ_CST), 0);
    for (int i = 0; i < 100 && !__atomic_load_n(&finished, __ATOMIC_SEQ_CST);
         i++) {
        ck_assert_int_eq(green_sleep(0.01), 0);
    }
    ck_assert_int_eq(__atomic_load_n(&finished, __ATOMIC_SEQ_CST), 1);
}
END_TEST

START_TEST(kill_while_queued)
{
    ran = 0;
    enum { N = 4 };
    struct runner r[N + 1];
    green_task_t *t[N + 1];
    spawn_runners(r, t, N, long_nap, GREEN_FOREVER);
    ck_assert_int_eq(green_sleep(0.02), 0);
    r[N] = (struct runner){.fn = mark, .timeout = GREEN_FOREVER};
    ck_assert_int_eq(green_spawn(&t[N], run_body, &r[N]), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(green_kill(t[N]), 0);
    join_all(t, N + 1);
    ck_assert_int_eq(r[N].ret, -ECANCELED);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert_int_eq(__atomic_load_n(&ran, __ATOMIC_SEQ_CST), 0);
}
END_TEST

/* Six jobs that wait for a seventh, ordinary one, in a pool of four. */
static int gate;

static void wait_gate(struct green__job *j)
{
    while (!__atomic_load_n(&gate, __ATOMIC_SEQ_CST)) {
        usleep(1000);
    }
    j->ret = 7;
}

static void *open_gate(void *arg)
{
    __atomic_store_n(&gate, 1, __ATOMIC_SEQ_CST);
    return arg;
}

static void *work_body(void *arg)
{
    struct green__job *j = arg;
    j->run = wait_gate;
    green__work(j, GREEN__JOB_WAITS);
    return NULL;
}

START_TEST(waits_beyond_size)
{
    enum { N = 6 };
    struct green__job j[N];
    green_task_t *t[N];
    memset(j, 0, sizeof(j));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(green_spawn(&t[i], work_body, &j[i]), 0);
    }
    /* Every waiting job gets a worker of its own, beyond the size; under
     * valgrind, which runs one thread at a time, making them takes a
     * while. The checks come after the joins: one that failed earlier
     * would leave jobs on this stack queued for the next test (CK_FORK=no
     * runs them all in one process) to overwrite. */
    for (int i = 0; i < 500 && green__pool_threads() < N; i++) {
        green_sleep(0.01);
    }
    int threads = green__pool_threads();
    int opened = green_threadpool_run(open_gate, NULL, slow(5.0), NULL);
    if (opened != 0) {
        open_gate(NULL);
    }
    join_all(t, N);
    ck_assert_int_ge(threads, N);
    ck_assert_int_eq(opened, 0);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(j[i].ret, 7);
    }
}
END_TEST

/* A job that may wait is never queued behind ordinary work: four
 * ordinary jobs fill the pool waiting for a gate that only it opens. */
static void *wait_gate_fn(void *arg)
{
    while (!__atomic_load_n(&gate, __ATOMIC_SEQ_CST)) {
        usleep(1000);
    }
    return arg;
}

static void open_gate_job(struct green__job *j)
{
    __atomic_store_n(&gate, 1, __ATOMIC_SEQ_CST);
    j->ret = 1;
}

START_TEST(waits_not_queued)
{
    enum { N = 4 };
    struct runner r[N];
    green_task_t *t[N];
    gate = 0;
    spawn_runners(r, t, N, wait_gate_fn, slow(20.0));
    ck_assert_int_eq(green_sleep(0.02), 0);
    struct green__job j = {.run = open_gate_job};
    ck_assert_int_eq(green__work(&j, GREEN__JOB_WAITS), 0);
    ck_assert_int_eq(j.ret, 1);
    join_all(t, N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(r[i].ret, 0);
    }
}
END_TEST

START_TEST(idle_workers_retire)
{
    green__pool_idle_ms = 50;
    enum { N = 4 };
    struct runner r[N];
    green_task_t *t[N];
    spawn_runners(r, t, N, counted_nap, GREEN_FOREVER);
    join_all(t, N);
    ck_assert_int_ge(green__pool_threads(), 1);
    for (int i = 0; i < 100 && green__pool_threads() > 0; i++) {
        ck_assert_int_eq(green_sleep(0.01), 0);
    }
    ck_assert_int_eq(green__pool_threads(), 0);
    /* And the pool makes them again. */
    ck_assert_int_eq(green_threadpool_run(mark, NULL, slow(5.0), NULL), 0);
    ck_assert_int_eq(__atomic_load_n(&ran, __ATOMIC_SEQ_CST), 1);
}
END_TEST

/* A regular file's read: a page-cache miss on a worker, whole; a hit
 * inline; the end of the file; fsync. */
START_TEST(file_reads)
{
    enum { SIZE = 8 << 20 };
    char path[] = "green-test-file-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    char *b = malloc(SIZE);
    ck_assert_ptr_nonnull(b);
    for (int i = 0; i < SIZE; i++) {
        b[i] = (char)(i % 251);
    }
    ck_assert_int_eq(write(fd, b, SIZE), SIZE);
    ck_assert_int_eq(green__file_sync(fd, false), 0);
    ck_assert_int_eq(green__file_sync(fd, true), 0);
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    /* The first page cached, the rest not: read whole. */
    struct iovec v = {b, 4096};
    ck_assert_int_eq(green__file_read(fd, &v, 1, 0), 4096);
    memset(b, 0, SIZE);
    v.iov_len = SIZE;
    ck_assert_int_eq(green__file_read(fd, &v, 1, 0), SIZE);
    for (int i = 0; i < SIZE; i += 4093) {
        ck_assert_int_eq(b[i], (char)(i % 251));
    }
    ck_assert_int_eq(green__file_read(fd, &v, 1, SIZE - 10), 10);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(green__file_read(fd, &v, 1, -1), SIZE);
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), SIZE);
    ck_assert_int_eq(green__file_read(fd, &v, 1, -1), 0);
    ck_assert_int_eq(green__file_read(-1, &v, 1, 0), -EBADF);
    ck_assert_int_eq(green__file_sync(-1, false), -EBADF);
    close(fd);
    free(b);
}
END_TEST

START_TEST(bad_arguments)
{
    ck_assert_int_eq(green_threadpool_run(NULL, NULL, 1.0, NULL), -EINVAL);
    ck_assert_int_eq(green_threadpool_run(mark, NULL, -1.0, NULL), -EINVAL);
}
END_TEST

Suite *green_test_workers_suite(void)
{
    Suite *s = suite_create("workers");
    TCase *tc = tcase_create("pool");
    tcase_add_test(tc, result);
    tcase_add_test(tc, own_named_thread);
    tcase_add_test(tc, others_run_meanwhile);
    tcase_add_test(tc, size_bounds_and_queue);
    tcase_add_test(tc, size_from_environment);
    tcase_add_test(tc, timeout_while_queued);
    tcase_add_test(tc, timeout_while_running);
    tcase_add_test(tc, kill_while_queued);
    tcase_add_test(tc, waits_beyond_size);
    tcase_add_test(tc, waits_not_queued);
    tcase_add_test(tc, idle_workers_retire);
    tcase_add_test(tc, file_reads);
    tcase_add_test(tc, bad_arguments);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
