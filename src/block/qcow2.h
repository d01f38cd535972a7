/* qcow2: private interface shared by the qcow2 driver's files (qcow2.c
 * header/open/create, qcow2_cluster.c mapping and I/O, qcow2_refcount.c
 * refcounts/allocation/overlap checks, qcow2_snapshot.c internal snapshots,
 * qcow2_check.c check and repair). The on-disk format is QEMU's qcow2
 * (versions 2 and 3); see docs/interop/qcow2.txt in QEMU's source.
 *
 * Metadata caching and write ordering: L2 tables and refcount blocks are
 * cached (bounded LRU). Guest data is written to the file at once; L2/L1
 * updates stay in memory until qcow2_meta_flush(), which writes refcount
 * blocks, flushes, then writes L2 tables, flushes, then the L1 table. Freed
 * clusters are only queued and their refcounts dropped after the tables no
 * longer pointing at them are on disk. A crash therefore leaks clusters at
 * worst. Everything else (snapshots, table growth, header) is written
 * synchronously with flushes between dependent steps. */
#ifndef VMKIT_QCOW2_H
#define VMKIT_QCOW2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/block.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HDR_LEN 72u
#define QCOW2_V3_HDR_LEN 104u      /* minimum for version 3 */
#define QCOW2_HDR_LEN_OURS 112u    /* v3 header with compression_type, padded */
#define QCOW2_MIN_CLUSTER_BITS 9u
#define QCOW2_MAX_CLUSTER_BITS 21u
#define QCOW2_MAX_L1_BYTES (32u << 20)
#define QCOW2_MAX_RT_BYTES (8u << 20)
#define QCOW2_MAX_SNAPSHOTS 65536u
#define QCOW2_MAX_SNAP_TABLE (64u << 20)
#define QCOW2_MAX_SNAP_EXTRA 1024u
#define QCOW2_MAX_BACKING_NAME 1023u
#define QCOW2_MAX_FMT_NAME 63u

/* L1/L2/refcount-table entry bits */
#define QCOW2_OFLAG_COPIED (UINT64_C(1) << 63)
#define QCOW2_OFLAG_COMPRESSED (UINT64_C(1) << 62)
#define QCOW2_OFLAG_ZERO UINT64_C(1)
#define QCOW2_OFFSET_MASK UINT64_C(0x00fffffffffffe00) /* bits 9-55 */
#define QCOW2_L1E_RESERVED UINT64_C(0x7f000000000001ff)
#define QCOW2_L2E_RESERVED UINT64_C(0x3f000000000001fe)
#define QCOW2_RTE_OFFSET_MASK UINT64_C(0xfffffffffffffe00)
#define QCOW2_RTE_RESERVED UINT64_C(0x1ff)

/* Feature bits */
#define QCOW2_INCOMPAT_DIRTY (UINT64_C(1) << 0)
#define QCOW2_INCOMPAT_CORRUPT (UINT64_C(1) << 1)
#define QCOW2_INCOMPAT_DATA_FILE (UINT64_C(1) << 2)
#define QCOW2_INCOMPAT_COMPRESSION (UINT64_C(1) << 3)
#define QCOW2_INCOMPAT_EXTL2 (UINT64_C(1) << 4)
#define QCOW2_INCOMPAT_SUPPORTED \
	(QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT | QCOW2_INCOMPAT_COMPRESSION)
#define QCOW2_COMPAT_LAZY (UINT64_C(1) << 0)
#define QCOW2_AUTOCLEAR_BITMAPS (UINT64_C(1) << 0)

/* Header extension types */
#define QCOW2_EXT_END 0x00000000u
#define QCOW2_EXT_BACKING_FMT 0xe2792acau
#define QCOW2_EXT_FEATURES 0x6803f857u
#define QCOW2_EXT_BITMAPS 0x23852875u
#define QCOW2_EXT_CRYPTO 0x0537be77u
#define QCOW2_EXT_DATA_FILE 0x44415441u

enum qcow2_compression { QCOW2_COMP_ZLIB = 0, QCOW2_COMP_ZSTD = 1 };

/* What a guest cluster maps to. */
enum qcow2_ctype {
	QCOW2_CT_UNALLOC,     /* backing file or zeros */
	QCOW2_CT_ZERO_PLAIN,  /* zero flag, no host cluster */
	QCOW2_CT_ZERO_ALLOC,  /* zero flag with a (preallocated) host cluster */
	QCOW2_CT_NORMAL,      /* data in a host cluster */
	QCOW2_CT_COMPRESSED,  /* compressed data at a byte offset */
};

/* A bounded LRU cache of cluster-sized tables (L2 tables, refcount blocks)
 * kept in their on-disk (big-endian) layout. */
struct qcow2_cache_ent {
	uint64_t off;        /* host offset of the table; 0 = empty slot */
	uint64_t lru;
	bool dirty;
	uint64_t *buf;       /* cluster bytes; allocated on first use */
};

struct qcow2_cache {
	struct qcow2_cache_ent *ent;
	unsigned n;
	size_t size;         /* bytes per table */
	uint64_t tick;
	uint64_t hits, misses;
};

struct qcow2_ext {           /* a header extension kept for rewriting */
	uint32_t type;
	uint32_t len;
	uint8_t *data;
};

struct qcow2_snap {
	uint64_t l1_offset;
	uint32_t l1_size;
	char *id;
	char *name;
	uint32_t date_sec, date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t vm_state_size;
	uint64_t disk_size;
	uint32_t extra_size;     /* extra data kept verbatim past the known fields */
	uint8_t *extra;
};

struct qcow2_range {         /* a host byte range waiting to be freed */
	uint64_t off, len;
};

struct qcow2 {
	struct blk *b;
	struct blk_file *file;
	const char *name;        /* for messages */
	bool readonly;
	/* header */
	uint32_t version;
	uint32_t cluster_bits;
	uint64_t cluster_size;
	uint32_t l2_bits;        /* log2(entries per L2 table) */
	uint64_t l2_entries;
	uint64_t size;           /* virtual size */
	uint64_t l1_offset;
	uint32_t l1_size;
	uint64_t rt_offset;
	uint32_t rt_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
	uint64_t incompat, compat, autoclear;
	uint32_t refcount_order;
	uint32_t header_length;
	uint8_t compression;     /* enum qcow2_compression */
	uint8_t *hdr_extra;      /* header bytes [105, header_length) kept verbatim */
	uint32_t hdr_extra_len;
	struct qcow2_ext *exts;  /* extensions other than backing format/features */
	size_t n_exts;
	uint8_t *features;       /* feature name table (raw) for messages */
	uint32_t features_len;
	char *backing;           /* backing file name, NULL if none */
	char *backing_fmt;
	bool has_bitmaps_ext;
	/* tables */
	uint64_t *l1;            /* host-endian copy of the active L1 table */
	bool l1_dirty;
	uint32_t l1_dirty_lo, l1_dirty_hi;
	uint64_t *rt;            /* host-endian refcount table */
	uint64_t rt_size;        /* entries */
	uint64_t rt_hi;          /* entries from here on are all zero */
	uint64_t rb_entries;     /* refcounts per refcount block */
	uint32_t rb_bits;        /* log2(rb_entries) */
	uint64_t refcount_max;
	struct qcow2_cache l2c, rbc;
	struct qcow2_snap *snaps;
	uint64_t snap_table_len; /* bytes of the snapshot table */
	/* allocation */
	uint64_t free_hint;      /* lowest cluster index that may be free */
	uint64_t end_cluster;    /* every cluster from here on is free */
	uint64_t cbytes_off;     /* next free byte for compressed data, 0 = none */
	struct qcow2_range *pfree;
	size_t npfree, cpfree;
	/* state */
	bool corrupt_seen;       /* a corruption was reported (writes refused) */
	bool dirty_on_disk;      /* the header's dirty bit is set */
	bool in_check;           /* check/repair running: no re-entry */
	/* compressed-cluster buffers */
	uint8_t *cbuf;           /* compressed input, 2 clusters */
	uint8_t *dbuf;           /* last decompressed cluster */
	uint64_t dbuf_entry;     /* its L2 entry, 0 = none */
	void *zstd_dctx;
};

static inline uint64_t qcow2_rd64(const void *p)
{
	uint64_t v;

	__builtin_memcpy(&v, p, 8);
	return __builtin_bswap64(v);
}

static inline uint32_t qcow2_rd32(const void *p)
{
	uint32_t v;

	__builtin_memcpy(&v, p, 4);
	return __builtin_bswap32(v);
}

static inline uint16_t qcow2_rd16(const void *p)
{
	uint16_t v;

	__builtin_memcpy(&v, p, 2);
	return __builtin_bswap16(v);
}

static inline void qcow2_wr64(void *p, uint64_t v)
{
	v = __builtin_bswap64(v);
	__builtin_memcpy(p, &v, 8);
}

static inline void qcow2_wr32(void *p, uint32_t v)
{
	v = __builtin_bswap32(v);
	__builtin_memcpy(p, &v, 4);
}

static inline void qcow2_wr16(void *p, uint16_t v)
{
	v = __builtin_bswap16(v);
	__builtin_memcpy(p, &v, 2);
}

static inline uint64_t qcow2_off_in_cluster(const struct qcow2 *s, uint64_t off)
{
	return off & (s->cluster_size - 1);
}

static inline bool qcow2_aligned(const struct qcow2 *s, uint64_t off)
{
	return qcow2_off_in_cluster(s, off) == 0;
}

/* Number of L1 entries needed for a virtual size. */
uint64_t qcow2_l1_entries_for(uint64_t size, uint32_t cluster_bits);
/* Bits of a compressed L2 entry: host byte offset and sectors. */
void qcow2_compressed_desc(const struct qcow2 *s, uint64_t l2e, uint64_t *off,
			   uint64_t *nsect);

/* ---- qcow2.c ---- */
/* File I/O; unaligned requests on a cache=none file go through a bounce
 * buffer (read-modify-write for writes). */
int qcow2_pread(struct qcow2 *s, void *buf, size_t len, uint64_t off);
int qcow2_pwrite(struct qcow2 *s, const void *buf, size_t len, uint64_t off);
/* Report corruption found while running (once), mark the image corrupt on
 * disk when writable; always returns -EIO. */
int qcow2_corrupt(struct qcow2 *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int qcow2_header_write(struct qcow2 *s);
int qcow2_set_incompat(struct qcow2 *s, uint64_t incompat);
int qcow2_mark_dirty(struct qcow2 *s);
/* Parse and validate a header (first cluster, buf[0..len)) into s; file_size
 * bounds the tables. Logs one message naming the problem. */
int qcow2_header_parse(struct qcow2 *s, const uint8_t *buf, size_t len, uint64_t file_size);
void qcow2_state_free(struct qcow2 *s);
int qcow2_write_check(struct qcow2 *s);

/* ---- qcow2_refcount.c ---- */
int qcow2_cache_init(struct qcow2_cache *c, unsigned n, size_t size);
void qcow2_cache_destroy(struct qcow2_cache *c);
/* Slot holding off (and mark it used), or -1. */
int qcow2_cache_find(struct qcow2_cache *c, uint64_t off);
/* An empty slot or the least recently used one. */
unsigned qcow2_cache_victim(const struct qcow2_cache *c);
/* Put (off, contents untouched) into slot i; allocates the buffer. */
int qcow2_cache_fill(struct qcow2_cache *c, unsigned i, uint64_t off);
void qcow2_cache_drop(struct qcow2_cache *c, uint64_t off);
void qcow2_cache_reset(struct qcow2_cache *c);

/* Refcount entry arithmetic on one refcount block (order 0..6). */
uint64_t qcow2_rc_get(const void *block, uint64_t idx, uint32_t order);
void qcow2_rc_set(void *block, uint64_t idx, uint32_t order, uint64_t val);

int qcow2_refcount_init(struct qcow2 *s);
/* Recompute rt_hi after the refcount table changed. */
void qcow2_rt_hi_update(struct qcow2 *s);
/* Compute the end of used space once (before allocating). */
int qcow2_alloc_prepare(struct qcow2 *s);
/* Refcount block ti (zeros if it does not exist) into buf. */
int qcow2_rb_read(struct qcow2 *s, uint64_t ti, void *buf);
int qcow2_refcount_get(struct qcow2 *s, uint64_t cluster, uint64_t *rc);
/* Add delta (+1/-1 or any) to every cluster touched by [off, off+len). */
int qcow2_refcount_update(struct qcow2 *s, uint64_t off, uint64_t len, int64_t delta);
/* n contiguous new clusters (refcount 1). */
int qcow2_alloc_clusters(struct qcow2 *s, uint64_t n, uint64_t *off);
/* size bytes (< 1 cluster) for compressed data, sharing clusters. */
int qcow2_alloc_bytes(struct qcow2 *s, uint64_t size, uint64_t *off);
/* Queue a decrement for after the next metadata flush. */
int qcow2_free_later(struct qcow2 *s, uint64_t off, uint64_t len);
/* Queue the host clusters an L2 entry owns. */
int qcow2_free_l2e_later(struct qcow2 *s, uint64_t l2e);
int qcow2_free_apply(struct qcow2 *s);
int qcow2_rb_writeback(struct qcow2 *s);
void qcow2_rb_forget(struct qcow2 *s);

enum qcow2_meta {
	QCOW2_OL_HEADER = 1 << 0,
	QCOW2_OL_L1 = 1 << 1,
	QCOW2_OL_L2 = 1 << 2,
	QCOW2_OL_RT = 1 << 3,
	QCOW2_OL_RB = 1 << 4,
	QCOW2_OL_SNAPTAB = 1 << 5,
	QCOW2_OL_SNAPL1 = 1 << 6,
};
/* 0, or the QCOW2_OL_* kind that [off, off+len) overlaps (ignoring those in
 * ignore). */
unsigned qcow2_overlap(struct qcow2 *s, uint64_t off, uint64_t len, unsigned ignore);
const char *qcow2_overlap_name(unsigned kind);
/* Refuse (corrupt bit, -EIO) a write into metadata. */
int qcow2_overlap_guard(struct qcow2 *s, uint64_t off, uint64_t len, unsigned ignore);

/* ---- qcow2_cluster.c ---- */
int qcow2_l2_get(struct qcow2 *s, uint64_t l2_off, uint64_t **tab);
/* Mark a cached L2 table dirty. */
void qcow2_l2_dirty(struct qcow2 *s, uint64_t l2_off);
int qcow2_meta_flush(struct qcow2 *s);
int qcow2_l1_write(struct qcow2 *s);
int qcow2_l1_grow(struct qcow2 *s, uint64_t entries);
void qcow2_l1_set(struct qcow2 *s, uint64_t idx, uint64_t val);
/* Classify (and validate) the L2 entry of guest offset goff. */
int qcow2_l2e_type(struct qcow2 *s, uint64_t e, uint64_t goff, enum qcow2_ctype *t);
int qcow2_map(struct qcow2 *s, uint64_t off, uint64_t len, enum qcow2_ctype *type,
	      uint64_t *l2e, uint64_t *bytes);
int qcow2_prealloc(struct qcow2 *s, enum blk_prealloc mode);
int qcow2_discard_range(struct qcow2 *s, uint64_t off, uint64_t len, bool zero);

int qcow2_readv(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt);
int qcow2_writev(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt);
int qcow2_write_compressed(struct blk *b, uint64_t off, const void *buf, size_t len);
int qcow2_discard(struct blk *b, uint64_t off, uint64_t len);
int qcow2_write_zeroes(struct blk *b, uint64_t off, uint64_t len, bool may_unmap);
int qcow2_make_empty(struct blk *b);
int qcow2_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
		       unsigned *status, uint64_t *host_off);

extern const struct blk_driver qcow2_driver;

/* ---- qcow2_snapshot.c ---- */
/* A metadata transaction: new refcount blocks, refcount table, L1/L2 tables
 * and snapshot table are written past all used space, then one header write
 * switches over to them. A crash before that write leaves the old image
 * untouched; after it, the old structures are simply free. */
struct qcow2_txn {
	struct qcow2 *s;
	uint8_t **rb;        /* changed refcount blocks, by refcount table index */
	uint64_t *loc;       /* their new cluster index, 0 = none yet */
	uint64_t nidx;
	uint64_t next;       /* next free cluster of the new area */
	uint64_t rt_off, rt_n; /* new refcount table (cluster index, entries) */
	bool from_empty;     /* rebuild: ignore the old refcount blocks */
	size_t mem;
};

struct qcow2_txn_hdr {
	uint64_t size;
	uint32_t l1_size;
	uint64_t l1_offset;
	uint32_t nb_snapshots;
	uint64_t snapshots_offset;
};

int qcow2_txn_begin(struct qcow2 *s, struct qcow2_txn *t, bool from_empty);
void qcow2_txn_free(struct qcow2_txn *t);
int qcow2_txn_rc_get(struct qcow2_txn *t, uint64_t cluster, uint64_t *rc);
int qcow2_txn_rc_add(struct qcow2_txn *t, uint64_t off, uint64_t len, int64_t delta);
int qcow2_txn_alloc(struct qcow2_txn *t, uint64_t n, uint64_t *off);
int qcow2_txn_commit(struct qcow2_txn *t, const struct qcow2_txn_hdr *h);

int qcow2_snap_read(struct qcow2 *s, uint64_t file_size);
void qcow2_snap_free(struct qcow2 *s);
int qcow2_snapshot_create(struct blk *b, const char *name);
int qcow2_snapshot_list(struct blk *b, struct blk_snapshot **list, size_t *n);
int qcow2_snapshot_apply(struct blk *b, const char *id_or_name);
int qcow2_snapshot_delete(struct blk *b, const char *id_or_name);

/* ---- qcow2_check.c ---- */
int qcow2_check(struct blk *b, struct blk_check *res, unsigned fix);

#endif
