/* test_symbols: System.map parsing and lookup. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "symbols.h"

static void test_lookup(void **state)
{
	static const char map[] =
		"ffffffff81000000 T _text\n"
		"ffffffff81001000 T start_kernel\n"
		"garbage line\n"
		"ffffffff81000800 t early_helper\n"
		"ffffffff81002000 D some_data";
	struct symbols *s;
	uint64_t off = 0;

	assert_int_equal(symbols_parse(map, strlen(map), &s), 0);
	assert_string_equal(symbols_lookup(s, 0xffffffff81001010ULL, &off), "start_kernel");
	assert_int_equal(off, 0x10);
	assert_string_equal(symbols_lookup(s, 0xffffffff81000900ULL, &off), "early_helper");
	assert_string_equal(symbols_lookup(s, 0xffffffff81000000ULL, &off), "_text");
	assert_int_equal(off, 0);
	assert_string_equal(symbols_lookup(s, 0xffffffff81fff000ULL, &off), "some_data");
	assert_null(symbols_lookup(s, 0x1000, &off));
	symbols_free(s);
	assert_null(symbols_lookup(NULL, 0x1000, &off));
}

static void test_empty(void **state)
{
	struct symbols *s;
	uint64_t off;

	assert_int_equal(symbols_parse("", 0, &s), 0);
	assert_null(symbols_lookup(s, 0, &off));
	symbols_free(s);
	assert_true(symbols_load("/nonexistent/System.map", &s) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
