/* SPDX-License-Identifier: MIT */
/* The error suite (include/green/error.h): green_strerror() and
 * green_err_name() for negative errno values (several by their exact
 * text and name, then every errno glibc names against glibc's own
 * tables), for the resolver's range GREEN_EAI(EAI_x) (several exactly,
 * then every EAI_* code), for 0, and for what is neither: positive
 * numbers, holes in the errno range, codes in the resolver's range that
 * are no EAI_* code, INT_MIN. It also checks that every answer is a
 * static string that later calls leave alone.
 *
 * And the version functions (include/green/version.h), too small for a
 * suite of their own: the library's version is the headers' here, since
 * the tests are built with the library. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include <green.h>

#include "suites.h"

/* Asserts both answers for err. */
#define check_err(err, text, name)                                         \
    do {                                                                   \
        ck_assert_str_eq(green_strerror(err), (text));                     \
        ck_assert_str_eq(green_err_name(err), (name));                     \
    } while (0)

/* --- errno values ----------------------------------------------------- */

START_TEST(errno_known)
{
    check_err(-EINVAL, "Invalid argument", "EINVAL");
    check_err(-ENOENT, "No such file or directory", "ENOENT");
    check_err(-ENOMEM, "Cannot allocate memory", "ENOMEM");
    check_err(-ETIMEDOUT, "Connection timed out", "ETIMEDOUT");
    check_err(-ECANCELED, "Operation canceled", "ECANCELED");
    check_err(-EDEADLK, "Resource deadlock avoided", "EDEADLK");
    check_err(-EPERM, "Operation not permitted", "EPERM");
    check_err(-ESRCH, "No such process", "ESRCH");
    check_err(-EBUSY, "Device or resource busy", "EBUSY");
    check_err(-ENOSYS, "Function not implemented", "ENOSYS");
    check_err(-ECONNREFUSED, "Connection refused", "ECONNREFUSED");
}
END_TEST

/* Aliases have glibc's one name. */
START_TEST(errno_aliases)
{
    ck_assert_str_eq(green_err_name(-EWOULDBLOCK), "EAGAIN");
    ck_assert_str_eq(green_err_name(-EDEADLOCK), "EDEADLK");
    ck_assert_str_eq(green_err_name(-ENOTSUP), "EOPNOTSUPP");
    ck_assert_str_eq(green_strerror(-EWOULDBLOCK),
                     "Resource temporarily unavailable");
}
END_TEST

/* Every errno glibc knows, in its own words; the holes are unknown (the
 * resolver's range, inside the errno-sized window, is eai_all's). */
START_TEST(errno_all)
{
    int known = 0;
    for (int e = 1; e < 4096; e++) {
        if (GREEN_IS_EAI(-e)) {
            continue;
        }
        const char *name = strerrorname_np(e);
        const char *desc = strerrordesc_np(e);
        if (name != NULL && desc != NULL) {
            ck_assert_str_eq(green_err_name(-e), name);
            ck_assert_str_eq(green_strerror(-e), desc);
            ck_assert_int_eq(name[0], 'E');
            known++;
        } else {
            ck_assert_str_eq(green_err_name(-e), "UNKNOWN");
            ck_assert_str_eq(green_strerror(-e), "unknown error");
        }
    }
    ck_assert_int_ge(known, 130); /* Linux has 133 */
}
END_TEST

/* --- the resolver's range --------------------------------------------- */

START_TEST(eai_known)
{
    check_err(GREEN_EAI(EAI_NONAME), "Name or service not known",
              "EAI_NONAME");
    check_err(GREEN_EAI(EAI_AGAIN), "Temporary failure in name resolution",
              "EAI_AGAIN");
    check_err(GREEN_EAI(EAI_SERVICE),
              "Servname not supported for ai_socktype", "EAI_SERVICE");
    check_err(GREEN_EAI(EAI_FAMILY), "ai_family not supported",
              "EAI_FAMILY");
    check_err(GREEN_EAI(EAI_NODATA), "No address associated with hostname",
              "EAI_NODATA");
    check_err(GREEN_EAI(EAI_SYSTEM), "System error", "EAI_SYSTEM");
    /* glibc has no text for this one; ours is not "Unknown error". */
    check_err(GREEN_EAI(EAI_OVERFLOW), "Argument buffer overflow",
              "EAI_OVERFLOW");
}
END_TEST

/* Every EAI_* code: its macro's name, gai_strerror's text. */
START_TEST(eai_all)
{
    static const struct {
        int code;
        const char *name;
    } all[] = {
        {EAI_BADFLAGS, "EAI_BADFLAGS"},   {EAI_NONAME, "EAI_NONAME"},
        {EAI_AGAIN, "EAI_AGAIN"},         {EAI_FAIL, "EAI_FAIL"},
        {EAI_FAMILY, "EAI_FAMILY"},       {EAI_SOCKTYPE, "EAI_SOCKTYPE"},
        {EAI_SERVICE, "EAI_SERVICE"},     {EAI_MEMORY, "EAI_MEMORY"},
        {EAI_SYSTEM, "EAI_SYSTEM"},       {EAI_OVERFLOW, "EAI_OVERFLOW"},
        {EAI_NODATA, "EAI_NODATA"},       {EAI_ADDRFAMILY, "EAI_ADDRFAMILY"},
        {EAI_INPROGRESS, "EAI_INPROGRESS"}, {EAI_CANCELED, "EAI_CANCELED"},
        {EAI_NOTCANCELED, "EAI_NOTCANCELED"}, {EAI_ALLDONE, "EAI_ALLDONE"},
        {EAI_INTR, "EAI_INTR"},           {EAI_IDN_ENCODE, "EAI_IDN_ENCODE"},
    };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        int err = GREEN_EAI(all[i].code);
        ck_assert_str_eq(green_err_name(err), all[i].name);
        if (all[i].code != EAI_OVERFLOW) {
            ck_assert_str_eq(green_strerror(err), gai_strerror(all[i].code));
        }
        ck_assert_str_ne(green_strerror(err), "unknown error");
        ck_assert_str_ne(green_strerror(err), "Unknown error");
    }
}
END_TEST

/* --- zero and unknown codes ------------------------------------------- */

START_TEST(zero)
{
    check_err(0, "Success", "0");
}
END_TEST

START_TEST(unknown)
{
    static const int codes[] = {
        -41,                  /* a hole in Linux's errno numbers */
        -4095,                /* errno-sized, unnamed */
        -4096, -100000,       /* neither errno nor resolver */
        GREEN_EAI_BASE,       /* GREEN_EAI(0): no EAI code is 0 */
        GREEN_EAI(-13),       /* in the range, no EAI code */
        GREEN_EAI(-200),      /* the range's far end */
        INT_MIN,              /* -INT_MIN would overflow */
        INT_MIN + 1,
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        check_err(codes[i], "unknown error", "UNKNOWN");
    }
}
END_TEST

/* libgreen's errors are negative: a positive errno is a sign slip, shown
 * as unknown rather than quietly read as its negative. */
START_TEST(positive)
{
    check_err(EINVAL, "unknown error", "UNKNOWN");
    check_err(1, "unknown error", "UNKNOWN");
    check_err(-EAI_NONAME, "unknown error", "UNKNOWN");
    check_err(INT_MAX, "unknown error", "UNKNOWN");
}
END_TEST

/* One fixed string per answer: no buffer that the next call rewrites. */
START_TEST(static_strings)
{
    const char *a = green_strerror(-EINVAL);
    const char *u1 = green_strerror(-100000);
    const char *n1 = green_err_name(12345);
    const char *e = green_strerror(GREEN_EAI(EAI_NONAME));
    for (int i = -5000; i < 5000; i += 7) {
        (void)green_strerror(i);
        (void)green_err_name(i);
    }
    ck_assert_ptr_eq(green_strerror(-12345), u1);
    ck_assert_ptr_eq(green_err_name(-100000), n1);
    ck_assert_ptr_eq(green_strerror(-EINVAL), a);
    ck_assert_str_eq(a, "Invalid argument");
    ck_assert_str_eq(u1, "unknown error");
    ck_assert_str_eq(n1, "UNKNOWN");
    ck_assert_str_eq(e, "Name or service not known");
}
END_TEST

/* --- the version ------------------------------------------------------ */

START_TEST(version)
{
    char s[32];
    snprintf(s, sizeof(s), "%d.%d.%d", GREEN_VERSION_MAJOR,
             GREEN_VERSION_MINOR, GREEN_VERSION_PATCH);
    ck_assert_str_eq(green_version_string(), s);
    ck_assert_str_eq(green_version_string(), GREEN_VERSION_STRING);
    ck_assert_uint_eq(green_version(), GREEN_VERSION_HEX);
    ck_assert_uint_eq(green_version(),
                      (unsigned)(GREEN_VERSION_MAJOR << 16 |
                                 GREEN_VERSION_MINOR << 8 |
                                 GREEN_VERSION_PATCH));
}
END_TEST

Suite *green_test_error_suite(void)
{
    Suite *s = suite_create("error");

    TCase *tc = tcase_create("errno");
    tcase_add_test(tc, errno_known);
    tcase_add_test(tc, errno_aliases);
    tcase_add_test(tc, errno_all);
    suite_add_tcase(s, tc);

    tc = tcase_create("eai");
    tcase_add_test(tc, eai_known);
    tcase_add_test(tc, eai_all);
    suite_add_tcase(s, tc);

    tc = tcase_create("unknown");
    tcase_add_test(tc, zero);
    tcase_add_test(tc, unknown);
    tcase_add_test(tc, positive);
    tcase_add_test(tc, static_strings);
    suite_add_tcase(s, tc);

    tc = tcase_create("version");
    tcase_add_test(tc, version);
    suite_add_tcase(s, tc);
    return s;
}
