/* wl_balloon: the balloon workload. Writes a pattern over `mib=` MiB of free
 * RAM above the drivers' arena (every page touched, so the host really
 * holds it), prints `balloon: ready`, waits for a configuration interrupt
 * with num_pages > 0, inflates exactly num_pages pages of that span
 * (buffers of 256 PFNs, actual updated after each), prints `balloon:
 * inflated N`, waits for num_pages to drop back to 0, deflates them all,
 * prints `balloon: deflated N zero=Z` (Z: pages that read as zero, i.e.
 * the host discarded them), then writes and verifies a fresh pattern over
 * the whole span. The statistics buffer (if negotiated) is refilled
 * whenever the device hands it back while we wait. `poll=1` (the default
 * for a device without MSI-X, e.g. QEMU's) spins on the configuration and
 * the used rings instead of sleeping on interrupts; the configuration
 * change must still be signalled: by its MSI-X vector, or without MSI-X
 * by the ISR's configuration bit. */
#include "glog.h"
#include "io.h"
#include "lib.h"
#include "vctx.h"
#include "vdev_balloon.h"
#include "vpat.h"
#include "wl_balloon.h"

#define SPAN_ALIGN   0x200000ULL  /* the span starts 2 MiB aligned */
#define WORD_MIX     0x9e3779b97f4a7c15ULL

struct bal_run {
	struct vctx *c;
	struct vbal b;
	uint64_t span, npages;      /* first page's address, pages in the span */
	uint64_t timeout_ms;
	uint64_t cfg_irqs;          /* configuration interrupts seen so far */
	bool isr_cfg;               /* no MSI-X: the ISR said the config changed */
	uint32_t inflated;
};

static uint64_t bal_word(uint64_t addr, uint64_t seed)
{
	return (addr * WORD_MIX) ^ seed;
}

static void bal_write(const struct bal_run *r, uint64_t seed)
{
	volatile uint64_t *p = (volatile uint64_t *)(uintptr_t)r->span;

	for (uint64_t i = 0; i < r->npages * VBAL_PAGE / 8; i++)
		p[i] = bal_word(r->span + 8 * i, seed);
}

/* Index of the first wrong word + 1, or 0. */
static uint64_t bal_check(const struct bal_run *r, uint64_t seed)
{
	const volatile uint64_t *p = (const volatile uint64_t *)(uintptr_t)r->span;

	for (uint64_t i = 0; i < r->npages * VBAL_PAGE / 8; i++)
		if (p[i] != bal_word(r->span + 8 * i, seed))
			return i + 1;
	return 0;
}

static int bal_span(struct guest *g, struct bal_run *r, uint64_t mib)
{
	uint64_t start = (r->c->dma.base_pa + r->c->dma.size + SPAN_ALIGN - 1) &
			 ~(SPAN_ALIGN - 1);
	uint64_t end = platform_ram_end(&g->plat, start);

	if (end > VCTX_RAM_LIMIT)
		end = VCTX_RAM_LIMIT;
	if (end < start + (mib << 20))
		return guest_fail(g, -ENOMEM, "need %lu MiB of RAM from 0x%lx (RAM ends at 0x%lx)",
				  mib, start, end);
	r->span = start;
	r->npages = (mib << 20) / VBAL_PAGE;
	return 0;
}

/* Was a configuration change signalled since bal_cfg_mark()? */
static bool bal_cfg_seen(struct bal_run *r)
{
	if (r->b.d->msix.nvec)
		return virtio_cfg_irqs(r->b.d) > r->cfg_irqs;
	if (virtio_isr(r->b.d) & 2)
		r->isr_cfg = true;
	return r->isr_cfg;
}

static void bal_cfg_mark(struct bal_run *r)
{
	r->cfg_irqs = virtio_cfg_irqs(r->b.d);
	r->isr_cfg = false;
}

/* Done callback of the waits: serve the statistics buffer, then test. */
static bool bal_want_inflate(void *arg)
{
	struct bal_run *r = arg;

	vbal_stats_service(&r->b);
	return vbal_num_pages(&r->b) > 0 && bal_cfg_seen(r);
}

static bool bal_want_deflate(void *arg)
{
	struct bal_run *r = arg;

	vbal_stats_service(&r->b);
	return vbal_num_pages(&r->b) == 0 && bal_cfg_seen(r);
}

/* Until done(r): asleep between interrupts, or spinning with r->b.poll. */
static int bal_wait(struct bal_run *r, bool (*done)(void *))
{
	uint64_t end;

	if (!r->b.poll)
		return vctx_wait(r->c, done, r, r->timeout_ms);
	end = tsc_deadline(&r->c->tsc, r->timeout_ms);
	while (!done(r)) {
		if (tsc_passed(end))
			return -ETIMEDOUT;
		io_pause();
	}
	return 0;
}

/* Send pages [0, n) of the span, VBAL_BATCH at a time; actual follows. */
static int bal_move(struct bal_run *r, bool inflate, uint32_t n)
{
	uint32_t pfn[VBAL_BATCH];

	for (uint32_t done = 0; done < n;) {
		unsigned k = n - done < VBAL_BATCH ? n - done : VBAL_BATCH;
		int ret;

		for (unsigned i = 0; i < k; i++)
			pfn[i] = (uint32_t)(r->span / VBAL_PAGE + done + i);
		ret = vbal_send(&r->b, inflate, pfn, k);
		if (ret)
			return ret;
		done += k;
		vbal_set_actual(&r->b, inflate ? done : n - done);
	}
	return 0;
}

static uint32_t bal_zero_pages(const struct bal_run *r, uint32_t n)
{
	uint32_t z = 0;

	for (uint32_t i = 0; i < n; i++)
		z += vpat_is_zero((const uint8_t *)(uintptr_t)(r->span + (uint64_t)i * VBAL_PAGE),
				  VBAL_PAGE);
	return z;
}

static void bal_stats(struct bal_run *r, struct guest *g, uint64_t free_pages)
{
	vbal_stats_set(&r->b, 4, free_pages * VBAL_PAGE);     /* free-memory */
	vbal_stats_set(&r->b, 5, platform_ram_top(&g->plat)); /* total-memory */
	vbal_stats_set(&r->b, 6, free_pages * VBAL_PAGE);     /* available-memory */
}

static int bal_inflate(struct guest *g, struct bal_run *r)
{
	uint32_t want;
	int ret;

	bal_cfg_mark(r);
	glog("balloon: ready mib=%lu pages=%lu span=0x%lx", r->npages * VBAL_PAGE >> 20,
	     r->npages, r->span);
	if (bal_wait(r, bal_want_inflate))
		return guest_fail(g, -ETIMEDOUT, "no configuration interrupt with num_pages > 0 "
				  "within %lu ms", r->timeout_ms);
	bal_cfg_mark(r);  /* the host may ask for the deflate as soon as actual is reached */
	want = vbal_num_pages(&r->b);
	if (want > r->npages)
		return guest_fail(g, -ENOSPC, "the host wants %u pages, the span has %lu", want,
				  r->npages);
	ret = bal_move(r, true, want);
	if (ret)
		return guest_fail(g, ret, "inflate failed");
	r->inflated = want;
	bal_stats(r, g, r->npages - want);
	glog("balloon: inflated %u", want);
	return 0;
}

static int bal_deflate(struct guest *g, struct bal_run *r)
{
	int ret;

	if (bal_wait(r, bal_want_deflate))
		return guest_fail(g, -ETIMEDOUT, "num_pages did not return to 0 within %lu ms "
				  "(it is %u)", r->timeout_ms, vbal_num_pages(&r->b));
	ret = bal_move(r, false, r->inflated);
	if (ret)
		return guest_fail(g, ret, "deflate failed");
	bal_stats(r, g, r->npages);
	glog("balloon: deflated %u zero=%u", r->inflated, bal_zero_pages(r, r->inflated));
	return 0;
}

int wl_balloon(struct guest *g)
{
	struct bal_run r = { 0 };
	struct virtio_dev *d;
	uint64_t mib, bad, poll;
	int ret;

	if (cmdline_u64(&g->cmd, "mib", 64, 1, 2048, &mib) ||
	    cmdline_u64(&g->cmd, "timeout", 300000, 100, 3600000, &r.timeout_ms) ||
	    cmdline_u64(&g->cmd, "poll", 2, 0, 2, &poll))
		return guest_fail(g, -EINVAL, "bad parameter");
	ret = vctx_create(g, &r.c);
	if (ret)
		return ret;
	d = vctx_dev(r.c, VIRTIO_ID_BALLOON, 0);
	if (!d)
		return guest_fail(g, -ENODEV, "no virtio-balloon device");
	if (bal_span(g, &r, mib))
		return -ENOMEM;
	r.b.poll = poll == 2 ? !d->msix.nvec : poll == 1;
	ret = vbal_open(r.c, d, &r.b);
	if (ret)
		return guest_fail(g, ret, "cannot initialise %s", d->name);
	glog("balloon: %s features 0x%lx, statistics %s, %s", d->name, d->features,
	     r.b.stats ? "on" : "off", r.b.poll ? "polled" : "interrupts");
	bal_write(&r, 1);
	if (bal_check(&r, 1))
		return guest_fail(g, -EIO, "the first pattern does not read back");
	bal_stats(&r, g, r.npages);
	ret = bal_inflate(g, &r);
	if (!ret)
		ret = bal_deflate(g, &r);
	if (ret)
		return ret;
	bal_write(&r, 2);
	bad = bal_check(&r, 2);
	if (bad)
		return guest_fail(g, -EIO, "the span does not hold the fresh pattern at 0x%lx",
				  r.span + 8 * (bad - 1));
	vbal_stats_service(&r.b);
	return 0;
}
