/* SPDX-License-Identifier: MIT */
/* Edge cases of the calls the preload replaces, one line of outcome each
 * (return value, errno name, flags, data). differential.sh runs this
 * natively and under LD_PRELOAD=libgreen.so and requires byte-identical
 * output: whatever libc and the kernel answer natively is the truth.
 *
 * Output is deterministic: no addresses, pids, ports or durations; a
 * duration is printed only as a fact ("waited >= timeout: yes").
 * Everything runs after the first pthread_create, so the preload's hub
 * exists: most cases in a pthread, the signal and fork cases in main
 * after that thread was joined (natively, main is then the only thread
 * that can take SIGALRM). Only loopback and /etc/hosts are used. */
#include "legacy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- output ---------------------------------------------------------- */

static void out(const char *name, const char *fmt, ...)
{
    va_list ap;
    printf("%-34s ", name);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    static char buf[32];
    if (n == NULL) {
        snprintf(buf, sizeof(buf), "E#%d", e);
        return buf;
    }
    return n;
}

/* Prints a libc-style result: the value, or -1 and errno's name. errno
 * is read first, before anything else can change it. */
static void res(const char *name, long r)
{
    int e = errno;
    if (r < 0) {
        out(name, "-1 %s", ename(e));
    } else {
        out(name, "%ld", r);
    }
}

/* Prints an errno-returning result (pthread_*, clock_nanosleep). */
static void eres(const char *name, int r)
{
    out(name, "%s", r == 0 ? "0" : ename(r));
}

static const char *flagstr(int fl)
{
    static char buf[96];
    const char *acc = (fl & O_ACCMODE) == O_RDONLY   ? "O_RDONLY"
                      : (fl & O_ACCMODE) == O_WRONLY ? "O_WRONLY"
                                                     : "O_RDWR";
    snprintf(buf, sizeof(buf), "%s%s%s (0x%x)", acc,
             fl & O_NONBLOCK ? "|O_NONBLOCK" : "",
             fl & O_APPEND ? "|O_APPEND" : "", (unsigned)fl);
    return buf;
}

static void flags(const char *name, int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0) {
        res(name, fl);
        return;
    }
    int fdfl = fcntl(fd, F_GETFD);
    out(name, "%s%s", flagstr(fl), fdfl & FD_CLOEXEC ? " FD_CLOEXEC" : "");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *yes(int c)
{
    return c ? "yes" : "no";
}

static void set_nonblock(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

/* ---- helpers ------------------------------------------------------- */

static int tcp_listener(struct sockaddr_in *sa, int backlog)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(fd >= 0);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    LEGACY_CHECK(bind(fd, (struct sockaddr *)sa, sizeof(*sa)) == 0);
    socklen_t l = sizeof(*sa);
    LEGACY_CHECK(getsockname(fd, (struct sockaddr *)sa, &l) == 0);
    if (backlog > 0) {
        LEGACY_CHECK(listen(fd, backlog) == 0);
    }
    return fd;
}

/* A connected TCP pair over loopback. */
static void tcp_pair(int *client, int *server)
{
    struct sockaddr_in sa;
    int l = tcp_listener(&sa, 4);
    *client = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(connect(*client, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    *server = accept(l, NULL, NULL);
    LEGACY_CHECK(*server >= 0);
    close(l);
}

/* A thread that sleeps, then writes a buffer whole (or reads and sums
 * `n` bytes when `read_mode`). */
struct helper {
    pthread_t th;
    int fd;
    int delay_us;
    const void *data;
    size_t n;
    int read_mode;
    size_t got;
    uint64_t sum;
};

static void *helper_run(void *arg)
{
    struct helper *h = arg;
    if (h->delay_us > 0) {
        usleep((useconds_t)h->delay_us);
    }
    if (h->read_mode) {
        static char buf[65536];
        /* One reader at a time uses buf; helpers never overlap here. */
        while (h->got < h->n) {
            ssize_t r = read(h->fd, buf, sizeof(buf));
            if (r <= 0) {
                break;
            }
            for (ssize_t i = 0; i < r; i++) {
                h->sum = h->sum * 31 + (unsigned char)buf[i];
            }
            h->got += (size_t)r;
        }
    } else {
        if (write(h->fd, h->data, h->n) == (ssize_t)h->n) {
            h->got = h->n;
        }
    }
    return NULL;
}

static void helper_start(struct helper *h, int fd, int delay_us,
                         const void *data, size_t n, int read_mode)
{
    memset(h, 0, sizeof(*h));
    h->fd = fd;
    h->delay_us = delay_us;
    h->data = data;
    h->n = n;
    h->read_mode = read_mode;
    LEGACY_CHECK(pthread_create(&h->th, NULL, helper_run, h) == 0);
}

static void helper_join(struct helper *h)
{
    LEGACY_CHECK(pthread_join(h->th, NULL) == 0);
}

/* ---- bad descriptors, non-blocking fds ------------------------------ */

static void bad_fds(void)
{
    char c;
    res("read(-1)", read(-1, &c, 1));
    res("read(closed fd)", read(900, &c, 1));
    res("write(closed fd)", write(900, "x", 1));
    res("close(closed fd)", close(900));
    res("fcntl(closed fd, F_GETFL)", fcntl(900, F_GETFL));
    res("recv(closed fd)", recv(900, &c, 1, 0));
    res("accept(closed fd)", accept(900, NULL, NULL));
    int p[2];
    LEGACY_CHECK(pipe(p) == 0);
    res("write(pipe read end)", write(p[0], "x", 1));
    res("read(pipe write end)", read(p[1], &c, 1));
    close(p[0]);
    close(p[1]);
    res("close twice", close(p[0]));
}

/* Zero-byte transfers return 0 at once, whatever the fd's state. */
static void zero_length(void)
{
    char c;
    int p[2], s[2];
    LEGACY_CHECK(pipe(p) == 0);
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    res("read(0 bytes, empty pipe)", read(p[0], &c, 0));
    res("read(0 bytes, empty socket)", read(s[0], &c, 0));
    set_nonblock(p[1], 1);
    while (write(p[1], "0123456789abcdef", 16) > 0) {
    }
    set_nonblock(p[1], 0);
    res("write(0 bytes, full blocking pipe)", write(p[1], &c, 0));
    close(p[0]);
    close(p[1]);
    close(s[0]);
    close(s[1]);
}

static void fill_until_eagain(const char *name, int fd)
{
    static char junk[4096];
    long total = 0;
    ssize_t r;
    while ((r = write(fd, junk, sizeof(junk))) > 0) {
        total += r;
    }
    int e = errno;
    out(name, "%ld %s after >0 bytes: %s", (long)r, ename(e),
        yes(total > 0));
}

static void nonblocking(void)
{
    char c;
    int p[2];
    LEGACY_CHECK(pipe(p) == 0);
    flags("F_GETFL pipe read end", p[0]);
    flags("F_GETFL pipe write end", p[1]);
    LEGACY_CHECK(write(p[1], "ab", 2) == 2);
    LEGACY_CHECK(read(p[0], &c, 1) == 1);
    flags("F_GETFL pipe after blocking read", p[0]);
    res("F_SETFL O_NONBLOCK pipe", fcntl(p[0], F_SETFL, O_NONBLOCK));
    flags("F_GETFL pipe after F_SETFL", p[0]);
    res("read nonblock pipe, 1 byte there", read(p[0], &c, 1));
    res("read nonblock empty pipe", read(p[0], &c, 1));
    set_nonblock(p[1], 1);
    fill_until_eagain("write nonblock pipe until full", p[1]);
    res("F_SETFL 0 pipe", fcntl(p[0], F_SETFL, 0));
    flags("F_GETFL pipe after clearing", p[0]);
    close(p[0]);
    close(p[1]);

    LEGACY_CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
    flags("F_GETFL pipe2(O_NONBLOCK|O_CLOEXEC)", p[0]);
    res("read pipe2 nonblock empty", read(p[0], &c, 1));
    close(p[0]);
    close(p[1]);

    int s[2];
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    flags("F_GETFL socketpair", s[0]);
    set_nonblock(s[0], 1);
    flags("F_GETFL socketpair after F_SETFL", s[0]);
    res("read nonblock socket empty", read(s[0], &c, 1));
    res("recv nonblock socket empty", recv(s[0], &c, 1, 0));
    fill_until_eagain("write nonblock socket until full", s[0]);
    close(s[0]);
    close(s[1]);

    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s) == 0);
    flags("F_GETFL socketpair(SOCK_NONBLOCK)", s[0]);
    flags("F_GETFL socketpair(SOCK_NONBLOCK) peer", s[1]);
    close(s[0]);
    close(s[1]);
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    res("recv MSG_DONTWAIT on blocking fd", recv(s[1], &c, 1, MSG_DONTWAIT));
    flags("F_GETFL after MSG_DONTWAIT", s[1]);
    close(s[0]);
    close(s[1]);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    flags("F_GETFL socket()", fd);
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    flags("F_GETFL socket(SOCK_NONBLOCK|CLOEXEC)", fd);
    close(fd);

    /* ioctl(FIONBIO) is another way to the same flag. */
    LEGACY_CHECK(pipe(p) == 0);
    int on = 1;
    res("ioctl FIONBIO on", ioctl(p[0], FIONBIO, &on));
    flags("F_GETFL after FIONBIO on", p[0]);
    res("read after FIONBIO on", read(p[0], &c, 1));
    on = 0;
    res("ioctl FIONBIO off", ioctl(p[0], FIONBIO, &on));
    flags("F_GETFL after FIONBIO off", p[0]);
    struct helper h;
    helper_start(&h, p[1], 50000, "z", 1, 0);
    c = 0;
    long r = read(p[0], &c, 1);
    out("blocking read after FIONBIO off", "%ld '%c'", r, c);
    helper_join(&h);
    int avail = -1;
    LEGACY_CHECK(write(p[1], "12345", 5) == 5);
    res("ioctl FIONREAD", ioctl(p[0], FIONREAD, &avail));
    out("FIONREAD value", "%d", avail);
    close(p[0]);
    close(p[1]);
}

/* ---- timeouts ------------------------------------------------------- */

static void sock_timeouts(void)
{
    int s[2];
    char c;
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    struct timeval tv = {0, 200000};
    res("setsockopt SO_RCVTIMEO", setsockopt(s[0], SOL_SOCKET, SO_RCVTIMEO,
                                             &tv, sizeof(tv)));
    struct timeval got = {0, 0};
    socklen_t gl = sizeof(got);
    getsockopt(s[0], SOL_SOCKET, SO_RCVTIMEO, &got, &gl);
    out("getsockopt SO_RCVTIMEO", "%ld.%06ld", (long)got.tv_sec,
        (long)got.tv_usec);
    double t0 = now();
    long r = recv(s[0], &c, 1, 0);
    int e = errno;
    out("recv with SO_RCVTIMEO expires", "%ld %s waited >= timeout: %s", r,
        ename(e), yes(now() - t0 >= 0.19));
    t0 = now();
    r = read(s[0], &c, 1);
    e = errno;
    out("read with SO_RCVTIMEO expires", "%ld %s waited >= timeout: %s", r,
        ename(e), yes(now() - t0 >= 0.19));
    flags("F_GETFL after SO_RCVTIMEO expiry", s[0]);
    struct helper h;
    helper_start(&h, s[1], 50000, "q", 1, 0);
    r = recv(s[0], &c, 1, 0);
    out("recv with SO_RCVTIMEO, data in time", "%ld '%c'", r, c);
    helper_join(&h);

    res("setsockopt SO_SNDTIMEO", setsockopt(s[1], SOL_SOCKET, SO_SNDTIMEO,
                                             &tv, sizeof(tv)));
    static char junk[4096];
    while (send(s[1], junk, sizeof(junk), MSG_DONTWAIT) > 0) {
    }
    t0 = now();
    r = send(s[1], junk, 1000, 0);
    e = errno;
    out("send with SO_SNDTIMEO, buffer full", "%ld %s waited >= timeout: %s",
        r, ename(e), yes(now() - t0 >= 0.19));
    flags("F_GETFL after SO_SNDTIMEO expiry", s[1]);
    close(s[0]);
    close(s[1]);
}

/* ---- big writes, EPIPE ---------------------------------------------- */

#define BIG (8 << 20)

static void big_write(const char *name, int wfd, int rfd)
{
    char *buf = malloc(BIG);
    LEGACY_CHECK(buf != NULL);
    uint64_t want = 0;
    for (size_t i = 0; i < BIG; i++) {
        buf[i] = (char)(i * 2654435761u >> 13);
        want = want * 31 + (unsigned char)buf[i];
    }
    struct helper h;
    helper_start(&h, rfd, 20000, NULL, BIG, 1);
    long r = write(wfd, buf, BIG);
    helper_join(&h);
    out(name, "%ld, reader got %zu, same bytes: %s", r, h.got,
        yes(h.sum == want));
    free(buf);
}

static void big_writes_and_epipe(void)
{
    int s[2];
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    big_write("write 8 MiB socketpair", s[0], s[1]);
    close(s[0]);
    close(s[1]);
    int c, sv;
    tcp_pair(&c, &sv);
    big_write("write 8 MiB TCP", c, sv);
    close(c);
    close(sv);
    int p[2];
    LEGACY_CHECK(pipe(p) == 0);
    big_write("write 8 MiB pipe", p[1], p[0]);

    close(p[0]);
    res("write to pipe without reader", write(p[1], "x", 1));
    close(p[1]);
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    res("shutdown(SHUT_WR)", shutdown(s[0], SHUT_WR));
    res("write after own SHUT_WR", write(s[0], "x", 1));
    res("send after own SHUT_WR", send(s[0], "x", 1, 0));
    close(s[1]);
    res("write to socket, peer closed", write(s[0], "x", 1));
    close(s[0]);
}

/* ---- TCP connect, accept ------------------------------------------- */

static void tcp_cases(void)
{
    struct sockaddr_in sa;
    char c;
    int l = tcp_listener(&sa, 0);
    close(l); /* a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    res("connect closed port", connect(fd, (struct sockaddr *)&sa,
                                      sizeof(sa)));
    close(fd);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    long r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        poll(&pfd, 1, 2000);
    }
    int err = -1;
    socklen_t el = sizeof(err);
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    out("nonblock connect closed port", "SO_ERROR %s",
        err == 0 ? "0" : ename(err));
    close(fd);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    res("recv unconnected TCP", recv(fd, &c, 1, 0));
    res("read unconnected TCP", read(fd, &c, 1));
    struct sockaddr_in peer;
    socklen_t pl = sizeof(peer);
    res("getpeername unconnected", getpeername(fd, (struct sockaddr *)&peer,
                                              &pl));
    res("write unconnected TCP", write(fd, "x", 1));
    res("accept on non-listening", accept(fd, NULL, NULL));
    close(fd);

    l = tcp_listener(&sa, 8);
    flags("F_GETFL listening socket", l);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    res("blocking connect", connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    flags("F_GETFL after blocking connect", fd);
    res("second connect", connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    int a = accept(l, NULL, NULL);
    out("accept", "%s", a >= 0 ? "fd" : ename(errno));
    flags("F_GETFL accepted socket", a);
    close(a);
    close(fd);

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    res("nonblock connect", connect(fd, (struct sockaddr *)&sa, sizeof(sa)));
    struct pollfd pfd = {fd, POLLOUT, 0};
    r = poll(&pfd, 1, 2000);
    out("poll POLLOUT after EINPROGRESS", "%ld revents%s%s", r,
        pfd.revents & POLLOUT ? " POLLOUT" : "",
        pfd.revents & POLLERR ? " POLLERR" : "");
    err = -1;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    out("SO_ERROR after connect", "%s", err == 0 ? "0" : ename(err));
    pl = sizeof(peer);
    res("getpeername connected", getpeername(fd, (struct sockaddr *)&peer,
                                            &pl));
    out("peer is the listener", "%s",
        yes(peer.sin_port == sa.sin_port &&
            peer.sin_addr.s_addr == sa.sin_addr.s_addr));
    res("connect again after success", connect(fd, (struct sockaddr *)&sa,
                                               sizeof(sa)));
    flags("F_GETFL nonblock connected", fd);

    a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    out("accept4(NONBLOCK|CLOEXEC)", "%s", a >= 0 ? "fd" : ename(errno));
    flags("F_GETFL accept4 socket", a);
    res("read accept4 nonblock empty", read(a, &c, 1));
    close(a);
    close(fd);

    set_nonblock(l, 1);
    res("accept nonblock listener, none", accept(l, NULL, NULL));
    set_nonblock(l, 0);

    /* EOF after the peer's shutdown, then the other direction still
     * works; MSG_PEEK; readv/writev. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    a = accept(l, NULL, NULL);
    LEGACY_CHECK(a >= 0);
    LEGACY_CHECK(write(fd, "hello", 5) == 5);
    char buf[64] = {0};
    r = recv(a, buf, sizeof(buf), MSG_PEEK);
    out("recv MSG_PEEK", "%ld '%.*s'", r, (int)(r > 0 ? r : 0), buf);
    memset(buf, 0, sizeof(buf));
    r = read(a, buf, 5);
    out("read after peek", "%ld '%.*s'", r, (int)(r > 0 ? r : 0), buf);
    res("shutdown(SHUT_WR) peer", shutdown(fd, SHUT_WR));
    res("read after peer SHUT_WR", read(a, buf, sizeof(buf)));
    res("read at EOF again", read(a, buf, sizeof(buf)));
    struct iovec wv[3] = {{"scatter", 7}, {"-", 1}, {"gather!", 7}};
    res("writev 3 iovecs", writev(a, wv, 3));
    char b1[2], b2[3], b3[32] = {0};
    struct iovec rv[3] = {{b1, 2}, {b2, 3}, {b3, 31}};
    r = readv(fd, rv, 3);
    out("readv 3 iovecs", "%ld '%.2s' '%.3s' '%s'", r, b1, b2, b3);
    close(a);
    res("read after peer close", read(fd, buf, sizeof(buf)));
    close(fd);
    close(l);

    fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_un bad = {0};
    bad.sun_family = AF_UNIX;
    res("connect wrong family", connect(fd, (struct sockaddr *)&bad,
                                       sizeof(bad)));
    close(fd);
}

/* ---- fd passing, dup ------------------------------------------------ */

static void scm_rights_and_dup(void)
{
    int s[2], p[2];
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    LEGACY_CHECK(pipe(p) == 0);
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cm;
    memset(&cm, 0, sizeof(cm));
    struct iovec iov = {"F", 1};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof(cm.buf);
    struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
    ch->cmsg_level = SOL_SOCKET;
    ch->cmsg_type = SCM_RIGHTS;
    ch->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(ch), &p[0], sizeof(int));
    res("sendmsg SCM_RIGHTS", sendmsg(s[0], &mh, 0));

    char one = 0;
    struct iovec riov = {&one, 1};
    struct msghdr rm = {0};
    memset(&cm, 0, sizeof(cm));
    rm.msg_iov = &riov;
    rm.msg_iovlen = 1;
    rm.msg_control = cm.buf;
    rm.msg_controllen = sizeof(cm.buf);
    long r = recvmsg(s[1], &rm, 0);
    int got = -1;
    struct cmsghdr *rh = CMSG_FIRSTHDR(&rm);
    if (rh != NULL && rh->cmsg_type == SCM_RIGHTS) {
        memcpy(&got, CMSG_DATA(rh), sizeof(int));
    }
    out("recvmsg SCM_RIGHTS", "%ld '%c' fd received: %s", r, one,
        yes(got >= 0 && got != p[0]));
    flags("F_GETFL received fd", got);
    close(p[0]);
    LEGACY_CHECK(write(p[1], "via", 3) == 3);
    char buf[16] = {0};
    r = read(got, buf, sizeof(buf));
    out("read through received fd", "%ld '%s'", r, buf);
    /* A blocking read on the received fd, fed later by another thread. */
    struct helper h;
    helper_start(&h, p[1], 30000, "late", 4, 0);
    memset(buf, 0, sizeof(buf));
    r = read(got, buf, sizeof(buf));
    out("blocking read received fd", "%ld '%s'", r, buf);
    helper_join(&h);
    close(got);
    close(p[1]);

    /* dup2 onto a live fd: the target now is the socket. */
    LEGACY_CHECK(pipe(p) == 0);
    set_nonblock(p[0], 1);
    r = dup2(s[0], p[0]);
    out("dup2 onto live pipe fd", "%s", r == p[0] ? "target" : ename(errno));
    flags("F_GETFL dup2 target", p[0]);
    LEGACY_CHECK(write(s[1], "d", 1) == 1);
    r = read(p[0], buf, 1);
    out("read via dup2 target", "%ld '%c'", r, buf[0]);
    set_nonblock(s[0], 1);
    flags("F_GETFL dup after O_NONBLOCK on original", p[0]);
    res("read dup, shared O_NONBLOCK", read(p[0], buf, 1));
    set_nonblock(s[0], 0);
    close(s[0]);
    helper_start(&h, s[1], 30000, "e", 1, 0);
    r = read(p[0], buf, 1);
    out("blocking read dup after original closed", "%ld '%c'", r, buf[0]);
    helper_join(&h);
    res("dup2 same fd", dup2(p[0], p[0]) == p[0] ? 0 : -1);
    res("dup2 from closed fd", dup2(900, p[0]));
    int d = dup3(p[0], 901, O_CLOEXEC);
    out("dup3 O_CLOEXEC", "%s", d == 901 ? "901" : ename(errno));
    flags("F_GETFL dup3 target", 901);
    close(901);
    res("dup closed fd", dup(901));
    d = fcntl(p[0], F_DUPFD_CLOEXEC, 0);
    flags("F_DUPFD_CLOEXEC", d);
    close(d);
    close(p[0]);
    close(p[1]);
    close(s[1]);
}

/* ---- UDP ------------------------------------------------------------ */

static void udp_cases(void)
{
    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = {0}, sb = {0}, from;
    sa.sin_family = sb.sin_family = AF_INET;
    sa.sin_addr.s_addr = sb.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    LEGACY_CHECK(bind(a, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    LEGACY_CHECK(bind(b, (struct sockaddr *)&sb, sizeof(sb)) == 0);
    socklen_t l = sizeof(sa);
    getsockname(a, (struct sockaddr *)&sa, &l);
    l = sizeof(sb);
    getsockname(b, (struct sockaddr *)&sb, &l);
    res("sendto UDP", sendto(a, "datagram", 8, 0, (struct sockaddr *)&sb,
                             sizeof(sb)));
    char buf[128] = {0};
    l = sizeof(from);
    long r = recvfrom(b, buf, sizeof(buf), 0, (struct sockaddr *)&from, &l);
    char ip[64];
    inet_ntop(AF_INET, &from.sin_addr, ip, sizeof(ip));
    out("recvfrom UDP", "%ld '%s' from %s, sender port: %s", r, buf, ip,
        yes(from.sin_port == sa.sin_port));

    char big[100];
    memset(big, 'u', sizeof(big));
    sendto(a, big, sizeof(big), 0, (struct sockaddr *)&sb, sizeof(sb));
    res("recv MSG_TRUNC 10 of 100", recv(b, buf, 10, MSG_TRUNC));
    sendto(a, big, sizeof(big), 0, (struct sockaddr *)&sb, sizeof(sb));
    struct iovec iov = {buf, 10};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    r = recvmsg(b, &mh, 0);
    out("recvmsg short buffer", "%ld msg_flags%s", r,
        mh.msg_flags & MSG_TRUNC ? " MSG_TRUNC" : " none");
    res("recv UDP MSG_DONTWAIT empty", recv(b, buf, sizeof(buf),
                                           MSG_DONTWAIT));

    /* A blocking recvfrom, the datagram arriving later. */
    LEGACY_CHECK(connect(a, (struct sockaddr *)&sb, sizeof(sb)) == 0);
    struct helper h;
    helper_start(&h, a, 50000, "later", 5, 0);
    memset(buf, 0, sizeof(buf));
    r = recvfrom(b, buf, sizeof(buf), 0, NULL, NULL);
    out("blocking recvfrom UDP", "%ld '%s'", r, buf);
    helper_join(&h);
    struct timeval tv = {0, 100000};
    setsockopt(b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    res("recvfrom UDP SO_RCVTIMEO", recvfrom(b, buf, sizeof(buf), 0, NULL,
                                             NULL));
    close(a);
    close(b);
}

/* ---- poll, select, epoll -------------------------------------------- */

/* Two calls may share one printf: the buffers take turns. */
static const char *revstr(short re)
{
    static char bufs[2][64];
    static int turn;
    char *buf = bufs[turn++ & 1];
    snprintf(buf, sizeof(bufs[0]), "%s%s%s%s%s%s", re == 0 ? " 0" : "",
             re & POLLIN ? " POLLIN" : "", re & POLLOUT ? " POLLOUT" : "",
             re & POLLHUP ? " POLLHUP" : "", re & POLLERR ? " POLLERR" : "",
             re & POLLNVAL ? " POLLNVAL" : "");
    return buf;
}

static void poll_cases(void)
{
    int p[2], q[2];
    LEGACY_CHECK(pipe(p) == 0 && pipe(q) == 0);
    struct pollfd pf[2] = {{p[0], POLLIN, 0}, {p[1], POLLOUT, 0}};
    double t0 = now();
    long r = poll(pf, 1, 100);
    out("poll timeout empty pipe", "%ld revents%s waited >= timeout: %s", r,
        revstr(pf[0].revents), yes(now() - t0 >= 0.099));
    r = poll(pf, 2, 0);
    out("poll 0 ms, writer ready", "%ld revents%s /%s", r,
        revstr(pf[0].revents), revstr(pf[1].revents));
    struct helper h;
    helper_start(&h, p[1], 50000, "w", 1, 0);
    r = poll(pf, 1, 2000);
    out("poll wakes on data", "%ld revents%s", r, revstr(pf[0].revents));
    helper_join(&h);
    r = poll(pf, 1, -1);
    out("poll data already there", "%ld revents%s", r, revstr(pf[0].revents));
    char c;
    read(p[0], &c, 1);
    close(q[1]);
    struct pollfd hp = {q[0], POLLIN, 0};
    r = poll(&hp, 1, 1000);
    out("poll writer closed", "%ld revents%s", r, revstr(hp.revents));
    struct pollfd nv[2] = {{900, POLLIN, 0}, {-1, POLLIN, 0}};
    r = poll(nv, 2, 100);
    out("poll closed fd and -1", "%ld revents%s /%s", r, revstr(nv[0].revents),
        revstr(nv[1].revents));
    t0 = now();
    r = poll(NULL, 0, 100);
    out("poll no fds, 100 ms", "%ld waited >= timeout: %s", r,
        yes(now() - t0 >= 0.099));
    struct timespec ts = {0, 100000000};
    r = ppoll(pf, 1, &ts, NULL);
    out("ppoll timeout", "%ld revents%s", r, revstr(pf[0].revents));

    /* select */
    fd_set rd, wr;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timeval tv = {0, 100000};
    t0 = now();
    r = select(p[0] + 1, &rd, NULL, NULL, &tv);
    out("select timeout", "%ld isset %d tv left %ld.%06ld waited: %s", r,
        FD_ISSET(p[0], &rd) != 0, (long)tv.tv_sec, (long)tv.tv_usec,
        yes(now() - t0 >= 0.099));
    write(p[1], "s", 1);
    int maxfd = p[0] > p[1] ? p[0] : p[1];
    maxfd = maxfd > q[0] ? maxfd : q[0];
    int nr[2];
    LEGACY_CHECK(pipe(nr) == 0);
    maxfd = maxfd > nr[0] ? maxfd : nr[0];
    FD_ZERO(&rd);
    FD_ZERO(&wr);
    FD_SET(p[0], &rd);
    FD_SET(nr[0], &rd);
    FD_SET(p[1], &wr);
    tv.tv_sec = 1;
    tv.tv_usec = 0;
    r = select(maxfd + 1, &rd, &wr, NULL, &tv);
    out("select ready read+write", "%ld rd(p)=%d rd(empty)=%d wr(p)=%d", r,
        FD_ISSET(p[0], &rd) != 0, FD_ISSET(nr[0], &rd) != 0,
        FD_ISSET(p[1], &wr) != 0);
    read(p[0], &c, 1);
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    helper_start(&h, p[1], 50000, "t", 1, 0);
    r = select(p[0] + 1, &rd, NULL, NULL, NULL);
    out("select wakes on data", "%ld isset %d", r, FD_ISSET(p[0], &rd) != 0);
    helper_join(&h);
    read(p[0], &c, 1);
    FD_ZERO(&rd);
    FD_SET(q[0], &rd);
    r = select(q[0] + 1, &rd, NULL, NULL, NULL);
    out("select writer closed", "%ld isset %d", r, FD_ISSET(q[0], &rd) != 0);
    /* A closed fd inside the fd table (select ignores fds past its end). */
    int gone[2];
    LEGACY_CHECK(pipe(gone) == 0);
    close(gone[0]);
    close(gone[1]);
    FD_ZERO(&rd);
    FD_SET(gone[0], &rd);
    tv.tv_sec = 0;
    tv.tv_usec = 10000;
    res("select closed fd", select(gone[0] + 1, &rd, NULL, NULL, &tv));
    struct timespec pts = {0, 50000000};
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    r = pselect(p[0] + 1, &rd, NULL, NULL, &pts, NULL);
    out("pselect timeout", "%ld isset %d", r, FD_ISSET(p[0], &rd) != 0);

    /* epoll */
    int ep = epoll_create1(EPOLL_CLOEXEC);
    flags("F_GETFL epoll fd", ep);
    struct epoll_event ev = {0};
    ev.events = EPOLLIN;
    ev.data.u64 = 111;
    res("epoll_ctl ADD p[0]", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    res("epoll_ctl ADD again", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
    ev.data.u64 = 222;
    res("epoll_ctl ADD nr[0]", epoll_ctl(ep, EPOLL_CTL_ADD, nr[0], &ev));
    struct epoll_event evs[4];
    t0 = now();
    r = epoll_wait(ep, evs, 4, 100);
    out("epoll_wait timeout", "%ld waited >= timeout: %s", r,
        yes(now() - t0 >= 0.099));
    write(p[1], "e", 1);
    memset(evs, 0, sizeof(evs));
    r = epoll_wait(ep, evs, 4, 1000);
    out("epoll_wait one ready", "%ld data %llu events 0x%x", r,
        (unsigned long long)evs[0].data.u64, evs[0].events);
    read(p[0], &c, 1);
    helper_start(&h, nr[1], 50000, "n", 1, 0);
    memset(evs, 0, sizeof(evs));
    r = epoll_wait(ep, evs, 4, 2000);
    out("epoll_wait wakes on data", "%ld data %llu events 0x%x", r,
        (unsigned long long)evs[0].data.u64, evs[0].events);
    helper_join(&h);
    res("epoll_wait maxevents 0", epoll_wait(ep, evs, 0, 0));
    res("epoll_wait on non-epoll fd", epoll_wait(p[0], evs, 4, 0));
    r = epoll_pwait(ep, evs, 4, 0, NULL);
    out("epoll_pwait 0 ms, one ready", "%ld data %llu", r,
        (unsigned long long)evs[0].data.u64);
    close(ep);
    close(p[0]);
    close(p[1]);
    close(q[0]);
    close(nr[0]);
    close(nr[1]);
}

/* ---- pthreads, semaphores ------------------------------------------ */

static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t key;
static atomic_int destructor_calls;
static atomic_long destructor_sum;
static int once_runs;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void destroy(void *v)
{
    atomic_fetch_add(&destructor_calls, 1);
    atomic_fetch_add(&destructor_sum, (long)v);
}

static void once_fn(void)
{
    once_runs++;
    usleep(20000); /* the other caller must wait for this */
}

static void *trylock_other(void *arg)
{
    (void)arg;
    return (void *)(long)pthread_mutex_trylock(&held);
}

static void *key_user(void *arg)
{
    pthread_setspecific(key, arg);
    pthread_once(&once, once_fn);
    usleep(20000);
    return (void *)(pthread_getspecific(key) == arg ? 1L : 0L);
}

static void thread_cases(void)
{
    eres("mutex_trylock free", pthread_mutex_trylock(&held));
    eres("mutex_trylock held by self", pthread_mutex_trylock(&held));
    pthread_t t;
    void *rv;
    pthread_create(&t, NULL, trylock_other, NULL);
    pthread_join(t, &rv);
    eres("mutex_trylock held by other", (int)(long)rv);
    pthread_mutex_unlock(&held);

    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_t ec;
    pthread_mutex_init(&ec, &ma);
    eres("errorcheck unlock unowned", pthread_mutex_unlock(&ec));
    pthread_mutex_lock(&ec);
    eres("errorcheck relock", pthread_mutex_lock(&ec));
    pthread_mutex_unlock(&ec);
    pthread_mutex_destroy(&ec);
    pthread_mutexattr_destroy(&ma);

    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&m);
    double t0 = now();
    int r = pthread_cond_timedwait(&cv, &m, &ts);
    out("cond_timedwait 100 ms", "%s waited >= timeout: %s",
        r ? ename(r) : "0", yes(now() - t0 >= 0.099));
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec -= 1;
    eres("cond_timedwait past deadline", pthread_cond_timedwait(&cv, &m, &ts));
    ts.tv_nsec = 2000000000;
    eres("cond_timedwait bad nsec", pthread_cond_timedwait(&cv, &m, &ts));
    pthread_mutex_unlock(&m);

    eres("join self", pthread_join(pthread_self(), NULL));

    pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    pthread_rwlock_wrlock(&rw);
    eres("rwlock_tryrdlock under writer", pthread_rwlock_tryrdlock(&rw));
    pthread_rwlock_unlock(&rw);
    eres("rwlock_tryrdlock free", pthread_rwlock_tryrdlock(&rw));
    eres("rwlock_trywrlock under reader", pthread_rwlock_trywrlock(&rw));
    pthread_rwlock_unlock(&rw);

    sem_t s;
    sem_init(&s, 0, 0);
    res("sem_trywait 0", sem_trywait(&s));
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    t0 = now();
    long sr = sem_timedwait(&s, &ts);
    int e = errno;
    out("sem_timedwait 100 ms", "%ld %s waited >= timeout: %s", sr,
        sr ? ename(e) : "", yes(now() - t0 >= 0.099));
    sem_post(&s);
    int val = -1;
    sem_getvalue(&s, &val);
    out("sem_getvalue after post", "%d", val);
    res("sem_trywait 1", sem_trywait(&s));
    sem_destroy(&s);

    pthread_key_create(&key, destroy);
    pthread_t k1, k2;
    pthread_create(&k1, NULL, key_user, (void *)10L);
    pthread_create(&k2, NULL, key_user, (void *)20L);
    void *r1, *r2;
    pthread_join(k1, &r1);
    pthread_join(k2, &r2);
    out("keys per thread", "%ld %ld main sees %s", (long)r1, (long)r2,
        pthread_getspecific(key) == NULL ? "NULL" : "a value");
    out("key destructors", "%d calls, sum %ld",
        atomic_load(&destructor_calls), atomic_load(&destructor_sum));
    out("pthread_once", "%d run(s)", once_runs);
    pthread_key_delete(key);
    out("pthread_equal self", "%d", pthread_equal(pthread_self(),
                                                   pthread_self()) != 0);
    out("pthread_equal other", "%d", pthread_equal(k1, pthread_self()) != 0);
}

/* errno stays with its thread across switches. */
static volatile int errno_phase;

static void *errno_holder(void *arg)
{
    (void)arg;
    errno = ENOTDIR;
    usleep(100000); /* the other thread fails several calls meanwhile */
    return (void *)(long)errno;
}

static void *errno_clobberer(void *arg)
{
    (void)arg;
    char c;
    struct sockaddr_in sa;
    int l = tcp_listener(&sa, 0);
    close(l);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int r1 = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? errno : 0;
    close(fd);
    int p[2];
    pipe(p);
    set_nonblock(p[0], 1);
    int r2 = read(p[0], &c, 1) < 0 ? errno : 0;
    usleep(10000);
    int r3 = read(-1, &c, 1) < 0 ? errno : 0;
    close(p[0]);
    close(p[1]);
    out("errno in the other thread", "%s %s %s", ename(r1), ename(r2),
        ename(r3));
    return NULL;
}

static void errno_cases(void)
{
    pthread_t a, b;
    pthread_create(&a, NULL, errno_holder, NULL);
    pthread_create(&b, NULL, errno_clobberer, NULL);
    void *ra;
    pthread_join(b, NULL);
    pthread_join(a, &ra);
    out("errno kept across switches", "%s", ename((int)(long)ra));
}

/* ---- resolver (loopback and /etc/hosts only) ------------------------ */

static const char *gai_name(int r)
{
    switch (r) {
    case 0: return "0";
    case EAI_NONAME: return "EAI_NONAME";
    case EAI_FAMILY: return "EAI_FAMILY";
    case EAI_SOCKTYPE: return "EAI_SOCKTYPE";
    case EAI_SERVICE: return "EAI_SERVICE";
    case EAI_BADFLAGS: return "EAI_BADFLAGS";
    case EAI_AGAIN: return "EAI_AGAIN";
    case EAI_FAIL: return "EAI_FAIL";
    case EAI_MEMORY: return "EAI_MEMORY";
    case EAI_SYSTEM: return "EAI_SYSTEM";
    case EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
    case EAI_NODATA: return "EAI_NODATA";
    case EAI_OVERFLOW: return "EAI_OVERFLOW";
    default: return "EAI_?";
    }
}

static const char *famname(int f)
{
    return f == AF_INET ? "AF_INET" : f == AF_INET6 ? "AF_INET6" : "AF_?";
}

static const char *typename(int t)
{
    return t == SOCK_STREAM   ? "STREAM"
           : t == SOCK_DGRAM  ? "DGRAM"
           : t == SOCK_RAW    ? "RAW"
                              : "?";
}

static void gai(const char *name, const char *host, const char *serv,
                int family, int socktype, int flags, int use_hints)
{
    struct addrinfo hints = {0}, *res0 = NULL;
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_flags = flags;
    int r = getaddrinfo(host, serv, use_hints ? &hints : NULL, &res0);
    char line[1024];
    size_t n = (size_t)snprintf(line, sizeof(line), "%s", gai_name(r));
    for (struct addrinfo *ai = res0; r == 0 && ai != NULL; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN] = "?";
        unsigned port = 0;
        if (ai->ai_family == AF_INET) {
            struct sockaddr_in *s = (struct sockaddr_in *)ai->ai_addr;
            inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
            port = ntohs(s->sin_port);
        } else if (ai->ai_family == AF_INET6) {
            struct sockaddr_in6 *s = (struct sockaddr_in6 *)ai->ai_addr;
            inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
            port = ntohs(s->sin6_port);
        }
        n += (size_t)snprintf(line + n, sizeof(line) - n,
                              " | %s %s proto %d %s port %u len %u%s%s%s",
                              famname(ai->ai_family),
                              typename(ai->ai_socktype), ai->ai_protocol, ip,
                              port, (unsigned)ai->ai_addrlen,
                              ai->ai_canonname ? " canon '" : "",
                              ai->ai_canonname ? ai->ai_canonname : "",
                              ai->ai_canonname ? "'" : "");
        if (n >= sizeof(line)) {
            break;
        }
    }
    out(name, "%s", line);
    if (r == 0) {
        freeaddrinfo(res0);
    }
}

static void gni(const char *name, int family, const char *ip, unsigned port,
                int flags)
{
    struct sockaddr_storage ss = {0};
    socklen_t l;
    if (family == AF_INET) {
        struct sockaddr_in *s = (struct sockaddr_in *)&ss;
        s->sin_family = AF_INET;
        s->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, ip, &s->sin_addr);
        l = sizeof(*s);
    } else {
        struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
        s->sin6_family = AF_INET6;
        s->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, ip, &s->sin6_addr);
        l = sizeof(*s);
    }
    char host[256] = "", serv[64] = "";
    int r = getnameinfo((struct sockaddr *)&ss, l, host, sizeof(host), serv,
                        sizeof(serv), flags);
    out(name, "%s '%s' '%s'", gai_name(r), host, serv);
}

static void hostent_line(const char *name, struct hostent *he, int herr)
{
    if (he == NULL) {
        out(name, "NULL h_errno %d", herr);
        return;
    }
    char line[512];
    size_t n = (size_t)snprintf(line, sizeof(line), "name '%s' aliases",
                                he->h_name);
    for (char **a = he->h_aliases; *a != NULL; a++) {
        n += (size_t)snprintf(line + n, sizeof(line) - n, " '%s'", *a);
    }
    n += (size_t)snprintf(line + n, sizeof(line) - n, " type %s len %d addrs",
                          famname(he->h_addrtype), he->h_length);
    for (char **a = he->h_addr_list; *a != NULL && n < sizeof(line); a++) {
        char ip[INET6_ADDRSTRLEN];
        inet_ntop(he->h_addrtype, *a, ip, sizeof(ip));
        n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", ip);
    }
    out(name, "%s", line);
}

static void dns_cases(void)
{
    gai("gai localhost STREAM", "localhost", NULL, AF_UNSPEC, SOCK_STREAM, 0,
        1);
    gai("gai localhost no hints", "localhost", NULL, 0, 0, 0, 0);
    gai("gai LOCALHOST AF_INET", "LOCALHOST", NULL, AF_INET, SOCK_STREAM, 0,
        1);
    gai("gai 127.0.0.1 80 no hints", "127.0.0.1", "80", 0, 0, 0, 0);
    gai("gai ::1 8080", "::1", "8080", AF_UNSPEC, SOCK_STREAM, 0, 1);
    gai("gai localhost http", "localhost", "http", AF_UNSPEC, SOCK_STREAM, 0,
        1);
    gai("gai 127.0.0.1 12345 DGRAM", "127.0.0.1", "12345", AF_INET,
        SOCK_DGRAM, 0, 1);
    gai("gai localhost CANONNAME", "localhost", NULL, AF_INET, SOCK_STREAM,
        AI_CANONNAME, 1);
    gai("gai NULL 80 PASSIVE", NULL, "80", AF_INET, SOCK_STREAM, AI_PASSIVE,
        1);
    gai("gai NULL 80 not passive", NULL, "80", AF_INET, SOCK_STREAM, 0, 1);
    gai("gai NULL NULL", NULL, NULL, AF_UNSPEC, SOCK_STREAM, 0, 1);
    gai("gai nonexistent.invalid", "nonexistent.invalid", NULL, AF_UNSPEC,
        SOCK_STREAM, 0, 1);
    gai("gai NUMERICHOST with a name", "localhost", NULL, AF_UNSPEC,
        SOCK_STREAM, AI_NUMERICHOST, 1);
    gai("gai NUMERICHOST 127.0.0.1", "127.0.0.1", NULL, AF_UNSPEC,
        SOCK_STREAM, AI_NUMERICHOST, 1);
    gai("gai NUMERICSERV with http", "127.0.0.1", "http", AF_UNSPEC,
        SOCK_STREAM, AI_NUMERICSERV, 1);
    gai("gai bad family", "localhost", NULL, 12345, SOCK_STREAM, 0, 1);
    gai("gai bad socktype", "localhost", NULL, AF_UNSPEC, 12345, 0, 1);
    gai("gai unknown service", "localhost", "no-such-service", AF_UNSPEC,
        SOCK_STREAM, 0, 1);
    gai("gai ::1 as AF_INET", "::1", NULL, AF_INET, SOCK_STREAM, 0, 1);
    gai("gai 127.0.0.1 as AF_INET6", "127.0.0.1", NULL, AF_INET6,
        SOCK_STREAM, 0, 1);
    gai("gai V4MAPPED 127.0.0.1", "127.0.0.1", NULL, AF_INET6, SOCK_STREAM,
        AI_V4MAPPED, 1);

    gni("gni 127.0.0.1:80 numeric", AF_INET, "127.0.0.1", 80,
        NI_NUMERICHOST | NI_NUMERICSERV);
    gni("gni 127.0.0.1:80 by name", AF_INET, "127.0.0.1", 80, 0);
    gni("gni 127.0.0.1:80 NAMEREQD", AF_INET, "127.0.0.1", 80, NI_NAMEREQD);
    gni("gni 127.0.0.1:53 DGRAM", AF_INET, "127.0.0.1", 53, NI_DGRAM);
    gni("gni ::1:443 numeric", AF_INET6, "::1", 443,
        NI_NUMERICHOST | NI_NUMERICSERV);
    gni("gni 127.0.0.1:1 NOFQDN", AF_INET, "127.0.0.1", 1, NI_NOFQDN);

    hostent_line("gethostbyname localhost", gethostbyname("localhost"),
                 h_errno);
    struct hostent *he = gethostbyname("nonexistent.invalid");
    hostent_line("gethostbyname nonexistent.invalid", he, h_errno);
    hostent_line("gethostbyname 127.0.0.1", gethostbyname("127.0.0.1"),
                 h_errno);
    struct hostent hb, *hr = NULL;
    char buf[2048];
    int herr = 0;
    int r = gethostbyname_r("localhost", &hb, buf, sizeof(buf), &hr, &herr);
    out("gethostbyname_r localhost ret", "%d", r);
    hostent_line("gethostbyname_r localhost", hr, herr);
    struct in_addr lo = {htonl(INADDR_LOOPBACK)};
    hostent_line("gethostbyaddr 127.0.0.1",
                 gethostbyaddr(&lo, sizeof(lo), AF_INET), h_errno);
}

/* ---- groups ---------------------------------------------------------- */

/* Each group can run alone (differential.sh runs them one by one, so
 * that a hang in one group does not hide the outcomes of the others);
 * with no argument the program runs them all, in this order. Groups
 * marked in_thread run inside a pthread; the others in main after a
 * pthread was created and joined. */
static void signal_cases(void);
static void fork_cases(void);

static const struct group {
    const char *name;
    void (*run)(void);
    int in_thread;
} groups[] = {
    {"badfd", bad_fds, 1},
    {"nonblock", nonblocking, 1},
    {"timeouts", sock_timeouts, 1},
    {"bigwrite", big_writes_and_epipe, 1},
    {"tcp", tcp_cases, 1},
    {"fdpass", scm_rights_and_dup, 1},
    {"udp", udp_cases, 1},
    {"poll", poll_cases, 1},
    {"threads", thread_cases, 1},
    {"errno", errno_cases, 1},
    {"dns", dns_cases, 1},
    {"zerolen", zero_length, 1},
    {"signals", signal_cases, 0},
    {"fork", fork_cases, 0},
};

static void *group_thread(void *arg)
{
    const struct group *g = arg;
    if (g != NULL) {
        g->run();
    }
    return NULL;
}

static void run_group(const struct group *g)
{
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, group_thread,
                                g->in_thread ? (void *)g : NULL) == 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    if (!g->in_thread) {
        g->run();
    }
}

/* ---- signals (main thread, after the pthreads are gone) ------------- */

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

static void arm(int restart, long ms)
{
    struct sigaction sa = {0};
    sa.sa_handler = on_alarm;
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarms = 0;
    struct itimerval it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

/* Starts a helper with SIGALRM blocked, so that natively the signal is
 * delivered to main, the thread under test. */
static void helper_start_masked(struct helper *h, int fd, int delay_us,
                                const void *data, size_t n)
{
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &set, &old);
    helper_start(h, fd, delay_us, data, n, 0);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void signal_cases(void)
{
    int p[2];
    char buf[16];
    LEGACY_CHECK(pipe(p) == 0);

    arm(0, 100);
    long r = read(p[0], buf, sizeof(buf));
    int e = errno;
    out("read, SIGALRM, no SA_RESTART", "%ld %s handler ran %d", r,
        ename(e), (int)alarms);

    struct helper h;
    helper_start_masked(&h, p[1], 300000, "late", 4);
    arm(1, 100);
    memset(buf, 0, sizeof(buf));
    r = read(p[0], buf, sizeof(buf));
    out("read, SIGALRM, SA_RESTART", "%ld '%s' handler ran %d", r, buf,
        (int)alarms);
    helper_join(&h);

    arm(1, 100);
    struct timespec ts = {2, 0}, rem = {0, 0};
    r = nanosleep(&ts, &rem);
    e = errno;
    out("nanosleep, SIGALRM, SA_RESTART", "%ld %s rem in (1s,2s): %s "
        "handler ran %d", r, ename(e),
        yes(rem.tv_sec == 1 && rem.tv_nsec > 0), (int)alarms);

    arm(1, 100);
    unsigned left = sleep(3);
    out("sleep, SIGALRM, SA_RESTART", "left in [1,3]: %s handler ran %d",
        yes(left >= 1 && left <= 3), (int)alarms);

    arm(1, 100);
    r = usleep(900000);
    e = errno;
    out("usleep, SIGALRM, SA_RESTART", "%ld %s handler ran %d", r, ename(e),
        (int)alarms);

    arm(1, 100);
    r = clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem);
    out("clock_nanosleep, SIGALRM", "%s handler ran %d",
        r ? ename((int)r) : "0", (int)alarms);

    arm(1, 100);
    struct pollfd pfd = {p[0], POLLIN, 0};
    r = poll(&pfd, 1, 2000);
    e = errno;
    out("poll, SIGALRM, SA_RESTART", "%ld %s handler ran %d", r, ename(e),
        (int)alarms);

    arm(1, 100);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(p[0], &rd);
    struct timeval tv = {2, 0};
    r = select(p[0] + 1, &rd, NULL, NULL, &tv);
    e = errno;
    out("select, SIGALRM, SA_RESTART", "%ld %s handler ran %d", r, ename(e),
        (int)alarms);

    int ep = epoll_create1(0);
    struct epoll_event ev = {EPOLLIN, {0}};
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    arm(1, 100);
    r = epoll_wait(ep, &ev, 1, 2000);
    e = errno;
    out("epoll_wait, SIGALRM, SA_RESTART", "%ld %s handler ran %d", r,
        ename(e), (int)alarms);
    close(ep);

    /* Sockets: SA_RESTART restarts a recv, unless SO_RCVTIMEO is set. */
    int s[2];
    LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, s) == 0);
    helper_start_masked(&h, s[1], 300000, "sock", 4);
    arm(1, 100);
    memset(buf, 0, sizeof(buf));
    r = recv(s[0], buf, sizeof(buf), 0);
    out("recv, SIGALRM, SA_RESTART", "%ld '%s' handler ran %d", r, buf,
        (int)alarms);
    helper_join(&h);
    arm(0, 100);
    r = recv(s[0], buf, sizeof(buf), 0);
    e = errno;
    out("recv, SIGALRM, no SA_RESTART", "%ld %s handler ran %d", r, ename(e),
        (int)alarms);
    struct timeval rt = {2, 0};
    setsockopt(s[0], SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof(rt));
    arm(1, 100);
    r = recv(s[0], buf, sizeof(buf), 0);
    e = errno;
    out("recv SO_RCVTIMEO, SIGALRM, SA_RESTART", "%ld %s handler ran %d", r,
        ename(e), (int)alarms);
    close(s[0]);
    close(s[1]);

    /* accept, interrupted. */
    struct sockaddr_in sa;
    int l = tcp_listener(&sa, 4);
    arm(0, 100);
    r = accept(l, NULL, NULL);
    e = errno;
    out("accept, SIGALRM, no SA_RESTART", "%ld %s handler ran %d", r,
        ename(e), (int)alarms);
    close(l);

    /* Semaphores: sem_wait fails with EINTR, SA_RESTART or not. */
    sem_t sem;
    sem_init(&sem, 0, 0);
    arm(0, 100);
    r = sem_wait(&sem);
    e = errno;
    out("sem_wait, SIGALRM, no SA_RESTART", "%ld %s handler ran %d", r,
        ename(e), (int)alarms);
    sem_destroy(&sem);

    /* alarm() itself, once (a whole second). */
    arm(0, 0);
    alarm(1);
    r = read(p[0], buf, sizeof(buf));
    e = errno;
    out("read, alarm(1), no SA_RESTART", "%ld %s handler ran %d", r,
        ename(e), (int)alarms);

    signal(SIGALRM, SIG_DFL);
    close(p[0]);
    close(p[1]);
}

/* ---- fork ----------------------------------------------------------- */

struct child_io {
    int in, out;
};

static int child_echo(int in, int outfd)
{
    char buf[64] = {0};
    ssize_t n = read(in, buf, sizeof(buf) - 1);
    if (n <= 0) {
        return 90;
    }
    char reply[96];
    int len = snprintf(reply, sizeof(reply), "child got '%s'", buf);
    if (write(outfd, reply, (size_t)len) != len) {
        return 91;
    }
    return 0;
}

static void *child_thread(void *arg)
{
    struct child_io *io = arg;
    return (void *)(long)child_echo(io->in, io->out);
}

static void fork_case(const char *name, int threaded, int code)
{
    int down[2], up[2];
    LEGACY_CHECK(pipe(down) == 0 && pipe(up) == 0);
    fflush(stdout);
    pid_t pid = fork();
    LEGACY_CHECK(pid >= 0);
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        int r;
        if (threaded) {
            struct child_io io = {down[0], up[1]};
            pthread_t t;
            void *rv;
            pthread_create(&t, NULL, child_thread, &io);
            pthread_join(t, &rv);
            r = (int)(long)rv;
        } else {
            r = child_echo(down[0], up[1]);
        }
        _exit(r == 0 ? code : r);
    }
    close(down[0]);
    close(up[1]);
    usleep(50000); /* the child blocks in read first */
    LEGACY_CHECK(write(down[1], "ping", 4) == 4);
    char buf[128] = {0};
    size_t have = 0;
    ssize_t n;
    while ((n = read(up[0], buf + have, sizeof(buf) - 1 - have)) > 0) {
        have += (size_t)n;
    }
    int st = 0;
    pid_t w = waitpid(pid, &st, 0);
    out(name, "'%s' waitpid %s exited %d status %d", buf,
        w == pid ? "pid" : ename(errno), WIFEXITED(st), WEXITSTATUS(st));
    close(down[1]);
    close(up[0]);
}

static void fork_cases(void)
{
    fork_case("fork, child reads and replies", 0, 7);
    fork_case("fork, child thread does the I/O", 1, 9);
    int st;
    res("waitpid no children", waitpid(-1, &st, WNOHANG));
}

/* usage: differential [GROUP | list] */
int main(int argc, char **argv)
{
    size_t n = sizeof(groups) / sizeof(groups[0]);
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc < 2 || strcmp(argv[1], groups[i].name) == 0) {
            run_group(&groups[i]);
            found = 1;
        }
    }
    if (!found) {
        fprintf(stderr, "differential: no group '%s'\n", argv[1]);
        return 2;
    }
    if (argc < 2) {
        out("done", "%s", "all cases ran");
    }
    return 0;
}
