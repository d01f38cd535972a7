/* vsconn: the test guest's side of the virtio-vsock stream protocol, pure
 * C over memory (host-testable, no device access): the 44-byte packet
 * header, a table of connections (listen, connect, accept), the credit
 * accounting of both directions (our buf_alloc / fwd_cnt advertised in
 * every packet, the peer's respected and checked), SHUTDOWN / RST
 * handshakes, and the control packets owed to the peer (RESPONSE,
 * CREDIT_UPDATE, RST to unknown connections ...), handed out one at a time
 * by vsconn_output() when the transmit ring has room. Every received
 * header is checked; a peer that breaks the protocol (exceeds our credit,
 * moves its fwd_cnt past what we sent ...) makes vsconn_input() fail. */
#ifndef TESTGUEST_VSCONN_H
#define TESTGUEST_VSCONN_H

#include <stdbool.h>
#include <stdint.h>

#define VSOCK_HDR_LEN        44
#define VSOCK_HOST_CID       2
#define VSOCK_TYPE_STREAM    1
#define VSOCK_SHUT_RCV       1
#define VSOCK_SHUT_SEND      2
#define VSOCK_SHUT_BOTH      3
#define VSCONN_RST_QUEUE     32

enum vsock_op {
	VSOCK_OP_INVALID = 0,
	VSOCK_OP_REQUEST = 1,
	VSOCK_OP_RESPONSE = 2,
	VSOCK_OP_RST = 3,
	VSOCK_OP_SHUTDOWN = 4,
	VSOCK_OP_RW = 5,
	VSOCK_OP_CREDIT_UPDATE = 6,
	VSOCK_OP_CREDIT_REQUEST = 7,
};

/* The packet header, little-endian on the wire (x86 is). */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_LEN, "virtio_vsock_hdr is 44 bytes");

enum vsconn_state {
	VSCONN_FREE,            /* unused slot */
	VSCONN_CONNECTING,      /* REQUEST owed or sent, waiting for RESPONSE */
	VSCONN_OPEN,
	VSCONN_CLOSING,         /* we sent SHUTDOWN(RCV|SEND), waiting for RST */
	VSCONN_CLOSED,          /* clean end: RST after our shutdown, or ours after theirs */
	VSCONN_REFUSED,         /* RST answered our REQUEST */
	VSCONN_RESET,           /* RST while open */
};

/* Control packets a connection owes the peer (vsconn.pending). */
#define VSCONN_P_REQUEST     0x01
#define VSCONN_P_RESPONSE    0x02
#define VSCONN_P_CREDIT      0x04
#define VSCONN_P_CREDIT_REQ  0x08
#define VSCONN_P_SHUTDOWN    0x10
#define VSCONN_P_RST         0x20

struct vsconn {
	enum vsconn_state state;
	bool accepted;                  /* the peer connected to our listen port */
	uint32_t local_port, peer_port;
	uint32_t pending;               /* VSCONN_P_* */
	uint32_t shut_rcvd;             /* SHUTDOWN flags the peer sent */
	/* Receive side: a ring of buf_alloc bytes (a power of two). */
	uint8_t *buf;
	uint32_t buf_alloc;
	uint32_t rx_cnt;                /* payload bytes received */
	uint32_t fwd_cnt;               /* of those, consumed */
	uint32_t fwd_adv;               /* fwd_cnt last advertised to the peer */
	/* Transmit side: the peer's credit. */
	uint32_t tx_cnt;
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	/* Statistics. */
	uint32_t credit_updates_in, credit_requests_in;
	uint32_t credit_updates_out, credit_requests_out;
	uint32_t rx_full;               /* times the receive ring filled up */
};

struct vsconn_stats {
	uint64_t pkts_in, pkts_out, bytes_in, bytes_out;
	uint64_t rst_unknown;           /* RSTs owed to packets of no connection */
	uint64_t rst_dropped;           /* of those, not sent (queue full) */
	uint64_t rst_ignored;           /* RSTs received for no connection */
	uint64_t refused;               /* REQUESTs refused (not listening, table full) */
};

struct vsconn_tab {
	uint64_t cid;                   /* ours */
	struct vsconn *conn;
	unsigned nconn;
	bool listening;
	uint32_t listen_port;
	uint32_t accept_left;           /* connections we still accept */
	uint32_t next_port;             /* local port of the next connect */
	struct vsock_hdr rst[VSCONN_RST_QUEUE];
	unsigned nrst;
	struct vsconn_stats st;
	const char *why;                /* what the last -EPROTO was about */
};

/* conn[n] with receive rings of buf_alloc bytes (power of two) at bufs. */
void vsconn_tab_init(struct vsconn_tab *t, uint64_t cid, struct vsconn *conn, unsigned n,
		     uint8_t *bufs, uint32_t buf_alloc);
/* Accept up to max connections to port. */
void vsconn_listen(struct vsconn_tab *t, uint32_t port, uint32_t max);
/* A connection to (host CID, port), REQUEST owed; NULL when the table is full. */
struct vsconn *vsconn_connect(struct vsconn_tab *t, uint32_t port);
/* Handle one received packet (data = h->len payload bytes). 0 or -EPROTO
 * (t->why says what the peer did wrong). */
int vsconn_input(struct vsconn_tab *t, const struct vsock_hdr *h, const uint8_t *data);
/* The next owed control packet in *h (taken as sent): 1, or 0 if none. */
int vsconn_output(struct vsconn_tab *t, struct vsock_hdr *h);

/* Receive ring: bytes waiting, and the contiguous part of them at *p. */
uint32_t vsconn_rx_avail(const struct vsconn *c);
uint32_t vsconn_rx_peek(const struct vsconn *c, const uint8_t **p);
/* Consume n waiting bytes (a CREDIT_UPDATE becomes owed after half a ring). */
void vsconn_consume(struct vsconn *c, uint32_t n);
/* Bytes the peer lets us send now. */
uint32_t vsconn_tx_credit(const struct vsconn *c);
/* Header of an RW packet of len bytes (counted as sent; the caller keeps
 * within the credit, or does not on purpose). */
void vsconn_data_hdr(const struct vsconn_tab *t, struct vsconn *c, uint32_t len,
		     struct vsock_hdr *h);
/* Ask for the peer's credit (CREDIT_REQUEST owed). */
void vsconn_ask_credit(struct vsconn *c);
/* Our side is done: SHUTDOWN(RCV|SEND) owed (RST if the peer already shut
 * both ways). */
void vsconn_close(struct vsconn *c);
/* Has the peer shut down both directions? */
bool vsconn_peer_done(const struct vsconn *c);
/* Is the connection in a final state (CLOSED, REFUSED, RESET) with
 * nothing left to send? */
bool vsconn_finished(const struct vsconn *c);
/* Free a finished connection's slot for reuse. */
void vsconn_release(struct vsconn *c);
const char *vsconn_state_name(enum vsconn_state s);

#endif
