/* traps: the ring-0 interrupt descriptor table and every handler. Kept as
 * short as possible (ring-0 instructions are expensive under nested
 * virtualisation): device interrupts count an event and EOI (MSI-X vectors
 * also count per vector, for the virtio drivers); #GP from a
 * ring-3 `hlt` implements the wait/halt requests of kshared.h; #UD from a
 * ring-3 `ud2` with the magic in RAX triple-faults on purpose; anything
 * else is reported by trap_fatal() (trap.c). */
#include "layout.h"

	.section .text.traps, "ax"
	.code64

/* Unexpected exceptions: frame = vector, error code, then the CPU's. */
.macro fatal_stub vec, has_err
	.balign 16
trap_stub_\vec:
	.if \has_err == 0
	pushq $0
	.endif
	pushq $\vec
	jmp trap_fatal_common
.endm

	.irp v, 0, 1, 2, 3, 4, 5, 7, 9, 15, 16, 18, 19, 20, 22, 23, 24, 25, 26, 27, 28, 31
	fatal_stub \v, 0
	.endr
	.irp v, 8, 10, 11, 12, 14, 17, 21, 29, 30
	fatal_stub \v, 1
	.endr

trap_fatal_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	andq $-16, %rsp
	call trap_fatal                 /* does not return */
	jmp entry_halt

/* #UD (vector 6). */
trap_stub_6:
	testb $3, 8(%rsp)               /* CS: from ring 3? */
	jz 1f
	cmpl $KOP_TRIPLE_FAULT, %eax
	jne 1f
	lidt null_idt_ptr(%rip)
	ud2                             /* no IDT: #UD -> #DF -> shutdown */
1:	pushq $0
	pushq $VEC_UD
	jmp trap_fatal_common

/* #GP (vector 13): error code, RIP, CS, RFLAGS, RSP, SS. */
trap_stub_13:
	testb $3, 16(%rsp)
	jz 9f
	pushq %rcx
	movq 16(%rsp), %rcx             /* faulting RIP */
	cmpb $0xf4, (%rcx)              /* a ring-3 hlt? */
	popq %rcx
	jne 9f
	cmpl $KOP_WAIT, %eax
	je 1f
	cmpl $KOP_HALT, %eax
	je entry_halt
9:	pushq $VEC_GP
	jmp trap_fatal_common
1:	/* Wait: sleep only if nothing happened since ring 3 looked. */
	cmpq kshared+KS_EVENTS(%rip), %rdx
	jne 2f
	sti                             /* interrupt shadow: hlt comes first */
	hlt
	cli
2:	incq 8(%rsp)                    /* resume after the hlt */
	addq $8, %rsp                   /* drop the error code */
	iretq

/* LAPIC timer. */
trap_timer:
	lock incq kshared+KS_TICKS(%rip)
	lock incq kshared+KS_EVENTS(%rip)
	jmp eoi_return

/* COM1: ring 3 drains the UART; just count. */
trap_com1:
	lock incq kshared+KS_EVENTS(%rip)
	jmp eoi_return

/* ACPI: SCI (PM1 status, write-1-to-clear) and/or GED (read clears). */
trap_acpi:
	pushq %rax
	pushq %rdx
	movl kshared+KS_PM1_STS_PORT(%rip), %edx
	testl %edx, %edx
	jz 1f
	inw %dx, %ax
	outw %ax, %dx
	movzwl %ax, %eax
	lock orl %eax, kshared+KS_PM1_SEEN(%rip)
1:	movq kshared+KS_GED_ADDR(%rip), %rdx
	testq %rdx, %rdx
	jz 2f
	movl (%rdx), %eax
	lock orl %eax, kshared+KS_GED_SEEN(%rip)
2:	lock incq kshared+KS_EVENTS(%rip)
	popq %rdx
	popq %rax
	jmp eoi_return

/* MSI-X vectors VEC_MSIX_BASE + i: count in kshared.msix[i] and events. */
.macro msix_stub idx
	.balign 8
trap_msix_\idx:
	pushq %rax
	movl $\idx, %eax
	jmp msix_common
.endm
	.irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
	msix_stub \i
	.endr

msix_common:
	lock incq kshared+KS_MSIX(,%rax,8)
	lock incq kshared+KS_EVENTS(%rip)
	popq %rax
	jmp eoi_return

eoi_return:
	pushq %rax
	movl $LAPIC_EOI_ADDR, %eax
	movl $0, (%rax)
	popq %rax
	iretq

/* Spurious LAPIC interrupt: no EOI. */
trap_spurious:
	iretq

/* ---- IDT: 64-bit interrupt gates, DPL 0. Handlers live in the first
 * 64 KiB of the image, so offset bits 31:16 are constant and bits 15:0
 * a 16-bit relocation (the linker fails if one does not fit). ---- */
.macro gate handler
	.word \handler - GUEST_LOAD_ADDR
	.word SEL_KCODE64
	.byte 0
	.byte 0x8e
	.word (GUEST_LOAD_ADDR >> 16) & 0xffff
	.long 0
	.long 0
.endm

	.section .data.tables, "aw"
	.balign 16
idt:
	.irp v, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
	gate trap_stub_\v
	.endr
	gate trap_timer                 /* VEC_TIMER */
	gate trap_com1                  /* VEC_COM1 */
	gate trap_acpi                  /* VEC_ACPI */
	.fill 16 * (VEC_MSIX_BASE - VEC_ACPI - 1), 1, 0
	.irp i, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
	gate trap_msix_\i             /* VEC_MSIX_BASE + i */
	.endr
	.fill 16 * (VEC_SPURIOUS - VEC_MSIX_BASE - VEC_MSIX_COUNT), 1, 0
	gate trap_spurious              /* VEC_SPURIOUS */
idt_end:
	.if (idt_end - idt) - 4096
	.error "IDT must have 256 entries"
	.endif
	.if (VEC_TIMER != 32) || (VEC_COM1 != 33) || (VEC_ACPI != 34) || (VEC_MSIX_COUNT != 32)
	.error "vector numbers must match the gate order"
	.endif

	.balign 8
idt_ptr:
	.word 4095
	.quad idt
	.globl idt_ptr

null_idt_ptr:
	.word 0
	.quad 0
