/* test_blkfile: the files under image formats: POSIX files (read past EOF,
 * extension, truncate, punch, allocation, O_DIRECT alignment, bad flags),
 * QEMU-compatible OFD image locks (byte offsets, conflicts between two open
 * file descriptions, force share, and interop with the real qemu-img and
 * qemu-io when installed), memory files and the write-logging wrapper. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "block/blkfile.h"
#include "common/util.h"
#include "scratch_dir.h"

#define PERM_R BLK_PERM_CONSISTENT_READ
#define PERM_W BLK_PERM_WRITE
#define PERM_WU BLK_PERM_WRITE_UNCHANGED
#define PERM_RS BLK_PERM_RESIZE

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
	scratch_dir_make(fx->dir, sizeof(fx->dir), "/var/tmp/vmkit-test-blkfile-");
	snprintf(fx->path, sizeof(fx->path), "%s/img", fx->dir);
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

/* Send stderr (our log) to a file while a call runs, then read it back. */
static void capture_begin(struct fixture *fx)
{
	int fd = open(fx->errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	fx->saved_stderr = dup(STDERR_FILENO);
	assert_true(fx->saved_stderr >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

static char *capture_end(struct fixture *fx)
{
	uint8_t *buf;
	size_t len;

	assert_int_equal(dup2(fx->saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(fx->saved_stderr);
	fx->saved_stderr = -1;
	assert_int_equal(util_read_file(fx->errpath, 1 << 20, &buf, &len), 0);
	buf = realloc(buf, len + 1);
	assert_non_null(buf);
	buf[len] = 0;
	return (char *)buf;
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static struct blk_file *open_ok(const char *path, unsigned flags)
{
	struct blk_file *f = NULL;

	assert_int_equal(blk_file_open_posix(path, flags, &f), 0);
	assert_non_null(f);
	return f;
}

/* ---------------------------------------------------------------------- */
/* POSIX files                                                            */

static void test_posix_rw(void **state)
{
	struct fixture *fx = *state;
	struct blk_file *f = open_ok(fx->path, BLK_FILE_RDWR | BLK_FILE_CREATE);
	uint8_t w[8192], r[8192];

	assert_string_equal(f->name, fx->path);
	assert_false(f->readonly);
	assert_int_equal(f->align, 1);
	assert_int_equal(blk_file_size(f), 0);
	fill(w, sizeof(w), 1);
	/* A write extends the file; the gap before it reads as zeros. */
	assert_int_equal(blk_file_pwrite(f, w, 4096, 10000), 0);
	assert_int_equal(blk_file_size(f), 14096);
	memset(r, 0xaa, sizeof(r));
	assert_int_equal(blk_file_pread(f, r, 4096, 10000), 0);
	assert_memory_equal(r, w, 4096);
	assert_int_equal(blk_file_pread(f, r, 100, 0), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(r[i], 0);
	/* A read across EOF: data, then zeros. */
	memset(r, 0xaa, sizeof(r));
	assert_int_equal(blk_file_pread(f, r, 8192, 12000), 0);
	assert_memory_equal(r, w + 2000, 2096);
	for (size_t i = 2096; i < 8192; i++)
		assert_int_equal(r[i], 0);
	/* Wholly past EOF. */
	memset(r, 0xaa, sizeof(r));
	assert_int_equal(blk_file_pread(f, r, 512, 1 << 20), 0);
	for (int i = 0; i < 512; i++)
		assert_int_equal(r[i], 0);
	assert_int_equal(blk_file_flush(f), 0);
	assert_int_equal(blk_file_pwrite(f, w, 0, 0), 0);
	blk_file_close(f);

	/* Reopen read-only: the data is there, writes are refused. */
	f = open_ok(fx->path, 0);
	assert_true(f->readonly);
	assert_int_equal(blk_file_pread(f, r, 4096, 10000), 0);
	assert_memory_equal(r, w, 4096);
	assert_int_equal(blk_file_pwrite(f, w, 512, 0), -EROFS);
	assert_int_equal(blk_file_truncate(f, 0), -EROFS);
	assert_int_equal(blk_file_punch(f, 0, 512), -EROFS);
	assert_int_equal(blk_file_size(f), 14096);
	blk_file_close(f);
	blk_file_close(NULL);
}

static void test_posix_bad_ranges(void **state)
{
	struct fixture *fx = *state;
	struct blk_file *f = open_ok(fx->path, BLK_FILE_RDWR | BLK_FILE_CREATE);
	uint8_t buf[16];

	assert_int_equal(blk_file_pread(f, buf, sizeof(buf), UINT64_MAX - 4), -EINVAL);
	assert_int_equal(blk_file_pwrite(f, buf, sizeof(buf), UINT64_MAX - 4), -EINVAL);
	assert_int_equal(blk_file_pwrite(f, buf, sizeof(buf), (uint64_t)INT64_MAX), -EINVAL);
	assert_int_equal(blk_file_punch(f, UINT64_MAX - 4, 16), -EINVAL);
	assert_int_equal(blk_file_truncate(f, UINT64_MAX), -EFBIG);
	assert_int_equal(blk_file_size(f), 0);
	blk_file_close(f);
}

static void test_posix_truncate_punch(void **state)
{
	struct fixture *fx = *state;
	struct blk_file *f = open_ok(fx->path, BLK_FILE_RDWR | BLK_FILE_CREATE);
	size_t len = 1 << 20;
	uint8_t *w = malloc(len), *r = malloc(len);
	uint64_t pnum;
	int64_t before, after;
	bool data;

	assert_non_null(w);
	assert_non_null(r);
	fill(w, len, 2);
	assert_int_equal(blk_file_pwrite(f, w, len, 0), 0);
	assert_int_equal(blk_file_flush(f), 0);
	before = f->ops->allocated(f);
	assert_true(before >= (int64_t)len);
	/* Punch 256 KiB in the middle: zeros, fewer blocks, same size. */
	assert_int_equal(blk_file_punch(f, 256 << 10, 256 << 10), 0);
	assert_int_equal(blk_file_size(f), (int64_t)len);
	after = f->ops->allocated(f);
	assert_true(after <= before - (256 << 10));
	assert_int_equal(blk_file_pread(f, r, len, 0), 0);
	assert_memory_equal(r, w, 256 << 10);
	for (size_t i = 256 << 10; i < 512 << 10; i++)
		assert_int_equal(r[i], 0);
	assert_memory_equal(r + (512 << 10), w + (512 << 10), 512 << 10);
	/* The hole shows in data_extent: data, hole, data. */
	assert_int_equal(f->ops->data_extent(f, 0, len, &pnum, &data), 0);
	assert_true(data);
	assert_int_equal(pnum, 256 << 10);
	assert_int_equal(f->ops->data_extent(f, 256 << 10, len - (256 << 10), &pnum, &data), 0);
	assert_false(data);
	assert_int_equal(pnum, 256 << 10);
	assert_int_equal(f->ops->data_extent(f, 300 << 10, 1000, &pnum, &data), 0);
	assert_false(data);
	assert_int_equal(pnum, 1000);
	assert_int_equal(f->ops->data_extent(f, 512 << 10, len, &pnum, &data), 0);
	assert_true(data);
	assert_int_equal(pnum, 512 << 10);   /* up to EOF */
	assert_int_equal(f->ops->data_extent(f, len, 4096, &pnum, &data), 0);
	assert_false(data);                  /* past EOF: reads as zeros */
	assert_int_equal(pnum, 4096);
	/* Shrink, then grow: the regrown tail reads as zeros. */
	assert_int_equal(blk_file_truncate(f, 4096), 0);
	assert_int_equal(blk_file_size(f), 4096);
	assert_int_equal(blk_file_truncate(f, 65536), 0);
	assert_int_equal(blk_file_pread(f, r, 65536, 0), 0);
	assert_memory_equal(r, w, 4096);
	for (size_t i = 4096; i < 65536; i++)
		assert_int_equal(r[i], 0);
	/* allocate grows the file and keeps it reading zeros. */
	assert_int_equal(f->ops->allocate(f, 65536, 65536), 0);
	assert_int_equal(blk_file_size(f), 131072);
	assert_int_equal(blk_file_pread(f, r, 65536, 65536), 0);
	for (size_t i = 0; i < 65536; i++)
		assert_int_equal(r[i], 0);
	blk_file_close(f);
	free(w);
	free(r);
}

static void test_posix_open_errors(void **state)
{
	struct fixture *fx = *state;
	struct blk_file *f = (struct blk_file *)1;
	char missing[160];
	char *log;

	snprintf(missing, sizeof(missing), "%s/missing", fx->dir);
	capture_begin(fx);
	assert_int_equal(blk_file_open_posix(missing, 0, &f), -ENOENT);
	log = capture_end(fx);
	assert_null(f);
	assert_non_null(strstr(log, missing));   /* the message names the file */
	free(log);
	assert_int_equal(blk_file_open_posix(fx->dir, 0, &f), -EISDIR);
	assert_int_equal(blk_file_open_posix("/dev/null", 0, &f), -EINVAL);
	assert_int_equal(blk_file_open_posix(missing, BLK_FILE_CREATE, &f), -EINVAL);
	assert_int_equal(blk_file_open_posix(missing, BLK_FILE_RDWR | BLK_FILE_SHARE, &f),
			 -EINVAL);
	assert_int_equal(blk_file_open_posix(missing, 1u << 20, &f), -EINVAL);
	assert_null(f);
	assert_int_equal(access(missing, F_OK), -1);   /* nothing was created */
}

static void test_posix_direct(void **state)
{
	struct fixture *fx = *state;
	struct blk_file *f = open_ok(fx->path, BLK_FILE_RDWR | BLK_FILE_CREATE);
	uint8_t *buf;
	uint32_t a;

	/* Give the file some data so the alignment probe can read a block. */
	assert_non_null(buf = aligned_alloc(4096, 3 * 4096));
	fill(buf, 3 * 4096, 3);
	assert_int_equal(blk_file_pwrite(f, buf, 8192, 0), 0);
	blk_file_close(f);
	if (blk_file_open_posix(fx->path, BLK_FILE_RDWR | BLK_FILE_DIRECT, &f) == -EINVAL) {
		free(buf);
		skip();   /* this file system has no O_DIRECT */
	}
	assert_non_null(f);
	a = f->align;
	assert_true(a == 512 || a == 4096);
	/* Unaligned buffer, offset or length: -EINVAL, nothing written. */
	assert_int_equal(blk_file_pwrite(f, buf + 1, a, 0), -EINVAL);
	assert_int_equal(blk_file_pwrite(f, buf, a, 1), -EINVAL);
	assert_int_equal(blk_file_pwrite(f, buf, a + 1, 0), -EINVAL);
	assert_int_equal(blk_file_pread(f, buf + 1, a, 0), -EINVAL);
	assert_int_equal(blk_file_pread(f, buf, 100, 0), -EINVAL);
	/* Aligned I/O works; reading across EOF gives data then zeros. */
	memset(buf + 8192, 0x5a, 4096);
	assert_int_equal(blk_file_pwrite(f, buf + 8192, 4096, 4096), 0);
	memset(buf, 0, 3 * 4096);
	assert_int_equal(blk_file_pread(f, buf, 3 * 4096, 0), 0);
	for (size_t i = 4096; i < 8192; i++)
		assert_int_equal(buf[i], 0x5a);
	for (size_t i = 8192; i < 3 * 4096; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(blk_file_flush(f), 0);
	blk_file_close(f);
	free(buf);
}

/* ---------------------------------------------------------------------- */
/* Image locks                                                            */

/* Which of QEMU's lock bytes some other description holds (bit i = byte
 * 100+i, bit 4+i = byte 200+i), seen from a fresh descriptor. */
static unsigned held_bytes(const char *path)
{
	int fd = open(path, O_RDONLY);
	unsigned held = 0;

	assert_true(fd >= 0);
	for (unsigned i = 0; i < 8; i++) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
				    .l_start = (i < 4 ? 100 : 196) + i, .l_len = 1 };

		assert_int_equal(fcntl(fd, F_OFD_GETLK, &fl), 0);
		if (fl.l_type != F_UNLCK)
			held |= 1u << i;
	}
	close(fd);
	return held;
}

static int try_lock(const char *path, unsigned flags, unsigned perm, unsigned shared,
		    struct blk_file **out)
{
	struct blk_file *f = open_ok(path, flags);
	int ret = f->ops->lock(f, perm, shared);

	*out = f;
	return ret;
}

static void create_file(struct fixture *fx)
{
	blk_file_close(open_ok(fx->path, BLK_FILE_RDWR | BLK_FILE_CREATE | BLK_FILE_NOLOCK));
}

static void test_lock_bytes(void **state)
{
	struct fixture *fx = *state;
	struct blk_file *f;

	create_file(fx);
	assert_int_equal(held_bytes(fx->path), 0);
	/* qcow2 read-write, as QEMU: 100,101,103 used; 201,203 not shared. */
	assert_int_equal(try_lock(fx->path, BLK_FILE_RDWR, PERM_R | PERM_W | PERM_RS,
				  PERM_R | PERM_WU, &f), 0);
	assert_int_equal(held_bytes(fx->path), 0x1 | 0x2 | 0x8 | 0x20 | 0x80);
	/* Relocking to read-only drops the bytes no longer needed. */
	assert_int_equal(f->ops->lock(f, PERM_R, PERM_R | PERM_WU), 0);
	assert_int_equal(held_bytes(fx->path), 0x1 | 0x20 | 0x80);
	blk_file_close(f);
	assert_int_equal(held_bytes(fx->path), 0);
	/* Force share: only "consistent read" is used, everything shared. */
	assert_int_equal(try_lock(fx->path, BLK_FILE_SHARE, PERM_R, PERM_R, &f), 0);
	assert_int_equal(held_bytes(fx->path), 0x1);
	assert_int_equal(f->ops->lock(f, PERM_R | 0x10, 0), -EINVAL);
	blk_file_close(f);
	/* No locking at all. */
	assert_int_equal(try_lock(fx->path, BLK_FILE_NOLOCK, PERM_R, 0, &f), 0);
	assert_int_equal(held_bytes(fx->path), 0);
	blk_file_close(f);
}

static void test_lock_conflicts(void **state)
{
	struct fixture *fx = *state;
	struct blk_file *a, *b, *c;
	char *log;

	create_file(fx);
	/* A writer that only shares reads locks out a reader that wants others
	 * not to write (like qemu-img info), but not a force-share reader. */
	assert_int_equal(try_lock(fx->path, BLK_FILE_RDWR, PERM_R | PERM_W | PERM_RS,
				  PERM_R | PERM_WU, &a), 0);
	capture_begin(fx);
	assert_int_equal(try_lock(fx->path, 0, PERM_R, PERM_R | PERM_WU, &b), -EAGAIN);
	log = capture_end(fx);
	assert_non_null(strstr(log, fx->path));
	assert_non_null(strstr(log, "failed to get shared \"write\" lock"));
	assert_non_null(strstr(log, "-U"));
	free(log);
	/* The failed attempt left no bytes behind. */
	assert_int_equal(held_bytes(fx->path), 0x1 | 0x2 | 0x8 | 0x20 | 0x80);
	assert_int_equal(try_lock(fx->path, BLK_FILE_SHARE, PERM_R, 0, &c), 0);
	/* A second writer is refused ("write" used by someone who won't share). */
	blk_file_close(b);
	assert_int_equal(try_lock(fx->path, BLK_FILE_RDWR, PERM_R | PERM_W,
				  BLK_PERM_ALL, &b), -EAGAIN);
	blk_file_close(b);
	blk_file_close(c);
	blk_file_close(a);

	/* Two readers coexist; then a writer is refused while they hold it. */
	assert_int_equal(try_lock(fx->path, 0, PERM_R, PERM_R | PERM_WU, &a), 0);
	assert_int_equal(try_lock(fx->path, 0, PERM_R, PERM_R | PERM_WU, &b), 0);
	assert_int_equal(try_lock(fx->path, BLK_FILE_RDWR, PERM_R | PERM_W, BLK_PERM_ALL, &c),
			 -EAGAIN);
	blk_file_close(c);
	blk_file_close(a);
	blk_file_close(b);
	/* Once closed, the writer gets in. */
	assert_int_equal(try_lock(fx->path, BLK_FILE_RDWR, PERM_R | PERM_W, PERM_R, &c), 0);
	blk_file_close(c);
}

static void test_lock_create(void **state)
{
	struct fixture *fx = *state;
	struct blk_file *a, *b;
	uint8_t buf[512];

	/* Creating an image in use by a reader must not truncate it. */
	a = open_ok(fx->path, BLK_FILE_RDWR | BLK_FILE_CREATE);
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(blk_file_pwrite(a, buf, sizeof(buf), 0), 0);
	assert_int_equal(a->ops->lock(a, PERM_R, PERM_R | PERM_WU), 0);
	assert_int_equal(blk_file_open_posix(fx->path, BLK_FILE_RDWR | BLK_FILE_CREATE, &b),
			 -EAGAIN);
	assert_null(b);
	assert_int_equal(blk_file_size(a), 512);
	blk_file_close(a);
	b = open_ok(fx->path, BLK_FILE_RDWR | BLK_FILE_CREATE);
	assert_int_equal(blk_file_size(b), 0);
	blk_file_close(b);
}

/* Run argv in the background; returns its pid. */
static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int run_quiet(const char *cmd)
{
	int st = system(cmd);

	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool have_qemu_tools(void)
{
	return run_quiet("qemu-img --version >/dev/null 2>&1") == 0 &&
	       run_quiet("qemu-io --version >/dev/null 2>&1") == 0;
}

static void test_lock_qemu_interop(void **state)
{
	struct fixture *fx = *state;
	char cmd[512], out[160];
	struct blk_file *f;
	char *log;
	pid_t pid;

	if (!have_qemu_tools())
		skip();
	snprintf(cmd, sizeof(cmd), "qemu-img create -q -f qcow2 '%s' 1M", fx->path);
	assert_int_equal(run_quiet(cmd), 0);
	snprintf(out, sizeof(out), "%s/out", fx->dir);

	/* We hold it read-write (qcow2 permissions): qemu-img info fails with
	 * QEMU's lock message; with -U it works. */
	assert_int_equal(try_lock(fx->path, BLK_FILE_RDWR, PERM_R | PERM_W | PERM_RS,
				  PERM_R | PERM_WU, &f), 0);
	snprintf(cmd, sizeof(cmd), "qemu-img info '%s' >'%s' 2>&1", fx->path, out);
	assert_int_equal(run_quiet(cmd), 1);
	snprintf(cmd, sizeof(cmd), "grep -q 'Failed to get shared \"write\" lock' '%s'", out);
	assert_int_equal(run_quiet(cmd), 0);
	snprintf(cmd, sizeof(cmd), "qemu-img info -U '%s' >/dev/null 2>&1", fx->path);
	assert_int_equal(run_quiet(cmd), 0);
	blk_file_close(f);
	snprintf(cmd, sizeof(cmd), "qemu-img info '%s' >/dev/null 2>&1", fx->path);
	assert_int_equal(run_quiet(cmd), 0);

	/* qemu-io holds it read-write: our reader is refused with a clear
	 * message, our force-share reader is not. */
	pid = spawn((char *const[]){ "qemu-io", "-f", "qcow2", fx->path, "-c", "sleep 60000",
				     NULL });
	for (int i = 0; i < 2000 && held_bytes(fx->path) != 0xab; i++)
		usleep(10000);
	assert_int_equal(held_bytes(fx->path), 0xab);   /* 100,101,103,201,203 */
	capture_begin(fx);
	assert_int_equal(try_lock(fx->path, 0, PERM_R, PERM_R | PERM_WU, &f), -EAGAIN);
	log = capture_end(fx);
	assert_non_null(strstr(log, "is locked by another process (QEMU?)"));
	free(log);
	blk_file_close(f);
	assert_int_equal(try_lock(fx->path, BLK_FILE_SHARE, PERM_R, 0, &f), 0);
	blk_file_close(f);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(try_lock(fx->path, BLK_FILE_RDWR, PERM_R | PERM_W | PERM_RS,
				  PERM_R | PERM_WU, &f), 0);
	blk_file_close(f);
}

/* ---------------------------------------------------------------------- */
/* Memory files and the write log                                         */

static void test_mem(void **state)
{
	struct blk_file *f;
	uint8_t buf[64];
	const uint8_t *d;
	size_t len;

	assert_int_equal(blk_file_open_mem("hello", 5, &f), 0);
	assert_string_equal(f->name, "<memory>");
	assert_null(f->ops->lock);
	assert_int_equal(blk_file_size(f), 5);
	memset(buf, 0xaa, sizeof(buf));
	assert_int_equal(blk_file_pread(f, buf, 8, 2), 0);
	assert_memory_equal(buf, "llo\0\0\0\0\0", 8);
	assert_int_equal(blk_file_pread(f, buf, 8, UINT64_MAX - 2), -EINVAL);
	/* Writes extend, zero-filling the gap. */
	assert_int_equal(blk_file_pwrite(f, "XY", 2, 10), 0);
	d = blk_file_mem_data(f, &len);
	assert_int_equal(len, 12);
	assert_memory_equal(d, "hello\0\0\0\0\0XY", 12);
	assert_int_equal(blk_file_punch(f, 1, 3), 0);
	assert_int_equal(blk_file_punch(f, 11, 100), 0);
	d = blk_file_mem_data(f, &len);
	assert_int_equal(len, 12);
	assert_memory_equal(d, "h\0\0\0o\0\0\0\0\0X\0", 12);
	assert_int_equal(blk_file_truncate(f, 2), 0);
	assert_int_equal(blk_file_size(f), 2);
	assert_int_equal(blk_file_truncate(f, 4), 0);
	assert_int_equal(blk_file_pread(f, buf, 4, 0), 0);
	assert_memory_equal(buf, "h\0\0\0", 4);
	/* The 1 GiB cap: beyond it -EFBIG and nothing changes. */
	assert_int_equal(blk_file_pwrite(f, buf, 2, (1ULL << 30) - 1), -EFBIG);
	assert_int_equal(blk_file_pwrite(f, buf, 2, UINT64_MAX - 1), -EFBIG);
	assert_int_equal(blk_file_truncate(f, (1ULL << 30) + 1), -EFBIG);
	assert_int_equal(f->ops->allocate(f, 1ULL << 30, 1), -EFBIG);
	assert_int_equal(blk_file_size(f), 4);
	assert_int_equal(f->ops->allocate(f, 0, 100), 0);
	assert_int_equal(blk_file_size(f), 100);
	assert_int_equal(blk_file_flush(f), 0);
	blk_file_close(f);
	/* Empty initial contents. */
	assert_int_equal(blk_file_open_mem(NULL, 0, &f), 0);
	assert_int_equal(blk_file_size(f), 0);
	assert_int_equal(blk_file_pread(f, buf, 4, 0), 0);
	assert_memory_equal(buf, "\0\0\0\0", 4);
	blk_file_close(f);
}

static void test_mem_data_other(void **state)
{
	struct fixture *fx = *state;
	struct blk_file *f = open_ok(fx->path, BLK_FILE_RDWR | BLK_FILE_CREATE);
	size_t len = 99;

	assert_null(blk_file_mem_data(f, &len));
	assert_int_equal(len, 0);
	blk_file_close(f);
}

static void test_wlog(void **state)
{
	struct blk_wlog log = { 0 };
	struct blk_file *m, *w;
	uint8_t data[100];
	const uint8_t *d;
	size_t len;

	assert_int_equal(blk_file_open_mem(NULL, 0, &m), 0);
	assert_int_equal(blk_file_open_wlog(m, &log, &w), 0);
	assert_string_equal(w->name, "<memory>");
	memset(data, 0x42, sizeof(data));
	assert_int_equal(blk_file_pwrite(w, data, sizeof(data), 4096), 0);
	memset(data, 0x43, sizeof(data));   /* the log holds a copy */
	assert_int_equal(blk_file_flush(w), 0);
	assert_int_equal(blk_file_truncate(w, 8192), 0);
	assert_int_equal(blk_file_punch(w, 4096, 50), 0);
	assert_int_equal(blk_file_pwrite(w, data, 10, 0), 0);
	/* A failing write is forwarded but not logged. */
	assert_int_equal(blk_file_pwrite(w, data, 10, 1ULL << 31), -EFBIG);
	assert_int_equal(w->ops->allocate(w, 0, 100), -EOPNOTSUPP);
	/* Reads and size queries are not logged and see the data. */
	assert_int_equal(blk_file_pread(w, data, 10, 4096 + 50), 0);
	assert_int_equal(data[0], 0x42);
	assert_int_equal(blk_file_size(w), 8192);

	assert_int_equal(log.n, 5);
	assert_int_equal(log.v[0].kind, BLK_WLOG_WRITE);
	assert_int_equal(log.v[0].off, 4096);
	assert_int_equal(log.v[0].len, 100);
	for (int i = 0; i < 100; i++)
		assert_int_equal(log.v[0].data[i], 0x42);
	assert_int_equal(log.v[1].kind, BLK_WLOG_FLUSH);
	assert_int_equal(log.v[2].kind, BLK_WLOG_TRUNCATE);
	assert_int_equal(log.v[2].len, 8192);
	assert_int_equal(log.v[3].kind, BLK_WLOG_PUNCH);
	assert_int_equal(log.v[3].off, 4096);
	assert_int_equal(log.v[3].len, 50);
	assert_int_equal(log.v[4].kind, BLK_WLOG_WRITE);
	assert_int_equal(log.v[4].len, 10);
	assert_int_equal(log.v[4].data[0], 0x43);
	/* The memory contents are reachable through the wrapper. */
	d = blk_file_mem_data(w, &len);
	assert_int_equal(len, 8192);
	assert_int_equal(d[0], 0x43);
	assert_int_equal(d[4096], 0);
	assert_int_equal(d[4096 + 50], 0x42);
	blk_file_close(w);   /* closes the memory file too (ASan checks) */
	blk_wlog_free(&log);
	assert_null(log.v);
	assert_int_equal(log.n, 0);
	blk_wlog_free(NULL);
	assert_int_equal(blk_file_open_wlog(NULL, &log, &w), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_posix_rw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posix_bad_ranges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posix_truncate_punch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posix_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_posix_direct, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_conflicts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_create, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_qemu_interop, setup, teardown),
		cmocka_unit_test(test_mem),
		cmocka_unit_test_setup_teardown(test_mem_data_other, setup, teardown),
		cmocka_unit_test(test_wlog),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
