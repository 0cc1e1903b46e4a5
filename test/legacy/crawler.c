/* SPDX-License-Identifier: MIT */
/* A tiny crawler against a local HTTP server, both as blocking threads.
 * The server (accept loop + a thread per connection) answers each of 50
 * pages after sleeping 0.2 s; 50 client threads each resolve the server
 * with getaddrinfo ("localhost" or "127.0.0.1"), connect, send a GET and
 * read the whole response. Serially this takes 10 s; concurrently about
 * 0.2 s, which the test asserts with a wide margin. */
#include "legacy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAGES 50
#define DELAY_US 200000

static int listen_fd;
static char port_str[16];

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Page n's body: a few kilobytes, different for every page, so that it
 * takes several reads. */
static size_t page_body(int n, char *out, size_t cap)
{
    size_t len = 1000 + (size_t)n * 397;
    LEGACY_CHECK(len <= cap);
    for (size_t k = 0; k < len; k++) {
        out[k] = (char)('A' + (n * 31 + k) % 26);
    }
    int h = snprintf(out, cap, "<page %d>", n);
    out[h] = ' ';
    return len;
}

static void *serve(void *arg)
{
    int fd = (int)(long)arg;
    char req[1024];
    size_t have = 0;
    req[0] = '\0';
    while (strstr(req, "\r\n\r\n") == NULL) {
        LEGACY_CHECK(have < sizeof(req) - 1);
        ssize_t n = read(fd, req + have, sizeof(req) - 1 - have);
        LEGACY_CHECK(n > 0);
        have += (size_t)n;
        req[have] = '\0';
    }
    int page = -1;
    LEGACY_CHECK(sscanf(req, "GET /page/%d HTTP/1.0", &page) == 1);
    LEGACY_CHECK(page >= 0 && page < PAGES);
    usleep(DELAY_US);

    /* Heap, not __thread: __thread is per OS thread under the preload. */
    char *body = malloc(32768);
    LEGACY_CHECK(body != NULL);
    size_t len = page_body(page, body, 32768);
    char head[128];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.0 200 OK\r\nContent-Length: %zu\r\n"
                      "Content-Type: text/plain\r\n\r\n",
                      len);
    LEGACY_CHECK(write(fd, head, (size_t)hl) == hl);
    LEGACY_CHECK(write(fd, body, len) == (ssize_t)len);
    free(body);
    close(fd);
    return NULL;
}

static void *server(void *arg)
{
    (void)arg;
    for (int i = 0; i < PAGES; i++) {
        int fd = accept(listen_fd, NULL, NULL);
        LEGACY_CHECK(fd >= 0);
        pthread_t th;
        LEGACY_CHECK(pthread_create(&th, NULL, serve, (void *)(long)fd) == 0);
        pthread_detach(th);
    }
    return NULL;
}

/* Resolves, connects (trying each address as real clients do), fetches
 * /page/n and checks the response. Returns the seconds it took. */
static void *crawl(void *arg)
{
    int n = (int)(long)arg;
    double t0 = now();
    struct addrinfo hints = {0}, *res;
    hints.ai_socktype = SOCK_STREAM;
    const char *host = n % 2 ? "localhost" : "127.0.0.1";
    int r = getaddrinfo(host, port_str, &hints, &res);
    if (r != 0) {
        fprintf(stderr, "getaddrinfo(%s): %s\n", host, gai_strerror(r));
    }
    LEGACY_CHECK(r == 0);
    int fd = -1;
    for (struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    LEGACY_CHECK(fd >= 0);

    char req[128];
    int rl = snprintf(req, sizeof(req),
                      "GET /page/%d HTTP/1.0\r\nHost: %s\r\n\r\n", n, host);
    LEGACY_CHECK(write(fd, req, (size_t)rl) == rl);

    enum { RESP_CAP = 40000, PAGE_CAP = 32768 };
    char *resp = malloc(RESP_CAP), *want = malloc(PAGE_CAP);
    LEGACY_CHECK(resp != NULL && want != NULL);
    size_t have = 0;
    for (;;) {
        LEGACY_CHECK(have < RESP_CAP - 1);
        ssize_t k = read(fd, resp + have, RESP_CAP - 1 - have);
        LEGACY_CHECK(k >= 0);
        if (k == 0) {
            break;
        }
        have += (size_t)k;
    }
    close(fd);
    resp[have] = '\0';

    size_t clen = 0;
    LEGACY_CHECK(strncmp(resp, "HTTP/1.0 200 OK\r\n", 17) == 0);
    char *cl = strstr(resp, "Content-Length: ");
    LEGACY_CHECK(cl != NULL && sscanf(cl, "Content-Length: %zu", &clen) == 1);
    char *body = strstr(resp, "\r\n\r\n");
    LEGACY_CHECK(body != NULL);
    body += 4;
    LEGACY_CHECK((size_t)(resp + have - body) == clen);
    size_t wl = page_body(n, want, PAGE_CAP);
    LEGACY_CHECK(wl == clen && memcmp(body, want, wl) == 0);
    free(resp);
    free(want);

    double dt = now() - t0;
    LEGACY_CHECK(dt >= DELAY_US / 1e6 - 0.001);
    return NULL;
}

int main(void)
{
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    LEGACY_CHECK(listen_fd >= 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    LEGACY_CHECK(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    socklen_t alen = sizeof(sa);
    LEGACY_CHECK(getsockname(listen_fd, (struct sockaddr *)&sa, &alen) == 0);
    LEGACY_CHECK(listen(listen_fd, 128) == 0);
    snprintf(port_str, sizeof(port_str), "%u", ntohs(sa.sin_port));

    double t0 = now();
    pthread_t srv, cl[PAGES];
    LEGACY_CHECK(pthread_create(&srv, NULL, server, NULL) == 0);
    for (long i = 0; i < PAGES; i++) {
        LEGACY_CHECK(pthread_create(&cl[i], NULL, crawl, (void *)i) == 0);
    }
    /* 0.1 s in, every client waits on its page. */
    usleep(100000);
    LEGACY_CHECK_ONE_THREAD();
    for (int i = 0; i < PAGES; i++) {
        LEGACY_CHECK(pthread_join(cl[i], NULL) == 0);
    }
    LEGACY_CHECK(pthread_join(srv, NULL) == 0);
    double wall = now() - t0;
    /* Serially: 50 x 0.2 s = 10 s. */
    LEGACY_CHECK(wall >= DELAY_US / 1e6);
    LEGACY_CHECK(wall < 2.5);
    close(listen_fd);
    printf("crawler: %d pages in %.2f s\n", PAGES, wall);
    return 0;
}
