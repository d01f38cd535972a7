/* pci: the PCI root bus. Owns the functions' configuration-space images
 * (current, writable mask, write-1-to-clear, power-on), the capability list
 * builder, BAR assignment from the bus's MMIO window and BAR decode (command
 * register memory enable + a valid address inside the window), the two
 * configuration mechanisms (0xCF8/0xCFC and ECAM, bus 0 only), dispatch of
 * the BAR window to device handlers and hooks, and platform reset. Register
 * layouts are from the PCI Local Bus specification 3.0, chapter 6. */
#include "pci/pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "iobus.h"
#include "memmap.h"

#define PCI_PORT_ADDR        0xCF8
#define PCI_PORT_DATA        0xCFC
#define PCI_CF8_ENABLE       0x80000000u
#define PCI_CF8_MASK         0x80FFFFFCu  /* enable, bus, device, function, register */
#define PCI_BAR_REGS_LEN     (4 * PCI_NUM_BARS)
#define PCI_BAR_FLAG_MEM64   0x4u
#define PCI_BAR_FLAG_PREFETCH 0x8u
#define PCI_BAR_ADDR_MASK    0xFFFFFFF0u
#define PCI_BAR_MIN_SIZE     16ULL
#define PCI_BAR_ALIGN        0x1000ULL    /* every BAR gets pages of its own */
#define PCI_MEM32_MAX_SIZE   0x80000000ULL
/* Memory space, bus master, parity error response, SERR#, INTx disable. */
#define PCI_CMD_WMASK        0x0546u
/* Status: detected/signalled parity, master/target abort, SERR#. */
#define PCI_STATUS_W1C       0xF900u

struct pci_bar {
	struct pci_bar_info info;
	uint64_t assigned;           /* the VMM's assignment, restored at reset */
	uint64_t mapped;             /* what it decodes now, or PCI_BAR_UNMAPPED */
};

struct pci_cfg_hook {
	unsigned off, len;
	const struct pci_cfg_hook_ops *ops;
	void *opaque;
	pthread_mutex_t *lock;
};

struct pci_bar_hook {
	unsigned bar;
	uint64_t off, len;
	const struct vdev_ops *ops;
	void *opaque;
	pthread_mutex_t *lock;
};

struct pci_func {
	struct pci_bus *bus;
	unsigned slot;
	const char *name;
	const struct pci_func_ops *ops;
	void *dev;
	pthread_mutex_t *lock;
	uint8_t cfg[PCI_CFG_SPACE_SIZE];    /* current values */
	uint8_t wmask[PCI_CFG_SPACE_SIZE];  /* bits the guest may write */
	uint8_t w1c[PCI_CFG_SPACE_SIZE];    /* bits a guest 1 clears */
	uint8_t boot[PCI_CFG_SPACE_SIZE];   /* power-on values */
	struct pci_bar bars[PCI_NUM_BARS];
	unsigned cap_last;                  /* offset of the last capability, 0: none */
	unsigned cap_free;                  /* first free byte for the next one */
	struct pci_cfg_hook cfg_hooks[PCI_MAX_CFG_HOOKS];
	unsigned ncfg_hooks;
	struct pci_bar_hook bar_hooks[PCI_MAX_BAR_HOOKS];
	unsigned nbar_hooks;
};

struct pci_bus {
	pthread_rwlock_t lock;       /* see pci.h */
	uint32_t cf8;                /* CONFIG_ADDRESS latch (atomic) */
	uint64_t ecam_base;
	uint64_t win_base;
	uint64_t win_next;           /* BAR assignment cursor */
	struct pci_func *slots[PCI_SLOTS];
};

/* ---- small helpers ---- */

static uint32_t pci_get_le(const uint8_t *p, unsigned size)
{
	uint32_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static void pci_put_le(uint8_t *p, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static bool pci_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

static bool pci_is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static void pci_lock(pthread_mutex_t *l)
{
	if (l)
		pthread_mutex_lock(l);
}

static void pci_unlock(pthread_mutex_t *l)
{
	if (l)
		pthread_mutex_unlock(l);
}

/* Write a power-on value: both the current and the power-on image. */
static void pci_setup(struct pci_func *fn, unsigned off, unsigned size, uint32_t val)
{
	pci_put_le(fn->cfg + off, size, val);
	pci_put_le(fn->boot + off, size, val);
}

static void pci_setup_mask(struct pci_func *fn, unsigned off, unsigned size,
			   uint32_t wmask, uint32_t w1c)
{
	pci_put_le(fn->wmask + off, size, wmask);
	pci_put_le(fn->w1c + off, size, w1c & ~wmask);
}

/* ---- BAR layout, assignment and decode ---- */

static int pci_bar_check(const struct pci_bar_info *bars, unsigned i)
{
	const struct pci_bar_info *b = &bars[i];

	switch (b->type) {
	case PCI_BAR_UNUSED:
		return 0;
	case PCI_BAR_MEM32:
		if (b->size > PCI_MEM32_MAX_SIZE)
			return -EINVAL;
		break;
	case PCI_BAR_MEM64:
		if (i + 1 >= PCI_NUM_BARS || bars[i + 1].type != PCI_BAR_UNUSED)
			return -EINVAL;
		break;
	}
	return pci_is_pow2(b->size) && b->size >= PCI_BAR_MIN_SIZE ? 0 : -EINVAL;
}

/* Assign every BAR of info from the window (committed only if all fit). */
static int pci_bars_assign(struct pci_bus *bus, const struct pci_func_info *info,
			   uint64_t addr[PCI_NUM_BARS])
{
	uint64_t next = bus->win_next, end = bus->win_base + PCI_BAR_WINDOW_SIZE;

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		const struct pci_bar_info *b = &info->bars[i];
		int ret = pci_bar_check(info->bars, i);

		addr[i] = 0;
		if (ret < 0) {
			log_error("pci: %s: BAR %u: bad type or size 0x%llx", info->name, i,
				  (unsigned long long)b->size);
			return ret;
		}
		if (b->type == PCI_BAR_UNUSED)
			continue;
		addr[i] = ALIGN_UP(next, MAX(b->size, PCI_BAR_ALIGN));
		if (addr[i] > end || end - addr[i] < b->size) {
			log_error("pci: %s: BAR %u (%llu bytes) does not fit the BAR window",
				  info->name, i, (unsigned long long)b->size);
			return -ENOSPC;
		}
		next = addr[i] + b->size;
	}
	bus->win_next = next;
	return 0;
}

static void pci_bar_setup(struct pci_func *fn, unsigned i, const struct pci_bar_info *b,
			  uint64_t addr)
{
	unsigned reg = PCI_CFG_BAR0 + 4 * i;
	uint32_t flags = b->prefetchable ? PCI_BAR_FLAG_PREFETCH : 0;

	fn->bars[i] = (struct pci_bar){ *b, addr, PCI_BAR_UNMAPPED };
	if (b->type == PCI_BAR_UNUSED)
		return;
	if (b->type == PCI_BAR_MEM64)
		flags |= PCI_BAR_FLAG_MEM64;
	pci_setup(fn, reg, 4, (uint32_t)addr | flags);
	pci_setup_mask(fn, reg, 4, (uint32_t)~(b->size - 1) & PCI_BAR_ADDR_MASK, 0);
	if (b->type == PCI_BAR_MEM64) {
		pci_setup(fn, reg + 4, 4, (uint32_t)(addr >> 32));
		pci_setup_mask(fn, reg + 4, 4, (uint32_t)(~(b->size - 1) >> 32), 0);
	}
}

/* Where BAR i decodes according to the current image. */
static uint64_t pci_bar_decode(const struct pci_func *fn, unsigned i)
{
	const struct pci_bar *b = &fn->bars[i];
	unsigned reg = PCI_CFG_BAR0 + 4 * i;
	uint64_t addr, base = fn->bus->win_base;

	if (b->info.type == PCI_BAR_UNUSED ||
	    !(pci_get_le(fn->cfg + PCI_CFG_COMMAND, 2) & PCI_CMD_MEMORY))
		return PCI_BAR_UNMAPPED;
	addr = pci_get_le(fn->cfg + reg, 4) & PCI_BAR_ADDR_MASK;
	if (b->info.type == PCI_BAR_MEM64)
		addr |= (uint64_t)pci_get_le(fn->cfg + reg + 4, 4) << 32;
	if (addr == 0 || addr < base || addr - base > PCI_BAR_WINDOW_SIZE - b->info.size)
		return PCI_BAR_UNMAPPED;
	return addr;
}

/* Recompute every BAR's decode; report changes to the device. Bus lock
 * held exclusively. */
static void pci_func_update_decode(struct pci_func *fn)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t old = fn->bars[i].mapped, now = pci_bar_decode(fn, i);

		if (now == old)
			continue;
		fn->bars[i].mapped = now;
		if (fn->ops && fn->ops->bar_map) {
			pci_lock(fn->lock);
			fn->ops->bar_map(fn->dev, i, old, now);
			pci_unlock(fn->lock);
		}
	}
}

/* ---- the function's header ---- */

static void pci_func_setup_header(struct pci_func *fn, const struct pci_func_info *info,
				  const uint64_t addr[PCI_NUM_BARS])
{
	pci_setup(fn, PCI_CFG_VENDOR_ID, 2, info->vendor_id);
	pci_setup(fn, PCI_CFG_DEVICE_ID, 2, info->device_id);
	pci_setup_mask(fn, PCI_CFG_COMMAND, 2, PCI_CMD_WMASK, 0);
	pci_setup_mask(fn, PCI_CFG_STATUS, 2, 0, PCI_STATUS_W1C);
	pci_setup(fn, PCI_CFG_REVISION, 1, info->revision);
	pci_setup(fn, PCI_CFG_CLASS_PROG, 1, info->class_code & 0xFF);
	pci_setup(fn, PCI_CFG_CLASS_PROG + 1, 2, (info->class_code >> 8) & 0xFFFF);
	pci_setup_mask(fn, PCI_CFG_CACHE_LINE, 1, 0xFF, 0);
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		pci_bar_setup(fn, i, &info->bars[i], addr[i]);
	pci_setup(fn, PCI_CFG_SUBSYS_VID, 2, info->subsys_vendor_id);
	pci_setup(fn, PCI_CFG_SUBSYS_ID, 2, info->subsys_id);
	pci_setup_mask(fn, PCI_CFG_INT_LINE, 1, 0xFF, 0);  /* OS scratch; no INTx pin */
}

static int pci_func_new(struct pci_bus *bus, unsigned slot, const struct pci_func_info *info,
			struct pci_func **out)
{
	uint64_t addr[PCI_NUM_BARS];
	struct pci_func *fn;
	int ret;

	if (bus->slots[slot])
		return -EEXIST;
	fn = calloc(1, sizeof(*fn));
	if (!fn)
		return -ENOMEM;
	ret = pci_bars_assign(bus, info, addr);
	if (ret < 0) {
		free(fn);
		return ret;
	}
	fn->bus = bus;
	fn->slot = slot;
	fn->name = info->name ? info->name : "pci-function";
	fn->ops = info->ops;
	fn->dev = info->dev;
	fn->lock = info->lock;
	fn->cap_free = PCI_CFG_CAP_START;
	pci_func_setup_header(fn, info, addr);
	bus->slots[slot] = fn;
	*out = fn;
	return 0;
}

/* ---- configuration space accesses (bus lock held) ---- */

static bool pci_cfg_access_ok(unsigned reg, unsigned size)
{
	return (size == 1 || size == 2 || size == 4) && (reg & (size - 1)) == 0;
}

static struct pci_func *pci_bus_func(const struct pci_bus *bus, unsigned devfn)
{
	return (devfn & 7) ? NULL : bus->slots[(devfn >> 3) & (PCI_SLOTS - 1)];
}

static void pci_func_cfg_read(struct pci_func *fn, unsigned reg, uint8_t *data, unsigned size)
{
	memcpy(data, fn->cfg + reg, size);
	for (unsigned i = 0; i < fn->ncfg_hooks; i++) {
		const struct pci_cfg_hook *h = &fn->cfg_hooks[i];

		if (!h->ops->read || !pci_overlap(reg, size, h->off, h->len))
			continue;
		pci_lock(h->lock);
		h->ops->read(h->opaque, reg, data, size);
		pci_unlock(h->lock);
	}
}

static void pci_func_cfg_write(struct pci_func *fn, unsigned reg, const uint8_t *data,
			       unsigned size)
{
	for (unsigned i = 0; i < size; i++) {
		uint8_t *c = &fn->cfg[reg + i];
		uint8_t b = data[i], wm = fn->wmask[reg + i];

		*c = (uint8_t)(((*c & ~wm) | (b & wm)) & ~(b & fn->w1c[reg + i]));
	}
	if (pci_overlap(reg, size, PCI_CFG_COMMAND, 2) ||
	    pci_overlap(reg, size, PCI_CFG_BAR0, PCI_BAR_REGS_LEN))
		pci_func_update_decode(fn);
	for (unsigned i = 0; i < fn->ncfg_hooks; i++) {
		const struct pci_cfg_hook *h = &fn->cfg_hooks[i];

		if (!h->ops->write || !pci_overlap(reg, size, h->off, h->len))
			continue;
		pci_lock(h->lock);
		h->ops->write(h->opaque, reg, data, size);
		pci_unlock(h->lock);
	}
}

/* One configuration access to bus 0 (reg 0..4095). Absent functions and
 * malformed accesses read all ones; the extended space of a present
 * function reads 0 (no extended capabilities). */
static void pci_cfg_access(struct pci_bus *bus, unsigned devfn, unsigned reg, bool is_write,
			   uint8_t *data, unsigned size)
{
	struct pci_func *fn;
	bool ok = pci_cfg_access_ok(reg, size) && reg < 4096;

	if (is_write) {
		pthread_rwlock_wrlock(&bus->lock);
		fn = pci_bus_func(bus, devfn);
		if (fn && ok && reg < PCI_CFG_SPACE_SIZE)
			pci_func_cfg_write(fn, reg, data, size);
		pthread_rwlock_unlock(&bus->lock);
		return;
	}
	pthread_rwlock_rdlock(&bus->lock);
	fn = pci_bus_func(bus, devfn);
	memset(data, fn && ok && reg >= PCI_CFG_SPACE_SIZE ? 0 : 0xFF, size);
	if (fn && ok && reg < PCI_CFG_SPACE_SIZE)
		pci_func_cfg_read(fn, reg, data, size);
	pthread_rwlock_unlock(&bus->lock);
}

/* ---- configuration mechanism 1: 0xCF8 (dword only) and 0xCFC-0xCFF ---- */

static void pci_cf8_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	struct pci_bus *bus = opaque;

	if (size == 4)
		pci_put_le(data, 4, __atomic_load_n(&bus->cf8, __ATOMIC_ACQUIRE));
	else
		memset(data, 0xFF, size);
}

static void pci_cf8_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	struct pci_bus *bus = opaque;

	if (size == 4)
		__atomic_store_n(&bus->cf8, pci_get_le(data, 4) & PCI_CF8_MASK, __ATOMIC_RELEASE);
}

static void pci_cfc_access(struct pci_bus *bus, uint64_t off, bool is_write, void *data,
			   unsigned size)
{
	uint32_t a = __atomic_load_n(&bus->cf8, __ATOMIC_ACQUIRE);

	if (!(a & PCI_CF8_ENABLE) || ((a >> 16) & 0xFF) != 0 || off + size > 4) {
		if (!is_write)
			memset(data, 0xFF, size);
		return;
	}
	pci_cfg_access(bus, (a >> 8) & 0xFF, (a & 0xFC) + (unsigned)off, is_write, data, size);
}

static void pci_cfc_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	pci_cfc_access(opaque, off, false, data, size);
}

static void pci_cfc_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	pci_cfc_access(opaque, off, true, (void *)data, size);
}

static const struct vdev_ops pci_cf8_ops = {
	.name = "pci-cf8", .read = pci_cf8_read, .write = pci_cf8_write,
};

static const struct vdev_ops pci_cfc_ops = {
	.name = "pci-cfc", .read = pci_cfc_read, .write = pci_cfc_write,
};

/* ---- ECAM: bus 0, offset = devfn << 12 | register ---- */

static void pci_ecam_access(struct pci_bus *bus, uint64_t off, bool is_write, uint8_t *data,
			    unsigned size)
{
	unsigned devfn = (unsigned)(off >> 12) & 0xFF, reg = (unsigned)off & 0xFFF;

	if (size == 8 && (reg & 7) == 0) {  /* a qword is two dwords */
		pci_cfg_access(bus, devfn, reg, is_write, data, 4);
		pci_cfg_access(bus, devfn, reg + 4, is_write, data + 4, 4);
		return;
	}
	pci_cfg_access(bus, devfn, reg, is_write, data, size);
}

static void pci_ecam_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	pci_ecam_access(opaque, off, false, data, size);
}

static void pci_ecam_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	pci_ecam_access(opaque, off, true, (void *)data, size);
}

static const struct vdev_ops pci_ecam_ops = {
	.name = "pci-ecam", .read = pci_ecam_read, .write = pci_ecam_write,
};

/* ---- the BAR window ---- */

/* The mapped BAR holding [addr, addr+size), if any (bus lock held). */
static struct pci_func *pci_bar_find(const struct pci_bus *bus, uint64_t addr, unsigned size,
				     unsigned *bar)
{
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		struct pci_func *fn = bus->slots[s];

		for (unsigned i = 0; fn && i < PCI_NUM_BARS; i++) {
			const struct pci_bar *b = &fn->bars[i];

			if (b->mapped != PCI_BAR_UNMAPPED && addr >= b->mapped &&
			    addr - b->mapped <= b->info.size - size) {
				*bar = i;
				return fn;
			}
		}
	}
	return NULL;
}

static void pci_vdev_call(const struct vdev_ops *ops, void *opaque, pthread_mutex_t *lock,
			  uint64_t off, bool is_write, void *data, unsigned size)
{
	if (is_write ? !ops->write : !ops->read) {
		if (!is_write)
			memset(data, 0xFF, size);
		return;
	}
	pci_lock(lock);
	if (is_write)
		ops->write(opaque, off, data, size);
	else
		ops->read(opaque, off, data, size);
	pci_unlock(lock);
}

/* An access inside BAR bar at off: to the hook that holds it whole, else
 * (outside every hook) to the BAR's handler; one straddling a hook's edge
 * is dropped. */
static void pci_bar_access(struct pci_func *fn, unsigned bar, uint64_t off, bool is_write,
			   void *data, unsigned size)
{
	const struct pci_bar *b = &fn->bars[bar];

	for (unsigned i = 0; i < fn->nbar_hooks; i++) {
		const struct pci_bar_hook *h = &fn->bar_hooks[i];

		if (h->bar != bar || !pci_overlap(off, size, h->off, h->len))
			continue;
		if (off >= h->off && off + size <= h->off + h->len)
			pci_vdev_call(h->ops, h->opaque, h->lock, off - h->off, is_write, data, size);
		else if (!is_write)
			memset(data, 0xFF, size);
		return;
	}
	if (b->info.ops)
		pci_vdev_call(b->info.ops, fn->dev, fn->lock, off, is_write, data, size);
	else if (!is_write)
		memset(data, 0xFF, size);
}

static void pci_window_access(struct pci_bus *bus, uint64_t off, bool is_write, void *data,
			      unsigned size)
{
	uint64_t addr = bus->win_base + off;
	struct pci_func *fn = NULL;
	unsigned bar = 0;

	pthread_rwlock_rdlock(&bus->lock);
	if (size == 1 || size == 2 || size == 4 || size == 8)
		fn = pci_bar_find(bus, addr, size, &bar);
	if (fn)
		pci_bar_access(fn, bar, addr - fn->bars[bar].mapped, is_write, data, size);
	else if (!is_write)
		memset(data, 0xFF, size);
	pthread_rwlock_unlock(&bus->lock);
}

static void pci_window_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	pci_window_access(opaque, off, false, data, size);
}

static void pci_window_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	pci_window_access(opaque, off, true, (void *)data, size);
}

static const struct vdev_ops pci_window_ops = {
	.name = "pci-bars", .read = pci_window_read, .write = pci_window_write,
};

/* ---- the bus ---- */

static const struct pci_func_info pci_host_bridge_info = {
	.name = "host-bridge",
	.vendor_id = PCI_HOST_VENDOR_ID,
	.device_id = PCI_HOST_DEVICE_ID,
	.class_code = PCI_CLASS_HOST_BRIDGE,
};

static int pci_bus_windows(struct pci_bus *bus, struct memmap *mm)
{
	int ret = memmap_alloc_mmio_window(mm, PCI_BAR_WINDOW_SIZE, PCI_BAR_WINDOW_SIZE,
					   "pci-bars", &bus->win_base);

	if (ret == 0)
		ret = memmap_alloc_mmio(mm, PCI_ECAM_SIZE, PCI_ECAM_SIZE, "pci-ecam",
					&bus->ecam_base);
	bus->win_next = bus->win_base;
	return ret;
}

int pci_bus_create(struct memmap *mm, struct pci_bus **out)
{
	struct pci_bus *bus = calloc(1, sizeof(*bus));
	pthread_rwlockattr_t attr;
	struct pci_func *host;
	int ret;

	if (!bus)
		return -ENOMEM;
	/* Writers first: a guest reprogramming a BAR is not starved by BAR
	 * traffic from other vCPUs. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&bus->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	ret = pci_bus_windows(bus, mm);
	if (ret == 0)
		ret = pci_func_new(bus, 0, &pci_host_bridge_info, &host);
	if (ret < 0) {
		pci_bus_destroy(bus);
		return ret;
	}
	*out = bus;
	return 0;
}

void pci_bus_destroy(struct pci_bus *bus)
{
	if (!bus)
		return;
	for (unsigned s = 0; s < PCI_SLOTS; s++)
		free(bus->slots[s]);
	pthread_rwlock_destroy(&bus->lock);
	free(bus);
}

int pci_bus_attach(struct pci_bus *bus, struct iobus *pio, struct iobus *mmio)
{
	int ret = iobus_add(pio, PCI_PORT_ADDR, 1, &pci_cf8_ops, bus, NULL);

	if (ret == 0)
		ret = iobus_add(pio, PCI_PORT_DATA, 4, &pci_cfc_ops, bus, NULL);
	if (ret == 0)
		ret = iobus_add(mmio, bus->ecam_base, PCI_ECAM_SIZE, &pci_ecam_ops, bus, NULL);
	if (ret == 0)
		ret = iobus_add(mmio, bus->win_base, PCI_BAR_WINDOW_SIZE, &pci_window_ops, bus, NULL);
	if (ret < 0)
		log_error("pci: cannot register the configuration ports and windows: %s",
			  strerror(-ret));
	return ret;
}

static void pci_func_reset(struct pci_func *fn)
{
	memcpy(fn->cfg, fn->boot, sizeof(fn->cfg));
	pci_func_update_decode(fn);
	for (unsigned i = 0; i < fn->ncfg_hooks; i++) {
		const struct pci_cfg_hook *h = &fn->cfg_hooks[i];

		if (!h->ops->reset)
			continue;
		pci_lock(h->lock);
		h->ops->reset(h->opaque);
		pci_unlock(h->lock);
	}
	if (fn->ops && fn->ops->reset) {
		pci_lock(fn->lock);
		fn->ops->reset(fn->dev);
		pci_unlock(fn->lock);
	}
}

void pci_bus_reset(struct pci_bus *bus)
{
	pthread_rwlock_wrlock(&bus->lock);
	__atomic_store_n(&bus->cf8, 0, __ATOMIC_RELEASE);
	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		if (bus->slots[s])
			pci_func_reset(bus->slots[s]);
	}
	pthread_rwlock_unlock(&bus->lock);
}

void pci_bus_ecam_window(const struct pci_bus *bus, uint64_t *base, uint64_t *size)
{
	*base = bus->ecam_base;
	*size = PCI_ECAM_SIZE;
}

void pci_bus_bar_window(const struct pci_bus *bus, uint64_t *base, uint64_t *size)
{
	*base = bus->win_base;
	*size = PCI_BAR_WINDOW_SIZE;
}

/* ---- plugging functions ---- */

int pci_bus_add_function(struct pci_bus *bus, unsigned slot,
			 const struct pci_func_info *info, struct pci_func **out)
{
	int ret;

	if (slot == 0 || slot >= PCI_SLOTS)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	ret = pci_func_new(bus, slot, info, out);
	pthread_rwlock_unlock(&bus->lock);
	if (ret < 0)
		log_error("pci: cannot plug %s into slot %u: %s", info->name ? info->name : "?",
			  slot, strerror(-ret));
	return ret;
}

unsigned pci_func_slot(const struct pci_func *fn)
{
	return fn->slot;
}

uint64_t pci_func_bar_addr(const struct pci_func *fn, unsigned bar)
{
	return bar < PCI_NUM_BARS ? fn->bars[bar].assigned : 0;
}

uint64_t pci_func_bar_size(const struct pci_func *fn, unsigned bar)
{
	return bar < PCI_NUM_BARS && fn->bars[bar].info.type != PCI_BAR_UNUSED ?
	       fn->bars[bar].info.size : 0;
}

int pci_func_add_cap(struct pci_func *fn, uint8_t id, unsigned len, unsigned *off)
{
	unsigned at = (unsigned)ALIGN_UP(fn->cap_free, 4);

	if (len < 2 || len > PCI_CFG_SPACE_SIZE - PCI_CFG_CAP_START)
		return -EINVAL;
	if (at + len > PCI_CFG_SPACE_SIZE) {
		log_error("pci: %s: no room for a %u-byte capability", fn->name, len);
		return -ENOSPC;
	}
	pci_setup(fn, at, 1, id);
	pci_setup(fn, at + 1, 1, 0);
	pci_setup(fn, fn->cap_last ? fn->cap_last + 1 : PCI_CFG_CAP_PTR, 1, at);
	pci_setup(fn, PCI_CFG_STATUS, 2,
		  pci_get_le(fn->boot + PCI_CFG_STATUS, 2) | PCI_STATUS_CAP_LIST);
	fn->cap_last = at;
	fn->cap_free = at + len;
	*off = at;
	return 0;
}

int pci_func_add_vendor_cap(struct pci_func *fn, unsigned len, unsigned *off)
{
	int ret;

	if (len < 3 || len > 0xFF)
		return -EINVAL;
	ret = pci_func_add_cap(fn, PCI_CAP_ID_VNDR, len, off);
	if (ret == 0)
		pci_setup(fn, *off + 2, 1, len);
	return ret;
}

static bool pci_dev_range_ok(unsigned off, unsigned size)
{
	return pci_cfg_access_ok(off, size) && off >= PCI_CFG_CAP_START &&
	       off + size <= PCI_CFG_SPACE_SIZE;
}

int pci_func_cfg_set(struct pci_func *fn, unsigned off, unsigned size, uint32_t val)
{
	if (!pci_dev_range_ok(off, size))
		return -EINVAL;
	pci_setup(fn, off, size, val);
	return 0;
}

int pci_func_cfg_mask(struct pci_func *fn, unsigned off, unsigned size,
		      uint32_t wmask, uint32_t w1c)
{
	if (!pci_dev_range_ok(off, size))
		return -EINVAL;
	pci_setup_mask(fn, off, size, wmask, w1c);
	return 0;
}

uint32_t pci_func_cfg_get(const struct pci_func *fn, unsigned off, unsigned size)
{
	if (!pci_cfg_access_ok(off, size) || off + size > PCI_CFG_SPACE_SIZE)
		return UINT32_MAX;
	return pci_get_le(fn->cfg + off, size);
}

int pci_func_hook_cfg(struct pci_func *fn, unsigned off, unsigned len,
		      const struct pci_cfg_hook_ops *ops, void *opaque, pthread_mutex_t *lock)
{
	if (!ops || len == 0 || off < PCI_CFG_CAP_START || off + len > PCI_CFG_SPACE_SIZE)
		return -EINVAL;
	for (unsigned i = 0; i < fn->ncfg_hooks; i++) {
		if (pci_overlap(off, len, fn->cfg_hooks[i].off, fn->cfg_hooks[i].len))
			return -EEXIST;
	}
	if (fn->ncfg_hooks >= PCI_MAX_CFG_HOOKS)
		return -ENOSPC;
	fn->cfg_hooks[fn->ncfg_hooks++] = (struct pci_cfg_hook){ off, len, ops, opaque, lock };
	return 0;
}

int pci_func_hook_bar(struct pci_func *fn, unsigned bar, uint64_t off, uint64_t len,
		      const struct vdev_ops *ops, void *opaque, pthread_mutex_t *lock)
{
	uint64_t size = pci_func_bar_size(fn, bar);

	if (!ops || len == 0 || size == 0 || off >= size || len > size - off)
		return -EINVAL;
	for (unsigned i = 0; i < fn->nbar_hooks; i++) {
		const struct pci_bar_hook *h = &fn->bar_hooks[i];

		if (h->bar == bar && pci_overlap(off, len, h->off, h->len))
			return -EEXIST;
	}
	if (fn->nbar_hooks >= PCI_MAX_BAR_HOOKS)
		return -ENOSPC;
	fn->bar_hooks[fn->nbar_hooks++] = (struct pci_bar_hook){ bar, off, len, ops, opaque, lock };
	return 0;
}
