/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 2, length 60, flags 'fork', operations 8-9 of the generated
 * program (2 of them), 3 threads.
 *
 * Signature:
 *   FORK: exit 5 -> signal 11
 * The first line that differs, natively and under the preload:
 *   009 t2 FORK s2.1              exit 5
 *   009 t2 FORK s2.1              signal 11
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {8, FUZZ_MK_PIPE, 0, 2, 0, 0, 0, 0, 0, 0},
    {9, FUZZ_FORK, 2, 2, 1, 0, 0, 5, 0, 0},
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    unsigned flags = 0;
    fuzz_parse_flags("fork", &flags);
    return fuzz_run(ops, (int)(sizeof(ops) / sizeof(ops[0])), 3, flags);
}
