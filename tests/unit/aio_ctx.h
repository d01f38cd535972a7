/* aio_ctx: bookkeeping for the block layer's asynchronous requests in unit
 * tests (test_block.c, test_blkuring.c): a table of requests with their
 * iovecs, the done() callback that records each result and whether it ran
 * on the test's own thread, the batch hook (blk_aio_set_batch_done) that
 * records how many requests were done at each batch's end, and waits for N
 * completions and for a batch end after them. */
#ifndef VMKIT_TEST_AIO_CTX_H
#define VMKIT_TEST_AIO_CTX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "block/block.h"

#define AIO_CTX_MAX 616   /* requests per context */

struct aio_ctx {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned done;
	unsigned calls[AIO_CTX_MAX];
	int ret[AIO_CTX_MAX];
	pthread_t main;           /* the thread that made the context */
	bool on_main;             /* a done() or batch hook ran on it */
	unsigned batches;         /* batch hook calls */
	unsigned done_at_first;   /* done at the first batch end */
	unsigned done_at_last;    /* done at the latest batch end */
	struct blk_req req[AIO_CTX_MAX];
	struct iovec iov[AIO_CTX_MAX];
};

struct aio_ctx *aio_ctx_new(void);
void aio_ctx_reset(struct aio_ctx *c);
void aio_ctx_free(struct aio_ctx *c);
/* The done() of every request submitted through aio_ctx_submit. */
void aio_ctx_done(struct blk_req *req, int ret);
/* The batch hook: blk_aio_set_batch_done(b, aio_ctx_batch_done, c). */
void aio_ctx_batch_done(void *opaque);
/* Block until n requests completed. */
void aio_ctx_wait(struct aio_ctx *c, unsigned n);
/* Block until a batch ended with n requests completed. */
void aio_ctx_wait_batch(struct aio_ctx *c, unsigned n);
/* Request i: op on [off, off+len) with buf as its one segment (NULL: none);
 * the submission must be accepted. */
void aio_ctx_submit(struct blk *b, struct aio_ctx *c, size_t i, enum blk_op op, uint64_t off,
		    uint64_t len, uint8_t *buf);

#endif
