/* test_mptable: unit tests for mptable.c on fake guest memory: checksums,
 * header fields, entry counts and contents, IRQ routing, bad parameters and
 * writes confined to the window. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gmem.h"
#include "mptable.h"

#define MEM_SIZE   0x100000u
#define MP_GPA     0x9FC00u
#define MP_SIZE    0x400u
#define IOAPIC     0xFEC00000u
#define FILL       0xA5

struct fixture {
	struct gmem gm;
	uint8_t *mem;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->mem = malloc(MEM_SIZE);
	assert_non_null(f->mem);
	memset(f->mem, FILL, MEM_SIZE);
	assert_int_equal(gmem_add_region(&f->gm, 0, MEM_SIZE, f->mem), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->mem);
	free(f);
	return 0;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Check the floating pointer and config header; return the config table. */
static const uint8_t *check_headers(const struct fixture *f, unsigned ncpus)
{
	const uint8_t *fp = f->mem + MP_GPA, *c;
	unsigned expect_entries = ncpus + 1 + 1 + 15 + 2;

	assert_memory_equal(fp, "_MP_", 4);
	assert_int_equal(fp[8], 1);
	assert_int_equal(fp[9], 4);
	assert_int_equal(sum(fp, 16), 0);
	assert_int_equal(fp[11], 0);     /* config table present, not default */
	assert_int_equal(get32(fp + 4), MP_GPA + 16);
	c = f->mem + get32(fp + 4);
	assert_memory_equal(c, "PCMP", 4);
	assert_int_equal(c[6], 4);
	assert_memory_equal(c + 8, "VMKIT   ", 8);
	assert_int_equal(get16(c + 4), 44 + 20 * ncpus + 8 * (expect_entries - ncpus));
	assert_int_equal(sum(c, get16(c + 4)), 0);
	assert_int_equal(get16(c + 34), expect_entries);
	assert_int_equal(get32(c + 36), 0xFEE00000u);
	assert_int_equal(get16(c + 40), 0);   /* no extended table */
	assert_int_equal(get32(c + 28), 0);   /* no OEM table */
	return c;
}

/* Walk the entries; count each type and check processor entries. */
static void walk_entries(const uint8_t *c, unsigned ncpus, unsigned counts[5])
{
	const uint8_t *e = c + 44, *end = c + get16(c + 4);
	unsigned ncpu_seen = 0;

	memset(counts, 0, 5 * sizeof(counts[0]));
	while (e < end) {
		assert_in_range(e[0], 0, 4);
		counts[e[0]]++;
		if (e[0] == 0) {
			assert_int_equal(e[1], ncpu_seen);        /* APIC ID */
			assert_int_equal(e[2], 0x14);
			assert_int_equal(e[3], ncpu_seen == 0 ? 0x03 : 0x01);
			ncpu_seen++;
			e += 20;
		} else {
			e += 8;
		}
	}
	assert_ptr_equal(e, end);
	assert_int_equal(ncpu_seen, ncpus);
}

static void check_cpus(void **state, unsigned ncpus)
{
	struct fixture *f = *state;
	const uint8_t *c;
	unsigned counts[5];

	assert_int_equal(mptable_build(&f->gm, MP_GPA, MP_SIZE, ncpus, IOAPIC), 0);
	c = check_headers(f, ncpus);
	walk_entries(c, ncpus, counts);
	assert_int_equal(counts[0], ncpus);
	assert_int_equal(counts[1], 1);
	assert_int_equal(counts[2], 1);
	assert_int_equal(counts[3], 15);
	assert_int_equal(counts[4], 2);
}

static void test_one_cpu(void **state)
{
	check_cpus(state, 1);
}

static void test_four_cpus(void **state)
{
	check_cpus(state, 4);
}

static void test_bus_ioapic_and_irqs(void **state)
{
	struct fixture *f = *state;
	const uint8_t *e, *c;
	unsigned pins_seen = 0;

	assert_int_equal(mptable_build(&f->gm, MP_GPA, MP_SIZE, 4, IOAPIC), 0);
	c = f->mem + MP_GPA + 16;
	e = c + 44 + 4 * 20;
	assert_int_equal(e[0], 1);
	assert_int_equal(e[1], 0);
	assert_memory_equal(e + 2, "ISA   ", 6);
	e += 8;
	assert_int_equal(e[0], 2);
	assert_int_equal(e[1], 4);                /* IOAPIC ID = ncpus */
	assert_int_equal(e[2], 0x11);
	assert_int_equal(e[3] & 1, 1);
	assert_int_equal(get32(e + 4), IOAPIC);
	for (e += 8; e[0] == 3; e += 8) {
		assert_int_equal(e[1], 0);            /* INT */
		assert_int_equal(e[4], 0);            /* ISA bus */
		assert_int_equal(e[6], 4);            /* IOAPIC ID */
		assert_int_not_equal(e[5], 2);        /* cascade has no entry */
		assert_int_equal(e[7], e[5] == 0 ? 2 : e[5]);
		pins_seen |= 1u << e[7];
	}
	assert_int_equal(pins_seen, 0xFFFEu);     /* pins 1..15, pin 0 unused */
	assert_int_equal(e[0], 4);
	assert_int_equal(e[1], 3);                /* ExtINT */
	assert_int_equal(e[6], 0xFF);
	assert_int_equal(e[7], 0);                /* LINT0 */
	assert_int_equal(e[8], 4);
	assert_int_equal(e[9], 1);                /* NMI */
	assert_int_equal(e[14], 0xFF);
	assert_int_equal(e[15], 1);               /* LINT1 */
}

static void test_bad_cpu_counts(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mptable_build(&f->gm, MP_GPA, MP_SIZE, 0, IOAPIC), -EINVAL);
	assert_int_equal(mptable_build(&f->gm, MP_GPA, MP_SIZE, 255, IOAPIC), -EINVAL);
	assert_int_equal(mptable_build(&f->gm, MP_GPA, 0x100000, 1000, IOAPIC), -EINVAL);
	/* Nothing may have been written. */
	for (size_t i = 0; i < MP_SIZE; i++)
		assert_int_equal(f->mem[MP_GPA + i], FILL);
}

static void test_bad_placement(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mptable_build(&f->gm, MP_GPA + 4, MP_SIZE, 1, IOAPIC), -EINVAL);
	assert_int_equal(mptable_build(&f->gm, MP_GPA, MP_SIZE, 1, 0x100000000ULL), -EINVAL);
	/* A window that is not guest RAM. */
	assert_int_equal(mptable_build(&f->gm, MEM_SIZE, MP_SIZE, 1, IOAPIC), -EFAULT);
	assert_int_equal(mptable_build(&f->gm, MEM_SIZE - 32, MP_SIZE, 1, IOAPIC), -EFAULT);
}

static void test_too_small(void **state)
{
	struct fixture *f = *state;
	size_t need1 = 16 + 44 + 20 + 19 * 8;

	assert_int_equal(mptable_build(&f->gm, MP_GPA, need1 - 1, 1, IOAPIC), -ENOSPC);
	assert_int_equal(mptable_build(&f->gm, MP_GPA, 0, 1, IOAPIC), -ENOSPC);
	/* 1 KiB of EBDA holds 40 CPUs, not 41. */
	assert_int_equal(mptable_build(&f->gm, MP_GPA, MP_SIZE, 41, IOAPIC), -ENOSPC);
	for (size_t i = 0; i < MP_SIZE; i++)
		assert_int_equal(f->mem[MP_GPA + i], FILL);
	assert_int_equal(mptable_build(&f->gm, MP_GPA, need1, 1, IOAPIC), 0);
	check_headers(f, 1);
	assert_int_equal(mptable_build(&f->gm, MP_GPA, MP_SIZE, 40, IOAPIC), 0);
	check_headers(f, 40);
}

static void test_writes_stay_in_window(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(mptable_build(&f->gm, MP_GPA, MP_SIZE, 40, IOAPIC), 0);
	for (size_t i = 0; i < MEM_SIZE; i++) {
		if (i >= MP_GPA && i < MP_GPA + MP_SIZE)
			continue;
		if (f->mem[i] != FILL)
			fail_msg("byte at 0x%zx written outside the window", i);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_cpu, setup, teardown),
		cmocka_unit_test_setup_teardown(test_four_cpus, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bus_ioapic_and_irqs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_cpu_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_placement, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writes_stay_in_window, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
