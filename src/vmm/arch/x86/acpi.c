/* acpi: lays out and writes the guest's ACPI tables (RSDP, XSDT, RSDT, FADT,
 * FACS, DSDT, MADT; layouts from the ACPI 6.x specification, chapter 5; MCFG
 * from the PCI Firmware specification 3.x, 4.1.2) in a host image and copies
 * it into guest memory in one write. Every port, IRQ and address comes in
 * through struct acpi_params; the DSDT byte code is produced with aml.c. */
#include "acpi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aml.h"
#include "gmem.h"
#include "common/log.h"
#include "common/util.h"

#define ACPI_HDR_LEN        36
#define ACPI_RSDP_LEN       36
#define ACPI_FADT_LEN       276  /* revision 6 layout */
#define ACPI_FACS_LEN       64
#define ACPI_MADT_FIXED_LEN 44
#define ACPI_MADT_LAPIC_LEN 8
#define ACPI_MADT_IOAPIC_LEN 12
#define ACPI_MADT_ISO_LEN   10
#define ACPI_MADT_NMI_LEN   6
#define ACPI_MADT_NISO      2
#define ACPI_MCFG_LEN       60   /* header, 8 reserved, one 16-byte allocation */
#define ACPI_MAX_SDT        3    /* FADT, MADT, MCFG */
#define ACPI_ECAM_BUS_SIZE  0x100000ULL  /* ECAM: 1 MiB per bus */
#define ACPI_PCI_CFG_PORT   0x0CF8       /* configuration mechanism 1, 8 ports */
#define ACPI_MAX_CPUS       254  /* xAPIC IDs 0..253, IOAPIC gets ncpus */
#define ACPI_4G             0x100000000ULL

/* FADT Flags (ACPI 6.x table 5.10). */
#define FADT_F_WBINVD        (1u << 0)
#define FADT_F_PROC_C1       (1u << 2)
#define FADT_F_SLP_BUTTON    (1u << 5)  /* no fixed-feature sleep button */
#define FADT_F_FIX_RTC       (1u << 6)  /* no RTC wake status in PM1 */
#define FADT_F_RESET_REG_SUP (1u << 10)
/* FADT IAPC_BOOT_ARCH (table 5.11). */
#define FADT_BOOT_LEGACY_DEVICES (1u << 0)
#define FADT_BOOT_8042           (1u << 1)
#define FADT_BOOT_NO_VGA         (1u << 2)

#define ACPI_GAS_SYSTEM_IO 1
#define ACPI_ACCESS_BYTE   1
#define ACPI_ACCESS_WORD   2
#define ACPI_ACCESS_DWORD  3

/* MADT Interrupt Source Override flags: polarity bits 1:0, trigger 3:2. */
#define MADT_ISO_ACTIVE_HIGH 0x1
#define MADT_ISO_LEVEL       0xC

/* Offsets of each table from the window's base. */
struct acpi_layout {
	uint64_t base;
	size_t rsdp, xsdt, rsdt, fadt, facs, dsdt, madt, mcfg;  /* mcfg 0: none */
	size_t xsdt_len, rsdt_len, dsdt_len, madt_len;
	unsigned nsdt;          /* tables the XSDT/RSDT list */
	size_t total;
};

static void acpi_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void acpi_put32(uint8_t *p, uint32_t v)
{
	acpi_put16(p, (uint16_t)v);
	acpi_put16(p + 2, (uint16_t)(v >> 16));
}

static void acpi_put64(uint8_t *p, uint64_t v)
{
	acpi_put32(p, (uint32_t)v);
	acpi_put32(p + 4, (uint32_t)(v >> 32));
}

/* Set t[off] so that the bytes of t[0..len) sum to zero. */
static void acpi_checksum(uint8_t *t, size_t len, size_t off)
{
	uint8_t sum = 0;

	t[off] = 0;
	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + t[i]);
	t[off] = (uint8_t)-sum;
}

/* Standard 36-byte header; the checksum is set by acpi_header_finish(). */
static void acpi_header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	acpi_put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "VMKIT ", 6);
	memcpy(t + 16, "VMKITVMM", 8);
	acpi_put32(t + 24, 1);        /* OEM revision */
	memcpy(t + 28, "VMKT", 4);
	acpi_put32(t + 32, 1);        /* creator revision */
}

static void acpi_header_finish(uint8_t *t, size_t len)
{
	acpi_checksum(t, len, 9);
}

/* Generic Address Structure, 12 bytes. */
static void acpi_put_gas(uint8_t *g, uint8_t width, uint8_t access, uint64_t addr)
{
	g[0] = ACPI_GAS_SYSTEM_IO;
	g[1] = width;
	g[2] = 0;
	g[3] = access;
	acpi_put64(g + 4, addr);
}

static int acpi_check_pci(const struct acpi_params *p)
{
	const uint64_t ecam_max = 256 * ACPI_ECAM_BUS_SIZE;

	if (!p->pci_ecam_base)
		return 0;
	if (p->pci_ecam_base % ACPI_ECAM_BUS_SIZE || p->pci_ecam_size % ACPI_ECAM_BUS_SIZE ||
	    !p->pci_ecam_size || p->pci_ecam_size > ecam_max ||
	    p->pci_ecam_base >= ACPI_4G || p->pci_ecam_size > ACPI_4G - p->pci_ecam_base) {
		log_error("acpi: bad PCI ECAM window 0x%llx+0x%llx",
			  (unsigned long long)p->pci_ecam_base, (unsigned long long)p->pci_ecam_size);
		return -EINVAL;
	}
	if (!p->pci_mem_size || p->pci_mem_base >= ACPI_4G ||
	    p->pci_mem_size > ACPI_4G - p->pci_mem_base) {
		log_error("acpi: bad PCI memory window 0x%llx+0x%llx",
			  (unsigned long long)p->pci_mem_base, (unsigned long long)p->pci_mem_size);
		return -EINVAL;
	}
	return 0;
}

static int acpi_check_params(uint64_t gpa, uint64_t size, const struct acpi_params *p)
{
	if (p->ncpus < 1 || p->ncpus > ACPI_MAX_CPUS) {
		log_error("acpi: %u vCPUs not supported (1-%d)", p->ncpus, ACPI_MAX_CPUS);
		return -EINVAL;
	}
	if (p->sci_irq > 15 || p->sci_irq == 0 || p->sci_irq == 2 || p->com1_irq > 15) {
		log_error("acpi: SCI IRQ %u / COM1 IRQ %u is not a usable ISA IRQ",
			  p->sci_irq, p->com1_irq);
		return -EINVAL;
	}
	if (p->lapic_addr >= ACPI_4G || p->ioapic_addr >= ACPI_4G) {
		log_error("acpi: LAPIC/IOAPIC address above 4 GiB");
		return -EINVAL;
	}
	if (gpa % 16 || gpa >= ACPI_4G || size > UINT64_MAX - gpa) {
		log_error("acpi: bad table window 0x%llx+0x%llx (needs 16-byte "
			  "alignment, below 4 GiB)", (unsigned long long)gpa,
			  (unsigned long long)size);
		return -EINVAL;
	}
	if (!p->pm1a_evt_port || !p->pm1a_cnt_port || !p->pm_tmr_port || !p->reset_port) {
		log_error("acpi: PM or reset port is 0");
		return -EINVAL;
	}
	return acpi_check_pci(p);
}

static void acpi_dsdt_com1(struct aml *a, const struct acpi_params *p)
{
	aml_device_begin(a, "COM1");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name(a, "_UID");
	aml_integer(a, 1);
	aml_method_begin(a, "_STA", 0, 0);
	aml_return(a);
	aml_integer(a, 0x0F);  /* present, enabled, shown, functioning */
	aml_end(a);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	aml_res_io(a, p->com1_port, p->com1_port, 0x01, 8);
	aml_res_irq_noflags(a, p->com1_irq);
	aml_end(a);
	aml_end(a);
}

static unsigned acpi_pci_last_bus(const struct acpi_params *p)
{
	return (unsigned)(p->pci_ecam_size / ACPI_ECAM_BUS_SIZE) - 1;
}

/* The PCI host bridge: segment 0 from bus 0, configuration ports, and the
 * memory window its BARs are assigned from. */
static void acpi_dsdt_pci(struct aml *a, const struct acpi_params *p)
{
	const struct aml_addr_space bus = {
		AML_ADDR_BUS, AML_ADDR_F_MIN_FIXED | AML_ADDR_F_MAX_FIXED, 0,
		0, 0, acpi_pci_last_bus(p), 0, acpi_pci_last_bus(p) + 1,
	};
	const struct aml_addr_space mem = {
		AML_ADDR_MEMORY, AML_ADDR_F_MIN_FIXED | AML_ADDR_F_MAX_FIXED, AML_MEM_F_RW,
		0, p->pci_mem_base, p->pci_mem_base + p->pci_mem_size - 1, 0, p->pci_mem_size,
	};

	aml_device_begin(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A08");
	aml_name(a, "_CID");
	aml_eisaid(a, "PNP0A03");
	aml_name(a, "_SEG");
	aml_integer(a, 0);
	aml_name(a, "_BBN");
	aml_integer(a, 0);
	aml_name(a, "_UID");
	aml_integer(a, 0);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	aml_res_word(a, &bus);
	aml_res_io(a, ACPI_PCI_CFG_PORT, ACPI_PCI_CFG_PORT, 0x01, 8);
	aml_res_dword(a, &mem);
	aml_end(a);
	aml_end(a);
}

/* A motherboard resource that reserves the ECAM window (what MCFG points
 * at must also be claimed in the namespace). */
static void acpi_dsdt_ecam(struct aml *a, const struct acpi_params *p)
{
	aml_device_begin(a, "ECAM");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0C02");
	aml_name(a, "_UID");
	aml_integer(a, 1);
	aml_name(a, "_CRS");
	aml_restemplate_begin(a);
	aml_res_memory32_fixed(a, 1, (uint32_t)p->pci_ecam_base, (uint32_t)p->pci_ecam_size);
	aml_end(a);
	aml_end(a);
}

/* The DSDT's AML body (everything after the 36-byte header). */
static int acpi_dsdt_build(struct aml *a, const struct acpi_params *p)
{
	aml_name(a, "_S5_");
	aml_package_begin(a, 4);
	aml_integer(a, p->s5_slp_typ);
	aml_integer(a, p->s5_slp_typ);
	aml_integer(a, 0);
	aml_integer(a, 0);
	aml_end(a);
	aml_scope_begin(a, "\\_SB_");
	if (p->com1_port)
		acpi_dsdt_com1(a, p);
	if (p->pci_ecam_base) {
		acpi_dsdt_pci(a, p);
		acpi_dsdt_ecam(a, p);
	}
	aml_end(a);
	return aml_finish(a);
}

static size_t acpi_madt_len(unsigned ncpus)
{
	return ACPI_MADT_FIXED_LEN + (size_t)ncpus * ACPI_MADT_LAPIC_LEN +
	       ACPI_MADT_IOAPIC_LEN + ACPI_MADT_NISO * ACPI_MADT_ISO_LEN +
	       ACPI_MADT_NMI_LEN;
}

static void acpi_layout(struct acpi_layout *l, uint64_t base, const struct acpi_params *p,
			size_t aml_len)
{
	l->base = base;
	l->nsdt = p->pci_ecam_base ? 3 : 2;
	l->rsdp = 0;
	l->xsdt = ALIGN_UP(l->rsdp + ACPI_RSDP_LEN, 8);
	l->xsdt_len = ACPI_HDR_LEN + 8 * l->nsdt;
	l->rsdt = ALIGN_UP(l->xsdt + l->xsdt_len, 8);
	l->rsdt_len = ACPI_HDR_LEN + 4 * l->nsdt;
	l->fadt = ALIGN_UP(l->rsdt + l->rsdt_len, 8);
	l->facs = ALIGN_UP(l->fadt + ACPI_FADT_LEN, 64);
	l->dsdt = ALIGN_UP(l->facs + ACPI_FACS_LEN, 8);
	l->dsdt_len = ACPI_HDR_LEN + aml_len;
	l->madt = ALIGN_UP(l->dsdt + l->dsdt_len, 8);
	l->madt_len = acpi_madt_len(p->ncpus);
	l->total = l->madt + l->madt_len;
	l->mcfg = 0;
	if (p->pci_ecam_base) {
		l->mcfg = ALIGN_UP(l->total, 8);
		l->total = l->mcfg + ACPI_MCFG_LEN;
	}
}

static uint32_t acpi_addr32(const struct acpi_layout *l, size_t off)
{
	return (uint32_t)(l->base + off);
}

static void acpi_write_rsdp(uint8_t *img, const struct acpi_layout *l)
{
	uint8_t *r = img + l->rsdp;

	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, "VMKIT ", 6);
	r[15] = 2;                                 /* ACPI 2.0+ */
	acpi_put32(r + 16, acpi_addr32(l, l->rsdt));
	acpi_put32(r + 20, ACPI_RSDP_LEN);
	acpi_put64(r + 24, l->base + l->xsdt);
	acpi_checksum(r, 20, 8);                   /* ACPI 1.0 part */
	acpi_checksum(r, ACPI_RSDP_LEN, 32);       /* extended checksum */
}

static void acpi_write_sdts(uint8_t *img, const struct acpi_layout *l)
{
	const size_t entries[ACPI_MAX_SDT] = { l->fadt, l->madt, l->mcfg };
	uint8_t *x = img + l->xsdt, *r = img + l->rsdt;

	acpi_header(x, "XSDT", (uint32_t)l->xsdt_len, 1);
	acpi_header(r, "RSDT", (uint32_t)l->rsdt_len, 1);
	for (size_t i = 0; i < l->nsdt; i++) {
		acpi_put64(x + ACPI_HDR_LEN + 8 * i, l->base + entries[i]);
		acpi_put32(r + ACPI_HDR_LEN + 4 * i, acpi_addr32(l, entries[i]));
	}
	acpi_header_finish(x, l->xsdt_len);
	acpi_header_finish(r, l->rsdt_len);
}

/* FADT fields before the 64-bit X_ block. */
static void acpi_write_fadt_legacy(uint8_t *f, const struct acpi_layout *l,
				   const struct acpi_params *p)
{
	acpi_put32(f + 36, acpi_addr32(l, l->facs));   /* FIRMWARE_CTRL */
	acpi_put32(f + 40, acpi_addr32(l, l->dsdt));   /* DSDT */
	acpi_put16(f + 46, (uint16_t)p->sci_irq);      /* SCI_INT */
	/* SMI_CMD (48), ACPI_ENABLE/DISABLE stay 0: always in ACPI mode. */
	acpi_put32(f + 56, p->pm1a_evt_port);          /* PM1a_EVT_BLK */
	acpi_put32(f + 64, p->pm1a_cnt_port);          /* PM1a_CNT_BLK */
	acpi_put32(f + 76, p->pm_tmr_port);            /* PM_TMR_BLK */
	f[88] = 4;                                     /* PM1_EVT_LEN */
	f[89] = 2;                                     /* PM1_CNT_LEN */
	f[91] = 4;                                     /* PM_TMR_LEN */
	acpi_put16(f + 96, 101);     /* P_LVL2_LAT > 100: no C2 */
	acpi_put16(f + 98, 1001);    /* P_LVL3_LAT > 1000: no C3 */
	f[108] = 0x32;                                 /* CENTURY */
	acpi_put16(f + 109, FADT_BOOT_LEGACY_DEVICES | FADT_BOOT_8042 |
		   FADT_BOOT_NO_VGA);
	acpi_put32(f + 112, FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
		   FADT_F_FIX_RTC | FADT_F_RESET_REG_SUP);
	acpi_put_gas(f + 116, 8, ACPI_ACCESS_BYTE, p->reset_port);
	f[128] = p->reset_value;
}

static void acpi_write_fadt(uint8_t *img, const struct acpi_layout *l,
			    const struct acpi_params *p)
{
	uint8_t *f = img + l->fadt;

	acpi_header(f, "FACP", ACPI_FADT_LEN, 6);
	acpi_write_fadt_legacy(f, l, p);
	f[131] = 3;                                    /* minor version: 6.3 */
	acpi_put64(f + 132, l->base + l->facs);        /* X_FIRMWARE_CTRL */
	acpi_put64(f + 140, l->base + l->dsdt);        /* X_DSDT */
	acpi_put_gas(f + 148, 32, ACPI_ACCESS_WORD, p->pm1a_evt_port);
	acpi_put_gas(f + 172, 16, ACPI_ACCESS_WORD, p->pm1a_cnt_port);
	acpi_put_gas(f + 208, 32, ACPI_ACCESS_DWORD, p->pm_tmr_port);
	acpi_header_finish(f, ACPI_FADT_LEN);
}

static void acpi_write_facs(uint8_t *img, const struct acpi_layout *l)
{
	uint8_t *f = img + l->facs;

	memcpy(f, "FACS", 4);
	acpi_put32(f + 4, ACPI_FACS_LEN);
	f[32] = 2;                                     /* version */
}

static void acpi_write_dsdt(uint8_t *img, const struct acpi_layout *l,
			    const struct aml *a)
{
	uint8_t *d = img + l->dsdt;

	acpi_header(d, "DSDT", (uint32_t)l->dsdt_len, 2);  /* 64-bit integers */
	memcpy(d + ACPI_HDR_LEN, a->buf, a->len);
	acpi_header_finish(d, l->dsdt_len);
}

static uint8_t *acpi_madt_iso(uint8_t *e, uint8_t src, uint32_t gsi, uint16_t flags)
{
	e[0] = 2;
	e[1] = ACPI_MADT_ISO_LEN;
	e[2] = 0;                                      /* bus: ISA */
	e[3] = src;
	acpi_put32(e + 4, gsi);
	acpi_put16(e + 8, flags);
	return e + ACPI_MADT_ISO_LEN;
}

static void acpi_write_madt(uint8_t *img, const struct acpi_layout *l,
			    const struct acpi_params *p)
{
	uint8_t *m = img + l->madt, *e = m + ACPI_MADT_FIXED_LEN;

	acpi_header(m, "APIC", (uint32_t)l->madt_len, 5);
	acpi_put32(m + 36, (uint32_t)p->lapic_addr);
	acpi_put32(m + 40, 1);                         /* PCAT_COMPAT */
	for (unsigned i = 0; i < p->ncpus; i++, e += ACPI_MADT_LAPIC_LEN) {
		e[0] = 0;
		e[1] = ACPI_MADT_LAPIC_LEN;
		e[2] = (uint8_t)i;                     /* processor UID */
		e[3] = (uint8_t)i;                     /* APIC ID */
		acpi_put32(e + 4, 1);                  /* enabled */
	}
	e[0] = 1;
	e[1] = ACPI_MADT_IOAPIC_LEN;
	e[2] = (uint8_t)p->ncpus;                      /* IOAPIC ID */
	acpi_put32(e + 4, (uint32_t)p->ioapic_addr);
	acpi_put32(e + 8, 0);                          /* GSI base */
	e += ACPI_MADT_IOAPIC_LEN;
	e = acpi_madt_iso(e, 0, 2, 0);
	e = acpi_madt_iso(e, (uint8_t)p->sci_irq, p->sci_irq,
			  MADT_ISO_ACTIVE_HIGH | MADT_ISO_LEVEL);
	e[0] = 4;                                      /* Local APIC NMI */
	e[1] = ACPI_MADT_NMI_LEN;
	e[2] = 0xFF;                                   /* all processors */
	acpi_put16(e + 3, 0);
	e[5] = 1;                                      /* LINT1 */
	acpi_header_finish(m, l->madt_len);
}

/* MCFG: one allocation, segment 0, buses 0 to the last the window holds. */
static void acpi_write_mcfg(uint8_t *img, const struct acpi_layout *l,
			    const struct acpi_params *p)
{
	uint8_t *m = img + l->mcfg, *e = m + ACPI_HDR_LEN + 8;

	acpi_header(m, "MCFG", ACPI_MCFG_LEN, 1);
	acpi_put64(e, p->pci_ecam_base);
	acpi_put16(e + 8, 0);                          /* PCI segment group */
	e[10] = 0;                                     /* start bus */
	e[11] = (uint8_t)acpi_pci_last_bus(p);         /* end bus */
	acpi_header_finish(m, ACPI_MCFG_LEN);
}

static void acpi_write_all(uint8_t *img, const struct acpi_layout *l,
			   const struct acpi_params *p, const struct aml *dsdt)
{
	if (l->mcfg)
		acpi_write_mcfg(img, l, p);
	acpi_write_sdts(img, l);
	acpi_write_fadt(img, l, p);
	acpi_write_facs(img, l);
	acpi_write_dsdt(img, l, dsdt);
	acpi_write_madt(img, l, p);
	acpi_write_rsdp(img, l);
}

int acpi_build(struct gmem *gm, uint64_t gpa, uint64_t size,
	       const struct acpi_params *p, uint64_t *rsdp_gpa)
{
	struct acpi_layout l;
	struct aml dsdt;
	uint8_t *img = NULL;
	int ret;

	aml_init(&dsdt);
	ret = acpi_check_params(gpa, size, p);
	if (ret == 0)
		ret = acpi_dsdt_build(&dsdt, p);
	if (ret)
		goto out;
	acpi_layout(&l, gpa, p, dsdt.len);
	if (l.total > size || l.total > ACPI_4G - gpa) {
		log_error("acpi: tables need %zu bytes, window at 0x%llx has %llu",
			  l.total, (unsigned long long)gpa, (unsigned long long)size);
		ret = -ENOSPC;
		goto out;
	}
	img = calloc(1, l.total);
	if (!img) {
		log_error("acpi: out of memory for a %zu-byte table image", l.total);
		ret = -ENOMEM;
		goto out;
	}
	acpi_write_all(img, &l, p, &dsdt);
	ret = gmem_write(gm, gpa, img, l.total);
	if (ret) {
		log_error("acpi: table window 0x%llx+0x%zx is not guest RAM",
			  (unsigned long long)gpa, l.total);
		goto out;
	}
	*rsdp_gpa = gpa;
out:
	free(img);
	aml_free(&dsdt);
	return ret;
}
