/* test_pci: unit tests for the PCI root bus (src/vmm/pci/pci.c) and MSI-X
 * (msix.c), driven the way a guest drives them: port I/O on 0xCF8/0xCFC
 * and MMIO on the ECAM and BAR windows through real iobus instances. A fake
 * function (four BARs, three capabilities, MSI-X) and a fake devhost that
 * records GSIs, routes, irqfds and direct MSIs stand in for the device and
 * the VM; deliveries are observed by reading the bound eventfds. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "devhost.h"
#include "iobus.h"
#include "memmap.h"
#include "pci/msix.h"
#include "pci/pci.h"

#define SLOT          3
#define DEVFN         (SLOT << 3)
#define NVEC          5
#define MSIX_BAR      4
#define PBA_OFF       0x1000u
#define VENDOR        0x1AF4
#define DEVICE        0x1041
#define MSI_ADDR      0xFEE00000ULL
#define MAX_GSI       128
#define MAX_MAPS      64

/* ---- fake devhost ---- */

struct fake_host {
	pthread_mutex_t lock;
	int fail;                     /* every MSI op returns this when != 0 */
	bool no_irqfd;                /* GSI/route/irqfd ops absent: direct MSIs only */
	bool used[MAX_GSI];
	unsigned allocs, frees, routes, binds, unbinds, sends;
	uint64_t route_addr[MAX_GSI];
	uint32_t route_data[MAX_GSI];
	int irqfd[MAX_GSI];           /* fd bound to the GSI, -1 */
	uint64_t send_addr;
	uint32_t send_data;
};

static void fake_irq_set(void *ctx, unsigned gsi, int level)
{
}

static void fake_event(void *ctx, enum devhost_event ev, int code)
{
}

static uint64_t fake_clock(void *ctx)
{
	return 0;
}

static int64_t fake_wallclock(void *ctx)
{
	return 0;
}

static int fake_gsi_alloc(void *ctx, unsigned *gsi)
{
	struct fake_host *h = ctx;
	int ret = -ENOSPC;

	pthread_mutex_lock(&h->lock);
	for (unsigned g = X86_IOAPIC_PINS; !h->fail && g < MAX_GSI; g++) {
		if (!h->used[g]) {
			h->used[g] = true;
			h->allocs++;
			*gsi = g;
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return h->fail ? h->fail : ret;
}

static void fake_gsi_free(void *ctx, unsigned gsi)
{
	struct fake_host *h = ctx;

	assert_true(gsi < MAX_GSI && h->used[gsi]);
	h->used[gsi] = false;
	h->frees++;
}

static int fake_route(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct fake_host *h = ctx;

	if (h->fail)
		return h->fail;
	assert_true(gsi >= X86_IOAPIC_PINS && gsi < MAX_GSI && h->used[gsi]);
	h->route_addr[gsi] = addr;
	h->route_data[gsi] = data;
	h->routes++;
	return 0;
}

static int fake_irqfd_bind(void *ctx, int fd, unsigned gsi)
{
	struct fake_host *h = ctx;

	if (h->fail)
		return h->fail;
	assert_true(gsi < MAX_GSI && h->irqfd[gsi] < 0);
	h->irqfd[gsi] = fd;
	h->binds++;
	return 0;
}

static int fake_irqfd_unbind(void *ctx, int fd, unsigned gsi)
{
	struct fake_host *h = ctx;

	if (h->fail)
		return h->fail;
	assert_true(gsi < MAX_GSI && h->irqfd[gsi] == fd);
	h->irqfd[gsi] = -1;
	h->unbinds++;
	return 0;
}

static int fake_msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	struct fake_host *h = ctx;

	if (h->fail)
		return h->fail;
	pthread_mutex_lock(&h->lock);
	h->sends++;
	h->send_addr = addr;
	h->send_data = data;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

static const struct devhost_ops fake_ops = {
	.irq_set = fake_irq_set, .event = fake_event, .clock_ns = fake_clock,
	.wallclock_ns = fake_wallclock, .gsi_alloc = fake_gsi_alloc,
	.gsi_free = fake_gsi_free, .gsi_route_msi = fake_route,
	.irqfd_bind = fake_irqfd_bind, .irqfd_unbind = fake_irqfd_unbind,
	.msi_send = fake_msi_send,
};

static const struct devhost_ops fake_ops_send_only = {
	.irq_set = fake_irq_set, .event = fake_event, .clock_ns = fake_clock,
	.wallclock_ns = fake_wallclock, .msi_send = fake_msi_send,
};

/* ---- fake device ---- */

struct bar_map_call {
	unsigned bar;
	uint64_t old_addr, new_addr;
};

struct fake_dev {
	pthread_mutex_t lock;
	uint8_t mem[PCI_NUM_BARS][0x4000];  /* what each BAR's handler stores */
	unsigned accesses;
	uint64_t last_off;
	unsigned last_bar, last_size;
	struct bar_map_call maps[MAX_MAPS];
	unsigned nmaps;
	unsigned resets;
	unsigned hook_reads, hook_writes;
	unsigned hook_write_off, hook_write_size;
	uint32_t hook_write_val;
};

static void assert_locked(struct fake_dev *d)
{
	assert_int_equal(pthread_mutex_trylock(&d->lock), EBUSY);
}

static void fake_bar_access(struct fake_dev *d, unsigned bar, uint64_t off, void *data,
			    unsigned size, bool is_write)
{
	assert_locked(d);
	assert_true(off + size <= sizeof(d->mem[bar]));
	d->accesses++;
	d->last_bar = bar;
	d->last_off = off;
	d->last_size = size;
	if (is_write)
		memcpy(d->mem[bar] + off, data, size);
	else
		memcpy(data, d->mem[bar] + off, size);
}

#define FAKE_BAR_OPS(n)                                                                   \
	static void fake_bar##n##_read(void *dev, uint64_t off, void *data, unsigned size)  \
	{                                                                                   \
		fake_bar_access(dev, n, off, data, size, false);                            \
	}                                                                                   \
	static void fake_bar##n##_write(void *dev, uint64_t off, const void *data,         \
					unsigned size)                                      \
	{                                                                                   \
		fake_bar_access(dev, n, off, (void *)data, size, true);                     \
	}                                                                                   \
	static const struct vdev_ops fake_bar##n##_ops = {                                  \
		.name = "fake-bar" #n, .read = fake_bar##n##_read,                          \
		.write = fake_bar##n##_write,                                               \
	};
FAKE_BAR_OPS(0)
FAKE_BAR_OPS(1)
FAKE_BAR_OPS(2)
FAKE_BAR_OPS(4)

static void fake_bar_map(void *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
	struct fake_dev *d = dev;

	assert_locked(d);
	if (d->nmaps < MAX_MAPS)
		d->maps[d->nmaps] = (struct bar_map_call){ bar, old_addr, new_addr };
	d->nmaps++;
}

static void fake_reset(void *dev)
{
	struct fake_dev *d = dev;

	assert_locked(d);
	d->resets++;
}

static const struct pci_func_ops fake_func_ops = {
	.bar_map = fake_bar_map, .reset = fake_reset,
};

/* Vendor capability hook: reads of byte 3 return 0x5A, writes are counted. */
static void fake_hook_read(void *opaque, unsigned off, void *data, unsigned size)
{
	struct fake_dev *d = opaque;
	unsigned at = 0x40 + 3;

	assert_locked(d);
	d->hook_reads++;
	if (off <= at && at < off + size)
		((uint8_t *)data)[at - off] = 0x5A;
}

static void fake_hook_write(void *opaque, unsigned off, const void *data, unsigned size)
{
	struct fake_dev *d = opaque;

	assert_locked(d);
	d->hook_writes++;
	d->hook_write_off = off;
	d->hook_write_size = size;
	d->hook_write_val = 0;
	memcpy(&d->hook_write_val, data, size);
}

static const struct pci_cfg_hook_ops fake_hook_ops = {
	.read = fake_hook_read, .write = fake_hook_write,
};

/* ---- rig ---- */

struct rig {
	struct memmap mm;
	struct pci_bus *bus;
	struct iobus pio, mmio;
	struct fake_host host;
	struct devhost dh;
	struct fake_dev dev;
	struct pci_func *fn;
	struct msix *msix;
	unsigned vcap, pmcap;
	uint64_t ecam, win;
};

static struct pci_func_info fake_info(struct fake_dev *d)
{
	return (struct pci_func_info){
		.name = "fake", .vendor_id = VENDOR, .device_id = DEVICE,
		.subsys_vendor_id = VENDOR, .subsys_id = 0x0002, .revision = 1,
		.class_code = 0xFF0000,
		.bars = {
			[0] = { PCI_BAR_MEM32, false, 0x1000, &fake_bar0_ops },
			[1] = { PCI_BAR_MEM32, true, 0x100, &fake_bar1_ops },
			[2] = { PCI_BAR_MEM64, true, 0x4000, &fake_bar2_ops },
			[4] = { PCI_BAR_MEM64, false, 0x2000, &fake_bar4_ops },
		},
		.ops = &fake_func_ops, .dev = d, .lock = &d->lock,
	};
}

static void rig_caps(struct rig *r)
{
	assert_int_equal(pci_func_add_vendor_cap(r->fn, 16, &r->vcap), 0);
	/* bytes 4..7 of the vendor capability: writable low byte, W1C next */
	assert_int_equal(pci_func_cfg_set(r->fn, r->vcap + 4, 4, 0x0000FF00), 0);
	assert_int_equal(pci_func_cfg_mask(r->fn, r->vcap + 4, 4, 0x000000FF, 0x0000FF00), 0);
	assert_int_equal(pci_func_hook_cfg(r->fn, r->vcap, 4, &fake_hook_ops, &r->dev,
					   &r->dev.lock), 0);
	assert_int_equal(pci_func_add_cap(r->fn, 0x01, 8, &r->pmcap), 0);  /* power management */
	assert_int_equal(msix_create(r->fn, &r->dh, NVEC, MSIX_BAR, 0, PBA_OFF, &r->msix), 0);
}

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct pci_func_info info;
	uint64_t size;

	assert_non_null(r);
	pthread_mutex_init(&r->dev.lock, NULL);
	pthread_mutex_init(&r->host.lock, NULL);
	for (unsigned g = 0; g < MAX_GSI; g++)
		r->host.irqfd[g] = -1;
	r->dh = (struct devhost){ &fake_ops, &r->host };
	assert_int_equal(memmap_init(&r->mm, 512 * MiB), 0);
	assert_int_equal(pci_bus_create(&r->mm, &r->bus), 0);
	iobus_init(&r->pio, "pio");
	iobus_init(&r->mmio, "mmio");
	info = fake_info(&r->dev);
	assert_int_equal(pci_bus_add_function(r->bus, SLOT, &info, &r->fn), 0);
	rig_caps(r);
	assert_int_equal(pci_bus_attach(r->bus, &r->pio, &r->mmio), 0);
	pci_bus_ecam_window(r->bus, &r->ecam, &size);
	assert_true(size == PCI_ECAM_SIZE);
	pci_bus_bar_window(r->bus, &r->win, &size);
	assert_true(size == PCI_BAR_WINDOW_SIZE);
	*state = r;
	return 0;
}

static int teardown(void **state)
{
	struct rig *r = *state;

	msix_destroy(r->msix);
	pci_bus_destroy(r->bus);
	pthread_mutex_destroy(&r->dev.lock);
	pthread_mutex_destroy(&r->host.lock);
	free(r);
	return 0;
}

/* ---- guest-side accessors ---- */

static uint64_t get_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, unsigned size, uint64_t v)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t io_in(struct iobus *bus, uint64_t addr, unsigned size)
{
	uint8_t b[8];

	memset(b, 0x3C, sizeof(b));
	iobus_access(bus, addr, false, b, size);
	return get_le(b, size);
}

static void io_out(struct iobus *bus, uint64_t addr, unsigned size, uint64_t v)
{
	uint8_t b[8];

	put_le(b, size, v);
	iobus_access(bus, addr, true, b, size);
}

static uint32_t cf8_addr(unsigned bus, unsigned devfn, unsigned reg)
{
	return 0x80000000u | bus << 16 | devfn << 8 | (reg & 0xFC);
}

static uint32_t cf8_read(struct rig *r, unsigned devfn, unsigned reg, unsigned size)
{
	io_out(&r->pio, 0xCF8, 4, cf8_addr(0, devfn, reg));
	return (uint32_t)io_in(&r->pio, 0xCFC + (reg & 3), size);
}

static void cf8_write(struct rig *r, unsigned devfn, unsigned reg, unsigned size, uint32_t v)
{
	io_out(&r->pio, 0xCF8, 4, cf8_addr(0, devfn, reg));
	io_out(&r->pio, 0xCFC + (reg & 3), size, v);
}

static uint64_t ecam_read(struct rig *r, unsigned devfn, unsigned reg, unsigned size)
{
	return io_in(&r->mmio, r->ecam + ((uint64_t)devfn << 12) + reg, size);
}

static void ecam_write(struct rig *r, unsigned devfn, unsigned reg, unsigned size, uint64_t v)
{
	io_out(&r->mmio, r->ecam + ((uint64_t)devfn << 12) + reg, size, v);
}

static uint64_t bar_reg_addr(struct rig *r, unsigned bar)
{
	uint64_t lo = ecam_read(r, DEVFN, PCI_CFG_BAR0 + 4 * bar, 4);

	if ((lo & 6) == 4)
		lo |= ecam_read(r, DEVFN, PCI_CFG_BAR0 + 4 * bar + 4, 4) << 32;
	return lo & ~0xFULL;
}

static void mem_enable(struct rig *r, bool on)
{
	ecam_write(r, DEVFN, PCI_CFG_COMMAND, 2, on ? PCI_CMD_MEMORY | PCI_CMD_MASTER : 0);
}

/* ---- configuration mechanisms ---- */

static void test_host_bridge(void **state)
{
	struct rig *r = *state;

	assert_int_equal(cf8_read(r, 0, 0, 4), 0x0D578086);
	assert_int_equal(cf8_read(r, 0, 0, 2), 0x8086);
	assert_int_equal(cf8_read(r, 0, 2, 2), 0x0D57);
	assert_int_equal(cf8_read(r, 0, 3, 1), 0x0D);
	assert_int_equal(cf8_read(r, 0, 0x08, 4) >> 8, 0x060000);
	assert_int_equal(cf8_read(r, 0, 0x0B, 1), 0x06);
	assert_int_equal(cf8_read(r, 0, 0x0E, 1), 0);          /* header type 0 */
	assert_int_equal(cf8_read(r, 0, 0x34, 1), 0);          /* no capabilities */
	assert_int_equal(cf8_read(r, 0, 0x10, 4), 0);          /* no BARs */
	cf8_write(r, 0, 0x10, 4, 0xFFFFFFFF);
	assert_int_equal(cf8_read(r, 0, 0x10, 4), 0);
	assert_int_equal(ecam_read(r, 0, 0, 4), 0x0D578086);
	assert_int_equal(ecam_read(r, 0, 0x0A, 2), 0x0600);
	/* a qword ECAM read is two dwords */
	assert_true(ecam_read(r, 0, 0, 8) == (0x0D578086ULL | (uint64_t)cf8_read(r, 0, 4, 4) << 32));
}

static void test_cf8_register(void **state)
{
	struct rig *r = *state;

	io_out(&r->pio, 0xCF8, 4, 0x80000000);
	assert_int_equal(io_in(&r->pio, 0xCF8, 4), 0x80000000);
	io_out(&r->pio, 0xCF8, 4, 0xFFFFFFFF);                 /* reserved bits read 0 */
	assert_int_equal(io_in(&r->pio, 0xCF8, 4), 0x80FFFFFC);
	io_out(&r->pio, 0xCF8, 4, cf8_addr(0, DEVFN, 0));
	io_out(&r->pio, 0xCF8, 1, 0);                           /* only dwords reach it */
	io_out(&r->pio, 0xCF8, 2, 0);
	assert_int_equal(io_in(&r->pio, 0xCF8, 4), cf8_addr(0, DEVFN, 0));
	assert_int_equal(io_in(&r->pio, 0xCF8, 1), 0xFF);
	assert_int_equal(io_in(&r->pio, 0xCFC, 4), (uint32_t)DEVICE << 16 | VENDOR);
	/* data port offsets pick the bytes; an access running past 0xCFF is dropped */
	assert_int_equal(io_in(&r->pio, 0xCFE, 2), DEVICE);
	assert_int_equal(io_in(&r->pio, 0xCFD, 1), VENDOR >> 8);
	assert_int_equal(io_in(&r->pio, 0xCFE, 4), 0xFFFFFFFF);
	/* enable bit clear: no configuration cycle */
	io_out(&r->pio, 0xCF8, 4, cf8_addr(0, DEVFN, 0) & 0x7FFFFFFF);
	assert_int_equal(io_in(&r->pio, 0xCFC, 4), 0xFFFFFFFF);
	/* register bits pick the dword */
	io_out(&r->pio, 0xCF8, 4, cf8_addr(0, DEVFN, 0x2C));
	assert_int_equal(io_in(&r->pio, 0xCFC, 4), 0x0002u << 16 | VENDOR);
}

static void test_absent_functions(void **state)
{
	struct rig *r = *state;

	assert_int_equal(cf8_read(r, 5 << 3, 0, 4), 0xFFFFFFFF);     /* empty slot */
	assert_int_equal(cf8_read(r, 1, 0, 4), 0xFFFFFFFF);          /* 00.1 */
	assert_int_equal(cf8_read(r, DEVFN | 2, 0, 2), 0xFFFF);      /* 03.2 */
	assert_int_equal(cf8_read(r, 31 << 3, 0x3C, 1), 0xFF);
	assert_true(ecam_read(r, 5 << 3, 0, 4) == 0xFFFFFFFF);
	assert_true(ecam_read(r, DEVFN | 7, 0x100, 4) == 0xFFFFFFFF);
	assert_true(ecam_read(r, 5 << 3, 0, 8) == UINT64_MAX);
	/* bus 1 through CF8 */
	io_out(&r->pio, 0xCF8, 4, cf8_addr(1, 0, 0));
	assert_int_equal(io_in(&r->pio, 0xCFC, 4), 0xFFFFFFFF);
	/* writes to nothing change nothing */
	cf8_write(r, 5 << 3, 0x04, 2, 0xFFFF);
	ecam_write(r, 9 << 3, 0x10, 4, 0x12345678);
	assert_int_equal(cf8_read(r, 5 << 3, 0x04, 2), 0xFFFF);
	assert_int_equal(cf8_read(r, 0, 0, 4), 0x0D578086);
	/* outside the ECAM window's bus 0: nobody answers */
	assert_int_equal(iobus_access(&r->mmio, r->ecam + PCI_ECAM_SIZE, false,
				      (uint8_t[4]){ 0 }, 4), -ENOENT);
}

static void test_function_header(void **state)
{
	struct rig *r = *state;

	assert_int_equal(ecam_read(r, DEVFN, 0, 4), (uint32_t)DEVICE << 16 | VENDOR);
	assert_int_equal(ecam_read(r, DEVFN, 0x08, 4), 0xFF000001);
	assert_int_equal(ecam_read(r, DEVFN, 0x2C, 4), 0x0002u << 16 | VENDOR);
	assert_int_equal(ecam_read(r, DEVFN, 0x06, 2), PCI_STATUS_CAP_LIST);
	assert_int_equal(ecam_read(r, DEVFN, 0x3D, 1), 0);           /* no INTx pin */
	assert_int_equal(ecam_read(r, DEVFN, 0x04, 2), 0);           /* decode off */
	/* misaligned accesses read all ones; extended space reads 0 */
	assert_true(ecam_read(r, DEVFN, 0x02, 4) == 0xFFFFFFFF);
	assert_true(ecam_read(r, DEVFN, 0x01, 2) == 0xFFFF);
	assert_true(ecam_read(r, DEVFN, 0x100, 4) == 0);
	assert_true(ecam_read(r, DEVFN, 0xFFC, 4) == 0);
	assert_int_equal(pci_func_slot(r->fn), SLOT);
}

static void test_readonly_fields(void **state)
{
	struct rig *r = *state;

	ecam_write(r, DEVFN, 0x00, 4, 0x12345678);                    /* IDs */
	ecam_write(r, DEVFN, 0x08, 4, 0x12345678);                    /* class, revision */
	ecam_write(r, DEVFN, 0x0E, 1, 0x80);                          /* header type */
	ecam_write(r, DEVFN, 0x2C, 4, 0);                             /* subsystem */
	ecam_write(r, DEVFN, 0x34, 1, 0x80);                          /* capability pointer */
	ecam_write(r, DEVFN, 0x3D, 1, 1);                             /* interrupt pin */
	ecam_write(r, DEVFN, 0x06, 2, 0xFFFF);                        /* status: W1C only */
	assert_int_equal(ecam_read(r, DEVFN, 0x00, 4), (uint32_t)DEVICE << 16 | VENDOR);
	assert_int_equal(ecam_read(r, DEVFN, 0x08, 4), 0xFF000001);
	assert_int_equal(ecam_read(r, DEVFN, 0x0E, 1), 0);
	assert_int_equal(ecam_read(r, DEVFN, 0x2C, 4), 0x0002u << 16 | VENDOR);
	assert_int_equal(ecam_read(r, DEVFN, 0x34, 1), r->vcap);
	assert_int_equal(ecam_read(r, DEVFN, 0x3D, 1), 0);
	assert_int_equal(ecam_read(r, DEVFN, 0x06, 2), PCI_STATUS_CAP_LIST);
	/* command: only the implemented bits stick */
	ecam_write(r, DEVFN, 0x04, 2, 0xFFFF);
	assert_int_equal(ecam_read(r, DEVFN, 0x04, 2), 0x0546);
	/* OS scratch registers are writable */
	ecam_write(r, DEVFN, 0x3C, 1, 0x0B);
	ecam_write(r, DEVFN, 0x0C, 1, 0x10);
	assert_int_equal(ecam_read(r, DEVFN, 0x3C, 1), 0x0B);
	assert_int_equal(ecam_read(r, DEVFN, 0x0C, 1), 0x10);
	/* no expansion ROM: sizing reads 0 */
	ecam_write(r, DEVFN, 0x30, 4, 0xFFFFF801);
	assert_int_equal(ecam_read(r, DEVFN, 0x30, 4), 0);
	/* device-defined masks: writable byte, W1C byte, read-only rest */
	ecam_write(r, DEVFN, r->vcap + 4, 4, 0xFFFF0F33);
	assert_int_equal(ecam_read(r, DEVFN, r->vcap + 4, 4), 0x0000F033);
	ecam_write(r, DEVFN, r->vcap + 5, 1, 0x00);                  /* writing 0 clears nothing */
	assert_int_equal(ecam_read(r, DEVFN, r->vcap + 5, 1), 0xF0);
	ecam_write(r, DEVFN, r->vcap + 5, 1, 0xF0);
	assert_int_equal(ecam_read(r, DEVFN, r->vcap + 5, 1), 0x00);
	/* the device's own range is off limits to cfg_set/mask */
	assert_int_equal(pci_func_cfg_set(r->fn, 0x04, 2, 0xFFFF), -EINVAL);
	assert_int_equal(pci_func_cfg_mask(r->fn, 0x3C, 1, 0, 0), -EINVAL);
	assert_int_equal(pci_func_cfg_set(r->fn, 0xFE, 4, 0), -EINVAL);
	assert_int_equal(pci_func_cfg_set(r->fn, 0x41, 2, 0), -EINVAL);
}

/* ---- BARs ---- */

static void test_bar_assignment(void **state)
{
	struct rig *r = *state;
	static const uint64_t sizes[PCI_NUM_BARS] = { 0x1000, 0x100, 0x4000, 0, 0x2000, 0 };

	for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t a = pci_func_bar_addr(r->fn, i);

		assert_true(pci_func_bar_size(r->fn, i) == sizes[i]);
		if (!sizes[i]) {
			assert_true(a == 0);
			continue;
		}
		assert_true(a >= r->win && a + sizes[i] <= r->win + PCI_BAR_WINDOW_SIZE);
		assert_true(a % sizes[i] == 0 && a % 0x1000 == 0);
		assert_true(bar_reg_addr(r, i) == a);
		for (unsigned j = 0; j < i; j++)
			assert_true(!sizes[j] || a >= pci_func_bar_addr(r->fn, j) + sizes[j] ||
				    a + sizes[i] <= pci_func_bar_addr(r->fn, j));
	}
	/* the window sits in the MMIO hole, apart from ECAM */
	assert_true(r->win >= X86_MMIO_HOLE_START && r->ecam >= X86_MMIO_HOLE_START);
	assert_true(r->ecam + PCI_ECAM_SIZE <= r->win || r->ecam >= r->win + PCI_BAR_WINDOW_SIZE);
}

static uint32_t size_bar(struct rig *r, unsigned reg)
{
	uint32_t old = (uint32_t)ecam_read(r, DEVFN, reg, 4), v;

	ecam_write(r, DEVFN, reg, 4, 0xFFFFFFFF);
	v = (uint32_t)ecam_read(r, DEVFN, reg, 4);
	ecam_write(r, DEVFN, reg, 4, old);
	assert_int_equal(ecam_read(r, DEVFN, reg, 4), old);
	return v;
}

static void test_bar_sizing(void **state)
{
	struct rig *r = *state;

	assert_int_equal(size_bar(r, 0x10), 0xFFFFF000);   /* 4 KiB, 32-bit */
	assert_int_equal(size_bar(r, 0x14), 0xFFFFFF08);   /* 256 B, 32-bit prefetchable */
	assert_int_equal(size_bar(r, 0x18), 0xFFFFC00C);   /* 16 KiB, 64-bit prefetchable */
	assert_int_equal(size_bar(r, 0x1C), 0xFFFFFFFF);   /* its upper half */
	assert_int_equal(size_bar(r, 0x20), 0xFFFFE004);   /* 8 KiB, 64-bit */
	assert_int_equal(size_bar(r, 0x24), 0xFFFFFFFF);
	/* sub-dword writes follow the mask too */
	ecam_write(r, DEVFN, 0x10, 1, 0xFF);
	assert_int_equal(ecam_read(r, DEVFN, 0x10, 4), pci_func_bar_addr(r->fn, 0));
	ecam_write(r, DEVFN, 0x12, 2, 0xFFFF);
	assert_int_equal(ecam_read(r, DEVFN, 0x10, 4),
			 (pci_func_bar_addr(r->fn, 0) & 0xFFFF) | 0xFFFF0000);
	/* all the while decode was off: nothing was mapped */
	assert_int_equal(r->dev.nmaps, 0);
}

static void test_memory_enable_gates_decode(void **state)
{
	struct rig *r = *state;
	uint64_t a0 = pci_func_bar_addr(r->fn, 0), a2 = pci_func_bar_addr(r->fn, 2);

	r->dev.mem[0][0x10] = 0x77;
	assert_int_equal(io_in(&r->mmio, a0 + 0x10, 1), 0xFF);
	io_out(&r->mmio, a0 + 0x20, 4, 0x11223344);
	assert_int_equal(r->dev.accesses, 0);
	mem_enable(r, true);
	assert_int_equal(io_in(&r->mmio, a0 + 0x10, 1), 0x77);
	assert_int_equal(r->dev.last_bar, 0);
	assert_true(r->dev.last_off == 0x10);
	io_out(&r->mmio, a2 + 0x3FF8, 8, 0x0102030405060708ULL);
	assert_int_equal(r->dev.last_bar, 2);
	assert_true(r->dev.last_off == 0x3FF8);
	assert_int_equal(r->dev.last_size, 8);
	assert_true(io_in(&r->mmio, a2 + 0x3FF8, 8) == 0x0102030405060708ULL);
	/* an access running past the BAR's end reaches nobody */
	r->dev.accesses = 0;
	assert_true(io_in(&r->mmio, a0 + 0xFFE, 4) == 0xFFFFFFFF);
	assert_true(io_in(&r->mmio, a2 + 0x3FFC, 8) == UINT64_MAX);
	assert_int_equal(r->dev.accesses, 0);
	mem_enable(r, false);
	assert_int_equal(io_in(&r->mmio, a0 + 0x10, 1), 0xFF);
	assert_int_equal(r->dev.accesses, 0);
}

static void test_bar_move(void **state)
{
	struct rig *r = *state;
	uint64_t a0 = pci_func_bar_addr(r->fn, 0), a2 = pci_func_bar_addr(r->fn, 2);
	uint64_t to = r->win + 0x8000000;

	mem_enable(r, true);
	assert_int_equal(r->dev.nmaps, 4);                 /* four BARs now decode */
	assert_int_equal(r->dev.maps[0].bar, 0);
	assert_true(r->dev.maps[0].old_addr == PCI_BAR_UNMAPPED);
	assert_true(r->dev.maps[0].new_addr == a0);
	r->dev.nmaps = 0;
	ecam_write(r, DEVFN, 0x10, 4, (uint32_t)to);
	assert_int_equal(r->dev.nmaps, 1);
	assert_true(r->dev.maps[0].old_addr == a0 && r->dev.maps[0].new_addr == to);
	r->dev.mem[0][4] = 0x42;
	assert_int_equal(io_in(&r->mmio, to + 4, 1), 0x42);
	assert_int_equal(io_in(&r->mmio, a0 + 4, 1), 0xFF);
	/* outside the window (or at 0): not decoded */
	ecam_write(r, DEVFN, 0x10, 4, 0x1000);
	assert_int_equal(r->dev.nmaps, 2);
	assert_true(r->dev.maps[1].old_addr == to && r->dev.maps[1].new_addr == PCI_BAR_UNMAPPED);
	ecam_write(r, DEVFN, 0x10, 4, 0);
	assert_int_equal(r->dev.nmaps, 2);
	/* a 64-bit BAR: the upper half moves it out of the window and back */
	ecam_write(r, DEVFN, 0x1C, 4, 1);
	assert_int_equal(r->dev.nmaps, 3);
	assert_true(r->dev.maps[2].bar == 2 && r->dev.maps[2].new_addr == PCI_BAR_UNMAPPED);
	assert_true(io_in(&r->mmio, a2, 4) == 0xFFFFFFFF);
	ecam_write(r, DEVFN, 0x1C, 4, 0);
	assert_int_equal(r->dev.nmaps, 4);
	assert_true(r->dev.maps[3].new_addr == a2);
	/* the same value again changes nothing */
	ecam_write(r, DEVFN, 0x18, 4, (uint32_t)a2);
	assert_int_equal(r->dev.nmaps, 4);
	/* disabling decode unmaps what was mapped */
	mem_enable(r, false);
	assert_int_equal(r->dev.nmaps, 7);
	for (unsigned i = 4; i < 7; i++)
		assert_true(r->dev.maps[i].new_addr == PCI_BAR_UNMAPPED);
}

struct mover {
	struct rig *r;
	volatile int stop;
	unsigned bad;
};

static void *mover_reader(void *arg)
{
	struct mover *m = arg;
	uint64_t a0 = pci_func_bar_addr(m->r->fn, 0);

	while (!m->stop) {
		uint32_t v = (uint32_t)io_in(&m->r->mmio, a0, 4);

		if (v != 0xFFFFFFFF && v != 0xA5A5A5A5)
			m->bad++;
	}
	return NULL;
}

/* One "vCPU" reads a BAR while another moves it back and forth and
 * toggles decode: every read sees the device or nothing. */
static void test_bar_move_concurrent(void **state)
{
	struct rig *r = *state;
	struct mover m = { .r = r };
	uint64_t a0 = pci_func_bar_addr(r->fn, 0);
	pthread_t t;

	memset(r->dev.mem[0], 0xA5, 4);
	mem_enable(r, true);
	assert_int_equal(pthread_create(&t, NULL, mover_reader, &m), 0);
	for (unsigned i = 0; i < 20000; i++) {
		ecam_write(r, DEVFN, 0x10, 4, (uint32_t)(i & 1 ? r->win + 0x100000 : a0));
		if (i % 64 == 0)
			mem_enable(r, i % 128 == 0);
	}
	m.stop = 1;
	pthread_join(t, NULL);
	assert_int_equal(m.bad, 0);
}

/* ---- capabilities and hooks ---- */

static void test_capability_list(void **state)
{
	struct rig *r = *state;
	static const uint8_t ids[] = { PCI_CAP_ID_VNDR, 0x01, PCI_CAP_ID_MSIX };
	unsigned off = (unsigned)ecam_read(r, DEVFN, 0x34, 1), n = 0, prev = 0;

	assert_true(ecam_read(r, DEVFN, 0x06, 2) & PCI_STATUS_CAP_LIST);
	while (off) {
		assert_true(n < 3);
		assert_true(off >= 0x40 && off % 4 == 0 && off > prev);
		assert_int_equal(ecam_read(r, DEVFN, off, 1), ids[n]);
		prev = off;
		off = (unsigned)ecam_read(r, DEVFN, off + 1, 1);
		n++;
	}
	assert_int_equal(n, 3);
	assert_int_equal(ecam_read(r, DEVFN, r->vcap + 2, 1), 16);     /* vendor length byte */
	assert_int_equal(r->pmcap, r->vcap + 16);
	assert_int_equal(msix_cap_offset(r->msix), r->pmcap + 8);
	assert_int_equal(cf8_read(r, DEVFN, 0x34, 1), r->vcap);
}

static void test_capability_limits(void **state)
{
	struct rig *r = *state;
	struct pci_func_info info = fake_info(&r->dev);
	struct pci_func *fn;
	unsigned off, n = 0;

	memset(info.bars, 0, sizeof(info.bars));
	assert_int_equal(pci_bus_add_function(r->bus, 7, &info, &fn), 0);
	assert_int_equal(pci_func_add_cap(fn, 0x05, 1, &off), -EINVAL);
	assert_int_equal(pci_func_add_vendor_cap(fn, 2, &off), -EINVAL);
	assert_int_equal(pci_func_add_vendor_cap(fn, 256, &off), -EINVAL);
	while (pci_func_add_cap(fn, 0x05, 20, &off) == 0)
		n++;
	assert_int_equal(n, 9);                  /* 0x40, 0x54, ... 0xE0; 0xF4 is free */
	assert_int_equal(pci_func_add_cap(fn, 0x05, 24, &off), -ENOSPC);
	assert_int_equal(pci_func_add_cap(fn, 0x05, 12, &off), 0);   /* what is left still fits */
	assert_int_equal(off, 0xF4);
	assert_int_equal(pci_func_add_cap(fn, 0x05, 2, &off), -ENOSPC);
	/* hooks: inside the device's range, no overlaps */
	assert_int_equal(pci_func_hook_cfg(fn, 0x3C, 4, &fake_hook_ops, NULL, NULL), -EINVAL);
	assert_int_equal(pci_func_hook_cfg(fn, 0xF0, 0x20, &fake_hook_ops, NULL, NULL), -EINVAL);
	assert_int_equal(pci_func_hook_cfg(fn, 0x40, 8, &fake_hook_ops, NULL, NULL), 0);
	assert_int_equal(pci_func_hook_cfg(fn, 0x44, 8, &fake_hook_ops, NULL, NULL), -EEXIST);
	assert_int_equal(pci_func_hook_bar(fn, 0, 0, 4, &fake_bar0_ops, NULL, NULL), -EINVAL);
	assert_int_equal(pci_func_hook_bar(r->fn, 0, 0xFF0, 0x20, &fake_bar0_ops, NULL, NULL),
			 -EINVAL);
	assert_int_equal(pci_func_hook_bar(r->fn, MSIX_BAR, 0x10, 4, &fake_bar0_ops, NULL, NULL),
			 -EEXIST);  /* the MSI-X table is there */
}

static void test_cfg_hook(void **state)
{
	struct rig *r = *state;

	/* byte 3 of the vendor capability comes from the hook */
	assert_int_equal(ecam_read(r, DEVFN, r->vcap + 3, 1), 0x5A);
	assert_int_equal(ecam_read(r, DEVFN, r->vcap, 4) >> 24, 0x5A);
	assert_int_equal(ecam_read(r, DEVFN, r->vcap + 2, 1), 16);  /* the image beside it */
	assert_int_equal(r->dev.hook_reads, 3);
	/* outside the hooked range, the hook is not asked */
	ecam_read(r, DEVFN, r->vcap + 4, 4);
	ecam_read(r, DEVFN, 0x3C, 4);
	assert_int_equal(r->dev.hook_reads, 3);
	ecam_write(r, DEVFN, r->vcap + 2, 2, 0xBEEF);
	assert_int_equal(r->dev.hook_writes, 1);
	assert_int_equal(r->dev.hook_write_off, r->vcap + 2);
	assert_int_equal(r->dev.hook_write_size, 2);
	assert_int_equal(r->dev.hook_write_val, 0xBEEF);
	assert_int_equal(ecam_read(r, DEVFN, r->vcap + 2, 1), 16);  /* read-only stays */
}

/* ---- MSI-X ---- */

static uint64_t msix_table(struct rig *r)
{
	return pci_func_bar_addr(r->fn, MSIX_BAR);
}

static void msix_ctrl(struct rig *r, uint16_t bits)
{
	ecam_write(r, DEVFN, msix_cap_offset(r->msix) + 2, 2, bits);
}

static void vec_program(struct rig *r, unsigned v, uint64_t addr, uint32_t data, bool masked)
{
	uint64_t e = msix_table(r) + 16 * v;

	io_out(&r->mmio, e, 4, (uint32_t)addr);
	io_out(&r->mmio, e + 4, 4, addr >> 32);
	io_out(&r->mmio, e + 8, 4, data);
	io_out(&r->mmio, e + 12, 4, masked);
}

static void vec_mask(struct rig *r, unsigned v, bool masked)
{
	io_out(&r->mmio, msix_table(r) + 16 * v + 12, 4, masked);
}

static uint64_t pba(struct rig *r)
{
	return io_in(&r->mmio, msix_table(r) + PBA_OFF, 8);
}

/* The GSI routed to (addr, data) with an irqfd bound, or -1. */
static int routed_gsi(struct rig *r, uint64_t addr, uint32_t data)
{
	for (unsigned g = 0; g < MAX_GSI; g++) {
		if (r->host.used[g] && r->host.irqfd[g] >= 0 && r->host.route_addr[g] == addr &&
		    r->host.route_data[g] == data)
			return (int)g;
	}
	return -1;
}

/* Messages delivered through the irqfd of (addr, data) since last asked. */
static uint64_t fired(struct rig *r, uint64_t addr, uint32_t data)
{
	int g = routed_gsi(r, addr, data);
	uint64_t n = 0;

	if (g < 0)
		return 0;
	if (read(r->host.irqfd[g], &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static void msix_ready(struct rig *r)
{
	mem_enable(r, true);
	msix_ctrl(r, MSIX_CTRL_ENABLE);
}

static void test_msix_capability(void **state)
{
	struct rig *r = *state;
	unsigned cap = msix_cap_offset(r->msix);

	assert_int_equal(ecam_read(r, DEVFN, cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(ecam_read(r, DEVFN, cap + 2, 2), NVEC - 1);
	assert_int_equal(ecam_read(r, DEVFN, cap + 4, 4), 0 | MSIX_BAR);
	assert_int_equal(ecam_read(r, DEVFN, cap + 8, 4), PBA_OFF | MSIX_BAR);
	ecam_write(r, DEVFN, cap + 2, 2, 0xFFFF);       /* only enable + function mask */
	assert_int_equal(ecam_read(r, DEVFN, cap + 2, 2), 0xC000 | (NVEC - 1));
	ecam_write(r, DEVFN, cap + 4, 4, 0xFFFFFFFF);
	assert_int_equal(ecam_read(r, DEVFN, cap + 4, 4), MSIX_BAR);
	assert_int_equal(msix_nvec(r->msix), NVEC);
	/* the table starts masked and empty; the PBA clear */
	mem_enable(r, true);
	for (unsigned v = 0; v < NVEC; v++) {
		assert_true(io_in(&r->mmio, msix_table(r) + 16 * v, 8) == 0);
		assert_true(io_in(&r->mmio, msix_table(r) + 16 * v + 8, 8) == 1ULL << 32);
	}
	assert_true(pba(r) == 0);
	/* the device's BAR handler still serves the rest of the BAR */
	io_out(&r->mmio, msix_table(r) + 0x1800, 4, 0xCAFE);
	assert_int_equal(r->dev.last_bar, MSIX_BAR);
	assert_true(r->dev.last_off == 0x1800);
}

static void test_msix_masked_never_fires(void **state)
{
	struct rig *r = *state;

	msix_ready(r);
	vec_program(r, 1, MSI_ADDR, 0x41, true);
	for (unsigned i = 0; i < 3; i++)
		msix_notify(r->msix, 1);
	assert_int_equal(r->host.routes, 0);           /* nothing routed for a masked vector */
	assert_int_equal(r->host.sends, 0);
	assert_true(pba(r) == 1u << 1);
	/* unmasking delivers the pending message once and clears the bit */
	vec_mask(r, 1, false);
	assert_true(pba(r) == 0);
	assert_int_equal(r->host.routes, 1);
	assert_true(routed_gsi(r, MSI_ADDR, 0x41) >= X86_IOAPIC_PINS);
	assert_true(fired(r, MSI_ADDR, 0x41) == 1);
	msix_notify(r->msix, 1);
	assert_true(fired(r, MSI_ADDR, 0x41) == 1);
	/* masked again: pending, no delivery */
	vec_mask(r, 1, true);
	msix_notify(r->msix, 1);
	assert_true(fired(r, MSI_ADDR, 0x41) == 0);
	assert_true(pba(r) == 1u << 1);
	assert_true(io_in(&r->mmio, msix_table(r) + PBA_OFF, 4) == 1u << 1);
	assert_int_equal(r->host.sends, 0);
}

static void test_msix_function_mask(void **state)
{
	struct rig *r = *state;

	msix_ready(r);
	vec_program(r, 0, MSI_ADDR, 0x30, false);
	vec_program(r, 4, MSI_ADDR | 0x1000, 0x34, false);
	msix_ctrl(r, MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
	msix_notify(r->msix, 0);
	msix_notify(r->msix, 4);
	assert_true(fired(r, MSI_ADDR, 0x30) == 0);
	assert_true(fired(r, MSI_ADDR | 0x1000, 0x34) == 0);
	assert_true(pba(r) == (1u << 0 | 1u << 4));
	msix_ctrl(r, MSIX_CTRL_ENABLE);
	assert_true(pba(r) == 0);
	assert_true(fired(r, MSI_ADDR, 0x30) == 1);
	assert_true(fired(r, MSI_ADDR | 0x1000, 0x34) == 1);
}

static void test_msix_enable_bit(void **state)
{
	struct rig *r = *state;
	struct msix_stats st;

	mem_enable(r, true);
	vec_program(r, 2, MSI_ADDR, 0x52, false);
	msix_notify(r->msix, 2);                        /* MSI-X off: pends */
	assert_int_equal(r->host.routes, 0);
	assert_true(pba(r) == 1u << 2);
	msix_ctrl(r, MSIX_CTRL_ENABLE);
	assert_true(pba(r) == 0);
	assert_true(fired(r, MSI_ADDR, 0x52) == 1);
	msix_ctrl(r, 0);
	msix_notify(r->msix, 2);
	assert_true(fired(r, MSI_ADDR, 0x52) == 0);
	msix_get_stats(r->msix, &st);
	assert_true(st.delivered == 1 && st.pended == 2 && st.dropped == 0);
}

static void test_msix_access_sizes(void **state)
{
	struct rig *r = *state;
	uint64_t t = msix_table(r);

	mem_enable(r, true);
	io_out(&r->mmio, t + 16, 8, 0x00000001FEE01000ULL);     /* qword: address lo + hi */
	io_out(&r->mmio, t + 24, 8, 0x0000000100000077ULL);     /* qword: data + control */
	assert_true(io_in(&r->mmio, t + 16, 4) == 0xFEE01000);
	assert_true(io_in(&r->mmio, t + 20, 4) == 1);
	assert_true(io_in(&r->mmio, t + 24, 8) == 0x0000000100000077ULL);
	/* address bits 1:0 and reserved control bits do not stick */
	io_out(&r->mmio, t + 16, 4, 0xFEE01003);
	io_out(&r->mmio, t + 28, 4, 0xFFFFFFFF);
	assert_true(io_in(&r->mmio, t + 16, 4) == 0xFEE01000);
	assert_true(io_in(&r->mmio, t + 28, 4) == 1);
	/* bytes, words and misaligned accesses are ignored / read all ones */
	io_out(&r->mmio, t + 24, 1, 0x11);
	io_out(&r->mmio, t + 24, 2, 0x1111);
	io_out(&r->mmio, t + 26, 4, 0x11111111);
	io_out(&r->mmio, t + 20, 8, 0x1111111111111111ULL);
	assert_true(io_in(&r->mmio, t + 24, 4) == 0x77);
	assert_true(io_in(&r->mmio, t + 24, 1) == 0xFF);
	assert_true(io_in(&r->mmio, t + 24, 2) == 0xFFFF);
	assert_true(io_in(&r->mmio, t + 26, 4) == 0xFFFFFFFF);
	assert_true(io_in(&r->mmio, t + 20, 8) == UINT64_MAX);
	/* the PBA: read-only, dword and qword */
	vec_program(r, 3, MSI_ADDR, 1, true);
	msix_notify(r->msix, 3);
	io_out(&r->mmio, t + PBA_OFF, 8, 0);
	io_out(&r->mmio, t + PBA_OFF, 4, 0);
	assert_true(io_in(&r->mmio, t + PBA_OFF, 8) == 1u << 3);
	assert_true(io_in(&r->mmio, t + PBA_OFF, 4) == 1u << 3);
	assert_true(io_in(&r->mmio, t + PBA_OFF + 4, 4) == 0);
	assert_true(io_in(&r->mmio, t + PBA_OFF, 1) == 0xFF);
	/* right past the table and the PBA: the device's own registers */
	r->dev.accesses = 0;
	io_in(&r->mmio, t + 16 * NVEC, 4);
	io_in(&r->mmio, t + PBA_OFF + 8, 4);
	assert_int_equal(r->dev.accesses, 2);
}

static void test_msix_out_of_range(void **state)
{
	struct rig *r = *state;
	struct msix_stats st;

	msix_ready(r);
	for (unsigned v = 0; v < NVEC; v++)
		vec_program(r, v, MSI_ADDR, 0x60 + v, true);
	msix_notify(r->msix, NVEC);
	msix_notify(r->msix, 0xFFFF);                   /* virtio's NO_VECTOR */
	msix_notify(r->msix, UINT32_MAX);
	msix_get_stats(r->msix, &st);
	assert_true(st.delivered == 0 && st.pended == 0 && st.dropped == 0);
	assert_true(pba(r) == 0);
	assert_int_equal(r->host.sends, 0);
}

static void test_msix_routes(void **state)
{
	struct rig *r = *state;

	msix_ready(r);
	vec_program(r, 0, MSI_ADDR, 0x40, true);
	assert_int_equal(r->host.routes, 0);
	vec_mask(r, 0, false);
	assert_int_equal(r->host.routes, 1);
	assert_int_equal(r->host.binds, 1);
	/* mask/unmask with the same message: no new route */
	for (unsigned i = 0; i < 5; i++) {
		vec_mask(r, 0, true);
		vec_mask(r, 0, false);
	}
	msix_ctrl(r, MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
	msix_ctrl(r, MSIX_CTRL_ENABLE);
	assert_int_equal(r->host.routes, 1);
	/* a new message written while masked: one route at unmask */
	vec_mask(r, 0, true);
	io_out(&r->mmio, msix_table(r) + 8, 4, 0x41);
	assert_int_equal(r->host.routes, 1);
	vec_mask(r, 0, false);
	assert_int_equal(r->host.routes, 2);
	/* the message of an unmasked entry changes: routed at once */
	io_out(&r->mmio, msix_table(r) + 8, 4, 0x42);
	assert_int_equal(r->host.routes, 3);
	msix_notify(r->msix, 0);
	assert_true(fired(r, MSI_ADDR, 0x42) == 1);
	assert_int_equal(r->host.binds, 1);             /* one irqfd, one GSI throughout */
	assert_int_equal(r->host.allocs, 1);
}

static void test_msix_no_vm(void **state)
{
	struct rig *r = *state;
	struct msix_stats st;

	r->host.fail = -ENODEV;                         /* between teardown and boot */
	msix_ready(r);
	vec_program(r, 0, MSI_ADDR, 0x40, false);
	msix_notify(r->msix, 0);
	msix_get_stats(r->msix, &st);
	assert_true(st.dropped == 1 && st.delivered == 0);
	/* a message outside the LAPIC window is never sent anywhere */
	r->host.fail = 0;
	vec_program(r, 1, 0x1000, 0x40, false);
	msix_notify(r->msix, 1);
	msix_get_stats(r->msix, &st);
	assert_true(st.dropped == 2);
	assert_int_equal(r->host.sends, 0);
}

static void test_msix_direct_fallback(void **state)
{
	struct rig *r = *state;

	r->dh.ops = &fake_ops_send_only;                /* no irqfd support */
	msix_ready(r);
	vec_program(r, 2, MSI_ADDR | 0x2000, 0x99, false);
	msix_notify(r->msix, 2);
	assert_int_equal(r->host.sends, 1);
	assert_true(r->host.send_addr == (MSI_ADDR | 0x2000) && r->host.send_data == 0x99);
}

struct notifier {
	struct msix *m;
	unsigned n;
};

static void *notifier_run(void *arg)
{
	struct notifier *n = arg;

	for (unsigned i = 0; i < n->n; i++)
		msix_notify(n->m, i % 2);
	return NULL;
}

/* The event loop notifies while a vCPU masks and unmasks: every notify is
 * delivered or pending, none is lost twice or delivered while masked. */
static void test_msix_notify_concurrent(void **state)
{
	struct rig *r = *state;
	struct notifier n = { r->msix, 20000 };
	struct msix_stats st;
	uint64_t got;
	pthread_t t;

	msix_ready(r);
	vec_program(r, 0, MSI_ADDR, 0x70, false);
	vec_program(r, 1, MSI_ADDR, 0x71, false);
	assert_int_equal(pthread_create(&t, NULL, notifier_run, &n), 0);
	for (unsigned i = 0; i < 2000; i++)
		vec_mask(r, i % 2, i % 4 < 2);
	pthread_join(t, NULL);
	vec_mask(r, 0, false);
	vec_mask(r, 1, false);
	got = fired(r, MSI_ADDR, 0x70) + fired(r, MSI_ADDR, 0x71);
	msix_get_stats(r->msix, &st);
	assert_true(got == st.delivered);
	assert_true(st.delivered <= n.n && st.delivered + st.pended >= n.n);
	assert_true(pba(r) == 0);
}

/* ---- reset ---- */

static void test_reset(void **state)
{
	struct rig *r = *state;
	unsigned cap = msix_cap_offset(r->msix);
	uint64_t a0 = pci_func_bar_addr(r->fn, 0);
	int gsi;

	msix_ready(r);
	vec_program(r, 0, MSI_ADDR, 0x40, false);
	vec_program(r, 1, MSI_ADDR, 0x41, true);
	msix_notify(r->msix, 1);
	gsi = routed_gsi(r, MSI_ADDR, 0x40);
	assert_true(gsi >= 0);
	ecam_write(r, DEVFN, 0x10, 4, (uint32_t)(r->win + 0x200000));
	ecam_write(r, DEVFN, 0x3C, 1, 0x0B);
	ecam_write(r, DEVFN, r->vcap + 4, 1, 0x12);
	io_out(&r->pio, 0xCF8, 4, cf8_addr(0, DEVFN, 0));
	r->dev.nmaps = 0;

	pci_bus_reset(r->bus);
	assert_int_equal(r->dev.resets, 1);
	assert_int_equal(io_in(&r->pio, 0xCF8, 4), 0);
	assert_int_equal(ecam_read(r, DEVFN, 0x04, 2), 0);
	assert_true(bar_reg_addr(r, 0) == a0);
	assert_int_equal(ecam_read(r, DEVFN, 0x3C, 1), 0);
	assert_int_equal(ecam_read(r, DEVFN, r->vcap + 4, 4), 0x0000FF00);
	assert_int_equal(ecam_read(r, DEVFN, cap + 2, 2), NVEC - 1);
	assert_int_equal(ecam_read(r, 0, 0, 4), 0x0D578086);
	assert_int_equal(r->dev.nmaps, 4);                /* every mapped BAR unmapped */
	for (unsigned i = 0; i < 4; i++)
		assert_true(r->dev.maps[i].new_addr == PCI_BAR_UNMAPPED);
	/* the irqfd and its GSI are gone; the table is back to masked */
	assert_int_equal(r->host.unbinds, 1);
	assert_int_equal(r->host.frees, 1);
	assert_int_equal(r->host.irqfd[gsi], -1);
	mem_enable(r, true);
	assert_true(io_in(&r->mmio, msix_table(r) + 8, 8) == 1ULL << 32);
	assert_true(pba(r) == 0);
	/* nothing fires until the guest programs it again; then a new route */
	msix_notify(r->msix, 0);
	assert_int_equal(r->host.sends, 0);
	msix_ctrl(r, MSIX_CTRL_ENABLE);
	vec_program(r, 0, MSI_ADDR, 0x40, false);
	assert_int_equal(r->host.routes, 2);
	assert_true(fired(r, MSI_ADDR, 0x40) == 1);        /* the pending one */
}

/* ---- plugging errors ---- */

static void test_add_function_errors(void **state)
{
	struct rig *r = *state;
	struct pci_func_info info = fake_info(&r->dev);
	struct pci_func *fn;
	struct msix *m;

	assert_int_equal(pci_bus_add_function(r->bus, 0, &info, &fn), -EINVAL);
	assert_int_equal(pci_bus_add_function(r->bus, 32, &info, &fn), -EINVAL);
	assert_int_equal(pci_bus_add_function(r->bus, SLOT, &info, &fn), -EEXIST);
	info.bars[0].size = 0x1800;                        /* not a power of two */
	assert_int_equal(pci_bus_add_function(r->bus, 8, &info, &fn), -EINVAL);
	info = fake_info(&r->dev);
	info.bars[0].size = 8;                             /* below 16 bytes */
	assert_int_equal(pci_bus_add_function(r->bus, 8, &info, &fn), -EINVAL);
	info = fake_info(&r->dev);
	info.bars[4].type = PCI_BAR_UNUSED;                /* a 64-bit BAR needs two registers */
	info.bars[5] = (struct pci_bar_info){ PCI_BAR_MEM64, false, 0x1000, NULL };
	assert_int_equal(pci_bus_add_function(r->bus, 8, &info, &fn), -EINVAL);
	info = fake_info(&r->dev);
	info.bars[3] = (struct pci_bar_info){ PCI_BAR_MEM32, false, 0x1000, NULL };
	assert_int_equal(pci_bus_add_function(r->bus, 8, &info, &fn), -EINVAL);
	info = fake_info(&r->dev);
	info.bars[0].size = PCI_BAR_WINDOW_SIZE;           /* does not fit what is left */
	assert_int_equal(pci_bus_add_function(r->bus, 8, &info, &fn), -ENOSPC);
	/* a failed plug leaves the slot free and the window untouched */
	info = fake_info(&r->dev);
	assert_int_equal(pci_bus_add_function(r->bus, 8, &info, &fn), 0);
	assert_true(pci_func_bar_addr(fn, 0) < r->win + 0x100000);
	/* MSI-X placement is checked */
	assert_int_equal(msix_create(fn, &r->dh, 0, MSIX_BAR, 0, PBA_OFF, &m), -EINVAL);
	assert_int_equal(msix_create(fn, &r->dh, 2049, MSIX_BAR, 0, 0x1000, &m), -EINVAL);
	assert_int_equal(msix_create(fn, &r->dh, 4, 3, 0, PBA_OFF, &m), -EINVAL);
	assert_int_equal(msix_create(fn, &r->dh, 4, MSIX_BAR, 4, PBA_OFF, &m), -EINVAL);
	assert_int_equal(msix_create(fn, &r->dh, 4, MSIX_BAR, 0, 0x20, &m), -EINVAL);
	assert_int_equal(msix_create(fn, &r->dh, 4, MSIX_BAR, 0, 0x1FF8 + 8, &m), -EINVAL);
	assert_int_equal(msix_create(fn, &r->dh, 512, MSIX_BAR, 0, 0x1FF8, &m), -EINVAL);
	assert_int_equal(ecam_read(r, 8 << 3, 0x34, 1), 0);  /* nothing added */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_host_bridge),
		T(test_cf8_register),
		T(test_absent_functions),
		T(test_function_header),
		T(test_readonly_fields),
		T(test_bar_assignment),
		T(test_bar_sizing),
		T(test_memory_enable_gates_decode),
		T(test_bar_move),
		T(test_bar_move_concurrent),
		T(test_capability_list),
		T(test_capability_limits),
		T(test_cfg_hook),
		T(test_msix_capability),
		T(test_msix_masked_never_fires),
		T(test_msix_function_mask),
		T(test_msix_enable_bit),
		T(test_msix_access_sizes),
		T(test_msix_out_of_range),
		T(test_msix_routes),
		T(test_msix_no_vm),
		T(test_msix_direct_fallback),
		T(test_msix_notify_concurrent),
		T(test_reset),
		T(test_add_function_errors),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
