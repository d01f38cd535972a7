/* debugexit: the debug-exit port (QEMU isa-debug-exit compatible, 4 ports wide).
 * A guest write of value V (any access size, bytes zero-extended) asks the
 * machine to stop with process exit status (V << 1) | 1; reads return all
 * ones. Used by test guests to report pass/fail. */
#include "hw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* --- registers --- */
#define DEBUGEXIT_LEN 4 /* ports covered; any offset and size triggers the exit */

/* --- state --- */
struct debugexit {
	pthread_mutex_t lock;
	struct devhost host;
};

/* --- register handlers --- */
static void debugexit_read(void *dev, uint64_t off, void *data, unsigned size)
{
	memset(data, 0xff, size);
}

static void debugexit_write(void *dev, uint64_t off, const void *data, unsigned size)
{
	struct debugexit *d = dev;
	const uint8_t *p = data;
	uint64_t v = 0;
	uint32_t code;

	if (off >= DEBUGEXIT_LEN)
		return;
	for (unsigned i = 0; i < size && i < sizeof(v); i++)
		v |= (uint64_t)p[i] << (8 * i);
	code = (uint32_t)((v << 1) | 1);
	log_debug("debug-exit: guest wrote 0x%llx, exit status %u", (unsigned long long)v,
		  code & 0xff);
	devhost_event(&d->host, DEVHOST_EV_DEBUG_EXIT, (int)code);
}

static const struct vdev_ops debugexit_ops = {
	.name = "debug-exit",
	.read = debugexit_read,
	.write = debugexit_write,
};

/* --- create / reset / destroy --- */
static int debugexit_create(const struct hw_args *args, void **state)
{
	struct debugexit *d;
	int ret;

	if (!args || !args->host || !args->host->ops) {
		log_error("debug-exit: created without a device host");
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	ret = pthread_mutex_init(&d->lock, NULL);
	if (ret) {
		free(d);
		return -ret;
	}
	d->host = *args->host;
	*state = d;
	return 0;
}

static void debugexit_reset(void *state)
{
	/* Stateless. */
}

static void debugexit_destroy(void *state)
{
	struct debugexit *d = state;

	if (!d)
		return;
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static pthread_mutex_t *debugexit_lock(void *state)
{
	return &((struct debugexit *)state)->lock;
}

const struct hw_desc debugexit_desc = {
	.name = "debug-exit",
	.ops = &debugexit_ops,
	.create = debugexit_create,
	.reset = debugexit_reset,
	.destroy = debugexit_destroy,
	.lock = debugexit_lock,
};
