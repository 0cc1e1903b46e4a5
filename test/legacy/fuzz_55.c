/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 55, length 60, flags '', operations 53-56 of the generated
 * program (4 of them), 1 thread.
 *
 * Signature:
 *   RECV: 1 h=d70c14b5 -> 4098 h=ed232031
 * The first line that differs, natively and under the preload:
 *   056 t0 RECV s10.0             1 h=d70c14b5
 *   056 t0 RECV s10.0             4098 h=ed232031
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {53, FUZZ_MK_SOCKPAIR, 0, 10, 0, 0, 0, 1, 0, 0},
    {54, FUZZ_RECV, 0, 10, 0, 0, 0, 4096, 2, 0},
    {55, FUZZ_SEND, 0, 10, 1, 0, 0, 4096, 16384, 0},
    {56, FUZZ_RECV, 0, 10, 0, 0, 0, 65536, 256, 0},
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
