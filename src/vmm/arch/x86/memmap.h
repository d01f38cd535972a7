/* memmap: the x86 machine's address map, in one place. Guest RAM below 3 GiB,
 * the 3-4 GiB hole for MMIO (IOAPIC, LAPIC, the PCI BAR window and ECAM), the
 * rest of RAM above 4 GiB; fixed low-memory boot structures; ISA port and IRQ
 * assignments. MMIO space is handed out by memmap_alloc_mmio(); device files
 * never carry addresses of their own. */
#ifndef VMKIT_MEMMAP_H
#define VMKIT_MEMMAP_H

#include <stdbool.h>
#include <stdint.h>

/* --- guest physical layout --- */
#define X86_RAM_LOW_MAX      0xC0000000ULL  /* RAM below 4 GiB ends at 3 GiB */
#define X86_MMIO_HOLE_START  0xC0000000ULL
#define X86_MMIO_HOLE_END    0x100000000ULL
#define X86_HIGH_RAM_START   0x100000000ULL
#define X86_IOAPIC_GPA       0xFEC00000ULL
#define X86_IOAPIC_SIZE      0x1000ULL
#define X86_LAPIC_GPA        0xFEE00000ULL
#define X86_LAPIC_SIZE       0x1000ULL
#define X86_KVM_IDMAP_GPA    0xFFFBC000ULL  /* KVM's identity-map page on Intel VMX */
#define X86_KVM_TSS_GPA      0xFFFBD000ULL  /* KVM's TSS on Intel VMX (3 pages) */
#define X86_KVM_TSS_SIZE     0x3000ULL

/* Low-memory boot structures (all inside the first 1 MiB). */
#define X86_GDT_GPA          0x500ULL     /* boot GDT */
#define X86_PVH_INFO_GPA     0x6000ULL    /* hvm_start_info + memmap + modlist */
#define X86_PVH_INFO_SIZE    0x1000ULL
#define X86_ZERO_PAGE_GPA    0x7000ULL    /* Linux boot_params */
#define X86_PML4_GPA         0x9000ULL    /* identity page tables for 64-bit entry */
#define X86_PDPT_GPA         0xA000ULL
#define X86_PD_GPA           0xB000ULL    /* 4 pages: first 4 GiB with 2 MiB pages */
#define X86_BOOT_STACK_GPA   0x8FF0ULL    /* initial RSP for the 64-bit entry */
#define X86_CMDLINE_GPA      0x20000ULL
#define X86_CMDLINE_MAX      0x10000ULL   /* room reserved; kernels limit further */
#define X86_EBDA_GPA         0x9FC00ULL   /* MP table lives here */
#define X86_EBDA_SIZE        0x400ULL
#define X86_LOW_RAM_END      0x9FC00ULL   /* conventional memory ends here */
#define X86_ACPI_GPA         0xE0000ULL   /* RSDP first (BIOS scan area), then tables */
#define X86_ACPI_SIZE        0x10000ULL
#define X86_BIOS_GPA         0xF0000ULL
#define X86_BIOS_SIZE        0x10000ULL
#define X86_KERNEL_GPA       0x100000ULL  /* bzImage protected-mode code */

/* --- ISA ports and IRQs (hardware convention, not allocation) --- */
#define X86_PORT_I8042_DATA  0x60
#define X86_PORT_I8042_CMD   0x64
#define X86_PORT_RTC         0x70         /* 0x70 index, 0x71 data */
#define X86_PORT_POST        0x80         /* Linux's I/O delay port */
#define X86_PORT_DEBUG_EXIT  0xF4         /* 4 bytes wide, as QEMU isa-debug-exit */
#define X86_PORT_BOOT_TIMER  0x3F0        /* write 123: log time since start */
#define X86_PORT_COM1        0x3F8
#define X86_PORT_ACPI_PM     0x600        /* PM1a_EVT (4), PM1a_CNT (2), pad, PM_TMR (4) */
#define X86_PORT_PM1A_EVT    0x600
#define X86_PORT_PM1A_CNT    0x604
#define X86_PORT_PM_TMR      0x608
#define X86_PORT_ACPI_PM_LEN 0x0C
#define X86_PORT_RESET       0xCF9        /* FADT reset register */
#define X86_RESET_VALUE      0x06

#define X86_IRQ_I8042        1
#define X86_IRQ_COM1         4
#define X86_IRQ_RTC          8
#define X86_IRQ_SCI          9
#define X86_ACPI_S5_SLP_TYP  5            /* value of _S5 in our DSDT */
#define X86_IOAPIC_PINS      24

/* --- e820 --- */
#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3
#define E820_NVS      4
#define E820_MAX_ENTRIES 16

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

#define MEMMAP_MAX_ALLOCS 32

struct memmap_alloc {
	uint64_t base;
	uint64_t size;
	const char *name;
	bool os_window;        /* managed by the guest OS (PCI BARs): not in e820 */
};

struct memmap {
	uint64_t ram_size;     /* total guest RAM */
	uint64_t ram_low_end;  /* end of RAM below the hole */
	uint64_t ram_high_size;/* RAM placed at X86_HIGH_RAM_START */
	uint64_t mmio_next;    /* allocator cursor inside the hole */
	struct memmap_alloc allocs[MEMMAP_MAX_ALLOCS];
	unsigned nallocs;
};

/* Lay out ram_size bytes of RAM (at least 1 MiB + what boot needs: -EINVAL
 * otherwise) and reserve the fixed IOAPIC/LAPIC windows. */
int memmap_init(struct memmap *mm, uint64_t ram_size);
/* Hand out size bytes (power-of-two aligned to align) of MMIO space in the
 * hole, for a named user. 0, -ENOSPC. */
int memmap_alloc_mmio(struct memmap *mm, uint64_t size, uint64_t align,
		      const char *name, uint64_t *gpa);
/* The same for an address window the guest OS manages itself (the PCI BAR
 * window, described by the host bridge's _CRS): e820 leaves it out of the
 * hole's reservation, so the OS may place resources in it. */
int memmap_alloc_mmio_window(struct memmap *mm, uint64_t size, uint64_t align,
			     const char *name, uint64_t *gpa);
/* Fill out[] with the e820 map; returns the entry count or -ENOSPC. */
int memmap_e820(const struct memmap *mm, struct e820_entry *out, unsigned max);

#endif
