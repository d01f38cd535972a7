/* test_cpuid: CPUID filtering and topology on a synthetic supported set. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "cpuid.h"

#define SIG HV_CPUID_FLAG_SIGNIFICANT_INDEX

static unsigned fake_supported_vendor(struct hv_cpuid_entry *e, uint32_t vendor_ebx);

static unsigned fake_supported(struct hv_cpuid_entry *e)
{
	return fake_supported_vendor(e, 0x68747541); /* AuthenticAMD: AMD leaves apply */
}

static unsigned fake_supported_vendor(struct hv_cpuid_entry *e, uint32_t vendor_ebx)
{
	const struct hv_cpuid_entry src[] = {
		{ 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69 },
		{ 1, 0, 0, 0x000906ea, 0x00000800, 0x7ffaf3bf | (1u << 5) | (1u << 3), 0x0f8bfbff },
		{ 4, 0, SIG, 0x1c004121, 0x01c0003f, 0x3f, 0 },
		{ 4, 1, SIG, 0x1c004122, 0x01c0003f, 0x3f, 0 },
		{ 4, 3, SIG, 0x1c03c163, 0x03c0003f, 0x3fff, 6 },
		{ 4, 4, SIG, 0, 0, 0, 0 },
		{ 0xb, 0, SIG, 1, 2, 0x100, 5 },
		{ 0xb, 1, SIG, 4, 8, 0x201, 5 },
		{ 0x1f, 0, SIG, 1, 2, 0x100, 5 },
		{ 0x80000000, 0, 0, 0x80000008, 0, 0, 0 },
		{ 0x80000001, 0, 0, 0, 0, (1u << 2), 0 },
		{ 0x80000008, 0, 0, 0x3027, 0, 0x7, 0 },
		{ 0x40000000, 0, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d },
		{ 0x8000001d, 0, SIG, 0x00000121, 0x01c0003f, 0x3f, 0 },
		{ 0x8000001d, 3, SIG, 0x00004163, 0x03c0003f, 0x3fff, 0 },
	};

	memcpy(e, src, sizeof(src));
	e[0].ebx = vendor_ebx;
	return ARRAY_SIZE(src);
}

static void test_leaf1(void **state)
{
	struct hv_cpuid_entry e[64];
	unsigned n = fake_supported(e);
	struct hv_cpuid_entry *l1;

	assert_int_equal(cpuid_filter(e, &n, 64, 3, 4), 0);
	l1 = cpuid_find(e, n, 1, 0);
	assert_non_null(l1);
	assert_int_equal(l1->ebx >> 24, 3);             /* APIC ID */
	assert_int_equal((l1->ebx >> 16) & 0xff, 4);    /* logical count */
	assert_int_equal(l1->ebx & 0xffff, 0x0800);     /* CLFLUSH kept */
	assert_true(l1->ecx & (1u << 31));              /* hypervisor */
	assert_false(l1->ecx & (1u << 5));              /* no VMX */
	assert_true(l1->edx & (1u << 28));              /* HTT */
}

static void test_uniprocessor(void **state)
{
	struct hv_cpuid_entry e[64];
	unsigned n = fake_supported(e);
	struct hv_cpuid_entry *x;

	assert_int_equal(cpuid_filter(e, &n, 64, 0, 1), 0);
	x = cpuid_find(e, n, 1, 0);
	assert_false(x->edx & (1u << 28));
	x = cpuid_find(e, n, 0xb, 1);
	assert_int_equal(x->ebx, 1);
	assert_int_equal(x->eax, 0);
	x = cpuid_find(e, n, 0x80000008, 0);
	assert_int_equal(x->ecx & 0xff, 0);
}

static void test_topology_leaves(void **state)
{
	struct hv_cpuid_entry e[64];
	unsigned n = fake_supported(e);
	struct hv_cpuid_entry *x;

	assert_int_equal(cpuid_filter(e, &n, 64, 5, 6), 0);
	for (uint32_t leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb) {
		x = cpuid_find(e, n, leaf, 0);
		assert_int_equal(x->ebx, 1);
		assert_int_equal((x->ecx >> 8) & 0xff, 1);
		assert_int_equal(x->edx, 5);
		x = cpuid_find(e, n, leaf, 1);
		assert_int_equal(x->eax, 3);               /* 6 cores -> 3 bits */
		assert_int_equal(x->ebx, 6);
		assert_int_equal((x->ecx >> 8) & 0xff, 2);
		x = cpuid_find(e, n, leaf, 2);
		assert_int_equal((x->ecx >> 8) & 0xff, 0); /* terminator */
	}
	x = cpuid_find(e, n, 4, 0);
	assert_int_equal(x->eax >> 26, 7);              /* cores per package - 1 */
	assert_int_equal((x->eax >> 14) & 0xfff, 0);    /* L1 per core */
	x = cpuid_find(e, n, 4, 3);
	assert_int_equal((x->eax >> 14) & 0xfff, 7);    /* L3 shared */
	x = cpuid_find(e, n, 0x80000008, 0);
	assert_int_equal(x->ecx & 0xff, 5);
	assert_int_equal((x->ecx >> 12) & 0xf, 3);
	x = cpuid_find(e, n, 0x80000001, 0);
	assert_false(x->ecx & (1u << 2));               /* no SVM */
	assert_true(x->ecx & (1u << 1));                /* CmpLegacy */
	assert_non_null(cpuid_find(e, n, 0x40000000, 0)); /* KVM leaves kept */
}

static void test_amd_cache_and_vendor(void **state)
{
	struct hv_cpuid_entry e[64];
	unsigned n = fake_supported(e);
	struct hv_cpuid_entry *x;

	assert_int_equal(cpuid_filter(e, &n, 64, 0, 4), 0);
	x = cpuid_find(e, n, 0x8000001d, 3);
	assert_int_equal((x->eax >> 14) & 0xfff, 3);    /* L3 shared by all 4 */
	x = cpuid_find(e, n, 0x8000001d, 0);
	assert_int_equal((x->eax >> 14) & 0xfff, 0);    /* L1 per core */
	/* an Intel host: AMD-only leaves are left as KVM reports them */
	n = fake_supported_vendor(e, 0x756e6547);       /* GenuineIntel */
	assert_int_equal(cpuid_filter(e, &n, 64, 0, 4), 0);
	x = cpuid_find(e, n, 0x80000008, 0);
	assert_int_equal(x->ecx, 0x7);
	x = cpuid_find(e, n, 0x80000001, 0);
	assert_int_equal(x->ecx, 1u << 2);
}

static void test_bad_args(void **state)
{
	struct hv_cpuid_entry e[64];
	unsigned n = fake_supported(e);

	assert_int_equal(cpuid_filter(e, &n, 64, 0, 0), -EINVAL);
	assert_int_equal(cpuid_filter(e, &n, 64, 4, 4), -EINVAL);
	assert_int_equal(cpuid_filter(e, &n, 64, 0, 255), -EINVAL);
	assert_int_equal(cpuid_filter(e, &n, n, 0, 2), -ENOSPC);
}

static void test_boot_msrs(void **state)
{
	struct hv_msr m[32];
	unsigned n = cpuid_boot_msrs(m, 32);
	bool misc = false;

	assert_true(n >= 8);
	for (unsigned i = 0; i < n; i++)
		misc |= m[i].index == 0x1a0 && (m[i].data & 1);
	assert_true(misc);
	assert_int_equal(cpuid_boot_msrs(m, 2), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_leaf1),
		cmocka_unit_test(test_uniprocessor),
		cmocka_unit_test(test_topology_leaves),
		cmocka_unit_test(test_amd_cache_and_vendor),
		cmocka_unit_test(test_bad_args),
		cmocka_unit_test(test_boot_msrs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
