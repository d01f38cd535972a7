/* acpi: RSDP search, XSDT/RSDT walk, FADT/MADT/MCFG parsing and the two
 * DSDT scans the guest needs (\_S5_ sleep type, Generic Event Device). All table
 * contents are untrusted: lengths, offsets, checksums and addresses are
 * checked before use; problems are logged once and returned as -errno. */
#include "acpi.h"
#include "glog.h"
#include "lib.h"
#include "phys.h"

#define RSDP_V1_LEN      20
#define RSDP_V2_LEN      36
#define RSDP_SCAN_START  0xe0000
#define RSDP_SCAN_END    0x100000
#define FADT_MIN_LEN     116
#define MADT_HDR_LEN     44
#define GED_SCAN_WINDOW  512
#define MCFG_HDR_LEN     44
#define MCFG_ENTRY_LEN   16
#define ECAM_BUS_SIZE    0x100000ULL
#define ECAM_LIMIT       0x100000000ULL /* the guest maps only 0-4 GiB */

static bool acpi_rsdp_valid(const uint8_t *r)
{
	if (!lib_memeq(r, "RSD PTR ", 8) || lib_sum8(r, RSDP_V1_LEN) != 0)
		return false;
	if (r[15] >= 2 && lib_sum8(r, RSDP_V2_LEN) != 0)
		return false;
	return true;
}

int acpi_find_rsdp(uint64_t hint, uint64_t *rsdp)
{
	const uint8_t *r;

	if (hint) {
		r = phys_map(hint, RSDP_V2_LEN);
		if (!r || !acpi_rsdp_valid(r)) {
			glog("acpi: no valid RSDP at 0x%lx (from start info)", hint);
			return -EINVAL;
		}
		*rsdp = hint;
		return 0;
	}
	for (uint64_t a = RSDP_SCAN_START; a < RSDP_SCAN_END; a += 16) {
		r = phys_map(a, RSDP_V2_LEN);
		if (r && acpi_rsdp_valid(r)) {
			*rsdp = a;
			return 0;
		}
	}
	return -ENOENT;
}

void acpi_parse_gas(const uint8_t *g, struct platform_gas *out)
{
	out->space = g[0];
	out->bit_width = g[1];
	out->bit_offset = g[2];
	out->access_size = g[3];
	out->addr = lib_get64(g + 4);
}

/* Map a whole table at addr, checking signature (if sig), length, checksum. */
static int acpi_map_table(uint64_t addr, const char *sig, const uint8_t **out,
			  uint32_t *out_len)
{
	const uint8_t *t = phys_map(addr, ACPI_HDR_LEN);
	char name[5] = { 0 };
	uint32_t len;

	if (!t) {
		glog("acpi: %s table address 0x%lx is not addressable", sig, addr);
		return -EINVAL;
	}
	lib_strlcpy_n(name, sizeof(name), (const char *)t, 4);
	if (!lib_memeq(t, sig, 4)) {
		glog("acpi: expected %s at 0x%lx, found '%s'", sig, addr, name);
		return -EINVAL;
	}
	len = lib_get32(t + 4);
	t = phys_map(addr, len);
	if (len < ACPI_HDR_LEN || len > ACPI_TABLE_MAX || !t) {
		glog("acpi: %s at 0x%lx has bad length %u", sig, addr, len);
		return -EINVAL;
	}
	if (lib_sum8(t, len) != 0) {
		glog("acpi: %s at 0x%lx has a bad checksum", sig, addr);
		return -EINVAL;
	}
	*out = t;
	*out_len = len;
	return 0;
}

int acpi_parse_fadt(const uint8_t *t, uint32_t len, struct platform_acpi *a)
{
	if (len < FADT_MIN_LEN) {
		glog("acpi: FADT too short (%u bytes)", len);
		return -EINVAL;
	}
	a->have_fadt = true;
	a->fadt_rev = t[8];
	a->fadt_len = len;
	a->dsdt = lib_get32(t + 40);
	a->sci_int = lib_get16(t + 46);
	a->smi_cmd = lib_get32(t + 48);
	a->acpi_enable = t[52];
	a->pm1a_evt = lib_get32(t + 56);
	a->pm1b_evt = lib_get32(t + 60);
	a->pm1a_cnt = lib_get32(t + 64);
	a->pm1b_cnt = lib_get32(t + 68);
	a->pm_tmr = lib_get32(t + 76);
	a->pm1_evt_len = t[88];
	a->flags = lib_get32(t + 112);
	if (len >= 129) {
		acpi_parse_gas(t + 116, &a->reset_reg);
		a->reset_value = t[128];
		a->have_reset = a->reset_reg.addr != 0;
	}
	if (len >= 148 && lib_get64(t + 140))
		a->dsdt = lib_get64(t + 140);
	a->sleep_ctl.space = 0xff;
	if (a->fadt_rev >= 5 && len >= 256)
		acpi_parse_gas(t + 244, &a->sleep_ctl);
	return 0;
}

/* One MADT entry e[0..elen), elen >= 2 and inside the table. */
static int acpi_madt_entry(struct platform *p, const uint8_t *e, uint32_t elen)
{
	static const uint8_t min_len[] = { 8, 12, 10, 0, 0, 12, 0, 0, 0, 16 };

	if (e[0] < sizeof(min_len) && elen < min_len[e[0]]) {
		glog("acpi: MADT entry type %u too short (%u bytes)", e[0], elen);
		return -EINVAL;
	}
	switch (e[0]) {
	case 0: /* Processor Local APIC */
		if (lib_get32(e + 4) & 1)
			platform_add_cpu(p, e[3]);
		return 0;
	case 1: /* I/O APIC */
		return platform_add_ioapic(p, e[2], lib_get32(e + 4), lib_get32(e + 8));
	case 2: /* Interrupt Source Override (bus 0 = ISA) */
		return platform_add_override(p, e[3], lib_get32(e + 4), lib_get16(e + 8));
	case 5: /* Local APIC Address Override */
		p->lapic_addr = lib_get64(e + 4);
		return 0;
	case 9: /* Processor Local x2APIC */
		if (lib_get32(e + 8) & 1)
			platform_add_cpu(p, lib_get32(e + 4));
		return 0;
	default:
		return 0;
	}
}

int acpi_parse_madt(const uint8_t *t, uint32_t len, struct platform *p)
{
	uint32_t off = MADT_HDR_LEN;
	int ret;

	if (len < MADT_HDR_LEN) {
		glog("acpi: MADT too short (%u bytes)", len);
		return -EINVAL;
	}
	p->lapic_addr = lib_get32(t + 36);
	while (off + 2 <= len) {
		uint32_t elen = t[off + 1];

		if (elen < 2 || elen > len - off) {
			glog("acpi: MADT entry at offset %u has bad length %u", off, elen);
			return -EINVAL;
		}
		ret = acpi_madt_entry(p, t + off, elen);
		if (ret)
			return ret;
		off += elen;
	}
	p->cpu_source = "ACPI MADT";
	return 0;
}

/* One MCFG allocation: use it if it is segment 0 and covers bus 0. */
static void acpi_mcfg_entry(struct platform *p, const uint8_t *e)
{
	uint64_t base = lib_get64(e);
	uint16_t seg = lib_get16(e + 8);
	uint8_t start = e[10], end = e[11];

	if (seg != 0 || start != 0 || p->ecam_base)
		return;
	if (end < start || !base || (base & 0xfffff) || base >= ECAM_LIMIT ||
	    ECAM_LIMIT - base < ECAM_BUS_SIZE) {
		glog("acpi: MCFG ECAM 0x%lx buses %u-%u unusable (need bus 0 below 4 GiB)",
		     base, start, end);
		return;
	}
	p->ecam_base = base;
	p->ecam_bus_start = start;
	p->ecam_bus_end = end;
}

int acpi_parse_mcfg(const uint8_t *t, uint32_t len, struct platform *p)
{
	if (len < MCFG_HDR_LEN || (len - MCFG_HDR_LEN) % MCFG_ENTRY_LEN) {
		glog("acpi: MCFG has bad length %u", len);
		return -EINVAL;
	}
	for (uint32_t off = MCFG_HDR_LEN; off < len; off += MCFG_ENTRY_LEN)
		acpi_mcfg_entry(p, t + off);
	return 0;
}

/* An AML integer small enough to be a SLP_TYP (0-7). */
static int acpi_aml_slp_typ(const uint8_t *b, uint32_t n, uint8_t *out)
{
	uint32_t v;

	if (n < 1)
		return -ENOENT;
	switch (b[0]) {
	case 0x00: /* ZeroOp */
	case 0x01: /* OneOp */
		v = b[0];
		break;
	case 0x0a: /* BytePrefix */
		if (n < 2)
			return -ENOENT;
		v = b[1];
		break;
	case 0x0b: /* WordPrefix */
		if (n < 3)
			return -ENOENT;
		v = lib_get16(b + 1);
		break;
	default: /* a raw byte */
		v = b[0];
		break;
	}
	if (v > 7)
		return -ENOENT;
	*out = (uint8_t)v;
	return 0;
}

/* b points just after "_S5_": PackageOp PkgLength NumElements Element0. */
static int acpi_s5_package(const uint8_t *b, uint32_t n, uint8_t *slp_typ)
{
	uint32_t off;

	if (n < 2 || b[0] != 0x12)
		return -ENOENT;
	off = 1 + 1 + (b[1] >> 6);      /* PackageOp, PkgLength (1-4 bytes) */
	if (off >= n || b[off] == 0)    /* NumElements */
		return -ENOENT;
	off++;
	return acpi_aml_slp_typ(b + off, n - off, slp_typ);
}

int acpi_find_s5(const uint8_t *aml, uint32_t len, uint8_t *slp_typ)
{
	for (uint32_t i = 0; i + 4 <= len; i++) {
		if (lib_memeq(aml + i, "_S5_", 4) &&
		    acpi_s5_package(aml + i + 4, len - i - 4, slp_typ) == 0)
			return 0;
	}
	return -ENOENT;
}

/* Extended Interrupt descriptor (0x89) in w[0..n): first IRQ and flags. */
static int acpi_ged_irq(const uint8_t *w, uint32_t n, struct platform_acpi *a)
{
	for (uint32_t j = 0; j + 9 <= n; j++) {
		uint32_t dlen = lib_get16(w + j + 1), count = w[j + 4];
		uint8_t f = w[j + 3];

		if (w[j] != 0x89 || count == 0 || dlen < 2 + 4 * count)
			continue;
		a->ged_irq = lib_get32(w + j + 5);
		a->ged_irq_flags = (f & 2 ? PLATFORM_TRIG_EDGE : PLATFORM_TRIG_LEVEL) |
				   (f & 4 ? PLATFORM_POL_LOW : PLATFORM_POL_HIGH);
		return 0;
	}
	return -ENOENT;
}

/* OperationRegion (0x5B 0x80 NameSeg SystemMemory Offset ...) address. */
static int acpi_ged_region(const uint8_t *w, uint32_t n, uint64_t *addr)
{
	for (uint32_t j = 0; j + 12 <= n; j++) {
		const uint8_t *r = w + j;

		if (r[0] != 0x5b || r[1] != 0x80 || r[6] != 0x00)
			continue;
		if (r[7] == 0x0c)
			*addr = lib_get32(r + 8);
		else if (r[7] == 0x0e && j + 16 <= n)
			*addr = lib_get64(r + 8);
		else
			continue;
		return *addr ? 0 : -ENOENT;
	}
	return -ENOENT;
}

int acpi_find_ged(const uint8_t *aml, uint32_t len, struct platform_acpi *a)
{
	static const uint8_t hid[] = { 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0 };
	uint64_t addr;

	for (uint32_t i = 0; i + sizeof(hid) <= len; i++) {
		const uint8_t *w = aml + i;
		uint32_t n = len - i < GED_SCAN_WINDOW ? len - i : GED_SCAN_WINDOW;

		if (!lib_memeq(w, hid, sizeof(hid)))
			continue;
		if (acpi_ged_irq(w, n, a) == 0 && acpi_ged_region(w, n, &addr) == 0) {
			a->ged_evt_addr = addr;
			return 0;
		}
	}
	return -ENOENT;
}

/* Look at one table listed in the root table. */
static int acpi_visit(struct platform *p, uint64_t addr)
{
	const uint8_t *t = phys_map(addr, ACPI_HDR_LEN);
	uint32_t len;
	int ret;

	if (!t) {
		glog("acpi: root table lists unaddressable table 0x%lx", addr);
		return -EINVAL;
	}
	if (lib_memeq(t, "FACP", 4)) {
		ret = acpi_map_table(addr, "FACP", &t, &len);
		return ret ? ret : acpi_parse_fadt(t, len, &p->acpi);
	}
	if (lib_memeq(t, "APIC", 4)) {
		ret = acpi_map_table(addr, "APIC", &t, &len);
		return ret ? ret : acpi_parse_madt(t, len, p);
	}
	if (lib_memeq(t, "MCFG", 4)) {
		ret = acpi_map_table(addr, "MCFG", &t, &len);
		return ret ? ret : acpi_parse_mcfg(t, len, p);
	}
	return 0;
}

static int acpi_walk_root(struct platform *p, uint64_t rsdp)
{
	const uint8_t *r = phys_map(rsdp, RSDP_V2_LEN), *t;
	bool x = r && r[15] >= 2 && lib_get64(r + 24) != 0;
	uint32_t len, esz = x ? 8 : 4;
	int ret;

	if (!r)
		return -EINVAL;
	ret = acpi_map_table(x ? lib_get64(r + 24) : lib_get32(r + 16),
			     x ? "XSDT" : "RSDT", &t, &len);
	for (uint32_t off = ACPI_HDR_LEN; !ret && off + esz <= len; off += esz)
		ret = acpi_visit(p, esz == 8 ? lib_get64(t + off) : lib_get32(t + off));
	return ret;
}

static void acpi_read_dsdt(struct platform_acpi *a)
{
	const uint8_t *t;
	uint32_t len;

	if (!a->have_fadt || !a->dsdt || acpi_map_table(a->dsdt, "DSDT", &t, &len))
		return;
	a->dsdt_len = len;
	a->have_s5 = acpi_find_s5(t + ACPI_HDR_LEN, len - ACPI_HDR_LEN, &a->s5_slp_typ) == 0;
	if (a->flags & FADT_FLAG_HW_REDUCED_ACPI)
		acpi_find_ged(t + ACPI_HDR_LEN, len - ACPI_HDR_LEN, a);
}

int acpi_discover(struct platform *p, uint64_t rsdp)
{
	int ret;

	p->rsdp = rsdp;
	p->acpi.sleep_ctl.space = 0xff;
	ret = acpi_walk_root(p, rsdp);
	if (ret)
		return ret;
	if (!p->acpi.have_fadt)
		glog("acpi: no FADT: no ACPI power-off, reset or events");
	acpi_read_dsdt(&p->acpi);
	p->have_acpi = true;
	return 0;
}
