/* qcow2_check: consistency check and repair of a qcow2 image (what
 * `qemu-img check` does): count the references to every host cluster from
 * the header, L1/L2 tables of the active image and of each snapshot, the
 * snapshot table, the refcount structure and persistent bitmaps; compare
 * them with the stored refcounts (errors and leaks), check the COPIED flags,
 * entry alignment and reserved bits; repair leaks and errors per cluster, or
 * rebuild the whole refcount structure when it is itself broken; fill in
 * qemu-img check's statistics. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block/qcow2.h"
#include "common/log.h"
#include "common/util.h"

#define CHK_MAX_MSGS 100u
#define CHK_MAX_CLUSTERS (1ULL << 30)
#define CHK_REF_MAX 0xffffu

struct chk {
	struct qcow2 *s;
	struct blk_check *res;
	uint16_t *refs;          /* counted references, saturating */
	uint64_t nrefs;          /* clusters of the file */
	uint64_t next_contig;    /* fragmentation statistics */
	unsigned fix;
	unsigned nmsg;
	bool rebuild;            /* the refcount structure is broken */
	bool no_rc_structs;      /* counting for a rebuild */
};

static void chk_msg(struct chk *c, bool error, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void chk_msg(struct chk *c, bool error, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (c->nmsg++ >= CHK_MAX_MSGS) {
		if (c->nmsg == CHK_MAX_MSGS + 1)
			log_error("%s: further check messages suppressed", c->s->name);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (error)
		log_error("%s: %s", c->s->name, msg);
	else
		log_warn("%s: %s", c->s->name, msg);
}

/* One reference to every cluster touched by [off, off+len). */
static void chk_count(struct chk *c, uint64_t off, uint64_t len, const char *what)
{
	struct qcow2 *s = c->s;
	uint64_t c0, c1;

	if (len == 0)
		return;
	c0 = off >> s->cluster_bits;
	c1 = ((off + len - 1) >> s->cluster_bits) + 1;
	if (c1 > c->nrefs || c1 < c0) {
		chk_msg(c, true, "ERROR %s at 0x%" PRIx64 " lies past the end of the file",
			what, off);
		c->res->corruptions++;
		c1 = MIN(c1, c->nrefs);
	}
	for (uint64_t i = c0; i < c1; i++)
		if (c->refs[i] < CHK_REF_MAX)
			c->refs[i]++;
}

static void chk_stats(struct chk *c, uint64_t host, bool compressed)
{
	c->res->allocated_clusters++;
	if (compressed) {
		c->res->compressed_clusters++;
		c->res->fragmented_clusters++;
		return;
	}
	if (c->next_contig && host != c->next_contig)
		c->res->fragmented_clusters++;
	c->next_contig = host + c->s->cluster_size;
}

static void chk_l2_entry(struct chk *c, uint64_t e, bool active)
{
	struct qcow2 *s = c->s;
	uint64_t host = e & QCOW2_OFFSET_MASK, off, nsect;

	if (e & QCOW2_OFLAG_COMPRESSED) {
		qcow2_compressed_desc(s, e, &off, &nsect);
		if (e & QCOW2_OFLAG_COPIED) {
			chk_msg(c, true, "ERROR compressed cluster at 0x%" PRIx64 " has COPIED set", off);
			c->res->corruptions++;
		}
		chk_count(c, off & ~511ULL, nsect * 512, "compressed cluster");
		if (active)
			chk_stats(c, 0, true);
		return;
	}
	if (e & QCOW2_L2E_RESERVED) {
		chk_msg(c, true, "ERROR L2 entry 0x%" PRIx64 " has reserved bits set", e);
		c->res->corruptions++;
	}
	if ((e & QCOW2_OFLAG_ZERO) && s->version < 3) {
		chk_msg(c, true, "ERROR zero cluster entry 0x%" PRIx64 " in a version 2 image", e);
		c->res->corruptions++;
	}
	if (!host)
		return;
	if (!qcow2_aligned(s, host)) {
		chk_msg(c, true, "ERROR offset=0x%" PRIx64 ": cluster is not properly aligned; "
			"L2 entry corrupted", host);
		c->res->corruptions++;
		return;
	}
	chk_count(c, host, s->cluster_size, "data cluster");
	if (active)
		chk_stats(c, host, false);
}

static int chk_l1(struct chk *c, const uint64_t *l1, uint32_t n, bool active)
{
	struct qcow2 *s = c->s;
	uint64_t *tab = malloc(s->cluster_size);

	if (!tab)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t l2o = l1[i] & QCOW2_OFFSET_MASK;

		if (l1[i] & QCOW2_L1E_RESERVED) {
			chk_msg(c, true, "ERROR L1 entry 0x%" PRIx64 " has reserved bits set", l1[i]);
			c->res->corruptions++;
		}
		if (!l2o)
			continue;
		if (!qcow2_aligned(s, l2o)) {
			chk_msg(c, true, "ERROR l2_offset=0x%" PRIx64 ": table is not cluster "
				"aligned; L1 entry corrupted", l2o);
			c->res->corruptions++;
			continue;
		}
		chk_count(c, l2o, s->cluster_size, "L2 table");
		if ((l2o >> s->cluster_bits) >= c->nrefs)
			continue;
		if (qcow2_pread(s, tab, s->cluster_size, l2o) < 0) {
			c->res->check_errors++;
			continue;
		}
		for (uint64_t j = 0; j < s->l2_entries; j++)
			chk_l2_entry(c, __builtin_bswap64(tab[j]), active);
	}
	free(tab);
	return 0;
}

static int chk_snapshots(struct chk *c)
{
	struct qcow2 *s = c->s;

	chk_count(c, s->snapshots_offset, s->nb_snapshots ? s->snap_table_len : 0, "snapshot table");
	for (uint32_t i = 0; i < s->nb_snapshots; i++) {
		const struct qcow2_snap *sn = &s->snaps[i];
		uint64_t *l1 = calloc(sn->l1_size ? sn->l1_size : 1, 8);
		int ret = l1 ? 0 : -ENOMEM;

		if (ret == 0 && sn->l1_size)
			ret = qcow2_pread(s, l1, sn->l1_size * 8ULL, sn->l1_offset);
		for (uint32_t k = 0; ret == 0 && k < sn->l1_size; k++)
			l1[k] = __builtin_bswap64(l1[k]);
		chk_count(c, sn->l1_offset, sn->l1_size * 8ULL, "snapshot L1 table");
		if (ret == 0)
			ret = chk_l1(c, l1, sn->l1_size, false);
		free(l1);
		if (ret == -ENOMEM)
			return ret;
		if (ret < 0)
			c->res->check_errors++;
	}
	return 0;
}

/* ---- persistent bitmaps (counted only while the extension is valid) ---- */

static void chk_bitmap_table(struct chk *c, uint64_t off, uint32_t n)
{
	struct qcow2 *s = c->s;
	uint64_t *t;

	if (n == 0 || n > (64u << 20) / 8 || !qcow2_aligned(s, off))
		return;
	chk_count(c, off, n * 8ULL, "bitmap table");
	t = malloc(n * 8ULL);
	if (!t || qcow2_pread(s, t, n * 8ULL, off) < 0) {
		free(t);
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint64_t e = __builtin_bswap64(t[i]) & QCOW2_OFFSET_MASK;

		if (e)
			chk_count(c, e, s->cluster_size, "bitmap data");
	}
	free(t);
}

static void chk_bitmaps(struct chk *c)
{
	struct qcow2 *s = c->s;
	const struct qcow2_ext *x = NULL;
	uint64_t dsize, doff, pos = 0;
	uint8_t *dir;

	for (size_t i = 0; i < s->n_exts; i++)
		if (s->exts[i].type == QCOW2_EXT_BITMAPS && s->exts[i].len >= 24)
			x = &s->exts[i];
	if (!x || !(s->autoclear & QCOW2_AUTOCLEAR_BITMAPS))
		return;
	dsize = qcow2_rd64(x->data + 8);
	doff = qcow2_rd64(x->data + 16);
	if (dsize == 0 || dsize > (64u << 20) || !qcow2_aligned(s, doff))
		return;
	chk_count(c, doff, dsize, "bitmap directory");
	dir = malloc(dsize);
	if (!dir || qcow2_pread(s, dir, dsize, doff) < 0) {
		free(dir);
		return;
	}
	while (pos + 24 <= dsize) {
		uint64_t len = 24ULL + qcow2_rd32(dir + pos + 20) + qcow2_rd16(dir + pos + 18);

		chk_bitmap_table(c, qcow2_rd64(dir + pos), qcow2_rd32(dir + pos + 8));
		pos += ALIGN_UP(len, 8);
	}
	free(dir);
}

/* ---- the refcount structure ---- */

static void chk_refblocks(struct chk *c)
{
	struct qcow2 *s = c->s;
	uint64_t fsize_cl = c->nrefs;

	chk_count(c, s->rt_offset, (uint64_t)s->rt_clusters << s->cluster_bits, "refcount table");
	for (uint64_t i = 0; i < s->rt_size; i++) {
		uint64_t e = s->rt[i], off = e & QCOW2_RTE_OFFSET_MASK;

		if (!off)
			continue;
		if (e & QCOW2_RTE_RESERVED) {
			chk_msg(c, true, "ERROR refcount block %" PRIu64 " is not cluster aligned; "
				"refcount table entry corrupted", i);
			c->res->corruptions++;
			c->rebuild = true;
			continue;
		}
		if ((off >> s->cluster_bits) >= fsize_cl) {
			chk_msg(c, true, "ERROR refcount block %" PRIu64 " is outside the image", i);
			c->res->corruptions++;
			c->rebuild = true;
			continue;
		}
		chk_count(c, off, s->cluster_size, "refcount block");
	}
}

/* Refcount blocks shared with anything else: only a rebuild fixes that. */
static void chk_refblock_overlaps(struct chk *c)
{
	struct qcow2 *s = c->s;

	for (uint64_t i = 0; i < s->rt_size; i++) {
		uint64_t off = s->rt[i] & QCOW2_RTE_OFFSET_MASK, cl = off >> s->cluster_bits;

		if (!off || (s->rt[i] & QCOW2_RTE_RESERVED) || cl >= c->nrefs || c->refs[cl] == 1)
			continue;
		chk_msg(c, true, "ERROR refcount block %" PRIu64 " refcount=%u (it overlaps other "
			"metadata)", i, c->refs[cl]);
		c->res->corruptions++;
		c->rebuild = true;
	}
}

static int chk_count_all(struct chk *c)
{
	struct qcow2 *s = c->s;
	int ret;

	memset(c->refs, 0, c->nrefs * sizeof(*c->refs));
	c->next_contig = 0;
	chk_count(c, 0, s->cluster_size, "header");
	chk_count(c, s->l1_offset, (uint64_t)s->l1_size * 8, "active L1 table");
	ret = chk_l1(c, s->l1, s->l1_size, true);
	if (ret == 0)
		ret = chk_snapshots(c);
	if (ret < 0)
		return ret;
	chk_bitmaps(c);
	if (!c->no_rc_structs) {
		chk_refblocks(c);
		chk_refblock_overlaps(c);
	}
	return 0;
}

/* ---- comparison and repair ---- */

static int chk_fix_one(struct chk *c, uint64_t cl, uint64_t disk, uint64_t ref)
{
	struct qcow2 *s = c->s;
	int ret = qcow2_refcount_update(s, cl << s->cluster_bits, s->cluster_size,
					(int64_t)ref - (int64_t)disk);

	if (ret < 0)
		c->res->check_errors++;
	return ret;
}

static void chk_compare_one(struct chk *c, uint64_t cl, uint64_t disk, uint64_t ref,
			    uint64_t *highest)
{
	bool leak = disk > ref && !(ref == CHK_REF_MAX && disk > ref);
	bool err = disk < ref;
	unsigned want = leak ? BLK_FIX_LEAKS : BLK_FIX_ERRORS;

	if (disk || ref)
		*highest = cl;
	if (!leak && !err)
		return;
	if ((c->fix & want) && !c->rebuild && chk_fix_one(c, cl, disk, ref) == 0) {
		chk_msg(c, false, "Repairing cluster %" PRIu64 " refcount=%" PRIu64 " reference=%"
			PRIu64, cl, disk, ref);
		if (leak)
			c->res->leaks_fixed++;
		else
			c->res->corruptions_fixed++;
		return;
	}
	chk_msg(c, err, "%s cluster %" PRIu64 " refcount=%" PRIu64 " reference=%" PRIu64 "%s",
		leak ? "Leaked" : "ERROR", cl, disk, ref,
		ref > c->s->refcount_max ? " (more than the refcount width can hold)" : "");
	if (leak)
		c->res->leaks++;
	else
		c->res->corruptions++;
}

static void chk_compare(struct chk *c)
{
	struct qcow2 *s = c->s;
	uint64_t highest = 0;

	for (uint64_t cl = 0; cl < c->nrefs; cl++) {
		uint64_t disk = 0, ti = cl >> s->rb_bits;

		if (ti < s->rt_size && (s->rt[ti] & QCOW2_RTE_OFFSET_MASK) &&
		    qcow2_refcount_get(s, cl, &disk) < 0) {
			c->res->check_errors++;
			cl = ((ti + 1) << s->rb_bits) - 1;
			continue;
		}
		chk_compare_one(c, cl, disk, c->refs[cl], &highest);
	}
	c->res->image_end_offset = (highest + 1) << s->cluster_bits;
}

static void chk_copied_report(struct chk *c, bool fixed, const char *what, uint64_t e,
			      uint64_t rc)
{
	chk_msg(c, !fixed, "%s OFLAG_COPIED %s: entry=0x%" PRIx64 " refcount=%" PRIu64,
		fixed ? "Repairing" : "ERROR", what, e, rc);
	if (fixed)
		c->res->corruptions_fixed++;
	else
		c->res->corruptions++;
}

static void chk_copied_l2(struct chk *c, uint64_t l2o)
{
	struct qcow2 *s = c->s;
	bool fix = c->fix & BLK_FIX_ERRORS, dirty = false;
	uint64_t *tab;

	if (qcow2_l2_get(s, l2o, &tab) < 0) {
		c->res->check_errors++;
		return;
	}
	for (uint64_t j = 0; j < s->l2_entries; j++) {
		uint64_t e = __builtin_bswap64(tab[j]), host = e & QCOW2_OFFSET_MASK, rc;

		if ((e & QCOW2_OFLAG_COMPRESSED) || !host || !qcow2_aligned(s, host) ||
		    qcow2_refcount_get(s, host >> s->cluster_bits, &rc) < 0)
			continue;
		if ((rc == 1) == !!(e & QCOW2_OFLAG_COPIED))
			continue;
		chk_copied_report(c, fix, "data cluster", e, rc);
		if (fix) {
			tab[j] = __builtin_bswap64(rc == 1 ? e | QCOW2_OFLAG_COPIED :
						   e & ~QCOW2_OFLAG_COPIED);
			dirty = true;
		}
	}
	if (dirty)
		qcow2_l2_dirty(s, l2o);
}

static void chk_copied(struct chk *c)
{
	struct qcow2 *s = c->s;
	bool fix = (c->fix & BLK_FIX_ERRORS) && !s->readonly;

	for (uint32_t i = 0; i < s->l1_size; i++) {
		uint64_t e = s->l1[i], l2o = e & QCOW2_OFFSET_MASK, rc;

		if (!l2o || !qcow2_aligned(s, l2o) || (l2o >> s->cluster_bits) >= c->nrefs ||
		    qcow2_refcount_get(s, l2o >> s->cluster_bits, &rc) < 0)
			continue;
		if ((rc == 1) != !!(e & QCOW2_OFLAG_COPIED)) {
			chk_copied_report(c, fix, "L2 cluster", e, rc);
			if (fix)
				qcow2_l1_set(s, i, rc == 1 ? e | QCOW2_OFLAG_COPIED :
					     e & ~QCOW2_OFLAG_COPIED);
		}
		chk_copied_l2(c, l2o);
	}
}

/* Write a new refcount structure from the counted references. */
static int chk_rebuild(struct chk *c)
{
	struct qcow2 *s = c->s;
	struct qcow2_txn_hdr h = { .size = s->size, .l1_size = s->l1_size,
				   .l1_offset = s->l1_offset, .nb_snapshots = s->nb_snapshots,
				   .snapshots_offset = s->snapshots_offset };
	struct qcow2_txn t;
	int ret;

	log_warn("%s: rebuilding the refcount structure", s->name);
	c->no_rc_structs = true;
	ret = chk_count_all(c);
	s->end_cluster = MAX(s->end_cluster, c->nrefs);
	if (ret == 0)
		ret = qcow2_txn_begin(s, &t, true);
	for (uint64_t cl = 0; ret == 0 && cl < c->nrefs; cl++)
		if (c->refs[cl])
			ret = qcow2_txn_rc_add(&t, cl << s->cluster_bits, s->cluster_size,
					       c->refs[cl]);
	if (ret == 0)
		ret = qcow2_txn_commit(&t, &h);
	qcow2_txn_free(&t);
	return ret;
}

/* (Re)size the reference counters to the file. */
static int chk_resize(struct chk *c)
{
	struct qcow2 *s = c->s;
	int64_t fsize = blk_file_size(s->file);

	if (fsize < 0)
		return (int)fsize;
	c->nrefs = ALIGN_UP((uint64_t)fsize, s->cluster_size) >> s->cluster_bits;
	if (c->nrefs > CHK_MAX_CLUSTERS) {
		log_error("%s: the image file is too large to check", s->name);
		return -EFBIG;
	}
	free(c->refs);
	c->refs = calloc(c->nrefs ? c->nrefs : 1, sizeof(*c->refs));
	return c->refs ? 0 : -ENOMEM;
}

static int chk_init(struct chk *c, struct qcow2 *s, struct blk_check *res, unsigned fix)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->res = res;
	c->fix = s->readonly ? 0 : fix;
	return chk_resize(c);
}

static int chk_run(struct chk *c)
{
	struct qcow2 *s = c->s;
	int ret = chk_count_all(c);

	if (ret < 0)
		return ret;
	if (c->rebuild && (c->fix & BLK_FIX_ERRORS)) {
		uint64_t found = c->res->corruptions;

		ret = chk_rebuild(c);
		if (ret < 0)
			return ret;
		memset(c->res, 0, sizeof(*c->res));
		c->res->corruptions_fixed = found;
		c->rebuild = false;
		c->no_rc_structs = false;
		ret = chk_resize(c);  /* the new structure lies past the old end */
		if (ret == 0)
			ret = chk_count_all(c);
		if (ret < 0)
			return ret;
	}
	chk_compare(c);
	chk_copied(c);
	c->res->total_clusters = ALIGN_UP(s->size, s->cluster_size) >> s->cluster_bits;
	return c->fix ? qcow2_meta_flush(s) : 0;
}

static int chk_mark_clean(struct qcow2 *s, const struct blk_check *res)
{
	uint64_t v = s->incompat & ~(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT);

	if (res->corruptions || res->check_errors || v == s->incompat || s->version < 3)
		return 0;
	return qcow2_set_incompat(s, v);
}

int qcow2_check(struct blk *b, struct blk_check *res, unsigned fix)
{
	struct qcow2 *s = blk_state(b);
	struct chk c = { 0 };
	int ret;

	if (s->in_check)
		return -EBUSY;
	memset(res, 0, sizeof(*res));
	s->in_check = true;
	ret = s->readonly ? 0 : qcow2_meta_flush(s);
	if (ret == 0)
		ret = chk_init(&c, s, res, fix);
	if (ret == 0)
		ret = chk_run(&c);
	if (ret == 0 && c.fix)
		ret = chk_mark_clean(s, res);
	if (ret == 0 && c.fix && res->corruptions == 0)
		s->corrupt_seen = false;
	s->in_check = false;
	free(c.refs);
	return ret;
}
