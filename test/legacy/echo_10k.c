/* SPDX-License-Identifier: MIT */
/* A thread-per-connection blocking echo server and, in the same process,
 * a client with 10,000 connections to it on 127.0.0.1. The client first
 * sends a distinct message on every connection and only then reads every
 * echo, checking each byte: every server thread must be parked in read()
 * at the same time, so a server that is not concurrent cannot pass.
 *
 * Natively (LEGACY_NATIVE=1) that would take 10,000 OS threads, so the
 * native run uses 500 connections. ECHO_CONNS=N overrides both. */
#include "legacy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_MSG 300
#define CONNECTORS 8
#define MAX_UNACCEPTED 512 /* well under the listen backlog */
#define STACK_SIZE (64 * 1024)

static int nconns;
static int listen_fd;
static struct sockaddr_in server_addr;
static int *client_fd;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int accepted;  /* connections the server accepted */
static int connected; /* connections the client opened */
static int live;      /* server threads running */
static int echoed_bytes;

static pthread_attr_t small_stack;

static size_t message(int i, char *out)
{
    size_t len = 20 + (size_t)(i * 7919) % (MAX_MSG - 20);
    int n = snprintf(out, MAX_MSG, "conn %d len %zu:", i, len);
    for (size_t k = (size_t)n; k < len; k++) {
        out[k] = (char)('a' + (i + k) % 26);
    }
    return len;
}

static void *serve(void *arg)
{
    int fd = (int)(long)arg;
    char buf[512];
    int total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        LEGACY_CHECK(n >= 0);
        if (n == 0) {
            break;
        }
        LEGACY_CHECK(write(fd, buf, (size_t)n) == n);
        total += (int)n;
    }
    close(fd);
    pthread_mutex_lock(&mu);
    live--;
    echoed_bytes += total;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (int i = 0; i < nconns; i++) {
        int fd = accept(listen_fd, NULL, NULL);
        LEGACY_CHECK(fd >= 0);
        pthread_mutex_lock(&mu);
        accepted++;
        live++;
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
        pthread_t th;
        LEGACY_CHECK(pthread_create(&th, &small_stack, serve,
                                    (void *)(long)fd) == 0);
        pthread_detach(th);
    }
    return NULL;
}

/* Opens connections first..nconns-1 step CONNECTORS, never letting more
 * than MAX_UNACCEPTED wait in the backlog. */
static void *connector(void *arg)
{
    for (int i = (int)(long)arg; i < nconns; i += CONNECTORS) {
        pthread_mutex_lock(&mu);
        while (connected - accepted >= MAX_UNACCEPTED) {
            pthread_cond_wait(&cv, &mu);
        }
        connected++;
        pthread_mutex_unlock(&mu);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        LEGACY_CHECK(fd >= 0);
        LEGACY_CHECK(connect(fd, (struct sockaddr *)&server_addr,
                             sizeof(server_addr)) == 0);
        client_fd[i] = fd;
    }
    return NULL;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    LEGACY_CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);
    rlim_t need = (rlim_t)nconns * 2 + 64;
    if (rl.rlim_max < need) {
        struct rlimit more = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &more) == 0) {
            return;
        }
    }
    rl.rlim_cur = rl.rlim_max;
    LEGACY_CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
    if (rl.rlim_cur < need) {
        int n = (int)((rl.rlim_cur - 64) / 2);
        fprintf(stderr, "echo_10k: RLIMIT_NOFILE %lu allows %d connections, "
                "not %d\n", (unsigned long)rl.rlim_cur, n, nconns);
        nconns = n;
    }
}

int main(void)
{
    const char *env = getenv("ECHO_CONNS");
    nconns = env != NULL ? atoi(env) : legacy_native() ? 500 : 10000;
    LEGACY_CHECK(nconns > 0);
    raise_fd_limit();
    client_fd = calloc((size_t)nconns, sizeof(int));
    LEGACY_CHECK(client_fd != NULL);
    pthread_attr_init(&small_stack);
    pthread_attr_setstacksize(&small_stack, STACK_SIZE);

    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(listen_fd >= 0);
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    server_addr.sin_family = AF_INET;
    server_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    LEGACY_CHECK(bind(listen_fd, (struct sockaddr *)&server_addr,
                      sizeof(server_addr)) == 0);
    socklen_t alen = sizeof(server_addr);
    LEGACY_CHECK(getsockname(listen_fd, (struct sockaddr *)&server_addr,
                             &alen) == 0);
    LEGACY_CHECK(listen(listen_fd, 8192) == 0);

    pthread_t acceptor, conn[CONNECTORS];
    LEGACY_CHECK(pthread_create(&acceptor, NULL, accept_loop, NULL) == 0);
    for (long k = 0; k < CONNECTORS; k++) {
        LEGACY_CHECK(pthread_create(&conn[k], &small_stack, connector,
                                    (void *)k) == 0);
    }
    for (int k = 0; k < CONNECTORS; k++) {
        LEGACY_CHECK(pthread_join(conn[k], NULL) == 0);
    }
    LEGACY_CHECK(pthread_join(acceptor, NULL) == 0);

    /* Every message goes out before any echo is read. */
    char msg[MAX_MSG], got[MAX_MSG];
    long sent = 0;
    for (int i = 0; i < nconns; i++) {
        size_t len = message(i, msg);
        LEGACY_CHECK(write(client_fd[i], msg, len) == (ssize_t)len);
        sent += (long)len;
    }
    pthread_mutex_lock(&mu);
    LEGACY_CHECK(live == nconns);
    pthread_mutex_unlock(&mu);
    LEGACY_CHECK_ONE_THREAD();

    for (int i = 0; i < nconns; i++) {
        size_t len = message(i, msg);
        size_t have = 0;
        while (have < len) {
            ssize_t n = read(client_fd[i], got + have, len - have);
            LEGACY_CHECK(n > 0);
            have += (size_t)n;
        }
        LEGACY_CHECK(memcmp(got, msg, len) == 0);
    }
    LEGACY_CHECK_ONE_THREAD();

    /* Closing our ends lets every server thread see EOF and finish. */
    for (int i = 0; i < nconns; i++) {
        LEGACY_CHECK(close(client_fd[i]) == 0);
    }
    pthread_mutex_lock(&mu);
    while (live > 0) {
        pthread_cond_wait(&cv, &mu);
    }
    LEGACY_CHECK(echoed_bytes == sent);
    pthread_mutex_unlock(&mu);
    close(listen_fd);
    printf("echo_10k: %d connections, %ld bytes echoed\n", nconns, sent);
    return 0;
}
