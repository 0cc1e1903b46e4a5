/* SPDX-License-Identifier: MIT */
/* Where libgreen's messages go.
 *
 * Every line libgreen prints (a bad GREEN_* value, the blocking monitor,
 * a deadlock report, a fatal error just before abort) goes through one
 * function, by default one that writes "libgreen: MESSAGE\n" to stderr.
 * A program can send them elsewhere, to its own log, or drop them.
 *
 * What is printed: errors and warnings always; GREEN_DEBUG=1 adds the
 * informational lines, GREEN_DEBUG=2 and up the debugging ones. A program
 * that patched nothing prints nothing of its own accord: its blocking
 * monitor is off unless GREEN_MAX_BLOCKING_MS is set, and its deadlock
 * reports are debugging lines (the wait that would hang returns -EDEADLK,
 * which says it). */
#ifndef GREEN_LOG_H
#define GREEN_LOG_H

#include "green/common.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
    GREEN_LOG_ERROR = 0,   /* the program is about to stop, or lost
                              something */
    GREEN_LOG_WARNING = 1, /* a bad setting, a blocked hub, a deadlock */
    GREEN_LOG_INFO = 2,    /* what was configured (GREEN_DEBUG=1) */
    GREEN_LOG_DEBUG = 3    /* GREEN_DEBUG=2 and up */
};

/* Receives one message: a single line, without the "libgreen: " prefix
 * and without a newline. It may be called from any OS thread, from the
 * hub, and for GREEN_LOG_ERROR from a signal handler just before the
 * process aborts; it must not call back into libgreen. */
typedef void (*green_log_fn)(void *userdata, int level, const char *message);

/* Sends every later message to fn(userdata, level, message); fn NULL puts
 * back the default (stderr). Set it before other threads run: a message
 * logged while it changes may go to either function. Never switches. */
GREEN_EXTERN void green_set_log(green_log_fn fn, void *userdata);

#ifdef __cplusplus
}
#endif

#endif
