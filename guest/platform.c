/* platform: helpers that fill and query struct platform (CPUs, IOAPICs,
 * interrupt source overrides, RAM ranges), shared by the ACPI and MP table
 * readers and the boot memory map reader. */
#include "glog.h"
#include "lib.h"
#include "platform.h"

#define PLATFORM_MMIO_HOLE 0xc0000000u

bool platform_has_cpu(const struct platform *p, uint32_t apic_id)
{
	for (uint32_t i = 0; i < p->ncpus; i++)
		if (p->cpu_apic_id[i] == apic_id)
			return true;
	return false;
}

void platform_add_cpu(struct platform *p, uint32_t apic_id)
{
	if (apic_id >= 0xff || p->ncpus >= GUEST_MAX_CPUS) {
		p->ncpus_skipped++;
		return;
	}
	if (platform_has_cpu(p, apic_id)) {
		glog("platform: APIC ID %u listed twice, ignoring the second", apic_id);
		return;
	}
	p->cpu_apic_id[p->ncpus++] = (uint8_t)apic_id;
}

int platform_add_ioapic(struct platform *p, uint8_t id, uint32_t addr, uint32_t gsi_base)
{
	struct platform_ioapic *io;

	if (p->nioapics >= PLATFORM_MAX_IOAPICS) {
		glog("platform: more than %u IOAPICs, ignoring the rest", PLATFORM_MAX_IOAPICS);
		return 0;
	}
	if (addr < PLATFORM_MMIO_HOLE || addr > 0xfffff000u) {
		glog("platform: IOAPIC %u at 0x%x is outside the MMIO hole", id, addr);
		return -EINVAL;
	}
	io = &p->ioapic[p->nioapics++];
	io->id = id;
	io->addr = addr;
	io->gsi_base = gsi_base;
	return 0;
}

int platform_add_override(struct platform *p, uint8_t source, uint32_t gsi, uint16_t flags)
{
	struct platform_override *o;

	if (source > 15) {
		glog("platform: interrupt override for non-ISA IRQ %u", source);
		return -EINVAL;
	}
	if (p->noverrides >= PLATFORM_MAX_OVERRIDES) {
		glog("platform: more than %u interrupt overrides", PLATFORM_MAX_OVERRIDES);
		return -ENOSPC;
	}
	o = &p->override[p->noverrides++];
	o->source = source;
	o->gsi = gsi;
	o->flags = flags;
	return 0;
}

void platform_isa_irq(const struct platform *p, uint8_t irq, uint16_t default_flags,
		      uint32_t *gsi, uint16_t *flags)
{
	uint16_t f = 0;

	*gsi = irq;
	for (uint32_t i = 0; i < p->noverrides; i++) {
		if (p->override[i].source == irq) {
			*gsi = p->override[i].gsi;
			f = p->override[i].flags;
		}
	}
	if ((f & PLATFORM_POL_MASK) == 0)
		f |= default_flags & PLATFORM_POL_MASK;
	if ((f & PLATFORM_TRIG_MASK) == 0)
		f |= default_flags & PLATFORM_TRIG_MASK;
	*flags = f;
}

void platform_add_ram(struct platform *p, uint64_t addr, uint64_t size)
{
	if (size == 0 || addr + size < addr) {
		glog("platform: ignoring bad RAM range 0x%lx+0x%lx", addr, size);
		return;
	}
	if (p->nram >= PLATFORM_MAX_RAM) {
		glog("platform: more than %u RAM ranges, ignoring the rest", PLATFORM_MAX_RAM);
		return;
	}
	p->ram[p->nram].addr = addr;
	p->ram[p->nram].size = size;
	p->nram++;
}

uint64_t platform_ram_end(const struct platform *p, uint64_t addr)
{
	for (uint32_t i = 0; i < p->nram; i++)
		if (addr >= p->ram[i].addr && addr - p->ram[i].addr < p->ram[i].size)
			return p->ram[i].addr + p->ram[i].size;
	return 0;
}

uint64_t platform_ram_top(const struct platform *p)
{
	uint64_t top = 0;

	for (uint32_t i = 0; i < p->nram; i++)
		if (p->ram[i].addr + p->ram[i].size > top)
			top = p->ram[i].addr + p->ram[i].size;
	return top;
}
