/* SPDX-License-Identifier: MIT */
/* The signal interposers: sigaction and signal, the masks
 * (pthread_sigmask, sigprocmask, sigpending), and the waits (pause,
 * sigsuspend, sigwait, sigwaitinfo, sigtimedwait). The program's handler
 * is kept in lib/sigbridge.c's table and the kernel gets the bridge's
 * trampoline instead, with SA_ONSTACK added: a signal frame takes several
 * KiB (more with AVX-512 or AMX state), too much for a small green stack,
 * so handlers the kernel runs run on the thread's sigaltstack (lib/stack.c
 * gives every thread with greenlets one). The bridge gives each signal
 * to the green thread that takes it, and runs the handler as that thread
 * (see lib/sigbridge.c). SIGSEGV and SIGBUS stay the program's own
 * business. */
#include "preload.h"

#include "cancel.h"

#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/signalfd.h>

static bool have[NSIG]; /* whether green__sig_act[sig] is known */

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
        k.sa_sigaction = green__sig_trampoline;
        k.sa_flags |= SA_SIGINFO | SA_ONSTACK;
        give = &k;
    }
    if (GREEN_REAL(sigaction)(sig, give, &prev) != 0) {
        return -1; /* EINVAL for SIGKILL, SIGSTOP, ... */
    }
    if (old != NULL) {
        *old = have[sig] ? green__sig_act[sig] : prev;
    }
    if (act != NULL) {
        green__sig_act[sig] = *act;
        have[sig] = true;
        if (give == &k) {
            green__signal_handlers = 1;
        }
    } else if (!have[sig]) {
        green__sig_act[sig] = prev;
        have[sig] = prev.sa_sigaction != green__sig_trampoline;
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

/* --- masks -------------------------------------------------------------------
 * Each green thread has its own (lib/sigbridge.c): natively each thread
 * has. Before the OS thread has a hub, and on its hub, the kernel's. */

static bool own_masks(void)
{
    struct green__thread *t = green__thread_peek();
    return green__patch_on(GREEN_PATCH_SIGNAL) && t != NULL &&
           t->hub != NULL && t->current != t->hub && t->sig_info != NULL;
}

GREEN_INTERPOSE int pthread_sigmask(int how, const sigset_t *restrict set,
                                    sigset_t *restrict old)
{
    if (!own_masks()) {
        return GREEN_REAL(pthread_sigmask)(how, set, old);
    }
    return -green__sig_setmask(how, set, old);
}

GREEN_INTERPOSE int sigprocmask(int how, const sigset_t *restrict set,
                                sigset_t *restrict old)
{
    if (!own_masks()) {
        return GREEN_REAL(sigprocmask)(how, set, old);
    }
    return (int)green__ret(green__sig_setmask(how, set, old));
}

GREEN_INTERPOSE int sigpending(sigset_t *set)
{
    if (!own_masks()) {
        return GREEN_REAL(sigpending)(set);
    }
    green__sig_pending(set);
    return 0;
}

/* --- waiting for signals ------------------------------------------------------
 * pause and sigsuspend end when a handler has run in the calling thread,
 * as natively; parked, they let the other green threads run, one of which
 * may be the one that sends the signal. sigsuspend's mask is the calling
 * green thread's while it waits. */

GREEN_INTERPOSE int pause(void)
{
    if (!green__go_green(GREEN_PATCH_SIGNAL) || !own_masks()) {
        return GREEN_REAL(pause)();
    }
    return (int)green__ret(
        GREEN__CANCELLABLE(int, green__sigbridge_wait("pause")));
}

GREEN_INTERPOSE int sigsuspend(const sigset_t *mask)
{
    if (!green__go_green(GREEN_PATCH_SIGNAL) || !own_masks()) {
        return GREEN_REAL(sigsuspend)(mask);
    }
    struct greenlet *self = green__thread_peek()->current;
    sigset_t old;
    unsigned runs = self->sig_runs;
    green__sig_setmask(SIG_SETMASK, mask, &old); /* may run one now */
    int r = -EINTR;
    if (self->sig_runs == runs) {
        r = GREEN__CANCELLABLE(int, green__sigbridge_wait("sigsuspend"));
    }
    green__sig_setmask(SIG_SETMASK, &old, NULL);
    return (int)green__ret(r);
}

/* sigwait, sigwaitinfo and sigtimedwait: the signals asked for are
 * blocked (POSIX requires it; programs block them in every thread and
 * wait in one). One sent to this green thread while it blocks it is
 * pending in the bridge, and taken from there; one every green thread
 * blocks stays pending in the kernel, where a signalfd for them, which the
 * hub watches, says when one is and takes it; the bridge gives one that
 * another thread would take to the waiter rather (sig_wset). Returns the
 * signal number, or -EAGAIN (the timeout passed), -EINTR (a handler ran
 * for another signal, as the kernel's wait ends), -EINVAL. */
static int wait_for(const sigset_t *set, siginfo_t *info,
                    const struct timespec *timeout)
{
    double left = GREEN_FOREVER;
    if (timeout != NULL) {
        if (timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L ||
            timeout->tv_sec < 0) {
            return -EINVAL;
        }
        left = (double)timeout->tv_sec + (double)timeout->tv_nsec * 1e-9;
    }
    int fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) {
        return -errno;
    }
    double deadline = green__now() + left;
    struct greenlet *self = green__thread_peek()->current;
    uint64_t want = green__sig_bits(set);
    int r;
    for (;;) {
        siginfo_t mine;
        int got = green__sig_take(want, &mine);
        if (got > 0) {
            if (info != NULL) {
                *info = mine;
            }
            r = got;
            break;
        }
        struct signalfd_siginfo s;
        ssize_t n = GREEN_REAL(read)(fd, &s, sizeof(s));
        if (n == (ssize_t)sizeof(s)) {
            if (info != NULL) {
                memset(info, 0, sizeof(*info));
                info->si_signo = (int)s.ssi_signo;
                info->si_errno = s.ssi_errno;
                info->si_code = s.ssi_code;
                info->si_pid = (pid_t)s.ssi_pid;
                info->si_uid = s.ssi_uid;
                info->si_status = s.ssi_status;
                info->si_value.sival_ptr = (void *)(uintptr_t)s.ssi_ptr;
                info->si_addr = (void *)(uintptr_t)s.ssi_addr;
            }
            r = (int)s.ssi_signo;
            break;
        }
        double now_left = timeout != NULL ? deadline - green__now()
                                           : GREEN_FOREVER;
        if (now_left <= 0.0) {
            r = -EAGAIN;
            break;
        }
        self->sig_wset = want;
        r = green__hub_io_wait_intr(fd, POLLIN, now_left,
                                    GREEN__INTR_ALWAYS);
        self->sig_wset = 0;
        if (r == -EINTR && (self->sig_pend & want)) {
            continue; /* the bridge gave it one of them */
        }
        if (r == -ETIMEDOUT) {
            r = -EAGAIN;
            break;
        }
        if (r < 0) {
            break;
        }
    }
    green__hub_io_forget(fd);
    GREEN_REAL(close)(fd);
    return r;
}

GREEN_INTERPOSE int sigwait(const sigset_t *restrict set, int *restrict sig)
{
    if (!green__go_green(GREEN_PATCH_SIGNAL)) {
        return GREEN_REAL(sigwait)(set, sig);
    }
    int r;
    do { /* sigwait itself never fails with EINTR */
        r = GREEN__CANCELLABLE(int, wait_for(set, NULL, NULL));
    } while (r == -EINTR);
    if (r < 0) {
        return -r;
    }
    *sig = r;
    return 0;
}

GREEN_INTERPOSE int sigwaitinfo(const sigset_t *restrict set,
                                siginfo_t *restrict info)
{
    if (!green__go_green(GREEN_PATCH_SIGNAL)) {
        return GREEN_REAL(sigwaitinfo)(set, info);
    }
    return (int)green__ret(GREEN__CANCELLABLE(int, wait_for(set, info, NULL)));
}

GREEN_INTERPOSE int sigtimedwait(const sigset_t *restrict set,
                                 siginfo_t *restrict info,
                                 const struct timespec *restrict timeout)
{
    if (!green__go_green(GREEN_PATCH_SIGNAL)) {
        return GREEN_REAL(sigtimedwait)(set, info, timeout);
    }
    return (int)green__ret(
        GREEN__CANCELLABLE(int, wait_for(set, info, timeout)));
}
