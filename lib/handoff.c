/* SPDX-License-Identifier: MIT */
/* The hand-off (see handoff.h).
 *
 * The hub, its loop and every green thread on it move together from one
 * OS thread to another; the green thread that kept the old one stays
 * behind until it comes back. Go calls the pieces M (an OS thread), P
 * (the right to run goroutines, with its run queue) and G; here a host
 * is an M, the hub's struct green__thread a P.
 *
 * When. The watchdog (lib/watchdog.c) sees a hub whose beat has not moved
 * for GREEN_HANDOFF_MS while a green pthread runs: it computes, or it
 * waits in a system call that restarts after a handler (the same rule as
 * its probe for backtraces). It takes a spare from the pool and sends the
 * stuck OS thread the probe signal.
 *
 * The freeze. The handler runs in the stuck green thread, which cannot
 * move meanwhile: that is what makes the decision safe without a lock on
 * any hot path. It hands off only if the thread is outside libgreen:
 * the interrupted pc is not libgreen's code, and no word of its stack
 * between its stack pointer and the start routine's return slot (recorded
 * by green__handoff_call) points into libgreen's code. A libgreen frame
 * that will run again after the call has its return address there; a
 * libgreen function that tail-calls libc leaves none, and nothing of it
 * runs afterwards. A stale word only makes the check say no. Then it
 * marks the thread away: the low bit of its green__tls_thread (every
 * libgreen entry reads that word first, through green__thread_peek or
 * green__thread_get) and its green__here byte (the thread family's
 * check, whose slow path looks). Both live in the thread's own TLS
 * block, so no other thread pays for the mark.
 *
 * The take-over. The watchdog, with the hub still frozen (its greenlets
 * are parked or ready; the only one running is away and outside
 * libgreen), moves the record: the hub's host, the watchdog's thread id,
 * a generation number that makes every green pthread take the new host's
 * malloc words at its next switch in (tls.h: a per-thread cache must
 * never be used by two OS threads), the new host's words in the
 * descriptor the hub and main use, and the old thread's signal mask for
 * the new one. The spare then installs that descriptor and jumps into the
 * hub's saved context, as a park would have.
 *
 * The way back. The away thread's next call into libgreen blocks its
 * signals, drops the mark and switches to its host's idle context (a
 * small stack of the host's own, with a TLS block of its own in which
 * green__tls_thread is NULL, so that what the idle code calls passes
 * through the interposers). There the host takes its malloc words back
 * from the thread's block, posts the thread to the hub's inbox
 * (lib/remote.c), waits until the hub has read the post, and becomes a
 * spare. The hub makes it ready; it resumes in green__handoff_rejoin on
 * the new host and goes on with the call it made.
 *
 * What is never handed off: the main thread and the API's greenlets
 * (their TLS is the OS thread's, which the hub takes along), a green
 * thread inside libgreen (a regular file's read made by an interposer),
 * one in a call that a signal would end (a socket read with SO_RCVTIMEO,
 * nanosleep, a timed futex wait: the probe would change what it
 * returns), a forked child, and anything once MAX_HOSTS OS threads exist.
 */
#include "handoff.h"

#include <errno.h>
#include <execinfo.h>
#include <link.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "config.h"
#include "green_config.h"
#include "internal.h"
#include "log.h"
#include "patch.h"
#include "rawsys.h"
#include "real.h"
#include "tls.h"
#include "watchdog.h"
#include "workers.h"

#ifndef RUNNING_ON_VALGRIND
# if __has_include(<valgrind/valgrind.h>)
#  include <valgrind/valgrind.h>
# else
#  define RUNNING_ON_VALGRIND 0
# endif
#endif

#define MAX_HOSTS 64
#define IDLE_STACK ((size_t)64 << 10)
#define SCAN_MAX ((uintptr_t)8 << 20)
#define HANDOFF_FRAMES 128

struct green__host {
    int tid;
    void *own_tp;            /* the thread pointer it idles on: a TLS
                                block of its own (make_idle) */
    void *self_tp;           /* its glibc descriptor (a spare's; NULL for
                                the hub's first host, whose descriptor is
                                main's) */
    green__sp_t idle_sp;     /* a greenlet leaving this host jumps here */
    int nwords;
    void *words[GREEN__TLS_WORDS]; /* its malloc words */
    int order;               /* futex word: 1 = take over `to` */
    struct green__thread *to;
    uint64_t mask;           /* the signal mask to take over with */
    struct green__remote rec; /* a leaving greenlet's post to the hub */
    struct green__host *next; /* in the spare stack */
    bool home;               /* the OS thread the hub was made on: never a
                                spare for another's hub, only the way home
                                (green__handoff_home) */
};

__thread struct greenlet *green__tls_away
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

int green__handoff_want;

static struct {
    double after;            /* seconds; 0 off; < 0 unread */
    struct green__host *spares; /* a stack: hosts push, the watchdog pops */
    int nhosts;
    unsigned long count;
    uintptr_t text_lo, text_hi; /* libgreen's code */
    int ending;              /* the hub's OS thread ends: spares too */
    const char *why;         /* the last freeze's no, for the debug log */
    uintptr_t why_at;        /* ...and the word or pc that said it */
} ho = {.after = -1.0};

/* --- libgreen's code ------------------------------------------------------ */

#if GREEN_CTX_LEAP && !defined(GREEN__SAN_FIBERS) && defined(__x86_64__)
static int find_text(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size, (void)data;
    uintptr_t self = (uintptr_t)green__handoff_freeze;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) {
            continue;
        }
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (self >= lo && self < lo + ph->p_memsz) {
            ho.text_lo = lo;
            ho.text_hi = lo + ph->p_memsz;
            return 1;
        }
    }
    return 0;
}
#endif

static inline bool in_text(uintptr_t a)
{
    return a >= ho.text_lo && a < ho.text_hi;
}

double green__handoff_after(void)
{
    double after;
    __atomic_load(&ho.after, &after, __ATOMIC_RELAXED);
    if (GREEN__UNLIKELY(after < 0.0)) {
        double v = 0.0;
#if GREEN_CTX_LEAP && !defined(GREEN__SAN_FIBERS) && defined(__x86_64__)
        long ms = green__env_long("GREEN_HANDOFF_MS", 0, 86400000L, 20,
                                  "milliseconds, 0 for off");
        if (ms > 0 && !RUNNING_ON_VALGRIND && green__tls_private() &&
            dl_iterate_phdr(find_text, NULL) == 1) {
            v = (double)ms / 1e3;
        }
#endif
        __atomic_store(&ho.after, &v, __ATOMIC_RELAXED);
        after = v;
    }
    return after;
}

/* --- small raw pieces -------------------------------------------------------- */

static void futex_wait(int *word, int value)
{
    green__syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL);
}

static void futex_wake(int *word)
{
    green__syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1);
}

/* Every signal blocked but glibc's own two (32: cancellation, 33: setxid,
 * which its set*id broadcast needs every thread to take). */
static void block_signals(void)
{
    uint64_t all = ~(uint64_t)0 & ~((uint64_t)3 << 31);
    green__syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
}

static void push_spare(struct green__host *h)
{
    struct green__host *head = __atomic_load_n(&ho.spares, __ATOMIC_RELAXED);
    do {
        h->next = head;
    } while (!__atomic_compare_exchange_n(&ho.spares, &head, h, true,
                                          __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* Pops are serialised (the watchdog's, and the end's), so a popped record
 * cannot come back between the load and the exchange. */
static int pop_lock;

static struct green__host *pop_spare(void)
{
    while (__atomic_exchange_n(&pop_lock, 1, __ATOMIC_ACQUIRE) != 0) {
        green__cpu_relax();
    }
    struct green__host *head = __atomic_load_n(&ho.spares, __ATOMIC_ACQUIRE);
    while (head != NULL &&
           !__atomic_compare_exchange_n(&ho.spares, &head, head->next, true,
                                        __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
    }
    __atomic_store_n(&pop_lock, 0, __ATOMIC_RELEASE);
    return head;
}

static struct green__host *host_new(void)
{
    if (__atomic_fetch_add(&ho.nhosts, 1, __ATOMIC_RELAXED) >= MAX_HOSTS) {
        __atomic_fetch_sub(&ho.nhosts, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    struct green__host *h = mmap(NULL, sizeof(*h), PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (h == MAP_FAILED) {
        __atomic_fetch_sub(&ho.nhosts, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    return h;
}

/* --- hosts ------------------------------------------------------------------- */

static bool make_idle(struct green__host *h, void (*entry)(void *));
extern const char green__call_recorded_ret[];

/* On h's OS thread, in its idle context: greenlet g has just left it
 * (its context is saved). Takes h's malloc words back from g's block,
 * posts g to its hub and waits until the hub has read the post. */
static void leave(struct green__host *h, struct greenlet *g)
{
    block_signals();
    green__tp_set(h->own_tp);
    if (g->tp != NULL) {
        h->nwords = green__tls_words(g->tp, h->words);
    }
    h->rec.g = g;
    h->rec.code = GREEN__REJOIN;
    green__remote_wake(&h->rec);
    while (__atomic_load_n(&h->rec.done, __ATOMIC_ACQUIRE) == 0) {
        futex_wait(&h->rec.done, 0);
    }
}

/* On h's OS thread: runs the hub it was ordered to take, from the saved
 * context the hub last switched away from, as a park would resume it.
 * Returns when a greenlet leaves h (the greenlet). */
static struct greenlet *take_over(struct green__host *h)
{
    struct green__thread *t = h->to;
    struct greenlet *hub = t->hub;
    green__syscall(SYS_rt_sigprocmask, SIG_SETMASK, &h->mask, NULL, 8);
    green__tp_set(t->os_tp);
    *t->errnop = hub->saved_errno;
    hub->state = GREEN__RUNNING;
    t->current = hub;
    return green__ctx_jump(&h->idle_sp, hub->sp, NULL);
}

/* Orders: 1 take over h->to, 2 end (the process is ending: a spare must
 * not keep it alive). */
static void host_loop(struct green__host *h, struct greenlet *g)
{
    for (;;) {
        if (g != NULL) {
            leave(h, g);
        }
        if (!h->home) {
            push_spare(h);
        }
        int order;
        while ((order = __atomic_load_n(&h->order, __ATOMIC_ACQUIRE)) == 0) {
            if (!h->home && __atomic_load_n(&ho.ending, __ATOMIC_ACQUIRE)) {
                order = 2; /* pushed after the end took the pool */
                break;
            }
            struct timespec ts = {1, 0};
            green__syscall(SYS_futex, &h->order, FUTEX_WAIT_PRIVATE, 0, &ts);
        }
        __atomic_store_n(&h->order, 0, __ATOMIC_RELAXED);
        if (order == 2) {
            return;
        }
        g = take_over(h);
    }
}

/* The first frame of the idle context of the OS thread a hub was made on,
 * entered by the first greenlet to leave it. */
static void idle_entry(void *arg)
{
    struct greenlet *g = arg;
    host_loop(g->away_host, g);
    abort(); /* the home host is never told to end */
}

static void *spare_main(void *arg)
{
    struct green__host *h = arg;
    h->tid = (int)green__syscall(SYS_gettid);
    h->self_tp = green__tp_now();
    green__tls_own_register(h->self_tp); /* for set*id (tls.h) */
    /* Its malloc cache exists before a block borrows its words (glibc's
     * malloc only: with no words to share, another allocator's own state
     * is per TLS block, and a native thread had better not call it). */
    h->nwords = green__tls_words(h->self_tp, h->words);
    if (h->nwords > 0 && h->words[0] == NULL) {
        free(malloc(64));
        h->nwords = green__tls_words(h->self_tp, h->words);
    }
    /* The overflow report needs a sigaltstack on every thread that runs
     * greenlets (lib/stack.c). */
    void *alt = mmap(NULL, (size_t)64 << 10, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (alt != MAP_FAILED) {
        stack_t ss = {.ss_sp = alt, .ss_size = (size_t)64 << 10};
        sigaltstack(&ss, NULL);
    }
    block_signals();
    green__tp_set(h->own_tp);
    host_loop(h, NULL);
    green__tp_set(h->self_tp); /* glibc's thread exit reads its own */
    green__tls_own_forget();
    return NULL;
}

void green__handoff_replenish(void)
{
    __atomic_store_n(&green__handoff_want, 0, __ATOMIC_RELAXED);
    if (__atomic_load_n(&ho.spares, __ATOMIC_ACQUIRE) != NULL) {
        return;
    }
    struct green__host *h = host_new();
    if (h == NULL) {
        return;
    }
    if (!make_idle(h, NULL) ||
        green__os_thread("green-spare", spare_main, h, (size_t)256 << 10) !=
            0) {
        munmap(h, sizeof(*h)); /* (an idle block made stays: rare) */
        __atomic_fetch_sub(&ho.nhosts, 1, __ATOMIC_RELAXED);
    }
}

/* Makes h's idle TLS block: glibc's layout (tls.c) on a small stack of
 * its own, where green__tls_thread is NULL, so that what the idle code
 * calls (libev's ev_async_send and its write) passes through the
 * interposers, and green__here says "not green". The idle context starts
 * in entry (NULL: none, for a spare, whose idle context is its native
 * stack). Made on a green thread (the hub's creation, the hub's turn),
 * since the block's DTV comes from malloc. */
static bool make_idle(struct green__host *h, void (*entry)(void *))
{
    size_t reserve = green__tls_reserve();
    size_t size = IDLE_STACK + reserve;
    char *lo = mmap(NULL, size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (lo == MAP_FAILED) {
        return false;
    }
    void *tp = reserve != 0 ? green__tls_make(lo, lo + size, NULL) : NULL;
    if (tp == NULL) {
        munmap(lo, size);
        return false;
    }
    struct green__thread *none = NULL;
    signed char no = -1;
    green__tls_set_in(tp, &green__tls_thread, &none, sizeof(none));
    green__tls_set_in(tp, &green__here, &no, sizeof(no));
    h->own_tp = tp;
    if (entry != NULL) {
        char *top = (char *)((uintptr_t)(lo + size - reserve) &
                             ~(uintptr_t)15);
        h->idle_sp = green__ctx_make(top, (size_t)(top - lo), entry);
    }
    return true;
}

/* The record of the OS thread the hub was made on, at the hub's
 * creation. */
static struct green__host *first_host(void)
{
    struct green__host *h = host_new();
    if (h == NULL) {
        return NULL;
    }
    if (!make_idle(h, idle_entry)) {
        munmap(h, sizeof(*h));
        __atomic_fetch_sub(&ho.nhosts, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    h->tid = (int)green__syscall(SYS_gettid);
    h->home = true;
    h->nwords = green__tls_words(green__tp_now(), h->words);
    return h;
}

void green__handoff_hub(struct green__thread *t)
{
    if (t->host != NULL || green__handoff_after() <= 0.0 ||
        !green__patch_on(GREEN_PATCH_THREAD) || !green__pthreads_here()) {
        return;
    }
    t->host = first_host();
    t->home = t->host;
    if (t->host != NULL) {
        green__handoff_replenish();
    }
}

/* --- the freeze, in the stuck thread's handler ------------------------------- */

#if defined(__x86_64__)
extern void *__libc_stack_end; /* ld.so's: main's stack top, at _start */

/* Whether the root greenlet g of t may stay behind: it is the process's
 * main thread, on its own TLS (the hub's until now, which the spare then
 * replaces with a descriptor of its own: green__handoff_commit), and no
 * other greenlet but the hub uses the OS thread's TLS (an API task
 * suspended inside a call might hold an address in it). */
static bool root_may_go(struct green__thread *t, struct greenlet *g)
{
    void *mine = g->tp != NULL ? g->tp : t->os_tp;
    if (mine != green__tp_now() || t->home == NULL ||
        t->home->tid != (int)green__syscall(SYS_getpid)) {
        return false;
    }
    for (struct green__link *l = t->live.next; l != &t->live; l = l->next) {
        const struct greenlet *o =
            (const struct greenlet *)((const char *)l -
                                      offsetof(struct greenlet, live));
        if (o->tp == NULL && o != g && !(o->flags & GREEN__HUB)) {
            return false;
        }
    }
    return true;
}
#endif

bool green__handoff_freeze(void *ucv)
{
#if defined(__x86_64__)
    ho.why = "not a green thread of a hub that may hand off";
    ho.why_at = 0;
    struct green__thread *t = green__tls_thread;
    if (t == NULL || ((uintptr_t)t & GREEN__AWAY_BIT) || t->host == NULL) {
        return false;
    }
    struct greenlet *g = t->current;
    if (g == NULL || (g->flags & GREEN__HUB) || g->state != GREEN__RUNNING) {
        ho.why = "the hub runs";
        return false;
    }
    uintptr_t slot;
    if (g == &t->root) {
        if (!root_may_go(t, g)) {
            ho.why = "main, with greenlets of the API on its TLS, or not "
                     "the process's main thread";
            return false;
        }
        slot = (uintptr_t)__libc_stack_end; /* main's whole stack */
    } else {
        if (g->tp == NULL || g->tp != green__tp_now() || g->user_slot == 0) {
            ho.why = "not a green pthread in its start routine";
            return false;
        }
        slot = g->user_slot;
    }
    ucontext_t *uc = ucv;
    uintptr_t pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    /* sp == slot: in the start routine's first instruction, or in a
     * routine that keeps nothing on the stack. */
    if (in_text(pc)) {
        ho.why = "running libgreen's code";
        ho.why_at = pc;
        return false;
    }
    if (sp > slot || slot - sp > SCAN_MAX) {
        ho.why = "its stack pointer is not on its stack, or too deep";
        ho.why_at = sp;
        return false;
    }
    /* Its frames, from the unwinder (its tables, not stale words: a word
     * left in a frame's uninitialised slot by an earlier call would say
     * no for ever): none may be libgreen's below the start routine's
     * return into green__call_recorded, and that one must be found (a
     * chain cut short proves nothing); main's must end without one. */
    void *frames[HANDOFF_FRAMES];
    int n = backtrace(frames, HANDOFF_FRAMES);
    int first = -1;
    for (int i = 0; i < n; i++) {
        if ((uintptr_t)frames[i] == pc) {
            first = i;
            break;
        }
    }
    if (first < 0) {
        ho.why = "no backtrace";
        return false;
    }
    bool found = g == &t->root && n < HANDOFF_FRAMES;
    for (int i = first + 1; i < n; i++) {
        uintptr_t a = (uintptr_t)frames[i];
        if (g != &t->root && a == (uintptr_t)green__call_recorded_ret) {
            found = true;
            break;
        }
        if (in_text(a)) {
            ho.why = "a frame of its backtrace is libgreen's";
            ho.why_at = a;
            return false;
        }
    }
    if (!found) {
        ho.why = "its backtrace does not reach its start routine's caller";
        return false;
    }
    g->away_host = t->host;
    g->state = GREEN__AWAY;
    green__tls_away = g;
    green__here = 0;
    green__tls_thread = (struct green__thread *)((uintptr_t)t |
                                                 GREEN__AWAY_BIT);
    return true;
#else
    (void)ucv;
    return false;
#endif
}

const char *green__handoff_why(uintptr_t *at)
{
    *at = ho.why_at != 0 ? ho.why_at - ho.text_lo : 0;
    return ho.why != NULL ? ho.why : "no answer";
}

/* --- the watchdog's part ----------------------------------------------------- */

struct green__host *green__handoff_reserve(struct green__thread *t)
{
    if (t == NULL || t->host == NULL || t->fork_sole != NULL ||
        green__handoff_after() <= 0.0) {
        return NULL;
    }
    struct greenlet *g = __atomic_load_n(&t->current, __ATOMIC_RELAXED);
    if (g == NULL || (g->tp == NULL && g != &t->root) ||
        (g->flags & GREEN__HUB)) {
        return NULL;
    }
    struct green__host *h = pop_spare();
    if (h == NULL) {
        __atomic_store_n(&green__handoff_want, 1, __ATOMIC_RELAXED);
    }
    return h;
}

void green__handoff_unreserve(struct green__host *h)
{
    push_spare(h);
}

void green__handoff_commit(struct green__watch *w, struct green__host *h,
                           uint64_t mask)
{
    struct green__thread *t = w->t;
    struct greenlet *g = t->current;
    int from = w->tid;
    if (g->tp == NULL) {
        /* main, which stays on the OS thread's TLS: that becomes main's
         * own, and the hub and everyone else who used it take the spare's
         * glibc descriptor, unused until now (spares idle on a block of
         * their own), with libgreen's variables and errno there. */
        void *old = t->os_tp, *nt = h->self_tp;
        struct greenlet *none = NULL;
        signed char here = 1;
        green__tls_set_in(nt, &green__tls_thread, &t, sizeof(t));
        green__tls_set_in(nt, &green__here, &here, sizeof(here));
        green__tls_set_in(nt, &green__tls_away, &none, sizeof(none));
        t->errnop = (int *)(void *)((char *)nt +
                                    ((char *)t->errnop - (char *)old));
        g->tp = old;
        g->host_gen = t->host_gen; /* its words are the old host's */
        t->os_tp = nt;
    }
    t->host = h;
    t->host_gen++;
    green__tls_words_set(t->os_tp, h->words, h->nwords);
    t->nwatch++; /* the away thread's return will wake the hub */
    t->away++;
    t->stamp = 0.0;
    w->tid = h->tid;
    h->mask = mask;
    h->to = t;
    ho.count++;
    if (__atomic_load_n(&ho.spares, __ATOMIC_ACQUIRE) == NULL) {
        __atomic_store_n(&green__handoff_want, 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&h->order, 1, __ATOMIC_RELEASE);
    futex_wake(&h->order);
    char a[80];
    green__log(GREEN_LOG_DEBUG, "hand-off: %s keeps OS thread %d; its hub "
               "goes on on OS thread %d", green__greenlet_label(g, a,
               sizeof(a)), from, h->tid);
}

/* --- the way back ------------------------------------------------------------ */

struct green__thread *green__handoff_rejoin(void)
{
    struct green__thread *t =
        (struct green__thread *)((uintptr_t)green__tls_thread &
                                 ~GREEN__AWAY_BIT);
    struct greenlet *g = green__tls_away;
    /* No handler may run here between the mark and the move. */
    block_signals();
    green__tls_away = NULL;
    green__tls_thread = t;
    green__here = 1;
    g->fast = 0;
    green__ctx_jump(&g->sp, g->away_host->idle_sp, g);
    /* Back, on the hub's host: its jump here installed this TLS. */
    green__greenlet_resumed(t);
    return t;
}

void green__handoff_arrived(struct green__thread *t, struct greenlet *g)
{
    g->away_host = NULL;
    t->nwatch--;
    t->away--;
    g->state = GREEN__PARKED;
    g->wait_what = "its way back from an OS thread of its own";
    green__hub_wake(g, 0);
}

void green__handoff_refit(struct green__thread *t, struct greenlet *g)
{
    if (t->host != NULL) {
        green__tls_words_set(g->tp, t->host->words, t->host->nwords);
    }
    g->host_gen = t->host_gen;
}

/* --- the start routine's frame ----------------------------------------------- */

/* fn(arg), with the stack address of its return slot in *slot: every word
 * below it belongs to fn and what fn calls. */
void *green__call_recorded(void *(*fn)(void *), void *arg, uintptr_t *slot);
#if defined(__x86_64__)
/* Where fn returns to (a label of the assembly below): the freeze's
 * boundary. */
__asm__(".text\n"
        ".globl green__call_recorded\n"
        ".hidden green__call_recorded\n"
        ".type green__call_recorded, @function\n"
        "green__call_recorded:\n"
        "    .cfi_startproc\n"
        "    pushq %rbx\n"
        "    .cfi_adjust_cfa_offset 8\n"
        "    .cfi_rel_offset %rbx, 0\n"
        "    movq %rdi, %rax\n"
        "    movq %rsi, %rdi\n"
        "    leaq -8(%rsp), %rcx\n"
        "    movq %rcx, (%rdx)\n"
        "    call *%rax\n"
        ".globl green__call_recorded_ret\n"
        ".hidden green__call_recorded_ret\n"
        "green__call_recorded_ret:\n"
        "    popq %rbx\n"
        "    .cfi_adjust_cfa_offset -8\n"
        "    .cfi_restore %rbx\n"
        "    ret\n"
        "    .cfi_endproc\n"
        ".size green__call_recorded, .-green__call_recorded\n");
#else
void *green__call_recorded(void *(*fn)(void *), void *arg, uintptr_t *slot)
{
    *slot = 0;
    return fn(arg);
}
#endif

void *green__handoff_call(void *(*fn)(void *), void *arg)
{
    struct green__thread *t = green__thread_peek();
    struct greenlet *g = t != NULL ? t->current : NULL;
    if (g == NULL || g->tp == NULL || green__handoff_after() <= 0.0) {
        return fn(arg);
    }
    void *r = green__call_recorded(fn, arg, &g->user_slot);
    (void)green__thread_peek(); /* back to the hub before anything else */
    g->user_slot = 0;
    return r;
}

void green__handoff_ended(void)
{
    struct green__thread *t = green__thread_peek();
    if (t != NULL && t->current != NULL) {
        t->current->user_slot = 0;
    }
}

/* --- home ------------------------------------------------------------------------ */

/* The root greenlet (main) moves, with the hub, back to the OS thread the
 * hub was made on, which idles there since it gave the hub away: as a
 * green thread coming back from a hand-off, but sent by itself, with the
 * home thread ordered to take the hub. For what must end on that OS
 * thread: main's pthread_exit (glibc counts threads, and the process
 * ends with its last one). */
void green__handoff_home(struct green__thread *t)
{
    struct green__host *here = t->host;
    struct green__host *home = t->home;
    struct greenlet *g = t->current;
    if (here == NULL || home == NULL || here == home || g != &t->root) {
        return;
    }
    uint64_t mask;
    green__syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &mask, 8);
    block_signals();
    t->host = home;
    t->host_gen++;
    green__tls_words_set(t->os_tp, home->words, home->nwords);
    t->nwatch++;
    t->away++;
    t->stamp = 0.0;
    if (t->watch != NULL) {
        green__watchdog_moved(t->watch, home->tid);
    }
    g->away_host = here;
    g->state = GREEN__AWAY;
    g->fast = 0;
    home->mask = mask;
    home->to = t;
    __atomic_store_n(&home->order, 1, __ATOMIC_RELEASE);
    futex_wake(&home->order);
    /* Off to this host's idle context, which posts g to the hub. */
    green__ctx_jump(&g->sp, here->idle_sp, g);
    green__greenlet_resumed(t);
}

void green__handoff_thread_exit(struct green__thread *t)
{
    if (t->home == NULL) {
        return;
    }
    double off = 0.0;
    __atomic_store(&ho.after, &off, __ATOMIC_RELAXED); /* no more */
    __atomic_store_n(&ho.ending, 1, __ATOMIC_RELEASE);
    struct green__host *h;
    while ((h = pop_spare()) != NULL) {
        __atomic_store_n(&h->order, 2, __ATOMIC_RELEASE);
        futex_wake(&h->order);
    }
}

/* --- counters, fork ----------------------------------------------------------- */

unsigned long green__handoff_count(void)
{
    return ho.count;
}

int green__handoff_spares(void)
{
    int n = 0;
    for (struct green__host *h = __atomic_load_n(&ho.spares,
                                                 __ATOMIC_ACQUIRE);
         h != NULL; h = h->next) {
        n++;
    }
    return n;
}

void green__handoff_after_fork(struct green__thread *t)
{
    ho.spares = NULL;
    ho.nhosts = 0;
    double off = 0.0; /* a forked child does not hand off */
    __atomic_store(&ho.after, &off, __ATOMIC_RELAXED);
    if (t != NULL) {
        t->host = NULL;
        t->home = NULL;
        t->nwatch -= t->away; /* they did not come along */
        t->away = 0;
    }
}
