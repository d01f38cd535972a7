/* blkaio: asynchronous block requests. Owns the per-image worker pool: a
 * few threads, started on the first blk_aio_submit(), that run queued
 * requests through the synchronous API and call each request's done() on
 * the worker. blk_close() drains the queue and joins the threads. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "block/drivers.h"
#include "common/log.h"

/* Enough workers for a guest queue depth of 16 on O_DIRECT (cache=none),
 * where every request blocks its worker until the device answers. */
#define BLKAIO_THREADS 16

struct blk_aio {
	struct blk *b;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct blk_req **q;       /* ring of queued requests */
	size_t head, count, cap;
	bool stop;
	unsigned nthreads;
	pthread_t threads[BLKAIO_THREADS];
};

static int blkaio_run(struct blk *b, struct blk_req *req)
{
	switch (req->op) {
	case BLK_OP_READ:
		return blk_readv(b, req->off, req->iov, req->iovcnt);
	case BLK_OP_WRITE:
		return blk_writev(b, req->off, req->iov, req->iovcnt);
	case BLK_OP_FLUSH:
		return blk_flush(b);
	case BLK_OP_DISCARD:
		return blk_discard(b, req->off, req->len);
	case BLK_OP_WRITE_ZEROES:
		return blk_write_zeroes(b, req->off, req->len, req->may_unmap);
	}
	return -EINVAL;
}

/* Next request, or NULL once stopped and drained. */
static struct blk_req *blkaio_pop(struct blk_aio *a)
{
	struct blk_req *req = NULL;

	pthread_mutex_lock(&a->lock);
	while (!a->count && !a->stop)
		pthread_cond_wait(&a->cond, &a->lock);
	if (a->count) {
		req = a->q[a->head];
		a->head = (a->head + 1) % a->cap;
		a->count--;
	}
	pthread_mutex_unlock(&a->lock);
	return req;
}

static void *blkaio_worker(void *arg)
{
	struct blk_aio *a = arg;
	struct blk_req *req;

	while ((req = blkaio_pop(a)) != NULL)
		req->done(req, blkaio_run(a->b, req));
	return NULL;
}

/* Double the ring, keeping the order of the queued requests. */
static int blkaio_grow(struct blk_aio *a)
{
	size_t cap = a->cap ? a->cap * 2 : 64;
	struct blk_req **q = malloc(cap * sizeof(*q));

	if (!q)
		return -ENOMEM;
	for (size_t i = 0; i < a->count; i++)
		q[i] = a->q[(a->head + i) % a->cap];
	free(a->q);
	a->q = q;
	a->head = 0;
	a->cap = cap;
	return 0;
}

static void blkaio_free(struct blk_aio *a)
{
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	for (unsigned i = 0; i < a->nthreads; i++)
		pthread_join(a->threads[i], NULL);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	free(a->q);
	free(a);
}

/* Workers block every signal: signals belong to the caller's threads. */
static int blkaio_start(struct blk_aio *a)
{
	sigset_t all, old;
	int ret = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < BLKAIO_THREADS; i++) {
		ret = pthread_create(&a->threads[i], NULL, blkaio_worker, a);
		if (ret)
			break;
		a->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (a->nthreads)
		return 0;
	log_error("%s: cannot start I/O threads: %s", a->b->filename, strerror(ret));
	return -ret;
}

static int blkaio_create(struct blk *b, struct blk_aio **out)
{
	struct blk_aio *a = calloc(1, sizeof(*a));
	int ret;

	*out = NULL;
	if (!a)
		return -ENOMEM;
	a->b = b;
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	ret = blkaio_start(a);
	if (ret) {
		blkaio_free(a);
		return ret;
	}
	*out = a;
	return 0;
}

/* The pool, started on first use (b->lock guards the start). */
static int blkaio_get(struct blk *b, struct blk_aio **out)
{
	int ret = 0;

	*out = __atomic_load_n(&b->aio, __ATOMIC_ACQUIRE);
	if (*out)
		return 0;
	pthread_mutex_lock(&b->lock);
	*out = b->aio;
	if (!*out) {
		ret = blkaio_create(b, out);
		if (!ret)
			__atomic_store_n(&b->aio, *out, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int blk_aio_submit(struct blk *b, struct blk_req *req)
{
	struct blk_aio *a;
	int ret;

	if (!b || !req || !req->done || (unsigned)req->op > BLK_OP_WRITE_ZEROES)
		return -EINVAL;
	ret = blkaio_get(b, &a);
	if (ret)
		return ret;
	pthread_mutex_lock(&a->lock);
	if (a->stop)
		ret = -ESHUTDOWN;
	else if (a->count == a->cap)
		ret = blkaio_grow(a);
	if (!ret) {
		a->q[(a->head + a->count) % a->cap] = req;
		a->count++;
		pthread_cond_signal(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

void blk_aio_destroy(struct blk *b)
{
	struct blk_aio *a = b->aio;

	if (!a)
		return;
	b->aio = NULL;
	blkaio_free(a);
}
