/* fuzz_vblk: libFuzzer harness for the virtio-blk request handler
 * (src/vmm/virtio/vblk.c, included so the harness can simulate a host with
 * 4 KiB logical blocks) behind a fake transport (the virtio.h
 * device->transport calls, implemented here) on fake guest memory whose
 * content, rings included, is the input. Four devices over small temporary
 * images (unlinked once open) live for the whole run: raw and qcow2, each
 * with cache=writeback and with cache=none (the latter forced to 4 KiB host
 * blocks, so that bounce buffers and read-modify-write run). Each input activates one of
 * them, kicks its queue and serves its completions until every popped
 * request is used, the device failed, or (optionally) resets it while
 * requests are in flight; then resets it. A lost completion (nothing used
 * for 10 s) traps, as does anything ASan or UBSan finds.
 *
 * Input layout:
 *   [0] bits 0-1 device (raw, raw cache=none, qcow2, qcow2 cache=none),
 *       bit 2 INDIRECT_DESC, bit 3 EVENT_IDX, bit 4 FLUSH not negotiated
 *       (write-through), bit 5 DISCARD/WRITE_ZEROES not negotiated, bit 6
 *       reset right after the kick
 *   [1] queue size = 1 << (byte % 9)                  (1..256)
 *   [2..] guest RAM from 0 (FUZZ_RAM bytes, zero-filled): descriptor table
 *       at 0, avail ring at 0x1000, used ring at 0x1800, data anywhere */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "tests/fake/fake_virtio.h"
#include "virtio/vblk.c"

#define FUZZ_HDR 2
#define FUZZ_RAM 0x10000u
#define FUZZ_DESC 0x0ull
#define FUZZ_AVAIL 0x1000ull
#define FUZZ_USED 0x1800ull
#define FUZZ_NDEV 4
#define FUZZ_IMAGE_SIZE (256u << 10)
#define FUZZ_TIMEOUT_MS 10000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The transport and its notify: tests/fake/fake_virtio.c. */

/* The harness's long-lived state (libFuzzer calls the entry point again
 * and again in one process). */
struct fuzz_dev {
	struct virtio_dev vd;
	struct virtio_dev_info info;
};

struct fuzz_state {
	char dir[64];
	uint8_t *ram;
	struct gmem gm;
	struct fuzz_dev dev[FUZZ_NDEV];
};

static struct fuzz_state *fuzz_st;

static void fuzz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void fuzz_open_dev(struct fuzz_state *st, unsigned i)
{
	static const char *const fmt[FUZZ_NDEV] = { "raw", "raw", "qcow2", "qcow2" };
	struct virtio_env env = { .gm = &st->gm, .ncpus = 1 };
	struct blk_create_opts co = { .size = FUZZ_IMAGE_SIZE };
	struct config_disk cfg = { .queues = 1 };
	struct fuzz_dev *fd = &st->dev[i];
	struct vblk *d;

	snprintf(cfg.path, sizeof(cfg.path), "%s/d%u.%s", st->dir, i, fmt[i]);
	snprintf(cfg.id, sizeof(cfg.id), "fuzz%u", i);
	cfg.format = i < 2 ? CONFIG_DISK_RAW : CONFIG_DISK_QCOW2;
	cfg.cache = i & 1 ? CONFIG_CACHE_NONE : CONFIG_CACHE_WRITEBACK;
	fuzz_check(blk_create(cfg.path, fmt[i], &co) == 0);
	pthread_mutex_init(&fd->vd.lock, NULL);
	fuzz_check(vblk_create(&env, &cfg, &fd->info) == 0);
	*fd->info.handle = &fd->vd;
	d = fd->info.dev;
	if (i & 1) {   /* a host with 4 KiB logical blocks */
		d->align = 4096;
		d->blk->file->align = 4096;
	}
	unlink(cfg.path);   /* open: nothing is left behind in /tmp */
}

static struct fuzz_state *fuzz_state(void)
{
	struct fuzz_state *st = fuzz_st;

	if (st)
		return st;
	st = calloc(1, sizeof(*st));
	fuzz_check(st != NULL);
	snprintf(st->dir, sizeof(st->dir), "/tmp/fuzz_vblk.XXXXXX");
	fuzz_check(mkdtemp(st->dir) != NULL);
	st->ram = malloc(FUZZ_RAM);
	fuzz_check(st->ram != NULL);
	fuzz_check(gmem_add_region(&st->gm, 0, FUZZ_RAM, st->ram) == 0);
	for (unsigned i = 0; i < FUZZ_NDEV; i++)
		fuzz_open_dev(st, i);
	rmdir(st->dir);
	fuzz_st = st;
	return st;
}

static uint64_t fuzz_features(const struct fuzz_dev *fd, uint8_t flags)
{
	uint64_t f = fd->info.features | (1ull << VIRTIO_F_VERSION_1);

	if (flags & 4)
		f |= 1ull << VIRTQUEUE_F_INDIRECT_DESC;
	if (flags & 8)
		f |= 1ull << VIRTQUEUE_F_EVENT_IDX;
	if (flags & 16)
		f &= ~(1ull << VBLK_F_FLUSH);
	if (flags & 32)
		f &= ~((1ull << VBLK_F_DISCARD) | (1ull << VBLK_F_WRITE_ZEROES));
	return f;
}

/* Every popped chain used (or the device failed). */
static bool fuzz_idle(struct fuzz_dev *fd)
{
	bool idle;

	pthread_mutex_lock(&fd->vd.lock);
	idle = fd->vd.failed || virtqueue_broken(&fd->vd.vq[0]) ||
	       fd->vd.vq[0].used_idx == fd->vd.vq[0].last_avail_idx;
	pthread_mutex_unlock(&fd->vd.lock);
	return idle;
}

/* Serve the device's kicks until it is idle. */
static void fuzz_serve(struct fuzz_dev *fd)
{
	unsigned seen = __atomic_load_n(&fd->vd.kicks[0], __ATOMIC_SEQ_CST);

	fake_virtio_notify(&fd->vd, &fd->info, 0);
	for (int ms = 0; !fuzz_idle(fd); ms++) {
		unsigned k = __atomic_load_n(&fd->vd.kicks[0], __ATOMIC_SEQ_CST);

		fuzz_check(ms < FUZZ_TIMEOUT_MS);
		if (k != seen) {
			seen = k;
			fake_virtio_notify(&fd->vd, &fd->info, 0);
		}
		usleep(200);
	}
	pthread_mutex_lock(&fd->vd.lock);
	/* nothing left behind: all the driver made available was taken */
	fuzz_check(fd->vd.failed || virtqueue_broken(&fd->vd.vq[0]) ||
		   !virtqueue_has_avail(&fd->vd.vq[0]));
	pthread_mutex_unlock(&fd->vd.lock);
}

static void fuzz_reset(struct fuzz_dev *fd)
{
	struct vblk *d = fd->info.dev;

	pthread_mutex_lock(&fd->vd.lock);
	fd->info.ops->reset(fd->info.dev);
	fuzz_check(d->inflight == 0 && d->wait_head == NULL && d->writes == NULL);
	virtqueue_reset(&fd->vd.vq[0]);
	fd->vd.active = false;
	fd->vd.failed = false;
	pthread_mutex_unlock(&fd->vd.lock);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *st = fuzz_state();
	struct fuzz_dev *fd;
	uint64_t features;
	size_t n;

	if (size < FUZZ_HDR)
		return 0;
	fd = &st->dev[data[0] & 3];
	features = fuzz_features(fd, data[0]);
	n = size - FUZZ_HDR < FUZZ_RAM ? size - FUZZ_HDR : FUZZ_RAM;
	memset(st->ram, 0, FUZZ_RAM);
	memcpy(st->ram, data + FUZZ_HDR, n);
	if (virtqueue_init(&fd->vd.vq[0], &st->gm, 1u << (data[1] % 9), FUZZ_DESC, FUZZ_AVAIL,
			   FUZZ_USED, features) != 0)
		return 0;
	fd->vd.features = features;
	fd->vd.active = true;
	pthread_mutex_lock(&fd->vd.lock);
	fuzz_check(fd->info.ops->activate(fd->info.dev, features) == 0);
	pthread_mutex_unlock(&fd->vd.lock);
	if (data[0] & 64)
		fake_virtio_notify(&fd->vd, &fd->info, 0);
	else
		fuzz_serve(fd);
	fuzz_reset(fd);
	return 0;
}
