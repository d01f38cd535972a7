/* vsconn: virtio-vsock stream connections, credit and control packets
 * (see vsconn.h). */
#include "lib.h"
#include "vsconn.h"

#define VSCONN_EPHEMERAL 0x8000   /* local ports of our connections start here */

void vsconn_tab_init(struct vsconn_tab *t, uint64_t cid, struct vsconn *conn, unsigned n,
		     uint8_t *bufs, uint32_t buf_alloc)
{
	*t = (struct vsconn_tab){ .cid = cid, .conn = conn, .nconn = n,
				  .next_port = VSCONN_EPHEMERAL };
	for (unsigned i = 0; i < n; i++)
		conn[i] = (struct vsconn){ .buf = bufs + (uint64_t)i * buf_alloc,
					   .buf_alloc = buf_alloc };
}

void vsconn_listen(struct vsconn_tab *t, uint32_t port, uint32_t max)
{
	t->listening = true;
	t->listen_port = port;
	t->accept_left = max;
}

/* A free slot set up for (local, peer), or NULL. */
static struct vsconn *vsconn_slot(struct vsconn_tab *t, uint32_t local, uint32_t peer)
{
	for (unsigned i = 0; i < t->nconn; i++) {
		struct vsconn *c = &t->conn[i];

		if (c->state != VSCONN_FREE)
			continue;
		*c = (struct vsconn){ .buf = c->buf, .buf_alloc = c->buf_alloc,
				      .local_port = local, .peer_port = peer };
		return c;
	}
	return (struct vsconn *)0;
}

struct vsconn *vsconn_connect(struct vsconn_tab *t, uint32_t port)
{
	struct vsconn *c = vsconn_slot(t, t->next_port, port);

	if (!c)
		return c;
	t->next_port++;
	c->state = VSCONN_CONNECTING;
	c->pending = VSCONN_P_REQUEST;
	return c;
}

static bool vsconn_live(const struct vsconn *c)
{
	return c->state == VSCONN_CONNECTING || c->state == VSCONN_OPEN ||
	       c->state == VSCONN_CLOSING;
}

static struct vsconn *vsconn_find(struct vsconn_tab *t, const struct vsock_hdr *h)
{
	for (unsigned i = 0; i < t->nconn; i++) {
		struct vsconn *c = &t->conn[i];

		if (vsconn_live(c) && c->local_port == h->dst_port && c->peer_port == h->src_port)
			return c;
	}
	return (struct vsconn *)0;
}

static int vsconn_bad(struct vsconn_tab *t, const char *why)
{
	t->why = why;
	return -EPROTO;
}

/* Owe an RST to the sender of h (which belongs to no connection). */
static void vsconn_queue_rst(struct vsconn_tab *t, const struct vsock_hdr *h)
{
	t->st.rst_unknown++;
	if (t->nrst == VSCONN_RST_QUEUE) {
		t->st.rst_dropped++;
		return;
	}
	t->rst[t->nrst++] = (struct vsock_hdr){
		.src_cid = t->cid, .dst_cid = VSOCK_HOST_CID, .src_port = h->dst_port,
		.dst_port = h->src_port, .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_RST };
}

/* A packet of no connection: a REQUEST we accept, else RST. */
static int vsconn_input_unknown(struct vsconn_tab *t, const struct vsock_hdr *h)
{
	struct vsconn *c = (struct vsconn *)0;

	if (h->op == VSOCK_OP_RST) {
		t->st.rst_ignored++;
		return 0;
	}
	if (h->op == VSOCK_OP_REQUEST) {
		if (t->listening && h->dst_port == t->listen_port && t->accept_left)
			c = vsconn_slot(t, h->dst_port, h->src_port);
		if (!c) {
			t->st.refused++;
			vsconn_queue_rst(t, h);
			return 0;
		}
		t->accept_left--;
		c->state = VSCONN_OPEN;
		c->accepted = true;
		c->peer_buf_alloc = h->buf_alloc;
		c->peer_fwd_cnt = h->fwd_cnt;
		c->pending = VSCONN_P_RESPONSE;
		return 0;
	}
	vsconn_queue_rst(t, h);
	return 0;
}

/* The credit information every packet carries. The peer's fwd_cnt may
 * only move forward, and never past what we sent. */
static int vsconn_credit_in(struct vsconn_tab *t, struct vsconn *c, const struct vsock_hdr *h)
{
	if ((uint32_t)(h->fwd_cnt - c->peer_fwd_cnt) > (uint32_t)(c->tx_cnt - c->peer_fwd_cnt))
		return vsconn_bad(t, "peer fwd_cnt moved back or past the bytes we sent");
	c->peer_fwd_cnt = h->fwd_cnt;
	c->peer_buf_alloc = h->buf_alloc;
	return 0;
}

/* Data into the receive ring, within the credit we advertised. */
static int vsconn_rw_in(struct vsconn_tab *t, struct vsconn *c, const struct vsock_hdr *h,
			const uint8_t *data)
{
	uint32_t allowed = c->buf_alloc - (c->rx_cnt - c->fwd_adv);
	uint32_t off = c->rx_cnt & (c->buf_alloc - 1), first;

	if (c->state != VSCONN_OPEN && c->state != VSCONN_CLOSING)
		return vsconn_bad(t, "RW on a connection that is not open");
	if (c->shut_rcvd & VSOCK_SHUT_SEND)
		return vsconn_bad(t, "RW after the peer's SHUTDOWN(SEND)");
	if (h->len > allowed)
		return vsconn_bad(t, "peer sent more than our advertised credit");
	first = h->len < c->buf_alloc - off ? h->len : c->buf_alloc - off;
	__builtin_memcpy(c->buf + off, data, first);
	__builtin_memcpy(c->buf, data + first, h->len - first);
	c->rx_cnt += h->len;
	t->st.bytes_in += h->len;
	c->rx_full += (c->rx_cnt - c->fwd_cnt == c->buf_alloc);
	return 0;
}

static int vsconn_shutdown_in(struct vsconn *c, const struct vsock_hdr *h)
{
	c->shut_rcvd |= h->flags & VSOCK_SHUT_BOTH;
	if (c->state == VSCONN_CLOSING && c->shut_rcvd == VSOCK_SHUT_BOTH)
		c->pending |= VSCONN_P_RST;     /* both sides done: we end it */
	return 0;
}

static void vsconn_rst_in(struct vsconn *c)
{
	switch (c->state) {
	case VSCONN_CONNECTING: c->state = VSCONN_REFUSED; break;
	case VSCONN_CLOSING: c->state = VSCONN_CLOSED; break;
	case VSCONN_OPEN: c->state = VSCONN_RESET; break;
	case VSCONN_FREE:
	case VSCONN_CLOSED:
	case VSCONN_REFUSED:
	case VSCONN_RESET:
		break;
	}
	c->pending = 0;
}

static int vsconn_input_conn(struct vsconn_tab *t, struct vsconn *c, const struct vsock_hdr *h,
			     const uint8_t *data)
{
	int ret;

	if (h->op == VSOCK_OP_RST) {    /* the peer may have forgotten the counters */
		vsconn_rst_in(c);
		return 0;
	}
	ret = vsconn_credit_in(t, c, h);
	if (ret)
		return ret;
	switch ((enum vsock_op)h->op) {
	case VSOCK_OP_RESPONSE:
		if (c->state != VSCONN_CONNECTING)
			return vsconn_bad(t, "RESPONSE on a connection that is not connecting");
		c->state = VSCONN_OPEN;
		return 0;
	case VSOCK_OP_SHUTDOWN:
		return vsconn_shutdown_in(c, h);
	case VSOCK_OP_RW:
		return vsconn_rw_in(t, c, h, data);
	case VSOCK_OP_CREDIT_UPDATE:
		c->credit_updates_in++;
		return 0;
	case VSOCK_OP_CREDIT_REQUEST:
		c->credit_requests_in++;
		c->pending |= VSCONN_P_CREDIT;
		return 0;
	case VSOCK_OP_REQUEST:
		return vsconn_bad(t, "REQUEST on a live connection");
	case VSOCK_OP_RST:
	case VSOCK_OP_INVALID:
		break;
	}
	return vsconn_bad(t, "unknown operation");
}

int vsconn_input(struct vsconn_tab *t, const struct vsock_hdr *h, const uint8_t *data)
{
	struct vsconn *c;

	t->st.pkts_in++;
	if (h->src_cid != VSOCK_HOST_CID || h->dst_cid != t->cid)
		return vsconn_bad(t, "packet not from the host CID to ours");
	if (h->type != VSOCK_TYPE_STREAM)
		return vsconn_bad(t, "packet type is not STREAM");
	if (h->len && h->op != VSOCK_OP_RW)
		return vsconn_bad(t, "payload on a control packet");
	c = vsconn_find(t, h);
	return c ? vsconn_input_conn(t, c, h, data) : vsconn_input_unknown(t, h);
}

/* Fill the common fields of a packet of c (credit included). */
static void vsconn_hdr(const struct vsconn_tab *t, struct vsconn *c, uint16_t op,
		       struct vsock_hdr *h)
{
	*h = (struct vsock_hdr){ .src_cid = t->cid, .dst_cid = VSOCK_HOST_CID,
				 .src_port = c->local_port, .dst_port = c->peer_port,
				 .type = VSOCK_TYPE_STREAM, .op = op,
				 .buf_alloc = c->buf_alloc, .fwd_cnt = c->fwd_cnt };
	c->fwd_adv = c->fwd_cnt;
	c->pending &= ~(uint32_t)VSCONN_P_CREDIT;       /* every packet carries it */
}

/* Pending bits in the order they go out, with their operation. */
static const struct {
	uint32_t bit;
	uint16_t op;
} vsconn_ctrl[] = {
	{ VSCONN_P_REQUEST, VSOCK_OP_REQUEST },
	{ VSCONN_P_RESPONSE, VSOCK_OP_RESPONSE },
	{ VSCONN_P_CREDIT, VSOCK_OP_CREDIT_UPDATE },
	{ VSCONN_P_CREDIT_REQ, VSOCK_OP_CREDIT_REQUEST },
	{ VSCONN_P_SHUTDOWN, VSOCK_OP_SHUTDOWN },
	{ VSCONN_P_RST, VSOCK_OP_RST },
};

/* What sending op does to c's state. */
static void vsconn_sent(struct vsconn *c, uint16_t op, struct vsock_hdr *h)
{
	switch ((enum vsock_op)op) {
	case VSOCK_OP_CREDIT_UPDATE: c->credit_updates_out++; break;
	case VSOCK_OP_CREDIT_REQUEST: c->credit_requests_out++; break;
	case VSOCK_OP_SHUTDOWN:
		h->flags = VSOCK_SHUT_BOTH;
		c->state = VSCONN_CLOSING;
		break;
	case VSOCK_OP_RST:
		c->state = VSCONN_CLOSED;
		c->pending = 0;
		break;
	case VSOCK_OP_INVALID:
	case VSOCK_OP_REQUEST:
	case VSOCK_OP_RESPONSE:
	case VSOCK_OP_RW:
		break;
	}
}

int vsconn_output(struct vsconn_tab *t, struct vsock_hdr *h)
{
	if (t->nrst) {
		*h = t->rst[--t->nrst];
		t->st.pkts_out++;
		return 1;
	}
	for (unsigned i = 0; i < t->nconn; i++) {
		struct vsconn *c = &t->conn[i];

		for (unsigned k = 0; c->pending && k < sizeof(vsconn_ctrl) / sizeof(vsconn_ctrl[0]);
		     k++) {
			if (!(c->pending & vsconn_ctrl[k].bit))
				continue;
			c->pending &= ~vsconn_ctrl[k].bit;
			vsconn_hdr(t, c, vsconn_ctrl[k].op, h);
			vsconn_sent(c, vsconn_ctrl[k].op, h);
			t->st.pkts_out++;
			return 1;
		}
	}
	return 0;
}

uint32_t vsconn_rx_avail(const struct vsconn *c)
{
	return c->rx_cnt - c->fwd_cnt;
}

uint32_t vsconn_rx_peek(const struct vsconn *c, const uint8_t **p)
{
	uint32_t off = c->fwd_cnt & (c->buf_alloc - 1), avail = vsconn_rx_avail(c);

	*p = c->buf + off;
	return avail < c->buf_alloc - off ? avail : c->buf_alloc - off;
}

void vsconn_consume(struct vsconn *c, uint32_t n)
{
	uint32_t avail = vsconn_rx_avail(c);

	c->fwd_cnt += n < avail ? n : avail;
	if (c->fwd_cnt - c->fwd_adv >= c->buf_alloc / 2 && c->state == VSCONN_OPEN)
		c->pending |= VSCONN_P_CREDIT;
}

uint32_t vsconn_tx_credit(const struct vsconn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	if (c->state != VSCONN_OPEN || (c->shut_rcvd & VSOCK_SHUT_RCV))
		return 0;
	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

void vsconn_data_hdr(const struct vsconn_tab *t, struct vsconn *c, uint32_t len,
		     struct vsock_hdr *h)
{
	vsconn_hdr(t, c, VSOCK_OP_RW, h);
	h->len = len;
	c->tx_cnt += len;
}

void vsconn_ask_credit(struct vsconn *c)
{
	c->pending |= VSCONN_P_CREDIT_REQ;
}

void vsconn_close(struct vsconn *c)
{
	if (c->state != VSCONN_OPEN)
		return;
	c->pending |= c->shut_rcvd == VSOCK_SHUT_BOTH ? VSCONN_P_RST : VSCONN_P_SHUTDOWN;
}

bool vsconn_peer_done(const struct vsconn *c)
{
	return c->shut_rcvd == VSOCK_SHUT_BOTH;
}

bool vsconn_finished(const struct vsconn *c)
{
	return !c->pending && (c->state == VSCONN_CLOSED || c->state == VSCONN_REFUSED ||
			       c->state == VSCONN_RESET);
}

void vsconn_release(struct vsconn *c)
{
	if (vsconn_finished(c))
		c->state = VSCONN_FREE;
}

const char *vsconn_state_name(enum vsconn_state s)
{
	switch (s) {
	case VSCONN_FREE: return "free";
	case VSCONN_CONNECTING: return "connecting";
	case VSCONN_OPEN: return "open";
	case VSCONN_CLOSING: return "closing";
	case VSCONN_CLOSED: return "closed";
	case VSCONN_REFUSED: return "refused";
	case VSCONN_RESET: return "reset";
	}
	return "?";
}
