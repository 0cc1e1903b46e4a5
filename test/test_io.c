/* SPDX-License-Identifier: MIT */
/* The io suite: green_wait_fd and green_close on top of the hub's fd
 * registrations; then the cooperative calls of green/io.h: the fd table
 * (the program's O_NONBLOCK apart from the runtime's), plain pipes left
 * blocking, SO_RCVTIMEO/SO_SNDTIMEO, close while waiting, whole blocking
 * writes, green_poll, green_connect and recv flags.
 *
 * The bodies of the newer tests' tasks never call ck_assert (as in the
 * lock suite): they record what they saw and the root checks. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <green.h>

#include "checks.h"
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

/* --- the cooperative calls ------------------------------------------------ */

/* One read, recv or write on an fd by a task, after an optional delay. */
struct io_job {
    int fd;
    double delay;
    int flags;       /* recv flags (job_recv) */
    const char *src; /* what job_write writes */
    size_t n;
    char buf[64];    /* what job_read/job_recv got */
    ssize_t ret;
    double took;     /* seconds the call itself took */
};

static void *job_read(void *arg)
{
    struct io_job *j = arg;
    if (j->delay > 0 && green_sleep(j->delay) != 0) {
        j->ret = 999;
        return NULL;
    }
    double t0 = green_test_now();
    j->ret = green_read(j->fd, j->buf,
                        j->n < sizeof j->buf ? j->n : sizeof j->buf);
    j->took = green_test_now() - t0;
    return NULL;
}

static void *job_recv(void *arg)
{
    struct io_job *j = arg;
    double t0 = green_test_now();
    j->ret = green_recv(j->fd, j->buf,
                        j->n < sizeof j->buf ? j->n : sizeof j->buf,
                        j->flags);
    j->took = green_test_now() - t0;
    return NULL;
}

static void *job_write(void *arg)
{
    struct io_job *j = arg;
    if (j->delay > 0 && green_sleep(j->delay) != 0) {
        j->ret = 999;
        return NULL;
    }
    double t0 = green_test_now();
    j->ret = green_write(j->fd, j->src, j->n);
    j->took = green_test_now() - t0;
    return NULL;
}

/* Sleeps in 10 ms steps until t is done (at most ~10 s): the number of
 * steps, which shows the root kept running while t waited. */
static int tick_until_done(green_task_t *t)
{
    int ticks = 0;
    while (!green_task_done(t) && ticks < 1000) {
        ck_assert_int_eq(green_sleep(0.01), 0);
        ticks++;
    }
    ck_assert(green_task_done(t));
    return ticks;
}

/* green_fcntl(F_GETFL): the flags as the program sees them. */
static int user_fl(int fd)
{
    int fl = green_fcntl(fd, F_GETFL, 0);
    ck_assert_int_ge(fl, 0);
    return fl;
}

/* fcntl(2) F_GETFL: the open file description's real flags (this binary
 * is not preloaded, so this is the kernel's answer). */
static int kernel_fl(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    ck_assert_int_ge(fl, 0);
    return fl;
}

/* Sets or clears the program's O_NONBLOCK on fd: with green_fcntl (how 0)
 * or green_ioctl(FIONBIO) (how 1). */
static int set_nonblock(int fd, int how, int on)
{
    if (how == 0) {
        int fl = user_fl(fd);
        return green_fcntl(fd, F_SETFL,
                           on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK));
    }
    int v = on;
    return green_ioctl(fd, FIONBIO, &v);
}

/* Reads on fd in a task while another task writes "hello" to wfd 0.1 s
 * later: the read must wait (cooperatively) and return the bytes. */
static void check_read_waits(int fd, int wfd)
{
    struct io_job r = {.fd = fd, .n = 5};
    struct io_job w = {.fd = wfd, .delay = 0.1, .src = "hello", .n = 5};
    green_task_t *tr, *tw;
    ck_assert_int_eq(green_spawn(&tr, job_read, &r), 0);
    ck_assert_int_eq(green_spawn(&tw, job_write, &w), 0);
    ck_assert_int_eq(green_sleep(0.03), 0);
    ck_assert_msg(!green_task_done(tr), "read did not wait: %zd", r.ret);
    join_release(tr);
    join_release(tw);
    ck_assert_int_eq(w.ret, 5);
    ck_assert_int_eq(r.ret, 5);
    ck_assert_int_eq(memcmp(r.buf, "hello", 5), 0);
    ck_assert_msg(r.took >= 0.09, "read returned after %.3f s", r.took);
}

/* _i: 0 sets O_NONBLOCK with green_fcntl(F_SETFL), 1 with FIONBIO. */
START_TEST(nonblock_is_the_programs)
{
    int sv[2];
    ck_assert_int_eq(green_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(user_fl(sv[0]) & O_NONBLOCK, 0);
    ck_assert_int_eq(set_nonblock(sv[0], _i, 1), 0);
    ck_assert_int_ne(user_fl(sv[0]) & O_NONBLOCK, 0);
    ck_assert_int_ne(kernel_fl(sv[0]) & O_NONBLOCK, 0);
    char c;
    double t0 = green_test_now();
    ck_assert_int_eq(green_read(sv[0], &c, 1), -EAGAIN);
    check_elapsed(t0, 0.0, slow(0.1));
    ck_assert_int_eq(green_recv(sv[0], &c, 1, 0), -EAGAIN);
    /* Blocking again: a read waits for the data. */
    ck_assert_int_eq(set_nonblock(sv[0], _i, 0), 0);
    ck_assert_int_eq(user_fl(sv[0]) & O_NONBLOCK, 0);
    ck_assert_int_eq(kernel_fl(sv[0]) & O_NONBLOCK, 0);
    check_read_waits(sv[0], sv[1]);
    ck_assert_int_eq(user_fl(sv[0]) & O_NONBLOCK, 0);
    ck_assert_int_eq(green_close(sv[0]), 0);
    ck_assert_int_eq(green_close(sv[1]), 0);
}
END_TEST

/* A listening socket on 127.0.0.1, an ephemeral port; *sa gets its
 * address. */
static int listen_local(struct sockaddr_in *sa)
{
    int l = green_socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(l, 0);
    *sa = (struct sockaddr_in){.sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(l, (struct sockaddr *)sa, sizeof *sa), 0);
    socklen_t len = sizeof *sa;
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)sa, &len), 0);
    ck_assert_int_eq(listen(l, 16), 0);
    return l;
}

/* A task connecting a new blocking TCP socket to sa after a delay. */
struct conn_job {
    struct sockaddr_in sa;
    double delay;
    int fd;
    int ret;
};

static void *job_connect(void *arg)
{
    struct conn_job *c = arg;
    c->fd = -1;
    if (c->delay > 0 && green_sleep(c->delay) != 0) {
        c->ret = 999;
        return NULL;
    }
    c->fd = green_socket(AF_INET, SOCK_STREAM, 0);
    c->ret = c->fd < 0 ? c->fd
                       : green_connect(c->fd, (struct sockaddr *)&c->sa,
                                       sizeof c->sa);
    return NULL;
}

START_TEST(accept_hides_runtime_nonblock)
{
    struct conn_job c = {.delay = 0.1};
    int l = listen_local(&c.sa);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, job_connect, &c), 0);
    double t0 = green_test_now();
    int a = green_accept(l, NULL, NULL);
    ck_assert_int_ge(a, 0);
    check_elapsed(t0, 0.09, slow(5.0));
    join_release(t);
    ck_assert_int_eq(c.ret, 0);
    /* accept needs the description non-blocking; the program must not see
     * it. */
    ck_assert_int_ne(kernel_fl(l) & O_NONBLOCK, 0);
    ck_assert_int_eq(user_fl(l) & O_NONBLOCK, 0);
    /* The accepted socket is blocking, as the kernel makes it, and so is
     * the connected one once its connect is over. */
    ck_assert_int_eq(user_fl(a) & O_NONBLOCK, 0);
    ck_assert_int_eq(kernel_fl(a) & O_NONBLOCK, 0);
    ck_assert_int_eq(user_fl(c.fd) & O_NONBLOCK, 0);
    ck_assert_int_eq(kernel_fl(c.fd) & O_NONBLOCK, 0);
    check_read_waits(a, c.fd);
    /* The program's own O_NONBLOCK on the listener: -EAGAIN at once;
     * cleared again, accept waits once more. */
    ck_assert_int_eq(set_nonblock(l, 0, 1), 0);
    ck_assert_int_eq(green_accept(l, NULL, NULL), -EAGAIN);
    ck_assert_int_eq(set_nonblock(l, 0, 0), 0);
    ck_assert_int_eq(user_fl(l) & O_NONBLOCK, 0);
    struct conn_job c2 = {.sa = c.sa, .delay = 0.1};
    ck_assert_int_eq(green_spawn(&t, job_connect, &c2), 0);
    t0 = green_test_now();
    int a2 = green_accept(l, NULL, NULL);
    ck_assert_int_ge(a2, 0);
    check_elapsed(t0, 0.09, slow(5.0));
    join_release(t);
    ck_assert_int_eq(c2.ret, 0);
    ck_assert_int_eq(user_fl(l) & O_NONBLOCK, 0);
    int fds[] = {a, a2, c.fd, c2.fd, l};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        ck_assert_int_eq(green_close(fds[i]), 0);
    }
}
END_TEST

/* A pipe libgreen never saw: reads wait cooperatively, and the runtime
 * leaves the description blocking (it is shared with other processes). */
START_TEST(plain_pipe_stays_blocking)
{
    int p[2];
    ck_assert_int_eq(pipe2(p, 0), 0);
    check_read_waits(p[0], p[1]);
    ck_assert_int_eq(kernel_fl(p[0]) & O_NONBLOCK, 0);
    ck_assert_int_eq(kernel_fl(p[1]) & O_NONBLOCK, 0);
    ck_assert_int_eq(user_fl(p[0]) & O_NONBLOCK, 0);
    /* A writer blocked on a full pipe waits cooperatively too. */
    static char big[256 * 1024];
    memset(big, 'p', sizeof big);
    struct io_job w = {.fd = p[1], .src = big, .n = sizeof big};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, job_write, &w), 0);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert(!green_task_done(t));
    size_t got = 0;
    char buf[8192];
    while (got < sizeof big) {
        ssize_t r = green_read(p[0], buf, sizeof buf);
        ck_assert_int_gt(r, 0);
        got += (size_t)r;
    }
    join_release(t);
    ck_assert_int_eq(w.ret, (ssize_t)sizeof big);
    ck_assert_int_eq(kernel_fl(p[0]) & O_NONBLOCK, 0);
    ck_assert_int_eq(kernel_fl(p[1]) & O_NONBLOCK, 0);
    ck_assert_int_eq(green_close(p[0]), 0);
    ck_assert_int_eq(green_close(p[1]), 0);
}
END_TEST

/* SO_RCVTIMEO set through green_setsockopt (_i 0) or found on a socket
 * libgreen never saw (_i 1): the read ends with -EAGAIN after it, and the
 * root runs meanwhile. */
START_TEST(rcvtimeo_ends_read)
{
    int sv[2];
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    if (_i == 0) {
        ck_assert_int_eq(green_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ck_assert_int_eq(green_setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO,
                                          &tv, sizeof tv), 0);
    } else {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv,
                                    sizeof tv), 0);
    }
    struct io_job r = {.fd = sv[0], .n = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, job_read, &r), 0);
    int ticks = tick_until_done(t);
    join_release(t);
    ck_assert_int_eq(r.ret, -EAGAIN);
    ck_assert_msg(r.took >= 0.19 && r.took < slow(5.0), "took %.3f s",
                  r.took);
    ck_assert_int_ge(ticks, 5);
    /* The timeout bounds each call, not the socket: data still comes. */
    check_read_waits(sv[0], sv[1]);
    ck_assert_int_eq(green_close(sv[0]), 0);
    ck_assert_int_eq(green_close(sv[1]), 0);
}
END_TEST

START_TEST(sndtimeo_ends_write)
{
    int sv[2];
    ck_assert_int_eq(green_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    ck_assert_int_eq(green_setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv,
                                      sizeof tv), 0);
    size_t n = 16u << 20; /* far more than the socket buffers hold */
    char *big = calloc(1, n);
    ck_assert_ptr_nonnull(big);
    /* Some bytes go, then the buffer is full: the count after 0.2 s. */
    double t0 = green_test_now();
    ssize_t r = green_write(sv[0], big, n);
    double el = green_test_now() - t0;
    ck_assert_msg(r > 0 && (size_t)r < n, "wrote %zd", r);
    ck_assert_msg(el >= 0.19 && el < slow(5.0), "took %.3f s", el);
    /* Full from the start: -EAGAIN after 0.2 s (or a count, if a few bytes
     * still fit). */
    t0 = green_test_now();
    r = green_write(sv[0], big, 65536);
    el = green_test_now() - t0;
    ck_assert_msg(r == -EAGAIN || (r > 0 && r < 65536), "wrote %zd", r);
    ck_assert_msg(el >= 0.19 && el < slow(5.0), "took %.3f s", el);
    free(big);
    ck_assert_int_eq(green_close(sv[0]), 0);
    ck_assert_int_eq(green_close(sv[1]), 0);
}
END_TEST

/* _i 0: a socket, 1: a plain pipe. A task blocked in green_read wakes with
 * -EBADF when the root closes the fd. */
START_TEST(close_wakes_reader)
{
    int p[2];
    if (_i == 0) {
        ck_assert_int_eq(green_socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    } else {
        ck_assert_int_eq(pipe2(p, 0), 0);
    }
    struct io_job r = {.fd = p[0], .n = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, job_read, &r), 0);
    ck_assert_int_eq(green_sleep(0.05), 0);
    ck_assert(!green_task_done(t));
    ck_assert_int_eq(green_close(p[0]), 0);
    join_release(t);
    ck_assert_int_eq(r.ret, -EBADF);
    ck_assert_int_eq(green_close(p[1]), 0);
}
END_TEST

/* A whole blocking write of 8 MiB while a task reads and checks it all:
 * _i 0 on a socketpair, 1 on a plain pipe. */
#define BIG ((size_t)8 << 20)

static unsigned char big_byte(size_t i)
{
    return (unsigned char)(i ^ (i >> 8) ^ (i >> 16) ^ 0x5a);
}

struct sink {
    int fd;
    size_t got;
    size_t bad; /* bytes not as written */
    ssize_t err;
};

static void *job_sink(void *arg)
{
    struct sink *s = arg;
    static char buf[65536];
    while (s->got < BIG) {
        ssize_t r = green_read(s->fd, buf, sizeof buf);
        if (r <= 0) {
            s->err = r == 0 ? -EPIPE : r;
            break;
        }
        for (size_t i = 0; i < (size_t)r; i++) {
            s->bad += (unsigned char)buf[i] != big_byte(s->got + i);
        }
        s->got += (size_t)r;
    }
    return NULL;
}

START_TEST(big_write_whole)
{
    int p[2];
    if (_i == 0) {
        ck_assert_int_eq(green_socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    } else {
        ck_assert_int_eq(pipe2(p, 0), 0);
    }
    unsigned char *big = malloc(BIG);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < BIG; i++) {
        big[i] = big_byte(i);
    }
    struct sink s = {.fd = p[0]};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, job_sink, &s), 0);
    ck_assert_int_eq(green_write(p[1], big, BIG), (ssize_t)BIG);
    ck_assert_int_eq(green_join(t, slow(10.0), NULL), 0);
    green_task_release(t);
    free(big);
    ck_assert_int_eq(s.err, 0);
    ck_assert_uint_eq(s.got, BIG);
    ck_assert_uint_eq(s.bad, 0);
    ck_assert_int_eq(kernel_fl(p[0]) & O_NONBLOCK, 0);
    ck_assert_int_eq(kernel_fl(p[1]) & O_NONBLOCK, 0);
    ck_assert_int_eq(green_close(p[0]), 0);
    ck_assert_int_eq(green_close(p[1]), 0);
}
END_TEST

START_TEST(poll_waits_and_times_out)
{
    int a[2], b[2];
    ck_assert_int_eq(pipe2(a, 0), 0);
    ck_assert_int_eq(green_pipe2(b, 0), 0);
    struct io_job w = {.fd = b[1], .delay = 0.1, .src = "q", .n = 1};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, job_write, &w), 0);
    struct pollfd pf[2] = {{.fd = a[0], .events = POLLIN},
                           {.fd = b[0], .events = POLLIN}};
    double t0 = green_test_now();
    ck_assert_int_eq(green_poll(pf, 2, slow(5.0)), 1);
    check_elapsed(t0, 0.09, slow(5.0));
    ck_assert_int_eq(pf[0].revents, 0);
    ck_assert_int_ne(pf[1].revents & POLLIN, 0);
    join_release(t);
    ck_assert_int_eq(w.ret, 1);
    char c;
    ck_assert_int_eq(green_read(b[0], &c, 1), 1);
    /* Nothing ready: 0 after the timeout. */
    pf[0].revents = pf[1].revents = -1;
    t0 = green_test_now();
    ck_assert_int_eq(green_poll(pf, 2, 0.1), 0);
    check_elapsed(t0, 0.09, slow(2.0));
    ck_assert_int_eq(pf[0].revents, 0);
    ck_assert_int_eq(pf[1].revents, 0);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(green_close(a[i]), 0);
        ck_assert_int_eq(green_close(b[i]), 0);
    }
}
END_TEST

START_TEST(connect_refused_and_in_progress)
{
    /* A port nobody listens on: bound, never listened, so not reused. */
    int hold = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(hold, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(hold, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    ck_assert_int_eq(getsockname(hold, (struct sockaddr *)&sa, &len), 0);
    struct conn_job c = {.sa = sa};
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, job_connect, &c), 0);
    join_release(t);
    ck_assert_int_eq(c.ret, -ECONNREFUSED);
    ck_assert_int_eq(kernel_fl(c.fd) & O_NONBLOCK, 0);
    ck_assert_int_eq(green_close(c.fd), 0);
    ck_assert_int_eq(close(hold), 0);

    /* The program's non-blocking socket: as the kernel says, at once. */
    int l = listen_local(&sa);
    int s = green_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(s, 0);
    ck_assert_int_ne(user_fl(s) & O_NONBLOCK, 0);
    double t0 = green_test_now();
    int r = green_connect(s, (struct sockaddr *)&sa, sizeof sa);
    check_elapsed(t0, 0.0, slow(0.5));
    ck_assert_msg(r == -EINPROGRESS || r == 0, "connect: %d", r);
    struct pollfd pf = {.fd = s, .events = POLLOUT};
    ck_assert_int_eq(green_poll(&pf, 1, slow(5.0)), 1);
    int err = -1;
    len = sizeof err;
    ck_assert_int_eq(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len), 0);
    ck_assert_int_eq(err, 0);
    ck_assert_int_ne(kernel_fl(s) & O_NONBLOCK, 0);
    ck_assert_int_ne(user_fl(s) & O_NONBLOCK, 0);
    int a = green_accept(l, NULL, NULL);
    ck_assert_int_ge(a, 0);
    ck_assert_int_eq(green_close(a), 0);
    ck_assert_int_eq(green_close(s), 0);
    ck_assert_int_eq(green_close(l), 0);
}
END_TEST

START_TEST(recv_flags)
{
    int sv[2];
    ck_assert_int_eq(green_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    char buf[8];
    double t0 = green_test_now();
    ck_assert_int_eq(green_recv(sv[0], buf, 1, MSG_DONTWAIT), -EAGAIN);
    check_elapsed(t0, 0.0, slow(0.1));
    /* MSG_DONTWAIT is for that call alone. */
    ck_assert_int_eq(user_fl(sv[0]) & O_NONBLOCK, 0);
    check_read_waits(sv[0], sv[1]);
    /* MSG_PEEK waits like a read, and leaves the bytes for the next. */
    struct io_job r = {.fd = sv[0], .n = 4, .flags = MSG_PEEK};
    struct io_job w = {.fd = sv[1], .delay = 0.1, .src = "peek", .n = 4};
    green_task_t *tr, *tw;
    ck_assert_int_eq(green_spawn(&tr, job_recv, &r), 0);
    ck_assert_int_eq(green_spawn(&tw, job_write, &w), 0);
    join_release(tr);
    join_release(tw);
    ck_assert_int_eq(r.ret, 4);
    ck_assert_int_eq(memcmp(r.buf, "peek", 4), 0);
    ck_assert_msg(r.took >= 0.09, "peek returned after %.3f s", r.took);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(green_recv(sv[0], buf, 4, MSG_PEEK | MSG_DONTWAIT), 4);
    ck_assert_int_eq(memcmp(buf, "peek", 4), 0);
    memset(buf, 0, sizeof buf);
    ck_assert_int_eq(green_read(sv[0], buf, sizeof buf), 4);
    ck_assert_int_eq(memcmp(buf, "peek", 4), 0);
    ck_assert_int_eq(green_recv(sv[0], buf, 1, MSG_DONTWAIT), -EAGAIN);
    ck_assert_int_eq(green_close(sv[0]), 0);
    ck_assert_int_eq(green_close(sv[1]), 0);
}
END_TEST

/* The short-read hint (lib/io.c, coop): after a read on a byte stream
 * returns less than it asked for, the next blocking read waits for the fd
 * before trying. Data already there must still come at once (the
 * level-triggered registration reports it on the next poll), and the
 * waiting shows: another task runs first. A datagram socket, where every
 * read is "short", a read that filled its buffer, and a read after a poll
 * that saw the fd readable keep trying first.
 * _i 0: stream socketpair, 1: pipe, 2: datagram socketpair. */
static int hint_ran;

static void *hint_mark(void *arg)
{
    hint_ran = 1;
    return arg;
}

/* Reads 1 byte-or-more from fd with another task spawned just before;
 * returns whether that task ran before the read came back. */
static int read_lets_other_run(int fd, char *buf, size_t n, ssize_t *got)
{
    green_task_t *t;
    hint_ran = 0;
    ck_assert_int_eq(green_spawn(&t, hint_mark, NULL), 0);
    *got = green_read(fd, buf, n);
    int ran = hint_ran;
    join_release(t);
    return ran;
}

START_TEST(short_read_waits_first)
{
    int p[2];
    if (_i == 0) {
        ck_assert_int_eq(green_socketpair(AF_UNIX, SOCK_STREAM, 0, p), 0);
    } else if (_i == 1) {
        ck_assert_int_eq(pipe(p), 0);
    } else {
        ck_assert_int_eq(green_socketpair(AF_UNIX, SOCK_DGRAM, 0, p), 0);
    }
    char buf[64];
    ssize_t got;
    ck_assert_int_eq(write(p[1], "a", 1), 1);
    /* Data there, no hint yet: the read takes it without waiting. */
    ck_assert_int_eq(read_lets_other_run(p[0], buf, sizeof buf, &got), 0);
    ck_assert_int_eq(got, 1);
    ck_assert_int_eq(buf[0], 'a');
    /* Short: the next read waits first, yet finds "b" at once. */
    ck_assert_int_eq(write(p[1], "b", 1), 1);
    double t0 = green_test_now();
    ck_assert_int_eq(read_lets_other_run(p[0], buf, sizeof buf, &got),
                     (_i == 2 ? 0 : 1));
    ck_assert_int_eq(got, 1);
    ck_assert_int_eq(buf[0], 'b');
    ck_assert(green_test_now() - t0 < slow(1.0));
    /* A poll that saw the fd readable overrides the hint: a program that
     * polls, then reads, reads at once. */
    ck_assert_int_eq(write(p[1], "x", 1), 1);
    ck_assert_int_eq(read_lets_other_run(p[0], buf, sizeof buf, &got),
                     (_i == 2 ? 0 : 1));
    ck_assert_int_eq(write(p[1], "y", 1), 1);
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    ck_assert_int_eq(green_poll(&pf, 1, 1.0), 1);
    ck_assert_int_eq(read_lets_other_run(p[0], buf, sizeof buf, &got), 0);
    ck_assert_int_eq(got, 1);
    ck_assert_int_eq(buf[0], 'y');
    /* A wait the hint caused that ends in a timeout (or a signal) before
     * the read was tried still returns data already there: only a read
     * that blocks is ended by them. */
    ck_assert_int_eq(write(p[1], "t", 1), 1);
    ck_assert_int_eq(green_timeout_start(0.0), 0);
    ck_assert_int_eq(green_read(p[0], buf, sizeof buf), 1);
    ck_assert_int_eq(buf[0], 't');
    ck_assert_int_eq(green_read(p[0], buf, sizeof buf), -ETIMEDOUT);
    ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);
    ck_assert_int_eq(write(p[1], "u", 1), 1); /* a short read: hint again */
    ck_assert_int_eq(green_read(p[0], buf, sizeof buf), 1);
    /* A read that filled its buffer leaves no hint behind. */
    ck_assert_int_eq(write(p[1], "cd", 2), 2);
    ck_assert_int_eq(read_lets_other_run(p[0], buf, 1, &got),
                     (_i == 2 ? 0 : 1));
    ck_assert_int_eq(got, 1);
    if (_i != 2) {
        ck_assert_int_eq(read_lets_other_run(p[0], buf, 1, &got), 0);
        ck_assert_int_eq(got, 1);
        ck_assert_int_eq(buf[0], 'd');
    }
    /* The hint never turns a non-blocking read into a wait. */
    ck_assert_int_eq(write(p[1], "e", 1), 1);
    ck_assert_int_gt(green_read(p[0], buf, sizeof buf), 0);
    int fl = fcntl(p[0], F_GETFL);
    ck_assert_int_eq(green_fcntl(p[0], F_SETFL, fl | O_NONBLOCK), 0);
    ck_assert_int_eq(green_read(p[0], buf, sizeof buf), -EAGAIN);
    ck_assert_int_eq(green_close(p[0]), 0);
    ck_assert_int_eq(green_close(p[1]), 0);
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
    tc = tcase_create("calls");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, nonblock_is_the_programs, 0, 2);
    tcase_add_test(tc, accept_hides_runtime_nonblock);
    tcase_add_test(tc, plain_pipe_stays_blocking);
    tcase_add_loop_test(tc, rcvtimeo_ends_read, 0, 2);
    tcase_add_test(tc, sndtimeo_ends_write);
    tcase_add_loop_test(tc, close_wakes_reader, 0, 2);
    tcase_add_loop_test(tc, big_write_whole, 0, 2);
    tcase_add_test(tc, poll_waits_and_times_out);
    tcase_add_test(tc, connect_refused_and_in_progress);
    tcase_add_test(tc, recv_flags);
    tcase_add_loop_test(tc, short_read_waits_first, 0, 3);
    suite_add_tcase(s, tc);
    return s;
}
