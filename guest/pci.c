/* pci: bus-0 configuration access (ECAM or mechanism 1), scan, capability
 * walk, BAR decoding and sizing, MSI-X programming (see pci.h). Config
 * space contents are treated as untrusted: capability pointers are
 * bounded and loop-checked, BARs must be assigned and reachable. */
#include "glog.h"
#include "io.h"
#include "lib.h"
#include "pci.h"

#define PCI_CF8_ADDR       0xcf8
#define PCI_CF8_DATA       0xcfc
#define PCI_CF8_ENABLE     0x80000000u
#define PCI_HDR_MULTIFN    0x80
#define PCI_HDR_TYPE_MASK  0x7f
#define PCI_CLASS_PROG     0x09
#define PCI_BAR_IO         0x1
#define PCI_BAR_TYPE_MASK  0x6
#define PCI_BAR_TYPE_64    0x4
#define PCI_BAR_MEM_MASK   (~0xfULL)
#define PCI_CAPS_START     0x40
#define PCI_MAX_DEVS       32
#define PCI_MAX_FN         8
#define PCI_REACHABLE      0x100000000ULL  /* the guest maps 0-4 GiB */

#define MSIX_CTRL          2
#define MSIX_TABLE         4
#define MSIX_PBA           8
#define MSIX_CTRL_SIZE     0x07ff
#define MSIX_CTRL_MASKALL  0x4000
#define MSIX_CTRL_ENABLE   0x8000
#define MSIX_BIR_MASK      0x7
#define MSIX_ENTRY_SIZE    16
#define MSIX_VCTRL_MASKED  0x1
#define MSI_ADDR_BASE      0xfee00000u

void pci_bus_init(struct pci_bus *b, const struct platform *p)
{
	b->ecam = p->ecam_base && p->ecam_bus_start == 0 ? p->ecam_base : 0;
}

const char *pci_bus_method(const struct pci_bus *b)
{
	return b->ecam ? "ECAM (MCFG)" : "mechanism 1 (0xCF8)";
}

static uint64_t pci_ecam_addr(const struct pci_fn *f, uint16_t off)
{
	return f->bus->ecam + ((uint64_t)f->dev << 15 | (uint64_t)f->fn << 12 | off);
}

static void pci_cf8_select(const struct pci_fn *f, uint16_t off)
{
	io_outl(PCI_CF8_ADDR, PCI_CF8_ENABLE | (uint32_t)f->dev << 11 |
		(uint32_t)f->fn << 8 | (off & 0xfc));
}

uint8_t pci_read8(const struct pci_fn *f, uint16_t off)
{
	if (f->bus->ecam)
		return io_mmio_read8(pci_ecam_addr(f, off));
	pci_cf8_select(f, off);
	return io_inb((uint16_t)(PCI_CF8_DATA + (off & 3)));
}

uint16_t pci_read16(const struct pci_fn *f, uint16_t off)
{
	if (f->bus->ecam)
		return io_mmio_read16(pci_ecam_addr(f, off));
	pci_cf8_select(f, off);
	return io_inw((uint16_t)(PCI_CF8_DATA + (off & 2)));
}

uint32_t pci_read32(const struct pci_fn *f, uint16_t off)
{
	if (f->bus->ecam)
		return io_mmio_read32(pci_ecam_addr(f, off));
	pci_cf8_select(f, off);
	return io_inl(PCI_CF8_DATA);
}

void pci_write8(const struct pci_fn *f, uint16_t off, uint8_t v)
{
	if (f->bus->ecam) {
		io_mmio_write8(pci_ecam_addr(f, off), v);
		return;
	}
	pci_cf8_select(f, off);
	io_outb((uint16_t)(PCI_CF8_DATA + (off & 3)), v);
}

void pci_write16(const struct pci_fn *f, uint16_t off, uint16_t v)
{
	if (f->bus->ecam) {
		io_mmio_write16(pci_ecam_addr(f, off), v);
		return;
	}
	pci_cf8_select(f, off);
	io_outw((uint16_t)(PCI_CF8_DATA + (off & 2)), v);
}

void pci_write32(const struct pci_fn *f, uint16_t off, uint32_t v)
{
	if (f->bus->ecam) {
		io_mmio_write32(pci_ecam_addr(f, off), v);
		return;
	}
	pci_cf8_select(f, off);
	io_outl(PCI_CF8_DATA, v);
}

/* Fill the identity fields of f; false if nothing answers there. */
static bool pci_probe(struct pci_fn *f)
{
	uint32_t class_rev;

	f->vendor = pci_read16(f, PCI_VENDOR_ID);
	if (f->vendor == 0xffff || f->vendor == 0)
		return false;
	f->device = pci_read16(f, PCI_DEVICE_ID);
	class_rev = pci_read32(f, PCI_REVISION);
	f->revision = (uint8_t)class_rev;
	f->prog_if = (uint8_t)(class_rev >> 8);
	f->subclass = (uint8_t)(class_rev >> 16);
	f->class_code = (uint8_t)(class_rev >> 24);
	f->header_type = pci_read8(f, PCI_HEADER_TYPE);
	if ((f->header_type & PCI_HDR_TYPE_MASK) == 0) {
		f->subsys_vendor = pci_read16(f, PCI_SUBSYS_VENDOR);
		f->subsys_id = pci_read16(f, PCI_SUBSYS_ID);
	}
	return true;
}

unsigned pci_scan(const struct pci_bus *b, struct pci_fn *out, unsigned max)
{
	unsigned n = 0;

	for (uint8_t dev = 0; dev < PCI_MAX_DEVS; dev++) {
		for (uint8_t fn = 0; fn < PCI_MAX_FN && n < max; fn++) {
			struct pci_fn f = { .bus = b, .dev = dev, .fn = fn };

			if (!pci_probe(&f)) {
				if (fn == 0)
					break;
				continue;
			}
			out[n++] = f;
			if (fn == 0 && !(f.header_type & PCI_HDR_MULTIFN))
				break;
		}
	}
	return n;
}

void pci_snapshot(const struct pci_fn *f, uint8_t *cfg)
{
	for (uint16_t off = 0; off < PCI_CFG_SIZE; off += 4) {
		uint32_t v = pci_read32(f, off);

		cfg[off] = (uint8_t)v;
		cfg[off + 1] = (uint8_t)(v >> 8);
		cfg[off + 2] = (uint8_t)(v >> 16);
		cfg[off + 3] = (uint8_t)(v >> 24);
	}
}

void pci_enable(const struct pci_fn *f)
{
	uint16_t cmd = pci_read16(f, PCI_COMMAND);

	pci_write16(f, PCI_COMMAND, cmd | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
}

int pci_caps_list(const uint8_t *cfg, uint8_t *pos, unsigned max)
{
	uint8_t seen[PCI_CFG_SIZE / 32] = { 0 };
	uint8_t p = cfg[PCI_CAP_PTR] & 0xfc;
	unsigned n = 0;

	if (!(lib_get16(cfg + PCI_STATUS) & PCI_STATUS_CAPS))
		return 0;
	while (p) {
		if (p < PCI_CAPS_START || (seen[p / 32] >> (p / 4 % 8)) & 1 ||
		    n >= PCI_CAPS_MAX)
			return -EINVAL;
		seen[p / 32] |= (uint8_t)(1u << (p / 4 % 8));
		if (n < max)
			pos[n] = p;
		n++;
		p = cfg[p + 1] & 0xfc;
	}
	return (int)(n < max ? n : max);
}

uint8_t pci_cap_find(const uint8_t *cfg, uint8_t id, uint8_t after)
{
	uint8_t pos[PCI_CAPS_MAX];
	int n = pci_caps_list(cfg, pos, PCI_CAPS_MAX);
	bool past = after == 0;

	for (int i = 0; i < n; i++) {
		if (past && cfg[pos[i]] == id)
			return pos[i];
		if (pos[i] == after)
			past = true;
	}
	return 0;
}

int pci_bar_decode(const uint8_t *cfg, unsigned bar, uint64_t *addr, bool *is64)
{
	uint32_t lo;

	if (bar >= PCI_NUM_BARS)
		return -EINVAL;
	lo = lib_get32(cfg + PCI_BAR0 + 4 * bar);
	if (lo & PCI_BAR_IO)
		return -ENODEV;
	*is64 = (lo & PCI_BAR_TYPE_MASK) == PCI_BAR_TYPE_64;
	*addr = lo & PCI_BAR_MEM_MASK;
	if (*is64) {
		if (bar + 1 >= PCI_NUM_BARS)
			return -EINVAL;
		*addr |= (uint64_t)lib_get32(cfg + PCI_BAR0 + 4 * (bar + 1)) << 32;
	}
	return *addr ? 0 : -ENOENT;
}

uint64_t pci_bar_size(const struct pci_fn *f, unsigned bar)
{
	uint16_t off = (uint16_t)(PCI_BAR0 + 4 * bar), cmd;
	uint32_t lo, hi, mlo, mhi = 0xffffffffu;
	bool is64;
	uint64_t mask;

	if (bar >= PCI_NUM_BARS)
		return 0;
	cmd = pci_read16(f, PCI_COMMAND);
	lo = pci_read32(f, off);
	is64 = !(lo & PCI_BAR_IO) && (lo & PCI_BAR_TYPE_MASK) == PCI_BAR_TYPE_64;
	if ((lo & PCI_BAR_IO) || (is64 && bar + 1 >= PCI_NUM_BARS))
		return 0;
	pci_write16(f, PCI_COMMAND, cmd & (uint16_t)~PCI_CMD_MEM);
	pci_write32(f, off, 0xffffffffu);
	mlo = pci_read32(f, off);
	pci_write32(f, off, lo);
	if (is64) {
		hi = pci_read32(f, (uint16_t)(off + 4));
		pci_write32(f, (uint16_t)(off + 4), 0xffffffffu);
		mhi = pci_read32(f, (uint16_t)(off + 4));
		pci_write32(f, (uint16_t)(off + 4), hi);
	}
	pci_write16(f, PCI_COMMAND, cmd);
	mask = ((uint64_t)mhi << 32 | mlo) & PCI_BAR_MEM_MASK;
	return mask ? ~mask + 1 : 0;
}

int pci_bar_addr(const struct pci_fn *f, const uint8_t *cfg, unsigned bar,
		 uint64_t *addr)
{
	bool is64;
	int ret = pci_bar_decode(cfg, bar, addr, &is64);
	uint64_t size;

	if (ret) {
		glog("pci: %02x.%u BAR%u %s", f->dev, f->fn, bar,
		     ret == -ENOENT ? "is not assigned (address 0)" :
		     ret == -ENODEV ? "is an I/O BAR" : "is malformed");
		return ret;
	}
	size = pci_bar_size(f, bar);
	if (!size || *addr >= PCI_REACHABLE || size > PCI_REACHABLE - *addr) {
		glog("pci: %02x.%u BAR%u at 0x%lx size 0x%lx is not below 4 GiB", f->dev,
		     f->fn, bar, *addr, size);
		return -ERANGE;
	}
	return 0;
}

static int pci_msix_region(const struct pci_fn *f, const uint8_t *cfg, uint32_t reg,
			   uint64_t *addr)
{
	uint64_t base;
	int ret = pci_bar_addr(f, cfg, reg & MSIX_BIR_MASK, &base);

	*addr = base + (reg & ~(uint32_t)MSIX_BIR_MASK);
	return ret;
}

int pci_msix_init(const struct pci_fn *f, const uint8_t *cfg, struct pci_msix *m)
{
	uint8_t cap = pci_cap_find(cfg, PCI_CAP_ID_MSIX, 0);
	int ret;

	if (!cap || cap > PCI_CFG_SIZE - 12)
		return -ENOENT;
	m->cap = cap;
	m->nvec = (uint16_t)((lib_get16(cfg + cap + MSIX_CTRL) & MSIX_CTRL_SIZE) + 1);
	ret = pci_msix_region(f, cfg, lib_get32(cfg + cap + MSIX_TABLE), &m->table);
	if (!ret)
		ret = pci_msix_region(f, cfg, lib_get32(cfg + cap + MSIX_PBA), &m->pba);
	return ret;
}

void pci_msix_enable(const struct pci_fn *f, const struct pci_msix *m, bool on)
{
	uint16_t ctrl = pci_read16(f, (uint16_t)(m->cap + MSIX_CTRL));

	ctrl &= (uint16_t)~(MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	pci_write16(f, (uint16_t)(m->cap + MSIX_CTRL), on ? ctrl | MSIX_CTRL_ENABLE : ctrl);
}

void pci_msix_route(const struct pci_msix *m, uint16_t entry, uint8_t apic_id,
		    uint8_t vector)
{
	uint64_t e = m->table + (uint64_t)entry * MSIX_ENTRY_SIZE;

	io_mmio_write32(e + 12, MSIX_VCTRL_MASKED);
	io_mmio_write32(e, MSI_ADDR_BASE | (uint32_t)apic_id << 12);
	io_mmio_write32(e + 4, 0);
	io_mmio_write32(e + 8, vector);
	io_mmio_write32(e + 12, 0);
}

void pci_msix_mask(const struct pci_msix *m, uint16_t entry, bool masked)
{
	io_mmio_write32(m->table + (uint64_t)entry * MSIX_ENTRY_SIZE + 12,
			masked ? MSIX_VCTRL_MASKED : 0);
}

bool pci_msix_pending(const struct pci_msix *m, uint16_t entry)
{
	uint64_t word = io_mmio_read64(m->pba + (uint64_t)(entry / 64) * 8);

	return (word >> (entry % 64)) & 1;
}
