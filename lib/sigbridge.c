/* SPDX-License-Identifier: MIT */
/* The signal bridge: signals to green threads as the kernel gives them to
 * native threads. Each green thread has its own mask; a thread-directed
 * signal (pthread_kill, pthread_sigqueue) goes to its target, a
 * process-directed one (kill, a timer, SIGCHLD) to a thread that does not
 * block it, or to one waiting for it in sigwait and friends; the handler
 * runs as that thread (its TLS, its errno, pthread_self), and that
 * thread's blocking call ends with EINTR or goes on per SA_RESTART.
 *
 * Masks. A greenlet's mask is a word in its record (bit sig - 1), set by
 * the preload's pthread_sigmask and inherited by the greenlets it makes.
 * The OS thread's real mask (t->sig_real) is what every green thread of
 * it blocks, so that a signal nobody takes stays pending in the kernel as
 * natively (where sigwait's signalfd and a default action see it), plus
 * sig_held: handled signals that came while none would take them, put
 * back into the kernel's pending set (rt_tgsigqueueinfo) and blocked.
 * Unblocking a signal in any green thread unblocks it for real, and the
 * kernel delivers what was pending at once. A thread's exit does not
 * recompute the real mask (only the next pthread_sigmask does).
 *
 * Delivery. The kernel runs green__sig_trampoline (on the thread's
 * sigaltstack). If the running green thread does not block the signal,
 * the program's handler runs there and then, as natively. Otherwise (the
 * hub was polling, or the running thread blocks it) the trampoline keeps
 * the siginfo in t->sig_info, sets the bit in t->sig_proc and wakes the
 * hub; it decides nothing else, being in a signal handler. At its next
 * turn the hub (green__sig_dispatch) picks the thread as Linux picks one
 * (main first if it takes it, then a sigwait waiter for it, a thread in
 * pause/sigsuspend, one whose wait the signal would end, any other), and
 * gives it the signal: pending on that greenlet (sig_pend, sig_q), then
 * "kicked":
 *  - its wait would end with EINTR (poll, select, sleeps, pause; read
 *    and friends without SA_RESTART): woken with -EINTR; the handler
 *    runs on its own stack when it resumes (green__sig_resume, from the
 *    park), before the call returns EINTR;
 *  - its wait goes on (SA_RESTART, mutexes, joins): the hub runs the
 *    handler as it at once, with its thread pointer installed, on the
 *    hub's stack (a handler that longjmps out cannot be run so);
 *  - it blocks the signal: the signal stays pending for it until it
 *    unblocks it (pthread_sigmask runs it then) or takes it in sigwait.
 * While a handler runs, the thread's mask has sa_mask and the signal
 * (unless SA_NODEFER) added, as natively; a signal that comes meanwhile
 * and is blocked so waits for the hub. */
#include "internal.h"
#include "rawsys.h"
#include "real.h"
#include "tls.h"

#include <ev.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

/* A signal's siginfo while it is pending for one greenlet. */
struct green__sigq {
    struct green__sigq *next;
    siginfo_t info;
};

struct sigaction green__sig_act[NSIG];
int green__signal_handlers;

#define BIT(sig) ((uint64_t)1 << ((sig) - 1))
/* What no mask holds: SIGKILL, SIGSTOP, and glibc's own two (cancellation
 * and setxid), which its pthread_sigmask never blocks either. */
#define UNBLOCKABLE (BIT(SIGKILL) | BIT(SIGSTOP) | BIT(32) | BIT(33))
#define FIRST_RT 32 /* signals from here queue; below, they coalesce */

uint64_t green__sig_bits(const sigset_t *set)
{
    uint64_t b;
    memcpy(&b, set, sizeof(b)); /* glibc: signal s is bit s - 1 */
    return b;
}

void green__sig_set(uint64_t bits, sigset_t *set)
{
    sigemptyset(set);
    memcpy(set, &bits, sizeof(bits));
}

static uint64_t real_mask_now(void)
{
    uint64_t m = 0;
    green__syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &m, sizeof(m));
    return m;
}

static void real_mask_set(uint64_t m)
{
    m &= ~UNBLOCKABLE;
    green__syscall(SYS_rt_sigprocmask, SIG_SETMASK, &m, NULL, sizeof(m));
}

/* Sends sig to this OS thread through the kernel, with info. */
static void requeue(int sig, const siginfo_t *info)
{
    siginfo_t i = *info;
    green__syscall(SYS_rt_tgsigqueueinfo, green__syscall(SYS_getpid),
                   green__syscall(SYS_gettid), sig, &i);
}

static void ready(struct green__thread *t)
{
    if (!t->sig_ready) {
        uint64_t real = real_mask_now();
        t->root.sig_mask = real;
        t->sig_real = real;
        t->sig_ready = 1;
    }
}

uint64_t green__sig_inherit(struct green__thread *t)
{
    if (t->hub == NULL || t->current == NULL) {
        return real_mask_now(); /* masks are still the kernel's */
    }
    ready(t);
    return t->current->sig_mask;
}

/* The green threads of t: root, then every started greenlet not dead but
 * the hub. Call with NULL for the first. */
static struct greenlet *thread_next(struct green__thread *t,
                                    struct greenlet *g)
{
    if (g == NULL) {
        return &t->root;
    }
    struct green__link *l = g == &t->root ? t->live.next : g->live.next;
    for (; l != &t->live; l = l->next) {
        struct greenlet *n = GREEN__CONTAINER(l, struct greenlet, live);
        if (!(n->flags & GREEN__HUB) && n->state != GREEN__DEAD &&
            n != &t->root) { /* root is in live too: it came first */
            return n;
        }
    }
    return NULL;
}

static bool handled(int sig)
{
    void (*h)(int) = green__sig_act[sig].sa_handler; /* the union */
    return h != SIG_DFL && h != SIG_IGN;
}

static bool ignored_by_default(int sig)
{
    return sig == SIGCHLD || sig == SIGCONT || sig == SIGURG ||
           sig == SIGWINCH;
}

/* Whether a signal of `bits` ends g's park with EINTR. */
static bool ends_wait(const struct greenlet *g, uint64_t bits)
{
    if (g->intr == GREEN__INTR_ALWAYS) {
        return true;
    }
    if (g->intr != GREEN__INTR_RESTART) {
        return false;
    }
    for (int s = 1; s <= 64; s++) {
        if ((bits & BIT(s)) && (!handled(s) ||
                                !(green__sig_act[s].sa_flags & SA_RESTART))) {
            return true;
        }
    }
    return false;
}

static void set_mask(struct green__thread *t, struct greenlet *g,
                     uint64_t mask);

/* Runs the program's action for sig as g (the caller has made the
 * context g's). kernel: the kernel delivered it (and reset its side of an
 * SA_RESETHAND action itself). */
static void run(struct green__thread *t, struct greenlet *g, int sig,
                siginfo_t *si, void *uc, bool kernel)
{
    struct sigaction a = green__sig_act[sig];
    if (a.sa_flags & SA_RESETHAND) {
        green__sig_act[sig].sa_handler = SIG_DFL;
        green__sig_act[sig].sa_flags &= ~SA_SIGINFO;
        if (!kernel) {
            struct sigaction d;
            memset(&d, 0, sizeof(d));
            d.sa_handler = SIG_DFL;
            GREEN_REAL(sigaction)(sig, &d, NULL);
        }
    }
    if (a.sa_handler == SIG_IGN) {
        return;
    }
    if (a.sa_handler == SIG_DFL) { /* taken away since it came */
        if (!ignored_by_default(sig) && g != NULL) {
            uint64_t keep = t->sig_real;
            real_mask_set(keep & ~BIT(sig));
            green__syscall(SYS_tgkill, green__syscall(SYS_getpid),
                           green__syscall(SYS_gettid), sig);
            real_mask_set(keep);
        }
        return;
    }
    uint64_t saved = 0, during = 0;
    if (g != NULL) {
        saved = g->sig_mask;
        during = saved | ((green__sig_bits(&a.sa_mask) |
                           (a.sa_flags & SA_NODEFER ? 0 : BIT(sig))) &
                          ~UNBLOCKABLE);
        g->sig_mask = during;
    }
    if (a.sa_flags & SA_SIGINFO) {
        a.sa_sigaction(sig, si, uc);
    } else {
        a.sa_handler(sig);
    }
    if (g != NULL) {
        g->sig_runs++;
        if (g->sig_mask == during && !(g->sig_pend & ~saved)) {
            g->sig_mask = saved; /* the real mask never had those bits */
        } else {
            set_mask(t, g, saved); /* the handler changed it */
        }
    }
}

void green__sig_trampoline(int sig, siginfo_t *si, void *uc)
{
    int e = errno;
    struct green__thread *t = green__thread_peek_here();
    if (t == NULL && green__tls_thread != NULL) {
        /* An away green thread (lib/handoff.c), whose hub runs on another
         * OS thread now: the hub delivers the signal. */
        t = (struct green__thread *)((uintptr_t)green__tls_thread &
                                     ~GREEN__AWAY_BIT);
        if (t->sig_info != NULL && sig >= 1 && sig <= 64) {
            memcpy((siginfo_t *)t->sig_info + (sig - 1), si, sizeof(*si));
            __atomic_fetch_or(&t->sig_proc, BIT(sig), __ATOMIC_SEQ_CST);
            ev_async_send(t->loop, t->sig_async);
        }
        errno = e;
        return;
    }
    if (t != NULL && t->sig_info != NULL && sig >= 1 && sig <= 64) {
        struct greenlet *g = t->current;
        if (g == t->hub || (g->sig_mask & BIT(sig))) {
            memcpy((siginfo_t *)t->sig_info + (sig - 1), si, sizeof(*si));
            __atomic_fetch_or(&t->sig_proc, BIT(sig), __ATOMIC_SEQ_CST);
            ev_async_send(t->loop, t->sig_async);
        } else {
            run(t, g, sig, si, uc, true);
        }
    } else {
        run(NULL, NULL, sig, si, uc, true);
    }
    errno = e;
}

/* Takes sig's first queued siginfo off g into *info. */
static void take(struct greenlet *g, int sig, siginfo_t *info)
{
    bool more = false, got = false;
    for (struct green__sigq **p = &g->sig_q; *p != NULL;) {
        struct green__sigq *q = *p;
        if (q->info.si_signo == sig && !got) {
            *info = q->info;
            got = true;
            *p = q->next;
            free(q);
            continue;
        }
        more |= q->info.si_signo == sig;
        p = &q->next;
    }
    if (!got) {
        memset(info, 0, sizeof(*info));
        info->si_signo = sig;
        info->si_code = SI_TKILL;
    }
    if (!more) {
        g->sig_pend &= ~BIT(sig);
    }
}

/* Runs the signals pending for g that it does not block (nor waits for
 * in sigwait), lowest first, as the kernel does; the context is g's. */
static void run_pending(struct green__thread *t, struct greenlet *g)
{
    uint64_t d;
    while ((d = g->sig_pend & ~g->sig_mask & ~g->sig_wset) != 0) {
        int sig = __builtin_ctzll(d) + 1;
        siginfo_t info;
        take(g, sig, &info);
        ucontext_t uc;
        getcontext(&uc);
        run(t, g, sig, &info, &uc, false);
    }
}

static bool listed(struct green__thread *t, struct greenlet *g)
{
    for (struct greenlet *l = t->sig_hubrun; l != NULL; l = l->sig_next) {
        if (l == g) {
            return true;
        }
    }
    return false;
}

static void unlist(struct green__thread *t, struct greenlet *g)
{
    for (struct greenlet **p = &t->sig_hubrun; *p != NULL;
         p = &(*p)->sig_next) {
        if (*p == g) {
            *p = g->sig_next;
            g->sig_next = NULL;
            return;
        }
    }
}

/* g has signals pending: gets them handled as the kernel would now. */
static void kick(struct green__thread *t, struct greenlet *g)
{
    if (g->sig_pend & g->sig_wset) { /* its sigwait takes it */
        green__hub_wake(g, -EINTR);
        return;
    }
    uint64_t d = g->sig_pend & ~g->sig_mask;
    if (d == 0) {
        return; /* blocked: pending until it unblocks or waits */
    }
    if (g == t->current) {
        run_pending(t, g);
    } else if (g->state == GREEN__PARKED && ends_wait(g, d)) {
        green__hub_wake(g, -EINTR); /* its resume runs the handler */
    } else if (g->state == GREEN__PARKED && !listed(t, g)) {
        g->sig_next = t->sig_hubrun; /* the hub runs it as g */
        t->sig_hubrun = g;
        ev_async_send(t->loop, t->sig_async);
    } /* READY: it runs them when it resumes */
}

static void give(struct green__thread *t, struct greenlet *g, int sig,
                 const siginfo_t *info)
{
    if (!(g->sig_pend & BIT(sig)) || sig >= FIRST_RT) {
        struct green__sigq *q = malloc(sizeof(*q));
        if (q != NULL) {
            q->info = *info;
            q->next = NULL;
            struct green__sigq **p = &g->sig_q;
            while (*p != NULL) {
                p = &(*p)->next;
            }
            *p = q;
        }
    }
    g->sig_pend |= BIT(sig);
    kick(t, g);
}

static void set_mask(struct green__thread *t, struct greenlet *g,
                     uint64_t mask)
{
    mask &= ~UNBLOCKABLE;
    uint64_t old = g->sig_mask;
    g->sig_mask = mask;
    uint64_t real = t->sig_real;
    uint64_t unblocked = old & ~mask;
    if (unblocked & real) {
        t->sig_held &= ~unblocked;
        real &= ~unblocked;
    }
    uint64_t need = mask & ~old & ~real;
    for (struct greenlet *h = NULL; need != 0 &&
         (h = thread_next(t, h)) != NULL;) {
        need &= h->sig_mask;
    }
    for (struct greenlet *h = t->ready_head; need != 0 && h != NULL;
         h = h->ready_next) {
        need &= h->sig_mask; /* made, not started yet: not in live */
    }
    real |= need;
    if (real != t->sig_real) {
        t->sig_real = real;
        real_mask_set(real); /* what was pending and is now taken comes */
    }
    if ((g->sig_pend & ~mask) && g == t->current) {
        run_pending(t, g);
    }
}

int green__sig_setmask(int how, const sigset_t *set, sigset_t *old)
{
    struct green__thread *t = green__thread_peek();
    struct greenlet *g = t->current;
    ready(t);
    uint64_t m = g->sig_mask, mask = m;
    if (set != NULL) {
        uint64_t b = green__sig_bits(set);
        switch (how) {
        case SIG_BLOCK: mask = m | b; break;
        case SIG_UNBLOCK: mask = m & ~b; break;
        case SIG_SETMASK: mask = b; break;
        default: return -EINVAL;
        }
    }
    if (old != NULL) {
        green__sig_set(m, old);
    }
    if (set != NULL) {
        set_mask(t, g, mask);
    }
    return 0;
}

void green__sig_pending(sigset_t *set)
{
    struct green__thread *t = green__thread_peek();
    uint64_t k = 0;
    green__syscall(SYS_rt_sigpending, &k, sizeof(k));
    green__sig_set(k | t->current->sig_pend, set);
}

void green__sig_send(struct greenlet *g, int sig, const siginfo_t *info)
{
    struct green__thread *t = green__thread_peek();
    if (t == NULL || g->thread != t || t->sig_info == NULL) {
        requeue(sig, info); /* another OS thread's: to this one */
        return;
    }
    ready(t);
    bool blocked = (g->sig_mask & BIT(sig)) != 0;
    if (!blocked && (g == t->current || !handled(sig))) {
        /* To itself, or a default action: the kernel's, at once. */
        if (green__sig_act[sig].sa_handler != SIG_IGN &&
            (handled(sig) || !ignored_by_default(sig))) {
            requeue(sig, info);
        }
        return;
    }
    give(t, g, sig, info);
}

int green__sig_take(uint64_t set, siginfo_t *info)
{
    struct greenlet *g = green__thread_peek()->current;
    uint64_t d = g->sig_pend & set;
    if (d == 0) {
        return 0;
    }
    int sig = __builtin_ctzll(d) + 1;
    take(g, sig, info);
    return sig;
}

/* The green thread a process-directed signal goes to, or NULL. */
static struct greenlet *pick(struct green__thread *t, int sig)
{
    uint64_t b = BIT(sig);
    if (!(t->root.sig_mask & b) && t->root.state != GREEN__DEAD) {
        return &t->root;
    }
    struct greenlet *best = NULL;
    int score = 0;
    for (struct greenlet *g = NULL; (g = thread_next(t, g)) != NULL;) {
        if (g->sig_wset & b) {
            return g;
        }
        if (g->sig_mask & b) {
            continue;
        }
        int s = 1;
        if (g->state == GREEN__PARKED && g->wait_what != NULL &&
            (strcmp(g->wait_what, "pause") == 0 ||
             strcmp(g->wait_what, "sigsuspend") == 0)) {
            s = 3;
        } else if (g->state == GREEN__PARKED && ends_wait(g, b)) {
            s = 2;
        }
        if (s > score) {
            best = g;
            score = s;
        }
    }
    return best;
}

static void run_as(struct green__thread *t, struct greenlet *g)
{
    void *tp = g->tp != NULL ? g->tp : t->os_tp;
    void *mine = green__tp_now();
    if (tp != mine) {
        green__tp_set(tp);
    }
    int e = errno;
    run_pending(t, g);
    errno = e;
    if (tp != mine) {
        green__tp_set(mine);
    }
}

void green__sig_dispatch(struct green__thread *t)
{
    for (;;) {
        uint64_t bits = __atomic_exchange_n(&t->sig_proc, 0,
                                            __ATOMIC_SEQ_CST);
        if (bits != 0) {
            siginfo_t info[64];
            uint64_t all = ~UNBLOCKABLE, keep = 0;
            green__syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, &keep,
                           sizeof(keep));
            for (int s = 1; s <= 64; s++) {
                if (bits & BIT(s)) {
                    info[s - 1] = ((siginfo_t *)t->sig_info)[s - 1];
                }
            }
            green__syscall(SYS_rt_sigprocmask, SIG_SETMASK, &keep, NULL,
                           sizeof(keep));
            for (int s = 1; s <= 64; s++) {
                if (!(bits & BIT(s))) {
                    continue;
                }
                if (green__sig_act[s].sa_handler == SIG_IGN) {
                    continue;
                }
                struct greenlet *g = pick(t, s);
                if (g == NULL) { /* back to the kernel, blocked */
                    t->sig_held |= BIT(s);
                    t->sig_real |= BIT(s);
                    real_mask_set(t->sig_real);
                    requeue(s, &info[s - 1]);
                } else {
                    give(t, g, s, &info[s - 1]);
                }
            }
        }
        struct greenlet *g = t->sig_hubrun;
        if (bits == 0 && g == NULL) {
            return;
        }
        if (g != NULL) {
            t->sig_hubrun = g->sig_next;
            g->sig_next = NULL;
            run_as(t, g);
        }
    }
}

void green__sig_resume(struct green__thread *t, struct greenlet *self)
{
    if (t->sig_hubrun != NULL) {
        unlist(t, self);
    }
    run_pending(t, self);
}

void green__sig_after_fork(struct green__thread *t)
{
    if (!t->sig_ready) {
        return;
    }
    struct greenlet *self = t->current;
    for (struct greenlet *g = NULL; (g = thread_next(t, g)) != NULL;) {
        if (g != self) {
            g->sig_mask = ~UNBLOCKABLE; /* never to run again */
        }
    }
    t->sig_held = 0;
    t->sig_real = self->sig_mask;
    real_mask_set(t->sig_real);
}

bool green__signal_may_wake(struct green__thread *t)
{
    if (green__signal_handlers == 0 || t->sig_async == NULL) {
        return false;
    }
    for (struct greenlet *g = NULL; (g = thread_next(t, g)) != NULL;) {
        if (g->state == GREEN__PARKED && g->intr != GREEN__INTR_NEVER) {
            return true;
        }
    }
    return false;
}

static void on_sig_async(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop, (void)w, (void)revents; /* the hub turn does the work */
}

void green__sigbridge_start(struct green__thread *t)
{
    ev_async *a = malloc(sizeof(*a));
    void *info = calloc(64, sizeof(siginfo_t));
    if (a == NULL || info == NULL) {
        free(a);
        free(info);
        t->sig_async = NULL;
        return;
    }
    ev_async_init(a, on_sig_async);
    ev_async_start(t->loop, a); /* not in nwatch: it wakes no one */
    ready(t);
    t->sig_async = a;
    t->sig_info = info;
}

void green__sigbridge_stop(struct green__thread *t)
{
    if (t->sig_async != NULL) {
        void *info = t->sig_info;
        t->sig_info = NULL;
        ev_async_stop(t->loop, t->sig_async);
        free(t->sig_async);
        t->sig_async = NULL;
        free(info);
    }
}

int green__sigbridge_wait(const char *what)
{
    struct green__thread *t = green__thread_get();
    if (t == NULL) {
        return -ENOMEM;
    }
    struct greenlet *self = t->current;
    unsigned runs = self->sig_runs;
    int r;
    do {
        t->nwatch++; /* a signal from outside can always end it */
        r = green__hub_park_intr(GREEN_FOREVER, what, NULL,
                                 GREEN__INTR_ALWAYS);
        t->nwatch--;
    } while ((r == 0 || r == -EINTR) && self->sig_runs == runs);
    return r == 0 ? -EINTR : r;
}
