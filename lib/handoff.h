/* SPDX-License-Identifier: MIT */
/* The hand-off (lib/handoff.c): when a green thread keeps its hub's OS
 * thread for longer than GREEN_HANDOFF_MS in code no interposer reaches
 * (a computation, a raw system call), the watchdog hands the hub and
 * every other green thread to a spare OS thread; the one that kept it
 * goes on where it is, and comes back at its next call into libgreen.
 * Go's system monitor does the same for a goroutine in a system call.
 *
 * Words used below: a *host* is an OS thread that can run a hub: the one
 * the hub was made on, and the spares (`green-spare`). The green thread
 * left behind is *away* (state GREEN__AWAY) until it rejoins. */
#ifndef GREEN_HANDOFF_H
#define GREEN_HANDOFF_H

#include <stdbool.h>
#include <stdint.h>

struct green__thread;
struct green__watch;
struct greenlet;

/* GREEN_HANDOFF_MS in seconds (0: off). Hand-offs need TLS of their own
 * for green pthreads (lib/tls.c), the assembly context switch and no
 * AddressSanitizer; where one is missing this is 0. */
double green__handoff_after(void);

/* At a hub's creation on the OS thread that runs green pthreads: makes
 * the first spare, while the program's allocator is free to use. */
void green__handoff_hub(struct green__thread *t);

/* The watchdog, under its lock: w's hub has not turned for the hand-off
 * time. Freezes the running green thread with the probe signal sig,
 * and, if it runs outside libgreen (no return address into libgreen on
 * its stack), marks it away and orders a spare to take the hub. Returns
 * whether a spare took it. */
bool green__handoff_try(struct green__watch *w, int sig);

/* The watchdog's steps, under its lock: a spare for t's hub if its
 * running greenlet may be handed off (NULL: none); the spare back if the
 * freeze said no; the take-over once it said yes (mask: the stuck OS
 * thread's signal mask, which the spare takes). */
struct green__host;
struct green__host *green__handoff_reserve(struct green__thread *t);
void green__handoff_unreserve(struct green__host *h);
void green__handoff_commit(struct green__watch *w, struct green__host *h,
                           uint64_t mask);

/* The probe's handler, in the frozen thread: the check and the mark
 * (async-signal-safe). */
bool green__handoff_freeze(void *ucontext);

/* Why the last freeze said no, and the offset in libgreen of the word
 * that said it (0: none), for the watchdog's debug line. */
const char *green__handoff_why(uintptr_t *at);

/* The away thread's first call into libgreen (green__thread_peek and
 * green__thread_get see the mark): moves the caller back onto the hub's
 * host, and returns the thread state, unmarked. */
struct green__thread *green__handoff_rejoin(void);

/* The caller is away: the thread pointer's mark is set. */
extern __thread struct greenlet *green__tls_away
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

/* The hub's drain, on the new host: g is back; it becomes ready. */
void green__handoff_arrived(struct green__thread *t, struct greenlet *g);

/* The switch into g, a green pthread whose block has an older host's
 * malloc words (g->host_gen != t->host_gen): gives it t's host's. */
void green__handoff_refit(struct green__thread *t, struct greenlet *g);

/* A green pthread's start routine, called so that the freeze knows where
 * its frames end; after it returns the caller is back on the hub. And,
 * where the routine's frame was left by a jump (cancellation), the
 * record's end. */
void *green__handoff_call(void *(*fn)(void *), void *arg);
void green__handoff_ended(void);

/* The hub's turn: make a spare if the last hand-off used the last one. */
extern int green__handoff_want;
void green__handoff_replenish(void);

/* The root greenlet, on a hub a hand-off moved: goes back, with the hub,
 * to the OS thread the hub was made on (main's pthread_exit must end
 * there). May switch. */
void green__handoff_home(struct green__thread *t);

/* t's OS thread ends (its key destructor): the spares end too, since
 * glibc ends the process with its last thread. */
void green__handoff_thread_exit(struct green__thread *t);

/* For tests and green_stats: hand-offs made, spares idle, hosts made. */
unsigned long green__handoff_count(void);
int green__handoff_spares(void);

/* fork(), in the child: no spare came along. */
void green__handoff_after_fork(struct green__thread *t);

#endif
