/* fake_virtio: the virtio.h device->transport calls for unit tests and
 * fuzz targets, and the driver's activate/reset/notify steps (see
 * fake_virtio.h). No PCI, no MSI-X, no event loop. */
#include "tests/fake/fake_virtio.h"

#include "tests/fake/fake_ring.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void fake_virtio_init(struct virtio_dev *vd, const char *id, uint64_t features)
{
	memset(vd, 0, sizeof(*vd));
	pthread_mutex_init(&vd->lock, NULL);
	vd->id = id;
	vd->features = features;
}

void fake_virtio_destroy(struct virtio_dev *vd)
{
	pthread_mutex_destroy(&vd->lock);
}

int fake_virtio_activate(struct virtio_dev *vd, const struct virtio_dev_info *info,
			 const struct fake_ring *rings, unsigned n, uint64_t features)
{
	int first = 0, ret;

	for (unsigned q = 0; q < n && q < VIRTIO_MAX_QUEUES; q++) {
		ret = fake_ring_attach(&rings[q], &vd->vq[q], features);
		vd->enabled[q] = ret == 0;
		first = first ? first : ret;
	}
	vd->failed = false;
	pthread_mutex_lock(&vd->lock);
	ret = info->ops->activate(info->dev, features);
	pthread_mutex_unlock(&vd->lock);
	return first ? first : ret;
}

void fake_virtio_reset(struct virtio_dev *vd, const struct virtio_dev_info *info, unsigned n)
{
	pthread_mutex_lock(&vd->lock);
	info->ops->reset(info->dev);
	pthread_mutex_unlock(&vd->lock);
	for (unsigned q = 0; q < n && q < VIRTIO_MAX_QUEUES; q++) {
		virtqueue_reset(&vd->vq[q]);
		vd->enabled[q] = false;
	}
}

void fake_virtio_notify(struct virtio_dev *vd, const struct virtio_dev_info *info, unsigned q)
{
	pthread_mutex_lock(&vd->lock);
	info->ops->queue_notify(info->dev, q);
	pthread_mutex_unlock(&vd->lock);
}

pthread_mutex_t *virtio_dev_lock(struct virtio_dev *vd)
{
	return &vd->lock;
}

struct virtqueue *virtio_queue(struct virtio_dev *vd, unsigned q)
{
	if (q >= VIRTIO_MAX_QUEUES || !(vd->active || vd->enabled[q]) ||
	    !virtqueue_ready(&vd->vq[q]))
		return NULL;
	return &vd->vq[q];
}

/* As the transport does: only when the ring asks for one. */
void virtio_queue_interrupt(struct virtio_dev *vd, unsigned q)
{
	if (q < VIRTIO_MAX_QUEUES && virtqueue_need_interrupt(&vd->vq[q]))
		vd->irqs[q]++;
}

bool virtio_dev_failed(const struct virtio_dev *vd)
{
	return vd->failed;
}

void virtio_queue_kick(struct virtio_dev *vd, unsigned q)
{
	if (q < VIRTIO_MAX_QUEUES)
		__atomic_add_fetch(&vd->kicks[q], 1, __ATOMIC_SEQ_CST);
}

void virtio_dev_fail(struct virtio_dev *vd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vd->reason, sizeof(vd->reason), fmt, ap);
	va_end(ap);
	vd->fails++;
	vd->failed = true;
}

void virtio_config_changed(struct virtio_dev *vd)
{
	vd->cfg_changes++;
}

uint64_t virtio_features(const struct virtio_dev *vd)
{
	return vd->features;
}

const char *virtio_dev_id(const struct virtio_dev *vd)
{
	return vd->id ? vd->id : "dev0";
}

struct evloop *virtio_evloop(const struct virtio_dev *vd)
{
	return NULL;
}
