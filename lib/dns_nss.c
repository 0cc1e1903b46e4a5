/* SPDX-License-Identifier: MIT */
/* glibc's name service switch for hosts, with c-ares in the place of the
 * "dns" service.
 *
 * gevent's lesson: a resolver that answers differently from the system's
 * is a bug, whatever its speed. So the hosts line of /etc/nsswitch.conf is
 * read and followed as glibc follows it: services in order, each status
 * (SUCCESS, NOTFOUND, UNAVAIL, TRYAGAIN) mapped to return or continue by
 * the [...] actions. Every service but "dns" is glibc's own module, called
 * through the NSS module interface glibc itself uses (_nss_<service>_
 * gethostbyname4_r and friends; "files" lives in libc.so.6 since glibc
 * 2.34, the others in libnss_<service>.so.2). So /etc/hosts is parsed by
 * glibc's parser, with all its quirks, and myhostname, mymachines or
 * resolve answer as they would. Only "dns" is c-ares, which parks the
 * caller instead of the thread; the other modules are local and quick
 * (files, myhostname), or talk to a daemon through the program's own,
 * possibly interposed, calls (resolve, mdns).
 *
 * The line is read once per process (glibc rereads it when it changes). */
#include "internal.h"

#include "dns.h"
#include "real.h"

#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SERVICES 16

/* One service of the hosts line. */
struct service {
    char name[32];                   /* "files", "dns", "myhostname"... */
    bool dns;                        /* answered by c-ares */
    bool returns[4];                 /* by status + 2: stop the loop? */
    nss_gethostbyname4_r *byname4;   /* module functions, NULL if absent */
    nss_gethostbyname3_r *byname3;
    nss_gethostbyname2_r *byname2;
    nss_gethostbyaddr2_r *byaddr2;
    nss_gethostbyaddr_r *byaddr;
};

static struct service services[MAX_SERVICES];
static int nservices;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* --- reading the hosts line ---------------------------------------------- */

static void *module_fn(void *lib, const char *svc, const char *fn)
{
    char sym[128];
    snprintf(sym, sizeof(sym), "_nss_%.31s_%.63s", svc, fn);
    return lib != NULL ? dlsym(lib, sym) : NULL;
}

/* Finds a module's functions: "files" in libc itself first, as glibc 2.34
 * and later build it in; else libnss_<name>.so.2. */
static void load_module(struct service *s)
{
    void *lib = NULL;
    if (strcmp(s->name, "files") == 0) {
        lib = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
        if (lib != NULL && module_fn(lib, s->name, "gethostbyname3_r") == NULL) {
            lib = NULL;
        }
    }
    if (lib == NULL) {
        char so[64];
        snprintf(so, sizeof(so), "libnss_%.31s.so.2", s->name);
        lib = dlopen(so, RTLD_LAZY);
    }
    s->byname4 = (nss_gethostbyname4_r *)module_fn(lib, s->name,
                                                   "gethostbyname4_r");
    s->byname3 = (nss_gethostbyname3_r *)module_fn(lib, s->name,
                                                   "gethostbyname3_r");
    s->byname2 = (nss_gethostbyname2_r *)module_fn(lib, s->name,
                                                   "gethostbyname2_r");
    s->byaddr2 = (nss_gethostbyaddr2_r *)module_fn(lib, s->name,
                                                   "gethostbyaddr2_r");
    s->byaddr = (nss_gethostbyaddr_r *)module_fn(lib, s->name,
                                                 "gethostbyaddr_r");
}

static int status_index(const char *w, size_t n)
{
    static const char *const names[4] = {"tryagain", "unavail", "notfound",
                                         "success"};
    for (int i = 0; i < 4; i++) {
        if (strlen(names[i]) == n && strncasecmp(w, names[i], n) == 0) {
            return i;
        }
    }
    return -1;
}

/* Applies "[STATUS=action ...]" (with "!STATUS" meaning every other
 * status) to s. p points after '['; returns the position after ']'. */
static const char *parse_actions(const char *p, struct service *s)
{
    while (*p != '\0' && *p != ']') {
        p += strspn(p, " \t");
        bool neg = *p == '!';
        p += neg;
        size_t n = strcspn(p, "= \t]");
        int st = status_index(p, n);
        p += n;
        p += strspn(p, " \t");
        if (*p != '=') {
            continue;
        }
        p++;
        p += strspn(p, " \t");
        size_t an = strcspn(p, " \t]");
        bool ret = an == 6 && strncasecmp(p, "return", 6) == 0;
        p += an;
        for (int i = 0; st >= 0 && i < 4; i++) {
            if ((i == st) != neg) {
                s->returns[i] = ret;
            }
        }
    }
    return *p == ']' ? p + 1 : p;
}

/* Parses the services of a hosts line ("files dns", "files
 * mdns4_minimal [NOTFOUND=return] dns"). */
static void parse_line(const char *p)
{
    while (*p != '\0' && nservices < MAX_SERVICES) {
        p += strspn(p, " \t\n");
        if (*p == '[' && nservices > 0) {
            p = parse_actions(p + 1, &services[nservices - 1]);
            continue;
        }
        size_t n = strcspn(p, " \t\n[");
        if (n == 0) {
            break;
        }
        struct service *s = &services[nservices++];
        memset(s, 0, sizeof(*s));
        snprintf(s->name, sizeof(s->name), "%.*s", (int)n, p);
        s->returns[NSS_STATUS_SUCCESS + 2] = true;
        s->dns = strcmp(s->name, "dns") == 0;
        p += n;
    }
}

static void load(void)
{
    FILE *f = GREEN_REAL(fopen)("/etc/nsswitch.conf", "re");
    char line[1024];
    bool found = false;
    while (f != NULL && !found &&
           GREEN_REAL(fgets)(line, sizeof(line), f) != NULL) {
        char *p = line + strspn(line, " \t");
        if (strncmp(p, "hosts", 5) == 0 && p[5 + strspn(p + 5, " \t")] == ':') {
            found = true;
            parse_line(strchr(p, ':') + 1);
        }
    }
    if (f != NULL) {
        GREEN_REAL(fclose)(f);
    }
    if (!found) {
        parse_line("dns [!UNAVAIL=return] files"); /* glibc's default */
    }
    for (int i = 0; i < nservices; i++) {
        if (!services[i].dns) {
            load_module(&services[i]);
        }
    }
}

/* --- the loop ---------------------------------------------------------------- */

/* One service's lookup; returns an enum nss_status, or a negative errno
 * that ends the loop (a wait cut short). */
typedef int (*lookup_fn)(const struct service *s, void *ctx, int *err,
                         int *herrno);

static void run_loop(lookup_fn fn, void *ctx, struct green__nss_out *o)
{
    GREEN_REAL(pthread_once)(&once, load);
    o->status = NSS_STATUS_UNAVAIL;
    o->herrno = NETDB_INTERNAL;
    o->err = ENOENT;
    for (int i = 0; i < nservices; i++) {
        int err = 0, herrno = NETDB_SUCCESS;
        int st = fn(&services[i], ctx, &err, &herrno);
        if (st < NSS_STATUS_TRYAGAIN) {
            o->status = NSS_STATUS_TRYAGAIN;
            o->herrno = NETDB_INTERNAL;
            o->err = st;
            return;
        }
        o->status = st;
        o->herrno = herrno;
        o->err = err;
        if (st == NSS_STATUS_TRYAGAIN && err == ERANGE &&
            herrno == NETDB_INTERNAL) {
            return; /* the caller's buffer: glibc stops here too */
        }
        if (st >= NSS_STATUS_TRYAGAIN && st <= NSS_STATUS_SUCCESS &&
            services[i].returns[st + 2]) {
            return;
        }
    }
}

/* Calls a module with a growing buffer until it stops saying ERANGE.
 * *buf is malloc'd and kept for the caller. */
#define GROW_CALL(call, buf, buflen, err, herrno, st)                      \
    do {                                                                   \
        for (;;) {                                                         \
            st = (call);                                                   \
            if (!(st == NSS_STATUS_TRYAGAIN && err == ERANGE) ||           \
                buflen > (1u << 24)) {                                     \
                break;                                                     \
            }                                                              \
            char *nb_ = realloc(buf, buflen * 2);                          \
            if (nb_ == NULL) {                                             \
                break;                                                     \
            }                                                              \
            buf = nb_;                                                     \
            buflen *= 2;                                                   \
        }                                                                  \
    } while (0)

/* --- gethostbyname4_r ------------------------------------------------------------ */

struct byname4 {
    const char *name;
    struct green__dns_hosts *out;
};

static int take_tuples(struct green__dns_hosts *out,
                       const struct gaih_addrtuple *at)
{
    for (; at != NULL; at = at->next) {
        if (at->name != NULL && out->canon == NULL &&
            (out->canon = strdup(at->name)) == NULL) {
            return -ENOMEM;
        }
        if (green__dns_hosts_add(out, at->family, at->addr, at->scopeid)) {
            return -ENOMEM;
        }
    }
    return 0;
}

/* A module without gethostbyname4_r is asked for each family, as glibc
 * does: IPv6 first, then IPv4. */
static int byname4_fallback(const struct service *s, const char *name,
                            struct green__dns_hosts *out, int *err,
                            int *herrno);

static int byname4_one(const struct service *s, void *ctx, int *err,
                       int *herrno)
{
    struct byname4 *c = ctx;
    if (s->dns) {
        return green__dns_query_name(c->name, AF_UNSPEC, c->out, herrno);
    }
    if (s->byname4 == NULL) {
        return byname4_fallback(s, c->name, c->out, err, herrno);
    }
    size_t len = 1024;
    char *buf = malloc(len);
    struct gaih_addrtuple *at = NULL;
    int st = NSS_STATUS_UNAVAIL;
    if (buf != NULL) {
        GROW_CALL(s->byname4(c->name, &at, buf, len, err, herrno, NULL), buf,
                  len, *err, *herrno, st);
    }
    if (st == NSS_STATUS_SUCCESS && take_tuples(c->out, at) != 0) {
        st = -ENOMEM;
    }
    free(buf);
    return st;
}

void green__nss_byname4(const char *name, struct green__dns_hosts *out,
                        struct green__nss_out *o)
{
    struct byname4 c = {name, out};
    run_loop(byname4_one, &c, o);
}

/* --- gethostbyname3_r ---------------------------------------------------------- */

/* One family from one module (or c-ares) into a hostent in buf. */
static int byname3_call(const struct service *s, const char *name, int af,
                        struct hostent *ret, char *buf, size_t buflen,
                        int *err, int *herrno)
{
    if (s->dns) {
        struct green__dns_hosts h = {0};
        int st = green__dns_query_name(name, af, &h, herrno);
        if (st == NSS_STATUS_SUCCESS &&
            green__dns_pack_hostent(&h, name, af, ret, buf, buflen) != 0) {
            *err = ERANGE;
            *herrno = NETDB_INTERNAL;
            st = NSS_STATUS_TRYAGAIN;
        }
        green__dns_hosts_clear(&h);
        return st;
    }
    if (s->byname3 != NULL) {
        return s->byname3(name, af, ret, buf, buflen, err, herrno, NULL,
                          NULL);
    }
    if (s->byname2 != NULL) {
        return s->byname2(name, af, ret, buf, buflen, err, herrno);
    }
    *herrno = NETDB_INTERNAL;
    *err = ENOENT;
    return NSS_STATUS_UNAVAIL;
}

struct byname3 {
    const char *name;
    int af;
    struct hostent *ret;
    char *buf;
    size_t buflen;
};

static int byname3_one(const struct service *s, void *ctx, int *err,
                       int *herrno)
{
    struct byname3 *c = ctx;
    return byname3_call(s, c->name, c->af, c->ret, c->buf, c->buflen, err,
                        herrno);
}

void green__nss_byname3(const char *name, int af, struct hostent *ret,
                        char *buf, size_t buflen, struct green__nss_out *o)
{
    struct byname3 c = {name, af, ret, buf, buflen};
    run_loop(byname3_one, &c, o);
}

/* Appends a hostent's addresses (IPv4 ones as ::ffff:a.b.c.d if map) and,
 * for the first, its name as the canonical name. */
static int take_hostent(struct green__dns_hosts *out, const struct hostent *h,
                        bool map)
{
    if (out->canon == NULL && h->h_name != NULL &&
        (out->canon = strdup(h->h_name)) == NULL) {
        return -ENOMEM;
    }
    for (char **a = h->h_addr_list; *a != NULL; a++) {
        unsigned char m[16] = {[10] = 0xff, [11] = 0xff};
        int r;
        if (map && h->h_addrtype == AF_INET) {
            memcpy(m + 12, *a, 4);
            r = green__dns_hosts_add(out, AF_INET6, m, 0);
        } else {
            r = green__dns_hosts_add(out, h->h_addrtype, *a, 0);
        }
        if (r != 0) {
            return r;
        }
    }
    return 0;
}

/* One family of one service into out, with a buffer of its own. */
static int byname3_into(const struct service *s, const char *name, int af,
                        bool map, struct green__dns_hosts *out, int *err,
                        int *herrno)
{
    size_t len = 1024;
    char *buf = malloc(len);
    struct hostent he;
    int st = NSS_STATUS_UNAVAIL;
    if (buf == NULL) {
        return -ENOMEM;
    }
    GROW_CALL(byname3_call(s, name, af, &he, buf, len, err, herrno), buf,
              len, *err, *herrno, st);
    if (st == NSS_STATUS_SUCCESS && take_hostent(out, &he, map) != 0) {
        st = -ENOMEM;
    }
    free(buf);
    return st;
}

static int byname4_fallback(const struct service *s, const char *name,
                            struct green__dns_hosts *out, int *err,
                            int *herrno)
{
    int st6 = byname3_into(s, name, AF_INET6, false, out, err, herrno);
    if (st6 < NSS_STATUS_TRYAGAIN) {
        return st6;
    }
    int e6 = *herrno;
    int st4 = byname3_into(s, name, AF_INET, false, out, err, herrno);
    if (st4 < NSS_STATUS_TRYAGAIN || st4 == NSS_STATUS_SUCCESS) {
        return st4;
    }
    if (st6 == NSS_STATUS_SUCCESS) {
        *herrno = 0;
        return st6;
    }
    if (st6 == NSS_STATUS_TRYAGAIN) {
        *herrno = e6;
        return st6;
    }
    return st4;
}

/* getaddrinfo with one family: glibc's get_nss_addresses without
 * gethostbyname4_r. */
struct gai3 {
    const char *name;
    int af;
    bool v4mapped, all;
    struct green__dns_hosts *out;
};

static int gai3_one(const struct service *s, void *ctx, int *err,
                    int *herrno)
{
    struct gai3 *c = ctx;
    size_t before = c->out->n;
    int st = byname3_into(s, c->name, c->af, false, c->out, err, herrno);
    if (st < NSS_STATUS_TRYAGAIN) {
        return st;
    }
    if (c->af == AF_INET6 && c->v4mapped && (c->all || c->out->n == before)) {
        int e = *err, h = *herrno;
        int st4 = byname3_into(s, c->name, AF_INET, true, c->out, err, herrno);
        if (st4 < NSS_STATUS_TRYAGAIN) {
            return st4;
        }
        if (st == NSS_STATUS_SUCCESS || st4 == NSS_STATUS_SUCCESS) {
            return NSS_STATUS_SUCCESS;
        }
        if (st == NSS_STATUS_TRYAGAIN) {
            *err = e;
            *herrno = h;
            return st;
        }
        return st4;
    }
    return st;
}

void green__nss_byname_gai(const char *name, int af, bool v4mapped,
                           bool all, struct green__dns_hosts *out,
                           struct green__nss_out *o)
{
    struct gai3 c = {name, af, v4mapped, all, out};
    run_loop(gai3_one, &c, o);
}

/* --- gethostbyaddr2_r ---------------------------------------------------------- */

struct byaddr {
    const void *addr;
    socklen_t len;
    int af;
    struct hostent *ret;
    char *buf;
    size_t buflen;
};

static int byaddr_one(const struct service *s, void *ctx, int *err,
                      int *herrno)
{
    struct byaddr *c = ctx;
    if (s->dns) {
        struct green__dns_hosts h = {0};
        int st = green__dns_query_addr(c->addr, c->len, c->af, &h, herrno);
        if (st == NSS_STATUS_SUCCESS &&
            green__dns_pack_hostent(&h, h.canon, c->af, c->ret, c->buf,
                                    c->buflen) != 0) {
            *err = ERANGE;
            *herrno = NETDB_INTERNAL;
            st = NSS_STATUS_TRYAGAIN;
        }
        green__dns_hosts_clear(&h);
        return st;
    }
    if (s->byaddr2 != NULL) {
        return s->byaddr2(c->addr, c->len, c->af, c->ret, c->buf, c->buflen,
                          err, herrno, NULL);
    }
    if (s->byaddr != NULL) {
        return s->byaddr(c->addr, c->len, c->af, c->ret, c->buf, c->buflen,
                         err, herrno);
    }
    *herrno = NETDB_INTERNAL;
    *err = ENOENT;
    return NSS_STATUS_UNAVAIL;
}

void green__nss_byaddr(const void *addr, socklen_t len, int af,
                       struct hostent *ret, char *buf, size_t buflen,
                       struct green__nss_out *o)
{
    struct byaddr c = {addr, len, af, ret, buf, buflen};
    run_loop(byaddr_one, &c, o);
}

/* --- packing a hostent ------------------------------------------------------------ */

/* Carves n bytes aligned to `align` from *p (up to end), or NULL. */
static void *carve(char **p, char *end, size_t n, size_t align)
{
    uintptr_t a = ((uintptr_t)*p + align - 1) & ~(uintptr_t)(align - 1);
    if (a > (uintptr_t)end || (uintptr_t)end - a < n) {
        return NULL;
    }
    *p = (char *)a + n;
    return (void *)a;
}

static char *carve_str(char **p, char *end, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = carve(p, end, n, 1);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

int green__dns_pack_hostent(const struct green__dns_hosts *h,
                            const char *name, int af, struct hostent *ret,
                            char *buf, size_t buflen)
{
    char *p = buf, *end = buf + buflen;
    size_t alen = af == AF_INET6 ? 16 : 4, n = 0;
    for (size_t i = 0; i < h->n; i++) {
        n += h->addrs[i].family == af;
    }
    char **addrs = carve(&p, end, (n + 1) * sizeof(char *), sizeof(char *));
    char **aliases = carve(&p, end, (h->naliases + 1) * sizeof(char *),
                           sizeof(char *));
    if (addrs == NULL || aliases == NULL) {
        return -ERANGE;
    }
    size_t k = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (h->addrs[i].family == af) {
            if ((addrs[k] = carve(&p, end, alen, 4)) == NULL) {
                return -ERANGE;
            }
            memcpy(addrs[k++], h->addrs[i].bytes, alen);
        }
    }
    addrs[k] = NULL;
    for (size_t i = 0; i < h->naliases; i++) {
        if ((aliases[i] = carve_str(&p, end, h->aliases[i])) == NULL) {
            return -ERANGE;
        }
    }
    aliases[h->naliases] = NULL;
    const char *canon = h->canon != NULL ? h->canon : name;
    if ((ret->h_name = carve_str(&p, end, canon != NULL ? canon : "")) ==
        NULL) {
        return -ERANGE;
    }
    ret->h_aliases = aliases;
    ret->h_addrtype = af;
    ret->h_length = (int)alen;
    ret->h_addr_list = addrs;
    return 0;
}
