/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 2569, length 60, flags '', operations 3,5,27-29,41-42 of the generated
 * program (7 of them), 2 threads.
 *
 * Signature:
 *   RECVFROM: 993 h=a44d7a4b from=0 -> 994 h=bef7355b from=0
 * The first line that differs, natively and under the preload:
 *   041 t0 RECVFROM s2.0          993 h=a44d7a4b from=0
 *   041 t0 RECVFROM s2.0          994 h=bef7355b from=0
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {3, FUZZ_MK_LISTEN, 1, 1, 0, 0, 0, 0, 0, 0},
    {5, FUZZ_ACCEPT, 0, 1, 0, 2, 1, 0, 0, 0},
    {27, FUZZ_RECVFROM, 0, 2, 0, 0, 0, 65536, 2, 0},
    {28, FUZZ_SENDMSG, 1, 2, 1, 0, 0, 1000, 0, 0},
    {29, FUZZ_READ, 1, 2, 0, 0, 0, 7, 0, 0},
    {41, FUZZ_RECVFROM, 0, 2, 0, 0, 0, 1000, 256, 0},
    {42, FUZZ_KILL_MAIN, 1, 0, 0, 0, 0, 0, 0, 0},
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
