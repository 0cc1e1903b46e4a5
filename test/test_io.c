/* The io suite: green_wait_fd and green_close on top of the hub's fd
 * registrations. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <green.h>

#include "helpers.h"
#include "suites.h"

static int pfd[2];

static void make_pipe(void)
{
    ck_assert_int_eq(pipe2(pfd, O_NONBLOCK), 0);
}

static void *write_later(void *arg)
{
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert_int_eq(write(pfd[1], "x", 1), 1);
    return arg;
}

START_TEST(readable_after_write)
{
    make_pipe();
    green_task_t *w;
    ck_assert_int_eq(green_spawn(&w, write_later, NULL), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_wait_fd(pfd[0], POLLIN, GREEN_FOREVER), POLLIN);
    ck_assert(green_test_now() - t0 >= 0.04);
    char c;
    ck_assert_int_eq(read(pfd[0], &c, 1), 1);
    ck_assert_int_eq(green_join(w, GREEN_FOREVER, NULL), 0);
    green_task_release(w);
}
END_TEST

START_TEST(timeout_and_writable)
{
    make_pipe();
    double t0 = green_test_now();
    ck_assert_int_eq(green_wait_fd(pfd[0], POLLIN, 0.05), -ETIMEDOUT);
    ck_assert(green_test_now() - t0 >= 0.04);
    ck_assert_int_eq(green_wait_fd(pfd[1], POLLOUT, 1.0), POLLOUT);
    ck_assert_int_eq(green_wait_fd(pfd[1], POLLIN | POLLOUT, 1.0), POLLOUT);
}
END_TEST

START_TEST(bad_input)
{
    ck_assert_int_eq(green_wait_fd(-1, POLLIN, 1.0), -EBADF);
    make_pipe();
    ck_assert_int_eq(green_wait_fd(pfd[0], 0, 1.0), -EINVAL);
    ck_assert_int_eq(green_wait_fd(pfd[0], POLLIN, -1.0), -EINVAL);
    ck_assert_int_eq(green_wait_fd(pfd[0], POLLIN, NAN), -EINVAL);
    /* A number that is not an open fd: the kernel refuses to watch it. */
    ck_assert_int_eq(green_wait_fd(900, POLLIN, 1.0), -EBADF);
    ck_assert_int_eq(green_close(900), -EBADF);
}
END_TEST

static void *wait_read(void *arg)
{
    return (void *)(intptr_t)green_wait_fd(pfd[0], POLLIN, GREEN_FOREVER);
}

START_TEST(close_wakes_waiter)
{
    make_pipe();
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, wait_read, NULL), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert(!green_task_done(t));
    ck_assert_int_eq(green_close(pfd[0]), 0);
    void *r;
    ck_assert_int_eq(green_join(t, 1.0, &r), 0);
    ck_assert_int_eq((int)(intptr_t)r, -EBADF);
    green_task_release(t);
    /* The number is reused by a new pipe, which must work afresh. */
    make_pipe();
    ck_assert_int_eq(write(pfd[1], "y", 1), 1);
    ck_assert_int_eq(green_wait_fd(pfd[0], POLLIN, 1.0), POLLIN);
}
END_TEST

START_TEST(one_wake_per_event)
{
    make_pipe();
    green_task_t *t[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(green_spawn(&t[i], wait_read, NULL), 0);
    }
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(write(pfd[1], "z", 1), 1);
    ck_assert_int_eq(green_sleep(0.01), 0);
    int done = 0;
    for (int i = 0; i < 3; i++) {
        done += green_task_done(t[i]);
    }
    /* The first waiter took the event; the byte is still unread, so the
     * next polls wake the others one at a time. */
    ck_assert_int_ge(done, 1);
    ck_assert_int_eq(green_task_done(t[0]), 1);
    ck_assert_int_eq(green_joinall(t, 3, 1.0), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq((int)(intptr_t)green_task_result(t[i]), POLLIN);
        green_task_release(t[i]);
    }
}
END_TEST

START_TEST(kill_while_waiting)
{
    make_pipe();
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, wait_read, NULL), 0);
    ck_assert_int_eq(green_sleep(0.01), 0);
    ck_assert_int_eq(green_kill(t), 0);
    ck_assert_int_eq(green_join(t, 1.0, NULL), 0);
    ck_assert_int_eq(green_task_status(t), GREEN_TASK_CANCELLED);
    green_task_release(t);
    /* The cancelled waiter left the fd: a write must not wake anyone, and
     * nothing may be left that could hang or crash. */
    ck_assert_int_eq(write(pfd[1], "k", 1), 1);
    ck_assert_int_eq(green_sleep(0.01), 0);
}
END_TEST

/* Many connections at once: each task echoes one message on its own
 * socketpair; all reads block at the same time, so this only finishes if
 * the waits overlap. */
#define NPAIRS 500
static int sp[NPAIRS][2];

static void *echo_once(void *arg)
{
    int fd = sp[(intptr_t)arg][1];
    char buf[8];
    int r = green_wait_fd(fd, POLLIN, 5.0);
    if (r != POLLIN || read(fd, buf, sizeof buf) != 4) {
        return green_fail(-EIO);
    }
    return write(fd, buf, 4) == 4 ? NULL : green_fail(-EIO);
}

START_TEST(many_sockets)
{
    green_task_t *t[NPAIRS];
    for (intptr_t i = 0; i < NPAIRS; i++) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
                                    sp[i]), 0);
        ck_assert_int_eq(green_spawn(&t[i], echo_once, (void *)i), 0);
    }
    ck_assert_int_eq(green_sleep(0.01), 0); /* every task is waiting now */
    for (int i = 0; i < NPAIRS; i++) {
        ck_assert_int_eq(write(sp[i][0], "ping", 4), 4);
    }
    for (int i = 0; i < NPAIRS; i++) {
        char buf[4];
        ck_assert_int_eq(green_wait_fd(sp[i][0], POLLIN, 5.0), POLLIN);
        ck_assert_int_eq(read(sp[i][0], buf, 4), 4);
    }
    ck_assert_int_eq(green_joinall(t, NPAIRS, 5.0), 0);
    for (int i = 0; i < NPAIRS; i++) {
        ck_assert_int_eq(green_task_status(t[i]), GREEN_TASK_DONE);
        green_task_release(t[i]);
        ck_assert_int_eq(green_close(sp[i][0]), 0);
        ck_assert_int_eq(green_close(sp[i][1]), 0);
    }
}
END_TEST

Suite *green_test_io_suite(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("wait_fd");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, readable_after_write);
    tcase_add_test(tc, timeout_and_writable);
    tcase_add_test(tc, bad_input);
    tcase_add_test(tc, close_wakes_waiter);
    tcase_add_test(tc, one_wake_per_event);
    tcase_add_test(tc, kill_while_waiting);
    tcase_add_test(tc, many_sockets);
    suite_add_tcase(s, tc);
    return s;
}
