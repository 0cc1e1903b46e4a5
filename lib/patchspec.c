/* SPDX-License-Identifier: MIT */
/* GREEN_PATCH's syntax (see patchspec.h and green/patch.h). */
#include "patchspec.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "green/patch.h"

static const struct {
    const char *name;
    unsigned bits;
} words[] = {
    {"all", GREEN_PATCH_ALL},       {"none", 0},
    {"socket", GREEN_PATCH_SOCKET}, {"select", GREEN_PATCH_SELECT},
    {"time", GREEN_PATCH_TIME},     {"thread", GREEN_PATCH_THREAD},
    {"dns", GREEN_PATCH_DNS},       {"signal", GREEN_PATCH_SIGNAL},
    {"os", GREEN_PATCH_OS},
};

const char green__patch_words[] =
    "all none socket select time thread dns signal os";

/* The bits of the n-character word w, or -1 if it is none of them. */
static long lookup(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (strlen(words[i].name) == n && memcmp(words[i].name, w, n) == 0) {
            return (long)words[i].bits;
        }
    }
    return -1;
}

int green__patch_parse(const char *spec, unsigned *bits, char *bad,
                       size_t badlen)
{
    unsigned acc = 0;
    bool first = true;
    if (badlen > 0) {
        bad[0] = '\0';
    }
    for (const char *p = spec; *p != '\0';) {
        size_t n = strcspn(p, ", \t");
        if (n == 0) {
            p++;
            continue;
        }
        bool minus = p[0] == '-';
        bool sign = minus || p[0] == '+';
        long found = lookup(p + sign, n - sign);
        /* "-none" and "+none" mean nothing sensible: rejected. */
        if (found < 0 || (sign && found == 0)) {
            if (badlen > 0) {
                snprintf(bad, badlen, "%.*s", (int)n, p);
            }
            return -EINVAL;
        }
        if (minus) {
            acc = (first ? GREEN_PATCH_ALL : acc) & ~(unsigned)found;
        } else {
            acc |= (unsigned)found;
        }
        first = false;
        p += n;
    }
    if (first) {
        return -EINVAL; /* no word at all */
    }
    *bits = acc;
    return 0;
}
