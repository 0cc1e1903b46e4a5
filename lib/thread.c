/* SPDX-License-Identifier: MIT */
/* The per-OS-thread state's lifecycle: made on an OS thread's first use of
 * the runtime, destroyed when that thread exits.
 *
 * Design. Each OS thread that touches libgreen gets a struct green__thread
 * (lib/internal.h): its root greenlet (the thread's own stack), and, made
 * later and lazily by the layers that need them, its hub, its stack pool
 * and its fd registrations. The state is reached through the thread-local
 * pointer green__tls_thread, read on every hot path (every switch, park
 * and wake-up), so green__thread_peek() and green__thread_get() are inline
 * in internal.h and the variable uses the initial-exec TLS model: one load
 * from the thread pointer, no __tls_get_addr call. Only the first use on a
 * thread comes here, to green__thread_create().
 *
 * Thread exit is seen through a pthread key whose destructor tears the
 * state down: the root's timeout scopes, the hub (its loop, fd
 * registrations and signal watcher), the thread's stack arenas. The key
 * is made once per process, through the real pthread_once and
 * pthread_key_create: under the preload those names are green pthreads'
 * own.
 *
 * The state is mapped, not allocated: the first use on a thread may come
 * from inside the program's allocator (jemalloc takes a pthread mutex
 * while it initialises, and under the preload that mutex is green), where
 * a call to malloc would start the allocator again. */
#include "internal.h"
#include "handoff.h"
#include "real.h"
#include "solo.h"
#include "tls.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#ifdef GREEN__ASAN
# include <sanitizer/lsan_interface.h>
/* LeakSanitizer scans stacks, TLS, globals and the heap, not other
 * mappings: what the state points to would read as leaked. */
# define lsan_root(p, n) __lsan_register_root_region(p, n)
# define lsan_unroot(p, n) __lsan_unregister_root_region(p, n)
#else
# define lsan_root(p, n) ((void)0)
# define lsan_unroot(p, n) ((void)0)
#endif

__thread struct green__thread *green__tls_thread
    __attribute__((tls_model("initial-exec")));

static pthread_key_t thread_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void thread_destroy(void *arg)
{
    struct green__thread *t = arg;
    green__handoff_thread_exit(t);
    green__scopes_free(&t->root);
    green__hub_thread_term(t);
    green__stack_thread_term();
    green__task_thread_term(t);
    free(t->root.name);
    lsan_unroot(t, sizeof(*t));
    munmap(t, sizeof(*t));
    green__tls_thread = NULL;
    green__tls_own_forget();
}

static void make_key(void)
{
    GREEN_REAL(pthread_key_create)(&thread_key, thread_destroy);
}

struct green__thread *green__thread_create(void)
{
    GREEN_REAL(pthread_once)(&key_once, make_key);
    struct green__thread *t = mmap(NULL, sizeof(*t), PROT_READ | PROT_WRITE,
                                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (t == MAP_FAILED) {
        return NULL;
    }
    lsan_root(t, sizeof(*t));
    t->errnop = &errno;
    t->os_tp = green__tp_now();
    t->live.prev = t->live.next = &t->live;
    green__waitq_init(&t->run_waiters);
    struct greenlet *r = &t->root;
    r->thread = t;
    r->id = green__greenlet_new_id();
    r->state = GREEN__RUNNING;
    r->flags = GREEN__ROOT | GREEN__STARTED;
#ifdef GREEN__TSAN
    r->tsan_fiber = __tsan_get_current_fiber();
#endif
    r->wait.prev = r->wait.next = &r->wait;
    r->live.prev = &t->live;
    r->live.next = &t->live;
    t->live.next = t->live.prev = &r->live;
    t->current = r;
    green__tls_thread = t;
    GREEN_REAL(pthread_setspecific)(thread_key, t);
    green__tls_own_atfork();
    green__tls_own_register(t->os_tp); /* for set*id (tls.h) */
    green__solo_arrive(t); /* a second thread ends solo mode (solo.h) */
    return t;
}
