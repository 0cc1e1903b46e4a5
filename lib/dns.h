/* SPDX-License-Identifier: MIT */
/* Declarations shared by the DNS layer's files:
 *   dns.c       the c-ares channel of each OS thread and the hub's part in
 *               it: A, AAAA and PTR queries that park only their caller;
 *   dns_nss.c   glibc's name service loop over the hosts line of
 *               /etc/nsswitch.conf, with c-ares standing in for "dns";
 *   dns_sort.c  glibc's destination address sort (RFC 3484/6724);
 *   dns_api.c   the public calls built on those.
 * Nothing here is exported. */
#ifndef GREEN_DNS_INTERNAL_H
#define GREEN_DNS_INTERNAL_H

#include <netdb.h>
#include <nss.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "green/dns.h"

/* One address a lookup found. */
struct green__dns_addr {
    int family;              /* AF_INET or AF_INET6 */
    uint32_t scope;          /* IPv6 scope id, else 0 */
    unsigned char bytes[16]; /* 4 or 16 bytes used */
};

/* What a name lookup found: addresses in the order the source gave them,
 * the canonical name, and (for host entries) the aliases. */
struct green__dns_hosts {
    struct green__dns_addr *addrs; /* malloc'd, n used */
    size_t n, cap;
    char *canon;                   /* malloc'd canonical name, or NULL */
    char **aliases;                /* malloc'd array of malloc'd names */
    size_t naliases;
};

/* Appends an address / an alias. Return 0 or -ENOMEM. */
int green__dns_hosts_add(struct green__dns_hosts *h, int family,
                         const void *bytes, uint32_t scope);
int green__dns_hosts_alias(struct green__dns_hosts *h, const char *name);

/* Frees what h holds and empties it. */
void green__dns_hosts_clear(struct green__dns_hosts *h);

/* --- dns.c: c-ares ------------------------------------------------------- */

/* Asks DNS for name's addresses: af AF_INET (A), AF_INET6 (AAAA) or
 * AF_UNSPEC (both at once; the A answers come first, as glibc orders
 * them). Search domains and ndots are resolv.conf's. Appends what it finds
 * to out and sets canon and aliases (the CNAME chain). Returns an
 * enum nss_status with *herrno as glibc's dns module would set it, or a
 * negative errno (-ETIMEDOUT, -ECANCELED, -ENOMEM) when the caller's wait
 * ended early. Switching: parks the caller until the answers come. */
int green__dns_query_name(const char *name, int af,
                          struct green__dns_hosts *out, int *herrno);

/* Asks DNS for the names of an address (PTR): h_name into canon, the other
 * names into aliases. Returns like green__dns_query_name(). */
int green__dns_query_addr(const void *addr, socklen_t len, int af,
                          struct green__dns_hosts *out, int *herrno);

/* --- dns_nss.c: the hosts line of nsswitch.conf --------------------------- */

/* The outcome of a loop over the hosts services. */
struct green__nss_out {
    int status; /* enum nss_status of the last service asked */
    int herrno; /* h_errno as glibc leaves it */
    int err;    /* errno for NSS_STATUS_TRYAGAIN with h_errno
                   NETDB_INTERNAL (ERANGE: the buffer is too small), or a
                   negative errno from a wait (-ETIMEDOUT, -ECANCELED) */
};

/* gethostbyname4_r over every service (getaddrinfo with AF_UNSPEC):
 * addresses of both families, canonical name of the first. */
void green__nss_byname4(const char *name, struct green__dns_hosts *out,
                        struct green__nss_out *o);

/* gethostbyname3_r over every service, into the caller's hostent and
 * buffer (gethostbyname2_r, and getaddrinfo with one family). For
 * getaddrinfo, v4mapped (AF_INET6 with AI_V4MAPPED, all = AI_ALL) asks each
 * service for IPv4 addresses too, as glibc does: then out gets the
 * addresses (IPv4 ones mapped) instead of the hostent. */
void green__nss_byname3(const char *name, int af, struct hostent *ret,
                        char *buf, size_t buflen, struct green__nss_out *o);
void green__nss_byname_gai(const char *name, int af, bool v4mapped,
                           bool all, struct green__dns_hosts *out,
                           struct green__nss_out *o);

/* gethostbyaddr2_r over every service. */
void green__nss_byaddr(const void *addr, socklen_t len, int af,
                       struct hostent *ret, char *buf, size_t buflen,
                       struct green__nss_out *o);

/* Packs h (addresses of family af) into a hostent in buf, as an NSS
 * module does. Returns 0 or -ERANGE. */
int green__dns_pack_hostent(const struct green__dns_hosts *h,
                            const char *name, int af, struct hostent *ret,
                            char *buf, size_t buflen);

/* --- dns_sort.c ------------------------------------------------------------ */

/* Which families have an address configured other than loopback
 * (AI_ADDRCONFIG, as glibc's __check_pf decides it). */
void green__dns_seen(bool *v4, bool *v6);

/* Sorts a getaddrinfo list as glibc does (rules of RFC 3484 with the
 * tables of /etc/gai.conf or glibc's defaults; equal entries keep their
 * order). Returns the new head. */
struct addrinfo *green__dns_sort(struct addrinfo *list);

#endif
