/* test_qcow2: unit tests of the qcow2 driver (src/block/qcow2*.c): refcount
 * arithmetic for every width, the table cache, header and feature-bit
 * handling, create/open for every version, cluster size and refcount
 * width, read/write/COW/discard/zero/compressed/snapshot/resize round trips
 * against a model on the in-memory backend, crash-consistency of metadata
 * ordering on the write-logging backend, detection of corrupt metadata,
 * and our images checked by qemu-img. Images QEMU's tools made and the
 * corrupt-image golden set: test_qcow2_images.c. Helpers: qcow2_fixture.c.
 * QCOW2_TEST_SEED=N changes the random workloads; QCOW2_TEST_TRACE=1 checks
 * the image and its contents after every operation (slow, for debugging). */
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

/* ---- refcount arithmetic ---- */

static void test_rc_arith(void **state)
{
	uint8_t block[512];

	(void)state;
	for (uint32_t order = 0; order <= 6; order++) {
		uint64_t bits = 1u << order, n = sizeof(block) * 8 / bits;
		uint64_t max = order == 6 ? UINT64_MAX : (1ULL << bits) - 1;

		memset(block, 0, sizeof(block));
		for (uint64_t i = 0; i < n; i++)
			qcow2_rc_set(block, i, order, (i * 2654435761u) & max);
		for (uint64_t i = 0; i < n; i++)
			assert_int_equal(qcow2_rc_get(block, i, order), (i * 2654435761u) & max);
		/* one entry at its maximum leaves its neighbours alone */
		memset(block, 0, sizeof(block));
		qcow2_rc_set(block, 5, order, max);
		assert_true(qcow2_rc_get(block, 5, order) == max);
		assert_int_equal(qcow2_rc_get(block, 4, order), 0);
		assert_int_equal(qcow2_rc_get(block, 6, order), 0);
		qcow2_rc_set(block, 5, order, 0);
		for (size_t i = 0; i < sizeof(block); i++)
			assert_int_equal(block[i], 0);
	}
	/* layout: sub-byte entries start at the least significant bit, wider
	 * ones are big-endian */
	memset(block, 0, sizeof(block));
	qcow2_rc_set(block, 0, 0, 1);
	assert_int_equal(block[0], 0x01);
	qcow2_rc_set(block, 1, 1, 3);
	assert_int_equal(block[0], 0x0d);
	memset(block, 0, sizeof(block));
	qcow2_rc_set(block, 1, 2, 0xa);
	assert_int_equal(block[0], 0xa0);
	qcow2_rc_set(block, 1, 4, 0x1234);
	assert_int_equal(block[2], 0x12);
	assert_int_equal(block[3], 0x34);
	qcow2_rc_set(block, 1, 6, 0x0102030405060708ULL);
	assert_int_equal(block[8], 0x01);
	assert_int_equal(block[15], 0x08);
}

/* ---- table cache ---- */

static void test_cache_lru(void **state)
{
	struct qcow2_cache c;
	unsigned v;

	(void)state;
	assert_int_equal(qcow2_cache_init(&c, 3, 512), 0);
	assert_int_equal(qcow2_cache_find(&c, 0x1000), -1);
	assert_int_equal(qcow2_cache_find(&c, 0), -1);   /* 0 is never a table */
	for (uint64_t i = 0; i < 3; i++) {
		v = qcow2_cache_victim(&c);
		assert_int_equal(c.ent[v].off, 0);        /* empty slots first */
		assert_int_equal(qcow2_cache_fill(&c, v, 0x1000 * (i + 1)), 0);
		assert_non_null(c.ent[v].buf);
	}
	/* all full: the least recently used (0x1000) goes, unless it was used */
	assert_true(qcow2_cache_find(&c, 0x1000) >= 0);
	v = qcow2_cache_victim(&c);
	assert_int_equal(c.ent[v].off, 0x2000);
	assert_int_equal(qcow2_cache_fill(&c, v, 0x4000), 0);
	assert_int_equal(qcow2_cache_find(&c, 0x2000), -1);
	assert_true(qcow2_cache_find(&c, 0x4000) >= 0);
	assert_true(qcow2_cache_find(&c, 0x3000) >= 0);
	v = qcow2_cache_victim(&c);
	assert_int_equal(c.ent[v].off, 0x1000);
	/* drop frees a slot, reset empties the cache */
	qcow2_cache_drop(&c, 0x3000);
	assert_int_equal(qcow2_cache_find(&c, 0x3000), -1);
	v = qcow2_cache_victim(&c);
	assert_int_equal(c.ent[v].off, 0);
	qcow2_cache_reset(&c);
	assert_int_equal(qcow2_cache_find(&c, 0x4000), -1);
	assert_true(c.hits >= 3 && c.misses >= 4);
	qcow2_cache_destroy(&c);
	qcow2_cache_destroy(&c); /* twice is fine */
}

/* ---- basic round trip ---- */

static void test_create_rw_basic(void **state)
{
	struct blk_create_opts co = { .size = 8 * MiB_ };
	uint8_t buf[70000], z[4096] = { 0 };
	struct blk *b;

	(void)state;
	b = mem_create(&co);
	assert_int_equal(b->size, 8 * MiB_);
	assert_int_equal(qcow2_driver.cluster_size(b), 65536);
	expect_read(b, 0, z, sizeof(z));
	fill_pattern(buf, sizeof(buf), 1);
	assert_int_equal(blk_pwrite(b, 1000, buf, sizeof(buf)), 0);
	expect_read(b, 1000, buf, sizeof(buf));
	expect_read(b, 0, z, 1000);
	expect_clean(b);
	blk_close(b);
}

/* ---- model-based workload ---- */

enum wl_flags {
	WL_DISCARD = 1 << 0,
	WL_ZERO = 1 << 1,
	WL_COMPRESS = 1 << 2,
	WL_REOPEN = 1 << 3,     /* flush, close and reopen now and then */
	WL_SNAPSHOT = 1 << 4,
	WL_RESIZE = 1 << 5,
};

struct model {
	uint8_t *data;          /* what the guest must read */
	uint64_t size;
	const uint8_t *backing; /* backing file contents (NULL: none) */
	uint64_t backing_size;
	uint32_t cs;
	unsigned rc_bits;
	uint8_t *snap[4];       /* contents at each snapshot */
	uint64_t snap_size[4];
	unsigned nsnap;
	unsigned seq;
	const char *path;       /* file-backed image: reopen by path */
};

static void model_init(struct model *m, uint64_t size, uint32_t cs)
{
	memset(m, 0, sizeof(*m));
	m->size = size;
	m->cs = cs;
	m->data = calloc(1, size ? size : 1);
	assert_non_null(m->data);
}

static void model_free(struct model *m)
{
	free(m->data);
	for (unsigned i = 0; i < m->nsnap; i++)
		free(m->snap[i]);
}

/* What unallocated guest bytes [off, off+n) read as. */
static void model_unalloc(struct model *m, uint64_t off, uint64_t n)
{
	for (uint64_t i = off; i < off + n; i++)
		m->data[i] = (m->backing && i < m->backing_size) ? m->backing[i] : 0;
}

static void model_check(struct model *m, struct blk *b)
{
	assert_int_equal(blk_length(b), m->size);
	if (m->size)
		expect_read(b, 0, m->data, m->size);
}

static void wl_write(struct model *m, struct blk *b)
{
	uint64_t off = rnd() % m->size, n = 1 + rnd() % (3 * m->cs);
	uint8_t *buf;

	if (rnd() % 2)
		off = ALIGN_DOWN(off, 512);
	n = MIN(n, m->size - off);
	buf = malloc(n);
	assert_non_null(buf);
	fill_pattern(buf, n, ++m->seq);
	if (rnd() % 3 == 0 && n > 2) {
		/* vectored: three pieces */
		struct iovec v[3] = { { buf, n / 3 }, { buf + n / 3, n / 3 },
				      { buf + 2 * (n / 3), n - 2 * (n / 3) } };

		assert_int_equal(blk_writev(b, off, v, 3), 0);
	} else {
		assert_int_equal(blk_pwrite(b, off, buf, n), 0);
	}
	memcpy(m->data + off, buf, n);
	free(buf);
}

static void wl_zero(struct model *m, struct blk *b)
{
	uint64_t off = rnd() % m->size, n = 1 + rnd() % (4 * m->cs);

	n = MIN(n, m->size - off);
	assert_int_equal(blk_write_zeroes(b, off, n, rnd() % 2), 0);
	memset(m->data + off, 0, n);
}

static void wl_discard(struct model *m, struct blk *b, unsigned version)
{
	uint64_t off = ALIGN_DOWN(rnd() % m->size, m->cs), n = m->cs * (1 + rnd() % 4);
	uint64_t end = MIN(off + n, m->size);

	assert_int_equal(blk_discard(b, off, end - off), 0);
	/* whole clusters (and a tail cluster at the end of the disk) */
	if (end != m->size)
		end = ALIGN_DOWN(end, m->cs);
	if (end <= off)
		return;
	if (version >= 3 && m->backing)
		memset(m->data + off, 0, end - off);
	else
		model_unalloc(m, off, end - off);
}

static void wl_compress(struct model *m, struct blk *b)
{
	uint64_t off = ALIGN_DOWN(rnd() % m->size, m->cs), n = MIN(m->cs, m->size - off);
	uint8_t *buf = malloc(n);

	assert_non_null(buf);
	if (rnd() % 4 == 0) {
		for (uint64_t i = 0; i < n; i++)
			buf[i] = (uint8_t)rnd();   /* incompressible */
	} else {
		memset(buf, 0, n);
		fill_pattern(buf, n / 3, ++m->seq);
	}
	assert_int_equal(qcow2_driver.write_compressed(b, off, buf, n), 0);
	memcpy(m->data + off, buf, n);
	free(buf);
}

static void wl_snapshot(struct model *m, struct blk *b)
{
	struct blk_snapshot *list;
	size_t n;
	char name[40];
	unsigned op = rnd() % 3, i = m->nsnap ? (unsigned)(rnd() % m->nsnap) : 0;

	if (op == 0 && m->nsnap < 4) {
		int ret;

		snprintf(name, sizeof(name), "s%u", m->seq++);
		ret = qcow2_driver.snapshot_create(b, name);
		if (ret == -ERANGE && m->rc_bits < 8)
			return;  /* refcounts too narrow for one more snapshot */
		assert_int_equal(ret, 0);
		m->snap[m->nsnap] = malloc(m->size ? m->size : 1);
		memcpy(m->snap[m->nsnap], m->data, m->size);
		m->snap_size[m->nsnap++] = m->size;
		return;
	}
	if (m->nsnap == 0)
		return;
	assert_int_equal(qcow2_driver.snapshot_list(b, &list, &n), 0);
	assert_int_equal(n, m->nsnap);
	snprintf(name, sizeof(name), "%s", list[i].id);
	free(list);
	if (op == 1) {
		int ret = qcow2_driver.snapshot_apply(b, name);

		if (ret == -ERANGE && m->rc_bits < 8)
			return;  /* refcounts too narrow */
		assert_int_equal(ret, 0);
		free(m->data);
		m->size = m->snap_size[i];
		m->data = malloc(m->size ? m->size : 1);
		memcpy(m->data, m->snap[i], m->size);
		return;
	}
	assert_int_equal(qcow2_driver.snapshot_delete(b, name), 0);
	free(m->snap[i]);
	memmove(&m->snap[i], &m->snap[i + 1], (m->nsnap - i - 1) * sizeof(m->snap[0]));
	memmove(&m->snap_size[i], &m->snap_size[i + 1], (m->nsnap - i - 1) * sizeof(uint64_t));
	m->nsnap--;
}

static void wl_resize(struct model *m, struct blk *b)
{
	uint64_t ns = m->size + (rnd() % 4) * m->cs + 512 * (rnd() % 3);

	if (m->nsnap == 0 && rnd() % 2)
		ns = ALIGN_DOWN(m->size / 2, 512) + 512 * (rnd() % 3);
	assert_int_equal(blk_resize(b, ns), 0);
	m->data = realloc(m->data, ns ? ns : 1);
	assert_non_null(m->data);
	if (ns > m->size)
		memset(m->data + m->size, 0, ns - m->size);
	m->size = ns;
}

/* nops random operations on b (mirrored in m), verified at the end. */
static struct blk *workload(struct model *m, struct blk *b, unsigned nops, unsigned flags,
			    unsigned version)
{
	for (unsigned i = 0; i < nops; i++) {
		unsigned op = (unsigned)(rnd() % 16);

		if (op < 8 || m->size == 0)
			wl_write(m, b);
		else if (op < 10 && (flags & WL_ZERO))
			wl_zero(m, b);
		else if (op < 12 && (flags & WL_DISCARD))
			wl_discard(m, b, version);
		else if (op < 13 && (flags & WL_COMPRESS))
			wl_compress(m, b);
		else if (op < 14 && (flags & WL_SNAPSHOT))
			wl_snapshot(m, b);
		else if (op < 15 && (flags & WL_RESIZE))
			wl_resize(m, b);
		else if ((flags & WL_REOPEN) && m->path)
			b = file_reopen(b, m->path, false);
		else if (flags & WL_REOPEN)
			b = mem_reopen(b, false);
		if (m->size == 0 && (flags & WL_RESIZE))
			wl_resize(m, b);
		if (getenv("QCOW2_TEST_TRACE")) {
			fprintf(stderr, "op %u: %u size %" PRIu64 " nsnap %u\n", i, op, m->size,
				m->nsnap);
			expect_clean(b);
			model_check(m, b);
		}
	}
	model_check(m, b);
	expect_clean(b);
	return b;
}

static void test_workload_variants(void **state)
{
	static const uint32_t sizes[] = { 512, 4096, 65536, 2u * MiB_ };
	static const unsigned orders[] = { 0, 1, 3, 4, 5, 6 };

	(void)state;
	for (unsigned v = 2; v <= 3; v++) {
		for (size_t ci = 0; ci < ARRAY_SIZE(sizes); ci++) {
			for (size_t oi = 0; oi < ARRAY_SIZE(orders); oi++) {
				unsigned bits = 1u << orders[oi];
				struct blk_create_opts co = { .size = 3 * MiB_ + 1234,
							      .cluster_size = sizes[ci],
							      .compat = v, .refcount_bits = bits };
				unsigned flags = WL_DISCARD | WL_ZERO | WL_COMPRESS | WL_REOPEN;
				struct model m;
				struct blk *b;

				if (v == 2 && bits != 16)
					continue;
				if (bits > 1)
					flags |= WL_SNAPSHOT | WL_RESIZE;
				b = mem_create(&co);
				assert_int_equal(blk_length(b), ALIGN_UP(co.size, 512));
				model_init(&m, (uint64_t)blk_length(b), sizes[ci]);
				m.rc_bits = bits;
				b = workload(&m, b, sizes[ci] >= MiB_ ? 60 : 150, flags, v);
				b = mem_reopen(b, true);
				model_check(&m, b);
				blk_close(b);
				model_free(&m);
			}
		}
	}
}

/* ---- header and feature bits ---- */

static size_t find_bytes(const uint8_t *h, size_t n, const void *pat, size_t pn)
{
	for (size_t i = 0; i + pn <= n; i++)
		if (memcmp(h + i, pat, pn) == 0)
			return i;
	return SIZE_MAX;
}

/* A written v3 image with extra feature bits and an unknown extension. */
static uint8_t *feature_image(size_t *len, uint64_t compat, uint64_t autoclear)
{
	struct blk_create_opts co = { .size = MiB_ };
	uint8_t buf[1000], ext[16] = { 0x12, 0x34, 0x56, 0x78, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o' };
	struct blk *b = mem_create(&co);
	uint8_t *img;

	fill_pattern(buf, sizeof(buf), 3);
	assert_int_equal(blk_pwrite(b, 5000, buf, sizeof(buf)), 0);
	img = mem_bytes(b, len);
	blk_close(b);
	/* extensions start at 112: slide them to insert ours first */
	memmove(img + 112 + 16, img + 112, 4096);
	memcpy(img + 112, ext, sizeof(ext));
	qcow2_wr64(img + 80, compat);
	qcow2_wr64(img + 88, autoclear);
	return img;
}

static void test_feature_bits(void **state)
{
	uint8_t *img, *after, want[1000];
	size_t len, alen;
	struct blk *b;
	json_t *j;

	(void)state;
	fill_pattern(want, sizeof(want), 3);
	img = feature_image(&len, 1ULL << 5, (1ULL << 7) | 1);
	/* read-only: nothing changes */
	assert_int_equal(mem_open(img, len, true, &b), 0);
	expect_read(b, 5000, want, sizeof(want));
	after = mem_bytes(b, &alen);
	assert_memory_equal(after, img, len);
	free(after);
	blk_close(b);
	/* read-write: autoclear bits cleared, the rest kept */
	assert_int_equal(mem_open(img, len, false, &b), 0);
	after = mem_bytes(b, &alen);
	assert_int_equal(qcow2_rd64(after + 88), 0);
	assert_int_equal(qcow2_rd64(after + 80), 1ULL << 5);
	assert_true(find_bytes(after, 65536, "\x12\x34\x56\x78\0\0\0\x05hello", 13) != SIZE_MAX);
	assert_true(find_bytes(after, 65536, "lazy refcounts", 14) != SIZE_MAX);
	expect_read(b, 5000, want, sizeof(want));
	j = b->drv->info_specific(b);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "data"),
							     "compat")), "1.1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "data"),
							   "refcount-bits")), 16);
	json_decref(j);
	expect_clean(b);
	free(after);
	blk_close(b);
	/* unknown incompatible bits refuse the open, named ones by name */
	qcow2_wr64(img + 72, 1ULL << 9);
	assert_int_equal(mem_open(img, len, true, &b), -ENOTSUP);
	qcow2_wr64(img + 72, QCOW2_INCOMPAT_DATA_FILE);
	assert_int_equal(mem_open(img, len, true, &b), -ENOTSUP);
	qcow2_wr64(img + 72, QCOW2_INCOMPAT_COMPRESSION);  /* without a type: invalid */
	assert_int_equal(mem_open(img, len, true, &b), -EINVAL);
	free(img);
}

static void test_corrupt_and_dirty_bits(void **state)
{
	struct blk_create_opts co = { .size = MiB_, .lazy_refcounts = true, .cluster_size = 4096 };
	struct blk_open_opts oc = { .format = "qcow2", .no_backing = true, .check = true };
	uint8_t buf[8192], *img;
	struct blk_check r;
	struct blk_file *f;
	size_t len;
	struct blk *b = mem_create(&co);

	(void)state;
	fill_pattern(buf, sizeof(buf), 9);
	assert_int_equal(blk_pwrite(b, 4096, buf, sizeof(buf)), 0);
	assert_true(b->drv->is_dirty(b));
	assert_int_equal(blk_flush(b), 0);
	img = mem_bytes(b, &len);    /* "crashed" while dirty */
	blk_close(b);
	assert_true(qcow2_rd64(img + 72) & QCOW2_INCOMPAT_DIRTY);
	/* lazy refcounts: the refcount block was never needed; zero it */
	memset(img + 2 * 4096 + 2 * 3, 0, 2 * 6);
	assert_int_equal(mem_open(img, len, true, &b), 0);  /* read-only: as is */
	expect_read(b, 4096, buf, sizeof(buf));
	assert_int_equal(b->drv->check(b, &r, 0), 0);
	assert_true(r.corruptions > 0);
	blk_close(b);
	assert_int_equal(mem_open(img, len, false, &b), 0);  /* read-write: repaired */
	assert_false(b->drv->is_dirty(b));
	expect_clean(b);
	expect_read(b, 4096, buf, sizeof(buf));
	blk_close(b);
	/* the corrupt bit: read-only only, unless opened for check -r */
	qcow2_wr64(img + 72, QCOW2_INCOMPAT_CORRUPT);
	assert_int_equal(mem_open(img, len, false, &b), -EACCES);
	assert_int_equal(mem_open(img, len, true, &b), 0);
	expect_read(b, 4096, buf, sizeof(buf));
	blk_close(b);
	assert_int_equal(blk_file_open_mem(img, len, &f), 0);
	assert_int_equal(blk_open_file(f, &oc, &b), 0);
	assert_int_equal(blk_pwrite(b, 0, buf, 512), -EIO);  /* still marked corrupt */
	assert_int_equal(b->drv->check(b, &r, BLK_FIX_LEAKS | BLK_FIX_ERRORS), 0);
	assert_int_equal(r.corruptions, 0);
	assert_true(r.corruptions_fixed > 0);
	free(img);
	img = mem_bytes(b, &len);
	assert_int_equal(qcow2_rd64(img + 72) & QCOW2_INCOMPAT_CORRUPT, 0);
	assert_int_equal(blk_pwrite(b, 0, buf, 512), 0);
	expect_clean(b);
	blk_close(b);
	free(img);
}

/* Corruption found while running marks the image corrupt and fails. */
static void test_corrupt_runtime(void **state)
{
	struct blk_create_opts co = { .size = MiB_ };
	uint8_t buf[4096], *img, *after;
	size_t len, alen;
	struct blk *b = mem_create(&co);

	(void)state;
	memset(buf, 0x42, sizeof(buf));
	assert_int_equal(blk_pwrite(b, 0, buf, sizeof(buf)), 0);
	img = mem_bytes(b, &len);
	blk_close(b);
	qcow2_wr64(img + 0x40000, 0x58000 | QCOW2_OFLAG_COPIED);  /* unaligned data cluster */
	/* read-only: reported, nothing written */
	assert_int_equal(mem_open(img, len, true, &b), 0);
	assert_int_equal(blk_pread(b, 0, buf, 512), -EIO);
	after = mem_bytes(b, &alen);
	assert_memory_equal(after, img, len);
	free(after);
	blk_close(b);
	/* read-write: the corrupt bit is set, writes are refused from then on */
	assert_int_equal(mem_open(img, len, false, &b), 0);
	assert_int_equal(blk_pread(b, 70000, buf, 512), 0);
	assert_int_equal(blk_pread(b, 0, buf, 512), -EIO);
	assert_int_equal(blk_pwrite(b, 70000, buf, 512), -EIO);
	after = mem_bytes(b, &alen);
	assert_true(qcow2_rd64(after + 72) & QCOW2_INCOMPAT_CORRUPT);
	blk_close(b);
	assert_int_equal(mem_open(after, alen, false, &b), -EACCES);
	free(after);
	free(img);
}

/* Rebase -u: a new backing reference, other extensions untouched. */
static void test_set_backing(void **state)
{
	struct blk_create_opts co = { .size = MiB_, .cluster_size = 512, .backing_file = "old.img",
				      .backing_format = "raw" };
	uint8_t *img;
	size_t len;
	struct blk *b = mem_create(&co);

	(void)state;
	assert_int_equal(b->drv->set_backing(b, "new-base.qcow2", "qcow2"), 0);
	assert_string_equal(b->backing_name, "new-base.qcow2");
	assert_string_equal(b->backing_fmt, "qcow2");
	b = mem_reopen(b, true);
	assert_string_equal(b->backing_name, "new-base.qcow2");
	assert_string_equal(b->backing_fmt, "qcow2");
	blk_close(b);
	b = mem_create(&co);
	assert_int_equal(b->drv->set_backing(b, NULL, NULL), 0);
	assert_null(b->backing_name);
	img = mem_bytes(b, &len);
	assert_int_equal(qcow2_rd64(img + 8), 0);
	assert_true(find_bytes(img, 512, "\xe2\x79\x2a\xca", 4) == SIZE_MAX);
	free(img);
	/* too long for the header cluster (512 bytes) */
	{
		char name[1024];

		memset(name, 'x', sizeof(name) - 1);
		name[sizeof(name) - 1] = 0;
		assert_true(b->drv->set_backing(b, name, "raw") < 0);
		assert_null(b->backing_name);
	}
	expect_clean(b);
	blk_close(b);
}

static void test_l1_arith(void **state)
{
	(void)state;
	/* one L2 table maps cluster_size / 8 clusters */
	assert_int_equal(qcow2_l1_entries_for(0, 16), 0);
	assert_int_equal(qcow2_l1_entries_for(1, 16), 1);
	assert_int_equal(qcow2_l1_entries_for(512ULL << 20, 16), 1);
	assert_int_equal(qcow2_l1_entries_for((512ULL << 20) + 1, 16), 2);
	assert_int_equal(qcow2_l1_entries_for(1ULL << 30, 9), 1ULL << 30 >> 15);
	assert_int_equal(qcow2_l1_entries_for(BLK_MAX_SIZE, 21), BLK_MAX_SIZE >> 39);
	/* sizes the format cannot address with a 32 MiB L1 table are refused */
	{
		struct blk_create_opts co = { .size = 1ULL << 40, .cluster_size = 512 };
		struct blk_file *f;

		assert_int_equal(blk_file_open_mem(NULL, 0, &f), 0);
		assert_int_equal(qcow2_driver.create(f, &co), -EFBIG);
		blk_file_close(f);
	}
}

/* ---- repair ---- */

static void test_repair(void **state)
{
	struct blk_create_opts co = { .size = 2 * MiB_, .cluster_size = 4096 };
	struct blk_open_opts oc = { .format = "qcow2", .no_backing = true, .check = true };
	uint8_t buf[20000], buf2[20000], *img;
	struct blk_check r;
	struct blk_file *f;
	size_t len;
	struct blk *b = mem_create(&co);

	(void)state;
	fill_pattern(buf, sizeof(buf), 11);
	assert_int_equal(blk_pwrite(b, 0, buf, sizeof(buf)), 0);
	assert_int_equal(blk_pwrite(b, MiB_, buf, sizeof(buf)), 0);
	assert_int_equal(blk_discard(b, 2 * 4096, 4096), 0);
	memcpy(buf2, buf, sizeof(buf));
	memset(buf2 + 2 * 4096, 0, 4096);
	img = mem_bytes(b, &len);
	blk_close(b);
	/* refcount block at cluster 2 (data at 5..9, 7 discarded): a leak
	 * (cluster 7), an error (cluster 6 used but 0), and a leak with a wrong
	 * COPIED flag (refcount 2 for cluster 8) */
	assert_int_equal(qcow2_rd16(img + 2 * 4096 + 7 * 2), 0);
	qcow2_wr16(img + 2 * 4096 + 7 * 2, 1);
	qcow2_wr16(img + 2 * 4096 + 6 * 2, 0);
	qcow2_wr16(img + 2 * 4096 + 8 * 2, 2);
	assert_int_equal(blk_file_open_mem(img, len, &f), 0);
	assert_int_equal(blk_open_file(f, &oc, &b), 0);
	assert_int_equal(b->drv->check(b, &r, 0), 0);
	assert_int_equal(r.leaks, 2);
	assert_true(r.corruptions >= 2);
	assert_int_equal(b->drv->check(b, &r, BLK_FIX_LEAKS), 0);
	assert_int_equal(r.leaks_fixed, 2);
	assert_int_equal(r.leaks, 0);
	assert_true(r.corruptions >= 1);
	assert_int_equal(b->drv->check(b, &r, BLK_FIX_LEAKS | BLK_FIX_ERRORS), 0);
	assert_int_equal(r.corruptions, 0);
	expect_clean(b);
	expect_read(b, 0, buf2, sizeof(buf));
	expect_read(b, MiB_, buf, sizeof(buf));
	blk_close(b);
	free(img);
}

static void test_repair_rebuild(void **state)
{
	struct blk_create_opts co = { .size = 2 * MiB_, .cluster_size = 4096 };
	struct blk_open_opts oc = { .format = "qcow2", .no_backing = true, .check = true };
	uint8_t buf[9000], *img;
	struct blk_check r;
	struct blk_file *f;
	size_t len;
	struct blk *b = mem_create(&co);

	(void)state;
	fill_pattern(buf, sizeof(buf), 12);
	assert_int_equal(blk_pwrite(b, 100000, buf, sizeof(buf)), 0);
	img = mem_bytes(b, &len);
	blk_close(b);
	qcow2_wr64(img + 4096, 2 * 4096 + 8);  /* refcount block offset unaligned */
	assert_int_equal(blk_file_open_mem(img, len, &f), 0);
	assert_int_equal(blk_open_file(f, &oc, &b), 0);
	assert_int_equal(b->drv->check(b, &r, 0), 0);
	assert_true(r.corruptions > 0);
	assert_int_equal(b->drv->check(b, &r, BLK_FIX_ERRORS | BLK_FIX_LEAKS), 0);
	assert_int_equal(r.corruptions, 0);
	assert_true(r.corruptions_fixed > 0);
	expect_clean(b);
	expect_read(b, 100000, buf, sizeof(buf));
	/* and it still allocates correctly */
	assert_int_equal(blk_pwrite(b, MiB_, buf, sizeof(buf)), 0);
	expect_read(b, MiB_, buf, sizeof(buf));
	expect_clean(b);
	blk_close(b);
	free(img);
}

/* ---- backing files ---- */

static struct blk *with_backing(const struct blk_create_opts *co, const uint8_t *bdata,
				size_t blen)
{
	struct blk_open_opts ro = { .format = "raw", .readonly = true };
	struct blk_file *bf;
	struct blk *b = mem_create(co), *bk;

	assert_int_equal(blk_file_open_mem(bdata, blen, &bf), 0);
	assert_int_equal(blk_open_file(bf, &ro, &bk), 0);
	b->backing = bk;
	return b;
}

static void test_backing_cow(void **state)
{
	size_t blen = 1536 * 1024;
	uint8_t *bdata = malloc(blen), buf[3000];

	(void)state;
	assert_non_null(bdata);
	fill_pattern(bdata, blen, 21);
	for (unsigned v = 2; v <= 3; v++) {
		static const uint32_t sizes[] = { 512, 65536 };

		for (size_t ci = 0; ci < ARRAY_SIZE(sizes); ci++) {
			struct blk_create_opts co = { .size = 2 * MiB_, .cluster_size = sizes[ci],
						      .compat = v, .backing_file = "base",
						      .backing_format = "raw" };
			struct blk *b = with_backing(&co, bdata, blen);
			struct model m;

			assert_string_equal(b->backing_name, "base");
			assert_string_equal(b->backing_fmt, "raw");
			model_init(&m, co.size, sizes[ci]);
			m.rc_bits = 16;
			m.backing = bdata;
			m.backing_size = blen;
			model_unalloc(&m, 0, m.size);
			model_check(&m, b);
			/* a small write copies the rest of its cluster from the backing file */
			fill_pattern(buf, sizeof(buf), 5);
			assert_int_equal(blk_pwrite(b, 1000, buf, sizeof(buf)), 0);
			memcpy(m.data + 1000, buf, sizeof(buf));
			model_check(&m, b);
			b = workload(&m, b, 120, WL_DISCARD | WL_ZERO | WL_COMPRESS | WL_SNAPSHOT |
				     WL_RESIZE, v);
			/* make_empty: everything comes from the backing file again */
			if (m.nsnap == 0 && m.size == co.size) {
				assert_int_equal(b->drv->make_empty(b), 0);
				model_unalloc(&m, 0, m.size);
				model_check(&m, b);
				expect_clean(b);
			}
			blk_close(b);
			model_free(&m);
		}
	}
	free(bdata);
}

/* ---- cache=none: aligned file I/O only ---- */

struct afile {
	struct blk_file f;
	struct blk_file *under;
};

static bool afile_ok(struct blk_file *f, const void *buf, size_t len, uint64_t off)
{
	return (((uintptr_t)buf | len | off) & (f->align - 1)) == 0;
}

static int afile_pread(struct blk_file *f, void *buf, size_t len, uint64_t off)
{
	if (!afile_ok(f, buf, len, off))
		fail_msg("unaligned read of %zu bytes at %" PRIu64, len, off);
	return blk_file_pread(((struct afile *)f)->under, buf, len, off);
}

static int afile_pwrite(struct blk_file *f, const void *buf, size_t len, uint64_t off)
{
	if (!afile_ok(f, buf, len, off))
		fail_msg("unaligned write of %zu bytes at %" PRIu64, len, off);
	return blk_file_pwrite(((struct afile *)f)->under, buf, len, off);
}

static int afile_flush(struct blk_file *f)
{
	return blk_file_flush(((struct afile *)f)->under);
}

static int afile_truncate(struct blk_file *f, uint64_t size)
{
	return blk_file_truncate(((struct afile *)f)->under, size);
}

static int afile_punch(struct blk_file *f, uint64_t off, uint64_t len)
{
	return blk_file_punch(((struct afile *)f)->under, off, len);
}

static int64_t afile_size(struct blk_file *f)
{
	return blk_file_size(((struct afile *)f)->under);
}

static int64_t afile_allocated(struct blk_file *f)
{
	return afile_size(f);
}

static void afile_close(struct blk_file *f)
{
	blk_file_close(((struct afile *)f)->under);
	free(f);
}

static const struct blk_file_ops afile_ops = {
	.name = "aligned", .pread = afile_pread, .pwrite = afile_pwrite, .flush = afile_flush,
	.truncate = afile_truncate, .punch = afile_punch, .size = afile_size,
	.allocated = afile_allocated, .close = afile_close,
};

static void test_direct_alignment(void **state)
{
	static const uint32_t sizes[] = { 512, 4096, 65536 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		struct blk_create_opts co = { .size = 2 * MiB_, .cluster_size = sizes[i] };
		struct blk_open_opts oo = { .format = "qcow2", .no_backing = true };
		struct afile *a = calloc(1, sizeof(*a));
		struct model m;
		struct blk *b;

		assert_non_null(a);
		a->f.ops = &afile_ops;
		a->f.name = (char *)"<aligned>";
		a->f.align = 4096;
		assert_int_equal(blk_file_open_mem(NULL, 0, &a->under), 0);
		assert_int_equal(qcow2_driver.create(&a->f, &co), 0);
		assert_int_equal(blk_open_file(&a->f, &oo, &b), 0);
		model_init(&m, co.size, sizes[i]);
		m.rc_bits = 16;
		b = workload(&m, b, 80, WL_DISCARD | WL_ZERO | WL_COMPRESS | WL_SNAPSHOT | WL_RESIZE, 3);
		blk_close(b);
		model_free(&m);
	}
}

/* ---- crash consistency of the write ordering ---- */

struct img_buf {
	uint8_t *d;
	size_t len, cap;
};

static void ib_resize(struct img_buf *ib, size_t len)
{
	if (len > ib->cap) {
		ib->cap = MAX(len, ib->cap * 2);
		ib->d = realloc(ib->d, ib->cap);
		assert_non_null(ib->d);
	}
	if (len > ib->len)
		memset(ib->d + ib->len, 0, len - ib->len);
	ib->len = len;
}

static void ib_apply(struct img_buf *ib, const struct blk_wlog_entry *e)
{
	switch (e->kind) {
	case BLK_WLOG_WRITE:
		if (e->off + e->len > ib->len)
			ib_resize(ib, e->off + e->len);
		memcpy(ib->d + e->off, e->data, e->len);
		break;
	case BLK_WLOG_TRUNCATE:
		ib_resize(ib, e->len);
		break;
	case BLK_WLOG_PUNCH:
		if (e->off < ib->len)
			memset(ib->d + e->off, 0, MIN(e->len, ib->len - e->off));
		break;
	case BLK_WLOG_FLUSH:
		break;
	}
}

/* The image after a crash at entry cut: everything before the last flush,
 * and a random subset of the writes after it. */
static void crash_image(const uint8_t *base, size_t blen, const struct blk_wlog *log,
			size_t cut, struct img_buf *ib)
{
	size_t last_flush = 0;

	ib->len = 0;
	ib_resize(ib, blen);
	memcpy(ib->d, base, blen);
	for (size_t i = 0; i < cut; i++)
		if (log->v[i].kind == BLK_WLOG_FLUSH)
			last_flush = i + 1;
	for (size_t i = 0; i < last_flush; i++)
		ib_apply(ib, &log->v[i]);
	for (size_t i = last_flush; i < cut; i++)
		if (rnd() % 2)
			ib_apply(ib, &log->v[i]);
}

/* Leaks at most, for us and (sometimes) for qemu-img check. */
static void expect_consistent(const struct img_buf *ib, size_t cut, bool qemu)
{
	struct blk_check r;
	struct blk *b;
	char path[256];
	int rc;

	log_set_level(LOG_ERROR);  /* leaks are expected: no "Leaked cluster" lines */
	assert_int_equal(mem_open(ib->d, ib->len, true, &b), 0);
	assert_int_equal(qcow2_driver.check(b, &r, 0), 0);
	log_set_level(LOG_WARN);
	if (r.corruptions || r.check_errors)
		fail_msg("crash at log entry %zu: %" PRIu64 " corruptions, %" PRIu64 " errors", cut,
			 r.corruptions, r.check_errors);
	blk_close(b);
	if (!qemu)
		return;
	snprintf(path, sizeof(path), "%s/crash.qcow2", tmpdir);
	write_file(path, ib->d, ib->len);
	rc = sh("qemu-img check -q '%s' 2>/dev/null", path);
	if (rc != 0 && rc != 3)
		fail_msg("crash at log entry %zu: qemu-img check exit status %d", cut, rc);
}

static void crash_one(uint32_t cs, unsigned flags, unsigned version)
{
	struct blk_create_opts co = { .size = 2 * MiB_, .cluster_size = cs, .compat = version };
	struct blk_open_opts oo = { .format = "qcow2", .no_backing = true };
	struct img_buf ib = { 0 };
	struct blk_wlog log = { 0 };
	struct blk_file *mf, *wf;
	struct model m;
	uint8_t *base;
	size_t blen;
	struct blk *b = mem_create(&co);
	bool qemu = have_qemu();

	base = mem_bytes(b, &blen);
	blk_close(b);
	assert_int_equal(blk_file_open_mem(base, blen, &mf), 0);
	assert_int_equal(blk_file_open_wlog(mf, &log, &wf), 0);
	assert_int_equal(blk_open_file(wf, &oo, &b), 0);
	model_init(&m, co.size, cs);
	m.rc_bits = 16;
	for (unsigned i = 0; i < 25; i++) {
		b = workload(&m, b, 3, flags, version);
		if (rnd() % 3)
			assert_int_equal(blk_flush(b), 0);
	}
	blk_close(b);
	for (size_t cut = 0; cut <= log.n; cut++) {
		if (cut < log.n && log.v[cut].kind != BLK_WLOG_FLUSH && rnd() % 8)
			continue;
		crash_image(base, blen, &log, cut, &ib);
		expect_consistent(&ib, cut, qemu && rnd() % 6 == 0);
	}
	free(ib.d);
	free(base);
	model_free(&m);
	blk_wlog_free(&log);
}

static void test_crash_ordering(void **state)
{
	(void)state;
	crash_one(4096, WL_DISCARD | WL_ZERO | WL_COMPRESS, 3);
	crash_one(512, WL_DISCARD | WL_ZERO | WL_SNAPSHOT | WL_RESIZE, 3);
	crash_one(65536, WL_DISCARD | WL_ZERO | WL_COMPRESS | WL_SNAPSHOT | WL_RESIZE, 3);
	crash_one(4096, WL_DISCARD | WL_ZERO | WL_SNAPSHOT | WL_RESIZE, 2);
}


/* ---- our images, checked by QEMU's tools ---- */

/* Images we write pass qemu-img check and compare equal to the model. */
static void ours_check_with_qemu(struct model *m, const char *img)
{
	char raw[256];

	snprintf(raw, sizeof(raw), "%s/model.raw", tmpdir);
	write_file(raw, m->data, m->size);
	if (sh("qemu-img check -q '%s'", img) != 0) {
		sh("qemu-img check '%s' | head -20", img);
		fail_msg("qemu-img check failed on %s", img);
	}
	if (sh("qemu-img compare -q -f raw -F qcow2 '%s' '%s'", raw, img) != 0) {
		sh("qemu-img compare -f raw -F qcow2 '%s' '%s'", raw, img);
		fail_msg("qemu-img compare: %s differs", img);
	}
}

/* Each snapshot, as qemu-img reads it, equals the model's copy. */
static void ours_check_snapshots(struct model *m, const char *img, const struct blk_snapshot *l,
				 size_t n)
{
	char raw[256];

	snprintf(raw, sizeof(raw), "%s/snap.raw", tmpdir);
	assert_int_equal(n, m->nsnap);
	for (size_t i = 0; i < n; i++) {
		uint8_t *got;
		size_t len;

		assert_int_equal(sh("qemu-img convert -l snapshot.id=%s -O raw '%s' '%s'", l[i].id,
				    img, raw), 0);
		got = read_file(raw, &len);
		/* qemu-img reads a snapshot with the active image's size */
		assert_memory_equal(got, m->snap[i], MIN(len, m->snap_size[i]));
		free(got);
	}
}

static void test_interop_ours_to_qemu(void **state)
{
	static const struct blk_create_opts cos[] = {
		{ .size = 5 * MiB_ + 3000, .compat = 2 },
		{ .size = 3 * MiB_, .cluster_size = 512 },
		{ .size = 5 * MiB_, .cluster_size = 4096, .lazy_refcounts = true },
		{ .size = 5 * MiB_, .refcount_bits = 8 },
		{ .size = 5 * MiB_, .refcount_bits = 64, .cluster_size = 16384 },
		{ .size = 9 * MiB_, .cluster_size = 2 * MiB_ },
		{ .size = 5 * MiB_, .prealloc = BLK_PREALLOC_METADATA },
		{ .size = 3 * MiB_, .prealloc = BLK_PREALLOC_FULL, .compat = 2 },
	};
	char img[256];

	(void)state;
	if (!have_qemu())
		skip();
	snprintf(img, sizeof(img), "%s/ours.qcow2", tmpdir);
	for (size_t i = 0; i < ARRAY_SIZE(cos); i++) {
		struct blk_open_opts oo = { .format = "qcow2" };
		struct model m;
		struct blk *b;

		rng_state ^= 0x1234567 + i;
		assert_int_equal(blk_create(img, "qcow2", &cos[i]), 0);
		assert_int_equal(sh("qemu-img check -q '%s'", img), 0);
		assert_int_equal(blk_open(img, &oo, &b), 0);
		model_init(&m, (uint64_t)blk_length(b), qcow2_driver.cluster_size(b));
		m.rc_bits = cos[i].refcount_bits ? cos[i].refcount_bits : 16;
		m.path = img;
		struct blk_snapshot *list;
		size_t n;

		b = workload(&m, b, 120, WL_DISCARD | WL_ZERO | WL_COMPRESS | WL_REOPEN |
			     WL_SNAPSHOT | WL_RESIZE, cos[i].compat ? cos[i].compat : 3);
		assert_int_equal(qcow2_driver.snapshot_list(b, &list, &n), 0);
		blk_close(b);
		ours_check_with_qemu(&m, img);
		ours_check_snapshots(&m, img, list, n);
		free(list);
		model_free(&m);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rc_arith),
		cmocka_unit_test(test_cache_lru),
		cmocka_unit_test(test_create_rw_basic),
		cmocka_unit_test(test_workload_variants),
		cmocka_unit_test(test_feature_bits),
		cmocka_unit_test(test_corrupt_and_dirty_bits),
		cmocka_unit_test(test_corrupt_runtime),
		cmocka_unit_test(test_set_backing),
		cmocka_unit_test(test_l1_arith),
		cmocka_unit_test(test_repair),
		cmocka_unit_test(test_repair_rebuild),
		cmocka_unit_test(test_backing_cow),
		cmocka_unit_test(test_direct_alignment),
		cmocka_unit_test(test_crash_ordering),
		cmocka_unit_test(test_interop_ours_to_qemu),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, teardown_tmpdir);
}
