/* SPDX-License-Identifier: MIT */
/* A system call made with the instruction itself, not through libc's
 * syscall(): libgreen.so interposes syscall() (preload/futex.c), and the
 * core must never come back into its own interposers (test/symbols.sh).
 * What the core used syscall() for — raw calls that work in signal
 * handlers, before the real-symbol table is filled and before libc set
 * environ up — it makes here.
 *
 * green__syscall(nr, args...) returns the kernel's answer: >= 0, or a
 * negative errno (errno is left alone). Up to six arguments. */
#ifndef GREEN_RAWSYS_H
#define GREEN_RAWSYS_H

#include <errno.h>
#include <sys/syscall.h>

#include "real.h"

static inline long green__sys6(long n, long a, long b, long c, long d, long e,
                               long f)
{
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
                           "r"(r9)
                         : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ __volatile__("svc 0"
                         : "+r"(x0)
                         : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4),
                           "r"(x5)
                         : "memory");
    return x0;
#else
    /* Elsewhere libc's own, found behind the interposer. */
    long r = GREEN_REAL(syscall)(n, a, b, c, d, e, f);
    return r == -1 ? -(long)errno : r;
#endif
}

#define green__syscall(...) green__sys_(__VA_ARGS__, 0, 0, 0, 0, 0, 0, 0)
#define green__sys_(n, a, b, c, d, e, f, ...)                               \
    green__sys6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d),      \
                (long)(e), (long)(f))

#endif
