/* SPDX-License-Identifier: MIT */
/* The one place libgreen prints (see green/log.h). */
#ifndef GREEN_LOG_INTERNAL_H
#define GREEN_LOG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "green/log.h"

/* Whether a message of this level would go anywhere now; lets a caller
 * skip building a long report. */
bool green__log_on(int level);

/* Formats and sends one message (cut at 1,000 bytes, with "..." to say
 * so). Formatting uses vsnprintf: not for signal handlers. */
void green__log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sends msg[0..len) as it is: nothing but a copy and a write, for signal
 * handlers. */
void green__log_raw(int level, const char *msg, size_t len);

/* GREEN_DEBUG's level, 0 (quiet) to 9; read on first use. */
int green__debug_level(void);

#endif
