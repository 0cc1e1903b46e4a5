/* SPDX-License-Identifier: MIT */
/* The dns suite: lookups through c-ares against the fake server of
 * fake_dns.c, concurrency, timeouts and cancellation, and fidelity: the
 * same inputs given to glibc and to libgreen must give the same answers,
 * in the same order. glibc's resolver is pointed at the fake server too
 * (through _res), so no test needs the network; the /etc/hosts cases with
 * both families run in a private mount namespace with a hosts file of
 * their own bound over /etc/hosts. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <green.h>

#include "checks.h"
#include "fake_dns.h"
#include "helpers.h"
#include "suites.h"

static pid_t server = -1;

/* Starts the fake server and points both libgreen (GREEN_DNS_SERVERS,
 * read when the thread's channel is made) and glibc (_res) at it. */
static void use_fake(double delay)
{
    int port;
    server = fake_dns_start(delay, 60.0, &port);
    ck_assert_int_gt(server, 0);
    char v[64];
    snprintf(v, sizeof(v), "127.0.0.1:%d", port);
    setenv("GREEN_DNS_SERVERS", v, 1);
    res_init();
    _res.nscount = 1;
    _res.nsaddr_list[0].sin_family = AF_INET;
    _res.nsaddr_list[0].sin_port = htons((uint16_t)port);
    _res.nsaddr_list[0].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void teardown(void)
{
    fake_dns_stop(server);
    server = -1;
}

/* --- describing and comparing results ------------------------------------- */

static void describe(const struct addrinfo *ai, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    for (; ai != NULL && at + 100 < len; ai = ai->ai_next) {
        char host[NI_MAXHOST] = "?", serv[NI_MAXSERV] = "?";
        getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), serv,
                    sizeof(serv), NI_NUMERICHOST | NI_NUMERICSERV);
        at += (size_t)snprintf(out + at, len - at, "[%s %s f%d t%d p%d%s%s] ",
                               host, serv, ai->ai_family, ai->ai_socktype,
                               ai->ai_protocol, ai->ai_canonname ? " " : "",
                               ai->ai_canonname ? ai->ai_canonname : "");
    }
}

static bool same_list(const struct addrinfo *a, const struct addrinfo *b)
{
    for (; a != NULL && b != NULL; a = a->ai_next, b = b->ai_next) {
        if (a->ai_flags != b->ai_flags || a->ai_family != b->ai_family ||
            a->ai_socktype != b->ai_socktype ||
            a->ai_protocol != b->ai_protocol ||
            a->ai_addrlen != b->ai_addrlen ||
            memcmp(a->ai_addr, b->ai_addr, a->ai_addrlen) != 0 ||
            (a->ai_canonname == NULL) != (b->ai_canonname == NULL) ||
            (a->ai_canonname != NULL &&
             strcmp(a->ai_canonname, b->ai_canonname) != 0)) {
            return false;
        }
    }
    return a == NULL && b == NULL;
}

/* One getaddrinfo input. */
struct gcase {
    const char *node, *service;
    int family, socktype, protocol, flags;
};

/* Runs c through glibc and libgreen; returns 0 if they agree, else 1 with
 * a line on stderr. */
static int compare_gai(const struct gcase *c)
{
    struct addrinfo h = {.ai_flags = c->flags, .ai_family = c->family,
                         .ai_socktype = c->socktype,
                         .ai_protocol = c->protocol};
    struct addrinfo *want = NULL, *got = NULL;
    int rw = getaddrinfo(c->node, c->service, &h, &want);
    int rg = green_getaddrinfo(c->node, c->service, &h, &got);
    int eg = green_dns_eai(rg);
    bool ok = rw == eg && same_list(want, got);
    if (!ok || getenv("GREEN_DNS_TEST_VERBOSE") != NULL) {
        static char dw[4096], dg[4096];
        describe(want, dw, sizeof(dw));
        describe(got, dg, sizeof(dg));
        fprintf(stderr,
                "getaddrinfo(%s, %s, af %d, type %d, proto %d, flags 0x%x):\n"
                "  glibc    %d %s\n  libgreen %d (%s) %s\n",
                c->node ? c->node : "NULL",
                c->service ? c->service : "NULL", c->family, c->socktype,
                c->protocol, c->flags, rw, dw, eg, green_dns_strerror(rg),
                dg);
    }
    if (want != NULL) {
        freeaddrinfo(want);
    }
    green_freeaddrinfo(got);
    return ok ? 0 : 1;
}

static int run_cases(const struct gcase *cases, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        bad += compare_gai(&cases[i]);
    }
    return bad;
}

#define U AF_UNSPEC
#define V4 AF_INET
#define V6 AF_INET6
#define ST SOCK_STREAM
#define DG SOCK_DGRAM

/* Inputs answered by the machine's own /etc/hosts, numeric input and
 * the fake server (glibc's resolver asks it too). */
static const struct gcase system_cases[] = {
    {"localhost", NULL, U, 0, 0, 0},
    {"localhost", "80", U, ST, 0, 0},
    {"localhost", "http", U, 0, 0, 0},
    {"localhost", "domain", U, 0, 0, 0},
    {"localhost", "nosuchservice", U, 0, 0, 0},
    {"localhost", "80", U, DG, 0, 0},
    {"localhost", "80", U, 0, IPPROTO_UDP, 0},
    {"localhost", "80", U, SOCK_RAW, 0, 0},
    {"localhost", NULL, U, SOCK_RAW, 0, 0},
    {"localhost", "80", U, ST, IPPROTO_UDP, 0},
    {"localhost", "80", U, 12345, 0, 0},
    {"localhost", "x", U, 0, 0, AI_NUMERICSERV},
    {"localhost", "22", U, 0, 0, AI_NUMERICSERV},
    {"localhost", NULL, U, 0, 0, 0x10000},
    {"localhost", NULL, AF_UNIX, 0, 0, 0},
    {"localhost", NULL, V4, 0, 0, AI_NUMERICHOST},
    {"localhost", NULL, V4, ST, 0, 0},
    {"localhost", NULL, V6, ST, 0, 0},
    {"localhost", NULL, V6, ST, 0, AI_V4MAPPED},
    {"localhost", NULL, V6, ST, 0, AI_V4MAPPED | AI_ALL},
    {"localhost", NULL, U, ST, 0, AI_CANONNAME},
    {"localhost", NULL, V4, ST, 0, AI_CANONNAME},
    {"LocalHost", NULL, V4, ST, 0, AI_CANONNAME},
    {"localhost", NULL, U, ST, 0, AI_ADDRCONFIG},
    {"localhost", NULL, V4, ST, 0, AI_ADDRCONFIG},
    {"localhost", "80", U, ST, 0, AI_PASSIVE},
    {"localhost.", NULL, V4, ST, 0, 0},
    {"127.0.0.1", NULL, U, 0, 0, 0},
    {"127.0.0.1", "80", U, ST, 0, AI_CANONNAME},
    {"127.1", NULL, U, ST, 0, 0},
    {"::1", "80", U, 0, 0, 0},
    {"::ffff:127.0.0.1", NULL, V4, ST, 0, 0},
    {"127.0.0.1", NULL, V6, ST, 0, 0},
    {"127.0.0.1", NULL, V6, ST, 0, AI_V4MAPPED},
    {"::1", NULL, V4, ST, 0, 0},
    {"fe80::1%1", NULL, U, ST, 0, 0},
    {"fe80::1%lo", NULL, U, ST, 0, 0},
    {NULL, "80", U, ST, 0, AI_PASSIVE},
    {NULL, "80", U, 0, 0, 0},
    {NULL, "80", V6, ST, 0, AI_PASSIVE},
    {NULL, NULL, U, 0, 0, 0},
    {"*", "80", U, ST, 0, AI_PASSIVE},
    {NULL, "80", U, ST, 0, AI_CANONNAME},
    {"one.test", NULL, U, 0, 0, 0},
    {"one.test", "80", V4, ST, 0, 0},
    {"ONE.TEST.", NULL, V4, ST, 0, AI_CANONNAME},
    {"two.test", NULL, U, ST, 0, 0},
    {"two.test", "443", U, 0, 0, AI_CANONNAME},
    {"two.test", NULL, V4, ST, 0, 0},
    {"two.test", NULL, V6, ST, 0, 0},
    {"two.test", NULL, V6, ST, 0, AI_V4MAPPED | AI_ALL},
    {"alias.test", NULL, U, ST, 0, AI_CANONNAME},
    {"alias.test", NULL, V4, ST, 0, AI_CANONNAME},
    {"six.test", NULL, U, ST, 0, 0},
    {"six.test", NULL, V4, ST, 0, 0},
    {"six.test", NULL, V6, ST, 0, 0},
    {"one.test", NULL, V6, ST, 0, 0},
    {"one.test", NULL, V6, ST, 0, AI_V4MAPPED},
    {"nodata.test", NULL, U, ST, 0, 0},
    {"nodata.test", NULL, V4, ST, 0, 0},
    {"nx.test", NULL, U, ST, 0, 0},
    {"nx.test", NULL, V4, ST, 0, 0},
    {"fail.test", NULL, U, ST, 0, 0},
    {"fail.test", NULL, V4, ST, 0, 0},
    {"localhost", NULL, V6, ST, 0, 0},
};

START_TEST(fidelity_system)
{
    use_fake(0.0);
    ck_assert_int_eq(run_cases(system_cases, sizeof(system_cases) /
                                                 sizeof(system_cases[0])),
                     0);
}
END_TEST

/* --- a hosts file of our own --------------------------------------------- */

static const char hosts_file[] =
    "127.0.0.1 localhost\n"
    "::1 localhost ip6-localhost ip6-loopback\n"
    "192.0.2.5 dual.example dual\n"
    "2001:db8::5 dual.example\n"
    "fd00::5 dual.example\n"
    "192.0.2.6 multi.example\n"
    "192.0.2.7 multi.example mm\n"
    "10.1.1.1 other.example multi.example\n"
    "::ffff:192.0.2.8 mapped.example\n"
    "fe80::9 linklocal.example\n";

static const struct gcase hosts_cases[] = {
    {"localhost", NULL, U, 0, 0, 0},
    {"localhost", NULL, V4, ST, 0, 0},
    {"localhost", NULL, V6, ST, 0, 0},
    {"localhost", "80", U, ST, 0, AI_CANONNAME},
    {"ip6-localhost", NULL, U, ST, 0, AI_CANONNAME},
    {"ip6-localhost", NULL, V4, ST, 0, 0},
    {"ip6-localhost", NULL, V6, ST, 0, AI_V4MAPPED},
    {"dual.example", NULL, U, ST, 0, 0},
    {"dual.example", NULL, U, 0, 0, AI_CANONNAME},
    {"dual", NULL, U, ST, 0, AI_CANONNAME},
    {"dual", NULL, V4, ST, 0, AI_CANONNAME},
    {"dual", NULL, V6, ST, 0, AI_CANONNAME},
    {"dual", NULL, V6, ST, 0, AI_V4MAPPED | AI_ALL},
    {"dual", NULL, U, ST, 0, AI_ADDRCONFIG},
    {"multi.example", NULL, U, ST, 0, AI_CANONNAME},
    {"multi.example", NULL, V4, ST, 0, 0},
    {"mm", NULL, U, ST, 0, AI_CANONNAME},
    {"mapped.example", NULL, U, ST, 0, 0},
    {"mapped.example", NULL, V4, ST, 0, 0},
    {"linklocal.example", NULL, U, ST, 0, 0},
    {"linklocal.example", "http", V6, 0, 0, 0},
    {"ip6-loopback", NULL, V6, ST, 0, 0},
};

/* Binds a private copy of the hosts file over /etc/hosts in a new mount
 * namespace of this process. Returns false where that is not allowed. */
static bool private_hosts(const char *content)
{
    if (unshare(CLONE_NEWNS) != 0) {
        uid_t uid = getuid();
        gid_t gid = getgid();
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) {
            return false;
        }
        char map[64];
        int fd = open("/proc/self/setgroups", O_WRONLY);
        if (fd >= 0) {
            (void)!write(fd, "deny", 4);
            close(fd);
        }
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
        fd = open("/proc/self/uid_map", O_WRONLY);
        if (fd < 0 || write(fd, map, strlen(map)) < 0) {
            return false;
        }
        close(fd);
        snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
        fd = open("/proc/self/gid_map", O_WRONLY);
        if (fd < 0 || write(fd, map, strlen(map)) < 0) {
            return false;
        }
        close(fd);
    }
    /* Never let the bind mount reach the real namespace. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        return false;
    }
    char path[] = "/tmp/green-dns-hosts-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        return false;
    }
    bool ok = write(fd, content, strlen(content)) == (ssize_t)strlen(content);
    close(fd);
    ok = ok && mount(path, "/etc/hosts", NULL, MS_BIND, NULL) == 0;
    unlink(path);
    return ok;
}

static void hosts_child(void *arg)
{
    if (!private_hosts(hosts_file)) {
        fprintf(stderr, "no private mount namespace here: skipped\n");
        _exit(77);
    }
    use_fake(0.0);
    size_t n = sizeof(hosts_cases) / sizeof(hosts_cases[0]);
    int bad = run_cases(hosts_cases, n);
    fprintf(stderr, "fidelity_hosts: %zu cases, %d differ\n", n, bad);
    fake_dns_stop(server);
    _exit(bad == 0 ? 0 : 1);
}

START_TEST(fidelity_hosts)
{
    static char out[16384];
    int st = green_test_fork_capture(hosts_child, NULL, out, sizeof(out));
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77) {
        fprintf(stderr, "fidelity_hosts: %s", out);
        return;
    }
    if (getenv("GREEN_DNS_TEST_VERBOSE") != NULL) {
        fputs(out, stderr);
    }
    check_child(st, 0, out);
    ck_assert_msg(strstr(out, "0 differ") != NULL, "%s", out);
}
END_TEST

/* --- host entries and reverse lookups -------------------------------------- */

static void describe_he(const struct hostent *h, int rc, int herr, char *out,
                        size_t len)
{
    size_t at = (size_t)snprintf(out, len, "rc %d h_errno %d", rc, herr);
    if (h == NULL) {
        return;
    }
    at += (size_t)snprintf(out + at, len - at, " name %s af %d aliases",
                           h->h_name, h->h_addrtype);
    for (char **a = h->h_aliases; *a != NULL && at + 80 < len; a++) {
        at += (size_t)snprintf(out + at, len - at, " %s", *a);
    }
    at += (size_t)snprintf(out + at, len - at, " addrs");
    for (char **a = h->h_addr_list; *a != NULL && at + 80 < len; a++) {
        char t[INET6_ADDRSTRLEN];
        inet_ntop(h->h_addrtype, *a, t, sizeof(t));
        at += (size_t)snprintf(out + at, len - at, " %s", t);
    }
}

static int compare_hbn(const char *name, int af)
{
    struct hostent hw, hg, *rw = NULL, *rg = NULL;
    char bw[2048], bg[2048], dw[1024], dg[1024];
    int ew = 0, eg = 0;
    int cw = gethostbyname2_r(name, af, &hw, bw, sizeof(bw), &rw, &ew);
    int cg = green_gethostbyname_r(name, af, &hg, bg, sizeof(bg), &rg, &eg);
    describe_he(rw, cw, ew, dw, sizeof(dw));
    describe_he(rg, 0, eg, dg, sizeof(dg));
    /* cg is ours; glibc's rc is 0 when it found nothing but said why. */
    if (strcmp(dw, dg) != 0 && !(cg != 0 && rg == NULL &&
                                 strstr(dw, "rc 0 ") == dw &&
                                 strcmp(dw + 5, dg + 5) == 0)) {
        fprintf(stderr, "gethostbyname2_r(%s, %d):\n  glibc    %s\n"
                        "  libgreen %s (%s)\n",
                name, af, dw, dg, green_dns_strerror(cg));
        return 1;
    }
    return 0;
}

static int compare_hba(const char *text, int af)
{
    unsigned char a[16];
    ck_assert_int_eq(inet_pton(af, text, a), 1);
    socklen_t len = af == AF_INET ? 4 : 16;
    struct hostent hw, hg, *rw = NULL, *rg = NULL;
    char bw[2048], bg[2048], dw[1024], dg[1024];
    int ew = 0, eg = 0;
    int cw = gethostbyaddr_r(a, len, af, &hw, bw, sizeof(bw), &rw, &ew);
    int cg = green_gethostbyaddr_r(a, len, af, &hg, bg, sizeof(bg), &rg, &eg);
    describe_he(rw, cw == 0 ? 0 : 1, ew, dw, sizeof(dw));
    describe_he(rg, (cg == 0 || rg == NULL) && cw == 0 ? 0 : 1, eg, dg,
                sizeof(dg));
    if (strcmp(dw, dg) != 0) {
        fprintf(stderr, "gethostbyaddr_r(%s):\n  glibc    %s\n"
                        "  libgreen %s (%s)\n",
                text, dw, dg, green_dns_strerror(cg));
        return 1;
    }
    return 0;
}

static int compare_gni(const char *text, int port, int flags)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (strchr(text, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, text, &s6->sin6_addr);
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        inet_pton(AF_INET, text, &s4->sin_addr);
        len = sizeof(*s4);
    }
    char hw[NI_MAXHOST] = "", sw[NI_MAXSERV] = "", hg[NI_MAXHOST] = "",
         sg[NI_MAXSERV] = "";
    int rw = getnameinfo((struct sockaddr *)&ss, len, hw, sizeof(hw), sw,
                         sizeof(sw), flags);
    int rg = green_getnameinfo((struct sockaddr *)&ss, len, hg, sizeof(hg),
                               sg, sizeof(sg), flags);
    if (rw != green_dns_eai(rg) ||
        (rw == 0 && (strcmp(hw, hg) != 0 || strcmp(sw, sg) != 0))) {
        fprintf(stderr, "getnameinfo(%s, %d, 0x%x): glibc %d %s %s, "
                        "libgreen %d %s %s\n",
                text, port, flags, rw, hw, sw, green_dns_eai(rg), hg, sg);
        return 1;
    }
    return 0;
}

START_TEST(fidelity_hostent)
{
    use_fake(0.0);
    int bad = 0;
    bad += compare_hbn("localhost", AF_INET);
    bad += compare_hbn("localhost", AF_INET6);
    bad += compare_hbn("127.0.0.1", AF_INET);
    bad += compare_hbn("one.test", AF_INET);
    bad += compare_hbn("alias.test", AF_INET);
    bad += compare_hbn("two.test", AF_INET6);
    bad += compare_hbn("one.test", AF_INET6);
    bad += compare_hbn("nx.test", AF_INET);
    bad += compare_hba("127.0.0.1", AF_INET);
    bad += compare_hba("192.0.2.10", AF_INET);
    bad += compare_hba("192.0.2.77", AF_INET);
    bad += compare_gni("127.0.0.1", 80, 0);
    bad += compare_gni("127.0.0.1", 53, NI_DGRAM);
    bad += compare_gni("127.0.0.1", 80, NI_NUMERICSERV | NI_NAMEREQD);
    bad += compare_gni("192.0.2.10", 22, 0);
    bad += compare_gni("192.0.2.77", 22, 0);
    bad += compare_gni("192.0.2.77", 22, NI_NAMEREQD);
    bad += compare_gni("::1", 80, NI_NUMERICHOST);
    bad += compare_gni("127.0.0.1", 80, 0x4000);
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* --- behaviour ---------------------------------------------------------------- */

static void check_v4(const struct addrinfo *ai, const char *want)
{
    ck_assert_ptr_nonnull(ai);
    ck_assert_int_eq(ai->ai_family, AF_INET);
    char t[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, t,
              sizeof(t));
    ck_assert_str_eq(t, want);
}

static int lookup_v4(const char *name, struct addrinfo **res)
{
    struct addrinfo h = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    return green_getaddrinfo(name, "80", &h, res);
}

START_TEST(answers)
{
    use_fake(0.0);
    struct addrinfo *ai;
    ck_assert_int_eq(lookup_v4("one.test", &ai), 0);
    check_v4(ai, "192.0.2.10");
    ck_assert_int_eq(ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port), 80);
    ck_assert_ptr_null(ai->ai_next);
    green_freeaddrinfo(ai);
    ck_assert_int_eq(lookup_v4("h300.test", &ai), 0);
    check_v4(ai, "10.0.1.44");
    green_freeaddrinfo(ai);
    ck_assert_int_eq(lookup_v4("nx.test", &ai), GREEN_EAI(EAI_NONAME));
    ck_assert_int_eq(green_dns_eai(GREEN_EAI(EAI_NONAME)), EAI_NONAME);
    ck_assert_int_eq(lookup_v4("fail.test", &ai), GREEN_EAI(EAI_AGAIN));
    ck_assert_int_eq(green_dns_eai(-ETIMEDOUT), EAI_SYSTEM);
    ck_assert_str_eq(green_dns_strerror(GREEN_EAI(EAI_NONAME)),
                     gai_strerror(EAI_NONAME));
}
END_TEST

struct many {
    int i;
    int r;
};

static void *lookup_task(void *arg)
{
    struct many *m = arg;
    char name[32], want[32];
    snprintf(name, sizeof(name), "h%d.test", m->i);
    snprintf(want, sizeof(want), "10.0.%d.%d", m->i / 256, m->i % 256);
    struct addrinfo *ai;
    m->r = lookup_v4(name, &ai);
    if (m->r == 0) {
        char t[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr,
                  t, sizeof(t));
        m->r = strcmp(t, want) == 0 ? 0 : -EPROTO;
        green_freeaddrinfo(ai);
    }
    return NULL;
}

START_TEST(concurrent)
{
    enum { N = 50 };
    use_fake(0.5);
    green_task_t *t[N];
    struct many m[N];
    double t0 = green_test_now();
    for (int i = 0; i < N; i++) {
        m[i] = (struct many){i + 1, 1};
        ck_assert_int_eq(green_spawn(&t[i], lookup_task, &m[i]), 0);
    }
    ck_assert_int_eq(green_joinall(t, N, slow(20.0)), 0);
    double el = green_test_now() - t0;
    fprintf(stderr, "dns: %d lookups, each answered after 0.5 s: %.3f s\n",
            N, el);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(m[i].r, 0);
        green_task_release(t[i]);
    }
    ck_assert(el >= 0.45);
    ck_assert_msg(el < slow(5.0), "took %.3f s", el);
}
END_TEST

START_TEST(timeout_scope)
{
    use_fake(0.0);
    struct addrinfo *ai;
    double t0 = green_test_now();
    ck_assert_int_eq(green_timeout_start(0.3), 0);
    ck_assert_int_eq(lookup_v4("slow1.test", &ai), -ETIMEDOUT);
    ck_assert_int_eq(green_timeout_cancel(), -ETIMEDOUT);
    check_elapsed(t0, 0.25, slow(1.5));
    ck_assert_int_eq(lookup_v4("one.test", &ai), 0);
    check_v4(ai, "192.0.2.10");
    green_freeaddrinfo(ai);
    /* The abandoned query's answer comes (3 s) and finds no one. */
    ck_assert_int_eq(green_sleep(3.2), 0);
    ck_assert_int_eq(lookup_v4("two.test", &ai), 0);
    check_v4(ai, "192.0.2.20");
    green_freeaddrinfo(ai);
}
END_TEST

static void *slow_lookup(void *arg)
{
    struct addrinfo *ai;
    int r = lookup_v4("slow2.test", &ai);
    if (r == 0) {
        green_freeaddrinfo(ai);
    }
    return green_fail(r);
}

START_TEST(killed)
{
    use_fake(0.0);
    green_task_t *t;
    ck_assert_int_eq(green_spawn(&t, slow_lookup, NULL), 0);
    ck_assert_int_eq(green_sleep(0.1), 0);
    double t0 = green_test_now();
    ck_assert_int_eq(green_kill(t), 0);
    ck_assert_int_eq(green_join(t, slow(2.0), NULL), 0);
    check_elapsed(t0, 0.0, slow(0.5));
    ck_assert_int_eq(green_task_error(t), -ECANCELED);
    green_task_release(t);
    struct addrinfo *ai;
    ck_assert_int_eq(lookup_v4("one.test", &ai), 0);
    green_freeaddrinfo(ai);
    ck_assert_int_eq(green_sleep(3.2), 0); /* the late answer arrives */
    ck_assert_int_eq(lookup_v4("alias.test", &ai), 0);
    check_v4(ai, "192.0.2.10");
    green_freeaddrinfo(ai);
}
END_TEST

START_TEST(free_both_kinds)
{
    use_fake(0.0);
    struct addrinfo *mine, *theirs, *numeric;
    struct addrinfo h = {.ai_socktype = SOCK_STREAM};
    ck_assert_int_eq(green_getaddrinfo("two.test", "80", &h, &mine), 0);
    ck_assert_int_eq(getaddrinfo("127.0.0.1", "80", &h, &theirs), 0);
    ck_assert_int_eq(green_getaddrinfo("::1", "80", &h, &numeric), 0);
    green_freeaddrinfo(mine);
    green_freeaddrinfo(theirs);
    green_freeaddrinfo(numeric);
    green_freeaddrinfo(NULL);
}
END_TEST

static void bad_servers_child(void *arg)
{
    setenv("GREEN_DNS_SERVERS", arg, 1);
    struct addrinfo *ai;
    int r = lookup_v4("localhost", &ai); /* /etc/hosts: no DNS needed */
    if (r == 0) {
        green_freeaddrinfo(ai);
    }
    /* The first DNS query makes the channel; the scope ends it at once,
     * whatever the default servers do with it. */
    green_timeout_start(0.2);
    r = lookup_v4("h1.invalid.", &ai);
    green_timeout_cancel();
    if (r == 0) {
        green_freeaddrinfo(ai);
    }
    _exit(0);
}

/* Each bad value gets the one line of lib/config.c's rule, and the
 * lookups still work with resolv.conf's servers. c-ares alone would take
 * port 99999 (truncated) and the empty list. */
START_TEST(bad_servers_env)
{
    static const char *const bad[] = {
        "not-an-address", "127.0.0.1:99999", "", "127.0.0.1:0",
        "127.0.0.1:53,", "[::1]:", "[::1", "1.2.3.4:5x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char out[4096], want[128];
        int st = green_test_fork_capture(bad_servers_child, (void *)bad[i],
                                         out, sizeof(out));
        check_child(st, 0, out);
        snprintf(want, sizeof(want), "GREEN_DNS_SERVERS=\"%s\": expected",
                 bad[i]);
        ck_assert_msg(strstr(out, want) != NULL &&
                          strstr(out, "using /etc/resolv.conf's servers"),
                      "%s: stderr: %s", bad[i], out);
    }
}
END_TEST

/* Good values are taken silently. */
START_TEST(good_servers_env)
{
    static const char *const good[] = {
        "127.0.0.1", "127.0.0.1:5353", "::1", "[::1]:53",
        "127.0.0.1:53,[::1]:5353",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char out[4096];
        int st = green_test_fork_capture(bad_servers_child, (void *)good[i],
                                         out, sizeof(out));
        check_child(st, 0, out);
        ck_assert_msg(strstr(out, "GREEN_DNS_SERVERS") == NULL,
                      "%s: stderr: %s", good[i], out);
    }
}
END_TEST

Suite *green_test_dns_suite(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, answers);
    tcase_add_test(tc, concurrent);
    tcase_add_test(tc, timeout_scope);
    tcase_add_test(tc, killed);
    tcase_add_test(tc, free_both_kinds);
    tcase_add_test(tc, bad_servers_env);
    tcase_add_test(tc, good_servers_env);
    suite_add_tcase(s, tc);
    TCase *fid = tcase_create("fidelity");
    tcase_add_checked_fixture(fid, NULL, teardown);
    tcase_set_timeout(fid, 60);
    tcase_add_test(fid, fidelity_system);
    tcase_add_test(fid, fidelity_hosts);
    tcase_add_test(fid, fidelity_hostent);
    suite_add_tcase(s, fid);
    return s;
}
