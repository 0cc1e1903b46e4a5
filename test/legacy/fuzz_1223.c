/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 1223, length 60, flags '', operations 16,18-19,21,47-50 of the generated
 * program (8 of them), 4 threads.
 *
 * Signature:
 *   SOERROR: 0 ECONNRESET -> 0 none
 * The first line that differs, natively and under the preload:
 *   050 t2 SOERROR s7.1           0 ECONNRESET
 *   050 t2 SOERROR s7.1           0 none
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {16, FUZZ_MK_LISTEN, 0, 5, 0, 0, 0, 0, 0, 0},
    {18, FUZZ_ACCEPT, 3, 5, 0, 7, 1, 0, 0, 0},
    {19, FUZZ_SHUTDOWN, 3, 7, 1, 0, 0, 0, 0, 0},
    {21, FUZZ_SENDTO, 0, 7, 0, 0, 0, 5, 0, 0},
    {47, FUZZ_LINGER0, 3, 7, 0, 0, 0, 0, 0, 0},
    {48, FUZZ_CLOSE, 3, 7, 0, 0, 0, 0, 0, 0},
    {49, FUZZ_RECVMSG, 2, 7, 1, 0, 0, 65536, 256, 0},
    {50, FUZZ_SOERROR, 2, 7, 1, 0, 0, 0, 0, 0},
};

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        return 0; /* one group: the whole program */
    }
    unsigned flags = 0;
    fuzz_parse_flags("", &flags);
    return fuzz_run(ops, (int)(sizeof(ops) / sizeof(ops[0])), 4, flags);
}
