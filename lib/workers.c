/* SPDX-License-Identifier: MIT */
/* The runtime's own OS threads (see workers.h): the helper every one of
 * them is started with, and the worker pool.
 *
 * The pool. One per process: a FIFO of jobs under one lock (a real
 * pthread mutex: workers are native threads), worked by at most
 * GREEN_THREADPOOL_SIZE threads (libuv's default of 4) for ordinary jobs.
 * A thread is made when a job comes, none is idle and fewer than the
 * size work on ordinary jobs; it ends after 5 s without work,
 * or at once after a job if more than the size are left over. A full
 * pool queues; nothing is ever dropped. Jobs that may wait for another
 * party for as long as that takes (GREEN__JOB_WAITS: a file lock, a
 * FIFO's other end, a child) get an idle thread or a new one, beyond the
 * size: queued behind ordinary work, or behind each other, such a job
 * could wait for work that waits for it (four lock waiters in a pool of
 * four, and the unlocker's read behind them), which natively, one OS
 * thread each, never happens. So an OS thread stays blocked in each
 * such wait, as it would natively.
 *
 * The caller parks on the job's state word in the parking lot, checked
 * under the bucket's lock (state != DONE); the worker sets DONE and
 * unparks that word from its own thread, which the parking lot delivers
 * through the caller's hub inbox (lib/remote.c). A caller that gives up
 * (green_threadpool_run's timeout, a kill) takes a queued job out, so it
 * never runs, or marks a running one abandoned, and its worker frees it.
 *
 * fork: the child has no workers; an atfork handler takes the lock
 * around fork and gives the child an empty pool. */
#include "workers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <linux/futex.h>

#include "config.h"
#include "green/threadpool.h"
#include "internal.h"
#include "monitor.h"
#include "parking.h"
#include "rawsys.h"
#include "real.h"
#include "scheduler.h"

int green__own_threads;

/* Set on the runtime's own threads: the count of others leaves them out
 * once, not twice. */
static __thread bool own_caller;

struct start {
    void *(*fn)(void *);
    void *arg;
    char name[16];
    int named;                    /* 1 once the thread has its name */
    bool counted;                 /* in green__own_threads */
};

static void *os_thread_main(void *p)
{
    struct start s = *(struct start *)p;
    GREEN_REAL(pthread_setname_np)(GREEN_REAL(pthread_self)(), s.name);
    /* Named before its creator goes on, which frees p: a program that
     * counts its own threads by name right after (legacy.h) never sees
     * a nameless runtime thread. */
    __atomic_store_n(&((struct start *)p)->named, 1, __ATOMIC_RELEASE);
    green__syscall(SYS_futex, &((struct start *)p)->named,
                   FUTEX_WAKE_PRIVATE, 1);
    own_caller = s.counted;
    void *r = s.fn(s.arg);
    if (s.counted) {
        __atomic_fetch_sub(&green__own_threads, 1, __ATOMIC_RELAXED);
    }
    return r;
}

static int os_thread(const char *name, void *(*fn)(void *), void *arg,
                     size_t stack_size, bool counted)
{
    struct start *s = malloc(sizeof(*s));
    if (s == NULL) {
        return -ENOMEM;
    }
    s->fn = fn;
    s->arg = arg;
    s->named = 0;
    s->counted = counted;
    strncpy(s->name, name, sizeof(s->name) - 1);
    s->name[sizeof(s->name) - 1] = '\0';
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (stack_size != 0) {
        pthread_attr_setstacksize(&attr, stack_size);
    }
    /* The new thread inherits this mask: every signal blocked, so that a
     * process-directed signal is never delivered to a runtime thread. */
    sigset_t all, old;
    sigfillset(&all);
    GREEN_REAL(pthread_sigmask)(SIG_SETMASK, &all, &old);
    __atomic_fetch_add(&green__own_threads, counted, __ATOMIC_RELAXED);
    pthread_t t;
    int r = GREEN_REAL(pthread_create)(&t, &attr, os_thread_main, s);
    GREEN_REAL(pthread_sigmask)(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        __atomic_fetch_sub(&green__own_threads, counted, __ATOMIC_RELAXED);
        free(s);
        return -r;
    }
    while (__atomic_load_n(&s->named, __ATOMIC_ACQUIRE) == 0) {
        green__syscall(SYS_futex, &s->named, FUTEX_WAIT_PRIVATE, 0, NULL);
    }
    free(s);
    return 0;
}

int green__os_thread(const char *name, void *(*fn)(void *), void *arg,
                     size_t stack_size)
{
    return os_thread(name, fn, arg, stack_size, true);
}

int green__os_thread_waking(const char *name, void *(*fn)(void *), void *arg)
{
    return os_thread(name, fn, arg, 0, false);
}

/* The last answer for each kind of caller (a thread of the runtime's own
 * counts itself out, others do not): when it was read, in coarse
 * milliseconds, times two, plus the answer, in one word so that a
 * reader never pairs one answer with another's time. */
static long answers[2] = {-2000, -2000};

bool green__other_os_threads(void)
{
    long now = (long)(green__coarse_now() * 1e3);
    long a = __atomic_load_n(&answers[own_caller], __ATOMIC_RELAXED);
    if (now - (a >> 1) < 5) {
        return (a & 1) != 0;
    }
    return green__other_os_threads_now();
}

bool green__other_os_threads_now(void)
{
    long now = (long)(green__coarse_now() * 1e3);
    /* /proc/self/task links its parent, itself and one entry per thread;
     * the caller is one of them (of the runtime's own, counted in
     * green__own_threads, on a hub of green/hubs.h). */
    struct stat st;
    long r = green__syscall(SYS_newfstatat, AT_FDCWD, "/proc/self/task",
                            &st, 0);
    int others = r == 0 && (long)st.st_nlink - 2 - (own_caller ? 0 : 1) -
                               __atomic_load_n(&green__own_threads,
                                               __ATOMIC_RELAXED) > 0;
    if (r != 0) {
        others = 1; /* no /proc: assume the worst */
    }
    __atomic_store_n(&answers[own_caller], now * 2 + others,
                     __ATOMIC_RELAXED);
    return others != 0;
}

/* --- the pool ------------------------------------------------------------- */

int green__pool_idle_ms = 5000;

enum { QUEUED = 0, RUNNING, DONE };

static struct {
    pthread_mutex_t lock;
    pthread_cond_t work;          /* jobs came (idle workers wait here) */
    struct green__job *head, *tail;           /* ordinary jobs */
    struct green__job *whead, *wtail;         /* GREEN__JOB_WAITS ones */
    int threads;                  /* workers alive */
    int idle;                     /* ...waiting for work */
    int woken;                    /* idle ones signalled and not yet up:
                                     each is some queued job's already */
    int waiting;                  /* ...running a GREEN__JOB_WAITS job */
    int size;                     /* GREEN_THREADPOOL_SIZE; 0 unread */
} pool = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
};

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void lock_pool(void)
{
    GREEN_REAL(pthread_mutex_lock)(&pool.lock);
}

static void unlock_pool(void)
{
    GREEN_REAL(pthread_mutex_unlock)(&pool.lock);
}

static void fork_child(void)
{
    pool.lock = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    pool.work = (pthread_cond_t)PTHREAD_COND_INITIALIZER;
    pool.head = pool.tail = pool.whead = pool.wtail = NULL;
    pool.threads = pool.idle = pool.woken = pool.waiting = 0;
}

static void register_atfork(void)
{
    pthread_atfork(lock_pool, unlock_pool, fork_child);
}

int green_threadpool_size(void)
{
    int n = __atomic_load_n(&pool.size, __ATOMIC_RELAXED);
    if (n == 0) {
        n = (int)green__env_long("GREEN_THREADPOOL_SIZE", 1, 1024, 4,
                                 "a number of threads from 1 to 1024");
        __atomic_store_n(&pool.size, n, __ATOMIC_RELAXED);
    }
    return n;
}

static struct green__job *pop(void)
{
    struct green__job **head = &pool.whead, **tail = &pool.wtail;
    if (*head == NULL) {
        head = &pool.head;
        tail = &pool.tail;
    }
    struct green__job *j = *head;
    if (j != NULL) {
        *head = j->next;
        if (*head == NULL) {
            *tail = NULL;
        }
        j->next = NULL;
    }
    return j;
}

/* Takes j out of its queue if it is still there; under the lock. */
static bool unqueue(struct green__job *j)
{
    bool w = j->flags & GREEN__JOB_WAITS;
    struct green__job **pp = w ? &pool.whead : &pool.head;
    struct green__job *prev = NULL;
    for (struct green__job *q = *pp; q != NULL; prev = q, q = q->next) {
        if (q == j) {
            *(prev != NULL ? &prev->next : pp) = j->next;
            if ((w ? pool.wtail : pool.tail) == j) {
                *(w ? &pool.wtail : &pool.tail) = prev;
            }
            j->next = NULL;
            return true;
        }
    }
    return false;
}

static void *worker(void *arg)
{
    (void)arg;
    lock_pool();
    for (;;) {
        struct green__job *j = pop();
        if (j == NULL) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            long ms = __atomic_load_n(&green__pool_idle_ms, __ATOMIC_RELAXED);
            until.tv_sec += ms / 1000;
            until.tv_nsec += (ms % 1000) * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pool.idle++;
            int r = GREEN_REAL(pthread_cond_timedwait)(&pool.work,
                                                       &pool.lock, &until);
            pool.idle--;
            if (pool.woken > 0) {
                pool.woken--;
            }
            if (r == ETIMEDOUT && pool.head == NULL && pool.whead == NULL) {
                break; /* idle that long: retire */
            }
            continue;
        }
        bool waits = j->flags & GREEN__JOB_WAITS;
        pool.waiting += waits;
        __atomic_store_n(&j->state, RUNNING, __ATOMIC_RELAXED);
        unlock_pool();
        j->run(j);
        lock_pool();
        pool.waiting -= waits;
        bool abandoned = j->abandoned;
        __atomic_store_n(&j->state, DONE, __ATOMIC_RELEASE);
        if (abandoned) {
            if (j->undo != NULL) {
                unlock_pool();
                j->undo(j);
                lock_pool();
            }
            free(j);
        } else {
            /* Only the address is used: the caller may be gone already
             * (it saw DONE), and that is fine. */
            green__unpark(&j->state, 1, ~0u);
        }
        if (pool.threads - pool.waiting > green_threadpool_size() &&
            pool.head == NULL && pool.whead == NULL) {
            break; /* one more than the size needs now */
        }
    }
    pool.threads--;
    unlock_pool();
    return NULL;
}

/* Queues j and makes sure a worker will take it. 0, or -EAGAIN / -ENOMEM
 * (no worker could be made and none is there; j is not queued). */
static int submit(struct green__job *j, unsigned flags)
{
    GREEN_REAL(pthread_once)(&atfork_once, register_atfork);
    int size = green_threadpool_size();
    j->flags = flags;
    j->next = NULL;
    j->abandoned = false;
    __atomic_store_n(&j->state, QUEUED, __ATOMIC_RELAXED);
    bool waits = flags & GREEN__JOB_WAITS;
    lock_pool();
    struct green__job **head = waits ? &pool.whead : &pool.head;
    struct green__job **tail = waits ? &pool.wtail : &pool.tail;
    if (*tail != NULL) {
        (*tail)->next = j;
    } else {
        *head = j;
    }
    *tail = j;
    bool spawn = false;
    if (pool.idle > pool.woken) {
        /* An idle worker no earlier job has claimed: it takes this one.
         * (Counting the signalled ones keeps a job that may wait from
         * being left queued behind workers that are all busy.) */
        GREEN_REAL(pthread_cond_signal)(&pool.work);
        pool.woken++;
    } else if (waits || pool.threads - pool.waiting < size) {
        pool.threads++;
        spawn = true;
    }
    unlock_pool();
    if (!spawn) {
        return 0;
    }
    int r = green__os_thread("green-worker", worker, NULL, 0);
    if (r == 0) {
        return 0;
    }
    lock_pool();
    pool.threads--;
    if (pool.threads > 0 || !unqueue(j)) {
        r = 0; /* another worker will take it (or has) */
    }
    unlock_pool();
    return r;
}

static bool not_done(const void *addr, void *arg)
{
    (void)arg;
    return __atomic_load_n((const int *)addr, __ATOMIC_ACQUIRE) != DONE;
}

/* Waits for j; timeout and kills end the wait unless shielded. 0 once it
 * is done, or the park's error (the job is then queued or running). */
static int await_job(struct green__job *j, double timeout)
{
    double deadline = green__now() + timeout;
    for (;;) {
        double left = deadline - green__now();
        int r = green__park(&j->state, not_done, NULL, ~0u,
                            timeout == GREEN_FOREVER ? GREEN_FOREVER : left,
                            GREEN__INTR_NEVER, true, "a worker thread");
        if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) == DONE) {
            return 0;
        }
        if (r == -ETIMEDOUT || r == -ECANCELED || r == -EPERM ||
            r == -ENOMEM) {
            return r;
        }
    }
}

int green__work(struct green__job *j, unsigned flags)
{
    int err;
    struct green__thread *t = green__may_block(&err);
    if (t == NULL && err != -ECANCELED) {
        return err;
    }
    t = green__thread_peek();
    int r = submit(j, flags);
    if (r != 0) {
        return r;
    }
    struct greenlet *self = t->current;
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    r = await_job(j, GREEN_FOREVER);
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    return r;
}

/* The caller of a job on the heap stops waiting for it: a queued job is
 * taken out and freed (it never runs), a running one is left to its
 * worker, which frees it. Returns true if it was done after all: the
 * caller keeps it. */
static bool give_up(struct green__job *j)
{
    lock_pool();
    int state = __atomic_load_n(&j->state, __ATOMIC_ACQUIRE);
    if (state == DONE) {
        unlock_pool();
        return true;
    }
    if (state == QUEUED && unqueue(j)) {
        unlock_pool();
        free(j);
        return false;
    }
    j->abandoned = true;
    unlock_pool();
    return false;
}

int green__work_intr(struct green__job *j, unsigned flags, int intr)
{
    int err;
    struct green__thread *t = green__may_block(&err);
    if (t == NULL && err != -ECANCELED) {
        return err;
    }
    t = green__thread_peek();
    int r = submit(j, flags);
    if (r != 0) {
        return r;
    }
    struct greenlet *self = t->current;
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    for (;;) {
        r = green__park(&j->state, not_done, NULL, ~0u, GREEN_FOREVER, intr,
                        true, "a worker thread");
        if (__atomic_load_n(&j->state, __ATOMIC_ACQUIRE) == DONE) {
            r = 0;
            break;
        }
        if (r == -EINTR || r == -EPERM || r == -ENOMEM) {
            r = give_up(j) ? 0 : r;
            break;
        }
    }
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
    return r;
}

/* --- green_threadpool_run ---------------------------------------------------- */

struct call {
    void *(*fn)(void *);
};

static void run_call(struct green__job *j)
{
    void *(*fn)(void *) = ((struct call *)(j + 1))->fn;
    j->result = fn(j->arg);
}

int green_threadpool_run(void *(*fn)(void *), void *arg, double timeout,
                         void **result)
{
    if (fn == NULL || green__check_timeout(timeout) != 0) {
        return -EINVAL;
    }
    int err;
    if (green__may_block(&err) == NULL) {
        return err;
    }
    /* On the heap: a caller that gives up leaves it to the worker. */
    struct green__job *j = calloc(1, sizeof(*j) + sizeof(struct call));
    if (j == NULL) {
        return -ENOMEM;
    }
    ((struct call *)(j + 1))->fn = fn;
    j->run = run_call;
    j->arg = arg;
    int r = submit(j, 0);
    if (r != 0) {
        free(j);
        return r;
    }
    r = await_job(j, timeout);
    if (r != 0 && !give_up(j)) {
        return r; /* cancelled while queued, or left running */
    }
    if (result != NULL) {
        *result = j->result;
    }
    free(j);
    return 0;
}

int green__pool_threads(void)
{
    lock_pool();
    int n = pool.threads;
    unlock_pool();
    return n;
}

size_t green__pool_queued(void)
{
    size_t n = 0;
    lock_pool();
    for (struct green__job *j = pool.head; j != NULL; j = j->next) {
        n++;
    }
    for (struct green__job *j = pool.whead; j != NULL; j = j->next) {
        n++;
    }
    unlock_pool();
    return n;
}

/* --- regular files ---------------------------------------------------------- */

struct file_op {
    int fd;
    const struct iovec *iov;
    int n;
    off_t off;
    bool datasync;
};

static void run_read(struct green__job *j)
{
    struct file_op *o = j->arg;
    ssize_t r = preadv2(o->fd, o->iov, o->n, o->off, 0);
    j->ret = r;
    j->err = r < 0 ? errno : 0;
}

/* Whether the calling greenlet may park: it has (or gets) a hub, and is
 * not the hub. */
static bool may_park(void)
{
    struct green__thread *t = green__hub_thread();
    return t != NULL && !(t->current->flags & GREEN__HUB);
}

/* A read made on a worker, whole. */
static ssize_t read_on_worker(int fd, const struct iovec *iov, int n,
                              off_t off)
{
    struct file_op o = {.fd = fd, .iov = iov, .n = n, .off = off};
    struct green__job j = {.run = run_read, .arg = &o};
    int r = green__work(&j, 0);
    if (r != 0) {
        /* No worker: read here, as without the pool. */
        ssize_t k = preadv2(fd, iov, n, off, 0);
        return k < 0 ? -errno : k;
    }
    return j.ret < 0 ? -j.err : j.ret;
}

ssize_t green__file_read(int fd, const struct iovec *iov, int n, off_t off)
{
    ssize_t r = preadv2(fd, iov, n, off, RWF_NOWAIT);
    if (r < 0) {
        int e = errno;
        if (e == EAGAIN && may_park()) {
            return read_on_worker(fd, iov, n, off);
        }
        if (e == EOPNOTSUPP || e == EAGAIN) {
            r = preadv2(fd, iov, n, off, 0); /* it cannot say: inline */
            return r < 0 ? -errno : r;
        }
        return -e;
    }
    size_t want = 0;
    for (int i = 0; i < n; i++) {
        want += iov[i].iov_len;
    }
    if (r == 0 || (size_t)r == want || !may_park()) {
        return r; /* all of it, or the end of the file */
    }
    /* A partial hit: the rest, on a worker, so that a regular file's read
     * returns short only at its end, as it does natively. */
    struct iovec few[16], *rest = few;
    if (n > 16 && (rest = malloc((size_t)n * sizeof(*rest))) == NULL) {
        return r;
    }
    int k = 0;
    size_t skip = (size_t)r;
    for (int i = 0; i < n; i++) {
        if (skip >= iov[i].iov_len) {
            skip -= iov[i].iov_len;
            continue;
        }
        rest[k].iov_base = (char *)iov[i].iov_base + skip;
        rest[k].iov_len = iov[i].iov_len - skip;
        skip = 0;
        k++;
    }
    ssize_t more = read_on_worker(fd, rest, k, off < 0 ? -1 : off + r);
    if (rest != few) {
        free(rest);
    }
    return more > 0 ? r + more : r;
}

static void run_sync(struct green__job *j)
{
    struct file_op *o = j->arg;
    int r = o->datasync ? GREEN_REAL(fdatasync)(o->fd)
                        : GREEN_REAL(fsync)(o->fd);
    j->ret = r;
    j->err = r < 0 ? errno : 0;
}

int green__file_sync(int fd, bool datasync)
{
    struct file_op o = {.fd = fd, .datasync = datasync};
    struct green__job j = {.run = run_sync, .arg = &o};
    if (!may_park() || green__work(&j, 0) != 0) {
        run_sync(&j);
    }
    return j.ret < 0 ? -j.err : 0;
}
