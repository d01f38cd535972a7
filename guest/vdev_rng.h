/* vdev_rng: virtio-rng driver for the workloads: one request queue of
 * device-writable buffers. */
#ifndef TESTGUEST_VDEV_RNG_H
#define TESTGUEST_VDEV_RNG_H

#include <stdbool.h>
#include <stdint.h>

#include "vctx.h"

struct vrng {
	struct vctx *c;
	struct virtio_dev *d;
	struct virtq *vq;
};

/* Initialise the device (indirect and event-idx taken when offered). */
int vrng_open(struct vctx *c, struct virtio_dev *d, struct vrng *r);
/* Fill buf (arena memory) with up to len random bytes; *got = how many the
 * device wrote. Waits by MSI-X interrupt or by polling. 0 or -errno. */
int vrng_read(struct vrng *r, void *buf, uint32_t len, bool by_irq, uint32_t *got);

#endif
