/* SPDX-License-Identifier: MIT */
/* Greenlet stacks.
 *
 * A stack is a slot in an arena: one anonymous mapping holding up to 256
 * slots (the first arenas of a size hold 4, 8, 16...; at most 1 GiB, so
 * 127 of glibc's usual 8 MiB thread stacks), each a guard region followed
 * by the usable stack (stacks grow down, so a greenlet that overflows runs
 * into its own guard):
 *
 *   arena base                                            arena end
 *   | guard | stack 0 ... | guard | stack 1 ... | ... | guard | stack n-1 |
 *
 * Why arenas: the kernel caps the number of mappings (vm.max_map_count,
 * 65,530 by default), and one mmap per stack plus an mprotect'ed guard costs
 * two of them, which stops near 32K greenlets. Linux 6.13+ has
 * MADV_GUARD_INSTALL, which marks guard pages in the page tables without
 * splitting the mapping: an arena of 256 stacks stays one mapping, and a
 * million stacks need about 4,000. Where the kernel lacks it, guards fall
 * back to mprotect(PROT_NONE), which splits the mapping again.
 *
 * Arenas are mapped MAP_NORESERVE and MADV_NOHUGEPAGE: a stack costs only
 * the pages it touches, never a transparent 2 MiB page. That is what lets
 * a green pthread have the stack a native thread would (glibc's default,
 * from RLIMIT_STACK: 8 MiB here): 10,000 of them reserve 80 GiB of
 * address space and use the few pages at each top, as native threads do
 * (plus, for stacks that far apart, one 4 KiB page table each, which the
 * kernel charges to the process but not to its RSS).
 *
 * The guard is 16 KiB, or what the creator asked for if more (a green
 * pthread's guardsize attribute, rounded up to pages): pools are per
 * (size, guard). A user stack (green__stack_user: the program's own
 * memory, for pthread_attr_setstack) is a descriptor only: no guard, as
 * glibc gives a user stack none, and nothing of it is ours to free.
 *
 * Pools are per OS thread (greenlets never move between threads), one per
 * stack size, so nothing here locks. A freed stack goes on the pool's hot
 * list, pages still resident, for the next greenlet; past GREEN__HOT_MAX hot
 * stacks, a freed stack's pages go back to the kernel first.
 *
 * Overflow: a SIGSEGV handler, run on a per-thread sigaltstack (the
 * overflowing stack has no room left), looks the fault address up among the
 * calling thread's guard regions, prints which greenlet overflowed and its
 * stack size, and aborts. Other faults go to the handler that was there
 * before. */
/* (_GNU_SOURCE comes from meson: process_vm_readv) */
#include "stack.h"

#include "green_config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "internal.h"
#include "config.h"
#include "log.h"
#include "real.h"

#if GREEN_HAVE_VALGRIND
# include <valgrind/valgrind.h>
#endif
#ifdef GREEN__ASAN
# include <sanitizer/asan_interface.h>
#endif

#ifndef MADV_GUARD_INSTALL
# define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_GUARD_REMOVE
# define MADV_GUARD_REMOVE 103
#endif

#define GREEN__DEFAULT_STACK ((size_t)128 << 10)
#define GREEN__GUARD GREEN__STACK_GUARD
#define GREEN__ARENA_SLOTS 256
#define GREEN__ARENA_BYTES ((size_t)1 << 30)
#define GREEN__HOT_MAX 64
#define GREEN__ALTSTACK ((size_t)64 << 10)

struct green__arena {
    char *base;                 /* start of the mapping */
    size_t len;                 /* its length */
    size_t slot;                /* guard + stack size of each slot */
    unsigned nslots;            /* slots in the mapping */
    unsigned used;              /* slots handed out at least once */
    struct green__arena *next;  /* the thread's arenas, newest first */
    struct green__stack desc[]; /* one descriptor per slot */
};

/* Stacks of one size and guard, for one thread. */
struct green__stack_pool {
    size_t size;
    size_t guard;
    struct green__stack *hot;   /* free, pages possibly resident */
    struct green__stack *cold;  /* free, pages given back */
    unsigned nhot;
    struct green__arena *open;  /* newest arena, may have unused slots */
    unsigned grow;              /* slots in the next arena: 4, doubling */
    struct green__stack_pool *next;
};

/* The calling OS thread's pools (struct green__stack_thread, in its
 * state). Only reached where the state exists: green__stack_alloc() makes
 * it first. */
#define st (green__thread_peek()->stacks)

static size_t page_size;
static size_t default_size;
static bool env_given; /* GREEN_STACK_SIZE is set (not empty) */
/* 0 unknown, 1 MADV_GUARD_INSTALL, 2 mprotect; set once by whichever
 * thread first installs a guard (atomically: threads race to it). */
static int guard_mode;
static struct sigaction old_segv;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* GREEN_STACK_SIZE: a byte count with an optional k/m/g suffix, at most
 * GREEN__STACK_MAX (lib/config.c reports a bad value). */
static size_t env_size(void)
{
    return green__env_size("GREEN_STACK_SIZE", 1, GREEN__STACK_MAX,
                           GREEN__DEFAULT_STACK,
                           "bytes with an optional k, m or g suffix, "
                           "at most 1g");
}

static size_t round_size(size_t n)
{
    if (n < GREEN__STACK_MIN) {
        n = GREEN__STACK_MIN;
    }
    return (n + page_size - 1) & ~(page_size - 1);
}

static void on_segv(int sig, siginfo_t *si, void *uc);

static void init_once(void)
{
    int saved = errno; /* nothing in lib/ may change the caller's errno */
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    default_size = round_size(env_size());
    const char *v = green__getenv("GREEN_STACK_SIZE");
    env_given = v != NULL && *v != '\0';

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    GREEN_REAL(sigaction)(SIGSEGV, &sa, &old_segv);
    errno = saved;
}

size_t green__stack_default_size(void)
{
    GREEN_REAL(pthread_once)(&once, init_once);
    return default_size;
}

size_t green__stack_env_size(void)
{
    GREEN_REAL(pthread_once)(&once, init_once);
    return env_given ? default_size : 0;
}

int green__stack_size(size_t request, size_t *out)
{
    GREEN_REAL(pthread_once)(&once, init_once);
    if (request > GREEN__STACK_MAX) {
        return -EINVAL;
    }
    *out = request == 0 ? default_size : round_size(request);
    return 0;
}

/* Gives the thread a sigaltstack unless it already has one, so the overflow
 * handler can run when the faulting stack is exhausted. */
static void ensure_altstack(void)
{
    stack_t cur;
    if (GREEN__LIKELY(st.alt_checked)) {
        return;
    }
    st.alt_checked = true;
    if (sigaltstack(NULL, &cur) != 0 || !(cur.ss_flags & SS_DISABLE)) {
        return;
    }
    void *p = mmap(NULL, GREEN__ALTSTACK, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return;
    }
    stack_t ss = { .ss_sp = p, .ss_size = GREEN__ALTSTACK, .ss_flags = 0 };
    if (sigaltstack(&ss, NULL) != 0) {
        munmap(p, GREEN__ALTSTACK);
        return;
    }
    st.altstack = p;
}

/* Maps an arena for pool p. Arenas start small and double, so a program
 * with a few greenlets reserves little address space (RLIMIT_AS counts
 * reservations) and one with a million uses few mappings. */
static struct green__arena *arena_new(struct green__stack_pool *p)
{
    size_t size = p->size;
    size_t slot = p->guard + size;
    size_t n = GREEN__ARENA_BYTES / slot;
    if (p->grow < 4) {
        p->grow = 4;
    }
    if (n > p->grow) {
        n = p->grow;
    }
    if (n < 1) {
        n = 1;
    }
    if (p->grow < GREEN__ARENA_SLOTS) {
        p->grow *= 2;
    }
    struct green__arena *a =
        calloc(1, sizeof(*a) + n * sizeof(struct green__stack));
    if (a == NULL) {
        return NULL;
    }
    a->len = n * slot;
    a->base = mmap(NULL, a->len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (a->base == MAP_FAILED) {
        free(a);
        return NULL;
    }
    madvise(a->base, a->len, MADV_NOHUGEPAGE);
    a->slot = slot;
    a->nslots = (unsigned)n;
    for (size_t i = 0; i < n; i++) {
        a->desc[i].lo = a->base + i * slot + p->guard;
        a->desc[i].size = size;
        a->desc[i].guard = p->guard;
        a->desc[i].arena = a;
    }
    a->next = st.arenas;
    st.arenas = a;
    return a;
}

/* Whether the guard marker just put at g really faults. An madvise() that
 * accepts advice it does not know and does nothing (qemu-user's does)
 * would leave every stack unguarded. Reading the page through the kernel
 * fails with EFAULT on a real marker; anything else means "not proven",
 * and mprotect() takes over. Checked once per process. */
static bool guard_works(char *g, size_t len)
{
    char byte;
    struct iovec local = { &byte, 1 }, remote = { g, 1 };
    if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == -1 &&
        errno == EFAULT) {
        return true;
    }
    madvise(g, len, MADV_GUARD_REMOVE);
    return false;
}

/* Installs the guard below s, the first time s is handed out. */
static int install_guard(struct green__stack *s)
{
    char *g = s->lo - s->guard;
    int mode = __atomic_load_n(&guard_mode, __ATOMIC_RELAXED);
    if (mode != 2) {
        if (madvise(g, s->guard, MADV_GUARD_INSTALL) == 0 &&
            (mode == 1 || guard_works(g, s->guard))) {
            __atomic_store_n(&guard_mode, 1, __ATOMIC_RELAXED);
            s->guarded = 1;
            return 0;
        }
        if (mode == 1) {
            return -ENOMEM; /* worked before: a real failure */
        }
        /* this kernel has no guard markers */
        __atomic_store_n(&guard_mode, 2, __ATOMIC_RELAXED);
    }
    if (mprotect(g, s->guard, PROT_NONE) != 0) {
        return -ENOMEM; /* typically vm.max_map_count reached */
    }
    s->guarded = 1;
    return 0;
}

static struct green__stack_pool *pool_get(size_t size, size_t guard)
{
    for (struct green__stack_pool *p = st.pools; p != NULL; p = p->next) {
        if (p->size == size && p->guard == guard) {
            return p;
        }
    }
    struct green__stack_pool *p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->size = size;
        p->guard = guard;
        p->next = st.pools;
        st.pools = p;
    }
    return p;
}

static struct green__stack *slot_take(struct green__stack_pool *p)
{
    struct green__stack *s;
    if ((s = p->hot) != NULL) {
        p->hot = s->next;
        p->nhot--;
        return s;
    }
    if ((s = p->cold) != NULL) {
        p->cold = s->next;
        return s;
    }
    int saved = errno; /* mmap and madvise may fail on the way */
    if (p->open == NULL || p->open->used == p->open->nslots) {
        if ((p->open = arena_new(p)) == NULL) {
            errno = saved;
            return NULL;
        }
    }
    s = &p->open->desc[p->open->used++];
    if (install_guard(s) != 0) {
        p->open->used--;
        s = NULL;
    }
    errno = saved;
    return s;
}

int green__stack_alloc(size_t size, struct green__stack **out)
{
    return green__stack_alloc_guard(size, 0, out);
}

int green__stack_alloc_guard(size_t size, size_t guard,
                             struct green__stack **out)
{
    GREEN_REAL(pthread_once)(&once, init_once);
    if (green__thread_get() == NULL) {
        return -ENOMEM; /* the pools live in the thread's state */
    }
    size_t g = guard > GREEN__STACK_MAX ? GREEN__STACK_MAX : guard;
    g = (g + page_size - 1) & ~(page_size - 1);
    if (g < GREEN__GUARD) {
        g = GREEN__GUARD;
    }
    ensure_altstack();
    struct green__stack_pool *p = pool_get(size, g);
    struct green__stack *s = p != NULL ? slot_take(p) : NULL;
    if (s == NULL) {
        return -ENOMEM;
    }
    s->guard_asked = guard;
    s->next = NULL;
    s->resident = 1;
    s->owner_id = 0;
    s->owner_name = NULL;
#if GREEN_HAVE_VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, s->lo + s->size);
#endif
    st.in_use++;
    *out = s;
    return 0;
}

int green__stack_user(void *lo, size_t size, struct green__stack **out)
{
    GREEN_REAL(pthread_once)(&once, init_once);
    struct green__stack *s;
    if (green__thread_get() == NULL || (s = calloc(1, sizeof(*s))) == NULL) {
        return -ENOMEM;
    }
    ensure_altstack();
    s->lo = lo;
    s->size = size;
    s->user = 1;
    s->resident = 1;
#if GREEN_HAVE_VALGRIND
    s->valgrind_id = VALGRIND_STACK_REGISTER(s->lo, s->lo + s->size);
#endif
    st.in_use++;
    *out = s;
    return 0;
}

void green__stack_free(struct green__stack *s)
{
#if GREEN_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->valgrind_id);
#endif
#ifdef GREEN__ASAN
    /* A discarded greenlet leaves its frames' redzones poisoned. Unpoison
     * from the lowest poisoned byte only: touching the shadow of the whole
     * stack would make it resident for every stack ever freed. */
    char *bad = __asan_region_is_poisoned(s->lo, s->size);
    if (bad != NULL) {
        ASAN_UNPOISON_MEMORY_REGION(bad, (size_t)(s->lo + s->size - bad));
    }
#endif
    st.in_use--;
    if (s->user) { /* the program's memory: the program frees it */
        free(s);
        return;
    }
    struct green__stack_pool *p = pool_get(s->size, s->guard);
    if (p == NULL) {
        return; /* cannot happen: the pool existed at alloc; leak the slot */
    }
    if (p->nhot < GREEN__HOT_MAX) {
        s->next = p->hot;
        p->hot = s;
        p->nhot++;
        return;
    }
    madvise(s->lo, s->size, MADV_DONTNEED);
    s->resident = 0;
    s->next = p->cold;
    p->cold = s;
}

int green__stack_guard_mode(void)
{
    return __atomic_load_n(&guard_mode, __ATOMIC_RELAXED);
}

size_t green__stack_in_use(void)
{
    return green__thread_peek() != NULL ? st.in_use : 0;
}

void green__stack_thread_term(void)
{
    if (green__thread_peek() == NULL) {
        return;
    }
    while (st.arenas != NULL) {
        struct green__arena *a = st.arenas;
        st.arenas = a->next;
        munmap(a->base, a->len);
        free(a);
    }
    while (st.pools != NULL) {
        struct green__stack_pool *p = st.pools;
        st.pools = p->next;
        free(p);
    }
    if (st.altstack != NULL) {
        stack_t ss = { .ss_flags = SS_DISABLE };
        sigaltstack(&ss, NULL);
        munmap(st.altstack, GREEN__ALTSTACK);
        st.altstack = NULL;
    }
    st.alt_checked = false;
    st.in_use = 0;
}

/* --- overflow report (async-signal-safe: no stdio, no malloc) ---------- */

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s != '\0' && at < cap) {
        buf[at++] = *s++;
    }
    return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, unsigned long v)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0 && at < cap) {
        buf[at++] = tmp[--n];
    }
    return at;
}

/* The in-use stack whose guard region holds addr, or NULL. */
static const struct green__stack *guard_owner(const char *addr)
{
    if (green__thread_peek() == NULL) {
        return NULL; /* a thread with no state has no green stacks */
    }
    for (const struct green__arena *a = st.arenas; a; a = a->next) {
        if (addr < a->base || addr >= a->base + a->len) {
            continue;
        }
        size_t i = (size_t)(addr - a->base) / a->slot;
        const struct green__stack *s = &a->desc[i];
        if (i < a->used && addr < s->lo && s->guarded) {
            return s;
        }
        return NULL;
    }
    return NULL;
}

/* The stack pointer of the interrupted context, or NULL if unknown. */
static const char *fault_sp(const void *ucv)
{
    const ucontext_t *uc = ucv;
#if defined(__x86_64__)
    return (const char *)uc->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    return (const char *)uc->uc_mcontext.sp;
#else
    (void)uc;
    return NULL;
#endif
}

/* Whether the fault looks like s overflowing: the stack pointer is in s
 * or in its guard (a wild pointer that merely lands in a guard is some
 * other bug, and is left to the previous handler). */
static bool overflowing(const struct green__stack *s, const void *uc)
{
    const char *sp = fault_sp(uc);
    return sp == NULL ||
           (sp >= s->lo - s->guard && sp <= s->lo + s->size);
}

static void on_segv(int sig, siginfo_t *si, void *uc)
{
    const struct green__stack *s = guard_owner((const char *)si->si_addr);
    if (s != NULL && overflowing(s, uc)) {
        char msg[256];
        size_t n = put_str(msg, 0, sizeof(msg), "stack overflow in greenlet ");
        if (s->owner_name != NULL) {
            n = put_str(msg, n, sizeof(msg), "'");
            n = put_str(msg, n, sizeof(msg), s->owner_name);
            n = put_str(msg, n, sizeof(msg), "' ");
        }
        n = put_str(msg, n, sizeof(msg), "#");
        n = put_num(msg, n, sizeof(msg), s->owner_id);
        n = put_str(msg, n, sizeof(msg), ": its stack is ");
        n = put_num(msg, n, sizeof(msg), s->size);
        n = put_str(msg, n, sizeof(msg),
                    " bytes (raise it with the stack_size argument, "
                    "GREEN_STACK_SIZE or pthread_attr_setstacksize)");
        green__log_raw(GREEN_LOG_ERROR, msg, n);
        abort();
    }
    /* Not ours: hand the fault to whoever handled SIGSEGV before us. */
    if (old_segv.sa_flags & SA_SIGINFO) {
        old_segv.sa_sigaction(sig, si, uc);
    } else if (old_segv.sa_handler != SIG_DFL &&
               old_segv.sa_handler != SIG_IGN) {
        old_segv.sa_handler(sig);
    } else {
        GREEN_REAL(signal)(SIGSEGV, SIG_DFL); /* faults again, fatally */
    }
}
