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

/* void *green__ctx_jump(green__sp_t *save_sp (rdi), green__sp_t to_sp (rsi),
 *                       void *arg (rdx)) */
    .globl  green__ctx_jump
    .hidden green__ctx_jump
    .type   green__ctx_jump, @function
    .p2align 4
green__ctx_jump:
    .cfi_startproc
    ENDBR
    /* Push the callee-saved registers; the return address is already there. */
    pushq   %rbp
    pushq   %rbx
    pushq   %r15
    pushq   %r14
    pushq   %r13
    pushq   %r12
    /* FP control state below them (fnstcw stores 2 bytes: clear the
     * other 2 so the 8-byte pair compares exactly below). */
    leaq    -0x8(%rsp), %rsp
    stmxcsr (%rsp)
    movl    $0, 0x4(%rsp)
    fnstcw  0x4(%rsp)

    /* Swap stacks, keeping our FP control word pair in rcx. */
    movq    %rsp, (%rdi)
    movq    (%rsp), %rcx
    movq    %rsi, %rsp

    /* Restore the other context's state in the reverse order. ldmxcsr and
     * fldcw are slow and almost always redundant (contexts rarely change
     * the rounding mode), so load them only when they differ. */
    cmpq    (%rsp), %rcx
    jne     .Lload_fp
.Lfp_done:
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
    ret

.Lload_fp:
    ldmxcsr (%rsp)
    fldcw   0x4(%rsp)
    jmp     .Lfp_done
    .cfi_endproc
    .size   green__ctx_jump, .-green__ctx_jump

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
    movl    $0, 0x4(%rax)
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
