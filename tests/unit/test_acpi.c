/* test_acpi: unit tests for acpi.c on fake guest memory: table
 * checksums, signatures and fields (RSDP, XSDT/RSDT, FADT, FACS, DSDT, MADT,
 * and with PCI: MCFG and the DSDT's PNP0A08 host bridge and PNP0C02 ECAM
 * reservation),
 * MADT growth with the vCPU count, -ENOSPC/-EINVAL/-EFAULT, writes confined to
 * the window, and validation by ACPICA's iasl disassembler and compiler of
 * the tables and of what the AML builder makes (the test fails when iasl is
 * missing). The builder's exact encodings: test_aml.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acpi.h"
#include "aml.h"
#include "gmem.h"
#include "memmap.h"
#include "le_bytes.h"

#define MEM_SIZE  0x100000u
#define WIN_GPA   0xE0000u
#define WIN_SIZE  0x10000u
#define FILL      0xA5

struct iasl_dir {
	char path[64];  /* empty when no directory exists */
};

struct fixture {
	struct gmem gm;
	uint8_t *mem;
	struct iasl_dir dir;  /* removed by teardown, even after a failure */
};

static void iasl_dir_remove(struct iasl_dir *d);

struct tables {
	const uint8_t *rsdp, *xsdt, *rsdt, *fadt, *facs, *dsdt, *madt;
	const uint8_t *mcfg;  /* NULL without PCI */
	uint64_t end;   /* highest byte used + 1 (guest address) */
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

	iasl_dir_remove(&f->dir);
	free(f->mem);
	free(f);
	return 0;
}

static struct acpi_params params_default(unsigned ncpus)
{
	return (struct acpi_params){
		.ncpus = ncpus,
		.lapic_addr = X86_LAPIC_GPA,
		.ioapic_addr = X86_IOAPIC_GPA,
		.sci_irq = X86_IRQ_SCI,
		.pm1a_evt_port = X86_PORT_PM1A_EVT,
		.pm1a_cnt_port = X86_PORT_PM1A_CNT,
		.pm_tmr_port = X86_PORT_PM_TMR,
		.reset_port = X86_PORT_RESET,
		.reset_value = X86_RESET_VALUE,
		.s5_slp_typ = X86_ACPI_S5_SLP_TYP,
		.com1_port = X86_PORT_COM1,
		.com1_irq = X86_IRQ_COM1,
	};
}

/* The default machine with a PCI host bridge, as pc.c describes it. */
static struct acpi_params params_pci(unsigned ncpus)
{
	struct acpi_params p = params_default(ncpus);

	p.pci_ecam_base = 0xD0000000;
	p.pci_ecam_size = 0x100000;
	p.pci_mem_base = 0xC0000000;
	p.pci_mem_size = 0x10000000;
	return p;
}

/* Unusual values, to prove nothing is hard-coded in acpi.c. */
static struct acpi_params params_custom(void)
{
	struct acpi_params p = params_default(3);

	p.lapic_addr = 0xFEE10000;
	p.ioapic_addr = 0xFEC01000;
	p.sci_irq = 10;
	p.pm1a_evt_port = 0xB000;
	p.pm1a_cnt_port = 0xB004;
	p.pm_tmr_port = 0xB008;
	p.reset_port = 0x64;
	p.reset_value = 0xFE;
	p.s5_slp_typ = 7;
	p.com1_port = 0x2F8;
	p.com1_irq = 3;
	return p;
}

/* ---- checks ---- */

static uint8_t sum8(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* A pointer to the table at gpa, after checking it lies inside the window. */
static const uint8_t *table_at(const struct fixture *f, uint64_t gpa, uint64_t len,
			       struct tables *t)
{
	assert_true(gpa >= WIN_GPA);
	assert_true(gpa + len <= WIN_GPA + WIN_SIZE);
	if (gpa + len > t->end)
		t->end = gpa + len;
	return f->mem + gpa;
}

static void check_header(const uint8_t *t, const char *sig, uint8_t rev)
{
	uint32_t len = get32(t + 4);

	assert_memory_equal(t, sig, 4);
	assert_int_equal(t[8], rev);
	assert_int_equal(sum8(t, len), 0);
	assert_memory_equal(t + 10, "VMKIT ", 6);
	assert_memory_equal(t + 16, "VMKITVMM", 8);
	assert_memory_equal(t + 28, "VMKT", 4);
}

/* Follow RSDP -> XSDT -> FADT -> DSDT/FACS and XSDT -> MADT (-> MCFG with
 * PCI: nsdt 3). */
static void find_tables_n(const struct fixture *f, uint64_t rsdp_gpa, struct tables *t,
			  unsigned nsdt)
{
	memset(t, 0, sizeof(*t));
	t->rsdp = table_at(f, rsdp_gpa, 36, t);
	t->xsdt = table_at(f, get64(t->rsdp + 24), 36, t);
	t->xsdt = table_at(f, get64(t->rsdp + 24), get32(t->xsdt + 4), t);
	assert_int_equal(get32(t->xsdt + 4), 36 + nsdt * 8);
	t->rsdt = table_at(f, get32(t->rsdp + 16), 36 + nsdt * 4, t);
	if (nsdt == 3) {
		t->mcfg = table_at(f, get64(t->xsdt + 52), 36, t);
		t->mcfg = table_at(f, get64(t->xsdt + 52), get32(t->mcfg + 4), t);
		assert_int_equal(get32(t->rsdt + 44), get64(t->xsdt + 52));
	}
	t->fadt = table_at(f, get64(t->xsdt + 36), 276, t);
	t->madt = table_at(f, get64(t->xsdt + 44), 44, t);
	t->madt = table_at(f, get64(t->xsdt + 44), get32(t->madt + 4), t);
	t->facs = table_at(f, get64(t->fadt + 132), 64, t);
	t->dsdt = table_at(f, get64(t->fadt + 140), 36, t);
	t->dsdt = table_at(f, get64(t->fadt + 140), get32(t->dsdt + 4), t);
}

static void build_ok(struct fixture *f, const struct acpi_params *p, struct tables *t)
{
	uint64_t rsdp = 0;

	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, p, &rsdp), 0);
	assert_int_equal(rsdp, WIN_GPA);
	find_tables_n(f, rsdp, t, p->pci_ecam_base ? 3 : 2);
}

static void assert_untouched(const struct fixture *f, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		if (f->mem[i] != FILL)
			fail_msg("byte at 0x%llx was written", (unsigned long long)i);
}

/* ---- table tests ---- */

static void test_rsdp(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_default(2);
	struct tables t;

	build_ok(f, &p, &t);
	assert_memory_equal(t.rsdp, "RSD PTR ", 8);
	assert_int_equal(sum8(t.rsdp, 20), 0);
	assert_int_equal(sum8(t.rsdp, 36), 0);
	assert_memory_equal(t.rsdp + 9, "VMKIT ", 6);
	assert_int_equal(t.rsdp[15], 2);
	assert_int_equal(get32(t.rsdp + 20), 36);
	assert_int_equal(WIN_GPA % 16, 0);
	assert_true(get64(t.rsdp + 24) % 8 == 0);
	assert_memory_equal(t.rsdp + 33, "\0\0\0", 3);
}

static void test_sdts_and_checksums(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_default(4);
	struct tables t;

	build_ok(f, &p, &t);
	check_header(t.xsdt, "XSDT", 1);
	check_header(t.rsdt, "RSDT", 1);
	check_header(t.fadt, "FACP", 6);
	check_header(t.dsdt, "DSDT", 2);
	check_header(t.madt, "APIC", 5);
	assert_int_equal(get32(t.fadt + 4), 276);
	assert_int_equal(get32(t.rsdt + 4), 36 + 8);
	/* XSDT and RSDT list exactly FADT then MADT. */
	assert_memory_equal(f->mem + get64(t.xsdt + 36), "FACP", 4);
	assert_memory_equal(f->mem + get64(t.xsdt + 44), "APIC", 4);
	assert_int_equal(get32(t.rsdt + 36), get64(t.xsdt + 36));
	assert_int_equal(get32(t.rsdt + 40), get64(t.xsdt + 44));
	/* A corrupted byte must break the checksum the test relies on. */
	f->mem[t.madt - f->mem + 50] ^= 1;
	assert_int_not_equal(sum8(t.madt, get32(t.madt + 4)), 0);
}

static void check_gas(const uint8_t *g, uint8_t width, uint8_t access, uint64_t addr)
{
	assert_int_equal(g[0], 1);        /* system I/O */
	assert_int_equal(g[1], width);
	assert_int_equal(g[2], 0);
	assert_int_equal(g[3], access);
	assert_int_equal(get64(g + 4), addr);
}

static void check_fadt(const struct tables *t, const struct acpi_params *p)
{
	const uint8_t *fa = t->fadt;
	uint32_t flags = get32(fa + 112);
	uint16_t boot = get16(fa + 109);

	assert_int_equal(get32(fa + 36), get64(fa + 132));           /* FACS */
	assert_int_equal(get32(fa + 40), get64(fa + 140));           /* DSDT */
	assert_int_equal(get16(fa + 46), p->sci_irq);
	assert_int_equal(get32(fa + 48), 0);                         /* SMI_CMD */
	assert_int_equal(fa[52] | fa[53], 0);
	assert_int_equal(get32(fa + 56), p->pm1a_evt_port);
	assert_int_equal(get32(fa + 60), 0);                         /* no PM1b */
	assert_int_equal(get32(fa + 64), p->pm1a_cnt_port);
	assert_int_equal(get32(fa + 76), p->pm_tmr_port);
	assert_int_equal(get32(fa + 80) | get32(fa + 84), 0);        /* no GPE */
	assert_int_equal(fa[88], 4);
	assert_int_equal(fa[89], 2);
	assert_int_equal(fa[91], 4);
	assert_int_equal(fa[92] | fa[93], 0);
	assert_int_equal(fa[108], 0x32);                             /* century */
	assert_int_equal(boot & 0x2A, 0x02);  /* 8042; MSI ok; CMOS RTC present */
	assert_int_equal(boot & 0x04, 0x04);  /* no VGA */
	assert_int_equal(flags & (1u << 0), 1u << 0);                /* WBINVD */
	assert_int_equal(flags & (1u << 4), 0);              /* fixed power button */
	assert_int_equal(flags & (1u << 5), 1u << 5);        /* no fixed sleep btn */
	assert_int_equal(flags & (1u << 8), 0);              /* 24-bit timer */
	assert_int_equal(flags & (1u << 10), 1u << 10);      /* RESET_REG_SUP */
	assert_int_equal(flags & (1u << 20), 0);             /* not HW-reduced */
	check_gas(fa + 116, 8, 1, p->reset_port);
	assert_int_equal(fa[128], p->reset_value);
	check_gas(fa + 148, 32, 2, p->pm1a_evt_port);
	check_gas(fa + 172, 16, 2, p->pm1a_cnt_port);
	check_gas(fa + 208, 32, 3, p->pm_tmr_port);
	for (unsigned off = 160; off < 172; off++)                  /* X_PM1b_EVT */
		assert_int_equal(fa[off], 0);
	for (unsigned off = 220; off < 244; off++)                  /* X_GPE0/1 */
		assert_int_equal(fa[off], 0);
}

static void test_fadt(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_default(1);
	struct tables t;

	build_ok(f, &p, &t);
	check_fadt(&t, &p);
	assert_ptr_equal(t.dsdt, f->mem + get32(t.fadt + 40));
	assert_ptr_equal(t.facs, f->mem + get32(t.fadt + 36));
	p = params_custom();
	build_ok(f, &p, &t);
	check_fadt(&t, &p);
}

static void test_facs(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_default(4);
	struct tables t;

	build_ok(f, &p, &t);
	assert_int_equal(get64(t.fadt + 132) % 64, 0);
	assert_memory_equal(t.facs, "FACS", 4);
	assert_int_equal(get32(t.facs + 4), 64);
	assert_int_equal(get32(t.facs + 8), 0);       /* hardware signature */
	assert_int_equal(get32(t.facs + 12), 0);      /* no waking vector */
	assert_int_equal(get32(t.facs + 16), 0);      /* global lock free */
	assert_int_equal(t.facs[32], 2);
}

struct madt_counts {
	unsigned lapic, ioapic, iso, nmi;
};

static void check_madt_entry(const uint8_t *e, const struct acpi_params *p,
			     struct madt_counts *c)
{
	switch (e[0]) {
	case 0:
		assert_int_equal(e[1], 8);
		assert_int_equal(e[2], c->lapic);            /* processor UID */
		assert_int_equal(e[3], c->lapic);            /* APIC ID */
		assert_int_equal(get32(e + 4), 1);
		c->lapic++;
		break;
	case 1:
		assert_int_equal(e[1], 12);
		assert_int_equal(e[2], p->ncpus);
		assert_int_equal(get32(e + 4), p->ioapic_addr);
		assert_int_equal(get32(e + 8), 0);
		c->ioapic++;
		break;
	case 2:
		assert_int_equal(e[1], 10);
		assert_int_equal(e[2], 0);
		assert_int_equal(e[3], c->iso == 0 ? 0 : p->sci_irq);
		assert_int_equal(get32(e + 4), c->iso == 0 ? 2 : p->sci_irq);
		assert_int_equal(get16(e + 8), c->iso == 0 ? 0 : 0x0D);
		c->iso++;
		break;
	case 4:
		assert_int_equal(e[1], 6);
		assert_int_equal(e[2], 0xFF);
		assert_int_equal(get16(e + 3), 0);
		assert_int_equal(e[5], 1);
		c->nmi++;
		break;
	default:
		fail_msg("unexpected MADT entry type %u", e[0]);
	}
}

/* Walk the MADT entries, checking each against p. */
static void check_madt(const uint8_t *m, const struct acpi_params *p)
{
	const uint8_t *e = m + 44, *end = m + get32(m + 4);
	struct madt_counts c = { 0 };

	assert_int_equal(get32(m + 4), 44 + 8 * p->ncpus + 12 + 2 * 10 + 6);
	assert_int_equal(get32(m + 36), p->lapic_addr);
	assert_int_equal(get32(m + 40), 1);
	for (; e < end; e += e[1]) {
		assert_true(e[1] >= 2 && e + e[1] <= end);
		check_madt_entry(e, p, &c);
	}
	assert_ptr_equal(e, end);
	assert_int_equal(c.lapic, p->ncpus);
	assert_int_equal(c.ioapic, 1);
	assert_int_equal(c.iso, 2);
	assert_int_equal(c.nmi, 1);
}

static void check_madt_for(void **state, unsigned ncpus)
{
	struct fixture *f = *state;
	struct acpi_params p = params_default(ncpus);
	struct tables t;

	build_ok(f, &p, &t);
	check_madt(t.madt, &p);
	assert_int_equal(sum8(t.madt, get32(t.madt + 4)), 0);
}

static void test_madt_1(void **state)
{
	check_madt_for(state, 1);
}

static void test_madt_4(void **state)
{
	check_madt_for(state, 4);
}

static void test_madt_254(void **state)
{
	check_madt_for(state, 254);
}

static void test_madt_custom(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_custom();
	struct tables t;

	build_ok(f, &p, &t);
	check_madt(t.madt, &p);
}

static const uint8_t *memfind(const uint8_t *hay, size_t hlen, const void *needle, size_t nlen)
{
	for (size_t i = 0; i + nlen <= hlen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

static void test_dsdt_content(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_custom();
	const uint8_t s5[] = { 0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,
			       0x0A, 7, 0x0A, 7, 0x00, 0x00 };
	const uint8_t crs[] = { 0x47, 0x01, 0xF8, 0x02, 0xF8, 0x02, 0x01, 0x08,
				0x22, 0x08, 0x00, 0x79, 0x00 };
	const uint8_t hid[] = { '_', 'H', 'I', 'D', 0x0C, 0x41, 0xD0, 0x05, 0x01 };
	struct tables t;
	uint32_t len, len_no_com1;

	build_ok(f, &p, &t);
	len = get32(t.dsdt + 4);
	assert_memory_equal(t.dsdt + 36, s5, sizeof(s5));
	assert_non_null(memfind(t.dsdt, len, crs, sizeof(crs)));
	assert_non_null(memfind(t.dsdt, len, hid, sizeof(hid)));
	assert_non_null(memfind(t.dsdt, len, "COM1", 4));
	p.com1_port = 0;
	build_ok(f, &p, &t);
	len_no_com1 = get32(t.dsdt + 4);
	assert_true(len_no_com1 < len);
	assert_null(memfind(t.dsdt, len_no_com1, "COM1", 4));
	assert_non_null(memfind(t.dsdt, len_no_com1, "_SB_", 4));
	assert_int_equal(sum8(t.dsdt, len_no_com1), 0);
}

static void test_enospc(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_default(254);
	struct tables t;
	uint64_t need, rsdp = 0;

	build_ok(f, &p, &t);
	need = t.end - WIN_GPA;
	memset(f->mem, FILL, MEM_SIZE);
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, need - 1, &p, &rsdp), -ENOSPC);
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, 0, &p, &rsdp), -ENOSPC);
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, 36, &p, &rsdp), -ENOSPC);
	assert_int_equal(rsdp, 0);
	assert_untouched(f, 0, MEM_SIZE);
	/* Exactly enough room works, and nothing past it is touched. */
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, need, &p, &rsdp), 0);
	assert_int_equal(rsdp, WIN_GPA);
	assert_untouched(f, 0, WIN_GPA);
	assert_untouched(f, WIN_GPA + need, MEM_SIZE);
	/* The window size grows with the vCPU count. */
	p.ncpus = 1;
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, need - 253 * 8, &p, &rsdp), 0);
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, need - 253 * 8 - 1, &p, &rsdp),
			 -ENOSPC);
}

static void test_writes_stay_in_window(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_default(254);
	struct tables t;

	build_ok(f, &p, &t);
	assert_untouched(f, 0, WIN_GPA);
	assert_untouched(f, WIN_GPA + WIN_SIZE, MEM_SIZE);
	assert_untouched(f, t.end, WIN_GPA + WIN_SIZE);
}

static void test_bad_params(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p;
	uint64_t rsdp = 0;

	p = params_default(0);
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_default(255);
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_default(1);
	p.sci_irq = 16;
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_default(1);
	p.com1_irq = 99;
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_default(1);
	p.ioapic_addr = 0x100000000ULL;
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_default(1);
	p.pm_tmr_port = 0;
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_default(1);
	assert_int_equal(acpi_build(&f->gm, WIN_GPA + 8, WIN_SIZE, &p, &rsdp), -EINVAL);
	assert_int_equal(acpi_build(&f->gm, 0xFFFFFFFFFFFFFFF0ULL, 0x100, &p, &rsdp), -EINVAL);
	/* Window outside guest RAM, or running off its end. */
	assert_int_equal(acpi_build(&f->gm, MEM_SIZE, WIN_SIZE, &p, &rsdp), -EFAULT);
	assert_int_equal(acpi_build(&f->gm, MEM_SIZE - 0x100, WIN_SIZE, &p, &rsdp), -EFAULT);
	assert_int_equal(rsdp, 0);
	assert_untouched(f, 0, MEM_SIZE);
}

static void test_mcfg(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_pci(2);
	struct tables t;

	build_ok(f, &p, &t);
	check_header(t.mcfg, "MCFG", 1);
	check_header(t.xsdt, "XSDT", 1);
	check_header(t.rsdt, "RSDT", 1);
	assert_int_equal(get32(t.mcfg + 4), 60);
	assert_true(get64(t.mcfg + 36) == 0);                /* reserved */
	assert_true(get64(t.mcfg + 44) == 0xD0000000);       /* ECAM base */
	assert_int_equal(get16(t.mcfg + 52), 0);             /* segment 0 */
	assert_int_equal(t.mcfg[54], 0);                     /* buses 0-0 */
	assert_int_equal(t.mcfg[55], 0);
	assert_int_equal(get32(t.mcfg + 56), 0);
	/* FADT and MADT are still the first two entries */
	assert_memory_equal(f->mem + get64(t.xsdt + 36), "FACP", 4);
	assert_memory_equal(f->mem + get64(t.xsdt + 44), "APIC", 4);
	check_madt(t.madt, &p);
	/* a 4 MiB window covers buses 0-3 */
	p.pci_ecam_size = 0x400000;
	build_ok(f, &p, &t);
	assert_int_equal(t.mcfg[55], 3);
}

static void test_dsdt_pci(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_pci(1);
	/* Memory32Fixed(ReadWrite, 0xD0000000, 0x100000) */
	const uint8_t ecam[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xD0,
				 0x00, 0x00, 0x10, 0x00 };
	/* IO(Decode16, 0xCF8, 0xCF8, 1, 8) */
	const uint8_t cfg_io[] = { 0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08 };
	const uint8_t pnp0a08[] = { 0x0C, 0x41, 0xD0, 0x0A, 0x08 };
	const uint8_t pnp0c02[] = { 0x0C, 0x41, 0xD0, 0x0C, 0x02 };
	struct tables t;
	uint32_t len;

	build_ok(f, &p, &t);
	len = get32(t.dsdt + 4);
	assert_non_null(memfind(t.dsdt, len, "PCI0", 4));
	assert_non_null(memfind(t.dsdt, len, pnp0a08, sizeof(pnp0a08)));
	assert_non_null(memfind(t.dsdt, len, pnp0c02, sizeof(pnp0c02)));
	assert_non_null(memfind(t.dsdt, len, ecam, sizeof(ecam)));
	assert_non_null(memfind(t.dsdt, len, cfg_io, sizeof(cfg_io)));
	/* without PCI none of it */
	p = params_default(1);
	build_ok(f, &p, &t);
	assert_null(memfind(t.dsdt, get32(t.dsdt + 4), "PCI0", 4));
	assert_null(t.mcfg);
}

static void test_bad_pci_params(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p;
	uint64_t rsdp = 0;

	p = params_pci(1);
	p.pci_ecam_base += 0x1000;                        /* not 1 MiB aligned */
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_pci(1);
	p.pci_ecam_size = 0x180000;                       /* not whole buses */
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_pci(1);
	p.pci_ecam_size = 0;
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_pci(1);
	p.pci_ecam_size = 0x20000000;                     /* more than 256 buses */
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_pci(1);
	p.pci_ecam_base = 0x100000000ULL;                 /* above 4 GiB */
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_pci(1);
	p.pci_mem_size = 0;
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	p = params_pci(1);
	p.pci_mem_base = 0xF0000000;
	p.pci_mem_size = 0x20000000;                      /* runs past 4 GiB */
	assert_int_equal(acpi_build(&f->gm, WIN_GPA, WIN_SIZE, &p, &rsdp), -EINVAL);
	assert_int_equal(rsdp, 0);
	assert_untouched(f, 0, MEM_SIZE);
}

/* ---- iasl validation ---- */

static void iasl_dir_create(struct iasl_dir *d)
{
	strcpy(d->path, "/tmp/vmkit-acpi-XXXXXX");
	assert_non_null(mkdtemp(d->path));
}

static void iasl_dir_remove(struct iasl_dir *d)
{
	DIR *dir;
	struct dirent *de;
	char p[512];

	if (!d->path[0])
		return;
	dir = opendir(d->path);
	assert_non_null(dir);
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", d->path, de->d_name);
		unlink(p);
	}
	closedir(dir);
	rmdir(d->path);
	d->path[0] = '\0';
}

static void write_file(const struct iasl_dir *d, const char *name, const void *data, size_t len)
{
	char p[512];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", d->path, name);
	fp = fopen(p, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

/* Whole file as a NUL-terminated string, whitespace runs collapsed to ' '. */
static char *read_text(const struct iasl_dir *d, const char *name, size_t *len_out)
{
	char p[512];
	FILE *fp;
	char *buf = malloc(1 << 20);
	size_t n = 0;
	int c, sp = 0;

	snprintf(p, sizeof(p), "%s/%s", d->path, name);
	fp = fopen(p, "rb");
	if (!fp)
		fail_msg("iasl did not produce %s", name);
	assert_non_null(buf);
	while ((c = fgetc(fp)) != EOF && n < (1 << 20) - 2) {
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			sp = 1;
			continue;
		}
		if (sp && n)
			buf[n++] = ' ';
		sp = 0;
		buf[n++] = (char)c;
	}
	buf[n] = '\0';
	fclose(fp);
	if (len_out)
		*len_out = n;
	return buf;
}

static void read_binary(const struct iasl_dir *d, const char *name, uint8_t *out,
			size_t max, size_t *len)
{
	char p[512];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", d->path, name);
	fp = fopen(p, "rb");
	if (!fp)
		fail_msg("iasl did not produce %s", name);
	*len = fread(out, 1, max, fp);
	fclose(fp);
}

/* Run iasl with args inside the directory; returns its exit status and the
 * combined stdout/stderr in out. */
static int run_iasl(const struct iasl_dir *d, const char *args, char *out, size_t outsz)
{
	char cmd[1024];
	FILE *pp;
	size_t n;
	int st;

	snprintf(cmd, sizeof(cmd), "cd '%s' && iasl %s 2>&1", d->path, args);
	pp = popen(cmd, "r");
	assert_non_null(pp);
	n = fread(out, 1, outsz - 1, pp);
	out[n] = '\0';
	st = pclose(pp);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void assert_iasl_installed(void)
{
	if (system("command -v iasl >/dev/null 2>&1") != 0)
		fail_msg("iasl is not installed: install acpica-tools (Debian package "
			 "'acpica-tools') to validate the ACPI tables");
}

/* No diagnostic words in iasl output or its .dsl; the compile summary line
 * "N Errors, N Warnings" must report zeros. */
static void assert_clean(const char *what, const char *text)
{
	static const char *const bad[] = {
		"error", "warning", "incorrect", "invalid", "****", "unknown",
		"abort", "exception", "unexpected", "could not",
	};
	char *copy = strdup(text), *line, *save = NULL;

	assert_non_null(copy);
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, "Compilation successful.")) {
			if (!strstr(line, " 0 Errors, 0 Warnings"))
				fail_msg("%s: %s", what, line);
			continue;
		}
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			if (strcasestr(line, bad[i]))
				fail_msg("%s: iasl reports \"%s\" in: %s", what, bad[i], line);
	}
	free(copy);
}

/* Disassemble name.dat; check exit status, output and the .dsl. Returns the
 * whitespace-collapsed .dsl text (caller frees). */
static char *iasl_disassemble(const struct iasl_dir *d, const char *name)
{
	char args[128], out[16384], dsl[128];
	char *text;
	int rc;

	snprintf(args, sizeof(args), "-d %s.dat", name);
	rc = run_iasl(d, args, out, sizeof(out));
	if (rc != 0)
		fail_msg("iasl -d %s.dat exited %d:\n%s", name, rc, out);
	assert_clean(name, out);
	if (!strstr(out, "Formatted output:") && !strstr(out, "Disassembly completed"))
		fail_msg("iasl -d %s.dat did not disassemble:\n%s", name, out);
	snprintf(dsl, sizeof(dsl), "%s.dsl", name);
	text = read_text(d, dsl, NULL);
	assert_clean(dsl, text);
	return text;
}

static void assert_contains(const char *text, const char *what, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("%s lacks \"%s\"", what, needle);
}

static unsigned count_occurrences(const char *text, const char *needle)
{
	unsigned n = 0;

	for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Recompile a disassembled DSDT with optimisations off and compare the AML
 * body with the original byte for byte. */
static void iasl_roundtrip_dsdt(const struct iasl_dir *d, const char *name,
				const uint8_t *orig)
{
	char args[128], out[16384], aml[128];
	uint8_t *back = malloc(1 << 16);
	size_t len;
	int rc;

	assert_non_null(back);
	snprintf(args, sizeof(args), "-oa -p %s-rt %s.dsl", name, name);
	rc = run_iasl(d, args, out, sizeof(out));
	if (rc != 0)
		fail_msg("iasl %s exited %d:\n%s", args, rc, out);
	assert_clean("recompile", out);
	snprintf(aml, sizeof(aml), "%s-rt.aml", name);
	read_binary(d, aml, back, 1 << 16, &len);
	assert_int_equal(len, get32(orig + 4));
	assert_memory_equal(back + 36, orig + 36, len - 36);
	free(back);
}

/* ACPICA's own decoding of the FADT agrees with what we meant to write. */
static void check_iasl_fadt(const struct iasl_dir *d)
{
	char *txt = iasl_disassemble(d, "facp");

	assert_contains(txt, "facp", "SCI Interrupt : 0009");
	assert_contains(txt, "facp", "PM1A Event Block Address : 00000600");
	assert_contains(txt, "facp", "PM Timer Block Address : 00000608");
	assert_contains(txt, "facp", "RTC Century Index : 32");
	assert_contains(txt, "facp", "Reset Register Supported (V2) : 1");
	assert_contains(txt, "facp", "Control Method Power Button (V1) : 0");
	assert_contains(txt, "facp", "Control Method Sleep Button (V1) : 1");
	assert_contains(txt, "facp", "32-bit PM Timer (V1) : 0");
	assert_contains(txt, "facp", "Hardware Reduced (V5) : 0");
	assert_contains(txt, "facp", "Address : 0000000000000CF9");
	assert_contains(txt, "facp", "Value to cause reset : 06");
	free(txt);
}

static void test_iasl_tables(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_default(4);
	struct iasl_dir *d = &f->dir;
	struct tables t;
	char *txt;

	assert_iasl_installed();
	build_ok(f, &p, &t);
	iasl_dir_create(d);
	write_file(d, "dsdt.dat", t.dsdt, get32(t.dsdt + 4));
	write_file(d, "facp.dat", t.fadt, get32(t.fadt + 4));
	write_file(d, "apic.dat", t.madt, get32(t.madt + 4));
	write_file(d, "facs.dat", t.facs, get32(t.facs + 4));
	write_file(d, "xsdt.dat", t.xsdt, get32(t.xsdt + 4));
	write_file(d, "rsdt.dat", t.rsdt, get32(t.rsdt + 4));

	check_iasl_fadt(d);
	txt = iasl_disassemble(d, "apic");
	assert_int_equal(count_occurrences(txt, "[Processor Local APIC]"), 4);
	assert_int_equal(count_occurrences(txt, "[Interrupt Source Override]"), 2);
	assert_int_equal(count_occurrences(txt, "[Local APIC NMI]"), 1);
	assert_contains(txt, "apic", "I/O Apic ID : 04");
	free(txt);
	txt = iasl_disassemble(d, "dsdt");
	assert_contains(txt, "dsdt", "EisaId (\"PNP0501\")");
	assert_contains(txt, "dsdt", "Name (_S5, Package (0x04)");
	assert_contains(txt, "dsdt", "IRQNoFlags () {4}");
	free(txt);
	iasl_roundtrip_dsdt(d, "dsdt", t.dsdt);
	free(iasl_disassemble(d, "facs"));
	free(iasl_disassemble(d, "xsdt"));
	free(iasl_disassemble(d, "rsdt"));
	/* iasl cannot disassemble an RSDP (no standard table header, even its
	 * own `iasl -T RSDP` output is rejected): it is checked in test_rsdp. */
	iasl_dir_remove(d);
}

/* What iasl must show of the PCI host bridge and the ECAM reservation. */
static const char *const pci_dsdt_want[] = {
	"Device (PCI0) { Name (_HID, EisaId (\"PNP0A08\")",
	"Name (_CID, EisaId (\"PNP0A03\")",
	"Name (_SEG, Zero)", "Name (_BBN, Zero)", "Name (_UID, Zero)",
	"WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, "
	"// Granularity 0x0000, // Range Minimum 0x0000, // Range Maximum 0x0000, "
	"// Translation Offset 0x0001, // Length",
	"IO (Decode16, 0x0CF8, // Range Minimum 0x0CF8, // Range Maximum 0x01, "
	"// Alignment 0x08, // Length",
	"DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, "
	"ReadWrite, 0x00000000, // Granularity 0xC0000000, // Range Minimum "
	"0xCFFFFFFF, // Range Maximum 0x00000000, // Translation Offset 0x10000000, "
	"// Length",
	"Device (ECAM) { Name (_HID, EisaId (\"PNP0C02\")",
	"Memory32Fixed (ReadWrite, 0xD0000000, // Address Base 0x00100000, "
	"// Address Length",
};

/* The PCI host bridge and its ECAM reservation as ACPICA reads them, and
 * MCFG's fields. */
static void test_iasl_pci(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_pci(2);
	struct iasl_dir *d = &f->dir;
	struct tables t;
	char *txt;

	assert_iasl_installed();
	build_ok(f, &p, &t);
	iasl_dir_create(d);
	write_file(d, "dsdt.dat", t.dsdt, get32(t.dsdt + 4));
	write_file(d, "mcfg.dat", t.mcfg, get32(t.mcfg + 4));
	write_file(d, "xsdt.dat", t.xsdt, get32(t.xsdt + 4));
	txt = iasl_disassemble(d, "dsdt");

	for (size_t i = 0; i < sizeof(pci_dsdt_want) / sizeof(pci_dsdt_want[0]); i++)
		assert_contains(txt, "dsdt", pci_dsdt_want[i]);
	assert_contains(txt, "dsdt", "EisaId (\"PNP0501\")");
	free(txt);
	iasl_roundtrip_dsdt(d, "dsdt", t.dsdt);
	txt = iasl_disassemble(d, "mcfg");
	assert_contains(txt, "mcfg", "Signature : \"MCFG\"");
	assert_contains(txt, "mcfg", "Base Address : 00000000D0000000");
	assert_contains(txt, "mcfg", "Segment Group Number : 0000");
	assert_contains(txt, "mcfg", "Start Bus Number : 00");
	assert_contains(txt, "mcfg", "End Bus Number : 00");
	free(txt);
	txt = iasl_disassemble(d, "xsdt");
	assert_int_equal(count_occurrences(txt, "ACPI Table Address"), 3);
	free(txt);
	iasl_dir_remove(d);
}

static void test_iasl_madt_254(void **state)
{
	struct fixture *f = *state;
	struct acpi_params p = params_default(254);
	struct iasl_dir *d = &f->dir;
	struct tables t;
	char *txt;

	assert_iasl_installed();
	build_ok(f, &p, &t);
	iasl_dir_create(d);
	write_file(d, "apic.dat", t.madt, get32(t.madt + 4));
	txt = iasl_disassemble(d, "apic");
	assert_int_equal(count_occurrences(txt, "[Processor Local APIC]"), 254);
	assert_contains(txt, "apic", "I/O Apic ID : FE");
	free(txt);
	iasl_dir_remove(d);
}

/* Wrap AML in a DSDT header with a valid checksum. */
static uint8_t *wrap_dsdt(const struct aml *a, size_t *len)
{
	uint8_t *t = calloc(1, 36 + a->len);
	uint8_t s;

	assert_non_null(t);
	*len = 36 + a->len;
	memcpy(t, "DSDT", 4);
	for (int i = 0; i < 4; i++)
		t[4 + i] = (uint8_t)(*len >> (8 * i));
	t[8] = 2;
	memcpy(t + 10, "VMKIT VMKITTST\1\0\0\0VMKT\1\0\0\0", 26);
	memcpy(t + 36, a->buf, a->len);
	s = sum8(t, *len);
	t[9] = (uint8_t)-s;
	return t;
}

/* A PCI host bridge style _CRS using every resource descriptor helper. */
static void build_rich_crs(struct aml *a)
{
	const struct aml_addr_space bus = { AML_ADDR_BUS,
		AML_ADDR_F_MIN_FIXED | AML_ADDR_F_MAX_FIXED, 0, 0, 0, 0xFF, 0, 0x100 };
	const struct aml_addr_space io = { AML_ADDR_IO,
		AML_ADDR_F_MIN_FIXED | AML_ADDR_F_MAX_FIXED, AML_IO_F_ENTIRE,
		0, 0x0D00, 0xFFFF, 0, 0xF300 };
	const struct aml_addr_space mem32 = { AML_ADDR_MEMORY,
		AML_ADDR_F_MIN_FIXED | AML_ADDR_F_MAX_FIXED, AML_MEM_F_RW,
		0, 0xC0000000, 0xFEBFFFFF, 0, 0x3EC00000 };
	const struct aml_addr_space mem64 = { AML_ADDR_MEMORY,
		AML_ADDR_F_MIN_FIXED | AML_ADDR_F_MAX_FIXED,
		AML_MEM_F_RW | AML_MEM_F_PREFETCH,
		0, 0x800000000ULL, 0xFFFFFFFFFULL, 0, 0x800000000ULL };

	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	aml_res_word(a, &bus);
	aml_res_io(a, 0x0CF8, 0x0CF8, 1, 8);
	aml_res_dword(a, &io);
	aml_res_dword(a, &mem32);
	aml_res_qword(a, &mem64);
	aml_res_memory32_fixed(a, 1, 0xFEC00000, 0x1000);
	aml_res_interrupt(a, AML_INT_F_CONSUMER | AML_INT_F_ACTIVE_LOW |
			  AML_INT_F_SHARED, 16);
	aml_res_irq_noflags(a, 9);
	aml_end(a);
}

/* A device exercising every builder helper. */
static void build_rich_aml(struct aml *a)
{
	uint8_t filler[100];

	memset(filler, 0x42, sizeof(filler));
	aml_scope_begin(a, "\\_SB_");
	aml_device_begin(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A08");
	aml_name(a, "_CID");
	aml_eisaid(a, "PNP0A03");
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "DESC");
	aml_string(a, "vmkit host bridge");
	build_rich_crs(a);
	aml_name(a, "BIGB");
	aml_buffer(a, filler, sizeof(filler));
	aml_name(a, "PKG0");
	aml_package_begin(a, 5);
	aml_integer(a, 0x12345678);
	aml_integer(a, 0x123456789AULL);
	aml_integer(a, UINT64_MAX);
	aml_string(a, "x");
	aml_package_begin(a, 1);
	aml_integer(a, 0x300);
	aml_end(a);
	aml_end(a);
	aml_method_begin(a, "_STA", 0, 0);
	aml_return(a);
	aml_integer(a, 0x0F);
	aml_end(a);
	aml_end(a);
	aml_end(a);
}

static void test_iasl_builder_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct iasl_dir *d = &f->dir;
	struct aml a;
	uint8_t *tbl;
	size_t len;
	char *txt;

	assert_iasl_installed();
	aml_init(&a);
	build_rich_aml(&a);
	assert_int_equal(aml_finish(&a), 0);
	tbl = wrap_dsdt(&a, &len);
	iasl_dir_create(d);
	write_file(d, "rich.dat", tbl, len);
	txt = iasl_disassemble(d, "rich");
	assert_contains(txt, "rich", "WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,");
	assert_contains(txt, "rich", "DWordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,");
	assert_contains(txt, "rich", "DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite,");
	assert_contains(txt, "rich", "QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Prefetchable, ReadWrite,");
	assert_contains(txt, "rich", "Memory32Fixed (ReadWrite, 0xFEC00000, // Address Base "
			"0x00001000, // Address Length )");
	assert_contains(txt, "rich", "Interrupt (ResourceConsumer, Level, ActiveLow, Shared, ,, ) { 0x00000010, }");
	assert_contains(txt, "rich", "EisaId (\"PNP0A08\")");
	assert_contains(txt, "rich", "0x000000123456789A,");
	assert_contains(txt, "rich", "\"vmkit host bridge\"");
	free(txt);
	iasl_roundtrip_dsdt(d, "rich", tbl);
	iasl_dir_remove(d);
	free(tbl);
	aml_free(&a);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_rsdp),
		T(test_sdts_and_checksums),
		T(test_fadt),
		T(test_facs),
		T(test_madt_1),
		T(test_madt_4),
		T(test_madt_254),
		T(test_madt_custom),
		T(test_dsdt_content),
		T(test_enospc),
		T(test_writes_stay_in_window),
		T(test_bad_params),
		T(test_mcfg),
		T(test_dsdt_pci),
		T(test_bad_pci_params),
		T(test_iasl_tables),
		T(test_iasl_madt_254),
		T(test_iasl_pci),
		T(test_iasl_builder_roundtrip),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
