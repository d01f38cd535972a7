/* bootregs: boot GDT, identity page tables and entry registers. */
#include "bootregs.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "gmem.h"
#include "memmap.h"

#define SEL_CODE32 0x08
#define SEL_CODE64 0x10
#define SEL_DATA 0x18
#define SEL_TSS 0x20

#define CR0_PE 0x1ull
#define CR0_ET 0x10ull
#define CR0_PG 0x80000000ull
#define CR4_PAE 0x20ull
#define EFER_LME 0x100ull
#define EFER_LMA 0x400ull
#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_PS 0x80ull

static const uint64_t bootregs_gdt[] = {
	0,
	0x00cf9b000000ffffull, /* 0x08: 32-bit flat code */
	0x00af9b000000ffffull, /* 0x10: 64-bit code */
	0x00cf93000000ffffull, /* 0x18: flat data */
	0x00008b0000000067ull, /* 0x20: TSS (busy, base 0), low half */
	0,                     /*       its high half (16-byte descriptor in long mode) */
};

static struct hv_segment bootregs_seg(uint16_t sel, uint8_t type, uint8_t l, uint8_t db)
{
	return (struct hv_segment){
		.base = 0, .limit = 0xffffffff, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = db, .s = 1, .l = l, .g = 1,
	};
}

static void bootregs_segments(struct hv_sregs *s, bool long_mode)
{
	struct hv_segment data = bootregs_seg(SEL_DATA, 0x3, 0, 1);

	s->cs = long_mode ? bootregs_seg(SEL_CODE64, 0xb, 1, 0) : bootregs_seg(SEL_CODE32, 0xb, 0, 1);
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = (struct hv_segment){ .selector = SEL_TSS, .limit = 0x67, .type = 0xb, .present = 1 };
	s->gdt = (struct hv_dtable){ X86_GDT_GPA, sizeof(bootregs_gdt) - 1 };
	s->idt = (struct hv_dtable){ 0, 0 };
}

/* PML4 -> PDPT -> 4 page directories of 2 MiB pages: the first 4 GiB. */
static int bootregs_page_tables(struct gmem *gm)
{
	uint64_t *pml4 = gmem_ptr(gm, X86_PML4_GPA, 4096);
	uint64_t *pdpt = gmem_ptr(gm, X86_PDPT_GPA, 4096);
	uint64_t *pd = gmem_ptr(gm, X86_PD_GPA, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = X86_PDPT_GPA | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (X86_PD_GPA + i * 4096) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

int bootregs_setup(struct gmem *gm, const struct boot_entry *be,
		   struct hv_regs *regs, struct hv_sregs *sregs)
{
	bool long_mode = be->mode == BOOT_MODE_LONG64;
	int ret;

	ret = gmem_write(gm, X86_GDT_GPA, bootregs_gdt, sizeof(bootregs_gdt));
	if (ret < 0)
		return ret;
	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2;
	regs->rip = be->rip;
	bootregs_segments(sregs, long_mode);
	sregs->cr0 = CR0_PE | CR0_ET;
	sregs->cr4 = 0;
	sregs->efer = 0;
	if (!long_mode) {
		regs->rbx = be->rbx;
		return 0;
	}
	ret = bootregs_page_tables(gm);
	if (ret < 0)
		return ret;
	sregs->cr0 |= CR0_PG;
	sregs->cr3 = X86_PML4_GPA;
	sregs->cr4 = CR4_PAE;
	sregs->efer = EFER_LME | EFER_LMA;
	regs->rsi = be->rsi;
	regs->rsp = regs->rbp = X86_BOOT_STACK_GPA;
	return 0;
}
