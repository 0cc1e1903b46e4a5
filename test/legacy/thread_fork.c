/* SPDX-License-Identifier: MIT */
/* fork() from a thread other than main: the child keeps only the forking
 * thread, with that thread's own thread-local storage, errno and
 * pthread_self(); it can create and join threads, fork again and exit
 * with a status the parent reads. Under the preload the forking thread
 * is a green pthread with TLS of its own, which glibc's fork must take
 * for the one thread the child keeps (it crashed in the child's
 * bookkeeping of thread stacks). Also the atfork handlers run, once each
 * in the parent and the child, and a failed fork leaves the caller's
 * errno. Booleans and counts only; differential.sh compares natively and
 * preloaded, in both TLS modes. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "legacy.h"

static __thread int mine;
static int prepared, in_parent, in_child;

static void prepare(void) { prepared++; }
static void parent(void) { in_parent++; }
static void child(void) { in_child++; }

static void *add_one(void *arg)
{
    mine = 100; /* its own, not the forking thread's */
    return (void *)((long)arg + 1);
}

/* What the child checks; its exit status is a bit mask of failures. */
static int child_checks(pthread_t forker, int expect_mine)
{
    int bad = 0;
    bad |= (mine != expect_mine) << 0;          /* its TLS came along */
    bad |= !pthread_equal(pthread_self(), forker) << 1;
    bad |= (in_child != 1) << 2;                /* the child handler ran */
    pthread_t t;
    void *r = NULL;
    if (pthread_create(&t, NULL, add_one, (void *)41L) != 0 ||
        pthread_join(t, &r) != 0 || r != (void *)42L) {
        bad |= 1 << 3;                          /* threads in the child */
    }
    bad |= (mine != expect_mine) << 4;          /* untouched by that one */
    pid_t g = fork();                           /* and a grandchild */
    if (g == 0) {
        _exit(mine == expect_mine ? 7 : 8);
    }
    int st = 0;
    if (g < 0 || waitpid(g, &st, 0) != g || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 7) {
        bad |= 1 << 5;
    }
    errno = 0;
    bad |= (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) << 6;
    return bad;
}

struct job {
    int value;
    int status;   /* the child's exit status, or -1 */
};

static void *forker(void *arg)
{
    struct job *j = arg;
    mine = j->value;
    pid_t p = fork();
    if (p == 0) {
        _exit(child_checks(pthread_self(), j->value));
    }
    int st = 0;
    j->status = p > 0 && waitpid(p, &st, 0) == p && WIFEXITED(st)
                    ? WEXITSTATUS(st)
                    : -1;
    j->value = mine == j->value; /* the parent's TLS untouched */
    return NULL;
}

/* A fork that fails (RLIMIT_NPROC 0 does not stop root, so the test
 * uses a process count it cannot pass only where it applies): the
 * caller's errno is set, its TLS intact. */
static void *failing_forker(void *arg)
{
    (void)arg;
    mine = 5;
    errno = 0;
    int e = 0;
    struct rlimit old, none = {0, 0};
    getrlimit(RLIMIT_NPROC, &old);
    int applies = geteuid() != 0 && setrlimit(RLIMIT_NPROC, &none) == 0;
    if (applies) {
        pid_t p = fork();
        e = errno;
        if (p == 0) {
            _exit(0);
        }
        if (p > 0) {
            waitpid(p, NULL, 0);
        }
        setrlimit(RLIMIT_NPROC, &old);
        return (void *)(long)(p < 0 && e == EAGAIN && mine == 5);
    }
    return (void *)1L; /* as root: nothing to check */
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    pthread_atfork(prepare, parent, child);
    struct job jobs[3] = {{11, -1}, {22, -1}, {33, -1}};
    pthread_t t[3];
    for (int i = 0; i < 3; i++) {
        LEGACY_CHECK(pthread_create(&t[i], NULL, forker, &jobs[i]) == 0);
    }
    int ok = 0;
    for (int i = 0; i < 3; i++) {
        LEGACY_CHECK(pthread_join(t[i], NULL) == 0);
        printf("thread %d: child's checks failed mask %d, parent's TLS "
               "kept %d\n", i, jobs[i].status, jobs[i].value);
        ok += jobs[i].status == 0 && jobs[i].value == 1;
    }
    printf("atfork handlers in the parent: prepare %d, parent %d, child %d\n",
           prepared, in_parent, in_child);
    pthread_t f;
    void *r = NULL;
    LEGACY_CHECK(pthread_create(&f, NULL, failing_forker, NULL) == 0);
    LEGACY_CHECK(pthread_join(f, &r) == 0);
    printf("failed fork keeps errno and TLS: %d\n", r == (void *)1L);
    /* And main forks after all that. */
    pid_t p = fork();
    if (p == 0) {
        _exit(mine == 0 && in_child == 1 ? 0 : 1);
    }
    int st = 0;
    printf("main's fork: %d\n", p > 0 && waitpid(p, &st, 0) == p &&
                                    WIFEXITED(st) && WEXITSTATUS(st) == 0);
    LEGACY_CHECK(ok == 3);
    return 0;
}
