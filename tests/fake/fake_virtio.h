/* fake_virtio: a stand-in for the virtio PCI transport that device files
 * (vblk.c, vnet.c, vconsole.c, ...) link against in unit tests and fuzz
 * targets. It implements the device->transport calls of virtio.h on queues
 * the test sets up itself (virtqueue_init on fake guest memory) and counts
 * what the device asked for: interrupts, kicks, config changes, failures.
 * It also owns the driver's steps on the transport that the tests and fuzz
 * targets share: queue set-up and activate, reset, notify (each with the
 * device lock held, as the transport holds it). */
#ifndef VMKIT_FAKE_VIRTIO_H
#define VMKIT_FAKE_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

struct fake_ring;

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

/* The driver's start-up: queue q < n set up on rings[q] (enabled when
 * virtqueue_init takes it), failed cleared, then the device's activate
 * under the lock. 0; else the first virtqueue_init error or activate's. */
int fake_virtio_activate(struct virtio_dev *vd, const struct virtio_dev_info *info,
			 const struct fake_ring *rings, unsigned n, uint64_t features);
/* The device's reset under the lock, then queues 0..n-1 reset and disabled. */
void fake_virtio_reset(struct virtio_dev *vd, const struct virtio_dev_info *info, unsigned n);
/* The device's queue_notify(q) under the lock. */
void fake_virtio_notify(struct virtio_dev *vd, const struct virtio_dev_info *info, unsigned q);

#endif
