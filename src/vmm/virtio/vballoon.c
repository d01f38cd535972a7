/* vballoon: the virtio memory balloon (virtio 1.x section 5.5, device id 5).
 * Owns the device's state: the host's target (num_pages) and the driver's
 * answer (actual), the statistics the driver last sent and the timer that
 * asks for fresh ones, the page counters, and the work of giving inflated
 * pages back to the host.
 *
 * Queues (numbered by the features offered, as Linux and QEMU do: a queue
 * whose feature is not offered takes no index): 0 inflateq, 1 deflateq,
 * 2 statsq (VIRTIO_BALLOON_F_STATS_VQ, always offered), 3 reporting_vq
 * (VIRTIO_BALLOON_F_REPORTING, offered with free-page-reporting=on).
 *
 * Inflate: each chain's device-readable bytes are le32 page frame numbers
 * of 4 KiB pages. They are read in chunks, sorted, and contiguous runs are
 * discarded with one gmem_discard() each (MADV_DONTNEED on guest RAM: the
 * host memory is freed, the page reads as zero when the guest touches it
 * again). PFNs outside guest RAM are ignored and counted, so a guest cannot
 * make us drop anything but its own RAM. Deflate: nothing to
 * do for memory (without MUST_TELL_HOST the guest may reuse pages at once,
 * and a discarded page simply faults in zeroed); counted. Work per
 * queue_notify is bounded (VBAL_PASS_PFNS); the rest waits for a kick of
 * our own. Free page reporting: every segment of a reported chain is
 * discarded (its whole pages), whichever direction the driver gave it.
 *
 * Statistics: the driver keeps one buffer of (le16 tag, le64 value)
 * entries in statsq. The device parses it when it arrives (at most
 * VBAL_STATS_ENTRIES entries; a trailing partial entry and unknown tags are
 * counted, not kept) and holds it; every stats_period seconds a timerfd on
 * the event loop hands it back (used, length 0), which asks the driver for
 * a fresh one. A second buffer while one is held gives the older back.
 *
 * DEFLATE_ON_OOM is offered: the guest may deflate without being asked
 * when it runs out of memory; nothing changes host-side (deflate needs no
 * permission here). Reset keeps num_pages (the host's target stands: the
 * next driver inflates again, as with QEMU), sets actual to 0, forgets the
 * held stats buffer and stops the timer; discarded pages stay discarded
 * and read as zero. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "gmem.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define VBAL_INFLATEQ 0
#define VBAL_DEFLATEQ 1
#define VBAL_STATSQ 2
#define VBAL_REPORTQ 3
#define VBAL_QUEUE_SIZE 128
#define VBAL_F_STATS_VQ 1
#define VBAL_F_DEFLATE_ON_OOM 2
#define VBAL_F_REPORTING 5
#define VBAL_CFG_SIZE 8           /* num_pages, actual */
#define VBAL_CFG_ACTUAL 4
#define VBAL_PAGE 4096ull
#define VBAL_PFN_CHUNK 512        /* PFNs read, sorted and coalesced at once */
#define VBAL_CHAIN_PFNS 16384     /* PFNs taken from one chain; the rest ignored */
#define VBAL_PASS_PFNS 65536      /* PFNs per queue_notify before we yield */
#define VBAL_PASS_CHAINS 64       /* reported chains per queue_notify */
#define VBAL_STATS_ENTRIES 64     /* entries parsed from one stats buffer */
#define VBAL_STAT_SIZE 10         /* le16 tag + le64 value, packed */
#define VBAL_NTAGS 16

struct vballoon {
	struct virtio_dev *vd;
	const struct gmem *gm;
	struct evloop *loop;
	char id[VIRTIO_ID_MAX];
	unsigned stats_period;
	bool reporting;
	int timer_fd;                 /* -1 without stats polling */
	bool active, failed;
	uint64_t features;
	uint32_t num_pages, actual;
	struct virtqueue_chain *chain;
	bool stats_held;              /* the driver's stats buffer, kept */
	uint16_t stats_head;
	uint64_t stats[VBAL_NTAGS];
	uint32_t stats_seen;          /* bit per tag received */
	uint64_t stats_ns;            /* CLOCK_MONOTONIC of the last buffer */
	struct {
		uint64_t inflated, deflated, ignored, discards, discard_errors;
		uint64_t reported_bytes, stats_updates, stats_requests, unknown_tags;
	} n;
};

/* The guest's statistics by tag (virtio 1.x 5.5.6.3 and later additions). */
static const char *const vbal_tag_names[VBAL_NTAGS] = {
	"swap-in", "swap-out", "major-faults", "minor-faults", "free-memory",
	"total-memory", "available-memory", "disk-caches", "hugetlb-allocations",
	"hugetlb-failures", "oom-kills", "alloc-stalls", "async-scans", "direct-scans",
	"async-reclaims", "direct-reclaims",
};

static uint64_t vbal_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void vbal_fail(struct vballoon *b, unsigned q, struct virtqueue *vq, const char *why)
{
	b->failed = true;
	virtio_dev_fail(b->vd, "queue %u: %s", q, why ? why : virtqueue_reason(vq));
}

static struct virtqueue *vbal_queue(struct vballoon *b, unsigned q)
{
	if (!b->vd || !b->active || b->failed)
		return NULL;
	return virtio_queue(b->vd, q);
}

/* ---- inflate / deflate ---- */

static int vbal_cmp_pfn(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void vbal_discard_run(struct vballoon *b, uint64_t gpa, uint64_t len)
{
	int ret = gmem_discard(b->gm, gpa, len);

	if (ret < 0) {
		if (b->n.discard_errors++ == 0)
			log_warn("%s: cannot discard guest pages 0x%llx+0x%llx: %s", b->id,
				 (unsigned long long)gpa, (unsigned long long)len, strerror(-ret));
		return;
	}
	b->n.discards++;
	b->n.inflated += len / VBAL_PAGE;
}

/* Sort n host-order PFNs and discard them in contiguous runs; PFNs outside
 * guest RAM are counted as ignored (duplicates count once). */
static void vbal_inflate_pfns(struct vballoon *b, uint32_t *pfn, unsigned n)
{
	uint64_t start = 0, len = 0;

	qsort(pfn, n, sizeof(*pfn), vbal_cmp_pfn);
	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = (uint64_t)pfn[i] * VBAL_PAGE;

		if (i > 0 && pfn[i] == pfn[i - 1])
			continue;
		if (!gmem_ptr(b->gm, gpa, VBAL_PAGE)) {
			b->n.ignored++;
			continue;
		}
		if (len && gpa == start + len && gmem_ptr(b->gm, start, len + VBAL_PAGE)) {
			len += VBAL_PAGE;
			continue;
		}
		if (len)
			vbal_discard_run(b, start, len);
		start = gpa;
		len = VBAL_PAGE;
	}
	if (len)
		vbal_discard_run(b, start, len);
}

static void vbal_deflate_pfns(struct vballoon *b, const uint32_t *pfn, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (gmem_ptr(b->gm, (uint64_t)pfn[i] * VBAL_PAGE, VBAL_PAGE))
			b->n.deflated++;
		else
			b->n.ignored++;
	}
}

/* The PFNs of one chain; returns how many were read. */
static uint64_t vbal_pfn_chain(struct vballoon *b, const struct virtqueue_chain *ch,
			       bool inflate)
{
	uint32_t pfn[VBAL_PFN_CHUNK];
	uint64_t total = ch->out_bytes / 4, off = 0;

	if (total > VBAL_CHAIN_PFNS) {
		b->n.ignored += total - VBAL_CHAIN_PFNS;
		total = VBAL_CHAIN_PFNS;
	}
	while (off < total) {
		unsigned n = (unsigned)MIN(total - off, VBAL_PFN_CHUNK);

		virtqueue_chain_read(ch, off * 4, pfn, n * 4);
		for (unsigned i = 0; i < n; i++)
			pfn[i] = le32toh(pfn[i]);
		if (inflate)
			vbal_inflate_pfns(b, pfn, n);
		else
			vbal_deflate_pfns(b, pfn, n);
		off += n;
	}
	return total;
}

/* One queue pass over inflateq or deflateq. */
static void vbal_pfn_queue(struct vballoon *b, unsigned q)
{
	struct virtqueue *vq = vbal_queue(b, q);
	uint64_t done = 0;
	int ret = 0;

	if (!vq)
		return;
	do {
		while (done < VBAL_PASS_PFNS && (ret = virtqueue_pop(vq, b->chain)) > 0) {
			if (b->chain->nin) {
				vbal_fail(b, q, vq, "a PFN buffer has device-writable segments");
				return;
			}
			done += vbal_pfn_chain(b, b->chain, q == VBAL_INFLATEQ) + 1;
			if (virtqueue_push(vq, b->chain->head, 0) < 0) {
				vbal_fail(b, q, vq, NULL);
				return;
			}
		}
		if (ret < 0) {
			vbal_fail(b, q, vq, NULL);
			return;
		}
		virtio_queue_interrupt(b->vd, q);
		if (done >= VBAL_PASS_PFNS) {
			virtio_queue_kick(b->vd, q);
			return;
		}
	} while (virtqueue_rearm(vq));
}

/* ---- free page reporting ---- */

static void vbal_report_seg(struct vballoon *b, const struct iovec *iov)
{
	uint64_t gpa, start, end;

	if (gmem_gpa(b->gm, iov->iov_base, iov->iov_len, &gpa) < 0)
		return;  /* cannot happen: the ring walker checked it */
	start = (gpa + VBAL_PAGE - 1) & ~(VBAL_PAGE - 1);
	end = (gpa + iov->iov_len) & ~(VBAL_PAGE - 1);
	if (end <= start)
		return;
	if (gmem_discard(b->gm, start, end - start) < 0) {
		b->n.discard_errors++;
		return;
	}
	b->n.discards++;
	b->n.reported_bytes += end - start;
}

static void vbal_report_queue(struct vballoon *b)
{
	struct virtqueue *vq = vbal_queue(b, VBAL_REPORTQ);
	unsigned budget = VBAL_PASS_CHAINS;
	int ret = 0;

	if (!vq)
		return;
	do {
		while (budget && (ret = virtqueue_pop(vq, b->chain)) > 0) {
			for (unsigned i = 0; i < b->chain->nout + b->chain->nin; i++)
				vbal_report_seg(b, &b->chain->iov[i]);
			budget--;
			if (virtqueue_push(vq, b->chain->head, 0) < 0) {
				vbal_fail(b, VBAL_REPORTQ, vq, NULL);
				return;
			}
		}
		if (ret < 0) {
			vbal_fail(b, VBAL_REPORTQ, vq, NULL);
			return;
		}
		virtio_queue_interrupt(b->vd, VBAL_REPORTQ);
		if (!budget) {
			virtio_queue_kick(b->vd, VBAL_REPORTQ);
			return;
		}
	} while (virtqueue_rearm(vq));
}

/* ---- statistics ---- */

static void vbal_parse_stats(struct vballoon *b, const struct virtqueue_chain *ch)
{
	uint64_t n = ch->out_bytes / VBAL_STAT_SIZE;
	uint8_t e[VBAL_STAT_SIZE];

	if (n > VBAL_STATS_ENTRIES)
		n = VBAL_STATS_ENTRIES;
	if (ch->out_bytes % VBAL_STAT_SIZE || ch->out_bytes / VBAL_STAT_SIZE > n)
		b->n.unknown_tags++;  /* a partial entry, or more than we read */
	for (uint64_t i = 0; i < n; i++) {
		uint16_t tag;
		uint64_t val;

		virtqueue_chain_read(ch, i * VBAL_STAT_SIZE, e, sizeof(e));
		memcpy(&tag, e, 2);
		memcpy(&val, e + 2, 8);
		tag = le16toh(tag);
		if (tag >= VBAL_NTAGS) {
			b->n.unknown_tags++;
			continue;
		}
		b->stats[tag] = le64toh(val);
		b->stats_seen |= 1u << tag;
	}
	b->stats_ns = vbal_now_ns();
	b->n.stats_updates++;
}

/* Hand the held buffer back: the driver refills it with fresh numbers. */
static int vbal_stats_release(struct vballoon *b, struct virtqueue *vq)
{
	if (!b->stats_held)
		return 0;
	b->stats_held = false;
	if (virtqueue_push(vq, b->stats_head, 0) < 0) {
		vbal_fail(b, VBAL_STATSQ, vq, NULL);
		return -EINVAL;
	}
	virtio_queue_interrupt(b->vd, VBAL_STATSQ);
	return 0;
}

static void vbal_stats_queue(struct vballoon *b)
{
	struct virtqueue *vq = vbal_queue(b, VBAL_STATSQ);
	unsigned budget = VBAL_QUEUE_SIZE;
	int ret = 0;

	if (!vq)
		return;
	do {
		while (budget && (ret = virtqueue_pop(vq, b->chain)) > 0) {
			budget--;
			if (b->chain->nin) {
				vbal_fail(b, VBAL_STATSQ, vq, "a stats buffer has device-writable "
					  "segments");
				return;
			}
			vbal_parse_stats(b, b->chain);
			if (vbal_stats_release(b, vq) < 0)
				return;
			b->stats_held = true;
			b->stats_head = b->chain->head;
		}
		if (ret < 0) {
			vbal_fail(b, VBAL_STATSQ, vq, NULL);
			return;
		}
		if (!budget) {  /* a driver that keeps posting: later */
			virtio_queue_kick(b->vd, VBAL_STATSQ);
			return;
		}
	} while (virtqueue_rearm(vq));
}

/* The stats timer (event-loop thread, device lock not held). */
static void vbal_on_timer(void *opaque, uint32_t events)
{
	struct vballoon *b = opaque;
	uint64_t ticks;
	struct virtqueue *vq;

	if (read(b->timer_fd, &ticks, sizeof(ticks)) != sizeof(ticks) || !b->vd)
		return;
	pthread_mutex_lock(virtio_dev_lock(b->vd));
	vq = vbal_queue(b, VBAL_STATSQ);
	if (vq && b->stats_held) {
		b->n.stats_requests++;
		(void)vbal_stats_release(b, vq);
	}
	pthread_mutex_unlock(virtio_dev_lock(b->vd));
}

static void vbal_timer_arm(struct vballoon *b, bool on)
{
	struct itimerspec its = { 0 };

	if (b->timer_fd < 0)
		return;
	if (on) {
		its.it_value.tv_sec = (time_t)b->stats_period;
		its.it_interval.tv_sec = (time_t)b->stats_period;
	}
	(void)timerfd_settime(b->timer_fd, 0, &its, NULL);
}

/* ---- ops ---- */

static void vbal_cfg_read(void *dev, unsigned off, void *data, unsigned size)
{
	const struct vballoon *b = dev;
	uint32_t cfg[2] = { htole32(b->num_pages), htole32(b->actual) };

	virtio_cfg_copy(cfg, sizeof(cfg), off, data, size);
}

/* Only actual (bytes 4-7) is the driver's to write; any part of it. */
static void vbal_cfg_write(void *dev, unsigned off, const void *data, unsigned size)
{
	struct vballoon *b = dev;
	uint8_t cfg[VBAL_CFG_SIZE];
	uint32_t actual = htole32(b->actual);

	memset(cfg, 0, sizeof(cfg));
	memcpy(cfg + VBAL_CFG_ACTUAL, &actual, 4);
	for (unsigned i = 0; i < size && off + i < sizeof(cfg); i++) {
		if (off + i >= VBAL_CFG_ACTUAL)
			cfg[off + i] = ((const uint8_t *)data)[i];
	}
	memcpy(&actual, cfg + VBAL_CFG_ACTUAL, 4);
	b->actual = le32toh(actual);
}

static int vbal_activate(void *dev, uint64_t features)
{
	struct vballoon *b = dev;

	b->features = features;
	b->active = true;
	b->failed = false;
	b->stats_held = false;
	if (virtio_has_feature(features, VBAL_F_STATS_VQ) && b->stats_period)
		vbal_timer_arm(b, true);
	return 0;
}

static void vbal_queue_notify(void *dev, unsigned q)
{
	struct vballoon *b = dev;

	switch (q) {
	case VBAL_INFLATEQ:
	case VBAL_DEFLATEQ:
		vbal_pfn_queue(b, q);
		break;
	case VBAL_STATSQ:
		vbal_stats_queue(b);
		break;
	case VBAL_REPORTQ:
		vbal_report_queue(b);
		break;
	}
}

static void vbal_reset(void *dev)
{
	struct vballoon *b = dev;

	vbal_timer_arm(b, false);
	b->active = false;
	b->failed = false;
	b->stats_held = false;
	b->actual = 0;
}

static json_t *vbal_guest_stats(const struct vballoon *b)
{
	json_t *o = json_object();

	for (unsigned t = 0; o && t < VBAL_NTAGS; t++) {
		if (b->stats_seen & (1u << t))
			json_object_set_new(o, vbal_tag_names[t], json_integer((json_int_t)b->stats[t]));
	}
	return o;
}

static void vbal_query(void *dev, json_t *obj)
{
	const struct vballoon *b = dev;
	uint64_t ram = gmem_size(b->gm);
	uint64_t want = (uint64_t)b->num_pages * VBAL_PAGE;

	json_object_set_new(obj, "target", json_integer((json_int_t)(want < ram ? ram - want : 0)));
	json_object_set_new(obj, "actual", json_integer((json_int_t)(ram - MIN(ram,
		(uint64_t)b->actual * VBAL_PAGE))));
	json_object_set_new(obj, "num-pages", json_integer(b->num_pages));
	json_object_set_new(obj, "actual-pages", json_integer(b->actual));
	json_object_set_new(obj, "stats-period", json_integer(b->stats_period));
	json_object_set_new(obj, "free-page-reporting", json_boolean(b->reporting));
	json_object_set_new(obj, "guest-stats", vbal_guest_stats(b));
	json_object_set_new(obj, "stats-age", b->stats_ns ?
		json_real((double)(vbal_now_ns() - b->stats_ns) / 1e9) : json_null());
	json_object_set_new(obj, "stats", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"inflated-pages", (json_int_t)b->n.inflated,
		"deflated-pages", (json_int_t)b->n.deflated,
		"ignored-pfns", (json_int_t)b->n.ignored,
		"discards", (json_int_t)b->n.discards,
		"discard-errors", (json_int_t)b->n.discard_errors,
		"reported-bytes", (json_int_t)b->n.reported_bytes,
		"stats-updates", (json_int_t)b->n.stats_updates,
		"stats-requests", (json_int_t)b->n.stats_requests,
		"stats-malformed", (json_int_t)b->n.unknown_tags));
}

/* The guest should keep target bytes: ask for the shortfall, in pages
 * (rounded up), and tell the driver. */
static int vbal_balloon_set(void *dev, uint64_t target)
{
	struct vballoon *b = dev;
	uint64_t ram = gmem_size(b->gm), pages;

	if (target > ram)
		return -ERANGE;
	pages = (ram - target + VBAL_PAGE - 1) / VBAL_PAGE;
	b->num_pages = (uint32_t)MIN(pages, UINT32_MAX);
	if (b->vd)
		virtio_config_changed(b->vd);
	return 0;
}

static void vbal_free(struct vballoon *b)
{
	if (b->timer_fd >= 0) {
		if (b->loop)
			(void)evloop_del(b->loop, b->timer_fd);
		close(b->timer_fd);
	}
	virtqueue_chain_free(b->chain);
	free(b);
}

static void vbal_destroy(void *dev)
{
	vbal_free(dev);
}

static const struct virtio_device_ops vbal_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.cfg_read = vbal_cfg_read,
	.cfg_write = vbal_cfg_write,
	.activate = vbal_activate,
	.queue_notify = vbal_queue_notify,
	.reset = vbal_reset,
	.query = vbal_query,
	.balloon_set = vbal_balloon_set,
	.destroy = vbal_destroy,
};

/* ---- create ---- */

static int vbal_timer_open(struct vballoon *b)
{
	int ret;

	if (!b->stats_period || !b->loop)
		return 0;
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (b->timer_fd < 0)
		return -errno;
	ret = evloop_add(b->loop, b->timer_fd, EPOLLIN, vbal_on_timer, b);
	if (ret < 0) {
		close(b->timer_fd);
		b->timer_fd = -1;
	}
	return ret;
}

int vballoon_create(const struct virtio_env *env, const struct config_balloon *cfg,
		    struct virtio_dev_info *info)
{
	struct vballoon *b = calloc(1, sizeof(*b));
	int ret = -ENOMEM;

	if (!b)
		goto fail;
	b->timer_fd = -1;
	b->gm = env->gm;
	b->loop = env->loop;
	b->stats_period = cfg->stats_period;
	b->reporting = cfg->free_page_reporting;
	snprintf(b->id, sizeof(b->id), "%s", cfg->id[0] ? cfg->id : "balloon0");
	b->chain = virtqueue_chain_new(VBAL_QUEUE_SIZE);
	if (!b->chain)
		goto fail;
	ret = vbal_timer_open(b);
	if (ret < 0)
		goto fail;
	*info = (struct virtio_dev_info){
		.ops = &vbal_ops, .dev = b, .handle = &b->vd,
		.nqueues = b->reporting ? 4 : 3, .queue_max = VBAL_QUEUE_SIZE,
		.features = (1ull << VBAL_F_STATS_VQ) | (1ull << VBAL_F_DEFLATE_ON_OOM) |
			    (b->reporting ? 1ull << VBAL_F_REPORTING : 0),
		.cfg_size = VBAL_CFG_SIZE,
	};
	snprintf(info->id, sizeof(info->id), "%s", b->id);
	return 0;
fail:
	log_error("%s: %s", cfg->id[0] ? cfg->id : "balloon0", strerror(-ret));
	if (b)
		vbal_free(b);
	return ret;
}
