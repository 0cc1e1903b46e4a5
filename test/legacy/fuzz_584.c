/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 584, length 60, flags '', operations 0,9,34-36 of the generated
 * program (5 of them), 2 threads.
 *
 * Signature:
 *   PSELECT: 1 s6.0:I -> 0
 * The first line that differs, natively and under the preload:
 *   035 t1 PSELECT s6.1           1 s6.0:I
 *   035 t1 PSELECT s6.1           0
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {0, FUZZ_MK_PIPE, 1, 0, 0, 0, 0, 2048, 0, 0},
    {9, FUZZ_CLOSE, 1, 0, 1, 0, 0, 0, 0, 0},
    {34, FUZZ_MK_UDP, 1, 6, 0, 0, 0, 0, 0, 0},
    {35, FUZZ_PSELECT, 1, 6, 1, 0, 0, 458753, 65540, 0},
    {36, FUZZ_SENDTO, 0, 6, 1, 0, 0, 1, 0, 0},
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    unsigned flags = 0;
    fuzz_parse_flags("", &flags);
    return fuzz_run(ops, (int)(sizeof(ops) / sizeof(ops[0])), 2, flags);
}
