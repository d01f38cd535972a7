/* test_ratelimit: the token buckets of src/common/ratelimit.c on an injected
 * clock: rate, burst, both dimensions, unlimited, reconfiguration at run
 * time, requests larger than the bucket (debt), exactness over many small
 * steps, and the overflow edges (64-bit rates, bursts, requests, elapsed
 * times; a clock that goes back). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/ratelimit.h"

#define MS 1000000ull
#define SEC 1000000000ull

struct clk {
	uint64_t now;
};

static uint64_t clk_now(void *opaque)
{
	return ((struct clk *)opaque)->now;
}

static void rl_setup(struct ratelimit *rl, struct clk *c, uint64_t bps, uint64_t bps_burst,
		     uint64_t ops, uint64_t ops_burst)
{
	struct ratelimit_limits lim = { bps, bps_burst, ops, ops_burst };

	ratelimit_init(rl, &lim, clk_now, c);
}

static void test_unlimited(void **state)
{
	struct clk c = { 5 };
	struct ratelimit rl;

	ratelimit_init(&rl, NULL, clk_now, &c);
	assert_false(ratelimit_enabled(&rl));
	for (int i = 0; i < 1000; i++)
		assert_int_equal(ratelimit_consume(&rl, UINT64_MAX, UINT64_MAX), 0);
	ratelimit_charge(&rl, UINT64_MAX, UINT64_MAX);
	assert_int_equal(ratelimit_check(&rl, UINT64_MAX, UINT64_MAX), 0);
	rl_setup(&rl, &c, 0, 12345, 0, 678);   /* a burst alone limits nothing */
	assert_false(ratelimit_enabled(&rl));
	assert_int_equal(ratelimit_consume(&rl, UINT64_MAX, 1), 0);
}

/* 1000 bytes/s, one second's worth of burst: 1 ms per byte once empty. */
static void test_rate(void **state)
{
	struct clk c = { 1000 };
	struct ratelimit rl;

	rl_setup(&rl, &c, 1000, 0, 0, 0);
	assert_true(ratelimit_enabled(&rl));
	assert_int_equal(ratelimit_consume(&rl, 1000, 0), 0);
	assert_int_equal(ratelimit_consume(&rl, 1, 0), MS);
	c.now += MS - 1;
	assert_int_equal(ratelimit_consume(&rl, 1, 0), 1);
	assert_int_equal(ratelimit_consume(&rl, 2, 0), MS + 1);
	c.now += 1;
	assert_int_equal(ratelimit_consume(&rl, 1, 0), 0);
	assert_int_equal(ratelimit_consume(&rl, 1, 0), MS);
	/* half a second later: 500 bytes, not 501 */
	c.now += SEC / 2;
	assert_int_equal(ratelimit_consume(&rl, 500, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS);
	/* ops unlimited: any count passes */
	c.now += MS;
	assert_int_equal(ratelimit_consume(&rl, 1, UINT64_MAX), 0);
}

/* The bucket holds the burst, never more, however long it was idle. */
static void test_burst(void **state)
{
	struct clk c = { 0 };
	struct ratelimit rl;

	rl_setup(&rl, &c, 100, 500, 0, 0);
	assert_int_equal(ratelimit_consume(&rl, 500, 0), 0);
	assert_int_equal(ratelimit_consume(&rl, 1, 0), 10 * MS);
	c.now += 3600 * SEC;
	assert_int_equal(ratelimit_consume(&rl, 300, 0), 0);
	assert_int_equal(ratelimit_consume(&rl, 200, 0), 0);
	assert_int_equal(ratelimit_consume(&rl, 1, 0), 10 * MS);
	/* a burst smaller than the rate */
	rl_setup(&rl, &c, 1000, 10, 0, 0);
	assert_int_equal(ratelimit_consume(&rl, 10, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS);
	c.now += SEC;
	assert_int_equal(ratelimit_consume(&rl, 10, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS);
}

/* Bytes and operations together: a request passes only when both buckets
 * allow it, a refused one takes from neither, the delay is the longer. */
static void test_both_dimensions(void **state)
{
	struct clk c = { 0 };
	struct ratelimit rl;

	rl_setup(&rl, &c, 1000, 0, 10, 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(ratelimit_consume(&rl, 1, 1), 0);
	assert_int_equal(ratelimit_consume(&rl, 1, 1), 100 * MS);   /* ops empty */
	/* the refusal took no byte: 990 are left */
	assert_int_equal(ratelimit_consume(&rl, 990, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS);
	/* bytes empty too: the delay is the longer of the two */
	assert_int_equal(ratelimit_check(&rl, 200, 1), 200 * MS);
	assert_int_equal(ratelimit_check(&rl, 50, 1), 100 * MS);
	c.now += 100 * MS;   /* 1 op and 100 bytes */
	assert_int_equal(ratelimit_check(&rl, 101, 1), MS);
	assert_int_equal(ratelimit_consume(&rl, 100, 1), 0);
	assert_int_equal(ratelimit_check(&rl, 0, 1), 100 * MS);
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS);
}

/* check takes nothing, charge takes unconditionally (debt), and a request
 * of 0 units passes exactly when the bucket is not in debt. */
static void test_check_charge(void **state)
{
	struct clk c = { 0 };
	struct ratelimit rl;

	rl_setup(&rl, &c, 1000, 0, 0, 0);
	for (int i = 0; i < 5; i++)
		assert_int_equal(ratelimit_check(&rl, 1000, 0), 0);
	ratelimit_charge(&rl, 1500, 0);
	assert_int_equal(ratelimit_check(&rl, 0, 0), 500 * MS);
	assert_int_equal(ratelimit_check(&rl, 1, 0), 501 * MS);
	c.now += 500 * MS;
	assert_int_equal(ratelimit_check(&rl, 0, 0), 0);
	assert_int_equal(ratelimit_consume(&rl, 0, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS);
}

/* A request larger than the bucket waits for a full bucket, passes, and
 * leaves a debt that the rate pays back: the long-run rate holds and
 * nothing starves. */
static void test_large_request(void **state)
{
	struct clk c = { 0 };
	struct ratelimit rl;

	rl_setup(&rl, &c, 1000, 1000, 0, 0);
	assert_int_equal(ratelimit_consume(&rl, 500, 0), 0);
	assert_int_equal(ratelimit_consume(&rl, 5000, 0), 500 * MS);   /* until full */
	c.now += 500 * MS;
	assert_int_equal(ratelimit_consume(&rl, 5000, 0), 0);   /* debt: 4000 */
	assert_int_equal(ratelimit_check(&rl, 0, 0), 4 * SEC);
	assert_int_equal(ratelimit_check(&rl, 1, 0), 4 * SEC + MS);
	assert_int_equal(ratelimit_check(&rl, 1000000, 0), 5 * SEC);
	c.now += 4 * SEC + MS;
	assert_int_equal(ratelimit_consume(&rl, 1, 0), 0);
	/* a huge request at a tiny rate passes at once (the bucket is full);
	 * its debt is paid back at the rate */
	rl_setup(&rl, &c, 1, 1, 0, 0);
	assert_int_equal(ratelimit_consume(&rl, 1ull << 30, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), (1ull << 30) * SEC);
	/* operations: a request counting many at once */
	rl_setup(&rl, &c, 0, 0, 10, 0);
	assert_int_equal(ratelimit_consume(&rl, 0, 25), 0);
	assert_int_equal(ratelimit_check(&rl, 0, 1), 1600 * MS);
}

/* Many tiny steps add up exactly (no rounding drift), and a steady
 * consumer gets exactly the rate. */
static void test_exact(void **state)
{
	struct clk c = { 0 };
	struct ratelimit rl;
	uint64_t start;

	rl_setup(&rl, &c, 3, 1, 0, 0);
	assert_int_equal(ratelimit_consume(&rl, 1, 0), 0);
	for (int i = 0; i < 1000; i++) {
		c.now += 333333;
		assert_int_equal(ratelimit_check(&rl, 1, 0), 333333334ull - 333333ull * (i + 1));
	}
	/* 999,999,000 nano-bytes in the bucket: 1000 short, at 3 per ns */
	assert_int_equal(ratelimit_check(&rl, 1, 0), 334);
	/* steady consumer at 7 ops/s: 7000 operations take exactly 1000 s */
	rl_setup(&rl, &c, 0, 0, 7, 1);
	assert_int_equal(ratelimit_consume(&rl, 0, 1), 0);
	start = c.now;
	for (int i = 0; i < 7000; i++) {
		uint64_t d = ratelimit_consume(&rl, 0, 1);

		assert_true(d > 0);
		c.now += d;
		assert_int_equal(ratelimit_consume(&rl, 0, 1), 0);
	}
	assert_true(c.now - start >= 1000 * SEC);
	assert_true(c.now - start <= 1000 * SEC + 7000);   /* ceil: < 1 ns per step */
}

/* Limits replaced at run time: elapsed time counts at the old rate, the
 * level is clamped to the new bucket (debt to one bucket), a newly
 * limited dimension starts full, lifting a limit lets everything pass. */
static void test_reconfigure(void **state)
{
	struct clk c = { 0 };
	struct ratelimit rl;
	struct ratelimit_limits lim = { 2000, 0, 0, 0 };

	rl_setup(&rl, &c, 1000, 0, 0, 0);
	assert_int_equal(ratelimit_consume(&rl, 1000, 0), 0);
	c.now += SEC / 2;                        /* 500 at the old rate */
	ratelimit_set(&rl, &lim);
	assert_int_equal(rl.limits.bps, 2000);
	assert_int_equal(ratelimit_consume(&rl, 500, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS / 2);
	/* a smaller bucket clamps a fuller level */
	c.now += 10 * SEC;                       /* full: 2000 */
	lim = (struct ratelimit_limits){ 2000, 100, 0, 0 };
	ratelimit_set(&rl, &lim);
	assert_int_equal(ratelimit_consume(&rl, 100, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS / 2);
	/* lifted: anything passes; limited again: starts full */
	ratelimit_set(&rl, NULL);
	assert_false(ratelimit_enabled(&rl));
	assert_int_equal(ratelimit_consume(&rl, UINT64_MAX, 0), 0);
	lim = (struct ratelimit_limits){ 1000, 0, 5, 0 };
	ratelimit_set(&rl, &lim);
	assert_int_equal(ratelimit_consume(&rl, 1000, 5), 0);
	assert_int_equal(ratelimit_check(&rl, 0, 1), 200 * MS);
	/* a big debt shrinks to one new bucket */
	c.now += SEC;
	assert_int_equal(ratelimit_consume(&rl, 100000, 0), 0);   /* debt 99000 */
	lim = (struct ratelimit_limits){ 1000, 0, 0, 0 };
	ratelimit_set(&rl, &lim);
	assert_int_equal(ratelimit_check(&rl, 1, 0), SEC + MS);
	/* the ops dimension, unlimited now, is ignored */
	assert_int_equal(ratelimit_check(&rl, 0, 1000), SEC);
}

/* 64-bit extremes: nothing overflows, delays saturate. */
static void test_overflow(void **state)
{
	struct clk c = { 0 };
	struct ratelimit rl;
	struct ratelimit_limits lim = { 1, 1, UINT64_MAX, UINT64_MAX };

	rl_setup(&rl, &c, UINT64_MAX, UINT64_MAX, UINT64_MAX, 0);
	assert_int_equal(ratelimit_consume(&rl, UINT64_MAX, UINT64_MAX), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), 1);   /* 10^9 nano-units at 2^64-1/ns */
	assert_int_equal(ratelimit_check(&rl, UINT64_MAX, 0), SEC);
	c.now = UINT64_MAX;                                /* the longest elapsed time */
	assert_int_equal(ratelimit_consume(&rl, UINT64_MAX, UINT64_MAX), 0);
	c.now = 0;
	/* tiny rate, huge bucket: the delay saturates */
	rl_setup(&rl, &c, 1, UINT64_MAX, 0, 0);
	assert_int_equal(ratelimit_consume(&rl, UINT64_MAX, 0), 0);
	assert_int_equal(ratelimit_check(&rl, UINT64_MAX, 0), UINT64_MAX);
	assert_int_equal(ratelimit_check(&rl, 1, 0), SEC);
	/* unbounded charges: the debt stops at 2^64-1 units */
	for (int i = 0; i < 100; i++)
		ratelimit_charge(&rl, UINT64_MAX, 0);
	assert_int_equal(ratelimit_check(&rl, 0, 0), UINT64_MAX);
	assert_true(rl.bytes.level >= -(ratelimit_level_t)UINT64_MAX * 1000000000);
	/* a full day at the highest rate into a small bucket */
	rl_setup(&rl, &c, UINT64_MAX, 1, 0, 0);
	assert_int_equal(ratelimit_consume(&rl, 1, 0), 0);
	c.now += 86400 * SEC;
	assert_int_equal(ratelimit_consume(&rl, 1, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), 1);
	/* reconfiguration at the extremes */
	ratelimit_set(&rl, &lim);
	assert_int_equal(ratelimit_check(&rl, 1, UINT64_MAX), SEC);
}

/* A clock that goes back gives no credit, and time is not counted twice
 * when it comes forward again. */
static void test_clock_backwards(void **state)
{
	struct clk c = { 10 * SEC };
	struct ratelimit rl;

	rl_setup(&rl, &c, 1000, 0, 0, 0);
	assert_int_equal(ratelimit_consume(&rl, 1000, 0), 0);
	c.now = 5 * SEC;
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS);
	c.now = 10 * SEC + MS;
	assert_int_equal(ratelimit_consume(&rl, 1, 0), 0);
	assert_int_equal(ratelimit_check(&rl, 1, 0), MS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_rate),
		cmocka_unit_test(test_burst),
		cmocka_unit_test(test_both_dimensions),
		cmocka_unit_test(test_check_charge),
		cmocka_unit_test(test_large_request),
		cmocka_unit_test(test_exact),
		cmocka_unit_test(test_reconfigure),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_clock_backwards),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
