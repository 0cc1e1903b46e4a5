/* SPDX-License-Identifier: MIT */
/* The GREEN_* environment variables (see config.h). The readers run from
 * constructors and first interposed calls, before main, possibly inside
 * another library's allocator or a sanitizer's start, so nothing here
 * allocates through malloc. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <signal.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "rawsys.h"

extern char **environ;

/* The start environment, read once from /proc/self/environ into pages
 * of its own (kept: it is small and read before main). */
static const char *early_env;
static size_t early_len;

static void read_early_env(void)
{
    long fd = green__syscall(SYS_openat, AT_FDCWD, "/proc/self/environ",
                            O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return;
    }
    size_t cap = 0, len = 0;
    char *buf = NULL;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap == 0 ? 65536 : cap * 2;
            void *p = mmap(NULL, ncap, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == MAP_FAILED) {
                break;
            }
            if (buf != NULL) {
                memcpy(p, buf, len);
                munmap(buf, cap);
            }
            buf = p;
            cap = ncap;
        }
        long n = green__syscall(SYS_read, (int)fd, buf + len, cap - len);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    green__syscall(SYS_close, (int)fd);
    early_len = len;
    __atomic_store_n(&early_env, buf, __ATOMIC_RELEASE);
}

const char *green__getenv(const char *name)
{
    if (__atomic_load_n(&environ, __ATOMIC_RELAXED) != NULL) {
        return getenv(name);
    }
    if (__atomic_load_n(&early_env, __ATOMIC_ACQUIRE) == NULL) {
        read_early_env();
    }
    size_t n = strlen(name);
    for (size_t i = 0; early_env != NULL && i < early_len;) {
        const char *e = early_env + i;
        size_t elen = strnlen(e, early_len - i);
        if (elen > n && memcmp(e, name, n) == 0 && e[n] == '=') {
            return e + n + 1;
        }
        i += elen + 1;
    }
    return NULL;
}

void green__env_invalid(const char *name, const char *value,
                        const char *expected, const char *dflt)
{
    green__log(GREEN_LOG_WARNING, "%s=\"%s\": expected %s; using %s", name,
               value, expected, dflt);
}

/* strtoll without locale surprises: decimal digits with an optional
 * sign and nothing after them. */
static int parse_long(const char *s, long *out, const char **end)
{
    char *e;
    errno = 0;
    long v = strtol(s, &e, 10);
    if (e == s || errno != 0 || s[0] == ' ' || s[0] == '\t' || s[0] == '+') {
        return -EINVAL;
    }
    *out = v;
    *end = e;
    return 0;
}

long green__env_long(const char *name, long min, long max, long dflt,
                     const char *expected)
{
    const char *s = green__getenv(name);
    if (s == NULL) {
        return dflt;
    }
    long v;
    const char *end;
    if (parse_long(s, &v, &end) == 0 && *end == '\0' && v >= min &&
        v <= max) {
        return v;
    }
    char d[24];
    snprintf(d, sizeof(d), "%ld", dflt);
    green__env_invalid(name, s, expected, d);
    return dflt;
}

size_t green__env_size(const char *name, size_t min, size_t max,
                       size_t dflt, const char *expected)
{
    const char *s = green__getenv(name);
    if (s == NULL) {
        return dflt;
    }
    long v;
    const char *end;
    if (parse_long(s, &v, &end) == 0 && v > 0) {
        unsigned shift = 0;
        switch (*end) {
        case 'k': case 'K': shift = 10; end++; break;
        case 'm': case 'M': shift = 20; end++; break;
        case 'g': case 'G': shift = 30; end++; break;
        default: break;
        }
        size_t bytes = (size_t)v;
        if (*end == '\0' && bytes <= (max >> shift) &&
            (bytes << shift) >= min) {
            return bytes << shift;
        }
    }
    char d[24];
    snprintf(d, sizeof(d), "%zu bytes", dflt);
    green__env_invalid(name, s, expected, d);
    return dflt;
}

/* A decimal number in [lo, hi] that is all of s, or -1. */
static long small_number(const char *s, long lo, long hi)
{
    long v;
    const char *end;
    if (s[0] < '0' || s[0] > '9' || parse_long(s, &v, &end) != 0 ||
        *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    return v;
}

int green__signal_parse(const char *s)
{
    if (s == NULL || *s == '\0') {
        return 0;
    }
    long n = small_number(s, 1, SIGRTMAX);
    if (n > 0) {
        return (int)n;
    }
    if (strncasecmp(s, "SIG", 3) == 0) {
        s += 3;
    }
    for (int sig = 1; sig < SIGRTMIN; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev != NULL && strcasecmp(s, abbrev) == 0) {
            return sig;
        }
    }
    bool min = strncasecmp(s, "RTMIN", 5) == 0;
    if (!min && strncasecmp(s, "RTMAX", 5) != 0) {
        return 0;
    }
    long off = 0;
    if (s[5] != '\0') {
        if (s[5] != (min ? '+' : '-') ||
            (off = small_number(s + 6, 0, SIGRTMAX - SIGRTMIN)) < 0) {
            return 0;
        }
    }
    return min ? SIGRTMIN + (int)off : SIGRTMAX - (int)off;
}

int green__env_signal(const char *name, int (*ok)(int sig),
                      const char *expected)
{
    const char *s = green__getenv(name);
    if (s == NULL) {
        return 0;
    }
    int sig = green__signal_parse(s);
    if (sig > 0 && (ok == NULL || ok(sig))) {
        return sig;
    }
    green__env_invalid(name, s, expected, "no signal");
    return 0;
}
