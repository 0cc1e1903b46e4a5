/* SPDX-License-Identifier: MIT */
/* A plain threaded program that resolves names: 20 pthreads each call
 * getaddrinfo for a name the fake DNS server answers after 0.5 s. With
 * blocking threads (natively) or green ones (under the preload, where the
 * lookups go through c-ares on the hub) the lookups overlap, so the whole
 * takes about 0.5 s, not 10 s.
 *
 * The program starts the fake server itself (a forked child, before
 * anything else) and points both resolvers at it: GREEN_DNS_SERVERS for
 * libgreen (read when the first lookup makes the channel) and _res for
 * glibc's own resolver (per thread, so each thread sets it). */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <resolv.h>
#include <time.h>

#include "legacy.h"

/* The server, shared with the unit tests; plain libc only. */
#include "../fake_dns.c"

enum { NTHREADS = 20 };

static int dns_port;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* glibc's resolver state is per thread: point this thread's at the
 * fake server (libgreen reads GREEN_DNS_SERVERS instead). */
static void use_fake_server(void)
{
    res_init();
    _res.nscount = 1;
    _res.nsaddr_list[0].sin_family = AF_INET;
    _res.nsaddr_list[0].sin_port = htons((unsigned short)dns_port);
    _res.nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void *worker(void *arg)
{
    int i = (int)(long)arg;
    char name[32], want[32], got[INET_ADDRSTRLEN];
    use_fake_server();
    snprintf(name, sizeof(name), "h%d.test", i);
    snprintf(want, sizeof(want), "10.0.%d.%d", i / 256, i % 256);
    struct addrinfo hints = {.ai_family = AF_INET,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai;
    LEGACY_CHECK(getaddrinfo(name, "80", &hints, &ai) == 0);
    LEGACY_CHECK_ONE_THREAD();
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ai->ai_addr;
    inet_ntop(AF_INET, &sin->sin_addr, got, sizeof(got));
    LEGACY_CHECK(strcmp(got, want) == 0);
    LEGACY_CHECK(ntohs(sin->sin_port) == 80);
    LEGACY_CHECK(ai->ai_next == NULL);
    freeaddrinfo(ai);
    return NULL;
}

/* The other calls, from one thread: NXDOMAIN, a CNAME, the hosts file,
 * a reverse lookup. */
static void *others(void *arg)
{
    use_fake_server();
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_CANONNAME};
    struct addrinfo *ai;
    LEGACY_CHECK(getaddrinfo("nx.test", NULL, &hints, &ai) == EAI_NONAME);
    LEGACY_CHECK(getaddrinfo("alias.test", NULL, &hints, &ai) == 0);
    LEGACY_CHECK(ai->ai_canonname != NULL &&
                 strcmp(ai->ai_canonname, "one.test") == 0);
    freeaddrinfo(ai);
    LEGACY_CHECK(getaddrinfo("127.0.0.1", "22", &hints, &ai) == 0);
    freeaddrinfo(ai);
    struct hostent he, *res = NULL;
    char buf[1024];
    int herr = 0;
    LEGACY_CHECK(gethostbyname_r("one.test", &he, buf, sizeof(buf), &res,
                                 &herr) == 0 &&
                 res != NULL);
    LEGACY_CHECK(strcmp(res->h_name, "one.test") == 0);
    struct hostent *h = gethostbyname("nx.test");
    LEGACY_CHECK(h == NULL && h_errno == HOST_NOT_FOUND);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons(22)};
    inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    LEGACY_CHECK(getnameinfo((struct sockaddr *)&sin, sizeof(sin), host,
                             sizeof(host), serv, sizeof(serv),
                             NI_NUMERICSERV) == 0);
    LEGACY_CHECK(strcmp(host, "one.test") == 0 && strcmp(serv, "22") == 0);
    return NULL;
}

int main(void)
{
    pid_t server = fake_dns_start(0.5, 30.0, &dns_port);
    LEGACY_CHECK(server > 0);
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", dns_port);
    setenv("GREEN_DNS_SERVERS", servers, 1);

    pthread_t t[NTHREADS], o;
    double t0 = now();
    for (int i = 0; i < NTHREADS; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, worker,
                                    (void *)(long)(i + 1)) == 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        LEGACY_CHECK(pthread_join(t[i], NULL) == 0);
    }
    double el = now() - t0;
    printf("%d lookups answered after 0.5 s each: %.3f s\n", NTHREADS, el);
    LEGACY_CHECK(el >= 0.45 && el < 3.0);

    LEGACY_CHECK(pthread_create(&o, NULL, others, NULL) == 0);
    LEGACY_CHECK(pthread_join(o, NULL) == 0);
    fake_dns_stop(server);
    return 0;
}
