/* SPDX-License-Identifier: MIT */
/* green_strerror() and green_err_name() (green/error.h).
 *
 * Negative errno values go to glibc's strerrordesc_np() and
 * strerrorname_np() (glibc 2.32 and later; meson.build checks that they
 * exist). Both return pointers into glibc's constant tables, or NULL for a
 * number glibc has no entry for, which makes them the thread-safe and
 * leak-free choice: strerror() formats an unknown number into a static
 * buffer that the next call in any thread overwrites, and strerror_r()
 * needs a buffer the caller would have to own.
 *
 * The resolver's range, GREEN_EAI(EAI_x) (green/dns.h), is looked up in
 * the table below, which lists every EAI_* code glibc defines, each with
 * its name (glibc has no function for that) and the English text for the
 * one code gai_strerror() has none for (glibc 2.36 answers EAI_OVERFLOW
 * with "Unknown error"). Only codes in the table reach gai_strerror(), so
 * its own "Unknown error" never escapes as if it were a message. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* strerrorname_np, strerrordesc_np, the GNU EAI_* */
#endif
#include "green/error.h"

#include <netdb.h>
#include <stddef.h>
#include <string.h>

#include "green/dns.h"

static const char unknown_text[] = "unknown error";
static const char unknown_name[] = "UNKNOWN";

/* Every EAI_* code: POSIX's, then glibc's GNU ones (macros, hence the
 * #ifdefs). text is NULL where gai_strerror() has a message. */
static const struct eai_entry {
    int code;
    const char *name;
    const char *text;
} eai_table[] = {
    {EAI_BADFLAGS, "EAI_BADFLAGS", NULL},
    {EAI_NONAME, "EAI_NONAME", NULL},
    {EAI_AGAIN, "EAI_AGAIN", NULL},
    {EAI_FAIL, "EAI_FAIL", NULL},
    {EAI_FAMILY, "EAI_FAMILY", NULL},
    {EAI_SOCKTYPE, "EAI_SOCKTYPE", NULL},
    {EAI_SERVICE, "EAI_SERVICE", NULL},
    {EAI_MEMORY, "EAI_MEMORY", NULL},
    {EAI_SYSTEM, "EAI_SYSTEM", NULL},
    {EAI_OVERFLOW, "EAI_OVERFLOW", "Argument buffer overflow"},
#ifdef EAI_NODATA
    {EAI_NODATA, "EAI_NODATA", NULL},
#endif
#ifdef EAI_ADDRFAMILY
    {EAI_ADDRFAMILY, "EAI_ADDRFAMILY", NULL},
#endif
#ifdef EAI_INPROGRESS
    {EAI_INPROGRESS, "EAI_INPROGRESS", NULL},
#endif
#ifdef EAI_CANCELED
    {EAI_CANCELED, "EAI_CANCELED", NULL},
#endif
#ifdef EAI_NOTCANCELED
    {EAI_NOTCANCELED, "EAI_NOTCANCELED", NULL},
#endif
#ifdef EAI_ALLDONE
    {EAI_ALLDONE, "EAI_ALLDONE", NULL},
#endif
#ifdef EAI_INTR
    {EAI_INTR, "EAI_INTR", NULL},
#endif
#ifdef EAI_IDN_ENCODE
    {EAI_IDN_ENCODE, "EAI_IDN_ENCODE", NULL},
#endif
};

/* The table's entry for err, a resolver error (GREEN_IS_EAI), or NULL. */
static const struct eai_entry *eai_lookup(int err)
{
    int code = err - GREEN_EAI_BASE;
    for (size_t i = 0; i < sizeof(eai_table) / sizeof(eai_table[0]); i++) {
        if (eai_table[i].code == code) {
            return &eai_table[i];
        }
    }
    return NULL;
}

/* Whether err is a negative errno value, -err then being safe to form
 * (INT_MIN is not). The kernel's errno values are below 4096; the
 * resolver's range lies inside that window, so it is asked about first. */
static int is_errno(int err)
{
    return err < 0 && err > -4096;
}

const char *green_strerror(int err)
{
    if (err == 0) {
        return "Success";
    }
    if (GREEN_IS_EAI(err)) {
        const struct eai_entry *e = eai_lookup(err);
        if (e == NULL) {
            return unknown_text;
        }
        return e->text != NULL ? e->text : gai_strerror(e->code);
    }
    if (is_errno(err)) {
        const char *s = strerrordesc_np(-err);
        return s != NULL ? s : unknown_text;
    }
    return unknown_text;
}

const char *green_err_name(int err)
{
    if (err == 0) {
        return "0";
    }
    if (GREEN_IS_EAI(err)) {
        const struct eai_entry *e = eai_lookup(err);
        return e != NULL ? e->name : unknown_name;
    }
    if (is_errno(err)) {
        const char *s = strerrorname_np(-err);
        return s != NULL ? s : unknown_name;
    }
    return unknown_name;
}
