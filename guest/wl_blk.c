/* wl_blk: the blk and blk-ro workloads (see README.md). Writes a pattern
 * per sector (sector number + seed, vpat.h) over the first `sectors`
 * sectors in batches of requests of varying size and shape (one segment,
 * several scattered segments, an indirect table), flushes, reads back in
 * differently cut requests and verifies; GET_ID; WRITE_ZEROES and DISCARD
 * on the sectors after the pattern when offered; requests past the end
 * must fail with IOERR. blk-ro (or ro=1): the device must advertise RO and
 * answer writes with IOERR. verify-only=1: only read and check. */
#include "glog.h"
#include "lib.h"
#include "vctx.h"
#include "vdev_blk.h"
#include "vpat.h"
#include "wl_blk.h"
#include "wl_virtio.h"

#define BLK_BATCH        8
#define BLK_SLOT_SECT    64                  /* buffer sectors per batch slot */
#define BLK_CHUNK_MAX    32                  /* sectors per request at most */
#define BLK_EXTRA_SECT   64                  /* write-zeroes / discard ranges */
#define BLK_QUEUE_MAX    256

enum blk_style { BLK_ONE, BLK_MULTI, BLK_INDIRECT, BLK_NSTYLES };

struct blk_io {
	uint64_t sector;
	uint32_t nsect;
	unsigned nseg;
	bool indirect;
	struct virtq_sg seg[VBLK_MAX_SEGS];
	uint8_t *segp[VBLK_MAX_SEGS];
};

static const uint32_t blk_chunks[] = { 8, 5, 16, 1, 13, 32, 3 };

int blk_job_open(struct guest *g, struct blk_job *j, bool ro_workload)
{
	struct virtio_dev *d;
	int ret;

	j->g = g;
	if (cmdline_u64(&g->cmd, "disk", 0, 0, VCTX_MAX_DEVS, &j->disk) ||
	    cmdline_u64(&g->cmd, "seed", 1, 0, 0xffffffffu, &j->seed) ||
	    cmdline_u64(&g->cmd, "sectors", 2048, 1, 1u << 24, &j->sectors))
		return guest_fail(g, -EINVAL, "bad parameter");
	j->ro = ro_workload || cmdline_flag(&g->cmd, "ro");
	j->verify_only = cmdline_flag(&g->cmd, "verify-only");
	ret = vctx_create(g, &j->c);
	if (ret)
		return ret;
	d = vctx_dev(j->c, VIRTIO_ID_BLK, (unsigned)j->disk);
	if (!d)
		return guest_fail(g, -ENODEV, "no virtio-blk disk %lu", j->disk);
	ret = vblk_open(j->c, d, &j->b, BLK_QUEUE_MAX);
	if (ret)
		return guest_fail(g, ret, "cannot initialise %s", d->name);
	j->buf = vctx_alloc(j->c, (uint64_t)BLK_BATCH * BLK_SLOT_SECT * VBLK_SECTOR, 4096);
	if (!j->buf)
		return guest_fail(g, -ENOMEM, "out of memory");
	return 0;
}

/* Lay out io (sector, nsect set) in slot memory for a style. */
static void blk_layout(const struct vblk *b, struct blk_io *io, uint8_t *slot,
		       enum blk_style style, bool write)
{
	unsigned maxsegs = vblk_max_segs(b), nseg;
	uint32_t seg_sect = vblk_max_seg_bytes(b) / VBLK_SECTOR, gap, left = io->nsect;

	if (!seg_sect)
		seg_sect = 1;
	nseg = style == BLK_ONE ? 1 : io->nsect;
	if (nseg < (io->nsect + seg_sect - 1) / seg_sect)
		nseg = (io->nsect + seg_sect - 1) / seg_sect;
	if (nseg > maxsegs)
		nseg = maxsegs;
	gap = style == BLK_ONE ? 0 : VBLK_SECTOR;
	io->nseg = nseg;
	io->indirect = style == BLK_INDIRECT && b->indirect;
	for (unsigned i = 0; i < nseg; i++) {
		uint32_t n = left / (nseg - i) + (left % (nseg - i) ? 1 : 0);

		io->segp[i] = slot;
		io->seg[i] = (struct virtq_sg){ 0, n * VBLK_SECTOR, !write };
		slot += n * VBLK_SECTOR + gap;
		left -= n;
	}
}

/* Largest request this device takes in our layouts. */
static uint32_t blk_chunk_cap(const struct vblk *b)
{
	uint32_t seg_sect = vblk_max_seg_bytes(b) / VBLK_SECTOR;
	uint64_t cap = (uint64_t)vblk_max_segs(b) * (seg_sect ? seg_sect : 1);

	return cap < BLK_CHUNK_MAX ? (uint32_t)cap : BLK_CHUNK_MAX;
}

static void blk_fill(struct blk_io *io, uint32_t seed)
{
	uint64_t s = io->sector;

	for (unsigned i = 0; i < io->nseg; i++)
		for (uint32_t off = 0; off < io->seg[i].len; off += VBLK_SECTOR)
			vpat_sector(io->segp[i] + off, s++, seed);
}

static int blk_check(struct blk_job *j, const struct blk_io *io, uint32_t seed)
{
	uint64_t s = io->sector;

	for (unsigned i = 0; i < io->nseg; i++) {
		for (uint32_t off = 0; off < io->seg[i].len; off += VBLK_SECTOR, s++) {
			uint32_t bad = vpat_sector_check(io->segp[i] + off, s, seed);

			if (bad)
				return guest_fail(j->g, -EIO, "sector %lu byte %u is wrong "
						  "(seed %u; found seed %u sector %lu)", s,
						  bad - 1, seed, lib_get32(io->segp[i] + off + 4),
						  lib_get64(io->segp[i] + off + 8));
		}
	}
	return 0;
}

/* Submit n prepared requests, notify once, collect every completion. */
static int blk_batch(struct blk_job *j, struct blk_io *io, unsigned n, uint32_t type)
{
	int tags[BLK_BATCH], tag, ret;
	unsigned done = 0;
	uint8_t status;
	uint32_t len;

	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = 0; k < io[i].nseg; k++)
			io[i].seg[k].addr = vctx_pa(j->c, io[i].segp[k]);
		tags[i] = vblk_submit(&j->b, type, io[i].sector, io[i].seg, io[i].nseg,
				      io[i].indirect);
		if (tags[i] < 0)
			return guest_fail(j->g, tags[i], "cannot queue a request");
	}
	virtq_intr(j->b.vq, true);
	virtio_kick(j->b.d, j->b.vq);
	while (done < n) {
		ret = vctx_wait_used(j->c, j->b.vq, true, BLK_TIMEOUT_MS);
		while (!ret && (ret = vblk_reap(&j->b, &tag, &status, &len)) == 0) {
			unsigned i = 0;

			while (i + 1 < n && tags[i] != tag)
				i++;
			done++;
			if (status != VBLK_S_OK)
				return guest_fail(j->g, -EIO, "%s of %u sectors at %lu: %s",
						  type == VBLK_T_IN ? "read" : "write",
						  io[i].nsect, io[i].sector,
						  vblk_status_name(status));
		}
		if (ret && ret != -ENOENT)
			return guest_fail(j->g, ret, "%u of %u requests completed", done, n);
	}
	j->nreq += n;
	return 0;
}

/* Write (or read + verify) sectors [first, first+count) with seed. */
int blk_pass(struct blk_job *j, uint64_t first, uint64_t count, uint32_t seed,
	     bool write, unsigned phase)
{
	struct blk_io io[BLK_BATCH];
	uint32_t cap = blk_chunk_cap(&j->b);
	uint64_t s = first;
	unsigned k = phase;
	int ret;

	while (s < first + count) {
		unsigned n = 0, room = j->b.vq->nfree;

		for (; n < BLK_BATCH && s < first + count; n++, k++) {
			uint32_t c = blk_chunks[k % (sizeof(blk_chunks) / sizeof(blk_chunks[0]))];
			unsigned need;

			io[n].sector = s;
			io[n].nsect = (uint32_t)(c < cap ? c : cap);
			if (io[n].nsect > first + count - s)
				io[n].nsect = (uint32_t)(first + count - s);
			blk_layout(&j->b, &io[n], j->buf + n * BLK_SLOT_SECT * VBLK_SECTOR,
				   (enum blk_style)(k % BLK_NSTYLES), write);
			need = io[n].indirect ? 1 : io[n].nseg + 2;
			if (need > room)
				break;          /* the ring is full: send this batch */
			room -= need;
			if (write)
				blk_fill(&io[n], seed);
			s += io[n].nsect;
		}
		ret = blk_batch(j, io, n, write ? VBLK_T_OUT : VBLK_T_IN);
		for (unsigned i = 0; !ret && !write && i < n; i++)
			ret = blk_check(j, &io[i], seed);
		if (ret)
			return ret;
	}
	return 0;
}

/* One synchronous request on the first bytes of the buffer. */
int blk_simple(struct blk_job *j, uint32_t type, uint64_t sector, uint32_t len,
	       bool write_buf, uint8_t *status)
{
	struct virtq_sg sg[VBLK_MAX_SEGS];
	uint32_t max = vblk_max_seg_bytes(&j->b), off = 0;
	unsigned n = 0;
	int ret;

	for (; off < len && n < vblk_max_segs(&j->b); n++) {
		uint32_t l = len - off < max ? len - off : max;

		sg[n] = (struct virtq_sg){ vctx_pa(j->c, j->buf + off), l, write_buf };
		off += l;
	}
	if (off < len)
		return guest_fail(j->g, -EINVAL, "%u bytes do not fit seg_max/size_max", len);
	ret = vblk_sync(&j->b, type, sector, sg, n, false, true, status);

	if (ret)
		return guest_fail(j->g, ret, "request type %u at sector %lu failed", type,
				  sector);
	j->nreq++;
	return 0;
}

static int blk_expect(struct blk_job *j, const char *what, uint8_t got, uint8_t want)
{
	if (got == want)
		return 0;
	return guest_fail(j->g, -EIO, "%s: status %s, expected %s", what,
			  vblk_status_name(got), vblk_status_name(want));
}

static int blk_get_id(struct blk_job *j)
{
	char id[VBLK_ID_LEN + 1];
	uint8_t st;
	int ret;

	__builtin_memset(j->buf, 0, VBLK_ID_LEN);
	ret = blk_simple(j, VBLK_T_GET_ID, 0, VBLK_ID_LEN, true, &st);
	if (!ret)
		ret = blk_expect(j, "GET_ID", st, VBLK_S_OK);
	if (ret)
		return ret;
	for (unsigned i = 0; i <= VBLK_ID_LEN; i++) {
		uint8_t ch = i < VBLK_ID_LEN ? j->buf[i] : 0;

		id[i] = (char)(ch >= 0x20 && ch < 0x7f ? ch : 0);
		if (!ch)
			break;
	}
	id[VBLK_ID_LEN] = '\0';
	glog("blk: %s: id '%s'", j->b.d->name, id);
	return 0;
}

static void blk_describe(const struct blk_job *j)
{
	const struct vblk *b = &j->b;

	glog("blk: %s: %lu sectors (%lu MiB), blk_size %u, seg_max %u, size_max %u, "
	     "queue %u, features%s%s%s%s%s%s", b->d->name, b->capacity, b->capacity >> 11,
	     b->blk_size, b->seg_max, b->size_max, b->vq->size, b->ro ? " ro" : "",
	     b->flush ? " flush" : "", b->discard ? " discard" : "",
	     b->wzeroes ? " write-zeroes" : "", b->indirect ? " indirect" : "",
	     b->vq->event_idx ? " event-idx" : "");
}

/* Requests past the end (and straddling it) must fail with IOERR. */
static int blk_past_end(struct blk_job *j)
{
	uint8_t st;
	int ret = blk_simple(j, VBLK_T_IN, j->b.capacity, VBLK_SECTOR, true, &st);

	if (!ret)
		ret = blk_expect(j, "read past the end", st, VBLK_S_IOERR);
	if (!ret)
		ret = blk_simple(j, VBLK_T_IN, j->b.capacity - 1, 2 * VBLK_SECTOR, true, &st);
	return ret ? ret : blk_expect(j, "read across the end", st, VBLK_S_IOERR);
}

/* A DISCARD / WRITE_ZEROES of count sectors at sector. */
static int blk_range_op(struct blk_job *j, uint32_t type, uint64_t sector,
			uint32_t count, uint8_t *st)
{
	struct vblk_range *r = (void *)j->buf;

	*r = (struct vblk_range){ .sector = sector, .num_sectors = count };
	return blk_simple(j, type, 0, sizeof(*r), false, st);
}

/* Sectors for a DISCARD / WRITE_ZEROES: BLK_EXTRA_SECT, or the limit. */
static uint32_t blk_range_len(uint32_t max)
{
	return max && max < BLK_EXTRA_SECT ? max : BLK_EXTRA_SECT;
}

static int blk_write_zeroes(struct blk_job *j, uint64_t at)
{
	uint32_t n = blk_range_len(j->b.max_wz_sectors);
	uint8_t st;
	int ret = blk_pass(j, at, n, (uint32_t)j->seed, true, 0);

	if (!ret)
		ret = blk_range_op(j, VBLK_T_WRITE_ZEROES, at, n, &st);
	if (!ret)
		ret = blk_expect(j, "WRITE_ZEROES", st, VBLK_S_OK);
	if (!ret)
		ret = blk_simple(j, VBLK_T_IN, at, n * VBLK_SECTOR, true, &st);
	if (!ret)
		ret = blk_expect(j, "read after WRITE_ZEROES", st, VBLK_S_OK);
	if (!ret && !vpat_is_zero(j->buf, n * VBLK_SECTOR))
		ret = guest_fail(j->g, -EIO, "sectors %lu+%u not zero after WRITE_ZEROES", at, n);
	return ret;
}

static int blk_discard(struct blk_job *j, uint64_t at)
{
	uint32_t align = j->b.discard_align ? j->b.discard_align : 1;
	uint8_t st;
	int ret;

	at = (at + align - 1) / align * align;
	if (at + BLK_EXTRA_SECT > j->b.capacity) {
		glog("blk: no room for a DISCARD test");
		return 0;
	}
	ret = blk_range_op(j, VBLK_T_DISCARD, at, blk_range_len(j->b.max_discard_sectors), &st);
	return ret ? ret : blk_expect(j, "DISCARD", st, VBLK_S_OK);
}

static int blk_flush(struct blk_job *j)
{
	uint8_t st;
	int ret;

	if (!j->b.flush)
		return 0;
	ret = blk_simple(j, VBLK_T_FLUSH, 0, 0, false, &st);
	return ret ? ret : blk_expect(j, "FLUSH", st, VBLK_S_OK);
}

/* The read-write test: pattern, flush, verify, extras, past the end. */
static int blk_rw(struct blk_job *j, uint64_t n)
{
	uint32_t seed = (uint32_t)j->seed;
	int ret = blk_pass(j, 0, n, seed, true, 0);

	if (!ret)
		ret = blk_flush(j);
	if (!ret)
		ret = blk_pass(j, 0, n, seed, false, 3);
	if (!ret && j->b.wzeroes)
		ret = blk_write_zeroes(j, n);
	if (!ret && j->b.discard)
		ret = blk_discard(j, n + BLK_EXTRA_SECT);
	if (!ret)
		ret = blk_flush(j);
	return ret ? ret : blk_past_end(j);
}

/* The read-only test: RO advertised, writes refused, reads work. */
static int blk_ro(struct blk_job *j, uint64_t n)
{
	uint8_t st;
	int ret;

	if (!j->b.ro)
		return guest_fail(j->g, -EIO, "%s does not advertise VIRTIO_BLK_F_RO",
				  j->b.d->name);
	vpat_sector(j->buf, 0, (uint32_t)j->seed);
	ret = blk_simple(j, VBLK_T_OUT, 0, VBLK_SECTOR, false, &st);
	if (!ret)
		ret = blk_expect(j, "write to a read-only disk", st, VBLK_S_IOERR);
	if (!ret)
		ret = blk_simple(j, VBLK_T_IN, 0, 8 * VBLK_SECTOR, true, &st);
	if (!ret)
		ret = blk_expect(j, "read from a read-only disk", st, VBLK_S_OK);
	if (!ret && j->verify_only)
		ret = blk_pass(j, 0, n, (uint32_t)j->seed, false, 3);
	return ret ? ret : blk_past_end(j);
}

static int blk_main(struct guest *g, bool ro_workload)
{
	struct blk_job j = { 0 };
	uint64_t n;
	int ret = blk_job_open(g, &j, ro_workload);

	if (ret)
		return ret;
	blk_describe(&j);
	n = j.sectors;
	if (!j.ro && !j.verify_only && j.b.ro)
		return guest_fail(g, -EROFS, "%s is read-only (use blk-ro or ro=1)", j.b.d->name);
	if (j.b.capacity < n + 3 * BLK_EXTRA_SECT)
		return guest_fail(g, -ENOSPC, "disk of %lu sectors too small for sectors=%lu",
				  j.b.capacity, n);
	ret = blk_get_id(&j);
	if (!ret)
		ret = j.ro ? blk_ro(&j, n) : j.verify_only ?
		      blk_pass(&j, 0, n, (uint32_t)j.seed, false, 3) : blk_rw(&j, n);
	if (!ret)
		glog("blk: %s: %s %lu sectors with seed %lu, %lu requests", j.b.d->name,
		     j.ro ? "read-only checks," : j.verify_only ? "verified" :
		     "wrote, flushed and verified", n, j.seed, j.nreq);
	return ret;
}

int wl_blk(struct guest *g)
{
	return blk_main(g, false);
}

int wl_blk_ro(struct guest *g)
{
	return blk_main(g, true);
}
