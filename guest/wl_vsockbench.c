/* wl_vsockbench: the vsock-bench workload (see README.md), driven by
 * bench/vsock on the host. Four phases, ring 3 polling the rings
 * (interrupts suppressed):
 *   rx      - listens on port=, the host connects and sends a 16-byte
 *             preamble ('VSK1', u32 seed, u64 count) then count bytes;
 *             the guest consumes them (credit flowing back) and reports
 *             MB/s from the first to the last byte;
 *   tx      - connects to host-port= and sends as fast as the host's credit
 *             allows for ms= ms, then shuts down; MB/s up to the RST that
 *             ends the connection (everything delivered);
 *   connect - for conn-ms= ms, connect to host-port= + shut down, one after
 *             another; connections/s;
 *   accept  - listens on port= again for accepts= connections, each shut
 *             down as soon as it is open (the host times them). */
#include "glog.h"
#include "kshared.h"
#include "lib.h"
#include "tsc.h"
#include "wl_virtio.h"
#include "wl_vsock.h"

#define VB_PRE        16
#define VB_MAGIC      0x314b5356u
#define VB_CONNS      4
#define VB_CREDIT_MS  100     /* zero credit this long: CREDIT_REQUEST */

struct vb_job {
	struct vsk_io io;
	uint64_t port, host_port, ms, conn_ms, accepts, pkt, buf, rxbuf, timeout;
	uint64_t end;           /* the whole run's deadline */
	uint32_t credit_reqs;   /* CREDIT_REQUESTs we had to send */
};

/* tx with zero credit since *since: ask for it after VB_CREDIT_MS. */
static void vb_stalled(struct vb_job *j, struct vsconn *c, uint32_t credit, uint64_t *since)
{
	uint64_t now = tsc_now();

	if (credit) {
		*since = 0;
	} else if (!*since) {
		*since = now;
	} else if (now - *since > j->io.c->tsc.hz / 1000 * VB_CREDIT_MS) {
		vsconn_ask_credit(c);
		j->credit_reqs++;
		*since = now;
	}
}

/* One round: receive, transmit control packets, reap. <0 on failure. */
static int vb_pump(struct vb_job *j)
{
	int ret = vsk_io_rx(&j->io, 1u << 30);

	if (ret >= 0)
		ret = vsk_io_tx(&j->io);
	if (ret >= 0 && tsc_passed(j->end))
		return guest_fail(j->io.g, -ETIMEDOUT, "the benchmark did not finish in %lu ms",
				  j->timeout);
	return ret;
}

/* Pump until c leaves state s. */
static int vb_wait_state(struct vb_job *j, struct vsconn *c, enum vsconn_state s)
{
	int ret = 0;

	while (ret >= 0 && c->state == s)
		ret = vb_pump(j);
	return ret < 0 ? ret : 0;
}

/* The first open connection accepted on our port, waiting for it. */
static int vb_accept(struct vb_job *j, struct vsconn **out)
{
	for (;;) {
		int ret = vb_pump(j);

		if (ret < 0)
			return ret;
		for (unsigned i = 0; i < j->io.t.nconn; i++) {
			struct vsconn *c = &j->io.conn[i];

			if (c->accepted && c->state == VSCONN_OPEN) {
				*out = c;
				return 0;
			}
		}
	}
}

/* rx: consume the host's preamble + count bytes, timing the data. */
static int vb_rx(struct vb_job *j)
{
	uint64_t got = 0, total = VB_PRE, t0 = 0, t1 = 0, count = 0, us;
	uint8_t pre[VB_PRE];
	struct vsconn *c;
	const uint8_t *p;
	int ret;

	vsconn_listen(&j->io.t, (uint32_t)j->port, 1);
	glog("vsock-bench: listening on port %lu (cid %lu)", j->port, j->io.v.cid);
	ret = vb_accept(j, &c);
	while (!ret && got < total && c->state == VSCONN_OPEN) {
		uint32_t n = vsconn_rx_peek(c, &p);

		if (n > total - got)
			n = (uint32_t)(total - got);
		for (uint32_t i = 0; i < n && got + i < VB_PRE; i++)
			pre[got + i] = p[i];
		if (n && !t0)
			t0 = tsc_now();
		if (got < VB_PRE && got + n >= VB_PRE) {
			__builtin_memcpy(&count, pre + 8, 8);
			total = VB_PRE + count;
		}
		got += n;
		vsconn_consume(c, n);
		t1 = n ? tsc_now() : t1;
		ret = vb_pump(j);
		ret = ret < 0 ? ret : 0;
	}
	if (ret < 0)
		return ret;
	if (got < total || lib_get32(pre) != VB_MAGIC)
		return guest_fail(j->io.g, -EIO, "rx: %lu of %lu bytes, connection %s", got, total,
				  vsconn_state_name(c->state));
	vsconn_close(c);
	ret = vb_wait_state(j, c, VSCONN_OPEN);
	ret = ret ? ret : vb_wait_state(j, c, VSCONN_CLOSING);
	us = tsc_to_us(&j->io.c->tsc, t1 - t0);
	us = us ? us : 1;
	glog("vsock-bench: rx MBps=%lu bytes=%lu us=%lu credit-updates=%u", count / us, count, us,
	     c->credit_updates_out);
	vsconn_release(c);
	return ret;
}

/* tx: send for ms, then shut down; time until the connection is closed. */
static int vb_tx(struct vb_job *j)
{
	struct vsconn *c = vsconn_connect(&j->io.t, (uint32_t)j->host_port);
	uint64_t t0, stop, us, bytes, since = 0;
	int ret;

	if (!c)
		return guest_fail(j->io.g, -ENOSPC, "connection table full");
	ret = vb_wait_state(j, c, VSCONN_CONNECTING);
	if (ret || c->state != VSCONN_OPEN)
		return ret ? ret : guest_fail(j->io.g, -EIO, "tx: connecting to host port %lu: %s",
					      j->host_port, vsconn_state_name(c->state));
	t0 = tsc_now();
	stop = tsc_deadline(&j->io.c->tsc, j->ms);
	while (!ret && !tsc_passed(stop) && c->state == VSCONN_OPEN) {
		uint32_t n = vsconn_tx_credit(c);

		vb_stalled(j, c, n, &since);
		n = n < j->pkt ? n : (uint32_t)j->pkt;
		if (n && vvsock_tx_slot(&j->io.v))
			ret = vsk_io_send_data(&j->io, c, n);
		ret = ret ? guest_fail(j->io.g, ret, "cannot queue data") : vb_pump(j);
		ret = ret < 0 ? ret : 0;
	}
	if (ret)
		return ret;
	vsconn_close(c);
	ret = vb_wait_state(j, c, VSCONN_OPEN);
	ret = ret ? ret : vb_wait_state(j, c, VSCONN_CLOSING);
	us = tsc_to_us(&j->io.c->tsc, tsc_now() - t0);
	bytes = c->tx_cnt;
	if (!ret && c->state != VSCONN_CLOSED)
		return guest_fail(j->io.g, -EIO, "tx: connection %s", vsconn_state_name(c->state));
	glog("vsock-bench: tx MBps=%lu bytes=%lu us=%lu credit-updates=%u credit-requests=%u",
	     bytes / us, bytes, us, c->credit_updates_in, j->credit_reqs);
	vsconn_release(c);
	return ret;
}

/* connect: open + shut down connections one after another for conn_ms. */
static int vb_connect(struct vb_job *j)
{
	uint64_t t0 = tsc_now(), stop = tsc_deadline(&j->io.c->tsc, j->conn_ms), n = 0, us;
	int ret = 0;

	while (!ret && !tsc_passed(stop)) {
		struct vsconn *c = vsconn_connect(&j->io.t, (uint32_t)j->host_port);

		if (!c)
			return guest_fail(j->io.g, -ENOSPC, "connection table full");
		ret = vb_wait_state(j, c, VSCONN_CONNECTING);
		if (!ret && c->state != VSCONN_OPEN)
			return guest_fail(j->io.g, -EIO, "connect %lu: %s", n,
					  vsconn_state_name(c->state));
		vsconn_close(c);
		ret = ret ? ret : vb_wait_state(j, c, VSCONN_OPEN);
		ret = ret ? ret : vb_wait_state(j, c, VSCONN_CLOSING);
		if (!ret && c->state != VSCONN_CLOSED)
			return guest_fail(j->io.g, -EIO, "connect %lu: %s after shutdown", n,
					  vsconn_state_name(c->state));
		vsconn_release(c);
		n++;
	}
	us = tsc_to_us(&j->io.c->tsc, tsc_now() - t0);
	if (!ret)
		glog("vsock-bench: connect conns/s=%lu n=%lu us=%lu", n * 1000000 / us, n, us);
	return ret;
}

/* accept: accepts connections, each shut down at once; released when closed. */
static int vb_accept_loop(struct vb_job *j)
{
	uint64_t done = 0;
	int ret = 0;

	vsconn_listen(&j->io.t, (uint32_t)j->port, (uint32_t)j->accepts);
	glog("vsock-bench: accepting %lu on port %lu", j->accepts, j->port);
	while (!ret && done < j->accepts) {
		ret = vb_pump(j);
		for (unsigned i = 0; ret >= 0 && i < j->io.t.nconn; i++) {
			struct vsconn *c = &j->io.conn[i];

			if (c->state == VSCONN_OPEN && !(c->pending & VSCONN_P_SHUTDOWN))
				vsconn_close(c);
			if (c->state == VSCONN_CLOSED || c->state == VSCONN_RESET)
				done += vsconn_finished(c);
			vsconn_release(c);
		}
		ret = ret < 0 ? ret : 0;
	}
	if (!ret)
		glog("vsock-bench: accepted %lu", done);
	return ret;
}

int wl_vsock_bench(struct guest *g)
{
	struct vctx *c;
	int ret;
	struct vb_job *j = vctx_job(g, sizeof(*j), &c, &ret);

	if (!j)
		return ret;
	if (cmdline_u64(&g->cmd, "port", 1234, 1, 0xffffffffu, &j->port) ||
	    cmdline_u64(&g->cmd, "host-port", 5000, 1, 0xffffffffu, &j->host_port) ||
	    cmdline_u64(&g->cmd, "ms", 3000, 100, 600000, &j->ms) ||
	    cmdline_u64(&g->cmd, "conn-ms", 2000, 100, 600000, &j->conn_ms) ||
	    cmdline_u64(&g->cmd, "accepts", 200, 1, 1000000, &j->accepts) ||
	    cmdline_u64(&g->cmd, "pkt", VVSOCK_PKT_MAX, 1, VVSOCK_PKT_MAX, &j->pkt) ||
	    cmdline_u64(&g->cmd, "buf", 262144, 4096, 1 << 22, &j->buf) ||
	    cmdline_u64(&g->cmd, "rxbuf", 4096, 64, 65536, &j->rxbuf) ||
	    cmdline_u64(&g->cmd, "timeout", 120000, 1000, 3600000, &j->timeout))
		return guest_fail(g, -EINVAL, "bad parameter");
	if (j->buf & (j->buf - 1))
		return guest_fail(g, -EINVAL, "buf=%lu is not a power of two", j->buf);
	ret = vsk_io_open(&j->io, g, c, VB_CONNS, (uint32_t)j->buf, (uint32_t)j->rxbuf,
			  (uint32_t)j->pkt);
	if (ret)
		return ret;
	vvsock_intr(&j->io.v, false);
	j->end = tsc_deadline(&c->tsc, j->timeout + j->ms + j->conn_ms);
	ret = vb_rx(j);
	ret = ret ? ret : vb_tx(j);
	ret = ret ? ret : vb_connect(j);
	return ret ? ret : vb_accept_loop(j);
}
