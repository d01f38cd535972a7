/* vdev_net: virtio-net driver for the workloads: receive queue 0 and
 * transmit queue 1 of pair 0, the 12-byte virtio-net header (VERSION_1),
 * mergeable receive buffers when offered (a frame may span num_buffers
 * buffers), MAC and link status from the config. Receive buffers are
 * indexed by descriptor head; once copied they go back in batches, at
 * Linux's driver's threshold or when the used ring is drained (vnet_recv). */
#ifndef TESTGUEST_VDEV_NET_H
#define TESTGUEST_VDEV_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "vctx.h"

#define VNET_F_MAC        5
#define VNET_F_MRG_RXBUF  15
#define VNET_F_STATUS     16
#define VNET_S_LINK_UP    1
#define VNET_HDR_LEN      12
#define VNET_FRAME_MAX    1514
#define VNET_TXBUF        2048
#define VNET_ETH_HLEN     14

struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};

struct vnet {
	struct vctx *c;
	struct virtio_dev *d;
	struct virtq *rx, *tx;
	uint8_t mac[6];
	bool mrg;                       /* mergeable receive buffers */
	bool has_status;
	uint32_t rxbuf_len;
	uint8_t *rxbufs;                /* rx->size buffers of rxbuf_len */
	uint8_t *txbufs;                /* tx->size buffers of VNET_TXBUF */
	uint16_t bufs_entries;          /* queue size the buffers were sized for */
	uint64_t tx_sent, tx_done, rx_frames, rx_bufs;
	uint64_t rx_kicks;              /* receive queue notifications sent */
};

/* Initialise: rxbuf bytes per receive buffer (0: 512 with mergeable
 * buffers, else 2048; without them at least 1526 is enforced), queues of
 * at most qmax entries; every receive buffer posted. */
int vnet_open(struct vctx *c, struct virtio_dev *d, struct vnet *n, uint32_t rxbuf,
	      uint16_t qmax, bool want_mrg);
uint16_t vnet_link_status(const struct vnet *n);
/* Queue one frame (Ethernet header included, at most VNET_FRAME_MAX
 * bytes) and notify if the device wants it. -ENOSPC when the ring is full
 * (reap first), -EINVAL for a bad length. */
int vnet_send(struct vnet *n, const uint8_t *frame, uint32_t len);
/* Collect transmit completions: how many, or -EIO for a bad used element. */
int vnet_tx_reap(struct vnet *n);
/* The next received frame (header stripped) copied to out (up to cap
 * bytes; *len = the frame's full length). -ENOENT if none, -EIO for a bad
 * used element or header. */
int vnet_recv(struct vnet *n, uint8_t *out, uint32_t cap, uint32_t *len);

#endif
