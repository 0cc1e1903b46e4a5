/* SPDX-License-Identifier: MIT */
/* Dumps of every green thread, and the counters (lib/dump.c; the API is
 * include/green/dump.h).
 *
 * The hub asks on every turn whether a dump signal came
 * (green__dump_poll): one relaxed load of a word that is 0 unless one
 * did, so the hot path pays nothing more. The signal's handler only sets
 * that word and wakes a hub; the dump is written by the hub, where
 * nothing runs meanwhile and every greenlet's wait descriptor
 * (lib/internal.h) is at rest. */
#ifndef GREEN_DUMP_INTERNAL_H
#define GREEN_DUMP_INTERNAL_H

#include "internal.h"

/* 0: no dump asked; 1: a dump signal came; 2: a hub is writing it (more
 * signals meanwhile are that dump's, not another one). */
extern int green__dump_asked;

/* The hub's part: writes the asked dump of t's green threads to stderr. */
void green__dump_run(struct green__thread *t);

static inline void green__dump_poll(struct green__thread *t)
{
    if (GREEN__UNLIKELY(__atomic_load_n(&green__dump_asked,
                                        __ATOMIC_RELAXED) == 1)) {
        green__dump_run(t);
    }
}

/* The preload's start: reads GREEN_DUMP_SIGNAL and, if it names a signal
 * that may be used, installs the handler that asks for a dump. An
 * unknown or reserved one is reported (lib/config.c's rule) and no
 * handler is installed. */
void green__dump_signal_setup(void);

/* The signal GREEN_DUMP_SIGNAL made the dump signal, or 0. */
int green__dump_signal(void);

#endif
