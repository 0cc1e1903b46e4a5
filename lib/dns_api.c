/* SPDX-License-Identifier: MIT */
/* The public DNS calls: getaddrinfo, getnameinfo, gethostbyname2_r and
 * gethostbyaddr_r as glibc answers them, with only the name service part
 * (dns_nss.c) made cooperative.
 *
 * Whatever needs no name service goes to glibc itself, so that it cannot
 * differ: numeric hosts, a NULL host, the wildcard "*", services and
 * socket types (glibc expands them for a numeric probe address, and the
 * entries for each address found are built from that template), numeric
 * host output of getnameinfo, digits-and-dots names of gethostbyname.
 *
 * Lists come in two kinds: glibc's (passed through) and ours. Ours are one
 * block per entry: the addrinfo, a magic word, the socket address; the
 * entry's ai_addr points past the magic, which no glibc list does (glibc
 * puts the address right after the addrinfo), so green_freeaddrinfo can
 * tell them apart without reading outside either allocation. */
#include "internal.h"

#include "dns.h"
#include "green/error.h"
#include "real.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NODE_MAGIC 0x736e646e65657267ull /* "greendns" */

/* One entry of a list made here. */
struct node {
    struct addrinfo ai;
    uint64_t magic;
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } sa;
};

/* glibc's accepted getaddrinfo flags (AI_IDN and friends included). */
#define GAI_FLAGS                                                          \
    (AI_PASSIVE | AI_CANONNAME | AI_NUMERICHOST | AI_ADDRCONFIG |          \
     AI_V4MAPPED | AI_ALL | AI_NUMERICSERV | AI_IDN | AI_CANONIDN | 0x0300)

/* --- errors --------------------------------------------------------------- */

int green_dns_eai(int err)
{
    if (err == 0) {
        return 0;
    }
    return GREEN_IS_EAI(err) ? err - GREEN_EAI_BASE : EAI_SYSTEM;
}

const char *green_dns_strerror(int err)
{
    return green_strerror(err); /* every errno and resolver code */
}

/* A glibc getaddrinfo/getnameinfo return value as ours. */
static int from_eai(int rc)
{
    if (rc == 0) {
        return 0;
    }
    if (rc == EAI_SYSTEM) {
        return errno != 0 ? -errno : -EIO;
    }
    return rc == EAI_MEMORY ? -ENOMEM : GREEN_EAI(rc);
}

static int real_gai(const char *node, const char *service,
                    const struct addrinfo *hints, struct addrinfo **res)
{
    errno = 0;
    int rc = GREEN_REAL(getaddrinfo)(node, service, hints, res);
    return from_eai(rc);
}

/* --- lists ------------------------------------------------------------------ */

static bool ours(const struct addrinfo *ai)
{
    const struct node *n = (const struct node *)(const void *)ai;
    return ai->ai_addr == (const struct sockaddr *)(const void *)&n->sa &&
           n->magic == NODE_MAGIC;
}

void green_freeaddrinfo(struct addrinfo *ai)
{
    if (ai != NULL && !ours(ai)) {
        GREEN_REAL(freeaddrinfo)(ai);
        return;
    }
    while (ai != NULL) {
        struct addrinfo *next = ai->ai_next;
        free(ai->ai_canonname);
        free(ai);
        ai = next;
    }
}

/* An entry for address a shaped like template t (socket type, protocol,
 * port); IPv4 addresses become ::ffff:a.b.c.d when af is AF_INET6. */
static struct addrinfo *make_node(const struct green__dns_addr *a,
                                  const struct addrinfo *t, int flags)
{
    struct node *n = calloc(1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    in_port_t port = t->ai_family == AF_INET6
                         ? ((struct sockaddr_in6 *)(void *)t->ai_addr)->sin6_port
                         : ((struct sockaddr_in *)(void *)t->ai_addr)->sin_port;
    n->magic = NODE_MAGIC;
    n->ai.ai_flags = flags;
    n->ai.ai_family = a->family;
    n->ai.ai_socktype = t->ai_socktype;
    n->ai.ai_protocol = t->ai_protocol;
    n->ai.ai_addr = (struct sockaddr *)(void *)&n->sa;
    if (a->family == AF_INET6) {
        n->sa.in6.sin6_family = AF_INET6;
        n->sa.in6.sin6_port = port;
        n->sa.in6.sin6_scope_id = a->scope;
        memcpy(&n->sa.in6.sin6_addr, a->bytes, 16);
        n->ai.ai_addrlen = sizeof(n->sa.in6);
    } else {
        n->sa.in.sin_family = AF_INET;
        n->sa.in.sin_port = port;
        memcpy(&n->sa.in.sin_addr, a->bytes, 4);
        n->ai.ai_addrlen = sizeof(n->sa.in);
    }
    return &n->ai;
}

/* Builds the list: every address times every template entry, sorted, the
 * canonical name on the first entry. */
static int build(const struct green__dns_hosts *h, const struct addrinfo *tmpl,
                 int flags, const char *name, struct addrinfo **res)
{
    struct addrinfo *head = NULL, **tail = &head;
    for (size_t i = 0; i < h->n; i++) {
        for (const struct addrinfo *t = tmpl; t != NULL; t = t->ai_next) {
            if ((*tail = make_node(&h->addrs[i], t, flags)) == NULL) {
                green_freeaddrinfo(head);
                return -ENOMEM;
            }
            tail = &(*tail)->ai_next;
        }
    }
    head = green__dns_sort(head);
    if (head != NULL && (flags & AI_CANONNAME)) {
        const char *c = h->canon != NULL ? h->canon : name;
        if ((head->ai_canonname = strdup(c)) == NULL) {
            green_freeaddrinfo(head);
            return -ENOMEM;
        }
    }
    *res = head;
    return 0;
}

/* --- getaddrinfo ------------------------------------------------------------- */

/* Whether glibc takes name as a numeric address, and so never asks a name
 * service (an IPv4 address in any inet_aton form, exactly; an IPv6 address
 * with an optional %scope). */
static bool numeric_host(const char *name)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strpbrk(name, " \t\n\v\f\r") == NULL && inet_aton(name, &a4) != 0) {
        return true;
    }
    char buf[INET6_ADDRSTRLEN + 1];
    size_t n = strcspn(name, "%");
    if (n >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, name, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, &a6) == 1;
}

/* glibc's AI_ADDRCONFIG: narrows AF_UNSPEC to the one family configured,
 * or fails a family that is not. */
static int addrconfig(int *af)
{
    bool v4, v6;
    green__dns_seen(&v4, &v6);
    if (*af == AF_UNSPEC && (v4 || v6)) {
        if (v4 != v6) {
            *af = v4 ? AF_INET : AF_INET6;
        }
    } else if ((*af == AF_INET && !v4) || (*af == AF_INET6 && !v6)) {
        return GREEN_EAI(EAI_NONAME);
    }
    return 0;
}

/* The error getaddrinfo returns when the name services found nothing. */
static int not_found(const struct green__nss_out *o)
{
    if (o->err < 0) {
        return o->err; /* the wait was cut short */
    }
    switch (o->herrno) {
    case TRY_AGAIN:
        return GREEN_EAI(EAI_AGAIN);
    case NO_DATA:
        return GREEN_EAI(EAI_NODATA);
    case NETDB_INTERNAL:
        if (o->status == NSS_STATUS_TRYAGAIN || o->status == NSS_STATUS_UNAVAIL) {
            return o->err > 0 && o->err != ENOENT ? -o->err
                                                  : GREEN_EAI(EAI_NONAME);
        }
        return GREEN_EAI(EAI_NONAME);
    default:
        return GREEN_EAI(EAI_NONAME);
    }
}

static int lookup(const char *name, int af, int flags,
                  struct green__dns_hosts *h)
{
    struct green__nss_out o;
    if (af == AF_UNSPEC) {
        green__nss_byname4(name, h, &o);
    } else {
        green__nss_byname_gai(name, af, (flags & AI_V4MAPPED) != 0,
                              (flags & AI_ALL) != 0, h, &o);
    }
    if (o.err < 0) {
        return o.err;
    }
    return h->n > 0 ? 0 : not_found(&o);
}

int green_getaddrinfo(const char *node, const char *service,
                      const struct addrinfo *hints, struct addrinfo **res)
{
    if (res == NULL) {
        return -EINVAL;
    }
    *res = NULL;
    if (node == NULL || strcmp(node, "*") == 0 || numeric_host(node)) {
        return real_gai(node, service, hints, res);
    }
    struct addrinfo h = {.ai_flags = AI_V4MAPPED | AI_ADDRCONFIG};
    if (hints != NULL) {
        h = *hints;
    }
    if (h.ai_flags & ~GAI_FLAGS) {
        return GREEN_EAI(EAI_BADFLAGS);
    }
    int af = h.ai_family, r;
    if (af != AF_UNSPEC && af != AF_INET && af != AF_INET6) {
        return GREEN_EAI(EAI_FAMILY);
    }
    if ((h.ai_flags & AI_ADDRCONFIG) && (r = addrconfig(&af)) != 0) {
        return r;
    }
    /* Services and socket types, checked before the name as glibc does,
     * and the template of the entries each address gets. */
    struct addrinfo probe = {
        .ai_flags = (h.ai_flags & ~(AI_CANONNAME | AI_ADDRCONFIG)) |
                    AI_NUMERICHOST,
        .ai_family = af,
        .ai_socktype = h.ai_socktype,
        .ai_protocol = h.ai_protocol,
    };
    struct addrinfo *tmpl;
    r = real_gai(af == AF_INET6 ? "::1" : "127.0.0.1", service, &probe, &tmpl);
    if (r != 0) {
        return r;
    }
    if (h.ai_flags & AI_NUMERICHOST) {
        GREEN_REAL(freeaddrinfo)(tmpl);
        return GREEN_EAI(EAI_NONAME);
    }
    struct green__dns_hosts found = {0};
    r = lookup(node, af, h.ai_flags, &found);
    if (r == 0) {
        r = build(&found, tmpl, h.ai_flags, node, res);
    }
    green__dns_hosts_clear(&found);
    GREEN_REAL(freeaddrinfo)(tmpl);
    return r;
}

/* --- gethostbyname2_r, gethostbyaddr_r ------------------------------------- */

/* glibc's __nss_hostname_digits_dots test: such names never reach a name
 * service, so glibc's own call answers them without blocking. */
static bool digits_dots(const char *name)
{
    if (name[0] >= '0' && name[0] <= '9') {
        return strspn(name, "0123456789.") == strlen(name);
    }
    return strchr(name, ':') != NULL &&
           strspn(name, "0123456789abcdefABCDEF:.") == strlen(name);
}

/* Our return code for the outcome of a hostent loop. */
static int hostent_result(const struct green__nss_out *o, struct hostent *ret,
                          struct hostent **result, int *h_errnop)
{
    /* The module's h_errno even on success (glibc's files module leaves
     * HOST_NOT_FOUND there), as glibc passes it on. */
    int herrno = o->herrno;
    if (o->err < 0) {
        herrno = NETDB_INTERNAL;
    }
    if (h_errnop != NULL) {
        *h_errnop = herrno;
    }
    *result = o->status == NSS_STATUS_SUCCESS && o->err >= 0 ? ret : NULL;
    if (*result != NULL) {
        return 0;
    }
    if (o->err < 0) {
        return o->err;
    }
    switch (herrno) {
    case HOST_NOT_FOUND:
        return GREEN_EAI(EAI_NONAME);
    case NO_DATA:
        return GREEN_EAI(EAI_NODATA);
    case TRY_AGAIN:
        return GREEN_EAI(EAI_AGAIN);
    case NO_RECOVERY:
        return GREEN_EAI(EAI_FAIL);
    default:
        return o->err > 0 && o->err != ENOENT ? -o->err
                                              : GREEN_EAI(EAI_NONAME);
    }
}

/* A glibc _r call's result as ours. */
static int from_r(int rc, struct hostent *r, int herrno)
{
    if (rc != 0) {
        return -rc;
    }
    if (r != NULL) {
        return 0;
    }
    switch (herrno) {
    case NO_DATA:
        return GREEN_EAI(EAI_NODATA);
    case TRY_AGAIN:
        return GREEN_EAI(EAI_AGAIN);
    case NO_RECOVERY:
        return GREEN_EAI(EAI_FAIL);
    default:
        return GREEN_EAI(EAI_NONAME);
    }
}

int green_gethostbyname_r(const char *name, int af, struct hostent *ret,
                          char *buf, size_t buflen, struct hostent **result,
                          int *h_errnop)
{
    if (name == NULL || ret == NULL || buf == NULL || result == NULL) {
        return -EINVAL;
    }
    if ((af != AF_INET && af != AF_INET6) || digits_dots(name)) {
        int herrno = 0;
        int rc = GREEN_REAL(gethostbyname2_r)(name, af, ret, buf, buflen,
                                              result, &herrno);
        if (h_errnop != NULL) {
            *h_errnop = herrno;
        }
        return from_r(rc, *result, herrno);
    }
    struct green__nss_out o;
    green__nss_byname3(name, af, ret, buf, buflen, &o);
    return hostent_result(&o, ret, result, h_errnop);
}

int green_gethostbyaddr_r(const void *addr, socklen_t len, int af,
                          struct hostent *ret, char *buf, size_t buflen,
                          struct hostent **result, int *h_errnop)
{
    if (addr == NULL || ret == NULL || buf == NULL || result == NULL) {
        return -EINVAL;
    }
    bool ok = (af == AF_INET && len == 4) ||
              (af == AF_INET6 && len == 16 &&
               !IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)addr));
    if (!ok) {
        int herrno = 0;
        int rc = GREEN_REAL(gethostbyaddr_r)(addr, len, af, ret, buf, buflen,
                                             result, &herrno);
        if (h_errnop != NULL) {
            *h_errnop = herrno;
        }
        return from_r(rc, *result, herrno);
    }
    struct green__nss_out o;
    green__nss_byaddr(addr, len, af, ret, buf, buflen, &o);
    return hostent_result(&o, ret, result, h_errnop);
}

/* --- getnameinfo -------------------------------------------------------------- */

/* NI_NOFQDN: drops the local domain (that of gethostname()). */
static void strip_local_domain(char *name)
{
    char self[256];
    if (gethostname(self, sizeof(self)) != 0) {
        return;
    }
    self[sizeof(self) - 1] = '\0';
    const char *dom = strchr(self, '.');
    char *at = dom != NULL ? strstr(name, dom + 1) : NULL;
    if (at != NULL && at != name && at[-1] == '.') {
        at[-1] = '\0';
    }
}

/* The reverse lookup: 0 with the name in host, or an error. */
static int name_of(const struct sockaddr *sa, char *host, socklen_t hostlen,
                   int flags)
{
    const void *addr;
    socklen_t len;
    if (sa->sa_family == AF_INET) {
        addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        len = 4;
    } else {
        addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        len = 16;
    }
    size_t buflen = 1024;
    char *buf = NULL;
    struct hostent he, *hp = NULL;
    int herrno, r;
    do {
        char *nb = realloc(buf, buflen *= 2);
        if (nb == NULL) {
            free(buf);
            return -ENOMEM;
        }
        buf = nb;
        r = green_gethostbyaddr_r(addr, len, sa->sa_family, &he, buf, buflen,
                                  &hp, &herrno);
    } while (r == -ERANGE && buflen < (1u << 20));
    if (r == 0) {
        if (flags & NI_NOFQDN) {
            strip_local_domain(he.h_name);
        }
        size_t n = strlen(he.h_name);
        r = n < hostlen ? 0 : GREEN_EAI(EAI_OVERFLOW);
        if (r == 0) {
            memcpy(host, he.h_name, n + 1);
        }
    } else if (r == GREEN_EAI(EAI_NODATA) || r == GREEN_EAI(EAI_FAIL)) {
        r = GREEN_EAI(EAI_NONAME);
    }
    free(buf);
    return r;
}

int green_getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host,
                      socklen_t hostlen, char *serv, socklen_t servlen,
                      int flags)
{
    bool lookup_name = host != NULL && hostlen > 0 && sa != NULL &&
                       !(flags & NI_NUMERICHOST) &&
                       ((sa->sa_family == AF_INET &&
                         salen >= sizeof(struct sockaddr_in)) ||
                        (sa->sa_family == AF_INET6 &&
                         salen >= sizeof(struct sockaddr_in6)));
    if (!lookup_name) {
        errno = 0;
        return from_eai(GREEN_REAL(getnameinfo)(sa, salen, host, hostlen,
                                                serv, servlen, flags));
    }
    /* glibc's checks, the service and the numeric form first. */
    char numeric[NI_MAXHOST];
    errno = 0;
    int r = from_eai(GREEN_REAL(getnameinfo)(
        sa, salen, numeric, sizeof(numeric), serv, servlen,
        (flags & ~NI_NAMEREQD) | NI_NUMERICHOST));
    if (r != 0) {
        return r;
    }
    r = name_of(sa, host, hostlen, flags);
    if (r != GREEN_EAI(EAI_NONAME)) {
        return r;
    }
    if (flags & NI_NAMEREQD) {
        return r;
    }
    size_t n = strlen(numeric);
    if (n >= hostlen) {
        return GREEN_EAI(EAI_OVERFLOW);
    }
    memcpy(host, numeric, n + 1);
    return 0;
}
