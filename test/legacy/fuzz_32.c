/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 32, length 60, flags '', operations 3-5 of the generated
 * program (3 of them), 2 threads.
 *
 * Signature:
 *   RECV: 1 h=e40c292c -> 2 h=7d25515a
 * The first line that differs, natively and under the preload:
 *   005 t1 RECV s1.1              1 h=e40c292c
 *   005 t1 RECV s1.1              2 h=7d25515a
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {3, FUZZ_MK_SOCKPAIR, 0, 1, 0, 0, 0, 2, 0, 0},
    {4, FUZZ_WRITEV, 0, 1, 0, 0, 0, 1, 0, 0},
    {5, FUZZ_RECV, 1, 1, 1, 0, 0, 4096, 256, 0},
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
