/* test_qcow2_images: the qcow2 driver against images it did not write
 * itself: interoperability with QEMU's tools (qemu-img/qemu-io; skipped,
 * with the reason, when they are missing) both ways, and, with the single
 * argument "golden", the corrupt-image golden set of
 * tests/golden/qcow2-corrupt/ (VMKIT_GOLDEN_UPDATE=1 rewrites the expected
 * .err files). Shared helpers: qcow2_fixture.c. */
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


static const char qio_script[] =
	"-c 'write -P 0x11 0 100k' -c 'write -P 0x22 1048000 70000' "
	"-c 'write -P 0x33 3M 4k' -c 'write -z 4M 200k' -c 'write -P 0x44 6M 2M' "
	"-c 'discard 6M 64k' -c 'write -P 0x55 7340031 1'";

static void test_interop_qemu_to_ours(void **state)
{
	static const char *const compat[] = { "0.10", "1.1" };
	static const char *const cs[] = { "512", "4k", "64k", "2M" };
	char img[256];

	(void)state;
	if (!have_qemu())
		skip();
	snprintf(img, sizeof(img), "%s/q.qcow2", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(compat); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(cs); j++) {
			const char *lazy = i ? ",lazy_refcounts=on" : "";

			assert_int_equal(sh("qemu-img create -q -f qcow2 -o compat=%s,cluster_size=%s%s "
					    "'%s' 9M", compat[i], cs[j], lazy, img), 0);
			assert_int_equal(sh("qemu-io -f qcow2 %s '%s' >/dev/null", qio_script, img), 0);
			expect_same_as_qemu(img, "");
		}
	}
}

/* An image QEMU left dirty (lazy refcounts, crashed): we read it as is and
 * repair it on a read-write open, after which qemu-img finds it clean. */
static void test_interop_qemu_dirty(void **state)
{
	struct blk_open_opts oo = { .format = "qcow2" };
	char img[256];
	struct blk *b;

	(void)state;
	if (!have_qemu())
		skip();
	snprintf(img, sizeof(img), "%s/dirty.qcow2", tmpdir);
	assert_int_equal(sh("qemu-img create -q -f qcow2 -o lazy_refcounts=on '%s' 10M", img), 0);
	sh("ulimit -c 0; qemu-io -f qcow2 -c 'write -P 0x77 0 200k' -c 'write -P 0x78 5M 64k' "
	   "-c abort '%s' >/dev/null 2>&1", img);
	assert_int_equal(sh("qemu-img check -q '%s' 2>/dev/null", img), 2);
	expect_same_as_qemu(img, "");
	log_set_level(LOG_ERROR);
	assert_int_equal(blk_open(img, &oo, &b), 0);
	log_set_level(LOG_WARN);
	assert_false(b->drv->is_dirty(b));
	expect_clean(b);
	blk_close(b);
	assert_int_equal(sh("qemu-img check -q '%s'", img), 0);
	expect_same_as_qemu(img, "");
}

static void test_interop_qemu_compressed(void **state)
{
	static const char *const types[] = { "zlib", "zstd" };
	char raw[256], img[256];
	uint8_t *d = malloc(5 * MiB_);

	(void)state;
	if (!have_qemu())
		skip();
	assert_non_null(d);
	memset(d, 0, 5 * MiB_);
	for (size_t i = 0; i < 5 * MiB_; i += 4096)
		fill_pattern(d + i, 1000, i);
	snprintf(raw, sizeof(raw), "%s/c.raw", tmpdir);
	snprintf(img, sizeof(img), "%s/c.qcow2", tmpdir);
	write_file(raw, d, 5 * MiB_ - 1000);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		assert_int_equal(sh("qemu-img convert -c -O qcow2 -o compression_type=%s "
				    "'%s' '%s'", types[i], raw, img), 0);
		expect_same_as_qemu(img, "");
	}
	free(d);
}

static void test_interop_qemu_chain_snapshots(void **state)
{
	char base[256], mid[256], top[256];
	struct blk_open_opts oo = { .format = "qcow2" };
	struct blk *b;

	(void)state;
	if (!have_qemu())
		skip();
	snprintf(base, sizeof(base), "%s/base.raw", tmpdir);
	snprintf(mid, sizeof(mid), "%s/mid.qcow2", tmpdir);
	snprintf(top, sizeof(top), "%s/top.qcow2", tmpdir);
	assert_int_equal(sh("qemu-img create -q -f raw '%s' 5M && qemu-io -f raw -c 'write -P 1 0 5M' "
			    "'%s' >/dev/null", base, base), 0);
	assert_int_equal(sh("qemu-img create -q -f qcow2 -o cluster_size=4k -b base.raw -F raw "
			    "'%s' 8M && qemu-io -f qcow2 -c 'write -P 2 100k 10k' '%s' >/dev/null",
			    mid, mid), 0);
	assert_int_equal(sh("qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 '%s' && "
			    "qemu-io -f qcow2 -c 'write -P 3 1M 1k' -c 'write -z 0 4k' '%s' >/dev/null",
			    top, top), 0);
	expect_same_as_qemu(top, "");
	/* internal snapshots */
	assert_int_equal(sh("qemu-img snapshot -c first '%s' && qemu-io -f qcow2 -c 'write -P 4 0 "
			    "300k' '%s' >/dev/null && qemu-img snapshot -c second '%s' && qemu-io -f "
			    "qcow2 -c 'write -P 5 200k 64k' '%s' >/dev/null", top, top, top, top), 0);
	expect_same_as_qemu(top, "");
	assert_int_equal(blk_open(top, &oo, &b), 0);
	assert_int_equal(qcow2_driver.snapshot_apply(b, "first"), 0);
	expect_clean(b);
	blk_close(b);
	assert_int_equal(sh("qemu-img check -q '%s'", top), 0);
	expect_same_as_qemu(top, "");
	assert_int_equal(sh("qemu-img snapshot -a second '%s'", top), 0);
	expect_same_as_qemu(top, "");
}

/* ---- corrupt-image golden set ---- */

#define GOLDEN_DIR TEST_SRCDIR "/tests/golden/qcow2-corrupt"

/* Patch n bytes at off of the file. */
static void patch(const char *path, uint64_t off, const void *bytes, size_t n)
{
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void patch64(const char *path, uint64_t off, uint64_t v)
{
	uint8_t be[8];

	qcow2_wr64(be, v);
	patch(path, off, be, 8);
}

static void patch32(const char *path, uint64_t off, uint32_t v)
{
	uint8_t be[4];

	qcow2_wr32(be, v);
	patch(path, off, be, 4);
}

/* The base image: 64 KiB clusters, header at 0, refcount table at 0x10000,
 * refcount block at 0x20000, L1 at 0x30000, L2 at 0x40000, data clusters
 * at 0x50000 (guest 0) and 0x60000 (guest 512 KiB). */
static void golden_base(const char *path, const char *backing)
{
	struct blk_create_opts co = { .size = MiB_, .backing_file = backing,
				      .backing_format = backing ? "qcow2" : NULL };
	struct blk_open_opts oo = { .format = "qcow2", .no_backing = true };
	uint8_t buf[65536];
	struct blk *b;

	assert_int_equal(blk_create(path, "qcow2", &co), 0);
	assert_int_equal(blk_open(path, &oo, &b), 0);
	fill_pattern(buf, sizeof(buf), 7);
	assert_int_equal(blk_pwrite(b, 0, buf, sizeof(buf)), 0);
	assert_int_equal(blk_pwrite(b, 512 * 1024, buf, 4096), 0);
	blk_close(b);
}

static void g_truncated_header(const char *p)
{
	golden_base(p, NULL);
	assert_int_equal(truncate(p, 50), 0);
}

static void g_truncated_l2(const char *p)
{
	golden_base(p, NULL);
	assert_int_equal(truncate(p, 0x48000), 0);
}

static void g_l1_past_eof(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 40, 0x1000000);
}

static void g_l2_refblock_overlap(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 0x30000, 0x20000 | QCOW2_OFLAG_COPIED);
}

static void g_zero_refcount(const char *p)
{
	uint8_t z[2] = { 0, 0 };

	golden_base(p, NULL);
	patch(p, 0x20000 + 5 * 2, z, 2);  /* cluster 5: guest data at 0x50000 */
}

static void g_absurd_size(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 24, 1ULL << 62);
}

static void g_absurd_l1_size(const char *p)
{
	golden_base(p, NULL);
	patch32(p, 36, 0x10000000);
}

static void g_absurd_cluster_bits(const char *p)
{
	golden_base(p, NULL);
	patch32(p, 20, 40);
}

static void g_absurd_refcount_order(const char *p)
{
	golden_base(p, NULL);
	patch32(p, 96, 9);
}

static void g_absurd_header_length(const char *p)
{
	golden_base(p, NULL);
	patch32(p, 100, 0x7fffffff);
}

static void g_backing_self(const char *p)
{
	const char *name = strrchr(p, '/') + 1;

	golden_base(p, name);
}

static void g_unknown_feature(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 72, 1ULL << 10);
}

static void g_unaligned_l2_entry(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 0x40000, 0x58000 | QCOW2_OFLAG_COPIED);
}

static void g_l2_reserved_bits(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 0x40000, 0x50100 | QCOW2_OFLAG_COPIED);
}

static void g_extended_l2(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 72, QCOW2_INCOMPAT_EXTL2);
}

static void g_refcount_overflow_snapshot(const char *p)
{
	struct blk_create_opts co = { .size = MiB_, .refcount_bits = 1 };
	struct blk_open_opts oo = { .format = "qcow2" };
	uint8_t buf[512] = { 1 };
	struct blk *b;

	assert_int_equal(blk_create(p, "qcow2", &co), 0);
	assert_int_equal(blk_open(p, &oo, &b), 0);
	assert_int_equal(blk_pwrite(b, 0, buf, sizeof(buf)), 0);
	blk_close(b);
	/* a refcount of 1 for a cluster two L2 entries use */
	patch64(p, 0x40000 + 8, 0x50000 | QCOW2_OFLAG_COPIED);
}

static void g_data_past_eof(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 0x40000 + 8 * 8, 0x7000000 | QCOW2_OFLAG_COPIED);
}

static void g_reftable_past_eof(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 48, 0x800000);
}

static void g_refblock_unaligned(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 0x10000, 0x20100);
}

static void g_compressed_garbage(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 0x40000, QCOW2_OFLAG_COMPRESSED | (3ULL << 54) | 0x50000);
}

static void g_bad_magic(const char *p)
{
	golden_base(p, NULL);
	patch(p, 0, "QFI\xfa", 4);
}

static void g_extension_too_large(const char *p)
{
	golden_base(p, NULL);
	patch32(p, 112 + 4, 0x100000);  /* the feature table's length */
}

static void g_snapshot_table_past_eof(const char *p)
{
	golden_base(p, NULL);
	patch32(p, 60, 1);
	patch64(p, 64, 0x70000);
}

static void g_l2_overlaps_l1(const char *p)
{
	golden_base(p, NULL);
	patch64(p, 0x30000, 0x30000 | QCOW2_OFLAG_COPIED);
}

struct golden_case {
	const char *name;
	void (*make)(const char *path);
};

static const struct golden_case golden_cases[] = {
	{ "absurd-cluster-bits", g_absurd_cluster_bits },
	{ "absurd-header-length", g_absurd_header_length },
	{ "absurd-l1-size", g_absurd_l1_size },
	{ "absurd-refcount-order", g_absurd_refcount_order },
	{ "absurd-size", g_absurd_size },
	{ "backing-self", g_backing_self },
	{ "bad-magic", g_bad_magic },
	{ "compressed-garbage", g_compressed_garbage },
	{ "data-past-eof", g_data_past_eof },
	{ "extended-l2", g_extended_l2 },
	{ "extension-too-large", g_extension_too_large },
	{ "l1-past-eof", g_l1_past_eof },
	{ "l2-overlaps-l1", g_l2_overlaps_l1 },
	{ "l2-refblock-overlap", g_l2_refblock_overlap },
	{ "l2-reserved-bits", g_l2_reserved_bits },
	{ "refcount-1bit-shared", g_refcount_overflow_snapshot },
	{ "refblock-unaligned", g_refblock_unaligned },
	{ "reftable-past-eof", g_reftable_past_eof },
	{ "snapshot-table-past-eof", g_snapshot_table_past_eof },
	{ "truncated-header", g_truncated_header },
	{ "truncated-l2", g_truncated_l2 },
	{ "unaligned-l2-entry", g_unaligned_l2_entry },
	{ "unknown-feature", g_unknown_feature },
	{ "zero-refcount", g_zero_refcount },
};

/* Open read-only, read everything, check: what a user would see. */
static void golden_exercise(const char *path)
{
	struct blk_open_opts oo = { .format = "qcow2", .readonly = true };
	uint8_t *buf = malloc(65536);
	struct blk_check r;
	struct blk *b;
	int ret = blk_open(path, &oo, &b);

	assert_non_null(buf);
	fprintf(stderr, "open: %s\n", ret ? strerror(-ret) : "ok");
	if (ret == 0) {
		uint64_t off;

		for (off = 0, ret = 0; ret == 0 && off < b->size; off += 65536)
			ret = blk_pread(b, off, buf, MIN(65536, b->size - off));
		fprintf(stderr, "read: %s\n", ret ? strerror(-ret) : "ok");
		ret = b->drv->check(b, &r, 0);
		fprintf(stderr, "check: %s, %" PRIu64 " corruptions, %" PRIu64 " leaks, %" PRIu64
			" errors\n", ret ? strerror(-ret) : "done", r.corruptions, r.leaks,
			r.check_errors);
		blk_close(b);
	}
	free(buf);
}

/* Run fn with stderr going to a string (path names replaced by TMP). */
static char *golden_capture(const char *path)
{
	char cap[256], *text, *p;
	size_t len, tl = strlen(tmpdir);
	int saved, fd;

	snprintf(cap, sizeof(cap), "%s/stderr.txt", tmpdir);
	fflush(stderr);
	saved = dup(2);
	fd = open(cap, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	golden_exercise(path);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	text = (char *)read_file(cap, &len);
	text = realloc(text, len + 1);
	text[len] = 0;
	while ((p = strstr(text, tmpdir)) != NULL) {
		memcpy(p, "TMP", 3);
		memmove(p + 3, p + tl, strlen(p + tl) + 1);
	}
	return text;
}

static bool golden_one(const struct golden_case *g, bool update)
{
	char path[256], err[512];
	uint8_t *before, *after;
	size_t blen, alen, wlen;
	uint8_t *want = NULL;
	char *got;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s.qcow2", tmpdir, g->name);
	g->make(path);
	before = read_file(path, &blen);
	got = golden_capture(path);
	after = read_file(path, &alen);
	ok = blen == alen && memcmp(before, after, blen) == 0;
	if (!ok)
		print_error("golden %s: the image file was modified\n", g->name);
	snprintf(err, sizeof(err), "%s/%s.err", GOLDEN_DIR, g->name);
	if (update) {
		write_file(err, (const uint8_t *)got, strlen(got));
	} else if (util_read_file(err, 1 << 20, &want, &wlen) < 0) {
		print_error("golden %s: missing %s\n", g->name, err);
		ok = false;
	} else if (wlen != strlen(got) || memcmp(want, got, wlen) != 0) {
		print_error("golden %s:\n--- expected\n%.*s--- got\n%s", g->name, (int)wlen,
			    (const char *)want, got);
		ok = false;
	}
	free(want);
	free(got);
	free(before);
	free(after);
	return ok;
}

static void test_golden(void **state)
{
	const char *env = getenv("VMKIT_GOLDEN_UPDATE");
	bool update = env && strcmp(env, "1") == 0;
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(golden_cases); i++)
		if (!golden_one(&golden_cases[i], update))
			failed++;
	if (update)
		print_message("updated %zu golden files in %s\n", ARRAY_SIZE(golden_cases),
			      GOLDEN_DIR);
	assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interop_qemu_to_ours),
		cmocka_unit_test(test_interop_qemu_dirty),
		cmocka_unit_test(test_interop_qemu_compressed),
		cmocka_unit_test(test_interop_qemu_chain_snapshots),
	};

	const struct CMUnitTest golden[] = {
		cmocka_unit_test(test_golden),
	};

	if (argc == 2 && strcmp(argv[1], "golden") == 0)
		return cmocka_run_group_tests_name("golden", golden, setup_tmpdir, teardown_tmpdir);
	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
