/* ratelimit: a pair of token buckets (bytes and operations) on an injected
 * clock, for the I/O limits of disks and network interfaces. It owns the
 * bucket arithmetic only: no timers, no threads, no locking (the caller
 * serialises all calls on one object).
 *
 * Each dimension has a rate (units per second; 0 = unlimited) and a bucket
 * size (the burst; 0 = one second's worth, i.e. the rate). The fill level
 * is kept in nano-units (units * 10^9) in 128-bit integers, refilled by
 * elapsed_ns * rate: exact, no rounding drift, no overflow for any 64-bit
 * rate, burst or elapsed time.
 *
 * Admission: a request of n units passes when the level holds min(n, size)
 * units; it then takes n units, so a request bigger than the bucket passes
 * once the bucket is full and leaves it in debt (a negative level) that
 * the rate pays back before anything else passes. Nothing ever waits for
 * more than the time to fill one bucket plus the debt, so there is no
 * starvation, and the long-run rate is exact. A request of 0 units passes
 * whenever the bucket is not in debt. A refused request takes nothing; the
 * caller gets the nanoseconds after which the same request would pass. */
#ifndef VMKIT_RATELIMIT_H
#define VMKIT_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* Signed 128-bit level (GCC/clang on 64-bit hosts). */
__extension__ typedef __int128 ratelimit_level_t;

/* The limits of one device; the same fields as struct config_ratelimit. */
struct ratelimit_limits {
	uint64_t bps, bps_burst;    /* bytes per second; bucket in bytes */
	uint64_t ops, ops_burst;    /* operations per second; bucket in operations */
};

struct ratelimit_bucket {
	uint64_t rate;              /* units per second, 0 = unlimited */
	uint64_t size;              /* units the bucket holds (>= 1 when limited) */
	ratelimit_level_t level;    /* nano-units; < 0: debt */
};

/* Nanoseconds of a monotonic clock (util_now_ns in the VMM, a variable in
 * tests). */
typedef uint64_t (*ratelimit_clock_fn)(void *opaque);

struct ratelimit {
	struct ratelimit_bucket bytes, ops;
	struct ratelimit_limits limits;  /* as configured (bursts may be 0) */
	uint64_t last_ns;                /* time of the last refill */
	ratelimit_clock_fn now;
	void *clock_opaque;
};

/* Set up rl with limits (NULL: unlimited), both buckets full. */
void ratelimit_init(struct ratelimit *rl, const struct ratelimit_limits *limits,
		    ratelimit_clock_fn now, void *clock_opaque);
/* Replace the limits at run time. Time until now counts at the old rates;
 * a dimension that was unlimited starts full; otherwise the level is kept,
 * clamped to the new bucket size and to at most one new bucket of debt. */
void ratelimit_set(struct ratelimit *rl, const struct ratelimit_limits *limits);
/* True when at least one dimension is limited. */
bool ratelimit_enabled(const struct ratelimit *rl);
/* Would a request of bytes and ops pass now? 0: yes (nothing is taken);
 * else the nanoseconds until it would (>= 1, UINT64_MAX at most). */
uint64_t ratelimit_check(struct ratelimit *rl, uint64_t bytes, uint64_t ops);
/* Take bytes and ops unconditionally (after the fact: a packet whose size
 * was only known once it was read); the debt is capped at 2^64-1 units. */
void ratelimit_charge(struct ratelimit *rl, uint64_t bytes, uint64_t ops);
/* ratelimit_check, and when it passes, ratelimit_charge: 0 or the delay. */
uint64_t ratelimit_consume(struct ratelimit *rl, uint64_t bytes, uint64_t ops);

#endif
