/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 844, length 60, flags '', operations 6,24,27,46 of the generated
 * program (4 of them), 1 thread.
 *
 * Signature:
 *   RECVFROM: -1 EAGAIN -> 1 h=d70c14b5 from=0
 * The first line that differs, natively and under the preload:
 *   046 t0 RECVFROM s1.1          -1 EAGAIN
 *   046 t0 RECVFROM s1.1          1 h=d70c14b5 from=0
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {6, FUZZ_MK_SOCKPAIR, 0, 1, 0, 0, 0, 0, 0, 0},
    {24, FUZZ_DUP3, 0, 1, 1, 1, 2, 1, 0, 0},
    {27, FUZZ_SETNB, 0, 1, 2, 0, 0, 1, 0, 0},
    {46, FUZZ_RECVFROM, 0, 1, 1, 0, 0, 7, 256, 0},
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    unsigned flags = 0;
    fuzz_parse_flags("", &flags);
    return fuzz_run(ops, (int)(sizeof(ops) / sizeof(ops[0])), 1, flags);
}
