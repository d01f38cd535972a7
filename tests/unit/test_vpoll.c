/* test_vpoll: a device's adaptive polling after it published completions
 * (src/vmm/virtio/vpoll.c) on fake rings with the fake transport: when a
 * spin is due (closed window: one probe per VPOLL_PROBE_EVERY publishes;
 * open window: every publish), the kicks it turns off (event idx and
 * flags), what it watches (broken and absent queues are not; buffers
 * already there are no answer), the window's
 * adaptation (a hit opens it to twice the answer time within [MIN, max], an
 * empty window closes it, a stop leaves it), one poller at a time, poll_us
 * 0 and the cap, the counters in the query. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_ring_cmocka.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"
#include "virtio/vpoll.h"

#define RAM_SIZE (1u << 20)
#define QSIZE 16u
#define NQ 3u
#define HEAP 0x80000ull
#define F_EVENT_IDX (1ull << VIRTQUEUE_F_EVENT_IDX)
#define ALL_QUEUES ((1u << NQ) - 1)

struct fx {
	uint8_t *ram;
	struct gmem gm;
	struct fake_ring_mem mem;
	struct fake_ring ring[NQ];
	struct virtio_dev vd;
	struct vpoll p;
	struct virtqueue_chain *chain;
	uint64_t buf;
};

static struct fx *fx_new(uint64_t features, unsigned max_us)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->ram = fake_ring_ram(&f->mem, &f->gm, RAM_SIZE, HEAP, fake_ring_fail_test);
	assert_non_null(f->ram);
	fake_ring_init_n(f->ring, NQ, &f->mem, QSIZE,
			 &(const struct fake_ring_layout){ 0x1000, 0x4000,
							   VIRTQUEUE_DESC_BYTES(QSIZE), 0x2000 });
	fake_virtio_init(&f->vd, "disk0", features);
	for (unsigned q = 0; q < NQ; q++)
		assert_int_equal(fake_ring_attach(&f->ring[q], &f->vd.vq[q], features), 0);
	f->vd.active = true;
	f->buf = fake_ring_alloc(&f->mem, 512);
	f->chain = virtqueue_chain_new(QSIZE);
	assert_non_null(f->chain);
	vpoll_init(&f->p, max_us);
	return f;
}

static void fx_free(struct fx *f)
{
	virtqueue_chain_free(f->chain);
	fake_virtio_destroy(&f->vd);
	free(f->ram);
	free(f);
}

/* The driver makes one buffer available on q. */
static void fx_offer(struct fx *f, unsigned q)
{
	const struct fake_ring_seg s = { f->buf, 512, true };

	fake_ring_post(&f->ring[q], &s, 1);
}

/* Publishes until a spin is due (at most limit); how many it took. */
static unsigned fx_until_due(struct fx *f, uint32_t queues, struct vpoll_watch *w,
			     unsigned limit)
{
	for (unsigned n = 1; n <= limit; n++)
		if (vpoll_begin(&f->p, &f->vd, queues, w))
			return n;
	return 0;
}

static bool fx_stop_now(void *opaque)
{
	return true;
}

static void test_probe_every(void **state)
{
	struct fx *f = fx_new(F_EVENT_IDX, 50);
	struct vpoll_watch w;

	assert_int_equal(vpoll_window(&f->p), 0);
	assert_int_equal(fx_until_due(f, 1, &w, 100), VPOLL_PROBE_EVERY);
	assert_int_equal(w.window_ns, 50000);     /* a probe spins for max */
	assert_int_equal(w.queues, 1);
	assert_false(vpoll_wait(&f->p, &w, NULL, NULL));
	assert_int_equal(vpoll_window(&f->p), 0);
	assert_int_equal(f->p.misses, 1);
	/* the count starts again after a probe */
	assert_int_equal(fx_until_due(f, 1, &w, 100), VPOLL_PROBE_EVERY);
	assert_false(vpoll_wait(&f->p, &w, NULL, NULL));
	fx_free(f);
}

/* A hit opens the window to twice the answer time, within [MIN, max]; an
 * open window spins at every publish; an empty one closes it. */
static void test_adapt(void **state)
{
	struct fx *f = fx_new(F_EVENT_IDX, 1000);
	struct vpoll_watch w;

	assert_int_equal(fx_until_due(f, 1, &w, 100), VPOLL_PROBE_EVERY);
	fx_offer(f, 0);     /* the answer is already there */
	assert_true(vpoll_wait(&f->p, &w, NULL, NULL));
	assert_int_equal(f->p.hits, 1);
	assert_true(vpoll_window(&f->p) >= VPOLL_MIN_NS);
	assert_true(vpoll_window(&f->p) <= 1000000);
	assert_true(vpoll_begin(&f->p, &f->vd, 1, &w));   /* open: every publish */
	assert_int_equal(w.window_ns, vpoll_window(&f->p));
	/* the buffer pop has not taken yet is no answer: the watch starts
	 * from the driver's index as it is */
	assert_false(vpoll_wait(&f->p, &w, NULL, NULL));
	assert_int_equal(vpoll_window(&f->p), 0);
	assert_int_equal(f->p.misses, 1);
	assert_false(vpoll_begin(&f->p, &f->vd, 1, &w));  /* closed again */
	fx_free(f);
}

/* The window caps at max_ns however slow the answer. */
static void test_window_capped(void **state)
{
	struct fx *f = fx_new(F_EVENT_IDX, 2);
	struct vpoll_watch w;

	assert_int_equal(f->p.max_ns, 2000);
	assert_int_equal(fx_until_due(f, 1, &w, 100), VPOLL_PROBE_EVERY);
	fx_offer(f, 0);
	assert_true(vpoll_wait(&f->p, &w, NULL, NULL));
	assert_int_equal(vpoll_window(&f->p), 2000);   /* MIN, and max */
	vpoll_init(&f->p, 5000000);
	assert_int_equal(f->p.max_ns, (uint64_t)VPOLL_MAX_US * 1000);
	fx_free(f);
}

/* stop() ends a spin without judging the driver. */
static void test_stop(void **state)
{
	struct fx *f = fx_new(F_EVENT_IDX, 1000);
	struct vpoll_watch w;

	assert_int_equal(fx_until_due(f, 1, &w, 100), VPOLL_PROBE_EVERY);
	fx_offer(f, 0);
	assert_true(vpoll_wait(&f->p, &w, fx_stop_now, NULL));   /* the answer wins */
	assert_true(vpoll_begin(&f->p, &f->vd, 1, &w));
	assert_false(vpoll_wait(&f->p, &w, fx_stop_now, NULL));
	assert_int_not_equal(vpoll_window(&f->p), 0);
	assert_int_equal(f->p.hits, 1);
	assert_int_equal(f->p.misses, 0);
	fx_free(f);
}

/* Kicks off on every watched queue: event idx leaves avail_event behind;
 * without it, NO_NOTIFY. Queues not named, absent or broken are left
 * alone. */
static void kicks_off(uint64_t features)
{
	bool ev = features & F_EVENT_IDX;
	struct fx *f = fx_new(features, 100);
	struct vpoll_watch w;
	uint16_t old;

	f->vd.active = false;
	f->vd.enabled[0] = f->vd.enabled[1] = true;   /* queue 2: not enabled */
	for (unsigned q = 0; q < NQ; q++)
		virtqueue_set_notify(&f->vd.vq[q], true);
	assert_int_equal(fx_until_due(f, ALL_QUEUES, &w, 100), VPOLL_PROBE_EVERY);
	assert_int_equal(w.queues, 3);
	for (unsigned q = 0; q < NQ; q++) {
		old = f->ring[q].avail_idx;
		fx_offer(f, q);
		assert_int_equal(fake_ring_kick_needed(&f->ring[q], old, ev), q == 2);
	}
	assert_true(vpoll_wait(&f->p, &w, NULL, NULL));
	assert_true(virtqueue_rearm(&f->vd.vq[0]));    /* the caller serves: kicks back */
	fx_free(f);
}

static void test_kicks_off_event_idx(void **state)
{
	kicks_off(F_EVENT_IDX);
}

static void test_kicks_off_flags(void **state)
{
	kicks_off(0);
}

static void test_not_watched(void **state)
{
	struct fx *f = fx_new(F_EVENT_IDX, 100);
	struct vpoll_watch w;

	f->vd.vq[1].broken = true;
	assert_int_equal(fx_until_due(f, 2, &w, VPOLL_PROBE_EVERY), 0);   /* only a broken one */
	assert_int_equal(f->p.hits + f->p.misses, 0);
	assert_int_equal(fx_until_due(f, 0, &w, 100), 0);   /* nothing published */
	assert_int_equal(fx_until_due(f, 3, &w, 100), VPOLL_PROBE_EVERY);
	assert_int_equal(w.queues, 1);
	assert_false(vpoll_wait(&f->p, &w, NULL, NULL));
	fx_free(f);
}

/* One poller at a time: a second publish does not spin meanwhile. */
static void test_one_poller(void **state)
{
	struct fx *f = fx_new(F_EVENT_IDX, 100);
	struct vpoll_watch w, w2;

	assert_int_equal(fx_until_due(f, 1, &w, 100), VPOLL_PROBE_EVERY);
	assert_int_equal(fx_until_due(f, 1, &w2, 3 * VPOLL_PROBE_EVERY), 0);
	assert_false(vpoll_wait(&f->p, &w, NULL, NULL));
	assert_int_equal(fx_until_due(f, 1, &w2, 100), VPOLL_PROBE_EVERY);
	assert_false(vpoll_wait(&f->p, &w2, NULL, NULL));
	fx_free(f);
}

static void test_off(void **state)
{
	struct fx *f = fx_new(F_EVENT_IDX, 0);
	struct vpoll_watch w;
	json_t *facts = json_object(), *stats = json_object();

	assert_int_equal(fx_until_due(f, 1, &w, 10 * VPOLL_PROBE_EVERY), 0);
	vpoll_query(&f->p, facts, stats);
	assert_int_equal(json_integer_value(json_object_get(facts, "poll_max_us")), 0);
	assert_int_equal(json_integer_value(json_object_get(stats, "poll_hits")), 0);
	assert_int_equal(json_integer_value(json_object_get(stats, "poll_misses")), 0);
	json_decref(facts);
	json_decref(stats);
	fx_free(f);
}

static void test_query(void **state)
{
	struct fx *f = fx_new(F_EVENT_IDX, 40);
	struct vpoll_watch w;
	json_t *facts = json_object(), *stats = json_object();

	assert_int_equal(fx_until_due(f, 1, &w, 100), VPOLL_PROBE_EVERY);
	fx_offer(f, 0);
	assert_true(vpoll_wait(&f->p, &w, NULL, NULL));
	vpoll_query(&f->p, facts, stats);
	assert_int_equal(json_integer_value(json_object_get(facts, "poll_max_us")), 40);
	assert_int_equal(json_integer_value(json_object_get(stats, "poll_hits")), 1);
	assert_int_equal(json_integer_value(json_object_get(stats, "poll_misses")), 0);
	assert_int_equal(json_integer_value(json_object_get(stats, "poll_window_ns")),
			 (json_int_t)vpoll_window(&f->p));
	assert_non_null(json_object_get(stats, "poll_total_time_ns"));
	json_decref(facts);
	json_decref(stats);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_every),
		cmocka_unit_test(test_adapt),
		cmocka_unit_test(test_window_capped),
		cmocka_unit_test(test_stop),
		cmocka_unit_test(test_kicks_off_event_idx),
		cmocka_unit_test(test_kicks_off_flags),
		cmocka_unit_test(test_not_watched),
		cmocka_unit_test(test_one_poller),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_query),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
