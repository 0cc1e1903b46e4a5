/* SPDX-License-Identifier: MIT */
/* glibc's order for getaddrinfo results: destination address selection
 * after RFC 3484 (rules 1-6, 8-10), with glibc's tables or those of
 * /etc/gai.conf (label, precedence, scopev4 lines), and glibc's way of
 * learning each destination's source address (connect a UDP socket,
 * getsockname) and the source's prefix length (the interface addresses).
 *
 * What differs from glibc: rule 3 (deprecated source addresses) and
 * rule 4 (home addresses) need address flags that only netlink gives;
 * getifaddrs() does not, so both rules see every source as preferred and
 * home-less. Rule 7 (native transport) is skipped: glibc applies it only
 * between different interfaces one of which is a tunnel. gai.conf's
 * "reload" is not followed: the file is read once. */
#include "internal.h"

#include "dns.h"
#include "real.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A prefix and its value (label or precedence). */
struct prefix {
    struct in6_addr addr;
    unsigned bits;
    int val;
};

/* An IPv4 scope rule: (address & mask) == net gives scope. */
struct scope4 {
    uint32_t net, mask; /* host byte order */
    int val;
};

#define P6(...) {{{__VA_ARGS__}}}
static const struct prefix default_labels[] = {
    {P6(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 128, 0},
    {P6(0x20, 0x02), 16, 2},
    {P6(0), 96, 3},
    {P6(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff), 96, 4},
    {P6(0xfe, 0xc0), 10, 5},
    {P6(0xfc, 0x00), 7, 6},
    {P6(0x20, 0x01, 0, 0), 32, 7},
    {P6(0), 0, 1},
};
static const struct prefix default_precedence[] = {
    {P6(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 128, 50},
    {P6(0x20, 0x02), 16, 30},
    {P6(0), 96, 20},
    {P6(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff), 96, 10},
    {P6(0), 0, 40},
};
static const struct scope4 default_scopes[] = {
    {0xa9fe0000u, 0xffff0000u, 2},
    {0x7f000000u, 0xff000000u, 2},
    {0, 0, 14},
};

/* The tables in use: gai.conf's if it has lines of that kind. */
static const struct prefix *labels = default_labels;
static const struct prefix *precedence = default_precedence;
static const struct scope4 *scopes = default_scopes;
static pthread_once_t conf_once = PTHREAD_ONCE_INIT;

/* --- /etc/gai.conf --------------------------------------------------------- */

struct table {
    struct prefix *p;
    size_t n;
    bool has_default;
};

static int by_bits_desc(const void *a, const void *b)
{
    const struct prefix *x = a, *y = b;
    return (int)y->bits - (int)x->bits;
}

static void table_add(struct table *t, const struct in6_addr *a,
                      unsigned bits, int val)
{
    struct prefix *p = realloc(t->p, (t->n + 2) * sizeof(*p));
    if (p == NULL) {
        return;
    }
    t->p = p;
    p[t->n++] = (struct prefix){*a, bits, val};
    t->has_default |= bits == 0;
}

/* Sorts t, most specific first, ending with ::/0 (glibc adds one with
 * `dflt` when the file has none). */
static const struct prefix *table_finish(struct table *t, int dflt)
{
    if (t->n == 0) {
        return NULL;
    }
    if (!t->has_default) {
        t->p[t->n++] = (struct prefix){IN6ADDR_ANY_INIT, 0, dflt};
    }
    qsort(t->p, t->n, sizeof(*t->p), by_bits_desc);
    return t->p;
}

static bool parse_prefix(const char *s, struct in6_addr *a, unsigned *bits)
{
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s", s);
    char *slash = strchr(tmp, '/');
    *bits = 128;
    if (slash != NULL) {
        *slash = '\0';
        *bits = (unsigned)atoi(slash + 1);
    }
    return inet_pton(AF_INET6, tmp, a) == 1 && *bits <= 128;
}

static void load_conf(void)
{
    FILE *f = GREEN_REAL(fopen)("/etc/gai.conf", "re");
    struct table lab = {0}, prec = {0};
    struct scope4 *sc = NULL;
    size_t nsc = 0;
    char line[256], cmd[32], arg[64];
    int val;
    while (f != NULL && GREEN_REAL(fgets)(line, sizeof(line), f) != NULL) {
        struct in6_addr a;
        unsigned bits;
        if (sscanf(line, " %31s %63s %d", cmd, arg, &val) != 3 ||
            cmd[0] == '#') {
            continue;
        }
        if (strcmp(cmd, "label") == 0 && parse_prefix(arg, &a, &bits)) {
            table_add(&lab, &a, bits, val);
        } else if (strcmp(cmd, "precedence") == 0 &&
                   parse_prefix(arg, &a, &bits)) {
            table_add(&prec, &a, bits, val);
        } else if (strcmp(cmd, "scopev4") == 0 &&
                   parse_prefix(arg, &a, &bits) &&
                   IN6_IS_ADDR_V4MAPPED(&a) && bits >= 96) {
            struct scope4 *n = realloc(sc, (nsc + 2) * sizeof(*n));
            if (n != NULL) {
                uint32_t net;
                memcpy(&net, &a.s6_addr[12], 4);
                unsigned b4 = bits - 96;
                uint32_t mask = b4 == 0 ? 0 : 0xffffffffu << (32 - b4);
                n[nsc++] = (struct scope4){ntohl(net) & mask, mask, val};
                sc = n;
            }
        }
    }
    if (f != NULL) {
        GREEN_REAL(fclose)(f);
    }
    const struct prefix *l = table_finish(&lab, 1);
    const struct prefix *p = table_finish(&prec, 40);
    labels = l != NULL ? l : default_labels;
    precedence = p != NULL ? p : default_precedence;
    if (nsc > 0) {
        sc[nsc++] = (struct scope4){0, 0, 14};
        scopes = sc;
    }
}

/* --- address properties -------------------------------------------------- */

/* addr as an IPv6 address (IPv4 as ::ffff:a.b.c.d). */
static struct in6_addr as6(const struct sockaddr *sa)
{
    struct in6_addr a = IN6ADDR_ANY_INIT;
    if (sa->sa_family == AF_INET6) {
        a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    } else if (sa->sa_family == AF_INET) {
        a.s6_addr[10] = a.s6_addr[11] = 0xff;
        memcpy(&a.s6_addr[12],
               &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
    }
    return a;
}

static int match(const struct sockaddr *sa, const struct prefix *t)
{
    struct in6_addr a = as6(sa);
    for (;; t++) {
        unsigned bits = t->bits, i = 0;
        while (bits >= 8 && t->addr.s6_addr[i] == a.s6_addr[i]) {
            i++;
            bits -= 8;
        }
        if (bits == 0) {
            return t->val; /* every byte of the prefix matched */
        }
        if (bits < 8) {
            unsigned m = (0xff00u >> bits) & 0xffu;
            if ((t->addr.s6_addr[i] & m) == (a.s6_addr[i] & m)) {
                return t->val;
            }
        }
    }
}

static int scope_of(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a =
            &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (IN6_IS_ADDR_MULTICAST(a)) {
            return a->s6_addr[1] & 0xf;
        }
        if (IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_LOOPBACK(a)) {
            return 2;
        }
        return IN6_IS_ADDR_SITELOCAL(a) ? 5 : 14;
    }
    if (sa->sa_family == AF_INET) {
        uint32_t v = ntohl(
            ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr);
        for (const struct scope4 *s = scopes;; s++) {
            if ((v & s->mask) == s->net) {
                return s->val;
            }
        }
    }
    return 15;
}

/* --- interface addresses ---------------------------------------------------- */

struct if_info {
    struct in6_addr addr; /* IPv4 mapped */
    int prefixlen;
    uint32_t index;
};

static int prefix_len(const struct sockaddr *mask)
{
    if (mask == NULL) {
        return 0;
    }
    struct in6_addr m = as6(mask);
    int n = 0, from = mask->sa_family == AF_INET ? 12 : 0;
    for (int i = from; i < 16; i++) {
        n += __builtin_popcount(m.s6_addr[i]);
    }
    return n;
}

/* The machine's addresses; *n set. NULL if none or on error. */
static struct if_info *load_ifaddrs(size_t *n, bool *v4, bool *v6)
{
    struct ifaddrs *ifs, *i;
    *n = 0;
    if (getifaddrs(&ifs) != 0) {
        return NULL;
    }
    size_t cap = 0;
    for (i = ifs; i != NULL; i = i->ifa_next) {
        cap++;
    }
    struct if_info *out = calloc(cap + 1, sizeof(*out));
    for (i = ifs; out != NULL && i != NULL; i = i->ifa_next) {
        struct sockaddr *sa = i->ifa_addr;
        if (sa == NULL ||
            (sa->sa_family != AF_INET && sa->sa_family != AF_INET6)) {
            continue;
        }
        struct if_info *e = &out[(*n)++];
        e->addr = as6(sa);
        e->prefixlen = prefix_len(i->ifa_netmask);
        e->index = if_nametoindex(i->ifa_name);
        if (sa->sa_family == AF_INET) {
            *v4 |= ((const struct sockaddr_in *)(const void *)sa)
                       ->sin_addr.s_addr != htonl(INADDR_LOOPBACK);
        } else {
            *v6 |= !IN6_IS_ADDR_LOOPBACK(&e->addr);
        }
    }
    freeifaddrs(ifs);
    return out;
}

void green__dns_seen(bool *v4, bool *v6)
{
    size_t n;
    *v4 = *v6 = false;
    free(load_ifaddrs(&n, v4, v6));
}

/* --- sorting ------------------------------------------------------------------ */

/* What glibc learns about each entry before sorting. */
struct entry {
    struct addrinfo *ai;
    struct sockaddr_storage src; /* source address if got */
    bool got;                    /* a route exists (rule 1) */
    int prefixlen;               /* of the source's interface address */
    size_t order;                /* position before sorting (rule 10) */
};

/* The source address the kernel would use to reach e->ai. */
static void find_source(struct entry *e, const struct if_info *ifs, size_t n)
{
    const struct addrinfo *ai = e->ai;
    int fd = GREEN_REAL(socket)(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC,
                                IPPROTO_IP);
    socklen_t sl = sizeof(e->src);
    e->got = fd >= 0 &&
             GREEN_REAL(connect)(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
             getsockname(fd, (struct sockaddr *)&e->src, &sl) == 0;
    if (fd >= 0) {
        GREEN_REAL(close)(fd);
    }
    if (!e->got) {
        return;
    }
    struct in6_addr a = as6((struct sockaddr *)&e->src);
    if (e->src.ss_family == AF_INET && a.s6_addr[12] == 127) {
        /* glibc: on lo the source may differ from the interface's. */
        static const unsigned char lo[4] = {127, 0, 0, 1};
        memcpy(&a.s6_addr[12], lo, 4);
    }
    for (size_t i = 0; i < n; i++) {
        if (memcmp(&ifs[i].addr, &a, sizeof(a)) == 0) {
            e->prefixlen = ifs[i].prefixlen;
            break;
        }
    }
}

/* glibc's "fls": the number of leading zero bits (32 for 0). */
static int lead0(uint32_t v)
{
    return v == 0 ? 32 : __builtin_clz(v);
}

/* Rule 9: the longer prefix shared with the source wins. */
static int rule9(const struct entry *a, const struct entry *b)
{
    int b1 = 0, b2 = 0;
    const struct sockaddr *d1 = a->ai->ai_addr, *d2 = b->ai->ai_addr;
    if (d1->sa_family == AF_INET) {
        uint32_t x[4];
        const struct entry *e[2] = {a, b};
        const struct sockaddr *d[2] = {d1, d2};
        for (int k = 0; k < 2; k++) {
            uint32_t dst = ntohl(((const struct sockaddr_in *)(const void *)
                                      d[k])->sin_addr.s_addr);
            uint32_t src = ntohl(((const struct sockaddr_in *)(const void *)
                                      &e[k]->src)->sin_addr.s_addr);
            /* glibc shifts by 32 for a prefix length of 0, which x86 and
             * arm64 take as a shift by 0: an all-ones mask. */
            int pl = e[k]->prefixlen;
            uint32_t mask = pl == 0 ? 0xffffffffu : 0xffffffffu << (32 - pl);
            x[k] = (src & mask) == (dst & mask) ? (uint32_t)lead0(dst ^ src)
                                                : 0;
        }
        b1 = (int)x[0];
        b2 = (int)x[1];
    } else {
        uint32_t w[4][4];
        memcpy(w[0], &((const struct sockaddr_in6 *)(const void *)d1)->sin6_addr, 16);
        memcpy(w[1], &((const struct sockaddr_in6 *)(const void *)&a->src)->sin6_addr, 16);
        memcpy(w[2], &((const struct sockaddr_in6 *)(const void *)d2)->sin6_addr, 16);
        memcpy(w[3], &((const struct sockaddr_in6 *)(const void *)&b->src)->sin6_addr, 16);
        int i = 0;
        while (i < 4 && w[0][i] == w[1][i] && w[2][i] == w[3][i]) {
            i++;
        }
        if (i < 4) {
            b1 = lead0(ntohl(w[0][i] ^ w[1][i]));
            b2 = lead0(ntohl(w[2][i] ^ w[3][i]));
        }
    }
    return b1 > b2 ? -1 : b1 < b2 ? 1 : 0;
}

/* glibc's rfc3484_sort comparison. */
static int compare(const void *p1, const void *p2)
{
    const struct entry *a = p1, *b = p2;
    const struct sockaddr *d1 = a->ai->ai_addr, *d2 = b->ai->ai_addr;
    if (a->got != b->got) { /* rule 1 */
        return a->got ? -1 : 1;
    }
    int s1 = scope_of(d1), s2 = scope_of(d2);
    if (a->got) { /* rule 2 */
        bool m1 = s1 == scope_of((const struct sockaddr *)&a->src);
        bool m2 = s2 == scope_of((const struct sockaddr *)&b->src);
        if (m1 != m2) {
            return m1 ? -1 : 1;
        }
        /* rule 5 */
        bool l1 = match(d1, labels) ==
                  match((const struct sockaddr *)&a->src, labels);
        bool l2 = match(d2, labels) ==
                  match((const struct sockaddr *)&b->src, labels);
        if (l1 != l2) {
            return l1 ? -1 : 1;
        }
    }
    int p1v = match(d1, precedence), p2v = match(d2, precedence);
    if (p1v != p2v) { /* rule 6 */
        return p1v > p2v ? -1 : 1;
    }
    if (s1 != s2) { /* rule 8 */
        return s1 < s2 ? -1 : 1;
    }
    if (a->got && d1->sa_family == d2->sa_family) {
        int r = rule9(a, b);
        if (r != 0) {
            return r;
        }
    }
    return a->order < b->order ? -1 : 1; /* rule 10 */
}

struct addrinfo *green__dns_sort(struct addrinfo *list)
{
    size_t n = 0;
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        n++;
    }
    struct entry *e = n > 1 ? calloc(n, sizeof(*e)) : NULL;
    if (e == NULL) {
        return list;
    }
    GREEN_REAL(pthread_once)(&conf_once, load_conf);
    size_t nif;
    bool v4 = false, v6 = false;
    struct if_info *ifs = load_ifaddrs(&nif, &v4, &v6);
    struct addrinfo *ai = list;
    for (size_t i = 0; i < n; i++, ai = ai->ai_next) {
        e[i].ai = ai;
        e[i].order = i;
        if (i > 0 && ai->ai_addrlen == e[i - 1].ai->ai_addrlen &&
            memcmp(ai->ai_addr, e[i - 1].ai->ai_addr, ai->ai_addrlen) == 0) {
            e[i].src = e[i - 1].src; /* same address, other protocol */
            e[i].got = e[i - 1].got;
            e[i].prefixlen = e[i - 1].prefixlen;
        } else {
            find_source(&e[i], ifs, nif);
        }
    }
    free(ifs);
    qsort(e, n, sizeof(*e), compare);
    for (size_t i = 0; i + 1 < n; i++) {
        e[i].ai->ai_next = e[i + 1].ai;
    }
    e[n - 1].ai->ai_next = NULL;
    list = e[0].ai;
    free(e);
    return list;
}
