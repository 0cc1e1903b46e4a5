/* SPDX-License-Identifier: MIT */
/* The echo benchmark's libgreen API server: one detached task per
 * connection, each a plain blocking-style loop of green_read and
 * green_write; the root greenlet accepts. (examples/echo is a
 * self-contained demo with its own clients, not a server to aim a load
 * generator at.)
 *
 *   green_server PORT [--max-seconds N]
 *
 * Listens on 127.0.0.1:PORT (0: ephemeral), prints the port as the first
 * line of stdout; --max-seconds N ends it after N seconds. */
#include <green.h>

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    ssize_t n;
    while ((n = green_read(fd, buf, sizeof(buf))) > 0 &&
           green_write(fd, buf, (size_t)n) == n) {
    }
    green_close(fd);
    return NULL;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long port = argc > 1 ? strtol(argv[1], &end, 10) : -1;
    long secs = argc == 4 && strcmp(argv[2], "--max-seconds") == 0
                    ? strtol(argv[3], NULL, 10) : 0;
    if ((argc != 2 && argc != 4) || *end != '\0' || port < 0 ||
        port > 65535 || (argc == 4 && secs <= 0)) {
        fprintf(stderr, "usage: green_server PORT [--max-seconds N]\n");
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

    struct sockaddr_in addr;
    socklen_t alen = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    int one = 1;
    /* A blocking socket, as in examples/echo: libgreen's calls wait
     * cooperatively on it (one the program made non-blocking would get
     * -EAGAIN, as from the kernel). */
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        perror("green_server: listen");
        return 1;
    }
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    for (;;) {
        int fd = green_accept(lfd, NULL, NULL);
        if (fd < 0) {
            fprintf(stderr, "green_server: accept: %s\n", strerror(-fd));
            if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM) {
                green_sleep(0.1);
                continue;
            }
            return 1;
        }
        int r = green_spawn(NULL, serve, (void *)(intptr_t)fd);
        if (r < 0) {
            fprintf(stderr, "green_server: spawn: %s\n", strerror(-r));
            green_close(fd);
        }
    }
}
