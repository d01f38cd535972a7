/* qcow2_cluster: guest-to-host mapping of the qcow2 driver: the L1 table and
 * the L2 table cache, the metadata flush that orders refcount, L2 and L1
 * writes, reads (backing file, zero, compressed zlib/zstd and normal
 * clusters), writes with allocation and copy-on-write, compressed writes,
 * discard, write-zeroes, block status and preallocation. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

#define QCOW2_PFREE_FLUSH 65536u   /* queued frees that trigger a metadata flush */
#define QCOW2_ZERO_CHUNK (1u << 20)

/* ---- iovec helpers ---- */

static size_t iov_total(const struct iovec *iov, int cnt)
{
	size_t n = 0;

	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

enum iov_dir { IOV_TO_BUF, IOV_FROM_BUF, IOV_ZERO };

/* Copy between iov bytes [skip, skip+n) and buf (or zero the iov bytes). */
static void iov_copy(const struct iovec *iov, int cnt, size_t skip, void *buf, size_t n,
		     enum iov_dir dir)
{
	uint8_t *p = buf;

	for (int i = 0; i < cnt && n > 0; i++) {
		size_t l = iov[i].iov_len, c;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		c = MIN(l - skip, n);
		switch (dir) {
		case IOV_TO_BUF:
			memcpy(p, (uint8_t *)iov[i].iov_base + skip, c);
			break;
		case IOV_FROM_BUF:
			memcpy((uint8_t *)iov[i].iov_base + skip, p, c);
			break;
		case IOV_ZERO:
			memset((uint8_t *)iov[i].iov_base + skip, 0, c);
			break;
		}
		if (p)
			p += c;
		n -= c;
		skip = 0;
	}
}

/* File I/O between iov bytes [skip, skip+n) and host offset host. */
static int iov_file(struct qcow2 *s, const struct iovec *iov, int cnt, size_t skip, size_t n,
		    uint64_t host, bool write)
{
	for (int i = 0; i < cnt && n > 0; i++) {
		size_t l = iov[i].iov_len, c;
		uint8_t *base = (uint8_t *)iov[i].iov_base + skip;
		int ret;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		c = MIN(l - skip, n);
		ret = write ? qcow2_pwrite(s, base, c, host) :
			      qcow2_pread(s, base, c, host);
		if (ret < 0)
			return ret;
		host += c;
		n -= c;
		skip = 0;
	}
	return 0;
}

/* The iovec entries covering [skip, skip+n) of iov, in out (cnt entries). */
static int iov_slice(const struct iovec *iov, int cnt, size_t skip, size_t n, struct iovec *out)
{
	int k = 0;

	for (int i = 0; i < cnt && n > 0; i++) {
		size_t l = iov[i].iov_len, c;

		if (skip >= l) {
			skip -= l;
			continue;
		}
		c = MIN(l - skip, n);
		out[k].iov_base = (uint8_t *)iov[i].iov_base + skip;
		out[k++].iov_len = c;
		n -= c;
		skip = 0;
	}
	return k;
}

/* ---- L1 and L2 tables ---- */

void qcow2_l1_set(struct qcow2 *s, uint64_t idx, uint64_t val)
{
	s->l1[idx] = val;
	if (!s->l1_dirty) {
		s->l1_dirty = true;
		s->l1_dirty_lo = s->l1_dirty_hi = (uint32_t)idx;
		return;
	}
	s->l1_dirty_lo = MIN(s->l1_dirty_lo, (uint32_t)idx);
	s->l1_dirty_hi = MAX(s->l1_dirty_hi, (uint32_t)idx);
}

int qcow2_l1_write(struct qcow2 *s)
{
	uint32_t lo = s->l1_dirty_lo, n;
	uint64_t *be;
	int ret;

	if (!s->l1_dirty)
		return 0;
	n = s->l1_dirty_hi - lo + 1;
	ret = qcow2_overlap_guard(s, s->l1_offset + (uint64_t)lo * 8, (uint64_t)n * 8, QCOW2_OL_L1);
	if (ret < 0)
		return ret;
	be = malloc((size_t)n * 8);
	if (!be)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		be[i] = __builtin_bswap64(s->l1[lo + i]);
	ret = qcow2_pwrite(s, be, (size_t)n * 8, s->l1_offset + (uint64_t)lo * 8);
	free(be);
	if (ret == 0)
		s->l1_dirty = false;
	return ret;
}

static int l2_write_slot(struct qcow2 *s, unsigned i)
{
	struct qcow2_cache_ent *e = &s->l2c.ent[i];
	int ret = qcow2_overlap_guard(s, e->off, s->cluster_size, QCOW2_OL_L2);

	if (ret == 0)
		ret = qcow2_pwrite(s, e->buf, s->cluster_size, e->off);
	if (ret == 0)
		e->dirty = false;
	return ret;
}

static bool l2_any_dirty(const struct qcow2 *s)
{
	for (unsigned i = 0; i < s->l2c.n; i++)
		if (s->l2c.ent[i].off && s->l2c.ent[i].dirty)
			return true;
	return false;
}

/* Refcounts (and data) first, then L2 tables, then the L1 table; frees last. */
int qcow2_meta_flush(struct qcow2 *s)
{
	int ret = 0;

	if (s->readonly || !s->l2c.ent)
		return 0;
	if (l2_any_dirty(s) || s->l1_dirty) {
		ret = qcow2_rb_writeback(s);
		if (ret == 0)
			ret = blk_file_flush(s->file);
		for (unsigned i = 0; ret == 0 && i < s->l2c.n; i++)
			if (s->l2c.ent[i].off && s->l2c.ent[i].dirty)
				ret = l2_write_slot(s, i);
		if (ret == 0 && s->l1_dirty) {
			ret = blk_file_flush(s->file);
			if (ret == 0)
				ret = qcow2_l1_write(s);
		}
		if (ret == 0)
			ret = blk_file_flush(s->file);
	}
	if (ret == 0)
		ret = s->npfree ? qcow2_free_apply(s) : qcow2_rb_writeback(s);
	return ret;
}

/* A cache slot for l2_off, evicting (after a metadata flush) if needed. */
static int l2_slot(struct qcow2 *s, uint64_t l2_off, unsigned *slot)
{
	unsigned v = qcow2_cache_victim(&s->l2c);
	int ret;

	if (s->l2c.ent[v].off && s->l2c.ent[v].dirty) {
		ret = qcow2_meta_flush(s);
		if (ret < 0)
			return ret;
		v = qcow2_cache_victim(&s->l2c);
	}
	ret = qcow2_cache_fill(&s->l2c, v, l2_off);
	if (ret == 0)
		*slot = v;
	return ret;
}

int qcow2_l2_get(struct qcow2 *s, uint64_t l2_off, uint64_t **tab)
{
	int i = qcow2_cache_find(&s->l2c, l2_off);
	int64_t fsize;
	unsigned v = 0;
	int ret;

	if (i >= 0) {
		*tab = s->l2c.ent[i].buf;
		return 0;
	}
	fsize = blk_file_size(s->file);
	if (fsize < 0)
		return (int)fsize;
	if (l2_off > (uint64_t)fsize || (uint64_t)fsize - l2_off < s->cluster_size)
		return qcow2_corrupt(s, "L2 table at 0x%" PRIx64 " lies past the end of the file",
				     l2_off);
	ret = l2_slot(s, l2_off, &v);
	if (ret < 0)
		return ret;
	ret = qcow2_pread(s, s->l2c.ent[v].buf, s->cluster_size, l2_off);
	if (ret < 0) {
		qcow2_cache_drop(&s->l2c, l2_off);
		return ret;
	}
	*tab = s->l2c.ent[v].buf;
	return 0;
}

void qcow2_l2_dirty(struct qcow2 *s, uint64_t l2_off)
{
	for (unsigned i = 0; i < s->l2c.n; i++)
		if (s->l2c.ent[i].off == l2_off)
			s->l2c.ent[i].dirty = true;
}

/* The L2 offset of an L1 entry, 0 if none; unaligned ones are corruption. */
static int l1_entry(struct qcow2 *s, uint64_t l1i, uint64_t *l2_off)
{
	uint64_t e;

	*l2_off = 0;
	if (l1i >= s->l1_size)
		return 0;
	e = s->l1[l1i];
	if (!qcow2_aligned(s, e & QCOW2_OFFSET_MASK))
		return qcow2_corrupt(s, "L2 table offset 0x%" PRIx64 " unaligned (L1 index %" PRIu64
				     ")", e & QCOW2_OFFSET_MASK, l1i);
	*l2_off = e & QCOW2_OFFSET_MASK;
	return 0;
}

/* Make the L2 table for l1i exist and be writable (refcount 1): allocate a
 * new one or copy a shared one. */
static int l2_writable(struct qcow2 *s, uint64_t l1i, uint64_t **tab, uint64_t *l2_off)
{
	uint64_t old, nw, *tmp = NULL;
	unsigned slot = 0;
	int ret = l1_entry(s, l1i, &old);

	if (ret < 0)
		return ret;
	if (old && (s->l1[l1i] & QCOW2_OFLAG_COPIED)) {
		*l2_off = old;
		return qcow2_l2_get(s, old, tab);
	}
	tmp = calloc(1, s->cluster_size);
	if (!tmp)
		return -ENOMEM;
	if (old) {
		ret = qcow2_l2_get(s, old, tab);
		if (ret == 0)
			memcpy(tmp, *tab, s->cluster_size);
	}
	if (ret == 0)
		ret = qcow2_alloc_clusters(s, 1, &nw);
	if (ret == 0)
		ret = l2_slot(s, nw, &slot);
	if (ret == 0 && old)
		ret = qcow2_free_later(s, old, s->cluster_size);
	if (ret == 0) {
		memcpy(s->l2c.ent[slot].buf, tmp, s->cluster_size);
		s->l2c.ent[slot].dirty = true;
		qcow2_l1_set(s, l1i, nw | QCOW2_OFLAG_COPIED);
		*tab = s->l2c.ent[slot].buf;
		*l2_off = nw;
	}
	free(tmp);
	return ret;
}

/* Write nl1 (entries) at off, then point the header at it. */
static int l1_grow_write(struct qcow2 *s, const uint64_t *nl1, uint64_t entries, uint64_t off)
{
	uint64_t *be = calloc(entries, 8);
	uint8_t hdr[12];
	int ret = be ? qcow2_overlap_guard(s, off, entries * 8, 0) : -ENOMEM;

	for (uint64_t i = 0; ret == 0 && i < entries; i++)
		be[i] = __builtin_bswap64(nl1[i]);
	if (ret == 0)
		ret = qcow2_pwrite(s, be, entries * 8, off);
	if (ret == 0)
		ret = qcow2_rb_writeback(s);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	qcow2_wr32(hdr, (uint32_t)entries);
	qcow2_wr64(hdr + 4, off);
	if (ret == 0)
		ret = qcow2_pwrite(s, hdr, sizeof(hdr), 36);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	free(be);
	return ret;
}

int qcow2_l1_grow(struct qcow2 *s, uint64_t entries)
{
	uint64_t off, old_off = s->l1_offset, old_n = s->l1_size;
	uint64_t *nl1;
	int ret;

	if (entries > QCOW2_MAX_L1_BYTES / 8) {
		log_error("%s: the L1 table would exceed 32 MiB", s->name);
		return -EFBIG;
	}
	ret = qcow2_meta_flush(s);
	if (ret == 0)
		ret = qcow2_alloc_clusters(s, ALIGN_UP(entries * 8, s->cluster_size) >>
					   s->cluster_bits, &off);
	if (ret < 0)
		return ret;
	nl1 = calloc(entries, 8);
	if (!nl1)
		return -ENOMEM;
	memcpy(nl1, s->l1, old_n * 8);
	ret = l1_grow_write(s, nl1, entries, off);
	if (ret < 0) {
		free(nl1);
		return ret;
	}
	free(s->l1);
	s->l1 = nl1;
	s->l1_size = (uint32_t)entries;
	s->l1_offset = off;
	return old_n ? qcow2_refcount_update(s, old_off, old_n * 8, -1) : 0;
}

/* ---- mapping ---- */

int qcow2_l2e_type(struct qcow2 *s, uint64_t e, uint64_t goff, enum qcow2_ctype *t)
{
	uint64_t host = e & QCOW2_OFFSET_MASK;

	if (e & QCOW2_OFLAG_COMPRESSED) {
		*t = QCOW2_CT_COMPRESSED;
		return 0;
	}
	if (e & QCOW2_OFLAG_ZERO) {
		if (s->version < 3)
			return qcow2_corrupt(s, "zero cluster entry in a version 2 image (guest "
					     "offset 0x%" PRIx64 ")", goff);
		*t = host ? QCOW2_CT_ZERO_ALLOC : QCOW2_CT_ZERO_PLAIN;
	} else {
		*t = host ? QCOW2_CT_NORMAL : QCOW2_CT_UNALLOC;
	}
	if (host && !qcow2_aligned(s, host))
		return qcow2_corrupt(s, "cluster offset 0x%" PRIx64 " unaligned (guest offset 0x%"
				     PRIx64 ")", host, goff);
	return 0;
}

/* Whether entry b continues the run started by entry a (i clusters later). */
static bool run_continues(enum qcow2_ctype t, uint64_t a, uint64_t b, uint64_t i,
			  uint64_t cs)
{
	uint64_t flags = QCOW2_OFLAG_COPIED | QCOW2_OFLAG_ZERO | QCOW2_OFLAG_COMPRESSED;

	switch (t) {
	case QCOW2_CT_UNALLOC:
	case QCOW2_CT_ZERO_PLAIN:
		return (b & ~QCOW2_OFLAG_COPIED) == (a & ~QCOW2_OFLAG_COPIED);
	case QCOW2_CT_ZERO_ALLOC:
	case QCOW2_CT_NORMAL:
		return (b & flags) == (a & flags) &&
		       (b & QCOW2_OFFSET_MASK) == (a & QCOW2_OFFSET_MASK) + i * cs;
	case QCOW2_CT_COMPRESSED:
		return false;
	}
	return false;
}

int qcow2_map(struct qcow2 *s, uint64_t off, uint64_t len, enum qcow2_ctype *type,
	      uint64_t *l2e, uint64_t *bytes)
{
	uint64_t l1i = off >> (s->cluster_bits + s->l2_bits);
	uint64_t l2i = (off >> s->cluster_bits) & (s->l2_entries - 1);
	uint64_t oic = qcow2_off_in_cluster(s, off), max_n = s->l2_entries - l2i, l2o, *tab, n;
	int ret = l1_entry(s, l1i, &l2o);

	if (ret < 0)
		return ret;
	*l2e = 0;
	*type = QCOW2_CT_UNALLOC;
	n = max_n;
	if (l2o) {
		ret = qcow2_l2_get(s, l2o, &tab);
		if (ret == 0)
			*l2e = __builtin_bswap64(tab[l2i]);
		if (ret == 0)
			ret = qcow2_l2e_type(s, *l2e, off, type);
		if (ret < 0)
			return ret;
		for (n = 1; n < max_n && (n << s->cluster_bits) - oic < len; n++)
			if (!run_continues(*type, *l2e, __builtin_bswap64(tab[l2i + n]), n,
					   s->cluster_size))
				break;
	}
	*bytes = MIN(len, (n << s->cluster_bits) - oic);
	return 0;
}

/* ---- reads ---- */

static int read_backing(struct qcow2 *s, uint64_t off, const struct iovec *iov, int cnt,
			size_t skip, size_t n)
{
	struct blk *bk = s->b->backing;
	struct iovec small[16] = { { 0 } }, *sub = small;
	size_t m = 0;
	int k, ret = 0;

	if (bk && off < bk->size)
		m = (size_t)MIN((uint64_t)n, bk->size - off);
	if (m > 0) {
		if (cnt > (int)ARRAY_SIZE(small))
			sub = malloc((size_t)cnt * sizeof(*sub));
		if (!sub)
			return -ENOMEM;
		k = iov_slice(iov, cnt, skip, m, sub);
		ret = blk_readv(bk, off, sub, k);
		if (sub != small)
			free(sub);
	}
	if (ret == 0 && m < n)
		iov_copy(iov, cnt, skip + m, NULL, n - m, IOV_ZERO);
	return ret;
}

static int inflate_zlib(const uint8_t *in, size_t inlen, uint8_t *out, size_t outlen)
{
	z_stream z;
	int ret;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -12) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	z.next_out = out;
	z.avail_out = (uInt)outlen;
	ret = inflate(&z, Z_FINISH);
	inflateEnd(&z);
	return ((ret == Z_STREAM_END || ret == Z_BUF_ERROR) && z.avail_out == 0) ? 0 : -EIO;
}

static int inflate_zstd(struct qcow2 *s, const uint8_t *in, size_t inlen, uint8_t *out,
			size_t outlen)
{
	ZSTD_inBuffer zi = { in, inlen, 0 };
	ZSTD_outBuffer zo = { out, outlen, 0 };

	if (!s->zstd_dctx)
		s->zstd_dctx = ZSTD_createDCtx();
	if (!s->zstd_dctx)
		return -ENOMEM;
	ZSTD_DCtx_reset(s->zstd_dctx, ZSTD_reset_session_only);
	while (zo.pos < zo.size) {
		size_t r = ZSTD_decompressStream(s->zstd_dctx, &zo, &zi);

		if (ZSTD_isError(r))
			return -EIO;
		if (r == 0 || zi.pos == zi.size)
			break;
	}
	return zo.pos == zo.size ? 0 : -EIO;
}

static int read_compressed(struct qcow2 *s, uint64_t e, uint64_t goff)
{
	uint64_t coff, nsect, clen;
	int ret;

	if (s->dbuf_entry == e && s->dbuf)
		return 0;
	if (!s->cbuf)
		s->cbuf = malloc(2 * s->cluster_size + 512);
	if (!s->dbuf)
		s->dbuf = malloc(s->cluster_size);
	if (!s->cbuf || !s->dbuf)
		return -ENOMEM;
	s->dbuf_entry = 0;
	qcow2_compressed_desc(s, e, &coff, &nsect);
	clen = nsect * 512 - (coff & 511);
	ret = qcow2_pread(s, s->cbuf, clen, coff);
	if (ret < 0)
		return ret;
	if (s->compression == QCOW2_COMP_ZSTD)
		ret = inflate_zstd(s, s->cbuf, clen, s->dbuf, s->cluster_size);
	else
		ret = inflate_zlib(s->cbuf, clen, s->dbuf, s->cluster_size);
	if (ret == -EIO)
		log_error("%s: cannot decompress the cluster at guest offset 0x%" PRIx64
			  " (host offset 0x%" PRIx64 ")", s->name, goff, coff);
	if (ret == 0)
		s->dbuf_entry = e;
	return ret;
}

static int read_run(struct qcow2 *s, enum qcow2_ctype t, uint64_t e, uint64_t off,
		    const struct iovec *iov, int cnt, size_t skip, size_t n)
{
	uint64_t oic = qcow2_off_in_cluster(s, off);
	int ret;

	switch (t) {
	case QCOW2_CT_UNALLOC:
		return read_backing(s, off, iov, cnt, skip, n);
	case QCOW2_CT_ZERO_PLAIN:
	case QCOW2_CT_ZERO_ALLOC:
		iov_copy(iov, cnt, skip, NULL, n, IOV_ZERO);
		return 0;
	case QCOW2_CT_NORMAL:
		return iov_file(s, iov, cnt, skip, n, (e & QCOW2_OFFSET_MASK) + oic, false);
	case QCOW2_CT_COMPRESSED:
		ret = read_compressed(s, e, off);
		if (ret == 0)
			iov_copy(iov, cnt, skip, s->dbuf + oic, n, IOV_FROM_BUF);
		return ret;
	}
	return -EINVAL;
}

static int check_range(struct qcow2 *s, uint64_t off, uint64_t len)
{
	if (off > s->size || s->size - off < len) {
		log_error("%s: request at %" PRIu64 " (%" PRIu64 " bytes) is beyond the end of "
			  "the image (%" PRIu64 " bytes)", s->name, off, len, s->size);
		return -EINVAL;
	}
	return 0;
}

int qcow2_readv(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct qcow2 *s = blk_state(b);
	size_t total = iov_total(iov, iovcnt), done = 0;
	int ret = check_range(s, off, total);

	while (ret == 0 && done < total) {
		enum qcow2_ctype t;
		uint64_t e, n;

		ret = qcow2_map(s, off + done, total - done, &t, &e, &n);
		if (ret == 0)
			ret = read_run(s, t, e, off + done, iov, iovcnt, done, n);
		done += n;
	}
	return ret;
}

/* ---- writes ---- */

/* The current contents of the guest cluster at goff (entry e) into buf. */
static int cow_read(struct qcow2 *s, uint64_t goff, uint64_t e, uint8_t *buf)
{
	struct iovec v = { buf, s->cluster_size };
	enum qcow2_ctype t;
	int ret = qcow2_l2e_type(s, e, goff, &t);

	return ret ? ret : read_run(s, t, e, goff, &v, 1, 0, s->cluster_size);
}

/* Write a whole cluster at host: the old contents of guest cluster goff
 * (entry e) with iov bytes [skip, skip+n) placed at oic. */
static int cow_write(struct qcow2 *s, uint64_t goff, uint64_t e, uint64_t host, uint64_t oic,
		     const struct iovec *iov, int cnt, size_t skip, size_t n)
{
	uint8_t *buf = malloc(s->cluster_size);
	int ret = -ENOMEM;

	if (!buf)
		return ret;
	if (oic == 0 && n == s->cluster_size)
		ret = 0;
	else
		ret = cow_read(s, goff, e, buf);
	if (ret == 0) {
		iov_copy(iov, cnt, skip, buf + oic, n, IOV_TO_BUF);
		ret = qcow2_pwrite(s, buf, s->cluster_size, host);
	}
	free(buf);
	return ret;
}

struct wreq {
	uint64_t off;              /* guest offset of this piece */
	size_t n;                  /* bytes */
	const struct iovec *iov;
	int cnt;
	size_t skip;               /* iov offset of the piece */
};

/* Write the piece's data into nc new clusters at host (COW at the edges). */
static int alloc_data(struct qcow2 *s, const struct wreq *w, const uint64_t *tab, uint64_t l2i,
		      uint64_t nc, uint64_t host)
{
	uint64_t cs = s->cluster_size, oic = qcow2_off_in_cluster(s, w->off);
	uint64_t first = MIN(w->n, cs - oic), last_n = (oic + w->n - 1) % cs + 1;
	uint64_t g0 = w->off - oic;
	int ret = cow_write(s, g0, __builtin_bswap64(tab[l2i]), host, oic, w->iov, w->cnt,
			    w->skip, first);

	if (ret < 0 || nc == 1)
		return ret;
	if (nc > 2)
		ret = iov_file(s, w->iov, w->cnt, w->skip + first, (nc - 2) * cs, host + cs, true);
	if (ret == 0)
		ret = cow_write(s, g0 + (nc - 1) * cs, __builtin_bswap64(tab[l2i + nc - 1]),
				host + (nc - 1) * cs, 0, w->iov, w->cnt,
				w->skip + first + (nc - 2) * cs, last_n);
	return ret;
}

/* Point nc entries from l2i at new clusters host.., queueing the old ones. */
static int link_l2(struct qcow2 *s, uint64_t *tab, uint64_t l2_off, uint64_t l2i, uint64_t nc,
		   uint64_t host, bool reuse)
{
	for (uint64_t i = 0; i < nc; i++) {
		uint64_t old = __builtin_bswap64(tab[l2i + i]);

		tab[l2i + i] = __builtin_bswap64((host + i * s->cluster_size) | QCOW2_OFLAG_COPIED);
		if (!reuse) {
			int ret = qcow2_free_l2e_later(s, old);

			if (ret < 0)
				return ret;
		}
	}
	qcow2_l2_dirty(s, l2_off);
	return 0;
}

/* Write a piece whose clusters need new host clusters (or, reuse, the one
 * preallocated zero cluster it has). */
static int write_alloc(struct qcow2 *s, const struct wreq *w, uint64_t e, bool reuse)
{
	uint64_t l1i = w->off >> (s->cluster_bits + s->l2_bits);
	uint64_t l2i = (w->off >> s->cluster_bits) & (s->l2_entries - 1);
	uint64_t oic = qcow2_off_in_cluster(s, w->off);
	uint64_t nc = (oic + w->n + s->cluster_size - 1) >> s->cluster_bits, host, l2_off, *tab;
	int ret = l2_writable(s, l1i, &tab, &l2_off);

	if (ret < 0)
		return ret;
	if (reuse)
		host = e & QCOW2_OFFSET_MASK;
	else
		ret = qcow2_alloc_clusters(s, nc, &host);
	if (ret == 0)
		ret = qcow2_overlap_guard(s, host, nc << s->cluster_bits, 0);
	if (ret == 0)
		ret = alloc_data(s, w, tab, l2i, nc, host);
	if (ret == 0)
		ret = link_l2(s, tab, l2_off, l2i, nc, host, reuse);
	return ret;
}

static int write_piece(struct qcow2 *s, struct wreq *w, enum qcow2_ctype t, uint64_t e)
{
	uint64_t host = (e & QCOW2_OFFSET_MASK) + qcow2_off_in_cluster(s, w->off);
	bool copied = e & QCOW2_OFLAG_COPIED;
	int ret;

	if (t == QCOW2_CT_NORMAL && copied) {
		ret = qcow2_overlap_guard(s, host, w->n, 0);
		return ret ? ret : iov_file(s, w->iov, w->cnt, w->skip, w->n, host, true);
	}
	if (t == QCOW2_CT_ZERO_ALLOC && copied) {
		/* one cluster at a time: it keeps its host cluster */
		w->n = MIN(w->n, s->cluster_size - qcow2_off_in_cluster(s, w->off));
		return write_alloc(s, w, e, true);
	}
	return write_alloc(s, w, e, false);
}

static int write_prepare(struct qcow2 *s, uint64_t off, uint64_t len)
{
	int ret = qcow2_write_check(s);

	if (ret == 0)
		ret = check_range(s, off, len);
	if (ret == 0 && s->npfree > QCOW2_PFREE_FLUSH)
		ret = qcow2_meta_flush(s);
	return ret;
}

int qcow2_writev(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct qcow2 *s = blk_state(b);
	size_t total = iov_total(iov, iovcnt), done = 0;
	int ret = write_prepare(s, off, total);

	while (ret == 0 && done < total) {
		struct wreq w = { .off = off + done, .iov = iov, .cnt = iovcnt, .skip = done };
		enum qcow2_ctype t;
		uint64_t e, n;

		ret = qcow2_map(s, off + done, total - done, &t, &e, &n);
		w.n = n;
		if (ret == 0)
			ret = write_piece(s, &w, t, e);
		done += w.n;
	}
	return ret;
}

/* ---- compressed writes ---- */

static int deflate_zlib(const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
	z_stream z;
	int ret;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 9, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	z.next_out = out;
	z.avail_out = (uInt)*outlen;
	ret = deflate(&z, Z_FINISH);
	*outlen -= z.avail_out;
	deflateEnd(&z);
	return ret == Z_STREAM_END ? 0 : -ENOSPC;
}

static int compress_cluster(struct qcow2 *s, const uint8_t *in, uint8_t *out, size_t *outlen)
{
	if (s->compression == QCOW2_COMP_ZSTD) {
		size_t r = ZSTD_compress(out, *outlen, in, s->cluster_size, ZSTD_CLEVEL_DEFAULT);

		if (ZSTD_isError(r))
			return -ENOSPC;
		*outlen = r;
		return 0;
	}
	return deflate_zlib(in, s->cluster_size, out, outlen);
}

/* Store the compressed bytes and point the guest cluster at them. */
static int write_compressed_data(struct qcow2 *s, uint64_t off, const uint8_t *z, size_t zlen)
{
	unsigned x = 62 - (s->cluster_bits - 8);
	uint64_t l1i = off >> (s->cluster_bits + s->l2_bits);
	uint64_t l2i = (off >> s->cluster_bits) & (s->l2_entries - 1);
	uint64_t coff, nsect, l2_off, *tab, old;
	int ret = l2_writable(s, l1i, &tab, &l2_off);

	if (ret == 0)
		ret = qcow2_alloc_bytes(s, zlen, &coff);
	if (ret == 0 && coff + zlen > (1ULL << x))
		ret = -ENOSPC;
	if (ret == 0)
		ret = qcow2_overlap_guard(s, coff, zlen, 0);
	if (ret == 0)
		ret = qcow2_pwrite(s, z, zlen, coff);
	if (ret < 0)
		return ret;
	nsect = ((coff + zlen - 1) >> 9) - (coff >> 9);
	s->dbuf_entry = 0;  /* an entry may come back with new contents */
	old = __builtin_bswap64(tab[l2i]);
	tab[l2i] = __builtin_bswap64(QCOW2_OFLAG_COMPRESSED | (nsect << x) | coff);
	qcow2_l2_dirty(s, l2_off);
	return qcow2_free_l2e_later(s, old);
}

int qcow2_write_compressed(struct blk *b, uint64_t off, const void *buf, size_t len)
{
	struct qcow2 *s = blk_state(b);
	struct iovec v = { (void *)buf, len };
	uint8_t *in = NULL, *out = NULL;
	size_t zlen = s->cluster_size - 1;
	int ret = write_prepare(s, off, len);

	if (ret < 0)
		return ret;
	if (!qcow2_aligned(s, off) || len == 0 ||
	    (len != s->cluster_size && (len > s->cluster_size || off + len != s->size)))
		return -EINVAL;
	in = calloc(1, s->cluster_size);
	out = malloc(s->cluster_size);
	ret = -ENOMEM;
	if (in && out) {
		memcpy(in, buf, len);
		ret = compress_cluster(s, in, out, &zlen);
	}
	if (ret == -ENOSPC) /* does not compress: store it plainly */
		ret = qcow2_writev(b, off, &v, 1);
	else if (ret == 0)
		ret = write_compressed_data(s, off, out, zlen);
	free(in);
	free(out);
	return ret;
}

/* ---- discard, write zeroes ---- */

enum zmode { ZM_UNMAP, ZM_DISCARD, ZM_ZERO, ZM_ZERO_KEEP };

/* The new entry for an old one under a zero/discard mode, or old itself. */
static uint64_t zero_entry(struct qcow2 *s, uint64_t old, enum zmode m)
{
	bool copied_normal = (old & QCOW2_OFLAG_COPIED) && !(old & QCOW2_OFLAG_COMPRESSED) &&
			     (old & QCOW2_OFFSET_MASK);

	switch (m) {
	case ZM_UNMAP:
		return 0;
	case ZM_DISCARD:
		return (s->backing && s->version >= 3) ? QCOW2_OFLAG_ZERO : 0;
	case ZM_ZERO:
		return (old & QCOW2_OFFSET_MASK) || (old & QCOW2_OFLAG_COMPRESSED) || s->backing ?
		       QCOW2_OFLAG_ZERO : old;
	case ZM_ZERO_KEEP:
		if (copied_normal)
			return (old & ~QCOW2_OFLAG_COMPRESSED) | QCOW2_OFLAG_ZERO;
		return zero_entry(s, old, ZM_ZERO);
	}
	return old;
}

static bool table_changes(struct qcow2 *s, const uint64_t *tab, uint64_t i0, uint64_t n,
			  enum zmode m)
{
	for (uint64_t i = i0; i < i0 + n; i++) {
		uint64_t old = __builtin_bswap64(tab[i]);

		if (zero_entry(s, old, m) != old)
			return true;
	}
	return false;
}

/* Apply mode m to the whole clusters [c, c+n) of one L2 table. */
static int zero_table(struct qcow2 *s, uint64_t c, uint64_t n, enum zmode m)
{
	uint64_t l1i = c >> s->l2_bits, i0 = c & (s->l2_entries - 1), l2_off, *tab;
	int ret = l1_entry(s, l1i, &l2_off);

	if (ret < 0 || (!l2_off && (m == ZM_UNMAP || !s->backing ||
				    (m == ZM_DISCARD && s->version < 3))))
		return ret;
	if (l2_off) {
		ret = qcow2_l2_get(s, l2_off, &tab);
		if (ret < 0 || !table_changes(s, tab, i0, n, m))
			return ret;
	}
	ret = l2_writable(s, l1i, &tab, &l2_off);
	for (uint64_t i = i0; ret == 0 && i < i0 + n; i++) {
		uint64_t old = __builtin_bswap64(tab[i]), nw = zero_entry(s, old, m);

		if (nw == old)
			continue;
		tab[i] = __builtin_bswap64(nw);
		if ((nw & QCOW2_OFFSET_MASK) != (old & QCOW2_OFFSET_MASK) ||
		    (old & QCOW2_OFLAG_COMPRESSED))
			ret = qcow2_free_l2e_later(s, old);
	}
	qcow2_l2_dirty(s, l2_off);
	return ret;
}

static int zero_clusters(struct qcow2 *s, uint64_t off, uint64_t len, enum zmode m)
{
	uint64_t c = off >> s->cluster_bits, end = (off + len) >> s->cluster_bits;
	int ret = 0;

	while (ret == 0 && c < end) {
		uint64_t n = MIN(end - c, s->l2_entries - (c & (s->l2_entries - 1)));

		ret = zero_table(s, c, n, m);
		if (ret == 0 && s->npfree > QCOW2_PFREE_FLUSH)
			ret = qcow2_meta_flush(s);
		c += n;
	}
	return ret;
}

int qcow2_discard_range(struct qcow2 *s, uint64_t off, uint64_t len, bool zero)
{
	uint64_t a = ALIGN_UP(off, s->cluster_size), e = ALIGN_DOWN(off + len, s->cluster_size);

	if (off + len >= s->size)
		e = ALIGN_UP(off + len, s->cluster_size);
	if (e <= a)
		return 0;
	return zero_clusters(s, a, e - a, zero ? ZM_DISCARD : ZM_UNMAP);
}

int qcow2_discard(struct blk *b, uint64_t off, uint64_t len)
{
	struct qcow2 *s = blk_state(b);
	int ret = write_prepare(s, off, len);

	return ret ? ret : qcow2_discard_range(s, off, len, true);
}

int qcow2_make_empty(struct blk *b)
{
	struct qcow2 *s = blk_state(b);
	int ret = qcow2_write_check(s);

	if (ret == 0)
		ret = zero_clusters(s, 0, (uint64_t)s->l1_size << (s->cluster_bits + s->l2_bits),
				    ZM_UNMAP);
	return ret ? ret : qcow2_meta_flush(s);
}

static int write_zero_bytes(struct blk *b, uint64_t off, uint64_t len)
{
	uint8_t *z = calloc(1, (size_t)MIN(len, QCOW2_ZERO_CHUNK));
	int ret = z ? 0 : -ENOMEM;

	while (ret == 0 && len > 0) {
		struct iovec v = { z, (size_t)MIN(len, QCOW2_ZERO_CHUNK) };

		ret = qcow2_writev(b, off, &v, 1);
		off += v.iov_len;
		len -= v.iov_len;
	}
	free(z);
	return ret;
}

/* Version 2 has no zero flag: write zeros where reads would not give them.
 * [off, end) is cluster aligned and may run past the end of the image. */
static int zeroes_v2(struct blk *b, uint64_t off, uint64_t end, bool may_unmap)
{
	struct qcow2 *s = blk_state(b);

	if (!s->backing && may_unmap)
		return zero_clusters(s, off, end - off, ZM_UNMAP);
	end = MIN(end, s->size);
	while (off < end) {
		enum qcow2_ctype t;
		uint64_t e, n;
		int ret = qcow2_map(s, off, end - off, &t, &e, &n);

		if (ret == 0 && !(t == QCOW2_CT_UNALLOC && !s->backing))
			ret = write_zero_bytes(b, off, n);
		if (ret < 0)
			return ret;
		off += n;
	}
	return 0;
}

int qcow2_write_zeroes(struct blk *b, uint64_t off, uint64_t len, bool may_unmap)
{
	struct qcow2 *s = blk_state(b);
	uint64_t a = ALIGN_UP(off, s->cluster_size), e = ALIGN_DOWN(off + len, s->cluster_size);
	int ret = write_prepare(s, off, len);

	if (ret < 0)
		return ret;
	if (off + len == s->size)
		e = ALIGN_UP(off + len, s->cluster_size);
	if (e <= a)
		return write_zero_bytes(b, off, len);
	if (a > off)
		ret = write_zero_bytes(b, off, a - off);
	if (ret == 0 && s->version >= 3)
		ret = zero_clusters(s, a, e - a, may_unmap ? ZM_ZERO : ZM_ZERO_KEEP);
	else if (ret == 0)
		ret = zeroes_v2(b, a, e, may_unmap);
	if (ret == 0 && e < off + len)
		ret = write_zero_bytes(b, e, off + len - e);
	return ret;
}

/* ---- block status ---- */

int qcow2_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
		       unsigned *status, uint64_t *host_off)
{
	struct qcow2 *s = blk_state(b);
	enum qcow2_ctype t;
	uint64_t e, host;
	int ret = check_range(s, off, len);

	if (ret == 0)
		ret = qcow2_map(s, off, len, &t, &e, pnum);
	if (ret < 0)
		return ret;
	host = (e & QCOW2_OFFSET_MASK) + qcow2_off_in_cluster(s, off);
	*host_off = 0;
	switch (t) {
	case QCOW2_CT_UNALLOC:
		*status = s->backing ? 0 : BLK_STATUS_ZERO;
		break;
	case QCOW2_CT_ZERO_PLAIN:
		*status = BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED;
		break;
	case QCOW2_CT_ZERO_ALLOC:
		*status = BLK_STATUS_ZERO | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET;
		*host_off = host;
		break;
	case QCOW2_CT_NORMAL:
		*status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET;
		*host_off = host;
		break;
	case QCOW2_CT_COMPRESSED:
		*status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED | BLK_STATUS_COMPRESSED;
		break;
	}
	return 0;
}

/* ---- preallocation ---- */

static int prealloc_full(struct qcow2 *s, uint64_t host, uint64_t bytes)
{
	uint8_t *z;
	int ret = s->file->ops->allocate ? s->file->ops->allocate(s->file, host, bytes) :
		  -EOPNOTSUPP;

	if (ret != -EOPNOTSUPP)
		return ret;
	z = calloc(1, (size_t)MIN(bytes, QCOW2_ZERO_CHUNK));
	ret = z ? 0 : -ENOMEM;

	while (ret == 0 && bytes > 0) {
		size_t n = (size_t)MIN(bytes, QCOW2_ZERO_CHUNK);

		ret = qcow2_pwrite(s, z, n, host);
		host += n;
		bytes -= n;
	}
	free(z);
	return ret;
}

/* Allocate every guest cluster (metadata), writing zeros too for full. */
int qcow2_prealloc(struct qcow2 *s, enum blk_prealloc mode)
{
	uint64_t nclusters = ALIGN_UP(s->size, s->cluster_size) >> s->cluster_bits, c = 0;
	int64_t fsize;
	int ret = 0;

	while (ret == 0 && c < nclusters) {
		uint64_t n = MIN(nclusters - c, s->l2_entries), l2_off, *tab, host;

		ret = l2_writable(s, c >> s->l2_bits, &tab, &l2_off);
		if (ret == 0)
			ret = qcow2_alloc_clusters(s, n, &host);
		if (ret == 0 && mode == BLK_PREALLOC_FULL)
			ret = prealloc_full(s, host, n << s->cluster_bits);
		if (ret == 0)
			ret = link_l2(s, tab, l2_off, 0, n, host, true);
		c += n;
	}
	fsize = blk_file_size(s->file);
	if (ret == 0 && fsize >= 0 && (uint64_t)fsize < s->end_cluster << s->cluster_bits)
		ret = s->file->ops->truncate(s->file, s->end_cluster << s->cluster_bits);
	return ret;
}
