/* SPDX-License-Identifier: MIT */
/* More hubs for new code (green/hubs.h).
 *
 * Each started hub is an OS thread of the runtime's own (lib/workers.c's
 * green__os_thread: named green-hub-K, every signal blocked) whose root
 * greenlet makes the thread's green state and hub, publishes the thread,
 * and waits for its stop event; its hub runs the tasks sent to it
 * meanwhile (lib/task.c: a spawn from another thread is a message to the
 * target's inbox). Stopping sets every stop event; each hub then runs its
 * remaining tasks to their end and sets its `ended` event, the last thing
 * it touches, which the stopper waits for before it frees the table.
 *
 * The table of hubs is written only by a start or a stop, one at a time
 * (`busy`), and read by spawns, which see either no hubs or all of them:
 * `count` is stored last on start and first on stop. A forked child
 * starts with one hub. */
#include "internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "real.h"
#include "scheduler.h"
#include "green/event.h"
#include "green/hubs.h"
#include "green/patch.h"
#include "patch.h"
#include "workers.h"

#define HUBS_MAX 1024

struct hub {
    struct green__thread *t;      /* its green state, once it runs */
    green_event_t *started, *stop, *ended;
};

static struct hub *table;         /* [1, count): hub 0 is the caller's */
static int count;                 /* atomic: 0 or 1 while none is started */
static int busy;                  /* atomic: a start or stop is under way */
static unsigned next_pick;        /* atomic: where a tie starts */

/* Waits for e, shielded from kills and timeout scopes: what the event
 * says must have happened before the caller goes on. */
static void wait_surely(green_event_t *e)
{
    struct greenlet *self = greenlet_current();
    unsigned char shield = self->flags & GREEN__SHIELD;
    self->flags |= GREEN__SHIELD;
    while (green_event_wait(e, GREEN_FOREVER) != 0) {
        green_sleep(0.001); /* -ENOMEM or a deadlock report: again */
    }
    self->flags = (unsigned char)((self->flags & ~GREEN__SHIELD) | shield);
}

static void *hub_main(void *arg)
{
    struct hub *h = arg;
    struct green__thread *t = green__hub_thread();
    h->t = t;
    green_event_set(h->started);
    if (t != NULL) {
        wait_surely(h->stop); /* the hub runs tasks meanwhile */
        /* Its tasks to their end (or until nothing could end them:
         * -EDEADLK), and what was sent before the stop (spawns, kills,
         * releases still in the inbox) read first. */
        for (;;) {
            int r = green_run();
            if (r != -ENOMEM &&
                __atomic_load_n(&t->inbound, __ATOMIC_ACQUIRE) == 0 &&
                __atomic_load_n(&t->remote, __ATOMIC_ACQUIRE) == NULL) {
                break;
            }
            green_sleep(0.001);
        }
    }
    green_event_set(h->ended); /* h may be freed from here on */
    return NULL;
}

/* The number of hubs when none is asked for: GREEN_HUBS, else the CPUs
 * the process may run on (as Go's GOMAXPROCS). */
static int default_count(void)
{
    cpu_set_t set;
    long cpus = 1;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        cpus = CPU_COUNT(&set);
    }
    if (cpus < 1) {
        cpus = 1;
    } else if (cpus > HUBS_MAX) {
        cpus = HUBS_MAX;
    }
    return (int)green__env_long("GREEN_HUBS", 1, HUBS_MAX, cpus,
                                "a number of hubs from 1 to 1024");
}

static void free_hub(struct hub *h)
{
    green_event_free(h->started);
    green_event_free(h->stop);
    green_event_free(h->ended);
}

/* Stops and frees table[1, n). */
static void stop_hubs(int n)
{
    for (int i = 1; i < n; i++) {
        green_event_set(table[i].stop);
    }
    for (int i = 1; i < n; i++) {
        wait_surely(table[i].ended);
        free_hub(&table[i]);
    }
    free(table);
    table = NULL;
}

/* A forked child has only the thread that forked: one hub, its own. The
 * table, whose threads are not there, is left as it was. */
static void fork_child(void)
{
    table = NULL;
    __atomic_store_n(&count, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&busy, 0, __ATOMIC_RELAXED);
}

static void register_fork(void)
{
    pthread_atfork(NULL, NULL, fork_child);
}

static bool take_busy(void)
{
    int zero = 0;
    return __atomic_compare_exchange_n(&busy, &zero, 1, false,
                                       __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

int green_hubs_start(int n)
{
    if (n < 0 || n > HUBS_MAX) {
        return -EINVAL;
    }
    if (n == 0) {
        n = default_count();
    }
    if (n > 1 && (green__patch_settle() & GREEN_PATCH_THREAD)) {
        /* The hubs' threads would be native ones to the pthread family,
         * whose objects then must not be shared with the green pthreads
         * (green/hubs.h): refused rather than a silent mix of the two. */
        return -ENOTSUP;
    }
    if (!take_busy()) {
        return -EBUSY;
    }
    if (__atomic_load_n(&count, __ATOMIC_ACQUIRE) > 1) {
        __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
        return -EBUSY;
    }
    int r = 0;
    if (n > 1 && (table = calloc((size_t)n, sizeof(*table))) == NULL) {
        r = -ENOMEM;
    }
    int made = 1;
    while (r == 0 && made < n) {
        struct hub *h = &table[made];
        if (green_event_new(&h->started) != 0 ||
            green_event_new(&h->stop) != 0 ||
            green_event_new(&h->ended) != 0) {
            free_hub(h);
            r = -ENOMEM;
            break;
        }
        char name[24]; /* green-hub-1023 at most */
        snprintf(name, sizeof(name), "green-hub-%d", made);
        int e = green__os_thread_waking(name, hub_main, h);
        if (e == 0) {
            wait_surely(h->started);
            if (h->t == NULL) {
                e = -ENOMEM; /* it could not make its hub */
                wait_surely(h->ended);
            }
        }
        if (e != 0) {
            free_hub(h);
            r = e == -ENOMEM ? -ENOMEM : -EAGAIN;
            break;
        }
        made++;
    }
    if (r != 0 && table != NULL) {
        stop_hubs(made); /* none is left running */
    }
    if (r == 0 && n > 1) {
        static pthread_once_t once = PTHREAD_ONCE_INIT;
        GREEN_REAL(pthread_once)(&once, register_fork);
        __atomic_store_n(&count, n, __ATOMIC_RELEASE);
    }
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
    return r != 0 ? r : n;
}

int green_hubs_count(void)
{
    int n = __atomic_load_n(&count, __ATOMIC_ACQUIRE);
    return n > 1 ? n : 1;
}

int green_hubs_stop(void)
{
    if (!take_busy()) {
        return -EBUSY;
    }
    int n = __atomic_load_n(&count, __ATOMIC_ACQUIRE);
    int r = 0;
    struct green__thread *me = green__thread_peek();
    if (n <= 1) {
        r = -ESRCH;
    }
    for (int i = 1; r == 0 && i < n; i++) {
        if (table[i].t == me) {
            r = -EDEADLK;
        }
    }
    if (r == 0) {
        __atomic_store_n(&count, 1, __ATOMIC_RELEASE);
        stop_hubs(n);
    }
    __atomic_store_n(&busy, 0, __ATOMIC_RELEASE);
    return r;
}

struct green__thread *green__hubs_pick(int hub, struct green__thread *me)
{
    int n = __atomic_load_n(&count, __ATOMIC_ACQUIRE);
    if (hub == GREEN_HUB_SELF || (hub == GREEN_HUB_ANY && n <= 1)) {
        return me;
    }
    if (hub > 0) {
        return hub < n ? table[hub].t : NULL;
    }
    if (hub != GREEN_HUB_ANY) {
        return NULL;
    }
    /* The fewest live tasks and spawns on their way, the caller's hub
     * being one of the candidates; ties go round. */
    unsigned start = __atomic_fetch_add(&next_pick, 1, __ATOMIC_RELAXED);
    struct green__thread *best = NULL;
    size_t least = 0;
    for (int k = 0; k < n; k++) {
        int i = (int)((start + (unsigned)k) % (unsigned)n);
        struct green__thread *t = i == 0 ? me : table[i].t;
        size_t load = __atomic_load_n(&t->live_tasks, __ATOMIC_RELAXED) +
                      (size_t)__atomic_load_n(&t->inbound, __ATOMIC_RELAXED);
        if (best == NULL || load < least) {
            least = load;
            best = t;
        }
    }
    return best;
}
