/* SPDX-License-Identifier: MIT */
/* A difference the fuzzer found, minimised (written by test/fuzz/fuzzdrive):
 * seed 10, length 60, flags '', operations 22-24 of the generated
 * program (3 of them), 3 threads.
 *
 * Signature:
 *   RECVMSG: 6 h=eb476aae -> 5 h=749bcf08
 * The first line that differs, natively and under the preload:
 *   023 t2 RECVMSG s3.0           6 h=eb476aae
 *   023 t2 RECVMSG s3.0           5 h=749bcf08
 *
 * The operations run through test/fuzz/engine.c, which prints one line
 * each; differential.sh runs this natively and under the preload and
 * requires the same bytes (test/legacy/meson.build). What each field
 * means: test/fuzz/engine.h. */
#include "../fuzz/engine.h"

#include <string.h>

static const struct fuzz_op ops[] = {
    /* idx, kind, thread, s, e, s2, e2, a, b, c */
    {22, FUZZ_MK_SOCKPAIR, 2, 3, 0, 0, 0, 0, 0, 0},
    {23, FUZZ_RECVMSG, 2, 3, 0, 0, 0, 4096, 256, 0},
    {24, FUZZ_WRITEV, 0, 3, 1, 0, 0, 5, 0, 0},
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
