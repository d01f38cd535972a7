/* mptable: the Intel MultiProcessor Specification 1.4 tables (floating
 * pointer + configuration table), for kernels built without ACPI. */
#ifndef VMKIT_MPTABLE_H
#define VMKIT_MPTABLE_H

#include <stdint.h>

struct gmem;

/* Write the MP floating pointer and configuration table in [gpa, gpa+size)
 * (the EBDA), describing ncpus CPUs (APIC IDs 0..n-1, CPU 0 the BSP), one
 * IOAPIC (ID ncpus) at ioapic_addr with ISA IRQs 0-15 (IRQ0 on pin 2), an ISA
 * bus, and ExtINT/NMI on LINT0/LINT1. 0, -ENOSPC, -EINVAL (ncpus 0 or > 254). */
/* Bytes the tables for ncpus CPUs take (floating pointer + config table). */
uint64_t mptable_size(unsigned ncpus);
int mptable_build(struct gmem *gm, uint64_t gpa, uint64_t size, unsigned ncpus,
		  uint64_t ioapic_addr);

#endif
