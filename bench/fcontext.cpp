/* SPDX-License-Identifier: MIT */
/* Reference for bench/switch.c: Boost.Context's fcontext, the fastest
 * widely used context switch, measured the way Boost's own
 * performance/fcontext does it (one warm-up jump, N round trips, two jumps
 * each). Built only when libboost-context-dev is installed.
 *
 *   switch.fcontext   ns per jump_fcontext()
 *
 * BENCH_SWITCHES sets N (default 10,000,000). */
#include <cstdint>
#include <cstdlib>

#include <boost/context/detail/fcontext.hpp>

#include "bench.h"

namespace ctx = boost::context::detail;

static const std::size_t stack_size = 64 * 1024;

/* Hands back every value it gets plus one, forever. */
static void entry(ctx::transfer_t t)
{
    for (;;) {
        std::uintptr_t v = reinterpret_cast<std::uintptr_t>(t.data);
        t = ctx::jump_fcontext(t.fctx, reinterpret_cast<void *>(v + 1));
    }
}

int main()
{
    long n = bench_env_long("BENCH_SWITCHES", 10000000);
    char *stack = static_cast<char *>(std::aligned_alloc(64, stack_size));
    BENCH_CHECK(stack != nullptr);

    ctx::fcontext_t co = ctx::make_fcontext(stack + stack_size, stack_size,
                                            entry);
    ctx::transfer_t t = ctx::jump_fcontext(co, reinterpret_cast<void *>(1));
    BENCH_CHECK(reinterpret_cast<std::uintptr_t>(t.data) == 2);

    std::uint64_t t0 = bench_now_ns();
    for (std::uintptr_t i = 1; i <= static_cast<std::uintptr_t>(n); i++) {
        t = ctx::jump_fcontext(t.fctx, reinterpret_cast<void *>(i));
        BENCH_CHECK(reinterpret_cast<std::uintptr_t>(t.data) == i + 1);
    }
    std::uint64_t t1 = bench_now_ns();

    /* The context stays suspended; its stack is simply dropped. */
    std::free(stack);
    bench_report("switch.fcontext",
                 static_cast<double>(t1 - t0) / (2.0 * static_cast<double>(n)),
                 "ns");
    return 0;
}
