/* SPDX-License-Identifier: MIT */
/* The echo benchmark's baseline: a hand-written, single-threaded epoll
 * echo server, the practical limit of one core. Level-triggered,
 * non-blocking sockets, one read and one write per readable event; a
 * write the socket cannot take whole (never the case with the benchmark's
 * one message in flight) keeps the rest and waits for EPOLLOUT.
 *
 *   epoll_server PORT [--max-seconds N]
 *
 * Listens on 127.0.0.1:PORT (0: ephemeral), prints the port as the first
 * line of stdout; --max-seconds N ends it after N seconds. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUF = 4096, EVENTS = 1024 };

/* What a connection still has to write back; NULL when nothing. */
struct pending {
    size_t len, off;
    char data[];
};

static struct pending **pending; /* by fd */
static int npending, ep;

static void drop(int fd)
{
    if (fd < npending && pending[fd] != NULL) {
        free(pending[fd]);
        pending[fd] = NULL;
    }
    close(fd); /* also leaves the epoll set */
}

/* Writes buf back to fd; keeps what does not fit and waits for EPOLLOUT.
 * Returns -1 if the connection is to be closed. */
static int echo_back(int fd, const char *buf, size_t len)
{
    ssize_t w = write(fd, buf, len);
    if (w < 0 && errno != EAGAIN) {
        return -1;
    }
    size_t done = w < 0 ? 0 : (size_t)w;
    if (done == len) {
        return 0;
    }
    struct pending *p = malloc(sizeof(*p) + len - done);
    if (p == NULL || fd >= npending) {
        free(p);
        return -1;
    }
    p->len = len - done;
    p->off = 0;
    memcpy(p->data, buf + done, p->len);
    pending[fd] = p;
    struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

/* EPOLLOUT: writes what is pending; back to EPOLLIN when done. */
static int flush(int fd)
{
    struct pending *p = pending[fd];
    ssize_t w = write(fd, p->data + p->off, p->len - p->off);
    if (w < 0) {
        return errno == EAGAIN ? 0 : -1;
    }
    p->off += (size_t)w;
    if (p->off < p->len) {
        return 0;
    }
    free(p);
    pending[fd] = NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    return epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != ECONNABORTED && errno != EINTR) {
                perror("epoll_server: accept");
            }
            return;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
        }
    }
}

static int listen_on(long port)
{
    struct sockaddr_in addr;
    socklen_t alen = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        perror("epoll_server: listen");
        exit(1);
    }
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);
    return lfd;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long port = argc > 1 ? strtol(argv[1], &end, 10) : -1;
    long secs = argc == 4 && strcmp(argv[2], "--max-seconds") == 0
                    ? strtol(argv[3], NULL, 10) : 0;
    if ((argc != 2 && argc != 4) || *end != '\0' || port < 0 ||
        port > 65535 || (argc == 4 && secs <= 0)) {
        fprintf(stderr, "usage: epoll_server PORT [--max-seconds N]\n");
        return 2;
    }
    if (secs > 0) {
        alarm((unsigned)secs);
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    npending = (int)rl.rlim_cur;
    pending = calloc((size_t)npending, sizeof(*pending));
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (pending == NULL || ep < 0) {
        perror("epoll_server: setup");
        return 1;
    }
    int lfd = listen_on(port);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
        perror("epoll_server: epoll_ctl");
        return 1;
    }

    struct epoll_event evs[EVENTS];
    char buf[BUF];
    for (;;) {
        int n = epoll_wait(ep, evs, EVENTS, -1);
        if (n < 0 && errno != EINTR) {
            perror("epoll_server: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            if (fd == lfd) {
                accept_all(lfd);
                continue;
            }
            if (fd < npending && pending[fd] != NULL) {
                if (flush(fd) < 0) {
                    drop(fd);
                }
                continue;
            }
            ssize_t r = read(fd, buf, sizeof(buf));
            if (r > 0) {
                if (echo_back(fd, buf, (size_t)r) < 0) {
                    drop(fd);
                }
            } else if (r == 0 || errno != EAGAIN) {
                drop(fd);
            }
        }
    }
}
