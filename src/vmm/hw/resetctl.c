/* resetctl: the reset control register (port 0xCF9, one byte), the FADT's
 * RESET_REG. Writing a value with RST_CPU (bit 2) set requests a platform
 * reset (the FADT RESET_VALUE is 0x06); SYS_RST (bit 1, hard vs soft) and
 * FULL_RST (bit 3) are kept but make no difference. Reads return the last
 * value written with bit 2 clear. */
#include "hw.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

/* --- registers --- */
#define RESETCTL_LEN 1
#define RESETCTL_RST_CPU 0x04 /* write 1: reset now (self-clearing) */

/* --- state --- */
struct resetctl {
	pthread_mutex_t lock;
	struct devhost host;
	uint8_t value; /* last write, RST_CPU clear */
};

/* --- register handlers --- */
static void resetctl_read(void *dev, uint64_t off, void *data, unsigned size)
{
	struct resetctl *r = dev;

	memset(data, 0xff, size);
	if (off < RESETCTL_LEN && size > 0)
		((uint8_t *)data)[0] = r->value;
}

static void resetctl_write(void *dev, uint64_t off, const void *data, unsigned size)
{
	struct resetctl *r = dev;
	uint8_t v;

	if (off >= RESETCTL_LEN || size == 0)
		return;
	v = ((const uint8_t *)data)[0];
	r->value = v & (uint8_t)~RESETCTL_RST_CPU;
	if (v & RESETCTL_RST_CPU) {
		log_debug("reset-control: guest wrote 0x%02x, resetting", v);
		devhost_event(&r->host, DEVHOST_EV_RESET, 0);
	}
}

static const struct vdev_ops resetctl_ops = {
	.name = "reset-control",
	.read = resetctl_read,
	.write = resetctl_write,
};

/* --- create / reset / destroy --- */
static int resetctl_create(const struct hw_args *args, void **state)
{
	struct resetctl *r;
	int ret;

	if (!args || !args->host || !args->host->ops) {
		log_error("reset-control: created without a device host");
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	ret = pthread_mutex_init(&r->lock, NULL);
	if (ret) {
		free(r);
		return -ret;
	}
	r->host = *args->host;
	*state = r;
	return 0;
}

static void resetctl_reset(void *state)
{
	struct resetctl *r = state;

	pthread_mutex_lock(&r->lock);
	r->value = 0;
	pthread_mutex_unlock(&r->lock);
}

static void resetctl_destroy(void *state)
{
	struct resetctl *r = state;

	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static pthread_mutex_t *resetctl_lock(void *state)
{
	return &((struct resetctl *)state)->lock;
}

const struct hw_desc resetctl_desc = {
	.name = "reset-control",
	.ops = &resetctl_ops,
	.create = resetctl_create,
	.reset = resetctl_reset,
	.destroy = resetctl_destroy,
	.lock = resetctl_lock,
};
