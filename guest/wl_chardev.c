/* wl_chardev: the rng and console workloads (see README.md): entropy from
 * virtio-rng with interrupt-driven completions (and the MSI-X mask and
 * pending bit), and a line echoed through the first virtio-console port. */
#include "glog.h"
#include "kshared.h"
#include "lib.h"
#include "vctx.h"
#include "vdev_console.h"
#include "vdev_rng.h"
#include "wl_virtio.h"

#define RNG_MIN_DISTINCT 32

struct rng_params {
	uint64_t bytes;
	uint64_t req;
	uint64_t mask;
};

static int rng_params(struct guest *g, struct rng_params *p)
{
	if (cmdline_u64(&g->cmd, "bytes", 4096, 64, 1 << 20, &p->bytes) ||
	    cmdline_u64(&g->cmd, "req", 512, 16, 65536, &p->req) ||
	    cmdline_u64(&g->cmd, "mask", 1, 0, 1, &p->mask))
		return guest_fail(g, -EINVAL, "bad parameter");
	if (p->req > p->bytes)
		p->req = p->bytes;
	return 0;
}

/* Fill buf[0..len) from the device, several reads if it returns less. */
static int rng_fill(struct vrng *r, uint8_t *buf, uint32_t len)
{
	uint32_t done = 0, got;
	int ret;

	while (done < len) {
		ret = vrng_read(r, buf + done, len - done, true, &got);
		if (ret)
			return ret;
		if (got == 0)
			return -EIO;
		done += got;
	}
	return 0;
}

static unsigned rng_distinct(const uint8_t *buf, uint64_t n)
{
	uint8_t seen[256] = { 0 };
	unsigned d = 0;

	for (uint64_t i = 0; i < n; i++) {
		d += !seen[buf[i]];
		seen[buf[i]] = 1;
	}
	return d;
}

static bool rng_irq_seen(void *arg)
{
	const uint64_t *w = arg;

	return kshared.msix[w[0]] != w[1];
}

/* MSI-X masking: a completion on a masked vector only sets its pending
 * bit; unmasking delivers it. */
static int rng_mask_check(struct guest *g, struct vctx *c, struct vrng *r, uint8_t *buf)
{
	struct virtio_dev *d = r->d;
	uint16_t entry = d->msix.nvec > 1 ? 1 : 0;
	uint64_t w[2] = { d->vec_queue, virtio_queue_irqs(d) };
	uint32_t got;
	int ret;

	pci_msix_mask(&d->msix, entry, true);
	virtq_intr(r->vq, true);
	ret = vrng_read(r, buf, 16, false, &got);
	if (!ret)
		vctx_wait(c, rng_irq_seen, w, 50);
	if (ret || virtio_queue_irqs(d) != w[1] || !pci_msix_pending(&d->msix, entry)) {
		pci_msix_mask(&d->msix, entry, false);
		return guest_fail(g, ret ? ret : -EIO, "masked MSI-X entry %u: %s", entry,
				  ret ? "request failed" : virtio_queue_irqs(d) != w[1] ?
				  "the interrupt arrived anyway" : "no pending bit");
	}
	pci_msix_mask(&d->msix, entry, false);
	if (vctx_wait(c, rng_irq_seen, w, 1000))
		return guest_fail(g, -EIO, "unmasking MSI-X entry %u did not deliver", entry);
	glog("rng: %s: masked MSI-X entry %u held the interrupt (pending), unmasking "
	     "delivered it", d->name, entry);
	return 0;
}

static int rng_run(struct guest *g, struct vctx *c, const struct rng_params *p)
{
	struct virtio_dev *d = vctx_dev(c, VIRTIO_ID_RNG, 0);
	uint8_t *buf = vctx_alloc(c, p->bytes, 64);
	uint64_t irqs0, nreq = 0;
	struct vrng r;
	unsigned distinct;
	int ret;

	if (!d || !buf)
		return guest_fail(g, -ENODEV, d ? "out of memory" : "no virtio-rng device");
	ret = vrng_open(c, d, &r);
	if (ret)
		return guest_fail(g, ret, "cannot initialise %s", d->name);
	irqs0 = virtio_queue_irqs(d);
	for (uint64_t off = 0; off < p->bytes; off += p->req, nreq++) {
		uint32_t n = (uint32_t)(p->bytes - off < p->req ? p->bytes - off : p->req);

		ret = rng_fill(&r, buf + off, n);
		if (ret)
			return guest_fail(g, ret, "request %lu failed", nreq);
		if (off && n >= 16 && lib_memeq(buf + off, buf + off - p->req, n < 64 ? n : 64))
			return guest_fail(g, -EIO, "request %lu repeats the one before", nreq);
	}
	distinct = rng_distinct(buf, p->bytes);
	glog("rng: %s: %lu bytes in %lu requests, %u distinct byte values, %lu interrupts",
	     d->name, p->bytes, nreq, distinct, virtio_queue_irqs(d) - irqs0);
	if (distinct < RNG_MIN_DISTINCT)
		return guest_fail(g, -EIO, "only %u distinct byte values", distinct);
	if (virtio_queue_irqs(d) == irqs0)
		return guest_fail(g, -EIO, "no completion interrupt (MSI-X) arrived");
	return p->mask ? rng_mask_check(g, c, &r, buf) : 0;
}

int wl_rng(struct guest *g)
{
	struct rng_params p;
	struct vctx *c;
	int ret = rng_params(g, &p);

	if (ret)
		return ret;
	ret = vctx_create(g, &c);
	return ret ? ret : rng_run(g, c, &p);
}

#define CONSOLE_LINE_MAX 200

/* Read from the port until a newline; line is NUL-terminated without it. */
static int console_read_line(struct vcons *v, char *line, uint64_t ms)
{
	uint8_t buf[VCONS_BUF];
	uint32_t len = 0, n;

	for (;;) {
		int ret = vcons_read(v, buf, sizeof(buf), &n, ms);

		if (ret)
			return ret;
		for (uint32_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				if (len && line[len - 1] == '\r')
					len--;
				line[len] = '\0';
				return 0;
			}
			if (len + 1 >= CONSOLE_LINE_MAX)
				return -E2BIG;
			line[len++] = (char)buf[i];
		}
	}
}

static int console_run(struct guest *g, struct vctx *c, uint64_t ms)
{
	static const char ready[] = "testguest: console-ready\n";
	struct virtio_dev *d = vctx_dev(c, VIRTIO_ID_CONSOLE, 0);
	char line[CONSOLE_LINE_MAX], reply[CONSOLE_LINE_MAX + 8];
	struct vcons v = { 0 };
	int ret, n;

	if (!d)
		return guest_fail(g, -ENODEV, "no virtio-console device");
	ret = vcons_open(c, d, &v);
	if (ret)
		return guest_fail(g, ret, "cannot initialise %s", d->name);
	ret = vcons_write(&v, ready, sizeof(ready) - 1, ms);
	if (ret)
		return guest_fail(g, ret, "%s did not take the ready line", d->name);
	glog("console: %s: ready line sent, waiting for a line", d->name);
	ret = console_read_line(&v, line, ms);
	if (ret)
		return guest_fail(g, ret, "%s", ret == -E2BIG ? "line too long" :
				  "no line arrived on the console");
	n = lib_snprintf(reply, sizeof(reply), "echo:%s\n", line);
	ret = vcons_write(&v, reply, (uint32_t)n, ms);
	if (ret)
		return guest_fail(g, ret, "%s did not take the echo", d->name);
	glog("console: %s: echoed '%s'", d->name, line);
	return 0;
}

int wl_console(struct guest *g)
{
	struct vctx *c;
	uint64_t ms;
	int ret;

	if (cmdline_u64(&g->cmd, "timeout", 30000, 100, 3600000, &ms))
		return guest_fail(g, -EINVAL, "bad parameter");
	ret = vctx_create(g, &c);
	return ret ? ret : console_run(g, c, ms);
}
