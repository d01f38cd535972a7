/* qcow2: the qcow2 format driver (QEMU-compatible, versions 2 and 3): header
 * parsing and validation, feature bits, header extensions (kept and
 * rewritten), open/close/create, the dirty bit for lazy refcounts, resize,
 * the backing reference, and the `struct blk_driver` table. Mapping and I/O
 * live in qcow2_cluster.c, refcounts in qcow2_refcount.c, snapshots in
 * qcow2_snapshot.c, check/repair in qcow2_check.c.
 *
 * Note for `vmkit img convert -c`: compressed writes go through the additive
 * driver op `write_compressed(b, off, buf, len)` (block.h): one whole
 * cluster at a cluster-aligned offset (or the image's last, partial one). */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

struct qcow2_feature {
	uint8_t type;   /* 0 incompatible, 1 compatible, 2 autoclear */
	uint8_t bit;
	const char *name;
};

static const struct qcow2_feature qcow2_features[] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

#define QCOW2_FEATURE_ENTRY 48u

uint64_t qcow2_l1_entries_for(uint64_t size, uint32_t cluster_bits)
{
	uint32_t shift = cluster_bits + (cluster_bits - 3);  /* bytes per L2 table */

	return (size + (1ULL << shift) - 1) >> shift;
}

/* ---- file I/O ---- */

#define QCOW2_BOUNCE_MAX (1u << 20)

static bool io_aligned(const struct blk_file *f, const void *buf, size_t len, uint64_t off)
{
	uint64_t a = f->align;

	return a <= 1 || (((uintptr_t)buf | len | off) & (a - 1)) == 0;
}

/* Aligned chunks around [off, off+len): copy out (rbuf) or merge in (wbuf). */
static int io_bounce(struct qcow2 *s, void *rbuf, const void *wbuf, size_t len, uint64_t off)
{
	uint64_t a = s->file->align, pos = ALIGN_DOWN(off, a), end = ALIGN_UP(off + len, a);
	uint8_t *tmp = aligned_alloc(a, (size_t)MIN(end - pos, QCOW2_BOUNCE_MAX));
	int ret = tmp ? 0 : -ENOMEM;

	while (ret == 0 && pos < end) {
		uint64_t n = MIN(end - pos, QCOW2_BOUNCE_MAX);
		uint64_t lo = MAX(pos, off), hi = MIN(pos + n, off + len);

		ret = blk_file_pread(s->file, tmp, n, pos);
		if (ret == 0 && rbuf)
			memcpy((uint8_t *)rbuf + (lo - off), tmp + (lo - pos), hi - lo);
		if (ret == 0 && wbuf) {
			memcpy(tmp + (lo - pos), (const uint8_t *)wbuf + (lo - off), hi - lo);
			ret = blk_file_pwrite(s->file, tmp, n, pos);
		}
		pos += n;
	}
	free(tmp);
	return ret;
}

int qcow2_pread(struct qcow2 *s, void *buf, size_t len, uint64_t off)
{
	if (len == 0)
		return 0;
	if (io_aligned(s->file, buf, len, off))
		return blk_file_pread(s->file, buf, len, off);
	return io_bounce(s, buf, NULL, len, off);
}

int qcow2_pwrite(struct qcow2 *s, const void *buf, size_t len, uint64_t off)
{
	if (len == 0)
		return 0;
	if (io_aligned(s->file, buf, len, off))
		return blk_file_pwrite(s->file, buf, len, off);
	return io_bounce(s, NULL, buf, len, off);
}

/* ---- corruption, dirty and corrupt bits ---- */

int qcow2_corrupt(struct qcow2 *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (s->corrupt_seen || s->in_check)
		return -EIO;
	s->corrupt_seen = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s->readonly || s->version < 3) {
		log_error("%s: qcow2 image is corrupt: %s", s->name, msg);
		return -EIO;
	}
	log_error("%s: qcow2 image is corrupt: %s; marking the image corrupt", s->name, msg);
	(void)qcow2_set_incompat(s, s->incompat | QCOW2_INCOMPAT_CORRUPT);
	return -EIO;
}

int qcow2_set_incompat(struct qcow2 *s, uint64_t incompat)
{
	uint8_t be[8];
	int ret;

	if (s->version < 3)
		return -ENOTSUP;
	qcow2_wr64(be, incompat);
	ret = qcow2_pwrite(s, be, 8, 72);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	if (ret < 0) {
		log_error("%s: cannot update the qcow2 header: %s", s->name, strerror(-ret));
		return ret;
	}
	s->incompat = incompat;
	s->dirty_on_disk = incompat & QCOW2_INCOMPAT_DIRTY;
	return 0;
}

int qcow2_mark_dirty(struct qcow2 *s)
{
	if (s->dirty_on_disk || !(s->compat & QCOW2_COMPAT_LAZY) || s->version < 3)
		return 0;
	return qcow2_set_incompat(s, s->incompat | QCOW2_INCOMPAT_DIRTY);
}

/* Called before anything that changes the image. */
int qcow2_write_check(struct qcow2 *s)
{
	if (s->readonly)
		return -EROFS;
	if (s->corrupt_seen || (s->incompat & QCOW2_INCOMPAT_CORRUPT && !s->in_check))
		return -EIO;
	return qcow2_mark_dirty(s);
}

/* ---- header parsing ---- */

static int hdr_err(struct qcow2 *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int hdr_err(struct qcow2 *s, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s: %s", s->name, msg);
	return err;
}

static int hdr_basic(struct qcow2 *s, const uint8_t *buf, uint64_t fsize)
{
	if (qcow2_rd32(buf) != QCOW2_MAGIC)
		return hdr_err(s, -EINVAL, "not a qcow2 image (bad magic)");
	s->version = qcow2_rd32(buf + 4);
	if (s->version != 2 && s->version != 3)
		return hdr_err(s, -ENOTSUP, "unsupported qcow2 version %u", s->version);
	s->cluster_bits = qcow2_rd32(buf + 20);
	if (s->cluster_bits < QCOW2_MIN_CLUSTER_BITS || s->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return hdr_err(s, -EINVAL, "invalid qcow2 cluster size (cluster_bits %u, "
			       "must be 9 to 21)", s->cluster_bits);
	s->cluster_size = 1ULL << s->cluster_bits;
	s->l2_bits = s->cluster_bits - 3;
	s->l2_entries = 1ULL << s->l2_bits;
	s->header_length = QCOW2_V2_HDR_LEN;
	s->refcount_order = 4;
	if (s->version == 3) {
		s->header_length = qcow2_rd32(buf + 100);
		s->refcount_order = qcow2_rd32(buf + 96);
		s->incompat = qcow2_rd64(buf + 72);
		s->compat = qcow2_rd64(buf + 80);
		s->autoclear = qcow2_rd64(buf + 88);
	}
	if (s->version == 3 && (s->header_length < QCOW2_V3_HDR_LEN ||
				s->header_length > s->cluster_size || s->header_length > fsize))
		return hdr_err(s, -EINVAL, "invalid qcow2 header length %u", s->header_length);
	if (s->refcount_order > 6)
		return hdr_err(s, -EINVAL, "invalid refcount order %u (maximum 6)",
			       s->refcount_order);
	if (qcow2_rd32(buf + 32) != 0)
		return hdr_err(s, -ENOTSUP, "encrypted qcow2 images are not supported");
	s->size = ALIGN_DOWN(qcow2_rd64(buf + 24), BLK_SECTOR);  /* whole sectors, as QEMU */
	if (s->size > BLK_MAX_SIZE)
		return hdr_err(s, -EFBIG, "virtual size %" PRIu64 " is too large (maximum %llu)",
			       s->size, BLK_MAX_SIZE);
	return 0;
}

static const char *feature_name(const struct qcow2 *s, unsigned type, unsigned bit)
{
	for (uint32_t o = 0; o + QCOW2_FEATURE_ENTRY <= s->features_len; o += QCOW2_FEATURE_ENTRY)
		if (s->features[o] == type && s->features[o + 1] == bit && s->features[o + 2])
			return (const char *)s->features + o + 2;
	for (size_t i = 0; i < ARRAY_SIZE(qcow2_features); i++)
		if (qcow2_features[i].type == type && qcow2_features[i].bit == bit)
			return qcow2_features[i].name;
	return NULL;
}

static int hdr_features(struct qcow2 *s, const uint8_t *buf)
{
	uint64_t bad = s->incompat & ~QCOW2_INCOMPAT_SUPPORTED;

	if (bad) {
		unsigned bit = (unsigned)__builtin_ctzll(bad);
		const char *name = feature_name(s, 0, bit);

		if (!name)
			return hdr_err(s, -ENOTSUP, "unsupported qcow2 feature (incompatible "
				       "feature bit %u)", bit);
		return hdr_err(s, -ENOTSUP, "unsupported qcow2 feature: %.46s (incompatible "
			       "feature bit %u)", name, bit);
	}
	s->compression = s->header_length > 104 ? buf[104] : 0;
	if ((s->incompat & QCOW2_INCOMPAT_COMPRESSION) && s->compression == 0)
		return hdr_err(s, -EINVAL, "the compression type feature bit is set but the "
			       "compression type is zlib");
	if (!(s->incompat & QCOW2_INCOMPAT_COMPRESSION) && s->compression != 0)
		return hdr_err(s, -EINVAL, "compression type %u without the compression type "
			       "feature bit", s->compression);
	if (s->compression > QCOW2_COMP_ZSTD)
		return hdr_err(s, -ENOTSUP, "unknown compression type %u", s->compression);
	if (s->header_length > 105) {
		s->hdr_extra_len = s->header_length - 105;
		s->hdr_extra = malloc(s->hdr_extra_len);
		if (!s->hdr_extra)
			return -ENOMEM;
		memcpy(s->hdr_extra, buf + 105, s->hdr_extra_len);
	}
	return 0;
}

static char *dup_str(const uint8_t *p, size_t len)
{
	char *r = malloc(len + 1);

	if (r) {
		memcpy(r, p, len);
		r[len] = 0;
	}
	return r;
}

static int hdr_keep_ext(struct qcow2 *s, uint32_t type, const uint8_t *data, uint32_t len)
{
	struct qcow2_ext *v = realloc(s->exts, (s->n_exts + 1) * sizeof(*v));

	if (!v)
		return -ENOMEM;
	s->exts = v;
	v[s->n_exts].type = type;
	v[s->n_exts].len = len;
	v[s->n_exts].data = malloc(len ? len : 1);
	if (!v[s->n_exts].data)
		return -ENOMEM;
	memcpy(v[s->n_exts].data, data, len);
	s->n_exts++;
	return 0;
}

static int hdr_one_ext(struct qcow2 *s, uint32_t type, const uint8_t *data, uint32_t len)
{
	switch (type) {
	case QCOW2_EXT_BACKING_FMT:
		if (len > QCOW2_MAX_FMT_NAME)
			return hdr_err(s, -EINVAL, "backing format name is too long (%u bytes)", len);
		free(s->backing_fmt);
		s->backing_fmt = dup_str(data, len);
		return s->backing_fmt ? 0 : -ENOMEM;
	case QCOW2_EXT_FEATURES:
		free(s->features);
		s->features = malloc(len ? len : 1);
		if (!s->features)
			return -ENOMEM;
		memcpy(s->features, data, len);
		s->features_len = len;
		return 0;
	case QCOW2_EXT_BITMAPS:
		s->has_bitmaps_ext = true;
		return hdr_keep_ext(s, type, data, len);
	default:
		return hdr_keep_ext(s, type, data, len);
	}
}

static int hdr_exts(struct qcow2 *s, const uint8_t *buf, size_t len, uint64_t backing_off)
{
	uint64_t off = s->header_length;
	uint64_t end = backing_off && backing_off < len ? backing_off : len;

	while (off < end) {
		uint32_t type, elen;
		int ret;

		if (end - off < 8)
			return hdr_err(s, -EINVAL, "truncated header extension at offset %" PRIu64, off);
		type = qcow2_rd32(buf + off);
		elen = qcow2_rd32(buf + off + 4);
		off += 8;
		if (type == QCOW2_EXT_END)
			return 0;
		if (elen > end - off)
			return hdr_err(s, -EINVAL, "header extension 0x%08x at offset %" PRIu64
				       " is too large (%u bytes)", type, off - 8, elen);
		ret = hdr_one_ext(s, type, buf + off, elen);
		if (ret < 0)
			return ret;
		off += ALIGN_UP((uint64_t)elen, 8);
	}
	return 0;
}

static int hdr_backing(struct qcow2 *s, const uint8_t *buf, size_t len)
{
	uint64_t off = qcow2_rd64(buf + 8);
	uint32_t blen = qcow2_rd32(buf + 16);

	if (off == 0)
		return 0;
	if (blen > QCOW2_MAX_BACKING_NAME)
		return hdr_err(s, -EINVAL, "backing file name is too long (%u bytes)", blen);
	if (off > len || len - off < blen)
		return hdr_err(s, -EINVAL, "backing file name at offset %" PRIu64 " (%u bytes) "
			       "lies outside the header cluster", off, blen);
	if (blen == 0)
		return 0;
	s->backing = dup_str(buf + off, blen);
	return s->backing ? 0 : -ENOMEM;
}

/* A table of n entries of esize bytes at off must be aligned, bounded and
 * inside the file. */
static int hdr_table(struct qcow2 *s, const char *what, uint64_t off, uint64_t n,
		     uint64_t esize, uint64_t max_bytes, uint64_t fsize)
{
	if (n == 0)
		return 0;
	if (n > max_bytes / esize)
		return hdr_err(s, -EFBIG, "%s is too large (%" PRIu64 " bytes, maximum %" PRIu64 ")",
			       what, n * esize, max_bytes);
	if (!qcow2_aligned(s, off) || off == 0)
		return hdr_err(s, -EINVAL, "%s offset 0x%" PRIx64 " is invalid (not cluster "
			       "aligned or zero)", what, off);
	if (off > fsize || fsize - off < n * esize)
		return hdr_err(s, -EINVAL, "%s at 0x%" PRIx64 " (%" PRIu64 " bytes) lies past "
			       "the end of the file (%" PRIu64 " bytes)", what, off, n * esize, fsize);
	return 0;
}

static int hdr_tables(struct qcow2 *s, const uint8_t *buf, uint64_t fsize)
{
	uint64_t need = qcow2_l1_entries_for(s->size, s->cluster_bits);
	int ret;

	s->l1_size = qcow2_rd32(buf + 36);
	s->l1_offset = qcow2_rd64(buf + 40);
	s->rt_offset = qcow2_rd64(buf + 48);
	s->rt_clusters = qcow2_rd32(buf + 56);
	s->nb_snapshots = qcow2_rd32(buf + 60);
	s->snapshots_offset = qcow2_rd64(buf + 64);
	if (s->l1_size < need)
		return hdr_err(s, -EINVAL, "L1 table has %u entries, too few for the virtual "
			       "size %" PRIu64 " (needs %" PRIu64 ")", s->l1_size, s->size, need);
	ret = hdr_table(s, "L1 table", s->l1_offset, s->l1_size, 8, QCOW2_MAX_L1_BYTES, fsize);
	if (ret < 0)
		return ret;
	if (s->rt_clusters == 0)
		return hdr_err(s, -EINVAL, "the image has no refcount table");
	ret = hdr_table(s, "refcount table", s->rt_offset, s->rt_clusters, s->cluster_size,
			QCOW2_MAX_RT_BYTES, fsize);
	if (ret < 0)
		return ret;
	if (s->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
		return hdr_err(s, -EINVAL, "too many snapshots (%u)", s->nb_snapshots);
	return hdr_table(s, "snapshot table", s->snapshots_offset, s->nb_snapshots ? 1 : 0,
			 40, QCOW2_MAX_SNAP_TABLE, fsize);
}

int qcow2_header_parse(struct qcow2 *s, const uint8_t *buf, size_t len, uint64_t fsize)
{
	int ret = hdr_basic(s, buf, fsize);

	if (ret == 0)
		ret = hdr_exts(s, buf, len, qcow2_rd64(buf + 8));
	if (ret == 0)
		ret = hdr_features(s, buf);
	if (ret == 0)
		ret = hdr_backing(s, buf, len);
	if (ret == 0)
		ret = hdr_tables(s, buf, fsize);
	s->refcount_max = s->refcount_order == 6 ? UINT64_MAX :
			  (1ULL << (1u << s->refcount_order)) - 1;
	s->rb_bits = s->cluster_bits + 3 - s->refcount_order;
	s->rb_entries = 1ULL << s->rb_bits;
	s->dirty_on_disk = s->incompat & QCOW2_INCOMPAT_DIRTY;
	return ret;
}

/* ---- header writing ---- */

static int hdr_put_ext(struct qcow2 *s, uint8_t *buf, uint64_t *off, uint32_t type,
		       const void *data, uint32_t len)
{
	if (*off + 8 + ALIGN_UP((uint64_t)len, 8) > s->cluster_size)
		return -ENOSPC;
	qcow2_wr32(buf + *off, type);
	qcow2_wr32(buf + *off + 4, len);
	if (len)
		memcpy(buf + *off + 8, data, len);
	*off += 8 + ALIGN_UP((uint64_t)len, 8);
	return 0;
}

static int hdr_put_features(struct qcow2 *s, uint8_t *buf, uint64_t *off)
{
	uint8_t t[ARRAY_SIZE(qcow2_features) * QCOW2_FEATURE_ENTRY] = { 0 };

	if (s->features)
		return hdr_put_ext(s, buf, off, QCOW2_EXT_FEATURES, s->features, s->features_len);
	if (s->version < 3)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(qcow2_features); i++) {
		uint8_t *e = t + i * QCOW2_FEATURE_ENTRY;

		e[0] = qcow2_features[i].type;
		e[1] = qcow2_features[i].bit;
		memcpy(e + 2, qcow2_features[i].name, strlen(qcow2_features[i].name));
	}
	return hdr_put_ext(s, buf, off, QCOW2_EXT_FEATURES, t, sizeof(t));
}

static void hdr_put_fields(const struct qcow2 *s, uint8_t *buf)
{
	qcow2_wr32(buf, QCOW2_MAGIC);
	qcow2_wr32(buf + 4, s->version);
	qcow2_wr32(buf + 20, s->cluster_bits);
	qcow2_wr64(buf + 24, s->size);
	qcow2_wr32(buf + 36, s->l1_size);
	qcow2_wr64(buf + 40, s->l1_offset);
	qcow2_wr64(buf + 48, s->rt_offset);
	qcow2_wr32(buf + 56, s->rt_clusters);
	qcow2_wr32(buf + 60, s->nb_snapshots);
	qcow2_wr64(buf + 64, s->snapshots_offset);
	if (s->version < 3)
		return;
	qcow2_wr64(buf + 72, s->incompat);
	qcow2_wr64(buf + 80, s->compat);
	qcow2_wr64(buf + 88, s->autoclear);
	qcow2_wr32(buf + 96, s->refcount_order);
	qcow2_wr32(buf + 100, s->header_length);
	if (s->header_length > 104)
		buf[104] = s->compression;
	if (s->hdr_extra_len)
		memcpy(buf + 105, s->hdr_extra, s->hdr_extra_len);
}

/* The whole header cluster from s: fields, extensions, backing file name.
 * The feature name table is optional (left out when it does not fit). */
static int hdr_build(struct qcow2 *s, uint8_t *buf, bool features)
{
	uint64_t off = s->version < 3 ? QCOW2_V2_HDR_LEN : s->header_length;
	int ret = 0;

	memset(buf, 0, s->cluster_size);
	hdr_put_fields(s, buf);
	if (s->backing_fmt)
		ret = hdr_put_ext(s, buf, &off, QCOW2_EXT_BACKING_FMT, s->backing_fmt,
				  (uint32_t)strlen(s->backing_fmt));
	if (ret == 0 && features)
		ret = hdr_put_features(s, buf, &off);
	for (size_t i = 0; ret == 0 && i < s->n_exts; i++)
		ret = hdr_put_ext(s, buf, &off, s->exts[i].type, s->exts[i].data, s->exts[i].len);
	if (ret == 0)
		ret = hdr_put_ext(s, buf, &off, QCOW2_EXT_END, NULL, 0);
	if (ret < 0 || !s->backing)
		return ret;
	if (off + strlen(s->backing) > s->cluster_size)
		return -ENOSPC;
	memcpy(buf + off, s->backing, strlen(s->backing));
	qcow2_wr64(buf + 8, off);
	qcow2_wr32(buf + 16, (uint32_t)strlen(s->backing));
	return 0;
}

int qcow2_header_write(struct qcow2 *s)
{
	uint8_t *buf = malloc(s->cluster_size);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = hdr_build(s, buf, true);
	if (ret == -ENOSPC)
		ret = hdr_build(s, buf, false);
	if (ret == -ENOSPC) {
		log_error("%s: the qcow2 header (extensions and backing file name) does not fit "
			  "in one cluster", s->name);
		free(buf);
		return ret;
	}
	if (ret == 0)
		ret = qcow2_pwrite(s, buf, s->cluster_size, 0);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	free(buf);
	if (ret < 0)
		log_error("%s: cannot write the qcow2 header: %s", s->name, strerror(-ret));
	return ret;
}

/* ---- open / close ---- */

void qcow2_state_free(struct qcow2 *s)
{
	qcow2_cache_destroy(&s->l2c);
	qcow2_cache_destroy(&s->rbc);
	qcow2_snap_free(s);
	for (size_t i = 0; i < s->n_exts; i++)
		free(s->exts[i].data);
	free(s->exts);
	free(s->features);
	free(s->hdr_extra);
	free(s->backing);
	free(s->backing_fmt);
	free(s->l1);
	free(s->rt);
	free(s->pfree);
	free(s->cbuf);
	free(s->dbuf);
	ZSTD_freeDCtx(s->zstd_dctx);
	memset(s, 0, sizeof(*s));
}

static int read_table(struct qcow2 *s, uint64_t off, uint64_t n, uint64_t **out)
{
	uint64_t *t = calloc(n ? n : 1, sizeof(*t));
	int ret;

	if (!t)
		return -ENOMEM;
	ret = n ? qcow2_pread(s, t, n * 8, off) : 0;
	if (ret < 0) {
		log_error("%s: cannot read a qcow2 table at 0x%" PRIx64 ": %s", s->name, off,
			  strerror(-ret));
		free(t);
		return ret;
	}
	for (uint64_t i = 0; i < n; i++)
		t[i] = __builtin_bswap64(t[i]);
	*out = t;
	return 0;
}

static int open_header(struct qcow2 *s, uint64_t fsize)
{
	uint8_t first[512] = { 0 }, *buf;
	size_t len;
	int ret;

	if (fsize < QCOW2_V2_HDR_LEN)
		return hdr_err(s, -EINVAL, "file is too short for a qcow2 header (%" PRIu64
			       " bytes)", fsize);
	ret = qcow2_pread(s, first, MIN(sizeof(first), fsize), 0);
	if (ret < 0)
		return hdr_err(s, ret, "cannot read the header: %s", strerror(-ret));
	ret = hdr_basic(s, first, fsize);
	if (ret < 0)
		return ret;
	len = (size_t)MIN(s->cluster_size, fsize);
	buf = calloc(1, s->cluster_size);
	if (!buf)
		return -ENOMEM;
	ret = qcow2_pread(s, buf, len, 0);
	if (ret == 0)
		ret = qcow2_header_parse(s, buf, len, fsize);
	free(buf);
	return ret;
}

static int open_tables(struct qcow2 *s, uint64_t fsize)
{
	unsigned nl2 = s->cluster_size > (128u << 10) ? 16 : 64;
	int ret = read_table(s, s->l1_offset, s->l1_size, &s->l1);

	if (ret == 0)
		ret = read_table(s, s->rt_offset, (uint64_t)s->rt_clusters * s->cluster_size / 8,
				 &s->rt);
	if (ret < 0)
		return ret;
	s->rt_size = (uint64_t)s->rt_clusters * s->cluster_size / 8;
	qcow2_rt_hi_update(s);
	ret = qcow2_snap_read(s, fsize);
	if (ret == 0)
		ret = qcow2_cache_init(&s->l2c, nl2, s->cluster_size);
	if (ret == 0)
		ret = qcow2_cache_init(&s->rbc, 16, s->cluster_size);
	return ret;
}

static int open_rw_fixups(struct qcow2 *s, const struct blk_open_opts *o)
{
	struct blk_check res;
	int ret;

	if ((s->incompat & QCOW2_INCOMPAT_CORRUPT) && !o->check)
		return hdr_err(s, -EACCES, "the image is marked corrupt and can only be opened "
			       "read-only (repair it with 'vmkit img check -r all')");
	if (s->autoclear) {
		s->autoclear = 0;
		ret = qcow2_header_write(s);
		if (ret < 0)
			return ret;
	}
	if (!(s->incompat & QCOW2_INCOMPAT_DIRTY) || o->check)
		return 0;
	log_info("%s: the image was not closed cleanly; repairing refcounts", s->name);
	memset(&res, 0, sizeof(res));
	ret = qcow2_check(s->b, &res, BLK_FIX_ERRORS | BLK_FIX_LEAKS);
	if (ret == 0 && res.corruptions > res.corruptions_fixed)
		ret = hdr_err(s, -EIO, "cannot repair the refcounts of the dirty image");
	if (ret == 0)
		ret = qcow2_set_incompat(s, s->incompat & ~QCOW2_INCOMPAT_DIRTY);
	return ret;
}

static int qcow2_do_open(struct blk *b, struct qcow2 *s, const struct blk_open_opts *o)
{
	int64_t fsize;
	int ret;

	memset(s, 0, sizeof(*s));
	s->b = b;
	s->file = b->file;
	s->name = b->filename ? b->filename : b->file->name;
	s->readonly = b->readonly || o->readonly || o->force_share || b->file->readonly;
	fsize = blk_file_size(s->file);
	if (fsize < 0)
		return hdr_err(s, (int)fsize, "cannot get the file size: %s", strerror((int)-fsize));
	ret = open_header(s, (uint64_t)fsize);
	if (ret == 0)
		ret = open_tables(s, (uint64_t)fsize);
	if (ret == 0 && !s->readonly)
		ret = open_rw_fixups(s, o);
	if (ret < 0)
		qcow2_state_free(s);
	return ret;
}

static int set_blk_names(struct blk *b, const struct qcow2 *s)
{
	free(b->backing_name);
	free(b->backing_fmt);
	b->backing_name = s->backing ? strdup(s->backing) : NULL;
	b->backing_fmt = s->backing_fmt ? strdup(s->backing_fmt) : NULL;
	if ((s->backing && !b->backing_name) || (s->backing_fmt && !b->backing_fmt))
		return -ENOMEM;
	return 0;
}

static int qcow2_open(struct blk *b, const struct blk_open_opts *o)
{
	struct qcow2 *s = blk_state(b);
	int ret = qcow2_do_open(b, s, o);

	if (ret < 0)
		return ret;
	b->size = s->size;
	ret = set_blk_names(b, s);
	if (ret < 0)
		qcow2_state_free(s);
	return ret;
}

static void qcow2_close(struct blk *b)
{
	struct qcow2 *s = blk_state(b);

	if (!s || !s->file)
		return;
	if (!s->readonly && !s->corrupt_seen) {
		int ret = qcow2_meta_flush(s);

		if (ret == 0)
			ret = blk_file_flush(s->file);
		if (ret == 0 && (s->incompat & QCOW2_INCOMPAT_DIRTY))
			ret = qcow2_set_incompat(s, s->incompat & ~QCOW2_INCOMPAT_DIRTY);
		if (ret < 0)
			log_error("%s: error while closing the image: %s", s->name, strerror(-ret));
	}
	qcow2_state_free(s);
}

static int qcow2_flush(struct blk *b)
{
	struct qcow2 *s = blk_state(b);
	int ret;

	if (s->readonly)
		return 0;
	ret = qcow2_meta_flush(s);
	return ret ? ret : blk_file_flush(s->file);
}

/* ---- create ---- */

static int create_validate(const struct blk_create_opts *o, const char *name, unsigned *version,
			   uint32_t *cbits, uint32_t *order)
{
	uint32_t cs = o->cluster_size ? o->cluster_size : 65536;
	unsigned rb = o->refcount_bits ? o->refcount_bits : 16;

	*version = o->compat ? o->compat : 3;
	if (*version != 2 && *version != 3) {
		log_error("%s: invalid qcow2 compat level %u (use 0.10 or 1.1)", name, *version);
		return -EINVAL;
	}
	if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1))) {
		log_error("%s: cluster size must be a power of two between 512 and 2M", name);
		return -EINVAL;
	}
	if (rb > 64 || (rb & (rb - 1)) || (*version == 2 && rb != 16)) {
		log_error("%s: refcount bits must be a power of two up to 64 (16 for compat=0.10)",
			  name);
		return -EINVAL;
	}
	if (o->lazy_refcounts && *version < 3) {
		log_error("%s: lazy refcounts need compat=1.1", name);
		return -EINVAL;
	}
	if (o->backing_file && (strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME ||
				(o->backing_format && strlen(o->backing_format) > QCOW2_MAX_FMT_NAME))) {
		log_error("%s: backing file name or format is too long", name);
		return -EINVAL;
	}
	*cbits = (uint32_t)__builtin_ctz(cs);
	*order = (uint32_t)__builtin_ctz(rb);
	return 0;
}

/* Virtual size of the backing file named in o, for size 0. */
static int create_backing_size(struct blk_file *file, const struct blk_create_opts *o,
			       uint64_t *size)
{
	struct blk_open_opts bo = { .format = o->backing_format, .readonly = true,
				    .no_backing = true };
	char *path = NULL, *dir = strdup(file->name);
	struct blk *bb = NULL;
	int ret = -ENOMEM;

	if (!dir)
		return -ENOMEM;
	if (o->backing_file[0] == '/' || !strchr(file->name, '/'))
		path = strdup(o->backing_file);
	else if (asprintf(&path, "%s/%s", dirname(dir), o->backing_file) < 0)
		path = NULL;
	if (path)
		ret = blk_open(path, &bo, &bb);
	if (ret == 0) {
		int64_t len = blk_length(bb);

		ret = len < 0 ? (int)len : 0;
		*size = len < 0 ? 0 : (uint64_t)len;
	}
	blk_close(bb);
	free(path);
	free(dir);
	return ret;
}

/* Clusters for header, refcount table and blocks, L1: a fixed point. */
static void create_layout(struct qcow2 *s, uint64_t l1c, uint64_t *rtc, uint64_t *rbc)
{
	uint64_t per_rb = s->rb_entries, per_rt = s->cluster_size / 8;

	*rtc = 1;
	*rbc = 1;
	for (;;) {
		uint64_t total = 1 + *rtc + *rbc + l1c;
		uint64_t nrb = (total + per_rb - 1) / per_rb, nrt = (nrb + per_rt - 1) / per_rt;

		if (nrb == *rbc && nrt == *rtc)
			return;
		*rbc = nrb;
		*rtc = nrt;
	}
}

static int create_write_refcounts(struct qcow2 *s, uint64_t rtc, uint64_t rbc, uint64_t total)
{
	uint8_t *rt = calloc(rtc, s->cluster_size), *rb = calloc(rbc, s->cluster_size);
	int ret = -ENOMEM;

	if (!rt || !rb)
		goto out;
	for (uint64_t i = 0; i < rbc; i++)
		qcow2_wr64(rt + 8 * i, (1 + rtc + i) << s->cluster_bits);
	for (uint64_t c = 0; c < total; c++)
		qcow2_rc_set(rb, c, s->refcount_order, 1);
	ret = qcow2_pwrite(s, rt, rtc * s->cluster_size, s->cluster_size);
	if (ret == 0)
		ret = qcow2_pwrite(s, rb, rbc * s->cluster_size,
				      (1 + rtc) << s->cluster_bits);
out:
	free(rt);
	free(rb);
	return ret;
}

static void create_fill_state(struct qcow2 *s, const struct blk_create_opts *o, unsigned version,
			      uint32_t cbits, uint32_t order)
{
	s->version = version;
	s->cluster_bits = cbits;
	s->cluster_size = 1ULL << cbits;
	s->refcount_order = order;
	s->rb_bits = cbits + 3 - order;
	s->rb_entries = 1ULL << s->rb_bits;
	s->header_length = version == 3 ? QCOW2_HDR_LEN_OURS : QCOW2_V2_HDR_LEN;
	s->compat = o->lazy_refcounts ? QCOW2_COMPAT_LAZY : 0;
	s->hdr_extra_len = version == 3 ? QCOW2_HDR_LEN_OURS - 105 : 0;
}

static int create_metadata(struct qcow2 *s, const struct blk_create_opts *o, uint64_t size)
{
	uint64_t l1n = qcow2_l1_entries_for(size, s->cluster_bits), l1c, rtc, rbc;
	int ret;

	if (l1n * 8 > QCOW2_MAX_L1_BYTES)
		return hdr_err(s, -EFBIG, "virtual size %" PRIu64 " needs an L1 table larger than "
			       "32 MiB with this cluster size", size);
	l1c = (l1n * 8 + s->cluster_size - 1) >> s->cluster_bits;
	create_layout(s, l1c, &rtc, &rbc);
	s->size = size;
	s->l1_size = (uint32_t)l1n;
	s->rt_offset = s->cluster_size;
	s->rt_clusters = (uint32_t)rtc;
	s->l1_offset = (1 + rtc + rbc) << s->cluster_bits;
	ret = s->hdr_extra_len ? ((s->hdr_extra = calloc(1, s->hdr_extra_len)) ? 0 : -ENOMEM) : 0;
	if (ret == 0 && o->backing_file) {
		s->backing = strdup(o->backing_file);
		s->backing_fmt = o->backing_format ? strdup(o->backing_format) : NULL;
		if (!s->backing || (o->backing_format && !s->backing_fmt))
			ret = -ENOMEM;
	}
	if (ret == 0)
		ret = s->file->ops->truncate(s->file, 0);
	if (ret == 0)
		ret = qcow2_header_write(s);
	if (ret == 0)
		ret = create_write_refcounts(s, rtc, rbc, 1 + rtc + rbc + l1c);
	if (ret == 0)
		ret = s->file->ops->truncate(s->file, l1n ? s->l1_offset + l1n * 8 : s->l1_offset);
	return ret;
}

static int create_prealloc(struct blk_file *file, enum blk_prealloc mode)
{
	struct blk_open_opts oo = { .format = "qcow2", .no_backing = true };
	struct blk b = { .file = file, .filename = file->name };
	struct qcow2 *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	b.state = s;
	ret = qcow2_do_open(&b, s, &oo);
	if (ret == 0) {
		ret = qcow2_prealloc(s, mode);
		if (ret == 0)
			ret = qcow2_meta_flush(s);
		qcow2_state_free(s);
	}
	free(s);
	return ret;
}

static int qcow2_create(struct blk_file *file, const struct blk_create_opts *o)
{
	struct qcow2 s = { .file = file, .name = file->name };
	uint64_t size = o->size;
	unsigned version;
	uint32_t cbits, order;
	int ret = create_validate(o, file->name, &version, &cbits, &order);

	if (ret < 0)
		return ret;
	if (size == 0 && o->backing_file) {
		ret = create_backing_size(file, o, &size);
		if (ret < 0)
			return ret;
	}
	size = ALIGN_UP(size, BLK_SECTOR);  /* like qemu-img: whole sectors */
	if (size > BLK_MAX_SIZE)
		return hdr_err(&s, -EFBIG, "virtual size %" PRIu64 " is too large", size);
	create_fill_state(&s, o, version, cbits, order);
	ret = create_metadata(&s, o, size);
	qcow2_state_free(&s);
	if (ret == 0 && o->prealloc != BLK_PREALLOC_OFF)
		ret = create_prealloc(file, o->prealloc);
	if (ret == 0)
		ret = blk_file_flush(file);
	if (ret < 0 && ret != -ENOSPC && ret != -EFBIG && ret != -EINVAL)
		log_error("%s: cannot create the qcow2 image: %s", file->name, strerror(-ret));
	return ret;
}

/* ---- resize ---- */

static int write_size(struct qcow2 *s, uint64_t size)
{
	uint8_t be[8];
	int ret;

	qcow2_wr64(be, size);
	ret = qcow2_pwrite(s, be, 8, 24);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	if (ret == 0) {
		s->size = size;
		s->b->size = size;
	}
	return ret;
}

static int resize_shrink(struct qcow2 *s, uint64_t size)
{
	uint64_t keep = qcow2_l1_entries_for(size, s->cluster_bits), start;
	uint64_t end = (uint64_t)s->l1_size << (s->cluster_bits + s->l2_bits);
	int ret;

	if (s->nb_snapshots) {
		log_error("%s: cannot shrink an image that has internal snapshots", s->name);
		return -ENOTSUP;
	}
	start = ALIGN_UP(size, s->cluster_size);
	ret = write_size(s, size);
	if (ret == 0 && start < end)
		ret = qcow2_discard_range(s, start, end - start, false);
	for (uint64_t i = keep; ret == 0 && i < s->l1_size; i++) {
		if (s->l1[i] & QCOW2_OFFSET_MASK) {
			ret = qcow2_free_later(s, s->l1[i] & QCOW2_OFFSET_MASK, s->cluster_size);
			qcow2_l1_set(s, i, 0);
		}
	}
	return ret ? ret : qcow2_meta_flush(s);
}

/* After growing from old: what was past the old end must read as zeros,
 * not as stale data of a partial last cluster or as the backing file. */
static int resize_zero_tail(struct blk *b, struct qcow2 *s, uint64_t old, uint64_t size)
{
	uint64_t end = MIN(size, ALIGN_UP(old, s->cluster_size)), e, n;
	enum qcow2_ctype t;
	int ret;

	if (b->backing && b->backing->size > old)
		return qcow2_write_zeroes(b, old, MIN(size, b->backing->size) - old, false);
	if (end <= old)
		return 0;
	ret = qcow2_map(s, old, end - old, &t, &e, &n);
	if (ret == 0 && (t == QCOW2_CT_NORMAL || t == QCOW2_CT_COMPRESSED))
		ret = qcow2_write_zeroes(b, old, end - old, false);
	return ret;
}

static int qcow2_resize(struct blk *b, uint64_t size)
{
	struct qcow2 *s = blk_state(b);
	uint64_t old = s->size, need = qcow2_l1_entries_for(size, s->cluster_bits);
	int ret = qcow2_write_check(s);

	if (ret < 0 || size == old)
		return ret;
	if (size > BLK_MAX_SIZE)
		return hdr_err(s, -EFBIG, "virtual size %" PRIu64 " is too large", size);
	if (size % BLK_SECTOR)
		return hdr_err(s, -EINVAL, "the new size %" PRIu64 " is not a multiple of %u",
			       size, BLK_SECTOR);
	if (size < old)
		return resize_shrink(s, size);
	if (need > s->l1_size) {
		ret = qcow2_l1_grow(s, need);
		if (ret < 0)
			return ret;
	}
	ret = write_size(s, size);
	return ret ? ret : resize_zero_tail(b, s, old, size);
}

/* ---- small ops ---- */

static int qcow2_probe(const uint8_t *buf, size_t len)
{
	if (len < 8 || qcow2_rd32(buf) != QCOW2_MAGIC)
		return 0;
	return (qcow2_rd32(buf + 4) == 2 || qcow2_rd32(buf + 4) == 3) ? 100 : 50;
}

static json_t *qcow2_info_specific(struct blk *b)
{
	struct qcow2 *s = blk_state(b);
	const char *comp = s->compression == QCOW2_COMP_ZSTD ? "zstd" : "zlib";

	if (s->version < 3)
		return json_pack("{s:s, s:{s:s, s:s, s:i}}", "type", "qcow2", "data",
				 "compat", "0.10", "compression-type", comp,
				 "refcount-bits", 1 << s->refcount_order);
	return json_pack("{s:s, s:{s:s, s:s, s:b, s:i, s:b, s:b}}", "type", "qcow2", "data",
			 "compat", "1.1", "compression-type", comp,
			 "lazy-refcounts", (int)!!(s->compat & QCOW2_COMPAT_LAZY),
			 "refcount-bits", 1 << s->refcount_order,
			 "corrupt", (int)!!(s->incompat & QCOW2_INCOMPAT_CORRUPT),
			 "extended-l2", 0);
}

static uint32_t qcow2_cluster_size(struct blk *b)
{
	return (uint32_t)((struct qcow2 *)blk_state(b))->cluster_size;
}

static bool qcow2_is_dirty(struct blk *b)
{
	return ((struct qcow2 *)blk_state(b))->incompat & QCOW2_INCOMPAT_DIRTY;
}

static int qcow2_set_backing(struct blk *b, const char *name, const char *fmt)
{
	struct qcow2 *s = blk_state(b);
	char *nb = name && *name ? strdup(name) : NULL, *nf = fmt && nb ? strdup(fmt) : NULL;
	char *ob = s->backing, *of = s->backing_fmt;
	int ret = qcow2_write_check(s);

	if (ret == 0 && ((name && *name && !nb) || (fmt && nb && !nf)))
		ret = -ENOMEM;
	if (ret == 0 && nb && (strlen(nb) > QCOW2_MAX_BACKING_NAME ||
			       (nf && strlen(nf) > QCOW2_MAX_FMT_NAME)))
		ret = hdr_err(s, -EINVAL, "backing file name or format is too long");
	if (ret < 0) {
		free(nb);
		free(nf);
		return ret;
	}
	s->backing = nb;
	s->backing_fmt = nf;
	ret = qcow2_header_write(s);
	if (ret < 0) {
		s->backing = ob;
		s->backing_fmt = of;
		free(nb);
		free(nf);
		return ret;
	}
	free(ob);
	free(of);
	return set_blk_names(b, s);
}

const struct blk_driver qcow2_driver = {
	.format = "qcow2",
	.parallel = false,
	.state_size = sizeof(struct qcow2),
	.probe = qcow2_probe,
	.create = qcow2_create,
	.open = qcow2_open,
	.close = qcow2_close,
	.readv = qcow2_readv,
	.writev = qcow2_writev,
	.flush = qcow2_flush,
	.discard = qcow2_discard,
	.write_zeroes = qcow2_write_zeroes,
	.resize = qcow2_resize,
	.block_status = qcow2_block_status,
	.check = qcow2_check,
	.info_specific = qcow2_info_specific,
	.cluster_size = qcow2_cluster_size,
	.is_dirty = qcow2_is_dirty,
	.set_backing = qcow2_set_backing,
	.snapshot_create = qcow2_snapshot_create,
	.snapshot_list = qcow2_snapshot_list,
	.snapshot_apply = qcow2_snapshot_apply,
	.snapshot_delete = qcow2_snapshot_delete,
	.write_compressed = qcow2_write_compressed,
	.make_empty = qcow2_make_empty,
};
