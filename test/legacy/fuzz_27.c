/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 27, length 60, flags 'closewait', operations 0-2 of the generated
 * program (3 of them), 3 threads.
 *
 * Signature:
 *   PPOLL: 2 s0.0:I s0.1:N -> 2 s0.0:IH s0.1:N
 * The first line that differs, natively and under the preload:
 *   001 t1 PPOLL s0.2             2 s0.0:I s0.1:N
 *   001 t1 PPOLL s0.2             2 s0.0:IH s0.1:N
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {0, FUZZ_MK_SOCKPAIR, 0, 0, 0, 0, 0, 0, 0, 0},
    {1, FUZZ_PPOLL, 1, 0, 2, 0, 0, 65537, 0, 69633},
    {2, FUZZ_CLOSE, 0, 0, 1, 0, 0, 0, 0, 0},
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
