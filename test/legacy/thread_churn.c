/* SPDX-License-Identifier: MIT */
/* Thread churn: thousands of short threads, detached by attribute, by
 * pthread_detach and joined, each allocating and freeing a little (so
 * that the allocator sets up its per-thread state in each), and what the
 * process keeps afterwards. Under the preload each is a green pthread
 * with TLS of its own: its malloc state must not be lost at its end (a
 * leak per thread, about 860 bytes with glibc's malloc), and its TLS must
 * be freed safely from whichever thread runs next, also beside jemalloc
 * and tcmalloc (allocators.sh runs this program with each), whose
 * per-thread state is set up lazily, on a thread's first call.
 *
 * Checks: every thread ran; resident memory after rounds 3 to 5 grew by
 * less than 1 MiB over round 2's (3 rounds of 3,000 threads: a leak of
 * 860 bytes a thread would be 7.5 MiB; the first two rounds warm the
 * allocators' caches up: tcmalloc's grow by some 1.4 MiB); one OS thread
 * under the preload. */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "legacy.h"

#define ROUNDS 5
#define PER_KIND 1000

static int ran;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *body(void *arg)
{
    /* Sizes of several of the allocator's classes, and one it keeps. */
    void *volatile a = malloc(24 + ((size_t)arg % 7) * 40);
    void *volatile b = malloc(512);
    void *volatile c = malloc(5000);
    free((void *)a);
    free((void *)c);
    pthread_mutex_lock(&lock);
    ran++;
    pthread_mutex_unlock(&lock);
    free((void *)b);
    return arg;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = atol(line + 6);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return v;
}

static int ran_now(void)
{
    pthread_mutex_lock(&lock);
    int n = ran;
    pthread_mutex_unlock(&lock);
    return n;
}

int main(void)
{
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    long first = 0, most = 0;
    int created = 0, joined_ok = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int i = 0; i < PER_KIND; i++) {
            pthread_t t;
            void *ret;
            LEGACY_CHECK(pthread_create(&t, &detached, body,
                                        (void *)(long)i) == 0);
            LEGACY_CHECK(pthread_create(&t, NULL, body, (void *)(long)i) == 0);
            LEGACY_CHECK(pthread_detach(t) == 0);
            LEGACY_CHECK(pthread_create(&t, NULL, body, (void *)(long)i) == 0);
            LEGACY_CHECK(pthread_join(t, &ret) == 0);
            joined_ok += ret == (void *)(long)i;
            created += 3;
            if (i % 50 == 0) {
                usleep(1000); /* the detached ones run and end */
            }
        }
        for (int w = 0; w < 5000 && ran_now() < created; w++) {
            usleep(1000);
        }
        usleep(20000); /* natively: the last detached threads exit */
        long kib = rss_kib();
        if (r <= 1) {
            first = kib;
        } else if (kib - first > most) {
            most = kib - first;
        }
    }
    pthread_attr_destroy(&detached);
    printf("threads created: %d\n", created);
    printf("all ran: %d\n", ran_now() == created);
    printf("joins returned their values: %d of %d\n", joined_ok,
           ROUNDS * PER_KIND);
#if defined(__SANITIZE_ADDRESS__)
    most = 0; /* ASan's quarantine keeps freed memory: not a measure */
#endif
    printf("memory kept after round 2 under 1 MiB: %d\n", most < 1024);
    int os = legacy_os_threads();
    if (!legacy_native()) {
        printf("one OS thread: %d\n", os == 1);
        LEGACY_CHECK(os == 1);
    }
    LEGACY_CHECK(ran_now() == created);
    LEGACY_CHECK(joined_ok == ROUNDS * PER_KIND);
    LEGACY_CHECK(most < 1024);
    return 0;
}
