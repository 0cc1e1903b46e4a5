/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 66, length 60, flags '', operations 0,12,14-16,21 of the generated
 * program (6 of them), 2 threads.
 *
 * Signature:
 *   RECVFROM: 0 from=0 -> -1 EAGAIN
 * The first line that differs, natively and under the preload:
 *   021 t0 RECVFROM s0.1          0 from=0
 *   021 t0 RECVFROM s0.1          -1 EAGAIN
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {0, FUZZ_MK_TCP, 1, 0, 0, 0, 0, 0, 0, 0},
    {12, FUZZ_DUP, 1, 0, 1, 0, 3, 1, 0, 0},
    {14, FUZZ_RECVFROM, 1, 0, 1, 0, 0, 7, 256, 0},
    {15, FUZZ_SETNB, 0, 0, 3, 0, 0, 1, 0, 0},
    {16, FUZZ_GETFL, 1, 0, 3, 0, 0, 0, 0, 0},
    {21, FUZZ_RECVFROM, 0, 0, 1, 0, 0, 100, 66, 0},
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
