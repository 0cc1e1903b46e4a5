/* SPDX-License-Identifier: MIT */
/* green_version() and green_version_string() (green/version.h).
 *
 * They return the macros as this file saw them when the library was
 * built, which is the point: a program compiled against other headers
 * gets the library's version, not its own. meson.build checks at
 * configure time that the header agrees with project()'s version, and
 * the static assertion below that each part fits the 8 bits the packed
 * number gives it (so that packed versions still compare as numbers). */
#include "green/version.h"

_Static_assert(GREEN_VERSION_MAJOR < 256 && GREEN_VERSION_MINOR < 256 &&
                   GREEN_VERSION_PATCH < 256,
               "GREEN_VERSION_HEX has 8 bits per part");

unsigned green_version(void)
{
    return GREEN_VERSION_HEX;
}

const char *green_version_string(void)
{
    return GREEN_VERSION_STRING;
}
