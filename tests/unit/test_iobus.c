/* test_iobus: range registration and dispatch. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "iobus.h"

struct fake_dev {
	uint64_t last_off;
	unsigned last_size;
	uint32_t last_val;
	int reads, writes;
};

static void fake_read(void *dev, uint64_t off, void *data, unsigned size)
{
	struct fake_dev *d = dev;
	uint32_t v = 0x11223344;

	d->reads++;
	d->last_off = off;
	memcpy(data, &v, size);
}

static void fake_write(void *dev, uint64_t off, const void *data, unsigned size)
{
	struct fake_dev *d = dev;

	d->writes++;
	d->last_off = off;
	d->last_size = size;
	d->last_val = 0;
	memcpy(&d->last_val, data, size);
}

static const struct vdev_ops fake_ops = { "fake", fake_read, fake_write };

static void test_dispatch(void **state)
{
	struct iobus bus;
	struct fake_dev a = { 0 }, b = { 0 };
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	uint32_t v = 0xabcd;

	iobus_init(&bus, "pio");
	assert_int_equal(iobus_add(&bus, 0x3f8, 8, &fake_ops, &a, &lock), 0);
	assert_int_equal(iobus_add(&bus, 0x70, 2, &fake_ops, &b, NULL), 0);
	assert_int_equal(iobus_access(&bus, 0x3fb, true, &v, 2), 0);
	assert_int_equal(a.last_off, 3);
	assert_int_equal(a.last_size, 2);
	assert_int_equal(a.last_val, 0xabcd);
	assert_int_equal(iobus_access(&bus, 0x71, false, &v, 4), 0);
	assert_int_equal(b.reads, 1);
	assert_int_equal(b.last_off, 1);
	assert_int_equal(v, 0x11223344);
	/* nobody at 0x400: reads all ones, counted */
	assert_int_equal(iobus_access(&bus, 0x400, false, &v, 4), -ENOENT);
	assert_int_equal(v, 0xffffffff);
	assert_int_equal(iobus_access(&bus, 0x3f7, true, &v, 1), -ENOENT);
	assert_int_equal(bus.unhandled, 2);
	assert_int_equal(a.writes, 1);
}

static void test_overlap_and_full(void **state)
{
	struct iobus bus;
	struct fake_dev a = { 0 };

	iobus_init(&bus, "mmio");
	assert_int_equal(iobus_add(&bus, 0x1000, 0x100, &fake_ops, &a, NULL), 0);
	assert_int_equal(iobus_add(&bus, 0x10ff, 1, &fake_ops, &a, NULL), -EEXIST);
	assert_int_equal(iobus_add(&bus, 0xf00, 0x101, &fake_ops, &a, NULL), -EEXIST);
	assert_int_equal(iobus_add(&bus, 0x1100, 0, &fake_ops, &a, NULL), -EINVAL);
	assert_int_equal(iobus_add(&bus, UINT64_MAX, 2, &fake_ops, &a, NULL), -EINVAL);
	for (unsigned i = 1; i < IOBUS_MAX_RANGES; i++)
		assert_int_equal(iobus_add(&bus, 0x100000 * (IOBUS_MAX_RANGES - i), 16,
					   &fake_ops, &a, NULL), 0);
	assert_int_equal(iobus_add(&bus, 0x900000000ULL, 16, &fake_ops, &a, NULL), -ENOSPC);
	/* sorted despite reverse insertion: every range still found */
	for (unsigned i = 1; i < IOBUS_MAX_RANGES; i++) {
		uint8_t v;

		assert_int_equal(iobus_access(&bus, 0x100000 * i + 15, false, &v, 1), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch),
		cmocka_unit_test(test_overlap_and_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
