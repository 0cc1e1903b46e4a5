/* SPDX-License-Identifier: MIT */
/* The only main() of the unit tests: runs every suite in test/suites.h, or
 * the one named by CK_RUN_SUITE (Check reads that itself), forking per test
 * unless CK_FORK=no. */
#include <stdlib.h>

#include "suites.h"

int main(void)
{
    /* The suites read the runtime's reports (deadlocks, the monitor),
     * which a program that patched nothing only prints when asked. */
    setenv("GREEN_DEBUG", "2", 0);
    SRunner *sr = srunner_create(NULL);

#define GREEN_TEST_ADD(name) srunner_add_suite(sr, green_test_##name##_suite());
    GREEN_TEST_SUITES(GREEN_TEST_ADD)
#undef GREEN_TEST_ADD

    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
