/* test_block: the generic block layer and the raw driver: create/open/close,
 * request validation (ranges, read-only, bad vectors), raw I/O, resize,
 * discard/write-zeroes/allocation status, probing, image locks through
 * blk_open, asynchronous requests from worker threads, and the backing
 * chain rules (relative names, format required, depth limit, loops) on
 * qcow2 images made by qemu-img when it is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"
#include "common/util.h"
#include "aio_ctx.h"
#include "scratch_dir.h"

struct fixture {
	char dir[64];
	char path[128];
	char errpath[160];
	int saved_stderr;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	scratch_dir_make(fx->dir, sizeof(fx->dir), "/var/tmp/vmkit-test-block-");
	snprintf(fx->path, sizeof(fx->path), "%s/disk.raw", fx->dir);
	snprintf(fx->errpath, sizeof(fx->errpath), "%s/stderr", fx->dir);
	fx->saved_stderr = -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	scratch_dir_remove(fx->dir);
	free(fx);
	return 0;
}

static void capture_begin(struct fixture *fx)
{
	int fd = open(fx->errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	fx->saved_stderr = dup(STDERR_FILENO);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

/* Restore stderr; true if the captured log contains needle. */
static bool capture_end(struct fixture *fx, const char *needle)
{
	uint8_t *buf;
	size_t len;
	bool found;

	assert_int_equal(dup2(fx->saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(fx->saved_stderr);
	assert_int_equal(util_read_file(fx->errpath, 1 << 20, &buf, &len), 0);
	buf = realloc(buf, len + 1);
	assert_non_null(buf);
	buf[len] = 0;
	found = strstr((char *)buf, needle) != NULL;
	if (!found)
		fprintf(stderr, "log lacks '%s':\n%s", needle, (char *)buf);
	free(buf);
	return found;
}

static int run_quiet(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int run_quiet(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have_qemu_img(void)
{
	return run_quiet("qemu-img --version >/dev/null 2>&1") == 0;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static struct blk *open_raw(const char *path, bool readonly)
{
	struct blk_open_opts o = { .format = "raw", .readonly = readonly };
	struct blk *b = NULL;

	assert_int_equal(blk_open(path, &o, &b), 0);
	assert_non_null(b);
	return b;
}

static void create_raw(const char *path, uint64_t size)
{
	struct blk_create_opts co = { .size = size };

	assert_int_equal(blk_create(path, "raw", &co), 0);
}

static int64_t host_blocks(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (int64_t)st.st_blocks * 512;
}

/* ---------------------------------------------------------------------- */
/* raw through the block layer                                            */

static void test_raw_rw(void **state)
{
	struct fixture *fx = *state;
	uint8_t w[12288], r[12288];
	struct iovec wv[3] = { { w, 1000 }, { w + 1000, 5000 }, { w + 6000, 6288 } };
	struct iovec rv[2] = { { r, 7 }, { r + 7, 12281 } };
	struct blk *b;

	create_raw(fx->path, 1 << 20);
	b = open_raw(fx->path, false);
	assert_string_equal(b->drv->format, "raw");
	assert_string_equal(b->filename, fx->path);
	assert_false(b->readonly);
	assert_int_equal(b->depth, 0);
	assert_null(b->backing);
	assert_int_equal(blk_length(b), 1 << 20);
	fill(w, sizeof(w), 1);
	assert_int_equal(blk_writev(b, 4096, wv, 3), 0);
	memset(r, 0, sizeof(r));
	assert_int_equal(blk_readv(b, 4096, rv, 2), 0);
	assert_memory_equal(r, w, sizeof(r));
	/* Unaligned single-buffer I/O, and the last byte of the image. */
	assert_int_equal(blk_pwrite(b, 123, "abc", 3), 0);
	assert_int_equal(blk_pwrite(b, (1 << 20) - 1, "z", 1), 0);
	assert_int_equal(blk_pread(b, 122, r, 5), 0);
	assert_memory_equal(r, "\0abc\0", 5);
	assert_int_equal(blk_pread(b, (1 << 20) - 1, r, 1), 0);
	assert_int_equal(r[0], 'z');
	assert_int_equal(blk_flush(b), 0);
	/* Zero-length requests at the end are fine; no driver call. */
	assert_int_equal(blk_pread(b, 1 << 20, r, 0), 0);
	assert_int_equal(blk_readv(b, 0, NULL, 0), 0);
	blk_close(b);
	/* The data is in the file, at the same offsets. */
	b = open_raw(fx->path, true);
	assert_int_equal(blk_pread(b, 4096, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(r));
	blk_close(b);
	blk_close(NULL);
}

static void test_bad_requests(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[16] = { 0 };
	struct iovec big[2] = { { buf, SIZE_MAX }, { buf, 2 } };
	struct iovec nullbase = { NULL, 4 };
	uint64_t pnum;
	unsigned st;
	struct blk *b;

	create_raw(fx->path, 65536);
	b = open_raw(fx->path, false);
	capture_begin(fx);
	assert_int_equal(blk_pread(b, 65535, buf, 2), -EINVAL);
	assert_true(capture_end(fx, "beyond the end of the image"));
	assert_int_equal(blk_pwrite(b, 65536, buf, 1), -EINVAL);
	assert_int_equal(blk_pwrite(b, UINT64_MAX, buf, 2), -EINVAL);
	assert_int_equal(blk_pread(b, UINT64_MAX - 1, buf, 4), -EINVAL);
	assert_int_equal(blk_readv(b, 0, big, 2), -EINVAL);
	assert_int_equal(blk_readv(b, 0, big, -1), -EINVAL);
	assert_int_equal(blk_readv(b, 0, NULL, 1), -EINVAL);
	assert_int_equal(blk_writev(b, 0, &nullbase, 1), -EINVAL);
	assert_int_equal(blk_discard(b, 65536 - 512, 1024), -EINVAL);
	assert_int_equal(blk_write_zeroes(b, UINT64_MAX - 10, 20, true), -EINVAL);
	assert_int_equal(blk_block_status(b, 65536, 1, &pnum, &st, NULL), -EINVAL);
	assert_int_equal(blk_block_status(b, 0, 0, &pnum, &st, NULL), -EINVAL);
	assert_int_equal(blk_resize(b, BLK_MAX_SIZE + 1), -EINVAL);
	assert_int_equal(blk_length(b), 65536);
	blk_close(b);
	/* Nothing was written. */
	assert_int_equal(host_blocks(fx->path), 0);
}

static void test_readonly(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[512];
	struct blk *b;

	create_raw(fx->path, 65536);
	b = open_raw(fx->path, true);
	assert_true(b->readonly);
	assert_int_equal(blk_pread(b, 0, buf, sizeof(buf)), 0);
	capture_begin(fx);
	assert_int_equal(blk_pwrite(b, 0, buf, sizeof(buf)), -EROFS);
	assert_true(capture_end(fx, fx->path));
	assert_int_equal(blk_discard(b, 0, 512), -EROFS);
	assert_int_equal(blk_write_zeroes(b, 0, 512, false), -EROFS);
	assert_int_equal(blk_resize(b, 4096), -EROFS);
	assert_int_equal(blk_flush(b), 0);
	assert_int_equal(blk_length(b), 65536);
	blk_close(b);
}

static void test_raw_resize(void **state)
{
	struct fixture *fx = *state;
	uint8_t buf[4096];
	struct blk *b;
	struct stat st;

	create_raw(fx->path, 65536);
	b = open_raw(fx->path, false);
	memset(buf, 0x77, sizeof(buf));
	assert_int_equal(blk_pwrite(b, 61440, buf, sizeof(buf)), 0);
	assert_int_equal(blk_resize(b, 1 << 20), 0);
	assert_int_equal(blk_length(b), 1 << 20);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_size, 1 << 20);
	assert_int_equal(blk_pread(b, 65536, buf, sizeof(buf)), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(blk_pwrite(b, (1 << 20) - 4096, buf, sizeof(buf)), 0);
	/* Shrink: the old tail is gone, requests beyond the new end fail. */
	assert_int_equal(blk_resize(b, 63488), 0);
	assert_int_equal(blk_length(b), 63488);
	assert_int_equal(blk_pread(b, 61440, buf, 2048), 0);
	assert_int_equal(buf[0], 0x77);
	assert_int_equal(blk_pread(b, 61440, buf, 4096), -EINVAL);
	blk_close(b);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_size, 63488);
}

static void test_raw_zeroes_status(void **state)
{
	struct fixture *fx = *state;
	size_t len = 1 << 20;
	uint8_t *buf = malloc(len);
	uint64_t pnum, hoff;
	unsigned st;
	struct blk *b;

	assert_non_null(buf);
	create_raw(fx->path, len);
	b = open_raw(fx->path, false);
	fill(buf, len, 5);
	assert_int_equal(blk_pwrite(b, 0, buf, 256 << 10), 0);
	/* [0, 256K) data, the rest a hole. */
	assert_int_equal(blk_block_status(b, 0, len, &pnum, &st, &hoff), 0);
	assert_int_equal(pnum, 256 << 10);
	assert_int_equal(st, BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET);
	assert_int_equal(hoff, 0);
	assert_int_equal(blk_block_status(b, 256 << 10, UINT64_MAX, &pnum, &st, &hoff), 0);
	assert_int_equal(pnum, len - (256 << 10));   /* clamped to the image */
	assert_int_equal(st, BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET);
	assert_int_equal(hoff, 256 << 10);
	/* write_zeroes with unmap punches: zeros and a hole. */
	assert_int_equal(blk_write_zeroes(b, 64 << 10, 64 << 10, true), 0);
	assert_int_equal(blk_block_status(b, 64 << 10, len, &pnum, &st, NULL), 0);
	assert_true(st & BLK_STATUS_ZERO);
	assert_int_equal(pnum, 64 << 10);
	/* Without unmap the range stays allocated (data that reads zero). */
	assert_int_equal(blk_write_zeroes(b, 0, 4096, false), 0);
	assert_int_equal(blk_block_status(b, 0, 4096, &pnum, &st, NULL), 0);
	assert_true(st & BLK_STATUS_DATA);
	/* discard: the range reads as zeros afterwards on a POSIX file. */
	assert_int_equal(blk_discard(b, 192 << 10, 64 << 10), 0);
	assert_int_equal(blk_pread(b, 0, buf, 256 << 10), 0);
	for (size_t i = 0; i < 4096; i++)
		assert_int_equal(buf[i], 0);
	for (size_t i = 64 << 10; i < 128 << 10; i++)
		assert_int_equal(buf[i], 0);
	for (size_t i = 192 << 10; i < 256 << 10; i++)
		assert_int_equal(buf[i], 0);
	{
		uint8_t *ref = malloc(len);

		assert_non_null(ref);
		fill(ref, len, 5);
		assert_memory_equal(buf + 4096, ref + 4096, (64 << 10) - 4096);
		assert_memory_equal(buf + (128 << 10), ref + (128 << 10), 64 << 10);
		free(ref);
	}
	blk_close(b);
	free(buf);
}

static void test_raw_create_prealloc(void **state)
{
	struct fixture *fx = *state;
	struct blk_create_opts co = { .size = 4 << 20, .prealloc = BLK_PREALLOC_FULL };
	struct stat st;
	struct blk *b;

	assert_int_equal(blk_create(fx->path, "raw", &co), 0);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_size, 4 << 20);
	assert_true(host_blocks(fx->path) >= 4 << 20);
	b = open_raw(fx->path, true);
	assert_int_equal(blk_length(b), 4 << 20);
	blk_close(b);
	/* Re-creating truncates; off and metadata stay sparse. */
	co.prealloc = BLK_PREALLOC_METADATA;
	co.size = 8 << 20;
	assert_int_equal(blk_create(fx->path, "raw", &co), 0);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_size, 8 << 20);
	assert_int_equal(host_blocks(fx->path), 0);
	/* Bad creations. */
	co.prealloc = BLK_PREALLOC_OFF;
	co.backing_file = "base.raw";
	co.backing_format = "raw";
	co.size = 4096;
	assert_int_equal(blk_create(fx->path, "raw", &co), -EINVAL);
	co.backing_format = NULL;
	capture_begin(fx);
	assert_int_equal(blk_create(fx->path, "qcow2", &co), -EINVAL);
	assert_true(capture_end(fx, "needs a backing format (-F)"));
	/* An image cannot back itself: refused before anything is truncated. */
	co.backing_file = "disk.raw";
	co.backing_format = "raw";
	capture_begin(fx);
	assert_int_equal(blk_create(fx->path, "qcow2", &co), -EINVAL);
	assert_true(capture_end(fx, "cannot be its own backing file"));
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_size, 8 << 20);
	co.backing_file = NULL;
	assert_int_equal(blk_create(fx->path, "vmdk", &co), -EINVAL);
	assert_int_equal(blk_create(fx->path, NULL, &co), -EINVAL);
	co.size = BLK_MAX_SIZE + 1;
	assert_int_equal(blk_create(fx->path, "raw", &co), -EINVAL);
}

static void test_open_errors(void **state)
{
	struct fixture *fx = *state;
	struct blk_open_opts o = { .format = "raw" };
	struct blk *b = (struct blk *)1;
	char missing[160];

	snprintf(missing, sizeof(missing), "%s/missing.raw", fx->dir);
	capture_begin(fx);
	assert_int_equal(blk_open(missing, &o, &b), -ENOENT);
	assert_true(capture_end(fx, missing));
	assert_null(b);
	create_raw(fx->path, 4096);
	o.format = "nonsense";
	capture_begin(fx);
	assert_int_equal(blk_open(fx->path, &o, &b), -EINVAL);
	assert_true(capture_end(fx, "unknown image format 'nonsense'"));
	o.format = "raw";
	o.force_share = true;   /* -U without read-only */
	assert_int_equal(blk_open(fx->path, &o, &b), -EINVAL);
	assert_null(b);
	assert_null(blk_driver_find("nonsense"));
	assert_null(blk_driver_find(NULL));
	assert_ptr_equal(blk_driver_find("raw"), blk_drivers[0]);
	assert_non_null(blk_driver_find("qcow2"));
}

static void test_probe(void **state)
{
	struct fixture *fx = *state;
	struct blk_open_opts o = { .readonly = true };
	const char *fmt = NULL;
	char q[160];
	struct blk *b;
	int fd;

	create_raw(fx->path, 0);
	assert_int_equal(blk_probe(fx->path, &fmt), 0);
	assert_string_equal(fmt, "raw");   /* even an empty file */
	fd = open(fx->path, O_WRONLY);
	assert_true(write(fd, "QFI", 3) == 3);   /* a truncated magic is raw */
	close(fd);
	assert_int_equal(blk_probe(fx->path, &fmt), 0);
	assert_string_equal(fmt, "raw");
	/* format NULL: blk_open probes. */
	assert_int_equal(blk_open(fx->path, &o, &b), 0);
	assert_string_equal(b->drv->format, "raw");
	blk_close(b);
	snprintf(q, sizeof(q), "%s/missing", fx->dir);
	assert_int_equal(blk_probe(q, &fmt), -ENOENT);
	if (!have_qemu_img())
		skip();
	snprintf(q, sizeof(q), "%s/disk.qcow2", fx->dir);
	assert_int_equal(run_quiet("qemu-img create -q -f qcow2 '%s' 1M", q), 0);
	assert_int_equal(blk_probe(q, &fmt), 0);
	assert_string_equal(fmt, "qcow2");
}

static void test_locks(void **state)
{
	struct fixture *fx = *state;
	struct blk_open_opts o = { .format = "raw" };
	struct blk *a, *b;

	create_raw(fx->path, 65536);
	a = open_raw(fx->path, false);
	/* A second writer is refused, naming the file. */
	capture_begin(fx);
	assert_int_equal(blk_open(fx->path, &o, &b), -EAGAIN);
	assert_true(capture_end(fx, "is locked by another process"));
	/* Readers of a raw image share everything (as qemu-img info does). */
	b = open_raw(fx->path, true);
	blk_close(b);
	o.readonly = o.force_share = true;
	assert_int_equal(blk_open(fx->path, &o, &b), 0);
	blk_close(b);
	blk_close(a);
	/* Closed: writable again. */
	a = open_raw(fx->path, false);
	blk_close(a);
}

/* Whether another open file description holds an OFD lock on byte pos. */
static bool lock_byte_held(const char *path, off_t pos)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = pos, .l_len = 1 };
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
	close(fd);
	return fl.l_type != F_UNLCK;
}

/* QEMU and vmkit refuse each other's images in use (qemu-img, qemu-io). */
static void test_qemu_interop_locks(void **state)
{
	struct fixture *fx = *state;
	struct blk_open_opts o = { .format = "qcow2" };
	char q[160];
	struct blk *b;
	pid_t pid;

	if (!have_qemu_img() || run_quiet("qemu-io --version >/dev/null 2>&1"))
		skip();
	snprintf(q, sizeof(q), "%s/disk.qcow2", fx->dir);
	assert_int_equal(run_quiet("qemu-img create -q -f qcow2 '%s' 1M", q), 0);
	assert_int_equal(blk_open(q, &o, &b), 0);
	assert_int_equal(run_quiet("qemu-img info '%s' 2>&1 | grep -q 'Failed to get shared "
				   "\"write\" lock'", q), 0);
	assert_int_equal(run_quiet("qemu-img info -U '%s' >/dev/null 2>&1", q), 0);
	assert_int_equal(run_quiet("qemu-io -c 'read 0 512' '%s' >/dev/null 2>&1", q), 1);
	blk_close(b);
	assert_int_equal(run_quiet("qemu-img info '%s' >/dev/null 2>&1", q), 0);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execlp("qemu-io", "qemu-io", "-f", "qcow2", q, "-c", "sleep 60000", (char *)NULL);
		_exit(127);
	}
	/* Wait until qemu-io holds its locks, without taking any ourselves. */
	for (int i = 0; i < 3000 && !lock_byte_held(q, 203); i++)
		usleep(10000);
	assert_true(lock_byte_held(q, 203));
	o.readonly = true;
	capture_begin(fx);
	assert_int_equal(blk_open(q, &o, &b), -EAGAIN);
	assert_true(capture_end(fx, "use -U to inspect it read-only"));
	o.force_share = true;
	assert_int_equal(blk_open(q, &o, &b), 0);
	blk_close(b);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	o.readonly = o.force_share = false;
	assert_int_equal(blk_open(q, &o, &b), 0);
	blk_close(b);
}

/* ---------------------------------------------------------------------- */
/* Asynchronous requests                                                  */

#define AIO_N 512
#define AIO_BS 4096

static void test_aio(void **state)
{
	struct fixture *fx = *state;
	uint8_t *w = malloc(AIO_N * AIO_BS), *r = calloc(AIO_N, AIO_BS);
	struct aio_ctx *c = aio_ctx_new();
	struct blk_req bad = { .op = BLK_OP_READ, .done = aio_ctx_done, .opaque = c };
	struct blk *b;

	assert_non_null(w);
	assert_non_null(r);
	create_raw(fx->path, AIO_N * AIO_BS);
	b = open_raw(fx->path, false);
	fill(w, AIO_N * AIO_BS, 9);
	/* Many writes in flight at once, in reverse order. */
	for (size_t i = 0; i < AIO_N; i++) {
		size_t k = AIO_N - 1 - i;

		aio_ctx_submit(b, c, i, BLK_OP_WRITE, k * AIO_BS, AIO_BS, w + k * AIO_BS);
	}
	aio_ctx_submit(b, c, AIO_N, BLK_OP_FLUSH, 0, 0, NULL);
	aio_ctx_wait(c, AIO_N + 1);
	for (size_t i = 0; i <= AIO_N; i++) {
		assert_int_equal(c->calls[i], 1);
		assert_int_equal(c->ret[i], 0);
	}
	assert_false(c->on_main);
	/* Read everything back concurrently; errors reach done(). */
	aio_ctx_reset(c);
	for (size_t i = 0; i < AIO_N; i++)
		aio_ctx_submit(b, c, i, BLK_OP_READ, i * AIO_BS, AIO_BS, r + i * AIO_BS);
	aio_ctx_submit(b, c, AIO_N, BLK_OP_READ, AIO_N * AIO_BS, AIO_BS, r);   /* past the end */
	aio_ctx_submit(b, c, AIO_N + 1, BLK_OP_WRITE_ZEROES, 0, AIO_N * AIO_BS + 1, NULL);
	aio_ctx_wait(c, AIO_N + 2);
	assert_int_equal(c->ret[AIO_N], -EINVAL);
	assert_int_equal(c->ret[AIO_N + 1], -EINVAL);
	for (size_t i = 0; i < AIO_N; i++)
		assert_int_equal(c->ret[i], 0);
	assert_memory_equal(r + AIO_BS, w + AIO_BS, (AIO_N - 1) * AIO_BS);
	/* Discard and write-zeroes run too. */
	aio_ctx_reset(c);
	aio_ctx_submit(b, c, 0, BLK_OP_WRITE_ZEROES, 0, 8192, NULL);
	aio_ctx_submit(b, c, 1, BLK_OP_DISCARD, 65536, 65536, NULL);
	aio_ctx_wait(c, 2);
	assert_int_equal(c->ret[0], 0);
	assert_int_equal(c->ret[1], 0);
	assert_int_equal(blk_pread(b, 0, r, 8192), 0);
	for (size_t i = 0; i < 8192; i++)
		assert_int_equal(r[i], 0);
	/* Bad requests are refused at submission. */
	assert_int_equal(blk_aio_submit(b, NULL), -EINVAL);
	bad.done = NULL;
	assert_int_equal(blk_aio_submit(b, &bad), -EINVAL);
	bad.done = aio_ctx_done;
	bad.op = (enum blk_op)77;
	assert_int_equal(blk_aio_submit(b, &bad), -EINVAL);
	/* Closing with requests queued completes them all first. */
	aio_ctx_reset(c);
	for (size_t i = 0; i < AIO_N; i++)
		aio_ctx_submit(b, c, i, BLK_OP_READ, i * AIO_BS, AIO_BS, r + i * AIO_BS);
	blk_close(b);
	assert_int_equal(c->done, AIO_N);
	for (size_t i = 0; i < AIO_N; i++)
		assert_int_equal(c->calls[i], 1);
	aio_ctx_free(c);
	free(w);
	free(r);
}

/* Requests that continue each other run as one call. Every worker is first
 * held in a done() callback, so the contiguous writes queue up behind them
 * and one worker takes them all; the last one runs past the end, so the
 * merged call fails and each request is run again for its own result. */
struct aio_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned held;
	bool open;
};

static void gate_done(struct blk_req *req, int ret)
{
	struct aio_gate *g = req->opaque;

	assert_int_equal(ret, 0);
	pthread_mutex_lock(&g->lock);
	g->held++;
	pthread_cond_broadcast(&g->cond);
	while (!g->open)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

/* A read at offset 0 held in gate_done (all at one offset: none merges). */
static struct blk_req gate_req(struct aio_gate *g, struct iovec *iov)
{
	return (struct blk_req){ .op = BLK_OP_READ, .iov = iov, .iovcnt = 1,
				 .done = gate_done, .opaque = g };
}

/* Wait until n requests are held in gate_done. */
static void gate_wait(struct aio_gate *g, unsigned n)
{
	pthread_mutex_lock(&g->lock);
	while (g->held < n)
		pthread_cond_wait(&g->cond, &g->lock);
	pthread_mutex_unlock(&g->lock);
}

/* Submit reqs[0..n) as gate requests and wait until all n are held. */
static void gate_hold(struct blk *b, struct aio_gate *g, struct blk_req *reqs, unsigned n,
		      struct iovec *iov)
{
	for (unsigned i = 0; i < n; i++) {
		reqs[i] = gate_req(g, iov);
		assert_int_equal(blk_aio_submit(b, &reqs[i]), 0);
	}
	gate_wait(g, n);
}

static void gate_open(struct aio_gate *g)
{
	pthread_mutex_lock(&g->lock);
	g->open = true;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void test_aio_merge(void **state)
{
	struct fixture *fx = *state;
	struct aio_gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };
	struct blk_req hold[BLK_AIO_THREADS];
	uint8_t one[AIO_BS], *w = malloc(8 * AIO_BS), *r = malloc(8 * AIO_BS);
	struct iovec hold_iov = { one, AIO_BS };
	struct aio_ctx *c = aio_ctx_new();
	struct blk *b;

	create_raw(fx->path, 16 * AIO_BS);
	b = open_raw(fx->path, false);
	fill(w, 8 * AIO_BS, 5);
	gate_hold(b, &g, hold, BLK_AIO_THREADS, &hold_iov);
	assert_int_equal(blk_aio_merged(b), 0);
	/* Offsets 8..15 blocks in the image, then one block past its end. */
	for (size_t i = 0; i < 8; i++)
		aio_ctx_submit(b, c, i, BLK_OP_WRITE, (8 + i) * AIO_BS, AIO_BS, w + i * AIO_BS);
	aio_ctx_submit(b, c, 8, BLK_OP_WRITE, 16 * AIO_BS, AIO_BS, w);
	gate_open(&g);
	aio_ctx_wait(c, 9);
	assert_int_equal(blk_aio_merged(b), 8);
	for (size_t i = 0; i < 8; i++)
		assert_int_equal(c->ret[i], 0);
	assert_int_equal(c->ret[8], -EINVAL);
	assert_int_equal(blk_pread(b, 8 * AIO_BS, r, 8 * AIO_BS), 0);
	assert_memory_equal(r, w, 8 * AIO_BS);
	blk_close(b);
	aio_ctx_free(c);
	free(w);
	free(r);
}

/* A request a worker submits itself (here each done() submits the next one
 * of a chain) wakes no other worker: the same worker takes it once its
 * done() returns, however long that takes. (Every worker is first made to
 * hold a request and let go, so none is still starting up; a worker late
 * back to waiting may still take a step, hence "at most three switches":
 * with a wake per submission nearly every step switches.)
 * Work a worker submits still spreads: eight requests submitted from one
 * done() are all held by workers at once (each worker that takes one wakes
 * the next). */
#define CHAIN_N 16

struct aio_chain {
	struct blk *b;
	struct blk_req req;
	struct iovec iov;
	uint8_t buf[AIO_BS];
	pthread_t thread[CHAIN_N];
	unsigned n;
	unsigned errors;          /* on a worker: counted, asserted by the test */
	struct blk_req fan[8];
	pthread_mutex_t lock;
};

static void chain_done(struct blk_req *req, int ret)
{
	struct aio_chain *ch = req->opaque;

	pthread_mutex_lock(&ch->lock);
	ch->errors += ret != 0;
	ch->thread[ch->n++] = pthread_self();
	if (ch->n < CHAIN_N)
		ch->errors += blk_aio_submit(ch->b, &ch->req) != 0;
	for (unsigned i = 0; ch->n == CHAIN_N && i < 8; i++)
		ch->errors += blk_aio_submit(ch->b, &ch->fan[i]) != 0;
	pthread_mutex_unlock(&ch->lock);
	usleep(2000);   /* time enough for a woken worker to take the request */
}

static void test_aio_worker_submits(void **state)
{
	struct fixture *fx = *state;
	struct aio_gate warm = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };
	struct aio_gate g = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, false };
	struct aio_chain *ch = calloc(1, sizeof(*ch));
	struct blk_req hold[BLK_AIO_THREADS];
	unsigned switches = 0;

	assert_non_null(ch);
	create_raw(fx->path, 16 * AIO_BS);
	ch->b = open_raw(fx->path, false);
	pthread_mutex_init(&ch->lock, NULL);
	ch->iov = (struct iovec){ ch->buf, AIO_BS };
	gate_hold(ch->b, &warm, hold, BLK_AIO_THREADS, &ch->iov);
	gate_open(&warm);
	usleep(10000);  /* the workers go back to waiting */
	ch->req = (struct blk_req){ .op = BLK_OP_READ, .iov = &ch->iov, .iovcnt = 1,
				    .done = chain_done, .opaque = ch };
	for (unsigned i = 0; i < 8; i++)
		ch->fan[i] = gate_req(&g, &ch->iov);
	assert_int_equal(blk_aio_submit(ch->b, &ch->req), 0);
	gate_wait(&g, 8);
	gate_open(&g);
	blk_close(ch->b);
	assert_int_equal(ch->errors, 0);
	assert_int_equal(ch->n, CHAIN_N);
	for (unsigned i = 1; i < CHAIN_N; i++)
		switches += !pthread_equal(ch->thread[i], ch->thread[i - 1]);
	assert_in_range(switches, 0, 3);
	pthread_mutex_destroy(&ch->lock);
	free(ch);
}

/* Several threads submitting to one image at once. */
struct submitter {
	struct blk *b;
	struct aio_ctx *c;
	size_t first, n;
	uint8_t *w;
};

static void *submit_thread(void *arg)
{
	struct submitter *s = arg;

	for (size_t i = s->first; i < s->first + s->n; i++)
		aio_ctx_submit(s->b, s->c, i, BLK_OP_WRITE, i * AIO_BS, AIO_BS, s->w + i * AIO_BS);
	return NULL;
}

static void test_aio_threads(void **state)
{
	struct fixture *fx = *state;
	uint8_t *w = malloc(AIO_N * AIO_BS), *r = malloc(AIO_N * AIO_BS);
	struct aio_ctx *c = aio_ctx_new();
	struct submitter s[4];
	pthread_t t[4];
	struct blk *b;

	assert_non_null(w);
	assert_non_null(r);
	create_raw(fx->path, AIO_N * AIO_BS);
	b = open_raw(fx->path, false);
	fill(w, AIO_N * AIO_BS, 11);
	for (int i = 0; i < 4; i++) {
		s[i] = (struct submitter){ b, c, (size_t)i * (AIO_N / 4), AIO_N / 4, w };
		assert_int_equal(pthread_create(&t[i], NULL, submit_thread, &s[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	aio_ctx_wait(c, AIO_N);
	for (size_t i = 0; i < AIO_N; i++)
		assert_int_equal(c->ret[i], 0);
	assert_int_equal(blk_pread(b, 0, r, AIO_N * AIO_BS), 0);
	assert_memory_equal(r, w, AIO_N * AIO_BS);
	blk_close(b);
	aio_ctx_free(c);
	free(w);
	free(r);
}

/* ---------------------------------------------------------------------- */
/* Backing chains (qcow2 images made by qemu-img)                         */

static void put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

/* Point a fresh qcow2 image at a backing file without recording its format
 * (qemu-img refuses to write such images nowadays; old ones exist). */
static void set_backing_no_format(const char *img, const char *backing)
{
	uint8_t hdr[12];
	int fd = open(img, O_RDWR);
	size_t n = strlen(backing);

	assert_true(fd >= 0);
	put_be(hdr, 1024, 8);
	put_be(hdr + 8, n, 4);
	assert_int_equal(pwrite(fd, hdr, 12, 8), 12);
	assert_int_equal(pwrite(fd, backing, n, 1024), (ssize_t)n);
	close(fd);
}

static void test_backing_chain(void **state)
{
	struct fixture *fx = *state;
	struct blk_open_opts o = { .format = "qcow2", .readonly = true };
	char top[160];
	uint8_t buf[4096], w[4096];
	struct blk *b, *base;

	if (!have_qemu_img())
		skip();
	create_raw(fx->path, 1 << 20);
	base = open_raw(fx->path, false);
	fill(w, sizeof(w), 3);
	assert_int_equal(blk_pwrite(base, 8192, w, sizeof(w)), 0);
	blk_close(base);
	/* The backing name is relative to the image's directory, not the cwd. */
	snprintf(top, sizeof(top), "%s/top.qcow2", fx->dir);
	assert_int_equal(run_quiet("qemu-img create -q -f qcow2 -b disk.raw -F raw '%s'", top),
			 0);
	assert_int_equal(blk_open(top, &o, &b), 0);
	assert_non_null(b->backing);
	assert_string_equal(b->backing_name, "disk.raw");
	assert_string_equal(b->backing->filename, fx->path);
	assert_string_equal(b->backing->drv->format, "raw");
	assert_true(b->backing->readonly);
	assert_int_equal(b->backing->depth, 1);
	assert_int_equal(blk_length(b), 1 << 20);
	assert_int_equal(blk_pread(b, 8192, buf, sizeof(buf)), 0);
	assert_memory_equal(buf, w, sizeof(buf));
	/* While the chain is open nobody may write the backing file. */
	{
		struct blk_open_opts rw = { .format = "raw" };
		struct blk *x;

		assert_int_equal(blk_open(fx->path, &rw, &x), -EAGAIN);
	}
	blk_close(b);
	o.no_backing = true;
	assert_int_equal(blk_open(top, &o, &b), 0);
	assert_null(b->backing);
	assert_string_equal(b->backing_name, "disk.raw");
	blk_close(b);
	/* A missing backing file fails the open. */
	assert_int_equal(unlink(fx->path), 0);
	o.no_backing = false;
	assert_int_equal(blk_open(top, &o, &b), -ENOENT);
	assert_null(b);
}

/* blk_create with a backing file and size 0 takes the backing file's size;
 * the new image reads the backing data. */
static void test_create_backing(void **state)
{
	struct fixture *fx = *state;
	struct blk_create_opts co = { .backing_file = "disk.raw", .backing_format = "raw" };
	struct blk_open_opts o = { .format = "qcow2" };
	uint8_t w[512], r[512];
	char top[160];
	struct blk *b;

	create_raw(fx->path, 3 << 20);
	b = open_raw(fx->path, false);
	fill(w, sizeof(w), 4);
	assert_int_equal(blk_pwrite(b, 1 << 20, w, sizeof(w)), 0);
	blk_close(b);
	snprintf(top, sizeof(top), "%s/top.qcow2", fx->dir);
	assert_int_equal(blk_create(top, "qcow2", &co), 0);
	assert_int_equal(blk_open(top, &o, &b), 0);
	assert_int_equal(blk_length(b), 3 << 20);
	assert_string_equal(b->backing_name, "disk.raw");
	assert_string_equal(b->backing_fmt, "raw");
	assert_int_equal(blk_pread(b, 1 << 20, r, sizeof(r)), 0);
	assert_memory_equal(r, w, sizeof(r));
	blk_close(b);
	/* A missing backing file fails the creation. */
	co.backing_file = "nothere.raw";
	assert_int_equal(blk_create(top, "qcow2", &co), -ENOENT);
}

static void test_backing_format_required(void **state)
{
	struct fixture *fx = *state;
	struct blk_open_opts o = { .format = "qcow2", .readonly = true };
	char top[160];
	struct blk *b;

	if (!have_qemu_img())
		skip();
	create_raw(fx->path, 1 << 20);
	snprintf(top, sizeof(top), "%s/top.qcow2", fx->dir);
	assert_int_equal(run_quiet("qemu-img create -q -f qcow2 '%s' 1M", top), 0);
	set_backing_no_format(top, "disk.raw");
	capture_begin(fx);
	assert_int_equal(blk_open(top, &o, &b), -EINVAL);
	assert_true(capture_end(fx, "backing file 'disk.raw' has no backing format; "
				    "give it with -F"));
	assert_null(b);
	/* Given with -F it opens. */
	o.backing_format = "raw";
	assert_int_equal(blk_open(top, &o, &b), 0);
	assert_non_null(b->backing);
	assert_string_equal(b->backing->drv->format, "raw");
	blk_close(b);
	/* The image's own format wins over -F. */
	assert_int_equal(run_quiet("qemu-img create -q -f qcow2 -b disk.raw -F raw '%s'", top),
			 0);
	o.backing_format = "qcow2";
	assert_int_equal(blk_open(top, &o, &b), 0);
	assert_string_equal(b->backing->drv->format, "raw");
	blk_close(b);
}

static void test_backing_loops(void **state)
{
	struct fixture *fx = *state;
	struct blk_open_opts o = { .format = "qcow2", .readonly = true };
	char a[160], bb[160];
	struct blk *b;

	if (!have_qemu_img())
		skip();
	snprintf(a, sizeof(a), "%s/a.qcow2", fx->dir);
	snprintf(bb, sizeof(bb), "%s/b.qcow2", fx->dir);
	/* a -> b -> a */
	assert_int_equal(run_quiet("qemu-img create -q -f qcow2 '%s' 1M", bb), 0);
	assert_int_equal(run_quiet("qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 '%s'", a), 0);
	assert_int_equal(run_quiet("qemu-img rebase -u -b a.qcow2 -F qcow2 '%s'", bb), 0);
	capture_begin(fx);
	assert_int_equal(blk_open(a, &o, &b), -ELOOP);
	assert_true(capture_end(fx, "backing chain loop"));
	assert_null(b);
	o.readonly = false;   /* read-write top: still the loop, not a lock error */
	assert_int_equal(blk_open(a, &o, &b), -ELOOP);
	/* An image that is its own backing file, reached through a symlink. */
	assert_int_equal(run_quiet("cd '%s' && qemu-img create -q -u -f qcow2 -b self.qcow2 "
				   "-F qcow2 x.qcow2 1M && mv x.qcow2 self.qcow2 && "
				   "ln -s self.qcow2 link.qcow2", fx->dir), 0);
	snprintf(a, sizeof(a), "%s/link.qcow2", fx->dir);
	capture_begin(fx);
	assert_int_equal(blk_open(a, &o, &b), -ELOOP);
	assert_true(capture_end(fx, "refers back to"));
}

static void test_backing_depth(void **state)
{
	struct fixture *fx = *state;
	struct blk_open_opts o = { .format = "qcow2", .readonly = true };
	char top[160];
	struct blk *b, *x;
	unsigned n = 0;

	if (!have_qemu_img())
		skip();
	/* img0 -> img1 -> ... -> img63: 64 images, the most we accept. */
	assert_int_equal(run_quiet("cd '%s' && qemu-img create -q -f qcow2 img63.qcow2 1M && "
				   "for i in $(seq 0 62); do qemu-img create -q -u -f qcow2 "
				   "-b img$((i+1)).qcow2 -F qcow2 img$i.qcow2 1M || exit 1; done",
				   fx->dir), 0);
	snprintf(top, sizeof(top), "%s/img0.qcow2", fx->dir);
	assert_int_equal(blk_open(top, &o, &b), 0);
	for (x = b; x; x = x->backing, n++)
		assert_int_equal(x->depth, n);
	assert_int_equal(n, BLK_MAX_CHAIN);
	blk_close(b);
	/* One more level is refused. */
	assert_int_equal(run_quiet("cd '%s' && qemu-img create -q -u -f qcow2 -b img0.qcow2 "
				   "-F qcow2 deeper.qcow2 1M", fx->dir), 0);
	snprintf(top, sizeof(top), "%s/deeper.qcow2", fx->dir);
	capture_begin(fx);
	assert_int_equal(blk_open(top, &o, &b), -ELOOP);
	assert_true(capture_end(fx, "backing chain is deeper than 64 images"));
	assert_null(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_raw_rw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_resize, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_zeroes_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_create_prealloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_qemu_interop_locks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aio_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aio_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aio_worker_submits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backing_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_backing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backing_format_required, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backing_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backing_depth, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
