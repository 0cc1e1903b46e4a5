/* green-run: runs a program with libgreen preloaded, the counterpart of
 * `python -m gevent.monkey script.py`.
 *
 *   green-run [--patch=LIST] [--stack-size=BYTES] [--max-blocking-ms=MS]
 *             [--debug[=LEVEL]] [--lib=PATH] [--] PROGRAM [ARGS...]
 *
 * The options set GREEN_PATCH, GREEN_STACK_SIZE, GREEN_MAX_BLOCKING_MS and
 * GREEN_DEBUG (libgreen itself checks their values); libgreen.so is looked
 * for next to this command (a build directory), then in ../lib* (an
 * installation), then where it was installed. An LD_PRELOAD already set
 * is kept, after libgreen. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef GREEN_LIBDIR
#define GREEN_LIBDIR "/usr/local/lib"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: green-run [options] [--] PROGRAM [ARGS...]\n"
            "Runs PROGRAM with libgreen.so preloaded: its pthreads become "
            "greenlets and\nits blocking calls switch instead of blocking.\n"
            "  --patch=LIST          what to patch (GREEN_PATCH), e.g. all,"
            "-thread\n"
            "  --stack-size=BYTES    green thread stack size "
            "(GREEN_STACK_SIZE)\n"
            "  --max-blocking-ms=MS  blocking monitor threshold, 0 = off\n"
            "  --debug[=LEVEL]       GREEN_DEBUG\n"
            "  --lib=PATH            the libgreen.so to preload\n"
            "  -h, --help            this text\n");
}


static int exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* libgreen.so next to this program, in ../lib*, or the install dir. */
static const char *find_lib(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            const char *cands[] = {"%s/libgreen.so", "%s/../lib/libgreen.so",
                                   "%s/../lib/x86_64-linux-gnu/libgreen.so",
                                   "%s/../lib/aarch64-linux-gnu/libgreen.so",
                                   "%s/../lib64/libgreen.so"};
            for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
                snprintf(buf, len, cands[i], self);
                if (exists(buf)) {
                    return buf;
                }
            }
        }
    }
    snprintf(buf, len, "%s/libgreen.so", GREEN_LIBDIR);
    return exists(buf) ? buf : NULL;
}

/* The value of "--name=value" if arg is that option, else NULL. */
static const char *opt(const char *arg, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(arg, name, n) == 0 && arg[n] == '=') {
        return arg + n + 1;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *lib = NULL;
    const char *v;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if ((v = opt(a, "--patch")) != NULL) {
            setenv("GREEN_PATCH", v, 1);
        } else if ((v = opt(a, "--stack-size")) != NULL) {
            setenv("GREEN_STACK_SIZE", v, 1);
        } else if ((v = opt(a, "--max-blocking-ms")) != NULL) {
            setenv("GREEN_MAX_BLOCKING_MS", v, 1);
        } else if (strcmp(a, "--debug") == 0) {
            setenv("GREEN_DEBUG", "1", 1);
        } else if ((v = opt(a, "--debug")) != NULL) {
            setenv("GREEN_DEBUG", v, 1);
        } else if ((v = opt(a, "--lib")) != NULL) {
            lib = v;
        } else {
            fprintf(stderr, "green-run: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "green-run: no program given\n");
        usage(stderr);
        return 2;
    }
    char buf[PATH_MAX + 64];
    if (lib == NULL && (lib = find_lib(buf, sizeof(buf))) == NULL) {
        fprintf(stderr, "green-run: cannot find libgreen.so (looked next "
                        "to green-run and in %s); use --lib=PATH\n",
                GREEN_LIBDIR);
        return 127;
    }
    if (!exists(lib)) {
        fprintf(stderr, "green-run: %s: %s\n", lib, strerror(errno));
        return 127;
    }
    char abs[PATH_MAX];
    if (realpath(lib, abs) != NULL) {
        lib = abs;
    }
    const char *old = getenv("LD_PRELOAD");
    char *pre;
    if (old != NULL && *old != '\0') {
        if (asprintf(&pre, "%s:%s", lib, old) < 0) {
            return 127;
        }
    } else {
        pre = (char *)lib;
    }
    setenv("LD_PRELOAD", pre, 1);
    execvp(argv[i], argv + i);
    fprintf(stderr, "green-run: %s: %s\n", argv[i], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
