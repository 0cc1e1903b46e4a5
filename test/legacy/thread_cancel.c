/* SPDX-License-Identifier: MIT */
/* Cancellation of threads, one line of outcome per case; differential.sh
 * requires the same bytes natively and under the preload. A ticker
 * thread runs throughout and each case says whether it went on ticking
 * while the cancelled thread waited.
 *
 *   points   a thread blocked in sleep, usleep, nanosleep,
 *            clock_nanosleep, read on a pipe, recv, accept, poll, select,
 *            epoll_wait, sem_wait, sem_timedwait, pause, sigwait, waitpid
 *            is cancelled: its wait ends, its cleanup handler runs (once,
 *            with its argument), join gives PTHREAD_CANCELED, and the
 *            fd or semaphore is as before (a byte written later is read,
 *            a unit posted later is there)
 *   cond     pthread_cond_wait and timedwait cancelled: the handler runs
 *            with the mutex held (an error-checking mutex says EDEADLK
 *            to its owner) and unlocks it
 *   join     a thread blocked in pthread_join is cancelled; the thread
 *            it joined is still joinable (then cancelled in turn)
 *   pending  a cancel that came while disabled acts at the next point:
 *            not when enabled, not in a point whose call completed, but
 *            at the next sleep; pthread_cancel of oneself acts at
 *            testcancel, and at the entry of fsync, write, poll with
 *            no timeout and usleep(0), which would not have waited;
 *            disable makes a sleep run its course
 *   cleanup  nested handlers run innermost first with their arguments,
 *            a popped one is not run again, key destructors run with
 *            the values set, pthread_exit runs handlers too
 *   async    PTHREAD_CANCEL_ASYNCHRONOUS ends a loop that only yields;
 *            a deferred cancel does not (the loop runs its course)
 *   ends     a detached thread is cancelled (its handler runs); cancel of
 *            a thread that has ended but is not joined returns 0, and
 *            join gives its own value; after the join, 0 too (glibc
 *            2.36); setcancelstate/type reject bad values with EINVAL
 *   main     main itself, blocked in pause, is cancelled by a thread: its
 *            handler runs while the thread runs on, and the process ends
 *            with status 0 once that thread ends (run alone, last)
 */
#include "thread_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_int ticks, stop_ticker;

static void *ticker(void *arg)
{
    while (!atomic_load(&stop_ticker)) {
        atomic_fetch_add(&ticks, 1);
        usleep(1000);
    }
    return arg;
}

static void out(const char *name, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void out(const char *name, const char *fmt, ...)
{
    printf("%-36s ", name);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static sem_t ready;

/* --- points -------------------------------------------------------------- */

enum kind {
    K_SLEEP, K_USLEEP, K_NANOSLEEP, K_CLOCK_NANOSLEEP, K_READ, K_RECV,
    K_ACCEPT, K_POLL, K_SELECT, K_EPOLL, K_SEM, K_SEM_TIMED, K_PAUSE,
    K_SIGWAIT, K_WAITPID
};

struct point {
    const char *name;
    enum kind kind;
    int fd, fd2;            /* what it waits on */
    pid_t child;
    sem_t sem;
    int handled;            /* the handler ran (count) */
    int arg_ok;             /* ...with this record as its argument */
    int returned;           /* the blocking call came back */
};

static void point_handler(void *arg)
{
    struct point *p = arg;
    p->handled++;
    p->arg_ok = p->name != NULL;
}

static void block(struct point *p)
{
    char c;
    struct timespec ts = {10, 0};
    switch (p->kind) {
    case K_SLEEP:
        sleep(10);
        break;
    case K_USLEEP:
        usleep(10 * 1000 * 1000 - 1);
        break;
    case K_NANOSLEEP:
        nanosleep(&ts, NULL);
        break;
    case K_CLOCK_NANOSLEEP:
        clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, NULL);
        break;
    case K_READ:
        read(p->fd, &c, 1);
        break;
    case K_RECV:
        recv(p->fd, &c, 1, 0);
        break;
    case K_ACCEPT:
        accept(p->fd, NULL, NULL);
        break;
    case K_POLL: {
        struct pollfd f = {.fd = p->fd, .events = POLLIN};
        poll(&f, 1, -1);
        break;
    }
    case K_SELECT: {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(p->fd, &r);
        select(p->fd + 1, &r, NULL, NULL, NULL);
        break;
    }
    case K_EPOLL: {
        struct epoll_event e;
        epoll_wait(p->fd2, &e, 1, -1);
        break;
    }
    case K_SEM:
        sem_wait(&p->sem);
        break;
    case K_SEM_TIMED: {
        struct timespec abs = tu_deadline(CLOCK_REALTIME, 10000);
        sem_timedwait(&p->sem, &abs);
        break;
    }
    case K_PAUSE:
        pause();
        break;
    case K_SIGWAIT: {
        sigset_t set;
        int sig;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR2);
        sigwait(&set, &sig);
        break;
    }
    case K_WAITPID:
        waitpid(p->child, NULL, 0);
        break;
    }
    p->returned = 1;
}

static void *point_thread(void *arg)
{
    struct point *p = arg;
    pthread_cleanup_push(point_handler, p);
    sem_post(&ready);
    block(p);
    pthread_cleanup_pop(0);
    return NULL;
}

static int listener(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    LEGACY_CHECK(s >= 0);
    LEGACY_CHECK(bind(s, (struct sockaddr *)&a, sizeof(a)) == 0);
    LEGACY_CHECK(listen(s, 4) == 0);
    return s;
}

static void on_usr1(int sig)
{
    (void)sig;
}

static void points(void)
{
    static const struct {
        const char *name;
        enum kind kind;
    } cases[] = {
        {"sleep", K_SLEEP},
        {"usleep", K_USLEEP},
        {"nanosleep", K_NANOSLEEP},
        {"clock_nanosleep", K_CLOCK_NANOSLEEP},
        {"read on a pipe", K_READ},
        {"recv on a socket pair", K_RECV},
        {"accept", K_ACCEPT},
        {"poll", K_POLL},
        {"select", K_SELECT},
        {"epoll_wait", K_EPOLL},
        {"sem_wait", K_SEM},
        {"sem_timedwait", K_SEM_TIMED},
        {"pause", K_PAUSE},
        {"sigwait", K_SIGWAIT},
        {"waitpid", K_WAITPID},
    };
    signal(SIGUSR1, on_usr1); /* pause needs a handled signal to exist */
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct point p = {.name = cases[i].name, .kind = cases[i].kind,
                          .fd = -1, .fd2 = -1, .child = -1};
        int fds[2] = {-1, -1};
        LEGACY_CHECK(sem_init(&p.sem, 0, 0) == 0);
        switch (p.kind) {
        case K_READ:
        case K_POLL:
        case K_SELECT:
        case K_EPOLL:
            LEGACY_CHECK(pipe(fds) == 0);
            p.fd = fds[0];
            if (p.kind == K_EPOLL) {
                struct epoll_event e = {.events = EPOLLIN};
                p.fd2 = epoll_create1(0);
                LEGACY_CHECK(epoll_ctl(p.fd2, EPOLL_CTL_ADD, p.fd, &e) == 0);
            }
            break;
        case K_RECV:
            LEGACY_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
            p.fd = fds[0];
            break;
        case K_ACCEPT:
            p.fd = listener();
            break;
        case K_WAITPID:
            p.child = fork();
            LEGACY_CHECK(p.child >= 0);
            if (p.child == 0) {
                pause();
                _exit(0);
            }
            break;
        default:
            break;
        }
        sigset_t usr2, old;
        sigemptyset(&usr2);
        sigaddset(&usr2, SIGUSR2);
        pthread_sigmask(SIG_BLOCK, &usr2, &old);
        pthread_t t;
        LEGACY_CHECK(pthread_create(&t, NULL, point_thread, &p) == 0);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        LEGACY_CHECK(sem_wait(&ready) == 0);
        int before = atomic_load(&ticks);
        tu_nap(30);
        bool ran = atomic_load(&ticks) > before; /* while it waited */
        int rc = pthread_cancel(t);
        void *res = NULL;
        LEGACY_CHECK(pthread_join(t, &res) == 0);
        /* What it waited on is as before. */
        bool intact = true;
        char c = 'x';
        if (fds[1] >= 0) {
            LEGACY_CHECK(write(fds[1], "y", 1) == 1);
            intact = read(fds[0], &c, 1) == 1 && c == 'y';
        } else if (p.kind == K_SEM || p.kind == K_SEM_TIMED) {
            LEGACY_CHECK(sem_post(&p.sem) == 0);
            intact = sem_trywait(&p.sem) == 0;
        } else if (p.kind == K_WAITPID) {
            kill(p.child, SIGKILL);
            int st;
            intact = waitpid(p.child, &st, 0) == p.child && WIFSIGNALED(st);
        } else if (p.kind == K_ACCEPT) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a;
            socklen_t len = sizeof(a);
            getsockname(p.fd, (struct sockaddr *)&a, &len);
            intact = connect(s, (struct sockaddr *)&a, len) == 0;
            int k = accept(p.fd, NULL, NULL);
            intact = intact && k >= 0;
            close(k);
            close(s);
        }
        out(p.name, "cancel %d, canceled %d, handler %d arg %d, returned %d, "
            "others ran %d, intact %d", rc, res == PTHREAD_CANCELED,
            p.handled, p.arg_ok, p.returned, ran, intact);
        for (int k = 0; k < 2; k++) {
            if (fds[k] >= 0) {
                close(fds[k]);
            }
        }
        if (p.kind == K_ACCEPT) {
            close(p.fd);
        }
        if (p.fd2 >= 0) {
            close(p.fd2);
        }
        sem_destroy(&p.sem);
    }
    signal(SIGUSR1, SIG_DFL);
}

/* --- cond ---------------------------------------------------------------- */

static pthread_mutex_t cm;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int cond_held, cond_handled;

static void cond_handler(void *arg)
{
    (void)arg;
    cond_handled++;
    cond_held = pthread_mutex_lock(&cm) == EDEADLK;
    pthread_mutex_unlock(&cm);
}

static void *cond_thread(void *arg)
{
    long timed = (long)arg;
    pthread_mutex_lock(&cm);
    pthread_cleanup_push(cond_handler, NULL);
    sem_post(&ready);
    for (;;) { /* nobody signals */
        if (timed) {
            struct timespec abs = tu_deadline(CLOCK_REALTIME, 10000);
            pthread_cond_timedwait(&cv, &cm, &abs);
        } else {
            pthread_cond_wait(&cv, &cm);
        }
    }
    pthread_cleanup_pop(1);
    return NULL;
}

static void conds(void)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&cm, &a);
    for (long timed = 0; timed < 2; timed++) {
        cond_held = cond_handled = 0;
        pthread_t t;
        LEGACY_CHECK(pthread_create(&t, NULL, cond_thread, (void *)timed) ==
                     0);
        LEGACY_CHECK(sem_wait(&ready) == 0);
        int before = atomic_load(&ticks);
        tu_nap(30);
        int ran = atomic_load(&ticks) > before;
        /* The waiter released the mutex while it waits. */
        int free_while_waiting = pthread_mutex_trylock(&cm) == 0;
        if (free_while_waiting) {
            pthread_mutex_unlock(&cm);
        }
        LEGACY_CHECK(pthread_cancel(t) == 0);
        void *res;
        LEGACY_CHECK(pthread_join(t, &res) == 0);
        int after = pthread_mutex_trylock(&cm) == 0;
        if (after) {
            pthread_mutex_unlock(&cm);
        }
        out(timed ? "pthread_cond_timedwait" : "pthread_cond_wait",
            "canceled %d, handler %d, mutex held in it %d, free while "
            "waiting %d, free after %d, others ran %d",
            res == PTHREAD_CANCELED, cond_handled, cond_held,
            free_while_waiting, after, ran);
    }
    pthread_mutex_destroy(&cm);
}

/* --- join ---------------------------------------------------------------- */

static int join_pipe[2];
static int joiner_handled;

static void *blocked_reader(void *arg)
{
    char c;
    read(join_pipe[0], &c, 1);
    return arg;
}

static void joiner_handler(void *arg)
{
    (void)arg;
    joiner_handled++;
}

static void *joiner(void *arg)
{
    pthread_t *target = arg;
    void *r = NULL;
    pthread_cleanup_push(joiner_handler, NULL);
    sem_post(&ready);
    pthread_join(*target, &r);
    pthread_cleanup_pop(0);
    return (void *)1;
}

static void joins(void)
{
    LEGACY_CHECK(pipe(join_pipe) == 0);
    pthread_t b, a;
    LEGACY_CHECK(pthread_create(&b, NULL, blocked_reader, NULL) == 0);
    LEGACY_CHECK(pthread_create(&a, NULL, joiner, &b) == 0);
    LEGACY_CHECK(sem_wait(&ready) == 0);
    int before = atomic_load(&ticks);
    tu_nap(30);
    int ran = atomic_load(&ticks) > before;
    LEGACY_CHECK(pthread_cancel(a) == 0);
    void *ra, *rb;
    LEGACY_CHECK(pthread_join(a, &ra) == 0);
    out("pthread_join cancelled", "canceled %d, handler %d, others ran %d",
        ra == PTHREAD_CANCELED, joiner_handled, ran);
    /* b was not joined: it can be joined still. */
    LEGACY_CHECK(pthread_cancel(b) == 0);
    int jr = pthread_join(b, &rb);
    out("its target joined after", "join %d, canceled %d", jr,
        rb == PTHREAD_CANCELED);
    close(join_pipe[0]);
    close(join_pipe[1]);
}

/* --- pending ------------------------------------------------------------- */

static sem_t go;
static int steps;

static void *pending_thread(void *arg)
{
    (void)arg;
    int old = -1;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    sem_post(&ready);
    sem_wait(&go); /* a point, but disabled: the cancel comes meanwhile */
    steps = 1;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old); /* not a point */
    steps = 2;
    char c;
    int p[2];
    pipe(p);
    write(p[1], "z", 1); /* completes: the cancel acts at its entry */
    steps = 3;
    read(p[0], &c, 1);
    steps = 4;
    close(p[0]);
    close(p[1]);
    return NULL;
}

static int self_steps;

static void *self_thread(void *arg)
{
    (void)arg;
    pthread_cancel(pthread_self()); /* deferred: nothing yet */
    self_steps = 1;
    pthread_testcancel();
    self_steps = 2;
    return NULL;
}

/* A cancel of oneself is pending at the entry of a call that would not
 * block: it acts there all the same. */
static int entry_fd = -1, entry_reached;

static void *entry_thread(void *arg)
{
    long which = (long)arg;
    char c = 'e';
    struct pollfd f = {.fd = entry_fd, .events = POLLOUT};
    pthread_cancel(pthread_self());
    switch (which) {
    case 0:
        fsync(entry_fd);
        break;
    case 1:
        write(entry_fd, &c, 1);
        break;
    case 2:
        poll(&f, 1, 0);
        break;
    default:
        usleep(0);
        break;
    }
    entry_reached = 1;
    return NULL;
}

static int disabled_slept, disabled_old, disabled_steps;

static void *disabled_thread(void *arg)
{
    (void)arg;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    sem_post(&ready);
    disabled_slept = usleep(100 * 1000) == 0; /* runs its course */
    disabled_steps = 1;
    pthread_testcancel();
    disabled_steps = 2;
    pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &disabled_old);
    disabled_steps = 3;
    pthread_testcancel();
    disabled_steps = 4;
    return NULL;
}

static void pendings(void)
{
    LEGACY_CHECK(sem_init(&go, 0, 0) == 0);
    pthread_t t;
    void *r;
    LEGACY_CHECK(pthread_create(&t, NULL, pending_thread, NULL) == 0);
    LEGACY_CHECK(sem_wait(&ready) == 0);
    tu_nap(20);
    LEGACY_CHECK(pthread_cancel(t) == 0);
    LEGACY_CHECK(sem_post(&go) == 0);
    LEGACY_CHECK(pthread_join(t, &r) == 0);
    out("pending while disabled", "canceled %d, got to step %d (2: at the "
        "write's entry)", r == PTHREAD_CANCELED, steps);

    LEGACY_CHECK(pthread_create(&t, NULL, self_thread, NULL) == 0);
    LEGACY_CHECK(pthread_join(t, &r) == 0);
    out("cancel of oneself", "canceled %d, got to step %d",
        r == PTHREAD_CANCELED, self_steps);

    static const char *const entry_names[] = {
        "pending at fsync's entry", "pending at write's entry",
        "pending at poll's entry (timeout 0)", "pending at usleep(0)"};
    char path[] = "/tmp/thread_cancel.XXXXXX";
    entry_fd = mkstemp(path);
    LEGACY_CHECK(entry_fd >= 0);
    unlink(path);
    for (long i = 0; i < 4; i++) {
        entry_reached = 0;
        LEGACY_CHECK(pthread_create(&t, NULL, entry_thread, (void *)i) == 0);
        LEGACY_CHECK(pthread_join(t, &r) == 0);
        out(entry_names[i], "canceled %d, went past it %d",
            r == PTHREAD_CANCELED, entry_reached);
    }
    out("the cancelled write wrote nothing", "%d",
        lseek(entry_fd, 0, SEEK_END) == 0);
    close(entry_fd);

    LEGACY_CHECK(pthread_create(&t, NULL, disabled_thread, NULL) == 0);
    LEGACY_CHECK(sem_wait(&ready) == 0);
    tu_nap(20);
    LEGACY_CHECK(pthread_cancel(t) == 0);
    LEGACY_CHECK(pthread_join(t, &r) == 0);
    out("disabled during a sleep", "canceled %d, slept through %d, old "
        "state disabled %d, got to step %d", r == PTHREAD_CANCELED,
        disabled_slept, disabled_old == PTHREAD_CANCEL_DISABLE,
        disabled_steps);
    sem_destroy(&go);
}

/* --- cleanup ------------------------------------------------------------- */

static char order[32];
static size_t norder;

static void note(void *arg)
{
    if (norder + 1 < sizeof(order)) {
        order[norder++] = *(const char *)arg;
        order[norder] = '\0';
    }
}

static pthread_key_t key;
static int key_dtor_runs, key_dtor_value_ok;
static int key_value = 42;

static void key_dtor(void *v)
{
    key_dtor_runs++;
    key_dtor_value_ok = v == &key_value;
}

static void inner(void)
{
    static const char three = '3';
    pthread_cleanup_push(note, (void *)&three);
    sleep(10);
    pthread_cleanup_pop(0);
}

static void *cleanup_thread(void *arg)
{
    static const char one = '1', two = '2', four = '4';
    long exiting = (long)arg;
    pthread_setspecific(key, &key_value);
    pthread_cleanup_push(note, (void *)&one);
    pthread_cleanup_push(note, (void *)&two);
    pthread_cleanup_pop(1); /* runs 2 now, and never again */
    pthread_cleanup_push(note, (void *)&four);
    if (exiting) {
        pthread_exit((void *)7);
    }
    inner();
    pthread_cleanup_pop(0);
    pthread_cleanup_pop(0);
    return NULL;
}

static void cleanups(void)
{
    LEGACY_CHECK(pthread_key_create(&key, key_dtor) == 0);
    for (long exiting = 0; exiting < 2; exiting++) {
        norder = 0;
        order[0] = '\0';
        key_dtor_runs = key_dtor_value_ok = 0;
        pthread_t t;
        void *r;
        LEGACY_CHECK(pthread_create(&t, NULL, cleanup_thread,
                                    (void *)exiting) == 0);
        tu_nap(30);
        if (!exiting) {
            LEGACY_CHECK(pthread_cancel(t) == 0);
        }
        LEGACY_CHECK(pthread_join(t, &r) == 0);
        out(exiting ? "handlers at pthread_exit" : "handlers at a cancel",
            "order %s, value %s, key destructor %d with its value %d", order,
            r == PTHREAD_CANCELED ? "PTHREAD_CANCELED"
                                  : r == (void *)7 ? "7" : "other",
            key_dtor_runs, key_dtor_value_ok);
    }
    pthread_key_delete(key);
}

/* --- async --------------------------------------------------------------- */

static atomic_long spins;
static atomic_int spin_go;

static void *spinner(void *arg)
{
    long async = (long)arg;
    pthread_setcanceltype(async ? PTHREAD_CANCEL_ASYNCHRONOUS
                                : PTHREAD_CANCEL_DEFERRED, NULL);
    sem_post(&ready);
    /* No cancellation point in here: it only yields. An asynchronous
     * cancel is the only way out of the first loop (but for a count far
     * past the test's time); the deferred one's ends when told. */
    if (async) {
        for (long i = 0; i < 100000000L; i++) {
            sched_yield();
        }
    } else {
        while (!atomic_load(&spin_go)) {
            sched_yield();
        }
        atomic_store(&spins, 1); /* the loop ran its course */
        pthread_testcancel();
    }
    return (void *)3;
}

static void asyncs(void)
{
    for (long async = 0; async < 2; async++) {
        atomic_store(&spins, 0);
        atomic_store(&spin_go, 0);
        pthread_t t;
        void *r;
        LEGACY_CHECK(pthread_create(&t, NULL, spinner, (void *)async) == 0);
        LEGACY_CHECK(sem_wait(&ready) == 0);
        tu_nap(20);
        LEGACY_CHECK(pthread_cancel(t) == 0);
        if (!async) {
            tu_nap(20);
            atomic_store(&spin_go, 1);
        }
        LEGACY_CHECK(pthread_join(t, &r) == 0);
        out(async ? "asynchronous, a loop that yields"
                  : "deferred, a loop that yields",
            "canceled %d, loop ran its course %d", r == PTHREAD_CANCELED,
            atomic_load(&spins) == 1);
    }
}

/* --- ends ---------------------------------------------------------------- */

static sem_t detached_done;

static void detached_handler(void *arg)
{
    (void)arg;
    sem_post(&detached_done);
}

static void *detached_thread(void *arg)
{
    pthread_cleanup_push(detached_handler, NULL);
    sem_post(&ready);
    sleep(10);
    pthread_cleanup_pop(0);
    return arg;
}

static atomic_int quick_done;

static void *quick(void *arg)
{
    atomic_store(&quick_done, 1);
    return arg;
}

static void ends(void)
{
    LEGACY_CHECK(sem_init(&detached_done, 0, 0) == 0);
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, &a, detached_thread, NULL) == 0);
    pthread_attr_destroy(&a);
    LEGACY_CHECK(sem_wait(&ready) == 0);
    tu_nap(20);
    int rc = pthread_cancel(t);
    struct timespec abs = tu_deadline(CLOCK_REALTIME, 5000);
    out("detached thread", "cancel %d, handler ran %d", rc,
        sem_timedwait(&detached_done, &abs) == 0);
    sem_destroy(&detached_done);

    LEGACY_CHECK(pthread_create(&t, NULL, quick, (void *)5) == 0);
    while (!atomic_load(&quick_done)) {
        tu_nap(5);
    }
    tu_nap(20);
    rc = pthread_cancel(t);
    void *r;
    LEGACY_CHECK(pthread_join(t, &r) == 0);
    out("ended, not joined", "cancel %d, join gives its value %d", rc,
        r == (void *)5);
    /* glibc 2.36: 0, as for any thread that has exited (POSIX leaves
     * the use of a joined thread's id undefined). */
    rc = pthread_cancel(t);
    out("ended and joined", "cancel %s", rc == 0 ? "0" : rc == ESRCH ? "ESRCH"
                                                                 : "other");

    int old;
    out("bad arguments", "setcancelstate %s, setcanceltype %s",
        pthread_setcancelstate(7, &old) == EINVAL ? "EINVAL" : "other",
        pthread_setcanceltype(7, &old) == EINVAL ? "EINVAL" : "other");
}

/* --- main ---------------------------------------------------------------- */

static pthread_t main_thread;
static atomic_int main_handled;

static void main_handler(void *arg)
{
    (void)arg;
    atomic_store(&main_handled, 1);
}

static void *main_canceller(void *arg)
{
    tu_nap(30);
    int rc = pthread_cancel(main_thread);
    for (int i = 0; i < 200 && !atomic_load(&main_handled); i++) {
        tu_nap(5);
    }
    out("main cancelled by a thread", "cancel %d, main's handler ran while "
        "this thread runs %d", rc, atomic_load(&main_handled));
    return arg;
}

static void mains(void)
{
    main_thread = pthread_self();
    signal(SIGUSR1, on_usr1);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, main_canceller, NULL) == 0);
    pthread_cleanup_push(main_handler, NULL);
    for (;;) {
        pause();
    }
    pthread_cleanup_pop(0);
}

static const struct {
    const char *name;
    void (*run)(void);
    bool alone; /* after the ticker stopped, last */
} groups[] = {
    {"points", points, false}, {"cond", conds, false},
    {"join", joins, false},    {"pending", pendings, false},
    {"cleanup", cleanups, false}, {"async", asyncs, false},
    {"ends", ends, false},     {"main", mains, true},
};

/* No argument: every group; "list": their names; a name: that group. */
int main(int argc, char **argv)
{
    size_t n = sizeof(groups) / sizeof(groups[0]);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    LEGACY_CHECK(sem_init(&ready, 0, 0) == 0);
    pthread_t tick;
    LEGACY_CHECK(pthread_create(&tick, NULL, ticker, NULL) == 0);
    for (size_t i = 0; i < n; i++) {
        if (!groups[i].alone &&
            (argc < 2 || strcmp(argv[1], groups[i].name) == 0)) {
            groups[i].run();
        }
    }
    atomic_store(&stop_ticker, 1);
    LEGACY_CHECK(pthread_join(tick, NULL) == 0);
    LEGACY_CHECK_ONE_THREAD();
    for (size_t i = 0; i < n; i++) {
        if (groups[i].alone &&
            (argc < 2 || strcmp(argv[1], groups[i].name) == 0)) {
            groups[i].run();
        }
    }
    return 0;
}
