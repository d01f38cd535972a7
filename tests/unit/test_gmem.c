/* test_gmem: the bounds-checked guest memory accessor. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "anon_ram.h"
#include "gmem.h"

static uint8_t low[4096], high[8192];

static void setup_mem(struct gmem *gm)
{
	memset(gm, 0, sizeof(*gm));
	assert_int_equal(gmem_add_region(gm, 0, sizeof(low), low), 0);
	assert_int_equal(gmem_add_region(gm, 0x100000000ULL, sizeof(high), high), 0);
}

static void test_ptr_bounds(void **state)
{
	struct gmem gm;

	setup_mem(&gm);
	assert_ptr_equal(gmem_ptr(&gm, 0, 4096), low);
	assert_ptr_equal(gmem_ptr(&gm, 4095, 1), low + 4095);
	assert_null(gmem_ptr(&gm, 4095, 2));
	assert_null(gmem_ptr(&gm, 4096, 1));
	assert_null(gmem_ptr(&gm, 1, UINT64_MAX));
	assert_null(gmem_ptr(&gm, UINT64_MAX, 2));
	assert_ptr_equal(gmem_ptr(&gm, 0x100000000ULL + 8191, 1), high + 8191);
	assert_null(gmem_ptr(&gm, 0x100000000ULL - 1, 2));
	assert_int_equal(gmem_size(&gm), sizeof(low) + sizeof(high));
}

static void test_rw(void **state)
{
	struct gmem gm;
	uint32_t v = 0xdeadbeef, r = 0;

	setup_mem(&gm);
	assert_int_equal(gmem_write(&gm, 100, &v, 4), 0);
	assert_int_equal(gmem_read(&gm, 100, &r, 4), 0);
	assert_int_equal(r, v);
	assert_int_equal(gmem_write(&gm, 4094, &v, 4), -EFAULT);
	assert_int_equal(gmem_read(&gm, 0x200000000ULL, &r, 4), -EFAULT);
	assert_int_equal(gmem_zero(&gm, 100, 4), 0);
	assert_int_equal(low[100], 0);
}

static void test_add_region_bad(void **state)
{
	struct gmem gm;
	uint8_t extra[16];

	setup_mem(&gm);
	assert_int_equal(gmem_add_region(&gm, 4000, 16, extra), -EINVAL);
	assert_int_equal(gmem_add_region(&gm, UINT64_MAX - 4, 16, extra), -EINVAL);
	assert_int_equal(gmem_add_region(&gm, 0x1000, 0, extra), -EINVAL);
	assert_int_equal(gmem_add_region(&gm, 0x10000, 16, extra), 0);
	assert_int_equal(gmem_add_region(&gm, 0x20000, 16, extra), 0);
	assert_int_equal(gmem_add_region(&gm, 0x30000, 16, extra), -ENOSPC);
}

static void test_zero_drops_pages(void **state)
{
	const size_t size = 1 << 20;
	struct gmem gm = { 0 };
	uint8_t *ram = anon_ram_map(size);
	size_t before;

	assert_int_equal(gmem_add_ram(&gm, 0x100000, size, ram), 0);
	memset(ram, 0xaa, size);
	before = anon_ram_resident(ram, size);
	/* unaligned ends are memset, the aligned middle is dropped */
	assert_int_equal(gmem_zero(&gm, 0x100000 + 100, size - 300), 0);
	assert_true(before - anon_ram_resident(ram, size) >= size - 2 * 4096);
	for (size_t i = 0; i < size; i++)
		assert_int_equal(ram[i], (i < 100 || i >= size - 200) ? 0xaa : 0);
	/* small ranges are plain memsets */
	memset(ram, 0xbb, 64);
	assert_int_equal(gmem_zero(&gm, 0x100000 + 8, 16), 0);
	assert_int_equal(ram[7], 0xbb);
	assert_int_equal(ram[8], 0);
	assert_int_equal(ram[24], 0xbb);
	assert_int_equal(gmem_zero(&gm, 0x100000 + size - 8, 16), -EFAULT);
	/* RAM must start on a page, in the guest and in the host */
	assert_int_equal(gmem_add_ram(&gm, 0x10000000, 4096, ram + 8), -EINVAL);
	assert_int_equal(gmem_add_ram(&gm, 0x10000008, 4096, ram), -EINVAL);
	munmap(ram, size);
}

/* gmem_discard: page-aligned ranges inside one region only; RAM added with
 * gmem_add_ram gets the pages dropped (no longer resident, the range reads
 * zero, its neighbours keep their bytes); a plain region gets them zeroed. */
static void test_discard(void **state)
{
	const size_t size = 1 << 20;
	struct gmem gm = { 0 };
	uint8_t *ram = anon_ram_map(size), plain[3 * 4096];
	size_t before;

	assert_int_equal(gmem_add_ram(&gm, 0x100000, size, ram), 0);
	memset(ram, 0x5a, size);
	before = anon_ram_resident(ram, size);
	assert_int_equal(gmem_discard(&gm, 0x101000, 3 * 4096), 0);
	assert_true(before - anon_ram_resident(ram, size) >= 3 * 4096);
	for (size_t i = 0; i < 5 * 4096; i++)
		assert_int_equal(ram[i], (i >= 4096 && i < 4 * 4096) ? 0 : 0x5a);
	ram[4096] = 1;  /* a discarded page is usable again */
	assert_int_equal(ram[4096], 1);
	/* refusals leave everything alone */
	assert_int_equal(gmem_discard(&gm, 0x100800, 4096), -EINVAL);
	assert_int_equal(gmem_discard(&gm, 0x100000, 100), -EINVAL);
	assert_int_equal(gmem_discard(&gm, 0x100000, 0), -EINVAL);
	assert_int_equal(gmem_discard(&gm, 0x100000 + size - 4096, 8192), -EFAULT);
	assert_int_equal(gmem_discard(&gm, 0x0, 4096), -EFAULT);
	assert_int_equal(gmem_discard(&gm, 0xfffffffffffff000ULL, 0x2000), -EFAULT);
	assert_int_equal(ram[0], 0x5a);
	assert_int_equal(ram[size - 1], 0x5a);
	/* a plain region: zeroed */
	memset(plain, 0x77, sizeof(plain));
	assert_int_equal(gmem_add_region(&gm, 0x10000000, sizeof(plain), plain), 0);
	assert_int_equal(gmem_discard(&gm, 0x10001000, 4096), 0);
	assert_int_equal(plain[4095], 0x77);
	assert_int_equal(plain[4096], 0);
	assert_int_equal(plain[8191], 0);
	assert_int_equal(plain[8192], 0x77);
	munmap(ram, size);
}

static void test_gpa_of_host_pointer(void **state)
{
	struct gmem gm;
	uint64_t gpa = 1;

	setup_mem(&gm);
	assert_int_equal(gmem_gpa(&gm, low + 100, 16, &gpa), 0);
	assert_int_equal(gpa, 100);
	assert_int_equal(gmem_gpa(&gm, high + 8000, 192, &gpa), 0);
	assert_int_equal(gpa, 0x100000000ULL + 8000);
	gpa = 1;
	assert_int_equal(gmem_gpa(&gm, high + 8000, 193, &gpa), -EFAULT);
	assert_int_equal(gmem_gpa(&gm, &gm, 1, &gpa), -EFAULT);
	assert_int_equal(gpa, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ptr_bounds),
		cmocka_unit_test(test_rw),
		cmocka_unit_test(test_add_region_bad),
		cmocka_unit_test(test_zero_drops_pages),
		cmocka_unit_test(test_discard),
		cmocka_unit_test(test_gpa_of_host_pointer),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
