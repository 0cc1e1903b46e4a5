/* SPDX-License-Identifier: MIT */
/* The whole machine-dependent interface of libgreen: make a context on a
 * fresh stack and jump between contexts. Exactly one of
 * lib/arch/x86_64_sysv_elf.S, lib/arch/aarch64_aapcs_elf.S or
 * lib/arch/ucontext.c implements it; meson's `context` option picks which.
 * Callers never #ifdef on the backend, except for the optional leap below.
 *
 * A context is named by its saved stack pointer (for the ucontext backend, by
 * a pointer to a ucontext_t; callers do not care). The state saved is exactly
 * what the ABI says survives a call: callee-saved registers plus the floating
 * point control state where the ABI makes it callee-saved (x86-64: rbx,
 * rbp, r12-r15, MXCSR, x87 control word, so a greenlet that changes the
 * rounding mode changes it only for itself; aarch64: x19-x30, d8-d15, while
 * FPCR stays per OS thread, as AAPCS64 treats it as global state). */
#ifndef GREEN_ARCH_SWITCH_H
#define GREEN_ARCH_SWITCH_H

#include <stddef.h>

/* Saved stack pointer of a suspended context. */
typedef void *green__sp_t;

/* Prepares a context on the stack [stack_top - size, stack_top) that, when
 * first jumped to, calls entry(arg) with the arg of that jump. stack_top must
 * be 16-byte aligned. entry must never return: the trampoline aborts if it
 * does. Returns the context to pass to green__ctx_jump(). Never fails. */
green__sp_t green__ctx_make(void *stack_top, size_t size,
                            void (*entry)(void *arg));

/* Saves the running context in *save_sp and resumes to_sp, handing it arg:
 * the resumed context's own green__ctx_jump() returns arg (or, for a fresh
 * context, entry receives it). Returns when something jumps back to *save_sp,
 * with the value that jump passed. */
void *green__ctx_jump(green__sp_t *save_sp, green__sp_t to_sp, void *arg);

/* Only the x86-64 assembly has the following (GREEN_CTX_LEAP in
 * green_config.h says so); elsewhere greenlet_switch() uses the jump.
 *
 * green__ctx_leap: green__ctx_jump that returns through an indirect jump
 * rather than ret, and returns arg as an int. A context suspended here is
 * resumed by any jump or leap, and returns straight to its caller.
 *
 * green__ctx_redirect: makes a context suspended in green__ctx_leap resume
 * in detour first; returns the address it would have returned to.
 * green__ctx_reaper calls green__greenlet_reaped() (which returns that
 * address) and continues there. */
int green__ctx_leap(green__sp_t *save_sp, green__sp_t to_sp, long arg);
void *green__ctx_redirect(green__sp_t sp, void *detour);
void green__ctx_reaper(void);
void *green__greenlet_reaped(void);

#endif
