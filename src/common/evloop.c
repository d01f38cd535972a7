/* evloop: the epoll event loop (one per VM) that runs backend, timer and
 * control-socket callbacks off the vCPU threads.
 *
 * Owns: the epoll instance, the eventfd used by evloop_stop()/evloop_call()
 * to wake the loop, the registration table and the queue of pending calls.
 *
 * Registrations live in an array indexed by fd, guarded by a mutex, so
 * evloop_add/mod/del work from any thread. Each registration gets a
 * generation number that is stored in the epoll event data next to the fd.
 * During dispatch the loop looks each event's fd up under the lock, checks
 * that the generation still matches, copies fn/opaque and calls them with
 * the lock dropped. A callback may therefore delete (or delete and re-add)
 * any fd, including ones with events still pending in the same batch: stale
 * events are recognised by their generation and skipped.
 *
 * Lifetime rule for users: evloop_del() does not wait for a callback that is
 * already running on the loop thread. Free a registration's opaque only on
 * the loop thread (e.g. from a callback or evloop_call()) or while
 * evloop_run() is not running; evloop_free_later() picks the right one.
 */
#include "common/evloop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define EVLOOP_MAX_EVENTS 64
/* epoll data of the wake-up eventfd; a real registration never has it
 * because generations start at 1 and stay below 2^32. */
#define EVLOOP_WAKE_TAG UINT64_MAX

struct evloop_reg {
	evloop_fn fn;
	void *opaque;
	uint32_t gen; /* 0: slot free */
};

struct evloop_call_item {
	void (*fn)(void *opaque);
	void *opaque;
	struct evloop_call_item *next;
};

struct evloop {
	int epfd;
	int wakefd;
	atomic_bool stop;
	pthread_mutex_t lock; /* guards everything below */
	struct evloop_reg *regs; /* indexed by fd */
	size_t nregs;
	uint32_t next_gen;
	struct evloop_call_item *calls_head;
	struct evloop_call_item *calls_tail;
	bool running;           /* inside evloop_run(), on thread */
	pthread_t thread;
};

static uint64_t evloop_tag(int fd, uint32_t gen)
{
	return ((uint64_t)gen << 32) | (uint32_t)fd;
}

int evloop_create(struct evloop **out)
{
	struct evloop *loop;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EVLOOP_WAKE_TAG };
	int ret;

	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->wakefd = -1;
	loop->next_gen = 1;
	atomic_init(&loop->stop, false);
	pthread_mutex_init(&loop->lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		ret = -errno;
		log_error("evloop: epoll_create1: %s", strerror(errno));
		goto out;
	}
	loop->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->wakefd < 0 || epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->wakefd, &ev) < 0) {
		ret = -errno;
		log_error("evloop: wake-up eventfd: %s", strerror(errno));
		goto out;
	}
	*out = loop;
	return 0;
out:
	evloop_destroy(loop);
	return ret;
}

void evloop_destroy(struct evloop *loop)
{
	struct evloop_call_item *c, *next;

	if (!loop)
		return;
	/* Pending calls are dropped, not run: the loop is gone. */
	for (c = loop->calls_head; c; c = next) {
		next = c->next;
		free(c);
	}
	if (loop->wakefd >= 0)
		close(loop->wakefd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	pthread_mutex_destroy(&loop->lock);
	free(loop->regs);
	free(loop);
}

/* Make room for index fd; called with the lock held. */
static int evloop_grow(struct evloop *loop, int fd)
{
	size_t want = (size_t)fd + 1, n;
	struct evloop_reg *regs;

	if (want <= loop->nregs)
		return 0;
	n = MAX(want, loop->nregs * 2);
	regs = realloc(loop->regs, n * sizeof(*regs));
	if (!regs)
		return -ENOMEM;
	memset(regs + loop->nregs, 0, (n - loop->nregs) * sizeof(*regs));
	loop->regs = regs;
	loop->nregs = n;
	return 0;
}

static uint32_t evloop_new_gen(struct evloop *loop)
{
	uint32_t gen = loop->next_gen++;

	/* Keep generations in 1..UINT32_MAX-1 so no tag equals EVLOOP_WAKE_TAG. */
	if (loop->next_gen == UINT32_MAX)
		loop->next_gen = 1;
	return gen;
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	struct epoll_event ev = { .events = events };
	int ret;

	if (fd < 0 || !fn || fd == loop->wakefd)
		return -EINVAL;
	pthread_mutex_lock(&loop->lock);
	ret = evloop_grow(loop, fd);
	if (ret < 0)
		goto out;
	if (loop->regs[fd].gen != 0) {
		ret = -EEXIST;
		goto out;
	}
	loop->regs[fd] = (struct evloop_reg){ .fn = fn, .opaque = opaque,
					      .gen = evloop_new_gen(loop) };
	ev.data.u64 = evloop_tag(fd, loop->regs[fd].gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		ret = -errno;
		loop->regs[fd].gen = 0;
		/* EPERM (regular file) is a caller decision, not worth a log line. */
		if (ret != -EPERM)
			log_error("evloop: cannot watch fd %d: %s", fd, strerror(-ret));
	}
out:
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int evloop_mod(struct evloop *loop, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };
	int ret = 0;

	pthread_mutex_lock(&loop->lock);
	if (fd < 0 || (size_t)fd >= loop->nregs || loop->regs[fd].gen == 0) {
		ret = -ENOENT;
		goto out;
	}
	ev.data.u64 = evloop_tag(fd, loop->regs[fd].gen);
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
		ret = -errno;
		log_error("evloop: cannot change events of fd %d: %s", fd, strerror(-ret));
	}
out:
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

int evloop_del(struct evloop *loop, int fd)
{
	int ret = 0;

	pthread_mutex_lock(&loop->lock);
	if (fd < 0 || (size_t)fd >= loop->nregs || loop->regs[fd].gen == 0) {
		ret = -ENOENT;
		goto out;
	}
	loop->regs[fd].gen = 0;
	/* The fd may already be closed by the caller: the kernel then dropped
	 * it from the epoll set itself, so EBADF/ENOENT are not errors. */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 &&
	    errno != EBADF && errno != ENOENT && errno != EPERM)
		ret = -errno;
out:
	pthread_mutex_unlock(&loop->lock);
	return ret;
}

void evloop_stop(struct evloop *loop)
{
	int saved_errno = errno; /* may run in a signal handler */
	uint64_t one = 1;

	atomic_store(&loop->stop, true);
	if (write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: counter saturated, the loop is woken anyway. */
	}
	errno = saved_errno;
}

int evloop_call(struct evloop *loop, void (*fn)(void *opaque), void *opaque)
{
	struct evloop_call_item *c;
	uint64_t one = 1;

	if (!fn)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->opaque = opaque;
	pthread_mutex_lock(&loop->lock);
	if (loop->calls_tail)
		loop->calls_tail->next = c;
	else
		loop->calls_head = c;
	loop->calls_tail = c;
	pthread_mutex_unlock(&loop->lock);
	if (write(loop->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: counter saturated, the loop is woken anyway. */
	}
	return 0;
}

static void evloop_free_cb(void *opaque)
{
	free(opaque);
}

void evloop_free_later(struct evloop *loop, void *p)
{
	bool now;

	pthread_mutex_lock(&loop->lock);
	now = !loop->running || pthread_equal(pthread_self(), loop->thread);
	pthread_mutex_unlock(&loop->lock);
	if (now || evloop_call(loop, evloop_free_cb, p) < 0)
		free(p);
}

/* Drain the eventfd and run the queued calls in order. Calls queued while
 * these run are picked up on the next wake-up (the eventfd is written again). */
static void evloop_run_calls(struct evloop *loop)
{
	struct evloop_call_item *c, *next;
	uint64_t val;

	if (read(loop->wakefd, &val, sizeof(val)) < 0) {
		/* EAGAIN: already drained. */
	}
	pthread_mutex_lock(&loop->lock);
	c = loop->calls_head;
	loop->calls_head = NULL;
	loop->calls_tail = NULL;
	pthread_mutex_unlock(&loop->lock);
	for (; c; c = next) {
		next = c->next;
		c->fn(c->opaque);
		free(c);
	}
}

static void evloop_dispatch(struct evloop *loop, const struct epoll_event *ev)
{
	int fd = (int)(uint32_t)ev->data.u64;
	uint32_t gen = (uint32_t)(ev->data.u64 >> 32);
	evloop_fn fn = NULL;
	void *opaque = NULL;

	pthread_mutex_lock(&loop->lock);
	if ((size_t)fd < loop->nregs && loop->regs[fd].gen == gen) {
		fn = loop->regs[fd].fn;
		opaque = loop->regs[fd].opaque;
	}
	pthread_mutex_unlock(&loop->lock);
	if (fn)
		fn(opaque, ev->events);
}

static void evloop_set_running(struct evloop *loop, bool running)
{
	pthread_mutex_lock(&loop->lock);
	loop->running = running;
	loop->thread = pthread_self();
	pthread_mutex_unlock(&loop->lock);
}

int evloop_run(struct evloop *loop)
{
	struct epoll_event evs[EVLOOP_MAX_EVENTS];
	int n, i, ret = 0;

	evloop_set_running(loop, true);
	while (!atomic_load(&loop->stop)) {
		n = epoll_wait(loop->epfd, evs, EVLOOP_MAX_EVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			log_error("evloop: epoll_wait: %s", strerror(-ret));
			break;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.u64 == EVLOOP_WAKE_TAG)
				evloop_run_calls(loop);
			else
				evloop_dispatch(loop, &evs[i]);
		}
	}
	evloop_set_running(loop, false);
	if (ret == 0)   /* consume the request so the loop can be run again later */
		atomic_store(&loop->stop, false);
	return ret;
}
