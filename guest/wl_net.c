/* wl_net: the net and net-bench workloads (see README.md). net sends
 * count frames (ethertype 0x88B5, broadcast, payload = sequence number +
 * pattern) and expects each back from the host with our MAC as
 * destination. net-bench measures both directions against the host helper
 * (ethertype 0x88B6, protocol in README.md). Both poll in ring 3 and sleep
 * on the device's MSI-X interrupts when there is nothing to do. */
#include "glog.h"
#include "kshared.h"
#include "lib.h"
#include "tsc.h"
#include "vctx.h"
#include "vdev_net.h"
#include "vpat.h"
#include "wl_virtio.h"

#define NET_ETHERTYPE     0x88b5
#define NET_QUEUE_MAX     256
#define NET_COUNT_MAX     100000
#define NET_PAYLOAD_MIN   8

struct net_job {
	struct guest *g;
	struct vctx *c;
	struct vnet n;
	uint64_t count, size, ms, window, rxbuf;
	uint8_t *seen;                  /* count bytes: echo received */
	uint8_t frame[VNET_FRAME_MAX];
	uint8_t in[VNET_FRAME_MAX + 64];
	uint64_t echoed, other;
};

static void net_mac_str(const uint8_t *m, char *s, size_t n)
{
	lib_snprintf(s, n, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		     m[5]);
}

/* Open the first (or net=N) virtio-net device, print MAC and link. */
static int net_open(struct guest *g, struct vctx *c, struct vnet *n, uint64_t rxbuf)
{
	uint64_t idx;
	struct virtio_dev *d;
	char mac[24];
	int ret;

	if (cmdline_u64(&g->cmd, "net", 0, 0, VCTX_MAX_DEVS, &idx))
		return guest_fail(g, -EINVAL, "bad parameter");
	d = vctx_dev(c, VIRTIO_ID_NET, (unsigned)idx);
	if (!d)
		return guest_fail(g, -ENODEV, "no virtio-net device %lu", idx);
	ret = vnet_open(c, d, n, (uint32_t)rxbuf, NET_QUEUE_MAX, true);
	if (ret)
		return guest_fail(g, ret, "cannot initialise %s", d->name);
	net_mac_str(n->mac, mac, sizeof(mac));
	glog("net: %s: mac %s, link %s%s, queues %u/%u, rx buffers %u bytes%s", d->name, mac,
	     vnet_link_status(n) & VNET_S_LINK_UP ? "up" : "down",
	     n->has_status ? "" : " (no VIRTIO_NET_F_STATUS)", n->rx->size, n->tx->size,
	     n->rxbuf_len, n->mrg ? " (mergeable)" : "");
	return 0;
}

static void net_build(struct net_job *j, uint32_t seq)
{
	uint8_t *f = j->frame, *p = f + VNET_ETH_HLEN;

	__builtin_memset(f, 0xff, 6);
	__builtin_memcpy(f + 6, j->n.mac, 6);
	f[12] = NET_ETHERTYPE >> 8;
	f[13] = NET_ETHERTYPE & 0xff;
	p[0] = (uint8_t)(seq >> 24);
	p[1] = (uint8_t)(seq >> 16);
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	vpat_bytes(p + 4, j->size - 4, seq);
}

/* Check one received frame; 1 = a new echo, 0 = ignored, <0 = bad echo. */
static int net_check(struct net_job *j, uint32_t len)
{
	const uint8_t *f = j->in, *p = f + VNET_ETH_HLEN;
	uint32_t seq;

	if (len < VNET_ETH_HLEN + 4 || f[12] != NET_ETHERTYPE >> 8 ||
	    f[13] != (NET_ETHERTYPE & 0xff)) {
		j->other++;
		return 0;
	}
	seq = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (!lib_memeq(f, j->n.mac, 6))
		return guest_fail(j->g, -EIO, "echo %u not addressed to our MAC", seq);
	if (seq >= j->count || len < VNET_ETH_HLEN + j->size ||
	    !vpat_bytes_ok(p + 4, j->size - 4, seq))
		return guest_fail(j->g, -EIO, "echo %u (%u bytes) has a bad payload", seq, len);
	if (j->seen[seq])
		return guest_fail(j->g, -EIO, "echo %u arrived twice", seq);
	j->seen[seq] = 1;
	return 1;
}

static int net_drain(struct net_job *j)
{
	uint32_t len;
	int ret;

	while ((ret = vnet_recv(&j->n, j->in, sizeof(j->in), &len)) == 0) {
		ret = net_check(j, len);
		if (ret < 0)
			return ret;
		j->echoed += (uint64_t)ret;
	}
	if (ret != -ENOENT)
		return guest_fail(j->g, ret, "bad receive buffer");
	return 0;
}

/* Sleep until an interrupt, unless something is already there. */
static void net_sleep(struct net_job *j, uint64_t seen)
{
	if (virtq_intr(j->n.rx, true) | virtq_intr(j->n.tx, true))
		return;
	kcall_wait(seen);
}

static int net_echo_loop(struct net_job *j)
{
	uint64_t end = tsc_deadline(&j->c->tsc, j->ms), sent = 0;
	int ret;

	while (j->echoed < j->count) {
		uint64_t seen = kshared.events;

		ret = vnet_tx_reap(&j->n);
		if (ret < 0)
			return guest_fail(j->g, ret, "bad transmit completion");
		while (sent < j->count && sent - j->echoed < j->window) {
			net_build(j, (uint32_t)sent);
			ret = vnet_send(&j->n, j->frame, (uint32_t)(VNET_ETH_HLEN + j->size));
			if (ret == -ENOSPC)
				break;
			if (ret)
				return guest_fail(j->g, ret, "cannot send frame %lu", sent);
			sent++;
		}
		ret = net_drain(j);
		if (ret)
			return ret;
		if (tsc_passed(end))
			return guest_fail(j->g, -ETIMEDOUT, "%lu of %lu echoes in %lu ms (%lu sent)",
					  j->echoed, j->count, j->ms, sent);
		if (j->echoed < j->count)
			net_sleep(j, seen);
	}
	return 0;
}

int wl_net(struct guest *g)
{
	struct vctx *c;
	uint64_t t0;
	int ret;
	struct net_job *j = vctx_job(g, sizeof(*j), &c, &ret);

	if (!j)
		return ret;
	j->g = g;
	j->c = c;
	if (cmdline_u64(&g->cmd, "count", 64, 1, NET_COUNT_MAX, &j->count) ||
	    cmdline_u64(&g->cmd, "size", 1000, NET_PAYLOAD_MIN, VNET_FRAME_MAX - VNET_ETH_HLEN,
			&j->size) ||
	    cmdline_u64(&g->cmd, "timeout", 10000, 100, 3600000, &j->ms) ||
	    cmdline_u64(&g->cmd, "window", 16, 1, NET_QUEUE_MAX / 2, &j->window) ||
	    cmdline_u64(&g->cmd, "rxbuf", 0, 0, 4096, &j->rxbuf))
		return guest_fail(g, -EINVAL, "bad parameter");
	j->seen = vctx_alloc(c, j->count, 8);
	ret = j->seen ? net_open(g, c, &j->n, j->rxbuf) : guest_fail(g, -ENOMEM, "no memory");
	if (ret)
		return ret;
	t0 = tsc_now();
	ret = net_echo_loop(j);
	glog("net: %s: %lu frames of %lu bytes sent, %lu echoed in %lu us, %lu other frames, "
	     "%lu rx buffers, %lu interrupts", j->n.d->name, j->n.tx_sent, VNET_ETH_HLEN + j->size,
	     j->echoed, tsc_to_us(&c->tsc, tsc_now() - t0), j->other, j->n.rx_bufs,
	     virtio_queue_irqs(j->n.d));
	return ret;
}

/* ---- net-bench: ethertype 0x88B6, first payload byte = operation ---- */

#define NB_ETHERTYPE   0x88b6
#define NB_OP_TX       'T'   /* guest -> host data */
#define NB_OP_QUERY    'Q'   /* guest -> host: how many T frames arrived? */
#define NB_OP_REPLY    'R'   /* host -> guest: u32 T frames, u64 T bytes */
#define NB_OP_START    'S'   /* guest -> host: u32 ms, u32 frame size: blast */
#define NB_OP_DATA     'D'   /* host -> guest data */
#define NB_OP_END      'E'   /* host -> guest: u32 D frames sent */
#define NB_QUERY_TRIES 10
#define NB_QUERY_MS    300
#define NB_END_SLACK_MS 5000

struct nb_job {
	struct guest *g;
	struct vctx *c;
	struct vnet n;
	uint64_t ms, size;
	uint8_t frame[VNET_FRAME_MAX];
	uint8_t in[VNET_FRAME_MAX + 64];
	uint64_t rx_frames, rx_bytes, rx_first, rx_last, rx_kicks0;
	uint32_t host_count;
	bool got_reply, got_end;
};

static void nb_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t nb_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A frame of len bytes with op and two u32 arguments; returns len. */
static uint32_t nb_build(struct nb_job *j, uint8_t op, uint32_t a, uint32_t b, uint32_t len)
{
	uint8_t *f = j->frame;

	__builtin_memset(f, 0xff, 6);
	__builtin_memcpy(f + 6, j->n.mac, 6);
	f[12] = NB_ETHERTYPE >> 8;
	f[13] = NB_ETHERTYPE & 0xff;
	f[14] = op;
	nb_put32(f + 15, a);
	nb_put32(f + 19, b);
	return len;
}

/* Send one control frame, waiting for ring space. */
static int nb_send(struct nb_job *j, uint32_t len)
{
	uint64_t end = tsc_deadline(&j->c->tsc, NB_QUERY_MS);
	int ret;

	while ((ret = vnet_send(&j->n, j->frame, len)) == -ENOSPC && !tsc_passed(end))
		if (vnet_tx_reap(&j->n) < 0)
			return -EIO;
	return ret;
}

static void nb_frame(struct nb_job *j, uint32_t len)
{
	const uint8_t *f = j->in;

	if (len < 23 || f[12] != NB_ETHERTYPE >> 8 || f[13] != (NB_ETHERTYPE & 0xff))
		return;
	switch (f[14]) {
	case NB_OP_DATA:
		if (!j->rx_frames)
			j->rx_first = tsc_now();
		j->rx_last = tsc_now();
		j->rx_frames++;
		j->rx_bytes += len;
		break;
	case NB_OP_REPLY:
		j->host_count = nb_get32(f + 15);
		j->got_reply = true;
		break;
	case NB_OP_END:
		j->host_count = nb_get32(f + 15);
		j->got_end = true;
		break;
	default:
		break;
	}
}

static int nb_drain(struct nb_job *j)
{
	uint32_t len;
	int ret;

	while ((ret = vnet_recv(&j->n, j->in, sizeof(j->in), &len)) == 0)
		nb_frame(j, len);
	return ret == -ENOENT ? 0 : guest_fail(j->g, ret, "bad receive buffer");
}

static int nb_tx(struct nb_job *j)
{
	uint64_t end = tsc_deadline(&j->c->tsc, j->ms), t0 = tsc_now(), us, done0;
	uint32_t len = nb_build(j, NB_OP_TX, 0, 0, (uint32_t)j->size);
	int ret;

	virtq_intr(j->n.tx, false);
	done0 = j->n.tx_done;
	while (!tsc_passed(end)) {
		if (vnet_tx_reap(&j->n) < 0)
			return guest_fail(j->g, -EIO, "bad transmit completion");
		while ((ret = vnet_send(&j->n, j->frame, len)) == 0)
			;
		if (ret != -ENOSPC)
			return guest_fail(j->g, ret, "cannot send");
		if (nb_drain(j))
			return -EIO;
	}
	while (virtq_in_flight(j->n.tx) && !tsc_passed(end + j->c->tsc.hz))
		vnet_tx_reap(&j->n);
	us = tsc_to_us(&j->c->tsc, tsc_now() - t0);
	done0 = j->n.tx_done - done0;
	glog("net-bench: tx pps=%lu Mbps=%lu frames=%lu bytes=%lu us=%lu", done0 * 1000000 / us,
	     done0 * len * 8 / us, done0, done0 * len, us);
	return done0 ? 0 : guest_fail(j->g, -EIO, "no frame was transmitted");
}

/* Ask the host how many T frames it counted (retried). */
static int nb_query(struct nb_job *j)
{
	for (unsigned i = 0; i < NB_QUERY_TRIES && !j->got_reply; i++) {
		uint64_t end = tsc_deadline(&j->c->tsc, NB_QUERY_MS);

		if (nb_send(j, nb_build(j, NB_OP_QUERY, 0, 0, 60)))
			return guest_fail(j->g, -EIO, "cannot send the query");
		while (!j->got_reply && !tsc_passed(end))
			if (nb_drain(j))
				return -EIO;
	}
	if (!j->got_reply)
		return guest_fail(j->g, -ETIMEDOUT, "the host did not answer the query");
	glog("net-bench: tx host-received=%u", j->host_count);
	return 0;
}

static int nb_rx(struct nb_job *j)
{
	uint64_t end = tsc_deadline(&j->c->tsc, j->ms + NB_END_SLACK_MS), us;

	if (nb_send(j, nb_build(j, NB_OP_START, (uint32_t)j->ms, (uint32_t)j->size, 60)))
		return guest_fail(j->g, -EIO, "cannot send the start request");
	j->rx_kicks0 = j->n.rx_kicks;
	virtq_intr(j->n.rx, false);
	while (!j->got_end && !tsc_passed(end)) {
		if (nb_drain(j) || vnet_tx_reap(&j->n) < 0)
			return -EIO;
	}
	if (!j->got_end || !j->rx_frames)
		return guest_fail(j->g, -ETIMEDOUT, "host blast: %lu frames, %s", j->rx_frames,
				  j->got_end ? "end seen" : "no end frame");
	us = tsc_to_us(&j->c->tsc, j->rx_last - j->rx_first);
	if (!us)
		us = 1;
	glog("net-bench: rx pps=%lu Mbps=%lu frames=%lu bytes=%lu us=%lu host-sent=%u kicks=%lu",
	     j->rx_frames * 1000000 / us, j->rx_bytes * 8 / us, j->rx_frames, j->rx_bytes, us,
	     j->host_count, j->n.rx_kicks - j->rx_kicks0);
	return 0;
}

int wl_net_bench(struct guest *g)
{
	struct vctx *c;
	uint64_t rxbuf;
	int ret;
	struct nb_job *j = vctx_job(g, sizeof(*j), &c, &ret);

	if (!j)
		return ret;
	j->g = g;
	j->c = c;
	if (cmdline_u64(&g->cmd, "ms", 3000, 100, 600000, &j->ms) ||
	    cmdline_u64(&g->cmd, "size", VNET_FRAME_MAX, 60, VNET_FRAME_MAX, &j->size) ||
	    cmdline_u64(&g->cmd, "rxbuf", 2048, 0, 4096, &rxbuf))
		return guest_fail(g, -EINVAL, "bad parameter");
	ret = net_open(g, c, &j->n, rxbuf);
	if (!ret)
		ret = nb_tx(j);
	if (!ret)
		ret = nb_query(j);
	return ret ? ret : nb_rx(j);
}
