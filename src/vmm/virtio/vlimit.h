/* vlimit: the I/O rate limit of one virtio device (virtio-blk, virtio-net),
 * shared by all of its queues: the token buckets (common/ratelimit.h), the
 * timer that resumes the queues a bucket refused (a timerfd on the event
 * loop, opened when a limit is first set), which queues wait on it, and the
 * throttle counters.
 *
 * A device asks before it starts a request (vlimit_admit). When the bucket
 * refuses, the device leaves the request in its ring (virtqueue_unpop) and
 * stops taking more from that queue; vlimit remembers the queue and arms the
 * timer for the delay the bucket gave. When the timer fires, every waiting
 * queue is kicked (virtio_queue_kick) and the device retries. A waiting
 * queue waits on the timer or on the driver's kicks (virtio-blk does not
 * poll it for the guest's answer, vpoll.h).
 *
 * Locks: every call but vlimit_init/vlimit_destroy runs with the device
 * lock held; the timer callback takes it (event-loop thread). */
#ifndef VMKIT_VLIMIT_H
#define VMKIT_VLIMIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/ratelimit.h"
#include "virtio/virtio.h"

struct vlimit {
	struct ratelimit rl;
	struct evloop *loop;
	struct virtio_dev **handle;   /* the device's transport handle */
	char id[VIRTIO_ID_MAX];       /* for messages */
	int tfd;                      /* timerfd, -1 until a limit is set */
	bool armed;
	uint64_t deadline_ns;         /* when the armed timer fires (rl's clock) */
	uint32_t waiting;             /* bit q: queue q waits for the timer */
	uint64_t since[VIRTIO_MAX_QUEUES];  /* when each waiting queue stopped */
	uint64_t throttled;           /* times a queue was stopped */
	uint64_t throttled_ns;        /* time queues spent stopped (ended waits) */
};

_Static_assert(VIRTIO_MAX_QUEUES <= 32, "vlimit.waiting has a bit per queue");

/* Set up l for the device whose transport handle will be *handle, with the
 * configured limits (all zero: unlimited, and no timer yet). 0, or -errno
 * (the timer could not be made; logged with the device id). */
int vlimit_init(struct vlimit *l, struct evloop *loop, struct virtio_dev **handle,
		const char *id, const struct config_ratelimit *cfg);
/* Close the timer (the loop no longer dispatches, or never saw it). */
void vlimit_destroy(struct vlimit *l);
/* Replace the limits (set-rate-limit). Waiting queues are kicked at once,
 * so a lifted or raised limit applies to the very next request. 0, or
 * -errno when the timer a limit needs cannot be made (nothing changed). */
int vlimit_set(struct vlimit *l, const struct config_ratelimit *cfg);
/* May queue q start a request of bytes and ops now? true: yes, and they are
 * taken from the buckets; false: q now waits for the timer (the caller
 * gives the request back and stops popping q). */
bool vlimit_admit(struct vlimit *l, unsigned q, uint64_t bytes, uint64_t ops);
/* The same without taking anything (vnet receive: the size is known only
 * after the read; vlimit_charge then takes it). */
bool vlimit_may(struct vlimit *l, unsigned q, uint64_t bytes, uint64_t ops);
void vlimit_charge(struct vlimit *l, uint64_t bytes, uint64_t ops);
/* Is q waiting for the timer? */
bool vlimit_waiting(const struct vlimit *l, unsigned q);
/* Device reset: no queue waits any more, the timer is disarmed (the
 * buckets keep their levels). */
void vlimit_reset(struct vlimit *l);
/* The timer fired: end every wait and kick those queues. The timer's
 * callback calls this with the device lock held; so may tests. */
void vlimit_expire(struct vlimit *l);
/* query: "rate_limit": {bps, bps_burst, ops, ops_burst} into obj. */
void vlimit_query(const struct vlimit *l, json_t *obj);

#endif
