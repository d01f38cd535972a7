/* vlimit: a virtio device's rate limit: token buckets, the resume timer,
 * the waiting queues and the throttle counters (see vlimit.h). */
#include "virtio/vlimit.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"

#define VLIMIT_NS_PER_S 1000000000ull

static uint64_t vlimit_clock(void *opaque)
{
	return util_now_ns();
}

static struct ratelimit_limits vlimit_limits(const struct config_ratelimit *cfg)
{
	return (struct ratelimit_limits){ .bps = cfg->bps, .bps_burst = cfg->bps_burst,
					  .ops = cfg->ops, .ops_burst = cfg->ops_burst };
}

static bool vlimit_cfg_enabled(const struct config_ratelimit *cfg)
{
	return cfg->bps || cfg->ops;
}

static uint64_t vlimit_now(const struct vlimit *l)
{
	return l->rl.now(l->rl.clock_opaque);
}

static void vlimit_on_timer(void *opaque, uint32_t events)
{
	struct vlimit *l = opaque;
	pthread_mutex_t *lock = virtio_dev_lock(*l->handle);
	uint64_t ticks;

	pthread_mutex_lock(lock);
	if (read(l->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn("%s: rate-limit timer: %s", l->id, strerror(errno));
	vlimit_expire(l);
	pthread_mutex_unlock(lock);
}

static int vlimit_timer_open(struct vlimit *l)
{
	int fd, ret;

	if (!l->loop) {
		log_error("%s: a rate limit needs the event loop", l->id);
		return -EINVAL;
	}
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_error("%s: cannot create the rate-limit timer: %s", l->id, strerror(-ret));
		return ret;
	}
	ret = evloop_add(l->loop, fd, EPOLLIN, vlimit_on_timer, l);
	if (ret < 0) {
		log_error("%s: cannot watch the rate-limit timer: %s", l->id, strerror(-ret));
		close(fd);
		return ret;
	}
	l->tfd = fd;
	return 0;
}

static void vlimit_timer_set(struct vlimit *l, uint64_t delay_ns)
{
	struct itimerspec its = { 0 };

	if (l->tfd < 0)
		return;
	its.it_value.tv_sec = (time_t)(delay_ns / VLIMIT_NS_PER_S);
	its.it_value.tv_nsec = (long)(delay_ns % VLIMIT_NS_PER_S);
	if (timerfd_settime(l->tfd, 0, &its, NULL) < 0)
		log_error("%s: cannot arm the rate-limit timer: %s", l->id, strerror(errno));
}

/* Fire in delay_ns unless already armed to fire sooner. */
static void vlimit_arm(struct vlimit *l, uint64_t delay_ns)
{
	uint64_t now = vlimit_now(l);
	uint64_t when = delay_ns > UINT64_MAX - now ? UINT64_MAX : now + delay_ns;

	if (l->armed && l->deadline_ns <= when)
		return;
	vlimit_timer_set(l, delay_ns);
	l->armed = true;
	l->deadline_ns = when;
}

static void vlimit_disarm(struct vlimit *l)
{
	if (l->armed)
		vlimit_timer_set(l, 0);
	l->armed = false;
}

/* Queue q stops until the timer, delay_ns from now. */
static void vlimit_pause(struct vlimit *l, unsigned q, uint64_t delay_ns)
{
	uint32_t bit = q < VIRTIO_MAX_QUEUES ? 1u << q : 0;

	if (bit && !(l->waiting & bit)) {
		l->waiting |= bit;
		l->since[q] = vlimit_now(l);
		l->throttled++;
	}
	vlimit_arm(l, delay_ns);
}

/* End every wait; returns the queues that waited. */
static uint32_t vlimit_release(struct vlimit *l)
{
	uint32_t w = l->waiting;
	uint64_t now = vlimit_now(l);

	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (w & (1u << q))
			l->throttled_ns += now > l->since[q] ? now - l->since[q] : 0;
	l->waiting = 0;
	return w;
}

int vlimit_init(struct vlimit *l, struct evloop *loop, struct virtio_dev **handle,
		const char *id, const struct config_ratelimit *cfg)
{
	struct ratelimit_limits lim = vlimit_limits(cfg);

	memset(l, 0, sizeof(*l));
	l->loop = loop;
	l->handle = handle;
	l->tfd = -1;
	snprintf(l->id, sizeof(l->id), "%s", id);
	ratelimit_init(&l->rl, &lim, vlimit_clock, NULL);
	return vlimit_cfg_enabled(cfg) ? vlimit_timer_open(l) : 0;
}

void vlimit_destroy(struct vlimit *l)
{
	if (l->tfd < 0)
		return;
	(void)evloop_del(l->loop, l->tfd);
	close(l->tfd);
	l->tfd = -1;
}

int vlimit_set(struct vlimit *l, const struct config_ratelimit *cfg)
{
	struct ratelimit_limits lim = vlimit_limits(cfg);
	int ret;

	if (vlimit_cfg_enabled(cfg) && l->tfd < 0) {
		ret = vlimit_timer_open(l);
		if (ret < 0)
			return ret;
	}
	ratelimit_set(&l->rl, &lim);
	log_info("%s: rate limit bps=%" PRIu64 " bps_burst=%" PRIu64 " ops=%" PRIu64
		 " ops_burst=%" PRIu64, l->id, cfg->bps, cfg->bps_burst, cfg->ops, cfg->ops_burst);
	if (l->waiting) {
		vlimit_disarm(l);
		vlimit_expire(l);   /* they try again under the new limits */
	}
	return 0;
}

bool vlimit_admit(struct vlimit *l, unsigned q, uint64_t bytes, uint64_t ops)
{
	uint64_t delay = ratelimit_consume(&l->rl, bytes, ops);

	if (delay == 0)
		return true;
	vlimit_pause(l, q, delay);
	return false;
}

bool vlimit_may(struct vlimit *l, unsigned q, uint64_t bytes, uint64_t ops)
{
	uint64_t delay = ratelimit_check(&l->rl, bytes, ops);

	if (delay == 0)
		return true;
	vlimit_pause(l, q, delay);
	return false;
}

void vlimit_charge(struct vlimit *l, uint64_t bytes, uint64_t ops)
{
	ratelimit_charge(&l->rl, bytes, ops);
}

bool vlimit_waiting(const struct vlimit *l, unsigned q)
{
	return q < VIRTIO_MAX_QUEUES && (l->waiting & (1u << q));
}

void vlimit_reset(struct vlimit *l)
{
	vlimit_disarm(l);
	(void)vlimit_release(l);
}

void vlimit_expire(struct vlimit *l)
{
	uint32_t w;

	l->armed = false;
	w = vlimit_release(l);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		if (w & (1u << q))
			virtio_queue_kick(*l->handle, q);
}

void vlimit_query(const struct vlimit *l, json_t *obj)
{
	const struct ratelimit_limits *r = &l->rl.limits;

	json_object_set_new(obj, "rate_limit",
			    json_pack("{s:I,s:I,s:I,s:I}", "bps", (json_int_t)r->bps,
				      "bps_burst", (json_int_t)r->bps_burst,
				      "ops", (json_int_t)r->ops,
				      "ops_burst", (json_int_t)r->ops_burst));
}
