/* SPDX-License-Identifier: MIT */
/* Thread stacks, one line of outcome per case; differential.sh requires
 * the same bytes natively and under the preload (both TLS modes). Every
 * figure is compared inside the program with what glibc says natively
 * (pthread_getattr_default_np), so only booleans are printed. A ticker
 * thread runs throughout and the cases that wait say whether it went on.
 *
 *   default   a thread made with default attributes (NULL, and an
 *             attribute object never given a size) reports glibc's
 *             default stack size and guard, its locals lie inside the
 *             stack it reports, and the stack is joinable/detached as
 *             made
 *   big       threads with 1 MiB and 4 MiB of locals (memset, read back)
 *             run to the end on the default stack
 *   sizes     pthread_attr_setstacksize of 64 KiB and 1 MiB is reported
 *             back, the thread's locals inside; sizes under
 *             PTHREAD_STACK_MIN are EINVAL
 *   user      pthread_attr_setstack with a malloc'd 256 KiB buffer: the
 *             thread runs on it (its locals inside), getattr_np reports
 *             the buffer, a second thread reuses it after the join, the
 *             buffer is the program's to write and free afterwards; a
 *             buffer under PTHREAD_STACK_MIN is EINVAL
 *   guard     pthread_attr_setguardsize of 64 KiB and of 0 is reported
 *             back by getattr_np; the default is one page
 *   setdef    pthread_setattr_default_np of 1 MiB: later default threads
 *             report 1 MiB, and the old default again once restored
 *   many      2,000 threads with default attributes alive at once, each
 *             touching 2 KiB of locals: all ran, and RSS grew by less
 *             than 64 KiB a thread (natively a few pages each)
 */
#include "thread_util.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)

static atomic_int ticks, stop_ticker;

static void *ticker(void *arg)
{
    while (!atomic_load(&stop_ticker)) {
        atomic_fetch_add(&ticks, 1);
        usleep(1000);
    }
    return arg;
}

static void out(const char *name, bool ok)
{
    printf("%-56s %s\n", name, ok ? "yes" : "NO");
    fflush(stdout);
}

/* glibc's default stack size and guard for new threads. */
static void native_default(size_t *size, size_t *guard)
{
    pthread_attr_t d;
    LEGACY_CHECK(pthread_getattr_default_np(&d) == 0);
    LEGACY_CHECK(pthread_attr_getstacksize(&d, size) == 0);
    LEGACY_CHECK(pthread_attr_getguardsize(&d, guard) == 0);
    pthread_attr_destroy(&d);
}

/* What a thread finds out about itself. */
struct self {
    void *lo;
    size_t size, guard;
    int detach;
    uintptr_t local; /* the address of one of its locals */
    bool ok;         /* getattr_np succeeded */
};

static void *inspect(void *arg)
{
    struct self *me = arg;
    volatile char local[64];
    local[0] = 1;
    me->local = (uintptr_t)&local[0];
    pthread_attr_t a;
    me->ok = pthread_getattr_np(pthread_self(), &a) == 0 &&
             pthread_attr_getstack(&a, &me->lo, &me->size) == 0 &&
             pthread_attr_getguardsize(&a, &me->guard) == 0 &&
             pthread_attr_getdetachstate(&a, &me->detach) == 0;
    pthread_attr_destroy(&a);
    return NULL;
}

static bool inside(const struct self *me)
{
    uintptr_t lo = (uintptr_t)me->lo;
    return me->local >= lo && me->local < lo + me->size;
}

/* Runs inspect in a thread made with attr and joins it. */
static struct self run_inspect(const pthread_attr_t *attr)
{
    struct self me = {0};
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, attr, inspect, &me) == 0);
    LEGACY_CHECK(pthread_join(t, NULL) == 0);
    return me;
}

/* --- default ------------------------------------------------------------- */

static atomic_int detached_done;
static struct self detached_me;

static void *inspect_detached(void *arg)
{
    inspect(arg);
    atomic_store(&detached_done, 1);
    return NULL;
}

static void defaults(void)
{
    size_t dsize, dguard;
    native_default(&dsize, &dguard);
    struct self me = run_inspect(NULL);
    out("default: getattr_np succeeds", me.ok);
    out("default: stack size is glibc's default", me.size == dsize);
    out("default: guard size is glibc's default", me.guard == dguard);
    out("default: its locals are inside the stack reported", inside(&me));
    out("default: joinable", me.detach == PTHREAD_CREATE_JOINABLE);

    pthread_attr_t a;
    LEGACY_CHECK(pthread_attr_init(&a) == 0);
    me = run_inspect(&a);
    out("default: attr never sized: glibc's default size",
        me.ok && me.size == dsize && inside(&me));
    LEGACY_CHECK(pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED) ==
                 0);
    pthread_t t;
    LEGACY_CHECK(pthread_create(&t, &a, inspect_detached, &detached_me) == 0);
    for (int i = 0; i < 2000 && !atomic_load(&detached_done); i++) {
        tu_nap(1);
    }
    out("default: detached thread reports detached",
        atomic_load(&detached_done) && detached_me.ok &&
            detached_me.detach == PTHREAD_CREATE_DETACHED &&
            detached_me.size == dsize);
    pthread_attr_destroy(&a);
}

/* --- big ------------------------------------------------------------------- */

/* Fills n bytes of locals and reads them back: true if all came back.
 * Not inlined, and the array's size is the caller's, so the frame is
 * really this big and really touched. */
__attribute__((noinline)) static bool use_locals(size_t n)
{
    char *buf = __builtin_alloca(n);
    memset(buf, (int)(n & 0x7f) | 1, n);
    __asm__ __volatile__("" : : "r"(buf) : "memory");
    size_t bad = 0;
    for (size_t i = 0; i < n; i += 4096) {
        bad += buf[i] != ((int)(n & 0x7f) | 1);
    }
    bad += buf[n - 1] != ((int)(n & 0x7f) | 1);
    return bad == 0;
}

__attribute__((noinline)) static bool fixed_1m(void)
{
    volatile char big[1 << 20];
    memset((char *)big, 7, sizeof(big));
    return big[0] == 7 && big[sizeof(big) - 1] == 7;
}

static void *big_thread(void *arg)
{
    size_t n = (size_t)(uintptr_t)arg;
    int before = atomic_load(&ticks);
    bool ok = use_locals(n) && (n != MIB || fixed_1m());
    tu_nap(30); /* the ticker must run while this thread waits */
    ok = ok && atomic_load(&ticks) > before;
    return (void *)(uintptr_t)ok;
}

static void big(void)
{
    size_t sizes[] = {MIB, 4 * MIB};
    const char *names[] = {"big: 1 MiB of locals on the default stack",
                           "big: 4 MiB of locals on the default stack"};
    for (int i = 0; i < 2; i++) {
        pthread_t t;
        void *r = NULL;
        LEGACY_CHECK(pthread_create(&t, NULL, big_thread,
                                    (void *)(uintptr_t)sizes[i]) == 0);
        LEGACY_CHECK(pthread_join(t, &r) == 0);
        out(names[i], r == (void *)1);
    }
}

/* --- sizes ----------------------------------------------------------------- */

static void sizes(void)
{
    size_t want[] = {64 * KIB, MIB};
    const char *names[] = {"sizes: setstacksize 64 KiB reported back",
                           "sizes: setstacksize 1 MiB reported back"};
    for (int i = 0; i < 2; i++) {
        pthread_attr_t a;
        LEGACY_CHECK(pthread_attr_init(&a) == 0);
        LEGACY_CHECK(pthread_attr_setstacksize(&a, want[i]) == 0);
        struct self me = run_inspect(&a);
        out(names[i], me.ok && me.size == want[i] && inside(&me));
        pthread_attr_destroy(&a);
    }
    pthread_attr_t a;
    LEGACY_CHECK(pthread_attr_init(&a) == 0);
    out("sizes: setstacksize under PTHREAD_STACK_MIN is EINVAL",
        pthread_attr_setstacksize(&a, PTHREAD_STACK_MIN - 1) == EINVAL &&
            pthread_attr_setstacksize(&a, 1000) == EINVAL);
    size_t s = 0;
    out("sizes: a refused size leaves the attribute as it was",
        pthread_attr_getstacksize(&a, &s) == 0 && s >= (size_t)PTHREAD_STACK_MIN);
    pthread_attr_destroy(&a);
}

/* --- user -------------------------------------------------------------------- */

static void user(void)
{
    size_t n = 256 * KIB;
    char *buf = malloc(n);
    LEGACY_CHECK(buf != NULL);
    pthread_attr_t a;
    LEGACY_CHECK(pthread_attr_init(&a) == 0);
    LEGACY_CHECK(pthread_attr_setstack(&a, buf, n) == 0);
    struct self me = run_inspect(&a);
    out("user: getattr_np succeeds", me.ok);
    out("user: the thread's locals are in the buffer",
        me.local >= (uintptr_t)buf && me.local < (uintptr_t)buf + n);
    out("user: getattr_np reports the buffer",
        me.lo == (void *)buf && me.size == n);
    out("user: no guard reported", me.guard == 0);
    /* The same buffer for the next thread, once the first is joined. */
    struct self again = run_inspect(&a);
    out("user: the buffer serves a second thread after the join",
        again.ok && again.local >= (uintptr_t)buf &&
            again.local < (uintptr_t)buf + n);
    pthread_attr_destroy(&a);
    /* Still the program's: writable, then freed by it. */
    memset(buf, 0x5a, n);
    bool kept = buf[0] == 0x5a && buf[n - 1] == 0x5a;
    free(buf);
    out("user: the buffer is still the program's afterwards", kept);

    /* A 1 MiB buffer takes 512 KiB of locals. */
    char *bigbuf = malloc(MIB);
    LEGACY_CHECK(bigbuf != NULL);
    LEGACY_CHECK(pthread_attr_init(&a) == 0);
    LEGACY_CHECK(pthread_attr_setstack(&a, bigbuf, MIB) == 0);
    pthread_t t;
    void *r = NULL;
    LEGACY_CHECK(pthread_create(&t, &a, big_thread,
                                (void *)(uintptr_t)(512 * KIB)) == 0);
    LEGACY_CHECK(pthread_join(t, &r) == 0);
    out("user: 512 KiB of locals on a 1 MiB buffer", r == (void *)1);
    pthread_attr_destroy(&a);
    free(bigbuf);

    char small[1024];
    LEGACY_CHECK(pthread_attr_init(&a) == 0);
    out("user: a buffer under PTHREAD_STACK_MIN is EINVAL",
        pthread_attr_setstack(&a, small, sizeof(small)) == EINVAL);
    pthread_attr_destroy(&a);
}

/* --- guard ------------------------------------------------------------------- */

static void guard(void)
{
    size_t dsize, dguard;
    native_default(&dsize, &dguard);
    out("guard: glibc's default guard is one page",
        dguard == (size_t)sysconf(_SC_PAGESIZE));
    size_t want[] = {64 * KIB, 0};
    const char *names[] = {"guard: setguardsize 64 KiB reported back",
                           "guard: setguardsize 0 reported back"};
    for (int i = 0; i < 2; i++) {
        pthread_attr_t a;
        size_t g = 1;
        LEGACY_CHECK(pthread_attr_init(&a) == 0);
        LEGACY_CHECK(pthread_attr_setguardsize(&a, want[i]) == 0);
        LEGACY_CHECK(pthread_attr_getguardsize(&a, &g) == 0 && g == want[i]);
        struct self me = run_inspect(&a);
        out(names[i], me.ok && me.guard == want[i] && me.size == dsize &&
                          inside(&me));
        pthread_attr_destroy(&a);
    }
}

/* --- setdef ------------------------------------------------------------------ */

static void setdef(void)
{
    size_t dsize, dguard;
    native_default(&dsize, &dguard);
    pthread_attr_t d;
    LEGACY_CHECK(pthread_attr_init(&d) == 0);
    LEGACY_CHECK(pthread_attr_setstacksize(&d, MIB) == 0);
    LEGACY_CHECK(pthread_setattr_default_np(&d) == 0);
    pthread_attr_destroy(&d);
    struct self me = run_inspect(NULL);
    out("setdef: later default threads get 1 MiB",
        me.ok && me.size == MIB && inside(&me));
    pthread_attr_t a;
    LEGACY_CHECK(pthread_attr_init(&a) == 0);
    me = run_inspect(&a);
    out("setdef: an attribute never sized gets 1 MiB too",
        me.ok && me.size == MIB);
    pthread_attr_destroy(&a);
    LEGACY_CHECK(pthread_attr_init(&d) == 0);
    LEGACY_CHECK(pthread_attr_setstacksize(&d, dsize) == 0);
    LEGACY_CHECK(pthread_setattr_default_np(&d) == 0);
    pthread_attr_destroy(&d);
    me = run_inspect(NULL);
    out("setdef: restored, the old default again", me.ok && me.size == dsize);
}

/* --- many -------------------------------------------------------------------- */

#define MANY 2000

static pthread_barrier_t all_up;
static atomic_int ran;

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            v = atol(line + 6);
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    return v;
}

static void *many_thread(void *arg)
{
    volatile char local[2048];
    memset((char *)local, 1, sizeof(local));
    atomic_fetch_add(&ran, 1);
    pthread_barrier_wait(&all_up); /* all alive at once */
    pthread_barrier_wait(&all_up); /* main measured */
    return arg;
}

static void many(void)
{
    pthread_t *t = calloc(MANY, sizeof(*t));
    LEGACY_CHECK(t != NULL);
    memset(t, 0, MANY * sizeof(*t));
    LEGACY_CHECK(pthread_barrier_init(&all_up, NULL, MANY + 1) == 0);
    long before = rss_kib();
    int made = 0;
    for (int i = 0; i < MANY; i++) {
        made += pthread_create(&t[i], NULL, many_thread, NULL) == 0;
    }
    out("many: 2,000 threads with default attributes created", made == MANY);
    LEGACY_CHECK(made == MANY);
    int before_ticks = atomic_load(&ticks);
    pthread_barrier_wait(&all_up);
    long grown = rss_kib() - before;
    out("many: all alive at once", atomic_load(&ran) == MANY);
    out("many: RSS grew under 64 KiB a thread", grown < 64L * MANY);
    tu_nap(20);
    out("many: the ticker went on", atomic_load(&ticks) > before_ticks);
    pthread_barrier_wait(&all_up);
    int joined = 0;
    for (int i = 0; i < MANY; i++) {
        joined += pthread_join(t[i], NULL) == 0;
    }
    out("many: all joined", joined == MANY);
    pthread_barrier_destroy(&all_up);
    free(t);
}

static const struct {
    const char *name;
    void (*run)(void);
} groups[] = {
    {"default", defaults}, {"big", big},       {"sizes", sizes},
    {"user", user},        {"guard", guard},   {"setdef", setdef},
    {"many", many},
};

/* No argument: every group; "list": their names; a name: that group. */
int main(int argc, char **argv)
{
    size_t n = sizeof(groups) / sizeof(groups[0]);
    if (argc > 1 && strcmp(argv[1], "list") == 0) {
        for (size_t i = 0; i < n; i++) {
            printf("%s\n", groups[i].name);
        }
        return 0;
    }
    pthread_t tk;
    LEGACY_CHECK(pthread_create(&tk, NULL, ticker, NULL) == 0);
    for (size_t i = 0; i < n; i++) {
        if (argc < 2 || strcmp(argv[1], groups[i].name) == 0) {
            groups[i].run();
        }
    }
    atomic_store(&stop_ticker, 1);
    LEGACY_CHECK(pthread_join(tk, NULL) == 0);
    return 0;
}
