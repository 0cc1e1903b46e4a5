/* SPDX-License-Identifier: MIT */
/* green-run: runs a program with libgreen preloaded, the counterpart of
 * `python -m gevent.monkey script.py`.
 *
 *   green-run [--patch=LIST] [--stack-size=BYTES] [--max-blocking-ms=MS]
 *             [--handoff-ms=MS] [--dump-signal=SIG] [--debug[=LEVEL]]
 *             [--lib=PATH] [--]
 *             PROGRAM [ARGS...]
 *   green-run --version | --help
 *
 * The options set GREEN_PATCH, GREEN_STACK_SIZE, GREEN_MAX_BLOCKING_MS,
 * GREEN_HANDOFF_MS, GREEN_DUMP_SIGNAL and GREEN_DEBUG, then green-run execs PROGRAM with
 * libgreen in LD_PRELOAD.
 *
 * Checking. --patch= is checked here, with the library's own parser
 * (lib/patchspec.c is compiled into green-run): a word that is no family
 * is an error that names it and the known words, exit 2, before anything
 * runs. (Set through GREEN_PATCH instead, the same mistake only earns a
 * warning from inside the program, which then runs with the default.)
 * The other values are checked by libgreen itself when it starts.
 *
 * Finding the library. Each candidate directory in turn (this command's
 * own, which is a build directory's layout; ../lib, ../lib/<multiarch>
 * and ../lib64, an installation's, wherever it was moved; then the
 * directory it was installed to) is asked for libgreen.so, the
 * development symlink a build directory and a -dev package have, and then
 * for libgreen.so.0, the SONAME, which is all a runtime-only installation
 * has. --lib=PATH skips the search.
 *
 * LD_PRELOAD. libgreen goes in front of what LD_PRELOAD already holds, so
 * that its interposers come before any other library's, with one
 * exception: sanitizer runtimes (libasan, libclang_rt.asan-*, libtsan,
 * libubsan, libhwasan, liblsan, libmsan, ...) must come first in the link
 * order (ASan refuses to run otherwise), so when LD_PRELOAD holds any,
 * libgreen goes right after the last of them and everything else keeps
 * its place. An entry that is a libgreen already (a file named
 * libgreen.so*, or the file chosen) is dropped, so that exactly one
 * libgreen is loaded, the one green-run chose; if it was another file, a
 * note on stderr says which was left out.
 *
 * Exit status: PROGRAM's own, or 2 for a usage error, 126 when PROGRAM
 * cannot be executed, 127 when it or libgreen cannot be found. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "green/version.h"
#include "patchspec.h"

#ifndef GREEN_LIBDIR
#define GREEN_LIBDIR "/usr/local/lib"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: green-run [options] [--] PROGRAM [ARGS...]\n"
            "Runs PROGRAM with libgreen preloaded: its pthreads become "
            "greenlets and\nits blocking calls switch instead of blocking.\n"
            "  --patch=LIST          what to patch (GREEN_PATCH), e.g. all,"
            "-thread;\n"
            "                        words: %s\n"
            "  --stack-size=BYTES    green thread stack size "
            "(GREEN_STACK_SIZE)\n"
            "  --max-blocking-ms=MS  blocking monitor threshold, 0 = off\n"
            "  --handoff-ms=MS       hand a stuck OS thread's hub to a spare "
            "after MS,\n"
            "                        0 = off (GREEN_HANDOFF_MS)\n"
            "  --dump-signal=SIG     dump every green thread to stderr on "
            "SIG, e.g. USR2\n"
            "                        (GREEN_DUMP_SIGNAL)\n"
            "  --debug[=LEVEL]       GREEN_DEBUG\n"
            "  --lib=PATH            the libgreen.so to preload (default: "
            "libgreen.so or\n"
            "                        libgreen.so.0 next to green-run, in "
            "../lib*, or in\n"
            "                        %s)\n"
            "  --version             print green-run's version\n"
            "  -h, --help            this text\n"
            "LD_PRELOAD is kept: libgreen goes in front of it, or right "
            "after the\nsanitizer runtimes (libasan, ...) it holds.\n",
            green__patch_words, GREEN_LIBDIR);
}

static bool exists(const char *p)
{
    return access(p, R_OK) == 0;
}

/* dir/libgreen.so, else dir/libgreen.so.0, into buf; false if neither. */
static bool find_in(const char *dir, char *buf, size_t len)
{
    static const char *const names[] = {"libgreen.so", "libgreen.so.0"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(buf, len, "%s/%s", dir, names[i]);
        if (exists(buf)) {
            return true;
        }
    }
    return false;
}

/* The library next to this program, in ../lib*, or in the install dir. */
static const char *find_lib(char *buf, size_t len)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            static const char *const dirs[] = {
                "%s", "%s/../lib", "%s/../lib/x86_64-linux-gnu",
                "%s/../lib/aarch64-linux-gnu", "%s/../lib64"};
            char dir[PATH_MAX + 32];
            for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
                snprintf(dir, sizeof(dir), dirs[i], self);
                if (find_in(dir, buf, len)) {
                    return buf;
                }
            }
        }
    }
    return find_in(GREEN_LIBDIR, buf, len) ? buf : NULL;
}

/* The file name part of path. */
static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Whether an LD_PRELOAD entry is a sanitizer runtime, which must stay
 * ahead of every other library: GCC's lib*san.so.N and clang's
 * libclang_rt.<sanitizer>[-arch].so. */
static bool is_sanitizer(const char *entry)
{
    static const char *const prefixes[] = {
        "libasan.so",          "libhwasan.so",        "libtsan.so",
        "libubsan.so",         "liblsan.so",          "libmsan.so",
        "libclang_rt.asan",    "libclang_rt.hwasan",  "libclang_rt.tsan",
        "libclang_rt.ubsan",   "libclang_rt.lsan",    "libclang_rt.msan",
        "libclang_rt.dfsan",   "libclang_rt.memprof", "libclang_rt.scudo",
    };
    const char *b = base_name(entry);
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        if (starts_with(b, prefixes[i])) {
            return true;
        }
    }
    return false;
}

/* Whether an LD_PRELOAD entry is a libgreen: the file lib (a real path)
 * itself, or any file named libgreen.so or libgreen.so.*. */
static bool is_libgreen(const char *entry, const char *lib)
{
    const char *b = base_name(entry);
    if (starts_with(b, "libgreen.so") &&
        (b[11] == '\0' || b[11] == '.')) {
        return true;
    }
    char real[PATH_MAX];
    return realpath(entry, real) != NULL && strcmp(real, lib) == 0;
}

/* Appends ":" (unless out is empty) and s to out, of size len. */
static void append(char *out, size_t len, const char *s)
{
    size_t n = strlen(out);
    snprintf(out + n, len - n, "%s%s", n > 0 ? ":" : "", s);
}

/* The new LD_PRELOAD: old's entries with lib put in front, or right after
 * the last sanitizer runtime, and any other libgreen left out. NULL if
 * out of memory. */
static char *preload_list(const char *lib, const char *old)
{
    if (old == NULL) {
        old = "";
    }
    size_t len = strlen(lib) + strlen(old) + 2;
    char *copy = strdup(old);
    char *out = malloc(len);
    size_t nent = 0;
    char **ent = calloc(strlen(old) / 2 + 1, sizeof(*ent));
    if (copy == NULL || out == NULL || ent == NULL) {
        free(copy);
        free(out);
        free(ent);
        return NULL;
    }
    /* ld.so separates entries with colons or spaces. */
    char *save = NULL;
    for (char *e = strtok_r(copy, ": \t", &save); e != NULL;
         e = strtok_r(NULL, ": \t", &save)) {
        ent[nent++] = e;
    }
    size_t first = 0; /* where libgreen goes: after the last sanitizer */
    for (size_t i = 0; i < nent; i++) {
        if (is_sanitizer(ent[i])) {
            first = i + 1;
        }
    }
    out[0] = '\0';
    for (size_t i = 0; i <= nent; i++) {
        if (i == first) {
            append(out, len, lib);
        }
        if (i == nent) {
            break;
        }
        if (is_libgreen(ent[i], lib)) {
            char real[PATH_MAX];
            if (realpath(ent[i], real) == NULL || strcmp(real, lib) != 0) {
                fprintf(stderr,
                        "green-run: LD_PRELOAD's %s left out: preloading "
                        "%s\n",
                        ent[i], lib);
            }
            continue;
        }
        append(out, len, ent[i]);
    }
    free(ent);
    free(copy);
    return out;
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

/* Checks a --patch= list as libgreen would parse it; 0 or 2 (usage). */
static int check_patch(const char *list)
{
    unsigned bits;
    char bad[64];
    if (green__patch_parse(list, &bits, bad, sizeof(bad)) == 0) {
        return 0;
    }
    if (bad[0] != '\0') {
        fprintf(stderr,
                "green-run: --patch=%s: unknown word '%s' (the words are: "
                "%s; a '-' before one leaves it out)\n",
                list, bad, green__patch_words);
    } else {
        fprintf(stderr,
                "green-run: --patch=%s names nothing (the words are: %s)\n",
                list, green__patch_words);
    }
    return 2;
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
        } else if (strcmp(a, "--version") == 0) {
            printf("green-run %s\n", GREEN_VERSION_STRING);
            return 0;
        } else if ((v = opt(a, "--patch")) != NULL) {
            if (check_patch(v) != 0) {
                return 2;
            }
            setenv("GREEN_PATCH", v, 1);
        } else if ((v = opt(a, "--stack-size")) != NULL) {
            setenv("GREEN_STACK_SIZE", v, 1);
        } else if ((v = opt(a, "--max-blocking-ms")) != NULL) {
            setenv("GREEN_MAX_BLOCKING_MS", v, 1);
        } else if ((v = opt(a, "--handoff-ms")) != NULL) {
            setenv("GREEN_HANDOFF_MS", v, 1);
        } else if ((v = opt(a, "--dump-signal")) != NULL) {
            setenv("GREEN_DUMP_SIGNAL", v, 1);
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
        fprintf(stderr,
                "green-run: cannot find libgreen.so or libgreen.so.0 "
                "(looked next to green-run, in ../lib* and in %s); use "
                "--lib=PATH\n",
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
    char *pre = preload_list(lib, getenv("LD_PRELOAD"));
    if (pre == NULL) {
        fprintf(stderr, "green-run: out of memory\n");
        return 127;
    }
    setenv("LD_PRELOAD", pre, 1);
    free(pre);
    execvp(argv[i], argv + i);
    fprintf(stderr, "green-run: %s: %s\n", argv[i], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
