/* fuzz_pci: libFuzzer harness for the PCI root bus and MSI-X
 * (src/vmm/pci/pci.c, msix.c). Each input builds a fresh bus with the host
 * bridge and one fake function (four BARs: 32-bit, 32-bit prefetchable,
 * 64-bit prefetchable, 64-bit with an 8-vector MSI-X table and PBA; a
 * vendor capability with a configuration hook) behind real iobus instances,
 * then runs the input as a list of guest operations:
 *
 *   op % 8: 0 CF8 dword write (4 bytes value)
 *           1 0xCF8-0xCFF access (flags, 4 bytes data)
 *           2 ECAM access (devfn, reg16, flags, 8 bytes data)
 *           3 access to a BAR at its assigned address (bar, off16, flags, 8 data)
 *           4 access anywhere in the BAR window (off32, flags, 8 data)
 *           5 msix_notify (vector16)
 *           6 program an MSI-X entry through the table (vector, data32, flags)
 *           7 platform reset
 *   flags: bits 0-1 size index (1, 2, 4, 8), bit 2 write.
 *
 * Checked after every operation: identification registers never change,
 * the fake device is only called with its lock held and offsets inside its
 * BAR, the fake host's GSI/route/irqfd bookkeeping stays consistent (no
 * double allocation or free, irqfds only on routed GSIs, nothing left after
 * a reset), and MSI-X counters add up. A broken invariant traps. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "devhost.h"
#include "iobus.h"
#include "memmap.h"
#include "pci/msix.h"
#include "pci/pci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FZ_SLOT     4
#define FZ_NVEC     8
#define FZ_MSIX_BAR 4
#define FZ_PBA_OFF  0x800u
#define FZ_GSIS     64
#define FZ_MAX_OPS  512

static void fz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* ---- fake host ---- */

struct fz_host {
	bool used[FZ_GSIS];
	bool routed[FZ_GSIS];
	int irqfd[FZ_GSIS];
	unsigned routes;
};

static void fz_irq_set(void *ctx, unsigned gsi, int level)
{
}

static void fz_event(void *ctx, enum devhost_event ev, int code)
{
}

static uint64_t fz_clock(void *ctx)
{
	return 0;
}

static int64_t fz_wallclock(void *ctx)
{
	return 0;
}

static int fz_gsi_alloc(void *ctx, unsigned *gsi)
{
	struct fz_host *h = ctx;

	for (unsigned g = X86_IOAPIC_PINS; g < FZ_GSIS; g++) {
		if (!h->used[g]) {
			h->used[g] = true;
			*gsi = g;
			return 0;
		}
	}
	return -ENOSPC;
}

static void fz_gsi_free(void *ctx, unsigned gsi)
{
	struct fz_host *h = ctx;

	fz_check(gsi < FZ_GSIS && h->used[gsi] && h->irqfd[gsi] < 0);
	h->used[gsi] = h->routed[gsi] = false;
}

static int fz_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct fz_host *h = ctx;

	fz_check(gsi < FZ_GSIS && h->used[gsi]);
	fz_check((addr & 0xFFF00000u) == 0xFEE00000u);
	h->routed[gsi] = true;
	h->routes++;
	return 0;
}

static int fz_irqfd_bind(void *ctx, int fd, unsigned gsi)
{
	struct fz_host *h = ctx;

	fz_check(gsi < FZ_GSIS && h->used[gsi] && h->routed[gsi] && h->irqfd[gsi] < 0 && fd >= 0);
	h->irqfd[gsi] = fd;
	return 0;
}

static int fz_irqfd_unbind(void *ctx, int fd, unsigned gsi)
{
	struct fz_host *h = ctx;

	fz_check(gsi < FZ_GSIS && h->irqfd[gsi] == fd);
	h->irqfd[gsi] = -1;
	return 0;
}

static int fz_msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	fz_check((addr & 0xFFF00000u) == 0xFEE00000u);
	return 0;
}

static const struct devhost_ops fz_host_ops = {
	.irq_set = fz_irq_set, .event = fz_event, .clock_ns = fz_clock,
	.wallclock_ns = fz_wallclock, .gsi_alloc = fz_gsi_alloc, .gsi_free = fz_gsi_free,
	.gsi_route_msi = fz_route, .irqfd_bind = fz_irqfd_bind,
	.irqfd_unbind = fz_irqfd_unbind, .msi_send = fz_msi_send,
};

/* ---- fake device ---- */

struct fz_dev {
	pthread_mutex_t lock;
	uint8_t mem[PCI_NUM_BARS][0x2000];
	uint64_t size[PCI_NUM_BARS];
};

static void fz_bar_access(struct fz_dev *d, unsigned bar, uint64_t off, void *data,
			  unsigned size, bool is_write)
{
	fz_check(pthread_mutex_trylock(&d->lock) == EBUSY);
	fz_check(size == 1 || size == 2 || size == 4 || size == 8);
	fz_check(off < d->size[bar] && size <= d->size[bar] - off);
	if (is_write)
		memcpy(d->mem[bar] + off, data, size);
	else
		memcpy(data, d->mem[bar] + off, size);
}

#define FZ_BAR_OPS(n)                                                                       \
	static void fz_bar##n##_read(void *dev, uint64_t off, void *data, unsigned size)    \
	{                                                                                   \
		fz_bar_access(dev, n, off, data, size, false);                              \
	}                                                                                   \
	static void fz_bar##n##_write(void *dev, uint64_t off, const void *data,           \
				      unsigned size)                                        \
	{                                                                                   \
		fz_bar_access(dev, n, off, (void *)data, size, true);                       \
	}                                                                                   \
	static const struct vdev_ops fz_bar##n##_ops = {                                    \
		.name = "fz-bar" #n, .read = fz_bar##n##_read, .write = fz_bar##n##_write,  \
	};
FZ_BAR_OPS(0)
FZ_BAR_OPS(1)
FZ_BAR_OPS(2)
FZ_BAR_OPS(4)

static void fz_bar_map(void *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
	struct fz_dev *d = dev;

	fz_check(pthread_mutex_trylock(&d->lock) == EBUSY);
	fz_check(bar < PCI_NUM_BARS && d->size[bar] && old_addr != new_addr);
	fz_check(new_addr == PCI_BAR_UNMAPPED || new_addr % d->size[bar] == 0);
}

static void fz_reset(void *dev)
{
	struct fz_dev *d = dev;

	fz_check(pthread_mutex_trylock(&d->lock) == EBUSY);
}

static void fz_hook_read(void *opaque, unsigned off, void *data, unsigned size)
{
	fz_check(size == 1 || size == 2 || size == 4);
	memset(data, 0x5A, size);
}

static const struct pci_func_ops fz_func_ops = { .bar_map = fz_bar_map, .reset = fz_reset };
static const struct pci_cfg_hook_ops fz_hook_ops = { .read = fz_hook_read };

/* ---- one input ---- */

struct fz_rig {
	struct memmap mm;
	struct pci_bus *bus;
	struct iobus pio, mmio;
	struct fz_host host;
	struct devhost dh;
	struct fz_dev dev;
	struct pci_func *fn;
	struct msix *msix;
	uint64_t ecam, win;
	unsigned notifies, writes;
};

struct fz_in {
	const uint8_t *p;
	size_t left;
};

static uint64_t fz_take(struct fz_in *in, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n && in->left; i++, in->p++, in->left--)
		v |= (uint64_t)*in->p << (8 * i);
	return v;
}

static int fz_setup(struct fz_rig *r)
{
	struct pci_func_info info = {
		.name = "fuzz", .vendor_id = 0x1AF4, .device_id = 0x1042, .class_code = 0x018000,
		.bars = {
			[0] = { PCI_BAR_MEM32, false, 0x1000, &fz_bar0_ops },
			[1] = { PCI_BAR_MEM32, true, 0x20, &fz_bar1_ops },
			[2] = { PCI_BAR_MEM64, true, 0x2000, &fz_bar2_ops },
			[4] = { PCI_BAR_MEM64, false, 0x1000, &fz_bar4_ops },
		},
		.ops = &fz_func_ops, .dev = &r->dev, .lock = &r->dev.lock,
	};
	uint64_t sz;
	unsigned off;

	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		r->dev.size[i] = info.bars[i].type == PCI_BAR_UNUSED ? 0 : info.bars[i].size;
	for (unsigned g = 0; g < FZ_GSIS; g++)
		r->host.irqfd[g] = -1;
	r->dh = (struct devhost){ &fz_host_ops, &r->host };
	iobus_init(&r->pio, "pio");
	iobus_init(&r->mmio, "mmio");
	if (memmap_init(&r->mm, 256 << 20) || pci_bus_create(&r->mm, &r->bus) ||
	    pci_bus_add_function(r->bus, FZ_SLOT, &info, &r->fn) ||
	    pci_func_add_vendor_cap(r->fn, 20, &off) ||
	    pci_func_cfg_mask(r->fn, off + 4, 4, 0xFFFF00FF, 0x0000FF00) ||
	    pci_func_hook_cfg(r->fn, off + 8, 4, &fz_hook_ops, NULL, NULL) ||
	    msix_create(r->fn, &r->dh, FZ_NVEC, FZ_MSIX_BAR, 0, FZ_PBA_OFF, &r->msix) ||
	    pci_bus_attach(r->bus, &r->pio, &r->mmio))
		return -1;
	pci_bus_ecam_window(r->bus, &r->ecam, &sz);
	pci_bus_bar_window(r->bus, &r->win, &sz);
	return 0;
}

static unsigned fz_size(uint64_t flags)
{
	static const unsigned sizes[4] = { 1, 2, 4, 8 };

	return sizes[flags & 3];
}

static void fz_access(struct iobus *bus, uint64_t addr, uint64_t flags, uint64_t val,
		      unsigned size)
{
	uint8_t b[8];

	memcpy(b, &val, sizeof(b));
	iobus_access(bus, addr, flags & 4, b, size);
}

static void fz_program(struct fz_rig *r, struct fz_in *in)
{
	unsigned v = (unsigned)fz_take(in, 1) % (FZ_NVEC + 1);
	uint32_t data = (uint32_t)fz_take(in, 4);
	uint64_t flags = fz_take(in, 1);
	uint64_t e = pci_func_bar_addr(r->fn, FZ_MSIX_BAR) + 16 * (uint64_t)v;

	fz_access(&r->mmio, e, 4, flags & 8 ? 0xFEE00000u | (data & 0xFF000) : data, 4);
	fz_access(&r->mmio, e + 4, 4, 0, 4);
	fz_access(&r->mmio, e + 8, 4, data, 4);
	fz_access(&r->mmio, e + 12, 4, flags & 1, 4);
	r->writes += 4;
}

static void fz_op(struct fz_rig *r, struct fz_in *in)
{
	uint64_t op = fz_take(in, 1), a, flags, val;

	switch (op % 8) {
	case 0:
		fz_access(&r->pio, 0xCF8, 4, fz_take(in, 4), 4);
		break;
	case 1:
		flags = fz_take(in, 1);
		fz_access(&r->pio, 0xCF8 + ((flags >> 3) & 7), flags, fz_take(in, 4),
			  fz_size(flags) == 8 ? 4 : fz_size(flags));
		r->writes++;
		break;
	case 2:
		a = fz_take(in, 1) << 12 | (fz_take(in, 2) & 0xFFF);
		flags = fz_take(in, 1);
		fz_access(&r->mmio, r->ecam + a, flags, fz_take(in, 8), fz_size(flags));
		r->writes++;
		break;
	case 3:
		a = pci_func_bar_addr(r->fn, (unsigned)fz_take(in, 1) % PCI_NUM_BARS);
		a += fz_take(in, 2) % 0x2008;
		flags = fz_take(in, 1);
		fz_access(&r->mmio, a, flags, fz_take(in, 8), fz_size(flags));
		r->writes++;
		break;
	case 4:
		a = r->win + fz_take(in, 4) % PCI_BAR_WINDOW_SIZE;
		flags = fz_take(in, 1);
		val = fz_take(in, 8);
		fz_access(&r->mmio, a, flags, val, fz_size(flags));
		r->writes++;
		break;
	case 5:
		val = fz_take(in, 2);
		r->notifies += val < FZ_NVEC;
		msix_notify(r->msix, (unsigned)val);
		break;
	case 6:
		fz_program(r, in);
		break;
	case 7:
		pci_bus_reset(r->bus);
		for (unsigned g = 0; g < FZ_GSIS; g++)
			fz_check(!r->host.used[g] && r->host.irqfd[g] < 0);
		break;
	}
}

static uint32_t fz_ecam32(struct fz_rig *r, unsigned devfn, unsigned reg)
{
	uint8_t b[4];

	iobus_access(&r->mmio, r->ecam + ((uint64_t)devfn << 12) + reg, false, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void fz_invariants(struct fz_rig *r)
{
	struct msix_stats st;
	unsigned gsis = 0;

	fz_check(fz_ecam32(r, 0, 0) == 0x0D578086);
	fz_check(fz_ecam32(r, FZ_SLOT << 3, 0) == 0x10421AF4);
	fz_check(fz_ecam32(r, FZ_SLOT << 3, 8) >> 8 == 0x018000);
	fz_check(fz_ecam32(r, 1 << 3, 0) == 0xFFFFFFFF);
	for (unsigned g = 0; g < FZ_GSIS; g++)
		gsis += r->host.used[g];
	fz_check(gsis <= FZ_NVEC);
	msix_get_stats(r->msix, &st);
	fz_check(st.pended <= r->notifies && st.delivered + st.dropped <= r->notifies);
	fz_check(st.routes <= (uint64_t)r->writes * FZ_NVEC);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_set_level(LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_rig *r = calloc(1, sizeof(*r));
	struct fz_in in = { data, size };

	fz_check(r != NULL);
	pthread_mutex_init(&r->dev.lock, NULL);
	fz_check(fz_setup(r) == 0);
	for (unsigned n = 0; in.left && n < FZ_MAX_OPS; n++) {
		fz_op(r, &in);
		fz_invariants(r);
	}
	msix_destroy(r->msix);
	pci_bus_destroy(r->bus);
	pthread_mutex_destroy(&r->dev.lock);
	free(r);
	return 0;
}
