/* SPDX-License-Identifier: MIT */
/* The dump signal's program (test/legacy/dump.sh sends the signal and
 * reads the dump): an ordinary threaded program, built without libgreen,
 * whose named threads wait in read(2), pthread_cond_wait, nanosleep,
 * waitpid, a raw futex wait through syscall(SYS_futex) and a mutex main
 * holds, while a ticker thread counts 10 ms sleeps.
 *
 * It prints "ready" once every thread is in its wait, then waits for a
 * line on stdin (the script sends it after the dumps), ends every wait
 * and prints what each saw as booleans: the waits ended as they would
 * have, and the ticker ran on while the dumps were written. -rdynamic
 * (test/legacy/meson.build) lets dladdr name the thread functions in the
 * dump's backtraces. Exit 0 when every check passed. */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "legacy.h"

static atomic_int waiting;       /* threads about to wait */
static int data_pipe[2];         /* the reader's */
static int child_pipe[2];        /* the child's: it ends at EOF */
static pid_t child;

/* Exported (not static, -rdynamic): the dump names them. */
pthread_mutex_t dump_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t dump_cond = PTHREAD_COND_INITIALIZER;
pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER; /* main's */
uint32_t futex_word;
static int cond_flag;
static atomic_int stop_ticking;
static atomic_long ticks;

static int read_got, cond_woke, futex_woke, child_ok, locked;
static int slept = -2; /* nanosleep's result once it returns */

static void name_me(const char *name)
{
    LEGACY_CHECK(pthread_setname_np(pthread_self(), name) == 0);
    atomic_fetch_add(&waiting, 1);
}

void *reader_main(void *arg);
void *condwait_main(void *arg);
void *sleeper_main(void *arg);
void *waiter_main(void *arg);
void *futex_main(void *arg);
void *ticker_main(void *arg);
void *locker_main(void *arg);

void *reader_main(void *arg)
{
    char c;
    name_me("reader");
    read_got = (int)read(data_pipe[0], &c, 1);
    return arg;
}

void *condwait_main(void *arg)
{
    pthread_mutex_lock(&dump_lock);
    name_me("condwait");
    while (!cond_flag) {
        pthread_cond_wait(&dump_cond, &dump_lock);
    }
    cond_woke = 1;
    pthread_mutex_unlock(&dump_lock);
    return arg;
}

/* A name with a newline and a byte that is not UTF-8: the dump escapes
 * both (the kernel takes any bytes in a thread name, natively). */
void *sleeper_main(void *arg)
{
    name_me("sleep\ner\xff");
    struct timespec ts = {.tv_sec = 60};
    slept = nanosleep(&ts, NULL); /* the process ends before */
    return arg;
}

void *waiter_main(void *arg)
{
    name_me("waiter");
    int status;
    pid_t r = waitpid(child, &status, 0);
    child_ok = r == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    return arg;
}

void *futex_main(void *arg)
{
    name_me("futex");
    while (__atomic_load_n(&futex_word, __ATOMIC_ACQUIRE) == 0) {
        long r = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL,
                         NULL, 0);
        LEGACY_CHECK(r == 0 || errno == EAGAIN || errno == EINTR);
    }
    futex_woke = 1;
    return arg;
}

/* Waits for the mutex main holds until the end. */
void *locker_main(void *arg)
{
    name_me("locker");
    locked = pthread_mutex_lock(&held_lock) == 0;
    pthread_mutex_unlock(&held_lock);
    return arg;
}

void *ticker_main(void *arg)
{
    name_me("ticker");
    while (!atomic_load(&stop_ticking)) {
        struct timespec ts = {.tv_nsec = 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        atomic_fetch_add(&ticks, 1);
    }
    return arg;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    LEGACY_CHECK(pipe(data_pipe) == 0 && pipe(child_pipe) == 0);
    child = fork();
    LEGACY_CHECK(child >= 0);
    if (child == 0) {
        char c;
        close(child_pipe[1]);
        while (read(child_pipe[0], &c, 1) > 0) {
        }
        _exit(0);
    }
    close(child_pipe[0]);

    pthread_mutex_lock(&held_lock);
    void *(*fns[])(void *) = {reader_main, condwait_main, sleeper_main,
                              waiter_main, futex_main, locker_main,
                              ticker_main};
    enum { N = sizeof(fns) / sizeof(fns[0]) };
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        LEGACY_CHECK(pthread_create(&th[i], NULL, fns[i], NULL) == 0);
    }
    while (atomic_load(&waiting) < N) {
        struct timespec ts = {.tv_nsec = 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    struct timespec settle = {.tv_nsec = 100 * 1000 * 1000};
    nanosleep(&settle, NULL); /* into their waits */
    long ticks_ready = atomic_load(&ticks);
    printf("ready\n");

    char line[16];
    LEGACY_CHECK(fgets(line, sizeof(line), stdin) != NULL);
    long ticks_go = atomic_load(&ticks);

    LEGACY_CHECK(write(data_pipe[1], "x", 1) == 1);
    pthread_mutex_lock(&dump_lock);
    cond_flag = 1;
    pthread_cond_signal(&dump_cond);
    pthread_mutex_unlock(&dump_lock);
    pthread_mutex_unlock(&held_lock);
    __atomic_store_n(&futex_word, 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    close(child_pipe[1]);
    atomic_store(&stop_ticking, 1);
    for (int i = 0; i < N; i++) {
        if (fns[i] != sleeper_main) {
            LEGACY_CHECK(pthread_join(th[i], NULL) == 0);
        }
    }
    printf("reader read one byte: %s\n", read_got == 1 ? "yes" : "no");
    printf("condition wait woken: %s\n", cond_woke ? "yes" : "no");
    printf("futex wait woken: %s\n", futex_woke ? "yes" : "no");
    printf("mutex taken after main let it go: %s\n", locked ? "yes" : "no");
    printf("child waited for, exit 0: %s\n", child_ok ? "yes" : "no");
    printf("ticker ran on meanwhile: %s\n",
           ticks_go > ticks_ready ? "yes" : "no");
    printf("sleeper still asleep: %s\n", slept == -2 ? "yes" : "no");
    return 0;
}
