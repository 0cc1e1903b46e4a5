/* SPDX-License-Identifier: MIT */
/* Declarations shared across lib/: the greenlet object, the per-OS-thread
 * state, and the internal interfaces of the greenlet, hub and task layers.
 * Public declarations live in include/green/; nothing here is exported. */
#ifndef GREEN_INTERNAL_H
#define GREEN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>

#include <poll.h>
#include <signal.h>

#include "green/greenlet.h"
#include "green/task.h"
#include "arch/switch.h"
#include "stack.h"

#if defined(__SANITIZE_ADDRESS__)
# define GREEN__ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  define GREEN__ASAN 1
# endif
#endif
#if defined(__SANITIZE_THREAD__)
# define GREEN__TSAN 1
#elif defined(__has_feature)
# if __has_feature(thread_sanitizer)
#  define GREEN__TSAN 1
# endif
#endif
/* A sanitizer that is told of every switch between stacks (ASan's fake
 * stacks, TSan's fibers): no switch may bypass the telling, so the
 * x86-64 leap (greenlet_switch's fast path) and the hand-off, whose
 * spare contexts are not greenlets, are off. */
#if defined(GREEN__ASAN) || defined(GREEN__TSAN)
# define GREEN__SAN_FIBERS 1
#endif
#ifdef GREEN__TSAN
# include <sanitizer/tsan_interface.h>
#endif

/* A spin-wait's pause (x86's PAUSE, aarch64's YIELD). */
static inline void green__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield" ::: "memory");
#endif
}

#define GREEN__LIKELY(x) __builtin_expect(!!(x), 1)
#define GREEN__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Where a greenlet is in its life and who may resume it. */
enum green__state {
    GREEN__NEW = 0,   /* created, never switched to; has no stack */
    GREEN__RUNNING,   /* the thread's current greenlet */
    GREEN__SUSPENDED, /* switched away from with greenlet_switch() */
    GREEN__PARKED,    /* waiting on the hub; only a wake-up resumes it */
    GREEN__READY,     /* woken, queued to run; only the hub resumes it */
    GREEN__DEAD,      /* run returned; the stack is gone */
    GREEN__AWAY       /* running on an OS thread its hub left for a spare
                         (lib/handoff.c); comes back at its next call into
                         libgreen, and only then may anyone resume it */
};

enum green__flags {
    GREEN__ROOT = 1,      /* the thread's original stack */
    GREEN__HUB = 2,       /* the hub greenlet */
    GREEN__TASK = 4,      /* embedded in a green_task */
    GREEN__CANCELLED = 8, /* killed: every blocking call fails */
    GREEN__REAP = 16,     /* a detached task: free it once its stack is
                             given back */
    GREEN__STARTED = 32,  /* has run (a root from birth) */
    GREEN__REPORTED = 128,/* the blocking monitor named it already */
    GREEN__SHIELD = 64    /* parks ignore cancellation and timeout scopes
                             (a condition wait taking its lock back) */
};

/* A doubly linked list node, used for wait queues and the live list. */
struct green__link {
    struct green__link *prev, *next;
};

/* A FIFO of parked greenlets (joiners of a task, waiters of an event...).
 * Empty when head.next == &head. */
struct green__waitq {
    struct green__link head;
};

struct greenlet {
    green__sp_t sp;                /* saved stack pointer, valid unless
                                      RUNNING or NEW */
    struct green__thread *thread;  /* owning OS thread; never changes */
    struct greenlet *parent;       /* gets run's return value; NULL = root */
    greenlet_run_t run;            /* body; NULL for root and hub */
    struct green__stack *stack;    /* NULL while NEW, for roots, once DEAD */
    size_t stack_size;             /* size the stack has or will have */
    void *result;                  /* run's return value once DEAD */
    unsigned long id;              /* unique, from 1 */
    char *name;                    /* heap copy or NULL */
    unsigned char state;           /* enum green__state */
    unsigned char flags;           /* enum green__flags */
    int saved_errno;               /* errno while not running */
    unsigned char fast;            /* SUSPENDED by greenlet_switch's fast
                                      path: it resumes straight into its
                                      caller, so whoever resumes it does
                                      its part (result, return code) */
    void **result_slot;            /* ...where its value goes, or NULL */
    void *resume_to;               /* ...where it returns after a detour
                                      through the reaper (see greenlet.c) */
    int wake;                      /* code the pending park returns */
    unsigned char intr;            /* how a signal ends its park: enum
                                      green__intr */
    uint64_t sig_mask;             /* signals it blocks (bit sig - 1): its
                                      own pthread_sigmask, inherited from
                                      its creator (lib/sigbridge.c) */
    uint64_t sig_pend;             /* signals for it not yet handled */
    struct green__sigq *sig_q;     /* ...their siginfo, oldest first */
    uint64_t sig_wset;             /* while in sigwait and friends: the
                                      signals it waits for */
    unsigned sig_runs;             /* handlers that ran as it */
    struct greenlet *sig_next;     /* in t->sig_hubrun while listed */
    unsigned live_children;        /* greenlets not dead whose parent this
                                      is; it cannot be freed before them */
    struct greenlet *ready_next;   /* link in thread->ready while READY */
    struct green__link wait;       /* link in a waitq while queued there */
    struct green__link live;       /* link in thread->live while started
                                      and not dead (for reports) */
    /* The wait descriptor: what a PARKED greenlet waits on, for the
     * deadlock report, green_dump() (lib/dump.c) and debuggers (gdb/),
     * which read these fields as they are, valid while it is PARKED.
     * what/obj/on, since and until are the park's (green__hub_park_intr;
     * what/obj/on are cleared at its wake-up); kind/arg/events are a
     * note the park site adds (green__wait_note below) and takes back
     * itself. */
    const char *wait_what;         /* what a PARKED greenlet waits for */
    const void *wait_obj;          /* ...and on which object, or NULL */
    const struct greenlet *wait_on;/* the greenlet whose end it awaits
                                      (joins), or NULL */
    struct greenlet *const *wait_owner; /* parked on a lock: where the
                                      lock keeps its owner, whom it waits
                                      for (lib/cycle.c), or NULL */
    unsigned char wait_kind;       /* enum green__wait_kind; 0: what and
                                      obj say it all */
    unsigned char wait_events;     /* GREEN__WAIT_FD: POLLIN, POLLOUT */
    long wait_arg;                 /* by kind: the fd, the number of fds
                                      polled, the child's pid, the futex
                                      word's expected value */
    double wait_since;             /* when it parked, on the hub's clock
                                      (ev_now(), realtime seconds): exact
                                      for a timed park, else the time of
                                      the hub's last turn before it */
    double wait_until;             /* when its park's timer fires, same
                                      clock; HUGE_VAL: no timer */
    unsigned long creator;         /* id of the greenlet that made it; 0
                                      for roots and hubs */
    void *wait_data;               /* the waiter's own record while queued
                                      (channels hand items through it) */
    struct green__scope *scopes;   /* timeout scopes, innermost first */
    void *tp;                      /* thread pointer of its own TLS (a
                                      green pthread's, lib/tls.c), or NULL
                                      for the OS thread's */
    struct green__host *away_host; /* while AWAY: the OS thread it stayed
                                      on (lib/handoff.c) */
    uintptr_t user_slot;           /* a green pthread in its start routine:
                                      the stack address of that call's
                                      return slot (lib/handoff.c), or 0 */
    unsigned host_gen;             /* thread->host_gen when its TLS block
                                      last took its host's malloc words */
    size_t top_reserve;            /* bytes kept free at its stack's top
                                      (for that TLS) when it starts */
    unsigned char keep_stack;      /* when it dies, its stack stays until
                                      green__greenlet_drop_stack(): a
                                      joinable green pthread's descriptor
                                      (its pthread_t) lives there */
#ifdef GREEN__TSAN
    void *tsan_fiber;              /* TSan's record of this stack */
#endif
#ifdef GREEN__ASAN
    void *asan_fake;               /* ASan fake stack while suspended */
    const void *asan_bottom;       /* stack bounds for ASan; for a root */
    size_t asan_size;              /* learnt on the first switch away */
#endif
};

/* What a wait descriptor's note says (struct greenlet's wait_kind). */
enum green__wait_kind {
    GREEN__WAIT_OTHER = 0, /* wait_what and wait_obj/wait_on say it */
    GREEN__WAIT_FD,        /* fd wait_arg, for wait_events */
    GREEN__WAIT_POLL,      /* poll/select/epoll on wait_arg fds */
    GREEN__WAIT_FUTEX,     /* the word at wait_obj, while it holds
                              wait_arg */
    GREEN__WAIT_CHILD      /* waitpid/waitid for pid wait_arg (-1: any
                              child, < -1: group -wait_arg) */
};

/* Notes what the running greenlet g is about to wait on, unless an outer
 * call noted it already (waitpid's note wins over the wait on its pidfd
 * inside). Returns whether this call noted it: pass that to
 * green__wait_unnote when the wait is over. */
static inline bool green__wait_note(struct greenlet *g, unsigned kind,
                                    long arg, unsigned events)
{
    if (g->wait_kind != GREEN__WAIT_OTHER) {
        return false;
    }
    g->wait_kind = (unsigned char)kind;
    g->wait_arg = arg;
    g->wait_events = (unsigned char)events;
    return true;
}

static inline void green__wait_unnote(struct greenlet *g, bool mine)
{
    if (mine) {
        g->wait_kind = GREEN__WAIT_OTHER;
    }
}

/* How a signal handled while a greenlet is parked ends the park, as it
 * would end the system call on a blocking thread (lib/sigbridge.c). */
enum green__intr {
    GREEN__INTR_NEVER = 0,   /* mutexes, joins: never EINTR */
    GREEN__INTR_RESTART = 1, /* read, write, accept...: EINTR unless the
                                handler has SA_RESTART */
    GREEN__INTR_ALWAYS = 2   /* poll, select, sleeps: always EINTR */
};

/* A timeout scope (green_timeout_start). Its deadline already folds in
 * every outer scope's, so the innermost one is the nearest. */
struct green__scope {
    double deadline;            /* absolute, green__now() seconds */
    struct green__scope *outer;
};

/* A wake-up sent to a greenlet parked on another OS thread's hub
 * (lib/remote.c). The waker fills g and code; the record belongs to the
 * waiter (it lives in its wait's frame), which must not leave the wait
 * before the hub has set done. */
#define GREEN__REJOIN (-0x7fff) /* a remote code: the greenlet itself is
                                   back from an OS thread of its own */
#define GREEN__TASK_MSG (-0x7ffe) /* a remote code: a kill or release of
                                     g's task from another OS thread, for
                                     green__remote_task (lib/task.c) */
struct green__remote {
    struct green__remote *next;    /* in the target thread's inbox */
    struct greenlet *g;
    int code;                      /* what its park returns */
    int done;                      /* set (release) by the target hub once
                                      delivered; read with acquire */
};

/* Per-OS-thread state. Made on first use by green__thread_get(). */
struct green__thread {
    struct greenlet *current;      /* the running greenlet */
    void *os_tp;                   /* the OS thread's own thread pointer,
                                      installed for greenlets whose tp is
                                      NULL */
    struct greenlet root;          /* the thread's own stack */
    struct greenlet *hub;          /* NULL until the hub is needed */
    void *loop;                    /* the libev loop (struct ev_loop *) */
    size_t nwatch;                 /* active watchers that can wake a
                                      greenlet; 0 with nothing ready means
                                      deadlock */
    size_t nmaybe;                 /* parked on objects that another OS
                                      thread may use (lib/crosswait.c): no
                                      deadlock while other OS threads
                                      exist (read when it is judged) */
    unsigned xguards;              /* shared objects' guards held (outside
                                      solo mode, lib/crosswait.h) */
    struct green__xwait *xlater;   /* inbox wake-ups to send once they are
                                      all let go, FIFO (and its tail) */
    struct green__xwait **xlater_tail;
    struct greenlet *ready_head;   /* FIFO of READY greenlets */
    struct greenlet *ready_tail;
    size_t nready;                 /* length of that FIFO */
    size_t budget;                 /* direct hand-offs left before the hub
                                      must poll for I/O and timers again */
    struct greenlet *zombie;       /* died in the last switch; its stack is
                                      released by whoever runs next */
    void *xfer_value;              /* value carried by the current switch */
    int xfer_err;                  /* error carried by it (throw), or 0 */
    int *errnop;                   /* this thread's &errno */
    struct green__link live;       /* started, not dead greenlets */
    size_t live_tasks;             /* tasks spawned and not ended */
    struct green__waitq run_waiters; /* green_run() callers */
    unsigned long switches;        /* context switches made (green_stats) */
    unsigned long hub_turns;       /* times the hub polled its loop */
    double turn_time;              /* ev_now() of the last hub turn (or of
                                      the hub's creation): an untimed
                                      park's wait_since */
    double stall_max;              /* longest the hub was kept away, in
                                      seconds, as the blocking monitor
                                      measured it (0 while it is off) */
    struct green__fdw **fds;       /* per-fd registrations, by fd number */
    size_t nfds;                   /* length of fds */
    double stamp;                  /* coarse time of the last park or hub
                                      turn, for the blocking monitor */
    struct green__watch *watch;    /* the watchdog's record of this OS
                                      thread (lib/watchdog.h), beaten by
                                      the hub; NULL while unwatched */
    volatile uint64_t sig_proc;    /* process-directed signals the
                                      trampoline left for the hub */
    void *sig_info;                /* ...their siginfo_t, by number */
    uint64_t sig_real;             /* the OS thread's real mask as the
                                      bridge set it: what every green
                                      thread blocks, and sig_held */
    uint64_t sig_held;             /* handled signals none would take when
                                      they came: blocked, back in the
                                      kernel's pending set */
    struct greenlet *sig_hubrun;   /* greenlets whose pending signals the
                                      hub runs as them (their wait goes
                                      on: SA_RESTART, or a mutex) */
    unsigned char sig_ready;       /* root's mask and sig_real are set */
    void *sig_async;               /* ev_async that wakes the hub: for
                                      signals and for remote wake-ups */
    struct green__remote *remote;  /* inbox of wake-ups from other OS
                                      threads, newest first (atomic) */
    int senders;                   /* atomic: other threads inside
                                      green__remote_wake for this one; its
                                      loop is not destroyed until none */
    struct green__host *host;      /* the OS thread running this hub now,
                                      once a hand-off needed a record of
                                      it (lib/handoff.c), else NULL */
    struct green__host *home;      /* the record of the OS thread it was
                                      made on, with a hand-off possible */
    size_t away;                   /* its greenlets away now (each counted
                                      in nwatch too) */
    unsigned host_gen;             /* +1 at each hand-off: a green pthread
                                      whose host_gen differs takes the
                                      host's malloc words at its switch */
    struct greenlet *fork_sole;    /* in a forked child: the one greenlet
                                      that goes on; the process exits
                                      when it ends */
    /* What lib/ and preload/ keep per OS thread, here rather than in
     * thread-local storage, which a green pthread has its own of. */
    struct green__stack_thread stacks; /* lib/stack.c's pools */
    struct {
        void *free;                /* lib/task.c's slab of task records */
        void *chunks;
    } task_slab;
    void *dns_chan;                /* lib/dns.c's c-ares channel */
    struct {
        void *free_records;        /* preload/thread.c's spare records */
        size_t live;               /* green pthreads that have not ended */
        struct green__waitq ended; /* main's wait for them in
                                      pthread_exit */
        struct green__waitq once_waiters; /* pthread_once callers waiting
                                             for another's routine */
    } pthreads;
    struct {
        void *waits;               /* lib/futex.c's green waits in progress */
        struct greenlet *poller;   /* its poller task, once that runs */
        double slice;              /* the poller's interval */
        int pid;                   /* the process these belong to */
        bool running;              /* a poller was spawned, not ended */
    } futex;
    int inbound;                   /* atomic: spawns other threads sent
                                      here, not yet read (lib/task.c) */
};

/* --- thread.c ----------------------------------------------------------- */

/* The calling thread's state, or NULL before its first use. Read on every
 * hot path: initial-exec TLS (one load off the thread pointer), hidden,
 * and reached through the inline functions below. */
extern __thread struct green__thread *green__tls_thread
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

/* Makes the calling thread's state (its first use of the runtime) and
 * arranges for its destruction at thread exit. NULL if out of memory. */
struct green__thread *green__thread_create(void);

/* The calling thread's state, made on first use; NULL if out of memory. */
/* A green thread whose hub was handed off while it kept the OS thread
 * (lib/handoff.c) finds the low bit of its green__tls_thread set: its
 * first call into libgreen takes it back to the hub. */
#define GREEN__AWAY_BIT ((uintptr_t)1)
struct green__thread *green__handoff_rejoin(void);

static inline struct green__thread *green__thread_get(void)
{
    struct green__thread *t = green__tls_thread;
    if (GREEN__UNLIKELY((uintptr_t)t & GREEN__AWAY_BIT)) {
        return green__handoff_rejoin();
    }
    return GREEN__LIKELY(t != NULL) ? t : green__thread_create();
}

/* The calling thread's state if it exists, else NULL. Never allocates. */
static inline struct green__thread *green__thread_peek(void)
{
    struct green__thread *t = green__tls_thread;
    if (GREEN__UNLIKELY((uintptr_t)t & GREEN__AWAY_BIT)) {
        return green__handoff_rejoin();
    }
    return t;
}

/* The same without the way back: for signal handlers, which must not
 * move (NULL while away). */
static inline struct green__thread *green__thread_peek_here(void)
{
    struct green__thread *t = green__tls_thread;
    return (uintptr_t)t & GREEN__AWAY_BIT ? NULL : t;
}

/* --- greenlet.c --------------------------------------------------------- */

/* What a context resumed by a plain jump does first (lib/handoff.c's
 * way back): gives back the stack of a greenlet that died switching to
 * it. */
void green__greenlet_resumed(struct green__thread *t);

/* Initialises an embedded greenlet (the task layer's). */
int green__greenlet_init(struct greenlet *g, struct green__thread *t,
                         greenlet_run_t run, struct greenlet *parent,
                         size_t stack_size);

/* The two halves of green__greenlet_init for a greenlet made on another
 * OS thread than t, without a parent: what any thread may write (made by
 * the greenlet `creator`, 0 for none), then, on t, what t's state gives
 * (its signal mask, its host generation). */
void green__greenlet_init_for(struct greenlet *g, struct green__thread *t,
                              greenlet_run_t run, size_t stack_size,
                              unsigned long creator);
void green__greenlet_adopt(struct greenlet *g);

/* Switches from the running greenlet to `to` (which must not be RUNNING
 * or DEAD), starting it if NEW. The caller has already set the running
 * greenlet's state to what it should be while away. Returns 0, or -ENOMEM
 * if `to` was NEW and no stack could be had (nothing switched). */
int green__greenlet_jump(struct green__thread *t, struct greenlet *to);

/* Ends the running greenlet with `result` and switches to `to`. */
_Noreturn void green__greenlet_exit(struct green__thread *t,
                                    struct greenlet *to, void *result);

/* Gives a NEW greenlet its stack now, so that a later switch cannot fail.
 * Returns 0 (also if g already has one) or -ENOMEM. */
int green__greenlet_prepare(struct green__thread *t, struct greenlet *g);

/* Hooks the task layer sets: reap frees a detached task once its greenlet
 * died and gave its stack back; nostack ends a NEW task for which no stack
 * could be allocated. Called by the greenlet and hub layers. */
extern void (*green__greenlet_reap)(struct greenlet *g);
extern void (*green__greenlet_nostack)(struct greenlet *g);

/* Gives back the stack a DEAD greenlet kept (keep_stack). */
void green__greenlet_drop_stack(struct greenlet *g);

/* Releases what a greenlet holds besides its struct (name). */
void green__greenlet_fini(struct greenlet *g);

/* A new greenlet id: unique in the process, from 1 (thread.c's roots take
 * theirs here too). */
unsigned long green__greenlet_new_id(void);

/* "name" or "#id" of g into buf, for reports. */
const char *green__greenlet_label(const struct greenlet *g, char *buf,
                                  size_t len);

/* --- hub.c -------------------------------------------------------------- */

/* Parks the running greenlet until green__hub_wake() or the timeout (in
 * seconds; GREEN_FOREVER for none). what/obj describe the wait for deadlock
 * reports. Returns the wake code: 0 (woken), -ETIMEDOUT, -ECANCELED (the
 * greenlet is or becomes cancelled), -EDEADLK (nothing could ever wake it),
 * -EPERM (called on the hub itself), -ENOMEM (no hub). The caller must
 * remove itself from any wait queue it joined if still linked.
 *
 * green__hub_park_intr() is the same wait that a signal can end with
 * -EINTR (intr: enum green__intr); green__hub_park() is the one that no
 * signal ends (inline: it is only that argument). */
int green__hub_park_intr(double timeout, const char *what, const void *obj,
                         int intr);

static inline int green__hub_park(double timeout, const char *what,
                                  const void *obj)
{
    return green__hub_park_intr(timeout, what, obj, GREEN__INTR_NEVER);
}

/* Makes a PARKED greenlet READY with wake code `code`. A greenlet that is
 * not PARKED is left alone. Never switches. */
void green__hub_wake(struct greenlet *g, int code);

/* Queues the running greenlet behind everything ready and runs them.
 * Returns 0, -ECANCELED or -ENOMEM. */
int green__hub_yield(void);

/* Switches away from a running greenlet that has just died: to the next
 * ready greenlet or the hub. */
_Noreturn void green__hub_exit(void *result);

/* Queues g (NEW, a spawned task) to run. Never switches. */
void green__hub_ready(struct greenlet *g);

/* Makes g (NEW) READY after `seconds`, through a hub timer. Returns a timer
 * handle (for green__hub_cancel_later) or NULL with -ENOMEM in *err. */
void *green__hub_ready_later(struct greenlet *g, double seconds, int *err);

/* Stops a timer from green__hub_ready_later() that has not fired. */
void green__hub_cancel_later(void *timer);

/* In the child of fork(): the loop gets a fresh kernel state
 * (ev_loop_fork), and only the calling greenlet goes on, as only the
 * forking thread does with pthreads. */
void green__hub_after_fork(void);

/* Destroys the hub of the calling thread (at thread exit). */
void green__hub_thread_term(struct green__thread *t);

/* --- iowait.c: fd waits -------------------------------------------------- */

/* Parks the running greenlet until fd is ready for `events` (POLLIN,
 * POLLOUT or both), the timeout, or green__hub_io_forget(fd). The fd keeps
 * one libev registration for its lifetime in this thread, whatever the
 * number of waits. Returns the events that are ready (> 0), or -ETIMEDOUT,
 * -ECANCELED, -EBADF (fd invalid or forgotten while waiting), -EINVAL,
 * -ENOMEM, -EDEADLK. */
int green__hub_io_wait(int fd, int events, double timeout);

/* green__hub_io_wait() with the signal behaviour chosen (enum
 * green__intr; green__hub_io_wait's is GREEN__INTR_RESTART). */
int green__hub_io_wait_intr(int fd, int events, double timeout, int intr);

/* Parks the running greenlet until one of fds[0..nfds) is ready for its
 * events (POLLIN, POLLPRI count as POLLIN; POLLOUT), or the timeout.
 * Negative fds and empty masks are skipped. Returns 1 when an fd fired
 * (the caller asks the kernel which), or -ETIMEDOUT, -ECANCELED, -EINTR,
 * -ENOMEM, -EDEADLK. An fd that cannot be registered (not open) does not
 * count: the caller's own poll(2) reports it as POLLNVAL first. */
int green__hub_poll_wait(const struct pollfd *fds, size_t nfds,
                         double timeout);

/* Drops fd's registration before the fd is closed: every greenlet waiting
 * on it wakes with -EBADF, and a later fd with the same number starts
 * afresh. Never switches. */
void green__hub_io_forget(int fd);

/* --- poll.c -------------------------------------------------------------- */

/* Calls look(arg), a question to the kernel with a zero timeout, until it
 * answers non-zero (> 0: ready; < 0: an error) or the timeout (seconds)
 * passes (0), waiting on fds between tries. poll() and epoll_wait(). */
int green__poll_until(const struct pollfd *fds, size_t n, double timeout,
                      int (*look)(void *), void *arg);

/* --- sigbridge.c ---------------------------------------------------------- */

/* The program's signal actions, as it set them through the preload's
 * sigaction (sa_handler NULL: SIG_DFL). */
extern struct sigaction green__sig_act[];

/* Handlers the program installed through the preload; while there are
 * any, a greenlet in an interruptible wait is not deadlocked. */
extern int green__signal_handlers;

/* What the kernel runs for a handled signal (SA_SIGINFO|SA_ONSTACK): the
 * program's handler at once in the running green thread if it does not
 * block the signal, else the hub's later choice of thread. */
void green__sig_trampoline(int sig, siginfo_t *si, void *uc);

/* The mask a greenlet being made in t starts with: its creator's. */
uint64_t green__sig_inherit(struct green__thread *t);

/* pthread_sigmask for the running green thread (how: SIG_BLOCK, ...;
 * set NULL to only read). Runs the signals it unblocks that are pending
 * for it before returning. 0 or -EINVAL. */
int green__sig_setmask(int how, const sigset_t *set, sigset_t *old);

/* Signals pending for the running green thread (sigpending). */
void green__sig_pending(sigset_t *set);

/* A thread-directed signal to g (pthread_kill, pthread_sigqueue; info
 * as the kernel would fill it): handled as g, whose blocking call ends
 * with EINTR per SA_RESTART; held while g blocks it. */
void green__sig_send(struct greenlet *g, int sig, const siginfo_t *info);

/* Takes a signal of set (bits) pending for the running green thread into
 * *info: its number, or 0 if none. */
int green__sig_take(uint64_t set, siginfo_t *info);

/* The bits of a sigset_t (signals 1..64), and back. */
uint64_t green__sig_bits(const sigset_t *set);
void green__sig_set(uint64_t bits, sigset_t *set);

/* Whether only a signal could still wake someone: the program has
 * handlers, and a green thread waits where a signal would end the
 * system call (alarm(1); sem_wait(...) is not a deadlock). */
bool green__signal_may_wake(struct green__thread *t);

/* Makes and starts the ev_async the trampoline sends, on t's new loop;
 * without memory for it, signals do not interrupt waits. Stop stops and
 * frees it before the loop is destroyed. Called by the hub. */
void green__sigbridge_start(struct green__thread *t);
void green__sigbridge_stop(struct green__thread *t);

/* Parks the running greenlet until a handler has run as it (pause,
 * sigsuspend): returns -EINTR then, or -ECANCELED, -ENOMEM. Not a
 * deadlock while it waits: a signal from outside may always come. */
int green__sigbridge_wait(const char *what);

/* The hub's part (green__deliver_signals). */
void green__sig_dispatch(struct green__thread *t);

/* A greenlet back from a park with signals pending for it: runs their
 * handlers as it (it was woken with EINTR for them). */
void green__sig_resume(struct green__thread *t, struct greenlet *self);

/* In the child of fork: the real mask becomes the forking thread's. */
void green__sig_after_fork(struct green__thread *t);

/* Hands the signals the trampoline left to the green threads that take
 * them. Called by the hub on every turn, hence inline: with no signal it
 * costs two loads. */
static inline void green__deliver_signals(struct green__thread *t)
{
    if (GREEN__LIKELY(t->sig_proc == 0 && t->sig_hubrun == NULL)) {
        return;
    }
    green__sig_dispatch(t);
}

/* --- remote.c ------------------------------------------------------------ */

/* Wakes r->g, parked on its own OS thread's hub, from any thread (also one
 * without runtime state) with r->code; the hub delivers it at its next
 * turn and then sets r->done. Lock-free; one ev_async send when the inbox
 * was empty, none when a wake-up is already on its way. */
void green__remote_wake(struct green__remote *r);

/* Delivers the inbox (the hub, each turn). */
void green__remote_drain(struct green__thread *t);

/* Set by lib/task.c: reads a GREEN__TASK_MSG record, on g's thread. */
extern void (*green__remote_task)(struct green__remote *r);

static inline void green__remote_poll(struct green__thread *t)
{
    if (GREEN__UNLIKELY(__atomic_load_n(&t->remote, __ATOMIC_RELAXED) !=
                        NULL)) {
        green__remote_drain(t);
    }
}

/* --- timeout.c ------------------------------------------------------------ */

/* Monotonic time in seconds. */
double green__now(void);

/* Frees the scopes a greenlet left open (it died or was discarded). */
void green__scopes_free(struct greenlet *g);

/* Whether the running greenlet's innermost timeout scope has expired. */
bool green__scope_expired(const struct greenlet *g);

/* --- task.c ------------------------------------------------------------- */

/* Calls fn(t, userdata) when t ends (at once if it has; on t's home
 * thread if t is another thread's). Returns 0, -ENOMEM.
 * green__task_unlink removes a link that has not been taken to run yet,
 * and says whether it found it. */
int green__task_link(green_task_t *t, green_link_fn_t fn, void *userdata);

/* green_kill() without the handle check, for the pool, which tracks
 * members whose handles their spawner gave back. */
int green__task_kill(green_task_t *t);

/* Frees the thread's slab of task records (at thread exit; every task of
 * the thread is gone or abandoned by then). */
void green__task_thread_term(struct green__thread *t);

/* For the tests: the tasks t's spawns allocated that are not freed yet
 * (under ASan, the whole process's). */
size_t green__task_records(const struct green__thread *t);

/* --- hubs.c ------------------------------------------------------------- */

/* The OS thread a task spawned with green_spawn_opts_t.hub = hub runs on
 * (me for GREEN_HUB_SELF, or GREEN_HUB_ANY while no hub is started), or
 * NULL if hub names none. */
struct green__thread *green__hubs_pick(int hub, struct green__thread *me);

/* Every task a handle (not NULL, not released; of any thread), plus the
 * timeout: 0 or -EINVAL. */
int green__task_check_all(green_task_t *const *tasks, size_t n,
                          double timeout);

/* Structured cleanup: kills every task in tasks[0..n) that has not ended
 * (another thread's through its home) and waits for all of them, even if
 * the caller itself is being cancelled or is inside an expired timeout
 * scope (the wait is shielded). Stops early only on -EDEADLK. */
void green__task_reap_all(green_task_t *const *tasks, size_t n);

/* Ends the running task (which must be one) as if its body had returned
 * result: links run, joiners wake, a detached task is freed. Used by
 * pthread_exit under the preload. Never returns. */
_Noreturn void green__task_exit(void *result);

/* One pointer per task for the preload's green pthreads (their record),
 * NULL until set. Never switch. */
void green__task_set_local(green_task_t *t, void *local);
void *green__task_local(const green_task_t *t);

/* 0 if t can be used by the calling thread: -EINVAL (NULL or released),
 * -EPERM (another thread's). */
int green__task_check(const green_task_t *t);
bool green__task_unlink(green_task_t *t, green_link_fn_t fn, void *userdata);

/* green_join(t, timeout, NULL) for the preload's joins, in call `what`
 * ("pthread_join on"): a wait that closes a deadlock cycle is reported
 * and goes on, as the native call would hang (lib/cycle.c). */
int green__task_join(green_task_t *t, double timeout, const char *what);

/* --- waitq.c, and the wait queues' inline half ---------------------------- */

static inline void green__waitq_init(struct green__waitq *q)
{
    q->head.prev = q->head.next = &q->head;
}

static inline bool green__waitq_empty(const struct green__waitq *q)
{
    return q->head.next == &q->head;
}

static inline void green__link_remove(struct green__link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

static inline bool green__link_empty(const struct green__link *head)
{
    return head->next == head;
}

static inline bool green__link_linked(const struct green__link *l)
{
    return l->next != l && l->next != NULL;
}

static inline void green__waitq_push(struct green__waitq *q,
                                     struct greenlet *g)
{
    struct green__link *l = &g->wait;
    l->prev = q->head.prev;
    l->next = &q->head;
    q->head.prev->next = l;
    q->head.prev = l;
}

/* Whether g, a waiter on t (the caller's OS thread), was killed and only
 * waits for its turn to leave: wakers pass over it, so that a wake-up or
 * a hand-off is not spent on a wait that fails with -ECANCELED. A waiter
 * of another OS thread cannot be read (false: the waker wins). */
static inline bool green__wait_killed(const struct greenlet *g,
                                      const struct green__thread *t)
{
    return g->thread == t && g->state != GREEN__PARKED &&
           g->wake == -ECANCELED;
}

/* The greenlet g waits for as a lock's holder, or NULL: *wait_owner may
 * be a lock word whose bit 0 is the lock's own flag (lib/lock.c). */
static inline const struct greenlet *green__wait_owner(const struct greenlet *g)
{
    if (g->wait_owner == NULL) {
        return NULL;
    }
    uintptr_t w = (uintptr_t)__atomic_load_n(g->wait_owner, __ATOMIC_RELAXED);
    return (const struct greenlet *)(w & ~(uintptr_t)1);
}

#define GREEN__CONTAINER(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* Removes and returns the first waiter, or NULL. */
static inline struct greenlet *green__waitq_pop(struct green__waitq *q)
{
    if (green__waitq_empty(q)) {
        return NULL;
    }
    struct green__link *l = q->head.next;
    green__link_remove(l);
    return GREEN__CONTAINER(l, struct greenlet, wait);
}

/* Parks the running greenlet on q; unlinks it again unless a waker did. */
int green__waitq_wait(struct green__waitq *q, double timeout,
                      const char *what, const void *obj);

/* Hand-off waits, for fair semaphores, locks and pool slots: the waker
 * gives the resource to the first waiter itself (green__waitq_handoff,
 * which returns that waiter or NULL), and green__waitq_wait_handoff
 * returns 0 exactly when the caller was handed it. */
int green__waitq_wait_handoff(struct green__waitq *q, double timeout,
                              const char *what, const void *obj);
struct greenlet *green__waitq_handoff(struct green__waitq *q);

/* Wakes every greenlet on q with code. */
void green__waitq_wake_all(struct green__waitq *q, int code);

/* Validates a timeout: 0 if >= 0 (GREEN_FOREVER included), else -EINVAL. */
static inline int green__check_timeout(double seconds)
{
    return (seconds >= 0.0) ? 0 : -EINVAL; /* NaN fails the test too */
}

#endif
