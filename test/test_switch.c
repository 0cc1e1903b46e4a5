/* SPDX-License-Identifier: MIT */
/* The raw context switch (lib/arch/switch.h), tested below the greenlet
 * layer: whichever backend the build picked (x86-64 or aarch64 assembly, or
 * ucontext) must pass the same suite. Stacks come from plain mmap here, not
 * lib/stack.c, so a failure points at the switch alone.
 *
 * Several tests rely on the build's optimisation (-O2 in the default
 * debugoptimized build) to keep values in callee-saved registers across a
 * switch; at -O0 they still pass but prove less. */
#include <check.h>
#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch/switch.h"
#include "green_config.h"
#include "helpers.h"
#include "suites.h"

#if defined(GREEN_HAVE_VALGRIND) && GREEN_HAVE_VALGRIND
# include <valgrind/valgrind.h>
#endif
#if defined(__SANITIZE_ADDRESS__)
# include <sanitizer/asan_interface.h>
# define TEST_ASAN 1
#elif defined(__has_feature)
# if __has_feature(address_sanitizer)
#  include <sanitizer/asan_interface.h>
#  define TEST_ASAN 1
# endif
#endif

/* Big enough for the ucontext backend, which keeps two ucontext_t (about
 * 4.5 KiB each on aarch64) on a context's stack, plus snprintf. */
#define STACK_SIZE (64 * 1024)

/* --- stacks -------------------------------------------------------------- */

/* An mmap'd stack with a guard page below it, so an overflow faults instead
 * of corrupting the next test's memory. */
struct test_stack {
    char *map;       /* start of the mapping (the guard page) */
    size_t len;      /* length of the mapping */
    unsigned vg_id;  /* valgrind's id for the stack, or 0 */
};

static void *stack_alloc(struct test_stack *s, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    s->len = size + page;
    s->map = mmap(NULL, s->len, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
                  -1, 0);
    ck_assert_ptr_ne(s->map, MAP_FAILED);
    ck_assert_int_eq(mprotect(s->map, page, PROT_NONE), 0);
    s->vg_id = 0;
#if defined(GREEN_HAVE_VALGRIND) && GREEN_HAVE_VALGRIND
    /* Without this, valgrind takes a jump between two nearby stacks for a
     * huge push or pop and marks live frames as inaccessible. */
    s->vg_id = VALGRIND_STACK_REGISTER(s->map + page, s->map + s->len);
#endif
    return s->map + s->len;
}

static void stack_free(struct test_stack *s)
{
#if defined(GREEN_HAVE_VALGRIND) && GREEN_HAVE_VALGRIND
    VALGRIND_STACK_DEREGISTER(s->vg_id);
#endif
#ifdef TEST_ASAN
    /* Frames left on an abandoned stack stay poisoned in ASan's shadow,
     * which munmap does not clear; a later mapping at the same address
     * would inherit the poison. */
    ASAN_UNPOISON_MEMORY_REGION(s->map, s->len);
#endif
    ck_assert_int_eq(munmap(s->map, s->len), 0);
}

/* --- ping-pong ----------------------------------------------------------- */

/* The two saved stack pointers of a main context and one other. */
struct pair {
    green__sp_t main;
    green__sp_t co;
};

/* Answers every value v with 3v + 1, after a first hello of 0xfeed. */
static void pingpong_entry(void *arg)
{
    struct pair *p = arg;
    uintptr_t v = (uintptr_t)green__ctx_jump(&p->co, p->main,
                                             (void *)(uintptr_t)0xfeed);
    for (;;) {
        v = (uintptr_t)green__ctx_jump(&p->co, p->main, (void *)(3 * v + 1));
    }
}

START_TEST(test_pingpong)
{
    struct test_stack s;
    struct pair p;
    p.co = green__ctx_make(stack_alloc(&s, STACK_SIZE), STACK_SIZE,
                           pingpong_entry);

    void *hello = green__ctx_jump(&p.main, p.co, &p);
    ck_assert_ptr_eq(hello, (void *)(uintptr_t)0xfeed);
    for (uintptr_t i = 0; i < 100; i++) {
        void *r = green__ctx_jump(&p.main, p.co, (void *)i);
        ck_assert_ptr_eq(r, (void *)(3 * i + 1));
    }
    /* NULL and all-ones travel unchanged too. */
    ck_assert_ptr_eq(green__ctx_jump(&p.main, p.co, NULL), (void *)1);
    ck_assert_ptr_eq(green__ctx_jump(&p.main, p.co, (void *)UINTPTR_MAX),
                     (void *)(3 * UINTPTR_MAX + 1));
    stack_free(&s);
}
END_TEST

/* --- first argument ------------------------------------------------------ */

static struct pair first_pair;
static void *first_seen;
static int first_runs;

static void first_entry(void *arg)
{
    first_seen = arg;
    first_runs++;
    green__ctx_jump(&first_pair.co, first_pair.main, NULL);
    ck_abort_msg("a finished context was resumed");
}

START_TEST(test_first_arg)
{
    struct test_stack s;
    int marker;
    first_seen = NULL;
    first_runs = 0;
    first_pair.co = green__ctx_make(stack_alloc(&s, STACK_SIZE), STACK_SIZE,
                                    first_entry);
    /* Making a context runs nothing. */
    ck_assert_int_eq(first_runs, 0);
    void *r = green__ctx_jump(&first_pair.main, first_pair.co, &marker);
    ck_assert_ptr_null(r);
    ck_assert_int_eq(first_runs, 1);
    ck_assert_ptr_eq(first_seen, &marker);
    stack_free(&s);
}
END_TEST

/* --- stack alignment ----------------------------------------------------- */

static struct pair align_pair;

/* A frame one call deeper, as any callee of entry would see. */
static __attribute__((noinline)) uintptr_t callee_misalignment(void)
{
    _Alignas(16) volatile char local[16];
    local[0] = 1;
    return ((uintptr_t)__builtin_frame_address(0) & 15) |
           ((uintptr_t)local & 15);
}

static void align_entry(void *arg)
{
    _Alignas(16) volatile char local[16];
    local[0] = 1;
    /* The compiler trusts the incoming sp to be aligned and does not
     * realign, so a bad sp shows in these addresses. */
    uintptr_t bad = ((uintptr_t)__builtin_frame_address(0) & 15) |
                    ((uintptr_t)local & 15) | callee_misalignment();
    /* Vararg and double formatting use aligned vector stores on x86-64;
     * they crash on a misaligned stack. */
    char buf[64];
    snprintf(buf, sizeof buf, "%.3f %d", 2.5 * (double)(uintptr_t)arg, 7);
    if (strcmp(buf, "5.000 7") != 0) {
        bad |= 0x100;
    }
    green__ctx_jump(&align_pair.co, align_pair.main, (void *)bad);
    ck_abort_msg("a finished context was resumed");
}

START_TEST(test_stack_alignment)
{
    /* Stack sizes that are not multiples of 16 below an aligned top. */
    static const size_t sizes[] = {STACK_SIZE, STACK_SIZE - 8,
                                   STACK_SIZE - 24, STACK_SIZE / 2 + 40};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        struct test_stack s;
        void *top = stack_alloc(&s, STACK_SIZE);
        align_pair.co = green__ctx_make(top, sizes[i], align_entry);
        void *bad = green__ctx_jump(&align_pair.main, align_pair.co,
                                    (void *)(uintptr_t)2);
        ck_assert_msg(bad == NULL, "misaligned in entry (size %zu): %#lx",
                      sizes[i], (unsigned long)(uintptr_t)bad);
        stack_free(&s);
    }
}
END_TEST

/* --- callee-saved registers ---------------------------------------------- */

/* Distinct inputs the compiler cannot know or recompute: every value below
 * derived from them must survive each switch in a register or a spill. */
static volatile uint64_t noise[16] = {
    0x9e3779b97f4a7c15u, 0xbf58476d1ce4e5b9u, 0x94d049bb133111ebu,
    0x2545f4914f6cdd1du, 0xd6e8feb86659fd93u, 0xa0761d6478bd642fu,
    0xe7037ed1a0b428dbu, 0x8ebc6af09c88c6e3u, 0x589965cc75374cc3u,
    0x1d8e4e27c47d124fu, 0xc2b2ae3d27d4eb4fu, 0x165667b19e3779f9u,
    0x27d4eb2f165667c5u, 0x85ebca77c2b2ae63u, 0xff51afd7ed558ccdu,
    0xc4ceb9fe1a85ec53u,
};

static uint64_t expect_int(uint64_t seed, int i)
{
    return noise[i] * (seed | 1) + (uint64_t)i;
}

static double expect_fp(uint64_t seed, int i)
{
    return (double)(noise[i] >> 12) * 0.5 + (double)seed + (double)i;
}

/* Keeps 16 integers and 12 doubles live across `rounds` switches to
 * *other and back: more than the callee-saved registers of any supported
 * ABI (x86-64: 6 integer, no vector; aarch64: 10 + fp, lr, and d8-d15), so
 * the compiler fills every one of them. The other context runs the same
 * code with another seed, so a register the switch failed to restore
 * holds the other context's value. Returns the number of wrong values. */
static __attribute__((noinline)) int keep_live(uint64_t seed,
                                               green__sp_t *self,
                                               green__sp_t *other,
                                               int rounds)
{
#define INT(i) uint64_t a##i = expect_int(seed, i)
#define FP(i) double f##i = expect_fp(seed, i)
    INT(0); INT(1); INT(2); INT(3); INT(4); INT(5); INT(6); INT(7);
    INT(8); INT(9); INT(10); INT(11); INT(12); INT(13); INT(14); INT(15);
    FP(0); FP(1); FP(2); FP(3); FP(4); FP(5);
    FP(6); FP(7); FP(8); FP(9); FP(10); FP(11);
#undef INT
#undef FP
    for (int r = 0; r < rounds; r++) {
        green__ctx_jump(self, *other, NULL);
    }
    int bad = 0;
#define CHECK_INT(i) bad += (a##i != expect_int(seed, i))
#define CHECK_FP(i) bad += (f##i != expect_fp(seed, i))
    CHECK_INT(0); CHECK_INT(1); CHECK_INT(2); CHECK_INT(3);
    CHECK_INT(4); CHECK_INT(5); CHECK_INT(6); CHECK_INT(7);
    CHECK_INT(8); CHECK_INT(9); CHECK_INT(10); CHECK_INT(11);
    CHECK_INT(12); CHECK_INT(13); CHECK_INT(14); CHECK_INT(15);
    CHECK_FP(0); CHECK_FP(1); CHECK_FP(2); CHECK_FP(3);
    CHECK_FP(4); CHECK_FP(5); CHECK_FP(6); CHECK_FP(7);
    CHECK_FP(8); CHECK_FP(9); CHECK_FP(10); CHECK_FP(11);
#undef CHECK_INT
#undef CHECK_FP
    return bad;
}

#define LIVE_ROUNDS 50

static struct pair live_pair;
static int live_co_bad;

static void live_entry(void *arg)
{
    live_co_bad = keep_live(0x5eed0002u, &live_pair.co, &live_pair.main,
                            LIVE_ROUNDS);
    green__ctx_jump(&live_pair.co, live_pair.main, NULL);
    ck_abort_msg("a finished context was resumed");
}

START_TEST(test_callee_saved)
{
    struct test_stack s;
    live_co_bad = -1;
    live_pair.co = green__ctx_make(stack_alloc(&s, STACK_SIZE), STACK_SIZE,
                                   live_entry);
    /* Start the other side: it fills its registers and jumps straight
     * back, then each of our LIVE_ROUNDS jumps is answered by one of its
     * own, and its last check runs before our last jump returns. */
    green__ctx_jump(&live_pair.main, live_pair.co, NULL);
    int bad = keep_live(0x5eed0001u, &live_pair.main, &live_pair.co,
                        LIVE_ROUNDS);
    ck_assert_int_eq(bad, 0);
    ck_assert_int_eq(live_co_bad, 0);
    stack_free(&s);
}
END_TEST

/* --- frame pointer ------------------------------------------------------- */

/* The frame pointer register (rbp, x29) as the caller holds it at the call.
 * The empty asm keeps the compiler from treating two calls as one. Level 1
 * is safe (the warning's concern) because the only caller keeps a frame
 * pointer. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wframe-address"
static __attribute__((noinline)) uintptr_t callers_frame(void)
{
    __asm__ volatile("");
    return (uintptr_t)__builtin_frame_address(1);
}
#pragma GCC diagnostic pop

/* Whether the frame pointer survives `rounds` switches. Optimised code
 * seldom reads it, so a switch that loses it would only show in debuggers
 * and frame-pointer profilers; this reads it back explicitly. Using
 * __builtin_frame_address(0) here makes the compiler keep a frame pointer
 * in this function, which callers_frame() relies on. */
static __attribute__((noinline)) int frame_survives(green__sp_t *self,
                                                    green__sp_t *other,
                                                    int rounds)
{
    uintptr_t mine = (uintptr_t)__builtin_frame_address(0);
    int ok = callers_frame() == mine;
    for (int r = 0; r < rounds; r++) {
        green__ctx_jump(self, *other, NULL);
        ok &= callers_frame() == mine;
    }
    return ok;
}

static struct pair frame_pair;
static int frame_co_ok;

static void frame_entry(void *arg)
{
    frame_co_ok = frame_survives(&frame_pair.co, &frame_pair.main, 10);
    green__ctx_jump(&frame_pair.co, frame_pair.main, NULL);
    ck_abort_msg("a finished context was resumed");
}

START_TEST(test_frame_pointer)
{
    struct test_stack s;
    frame_co_ok = -1;
    frame_pair.co = green__ctx_make(stack_alloc(&s, STACK_SIZE), STACK_SIZE,
                                    frame_entry);
    green__ctx_jump(&frame_pair.main, frame_pair.co, NULL);
    ck_assert_int_eq(frame_survives(&frame_pair.main, &frame_pair.co, 10),
                     1);
    ck_assert_int_eq(frame_co_ok, 1);
    stack_free(&s);
}
END_TEST

/* --- floating-point control state ---------------------------------------- */

#if defined(__x86_64__)
/* x86-64 saves MXCSR and the x87 control word per context (the SysV ABI
 * makes their control bits callee-saved), so a rounding mode set in one
 * context must not leak into another. On aarch64 FPCR is per OS thread by
 * design (only d8-d15 are saved), so there is nothing to test there beyond
 * test_callee_saved's doubles. */

static volatile double d_one = 1.0, d_three = 3.0;
static volatile long double ld_one = 1.0L, ld_three = 3.0L;

/* Quotients whose rounding tells nearest, upward and downward apart: one
 * of +1/3 and -1/3 rounds the same under nearest as under upward, the other
 * the same as under downward (which one depends on the precision). sse uses
 * MXCSR, x87 the x87 control word. */
struct quotients {
    double sse_pos, sse_neg;
    long double x87_pos, x87_neg;
};

static struct quotients divide(void)
{
    struct quotients q;
    q.sse_pos = d_one / d_three;
    q.sse_neg = -d_one / d_three;
    q.x87_pos = ld_one / ld_three;
    q.x87_neg = -ld_one / ld_three;
    return q;
}

static int same(const struct quotients *a, const struct quotients *b)
{
    return a->sse_pos == b->sse_pos && a->sse_neg == b->sse_neg &&
           a->x87_pos == b->x87_pos && a->x87_neg == b->x87_neg;
}

/* The quotients under each mode, and whether arithmetic honours the mode
 * at all: valgrind keeps the control registers but rounds to nearest. */
static struct quotients q_near, q_up, q_down;
static int arith_rounds;

/* True if the running context rounds by `mode`: in the x87 control word
 * (fegetround() reads it), in MXCSR, and in arithmetic where honoured. */
static int rounds_by(int mode, const struct quotients *want)
{
    /* glibc's FE_* are the x87 RC bits (10-11); MXCSR has the same code in
     * bits 13-14. */
    unsigned mxcsr_rc = __builtin_ia32_stmxcsr() & 0x6000u;
    struct quotients q = divide();
    return fegetround() == mode && mxcsr_rc == (unsigned)mode << 3 &&
           (!arith_rounds || same(&q, want));
}

static void learn_quotients(void)
{
    q_near = divide();
    fesetround(FE_UPWARD);
    q_up = divide();
    fesetround(FE_DOWNWARD);
    q_down = divide();
    fesetround(FE_TONEAREST);
    arith_rounds = !same(&q_up, &q_near) && !same(&q_down, &q_near) &&
                   !same(&q_up, &q_down);
}

static struct pair fp_pair;

/* Sets downward rounding and checks, at every return, that it still has
 * it; reports 1 (ok) or 2 (lost) to main. */
static void fp_entry(void *arg)
{
    fesetround(FE_DOWNWARD);
    for (;;) {
        uintptr_t ok = rounds_by(FE_DOWNWARD, &q_down) ? 1 : 2;
        green__ctx_jump(&fp_pair.co, fp_pair.main, (void *)ok);
    }
}

START_TEST(test_fp_control)
{
    struct test_stack s;
    ck_assert_int_eq(fegetround(), FE_TONEAREST);
    learn_quotients();
    ck_assert(arith_rounds || green_test_valgrind());

    fp_pair.co = green__ctx_make(stack_alloc(&s, STACK_SIZE), STACK_SIZE,
                                 fp_entry);
    void *r = green__ctx_jump(&fp_pair.main, fp_pair.co, NULL);
    ck_assert_ptr_eq(r, (void *)1);
    ck_assert_msg(rounds_by(FE_TONEAREST, &q_near),
                  "the other context's rounding mode leaked into main");

    fesetround(FE_UPWARD);
    for (int i = 0; i < 10; i++) {
        r = green__ctx_jump(&fp_pair.main, fp_pair.co, NULL);
        int mine = rounds_by(FE_UPWARD, &q_up);
        fesetround(FE_TONEAREST); /* before ck_assert can leave */
        ck_assert_msg(r == (void *)1, "the other context lost its mode");
        ck_assert_msg(mine, "main lost its mode across a switch");
        fesetround(FE_UPWARD);
    }
    fesetround(FE_TONEAREST);
    stack_free(&s);
}
END_TEST
#endif

/* --- a chain of contexts ------------------------------------------------- */

#define CHAIN_LEN 1000
#define CHAIN_LAPS 3

/* Context i (1..CHAIN_LEN) adds i to the sum and passes the baton to
 * i + 1; the last one passes it back to main (slot 0). */
struct baton {
    green__sp_t sp[CHAIN_LEN + 1];
    int at;             /* index of the context the baton goes to */
    uint64_t sum;
    uint64_t hops;
};

static void chain_entry(void *arg)
{
    struct baton *b = arg;
    int me = b->at;
    for (;;) {
        int next = (me == CHAIN_LEN) ? 0 : me + 1;
        b->sum += (uint64_t)me;
        b->hops++;
        b->at = next;
        struct baton *got = green__ctx_jump(&b->sp[me], b->sp[next], b);
        if (got != b || got->at != me) {
            ck_abort_msg("context %d got a wrong baton", me);
        }
    }
}

START_TEST(test_chain)
{
    static struct test_stack stacks[CHAIN_LEN + 1];
    static struct baton b;
    memset(&b, 0, sizeof b);
    for (int i = 1; i <= CHAIN_LEN; i++) {
        b.sp[i] = green__ctx_make(stack_alloc(&stacks[i], STACK_SIZE),
                                  STACK_SIZE, chain_entry);
    }
    for (int lap = 1; lap <= CHAIN_LAPS; lap++) {
        b.at = 1;
        struct baton *got = green__ctx_jump(&b.sp[0], b.sp[1], &b);
        ck_assert_ptr_eq(got, &b);
        ck_assert_int_eq(b.at, 0);
        ck_assert_uint_eq(b.hops, (uint64_t)lap * CHAIN_LEN);
        ck_assert_uint_eq(b.sum, (uint64_t)lap * CHAIN_LEN *
                                     (CHAIN_LEN + 1) / 2);
    }
    for (int i = 1; i <= CHAIN_LEN; i++) {
        stack_free(&stacks[i]);
    }
}
END_TEST

/* --- many switches ------------------------------------------------------- */

#define MANY_SWITCHES 200000

static struct pair many_pair;

static void many_entry(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    for (;;) {
        v = (uintptr_t)green__ctx_jump(&many_pair.co, many_pair.main,
                                       (void *)~v);
    }
}

START_TEST(test_many_switches)
{
    struct test_stack s;
    many_pair.co = green__ctx_make(stack_alloc(&s, STACK_SIZE), STACK_SIZE,
                                   many_entry);
    uintptr_t wrong = 0;
    for (uintptr_t i = 0; i < MANY_SWITCHES; i++) {
        uintptr_t r = (uintptr_t)green__ctx_jump(&many_pair.main,
                                                 many_pair.co, (void *)i);
        wrong += (r != ~i);
    }
    ck_assert_uint_eq(wrong, 0);
    stack_free(&s);
}
END_TEST

/* --- reusing a stack ----------------------------------------------------- */

static struct pair reuse_pair;

static void reuse_entry(void *arg)
{
    green__ctx_jump(&reuse_pair.co, reuse_pair.main,
                    (void *)((uintptr_t)arg + 1));
    ck_abort_msg("a finished context was resumed");
}

/* A stack pool hands the same stack to a new context once the old one is
 * abandoned; nothing of the old context may leak into the new one. */
START_TEST(test_reuse_stack)
{
    struct test_stack s;
    void *top = stack_alloc(&s, STACK_SIZE);
    for (uintptr_t i = 0; i < 5; i++) {
        reuse_pair.co = green__ctx_make(top, STACK_SIZE, reuse_entry);
        void *r = green__ctx_jump(&reuse_pair.main, reuse_pair.co,
                                  (void *)(i * 10));
        ck_assert_ptr_eq(r, (void *)(i * 10 + 1));
    }
    stack_free(&s);
}
END_TEST

/* --- entry returning ----------------------------------------------------- */

static void returning_entry(void *arg)
{
    (void)arg;
}

static void run_returning_entry(void *arg)
{
    struct test_stack s;
    green__sp_t self;
    green__sp_t co = green__ctx_make(stack_alloc(&s, STACK_SIZE), STACK_SIZE,
                                     returning_entry);
    green__ctx_jump(&self, co, arg);
    fprintf(stderr, "green__ctx_jump came back from a returned entry\n");
}

/* entry must never return; if it does, the trampoline aborts rather than
 * run off into whatever lies above the stack. */
START_TEST(test_entry_return_aborts)
{
    char buf[256];
    int status = green_test_fork_capture(run_returning_entry, NULL, buf,
                                         sizeof buf);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
                  "status %#x, stderr: %s", status, buf);
}
END_TEST

Suite *green_test_switch_suite(void)
{
    Suite *s = suite_create("switch");
    TCase *tc = tcase_create("switch");
    tcase_add_test(tc, test_pingpong);
    tcase_add_test(tc, test_first_arg);
    tcase_add_test(tc, test_stack_alignment);
    tcase_add_test(tc, test_callee_saved);
    tcase_add_test(tc, test_frame_pointer);
#if defined(__x86_64__)
    tcase_add_test(tc, test_fp_control);
#endif
    tcase_add_test(tc, test_chain);
    tcase_add_test(tc, test_many_switches);
    tcase_add_test(tc, test_reuse_stack);
    tcase_add_test(tc, test_entry_return_aborts);
    suite_add_tcase(s, tc);
    return s;
}
