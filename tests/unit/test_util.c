/* test_util: size/number parsing and file helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

static void test_parse_size_ok(void **state)
{
	static const struct { const char *s; uint64_t v; } cases[] = {
		{ "0", 0 }, { "4096", 4096 }, { "512M", 512ULL << 20 }, { "512m", 512ULL << 20 },
		{ "2G", 2ULL << 30 }, { "2GiB", 2ULL << 30 }, { "2GB", 2ULL << 30 },
		{ "1T", 1ULL << 40 }, { "64K", 64 << 10 }, { "7B", 7 },
		{ "16777215T", 16777215ULL << 40 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t v = 1;

		assert_int_equal(util_parse_size(cases[i].s, &v), 0);
		assert_true(v == cases[i].v);
	}
}

static void test_parse_size_bad(void **state)
{
	static const char *const bad[] = { "", "M", "-1", "12X", "1.5G", "1GG", " 1G", "1G ",
					   "0x10", "1iB" };
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(util_parse_size(bad[i], &v), -EINVAL);
	assert_int_equal(util_parse_size("16777216T", &v), -ERANGE);
	assert_int_equal(util_parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(util_parse_size(NULL, &v), -EINVAL);
}

static void test_parse_uint(void **state)
{
	uint64_t v;

	assert_int_equal(util_parse_uint("4", 1, 254, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(util_parse_uint("0", 1, 254, &v), -ERANGE);
	assert_int_equal(util_parse_uint("255", 1, 254, &v), -ERANGE);
	assert_int_equal(util_parse_uint("four", 1, 254, &v), -EINVAL);
	assert_int_equal(util_parse_uint("4x", 1, 254, &v), -EINVAL);
	assert_int_equal(util_parse_uint("-4", 0, 254, &v), -EINVAL);
}

static void test_read_file(void **state)
{
	char path[] = "/tmp/vmkit-test-util-XXXXXX";
	int fd = mkstemp(path);
	uint8_t *buf;
	size_t len;

	assert_true(fd >= 0);
	assert_int_equal(util_write_all(fd, "hello", 5), 0);
	close(fd);
	assert_int_equal(util_read_file(path, 100, &buf, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(buf, "hello", 5);
	free(buf);
	assert_int_equal(util_read_file(path, 4, &buf, &len), -EFBIG);
	unlink(path);
	assert_int_equal(util_read_file(path, 100, &buf, &len), -ENOENT);
	assert_int_equal(util_read_file("/tmp", 100, &buf, &len), -EISDIR);
}

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ULL + (uint64_t)ts->tv_nsec;
}

static void test_deadline(void **state)
{
	static const unsigned ms[] = { 0, 1, 999, 1000, 1999, 60000 };
	struct timespec before, ts, after;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ms); i++) {
		clock_gettime(CLOCK_REALTIME, &before);
		util_deadline(&ts, ms[i]);
		clock_gettime(CLOCK_REALTIME, &after);
		assert_true(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000);
		assert_true(ts_ns(&ts) >= ts_ns(&before) + ms[i] * 1000000ULL);
		assert_true(ts_ns(&ts) <= ts_ns(&after) + ms[i] * 1000000ULL);
	}
}

static void test_log_level(void **state)
{
	enum log_level l;

	assert_int_equal(log_parse_level("debug", &l), 0);
	assert_int_equal(l, LOG_DEBUG);
	assert_int_equal(log_parse_level("loud", &l), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size_ok),
		cmocka_unit_test(test_parse_size_bad),
		cmocka_unit_test(test_parse_uint),
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_log_level),
		cmocka_unit_test(test_deadline),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
