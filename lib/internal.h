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

#define GREEN__LIKELY(x) __builtin_expect(!!(x), 1)
#define GREEN__UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Where a greenlet is in its life and who may resume it. */
enum green__state {
    GREEN__NEW = 0,   /* created, never switched to; has no stack */
    GREEN__RUNNING,   /* the thread's current greenlet */
    GREEN__SUSPENDED, /* switched away from with greenlet_switch() */
    GREEN__PARKED,    /* waiting on the hub; only a wake-up resumes it */
    GREEN__READY,     /* woken, queued to run; only the hub resumes it */
    GREEN__DEAD       /* run returned; the stack is gone */
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
    unsigned long park_gen;        /* t->sig_gen when it parked */
    unsigned live_children;        /* greenlets not dead whose parent this
                                      is; it cannot be freed before them */
    struct greenlet *ready_next;   /* link in thread->ready while READY */
    struct green__link wait;       /* link in a waitq while queued there */
    struct green__link live;       /* link in thread->live while started
                                      and not dead (for reports) */
    const char *wait_what;         /* what a PARKED greenlet waits for */
    const void *wait_obj;          /* ...and on which object, or NULL */
    const struct greenlet *wait_on;/* the greenlet whose end it awaits
                                      (joins), or NULL */
    void *wait_data;               /* the waiter's own record while queued
                                      (channels hand items through it) */
    struct green__scope *scopes;   /* timeout scopes, innermost first */
#ifdef GREEN__ASAN
    void *asan_fake;               /* ASan fake stack while suspended */
    const void *asan_bottom;       /* stack bounds for ASan; for a root */
    size_t asan_size;              /* learnt on the first switch away */
#endif
};

/* How a signal handled while a greenlet is parked ends the park, as it
 * would end the system call on a blocking thread (only the root greenlet,
 * the program's main thread, is ever interrupted). */
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

/* Per-OS-thread state. Made on first use by green__thread_get(). */
struct green__thread {
    struct greenlet *current;      /* the running greenlet */
    struct greenlet root;          /* the thread's own stack */
    struct greenlet *hub;          /* NULL until the hub is needed */
    void *loop;                    /* the libev loop (struct ev_loop *) */
    size_t nwatch;                 /* active watchers that can wake a
                                      greenlet; 0 with nothing ready means
                                      deadlock */
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
    struct green__fdw **fds;       /* per-fd registrations, by fd number */
    size_t nfds;                   /* length of fds */
    double stamp;                  /* coarse time of the last park or hub
                                      turn, for the blocking monitor */
    volatile unsigned long sig_gen;       /* signals handled (handler) */
    volatile unsigned long sig_norestart;  /* sig_gen of the last one whose
                                             handler lacks SA_RESTART */
    unsigned long sig_seen;        /* sig_gen the hub acted on */
    void *sig_async;               /* ev_async that wakes the hub */
    struct greenlet *fork_sole;    /* in a forked child: the one greenlet
                                      that goes on; the process exits
                                      when it ends */
};

/* The calling thread's state, made on first use; NULL if out of memory. */
struct green__thread *green__thread_get(void);

/* The calling thread's state if it exists, else NULL. Never allocates. */
struct green__thread *green__thread_peek(void);

/* --- greenlet.c --------------------------------------------------------- */

/* Initialises an embedded greenlet (the task layer's). */
int green__greenlet_init(struct greenlet *g, struct green__thread *t,
                         greenlet_run_t run, struct greenlet *parent,
                         size_t stack_size);

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

/* Releases what a greenlet holds besides its struct (name). */
void green__greenlet_fini(struct greenlet *g);

/* "name" or "#id" of g into buf, for reports. */
const char *green__greenlet_label(const struct greenlet *g, char *buf,
                                  size_t len);

/* --- hub.c -------------------------------------------------------------- */

/* Parks the running greenlet until green__hub_wake() or the timeout (in
 * seconds; GREEN_FOREVER for none). what/obj describe the wait for deadlock
 * reports. Returns the wake code: 0 (woken), -ETIMEDOUT, -ECANCELED (the
 * greenlet is or becomes cancelled), -EDEADLK (nothing could ever wake it),
 * -EPERM (called on the hub itself), -ENOMEM (no hub). The caller must
 * remove itself from any wait queue it joined if still linked. */
int green__hub_park(double timeout, const char *what, const void *obj);

/* green__hub_park() that a signal can end with -EINTR (intr: enum
 * green__intr). */
int green__hub_park_intr(double timeout, const char *what, const void *obj,
                         int intr);

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

/* Calls look(arg), a question to the kernel with a zero timeout, until it
 * answers non-zero (> 0: ready; < 0: an error) or the timeout (seconds)
 * passes (0), waiting on fds between tries. poll() and epoll_wait(). */
int green__poll_until(const struct pollfd *fds, size_t n, double timeout,
                      int (*look)(void *), void *arg);

/* Drops fd's registration before the fd is closed: every greenlet waiting
 * on it wakes with -EBADF, and a later fd with the same number starts
 * afresh. Never switches. */
void green__hub_io_forget(int fd);

/* Called from a signal handler (async-signal-safe) once the program's
 * handler ran: wakes the hub, which ends the root greenlet's
 * interruptible wait with -EINTR (see enum green__intr). */
void green__hub_signal(bool restart);

/* Handlers the program installed through the preload; while there are
 * any, a main greenlet in an interruptible wait is not deadlocked. */
extern int green__signal_handlers;

/* In the child of fork(): the loop gets a fresh kernel state
 * (ev_loop_fork), and only the calling greenlet goes on, as only the
 * forking thread does with pthreads. */
void green__hub_after_fork(void);

/* Destroys the hub of the calling thread (at thread exit). */
void green__hub_thread_term(struct green__thread *t);

/* --- timeout.c ------------------------------------------------------------ */

/* Monotonic time in seconds. */
double green__now(void);

/* Frees the scopes a greenlet left open (it died or was discarded). */
void green__scopes_free(struct greenlet *g);

/* Whether the running greenlet's innermost timeout scope has expired. */
bool green__scope_expired(const struct greenlet *g);

/* --- task.c ------------------------------------------------------------- */

/* Calls fn(t, userdata) when t ends (at once if it has). Returns 0,
 * -ENOMEM. green__task_unlink removes a link that has not run yet. */
int green__task_link(green_task_t *t, green_link_fn_t fn, void *userdata);

/* green_kill() without the handle check, for the pool, which tracks
 * members whose handles their spawner gave back. */
int green__task_kill(green_task_t *t);

/* green__task_check() for every task, plus the timeout: 0, -EINVAL,
 * -EPERM. */
int green__task_check_all(green_task_t *const *tasks, size_t n,
                          double timeout);

/* Structured cleanup: kills every task in tasks[0..n) that has not ended
 * and waits for all of them, even if the caller itself is being cancelled
 * or is inside an expired timeout scope (the wait is shielded). Stops
 * early only on -EDEADLK. */
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
void green__task_unlink(green_task_t *t, green_link_fn_t fn, void *userdata);

/* --- wait queues (inline) ------------------------------------------------ */

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
