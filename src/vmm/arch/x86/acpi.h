/* acpi: generates the ACPI tables (RSDP, XSDT, FADT, FACS, DSDT, MADT, and
 * MCFG with PCI) into guest memory, and aml: the small AML byte-code builder
 * the DSDT uses. */
#ifndef VMKIT_ACPI_H
#define VMKIT_ACPI_H

#include <stdint.h>

struct gmem;

struct acpi_params {
	unsigned ncpus;          /* APIC IDs are 0..ncpus-1 */
	uint64_t lapic_addr;
	uint64_t ioapic_addr;
	unsigned sci_irq;
	uint16_t pm1a_evt_port;  /* 4 bytes: PM1_STS, PM1_EN */
	uint16_t pm1a_cnt_port;  /* 2 bytes */
	uint16_t pm_tmr_port;    /* 4 bytes, 24-bit timer */
	uint16_t reset_port;
	uint8_t reset_value;
	uint8_t s5_slp_typ;
	uint16_t com1_port;      /* 8 ports; 0: no COM1 device in the DSDT */
	unsigned com1_irq;       /* ISA IRQ 0-15 */
	/* PCI segment 0 (0: no host bridge, no MCFG): its ECAM window (1 MiB
	 * per bus from bus 0, 1 MiB aligned, below 4 GiB) and the memory window
	 * its BARs live in (below 4 GiB). Configuration mechanism 1 at 0xCF8. */
	uint64_t pci_ecam_base;
	uint64_t pci_ecam_size;
	uint64_t pci_mem_base;
	uint64_t pci_mem_size;
};

/* Build all tables in [gpa, gpa+size); RSDP goes first, at gpa (16-byte
 * aligned, inside the BIOS scan area). Returns 0 and *rsdp_gpa, or -ENOSPC /
 * -EFAULT, or -EINVAL for bad parameters (ncpus not 1..254, ISA IRQ > 15,
 * addresses above 4 GiB, gpa not 16-byte aligned, a bad PCI window). */
int acpi_build(struct gmem *gm, uint64_t gpa, uint64_t size,
	       const struct acpi_params *p, uint64_t *rsdp_gpa);

#endif
