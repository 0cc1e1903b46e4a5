/* Greenlet stacks: carved out of large mmap'd arenas, a guard region below
 * each, pooled per OS thread. See lib/stack.c. */
#ifndef GREEN_STACK_H
#define GREEN_STACK_H

#include <stddef.h>

/* One stack slot. Descriptors live outside the stack memory (in the arena's
 * header array), so a stack can be released, madvised or reused without
 * touching memory the dying greenlet might still be running on. */
struct green__stack {
    char *lo;                   /* lowest usable byte, just above the guard */
    size_t size;                /* usable bytes; the top is lo + size */
    struct green__stack *next;  /* next free slot while in a pool */
    struct green__arena *arena; /* the mapping this slot belongs to */
    unsigned long owner_id;     /* greenlet id, for the overflow report */
    const char *owner_name;     /* greenlet name or NULL, ditto */
    unsigned valgrind_id;       /* VALGRIND_STACK_REGISTER handle, or 0 */
    unsigned char resident;     /* pages may be resident (hot) */
    unsigned char guarded;      /* the guard region is installed */
};

/* Largest stack accepted anywhere. */
#define GREEN__STACK_MAX ((size_t)1 << 30)
/* Smallest stack handed out (requests are rounded up to it). */
#define GREEN__STACK_MIN ((size_t)16 << 10)

/* The default size: GREEN_STACK_SIZE (bytes, or with a k/K/m/M suffix) if
 * set and valid, else 128 KiB. An invalid value is reported once on stderr. */
size_t green__stack_default_size(void);

/* Turns a requested size into the size actually used: 0 -> default, else
 * rounded up to pages and to GREEN__STACK_MIN. Returns 0 and *out, or
 * -EINVAL if the request exceeds GREEN__STACK_MAX. */
int green__stack_size(size_t request, size_t *out);

/* Takes a stack of exactly `size` bytes (a value from green__stack_size())
 * from the calling thread's pool, mapping a new arena when the pool is
 * empty. Returns 0 and *out, or -ENOMEM. Also makes sure the thread has a
 * sigaltstack and the overflow handler is installed. */
int green__stack_alloc(size_t size, struct green__stack **out);

/* Gives s back to the calling thread's pool. The caller must not be running
 * on s. Pages of stacks beyond a small hot set are returned to the kernel. */
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

#endif
