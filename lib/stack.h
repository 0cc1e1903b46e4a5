/* SPDX-License-Identifier: MIT */
/* Greenlet stacks: carved out of large mmap'd arenas, a guard region below
 * each, pooled per OS thread; or the program's own memory (a green
 * pthread made with pthread_attr_setstack). See lib/stack.c. */
#ifndef GREEN_STACK_H
#define GREEN_STACK_H

#include <stddef.h>

/* One stack slot. Descriptors live outside the stack memory (in the arena's
 * header array), so a stack can be released, madvised or reused without
 * touching memory the dying greenlet might still be running on. */
struct green__stack {
    char *lo;                   /* lowest usable byte, just above the guard */
    size_t size;                /* usable bytes; the top is lo + size */
    size_t guard;               /* bytes of guard below lo (0: a user stack) */
    size_t guard_asked;         /* the guard size the creator asked for
                                   (what pthread_attr_getguardsize reports) */
    struct green__stack *next;  /* next free slot while in a pool */
    struct green__arena *arena; /* the mapping this slot belongs to */
    unsigned long owner_id;     /* greenlet id, for the overflow report */
    const char *owner_name;     /* greenlet name or NULL, ditto */
    unsigned valgrind_id;       /* VALGRIND_STACK_REGISTER handle, or 0 */
    unsigned char resident;     /* pages may be resident (hot) */
    unsigned char guarded;      /* the guard region is installed */
    unsigned char user;         /* the program's memory: never ours to free */
};

/* The stacks of one OS thread: its pools and arenas (lib/stack.c). Part
 * of the OS thread's state (struct green__thread), not thread-local
 * storage: a green pthread runs on TLS of its own, and the pools belong to
 * the OS thread whichever green thread runs. */
struct green__stack_thread {
    struct green__stack_pool *pools; /* every size this thread used */
    struct green__arena *arenas;     /* every arena, for lookups and term */
    size_t in_use;
    void *altstack;                  /* ours, or NULL if it had one */
    _Bool alt_checked;               /* ensure_altstack() has run */
};

/* Largest stack accepted anywhere. */
#define GREEN__STACK_MAX ((size_t)1 << 30)
/* The guard below every arena stack, at least (catches frames up to it). */
#define GREEN__STACK_GUARD ((size_t)16 << 10)
/* Smallest stack handed out (requests are rounded up to it). */
#define GREEN__STACK_MIN ((size_t)16 << 10)

/* The default size: GREEN_STACK_SIZE (bytes, or with a k/K/m/M suffix) if
 * set and valid, else 128 KiB. An invalid value is reported once (lib/config.c's rule). */
size_t green__stack_default_size(void);

/* The default size if GREEN_STACK_SIZE is set (an invalid value: the
 * 128 KiB it falls back to), else 0: green pthreads made with glibc's
 * default size take it instead, as asked (otherwise they get glibc's). */
size_t green__stack_env_size(void);

/* Turns a requested size into the size actually used: 0 -> default, else
 * rounded up to pages and to GREEN__STACK_MIN. Returns 0 and *out, or
 * -EINVAL if the request exceeds GREEN__STACK_MAX. */
int green__stack_size(size_t request, size_t *out);

/* Takes a stack of exactly `size` bytes (a value from green__stack_size())
 * from the calling thread's pool, mapping a new arena when the pool is
 * empty. Returns 0 and *out, or -ENOMEM. Also makes sure the thread has a
 * sigaltstack and the overflow handler is installed. */
int green__stack_alloc(size_t size, struct green__stack **out);

/* The same with a guard of at least `guard` bytes below the stack (rounded
 * up to pages, never under GREEN__STACK_GUARD); s->guard_asked records
 * `guard` as asked. Stacks of one size and guard share a pool. */
int green__stack_alloc_guard(size_t size, size_t guard,
                             struct green__stack **out);

/* A stack on the program's own memory [lo, lo + size): no guard, nothing
 * mapped, and green__stack_free gives back only the descriptor. Returns
 * 0 and *out, or -ENOMEM. */
int green__stack_user(void *lo, size_t size, struct green__stack **out);

/* Gives s back to the calling thread's pool (a user stack: its descriptor
 * only). The caller must not be running on s. Pages of stacks beyond a
 * small hot set are returned to the kernel. */
void green__stack_free(struct green__stack *s);

/* Unmaps every arena of the calling thread (at thread exit). Every stack
 * must have been freed, or be abandoned with its greenlets. */
void green__stack_thread_term(void);

/* How guards are made: 1 with MADV_GUARD_INSTALL markers (no extra
 * mappings), 2 with mprotect (two mappings per stack, so vm.max_map_count
 * caps the number of stacks near 32K), 0 before the first stack. */
int green__stack_guard_mode(void);

/* The number of stacks the calling thread has taken and not given back. */
size_t green__stack_in_use(void);

/* Starts the NEW greenlet g on s (from green__stack_alloc_guard or
 * green__stack_user) instead of a stack of its stack_size: its context is
 * made now, and s is g's as if its first switch had taken it. -EINVAL if
 * g already has a stack. Defined in lib/greenlet.c. */
struct greenlet;
struct green__thread;
int green__greenlet_prepare_on(struct green__thread *t, struct greenlet *g,
                               struct green__stack *s);

#endif
