/* test_evloop: unit tests of the epoll event loop (src/common/evloop.c):
 * registration errors, callbacks, evloop_mod, stop from another thread and
 * from a signal handler, evloop_call ordering across threads, and callbacks
 * that delete (and re-add) fds whose events are pending in the same batch. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/evloop.h"

struct pipe_ctx {
	struct evloop *loop;
	int fds[2];
	int calls;
	uint32_t events;
	int stop_after;
};

static void make_pipe(struct pipe_ctx *p, struct evloop *loop)
{
	memset(p, 0, sizeof(*p));
	p->loop = loop;
	assert_int_equal(pipe2(p->fds, O_CLOEXEC | O_NONBLOCK), 0);
}

static void close_pipe(struct pipe_ctx *p)
{
	close(p->fds[0]);
	close(p->fds[1]);
}

static void on_readable(void *opaque, uint32_t events)
{
	struct pipe_ctx *p = opaque;
	char buf[16];

	p->calls++;
	p->events |= events;
	while (read(p->fds[0], buf, sizeof(buf)) > 0) {
	}
	if (p->calls >= p->stop_after)
		evloop_stop(p->loop);
}

static void test_create_destroy(void **state)
{
	struct evloop *loop = NULL;

	assert_int_equal(evloop_create(&loop), 0);
	assert_non_null(loop);
	evloop_destroy(loop);
	evloop_destroy(NULL);
}

static void test_bad_registrations(void **state)
{
	struct evloop *loop;
	struct pipe_ctx p;

	assert_int_equal(evloop_create(&loop), 0);
	make_pipe(&p, loop);
	assert_int_equal(evloop_add(loop, -1, EPOLLIN, on_readable, &p), -EINVAL);
	assert_int_equal(evloop_add(loop, p.fds[0], EPOLLIN, NULL, &p), -EINVAL);
	assert_int_equal(evloop_mod(loop, p.fds[0], EPOLLIN), -ENOENT);
	assert_int_equal(evloop_del(loop, p.fds[0]), -ENOENT);
	assert_int_equal(evloop_del(loop, 100000), -ENOENT);
	assert_int_equal(evloop_add(loop, p.fds[0], EPOLLIN, on_readable, &p), 0);
	assert_int_equal(evloop_add(loop, p.fds[0], EPOLLIN, on_readable, &p), -EEXIST);
	assert_int_equal(evloop_del(loop, p.fds[0]), 0);
	assert_int_equal(evloop_del(loop, p.fds[0]), -ENOENT);
	/* A closed fd cannot be watched. */
	assert_int_equal(evloop_add(loop, 100000, EPOLLIN, on_readable, &p), -EBADF);
	/* Re-adding after delete works. */
	assert_int_equal(evloop_add(loop, p.fds[0], EPOLLIN, on_readable, &p), 0);
	assert_int_equal(evloop_del(loop, p.fds[0]), 0);
	close_pipe(&p);
	evloop_destroy(loop);
}

static void test_callback_fires(void **state)
{
	struct evloop *loop;
	struct pipe_ctx p;

	assert_int_equal(evloop_create(&loop), 0);
	make_pipe(&p, loop);
	p.stop_after = 1;
	assert_int_equal(evloop_add(loop, p.fds[0], EPOLLIN, on_readable, &p), 0);
	assert_int_equal(write(p.fds[1], "x", 1), 1);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(p.calls, 1);
	assert_true(p.events & EPOLLIN);
	/* The loop can run again after a stop. */
	p.stop_after = 2;
	assert_int_equal(write(p.fds[1], "y", 1), 1);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(p.calls, 2);
	assert_int_equal(evloop_del(loop, p.fds[0]), 0);
	close_pipe(&p);
	evloop_destroy(loop);
}

static void test_stop_before_run(void **state)
{
	struct evloop *loop;

	assert_int_equal(evloop_create(&loop), 0);
	evloop_stop(loop);
	assert_int_equal(evloop_run(loop), 0);
	evloop_destroy(loop);
}

/* evloop_mod: a pipe write end is always writable; after switching it to
 * EPOLLIN it must stop firing. */
struct mod_ctx {
	struct evloop *loop;
	int fd;
	int calls;
	int stopped_at;
};

static void mod_stop(void *opaque)
{
	struct mod_ctx *m = opaque;

	m->stopped_at = m->calls;
	evloop_stop(m->loop);
}

static void on_writable(void *opaque, uint32_t events)
{
	struct mod_ctx *m = opaque;

	m->calls++;
	assert_true(events & EPOLLOUT);
	assert_int_equal(evloop_mod(m->loop, m->fd, EPOLLIN), 0);
	assert_int_equal(evloop_call(m->loop, mod_stop, m), 0);
}

static void test_mod(void **state)
{
	struct evloop *loop;
	struct mod_ctx m = { 0 };
	int fds[2];

	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	m.loop = loop;
	m.fd = fds[1];
	assert_int_equal(evloop_add(loop, fds[1], EPOLLOUT, on_writable, &m), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(m.calls, 1);
	assert_int_equal(m.stopped_at, 1);
	assert_int_equal(evloop_del(loop, fds[1]), 0);
	close(fds[0]);
	close(fds[1]);
	evloop_destroy(loop);
}

static void *stop_thread(void *arg)
{
	usleep(20000);
	evloop_stop(arg);
	return NULL;
}

static void test_stop_from_thread(void **state)
{
	struct evloop *loop;
	pthread_t t;

	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(pthread_create(&t, NULL, stop_thread, loop), 0);
	assert_int_equal(evloop_run(loop), 0);
	pthread_join(t, NULL);
	evloop_destroy(loop);
}

static void on_sigusr1(int sig, siginfo_t *info, void *uctx)
{
	evloop_stop(info->si_value.sival_ptr);
}

struct sig_arg {
	pthread_t target;
	struct evloop *loop;
};

static void *signal_thread(void *opaque)
{
	struct sig_arg *a = opaque;

	usleep(20000);
	pthread_sigqueue(a->target, SIGUSR1, (union sigval){ .sival_ptr = a->loop });
	return NULL;
}

static void test_stop_from_signal(void **state)
{
	struct sigaction sa = { .sa_sigaction = on_sigusr1, .sa_flags = SA_SIGINFO };
	struct sigaction old;
	struct sig_arg a;
	pthread_t t;

	assert_int_equal(evloop_create(&a.loop), 0);
	a.target = pthread_self();
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	assert_int_equal(pthread_create(&t, NULL, signal_thread, &a), 0);
	assert_int_equal(evloop_run(a.loop), 0);
	pthread_join(t, NULL);
	sigaction(SIGUSR1, &old, NULL);
	evloop_destroy(a.loop);
}

/* evloop_call from several threads: each thread's calls run in the order
 * they were queued, all on the loop thread, none lost. */
#define CALL_THREADS 4
#define CALLS_PER_THREAD 2000

struct call_shared {
	struct evloop *loop;
	pthread_t loop_thread;
	int next[CALL_THREADS];
	int errors;
	int total;
};

struct call_item {
	struct call_shared *sh;
	int thread;
	int seq;
};

struct call_producer {
	struct call_shared *sh;
	int thread;
	struct call_item *items;
};

static void call_record(void *opaque)
{
	struct call_item *it = opaque;
	struct call_shared *sh = it->sh;

	if (!pthread_equal(pthread_self(), sh->loop_thread))
		sh->errors++;
	if (sh->next[it->thread] != it->seq)
		sh->errors++;
	sh->next[it->thread] = it->seq + 1;
	sh->total++;
}

static void *call_producer_main(void *opaque)
{
	struct call_producer *p = opaque;

	for (int i = 0; i < CALLS_PER_THREAD; i++) {
		p->items[i] = (struct call_item){ .sh = p->sh, .thread = p->thread, .seq = i };
		if (evloop_call(p->sh->loop, call_record, &p->items[i]) != 0)
			return (void *)1;
	}
	return NULL;
}

static void *loop_thread_main(void *opaque)
{
	return (void *)(intptr_t)evloop_run(opaque);
}

static void call_stop(void *opaque)
{
	evloop_stop(opaque);
}

static void test_call_ordering(void **state)
{
	struct call_shared sh = { 0 };
	struct call_producer prod[CALL_THREADS];
	pthread_t t[CALL_THREADS];
	void *ret;

	assert_int_equal(evloop_create(&sh.loop), 0);
	assert_int_equal(evloop_call(sh.loop, NULL, NULL), -EINVAL);
	assert_int_equal(pthread_create(&sh.loop_thread, NULL, loop_thread_main, sh.loop), 0);
	for (int i = 0; i < CALL_THREADS; i++) {
		prod[i] = (struct call_producer){ .sh = &sh, .thread = i };
		prod[i].items = calloc(CALLS_PER_THREAD, sizeof(struct call_item));
		assert_non_null(prod[i].items);
		assert_int_equal(pthread_create(&t[i], NULL, call_producer_main, &prod[i]), 0);
	}
	for (int i = 0; i < CALL_THREADS; i++) {
		pthread_join(t[i], &ret);
		assert_null(ret);
	}
	assert_int_equal(evloop_call(sh.loop, call_stop, sh.loop), 0);
	pthread_join(sh.loop_thread, &ret);
	assert_int_equal((intptr_t)ret, 0);
	assert_int_equal(sh.errors, 0);
	assert_int_equal(sh.total, CALL_THREADS * CALLS_PER_THREAD);
	for (int i = 0; i < CALL_THREADS; i++) {
		assert_int_equal(sh.next[i], CALLS_PER_THREAD);
		free(prod[i].items);
	}
	evloop_destroy(sh.loop);
}

/* Two readable pipes in the same batch: whichever callback runs first
 * deletes the other registration, closes its fds and frees its context, then
 * registers a fresh pipe (likely reusing the freed fd number) with a third
 * callback. The stale event must reach neither the freed context (ASan
 * would catch that) nor the new registration. */
struct del_ctx {
	struct evloop *loop;
	int fds[2];
	struct del_ctx *other;
	struct del_ctx **fresh;
	struct del_ctx **survivor;
	int *fired;
	int *fresh_calls;
};

static void on_fresh(void *opaque, uint32_t events)
{
	struct del_ctx *d = opaque;

	(*d->fresh_calls)++;
}

static void on_del_other(void *opaque, uint32_t events)
{
	struct del_ctx *d = opaque, *o = d->other, *f;
	char c;

	(*d->fired)++;
	assert_non_null(o);
	assert_int_equal(read(d->fds[0], &c, 1), 1);
	*d->survivor = d;
	assert_int_equal(evloop_del(d->loop, o->fds[0]), 0);
	close(o->fds[0]);
	close(o->fds[1]);
	free(o);
	d->other = NULL;
	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->loop = d->loop;
	f->fresh_calls = d->fresh_calls;
	assert_int_equal(pipe2(f->fds, O_CLOEXEC), 0);
	assert_int_equal(evloop_add(d->loop, f->fds[0], EPOLLIN, on_fresh, f), 0);
	*d->fresh = f;
	assert_int_equal(evloop_call(d->loop, call_stop, d->loop), 0);
}

static void test_delete_in_batch(void **state)
{
	struct evloop *loop;
	struct del_ctx *a, *b, *fresh = NULL, *survivor = NULL;
	int fired = 0, fresh_calls = 0;

	assert_int_equal(evloop_create(&loop), 0);
	a = calloc(1, sizeof(*a));
	b = calloc(1, sizeof(*b));
	assert_non_null(a);
	assert_non_null(b);
	*a = (struct del_ctx){ .loop = loop, .other = b, .fresh = &fresh, .survivor = &survivor,
			       .fired = &fired, .fresh_calls = &fresh_calls };
	*b = (struct del_ctx){ .loop = loop, .other = a, .fresh = &fresh, .survivor = &survivor,
			       .fired = &fired, .fresh_calls = &fresh_calls };
	assert_int_equal(pipe2(a->fds, O_CLOEXEC), 0);
	assert_int_equal(pipe2(b->fds, O_CLOEXEC), 0);
	assert_int_equal(write(a->fds[1], "a", 1), 1);
	assert_int_equal(write(b->fds[1], "b", 1), 1);
	assert_int_equal(evloop_add(loop, a->fds[0], EPOLLIN, on_del_other, a), 0);
	assert_int_equal(evloop_add(loop, b->fds[0], EPOLLIN, on_del_other, b), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(fired, 1);
	assert_int_equal(fresh_calls, 0);
	assert_non_null(fresh);
	assert_non_null(survivor);
	assert_int_equal(evloop_del(loop, survivor->fds[0]), 0);
	assert_int_equal(evloop_del(loop, fresh->fds[0]), 0);
	close(survivor->fds[0]);
	close(survivor->fds[1]);
	close(fresh->fds[0]);
	close(fresh->fds[1]);
	free(survivor);
	free(fresh);
	evloop_destroy(loop);
}

/* A callback deleting its own registration is not called again. */
struct self_ctx {
	struct evloop *loop;
	int fd;
	int calls;
};

static void on_self_delete(void *opaque, uint32_t events)
{
	struct self_ctx *s = opaque;

	s->calls++;
	assert_int_equal(evloop_del(s->loop, s->fd), 0);
	assert_int_equal(evloop_call(s->loop, call_stop, s->loop), 0);
}

static void test_delete_self(void **state)
{
	struct evloop *loop;
	struct self_ctx s = { 0 };
	int fds[2];

	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	s.loop = loop;
	s.fd = fds[1];
	assert_int_equal(evloop_add(loop, fds[1], EPOLLOUT, on_self_delete, &s), 0);
	assert_int_equal(evloop_run(loop), 0);
	assert_int_equal(s.calls, 1);
	close(fds[0]);
	close(fds[1]);
	evloop_destroy(loop);
}

/* Pending calls that never ran are freed by destroy (ASan leak check). */
static void never_called(void *opaque)
{
	fail();
}

static void test_destroy_with_pending_calls(void **state)
{
	struct evloop *loop;

	assert_int_equal(evloop_create(&loop), 0);
	assert_int_equal(evloop_call(loop, never_called, NULL), 0);
	assert_int_equal(evloop_call(loop, never_called, NULL), 0);
	evloop_destroy(loop);
}

/* evloop_free_later frees at once while the loop does not run (a queued
 * free would be dropped with the loop: LeakSanitizer fails this test), and
 * from another thread while it runs, on the loop thread before later calls. */
static void test_free_later(void **state)
{
	struct evloop *loop;
	pthread_t t;
	void *ret;

	assert_int_equal(evloop_create(&loop), 0);
	evloop_free_later(loop, malloc(32));
	assert_int_equal(pthread_create(&t, NULL, loop_thread_main, loop), 0);
	evloop_free_later(loop, malloc(32));
	assert_int_equal(evloop_call(loop, call_stop, loop), 0);
	pthread_join(t, &ret);
	assert_null(ret);
	evloop_free_later(loop, malloc(32));
	evloop_destroy(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_destroy),
		cmocka_unit_test(test_bad_registrations),
		cmocka_unit_test(test_callback_fires),
		cmocka_unit_test(test_stop_before_run),
		cmocka_unit_test(test_mod),
		cmocka_unit_test(test_stop_from_thread),
		cmocka_unit_test(test_stop_from_signal),
		cmocka_unit_test(test_call_ordering),
		cmocka_unit_test(test_delete_in_batch),
		cmocka_unit_test(test_delete_self),
		cmocka_unit_test(test_destroy_with_pending_calls),
		cmocka_unit_test(test_free_later),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
