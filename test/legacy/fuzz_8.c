/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 8, length 60, flags '', operations 24,56 of the generated
 * program (2 of them), 3 threads.
 *
 * Signature:
 *   RECV: -1 ENOTSOCK -> STUCK
 * The first line that differs, natively and under the preload:
 *   056 t2 RECV s4.0              -1 ENOTSOCK
 *   STUCK 056 t2 RECV: never ended
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {24, FUZZ_MK_PIPE, 0, 4, 0, 0, 0, 0, 0, 0},
    {56, FUZZ_RECV, 2, 4, 0, 0, 0, 4096, 64, 0},
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
