/* SPDX-License-Identifier: MIT */
/* Shared by the legacy test programs: ordinary blocking programs, built
 * WITHOUT libgreen (-O2 -D_FORTIFY_SOURCE=2) and run under
 * LD_PRELOAD=libgreen.so. Each program checks itself and exits 0 when
 * every check passed.
 *
 * LEGACY_NATIVE=1 in the environment says the program runs natively
 * (to prove the program itself is right): the one-OS-thread checks are
 * then skipped. */
#ifndef LEGACY_H
#define LEGACY_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fails the program with a message naming the check. */
#define LEGACY_CHECK(cond)                                                \
    do {                                                                  \
        if (!(cond)) {                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,        \
                    __LINE__, #cond);                                     \
            exit(1);                                                      \
        }                                                                 \
    } while (0)

static inline int legacy_native(void)
{
    const char *v = getenv("LEGACY_NATIVE");
    return v != NULL && strcmp(v, "1") == 0;
}

/* The number of OS threads of this process, from /proc/self/task, but
 * for the ones libgreen makes for itself (its worker pool, its watchdog),
 * which are named "green-...": the program's own. */
static inline int legacy_os_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = d != NULL ? 0 : -1;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[300], name[32] = "";
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(name, sizeof(name), f) == NULL) {
                name[0] = '\0';
            }
            fclose(f);
        }
        n += strncmp(name, "green-", 6) != 0;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

/* Under the preload, the process must have exactly one OS thread. */
#define LEGACY_CHECK_ONE_THREAD()                                         \
    do {                                                                  \
        if (!legacy_native()) {                                           \
            int n_ = legacy_os_threads();                                 \
            if (n_ != 1) {                                                \
                fprintf(stderr, "%s:%d: %d OS threads, expected 1\n",     \
                        __FILE__, __LINE__, n_);                          \
                exit(1);                                                  \
            }                                                             \
        }                                                                 \
    } while (0)

#endif
