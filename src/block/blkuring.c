/* blkuring: the io_uring path for raw images on O_DIRECT files (cache=none).
 * Owns one ring per image and its completion thread. A read, write or
 * flush is put on the ring by the thread that submits it (readv, writev,
 * fdatasync on the file's descriptor at the guest offset: raw maps offsets
 * one to one), under the ring lock, so there is no hand-off before the
 * device sees it. Between blk_aio_plug() and blk_aio_unplug() requests
 * wait in the queue and the kernel is told once for the whole batch, at the
 * last unplug (unless the completion thread refills the ring meanwhile:
 * it sends what waits); meanwhile a read or write that continues the one queued
 * just before it (same op, next offset) is merged into it, so a guest's
 * sequential stream becomes fewer, larger requests that are still on the
 * ring side by side. A flush or any other request in between ends a merge.
 * A merged request that fails is split: each request runs again on its own
 * and gets its own result. At most BLKURING_DEPTH requests are on the ring;
 * the rest wait in the queue, so the completion queue never overflows. The
 * completion thread waits for completions, takes them in batches, refills
 * the ring, calls each request's done() with 0 or -errno and then the
 * device's batch hook (blk_aio_set_batch_done), so that a merged request's
 * parts reach the guest together. A short transfer is not a result: the
 * remainder goes back on the ring (a read that reaches the end of the file
 * reads zeros, as the synchronous API does). Requests the synchronous API
 * would refuse (read-only image, beyond the end) and unaligned ones go to
 * the worker pool, which reports their errors. */
#include <errno.h>
#include <limits.h>
#include <liburing.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "block/blkuring.h"
#include "block/drivers.h"
#include "common/log.h"

#define BLKURING_ENTRIES 256u                    /* SQ size (CQ: twice) */
#define BLKURING_DEPTH (BLKURING_ENTRIES - 1u)   /* one entry left for the wake-up */
#define BLKURING_BATCH 64u

struct blk_uring {
	struct blk *b;
	int fd;
	uint32_t align;
	struct io_uring ring;
	pthread_mutex_t lock;      /* the SQ and everything below */
	struct blk_uring_op *head, *tail;   /* waiting for room on the ring */
	unsigned inflight;         /* requests on the ring */
	unsigned plugged;          /* blk_uring_plug() calls not yet unplugged */
	uint64_t merged;           /* requests that rode along in a merge */
	bool stop;
	bool started;              /* thread running */
	pthread_t thread;
};

void blk_uring_op_init(struct blk_uring_op *op, struct blk_req *req)
{
	memset(op, 0, sizeof(*op));
	op->req = req;
	op->iov = req->iov;
	op->iovcnt = req->iovcnt;
	op->off = req->off;
	op->nreqs = 1;
	for (int i = 0; i < req->iovcnt; i++)
		op->left += req->iov[i].iov_len;
}

/* Zeros over everything after the first `skip` bytes of op's segments. */
static void blkuring_zero_tail(struct blk_uring_op *op, uint64_t skip)
{
	for (int i = 0; i < op->iovcnt; i++) {
		size_t len = op->iov[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		memset((uint8_t *)op->iov[i].iov_base + skip, 0, len - skip);
		skip = 0;
	}
}

/* Point op at what follows its first n bytes (0 < n < op->left). */
static int blkuring_skip(struct blk_uring_op *op, uint64_t n)
{
	int i = 0, k = 0;
	struct iovec *rem;

	while (n >= op->iov[i].iov_len) {
		n -= op->iov[i].iov_len;
		i++;
	}
	rem = malloc((size_t)(op->iovcnt - i) * sizeof(*rem));
	if (!rem)
		return -ENOMEM;
	for (; i < op->iovcnt; i++, k++) {
		rem[k].iov_base = (uint8_t *)op->iov[i].iov_base + n;
		rem[k].iov_len = op->iov[i].iov_len - n;
		n = 0;
	}
	free(op->rem);
	op->rem = rem;
	op->iov = rem;
	op->iovcnt = k;
	return 0;
}

/* op goes on the ring again; nothing merges into it any more (it may have
 * been partly done, and a merge would have to keep track). */
static int blkuring_again(struct blk_uring_op *op)
{
	op->solo = true;
	return 1;
}

static int blkuring_finish(struct blk_uring_op *op, int ret)
{
	op->ret = ret;
	return 0;
}

int blk_uring_op_advance(struct blk_uring_op *op, int res, uint32_t align)
{
	bool read = op->req->op == BLK_OP_READ;
	uint64_t n;

	if (res == -EINTR || res == -EAGAIN)
		return blkuring_again(op);
	if (res < 0 || op->req->op == BLK_OP_FLUSH)
		return blkuring_finish(op, res < 0 ? res : 0);
	n = (uint64_t)res;
	if (n >= op->left)
		return blkuring_finish(op, 0);
	if (read && (n == 0 || (align > 1 && (n & (align - 1))))) {
		blkuring_zero_tail(op, n);   /* end of file: the rest reads as zeros */
		return blkuring_finish(op, 0);
	}
	if (n == 0)
		return blkuring_finish(op, -EIO);   /* a write that makes no progress */
	if (blkuring_skip(op, n))
		return blkuring_finish(op, -ENOMEM);
	op->off += n;
	op->left -= n;
	return blkuring_again(op);
}

/* Room in op->cat for n more segments after op's own. */
static int blkuring_cat_reserve(struct blk_uring_op *op, int n)
{
	int need = op->iovcnt + n, cap = op->catcap;
	struct iovec *cat;

	if (need <= cap)
		return 0;
	while (cap < need)
		cap = cap ? cap * 2 : 16;
	cat = realloc(op->cat, (size_t)cap * sizeof(*cat));
	if (!cat)
		return -ENOMEM;
	if (!op->cat)
		memcpy(cat, op->iov, (size_t)op->iovcnt * sizeof(*cat));
	op->cat = cat;
	op->catcap = cap;
	op->iov = cat;
	return 0;
}

static bool blkuring_continues(const struct blk_uring_op *op, const struct blk_uring_op *part)
{
	enum blk_op o = op->req->op;

	if (op->solo || part->nreqs != 1 || part->req->op != o)
		return false;
	if ((o != BLK_OP_READ && o != BLK_OP_WRITE) || part->off != op->off + op->left)
		return false;
	if (op->nreqs >= BLKURING_MERGE_REQS || part->iovcnt > IOV_MAX - op->iovcnt)
		return false;
	return op->left + part->left <= BLKURING_MERGE_BYTES;
}

int blk_uring_op_merge(struct blk_uring_op *op, struct blk_uring_op *part)
{
	if (!blkuring_continues(op, part))
		return 1;
	if (blkuring_cat_reserve(op, part->iovcnt))
		return -ENOMEM;
	memcpy(op->cat + op->iovcnt, part->iov, (size_t)part->iovcnt * sizeof(*op->cat));
	op->iovcnt += part->iovcnt;
	op->left += part->left;
	op->nreqs++;
	part->next = NULL;
	if (op->last)
		op->last->next = part;
	else
		op->parts = part;
	op->last = part;
	return 0;
}

void blk_uring_op_release(struct blk_uring_op *op)
{
	free(op->rem);
	free(op->cat);
	op->rem = NULL;
	op->cat = NULL;
}

struct blk_uring_op *blk_uring_op_split(struct blk_uring_op *op)
{
	struct blk_uring_op *parts = op->parts;

	blk_uring_op_release(op);
	blk_uring_op_init(op, op->req);
	op->solo = true;
	op->next = parts;
	for (struct blk_uring_op *p = parts; p; p = p->next)
		p->solo = true;   /* untouched since blk_uring_op_init */
	return op;
}

/* ---------------------------------------------------------------------- */
/* Submission                                                             */

static void blkuring_prep(struct blk_uring *u, struct io_uring_sqe *sqe, struct blk_uring_op *op)
{
	switch (op->req->op) {
	case BLK_OP_READ:
		io_uring_prep_readv(sqe, u->fd, op->iov, (unsigned)op->iovcnt, op->off);
		break;
	case BLK_OP_WRITE:
		io_uring_prep_writev(sqe, u->fd, op->iov, (unsigned)op->iovcnt, op->off);
		break;
	case BLK_OP_FLUSH:
	case BLK_OP_DISCARD:        /* never here: blkuring_takes() refuses them */
	case BLK_OP_WRITE_ZEROES:
		io_uring_prep_fsync(sqe, u->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data(sqe, op);
}

static void blkuring_enter_locked(struct blk_uring *u)
{
	int ret;

	for (int tries = 0; tries < 100; tries++) {
		ret = io_uring_submit(&u->ring);
		if (ret >= 0 || (ret != -EINTR && ret != -EAGAIN))
			break;
	}
	if (ret < 0)
		log_error("%s: io_uring submit failed: %s", u->b->filename, strerror(-ret));
}

/* Move waiting requests onto the ring while there is room, and tell the
 * kernel (lock held; never while plugged, except from the completion
 * thread, which sends whatever waits). */
static void blkuring_fill_locked(struct blk_uring *u)
{
	unsigned queued = 0;

	while (u->head && u->inflight < BLKURING_DEPTH) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
		struct blk_uring_op *op = u->head;

		if (!sqe)
			break;
		u->head = op->next;
		if (!u->head)
			u->tail = NULL;
		op->next = NULL;
		blkuring_prep(u, sqe, op);
		u->inflight++;
		queued++;
	}
	if (queued)
		blkuring_enter_locked(u);
}

void blk_uring_plug(struct blk_uring *u)
{
	pthread_mutex_lock(&u->lock);
	u->plugged++;
	pthread_mutex_unlock(&u->lock);
}

void blk_uring_unplug(struct blk_uring *u)
{
	pthread_mutex_lock(&u->lock);
	if (u->plugged)
		u->plugged--;
	if (!u->plugged)
		blkuring_fill_locked(u);
	pthread_mutex_unlock(&u->lock);
}

/* Would the synchronous API run this read or write as it is, and can
 * O_DIRECT take its buffers? Otherwise the pool runs it (and reports). */
static bool blkuring_rw_ok(struct blk_uring *u, const struct blk_req *req)
{
	uint64_t a = u->align, size = __atomic_load_n(&u->b->size, __ATOMIC_ACQUIRE), len = 0;

	if (req->iovcnt <= 0 || req->iovcnt > IOV_MAX || !req->iov)
		return false;
	if (req->op == BLK_OP_WRITE && u->b->readonly)
		return false;
	for (int i = 0; i < req->iovcnt; i++) {
		const struct iovec *v = &req->iov[i];

		if (!v->iov_base || !v->iov_len || v->iov_len > UINT64_MAX - len)
			return false;
		if (((uintptr_t)v->iov_base | v->iov_len) & (a - 1))
			return false;
		len += v->iov_len;
	}
	if ((req->off & (a - 1)) || len > size || req->off > size - len)
		return false;
	return len <= INT_MAX;   /* a CQE's result is an int */
}

static bool blkuring_takes(struct blk_uring *u, const struct blk_req *req)
{
	switch (req->op) {
	case BLK_OP_READ:
	case BLK_OP_WRITE:
		return blkuring_rw_ok(u, req);
	case BLK_OP_FLUSH:
		return !u->b->readonly;   /* blk_flush is a no-op there */
	case BLK_OP_DISCARD:
	case BLK_OP_WRITE_ZEROES:
		return false;
	}
	return false;
}

/* Plugged: merge op into the request queued last, if it continues that. */
static bool blkuring_merge_locked(struct blk_uring *u, struct blk_uring_op *op)
{
	if (!u->plugged || !u->tail || blk_uring_op_merge(u->tail, op))
		return false;   /* (out of memory: op simply goes on its own) */
	u->merged++;
	return true;
}

/* Queue op; unplugged, it goes on the ring at once (a plug holds the
 * queue back until the last unplug, so that later requests can merge). */
static void blkuring_queue_locked(struct blk_uring *u, struct blk_uring_op *op)
{
	if (u->tail)
		u->tail->next = op;
	else
		u->head = op;
	u->tail = op;
	if (!u->plugged)
		blkuring_fill_locked(u);
}

int blk_uring_submit(struct blk_uring *u, struct blk_req *req)
{
	struct blk_uring_op *op;
	int ret = 0;

	if (!blkuring_takes(u, req))
		return 1;
	op = malloc(sizeof(*op));
	if (!op)
		return -ENOMEM;
	blk_uring_op_init(op, req);
	pthread_mutex_lock(&u->lock);
	if (u->stop)
		ret = -ESHUTDOWN;
	else if (!blkuring_merge_locked(u, op))
		blkuring_queue_locked(u, op);
	pthread_mutex_unlock(&u->lock);
	if (ret)
		free(op);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Completion                                                             */

/* A failed merge's requests, each to run again on its own: onto the front
 * of *again, which is put back on the queue in reverse (keeps the order). */
static void blkuring_push_split(struct blk_uring_op *list, struct blk_uring_op **again)
{
	while (list) {
		struct blk_uring_op *op = list;

		list = op->next;
		op->next = *again;
		*again = op;
	}
}

/* Sort one batch of completions: finished requests onto *done, remainders
 * and the requests of a failed merge back to the front of the queue.
 * Returns the requests that left the ring. */
static unsigned blkuring_sort(struct blk_uring *u, struct io_uring_cqe **cqes, unsigned n,
			      struct blk_uring_op **done, struct blk_uring_op **again)
{
	unsigned left_ring = 0;

	for (unsigned i = 0; i < n; i++) {
		struct blk_uring_op *op = io_uring_cqe_get_data(cqes[i]);

		if (!op)
			continue;   /* the wake-up from blk_uring_stop */
		left_ring++;
		if (blk_uring_op_advance(op, cqes[i]->res, u->align)) {
			op->next = *again;
			*again = op;
		} else if (op->ret < 0 && op->nreqs > 1) {
			blkuring_push_split(blk_uring_op_split(op), again);
		} else {
			op->next = *done;
			*done = op;
		}
	}
	return left_ring;
}

/* Every request of each finished op gets the op's result (a merged op
 * that finishes has succeeded: a failed one was split). */
static void blkuring_complete(struct blk_uring_op *done)
{
	while (done) {
		struct blk_uring_op *op = done, *part = op->parts;
		struct blk_req *req = op->req;
		int ret = op->ret;

		done = op->next;
		blk_uring_op_release(op);
		free(op);
		req->done(req, ret);
		while (part) {
			op = part;
			part = op->next;
			req = op->req;
			free(op);
			req->done(req, ret);
		}
	}
}

/* Handle one batch; false once stopped and nothing is left. */
static bool blkuring_batch(struct blk_uring *u, struct io_uring_cqe **cqes, unsigned n)
{
	struct blk_uring_op *done = NULL, *again = NULL;
	unsigned left_ring = blkuring_sort(u, cqes, n, &done, &again);
	bool more;

	io_uring_cq_advance(&u->ring, n);
	pthread_mutex_lock(&u->lock);
	u->inflight -= left_ring;
	while (again) {
		struct blk_uring_op *op = again;

		again = op->next;
		op->next = u->head;
		u->head = op;
		if (!u->tail)
			u->tail = op;
	}
	blkuring_fill_locked(u);
	more = !u->stop || u->inflight || u->head;
	pthread_mutex_unlock(&u->lock);
	if (done) {
		blkuring_complete(done);
		blk_aio_batch_end(u->b);
	}
	return more;
}

static void *blkuring_thread(void *arg)
{
	struct blk_uring *u = arg;
	struct io_uring_cqe *cqes[BLKURING_BATCH];
	bool more = true;

	while (more) {
		struct io_uring_cqe *cqe;
		int ret = io_uring_wait_cqe(&u->ring, &cqe);

		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -ETIME)
			log_error("%s: io_uring wait failed: %s", u->b->filename, strerror(-ret));
		if (ret < 0)
			continue;
		more = blkuring_batch(u, cqes, io_uring_peek_batch_cqe(&u->ring, cqes,
									  BLKURING_BATCH));
	}
	return NULL;
}

/* ---------------------------------------------------------------------- */
/* Life cycle                                                             */

void blk_uring_stop(struct blk_uring *u)
{
	struct io_uring_sqe *sqe;

	if (!u || !u->started)
		return;
	pthread_mutex_lock(&u->lock);
	u->stop = true;
	sqe = io_uring_get_sqe(&u->ring);   /* room: at most DEPTH are on the ring */
	if (sqe) {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data(sqe, NULL);
		blkuring_enter_locked(u);
	}
	pthread_mutex_unlock(&u->lock);
	pthread_join(u->thread, NULL);
	u->started = false;
}

bool blk_uring_cq_waiting(struct blk_uring *u)
{
	return io_uring_cq_ready(&u->ring) != 0;
}

uint64_t blk_uring_merged(struct blk_uring *u)
{
	uint64_t n;

	pthread_mutex_lock(&u->lock);
	n = u->merged;
	pthread_mutex_unlock(&u->lock);
	return n;
}

void blk_uring_free(struct blk_uring *u)
{
	if (!u)
		return;
	blk_uring_stop(u);
	io_uring_queue_exit(&u->ring);
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/* Should b use a ring at all? */
static bool blkuring_wanted(struct blk *b)
{
	const char *off = getenv("VMKIT_NO_IO_URING");

	if (b->drv != &raw_driver || b->file->align <= 1 || blk_file_fd(b->file) < 0)
		return false;
	return !off || !*off || !strcmp(off, "0");
}

/* The completion thread blocks every signal, as the workers do. */
static int blkuring_start(struct blk_uring *u)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&u->thread, NULL, blkuring_thread, u);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	u->started = !ret;
	return -ret;
}

int blk_uring_create(struct blk *b, blk_uring_init_fn init, struct blk_uring **out)
{
	struct blk_uring *u;
	int ret;

	*out = NULL;
	if (!blkuring_wanted(b))
		return 0;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	ret = init(BLKURING_ENTRIES, &u->ring, 0);
	if (ret < 0) {
		log_debug("%s: io_uring unavailable (%s): using the thread pool",
			  b->filename, strerror(-ret));
		free(u);
		return 0;
	}
	u->b = b;
	u->fd = blk_file_fd(b->file);
	u->align = b->file->align;
	pthread_mutex_init(&u->lock, NULL);
	ret = blkuring_start(u);
	if (ret) {
		log_error("%s: cannot start the io_uring thread: %s", b->filename, strerror(-ret));
		blk_uring_free(u);
		return ret;
	}
	*out = u;
	return 0;
}
