/* blkuring: private interface of the io_uring path for O_DIRECT raw images
 * (blkuring.c), used by the worker pool (blkaio.c) and the unit tests:
 * the ring, and the per-request state (struct blk_uring_op) with the
 * merging of adjacent requests into one. */
#ifndef VMKIT_BLKURING_H
#define VMKIT_BLKURING_H

#include <stdint.h>
#include <sys/uio.h>

#include "block/block.h"

struct io_uring;
struct blk_uring;

/* How the ring is set up: io_uring_queue_init, or a stand-in in tests. */
typedef int (*blk_uring_init_fn)(unsigned entries, struct io_uring *ring, unsigned flags);

/* A merge takes at most this many requests, and this many bytes (QEMU's
 * virtio-blk merges up to 32 requests). The kernel splits what a disk
 * cannot take as one request, which costs less than the requests it saves:
 * a guest's stream of 128 KiB requests, 8 in flight, becomes one 1 MiB
 * readv per round trip instead of eight. */
#define BLKURING_MERGE_REQS 32u
#define BLKURING_MERGE_BYTES (1u << 20)

/* One request on the ring, and what is left of it after a short transfer.
 * A merged one carries the requests that continue it (parts), all run as
 * one readv/writev over every part's segments (cat). */
struct blk_uring_op {
	struct blk_req *req;       /* the request; the first one, when merged */
	struct blk_uring_op *next;
	struct blk_uring_op *parts, *last;   /* merged: the others, in order (by next) */
	const struct iovec *iov;   /* what to transfer next: req->iov, cat or rem */
	int iovcnt;
	uint64_t off;
	uint64_t left;             /* bytes not transferred yet */
	struct iovec *rem;         /* owned: the remainder after a short transfer */
	struct iovec *cat;         /* owned, when merged: every part's segments */
	int catcap;
	unsigned nreqs;            /* requests this op runs: 1, more when merged */
	bool solo;                 /* nothing merges into it (resubmitted, or split) */
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
/* Hold back telling the kernel about new requests until the last unplug
 * (the completion thread still sends what waits when it refills the ring). */
void blk_uring_plug(struct blk_uring *u);
void blk_uring_unplug(struct blk_uring *u);
void blk_uring_free(struct blk_uring *u);   /* after stop; NULL is fine */
/* Completions on the ring that the completion thread has not taken yet. */
bool blk_uring_cq_waiting(struct blk_uring *u);

/* Account for a completion of res (bytes or -errno) on op. 0: op is
 * finished with op->ret; 1: submit op again (its remainder), which takes no
 * merges from then on (solo). align > 1:
 * O_DIRECT, where a read ending in a partial block means end of file. */
int blk_uring_op_advance(struct blk_uring_op *op, int res, uint32_t align);
void blk_uring_op_init(struct blk_uring_op *op, struct blk_req *req);
/* Let op (not started) also run part (fresh, unmerged), the read or write
 * that continues it: 0; 1 when part does not continue op or the limits
 * (BLKURING_MERGE_*, IOV_MAX segments) say no; -ENOMEM. */
int blk_uring_op_merge(struct blk_uring_op *op, struct blk_uring_op *part);
/* Undo a merge after it failed: op and its parts, each on its own again
 * from the start and marked solo, chained by next (op first). */
struct blk_uring_op *blk_uring_op_split(struct blk_uring_op *op);
/* Free op's own memory (not its parts, not op). */
void blk_uring_op_release(struct blk_uring_op *op);
/* Requests that rode along in another's merged request, since created. */
uint64_t blk_uring_merged(struct blk_uring *u);

#endif
