/* vpoll: adaptive polling for the driver's next requests after a device
 * published completions: the window, the watch, the spin and its counters
 * (see vpoll.h). */
#include "virtio/vpoll.h"

#include "common/util.h"
#include "config.h"

_Static_assert(VPOLL_MAX_US == CONFIG_DISK_MAX_POLL_US, "poll_us= is capped at VPOLL_MAX_US");

#define VPOLL_NS_PER_US 1000ull

void vpoll_init(struct vpoll *p, unsigned max_us)
{
	*p = (struct vpoll){ .max_ns = (uint64_t)MIN(max_us, VPOLL_MAX_US) * VPOLL_NS_PER_US };
}

/* How long this publish spins: the open window, a probe, or 0. */
static uint64_t vpoll_due(struct vpoll *p)
{
	uint64_t window = __atomic_load_n(&p->window_ns, __ATOMIC_RELAXED);

	if (window)
		return window;
	if (++p->closed_for < VPOLL_PROBE_EVERY)
		return 0;
	p->closed_for = 0;
	return p->max_ns;
}

bool vpoll_begin(struct vpoll *p, struct virtio_dev *vd, uint32_t queues,
		 struct vpoll_watch *w)
{
	if (!p->max_ns || !queues || __atomic_load_n(&p->busy, __ATOMIC_RELAXED))
		return false;
	w->window_ns = vpoll_due(p);
	if (!w->window_ns || __atomic_exchange_n(&p->busy, true, __ATOMIC_ACQUIRE))
		return false;
	w->queues = 0;
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		struct virtqueue *vq = (queues & (1u << q)) ? virtio_queue(vd, q) : NULL;

		if (!vq || virtqueue_broken(vq))
			continue;
		virtqueue_mute(vq);
		virtqueue_watch(vq, &w->w[q]);
		w->queues |= 1u << q;
	}
	if (!w->queues)
		__atomic_store_n(&p->busy, false, __ATOMIC_RELEASE);
	return w->queues != 0;
}

static bool vpoll_moved(const struct vpoll_watch *w)
{
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if ((w->queues & (1u << q)) && virtqueue_watch_moved(&w->w[q]))
			return true;
	return false;
}

/* The answer came after took (hit), or not within the window. */
static void vpoll_adapt(struct vpoll *p, bool hit, uint64_t took)
{
	uint64_t window = hit ? MIN(p->max_ns, MAX(2 * took, VPOLL_MIN_NS)) : 0;

	__atomic_store_n(&p->window_ns, window, __ATOMIC_RELAXED);
	__atomic_fetch_add(hit ? &p->hits : &p->misses, 1, __ATOMIC_RELAXED);
}

bool vpoll_wait(struct vpoll *p, const struct vpoll_watch *w, bool (*stop)(void *opaque),
		void *opaque)
{
	uint64_t start = util_now_ns(), now = start;
	bool hit = false, stopped = false;

	while (!(hit = vpoll_moved(w)) && now - start < w->window_ns) {
		if (stop && stop(opaque)) {
			stopped = true;
			break;
		}
		util_cpu_relax();
		now = util_now_ns();
	}
	if (!stopped)
		vpoll_adapt(p, hit, now - start);
	__atomic_fetch_add(&p->polled_ns, now - start, __ATOMIC_RELAXED);
	__atomic_store_n(&p->busy, false, __ATOMIC_RELEASE);
	return hit;
}

uint64_t vpoll_window(const struct vpoll *p)
{
	return __atomic_load_n(&p->window_ns, __ATOMIC_RELAXED);
}

void vpoll_query(const struct vpoll *p, json_t *facts, json_t *stats)
{
	json_object_set_new(facts, "poll_max_us",
			    json_integer((json_int_t)(p->max_ns / VPOLL_NS_PER_US)));
	json_object_set_new(stats, "poll_hits",
			    json_integer((json_int_t)__atomic_load_n(&p->hits, __ATOMIC_RELAXED)));
	json_object_set_new(stats, "poll_misses",
			    json_integer((json_int_t)__atomic_load_n(&p->misses, __ATOMIC_RELAXED)));
	json_object_set_new(stats, "poll_window_ns", json_integer((json_int_t)vpoll_window(p)));
	json_object_set_new(stats, "poll_total_time_ns",
			    json_integer((json_int_t)__atomic_load_n(&p->polled_ns,
								     __ATOMIC_RELAXED)));
}
