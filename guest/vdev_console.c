/* vdev_console: virtio-console port 0 I/O (see vdev_console.h). */
#include "glog.h"
#include "lib.h"
#include "vdev_console.h"

#define VCONS_QUEUE_MAX 64
#define VCONS_RXQ 0
#define VCONS_TXQ 1

static int vcons_post(struct vcons *v, unsigned slot)
{
	struct virtq_sg sg = { vctx_pa(v->c, v->rxbuf + slot * VCONS_BUF), VCONS_BUF, true };
	int head = virtq_add(v->rx, &sg, 1);

	v->rx_head[slot] = head;
	return head < 0 ? head : 0;
}

int vcons_open(struct vctx *c, struct virtio_dev *d, struct vcons *v)
{
	int ret = virtio_begin(d, &c->tsc, VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
			       VIRTIO_BIT(VIRTIO_F_EVENT_IDX), 0);

	if (!ret)
		ret = virtio_queue_setup(d, &c->dma, VCONS_RXQ, VCONS_QUEUE_MAX);
	if (!ret)
		ret = virtio_queue_setup(d, &c->dma, VCONS_TXQ, VCONS_QUEUE_MAX);
	if (ret)
		return ret;
	v->c = c;
	v->d = d;
	v->rx = &d->vq[VCONS_RXQ];
	v->tx = &d->vq[VCONS_TXQ];
	if (!v->rxbuf)
		v->rxbuf = vctx_alloc(c, VCONS_RX_BUFS * VCONS_BUF, 64);
	if (!v->txbuf)
		v->txbuf = vctx_alloc(c, VCONS_BUF, 64);
	if (!v->rxbuf || !v->txbuf)
		return -ENOMEM;
	virtio_ready(d);
	for (unsigned i = 0; i < VCONS_RX_BUFS && !ret; i++)
		ret = vcons_post(v, i);
	virtio_kick(d, v->rx);
	return ret;
}

int vcons_write(struct vcons *v, const void *data, uint32_t len, uint64_t ms)
{
	struct virtq_sg sg = { vctx_pa(v->c, v->txbuf), len, false };
	uint32_t used;
	int head, ret;

	if (len == 0 || len > VCONS_BUF)
		return -EINVAL;
	__builtin_memcpy(v->txbuf, data, len);
	head = virtq_add(v->tx, &sg, 1);
	if (head < 0)
		return head;
	virtq_intr(v->tx, true);
	virtio_kick(v->d, v->tx);
	ret = vctx_wait_used(v->c, v->tx, true, ms);
	if (ret)
		return ret;
	ret = virtq_get_used(v->tx, &used);
	return ret == head ? 0 : -EIO;
}

static int vcons_slot(const struct vcons *v, int head)
{
	for (int i = 0; i < VCONS_RX_BUFS; i++)
		if (v->rx_head[i] == head)
			return i;
	return -EIO;
}

int vcons_read(struct vcons *v, uint8_t *out, uint32_t cap, uint32_t *n, uint64_t ms)
{
	uint32_t len;
	int ret = vctx_wait_used(v->c, v->rx, true, ms), head, slot;

	if (ret)
		return ret;
	head = virtq_get_used(v->rx, &len);
	slot = head < 0 ? head : vcons_slot(v, head);
	if (slot < 0 || len > VCONS_BUF) {
		glog("console: %s: bad used element (id %d, len %u)", v->d->name, head, len);
		return -EIO;
	}
	*n = len < cap ? len : cap;
	__builtin_memcpy(out, v->rxbuf + slot * VCONS_BUF, *n);
	ret = vcons_post(v, (unsigned)slot);
	virtio_kick(v->d, v->rx);
	return ret;
}
