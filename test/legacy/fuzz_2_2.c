/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 2, length 60, flags 'closewait', operations 0,8-9 of the generated
 * program (3 of them), 3 threads.
 *
 * Signature:
 *   READV: 1 h=d70c14b5 -> -1 EBADF
 * The first line that differs, natively and under the preload:
 *   008 t2 READV s0.1             1 h=d70c14b5
 *   008 t2 READV s0.1             -1 EBADF
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {0, FUZZ_MK_TCP, 0, 0, 0, 0, 0, 0, 0, 0},
    {8, FUZZ_READV, 2, 0, 1, 0, 0, 100, 0, 0},
    {9, FUZZ_CLOSE, 1, 0, 1, 0, 0, 0, 0, 0},
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    unsigned flags = 0;
    fuzz_parse_flags("closewait", &flags);
    return fuzz_run(ops, (int)(sizeof(ops) / sizeof(ops[0])), 3, flags);
}
