/* platform: what the guest learned about the machine from the ACPI tables
 * (or the MP table): CPUs, IOAPICs, interrupt overrides, and the FADT/DSDT
 * facts used for power-off, reset and ACPI events, the PCI ECAM window
 * (MCFG) and the RAM ranges of the boot memory map. Filled by acpi.c,
 * mptable.c and main.c, used by apic.c, power.c, pci.c and the workloads. */
#ifndef TESTGUEST_PLATFORM_H
#define TESTGUEST_PLATFORM_H

#include <stdbool.h>
#include <stdint.h>

#include "layout.h"

#define PLATFORM_MAX_IOAPICS   8
#define PLATFORM_MAX_OVERRIDES 16
#define PLATFORM_MAX_RAM       16

/* Interrupt polarity/trigger, MPS INTI flags encoding (MADT ISO, MP table). */
#define PLATFORM_POL_MASK      0x3
#define PLATFORM_POL_HIGH      0x1
#define PLATFORM_POL_LOW       0x3
#define PLATFORM_TRIG_MASK     0xc
#define PLATFORM_TRIG_EDGE     0x4
#define PLATFORM_TRIG_LEVEL    0xc

/* Generic Address Structure (ACPI). */
#define GAS_SPACE_MEMORY 0
#define GAS_SPACE_IO     1

struct platform_gas {
	uint8_t space;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t addr;
};

struct platform_ioapic {
	uint8_t id;
	uint32_t addr;
	uint32_t gsi_base;
};

struct platform_override {
	uint8_t source;     /* ISA IRQ */
	uint32_t gsi;
	uint16_t flags;     /* PLATFORM_POL_* | PLATFORM_TRIG_* (0 = bus default) */
};

/* A RAM range from the boot memory map (PVH memmap, E820 type 1). */
struct platform_ram {
	uint64_t addr;
	uint64_t size;
};

struct platform_acpi {
	bool have_fadt;
	uint8_t fadt_rev;
	uint32_t fadt_len;
	uint32_t flags;             /* FADT flags */
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint32_t pm1a_evt, pm1b_evt, pm1a_cnt, pm1b_cnt, pm_tmr;
	uint8_t pm1_evt_len;
	bool have_reset;
	struct platform_gas reset_reg;
	uint8_t reset_value;
	struct platform_gas sleep_ctl;  /* HW-reduced only; space 0xff = none */
	uint64_t dsdt;
	uint32_t dsdt_len;
	bool have_s5;
	uint8_t s5_slp_typ;
	/* HW-reduced power button: Generic Event Device (ACPI0013). */
	uint64_t ged_evt_addr;      /* 0 = no GED found */
	uint32_t ged_irq;
	uint8_t ged_irq_flags;      /* PLATFORM_POL_* | PLATFORM_TRIG_* */
};

#define FADT_FLAG_RESET_REG_SUP   (1u << 10)
#define FADT_FLAG_HW_REDUCED_ACPI (1u << 20)

struct platform {
	const char *cpu_source;     /* "ACPI MADT", "MP table" or NULL */
	uint64_t lapic_addr;
	uint32_t ncpus;             /* usable CPUs listed (enabled) */
	uint32_t ncpus_skipped;     /* listed but over GUEST_MAX_CPUS or ID > 254 */
	uint8_t cpu_apic_id[GUEST_MAX_CPUS];
	uint32_t nioapics;
	struct platform_ioapic ioapic[PLATFORM_MAX_IOAPICS];
	uint32_t noverrides;
	struct platform_override override[PLATFORM_MAX_OVERRIDES];
	bool have_acpi;
	uint64_t rsdp;
	struct platform_acpi acpi;
	/* PCI ECAM from the MCFG entry of segment 0 that covers bus 0;
	 * ecam_base 0 = none (use configuration mechanism 1). */
	uint64_t ecam_base;
	uint8_t ecam_bus_start, ecam_bus_end;
	uint32_t nram;
	struct platform_ram ram[PLATFORM_MAX_RAM];
};

/* Record a CPU (xAPIC IDs 0..254; others and overflow are counted in
 * ncpus_skipped; a duplicate ID is logged and ignored). */
void platform_add_cpu(struct platform *p, uint32_t apic_id);
/* 0, -ENOSPC (too many), -EINVAL (address not in the 3-4 GiB MMIO hole). */
int platform_add_ioapic(struct platform *p, uint8_t id, uint32_t addr, uint32_t gsi_base);
/* 0, -ENOSPC, -EINVAL (source IRQ > 15). */
int platform_add_override(struct platform *p, uint8_t source, uint32_t gsi, uint16_t flags);
/* ISA IRQ -> GSI and polarity/trigger; default_flags used where the
 * override says "conforms to the bus" (or there is no override). */
void platform_isa_irq(const struct platform *p, uint8_t irq, uint16_t default_flags,
		      uint32_t *gsi, uint16_t *flags);
/* Record a RAM range (empty or wrapping ranges and overflow are logged and
 * ignored). */
void platform_add_ram(struct platform *p, uint64_t addr, uint64_t size);
/* End of the RAM range holding addr, or 0 if addr is not RAM. */
uint64_t platform_ram_end(const struct platform *p, uint64_t addr);
/* End of the highest RAM range (0 if none is known). */
uint64_t platform_ram_top(const struct platform *p);
/* Is this APIC ID among the listed CPUs? */
bool platform_has_cpu(const struct platform *p, uint32_t apic_id);

#endif
