/* fuzz_virtio_pci: libFuzzer harness for the virtio PCI transport
 * (src/vmm/virtio/virtio_pci.c) with virtio-rng (vrng.c) behind it, on the
 * real PCI bus, MSI-X and virtqueues. Each input builds a fresh bus, 64 KiB
 * of guest RAM and the device, then runs the input as guest operations:
 *
 *   op % 8: 0 BAR access (off16, flags, 8 bytes data)
 *           1 ECAM access to the device (reg8, flags, 4 bytes data)
 *           2 write guest RAM (off16, len8, bytes)
 *           3 run queue work (what the event loop does on a doorbell)
 *           4 a well-behaved bring-up: reset, features (from 8 bytes),
 *             queue 0 (size byte, three area offsets 16 bits each), DRIVER_OK
 *           5 doorbell of queue (byte), then run queue work
 *           6 a device-side call (byte: config change, queue interrupt, fail)
 *           7 platform reset
 *   flags: bits 0-1 size index (1, 2, 4, 8), bit 2 write.
 *
 * Checked after every operation: the device's state the guest can read
 * stays within its rules (queue size a power of two up to the maximum,
 * driver features a subset of those offered, DRIVER_OK only with
 * FEATURES_OK), the fake host's ioeventfds are registered once each and all
 * gone after a platform reset, and events come only with NEEDS_RESET set.
 * A broken invariant traps; ASan/UBSan catch the rest. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "devhost.h"
#include "gmem.h"
#include "iobus.h"
#include "memmap.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "virtio/virtio.h"
#include "virtio/virtio_pci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FZ_SLOT     1
#define FZ_RAM      0x10000u
#define FZ_MAX_OPS  512
#define FZ_MAX_IOEV 8

static void fz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* ---- fake host ---- */

struct fz_host {
	uint64_t ioev_addr[FZ_MAX_IOEV];
	unsigned nioev;
	unsigned events;
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

static int fz_msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	return 0;
}

static int fz_ioev_add(void *ctx, const struct devhost_ioeventfd *io)
{
	struct fz_host *h = ctx;

	for (unsigned i = 0; i < h->nioev; i++)
		fz_check(h->ioev_addr[i] != io->addr);
	fz_check(h->nioev < FZ_MAX_IOEV);
	h->ioev_addr[h->nioev++] = io->addr;
	return 0;
}

static int fz_ioev_remove(void *ctx, const struct devhost_ioeventfd *io)
{
	struct fz_host *h = ctx;

	for (unsigned i = 0; i < h->nioev; i++) {
		if (h->ioev_addr[i] == io->addr) {
			h->ioev_addr[i] = h->ioev_addr[--h->nioev];
			return 0;
		}
	}
	fz_check(false);
	return -ENOENT;
}

static void fz_emit(void *ctx, const char *name, json_t *data)
{
	struct fz_host *h = ctx;

	h->events++;
	fz_check(strcmp(name, "DEVICE_NEEDS_RESET") == 0 && data != NULL);
	json_decref(data);
}

static const struct devhost_ops fz_host_ops = {
	.irq_set = fz_irq_set, .event = fz_event, .clock_ns = fz_clock,
	.wallclock_ns = fz_wallclock, .msi_send = fz_msi_send,
	.ioeventfd_add = fz_ioev_add, .ioeventfd_remove = fz_ioev_remove, .emit = fz_emit,
};

/* ---- rig ---- */

struct fz_rig {
	struct memmap mm;
	struct pci_bus *bus;
	struct iobus pio, mmio;
	struct gmem gm;
	uint8_t *ram;
	struct fz_host host;
	struct devhost dh;
	struct virtio_dev *vd;
	uint64_t ecam, bar;
	uint16_t queue_max;
	unsigned events_seen;
};

struct fz_in {
	const uint8_t *p;
	size_t left;
};

static uint64_t fz_take(struct fz_in *in, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n && in->left; i++, in->left--)
		v |= (uint64_t)*in->p++ << (8 * i);
	return v;
}

static uint64_t fz_bar_read(struct fz_rig *r, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	iobus_access(&r->mmio, r->bar + off, false, &v, size);
	return v;
}

static void fz_bar_write(struct fz_rig *r, uint64_t off, unsigned size, uint64_t v)
{
	iobus_access(&r->mmio, r->bar + off, true, &v, size);
}

static void fz_cfg_write(struct fz_rig *r, unsigned reg, unsigned size, uint32_t v)
{
	iobus_access(&r->mmio, r->ecam + (FZ_SLOT << 15) + reg, true, &v, size);
}

static uint32_t fz_cfg_read(struct fz_rig *r, unsigned reg)
{
	uint32_t v = 0;

	iobus_access(&r->mmio, r->ecam + (FZ_SLOT << 15) + reg, false, &v, 4);
	return v;
}

static int fz_setup(struct fz_rig *r)
{
	const struct virtio_env env = { .host = &r->dh, .gm = &r->gm, .ncpus = 1 };
	struct virtio_dev_info info;
	uint64_t size;

	r->dh = (struct devhost){ &fz_host_ops, &r->host };
	r->ram = calloc(1, FZ_RAM);
	if (!r->ram || gmem_add_region(&r->gm, 0, FZ_RAM, r->ram) < 0 ||
	    memmap_init(&r->mm, 256ULL << 20) < 0 || pci_bus_create(&r->mm, &r->bus) < 0)
		return -1;
	iobus_init(&r->pio, "pio");
	iobus_init(&r->mmio, "mmio");
	if (pci_bus_attach(r->bus, &r->pio, &r->mmio) < 0 || vrng_create(&env, &info) < 0)
		return -1;
	r->queue_max = info.queue_max;
	if (virtio_pci_create(r->bus, FZ_SLOT, &env, &info, &r->vd) < 0) {
		info.ops->destroy(info.dev);
		return -1;
	}
	pci_bus_ecam_window(r->bus, &r->ecam, &size);
	r->bar = fz_cfg_read(r, PCI_CFG_BAR0) & ~0xFull;
	r->bar |= (uint64_t)fz_cfg_read(r, PCI_CFG_BAR0 + 4) << 32;
	return 0;
}

/* ---- operations ---- */

static void fz_op_bar(struct fz_rig *r, struct fz_in *in)
{
	uint64_t off = fz_take(in, 2) % VIRTIO_PCI_BAR_SIZE, v = fz_take(in, 8);
	unsigned flags = (unsigned)fz_take(in, 1), size = 1u << (flags & 3);

	if (flags & 4)
		fz_bar_write(r, off, size, v);
	else
		fz_bar_read(r, off, size);
}

static void fz_op_cfg(struct fz_rig *r, struct fz_in *in)
{
	unsigned reg = (unsigned)fz_take(in, 1), flags = (unsigned)fz_take(in, 1);
	uint32_t v = (uint32_t)fz_take(in, 4);
	unsigned size = 1u << (flags & 3);

	if (size == 8)
		size = 4;
	iobus_access(&r->mmio, r->ecam + (FZ_SLOT << 15) + reg, flags & 4, &v, size);
}

static void fz_op_ram(struct fz_rig *r, struct fz_in *in)
{
	uint64_t off = fz_take(in, 2) % FZ_RAM;
	unsigned len = (unsigned)fz_take(in, 1);

	for (unsigned i = 0; i < len && in->left && off + i < FZ_RAM; i++)
		r->ram[off + i] = (uint8_t)fz_take(in, 1);
}

/* Memory decode on, MSI-X on with every vector unmasked. */
static void fz_enable(struct fz_rig *r)
{
	fz_cfg_write(r, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	for (unsigned v = 0; v < 2; v++) {
		fz_bar_write(r, VIRTIO_PCI_MSIX_TABLE + 16 * v, 4, 0xFEE00000u);
		fz_bar_write(r, VIRTIO_PCI_MSIX_TABLE + 16 * v + 8, 4, 0x30 + v);
		fz_bar_write(r, VIRTIO_PCI_MSIX_TABLE + 16 * v + 12, 4, 0);
	}
	fz_cfg_write(r, 0x40 + 2, 2, MSIX_CTRL_ENABLE);  /* MSI-X is the first capability */
}

static void fz_op_bringup(struct fz_rig *r, struct fz_in *in)
{
	uint64_t feat = fz_take(in, 8);
	unsigned qsize = (unsigned)fz_take(in, 1);

	fz_enable(r);
	fz_bar_write(r, VIRTIO_PCI_STATUS, 1, 0);
	fz_bar_write(r, VIRTIO_PCI_STATUS, 1, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	fz_bar_write(r, VIRTIO_PCI_GFSELECT, 4, 0);
	fz_bar_write(r, VIRTIO_PCI_GF, 4, (uint32_t)feat);
	fz_bar_write(r, VIRTIO_PCI_GFSELECT, 4, 1);
	fz_bar_write(r, VIRTIO_PCI_GF, 4, (uint32_t)(feat >> 32) | 1);  /* VERSION_1 */
	fz_bar_write(r, VIRTIO_PCI_STATUS, 1, 0x0B);
	fz_bar_write(r, VIRTIO_PCI_MSIX_CONFIG, 2, 0);
	fz_bar_write(r, VIRTIO_PCI_Q_SELECT, 2, 0);
	fz_bar_write(r, VIRTIO_PCI_Q_SIZE, 2, qsize);
	fz_bar_write(r, VIRTIO_PCI_Q_MSIX, 2, 1);
	fz_bar_write(r, VIRTIO_PCI_Q_DESC, 8, fz_take(in, 2));
	fz_bar_write(r, VIRTIO_PCI_Q_AVAIL, 8, fz_take(in, 2));
	fz_bar_write(r, VIRTIO_PCI_Q_USED, 8, fz_take(in, 2));
	fz_bar_write(r, VIRTIO_PCI_Q_ENABLE, 2, 1);
	fz_bar_write(r, VIRTIO_PCI_STATUS, 1, 0x0F);
	virtio_pci_poll(r->vd);
}

static void fz_op_device(struct fz_rig *r, struct fz_in *in)
{
	unsigned what = (unsigned)fz_take(in, 1);
	pthread_mutex_t *lock = virtio_dev_lock(r->vd);

	pthread_mutex_lock(lock);
	switch (what % 3) {
	case 0:
		virtio_config_changed(r->vd);
		break;
	case 1:
		virtio_queue_interrupt(r->vd, what >> 2);
		break;
	case 2:
		virtio_dev_fail(r->vd, "fuzz %u", what);
		break;
	}
	pthread_mutex_unlock(lock);
}

static void fz_op(struct fz_rig *r, struct fz_in *in)
{
	switch (fz_take(in, 1) % 8) {
	case 0:
		fz_op_bar(r, in);
		break;
	case 1:
		fz_op_cfg(r, in);
		break;
	case 2:
		fz_op_ram(r, in);
		break;
	case 3:
		virtio_pci_poll(r->vd);
		break;
	case 4:
		fz_op_bringup(r, in);
		break;
	case 5:
		fz_bar_write(r, VIRTIO_PCI_NOTIFY_OFF + 4 * (fz_take(in, 1) % 4), 2, 0);
		virtio_pci_poll(r->vd);
		break;
	case 6:
		fz_op_device(r, in);
		break;
	case 7:
		pci_bus_reset(r->bus);
		fz_check(r->host.nioev == 0);
		break;
	}
}

/* What the guest can read must follow the transport's rules. */
static void fz_invariants(struct fz_rig *r)
{
	uint64_t offered = (1ULL << 28) | (1ULL << 29) | (1ULL << 32);
	bool new_event = r->host.events != r->events_seen;
	uint16_t qsize, sel;
	uint8_t st;

	r->events_seen = r->host.events;
	fz_check((virtio_features(r->vd) & ~offered) == 0);
	if ((uint32_t)fz_bar_read(r, VIRTIO_PCI_NUM_QUEUES, 2) != 1)
		return;  /* decode is off: nothing to read */
	st = (uint8_t)fz_bar_read(r, VIRTIO_PCI_STATUS, 1);
	fz_check(!(st & VIRTIO_STATUS_DRIVER_OK) || (st & VIRTIO_STATUS_FEATURES_OK));
	/* an operation that made the device report an event leaves it failed */
	fz_check(!new_event || (st & VIRTIO_STATUS_NEEDS_RESET));
	sel = (uint16_t)fz_bar_read(r, VIRTIO_PCI_Q_SELECT, 2);
	fz_bar_write(r, VIRTIO_PCI_Q_SELECT, 2, 0);
	qsize = (uint16_t)fz_bar_read(r, VIRTIO_PCI_Q_SIZE, 2);
	fz_check(qsize && qsize <= r->queue_max && !(qsize & (qsize - 1)));
	fz_bar_write(r, VIRTIO_PCI_Q_SELECT, 2, sel);
}

static void fz_teardown(struct fz_rig *r)
{
	iobus_remove_all(&r->pio);
	iobus_remove_all(&r->mmio);
	virtio_pci_destroy(r->vd);
	pci_bus_destroy(r->bus);
	free(r->ram);
	free(r);
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

	if (!r)
		return 0;
	fz_check(fz_setup(r) == 0);
	for (unsigned n = 0; in.left && n < FZ_MAX_OPS; n++) {
		fz_op(r, &in);
		fz_invariants(r);
	}
	fz_teardown(r);
	return 0;
}
