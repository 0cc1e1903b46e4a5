/* SPDX-License-Identifier: MIT */
/* Assertions and small steps shared by the suites (they need Check, so
 * they live apart from test/helpers.h). */
#ifndef GREEN_TEST_CHECKS_H
#define GREEN_TEST_CHECKS_H

#include <check.h>
#include <sys/wait.h>

#include <green.h>

#include "helpers.h"

/* Upper time bounds grow with valgrind's and ASan's slowness; lower
 * bounds never shrink. */
static inline double slow(double seconds)
{
    return seconds * green_test_slowdown();
}

/* Asserts that lo <= seconds since t0 < hi. */
#define check_elapsed(t0, lo, hi)                                          \
    do {                                                                   \
        double el_ = green_test_now() - (t0);                              \
        ck_assert_msg(el_ >= (lo) && el_ < (hi),                           \
                      "took %.3f s, wanted [%.3f, %.3f)", el_,             \
                      (double)(lo), (double)(hi));                         \
    } while (0)

/* Asserts that a forked child exited with `code`, showing its stderr. */
#define check_child(status, code, out)                                     \
    do {                                                                   \
        char why_[64];                                                     \
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == (code),  \
                      "child: %s, wanted exit %d; stderr: %s",             \
                      green_test_describe_status(status, why_,             \
                                                 sizeof why_),             \
                      (code), (out));                                      \
    } while (0)

/* Joins t (it must end within a couple of seconds) and gives it back. */
static inline void join_release(green_task_t *t)
{
    ck_assert_int_eq(green_join(t, slow(2.0), NULL), 0);
    green_task_release(t);
}

/* Sleeps in small steps until *flag reaches want (at most ~2 s). */
static inline void wait_flag(const int *flag, int want)
{
    for (int i = 0; i < 400 && *flag < want; i++) {
        ck_assert_int_eq(green_sleep(0.005), 0);
    }
    ck_assert_int_ge(*flag, want);
}

#endif
