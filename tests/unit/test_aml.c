/* test_aml: unit tests for aml.c, the AML byte-code builder the DSDT uses:
 * exact encodings of PkgLength at every size boundary, integers, names and
 * EISA IDs, scoped terms and their nesting, buffers, resource descriptors
 * (address spaces of every width), and refusals of misuse and bad
 * arguments. Whole tables built with it are checked by iasl in
 * test_acpi.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aml.h"
#include "le_bytes.h"

static void assert_aml(struct aml *a, const uint8_t *expect, size_t len)
{
	assert_int_equal(aml_finish(a), 0);
	assert_int_equal(a->len, len);
	assert_memory_equal(a->buf, expect, len);
	aml_free(a);
}

/* Decode a PkgLength; returns its value and stores its byte count. */
static size_t pkglen_decode(const uint8_t *p, size_t *nbytes)
{
	size_t n = (size_t)(p[0] >> 6) + 1, v;

	if (n == 1) {
		*nbytes = 1;
		return p[0] & 0x3F;
	}
	assert_int_equal(p[0] & 0x30, 0);
	v = p[0] & 0x0F;
	for (size_t i = 1; i < n; i++)
		v |= (size_t)p[i] << (4 + 8 * (i - 1));
	*nbytes = n;
	return v;
}

static void test_aml_pkglen(void **state)
{
	static const struct { size_t body; int n; uint8_t b[4]; } cases[] = {
		{ 0, 1, { 0x01 } },
		{ 62, 1, { 0x3F } },                   /* value 63: last 1-byte */
		{ 63, 2, { 0x41, 0x04 } },             /* value 65 (64 needs 2) */
		{ 4093, 2, { 0x4F, 0xFF } },           /* value 4095: last 2-byte */
		{ 4094, 3, { 0x81, 0x00, 0x01 } },     /* value 4097 */
		{ 0xFFFFC, 3, { 0x8F, 0xFF, 0xFF } },
		{ 0xFFFFD, 4, { 0xC1, 0x00, 0x00, 0x01 } },
		{ 0x0FFFFFFB, 4, { 0xCF, 0xFF, 0xFF, 0xFF } },
	};
	uint8_t out[4];
	size_t nb;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(aml_pkglen_encode(cases[i].body, out), cases[i].n);
		assert_memory_equal(out, cases[i].b, (size_t)cases[i].n);
	}
	assert_int_equal(aml_pkglen_encode(0x0FFFFFFC, out), -E2BIG);
	assert_int_equal(aml_pkglen_encode(SIZE_MAX, out), -E2BIG);
	/* Every value round-trips with the smallest encoding. */
	for (size_t body = 0; body < 70000; body++) {
		int n = aml_pkglen_encode(body, out);

		assert_int_equal(pkglen_decode(out, &nb), body + (size_t)n);
		assert_int_equal(nb, (size_t)n);
		if (n == 2)
			assert_true(body + 1 > 63);
		if (n == 3)
			assert_true(body + 2 > 4095);
	}
}

/* Scope(ABCD){n raw bytes}: the PkgLength around a body of 4 + n bytes. */
static void check_scope_body(size_t n, size_t expect_pkglen_bytes)
{
	struct aml a;
	uint8_t *raw = calloc(1, n);
	size_t nb;

	assert_non_null(raw);
	aml_init(&a);
	aml_scope_begin(&a, "ABCD");
	aml_bytes(&a, raw, n);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	assert_int_equal(a.buf[0], 0x10);
	assert_int_equal(pkglen_decode(a.buf + 1, &nb), a.len - 1);
	assert_int_equal(nb, expect_pkglen_bytes);
	assert_memory_equal(a.buf + 1 + nb, "ABCD", 4);
	free(raw);
	aml_free(&a);
}

static void test_aml_scope_pkglen_boundaries(void **state)
{
	(void)state;
	check_scope_body(58, 1);      /* body 62 -> PkgLength 63 */
	check_scope_body(59, 2);      /* body 63 -> needs 2 bytes */
	check_scope_body(4089, 2);    /* body 4093 -> 4095 */
	check_scope_body(4090, 3);    /* body 4094 -> 4096 does not fit 12 bits */
	check_scope_body(0x100000, 4);
}

static void test_aml_integers(void **state)
{
	static const struct { uint64_t v; size_t n; uint8_t b[9]; } cases[] = {
		{ 0, 1, { 0x00 } },
		{ 1, 1, { 0x01 } },
		{ 2, 2, { 0x0A, 0x02 } },
		{ 0xFF, 2, { 0x0A, 0xFF } },
		{ 0x100, 3, { 0x0B, 0x00, 0x01 } },
		{ 0xFFFF, 3, { 0x0B, 0xFF, 0xFF } },
		{ 0x10000, 5, { 0x0C, 0x00, 0x00, 0x01, 0x00 } },
		{ 0xFFFFFFFF, 5, { 0x0C, 0xFF, 0xFF, 0xFF, 0xFF } },
		{ 0x100000000ULL, 9, { 0x0E, 0, 0, 0, 0, 1, 0, 0, 0 } },
		{ 0xFFFFFFFFFFFFFFFEULL, 9, { 0x0E, 0xFE, 0xFF, 0xFF, 0xFF,
					      0xFF, 0xFF, 0xFF, 0xFF } },
		{ UINT64_MAX, 1, { 0xFF } },
	};
	struct aml a;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		aml_init(&a);
		aml_integer(&a, cases[i].v);
		assert_aml(&a, cases[i].b, cases[i].n);
	}
}

static void check_name(const char *name, const void *expect, size_t len)
{
	struct aml a;

	aml_init(&a);
	aml_namestring(&a, name);
	assert_aml(&a, expect, len);
}

static void test_aml_names(void **state)
{
	(void)state;
	check_name("_SB", "_SB_", 4);
	check_name("COM1", "COM1", 4);
	check_name("\\_SB_.PCI0", "\\\x2e_SB_PCI0", 10);
	check_name("\\_SB.PCI0.S08", "\\\x2f\x03_SB_PCI0S08_", 15);
	check_name("^^DEV", "^^DEV_", 6);
	check_name("A.B", "\x2e" "A___B___", 9);
	check_name("\\", "\\\x00", 2);
	check_name("\\_S5", "\\_S5_", 5);
}

static void test_aml_bad_names(void **state)
{
	static const char *const bad[] = {
		"", "1ABC", "ABCDE", "abc", "AB..C", "AB.", ".AB", "\\\\AB",
		"^\\AB", "A-B", "_SB_.PCI0.", "A B",
	};
	struct aml a;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_namestring(&a, bad[i]);
		if (aml_finish(&a) != -EINVAL)
			fail_msg("name \"%s\" was accepted", bad[i]);
		/* Errors are sticky: later calls append nothing. */
		size_t len = a.len;
		aml_integer(&a, 5);
		aml_name(&a, "GOOD");
		assert_int_equal(a.len, len);
		assert_int_equal(aml_finish(&a), -EINVAL);
		aml_free(&a);
	}
	aml_free(NULL);
}

static void test_aml_eisaid_string(void **state)
{
	static const char *const bad[] = { "PNP050", "pnp0501", "PNP05G1", "PNP05011",
					   "1NP0501", "PNP0a03" };
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_eisaid(&a, "PNP0501");
	assert_aml(&a, (const uint8_t *)"\x0c\x41\xd0\x05\x01", 5);
	aml_init(&a);
	aml_eisaid(&a, "PNP0A03");
	assert_aml(&a, (const uint8_t *)"\x0c\x41\xd0\x0a\x03", 5);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_eisaid(&a, bad[i]);
		assert_int_equal(aml_finish(&a), -EINVAL);
		aml_free(&a);
	}
	aml_init(&a);
	aml_string(&a, "COM");
	assert_aml(&a, (const uint8_t *)"\x0d" "COM\0", 5);
	aml_init(&a);
	aml_string(&a, "");
	assert_aml(&a, (const uint8_t *)"\x0d\0", 2);
	aml_init(&a);
	aml_string(&a, "caf\xc3\xa9");
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
}

static void test_aml_scoped_terms(void **state)
{
	const uint8_t dev[] = { 0x5B, 0x82, 0x0B, 'C', 'O', 'M', '1',
				0x08, '_', 'U', 'I', 'D', 0x01 };
	const uint8_t meth[] = { 0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xA4, 0x0A, 0x0F };
	const uint8_t meth2[] = { 0x14, 0x06, 'M', 'T', 'H', '_', 0x0A };
	const uint8_t pkg[] = { 0x12, 0x06, 0x02, 0x01, 0x0D, 'A', 0x00 };
	const uint8_t buf[] = { 0x11, 0x05, 0x0A, 0x02, 0xAB, 0xCD };
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_device_begin(&a, "COM1");
	aml_name(&a, "_UID");
	aml_integer(&a, 1);
	aml_end(&a);
	assert_aml(&a, dev, sizeof(dev));
	aml_init(&a);
	aml_method_begin(&a, "_STA", 0, 0);
	aml_return(&a);
	aml_integer(&a, 0x0F);
	aml_end(&a);
	assert_aml(&a, meth, sizeof(meth));
	aml_init(&a);
	aml_method_begin(&a, "MTH", 2, 1);
	aml_end(&a);
	assert_aml(&a, meth2, sizeof(meth2));
	aml_init(&a);
	aml_package_begin(&a, 2);
	aml_integer(&a, 1);
	aml_string(&a, "A");
	aml_end(&a);
	assert_aml(&a, pkg, sizeof(pkg));
	aml_init(&a);
	aml_buffer(&a, "\xab\xcd", 2);
	assert_aml(&a, buf, sizeof(buf));
}

/* Decode a BufferSize integer (smallest encoding for v); returns its length. */
static size_t check_buffer_size_int(const uint8_t *p, size_t v)
{
	if (v <= 1) {
		assert_int_equal(p[0], v);            /* Zero / One */
		return 1;
	}
	if (v <= 0xFF) {
		assert_int_equal(p[0], 0x0A);
		assert_int_equal(p[1], v);
		return 2;
	}
	if (v <= 0xFFFF) {
		assert_int_equal(p[0], 0x0B);
		assert_int_equal(get16(p + 1), v);
		return 3;
	}
	assert_int_equal(p[0], 0x0C);
	assert_int_equal(get32(p + 1), v);
	return 5;
}

static void test_aml_buffer_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 59, 60, 61, 255, 256, 4000, 70000 };
	struct aml a;
	size_t nb;

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *data = malloc(sizes[i] + 1);
		const uint8_t *p;

		assert_non_null(data);
		memset(data, 0x5A, sizes[i]);
		aml_init(&a);
		aml_buffer(&a, data, sizes[i]);
		assert_int_equal(aml_finish(&a), 0);
		assert_int_equal(a.buf[0], 0x11);
		assert_int_equal(pkglen_decode(a.buf + 1, &nb), a.len - 1);
		p = a.buf + 1 + nb;
		p += check_buffer_size_int(p, sizes[i]);
		assert_int_equal(a.buf + a.len - p, sizes[i]);
		if (sizes[i])
			assert_memory_equal(p, data, sizes[i]);
		aml_free(&a);
		free(data);
	}
}

static void test_aml_nested_growth(void **state)
{
	uint8_t big[300];
	struct aml a;
	size_t nb1, nb2, v1, v2;

	(void)state;
	memset(big, 0x11, sizeof(big));
	aml_init(&a);
	aml_scope_begin(&a, "\\_SB_");
	aml_device_begin(&a, "DEV0");
	aml_name(&a, "BUF0");
	aml_buffer(&a, big, sizeof(big));
	aml_end(&a);
	aml_name(&a, "LAST");
	aml_integer(&a, 0x1234);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	/* Scope's PkgLength covers everything after the opcode. */
	assert_int_equal(a.buf[0], 0x10);
	v1 = pkglen_decode(a.buf + 1, &nb1);
	assert_int_equal(v1, a.len - 1);
	assert_int_equal(nb1, 2);
	assert_memory_equal(a.buf + 1 + nb1, "\\_SB_", 5);
	/* Device follows; its PkgLength ends right before Name(LAST). */
	const uint8_t *d = a.buf + 1 + nb1 + 5;
	assert_int_equal(d[0], 0x5B);
	assert_int_equal(d[1], 0x82);
	v2 = pkglen_decode(d + 2, &nb2);
	assert_memory_equal(d + 2 + v2, "\x08LAST\x0b\x34\x12", 8);
	assert_int_equal(d + 2 + v2 + 8, a.buf + a.len);
	(void)nb2;
	aml_free(&a);
}

static void test_aml_resources(void **state)
{
	const uint8_t tmpl[] = { 0x11, 0x10, 0x0A, 0x0D, 0x47, 0x01, 0xF8, 0x03,
				 0xF8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00 };
	const uint8_t res2[] = {
		0x89, 0x06, 0x00, 0x0B, 0x01, 0x05, 0x00, 0x00, 0x00,
		0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xC0, 0xFE, 0x00, 0x10, 0x00, 0x00,
		0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, 0xFF, 0x00,
		0x00, 0x00, 0x00, 0x01,
	};
	const struct aml_addr_space bus = {
		AML_ADDR_BUS, AML_ADDR_F_MIN_FIXED | AML_ADDR_F_MAX_FIXED, 0,
		0, 0, 0xFF, 0, 0x100 };
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_restemplate_begin(&a);
	aml_res_io(&a, 0x3F8, 0x3F8, 1, 8);
	aml_res_irq_noflags(&a, 4);
	aml_end(&a);
	assert_aml(&a, tmpl, sizeof(tmpl));
	aml_init(&a);
	aml_restemplate_begin(&a);
	aml_res_interrupt(&a, AML_INT_F_CONSUMER | AML_INT_F_EDGE | AML_INT_F_SHARED, 5);
	aml_res_memory32_fixed(&a, 1, 0xFEC00000, 0x1000);
	aml_res_word(&a, &bus);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), 0);
	assert_int_equal(a.len, 4 + sizeof(res2) + 2);
	assert_memory_equal(a.buf + 4, res2, sizeof(res2));
	assert_memory_equal(a.buf + a.len - 2, "\x79\x00", 2);
	aml_free(&a);
}

/* ResourceTemplate with one address space descriptor; aml_finish() result. */
static int build_addr(struct aml *a, unsigned width, const struct aml_addr_space *s)
{
	aml_init(a);
	aml_restemplate_begin(a);
	if (width == 2)
		aml_res_word(a, s);
	else if (width == 4)
		aml_res_dword(a, s);
	else
		aml_res_qword(a, s);
	aml_end(a);
	return aml_finish(a);
}

static void test_aml_addr_space_sizes(void **state)
{
	struct aml_addr_space s = {
		AML_ADDR_MEMORY, AML_ADDR_F_MIN_FIXED | AML_ADDR_F_MAX_FIXED,
		AML_MEM_F_RW, 0, 0x800000000ULL, 0xFFFFFFFFFULL, 0, 0x800000000ULL };
	struct aml a;

	(void)state;
	assert_int_equal(build_addr(&a, 8, &s), 0);
	/* 0x11 pkglen(1) 0x0A size: tag at 4, length 43, values at 4+6+8k */
	assert_int_equal(a.buf[4], 0x8A);
	assert_int_equal(get16(a.buf + 5), 43);
	assert_int_equal(a.buf[7], 0);
	assert_int_equal(a.buf[8], 0x0C);
	assert_int_equal(a.buf[9], 0x01);
	assert_int_equal(get64(a.buf + 4 + 6 + 8), 0x800000000ULL);
	assert_int_equal(get64(a.buf + 4 + 6 + 16), 0xFFFFFFFFFULL);
	assert_int_equal(get64(a.buf + 4 + 6 + 32), 0x800000000ULL);
	aml_free(&a);
	/* The same values do not fit a DWord descriptor. */
	assert_int_equal(build_addr(&a, 4, &s), -EINVAL);
	aml_free(&a);
	s.min = 0xC0000000;
	s.max = 0xFEBFFFFF;
	s.length = 0x3EC00000;
	assert_int_equal(build_addr(&a, 4, &s), 0);
	assert_int_equal(a.buf[4], 0x87);
	assert_int_equal(get16(a.buf + 5), 23);
	assert_int_equal(get32(a.buf + 4 + 6 + 4), 0xC0000000u);
	assert_int_equal(get32(a.buf + 4 + 6 + 16), 0x3EC00000u);
	aml_free(&a);
	assert_int_equal(build_addr(&a, 2, &s), -EINVAL);
	aml_free(&a);
}

static void test_aml_misuse(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);                      /* unclosed scope */
	aml_scope_begin(&a, "_SB");
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);                      /* end without begin */
	aml_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);                      /* descriptor outside a template */
	aml_res_io(&a, 0x60, 0x60, 1, 1);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);                      /* descriptor in a plain buffer */
	aml_buffer_begin(&a);
	aml_res_irq_noflags(&a, 1);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
}

static void test_aml_bad_arguments(void **state)
{
	struct aml a;

	(void)state;
	aml_init(&a);
	aml_restemplate_begin(&a);
	aml_res_irq_noflags(&a, 16);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_method_begin(&a, "M8", 8, 0);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_package_begin(&a, 256);
	aml_end(&a);
	assert_int_equal(aml_finish(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);                      /* nesting deeper than the limit */
	for (int i = 0; i <= AML_MAX_DEPTH; i++)
		aml_scope_begin(&a, "DEEP");
	assert_int_equal(aml_finish(&a), -E2BIG);
	aml_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aml_pkglen),
		cmocka_unit_test(test_aml_scope_pkglen_boundaries),
		cmocka_unit_test(test_aml_integers),
		cmocka_unit_test(test_aml_names),
		cmocka_unit_test(test_aml_bad_names),
		cmocka_unit_test(test_aml_eisaid_string),
		cmocka_unit_test(test_aml_scoped_terms),
		cmocka_unit_test(test_aml_buffer_sizes),
		cmocka_unit_test(test_aml_nested_growth),
		cmocka_unit_test(test_aml_resources),
		cmocka_unit_test(test_aml_addr_space_sizes),
		cmocka_unit_test(test_aml_misuse),
		cmocka_unit_test(test_aml_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
