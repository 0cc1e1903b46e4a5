/* SPDX-License-Identifier: MIT */
/* Thread-local storage of their own for green pthreads (see tls.h).
 *
 * How glibc makes a thread (nptl/pthread_create.c, allocate_stack): it
 * puts the thread descriptor, struct pthread, at the top of the new
 * stack, the static TLS blocks right below it (x86-64 keeps TLS below the
 * thread pointer, which points at the descriptor), lets ld.so's
 * _dl_allocate_tls() give it a DTV and copy every module's TLS image,
 * fills the fields a thread reads of itself, and the kernel loads the
 * thread pointer (%fs) at clone. libgreen does the same for a green
 * pthread, in the top of its green stack, and loads %fs itself on every
 * switch into it (wrfsbase where the kernel allows it, arch_prctl
 * otherwise). Only what is touched costs memory: the descriptor (2.3 KiB
 * here, zeroed) and the modules' TLS; the static surplus is reserved
 * address space.
 *
 * glibc's descriptor is private to glibc. libthread_db's interface
 * exports the size and the offsets of a dozen of its fields
 * (_thread_db_*), enough to check the whole layout this file writes: the
 * fields it needs and these known offsets fall out of glibc 2.36's
 * declaration (nptl/descr.h), and at start the two are compared. Any
 * difference, another architecture, or GREEN_TLS=shared, and green
 * pthreads share their OS thread's TLS as before (tls.h says what that
 * costs a program).
 *
 * What a green pthread's descriptor holds, as a new glibc thread's would:
 * self pointers, stack and pointer guards (copied, so canaries and
 * mangled pointers agree), the OS thread's id (glibc's pthread functions
 * that ask the kernel about "the thread" ask about the OS thread that
 * runs it), an empty robust list, its stack's bounds, the creator's
 * scheduling, no rseq registration (the kernel updates only the OS
 * thread's, so glibc falls back to getcpu), and its resolver state
 * (__resp points into it). libgreen's own per-OS-thread pointers in the
 * new TLS block are set to the OS thread's (green__tls_thread), so the
 * runtime finds its state whichever green thread runs.
 *
 * malloc's per-thread words. glibc's malloc keeps a thread's cache
 * (tcache) and its arena in libc's TLS and gives them back when a thread
 * ends (__libc_thread_freeres, which nothing outside libc can call). A
 * green pthread would start with none, make a cache of its own on its
 * first malloc and lose it, with the chunks in it, at its end: some 900
 * bytes per thread, a leak a thread-per-connection server pays per
 * connection. So green pthreads use their OS thread's: they run one at a
 * time and never inside malloc, which is all a per-thread cache needs.
 * The words are private to glibc; the first green__tls_make finds them
 * by experiment: it makes a fresh block, installs it for one malloc and
 * free, and takes the words of libc's block that changed (none under a
 * malloc that keeps its state elsewhere: ASan's, jemalloc's); every
 * green__tls_make copies them from the creator. */
#include "tls.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"
#include "log.h"
#include "patch.h"
#include "rawsys.h"

#ifndef HWCAP2_FSGSBASE
# define HWCAP2_FSGSBASE (1 << 1)
#endif
#ifndef ARCH_SET_FS
# define ARCH_SET_FS 0x1002
#endif

bool green__tp_fsgsbase;

/* glibc 2.36's struct pthread on x86-64, the fields written here. Those
 * marked (db) are checked against libthread_db's figures at start. */
enum {
    OFF_TCB = 0,              /* tcbhead_t.tcb: the TCB itself */
    OFF_SELF = 16,            /* tcbhead_t.self */
    OFF_MULTIPLE = 24,        /* tcbhead_t.multiple_threads */
    OFF_SYSINFO = 32,         /* tcbhead_t.sysinfo */
    OFF_STACK_GUARD = 40,     /* tcbhead_t.stack_guard (%fs:0x28) */
    OFF_POINTER_GUARD = 48,   /* tcbhead_t.pointer_guard (%fs:0x30) */
    OFF_FEATURE_1 = 72,       /* tcbhead_t.feature_1 (CET) */
    OFF_TID = 720,            /* (db) */
    OFF_ROBUST_HEAD = 736,    /* robust_head: list, futex_offset, pending */
    OFF_CANCELHANDLING = 776, /* (db) */
    OFF_SPECIFIC = 1296,      /* (db) specific[] */
    OFF_REPORT_EVENTS = 1553, /* (db) */
    OFF_JOINID = 1568,
    OFF_SCHEDPARAM = 1584,    /* (db) */
    OFF_SCHEDPOLICY = 1588,   /* (db) */
    OFF_START_ROUTINE = 1592, /* (db) */
    OFF_ARG = 1600,
    OFF_EVENTBUF = 1608,      /* (db) */
    OFF_NEXTEVENT = 1632,     /* (db) */
    OFF_STACKBLOCK = 1680,
    OFF_STACKBLOCK_SIZE = 1688,
    OFF_GUARDSIZE = 1696,
    OFF_REPORTED_GUARDSIZE = 1704,
    OFF_RES = 1720,           /* struct __res_state */
    OFF_RSEQ = 2336,          /* (== __rseq_offset) struct rseq */
    SIZEOF_PTHREAD = 2368     /* (db) */
};

/* The robust list's futex offset, as glibc sets it: from a mutex's
 * __list.__next to its __lock. */
#define ROBUST_FUTEX_OFFSET (-32L)
#define RSEQ_CPU_ID_REGISTRATION_FAILED (-2)

#define MAX_INHERIT 4

static struct {
    int state;                 /* 0 unread, 1 private, -1 shared */
    void *(*allocate)(void *);
    void (*deallocate)(void *, bool);
    void (*ctype_init)(void);
    void (*call_dtors)(void);
    size_t static_size, align, reserve;
    ptrdiff_t resp;            /* __resp's offset from the thread pointer,
                                  or 0 if unknown */
    int n_inherit;             /* malloc's per-thread words in libc's block */
    ptrdiff_t inherit[MAX_INHERIT]; /* their offsets from the thread pointer */
} tls;

/* Marks a descriptor as a green pthread's: its start routine. */
static void *green_pthread_marker(void *arg)
{
    return arg;
}

void green__tp_set_slow(void *tp)
{
#if defined(__x86_64__)
    green__syscall(SYS_arch_prctl, ARCH_SET_FS, tp);
#else
    (void)tp;
#endif
}

/* One libthread_db field descriptor: {bits, count, offset}. */
static bool db_offset_is(const char *name, unsigned want)
{
    const uint32_t *d = dlsym(RTLD_DEFAULT, name);
    return d != NULL && d[2] == want;
}

/* x86-64's (unused elsewhere) */
__attribute__((unused)) static const char *layout_problem(void)
{
    const uint32_t *size = dlsym(RTLD_DEFAULT, "_thread_db_sizeof_pthread");
    if (size == NULL || *size != SIZEOF_PTHREAD) {
        return "struct pthread's size";
    }
    static const struct {
        const char *name;
        unsigned off;
    } known[] = {
        {"_thread_db_pthread_tid", OFF_TID},
        {"_thread_db_pthread_cancelhandling", OFF_CANCELHANDLING},
        {"_thread_db_pthread_specific", OFF_SPECIFIC},
        {"_thread_db_pthread_report_events", OFF_REPORT_EVENTS},
        {"_thread_db_pthread_schedparam_sched_priority", OFF_SCHEDPARAM},
        {"_thread_db_pthread_schedpolicy", OFF_SCHEDPOLICY},
        {"_thread_db_pthread_start_routine", OFF_START_ROUTINE},
        {"_thread_db_pthread_eventbuf", OFF_EVENTBUF},
        {"_thread_db_pthread_nextevent", OFF_NEXTEVENT},
        {"_thread_db_pthread_dtvp", 8},
    };
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (!db_offset_is(known[i].name, known[i].off)) {
            return known[i].name;
        }
    }
    const int *rseq = dlsym(RTLD_DEFAULT, "__rseq_offset");
    if (rseq == NULL || *rseq != OFF_RSEQ) {
        return "__rseq_offset";
    }
    return NULL;
}


static void *make_block(char *lo, char *top, void *record);

/* libc's static TLS block: its offset from the thread pointer and size. */
struct libc_tls {
    ptrdiff_t off;
    size_t size;
};

/* Whether path names libc.so.*. */
static bool is_libc(const char *path)
{
    const char *slash = path != NULL ? strrchr(path, '/') : NULL;
    const char *base = slash != NULL ? slash + 1 : path;
    return base != NULL && strncmp(base, "libc.so", 7) == 0;
}

static int find_libc_tls(struct dl_phdr_info *info, size_t n, void *arg)
{
    (void)n;
    if (!is_libc(info->dlpi_name) || info->dlpi_tls_data == NULL) {
        return 0;
    }
    for (int i = 0; i < info->dlpi_phnum; i++) {
        if (info->dlpi_phdr[i].p_type == PT_TLS) {
            struct libc_tls *l = arg;
            l->off = (char *)info->dlpi_tls_data - (char *)green__tp_now();
            l->size = info->dlpi_phdr[i].p_memsz;
            return 1;
        }
    }
    return 0;
}

/* Finds malloc's per-thread words (see the top of the file): the words of
 * libc's block that one malloc and free in a fresh block change. The
 * probe's own cache stays behind, once per process. */
static void find_inherited(void)
{
    /* Only glibc's malloc: another one (jemalloc, tcmalloc, a sanitizer's)
     * keeps its state elsewhere, and may not like a thread that is a
     * probe for one call (jemalloc links the probe's TLS into its
     * lists). */
    Dl_info mi;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    if (m == NULL || dladdr(m, &mi) == 0 || !is_libc(mi.dli_fname)) {
        return;
    }
    struct libc_tls l = {0, 0};
    if (dl_iterate_phdr(find_libc_tls, &l) == 0 || l.size == 0 ||
        l.off >= 0 || (size_t)-l.off > tls.static_size) {
        return;
    }
    size_t len = (tls.reserve + 4095) & ~(size_t)4095;
    char *lo = mmap(NULL, len, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (lo == MAP_FAILED) {
        return;
    }
    void *volatile p = malloc(1); /* the OS thread's cache exists */
    free(p);
    char *pd = make_block(lo, lo + len, NULL);
    if (pd != NULL) {
        /* Whole words: libc's block is aligned at least to a word. */
        ptrdiff_t start = l.off & ~(ptrdiff_t)7;
        size_t words = (size_t)(l.off + (ptrdiff_t)l.size - start + 7) / 8;
        ptrdiff_t err = ((char *)&errno - (char *)green__tp_now()) &
                        ~(ptrdiff_t)7;
        uint64_t before[64], after[64];
        if (words > 64) {
            words = 64; /* malloc's words come early; a bigger libc block
                           is a libc this was not written for */
        }
        memcpy(before, pd + start, words * 8);
        /* Read now, not where the compiler likes: to it the thread
         * pointer is a constant (__builtin_thread_pointer). */
        void *me;
#if defined(__x86_64__)
        __asm__ __volatile__("mov %%fs:0, %0" : "=r"(me) : : "memory");
#else
        me = __builtin_thread_pointer(); /* (never here: shared TLS) */
        __asm__ __volatile__("" ::: "memory");
#endif
        green__tp_set_slow(pd);
        p = malloc(32); /* volatile: not elided */
        free(p);
        memcpy(after, pd + start, words * 8);
        green__tp_set_slow(me);
        int n = 0;
        ptrdiff_t found[MAX_INHERIT];
        for (size_t i = 0; i < words; i++) {
            ptrdiff_t off = start + (ptrdiff_t)(i * 8);
            if (before[i] == after[i] || off == err) {
                continue;
            }
            if (n == MAX_INHERIT) {
                n = -1;
                break;
            }
            found[n++] = off;
        }
        if (n > 0) {
            memcpy(tls.inherit, found, (size_t)n * sizeof(found[0]));
            tls.n_inherit = n;
        }
        green__log(GREEN_LOG_DEBUG, "green pthreads share %d word(s) of "
                   "malloc's per-thread state with their OS thread", n);
        tls.deallocate(pd, false);
    }
    munmap(lo, len);
}

static void settle(void)
{
    const char *mode = green__getenv("GREEN_TLS");
    if (mode != NULL && strcmp(mode, "private") != 0 &&
        strcmp(mode, "shared") != 0) {
        green__env_invalid("GREEN_TLS", mode, "private or shared",
                           "private");
        mode = NULL;
    }
    const char *why = NULL;
#if !defined(__x86_64__)
    why = "this architecture";
#else
    if (mode != NULL && strcmp(mode, "shared") == 0) {
        why = "GREEN_TLS=shared";
    } else if ((why = layout_problem()) == NULL) {
        void (*info)(size_t *, size_t *) =
            (void (*)(size_t *, size_t *))dlvsym(
                RTLD_DEFAULT, "_dl_get_tls_static_info", "GLIBC_PRIVATE");
        tls.allocate = (void *(*)(void *))dlvsym(
            RTLD_DEFAULT, "_dl_allocate_tls", "GLIBC_PRIVATE");
        tls.deallocate = (void (*)(void *, bool))dlvsym(
            RTLD_DEFAULT, "_dl_deallocate_tls", "GLIBC_PRIVATE");
        tls.ctype_init = (void (*)(void))dlvsym(RTLD_DEFAULT, "__ctype_init",
                                                "GLIBC_PRIVATE");
        tls.call_dtors = (void (*)(void))dlvsym(
            RTLD_DEFAULT, "__call_tls_dtors", "GLIBC_PRIVATE");
        if (info == NULL || tls.allocate == NULL || tls.deallocate == NULL ||
            tls.ctype_init == NULL) {
            why = "ld.so's TLS functions";
        } else {
            info(&tls.static_size, &tls.align);
            if (tls.align < 64) {
                tls.align = 64;
            }
            /* The descriptor at the top, aligned down, the blocks below,
             * and room to align. */
            tls.reserve = (tls.static_size + 2 * tls.align + 63) & ~(size_t)63;
            void *resp = dlsym(RTLD_DEFAULT, "__resp");
            if (resp != NULL) {
                tls.resp = (char *)resp - (char *)green__tp_now();
            }
            green__tp_fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
        }
    }
#endif
    if (why != NULL) {
        green__log(GREEN_LOG_DEBUG, "green pthreads share their OS thread's "
                   "TLS (%s)", why);
    }
    __atomic_store_n(&tls.state, why == NULL ? 1 : -1, __ATOMIC_RELEASE);
}

bool green__tls_private(void)
{
    int s = __atomic_load_n(&tls.state, __ATOMIC_ACQUIRE);
    if (__builtin_expect(s == 0, 0)) {
        settle();
        s = tls.state;
    }
    return s > 0;
}

size_t green__tls_reserve(void)
{
    return green__tls_private() ? tls.reserve : 0;
}

#define AT(pd, off, type) (*(type *)((char *)(pd) + (off)))

/* Sets, in the TLS block whose thread pointer is tp, the variable that is
 * at `var` in the calling thread's block (initial-exec TLS of libgreen:
 * the same offset from every thread pointer). */
void green__tls_set_in(void *tp, const void *var, const void *value,
                       size_t n)
{
    ptrdiff_t off = (const char *)var - (const char *)green__tp_now();
    memcpy((char *)tp + off, value, n);
}

static void *make_block(char *lo, char *top, void *record)
{
    char *pd = (char *)(((uintptr_t)top - SIZEOF_PTHREAD) &
                        ~(uintptr_t)(tls.align - 1));
    if (pd - (tls.static_size - SIZEOF_PTHREAD) < lo) {
        return NULL;
    }
    char *self = green__tp_now();
    memset(pd, 0, SIZEOF_PTHREAD);
    AT(pd, OFF_TCB, void *) = pd;
    AT(pd, OFF_SELF, void *) = pd;
    AT(pd, OFF_MULTIPLE, int) = 1;
    AT(pd, OFF_SYSINFO, uintptr_t) = AT(self, OFF_SYSINFO, uintptr_t);
    AT(pd, OFF_STACK_GUARD, uintptr_t) = AT(self, OFF_STACK_GUARD, uintptr_t);
    AT(pd, OFF_POINTER_GUARD, uintptr_t) =
        AT(self, OFF_POINTER_GUARD, uintptr_t);
    AT(pd, OFF_FEATURE_1, unsigned) = AT(self, OFF_FEATURE_1, unsigned);
    AT(pd, OFF_TID, pid_t) = (pid_t)green__syscall(SYS_gettid);
    AT(pd, OFF_ROBUST_HEAD, void *) = pd + OFF_ROBUST_HEAD;
    AT(pd, OFF_ROBUST_HEAD + 8, long) = ROBUST_FUTEX_OFFSET;
    AT(pd, OFF_SCHEDPARAM, int) = AT(self, OFF_SCHEDPARAM, int);
    AT(pd, OFF_SCHEDPOLICY, int) = AT(self, OFF_SCHEDPOLICY, int);
    AT(pd, OFF_START_ROUTINE, void *) = (void *)green_pthread_marker;
    AT(pd, OFF_ARG, void *) = record;
    AT(pd, OFF_STACKBLOCK, void *) = lo;
    AT(pd, OFF_STACKBLOCK_SIZE, size_t) = (size_t)(top - lo);
    AT(pd, OFF_RSEQ + 4, int) = RSEQ_CPU_ID_REGISTRATION_FAILED; /* cpu_id */
    if (tls.allocate(pd) == NULL) {
        return NULL; /* no memory for its DTV */
    }
    /* libgreen's own per-OS-thread pointers, the OS thread's values. */
    struct green__thread *t = green__tls_thread;
    green__tls_set_in(pd, &green__tls_thread, &t, sizeof(t));
    signed char here = green__here;
    green__tls_set_in(pd, &green__here, &here, sizeof(here));
    if (tls.resp != 0) {
        void *res = pd + OFF_RES;
        memcpy(pd + tls.resp, &res, sizeof(res));
    }
    for (int i = 0; i < tls.n_inherit; i++) {
        memcpy(pd + tls.inherit[i], self + tls.inherit[i], sizeof(void *));
    }
    return pd;
}

void *green__tls_make(char *lo, char *top, void *record)
{
    if (!green__tls_private()) {
        return NULL;
    }
    /* The probe mallocs: at the first green pthread, not at settle(),
     * which may run inside an allocator's own start (jemalloc's
     * pthread_key_create). */
    static int probed; /* 0 not yet, 1 probing, 2 done */
    int p = __atomic_load_n(&probed, __ATOMIC_ACQUIRE);
    if (__builtin_expect(p != 2, 0)) {
        if (p == 0 && __atomic_compare_exchange_n(&probed, &p, 1, false,
                                                  __ATOMIC_ACQ_REL,
                                                  __ATOMIC_ACQUIRE)) {
            find_inherited();
            __atomic_store_n(&probed, 2, __ATOMIC_RELEASE);
        }
        while (__atomic_load_n(&probed, __ATOMIC_ACQUIRE) != 2) {
            green__cpu_relax();
        }
    }
    return make_block(lo, top, record);
}

void green__tls_enter(void)
{
    tls.ctype_init(); /* the locale's ctype tables, in this TLS */
}

void green__tls_dtors(void)
{
    if (tls.call_dtors != NULL) {
        tls.call_dtors();
    }
    /* A failed dlopen or dlsym leaves its message in the thread's TLS,
     * which glibc frees at thread exit (__libc_thread_freeres). Taking it
     * twice frees it: the first dlerror() hands it out, the next frees
     * it. */
    if (dlerror() != NULL) {
        (void)dlerror();
    }
}

void green__tls_free(void *tp)
{
    tls.deallocate(tp, false);
}

/* errno of the TLS installed now. Out of line and opaque to the
 * optimiser, which takes __errno_location() for a constant and would
 * read the errno of the block installed before a switch. */
__attribute__((noinline, noipa)) static int errno_now(void)
{
    return errno;
}

__attribute__((noinline, noipa)) static void errno_set(int e)
{
    errno = e;
}

pid_t green__tls_fork(pid_t (*real_fork)(void))
{
    struct green__thread *t = green__thread_peek();
    void *mine = t != NULL && t->current != NULL ? t->current->tp : NULL;
    if (mine == NULL) {
        return real_fork();
    }
    green__tp_set(t->os_tp);
    pid_t pid = real_fork();
    int e = errno_now();
    if (pid == 0) {
        AT(mine, OFF_TID, pid_t) = (pid_t)green__syscall(SYS_gettid);
    }
    green__tp_set(mine);
    errno_set(e);
    return pid;
}

void *green__tls_record(const void *t)
{
    if (t == NULL || tls.state <= 0 ||
        AT(t, OFF_START_ROUTINE, void *) != (void *)green_pthread_marker) {
        return NULL;
    }
    return AT(t, OFF_ARG, void *);
}

int green__tls_words(const void *tp, void **out)
{
    if (tp == NULL || tls.state <= 0) {
        return 0;
    }
    for (int i = 0; i < tls.n_inherit; i++) {
        memcpy(&out[i], (const char *)tp + tls.inherit[i], sizeof(void *));
    }
    return tls.n_inherit;
}

void green__tls_words_set(void *tp, void *const *in, int n)
{
    if (tp == NULL || tls.state <= 0) {
        return;
    }
    for (int i = 0; i < n && i < tls.n_inherit; i++) {
        memcpy((char *)tp + tls.inherit[i], &in[i], sizeof(void *));
    }
}

/* --- each OS thread's own descriptor, for glibc's set*id broadcast ----------

 * glibc's setuid and friends (nptl_setxid.c) change every thread's
 * credentials: the caller signals each other descriptor on glibc's lists
 * with SIGSETXID (33), by that descriptor's thread id, and loops until
 * none is left marked; each handler clears the mark in THREAD_SELF. With
 * green TLS, the OS thread that takes the signal may be running another
 * descriptor (a green pthread's; after a hand-off, main's on a spare), so
 * the mark stayed and the caller signalled for ever (a green pthread's
 * setgid hung under the preload). So every OS thread that runs greenlets
 * registers its own descriptor here; the set*id interposers run glibc's
 * call on it, and a wrapper around glibc's SIGSETXID handler installs it
 * for the handler. */

#define OWN_MAX 256
static struct {
    int tid;
    void *tp;
} own[OWN_MAX];

void green__tls_own_register(void *tp)
{
    int tid = (int)green__syscall(SYS_gettid);
    for (int i = 0; i < OWN_MAX; i++) {
        int none = 0;
        if (__atomic_load_n(&own[i].tid, __ATOMIC_ACQUIRE) == tid ||
            __atomic_compare_exchange_n(&own[i].tid, &none, tid, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            __atomic_store_n(&own[i].tp, tp, __ATOMIC_RELEASE);
            return;
        }
    }
}

void green__tls_own_forget(void)
{
    int tid = (int)green__syscall(SYS_gettid);
    for (int i = 0; i < OWN_MAX; i++) {
        if (__atomic_load_n(&own[i].tid, __ATOMIC_ACQUIRE) == tid) {
            __atomic_store_n(&own[i].tp, NULL, __ATOMIC_RELEASE);
            __atomic_store_n(&own[i].tid, 0, __ATOMIC_RELEASE);
        }
    }
}

static void *own_of(int tid)
{
    for (int i = 0; i < OWN_MAX; i++) {
        if (__atomic_load_n(&own[i].tid, __ATOMIC_ACQUIRE) == tid) {
            return __atomic_load_n(&own[i].tp, __ATOMIC_ACQUIRE);
        }
    }
    return NULL;
}

/* The kernel's struct sigaction (rt_sigaction's). */
struct ksigaction {
    void (*handler)(int, siginfo_t *, void *);
    unsigned long flags;
    void (*restorer)(void);
    uint64_t mask;
};

#define SIGSETXID_ 33
static void (*glibc_setxid)(int, siginfo_t *, void *);

static void setxid_wrapper(int sig, siginfo_t *si, void *uc)
{
    void *mine = own_of((int)green__syscall(SYS_gettid));
    void *here = green__tp_now();
    if (mine != NULL && mine != here) {
        green__tp_set(mine);
    }
    glibc_setxid(sig, si, uc);
    if (mine != NULL && mine != here) {
        green__tp_set(here);
    }
}

static void wrap_setxid(void)
{
    static int done;
    if (__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL)) {
        return;
    }
    struct ksigaction k;
    if (green__syscall(SYS_rt_sigaction, SIGSETXID_, NULL, &k, 8) != 0 ||
        k.handler == NULL || (void *)k.handler == (void *)SIG_IGN ||
        k.handler == setxid_wrapper) {
        return;
    }
    glibc_setxid = k.handler;
    k.handler = setxid_wrapper;
    green__syscall(SYS_rt_sigaction, SIGSETXID_, &k, NULL, 8);
}

void *green__tls_own_enter(void)
{
    if (__atomic_load_n(&tls.state, __ATOMIC_ACQUIRE) <= 0) {
        return NULL; /* shared TLS: every thread is on its own */
    }
    wrap_setxid();
    void *mine = own_of((int)green__syscall(SYS_gettid));
    void *here = green__tp_now();
    if (mine == NULL || mine == here) {
        return NULL;
    }
    green__tp_set(mine);
    return here;
}

void green__tls_own_leave(void *prev)
{
    if (prev != NULL) {
        green__tp_set(prev);
    }
}

static void own_after_fork(void)
{
    memset(own, 0, sizeof(own));
    green__tls_own_register(green__tp_now()); /* what fork ran on */
}

void green__tls_own_atfork(void)
{
    static int done;
    if (!__atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL)) {
        pthread_atfork(NULL, NULL, own_after_fork);
    }
}
