/* blkuring: private interface of the io_uring path for O_DIRECT raw images
 * (blkuring.c), used by the worker pool (blkaio.c) and the unit tests. */
#ifndef VMKIT_BLKURING_H
#define VMKIT_BLKURING_H

#include <stdint.h>
#include <sys/uio.h>

#include "block/block.h"

struct io_uring;
struct blk_uring;

/* How the ring is set up: io_uring_queue_init, or a stand-in in tests. */
typedef int (*blk_uring_init_fn)(unsigned entries, struct io_uring *ring, unsigned flags);

/* One request on the ring, and what is left of it after a short transfer. */
struct blk_uring_op {
	struct blk_req *req;
	struct blk_uring_op *next;
	const struct iovec *iov;   /* what to transfer next: req->iov or rem */
	int iovcnt;
	uint64_t off;
	uint64_t left;             /* bytes not transferred yet */
	struct iovec *rem;         /* owned: the remainder after a short transfer */
	int ret;                   /* the result, once finished */
};

/* The ring for b, or *out = NULL when b does not use one: not a raw image
 * on an O_DIRECT POSIX file, VMKIT_NO_IO_URING set, or init fails (no
 * io_uring here; one debug line). 0, or -errno on a real failure. */
int blk_uring_create(struct blk *b, blk_uring_init_fn init, struct blk_uring **out);
/* 0: req is on the ring, its done() runs on the completion thread;
 * 1: not a request for the ring (other op, refused by the checks of the
 * synchronous API, unaligned): run it on the pool; -ESHUTDOWN after stop. */
int blk_uring_submit(struct blk_uring *u, struct blk_req *req);
/* Refuse new requests, complete every one in flight, join the thread. */
void blk_uring_stop(struct blk_uring *u);
/* Hold back telling the kernel about new requests until the last unplug. */
void blk_uring_plug(struct blk_uring *u);
void blk_uring_unplug(struct blk_uring *u);
void blk_uring_free(struct blk_uring *u);   /* after stop; NULL is fine */

/* Account for a completion of res (bytes or -errno) on op. 0: op is
 * finished with op->ret; 1: submit op again (its remainder). align > 1:
 * O_DIRECT, where a read ending in a partial block means end of file. */
int blk_uring_op_advance(struct blk_uring_op *op, int res, uint32_t align);
void blk_uring_op_init(struct blk_uring_op *op, struct blk_req *req);

#endif
