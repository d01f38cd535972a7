/* test_blkuring: the io_uring path of O_DIRECT raw images (blkuring.c):
 * asynchronous writes, reads and flushes in flight (more than the ring
 * holds), errors reaching done(), read-only images, close draining the
 * ring, done() off the submitting thread, short reads completed (by a file
 * shrunk behind the image's back, and by injected completions), and the
 * fallback to the worker pool when io_uring is disabled or unavailable,
 * and plugs (blk_aio_plug/unplug) holding a batch back.
 * The image lives in /var/tmp (O_DIRECT needs a real file system). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

	scratch_dir_remove(fx->dir);
	free(fx);
	unsetenv("VMKIT_NO_IO_URING");
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
	fill(w, IMG, 8);
	assert_int_equal(blk_pwrite(b, 0, w, IMG), 0);
	assert_int_equal(truncate(fx->path, IMG - 2 * BS), 0);
	memset(r, 0xaa, 4 * BS);
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

static int init_fails(unsigned entries, struct io_uring *ring, unsigned flags)
{
	return -ENOSYS;
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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
