/* SPDX-License-Identifier: MIT */
/* libgreen's version, as the headers know it and as the library was built.
 *
 * The version's one source of truth is project() in meson.build: meson
 * reads this file when it configures and stops with an error unless the
 * four GREEN_VERSION_* lines below spell that version exactly (one line
 * each, "#define NAME VALUE", as written here). A release bumps both in
 * the same commit; they cannot drift apart silently. The header is kept
 * as a plain file rather than generated so that the source tree's
 * include/ works on its own (a subproject, an IDE, -I by hand).
 *
 * GREEN_VERSION_HEX packs the version as libuv's UV_VERSION_HEX does, so
 * that versions compare as numbers: 0.1.0 is 0x000100, 1.2.3 is 0x010203.
 *
 * The macros say which version a program was compiled against;
 * green_version() and green_version_string() say which library it runs
 * with. A program that needs at least the version it was built with
 * compares the two:
 *
 *     if (green_version() < GREEN_VERSION_HEX)
 *         fprintf(stderr, "libgreen %s is older than %s\n",
 *                 green_version_string(), GREEN_VERSION_STRING);
 */
#ifndef GREEN_VERSION_H
#define GREEN_VERSION_H

#include "common.h"

#define GREEN_VERSION_MAJOR 0
#define GREEN_VERSION_MINOR 1
#define GREEN_VERSION_PATCH 0
#define GREEN_VERSION_STRING "0.1.0"

#define GREEN_VERSION_HEX                                                   \
    ((GREEN_VERSION_MAJOR << 16) | (GREEN_VERSION_MINOR << 8) |             \
     GREEN_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the libgreen the program runs with, packed as
 * GREEN_VERSION_HEX is (major << 16 | minor << 8 | patch). Never
 * switches. */
GREEN_EXTERN unsigned green_version(void);

/* The same version as text, "0.1.0": a static string. Never switches. */
GREEN_EXTERN const char *green_version_string(void);

#ifdef __cplusplus
}
#endif

#endif
