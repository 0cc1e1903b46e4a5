/* SPDX-License-Identifier: MIT */
/* The one list of Check suites: each test/test_<name>.c defines
 * green_test_<name>_suite(). test/runner.c and test/meson.build use it. */
#ifndef GREEN_TEST_SUITES_H
#define GREEN_TEST_SUITES_H

#include <check.h>

#define GREEN_TEST_SUITES(X) \
    X(switch)                \
    X(stack)                 \
    X(greenlet)              \
    X(hub)                   \
    X(task)                  \
    X(hubs)                  \
    X(io)                    \
    X(event)                 \
    X(future)                \
    X(queue)                 \
    X(timeout)               \
    X(lock)                  \
    X(gather)                \
    X(pool)                  \
    X(dns)                   \
    X(error)                 \
    X(parking)               \
    X(futex)                 \
    X(workers)               \
    X(watchdog)              \
    X(dump)                  \
    X(cycle)

#define GREEN_TEST_DECLARE(name) Suite *green_test_##name##_suite(void);
GREEN_TEST_SUITES(GREEN_TEST_DECLARE)
#undef GREEN_TEST_DECLARE

#endif
