/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 1, length 60, flags '', operations 11-12,14 of the generated
 * program (3 of them), 2 threads.
 *
 * Signature:
 *   READV: 0 -> 1 h=d70c14b5
 * The first line that differs, natively and under the preload:
 *   014 t1 READV s2.0             0
 *   014 t1 READV s2.0             1 h=d70c14b5
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {11, FUZZ_MK_UDP, 0, 2, 0, 0, 0, 0, 0, 0},
    {12, FUZZ_SHUTDOWN, 1, 2, 0, 0, 0, 0, 0, 0},
    {14, FUZZ_READV, 1, 2, 0, 0, 0, 4096, 0, 0},
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
