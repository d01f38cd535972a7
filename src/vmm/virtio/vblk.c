/* vblk: the virtio-blk device model (virtio 1.x, 5.2) on the block layer.
 * Owns one disk: the open image (raw, or qcow2 with its read-only backing
 * chain), the device configuration structure, the request queues with their
 * request slots (allocated once when the driver starts the device: one per
 * ring entry, each with iovec room for a whole chain), request parsing and
 * validation, execution on the block layer's worker threads
 * (blk_aio_submit), bounce buffers for cache=none requests the host cannot
 * take as they are, completion, reset, statistics and the query facts.
 *
 * Threads and locks. The transport calls every op with the device lock held
 * (queue work on the event loop; or on the thread that polled for the
 * guest's answer, vpoll.h). Requests run on the block layer's workers.
 * `io_lock` (ours) guards what both sides touch: each queue's list of
 * finished requests, the count of requests in flight, the waiting list, the
 * bounce-buffer pool and the list of writes in flight (host blocks > 512).
 * Lock order: device lock, then io_lock. A worker never waits for the device
 * lock: it puts a finished request on its queue's done list and, once the
 * block layer's batch of completions is done (blk_aio_set_batch_done),
 * takes the device lock with trylock and pushes the whole batch, or else
 * kicks the queues so that the event loop does it. That is what lets reset
 * (device lock held) wait for the requests in flight without a deadlock;
 * once they are all finished nothing touches guest memory or the queues any
 * more, and their done lists are dropped.
 *
 * Bounds: at most one request per ring entry is in flight on a queue (the
 * slots); bounce buffers come from a pool of VBLK_BOUNCE_BUFS chunks of
 * VBLK_BOUNCE_CHUNK bytes and a request needing one waits for one; larger
 * requests go through their buffer chunk by chunk.
 *
 * cache=none (O_DIRECT) needs buffers, offsets and lengths aligned to the
 * host's logical block size (`align`, the largest over the backing chain;
 * blk_size tells the guest). A request that is not aligned goes through a
 * bounce buffer; where its start or end cuts a host block, that block is
 * read first and merged (read-modify-write), and such a write waits until no
 * other write in flight touches the same host blocks (nor does any write
 * start on blocks a read-modify-write holds).
 *
 * Durability: FLUSH is blk_flush (fdatasync) and completes after it; when
 * the driver did not negotiate VIRTIO_BLK_F_FLUSH the device is
 * write-through: every write is followed by a flush before it completes.
 *
 * Rate limit (bps/iops, vlimit.h): each parsed request asks the disk's
 * limiter for its data bytes (reads and writes) and one operation before it
 * starts; a refused one goes back to its ring (virtqueue_unpop) and the
 * queue waits, kicks off, until the limiter's timer kicks it. */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/block.h"
#include "common/le.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"
#include "virtio/vlimit.h"
#include "virtio/vpoll.h"

/* Feature bits (5.2.3). */
#define VBLK_F_SIZE_MAX     1
#define VBLK_F_SEG_MAX      2
#define VBLK_F_RO           5
#define VBLK_F_BLK_SIZE     6
#define VBLK_F_FLUSH        9
#define VBLK_F_TOPOLOGY     10
#define VBLK_F_MQ           12
#define VBLK_F_DISCARD      13
#define VBLK_F_WRITE_ZEROES 14

/* Request types and status values (5.2.6). */
#define VBLK_T_IN           0
#define VBLK_T_OUT          1
#define VBLK_T_FLUSH        4
#define VBLK_T_GET_ID       8
#define VBLK_T_DISCARD      11
#define VBLK_T_WRITE_ZEROES 13
#define VBLK_S_OK           0
#define VBLK_S_IOERR        1
#define VBLK_S_UNSUPP       2
#define VBLK_S_ASYNC        0xff     /* internal: the request was started */

#define VBLK_HDR_BYTES      16       /* le32 type, le32 reserved, le64 sector */
#define VBLK_SEG_BYTES      16       /* discard / write-zeroes segment */
#define VBLK_SEG_F_UNMAP    1u
#define VBLK_ID_BYTES       20

/* Device configuration layout (5.2.4), up to unused1. */
#define VBLK_CFG_CAPACITY         0
#define VBLK_CFG_SIZE_MAX         8
#define VBLK_CFG_SEG_MAX          12
#define VBLK_CFG_BLK_SIZE         20
#define VBLK_CFG_PHYS_EXP         24
#define VBLK_CFG_MIN_IO           26
#define VBLK_CFG_OPT_IO           28
#define VBLK_CFG_WRITEBACK        32
#define VBLK_CFG_NUM_QUEUES       34
#define VBLK_CFG_MAX_DISCARD      36
#define VBLK_CFG_MAX_DISCARD_SEG  40
#define VBLK_CFG_DISCARD_ALIGN    44
#define VBLK_CFG_MAX_WZ           48
#define VBLK_CFG_MAX_WZ_SEG       52
#define VBLK_CFG_WZ_MAY_UNMAP     56
#define VBLK_CFG_SIZE             60

/* What we offer. */
#define VBLK_QUEUE_SIZE        256u
#define VBLK_SEG_MAX           (VBLK_QUEUE_SIZE - 2)
#define VBLK_SIZE_MAX          (1u << 20)
#define VBLK_DEFAULT_QUEUES    8u       /* queues=0: min(vCPUs, this) */
#define VBLK_MAX_SEGS          16u      /* discard / write-zeroes segments */
#define VBLK_MAX_DISCARD_SECTORS (1u << 22)
#define VBLK_MAX_WZ_SECTORS    (1u << 16)
#define VBLK_PHYS_MAX          4096u    /* largest physical block reported */
#define VBLK_BOUNCE_CHUNK      (1u << 20)
#define VBLK_BOUNCE_BUFS       8u

_Static_assert(VBLK_CFG_SIZE <= VIRTIO_CFG_MAX, "configuration size");
_Static_assert(VBLK_BOUNCE_CHUNK % 4096 == 0, "bounce chunks hold whole host blocks");

enum vblk_kind { VBLK_READ, VBLK_WRITE, VBLK_FLUSH, VBLK_DISCARD, VBLK_ZERO, VBLK_OTHER };

/* Where a request's execution stands: the block operation last submitted. */
enum vblk_phase {
	VBLK_PH_NONE,     /* nothing submitted yet */
	VBLK_PH_DIRECT,   /* the whole current range, guest buffers as they are */
	VBLK_PH_BREAD,    /* bounce: a chunk read for a guest read */
	VBLK_PH_BFILL,    /* bounce: a chunk read before merging a write */
	VBLK_PH_BWRITE,   /* bounce: a merged chunk written */
	VBLK_PH_FLUSH,    /* the final flush */
};

struct vblk_range {
	uint64_t off, len;        /* bytes on the disk */
	bool unmap;               /* write-zeroes: may deallocate */
	bool bounce;              /* goes through the bounce buffer */
};

struct vblk;
struct vblk_queue;

/* One request slot. */
struct vblk_req {
	struct vblk_queue *q;
	struct vblk_req *next;     /* free, done or waiting list */
	struct vblk_req *wnext;    /* writes in flight (tracking) */
	struct virtqueue_chain *chain;
	struct blk_req br;
	enum vblk_kind kind;
	uint8_t *status;           /* the chain's last writable byte */
	uint8_t result;            /* VBLK_S_* */
	bool invalid;              /* refused when parsed */
	uint32_t used_len;         /* bytes written into the chain on success */
	struct iovec *data;        /* READ/WRITE data segments (in chain storage) */
	int ndata;
	struct vblk_range range[VBLK_MAX_SEGS];
	unsigned nrange, cur;      /* ranges; the one running */
	bool begun;                /* bounce: pos is set for range cur */
	bool flush_after;          /* write-through: flush before completing */
	bool bounce;               /* some range needs the bounce buffer */
	bool rmw;                  /* some range cuts host blocks (read-modify-write) */
	bool tracked;              /* a write whose span is on the tracking list */
	uint64_t span_lo, span_hi; /* host-block hull of the ranges (tracking) */
	uint8_t *buf;              /* bounce buffer while running */
	struct iovec chunk_iov;    /* the bounce buffer as an I/O vector */
	int start_err;             /* admitted from the waiting list: 0 or -errno */
	uint64_t pos;              /* bounce: start of the current chunk */
	uint64_t chunk;            /* ... and its length */
	enum vblk_phase phase;
	uint64_t bytes;            /* statistics */
	uint64_t start_ns;
};

struct vblk_queue {
	struct vblk *d;
	unsigned index;
	struct vblk_req *slots;    /* nslots, allocated at activate */
	unsigned nslots;
	struct vblk_req *free;     /* device lock */
	bool starved;              /* ran out of slots: kick when one frees */
	struct vblk_req *done_head, *done_tail;   /* io_lock */
};

struct vblk_stats {
	uint64_t rd_bytes, wr_bytes, unmap_bytes;
	uint64_t rd_ops, wr_ops, flush_ops, unmap_ops;
	uint64_t failed_rd, failed_wr, failed_flush, failed_unmap;
	uint64_t invalid_rd, invalid_wr, invalid_flush, invalid_unmap;
	uint64_t rd_ns, wr_ns, flush_ns, unmap_ns;
};

struct vblk {
	struct virtio_dev *handle;
	struct blk *blk;
	char id[VIRTIO_ID_MAX];
	char *path;
	const char *format;
	bool readonly, direct;
	uint32_t align;            /* host alignment (1 unless cache=none) */
	uint32_t blk_size;
	uint64_t size;             /* bytes: capacity * 512 */
	uint64_t features;         /* negotiated */
	unsigned nqueues;
	struct vblk_queue queues[VIRTIO_MAX_QUEUES];
	uint8_t cfg[VBLK_CFG_SIZE];
	struct vblk_stats stats;   /* device lock */
	struct vlimit limit;       /* device lock */
	struct vpoll poll;         /* polling after completions (vpoll.h) */

	pthread_mutex_t io_lock;
	pthread_cond_t idle;       /* inflight reached 0 while cancelling */
	unsigned inflight;         /* started and not on a done list */
	bool cancel;               /* reset/destroy: finish what runs, start nothing */
	bool closing;              /* destroy: workers must not touch the transport */
	struct vblk_req *wait_head, *wait_tail;
	struct vblk_req *writes;   /* tracked writes in flight */
	uint8_t *pool[VBLK_BOUNCE_BUFS];
	unsigned npool, nfree;     /* allocated; free ones are pool[0..nfree) */
};

/* ---- iovec helpers ---- */

/* Copy len bytes between buf and the iovecs starting skip bytes in. */
static void vblk_iov_copy(const struct iovec *iov, int cnt, uint64_t skip, uint8_t *buf,
			  uint64_t len, bool to_iov)
{
	for (int i = 0; i < cnt && len; i++) {
		uint64_t n = iov[i].iov_len;
		uint8_t *p;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		n = MIN(n - skip, len);
		p = (uint8_t *)iov[i].iov_base + skip;
		if (to_iov)
			memcpy(p, buf, n);
		else
			memcpy(buf, p, n);
		buf += n;
		len -= n;
		skip = 0;
	}
}

static bool vblk_iov_aligned(const struct iovec *iov, int cnt, uint64_t a)
{
	uint64_t acc = 0;

	for (int i = 0; i < cnt; i++)
		acc |= (uintptr_t)iov[i].iov_base | iov[i].iov_len;
	return (acc & (a - 1)) == 0;
}

/* ---- lists ---- */

static void vblk_list_add(struct vblk_req **head, struct vblk_req **tail, struct vblk_req *r)
{
	r->next = NULL;
	if (*tail)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

static bool vblk_cancelled(struct vblk *d)
{
	return __atomic_load_n(&d->cancel, __ATOMIC_ACQUIRE);
}

/* ---- admission: bounce buffers and overlapping writes (io_lock held) ---- */

static bool vblk_spans_overlap(const struct vblk_req *a, const struct vblk_req *b)
{
	return a->span_lo < b->span_hi && b->span_lo < a->span_hi;
}

/* A read-modify-write must not run beside any write on its host blocks,
 * nor any write beside a read-modify-write. */
static bool vblk_conflicts(const struct vblk *d, const struct vblk_req *r)
{
	for (const struct vblk_req *w = d->writes; w; w = w->wnext)
		if ((r->rmw || w->rmw) && vblk_spans_overlap(r, w))
			return true;
	return false;
}

/* A free bounce buffer (allocated on first use), or NULL. */
static uint8_t *vblk_pool_get(struct vblk *d)
{
	uint8_t *b;

	if (d->nfree)
		return d->pool[--d->nfree];
	if (d->npool == VBLK_BOUNCE_BUFS)
		return NULL;
	/* none free: pool[0..npool) are all in use, the new one joins them */
	b = aligned_alloc(4096, VBLK_BOUNCE_CHUNK);
	if (b)
		d->pool[d->npool++] = b;
	return b;
}

static void vblk_pool_put(struct vblk *d, uint8_t *b)
{
	for (unsigned i = d->nfree; i < d->npool; i++) {
		if (d->pool[i] == b) {
			d->pool[i] = d->pool[d->nfree];
			d->pool[d->nfree++] = b;
			return;
		}
	}
}

/* Take what r needs to start: 1, 0 when it must wait, or -ENOMEM when no
 * bounce buffer exists nor can be allocated (waiting would be forever). */
static int vblk_admit(struct vblk *d, struct vblk_req *r)
{
	if (r->tracked && vblk_conflicts(d, r))
		return 0;
	if (r->bounce) {
		r->buf = vblk_pool_get(d);
		if (!r->buf)
			return d->npool ? 0 : -ENOMEM;
	}
	if (r->tracked) {
		r->wnext = d->writes;
		d->writes = r;
	}
	return 1;
}

static void vblk_release(struct vblk *d, struct vblk_req *r)
{
	if (r->buf) {
		vblk_pool_put(d, r->buf);
		r->buf = NULL;
	}
	if (r->tracked) {
		for (struct vblk_req **p = &d->writes; *p; p = &(*p)->wnext) {
			if (*p == r) {
				*p = r->wnext;
				break;
			}
		}
	}
}

/* Waiting requests that can start now (or must fail: start_err) moved to
 * *ready; the others keep their order. */
static void vblk_admit_waiting(struct vblk *d, struct vblk_req **ready)
{
	struct vblk_req **p = &d->wait_head, *r;

	d->wait_tail = NULL;
	while ((r = *p) != NULL) {
		int go = vblk_admit(d, r);

		r->start_err = go < 0 ? go : 0;
		if (go) {
			*p = r->next;
			r->next = *ready;
			*ready = r;
		} else {
			d->wait_tail = r;
			p = &r->next;
		}
	}
}

/* ---- execution (worker threads, or the event loop when starting) ---- */

static void vblk_run(struct vblk *d, struct vblk_req *r, int ret);

static void vblk_range_span(const struct vblk *d, const struct vblk_range *g, uint64_t *lo,
			    uint64_t *hi)
{
	*lo = ALIGN_DOWN(g->off, d->align);
	*hi = MIN(ALIGN_UP(g->off + g->len, d->align), d->size);
}

/* Merge the guest's part of the current chunk into the bounce buffer. */
static void vblk_bounce_in(struct vblk_req *r)
{
	const struct vblk_range *g = &r->range[r->cur];
	uint64_t lo = MAX(r->pos, g->off), hi = MIN(r->pos + r->chunk, g->off + g->len);

	if (r->kind == VBLK_ZERO)
		memset(r->buf + (lo - r->pos), 0, hi - lo);
	else
		vblk_iov_copy(r->data, r->ndata, lo - g->off, r->buf + (lo - r->pos), hi - lo,
			      false);
}

/* Copy the guest's part of the chunk just read out to its buffers. */
static void vblk_bounce_out(struct vblk_req *r)
{
	const struct vblk_range *g = &r->range[r->cur];
	uint64_t lo = MAX(r->pos, g->off), hi = MIN(r->pos + r->chunk, g->off + g->len);

	vblk_iov_copy(r->data, r->ndata, lo - g->off, r->buf + (lo - r->pos), hi - lo, true);
}

static void vblk_prep(struct vblk_req *r, enum vblk_phase ph, enum blk_op op, uint64_t off,
		      uint64_t len)
{
	r->phase = ph;
	r->br.op = op;
	r->br.off = off;
	r->br.len = len;
	r->br.may_unmap = false;
	r->br.iov = NULL;
	r->br.iovcnt = 0;
}

/* The bounce buffer as the single iovec of the chunk operation. */
static void vblk_prep_chunk_io(struct vblk_req *r, enum vblk_phase ph, enum blk_op op,
			       struct iovec *iov)
{
	vblk_prep(r, ph, op, r->pos, r->chunk);
	iov->iov_base = r->buf;
	iov->iov_len = r->chunk;
	r->br.iov = iov;
	r->br.iovcnt = 1;
}

static void vblk_prep_chunk(struct vblk *d, struct vblk_req *r)
{
	const struct vblk_range *g = &r->range[r->cur];
	uint64_t lo, hi;
	bool partial;

	vblk_range_span(d, g, &lo, &hi);
	r->chunk = MIN(hi - r->pos, (uint64_t)VBLK_BOUNCE_CHUNK);
	partial = r->pos < g->off || r->pos + r->chunk > g->off + g->len;
	if (r->kind == VBLK_READ) {
		vblk_prep_chunk_io(r, VBLK_PH_BREAD, BLK_OP_READ, &r->chunk_iov);
	} else if (partial) {
		vblk_prep_chunk_io(r, VBLK_PH_BFILL, BLK_OP_READ, &r->chunk_iov);
	} else {
		vblk_bounce_in(r);
		vblk_prep_chunk_io(r, VBLK_PH_BWRITE, BLK_OP_WRITE, &r->chunk_iov);
	}
}

static void vblk_prep_direct(struct vblk_req *r)
{
	const struct vblk_range *g = &r->range[r->cur];

	switch (r->kind) {
	case VBLK_READ:
	case VBLK_WRITE:
		vblk_prep(r, VBLK_PH_DIRECT, r->kind == VBLK_READ ? BLK_OP_READ : BLK_OP_WRITE,
			  g->off, g->len);
		r->br.iov = r->data;
		r->br.iovcnt = r->ndata;
		return;
	case VBLK_DISCARD:
		vblk_prep(r, VBLK_PH_DIRECT, BLK_OP_DISCARD, g->off, g->len);
		return;
	case VBLK_ZERO:
		vblk_prep(r, VBLK_PH_DIRECT, BLK_OP_WRITE_ZEROES, g->off, g->len);
		r->br.may_unmap = g->unmap;
		return;
	case VBLK_FLUSH:
	case VBLK_OTHER:
		break;
	}
	vblk_prep(r, VBLK_PH_FLUSH, BLK_OP_FLUSH, 0, 0);
}

/* Account for the operation that just completed. */
static void vblk_step_done(struct vblk_req *r)
{
	switch (r->phase) {
	case VBLK_PH_NONE:
	case VBLK_PH_FLUSH:
	case VBLK_PH_BFILL:
		break;
	case VBLK_PH_DIRECT:
		r->cur++;
		break;
	case VBLK_PH_BREAD:
		vblk_bounce_out(r);
		r->pos += r->chunk;
		break;
	case VBLK_PH_BWRITE:
		r->pos += r->chunk;
		break;
	}
}

/* After an operation finished with ret: prepare the next one in r->br (true)
 * or set the result (false: the request is finished). */
static bool vblk_next(struct vblk *d, struct vblk_req *r, int ret)
{
	if (ret < 0 || vblk_cancelled(d)) {
		r->result = VBLK_S_IOERR;
		return false;
	}
	if (r->phase == VBLK_PH_FLUSH) {
		r->result = VBLK_S_OK;
		return false;
	}
	if (r->phase == VBLK_PH_BFILL) {
		vblk_bounce_in(r);
		vblk_prep_chunk_io(r, VBLK_PH_BWRITE, BLK_OP_WRITE, &r->chunk_iov);
		return true;
	}
	vblk_step_done(r);
	while (r->cur < r->nrange) {
		uint64_t lo, hi;

		if (!r->range[r->cur].bounce) {
			vblk_prep_direct(r);
			return true;
		}
		vblk_range_span(d, &r->range[r->cur], &lo, &hi);
		if (!r->begun) {
			r->pos = lo;
			r->begun = true;
		}
		if (r->pos < hi) {
			vblk_prep_chunk(d, r);
			return true;
		}
		r->cur++;
		r->begun = false;
	}
	if (r->flush_after) {
		vblk_prep(r, VBLK_PH_FLUSH, BLK_OP_FLUSH, 0, 0);
		return true;
	}
	r->result = VBLK_S_OK;
	return false;
}

static void vblk_done_add(struct vblk_queue *q, struct vblk_req *r)
{
	vblk_list_add(&q->done_head, &q->done_tail, r);
}

static bool vblk_drain(struct vblk *d, struct vblk_queue *q);
static void vblk_queue_notify(void *dev, unsigned qi);

/* Which queues have finished requests waiting to be pushed (bit q). */
static uint32_t vblk_finished_queues(struct vblk *d)
{
	uint32_t mask = 0;

	pthread_mutex_lock(&d->io_lock);
	for (unsigned i = 0; i < d->nqueues; i++)
		if (d->queues[i].done_head)
			mask |= 1u << i;
	pthread_mutex_unlock(&d->io_lock);
	return mask;
}

/* Have the event loop serve the queues in mask (bit q). */
static void vblk_kick_queues(struct vblk *d, uint32_t mask)
{
	for (unsigned i = 0; i < d->nqueues; i++)
		if (mask & (1u << i))
			virtio_queue_kick(d->handle, i);
}

/* Push every queue's finished requests (device lock held); returns the
 * queues that pushed (bit q). A request can finish on another queue than
 * the one being served: a failure that starts a waiting request of another
 * queue, which fails too. */
static uint32_t vblk_drain_all(struct vblk *d)
{
	uint32_t finished = vblk_finished_queues(d), pushed = 0;

	for (unsigned i = 0; i < d->nqueues; i++)
		if ((finished & (1u << i)) && vblk_drain(d, &d->queues[i]))
			pushed |= 1u << i;
	return pushed;
}

/* Queues whose next requests polling could serve (device lock held): not
 * those waiting for the rate limit's timer or for a free request slot. */
static uint32_t vblk_pollable(const struct vblk *d)
{
	uint32_t mask = 0;

	for (unsigned i = 0; i < d->nqueues; i++)
		if (!d->queues[i].starved && !vlimit_waiting(&d->limit, i))
			mask |= 1u << i;
	return mask;
}

static bool vblk_poll_stop(void *opaque)
{
	struct vblk *d = opaque;

	return blk_aio_has_work(d->blk);
}

/* The guest's answer to what was just pushed: wait a window for it and
 * serve it on this thread (vpoll.h). The watched queues' kicks are off
 * until they are served: here, or on the event loop after a kick. */
static void vblk_poll(struct vblk *d, const struct vpoll_watch *w)
{
	pthread_mutex_t *lock = virtio_dev_lock(d->handle);

	(void)vpoll_wait(&d->poll, w, vblk_poll_stop, d);
	if (__atomic_load_n(&d->closing, __ATOMIC_ACQUIRE))
		return;
	if (pthread_mutex_trylock(lock) != 0) {
		vblk_kick_queues(d, w->queues);
		return;
	}
	for (unsigned i = 0; i < d->nqueues && !d->closing; i++)
		if ((w->queues & (1u << i)) && !virtio_dev_failed(d->handle))
			vblk_queue_notify(d, i);
	pthread_mutex_unlock(lock);
}

/* A worker or the ring's completion thread finished a batch of requests
 * (blk_aio_set_batch_done): push every queue's finished ones now if the
 * device lock is free, or have the event loop do it. The guest sees the
 * batch at once, and answers with one batch of new requests, which this
 * thread may poll for. Never blocks on the device lock. */
static void vblk_batch_done(void *opaque)
{
	struct vblk *d = opaque;
	pthread_mutex_t *lock;
	struct vpoll_watch w;
	bool poll;

	if (__atomic_load_n(&d->closing, __ATOMIC_ACQUIRE))
		return;
	lock = virtio_dev_lock(d->handle);
	if (pthread_mutex_trylock(lock) == 0) {
		uint32_t pushed = vblk_drain_all(d);

		poll = !d->closing && !blk_aio_has_work(d->blk) &&
		       vpoll_begin(&d->poll, d->handle, pushed & vblk_pollable(d), &w);
		pthread_mutex_unlock(lock);
		if (poll)
			vblk_poll(d, &w);
		return;
	}
	vblk_kick_queues(d, vblk_finished_queues(d));
}

/* r is finished: give back what it held, start waiters, queue it for the
 * used ring (pushed by vblk_batch_done, or at the end of the event loop's
 * queue work). */
static void vblk_finish(struct vblk *d, struct vblk_req *r)
{
	struct vblk_queue *q = r->q;
	struct vblk_req *ready = NULL;

	pthread_mutex_lock(&d->io_lock);
	vblk_release(d, r);
	if (d->wait_head && !d->cancel)
		vblk_admit_waiting(d, &ready);
	vblk_done_add(q, r);
	if (--d->inflight == 0 && d->cancel)
		pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->io_lock);
	while (ready) {
		struct vblk_req *w = ready;

		ready = w->next;
		vblk_run(d, w, w->start_err);
	}
}

static void vblk_io_done(struct blk_req *br, int ret)
{
	struct vblk_req *r = br->opaque;

	vblk_run(r->q->d, r, ret);
}

/* Drive r from the operation that finished with ret to the next submission
 * or to its end. */
static void vblk_run(struct vblk *d, struct vblk_req *r, int ret)
{
	while (vblk_next(d, r, ret)) {
		r->br.done = vblk_io_done;
		r->br.opaque = r;
		ret = blk_aio_submit(d->blk, &r->br);
		if (ret == 0)
			return;
		log_error("%s: cannot queue a request: %s", d->id, strerror(-ret));
	}
	vblk_finish(d, r);
}

/* Start a parsed request (queue work, device lock held). */
static void vblk_start(struct vblk *d, struct vblk_req *r)
{
	int go = 1;

	pthread_mutex_lock(&d->io_lock);
	d->inflight++;
	if (r->bounce || r->tracked) {
		go = d->wait_head ? 0 : vblk_admit(d, r);
		if (!go)
			vblk_list_add(&d->wait_head, &d->wait_tail, r);
	}
	pthread_mutex_unlock(&d->io_lock);
	if (go)
		vblk_run(d, r, go < 0 ? go : 0);
}

/* ---- completion (device lock held) ---- */

static void vblk_account(struct vblk *d, const struct vblk_req *r)
{
	struct vblk_stats *s = &d->stats;
	uint64_t ns = util_now_ns() - r->start_ns;
	bool ok = r->result == VBLK_S_OK, bad = r->invalid;

	switch (r->kind) {
	case VBLK_READ:
		s->rd_ops += ok;
		s->rd_bytes += ok ? r->bytes : 0;
		s->failed_rd += !ok && !bad;
		s->invalid_rd += bad;
		s->rd_ns += ns;
		return;
	case VBLK_WRITE:
	case VBLK_ZERO:
		s->wr_ops += ok;
		s->wr_bytes += ok ? r->bytes : 0;
		s->failed_wr += !ok && !bad;
		s->invalid_wr += bad;
		s->wr_ns += ns;
		return;
	case VBLK_FLUSH:
		s->flush_ops += ok;
		s->failed_flush += !ok && !bad;
		s->invalid_flush += bad;
		s->flush_ns += ns;
		return;
	case VBLK_DISCARD:
		s->unmap_ops += ok;
		s->unmap_bytes += ok ? r->bytes : 0;
		s->failed_unmap += !ok && !bad;
		s->invalid_unmap += bad;
		s->unmap_ns += ns;
		return;
	case VBLK_OTHER:
		return;
	}
}

/* Push every finished request of q and interrupt the driver if it wants;
 * true when something was pushed. */
static bool vblk_drain(struct vblk *d, struct vblk_queue *q)
{
	struct virtqueue *vq = virtio_queue(d->handle, q->index);
	struct vblk_req *list;
	bool pushed = false;

	pthread_mutex_lock(&d->io_lock);
	list = q->done_head;
	q->done_head = q->done_tail = NULL;
	pthread_mutex_unlock(&d->io_lock);
	while (list) {
		struct vblk_req *r = list;

		list = r->next;
		if (vq) {
			*r->status = r->result;
			vblk_account(d, r);
			pushed |= virtqueue_push(vq, r->chain->head,
						 r->result == VBLK_S_OK ? r->used_len : 1) == 0;
		}
		r->next = q->free;
		q->free = r;
	}
	if (pushed)
		virtio_queue_interrupt(d->handle, q->index);   /* if the driver wants one */
	if (q->starved && q->free) {
		q->starved = false;
		virtio_queue_kick(d->handle, q->index);
	}
	return pushed;
}

/* ---- parsing (queue work, device lock held) ---- */

/* Sector range check: [sector, sector + bytes/512) inside the disk. */
static bool vblk_in_range(const struct vblk *d, uint64_t sector, uint64_t bytes)
{
	uint64_t cap = d->size / BLK_SECTOR, n = bytes / BLK_SECTOR;

	return sector <= cap && n <= cap - sector;
}

/* Host-block hull and read-modify-write need of the ranges (cache=none). */
static void vblk_plan_bounce(struct vblk *d, struct vblk_req *r, bool mem_aligned)
{
	uint64_t a = d->align;

	r->span_lo = UINT64_MAX;
	r->span_hi = 0;
	for (unsigned i = 0; i < r->nrange; i++) {
		struct vblk_range *g = &r->range[i];
		bool cut = ((g->off | g->len) & (a - 1)) != 0;

		g->bounce = a > 1 && r->kind != VBLK_DISCARD && (cut || !mem_aligned);
		r->bounce |= g->bounce;
		r->rmw |= g->bounce && cut && r->kind != VBLK_READ;
		r->span_lo = MIN(r->span_lo, ALIGN_DOWN(g->off, a));
		r->span_hi = MAX(r->span_hi, ALIGN_UP(g->off + g->len, a));
	}
	r->tracked = a > BLK_SECTOR && r->kind != VBLK_READ && r->nrange > 0;
}

static bool vblk_writes_through(const struct vblk *d)
{
	return !virtio_has_feature(d->features, VBLK_F_FLUSH);
}

/* The data segments of a read (the writable part but the status byte) or
 * of a write (the readable part after the header), trimmed in place. */
static void vblk_data_segments(struct vblk_req *r)
{
	struct virtqueue_chain *c = r->chain;
	uint64_t skip = VBLK_HDR_BYTES;
	unsigned i = 0;

	if (r->kind == VBLK_READ) {
		r->data = c->in;
		r->ndata = (int)c->nin;
		if (--c->in[c->nin - 1].iov_len == 0)
			r->ndata--;
		return;
	}
	while (i < c->nout && skip >= c->out[i].iov_len)
		skip -= c->out[i++].iov_len;
	if (i < c->nout) {
		c->out[i].iov_base = (uint8_t *)c->out[i].iov_base + skip;
		c->out[i].iov_len -= skip;
	}
	r->data = c->out + i;
	r->ndata = (int)(c->nout - i);
}

static uint8_t vblk_parse_rw(struct vblk *d, struct vblk_req *r, uint64_t sector)
{
	struct virtqueue_chain *c = r->chain;
	uint64_t len = r->kind == VBLK_READ ? c->in_bytes - 1 : c->out_bytes - VBLK_HDR_BYTES;
	/* data on the wrong side: readable bytes after a read's header, or
	 * writable ones before a write's status */
	uint64_t stray = r->kind == VBLK_READ ? c->out_bytes - VBLK_HDR_BYTES : c->in_bytes - 1;

	if (stray || len % BLK_SECTOR || !vblk_in_range(d, sector, len))
		return VBLK_S_IOERR;
	if (len == 0)
		return VBLK_S_OK;
	vblk_data_segments(r);
	r->range[0] = (struct vblk_range){ .off = sector * BLK_SECTOR, .len = len };
	r->nrange = 1;
	r->bytes = len;
	r->used_len = r->kind == VBLK_READ ? (uint32_t)MIN(len + 1, UINT32_MAX) : 1;
	r->flush_after = r->kind == VBLK_WRITE && vblk_writes_through(d);
	vblk_plan_bounce(d, r, vblk_iov_aligned(r->data, r->ndata, d->align));
	return VBLK_S_ASYNC;
}

static uint8_t vblk_parse_flush(struct vblk *d, struct vblk_req *r, uint64_t sector)
{
	r->flush_after = true;
	return VBLK_S_ASYNC;
}

static uint8_t vblk_parse_get_id(struct vblk *d, struct vblk_req *r, uint64_t sector)
{
	uint8_t id[VBLK_ID_BYTES] = { 0 };
	size_t room = (size_t)MIN(r->chain->in_bytes - 1, (uint64_t)VBLK_ID_BYTES);

	memcpy(id, d->id, MIN(strlen(d->id), sizeof(id)));
	r->used_len = (uint32_t)virtqueue_chain_write(r->chain, 0, id, room) + 1;
	return VBLK_S_OK;
}

/* One discard / write-zeroes segment into range[i]. */
static uint8_t vblk_parse_seg(struct vblk *d, struct vblk_req *r, unsigned i)
{
	uint8_t seg[VBLK_SEG_BYTES];
	uint64_t sector, bytes;
	uint32_t n, flags, max;

	virtqueue_chain_read(r->chain, VBLK_HDR_BYTES + (uint64_t)i * VBLK_SEG_BYTES, seg,
			     sizeof(seg));
	sector = le_get64(seg);
	n = le_get32(seg + 8);
	flags = le_get32(seg + 12);
	max = r->kind == VBLK_DISCARD ? VBLK_MAX_DISCARD_SECTORS : VBLK_MAX_WZ_SECTORS;
	if ((flags & ~VBLK_SEG_F_UNMAP) || (r->kind == VBLK_DISCARD && flags))
		return VBLK_S_UNSUPP;
	bytes = (uint64_t)n * BLK_SECTOR;
	if (n > max || !vblk_in_range(d, sector, bytes))
		return VBLK_S_IOERR;
	if (n) {
		r->range[r->nrange++] = (struct vblk_range){
			.off = sector * BLK_SECTOR, .len = bytes,
			.unmap = flags & VBLK_SEG_F_UNMAP };
		r->bytes += bytes;
	}
	return VBLK_S_OK;
}

static uint8_t vblk_parse_segs(struct vblk *d, struct vblk_req *r, uint64_t sector)
{
	uint64_t len = r->chain->out_bytes - VBLK_HDR_BYTES, nseg = len / VBLK_SEG_BYTES;

	if (len == 0 || len % VBLK_SEG_BYTES || nseg > VBLK_MAX_SEGS)
		return VBLK_S_IOERR;
	for (unsigned i = 0; i < nseg; i++) {
		uint8_t st = vblk_parse_seg(d, r, i);

		if (st != VBLK_S_OK)
			return st;
	}
	if (r->nrange == 0)
		return VBLK_S_OK;
	r->flush_after = vblk_writes_through(d);
	vblk_plan_bounce(d, r, true);
	return VBLK_S_ASYNC;
}

struct vblk_type {
	uint32_t type;
	enum vblk_kind kind;
	bool writes;              /* refused on a read-only disk */
	int feature;              /* must be negotiated, or -1 */
	uint8_t (*parse)(struct vblk *d, struct vblk_req *r, uint64_t sector);
};

static const struct vblk_type vblk_types[] = {
	{ VBLK_T_IN, VBLK_READ, false, -1, vblk_parse_rw },
	{ VBLK_T_OUT, VBLK_WRITE, true, -1, vblk_parse_rw },
	{ VBLK_T_FLUSH, VBLK_FLUSH, false, -1, vblk_parse_flush },
	{ VBLK_T_GET_ID, VBLK_OTHER, false, -1, vblk_parse_get_id },
	{ VBLK_T_DISCARD, VBLK_DISCARD, true, VBLK_F_DISCARD, vblk_parse_segs },
	{ VBLK_T_WRITE_ZEROES, VBLK_ZERO, true, VBLK_F_WRITE_ZEROES, vblk_parse_segs },
};

static const struct vblk_type *vblk_type_find(uint32_t type)
{
	for (size_t i = 0; i < ARRAY_SIZE(vblk_types); i++)
		if (vblk_types[i].type == type)
			return &vblk_types[i];
	return NULL;
}

static void vblk_req_clear(struct vblk_req *r)
{
	r->kind = VBLK_OTHER;
	r->result = VBLK_S_IOERR;
	r->invalid = false;
	r->used_len = 1;
	r->data = NULL;
	r->ndata = 0;
	r->nrange = r->cur = 0;
	r->begun = r->flush_after = r->bounce = r->rmw = r->tracked = false;
	r->buf = NULL;
	r->start_err = 0;
	r->bytes = 0;
	r->phase = VBLK_PH_NONE;
}

/* Parse and validate; VBLK_S_ASYNC when the request was planned for I/O,
 * else its final status. */
static uint8_t vblk_parse(struct vblk *d, struct vblk_req *r)
{
	uint8_t hdr[VBLK_HDR_BYTES];
	const struct vblk_type *t;
	uint8_t st;

	if (virtqueue_chain_read(r->chain, 0, hdr, sizeof(hdr)) < sizeof(hdr))
		return VBLK_S_IOERR;
	t = vblk_type_find(le_get32(hdr));
	if (!t)
		return VBLK_S_UNSUPP;
	r->kind = t->kind;
	if (t->writes && d->readonly)
		st = VBLK_S_IOERR;
	else if (t->feature >= 0 && !virtio_has_feature(d->features, (unsigned)t->feature))
		st = VBLK_S_UNSUPP;
	else
		st = t->parse(d, r, le_get64(hdr + 8));
	r->invalid = st != VBLK_S_OK && st != VBLK_S_ASYNC;
	return st;
}

/* The bytes a request counts against the bps limit: its data, if any. */
static uint64_t vblk_limit_bytes(const struct vblk_req *r, uint8_t st)
{
	bool data = r->kind == VBLK_READ || r->kind == VBLK_WRITE;

	return st == VBLK_S_ASYNC && data ? r->bytes : 0;
}

/* Handle one popped chain: 0, 1 when the rate limit holds it back (give it
 * back), -EINVAL when the device failed. */
static int vblk_handle(struct vblk *d, struct vblk_queue *q, struct vblk_req *r)
{
	struct virtqueue_chain *c = r->chain;
	const struct iovec *last;
	uint8_t st;

	vblk_req_clear(r);
	r->start_ns = util_now_ns();
	if (c->nin == 0) {
		virtio_dev_fail(d->handle, "queue %u: request without a status byte", q->index);
		return -EINVAL;
	}
	last = &c->in[c->nin - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	st = vblk_parse(d, r);
	if (!vlimit_admit(&d->limit, q->index, vblk_limit_bytes(r, st), 1))
		return 1;
	if (st == VBLK_S_ASYNC) {
		vblk_start(d, r);
		return 0;
	}
	r->result = st;
	pthread_mutex_lock(&d->io_lock);
	vblk_done_add(q, r);
	pthread_mutex_unlock(&d->io_lock);
	return 0;
}

/* Pop and start everything available on q (the caller plugs the disk). */
static void vblk_pop_all_plugged(struct vblk *d, struct vblk_queue *q, struct virtqueue *vq)
{
	for (;;) {
		struct vblk_req *r = q->free;
		int ret;

		if (!r) {
			q->starved = true;   /* a completion kicks us */
			return;
		}
		ret = virtqueue_pop(vq, r->chain);
		if (ret < 0) {
			virtio_dev_fail(d->handle, "queue %u: %s", q->index, virtqueue_reason(vq));
			return;
		}
		if (ret == 0) {
			if (virtqueue_rearm(vq))
				continue;
			return;
		}
		q->free = r->next;
		ret = vblk_handle(d, q, r);
		if (ret != 0) {
			virtqueue_unpop(vq);   /* unused: failed device, or throttled */
			r->next = q->free;
			q->free = r;
			if (ret > 0)
				virtqueue_set_notify(vq, false);   /* the timer kicks us */
			return;
		}
	}
}

/* Pop and start everything available on q; the block layer submits the
 * batch to the host at once (io_uring). */
static void vblk_pop_all(struct vblk *d, struct vblk_queue *q, struct virtqueue *vq)
{
	blk_aio_plug(d->blk);
	vblk_pop_all_plugged(d, q, vq);
	blk_aio_unplug(d->blk);
}

/* ---- ops ---- */

static void vblk_cfg_read(void *dev, unsigned off, void *data, unsigned size)
{
	struct vblk *d = dev;

	memcpy(data, d->cfg + off, size);
}

static int vblk_queue_alloc_slots(struct vblk_queue *q, unsigned n);

/* Serve queue qi (device lock held): after a doorbell or a kick, or after
 * polling for the guest's answer. */
static void vblk_queue_notify(void *dev, unsigned qi)
{
	struct vblk *d = dev;
	struct vblk_queue *q;
	struct virtqueue *vq;

	if (qi >= d->nqueues)
		return;
	q = &d->queues[qi];
	vq = virtio_queue(d->handle, qi);
	if (!vq)
		return;
	/* normally done by activate; a queue it could not see yet gets its
	 * slots on its first notification */
	if (!q->nslots && vblk_queue_alloc_slots(q, vq->size) < 0) {
		virtio_dev_fail(d->handle, "queue %u: no memory for the request slots", qi);
		return;
	}
	vblk_drain(d, q);
	vblk_pop_all(d, q, vq);
	vblk_drain_all(d);
}

static void vblk_queue_free_slots(struct vblk_queue *q)
{
	for (unsigned i = 0; i < q->nslots; i++)
		virtqueue_chain_free(q->slots[i].chain);
	free(q->slots);
	q->slots = NULL;
	q->nslots = 0;
	q->free = NULL;
	q->starved = false;
	pthread_mutex_lock(&q->d->io_lock);
	q->done_head = q->done_tail = NULL;
	pthread_mutex_unlock(&q->d->io_lock);
}

static int vblk_queue_alloc_slots(struct vblk_queue *q, unsigned n)
{
	q->slots = calloc(n, sizeof(*q->slots));
	if (!q->slots)
		return -ENOMEM;
	q->nslots = n;
	for (unsigned i = 0; i < n; i++) {
		struct vblk_req *r = &q->slots[i];

		r->q = q;
		r->chain = virtqueue_chain_new(n);
		if (!r->chain) {
			vblk_queue_free_slots(q);
			return -ENOMEM;
		}
		r->next = q->free;
		q->free = r;
	}
	return 0;
}

static int vblk_activate(void *dev, uint64_t features)
{
	struct vblk *d = dev;
	int ret = 0;

	d->features = features;
	for (unsigned i = 0; i < d->nqueues && !ret; i++) {
		struct virtqueue *vq = virtio_queue(d->handle, i);

		vblk_queue_free_slots(&d->queues[i]);
		if (vq)
			ret = vblk_queue_alloc_slots(&d->queues[i], vq->size);
	}
	if (ret) {
		log_error("%s: no memory for the request slots", d->id);
		for (unsigned i = 0; i < d->nqueues; i++)
			vblk_queue_free_slots(&d->queues[i]);
	}
	return ret;
}

/* Let the requests in flight finish (I/O cannot be cancelled once a worker
 * runs it), start nothing more, and forget the finished ones. Workers never
 * wait for the device lock, so waiting here with it held cannot deadlock. */
static void vblk_quiesce(struct vblk *d)
{
	pthread_mutex_lock(&d->io_lock);
	__atomic_store_n(&d->cancel, true, __ATOMIC_RELEASE);
	while (d->wait_head) {
		struct vblk_req *r = d->wait_head;

		d->wait_head = r->next;
		d->inflight--;
	}
	d->wait_tail = NULL;
	while (d->inflight)
		pthread_cond_wait(&d->idle, &d->io_lock);
	for (unsigned i = 0; i < d->nqueues; i++)
		d->queues[i].done_head = d->queues[i].done_tail = NULL;
	d->writes = NULL;
	d->nfree = d->npool;
	__atomic_store_n(&d->cancel, false, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->io_lock);
}

static void vblk_reset(void *dev)
{
	struct vblk *d = dev;

	vblk_quiesce(d);
	for (unsigned i = 0; i < d->nqueues; i++)
		vblk_queue_free_slots(&d->queues[i]);
	vlimit_reset(&d->limit);
	d->features = 0;
}

static void vblk_query_stats(const struct vblk *d, json_t *obj)
{
	const struct vblk_stats *s = &d->stats;
	json_t *st = json_object();

	if (!st)
		return;
	json_object_set_new(st, "rd_bytes", json_integer((json_int_t)s->rd_bytes));
	json_object_set_new(st, "wr_bytes", json_integer((json_int_t)s->wr_bytes));
	json_object_set_new(st, "unmap_bytes", json_integer((json_int_t)s->unmap_bytes));
	json_object_set_new(st, "rd_operations", json_integer((json_int_t)s->rd_ops));
	json_object_set_new(st, "wr_operations", json_integer((json_int_t)s->wr_ops));
	json_object_set_new(st, "flush_operations", json_integer((json_int_t)s->flush_ops));
	json_object_set_new(st, "unmap_operations", json_integer((json_int_t)s->unmap_ops));
	json_object_set_new(st, "failed_rd_operations", json_integer((json_int_t)s->failed_rd));
	json_object_set_new(st, "failed_wr_operations", json_integer((json_int_t)s->failed_wr));
	json_object_set_new(st, "failed_flush_operations",
			    json_integer((json_int_t)s->failed_flush));
	json_object_set_new(st, "failed_unmap_operations",
			    json_integer((json_int_t)s->failed_unmap));
	json_object_set_new(st, "invalid_rd_operations", json_integer((json_int_t)s->invalid_rd));
	json_object_set_new(st, "invalid_wr_operations", json_integer((json_int_t)s->invalid_wr));
	json_object_set_new(st, "invalid_flush_operations",
			    json_integer((json_int_t)s->invalid_flush));
	json_object_set_new(st, "invalid_unmap_operations",
			    json_integer((json_int_t)s->invalid_unmap));
	json_object_set_new(st, "rd_total_time_ns", json_integer((json_int_t)s->rd_ns));
	json_object_set_new(st, "wr_total_time_ns", json_integer((json_int_t)s->wr_ns));
	json_object_set_new(st, "flush_total_time_ns", json_integer((json_int_t)s->flush_ns));
	json_object_set_new(st, "unmap_total_time_ns", json_integer((json_int_t)s->unmap_ns));
	json_object_set_new(st, "throttled", json_integer((json_int_t)d->limit.throttled));
	json_object_set_new(st, "throttled_total_time_ns",
			    json_integer((json_int_t)d->limit.throttled_ns));
	vpoll_query(&d->poll, obj, st);
	json_object_set_new(obj, "stats", st);
}

static void vblk_query(void *dev, json_t *obj)
{
	struct vblk *d = dev;

	json_object_set_new(obj, "path", json_string(d->path));
	json_object_set_new(obj, "format", json_string(d->format));
	json_object_set_new(obj, "readonly", json_boolean(d->readonly));
	json_object_set_new(obj, "cache", json_string(d->direct ? "none" : "writeback"));
	json_object_set_new(obj, "size", json_integer((json_int_t)d->size));
	json_object_set_new(obj, "blk_size", json_integer(d->blk_size));
	json_object_set_new(obj, "queues", json_integer(d->nqueues));
	vlimit_query(&d->limit, obj);
	vblk_query_stats(d, obj);
}

static int vblk_set_rate_limit(void *dev, const struct config_ratelimit *limit)
{
	struct vblk *d = dev;

	return vlimit_set(&d->limit, limit);
}

static void vblk_free(struct vblk *d)
{
	if (d->poll.hits || d->poll.misses)
		log_info("%s: polling: %" PRIu64 " answers caught, %" PRIu64 " windows empty, "
			 "%" PRIu64 " us spinning", d->id, d->poll.hits, d->poll.misses,
			 d->poll.polled_ns / 1000);
	for (unsigned i = 0; i < d->nqueues; i++)
		vblk_queue_free_slots(&d->queues[i]);
	for (unsigned i = 0; i < d->npool; i++)
		free(d->pool[i]);
	vlimit_destroy(&d->limit);
	pthread_cond_destroy(&d->idle);
	pthread_mutex_destroy(&d->io_lock);
	free(d->path);
	free(d);
}

static void vblk_destroy(void *dev)
{
	struct vblk *d = dev;
	pthread_mutex_t *lock = virtio_dev_lock(d->handle);

	/* under the lock: a thread that polled (vblk_poll) serves no queue
	 * once it can take the lock */
	pthread_mutex_lock(lock);
	__atomic_store_n(&d->closing, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(lock);
	vblk_quiesce(d);
	blk_close(d->blk);   /* joins the workers: none still runs our code */
	vblk_free(d);
}

static const struct virtio_device_ops vblk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.cfg_read = vblk_cfg_read,
	.cfg_write = NULL,
	.activate = vblk_activate,
	.queue_notify = vblk_queue_notify,
	.reset = vblk_reset,
	.query = vblk_query,
	.set_link = NULL,
	.set_rate_limit = vblk_set_rate_limit,
	.destroy = vblk_destroy,
};

/* ---- creation ---- */

static unsigned vblk_log2(uint32_t v)
{
	unsigned n = 0;

	while (v > 1) {
		v >>= 1;
		n++;
	}
	return n;
}

/* The host's physical block: st_blksize of the image, if it is a sensible
 * power of two between blk_size and VBLK_PHYS_MAX. */
static uint32_t vblk_phys_block(const struct vblk *d)
{
	struct stat st;
	uint32_t p;

	if (stat(d->path, &st) < 0 || st.st_blksize <= 0)
		return d->blk_size;
	p = (uint32_t)MIN((uint64_t)st.st_blksize, (uint64_t)VBLK_PHYS_MAX);
	if (p & (p - 1) || p < d->blk_size)
		return d->blk_size;
	return p;
}

static uint32_t vblk_discard_align(const struct vblk *d, uint32_t phys)
{
	uint32_t a = phys;

	if (d->blk->drv->cluster_size)
		a = MAX(a, d->blk->drv->cluster_size(d->blk));
	return MAX(a / BLK_SECTOR, 1u);
}

static void vblk_build_cfg(struct vblk *d)
{
	uint8_t *c = d->cfg;
	uint32_t phys = vblk_phys_block(d);

	memset(c, 0, sizeof(d->cfg));
	le_put64(c + VBLK_CFG_CAPACITY, d->size / BLK_SECTOR);
	le_put32(c + VBLK_CFG_SIZE_MAX, VBLK_SIZE_MAX);
	le_put32(c + VBLK_CFG_SEG_MAX, VBLK_SEG_MAX);
	le_put32(c + VBLK_CFG_BLK_SIZE, d->blk_size);
	c[VBLK_CFG_PHYS_EXP] = (uint8_t)vblk_log2(phys / d->blk_size);
	le_put16(c + VBLK_CFG_MIN_IO, 1);
	le_put32(c + VBLK_CFG_OPT_IO, 0);
	c[VBLK_CFG_WRITEBACK] = 1;
	le_put16(c + VBLK_CFG_NUM_QUEUES, (uint16_t)d->nqueues);
	le_put32(c + VBLK_CFG_MAX_DISCARD, VBLK_MAX_DISCARD_SECTORS);
	le_put32(c + VBLK_CFG_MAX_DISCARD_SEG, VBLK_MAX_SEGS);
	le_put32(c + VBLK_CFG_DISCARD_ALIGN, vblk_discard_align(d, phys));
	le_put32(c + VBLK_CFG_MAX_WZ, VBLK_MAX_WZ_SECTORS);
	le_put32(c + VBLK_CFG_MAX_WZ_SEG, VBLK_MAX_SEGS);
	c[VBLK_CFG_WZ_MAY_UNMAP] = 1;
}

static uint64_t vblk_features(const struct vblk *d)
{
	uint64_t f = (1ull << VBLK_F_SIZE_MAX) | (1ull << VBLK_F_SEG_MAX) |
		     (1ull << VBLK_F_BLK_SIZE) | (1ull << VBLK_F_FLUSH) |
		     (1ull << VBLK_F_TOPOLOGY) | (1ull << VBLK_F_MQ);

	if (d->readonly)
		f |= 1ull << VBLK_F_RO;
	else
		f |= (1ull << VBLK_F_DISCARD) | (1ull << VBLK_F_WRITE_ZEROES);
	return f;
}

static unsigned vblk_nqueues(const struct virtio_env *env, const struct config_disk *cfg)
{
	unsigned n = cfg->queues ? cfg->queues : MIN(MAX(env->ncpus, 1u), VBLK_DEFAULT_QUEUES);

	return MIN(n, (unsigned)VIRTIO_MAX_QUEUES);
}

/* The host alignment cache=none needs: the largest over the chain. */
static uint32_t vblk_host_align(const struct blk *b)
{
	uint32_t a = 1;

	for (; b; b = b->backing)
		a = MAX(a, b->file->align);
	return a;
}

static int vblk_open(struct vblk *d, const struct config_disk *cfg)
{
	struct blk_open_opts o = {
		.format = cfg->format == CONFIG_DISK_QCOW2 ? "qcow2" : "raw",
		.readonly = cfg->readonly,
		.direct = cfg->cache == CONFIG_CACHE_NONE,
	};
	int ret = blk_open(cfg->path, &o, &d->blk);

	if (ret) {
		log_error("%s: cannot open disk image %s (%s, cache=%s): %s", cfg->id, cfg->path,
			  o.format, o.direct ? "none" : "writeback", strerror(-ret));
		return ret;
	}
	d->format = d->blk->drv->format;
	d->readonly = d->blk->readonly;
	d->direct = o.direct;
	d->align = o.direct ? vblk_host_align(d->blk) : 1;
	d->blk_size = MAX(d->align, BLK_SECTOR);
	d->size = (uint64_t)blk_length(d->blk) / BLK_SECTOR * BLK_SECTOR;
	blk_aio_set_batch_done(d->blk, vblk_batch_done, d);
	return 0;
}

static struct vblk *vblk_alloc(const struct virtio_env *env, const struct config_disk *cfg)
{
	struct vblk *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->path = strdup(cfg->path);
	if (!d->path) {
		free(d);
		return NULL;
	}
	snprintf(d->id, sizeof(d->id), "%s", cfg->id);
	pthread_mutex_init(&d->io_lock, NULL);
	pthread_cond_init(&d->idle, NULL);
	d->nqueues = vblk_nqueues(env, cfg);
	vpoll_init(&d->poll, cfg->poll_us);
	for (unsigned i = 0; i < d->nqueues; i++) {
		d->queues[i].d = d;
		d->queues[i].index = i;
	}
	return d;
}

int vblk_create(const struct virtio_env *env, const struct config_disk *cfg,
		struct virtio_dev_info *info)
{
	struct vblk *d = vblk_alloc(env, cfg);
	int ret;

	if (!d) {
		log_error("%s: out of memory", cfg->id);
		return -ENOMEM;
	}
	/* first: it makes d->limit safe for vblk_free, even when it fails */
	ret = vlimit_init(&d->limit, env->loop, &d->handle, cfg->id, &cfg->limit);
	if (ret == 0)
		ret = vblk_open(d, cfg);
	if (ret) {
		vblk_free(d);
		return ret;
	}
	vblk_build_cfg(d);
	memset(info, 0, sizeof(*info));
	info->ops = &vblk_ops;
	info->dev = d;
	info->handle = &d->handle;
	snprintf(info->id, sizeof(info->id), "%s", cfg->id);
	info->nqueues = d->nqueues;
	info->queue_max = VBLK_QUEUE_SIZE;
	info->features = vblk_features(d);
	info->cfg_size = VBLK_CFG_SIZE;
	return 0;
}
