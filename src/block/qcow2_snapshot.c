/* qcow2_snapshot: internal snapshots of the qcow2 driver (the snapshot table:
 * read, validate, write; create, list, apply, delete) and the metadata
 * transaction they are built on. Every snapshot operation writes new copies
 * of the metadata it changes (refcount blocks, refcount table, L1 and L2
 * tables, snapshot table) past all used space and then switches the header
 * over in one write, so a crash at any point leaves either the old or the
 * new image, with leaked clusters at worst. The same transaction rebuilds a
 * broken refcount structure for check -r. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

#define QCOW2_SNAP_HDR 40u
#define QCOW2_SNAP_EXTRA_OURS 24u
#define QCOW2_TXN_MAX_MEM (1ULL << 30)

/* ---- snapshot table ---- */

void qcow2_snap_free(struct qcow2 *s)
{
	for (uint32_t i = 0; s->snaps && i < s->nb_snapshots; i++) {
		free(s->snaps[i].id);
		free(s->snaps[i].name);
		free(s->snaps[i].extra);
	}
	free(s->snaps);
	s->snaps = NULL;
}

static void snaps_free(struct qcow2_snap *v, uint32_t n)
{
	for (uint32_t i = 0; v && i < n; i++) {
		free(v[i].id);
		free(v[i].name);
		free(v[i].extra);
	}
	free(v);
}

static char *str_dup_n(const uint8_t *p, size_t n)
{
	char *r = malloc(n + 1);

	if (r) {
		memcpy(r, p, n);
		r[n] = 0;
	}
	return r;
}

static int snap_err(struct qcow2 *s, uint32_t i, const char *what)
{
	log_error("%s: snapshot table entry %u is invalid: %s", s->name, i, what);
	return -EINVAL;
}

/* The variable part (extra data, id, name) of entry i at *pos. */
static int snap_read_tail(struct qcow2 *s, struct qcow2_snap *sn, const uint8_t *h,
			  uint64_t *pos, uint32_t i)
{
	uint16_t idl = qcow2_rd16(h + 12), nl = qcow2_rd16(h + 14);
	uint64_t len = (uint64_t)sn->extra_size + idl + nl;
	uint8_t *buf = malloc(len ? len : 1);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = qcow2_pread(s, buf, len, s->snapshots_offset + *pos);
	if (ret == 0) {
		sn->extra = malloc(sn->extra_size ? sn->extra_size : 1);
		sn->id = str_dup_n(buf + sn->extra_size, idl);
		sn->name = str_dup_n(buf + sn->extra_size + idl, nl);
		if (!sn->extra || !sn->id || !sn->name)
			ret = -ENOMEM;
	}
	if (ret == 0) {
		memcpy(sn->extra, buf, sn->extra_size);
		if (sn->extra_size >= 8)
			sn->vm_state_size = qcow2_rd64(buf);
		if (sn->extra_size >= 16)
			sn->disk_size = qcow2_rd64(buf + 8);
	}
	free(buf);
	*pos = ALIGN_UP(*pos + len, 8);
	(void)i;
	return ret;
}

static int snap_check_l1(struct qcow2 *s, const struct qcow2_snap *sn, uint32_t i, uint64_t fsize)
{
	if ((uint64_t)sn->l1_size * 8 > QCOW2_MAX_L1_BYTES)
		return snap_err(s, i, "its L1 table is too large");
	if (sn->l1_size && (!qcow2_aligned(s, sn->l1_offset) || sn->l1_offset == 0))
		return snap_err(s, i, "its L1 table offset is not cluster aligned");
	if (sn->l1_size && (sn->l1_offset > fsize || fsize - sn->l1_offset < sn->l1_size * 8ULL))
		return snap_err(s, i, "its L1 table lies past the end of the file");
	if (sn->disk_size > BLK_MAX_SIZE)
		return snap_err(s, i, "its disk size is too large");
	return 0;
}

static int snap_read_one(struct qcow2 *s, struct qcow2_snap *sn, uint64_t *pos, uint32_t i,
			 uint64_t fsize)
{
	uint8_t h[QCOW2_SNAP_HDR];
	int ret;

	if (*pos + QCOW2_SNAP_HDR > QCOW2_MAX_SNAP_TABLE ||
	    s->snapshots_offset + *pos + QCOW2_SNAP_HDR > fsize)
		return snap_err(s, i, "the snapshot table extends past the end of the file");
	ret = qcow2_pread(s, h, sizeof(h), s->snapshots_offset + *pos);
	if (ret < 0)
		return ret;
	sn->l1_offset = qcow2_rd64(h);
	sn->l1_size = qcow2_rd32(h + 8);
	sn->date_sec = qcow2_rd32(h + 16);
	sn->date_nsec = qcow2_rd32(h + 20);
	sn->vm_clock_nsec = qcow2_rd64(h + 24);
	sn->vm_state_size = qcow2_rd32(h + 32);
	sn->extra_size = qcow2_rd32(h + 36);
	sn->disk_size = s->size;
	if (sn->extra_size > QCOW2_MAX_SNAP_EXTRA)
		return snap_err(s, i, "too much extra data");
	*pos += QCOW2_SNAP_HDR;
	if (*pos + sn->extra_size + qcow2_rd16(h + 12) + qcow2_rd16(h + 14) > QCOW2_MAX_SNAP_TABLE ||
	    s->snapshots_offset + *pos + sn->extra_size + qcow2_rd16(h + 12) +
	    qcow2_rd16(h + 14) > fsize)
		return snap_err(s, i, "the snapshot table extends past the end of the file");
	ret = snap_read_tail(s, sn, h, pos, i);
	return ret ? ret : snap_check_l1(s, sn, i, fsize);
}

int qcow2_snap_read(struct qcow2 *s, uint64_t fsize)
{
	uint64_t pos = 0;
	int ret = 0;

	s->snaps = NULL;
	s->snap_table_len = 0;
	if (s->nb_snapshots == 0)
		return 0;
	s->snaps = calloc(s->nb_snapshots, sizeof(*s->snaps));
	if (!s->snaps)
		return -ENOMEM;
	for (uint32_t i = 0; ret == 0 && i < s->nb_snapshots; i++)
		ret = snap_read_one(s, &s->snaps[i], &pos, i, fsize);
	s->snap_table_len = pos;
	return ret;
}

static uint64_t snap_entry_len(const struct qcow2_snap *sn)
{
	uint32_t extra = MAX(sn->extra_size, 16u);

	return ALIGN_UP(QCOW2_SNAP_HDR + extra + strlen(sn->id) + strlen(sn->name), 8);
}

static void snap_put(const struct qcow2_snap *sn, uint8_t *p)
{
	uint32_t extra = MAX(sn->extra_size, 16u);
	size_t idl = strlen(sn->id), nl = strlen(sn->name);

	qcow2_wr64(p, sn->l1_offset);
	qcow2_wr32(p + 8, sn->l1_size);
	qcow2_wr16(p + 12, (uint16_t)idl);
	qcow2_wr16(p + 14, (uint16_t)nl);
	qcow2_wr32(p + 16, sn->date_sec);
	qcow2_wr32(p + 20, sn->date_nsec);
	qcow2_wr64(p + 24, sn->vm_clock_nsec);
	qcow2_wr32(p + 32, (uint32_t)MIN(sn->vm_state_size, UINT32_MAX));
	qcow2_wr32(p + 36, extra);
	if (sn->extra_size)
		memcpy(p + QCOW2_SNAP_HDR, sn->extra, sn->extra_size);
	qcow2_wr64(p + QCOW2_SNAP_HDR, sn->vm_state_size);
	qcow2_wr64(p + QCOW2_SNAP_HDR + 8, sn->disk_size);
	memcpy(p + QCOW2_SNAP_HDR + extra, sn->id, idl);
	memcpy(p + QCOW2_SNAP_HDR + extra + idl, sn->name, nl);
}

/* ---- transaction ---- */

int qcow2_txn_begin(struct qcow2 *s, struct qcow2_txn *t, bool from_empty)
{
	int ret;

	memset(t, 0, sizeof(*t));
	t->s = s;
	t->from_empty = from_empty;
	ret = qcow2_meta_flush(s);
	if (ret == 0)
		ret = qcow2_alloc_prepare(s);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	t->next = s->end_cluster;
	return ret;
}

void qcow2_txn_free(struct qcow2_txn *t)
{
	for (uint64_t i = 0; t->rb && i < t->nidx; i++)
		free(t->rb[i]);
	free(t->rb);
	free(t->loc);
	memset(t, 0, sizeof(*t));
}

static int txn_grow(struct qcow2_txn *t, uint64_t ti)
{
	uint64_t n = MAX(ti + 1, t->nidx * 2);
	uint8_t **rb;
	uint64_t *loc;

	if (ti < t->nidx)
		return 0;
	if (ti >= QCOW2_MAX_RT_BYTES / 8) {
		log_error("%s: the refcount table would exceed 8 MiB", t->s->name);
		return -EFBIG;
	}
	rb = realloc(t->rb, n * sizeof(*rb));
	if (rb)
		t->rb = rb;
	loc = realloc(t->loc, n * sizeof(*loc));
	if (loc)
		t->loc = loc;
	if (!rb || !loc)
		return -ENOMEM;
	memset(t->rb + t->nidx, 0, (n - t->nidx) * sizeof(*rb));
	memset(t->loc + t->nidx, 0, (n - t->nidx) * sizeof(*loc));
	t->nidx = n;
	return 0;
}

/* The transaction's copy of refcount block ti. */
static int txn_rb(struct qcow2_txn *t, uint64_t ti, uint8_t **out)
{
	struct qcow2 *s = t->s;
	int ret = txn_grow(t, ti);

	if (ret < 0)
		return ret;
	if (!t->rb[ti]) {
		if (t->mem + s->cluster_size > QCOW2_TXN_MAX_MEM) {
			log_error("%s: too much refcount metadata for one update", s->name);
			return -ENOMEM;
		}
		t->rb[ti] = calloc(1, s->cluster_size);
		if (!t->rb[ti])
			return -ENOMEM;
		t->mem += s->cluster_size;
		if (!t->from_empty) {
			ret = qcow2_rb_read(s, ti, t->rb[ti]);
			if (ret < 0)
				return ret;
		}
	}
	*out = t->rb[ti];
	return 0;
}

int qcow2_txn_rc_get(struct qcow2_txn *t, uint64_t cluster, uint64_t *rc)
{
	uint64_t ti = cluster >> t->s->rb_bits;

	if (ti < t->nidx && t->rb[ti]) {
		*rc = qcow2_rc_get(t->rb[ti], cluster & (t->s->rb_entries - 1), t->s->refcount_order);
		return 0;
	}
	*rc = 0;
	return t->from_empty ? 0 : qcow2_refcount_get(t->s, cluster, rc);
}

int qcow2_txn_rc_add(struct qcow2_txn *t, uint64_t off, uint64_t len, int64_t delta)
{
	struct qcow2 *s = t->s;
	uint64_t c0 = off >> s->cluster_bits, c1 = len ? ((off + len - 1) >> s->cluster_bits) + 1 : c0;

	for (uint64_t c = c0; c < c1; c++) {
		uint64_t idx = c & (s->rb_entries - 1), rc;
		uint8_t *rb;
		int ret = txn_rb(t, c >> s->rb_bits, &rb);

		if (ret < 0)
			return ret;
		rc = qcow2_rc_get(rb, idx, s->refcount_order);
		if (delta > 0 && rc > s->refcount_max - (uint64_t)delta) {
			log_error("%s: refcount overflow for cluster %" PRIu64 " (refcount width %u "
				  "bits)", s->name, c, 1u << s->refcount_order);
			return -ERANGE;
		}
		if (delta < 0 && rc < (uint64_t)-delta)
			return qcow2_corrupt(s, "refcount underflow for cluster %" PRIu64, c);
		qcow2_rc_set(rb, idx, s->refcount_order, rc + (uint64_t)delta);
	}
	return 0;
}

int qcow2_txn_alloc(struct qcow2_txn *t, uint64_t n, uint64_t *off)
{
	struct qcow2 *s = t->s;

	if (t->next + n > (QCOW2_OFFSET_MASK >> s->cluster_bits))
		return -ENOSPC;
	*off = t->next << s->cluster_bits;
	t->next += n;
	return qcow2_txn_rc_add(t, *off, n << s->cluster_bits, 1);
}

/* A new place for each changed block that has none; the old one is freed. */
static int txn_place_blocks(struct qcow2_txn *t, bool *progress)
{
	struct qcow2 *s = t->s;
	uint64_t off;
	int ret = 0;

	for (uint64_t ti = 0; ret == 0 && ti < t->nidx; ti++) {
		if (!t->rb[ti] || t->loc[ti])
			continue;
		ret = qcow2_txn_alloc(t, 1, &off);
		t->loc[ti] = off >> s->cluster_bits;
		if (ret == 0 && !t->from_empty && ti < s->rt_size &&
		    (s->rt[ti] & QCOW2_RTE_OFFSET_MASK))
			ret = qcow2_txn_rc_add(t, s->rt[ti] & QCOW2_RTE_OFFSET_MASK,
					       s->cluster_size, -1);
		*progress = true;
	}
	return ret;
}

/* A new refcount table big enough for every block and the area itself. */
static int txn_place_table(struct qcow2_txn *t, bool *progress)
{
	struct qcow2 *s = t->s;
	uint64_t per = s->cluster_size / 8, base = t->from_empty ? 1 : s->rt_size;
	uint64_t need = ((t->next - 1) >> s->rb_bits) + 1, off = 0;
	int ret = 0;

	for (uint64_t ti = t->nidx; ti-- > 0;)
		if (t->rb[ti]) {
			need = MAX(need, ti + 1);
			break;
		}
	if (t->rt_off && t->rt_n >= MAX(need, base))
		return 0;
	if (t->rt_off)
		ret = qcow2_txn_rc_add(t, t->rt_off << s->cluster_bits, t->rt_n * 8, -1);
	/* room to grow only when growing */
	t->rt_n = need > base ? ALIGN_UP(need + need / 8 + 1, per) : ALIGN_UP(base, per);
	if (ret == 0)
		ret = qcow2_txn_alloc(t, t->rt_n / per, &off);
	t->rt_off = off >> s->cluster_bits;
	*progress = true;
	return ret;
}

/* Give every changed block a place, and size the new table, until stable. */
static int txn_place(struct qcow2_txn *t)
{
	for (int iter = 0; iter < 1000; iter++) {
		bool progress = false;
		int ret = txn_place_blocks(t, &progress);

		if (ret == 0)
			ret = txn_place_table(t, &progress);
		if (ret < 0)
			return ret;
		if (!progress)
			return 0;
	}
	return -EIO;
}

static int txn_write(struct qcow2_txn *t)
{
	struct qcow2 *s = t->s;
	uint64_t *rt = calloc(t->rt_n, 8);
	int ret = rt ? 0 : -ENOMEM;

	for (uint64_t ti = 0; ret == 0 && ti < t->nidx; ti++)
		if (t->rb[ti])
			ret = qcow2_pwrite(s, t->rb[ti], s->cluster_size,
					      t->loc[ti] << s->cluster_bits);
	for (uint64_t ti = 0; ret == 0 && ti < t->rt_n; ti++) {
		uint64_t e = 0;

		if (ti < t->nidx && t->rb[ti])
			e = t->loc[ti] << s->cluster_bits;
		else if (!t->from_empty && ti < s->rt_size)
			e = s->rt[ti];
		rt[ti] = __builtin_bswap64(e);
	}
	if (ret == 0)
		ret = qcow2_pwrite(s, rt, t->rt_n * 8, t->rt_off << s->cluster_bits);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	for (uint64_t ti = 0; ret == 0 && ti < t->rt_n; ti++)
		rt[ti] = __builtin_bswap64(rt[ti]);
	if (ret == 0) {
		free(s->rt);
		s->rt = rt;
		rt = NULL;
	}
	free(rt);
	return ret;
}

int qcow2_txn_commit(struct qcow2_txn *t, const struct qcow2_txn_hdr *h)
{
	struct qcow2 *s = t->s;
	uint64_t per = s->cluster_size / 8;
	uint8_t hdr[48] = { 0 };
	int ret = 0;

	if (!t->from_empty)
		ret = qcow2_txn_rc_add(t, s->rt_offset, (uint64_t)s->rt_clusters << s->cluster_bits,
				       -1);
	if (ret == 0)
		ret = txn_place(t);
	if (ret == 0)
		ret = txn_write(t);
	if (ret < 0)
		return ret;
	s->rt_size = t->rt_n;
	qcow2_rt_hi_update(s);
	s->rt_offset = t->rt_off << s->cluster_bits;
	s->rt_clusters = (uint32_t)(t->rt_n / per);
	qcow2_rb_forget(s);
	qcow2_wr64(hdr, h->size);
	qcow2_wr32(hdr + 12, h->l1_size);
	qcow2_wr64(hdr + 16, h->l1_offset);
	qcow2_wr64(hdr + 24, s->rt_offset);
	qcow2_wr32(hdr + 32, s->rt_clusters);
	qcow2_wr32(hdr + 36, h->nb_snapshots);
	qcow2_wr64(hdr + 40, h->snapshots_offset);
	ret = qcow2_pwrite(s, hdr, sizeof(hdr), 24);
	if (ret == 0)
		ret = blk_file_flush(s->file);
	if (ret < 0) {
		/* memory and file may now disagree: no more writes */
		log_error("%s: cannot switch the qcow2 header to the new metadata: %s", s->name,
			  strerror(-ret));
		s->corrupt_seen = true;
	}
	s->end_cluster = MAX(s->end_cluster, t->next);
	s->free_hint = 0;
	s->cbytes_off = 0;
	return ret;
}

/* ---- building blocks of the snapshot operations ---- */

static int read_l1(struct qcow2 *s, uint64_t off, uint32_t n, uint64_t **out)
{
	uint64_t *t = calloc(n ? n : 1, 8);
	int ret = t ? 0 : -ENOMEM;

	if (ret == 0 && n)
		ret = qcow2_pread(s, t, (size_t)n * 8, off);
	for (uint32_t i = 0; ret == 0 && i < n; i++)
		t[i] = __builtin_bswap64(t[i]);
	if (ret < 0) {
		free(t);
		return ret;
	}
	*out = t;
	return 0;
}

/* The host range an L2 entry holds a reference to, len 0 if none. */
static int l2e_range(struct qcow2 *s, uint64_t e, uint64_t *off, uint64_t *len)
{
	enum qcow2_ctype t;
	uint64_t nsect;
	int ret = qcow2_l2e_type(s, e, 0, &t);

	*len = 0;
	if (ret < 0)
		return ret;
	switch (t) {
	case QCOW2_CT_COMPRESSED:
		qcow2_compressed_desc(s, e, off, &nsect);
		*off &= ~511ULL;
		*len = nsect * 512;
		break;
	case QCOW2_CT_NORMAL:
	case QCOW2_CT_ZERO_ALLOC:
		*off = e & QCOW2_OFFSET_MASK;
		*len = s->cluster_size;
		break;
	case QCOW2_CT_UNALLOC:
	case QCOW2_CT_ZERO_PLAIN:
		break;
	}
	return 0;
}

/* delta for the L2 table of l2o (if table) and every cluster it maps. */
static int txn_l2_refs(struct qcow2_txn *t, uint64_t l2o, int64_t delta, bool table)
{
	struct qcow2 *s = t->s;
	uint64_t *tab, *copy = malloc(s->cluster_size);
	int ret = copy ? qcow2_l2_get(s, l2o, &tab) : -ENOMEM;

	if (ret == 0)
		memcpy(copy, tab, s->cluster_size);
	if (ret == 0 && table)
		ret = qcow2_txn_rc_add(t, l2o, s->cluster_size, delta);
	for (uint64_t i = 0; ret == 0 && i < s->l2_entries; i++) {
		uint64_t off, len;

		ret = l2e_range(s, __builtin_bswap64(copy[i]), &off, &len);
		if (ret == 0 && len)
			ret = qcow2_txn_rc_add(t, off, len, delta);
	}
	free(copy);
	return ret;
}

static int l1e_l2(struct qcow2 *s, uint64_t e, uint64_t *l2o)
{
	*l2o = e & QCOW2_OFFSET_MASK;
	if (!qcow2_aligned(s, *l2o))
		return qcow2_corrupt(s, "L2 table offset 0x%" PRIx64 " unaligned", *l2o);
	return 0;
}

/* Remove one L1 table's references (path counting: its L2 tables and every
 * cluster they map). */
static int txn_drop_l1(struct qcow2_txn *t, const uint64_t *l1, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t l2o;
		int ret = l1e_l2(t->s, l1[i], &l2o);

		if (ret == 0 && l2o)
			ret = txn_l2_refs(t, l2o, -1, true);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* A new active copy of the L2 table l2o with no COPIED flags (everything it
 * maps becomes shared); *nw is the copy's offset. */
static int txn_copy_l2(struct qcow2_txn *t, uint64_t l2o, uint64_t *nw)
{
	struct qcow2 *s = t->s;
	uint64_t *tab, *copy = malloc(s->cluster_size);
	int ret = copy ? qcow2_l2_get(s, l2o, &tab) : -ENOMEM;

	if (ret == 0) {
		memcpy(copy, tab, s->cluster_size);
		for (uint64_t i = 0; i < s->l2_entries; i++)
			copy[i] &= ~__builtin_bswap64(QCOW2_OFLAG_COPIED);
		ret = txn_l2_refs(t, l2o, 1, false);
	}
	if (ret == 0)
		ret = qcow2_txn_alloc(t, 1, nw);
	if (ret == 0)
		ret = qcow2_pwrite(s, copy, s->cluster_size, *nw);
	free(copy);
	return ret;
}

/* New active L1 of n entries pointing at fresh copies of src's L2 tables. */
static int txn_share_l1(struct qcow2_txn *t, const uint64_t *src, uint32_t nsrc, uint64_t *dst)
{
	for (uint32_t i = 0; i < nsrc; i++) {
		uint64_t l2o, nw;
		int ret = l1e_l2(t->s, src[i], &l2o);

		if (ret == 0 && l2o) {
			ret = txn_copy_l2(t, l2o, &nw);
			dst[i] = nw | QCOW2_OFLAG_COPIED;
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int txn_write_l1(struct qcow2_txn *t, const uint64_t *l1, uint32_t n, uint64_t *off)
{
	struct qcow2 *s = t->s;
	uint64_t *be, bytes = (uint64_t)n * 8;
	int ret;

	*off = 0;
	if (n == 0)
		return 0;
	be = calloc(1, ALIGN_UP(bytes, s->cluster_size));
	if (!be)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		be[i] = __builtin_bswap64(l1[i]);
	ret = qcow2_txn_alloc(t, ALIGN_UP(bytes, s->cluster_size) >> s->cluster_bits, off);
	if (ret == 0)
		ret = qcow2_pwrite(s, be, bytes, *off);
	free(be);
	return ret;
}

/* Write snapshot table v[0..n) into the area; drop the old table. */
static int txn_write_snaps(struct qcow2_txn *t, const struct qcow2_snap *v, uint32_t n,
			   uint64_t *off, uint64_t *len)
{
	struct qcow2 *s = t->s;
	uint64_t total = 0, pos = 0;
	uint8_t *buf;
	int ret = 0;

	for (uint32_t i = 0; i < n; i++)
		total += snap_entry_len(&v[i]);
	if (total > QCOW2_MAX_SNAP_TABLE)
		return -EFBIG;
	*off = 0;
	*len = total;
	if (s->nb_snapshots)
		ret = qcow2_txn_rc_add(t, s->snapshots_offset, s->snap_table_len, -1);
	if (ret < 0 || n == 0)
		return ret;
	buf = calloc(1, total);
	if (!buf)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		snap_put(&v[i], buf + pos);
		pos += snap_entry_len(&v[i]);
	}
	ret = qcow2_txn_alloc(t, ALIGN_UP(total, s->cluster_size) >> s->cluster_bits, off);
	if (ret == 0)
		ret = qcow2_pwrite(s, buf, total, *off);
	free(buf);
	return ret;
}

struct snap_change {
	uint64_t *l1;              /* new active L1 */
	uint32_t l1_size;
	uint64_t size;             /* new virtual size */
	struct qcow2_snap *snaps;  /* new snapshot list (owned) */
	uint32_t nb;
};

/* Write the new L1 and snapshot table, commit, and switch s over. */
static int snap_finish(struct qcow2_txn *t, struct snap_change *c, bool drop_active_l1)
{
	struct qcow2 *s = t->s;
	struct qcow2_txn_hdr h = { .size = c->size, .l1_size = c->l1_size, .nb_snapshots = c->nb };
	uint64_t tab_len = 0;
	int ret = 0;

	if (drop_active_l1 && s->l1_size)
		ret = qcow2_txn_rc_add(t, s->l1_offset, (uint64_t)s->l1_size * 8, -1);
	if (ret == 0)
		ret = txn_write_l1(t, c->l1, c->l1_size, &h.l1_offset);
	if (ret == 0)
		ret = txn_write_snaps(t, c->snaps, c->nb, &h.snapshots_offset, &tab_len);
	if (ret == 0)
		ret = qcow2_txn_commit(t, &h);
	if (ret < 0)
		return ret;
	free(s->l1);
	s->l1 = c->l1;
	c->l1 = NULL;
	s->l1_size = c->l1_size;
	s->l1_offset = h.l1_offset;
	s->l1_dirty = false;
	qcow2_snap_free(s);
	s->snaps = c->snaps;
	c->snaps = NULL;
	s->nb_snapshots = c->nb;
	s->snapshots_offset = h.snapshots_offset;
	s->snap_table_len = tab_len;
	s->size = c->size;
	s->b->size = c->size;
	s->dbuf_entry = 0;
	qcow2_cache_reset(&s->l2c);
	return 0;
}

static int snap_find(struct qcow2 *s, const char *id_or_name)
{
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		if (strcmp(s->snaps[i].id, id_or_name) == 0)
			return (int)i;
	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		if (strcmp(s->snaps[i].name, id_or_name) == 0)
			return (int)i;
	log_error("%s: snapshot '%s' not found", s->name, id_or_name);
	return -ENOENT;
}

/* A copy of the snapshot list with room for one more entry. */
static struct qcow2_snap *snaps_copy(struct qcow2 *s, uint32_t skip)
{
	struct qcow2_snap *v = calloc(s->nb_snapshots + 1, sizeof(*v));
	uint32_t k = 0;

	for (uint32_t i = 0; v && i < s->nb_snapshots; i++) {
		const struct qcow2_snap *o = &s->snaps[i];

		if (i == skip)
			continue;
		v[k] = *o;
		v[k].id = strdup(o->id);
		v[k].name = strdup(o->name);
		v[k].extra = malloc(o->extra_size ? o->extra_size : 1);
		if (!v[k].id || !v[k].name || !v[k].extra) {
			snaps_free(v, k + 1);
			return NULL;
		}
		memcpy(v[k].extra, o->extra, o->extra_size);
		k++;
	}
	return v;
}

/* ---- create ---- */

static int snap_new_entry(struct qcow2 *s, struct qcow2_snap *sn, const char *name)
{
	unsigned long max_id = 0;
	struct timespec ts;
	char id[24];

	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		unsigned long v = strtoul(s->snaps[i].id, NULL, 10);

		max_id = MAX(max_id, v);
	}
	snprintf(id, sizeof(id), "%lu", max_id + 1);
	clock_gettime(CLOCK_REALTIME, &ts);
	memset(sn, 0, sizeof(*sn));
	sn->l1_offset = s->l1_offset;
	sn->l1_size = s->l1_size;
	sn->id = strdup(id);
	sn->name = strdup(name);
	sn->date_sec = (uint32_t)ts.tv_sec;
	sn->date_nsec = (uint32_t)ts.tv_nsec;
	sn->disk_size = s->size;
	sn->extra_size = QCOW2_SNAP_EXTRA_OURS;
	sn->extra = calloc(1, QCOW2_SNAP_EXTRA_OURS);
	return (sn->id && sn->name && sn->extra) ? 0 : -ENOMEM;
}

static int snap_check_name(struct qcow2 *s, const char *name)
{
	if (!name || !*name || strlen(name) > 0xffff) {
		log_error("%s: invalid snapshot name", s->name);
		return -EINVAL;
	}
	if (s->nb_snapshots >= QCOW2_MAX_SNAPSHOTS) {
		log_error("%s: too many snapshots", s->name);
		return -EFBIG;
	}
	return 0;
}

/* The snapshot keeps the current L1 table; the active image gets a new L1
 * and copies of every L2 table, everything they map becoming shared. */
int qcow2_snapshot_create(struct blk *b, const char *name)
{
	struct qcow2 *s = blk_state(b);
	struct snap_change c = { .l1_size = s->l1_size, .size = s->size, .nb = s->nb_snapshots + 1 };
	struct qcow2_txn t;
	int ret = qcow2_write_check(s);

	if (ret == 0)
		ret = snap_check_name(s, name);
	if (ret < 0)
		return ret;
	ret = qcow2_txn_begin(s, &t, false);
	c.l1 = calloc(s->l1_size ? s->l1_size : 1, 8);
	c.snaps = snaps_copy(s, UINT32_MAX);
	if (ret == 0 && (!c.l1 || !c.snaps))
		ret = -ENOMEM;
	if (ret == 0)
		ret = snap_new_entry(s, &c.snaps[s->nb_snapshots], name);
	if (ret == 0)
		ret = txn_share_l1(&t, s->l1, s->l1_size, c.l1);
	if (ret == 0)
		ret = snap_finish(&t, &c, false);
	qcow2_txn_free(&t);
	free(c.l1);
	snaps_free(c.snaps, s->nb_snapshots + (ret < 0 ? 1 : 0));
	return ret;
}

/* ---- apply ---- */

int qcow2_snapshot_apply(struct blk *b, const char *id_or_name)
{
	struct qcow2 *s = blk_state(b);
	struct snap_change c = { 0 };
	uint64_t *snl1 = NULL;
	struct qcow2_snap *sn;
	struct qcow2_txn t;
	int ret = qcow2_write_check(s), i;

	if (ret < 0)
		return ret;
	i = snap_find(s, id_or_name);
	if (i < 0)
		return i;
	sn = &s->snaps[i];
	c.size = sn->disk_size;
	c.l1_size = (uint32_t)MAX(sn->l1_size, qcow2_l1_entries_for(c.size, s->cluster_bits));
	c.nb = s->nb_snapshots;
	ret = qcow2_txn_begin(s, &t, false);
	c.l1 = calloc(c.l1_size ? c.l1_size : 1, 8);
	c.snaps = snaps_copy(s, UINT32_MAX);
	if (ret == 0 && (!c.l1 || !c.snaps))
		ret = -ENOMEM;
	if (ret == 0)
		ret = read_l1(s, sn->l1_offset, sn->l1_size, &snl1);
	/* drop first: refcounts never exceed their final values */
	if (ret == 0)
		ret = txn_drop_l1(&t, s->l1, s->l1_size);
	if (ret == 0)
		ret = txn_share_l1(&t, snl1, sn->l1_size, c.l1);
	if (ret == 0)
		ret = snap_finish(&t, &c, true);
	qcow2_txn_free(&t);
	free(snl1);
	free(c.l1);
	snaps_free(c.snaps, ret < 0 ? s->nb_snapshots : 0);
	return ret;
}

/* ---- delete ---- */

/* After the deletion the active L2 table l2o may hold the only reference
 * to itself and its clusters: give it (a copy with) exact COPIED flags. */
static int txn_fix_l2(struct qcow2_txn *t, uint64_t l2o, uint64_t *l1e)
{
	struct qcow2 *s = t->s;
	uint64_t *tab, *copy = malloc(s->cluster_size), rc, nw;
	bool changed = false;
	int ret = copy ? qcow2_txn_rc_get(t, l2o >> s->cluster_bits, &rc) : -ENOMEM;

	if (ret == 0 && rc == 1)
		ret = qcow2_l2_get(s, l2o, &tab);
	if (ret < 0 || rc != 1) {
		*l1e = l2o;
		free(copy);
		return ret;
	}
	memcpy(copy, tab, s->cluster_size);
	for (uint64_t i = 0; ret == 0 && i < s->l2_entries; i++) {
		uint64_t e = __builtin_bswap64(copy[i]), dr, want;
		enum qcow2_ctype ct;

		ret = qcow2_l2e_type(s, e, 0, &ct);
		if (ret < 0 || (ct != QCOW2_CT_NORMAL && ct != QCOW2_CT_ZERO_ALLOC))
			continue;
		ret = qcow2_txn_rc_get(t, (e & QCOW2_OFFSET_MASK) >> s->cluster_bits, &dr);
		want = dr == 1 ? (e | QCOW2_OFLAG_COPIED) : (e & ~QCOW2_OFLAG_COPIED);
		changed |= want != e;
		copy[i] = __builtin_bswap64(want);
	}
	*l1e = l2o | QCOW2_OFLAG_COPIED;
	if (ret == 0 && changed) {
		ret = qcow2_txn_alloc(t, 1, &nw);
		if (ret == 0)
			ret = qcow2_pwrite(s, copy, s->cluster_size, nw);
		if (ret == 0)
			ret = qcow2_txn_rc_add(t, l2o, s->cluster_size, -1);
		*l1e = nw | QCOW2_OFLAG_COPIED;
	}
	free(copy);
	return ret;
}

int qcow2_snapshot_delete(struct blk *b, const char *id_or_name)
{
	struct qcow2 *s = blk_state(b);
	struct snap_change c = { .l1_size = s->l1_size, .size = s->size };
	uint64_t *snl1 = NULL;
	struct qcow2_txn t;
	int ret = qcow2_write_check(s), i;

	if (ret < 0)
		return ret;
	i = snap_find(s, id_or_name);
	if (i < 0)
		return i;
	c.nb = s->nb_snapshots - 1;
	ret = qcow2_txn_begin(s, &t, false);
	c.l1 = calloc(s->l1_size ? s->l1_size : 1, 8);
	c.snaps = snaps_copy(s, (uint32_t)i);
	if (ret == 0 && (!c.l1 || !c.snaps))
		ret = -ENOMEM;
	if (ret == 0)
		ret = read_l1(s, s->snaps[i].l1_offset, s->snaps[i].l1_size, &snl1);
	if (ret == 0)
		ret = txn_drop_l1(&t, snl1, s->snaps[i].l1_size);
	if (ret == 0 && s->snaps[i].l1_size)
		ret = qcow2_txn_rc_add(&t, s->snaps[i].l1_offset, s->snaps[i].l1_size * 8ULL, -1);
	for (uint32_t k = 0; ret == 0 && k < s->l1_size; k++) {
		uint64_t l2o;

		ret = l1e_l2(s, s->l1[k], &l2o);
		if (ret == 0 && l2o)
			ret = txn_fix_l2(&t, l2o, &c.l1[k]);
	}
	if (ret == 0)
		ret = snap_finish(&t, &c, true);
	qcow2_txn_free(&t);
	free(snl1);
	free(c.l1);
	snaps_free(c.snaps, ret < 0 ? s->nb_snapshots - 1 : 0);
	return ret;
}

/* ---- list ---- */

int qcow2_snapshot_list(struct blk *b, struct blk_snapshot **list, size_t *n)
{
	struct qcow2 *s = blk_state(b);
	struct blk_snapshot *v = calloc(s->nb_snapshots ? s->nb_snapshots : 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		const struct qcow2_snap *sn = &s->snaps[i];

		snprintf(v[i].id, sizeof(v[i].id), "%s", sn->id);
		snprintf(v[i].name, sizeof(v[i].name), "%s", sn->name);
		v[i].vm_state_size = sn->vm_state_size;
		v[i].date_sec = sn->date_sec;
		v[i].date_nsec = sn->date_nsec;
		v[i].vm_clock_nsec = sn->vm_clock_nsec;
		v[i].disk_size = sn->disk_size;
	}
	*list = v;
	*n = s->nb_snapshots;
	return 0;
}
