/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 5, length 60, flags '', operations 0-1,19 of the generated
 * program (3 of them), 3 threads.
 *
 * Signature:
 *   RECVFROM: 0 from=0 -> STUCK
 * The first line that differs, natively and under the preload:
 *   019 t0 RECVFROM s0.1          0 from=0
 *   STUCK 019 t0 RECVFROM: never ended
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {0, FUZZ_MK_SOCKPAIR, 2, 0, 0, 0, 0, 1, 0, 0},
    {1, FUZZ_SHUTDOWN, 1, 0, 1, 0, 0, 0, 0, 0},
    {19, FUZZ_RECVFROM, 0, 0, 1, 0, 0, 7, 2, 0},
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
