/* test_vballoon: the virtio-balloon device (src/vmm/virtio/vballoon.c) with
 * the fake transport (tests/fake/fake_virtio.c) on fake guest memory that is
 * a private anonymous mapping, as guest RAM is, so that an inflate's
 * dropped pages show in its residency (tests/unit/anon_ram.c).
 * Covers the configuration (num_pages, actual, partial writes),
 * balloon_set, PFN parsing (order, duplicates, PFNs split across segments,
 * trailing bytes, out-of-range PFNs, coalescing into few discards, the
 * per-chain and per-pass bounds), deflate counting, malformed chains,
 * statistics (parsing, short and odd-length buffers, unknown tags, holding
 * and giving back the buffer, the timer's request), free page reporting
 * and reset. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "anon_ram.h"
#include "common/evloop.h"
#include "config.h"
#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_ring_cmocka.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define RAM_SIZE  (8u << 20)
#define QSIZE     128u
#define NQ        4
#define PAGE      4096u
#define DATA      0x40000ull      /* PFN lists, stats buffers */
#define POOL      (1u << 20)      /* pages given to the balloon from here */
#define INFLATEQ  0
#define DEFLATEQ  1
#define STATSQ    2
#define REPORTQ   3
#define F_RING    ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX))
#define F_STATS   (1ull << 1)
#define F_REPORT  (1ull << 5)

struct fx {
	uint8_t *ram;
	struct gmem gm;
	struct virtio_dev vd;
	struct virtio_dev_info info;
	struct evloop *loop;
	struct fake_ring_mem mem;    /* the rings: tests/fake/fake_ring.c */
	struct fake_ring q[NQ];
};

/* ---- fixture ---- */

/* A PFN list (little-endian) in guest memory, as one or two segments (the
 * second starting `split` bytes in). */
static uint16_t fx_pfns(struct fx *f, unsigned q, const uint32_t *pfn, unsigned n,
			unsigned split)
{
	uint64_t gpa = fake_ring_alloc(&f->mem, 4ull * n);
	struct fake_ring_seg s[2] = { { gpa, 4 * n, false } };

	for (unsigned i = 0; i < n; i++)
		fake_ring_w32(&f->mem, gpa + 4ull * i, pfn[i]);
	if (split && split < 4 * n) {
		s[0].len = split;
		s[1] = (struct fake_ring_seg){ gpa + split, 4 * n - split, false };
		return fake_ring_post(&f->q[q], s, 2);
	}
	return fake_ring_post(&f->q[q], s, 1);
}

static uint32_t fx_used_id(struct fx *f, unsigned q, unsigned i)
{
	uint32_t id, len;

	fake_ring_used(&f->q[q], i, &id, &len);
	return id;
}

static void fx_notify(struct fx *f, unsigned q)
{
	fake_virtio_notify(&f->vd, &f->info, q);
}

static void fx_make(struct fx *f, const struct config_balloon *cfg)
{
	const struct virtio_env env = { .loop = f->loop, .gm = &f->gm, .ncpus = 1 };

	assert_int_equal(vballoon_create(&env, cfg, &f->info), 0);
	*f->info.handle = &f->vd;
}

static void fx_activate(struct fx *f, uint64_t features)
{
	f->vd.features = features;
	for (unsigned q = 0; q < f->info.nqueues; q++)
		assert_int_equal(fake_ring_attach(&f->q[q], &f->vd.vq[q], features), 0);
	f->vd.active = true;
	assert_int_equal(f->info.ops->activate(f->info.dev, features), 0);
}

static struct fx *fx_new(const struct config_balloon *cfg, bool with_loop)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = anon_ram_map(RAM_SIZE);
	assert_int_equal(gmem_add_ram(&f->gm, 0, RAM_SIZE, f->ram), 0);
	memset(f->ram, 0, POOL);  /* rings and buffers resident: residency moves only
				   * with the pool */
	fake_ring_mem_init(&f->mem, &f->gm, DATA, POOL, fake_ring_fail_test);
	fake_ring_init_n(f->q, NQ, &f->mem, QSIZE,
			 &(const struct fake_ring_layout){ 0x1000, 0x4000,
							   VIRTQUEUE_DESC_BYTES(QSIZE), 0x2000 });
	fake_virtio_init(&f->vd, "balloon0", 0);
	if (with_loop)
		assert_int_equal(evloop_create(&f->loop), 0);
	fx_make(f, cfg);
	return f;
}

static void fx_free(struct fx *f)
{
	f->info.ops->destroy(f->info.dev);
	if (f->loop)
		evloop_destroy(f->loop);
	fake_virtio_destroy(&f->vd);
	munmap(f->ram, RAM_SIZE);
	free(f);
}

static json_t *fx_query(struct fx *f)
{
	json_t *o = json_object();

	f->info.ops->query(f->info.dev, o);
	return o;
}

static long long fx_stat(struct fx *f, const char *name)
{
	json_t *o = fx_query(f);
	long long v = json_integer_value(json_object_get(json_object_get(o, "stats"), name));

	json_decref(o);
	return v;
}

static long long fx_top(struct fx *f, const char *name)
{
	json_t *o = fx_query(f);
	long long v = json_integer_value(json_object_get(o, name));

	json_decref(o);
	return v;
}

static uint32_t fx_cfg32(struct fx *f, unsigned off)
{
	uint32_t v;

	f->info.ops->cfg_read(f->info.dev, off, &v, 4);
	return le32toh(v);
}

static size_t fx_resident(struct fx *f)
{
	return anon_ram_resident(f->ram, RAM_SIZE);
}

static const struct config_balloon cfg_plain = { .enabled = true, .id = "balloon0" };

/* ---- tests ---- */

static void test_create_and_config(void **state)
{
	const struct config_balloon rep = { .enabled = true, .free_page_reporting = true,
					    .id = "b1" };
	struct fx *f = fx_new(&cfg_plain, false);
	uint32_t v;
	uint8_t byte = 0x12;

	assert_int_equal(f->info.nqueues, 3);
	assert_string_equal(f->info.id, "balloon0");
	assert_int_equal(f->info.ops->device_id, VIRTIO_ID_BALLOON);
	assert_int_equal(f->info.features, (1ull << 1) | (1ull << 2));
	assert_int_equal(f->info.cfg_size, 8);
	assert_int_equal(fx_cfg32(f, 0), 0);
	assert_int_equal(fx_cfg32(f, 4), 0);
	/* the host's target: shortfall in pages, rounded up */
	assert_int_equal(f->info.ops->balloon_set(f->info.dev, RAM_SIZE - 10 * PAGE), 0);
	assert_int_equal(fx_cfg32(f, 0), 10);
	assert_int_equal(f->vd.cfg_changes, 1);
	assert_int_equal(f->info.ops->balloon_set(f->info.dev, RAM_SIZE - 10 * PAGE - 1), 0);
	assert_int_equal(fx_cfg32(f, 0), 11);
	assert_int_equal(f->info.ops->balloon_set(f->info.dev, RAM_SIZE + 1), -ERANGE);
	assert_int_equal(fx_cfg32(f, 0), 11);
	assert_int_equal(f->info.ops->balloon_set(f->info.dev, 0), 0);
	assert_int_equal(fx_cfg32(f, 0), RAM_SIZE / PAGE);
	/* the driver writes actual (whole or in parts); num_pages is not its */
	v = htole32(7);
	f->info.ops->cfg_write(f->info.dev, 4, &v, 4);
	assert_int_equal(fx_cfg32(f, 4), 7);
	f->info.ops->cfg_write(f->info.dev, 5, &byte, 1);
	assert_int_equal(fx_cfg32(f, 4), 0x1207);
	v = htole32(99);
	f->info.ops->cfg_write(f->info.dev, 0, &v, 4);
	assert_int_equal(fx_cfg32(f, 0), RAM_SIZE / PAGE);
	f->info.ops->cfg_read(f->info.dev, 6, &v, 4);  /* off the end: zero-filled */
	assert_int_equal(le32toh(v), 0);
	assert_int_equal(f->info.ops->balloon_set(f->info.dev, RAM_SIZE - 3 * PAGE), 0);
	v = htole32(2);
	f->info.ops->cfg_write(f->info.dev, 4, &v, 4);
	assert_int_equal(fx_top(f, "target"), RAM_SIZE - 3 * PAGE);
	assert_int_equal(fx_top(f, "actual"), RAM_SIZE - 2 * PAGE);
	fx_free(f);
	f = fx_new(&rep, false);
	assert_int_equal(f->info.nqueues, 4);
	assert_string_equal(f->info.id, "b1");
	assert_true(f->info.features & F_REPORT);
	fx_free(f);
}

static void test_inflate_discards(void **state)
{
	struct fx *f = fx_new(&cfg_plain, false);
	uint32_t pfn[70];
	size_t before, after;
	unsigned n = 0;

	fx_activate(f, F_RING | F_STATS);
	memset(f->ram + POOL, 0xaa, 80 * PAGE);
	/* 64 pages in a scrambled order, some twice, split mid-PFN over two
	 * segments: one run, one discard */
	for (unsigned i = 0; i < 64; i++)
		pfn[n++] = (POOL / PAGE) + (i * 37) % 64;
	pfn[n++] = POOL / PAGE + 5;
	pfn[n++] = POOL / PAGE + 63;
	before = fx_resident(f);
	fx_pfns(f, INFLATEQ, pfn, n, 10);
	fx_notify(f, INFLATEQ);
	after = fx_resident(f);
	assert_int_equal(fake_ring_used_idx(&f->q[INFLATEQ]), 1);
	assert_int_equal(fx_used_id(f, INFLATEQ, 0), 0);
	assert_int_equal(f->vd.irqs[INFLATEQ], 1);
	assert_true(before - after >= 64 * PAGE);
	for (size_t i = 0; i < 80 * PAGE; i++)
		assert_int_equal(f->ram[POOL + i], i < 64 * PAGE ? 0 : 0xaa);
	assert_int_equal(fx_stat(f, "inflated-pages"), 64);
	assert_int_equal(fx_stat(f, "discards"), 1);
	assert_int_equal(fx_stat(f, "ignored-pfns"), 0);
	/* two separate runs: two discards */
	pfn[0] = POOL / PAGE + 70;
	pfn[1] = POOL / PAGE + 66;
	pfn[2] = POOL / PAGE + 71;
	pfn[3] = POOL / PAGE + 67;
	fx_pfns(f, INFLATEQ, pfn, 4, 0);
	fx_notify(f, INFLATEQ);
	assert_int_equal(fx_stat(f, "discards"), 3);
	assert_int_equal(fx_stat(f, "inflated-pages"), 68);
	assert_int_equal(f->ram[POOL + 65 * PAGE], 0xaa);
	assert_int_equal(f->ram[POOL + 66 * PAGE], 0);
	assert_int_equal(f->ram[POOL + 68 * PAGE], 0xaa);
	/* the pages are the guest's again right away */
	f->ram[POOL] = 1;
	assert_int_equal(f->ram[POOL], 1);
	assert_false(f->vd.failed);
	fx_free(f);
}

static void test_inflate_out_of_range(void **state)
{
	struct fx *f = fx_new(&cfg_plain, false);
	const uint32_t last = RAM_SIZE / PAGE - 1;
	uint32_t pfn[] = { last + 1, 0xffffffffu, last, 0x100000, last + 2, 0xffffffffu };
	uint8_t odd[6] = { 0 };
	uint64_t gpa;

	fx_activate(f, F_RING);
	memset(f->ram + RAM_SIZE - 2 * PAGE, 0x55, 2 * PAGE);
	fx_pfns(f, INFLATEQ, pfn, 6, 0);
	fx_notify(f, INFLATEQ);
	assert_int_equal(fx_stat(f, "inflated-pages"), 1);
	assert_int_equal(fx_stat(f, "ignored-pfns"), 4);  /* 0xffffffff counts once */
	assert_int_equal(f->ram[RAM_SIZE - 1], 0);
	assert_int_equal(f->ram[RAM_SIZE - PAGE - 1], 0x55);
	/* 6 bytes: one PFN (page 1 of the pool) and 2 bytes ignored */
	odd[0] = (uint8_t)(POOL / PAGE + 1);
	odd[1] = (uint8_t)((POOL / PAGE + 1) >> 8);
	gpa = fake_ring_alloc(&f->mem, sizeof(odd));
	fake_ring_write(&f->mem, gpa, odd, sizeof(odd));
	fake_ring_post(&f->q[INFLATEQ], &(struct fake_ring_seg){ gpa, sizeof(odd), false }, 1);
	memset(f->ram + POOL, 0x66, 2 * PAGE);
	fx_notify(f, INFLATEQ);
	assert_int_equal(fx_stat(f, "inflated-pages"), 2);
	assert_int_equal(f->ram[POOL + PAGE], 0);
	assert_int_equal(f->ram[POOL], 0x66);
	/* an empty chain is fine too */
	fake_ring_post(&f->q[INFLATEQ], &(struct fake_ring_seg){ gpa, 0, false }, 1);
	fx_notify(f, INFLATEQ);
	assert_int_equal(fake_ring_used_idx(&f->q[INFLATEQ]), 3);
	assert_false(f->vd.failed);
	fx_free(f);
}

static void test_deflate_counts(void **state)
{
	struct fx *f = fx_new(&cfg_plain, false);
	uint32_t pfn[] = { POOL / PAGE, POOL / PAGE + 1, 0xfffffff0u };

	fx_activate(f, F_RING);
	memset(f->ram + POOL, 0x11, PAGE);
	fx_pfns(f, DEFLATEQ, pfn, 3, 0);
	fx_notify(f, DEFLATEQ);
	assert_int_equal(fake_ring_used_idx(&f->q[DEFLATEQ]), 1);
	assert_int_equal(fx_stat(f, "deflated-pages"), 2);
	assert_int_equal(fx_stat(f, "ignored-pfns"), 1);
	assert_int_equal(fx_stat(f, "discards"), 0);
	assert_int_equal(f->ram[POOL], 0x11);  /* deflate touches no memory */
	fx_free(f);
}

static void test_malformed_chains(void **state)
{
	static const unsigned queues[] = { INFLATEQ, DEFLATEQ, STATSQ };

	for (unsigned i = 0; i < 3; i++) {
		struct fx *f = fx_new(&cfg_plain, false);
		uint64_t gpa = fake_ring_alloc(&f->mem, 64);
		const struct fake_ring_seg s[2] = { { gpa, 8, false }, { gpa + 8, 8, true } };

		fx_activate(f, F_RING | F_STATS);
		fake_ring_post(&f->q[queues[i]], s, 2);
		fx_notify(f, queues[i]);
		assert_true(f->vd.failed);
		assert_non_null(strstr(f->vd.reason, "device-writable"));
		/* a failed device stays quiet until reset */
		fake_ring_post(&f->q[queues[i]], s, 1);
		fx_notify(f, queues[i]);
		assert_int_equal(f->vd.fails, 1);
		fx_free(f);
	}
}

static void test_bounds(void **state)
{
	struct fx *f = fx_new(&cfg_plain, false);
	const unsigned big = 20000;  /* > the per-chain bound of 16384 */
	uint32_t *pfn = calloc(big, sizeof(*pfn));

	assert_non_null(pfn);
	fx_activate(f, F_RING);
	for (unsigned i = 0; i < big; i++)
		pfn[i] = 0x10000000u + i;  /* outside RAM: only counted */
	for (unsigned c = 0; c < 5; c++)
		fx_pfns(f, DEFLATEQ, pfn, big, 0);
	fx_notify(f, DEFLATEQ);
	/* four chains reach the per-pass bound; the fifth waits for our kick */
	assert_int_equal(fake_ring_used_idx(&f->q[DEFLATEQ]), 4);
	assert_int_equal(f->vd.kicks[DEFLATEQ], 1);
	assert_int_equal(fx_stat(f, "ignored-pfns"), 4 * big);
	fx_notify(f, DEFLATEQ);
	assert_int_equal(fake_ring_used_idx(&f->q[DEFLATEQ]), 5);
	assert_int_equal(f->vd.kicks[DEFLATEQ], 1);
	free(pfn);
	fx_free(f);
}

static uint64_t fx_stats_buf(struct fx *f, const uint16_t *tags, const uint64_t *vals,
			     unsigned n, unsigned extra)
{
	uint64_t gpa = fake_ring_alloc(&f->mem, 10ull * n + extra);

	for (unsigned i = 0; i < n; i++) {
		fake_ring_w16(&f->mem, gpa + 10ull * i, tags[i]);
		fake_ring_w64(&f->mem, gpa + 10ull * i + 2, vals[i]);
	}
	return gpa;
}

static void test_stats_parse_and_hold(void **state)
{
	static const uint16_t tags[] = { 0, 4, 5, 99, 6, 3 };
	static const uint64_t vals[] = { 11, 1ull << 33, 1ull << 34, 7, 123, 5 };
	struct fx *f = fx_new(&cfg_plain, false);
	uint64_t gpa;
	json_t *o, *gs;

	fx_activate(f, F_RING | F_STATS);
	o = fx_query(f);
	assert_true(json_is_null(json_object_get(o, "stats-age")));
	assert_int_equal(json_object_size(json_object_get(o, "guest-stats")), 0);
	json_decref(o);
	/* 6 entries + 3 stray bytes, split across two segments mid-entry */
	gpa = fx_stats_buf(f, tags, vals, 6, 3);
	fake_ring_post(&f->q[STATSQ], (const struct fake_ring_seg[]){ { gpa, 13, false },
								      { gpa + 13, 50, false } }, 2);
	fx_notify(f, STATSQ);
	assert_int_equal(fake_ring_used_idx(&f->q[STATSQ]), 0);  /* held */
	o = fx_query(f);
	gs = json_object_get(o, "guest-stats");
	assert_int_equal(json_object_size(gs), 5);
	assert_int_equal(json_integer_value(json_object_get(gs, "swap-in")), 11);
	assert_int_equal(json_integer_value(json_object_get(gs, "free-memory")), 1ll << 33);
	assert_int_equal(json_integer_value(json_object_get(gs, "total-memory")), 1ll << 34);
	assert_int_equal(json_integer_value(json_object_get(gs, "available-memory")), 123);
	assert_int_equal(json_integer_value(json_object_get(gs, "minor-faults")), 5);
	assert_true(json_real_value(json_object_get(o, "stats-age")) >= 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "stats"),
							    "stats-malformed")), 2);
	json_decref(o);
	/* a second buffer (a misbehaving driver): the first goes back */
	gpa = fx_stats_buf(f, (const uint16_t[]){ 0 }, (const uint64_t[]){ 12 }, 1, 0);
	fake_ring_post(&f->q[STATSQ], &(struct fake_ring_seg){ gpa, 10, false }, 1);
	fx_notify(f, STATSQ);
	assert_int_equal(fake_ring_used_idx(&f->q[STATSQ]), 1);
	assert_int_equal(fx_used_id(f, STATSQ, 0), 0);
	assert_int_equal(fx_stat(f, "stats-updates"), 2);
	o = fx_query(f);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "guest-stats"),
							    "swap-in")), 12);
	json_decref(o);
	/* a short buffer (less than an entry) updates nothing but the time */
	fake_ring_post(&f->q[STATSQ], &(struct fake_ring_seg){ gpa, 9, false }, 1);
	fx_notify(f, STATSQ);
	assert_int_equal(fake_ring_used_idx(&f->q[STATSQ]), 2);
	assert_int_equal(fx_stat(f, "stats-malformed"), 3);
	assert_false(f->vd.failed);
	fx_free(f);
}

struct loop_thread {
	struct evloop *loop;
	pthread_t t;
};

static void *loop_main(void *arg)
{
	evloop_run(((struct loop_thread *)arg)->loop);
	return NULL;
}

/* stats=1: the timer hands the held buffer back within about a second. */
static void test_stats_timer(void **state)
{
	const struct config_balloon cfg = { .enabled = true, .stats_period = 1,
					    .id = "balloon0" };
	struct fx *f = fx_new(&cfg, true);
	struct loop_thread lt = { f->loop };
	struct timespec t0, t1;
	uint64_t gpa;
	double waited = 0;

	fx_activate(f, F_RING | F_STATS);
	gpa = fx_stats_buf(f, (const uint16_t[]){ 5 }, (const uint64_t[]){ 64 }, 1, 0);
	fake_ring_post(&f->q[STATSQ], &(struct fake_ring_seg){ gpa, 10, false }, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	fx_notify(f, STATSQ);
	assert_int_equal(pthread_create(&lt.t, NULL, loop_main, &lt), 0);
	for (;;) {
		uint16_t used;

		pthread_mutex_lock(&f->vd.lock);
		used = fake_ring_used_idx(&f->q[STATSQ]);
		pthread_mutex_unlock(&f->vd.lock);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		if (used == 1 || waited > 10)
			break;
		usleep(10000);
	}
	evloop_stop(f->loop);
	pthread_join(lt.t, NULL);
	assert_int_equal(fake_ring_used_idx(&f->q[STATSQ]), 1);
	assert_true(waited >= 0.9);  /* not before the period */
	assert_int_equal(fx_stat(f, "stats-requests"), 1);
	assert_int_equal(f->vd.irqs[STATSQ], 1);
	fx_free(f);
}

static void test_free_page_reporting(void **state)
{
	const struct config_balloon cfg = { .enabled = true, .free_page_reporting = true,
					    .id = "balloon0" };
	struct fx *f = fx_new(&cfg, false);
	size_t before;

	fx_activate(f, F_RING | F_STATS | F_REPORT);
	memset(f->ram + POOL, 0x42, 8 * PAGE);
	before = fx_resident(f);
	/* 4 whole pages (writable, as Linux gives them) and a segment from
	 * mid-page to mid-page: only its one whole page goes */
	fake_ring_post(&f->q[REPORTQ], (const struct fake_ring_seg[]){ { POOL, 4 * PAGE, true },
						   { POOL + 5 * PAGE + 100, 2 * PAGE, true } }, 2);
	fx_notify(f, REPORTQ);
	assert_int_equal(fake_ring_used_idx(&f->q[REPORTQ]), 1);
	assert_true(before - fx_resident(f) >= 5 * PAGE);
	assert_int_equal(f->ram[POOL], 0);
	assert_int_equal(f->ram[POOL + 4 * PAGE], 0x42);
	assert_int_equal(f->ram[POOL + 5 * PAGE + 100], 0x42);
	assert_int_equal(f->ram[POOL + 6 * PAGE], 0);
	assert_int_equal(f->ram[POOL + 7 * PAGE], 0x42);
	assert_int_equal(fx_stat(f, "reported-bytes"), 5 * PAGE);
	fx_free(f);
}

static void test_reset(void **state)
{
	struct fx *f = fx_new(&cfg_plain, false);
	uint32_t v = htole32(4);
	uint64_t gpa;

	fx_activate(f, F_RING | F_STATS);
	assert_int_equal(f->info.ops->balloon_set(f->info.dev, RAM_SIZE - 4 * PAGE), 0);
	f->info.ops->cfg_write(f->info.dev, 4, &v, 4);
	gpa = fx_stats_buf(f, (const uint16_t[]){ 1 }, (const uint64_t[]){ 2 }, 1, 0);
	fake_ring_post(&f->q[STATSQ], &(struct fake_ring_seg){ gpa, 10, false }, 1);
	fx_notify(f, STATSQ);
	f->info.ops->reset(f->info.dev);
	f->vd.active = false;
	assert_int_equal(fx_cfg32(f, 0), 4);   /* the host's target stands */
	assert_int_equal(fx_cfg32(f, 4), 0);   /* the new driver has an empty balloon */
	/* the old queues are gone: nothing is served until activate */
	fx_notify(f, INFLATEQ);
	for (unsigned q = 0; q < 3; q++) {
		virtqueue_reset(&f->vd.vq[q]);
		fake_ring_rewind(&f->q[q]);
		memset(f->ram + f->q[q].desc, 0, 0x4000);
	}
	fx_activate(f, F_RING | F_STATS);
	fake_ring_post(&f->q[STATSQ], &(struct fake_ring_seg){ gpa, 10, false }, 1);
	fx_notify(f, STATSQ);
	assert_int_equal(fake_ring_used_idx(&f->q[STATSQ]), 0);  /* held; nothing stale pushed */
	assert_false(f->vd.failed);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_and_config),
		cmocka_unit_test(test_inflate_discards),
		cmocka_unit_test(test_inflate_out_of_range),
		cmocka_unit_test(test_deflate_counts),
		cmocka_unit_test(test_malformed_chains),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_stats_parse_and_hold),
		cmocka_unit_test(test_stats_timer),
		cmocka_unit_test(test_free_page_reporting),
		cmocka_unit_test(test_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
