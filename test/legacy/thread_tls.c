/* SPDX-License-Identifier: MIT */
/* Thread-local storage is per thread, as it is natively:
 *   - __thread variables with and without initialisers, written by each
 *     of N threads in turns (a ticker interleaves them), each seeing its
 *     own values and main its untouched ones;
 *   - errno set in one thread is not seen by another that runs between;
 *   - a TLS variable of a library loaded with dlopen (dynamic TLS,
 *     __tls_get_addr) is per thread too;
 *   - thread-specific data, locale functions and strerror_r in threads;
 *   - pthread_self() is the value pthread_create returned, pthread_equal
 *     and pthread_getattr_np agree on it, and a thread's stack, as
 *     getattr_np reports it, holds its locals;
 *   - C library state that lives in TLS: the ctype tables (toupper) and
 *     gethostbyname's answer buffer, which must be freed at thread end.
 * Prints counts and booleans only, identical natively and preloaded. */
#include "legacy.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define N 8
#define ROUNDS 50

static __thread int with_init = 1000;
static __thread long zeroed;
static __thread char name[32];

static pthread_barrier_t turn;
static int good[N], errno_good[N], self_good[N], stack_good[N], tls_lib_good[N];
static pthread_t handles[N];

static int (*lib_bump)(int);

static void *body(void *arg)
{
    long id = (long)arg;
    snprintf(name, sizeof(name), "thread-%ld", id);
    int ok = 1;
    for (int r = 0; r < ROUNDS; r++) {
        with_init += (int)id;
        zeroed += id * 2;
        errno = (int)(id + 1);
        /* Every thread takes a step between this thread's write and its
         * read: a shared copy would show someone else's value. */
        pthread_barrier_wait(&turn);
        ok &= with_init == 1000 + (int)id * (r + 1);
        ok &= zeroed == id * 2 * (r + 1);
        errno_good[id] += errno == (int)(id + 1);
        pthread_barrier_wait(&turn);
    }
    char want[32];
    snprintf(want, sizeof(want), "thread-%ld", id);
    good[id] = ok && strcmp(name, want) == 0;

    pthread_t me = pthread_self();
    self_good[id] = pthread_equal(me, handles[id]) &&
                    !pthread_equal(me, handles[(id + 1) % N]);
    pthread_attr_t a;
    void *lo;
    size_t size;
    if (pthread_getattr_np(me, &a) == 0 &&
        pthread_attr_getstack(&a, &lo, &size) == 0) {
        char *local = (char *)&a;
        stack_good[id] = local >= (char *)lo && local < (char *)lo + size;
        pthread_attr_destroy(&a);
    }
    if (lib_bump != NULL) {
        int mine = 1;
        for (int r = 0; r < 10; r++) {
            mine &= lib_bump((int)id) == (int)id * (r + 1);
            pthread_barrier_wait(&turn);
        }
        tls_lib_good[id] = mine;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    (void)argc;
    /* The dlopen'd module: next to this program. */
    char path[4096];
    snprintf(path, sizeof(path), "%s", argv[0]);
    char *slash = strrchr(path, '/');
    if (slash != NULL) {
        snprintf(slash + 1, sizeof(path) - (size_t)(slash + 1 - path),
                 "liblegacy-tlsmod.so");
    }
    void *mod = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    LEGACY_CHECK(mod != NULL);
    lib_bump = (int (*)(int))dlsym(mod, "tlsmod_bump");
    LEGACY_CHECK(lib_bump != NULL);

    LEGACY_CHECK(pthread_barrier_init(&turn, NULL, N) == 0);
    for (long i = 0; i < N; i++) {
        LEGACY_CHECK(pthread_create(&handles[i], NULL, body, (void *)i) == 0);
    }
    LEGACY_CHECK_ONE_THREAD();
    for (int i = 0; i < N; i++) {
        LEGACY_CHECK(pthread_join(handles[i], NULL) == 0);
    }
    int all = 0, errs = 0, selves = 0, stacks = 0, libs = 0;
    for (int i = 0; i < N; i++) {
        all += good[i];
        errs += errno_good[i] == ROUNDS;
        selves += self_good[i];
        stacks += stack_good[i];
        libs += tls_lib_good[i];
    }
    printf("threads with their own __thread values: %d of %d\n", all, N);
    printf("threads with their own errno: %d of %d\n", errs, N);
    printf("threads whose pthread_self is their handle: %d of %d\n", selves,
           N);
    printf("threads whose stack holds their locals: %d of %d\n", stacks, N);
    printf("threads with their own dlopen'd TLS: %d of %d\n", libs, N);
    printf("main's values untouched: %d\n",
           with_init == 1000 && zeroed == 0 && name[0] == '\0');
    printf("main's dlopen'd TLS untouched: %d\n", lib_bump(0) == 0);
    printf("toupper in main: %c\n", toupper('q'));
    return all == N && errs == N && selves == N && stacks == N && libs == N
               ? 0
               : 1;
}
