/* SPDX-License-Identifier: MIT */
/* Signals and threads, as the kernel gives them to native threads:
 *   - masks: pthread_sigmask in one thread leaves the others' alone;
 *   - process: kill(getpid()) while main blocks the signal goes to the
 *     thread that does not, whose handler runs as it (pthread_self) and
 *     whose read ends with EINTR (no SA_RESTART), or goes on and gets
 *     the data (SA_RESTART);
 *   - pending: pthread_kill to a thread that blocks the signal leaves it
 *     pending (sigpending), and the handler runs when it unblocks it,
 *     before pthread_sigmask returns;
 *   - sigqueue: pthread_sigqueue's value reaches a handler and a
 *     sigwaitinfo in the target thread;
 *   - nested: a handler raising another signal, and an SA_NODEFER one
 *     raising its own, run nested; an interval timer keeps firing into a
 *     busy handler without harm;
 *   - sleep: sleep(1) interrupted after 0.2 s returns 0 (glibc's whole
 *     seconds left), nanosleep's rem is the rest;
 *   - a ticker thread keeps ticking throughout.
 * Prints counts and booleans, the same natively and under the preload. */
#include "legacy.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int stop_ticker, ticks;
static volatile sig_atomic_t hits, depth, max_depth, nested2, raised;
static volatile int qvalue, qcode;
static pthread_t worker_id;
static volatile int in_worker;
static sem_t ready, go;
static int pfd[2];

static void *ticker(void *arg)
{
    sigset_t all; /* no signal of the test is for it */
    sigfillset(&all);
    LEGACY_CHECK(pthread_sigmask(SIG_BLOCK, &all, NULL) == 0);
    while (!stop_ticker) {
        ticks++;
        usleep(1000);
    }
    return arg;
}

static void on_sig(int sig)
{
    (void)sig;
    hits++;
    in_worker = pthread_equal(pthread_self(), worker_id);
    errno = ENOTTY; /* the interrupted call's errno must survive */
}

static void handle(int sig, void (*h)(int), int flags)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = h;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    LEGACY_CHECK(sigaction(sig, &sa, NULL) == 0);
}

static void block(int how, int sig)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, sig);
    LEGACY_CHECK(pthread_sigmask(how, &s, NULL) == 0);
}

static int blocks(int sig)
{
    sigset_t s;
    LEGACY_CHECK(pthread_sigmask(SIG_BLOCK, NULL, &s) == 0);
    return sigismember(&s, sig);
}

/* --- masks ------------------------------------------------------------------ */

static void *mask_thread(void *arg)
{
    int inherited = blocks(SIGUSR2);
    block(SIG_BLOCK, SIGUSR1);
    sem_post(&ready);
    sem_wait(&go);
    *(int *)arg = inherited * 10 + blocks(SIGUSR1);
    return NULL;
}

static void masks(void)
{
    int r = -1;
    pthread_t t;
    block(SIG_BLOCK, SIGUSR2);
    LEGACY_CHECK(pthread_create(&t, NULL, mask_thread, &r) == 0);
    sem_wait(&ready);
    int main_usr1 = blocks(SIGUSR1);
    block(SIG_UNBLOCK, SIGUSR2);
    sem_post(&go);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    printf("masks: thread inherited %d, thread blocks its own %d, main "
           "blocks the thread's %d\n", r / 10, r % 10, main_usr1);
}

/* --- process-directed ----------------------------------------------------- */

static void *reader(void *arg)
{
    int restart = *(int *)arg;
    char c = 0;
    sem_post(&ready);
    ssize_t n = read(pfd[0], &c, 1);
    int e = errno;
    *(int *)arg = restart ? (n == 1 && c == 'x') : (n == -1 && e == EINTR);
    return NULL;
}

static void process_directed(int restart)
{
    pthread_t t;
    int r = restart;
    hits = 0;
    in_worker = 0;
    handle(SIGUSR1, on_sig, restart ? SA_RESTART : 0);
    LEGACY_CHECK(pipe(pfd) == 0);
    LEGACY_CHECK(pthread_create(&worker_id, NULL, reader, &r) == 0);
    block(SIG_BLOCK, SIGUSR1); /* main blocks it; the reader does not */
    t = worker_id;
    sem_wait(&ready);
    usleep(50000); /* it is in its read */
    LEGACY_CHECK(kill(getpid(), SIGUSR1) == 0);
    usleep(50000);
    int handled_early = hits;
    if (restart) {
        LEGACY_CHECK(write(pfd[1], "x", 1) == 1);
    }
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    block(SIG_UNBLOCK, SIGUSR1);
    close(pfd[0]);
    close(pfd[1]);
    /* (with SA_RESTART the preload's hub runs the handler as the reader:
     * with GREEN_TLS=shared, pthread_self there is main's) */
    printf("process %s: handler ran %d in the reader %d, read %s %d\n",
           restart ? "SA_RESTART" : "no restart", handled_early,
           restart ? 1 : (int)in_worker, restart ? "went on" : "EINTR", r);
}

/* --- pending while blocked ------------------------------------------------ */

static void *pending_thread(void *arg)
{
    block(SIG_BLOCK, SIGUSR2);
    sem_post(&ready);
    sem_wait(&go);
    sigset_t p;
    LEGACY_CHECK(sigpending(&p) == 0);
    int pend = sigismember(&p, SIGUSR2), before = hits;
    block(SIG_UNBLOCK, SIGUSR2);
    int after = hits;
    *(int *)arg = pend * 100 + before * 10 + after;
    return NULL;
}

static void pending(void)
{
    int r = 0;
    hits = 0;
    handle(SIGUSR2, on_sig, 0);
    LEGACY_CHECK(pthread_create(&worker_id, NULL, pending_thread, &r) == 0);
    sem_wait(&ready);
    LEGACY_CHECK(pthread_kill(worker_id, SIGUSR2) == 0);
    usleep(20000);
    int main_hits = hits;
    sem_post(&go);
    LEGACY_CHECK(pthread_join(worker_id, NULL) == 0);
    printf("pending: not run while blocked %d, pending %d, ran at unblock "
           "%d, as the thread %d\n", main_hits == 0 && (r / 10) % 10 == 0,
           r / 100, r % 10, (int)in_worker);
}

/* --- pthread_sigqueue ------------------------------------------------------ */

static void on_queued(int sig, siginfo_t *si, void *uc)
{
    (void)sig, (void)uc;
    qvalue = si->si_value.sival_int;
    qcode = si->si_code;
}

static void *queue_waiter(void *arg)
{
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGRTMIN + 1);
    LEGACY_CHECK(pthread_sigmask(SIG_BLOCK, &s, NULL) == 0);
    sem_post(&ready);
    siginfo_t si;
    int r = sigwaitinfo(&s, &si);
    *(int *)arg = r == SIGRTMIN + 1 && si.si_value.sival_int == 77 &&
                  si.si_code == SI_QUEUE;
    return NULL;
}

static void *idle_thread(void *arg)
{
    sem_post(&ready);
    sem_wait(&go);
    return arg;
}

static void sigqueue_value(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_queued;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    LEGACY_CHECK(sigaction(SIGRTMIN, &sa, NULL) == 0);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, idle_thread, NULL) == 0);
    sem_wait(&ready);
    union sigval v = {.sival_int = 42};
    LEGACY_CHECK(pthread_sigqueue(t, SIGRTMIN, v) == 0);
    usleep(20000);
    sem_post(&go);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    int w = 0;
    LEGACY_CHECK(pthread_create(&t, NULL, queue_waiter, &w) == 0);
    sem_wait(&ready);
    usleep(20000);
    v.sival_int = 77;
    LEGACY_CHECK(pthread_sigqueue(t, SIGRTMIN + 1, v) == 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    printf("sigqueue: handler got 42 %d (SI_QUEUE %d), sigwaitinfo got 77 "
           "%d\n", qvalue == 42, qcode == SI_QUEUE, w);
}

/* --- nested handlers ------------------------------------------------------ */

static void on_inner(int sig)
{
    (void)sig;
    nested2 += depth > 0;
}

static void on_outer(int sig)
{
    depth++;
    if (depth > max_depth) {
        max_depth = depth;
    }
    if (depth == 1 && !raised) {
        raised = 1;
        raise(SIGUSR2); /* another signal, nested */
        raise(sig);     /* its own: nested only with SA_NODEFER */
    }
    depth--;
}

static volatile sig_atomic_t alarms;

static volatile sig_atomic_t adepth, amax;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
    adepth++;
    if (adepth > amax) {
        amax = adepth;
    }
    if (adepth > 1) { /* nested: SA_NODEFER */
        adepth--;
        return;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do { /* busy long enough for the next timer signal to come */
        clock_gettime(CLOCK_MONOTONIC, &t1);
    } while ((t1.tv_sec - t0.tv_sec) * 1000000000L +
             (t1.tv_nsec - t0.tv_nsec) < 3000000L);
    adepth--;
}

static void *nest_thread(void *arg)
{
    handle(SIGUSR1, on_outer, SA_NODEFER);
    raise(SIGUSR1);
    *(int *)arg = max_depth;
    return NULL;
}

static void nested(void)
{
    handle(SIGUSR2, on_inner, 0);
    depth = max_depth = nested2 = raised = 0;
    handle(SIGUSR1, on_outer, 0);
    raise(SIGUSR1);
    int plain = max_depth;
    depth = max_depth = raised = 0;
    int nodefer = 0;
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, NULL, nest_thread, &nodefer) == 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    /* an interval timer firing into a busy handler, with SA_NODEFER */
    handle(SIGALRM, on_alarm, SA_NODEFER | SA_RESTART);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    LEGACY_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    while (alarms < 20) {
        usleep(1000);
    }
    memset(&it, 0, sizeof(it));
    LEGACY_CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0);
    usleep(10000);
    printf("nested: other signal in a handler %d, own signal deferred "
           "(depth %d), SA_NODEFER nests (depth %d), timer into a busy "
           "handler nested %d\n", nested2 >= 1, plain, nodefer, amax >= 2);
}

/* --- sleep's remainder -------------------------------------------------- */

static void *poker(void *arg)
{
    usleep(200000);
    pthread_kill(*(pthread_t *)arg, SIGUSR1);
    return NULL;
}

static void sleeps(void)
{
    handle(SIGUSR1, on_sig, 0);
    pthread_t me = pthread_self(), t;
    LEGACY_CHECK(pthread_create(&t, NULL, poker, &me) == 0);
    unsigned left = sleep(1);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    LEGACY_CHECK(pthread_create(&t, NULL, poker, &me) == 0);
    struct timespec req = {1, 0}, rem = {0, 0};
    int r = nanosleep(&req, &rem);
    int e = errno;
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    int rem_ok = rem.tv_sec == 0 && rem.tv_nsec > 500000000L;
    LEGACY_CHECK(pthread_create(&t, NULL, poker, &me) == 0);
    unsigned left3 = sleep(3);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    printf("sleep: sleep(1) left %u, sleep(3) left %u, nanosleep EINTR %d "
           "rem in (0.5 s, 1 s) %d\n", left, left3, r == -1 && e == EINTR,
           rem_ok);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 1; /* one group: differential.sh runs it whole */
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    LEGACY_CHECK(sem_init(&ready, 0, 0) == 0);
    LEGACY_CHECK(sem_init(&go, 0, 0) == 0);
    pthread_t tk;
    LEGACY_CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0);
    masks();
    process_directed(0);
    process_directed(1);
    pending();
    sigqueue_value();
    nested();
    sleeps();
    int before = ticks;
    usleep(20000);
    int ticked = ticks > before;
    stop_ticker = 1;
    LEGACY_CHECK(pthread_join(tk, NULL) == 0);
    printf("ticker ran: %d\n", ticked);
    LEGACY_CHECK_ONE_THREAD();
    return 0;
}
