/* vnet: the virtio-net device (virtio 1.x, 5.1) on a TAP. Owns the TAP fd
 * (the attach checks, the vnet header size, offload probing and setting),
 * the device configuration (MAC, link status), the receive path (TAP ->
 * guest), the transmit path (guest -> TAP), the fd's event-loop
 * registration and the statistics. One queue pair (receiveq 0, transmitq
 * 1), no control queue.
 *
 * Attaching. tap=NAME must name an existing TAP (/sys/class/net/NAME with
 * tun_flags holding IFF_TAP): TUNSETIFF would create a missing one, and
 * vmkit never creates one. After TUNSETIFF the interface index must still
 * be the one we checked, so a TAP deleted in between is not recreated
 * behind our back. fd=N must already be a TAP opened with IFF_NO_PI and
 * IFF_VNET_HDR (TUNGETIFF); we use a duplicate of it. The header is 12
 * bytes (TUNSETVNETHDRSZ; virtio_net_hdr_v1 with num_buffers). Offloads the
 * TAP can deliver are probed with TUNSETOFFLOAD at create and offered as
 * GUEST_*; at activate the TAP is told what the driver took.
 *
 * Receive. A pass pops receive chains into a window whose device-writable
 * segments lie back to back in one iovec array. When the window (mergeable
 * buffers) or its first chain (otherwise) can hold any packet, the packet
 * is read with one readv straight into guest memory; otherwise it is read
 * into a bounce buffer and copied, and with mergeable buffers a packet that
 * does not fit yet waits there until the driver adds buffers. We then fix
 * the header (num_buffers; flags cleared without GUEST_CSUM) and push the
 * chains used. Unused chains go back (virtqueue_unpop) at the end of the
 * pass, so nothing stays popped between passes. Without buffers the TAP is
 * not watched for input until the driver kicks the receive queue. A pass
 * handles at most VNET_RX_BUDGET packets; the level-triggered loop calls
 * again for the rest, so one device cannot starve the loop.
 *
 * Transmit. Each chain is device-readable only (anything else is a
 * malformed ring: the device fails). Its header is copied once, checked
 * against the negotiated features (bad ones and frames over VNET_FRAME_MAX
 * are dropped and counted, the chain completed) and written with the frame
 * in one writev. EAGAIN gives the chain back and waits for EPOLLOUT, then
 * kicks the queue. A pass handles at most VNET_TX_BUDGET chains, then
 * kicks itself.
 *
 * Rate limit (bps/pps, vlimit.h; one limiter for both directions): a frame
 * to transmit asks for its bytes and one packet before the writev (taken
 * unless it hit EAGAIN); refused, the chain goes back and the transmit
 * queue waits for the limiter's timer.
 * Receive asks for one packet (and no byte debt) before each read and is
 * charged the frame's bytes after it; refused, the TAP is taken out of the
 * epoll set (no EPOLLIN) until the timer kicks the receive queue.
 *
 * Link down: transmitted frames are dropped (counted), the TAP is not read.
 * A backend that fails for good (EOF, EBADFD: the TAP was deleted) is
 * dropped from the loop; from then on frames are dropped and counted.
 *
 * Locking: ops run with the device lock held (the transport takes it); the
 * fd callback takes it itself. The callback's opaque is freed by destroy,
 * which runs when the loop no longer dispatches (VM teardown). */
#include "virtio/vnet.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "virtio/virtqueue.h"
#include "virtio/vlimit.h"

#define VNET_PKT_MAX    (VNET_HDR_LEN + VNET_FRAME_MAX)
#define VNET_RX_BUF     (VNET_PKT_MAX + 1) /* one spare byte shows an oversize packet */
#define VNET_RX_IOV     1024               /* UIO_MAXIOV: iovecs in one readv */
#define VNET_RX_BUDGET  64                 /* packets per receive pass */
#define VNET_TX_BUDGET  256                /* chains per transmit pass */
#define VNET_ETH_HLEN   14
#define VNET_BIT(b)     (1ull << (b))

#define VNET_HDR_F_NEEDS_CSUM 1
#define VNET_GSO_NONE   0
#define VNET_GSO_TCPV4  1
#define VNET_GSO_UDP    3
#define VNET_GSO_TCPV6  4
#define VNET_GSO_ECN    0x80

/* struct virtio_net_hdr_v1, little-endian fields */
struct vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	uint16_t num_buffers;
};
_Static_assert(sizeof(struct vnet_hdr) == VNET_HDR_LEN, "vnet header layout");

/* Receive offloads: the driver's GUEST_* feature, the TUN_F_* bit that lets
 * the TAP hand us such packets, and what to try on the TAP to see whether
 * it can. */
static const struct vnet_offload {
	unsigned feature;
	unsigned tun;
	unsigned probe;
} vnet_offloads[] = {
	{ VNET_F_GUEST_CSUM, TUN_F_CSUM, TUN_F_CSUM },
	{ VNET_F_GUEST_TSO4, TUN_F_TSO4, TUN_F_CSUM | TUN_F_TSO4 },
	{ VNET_F_GUEST_TSO6, TUN_F_TSO6, TUN_F_CSUM | TUN_F_TSO6 },
	{ VNET_F_GUEST_ECN, TUN_F_TSO_ECN, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN },
	{ VNET_F_GUEST_UFO, TUN_F_UFO, TUN_F_CSUM | TUN_F_UFO },
};

/* Transmit GSO types and the HOST_* feature each needs. */
static const struct vnet_gso {
	uint8_t type;
	unsigned feature;
} vnet_gso_types[] = {
	{ VNET_GSO_TCPV4, VNET_F_HOST_TSO4 },
	{ VNET_GSO_TCPV6, VNET_F_HOST_TSO6 },
	{ VNET_GSO_UDP, VNET_F_HOST_UFO },
};

struct vnet_stats {
	uint64_t rx_packets, rx_bytes, rx_dropped, rx_errors;
	uint64_t tx_packets, tx_bytes, tx_dropped, tx_errors, tx_malformed, tx_oversize;
};

static const struct vnet_stat_name {
	const char *name;
	size_t off;
} vnet_stat_names[] = {
	{ "rx-packets", offsetof(struct vnet_stats, rx_packets) },
	{ "rx-bytes", offsetof(struct vnet_stats, rx_bytes) },
	{ "rx-dropped", offsetof(struct vnet_stats, rx_dropped) },
	{ "rx-errors", offsetof(struct vnet_stats, rx_errors) },
	{ "tx-packets", offsetof(struct vnet_stats, tx_packets) },
	{ "tx-bytes", offsetof(struct vnet_stats, tx_bytes) },
	{ "tx-dropped", offsetof(struct vnet_stats, tx_dropped) },
	{ "tx-errors", offsetof(struct vnet_stats, tx_errors) },
	{ "tx-malformed", offsetof(struct vnet_stats, tx_malformed) },
	{ "tx-oversize", offsetof(struct vnet_stats, tx_oversize) },
};

/* The receive chains popped in this pass, in ring order. Their (only
 * device-writable) segments lie back to back in iov: chains [first, n) are
 * still unused and own iov[iov_first, niov). */
struct vnet_rxwin {
	struct virtqueue_chain chain[VNET_QUEUE_MAX];
	struct iovec iov[VNET_RX_IOV];
	unsigned first, n;
	unsigned iov_first, niov;
	uint64_t bytes;         /* in_bytes of the unused chains */
};

struct vnet {
	struct virtio_dev *vd;
	struct evloop *loop;
	char id[VIRTIO_ID_MAX];
	struct vnet_backend be;
	uint8_t mac[6];
	bool link_up;
	bool active;            /* between activate and reset */
	bool failed;            /* virtio_dev_fail called; until reset */
	bool dead;              /* the backend failed for good */
	bool rx_starved;        /* waiting for the driver to post receive buffers */
	bool tx_blocked;        /* waiting for EPOLLOUT */
	bool tx_err_logged;
	uint32_t watch;         /* events the fd is registered for; 0: not registered */
	uint64_t features;
	size_t pending;         /* length of the packet waiting in bounce, or 0 */
	uint8_t *bounce;        /* VNET_RX_BUF bytes */
	struct vnet_rxwin *win;
	struct virtqueue_chain *txc;
	struct iovec tx_iov[VNET_QUEUE_MAX + 1];
	struct vnet_stats st;
	struct vlimit limit;
};

static bool vnet_has(const struct vnet *n, unsigned bit)
{
	return virtio_has_feature(n->features, bit);
}

/* ---- event-loop registration ---- */

static void vnet_on_fd(void *opaque, uint32_t events);

static uint32_t vnet_watch_mask(const struct vnet *n)
{
	uint32_t mask = 0;

	if (!n->active || n->failed || n->dead)
		return 0;
	if (n->link_up && !n->rx_starved && !vlimit_waiting(&n->limit, VNET_RXQ))
		mask |= EPOLLIN;
	if (n->tx_blocked)
		mask |= EPOLLOUT;
	return mask;
}

/* Register the fd for what the state wants now (removed when nothing, so a
 * hang-up cannot spin the loop). */
static void vnet_watch(struct vnet *n)
{
	uint32_t mask = vnet_watch_mask(n);
	int ret;

	if (mask == n->watch)
		return;
	if (!mask)
		ret = evloop_del(n->loop, n->be.fd);
	else if (!n->watch)
		ret = evloop_add(n->loop, n->be.fd, mask, vnet_on_fd, n);
	else
		ret = evloop_mod(n->loop, n->be.fd, mask);
	if (ret < 0 && mask) {
		log_error("%s: cannot watch %s: %s", n->id, n->be.name, strerror(-ret));
		return;
	}
	n->watch = mask;
}

__attribute__((format(printf, 2, 3)))
static void vnet_fail(struct vnet *n, const char *fmt, ...)
{
	char msg[VIRTQUEUE_REASON_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n->failed = true;
	virtio_dev_fail(n->vd, "%s", msg);
	vnet_watch(n);
}

/* A pop that failed: the ring is malformed (or not usable). */
static void vnet_queue_fail(struct vnet *n, struct virtqueue *vq, const char *qname, int err)
{
	vnet_fail(n, "%s queue: %s", qname,
		  virtqueue_broken(vq) ? virtqueue_reason(vq) : strerror(-err));
}

static void vnet_backend_dead(struct vnet *n, const char *why)
{
	if (!n->dead)
		log_error("%s: %s: %s; frames are dropped from now on", n->id, n->be.name, why);
	n->dead = true;
	n->pending = 0;
}

/* ---- the receive window ---- */

static void vnet_win_clear(struct vnet_rxwin *w)
{
	w->first = w->n = w->iov_first = w->niov = 0;
	w->bytes = 0;
}

static unsigned vnet_win_count(const struct vnet_rxwin *w)
{
	return w->n - w->first;
}

/* Move the unused chains and their iovecs to the front. */
static void vnet_win_compact(struct vnet_rxwin *w)
{
	unsigned shift = w->iov_first, cnt = vnet_win_count(w);

	if (!w->first)
		return;
	memmove(w->iov, w->iov + shift, (w->niov - shift) * sizeof(w->iov[0]));
	memmove(w->chain, w->chain + w->first, cnt * sizeof(w->chain[0]));
	for (unsigned i = 0; i < cnt; i++) {
		w->chain[i].iov -= shift;
		w->chain[i].out -= shift;
		w->chain[i].in -= shift;
	}
	w->n = cnt;
	w->first = 0;
	w->niov -= shift;
	w->iov_first = 0;
}

/* No more chains fit, or the window holds every buffer the driver can give. */
static bool vnet_win_full(const struct vnet_rxwin *w, const struct virtqueue *vq)
{
	return vnet_win_count(w) >= MIN((unsigned)vq->size, VNET_QUEUE_MAX) ||
	       VNET_RX_IOV - (w->niov - w->iov_first) < vq->size;
}

/* Pop one receive chain into the window: 1, 0 (ring empty or window full),
 * or -errno after failing the device. */
static int vnet_win_pop(struct vnet *n, struct virtqueue *vq)
{
	struct vnet_rxwin *w = n->win;
	struct virtqueue_chain *c;
	int ret;

	if (vnet_win_full(w, vq))
		return 0;
	if (w->n == VNET_QUEUE_MAX || VNET_RX_IOV - w->niov < vq->size)
		vnet_win_compact(w);
	c = &w->chain[w->n];
	virtqueue_chain_init(c, w->iov + w->niov, VNET_RX_IOV - w->niov);
	ret = virtqueue_pop(vq, c);
	if (ret < 0)
		vnet_queue_fail(n, vq, "receive", ret);
	if (ret <= 0)
		return ret;
	if (c->nout || c->in_bytes < VNET_HDR_LEN) {
		vnet_fail(n, "receive queue: chain %u has %u device-readable segments and %" PRIu64
			  " writable bytes (needs 0 and at least %u)", c->head, c->nout,
			  c->in_bytes, VNET_HDR_LEN);
		return -EINVAL;
	}
	w->n++;
	w->niov += c->nin;
	w->bytes += c->in_bytes;
	return 1;
}

/* Enough buffers for a packet of len bytes? (Mergeable: the window; else
 * the first chain, whose size then decides alone.) */
static bool vnet_win_fits(const struct vnet *n, uint64_t len)
{
	const struct vnet_rxwin *w = n->win;

	if (!vnet_win_count(w))
		return false;
	if (vnet_has(n, VNET_F_MRG_RXBUF))
		return w->bytes >= len;
	return w->chain[w->first].in_bytes >= len;
}

/* Pop until the window can take len bytes, the ring is empty or the window
 * is full. 0 or -errno (device failed). */
static int vnet_win_fill(struct vnet *n, struct virtqueue *vq, uint64_t len)
{
	int ret = 1;

	while (ret > 0 && !vnet_win_fits(n, len) &&
	       (vnet_has(n, VNET_F_MRG_RXBUF) || !vnet_win_count(n->win)))
		ret = vnet_win_pop(n, vq);
	return ret < 0 ? ret : 0;
}

/* Give the unused chains back to the ring. */
static void vnet_win_release(struct vnet *n, struct virtqueue *vq)
{
	for (unsigned i = vnet_win_count(n->win); i > 0; i--)
		(void)virtqueue_unpop(vq);
	vnet_win_clear(n->win);
}

/* ---- receive ---- */

/* The packet (len bytes) is in the window's first chains: set num_buffers
 * (and clear flags without GUEST_CSUM), push those chains. 1, or -errno
 * after failing the device. */
static int vnet_rx_commit(struct vnet *n, struct virtqueue *vq, size_t len)
{
	struct vnet_rxwin *w = n->win;
	struct virtqueue_used used[VNET_QUEUE_MAX];
	const struct virtqueue_chain *head = &w->chain[w->first];
	uint16_t nbuf;
	unsigned k = 0;
	int ret;

	for (size_t left = len; left; k++) {
		const struct virtqueue_chain *c = &w->chain[w->first + k];
		uint32_t seg = (uint32_t)MIN((uint64_t)left, c->in_bytes);

		used[k] = (struct virtqueue_used){ .head = c->head, .len = seg };
		left -= seg;
		w->iov_first += c->nin;
		w->bytes -= c->in_bytes;
	}
	nbuf = htole16((uint16_t)k);
	if (!vnet_has(n, VNET_F_GUEST_CSUM))
		(void)virtqueue_chain_write(head, offsetof(struct vnet_hdr, flags), "", 1);
	(void)virtqueue_chain_write(head, offsetof(struct vnet_hdr, num_buffers), &nbuf, 2);
	w->first += k;
	ret = virtqueue_push_batch(vq, used, k);
	if (ret < 0) {
		vnet_queue_fail(n, vq, "receive", ret);
		return ret;
	}
	n->st.rx_packets++;
	n->st.rx_bytes += len - VNET_HDR_LEN;
	return 1;
}

/* Copy the bounced packet into the window's first chains and commit it. */
static int vnet_rx_copy(struct vnet *n, struct virtqueue *vq, size_t len)
{
	const struct vnet_rxwin *w = n->win;
	size_t off = 0;

	for (unsigned i = w->first; off < len; i++)
		off += virtqueue_chain_write(&w->chain[i], 0, n->bounce + off, len - off);
	n->pending = 0;
	return vnet_rx_commit(n, vq, len);
}

/* No buffers for what comes next: ask for a kick. 1 when buffers raced in
 * (go on), else 0 with the TAP left unwatched until the kick. */
static int vnet_rx_starve(struct vnet *n, struct virtqueue *vq)
{
	if (virtqueue_rearm(vq))
		return 1;
	n->rx_starved = true;
	return 0;
}

/* The packet waiting in bounce: deliver it, drop it (it can never fit), or
 * wait for buffers. 1, 0 (waiting) or -errno. */
static int vnet_rx_pending(struct vnet *n, struct virtqueue *vq)
{
	size_t len = n->pending;
	int ret = vnet_win_fill(n, vq, len);

	if (ret < 0)
		return ret;
	if (vnet_win_fits(n, len))
		return vnet_rx_copy(n, vq, len);
	if ((vnet_win_count(n->win) && !vnet_has(n, VNET_F_MRG_RXBUF)) ||
	    vnet_win_full(n->win, vq)) {
		n->st.rx_dropped++; /* larger than the buffers the driver gives */
		n->pending = 0;
		return 1;
	}
	return vnet_rx_starve(n, vq);
}

/* A read failed (or hit EOF: err 0): 0 (stop) or 1 (retry). */
static int vnet_rx_error(struct vnet *n, int err)
{
	if (err == EINTR)
		return 1;
	if (err != EAGAIN && err != EWOULDBLOCK) {
		n->st.rx_errors++;
		vnet_backend_dead(n, err ? strerror(err) : "end of file");
	}
	return 0;
}

/* Read one packet from the backend: into the window directly when it can
 * take any packet, else into bounce. 1, 0 (nothing to read) or -errno. */
static int vnet_rx_read(struct vnet *n, struct virtqueue *vq)
{
	struct vnet_rxwin *w = n->win;
	bool direct = vnet_win_fits(n, VNET_RX_BUF);
	unsigned cnt = vnet_has(n, VNET_F_MRG_RXBUF) ? w->niov - w->iov_first
						    : w->chain[w->first].nin;
	ssize_t len;

	if (direct)
		len = readv(n->be.fd, w->iov + w->iov_first, (int)cnt);
	else
		len = read(n->be.fd, n->bounce, VNET_RX_BUF);
	if (len <= 0)
		return vnet_rx_error(n, len < 0 ? errno : 0);
	vlimit_charge(&n->limit, (uint64_t)len - MIN((uint64_t)len, VNET_HDR_LEN), 1);
	if (len > VNET_PKT_MAX || len < VNET_HDR_LEN + VNET_ETH_HLEN) {
		n->st.rx_errors++;
		return 1;
	}
	if (direct)
		return vnet_rx_commit(n, vq, (size_t)len);
	n->pending = (size_t)len;
	return vnet_rx_pending(n, vq);
}

/* One step of a receive pass: 1 (go on), 0 (stop) or -errno. */
static int vnet_rx_step(struct vnet *n, struct virtqueue *vq)
{
	int ret;

	if (n->pending)
		return vnet_rx_pending(n, vq);
	ret = vnet_win_fill(n, vq, VNET_RX_BUF);
	if (ret < 0)
		return ret;
	if (!vnet_win_count(n->win))
		return vnet_rx_starve(n, vq);
	if (!vlimit_may(&n->limit, VNET_RXQ, 0, 1))
		return 0;   /* the timer kicks the receive queue */
	return vnet_rx_read(n, vq);
}

static void vnet_rx_run(struct vnet *n)
{
	struct virtqueue *vq = virtio_queue(n->vd, VNET_RXQ);
	uint16_t used_before;
	int ret = 1;

	if (!vq || !n->active || n->failed || n->dead || !n->link_up)
		return;
	used_before = vq->used_idx;
	n->rx_starved = false;
	virtqueue_set_notify(vq, false);
	for (unsigned i = 0; ret > 0 && i < VNET_RX_BUDGET; i++)
		ret = vnet_rx_step(n, vq);
	vnet_win_release(n, vq);
	if (ret >= 0 && vq->used_idx != used_before)
		virtio_queue_interrupt(n->vd, VNET_RXQ);
	vnet_watch(n);
}

/* ---- transmit ---- */

/* Is the driver's header acceptable for a frame of frame_len bytes? */
static bool vnet_tx_hdr_ok(const struct vnet *n, const struct vnet_hdr *h, uint64_t frame_len)
{
	uint8_t type = h->gso_type & (uint8_t)~VNET_GSO_ECN;
	bool ok = type == VNET_GSO_NONE;

	if (h->flags & ~VNET_HDR_F_NEEDS_CSUM)
		return false;
	if ((h->flags & VNET_HDR_F_NEEDS_CSUM) &&
	    (!vnet_has(n, VNET_F_CSUM) ||
	     (uint64_t)le16toh(h->csum_start) + le16toh(h->csum_offset) + 2 > frame_len))
		return false;
	if (le16toh(h->hdr_len) > frame_len)
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(vnet_gso_types); i++)
		ok |= type == vnet_gso_types[i].type && vnet_has(n, vnet_gso_types[i].feature);
	if (!ok)
		return false;
	if (type == VNET_GSO_NONE)
		return h->gso_type == VNET_GSO_NONE;
	return le16toh(h->gso_size) && (!(h->gso_type & VNET_GSO_ECN) ||
					 vnet_has(n, VNET_F_HOST_ECN));
}

/* tx_iov = the checked header copy, then the frame (the chain after its
 * first VNET_HDR_LEN bytes). Returns the iovec count. */
static unsigned vnet_tx_iov(struct vnet *n, struct vnet_hdr *h)
{
	const struct virtqueue_chain *c = n->txc;
	size_t skip = VNET_HDR_LEN;
	unsigned cnt = 1;

	n->tx_iov[0] = (struct iovec){ .iov_base = h, .iov_len = sizeof(*h) };
	for (unsigned i = 0; i < c->nout; i++) {
		size_t len = c->out[i].iov_len;

		if (skip >= len) {
			skip -= len;
			continue;
		}
		n->tx_iov[cnt++] = (struct iovec){ .iov_base = (uint8_t *)c->out[i].iov_base + skip,
						   .iov_len = len - skip };
		skip = 0;
	}
	return cnt;
}

/* 0 (sent, or dropped and counted) or -EAGAIN (backend full). */
static int vnet_tx_write(struct vnet *n, unsigned cnt, uint64_t frame_len)
{
	ssize_t ret;

	do
		ret = writev(n->be.fd, n->tx_iov, (int)cnt);
	while (ret < 0 && errno == EINTR);
	if (ret < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (ret < 0) {
		int err = errno;

		n->st.tx_errors++;
		if (err == EBADFD || err == EPIPE || err == ECONNRESET)
			vnet_backend_dead(n, strerror(err));
		else if (!n->tx_err_logged)
			log_warn("%s: %s: transmit failed: %s (counted in tx-errors)", n->id,
				 n->be.name, strerror(err));
		n->tx_err_logged = true;
		return 0;
	}
	n->st.tx_packets++;
	n->st.tx_bytes += frame_len;
	return 0;
}

/* Send the popped chain: 0 (done: the chain is to be completed), -EAGAIN
 * (give it back and wait for EPOLLOUT), -EBUSY (give it back: the rate
 * limit's timer kicks the queue), -EPROTO (device-writable segments). */
static int vnet_tx_chain(struct vnet *n)
{
	const struct virtqueue_chain *c = n->txc;
	struct vnet_hdr h;
	uint64_t frame_len;
	int ret;

	if (c->nin)
		return -EPROTO;
	if (!n->link_up || n->dead) {
		n->st.tx_dropped++;
		return 0;
	}
	if (c->out_bytes < VNET_HDR_LEN) {
		n->st.tx_malformed++;
		return 0;
	}
	frame_len = c->out_bytes - VNET_HDR_LEN;
	if (frame_len > VNET_FRAME_MAX) {
		n->st.tx_oversize++;
		return 0;
	}
	(void)virtqueue_chain_read(c, 0, &h, sizeof(h));
	if (frame_len < VNET_ETH_HLEN || !vnet_tx_hdr_ok(n, &h, frame_len)) {
		n->st.tx_malformed++;
		return 0;
	}
	if (!vlimit_may(&n->limit, VNET_TXQ, frame_len, 1))
		return -EBUSY;
	h.num_buffers = 0;
	ret = vnet_tx_write(n, vnet_tx_iov(n, &h), frame_len);
	if (ret != -EAGAIN)
		vlimit_charge(&n->limit, frame_len, 1);   /* not when it is retried */
	return ret;
}

/* Pop, send and complete up to VNET_TX_BUDGET chains, each completed at
 * once (a polling driver reuses its buffers sooner). Returns how many, or
 * -errno after failing the device. */
static int vnet_tx_batch(struct vnet *n, struct virtqueue *vq)
{
	int nd = 0, ret;

	while (nd < VNET_TX_BUDGET) {
		ret = virtqueue_pop(vq, n->txc);
		if (ret == 0 && virtqueue_rearm(vq))
			continue;
		if (ret < 0)
			vnet_queue_fail(n, vq, "transmit", ret);
		if (ret <= 0)
			return ret < 0 ? ret : nd;
		ret = vnet_tx_chain(n);
		if (ret == -EAGAIN || ret == -EBUSY) {
			(void)virtqueue_unpop(vq);
			n->tx_blocked = ret == -EAGAIN;
			break;
		}
		if (ret < 0) {
			vnet_fail(n, "transmit queue: chain %u has device-writable segments",
				  n->txc->head);
			return ret;
		}
		ret = virtqueue_push(vq, n->txc->head, 0);
		if (ret < 0) {
			vnet_queue_fail(n, vq, "transmit", ret);
			return ret;
		}
		nd++;
	}
	return nd;
}

static void vnet_tx_run(struct vnet *n)
{
	struct virtqueue *vq = virtio_queue(n->vd, VNET_TXQ);
	int nd;

	if (!vq || !n->active || n->failed || n->tx_blocked)
		return;
	virtqueue_set_notify(vq, false);
	nd = vnet_tx_batch(n, vq);
	if (nd > 0)
		virtio_queue_interrupt(n->vd, VNET_TXQ);
	if (nd == VNET_TX_BUDGET)
		virtio_queue_kick(n->vd, VNET_TXQ);
	vnet_watch(n);
}

/* ---- the fd callback (event-loop thread, device lock not held) ---- */

static void vnet_on_fd(void *opaque, uint32_t events)
{
	struct vnet *n = opaque;
	pthread_mutex_t *lock = virtio_dev_lock(n->vd);

	pthread_mutex_lock(lock);
	if ((events & EPOLLOUT) && n->tx_blocked) {
		n->tx_blocked = false;
		virtio_queue_kick(n->vd, VNET_TXQ);
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		vnet_rx_run(n);
	/* An error or hang-up without input to read (a TAP whose interface
	 * was deleted reports EPOLLERR alone): the backend is gone. */
	if ((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN) && n->active && !n->failed)
		vnet_backend_dead(n, "the backend reported an error or hang-up");
	vnet_watch(n);
	pthread_mutex_unlock(lock);
}

/* ---- ops ---- */

static void vnet_cfg_read(void *dev, unsigned off, void *data, unsigned size)
{
	const struct vnet *n = dev;
	uint8_t cfg[VNET_CFG_SIZE];
	uint16_t status = htole16(n->link_up ? VNET_S_LINK_UP : 0), pairs = htole16(1);

	memcpy(cfg, n->mac, sizeof(n->mac));
	memcpy(cfg + 6, &status, sizeof(status));
	memcpy(cfg + 8, &pairs, sizeof(pairs));
	virtio_cfg_copy(cfg, sizeof(cfg), off, data, size);
}

/* TUN_F_* for the negotiated GUEST_* features (none without GUEST_CSUM). */
static unsigned vnet_tun_offloads(uint64_t features)
{
	unsigned tun = 0;

	if (!virtio_has_feature(features, VNET_F_GUEST_CSUM))
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(vnet_offloads); i++)
		if (virtio_has_feature(features, vnet_offloads[i].feature))
			tun |= vnet_offloads[i].tun;
	return tun;
}

static int vnet_activate(void *dev, uint64_t features)
{
	struct vnet *n = dev;
	unsigned tun = vnet_tun_offloads(features);

	if (n->be.tap && ioctl(n->be.fd, TUNSETOFFLOAD, (unsigned long)tun) < 0) {
		int ret = -errno;

		log_error("%s: %s: TUNSETOFFLOAD 0x%x: %s", n->id, n->be.name, tun, strerror(-ret));
		return ret;
	}
	n->features = features;
	n->active = true;
	n->failed = n->rx_starved = n->tx_blocked = false;
	vnet_watch(n);
	return 0;
}

static void vnet_queue_notify(void *dev, unsigned q)
{
	struct vnet *n = dev;

	if (q == VNET_TXQ) {
		vnet_tx_run(n);
	} else if (q == VNET_RXQ) {
		n->rx_starved = false;
		vnet_rx_run(n);
	}
}

static void vnet_reset(void *dev)
{
	struct vnet *n = dev;

	n->active = n->failed = n->rx_starved = n->tx_blocked = false;
	n->features = 0;
	n->pending = 0;
	vnet_win_clear(n->win);
	vlimit_reset(&n->limit);
	vnet_watch(n);
}

/* Facts at the top level, counters under "stats" (query-netstats shows
 * those, so the MAC and the link state are repeated there). */
static void vnet_query(void *dev, json_t *obj)
{
	const struct vnet *n = dev;
	json_t *st = json_object();
	char mac[18];

	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1],
		 n->mac[2], n->mac[3], n->mac[4], n->mac[5]);
	json_object_set_new(obj, "mac", json_string(mac));
	json_object_set_new(obj, "link", json_string(n->link_up ? "up" : "down"));
	json_object_set_new(obj, "backend", json_string(n->be.name));
	if (n->be.ifname[0])
		json_object_set_new(obj, "tap", json_string(n->be.ifname));
	json_object_set_new(obj, "backend-ok", json_boolean(!n->dead));
	json_object_set_new(st, "mac", json_string(mac));
	json_object_set_new(st, "link", json_string(n->link_up ? "up" : "down"));
	for (size_t i = 0; i < ARRAY_SIZE(vnet_stat_names); i++) {
		uint64_t v;

		memcpy(&v, (const uint8_t *)&n->st + vnet_stat_names[i].off, sizeof(v));
		json_object_set_new(st, vnet_stat_names[i].name, json_integer((json_int_t)v));
	}
	json_object_set_new(st, "throttled", json_integer((json_int_t)n->limit.throttled));
	json_object_set_new(st, "throttled-total-time-ns",
			    json_integer((json_int_t)n->limit.throttled_ns));
	json_object_set_new(obj, "stats", st);
	vlimit_query(&n->limit, obj);
}

static int vnet_set_rate_limit(void *dev, const struct config_ratelimit *limit)
{
	struct vnet *n = dev;

	return vlimit_set(&n->limit, limit);   /* kicks the queues that waited */
}

static int vnet_set_link(void *dev, bool up)
{
	struct vnet *n = dev;

	if (n->link_up == up)
		return 0;
	n->link_up = up;
	n->rx_starved = false;
	log_info("%s: link %s", n->id, up ? "up" : "down");
	virtio_config_changed(n->vd);
	vnet_watch(n);
	return 0;
}

static void vnet_free(struct vnet *n)
{
	vlimit_destroy(&n->limit);
	if (n->be.fd >= 0)
		close(n->be.fd);
	virtqueue_chain_free(n->txc);
	free(n->win);
	free(n->bounce);
	free(n);
}

static void vnet_destroy(void *dev)
{
	struct vnet *n = dev;

	if (n->watch)
		(void)evloop_del(n->loop, n->be.fd);
	vnet_free(n);
}

static const struct virtio_device_ops vnet_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.cfg_read = vnet_cfg_read,
	.cfg_write = NULL,
	.activate = vnet_activate,
	.queue_notify = vnet_queue_notify,
	.reset = vnet_reset,
	.query = vnet_query,
	.set_link = vnet_set_link,
	.set_rate_limit = vnet_set_rate_limit,
	.destroy = vnet_destroy,
};

/* ---- create ---- */

/* The features offered: host-side offloads always (the TAP takes any
 * header), guest-side ones the backend can deliver. */
static uint64_t vnet_offer(const struct vnet_backend *be)
{
	uint64_t f = VNET_BIT(VNET_F_MAC) | VNET_BIT(VNET_F_STATUS) | VNET_BIT(VNET_F_MRG_RXBUF) |
		     VNET_BIT(VNET_F_CSUM) | VNET_BIT(VNET_F_HOST_TSO4) |
		     VNET_BIT(VNET_F_HOST_TSO6) | VNET_BIT(VNET_F_HOST_ECN);

	if (be->tun_offloads & TUN_F_UFO)
		f |= VNET_BIT(VNET_F_HOST_UFO);
	if (!(be->tun_offloads & TUN_F_CSUM))
		return f;
	for (size_t i = 0; i < ARRAY_SIZE(vnet_offloads); i++)
		if (be->tun_offloads & vnet_offloads[i].tun)
			f |= VNET_BIT(vnet_offloads[i].feature);
	return f;
}

/* A random locally administered unicast address. */
static void vnet_random_mac(uint8_t mac[6])
{
	uint64_t t = util_now_ns() ^ ((uint64_t)getpid() << 24);

	if (getrandom(mac, 6, GRND_NONBLOCK) != 6)
		memcpy(mac, &t, 6);
	mac[0] = (uint8_t)((mac[0] & 0xfe) | 0x02);
}

static int vnet_alloc(const struct virtio_env *env, const struct config_net *cfg,
		      const struct vnet_backend *be, struct vnet **out)
{
	struct vnet *n = calloc(1, sizeof(*n));
	int ret;

	if (!n)
		return -ENOMEM;
	n->be = *be;
	/* first: it makes n->limit safe for vnet_free, even when it fails */
	ret = vlimit_init(&n->limit, env->loop, &n->vd, cfg->id, &cfg->limit);
	n->loop = env->loop;
	n->link_up = true;
	snprintf(n->id, sizeof(n->id), "%s", cfg->id);
	n->win = calloc(1, sizeof(*n->win));
	n->bounce = malloc(VNET_RX_BUF);
	n->txc = virtqueue_chain_new(VNET_QUEUE_MAX);
	*out = n;
	if (!n->win || !n->bounce || !n->txc)
		return -ENOMEM;
	if (ret < 0)
		return ret;
	if (cfg->mac_set)
		memcpy(n->mac, cfg->mac, sizeof(n->mac));
	else
		vnet_random_mac(n->mac);
	return 0;
}

int vnet_create_backend(const struct virtio_env *env, const struct config_net *cfg,
			const struct vnet_backend *be, struct virtio_dev_info *info)
{
	struct vnet *n = NULL;
	int ret = vnet_alloc(env, cfg, be, &n);

	if (ret < 0) {
		log_error("%s: %s", cfg->id, strerror(-ret));
		if (n)
			vnet_free(n);
		else
			close(be->fd);
		return ret;
	}
	*info = (struct virtio_dev_info){
		.ops = &vnet_ops,
		.dev = n,
		.handle = &n->vd,
		.nqueues = 2,
		.queue_max = VNET_QUEUE_MAX,
		.features = vnet_offer(be),
		.cfg_size = VNET_CFG_SIZE,
	};
	snprintf(info->id, sizeof(info->id), "%s", cfg->id);
	return 0;
}

/* ---- the TAP ---- */

/* /sys/class/net/IF/ATTR into buf (NUL-terminated). 0 or -errno. */
static int vnet_sysfs_read(const char *ifname, const char *attr, char *buf, size_t len)
{
	char path[96];
	ssize_t got;
	int fd;

	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", ifname, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	got = read(fd, buf, len - 1);
	if (got < 0)
		got = -errno;
	close(fd);
	if (got < 0)
		return (int)got;
	buf[got] = '\0';
	return 0;
}

static bool vnet_ifname_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	return strcspn(name, "/: \t\n") == len;
}

/* tap=NAME names an existing TAP: its TUN flags and interface index. */
static int vnet_tap_check(const struct config_net *cfg, unsigned long *flags,
			  unsigned long *ifindex)
{
	char buf[32];
	int ret;

	if (!vnet_ifname_ok(cfg->tap)) {
		log_error("%s: tap=%s is not a valid interface name", cfg->id, cfg->tap);
		return -EINVAL;
	}
	ret = vnet_sysfs_read(cfg->tap, "ifindex", buf, sizeof(buf));
	if (ret == -ENOENT) {
		log_error("%s: TAP %s does not exist (vmkit attaches to an existing TAP and never"
			  " creates one: ip tuntap add %s mode tap)", cfg->id, cfg->tap, cfg->tap);
		return -ENODEV;
	}
	*ifindex = ret ? 0 : strtoul(buf, NULL, 10);
	ret = ret ? ret : vnet_sysfs_read(cfg->tap, "tun_flags", buf, sizeof(buf));
	if (ret == -ENOENT) {
		log_error("%s: %s is not a TAP device", cfg->id, cfg->tap);
		return -ENODEV;
	}
	if (ret < 0) {
		log_error("%s: cannot inspect interface %s: %s", cfg->id, cfg->tap, strerror(-ret));
		return ret;
	}
	*flags = strtoul(buf, NULL, 0);
	if (!(*flags & IFF_TAP)) {
		log_error("%s: %s is a TUN device, not a TAP", cfg->id, cfg->tap);
		return -ENODEV;
	}
	return 0;
}

/* Attach a new fd to the checked TAP (never creating one). */
static int vnet_tap_open(const struct config_net *cfg, unsigned long flags,
			 unsigned long ifindex, int *out)
{
	struct ifreq ifr;
	int fd, ret;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_error("%s: cannot open /dev/net/tun: %s", cfg->id, strerror(-ret));
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", cfg->tap);
	ifr.ifr_flags = (short)(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | (flags & IFF_MULTI_QUEUE));
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		log_error("%s: cannot attach to TAP %s: %s%s", cfg->id, cfg->tap, strerror(-ret),
			  ret == -EBUSY ? " (another process has it open)" : "");
		goto fail;
	}
	if (if_nametoindex(cfg->tap) != ifindex) {
		ret = -ENODEV;
		log_error("%s: TAP %s disappeared while attaching", cfg->id, cfg->tap);
		goto fail;
	}
	*out = fd;
	return 0;
fail:
	close(fd);
	return ret;
}

/* fd=N: a TAP opened with IFF_NO_PI | IFF_VNET_HDR; we use a duplicate. */
static int vnet_fd_open(const struct config_net *cfg, char *tapname, int *out)
{
	struct ifreq ifr;
	const short need = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	int fd, fl;

	memset(&ifr, 0, sizeof(ifr));
	if (fcntl(cfg->fd, F_GETFD) < 0) {
		log_error("%s: fd=%d is not an open file descriptor", cfg->id, cfg->fd);
		return -EBADF;
	}
	if (ioctl(cfg->fd, TUNGETIFF, &ifr) < 0 || (ifr.ifr_flags & need) != need) {
		log_error("%s: fd=%d is not a TAP opened with IFF_TAP, IFF_NO_PI and IFF_VNET_HDR",
			  cfg->id, cfg->fd);
		return -ENODEV;
	}
	snprintf(tapname, IFNAMSIZ, "%s", ifr.ifr_name);
	fd = fcntl(cfg->fd, F_DUPFD_CLOEXEC, 3);
	fl = fd < 0 ? -1 : fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int ret = -errno;

		log_error("%s: fd=%d: %s", cfg->id, cfg->fd, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	*out = fd;
	return 0;
}

/* Header size, and which receive offloads the TAP can deliver. */
static int vnet_tap_setup(const struct config_net *cfg, struct vnet_backend *be)
{
	int sz = VNET_HDR_LEN;

	if (ioctl(be->fd, TUNSETVNETHDRSZ, &sz) < 0) {
		int ret = -errno;

		log_error("%s: %s: TUNSETVNETHDRSZ: %s", cfg->id, be->name, strerror(-ret));
		return ret;
	}
	for (size_t i = 0; i < ARRAY_SIZE(vnet_offloads); i++)
		if (ioctl(be->fd, TUNSETOFFLOAD, (unsigned long)vnet_offloads[i].probe) == 0)
			be->tun_offloads |= vnet_offloads[i].tun;
	(void)ioctl(be->fd, TUNSETOFFLOAD, 0ul);
	return 0;
}

static int vnet_tap_attach(const struct config_net *cfg, struct vnet_backend *be)
{
	unsigned long flags = 0, ifindex = 0;
	char name[IFNAMSIZ];
	int ret;

	if (cfg->tap[0]) {
		ret = vnet_tap_check(cfg, &flags, &ifindex);
		if (ret == 0)
			ret = vnet_tap_open(cfg, flags, ifindex, &be->fd);
		snprintf(be->name, sizeof(be->name), "tap %s", cfg->tap);
		snprintf(be->ifname, sizeof(be->ifname), "%s", cfg->tap);
	} else {
		ret = vnet_fd_open(cfg, name, &be->fd);
		snprintf(be->name, sizeof(be->name), "tap %s (fd=%d)", ret ? "?" : name, cfg->fd);
		snprintf(be->ifname, sizeof(be->ifname), "%s", ret ? "" : name);
	}
	if (ret == 0)
		ret = vnet_tap_setup(cfg, be);
	return ret;
}

int vnet_create(const struct virtio_env *env, const struct config_net *cfg,
		struct virtio_dev_info *info)
{
	struct vnet_backend be = { .fd = -1, .tap = true };
	int ret = vnet_tap_attach(cfg, &be);

	if (ret < 0) {
		if (be.fd >= 0)
			close(be.fd);
		return ret;
	}
	return vnet_create_backend(env, cfg, &be, info);
}
