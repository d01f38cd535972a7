/* memmap: x86 guest physical address map, MMIO allocator and e820 (the MMIO
 * hole is reserved there, except the windows the guest OS manages). */
#include "memmap.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

static int memmap_reserve(struct memmap *mm, uint64_t base, uint64_t size, const char *name,
			  bool os_window)
{
	for (unsigned i = 0; i < mm->nallocs; i++) {
		const struct memmap_alloc *a = &mm->allocs[i];

		if (base < a->base + a->size && a->base < base + size)
			return -EEXIST;
	}
	if (mm->nallocs >= MEMMAP_MAX_ALLOCS)
		return -ENOSPC;
	mm->allocs[mm->nallocs++] = (struct memmap_alloc){ base, size, name, os_window };
	return 0;
}

int memmap_init(struct memmap *mm, uint64_t ram_size)
{
	int ret;

	memset(mm, 0, sizeof(*mm));
	if (ram_size < 2 * MiB || ram_size % (4 * KiB)) {
		log_error("memory size %llu is too small or not a multiple of 4 KiB (minimum 2 MiB)",
			  (unsigned long long)ram_size);
		return -EINVAL;
	}
	mm->ram_size = ram_size;
	mm->ram_low_end = MIN(ram_size, X86_RAM_LOW_MAX);
	mm->ram_high_size = ram_size - mm->ram_low_end;
	if (mm->ram_high_size > UINT64_MAX - X86_HIGH_RAM_START)
		return -ERANGE;
	mm->mmio_next = X86_MMIO_HOLE_START;
	ret = memmap_reserve(mm, X86_IOAPIC_GPA, X86_IOAPIC_SIZE, "ioapic", false);
	if (ret == 0)
		ret = memmap_reserve(mm, X86_LAPIC_GPA, X86_LAPIC_SIZE, "lapic", false);
	if (ret == 0)
		ret = memmap_reserve(mm, X86_KVM_IDMAP_GPA, 0x1000 + X86_KVM_TSS_SIZE, "kvm-tss",
				     false);
	return ret;
}

static int memmap_alloc(struct memmap *mm, uint64_t size, uint64_t align,
			const char *name, bool os_window, uint64_t *gpa)
{
	uint64_t base;

	if (size == 0 || align == 0 || (align & (align - 1)))
		return -EINVAL;
	base = ALIGN_UP(mm->mmio_next, align);
	while (base + size <= X86_MMIO_HOLE_END && base >= mm->mmio_next) {
		if (memmap_reserve(mm, base, size, name, os_window) == 0) {
			mm->mmio_next = base + size;
			*gpa = base;
			return 0;
		}
		base = ALIGN_UP(base + size, align);
	}
	log_error("no room for %llu bytes of MMIO space for %s",
		  (unsigned long long)size, name);
	return -ENOSPC;
}

int memmap_alloc_mmio(struct memmap *mm, uint64_t size, uint64_t align,
		      const char *name, uint64_t *gpa)
{
	return memmap_alloc(mm, size, align, name, false, gpa);
}

int memmap_alloc_mmio_window(struct memmap *mm, uint64_t size, uint64_t align,
			     const char *name, uint64_t *gpa)
{
	return memmap_alloc(mm, size, align, name, true, gpa);
}

static int memmap_e820_add(struct e820_entry *out, unsigned max, unsigned *n,
			   uint64_t addr, uint64_t size, uint32_t type)
{
	if (size == 0)
		return 0;
	if (*n >= max)
		return -ENOSPC;
	out[(*n)++] = (struct e820_entry){ addr, size, type };
	return 0;
}

/* The MMIO hole, reserved except for the OS-managed windows (in address
 * order), appended to out. */
static int memmap_e820_hole(const struct memmap *mm, struct e820_entry *out, unsigned max,
			    unsigned *n)
{
	uint64_t cur = X86_MMIO_HOLE_START;

	for (;;) {
		const struct memmap_alloc *next = NULL;

		for (unsigned i = 0; i < mm->nallocs; i++) {
			const struct memmap_alloc *a = &mm->allocs[i];

			if (a->os_window && a->base >= cur && (!next || a->base < next->base))
				next = a;
		}
		if (!next)
			break;
		if (memmap_e820_add(out, max, n, cur, next->base - cur, E820_RESERVED))
			return -ENOSPC;
		cur = next->base + next->size;
	}
	return memmap_e820_add(out, max, n, cur, X86_MMIO_HOLE_END - cur, E820_RESERVED);
}

int memmap_e820(const struct memmap *mm, struct e820_entry *out, unsigned max)
{
	const struct { uint64_t addr, size; uint32_t type; } low[] = {
		{ 0, X86_LOW_RAM_END, E820_RAM },
		{ X86_EBDA_GPA, X86_EBDA_SIZE, E820_RESERVED },
		{ X86_ACPI_GPA, X86_ACPI_SIZE, E820_ACPI },
		{ X86_BIOS_GPA, X86_BIOS_SIZE, E820_RESERVED },
		{ X86_KERNEL_GPA, mm->ram_low_end - X86_KERNEL_GPA, E820_RAM },
	};
	unsigned n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(low); i++) {
		if (memmap_e820_add(out, max, &n, low[i].addr, low[i].size, low[i].type))
			return -ENOSPC;
	}
	if (memmap_e820_hole(mm, out, max, &n) < 0 ||
	    memmap_e820_add(out, max, &n, X86_HIGH_RAM_START, mm->ram_high_size, E820_RAM))
		return -ENOSPC;
	return (int)n;
}
