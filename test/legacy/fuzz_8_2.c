/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 8, length 60, flags 'killthread', operations 7-10 of the generated
 * program (4 of them), 3 threads.
 *
 * Signature:
 *   READ: -1 EINTR -> 1 h=d70c14b5
 * The first line that differs, natively and under the preload:
 *   009 t2 READ s2.0              -1 EINTR
 *   009 t2 READ s2.0              1 h=d70c14b5
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {7, FUZZ_MK_FIFO, 1, 2, 0, 0, 0, 0, 0, 0},
    {8, FUZZ_SIGACTION, 0, 0, 0, 0, 0, 0, 0, 0},
    {9, FUZZ_READ, 2, 2, 0, 0, 0, 1000, 0, 0},
    {10, FUZZ_KILL_THREAD, 0, 0, 0, 0, 0, 2, 0, 0},
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    unsigned flags = 0;
    fuzz_parse_flags("killthread", &flags);
    return fuzz_run(ops, (int)(sizeof(ops) / sizeof(ops[0])), 3, flags);
}
