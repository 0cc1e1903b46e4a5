/* SPDX-License-Identifier: MIT */
/* What a green pthread's own TLS costs a switch (issue 10): two pthreads
 * hand the CPU to each other, each touching a __thread counter of its own
 * between hand-offs, N times each. A plain pthread program, built without
 * libgreen; bench/tls_switch.sh runs it under LD_PRELOAD=libgreen.so with
 * GREEN_TLS=private (every switch loads the thread pointer) and
 * GREEN_TLS=shared (one compare), and natively, beside switch.c's
 * greenlet_switch.
 *
 *   tls_switch yield [N]   hand-off by sched_yield (under the preload a
 *                          green yield: the two strictly take turns,
 *                          checked); natively the kernel's, which does not
 *                          alternate two threads on two CPUs: no figure
 *   tls_switch sem [N]     hand-off by a pair of semaphores: each posts
 *                          the other's and waits for its own (natively a
 *                          futex wake and a sleep per hand-off)
 *
 * Prints "tls_switch_MODE VALUE ns" (per hand-off) and exits 1 if the
 * counters or the turns come out wrong. Main's counter stays 0 either
 * way only with TLS of their own; it is not checked. */
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long n = 2000000;
static __thread long counter; /* each thread's own (private TLS) */
static long turns[2];
static volatile int last = -1;
static int alternated = 1;
static sem_t sem[2];
static int use_sem;

static void *body(void *arg)
{
    int me = (int)(long)arg;
    for (long i = 0; i < n; i++) {
        counter++;
        if (use_sem) {
            sem_post(&sem[1 - me]);
            while (sem_wait(&sem[me]) != 0) {
            }
        } else {
            if (last == me) {
                alternated = 0;
            }
            last = me;
            sched_yield();
        }
        turns[me]++;
    }
    if (use_sem) {
        sem_post(&sem[1 - me]); /* the other's last wait */
    }
    return (void *)counter;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "yield";
    use_sem = strcmp(mode, "sem") == 0;
    if (argc > 2) {
        n = atol(argv[2]);
    }
    sem_init(&sem[0], 0, 0);
    sem_init(&sem[1], 0, 0);
    struct timespec a, b;
    pthread_t t[2];
    clock_gettime(CLOCK_MONOTONIC, &a);
    pthread_create(&t[0], NULL, body, (void *)0L);
    pthread_create(&t[1], NULL, body, (void *)1L);
    void *r0, *r1;
    pthread_join(t[0], &r0);
    pthread_join(t[1], &r1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 +
                 (double)(b.tv_nsec - a.tv_nsec)) / (2.0 * (double)n);
    /* Each thread's counter is n with TLS of its own; with shared TLS
     * (GREEN_TLS=shared) the two counted into one. */
    long hi = (long)r0 > (long)r1 ? (long)r0 : (long)r1;
    int own = (long)r0 == n && (long)r1 == n;
    if ((!own && hi != 2 * n) || turns[0] != n || turns[1] != n) {
        fprintf(stderr, "tls_switch: counters wrong\n");
        return 1;
    }
    if (!use_sem && !alternated) {
        /* The kernel's sched_yield does not take turns: no figure. */
        printf("tls_switch_%s - ns (threads did not alternate)\n", mode);
        return 0;
    }
    printf("tls_switch_%s %.1f ns\n", mode, ns);
    return 0;
}
