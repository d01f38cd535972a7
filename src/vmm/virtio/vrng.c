/* vrng: virtio-rng (virtio 1.x section 5.4), entropy from getrandom(). Owns
 * the device's state: one request queue, the chain storage it pops into,
 * and its counters. Every request is a chain of device-writable buffers;
 * the device fills at most VRNG_REQ_MAX bytes of it and never writes to a
 * device-readable segment (a request that has one is malformed and fails
 * the device). The shape of every device file: state, queue handler with a
 * budget, ops table, create. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define VRNG_QUEUE_SIZE 256
#define VRNG_REQ_MAX    (64u * 1024)  /* bytes filled per request at most */
#define VRNG_BUDGET     VRNG_QUEUE_SIZE  /* requests per queue_notify */

struct vrng {
	struct virtio_dev *vd;
	struct virtqueue_chain *chain;
	uint64_t requests;
	uint64_t bytes;
};

/* Fill the chain's writable segments, up to VRNG_REQ_MAX bytes; returns
 * the bytes written. */
static uint32_t vrng_fill(const struct virtqueue_chain *chain)
{
	uint32_t done = 0;

	for (unsigned i = 0; i < chain->nin && done < VRNG_REQ_MAX; i++) {
		uint8_t *p = chain->in[i].iov_base;
		size_t want = chain->in[i].iov_len;

		if (want > VRNG_REQ_MAX - done)
			want = VRNG_REQ_MAX - done;
		while (want) {
			ssize_t n = getrandom(p, want, 0);

			if (n <= 0) {
				if (n < 0 && errno == EINTR)
					continue;
				log_warn("virtio-rng: getrandom: %s", strerror(errno));
				return done;
			}
			p += n;
			want -= (size_t)n;
			done += (uint32_t)n;
		}
	}
	return done;
}

/* One popped request: 0, or -EINVAL when it is malformed. */
static int vrng_serve(struct vrng *r, struct virtqueue *vq)
{
	uint32_t len;

	if (r->chain->nout || r->chain->in_bytes == 0) {
		virtqueue_unpop(vq);
		virtio_dev_fail(r->vd, "queue 0: request %u is not write-only "
				"(%u device-readable segments, %llu writable bytes)", r->chain->head,
				r->chain->nout, (unsigned long long)r->chain->in_bytes);
		return -EINVAL;
	}
	len = vrng_fill(r->chain);
	if (virtqueue_push(vq, r->chain->head, len) < 0) {
		virtio_dev_fail(r->vd, "queue 0: %s", virtqueue_reason(vq));
		return -EINVAL;
	}
	r->requests++;
	r->bytes += len;
	return 0;
}

/* Pop and serve until the ring is empty or the budget is spent (then the
 * rest waits for a kick of our own, so the event loop stays fair). */
static void vrng_queue_notify(void *dev, unsigned q)
{
	struct vrng *r = dev;
	struct virtqueue *vq = virtio_queue(r->vd, 0);
	unsigned budget = VRNG_BUDGET;
	int ret = 0;

	if (!vq)
		return;
	do {
		while (budget && (ret = virtqueue_pop(vq, r->chain)) > 0) {
			if (vrng_serve(r, vq) < 0)
				return;
			budget--;
		}
		if (budget && ret < 0) {
			virtio_dev_fail(r->vd, "queue 0: %s", virtqueue_reason(vq));
			return;
		}
		virtio_queue_interrupt(r->vd, 0);
		if (!budget) {
			virtio_queue_kick(r->vd, 0);
			return;
		}
	} while (virtqueue_rearm(vq));
}

static int vrng_activate(void *dev, uint64_t features)
{
	return 0;
}

static void vrng_reset(void *dev)
{
	/* Requests are served synchronously: nothing is in flight. */
}

static void vrng_query(void *dev, json_t *obj)
{
	struct vrng *r = dev;

	json_object_set_new(obj, "stats", json_pack("{s:I,s:I}", "requests",
		(json_int_t)r->requests, "bytes", (json_int_t)r->bytes));
}

static void vrng_destroy(void *dev)
{
	struct vrng *r = dev;

	virtqueue_chain_free(r->chain);
	free(r);
}

static const struct virtio_device_ops vrng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG,
	.activate = vrng_activate,
	.queue_notify = vrng_queue_notify,
	.reset = vrng_reset,
	.query = vrng_query,
	.destroy = vrng_destroy,
};

int vrng_create(const struct virtio_env *env, struct virtio_dev_info *info)
{
	struct vrng *r = calloc(1, sizeof(*r));

	if (r)
		r->chain = virtqueue_chain_new(VRNG_QUEUE_SIZE);
	if (!r || !r->chain) {
		free(r);
		log_error("rng0: out of memory");
		return -ENOMEM;
	}
	*info = (struct virtio_dev_info){
		.ops = &vrng_ops, .dev = r, .handle = &r->vd, .id = "rng0",
		.nqueues = 1, .queue_max = VRNG_QUEUE_SIZE,
	};
	return 0;
}
