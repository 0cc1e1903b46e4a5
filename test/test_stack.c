/* SPDX-License-Identifier: MIT */
/* The "stack" suite: lib/stack.h against its contract.
 *
 * Sizes and GREEN_STACK_SIZE parsing, the memory an allocation hands out,
 * the pool, the guard region and the overflow report, scale past
 * vm.max_map_count, and green__stack_thread_term(). Anything that is meant
 * to crash runs in a child made by green_test_fork_capture(), so the crash
 * is observed rather than suffered. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>

#include "green/greenlet.h"
#include "stack.h"

#include "helpers.h"
#include "suites.h"

#define KIB ((size_t)1 << 10)
#define MIB ((size_t)1 << 20)
#define DEFAULT_SIZE (128 * KIB)

/* To reach 1,000,000 stacks under vm.max_map_count (65,530), 100,000
 * stacks may cost at most a tenth of that in mappings. */
#define MAPS_PER_100K_MAX 6553

static size_t page_size(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

/* True if the decimal number n appears in s as a whole number, not as part
 * of a longer one (so "65536" does not match inside "165536"). */
static int contains_number(const char *s, unsigned long n)
{
    char num[32];
    snprintf(num, sizeof num, "%lu", n);
    size_t len = strlen(num);
    for (const char *p = strstr(s, num); p != NULL; p = strstr(p + 1, num)) {
        int digit_before = p > s && p[-1] >= '0' && p[-1] <= '9';
        int digit_after = p[len] >= '0' && p[len] <= '9';
        if (!digit_before && !digit_after) {
            return 1;
        }
    }
    return 0;
}

/* --- env: GREEN_STACK_SIZE ----------------------------------------------- */

/* The default is parsed once per process, so each case parses it in a child
 * forked before anything in this process has asked for it. Under CK_FORK=no
 * that holds only if this tcase runs first and the stack suite runs alone,
 * because every other test touches the library in-process. */
static int env_tests_possible(void)
{
    const char *suite = getenv("CK_RUN_SUITE");
    return green_test_forking() ||
           (suite != NULL && strcmp(suite, "stack") == 0);
}

struct env_case {
    const char *value;
    size_t expect;  /* what the default must be */
    int invalid;    /* the value must be reported on stderr */
};

static const struct env_case env_cases[] = {
    {"256k", 256 * KIB, 0},
    {"256K", 256 * KIB, 0},
    {"1M", 1 * MIB, 0},
    {"1m", 1 * MIB, 0},
    {"65536", 64 * KIB, 0},
    {"abc", DEFAULT_SIZE, 1},
    {"-5", DEFAULT_SIZE, 1},
    {"0", DEFAULT_SIZE, 1},
    {"99999999999G", DEFAULT_SIZE, 1},
    {"12abc", DEFAULT_SIZE, 1},
    {"64kk", DEFAULT_SIZE, 1},
    /* Over GREEN__STACK_MAX, and beyond unsigned long, respectively. */
    {"4096M", DEFAULT_SIZE, 1},
    {"99999999999999999999999", DEFAULT_SIZE, 1},
};

/* Child: parse the value and print what came out after whatever the
 * library printed, asking three times to show the report comes once. */
static void env_child(void *arg)
{
    const char *value = arg;
    setenv("GREEN_STACK_SIZE", value, 1);
    size_t d1 = green__stack_default_size();
    size_t d2 = green__stack_default_size();
    size_t s0 = 0;
    int rc = green__stack_size(0, &s0);
    fprintf(stderr, "\nRESULT %zu %zu %d %zu\n", d1, d2, rc, s0);
}

/* Runs env_child for value; returns what it printed before RESULT in msg. */
static void env_run(const char *value, size_t *d1, size_t *d2, int *rc,
                    size_t *s0, char *msg, size_t msglen)
{
    char out[4096];
    int status = green_test_fork_capture(env_child, (void *)value, out,
                                         sizeof out);
    char desc[64];
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "GREEN_STACK_SIZE=%s: child ended with %s; stderr: %s",
                  value, green_test_describe_status(status, desc, sizeof desc),
                  out);
    char *res = strstr(out, "\nRESULT ");
    ck_assert_msg(res != NULL, "no RESULT line; stderr: %s", out);
    ck_assert_int_eq(sscanf(res, "\nRESULT %zu %zu %d %zu", d1, d2, rc, s0),
                     4);
    *res = '\0';
    snprintf(msg, msglen, "%s", out);
}

START_TEST(test_env_parse)
{
    if (!env_tests_possible()) {
        fprintf(stderr, "env tests skipped: CK_FORK=no with other suites\n");
        return;
    }
    const struct env_case *c = &env_cases[_i];
    size_t d1, d2, s0;
    int rc;
    char msg[4096];
    env_run(c->value, &d1, &d2, &rc, &s0, msg, sizeof msg);

    ck_assert_msg(d1 == c->expect,
                  "GREEN_STACK_SIZE=%s: default %zu, want %zu", c->value, d1,
                  c->expect);
    ck_assert_uint_eq(d2, d1);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(s0, c->expect);

    int reports = green_test_count_substr(msg, "GREEN_STACK_SIZE");
    if (c->invalid) {
        ck_assert_msg(reports == 1,
                      "GREEN_STACK_SIZE=%s is invalid: want one report naming "
                      "the variable, got %d; stderr: \"%s\"",
                      c->value, reports, msg);
    } else {
        ck_assert_msg(msg[0] == '\0',
                      "GREEN_STACK_SIZE=%s is valid, yet stderr says \"%s\"",
                      c->value, msg);
    }
}
END_TEST

/* Whatever the variable says, green__stack_size(0) must still be a size
 * green__stack_alloc() can take: whole pages, at least GREEN__STACK_MIN. */
START_TEST(test_env_still_rounded)
{
    if (!env_tests_possible()) {
        return;
    }
    static const char *const values[] = {"20000", "1k", "4097"};
    const char *value = values[_i];
    size_t d1, d2, s0;
    int rc;
    char msg[4096];
    env_run(value, &d1, &d2, &rc, &s0, msg, sizeof msg);
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(s0 % page_size() == 0 && s0 >= GREEN__STACK_MIN,
                  "GREEN_STACK_SIZE=%s: green__stack_size(0) gave %zu, not "
                  "whole pages of at least %zu", value, s0, GREEN__STACK_MIN);
}
END_TEST

/* Empty means unset or invalid; either way the default is 128 KiB. */
START_TEST(test_env_empty)
{
    if (!env_tests_possible()) {
        return;
    }
    size_t d1, d2, s0;
    int rc;
    char msg[4096];
    env_run("", &d1, &d2, &rc, &s0, msg, sizeof msg);
    ck_assert_uint_eq(d1, DEFAULT_SIZE);
    ck_assert_uint_eq(s0, DEFAULT_SIZE);
}
END_TEST

/* --- size ---------------------------------------------------------------- */

START_TEST(test_size_default)
{
    /* With a fresh process the variable can be cleared before the parse;
     * otherwise 128 KiB is only expected if it was never set. */
    if (green_test_forking()) {
        unsetenv("GREEN_STACK_SIZE");
    }
    size_t s = 1;
    ck_assert_int_eq(green__stack_size(0, &s), 0);
    ck_assert_uint_eq(s, green__stack_default_size());
    if (getenv("GREEN_STACK_SIZE") == NULL) {
        ck_assert_uint_eq(s, DEFAULT_SIZE);
    }
}
END_TEST

/* What green__stack_size() must make of a request: at least the minimum,
 * then whole pages. */
static size_t expected_size(size_t request)
{
    size_t pg = page_size();
    size_t n = request < GREEN__STACK_MIN ? GREEN__STACK_MIN : request;
    return (n + pg - 1) / pg * pg;
}

START_TEST(test_size_rounding)
{
    size_t pg = page_size();
    const size_t requests[] = {
        1, GREEN__STACK_MIN - 1, GREEN__STACK_MIN, GREEN__STACK_MIN + 1,
        100000, 64 * KIB, 64 * KIB + pg - 1, 64 * KIB + pg,
    };
    for (size_t i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        size_t s = 0;
        ck_assert_int_eq(green__stack_size(requests[i], &s), 0);
        ck_assert_msg(s == expected_size(requests[i]),
                      "green__stack_size(%zu) gave %zu, want %zu",
                      requests[i], s, expected_size(requests[i]));
    }
    /* Spelled out for 4 KiB pages, so a wrong expected_size() shows. */
    if (pg == 4096) {
        size_t s = 0;
        ck_assert_int_eq(green__stack_size(1, &s), 0);
        ck_assert_uint_eq(s, 16384);
        ck_assert_int_eq(green__stack_size(16385, &s), 0);
        ck_assert_uint_eq(s, 20480);
        ck_assert_int_eq(green__stack_size(100000, &s), 0);
        ck_assert_uint_eq(s, 102400);
    }
}
END_TEST

START_TEST(test_size_limits)
{
    size_t s = 0;
    ck_assert_int_eq(green__stack_size(GREEN__STACK_MAX, &s), 0);
    ck_assert_uint_eq(s, GREEN__STACK_MAX);
    ck_assert_int_eq(green__stack_size(GREEN__STACK_MAX - 1, &s), 0);
    ck_assert_uint_eq(s, GREEN__STACK_MAX);

    /* Rounding SIZE_MAX up to a page wraps to 0 if done naively. */
    static const size_t too_big[] = {
        GREEN__STACK_MAX + 1, GREEN__STACK_MAX * 2, SIZE_MAX, SIZE_MAX - 4095,
    };
    for (size_t i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
        s = 12345;
        ck_assert_msg(green__stack_size(too_big[i], &s) == -EINVAL,
                      "green__stack_size(%zu) accepted (%zu)", too_big[i], s);
    }
}
END_TEST

/* --- alloc --------------------------------------------------------------- */

START_TEST(test_alloc_memory)
{
    static const size_t sizes[] = {16 * KIB, 64 * KIB, 128 * KIB, 1 * MIB};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct green__stack *s = NULL;
        ck_assert_int_eq(green__stack_alloc(sizes[i], &s), 0);
        ck_assert_ptr_nonnull(s);
        ck_assert_ptr_nonnull(s->lo);
        ck_assert_uint_eq(s->size, sizes[i]);
        /* lo sits just above a page-granular guard, so it is page aligned,
         * and the top is then aligned for any ABI's initial frame. */
        ck_assert_uint_eq((uintptr_t)s->lo % page_size(), 0);
        ck_assert_uint_eq((uintptr_t)(s->lo + s->size) % 16, 0);
        memset(s->lo, 0xa5, s->size);
        ck_assert_int_eq((unsigned char)s->lo[0], 0xa5);
        ck_assert_int_eq((unsigned char)s->lo[s->size - 1], 0xa5);
        green__stack_free(s);
    }
}
END_TEST

static int overlap(const struct green__stack *a, const struct green__stack *b)
{
    return a->lo < b->lo + b->size && b->lo < a->lo + a->size;
}

START_TEST(test_alloc_disjoint)
{
    enum { N = 64 };
    static const size_t sizes[] = {16 * KIB, 64 * KIB, 128 * KIB};
    struct green__stack *s[N];
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(green__stack_alloc(sizes[i % 3], &s[i]), 0);
        memset(s[i]->lo, i, s[i]->size);
    }
    for (int i = 0; i < N; i++) {
        for (int j = i + 1; j < N; j++) {
            ck_assert_msg(!overlap(s[i], s[j]), "stacks %d and %d overlap",
                          i, j);
            ck_assert_ptr_ne(s[i], s[j]);
        }
    }
    /* Writing every stack in full must not have touched any other. */
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(s[i]->lo[0], i);
        ck_assert_int_eq(s[i]->lo[s[i]->size - 1], i);
        ck_assert_int_eq(s[i]->lo[s[i]->size / 2], i);
    }
    for (int i = 0; i < N; i++) {
        green__stack_free(s[i]);
    }
}
END_TEST

START_TEST(test_alloc_in_use)
{
    size_t base = green__stack_in_use();
    struct green__stack *s[10];
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(green__stack_alloc(64 * KIB, &s[i]), 0);
        ck_assert_uint_eq(green__stack_in_use(), base + (size_t)i + 1);
    }
    for (int i = 9; i >= 0; i--) {
        green__stack_free(s[i]);
        ck_assert_uint_eq(green__stack_in_use(), base + (size_t)i);
    }
}
END_TEST

/* The pool is what makes a greenlet cheap: the stack freed last is the one
 * most likely still hot, so it is the one handed out next. */
START_TEST(test_alloc_pool_reuse)
{
    struct green__stack *a, *b, *c;
    ck_assert_int_eq(green__stack_alloc(64 * KIB, &a), 0);
    ck_assert_int_eq(green__stack_alloc(64 * KIB, &b), 0);
    char *a_lo = a->lo;
    green__stack_free(a);
    ck_assert_int_eq(green__stack_alloc(64 * KIB, &c), 0);
    ck_assert_ptr_eq(c->lo, a_lo);
    green__stack_free(c);
    green__stack_free(b);

    /* A thousand alloc/free cycles must not map anything new. */
    int maps0 = green_test_count_maps();
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(green__stack_alloc(64 * KIB, &c), 0);
        c->lo[c->size - 1] = 1;
        green__stack_free(c);
    }
    ck_assert_int_le(green_test_count_maps(), maps0 + 2);
}
END_TEST

/* A pooled slot of one size must never be handed out for another. */
START_TEST(test_alloc_exact_size_from_pool)
{
    struct green__stack *small, *big;
    ck_assert_int_eq(green__stack_alloc(16 * KIB, &small), 0);
    green__stack_free(small);
    ck_assert_int_eq(green__stack_alloc(256 * KIB, &big), 0);
    ck_assert_uint_eq(big->size, 256 * KIB);
    memset(big->lo, 0x5a, big->size);
    green__stack_free(big);
    ck_assert_int_eq(green__stack_alloc(16 * KIB, &small), 0);
    ck_assert_uint_eq(small->size, 16 * KIB);
    memset(small->lo, 0x5a, small->size);
    green__stack_free(small);
}
END_TEST

START_TEST(test_alloc_max)
{
    if (green_test_valgrind()) {
        return; /* valgrind's address space manager balks at 1 GiB. */
    }
    struct green__stack *s;
    ck_assert_int_eq(green__stack_alloc(GREEN__STACK_MAX, &s), 0);
    ck_assert_uint_eq(s->size, GREEN__STACK_MAX);
    s->lo[0] = 1;
    s->lo[s->size - 1] = 2;
    ck_assert_int_eq(s->lo[0] + s->lo[s->size - 1], 3);
    green__stack_free(s);
}
END_TEST

/* --- guard --------------------------------------------------------------- */

enum guard_where {
    GUARD_FIRST,   /* the first stack taken */
    GUARD_MIDDLE,  /* one of many from the same arena(s) */
    GUARD_REUSED,  /* a stack that went back to the pool past the hot set */
    GUARD_INSIDE   /* control: write the usable range only, must survive */
};

struct guard_arg {
    enum guard_where where;
    size_t offset;  /* how far below lo to write */
};

static void guard_child(void *arg)
{
    const struct guard_arg *g = arg;
    enum { N = 300 };
    static struct green__stack *s[N];
    int n = g->where == GUARD_FIRST ? 1 : N;
    for (int i = 0; i < n; i++) {
        if (green__stack_alloc(64 * KIB, &s[i]) != 0) {
            fprintf(stderr, "ALLOC FAILED\n");
            _exit(3);
        }
        s[i]->lo[s[i]->size - 1] = 1;
    }
    if (g->where == GUARD_REUSED) {
        for (int i = 0; i < n; i++) {
            green__stack_free(s[i]);
        }
        for (int i = 0; i < n; i++) {
            if (green__stack_alloc(64 * KIB, &s[i]) != 0) {
                _exit(3);
            }
        }
    }
    volatile char *lo = s[n / 2]->lo;
    fprintf(stderr, "WRITING\n");
    if (g->where == GUARD_INSIDE) {
        lo[0] = 1;
        lo[64 * KIB - 1] = 1;
    } else {
        lo[-(ptrdiff_t)g->offset] = 1;
    }
    fprintf(stderr, "SURVIVED\n");
}

static int killed_by_fault(int status)
{
    if (green_test_asan() && WIFEXITED(status) && WEXITSTATUS(status) == 1) {
        return 1; /* ASan's own SIGSEGV handler reports and exits 1 */
    }
    if (!WIFSIGNALED(status)) {
        return 0;
    }
    int sig = WTERMSIG(status);
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGABRT;
}

START_TEST(test_guard_below_lo)
{
    if (green_test_valgrind()) {
        /* valgrind emulates the fatal re-fault after our handler hands a
         * foreign fault back to SIG_DFL; the kernel's behaviour is what
         * this tests, as the overflow tests do (skipped there too). */
        return;
    }
    static const struct guard_arg cases[] = {
        {GUARD_FIRST, 1},
        {GUARD_MIDDLE, 1},
        {GUARD_REUSED, 1},
        {GUARD_MIDDLE, 4096}, /* the guard is at least a page deep */
    };
    const struct guard_arg *g = &cases[_i];
    char out[4096];
    char desc[64];
    int status = green_test_fork_capture(guard_child, (void *)g, out,
                                         sizeof out);
    ck_assert_msg(strstr(out, "WRITING") != NULL,
                  "child died before the write: %s; stderr: %s",
                  green_test_describe_status(status, desc, sizeof desc), out);
    ck_assert_msg(killed_by_fault(status) && strstr(out, "SURVIVED") == NULL,
                  "case %d: writing lo[-%zu] did not fault (%s); stderr: %s",
                  _i, g->offset,
                  green_test_describe_status(status, desc, sizeof desc), out);
    /* The write came from the main stack, not from a greenlet running off
     * the end of its own: a wild pointer, which must not be reported as a
     * stack overflow. */
    ck_assert_msg(strstr(out, "stack overflow") == NULL,
                  "case %d: a wild write was reported as an overflow: %s",
                  _i, out);
}
END_TEST

/* The control: the same child writing only inside its stack lives. */
START_TEST(test_guard_inside_ok)
{
    struct guard_arg g = {GUARD_INSIDE, 0};
    char out[4096];
    char desc[64];
    int status = green_test_fork_capture(guard_child, &g, out, sizeof out);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
                      strstr(out, "SURVIVED") != NULL,
                  "child writing its own stack: %s; stderr: %s",
                  green_test_describe_status(status, desc, sizeof desc), out);
}
END_TEST

/* A fault outside every guard is none of the library's business: it must
 * reach the handler the program had, or kill the process as SIGSEGV does,
 * and never be reported as a stack overflow. */
static char *volatile foreign_page;

/* Says whether it was handed the real siginfo of the fault. The verdict
 * goes to stderr, not the exit code, which valgrind overrides after the
 * invalid write. */
static void program_handler(int sig, siginfo_t *si, void *uc)
{
    static const char ok[] = "PROGRAM HANDLER: siginfo ok\n";
    static const char bad[] = "PROGRAM HANDLER: siginfo wrong\n";
    ssize_t w;
    if (sig == SIGSEGV && si != NULL && si->si_addr == foreign_page) {
        w = write(2, ok, sizeof ok - 1);
    } else {
        w = write(2, bad, sizeof bad - 1);
    }
    (void)w;
    _exit(42);
}

static void foreign_fault_child(void *arg)
{
    int with_handler = arg != NULL;
    if (with_handler) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = program_handler;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGSEGV, &sa, NULL);
    }
    /* Now the library installs its handler on top. */
    struct green__stack *s;
    if (green__stack_alloc(64 * KIB, &s) != 0) {
        _exit(3);
    }
    char *page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
    if (page == MAP_FAILED) {
        _exit(4);
    }
    foreign_page = page;
    fprintf(stderr, "WRITING\n");
    *(volatile char *)page = 1;
    fprintf(stderr, "SURVIVED\n");
}

START_TEST(test_foreign_fault)
{
    int with_handler = _i;
    char out[4096];
    char desc[64];
    int status = green_test_fork_capture(foreign_fault_child,
                                         with_handler ? (void *)1 : NULL,
                                         out, sizeof out);
    green_test_describe_status(status, desc, sizeof desc);
    ck_assert_msg(strstr(out, "WRITING") != NULL, "child: %s; stderr: %s",
                  desc, out);
    ck_assert_msg(strstr(out, "stack overflow") == NULL,
                  "an ordinary fault was reported as an overflow: %s", out);
    if (with_handler) {
        ck_assert_msg(WIFEXITED(status) &&
                          strstr(out, "PROGRAM HANDLER: siginfo ok") != NULL,
                      "the program's SIGSEGV handler did not run as it "
                      "should (%s): %s", desc, out);
    } else if (green_test_asan()) {
        /* The handler before the library's is ASan's: report, exit 1. */
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1,
                      "ASan's SIGSEGV handler did not run (%s): %s", desc,
                      out);
    } else {
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
                      "an ordinary fault ended the child with %s: %s", desc,
                      out);
    }
}
END_TEST

/* --- overflow report ----------------------------------------------------- */

#define OVERFLOW_STACK (64 * KIB)

struct overflow_case {
    const char *name;  /* NULL: leave the victim unnamed */
    size_t frame;      /* bytes of locals per recursion level */
    int neighbour;     /* a live greenlet's stack lies just below */
    int in_thread;     /* overflow in a second OS thread */
};

static const struct overflow_case overflow_cases[] = {
    {"deep-recursion-victim", 1024, 0, 0},
    {NULL, 1024, 0, 0},
    /* Frames of several pages must not step over the guard into the
     * stack below, which belongs to another live greenlet. */
    {"big-frame-victim", 12 * KIB, 1, 0},
    /* Each thread needs its own sigaltstack for the report to run. */
    {"thread-victim", 1024, 0, 1},
};

/* frame bytes a level, 100,000 levels deep at most: far past the stack,
 * and returning normally if no guard stops it. buf[0], the lowest byte, is
 * written first, as a large frame would touch it. The volatile buffer and
 * the use of the callee's result keep the compiler from folding the
 * recursion. */
static int recurse(int depth, size_t frame)
{
    volatile char buf[frame];
    buf[0] = (char)depth;
    buf[frame - 1] = (char)depth;
    if (depth >= 100000) {
        return buf[0];
    }
    return recurse(depth + 1, frame) + buf[frame - 1];
}

static void *overflow_run(void *arg)
{
    const struct overflow_case *c = arg;
    return (void *)(intptr_t)recurse(0, c->frame);
}

/* Holds its stack, suspended, for the whole test. */
static void *neighbour_run(void *arg)
{
    volatile char top[256];
    memset((char *)top, 0x42, sizeof top);
    greenlet_switch(greenlet_parent(greenlet_current()), NULL, NULL);
    return NULL;
}

static void *overflow_body(void *arg)
{
    const struct overflow_case *c = arg;
    greenlet_t *g;
    /* Burn some ids so the victim's id is a distinctive number. */
    for (int i = 0; i < 1000; i++) {
        if (greenlet_new(&g, overflow_run, NULL, OVERFLOW_STACK) == 0) {
            greenlet_free(g);
        }
    }
    if (c->neighbour) {
        greenlet_t *nb;
        if (greenlet_new(&nb, neighbour_run, NULL, OVERFLOW_STACK) != 0 ||
            greenlet_switch(nb, NULL, NULL) != 0) {
            _exit(5);
        }
    }
    if (greenlet_new(&g, overflow_run, NULL, OVERFLOW_STACK) != 0) {
        _exit(3);
    }
    if (c->name != NULL && greenlet_set_name(g, c->name) != 0) {
        _exit(4);
    }
    fprintf(stderr, "VICTIM %lu\n", greenlet_id(g));
    greenlet_switch(g, (void *)c, NULL);
    fprintf(stderr, "RETURNED\n");
    return NULL;
}

static void overflow_child(void *arg)
{
    const struct overflow_case *c = arg;
    if (!c->in_thread) {
        overflow_body(arg);
        return;
    }
    /* The main thread sets the library up first, so the second thread is
     * not simply the first to ask for a sigaltstack. */
    greenlet_t *warm;
    if (greenlet_new(&warm, neighbour_run, NULL, OVERFLOW_STACK) != 0 ||
        greenlet_switch(warm, NULL, NULL) != 0) {
        _exit(7);
    }
    pthread_t t;
    if (pthread_create(&t, NULL, overflow_body, arg) != 0) {
        _exit(6);
    }
    pthread_join(t, NULL);
}

START_TEST(test_overflow_report)
{
    if (green_test_valgrind()) {
        return; /* valgrind runs greenlet stacks its own way. */
    }
    const struct overflow_case *c = &overflow_cases[_i];
    char out[16384];
    char desc[64];
    int status = green_test_fork_capture(overflow_child, (void *)c, out,
                                         sizeof out);
    green_test_describe_status(status, desc, sizeof desc);
    unsigned long id = 0;
    const char *v = strstr(out, "VICTIM ");
    ck_assert_msg(v != NULL && sscanf(v, "VICTIM %lu", &id) == 1,
                  "child did not get to switch (%s); stderr: %s", desc, out);
    /* The report is whatever came after the VICTIM line. */
    const char *report = strchr(v, '\n');
    ck_assert_ptr_nonnull(report);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "case %d: overflowing greenlet: child ended with %s, want "
                  "SIGABRT; stderr: %s", _i, desc, out);
    ck_assert_msg(strstr(report, "stack overflow") != NULL,
                  "no \"stack overflow\" in the report: %s", out);
    ck_assert_msg(contains_number(report, OVERFLOW_STACK),
                  "the report lacks the stack size %zu: %s",
                  (size_t)OVERFLOW_STACK, out);
    if (c->name != NULL) {
        ck_assert_msg(strstr(report, c->name) != NULL,
                      "the report lacks the name \"%s\": %s", c->name, out);
    } else {
        /* Unnamed, the id is all that tells which greenlet it was. */
        ck_assert_msg(contains_number(report, id),
                      "the report lacks the id %lu: %s", id, out);
    }
}
END_TEST

/* --- scale --------------------------------------------------------------- */

struct scale_round {
    int maps_peak;    /* mappings while every stack is taken */
    long rss_after;   /* KiB once all are freed */
};

/* Takes n 64 KiB stacks at once, writes a distinct word at the top of each,
 * checks them all, frees them all. */
static struct scale_round scale_round(struct green__stack **s, size_t n)
{
    struct scale_round r;
    size_t base = green__stack_in_use();
    for (size_t i = 0; i < n; i++) {
        int rc = green__stack_alloc(64 * KIB, &s[i]);
        ck_assert_msg(rc == 0, "stack %zu of %zu: %d (%s)", i, n, rc,
                      strerror(-rc));
        uint32_t *top = (uint32_t *)(void *)(s[i]->lo + s[i]->size) - 1;
        *top = (uint32_t)i ^ 0x5eed5eedu;
    }
    ck_assert_uint_eq(green__stack_in_use(), base + n);
    r.maps_peak = green_test_count_maps();
    for (size_t i = 0; i < n; i++) {
        uint32_t *top = (uint32_t *)(void *)(s[i]->lo + s[i]->size) - 1;
        ck_assert_msg(*top == ((uint32_t)i ^ 0x5eed5eedu),
                      "stack %zu shares memory with another", i);
    }
    for (size_t i = 0; i < n; i++) {
        green__stack_free(s[i]);
    }
    ck_assert_uint_eq(green__stack_in_use(), base);
    r.rss_after = green_test_status_kib("VmRSS");
    return r;
}

START_TEST(test_scale_100k)
{
    /* More than vm.max_map_count / 2 stacks: one mapping (plus a guard
     * split) per stack cannot get here. Under valgrind a tenth will do. */
    size_t n = green_test_valgrind() ? 10000 : 100000;
    if (!green_test_guard_markers()) {
        /* mprotect guards (a kernel before 6.13, or qemu-user): two
         * mappings per stack, so this cannot hold there by design. */
        fprintf(stderr, "test_scale_100k: skipped, no guard markers\n");
        return;
    }
    int maps_max = (int)(MAPS_PER_100K_MAX * n / 100000);
    struct green__stack **s = calloc(n, sizeof *s);
    ck_assert_ptr_nonnull(s);

    int maps0 = green_test_count_maps();
    long rss0 = green_test_status_kib("VmRSS");
    struct scale_round first = scale_round(s, n);
    /* Under valgrind or ASan only the checks inside scale_round() mean
     * anything: RSS and the mappings are then mostly the tool's own. */
    int footprint = green_test_footprint_reliable();
    ck_assert_msg(!footprint || first.maps_peak - maps0 < maps_max,
                  "%zu stacks took %d mappings (limit %d)", n,
                  first.maps_peak - maps0, maps_max);
    /* n top pages were touched (~400 MB for 100k); freeing must give all
     * but a small hot set back to the kernel. */
    ck_assert_msg(!footprint || first.rss_after - rss0 < 64 * 1024,
                  "RSS still %ld KiB above the start after freeing",
                  first.rss_after - rss0);

    for (int round = 0; round < 3; round++) {
        struct scale_round r = scale_round(s, n);
        ck_assert_msg(!footprint || r.maps_peak <= first.maps_peak + 16,
                      "round %d: mappings grew from %d to %d", round,
                      first.maps_peak, r.maps_peak);
        ck_assert_msg(!footprint ||
                          r.rss_after <= first.rss_after + 16 * 1024,
                      "round %d: RSS grew from %ld to %ld KiB", round,
                      first.rss_after, r.rss_after);
    }
    free(s);
}
END_TEST

/* --- thread_term --------------------------------------------------------- */

struct term_result {
    size_t in_use_start;   /* in the fresh thread, before anything */
    size_t in_use_peak;
    int maps0, maps_peak, maps_after;
    long vsz0, vsz_peak, vsz_after;  /* KiB */
    int failed_alloc;
};

#define TERM_N 4096

static void *term_thread(void *arg)
{
    struct term_result *r = arg;
    struct green__stack **s = calloc(TERM_N, sizeof *s);
    /* Make this thread's malloc arena before measuring: glibc reserves
     * 64 MiB of address space for it on the first malloc. */
    green_test_warm_malloc();
    r->in_use_start = green__stack_in_use();
    r->maps0 = green_test_count_maps();
    r->vsz0 = green_test_status_kib("VmSize");
    for (int i = 0; i < TERM_N; i++) {
        if (green__stack_alloc(64 * KIB, &s[i]) != 0) {
            r->failed_alloc = 1;
            return NULL;
        }
        s[i]->lo[s[i]->size - 1] = 1;
    }
    r->in_use_peak = green__stack_in_use();
    r->maps_peak = green_test_count_maps();
    r->vsz_peak = green_test_status_kib("VmSize");
    for (int i = 0; i < TERM_N; i++) {
        green__stack_free(s[i]);
    }
    green__stack_thread_term();
    r->maps_after = green_test_count_maps();
    r->vsz_after = green_test_status_kib("VmSize");
    free(s);
    return NULL;
}

static void check_mine_intact(const struct green__stack *mine)
{
    for (size_t i = 0; i < mine->size; i += 512) {
        ck_assert_int_eq(mine->lo[i], 0x11);
    }
}

START_TEST(test_thread_term)
{
    /* The main thread holds a stack across the other thread's term: only
     * the calling thread's arenas may go. */
    struct green__stack *mine;
    ck_assert_int_eq(green__stack_alloc(64 * KIB, &mine), 0);
    memset(mine->lo, 0x11, mine->size);
    size_t my_in_use = green__stack_in_use();

    struct term_result r;
    memset(&r, 0, sizeof r);
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, term_thread, &r), 0);
    ck_assert_int_eq(pthread_join(t, NULL), 0);

    ck_assert(!r.failed_alloc);
    ck_assert_uint_eq(r.in_use_start, 0); /* per thread */
    ck_assert_uint_eq(r.in_use_peak, TERM_N);
    ck_assert_uint_eq(green__stack_in_use(), my_in_use);
    check_mine_intact(mine);
    green__stack_free(mine);
    if (!green_test_footprint_reliable()) {
        return;
    }
    /* 4096 x 64 KiB is 256 MiB of address space. */
    ck_assert_msg(r.vsz_peak - r.vsz0 >= 256 * 1024,
                  "VmSize grew by only %ld KiB", r.vsz_peak - r.vsz0);
    ck_assert_msg(r.vsz_after <= r.vsz0 + 8 * 1024,
                  "after term VmSize is %ld KiB above the start",
                  r.vsz_after - r.vsz0);
    ck_assert_msg(r.maps_after <= r.maps0 + 2,
                  "after term %d mappings, %d at the start", r.maps_after,
                  r.maps0);
}
END_TEST

/* --- guards asked for, thread-sized stacks, user stacks ------------------ */

/* Whether the kernel can read the byte at p: a guard page cannot be
 * read, and write() says EFAULT instead of faulting the caller. */
static int readable(const char *p)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    ssize_t n = write(fd[1], p, 1);
    close(fd[0]);
    close(fd[1]);
    return n == 1;
}

/* A green pthread's guardsize: a guard at least as deep as asked (in
 * pages, never under the 16 KiB default), recorded as asked; its own
 * pool, so a default-guard stack of the same size is a different slot. */
START_TEST(test_guard_asked)
{
    struct green__stack *s, *d;
    ck_assert_int_eq(green__stack_alloc_guard(64 * KIB, 40 * KIB + 1, &s), 0);
    ck_assert_uint_eq(s->guard_asked, 40 * KIB + 1);
    ck_assert_uint_ge(s->guard, 40 * KIB + 1);
    ck_assert_uint_eq(s->guard % page_size(), 0);
    ck_assert(!readable(s->lo - 1));
    ck_assert(!readable(s->lo - 40 * KIB));
    ck_assert(readable(s->lo));
    ck_assert_int_eq(green__stack_alloc_guard(64 * KIB, 0, &d), 0);
    ck_assert_uint_eq(d->guard, GREEN__STACK_GUARD);
    ck_assert_uint_eq(d->guard_asked, 0);
    ck_assert(!readable(d->lo - GREEN__STACK_GUARD));
    green__stack_free(s);
    green__stack_free(d);
    /* Freed and taken again: the same pool, the same guard. */
    ck_assert_int_eq(green__stack_alloc_guard(64 * KIB, 48 * KIB, &s), 0);
    ck_assert_uint_ge(s->guard, 48 * KIB);
    ck_assert(!readable(s->lo - 48 * KIB));
    green__stack_free(s);
}
END_TEST

/* glibc's 8 MiB thread stacks: 500 of them (4 GiB of address space) fit
 * in a handful of mappings and cost only the pages touched. */
START_TEST(test_thread_sized)
{
    enum { N = 500 };
    static struct green__stack *s[N];
    int maps0 = green_test_count_maps();
    long rss0 = green_test_status_kib("VmRSS");
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(green__stack_alloc_guard(8 * MIB, 4096, &s[i]), 0);
        ck_assert_uint_eq(s[i]->size, 8 * MIB);
        s[i]->lo[s[i]->size - 1] = 1; /* the top page, as a thread would */
        s[i]->lo[0] = 1;              /* and the bottom: it is all there */
    }
    int maps = green_test_count_maps() - maps0;
    long rss = green_test_status_kib("VmRSS") - rss0;
    for (int i = 0; i < N; i++) {
        green__stack_free(s[i]);
    }
    /* qemu-user keeps mappings of its own for the guest's */
    ck_assert_msg(maps <= 16 || green_test_emulated(),
                  "%d stacks of 8 MiB took %d mappings", N, maps);
    ck_assert_msg(rss < (long)N * 16 || green_test_emulated(),
                  "%d stacks of 8 MiB, two pages touched in each: RSS grew "
                  "%ld KiB", N, rss);
}
END_TEST

/* pthread_attr_setstack's stacks: the program's memory as given, counted
 * in use, and left alone when given back. */
START_TEST(test_user_stack)
{
    size_t n = 256 * KIB + 100; /* not a page multiple: taken as given */
    char *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    size_t used0 = green__stack_in_use();
    struct green__stack *s;
    ck_assert_int_eq(green__stack_user(buf, n, &s), 0);
    ck_assert_ptr_eq(s->lo, buf);
    ck_assert_uint_eq(s->size, n);
    ck_assert_uint_eq(s->guard, 0);
    ck_assert(s->user);
    ck_assert_uint_eq(green__stack_in_use(), used0 + 1);
    memset(buf, 1, n);
    green__stack_free(s);
    ck_assert_uint_eq(green__stack_in_use(), used0);
    memset(buf, 2, n); /* still the program's: mapped and writable */
    ck_assert_int_eq(buf[n - 1], 2);
    free(buf);
}
END_TEST

Suite *green_test_stack_suite(void)
{
    Suite *s = suite_create("stack");
    TCase *tc;

    /* First: under CK_FORK=no it must run before anything parses the
     * default in this process (see env_tests_possible). */
    tc = tcase_create("env");
    tcase_add_loop_test(tc, test_env_parse, 0,
                        (int)(sizeof env_cases / sizeof env_cases[0]));
    tcase_add_loop_test(tc, test_env_still_rounded, 0, 3);
    tcase_add_test(tc, test_env_empty);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("size");
    tcase_add_test(tc, test_size_default);
    tcase_add_test(tc, test_size_rounding);
    tcase_add_test(tc, test_size_limits);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("alloc");
    tcase_add_test(tc, test_alloc_memory);
    tcase_add_test(tc, test_alloc_disjoint);
    tcase_add_test(tc, test_alloc_in_use);
    tcase_add_test(tc, test_alloc_pool_reuse);
    tcase_add_test(tc, test_alloc_exact_size_from_pool);
    tcase_add_test(tc, test_alloc_max);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("guard");
    tcase_add_loop_test(tc, test_guard_below_lo, 0, 4);
    tcase_add_test(tc, test_guard_inside_ok);
    tcase_add_loop_test(tc, test_foreign_fault, 0, 2);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("overflow");
    tcase_add_loop_test(tc, test_overflow_report, 0,
                        (int)(sizeof overflow_cases /
                              sizeof overflow_cases[0]));
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    tc = tcase_create("threads");
    tcase_add_test(tc, test_guard_asked);
    tcase_add_test(tc, test_thread_sized);
    tcase_add_test(tc, test_user_stack);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("scale");
    tcase_add_test(tc, test_scale_100k);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);

    tc = tcase_create("term");
    tcase_add_test(tc, test_thread_term);
    tcase_set_timeout(tc, 10);
    suite_add_tcase(s, tc);

    return s;
}
