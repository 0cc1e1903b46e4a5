/* SPDX-License-Identifier: MIT */
/* For test/legacy/early.c: a library whose constructor, run before main
 * and (in one LD_PRELOAD order) before libgreen's own, creates a thread,
 * takes a mutex, allocates and resolves a symbol with dlsym, as real
 * libraries' constructors do. Built without libgreen. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pthread_t early_thread;
int early_created;
int early_dlsym_ok;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *block;
int early_worker_ran;

static void *worker(void *arg)
{
    (void)arg;
    usleep(20000);
    pthread_mutex_lock(&lock);
    early_worker_ran = block != NULL && strcmp(block, "early") == 0;
    pthread_mutex_unlock(&lock);
    return NULL;
}

__attribute__((constructor(101))) static void early_ctor(void)
{
    pthread_mutex_lock(&lock);
    block = malloc(16);
    if (block != NULL) {
        strcpy(block, "early");
    }
    pthread_mutex_unlock(&lock);
    early_dlsym_ok = dlsym(RTLD_DEFAULT, "pthread_create") != NULL;
    early_created = pthread_create(&early_thread, NULL, worker, NULL) == 0;
}
