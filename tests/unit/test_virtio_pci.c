/* test_virtio_pci: unit tests for the virtio PCI transport (virtio_pci.c)
 * on the real PCI bus and MSI-X (pci.c, msix.c) and real virtqueues, driven
 * the way a guest driver drives them: ECAM configuration accesses and BAR
 * MMIO through an iobus. A fake device model (two queues, an 8-byte
 * configuration structure) records what the transport asks of it; a fake
 * devhost records MSI deliveries (direct sends: it has no GSI routes),
 * ioeventfd registrations and events. Guest memory is a malloc'd buffer.
 * The last group runs virtio-rng (vrng.c) behind the same transport. */
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

#include "common/util.h"
#include "devhost.h"
#include "gmem.h"
#include "iobus.h"
#include "memmap.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "virtio/virtio.h"
#include "virtio/virtio_pci.h"
#include "virtio/virtqueue.h"

#define SLOT        2
#define NQ          2
#define QMAX        64
#define CFG_SIZE    8
#define DEV_FEAT    ((1ULL << 0) | (1ULL << 5) | (1ULL << 40))
#define RAM_SIZE    (1u << 20)
#define MSI_ADDR    0xFEE00000ULL
#define VEC_DATA(v) (0x30u + (v))
#define MAX_IOEV    16
#define ALL_FEAT    (DEV_FEAT | (1ULL << VIRTIO_F_INDIRECT_DESC) | \
		     (1ULL << VIRTIO_F_EVENT_IDX) | (1ULL << VIRTIO_F_VERSION_1))
/* Ring areas of queue q in guest memory. */
#define Q_DESC(q)   (0x10000u + (q) * 0x4000u)
#define Q_AVAIL(q)  (Q_DESC(q) + 0x1000u)
#define Q_USED(q)   (Q_DESC(q) + 0x2000u)
#define BUF_BASE    0x40000u

/* ---- fake devhost ---- */

struct fake_host {
	unsigned sends;
	unsigned sends_by_vec[8];
	struct devhost_ioeventfd ioev[MAX_IOEV];
	unsigned nioev;
	unsigned ioev_adds, ioev_removes;
	int ioev_fail;                 /* ioeventfd_add returns this when != 0 */
	unsigned events;
	char event_name[64];
	char event_device[64];
	char event_reason[256];
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

static int fake_msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	struct fake_host *h = ctx;

	assert_true(addr == MSI_ADDR);
	h->sends++;
	if (data >= VEC_DATA(0) && data < VEC_DATA(8))
		h->sends_by_vec[data - VEC_DATA(0)]++;
	return 0;
}

static int fake_ioev_add(void *ctx, const struct devhost_ioeventfd *io)
{
	struct fake_host *h = ctx;

	if (h->ioev_fail)
		return h->ioev_fail;
	assert_true(h->nioev < MAX_IOEV);
	h->ioev[h->nioev++] = *io;
	h->ioev_adds++;
	return 0;
}

static int fake_ioev_remove(void *ctx, const struct devhost_ioeventfd *io)
{
	struct fake_host *h = ctx;

	for (unsigned i = 0; i < h->nioev; i++) {
		if (h->ioev[i].fd == io->fd && h->ioev[i].addr == io->addr) {
			h->ioev[i] = h->ioev[--h->nioev];
			h->ioev_removes++;
			return 0;
		}
	}
	fail_msg("removing an ioeventfd that is not registered");
	return -ENOENT;
}

static void fake_emit(void *ctx, const char *name, json_t *data)
{
	struct fake_host *h = ctx;
	const char *dev = NULL, *reason = NULL;

	h->events++;
	snprintf(h->event_name, sizeof(h->event_name), "%s", name);
	assert_int_equal(json_unpack(data, "{s:s,s:s}", "device", &dev, "reason", &reason), 0);
	snprintf(h->event_device, sizeof(h->event_device), "%s", dev);
	snprintf(h->event_reason, sizeof(h->event_reason), "%s", reason);
	json_decref(data);
}

static const struct devhost_ops fake_host_ops = {
	.irq_set = fake_irq_set, .event = fake_event, .clock_ns = fake_clock,
	.wallclock_ns = fake_wallclock, .msi_send = fake_msi_send,
	.ioeventfd_add = fake_ioev_add, .ioeventfd_remove = fake_ioev_remove,
	.emit = fake_emit,
};

/* ---- fake device model ---- */

struct fake_dev {
	struct virtio_dev *vd;
	uint8_t cfg[CFG_SIZE];
	unsigned activates, resets, destroys;
	uint64_t act_features;
	int activate_ret;
	unsigned notifies[NQ];
	unsigned pushed;
	unsigned cfg_writes;
	struct virtqueue_chain *chain;
};

static void assert_dev_locked(struct fake_dev *d)
{
	assert_int_equal(pthread_mutex_trylock(virtio_dev_lock(d->vd)), EBUSY);
}

static void fake_cfg_read(void *dev, unsigned off, void *data, unsigned size)
{
	struct fake_dev *d = dev;

	assert_true(off + size <= CFG_SIZE);
	memcpy(data, d->cfg + off, size);
}

static void fake_cfg_write(void *dev, unsigned off, const void *data, unsigned size)
{
	struct fake_dev *d = dev;

	assert_true(off + size <= CFG_SIZE);
	memcpy(d->cfg + off, data, size);
	d->cfg_writes++;
}

static int fake_activate(void *dev, uint64_t features)
{
	struct fake_dev *d = dev;

	assert_dev_locked(d);
	d->activates++;
	d->act_features = features;
	return d->activate_ret;
}

/* Pop everything, push it back empty, interrupt if the ring asks. */
static void fake_queue_notify(void *dev, unsigned q)
{
	struct fake_dev *d = dev;
	struct virtqueue *vq = virtio_queue(d->vd, q);
	int ret;

	assert_dev_locked(d);
	assert_true(q < NQ);
	d->notifies[q]++;
	assert_non_null(vq);
	while ((ret = virtqueue_pop(vq, d->chain)) > 0) {
		assert_int_equal(virtqueue_push(vq, d->chain->head, 0), 0);
		d->pushed++;
	}
	if (ret < 0) {
		virtio_dev_fail(d->vd, "queue %u: %s", q, virtqueue_reason(vq));
		return;
	}
	virtio_queue_interrupt(d->vd, q);
}

static void fake_reset(void *dev)
{
	struct fake_dev *d = dev;

	assert_dev_locked(d);
	d->resets++;
}

static void fake_destroy(void *dev)
{
	struct fake_dev *d = dev;

	d->destroys++;
}

static const struct virtio_device_ops fake_dev_ops = {
	.name = "virtio-fake", .device_id = VIRTIO_ID_CONSOLE,
	.cfg_read = fake_cfg_read, .cfg_write = fake_cfg_write,
	.activate = fake_activate, .queue_notify = fake_queue_notify,
	.reset = fake_reset, .destroy = fake_destroy,
};

/* ---- rig: bus, guest memory, transport ---- */

struct rig {
	struct memmap mm;
	struct pci_bus *bus;
	struct iobus pio, mmio;
	struct gmem gm;
	uint8_t *ram;
	struct fake_host host;
	struct devhost dh;
	struct fake_dev dev;
	struct virtio_dev *vd;
	uint64_t ecam, bar;
	uint16_t avail_idx[NQ];
};

static uint32_t cfg_read(struct rig *r, unsigned off, unsigned size)
{
	uint32_t v = 0;

	assert_int_equal(iobus_access(&r->mmio, r->ecam + (SLOT << 15) + off, false, &v, size), 0);
	return v;
}

static void cfg_write(struct rig *r, unsigned off, unsigned size, uint32_t v)
{
	assert_int_equal(iobus_access(&r->mmio, r->ecam + (SLOT << 15) + off, true, &v, size), 0);
}

static uint64_t bar_read(struct rig *r, uint64_t off, unsigned size)
{
	uint64_t v = 0;

	iobus_access(&r->mmio, r->bar + off, false, &v, size);
	return v;
}

static void bar_write(struct rig *r, uint64_t off, unsigned size, uint64_t v)
{
	iobus_access(&r->mmio, r->bar + off, true, &v, size);
}

/* Offset of the first vendor capability of type, or 0. */
static unsigned find_vcap(struct rig *r, uint8_t type)
{
	unsigned at = cfg_read(r, PCI_CFG_CAP_PTR, 1), n = 0;

	for (; at && n < 48; at = cfg_read(r, at + 1, 1), n++) {
		if (cfg_read(r, at, 1) == PCI_CAP_ID_VNDR &&
		    cfg_read(r, at + VIRTIO_PCI_CAP_CFG_TYPE, 1) == type)
			return at;
	}
	return 0;
}

static unsigned find_cap(struct rig *r, uint8_t id)
{
	unsigned at = cfg_read(r, PCI_CFG_CAP_PTR, 1), n = 0;

	for (; at && n < 48; at = cfg_read(r, at + 1, 1), n++) {
		if (cfg_read(r, at, 1) == id)
			return at;
	}
	return 0;
}

/* Memory decode on, MSI-X enabled with vector v -> data VEC_DATA(v). */
static void rig_enable(struct rig *r)
{
	unsigned mx = find_cap(r, PCI_CAP_ID_MSIX);

	cfg_write(r, PCI_CFG_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
	for (unsigned v = 0; v < NQ + 1; v++) {
		uint64_t e = VIRTIO_PCI_MSIX_TABLE + 16ull * v;

		bar_write(r, e, 4, (uint32_t)MSI_ADDR);
		bar_write(r, e + 4, 4, 0);
		bar_write(r, e + 8, 4, VEC_DATA(v));
		bar_write(r, e + 12, 4, 0);
	}
	assert_true(mx != 0);
	cfg_write(r, mx + 2, 2, MSIX_CTRL_ENABLE);
}

static int setup_bus(struct rig *r)
{
	uint64_t size;

	r->dh = (struct devhost){ &fake_host_ops, &r->host };
	r->ram = calloc(1, RAM_SIZE);
	assert_non_null(r->ram);
	assert_int_equal(gmem_add_region(&r->gm, 0, RAM_SIZE, r->ram), 0);
	assert_int_equal(memmap_init(&r->mm, 512 * MiB), 0);
	assert_int_equal(pci_bus_create(&r->mm, &r->bus), 0);
	iobus_init(&r->pio, "pio");
	iobus_init(&r->mmio, "mmio");
	assert_int_equal(pci_bus_attach(r->bus, &r->pio, &r->mmio), 0);
	pci_bus_ecam_window(r->bus, &r->ecam, &size);
	return 0;
}

/* BAR 0 as the guest sees it (64-bit). */
static uint64_t rig_bar0(struct rig *r)
{
	uint64_t lo = cfg_read(r, PCI_CFG_BAR0, 4), hi = cfg_read(r, PCI_CFG_BAR0 + 4, 4);

	return (hi << 32) | (lo & ~0xFull);
}

static int setup(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct virtio_dev_info info = {
		.ops = &fake_dev_ops, .dev = &r->dev, .handle = &r->dev.vd, .id = "fake0",
		.nqueues = NQ, .queue_max = QMAX, .features = DEV_FEAT, .cfg_size = CFG_SIZE,
	};

	assert_non_null(r);
	setup_bus(r);
	r->dev.chain = virtqueue_chain_new(QMAX);
	memcpy(r->dev.cfg, "\x11\x22\x33\x44\x55\x66\x77\x88", CFG_SIZE);
	assert_int_equal(virtio_pci_create(r->bus, SLOT, &(struct virtio_env){
		.host = &r->dh, .gm = &r->gm, .ncpus = 1 }, &info, &r->vd), 0);
	assert_ptr_equal(r->dev.vd, r->vd);
	r->bar = rig_bar0(r);
	*state = r;
	return 0;
}

static void teardown_bus(struct rig *r)
{
	iobus_remove_all(&r->pio);
	iobus_remove_all(&r->mmio);
	pci_bus_destroy(r->bus);
	free(r->ram);
	free(r);
}

static int teardown(void **state)
{
	struct rig *r = *state;

	virtio_pci_destroy(r->vd);
	assert_int_equal(r->dev.destroys, 1);
	virtqueue_chain_free(r->dev.chain);
	teardown_bus(r);
	return 0;
}

/* ---- driver-side helpers ---- */

static uint8_t status(struct rig *r)
{
	return (uint8_t)bar_read(r, VIRTIO_PCI_STATUS, 1);
}

static void set_status(struct rig *r, uint8_t s)
{
	bar_write(r, VIRTIO_PCI_STATUS, 1, s);
}

static void write_features(struct rig *r, uint64_t f)
{
	bar_write(r, VIRTIO_PCI_GFSELECT, 4, 0);
	bar_write(r, VIRTIO_PCI_GF, 4, (uint32_t)f);
	bar_write(r, VIRTIO_PCI_GFSELECT, 4, 1);
	bar_write(r, VIRTIO_PCI_GF, 4, (uint32_t)(f >> 32));
}

static uint64_t read_driver_features(struct rig *r)
{
	uint64_t f;

	bar_write(r, VIRTIO_PCI_GFSELECT, 4, 0);
	f = bar_read(r, VIRTIO_PCI_GF, 4);
	bar_write(r, VIRTIO_PCI_GFSELECT, 4, 1);
	return f | bar_read(r, VIRTIO_PCI_GF, 4) << 32;
}

/* Up to FEATURES_OK with features f. */
static void negotiate(struct rig *r, uint64_t f)
{
	set_status(r, 0);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	write_features(r, f);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
}

/* Queue q at its ring areas, size n, vector q + 1 (0 is the config vector). */
static void setup_queue(struct rig *r, unsigned q, unsigned n)
{
	bar_write(r, VIRTIO_PCI_Q_SELECT, 2, q);
	bar_write(r, VIRTIO_PCI_Q_SIZE, 2, n);
	bar_write(r, VIRTIO_PCI_Q_MSIX, 2, q + 1);
	bar_write(r, VIRTIO_PCI_Q_DESC, 4, Q_DESC(q));
	bar_write(r, VIRTIO_PCI_Q_DESC + 4, 4, 0);
	bar_write(r, VIRTIO_PCI_Q_AVAIL, 8, Q_AVAIL(q));
	bar_write(r, VIRTIO_PCI_Q_USED, 8, Q_USED(q));
	bar_write(r, VIRTIO_PCI_Q_ENABLE, 2, 1);
	r->avail_idx[q] = 0;
}

static void driver_ok(struct rig *r)
{
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
		   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

/* Full bring-up: features f, both queues of size 16, config vector 0. */
static void bring_up(struct rig *r, uint64_t f)
{
	rig_enable(r);
	negotiate(r, f);
	bar_write(r, VIRTIO_PCI_MSIX_CONFIG, 2, 0);
	setup_queue(r, 0, 16);
	setup_queue(r, 1, 16);
	driver_ok(r);
	virtio_pci_poll(r->vd);  /* the kicks DRIVER_OK queues */
}

static void put16(struct rig *r, uint64_t gpa, uint16_t v)
{
	assert_int_equal(gmem_write(&r->gm, gpa, &v, 2), 0);
}

static uint16_t get16(struct rig *r, uint64_t gpa)
{
	uint16_t v;

	assert_int_equal(gmem_read(&r->gm, gpa, &v, 2), 0);
	return v;
}

/* One descriptor per chain: buffer len bytes at buf, flags. Returns head. */
static uint16_t post(struct rig *r, unsigned q, uint16_t desc, uint64_t buf, uint32_t len,
		     uint16_t flags)
{
	struct { uint64_t addr; uint32_t len; uint16_t flags, next; } d = { buf, len, flags, 0 };
	uint16_t idx = r->avail_idx[q];

	assert_int_equal(gmem_write(&r->gm, Q_DESC(q) + 16ull * desc, &d, sizeof(d)), 0);
	put16(r, Q_AVAIL(q) + 4 + 2ull * (idx % 16), desc);
	r->avail_idx[q] = (uint16_t)(idx + 1);
	put16(r, Q_AVAIL(q) + 2, r->avail_idx[q]);
	return desc;
}

static void kick(struct rig *r, unsigned q)
{
	bar_write(r, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * q, 2, q);
	virtio_pci_poll(r->vd);
}

/* ---- tests: layout ---- */

static void test_ids_and_caps(void **state)
{
	struct rig *r = *state;
	unsigned common = find_vcap(r, VIRTIO_PCI_CAP_COMMON_CFG);
	unsigned notify = find_vcap(r, VIRTIO_PCI_CAP_NOTIFY_CFG);
	unsigned isr = find_vcap(r, VIRTIO_PCI_CAP_ISR_CFG);
	unsigned dev = find_vcap(r, VIRTIO_PCI_CAP_DEVICE_CFG);
	unsigned pcicfg = find_vcap(r, VIRTIO_PCI_CAP_PCI_CFG);
	unsigned mx = find_cap(r, PCI_CAP_ID_MSIX);

	assert_int_equal(cfg_read(r, PCI_CFG_VENDOR_ID, 2), 0x1AF4);
	assert_int_equal(cfg_read(r, PCI_CFG_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_CONSOLE);
	assert_int_equal(cfg_read(r, PCI_CFG_REVISION, 1), 1);
	assert_int_equal(cfg_read(r, PCI_CFG_SUBSYS_VID, 2), 0x1AF4);
	assert_true(cfg_read(r, PCI_CFG_SUBSYS_ID, 2) >= 0x40);
	assert_int_equal(cfg_read(r, PCI_CFG_REVISION, 4) >> 8, 0x078000);
	assert_int_equal(cfg_read(r, PCI_CFG_BAR0, 4) & 0x7, 0x4);  /* 64-bit memory */
	assert_true(r->bar != 0 && r->bar % VIRTIO_PCI_BAR_SIZE == 0);
	assert_true(common && notify && isr && dev && pcicfg && mx);
	assert_int_equal(cfg_read(r, common + 2, 1), 16);
	assert_int_equal(cfg_read(r, notify + 2, 1), 20);
	assert_int_equal(cfg_read(r, pcicfg + 2, 1), 20);
	for (unsigned c = 0; c < 4; c++) {
		unsigned at = (unsigned[]){ common, notify, isr, dev }[c];

		assert_int_equal(cfg_read(r, at + VIRTIO_PCI_CAP_BAR, 1), 0);
	}
	assert_int_equal(cfg_read(r, common + VIRTIO_PCI_CAP_OFFSET, 4), 0);
	assert_int_equal(cfg_read(r, common + VIRTIO_PCI_CAP_LENGTH, 4), 0x38);
	assert_int_equal(cfg_read(r, notify + VIRTIO_PCI_CAP_OFFSET, 4), 0x3000);
	assert_int_equal(cfg_read(r, notify + VIRTIO_PCI_CAP_LENGTH, 4), 4 * NQ);
	assert_int_equal(cfg_read(r, notify + VIRTIO_PCI_CAP_MULT, 4), 4);
	assert_int_equal(cfg_read(r, isr + VIRTIO_PCI_CAP_OFFSET, 4), 0x1000);
	assert_int_equal(cfg_read(r, dev + VIRTIO_PCI_CAP_OFFSET, 4), 0x2000);
	assert_int_equal(cfg_read(r, dev + VIRTIO_PCI_CAP_LENGTH, 4), CFG_SIZE);
	/* MSI-X: nqueues + 1 vectors, table and PBA in BAR 0 */
	assert_int_equal((cfg_read(r, mx + 2, 2) & MSIX_CTRL_SIZE_MASK) + 1, NQ + 1);
	assert_int_equal(cfg_read(r, mx + 4, 4), VIRTIO_PCI_MSIX_TABLE | 0);
	assert_int_equal(cfg_read(r, mx + 8, 4), VIRTIO_PCI_MSIX_PBA | 0);
	/* nothing decodes before the driver enables memory space */
	assert_int_equal(bar_read(r, VIRTIO_PCI_NUM_QUEUES, 2), 0xFFFF);
	rig_enable(r);
	assert_int_equal(bar_read(r, VIRTIO_PCI_NUM_QUEUES, 2), NQ);
	assert_int_equal(bar_read(r, VIRTIO_PCI_DEVICE_OFF, 4), 0x44332211);
	assert_int_equal(bar_read(r, VIRTIO_PCI_DEVICE_OFF + 6, 2), 0x8877);
	assert_int_equal(bar_read(r, VIRTIO_PCI_DEVICE_OFF + 6, 4), 0xFFFFFFFF); /* past the end */
	assert_int_equal(bar_read(r, 0x7000, 4), 0xFFFFFFFF);  /* no structure there */
}

/* ---- feature negotiation ---- */

static void test_feature_masking(void **state)
{
	struct rig *r = *state;

	rig_enable(r);
	bar_write(r, VIRTIO_PCI_DFSELECT, 4, 0);
	assert_int_equal(bar_read(r, VIRTIO_PCI_DF, 4), (uint32_t)ALL_FEAT);
	bar_write(r, VIRTIO_PCI_DFSELECT, 4, 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_DF, 4), (uint32_t)(ALL_FEAT >> 32));
	bar_write(r, VIRTIO_PCI_DFSELECT, 4, 7);
	assert_int_equal(bar_read(r, VIRTIO_PCI_DF, 4), 0);
	set_status(r, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	write_features(r, ~0ULL);  /* everything: only what is offered sticks */
	assert_true(read_driver_features(r) == ALL_FEAT);
	write_features(r, (1ULL << 1) | (1ULL << 5) | (1ULL << 33));
	assert_true(read_driver_features(r) == (1ULL << 5));
	bar_write(r, VIRTIO_PCI_GFSELECT, 4, 2);
	bar_write(r, VIRTIO_PCI_GF, 4, 0xFFFFFFFF);
	assert_int_equal(bar_read(r, VIRTIO_PCI_GF, 4), 0);
	assert_true(read_driver_features(r) == (1ULL << 5));
}

static void test_features_ok_needs_version_1(void **state)
{
	struct rig *r = *state;
	uint64_t f = (1ULL << 0) | (1ULL << VIRTIO_F_VERSION_1);

	rig_enable(r);
	negotiate(r, 1ULL << 0);  /* a legacy driver: no VERSION_1 */
	assert_int_equal(status(r), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	driver_ok(r);  /* DRIVER_OK without FEATURES_OK does not stick either */
	assert_int_equal(status(r) & (VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK), 0);
	assert_int_equal(r->dev.activates, 0);
	negotiate(r, f);
	assert_true(status(r) & VIRTIO_STATUS_FEATURES_OK);
	write_features(r, ALL_FEAT);  /* frozen once FEATURES_OK is set */
	assert_true(read_driver_features(r) == f);
}

/* ---- queue registers ---- */

static void test_queue_size_rules(void **state)
{
	struct rig *r = *state;
	static const uint16_t refused[] = { 0, 3, 48, QMAX * 2, 0xFFFF };

	rig_enable(r);
	bar_write(r, VIRTIO_PCI_Q_SELECT, 2, 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_SIZE, 2), QMAX);  /* default: the maximum */
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_NOFF, 2), 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	bar_write(r, VIRTIO_PCI_Q_SIZE, 2, 16);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		bar_write(r, VIRTIO_PCI_Q_SIZE, 2, refused[i]);
		assert_int_equal(bar_read(r, VIRTIO_PCI_Q_SIZE, 2), 16);
	}
	bar_write(r, VIRTIO_PCI_Q_SIZE, 2, 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_SIZE, 2), 1);
	/* vectors beyond the table read back as NO_VECTOR */
	bar_write(r, VIRTIO_PCI_Q_MSIX, 2, NQ);  /* the last of the NQ + 1 vectors */
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_MSIX, 2), NQ);
	bar_write(r, VIRTIO_PCI_Q_MSIX, 2, NQ + 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	bar_write(r, VIRTIO_PCI_MSIX_CONFIG, 2, 99);
	assert_int_equal(bar_read(r, VIRTIO_PCI_MSIX_CONFIG, 2), VIRTIO_MSI_NO_VECTOR);
	/* a queue that does not exist reads size 0 and ignores writes */
	bar_write(r, VIRTIO_PCI_Q_SELECT, 2, NQ);
	bar_write(r, VIRTIO_PCI_Q_SIZE, 2, 8);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_SIZE, 2), 0);
}

static void test_queue_registers_freeze(void **state)
{
	struct rig *r = *state;

	rig_enable(r);
	negotiate(r, 1ULL << VIRTIO_F_VERSION_1);
	setup_queue(r, 0, 16);
	/* queue 0 is enabled: its registers no longer change */
	bar_write(r, VIRTIO_PCI_Q_SIZE, 2, 8);
	bar_write(r, VIRTIO_PCI_Q_DESC, 8, 0x80000);
	bar_write(r, VIRTIO_PCI_Q_USED + 4, 4, 1);
	bar_write(r, VIRTIO_PCI_Q_MSIX, 2, 0);
	bar_write(r, VIRTIO_PCI_Q_ENABLE, 2, 0);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_SIZE, 2), 16);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_DESC, 8), Q_DESC(0));
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_USED, 8), Q_USED(0));
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_MSIX, 2), 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_ENABLE, 2), 1);
	/* queue 1 is not enabled; after DRIVER_OK it freezes all the same */
	driver_ok(r);
	assert_int_equal(r->dev.activates, 1);
	bar_write(r, VIRTIO_PCI_Q_SELECT, 2, 1);
	bar_write(r, VIRTIO_PCI_Q_SIZE, 2, 8);
	bar_write(r, VIRTIO_PCI_Q_AVAIL, 4, 0x1234);
	bar_write(r, VIRTIO_PCI_Q_ENABLE, 2, 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_SIZE, 2), QMAX);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_AVAIL, 8), 0);
	assert_int_equal(bar_read(r, VIRTIO_PCI_Q_ENABLE, 2), 0);
	virtio_pci_poll(r->vd);
	assert_null(virtio_queue(r->vd, 1));
	assert_non_null(virtio_queue(r->vd, 0));
}

/* ---- activation, notify, interrupts ---- */

static void test_driver_ok_activates(void **state)
{
	struct rig *r = *state;
	uint64_t f = (1ULL << 5) | (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX);

	assert_null(virtio_queue(r->vd, 0));
	bring_up(r, f);
	assert_int_equal(r->dev.activates, 1);
	assert_true(r->dev.act_features == f);
	assert_true(virtio_features(r->vd) == f);
	assert_int_equal(status(r), 0x0F);
	assert_non_null(virtio_queue(r->vd, 0));
	assert_non_null(virtio_queue(r->vd, 1));
	assert_null(virtio_queue(r->vd, NQ));
	/* DRIVER_OK looked at every queue once */
	assert_int_equal(r->dev.notifies[0], 1);
	assert_int_equal(r->dev.notifies[1], 1);
	assert_string_equal(virtio_dev_id(r->vd), "fake0");
	assert_null(virtio_evloop(r->vd));
}

static void test_notify_reaches_queue(void **state)
{
	struct rig *r = *state;
	unsigned before;

	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	before = r->dev.notifies[1];
	post(r, 1, 0, BUF_BASE, 64, 0);
	kick(r, 1);
	assert_int_equal(r->dev.notifies[1], before + 1);
	assert_int_equal(r->dev.pushed, 1);
	assert_int_equal(get16(r, Q_USED(1) + 2), 1);
	/* a doorbell of another width, or beyond the last queue */
	bar_write(r, VIRTIO_PCI_NOTIFY_OFF + 4, 4, 1);
	virtio_pci_poll(r->vd);
	assert_int_equal(r->dev.notifies[1], before + 2);
	bar_write(r, VIRTIO_PCI_NOTIFY_OFF + 4 * NQ, 2, NQ);
	virtio_pci_poll(r->vd);
	assert_int_equal(r->dev.notifies[0] + r->dev.notifies[1], 1 + before + 2);
	/* virtio_queue_kick from a device (any thread) runs the handler too */
	virtio_queue_kick(r->vd, 0);
	virtio_pci_poll(r->vd);
	assert_int_equal(r->dev.notifies[0], 2);
}

static void test_queue_interrupts(void **state)
{
	struct rig *r = *state;

	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	r->host.sends = 0;
	memset(r->host.sends_by_vec, 0, sizeof(r->host.sends_by_vec));
	post(r, 0, 0, BUF_BASE, 16, 0);
	kick(r, 0);
	assert_int_equal(r->host.sends_by_vec[1], 1);   /* queue 0 -> vector 1 */
	assert_int_equal(bar_read(r, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_ISR_QUEUE);
	/* the driver suppresses interrupts: used buffers, no message */
	put16(r, Q_AVAIL(0), VIRTQUEUE_AVAIL_F_NO_INTERRUPT);
	post(r, 0, 1, BUF_BASE, 16, 0);
	kick(r, 0);
	assert_int_equal(get16(r, Q_USED(0) + 2), 2);
	assert_int_equal(r->host.sends_by_vec[1], 1);
	/* a masked vector pends instead of firing; unmasking delivers it */
	put16(r, Q_AVAIL(0), 0);
	bar_write(r, VIRTIO_PCI_MSIX_TABLE + 16 + 12, 4, MSIX_VEC_MASKED);
	post(r, 0, 2, BUF_BASE, 16, 0);
	kick(r, 0);
	assert_int_equal(r->host.sends_by_vec[1], 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_MSIX_PBA, 8), 1u << 1);
	bar_write(r, VIRTIO_PCI_MSIX_TABLE + 16 + 12, 4, 0);
	assert_int_equal(r->host.sends_by_vec[1], 2);
	/* NO_VECTOR: nothing is sent */
	assert_int_equal(r->host.sends, 2);
}

static void test_event_idx_suppression(void **state)
{
	struct rig *r = *state;

	bring_up(r, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX));
	memset(r->host.sends_by_vec, 0, sizeof(r->host.sends_by_vec));
	put16(r, Q_AVAIL(0) + 4 + 2 * 16, 1);  /* used_event: interrupt when used passes 1 */
	post(r, 0, 0, BUF_BASE, 16, 0);
	kick(r, 0);
	assert_int_equal(r->host.sends_by_vec[1], 0);  /* used idx 1: not past used_event */
	post(r, 0, 1, BUF_BASE, 16, 0);
	kick(r, 0);
	assert_int_equal(r->host.sends_by_vec[1], 1);
}

static void test_isr_and_config_change(void **state)
{
	struct rig *r = *state;
	uint8_t gen;

	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	gen = (uint8_t)bar_read(r, VIRTIO_PCI_CFG_GEN, 1);
	r->host.sends_by_vec[0] = 0;
	pthread_mutex_lock(virtio_dev_lock(r->vd));
	virtio_config_changed(r->vd);
	pthread_mutex_unlock(virtio_dev_lock(r->vd));
	assert_int_equal(r->host.sends_by_vec[0], 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_CFG_GEN, 1), (uint8_t)(gen + 1));
	assert_int_equal(bar_read(r, VIRTIO_PCI_ISR_OFF, 4), VIRTIO_ISR_CONFIG);
	assert_int_equal(bar_read(r, VIRTIO_PCI_ISR_OFF, 1), 0);  /* read cleared it */
	bar_write(r, VIRTIO_PCI_ISR_OFF, 1, 3);  /* read-only */
	assert_int_equal(bar_read(r, VIRTIO_PCI_ISR_OFF, 1), 0);
	/* device configuration writes reach the device, inside the structure only */
	bar_write(r, VIRTIO_PCI_DEVICE_OFF + 4, 4, 0xA5A5A5A5);
	bar_write(r, VIRTIO_PCI_DEVICE_OFF + 6, 4, 0);
	assert_int_equal(r->dev.cfg_writes, 1);
	assert_int_equal(bar_read(r, VIRTIO_PCI_DEVICE_OFF + 4, 4), 0xA5A5A5A5);
}

/* ---- failures ---- */

static void assert_failed(struct rig *r, const char *reason_part)
{
	assert_true(status(r) & VIRTIO_STATUS_NEEDS_RESET);
	assert_int_equal(r->host.events, 1);
	assert_string_equal(r->host.event_name, "DEVICE_NEEDS_RESET");
	assert_string_equal(r->host.event_device, "fake0");
	assert_non_null(strstr(r->host.event_reason, reason_part));
	assert_int_equal(r->host.sends_by_vec[0], 1);  /* config interrupt */
	assert_true(bar_read(r, VIRTIO_PCI_ISR_OFF, 1) & VIRTIO_ISR_CONFIG);
}

static void test_queue_init_error_fails_device(void **state)
{
	struct rig *r = *state;
	unsigned resets;

	rig_enable(r);
	negotiate(r, 1ULL << VIRTIO_F_VERSION_1);
	bar_write(r, VIRTIO_PCI_MSIX_CONFIG, 2, 0);
	setup_queue(r, 0, 16);
	bar_write(r, VIRTIO_PCI_Q_SELECT, 2, 1);
	bar_write(r, VIRTIO_PCI_Q_SIZE, 2, 16);
	bar_write(r, VIRTIO_PCI_Q_DESC, 8, RAM_SIZE - 16);  /* the table runs past RAM */
	bar_write(r, VIRTIO_PCI_Q_AVAIL, 8, Q_AVAIL(1));
	bar_write(r, VIRTIO_PCI_Q_USED, 8, Q_USED(1));
	bar_write(r, VIRTIO_PCI_Q_ENABLE, 2, 1);
	driver_ok(r);
	assert_failed(r, "queue 1");
	assert_int_equal(r->dev.activates, 0);
	assert_null(virtio_queue(r->vd, 0));
	kick(r, 0);
	assert_int_equal(r->dev.notifies[0], 0);
	/* the driver resets and tries again with a good ring */
	resets = r->dev.resets;
	set_status(r, 0);
	assert_int_equal(status(r), 0);
	assert_int_equal(r->dev.resets, resets + 1);
	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	assert_int_equal(r->dev.activates, 1);
	assert_false(status(r) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_activate_error_fails_device(void **state)
{
	struct rig *r = *state;

	r->dev.activate_ret = -EIO;
	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	assert_int_equal(r->dev.activates, 1);
	assert_failed(r, "cannot start");
	assert_null(virtio_queue(r->vd, 0));
}

static void test_malformed_ring_stops_device(void **state)
{
	struct rig *r = *state;

	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	r->host.sends_by_vec[0] = 0;
	post(r, 1, 99, BUF_BASE, 16, 0);  /* head beyond the queue */
	kick(r, 1);
	assert_failed(r, "queue 1");
	/* no more queue work, a second failure is not reported again */
	post(r, 0, 0, BUF_BASE, 16, 0);
	kick(r, 0);
	assert_int_equal(r->dev.notifies[0], 1);  /* only the DRIVER_OK look */
	pthread_mutex_lock(virtio_dev_lock(r->vd));
	virtio_dev_fail(r->vd, "again");
	pthread_mutex_unlock(virtio_dev_lock(r->vd));
	assert_int_equal(r->host.events, 1);
	/* writing status keeps NEEDS_RESET; only a reset clears it */
	driver_ok(r);
	assert_true(status(r) & VIRTIO_STATUS_NEEDS_RESET);
	set_status(r, 0);
	assert_int_equal(status(r), 0);
}

/* ---- the PCI configuration access capability ---- */

static uint32_t pcicfg_read(struct rig *r, unsigned cap, uint32_t off, uint32_t len)
{
	cfg_write(r, cap + VIRTIO_PCI_CAP_BAR, 1, 0);
	cfg_write(r, cap + VIRTIO_PCI_CAP_OFFSET, 4, off);
	cfg_write(r, cap + VIRTIO_PCI_CAP_LENGTH, 4, len);
	return cfg_read(r, cap + VIRTIO_PCI_CAP_DATA, 4);
}

static void test_pci_cfg_window(void **state)
{
	struct rig *r = *state;
	unsigned cap = find_vcap(r, VIRTIO_PCI_CAP_PCI_CFG);

	/* reaches the BAR's registers even with memory decode off */
	assert_int_equal(pcicfg_read(r, cap, VIRTIO_PCI_NUM_QUEUES, 2), NQ);
	assert_int_equal(pcicfg_read(r, cap, VIRTIO_PCI_DEVICE_OFF, 4), 0x44332211);
	assert_int_equal(pcicfg_read(r, cap, VIRTIO_PCI_DEVICE_OFF + 7, 1), 0x88);
	/* a write through the window: device status */
	cfg_write(r, cap + VIRTIO_PCI_CAP_OFFSET, 4, VIRTIO_PCI_STATUS);
	cfg_write(r, cap + VIRTIO_PCI_CAP_LENGTH, 4, 1);
	cfg_write(r, cap + VIRTIO_PCI_CAP_DATA, 4, VIRTIO_STATUS_ACKNOWLEDGE);
	rig_enable(r);
	assert_int_equal(status(r), VIRTIO_STATUS_ACKNOWLEDGE);
	/* malformed windows do nothing: bad length, misaligned, other BAR, outside */
	cfg_write(r, cap + VIRTIO_PCI_CAP_LENGTH, 4, 3);
	cfg_write(r, cap + VIRTIO_PCI_CAP_DATA, 4, 0x12345678);
	assert_int_equal(status(r), VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(pcicfg_read(r, cap, VIRTIO_PCI_NUM_QUEUES, 3), 0x12345678);
	assert_int_equal(pcicfg_read(r, cap, VIRTIO_PCI_NUM_QUEUES + 1, 2), 0x12345678);
	assert_int_equal(pcicfg_read(r, cap, VIRTIO_PCI_BAR_SIZE, 4), 0x12345678);
	cfg_write(r, cap + VIRTIO_PCI_CAP_BAR, 1, 2);
	assert_int_equal(cfg_read(r, cap + VIRTIO_PCI_CAP_DATA, 4), 0x12345678);
	cfg_write(r, cap + VIRTIO_PCI_CAP_DATA, 4, 0);
	assert_int_equal(status(r), VIRTIO_STATUS_ACKNOWLEDGE);
	/* ISR read through the window clears it as a BAR read does */
	pthread_mutex_lock(virtio_dev_lock(r->vd));
	virtio_config_changed(r->vd);
	pthread_mutex_unlock(virtio_dev_lock(r->vd));
	assert_int_equal(pcicfg_read(r, cap, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_ISR_CONFIG);
	assert_int_equal(bar_read(r, VIRTIO_PCI_ISR_OFF, 1), 0);
}

/* ---- doorbells and resets ---- */

static void test_ioeventfds_follow_bar(void **state)
{
	struct rig *r = *state;
	uint64_t moved = r->bar + VIRTIO_PCI_BAR_SIZE * 4;

	assert_int_equal(r->host.nioev, 0);
	rig_enable(r);
	assert_int_equal(r->host.nioev, NQ);
	for (unsigned i = 0; i < NQ; i++) {
		assert_true(r->host.ioev[i].addr == r->bar + VIRTIO_PCI_NOTIFY_OFF + 4 * i);
		assert_int_equal(r->host.ioev[i].len, 2);
		assert_false(r->host.ioev[i].datamatch);
	}
	/* the guest moves the BAR: the doorbells move along */
	cfg_write(r, PCI_CFG_BAR0, 4, (uint32_t)moved);
	assert_int_equal(r->host.nioev, NQ);
	assert_true(r->host.ioev[0].addr == moved + VIRTIO_PCI_NOTIFY_OFF ||
		    r->host.ioev[1].addr == moved + VIRTIO_PCI_NOTIFY_OFF);
	cfg_write(r, PCI_CFG_BAR0, 4, (uint32_t)r->bar);
	/* a driver reset keeps them */
	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	set_status(r, 0);
	assert_int_equal(r->host.nioev, NQ);
	/* decode off drops them */
	cfg_write(r, PCI_CFG_COMMAND, 2, 0);
	assert_int_equal(r->host.nioev, 0);
	assert_int_equal(r->host.ioev_adds, r->host.ioev_removes);
}

static void test_ioeventfd_refused_falls_back(void **state)
{
	struct rig *r = *state;

	r->host.ioev_fail = -ENOSYS;
	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	assert_int_equal(r->host.nioev, 0);
	post(r, 0, 0, BUF_BASE, 16, 0);
	kick(r, 0);  /* the MMIO write itself signals the queue */
	assert_int_equal(r->dev.pushed, 1);
}

static void test_driver_reset(void **state)
{
	struct rig *r = *state;
	unsigned resets;

	bring_up(r, (1ULL << 5) | (1ULL << VIRTIO_F_VERSION_1));
	resets = r->dev.resets;
	post(r, 0, 0, BUF_BASE, 16, 0);
	bar_write(r, VIRTIO_PCI_NOTIFY_OFF, 2, 0);  /* pending kick, then reset */
	set_status(r, 0);
	virtio_pci_poll(r->vd);
	assert_int_equal(r->dev.notifies[0], 1);  /* the kick was dropped with the reset */
	assert_int_equal(r->dev.resets, resets + 1);
	assert_int_equal(status(r), 0);
	assert_true(read_driver_features(r) == 0);
	assert_int_equal(bar_read(r, VIRTIO_PCI_MSIX_CONFIG, 2), VIRTIO_MSI_NO_VECTOR);
	for (unsigned q = 0; q < NQ; q++) {
		bar_write(r, VIRTIO_PCI_Q_SELECT, 2, q);
		assert_int_equal(bar_read(r, VIRTIO_PCI_Q_SIZE, 2), QMAX);
		assert_int_equal(bar_read(r, VIRTIO_PCI_Q_ENABLE, 2), 0);
		assert_int_equal(bar_read(r, VIRTIO_PCI_Q_DESC, 8), 0);
		assert_int_equal(bar_read(r, VIRTIO_PCI_Q_MSIX, 2), VIRTIO_MSI_NO_VECTOR);
	}
	assert_null(virtio_queue(r->vd, 0));
}

static void test_platform_reset(void **state)
{
	struct rig *r = *state;
	uint64_t bar = r->bar;
	unsigned resets;

	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	assert_int_equal(r->host.nioev, NQ);
	resets = r->dev.resets;
	pci_bus_reset(r->bus);
	assert_int_equal(r->dev.resets, resets + 1);
	assert_int_equal(r->host.nioev, 0);  /* decode is off after reset */
	assert_int_equal(rig_bar0(r), bar);  /* the VMM's assignment is back */
	rig_enable(r);
	assert_int_equal(status(r), 0);
	assert_int_equal(r->host.nioev, NQ);
	bring_up(r, 1ULL << VIRTIO_F_VERSION_1);
	assert_int_equal(r->dev.activates, 2);
}

static void test_bad_info_refused(void **state)
{
	struct rig *r = *state;
	struct fake_dev d2 = { 0 };
	struct virtio_dev *vd = NULL, *h = NULL;
	struct virtio_dev_info info = {
		.ops = &fake_dev_ops, .dev = &d2, .handle = &h, .id = "x",
		.nqueues = 1, .queue_max = 48, .cfg_size = 4,
	};
	const struct virtio_env env = { .host = &r->dh, .gm = &r->gm };

	assert_int_equal(virtio_pci_create(r->bus, SLOT + 1, &env, &info, &vd), -EINVAL);
	info.queue_max = 64;
	info.nqueues = VIRTIO_MAX_QUEUES + 1;
	assert_int_equal(virtio_pci_create(r->bus, SLOT + 1, &env, &info, &vd), -EINVAL);
	info.nqueues = 1;
	info.id[0] = '\0';
	assert_int_equal(virtio_pci_create(r->bus, SLOT + 1, &env, &info, &vd), -EINVAL);
	snprintf(info.id, sizeof(info.id), "y");
	assert_int_equal(virtio_pci_create(r->bus, SLOT, &env, &info, &vd), -EEXIST);
	assert_null(h);
	assert_int_equal(d2.destroys, 0);  /* the device's state stays the caller's */
}

/* ---- virtio-rng behind the transport ---- */

static int setup_rng(void **state)
{
	struct rig *r = calloc(1, sizeof(*r));
	struct virtio_dev_info info;
	const struct virtio_env env = { .host = &r->dh, .gm = &r->gm, .ncpus = 1 };

	assert_non_null(r);
	setup_bus(r);
	assert_int_equal(vrng_create(&env, &info), 0);
	assert_string_equal(info.id, "rng0");
	assert_int_equal(info.nqueues, 1);
	assert_int_equal(info.cfg_size, 0);
	snprintf(info.id, sizeof(info.id), "fake0");  /* assert_failed's id */
	assert_int_equal(virtio_pci_create(r->bus, SLOT, &env, &info, &r->vd), 0);
	r->bar = rig_bar0(r);
	*state = r;
	return 0;
}

static int teardown_rng(void **state)
{
	struct rig *r = *state;

	virtio_pci_destroy(r->vd);  /* frees vrng's state */
	teardown_bus(r);
	return 0;
}

static void rng_up(struct rig *r)
{
	assert_int_equal(cfg_read(r, PCI_CFG_DEVICE_ID, 2), 0x1044);
	assert_int_equal(find_vcap(r, VIRTIO_PCI_CAP_DEVICE_CFG), 0);  /* no configuration */
	rig_enable(r);
	negotiate(r, 1ULL << VIRTIO_F_VERSION_1);
	bar_write(r, VIRTIO_PCI_MSIX_CONFIG, 2, 0);
	setup_queue(r, 0, 16);
	driver_ok(r);
	assert_int_equal(status(r), 0x0F);
	memset(r->host.sends_by_vec, 0, sizeof(r->host.sends_by_vec));
}

static uint32_t used_len(struct rig *r, unsigned i)
{
	uint32_t len;

	assert_int_equal(gmem_read(&r->gm, Q_USED(0) + 4 + 8ull * i + 4, &len, 4), 0);
	return len;
}

static void test_rng_fills_buffers(void **state)
{
	struct rig *r = *state;
	static const uint8_t zero[256];

	rng_up(r);
	post(r, 0, 0, BUF_BASE, 256, VIRTQUEUE_DESC_F_WRITE);
	post(r, 0, 1, BUF_BASE + 0x1000, 100, VIRTQUEUE_DESC_F_WRITE);
	kick(r, 0);
	assert_int_equal(get16(r, Q_USED(0) + 2), 2);
	assert_int_equal(used_len(r, 0), 256);
	assert_int_equal(used_len(r, 1), 100);
	assert_memory_not_equal(r->ram + BUF_BASE, zero, 256);
	assert_int_equal(r->ram[BUF_BASE + 0x1000 + 100], 0);  /* nothing past the buffer */
	assert_int_equal(r->host.sends_by_vec[1], 1);
	/* query: the counters */
	{
		json_t *obj = json_object();
		json_int_t req = 0, bytes = 0;

		virtio_pci_query(r->vd, obj);
		assert_int_equal(json_unpack(obj, "{s:{s:I,s:I}}", "stats", "requests", &req,
					     "bytes", &bytes), 0);
		assert_int_equal(req, 2);
		assert_int_equal(bytes, 356);
		assert_string_equal(json_string_value(json_object_get(obj, "kind")), "virtio-rng");
		json_decref(obj);
	}
}

static void test_rng_request_bounded(void **state)
{
	struct rig *r = *state;

	rng_up(r);
	post(r, 0, 0, BUF_BASE, 192 * 1024, VIRTQUEUE_DESC_F_WRITE);
	kick(r, 0);
	assert_int_equal(used_len(r, 0), 64 * 1024);
	assert_int_equal(r->ram[BUF_BASE + 64 * 1024], 0);
}

static void test_rng_readable_buffer_fails(void **state)
{
	struct rig *r = *state;

	rng_up(r);
	memset(r->ram + BUF_BASE, 0xAB, 64);
	post(r, 0, 0, BUF_BASE, 64, 0);  /* device-readable: must not be written */
	kick(r, 0);
	assert_failed(r, "not write-only");
	assert_int_equal(get16(r, Q_USED(0) + 2), 0);
	for (unsigned i = 0; i < 64; i++)
		assert_int_equal(r->ram[BUF_BASE + i], 0xAB);
	/* reset and go again */
	set_status(r, 0);
	rng_up(r);
	post(r, 0, 0, BUF_BASE, 64, VIRTQUEUE_DESC_F_WRITE);
	kick(r, 0);
	assert_int_equal(get16(r, Q_USED(0) + 2), 1);
}

static void test_rng_bad_ring_fails(void **state)
{
	struct rig *r = *state;

	rng_up(r);
	post(r, 0, 0, RAM_SIZE - 8, 64, VIRTQUEUE_DESC_F_WRITE);  /* runs past RAM */
	kick(r, 0);
	assert_failed(r, "queue 0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ids_and_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feature_masking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features_ok_needs_version_1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_size_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_registers_freeze, setup, teardown),
		cmocka_unit_test_setup_teardown(test_driver_ok_activates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_reaches_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_interrupts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx_suppression, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isr_and_config_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_init_error_fails_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activate_error_fails_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_ring_stops_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioeventfds_follow_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioeventfd_refused_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_driver_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_platform_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_info_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rng_fills_buffers, setup_rng, teardown_rng),
		cmocka_unit_test_setup_teardown(test_rng_request_bounded, setup_rng, teardown_rng),
		cmocka_unit_test_setup_teardown(test_rng_readable_buffer_fails, setup_rng,
						teardown_rng),
		cmocka_unit_test_setup_teardown(test_rng_bad_ring_fails, setup_rng, teardown_rng),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
