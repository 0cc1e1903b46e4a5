/* SPDX-License-Identifier: MIT */
/* close() of an fd that another thread is blocked on, one line of
 * outcome per case; differential.sh requires the same bytes natively and
 * under the preload.
 *
 * Linux lets a call in progress keep its open file description: the
 * close takes the fd number away (the next open gets it), but a blocked
 * read, recv, accept or write goes on and completes on the description
 * with whatever comes later; only when that call returns is the
 * description released (the peer then sees end of file, EPIPE, a refused
 * connection). poll goes on waiting and, when the old file wakes it (or
 * at its timeout), looks at the fd number again: POLLNVAL. select looks
 * too and skips an fd that is no longer open, so it goes on to its
 * timeout. An epoll set loses the fd with its description. The waiter
 * is a second thread; the main thread closes, opens, writes; a ticker
 * thread runs throughout.
 *
 *   read     a pipe's read end: the number reused by a new pipe, whose
 *            byte the waiter does not get; the old pipe's byte it does;
 *            then the writer sees EPIPE; the same when dup2 puts another
 *            pipe at the number
 *   recv     AF_UNIX and TCP stream sockets: the peer sees no end of file
 *            while the waiter waits, gets it once the waiter returned
 *   accept   a listening socket still takes a connection after its close,
 *            and refuses the next once the accept returned
 *   connect  a blocking connect to a full listener, closed while its SYN
 *            waits for room: it goes on and connects
 *   write    a write (pipe) and a send (AF_UNIX) bigger than the buffer,
 *            blocked when closed: every byte arrives, then end of file
 *   poll     no timeout (woken by a byte for the old file), a timeout
 *            (nothing comes): POLLNVAL either way; both ends of a socket
 *            pair, one closed: the other shows no hang-up (the poll holds
 *            the closed end's file until it returns)
 *   select   a byte for the old file, then the timeout: 0
 *   epoll    an epoll set with the fd, nothing else holding it: the
 *            registration goes, epoll_wait runs out
 */
#include "legacy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

static void out(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out(const char *name, const char *fmt, ...)
{
    printf("%-52s ", name);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static const char *yes(bool b)
{
    return b ? "yes" : "no";
}

static void result(const char *name, long r, int e)
{
    if (r == -1) {
        out(name, "-1 %s", strerrorname_np(e));
    } else {
        out(name, "%ld", r);
    }
}

/* The outcome of a call: its value, or -1 and the errno it left. */
#define RESULT(name, expr)                                                \
    do {                                                                  \
        long r_ = (expr);                                                 \
        result(name, r_, errno);                                          \
    } while (0)

/* --- the ticker, and the waiter --------------------------------------------- */

static atomic_long ticks;
static atomic_int stop;

static void *ticker(void *arg)
{
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&ticks, 1);
        usleep(1000);
    }
    return arg;
}

static void await_ticks(long n)
{
    long t0 = atomic_load(&ticks);
    while (atomic_load(&ticks) < t0 + n) {
        usleep(1000);
    }
}

/* A call another thread makes: fn(w) fills r, e and the bytes. */
struct waiter {
    long (*fn)(struct waiter *);
    int fd, fd2;
    char buf[16];
    short revents;
    long r;
    int e;
    atomic_int done;
    pthread_t t;
};

static void *waiter_body(void *p)
{
    struct waiter *w = p;
    errno = 0;
    w->r = w->fn(w);
    w->e = errno;
    atomic_store(&w->done, 1);
    return NULL;
}

/* Starts fn on a thread and gives it time to block in its call. */
static void start(struct waiter *w, long (*fn)(struct waiter *), int fd)
{
    w->fn = fn;
    w->fd = fd;
    atomic_store(&w->done, 0);
    LEGACY_CHECK(pthread_create(&w->t, NULL, waiter_body, w) == 0);
    await_ticks(30);
}

/* The waiter's call still goes on a while after the close. */
static void still_waits(const char *name, struct waiter *w)
{
    await_ticks(30);
    char line[96];
    snprintf(line, sizeof(line), "  %s: still waits after the close", name);
    out(line, "%s", yes(!atomic_load(&w->done)));
}

static void finish(const char *name, struct waiter *w)
{
    LEGACY_CHECK(pthread_join(w->t, NULL) == 0);
    result(name, w->r, w->e);
}

/* The next fd the process gets (then closed again). */
static int next_fd(void)
{
    int fd = open("/dev/null", O_RDONLY);
    LEGACY_CHECK(fd >= 0);
    close(fd);
    return fd;
}

/* Whether fd has something to read within ms milliseconds. */
static bool readable(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static const char *poll_flags(short r)
{
    static char s[64];
    snprintf(s, sizeof(s), "%s%s%s%s%s", r & POLLIN ? "IN " : "",
             r & POLLOUT ? "OUT " : "", r & POLLHUP ? "HUP " : "",
             r & POLLERR ? "ERR " : "", r & POLLNVAL ? "NVAL " : "");
    return r == 0 ? "none" : s;
}

/* --- read ---------------------------------------------------------------- */

static long do_read(struct waiter *w)
{
    return read(w->fd, w->buf, sizeof(w->buf));
}

static long do_recv(struct waiter *w)
{
    return recv(w->fd, w->buf, sizeof(w->buf), 0);
}

static void reads(void)
{
    int p[2], q[2];
    struct waiter w;
    LEGACY_CHECK(pipe(p) == 0);
    start(&w, do_read, p[0]);
    long t0 = atomic_load(&ticks);
    RESULT("read: close of the read end", close(p[0]));
    /* The number is free: a new pipe takes it, as natively. */
    LEGACY_CHECK(pipe(q) == 0);
    out("read: a new pipe gets the closed number", "%s", yes(q[0] == p[0]));
    out("read: the new pipe's byte", "%ld", (long)write(q[1], "n", 1));
    still_waits("read", &w);
    char c = 0;
    out("read: the new pipe's reader gets it", "%s",
        yes(read(q[0], &c, 1) == 1 && c == 'n'));
    RESULT("read: a byte for the old pipe", write(p[1], "o", 1));
    finish("read: the waiter's read", &w);
    out("read: it got the old pipe's byte", "%s", yes(w.buf[0] == 'o'));
    out("read: ticker ran meanwhile", "%s",
        yes(atomic_load(&ticks) - t0 >= 30));
    /* The description went with the read: no reader is left. */
    RESULT("read: the writer after the read returned", write(p[1], "x", 1));
    close(p[1]);
    close(q[0]);
    close(q[1]);

    /* dup2 onto the fd closes it first: the same. */
    LEGACY_CHECK(pipe(p) == 0 && pipe(q) == 0);
    start(&w, do_read, p[0]);
    RESULT("read: dup2 of another pipe onto the read end",
           dup2(q[0], p[0]) == p[0]);
    out("read: a byte for the pipe dup2 put there", "%ld",
        (long)write(q[1], "d", 1));
    still_waits("read dup2", &w);
    out("read: that pipe's reader, now at the number, gets it", "%s",
        yes(read(p[0], &c, 1) == 1 && c == 'd'));
    RESULT("read: a byte for the old pipe", write(p[1], "o", 1));
    finish("read: the waiter's read", &w);
    out("read: it got the old pipe's byte", "%s", yes(w.buf[0] == 'o'));
    RESULT("read: the old pipe's writer after the read returned",
           write(p[1], "x", 1));
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(q[1]);
}

/* A connected TCP pair on loopback. */
static void tcp_pair(int s[2])
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    LEGACY_CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0);
    LEGACY_CHECK(listen(l, 4) == 0);
    LEGACY_CHECK(getsockname(l, (struct sockaddr *)&a, &len) == 0);
    s[1] = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(s[1] >= 0);
    LEGACY_CHECK(connect(s[1], (struct sockaddr *)&a, sizeof(a)) == 0);
    s[0] = accept(l, NULL, NULL);
    LEGACY_CHECK(s[0] >= 0);
    close(l);
}

static void recv_case(const char *kind, int s[2])
{
    char name[96];
    struct waiter w;
    /* The lowest free number, which the next open gets natively. */
    int expect = next_fd();
    expect = expect < s[0] ? expect : s[0];
    start(&w, do_recv, s[0]);
    snprintf(name, sizeof(name), "recv %s: close", kind);
    RESULT(name, close(s[0]));
    snprintf(name, sizeof(name), "recv %s: the next fd is the lowest free",
             kind);
    out(name, "%s", yes(next_fd() == expect));
    snprintf(name, sizeof(name), "recv %s: the peer sees no end of file",
             kind);
    out(name, "%s", yes(!readable(s[1], 50)));
    still_waits(kind, &w);
    snprintf(name, sizeof(name), "recv %s: a byte from the peer", kind);
    RESULT(name, send(s[1], "s", 1, 0));
    snprintf(name, sizeof(name), "recv %s: the waiter's recv", kind);
    finish(name, &w);
    snprintf(name, sizeof(name), "recv %s: it got the byte", kind);
    out(name, "%s", yes(w.buf[0] == 's'));
    char c;
    snprintf(name, sizeof(name), "recv %s: then the peer's end of file", kind);
    RESULT(name, read(s[1], &c, 1));
    close(s[1]);
}

static void recvs(void)
{
    int s[2];
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    recv_case("unix", s);
    tcp_pair(s);
    recv_case("tcp", s);
}

/* --- accept -------------------------------------------------------------- */

static long do_accept(struct waiter *w)
{
    int c = accept(w->fd, NULL, NULL);
    if (c >= 0) {
        char b = 0;
        /* The connection works: one byte each way. */
        w->buf[0] = (char)(read(c, &b, 1) == 1 && b == 'a' &&
                           write(c, "b", 1) == 1);
        close(c);
        return 0;
    }
    return -1;
}

static void accepts(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(l >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    LEGACY_CHECK(bind(l, (struct sockaddr *)&a, sizeof(a)) == 0);
    LEGACY_CHECK(listen(l, 4) == 0);
    LEGACY_CHECK(getsockname(l, (struct sockaddr *)&a, &len) == 0);
    struct waiter w;
    start(&w, do_accept, l);
    RESULT("accept: close of the listening socket", close(l));
    int c = socket(AF_INET, SOCK_STREAM, 0);
    out("accept: a new socket gets the closed number", "%s", yes(c == l));
    still_waits("accept", &w);
    RESULT("accept: a connection to it", connect(c, (struct sockaddr *)&a,
                                                 sizeof(a)));
    char b = 0;
    out("accept: a byte there and back", "%s",
        yes(write(c, "a", 1) == 1 && read(c, &b, 1) == 1 && b == 'b'));
    finish("accept: the waiter's accept", &w);
    out("accept: its connection worked", "%s", yes(w.buf[0] == 1));
    close(c);
    c = socket(AF_INET, SOCK_STREAM, 0);
    RESULT("accept: a connection after the accept returned",
           connect(c, (struct sockaddr *)&a, sizeof(a)));
    close(c);
}

/* A blocking connect to a listener whose queue is full waits for its
 * SYN to be let in (a retransmission, about a second later). */
static struct sockaddr_in connect_to;

static long do_connect(struct waiter *w)
{
    return connect(w->fd, (struct sockaddr *)&connect_to,
                   sizeof(connect_to));
}

static void connects(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(l >= 0);
    connect_to = (struct sockaddr_in){.sin_family = AF_INET,
                                      .sin_addr.s_addr =
                                          htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(connect_to);
    LEGACY_CHECK(bind(l, (struct sockaddr *)&connect_to,
                      sizeof(connect_to)) == 0);
    LEGACY_CHECK(listen(l, 0) == 0);
    LEGACY_CHECK(getsockname(l, (struct sockaddr *)&connect_to, &len) == 0);
    int pre[4];
    for (int i = 0; i < 4; i++) { /* the queue full, and more */
        pre[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        LEGACY_CHECK(pre[i] >= 0);
        connect(pre[i], (struct sockaddr *)&connect_to, sizeof(connect_to));
    }
    await_ticks(100); /* their handshakes settle */
    struct waiter w;
    int c = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(c >= 0);
    start(&w, do_connect, c);
    RESULT("connect: close while it waits", close(c));
    still_waits("connect", &w);
    await_ticks(100);
    bool all = true;
    int a[3];
    for (int i = 0; i < 3; i++) { /* the waiter's is among them */
        a[i] = accept(l, NULL, NULL);
        all = all && a[i] >= 0;
    }
    out("connect: three connections accepted", "%s", yes(all));
    finish("connect: the waiter's connect", &w);
    for (int i = 0; i < 3; i++) {
        close(a[i]);
    }
    for (int i = 0; i < 4; i++) {
        close(pre[i]);
    }
    close(l);
}

/* --- write --------------------------------------------------------------- */

#define BIG 300000

static char big[BIG];

static long do_write(struct waiter *w)
{
    return write(w->fd, big, BIG);
}

static long do_send(struct waiter *w)
{
    return send(w->fd, big, BIG, 0);
}

static void write_case(const char *kind, int rd, int wr,
                       long (*fn)(struct waiter *))
{
    char name[96];
    struct waiter w;
    start(&w, fn, wr);
    snprintf(name, sizeof(name), "write %s: close while the write blocks",
             kind);
    RESULT(name, close(wr));
    snprintf(name, sizeof(name), "write %s: the next fd is the closed number",
             kind);
    out(name, "%s", yes(next_fd() == wr));
    still_waits(kind, &w);
    /* Drain it all: every byte in order, then end of file. */
    static char got[BIG + 16];
    size_t n = 0;
    ssize_t r;
    while ((r = read(rd, got + n, sizeof(got) - n)) > 0) {
        n += (size_t)r;
    }
    snprintf(name, sizeof(name), "write %s: bytes read, then", kind);
    out(name, "%zu %s", n, r == 0 ? "end of file" : strerrorname_np(errno));
    snprintf(name, sizeof(name), "write %s: every byte as written", kind);
    out(name, "%s", yes(n == BIG && memcmp(got, big, BIG) == 0));
    snprintf(name, sizeof(name), "write %s: the waiter's write", kind);
    finish(name, &w);
    close(rd);
}

static void writes(void)
{
    for (size_t i = 0; i < BIG; i++) {
        big[i] = (char)(i * 7 + i / 251);
    }
    int p[2];
    LEGACY_CHECK(pipe(p) == 0);
    write_case("pipe", p[0], p[1], do_write);
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0);
    write_case("unix", p[0], p[1], do_send);
}

/* --- poll, select, epoll ---------------------------------------------------- */

static long do_poll(struct waiter *w)
{
    struct pollfd p = {.fd = w->fd, .events = POLLIN};
    long r = poll(&p, 1, w->fd2);
    w->revents = p.revents;
    return r;
}

/* A poll on both ends of a socket pair. */
static long do_poll2(struct waiter *w)
{
    struct pollfd p[2] = {{.fd = w->fd, .events = POLLIN},
                          {.fd = w->fd2, .events = POLLIN}};
    long r = poll(p, 2, -1);
    w->revents = p[0].revents;
    w->buf[0] = (char)p[1].revents;
    return r;
}

static long do_select(struct waiter *w)
{
    fd_set r, wr;
    FD_ZERO(&r);
    FD_ZERO(&wr);
    FD_SET(w->fd, w->revents ? &wr : &r);
    struct timeval tv = {0, w->fd2 * 1000};
    long n = select(w->fd + 1, &r, &wr, NULL, &tv);
    w->revents = (short)(n > 0 ? (FD_ISSET(w->fd, &r) ? POLLIN : 0) |
                                     (FD_ISSET(w->fd, &wr) ? POLLOUT : 0)
                               : 0);
    return n;
}

static long do_epoll(struct waiter *w)
{
    struct epoll_event ev[4];
    long n = epoll_wait(w->fd, ev, 4, w->fd2);
    w->revents = (short)n;
    return n;
}

static void polls(void)
{
    int p[2];
    struct waiter w = {.fd2 = -1};
    LEGACY_CHECK(pipe(p) == 0);
    start(&w, do_poll, p[0]);
    RESULT("poll: close (no timeout)", close(p[0]));
    still_waits("poll", &w);
    RESULT("poll: a byte for the old pipe", write(p[1], "p", 1));
    finish("poll: the waiter's poll", &w);
    out("poll: its revents", "%s", poll_flags(w.revents));
    close(p[1]);

    LEGACY_CHECK(pipe(p) == 0);
    w.fd2 = 300;
    start(&w, do_poll, p[0]);
    RESULT("poll: close (a 300 ms timeout)", close(p[0]));
    still_waits("poll timeout", &w);
    finish("poll: the waiter's poll at its timeout", &w);
    out("poll: its revents", "%s", poll_flags(w.revents));
    close(p[1]);

    /* Both ends of a socket pair, one closed: the poll holds its file
     * until it returns, so the other end sees no hang-up yet. */
    int s[2];
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    w.fd2 = s[1];
    start(&w, do_poll2, s[0]);
    RESULT("poll pair: close of one end", close(s[1]));
    still_waits("poll pair", &w);
    RESULT("poll pair: the other end shut for reading", shutdown(s[0],
                                                                SHUT_RD));
    finish("poll pair: the waiter's poll", &w);
    out("poll pair: the open end's revents", "%s", poll_flags(w.revents));
    out("poll pair: the closed end's revents", "%s", poll_flags(w.buf[0]));
    close(s[0]);

    /* select, its fd in the read set: woken by a byte for the old pipe;
     * then at its timeout; then in the write set (the write end). */
    LEGACY_CHECK(pipe(p) == 0);
    w.fd2 = 300;
    w.revents = 0;
    start(&w, do_select, p[0]);
    RESULT("select: close (a 300 ms timeout)", close(p[0]));
    still_waits("select", &w);
    RESULT("select: a byte for the old pipe", write(p[1], "s", 1));
    finish("select: the waiter's select", &w);
    out("select: its sets", "%s", poll_flags(w.revents));
    close(p[1]);

    LEGACY_CHECK(pipe(p) == 0);
    w.revents = 0;
    start(&w, do_select, p[0]);
    RESULT("select: close, nothing comes", close(p[0]));
    still_waits("select timeout", &w);
    finish("select: the waiter's select at its timeout", &w);
    out("select: its sets", "%s", poll_flags(w.revents));
    close(p[1]);

    LEGACY_CHECK(pipe(p) == 0);
    /* A full pipe: the write end is not writable until read. */
    LEGACY_CHECK(fcntl(p[1], F_SETFL, O_NONBLOCK) == 0);
    while (write(p[1], big, sizeof(big)) > 0) {
    }
    w.revents = 1; /* the write set */
    start(&w, do_select, p[1]);
    RESULT("select write set: close, nothing comes", close(p[1]));
    still_waits("select write set", &w);
    finish("select write set: the waiter's select", &w);
    out("select write set: its sets", "%s", poll_flags(w.revents));
    close(p[0]);

    int ep = epoll_create1(0);
    LEGACY_CHECK(ep >= 0 && pipe(p) == 0);
    struct epoll_event ev = {.events = EPOLLIN};
    LEGACY_CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) == 0);
    w.fd2 = 300;
    start(&w, do_epoll, ep);
    RESULT("epoll: close of a registered fd", close(p[0]));
    still_waits("epoll", &w);
    /* Nothing reads the pipe any more. */
    RESULT("epoll: a byte for the old pipe", write(p[1], "e", 1));
    finish("epoll: the waiter's epoll_wait", &w);
    close(p[1]);
    close(ep);
}

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"read", reads},     {"recv", recvs}, {"accept", accepts},
    {"connect", connects},
    {"write", writes},   {"poll", polls},
};

/* No argument: every group; "list": their names; a name: that group. */
int main(int argc, char **argv)
{
    size_t n = sizeof(groups) / sizeof(groups[0]);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    pthread_t tick;
    LEGACY_CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0);
    for (size_t i = 0; i < n; i++) {
        if (argc < 2 || strcmp(argv[1], groups[i].name) == 0) {
            groups[i].run();
        }
    }
    atomic_store(&stop, 1);
    LEGACY_CHECK(pthread_join(tick, NULL) == 0);
    return 0;
}
