/* qcow2_fixture: helpers shared by the qcow2 unit tests (see the header). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"
#include "block/blkfile.h"
#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

#define MiB_ (1024u * 1024u)
#include "qcow2_fixture.h"

char tmpdir[64];

uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

void fill_pattern(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((seed * 131 + i * 7 + (i >> 9)) ^ (seed >> 3));
}

/* A fresh image in memory, opened read-write. */
struct blk *mem_create(const struct blk_create_opts *co)
{
	struct blk_open_opts oo = { .format = "qcow2", .no_backing = true };
	struct blk_file *f;
	struct blk *b;

	assert_int_equal(blk_file_open_mem(NULL, 0, &f), 0);
	assert_int_equal(qcow2_driver.create(f, co), 0);
	assert_int_equal(blk_open_file(f, &oo, &b), 0);
	return b;
}

/* A copy of the bytes of a memory image (after a flush). */
uint8_t *mem_bytes(struct blk *b, size_t *len)
{
	const uint8_t *d;
	uint8_t *c;

	if (!b->readonly)
		assert_int_equal(blk_flush(b), 0);
	d = blk_file_mem_data(b->file, len);
	c = malloc(*len ? *len : 1);

	assert_non_null(d);
	assert_non_null(c);
	memcpy(c, d, *len);
	return c;
}

int mem_open(const uint8_t *bytes, size_t len, bool ro, struct blk **b)
{
	struct blk_open_opts oo = { .format = "qcow2", .no_backing = true, .readonly = ro };
	struct blk_file *f;

	assert_int_equal(blk_file_open_mem(bytes, len, &f), 0);
	return blk_open_file(f, &oo, b);
}

/* Flush, close b and reopen its bytes (what a later process would see). */
struct blk *mem_reopen(struct blk *b, bool ro)
{
	size_t len;
	uint8_t *bytes;
	struct blk *nb;

	assert_int_equal(blk_flush(b), 0);
	bytes = mem_bytes(b, &len);
	blk_close(b);
	assert_int_equal(mem_open(bytes, len, ro, &nb), 0);
	free(bytes);
	return nb;
}

struct blk *file_reopen(struct blk *b, const char *path, bool ro)
{
	struct blk_open_opts oo = { .format = "qcow2", .readonly = ro };
	struct blk *nb;

	blk_close(b);
	assert_int_equal(blk_open(path, &oo, &nb), 0);
	return nb;
}

void expect_clean(struct blk *b)
{
	struct blk_check r;

	assert_int_equal(qcow2_driver.check(b, &r, 0), 0);
	if (r.corruptions || r.leaks || r.check_errors)
		fail_msg("check: %" PRIu64 " corruptions, %" PRIu64 " leaks, %" PRIu64 " errors",
			 r.corruptions, r.leaks, r.check_errors);
}

void expect_read(struct blk *b, uint64_t off, const uint8_t *want, size_t n)
{
	uint8_t *got = malloc(n);

	assert_non_null(got);
	assert_int_equal(blk_pread(b, off, got, n), 0);
	if (memcmp(got, want, n) != 0) {
		size_t i = 0;

		while (got[i] == want[i])
			i++;
		fail_msg("data mismatch at %" PRIu64 " (+%zu): got %02x want %02x", off, i,
			 got[i], want[i]);
	}
	free(got);
}


bool have_qemu(void)
{
	return system("qemu-img --version >/dev/null 2>&1 && qemu-io --version >/dev/null 2>&1") == 0;
}

int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int setup_tmpdir(void **state)
{
	const char *seed = getenv("QCOW2_TEST_SEED");

	(void)state;
	if (seed)
		rng_state = strtoull(seed, NULL, 0) | 1;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/vmkit-test-qcow2-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

int teardown_tmpdir(void **state)
{
	(void)state;
	return sh("rm -rf '%s'", tmpdir) == 0 ? 0 : -1;
}

uint8_t *read_file(const char *path, size_t *len)
{
	uint8_t *buf = NULL;

	assert_int_equal(util_read_file(path, 1u << 30, &buf, len), 0);
	return buf;
}

void write_file(const char *path, const uint8_t *d, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* Our reading of path (with its backing chain) must equal qemu-img's. */
void expect_same_as_qemu(const char *path, const char *opts)
{
	struct blk_open_opts oo = { .readonly = true };
	char raw[256];
	uint8_t *want;
	size_t len;
	struct blk *b;

	snprintf(raw, sizeof(raw), "%s/truth.raw", tmpdir);
	assert_int_equal(sh("qemu-img convert -U %s -O raw '%s' '%s'", opts, path, raw), 0);
	want = read_file(raw, &len);
	assert_int_equal(blk_open(path, &oo, &b), 0);
	assert_int_equal(blk_length(b), len);
	expect_read(b, 0, want, len);
	blk_close(b);
	free(want);
}
