/* vdev_vsock: virtio-vsock driver for the workloads (device ID 19): reads
 * guest_cid, sets up receive queue 0 (buffers of header + rxbuf payload
 * bytes, posted as one descriptor or as header + payload, alternately),
 * transmit queue 1 (one slot of header + pkt_max bytes per descriptor
 * head; data packets alternately as one descriptor or as header +
 * payload) and event queue 2 (4-byte events; TRANSPORT_RESET counted and
 * the CID re-read). Packets are checked (used length = 44 + hdr.len, within
 * the buffer) and handed to the caller; the connection protocol is
 * vsconn.c's. */
#ifndef TESTGUEST_VDEV_VSOCK_H
#define TESTGUEST_VDEV_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "vctx.h"
#include "vsconn.h"

#define VVSOCK_F_STREAM          0
#define VVSOCK_EVENT_TRANSPORT_RESET 0
#define VVSOCK_PKT_MAX           65536
#define VVSOCK_EV_BUFS           4

struct vvsock {
	struct vctx *c;
	struct virtio_dev *d;
	struct virtq *rx, *tx, *ev;
	uint64_t cid;
	uint32_t rxbuf;                 /* payload bytes of a receive buffer */
	uint32_t slot;                  /* bytes of a receive slot: header + rxbuf */
	uint32_t pkt_max;               /* largest payload we send */
	uint16_t rx_slots;              /* receive buffers posted */
	uint8_t *rxbufs;                /* rx_slots slots */
	uint8_t *txbufs;                /* tx->size slots of header + pkt_max */
	uint32_t *evbufs;               /* VVSOCK_EV_BUFS events */
	uint16_t *rx_slot;              /* per descriptor head: its slot */
	uint16_t bufs_rxq, bufs_txq;    /* queue sizes the buffers were made for */
	uint16_t rx_pending_slot;       /* slot of the packet vvsock_recv handed out */
	bool rx_pending;
	uint64_t tx_pkts, tx_done, tx_split, rx_pkts, events, resets;
};

/* Initialise: queues of at most qmax entries, receive buffers of rxbuf
 * payload bytes, transmit slots for pkt_max payload bytes; every receive
 * and event buffer posted. *v must be zeroed before the first open; a
 * re-open (after a reset) reuses the buffers. 0 or -errno. */
int vvsock_open(struct vctx *c, struct virtio_dev *d, struct vvsock *v, uint32_t rxbuf,
		uint32_t pkt_max, uint16_t qmax);
/* The payload area of the next transmit slot, or NULL when the ring is full
 * (reap first). Fill it, then vvsock_send(). */
uint8_t *vvsock_tx_slot(struct vvsock *v);
/* Send h (+ h->len payload bytes from the slot vvsock_tx_slot gave):
 * 0, -ENOSPC or -EINVAL (len > pkt_max). Does not notify (vvsock_flush). */
int vvsock_send(struct vvsock *v, const struct vsock_hdr *h);
/* Notify the device of what was queued, if it wants it. */
void vvsock_flush(struct vvsock *v);
/* Collect transmit completions: how many, or -EIO. */
int vvsock_tx_reap(struct vvsock *v);
/* The next received packet: *h and its payload at *data (valid until
 * vvsock_recv_done). 0, -ENOENT (none) or -EIO (bad used element). */
int vvsock_recv(struct vvsock *v, struct vsock_hdr *h, const uint8_t **data);
/* Re-post the buffer of the packet vvsock_recv handed out. */
int vvsock_recv_done(struct vvsock *v);
/* Drain the event queue: TRANSPORT_RESET events seen (CID re-read), or
 * -EIO for a bad event. */
int vvsock_events(struct vvsock *v);
/* Ask for (or suppress) interrupts on all three queues; true if something
 * is already used (do not sleep). */
bool vvsock_intr(struct vvsock *v, bool on);

#endif
