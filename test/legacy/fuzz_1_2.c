/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 1, length 60, flags 'gettid', operations 34 of the generated
 * program (1 of them), 2 threads.
 *
 * Signature:
 *   GETTID_SAME: other -> main
 * The first line that differs, natively and under the preload:
 *   034 t1 GETTID_SAME s0.0       other
 *   034 t1 GETTID_SAME s0.0       main
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {34, FUZZ_GETTID_SAME, 1, 0, 0, 0, 0, 0, 0, 0},
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    unsigned flags = 0;
    fuzz_parse_flags("gettid", &flags);
    return fuzz_run(ops, (int)(sizeof(ops) / sizeof(ops[0])), 2, flags);
}
