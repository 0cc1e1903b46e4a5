/* SPDX-License-Identifier: MIT */
/* Definitions shared by every libgreen header. */
#ifndef GREEN_COMMON_H
#define GREEN_COMMON_H

#include <math.h>

#if defined(__GNUC__) && __GNUC__ >= 4
# define GREEN_EXTERN __attribute__((visibility("default")))
#else
# define GREEN_EXTERN
#endif

/* A timeout that never expires. Every timeout in libgreen is in seconds, a
 * double; 0 means "do not wait", GREEN_FOREVER means "no deadline", and a
 * negative or NaN timeout is rejected with -EINVAL. */
#define GREEN_FOREVER HUGE_VAL

#endif
