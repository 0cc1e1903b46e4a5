/* SPDX-License-Identifier: MIT */
/* For test/legacy/config.sh: a plain pthread program whose behaviour
 * shows what the preload's configuration did. One thread computes for
 * 300 ms without a blocking call (the blocking monitor must name it),
 * another sleeps 100 ms; main prints how many OS threads the process had
 * while both were alive. */
#include "legacy.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *spin(void *arg)
{
    double end = now() + 0.3;
    while (now() < end) {
    }
    return arg;
}

static void *nap(void *arg)
{
    usleep(100000);
    return arg;
}

int main(void)
{
    pthread_t a, b;
    LEGACY_CHECK(pthread_create(&b, NULL, nap, NULL) == 0);
    LEGACY_CHECK(pthread_create(&a, NULL, spin, NULL) == 0);
    printf("os_threads=%d\n", legacy_os_threads());
    LEGACY_CHECK(pthread_join(a, NULL) == 0);
    LEGACY_CHECK(pthread_join(b, NULL) == 0);
    return 0;
}
