/* boottimer: two write-mostly diagnostic ports.
 *  - boottimer_desc (port 0x3F0, one byte): a guest write of 123 logs how long
 *    the guest took to get there since the VMM process started (the boot-time
 *    measurement convention) at info level, once per platform reset (repeats
 *    go to debug so a guest cannot flood the log); other values are ignored.
 *    Reads return 0xFF.
 *  - post_desc (port 0x80, one byte): the POST code / I/O delay port. Writes
 *    are absorbed silently (Linux uses it as an I/O delay, so no logging);
 *    reads return 0xFF, as on a PC with no POST card that latches the value. */
#include "hw.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* --- registers --- */
#define BOOTTIMER_LEN 1
#define BOOTTIMER_MAGIC 123 /* value the guest writes when it is up */

/* --- state (shared by both descs; the POST port only uses the lock) --- */
struct boottimer {
	pthread_mutex_t lock;
	struct devhost host;
	uint64_t start_ns;
	bool reported; /* logged at info once per reset; later writes at debug */
};

/* --- register handlers --- */
static void boottimer_read(void *dev, uint64_t off, void *data, unsigned size)
{
	memset(data, 0xff, size);
}

static void boottimer_write(void *dev, uint64_t off, const void *data, unsigned size)
{
	struct boottimer *b = dev;
	uint8_t v;
	uint64_t now, ns;

	if (off >= BOOTTIMER_LEN || size == 0)
		return;
	v = ((const uint8_t *)data)[0];
	if (v != BOOTTIMER_MAGIC) {
		log_debug("boot-timer: guest wrote %u, ignored", v);
		return;
	}
	now = devhost_clock_ns(&b->host);
	ns = now > b->start_ns ? now - b->start_ns : 0;
	log_msg(b->reported ? LOG_DEBUG : LOG_INFO,
		"boot-timer: guest reached %u after %llu.%03llu ms (since process start)",
		BOOTTIMER_MAGIC, (unsigned long long)(ns / 1000000),
		(unsigned long long)(ns / 1000 % 1000));
	b->reported = true;
}

static const struct vdev_ops boottimer_ops = {
	.name = "boot-timer",
	.read = boottimer_read,
	.write = boottimer_write,
};

static void post_write(void *dev, uint64_t off, const void *data, unsigned size)
{
	/* Absorbed: POST codes and I/O delay writes. */
}

static const struct vdev_ops post_ops = {
	.name = "post",
	.read = boottimer_read,
	.write = post_write,
};

/* --- create / reset / destroy --- */
static int boottimer_create(const struct hw_args *args, void **state)
{
	struct boottimer *b;
	int ret;

	if (!args || !args->host || !args->host->ops) {
		log_error("boot-timer: created without a device host");
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	ret = pthread_mutex_init(&b->lock, NULL);
	if (ret) {
		free(b);
		return -ret;
	}
	b->host = *args->host;
	b->start_ns = args->start_ns;
	*state = b;
	return 0;
}

static void boottimer_reset(void *state)
{
	struct boottimer *b = state;

	/* The start time stays the process's: a rebooted guest reports again. */
	pthread_mutex_lock(&b->lock);
	b->reported = false;
	pthread_mutex_unlock(&b->lock);
}

static void boottimer_destroy(void *state)
{
	struct boottimer *b = state;

	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}

static pthread_mutex_t *boottimer_lock(void *state)
{
	return &((struct boottimer *)state)->lock;
}

const struct hw_desc boottimer_desc = {
	.name = "boot-timer",
	.ops = &boottimer_ops,
	.create = boottimer_create,
	.reset = boottimer_reset,
	.destroy = boottimer_destroy,
	.lock = boottimer_lock,
};

const struct hw_desc post_desc = {
	.name = "post",
	.ops = &post_ops,
	.create = boottimer_create,
	.reset = boottimer_reset,
	.destroy = boottimer_destroy,
	.lock = boottimer_lock,
};
