/* SPDX-License-Identifier: MIT */
/* A classic blocking echo server, thread per connection: the kind of
 * program the preload is for. It is built WITHOUT libgreen (plain
 * pthreads, blocking read/write/accept, default thread attributes) and run
 * as is, natively or under LD_PRELOAD=libgreen.so / green-run, by
 * examples/demo.sh and bench/echo/run.sh.
 *
 *   legacy_echo PORT [--max-seconds N]
 *
 * Listens on 127.0.0.1:PORT (0: an ephemeral port) and prints the port it
 * got as the first line of stdout. Each connection gets a detached thread
 * that reads and writes back until end of file or an error, then closes.
 * --max-seconds N exits the process after N seconds (alarm), so a test or
 * a driver that dies cannot leave it running. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
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
    /* 1 KiB: the benchmark's messages are 64 bytes. The buffer's size is
     * the program's own memory per connection, natively or green: read()
     * writes at its bottom and the call that made the frame at its top,
     * so a 4 KiB buffer makes every thread write two stack pages (8 KiB)
     * where this one fits the whole thread in one. */
    char buf[1024];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        ssize_t done = 0;
        while (done < n) {
            ssize_t w = write(fd, buf + done, (size_t)(n - done));
            if (w < 0) {
                goto out;
            }
            done += w;
        }
    }
out:
    close(fd);
    return NULL;
}

/* Raises the soft limit on open files to the hard one: one fd per
 * connection. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: legacy_echo PORT [--max-seconds N]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        usage();
    }
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*end != '\0' || port < 0 || port > 65535) {
        usage();
    }
    if (argc == 4) {
        long secs = strtol(argv[3], &end, 10);
        if (strcmp(argv[2], "--max-seconds") != 0 || *end != '\0' ||
            secs <= 0) {
            usage();
        }
        alarm((unsigned)secs); /* SIGALRM's default action ends us */
    }
    raise_nofile();
    signal(SIGPIPE, SIG_IGN); /* a client gone: write fails, thread ends */

    struct sockaddr_in addr;
    socklen_t alen = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)port);
    int one = 1;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(lfd, 4096) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
        perror("legacy_echo: listen");
        return 1;
    }
    printf("%d\n", ntohs(addr.sin_port));
    fflush(stdout);

    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            perror("legacy_echo: accept");
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                sleep(1); /* out of resources: let connections end */
                continue;
            }
            return 1;
        }
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int r = pthread_create(&t, &attr, serve, (void *)(intptr_t)fd);
        pthread_attr_destroy(&attr);
        if (r != 0) {
            fprintf(stderr, "legacy_echo: pthread_create: %s\n",
                    strerror(r));
            close(fd);
        }
    }
}
