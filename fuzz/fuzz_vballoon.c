/* fuzz_vballoon: libFuzzer harness for the virtio-balloon device
 * (src/vmm/virtio/vballoon.c): inflate, deflate, statistics and free page
 * reporting chains from the input, with balloon_set, configuration reads
 * and writes, queries and a reset in between as the input's script says.
 * Guest RAM is two exactly-sized heap buffers, adjacent in guest-physical
 * space (0x0-0x10000 and 0x10000-0x14000), so ASan sees any access outside
 * them and a run of PFNs crossing the region boundary is exercised
 * (discards on a region without a file zero the pages). The transport is
 * tests/fake/fake_virtio.c; there is no event loop (no stats timer).
 *
 * Input layout (little-endian):
 *   [0]   bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 STATS_VQ, bit 3
 *         free-page-reporting (a fourth queue), bit 4 reset and re-activate
 *         half-way through the script
 *   [1]   bits 0-2: queue size 1 << n (1..64, 7 -> 64)
 *   [2,3] M: bytes of guest memory image that follow (capped at 0x10000)
 *   [4..4+M) guest RAM from address 0: queue q's ring at 0x1000 * q:
 *         desc +0x0, avail +0x400, used +0x800 (inflate, deflate, stats,
 *         reporting)
 *   rest: the script, one byte per step: bits 0-2 = 0..3 notify that
 *         queue; 4 balloon_set(RAM * (byte >> 3) / 31); 5 write the byte to
 *         configuration offset (byte >> 3) & 7; 6 read the configuration and
 *         query; 7 notify every queue */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define FUZZ_RAM 0x10000u
#define FUZZ_RAM2 0x4000u
#define FUZZ_HDR 4
#define FUZZ_NQ 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz {
	struct gmem gm;
	uint8_t *ram, *ram2;
	struct fake_ring_mem mem;   /* rings and input conventions: tests/fake/fake_ring.c */
	struct fake_ring ring[FUZZ_NQ];
	struct virtio_dev vd;
	struct virtio_dev_info info;
	uint64_t features;
	unsigned qsize;
};

static void fuzz_activate(struct fuzz *z)
{
	z->vd.features = z->features;
	(void)fake_virtio_activate(&z->vd, &z->info, z->ring,
				   z->info.nqueues < FUZZ_NQ ? z->info.nqueues : FUZZ_NQ,
				   z->features);
}

static void fuzz_step(struct fuzz *z, uint8_t op)
{
	uint8_t cfg[8];
	json_t *obj;

	pthread_mutex_lock(&z->vd.lock);
	switch (op & 7) {
	case 0: case 1: case 2: case 3:
		if ((op & 7u) < z->info.nqueues)
			z->info.ops->queue_notify(z->info.dev, op & 7u);
		break;
	case 4:
		(void)z->info.ops->balloon_set(z->info.dev,
					       (uint64_t)(FUZZ_RAM + FUZZ_RAM2) * (op >> 3) / 31);
		break;
	case 5:
		z->info.ops->cfg_write(z->info.dev, (op >> 3) & 7u, &op, 1);
		break;
	case 6:
		z->info.ops->cfg_read(z->info.dev, (op >> 3) & 7u, cfg, 8 - ((op >> 3) & 7u));
		obj = json_object();
		z->info.ops->query(z->info.dev, obj);
		json_decref(obj);
		break;
	case 7:
		for (unsigned q = 0; q < z->info.nqueues; q++)
			z->info.ops->queue_notify(z->info.dev, q);
		break;
	}
	pthread_mutex_unlock(&z->vd.lock);
}

static void fuzz_run(struct fuzz *z, uint8_t flags, const uint8_t *in, size_t n)
{
	fuzz_activate(z);
	for (size_t i = 0; i < n; i++) {
		if ((flags & 16) && i == n / 2) {
			fake_virtio_reset(&z->vd, &z->info, FUZZ_NQ);
			fuzz_activate(z);
		}
		fuzz_step(z, in[i]);
	}
	fake_virtio_reset(&z->vd, &z->info, FUZZ_NQ);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_balloon cfg = { .enabled = true, .id = "balloon0" };
	struct fuzz z;
	struct virtio_env env;
	size_t m;

	if (size < FUZZ_HDR)
		return 0;
	memset(&z, 0, sizeof(z));
	pthread_mutex_init(&z.vd.lock, NULL);
	z.qsize = fake_ring_fuzz_qsize(data[1]);
	z.features = fake_ring_fuzz_features(data[0]);
	z.features |= data[0] & 4 ? 1ull << 1 : 0;
	z.features |= data[0] & 8 ? 1ull << 5 : 0;
	cfg.free_page_reporting = data[0] & 8;
	z.ram = fake_ring_ram(&z.mem, &z.gm, FUZZ_RAM, 0, NULL);
	z.ram2 = calloc(1, FUZZ_RAM2);
	env = (struct virtio_env){ .gm = &z.gm, .ncpus = 1 };
	if (z.ram && z.ram2 && gmem_add_region(&z.gm, FUZZ_RAM, FUZZ_RAM2, z.ram2) == 0 &&
	    vballoon_create(&env, &cfg, &z.info) == 0) {
		*z.info.handle = &z.vd;
		fake_ring_fuzz_rings(z.ring, FUZZ_NQ, &z.mem, z.qsize);
		m = fake_ring_fuzz_image(z.ram, FUZZ_RAM, data, size, FUZZ_HDR);
		fuzz_run(&z, data[0], data + FUZZ_HDR + m, size - FUZZ_HDR - m);
		z.info.ops->destroy(z.info.dev);
	}
	pthread_mutex_destroy(&z.vd.lock);
	free(z.ram);
	free(z.ram2);
	return 0;
}
