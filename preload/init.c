/* Configuration of the preload, read once at load: GREEN_PATCH and
 * GREEN_DEBUG. (GREEN_STACK_SIZE belongs to lib/stack.c,
 * GREEN_MAX_BLOCKING_MS to the hub's monitor.) Invalid values get a
 * message on stderr and the default. */
#include "preload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

unsigned green__patched = GREEN_PATCH_ALL;
int green__debug;

static const struct {
    const char *name;
    unsigned bits;
} families[] = {
    {"all", GREEN_PATCH_ALL},       {"socket", GREEN_PATCH_SOCKET},
    {"select", GREEN_PATCH_SELECT}, {"time", GREEN_PATCH_TIME},
    {"thread", GREEN_PATCH_THREAD}, {"dns", GREEN_PATCH_DNS},
    {"signal", GREEN_PATCH_SIGNAL}, {"os", GREEN_PATCH_OS},
};

/* Parses "all,-thread", "socket,time", ... into *out. Returns 0, or -1
 * with the offending word in bad. A list that starts with a removal
 * starts from "all". */
static int parse_patch(const char *spec, unsigned *out, char *bad,
                       size_t badlen)
{
    unsigned bits = 0;
    bool first = true;
    const char *p = spec;
    while (*p != '\0') {
        size_t n = strcspn(p, ", ");
        if (n != 0) {
            bool minus = p[0] == '-';
            const char *w = p + (minus || p[0] == '+');
            size_t wn = n - (size_t)(w - p);
            unsigned found = 0;
            for (size_t i = 0; i < sizeof(families) / sizeof(families[0]);
                 i++) {
                if (strlen(families[i].name) == wn &&
                    strncmp(families[i].name, w, wn) == 0) {
                    found = families[i].bits;
                }
            }
            if (found == 0) {
                snprintf(bad, badlen, "%.*s", (int)n, p);
                return -1;
            }
            if (minus) {
                bits = (first ? GREEN_PATCH_ALL : bits) & ~found;
            } else {
                bits |= found;
            }
            first = false;
        }
        p += n;
        p += *p != '\0';
    }
    *out = bits;
    return 0;
}

void green__preload_init(void)
{
    static bool done;
    if (done) {
        return;
    }
    done = true;
    const char *spec = getenv("GREEN_PATCH");
    if (spec != NULL) {
        char bad[64];
        unsigned bits;
        if (parse_patch(spec, &bits, bad, sizeof(bad)) == 0) {
            green__patched = bits;
        } else {
            fprintf(stderr,
                    "libgreen: GREEN_PATCH=%s: unknown family '%s' (known: "
                    "all socket select time thread dns signal os, each "
                    "may be prefixed with -); patching all\n",
                    spec, bad);
        }
    }
    const char *dbg = getenv("GREEN_DEBUG");
    if (dbg != NULL && *dbg != '\0') {
        char *end;
        long v = strtol(dbg, &end, 10);
        if (*end != '\0' || v < 0 || v > 9) {
            fprintf(stderr,
                    "libgreen: GREEN_DEBUG=%s: expected a level 0-9; "
                    "using 0\n",
                    dbg);
        } else {
            green__debug = (int)v;
        }
    }
    if (green__debug > 0) {
        fprintf(stderr, "libgreen: preload active, patch mask 0x%x\n",
                green__patched);
    }
}

__attribute__((constructor(102))) static void preload_ctor(void)
{
    green__real_init();
    green__preload_init();
}
