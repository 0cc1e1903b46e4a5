/* SPDX-License-Identifier: MIT */
/* GREEN_PATCH's syntax, parsed. A pure function of its text, shared by
 * the library (green_patch, the GREEN_PATCH variable) and green-run, which
 * checks --patch= itself before it runs anything. */
#ifndef GREEN_PATCHSPEC_H
#define GREEN_PATCHSPEC_H

#include <stddef.h>

/* Parses spec ("all,-thread", "socket time", "none") into *bits
 * (GREEN_PATCH_* of green/patch.h). Returns 0, or -EINVAL with the first
 * word that is not a family copied into bad (NUL-terminated, cut to
 * badlen), *bits untouched. An empty or blank spec is -EINVAL with an
 * empty bad. */
int green__patch_parse(const char *spec, unsigned *bits, char *bad,
                       size_t badlen);

/* The known words, for messages: "all none socket select ...". */
extern const char green__patch_words[];

#endif
