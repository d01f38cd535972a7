/* vdev_net: virtio-net frames in and out (see vdev_net.h). */
#include "glog.h"
#include "lib.h"
#include "vdev_net.h"

#define VNET_RXQ          0
#define VNET_TXQ          1
#define CFG_MAC           0
#define CFG_STATUS        6
#define VNET_RXBUF_MIN    (VNET_HDR_LEN + VNET_FRAME_MAX)
#define VNET_RXBUF_MRG    512
#define VNET_RXBUF_PLAIN  2048
#define VNET_MERGE_SPINS  1000000
#define VNET_REFILL_BATCH 64      /* Linux's NAPI budget */

static int vnet_post(struct vnet *n, uint16_t slot)
{
	struct virtq_sg sg = { vctx_pa(n->c, n->rxbufs + (uint64_t)slot * n->rxbuf_len),
			       n->rxbuf_len, true };
	int head = virtq_add(n->rx, &sg, 1);

	/* One-descriptor chains: the head is the slot the free list gave. */
	return head == slot ? 0 : -EIO;
}

static int vnet_post_all(struct vnet *n)
{
	int ret = 0;

	while (!ret && virtq_next_head(n->rx) >= 0)
		ret = vnet_post(n, (uint16_t)virtq_next_head(n->rx));
	if (virtq_kick_prepare(n->rx)) {
		virtio_notify(n->d, n->rx);
		n->rx_kicks++;
	}
	return ret;
}

/* Linux's virtio-net threshold: buffers go back in batches, once more than
 * half a NAPI budget (or half a small ring) is free, with one kick per
 * batch. Plus a rule of our own (vnet_recv): all of them once the used
 * ring is drained, so a device waiting for room for a merged frame always
 * gets it. */
static bool vnet_refill_due(const struct vnet *n)
{
	uint16_t batch = n->rx->size < VNET_REFILL_BATCH ? n->rx->size : VNET_REFILL_BATCH;

	return n->rx->nfree > batch / 2;
}

static int vnet_buffers(struct vnet *n, uint32_t rxbuf)
{
	uint16_t size = n->rx->size > n->tx->size ? n->rx->size : n->tx->size;

	n->rxbuf_len = rxbuf ? rxbuf : n->mrg ? VNET_RXBUF_MRG : VNET_RXBUF_PLAIN;
	if (!n->mrg && n->rxbuf_len < VNET_RXBUF_MIN)
		n->rxbuf_len = VNET_RXBUF_MIN;
	if (n->rxbuf_len < VNET_HDR_LEN + 2)
		n->rxbuf_len = VNET_HDR_LEN + 2;
	if (!n->rxbufs || n->bufs_entries < size) {
		n->rxbufs = vctx_alloc(n->c, (uint64_t)size * VNET_RXBUF_PLAIN * 2, 64);
		n->txbufs = vctx_alloc(n->c, (uint64_t)size * VNET_TXBUF, 64);
		n->bufs_entries = n->rxbufs && n->txbufs ? size : 0;
	}
	if (n->rxbuf_len > VNET_RXBUF_PLAIN * 2)
		return -EINVAL;
	return n->bufs_entries ? 0 : -ENOMEM;
}

int vnet_open(struct vctx *c, struct virtio_dev *d, struct vnet *n, uint32_t rxbuf,
	      uint16_t qmax, bool want_mrg)
{
	uint64_t want = VIRTIO_BIT(VNET_F_MAC) | VIRTIO_BIT(VNET_F_STATUS) |
			VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |
			(want_mrg ? VIRTIO_BIT(VNET_F_MRG_RXBUF) : 0);
	int ret = virtio_begin(d, &c->tsc, want, 0);

	if (!ret)
		ret = virtio_queue_setup(d, &c->dma, VNET_RXQ, qmax);
	if (!ret)
		ret = virtio_queue_setup(d, &c->dma, VNET_TXQ, qmax);
	if (ret)
		return ret;
	n->c = c;
	n->d = d;
	n->rx = &d->vq[VNET_RXQ];
	n->tx = &d->vq[VNET_TXQ];
	n->mrg = virtio_has(d, VNET_F_MRG_RXBUF);
	n->has_status = virtio_has(d, VNET_F_STATUS);
	for (unsigned i = 0; i < 6; i++)
		n->mac[i] = virtio_has(d, VNET_F_MAC) ? virtio_cfg8(d, CFG_MAC + i) : 0;
	n->tx_sent = n->tx_done = n->rx_frames = n->rx_bufs = n->rx_kicks = 0;
	ret = vnet_buffers(n, rxbuf);
	if (ret)
		return ret;
	virtio_ready(d);
	return vnet_post_all(n);
}

uint16_t vnet_link_status(const struct vnet *n)
{
	return n->has_status ? virtio_cfg16(n->d, CFG_STATUS) : VNET_S_LINK_UP;
}

int vnet_send(struct vnet *n, const uint8_t *frame, uint32_t len)
{
	struct virtq_sg sg[2];
	int head = virtq_next_head(n->tx);
	uint8_t *buf;

	if (len < VNET_ETH_HLEN || len > VNET_FRAME_MAX)
		return -EINVAL;
	if (head < 0 || n->tx->nfree < 2)
		return -ENOSPC;
	buf = n->txbufs + (uint64_t)head * VNET_TXBUF;
	__builtin_memset(buf, 0, VNET_HDR_LEN);
	__builtin_memcpy(buf + VNET_HDR_LEN, frame, len);
	/* Alternate one descriptor (header + frame) and two (header, frame). */
	sg[0] = (struct virtq_sg){ vctx_pa(n->c, buf), VNET_HDR_LEN + len, false };
	if (n->tx_sent & 1) {
		sg[0].len = VNET_HDR_LEN;
		sg[1] = (struct virtq_sg){ vctx_pa(n->c, buf + VNET_HDR_LEN), len, false };
	}
	head = virtq_add(n->tx, sg, n->tx_sent & 1 ? 2 : 1);
	if (head < 0)
		return head;
	n->tx_sent++;
	virtio_kick(n->d, n->tx);
	return 0;
}

int vnet_tx_reap(struct vnet *n)
{
	uint32_t len;
	int count = 0, ret;

	while ((ret = virtq_get_used(n->tx, &len)) >= 0)
		count++;
	n->tx_done += (uint64_t)count;
	if (ret == -EIO) {
		glog("net: %s: transmit used id not in flight", n->d->name);
		return -EIO;
	}
	return count;
}

/* Take the next used receive buffer (waiting a little for the rest of a
 * merged frame): its slot and length. */
static int vnet_take(struct vnet *n, bool wait, uint16_t *slot, uint32_t *len)
{
	int head;

	for (unsigned i = 0; wait && !virtq_has_used(n->rx) && i < VNET_MERGE_SPINS; i++)
		__asm__ volatile("pause" ::: "memory");
	head = virtq_get_used(n->rx, len);
	if (head < 0)
		return head;
	if (*len > n->rxbuf_len) {
		glog("net: %s: used length %u for a %u-byte buffer", n->d->name, *len,
		     n->rxbuf_len);
		return -EIO;
	}
	*slot = (uint16_t)head;
	n->rx_bufs++;
	return 0;
}

/* Copy buffer slot's bytes [skip, len) to out at *at (bounded by cap). */
static void vnet_copy(struct vnet *n, uint16_t slot, uint32_t skip, uint32_t len,
		      uint8_t *out, uint32_t cap, uint32_t *at)
{
	const uint8_t *b = n->rxbufs + (uint64_t)slot * n->rxbuf_len;

	for (uint32_t i = skip; i < len; i++, (*at)++)
		if (*at < cap)
			out[*at] = b[i];
}

int vnet_recv(struct vnet *n, uint8_t *out, uint32_t cap, uint32_t *len)
{
	const struct vnet_hdr *h;
	uint16_t slot, nbuf = 1;
	uint32_t blen;
	int ret = vnet_take(n, false, &slot, &blen);

	*len = 0;
	if (ret == -ENOENT && n->rx->nfree && vnet_post_all(n)) { /* caught up: all back */
		glog("net: %s: cannot post receive buffers", n->d->name);
		return -EIO;
	}
	if (ret)
		return ret;
	h = (const void *)(n->rxbufs + (uint64_t)slot * n->rxbuf_len);
	if (blen < VNET_HDR_LEN || (n->mrg && h->num_buffers == 0))
		ret = -EIO;
	if (!ret && n->mrg)
		nbuf = h->num_buffers;
	if (!ret)
		vnet_copy(n, slot, VNET_HDR_LEN, blen, out, cap, len);
	for (uint16_t i = 1; !ret && i < nbuf; i++) {
		ret = vnet_take(n, true, &slot, &blen);
		if (!ret)
			vnet_copy(n, slot, 0, blen, out, cap, len);
	}
	if (!ret && vnet_refill_due(n))
		ret = vnet_post_all(n);
	if (ret)
		glog("net: %s: bad receive buffer (len %u, %u buffers)", n->d->name, blen, nbuf);
	n->rx_frames += !ret;
	return ret;
}
