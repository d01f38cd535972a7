/* test_guest_vsock: host-side cmocka tests of the test guest's virtio-vsock
 * connection layer (vsconn.c): accepting and refusing REQUESTs, connecting,
 * the control packets owed and their order, credit accounting both ways
 * (our advertised buf_alloc/fwd_cnt, CREDIT_UPDATE after half a ring and on
 * CREDIT_REQUEST, the peer's credit and its checks), the receive ring
 * across its end, SHUTDOWN/RST handshakes, and malformed input. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../lib.h"
#include "../vsconn.h"

#define CID      3
#define BUF      4096
#define NCONN    4
#define LPORT    1234

struct fx {
	struct vsconn_tab t;
	struct vsconn conn[NCONN];
	uint8_t bufs[NCONN * BUF];
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	vsconn_tab_init(&f->t, CID, f->conn, NCONN, f->bufs, BUF);
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	free(*state);
	return 0;
}

/* A packet from the host. */
static struct vsock_hdr host(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
	return (struct vsock_hdr){ .src_cid = VSOCK_HOST_CID, .dst_cid = CID,
				   .src_port = src_port, .dst_port = dst_port, .len = len,
				   .type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = 8192 };
}

static int in(struct fx *f, struct vsock_hdr h, const uint8_t *data)
{
	return vsconn_input(&f->t, &h, data);
}

/* The next owed packet must be op (from local to peer). */
static struct vsock_hdr out(struct fx *f, uint16_t op, uint32_t local, uint32_t peer)
{
	struct vsock_hdr h;

	assert_int_equal(vsconn_output(&f->t, &h), 1);
	assert_int_equal(h.op, op);
	assert_int_equal(h.src_port, local);
	assert_int_equal(h.dst_port, peer);
	assert_int_equal(h.src_cid, CID);
	assert_int_equal(h.dst_cid, VSOCK_HOST_CID);
	assert_int_equal(h.type, VSOCK_TYPE_STREAM);
	assert_int_equal(h.len, 0);
	return h;
}

static void none(struct fx *f)
{
	struct vsock_hdr h;

	assert_int_equal(vsconn_output(&f->t, &h), 0);
}

/* Accept one connection from host port hp; returns it. */
static struct vsconn *accept1(struct fx *f, uint32_t hp)
{
	struct vsock_hdr r;

	assert_int_equal(in(f, host(VSOCK_OP_REQUEST, hp, LPORT, 0), NULL), 0);
	r = out(f, VSOCK_OP_RESPONSE, LPORT, hp);
	assert_int_equal(r.buf_alloc, BUF);
	assert_int_equal(r.fwd_cnt, 0);
	for (unsigned i = 0; i < NCONN; i++)
		if (f->conn[i].state == VSCONN_OPEN && f->conn[i].peer_port == hp)
			return &f->conn[i];
	fail();
	return NULL;
}

static void test_accept_refuse(void **state)
{
	struct fx *f = *state;
	struct vsconn *c;
	struct vsock_hdr r;

	/* Not listening: RST, nothing else. */
	assert_int_equal(in(f, host(VSOCK_OP_REQUEST, 7, LPORT, 0), NULL), 0);
	out(f, VSOCK_OP_RST, LPORT, 7);
	none(f);
	vsconn_listen(&f->t, LPORT, 2);
	c = accept1(f, 100);
	assert_true(c->accepted);
	assert_int_equal(c->peer_buf_alloc, 8192);
	none(f);
	/* Another port: RST. */
	assert_int_equal(in(f, host(VSOCK_OP_REQUEST, 101, 999, 0), NULL), 0);
	out(f, VSOCK_OP_RST, 999, 101);
	accept1(f, 102);
	/* Accept limit reached: RST. */
	assert_int_equal(in(f, host(VSOCK_OP_REQUEST, 103, LPORT, 0), NULL), 0);
	r = out(f, VSOCK_OP_RST, LPORT, 103);
	assert_int_equal(r.flags, 0);
	assert_int_equal(f->t.st.refused, 3);
	/* A REQUEST on a live connection breaks the protocol. */
	assert_int_equal(in(f, host(VSOCK_OP_REQUEST, 100, LPORT, 0), NULL), -EPROTO);
	/* An RST for nothing is ignored, RW for nothing answered with RST. */
	assert_int_equal(in(f, host(VSOCK_OP_RST, 55, 56, 0), NULL), 0);
	none(f);
	assert_int_equal(in(f, host(VSOCK_OP_RW, 55, 56, 3), (const uint8_t *)"abc"), 0);
	out(f, VSOCK_OP_RST, 56, 55);
	none(f);
}

static void test_connect(void **state)
{
	struct fx *f = *state;
	struct vsconn *a = vsconn_connect(&f->t, 5000), *b = vsconn_connect(&f->t, 5001);

	assert_non_null(a);
	assert_non_null(b);
	assert_int_not_equal(a->local_port, b->local_port);
	assert_int_equal(a->state, VSCONN_CONNECTING);
	out(f, VSOCK_OP_REQUEST, a->local_port, 5000);
	out(f, VSOCK_OP_REQUEST, b->local_port, 5001);
	none(f);
	assert_int_equal(vsconn_tx_credit(a), 0);
	assert_int_equal(in(f, host(VSOCK_OP_RESPONSE, 5000, a->local_port, 0), NULL), 0);
	assert_int_equal(a->state, VSCONN_OPEN);
	assert_int_equal(vsconn_tx_credit(a), 8192);
	assert_int_equal(in(f, host(VSOCK_OP_RST, 5001, b->local_port, 0), NULL), 0);
	assert_int_equal(b->state, VSCONN_REFUSED);
	assert_true(vsconn_finished(b));
	/* A second RESPONSE is a violation. */
	assert_int_equal(in(f, host(VSOCK_OP_RESPONSE, 5000, a->local_port, 0), NULL), -EPROTO);
	/* The table fills up; a released slot is reused. */
	assert_non_null(vsconn_connect(&f->t, 1));
	assert_non_null(vsconn_connect(&f->t, 2));
	assert_null(vsconn_connect(&f->t, 3));
	vsconn_release(a);                      /* open: not released */
	assert_null(vsconn_connect(&f->t, 3));
	vsconn_release(b);
	assert_ptr_equal(vsconn_connect(&f->t, 3), b);
}

static void test_rx_credit(void **state)
{
	struct fx *f = *state;
	static uint8_t data[BUF + 1];
	struct vsconn *c;
	struct vsock_hdr h, u;
	const uint8_t *p;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	vsconn_listen(&f->t, LPORT, 1);
	c = accept1(f, 9);
	/* More than the advertised credit in one packet. */
	assert_int_equal(in(f, host(VSOCK_OP_RW, 9, LPORT, BUF + 1), data), -EPROTO);
	assert_int_equal(in(f, host(VSOCK_OP_RW, 9, LPORT, 1000), data), 0);
	assert_int_equal(in(f, host(VSOCK_OP_RW, 9, LPORT, BUF - 1000), data + 1000), 0);
	assert_int_equal(c->rx_full, 1);
	assert_int_equal(vsconn_rx_avail(c), BUF);
	assert_int_equal(vsconn_rx_peek(c, &p), BUF);
	assert_memory_equal(p, data, BUF);
	/* Full: even one byte more is a violation. */
	assert_int_equal(in(f, host(VSOCK_OP_RW, 9, LPORT, 1), data), -EPROTO);
	/* Consuming under half a ring owes nothing; half owes an update. */
	vsconn_consume(c, BUF / 2 - 1);
	none(f);
	/* ... and the peer still may not send: it does not know yet. */
	assert_int_equal(in(f, host(VSOCK_OP_RW, 9, LPORT, 1), data), -EPROTO);
	vsconn_consume(c, 1);
	u = out(f, VSOCK_OP_CREDIT_UPDATE, LPORT, 9);
	assert_int_equal(u.fwd_cnt, BUF / 2);
	assert_int_equal(u.buf_alloc, BUF);
	none(f);
	/* Now BUF/2 may come, wrapping around the ring end. */
	assert_int_equal(in(f, host(VSOCK_OP_RW, 9, LPORT, BUF / 2), data + 100), 0);
	assert_int_equal(vsconn_rx_avail(c), BUF);
	assert_int_equal(vsconn_rx_peek(c, &p), BUF / 2);
	assert_memory_equal(p, data + BUF / 2, BUF / 2);
	vsconn_consume(c, BUF / 2);
	assert_int_equal(vsconn_rx_peek(c, &p), BUF / 2);
	assert_ptr_equal(p, c->buf);
	assert_memory_equal(p, data + 100, BUF / 2);
	/* A CREDIT_REQUEST is answered even without consumption; any packet
	 * we send carries the credit (a data header clears the owed update). */
	assert_int_equal(in(f, host(VSOCK_OP_CREDIT_REQUEST, 9, LPORT, 0), NULL), 0);
	assert_int_equal(c->credit_requests_in, 1);
	vsconn_data_hdr(&f->t, c, 10, &h);
	assert_int_equal(h.op, VSOCK_OP_RW);
	assert_int_equal(h.len, 10);
	assert_int_equal(h.fwd_cnt, BUF);
	none(f);
	/* Payload on a control packet, wrong CIDs, wrong type. */
	assert_int_equal(in(f, host(VSOCK_OP_CREDIT_UPDATE, 9, LPORT, 4), data), -EPROTO);
	h = host(VSOCK_OP_CREDIT_UPDATE, 9, LPORT, 0);
	h.dst_cid = CID + 1;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), -EPROTO);
	h = host(VSOCK_OP_CREDIT_UPDATE, 9, LPORT, 0);
	h.src_cid = 7;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), -EPROTO);
	h = host(VSOCK_OP_CREDIT_UPDATE, 9, LPORT, 0);
	h.type = 2;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), -EPROTO);
	h = host(VSOCK_OP_INVALID, 9, LPORT, 0);
	assert_int_equal(vsconn_input(&f->t, &h, NULL), -EPROTO);
	assert_non_null(f->t.why);
}

static void test_tx_credit(void **state)
{
	struct fx *f = *state;
	struct vsconn *c;
	struct vsock_hdr h;

	vsconn_listen(&f->t, LPORT, 1);
	c = accept1(f, 9);
	assert_int_equal(vsconn_tx_credit(c), 8192);
	vsconn_data_hdr(&f->t, c, 6000, &h);
	assert_int_equal(vsconn_tx_credit(c), 2192);
	vsconn_data_hdr(&f->t, c, 2192, &h);
	assert_int_equal(vsconn_tx_credit(c), 0);
	/* The peer consumed 3000. */
	h = host(VSOCK_OP_CREDIT_UPDATE, 9, LPORT, 0);
	h.fwd_cnt = 3000;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), 0);
	assert_int_equal(c->credit_updates_in, 1);
	assert_int_equal(vsconn_tx_credit(c), 3000);
	/* A smaller buffer now: in flight exceeds it, no credit (no underflow). */
	h.buf_alloc = 1000;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), 0);
	assert_int_equal(vsconn_tx_credit(c), 0);
	/* fwd_cnt moving back, or past what we sent, is a violation. */
	h.buf_alloc = 8192;
	h.fwd_cnt = 2999;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), -EPROTO);
	h.fwd_cnt = 8193;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), -EPROTO);
	h.fwd_cnt = 8192;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), 0);
	assert_int_equal(vsconn_tx_credit(c), 8192);
	/* The peer shut its receive side: no credit. */
	h = host(VSOCK_OP_SHUTDOWN, 9, LPORT, 0);
	h.fwd_cnt = 8192;
	h.flags = VSOCK_SHUT_RCV;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), 0);
	assert_int_equal(vsconn_tx_credit(c), 0);
}

static void test_counter_wrap(void **state)
{
	struct fx *f = *state;
	static uint8_t data[BUF];
	struct vsconn *c;
	struct vsock_hdr h;
	const uint8_t *p;

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + i / 256);
	vsconn_listen(&f->t, LPORT, 1);
	c = accept1(f, 9);
	/* Counters near 2^32 keep working across the wrap; the packet also
	 * wraps around the ring's end. */
	c->rx_cnt = c->fwd_cnt = c->fwd_adv = 0xfffff800u;
	c->tx_cnt = c->peer_fwd_cnt = 0xffffff00u;
	h = host(VSOCK_OP_RW, 9, LPORT, BUF);
	h.fwd_cnt = 0xffffff00u;
	assert_int_equal(vsconn_input(&f->t, &h, data), 0);
	assert_int_equal(c->rx_cnt, 0x800);
	assert_int_equal(vsconn_rx_avail(c), BUF);
	assert_int_equal(vsconn_rx_peek(c, &p), BUF - 0x800);
	assert_memory_equal(p, data, BUF - 0x800);
	vsconn_consume(c, BUF - 0x800);
	assert_int_equal(vsconn_rx_peek(c, &p), 0x800);
	assert_memory_equal(p, data + BUF - 0x800, 0x800);
	out(f, VSOCK_OP_CREDIT_UPDATE, LPORT, 9);
	vsconn_data_hdr(&f->t, c, 0x200, &h);
	assert_int_equal(vsconn_tx_credit(c), 8192 - 0x200);
	h = host(VSOCK_OP_CREDIT_UPDATE, 9, LPORT, 0);
	h.fwd_cnt = 0x100;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), 0);
	assert_int_equal(vsconn_tx_credit(c), 8192);
}

static void test_close(void **state)
{
	struct fx *f = *state;
	struct vsconn *a, *b, *d;
	struct vsock_hdr h;

	vsconn_listen(&f->t, LPORT, 3);
	a = accept1(f, 1);
	b = accept1(f, 2);
	d = accept1(f, 3);
	/* We close first: SHUTDOWN(both), the peer's RST ends it. */
	vsconn_close(a);
	h = out(f, VSOCK_OP_SHUTDOWN, LPORT, 1);
	assert_int_equal(h.flags, VSOCK_SHUT_BOTH);
	assert_int_equal(a->state, VSCONN_CLOSING);
	assert_false(vsconn_finished(a));
	assert_int_equal(in(f, host(VSOCK_OP_RST, 1, LPORT, 0), NULL), 0);
	assert_int_equal(a->state, VSCONN_CLOSED);
	assert_true(vsconn_finished(a));
	/* The peer closes first: we answer our close with RST. */
	h = host(VSOCK_OP_SHUTDOWN, 2, LPORT, 0);
	h.flags = VSOCK_SHUT_SEND;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), 0);
	assert_false(vsconn_peer_done(b));
	/* Data after SHUTDOWN(SEND) is a violation. */
	assert_int_equal(in(f, host(VSOCK_OP_RW, 2, LPORT, 1), (const uint8_t *)"x"), -EPROTO);
	h.flags = VSOCK_SHUT_RCV;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), 0);
	assert_true(vsconn_peer_done(b));
	none(f);
	vsconn_close(b);
	out(f, VSOCK_OP_RST, LPORT, 2);
	assert_int_equal(b->state, VSCONN_CLOSED);
	/* Both shut down at once: after our SHUTDOWN theirs makes us RST. */
	vsconn_close(d);
	out(f, VSOCK_OP_SHUTDOWN, LPORT, 3);
	h = host(VSOCK_OP_SHUTDOWN, 3, LPORT, 0);
	h.flags = VSOCK_SHUT_BOTH;
	assert_int_equal(vsconn_input(&f->t, &h, NULL), 0);
	out(f, VSOCK_OP_RST, LPORT, 3);
	assert_true(vsconn_finished(d));
	none(f);
}

static void test_reset_and_rst_queue(void **state)
{
	struct fx *f = *state;
	struct vsconn *c;

	vsconn_listen(&f->t, LPORT, 1);
	c = accept1(f, 4);
	assert_int_equal(in(f, host(VSOCK_OP_RST, 4, LPORT, 0), NULL), 0);
	assert_int_equal(c->state, VSCONN_RESET);
	assert_true(vsconn_finished(c));
	assert_int_equal(in(f, host(VSOCK_OP_CREDIT_UPDATE, 4, LPORT, 0), NULL), 0);
	out(f, VSOCK_OP_RST, LPORT, 4);
	/* More unknown packets than the RST queue holds: the rest is dropped. */
	for (unsigned i = 0; i < VSCONN_RST_QUEUE + 5; i++)
		assert_int_equal(in(f, host(VSOCK_OP_RW, 1000 + i, 77, 0), NULL), 0);
	assert_int_equal(f->t.st.rst_dropped, 5);
	for (unsigned i = 0; i < VSCONN_RST_QUEUE; i++) {
		struct vsock_hdr h;

		assert_int_equal(vsconn_output(&f->t, &h), 1);
		assert_int_equal(h.op, VSOCK_OP_RST);
	}
	none(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_accept_refuse, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_connect, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rx_credit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tx_credit, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_counter_wrap, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_close, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_reset_and_rst_queue, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
