/* SPDX-License-Identifier: MIT */
/* Name resolution that parks only the calling greenlet: getaddrinfo,
 * getnameinfo and the gethostbyname family, answered from /etc/hosts and
 * from DNS through c-ares, whose sockets the hub watches.
 *
 * The answers are glibc's: /etc/hosts and DNS in the order the hosts line
 * of /etc/nsswitch.conf gives, the same socket type expansion, the same
 * flags, and addresses sorted as glibc sorts them (RFC 3484/6724 with
 * glibc's tables, or /etc/gai.conf's). GREEN_DNS_SERVERS=ip:port,...
 * replaces the servers of /etc/resolv.conf (read when a thread makes its
 * first DNS query).
 *
 * Errors. Every call returns 0 or a negative number: a negative errno
 * (-ETIMEDOUT from a timeout scope, -ECANCELED when the caller is killed,
 * -ERANGE, -ENOMEM, ...) or a resolver error, GREEN_EAI(EAI_x), which lies
 * in its own range below any errno. green_dns_eai() maps either kind to the
 * EAI_* code getaddrinfo would return (EAI_SYSTEM for an errno). */
#ifndef GREEN_DNS_H
#define GREEN_DNS_H

#include <netdb.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Resolver errors: GREEN_EAI(EAI_NONAME) and so on. glibc's EAI_* codes
 * are negative (-1 .. -105), so the range is [-3105, -3001]. */
#define GREEN_EAI_BASE (-3000)
#define GREEN_EAI(eai) (GREEN_EAI_BASE + (eai))

/* Whether err is a resolver error (as opposed to a negative errno). */
#define GREEN_IS_EAI(err) ((err) <= GREEN_EAI_BASE - 1 && (err) >= GREEN_EAI_BASE - 200)

/* The EAI_* code for err: the resolver error's own code, EAI_SYSTEM for a
 * negative errno (errno being -err), 0 for 0. Switching: never switches. */
GREEN_EXTERN int green_dns_eai(int err);

/* A message for err, resolver error or errno (gai_strerror / strerror).
 * Never NULL; the string is static. Switching: never switches. */
GREEN_EXTERN const char *green_dns_strerror(int err);

/* getaddrinfo(3): node, service and hints as glibc takes them. Returns 0
 * and a list in *res to give back with green_freeaddrinfo(), or an error:
 * GREEN_EAI(EAI_NONAME), GREEN_EAI(EAI_SERVICE), ... or -ETIMEDOUT,
 * -ECANCELED, -ENOMEM. A numeric node, or a name /etc/hosts answers,
 * never switches; a DNS query parks the caller while other greenlets run.
 * Switching: may switch. */
GREEN_EXTERN int green_getaddrinfo(const char *node, const char *service,
                                   const struct addrinfo *hints,
                                   struct addrinfo **res);

/* Frees a list from green_getaddrinfo() (NULL is fine). It also takes a
 * list that libc's getaddrinfo() made, and hands it to libc's
 * freeaddrinfo(). Switching: never switches. */
GREEN_EXTERN void green_freeaddrinfo(struct addrinfo *ai);

/* getnameinfo(3). Returns 0, a resolver error (GREEN_EAI(EAI_NONAME),
 * GREEN_EAI(EAI_OVERFLOW), GREEN_EAI(EAI_FAMILY), ...) or a negative
 * errno. Switching: may switch (a reverse DNS query). */
GREEN_EXTERN int green_getnameinfo(const struct sockaddr *sa, socklen_t salen,
                                   char *host, socklen_t hostlen, char *serv,
                                   socklen_t servlen, int flags);

/* gethostbyname2_r(3): the host entry for name in family af (AF_INET or
 * AF_INET6), built in buf. Returns 0 with *result = ret, or an error with
 * *result = NULL: GREEN_EAI(EAI_NONAME) (h_errno HOST_NOT_FOUND),
 * GREEN_EAI(EAI_NODATA) (NO_DATA), GREEN_EAI(EAI_AGAIN) (TRY_AGAIN),
 * GREEN_EAI(EAI_FAIL) (NO_RECOVERY), -ERANGE (buf too small), or a
 * negative errno. *h_errnop (may be NULL) gets the h_errno glibc would
 * set. Switching: may switch. */
GREEN_EXTERN int green_gethostbyname_r(const char *name, int af,
                                       struct hostent *ret, char *buf,
                                       size_t buflen, struct hostent **result,
                                       int *h_errnop);

/* gethostbyaddr_r(3): like green_gethostbyname_r() for an address of
 * length len in family af. Switching: may switch. */
GREEN_EXTERN int green_gethostbyaddr_r(const void *addr, socklen_t len,
                                       int af, struct hostent *ret,
                                       char *buf, size_t buflen,
                                       struct hostent **result,
                                       int *h_errnop);

#ifdef __cplusplus
}
#endif

#endif
