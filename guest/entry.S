/* entry: the guest's ring-0 start-up. Owns the PVH ELF note, the 32-bit
 * entry points of the BSP (PVH) and of the APs (from the trampoline), the
 * switch to long mode, the drop to ring 3, and the static tables this needs:
 * GDT (kernel/user segments + one TSS per CPU), TSSes, identity page tables
 * for the first 4 GiB. Nothing here is computed in a loop at run time. */
#include "layout.h"

/* ---- PVH: Xen ELF note, type 18 = XEN_ELFNOTE_PHYS32_ENTRY ---- */
	.section .note.Xen, "a"
	.balign 4
	.long 4                 /* namesz: "Xen\0" */
	.long 4                 /* descsz: 32-bit entry address */
	.long 18                /* type */
	.asciz "Xen"
	.long pvh_entry32

/* ---- 32-bit entry code ---- */
	.section .text.boot, "ax"
	.code32

/* BSP: flat 32-bit protected mode, paging off, EBX = hvm_start_info. */
	.globl pvh_entry32
pvh_entry32:
	cli
	cld
	movl %ebx, %edi         /* start info, handed to ring 3 in RDI */
	xorl %esi, %esi         /* 0: this is the BSP */
	jmp long_mode_enter

/* AP: arrives from the trampoline with our GDT loaded, CS = SEL_KCODE32. */
	.globl ap_entry32
ap_entry32:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %edi, %edi
	movl $1, %esi           /* 1: an AP */

/* Common: load GDT, page tables, enable PAE + long mode + paging. */
long_mode_enter:
	lgdt gdt_ptr
	movl $pml4, %eax
	movl %eax, %cr3
	movl $CR4_LONG, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	movl $EFER_LME, %eax
	xorl %edx, %edx
	wrmsr
	movl $CR0_LONG, %eax
	movl %eax, %cr0
	ljmp $SEL_KCODE64, $long_entry64

/* ---- 64-bit ring-0 code ---- */
	.code64
long_entry64:
	movw $SEL_KDATA, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	lidt idt_ptr(%rip)
	testl %esi, %esi
	jnz 1f
	/* BSP: CPU index 0. Mask both 8259 PICs: firmware may leave them
	 * live, and their vectors would collide with exceptions. */
	xorl %ecx, %ecx
	movb $0xff, %al
	outb %al, $0x21
	outb %al, $0xa1
	jmp 2f
1:	/* AP: take the next CPU index. */
	movl $1, %ecx
	lock xaddl %ecx, kshared+KS_AP_NEXT(%rip)
	cmpl $GUEST_MAX_CPUS, %ecx
	jae entry_halt
2:	/* ECX = CPU index: TSS descriptor (clear a stale busy bit), stack. */
	movl %ecx, %eax
	shll $4, %eax
	leaq gdt(%rip), %rdx
	andb $0xfd, SEL_TSS0+5(%rdx,%rax)
	addl $SEL_TSS0, %eax
	ltr %ax
	leal 1(%ecx), %eax
	imull $KSTACK_SIZE, %eax
	leaq kstacks(%rip), %rsp
	addq %rax, %rsp
	testl %esi, %esi
	jnz 3f
	/* BSP: ring-3 guest_main(start_info) on the BSP user stack. */
	leaq bsp_ustack+BSP_USTACK_SIZE-8(%rip), %rax
	leaq guest_main(%rip), %rdx
	jmp 4f
3:	/* AP: ring-3 smp_ap_main(index) on its own user stack. */
	movl %ecx, %edi
	movl %ecx, %eax
	imull $USTACK_SIZE, %eax
	leaq ustacks-8(%rip), %rdx
	addq %rdx, %rax
	leaq smp_ap_main(%rip), %rdx
4:	pushq $SEL_UDATA
	pushq %rax
	pushq $USER_RFLAGS
	pushq $SEL_UCODE64
	pushq %rdx
	iretq

	.globl entry_halt
entry_halt:
	cli
	hlt
	jmp entry_halt

/* ---- GDT ---- */
	.section .data.tables, "aw"
	.balign 16
	.globl gdt
gdt:
	.quad 0                         /* null */
	.quad 0x00af9a000000ffff        /* 0x08 kernel code, 64-bit */
	.quad 0x00cf92000000ffff        /* 0x10 kernel data */
	.quad 0x00cf9a000000ffff        /* 0x18 kernel code, 32-bit (AP start-up) */
	.quad 0x00cff2000000ffff        /* 0x20 user data, DPL 3 */
	.quad 0x00affa000000ffff        /* 0x28 user code, 64-bit, DPL 3 */
	/* 0x30: 64-bit TSS descriptors. The TSSes live in the first 64 KiB
	 * of the image, so base bits 31:16 are constant and bits 15:0 are a
	 * link-time 16-bit relocation (overflow-checked by the linker). */
	.set cpu, 0
	.rept GUEST_MAX_CPUS
	.word (tss_iobitmap_end - tss_array) - cpu * TSS_SIZE - 1 /* limit */
	.word tss_array + cpu * TSS_SIZE - GUEST_LOAD_ADDR
	.byte (GUEST_LOAD_ADDR >> 16) & 0xff
	.byte 0x89                      /* present, 64-bit TSS, available */
	.byte 0
	.byte (GUEST_LOAD_ADDR >> 24) & 0xff
	.quad 0
	.set cpu, cpu + 1
	.endr
gdt_end:
	.if gdt_end - gdt - GDT_SIZE
	.error "GDT_SIZE does not match the GDT"
	.endif

	.balign 8
	.globl gdt_ptr
gdt_ptr:                                /* 32-bit lgdt reads the first 6 bytes */
	.word GDT_SIZE - 1
	.quad gdt

/* ---- TSSes: RSP0 = top of the CPU's ring-0 stack. All TSSes share one
 * I/O permission bitmap that allows every port: RFLAGS.IOPL=3 already
 * allows ring-3 port I/O on hardware, but hypervisors that run ring 3
 * with the real IOPL at 0 (e.g. PVM) check the bitmap when emulating. ---- */
	.balign 16
	.globl tss_array
tss_array:
	.set cpu, 0
	.rept GUEST_MAX_CPUS
	.long 0
	.quad kstacks + (cpu + 1) * KSTACK_SIZE /* RSP0 */
	.quad 0, 0                      /* RSP1, RSP2 */
	.quad 0                         /* reserved */
	.quad 0, 0, 0, 0, 0, 0, 0       /* IST1-7 */
	.quad 0                         /* reserved */
	.word 0
	.word (tss_iobitmap - tss_array) - cpu * TSS_SIZE /* I/O bitmap offset */
	.set cpu, cpu + 1
	.endr
	.globl tss_array_end
tss_array_end:
tss_iobitmap:
	.fill 65536 / 8, 1, 0           /* one bit per port, 0 = allowed */
	.byte 0xff                      /* required terminator */
tss_iobitmap_end:

/* ---- Page tables: identity map 0-4 GiB with 2 MiB pages, all levels
 * present + writable + user. 3-4 GiB (MMIO: IOAPIC, LAPIC, ...) is
 * cache-disabled (PCD | PWT). ---- */
	.section .data.pagetables, "aw"
	.balign 4096
pml4:
	.quad pdpt + 0x07
	.fill 511, 8, 0
pdpt:
	.quad pd + 0x0000 + 0x07
	.quad pd + 0x1000 + 0x07
	.quad pd + 0x2000 + 0x07
	.quad pd + 0x3000 + 0x07
	.fill 508, 8, 0
pd:
	.set addr, 0
	.rept 1536                      /* 0-3 GiB: RAM */
	.quad addr + 0x87               /* P | RW | US | PS */
	.set addr, addr + 0x200000
	.endr
	.rept 512                       /* 3-4 GiB: MMIO */
	.quad addr + 0x9f               /* P | RW | US | PWT | PCD | PS */
	.set addr, addr + 0x200000
	.endr

/* ---- Stacks (zero-filled by the loader, never cleared at run time) ---- */
	.section .stacks, "aw", @nobits
	.balign 4096
	.globl kstacks
kstacks:
	.skip KSTACK_SIZE * GUEST_MAX_CPUS
	.globl ustacks
ustacks:                                /* AP index i uses [i-1] */
	.skip USTACK_SIZE * (GUEST_MAX_CPUS - 1)
bsp_ustack:
	.skip BSP_USTACK_SIZE
