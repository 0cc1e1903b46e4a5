/* SPDX-License-Identifier: MIT */
/* The rest of the pthread family for green pthreads: names, attributes
 * and signals to a thread, on the records of preload/gthread.h. */
#include "gthread.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tls.h"

/* --- names and attributes ------------------------------------------------- */

GREEN_INTERPOSE int pthread_setname_np(pthread_t t, const char *name)
{
    bool dead = false;
    struct gthread *th = green__thread_on() ? green__gthread_of(t, &dead) : NULL;
    if (th == NULL) {
        return green__thread_on() && dead
                   ? ESRCH
                   : GREEN_REAL(pthread_setname_np)(t, name);
    }
    if (strlen(name) >= NAME_MAX_LEN) {
        return ERANGE;
    }
    return greenlet_set_name(th->g, name) == 0 ? 0 : ENOMEM;
}

GREEN_INTERPOSE int pthread_getname_np(pthread_t t, char *buf, size_t len)
{
    bool dead = false;
    struct gthread *th = green__thread_on() ? green__gthread_of(t, &dead) : NULL;
    if (th == NULL) {
        return green__thread_on() && dead
                   ? ESRCH
                   : GREEN_REAL(pthread_getname_np)(t, buf, len);
    }
    if (len < NAME_MAX_LEN) {
        return ERANGE;
    }
    const char *name = greenlet_name(th->g);
    if (name == NULL) { /* unnamed: like a new thread, the process's name */
        return GREEN_REAL(pthread_getname_np)(GREEN_REAL(pthread_self)(), buf,
                                              len);
    }
    snprintf(buf, len, "%s", name);
    return 0;
}

/* glibc would read a green pthread_t as its own descriptor: the common
 * pthread_t-taking calls are answered here. */
GREEN_INTERPOSE int pthread_getattr_np(pthread_t t, pthread_attr_t *attr)
{
    bool dead = false;
    struct gthread *th = green__thread_on() ? green__gthread_of(t, &dead) : NULL;
    if (th == NULL) {
        /* A detached green pthread in its last steps (its record already
         * given back) still asks about itself: its descriptor answers. */
        bool self = t == GREEN_REAL(pthread_self)();
        return green__thread_on() && dead && !self
                   ? ESRCH
                   : GREEN_REAL(pthread_getattr_np)(t, attr);
    }
    int r = pthread_attr_init(attr);
    if (r != 0) {
        return r;
    }
    /* As glibc reports a thread: its stack's usable bounds (the lowest
     * byte above the guard, the size asked for, the descriptor and TLS at
     * its top included; a user stack exactly as given), the guard size
     * asked for, its detach state, scheduling and CPU set. */
    pthread_attr_setdetachstate(attr, th->detached ? PTHREAD_CREATE_DETACHED
                                                   : PTHREAD_CREATE_JOINABLE);
    const struct green__stack *s = th->g->stack;
    if (s != NULL) {
        pthread_attr_setstack(attr, s->lo, s->size);
        pthread_attr_setguardsize(attr, s->user ? 0 : s->guard_asked);
    } else {
        pthread_attr_setstacksize(attr, greenlet_stack_size(th->g));
    }
    int policy;
    struct sched_param param;
    if (pthread_getschedparam(t, &policy, &param) == 0) {
        pthread_attr_setschedpolicy(attr, policy);
        pthread_attr_setschedparam(attr, &param);
    }
    cpu_set_t cpus;
    if (pthread_getaffinity_np(t, sizeof(cpus), &cpus) == 0) {
        pthread_attr_setaffinity_np(attr, sizeof(cpus), &cpus);
    }
    return 0;
}

/* A signal for a green pthread goes to it (lib/sigbridge.c): its handler
 * runs as it, its blocking call ends with EINTR as the target thread's
 * would, and it stays pending while the thread blocks it; signal 0 only
 * asks whether the thread exists. */
static int to_green(pthread_t t, int sig, int code, const union sigval *v,
                    int (*real)(pthread_t, int, const union sigval *))
{
    bool dead = false;
    struct gthread *th = green__thread_on() ? green__gthread_of(t, &dead) : NULL;
    struct greenlet *g = th != NULL ? th->g : NULL;
    struct green__thread *os = green__thread_on() ? green__thread_peek() : NULL;
    if (g == NULL && !dead && os != NULL && os->hub != NULL &&
        (void *)t == os->os_tp) {
        g = &os->root; /* main, from a green thread of its OS thread */
    }
    if (g == NULL) {
        return green__thread_on() && dead ? ESRCH : real(t, sig, v);
    }
    if (sig < 0 || sig >= NSIG) {
        return EINVAL;
    }
    if (sig == 0) {
        return 0;
    }
    siginfo_t info;
    memset(&info, 0, sizeof(info));
    info.si_signo = sig;
    info.si_code = code;
    info.si_pid = getpid();
    info.si_uid = getuid();
    if (v != NULL) {
        info.si_value = *v;
    }
    green__sig_send(g, sig, &info);
    return 0;
}

static int real_kill(pthread_t t, int sig, const union sigval *v)
{
    (void)v;
    return GREEN_REAL(pthread_kill)(t, sig);
}

static int real_sigqueue(pthread_t t, int sig, const union sigval *v)
{
    return GREEN_REAL(pthread_sigqueue)(t, sig, *v);
}

GREEN_INTERPOSE int pthread_kill(pthread_t t, int sig)
{
    return to_green(t, sig, SI_TKILL, NULL, real_kill);
}

GREEN_INTERPOSE int pthread_sigqueue(pthread_t t, int sig,
                                     const union sigval value)
{
    return to_green(t, sig, SI_QUEUE, &value, real_sigqueue);
}

/* --- scheduling and affinity ------------------------------------------------
 * Green pthreads of one OS thread share its kernel scheduling: a policy,
 * priority or CPU set asked for one of them is recorded and reported for
 * that thread, checked as the kernel checks it, and never applied to the
 * OS thread (which would change it for every green thread on it, and pin
 * the whole process). */

/* 0 and *out for a green pthread, ESRCH for one that is gone, -1 for
 * anything else (libc's). */
static int which(pthread_t t, struct gthread **out)
{
    bool dead = false;
    *out = green__thread_on() ? green__gthread_of(t, &dead) : NULL;
    return *out != NULL ? 0 : green__thread_on() && dead ? ESRCH : -1;
}

/* The kernel's answer to sched_setscheduler(policy, prio) for this
 * process, without changing anything: EINVAL for a bad policy or
 * priority, EPERM for a real-time one it may not have. */
static int sched_check(int policy, int prio)
{
    int p = policy & ~SCHED_RESET_ON_FORK;
    if (p != SCHED_OTHER && p != SCHED_BATCH && p != SCHED_IDLE &&
        p != SCHED_FIFO && p != SCHED_RR) {
        return EINVAL;
    }
    int lo = sched_get_priority_min(p), hi = sched_get_priority_max(p);
    if (prio < lo || prio > hi) {
        return EINVAL;
    }
    if ((p == SCHED_FIFO || p == SCHED_RR) && geteuid() != 0) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_RTPRIO, &rl) != 0 ||
            (rl.rlim_cur != RLIM_INFINITY && (rlim_t)prio > rl.rlim_cur)) {
            return EPERM;
        }
    }
    return 0;
}

GREEN_INTERPOSE int pthread_getschedparam(pthread_t t, int *policy,
                                          struct sched_param *param)
{
    struct gthread *th;
    int r = which(t, &th);
    if (r != 0) {
        return r > 0 ? r : GREEN_REAL(pthread_getschedparam)(t, policy, param);
    }
    if (!th->sched_set) { /* the creator's, as natively: the OS thread's */
        return GREEN_REAL(pthread_getschedparam)(GREEN_REAL(pthread_self)(),
                                                 policy, param);
    }
    *policy = th->sched_policy;
    *param = th->sched_param;
    return 0;
}

GREEN_INTERPOSE int pthread_setschedparam(pthread_t t, int policy,
                                          const struct sched_param *param)
{
    struct gthread *th;
    int r = which(t, &th);
    if (r != 0) {
        return r > 0 ? r : GREEN_REAL(pthread_setschedparam)(t, policy, param);
    }
    if ((r = sched_check(policy, param->sched_priority)) != 0) {
        return r;
    }
    th->sched_policy = policy & ~SCHED_RESET_ON_FORK;
    th->sched_param = *param;
    th->sched_set = true;
    return 0;
}

GREEN_INTERPOSE int pthread_setschedprio(pthread_t t, int prio)
{
    struct gthread *th;
    int r = which(t, &th);
    if (r != 0) {
        return r > 0 ? r : GREEN_REAL(pthread_setschedprio)(t, prio);
    }
    int policy;
    struct sched_param param;
    if ((r = pthread_getschedparam(t, &policy, &param)) != 0) {
        return r;
    }
    param.sched_priority = prio;
    return pthread_setschedparam(t, policy, &param);
}

GREEN_INTERPOSE int pthread_getaffinity_np(pthread_t t, size_t size,
                                           cpu_set_t *set)
{
    struct gthread *th;
    int r = which(t, &th);
    if (r != 0) {
        return r > 0 ? r : GREEN_REAL(pthread_getaffinity_np)(t, size, set);
    }
    if (th->affinity == NULL) { /* inherited: the OS thread's */
        return GREEN_REAL(pthread_getaffinity_np)(GREEN_REAL(pthread_self)(),
                                                  size, set);
    }
    if (size < th->affinity_size) {
        return EINVAL; /* the kernel: a buffer smaller than its mask */
    }
    memset(set, 0, size);
    memcpy(set, th->affinity, th->affinity_size);
    return 0;
}

GREEN_INTERPOSE int pthread_setaffinity_np(pthread_t t, size_t size,
                                           const cpu_set_t *set)
{
    struct gthread *th;
    int r = which(t, &th);
    if (r != 0) {
        return r > 0 ? r : GREEN_REAL(pthread_setaffinity_np)(t, size, set);
    }
    /* The kernel keeps the CPUs the process may use and refuses a set
     * without one of them. */
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0) {
        return errno;
    }
    bool any = false;
    for (size_t cpu = 0; cpu < size * 8 && cpu < CPU_SETSIZE && !any; cpu++) {
        any = CPU_ISSET_S(cpu, size, set) && CPU_ISSET(cpu, &allowed);
    }
    if (!any) {
        return EINVAL;
    }
    void *copy = malloc(size);
    if (copy == NULL) {
        return ENOMEM;
    }
    memcpy(copy, set, size);
    free(th->affinity);
    th->affinity = copy;
    th->affinity_size = size;
    return 0;
}

/* A green pthread's CPU clock is its OS thread's: the kernel accounts
 * CPU time per OS thread (every green thread on it together). */
GREEN_INTERPOSE int pthread_getcpuclockid(pthread_t t, clockid_t *clock)
{
    struct gthread *th;
    int r = which(t, &th);
    if (r != 0) {
        return r > 0 ? r : GREEN_REAL(pthread_getcpuclockid)(t, clock);
    }
    return GREEN_REAL(pthread_getcpuclockid)(GREEN_REAL(pthread_self)(), clock);
}

/* --- spin locks and yielding ---------------------------------------------------
 * A spin lock held by another green thread of this OS thread can only be
 * released once the spinner lets it run: a contended lock yields between
 * tries instead of spinning for ever. glibc's layout (an int, 0 free) is
 * kept, so native threads may share the lock. */

GREEN_INTERPOSE int pthread_spin_lock(pthread_spinlock_t *lock)
{
    if (!green__thread_on() || green__thread_peek() == NULL) {
        return GREEN_REAL(pthread_spin_lock)(lock);
    }
    while (GREEN_REAL(pthread_spin_trylock)(lock) != 0) {
        green__hub_yield();
    }
    return 0;
}

/* glibc's pthread_yield is sched_yield called from inside libc, which
 * the time family's interposer does not see. glibc's headers send new
 * programs to sched_yield directly (an asm redirect); older binaries call
 * pthread_yield, defined here under that name. */
GREEN_INTERPOSE int green_pthread_yield_(void) __asm__("pthread_yield");
GREEN_INTERPOSE int green_pthread_yield_(void)
{
    return sched_yield();
}
