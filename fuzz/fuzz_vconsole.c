/* fuzz_vconsole: libFuzzer harness for the virtio-console device
 * (src/vmm/virtio/vconsole.c): transmit chains written to the backend and
 * backend input placed into receive chains, on fake guest memory whose
 * rings and buffers come from the input. The chardev (its front-end
 * callbacks are what the device registers), the transport and the event
 * loop are fakes in this file. Guest RAM is one exactly-sized heap buffer,
 * so ASan sees any access outside it. Input is offered as the chardev does
 * (never more than can_recv said); the harness traps if can_recv promises
 * more than its 4 KiB bound. (Placing less than promised is legal: a
 * receive buffer may overlap the guest's own descriptors and change them.)
 *
 * Input layout (little-endian):
 *   [0]   bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 reset and re-activate
 *         half-way, bit 3 emergency writes
 *   [1]   bits 0-2: queue size 1 << n (1..64, 7 -> 64)
 *   [2,3] M: bytes of guest memory image that follow (capped at RAM size)
 *   [4..4+M) guest RAM from address 0: receive ring desc 0x0, avail 0x400,
 *         used 0x800; transmit ring desc 0x1000, avail 0x1400, used 0x1800
 *   rest: backend input, offered as fast as can_recv allows */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chardev.h"
#include "config.h"
#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define FUZZ_RAM 0x10000u
#define FUZZ_HDR 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The transport: tests/fake/fake_virtio.c; rings and input conventions:
 * tests/fake/fake_ring.c. */

/* ---- fake chardev (the "event loop" it is opened on is where the
 * harness finds it) ---- */

struct evloop {
	struct chardev *cd;
};

struct chardev {
	struct chardev_frontend fe;
	bool has_fe;
	uint64_t written;
};

int chardev_open(const struct chardev_spec *spec, struct evloop *loop,
		 const struct chardev_hooks *hooks, struct chardev **out)
{
	*out = calloc(1, sizeof(**out));
	loop->cd = *out;
	return *out ? 0 : -ENOMEM;
}

void chardev_close(struct chardev *cd)
{
	free(cd);
}

void chardev_set_frontend(struct chardev *cd, const struct chardev_frontend *fe)
{
	cd->fe = *fe;
	cd->has_fe = true;
}

void chardev_accept_input(struct chardev *cd)
{
}

size_t chardev_write(struct chardev *cd, const void *buf, size_t len)
{
	const volatile uint8_t *p = buf;

	if (len)
		(void)p[0], (void)p[len - 1]; /* ASan checks the ends */
	cd->written += len;
	return len;
}

uint64_t chardev_dropped(const struct chardev *cd)
{
	return 0;
}

const char *chardev_filename(const struct chardev *cd)
{
	return "";
}

const char *chardev_kind_name(enum chardev_kind kind)
{
	return "none";
}

/* ---- harness ---- */

struct fuzz {
	struct gmem gm;
	uint8_t *ram;
	struct fake_ring_mem mem;
	struct fake_ring ring[2];
	struct virtio_dev vd;
	struct evloop loop;
	struct chardev *cd;
	struct virtio_dev_info info;
	uint64_t features;
	unsigned qsize;
};

/* Offer input as the chardev would: never more than can_recv said. */
static size_t fuzz_input(struct fuzz *z, const uint8_t *p, size_t n)
{
	const struct chardev_frontend *fe = &z->cd->fe;
	size_t done = 0;

	if (!z->cd->has_fe)
		__builtin_trap();
	while (done < n) {
		size_t room = fe->can_recv(fe->opaque), len = n - done;

		if (room == 0)
			break;
		if (room > 4096)
			__builtin_trap(); /* can_recv is bounded */
		len = len < room ? len : room;
		fe->recv(fe->opaque, p + done, len);
		done += len;
	}
	return done;
}

static void fuzz_emerg(struct fuzz *z, const uint8_t *p, size_t n)
{
	pthread_mutex_lock(&z->vd.lock);
	for (size_t i = 0; i < n && i < 16; i++) {
		uint32_t v = p[i];

		z->info.ops->cfg_write(z->info.dev, (unsigned)(i % 3) * 4, &v, 4);
	}
	pthread_mutex_unlock(&z->vd.lock);
}

static void fuzz_run(struct fuzz *z, uint8_t flags, const uint8_t *in, size_t n)
{
	uint8_t cfg[12];
	json_t *obj = json_object();
	size_t done;

	z->info.ops->cfg_read(z->info.dev, 0, cfg, sizeof(cfg));
	if (flags & 8)
		fuzz_emerg(z, in, n);
	(void)fake_virtio_activate(&z->vd, &z->info, z->ring, 2, z->features);
	fake_virtio_notify(&z->vd, &z->info, 1);
	done = fuzz_input(z, in, n / 2);
	fake_virtio_notify(&z->vd, &z->info, 0);
	if (flags & 4) {
		fake_virtio_reset(&z->vd, &z->info, 2);
		(void)fake_virtio_activate(&z->vd, &z->info, z->ring, 2, z->features);
	}
	done += fuzz_input(z, in + n / 2, n - n / 2);
	fake_virtio_notify(&z->vd, &z->info, 1);
	fake_virtio_notify(&z->vd, &z->info, 0);
	(void)done;
	z->info.ops->query(z->info.dev, obj);
	json_decref(obj);
	fake_virtio_reset(&z->vd, &z->info, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_console cfg = { .id = "console0" };
	struct fuzz z;
	struct virtio_env env;
	size_t m;

	if (size < FUZZ_HDR)
		return 0;
	memset(&z, 0, sizeof(z));
	pthread_mutex_init(&z.vd.lock, NULL);
	z.qsize = fake_ring_fuzz_qsize(data[1]);
	z.features = fake_ring_fuzz_features(data[0]);
	z.ram = fake_ring_ram(&z.mem, &z.gm, FUZZ_RAM, 0, NULL);
	env = (struct virtio_env){ .loop = &z.loop, .gm = &z.gm, .ncpus = 1 };
	if (z.ram && vconsole_create(&env, &cfg, &z.info) == 0) {
		*z.info.handle = &z.vd;
		z.cd = z.loop.cd;
		fake_ring_fuzz_rings(z.ring, 2, &z.mem, z.qsize);
		m = fake_ring_fuzz_image(z.ram, FUZZ_RAM, data, size, FUZZ_HDR);
		fuzz_run(&z, data[0], data + FUZZ_HDR + m, size - FUZZ_HDR - m);
		z.info.ops->destroy(z.info.dev);
	}
	pthread_mutex_destroy(&z.vd.lock);
	free(z.ram);
	return 0;
}
