/* wl_hostile: the hostile-ring workload. For every virtio device (or the
 * ones named by devs=) and every kind of malformed ring (or kinds=), one
 * per device reset: initialise the device, hand it the malformed chain on
 * its attack queue (rng: requests; blk: requests; net: transmit; console:
 * port-0 transmit; vsock: transmit), notify, and check that the device sets
 * DEVICE_NEEDS_RESET and raises a configuration-change interrupt; then
 * that another device still completes a good request, and that after a
 * reset and re-initialisation the attacked device does too. One line per
 * device and kind: "hostile-ring: DEV KIND ok" or what went wrong. */
#include "glog.h"
#include "kshared.h"
#include "lib.h"
#include "vctx.h"
#include "vdev_blk.h"
#include "vdev_console.h"
#include "vdev_net.h"
#include "vdev_rng.h"
#include "vdev_vsock.h"
#include "wl_virtio.h"

#define HR_QUEUE_MAX    256
#define HR_PROBE_MS     5000
#define HR_SCRATCH      0x10000
#define HR_TABLE_BYTES  ((VIRTQ_MAX_SIZE + 2) * VIRTQ_DESC_SIZE)
#define HR_BUF          512
#define HR_WRAP_ADDR    0xfffffffffffff000ULL
#define HR_WRAP_LEN     0x2000u
#define HR_FAR          0x1000000000ULL      /* 64 GiB past RAM and the hole */
#define HR_MAX_SEGS     6
#define HR_VSOCK_BUF    4096
#define HR_VSOCK_DATA   64
#define HR_VSOCK_PORT   0x7000      /* local ports of the vsock probes */

/* One device under test and its driver. */
struct hr_dev {
	struct virtio_dev *d;
	union {
		struct vrng rng;
		struct vblk blk;
		struct vnet net;
		struct vcons cons;
		struct vvsock vs;
	} u;
	uint16_t attack_q;
	bool device_writes;             /* the device writes on the attack queue */
};

/* A well-formed request for the attack queue, as segments. */
struct hr_tpl {
	unsigned n;
	unsigned data;                  /* the segment the address kinds corrupt */
	struct virtq_sg seg[HR_MAX_SEGS];
};

struct hr_job {
	struct guest *g;
	struct vctx *c;
	uint64_t ms;
	char kinds[128], devs[128], skip[256];
	unsigned ndevs;
	struct hr_dev *dev;             /* [ndevs] */
	uint8_t *scratch;               /* request buffers */
	volatile struct virtq_desc *table, *table2;
	uint64_t far_addr;
	unsigned ok, bad, skipped;
	char first_bad[96];
	uint32_t vsock_probes;          /* local port of the next vsock probe */
};

/* ---- per device type: open, probe, template ---- */

static int hr_open(struct hr_job *j, struct hr_dev *h)
{
	switch ((enum virtio_id)h->d->id) {
	case VIRTIO_ID_RNG:
		return vrng_open(j->c, h->d, &h->u.rng);
	case VIRTIO_ID_BLK:
		return vblk_open(j->c, h->d, &h->u.blk, HR_QUEUE_MAX);
	case VIRTIO_ID_NET:
		return vnet_open(j->c, h->d, &h->u.net, 0, HR_QUEUE_MAX, true);
	case VIRTIO_ID_CONSOLE:
		return vcons_open(j->c, h->d, &h->u.cons);
	case VIRTIO_ID_VSOCK:
		return vvsock_open(j->c, h->d, &h->u.vs, HR_VSOCK_BUF, HR_VSOCK_BUF, HR_QUEUE_MAX);
	}
	return -ENODEV;
}

/* A REQUEST to host port 1 (nobody listens there): the answer must be
 * our RST (packets before it are skipped). */
static int hr_vsock_probe(struct hr_job *j, struct vvsock *v)
{
	uint32_t port = HR_VSOCK_PORT + j->vsock_probes++;
	struct vsock_hdr h = { .src_cid = v->cid, .dst_cid = VSOCK_HOST_CID, .src_port = port,
			       .dst_port = 1, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_REQUEST,
			       .buf_alloc = HR_VSOCK_BUF };
	uint64_t end = tsc_deadline(&j->c->tsc, HR_PROBE_MS);
	const uint8_t *data;
	int ret = vvsock_send(v, &h);

	vvsock_flush(v);
	while (!ret) {
		ret = vctx_wait_used(j->c, v->rx, true, HR_PROBE_MS);
		ret = ret ? ret : vvsock_recv(v, &h, &data);
		if (!ret && h.op == VSOCK_OP_RST && h.dst_port == port)
			break;
		ret = ret ? ret : vvsock_recv_done(v);
		ret = ret ? ret : tsc_passed(end) ? -ETIMEDOUT : 0;
	}
	vvsock_recv_done(v);
	ret = ret ? ret : vctx_wait_used(j->c, v->tx, true, HR_PROBE_MS);
	return ret ? ret : vvsock_tx_reap(v) > 0 ? 0 : -EIO;
}

static int hr_net_probe(struct hr_job *j, struct vnet *n)
{
	uint8_t frame[60] = { 0 };
	int ret;

	__builtin_memset(frame, 0xff, 6);
	__builtin_memcpy(frame + 6, n->mac, 6);
	frame[12] = 0x88;
	frame[13] = 0xb7;
	ret = vnet_send(n, frame, sizeof(frame));
	if (!ret)
		ret = vctx_wait_used(j->c, n->tx, true, HR_PROBE_MS);
	if (!ret)
		ret = vnet_tx_reap(n) > 0 ? 0 : -EIO;
	return ret;
}

/* A good request on an open device: 0 if it completed correctly. */
static int hr_probe(struct hr_job *j, struct hr_dev *h)
{
	static const char line[] = "testguest: hostile-ring probe\n";
	struct virtq_sg sg = { vctx_pa(j->c, j->scratch), HR_BUF, true };
	uint32_t got;
	uint8_t st;
	int ret;

	switch ((enum virtio_id)h->d->id) {
	case VIRTIO_ID_RNG:
		ret = vrng_read(&h->u.rng, j->scratch, 64, true, &got);
		return ret ? ret : got ? 0 : -EIO;
	case VIRTIO_ID_BLK:
		ret = vblk_sync(&h->u.blk, VBLK_T_IN, 0, &sg, 1, false, true, &st);
		return ret ? ret : st == VBLK_S_OK ? 0 : -EIO;
	case VIRTIO_ID_NET:
		return hr_net_probe(j, &h->u.net);
	case VIRTIO_ID_CONSOLE:
		return vcons_write(&h->u.cons, line, sizeof(line) - 1, HR_PROBE_MS);
	case VIRTIO_ID_VSOCK:
		return hr_vsock_probe(j, &h->u.vs);
	}
	return -ENODEV;
}

static void hr_seg(struct hr_tpl *t, uint64_t addr, uint32_t len, bool write)
{
	t->seg[t->n++] = (struct virtq_sg){ addr, len, write };
}

/* The well-formed request of each device type (buffers in scratch). */
static void hr_template(struct hr_job *j, const struct hr_dev *h, struct hr_tpl *t)
{
	uint64_t pa = vctx_pa(j->c, j->scratch);
	struct vblk_hdr *bh = (void *)(j->scratch + 2 * HR_BUF);
	struct vsock_hdr *vh = (void *)(j->scratch + 2 * HR_BUF);

	*t = (struct hr_tpl){ 0 };
	switch ((enum virtio_id)h->d->id) {
	case VIRTIO_ID_RNG:
		hr_seg(t, pa, 64, true);
		break;
	case VIRTIO_ID_BLK:
		*bh = (struct vblk_hdr){ .type = VBLK_T_IN, .sector = 0 };
		hr_seg(t, vctx_pa(j->c, bh), sizeof(*bh), false);
		hr_seg(t, pa, HR_BUF, true);
		hr_seg(t, pa + HR_BUF, 1, true);
		t->data = 1;
		break;
	case VIRTIO_ID_NET:
		__builtin_memset(j->scratch, 0, VNET_HDR_LEN);
		__builtin_memset(j->scratch + VNET_HDR_LEN, 0xff, 6);
		hr_seg(t, pa, VNET_HDR_LEN + 60, false);
		break;
	case VIRTIO_ID_CONSOLE:
		__builtin_memcpy(j->scratch, "hostile-ring!\n", 14);
		hr_seg(t, pa, 14, false);
		break;
	case VIRTIO_ID_VSOCK:
		/* RW of 64 bytes on no connection: header, then the payload. */
		*vh = (struct vsock_hdr){ .src_cid = h->u.vs.cid, .dst_cid = VSOCK_HOST_CID,
					  .src_port = HR_VSOCK_PORT - 1, .dst_port = 1,
					  .len = HR_VSOCK_DATA, .type = VSOCK_TYPE_STREAM,
					  .op = VSOCK_OP_RW };
		hr_seg(t, vctx_pa(j->c, vh), VSOCK_HDR_LEN, false);
		hr_seg(t, pa, HR_VSOCK_DATA, false);
		t->data = 1;
		break;
	}
}

/* ---- building the malformed chains ---- */

static void hr_put(volatile struct virtq_desc *d, const struct virtq_sg *s, uint16_t flags,
		   uint16_t next)
{
	d->addr = s->addr;
	d->len = s->len;
	d->flags = (uint16_t)(flags | (s->write ? VIRTQ_DESC_F_WRITE : 0));
	d->next = next;
}

/* Write t as a linked chain at d[0..n): the last entry links to last_next
 * (with NEXT) if link_last, else ends. */
static void hr_chain(volatile struct virtq_desc *d, const struct hr_tpl *t, bool link_last,
		     uint16_t last_next)
{
	for (unsigned i = 0; i < t->n; i++) {
		bool last = i + 1 == t->n;

		hr_put(&d[i], &t->seg[i], !last || link_last ? VIRTQ_DESC_F_NEXT : 0,
		       (uint16_t)(last ? last_next : i + 1));
	}
}

/* Head 0 of vq: one indirect descriptor for table[0..n). */
static void hr_indirect(struct hr_job *j, struct virtq *vq, uint32_t len)
{
	struct virtq_sg s = { vctx_pa(j->c, j->table), len, false };

	hr_put(&vq->desc[0], &s, VIRTQ_DESC_F_INDIRECT, 0);
}

/* The (mutated) template as a chain at descriptor 0, published. */
static void hr_publish_tpl(struct virtq *vq, const struct hr_tpl *t)
{
	hr_chain(vq->desc, t, false, 0);
	virtq_publish(vq, 0);
}

/* ---- the kinds: each writes and publishes one malformed ring ---- */

typedef void hr_build_fn(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			 struct hr_tpl *t);

/* A data buffer outside RAM (far above RAM and the MMIO hole). */
static void hr_bad_addr(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			struct hr_tpl *t)
{
	(void)h;
	t->seg[t->data].addr = j->far_addr;
	hr_publish_tpl(vq, t);
}

/* A data buffer whose address + length wraps around 2^64. */
static void hr_len_wrap(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			struct hr_tpl *t)
{
	(void)j;
	(void)h;
	t->seg[t->data].addr = HR_WRAP_ADDR;
	t->seg[t->data].len = HR_WRAP_LEN;
	hr_publish_tpl(vq, t);
}

/* The last descriptor links back to the head. */
static void hr_loop(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
		    struct hr_tpl *t)
{
	(void)j;
	(void)h;
	hr_chain(vq->desc, t, true, 0);
	virtq_publish(vq, 0);
}

/* A chain longer than the queue: an indirect table of size + 1 entries. */
static void hr_too_long(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			struct hr_tpl *t)
{
	unsigned n = vq->size + 1u, k = 0;
	struct virtq_sg one = t->seg[t->data];

	(void)h;
	one.len = 1;
	if (t->data)                            /* blk: header first */
		hr_put(&j->table[k++], &t->seg[0], VIRTQ_DESC_F_NEXT, 1);
	for (; k + 1 < n; k++)
		hr_put(&j->table[k], &one, VIRTQ_DESC_F_NEXT, (uint16_t)(k + 1));
	hr_put(&j->table[k], &t->seg[t->n - 1], 0, 0);
	hr_indirect(j, vq, n * VIRTQ_DESC_SIZE);
	virtq_publish(vq, 0);
}

/* An indirect table whose only entry is itself indirect. */
static void hr_nested(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
		      struct hr_tpl *t)
{
	struct virtq_sg inner = { vctx_pa(j->c, j->table2), t->n * VIRTQ_DESC_SIZE, false };

	(void)h;
	hr_chain(j->table2, t, false, 0);
	hr_put(&j->table[0], &inner, VIRTQ_DESC_F_INDIRECT, 0);
	hr_indirect(j, vq, VIRTQ_DESC_SIZE);
	virtq_publish(vq, 0);
}

/* An indirect descriptor whose length is not a multiple of 16. */
static void hr_indirect_len(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			    struct hr_tpl *t)
{
	(void)h;
	hr_chain(j->table, t, false, 0);
	hr_indirect(j, vq, t->n * VIRTQ_DESC_SIZE + 8);
	virtq_publish(vq, 0);
}

/* Every buffer the device should write is device-readable (or, where the
 * device reads, every buffer is device-writable). */
static void hr_wrong_dir(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			 struct hr_tpl *t)
{
	(void)j;
	for (unsigned i = 0; i < t->n; i++)
		if (t->seg[i].write == h->device_writes)
			t->seg[i].write = !h->device_writes;
	hr_publish_tpl(vq, t);
}

/* A device-readable segment after a device-writable one. */
static void hr_rw_order(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			struct hr_tpl *t)
{
	uint64_t pa = vctx_pa(j->c, j->scratch) + 3 * HR_BUF;
	unsigned at = t->data + 1;

	(void)h;
	for (unsigned i = t->n; i > at; i--)
		t->seg[i + 1] = t->seg[i - 1];
	t->seg[at] = (struct virtq_sg){ pa, 16, true };
	t->seg[at + 1] = (struct virtq_sg){ pa + 16, 16, false };
	t->n += 2;
	hr_publish_tpl(vq, t);
}

/* The avail index far ahead; every ring entry names a good chain. */
static void hr_avail_ahead(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			   struct hr_tpl *t)
{
	(void)j;
	(void)h;
	hr_chain(vq->desc, t, false, 0);
	for (uint16_t i = 0; i < vq->size; i++)
		vq->avail[2 + i] = 0;
	vq->avail[1] = (uint16_t)(vq->avail_idx + vq->size + 5);
}

/* An avail ring entry past the descriptor table. */
static void hr_bad_head(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			struct hr_tpl *t)
{
	(void)j;
	(void)h;
	hr_chain(vq->desc, t, false, 0);
	virtq_publish(vq, (uint16_t)(vq->size + 7));
}

/* A `next` past the descriptor table. */
static void hr_bad_next(struct hr_job *j, const struct hr_dev *h, struct virtq *vq,
			struct hr_tpl *t)
{
	(void)j;
	(void)h;
	hr_chain(vq->desc, t, true, (uint16_t)(vq->size + 3));
	virtq_publish(vq, 0);
}

static const struct hr_kind {
	const char *name;
	hr_build_fn *build;
	bool indirect;                  /* needs VIRTIO_F_INDIRECT_DESC offered */
} hr_kinds[] = {
	{ "bad-addr", hr_bad_addr, false },
	{ "len-wrap", hr_len_wrap, false },
	{ "loop", hr_loop, false },
	{ "too-long", hr_too_long, true },
	{ "nested-indirect", hr_nested, true },
	{ "indirect-len", hr_indirect_len, true },
	{ "wrong-dir", hr_wrong_dir, false },
	{ "rw-order", hr_rw_order, false },
	{ "avail-ahead", hr_avail_ahead, false },
	{ "bad-head", hr_bad_head, false },
	{ "bad-next", hr_bad_next, false },
};

#define HR_NKINDS (sizeof(hr_kinds) / sizeof(hr_kinds[0]))

/* ---- running one device and kind ---- */

struct hr_watch {
	const struct virtio_dev *d;
	const struct virtq *vq;
	uint64_t cfg_irqs;
};

static bool hr_reacted(void *arg)
{
	const struct hr_watch *w = arg;

	return ((virtio_status(w->d) & VIRTIO_S_NEEDS_RESET) &&
		virtio_cfg_irqs(w->d) != w->cfg_irqs) || virtq_has_used(w->vq);
}

/* What the device did with the malformed ring, into why[] ("" = ok). */
static void hr_attack(struct hr_job *j, struct hr_dev *h, const struct hr_kind *kind, char *why,
		      size_t n)
{
	struct virtq *vq = &h->d->vq[h->attack_q];
	struct hr_watch w = { h->d, vq, virtio_cfg_irqs(h->d) };
	struct hr_tpl t;
	uint8_t st;
	uint32_t len = 0;

	why[0] = '\0';
	virtq_intr(vq, true);
	hr_template(j, h, &t);
	kind->build(j, h, vq, &t);
	virtio_notify(h->d, vq);
	vctx_wait(j->c, hr_reacted, &w, j->ms);
	st = virtio_status(h->d);
	if (virtq_has_used(vq)) {
		len = virtq_used_elem(vq, 0)->len;
		lib_snprintf(why, n, "completed the chain (used len %u), status 0x%x", len, st);
	} else if (!(st & VIRTIO_S_NEEDS_RESET)) {
		lib_snprintf(why, n, "ignored: no NEEDS_RESET in %lu ms (status 0x%x)", j->ms, st);
	} else if (virtio_cfg_irqs(h->d) == w.cfg_irqs) {
		lib_snprintf(why, n, "NEEDS_RESET but no configuration interrupt");
	}
}

/* Another device that is still expected to work, or NULL. */
static struct hr_dev *hr_other(struct hr_job *j, const struct hr_dev *h)
{
	for (unsigned i = 1; i < j->ndevs; i++) {
		struct hr_dev *o = &j->dev[(unsigned)(h - j->dev + i) % j->ndevs];

		if (o != h)
			return o;
	}
	return (struct hr_dev *)0;
}

static void hr_report(struct hr_job *j, const struct hr_dev *h, const struct hr_kind *kind,
		      const char *why)
{
	if (!why[0]) {
		j->ok++;
		glog("hostile-ring: %s %s ok", h->d->name, kind->name);
		return;
	}
	if (!j->bad++)
		lib_snprintf(j->first_bad, sizeof(j->first_bad), "%s %s: %s", h->d->name,
			     kind->name, why);
	glog("hostile-ring: %s %s %s", h->d->name, kind->name, why);
}

/* One device and kind: attack, other device, reset + re-init + probe. */
static int hr_one(struct hr_job *j, struct hr_dev *h, const struct hr_kind *kind)
{
	struct hr_dev *o = hr_other(j, h);
	char why[128];
	int ret = hr_open(j, h);

	if (ret)
		return guest_fail(j->g, ret, "%s: cannot initialise before %s", h->d->name,
				  kind->name);
	hr_attack(j, h, kind, why, sizeof(why));
	if (o && hr_probe(j, o))
		lib_snprintf(why + lib_strlen(why), sizeof(why) - lib_strlen(why),
			     "%s%s stopped working", why[0] ? "; " : "", o->d->name);
	ret = virtio_reset(h->d, &j->c->tsc);
	if (!ret)
		ret = hr_open(j, h);
	if (!ret)
		ret = hr_probe(j, h);
	if (ret)
		lib_snprintf(why + lib_strlen(why), sizeof(why) - lib_strlen(why),
			     "%sdoes not work after reset (%d)", why[0] ? "; " : "", ret);
	hr_report(j, h, kind, why);
	return 0;
}

/* Is this combination excluded by skip= (KIND, DEV:KIND or TYPE:KIND)? */
static bool hr_skipped(const struct hr_job *j, const struct hr_dev *h, const struct hr_kind *k)
{
	char a[48], b[48];

	lib_snprintf(a, sizeof(a), "%s:%s", h->d->name, k->name);
	lib_snprintf(b, sizeof(b), "%s:%s", virtio_id_name(h->d->id), k->name);
	return j->skip[0] && (cmdline_list_has(j->skip, k->name) ||
			      cmdline_list_has(j->skip, a) || cmdline_list_has(j->skip, b));
}

static int hr_device(struct hr_job *j, struct hr_dev *h)
{
	for (unsigned i = 0; i < HR_NKINDS; i++) {
		const struct hr_kind *k = &hr_kinds[i];
		int ret;

		if (!cmdline_list_has(j->kinds, k->name))
			continue;
		if (hr_skipped(j, h, k) ||
		    (k->indirect && !(h->d->offered & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)))) {
			j->skipped++;
			glog("hostile-ring: %s %s skipped", h->d->name, k->name);
			continue;
		}
		ret = hr_one(j, h, k);
		if (ret)
			return ret;
	}
	return 0;
}

/* ---- set-up ---- */

static void hr_attack_queue(struct hr_dev *h)
{
	switch ((enum virtio_id)h->d->id) {
	case VIRTIO_ID_RNG:
	case VIRTIO_ID_BLK:
		h->attack_q = 0;
		h->device_writes = true;
		return;
	case VIRTIO_ID_NET:
	case VIRTIO_ID_CONSOLE:
	case VIRTIO_ID_VSOCK:
		h->attack_q = 1;                /* transmit: the device reads */
		h->device_writes = false;
		return;
	}
}

/* The devices to test (devs=), opened and probed once. */
static int hr_devices(struct hr_job *j)
{
	j->dev = vctx_alloc(j->c, sizeof(*j->dev) * VCTX_MAX_DEVS, 64);
	if (!j->dev)
		return guest_fail(j->g, -ENOMEM, "out of memory");
	for (unsigned i = 0; i < j->c->ndevs; i++) {
		struct virtio_dev *d = &j->c->dev[i];
		struct hr_dev *h = &j->dev[j->ndevs];
		int ret;

		if (((d->id < VIRTIO_ID_NET || d->id > VIRTIO_ID_RNG) && d->id != VIRTIO_ID_VSOCK) ||
		    !(cmdline_list_has(j->devs, d->name) ||
		      cmdline_list_has(j->devs, virtio_id_name(d->id))))
			continue;
		h->d = d;
		hr_attack_queue(h);
		ret = hr_open(j, h);
		if (!ret)
			ret = hr_probe(j, h);
		if (ret)
			return guest_fail(j->g, ret, "%s does not work to begin with", d->name);
		j->ndevs++;
	}
	return j->ndevs ? 0 : guest_fail(j->g, -ENODEV, "no virtio device to test");
}

static int hr_setup(struct guest *g, struct hr_job *j)
{
	uint64_t top = platform_ram_top(&g->plat);

	j->g = g;
	if (cmdline_u64(&g->cmd, "timeout", 2000, 10, 600000, &j->ms) ||
	    cmdline_str(&g->cmd, "kinds", j->kinds, sizeof(j->kinds)) == -E2BIG ||
	    cmdline_str(&g->cmd, "devs", j->devs, sizeof(j->devs)) == -E2BIG ||
	    cmdline_str(&g->cmd, "skip", j->skip, sizeof(j->skip)) == -E2BIG)
		return guest_fail(g, -EINVAL, "bad parameter");
	j->scratch = vctx_alloc(j->c, HR_SCRATCH, 4096);
	j->table = vctx_alloc(j->c, HR_TABLE_BYTES, 16);
	j->table2 = vctx_alloc(j->c, HR_TABLE_BYTES, 16);
	if (!j->scratch || !j->table || !j->table2)
		return guest_fail(g, -ENOMEM, "out of memory");
	j->far_addr = (top > 0x100000000ULL ? top : 0x100000000ULL) + HR_FAR;
	return hr_devices(j);
}

int wl_hostile_ring(struct guest *g)
{
	struct vctx *c;
	int ret;
	struct hr_job *j = vctx_job(g, sizeof(*j), &c, &ret);

	if (!j)
		return ret;
	j->c = c;
	ret = hr_setup(g, j);
	for (unsigned i = 0; !ret && i < j->ndevs; i++)
		ret = hr_device(j, &j->dev[i]);
	if (ret)
		return ret;
	glog("hostile-ring: %u ok, %u not handled, %u skipped (%u devices)", j->ok, j->bad,
	     j->skipped, j->ndevs);
	if (j->bad)
		return guest_fail(g, -EIO, "%u not handled, first: %s", j->bad, j->first_bad);
	return j->ok ? 0 : guest_fail(g, -ENOENT, "nothing was tested");
}
