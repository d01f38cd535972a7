/* ratelimit: token buckets on an injected clock (see ratelimit.h for the
 * design: nano-unit levels in 128-bit integers, debt for requests larger
 * than the bucket). */
#include "common/ratelimit.h"

#include <stddef.h>

#define RATELIMIT_NANO 1000000000ll

__extension__ typedef unsigned __int128 ratelimit_u128;

/* The most debt a bucket remembers: 2^64-1 units. */
static const ratelimit_level_t ratelimit_debt_max =
	(ratelimit_level_t)UINT64_MAX * RATELIMIT_NANO;

static ratelimit_level_t ratelimit_nano(uint64_t units)
{
	return (ratelimit_level_t)units * RATELIMIT_NANO;
}

static ratelimit_level_t ratelimit_full(const struct ratelimit_bucket *b)
{
	return ratelimit_nano(b->size);
}

static void ratelimit_bucket_conf(struct ratelimit_bucket *b, uint64_t rate, uint64_t burst)
{
	b->rate = rate;
	b->size = rate ? (burst ? burst : rate) : 0;
}

/* elapsed_ns more at b->rate, up to a full bucket. The product is formed
 * only when it stays below the missing amount, so nothing overflows. */
static void ratelimit_bucket_refill(struct ratelimit_bucket *b, uint64_t elapsed_ns)
{
	ratelimit_level_t full = ratelimit_full(b);
	ratelimit_u128 missing;

	if (!b->rate || b->level >= full)
		return;
	missing = (ratelimit_u128)(full - b->level);
	if (elapsed_ns >= (missing + b->rate - 1) / b->rate)
		b->level = full;
	else
		b->level += (ratelimit_level_t)((ratelimit_u128)elapsed_ns * b->rate);
}

static void ratelimit_refill(struct ratelimit *rl)
{
	uint64_t now = rl->now(rl->clock_opaque);

	if (now <= rl->last_ns)
		return;   /* a clock that went back gives nothing (and takes nothing) */
	ratelimit_bucket_refill(&rl->bytes, now - rl->last_ns);
	ratelimit_bucket_refill(&rl->ops, now - rl->last_ns);
	rl->last_ns = now;
}

/* Nanoseconds until b holds min(n, size) units, 0 when it does now. */
static uint64_t ratelimit_bucket_wait(const struct ratelimit_bucket *b, uint64_t n)
{
	ratelimit_level_t need;
	ratelimit_u128 ns;

	if (!b->rate)
		return 0;
	need = ratelimit_nano(n < b->size ? n : b->size);
	if (b->level >= need)
		return 0;
	ns = ((ratelimit_u128)(need - b->level) + b->rate - 1) / b->rate;
	return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

static void ratelimit_bucket_take(struct ratelimit_bucket *b, uint64_t n)
{
	if (!b->rate)
		return;
	b->level -= ratelimit_nano(n);
	if (b->level < -ratelimit_debt_max)
		b->level = -ratelimit_debt_max;
}

void ratelimit_init(struct ratelimit *rl, const struct ratelimit_limits *limits,
		    ratelimit_clock_fn now, void *clock_opaque)
{
	const struct ratelimit_limits none = { 0 };

	*rl = (struct ratelimit){ .now = now, .clock_opaque = clock_opaque };
	rl->last_ns = now(clock_opaque);
	rl->limits = limits ? *limits : none;
	ratelimit_bucket_conf(&rl->bytes, rl->limits.bps, rl->limits.bps_burst);
	ratelimit_bucket_conf(&rl->ops, rl->limits.ops, rl->limits.ops_burst);
	rl->bytes.level = ratelimit_full(&rl->bytes);
	rl->ops.level = ratelimit_full(&rl->ops);
}

static void ratelimit_bucket_set(struct ratelimit_bucket *b, uint64_t rate, uint64_t burst)
{
	bool was_limited = b->rate != 0;
	ratelimit_level_t full;

	ratelimit_bucket_conf(b, rate, burst);
	full = ratelimit_full(b);
	if (!was_limited || b->level > full)
		b->level = full;
	if (b->level < -full)
		b->level = -full;
}

void ratelimit_set(struct ratelimit *rl, const struct ratelimit_limits *limits)
{
	const struct ratelimit_limits none = { 0 };

	ratelimit_refill(rl);
	rl->limits = limits ? *limits : none;
	ratelimit_bucket_set(&rl->bytes, rl->limits.bps, rl->limits.bps_burst);
	ratelimit_bucket_set(&rl->ops, rl->limits.ops, rl->limits.ops_burst);
}

bool ratelimit_enabled(const struct ratelimit *rl)
{
	return rl->bytes.rate || rl->ops.rate;
}

uint64_t ratelimit_check(struct ratelimit *rl, uint64_t bytes, uint64_t ops)
{
	uint64_t wb, wo;

	if (!ratelimit_enabled(rl))
		return 0;
	ratelimit_refill(rl);
	wb = ratelimit_bucket_wait(&rl->bytes, bytes);
	wo = ratelimit_bucket_wait(&rl->ops, ops);
	return wb > wo ? wb : wo;
}

void ratelimit_charge(struct ratelimit *rl, uint64_t bytes, uint64_t ops)
{
	if (!ratelimit_enabled(rl))
		return;
	ratelimit_refill(rl);
	ratelimit_bucket_take(&rl->bytes, bytes);
	ratelimit_bucket_take(&rl->ops, ops);
}

uint64_t ratelimit_consume(struct ratelimit *rl, uint64_t bytes, uint64_t ops)
{
	uint64_t wait = ratelimit_check(rl, bytes, ops);

	if (wait == 0)
		ratelimit_charge(rl, bytes, ops);
	return wait;
}
