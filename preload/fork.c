/* SPDX-License-Identifier: MIT */
/* The fork interposer: the child gets a working hub (libev's loop is
 * re-armed with ev_loop_fork, so parent and child do not share one epoll
 * set), and only the forking green thread goes on in it, as only the
 * forking thread does with pthreads. A green pthread with TLS of its own
 * forks on its OS thread's descriptor (green__tls_fork). */
#include "preload.h"
#include "gthread.h"
#include "tls.h"

GREEN_INTERPOSE pid_t fork(void)
{
    bool here = green__pthreads_here();
    pid_t pid = green__tls_fork(GREEN_REAL(fork)); /* lib/tls.h */
    if (pid == 0) {
        int e = errno;
        green__pthreads_after_fork(here); /* its thread id changed */
        green__vtid_after_fork();
        if (green__patch_on(GREEN_PATCH_OS)) {
            green__hub_after_fork();
        }
        errno = e;
    }
    return pid;
}

/* vfork: fork. A vfork child shares the parent's memory until it execs or
 * exits, so whatever it calls through the interposers changes the
 * parent's green state: CPython's _posixsubprocess restores the child's
 * signal mask with pthread_sigmask, which left the signal bridge sure the
 * parent's OS thread had every signal unblocked again while the kernel
 * had them all blocked there (no signal, no watchdog probe, in the parent
 * from then on). A forked child has memory of its own, and a vfork child
 * may only exec or _exit, which it does the same way. The cost is fork's:
 * copying the page tables, which vfork skips. */
GREEN_INTERPOSE pid_t vfork(void)
{
    return fork();
}
