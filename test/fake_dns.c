/* SPDX-License-Identifier: MIT */
/* The fake DNS server of the tests (see fake_dns.h): a forked child that
 * answers A, AAAA and PTR queries from a fixed zone, each after a delay,
 * many at once. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fake_dns.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FD_MAXPKT 512
#define FD_MAXPENDING 1024
#define FD_T_A 1
#define FD_T_CNAME 5
#define FD_T_PTR 12
#define FD_T_AAAA 28

/* A reply waiting for its time. */
struct fd_pending {
    double due;
    struct sockaddr_in to;
    size_t len;
    unsigned char pkt[FD_MAXPKT];
};

static double fd_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The query name as "a.b.c" (lower case, no trailing dot); returns the
 * offset after the question's name, or 0 if malformed. */
static size_t fd_qname(const unsigned char *q, size_t len, char *out,
                       size_t outlen)
{
    size_t i = 12, o = 0;
    while (i < len && q[i] != 0) {
        size_t n = q[i++];
        if (n > 63 || i + n > len || o + n + 2 > outlen) {
            return 0;
        }
        if (o > 0) {
            out[o++] = '.';
        }
        for (size_t k = 0; k < n; k++) {
            out[o++] = (char)tolower(q[i + k]);
        }
        i += n;
    }
    out[o] = '\0';
    return i < len ? i + 1 : 0;
}

/* Appends a name in wire form; returns the new length. */
static size_t fd_put_name(unsigned char *p, size_t at, const char *name)
{
    while (*name != '\0') {
        size_t n = strcspn(name, ".");
        p[at++] = (unsigned char)n;
        memcpy(p + at, name, n);
        at += n;
        name += n + (name[n] == '.');
    }
    p[at++] = 0;
    return at;
}

/* Appends a record owned by `owner`; returns the new length. */
static size_t fd_put_rr(unsigned char *p, size_t at, const char *owner,
                        int type, const void *data, size_t dlen)
{
    at = fd_put_name(p, at, owner);
    unsigned char h[10] = {0, (unsigned char)type, 0, 1, 0, 0, 0, 60,
                           (unsigned char)(dlen >> 8), (unsigned char)dlen};
    memcpy(p + at, h, 10);
    memcpy(p + at + 10, data, dlen);
    return at + 10 + dlen;
}

static size_t fd_put_addr(unsigned char *p, size_t at, const char *owner,
                          int type, const char *text, int *count)
{
    unsigned char a[16];
    int af = type == FD_T_A ? AF_INET : AF_INET6;
    inet_pton(af, text, a);
    (*count)++;
    return fd_put_rr(p, at, owner, type, a, af == AF_INET ? 4 : 16);
}

/* The answers for (name, type): appends records, counts them, returns the
 * new length; *rcode is 3 for NXDOMAIN, 2 for SERVFAIL. */
static size_t fd_answer(unsigned char *p, size_t at, const char *name,
                        int type, int *count, int *rcode, double *extra)
{
    unsigned n;
    char tail[8];
    if (strcmp(name, "alias.test") == 0) {
        unsigned char wire[64];
        size_t wl = fd_put_name(wire, 0, "one.test");
        at = fd_put_rr(p, at, name, FD_T_CNAME, wire, wl);
        (*count)++;
        name = "one.test";
    }
    if (strcmp(name, "one.test") == 0) {
        if (type == FD_T_A) {
            at = fd_put_addr(p, at, name, type, "192.0.2.10", count);
        }
    } else if (strcmp(name, "two.test") == 0) {
        if (type == FD_T_A) {
            at = fd_put_addr(p, at, name, type, "192.0.2.20", count);
            at = fd_put_addr(p, at, name, type, "192.0.2.21", count);
        } else if (type == FD_T_AAAA) {
            at = fd_put_addr(p, at, name, type, "2001:db8::20", count);
            at = fd_put_addr(p, at, name, type, "fd00::20", count);
        }
    } else if (strcmp(name, "six.test") == 0) {
        if (type == FD_T_AAAA) {
            at = fd_put_addr(p, at, name, type, "2001:db8::6", count);
        }
    } else if (strcmp(name, "nodata.test") == 0) {
        /* NOERROR, nothing */
    } else if (strcmp(name, "fail.test") == 0) {
        *rcode = 2;
    } else if (strncmp(name, "slow", 4) == 0 &&
               strcmp(name + strlen(name) - 5, ".test") == 0) {
        *extra = 3.0;
        if (type == FD_T_A) {
            at = fd_put_addr(p, at, name, type, "192.0.2.99", count);
        }
    } else if (sscanf(name, "h%u.tes%1[t]%7s", &n, tail, tail) == 2 &&
               n < 65536) {
        if (type == FD_T_A) {
            char text[32];
            snprintf(text, sizeof(text), "10.0.%u.%u", n / 256, n % 256);
            at = fd_put_addr(p, at, name, type, text, count);
        }
    } else if (strcmp(name, "10.2.0.192.in-addr.arpa") == 0) {
        if (type == FD_T_PTR) {
            unsigned char wire[64];
            size_t wl = fd_put_name(wire, 0, "one.test");
            at = fd_put_rr(p, at, name, FD_T_PTR, wire, wl);
            (*count)++;
        }
    } else {
        *rcode = 3;
    }
    return at;
}

/* Builds the reply to query q into r; returns its length, 0 to drop. */
static size_t fd_reply(const unsigned char *q, size_t len, unsigned char *r,
                       double *extra)
{
    char name[256];
    size_t qend = len >= 12 ? fd_qname(q, len, name, sizeof(name)) : 0;
    if (qend == 0 || qend + 4 > len || strcmp(name, "drop.test") == 0) {
        return 0;
    }
    int type = q[qend] << 8 | q[qend + 1];
    size_t at = qend + 4;
    memcpy(r, q, at); /* header and question */
    int count = 0, rcode = 0;
    at = fd_answer(r, at, name, type, &count, &rcode, extra);
    r[2] = (unsigned char)(0x80 | (q[2] & 0x79) | 0x04); /* QR, AA, RD */
    r[3] = (unsigned char)(0x80 | rcode);                 /* RA */
    r[4] = 0;
    r[5] = 1;
    r[6] = (unsigned char)(count >> 8);
    r[7] = (unsigned char)count;
    memset(r + 8, 0, 4);
    return at;
}

static void fd_serve(int s, double delay, double lifetime)
{
    static struct fd_pending pend[FD_MAXPENDING];
    size_t npend = 0;
    double end = fd_now() + lifetime;
    for (;;) {
        double now = fd_now(), next = end;
        if (now >= end) {
            return;
        }
        for (size_t i = 0; i < npend; i++) {
            next = pend[i].due < next ? pend[i].due : next;
        }
        struct pollfd p = {.fd = s, .events = POLLIN};
        int ms = next > now ? (int)((next - now) * 1000.0) + 1 : 0;
        if (poll(&p, 1, ms) > 0 && npend < FD_MAXPENDING) {
            unsigned char q[FD_MAXPKT];
            struct fd_pending *e = &pend[npend];
            socklen_t tl = sizeof(e->to);
            ssize_t n = recvfrom(s, q, sizeof(q), 0,
                                 (struct sockaddr *)&e->to, &tl);
            double extra = 0.0;
            if (n > 0 &&
                (e->len = fd_reply(q, (size_t)n, e->pkt, &extra)) > 0) {
                e->due = fd_now() + delay + extra;
                npend++;
            }
        }
        now = fd_now();
        for (size_t i = 0; i < npend;) {
            if (pend[i].due <= now) {
                sendto(s, pend[i].pkt, pend[i].len, 0,
                       (struct sockaddr *)&pend[i].to, sizeof(pend[i].to));
                pend[i] = pend[--npend];
            } else {
                i++;
            }
        }
    }
}

pid_t fake_dns_start(double delay, double lifetime, int *port)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(s, (struct sockaddr *)&a, &al) != 0) {
        if (s >= 0) {
            close(s);
        }
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == parent) {
            signal(SIGALRM, SIG_DFL);
            fd_serve(s, delay, lifetime);
        }
        _exit(0);
    }
    close(s);
    if (pid < 0) {
        return -1;
    }
    *port = ntohs(a.sin_port);
    return pid;
}

void fake_dns_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
}
