/* test_memmap: RAM layout around the 3-4 GiB hole, e820 (the hole reserved
 * except OS-managed windows), MMIO allocator. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>

#include "common/util.h"
#include "memmap.h"

static uint64_t e820_total(const struct e820_entry *e, int n, uint32_t type)
{
	uint64_t t = 0;

	for (int i = 0; i < n; i++)
		t += e[i].type == type ? e[i].size : 0;
	return t;
}

static void check_sorted_disjoint(const struct e820_entry *e, int n)
{
	for (int i = 1; i < n; i++)
		assert_true(e[i - 1].addr + e[i - 1].size <= e[i].addr);
}

static void test_small(void **state)
{
	struct memmap mm;
	struct e820_entry e[E820_MAX_ENTRIES];
	int n;

	assert_int_equal(memmap_init(&mm, 512 * MiB), 0);
	assert_true(mm.ram_low_end == 512 * MiB);
	assert_true(mm.ram_high_size == 0);
	n = memmap_e820(&mm, e, E820_MAX_ENTRIES);
	assert_true(n > 0);
	check_sorted_disjoint(e, n);
	/* RAM in e820 = everything except the EBDA and the BIOS/ACPI area */
	assert_true(e820_total(e, n, E820_RAM) ==
		    512 * MiB - (X86_KERNEL_GPA - X86_LOW_RAM_END));
	/* the MMIO hole is reserved */
	for (int i = 0; i < n; i++) {
		if (e[i].addr == X86_MMIO_HOLE_START) {
			assert_int_equal(e[i].type, E820_RESERVED);
			assert_true(e[i].size == 1 * GiB);
		}
	}
}

static void test_large_splits_at_hole(void **state)
{
	struct memmap mm;
	struct e820_entry e[E820_MAX_ENTRIES];
	int n;

	assert_int_equal(memmap_init(&mm, 6 * GiB), 0);
	assert_true(mm.ram_low_end == 3 * GiB);
	assert_true(mm.ram_high_size == 3 * GiB);
	n = memmap_e820(&mm, e, E820_MAX_ENTRIES);
	check_sorted_disjoint(e, n);
	assert_true(e[n - 1].addr == X86_HIGH_RAM_START);
	assert_true(e[n - 1].size == 3 * GiB);
	assert_int_equal(e[n - 1].type, E820_RAM);
	assert_int_equal(memmap_e820(&mm, e, 3), -ENOSPC);
}

static void test_bad_sizes(void **state)
{
	struct memmap mm;

	assert_int_equal(memmap_init(&mm, 1 * MiB), -EINVAL);
	assert_int_equal(memmap_init(&mm, 64 * MiB + 1), -EINVAL);
}

static void test_mmio_alloc(void **state)
{
	struct memmap mm;
	uint64_t a, b, c;

	assert_int_equal(memmap_init(&mm, 512 * MiB), 0);
	assert_int_equal(memmap_alloc_mmio(&mm, 0x1000, 0x1000, "a", &a), 0);
	assert_int_equal(memmap_alloc_mmio(&mm, 0x100000, 0x100000, "b", &b), 0);
	assert_true(a >= X86_MMIO_HOLE_START && a + 0x1000 <= b);
	assert_true(b % 0x100000 == 0);
	assert_int_equal(memmap_alloc_mmio(&mm, 0x1000, 3, "bad", &c), -EINVAL);
	/* exhausting the hole never hands out the IOAPIC/LAPIC windows */
	while (memmap_alloc_mmio(&mm, 16 * MiB, 16 * MiB, "big", &c) == 0) {
		assert_true(c + 16 * MiB <= X86_IOAPIC_GPA || c >= X86_LAPIC_GPA + X86_LAPIC_SIZE);
		assert_true(c + 16 * MiB <= X86_MMIO_HOLE_END);
	}
	assert_int_equal(memmap_alloc_mmio(&mm, 2 * GiB, 4096, "huge", &c), -ENOSPC);
}

/* An OS-managed window (the PCI BARs) is left out of the hole's e820
 * reservation; everything else in the hole (ECAM included) stays reserved. */
static void test_os_window_not_reserved(void **state)
{
	struct memmap mm;
	struct e820_entry e[E820_MAX_ENTRIES];
	uint64_t win, ecam, covered = 0;
	int n;

	assert_int_equal(memmap_init(&mm, 4 * GiB), 0);
	assert_int_equal(memmap_alloc_mmio_window(&mm, 256 * MiB, 256 * MiB, "bars", &win), 0);
	assert_int_equal(memmap_alloc_mmio(&mm, 1 * MiB, 1 * MiB, "ecam", &ecam), 0);
	assert_true(win == X86_MMIO_HOLE_START && ecam == win + 256 * MiB);
	n = memmap_e820(&mm, e, E820_MAX_ENTRIES);
	assert_true(n > 0);
	check_sorted_disjoint(e, n);
	for (int i = 0; i < n; i++) {
		assert_false(e[i].addr < win + 256 * MiB && win < e[i].addr + e[i].size);
		if (e[i].addr >= X86_MMIO_HOLE_START && e[i].addr < X86_MMIO_HOLE_END) {
			assert_int_equal(e[i].type, E820_RESERVED);
			covered += e[i].size;
		}
		if (e[i].addr <= ecam && ecam + MiB <= e[i].addr + e[i].size)
			assert_int_equal(e[i].type, E820_RESERVED);
	}
	assert_true(covered == 1 * GiB - 256 * MiB);
	/* RAM above 4 GiB still ends the map */
	assert_true(e[n - 1].addr == X86_HIGH_RAM_START && e[n - 1].size == 1 * GiB);
	/* a second window in the middle splits the reservation once more */
	assert_int_equal(memmap_alloc_mmio_window(&mm, 16 * MiB, 16 * MiB, "w2", &win), 0);
	assert_int_equal(memmap_e820(&mm, e, E820_MAX_ENTRIES), n + 1);
	assert_int_equal(memmap_e820(&mm, e, (unsigned)n), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small),
		cmocka_unit_test(test_large_splits_at_hole),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_mmio_alloc),
		cmocka_unit_test(test_os_window_not_reserved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
