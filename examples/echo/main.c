/* SPDX-License-Identifier: MIT */
/* An echo server with a task per connection, and 100 clients in the same
 * program, each sending 5 lines and checking every echo. One more client
 * connects and stays idle, so that its handler is still blocked in
 * green_read when the server is shut down: green_pool_kill() on the
 * server's group cancels the acceptor and that handler, and returns once
 * both have cleaned up. Loopback only, ephemeral port. */
#include <green.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

enum { CLIENTS = 100, MESSAGES = 5, MAX_CONNS = CLIENTS + 8 };

static struct sockaddr_in addr;  /* the server's */
static green_pool_t *server;     /* acceptor + one handler per connection */
/* Handler handles, kept until shutdown: green_pool_kill() cannot cancel a
 * member spawned detached (a library bug, lib/pool.c). */
static green_task_t *handlers[MAX_CONNS];
static int nconns, nclosed, echoed;

static void *handle(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = green_read(fd, buf, sizeof(buf))) > 0 &&
           (n = green_write(fd, buf, (size_t)n)) > 0) {
    }
    int c = green_close(fd); /* cleanup, also when cancelled */
    n = n < 0 ? n : c;
    nclosed++;
    return n < 0 ? green_fail((int)n) : NULL;
}

static void *acceptor(void *arg)
{
    for (;;) {
        int fd = green_accept((int)(intptr_t)arg, NULL, NULL), r = -EMFILE;
        if (fd < 0) {
            return green_fail(fd); /* -ECANCELED at shutdown */
        }
        if (nconns == MAX_CONNS ||
            (r = green_pool_spawn(server, &handlers[nconns], handle,
                                  (void *)(intptr_t)fd)) < 0) {
            fprintf(stderr, "server: %s\n", strerror(-r));
            green_close(fd);
            continue;
        }
        nconns++;
    }
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int r = green_connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    if (r < 0) {
        green_close(fd);
    }
    return r < 0 ? r : fd;
}

static void *client(void *arg)
{
    long id = (long)(intptr_t)arg;
    char msg[64], back[64];
    ssize_t r = dial();
    int fd = (int)r;
    for (int m = 0; m < MESSAGES && r >= 0; m++) {
        int len = snprintf(msg, sizeof(msg), "client %ld line %d\n", id, m);
        size_t got = 0;
        r = green_write(fd, msg, (size_t)len);
        while (r > 0 && got < (size_t)len) {
            r = green_read(fd, back + got, (size_t)len - got);
            r = r == 0 ? -ECONNRESET : r;
            got += r > 0 ? (size_t)r : 0;
        }
        if (r > 0 && memcmp(msg, back, (size_t)len) != 0) {
            r = -EPROTO;
        }
        echoed += r > 0;
    }
    if (fd >= 0) {
        green_close(fd);
    }
    return r < 0 ? green_fail((int)r) : NULL;
}

int main(void)
{
    socklen_t alen = sizeof(addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, alen) < 0 ||
        listen(lfd, 128) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        perror("listen");
        return 1;
    }
    green_task_t *acc;
    green_pool_t *clients;
    int r, idle = -1;
    if ((r = green_group_new(&server)) < 0 ||
        (r = green_pool_spawn(server, &acc, acceptor,
                              (void *)(intptr_t)lfd)) < 0 ||
        (r = idle = dial()) < 0 || (r = green_group_new(&clients)) < 0) {
        fprintf(stderr, "setup: %s\n", strerror(-r));
        return 1;
    }
    printf("echo server on 127.0.0.1:%d; one idle client connected\n",
           ntohs(addr.sin_port));
    for (long i = 0; i < CLIENTS; i++) {
        if ((r = green_pool_spawn(clients, NULL, client, (void *)i)) < 0) {
            fprintf(stderr, "spawn: %s\n", strerror(-r));
            return 1;
        }
    }
    if ((r = green_pool_join(clients, 10.0)) < 0) {
        fprintf(stderr, "clients: %s\n", strerror(-r));
        return 1;
    }
    if ((r = green_pool_free(clients)) < 0 ||
        (r = green_sleep(0.05)) < 0) { /* let handlers see their EOFs */
        fprintf(stderr, "clients: %s\n", strerror(-r));
        return 1;
    }
    printf("%d clients: %d of %d lines echoed intact\n", CLIENTS, echoed,
           CLIENTS * MESSAGES);
    printf("shutdown: %zu server tasks still running (the acceptor and "
           "the idle connection's), %d of %d connections closed\n",
           green_pool_running(server), nclosed, nconns);
    if ((r = green_pool_kill(server, 5.0)) < 0 ||
        (r = green_pool_free(server)) < 0 || (r = green_close(lfd)) < 0) {
        fprintf(stderr, "shutdown: %s\n", strerror(-r));
        return 1;
    }
    char c;
    ssize_t eof = green_read(idle, &c, 1); /* the server closed its end */
    printf("server stopped: %d of %d connections closed, acceptor %s, idle "
           "handler %s, idle client reads %zd (EOF)\n", nclosed, nconns,
           green_task_status_name(green_task_status(acc)),
           green_task_status_name(green_task_status(handlers[0])), eof);
    int ok = echoed == CLIENTS * MESSAGES && nclosed == nconns &&
             nconns == CLIENTS + 1 && eof == 0 &&
             green_task_status(handlers[0]) == GREEN_TASK_CANCELLED;
    for (int i = 0; i < nconns; i++) {
        green_task_release(handlers[i]);
    }
    green_task_release(acc);
    ok = green_close(idle) == 0 && ok;
    printf("%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
