/* The signal interposers: sigaction and signal. The program's handler is
 * kept in a table and the kernel gets a trampoline instead, with
 * SA_ONSTACK added: a signal frame takes several KiB (more with AVX-512
 * or AMX state), too much for a small green stack, so handlers run on the
 * thread's sigaltstack (lib/stack.c gives every thread with greenlets
 * one). After the handler the trampoline tells the hub, which ends the
 * main greenlet's wait with EINTR where a blocking system call would have
 * ended with it (without SA_RESTART, or always for poll, select and the
 * sleeps). SIGSEGV and SIGBUS stay the program's own business. */
#include "preload.h"

#include <string.h>

static struct sigaction user[NSIG]; /* the program's view */
static bool have[NSIG];             /* whether user[sig] is known */

static void trampoline(int sig, siginfo_t *si, void *uc)
{
    const struct sigaction *a = &user[sig];
    int flags = a->sa_flags;
    if (flags & SA_SIGINFO) {
        a->sa_sigaction(sig, si, uc);
    } else if (a->sa_handler != SIG_IGN && a->sa_handler != SIG_DFL) {
        a->sa_handler(sig);
    }
    if (flags & SA_RESETHAND) { /* the kernel reset its side already */
        user[sig].sa_handler = SIG_DFL;
        user[sig].sa_flags &= ~SA_SIGINFO;
    }
    int e = errno;
    green__hub_signal((flags & SA_RESTART) != 0);
    errno = e;
}

static bool ours(int sig)
{
    return green__patch_on(GREEN_PATCH_SIGNAL) && sig > 0 && sig < NSIG &&
           sig != SIGSEGV && sig != SIGBUS;
}

GREEN_INTERPOSE int sigaction(int sig, const struct sigaction *restrict act,
                              struct sigaction *restrict old)
{
    if (!ours(sig)) {
        return GREEN_REAL(sigaction)(sig, act, old);
    }
    struct sigaction prev;
    struct sigaction k;
    const struct sigaction *give = act;
    if (act != NULL && act->sa_handler != SIG_IGN &&
        act->sa_handler != SIG_DFL) {
        k = *act;
        k.sa_sigaction = trampoline;
        k.sa_flags |= SA_SIGINFO | SA_ONSTACK;
        give = &k;
    }
    if (GREEN_REAL(sigaction)(sig, give, &prev) != 0) {
        return -1; /* EINVAL for SIGKILL, SIGSTOP, ... */
    }
    if (old != NULL) {
        *old = have[sig] ? user[sig] : prev;
    }
    if (act != NULL) {
        user[sig] = *act;
        have[sig] = true;
        if (give == &k) {
            green__signal_handlers = 1;
        }
    } else if (!have[sig]) {
        user[sig] = prev;
        have[sig] = prev.sa_sigaction != trampoline;
    }
    return 0;
}

/* glibc's signal(): BSD semantics, the handler stays and calls restart. */
GREEN_INTERPOSE sighandler_t signal(int sig, sighandler_t handler)
{
    if (!ours(sig)) {
        return GREEN_REAL(signal)(sig, handler);
    }
    struct sigaction act, old;
    memset(&act, 0, sizeof(act));
    act.sa_handler = handler;
    sigemptyset(&act.sa_mask);
    sigaddset(&act.sa_mask, sig);
    act.sa_flags = SA_RESTART;
    if (sigaction(sig, &act, &old) != 0) {
        return SIG_ERR;
    }
    return old.sa_handler;
}
