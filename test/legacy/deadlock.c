/* SPDX-License-Identifier: MIT */
/* For test/legacy/deadlock.sh: plain programs that deadlock while main
 * sleeps on in a loop (a timer always pending), so that only the wait
 * that closes the cycle can tell it (lib/cycle.c), not the hub's report
 * of a thread with nothing left to wake it.
 *
 *   deadlock abba     threads "locker-a" and "locker-b" lock mutex_a and
 *                     mutex_b in opposite orders, each after both hold
 *                     their first: neither gets its second, ever.
 *   deadlock mixed    "holder" locks mutex_a and joins "joinee", which
 *                     locks mutex_a: a cycle of a join and a lock.
 *   deadlock ordered  the same two lockers, both in the same order: no
 *                     cycle; both finish and main joins them.
 *
 * stdout: "holding" once the cycle's threads are about to take their last
 * lock (the script allows a second from there), then "ticks N" lines
 * while main sleeps on; "done" when a run without a cycle ended. Natively
 * the cycles hang, as under the preload (the script kills the program).
 * Built with -rdynamic, so that dladdr names mutex_a and mutex_b. */
#include "legacy.h"

#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>

pthread_mutex_t mutex_a = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t mutex_b = PTHREAD_MUTEX_INITIALIZER;

static int held;                  /* first locks taken */
static int nlockers = 2;
static pthread_t joinee;

static void wait_held(void)
{
    __atomic_add_fetch(&held, 1, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&held, __ATOMIC_SEQ_CST) < nlockers) {
        usleep(1000);
    }
    usleep(20000); /* main sees "held" first and says so */
}

/* Exported (-rdynamic): the report names where they wait. */
void *locker(void *arg);
void *joinee_main(void *arg);
void *holder_main(void *arg);

void *locker(void *arg)
{
    const char *order = arg;
    pthread_mutex_t *first = order[0] == 'a' ? &mutex_a : &mutex_b;
    pthread_mutex_t *second = order[1] == 'a' ? &mutex_a : &mutex_b;
    char name[16];
    snprintf(name, sizeof(name), "locker-%c", order[0]);
    pthread_setname_np(pthread_self(), name);
    pthread_mutex_lock(first);
    if (first != second) {
        wait_held();
    }
    pthread_mutex_lock(second);
    pthread_mutex_unlock(second);
    pthread_mutex_unlock(first);
    return NULL;
}

void *joinee_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "joinee");
    wait_held();
    pthread_mutex_lock(&mutex_a);
    pthread_mutex_unlock(&mutex_a);
    return NULL;
}

void *holder_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "holder");
    pthread_mutex_lock(&mutex_a);
    wait_held();
    pthread_join(joinee, NULL);
    pthread_mutex_unlock(&mutex_a);
    return NULL;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "abba";
    pthread_t t1, t2;
    if (strcmp(mode, "mixed") == 0) {
        LEGACY_CHECK(pthread_create(&joinee, NULL, joinee_main, NULL) == 0);
        LEGACY_CHECK(pthread_create(&t1, NULL, holder_main, NULL) == 0);
    } else {
        bool ordered = strcmp(mode, "ordered") == 0;
        if (ordered) {
            nlockers = 0;
        }
        LEGACY_CHECK(pthread_create(&t1, NULL, locker, "ab") == 0);
        LEGACY_CHECK(pthread_create(&t2, NULL, locker,
                                    ordered ? "ab" : "ba") == 0);
        if (ordered) {
            LEGACY_CHECK(pthread_join(t1, NULL) == 0);
            LEGACY_CHECK(pthread_join(t2, NULL) == 0);
            printf("done\n");
            return 0;
        }
    }
    while (__atomic_load_n(&held, __ATOMIC_SEQ_CST) < nlockers) {
        usleep(1000);
    }
    printf("holding\n");
    for (int i = 1; i <= 3000; i++) { /* 30 s at most: the script kills */
        usleep(10000);
        if (i % 50 == 0) {
            printf("ticks %d\n", i);
        }
    }
    return 1;
}
