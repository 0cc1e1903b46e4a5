/* SPDX-License-Identifier: MIT */
/* Libraries' constructors run before main, and under the preload maybe
 * before libgreen's: test/legacy/early_lib.c's creates a thread, takes a
 * mutex, allocates and calls dlsym there. main joins the thread, which
 * must have run, and prints what it saw (the same natively and under the
 * preload), and under the preload checks one OS thread. */
#include "legacy.h"

#include <pthread.h>
#include <stdio.h>

extern pthread_t early_thread;
extern int early_created, early_dlsym_ok, early_worker_ran;

int main(void)
{
    LEGACY_CHECK(early_created);
    LEGACY_CHECK(early_dlsym_ok);
    LEGACY_CHECK_ONE_THREAD();
    LEGACY_CHECK(pthread_join(early_thread, NULL) == 0);
    LEGACY_CHECK(early_worker_ran);
    printf("early: thread created before main ran and was joined\n");
    return 0;
}
