/* SPDX-License-Identifier: MIT */
/* The resolver calls under the preload: getaddrinfo, getnameinfo and the
 * gethostbyname/gethostbyaddr family go to lib/dns_api.c when the thread
 * has a hub and "dns" is patched, else straight to libc. Each turns the
 * library's return value into libc's convention as its last step: EAI_*
 * codes (errno with EAI_SYSTEM), h_errno, the _r functions' error number.
 *
 * freeaddrinfo always goes to green_freeaddrinfo, which tells the lists it
 * made from libc's and gives the latter back to libc: a list may have been
 * made while the hub did not exist and freed after, or the other way. */
#include "preload.h"

#include "green/dns.h"

#include <netdb.h>
#include <pthread.h>
#include <stdlib.h>

/* errno and the EAI_* code for a getaddrinfo/getnameinfo result. */
static int eai_ret(int r)
{
    if (r == 0) {
        return 0;
    }
    if (r == -ENOMEM) {
        return EAI_MEMORY;
    }
    if (!GREEN_IS_EAI(r)) {
        errno = -r;
    }
    return green_dns_eai(r);
}

GREEN_INTERPOSE int getaddrinfo(const char *node, const char *service,
                                const struct addrinfo *hints,
                                struct addrinfo **res)
{
    if (!green__go_green(GREEN_PATCH_DNS)) {
        return GREEN_REAL(getaddrinfo)(node, service, hints, res);
    }
    return eai_ret(green_getaddrinfo(node, service, hints, res));
}

GREEN_INTERPOSE void freeaddrinfo(struct addrinfo *ai)
{
    green_freeaddrinfo(ai);
}

GREEN_INTERPOSE int getnameinfo(const struct sockaddr *sa, socklen_t salen,
                                char *host, socklen_t hostlen, char *serv,
                                socklen_t servlen, int flags)
{
    if (!green__go_green(GREEN_PATCH_DNS)) {
        return GREEN_REAL(getnameinfo)(sa, salen, host, hostlen, serv,
                                       servlen, flags);
    }
    return eai_ret(
        green_getnameinfo(sa, salen, host, hostlen, serv, servlen, flags));
}

/* The value a gethostby*_r returns, from ours: 0 also when nothing was
 * found (h_errno says why), EAGAIN for a temporary failure, else an errno
 * (ERANGE: the buffer is too small). */
static int r_ret(int r, int *h_errnop, int herrno)
{
    if (h_errnop != NULL) {
        *h_errnop = herrno;
    }
    if (r == 0 || r == GREEN_EAI(EAI_NONAME) || r == GREEN_EAI(EAI_NODATA) ||
        r == GREEN_EAI(EAI_FAIL)) {
        return 0;
    }
    if (r == GREEN_EAI(EAI_AGAIN)) {
        return EAGAIN;
    }
    if (GREEN_IS_EAI(r)) {
        return EINVAL;
    }
    errno = -r;
    return -r;
}

GREEN_INTERPOSE int gethostbyname2_r(const char *name, int af,
                                     struct hostent *ret, char *buf,
                                     size_t buflen, struct hostent **result,
                                     int *h_errnop)
{
    if (!green__go_green(GREEN_PATCH_DNS)) {
        return GREEN_REAL(gethostbyname2_r)(name, af, ret, buf, buflen,
                                            result, h_errnop);
    }
    int herrno = 0;
    int r = green_gethostbyname_r(name, af, ret, buf, buflen, result, &herrno);
    return r_ret(r, h_errnop, herrno);
}

GREEN_INTERPOSE int gethostbyname_r(const char *name, struct hostent *ret,
                                    char *buf, size_t buflen,
                                    struct hostent **result, int *h_errnop)
{
    if (!green__go_green(GREEN_PATCH_DNS)) {
        return GREEN_REAL(gethostbyname_r)(name, ret, buf, buflen, result,
                                           h_errnop);
    }
    return gethostbyname2_r(name, AF_INET, ret, buf, buflen, result,
                            h_errnop);
}

GREEN_INTERPOSE int gethostbyaddr_r(const void *addr, socklen_t len, int af,
                                    struct hostent *ret, char *buf,
                                    size_t buflen, struct hostent **result,
                                    int *h_errnop)
{
    if (!green__go_green(GREEN_PATCH_DNS)) {
        return GREEN_REAL(gethostbyaddr_r)(addr, len, af, ret, buf, buflen,
                                           result, h_errnop);
    }
    int herrno = 0;
    int r = green_gethostbyaddr_r(addr, len, af, ret, buf, buflen, result,
                                  &herrno);
    return r_ret(r, h_errnop, herrno);
}

/* The non-reentrant calls keep their answer in per-thread storage (glibc's
 * is per process), grown until it fits: a record behind a pthread key,
 * whose destructor frees it when the thread ends, green or not. */
struct static_answer {
    struct hostent he;
    char *buf;
    size_t len;
};

static pthread_key_t answer_key;
static pthread_once_t answer_once = PTHREAD_ONCE_INIT;

static void answer_free(void *arg)
{
    struct static_answer *a = arg;
    free(a->buf);
    free(a);
}

static void answer_key_make(void)
{
    pthread_key_create(&answer_key, answer_free);
}

static struct static_answer *answer_get(void)
{
    pthread_once(&answer_once, answer_key_make);
    struct static_answer *a = pthread_getspecific(answer_key);
    if (a == NULL && (a = calloc(1, sizeof(*a))) != NULL &&
        pthread_setspecific(answer_key, a) != 0) {
        free(a);
        a = NULL;
    }
    return a;
}

/* Runs a _r lookup into the thread's static storage, growing it on
 * ERANGE. */
#define STATIC_LOOKUP(call)                                                \
    do {                                                                   \
        struct hostent *res_ = NULL;                                       \
        int herr_ = 0, rc_;                                                \
        struct static_answer *a_ = answer_get();                           \
        if (a_ != NULL && a_->buf == NULL) {                               \
            a_->len = 1024;                                                \
            a_->buf = malloc(a_->len);                                     \
        }                                                                  \
        if (a_ == NULL || a_->buf == NULL) {                               \
            h_errno = NETDB_INTERNAL;                                      \
            errno = ENOMEM;                                                \
            return NULL;                                                   \
        }                                                                  \
        for (;;) {                                                         \
            rc_ = (call);                                                  \
            if (rc_ != ERANGE || a_->len > (1u << 20)) {                   \
                break;                                                     \
            }                                                              \
            char *nb_ = realloc(a_->buf, a_->len * 2);                     \
            if (nb_ == NULL) {                                             \
                break;                                                     \
            }                                                              \
            a_->buf = nb_;                                                 \
            a_->len *= 2;                                                  \
        }                                                                  \
        h_errno = herr_;                                                   \
        return res_;                                                       \
    } while (0)

GREEN_INTERPOSE struct hostent *gethostbyname2(const char *name, int af)
{
    if (!green__go_green(GREEN_PATCH_DNS)) {
        return GREEN_REAL(gethostbyname2)(name, af);
    }
    STATIC_LOOKUP(gethostbyname2_r(name, af, &a_->he, a_->buf, a_->len,
                                   &res_, &herr_));
}

GREEN_INTERPOSE struct hostent *gethostbyname(const char *name)
{
    if (!green__go_green(GREEN_PATCH_DNS)) {
        return GREEN_REAL(gethostbyname)(name);
    }
    return gethostbyname2(name, AF_INET);
}

GREEN_INTERPOSE struct hostent *gethostbyaddr(const void *addr,
                                              socklen_t len, int af)
{
    if (!green__go_green(GREEN_PATCH_DNS)) {
        return GREEN_REAL(gethostbyaddr)(addr, len, af);
    }
    STATIC_LOOKUP(gethostbyaddr_r(addr, len, af, &a_->he, a_->buf, a_->len,
                                  &res_, &herr_));
}
