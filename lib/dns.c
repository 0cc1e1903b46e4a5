/* SPDX-License-Identifier: MIT */
/* DNS queries through c-ares, driven by the hub.
 *
 * Each OS thread has one c-ares channel, made on its first query (that is
 * when GREEN_DNS_SERVERS and /etc/resolv.conf are read) and destroyed when
 * the thread exits. c-ares opens its sockets through the real libc calls
 * (ares_set_socket_functions), never through the preload's interposers,
 * and reports each socket it wants watched through its socket state
 * callback: those go into one epoll set, so that the hub needs to watch a
 * single fd however many sockets c-ares has (one per server, TCP for
 * truncated answers).
 *
 * Who drives. A lookup starts its c-ares queries and parks. While any
 * query is unanswered, one driver task runs: it waits on the epoll fd (at
 * most until ares_timeout()), lets c-ares read what arrived and handle its
 * timeouts, and ends when nothing is pending. c-ares' callbacks store the
 * answers and wake the parked callers. So N lookups from N greenlets are in
 * flight at once and nothing polls. (Rejected: letting the waiting callers
 * take turns at driving needs a hand-over every time the driver's own
 * lookup ends or is cancelled; one task is simpler.)
 *
 * Giving up. A caller whose wait ends early (killed: -ECANCELED; a timeout
 * scope: -ETIMEDOUT) leaves its query record behind, marked abandoned:
 * c-ares still holds a pointer to it, and the callback frees it when the
 * answer, c-ares' own timeout or the channel's destruction comes. */
#include "internal.h"

#include "dns.h"
#include "green/io.h"
#include "green/task.h"
#include "config.h"
#include "real.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

/* The channel of one OS thread. */
struct chan {
    ares_channel ares;   /* NULL if c-ares could not be set up */
    int epfd;            /* epoll set of c-ares' sockets, or -1 */
    size_t pending;      /* c-ares queries whose callback has not run */
    bool driving;        /* the driver task runs */
    bool dying;          /* being destroyed: callbacks must not wake */
    pid_t pid;           /* the process that made it (fork check) */
};

/* One lookup: up to two c-ares queries (A and AAAA) answered into it. */
struct query {
    struct greenlet *waiter; /* the parked caller; NULL once abandoned */
    int left;                /* queries whose callback has not run */
    struct slot {
        struct query *q;
        int type;                    /* T_A, T_AAAA, or 0 for PTR */
        int status;                  /* ARES_* */
        struct green__dns_hosts out; /* what it found */
    } slot[2];
};

static pthread_key_t chan_key;
static pthread_once_t chan_once = PTHREAD_ONCE_INIT;

/* --- the real socket calls for c-ares ------------------------------------ */

static ares_socket_t real_socket(int af, int type, int proto, void *data)
{
    return GREEN_REAL(socket)(af, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
                              proto);
}

static int real_close(ares_socket_t fd, void *data)
{
    return GREEN_REAL(close)(fd);
}

static int real_connect(ares_socket_t fd, const struct sockaddr *sa,
                        ares_socklen_t len, void *data)
{
    return GREEN_REAL(connect)(fd, sa, len);
}

static ares_ssize_t real_recvfrom(ares_socket_t fd, void *buf, size_t n,
                                  int flags, struct sockaddr *from,
                                  ares_socklen_t *len, void *data)
{
    return GREEN_REAL(recvfrom)(fd, buf, n, flags, from, len);
}

static ares_ssize_t real_sendv(ares_socket_t fd, const struct iovec *iov,
                               int n, void *data)
{
    return GREEN_REAL(writev)(fd, iov, n);
}

static const struct ares_socket_functions real_funcs = {
    real_socket, real_close, real_connect, real_recvfrom, real_sendv,
};

/* c-ares' socket state callback: keep the epoll set in step. */
static void sock_state(void *data, ares_socket_t fd, int readable,
                       int writable)
{
    struct chan *c = data;
    if (c->epfd < 0) {
        return;
    }
    if (!readable && !writable) {
        epoll_ctl(c->epfd, EPOLL_CTL_DEL, fd, NULL);
        return;
    }
    struct epoll_event ev = {
        .events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u),
        .data.fd = fd,
    };
    if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, fd, &ev) != 0) {
        epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev);
    }
}

/* --- configuration --------------------------------------------------------- */

/* Whether resolv.conf or RES_OPTIONS set `opt` ("timeout:", "attempts:"):
 * then c-ares reads it itself; otherwise glibc's default applies. */
static bool resolv_sets(const char *opt)
{
    const char *env = getenv("RES_OPTIONS");
    if (env != NULL && strstr(env, opt) != NULL) {
        return true;
    }
    FILE *f = GREEN_REAL(fopen)("/etc/resolv.conf", "re");
    char line[512];
    bool found = false;
    while (f != NULL && !found &&
           GREEN_REAL(fgets)(line, sizeof(line), f) != NULL) {
        found = strncmp(line, "options", 7) == 0 && strstr(line, opt);
    }
    if (f != NULL) {
        GREEN_REAL(fclose)(f);
    }
    return found;
}

/* Whether one entry of GREEN_DNS_SERVERS is an address with an optional
 * port in 1..65535: 1.2.3.4, 1.2.3.4:53, ::1, [::1], [::1]:53. c-ares
 * itself would take a port such as 99999 and truncate it. */
static bool server_ok(const char *e, size_t n)
{
    const char *end = e + n, *host = e, *port = NULL;
    size_t hlen = n;
    int family = AF_INET;
    if (n > 0 && e[0] == '[') {
        const char *close = memchr(e, ']', n);
        if (close == NULL) {
            return false;
        }
        host = e + 1;
        hlen = (size_t)(close - host);
        family = AF_INET6;
        if (close + 1 != end) {
            if (close[1] != ':') {
                return false;
            }
            port = close + 2;
        }
    } else {
        const char *colon = memchr(e, ':', n);
        if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1))) {
            family = AF_INET6; /* a bare IPv6 address: no port */
        } else if (colon != NULL) {
            hlen = (size_t)(colon - e);
            port = colon + 1;
        }
    }
    char buf[INET6_ADDRSTRLEN + 1];
    unsigned char addr[sizeof(struct in6_addr)];
    if (hlen == 0 || hlen >= sizeof(buf)) {
        return false;
    }
    memcpy(buf, host, hlen);
    buf[hlen] = '\0';
    if (inet_pton(family, buf, addr) != 1) {
        return false;
    }
    if (port == NULL) {
        return true;
    }
    long v = 0;
    if (port == end) {
        return false;
    }
    for (const char *p = port; p < end; p++) {
        if (*p < '0' || *p > '9' || (v = v * 10 + (*p - '0')) > 65535) {
            return false;
        }
    }
    return v >= 1;
}

/* GREEN_DNS_SERVERS=ip:port,... replaces the servers; a bad value is
 * reported (lib/config.c's rule) and /etc/resolv.conf's servers stay. */
static void apply_servers_env(ares_channel ch)
{
    const char *v = green__getenv("GREEN_DNS_SERVERS");
    if (v == NULL) {
        return;
    }
    bool ok = *v != '\0';
    for (const char *e = v; ok && *e != '\0';) {
        size_t n = strcspn(e, ",");
        ok = server_ok(e, n);
        e += n + (e[n] == ',');
        ok = ok && !(e[-1] == ',' && *e == '\0'); /* no trailing comma */
    }
    if (ok && ares_set_servers_ports_csv(ch, v) == ARES_SUCCESS) {
        return;
    }
    static int said; /* each OS thread's channel reads it: say it once */
    if (__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED) != 0) {
        return;
    }
    green__env_invalid("GREEN_DNS_SERVERS", v,
                       "addresses with optional ports in 1-65535, like "
                       "127.0.0.1:5353,[::1]:53",
                       "/etc/resolv.conf's servers");
}

static void chan_destroy(void *arg)
{
    struct chan *c = arg;
    c->dying = true;
    if (c->ares != NULL) {
        ares_destroy(c->ares); /* runs the callbacks: ARES_EDESTRUCTION */
    }
    if (c->epfd >= 0) {
        /* The hub may already be gone at thread exit. */
        if (green__thread_peek() != NULL && getpid() == c->pid) {
            green_close(c->epfd);
        } else {
            GREEN_REAL(close)(c->epfd);
        }
    }
    struct green__thread *t = green__thread_peek();
    if (t != NULL && t->dns_chan == c) {
        t->dns_chan = NULL;
    }
    free(c);
}

static void make_key(void)
{
    ares_library_init(ARES_LIB_INIT_ALL);
    GREEN_REAL(pthread_key_create)(&chan_key, chan_destroy);
}

static int chan_init(struct chan *c)
{
    c->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (c->epfd < 0) {
        return -errno;
    }
    struct ares_options o = {.sock_state_cb = sock_state,
                             .sock_state_cb_data = c,
                             .lookups = (char *)"b"};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS;
    if (!resolv_sets("timeout:")) {
        o.timeout = 5000; /* glibc's RES_TIMEOUT */
        mask |= ARES_OPT_TIMEOUTMS;
    }
    if (!resolv_sets("attempts:")) {
        o.tries = 2; /* glibc's RES_DFLRETRY */
        mask |= ARES_OPT_TRIES;
    }
    int r = ares_init_options(&c->ares, &o, mask);
    if (r != ARES_SUCCESS) {
        c->ares = NULL;
        return r == ARES_ENOMEM ? -ENOMEM : -EIO;
    }
    ares_set_socket_functions(c->ares, &real_funcs, c);
    apply_servers_env(c->ares);
    return 0;
}

/* The calling thread's channel, made on first use (again after a fork:
 * the parent's sockets and queries are not the child's). */
static int chan_get(struct chan **out)
{
    struct green__thread *t = green__thread_get();
    if (t == NULL) {
        return -ENOMEM;
    }
    struct chan *c = t->dns_chan; /* per OS thread, in its state */
    if (c != NULL && c->pid != getpid()) {
        c->epfd = -1; /* the hub forgot it; not ours to close twice */
        chan_destroy(c);
        c = NULL;
    }
    if (c == NULL) {
        GREEN_REAL(pthread_once)(&chan_once, make_key);
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            return -ENOMEM;
        }
        c->pid = getpid();
        int r = chan_init(c);
        if (r != 0) {
            chan_destroy(c);
            return r;
        }
        t->dns_chan = c;
        GREEN_REAL(pthread_setspecific)(chan_key, c);
    }
    *out = c;
    return 0;
}

/* --- the driver ------------------------------------------------------------ */

/* Lets c-ares read whatever is ready and handle its timeouts. */
static void process(struct chan *c)
{
    struct epoll_event ev[16];
    int n = GREEN_REAL(epoll_wait)(c->epfd, ev, 16, 0);
    for (int i = 0; i < n; i++) {
        bool rd = ev[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP);
        bool wr = ev[i].events & EPOLLOUT;
        ares_process_fd(c->ares, rd ? ev[i].data.fd : ARES_SOCKET_BAD,
                        wr ? ev[i].data.fd : ARES_SOCKET_BAD);
    }
    if (n <= 0) {
        ares_process_fd(c->ares, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    }
}

static void *drive(void *arg)
{
    struct chan *c = arg;
    while (c->pending > 0 && !c->dying) {
        struct timeval tv, *tp = ares_timeout(c->ares, NULL, &tv);
        double t = tp != NULL ? (double)tv.tv_sec + tv.tv_usec / 1e6
                              : GREEN_FOREVER;
        if (t < 0.001) {
            t = 0.001; /* c-ares rounds down; do not spin on a 0 */
        }
        int r = green_wait_fd(c->epfd, POLLIN, t);
        if (r < 0 && r != -ETIMEDOUT) {
            break; /* killed, or the hub is going away */
        }
        process(c);
    }
    c->driving = false;
    return NULL;
}

static int start_driver(struct chan *c)
{
    if (c->driving || c->pending == 0) {
        return 0;
    }
    green_spawn_opts_t o = {.name = "dns driver"};
    int r = green_spawn_ex(NULL, drive, c, &o);
    if (r == 0) {
        c->driving = true;
    }
    return r;
}

/* --- queries ---------------------------------------------------------------- */

static void query_free(struct query *q)
{
    for (int i = 0; i < 2; i++) {
        green__dns_hosts_clear(&q->slot[i].out);
    }
    free(q);
}

/* Copies a c-ares hostent into out (addresses, canonical name, aliases). */
static int take_hostent(struct green__dns_hosts *out, const struct hostent *h)
{
    int r = 0;
    for (char **a = h->h_addr_list; r == 0 && a != NULL && *a != NULL; a++) {
        r = green__dns_hosts_add(out, h->h_addrtype, *a, 0);
    }
    for (char **a = h->h_aliases; r == 0 && a != NULL && *a != NULL; a++) {
        r = green__dns_hosts_alias(out, *a);
    }
    if (r == 0 && h->h_name != NULL &&
        (out->canon = strdup(h->h_name)) == NULL) {
        r = -ENOMEM;
    }
    return r;
}

/* The end of one c-ares query: the last one wakes the caller, or frees
 * the record if the caller gave up. */
static void slot_done(struct slot *s)
{
    struct query *q = s->q;
    struct green__thread *t = green__thread_peek();
    struct chan *c = t != NULL ? t->dns_chan : NULL;
    if (c != NULL) {
        c->pending--;
    }
    if (--q->left > 0) {
        return;
    }
    if (q->waiter == NULL) {
        query_free(q);
    } else if (c == NULL || !c->dying) {
        green__hub_wake(q->waiter, 0);
    }
}

static void on_answer(void *arg, int status, int timeouts,
                      unsigned char *abuf, int alen)
{
    struct slot *s = arg;
    if (status == ARES_SUCCESS && s->q->waiter != NULL) {
        struct hostent *h = NULL;
        status = s->type == T_A
                     ? ares_parse_a_reply(abuf, alen, &h, NULL, NULL)
                     : ares_parse_aaaa_reply(abuf, alen, &h, NULL, NULL);
        if (status == ARES_SUCCESS && take_hostent(&s->out, h) != 0) {
            status = ARES_ENOMEM;
        }
        if (h != NULL) {
            ares_free_hostent(h);
        }
    }
    s->status = status;
    slot_done(s);
}

static void on_host(void *arg, int status, int timeouts, struct hostent *h)
{
    struct slot *s = arg;
    if (status == ARES_SUCCESS && s->q->waiter != NULL &&
        take_hostent(&s->out, h) != 0) {
        status = ARES_ENOMEM;
    }
    s->status = status;
    slot_done(s);
}

static int query_new(struct query **out)
{
    struct query *q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return -ENOMEM;
    }
    q->waiter = greenlet_current();
    for (int i = 0; i < 2; i++) {
        q->slot[i].q = q;
    }
    *out = q;
    return 0;
}

/* Parks until every query of q is answered. Returns 0, or the error that
 * ended the wait early (q is then abandoned, and freed by its callbacks). */
static int query_wait(struct chan *c, struct query *q)
{
    int r = start_driver(c);
    while (r == 0 && q->left > 0) {
        r = green__hub_park(GREEN_FOREVER, "a DNS lookup", q);
    }
    if (q->left > 0) {
        q->waiter = NULL;
        return r != 0 ? r : -EIO;
    }
    return 0;
}

/* glibc's dns module's status for a c-ares status. */
static int nss_status_of(int st, int *herrno)
{
    switch (st) {
    case ARES_SUCCESS:
        *herrno = 0;
        return NSS_STATUS_SUCCESS;
    case ARES_ENODATA:
        *herrno = NO_DATA;
        return NSS_STATUS_NOTFOUND;
    case ARES_ENOTFOUND:
    case ARES_EBADNAME:
        *herrno = HOST_NOT_FOUND;
        return NSS_STATUS_NOTFOUND;
    case ARES_EFORMERR:
    case ARES_ENOTIMP:
    case ARES_EBADRESP:
        *herrno = NO_RECOVERY;
        return NSS_STATUS_UNAVAIL;
    default: /* SERVFAIL, REFUSED, timeouts, no servers */
        *herrno = TRY_AGAIN;
        return NSS_STATUS_TRYAGAIN;
    }
}

/* Moves slot s's finds into out. */
static int merge(struct green__dns_hosts *out, struct slot *s)
{
    int r = 0;
    for (size_t i = 0; r == 0 && i < s->out.n; i++) {
        const struct green__dns_addr *a = &s->out.addrs[i];
        r = green__dns_hosts_add(out, a->family, a->bytes, a->scope);
    }
    for (size_t i = 0; r == 0 && i < s->out.naliases; i++) {
        r = green__dns_hosts_alias(out, s->out.aliases[i]);
    }
    if (r == 0 && out->canon == NULL && s->out.canon != NULL) {
        out->canon = s->out.canon;
        s->out.canon = NULL;
    }
    return r;
}

/* Combines the A and AAAA outcomes as glibc's gethostbyname4_r does: any
 * address is success; else a temporary failure wins, then NXDOMAIN. */
static int combine(struct query *q, int n, struct green__dns_hosts *out,
                   int *herrno)
{
    int best = -1, st = NSS_STATUS_NOTFOUND;
    for (int i = 0; i < n; i++) {
        if (q->slot[i].status == ARES_ENOMEM) {
            return -ENOMEM;
        }
        if (q->slot[i].status == ARES_SUCCESS && q->slot[i].out.n > 0 &&
            merge(out, &q->slot[i]) != 0) {
            return -ENOMEM;
        }
    }
    if (out->n > 0) {
        *herrno = 0;
        return NSS_STATUS_SUCCESS;
    }
    for (int i = 0; i < n; i++) {
        int h, s = nss_status_of(q->slot[i].status, &h);
        int rank = s == NSS_STATUS_TRYAGAIN ? 3 : h == HOST_NOT_FOUND ? 2 : 1;
        if (rank > best) {
            best = rank;
            st = s;
            *herrno = h;
        }
    }
    if (st == NSS_STATUS_SUCCESS) { /* answered, but no address */
        *herrno = NO_DATA;
        st = NSS_STATUS_NOTFOUND;
    }
    return st;
}

int green__dns_query_name(const char *name, int af,
                          struct green__dns_hosts *out, int *herrno)
{
    struct chan *c;
    struct query *q;
    int r = chan_get(&c);
    if (r != 0 || (r = query_new(&q)) != 0) {
        return r;
    }
    int types[2], n = 0;
    if (af != AF_INET6) {
        types[n++] = T_A;
    }
    if (af != AF_INET) {
        types[n++] = T_AAAA;
    }
    q->left = n;
    c->pending += (size_t)n;
    for (int i = 0; i < n; i++) {
        q->slot[i].type = types[i];
        ares_search(c->ares, name, C_IN, types[i], on_answer, &q->slot[i]);
    }
    if ((r = query_wait(c, q)) != 0) {
        return r;
    }
    r = combine(q, n, out, herrno);
    query_free(q);
    return r;
}

/* c-ares lists the PTR target among the aliases too; glibc does not. */
static void drop_alias(struct green__dns_hosts *h, const char *name)
{
    for (size_t i = 0; name != NULL && i < h->naliases;) {
        if (strcmp(h->aliases[i], name) == 0) {
            free(h->aliases[i]);
            h->aliases[i] = h->aliases[--h->naliases];
        } else {
            i++;
        }
    }
}

int green__dns_query_addr(const void *addr, socklen_t len, int af,
                          struct green__dns_hosts *out, int *herrno)
{
    struct chan *c;
    struct query *q;
    int r = chan_get(&c);
    if (r != 0 || (r = query_new(&q)) != 0) {
        return r;
    }
    q->left = 1;
    c->pending++;
    ares_gethostbyaddr(c->ares, addr, (int)len, af, on_host, &q->slot[0]);
    if ((r = query_wait(c, q)) != 0) {
        return r;
    }
    struct slot *s = &q->slot[0];
    r = s->status == ARES_ENOMEM ? -ENOMEM : nss_status_of(s->status, herrno);
    if (r == NSS_STATUS_SUCCESS) {
        out->canon = s->out.canon;
        s->out.canon = NULL;
        drop_alias(&s->out, out->canon);
        r = merge(out, s) == 0 ? r : -ENOMEM;
    }
    query_free(q);
    return r;
}

/* --- result lists ------------------------------------------------------------ */

int green__dns_hosts_add(struct green__dns_hosts *h, int family,
                         const void *bytes, uint32_t scope)
{
    if (h->n == h->cap) {
        size_t cap = h->cap != 0 ? h->cap * 2 : 8;
        void *p = realloc(h->addrs, cap * sizeof(*h->addrs));
        if (p == NULL) {
            return -ENOMEM;
        }
        h->addrs = p;
        h->cap = cap;
    }
    struct green__dns_addr *a = &h->addrs[h->n++];
    memset(a, 0, sizeof(*a));
    a->family = family;
    a->scope = scope;
    memcpy(a->bytes, bytes, family == AF_INET6 ? 16 : 4);
    return 0;
}

int green__dns_hosts_alias(struct green__dns_hosts *h, const char *name)
{
    char **p = realloc(h->aliases, (h->naliases + 1) * sizeof(*p));
    if (p == NULL) {
        return -ENOMEM;
    }
    h->aliases = p;
    if ((p[h->naliases] = strdup(name)) == NULL) {
        return -ENOMEM;
    }
    h->naliases++;
    return 0;
}

void green__dns_hosts_clear(struct green__dns_hosts *h)
{
    for (size_t i = 0; i < h->naliases; i++) {
        free(h->aliases[i]);
    }
    free(h->aliases);
    free(h->addrs);
    free(h->canon);
    memset(h, 0, sizeof(*h));
}
