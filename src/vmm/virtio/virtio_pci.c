/* virtio_pci: the virtio 1.x modern PCI transport (virtio 1.x section 4.1).
 * Owns one device's PCI function, capabilities, BAR 0 register file (common
 * configuration, ISR, device configuration, notify), MSI-X, the per-queue
 * eventfds (doorbells, also KVM ioeventfds while the BAR decodes) and the
 * device's lock and DEVICE_NEEDS_RESET state; implements the
 * device->transport calls of virtio.h. Layout and threads: virtio_pci.h.
 *
 * Everything the guest writes is checked here before a device model sees
 * it: features are masked to those offered, FEATURES_OK does not stick
 * without VERSION_1, queue registers freeze once the queue is enabled or
 * DRIVER_OK is set, queue sizes are powers of two up to the device's
 * maximum, MSI-X vectors out of range read back as NO_VECTOR, and device
 * configuration accesses stay inside the device's structure. */
#include "virtio/virtio_pci.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "devhost.h"
#include "iobus.h"
#include "pci/msix.h"
#include "pci/pci.h"
#include "virtio/virtqueue.h"

#define VIRTIO_PCI_PAGE        0x1000u
#define VIRTIO_PCI_REASON_MAX  256
#define VIRTIO_PCI_DOORBELL_LEN 2     /* drivers write the 16-bit queue index */

/* Feature bits the transport offers on top of the device's. */
#define VIRTIO_PCI_TRANSPORT_FEATURES \
	((1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX) | \
	 (1ULL << VIRTIO_F_VERSION_1))

struct virtio_pci_queue {
	struct virtio_dev *vd;
	unsigned index;
	uint16_t size;            /* queue_size register */
	uint16_t vector;          /* queue_msix_vector register */
	bool enabled;             /* queue_enable register */
	uint64_t desc, avail, used;
	int efd;                  /* the doorbell's eventfd */
	bool ioeventfd;           /* efd is a KVM ioeventfd at ioeventfd_addr */
	uint64_t ioeventfd_addr;
	uint64_t notifies;        /* queue_notify calls */
	struct virtqueue vq;
};

struct virtio_dev {
	pthread_mutex_t lock;     /* the device lock (virtio.h) */
	struct virtio_dev_info info;
	struct virtio_env env;
	struct pci_func *fn;
	struct msix *msix;
	unsigned pcicfg_cap;      /* offset of the PCI configuration access cap */
	uint64_t offered;         /* device features | transport features */
	uint64_t features;        /* what the driver accepted (subset of offered) */
	uint32_t dfselect, gfselect;
	uint16_t msix_config;
	uint16_t qsel;
	uint8_t status;
	uint8_t generation;
	uint8_t isr;
	bool queues_ready;        /* DRIVER_OK: every enabled queue is set up */
	bool active;              /* DRIVER_OK processed, activate succeeded */
	bool failed;              /* NEEDS_RESET: no queue work until reset */
	bool ioeventfd_warned;
	uint64_t mmio_notifies;   /* doorbell writes that exited to the VMM */
	char reason[VIRTIO_PCI_REASON_MAX];
	struct virtio_pci_queue q[VIRTIO_MAX_QUEUES];
};

/* ---- little-endian helpers ---- */

static uint64_t virtio_pci_get_le(const void *p, unsigned size)
{
	const uint8_t *b = p;
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void virtio_pci_put_le(void *p, unsigned size, uint64_t v)
{
	uint8_t *b = p;

	for (unsigned i = 0; i < size; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

/* ---- interrupts ---- */

static void virtio_pci_vector_notify(struct virtio_dev *vd, uint16_t vector)
{
	if (vector != VIRTIO_MSI_NO_VECTOR)
		msix_notify(vd->msix, vector);
}

static void virtio_pci_config_irq(struct virtio_dev *vd)
{
	vd->isr |= VIRTIO_ISR_CONFIG;
	virtio_pci_vector_notify(vd, vd->msix_config);
}

/* ---- device -> transport (virtio.h) ---- */

pthread_mutex_t *virtio_dev_lock(struct virtio_dev *vd)
{
	return &vd->lock;
}

struct virtqueue *virtio_queue(struct virtio_dev *vd, unsigned q)
{
	if (q >= vd->info.nqueues || !vd->queues_ready || !vd->q[q].enabled)
		return NULL;
	return &vd->q[q].vq;
}

void virtio_queue_interrupt(struct virtio_dev *vd, unsigned q)
{
	struct virtio_pci_queue *vq;

	if (q >= vd->info.nqueues || !vd->queues_ready)
		return;
	vq = &vd->q[q];
	if (!vq->enabled || !virtqueue_need_interrupt(&vq->vq))
		return;
	vd->isr |= VIRTIO_ISR_QUEUE;
	virtio_pci_vector_notify(vd, vq->vector);
}

bool virtio_dev_failed(const struct virtio_dev *vd)
{
	return vd->failed;
}

void virtio_queue_kick(struct virtio_dev *vd, unsigned q)
{
	uint64_t one = 1;

	if (q < vd->info.nqueues && write(vd->q[q].efd, &one, sizeof(one)) != sizeof(one))
		log_debug("virtio: %s: queue %u: kick lost: %s", vd->info.id, q, strerror(errno));
}

void virtio_dev_fail(struct virtio_dev *vd, const char *fmt, ...)
{
	va_list ap;

	if (vd->failed)
		return;  /* the first reason is the one reported */
	va_start(ap, fmt);
	vsnprintf(vd->reason, sizeof(vd->reason), fmt, ap);
	va_end(ap);
	vd->failed = true;
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	log_warn("virtio: %s (%s): device needs reset: %s", vd->info.id, vd->info.ops->name,
		 vd->reason);
	virtio_pci_config_irq(vd);
	devhost_emit(vd->env.host, "DEVICE_NEEDS_RESET",
		     json_pack("{s:s,s:s}", "device", vd->info.id, "reason", vd->reason));
}

void virtio_config_changed(struct virtio_dev *vd)
{
	vd->generation++;
	virtio_pci_config_irq(vd);
}

uint64_t virtio_features(const struct virtio_dev *vd)
{
	return vd->features;
}

const char *virtio_dev_id(const struct virtio_dev *vd)
{
	return vd->info.id;
}

struct evloop *virtio_evloop(const struct virtio_dev *vd)
{
	return vd->env.loop;
}

/* ---- queue work (event-loop thread) ---- */

/* The queue's doorbell fired (or a kick): run the device's handler. */
static void virtio_pci_queue_run(struct virtio_pci_queue *q)
{
	struct virtio_dev *vd = q->vd;
	uint64_t n;

	if (read(q->efd, &n, sizeof(n)) != sizeof(n))
		return;  /* nothing pending (drained by a reset) */
	pthread_mutex_lock(&vd->lock);
	if (vd->active && !vd->failed && q->enabled) {
		q->notifies++;
		vd->info.ops->queue_notify(vd->info.dev, q->index);
	}
	pthread_mutex_unlock(&vd->lock);
}

static void virtio_pci_on_doorbell(void *opaque, uint32_t events)
{
	virtio_pci_queue_run(opaque);
}

void virtio_pci_poll(struct virtio_dev *vd)
{
	for (unsigned i = 0; i < vd->info.nqueues; i++)
		virtio_pci_queue_run(&vd->q[i]);
}

static void virtio_pci_drain(int efd)
{
	uint64_t n;

	while (read(efd, &n, sizeof(n)) == sizeof(n))
		;
}

/* ---- reset and activation (device lock held) ---- */

static void virtio_pci_queue_defaults(struct virtio_pci_queue *q, uint16_t queue_max)
{
	virtqueue_reset(&q->vq);
	q->size = queue_max;
	q->vector = VIRTIO_MSI_NO_VECTOR;
	q->enabled = false;
	q->desc = q->avail = q->used = 0;
	virtio_pci_drain(q->efd);
}

/* Back to the power-on state (driver reset, platform reset). The doorbells'
 * ioeventfds stay: they follow the BAR. */
static void virtio_pci_reset_device(struct virtio_dev *vd)
{
	vd->info.ops->reset(vd->info.dev);
	for (unsigned i = 0; i < vd->info.nqueues; i++)
		virtio_pci_queue_defaults(&vd->q[i], vd->info.queue_max);
	vd->status = 0;
	vd->features = 0;
	vd->dfselect = vd->gfselect = 0;
	vd->msix_config = VIRTIO_MSI_NO_VECTOR;
	vd->qsel = 0;
	vd->isr = 0;
	vd->queues_ready = vd->active = vd->failed = false;
	vd->reason[0] = '\0';
}

/* DRIVER_OK: set up every enabled queue, then start the device. */
static void virtio_pci_activate(struct virtio_dev *vd)
{
	int ret;

	for (unsigned i = 0; i < vd->info.nqueues; i++) {
		struct virtio_pci_queue *q = &vd->q[i];

		if (!q->enabled)
			continue;
		ret = virtqueue_init(&q->vq, vd->env.gm, q->size, q->desc, q->avail, q->used,
				     vd->features);
		if (ret < 0) {
			virtio_dev_fail(vd, "queue %u: %s", i, virtqueue_reason(&q->vq));
			return;
		}
	}
	vd->queues_ready = true; /* activate() may already use virtio_queue() */
	ret = vd->info.ops->activate(vd->info.dev, vd->features);
	if (ret < 0) {
		vd->queues_ready = false;
		virtio_dev_fail(vd, "cannot start the device: %s", strerror(-ret));
		return;
	}
	vd->active = true;
	/* Buffers the driver made available before DRIVER_OK get looked at. */
	for (unsigned i = 0; i < vd->info.nqueues; i++) {
		if (vd->q[i].enabled)
			virtio_queue_kick(vd, i);
	}
}

/* ---- common configuration: reads build the structure's image ---- */

static struct virtio_pci_queue *virtio_pci_selected(struct virtio_dev *vd)
{
	return vd->qsel < vd->info.nqueues ? &vd->q[vd->qsel] : NULL;
}

static uint32_t virtio_pci_feature_word(uint64_t features, uint32_t select)
{
	return select < 2 ? (uint32_t)(features >> (32 * select)) : 0;
}

static void virtio_pci_common_image(struct virtio_dev *vd, uint8_t *img)
{
	const struct virtio_pci_queue *q = virtio_pci_selected(vd);

	memset(img, 0, VIRTIO_PCI_COMMON_LEN);
	virtio_pci_put_le(img + VIRTIO_PCI_DFSELECT, 4, vd->dfselect);
	virtio_pci_put_le(img + VIRTIO_PCI_DF, 4, virtio_pci_feature_word(vd->offered, vd->dfselect));
	virtio_pci_put_le(img + VIRTIO_PCI_GFSELECT, 4, vd->gfselect);
	virtio_pci_put_le(img + VIRTIO_PCI_GF, 4, virtio_pci_feature_word(vd->features, vd->gfselect));
	virtio_pci_put_le(img + VIRTIO_PCI_MSIX_CONFIG, 2, vd->msix_config);
	virtio_pci_put_le(img + VIRTIO_PCI_NUM_QUEUES, 2, vd->info.nqueues);
	img[VIRTIO_PCI_STATUS] = vd->status;
	img[VIRTIO_PCI_CFG_GEN] = vd->generation;
	virtio_pci_put_le(img + VIRTIO_PCI_Q_SELECT, 2, vd->qsel);
	if (!q)
		return;  /* a queue that does not exist reads size 0 */
	virtio_pci_put_le(img + VIRTIO_PCI_Q_SIZE, 2, q->size);
	virtio_pci_put_le(img + VIRTIO_PCI_Q_MSIX, 2, q->vector);
	virtio_pci_put_le(img + VIRTIO_PCI_Q_ENABLE, 2, q->enabled);
	virtio_pci_put_le(img + VIRTIO_PCI_Q_NOFF, 2, q->index);
	virtio_pci_put_le(img + VIRTIO_PCI_Q_DESC, 8, q->desc);
	virtio_pci_put_le(img + VIRTIO_PCI_Q_AVAIL, 8, q->avail);
	virtio_pci_put_le(img + VIRTIO_PCI_Q_USED, 8, q->used);
}

static void virtio_pci_common_read(struct virtio_dev *vd, uint64_t off, void *data,
				   unsigned size)
{
	uint8_t img[VIRTIO_PCI_COMMON_LEN];

	if (off >= VIRTIO_PCI_COMMON_LEN || size > VIRTIO_PCI_COMMON_LEN - off) {
		memset(data, 0xFF, size);
		return;
	}
	virtio_pci_common_image(vd, img);
	memcpy(data, img + off, size);
}

/* ---- common configuration: writes, one handler per register ---- */

/* A register write: shift/size say which part of a 64-bit register a
 * 32-bit access changes (0/8 for a whole register). */
typedef void (*virtio_pci_reg_fn)(struct virtio_dev *vd, unsigned reg, unsigned shift,
				  unsigned size, uint64_t val);

static uint64_t virtio_pci_merge(uint64_t old, unsigned shift, unsigned size, uint64_t val)
{
	uint64_t mask = size >= 8 ? UINT64_MAX : ((1ULL << (8 * size)) - 1) << shift;

	return (old & ~mask) | ((val << shift) & mask);
}

static uint16_t virtio_pci_vector(const struct virtio_dev *vd, uint64_t val)
{
	return val < msix_nvec(vd->msix) ? (uint16_t)val : VIRTIO_MSI_NO_VECTOR;
}

static void virtio_pci_wr_dfselect(struct virtio_dev *vd, unsigned reg, unsigned shift,
				   unsigned size, uint64_t val)
{
	vd->dfselect = (uint32_t)val;
}

static void virtio_pci_wr_gfselect(struct virtio_dev *vd, unsigned reg, unsigned shift,
				   unsigned size, uint64_t val)
{
	vd->gfselect = (uint32_t)val;
}

/* The driver's features: only bits offered stick, and only until FEATURES_OK. */
static void virtio_pci_wr_gf(struct virtio_dev *vd, unsigned reg, unsigned shift,
			     unsigned size, uint64_t val)
{
	if (vd->gfselect >= 2 || (vd->status & VIRTIO_STATUS_FEATURES_OK))
		return;
	vd->features = virtio_pci_merge(vd->features, 32 * vd->gfselect, 4, val) & vd->offered;
}

static void virtio_pci_wr_msix_config(struct virtio_dev *vd, unsigned reg, unsigned shift,
				      unsigned size, uint64_t val)
{
	vd->msix_config = virtio_pci_vector(vd, val);
}

static uint8_t virtio_pci_next_status(const struct virtio_dev *vd, uint8_t val)
{
	const uint8_t sticky = VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK |
			       VIRTIO_STATUS_NEEDS_RESET;
	uint8_t next = (uint8_t)((val & ~VIRTIO_STATUS_NEEDS_RESET) | (vd->status & sticky));

	if ((next & VIRTIO_STATUS_FEATURES_OK) && !(vd->status & VIRTIO_STATUS_FEATURES_OK) &&
	    !virtio_has_feature(vd->features, VIRTIO_F_VERSION_1))
		next &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;  /* refused: legacy drivers */
	if (!(next & VIRTIO_STATUS_FEATURES_OK))
		next &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
	return next;
}

static void virtio_pci_wr_status(struct virtio_dev *vd, unsigned reg, unsigned shift,
				 unsigned size, uint64_t val)
{
	uint8_t next;
	bool go;

	if ((val & 0xFF) == 0) {
		virtio_pci_reset_device(vd);
		return;
	}
	next = virtio_pci_next_status(vd, (uint8_t)val);
	go = (next & VIRTIO_STATUS_DRIVER_OK) && !(vd->status & VIRTIO_STATUS_DRIVER_OK);
	vd->status = next;
	if (go && !vd->failed)
		virtio_pci_activate(vd);
}

static void virtio_pci_wr_qselect(struct virtio_dev *vd, unsigned reg, unsigned shift,
				  unsigned size, uint64_t val)
{
	vd->qsel = (uint16_t)val;
}

/* The selected queue if its registers may still change, else NULL. */
static struct virtio_pci_queue *virtio_pci_writable_queue(struct virtio_dev *vd)
{
	struct virtio_pci_queue *q = virtio_pci_selected(vd);

	if (!q || q->enabled || (vd->status & VIRTIO_STATUS_DRIVER_OK))
		return NULL;
	return q;
}

static void virtio_pci_wr_qsize(struct virtio_dev *vd, unsigned reg, unsigned shift,
				unsigned size, uint64_t val)
{
	struct virtio_pci_queue *q = virtio_pci_writable_queue(vd);

	if (q && val && val <= vd->info.queue_max && !(val & (val - 1)))
		q->size = (uint16_t)val;
}

static void virtio_pci_wr_qmsix(struct virtio_dev *vd, unsigned reg, unsigned shift,
				unsigned size, uint64_t val)
{
	struct virtio_pci_queue *q = virtio_pci_writable_queue(vd);

	if (q)
		q->vector = virtio_pci_vector(vd, val);
}

static void virtio_pci_wr_qenable(struct virtio_dev *vd, unsigned reg, unsigned shift,
				  unsigned size, uint64_t val)
{
	struct virtio_pci_queue *q = virtio_pci_writable_queue(vd);

	if (q && val == 1)
		q->enabled = true;  /* writing 0 is not allowed: ignored */
}

static void virtio_pci_wr_qaddr(struct virtio_dev *vd, unsigned reg, unsigned shift,
				unsigned size, uint64_t val)
{
	struct virtio_pci_queue *q = virtio_pci_writable_queue(vd);
	uint64_t *field;

	if (!q)
		return;
	field = reg == VIRTIO_PCI_Q_DESC ? &q->desc : reg == VIRTIO_PCI_Q_AVAIL ? &q->avail :
		&q->used;
	*field = virtio_pci_merge(*field, shift, size, val);
}

struct virtio_pci_reg {
	unsigned off, size;
	virtio_pci_reg_fn write;
};

/* The writable registers; the others (device_feature, num_queues,
 * config_generation, queue_notify_off) ignore writes. */
static const struct virtio_pci_reg virtio_pci_regs[] = {
	{ VIRTIO_PCI_DFSELECT, 4, virtio_pci_wr_dfselect },
	{ VIRTIO_PCI_GFSELECT, 4, virtio_pci_wr_gfselect },
	{ VIRTIO_PCI_GF, 4, virtio_pci_wr_gf },
	{ VIRTIO_PCI_MSIX_CONFIG, 2, virtio_pci_wr_msix_config },
	{ VIRTIO_PCI_STATUS, 1, virtio_pci_wr_status },
	{ VIRTIO_PCI_Q_SELECT, 2, virtio_pci_wr_qselect },
	{ VIRTIO_PCI_Q_SIZE, 2, virtio_pci_wr_qsize },
	{ VIRTIO_PCI_Q_MSIX, 2, virtio_pci_wr_qmsix },
	{ VIRTIO_PCI_Q_ENABLE, 2, virtio_pci_wr_qenable },
	{ VIRTIO_PCI_Q_DESC, 8, virtio_pci_wr_qaddr },
	{ VIRTIO_PCI_Q_AVAIL, 8, virtio_pci_wr_qaddr },
	{ VIRTIO_PCI_Q_USED, 8, virtio_pci_wr_qaddr },
};

/* Accesses of the register's width, and 32-bit halves of 64-bit ones. */
static bool virtio_pci_reg_match(const struct virtio_pci_reg *r, uint64_t off, unsigned size)
{
	if (off == r->off && size == r->size)
		return true;
	return r->size == 8 && size == 4 && (off == r->off || off == r->off + 4);
}

static void virtio_pci_common_write(struct virtio_dev *vd, uint64_t off, const void *data,
				    unsigned size)
{
	uint64_t val = virtio_pci_get_le(data, size);

	for (size_t i = 0; i < ARRAY_SIZE(virtio_pci_regs); i++) {
		const struct virtio_pci_reg *r = &virtio_pci_regs[i];

		if (virtio_pci_reg_match(r, off, size)) {
			r->write(vd, r->off, (unsigned)(off - r->off) * 8, size, val);
			return;
		}
	}
	log_debug("virtio: %s: ignored %u-byte write at common config 0x%llx", vd->info.id,
		  size, (unsigned long long)off);
}

/* ---- ISR, device configuration, notify ---- */

static void virtio_pci_isr_read(struct virtio_dev *vd, uint64_t off, void *data, unsigned size)
{
	memset(data, off == 0 ? 0 : 0xFF, size);
	if (off != 0)
		return;
	((uint8_t *)data)[0] = vd->isr;
	vd->isr = 0;  /* reading clears */
}

static void virtio_pci_isr_write(struct virtio_dev *vd, uint64_t off, const void *data,
				 unsigned size)
{
}

static bool virtio_pci_in_device_cfg(const struct virtio_dev *vd, uint64_t off, unsigned size)
{
	return off < vd->info.cfg_size && size <= vd->info.cfg_size - off;
}

static void virtio_pci_device_read(struct virtio_dev *vd, uint64_t off, void *data,
				   unsigned size)
{
	memset(data, 0xFF, size);
	if (virtio_pci_in_device_cfg(vd, off, size))
		vd->info.ops->cfg_read(vd->info.dev, (unsigned)off, data, size);
}

static void virtio_pci_device_write(struct virtio_dev *vd, uint64_t off, const void *data,
				    unsigned size)
{
	if (vd->info.ops->cfg_write && virtio_pci_in_device_cfg(vd, off, size))
		vd->info.ops->cfg_write(vd->info.dev, (unsigned)off, data, size);
}

static void virtio_pci_notify_read(struct virtio_dev *vd, uint64_t off, void *data,
				   unsigned size)
{
	memset(data, 0, size);
}

/* A doorbell write that reached the VMM (no ioeventfd, or one of another
 * size): signal the same eventfd the ioeventfd would have. */
static void virtio_pci_notify_write(struct virtio_dev *vd, uint64_t off, const void *data,
				    unsigned size)
{
	uint64_t q = off / VIRTIO_PCI_NOTIFY_MULT;

	if (q >= vd->info.nqueues)
		return;
	vd->mmio_notifies++;
	virtio_queue_kick(vd, (unsigned)q);
}

struct virtio_pci_region {
	uint32_t off;
	void (*read)(struct virtio_dev *vd, uint64_t off, void *data, unsigned size);
	void (*write)(struct virtio_dev *vd, uint64_t off, const void *data, unsigned size);
};

/* One page each; the MSI-X pages are msix.c's (BAR hooks). */
static const struct virtio_pci_region virtio_pci_regions[] = {
	{ VIRTIO_PCI_COMMON_OFF, virtio_pci_common_read, virtio_pci_common_write },
	{ VIRTIO_PCI_ISR_OFF, virtio_pci_isr_read, virtio_pci_isr_write },
	{ VIRTIO_PCI_DEVICE_OFF, virtio_pci_device_read, virtio_pci_device_write },
	{ VIRTIO_PCI_NOTIFY_OFF, virtio_pci_notify_read, virtio_pci_notify_write },
};

/* One BAR access (device lock held); accesses outside the four structures
 * or across a page boundary read all ones and are ignored. */
static void virtio_pci_bar_access(struct virtio_dev *vd, uint64_t off, bool is_write,
				  void *data, unsigned size)
{
	uint64_t page = off / VIRTIO_PCI_PAGE * VIRTIO_PCI_PAGE;

	for (size_t i = 0; i < ARRAY_SIZE(virtio_pci_regions); i++) {
		const struct virtio_pci_region *r = &virtio_pci_regions[i];

		if (r->off != page || off + size > page + VIRTIO_PCI_PAGE)
			continue;
		if (is_write)
			r->write(vd, off - page, data, size);
		else
			r->read(vd, off - page, data, size);
		return;
	}
	if (!is_write)
		memset(data, 0xFF, size);
}

static void virtio_pci_bar_read(void *opaque, uint64_t off, void *data, unsigned size)
{
	virtio_pci_bar_access(opaque, off, false, data, size);
}

static void virtio_pci_bar_write(void *opaque, uint64_t off, const void *data, unsigned size)
{
	virtio_pci_bar_access(opaque, off, true, (void *)data, size);
}

static const struct vdev_ops virtio_pci_bar_ops = {
	.name = "virtio-pci", .read = virtio_pci_bar_read, .write = virtio_pci_bar_write,
};

/* ---- the PCI configuration access capability (bus lock + device lock) ---- */

/* The BAR access its bar/offset/length fields describe, if well formed. */
static bool virtio_pci_cfgwin(const struct virtio_dev *vd, uint32_t *off, unsigned *len)
{
	unsigned cap = vd->pcicfg_cap;
	uint32_t bar = pci_func_cfg_get(vd->fn, cap + VIRTIO_PCI_CAP_BAR, 1);

	*off = pci_func_cfg_get(vd->fn, cap + VIRTIO_PCI_CAP_OFFSET, 4);
	*len = pci_func_cfg_get(vd->fn, cap + VIRTIO_PCI_CAP_LENGTH, 4);
	return bar == VIRTIO_PCI_BAR && (*len == 1 || *len == 2 || *len == 4) &&
	       *off % *len == 0 && *off <= VIRTIO_PCI_BAR_SIZE - *len;
}

static void virtio_pci_cfgwin_read(void *opaque, unsigned off, void *data, unsigned size)
{
	struct virtio_dev *vd = opaque;
	unsigned data_off = vd->pcicfg_cap + VIRTIO_PCI_CAP_DATA, len;
	uint8_t buf[4] = { 0 };
	uint32_t boff;

	if (!virtio_pci_cfgwin(vd, &boff, &len))
		return;  /* the image's bytes stand */
	virtio_pci_bar_access(vd, boff, false, buf, len);
	for (unsigned i = 0; i < size; i++) {
		unsigned at = off + i;

		if (at >= data_off && at < data_off + 4)
			((uint8_t *)data)[i] = buf[at - data_off];
	}
}

static void virtio_pci_cfgwin_write(void *opaque, unsigned off, const void *data,
				    unsigned size)
{
	struct virtio_dev *vd = opaque;
	uint8_t buf[4];
	uint32_t boff;
	unsigned len;

	if (!virtio_pci_cfgwin(vd, &boff, &len))
		return;
	virtio_pci_put_le(buf, 4, pci_func_cfg_get(vd->fn, vd->pcicfg_cap + VIRTIO_PCI_CAP_DATA, 4));
	virtio_pci_bar_access(vd, boff, true, buf, len);
}

static const struct pci_cfg_hook_ops virtio_pci_cfgwin_ops = {
	.read = virtio_pci_cfgwin_read, .write = virtio_pci_cfgwin_write,
};

/* ---- doorbells: ioeventfds follow the BAR ---- */

static void virtio_pci_ioeventfd_del(struct virtio_dev *vd, struct virtio_pci_queue *q)
{
	struct devhost_ioeventfd io = {
		.fd = q->efd, .addr = q->ioeventfd_addr, .len = VIRTIO_PCI_DOORBELL_LEN,
	};

	if (!q->ioeventfd)
		return;
	/* -ENODEV: the hypervisor VM (and the registration with it) is gone. */
	devhost_ioeventfd_remove(vd->env.host, &io);
	q->ioeventfd = false;
}

static void virtio_pci_ioeventfd_add(struct virtio_dev *vd, struct virtio_pci_queue *q,
				     uint64_t addr)
{
	struct devhost_ioeventfd io = { .fd = q->efd, .addr = addr, .len = VIRTIO_PCI_DOORBELL_LEN };
	int ret = devhost_ioeventfd_add(vd->env.host, &io);

	if (ret == 0) {
		q->ioeventfd = true;
		q->ioeventfd_addr = addr;
	} else if (!vd->ioeventfd_warned) {
		vd->ioeventfd_warned = true;
		log_info("virtio: %s: no ioeventfd for the doorbells (%s): they exit to the VMM",
			 vd->info.id, strerror(-ret));
	}
}

static void virtio_pci_bar_map(void *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
	struct virtio_dev *vd = dev;

	for (unsigned i = 0; i < vd->info.nqueues; i++) {
		virtio_pci_ioeventfd_del(vd, &vd->q[i]);
		if (new_addr != PCI_BAR_UNMAPPED)
			virtio_pci_ioeventfd_add(vd, &vd->q[i], new_addr + VIRTIO_PCI_NOTIFY_OFF +
						 (uint64_t)i * VIRTIO_PCI_NOTIFY_MULT);
	}
}

/* Platform reset: the hypervisor VM is gone with every registration (the
 * bar_map to "unmapped" before this forgot the ioeventfds). */
static void virtio_pci_platform_reset(void *dev)
{
	struct virtio_dev *vd = dev;

	for (unsigned i = 0; i < vd->info.nqueues; i++)
		vd->q[i].ioeventfd = false;
	virtio_pci_reset_device(vd);
}

static const struct pci_func_ops virtio_pci_func_ops = {
	.bar_map = virtio_pci_bar_map, .reset = virtio_pci_platform_reset,
};

/* ---- creation ---- */

struct virtio_pci_class {
	uint16_t device_id;
	uint32_t class_code;
};

static const struct virtio_pci_class virtio_pci_classes[] = {
	{ VIRTIO_ID_NET, 0x020000 },      /* network, ethernet */
	{ VIRTIO_ID_BLOCK, 0x018000 },    /* mass storage, other */
	{ VIRTIO_ID_CONSOLE, 0x078000 },  /* communication, other */
};

static uint32_t virtio_pci_class_code(uint16_t device_id)
{
	for (size_t i = 0; i < ARRAY_SIZE(virtio_pci_classes); i++) {
		if (virtio_pci_classes[i].device_id == device_id)
			return virtio_pci_classes[i].class_code;
	}
	return 0xFF0000;  /* unassigned class */
}

static int virtio_pci_check_info(const struct virtio_dev_info *info)
{
	uint16_t qmax = info->queue_max;

	if (!info->ops || !info->handle || info->nqueues == 0 ||
	    info->nqueues > VIRTIO_MAX_QUEUES || qmax == 0 || qmax > VIRTQUEUE_MAX_SIZE ||
	    (qmax & (qmax - 1)) || info->cfg_size > VIRTIO_CFG_MAX ||
	    (info->cfg_size && !info->ops->cfg_read) || !info->ops->activate ||
	    !info->ops->queue_notify || !info->ops->reset || !info->ops->destroy ||
	    memchr(info->id, '\0', sizeof(info->id)) == NULL || info->id[0] == '\0')
		return -EINVAL;
	return 0;
}

static struct virtio_dev *virtio_pci_alloc(const struct virtio_env *env,
					   const struct virtio_dev_info *info)
{
	struct virtio_dev *vd = calloc(1, sizeof(*vd));

	if (!vd)
		return NULL;
	pthread_mutex_init(&vd->lock, NULL);
	vd->info = *info;
	vd->env = *env;
	vd->offered = info->features | VIRTIO_PCI_TRANSPORT_FEATURES;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vd->q[i] = (struct virtio_pci_queue){ .vd = vd, .index = i, .efd = -1 };
	return vd;
}

static int virtio_pci_eventfds(struct virtio_dev *vd)
{
	for (unsigned i = 0; i < vd->info.nqueues; i++) {
		struct virtio_pci_queue *q = &vd->q[i];
		int ret;

		q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (q->efd < 0)
			return -errno;
		virtio_pci_queue_defaults(q, vd->info.queue_max);
		if (!vd->env.loop)
			continue;  /* driven by virtio_pci_poll */
		ret = evloop_add(vd->env.loop, q->efd, EPOLLIN, virtio_pci_on_doorbell, q);
		if (ret < 0) {
			close(q->efd);
			q->efd = -1;
			return ret;
		}
	}
	vd->msix_config = VIRTIO_MSI_NO_VECTOR;
	return 0;
}

static int virtio_pci_add_cap(struct virtio_dev *vd, uint8_t type, unsigned len,
			      uint32_t off, uint32_t length, unsigned *at)
{
	int ret = pci_func_add_vendor_cap(vd->fn, len, at);

	if (ret == 0)
		ret = pci_func_cfg_set(vd->fn, *at + VIRTIO_PCI_CAP_CFG_TYPE, 1, type);
	if (ret == 0)
		ret = pci_func_cfg_set(vd->fn, *at + VIRTIO_PCI_CAP_BAR, 1, VIRTIO_PCI_BAR);
	if (ret == 0)
		ret = pci_func_cfg_set(vd->fn, *at + VIRTIO_PCI_CAP_OFFSET, 4, off);
	if (ret == 0)
		ret = pci_func_cfg_set(vd->fn, *at + VIRTIO_PCI_CAP_LENGTH, 4, length);
	return ret;
}

/* The PCI configuration access capability: bar, offset, length and data
 * are the driver's to write; data is hooked. */
static int virtio_pci_add_cfgwin(struct virtio_dev *vd)
{
	unsigned at;
	int ret = virtio_pci_add_cap(vd, VIRTIO_PCI_CAP_PCI_CFG, VIRTIO_PCI_CAP_LEN_EXT, 0, 0, &at);

	if (ret == 0)
		ret = pci_func_cfg_mask(vd->fn, at + VIRTIO_PCI_CAP_BAR, 1, 0xFF, 0);
	if (ret == 0)
		ret = pci_func_cfg_mask(vd->fn, at + VIRTIO_PCI_CAP_OFFSET, 4, UINT32_MAX, 0);
	if (ret == 0)
		ret = pci_func_cfg_mask(vd->fn, at + VIRTIO_PCI_CAP_LENGTH, 4, UINT32_MAX, 0);
	if (ret == 0)
		ret = pci_func_cfg_mask(vd->fn, at + VIRTIO_PCI_CAP_DATA, 4, UINT32_MAX, 0);
	if (ret == 0)
		ret = pci_func_hook_cfg(vd->fn, at + VIRTIO_PCI_CAP_DATA, 4, &virtio_pci_cfgwin_ops,
					vd, &vd->lock);
	vd->pcicfg_cap = at;
	return ret;
}

static int virtio_pci_add_caps(struct virtio_dev *vd)
{
	unsigned at, nq = vd->info.nqueues;
	int ret = virtio_pci_add_cap(vd, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_CAP_LEN,
				     VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN, &at);

	if (ret == 0)
		ret = virtio_pci_add_cap(vd, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_CAP_LEN_EXT,
					 VIRTIO_PCI_NOTIFY_OFF, nq * VIRTIO_PCI_NOTIFY_MULT, &at);
	if (ret == 0)
		ret = pci_func_cfg_set(vd->fn, at + VIRTIO_PCI_CAP_MULT, 4, VIRTIO_PCI_NOTIFY_MULT);
	if (ret == 0)
		ret = virtio_pci_add_cap(vd, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_CAP_LEN,
					 VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_ISR_LEN, &at);
	if (ret == 0 && vd->info.cfg_size)
		ret = virtio_pci_add_cap(vd, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_CAP_LEN,
					 VIRTIO_PCI_DEVICE_OFF, vd->info.cfg_size, &at);
	if (ret == 0)
		ret = virtio_pci_add_cfgwin(vd);
	return ret;
}

static int virtio_pci_plug(struct virtio_dev *vd, struct pci_bus *bus, unsigned slot)
{
	const struct virtio_dev_info *info = &vd->info;
	struct pci_func_info fi = {
		.name = info->ops->name,
		.vendor_id = VIRTIO_PCI_VENDOR_ID,
		.device_id = (uint16_t)(VIRTIO_PCI_DEVICE_BASE + info->ops->device_id),
		.subsys_vendor_id = VIRTIO_PCI_VENDOR_ID,
		.subsys_id = VIRTIO_PCI_SUBSYS_ID,
		.revision = VIRTIO_PCI_REVISION,
		.class_code = virtio_pci_class_code(info->ops->device_id),
		.bars[VIRTIO_PCI_BAR] = { PCI_BAR_MEM64, false, VIRTIO_PCI_BAR_SIZE,
					  &virtio_pci_bar_ops },
		.ops = &virtio_pci_func_ops,
		.dev = vd,
		.lock = &vd->lock,
	};
	int ret = pci_bus_add_function(bus, slot, &fi, &vd->fn);

	if (ret == 0)
		ret = msix_create(vd->fn, vd->env.host, info->nqueues + 1, VIRTIO_PCI_BAR,
				  VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA, &vd->msix);
	if (ret == 0)
		ret = virtio_pci_add_caps(vd);
	return ret;
}

/* Free the transport's side (the device's state is the caller's). */
static void virtio_pci_free(struct virtio_dev *vd)
{
	for (unsigned i = 0; i < vd->info.nqueues; i++) {
		struct virtio_pci_queue *q = &vd->q[i];

		if (q->efd < 0)
			continue;
		virtio_pci_ioeventfd_del(vd, q);
		if (vd->env.loop)
			evloop_del(vd->env.loop, q->efd);
		close(q->efd);
	}
	msix_destroy(vd->msix);
	pthread_mutex_destroy(&vd->lock);
	free(vd);
}

int virtio_pci_create(struct pci_bus *bus, unsigned slot, const struct virtio_env *env,
		      const struct virtio_dev_info *info, struct virtio_dev **out)
{
	struct virtio_dev *vd;
	int ret = virtio_pci_check_info(info);

	if (ret < 0) {
		log_error("virtio: %s: malformed device description",
			  info->ops && info->ops->name ? info->ops->name : "?");
		return ret;
	}
	vd = virtio_pci_alloc(env, info);
	if (!vd)
		return -ENOMEM;
	*info->handle = vd;
	ret = virtio_pci_eventfds(vd);
	/* A failure after the function is plugged leaves an inert function
	 * behind (the bus cannot unplug); the VM then never starts. */
	if (ret == 0)
		ret = virtio_pci_plug(vd, bus, slot);
	if (ret < 0) {
		log_error("virtio: %s: cannot plug into PCI slot %u: %s", info->id, slot,
			  strerror(-ret));
		*info->handle = NULL;
		virtio_pci_free(vd);
		return ret;
	}
	*out = vd;
	return 0;
}

void virtio_pci_destroy(struct virtio_dev *vd)
{
	uint64_t notifies = 0;

	if (!vd)
		return;
	for (unsigned i = 0; i < vd->info.nqueues; i++)
		notifies += vd->q[i].notifies;
	log_info("virtio: %s: %llu queue notifies, %llu doorbell writes exited to the VMM",
		 vd->info.id, (unsigned long long)notifies, (unsigned long long)vd->mmio_notifies);
	vd->info.ops->destroy(vd->info.dev);
	virtio_pci_free(vd);
}

/* ---- control socket ---- */

uint16_t virtio_pci_device_id(const struct virtio_dev *vd)
{
	return vd->info.ops->device_id;
}

const char *virtio_pci_kind(const struct virtio_dev *vd)
{
	return vd->info.ops->name;
}

static json_t *virtio_pci_queue_facts(const struct virtio_dev *vd)
{
	json_t *list = json_array();

	for (unsigned i = 0; list && i < vd->info.nqueues; i++) {
		const struct virtio_pci_queue *q = &vd->q[i];

		json_array_append_new(list, json_pack("{s:i,s:i,s:b,s:I,s:b}", "index", i,
			"size", q->size, "enabled", q->enabled, "notifies", (json_int_t)q->notifies,
			"ioeventfd", q->ioeventfd));
	}
	return list;
}

void virtio_pci_query(struct virtio_dev *vd, json_t *obj)
{
	pthread_mutex_lock(&vd->lock);
	json_object_set_new(obj, "id", json_string(vd->info.id));
	json_object_set_new(obj, "kind", json_string(vd->info.ops->name));
	json_object_set_new(obj, "slot", json_integer(pci_func_slot(vd->fn)));
	json_object_set_new(obj, "status", json_integer(vd->status));
	json_object_set_new(obj, "features", json_integer((json_int_t)vd->features));
	json_object_set_new(obj, "offered", json_integer((json_int_t)vd->offered));
	json_object_set_new(obj, "needs-reset", vd->failed ? json_string(vd->reason) : json_null());
	json_object_set_new(obj, "mmio-notifies", json_integer((json_int_t)vd->mmio_notifies));
	json_object_set_new(obj, "queues", virtio_pci_queue_facts(vd));
	if (vd->info.ops->query)
		vd->info.ops->query(vd->info.dev, obj);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_pci_query_device(struct virtio_dev *vd, json_t *obj)
{
	pthread_mutex_lock(&vd->lock);
	json_object_set_new(obj, "id", json_string(vd->info.id));
	if (vd->info.ops->query)
		vd->info.ops->query(vd->info.dev, obj);
	pthread_mutex_unlock(&vd->lock);
}

int virtio_pci_set_link(struct virtio_dev *vd, bool up)
{
	int ret = -ENOTSUP;

	pthread_mutex_lock(&vd->lock);
	if (vd->info.ops->set_link)
		ret = vd->info.ops->set_link(vd->info.dev, up);
	pthread_mutex_unlock(&vd->lock);
	return ret;
}

int virtio_pci_set_rate_limit(struct virtio_dev *vd, const struct config_ratelimit *limit)
{
	int ret = -ENOTSUP;

	pthread_mutex_lock(&vd->lock);
	if (vd->info.ops->set_rate_limit)
		ret = vd->info.ops->set_rate_limit(vd->info.dev, limit);
	pthread_mutex_unlock(&vd->lock);
	return ret;
}

int virtio_pci_balloon_set(struct virtio_dev *vd, uint64_t target)
{
	int ret = -ENOTSUP;

	pthread_mutex_lock(&vd->lock);
	if (vd->info.ops->balloon_set)
		ret = vd->info.ops->balloon_set(vd->info.dev, target);
	pthread_mutex_unlock(&vd->lock);
	return ret;
}
