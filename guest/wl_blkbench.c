/* wl_blkbench: the blk-bench workload. Sequential read and write (large
 * requests, several in flight) and 4 KiB random read and write at queue
 * depth 1 and 32 on the first `span` MiB of a virtio-blk disk (sequential
 * runs wrap around it), each run `ms` long, ring 3 polling the used ring
 * with interrupts suppressed. Like a driver, it takes every completion
 * there is, re-issues those slots and notifies once for the batch. Time is
 * the TSC,
 * calibrated against the ACPI PM timer (tsc.h). One line per figure:
 *   testguest: blk-bench: seq-read MBps=812.4 bs=131072 qd=8 bytes=... us=...
 *   testguest: blk-bench: randread-qd32 IOPS=41234 bs=4096 qd=32 ops=... us=...
 */
#include "glog.h"
#include "lib.h"
#include "tsc.h"
#include "vpat.h"
#include "wl_blk.h"
#include "wl_virtio.h"

#define BENCH_RAND_BS   4096u
#define BENCH_QD_MAX    32u
#define BENCH_BS_MAX    (1u << 20)

struct bench {
	struct blk_job j;
	uint64_t span;                  /* bytes of the disk used */
	uint64_t seq_bs, seq_qd, ms;
	uint8_t *slots;                 /* BENCH_QD_MAX * seq_bs */
	uint64_t rng;
	bool indirect;                  /* the ring is too small for direct chains */
};

/* One measured run. */
struct bench_run {
	uint32_t type;                  /* VBLK_T_IN / VBLK_T_OUT */
	bool sequential;
	uint32_t bs;
	unsigned qd;
	uint64_t next_off;              /* sequential position (wraps at span) */
	uint64_t deadline;              /* stop issuing after this */
	uint64_t ops, bytes;
	uint16_t slot_of[VIRTQ_MAX_SIZE];
};

static unsigned bench_segs(const struct bench *bn, uint8_t *buf, uint32_t bs, bool write,
			   struct virtq_sg *sg);

/* Direct chains if qd of them fit the ring, else indirect ones. */
static int bench_ring_fits(struct bench *bn)
{
	struct virtq_sg sg[VBLK_MAX_SEGS];
	unsigned segs = bench_segs(bn, bn->slots, (uint32_t)bn->seq_bs, false, sg);
	uint64_t need = bn->seq_qd * (segs + 2);

	if (!segs)
		return guest_fail(bn->j.g, -EINVAL, "seq-bs does not fit seg_max/size_max");
	if (need < BENCH_QD_MAX * 3)
		need = BENCH_QD_MAX * 3;
	bn->indirect = need > bn->j.b.vq->size;
	if (bn->indirect && !bn->j.b.indirect)
		return guest_fail(bn->j.g, -ENOSPC, "queue of %u too small for the runs",
				  bn->j.b.vq->size);
	return 0;
}

static int bench_params(struct bench *bn)
{
	struct guest *g = bn->j.g;
	uint64_t span_mb;

	if (cmdline_u64(&g->cmd, "span", 64, 1, 1u << 20, &span_mb) ||
	    cmdline_u64(&g->cmd, "seq-bs", 131072, BENCH_RAND_BS, BENCH_BS_MAX, &bn->seq_bs) ||
	    cmdline_u64(&g->cmd, "seq-qd", 8, 1, BENCH_QD_MAX, &bn->seq_qd) ||
	    cmdline_u64(&g->cmd, "ms", 2000, 100, 600000, &bn->ms) ||
	    bn->seq_bs % BENCH_RAND_BS)
		return guest_fail(g, -EINVAL, "bad parameter");
	bn->span = span_mb << 20;
	if (bn->span > bn->j.b.capacity * VBLK_SECTOR)
		bn->span = bn->j.b.capacity * VBLK_SECTOR / bn->seq_bs * bn->seq_bs;
	if (bn->span < bn->seq_bs * bn->seq_qd)
		return guest_fail(g, -ENOSPC, "disk too small for seq-bs x seq-qd");
	bn->slots = vctx_alloc(bn->j.c, BENCH_QD_MAX * bn->seq_bs, 4096);
	bn->rng = 0x1234567;
	return bn->slots ? bench_ring_fits(bn) : guest_fail(g, -ENOMEM, "out of memory");
}

/* Segments for bs bytes at buf within size_max / seg_max. */
static unsigned bench_segs(const struct bench *bn, uint8_t *buf, uint32_t bs, bool write,
			   struct virtq_sg *sg)
{
	uint32_t max = vblk_max_seg_bytes(&bn->j.b) & ~(BENCH_RAND_BS - 1), off = 0;
	unsigned n = 0;

	if (!max)
		max = BENCH_RAND_BS;
	while (off < bs && n < vblk_max_segs(&bn->j.b)) {
		uint32_t len = bs - off < max ? bs - off : max;

		sg[n++] = (struct virtq_sg){ vctx_pa(bn->j.c, buf + off), len, write };
		off += len;
	}
	return off == bs ? n : 0;
}

static int bench_issue(struct bench *bn, struct bench_run *r, unsigned slot)
{
	struct virtq_sg sg[VBLK_MAX_SEGS];
	uint8_t *buf = bn->slots + (uint64_t)slot * bn->seq_bs;
	uint64_t off;
	unsigned n = bench_segs(bn, buf, r->bs, r->type == VBLK_T_IN, sg);
	int tag;

	if (r->sequential) {
		off = r->next_off % bn->span;
		r->next_off += r->bs;
	} else {
		off = vpat_next(&bn->rng) % (bn->span / r->bs) * r->bs;
	}
	if (!n)
		return guest_fail(bn->j.g, -EINVAL, "bs %u does not fit seg_max/size_max", r->bs);
	tag = vblk_submit(&bn->j.b, r->type, off / VBLK_SECTOR, sg, n, bn->indirect);
	if (tag < 0)
		return guest_fail(bn->j.g, tag, "cannot queue a request");
	r->slot_of[tag] = (uint16_t)slot;
	return 0;
}

static bool bench_more(const struct bench_run *r)
{
	return !tsc_passed(r->deadline);
}

/* Reap one completion and re-issue its slot if there is more (no notify). */
static int bench_reap_one(struct bench *bn, struct bench_run *r, unsigned *inflight)
{
	uint8_t st;
	uint32_t len;
	int tag, ret = vblk_reap(&bn->j.b, &tag, &st, &len);

	if (ret)
		return guest_fail(bn->j.g, ret, "bad used element");
	if (st != VBLK_S_OK)
		return guest_fail(bn->j.g, -EIO, "request failed: %s", vblk_status_name(st));
	r->ops++;
	r->bytes += r->bs;
	(*inflight)--;
	if (!bench_more(r))
		return 0;
	(*inflight)++;
	return bench_issue(bn, r, r->slot_of[tag]);
}

/* Wait for completions (polling); reap every one there is, re-issue their
 * slots, then notify once for the batch, as a driver does. */
static int bench_step(struct bench *bn, struct bench_run *r, unsigned *inflight)
{
	int ret = vctx_wait_used(bn->j.c, bn->j.b.vq, false, BLK_TIMEOUT_MS);

	if (ret)
		return guest_fail(bn->j.g, ret, "request not completed in %u ms", BLK_TIMEOUT_MS);
	do
		ret = bench_reap_one(bn, r, inflight);
	while (!ret && virtq_has_used(bn->j.b.vq));
	virtio_kick(bn->j.b.d, bn->j.b.vq);
	return ret;
}

static int bench_go(struct bench *bn, struct bench_run *r, uint64_t *us)
{
	uint64_t t0;
	unsigned inflight = 0;
	int ret = 0;

	virtq_intr(bn->j.b.vq, false);
	r->deadline = tsc_deadline(&bn->j.c->tsc, bn->ms);
	t0 = tsc_now();
	for (unsigned s = 0; s < r->qd && !ret && bench_more(r); s++) {
		ret = bench_issue(bn, r, s);
		inflight++;
	}
	virtio_kick(bn->j.b.d, bn->j.b.vq);
	while (!ret && inflight)
		ret = bench_step(bn, r, &inflight);
	*us = tsc_to_us(&bn->j.c->tsc, tsc_now() - t0);
	if (!*us)
		*us = 1;
	return ret;
}

static int bench_seq(struct bench *bn, uint32_t type, const char *name)
{
	struct bench_run r = { .type = type, .sequential = true, .bs = (uint32_t)bn->seq_bs,
			       .qd = (unsigned)bn->seq_qd };
	uint64_t us, mbps10;
	int ret = bench_go(bn, &r, &us);

	if (ret)
		return ret;
	mbps10 = r.bytes * 10 / us;
	glog("blk-bench: %s MBps=%lu.%lu bs=%u qd=%u bytes=%lu us=%lu", name, mbps10 / 10,
	     mbps10 % 10, r.bs, r.qd, r.bytes, us);
	return 0;
}

static int bench_rand(struct bench *bn, uint32_t type, unsigned qd, const char *name)
{
	struct bench_run r = { .type = type, .bs = BENCH_RAND_BS, .qd = qd };
	uint64_t us;
	int ret = bench_go(bn, &r, &us);

	if (ret)
		return ret;
	glog("blk-bench: %s IOPS=%lu bs=%u qd=%u ops=%lu us=%lu", name,
	     r.ops * 1000000 / us, r.bs, qd, r.ops, us);
	return 0;
}

int wl_blk_bench(struct guest *g)
{
	struct bench bn = { 0 };
	int ret = blk_job_open(g, &bn.j, false);

	if (!ret && bn.j.b.ro)
		ret = guest_fail(g, -EROFS, "%s is read-only", bn.j.b.d->name);
	if (!ret)
		ret = bench_params(&bn);
	if (ret)
		return ret;
	glog("blk-bench: %s: span %lu MiB, sequential bs %lu qd %lu, random runs %lu ms, "
	     "TSC %lu kHz (%s), polling, %s chains", bn.j.b.d->name, bn.span >> 20,
	     bn.seq_bs, bn.seq_qd, bn.ms, bn.j.c->tsc.hz / 1000, bn.j.c->tsc.source,
	     bn.indirect ? "indirect" : "direct");
	ret = bench_seq(&bn, VBLK_T_OUT, "seq-write");
	if (!ret)
		ret = bench_seq(&bn, VBLK_T_IN, "seq-read");
	if (!ret)
		ret = bench_rand(&bn, VBLK_T_IN, 1, "randread-qd1");
	if (!ret)
		ret = bench_rand(&bn, VBLK_T_IN, BENCH_QD_MAX, "randread-qd32");
	if (!ret)
		ret = bench_rand(&bn, VBLK_T_OUT, 1, "randwrite-qd1");
	if (!ret)
		ret = bench_rand(&bn, VBLK_T_OUT, BENCH_QD_MAX, "randwrite-qd32");
	return ret;
}
