/* SPDX-License-Identifier: MIT */
/* Waiting for signals in a thread while the others run:
 *   - a dedicated signal thread in sigwait, as Apache's worker MPM and
 *     MariaDB have: every thread blocks the signals, the process is sent
 *     SIGUSR1 three times (each waited for before the next) and then
 *     SIGTERM, which ends the signal thread; a ticker keeps ticking;
 *   - sigwaitinfo gets sigqueue's value; sigtimedwait times out with
 *     EAGAIN, and rejects a bad timeout with EINVAL;
 *   - pause and sigsuspend in a thread end (EINTR) when another thread
 *     sends it a signal with a handler; the handler ran once;
 *   - pthread_kill to a thread blocked in poll ends its poll with EINTR
 *     (Apache's worker MPM wakes its listener so), while main's wait is
 *     not interrupted; to one blocked in read on a pipe with an
 *     SA_RESTART handler, the read goes on and gets the data.
 * Prints counts and booleans, the same natively and under the preload. */
#include "legacy.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int stop_ticker, ticks;
static int usr1_seen, term_seen;
static sem_t got_one;

static void *ticker(void *arg)
{
    while (!stop_ticker) {
        ticks++;
        usleep(1000);
    }
    return arg;
}

static void *signal_thread(void *arg)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0) {
            return NULL;
        }
        if (sig == SIGUSR1) {
            usr1_seen++;
            sem_post(&got_one);
        } else if (sig == SIGTERM) {
            term_seen++;
            return arg;
        }
    }
}

static void dedicated_thread(void)
{
    pthread_t st, tk;
    LEGACY_CHECK(sem_init(&got_one, 0, 0) == 0);
    LEGACY_CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0);
    LEGACY_CHECK(pthread_create(&st, NULL, signal_thread, NULL) == 0);
    usleep(20000);
    int before = ticks;
    for (int i = 0; i < 3; i++) {
        LEGACY_CHECK(kill(getpid(), SIGUSR1) == 0);
        LEGACY_CHECK(sem_wait(&got_one) == 0);
    }
    LEGACY_CHECK(kill(getpid(), SIGTERM) == 0);
    LEGACY_CHECK(pthread_join(st, NULL) == 0);
    usleep(20000);
    int ticked = ticks > before;
    stop_ticker = 1;
    LEGACY_CHECK(pthread_join(tk, NULL) == 0);
    printf("signal thread: SIGUSR1 x%d, SIGTERM x%d, ticker ran: %d\n",
           usr1_seen, term_seen, ticked);
    LEGACY_CHECK_ONE_THREAD();
}

static void timed_and_info(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    struct timespec t = {0, 20 * 1000000L};
    siginfo_t si;
    errno = 0;
    int r = sigtimedwait(&set, &si, &t);
    printf("sigtimedwait with nothing pending: %d %s\n", r,
           errno == EAGAIN ? "EAGAIN" : "other");
    struct timespec bad = {0, 2000000000L};
    errno = 0;
    r = sigtimedwait(&set, &si, &bad);
    printf("sigtimedwait, bad timeout: %d %s\n", r,
           errno == EINVAL ? "EINVAL" : "other");
    union sigval v = {.sival_int = 4242};
    LEGACY_CHECK(sigqueue(getpid(), SIGUSR1, v) == 0);
    r = sigwaitinfo(&set, &si);
    printf("sigwaitinfo: signal %s, value %d, code %s\n",
           r == SIGUSR1 ? "SIGUSR1" : "other", si.si_value.sival_int,
           si.si_code == SI_QUEUE ? "SI_QUEUE" : "other");
}

static volatile sig_atomic_t handled;
static volatile int pauser_ready;

static void on_usr2(int sig)
{
    (void)sig;
    handled++;
}

static void *pauser(void *arg)
{
    long use_suspend = (long)arg;
    sigset_t none;
    sigemptyset(&none);
    pauser_ready = 1;
    errno = 0;
    int r = use_suspend ? sigsuspend(&none) : pause();
    return (void *)(long)(r == -1 && errno == EINTR);
}

static void pause_and_suspend(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2;
    sigemptyset(&sa.sa_mask);
    LEGACY_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
    for (long k = 0; k < 2; k++) {
        handled = 0;
        pauser_ready = 0;
        pthread_t p;
        LEGACY_CHECK(pthread_create(&p, NULL, pauser, (void *)k) == 0);
        while (!pauser_ready) {
            usleep(1000);
        }
        usleep(20000); /* it is in pause / sigsuspend now */
        LEGACY_CHECK(pthread_kill(p, SIGUSR2) == 0);
        void *ok;
        LEGACY_CHECK(pthread_join(p, &ok) == 0);
        printf("%s ended with EINTR: %ld, handler ran %d time(s)\n",
               k ? "sigsuspend" : "pause", (long)ok, (int)handled);
    }
}

static int pipe_fds[2];
static volatile int blocked_ready;

static void *poller(void *arg)
{
    struct pollfd p = {.fd = pipe_fds[0], .events = POLLIN};
    blocked_ready = 1;
    errno = 0;
    int r = poll(&p, 1, 10000);
    return (void *)(long)(r == -1 && errno == EINTR);
}

static void *reader(void *arg)
{
    char c = 0;
    blocked_ready = 1;
    ssize_t n = read(pipe_fds[0], &c, 1);
    return (void *)(long)(n == 1 && c == 'x');
}

static void kill_blocked(void)
{
    LEGACY_CHECK(pipe(pipe_fds) == 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr2;
    sigemptyset(&sa.sa_mask);
    LEGACY_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0); /* no SA_RESTART */
    handled = 0;
    blocked_ready = 0;
    pthread_t p;
    LEGACY_CHECK(pthread_create(&p, NULL, poller, NULL) == 0);
    while (!blocked_ready) {
        usleep(1000);
    }
    usleep(20000);
    LEGACY_CHECK(pthread_kill(p, SIGUSR2) == 0);
    void *ok;
    LEGACY_CHECK(pthread_join(p, &ok) == 0);
    printf("poll in a thread sent a signal: EINTR %ld, handler ran %d\n",
           (long)ok, (int)handled);

    sa.sa_flags = SA_RESTART;
    LEGACY_CHECK(sigaction(SIGUSR2, &sa, NULL) == 0);
    handled = 0;
    blocked_ready = 0;
    LEGACY_CHECK(pthread_create(&p, NULL, reader, NULL) == 0);
    while (!blocked_ready) {
        usleep(1000);
    }
    usleep(20000);
    LEGACY_CHECK(pthread_kill(p, SIGUSR2) == 0);
    usleep(20000);
    LEGACY_CHECK(write(pipe_fds[1], "x", 1) == 1);
    LEGACY_CHECK(pthread_join(p, &ok) == 0);
    printf("read with SA_RESTART in a thread sent a signal: got the data "
           "%ld, handler ran %d\n", (long)ok, (int)handled);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

int main(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigaddset(&set, SIGTERM);
    /* Blocked in main before any thread exists: blocked in every thread. */
    LEGACY_CHECK(pthread_sigmask(SIG_BLOCK, &set, NULL) == 0);
    dedicated_thread();
    timed_and_info();
    pause_and_suspend();
    kill_blocked();
    return 0;
}
