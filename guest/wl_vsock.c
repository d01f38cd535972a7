/* wl_vsock: the vsock and vsock-flood workloads (see README.md) and the
 * device/table plumbing all vsock workloads share (wl_vsock.h).
 *
 * vsock: listens on port= and accepts in= connections from the host; each
 * carries a 16-byte preamble ('VSK1', u32 seed, u64 count, little endian)
 * then count bytes of an xorshift64* stream of that seed, which the guest
 * checks byte by byte and echoes back. At the same time it opens out=
 * connections to host port host-port=, sends preamble + bytes= of its own
 * stream and checks the echo. Everything interleaved, credit respected and
 * checked both ways; every connection ends with SHUTDOWN + RST. noport=P:
 * a connection to host port P (no listener) must be refused with RST.
 *
 * vsock-flood: a hostile guest. Floods REQUESTs to requests= host ports
 * without listeners, draining its receive ring only when transmission
 * stalls; then connects to host-port= and sends bytes= of RW packets
 * ignoring the host's credit (and its RST); then checks that a new
 * connection still opens. PASS if it got everything sent. */
#include "glog.h"
#include "kshared.h"
#include "lib.h"
#include "tsc.h"
#include "vpat.h"
#include "wl_virtio.h"
#include "wl_vsock.h"

#define VSK_MAGIC       0x314b5356u     /* "VSK1" */
#define VSK_PRE         16
#define VSK_MAX_FLOWS   32              /* per direction */
#define VSK_QUEUE_MAX   256
#define VSK_RX_BATCH    64
#define VSK_CLOSE_MS    5000u
#define VSK_COUNT_MAX   (1ULL << 40)   /* largest count a preamble may announce */

/* ---- shared plumbing (wl_vsock.h) ---- */

int vsk_io_open(struct vsk_io *io, struct guest *g, struct vctx *c, unsigned nconn,
		uint32_t buf, uint32_t rxbuf, uint32_t pkt)
{
	struct virtio_dev *d = vctx_dev(c, VIRTIO_ID_VSOCK, 0);
	uint8_t *bufs;
	int ret;

	io->g = g;
	io->c = c;
	if (!d)
		return guest_fail(g, -ENODEV, "no virtio-vsock device");
	ret = vvsock_open(c, d, &io->v, rxbuf, pkt, VSK_QUEUE_MAX);
	if (ret)
		return guest_fail(g, ret, "cannot initialise the virtio-vsock at 00:%02x.%u",
				  d->pci.dev, d->pci.fn);
	io->conn = vctx_alloc(c, nconn * sizeof(*io->conn), 64);
	bufs = vctx_alloc(c, (uint64_t)nconn * buf, 64);
	if (!io->conn || !bufs)
		return guest_fail(g, -ENOMEM, "out of memory for %u connections", nconn);
	vsconn_tab_init(&io->t, io->v.cid, io->conn, nconn, bufs, buf);
	glog("vsock: device at 00:%02x.%u: guest cid %lu, queues %u/%u/%u, %u rx buffers of "
	     "%u bytes, features 0x%lx", d->pci.dev, d->pci.fn, io->v.cid, io->v.rx->size,
	     io->v.tx->size, io->v.ev->size, io->v.rx_slots, io->v.slot, d->features);
	if (io->v.cid <= VSOCK_HOST_CID)
		return guest_fail(g, -EINVAL, "guest cid %lu is reserved", io->v.cid);
	return 0;
}

static const char *vsk_op_name(uint16_t op)
{
	static const char *const names[] = { "INVALID", "REQUEST", "RESPONSE", "RST",
					     "SHUTDOWN", "RW", "CREDIT_UPDATE",
					     "CREDIT_REQUEST" };

	return op < sizeof(names) / sizeof(names[0]) ? names[op] : "?";
}

int vsk_io_rx(struct vsk_io *io, unsigned max)
{
	struct vsock_hdr h;
	const uint8_t *data;
	unsigned n = 0;
	int ret = 0;

	while (n < max && (ret = vvsock_recv(&io->v, &h, &data)) == 0) {
		ret = vsconn_input(&io->t, &h, data);
		if (ret)
			return guest_fail(io->g, ret, "%s (%s %u -> %u, len %u, buf_alloc %u, "
					  "fwd_cnt %u)", io->t.why, vsk_op_name(h.op), h.src_port,
					  h.dst_port, h.len, h.buf_alloc, h.fwd_cnt);
		ret = vvsock_recv_done(&io->v);
		if (ret)
			return guest_fail(io->g, ret, "cannot re-post a receive buffer");
		n++;
	}
	if (ret && ret != -ENOENT)
		return guest_fail(io->g, ret, "bad receive packet");
	io->rx_pkts += n;
	return (int)n;
}

int vsk_io_tx(struct vsk_io *io)
{
	struct vsock_hdr h;
	int n = 0, ret;

	while (vvsock_tx_slot(&io->v) && vsconn_output(&io->t, &h) == 1) {
		ret = vvsock_send(&io->v, &h);
		if (ret)
			return guest_fail(io->g, ret, "cannot queue a control packet");
		n++;
	}
	vvsock_flush(&io->v);
	ret = vvsock_tx_reap(&io->v);
	if (ret < 0)
		return guest_fail(io->g, ret, "bad transmit completion");
	n += ret;
	ret = vvsock_events(&io->v);
	if (ret < 0)
		return guest_fail(io->g, ret, "bad event");
	if (ret)
		return guest_fail(io->g, -EIO, "TRANSPORT_RESET event (cid now %lu)", io->v.cid);
	return n;
}

void vsk_io_sleep(struct vsk_io *io, uint64_t seen)
{
	if (!vvsock_intr(&io->v, true))
		kcall_wait(seen);
	vvsock_intr(&io->v, false);
}

int vsk_io_send_data(struct vsk_io *io, struct vsconn *conn, uint32_t len)
{
	struct vsock_hdr h;

	vsconn_data_hdr(&io->t, conn, len, &h);
	return vvsock_send(&io->v, &h);
}

/* ---- the byte streams of the vsock workload ---- */

/* The bytes one direction of a connection carries: preamble + pattern. */
struct vsk_stream {
	uint8_t pre[VSK_PRE];
	bool known;             /* preamble known (accepted: learnt from the data) */
	uint64_t total;         /* VSK_PRE + count */
	uint64_t pos;
	uint64_t state, word;
	unsigned left;
};

static void vsk_stream_seed(struct vsk_stream *s, uint32_t seed)
{
	s->state = (uint64_t)seed * 0x9e3779b97f4a7c15ULL + 0x632be59bd9b4e019ULL;
	if (!s->state)
		s->state = 1;
	s->left = 0;
	s->known = true;
}

static void vsk_stream_init(struct vsk_stream *s, uint32_t seed, uint64_t count)
{
	uint32_t magic = VSK_MAGIC;

	*s = (struct vsk_stream){ .total = VSK_PRE + count };
	__builtin_memcpy(s->pre, &magic, 4);
	__builtin_memcpy(s->pre + 4, &seed, 4);
	__builtin_memcpy(s->pre + 8, &count, 8);
	vsk_stream_seed(s, seed);
}

static uint8_t vsk_stream_byte(struct vsk_stream *s)
{
	uint8_t b;

	if (s->pos < VSK_PRE) {
		b = s->pre[s->pos];
	} else {
		if (!s->left) {
			s->word = vpat_next(&s->state);
			s->left = 8;
		}
		b = (uint8_t)s->word;
		s->word >>= 8;
		s->left--;
	}
	s->pos++;
	return b;
}

static void vsk_stream_fill(struct vsk_stream *s, uint8_t *buf, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		buf[i] = vsk_stream_byte(s);
}

/* An accepted connection's preamble, collected byte by byte. */
static int vsk_stream_learn(struct vsk_stream *s, uint8_t b, uint64_t max)
{
	uint32_t magic, seed;
	uint64_t count;

	s->pre[s->pos++] = b;
	if (s->pos < VSK_PRE)
		return 0;
	__builtin_memcpy(&magic, s->pre, 4);
	__builtin_memcpy(&seed, s->pre + 4, 4);
	__builtin_memcpy(&count, s->pre + 8, 8);
	if (magic != VSK_MAGIC || count > max)
		return -EPROTO;
	s->total = VSK_PRE + count;
	vsk_stream_seed(s, seed);
	return 0;
}

/* Check n received bytes against the stream: 0, -EPROTO (bad preamble),
 * -E2BIG (more than the stream holds) or -EIO (wrong byte; *at = where). */
static int vsk_stream_check(struct vsk_stream *s, const uint8_t *buf, uint32_t n,
			    uint64_t max, uint64_t *at)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!s->known) {
			if (vsk_stream_learn(s, buf[i], max))
				return -EPROTO;
			continue;
		}
		if (s->pos >= s->total)
			return -E2BIG;
		*at = s->pos;
		if (vsk_stream_byte(s) != buf[i])
			return -EIO;
	}
	return 0;
}

/* ---- the vsock workload ---- */

struct vsk_flow {
	struct vsconn *c;
	bool origin;            /* we connected: send `out`, expect it echoed */
	bool done;
	struct vsk_stream in;   /* what must arrive */
	struct vsk_stream out;  /* origin: what we send */
	uint64_t echoed;        /* accepted: bytes sent back */
	uint64_t stall_tsc;     /* zero credit since (0: not stalled) */
	uint64_t close_tsc;
	uint32_t stalls;
};

struct vsk_job {
	struct vsk_io io;
	uint64_t port, host_port, nin, nout, bytes, ms, noport, seed, buf, pkt, rxbuf;
	uint64_t credit_wait;   /* ms of zero credit before CREDIT_REQUEST, 0 = never */
	struct vsconn *noport_c;
	bool noport_done;
	unsigned nflows;
	struct vsk_flow flow[2 * VSK_MAX_FLOWS + 1];
	uint64_t in_done, out_done, bytes_in, bytes_out;
	uint32_t stalls;
};

static int vsk_params(struct guest *g, struct vsk_job *j)
{
	uint64_t conns;

	if (cmdline_u64(&g->cmd, "port", 1234, 1, 0xffffffffu, &j->port) ||
	    cmdline_u64(&g->cmd, "host-port", 5000, 1, 0xffffffffu, &j->host_port) ||
	    cmdline_u64(&g->cmd, "conns", 10, 0, VSK_MAX_FLOWS, &conns) ||
	    cmdline_u64(&g->cmd, "in", conns, 0, VSK_MAX_FLOWS, &j->nin) ||
	    cmdline_u64(&g->cmd, "out", conns, 0, VSK_MAX_FLOWS, &j->nout) ||
	    cmdline_u64(&g->cmd, "bytes", 1 << 20, 0, 1ULL << 32, &j->bytes) ||
	    cmdline_u64(&g->cmd, "timeout", 60000, 100, 3600000, &j->ms) ||
	    cmdline_u64(&g->cmd, "noport", 0, 0, 0xffffffffu, &j->noport) ||
	    cmdline_u64(&g->cmd, "seed", 1, 0, 0xfffffu, &j->seed) ||
	    cmdline_u64(&g->cmd, "buf", 65536, 4096, 1 << 20, &j->buf) ||
	    cmdline_u64(&g->cmd, "pkt", 4096, 1, VVSOCK_PKT_MAX, &j->pkt) ||
	    cmdline_u64(&g->cmd, "rxbuf", 4096, 64, 65536, &j->rxbuf) ||
	    cmdline_u64(&g->cmd, "credit-wait", 500, 0, 3600000, &j->credit_wait))
		return guest_fail(g, -EINVAL, "bad parameter");
	if (j->buf & (j->buf - 1))
		return guest_fail(g, -EINVAL, "buf=%lu is not a power of two", j->buf);
	return 0;
}

static struct vsk_flow *vsk_flow_of(struct vsk_job *j, const struct vsconn *c)
{
	return &j->flow[c - j->io.conn];
}

/* Our connections: out= to host-port (each its own seed), noport. */
static int vsk_connect_all(struct vsk_job *j)
{
	for (uint64_t i = 0; i < j->nout; i++) {
		struct vsconn *c = vsconn_connect(&j->io.t, (uint32_t)j->host_port);
		struct vsk_flow *f;

		if (!c)
			return guest_fail(j->io.g, -ENOSPC, "connection table full");
		f = vsk_flow_of(j, c);
		f->c = c;
		f->origin = true;
		vsk_stream_init(&f->out, (uint32_t)(j->seed * 1000 + 500 + i), j->bytes);
		f->in = f->out;
	}
	if (j->noport) {
		j->noport_c = vsconn_connect(&j->io.t, (uint32_t)j->noport);
		if (!j->noport_c)
			return guest_fail(j->io.g, -ENOSPC, "connection table full");
	}
	return 0;
}

/* Track zero credit; after a while with none, ask for it. */
static void vsk_stall(struct vsk_job *j, struct vsk_flow *f, bool stalled)
{
	uint64_t now;

	if (!stalled) {
		f->stall_tsc = 0;
		return;
	}
	now = tsc_now();
	if (!f->stall_tsc) {
		f->stall_tsc = now;
		f->stalls++;
		j->stalls++;
	} else if (j->credit_wait && now - f->stall_tsc > j->io.c->tsc.hz / 1000 * j->credit_wait) {
		vsconn_ask_credit(f->c);
		f->stall_tsc = now;
	}
}

static int vsk_check(struct vsk_job *j, struct vsk_flow *f, const uint8_t *p, uint32_t n)
{
	uint64_t at = 0;
	int ret = vsk_stream_check(&f->in, p, n, VSK_COUNT_MAX, &at);

	if (!ret)
		return 0;
	return guest_fail(j->io.g, ret, "%s connection %u -> %u: %s at byte %lu",
			  f->origin ? "our" : "host", f->c->local_port, f->c->peer_port,
			  ret == -EPROTO ? "bad preamble" : ret == -E2BIG ? "too many bytes" :
			  "wrong byte", at);
}

/* Accepted connection: check what arrived and send it back. */
static int vsk_echo(struct vsk_job *j, struct vsk_flow *f)
{
	struct vsconn *c = f->c;
	const uint8_t *p;
	uint32_t avail, n;
	uint8_t *slot;
	int progress = 0, ret;

	while ((avail = vsconn_rx_peek(c, &p)) != 0) {
		uint32_t credit = vsconn_tx_credit(c);

		n = avail < credit ? avail : credit;
		n = n < j->pkt ? n : (uint32_t)j->pkt;
		vsk_stall(j, f, n == 0);
		slot = n ? vvsock_tx_slot(&j->io.v) : (uint8_t *)0;
		if (!slot)
			break;
		ret = vsk_check(j, f, p, n);
		if (ret)
			return ret;
		__builtin_memcpy(slot, p, n);
		ret = vsk_io_send_data(&j->io, c, n);
		if (ret)
			return guest_fail(j->io.g, ret, "cannot queue data");
		vsconn_consume(c, n);
		f->echoed += n;
		j->bytes_in += n;
		progress++;
	}
	if (f->in.known && f->echoed == f->in.total && c->state == VSCONN_OPEN)
		vsconn_close(c);
	return progress;
}

/* Our connection: send the stream as the credit allows, check the echo. */
static int vsk_origin(struct vsk_job *j, struct vsk_flow *f)
{
	struct vsconn *c = f->c;
	const uint8_t *p;
	uint32_t n;
	uint8_t *slot;
	int progress = 0, ret;

	while ((n = vsconn_rx_peek(c, &p)) != 0) {
		ret = vsk_check(j, f, p, n);
		if (ret)
			return ret;
		vsconn_consume(c, n);
		progress++;
	}
	while (f->out.pos < f->out.total) {
		uint64_t left = f->out.total - f->out.pos;
		uint32_t credit = vsconn_tx_credit(c);

		n = left < credit ? (uint32_t)left : credit;
		n = n < j->pkt ? n : (uint32_t)j->pkt;
		vsk_stall(j, f, n == 0);
		slot = n ? vvsock_tx_slot(&j->io.v) : (uint8_t *)0;
		if (!slot)
			break;
		vsk_stream_fill(&f->out, slot, n);
		ret = vsk_io_send_data(&j->io, c, n);
		if (ret)
			return guest_fail(j->io.g, ret, "cannot queue data");
		j->bytes_out += n;
		progress++;
	}
	if (f->out.pos == f->out.total && f->in.pos == f->in.total && c->state == VSCONN_OPEN)
		vsconn_close(c);
	return progress;
}

/* A connection that reached a final state: complete, or a FAIL. */
static int vsk_finish(struct vsk_job *j, struct vsk_flow *f)
{
	struct vsconn *c = f->c;
	bool complete = f->origin ? f->in.pos == f->in.total :
			f->in.known && f->echoed == f->in.total;

	if (c->state != VSCONN_CLOSED || !complete)
		return guest_fail(j->io.g, -EIO, "%s connection %u -> %u ended %s after %lu of "
				  "%lu bytes", f->origin ? "our" : "host", c->local_port,
				  c->peer_port, vsconn_state_name(c->state),
				  f->origin ? f->in.pos : f->echoed, f->in.total);
	f->done = true;
	if (f->origin)
		j->out_done++;
	else
		j->in_done++;
	return 1;
}

static int vsk_flow_step(struct vsk_job *j, struct vsconn *c)
{
	struct vsk_flow *f = vsk_flow_of(j, c);
	int ret;

	if (c->state == VSCONN_FREE || c == j->noport_c || f->done)
		return 0;
	if (!f->c)
		f->c = c;       /* newly accepted */
	if (vsconn_finished(c))
		return vsk_finish(j, f);
	if (c->state == VSCONN_CLOSING && !f->close_tsc)
		f->close_tsc = tsc_now();
	if (f->close_tsc && tsc_now() - f->close_tsc > j->io.c->tsc.hz / 1000 * VSK_CLOSE_MS)
		return guest_fail(j->io.g, -ETIMEDOUT, "no RST %u ms after our SHUTDOWN on %u -> %u",
				  VSK_CLOSE_MS, c->local_port, c->peer_port);
	if (c->state != VSCONN_OPEN)
		return 0;
	ret = f->origin ? vsk_origin(j, f) : vsk_echo(j, f);
	if (ret < 0 || !vsconn_peer_done(c) || c->state != VSCONN_OPEN || c->pending)
		return ret;
	/* The host shut both ways: fine once everything went through. */
	if (f->origin ? f->in.pos != f->in.total : !f->in.known || f->echoed != f->in.total)
		return guest_fail(j->io.g, -EIO, "the host shut connection %u -> %u down early",
				  c->local_port, c->peer_port);
	vsconn_close(c);
	return ret + 1;
}

static int vsk_noport_step(struct vsk_job *j)
{
	struct vsconn *c = j->noport_c;

	if (!c || j->noport_done || c->state == VSCONN_CONNECTING)
		return 0;
	if (c->state != VSCONN_REFUSED)
		return guest_fail(j->io.g, -EIO, "connecting to host port %lu (no listener) ended "
				  "%s, not refused", j->noport, vsconn_state_name(c->state));
	glog("vsock: host port %lu (no listener) refused our REQUEST with RST", j->noport);
	j->noport_done = true;
	return 1;
}

static bool vsk_all_done(const struct vsk_job *j)
{
	return j->in_done == j->nin && j->out_done == j->nout && (!j->noport || j->noport_done);
}

static int vsk_step(struct vsk_job *j)
{
	int n = vsk_io_rx(&j->io, VSK_RX_BATCH), total = n;

	for (unsigned i = 0; n >= 0 && i < j->io.t.nconn; i++) {
		n = vsk_flow_step(j, &j->io.conn[i]);
		total += n;
	}
	if (n >= 0) {
		n = vsk_noport_step(j);
		total += n;
	}
	if (n >= 0) {
		n = vsk_io_tx(&j->io);
		total += n;
	}
	return n < 0 ? n : total;
}

static int vsk_loop(struct vsk_job *j)
{
	uint64_t end = tsc_deadline(&j->io.c->tsc, j->ms);

	while (!vsk_all_done(j)) {
		uint64_t seen = kshared.events;
		int ret = vsk_step(j);

		if (ret < 0)
			return ret;
		if (tsc_passed(end))
			return guest_fail(j->io.g, -ETIMEDOUT, "after %lu ms: %lu of %lu host "
					  "connections and %lu of %lu ours done, %lu bytes in, %lu out",
					  j->ms, j->in_done, j->nin, j->out_done, j->nout,
					  j->bytes_in, j->bytes_out);
		if (!ret)
			vsk_io_sleep(&j->io, seen);
	}
	return 0;
}

static void vsk_report(struct vsk_job *j, uint64_t us)
{
	uint32_t cu_in = 0, cu_out = 0, cr_in = 0, cr_out = 0, full = 0, half = 0;

	for (unsigned i = 0; i < j->io.t.nconn; i++) {
		const struct vsconn *c = &j->io.conn[i];

		cu_in += c->credit_updates_in;
		cu_out += c->credit_updates_out;
		cr_in += c->credit_requests_in;
		cr_out += c->credit_requests_out;
		full += c->rx_full;
		half += (c->shut_rcvd & VSOCK_SHUT_SEND) != 0;
	}
	glog("vsock: %lu host connections checked+echoed (%lu bytes), %lu ours sent+checked "
	     "(%lu bytes) in %lu us; the host shut down sending first on %u", j->in_done,
	     j->bytes_in, j->out_done, j->bytes_out, us, half);
	glog("vsock: credit: updates in %u out %u, requests in %u out %u, zero-credit stalls %u, "
	     "receive ring full %u times", cu_in, cu_out, cr_in, cr_out, j->stalls, full);
	glog("vsock: packets in %lu out %lu (%lu split), RST to unknown %lu (%lu dropped), "
	     "refused %lu, %lu interrupts", j->io.t.st.pkts_in, j->io.v.tx_pkts, j->io.v.tx_split,
	     j->io.t.st.rst_unknown, j->io.t.st.rst_dropped, j->io.t.st.refused,
	     virtio_queue_irqs(j->io.v.d));
}

int wl_vsock(struct guest *g)
{
	struct vctx *c;
	uint64_t t0;
	int ret;
	struct vsk_job *j = vctx_job(g, sizeof(*j), &c, &ret);

	if (!j)
		return ret;
	ret = vsk_params(g, j);
	if (!ret)
		ret = vsk_io_open(&j->io, g, c, (unsigned)(j->nin + j->nout + 1), (uint32_t)j->buf,
				  (uint32_t)j->rxbuf, (uint32_t)j->pkt);
	if (ret)
		return ret;
	vsconn_listen(&j->io.t, (uint32_t)j->port, (uint32_t)j->nin);
	ret = vsk_connect_all(j);
	if (ret)
		return ret;
	glog("vsock: listening on port %lu (cid %lu) for %lu connections; %lu to host port %lu; "
	     "%lu bytes each, buf %lu, pkt %lu", j->port, j->io.v.cid, j->nin, j->nout,
	     j->host_port, j->bytes, j->buf, j->pkt);
	t0 = tsc_now();
	ret = vsk_loop(j);
	vsk_report(j, tsc_to_us(&c->tsc, tsc_now() - t0));
	return ret;
}

/* ---- vsock-flood ---- */

#define FLOOD_PORT_BASE   20000
#define FLOOD_STALL_MS    200
#define FLOOD_LOCAL_BASE  0x10000

struct flood_job {
	struct vsk_io io;
	uint64_t host_port, requests, bytes, pkt, ms;
	uint64_t end;
	uint64_t sent_req, sent_bytes, rx_drains;
};

/* Wait for transmit room without reading the receive ring, unless the
 * device stops taking packets for FLOOD_STALL_MS: then drain it. */
static int flood_room(struct flood_job *j)
{
	uint64_t stall = tsc_deadline(&j->io.c->tsc, FLOOD_STALL_MS);
	int ret;

	while (!vvsock_tx_slot(&j->io.v)) {
		vvsock_flush(&j->io.v);
		ret = vvsock_tx_reap(&j->io.v);
		if (ret < 0)
			return guest_fail(j->io.g, ret, "bad transmit completion");
		if (ret > 0)
			stall = tsc_deadline(&j->io.c->tsc, FLOOD_STALL_MS);
		if (tsc_passed(stall)) {
			ret = vsk_io_rx(&j->io, 1u << 30);
			if (ret < 0)
				return ret;
			j->rx_drains++;
			stall = tsc_deadline(&j->io.c->tsc, FLOOD_STALL_MS);
		}
		if (tsc_passed(j->end))
			return guest_fail(j->io.g, -ETIMEDOUT, "transmit ring stuck (%lu requests, "
					  "%lu bytes sent)", j->sent_req, j->sent_bytes);
	}
	return 0;
}

static int flood_requests(struct flood_job *j)
{
	for (uint64_t i = 0; i < j->requests; i++) {
		struct vsock_hdr h = { .src_cid = j->io.v.cid, .dst_cid = VSOCK_HOST_CID,
				       .src_port = (uint32_t)(FLOOD_LOCAL_BASE + i),
				       .dst_port = (uint32_t)(FLOOD_PORT_BASE + i),
				       .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_REQUEST,
				       .buf_alloc = 65536 };
		int ret = flood_room(j);

		if (ret)
			return ret;
		ret = vvsock_send(&j->io.v, &h);
		if (ret)
			return guest_fail(j->io.g, ret, "cannot queue a request");
		j->sent_req++;
	}
	vvsock_flush(&j->io.v);
	return 0;
}

/* Connect to host-port and wait for the answer (draining everything). */
static int flood_connect(struct flood_job *j, struct vsconn **out)
{
	struct vsconn *c = vsconn_connect(&j->io.t, (uint32_t)j->host_port);
	int ret;

	if (!c)
		return guest_fail(j->io.g, -ENOSPC, "connection table full");
	while (c->state == VSCONN_CONNECTING) {
		uint64_t seen = kshared.events;

		ret = vsk_io_rx(&j->io, 1u << 30);
		if (ret >= 0)
			ret = vsk_io_tx(&j->io);
		if (ret < 0)
			return ret;
		if (tsc_passed(j->end))
			return guest_fail(j->io.g, -ETIMEDOUT, "no answer to our REQUEST");
		if (!ret)
			vsk_io_sleep(&j->io, seen);
	}
	if (c->state != VSCONN_OPEN)
		return guest_fail(j->io.g, -EIO, "connecting to host port %lu: %s", j->host_port,
				  vsconn_state_name(c->state));
	*out = c;
	return 0;
}

/* RW packets of pkt bytes on c until bytes are sent, credit ignored. */
static int flood_data(struct flood_job *j, struct vsconn *c)
{
	while (j->sent_bytes < j->bytes) {
		uint64_t left = j->bytes - j->sent_bytes;
		uint32_t n = (uint32_t)(left < j->pkt ? left : j->pkt);
		uint8_t *slot;
		int ret = flood_room(j);

		if (ret)
			return ret;
		slot = vvsock_tx_slot(&j->io.v);
		__builtin_memset(slot, 0xa5, n);
		ret = vsk_io_send_data(&j->io, c, n);
		if (ret)
			return guest_fail(j->io.g, ret, "cannot queue data");
		j->sent_bytes += n;
	}
	vvsock_flush(&j->io.v);
	return 0;
}

/* Everything sent completes (draining the receive ring meanwhile). */
static int flood_drain(struct flood_job *j)
{
	while (virtq_in_flight(j->io.v.tx)) {
		uint64_t seen = kshared.events;
		int ret = vsk_io_rx(&j->io, 1u << 30);

		if (ret >= 0)
			ret = vsk_io_tx(&j->io);
		if (ret < 0)
			return ret;
		if (tsc_passed(j->end))
			return guest_fail(j->io.g, -ETIMEDOUT, "%u packets never completed",
					  virtq_in_flight(j->io.v.tx));
		if (!ret)
			vsk_io_sleep(&j->io, seen);
	}
	return 0;
}

static int flood_run(struct flood_job *j)
{
	struct vsconn *c, *again;
	int ret = flood_requests(j);

	if (!ret)
		ret = flood_drain(j);
	if (!ret)
		ret = flood_connect(j, &c);
	if (ret)
		return ret;
	glog("vsock-flood: %lu REQUESTs sent (%lu RSTs back), connected to host port %lu, "
	     "host credit %u; sending %lu bytes ignoring it", j->sent_req, j->io.t.st.rst_ignored,
	     j->host_port, c->peer_buf_alloc, j->bytes);
	ret = flood_data(j, c);
	if (!ret)
		ret = flood_drain(j);
	glog("vsock-flood: sent %lu bytes in %lu packets; connection %s; %lu packets back, "
	     "receive drained %lu times on stalls", j->sent_bytes, j->io.v.tx_pkts,
	     vsconn_state_name(c->state), j->io.t.st.pkts_in, j->rx_drains);
	if (!ret)
		ret = flood_connect(j, &again);
	if (ret)
		return ret;
	glog("vsock-flood: a new connection to host port %lu still opens", j->host_port);
	vsconn_close(again);
	ret = vsk_io_tx(&j->io);
	return ret < 0 ? ret : 0;
}

int wl_vsock_flood(struct guest *g)
{
	struct vctx *c;
	int ret;
	struct flood_job *j = vctx_job(g, sizeof(*j), &c, &ret);

	if (!j)
		return ret;
	if (cmdline_u64(&g->cmd, "host-port", 5000, 1, 0xffffffffu, &j->host_port) ||
	    cmdline_u64(&g->cmd, "requests", 10000, 0, 10000000, &j->requests) ||
	    cmdline_u64(&g->cmd, "bytes", 256ULL << 20, 0, 1ULL << 40, &j->bytes) ||
	    cmdline_u64(&g->cmd, "pkt", VVSOCK_PKT_MAX, 1, VVSOCK_PKT_MAX, &j->pkt) ||
	    cmdline_u64(&g->cmd, "timeout", 120000, 100, 3600000, &j->ms))
		return guest_fail(g, -EINVAL, "bad parameter");
	ret = vsk_io_open(&j->io, g, c, 4, 4096, 4096, (uint32_t)j->pkt);
	if (ret)
		return ret;
	j->end = tsc_deadline(&c->tsc, j->ms);
	glog("vsock-flood: %lu REQUESTs to host ports %u.., then %lu bytes to host port %lu",
	     j->requests, FLOOD_PORT_BASE, j->bytes, j->host_port);
	return flood_run(j);
}
