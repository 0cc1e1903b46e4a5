/* SPDX-License-Identifier: MIT */
/* Context switch for AArch64, AAPCS64, ELF, GNU as.
 *
 * Implements lib/arch/switch.h. AAPCS64 makes x19-x28 and the frame pointer
 * x29 callee-saved (section 6.1.1, general-purpose registers), and the low
 * 64 bits of v8-v15, i.e. d8-d15 (section 6.1.2, SIMD and floating-point
 * registers). A switch saves exactly those, the link register x30 that the
 * jump returns through, and sp; everything else is dead across the call to
 * green__ctx_jump(). FPCR and FPSR are not saved: the rounding mode and the
 * exception flags stay per OS thread on this architecture, and restoring
 * FPCR would cost an msr on every switch. x18 (the platform register) is
 * never touched.
 *
 * Frame of a suspended context, at its saved stack pointer (0xa0 bytes, a
 * multiple of 16, since AAPCS64 wants sp 16-byte aligned at every public
 * interface and the hardware may be set to fault on any access through an
 * sp that is not):
 *
 *   offset  0x00  0x08  0x10  0x18  0x20  0x28  0x30  0x38
 *          +-----+-----+-----+-----+-----+-----+-----+-----+
 *          | d8  | d9  | d10 | d11 | d12 | d13 | d14 | d15 |
 *          +-----+-----+-----+-----+-----+-----+-----+-----+
 *   offset  0x40  0x48  0x50  0x58  0x60  0x68  0x70  0x78  0x80  0x88
 *          +-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+
 *          | x19 | x20 | x21 | x22 | x23 | x24 | x25 | x26 | x27 | x28 |
 *          +-----+-----+-----+-----+-----+-----+-----+-----+-----+-----+
 *   offset  0x90  0x98
 *          +-----+-----+
 *          | x29 | x30 |   <- a standard frame record (fp, lr)
 *          | fp  | lr  |
 *          +-----+-----+
 *
 * A fresh context (green__ctx_make) has the same frame with x19 = entry,
 * x30 = trampoline and everything else zero, so the first jump "returns"
 * into the trampoline, which calls entry(arg) with sp at the 16-byte aligned
 * top of the stack.
 *
 * Branch protection: with BTI enabled every function that may be reached by
 * an indirect call (a linker veneer can reach even a direct bl) starts with
 * "bti c". The trampoline is only ever entered by ret, which BTI does not
 * check. Return-address signing (PAC) is not applied to the switch frame: a
 * jump returns through the lr saved by another context, and the C callers
 * sign and authenticate their own lr against an sp that we restore exactly,
 * so they keep working under -mbranch-protection=pac-ret. */

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
# define BTI_C hint #34 /* bti c, a no-op on cores without BTI */
#else
# define BTI_C
#endif

    .text

/* void *green__ctx_jump(green__sp_t *save_sp (x0), green__sp_t to_sp (x1),
 *                       void *arg (x2)) */
    .globl  green__ctx_jump
    .hidden green__ctx_jump
    .type   green__ctx_jump, %function
    .p2align 4
green__ctx_jump:
    .cfi_startproc
    BTI_C
    /* Save the callee-saved registers in a frame below the caller's sp. The
     * CFI describes this frame; it stays true after the stack swap, since
     * the other context's frame has the same layout. */
    sub     sp, sp, #0xa0
    .cfi_def_cfa_offset 0xa0
    stp     d8, d9, [sp, #0x00]
    stp     d10, d11, [sp, #0x10]
    stp     d12, d13, [sp, #0x20]
    stp     d14, d15, [sp, #0x30]
    stp     x19, x20, [sp, #0x40]
    stp     x21, x22, [sp, #0x50]
    stp     x23, x24, [sp, #0x60]
    stp     x25, x26, [sp, #0x70]
    stp     x27, x28, [sp, #0x80]
    stp     x29, x30, [sp, #0x90]
    .cfi_offset x19, -0x60
    .cfi_offset x20, -0x58
    .cfi_offset x21, -0x50
    .cfi_offset x22, -0x48
    .cfi_offset x23, -0x40
    .cfi_offset x24, -0x38
    .cfi_offset x25, -0x30
    .cfi_offset x26, -0x28
    .cfi_offset x27, -0x20
    .cfi_offset x28, -0x18
    .cfi_offset x29, -0x10
    .cfi_offset x30, -0x08

    /* Swap stacks. sp cannot be stored directly by str, hence x9. */
    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1

    /* Restore the other context's registers from its frame. */
    ldp     d8, d9, [sp, #0x00]
    ldp     d10, d11, [sp, #0x10]
    ldp     d12, d13, [sp, #0x20]
    ldp     d14, d15, [sp, #0x30]
    ldp     x19, x20, [sp, #0x40]
    ldp     x21, x22, [sp, #0x50]
    ldp     x23, x24, [sp, #0x60]
    ldp     x25, x26, [sp, #0x70]
    ldp     x27, x28, [sp, #0x80]
    ldp     x29, x30, [sp, #0x90]
    add     sp, sp, #0xa0
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30

    /* arg is both our return value and, for a fresh context, the first
     * argument of entry (the trampoline calls it with x0 untouched). */
    mov     x0, x2
    ret
    .cfi_endproc
    .size   green__ctx_jump, .-green__ctx_jump

/* green__sp_t green__ctx_make(void *stack_top (x0), size_t size (x1),
 *                             void (*entry)(void *) (x2)) */
    .globl  green__ctx_make
    .hidden green__ctx_make
    .type   green__ctx_make, %function
    .p2align 4
green__ctx_make:
    .cfi_startproc
    BTI_C
    /* Frame base: the aligned top minus one frame, so that once the first
     * jump pops the frame, sp is the 16-byte aligned top of the stack. */
    and     x9, x0, #~15
    sub     x9, x9, #0xa0

    /* The new context inherits nothing: d8-d15 and x20-x28 start at zero. */
    stp     xzr, xzr, [x9, #0x00]       /* d8, d9 */
    stp     xzr, xzr, [x9, #0x10]       /* d10, d11 */
    stp     xzr, xzr, [x9, #0x20]       /* d12, d13 */
    stp     xzr, xzr, [x9, #0x30]       /* d14, d15 */
    stp     x2, xzr, [x9, #0x40]        /* x19 = entry, x20 */
    stp     xzr, xzr, [x9, #0x50]       /* x21, x22 */
    stp     xzr, xzr, [x9, #0x60]       /* x23, x24 */
    stp     xzr, xzr, [x9, #0x70]       /* x25, x26 */
    stp     xzr, xzr, [x9, #0x80]       /* x27, x28 */
    /* x29 = 0 ends frame-pointer walks; the first jump returns to x30. */
    adr     x10, trampoline
    stp     xzr, x10, [x9, #0x90]

    mov     x0, x9
    ret
    .cfi_endproc
    .size   green__ctx_make, .-green__ctx_make

/* Runs on the fresh stack with x0 = arg of the first jump, x19 = entry. */
    .type   trampoline, %function
    .p2align 4
trampoline:
    .cfi_startproc
    .cfi_undefined x30                  /* backtraces stop here */
    blr     x19
    /* entry must never return: there is nowhere to return to. */
    bl      abort
    brk     #0x3e8
    .cfi_endproc
    .size   trampoline, .-trampoline

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
/* Mark the object BTI-compatible (every indirect-call target above starts
 * with bti c), so that linking it keeps BTI enforcement for the whole
 * library. Not PAC: the switch frame's lr is not signed (see the top). Not
 * GCS: switching stacks without switching guarded control stacks would
 * fault at the first ret, so we must not claim it. */
    .section .note.gnu.property, "a"
    .p2align 3
    .long   4                           /* name size */
    .long   16                          /* descriptor size */
    .long   5                           /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   0xc0000000                  /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long   4                           /* data size */
    .long   1                           /* GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
    .long   0                           /* pad to 8 bytes */
#endif

    .section .note.GNU-stack, "", %progbits
