/* test_guest_parse: host-side cmocka tests of the test guest's pure code:
 * command line (and the workloads' key getters), number parsing and
 * formatting, ACPI table parsing (FADT, MADT, MCFG, _S5_, GED, the
 * RSDP->XSDT walk over a fake physical memory), the RAM ranges of the boot
 * memory map and the MP table parser, including malformed and hostile
 * input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../acpi.h"
#include "../cmdline.h"
#include "../glog.h"
#include "../lib.h"
#include "../mptable.h"
#include "../phys.h"
#include "../platform.h"

/* ---- fakes: guest physical memory and the console log ---- */

#define FAKE_MEM_SIZE 0x200000

struct fake {
	uint8_t mem[FAKE_MEM_SIZE];
	unsigned nlogs;
	char last_log[256];
};

static struct fake *fake;

const void *phys_map(uint64_t addr, uint64_t len)
{
	if (!fake || addr == 0 || len == 0 || addr >= FAKE_MEM_SIZE ||
	    len > FAKE_MEM_SIZE - addr)
		return NULL;
	return fake->mem + addr;
}

void glog(const char *fmt, ...)
{
	va_list ap;

	if (!fake)
		return;
	va_start(ap, fmt);
	vsnprintf(fake->last_log, sizeof(fake->last_log), fmt, ap);
	va_end(ap);
	fake->nlogs++;
}

static int setup_fake(void **state)
{
	fake = calloc(1, sizeof(*fake));
	*state = fake;
	return fake ? 0 : -1;
}

static int teardown_fake(void **state)
{
	free(*state);
	fake = NULL;
	return 0;
}

/* ---- table builders ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static void fix_checksum(uint8_t *t, uint32_t len, uint32_t csum_off)
{
	t[csum_off] = 0;
	t[csum_off] = (uint8_t)(0x100 - lib_sum8(t, len));
}

/* An ACPI table header with signature and length; checksum fixed later. */
static void acpi_hdr(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "VMKIT ", 6);
}

/* MADT: LAPIC 0 and 1 enabled, 2 disabled, IOAPIC, ISO 9 -> 9 level/high. */
static uint32_t build_madt(uint8_t *t)
{
	uint32_t off = 44;
	static const uint8_t cpus[][2] = { { 0, 1 }, { 1, 1 }, { 2, 0 } };

	for (unsigned i = 0; i < 3; i++, off += 8) {
		t[off] = 0;
		t[off + 1] = 8;
		t[off + 2] = (uint8_t)i;
		t[off + 3] = cpus[i][0];
		put32(t + off + 4, cpus[i][1]);
	}
	t[off] = 1;
	t[off + 1] = 12;
	t[off + 2] = 4;
	put32(t + off + 4, 0xfec00000);
	put32(t + off + 8, 0);
	off += 12;
	t[off] = 2;
	t[off + 1] = 10;
	t[off + 3] = 9;
	put32(t + off + 4, 9);
	put16(t + off + 8, 0xd);
	off += 10;
	acpi_hdr(t, "APIC", off, 4);
	put32(t + 36, 0xfee00000);
	fix_checksum(t, off, 9);
	return off;
}

/* FADT (rev 6, 276 bytes): PM blocks, SCI 9, reset 0xcf9/6, X_DSDT. */
static uint32_t build_fadt(uint8_t *t, uint64_t dsdt)
{
	acpi_hdr(t, "FACP", 276, 6);
	put32(t + 40, 0x12345678);       /* legacy DSDT: X_DSDT must win */
	put16(t + 46, 9);
	put32(t + 56, 0x600);
	put32(t + 64, 0x604);
	put32(t + 76, 0x608);
	t[88] = 4;
	put32(t + 112, FADT_FLAG_RESET_REG_SUP);
	t[116] = GAS_SPACE_IO;
	t[117] = 8;
	put64(t + 120, 0xcf9);
	t[128] = 6;
	put64(t + 140, dsdt);
	t[244] = GAS_SPACE_MEMORY;
	t[245] = 8;
	put64(t + 248, 0xfea00200);
	fix_checksum(t, 276, 9);
	return 276;
}

/* DSDT with Name(\_S5_, Package(4){0x0A 5, ...}). */
static uint32_t build_dsdt(uint8_t *t)
{
	static const uint8_t aml[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x0a, 0x04,
				       0x0a, 0x05, 0x0a, 0x05, 0x00, 0x00 };
	uint32_t len = 36 + sizeof(aml);

	memcpy(t + 36, aml, sizeof(aml));
	acpi_hdr(t, "DSDT", len, 2);
	fix_checksum(t, len, 9);
	return len;
}

/* RSDP (rev 2) at rsdp -> XSDT at xsdt listing FADT and MADT. */
static void build_acpi(uint8_t *mem, uint64_t rsdp, uint64_t xsdt)
{
	uint8_t *r = mem + rsdp, *x = mem + xsdt;
	uint64_t fadt = xsdt + 0x100, madt = xsdt + 0x300, dsdt = xsdt + 0x500;

	memcpy(r, "RSD PTR ", 8);
	r[15] = 2;
	put32(r + 20, 36);
	put64(r + 24, xsdt);
	fix_checksum(r, 20, 8);
	fix_checksum(r, 36, 32);
	acpi_hdr(x, "XSDT", 36 + 16, 1);
	put64(x + 36, fadt);
	put64(x + 44, madt);
	fix_checksum(x, 52, 9);
	build_fadt(mem + fadt, dsdt);
	build_madt(mem + madt);
	build_dsdt(mem + dsdt);
}

/* ---- cmdline ---- */

static void test_cmdline_basic(void **state)
{
	struct cmdline c;

	(void)state;
	assert_int_equal(cmdline_parse("  workload=smp\tcpus=4 console=ttyS0 ", &c), 0);
	assert_string_equal(c.workload, "smp");
	assert_true(c.have_cpus);
	assert_int_equal(c.cpus, 4);
	assert_false(c.have_exit);
	assert_false(c.acpi_off);
}

static void test_cmdline_defaults_and_exit(void **state)
{
	struct cmdline c;

	(void)state;
	assert_int_equal(cmdline_parse("", &c), 0);
	assert_string_equal(c.workload, "hello");
	assert_int_equal(cmdline_parse("exit=0x2a", &c), 0);
	assert_string_equal(c.workload, "exit");
	assert_int_equal(c.exit_code, 42);
	assert_int_equal(cmdline_parse("workload=exit exit=4294967295 acpi=off", &c), 0);
	assert_int_equal(c.exit_code, 0xffffffffu);
	assert_true(c.acpi_off);
	/* the last workload= wins */
	assert_int_equal(cmdline_parse("workload=a workload=idle", &c), 0);
	assert_string_equal(c.workload, "idle");
}

static void test_cmdline_bad_values(void **state)
{
	struct fake *f = *state;
	struct cmdline c;
	char longname[64];

	assert_int_equal(cmdline_parse("cpus=0", &c), -EINVAL);
	assert_int_equal(cmdline_parse("cpus=256", &c), -EINVAL);
	assert_int_equal(cmdline_parse("cpus=4x", &c), -EINVAL);
	assert_int_equal(cmdline_parse("cpus=", &c), -EINVAL);
	assert_int_equal(cmdline_parse("exit=4294967296", &c), -EINVAL);
	assert_int_equal(cmdline_parse("exit=0x", &c), -EINVAL);
	assert_int_equal(cmdline_parse("workload=", &c), -EINVAL);
	memset(longname, 'a', sizeof(longname));
	memcpy(longname, "workload=", 9);
	longname[sizeof(longname) - 1] = '\0';
	f->nlogs = 0;
	assert_int_equal(cmdline_parse(longname, &c), -EINVAL);
	assert_int_equal(f->nlogs, 1);
	assert_non_null(strstr(f->last_log, "workload="));
}

static void test_cmdline_getters(void **state)
{
	struct fake *f = *state;
	struct cmdline c;
	uint64_t v;
	char buf[8];

	assert_int_equal(cmdline_parse("workload=blk seed-x=5 seed=0x10 verify-only=1 "
				       "ro=0 kinds=loop,bad-head big=123456789", &c), 0);
	assert_int_equal(cmdline_u64(&c, "seed", 1, 0, 100, &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(cmdline_u64(&c, "count", 64, 1, 100, &v), 0);
	assert_int_equal(v, 64);                        /* absent: the default */
	f->nlogs = 0;
	assert_int_equal(cmdline_u64(&c, "big", 0, 0, 1000, &v), -EINVAL);
	assert_int_equal(cmdline_u64(&c, "seed", 0, 17, 100, &v), -EINVAL);
	assert_int_equal(f->nlogs, 2);
	assert_true(cmdline_flag(&c, "verify-only"));
	assert_false(cmdline_flag(&c, "ro"));
	assert_false(cmdline_flag(&c, "missing"));
	assert_int_equal(cmdline_str(&c, "kinds", buf, sizeof(buf)), -E2BIG);
	assert_int_equal(cmdline_str(&c, "nope", buf, sizeof(buf)), -ENOENT);
	assert_string_equal(buf, "");
	assert_int_equal(cmdline_str(&c, "ro", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "0");
	assert_true(cmdline_list_has("loop,bad-head", "bad-head"));
	assert_true(cmdline_list_has("loop,bad-head", "loop"));
	assert_false(cmdline_list_has("loop,bad-head", "bad"));
	assert_false(cmdline_list_has("loops", "loop"));
	assert_true(cmdline_list_has("", "anything"));
}

/* ---- lib ---- */

static void test_lib_parse_u64(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(lib_parse_u64("18446744073709551615", 20, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(lib_parse_u64("18446744073709551616", 20, UINT64_MAX, &v), -ERANGE);
	assert_int_equal(lib_parse_u64("0xFFff", 6, 0xffff, &v), 0);
	assert_int_equal(v, 0xffff);
	assert_int_equal(lib_parse_u64("0x10000", 7, 0xffff, &v), -ERANGE);
	assert_int_equal(lib_parse_u64("12a", 3, 1000, &v), -EINVAL);
	assert_int_equal(lib_parse_u64("", 0, 1000, &v), -EINVAL);
	assert_int_equal(lib_parse_u64("0", 1, 0, &v), 0);
	assert_int_equal(v, 0);
}

static void test_lib_snprintf(void **state)
{
	char buf[32];

	(void)state;
	assert_int_equal(lib_snprintf(buf, sizeof(buf), "%s=%d/%u/%x", "v", -12, 7u, 0xbeefu), 12);
	assert_string_equal(buf, "v=-12/7/beef");
	lib_snprintf(buf, sizeof(buf), "%lx %4u %c%%", 0x123456789abcdefUL, 7u, 'z');
	assert_string_equal(buf, "123456789abcdef 0007 z%");
	/* truncation still terminates and reports the full length */
	assert_int_equal(lib_snprintf(buf, 5, "%s", "abcdefgh"), 8);
	assert_string_equal(buf, "abcd");
	lib_snprintf(buf, sizeof(buf), "%ld", (long)INT64_MIN);
	assert_string_equal(buf, "-9223372036854775808");
}

/* ---- AML scans ---- */

static void test_s5_encodings(void **state)
{
	static const uint8_t byteprefix[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04,
					      0x0a, 0x05, 0x00, 0x00, 0x00 };
	static const uint8_t zero[] = { '_', 'S', '5', '_', 0x12, 0x05, 0x04, 0x00, 0x00 };
	static const uint8_t raw[] = { '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x07, 0x07 };
	/* 2-byte PkgLength (bits 7:6 = 1) */
	static const uint8_t pkg2[] = { '_', 'S', '5', '_', 0x12, 0x40, 0x01, 0x02, 0x01 };
	uint8_t typ = 0xff;

	(void)state;
	assert_int_equal(acpi_find_s5(byteprefix, sizeof(byteprefix), &typ), 0);
	assert_int_equal(typ, 5);
	assert_int_equal(acpi_find_s5(zero, sizeof(zero), &typ), 0);
	assert_int_equal(typ, 0);
	assert_int_equal(acpi_find_s5(raw, sizeof(raw), &typ), 0);
	assert_int_equal(typ, 7);
	assert_int_equal(acpi_find_s5(pkg2, sizeof(pkg2), &typ), 0);
	assert_int_equal(typ, 1);
}

static void test_s5_bad(void **state)
{
	/* "_S5_" as a method name first (not a package), then the real one */
	static const uint8_t later[] = { 0x14, '_', 'S', '5', '_', 0x00,
					 '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0a, 0x03 };
	static const uint8_t truncated[] = { '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0a };
	static const uint8_t toobig[] = { '_', 'S', '5', '_', 0x12, 0x04, 0x01, 0x0a, 0x08 };
	static const uint8_t empty_pkg[] = { '_', 'S', '5', '_', 0x12, 0x02, 0x00, 0x00 };
	uint8_t typ = 0xee;

	(void)state;
	assert_int_equal(acpi_find_s5(later, sizeof(later), &typ), 0);
	assert_int_equal(typ, 3);
	typ = 0xee;
	assert_int_equal(acpi_find_s5(truncated, sizeof(truncated), &typ), -ENOENT);
	assert_int_equal(acpi_find_s5(toobig, sizeof(toobig), &typ), -ENOENT);
	assert_int_equal(acpi_find_s5(empty_pkg, sizeof(empty_pkg), &typ), -ENOENT);
	assert_int_equal(acpi_find_s5((const uint8_t *)"_S5", 3, &typ), -ENOENT);
	assert_int_equal(typ, 0xee);
}

static void test_ged(void **state)
{
	/* Device(GED_){ _HID "ACPI0013", _CRS Interrupt(edge, high){9},
	 * OperationRegion(EREG, SystemMemory, 0xfea00000, 4) } */
	static const uint8_t aml[] = {
		0x5b, 0x82, 0x30, 'G', 'E', 'D', '_',
		0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00,
		0x08, '_', 'C', 'R', 'S', 0x11, 0x0e, 0x0a, 0x0b,
		0x89, 0x06, 0x00, 0x03, 0x01, 0x09, 0x00, 0x00, 0x00, 0x79, 0x00,
		0x5b, 0x80, 'E', 'R', 'E', 'G', 0x00, 0x0c, 0x00, 0x00, 0xa0, 0xfe, 0x0a, 0x04,
	};
	struct platform_acpi a = { 0 };

	(void)state;
	assert_int_equal(acpi_find_ged(aml, sizeof(aml), &a), 0);
	assert_true(a.ged_evt_addr == 0xfea00000);
	assert_int_equal(a.ged_irq, 9);
	assert_int_equal(a.ged_irq_flags, PLATFORM_TRIG_EDGE | PLATFORM_POL_HIGH);
	/* cut before the OperationRegion: not found, nothing recorded */
	memset(&a, 0, sizeof(a));
	assert_int_equal(acpi_find_ged(aml, sizeof(aml) - 10, &a), -ENOENT);
	assert_true(a.ged_evt_addr == 0);
}

/* ---- FADT / MADT ---- */

static void test_fadt(void **state)
{
	struct fake *f = *state;
	struct platform_acpi a = { 0 };
	uint8_t *t = f->mem + 0x1000;

	build_fadt(t, 0x5000);
	assert_int_equal(acpi_parse_fadt(t, 276, &a), 0);
	assert_true(a.dsdt == 0x5000);
	assert_int_equal(a.sci_int, 9);
	assert_int_equal(a.pm1a_evt, 0x600);
	assert_int_equal(a.pm1a_cnt, 0x604);
	assert_int_equal(a.pm1_evt_len, 4);
	assert_true(a.have_reset);
	assert_int_equal(a.reset_reg.space, GAS_SPACE_IO);
	assert_true(a.reset_reg.addr == 0xcf9);
	assert_int_equal(a.reset_value, 6);
	assert_int_equal(a.sleep_ctl.space, GAS_SPACE_MEMORY);
	assert_true(a.sleep_ctl.addr == 0xfea00200);

	/* ACPI 1.0 length: no reset register, legacy DSDT, no sleep reg */
	memset(&a, 0, sizeof(a));
	assert_int_equal(acpi_parse_fadt(t, 116, &a), 0);
	assert_false(a.have_reset);
	assert_true(a.dsdt == 0x12345678);
	assert_int_equal(a.sleep_ctl.space, 0xff);

	f->nlogs = 0;
	assert_int_equal(acpi_parse_fadt(t, 115, &a), -EINVAL);
	assert_int_equal(f->nlogs, 1);
}

static void test_madt(void **state)
{
	struct fake *f = *state;
	struct platform p = { 0 };
	uint8_t *t = f->mem + 0x1000;
	uint32_t len = build_madt(t), gsi;
	uint16_t flags;

	assert_int_equal(acpi_parse_madt(t, len, &p), 0);
	assert_string_equal(p.cpu_source, "ACPI MADT");
	assert_int_equal(p.ncpus, 2);
	assert_int_equal(p.cpu_apic_id[0], 0);
	assert_int_equal(p.cpu_apic_id[1], 1);
	assert_int_equal(p.nioapics, 1);
	assert_int_equal(p.ioapic[0].addr, 0xfec00000);
	assert_true(p.lapic_addr == 0xfee00000);
	platform_isa_irq(&p, 9, PLATFORM_TRIG_EDGE | PLATFORM_POL_LOW, &gsi, &flags);
	assert_int_equal(gsi, 9);
	assert_int_equal(flags, PLATFORM_TRIG_LEVEL | PLATFORM_POL_HIGH);
	/* no override: the defaults */
	platform_isa_irq(&p, 4, PLATFORM_TRIG_EDGE | PLATFORM_POL_HIGH, &gsi, &flags);
	assert_int_equal(gsi, 4);
	assert_int_equal(flags, PLATFORM_TRIG_EDGE | PLATFORM_POL_HIGH);
}

static void test_madt_malformed(void **state)
{
	struct fake *f = *state;
	struct platform p = { 0 };
	uint8_t *t = f->mem + 0x1000;
	uint32_t len = build_madt(t);

	t[44 + 1] = 0;                  /* zero-length entry: would loop */
	assert_int_equal(acpi_parse_madt(t, len, &p), -EINVAL);
	len = build_madt(t);
	t[44 + 1] = 200;                /* runs past the table */
	assert_int_equal(acpi_parse_madt(t, len, &p), -EINVAL);
	len = build_madt(t);
	t[44 + 24 + 1] = 8;             /* IOAPIC entry too short */
	t[44 + 24 + 8] = 1;             /* keep the walk aligned: type 1 len 4 */
	t[44 + 24 + 9] = 4;
	assert_int_equal(acpi_parse_madt(t, len, &p), -EINVAL);
	assert_int_equal(acpi_parse_madt(t, 43, &p), -EINVAL);
}

static void test_platform_cpus(void **state)
{
	struct fake *f = *state;
	struct platform p = { 0 };

	platform_add_cpu(&p, 3);
	f->nlogs = 0;
	platform_add_cpu(&p, 3);
	assert_int_equal(f->nlogs, 1);
	platform_add_cpu(&p, 0xff);
	platform_add_cpu(&p, 300);
	assert_int_equal(p.ncpus, 1);
	assert_int_equal(p.ncpus_skipped, 2);
	for (uint32_t i = 0; i < GUEST_MAX_CPUS + 5; i++)
		platform_add_cpu(&p, 10 + i);
	assert_int_equal(p.ncpus, GUEST_MAX_CPUS);
	assert_int_equal(p.ncpus_skipped, 2 + 6);
	assert_int_equal(platform_add_ioapic(&p, 0, 0x1000, 0), -EINVAL);
	assert_int_equal(platform_add_override(&p, 16, 16, 0), -EINVAL);
}

/* ---- MCFG and RAM ranges ---- */

/* MCFG with n allocations {base, segment, start bus, end bus}. */
static uint32_t build_mcfg(uint8_t *t, const uint64_t (*e)[4], unsigned n)
{
	uint32_t len = 44 + 16 * n;

	memset(t, 0, len);
	for (unsigned i = 0; i < n; i++) {
		put64(t + 44 + 16 * i, e[i][0]);
		put16(t + 44 + 16 * i + 8, (uint16_t)e[i][1]);
		t[44 + 16 * i + 10] = (uint8_t)e[i][2];
		t[44 + 16 * i + 11] = (uint8_t)e[i][3];
	}
	acpi_hdr(t, "MCFG", len, 1);
	fix_checksum(t, len, 9);
	return len;
}

static void test_mcfg(void **state)
{
	static const uint64_t good[][4] = {
		{ 0xe0000000, 1, 0, 255 },      /* another segment: ignored */
		{ 0xb0000000, 0, 0, 255 },
		{ 0xc0000000, 0, 0, 15 },       /* a second one for bus 0: first wins */
	};
	static const uint64_t bad[][4] = {
		{ 0xb0080000, 0, 0, 255 },      /* not 1 MiB aligned */
		{ 0x100000000ULL, 0, 0, 0 },    /* above 4 GiB */
		{ 0xfff00000, 0, 2, 3 },        /* does not start at bus 0 */
	};
	struct fake *f = *state;
	struct platform p = { 0 };
	uint8_t t[128];
	uint32_t len = build_mcfg(t, good, 3);

	assert_int_equal(acpi_parse_mcfg(t, len, &p), 0);
	assert_true(p.ecam_base == 0xb0000000);
	assert_int_equal(p.ecam_bus_end, 255);
	memset(&p, 0, sizeof(p));
	f->nlogs = 0;
	len = build_mcfg(t, bad, 3);
	assert_int_equal(acpi_parse_mcfg(t, len, &p), 0);
	assert_true(p.ecam_base == 0);
	assert_int_equal(f->nlogs, 2);
	assert_int_equal(acpi_parse_mcfg(t, len - 4, &p), -EINVAL);
	assert_int_equal(acpi_parse_mcfg(t, 40, &p), -EINVAL);
}

static void test_platform_ram(void **state)
{
	struct platform p = { 0 };

	(void)state;
	assert_true(platform_ram_end(&p, 0x1000000) == 0);
	assert_true(platform_ram_top(&p) == 0);
	platform_add_ram(&p, 0, 0x9fc00);
	platform_add_ram(&p, 0x100000, 0xff00000);
	platform_add_ram(&p, 0x100000000ULL, 0x40000000);
	platform_add_ram(&p, 0xfffffffffffff000ULL, 0x2000);   /* wraps: ignored */
	platform_add_ram(&p, 0x5000, 0);                        /* empty: ignored */
	assert_int_equal(p.nram, 3);
	assert_true(platform_ram_end(&p, 0x1000000) == 0x10000000);
	assert_true(platform_ram_end(&p, 0x10000000) == 0);
	assert_true(platform_ram_end(&p, 0x9fbff) == 0x9fc00);
	assert_true(platform_ram_top(&p) == 0x140000000ULL);
	for (unsigned i = 0; i < PLATFORM_MAX_RAM + 3; i++)
		platform_add_ram(&p, 0x200000000ULL + i * 0x1000, 0x1000);
	assert_int_equal(p.nram, PLATFORM_MAX_RAM);
}

/* ---- RSDP -> XSDT walk over fake memory ---- */

static void test_discover(void **state)
{
	struct fake *f = *state;
	struct platform p = { 0 };
	uint64_t rsdp = 0;

	build_acpi(f->mem, 0xf0010, 0x100000);
	assert_int_equal(acpi_find_rsdp(0, &rsdp), 0);
	assert_true(rsdp == 0xf0010);
	assert_int_equal(acpi_find_rsdp(0xf0010, &rsdp), 0);
	assert_int_equal(acpi_discover(&p, rsdp), 0);
	assert_true(p.have_acpi);
	assert_true(p.acpi.have_fadt);
	assert_int_equal(p.ncpus, 2);
	assert_true(p.acpi.have_s5);
	assert_int_equal(p.acpi.s5_slp_typ, 5);
	assert_true(p.acpi.dsdt_len > 36);
}

static void test_discover_hostile(void **state)
{
	struct fake *f = *state;
	struct platform p = { 0 };
	uint64_t rsdp;

	/* bad RSDP checksum: the scan skips it, a hint is rejected */
	build_acpi(f->mem, 0xf0010, 0x100000);
	f->mem[0xf0010 + 9] ^= 1;
	assert_int_equal(acpi_find_rsdp(0, &rsdp), -ENOENT);
	assert_int_equal(acpi_find_rsdp(0xf0010, &rsdp), -EINVAL);

	/* XSDT lists a table outside memory */
	build_acpi(f->mem, 0xf0010, 0x100000);
	put64(f->mem + 0x100000 + 36, 0x7fffffff0ULL);
	fix_checksum(f->mem + 0x100000, 52, 9);
	f->nlogs = 0;
	assert_int_equal(acpi_discover(&p, 0xf0010), -EINVAL);
	assert_int_equal(f->nlogs, 1);

	/* MADT with a corrupted checksum */
	build_acpi(f->mem, 0xf0010, 0x100000);
	f->mem[0x100300 + 50] ^= 0x40;
	memset(&p, 0, sizeof(p));
	assert_int_equal(acpi_discover(&p, 0xf0010), -EINVAL);
	assert_non_null(strstr(f->last_log, "checksum"));

	/* XSDT claiming a huge length */
	build_acpi(f->mem, 0xf0010, 0x100000);
	put32(f->mem + 0x100000 + 4, 0xfffffff0u);
	memset(&p, 0, sizeof(p));
	assert_int_equal(acpi_discover(&p, 0xf0010), -EINVAL);
}

/* ---- MP table ---- */

static uint32_t build_mptable(uint8_t *t)
{
	uint32_t off = MPTABLE_HDR_LEN;

	memcpy(t, "PCMP", 4);
	put32(t + 36, 0xfee00000);
	for (uint8_t i = 0; i < 3; i++, off += 20) {      /* CPUs 0, 1 (2 disabled) */
		t[off] = 0;
		t[off + 1] = i;
		t[off + 3] = i < 2 ? 1 : 0;
	}
	t[off] = 1;                     /* bus 0: ISA */
	memcpy(t + off + 2, "ISA   ", 6);
	off += 8;
	t[off] = 2;                     /* IOAPIC id 2, enabled */
	t[off + 1] = 2;
	t[off + 3] = 1;
	put32(t + off + 4, 0xfec00000);
	off += 8;
	t[off] = 3;                     /* ISA IRQ 0 -> pin 2 */
	t[off + 4] = 0;
	t[off + 5] = 0;
	t[off + 6] = 2;
	t[off + 7] = 2;
	off += 8;
	t[off] = 3;                     /* ISA IRQ 4 -> pin 4: identity, no override */
	t[off + 5] = 4;
	t[off + 6] = 2;
	t[off + 7] = 4;
	off += 8;
	put16(t + 4, (uint16_t)off);
	put16(t + 34, 0);               /* entry count 0, as some firmware leaves it */
	fix_checksum(t, off, 7);
	return off;
}

static void test_mptable(void **state)
{
	struct fake *f = *state;
	struct platform p = { 0 };
	uint8_t *t = f->mem + 0x2000;
	uint32_t len = build_mptable(t);

	assert_int_equal(mptable_parse(t, len, &p), 0);
	assert_string_equal(p.cpu_source, "MP table");
	assert_int_equal(p.ncpus, 2);
	assert_int_equal(p.nioapics, 1);
	assert_int_equal(p.noverrides, 1);
	assert_int_equal(p.override[0].source, 0);
	assert_int_equal(p.override[0].gsi, 2);
}

static void test_mptable_malformed(void **state)
{
	struct fake *f = *state;
	struct platform p = { 0 };
	uint8_t *t = f->mem + 0x2000;
	uint32_t len = build_mptable(t);

	t[len - 1] ^= 1;                /* checksum */
	assert_int_equal(mptable_parse(t, len, &p), -EINVAL);
	len = build_mptable(t);
	t[MPTABLE_HDR_LEN] = 9;         /* unknown entry type */
	fix_checksum(t, len, 7);
	assert_int_equal(mptable_parse(t, len, &p), -EINVAL);
	len = build_mptable(t);
	put16(t + 4, (uint16_t)(len - 3)); /* last entry truncated */
	fix_checksum(t, len - 3, 7);
	assert_int_equal(mptable_parse(t, len - 3, &p), -EINVAL);
	assert_int_equal(mptable_parse(t, 20, &p), -EINVAL);
}

static void test_mptable_discover(void **state)
{
	struct fake *f = *state;
	struct platform p = { 0 };
	uint8_t *fp = f->mem + 0xf5a30;

	assert_int_equal(mptable_discover(&p), -ENOENT);
	build_mptable(f->mem + 0x9fd00);
	memcpy(fp, "_MP_", 4);
	put32(fp + 4, 0x9fd00);
	fp[8] = 1;
	fp[9] = 4;
	fix_checksum(fp, 16, 10);
	assert_int_equal(mptable_discover(&p), 0);
	assert_int_equal(p.ncpus, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cmdline_basic, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_cmdline_defaults_and_exit, setup_fake,
						teardown_fake),
		cmocka_unit_test_setup_teardown(test_cmdline_bad_values, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_cmdline_getters, setup_fake, teardown_fake),
		cmocka_unit_test(test_lib_parse_u64),
		cmocka_unit_test(test_lib_snprintf),
		cmocka_unit_test(test_s5_encodings),
		cmocka_unit_test(test_s5_bad),
		cmocka_unit_test(test_ged),
		cmocka_unit_test_setup_teardown(test_fadt, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_madt, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_madt_malformed, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_platform_cpus, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_mcfg, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_platform_ram, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_discover, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_discover_hostile, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_mptable, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_mptable_malformed, setup_fake, teardown_fake),
		cmocka_unit_test_setup_teardown(test_mptable_discover, setup_fake, teardown_fake),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
