/* SPDX-License-Identifier: MIT */
/* Thread ids: every thread's gettid() is its own (distinct from the
 * others' and from main's, which is the pid), the same through
 * syscall(SYS_gettid), stable for the thread's life; tgkill() and
 * syscall(SYS_tgkill / SYS_tkill) with it reach that thread (its handler
 * sees its own id), and with the id of a thread that has ended, or with
 * another process's tgid, say ESRCH; a lock that records its owner's id
 * tells two threads apart; in a child of fork() made by a thread, the
 * thread's id is the child's pid. Under the preload green pthreads share
 * one OS thread, whose kernel id they all had. Booleans and counts only:
 * differential.sh compares natively and preloaded. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* gettid, tgkill */
#endif
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "legacy.h"

#define N 8

static pid_t tids[N];
static volatile sig_atomic_t got_tid[N];
static sem_t go[N], ready;

static void on_usr1(int sig)
{
    (void)sig;
    pid_t me = gettid();
    for (int i = 0; i < N; i++) {
        if (tids[i] == me) {
            got_tid[i] = me;
        }
    }
}

static void *body(void *arg)
{
    int i = (int)(long)arg;
    tids[i] = gettid();
    int same = syscall(SYS_gettid) == tids[i];
    sem_post(&ready);
    while (sem_wait(&go[i]) != 0) {
    }
    same &= gettid() == tids[i]; /* stable */
    return (void *)(long)same;
}

/* A lock that remembers its owner by thread id, as some programs' own
 * recursive locks do. */
static struct {
    pthread_mutex_t m;
    pid_t owner;
    int depth;
} rlock = {PTHREAD_MUTEX_INITIALIZER, 0, 0};

static int rlock_try(void)
{
    pid_t me = gettid();
    if (__atomic_load_n(&rlock.owner, __ATOMIC_ACQUIRE) == me) {
        rlock.depth++;
        return 1;
    }
    if (pthread_mutex_trylock(&rlock.m) != 0) {
        return 0;
    }
    __atomic_store_n(&rlock.owner, me, __ATOMIC_RELEASE);
    rlock.depth = 1;
    return 1;
}

static sem_t held, tried;

static void *rival(void *arg)
{
    (void)arg;
    while (sem_wait(&held) != 0) {
    }
    long got = rlock_try(); /* must fail: main holds it */
    sem_post(&tried);
    return (void *)got;
}

static void *forker(void *arg)
{
    (void)arg;
    pid_t p = fork();
    if (p == 0) {
        _exit(gettid() == getpid() && syscall(SYS_gettid) == getpid() ? 0 : 1);
    }
    int st = 0;
    return (void *)(long)(p > 0 && waitpid(p, &st, 0) == p &&
                          WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    signal(SIGUSR1, on_usr1);
    sem_init(&ready, 0, 0);
    pthread_t t[N];
    for (int i = 0; i < N; i++) {
        sem_init(&go[i], 0, 0);
        LEGACY_CHECK(pthread_create(&t[i], NULL, body, (void *)(long)i) == 0);
    }
    for (int i = 0; i < N; i++) {
        while (sem_wait(&ready) != 0) {
        }
    }
    pid_t me = gettid();
    int distinct = 1;
    for (int i = 0; i < N; i++) {
        distinct &= tids[i] != me && tids[i] > 0;
        for (int j = 0; j < i; j++) {
            distinct &= tids[i] != tids[j];
        }
    }
    printf("main's id is the pid: %d\n", me == getpid());
    printf("ids distinct: %d\n", distinct);
    /* Signals by id: tgkill to thread 0, syscall tgkill to 1, tkill to 2. */
    int sent = tgkill(getpid(), tids[0], SIGUSR1) == 0;
    sent += syscall(SYS_tgkill, getpid(), tids[1], SIGUSR1) == 0;
    sent += syscall(SYS_tkill, tids[2], SIGUSR1) == 0;
    sent += tgkill(getpid(), tids[3], 0) == 0; /* exists */
    printf("signals sent by id: %d of 4\n", sent);
    errno = 0;
    int other = tgkill(1, tids[4], SIGUSR1) == -1 && errno == ESRCH;
    printf("another process's tgid: ESRCH %d\n", other);
    int same = 0;
    for (int i = 0; i < N; i++) {
        sem_post(&go[i]);
        void *r = NULL;
        LEGACY_CHECK(pthread_join(t[i], &r) == 0);
        same += r == (void *)1L;
    }
    printf("ids stable and as syscall(SYS_gettid): %d of %d\n", same, N);
    int arrived = 0;
    for (int i = 0; i < 3; i++) {
        arrived += got_tid[i] == tids[i];
    }
    printf("handlers ran as their target: %d of 3\n", arrived);
    /* Natively a joined thread's id may still name its exiting task for
     * a moment (the kernel clears the joiner's word before it reaps the
     * task): ask again for a while. */
    for (int i = 0; i < 200 && (tgkill(getpid(), tids[5], 0) == 0 ||
                                syscall(SYS_tkill, tids[6], 0) == 0);
         i++) {
        usleep(1000);
    }
    errno = 0;
    int gone = tgkill(getpid(), tids[5], SIGUSR1) == -1 && errno == ESRCH;
    errno = 0;
    gone &= syscall(SYS_tkill, tids[6], 0) == -1 && errno == ESRCH;
    printf("an ended thread's id: ESRCH %d\n", gone);
    /* The owner-by-id lock. */
    sem_init(&held, 0, 0);
    sem_init(&tried, 0, 0);
    pthread_t r;
    LEGACY_CHECK(pthread_create(&r, NULL, rival, NULL) == 0);
    LEGACY_CHECK(rlock_try() == 1 && rlock_try() == 1); /* recursive */
    sem_post(&held);
    while (sem_wait(&tried) != 0) {
    }
    void *rv = NULL;
    LEGACY_CHECK(pthread_join(r, &rv) == 0);
    printf("owner-by-id lock kept the other thread out: %d\n", rv == NULL);
    pthread_t f;
    void *fv = NULL;
    LEGACY_CHECK(pthread_create(&f, NULL, forker, NULL) == 0);
    LEGACY_CHECK(pthread_join(f, &fv) == 0);
    printf("a thread's child has the child's pid as its id: %d\n",
           fv == (void *)1L);
    return 0;
}
