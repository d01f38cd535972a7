/* mptable: finds and parses the MP floating pointer and configuration
 * table: processor entries (enabled ones become CPUs), IOAPIC entries, and
 * I/O interrupt entries from ISA buses (recorded as interrupt overrides
 * when they differ from the identity mapping). All input is checked. */
#include "glog.h"
#include "lib.h"
#include "mptable.h"
#include "phys.h"

#define MP_FP_LEN       16
#define MP_BDA_EBDA_SEG 0x40e
#define MP_MAX_BUSES    256
#define MP_PINS_PER_IOAPIC 24

enum mptable_entry {
	MPTABLE_PROC = 0,
	MPTABLE_BUS = 1,
	MPTABLE_IOAPIC = 2,
	MPTABLE_IOINT = 3,
	MPTABLE_LINT = 4,
};

struct mptable_ctx {
	struct platform *p;
	uint8_t bus_is_isa[MP_MAX_BUSES];
};

static bool mptable_fp_valid(const uint8_t *f)
{
	return lib_memeq(f, "_MP_", 4) && f[8] == 1 && lib_sum8(f, MP_FP_LEN) == 0;
}

static uint64_t mptable_scan(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + MP_FP_LEN <= start + len; a += 16) {
		const uint8_t *f = phys_map(a, MP_FP_LEN);

		if (f && mptable_fp_valid(f))
			return a;
	}
	return 0;
}

static uint64_t mptable_find(void)
{
	const uint8_t *bda = phys_map(MP_BDA_EBDA_SEG, 2);
	uint64_t ebda = bda ? (uint64_t)lib_get16(bda) << 4 : 0, fp = 0;

	if (ebda >= 0x80000 && ebda < 0xa0000)
		fp = mptable_scan(ebda, 1024);
	if (!fp)
		fp = mptable_scan(0x9fc00, 1024);
	if (!fp)
		fp = mptable_scan(0xf0000, 0x10000);
	return fp;
}

/* Entry sizes by type; 0 = unknown type (the table is then unusable). */
static uint32_t mptable_entry_len(uint8_t type)
{
	switch (type) {
	case MPTABLE_PROC:
		return 20;
	case MPTABLE_BUS:
	case MPTABLE_IOAPIC:
	case MPTABLE_IOINT:
	case MPTABLE_LINT:
		return 8;
	default:
		return 0;
	}
}

static uint32_t mptable_gsi_base(const struct platform *p, uint8_t ioapic_id)
{
	for (uint32_t i = 0; i < p->nioapics; i++)
		if (p->ioapic[i].id == ioapic_id)
			return p->ioapic[i].gsi_base;
	return 0;
}

static int mptable_entry(struct mptable_ctx *c, const uint8_t *e)
{
	struct platform *p = c->p;
	uint32_t gsi;

	switch ((enum mptable_entry)e[0]) {
	case MPTABLE_PROC:
		if (e[3] & 1)
			platform_add_cpu(p, e[1]);
		return 0;
	case MPTABLE_BUS:
		c->bus_is_isa[e[1]] = lib_memeq(e + 2, "ISA", 3);
		return 0;
	case MPTABLE_IOAPIC:
		if (!(e[3] & 1))
			return 0;
		return platform_add_ioapic(p, e[1], lib_get32(e + 4),
					   p->nioapics * MP_PINS_PER_IOAPIC);
	case MPTABLE_IOINT:
		/* INT type, from an ISA bus, not identity-mapped: an override. */
		gsi = mptable_gsi_base(p, e[6]) + e[7];
		if (e[1] != 0 || !c->bus_is_isa[e[4]] || e[5] > 15 ||
		    (gsi == e[5] && lib_get16(e + 2) == 0))
			return 0;
		return platform_add_override(p, e[5], gsi, lib_get16(e + 2));
	case MPTABLE_LINT:
		return 0;
	}
	return 0;
}

int mptable_parse(const uint8_t *t, uint32_t len, struct platform *p)
{
	struct mptable_ctx c = { .p = p };
	uint32_t off = MPTABLE_HDR_LEN;

	if (len < MPTABLE_HDR_LEN || !lib_memeq(t, "PCMP", 4) ||
	    lib_get16(t + 4) != len || lib_sum8(t, len) != 0) {
		glog("mptable: configuration table header/length/checksum bad");
		return -EINVAL;
	}
	p->lapic_addr = lib_get32(t + 36);
	/* Walk by the base table length: some firmware leaves the entry
	 * count at 0. */
	while (off < len) {
		uint32_t elen = mptable_entry_len(t[off]);
		int ret;

		if (elen == 0 || elen > len - off) {
			glog("mptable: entry type %u at offset %u is truncated or unknown",
			     t[off], off);
			return -EINVAL;
		}
		ret = mptable_entry(&c, t + off);
		if (ret)
			return ret;
		off += elen;
	}
	p->cpu_source = "MP table";
	return 0;
}

int mptable_discover(struct platform *p)
{
	uint64_t fp = mptable_find();
	const uint8_t *f = fp ? phys_map(fp, MP_FP_LEN) : (const uint8_t *)0;
	const uint8_t *hdr, *t;
	uint32_t cfg, len;

	if (!f)
		return -ENOENT;
	cfg = lib_get32(f + 4);
	if (cfg == 0) {
		glog("mptable: default configurations (no table) are not supported");
		return -EINVAL;
	}
	hdr = phys_map(cfg, MPTABLE_HDR_LEN);
	len = hdr ? lib_get16(hdr + 4) : 0;
	t = phys_map(cfg, len);
	if (!t) {
		glog("mptable: configuration table at 0x%x is not addressable", cfg);
		return -EINVAL;
	}
	return mptable_parse(t, len, p);
}
