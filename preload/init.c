/* SPDX-License-Identifier: MIT */
/* The preload's start. It needs nothing before the first interposed call:
 * the real-symbol table fills itself on first use and the patch mask
 * settles on first use (lib/patch.c), so another library's constructor
 * may call into the preload before this one runs. The constructor only
 * does both early, so that main starts with them settled. */
#include "preload.h"

#include "log.h"
#include "monitor.h"
#include "dump.h"

/* Tells the core that this build has the interposers (green_patch). */
const char green__interposers[] = "preload";

__attribute__((constructor(102))) static void preload_ctor(void)
{
    green__real_init();
    unsigned m = green__patch_settle();
    /* Said here, not where the mask settles: that may be inside a
     * sanitizer's start, where formatting is not allowed yet. */
    green__log(GREEN_LOG_INFO, "%s, patched families 0x%x",
               green__preloaded() ? "preloaded" : "linked", m);
    /* The watchdog sees main from here on, also blocked before its first
     * green call (lib/watchdog.c). */
    green__monitor_early();
    /* GREEN_DUMP_SIGNAL: a dump of every green thread (lib/dump.c). */
    green__dump_signal_setup();
}
