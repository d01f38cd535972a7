/* vdev_vsock: virtio-vsock packets in and out (see vdev_vsock.h). */
#include "glog.h"
#include "lib.h"
#include "vdev_vsock.h"

#define VVSOCK_RXQ     0
#define VVSOCK_TXQ     1
#define VVSOCK_EVQ     2
#define CFG_GUEST_CID  0
#define VVSOCK_RXBUF_MIN 64
#define VVSOCK_CID_MASK  0xffffffffULL    /* the upper 32 bits are reserved */

/* Post receive slot `slot`: one descriptor, or header + payload. */
static int vvsock_post(struct vvsock *v, uint16_t slot)
{
	uint64_t pa = vctx_pa(v->c, v->rxbufs + (uint64_t)slot * v->slot);
	struct virtq_sg sg[2] = { { pa, v->slot, true }, { pa + VSOCK_HDR_LEN, v->rxbuf, true } };
	bool split = slot & 1;
	int head;

	if (split)
		sg[0].len = VSOCK_HDR_LEN;
	head = virtq_add(v->rx, sg, split ? 2 : 1);
	if (head < 0)
		return head;
	v->rx_slot[head] = slot;
	return 0;
}

static int vvsock_post_event(struct vvsock *v, unsigned i)
{
	struct virtq_sg sg = { vctx_pa(v->c, &v->evbufs[i]), sizeof(uint32_t), true };
	int head = virtq_add(v->ev, &sg, 1);

	/* One-descriptor chains: the head is the buffer the free list gave. */
	return head < 0 ? head : head == (int)i ? 0 : -EIO;
}

/* Post every receive slot that fits (a two-descriptor one needs two). */
static int vvsock_post_all(struct vvsock *v)
{
	int ret = 0;
	for (uint16_t slot = 0; !ret && slot < v->rx_slots; slot++)
		ret = vvsock_post(v, slot);
	for (unsigned i = 0; !ret && i < VVSOCK_EV_BUFS && i < v->ev->size; i++)
		ret = vvsock_post_event(v, i);
	virtio_kick(v->d, v->rx);
	virtio_kick(v->d, v->ev);
	return ret;
}

/* Buffers for the queues, those of the last open (keep) if they fit. */
static int vvsock_buffers(struct vvsock *v, const struct vvsock *keep)
{
	uint64_t rx_slots, tx_slots = v->tx->size;

	if (keep->rxbufs && keep->d == v->d && keep->slot == v->slot &&
	    keep->pkt_max == v->pkt_max && keep->bufs_rxq == v->rx->size &&
	    keep->bufs_txq == v->tx->size) {
		v->rx_slots = keep->rx_slots;
		v->rxbufs = keep->rxbufs;
		v->txbufs = keep->txbufs;
		v->evbufs = keep->evbufs;
		v->rx_slot = keep->rx_slot;
		v->bufs_rxq = keep->bufs_rxq;
		v->bufs_txq = keep->bufs_txq;
		return 0;
	}
	v->bufs_rxq = v->rx->size;
	v->bufs_txq = v->tx->size;
	/* Even slots take one descriptor, odd ones two: 1.5 per slot. */
	v->rx_slots = (uint16_t)(v->rx->size * 2 / 3);
	if (!v->rx_slots)
		v->rx_slots = 1;
	rx_slots = v->rx_slots;
	v->rxbufs = vctx_alloc(v->c, rx_slots * v->slot, 64);
	v->txbufs = vctx_alloc(v->c, tx_slots * (VSOCK_HDR_LEN + v->pkt_max), 64);
	v->evbufs = vctx_alloc(v->c, VVSOCK_EV_BUFS * sizeof(uint32_t), 64);
	v->rx_slot = vctx_alloc(v->c, (uint64_t)v->rx->size * sizeof(uint16_t), 64);
	return v->rxbufs && v->txbufs && v->evbufs && v->rx_slot ? 0 : -ENOMEM;
}

int vvsock_open(struct vctx *c, struct virtio_dev *d, struct vvsock *v, uint32_t rxbuf,
		uint32_t pkt_max, uint16_t qmax)
{
	uint64_t want = VIRTIO_BIT(VVSOCK_F_STREAM) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) |
			VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	struct vvsock keep = *v;
	int ret;

	if (rxbuf < VVSOCK_RXBUF_MIN || pkt_max == 0 || pkt_max > VVSOCK_PKT_MAX)
		return -EINVAL;
	ret = virtio_begin(d, &c->tsc, want, 0);
	for (uint16_t q = VVSOCK_RXQ; !ret && q <= VVSOCK_EVQ; q++)
		ret = virtio_queue_setup(d, &c->dma, q, qmax);
	if (ret)
		return ret;
	*v = (struct vvsock){ .c = c, .d = d, .rx = &d->vq[VVSOCK_RXQ], .tx = &d->vq[VVSOCK_TXQ],
			      .ev = &d->vq[VVSOCK_EVQ], .rxbuf = rxbuf,
			      .slot = VSOCK_HDR_LEN + rxbuf, .pkt_max = pkt_max };
	v->cid = virtio_cfg64(d, CFG_GUEST_CID) & VVSOCK_CID_MASK;
	ret = vvsock_buffers(v, &keep);
	if (ret)
		return ret;
	virtio_ready(d);
	return vvsock_post_all(v);
}

uint8_t *vvsock_tx_slot(struct vvsock *v)
{
	int head = virtq_next_head(v->tx);

	if (head < 0 || v->tx->nfree < 2)
		return (uint8_t *)0;
	return v->txbufs + (uint64_t)head * (VSOCK_HDR_LEN + v->pkt_max) + VSOCK_HDR_LEN;
}

int vvsock_send(struct vvsock *v, const struct vsock_hdr *h)
{
	int head = virtq_next_head(v->tx);
	struct virtq_sg sg[2];
	uint8_t *buf;
	bool split;

	if (h->len > v->pkt_max)
		return -EINVAL;
	if (head < 0 || v->tx->nfree < 2)
		return -ENOSPC;
	buf = v->txbufs + (uint64_t)head * (VSOCK_HDR_LEN + v->pkt_max);
	__builtin_memcpy(buf, h, VSOCK_HDR_LEN);
	split = h->len && (v->tx_pkts & 1);
	sg[0] = (struct virtq_sg){ vctx_pa(v->c, buf), VSOCK_HDR_LEN + h->len, false };
	sg[1] = (struct virtq_sg){ vctx_pa(v->c, buf + VSOCK_HDR_LEN), h->len, false };
	if (split)
		sg[0].len = VSOCK_HDR_LEN;
	head = virtq_add(v->tx, sg, split ? 2 : 1);
	if (head < 0)
		return head;
	v->tx_pkts++;
	v->tx_split += split;
	return 0;
}

void vvsock_flush(struct vvsock *v)
{
	virtio_kick(v->d, v->tx);
}

int vvsock_tx_reap(struct vvsock *v)
{
	uint32_t len;
	int count = 0, ret;

	while ((ret = virtq_get_used(v->tx, &len)) >= 0)
		count++;
	v->tx_done += (uint64_t)count;
	if (ret == -EIO) {
		glog("vsock: %s: transmit used id not in flight", v->d->name);
		return -EIO;
	}
	return count;
}

int vvsock_recv(struct vvsock *v, struct vsock_hdr *h, const uint8_t **data)
{
	const uint8_t *buf;
	uint32_t len;
	int head;

	if (v->rx_pending)
		return -EBUSY;
	head = virtq_get_used(v->rx, &len);
	if (head < 0)
		return head;
	v->rx_pending_slot = v->rx_slot[head];
	v->rx_pending = true;
	buf = v->rxbufs + (uint64_t)v->rx_pending_slot * v->slot;
	__builtin_memcpy(h, buf, VSOCK_HDR_LEN);
	*data = buf + VSOCK_HDR_LEN;
	if (len < VSOCK_HDR_LEN || len > v->slot || h->len != len - VSOCK_HDR_LEN) {
		glog("vsock: %s: used length %u for a %u-byte buffer, header len %u", v->d->name,
		     len, v->slot, h->len);
		return -EIO;
	}
	v->rx_pkts++;
	return 0;
}

int vvsock_recv_done(struct vvsock *v)
{
	int ret;

	if (!v->rx_pending)
		return 0;
	v->rx_pending = false;
	ret = vvsock_post(v, v->rx_pending_slot);
	virtio_kick(v->d, v->rx);
	return ret;
}

int vvsock_events(struct vvsock *v)
{
	uint32_t len;
	int head, resets = 0;

	while ((head = virtq_get_used(v->ev, &len)) >= 0) {
		uint32_t id = v->evbufs[head < VVSOCK_EV_BUFS ? head : 0];

		if (head >= VVSOCK_EV_BUFS || len < sizeof(uint32_t) ||
		    id != VVSOCK_EVENT_TRANSPORT_RESET) {
			glog("vsock: %s: bad event (head %d, len %u, id %u)", v->d->name, head, len,
			     id);
			return -EIO;
		}
		v->events++;
		resets++;
		v->cid = virtio_cfg64(v->d, CFG_GUEST_CID) & VVSOCK_CID_MASK;
		if (vvsock_post_event(v, (unsigned)head))
			return -EIO;
	}
	v->resets += (uint64_t)resets;
	virtio_kick(v->d, v->ev);
	return head == -EIO ? -EIO : resets;
}

bool vvsock_intr(struct vvsock *v, bool on)
{
	bool a = virtq_intr(v->rx, on), b = virtq_intr(v->tx, on), e = virtq_intr(v->ev, on);

	return a || b || e;
}
