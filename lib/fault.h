/* SPDX-License-Identifier: MIT */
/* Fault injection, for test builds only (meson -Dfault_injection=true):
 * every libc call the runtime makes through the real-symbol table
 * (GREEN_REAL, real.h) and every allocation libgreen's own code makes
 * (malloc, calloc, realloc, strdup; mmap and mprotect, which the stack
 * allocator and the per-OS-thread state use) can be made to fail as that
 * call could fail: EINTR, EAGAIN, ENOMEM, EMFILE, or a short read or
 * write. test/fuzz/faults.sh sweeps these over whole scenarios.
 *
 * In a build without the option this header is never included and
 * nothing here exists: GREEN_REAL is exactly what it was, a load, a test
 * and an indirect call.
 *
 * How it hooks in. The build adds -DGREEN_FAULT_INJECTION=1 and
 * "-include lib/fault.h" to everything compiled with the core's
 * dependencies (the core, the preload, the unit tests), so this header
 * comes first in each of those files:
 *  - GREEN_REAL(name) asks green__fault_real() for the function to call:
 *    the real one, or, while faults are on, a wrapper of the same type
 *    (lib/fault.c) that counts the call, decides from its arguments which
 *    faults it could have, and either injects one or calls the real
 *    function. Functions that cannot fail in one of these ways (getpid,
 *    pthread_self, ...) have no wrapper and are never counted;
 *  - malloc and the others are macros for green__fault_malloc and so
 *    on (object-like, so that a later header's redeclaration or a struct
 *    member of the same name is rewritten consistently, not broken);
 *    the log names the call by its return address, which faults.sh
 *    turns into file:line with addr2line. This needs no edit to any file
 *    of lib/: the macros apply from the top of each file. The system
 *    headers that declare these functions are included here first.
 *
 * What to inject is read once, at the first hooked call, from the
 * environment (lib/fault.c's top comment has the syntax): the Nth call
 * that could fail with a given kind, or each such call with a
 * probability from a seed, or nothing but counting. */
#ifndef GREEN_FAULT_H
#define GREEN_FAULT_H

#if defined(GREEN_FAULT_INJECTION) && !defined(__ASSEMBLER__)

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>

/* The kinds of fault, as bits of a mask. */
enum green__fault_kind {
    GREEN__F_EINTR = 1,
    GREEN__F_EAGAIN = 2,
    GREEN__F_ENOMEM = 4,
    GREEN__F_EMFILE = 8,
    GREEN__F_SHORT = 16, /* a read or write that moves fewer bytes */
    GREEN__F_NKINDS = 5
};

/* One number per function of the real-symbol table. */
enum green__real_id {
#define REAL_FN(name) GREEN__RID_##name,
#define REAL_VFN(name, version) GREEN__RID_##name,
#include "real.def"
#undef REAL_FN
#undef REAL_VFN
    GREEN__RID_COUNT
};

typedef void (*green__fault_fn)(void);

/* The function GREEN_REAL(name) calls: `real`, or its wrapper while
 * faults are on. */
green__fault_fn green__fault_real(int id, green__fault_fn real);

/* Counts one call of `what` that could fail with the kinds in `mask`,
 * and returns the kind to inject (one bit), or 0. `file` and `line` (or,
 * when file is NULL, the caller's return address `ra`) name the call in
 * the log. */
int green__fault_take(const char *what, unsigned mask, const char *file,
                      int line, const void *ra);

/* The allocation hooks: the functions' own types, so that a redeclaration
 * (another header's) or a member of that name in a later header reads
 * the same; the call site is the return address. */
void *green__fault_malloc(size_t n);
void *green__fault_calloc(size_t n, size_t size);
void *green__fault_realloc(void *p, size_t n);
char *green__fault_strdup(const char *s);
void *green__fault_mmap(void *addr, size_t len, int prot, int flags, int fd,
                        off_t off);
int green__fault_mprotect(void *addr, size_t len, int prot);

#ifndef GREEN__FAULT_NO_MACROS
#undef strdup
#define malloc green__fault_malloc
#define calloc green__fault_calloc
#define realloc green__fault_realloc
#define strdup green__fault_strdup
#define mmap green__fault_mmap
#define mprotect green__fault_mprotect
#endif

#endif /* GREEN_FAULT_INJECTION, not in assembly */

#endif
