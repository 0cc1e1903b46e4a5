/* SPDX-License-Identifier: MIT */
/* Context switch cost: two contexts ping-pong a counter, N round trips, and
 * the result is ns per switch (a round trip is two switches, as in Boost's
 * performance/fcontext).
 *
 * meson builds this file once per backend (asm, ucontext), each linked with
 * its own copy of the library, and names the backend in BENCH_CONTEXT:
 *   switch.greenlet_<backend>   greenlet_switch(), the public API
 *   switch.ctx_jump_<backend>   green__ctx_jump() alone (lib/arch/switch.h)
 * and, in the build with BENCH_REFERENCES, the reference:
 *   switch.swapcontext          a raw swapcontext() ping-pong
 *
 * BENCH_SWITCHES sets N (default 10,000,000 round trips, a tenth of that
 * for ucontext, whose swapcontext makes a system call each time). */
#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

#include "green.h"
#include "arch/switch.h"

#include "bench.h"

#ifndef BENCH_CONTEXT
# define BENCH_CONTEXT "asm"
#endif

#define STACK_SIZE (64 * 1024)

/* --- greenlet_switch ----------------------------------------------------- */

/* Returns every value it gets plus one, until it gets NULL. */
static void *pong(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    greenlet_t *root = greenlet_parent(greenlet_current());
    while (v != 0) {
        void *in;
        BENCH_CHECK(greenlet_switch(root, (void *)(v + 1), &in) == 0);
        v = (uintptr_t)in;
    }
    return (void *)(uintptr_t)0xdead;
}

static void bench_greenlet(long n)
{
    greenlet_t *g;
    BENCH_CHECK(greenlet_new(&g, pong, NULL, 0) == 0);

    /* Warm-up: the first switch allocates g's stack. */
    void *out;
    BENCH_CHECK(greenlet_switch(g, (void *)(uintptr_t)1, &out) == 0);
    BENCH_CHECK((uintptr_t)out == 2);

    uint64_t t0 = bench_now_ns();
    for (uintptr_t i = 1; i <= (uintptr_t)n; i++) {
        BENCH_CHECK(greenlet_switch(g, (void *)i, &out) == 0);
        BENCH_CHECK((uintptr_t)out == i + 1);
    }
    uint64_t t1 = bench_now_ns();

    BENCH_CHECK(greenlet_switch(g, NULL, &out) == 0);
    BENCH_CHECK((uintptr_t)out == 0xdead);
    BENCH_CHECK(greenlet_dead(g));
    BENCH_CHECK(greenlet_free(g) == 0);
    bench_report("switch.greenlet_" BENCH_CONTEXT,
                 (double)(t1 - t0) / (2.0 * (double)n), "ns");
}

/* --- green__ctx_jump ----------------------------------------------------- */

static green__sp_t main_sp, co_sp;

static void jump_entry(void *arg)
{
    uintptr_t v = (uintptr_t)arg;
    for (;;) {
        v = (uintptr_t)green__ctx_jump(&co_sp, main_sp, (void *)(v + 1));
    }
}

static void bench_ctx_jump(long n)
{
    char *stack = aligned_alloc(64, STACK_SIZE);
    BENCH_CHECK(stack != NULL);
    co_sp = green__ctx_make(stack + STACK_SIZE, STACK_SIZE, jump_entry);

    void *out = green__ctx_jump(&main_sp, co_sp, (void *)(uintptr_t)1);
    BENCH_CHECK((uintptr_t)out == 2);

    uint64_t t0 = bench_now_ns();
    for (uintptr_t i = 1; i <= (uintptr_t)n; i++) {
        out = green__ctx_jump(&main_sp, co_sp, (void *)i);
        BENCH_CHECK((uintptr_t)out == i + 1);
    }
    uint64_t t1 = bench_now_ns();

    /* The context is left suspended; its stack is simply dropped. */
    free(stack);
    bench_report("switch.ctx_jump_" BENCH_CONTEXT,
                 (double)(t1 - t0) / (2.0 * (double)n), "ns");
}

/* --- swapcontext ---------------------------------------------------------- */

#ifdef BENCH_REFERENCES
static ucontext_t uc_main, uc_co;
static volatile uintptr_t uc_value;

static void uc_entry(void)
{
    for (;;) {
        uc_value++;
        swapcontext(&uc_co, &uc_main);
    }
}

static void bench_swapcontext(long n)
{
    char *stack = aligned_alloc(64, STACK_SIZE);
    BENCH_CHECK(stack != NULL);
    BENCH_CHECK(getcontext(&uc_co) == 0);
    uc_co.uc_stack.ss_sp = stack;
    uc_co.uc_stack.ss_size = STACK_SIZE;
    uc_co.uc_link = NULL;
    makecontext(&uc_co, uc_entry, 0);
    BENCH_CHECK(swapcontext(&uc_main, &uc_co) == 0);
    BENCH_CHECK(uc_value == 1);

    uint64_t t0 = bench_now_ns();
    for (long i = 0; i < n; i++) {
        swapcontext(&uc_main, &uc_co);
    }
    uint64_t t1 = bench_now_ns();

    BENCH_CHECK(uc_value == (uintptr_t)n + 1);
    free(stack);
    bench_report("switch.swapcontext", (double)(t1 - t0) / (2.0 * (double)n),
                 "ns");
}
#endif

int main(void)
{
    int slow = BENCH_CONTEXT[0] == 'u'; /* ucontext */
    long n = bench_env_long("BENCH_SWITCHES", 10000000);
    long n_slow = n / 10 > 0 ? n / 10 : 1;

    bench_greenlet(slow ? n_slow : n);
    bench_ctx_jump(slow ? n_slow : n);
#ifdef BENCH_REFERENCES
    bench_swapcontext(n_slow);
#endif
    return 0;
}
