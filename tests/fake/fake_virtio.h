/* fake_virtio: a stand-in for the virtio PCI transport that device files
 * (vblk.c, vnet.c, vconsole.c, ...) link against in unit tests and fuzz
 * targets. It implements the device->transport calls of virtio.h on queues
 * the test sets up itself (virtqueue_init on fake guest memory) and counts
 * what the device asked for: interrupts, kicks, config changes, failures. */
#ifndef VMKIT_FAKE_VIRTIO_H
#define VMKIT_FAKE_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

struct virtio_dev {
	pthread_mutex_t lock;
	struct virtqueue vq[VIRTIO_MAX_QUEUES];
	bool enabled[VIRTIO_MAX_QUEUES]; /* virtio_queue() serves this queue */
	bool active;                     /* ... or every queue that is set up */
	uint64_t features;               /* what virtio_features() answers */
	const char *id;                  /* what virtio_dev_id() answers */
	unsigned irqs[VIRTIO_MAX_QUEUES];  /* interrupts the ring asked for */
	unsigned kicks[VIRTIO_MAX_QUEUES]; /* atomic: workers kick too */
	unsigned cfg_changes;
	unsigned fails;
	bool failed;
	char reason[256];                /* the last virtio_dev_fail() message */
};

/* Zero *vd, init its lock, set the id and the features. */
void fake_virtio_init(struct virtio_dev *vd, const char *id, uint64_t features);
void fake_virtio_destroy(struct virtio_dev *vd);

#endif
