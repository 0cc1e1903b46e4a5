/* SPDX-License-Identifier: MIT */
/* The fuzzer's program: generates the operation list of a seed
 * (gen.c) and runs it (engine.c). Built WITHOUT libgreen, like the
 * legacy programs; fuzzdrive runs it natively and under the preload.
 *
 *   fuzzprog SEED [LEN] [--flags LIST] [--keep LIST] [--table]
 *
 * LEN is the most operations (60 by default; the generator makes whole
 * scenes only, so often a few fewer). --flags turns on the operations
 * behind flags (engine.h's FUZZ_FLAGS: fork, waitpid, stdio, closewait,
 * tls, gettid, flock, killthread, or all). --keep runs only
 * the listed operations of the generated list ("0-5,9,12-20", indices
 * as printed), which is how the minimiser replays a sublist. --table
 * prints the kept operations as a C initialiser instead of running them
 * (for a reproducer). The first line says what runs:
 *   fuzz seed=S len=L threads=T ops=N flags=F
 * `fuzzprog list` prints nothing (differential.sh asks for groups). */
#include "engine.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static struct fuzz_op all[FUZZ_MAX_OPS], kept[FUZZ_MAX_OPS];

static int usage(void)
{
    fprintf(stderr, "usage: fuzzprog SEED [LEN] [--flags LIST] [--keep LIST] "
                    "[--table]\n");
    return 2;
}

/* Marks the indices of a "0-5,9" list in keep[0..n). */
static int parse_keep(const char *s, bool *keep, int n)
{
    while (*s != '\0') {
        char *end;
        long a = strtol(s, &end, 10), b = a;
        if (end == s) {
            return -1;
        }
        if (*end == '-') {
            const char *t = end + 1;
            b = strtol(t, &end, 10);
            if (end == t) {
                return -1;
            }
        }
        for (long i = a; i <= b && i < n; i++) {
            if (i >= 0) {
                keep[i] = true;
            }
        }
        s = end;
        if (*s == ',') {
            s++;
        } else if (*s != '\0') {
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "list") == 0) {
        return 0;
    }
    if (argc < 2) {
        return usage();
    }
    char *end;
    unsigned long long seed = strtoull(argv[1], &end, 10);
    if (*end != '\0') {
        return usage();
    }
    int len = 60;
    const char *keep_s = NULL, *flags_s = "";
    bool table = false;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--flags") == 0 && i + 1 < argc) {
            flags_s = argv[++i];
        } else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) {
            keep_s = argv[++i];
        } else if (strcmp(argv[i], "--table") == 0) {
            table = true;
        } else if (i == 2 && argv[i][0] >= '0' && argv[i][0] <= '9') {
            len = atoi(argv[i]);
        } else {
            return usage();
        }
    }
    unsigned flags;
    if (fuzz_parse_flags(flags_s, &flags) != 0) {
        return 2;
    }
    int threads;
    int n = fuzz_generate(seed, len, flags, all, &threads);
    static bool keep[FUZZ_MAX_OPS];
    int k = 0;
    if (keep_s != NULL) {
        if (parse_keep(keep_s, keep, n) != 0) {
            fprintf(stderr, "fuzzprog: bad --keep list '%s'\n", keep_s);
            return 2;
        }
        for (int i = 0; i < n; i++) {
            if (keep[i]) {
                kept[k++] = all[i];
            }
        }
    } else {
        memcpy(kept, all, (size_t)n * sizeof(all[0]));
        k = n;
    }
    if (table) {
        printf("threads=%d\n", threads);
        fuzz_emit_c(stdout, kept, k);
        return 0;
    }
    printf("fuzz seed=%llu len=%d threads=%d ops=%d flags=0x%x\n", seed, len,
           threads, n, flags);
    fflush(stdout);
    return fuzz_run(kept, k, threads, flags);
}
