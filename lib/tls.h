/* SPDX-License-Identifier: MIT */
/* Thread-local storage of their own for green pthreads (lib/tls.c).
 *
 * A green pthread gets a thread descriptor and a static TLS block laid
 * out as glibc lays out a new thread's, carved from the top of its green
 * stack, and every switch into it installs its thread pointer. Then
 * errno, __thread and thread_local variables, glibc's per-thread state
 * (locale, resolver, strerror buffers) and language runtimes' thread
 * records are its own, and its pthread_t is a descriptor glibc's own
 * functions can read. Greenlets of the API keep their OS thread's TLS
 * (their tp is NULL), and a switch between two of them pays one compare. */
#ifndef GREEN_TLS_H
#define GREEN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Whether green pthreads get TLS of their own here: x86-64 with glibc's
 * layout as libgreen knows it (checked against libthread_db's figures at
 * start), and GREEN_TLS not "shared". Settled on first call. */
bool green__tls_private(void);

/* Bytes to keep free at the top of a green pthread's stack for its
 * descriptor and static TLS (0 when TLS is shared). */
size_t green__tls_reserve(void);

/* Builds a descriptor and TLS block in [top - green__tls_reserve(), top)
 * for a thread whose stack is [lo, top): glibc's fields a thread needs
 * (self pointers, guards, thread id, robust list, stack bounds), the TLS
 * images of every module, and libgreen's own per-OS-thread pointers.
 * record goes where glibc keeps the start routine's argument, for
 * green__tls_record(). Runs on the creating thread, on the OS thread the
 * new one will run on. Returns the new thread pointer (which is its
 * pthread_t), or NULL (no memory: the thread keeps the OS thread's
 * TLS). */
void *green__tls_make(char *lo, char *top, void *record);

/* What glibc does first in a new thread, once its TLS is installed (the
 * switch into a greenlet whose tp is set installs it): the locale's
 * ctype tables, in that TLS. */
void green__tls_enter(void);

/* At the end of a green pthread whose tp is installed: runs its C++
 * thread_local destructors (glibc's order: before the key destructors). */
void green__tls_dtors(void);

/* Frees what glibc allocated for tp (its DTV, dynamically loaded
 * modules' blocks). The descriptor itself is stack memory. */
void green__tls_free(void *tp);

/* fork() for the caller, through real_fork (libc's): in a green pthread
 * with TLS of its own, on the OS thread's descriptor. glibc's fork takes
 * the running descriptor for the one thread the child keeps: it moves it
 * between its lists of thread stacks (a green descriptor is in none:
 * the child crashed), tells the kernel where its thread id and robust
 * list are, and frees the other threads' stacks. Then the child's OS
 * thread is glibc's as natively, and the forking green pthread goes on in
 * it with its own TLS (its descriptor's thread id the child's). The
 * atfork handlers run on the OS thread's TLS. errno is the caller's. */
pid_t green__tls_fork(pid_t (*real_fork)(void));

/* The record given to green__tls_make if t is a green pthread's
 * descriptor, else NULL. */
void *green__tls_record(const void *t);

/* Sets, in the TLS block whose thread pointer is tp, the variable that is
 * at var in the calling thread's block (libgreen's initial-exec TLS: the
 * same offset from every thread pointer). */
void green__tls_set_in(void *tp, const void *var, const void *value,
                       size_t n);

/* malloc's per-thread words (the cache and the arena, found by
 * experiment: see tls.c) as the block at tp holds them, into out (at most
 * GREEN__TLS_WORDS); returns how many. They belong to an OS thread:
 * green__tls_words_set gives a block the n words of the OS thread it will
 * run on (lib/handoff.c, when green threads change OS threads). */
#define GREEN__TLS_WORDS 4
int green__tls_words(const void *tp, void **out);
void green__tls_words_set(void *tp, void *const *in, int n);

/* glibc's set*id broadcast (tls.c says why): the calling OS thread's own
 * glibc descriptor is registered (every OS thread that runs greenlets:
 * lib/thread.c, lib/handoff.c's spares), forgotten at its end;
 * green__tls_own_enter installs it for a set*id call (returning what to
 * put back, or NULL) and green__tls_own_leave puts the caller's back.
 * green__tls_own_atfork: a forked child keeps the forking thread's. */
void green__tls_own_register(void *tp);
void green__tls_own_forget(void);
void *green__tls_own_enter(void);
void green__tls_own_leave(void *prev);
void green__tls_own_atfork(void);

/* The OS thread's own thread pointer (the calling thread's, when it is
 * not running a green pthread). */
static inline void *green__tp_now(void)
{
    return __builtin_thread_pointer();
}

/* Installs a thread pointer. */
void green__tp_set_slow(void *tp);
extern bool green__tp_fsgsbase;

static inline void green__tp_set(void *tp)
{
#if defined(__x86_64__)
    if (__builtin_expect(green__tp_fsgsbase, 1)) {
        __asm__ __volatile__("wrfsbase %0" : : "r"(tp) : "memory");
        return;
    }
#endif
    green__tp_set_slow(tp);
}

#endif
