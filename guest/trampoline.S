/* trampoline: the 16-bit AP start-up code. smp.c copies it to TRAMP_ADDR
 * (0x8000, below 1 MiB) and starts each AP there with SIPI vector 0x08.
 * Real mode -> load our GDT (32-bit base) -> protected mode -> far jump to
 * ap_entry32 in the image (entry.S), which continues to long mode. Position
 * independent: only CS-relative and absolute addresses are used. */
#include "layout.h"

	.section .rodata.trampoline, "a"
	.code16
	.globl tramp_start, tramp_end
tramp_start:
	cli
	cld
	lgdtl %cs:(tramp_gdt_ptr - tramp_start)
	movl %cr0, %eax
	andl $0x9fffffff, %eax          /* caches on: clear CD and NW */
	orl $1, %eax                    /* PE */
	movl %eax, %cr0
	ljmpl $SEL_KCODE32, $ap_entry32

	.balign 8
tramp_gdt_ptr:
	.word GDT_SIZE - 1
	.long gdt
tramp_end:
