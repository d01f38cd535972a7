/* test_vblk: the virtio-blk device (src/vmm/virtio/vblk.c, included here so
 * the tests can reach its state) behind a fake transport implemented in this
 * file (the virtio.h device->transport calls), on fake guest memory with
 * real split rings built by a fake driver. Images are temporary raw and
 * qcow2 files run through the real block layer and its worker threads.
 * Covers read/write round trips (raw, qcow2, cache=none with unaligned guest
 * buffers and a simulated 4 KiB host block), flush, get-id, discard,
 * write-zeroes, read-only refusals, past-the-end and malformed requests,
 * headers split over segments, a missing status byte, several queues, the
 * batch hook pushing finished requests or kicking their queue, polling
 * for the driver's answer (served by the thread that completed, with and
 * without event idx; a kick when the device lock is taken; poll_us=0),
 * reset with requests in flight, configuration, query and open errors, and
 * the rate limit (requests held back in the ring, the timer that resumes
 * them, set-rate-limit at run time, the counters) on an injected clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/evloop.h"

#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_ring_cmocka.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/vblk.c"

#define RAM_SIZE (64ull << 20)
#define QSZ 256u
#define NQ_MAX 8u
#define RING_GPA(q) (0x100000ull + (uint64_t)(q) * 0x4000ull)
#define HEAP_GPA 0x200000ull
#define WAIT_MS 20000

#define F_INDIRECT (1ull << VIRTIO_F_INDIRECT_DESC)
#define F_V1 (1ull << VIRTIO_F_VERSION_1)

/* The transport: tests/fake/fake_virtio.c; the driver's rings:
 * tests/fake/fake_ring.c. */

/* ---- fixture: guest memory, a fake driver, the device ---- */

struct fxq {
	struct fake_ring ring;  /* descriptors are handed out round-robin */
	uint16_t expect;        /* used entries expected */
	unsigned kicks_seen;
};

struct fx {
	char dir[64], path[96];
	uint8_t *ram;
	struct gmem gm;
	struct fake_ring_mem mem;
	struct virtio_dev vd;
	struct virtio_dev_info info;
	struct evloop *loop;    /* never run: the rate-limit timer registers here */
	uint64_t clock_ns;      /* the rate limit's clock, when a test injects it */
	struct vblk *d;
	unsigned nq;
	struct fxq q[VIRTIO_MAX_QUEUES];
	unsigned notifies;      /* fx_notify calls: the test serving a queue */
};

/* A request as posted: its head and where its header and status live. */
struct fxreq {
	unsigned q;
	uint16_t head;
	uint64_t status;
};

static void *fx_host(struct fx *f, uint64_t gpa)
{
	return f->ram + gpa;
}

/* Guest memory: align, then misalign by `skew` bytes. */
static uint64_t fx_alloc(struct fx *f, uint64_t len, uint64_t align, uint64_t skew)
{
	return fake_ring_alloc_aligned(&f->mem, len, align, skew);
}

static uint16_t fx_post(struct fx *f, unsigned q, const struct fake_ring_seg *s, unsigned n)
{
	f->q[q].expect++;
	return fake_ring_post(&f->q[q].ring, s, n);
}

static void fx_header(struct fx *f, uint64_t gpa, uint32_t type, uint64_t sector)
{
	uint8_t h[16] = { 0 };

	le_put32(h, type);
	le_put64(h + 8, sector);
	memcpy(fx_host(f, gpa), h, sizeof(h));
}

/* Header + data segments + a 1-byte status segment. */
static struct fxreq fx_req(struct fx *f, unsigned q, uint32_t type, uint64_t sector,
			   const struct fake_ring_seg *data, unsigned ndata)
{
	struct fake_ring_seg s[QSZ];
	struct fxreq r = { .q = q };
	uint64_t hdr = fx_alloc(f, 16, 16, 0);

	assert_true(ndata + 2 <= QSZ);
	r.status = fx_alloc(f, 1, 1, 0);
	*(uint8_t *)fx_host(f, r.status) = 0xee;
	fx_header(f, hdr, type, sector);
	s[0] = (struct fake_ring_seg){ hdr, 16, false };
	for (unsigned i = 0; i < ndata; i++)
		s[i + 1] = data[i];
	s[ndata + 1] = (struct fake_ring_seg){ r.status, 1, true };
	r.head = fx_post(f, q, s, ndata + 2);
	return r;
}

static void fx_lock(struct fx *f)
{
	pthread_mutex_lock(&f->vd.lock);
}

static void fx_unlock(struct fx *f)
{
	pthread_mutex_unlock(&f->vd.lock);
}

static void fx_notify(struct fx *f, unsigned q)
{
	f->notifies++;
	fx_lock(f);
	f->info.ops->queue_notify(f->info.dev, q);
	fx_unlock(f);
}

static uint16_t fx_used_idx(struct fx *f, unsigned q)
{
	return fake_ring_used_idx(&f->q[q].ring);
}

static uint64_t fx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait until q has n used entries (requests run on the workers) or the
 * device failed, serving the device's own kicks (a worker that finds the
 * lock taken kicks); look every pause_us (0: spin, as a polling driver). */
static void fx_wait_used_every(struct fx *f, unsigned q, uint16_t n, unsigned pause_us)
{
	struct fxq *x = &f->q[q];
	uint64_t end = fx_now_ms() + WAIT_MS;

	while (fx_used_idx(f, q) != n && !f->vd.failed) {
		unsigned k = __atomic_load_n(&f->vd.kicks[q], __ATOMIC_SEQ_CST);

		assert_true(fx_now_ms() < end);
		if (k != x->kicks_seen) {
			x->kicks_seen = k;
			fx_notify(f, q);
		}
		if (pause_us)
			usleep(pause_us);
	}
}

static void fx_wait_used(struct fx *f, unsigned q, uint16_t n)
{
	fx_wait_used_every(f, q, n, 1000);
}

/* Kick q and serve the device's own kicks until every posted request on q is
 * used (or the device failed). */
static void fx_run(struct fx *f, unsigned q)
{
	fx_notify(f, q);
	fx_wait_used(f, q, f->q[q].expect);
}

/* Interrupts sent on q (the workers send them under the device lock). */
static unsigned fx_irqs(struct fx *f, unsigned q)
{
	unsigned n;

	fx_lock(f);
	n = f->vd.irqs[q];
	fx_unlock(f);
	return n;
}

static uint8_t fx_status(struct fx *f, struct fxreq r)
{
	return *(uint8_t *)fx_host(f, r.status);
}

/* The used length the device gave request r. */
static uint32_t fx_used_len(struct fx *f, struct fxreq r)
{
	uint16_t n = fx_used_idx(f, r.q);

	for (uint16_t i = 0; i < n && i < QSZ; i++) {
		uint32_t id, len;

		fake_ring_used(&f->q[r.q].ring, i, &id, &len);
		if (id == r.head)
			return len;
	}
	fail_msg("request %u not used", r.head);
	return 0;
}

/* One request on queue 0, run to completion; its status. */
static uint8_t fx_do(struct fx *f, uint32_t type, uint64_t sector, const struct fake_ring_seg *data,
		     unsigned ndata)
{
	struct fxreq r = fx_req(f, 0, type, sector, data, ndata);

	fx_run(f, 0);
	return fx_status(f, r);
}

static void fx_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 7 + seed * 13 + (i >> 9) * 3) ^ (seed >> 3));
}

struct fx_opts {
	const char *format;
	uint64_t size;
	bool readonly, direct;
	unsigned queues, ncpus;
	unsigned poll_us;
	const char *id;
};

static void fx_make_image(struct fx *f, const struct fx_opts *o)
{
	struct blk_create_opts co = { .size = o->size };

	snprintf(f->path, sizeof(f->path), "%s/disk.%s", f->dir, o->format);
	assert_int_equal(blk_create(f->path, o->format, &co), 0);
}

static int fx_create(struct fx *f, const struct fx_opts *o)
{
	struct virtio_env env = { .loop = f->loop, .gm = &f->gm, .ncpus = o->ncpus ? o->ncpus : 1 };
	struct config_disk cfg = { .readonly = o->readonly, .queues = o->queues,
				   .poll_us = o->poll_us };
	int ret;

	snprintf(cfg.path, sizeof(cfg.path), "%s", f->path);
	snprintf(cfg.id, sizeof(cfg.id), "%s", o->id ? o->id : "disk0");
	cfg.format = strcmp(o->format, "qcow2") ? CONFIG_DISK_RAW : CONFIG_DISK_QCOW2;
	cfg.cache = o->direct ? CONFIG_CACHE_NONE : CONFIG_CACHE_WRITEBACK;
	ret = vblk_create(&env, &cfg, &f->info);
	if (ret == 0) {
		*f->info.handle = &f->vd;
		f->d = f->info.dev;
	}
	return ret;
}

/* The driver's start-up: queues set up, features accepted, DRIVER_OK.
 * With `late`, the queues become visible only after activate returns. */
static void fx_activate_as(struct fx *f, uint64_t features, bool late)
{
	unsigned nq = virtio_has_feature(features, VBLK_F_MQ) ? f->info.nqueues : 1;

	fx_lock(f);
	memset(f->vd.irqs, 0, sizeof(f->vd.irqs));
	fx_unlock(f);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		fake_ring_init(&f->q[i].ring, &f->mem, QSZ, RING_GPA(i), RING_GPA(i) + 0x1000,
			       RING_GPA(i) + 0x2000);
		f->q[i].expect = 0;
		f->q[i].kicks_seen = __atomic_load_n(&f->vd.kicks[i], __ATOMIC_SEQ_CST);
	}
	memset(f->ram + RING_GPA(0), 0, RING_GPA(VIRTIO_MAX_QUEUES) - RING_GPA(0));
	f->nq = MIN(nq, NQ_MAX);
	for (unsigned i = 0; i < f->nq; i++)
		assert_int_equal(fake_ring_attach(&f->q[i].ring, &f->vd.vq[i], features), 0);
	f->vd.features = features;
	f->vd.id = "disk0";
	f->vd.active = !late;
	f->vd.failed = false;
	fx_lock(f);
	assert_int_equal(f->info.ops->activate(f->info.dev, features), 0);
	f->vd.active = true;
	fx_unlock(f);
}

static void fx_activate(struct fx *f, uint64_t features)
{
	fx_activate_as(f, features, false);
}

static uint64_t fx_all_features(struct fx *f)
{
	return f->info.features | F_INDIRECT | F_V1;
}

static void fx_reset(struct fx *f)
{
	fx_lock(f);
	f->info.ops->reset(f->info.dev);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		virtqueue_reset(&f->vd.vq[i]);
	f->vd.active = false;
	fx_unlock(f);
}

static struct fx *fx_open(const struct fx_opts *o)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_vblk.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->ram = aligned_alloc(4096, RAM_SIZE);
	assert_non_null(f->ram);
	memset(f->ram, 0, RAM_SIZE);
	assert_int_equal(gmem_add_region(&f->gm, 0, RAM_SIZE, f->ram), 0);
	fake_ring_mem_init(&f->mem, &f->gm, HEAP_GPA, RAM_SIZE, fake_ring_fail_test);
	pthread_mutex_init(&f->vd.lock, NULL);
	assert_int_equal(evloop_create(&f->loop), 0);
	fx_make_image(f, o);
	assert_int_equal(fx_create(f, o), 0);
	fx_activate(f, fx_all_features(f));
	return f;
}

static void fx_close(struct fx *f)
{
	if (f->d) {
		fx_reset(f);
		f->info.ops->destroy(f->info.dev);
	}
	unlink(f->path);
	rmdir(f->dir);
	evloop_destroy(f->loop);
	pthread_mutex_destroy(&f->vd.lock);
	free(f->ram);
	free(f);
}

static const struct fx_opts raw16 = { .format = "raw", .size = 16ull << 20 };
static const struct fx_opts qcow16 = { .format = "qcow2", .size = 16ull << 20 };

/* The raw image's bytes [off, off+len). */
static void fx_file_read(struct fx *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

/* ---- tests ---- */

/* Write a pattern in 3 segments, read it back in 2 other ones. */
static void rw_round_trip(struct fx *f, uint64_t sector, size_t len, uint64_t skew)
{
	uint64_t w = fx_alloc(f, len, 4096, skew), r = fx_alloc(f, len, 4096, skew * 3);
	size_t a = len / 4 + 3, b = len / 2 - 3;
	struct fake_ring_seg ws[3] = { { w, (uint32_t)a, false }, { w + a, (uint32_t)b, false },
			     { w + a + b, (uint32_t)(len - a - b), false } };
	struct fake_ring_seg rs[2] = { { r, (uint32_t)(len / 3), true },
			     { r + len / 3, (uint32_t)(len - len / 3), true } };
	struct fxreq rq;

	fx_pattern(fx_host(f, w), len, (uint32_t)(sector + skew));
	assert_int_equal(fx_do(f, VBLK_T_OUT, sector, ws, 3), VBLK_S_OK);
	rq = fx_req(f, 0, VBLK_T_IN, sector, rs, 2);
	fx_run(f, 0);
	assert_int_equal(fx_status(f, rq), VBLK_S_OK);
	assert_int_equal(fx_used_len(f, rq), len + 1);
	assert_memory_equal(fx_host(f, r), fx_host(f, w), len);
}

static void test_rw_raw(void **state)
{
	struct fx *f = fx_open(&raw16);
	uint8_t *file = malloc(65536);

	uint8_t *want = malloc(65536);

	rw_round_trip(f, 8, 65536, 0);
	fx_file_read(f, 8 * 512, file, 65536);
	fx_pattern(want, 65536, 8);
	assert_memory_equal(file, want, 65536);
	assert_true(fx_irqs(f, 0) > 0);
	free(file);
	free(want);
	fx_close(f);
}

static void test_rw_qcow2(void **state)
{
	struct fx *f = fx_open(&qcow16);
	struct blk_open_opts o = { .format = "qcow2", .readonly = true };
	uint8_t *got = malloc(131072), *want = malloc(131072);
	struct blk *b;

	rw_round_trip(f, 100, 131072, 0);
	rw_round_trip(f, 32760, 4096, 0);   /* the last 8 sectors */
	fx_reset(f);
	f->info.ops->destroy(f->info.dev);
	f->d = NULL;
	assert_int_equal(blk_open(f->path, &o, &b), 0);
	assert_int_equal(blk_pread(b, 100 * 512, got, 131072), 0);
	fx_pattern(want, 131072, 100);
	assert_memory_equal(got, want, 131072);
	blk_close(b);
	free(got);
	free(want);
	fx_close(f);
}

static void test_flush(void **state)
{
	struct fx *f = fx_open(&raw16);
	json_t *q = json_object();

	rw_round_trip(f, 0, 4096, 0);
	assert_int_equal(fx_do(f, VBLK_T_FLUSH, 0, NULL, 0), VBLK_S_OK);
	fx_lock(f);
	f->info.ops->query(f->info.dev, q);
	fx_unlock(f);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(q, "stats"),
							    "flush_operations")), 1);
	json_decref(q);
	fx_close(f);
}

static void test_get_id(void **state)
{
	struct fx_opts o = raw16;
	struct fx *f;
	uint64_t buf;
	struct fake_ring_seg s;
	struct fxreq r;

	o.id = "disk-with-a-long-id-0123";
	f = fx_open(&o);
	buf = fx_alloc(f, 32, 8, 0);
	memset(fx_host(f, buf), 0xaa, 32);
	s = (struct fake_ring_seg){ buf, 20, true };
	r = fx_req(f, 0, VBLK_T_GET_ID, 0, &s, 1);
	fx_run(f, 0);
	assert_int_equal(fx_status(f, r), VBLK_S_OK);
	assert_memory_equal(fx_host(f, buf), "disk-with-a-long-id-", 20);
	assert_int_equal(*(uint8_t *)fx_host(f, buf + 20), 0xaa);
	assert_int_equal(fx_used_len(f, r), 21);
	fx_close(f);

	f = fx_open(&raw16);
	buf = fx_alloc(f, 32, 8, 0);
	memset(fx_host(f, buf), 0xaa, 32);
	s = (struct fake_ring_seg){ buf, 20, true };
	assert_int_equal(fx_do(f, VBLK_T_GET_ID, 0, &s, 1), VBLK_S_OK);
	assert_memory_equal(fx_host(f, buf), "disk0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	fx_close(f);
}

/* A discard / write-zeroes request with segments {sector, n, flags}. */
static uint8_t fx_segs(struct fx *f, uint32_t type, const uint64_t (*sg)[3], unsigned n)
{
	uint64_t p = fx_alloc(f, 16ull * n, 16, 0);
	struct fake_ring_seg s = { p, 16 * n, false };

	for (unsigned i = 0; i < n; i++) {
		uint8_t *e = fx_host(f, p + 16ull * i);

		le_put64(e, sg[i][0]);
		le_put32(e + 8, (uint32_t)sg[i][1]);
		le_put32(e + 12, (uint32_t)sg[i][2]);
	}
	return fx_do(f, type, 0, &s, 1);
}

static bool fx_reads_zero(struct fx *f, uint64_t sector, size_t len)
{
	uint64_t r = fx_alloc(f, len, 4096, 0);
	struct fake_ring_seg s = { r, (uint32_t)len, true };
	uint8_t *p = fx_host(f, r);

	memset(p, 0x5a, len);
	assert_int_equal(fx_do(f, VBLK_T_IN, sector, &s, 1), VBLK_S_OK);
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void discard_wz(const struct fx_opts *o)
{
	struct fx *f = fx_open(o);
	const uint64_t wz_unmap[][3] = { { 64, 64, VBLK_SEG_F_UNMAP } };
	const uint64_t wz_keep[][3] = { { 200, 8, 0 }, { 300, 3, 0 } };
	const uint64_t disc[][3] = { { 400, 128, 0 }, { 600, 8, 0 } };
	const uint64_t disc_unmap[][3] = { { 400, 8, VBLK_SEG_F_UNMAP } };
	const uint64_t bad_flag[][3] = { { 400, 8, 2 } };
	const uint64_t past[][3] = { { 32760, 9, 0 } };
	const uint64_t big[][3] = { { 0, VBLK_MAX_WZ_SECTORS + 1, 0 } };
	static const uint64_t many[VBLK_MAX_SEGS + 1][3];

	rw_round_trip(f, 64, 65536, 0);
	rw_round_trip(f, 200, 65536, 0);
	assert_false(fx_reads_zero(f, 64, 32768));
	assert_int_equal(fx_segs(f, VBLK_T_WRITE_ZEROES, wz_unmap, 1), VBLK_S_OK);
	assert_true(fx_reads_zero(f, 64, 32768));
	assert_int_equal(fx_segs(f, VBLK_T_WRITE_ZEROES, wz_keep, 2), VBLK_S_OK);
	assert_true(fx_reads_zero(f, 200, 4096));
	assert_true(fx_reads_zero(f, 300, 1536));
	assert_false(fx_reads_zero(f, 303, 512));
	assert_int_equal(fx_segs(f, VBLK_T_DISCARD, disc, 2), VBLK_S_OK);
	assert_int_equal(fx_segs(f, VBLK_T_DISCARD, disc_unmap, 1), VBLK_S_UNSUPP);
	assert_int_equal(fx_segs(f, VBLK_T_WRITE_ZEROES, bad_flag, 1), VBLK_S_UNSUPP);
	assert_int_equal(fx_segs(f, VBLK_T_DISCARD, past, 1), VBLK_S_IOERR);
	assert_int_equal(fx_segs(f, VBLK_T_WRITE_ZEROES, past, 1), VBLK_S_IOERR);
	assert_int_equal(fx_segs(f, VBLK_T_WRITE_ZEROES, big, 1), VBLK_S_IOERR);
	assert_int_equal(fx_segs(f, VBLK_T_DISCARD, many, VBLK_MAX_SEGS + 1), VBLK_S_IOERR);
	assert_int_equal(fx_segs(f, VBLK_T_DISCARD, many, VBLK_MAX_SEGS), VBLK_S_OK);
	fx_close(f);
}

static void test_discard_wz_raw(void **state)
{
	discard_wz(&raw16);
}

static void test_discard_wz_qcow2(void **state)
{
	discard_wz(&qcow16);
}

static void test_segs_malformed(void **state)
{
	struct fx *f = fx_open(&raw16);
	uint64_t p = fx_alloc(f, 64, 16, 0);
	struct fake_ring_seg s = { p, 24, false };

	assert_int_equal(fx_do(f, VBLK_T_DISCARD, 0, &s, 1), VBLK_S_IOERR);      /* 24 bytes */
	assert_int_equal(fx_do(f, VBLK_T_WRITE_ZEROES, 0, NULL, 0), VBLK_S_IOERR); /* none */
	fx_close(f);
	/* not negotiated: unsupported */
	f = fx_open(&raw16);
	fx_reset(f);
	fx_activate(f, fx_all_features(f) & ~((1ull << VBLK_F_DISCARD) |
					      (1ull << VBLK_F_WRITE_ZEROES)));
	s = (struct fake_ring_seg){ p, 16, false };
	memset(fx_host(f, p), 0, 16);
	assert_int_equal(fx_do(f, VBLK_T_DISCARD, 0, &s, 1), VBLK_S_UNSUPP);
	assert_int_equal(fx_do(f, VBLK_T_WRITE_ZEROES, 0, &s, 1), VBLK_S_UNSUPP);
	fx_close(f);
}

static void test_readonly(void **state)
{
	struct fx_opts o = raw16;
	struct fx *f;
	uint64_t buf, segs;
	struct fake_ring_seg s, d;
	uint8_t file[4096], zero[4096] = { 0 };

	o.readonly = true;
	f = fx_open(&o);
	assert_true(virtio_has_feature(f->info.features, VBLK_F_RO));
	assert_false(virtio_has_feature(f->info.features, VBLK_F_DISCARD));
	buf = fx_alloc(f, 4096, 4096, 0);
	fx_pattern(fx_host(f, buf), 4096, 1);
	s = (struct fake_ring_seg){ buf, 4096, false };
	assert_int_equal(fx_do(f, VBLK_T_OUT, 0, &s, 1), VBLK_S_IOERR);
	segs = fx_alloc(f, 16, 16, 0);
	memset(fx_host(f, segs), 0, 16);
	le_put32(fx_host(f, segs + 8), 8);
	d = (struct fake_ring_seg){ segs, 16, false };
	assert_int_equal(fx_do(f, VBLK_T_DISCARD, 0, &d, 1), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, VBLK_T_WRITE_ZEROES, 0, &d, 1), VBLK_S_IOERR);
	s.write = true;
	assert_int_equal(fx_do(f, VBLK_T_IN, 0, &s, 1), VBLK_S_OK);
	assert_int_equal(fx_do(f, VBLK_T_FLUSH, 0, NULL, 0), VBLK_S_OK);
	fx_file_read(f, 0, file, sizeof(file));
	assert_memory_equal(file, zero, sizeof(file));
	fx_close(f);
}

static void test_past_end(void **state)
{
	struct fx *f = fx_open(&raw16);
	uint64_t buf = fx_alloc(f, 8192, 4096, 0);
	struct fake_ring_seg r = { buf, 4096, true }, w = { buf, 4096, false };
	struct fake_ring_seg r0 = { buf, 512, true };
	const uint64_t cap = (16ull << 20) / 512;

	assert_int_equal(fx_do(f, VBLK_T_IN, cap - 8, &r, 1), VBLK_S_OK);
	assert_int_equal(fx_do(f, VBLK_T_IN, cap - 7, &r, 1), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, VBLK_T_IN, cap, &r0, 1), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, VBLK_T_OUT, cap - 1, &w, 1), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, VBLK_T_IN, UINT64_MAX, &r, 1), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, VBLK_T_IN, UINT64_MAX / 512 + 1, &r, 1), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, VBLK_T_OUT, (UINT64_MAX - 7) / 512, &w, 1), VBLK_S_IOERR);
	fx_close(f);
}

static void test_bad_lengths(void **state)
{
	struct fx *f = fx_open(&raw16);
	uint64_t buf = fx_alloc(f, 8192, 4096, 0);
	struct fake_ring_seg a = { buf, 100, false };
	struct fake_ring_seg b[2] = { { buf, 512, true }, { buf + 512, 2, true } };
	struct fake_ring_seg c = { buf, 1000, true };
	struct fake_ring_seg w512 = { buf, 512, false }, r512 = { buf, 512, true };
	json_t *q = json_object();

	assert_int_equal(fx_do(f, VBLK_T_OUT, 0, &a, 1), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, VBLK_T_IN, 0, b, 2), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, VBLK_T_IN, 0, &c, 1), VBLK_S_IOERR);
	/* data on the wrong side of the request */
	assert_int_equal(fx_do(f, VBLK_T_IN, 0, &w512, 1), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, VBLK_T_OUT, 0, &r512, 1), VBLK_S_IOERR);
	assert_int_equal(fx_do(f, 0x1234, 0, NULL, 0), VBLK_S_UNSUPP);
	assert_int_equal(fx_do(f, 10 /* GET_LIFETIME */, 0, NULL, 0), VBLK_S_UNSUPP);
	/* a zero-length read is fine */
	assert_int_equal(fx_do(f, VBLK_T_IN, 0, NULL, 0), VBLK_S_OK);
	fx_lock(f);
	f->info.ops->query(f->info.dev, q);
	fx_unlock(f);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(q, "stats"),
							    "invalid_rd_operations")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(q, "stats"),
							    "invalid_wr_operations")), 2);
	json_decref(q);
	fx_close(f);
}

/* A header shorter than 16 bytes (but a status byte): IOERR. */
static void test_short_header(void **state)
{
	struct fx *f = fx_open(&raw16);
	uint64_t h = fx_alloc(f, 16, 16, 0), st = fx_alloc(f, 1, 1, 0);
	struct fake_ring_seg s[2] = { { h, 8, false }, { st, 1, true } };

	fx_header(f, h, VBLK_T_FLUSH, 0);
	fx_post(f, 0, s, 2);
	fx_run(f, 0);
	assert_int_equal(*(uint8_t *)fx_host(f, st), VBLK_S_IOERR);
	fx_close(f);
}

/* The header over three segments, data and status sharing the last one. */
static void test_header_split(void **state)
{
	struct fx *f = fx_open(&raw16);
	uint64_t h = fx_alloc(f, 16, 16, 0), w = fx_alloc(f, 1024, 4096, 0);
	uint64_t r = fx_alloc(f, 1025, 4096, 0);
	struct fake_ring_seg ws[5] = { { h, 5, false }, { h + 5, 7, false }, { h + 12, 4, false },
			     { w, 1024, false }, { 0, 1, true } };
	struct fake_ring_seg rs[4] = { { h, 3, false }, { h + 3, 13, false }, { r, 1025, true } };

	fx_header(f, h, VBLK_T_OUT, 40);
	fx_pattern(fx_host(f, w), 1024, 40);
	ws[4].gpa = fx_alloc(f, 1, 1, 0);
	fx_post(f, 0, ws, 5);
	fx_run(f, 0);
	assert_int_equal(*(uint8_t *)fx_host(f, ws[4].gpa), VBLK_S_OK);
	fx_header(f, h, VBLK_T_IN, 40);
	fx_post(f, 0, rs, 3);
	fx_run(f, 0);
	assert_int_equal(*(uint8_t *)fx_host(f, r + 1024), VBLK_S_OK);
	assert_memory_equal(fx_host(f, r), fx_host(f, w), 1024);
	fx_close(f);
}

static void test_no_status(void **state)
{
	struct fx *f = fx_open(&raw16);
	uint64_t h = fx_alloc(f, 16, 16, 0), w = fx_alloc(f, 512, 512, 0);
	struct fake_ring_seg s[2] = { { h, 16, false }, { w, 512, false } };

	fx_header(f, h, VBLK_T_OUT, 0);
	fx_post(f, 0, s, 2);
	fx_run(f, 0);
	assert_true(f->vd.failed);
	assert_non_null(strstr(f->vd.reason, "status"));
	assert_int_equal(fx_used_idx(f, 0), 0);   /* the chain is not used */
	fx_reset(f);
	fx_activate(f, fx_all_features(f));
	rw_round_trip(f, 0, 4096, 0);
	fx_close(f);
}

/* A malformed ring (descriptor outside RAM) fails the device. */
static void test_bad_ring(void **state)
{
	struct fx *f = fx_open(&raw16);
	struct fake_ring_seg s = { RAM_SIZE - 100, 4096, true };

	fx_req(f, 0, VBLK_T_IN, 0, &s, 1);
	fx_run(f, 0);
	assert_true(f->vd.failed);
	fx_close(f);
}

static void test_multiqueue(void **state)
{
	struct fx_opts o = raw16;
	struct fx *f;
	struct fxreq rq[4][8];
	uint64_t bufs[4][8];
	uint8_t cfg[2];

	o.ncpus = 2;
	o.queues = 4;
	f = fx_open(&o);
	assert_int_equal(f->info.nqueues, 4);
	f->info.ops->cfg_read(f->info.dev, VBLK_CFG_NUM_QUEUES, cfg, 2);
	assert_int_equal(cfg[0] | cfg[1] << 8, 4);
	for (unsigned q = 0; q < 4; q++) {
		for (unsigned i = 0; i < 8; i++) {
			struct fake_ring_seg s = { 0, 4096, false };

			bufs[q][i] = s.gpa = fx_alloc(f, 4096, 4096, 0);
			fx_pattern(fx_host(f, s.gpa), 4096, q * 8 + i);
			rq[q][i] = fx_req(f, q, VBLK_T_OUT, (q * 8 + i) * 8ull, &s, 1);
		}
	}
	for (unsigned q = 0; q < 4; q++)
		fx_notify(f, q);
	for (unsigned q = 0; q < 4; q++) {
		fx_run(f, q);
		assert_true(fx_irqs(f, q) > 0);
		for (unsigned i = 0; i < 8; i++)
			assert_int_equal(fx_status(f, rq[q][i]), VBLK_S_OK);
	}
	for (unsigned q = 0; q < 4; q++) {
		for (unsigned i = 0; i < 8; i++) {
			struct fake_ring_seg s = { fx_alloc(f, 4096, 4096, 0), 4096, true };

			rq[q][i] = fx_req(f, 3 - q, VBLK_T_IN, (q * 8 + i) * 8ull, &s, 1);
			bufs[q][i] = s.gpa;
		}
	}
	for (unsigned q = 0; q < 4; q++)
		fx_run(f, q);
	for (unsigned q = 0; q < 4; q++) {
		for (unsigned i = 0; i < 8; i++) {
			uint8_t want[4096];

			fx_pattern(want, 4096, q * 8 + i);
			assert_int_equal(fx_status(f, rq[q][i]), VBLK_S_OK);
			assert_memory_equal(fx_host(f, bufs[q][i]), want, 4096);
		}
	}
	fx_close(f);

	o.queues = 0;   /* one per vCPU, at most 8 */
	o.ncpus = 64;
	f = fx_open(&o);
	assert_int_equal(f->info.nqueues, VBLK_DEFAULT_QUEUES);
	fx_close(f);
}

/* One round of test_batch_hook: n reads on queue 1 notified with the device
 * lock held and kept. Those that finish after queue_notify returned are not
 * pushed while the lock is held: their batch kicks queue 1 (queue 0 never).
 * Returns whether any finished late (else the round proved nothing). */
static bool batch_hook_round(struct fx *f, unsigned n)
{
	uint16_t start = fx_used_idx(f, 1), after;
	unsigned kicked = __atomic_load_n(&f->vd.kicks[1], __ATOMIC_SEQ_CST);

	for (unsigned i = 0; i < n; i++) {
		struct fake_ring_seg s = { fx_alloc(f, 65536, 4096, 0), 65536, true };

		fx_req(f, 1, VBLK_T_IN, i * 128ull, &s, 1);
	}
	fx_lock(f);
	f->info.ops->queue_notify(f->info.dev, 1);
	after = fx_used_idx(f, 1);   /* what finished in time, pushed by the notify */
	if (after != (uint16_t)(start + n)) {
		for (int ms = 0; __atomic_load_n(&f->vd.kicks[1], __ATOMIC_SEQ_CST) == kicked; ms++) {
			assert_true(ms < WAIT_MS);
			usleep(1000);
		}
		assert_int_equal(fx_used_idx(f, 1), after);   /* nothing pushed meanwhile */
	}
	fx_unlock(f);
	fx_wait_used(f, 1, (uint16_t)(start + n));
	assert_int_equal(__atomic_load_n(&f->vd.kicks[0], __ATOMIC_SEQ_CST), 0);
	return after != (uint16_t)(start + n);
}

/* The block layer's batch hook (vblk_batch_done): when the device lock is
 * taken it pushes nothing and kicks only the queue that has finished
 * requests, which reach the used ring when the event loop answers. */
static void test_batch_hook(void **state)
{
	struct fx_opts o = raw16;
	struct fx *f;
	bool late = false;

	o.ncpus = 2;
	o.queues = 2;
	f = fx_open(&o);
	for (int round = 0; round < 20 && !late; round++)
		late = batch_hook_round(f, 32);
	assert_true(late);
	fx_close(f);
}

/* Writes made available one at a time, each as soon as the one before is
 * used, with a kick only where the ring asks for one, as a driver that
 * polls its used ring does: how many were kicked, and how many were served
 * quietly: no kick from the driver, and the test (the event loop) served
 * nothing meanwhile, so the thread that polled did. */
struct poll_tally {
	unsigned kicks, quiet;
};

static struct fxreq poll_post(struct fx *f, const struct fake_ring_seg *s, unsigned i, bool *kick)
{
	bool ev = virtio_has_feature(f->vd.features, VIRTQUEUE_F_EVENT_IDX);
	uint16_t old = f->q[0].ring.avail_idx;
	struct fxreq r = fx_req(f, 0, VBLK_T_OUT, (i % 2048) * 8ull, s, 1);

	*kick = fake_ring_kick_needed(&f->q[0].ring, old, ev);
	return r;
}

static void poll_round(struct fx *f, const struct fake_ring_seg *s, unsigned i,
		       struct poll_tally *t)
{
	unsigned served = f->notifies;
	bool kick;
	struct fxreq r = poll_post(f, s, i, &kick);

	if (kick) {
		t->kicks++;
		fx_notify(f, 0);
	}
	fx_wait_used_every(f, 0, f->q[0].expect, 0);
	assert_int_equal(fx_status(f, r), VBLK_S_OK);
	t->quiet += f->notifies == served;
}

static json_t *fx_query(struct fx *f);

static json_int_t fx_stat(struct fx *f, const char *name)
{
	json_t *q = fx_query(f);
	json_int_t v = json_integer_value(json_object_get(json_object_get(q, "stats"), name));

	json_decref(q);
	return v;
}

/* cache=none, so that a write takes longer than the notify that started
 * it (a request finished while the notify still holds the device lock is
 * pushed by the notify, and nothing polls). */
static struct fx *poll_open(unsigned poll_us, uint64_t extra_features, struct fake_ring_seg *s)
{
	struct fx_opts o = raw16;
	struct fx *f;

	o.direct = true;
	o.poll_us = poll_us;
	f = fx_open(&o);
	if (extra_features) {
		fx_reset(f);
		fx_activate(f, fx_all_features(f) | extra_features);
	}
	*s = (struct fake_ring_seg){ fx_alloc(f, 4096, 4096, 0), 4096, false };
	return f;
}

/* Polling (vpoll.h): once a probe saw the driver answer at once, the
 * thread that completed a write serves the next ones itself, with the
 * driver's kicks off. poll_us=0: every write is kicked, nothing polls. */
static void poll_serves(uint64_t extra_features)
{
	struct poll_tally t = { 0 };
	struct fake_ring_seg s;
	struct fx *f = poll_open(1000, extra_features, &s);
	uint64_t end = fx_now_ms() + WAIT_MS;

	for (unsigned i = 0; !t.quiet; i++) {
		assert_true(fx_now_ms() < end);
		poll_round(f, &s, i, &t);
	}
	assert_true(fx_stat(f, "poll_hits") + fx_stat(f, "poll_misses") > 0);
	fx_close(f);
	f = poll_open(0, extra_features, &s);
	t = (struct poll_tally){ 0 };
	for (unsigned i = 0; i < 64; i++)
		poll_round(f, &s, i, &t);
	assert_int_equal(t.kicks, 64);
	assert_int_equal(t.quiet, 0);
	assert_int_equal(fx_stat(f, "poll_hits") + fx_stat(f, "poll_misses"), 0);
	fx_close(f);
}

static void test_poll(void **state)
{
	poll_serves(0);
}

static void test_poll_event_idx(void **state)
{
	poll_serves(1ull << VIRTQUEUE_F_EVENT_IDX);
}

/* Wait until the device kicked queue 0 after `seen` kicks; false after
 * WAIT_MS. */
static bool fx_wait_kick(struct fx *f, unsigned seen)
{
	uint64_t end = fx_now_ms() + WAIT_MS;

	while (__atomic_load_n(&f->vd.kicks[0], __ATOMIC_SEQ_CST) == seen)
		if (fx_now_ms() >= end)
			return false;
	return true;
}

/* The thread that polled finds the device lock taken after its window
 * (the event loop holds it): it kicks the queue, and the write it saw
 * is served once the lock is free. */
static void test_poll_lock_taken(void **state)
{
	struct poll_tally t = { 0 };
	struct fake_ring_seg s;
	struct fx *f = poll_open(1000, 0, &s);
	uint64_t end = fx_now_ms() + WAIT_MS;

	for (unsigned i = 0;; i += 2) {
		unsigned seen;
		struct fxreq r;
		bool kick;

		assert_true(fx_now_ms() < end);
		poll_round(f, &s, i, &t);
		if (fx_stat(f, "poll_window_ns") == 0)
			continue;   /* that push started no spin */
		seen = __atomic_load_n(&f->vd.kicks[0], __ATOMIC_SEQ_CST);
		fx_lock(f);
		r = poll_post(f, &s, i + 1, &kick);
		if (kick) {   /* the spin had ended: kicks were on again */
			fx_unlock(f);
			fx_notify(f, 0);
			fx_wait_used_every(f, 0, f->q[0].expect, 0);
			continue;
		}
		assert_true(fx_wait_kick(f, seen));
		fx_unlock(f);
		fx_wait_used_every(f, 0, f->q[0].expect, 0);
		assert_int_equal(fx_status(f, r), VBLK_S_OK);
		break;
	}
	fx_close(f);
}

/* Many requests in flight, then reset with the device lock held: it must
 * return, and afterwards nothing is pushed and no guest memory changes. */
static void reset_in_flight(const struct fx_opts *o, uint64_t skew)
{
	struct fx *f = fx_open(o);
	uint64_t base = fx_alloc(f, 80ull * 65536 + 4096, 4096, 0);
	uint16_t used;

	for (unsigned i = 0; i < 80; i++) {
		struct fake_ring_seg s = { base + i * 65536ull + skew, 65536 - 4096, true };

		fx_req(f, 0, VBLK_T_IN, i * 128ull, &s, 1);
	}
	fx_lock(f);
	f->info.ops->queue_notify(f->info.dev, 0);
	f->info.ops->reset(f->info.dev);
	used = fx_used_idx(f, 0);
	virtqueue_reset(&f->vd.vq[0]);
	f->vd.active = false;
	fx_unlock(f);
	assert_true(used <= 80);
	memset(fx_host(f, base), 0x77, 80ull * 65536);
	usleep(100 * 1000);
	assert_int_equal(fx_used_idx(f, 0), used);
	for (uint64_t i = 0; i < 80ull * 65536; i++)
		if (*(uint8_t *)fx_host(f, base + i) != 0x77)
			fail_msg("guest memory written after reset at %" PRIu64, i);
	assert_int_equal(f->d->inflight, 0);
	fx_activate(f, fx_all_features(f));
	rw_round_trip(f, 16, 8192, skew);
	fx_close(f);
}

static void test_reset_in_flight(void **state)
{
	reset_in_flight(&raw16, 0);
}

static void test_reset_in_flight_bounce(void **state)
{
	struct fx_opts o = raw16;

	o.direct = true;
	reset_in_flight(&o, 1);
}

static void test_cache_none_unaligned(void **state)
{
	struct fx_opts o = raw16;
	struct fx *f;
	uint8_t *file = malloc(65536), *want = malloc(65536);

	o.direct = true;
	f = fx_open(&o);
	assert_true(f->d->direct);
	assert_true(f->d->align >= 512);
	rw_round_trip(f, 24, 65536, 0);
	rw_round_trip(f, 200, 65536, 1);
	rw_round_trip(f, 400, 3 * 512, 7);
	fx_file_read(f, 200 * 512, file, 65536);
	fx_pattern(want, 65536, 201);
	assert_memory_equal(file, want, 65536);
	fx_close(f);

	o.format = "qcow2";
	f = fx_open(&o);
	rw_round_trip(f, 200, 65536, 3);
	rw_round_trip(f, 9, 2560, 5);
	fx_close(f);
	free(file);
	free(want);
}

/* Aligned guest buffers with cache=none go straight to O_DIRECT. */
static void test_cache_none_aligned(void **state)
{
	struct fx_opts o = raw16;
	struct fx *f;
	uint64_t w, r;
	struct fake_ring_seg ws[2], rs;
	uint8_t file[8192];

	o.direct = true;
	f = fx_open(&o);
	w = fx_alloc(f, 8192, 4096, 0);
	r = fx_alloc(f, 8192, 4096, 0);
	ws[0] = (struct fake_ring_seg){ w, 4096, false };
	ws[1] = (struct fake_ring_seg){ w + 4096, 4096, false };
	rs = (struct fake_ring_seg){ r, 8192, true };
	fx_pattern(fx_host(f, w), 8192, 77);
	assert_int_equal(fx_do(f, VBLK_T_OUT, 64, ws, 2), VBLK_S_OK);
	assert_int_equal(fx_do(f, VBLK_T_IN, 64, &rs, 1), VBLK_S_OK);
	assert_memory_equal(fx_host(f, r), fx_host(f, w), 8192);
	assert_int_equal(f->d->npool, 0);   /* no bounce buffer was needed */
	fx_file_read(f, 64 * 512, file, sizeof(file));
	assert_memory_equal(file, fx_host(f, w), 8192);
	fx_close(f);
}

/* A host with 4 KiB logical blocks (simulated: the file layer then refuses
 * anything not 4 KiB aligned): 512-byte guest requests need read-modify-
 * write; many concurrent ones on the same host blocks must not lose data. */
#define RMW_N 80u

static void test_cache_none_4k_rmw(void **state)
{
	struct fx_opts o = raw16;
	struct fx *f;
	struct fxreq rq[RMW_N];
	uint64_t bufs[RMW_N];
	uint8_t *file = malloc(RMW_N * 512), *want = malloc(RMW_N * 512);
	const uint64_t wz[][3] = { { 1001, 3, 0 } };

	o.direct = true;
	f = fx_open(&o);
	f->d->align = 4096;
	f->d->blk->file->align = 4096;
	for (unsigned i = 0; i < RMW_N; i++) {
		struct fake_ring_seg s = { 0, 512, false };

		bufs[i] = s.gpa = fx_alloc(f, 512, 512, i % 3 ? 0 : 5);
		fx_pattern(fx_host(f, s.gpa), 512, 1000 + i);
		fx_pattern(want + i * 512, 512, 1000 + i);
		rq[i] = fx_req(f, 0, VBLK_T_OUT, 1000 + i, &s, 1);
	}
	fx_run(f, 0);
	for (unsigned i = 0; i < RMW_N; i++)
		assert_int_equal(fx_status(f, rq[i]), VBLK_S_OK);
	fx_file_read(f, 1000 * 512, file, RMW_N * 512);
	assert_memory_equal(file, want, RMW_N * 512);
	/* reads of single sectors, through the bounce buffer */
	for (unsigned i = 0; i < RMW_N; i++) {
		struct fake_ring_seg s = { fx_alloc(f, 512, 512, 0), 512, true };

		bufs[i] = s.gpa;
		rq[i] = fx_req(f, 0, VBLK_T_IN, 1000 + i, &s, 1);
	}
	fx_run(f, 0);
	for (unsigned i = 0; i < RMW_N; i++) {
		assert_int_equal(fx_status(f, rq[i]), VBLK_S_OK);
		assert_memory_equal(fx_host(f, bufs[i]), want + i * 512, 512);
	}
	/* unaligned write-zeroes: bounced too */
	assert_int_equal(fx_segs(f, VBLK_T_WRITE_ZEROES, wz, 1), VBLK_S_OK);
	memset(want + 512, 0, 3 * 512);
	fx_file_read(f, 1000 * 512, file, RMW_N * 512);
	assert_memory_equal(file, want, RMW_N * 512);
	/* a large unaligned request spans several bounce chunks */
	rw_round_trip(f, 3, 3u << 20, 1);
	fx_close(f);
	free(file);
	free(want);
}

/* More bounced requests than bounce buffers: some wait, all complete. */
static void test_bounce_pool_wait(void **state)
{
	struct fx_opts o = raw16;
	struct fx *f;
	struct fxreq rq[24];
	const size_t len = 1536u << 10;

	o.direct = true;
	o.size = 64ull << 20;
	f = fx_open(&o);
	for (unsigned i = 0; i < 24; i++) {
		struct fake_ring_seg s = { fx_alloc(f, len, 4096, 1), (uint32_t)len, false };

		fx_pattern(fx_host(f, s.gpa), len, i);
		rq[i] = fx_req(f, 0, VBLK_T_OUT, i * (len / 512), &s, 1);
	}
	fx_run(f, 0);
	for (unsigned i = 0; i < 24; i++)
		assert_int_equal(fx_status(f, rq[i]), VBLK_S_OK);
	assert_true(f->d->npool <= VBLK_BOUNCE_BUFS);
	for (unsigned i = 0; i < 24; i += 7) {
		uint8_t *got = malloc(len), *want = malloc(len);

		fx_file_read(f, i * (uint64_t)len, got, len);
		fx_pattern(want, len, i);
		assert_memory_equal(got, want, len);
		free(got);
		free(want);
	}
	fx_close(f);
}

/* A transport that shows the queues only after activate: the slots come on
 * the first notification. */
static void test_late_queues(void **state)
{
	struct fx *f = fx_open(&raw16);

	fx_reset(f);
	fx_activate_as(f, fx_all_features(f), true);
	assert_int_equal(f->d->queues[0].nslots, 0);
	rw_round_trip(f, 0, 8192, 0);
	assert_int_equal(f->d->queues[0].nslots, QSZ);
	fx_close(f);
}

/* Without VIRTIO_BLK_F_FLUSH the device writes through. */
static void test_writethrough(void **state)
{
	struct fx *f = fx_open(&raw16);

	fx_reset(f);
	fx_activate(f, fx_all_features(f) & ~(1ull << VBLK_F_FLUSH));
	rw_round_trip(f, 0, 8192, 0);
	fx_lock(f);
	assert_true(f->d->stats.wr_ops == 1);
	fx_unlock(f);
	fx_close(f);
}

static uint32_t fx_cfg32(struct fx *f, unsigned off)
{
	uint8_t b[4];

	f->info.ops->cfg_read(f->info.dev, off, b, 4);
	return le_get32(b);
}

static void test_config(void **state)
{
	struct fx *f = fx_open(&qcow16);
	uint8_t b[8];
	json_t *q = json_object();

	f->info.ops->cfg_read(f->info.dev, VBLK_CFG_CAPACITY, b, 8);
	assert_int_equal(le_get64(b), (16ull << 20) / 512);
	assert_int_equal(fx_cfg32(f, VBLK_CFG_SEG_MAX), QSZ - 2);
	assert_int_equal(fx_cfg32(f, VBLK_CFG_SIZE_MAX), VBLK_SIZE_MAX);
	assert_int_equal(fx_cfg32(f, VBLK_CFG_BLK_SIZE), 512);
	assert_int_equal(fx_cfg32(f, VBLK_CFG_MAX_DISCARD_SEG), VBLK_MAX_SEGS);
	assert_int_equal(fx_cfg32(f, VBLK_CFG_DISCARD_ALIGN), 65536 / 512);
	assert_int_equal(fx_cfg32(f, VBLK_CFG_MAX_WZ), VBLK_MAX_WZ_SECTORS);
	assert_int_equal(f->info.cfg_size, 60);
	assert_int_equal(f->info.queue_max, QSZ);
	assert_true(virtio_has_feature(f->info.features, VBLK_F_FLUSH));
	assert_true(virtio_has_feature(f->info.features, VBLK_F_WRITE_ZEROES));
	assert_false(virtio_has_feature(f->info.features, VBLK_F_RO));
	f->info.ops->query(f->info.dev, q);
	assert_string_equal(json_string_value(json_object_get(q, "format")), "qcow2");
	assert_string_equal(json_string_value(json_object_get(q, "cache")), "writeback");
	assert_string_equal(json_string_value(json_object_get(q, "path")), f->path);
	assert_int_equal(json_integer_value(json_object_get(q, "size")), 16ll << 20);
	assert_true(json_is_false(json_object_get(q, "readonly")));
	json_decref(q);
	fx_close(f);
}

static void test_stats(void **state)
{
	struct fx *f = fx_open(&raw16);
	json_t *q = json_object(), *st;

	rw_round_trip(f, 0, 8192, 0);
	rw_round_trip(f, 64, 4096, 0);
	fx_lock(f);
	f->info.ops->query(f->info.dev, q);
	fx_unlock(f);
	st = json_object_get(q, "stats");
	assert_int_equal(json_integer_value(json_object_get(st, "rd_operations")), 2);
	assert_int_equal(json_integer_value(json_object_get(st, "wr_operations")), 2);
	assert_int_equal(json_integer_value(json_object_get(st, "rd_bytes")), 12288);
	assert_int_equal(json_integer_value(json_object_get(st, "wr_bytes")), 12288);
	assert_true(json_integer_value(json_object_get(st, "rd_total_time_ns")) > 0);
	json_decref(q);
	fx_close(f);
}

/* ---- rate limit ---- */

static uint64_t fx_clock(void *opaque)
{
	return *(const uint64_t *)opaque;
}

/* The limiter's clock becomes f->clock_ns, starting at t. */
static void fx_inject_clock(struct fx *f, uint64_t t)
{
	f->d->limit.rl.now = fx_clock;
	f->d->limit.rl.clock_opaque = &f->clock_ns;
	f->clock_ns = f->d->limit.rl.last_ns = t;
}

static void fx_set_limit(struct fx *f, uint64_t bps, uint64_t bps_burst, uint64_t ops)
{
	struct config_ratelimit lim = { .bps = bps, .bps_burst = bps_burst, .ops = ops };

	fx_lock(f);
	assert_int_equal(f->info.ops->set_rate_limit(f->info.dev, &lim), 0);
	fx_unlock(f);
}

static struct fxreq fx_write4k(struct fx *f, unsigned q, uint64_t sector)
{
	struct fake_ring_seg s = { fx_alloc(f, 4096, 4096, 0), 4096, false };

	fx_pattern(fx_host(f, s.gpa), 4096, (uint32_t)sector);
	return fx_req(f, q, VBLK_T_OUT, sector, &s, 1);
}

static json_t *fx_query(struct fx *f)
{
	json_t *q = json_object();

	fx_lock(f);
	f->info.ops->query(f->info.dev, q);
	fx_unlock(f);
	return q;
}

/* bps=64 with an 8 KiB bucket: two 4 KiB writes pass, the third stays in
 * the ring (not popped) until the timer (armed for 64 s) fires; a kick
 * meanwhile changes nothing; the counters show one wait of 64 s. */
static void test_rate_limit_bps(void **state)
{
	struct fx *f = fx_open(&raw16);
	struct vlimit *l = &f->d->limit;
	struct itimerspec its;
	struct fxreq r[3];
	json_t *q, *st;
	unsigned k;

	fx_inject_clock(f, 1000);
	fx_set_limit(f, 64, 8192, 0);
	for (unsigned i = 0; i < 3; i++)
		r[i] = fx_write4k(f, 0, 8 * i);
	fx_notify(f, 0);
	fx_wait_used(f, 0, 2);
	usleep(20000);
	assert_int_equal(fx_used_idx(f, 0), 2);
	assert_int_equal(fx_status(f, r[2]), 0xee);
	assert_int_equal(f->vd.vq[0].last_avail_idx, 2);   /* given back */
	assert_true(vlimit_waiting(l, 0) && l->armed && l->throttled == 1);
	assert_int_equal(timerfd_gettime(l->tfd, &its), 0);
	assert_true(its.it_value.tv_sec >= 30 && its.it_value.tv_sec < 64);
	fx_notify(f, 0);                                    /* the driver kicks again */
	usleep(20000);
	assert_int_equal(fx_used_idx(f, 0), 2);
	assert_int_equal(l->throttled, 1);
	/* the timer fires 64 s later: the queue is kicked and runs */
	f->clock_ns += 64000000000ull;
	k = __atomic_load_n(&f->vd.kicks[0], __ATOMIC_SEQ_CST);
	fx_lock(f);
	vlimit_expire(l);
	fx_unlock(f);
	assert_false(vlimit_waiting(l, 0) || l->armed);
	assert_int_equal(__atomic_load_n(&f->vd.kicks[0], __ATOMIC_SEQ_CST), k + 1);
	fx_run(f, 0);
	assert_int_equal(fx_status(f, r[2]), VBLK_S_OK);
	q = fx_query(f);
	st = json_object_get(q, "stats");
	assert_int_equal(json_integer_value(json_object_get(st, "throttled")), 1);
	assert_int_equal(json_integer_value(json_object_get(st, "throttled_total_time_ns")),
			 64000000000ll);
	assert_int_equal(json_integer_value(json_object_get(st, "wr_operations")), 3);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(q, "rate_limit"),
							    "bps")), 64);
	json_decref(q);
	fx_close(f);
}

/* iops=2 on two queues sharing the limit: flushes count as operations
 * (no bytes); lifting the limit resumes the waiting queues at once (they
 * are kicked); limited again, the bucket starts full; a reset ends the
 * waits and disarms the timer. */
static void test_rate_limit_iops(void **state)
{
	struct fx_opts o = raw16;
	struct fx *f;
	struct vlimit *l;
	struct fxreq r[4];

	o.queues = 2;
	f = fx_open(&o);
	l = &f->d->limit;
	fx_inject_clock(f, 77);
	fx_set_limit(f, 0, 0, 2);
	r[0] = fx_req(f, 0, VBLK_T_FLUSH, 0, NULL, 0);
	r[1] = fx_req(f, 1, VBLK_T_FLUSH, 0, NULL, 0);
	fx_notify(f, 0);
	fx_notify(f, 1);
	fx_wait_used(f, 0, 1);
	fx_wait_used(f, 1, 1);   /* the burst: two operations */
	r[2] = fx_req(f, 0, VBLK_T_FLUSH, 0, NULL, 0);
	r[3] = fx_write4k(f, 1, 0);
	fx_notify(f, 0);
	fx_notify(f, 1);
	usleep(20000);
	assert_int_equal(fx_used_idx(f, 0) + fx_used_idx(f, 1), 2);
	assert_true(vlimit_waiting(l, 0) && vlimit_waiting(l, 1));
	assert_int_equal(l->throttled, 2);
	assert_int_equal(fx_status(f, r[2]) + fx_status(f, r[3]), 2 * 0xee);
	fx_set_limit(f, 0, 0, 0);   /* lifted: both queues are kicked now */
	assert_false(vlimit_waiting(l, 0) || vlimit_waiting(l, 1));
	fx_run(f, 0);
	fx_run(f, 1);
	assert_int_equal(fx_status(f, r[0]) + fx_status(f, r[1]) + fx_status(f, r[2]) +
			 fx_status(f, r[3]), VBLK_S_OK);
	/* limited again (starts full: 2 operations), then a reset while waiting */
	fx_set_limit(f, 0, 0, 2);
	for (unsigned i = 0; i < 3; i++)
		r[i] = fx_req(f, 0, VBLK_T_FLUSH, 0, NULL, 0);
	fx_notify(f, 0);
	fx_wait_used(f, 0, 4);   /* 2 before, 2 now */
	usleep(20000);
	assert_int_equal(fx_used_idx(f, 0), 4);
	assert_true(vlimit_waiting(l, 0) && l->armed);
	fx_reset(f);
	assert_false(vlimit_waiting(l, 0) || l->armed);
	fx_close(f);
}

static void test_open_errors(void **state)
{
	struct fx *f = fx_open(&raw16);
	struct fx_opts o = raw16;
	struct fx g = { .gm = f->gm };
	int fd;

	/* the image is in use by f's device: locked */
	snprintf(g.path, sizeof(g.path), "%s", f->path);
	assert_int_equal(fx_create(&g, &o), -EAGAIN);
	fx_close(f);
	/* wrong format: a raw file of zeros opened as qcow2 */
	snprintf(g.path, sizeof(g.path), "/tmp/test_vblk-zeros.%d.raw", getpid());
	fd = open(g.path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	o.format = "qcow2";
	assert_true(fx_create(&g, &o) < 0);
	unlink(g.path);
	/* missing file */
	snprintf(g.path, sizeof(g.path), "/tmp/test_vblk-does-not-exist/x.raw");
	o.format = "raw";
	assert_int_equal(fx_create(&g, &o), -ENOENT);
	/* a corrupt qcow2: header magic right, L1 table offset unaligned */
	snprintf(g.path, sizeof(g.path), "/tmp/test_vblk-corrupt.%d.qcow2", getpid());
	{
		struct blk_create_opts co = { .size = 1 << 20 };
		uint8_t bad[8] = { 0, 0, 0, 0, 0, 0, 0x12, 0x34 };

		assert_int_equal(blk_create(g.path, "qcow2", &co), 0);
		fd = open(g.path, O_WRONLY);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, bad, 8, 40), 8);   /* l1_table_offset */
		close(fd);
	}
	o.format = "qcow2";
	assert_true(fx_create(&g, &o) < 0);
	unlink(g.path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rw_raw),
		cmocka_unit_test(test_rw_qcow2),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_get_id),
		cmocka_unit_test(test_discard_wz_raw),
		cmocka_unit_test(test_discard_wz_qcow2),
		cmocka_unit_test(test_segs_malformed),
		cmocka_unit_test(test_readonly),
		cmocka_unit_test(test_past_end),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_short_header),
		cmocka_unit_test(test_header_split),
		cmocka_unit_test(test_no_status),
		cmocka_unit_test(test_bad_ring),
		cmocka_unit_test(test_multiqueue),
		cmocka_unit_test(test_batch_hook),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_poll_event_idx),
		cmocka_unit_test(test_poll_lock_taken),
		cmocka_unit_test(test_reset_in_flight),
		cmocka_unit_test(test_reset_in_flight_bounce),
		cmocka_unit_test(test_cache_none_unaligned),
		cmocka_unit_test(test_cache_none_aligned),
		cmocka_unit_test(test_cache_none_4k_rmw),
		cmocka_unit_test(test_bounce_pool_wait),
		cmocka_unit_test(test_late_queues),
		cmocka_unit_test(test_writethrough),
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_rate_limit_bps),
		cmocka_unit_test(test_rate_limit_iops),
		cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
