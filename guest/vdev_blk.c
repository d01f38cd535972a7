/* vdev_blk: virtio-blk requests (see vdev_blk.h). */
#include "glog.h"
#include "lib.h"
#include "vdev_blk.h"

#define VBLK_TIMEOUT_MS 10000

/* Device configuration offsets. */
#define CFG_CAPACITY      0
#define CFG_SIZE_MAX      8
#define CFG_SEG_MAX       12
#define CFG_BLK_SIZE      20
#define CFG_MAX_DISCARD   36
#define CFG_DISCARD_SEG   40
#define CFG_DISCARD_ALIGN 44
#define CFG_MAX_WZ        48
#define CFG_WZ_SEG        52
#define CFG_MIN_LEN       8

static void vblk_read_config(struct vblk *b)
{
	const struct virtio_dev *d = b->d;

	b->capacity = virtio_cfg64(d, CFG_CAPACITY);
	b->size_max = virtio_has(d, VBLK_F_SIZE_MAX) ? virtio_cfg32(d, CFG_SIZE_MAX) : 0;
	b->seg_max = virtio_has(d, VBLK_F_SEG_MAX) ? virtio_cfg32(d, CFG_SEG_MAX) : 1;
	b->blk_size = virtio_has(d, VBLK_F_BLK_SIZE) ? virtio_cfg32(d, CFG_BLK_SIZE) : 512;
	b->ro = virtio_has(d, VBLK_F_RO);
	b->flush = virtio_has(d, VBLK_F_FLUSH);
	b->discard = virtio_has(d, VBLK_F_DISCARD);
	b->wzeroes = virtio_has(d, VBLK_F_WRITE_ZEROES);
	b->indirect = virtio_has(d, VIRTIO_F_INDIRECT_DESC);
	if (b->discard) {
		b->max_discard_sectors = virtio_cfg32(d, CFG_MAX_DISCARD);
		b->max_discard_seg = virtio_cfg32(d, CFG_DISCARD_SEG);
		b->discard_align = virtio_cfg32(d, CFG_DISCARD_ALIGN);
	}
	if (b->wzeroes) {
		b->max_wz_sectors = virtio_cfg32(d, CFG_MAX_WZ);
		b->max_wz_seg = virtio_cfg32(d, CFG_WZ_SEG);
	}
}

int vblk_open(struct vctx *c, struct virtio_dev *d, struct vblk *b, uint16_t qmax)
{
	uint64_t want = VIRTIO_BIT(VBLK_F_SIZE_MAX) | VIRTIO_BIT(VBLK_F_SEG_MAX) |
			VIRTIO_BIT(VBLK_F_RO) | VIRTIO_BIT(VBLK_F_BLK_SIZE) |
			VIRTIO_BIT(VBLK_F_FLUSH) | VIRTIO_BIT(VBLK_F_DISCARD) |
			VIRTIO_BIT(VBLK_F_WRITE_ZEROES) |
			VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	int ret = virtio_begin(d, &c->tsc, want, 0);

	if (!ret)
		ret = virtio_queue_setup(d, &c->dma, 0, qmax);
	if (ret)
		return ret;
	if (!virtio_cfg_has(d, 0, CFG_MIN_LEN)) {
		glog("blk: %s device config is %u bytes, no capacity", d->name, d->device_len);
		return -EINVAL;
	}
	b->c = c;
	b->d = d;
	b->vq = &d->vq[0];
	vblk_read_config(b);
	if (!b->req || b->req_entries < b->vq->size) {
		b->req = vctx_alloc(c, sizeof(*b->req) * b->vq->size, 64);
		b->req_entries = b->req ? b->vq->size : 0;
	}
	if (!b->req)
		return -ENOMEM;
	virtio_ready(d);
	return 0;
}

unsigned vblk_max_segs(const struct vblk *b)
{
	unsigned n = b->seg_max ? b->seg_max : 1;

	if (n > VBLK_MAX_SEGS)
		n = VBLK_MAX_SEGS;
	if (n + 2 > b->vq->size)
		n = b->vq->size > 2 ? b->vq->size - 2u : 1u;
	return n;
}

uint32_t vblk_max_seg_bytes(const struct vblk *b)
{
	return b->size_max && b->size_max < (1u << 30) ? b->size_max : (1u << 30);
}

int vblk_submit(struct vblk *b, uint32_t type, uint64_t sector,
		const struct virtq_sg *data, unsigned nseg, bool indirect)
{
	struct virtq_sg sg[VBLK_MAX_SEGS + 2];
	int head = virtq_next_head(b->vq);
	struct vblk_req *r;

	if (head < 0)
		return head;
	if (nseg > VBLK_MAX_SEGS)
		return -EINVAL;
	r = &b->req[head];
	r->hdr = (struct vblk_hdr){ .type = type, .sector = sector };
	r->status = VBLK_S_NONE;
	r->writable = 1;
	sg[0] = (struct virtq_sg){ vctx_pa(b->c, &r->hdr), sizeof(r->hdr), false };
	for (unsigned i = 0; i < nseg; i++) {
		sg[1 + i] = data[i];
		r->writable += data[i].write ? data[i].len : 0;
	}
	sg[1 + nseg] = (struct virtq_sg){ vctx_pa(b->c, &r->status), 1, true };
	if (indirect)
		return virtq_add_indirect(b->vq, sg, nseg + 2, r->table, vctx_pa(b->c, r->table));
	return virtq_add(b->vq, sg, nseg + 2);
}

int vblk_reap(struct vblk *b, int *tag, uint8_t *status, uint32_t *len)
{
	int head = virtq_get_used(b->vq, len);

	if (head == -ENOENT)
		return head;
	if (head < 0) {
		glog("blk: %s returned a used id that is not in flight", b->d->name);
		return -EIO;
	}
	*tag = head;
	*status = b->req[head].status;
	if (*len > b->req[head].writable) {
		glog("blk: %s used length %u for %u writable bytes", b->d->name, *len,
		     b->req[head].writable);
		return -EIO;
	}
	return 0;
}

int vblk_sync(struct vblk *b, uint32_t type, uint64_t sector,
	      const struct virtq_sg *data, unsigned nseg, bool indirect, bool by_irq,
	      uint8_t *status)
{
	int tag = vblk_submit(b, type, sector, data, nseg, indirect), got, ret;
	uint32_t len;

	if (tag < 0)
		return tag;
	if (by_irq)
		virtq_intr(b->vq, true);
	virtio_kick(b->d, b->vq);
	ret = vctx_wait_used(b->c, b->vq, by_irq, VBLK_TIMEOUT_MS);
	if (ret) {
		glog("blk: %s: request type %u sector %lu not completed in %u ms (status 0x%x)",
		     b->d->name, type, sector, VBLK_TIMEOUT_MS, virtio_status(b->d));
		return ret;
	}
	ret = vblk_reap(b, &got, status, &len);
	if (!ret && got != tag)
		ret = -EIO;
	return ret;
}

const char *vblk_status_name(uint8_t status)
{
	switch (status) {
	case VBLK_S_OK: return "OK";
	case VBLK_S_IOERR: return "IOERR";
	case VBLK_S_UNSUPP: return "UNSUPP";
	case VBLK_S_NONE: return "not written";
	default: return "bad status";
	}
}
