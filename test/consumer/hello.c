/* SPDX-License-Identifier: MIT */
/* The consumer test's program (test/consumer/run.sh builds it through
 * pkg-config, as a meson subproject's dependency, and statically against
 * an installed copy). It uses only the public header, as any program
 * would: two tasks that sleep and are joined (concurrently: the run takes
 * the longer sleep, not the sum), the library's version compared with the
 * headers', and "localhost" resolved with green_getaddrinfo. Prints "OK"
 * and exits 0, or says what went wrong and exits 1. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <green.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sleeper(void *arg)
{
    double *seconds = arg;
    int r = green_sleep(*seconds);
    return r == 0 ? arg : green_fail(r);
}

static int fail(const char *what, int err)
{
    printf("FAIL: %s: %s (%s)\n", what, green_strerror(err),
           green_err_name(err));
    return 1;
}

int main(void)
{
    if (green_version() != GREEN_VERSION_HEX ||
        strcmp(green_version_string(), GREEN_VERSION_STRING) != 0) {
        printf("FAIL: library %s (0x%06x), headers %s (0x%06x)\n",
               green_version_string(), green_version(), GREEN_VERSION_STRING,
               (unsigned)GREEN_VERSION_HEX);
        return 1;
    }

    static double seconds[2] = {0.5, 0.4};
    green_task_t *t[2];
    double t0 = now();
    for (int i = 0; i < 2; i++) {
        int r = green_spawn(&t[i], sleeper, &seconds[i]);
        if (r != 0) {
            return fail("green_spawn", r);
        }
    }
    for (int i = 0; i < 2; i++) {
        void *result = NULL;
        int r = green_join(t[i], 5.0, &result);
        if (r != 0) {
            return fail("green_join", r);
        }
        if (green_task_error(t[i]) != 0 || result != &seconds[i]) {
            return fail("a sleeper", green_task_error(t[i]));
        }
        green_task_release(t[i]);
    }
    double took = now() - t0;
    if (took < 0.5 || took >= 0.85) { /* in turn they would take 0.9 s */
        printf("FAIL: two sleeps of 0.5 s and 0.4 s took %.3f s\n", took);
        return 1;
    }

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int r = green_getaddrinfo("localhost", "80", &hints, &res);
    if (r != 0) {
        return fail("green_getaddrinfo(localhost)", r);
    }
    if (res == NULL) {
        printf("FAIL: green_getaddrinfo(localhost): no address\n");
        return 1;
    }
    green_freeaddrinfo(res);

    printf("OK libgreen %s\n", green_version_string());
    return 0;
}
