/* vpoll: a device's adaptive polling for the driver's next requests, right
 * after the device published completions. A driver that waits for its
 * completions (polling the used ring, or woken by the interrupt) often
 * answers within microseconds with new requests. Without polling, that
 * answer is a doorbell: a VM exit on the vCPU, an eventfd, and a wake-up of
 * the event loop, all on the request's path. With polling, the thread that
 * published the completions turns the queues' kicks off, watches their
 * avail indexes for a short window, and serves what arrives itself: the
 * driver does not exit and nobody wakes up.
 *
 * The window adapts to the driver. It starts closed (0: no polling). Every
 * VPOLL_PROBE_EVERY-th publish while it is closed, one probe spins for the
 * longest window, max_ns. When a spin sees the answer after t, the window
 * becomes 2t (at least VPOLL_MIN_NS, at most max_ns); when a spin ends
 * without one, the window closes. A driver that does not answer fast (idle,
 * or slow to take its interrupt) thus costs one max_ns spin per
 * VPOLL_PROBE_EVERY publishes, and a busy one saves its doorbells.
 *
 * Which thread polls: the one that published (a block worker or the ring's
 * completion thread in virtio-blk), one at a time per device. It never
 * holds the device lock while it spins, and stops early, leaving the window
 * as it is, when the caller's stop() says it has other work (virtio-blk:
 * the disk's own I/O needs a thread, blk_aio_has_work).
 *
 * Locks: vpoll_begin runs with the device lock held, vpoll_wait without;
 * what both touch is atomic. */
#ifndef VMKIT_VPOLL_H
#define VMKIT_VPOLL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

/* Shortest open window. */
#define VPOLL_MIN_NS 2000ull
/* Largest window poll_us may set (1 ms). */
#define VPOLL_MAX_US 1000u
/* A closed window probes once per this many publishes. */
#define VPOLL_PROBE_EVERY 16u

struct vpoll {
	uint64_t max_ns;           /* 0: never poll */
	uint64_t window_ns;        /* atomic: the current window, 0 or [MIN, max] */
	unsigned closed_for;       /* device lock: publishes since the last probe */
	bool busy;                 /* atomic: a thread polls */
	uint64_t hits;             /* atomic: spins that saw the driver's answer */
	uint64_t misses;           /* atomic: spins that ended without one */
	uint64_t polled_ns;        /* atomic: time spent spinning */
};

/* What one thread watches between vpoll_begin and the end of vpoll_wait. */
struct vpoll_watch {
	uint32_t queues;           /* bit q: queue q's kicks are off and watched */
	uint64_t window_ns;        /* how long to spin */
	struct virtqueue_watch w[VIRTIO_MAX_QUEUES];
};

_Static_assert(VIRTIO_MAX_QUEUES <= 32, "vpoll_watch.queues has a bit per queue");

/* max_us is capped at VPOLL_MAX_US; 0 turns polling off. */
void vpoll_init(struct vpoll *p, unsigned max_us);
/* Device lock held, right after publishing used buffers on the queues in
 * `queues` (bit q = queue q): when it is time to spin (the window is open,
 * or a probe is due) and no other thread polls, turn those queues' kicks
 * off, fill w and return true. The caller then drops the lock, calls
 * vpoll_wait, and serves every queue of w->queues (pop until empty: that
 * re-arms the kicks), or kicks them so that the event loop does. */
bool vpoll_begin(struct vpoll *p, struct virtio_dev *vd, uint32_t queues,
		 struct vpoll_watch *w);
/* No lock: spin until the driver made buffers available on a watched queue
 * (true), the window ends, or stop(opaque) returns true (false); adapt the
 * window; let other threads poll again. */
bool vpoll_wait(struct vpoll *p, const struct vpoll_watch *w, bool (*stop)(void *opaque),
		void *opaque);
/* The current window (tests, query). */
uint64_t vpoll_window(const struct vpoll *p);
/* query: "poll_max_us" into facts; "poll_hits", "poll_misses",
 * "poll_window_ns", "poll_total_time_ns" into stats. */
void vpoll_query(const struct vpoll *p, json_t *facts, json_t *stats);

#endif
