/* qcow2_refcount: the qcow2 driver's host-cluster bookkeeping: the bounded
 * table cache (used for L2 tables and refcount blocks), refcount entries of
 * every width (1..64 bits), refcount lookups and updates, allocation of
 * clusters and of sub-cluster byte ranges for compressed data, growth of
 * the refcount table, deferred frees, and the overlap check that keeps
 * writes away from metadata. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

/* ---- table cache ---- */

int qcow2_cache_init(struct qcow2_cache *c, unsigned n, size_t size)
{
	memset(c, 0, sizeof(*c));
	c->ent = calloc(n, sizeof(*c->ent));
	if (!c->ent)
		return -ENOMEM;
	c->n = n;
	c->size = size;
	return 0;
}

void qcow2_cache_destroy(struct qcow2_cache *c)
{
	if (!c->ent)
		return;
	for (unsigned i = 0; i < c->n; i++)
		free(c->ent[i].buf);
	free(c->ent);
	memset(c, 0, sizeof(*c));
}

int qcow2_cache_find(struct qcow2_cache *c, uint64_t off)
{
	if (off == 0)
		return -1;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->ent[i].off == off) {
			c->ent[i].lru = ++c->tick;
			c->hits++;
			return (int)i;
		}
	}
	c->misses++;
	return -1;
}

unsigned qcow2_cache_victim(const struct qcow2_cache *c)
{
	unsigned best = 0;

	for (unsigned i = 0; i < c->n; i++) {
		if (c->ent[i].off == 0)
			return i;
		if (c->ent[i].lru < c->ent[best].lru)
			best = i;
	}
	return best;
}

int qcow2_cache_fill(struct qcow2_cache *c, unsigned i, uint64_t off)
{
	struct qcow2_cache_ent *e = &c->ent[i];

	if (!e->buf) {
		void *p;

		/* page-aligned: cache=none files need no bounce buffer */
		if (posix_memalign(&p, 4096, c->size))
			return -ENOMEM;
		e->buf = p;
	}
	e->off = off;
	e->dirty = false;
	e->lru = ++c->tick;
	return 0;
}

void qcow2_cache_reset(struct qcow2_cache *c)
{
	for (unsigned i = 0; i < c->n; i++) {
		c->ent[i].off = 0;
		c->ent[i].dirty = false;
		c->ent[i].lru = 0;
	}
}

void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off)
{
	for (unsigned i = 0; off && i < c->n; i++) {
		if (c->ent[i].off == off) {
			c->ent[i].off = 0;
			c->ent[i].dirty = false;
			c->ent[i].lru = 0;
		}
	}
}

/* ---- refcount entry arithmetic ---- */

uint64_t qcow2_rc_get(const void *block, uint64_t idx, uint32_t order)
{
	const uint8_t *p = block;
	unsigned w, per;

	switch (order) {
	case 0:
	case 1:
	case 2:
		w = 1u << order;
		per = 8u / w;
		return (p[idx / per] >> ((idx % per) * w)) & ((1u << w) - 1u);
	case 3:
		return p[idx];
	case 4:
		return qcow2_rd16(p + 2 * idx);
	case 5:
		return qcow2_rd32(p + 4 * idx);
	default:
		return qcow2_rd64(p + 8 * idx);
	}
}

void qcow2_rc_set(void *block, uint64_t idx, uint32_t order, uint64_t val)
{
	uint8_t *p = block;
	unsigned w, per, shift, mask;

	switch (order) {
	case 0:
	case 1:
	case 2:
		w = 1u << order;
		per = 8u / w;
		shift = (unsigned)(idx % per) * w;
		mask = ((1u << w) - 1u) << shift;
		p[idx / per] = (uint8_t)((p[idx / per] & ~mask) | ((val << shift) & mask));
		return;
	case 3:
		p[idx] = (uint8_t)val;
		return;
	case 4:
		qcow2_wr16(p + 2 * idx, (uint16_t)val);
		return;
	case 5:
		qcow2_wr32(p + 4 * idx, (uint32_t)val);
		return;
	default:
		qcow2_wr64(p + 8 * idx, val);
		return;
	}
}

/* ---- refcount blocks ---- */

static int rb_write_slot(struct qcow2 *s, unsigned i)
{
	struct qcow2_cache_ent *e = &s->rbc.ent[i];
	int ret = qcow2_overlap_guard(s, e->off, s->cluster_size, QCOW2_OL_RB);

	if (ret < 0)
		return ret;
	ret = qcow2_pwrite(s, e->buf, s->cluster_size, e->off);
	if (ret < 0) {
		log_error("%s: cannot write refcount block at 0x%" PRIx64 ": %s", s->name,
			  e->off, strerror(-ret));
		return ret;
	}
	e->dirty = false;
	return 0;
}

int qcow2_rb_writeback(struct qcow2 *s)
{
	for (unsigned i = 0; i < s->rbc.n; i++) {
		if (s->rbc.ent[i].off && s->rbc.ent[i].dirty) {
			int ret = rb_write_slot(s, i);

			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

void qcow2_rb_forget(struct qcow2 *s)
{
	qcow2_cache_reset(&s->rbc);
}

/* Cache slot of the refcount block for refcount-table index ti; -ENOENT when
 * that block does not exist. */
static int rb_get(struct qcow2 *s, uint64_t ti, unsigned *slot)
{
	uint64_t e = ti < s->rt_size ? s->rt[ti] : 0, off = e & QCOW2_RTE_OFFSET_MASK;
	int64_t fsize;
	unsigned v = 0;
	int i, ret;

	if (off == 0)
		return -ENOENT;
	i = qcow2_cache_find(&s->rbc, off);
	if (i >= 0) {
		*slot = (unsigned)i;
		return 0;
	}
	if (e & QCOW2_RTE_RESERVED)
		return qcow2_corrupt(s, "refcount block offset 0x%" PRIx64
				     " unaligned (refcount table index %" PRIu64 ")", e, ti);
	fsize = blk_file_size(s->file);
	if (fsize < 0)
		return (int)fsize;
	if (off > (uint64_t)fsize || (uint64_t)fsize - off < s->cluster_size)
		return qcow2_corrupt(s, "refcount block at 0x%" PRIx64
				     " (refcount table index %" PRIu64 ") lies past the end of the file",
				     off, ti);
	v = qcow2_cache_victim(&s->rbc);
	if (s->rbc.ent[v].off && s->rbc.ent[v].dirty) {
		ret = rb_write_slot(s, v);
		if (ret < 0)
			return ret;
	}
	ret = qcow2_cache_fill(&s->rbc, v, off);
	if (ret == 0)
		ret = qcow2_pread(s, s->rbc.ent[v].buf, s->cluster_size, off);
	if (ret < 0) {
		s->rbc.ent[v].off = 0;
		return ret;
	}
	*slot = v;
	return 0;
}

int qcow2_rb_read(struct qcow2 *s, uint64_t ti, void *buf)
{
	unsigned slot = 0;
	int ret = ti < s->rt_size ? rb_get(s, ti, &slot) : -ENOENT;

	if (ret == -ENOENT) {
		memset(buf, 0, s->cluster_size);
		return 0;
	}
	if (ret == 0)
		memcpy(buf, s->rbc.ent[slot].buf, s->cluster_size);
	return ret;
}

int qcow2_refcount_get(struct qcow2 *s, uint64_t cluster, uint64_t *rc)
{
	uint64_t ti = cluster >> s->rb_bits;
	unsigned slot = 0;
	int ret;

	*rc = 0;
	if (ti >= s->rt_size)
		return 0;
	ret = rb_get(s, ti, &slot);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0)
		return ret;
	*rc = qcow2_rc_get(s->rbc.ent[slot].buf, cluster & (s->rb_entries - 1),
			   s->refcount_order);
	return 0;
}

void qcow2_rt_hi_update(struct qcow2 *s)
{
	s->rt_hi = s->rt_size;
	while (s->rt_hi > 0 && !s->rt[s->rt_hi - 1])
		s->rt_hi--;
}

/* The end of used space: every cluster from s->end_cluster on is free. */
int qcow2_refcount_init(struct qcow2 *s)
{
	int64_t fsize = blk_file_size(s->file);
	uint64_t ti;
	unsigned slot = 0;
	int ret;

	if (fsize < 0)
		return (int)fsize;
	s->end_cluster = ALIGN_UP((uint64_t)fsize, s->cluster_size) >> s->cluster_bits;
	for (ti = s->rt_size; ti-- > 0;) {
		if (!(s->rt[ti] & QCOW2_RTE_OFFSET_MASK))
			continue;
		ret = rb_get(s, ti, &slot);
		if (ret < 0)
			return ret;
		for (uint64_t i = s->rb_entries; i-- > 0;) {
			if (qcow2_rc_get(s->rbc.ent[slot].buf, i, s->refcount_order)) {
				s->end_cluster = MAX(s->end_cluster, (ti << s->rb_bits) + i + 1);
				return 0;
			}
		}
	}
	return 0;
}

/* ---- refcount table growth ---- */

static int alloc_init(struct qcow2 *s)
{
	if (s->end_cluster)
		return 0;
	return qcow2_refcount_init(s);
}

struct rc_area {
	uint64_t a;          /* first cluster of the new area */
	uint64_t m;          /* new refcount blocks at [a, a+m) */
	uint64_t k;          /* new table clusters at [a+m, a+m+k), 0 = no growth */
	uint64_t entries;    /* new table size (entries) */
	uint64_t *tis;       /* table indexes of the new blocks */
};

static bool rc_missing(const struct qcow2 *s, uint64_t ti)
{
	return ti >= s->rt_size || !(s->rt[ti] & QCOW2_RTE_OFFSET_MASK);
}

/* Collect the missing table indexes covering [c0, c1) and the area itself. */
static uint64_t rc_area_count(struct qcow2 *s, struct rc_area *ar, uint64_t c0, uint64_t c1,
			      bool store)
{
	uint64_t lo1 = c0 >> s->rb_bits, hi1 = (c1 - 1) >> s->rb_bits;
	uint64_t lo2 = ar->a >> s->rb_bits, hi2 = (ar->a + ar->m + ar->k - 1) >> s->rb_bits;
	uint64_t n = 0;

	for (uint64_t ti = lo1; ti <= hi1; ti++) {
		if (rc_missing(s, ti)) {
			if (store)
				ar->tis[n] = ti;
			n++;
		}
	}
	for (uint64_t ti = MAX(lo2, hi1 + 1); ti <= hi2; ti++) {
		if (ti >= lo1 && ti <= hi1)
			continue;
		if (rc_missing(s, ti)) {
			if (store)
				ar->tis[n] = ti;
			n++;
		}
	}
	return n;
}

/* Size the area: blocks for every missing index, a bigger table if needed. */
static int rc_area_plan(struct qcow2 *s, struct rc_area *ar, uint64_t c0, uint64_t c1)
{
	uint64_t per = s->cluster_size / 8;

	ar->a = MAX(s->end_cluster, c1);
	ar->m = 1;
	ar->k = 0;
	ar->entries = s->rt_size;
	for (int iter = 0; iter < 64; iter++) {
		uint64_t end = ar->a + ar->m + ar->k;
		uint64_t need = MAX((end - 1) >> s->rb_bits, (c1 - 1) >> s->rb_bits) + 1;
		uint64_t m, k = ar->k, entries = ar->entries;

		if (need > s->rt_size && need > entries) {
			entries = ALIGN_UP(need + need / 4 + 1, per);
			k = entries / per;
		}
		if (entries * 8 > QCOW2_MAX_RT_BYTES) {
			log_error("%s: the refcount table would exceed %u MiB", s->name,
				  QCOW2_MAX_RT_BYTES >> 20);
			return -EFBIG;
		}
		ar->k = k;
		ar->entries = entries;
		m = rc_area_count(s, ar, c0, c1, false);
		if (m == ar->m && end == ar->a + ar->m + ar->k)
			return 0;
		ar->m = MAX(m, 1);
	}
	log_error("%s: cannot lay out new refcount blocks", s->name);
	return -EIO;
}

/* Refcount 1 for each area cluster, in the new blocks or existing ones. */
static int rc_area_fill(struct qcow2 *s, struct rc_area *ar, uint8_t *blocks)
{
	for (uint64_t x = ar->a; x < ar->a + ar->m + ar->k; x++) {
		uint64_t ti = x >> s->rb_bits, j;

		for (j = 0; j < ar->m && ar->tis[j] != ti; j++)
			;
		if (j < ar->m) {
			qcow2_rc_set(blocks + j * s->cluster_size, x & (s->rb_entries - 1),
				     s->refcount_order, 1);
			continue;
		}
		int ret = qcow2_refcount_update(s, x << s->cluster_bits, s->cluster_size, 1);

		if (ret < 0)
			return ret;
	}
	return 0;
}

static int rc_write_entries(struct qcow2 *s, const uint64_t *rt, const uint64_t *tis, uint64_t n)
{
	for (uint64_t j = 0; j < n; j++) {
		uint8_t be[8];
		int ret;

		qcow2_wr64(be, rt[tis[j]]);
		ret = qcow2_pwrite(s, be, 8, s->rt_offset + tis[j] * 8);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int rc_write_table(struct qcow2 *s, const struct rc_area *ar, const uint64_t *rt,
			  uint64_t toff)
{
	uint8_t *tb = calloc(ar->k, s->cluster_size);
	int ret;

	if (!tb)
		return -ENOMEM;
	for (uint64_t i = 0; i < ar->entries; i++)
		qcow2_wr64(tb + 8 * i, rt[i]);
	ret = qcow2_pwrite(s, tb, ar->k * s->cluster_size, toff);
	free(tb);
	return ret;
}

/* Point the header at the new table rt (at toff) and free the old one. */
static int rc_switch_table(struct qcow2 *s, const struct rc_area *ar, uint64_t *rt, uint64_t toff)
{
	uint64_t old_off = s->rt_offset, old_clusters = s->rt_clusters;
	uint8_t hdr[12];
	int ret;

	qcow2_wr64(hdr, toff);
	qcow2_wr32(hdr + 8, (uint32_t)ar->k);
	ret = qcow2_pwrite(s, hdr, sizeof(hdr), 48);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	if (ret < 0)
		return ret;
	free(s->rt);
	s->rt = rt;
	s->rt_size = ar->entries;
	s->rt_offset = toff;
	s->rt_clusters = (uint32_t)ar->k;
	return qcow2_refcount_update(s, old_off, old_clusters << s->cluster_bits, -1);
}

/* Write the area's blocks and table, then switch the header over to it. */
static int rc_area_commit(struct qcow2 *s, struct rc_area *ar, uint8_t *blocks, uint64_t *rt)
{
	uint64_t toff = (ar->a + ar->m) << s->cluster_bits;
	int ret = qcow2_pwrite(s, blocks, ar->m * s->cluster_size, ar->a << s->cluster_bits);

	if (ret == 0)
		ret = qcow2_rb_writeback(s);
	if (ret == 0 && ar->k)
		ret = rc_write_table(s, ar, rt, toff);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	if (ret < 0)
		return ret;
	if (ar->k)
		return rc_switch_table(s, ar, rt, toff);
	ret = rc_write_entries(s, rt, ar->tis, ar->m);
	return ret ? ret : blk_file_flush(s->file);
}

/* Undo the in-place table entries of a failed area (no table growth). */
static void rc_area_revert(struct qcow2 *s, const struct rc_area *ar)
{
	for (uint64_t j = 0; j < ar->m; j++)
		if (ar->tis[j] < s->rt_size &&
		    s->rt[ar->tis[j]] == (ar->a + j) << s->cluster_bits)
			s->rt[ar->tis[j]] = 0;
}

/* Create refcount blocks (and a bigger table if needed) so that every cluster
 * in [c0, c1) has one. The new metadata goes past all used space. */
static int rc_area_create(struct qcow2 *s, uint64_t c0, uint64_t c1)
{
	struct rc_area ar = { 0 };
	uint8_t *blocks = NULL;
	uint64_t *rt = NULL;
	int ret = alloc_init(s);

	if (ret == 0)
		ret = rc_area_plan(s, &ar, c0, c1);
	if (ret < 0)
		return ret;
	ar.tis = calloc(ar.m, sizeof(*ar.tis));
	blocks = calloc(ar.m, s->cluster_size);
	rt = ar.k ? calloc(ar.entries, sizeof(*rt)) : s->rt;
	ret = -ENOMEM;
	if (!ar.tis || !blocks || !rt)
		goto out;
	if (ar.k)
		memcpy(rt, s->rt, s->rt_size * sizeof(*rt));
	ret = rc_area_count(s, &ar, c0, c1, true) == ar.m ? 0 : -EIO;
	for (uint64_t j = 0; ret == 0 && j < ar.m; j++)
		rt[ar.tis[j]] = (ar.a + j) << s->cluster_bits;
	/* From here on the area counts as used even if we fail below. */
	s->end_cluster = ar.a + ar.m + ar.k;
	if (ret == 0)
		ret = rc_area_fill(s, &ar, blocks);
	if (ret == 0)
		ret = rc_area_commit(s, &ar, blocks, rt);
	if (ret < 0 && !ar.k)
		rc_area_revert(s, &ar);
out:
	if (ar.k && rt && rt != s->rt)
		free(rt);
	free(ar.tis);
	free(blocks);
	qcow2_rt_hi_update(s);
	return ret;
}

/* ---- refcount updates ---- */

static int rc_update_block(struct qcow2 *s, uint64_t c, uint64_t n, int64_t delta, uint64_t *done)
{
	uint64_t ti = c >> s->rb_bits;
	unsigned slot = 0;
	int ret = rb_get(s, ti, &slot);

	if (ret == -ENOENT)
		return qcow2_corrupt(s, "freeing cluster %" PRIu64 " that has no refcount block", c);
	if (ret < 0)
		return ret;
	for (uint64_t i = 0; i < n; i++, c++) {
		uint8_t *buf = (uint8_t *)s->rbc.ent[slot].buf;
		uint64_t idx = c & (s->rb_entries - 1);
		uint64_t rc = qcow2_rc_get(buf, idx, s->refcount_order), nrc;

		if (delta > 0 && rc > s->refcount_max - (uint64_t)delta) {
			log_error("%s: refcount overflow for cluster %" PRIu64
				  " (refcount %" PRIu64 ", maximum %" PRIu64 ")",
				  s->name, c, rc, s->refcount_max);
			return -ERANGE;
		}
		if (delta < 0 && rc < (uint64_t)-delta)
			return qcow2_corrupt(s, "refcount underflow for cluster %" PRIu64, c);
		nrc = rc + (uint64_t)delta;
		qcow2_rc_set(buf, idx, s->refcount_order, nrc);
		s->rbc.ent[slot].dirty = true;
		(*done)++;
		if (nrc == 0) {
			s->free_hint = MIN(s->free_hint, c);
			if (s->cbytes_off >> s->cluster_bits == c)
				s->cbytes_off = 0;
			qcow2_cache_drop(&s->l2c, c << s->cluster_bits);
		}
	}
	return 0;
}

static int rc_update_clusters(struct qcow2 *s, uint64_t c0, uint64_t c1, int64_t delta,
			      uint64_t *done)
{
	uint64_t c = c0;

	while (c < c1) {
		uint64_t end = MIN(c1, ((c >> s->rb_bits) + 1) << s->rb_bits);
		int ret = rc_update_block(s, c, end - c, delta, done);

		if (ret < 0)
			return ret;
		c = end;
	}
	return 0;
}

static int rc_ensure_blocks(struct qcow2 *s, uint64_t c0, uint64_t c1)
{
	for (uint64_t ti = c0 >> s->rb_bits; ti <= (c1 - 1) >> s->rb_bits; ti++)
		if (rc_missing(s, ti))
			return rc_area_create(s, c0, c1);
	return 0;
}

int qcow2_refcount_update(struct qcow2 *s, uint64_t off, uint64_t len, int64_t delta)
{
	uint64_t c0, c1, done = 0;
	int ret;

	if (len == 0 || delta == 0)
		return 0;
	c0 = off >> s->cluster_bits;
	c1 = ((off + len - 1) >> s->cluster_bits) + 1;
	if (delta > 0) {
		ret = rc_ensure_blocks(s, c0, c1);
		if (ret < 0)
			return ret;
	}
	ret = rc_update_clusters(s, c0, c1, delta, &done);
	if (ret < 0 && done > 0) {
		uint64_t undone = 0;

		(void)rc_update_clusters(s, c0, c0 + done, -delta, &undone);
	}
	return ret;
}

/* ---- allocation ---- */

/* The first run of n free clusters at or after the free hint. */
static int find_free_run(struct qcow2 *s, uint64_t n, uint64_t *start)
{
	uint64_t c = s->free_hint, run_start = c, run = 0;

	while (run < n) {
		uint64_t ti = c >> s->rb_bits, blk_end = (ti + 1) << s->rb_bits;
		unsigned slot = 0;
		int ret;

		if (c >= s->end_cluster)
			break;
		if (rc_missing(s, ti)) {
			if (run == 0)
				run_start = c;
			run += blk_end - c;
			c = blk_end;
			continue;
		}
		ret = rb_get(s, ti, &slot);
		if (ret < 0)
			return ret;
		for (; c < blk_end && run < n; c++) {
			if (qcow2_rc_get(s->rbc.ent[slot].buf, c & (s->rb_entries - 1),
					 s->refcount_order)) {
				run = 0;
				continue;
			}
			if (run++ == 0)
				run_start = c;
		}
	}
	if (run == 0)
		run_start = c;
	*start = run_start;
	return 0;
}

int qcow2_alloc_prepare(struct qcow2 *s)
{
	return alloc_init(s);
}

int qcow2_alloc_clusters(struct qcow2 *s, uint64_t n, uint64_t *off)
{
	uint64_t start = 0;
	int ret = alloc_init(s);

	if (ret == 0)
		ret = find_free_run(s, n, &start);
	if (ret < 0)
		return ret;
	if (start + n > (QCOW2_OFFSET_MASK >> s->cluster_bits)) {
		log_error("%s: the image file is full (host offsets beyond 64 PiB)", s->name);
		return -ENOSPC;
	}
	ret = qcow2_refcount_update(s, start << s->cluster_bits, n << s->cluster_bits, 1);
	if (ret < 0)
		return ret;
	if (start == s->free_hint)
		s->free_hint = start + n;
	s->end_cluster = MAX(s->end_cluster, start + n);
	*off = start << s->cluster_bits;
	return 0;
}

int qcow2_alloc_bytes(struct qcow2 *s, uint64_t size, uint64_t *off)
{
	uint64_t c;
	int ret;

	if (size == 0 || size > s->cluster_size)
		return -EINVAL;
	if (s->cbytes_off && s->cluster_size - qcow2_off_in_cluster(s, s->cbytes_off) >= size) {
		uint64_t rc;

		ret = qcow2_refcount_get(s, s->cbytes_off >> s->cluster_bits, &rc);
		if (ret < 0)
			return ret;
		if (rc > 0 && rc < s->refcount_max) {
			ret = qcow2_refcount_update(s, s->cbytes_off, 1, 1);
			if (ret < 0)
				return ret;
			*off = s->cbytes_off;
			s->cbytes_off += size;
			if (qcow2_aligned(s, s->cbytes_off))
				s->cbytes_off = 0;
			return 0;
		}
	}
	ret = qcow2_alloc_clusters(s, 1, &c);
	if (ret < 0)
		return ret;
	*off = c;
	s->cbytes_off = size < s->cluster_size ? c + size : 0;
	return 0;
}

/* ---- deferred frees ---- */

int qcow2_free_later(struct qcow2 *s, uint64_t off, uint64_t len)
{
	struct qcow2_range *last = s->npfree ? &s->pfree[s->npfree - 1] : NULL;

	if (len == 0)
		return 0;
	if (last && last->off + last->len == off && qcow2_aligned(s, off | len) &&
	    qcow2_aligned(s, last->off | last->len)) {
		last->len += len;
		return 0;
	}
	if (s->npfree == s->cpfree) {
		size_t ncap = s->cpfree ? s->cpfree * 2 : 64;
		struct qcow2_range *v = realloc(s->pfree, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->pfree = v;
		s->cpfree = ncap;
	}
	s->pfree[s->npfree].off = off;
	s->pfree[s->npfree].len = len;
	s->npfree++;
	return 0;
}

void qcow2_compressed_desc(const struct qcow2 *s, uint64_t l2e, uint64_t *off, uint64_t *nsect)
{
	unsigned x = 62 - (s->cluster_bits - 8);

	*off = l2e & ((1ULL << x) - 1);
	*nsect = ((l2e & ~QCOW2_OFLAG_COPIED & ~QCOW2_OFLAG_COMPRESSED) >> x) + 1;
}

int qcow2_free_l2e_later(struct qcow2 *s, uint64_t l2e)
{
	if (l2e & QCOW2_OFLAG_COMPRESSED) {
		uint64_t off, nsect;

		qcow2_compressed_desc(s, l2e, &off, &nsect);
		return qcow2_free_later(s, off & ~511ULL, nsect * 512);
	}
	if (l2e & QCOW2_OFFSET_MASK)
		return qcow2_free_later(s, l2e & QCOW2_OFFSET_MASK, s->cluster_size);
	return 0;
}

/* Give the host space of the clusters of [off, off+len) that are now free
 * back to the file system (best effort). */
static void punch_free(struct qcow2 *s, uint64_t off, uint64_t len)
{
	uint64_t c = off >> s->cluster_bits, c1 = ((off + len - 1) >> s->cluster_bits) + 1;
	uint64_t start = c, rc;

	if (!s->file->ops->punch)
		return;
	for (; c <= c1; c++) {
		if (c < c1 && qcow2_refcount_get(s, c, &rc) == 0 && rc == 0)
			continue;
		if (c > start)
			(void)blk_file_punch(s->file, start << s->cluster_bits,
					     (c - start) << s->cluster_bits);
		start = c + 1;
	}
}

int qcow2_free_apply(struct qcow2 *s)
{
	int ret = 0;

	for (size_t i = 0; i < s->npfree; i++) {
		int r = qcow2_refcount_update(s, s->pfree[i].off, s->pfree[i].len, -1);

		if (r < 0 && ret == 0)
			ret = r;
		if (r == 0)
			punch_free(s, s->pfree[i].off, s->pfree[i].len);
	}
	s->npfree = 0;
	if (ret == 0)
		ret = qcow2_rb_writeback(s);
	return ret;
}

/* ---- overlap checks ---- */

static bool ov(uint64_t a, uint64_t alen, uint64_t off, uint64_t len)
{
	return alen && a < off + len && off < a + alen;
}

static unsigned overlap_tables(struct qcow2 *s, uint64_t off, uint64_t len, unsigned ignore)
{
	if (!(ignore & QCOW2_OL_L2)) {
		for (uint32_t i = 0; i < s->l1_size; i++) {
			uint64_t l2 = s->l1[i] & QCOW2_OFFSET_MASK;

			if (l2 && ov(l2, s->cluster_size, off, len))
				return QCOW2_OL_L2;
		}
	}
	if (!(ignore & QCOW2_OL_RB)) {
		for (uint64_t i = 0; i < s->rt_hi; i++) {
			uint64_t rb = s->rt[i] & QCOW2_RTE_OFFSET_MASK;

			if (rb && ov(rb, s->cluster_size, off, len))
				return QCOW2_OL_RB;
		}
	}
	if (!(ignore & QCOW2_OL_SNAPL1)) {
		for (uint32_t i = 0; i < s->nb_snapshots && s->snaps; i++)
			if (ov(s->snaps[i].l1_offset, (uint64_t)s->snaps[i].l1_size * 8, off, len))
				return QCOW2_OL_SNAPL1;
	}
	return 0;
}

unsigned qcow2_overlap(struct qcow2 *s, uint64_t off, uint64_t len, unsigned ignore)
{
	if (len == 0)
		return 0;
	if (!(ignore & QCOW2_OL_HEADER) && ov(0, s->cluster_size, off, len))
		return QCOW2_OL_HEADER;
	if (!(ignore & QCOW2_OL_L1) && ov(s->l1_offset, (uint64_t)s->l1_size * 8, off, len))
		return QCOW2_OL_L1;
	if (!(ignore & QCOW2_OL_RT) &&
	    ov(s->rt_offset, (uint64_t)s->rt_clusters << s->cluster_bits, off, len))
		return QCOW2_OL_RT;
	if (!(ignore & QCOW2_OL_SNAPTAB) && s->nb_snapshots &&
	    ov(s->snapshots_offset, s->snap_table_len, off, len))
		return QCOW2_OL_SNAPTAB;
	return overlap_tables(s, off, len, ignore);
}

const char *qcow2_overlap_name(unsigned kind)
{
	switch (kind) {
	case QCOW2_OL_HEADER: return "the image header";
	case QCOW2_OL_L1: return "the active L1 table";
	case QCOW2_OL_L2: return "an active L2 table";
	case QCOW2_OL_RT: return "the refcount table";
	case QCOW2_OL_RB: return "a refcount block";
	case QCOW2_OL_SNAPTAB: return "the snapshot table";
	case QCOW2_OL_SNAPL1: return "a snapshot L1 table";
	default: return "metadata";
	}
}

int qcow2_overlap_guard(struct qcow2 *s, uint64_t off, uint64_t len, unsigned ignore)
{
	unsigned k = qcow2_overlap(s, off, len, ignore);

	if (!k)
		return 0;
	return qcow2_corrupt(s, "preventing a write of %" PRIu64 " bytes at 0x%" PRIx64
			     " over %s", len, off, qcow2_overlap_name(k));
}
