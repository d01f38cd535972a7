/* vdev_rng: virtio-rng requests (see vdev_rng.h). */
#include "glog.h"
#include "lib.h"
#include "vdev_rng.h"

#define VRNG_QUEUE_MAX 64
#define VRNG_TIMEOUT_MS 5000

int vrng_open(struct vctx *c, struct virtio_dev *d, struct vrng *r)
{
	int ret = virtio_begin(d, &c->tsc, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
			       VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 0);

	if (!ret)
		ret = virtio_queue_setup(d, &c->dma, 0, VRNG_QUEUE_MAX);
	if (ret)
		return ret;
	r->c = c;
	r->d = d;
	r->vq = &d->vq[0];
	virtio_ready(d);
	return 0;
}

int vrng_read(struct vrng *r, void *buf, uint32_t len, bool by_irq, uint32_t *got)
{
	struct virtq_sg sg = { vctx_pa(r->c, buf), len, true };
	int head = virtq_add(r->vq, &sg, 1), ret;

	if (head < 0)
		return head;
	if (by_irq)
		virtq_intr(r->vq, true);
	virtio_kick(r->d, r->vq);
	ret = vctx_wait_used(r->c, r->vq, by_irq, VRNG_TIMEOUT_MS);
	if (ret) {
		glog("rng: %s: no used buffer within %u ms (status 0x%x)", r->d->name,
		     VRNG_TIMEOUT_MS, virtio_status(r->d));
		return ret;
	}
	ret = virtq_get_used(r->vq, got);
	if (ret != head) {
		glog("rng: %s: used id %d, expected %d", r->d->name, ret, head);
		return -EIO;
	}
	if (*got > len) {
		glog("rng: %s: device claims %u bytes written into %u", r->d->name, *got, len);
		return -EIO;
	}
	return 0;
}
