/* vvsock: the virtio-vsock device (virtio 1.x, 5.10; device id 19), host
 * side in userspace with Firecracker's unix-socket protocol. This file owns
 * the device: the three queues (rx 0, tx 1, event 2), the packet header,
 * turning guest packets (tx) into connection actions, sending what the
 * connections owe the guest (rx), the configuration (le64 guest_cid), the
 * ops table and create/destroy. The connection table and the unix-socket
 * side are vvsock_conn.c (see vvsock.h).
 *
 * Malformed input, decided once:
 *  - the device fails (virtio_dev_fail, DEVICE_NEEDS_RESET) when a chain
 *    cannot be a packet: a tx chain with device-writable segments, shorter
 *    than the 44-byte header, whose hdr.len exceeds the bytes that follow
 *    or VVSOCK_PKT_MAX; an rx chain with device-readable segments or with
 *    fewer than 44 writable bytes (plus any ring error virtqueue reports);
 *  - a well-formed packet the protocol does not allow (type other than
 *    STREAM, unknown op, REQUEST on a live connection, RESPONSE when none
 *    was asked for, data beyond the credit we gave) gets an RST, and the
 *    connection, if there is one, is dropped;
 *  - a packet whose src_cid is not the guest's or whose dst_cid is not the
 *    host (2) is dropped and counted (an RST to a CID that is not the
 *    guest's would be meaningless).
 * Never an RST in answer to an RST.
 *
 * rx: connections that owe the guest a packet (control bits, or input that
 * the guest's credit allows) sit on a FIFO work list; RSTs for unknown
 * connections wait in a bounded ring (dropped and counted when it is
 * full). vvsock_rx_run serves the ring, then the list round-robin, one
 * packet per rx chain, at most VVSOCK_BUDGET chains per pass. Without rx
 * buffers the work stays queued until the driver kicks the rx queue.
 *
 * The event queue is never used: nothing here needs TRANSPORT_RESET (there
 * is no migration or snapshot; a device reset closes every connection and
 * the driver knows it did it). Its buffers stay with the device. */
#include "virtio/vvsock.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/le.h"
#include "common/log.h"
#include "common/util.h"

/* ---- header ---- */

void vvsock_hdr_decode(const uint8_t raw[VVSOCK_HDR_LEN], struct vvsock_hdr *h)
{
	h->src_cid = le_get64(raw);
	h->dst_cid = le_get64(raw + 8);
	h->src_port = le_get32(raw + 16);
	h->dst_port = le_get32(raw + 20);
	h->len = le_get32(raw + 24);
	h->type = le_get16(raw + 28);
	h->op = le_get16(raw + 30);
	h->flags = le_get32(raw + 32);
	h->buf_alloc = le_get32(raw + 36);
	h->fwd_cnt = le_get32(raw + 40);
}

void vvsock_hdr_encode(const struct vvsock_hdr *h, uint8_t raw[VVSOCK_HDR_LEN])
{
	le_put64(raw, h->src_cid);
	le_put64(raw + 8, h->dst_cid);
	le_put32(raw + 16, h->src_port);
	le_put32(raw + 20, h->dst_port);
	le_put32(raw + 24, h->len);
	le_put16(raw + 28, h->type);
	le_put16(raw + 30, h->op);
	le_put32(raw + 32, h->flags);
	le_put32(raw + 36, h->buf_alloc);
	le_put32(raw + 40, h->fwd_cnt);
}

/* ---- failing ---- */

__attribute__((format(printf, 2, 3)))
static void vvsock_fail(struct vvsock *vs, const char *fmt, ...)
{
	char msg[VIRTQUEUE_REASON_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vs->failed = true;
	virtio_dev_fail(vs->vd, "%s", msg);
}

static void vvsock_queue_fail(struct vvsock *vs, struct virtqueue *vq, const char *qname,
			      int err)
{
	vvsock_fail(vs, "%s queue: %s", qname,
		    virtqueue_broken(vq) ? virtqueue_reason(vq) : strerror(-err));
}

static struct virtqueue *vvsock_queue(struct vvsock *vs, unsigned q)
{
	if (!vs->vd || !vs->active || vs->failed)
		return NULL;
	return virtio_queue(vs->vd, q);
}

/* ---- rx: packets to the guest ---- */

void vvsock_orphan_rst(struct vvsock *vs, uint32_t lport, uint32_t pport)
{
	if (vs->norphans == VVSOCK_ORPHAN_MAX) {
		vs->st.orphans_lost++;
		return;
	}
	vs->orphans[(vs->orphan_head + vs->norphans) % VVSOCK_ORPHAN_MAX] =
		(struct vvsock_orphan){ .lport = lport, .pport = pport };
	vs->norphans++;
}

static void vvsock_hdr_for(const struct vvsock *vs, uint32_t lport, uint32_t pport,
			   enum vvsock_op op, struct vvsock_hdr *h)
{
	*h = (struct vvsock_hdr){ .src_cid = VVSOCK_HOST_CID, .dst_cid = vs->cid,
				  .src_port = lport, .dst_port = pport,
				  .type = VVSOCK_TYPE_STREAM, .op = op };
}

/* The control packet c owes most urgently (its bit is cleared), or
 * VVSOCK_OP_INVALID. */
static enum vvsock_op vvsock_rx_control(struct vvsock_conn *c)
{
	static const struct { uint8_t bit; enum vvsock_op op; } order[] = {
		{ VVSOCK_P_RST, VVSOCK_OP_RST },
		{ VVSOCK_P_REQUEST, VVSOCK_OP_REQUEST },
		{ VVSOCK_P_RESPONSE, VVSOCK_OP_RESPONSE },
		{ VVSOCK_P_SHUTDOWN, VVSOCK_OP_SHUTDOWN },
		{ VVSOCK_P_CREDIT_REQUEST, VVSOCK_OP_CREDIT_REQUEST },
		{ VVSOCK_P_CREDIT_UPDATE, VVSOCK_OP_CREDIT_UPDATE },
	};

	for (size_t i = 0; i < ARRAY_SIZE(order); i++) {
		if (c->pending & order[i].bit) {
			c->pending &= (uint8_t)~order[i].bit;
			return order[i].op;
		}
	}
	return VVSOCK_OP_INVALID;
}

/* The next packet of c into h (payload in vs->bounce): false when c owes
 * nothing after all. Data goes before SHUTDOWN and credit packets, after
 * RST/REQUEST/RESPONSE. */
static bool vvsock_rx_build(struct vvsock *vs, struct vvsock_conn *c, uint64_t room,
			    struct vvsock_hdr *h)
{
	uint32_t n = 0;
	enum vvsock_op op;

	if (!(c->pending & (VVSOCK_P_RST | VVSOCK_P_REQUEST | VVSOCK_P_RESPONSE)) &&
	    c->state == VVSOCK_ESTABLISHED && c->readable && vvsock_h2g_open(c)) {
		uint32_t credit = vvsock_peer_credit(c);

		if (credit && room)
			n = vvsock_conn_read(vs, c, MIN(credit, (uint32_t)MIN(room, VVSOCK_PKT_MAX)));
		else if (!credit && !c->credit_req_sent) {
			c->pending |= VVSOCK_P_CREDIT_REQUEST;
			c->credit_req_sent = true;
		}
	}
	op = n ? VVSOCK_OP_RW : vvsock_rx_control(c);
	if (op == VVSOCK_OP_INVALID)
		return false;
	vvsock_hdr_for(vs, c->lport, c->pport, op, h);
	h->len = n;
	h->flags = op == VVSOCK_OP_SHUTDOWN ? c->local_shut : 0;
	h->buf_alloc = VVSOCK_BUF_ALLOC;
	h->fwd_cnt = c->fwd_cnt;
	c->fwd_cnt_sent = c->fwd_cnt;
	c->pending &= (uint8_t)~VVSOCK_P_CREDIT_UPDATE; /* every packet carries it */
	c->tx_cnt += n;
	return true;
}

/* Write h (and its payload from vs->bounce) into the popped rx chain. */
static int vvsock_rx_put(struct vvsock *vs, struct virtqueue *vq, const struct vvsock_hdr *h)
{
	uint8_t raw[VVSOCK_HDR_LEN];
	int ret;

	vvsock_hdr_encode(h, raw);
	(void)virtqueue_chain_write(vs->rxc, 0, raw, sizeof(raw));
	(void)virtqueue_chain_write(vs->rxc, VVSOCK_HDR_LEN, vs->bounce, h->len);
	ret = virtqueue_push(vq, vs->rxc->head, VVSOCK_HDR_LEN + h->len);
	if (ret < 0) {
		vvsock_queue_fail(vs, vq, "rx", ret);
		return ret;
	}
	vs->st.rx_packets++;
	vs->st.rx_bytes += h->len;
	vs->st.rsts_sent += h->op == VVSOCK_OP_RST;
	return 0;
}

/* Pop an rx chain: 1, 0 (none, kicks re-armed) or -errno (device failed). */
static int vvsock_rx_pop(struct vvsock *vs, struct virtqueue *vq)
{
	int ret = virtqueue_pop(vq, vs->rxc);

	if (ret == 0 && virtqueue_rearm(vq))
		ret = virtqueue_pop(vq, vs->rxc);
	if (ret < 0) {
		vvsock_queue_fail(vs, vq, "rx", ret);
	} else if (ret > 0 && (vs->rxc->nout || vs->rxc->in_bytes < VVSOCK_HDR_LEN)) {
		vvsock_fail(vs, "rx queue: chain %u is not a receive buffer (%u readable "
			    "segments, %llu writable bytes)", vs->rxc->head, vs->rxc->nout,
			    (unsigned long long)vs->rxc->in_bytes);
		ret = -EINVAL;
	}
	return ret;
}

/* One packet from the orphan ring or the work list into the popped chain:
 * 1 sent, 0 nothing left to send (chain given back), -errno. */
static int vvsock_rx_one(struct vvsock *vs, struct virtqueue *vq)
{
	struct vvsock_hdr h;
	struct vvsock_conn *c;

	if (vs->norphans) {
		struct vvsock_orphan o = vs->orphans[vs->orphan_head];

		vs->orphan_head = (vs->orphan_head + 1) % VVSOCK_ORPHAN_MAX;
		vs->norphans--;
		vvsock_hdr_for(vs, o.lport, o.pport, VVSOCK_OP_RST, &h);
		h.buf_alloc = VVSOCK_BUF_ALLOC;
		return vvsock_rx_put(vs, vq, &h) < 0 ? -EIO : 1;
	}
	while ((c = vs->rx_head)) {
		vs->rx_head = c->rxnext;
		if (!vs->rx_head)
			vs->rx_tail = NULL;
		c->on_rx = false;
		if (c->state == VVSOCK_FREE || !vvsock_rx_build(vs, c, vs->rxc->in_bytes -
								VVSOCK_HDR_LEN, &h))
			continue;
		if (vvsock_rx_put(vs, vq, &h) < 0)
			return -EIO;
		if (h.op == VVSOCK_OP_RST) {
			vvsock_conn_free(vs, c);
			return 1;
		}
		if (h.op == VVSOCK_OP_REQUEST)
			vvsock_conn_set_deadline(vs, c); /* the answer is due from now */
		vvsock_conn_want_rx(vs, c);
		return 1;
	}
	(void)virtqueue_unpop(vq);
	return 0;
}

void vvsock_rx_run(struct vvsock *vs)
{
	struct virtqueue *vq = vvsock_queue(vs, VVSOCK_RXQ);
	unsigned n = 0;
	int ret = 1;

	if (!vq)
		return;
	while (n < VVSOCK_BUDGET && (vs->norphans || vs->rx_head)) {
		ret = vvsock_rx_pop(vs, vq);
		if (ret > 0)
			ret = vvsock_rx_one(vs, vq);
		if (ret <= 0)
			break;
		n++;
	}
	if (n)
		virtio_queue_interrupt(vs->vd, VVSOCK_RXQ);
	if (ret > 0 && n == VVSOCK_BUDGET && (vs->norphans || vs->rx_head))
		virtio_queue_kick(vs->vd, VVSOCK_RXQ);
}

/* ---- tx: packets from the guest ---- */

/* Drop the connection (if any) and answer with RST. */
static void vvsock_tx_refuse(struct vvsock *vs, struct vvsock_conn *c, const struct vvsock_hdr *h)
{
	if (c && c->state != VVSOCK_DEAD)
		vvsock_conn_abort(vs, c);
	else if (!c)
		vvsock_orphan_rst(vs, h->dst_port, h->src_port);
}

/* Data beyond the credit we gave (or no memory to keep it): reset. */
static void vvsock_tx_violation(struct vvsock *vs, struct vvsock_conn *c,
				const struct vvsock_hdr *h)
{
	if (h->len > vvsock_own_credit(c)) {
		vs->st.credit_violations++;
		if (!vs->violation_logged)
			log_warn("%s: guest port %u sent beyond its credit: connection reset "
				 "(logged once)", vs->id, h->src_port);
		vs->violation_logged = true;
	}
	vvsock_conn_abort(vs, c);
}

/* A packet of an established (or closing) connection. */
static void vvsock_tx_connected(struct vvsock *vs, struct vvsock_conn *c, const struct vvsock_hdr *h)
{
	switch ((enum vvsock_op)h->op) {
	case VVSOCK_OP_RW:
		if (c->state == VVSOCK_CLOSING || !vvsock_g2h_open(c)) {
			vs->st.dropped++;
		} else if (vvsock_conn_deliver(vs, c, h->len) < 0) {
			vvsock_tx_violation(vs, c, h);
		}
		break;
	case VVSOCK_OP_SHUTDOWN:
		if (c->state == VVSOCK_CLOSING)
			vvsock_conn_abort(vs, c);
		else
			vvsock_conn_guest_shutdown(vs, c, h->flags);
		break;
	case VVSOCK_OP_CREDIT_REQUEST:
		c->pending |= VVSOCK_P_CREDIT_UPDATE;
		break;
	case VVSOCK_OP_CREDIT_UPDATE:
		break;
	case VVSOCK_OP_RST:
	case VVSOCK_OP_REQUEST:
	case VVSOCK_OP_RESPONSE:
	case VVSOCK_OP_INVALID:
		vvsock_conn_abort(vs, c);
		break;
	}
}

/* A packet for a connection the device knows. */
static void vvsock_tx_conn(struct vvsock *vs, struct vvsock_conn *c, const struct vvsock_hdr *h)
{
	if (c->state == VVSOCK_DEAD)
		return; /* our RST is on its way */
	if (h->op == VVSOCK_OP_RST) {
		vs->st.rsts_received++;
		vvsock_conn_free(vs, c);
		return;
	}
	if (c->peer_buf_alloc != h->buf_alloc || c->peer_fwd_cnt != h->fwd_cnt)
		c->credit_req_sent = false;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (c->state == VVSOCK_CONNECTING) {
		if (h->op == VVSOCK_OP_RESPONSE)
			vvsock_conn_established(vs, c);
		else if (h->op != VVSOCK_OP_CREDIT_UPDATE)
			vvsock_conn_abort(vs, c);
	} else {
		vvsock_tx_connected(vs, c, h);
	}
	if (c->state != VVSOCK_FREE)
		vvsock_conn_want_rx(vs, c);
}

/* A packet that parsed: act on it. */
static void vvsock_tx_packet(struct vvsock *vs, const struct vvsock_hdr *h)
{
	struct vvsock_conn *c;

	if (h->src_cid != vs->cid || h->dst_cid != VVSOCK_HOST_CID) {
		vs->st.dropped++;
		if (!vs->drop_logged)
			log_warn("%s: dropped a packet from CID %llu to CID %llu (logged once)", vs->id,
				 (unsigned long long)h->src_cid, (unsigned long long)h->dst_cid);
		vs->drop_logged = true;
		return;
	}
	c = vvsock_conn_find(vs, h->dst_port, h->src_port);
	if (h->type != VVSOCK_TYPE_STREAM || h->op >= VVSOCK_OP_COUNT ||
	    h->op == VVSOCK_OP_INVALID) {
		if (h->op != VVSOCK_OP_RST)
			vvsock_tx_refuse(vs, c, h);
	} else if (c) {
		vvsock_tx_conn(vs, c, h);
	} else if (h->op == VVSOCK_OP_REQUEST) {
		c = vvsock_conn_guest_connect(vs, h->dst_port, h->src_port);
		if (c) {
			c->peer_buf_alloc = h->buf_alloc;
			c->peer_fwd_cnt = h->fwd_cnt;
			vvsock_conn_want_rx(vs, c);
		} else {
			vvsock_orphan_rst(vs, h->dst_port, h->src_port);
		}
	} else if (h->op == VVSOCK_OP_RST) {
		vs->st.rsts_received++;
	} else {
		vvsock_orphan_rst(vs, h->dst_port, h->src_port);
	}
}

/* Check and decode the popped tx chain; its payload lands in vs->bounce.
 * 0, or -EINVAL after failing the device. */
static int vvsock_tx_parse(struct vvsock *vs, struct vvsock_hdr *h)
{
	const struct virtqueue_chain *ch = vs->txc;
	uint8_t raw[VVSOCK_HDR_LEN];

	if (ch->nin || ch->out_bytes < VVSOCK_HDR_LEN) {
		vvsock_fail(vs, "tx queue: chain %u is not a packet (%u writable segments, "
			    "%llu readable bytes)", ch->head, ch->nin,
			    (unsigned long long)ch->out_bytes);
		return -EINVAL;
	}
	(void)virtqueue_chain_read(ch, 0, raw, sizeof(raw));
	vvsock_hdr_decode(raw, h);
	if (h->len > VVSOCK_PKT_MAX || h->len > ch->out_bytes - VVSOCK_HDR_LEN) {
		vvsock_fail(vs, "tx queue: chain %u: payload length %u but %llu bytes follow "
			    "the header (limit %u)", ch->head, h->len,
			    (unsigned long long)(ch->out_bytes - VVSOCK_HDR_LEN), VVSOCK_PKT_MAX);
		return -EINVAL;
	}
	if (h->len)
		(void)virtqueue_chain_read(ch, VVSOCK_HDR_LEN, vs->bounce, h->len);
	vs->st.tx_packets++;
	vs->st.tx_bytes += h->len;
	return 0;
}

/* Pop and handle up to VVSOCK_BUDGET chains into done[]: how many, or
 * -errno after failing the device. */
static int vvsock_tx_batch(struct vvsock *vs, struct virtqueue *vq, struct virtqueue_used *done)
{
	struct vvsock_hdr h;
	unsigned nd = 0;
	int ret;

	while (nd < VVSOCK_BUDGET) {
		ret = virtqueue_pop(vq, vs->txc);
		if (ret == 0 && virtqueue_rearm(vq))
			continue;
		if (ret < 0)
			vvsock_queue_fail(vs, vq, "tx", ret);
		if (ret <= 0)
			return ret < 0 ? ret : (int)nd;
		if (vvsock_tx_parse(vs, &h) < 0)
			return -EINVAL;
		vvsock_tx_packet(vs, &h);
		done[nd++] = (struct virtqueue_used){ .head = vs->txc->head, .len = 0 };
	}
	return (int)nd;
}

static void vvsock_tx_run(struct vvsock *vs)
{
	struct virtqueue *vq = vvsock_queue(vs, VVSOCK_TXQ);
	struct virtqueue_used done[VVSOCK_BUDGET];
	int nd;

	if (!vq)
		return;
	nd = vvsock_tx_batch(vs, vq, done);
	if (nd > 0 && virtqueue_push_batch(vq, done, (unsigned)nd) < 0)
		vvsock_queue_fail(vs, vq, "tx", vq->error);
	else if (nd > 0)
		virtio_queue_interrupt(vs->vd, VVSOCK_TXQ);
	if (nd == VVSOCK_BUDGET)
		virtio_queue_kick(vs->vd, VVSOCK_TXQ);
	vvsock_rx_run(vs);
}

/* ---- ops ---- */

static void vvsock_cfg_read(void *dev, unsigned off, void *data, unsigned size)
{
	const struct vvsock *vs = dev;
	uint8_t cfg[8];

	le_put64(cfg, vs->cid);
	virtio_cfg_copy(cfg, sizeof(cfg), off, data, size);
}

static int vvsock_activate(void *dev, uint64_t features)
{
	struct vvsock *vs = dev;

	(void)features;
	vs->active = true;
	vs->failed = false;
	vvsock_rx_run(vs); /* host clients that asked before the driver was ready */
	return 0;
}

static void vvsock_queue_notify(void *dev, unsigned q)
{
	struct vvsock *vs = dev;

	if (q == VVSOCK_TXQ)
		vvsock_tx_run(vs);
	else if (q == VVSOCK_RXQ)
		vvsock_rx_run(vs);
	/* VVSOCK_EVQ: the buffers wait for events that never come */
}

static void vvsock_reset(void *dev)
{
	struct vvsock *vs = dev;

	vs->active = false;
	vs->failed = false;
	vvsock_conn_reset_all(vs);
}

static void vvsock_query(void *dev, json_t *obj)
{
	const struct vvsock *vs = dev;
	const struct vvsock_stats *s = &vs->st;

	json_object_set_new(obj, "cid", json_integer((json_int_t)vs->cid));
	json_object_set_new(obj, "socket", json_string(vs->path));
	json_object_set_new(obj, "connections", json_integer(vs->nconns));
	json_object_set_new(obj, "stats", json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
		"tx-packets", (json_int_t)s->tx_packets, "tx-bytes", (json_int_t)s->tx_bytes,
		"rx-packets", (json_int_t)s->rx_packets, "rx-bytes", (json_int_t)s->rx_bytes,
		"rsts-sent", (json_int_t)s->rsts_sent,
		"rsts-received", (json_int_t)s->rsts_received,
		"credit-violations", (json_int_t)s->credit_violations,
		"dropped", (json_int_t)s->dropped, "rsts-lost", (json_int_t)s->orphans_lost,
		"connections-total", (json_int_t)s->conns_total,
		"connections-refused", (json_int_t)s->conns_refused));
}

static void vvsock_free(struct vvsock *vs)
{
	vvsock_conn_fini(vs);
	virtqueue_chain_free(vs->rxc);
	virtqueue_chain_free(vs->txc);
	free(vs->bounce);
	free(vs);
}

static void vvsock_destroy(void *dev)
{
	vvsock_free(dev);
}

static const struct virtio_device_ops vvsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.cfg_read = vvsock_cfg_read,
	.cfg_write = NULL,
	.activate = vvsock_activate,
	.queue_notify = vvsock_queue_notify,
	.reset = vvsock_reset,
	.query = vvsock_query,
	.destroy = vvsock_destroy,
};

/* ---- create ---- */

int vvsock_create(const struct virtio_env *env, const struct config_vsock *cfg,
		  struct virtio_dev_info *info)
{
	struct vvsock *vs = calloc(1, sizeof(*vs));
	int ret = -ENOMEM;

	if (!vs)
		goto fail;
	vs->loop = env->loop;
	vs->cid = cfg->cid;
	vs->timeout_ns = VVSOCK_TIMEOUT_NS;
	vs->max_conns = VVSOCK_MAX_CONNS;
	vs->listen_fd = vs->timer_fd = -1;
	snprintf(vs->id, sizeof(vs->id), "%s", cfg->id[0] ? cfg->id : "vsock0");
	snprintf(vs->path, sizeof(vs->path), "%s", cfg->socket);
	vs->rxc = virtqueue_chain_new(VVSOCK_QUEUE_MAX);
	vs->txc = virtqueue_chain_new(VVSOCK_QUEUE_MAX);
	vs->bounce = malloc(VVSOCK_PKT_MAX);
	if (!vs->rxc || !vs->txc || !vs->bounce)
		goto fail;
	ret = vvsock_conn_init(vs);
	if (ret < 0)
		goto fail;
	*info = (struct virtio_dev_info){
		.ops = &vvsock_ops,
		.dev = vs,
		.handle = &vs->vd,
		.nqueues = VVSOCK_NQUEUES,
		.queue_max = VVSOCK_QUEUE_MAX,
		.features = 0,
		.cfg_size = VVSOCK_CFG_SIZE,
	};
	snprintf(info->id, sizeof(info->id), "%s", vs->id);
	return 0;
fail:
	if (ret == -ENOMEM)
		log_error("%s: %s", cfg->id[0] ? cfg->id : "vsock0", strerror(-ret));
	if (vs)
		vvsock_free(vs);
	return ret;
}
