/* vdev_console: virtio-console driver for the workloads: port 0 only
 * (VIRTIO_CONSOLE_F_MULTIPORT is not negotiated), queue 0 receives, queue 1
 * transmits. Receive buffers are posted once and re-posted after use. */
#ifndef TESTGUEST_VDEV_CONSOLE_H
#define TESTGUEST_VDEV_CONSOLE_H

#include <stdint.h>

#include "vctx.h"

#define VCONS_RX_BUFS 8
#define VCONS_BUF     256

struct vcons {
	struct vctx *c;
	struct virtio_dev *d;
	struct virtq *rx, *tx;
	uint8_t *rxbuf;                 /* VCONS_RX_BUFS * VCONS_BUF */
	uint8_t *txbuf;                 /* VCONS_BUF */
	int rx_head[VCONS_RX_BUFS];     /* chain head of each posted buffer */
};

int vcons_open(struct vctx *c, struct virtio_dev *d, struct vcons *v);
/* Send len bytes (at most VCONS_BUF) and wait until the device used them. */
int vcons_write(struct vcons *v, const void *data, uint32_t len, uint64_t ms);
/* Wait for one received buffer; copy up to cap bytes of it to out. */
int vcons_read(struct vcons *v, uint8_t *out, uint32_t cap, uint32_t *n, uint64_t ms);

#endif
