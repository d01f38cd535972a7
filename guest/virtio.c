/* virtio: modern virtio-pci transport, driver side (see virtio.h). The
 * capabilities and everything read from the device are checked before
 * use: regions must lie inside their BARs, registers that must read back
 * what was written (FEATURES_OK, MSI-X vectors) are verified. */
#include "glog.h"
#include "io.h"
#include "kshared.h"
#include "lib.h"
#include "virtio.h"

/* Common configuration structure. */
#define CC_DFSELECT      0
#define CC_DF            4
#define CC_GFSELECT      8
#define CC_GF            12
#define CC_MSIX_CONFIG   16
#define CC_NUM_QUEUES    18
#define CC_STATUS        20
#define CC_GENERATION    21
#define CC_Q_SELECT      22
#define CC_Q_SIZE        24
#define CC_Q_MSIX        26
#define CC_Q_ENABLE      28
#define CC_Q_NOTIFY_OFF  30
#define CC_Q_DESC        32
#define CC_Q_DRIVER      40
#define CC_Q_DEVICE      48

/* Vendor capability fields. */
#define CAP_LEN          2
#define CAP_TYPE         3
#define CAP_BAR          4
#define CAP_OFFSET       8
#define CAP_LENGTH       12
#define CAP_NOTIFY_MULT  16
#define CAP_PCICFG_DATA  16
#define CAP_MIN_LEN      16
#define CAP_EXT_LEN      20
#define CAP_BAR_MAX      5

#define RESET_TIMEOUT_MS 1000
#define GEN_TRIES        100

static const char *const virtio_names[] = {
	[VIRTIO_ID_NET] = "net", [VIRTIO_ID_BLK] = "blk",
	[VIRTIO_ID_CONSOLE] = "console", [VIRTIO_ID_RNG] = "rng",
	[VIRTIO_ID_VSOCK] = "vsock",
};

const char *virtio_id_name(uint16_t id)
{
	if (id < sizeof(virtio_names) / sizeof(virtio_names[0]) && virtio_names[id])
		return virtio_names[id];
	return "virtio";
}

uint16_t virtio_pci_id(const struct pci_fn *f)
{
	if (f->vendor != VIRTIO_PCI_VENDOR)
		return 0;
	if (f->device >= VIRTIO_PCI_MODERN_BASE && f->device < VIRTIO_PCI_MODERN_BASE + 0x40)
		return (uint16_t)(f->device - VIRTIO_PCI_MODERN_BASE);
	if (f->device >= 0x1000 && f->device < 0x1040)
		return f->subsys_id;       /* transitional: ID in the subsystem */
	return 0;
}

/* One vendor capability at p (inside the list, cap_len checked). */
static int virtio_cap_one(const uint8_t *cfg, uint8_t p, struct virtio_caps *c)
{
	uint8_t len = cfg[p + CAP_LEN], type = cfg[p + CAP_TYPE], bar = cfg[p + CAP_BAR];
	struct virtio_region *r;

	if (len < CAP_MIN_LEN || p + len > PCI_CFG_SIZE)
		return -EINVAL;
	if (type == VIRTIO_CAP_PCI_CFG) {
		if (len < CAP_EXT_LEN)
			return -EINVAL;
		if (!c->pcicfg)
			c->pcicfg = p;
		return 0;
	}
	if (type == 0 || type >= VIRTIO_CAP_TYPES || bar > CAP_BAR_MAX)
		return 0;                   /* other types, reserved BARs: ignored */
	r = &c->region[type];
	if (r->present)
		return 0;                   /* the first one of a type is used */
	if (type == VIRTIO_CAP_NOTIFY) {
		if (len < CAP_EXT_LEN)
			return -EINVAL;
		c->notify_mult = lib_get32(cfg + p + CAP_NOTIFY_MULT);
	}
	r->present = true;
	r->bar = bar;
	r->offset = lib_get32(cfg + p + CAP_OFFSET);
	r->length = lib_get32(cfg + p + CAP_LENGTH);
	return 0;
}

int virtio_caps_parse(const uint8_t *cfg, struct virtio_caps *c)
{
	uint8_t pos[PCI_CAPS_MAX];
	int n = pci_caps_list(cfg, pos, PCI_CAPS_MAX), ret;

	*c = (struct virtio_caps){ 0 };
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		if (cfg[pos[i]] != PCI_CAP_ID_VENDOR)
			continue;
		ret = virtio_cap_one(cfg, pos[i], c);
		if (ret)
			return ret;
	}
	if (!c->region[VIRTIO_CAP_COMMON].present || !c->region[VIRTIO_CAP_NOTIFY].present ||
	    !c->region[VIRTIO_CAP_ISR].present)
		return -ENOENT;
	if (c->region[VIRTIO_CAP_COMMON].length < VIRTIO_COMMON_MIN_LEN ||
	    c->region[VIRTIO_CAP_ISR].length < 1)
		return -EINVAL;
	return 0;
}

/* Address of a region, checked against its BAR. 0 if absent. */
static int virtio_map(struct virtio_dev *d, unsigned type, uint64_t *addr)
{
	const struct virtio_region *r = &d->caps.region[type];
	uint64_t base, size;
	int ret;

	*addr = 0;
	if (!r->present)
		return 0;
	ret = pci_bar_addr(&d->pci, d->cfg, r->bar, &base);
	if (ret)
		return ret;
	size = pci_bar_size(&d->pci, r->bar);
	if (r->offset > size || r->length > size - r->offset) {
		glog("virtio: %s region type %u (0x%x+0x%x) outside BAR%u (0x%lx bytes)",
		     d->name, type, r->offset, r->length, r->bar, size);
		return -EINVAL;
	}
	*addr = base + r->offset;
	return 0;
}

static int virtio_map_all(struct virtio_dev *d)
{
	int ret = virtio_map(d, VIRTIO_CAP_COMMON, &d->common);

	if (!ret)
		ret = virtio_map(d, VIRTIO_CAP_NOTIFY, &d->notify);
	if (!ret)
		ret = virtio_map(d, VIRTIO_CAP_ISR, &d->isr);
	if (!ret)
		ret = virtio_map(d, VIRTIO_CAP_DEVICE, &d->device);
	d->device_len = d->device ? d->caps.region[VIRTIO_CAP_DEVICE].length : 0;
	return ret;
}

/* MSI-X: entry 0 -> vec_cfg, entries 1.. -> vec_queue; then enable. A
 * device without the capability (QEMU's virtio-balloon-pci) opens with
 * msix.nvec = 0 and no vectors: its users poll the rings and the ISR. */
static int virtio_msix_setup(struct virtio_dev *d)
{
	int ret = pci_msix_init(&d->pci, d->cfg, &d->msix);

	if (ret == -ENOENT) {
		glog("virtio: %s has no MSI-X capability: polled", d->name);
		d->msix.nvec = 0;
		return 0;
	}
	if (ret) {
		glog("virtio: %s has no usable MSI-X capability", d->name);
		return ret;
	}
	for (uint16_t e = 0; e < d->msix.nvec && e <= VIRTIO_MAX_QUEUES; e++)
		pci_msix_route(&d->msix, e, d->apic_id,
			       (uint8_t)(VEC_MSIX_BASE + (e ? d->vec_queue : d->vec_cfg)));
	pci_msix_enable(&d->pci, &d->msix, true);
	return 0;
}

/* The same field through the BAR and the PCI configuration access cap. */
static int virtio_pcicfg_check(const struct virtio_dev *d)
{
	uint32_t v;
	int ret = virtio_pcicfg_read(d, VIRTIO_CAP_COMMON, CC_NUM_QUEUES, 2, &v);

	if (ret) {
		glog("virtio: %s has no PCI configuration access capability", d->name);
		return ret;
	}
	if (v != io_mmio_read16(d->common + CC_NUM_QUEUES)) {
		glog("virtio: %s num_queues %u via PCI cfg cap, %u via BAR", d->name, v,
		     io_mmio_read16(d->common + CC_NUM_QUEUES));
		return -EIO;
	}
	if (d->device_len >= 4 &&
	    (virtio_pcicfg_read(d, VIRTIO_CAP_DEVICE, 0, 4, &v) ||
	     v != io_mmio_read32(d->device))) {
		glog("virtio: %s device config dword 0: 0x%x via PCI cfg cap, 0x%x via BAR",
		     d->name, v, io_mmio_read32(d->device));
		return -EIO;
	}
	return 0;
}

int virtio_open(struct virtio_dev *d, const struct pci_fn *f, uint8_t apic_id,
		uint8_t vec_cfg, uint8_t vec_queue)
{
	int ret;

	d->pci = *f;
	d->id = virtio_pci_id(f);
	d->apic_id = apic_id;
	d->vec_cfg = vec_cfg;
	d->vec_queue = vec_queue;
	pci_snapshot(f, d->cfg);
	ret = virtio_caps_parse(d->cfg, &d->caps);
	if (ret) {
		glog("virtio: %s: %s vendor capabilities", d->name,
		     ret == -ENOENT ? "missing" : "malformed");
		return ret;
	}
	ret = virtio_map_all(d);
	if (ret)
		return ret;
	pci_enable(f); /* memory decode on before the first BAR read */
	d->num_queues = io_mmio_read16(d->common + CC_NUM_QUEUES);
	ret = virtio_msix_setup(d);
	return ret ? ret : virtio_pcicfg_check(d);
}

uint8_t virtio_status(const struct virtio_dev *d)
{
	return io_mmio_read8(d->common + CC_STATUS);
}

static void virtio_status_set(const struct virtio_dev *d, uint8_t bits)
{
	io_mmio_write8(d->common + CC_STATUS, (uint8_t)(virtio_status(d) | bits));
}

void virtio_fail(struct virtio_dev *d)
{
	virtio_status_set(d, VIRTIO_S_FAILED);
}

int virtio_reset(struct virtio_dev *d, const struct tsc *t)
{
	uint64_t end = tsc_deadline(t, RESET_TIMEOUT_MS);

	io_mmio_write8(d->common + CC_STATUS, 0);
	while (virtio_status(d) != 0) {
		if (tsc_passed(end)) {
			glog("virtio: %s status stays 0x%x after reset", d->name, virtio_status(d));
			return -ETIMEDOUT;
		}
		io_pause();
	}
	d->features = 0;
	return 0;
}

static uint64_t virtio_read_features(const struct virtio_dev *d)
{
	uint64_t lo, hi;

	io_mmio_write32(d->common + CC_DFSELECT, 0);
	lo = io_mmio_read32(d->common + CC_DF);
	io_mmio_write32(d->common + CC_DFSELECT, 1);
	hi = io_mmio_read32(d->common + CC_DF);
	return hi << 32 | lo;
}

static void virtio_write_features(const struct virtio_dev *d, uint64_t f)
{
	io_mmio_write32(d->common + CC_GFSELECT, 0);
	io_mmio_write32(d->common + CC_GF, (uint32_t)f);
	io_mmio_write32(d->common + CC_GFSELECT, 1);
	io_mmio_write32(d->common + CC_GF, (uint32_t)(f >> 32));
}

/* FEATURES_OK, check it stuck, configuration vector to entry 0. */
static int virtio_features_ok(struct virtio_dev *d)
{
	uint16_t cfg_vec = d->msix.nvec ? 0 : VIRTIO_NO_VECTOR;

	virtio_status_set(d, VIRTIO_S_FEATURES_OK);
	if (!(virtio_status(d) & VIRTIO_S_FEATURES_OK)) {
		glog("virtio: %s refused features 0x%lx", d->name, d->features);
		virtio_fail(d);
		return -ENODEV;
	}
	io_mmio_write16(d->common + CC_MSIX_CONFIG, cfg_vec);
	if (io_mmio_read16(d->common + CC_MSIX_CONFIG) != cfg_vec) {
		glog("virtio: %s refused MSI-X entry 0 for configuration changes", d->name);
		return -EIO;
	}
	d->num_queues = io_mmio_read16(d->common + CC_NUM_QUEUES);
	return 0;
}

int virtio_begin(struct virtio_dev *d, const struct tsc *t, uint64_t wanted,
		 uint64_t required)
{
	int ret = virtio_reset(d, t);

	if (ret)
		return ret;
	virtio_status_set(d, VIRTIO_S_ACKNOWLEDGE);
	virtio_status_set(d, VIRTIO_S_DRIVER);
	d->offered = virtio_read_features(d);
	required |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if ((d->offered & required) != required) {
		glog("virtio: %s lacks required features 0x%lx (offers 0x%lx)", d->name,
		     required & ~d->offered, d->offered);
		virtio_fail(d);
		return -ENODEV;
	}
	d->features = d->offered & (wanted | required);
	virtio_write_features(d, d->features);
	return virtio_features_ok(d);
}

bool virtio_has(const struct virtio_dev *d, unsigned feature)
{
	return (d->features >> feature) & 1;
}

static uint16_t virtio_pow2_floor(uint16_t v)
{
	uint16_t p = 1;

	while ((uint32_t)p * 2 <= v)
		p = (uint16_t)(p * 2);
	return p;
}

/* Queue memory for q (at least size entries), allocated once. */
static void *virtio_queue_mem(struct virtio_dev *d, struct dma *dma, uint16_t q,
			      uint16_t size)
{
	if (!d->vq_mem[q] || d->vq_mem_entries[q] < size) {
		d->vq_mem[q] = dma_alloc(dma, virtq_mem_size(size), 4096);
		d->vq_mem_entries[q] = d->vq_mem[q] ? size : 0;
	}
	return d->vq_mem[q];
}

/* Program the selected queue's registers from vq; 0 or -EIO/-EINVAL. */
static int virtio_queue_regs(struct virtio_dev *d, const struct virtq *vq)
{
	uint16_t entry = !d->msix.nvec ? VIRTIO_NO_VECTOR :
			 d->msix.nvec > 1 + vq->index ? (uint16_t)(1 + vq->index) :
			 (uint16_t)(d->msix.nvec - 1);
	uint64_t noff;

	io_mmio_write16(d->common + CC_Q_SIZE, vq->size);
	io_mmio_write64(d->common + CC_Q_DESC, vq->desc_pa);
	io_mmio_write64(d->common + CC_Q_DRIVER, vq->avail_pa);
	io_mmio_write64(d->common + CC_Q_DEVICE, vq->used_pa);
	io_mmio_write16(d->common + CC_Q_MSIX, entry);
	if (io_mmio_read16(d->common + CC_Q_MSIX) != entry) {
		glog("virtio: %s queue %u refused MSI-X entry %u", d->name, vq->index, entry);
		return -EIO;
	}
	noff = (uint64_t)io_mmio_read16(d->common + CC_Q_NOTIFY_OFF) * d->caps.notify_mult;
	if (noff + 2 > d->caps.region[VIRTIO_CAP_NOTIFY].length) {
		glog("virtio: %s queue %u doorbell 0x%lx outside the notify region", d->name,
		     vq->index, noff);
		return -EINVAL;
	}
	d->vq_notify[vq->index] = d->notify + noff;
	io_mmio_write16(d->common + CC_Q_ENABLE, 1);
	return 0;
}

int virtio_queue_setup(struct virtio_dev *d, struct dma *dma, uint16_t q, uint16_t max)
{
	uint16_t dev_size, size;
	void *mem;
	int ret;

	if (q >= d->num_queues || q >= VIRTIO_MAX_QUEUES)
		return -ENOENT;
	io_mmio_write16(d->common + CC_Q_SELECT, q);
	dev_size = io_mmio_read16(d->common + CC_Q_SIZE);
	if (!dev_size)
		return -ENOENT;
	size = virtio_pow2_floor(dev_size < max ? dev_size : max);
	if (size > VIRTQ_MAX_SIZE)
		size = VIRTQ_MAX_SIZE;
	mem = virtio_queue_mem(d, dma, q, size);
	if (!mem)
		return -ENOMEM;
	ret = virtq_init(&d->vq[q], q, size, virtio_has(d, VIRTIO_F_EVENT_IDX), mem,
			 dma_pa(dma, mem));
	return ret ? ret : virtio_queue_regs(d, &d->vq[q]);
}

void virtio_ready(struct virtio_dev *d)
{
	virtio_status_set(d, VIRTIO_S_DRIVER_OK);
}

void virtio_notify(const struct virtio_dev *d, const struct virtq *vq)
{
	io_mmio_write16(d->vq_notify[vq->index], vq->index);
}

void virtio_kick(const struct virtio_dev *d, struct virtq *vq)
{
	if (virtq_kick_prepare(vq))
		virtio_notify(d, vq);
}

uint8_t virtio_isr(const struct virtio_dev *d)
{
	return io_mmio_read8(d->isr);
}

bool virtio_cfg_has(const struct virtio_dev *d, uint32_t off, uint32_t width)
{
	return d->device && off <= d->device_len && width <= d->device_len - off;
}

/* width-byte read of device config at off, generation-consistent. */
static uint64_t virtio_cfg_read(const struct virtio_dev *d, uint32_t off, unsigned width)
{
	uint64_t v = 0, a = d->device + off;
	uint8_t gen;

	if (!virtio_cfg_has(d, off, width))
		return 0;
	for (unsigned i = 0; i < GEN_TRIES; i++) {
		gen = io_mmio_read8(d->common + CC_GENERATION);
		switch (width) {
		case 1: v = io_mmio_read8(a); break;
		case 2: v = io_mmio_read16(a); break;
		case 4: v = io_mmio_read32(a); break;
		default: v = io_mmio_read64(a); break;
		}
		if (gen == io_mmio_read8(d->common + CC_GENERATION))
			break;
	}
	return v;
}

uint8_t virtio_cfg8(const struct virtio_dev *d, uint32_t off)
{
	return (uint8_t)virtio_cfg_read(d, off, 1);
}

uint16_t virtio_cfg16(const struct virtio_dev *d, uint32_t off)
{
	return (uint16_t)virtio_cfg_read(d, off, 2);
}

uint32_t virtio_cfg32(const struct virtio_dev *d, uint32_t off)
{
	return (uint32_t)virtio_cfg_read(d, off, 4);
}

uint64_t virtio_cfg64(const struct virtio_dev *d, uint32_t off)
{
	return virtio_cfg_read(d, off, 8);
}

int virtio_pcicfg_read(const struct virtio_dev *d, unsigned type, uint32_t off,
		       unsigned width, uint32_t *out)
{
	const struct virtio_region *r = type < VIRTIO_CAP_TYPES ? &d->caps.region[type] : 0;
	uint8_t cap = d->caps.pcicfg;
	uint32_t v;

	if (!cap || !r || !r->present)
		return -ENOENT;
	if ((width != 1 && width != 2 && width != 4) || off % width ||
	    off > r->length || width > r->length - off)
		return -EINVAL;
	pci_write8(&d->pci, (uint16_t)(cap + CAP_BAR), r->bar);
	pci_write32(&d->pci, (uint16_t)(cap + CAP_OFFSET), r->offset + off);
	pci_write32(&d->pci, (uint16_t)(cap + CAP_LENGTH), width);
	v = pci_read32(&d->pci, (uint16_t)(cap + CAP_PCICFG_DATA));
	*out = width == 4 ? v : v & ((1u << (8 * width)) - 1);
	return 0;
}

uint64_t virtio_cfg_irqs(const struct virtio_dev *d)
{
	return kshared.msix[d->vec_cfg];
}

uint64_t virtio_queue_irqs(const struct virtio_dev *d)
{
	return kshared.msix[d->vec_queue];
}
