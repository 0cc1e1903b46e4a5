/* SPDX-License-Identifier: MIT */
/* Shared by the stdio_*.c legacy programs (green stdio): a ticker thread
 * that proves other threads run while one blocks in a stdio call, naps,
 * groups (differential.sh runs each alone), and the output's one rule:
 * facts only (booleans, counts, errno names), never a time, so that the
 * native run and the preloaded one print the same bytes.
 *
 * A program that blocks the OS thread under the preload fails one of
 * two ways: its ticker line says "no" (the ticker did not run while the
 * call blocked), or it hangs (the thread that would have ended the
 * block never runs) and differential.sh's limit kills it. */
#ifndef STDIO_UTIL_H
#define STDIO_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "legacy.h"

/* Sleeps ms milliseconds (nanosleep: a blocking call of its own). */
static inline void su_nap(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* --- the ticker ------------------------------------------------------- */

static volatile int su_ticks;
static volatile int su_ticker_stop;
static pthread_t su_ticker_thread;

static void *su_ticker_run(void *arg)
{
    (void)arg;
    while (!su_ticker_stop) {
        su_nap(2);
        su_ticks++;
    }
    return NULL;
}

static inline void su_ticker_start(void)
{
    su_ticker_stop = 0;
    LEGACY_CHECK(pthread_create(&su_ticker_thread, NULL, su_ticker_run,
                                NULL) == 0);
}

static inline void su_ticker_end(void)
{
    su_ticker_stop = 1;
    LEGACY_CHECK(pthread_join(su_ticker_thread, NULL) == 0);
}

/* Prints whether the ticker ran at least `min` times since `since` (a
 * su_ticks value): "ticker ran during WHAT: yes". */
static inline void su_ticked(const char *what, int since, int min)
{
    printf("ticker ran during %s: %s\n", what,
           su_ticks - since >= min ? "yes" : "no");
    fflush(stdout);
}

/* --- output ----------------------------------------------------------- */

static inline const char *su_errname(int e)
{
    const char *n = strerrorname_np(e);
    return n != NULL ? n : "E?";
}

/* One fact per line, flushed (a hang must not hide what came before). */
static inline void su_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

static inline const char *su_yes(int b)
{
    return b ? "yes" : "no";
}

/* --- groups ----------------------------------------------------------- */

struct su_group {
    const char *name;
    void (*run)(void);
    int in_main; /* run in main, once a pthread was made and joined (fork
                    from main: only the forking thread goes on) */
};

/* usage: PROG [GROUP | list]. Groups run in a pthread (or in main after
 * one), so that under the preload the hub exists before the first stdio
 * call. */
static void *su_group_thread(void *arg)
{
    const struct su_group *g = arg;
    if (!g->in_main) {
        g->run();
    }
    return NULL;
}

static inline int su_main(int argc, char **argv, const struct su_group *g,
                          size_t n)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", g[i].name);
        }
        return 0;
    }
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc < 2 || strcmp(argv[1], g[i].name) == 0) {
            printf("[%s]\n", g[i].name);
            fflush(stdout);
            pthread_t t;
            LEGACY_CHECK(pthread_create(&t, NULL, su_group_thread,
                                        (void *)&g[i]) == 0);
            LEGACY_CHECK(pthread_join(t, NULL) == 0);
            if (g[i].in_main) {
                g[i].run();
            }
            found = 1;
        }
    }
    if (!found) {
        fprintf(stderr, "no group '%s'\n", argv[1]);
        return 2;
    }
    LEGACY_CHECK_ONE_THREAD();
    return 0;
}

#endif
