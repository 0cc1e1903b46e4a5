/* SPDX-License-Identifier: MIT */
/* Context switch on POSIX ucontext: the portable fallback behind
 * lib/arch/switch.h, chosen with -Dcontext=ucontext or on a CPU without an
 * assembly file. It is an order of magnitude slower than the assembly
 * (swapcontext() saves and restores the signal mask with a system call), but
 * needs nothing from the architecture.
 *
 * A "saved stack pointer" here is a pointer to a ucontext_t. A suspended
 * context keeps its ucontext_t as a local of its own green__ctx_jump() frame,
 * which lives exactly as long as the context is suspended; a fresh context
 * keeps it at the top of its stack. The jump's arg travels through a
 * thread-local, since swapcontext() carries no value. */
#include "switch.h"

#include <stdint.h>
#include <stdlib.h>
#include <ucontext.h>

/* The top of a fresh stack: its context and what the trampoline needs. */
struct fresh {
    ucontext_t uc;
    void (*entry)(void *arg);
};

static __thread void *transfer;

/* makecontext() passes int arguments only, so the pointer comes in halves. */
static void trampoline(unsigned int lo, unsigned int hi)
{
    struct fresh *f =
        (struct fresh *)(((uintptr_t)hi << 32) | (uintptr_t)lo);
    f->entry(transfer);
    abort(); /* entry must never return */
}

green__sp_t green__ctx_make(void *stack_top, size_t size,
                            void (*entry)(void *arg))
{
    uintptr_t top = (uintptr_t)stack_top & ~(uintptr_t)15;
    struct fresh *f =
        (struct fresh *)((top - sizeof(struct fresh)) & ~(uintptr_t)63);
    char *lo = (char *)stack_top - size;

    getcontext(&f->uc);
    f->uc.uc_link = NULL;
    f->uc.uc_stack.ss_sp = lo;
    f->uc.uc_stack.ss_size = (size_t)((char *)f - lo);
    f->entry = entry;
    uintptr_t p = (uintptr_t)f;
    makecontext(&f->uc, (void (*)(void))trampoline, 2,
                (unsigned int)(p & 0xffffffffu), (unsigned int)(p >> 32));
    return &f->uc;
}

void *green__ctx_jump(green__sp_t *save_sp, green__sp_t to_sp, void *arg)
{
    ucontext_t self;

    *save_sp = &self;
    transfer = arg;
    swapcontext(&self, (ucontext_t *)to_sp);
    return transfer;
}
