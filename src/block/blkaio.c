/* blkaio: asynchronous block requests. Owns the per-image worker pool: a
 * few threads, started on the first blk_aio_submit(), that run queued
 * requests through the synchronous API and call each request's done() on
 * the worker. blk_close() drains the queue and joins the threads.
 *
 * Two things keep the hand-offs few. On a file used through the page
 * cache, a worker that pops a read or write also takes the requests queued
 * right behind it that continue it (same op, next offset), and runs them as
 * one vectored call: a guest's sequential stream becomes a few large calls
 * instead of one wake-up and one call per request. (With O_DIRECT the
 * pool keeps them apart: merged, one worker would run what several run in
 * parallel. The ring, blkuring.c, merges O_DIRECT requests while plugged
 * and still keeps the merged ones in flight side by side.) And a
 * submission wakes a worker only when no wake
 * is already on its way; a worker that finds more work queued after taking
 * its batch wakes the next one, so parallel requests still spread over the
 * pool. A request a worker submits itself (the next step of a request, or
 * what the batch hook's poller served: vpoll.h) wakes nobody: that worker
 * goes back to the queue right after and takes it, with no hand-off to
 * another thread. If a merged call fails, its requests run again one by
 * one, so each gets its own result.
 *
 * On a raw image opened O_DIRECT the pool also owns an io_uring
 * (blkuring.c, when the host has one): reads, writes and flushes go on the
 * ring from the submitting thread and complete on the ring's completion
 * thread; the pool's workers run only what the ring does not take (discard,
 * write-zeroes, requests the checks refuse). blk_close() drains the ring,
 * then the workers. blk_aio_merged() counts the pool's merges and the
 * ring's (which merges only while plugged). */
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "block/blkuring.h"
#include "block/drivers.h"
#include "common/log.h"

#define BLKAIO_THREADS BLK_AIO_THREADS
#define BLKAIO_MERGE_REQS 32             /* requests per merged call at most */
#define BLKAIO_MERGE_IOV  IOV_MAX        /* segments per merged call at most */
#define BLKAIO_MERGE_BYTES (8ull << 20)  /* bytes per merged call at most */

struct blk_aio {
	struct blk *b;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct blk_req **q;       /* ring of queued requests */
	size_t head, count, cap;
	bool stop;
	unsigned idle;            /* workers waiting on cond */
	unsigned running;         /* atomic: workers between taking a batch and its hook */
	unsigned waking;          /* signals sent and not yet taken */
	uint64_t merged;          /* requests that rode along in a merged call */
	unsigned nthreads;
	pthread_t threads[BLKAIO_THREADS];
	struct blk_uring *uring;  /* O_DIRECT raw: reads, writes, flushes (blkuring.c) */
};

/* What one worker took off the queue. */
struct blkaio_batch {
	struct blk_req *reqs[BLKAIO_MERGE_REQS];
	unsigned n;
	int iovcnt;               /* all requests' segments together */
	uint64_t bytes;
	struct iovec iov[BLKAIO_MERGE_IOV];
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

static uint64_t blkaio_req_bytes(const struct blk_req *req)
{
	uint64_t n = 0;

	for (int i = 0; i < req->iovcnt; i++)
		n += req->iov[i].iov_len;
	return n;
}

/* Can req ride along with the batch? Only a read or write that starts
 * where the batch ends, within the batch's limits. */
static bool blkaio_continues(const struct blkaio_batch *bt, const struct blk_req *req)
{
	const struct blk_req *first = bt->reqs[0];

	if (bt->n >= BLKAIO_MERGE_REQS || req->op != first->op || req->iovcnt <= 0 ||
	    req->iovcnt > BLKAIO_MERGE_IOV - bt->iovcnt)
		return false;
	if (req->off != first->off + bt->bytes)
		return false;
	return blkaio_req_bytes(req) <= BLKAIO_MERGE_BYTES - bt->bytes;
}

static void blkaio_batch_add(struct blkaio_batch *bt, struct blk_req *req)
{
	bt->reqs[bt->n++] = req;
	if (req->op != BLK_OP_READ && req->op != BLK_OP_WRITE)
		return;
	bt->bytes += blkaio_req_bytes(req);
	bt->iovcnt += req->iovcnt;
}

static struct blk_req *blkaio_take_locked(struct blk_aio *a)
{
	struct blk_req *req = a->q[a->head];

	a->head = (a->head + 1) % a->cap;
	a->count--;
	return req;
}

/* The head request and the ones that continue it (lock held). */
static void blkaio_take_batch_locked(struct blk_aio *a, struct blkaio_batch *bt)
{
	struct blk_req *first = blkaio_take_locked(a);

	bt->n = 0;
	bt->iovcnt = 0;
	bt->bytes = 0;
	blkaio_batch_add(bt, first);
	if (first->op != BLK_OP_READ && first->op != BLK_OP_WRITE)
		return;
	if (first->iovcnt <= 0 || first->iovcnt > BLKAIO_MERGE_IOV || a->b->file->align > 1)
		return;  /* judged alone by blk_readv()/blk_writev(); or O_DIRECT */
	while (a->count && blkaio_continues(bt, a->q[a->head]))
		blkaio_batch_add(bt, blkaio_take_locked(a));
	a->merged += bt->n - 1;
}

/* The next batch; false once stopped and drained. Wakes another worker
 * when requests are left behind for it. */
static bool blkaio_pop(struct blk_aio *a, struct blkaio_batch *bt)
{
	bool got = false;

	pthread_mutex_lock(&a->lock);
	while (!a->count && !a->stop) {
		a->idle++;
		pthread_cond_wait(&a->cond, &a->lock);
		a->idle--;
		if (a->waking)
			a->waking--;
	}
	if (a->count) {
		blkaio_take_batch_locked(a, bt);
		__atomic_fetch_add(&a->running, 1, __ATOMIC_RELAXED);
		got = true;
	}
	if (a->count && a->idle > a->waking) {
		a->waking++;
		pthread_cond_signal(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
	return got;
}

/* One call for the whole batch; each request's own call if that fails. */
static void blkaio_run_batch(struct blk *b, struct blkaio_batch *bt)
{
	int ret, k = 0;

	if (bt->n == 1) {
		bt->reqs[0]->done(bt->reqs[0], blkaio_run(b, bt->reqs[0]));
		return;
	}
	for (unsigned i = 0; i < bt->n; i++)
		for (int j = 0; j < bt->reqs[i]->iovcnt; j++)
			bt->iov[k++] = bt->reqs[i]->iov[j];
	if (bt->reqs[0]->op == BLK_OP_READ)
		ret = blk_readv(b, bt->reqs[0]->off, bt->iov, k);
	else
		ret = blk_writev(b, bt->reqs[0]->off, bt->iov, k);
	for (unsigned i = 0; i < bt->n; i++)
		bt->reqs[i]->done(bt->reqs[i], ret ? blkaio_run(b, bt->reqs[i]) : 0);
}

static void *blkaio_worker(void *arg)
{
	struct blk_aio *a = arg;
	struct blkaio_batch *bt = malloc(sizeof(*bt));

	if (!bt) {
		log_error("%s: I/O thread: out of memory", a->b->filename);
		return NULL;
	}
	while (blkaio_pop(a, bt)) {
		blkaio_run_batch(a->b, bt);
		__atomic_fetch_sub(&a->running, 1, __ATOMIC_RELAXED);
		blk_aio_batch_end(a->b);
	}
	free(bt);
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

/* The ring drains first; it stays allocated until the workers are gone, as
 * a worker's done() may still submit (and be refused: -ESHUTDOWN). */
static void blkaio_free(struct blk_aio *a)
{
	blk_uring_stop(a->uring);
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_broadcast(&a->cond);
	pthread_mutex_unlock(&a->lock);
	for (unsigned i = 0; i < a->nthreads; i++)
		pthread_join(a->threads[i], NULL);
	pthread_cond_destroy(&a->cond);
	pthread_mutex_destroy(&a->lock);
	blk_uring_free(a->uring);
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
	ret = blk_uring_create(b, io_uring_queue_init, &a->uring);
	if (!ret)
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

/* Is the caller one of a's workers? (Set before any request can reach a
 * worker: the threads start before blkaio_get() returns the pool.) */
static bool blkaio_is_worker(const struct blk_aio *a)
{
	pthread_t self = pthread_self();

	for (unsigned i = 0; i < a->nthreads; i++)
		if (pthread_equal(self, a->threads[i]))
			return true;
	return false;
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
	if (a->uring) {
		ret = blk_uring_submit(a->uring, req);
		if (ret <= 0)
			return ret;
		ret = 0;   /* not for the ring: the pool runs it */
	}
	pthread_mutex_lock(&a->lock);
	if (a->stop)
		ret = -ESHUTDOWN;
	else if (a->count == a->cap)
		ret = blkaio_grow(a);
	if (!ret) {
		a->q[(a->head + a->count) % a->cap] = req;
		a->count++;
		if (a->idle > a->waking && !a->waking && !blkaio_is_worker(a)) {
			a->waking++;
			pthread_cond_signal(&a->cond);
		}
	}
	pthread_mutex_unlock(&a->lock);
	return ret;
}

void blk_aio_plug(struct blk *b)
{
	struct blk_aio *a = b ? __atomic_load_n(&b->aio, __ATOMIC_ACQUIRE) : NULL;

	if (a && a->uring)
		blk_uring_plug(a->uring);
}

/* An unplug without its plug (the pool started in between) is harmless. */
void blk_aio_unplug(struct blk *b)
{
	struct blk_aio *a = b ? __atomic_load_n(&b->aio, __ATOMIC_ACQUIRE) : NULL;

	if (a && a->uring)
		blk_uring_unplug(a->uring);
}

void blk_aio_set_batch_done(struct blk *b, void (*fn)(void *opaque), void *opaque)
{
	b->batch_done = fn;
	b->batch_opaque = opaque;
}

void blk_aio_batch_end(struct blk *b)
{
	if (b->batch_done)
		b->batch_done(b->batch_opaque);
}

bool blk_aio_has_work(struct blk *b)
{
	struct blk_aio *a = __atomic_load_n(&b->aio, __ATOMIC_ACQUIRE);

	if (!a)
		return false;
	return __atomic_load_n(&a->count, __ATOMIC_RELAXED) ||
	       __atomic_load_n(&a->running, __ATOMIC_RELAXED) ||
	       (a->uring && blk_uring_cq_waiting(a->uring));
}

bool blk_aio_uring(struct blk *b)
{
	struct blk_aio *a = __atomic_load_n(&b->aio, __ATOMIC_ACQUIRE);

	return a && a->uring;
}

uint64_t blk_aio_merged(struct blk *b)
{
	struct blk_aio *a = __atomic_load_n(&b->aio, __ATOMIC_ACQUIRE);
	uint64_t n = 0;

	if (!a)
		return 0;
	pthread_mutex_lock(&a->lock);
	n = a->merged;
	pthread_mutex_unlock(&a->lock);
	if (a->uring)
		n += blk_uring_merged(a->uring);
	return n;
}

void blk_aio_destroy(struct blk *b)
{
	struct blk_aio *a = b->aio;

	if (!a)
		return;
	b->aio = NULL;
	blkaio_free(a);
}
