/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 929, length 60, flags '', operations 0,3-5 of the generated
 * program (4 of them), 3 threads.
 *
 * Signature:
 *   RECVFROM: 0 from=0 -> -1 EAGAIN
 * The first line that differs, natively and under the preload:
 *   004 t0 RECVFROM s0.1          0 from=0
 *   004 t0 RECVFROM s0.1          -1 EAGAIN
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {0, FUZZ_MK_UDP, 2, 0, 0, 0, 0, 0, 0, 0},
    {3, FUZZ_CLOSE, 1, 0, 0, 0, 0, 0, 0, 0},
    {4, FUZZ_RECVFROM, 0, 0, 1, 0, 0, 1000, 256, 0},
    {5, FUZZ_SETNB, 2, 0, 1, 0, 0, 1, 1, 0},
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    unsigned flags = 0;
    fuzz_parse_flags("", &flags);
    return fuzz_run(ops, (int)(sizeof(ops) / sizeof(ops[0])), 3, flags);
}
