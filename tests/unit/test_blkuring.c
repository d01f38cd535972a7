/* test_blkuring: the io_uring path of O_DIRECT raw images (blkuring.c):
 * asynchronous writes, reads and flushes in flight (more than the ring
 * holds), errors reaching done(), read-only images, close draining the
 * ring, done() off the submitting thread, short reads completed (by a file
 * shrunk behind the image's back, and by injected completions), and the
 * fallback to the worker pool when io_uring is disabled or unavailable,
 * and plugs (blk_aio_plug/unplug) holding a batch back and merging
 * adjacent reads and writes: data lands and comes back byte for byte, each
 * request of a failed or short merge gets its own result, flushes end a
 * merge, and the merge limits hold; the batch hook runs once a batch of
 * completions is done (a merge's requests all in one batch), off the
 * submitting thread, after the pool's requests too, and before close ends.
 * The image lives in /var/tmp (O_DIRECT needs a real file system). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "block/blkuring.h"
#include "block/block.h"
#include "block/drivers.h"
#include "aio_ctx.h"
#include "scratch_dir.h"

#define BS 4096u
#define N 600u            /* more than the ring's depth (255) */
#define IMG (N * BS)

struct fixture {
	char dir[64];
	char path[128];
};


static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	scratch_dir_make(fx->dir, sizeof(fx->dir), "/var/tmp/vmkit-test-uring-");
	snprintf(fx->path, sizeof(fx->path), "%s/disk.raw", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	struct rlimit lim;

	scratch_dir_remove(fx->dir);
	free(fx);
	unsetenv("VMKIT_NO_IO_URING");
	/* test_uring_merge_error lowers the file size limit; a failed
	 * assertion there must not leave it for the tests after it */
	if (getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != lim.rlim_max) {
		lim.rlim_cur = lim.rlim_max;
		setrlimit(RLIMIT_FSIZE, &lim);
	}
	signal(SIGXFSZ, SIG_DFL);
	return 0;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static uint8_t *abuf(size_t len)
{
	void *p = NULL;

	assert_int_equal(posix_memalign(&p, BS, len), 0);
	memset(p, 0, len);
	return p;
}

static bool uring_works(void)
{
	struct io_uring r;

	if (io_uring_queue_init(4, &r, 0) < 0) {
		fprintf(stderr, "SKIP: io_uring_queue_init fails here: only the pool is tested\n");
		return false;
	}
	io_uring_queue_exit(&r);
	return true;
}

/* The image, O_DIRECT; NULL (and a loud skip) if the file system refuses. */
static struct blk *open_direct(const char *path, uint64_t size, bool readonly)
{
	struct blk_create_opts co = { .size = size };
	struct blk_open_opts o = { .format = "raw", .readonly = readonly, .direct = true };
	struct blk *b = NULL;
	int ret;

	if (size)
		assert_int_equal(blk_create(path, "raw", &co), 0);
	ret = blk_open(path, &o, &b);
	if (ret == -EINVAL) {
		fprintf(stderr, "SKIP: O_DIRECT refused on %s (EINVAL)\n", path);
		return NULL;
	}
	assert_int_equal(ret, 0);
	return b;
}

static void expect_all(struct aio_ctx *c, unsigned n, int ret)
{
	for (unsigned i = 0; i < n; i++) {
		assert_int_equal(c->calls[i], 1);
		assert_int_equal(c->ret[i], ret);
	}
}

/* Writes, a flush, reads back, errors, discard; then close with reads in flight. */
static void run_async(struct blk *b, bool want_uring)
{
	uint8_t *w = abuf(IMG), *r = abuf(IMG);
	struct aio_ctx *c = aio_ctx_new();

	fill(w, IMG, 3);
	for (unsigned i = 0; i < N; i++)   /* in reverse order */
		aio_ctx_submit(b, c, i, BLK_OP_WRITE, (N - 1 - i) * BS, BS, w + (N - 1 - i) * BS);
	assert_int_equal(blk_aio_uring(b), want_uring);
	aio_ctx_submit(b, c, N, BLK_OP_FLUSH, 0, 0, NULL);
	aio_ctx_wait(c, N + 1);
	expect_all(c, N + 1, 0);
	assert_false(c->on_main);
	aio_ctx_reset(c);
	for (unsigned i = 0; i < N; i++)
		aio_ctx_submit(b, c, i, BLK_OP_READ, i * BS, BS, r + i * BS);
	aio_ctx_submit(b, c, N, BLK_OP_READ, IMG, BS, r);              /* past the end */
	aio_ctx_submit(b, c, N + 1, BLK_OP_READ, BS, 100, r);          /* unaligned: the pool's -EINVAL */
	aio_ctx_submit(b, c, N + 2, BLK_OP_WRITE_ZEROES, 0, IMG + 1, NULL);
	aio_ctx_submit(b, c, N + 3, BLK_OP_DISCARD, 0, 2 * BS, NULL);
	aio_ctx_wait(c, N + 4);
	expect_all(c, N, 0);
	assert_int_equal(c->ret[N], -EINVAL);
	assert_int_equal(c->ret[N + 1], -EINVAL);
	assert_int_equal(c->ret[N + 2], -EINVAL);
	assert_int_equal(c->ret[N + 3], 0);
	assert_memory_equal(r + 2 * BS, w + 2 * BS, IMG - 2 * BS);
	assert_false(c->on_main);
	aio_ctx_reset(c);
	for (unsigned i = 0; i < N; i++)
		aio_ctx_submit(b, c, i, BLK_OP_READ, i * BS, BS, r + i * BS);
	blk_close(b);   /* completes them all first */
	assert_int_equal(c->done, N);
	expect_all(c, N, 0);
	aio_ctx_free(c);
	free(w);
	free(r);
}

static void test_uring_async(void **state)
{
	struct fixture *fx = *state;
	struct blk *b = open_direct(fx->path, IMG, false);

	if (!b)
		skip();
	run_async(b, uring_works());
}

/* VMKIT_NO_IO_URING=1: the same requests, on the pool. */
static void test_uring_env_off(void **state)
{
	struct fixture *fx = *state;
	struct blk *b;

	setenv("VMKIT_NO_IO_URING", "1", 1);
	b = open_direct(fx->path, IMG, false);
	if (!b)
		skip();
	run_async(b, false);
}

static void test_uring_readonly(void **state)
{
	struct fixture *fx = *state;
	uint8_t *buf = abuf(BS);
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b = open_direct(fx->path, IMG, true);

	if (!b)
		skip();
	aio_ctx_submit(b, c, 0, BLK_OP_READ, 0, BS, buf);
	aio_ctx_submit(b, c, 1, BLK_OP_WRITE, 0, BS, buf);
	aio_ctx_submit(b, c, 2, BLK_OP_FLUSH, 0, 0, NULL);
	aio_ctx_wait(c, 3);
	assert_int_equal(c->ret[0], 0);
	assert_int_equal(c->ret[1], -EROFS);
	assert_int_equal(c->ret[2], 0);
	assert_int_equal(blk_aio_uring(b), uring_works());
	blk_close(b);
	aio_ctx_free(c);
	free(buf);
}

/* Fill the image with w's pattern, cut the file to size behind the
 * image's back, poison the four blocks of r the read will land in. */
static void write_and_shrink(struct fixture *fx, struct blk *b, uint8_t *w, off_t size,
			     uint8_t *r)
{
	fill(w, IMG, 8);
	assert_int_equal(blk_pwrite(b, 0, w, IMG), 0);
	assert_int_equal(truncate(fx->path, size), 0);
	memset(r, 0xaa, 4 * BS);
}

/* The file shrinks behind the image's back: reads across the new end of
 * file come back short and end in zeros, as the synchronous API's do; one
 * ends at a block boundary (the remainder is resubmitted and reads 0
 * bytes), one inside a block (a partial block: end of file). */
static void test_uring_short_read(void **state)
{
	struct fixture *fx = *state;
	uint8_t *w = abuf(IMG), *r = abuf(4 * BS), *want = abuf(4 * BS);
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b = open_direct(fx->path, IMG, false);

	if (!b)
		skip();
	write_and_shrink(fx, b, w, IMG - 2 * BS, r);
	aio_ctx_submit(b, c, 0, BLK_OP_READ, IMG - 4 * BS, 4 * BS, r);
	aio_ctx_wait(c, 1);
	assert_int_equal(c->ret[0], 0);
	memcpy(want, w + IMG - 4 * BS, 2 * BS);
	assert_memory_equal(r, want, 4 * BS);
	assert_int_equal(truncate(fx->path, IMG - 3 * BS + 1000), 0);
	memset(r, 0xaa, 4 * BS);
	aio_ctx_submit(b, c, 1, BLK_OP_READ, IMG - 4 * BS, 4 * BS, r);
	aio_ctx_wait(c, 2);
	assert_int_equal(c->ret[1], 0);
	assert_int_equal(blk_aio_uring(b), uring_works());
	memset(want, 0, 4 * BS);
	memcpy(want, w + IMG - 4 * BS, BS + 1000);
	assert_memory_equal(r, want, 4 * BS);
	assert_false(c->on_main);
	blk_close(b);
	aio_ctx_free(c);
	free(w);
	free(r);
	free(want);
}

/* Injected completions: the remainder of a three-segment request. */
static void test_uring_advance(void **state)
{
	uint8_t seg[3][BS];
	struct iovec iov[3] = { { seg[0], BS }, { seg[1], BS }, { seg[2], BS } };
	struct blk_req req = { .op = BLK_OP_WRITE, .off = 8192, .iov = iov, .iovcnt = 3 };
	struct blk_uring_op op;

	blk_uring_op_init(&op, &req);
	assert_int_equal(op.left, 3 * BS);
	assert_int_equal(blk_uring_op_advance(&op, -EAGAIN, 512), 1);   /* again, unchanged */
	assert_int_equal(op.left, 3 * BS);
	assert_int_equal(blk_uring_op_advance(&op, BS + 1024, 512), 1);
	assert_int_equal(op.off, 8192 + BS + 1024);
	assert_int_equal(op.left, 2 * BS - 1024);
	assert_int_equal(op.iovcnt, 2);
	assert_ptr_equal(op.iov[0].iov_base, seg[1] + 1024);
	assert_int_equal(op.iov[0].iov_len, BS - 1024);
	assert_ptr_equal(op.iov[1].iov_base, seg[2]);
	assert_int_equal(blk_uring_op_advance(&op, BS, 512), 1);
	assert_int_equal(op.iovcnt, 1);
	assert_ptr_equal(op.iov[0].iov_base, seg[2] + 1024);
	assert_int_equal(blk_uring_op_advance(&op, 0, 512), 0);          /* no progress */
	assert_int_equal(op.ret, -EIO);
	free(op.rem);
	/* A read: end of file after 1000 bytes of the second segment. */
	req.op = BLK_OP_READ;
	memset(seg, 0xaa, sizeof(seg));
	blk_uring_op_init(&op, &req);
	assert_int_equal(blk_uring_op_advance(&op, BS, 512), 1);
	assert_int_equal(blk_uring_op_advance(&op, 1000, 512), 0);
	assert_int_equal(op.ret, 0);
	assert_int_equal(seg[0][BS - 1], 0xaa);
	assert_int_equal(seg[1][999], 0xaa);
	for (size_t i = 1000; i < BS; i++)
		assert_int_equal(seg[1][i], 0);
	for (size_t i = 0; i < BS; i++)
		assert_int_equal(seg[2][i], 0);
	free(op.rem);
	/* Errors and flushes. */
	blk_uring_op_init(&op, &req);
	assert_int_equal(blk_uring_op_advance(&op, -EIO, 512), 0);
	assert_int_equal(op.ret, -EIO);
	assert_int_equal(blk_uring_op_advance(&op, 3 * BS, 512), 0);
	assert_int_equal(op.ret, 0);
	req.op = BLK_OP_FLUSH;
	blk_uring_op_init(&op, &req);
	assert_int_equal(blk_uring_op_advance(&op, 0, 512), 0);
	assert_int_equal(op.ret, 0);
}

/* Plugged requests wait for the last unplug; an unplug alone is harmless. */
static void test_uring_plug(void **state)
{
	struct fixture *fx = *state;
	uint8_t *r = abuf(8 * BS);
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b = open_direct(fx->path, IMG, false);

	if (!b)
		skip();
	blk_aio_unplug(b);   /* before the first request: no ring yet */
	aio_ctx_submit(b, c, 0, BLK_OP_READ, 0, BS, r);
	aio_ctx_wait(c, 1);
	if (!blk_aio_uring(b)) {
		fprintf(stderr, "SKIP: no io_uring: plugs do nothing\n");
		blk_close(b);
		aio_ctx_free(c);
		free(r);
		skip();
	}
	aio_ctx_reset(c);
	blk_aio_plug(b);
	blk_aio_plug(b);
	for (unsigned i = 0; i < 8; i++)
		aio_ctx_submit(b, c, i, BLK_OP_READ, i * BS, BS, r + i * BS);
	blk_aio_unplug(b);
	usleep(50000);
	assert_int_equal(c->done, 0);   /* still held back by the outer plug */
	blk_aio_unplug(b);
	aio_ctx_wait(c, 8);
	expect_all(c, 8, 0);
	blk_aio_unplug(b);   /* unmatched: ignored */
	blk_aio_plug(b);     /* a plug left on at close: close still drains */
	aio_ctx_submit(b, c, 8, BLK_OP_READ, 0, BS, r);
	blk_close(b);
	assert_int_equal(c->calls[8], 1);
	assert_int_equal(c->ret[8], 0);
	aio_ctx_free(c);
	free(r);
}

/* The image with a ring, or NULL (skip) when O_DIRECT or io_uring is
 * missing here. */
static struct blk *open_ring(struct fixture *fx)
{
	struct blk *b = open_direct(fx->path, IMG, false);
	uint8_t *buf;
	struct aio_ctx *c;

	if (!b)
		return NULL;
	buf = abuf(BS);
	c = aio_ctx_new();
	aio_ctx_submit(b, c, 0, BLK_OP_READ, 0, BS, buf);   /* starts the ring */
	aio_ctx_wait(c, 1);
	aio_ctx_free(c);
	free(buf);
	if (blk_aio_uring(b))
		return b;
	fprintf(stderr, "SKIP: no io_uring: nothing merges on the ring\n");
	blk_close(b);
	return NULL;
}

/* Requests i..i+n-1 of c: op on n blocks from block blk0, buffer buf. */
static void submit_run(struct blk *b, struct aio_ctx *c, size_t i, enum blk_op op, unsigned blk0,
		       unsigned n, uint8_t *buf)
{
	for (unsigned k = 0; k < n; k++)
		aio_ctx_submit(b, c, i + k, op, (uint64_t)(blk0 + k) * BS, BS, buf + k * BS);
}

/* Unplugged, contiguous writes stay apart (even those waiting for room on
 * the ring); plugged, they merge (two streams and a lone write) and land
 * byte for byte. */
static void test_uring_merge_write(void **state)
{
	uint8_t *w = abuf(IMG), *r = abuf(64 * BS);
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b = open_ring(*state);

	if (!b)
		skip();
	fill(w, IMG, 21);
	submit_run(b, c, 0, BLK_OP_WRITE, 100, 400, w);   /* more than the ring holds */
	aio_ctx_wait(c, 400);
	expect_all(c, 400, 0);
	assert_int_equal(blk_aio_merged(b), 0);
	aio_ctx_reset(c);
	blk_aio_plug(b);
	submit_run(b, c, 0, BLK_OP_WRITE, 0, 20, w);               /* one merge of 20 */
	submit_run(b, c, 20, BLK_OP_WRITE, 40, 10, w + 20 * BS);   /* a second stream */
	aio_ctx_submit(b, c, 30, BLK_OP_WRITE, 30 * BS, BS, w + 30 * BS);   /* no neighbour */
	usleep(20000);
	assert_int_equal(c->done, 0);
	blk_aio_unplug(b);
	aio_ctx_wait(c, 31);
	expect_all(c, 31, 0);
	assert_int_equal(blk_aio_merged(b), 19 + 9);
	assert_int_equal(blk_pread(b, 0, r, 20 * BS), 0);
	assert_memory_equal(r, w, 20 * BS);
	assert_int_equal(blk_pread(b, 30 * BS, r, BS), 0);
	assert_memory_equal(r, w + 30 * BS, BS);
	assert_int_equal(blk_pread(b, 40 * BS, r, 10 * BS), 0);
	assert_memory_equal(r, w + 20 * BS, 10 * BS);
	blk_close(b);
	aio_ctx_free(c);
	free(w);
	free(r);
}

/* Plugged reads merge and each request gets its own blocks; the limits:
 * BLKURING_MERGE_REQS requests, BLKURING_MERGE_BYTES bytes per merge. */
static void test_uring_merge_read(void **state)
{
	uint8_t *w = abuf(IMG), *r = abuf(IMG);
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b = open_ring(*state);
	enum { RUN = BLKURING_MERGE_REQS + 8 };
	unsigned big = BLKURING_MERGE_BYTES / 2 / BS;   /* blocks per request */

	if (!b)
		skip();
	fill(w, IMG, 5);
	assert_int_equal(blk_pwrite(b, 0, w, IMG), 0);
	blk_aio_plug(b);
	for (unsigned k = 0; k < RUN; k++)   /* two merges: all it takes, then 8 */
		aio_ctx_submit(b, c, k, BLK_OP_READ, (uint64_t)(400 + k) * BS, BS,
			       r + (400 + k) * BS);
	for (unsigned k = 0; k < 3; k++)    /* two fit one merge, the third does not */
		aio_ctx_submit(b, c, RUN + k, BLK_OP_READ, (uint64_t)k * big * BS, big * BS,
			       r + (size_t)k * big * BS);
	blk_aio_unplug(b);
	aio_ctx_wait(c, RUN + 3);
	expect_all(c, RUN + 3, 0);
	assert_int_equal(blk_aio_merged(b), (BLKURING_MERGE_REQS - 1) + 7 + 1);
	assert_memory_equal(r + 400 * BS, w + 400 * BS, RUN * BS);
	assert_memory_equal(r, w, 3 * big * BS);
	blk_close(b);
	aio_ctx_free(c);
	free(w);
	free(r);
}

/* A flush ends a merge: the writes before it and after it stay apart, and
 * everything lands. A request the ring refuses (past the end) goes to the
 * pool with its own error, and does not end a merge on the ring. */
static void test_uring_merge_flush(void **state)
{
	uint8_t *w = abuf(8 * BS), *r = abuf(8 * BS);
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b = open_ring(*state);

	if (!b)
		skip();
	fill(w, 8 * BS, 9);
	blk_aio_plug(b);
	submit_run(b, c, 0, BLK_OP_WRITE, 10, 2, w);
	aio_ctx_submit(b, c, 2, BLK_OP_FLUSH, 0, 0, NULL);
	submit_run(b, c, 3, BLK_OP_WRITE, 12, 2, w + 2 * BS);
	aio_ctx_submit(b, c, 5, BLK_OP_WRITE, IMG, BS, w);          /* past the end */
	submit_run(b, c, 6, BLK_OP_WRITE, 14, 4, w + 4 * BS);
	blk_aio_unplug(b);
	aio_ctx_wait(c, 10);
	for (unsigned i = 0; i < 10; i++)
		assert_int_equal(c->ret[i], i == 5 ? -EINVAL : 0);
	assert_int_equal(blk_aio_merged(b), 1 + 1 + 4);
	assert_int_equal(blk_pread(b, 10 * BS, r, 8 * BS), 0);
	assert_memory_equal(r, w, 8 * BS);
	blk_close(b);
	aio_ctx_free(c);
	free(w);
	free(r);
}

/* A merged write that crosses the file size limit comes back short and
 * then fails (EFBIG): it is split, and each write gets its own result:
 * the ones below the limit land, the others fail. */
static void test_uring_merge_error(void **state)
{
	struct rlimit old, lim = { .rlim_cur = 3 * BS };
	uint8_t *w = abuf(6 * BS), *r = abuf(3 * BS);
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b = open_ring(*state);

	if (!b)
		skip();
	fill(w, 6 * BS, 17);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim.rlim_max = old.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	blk_aio_plug(b);
	submit_run(b, c, 0, BLK_OP_WRITE, 0, 6, w);
	blk_aio_unplug(b);
	aio_ctx_wait(c, 6);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	for (unsigned i = 0; i < 6; i++) {
		assert_int_equal(c->calls[i], 1);
		assert_int_equal(c->ret[i], i < 3 ? 0 : -EFBIG);
	}
	assert_int_equal(blk_aio_merged(b), 5);
	assert_int_equal(blk_pread(b, 0, r, 3 * BS), 0);
	assert_memory_equal(r, w, 3 * BS);
	blk_close(b);
	aio_ctx_free(c);
	free(w);
	free(r);
}

/* The file shrinks behind the image's back: a merged read across the new
 * end gives each request its own blocks, the partial one and zeros. */
static void test_uring_merge_short(void **state)
{
	struct fixture *fx = *state;
	uint8_t *w = abuf(IMG), *r = abuf(4 * BS), *want = abuf(4 * BS);
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b = open_ring(fx);

	if (!b)
		skip();
	write_and_shrink(fx, b, w, IMG - 2 * BS - 1000, r);
	blk_aio_plug(b);
	submit_run(b, c, 0, BLK_OP_READ, N - 4, 4, r);
	blk_aio_unplug(b);
	aio_ctx_wait(c, 4);
	expect_all(c, 4, 0);
	assert_int_equal(blk_aio_merged(b), 3);
	memcpy(want, w + IMG - 4 * BS, 2 * BS - 1000);
	assert_memory_equal(r, want, 4 * BS);
	blk_close(b);
	aio_ctx_free(c);
	free(w);
	free(r);
	free(want);
}

/* Merging and splitting ops by hand: what continues what, the remainder of
 * a short merged transfer, and a split putting every request back. */
static void test_uring_merge_ops(void **state)
{
	static uint8_t seg[4][BS];
	struct iovec iov[4] = { { seg[0], BS }, { seg[1], BS }, { seg[2], BS }, { seg[3], BS } };
	struct blk_req req[4], fl = { .op = BLK_OP_FLUSH }, next;
	struct blk_uring_op op[4], flop, nop, *list;

	for (unsigned i = 0; i < 4; i++) {
		req[i] = (struct blk_req){ .op = BLK_OP_WRITE, .off = 8192 + i * BS, .iov = &iov[i],
					   .iovcnt = 1 };
		blk_uring_op_init(&op[i], &req[i]);
	}
	blk_uring_op_init(&flop, &fl);
	assert_int_equal(blk_uring_op_merge(&op[0], &op[2]), 1);   /* a gap */
	assert_int_equal(blk_uring_op_merge(&op[0], &flop), 1);
	assert_int_equal(blk_uring_op_merge(&flop, &op[0]), 1);
	req[1].op = BLK_OP_READ;
	assert_int_equal(blk_uring_op_merge(&op[0], &op[1]), 1);   /* another op */
	req[1].op = BLK_OP_WRITE;
	op[0].solo = true;
	assert_int_equal(blk_uring_op_merge(&op[0], &op[1]), 1);
	op[0].solo = false;
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(blk_uring_op_merge(&op[0], &op[i]), 0);
	assert_int_equal(op[0].nreqs, 4);
	assert_int_equal(op[0].left, 4 * BS);
	assert_int_equal(op[0].iovcnt, 4);
	assert_ptr_equal(op[0].iov[3].iov_base, seg[3]);
	assert_int_equal(blk_uring_op_advance(&op[0], BS + 512, 512), 1);   /* short */
	assert_int_equal(op[0].off, 8192 + BS + 512);
	assert_int_equal(op[0].iovcnt, 3);
	next = (struct blk_req){ .op = BLK_OP_WRITE, .off = 8192 + 4 * BS, .iov = &iov[0],
				 .iovcnt = 1 };
	blk_uring_op_init(&nop, &next);
	assert_int_equal(blk_uring_op_merge(&op[0], &nop), 1);   /* a remainder is solo */
	assert_int_equal(blk_uring_op_advance(&op[0], -EIO, 512), 0);
	assert_int_equal(op[0].ret, -EIO);
	list = blk_uring_op_split(&op[0]);
	for (unsigned i = 0; i < 4; i++, list = list->next) {
		assert_ptr_equal(list, &op[i]);
		assert_true(list->solo);
		assert_int_equal(list->nreqs, 1);
		assert_int_equal(list->off, req[i].off);
		assert_int_equal(list->left, BS);
		assert_ptr_equal(list->iov, &iov[i]);
		assert_null(list->rem);
		assert_null(list->cat);
	}
	assert_null(list);
	assert_int_equal(blk_uring_op_merge(&op[0], &op[1]), 1);   /* split: solo */
}

static int init_fails(unsigned entries, struct io_uring *ring, unsigned flags)
{
	return -ENOSYS;
}

/* blk_aio_set_batch_done: a merged request's eight reads are all done when
 * their batch ends; a request the pool runs (unaligned) ends a batch too;
 * no done() is left without a batch end after it when close returns. */
static void test_uring_batch_done(void **state)
{
	struct fixture *fx = *state;
	uint8_t *r = abuf(8 * BS);
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b = open_direct(fx->path, IMG, false);

	if (!b)
		skip();
	blk_aio_set_batch_done(b, aio_ctx_batch_done, c);
	aio_ctx_submit(b, c, 0, BLK_OP_READ, 0, BS, r);   /* starts the ring */
	aio_ctx_wait_batch(c, 1);
	if (!blk_aio_uring(b)) {
		fprintf(stderr, "SKIP: no io_uring: no ring batches\n");
		blk_close(b);
		aio_ctx_free(c);
		free(r);
		skip();
	}
	aio_ctx_reset(c);
	blk_aio_plug(b);
	submit_run(b, c, 0, BLK_OP_READ, 8, 8, r);
	blk_aio_unplug(b);
	aio_ctx_wait_batch(c, 8);
	assert_int_equal(blk_aio_merged(b), 7);   /* one readv: one completion */
	assert_int_equal(c->done_at_first, 8);
	expect_all(c, 8, 0);
	aio_ctx_submit(b, c, 8, BLK_OP_READ, BS, 100, r);   /* unaligned: the pool */
	aio_ctx_wait_batch(c, 9);
	assert_int_equal(c->ret[8], -EINVAL);
	submit_run(b, c, 9, BLK_OP_READ, 0, 8, r);
	blk_close(b);
	assert_int_equal(c->done, 17);
	assert_int_equal(c->done_at_last, 17);
	assert_false(c->on_main);
	aio_ctx_free(c);
	free(r);
}

/* Who gets a ring: O_DIRECT raw on a POSIX file, when init works. */
static void test_uring_create(void **state)
{
	struct fixture *fx = *state;
	struct blk_open_opts o = { .format = "raw" };
	struct blk_uring *u = (struct blk_uring *)1;
	struct blk *b = open_direct(fx->path, IMG, false), *bc;

	if (!b)
		skip();
	assert_int_equal(blk_uring_create(b, init_fails, &u), 0);
	assert_null(u);
	assert_int_equal(blk_uring_create(b, io_uring_queue_init, &u), 0);
	assert_true(!u == !uring_works());
	blk_uring_free(u);
	setenv("VMKIT_NO_IO_URING", "1", 1);
	assert_int_equal(blk_uring_create(b, io_uring_queue_init, &u), 0);
	assert_null(u);
	unsetenv("VMKIT_NO_IO_URING");
	blk_close(b);
	assert_int_equal(blk_open(fx->path, &o, &bc), 0);   /* page cache */
	assert_int_equal(blk_uring_create(bc, io_uring_queue_init, &u), 0);
	assert_null(u);
	blk_close(bc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_uring_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_env_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_short_read, setup, teardown),
		cmocka_unit_test(test_uring_advance),
		cmocka_unit_test_setup_teardown(test_uring_plug, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_merge_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_merge_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_merge_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_merge_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uring_merge_short, setup, teardown),
		cmocka_unit_test(test_uring_merge_ops),
		cmocka_unit_test_setup_teardown(test_uring_batch_done, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
