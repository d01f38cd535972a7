/* vvsock: the private interface of the virtio-vsock device, shared by its
 * two files and by its unit test and fuzz target (nothing else includes
 * this). vvsock.c owns the device (queues, packets, ops, create);
 * vvsock_conn.c owns the connection table, the credit bookkeeping and the
 * unix-socket side (listener, CONNECT line, relaying, timeouts).
 *
 * Everything here is touched with the device lock held (virtio_dev_lock);
 * the socket and timer callbacks take it themselves. */
#ifndef VMKIT_VVSOCK_H
#define VMKIT_VVSOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define VVSOCK_RXQ          0
#define VVSOCK_TXQ          1
#define VVSOCK_EVQ          2
#define VVSOCK_NQUEUES      3
#define VVSOCK_QUEUE_MAX    256
#define VVSOCK_CFG_SIZE     8           /* le64 guest_cid */
#define VVSOCK_HOST_CID     2
#define VVSOCK_HDR_LEN      44          /* struct virtio_vsock_hdr */
#define VVSOCK_PKT_MAX      (64u * 1024)  /* payload bytes per packet, either way */
#define VVSOCK_BUF_ALLOC    (64u * 1024)  /* receive space advertised per connection */
#define VVSOCK_MAX_CONNS    1024
#define VVSOCK_HASH_SIZE    1024        /* power of two */
#define VVSOCK_ORPHAN_MAX   64          /* RSTs for unknown connections waiting for rx buffers */
#define VVSOCK_LINE_MAX     32          /* "CONNECT <port>\n" */
#define VVSOCK_PORT_FIRST   (1u << 30)  /* first host port of host-initiated connections */
#define VVSOCK_TIMEOUT_NS   (2ull * 1000000000ull)
#define VVSOCK_TICK_NS      (100ull * 1000000ull)
#define VVSOCK_BUDGET       256         /* chains per queue pass */
#define VVSOCK_SUFFIX_MAX   11          /* "_4294967295" */

/* Packet types, operations and shutdown flags (virtio 1.x, 5.10.6). */
#define VVSOCK_TYPE_STREAM  1
#define VVSOCK_SHUT_RCV     1u
#define VVSOCK_SHUT_SEND    2u
#define VVSOCK_SHUT_BOTH    3u

enum vvsock_op {
	VVSOCK_OP_INVALID = 0,
	VVSOCK_OP_REQUEST = 1,
	VVSOCK_OP_RESPONSE = 2,
	VVSOCK_OP_RST = 3,
	VVSOCK_OP_SHUTDOWN = 4,
	VVSOCK_OP_RW = 5,
	VVSOCK_OP_CREDIT_UPDATE = 6,
	VVSOCK_OP_CREDIT_REQUEST = 7,
};
#define VVSOCK_OP_COUNT 8

/* The packet header in host byte order. */
struct vvsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port;
	uint32_t len;
	uint16_t type, op;
	uint32_t flags;
	uint32_t buf_alloc, fwd_cnt;
};

void vvsock_hdr_decode(const uint8_t raw[VVSOCK_HDR_LEN], struct vvsock_hdr *h);
void vvsock_hdr_encode(const struct vvsock_hdr *h, uint8_t raw[VVSOCK_HDR_LEN]);

enum vvsock_state {
	VVSOCK_FREE,        /* slot unused */
	VVSOCK_LINE,        /* host client connected, reading "CONNECT <port>\n" */
	VVSOCK_CONNECTING,  /* host-initiated: REQUEST sent or pending, waiting for RESPONSE */
	VVSOCK_ESTABLISHED, /* relaying */
	VVSOCK_CLOSING,     /* unix side gone: full SHUTDOWN sent, waiting for the guest's RST */
	VVSOCK_DEAD,        /* RST pending; the slot is freed once it is sent */
};

/* Control packets a connection owes the guest: one bit each. */
#define VVSOCK_P_RST            (1u << 0)
#define VVSOCK_P_REQUEST        (1u << 1)
#define VVSOCK_P_RESPONSE       (1u << 2)
#define VVSOCK_P_SHUTDOWN       (1u << 3)
#define VVSOCK_P_CREDIT_UPDATE  (1u << 4)
#define VVSOCK_P_CREDIT_REQUEST (1u << 5)

struct vvsock;

struct vvsock_conn {
	struct vvsock *vs;           /* slots never move: the evloop opaque */
	enum vvsock_state state;
	int fd;                      /* the unix socket, -1 once closed */
	uint32_t events;             /* epoll mask registered */
	bool registered;             /* fd is in the event loop */
	bool hashed;
	bool on_rx;                  /* on the rx work list */
	bool readable;               /* unread input (EPOLLIN dropped meanwhile) */
	bool hup;                    /* EPOLLHUP seen: the client is gone */
	bool credit_req_sent;
	uint8_t pending;             /* VVSOCK_P_* */
	uint8_t local_shut;          /* VVSOCK_SHUT_* sent to the guest */
	uint8_t peer_shut;           /* VVSOCK_SHUT_* received from the guest */
	uint32_t lport, pport;       /* host (local) port, guest (peer) port */
	uint32_t peer_buf_alloc, peer_fwd_cnt;  /* the guest's receive credit */
	uint32_t tx_cnt;             /* payload bytes sent to the guest */
	uint32_t rx_cnt;             /* payload bytes received from the guest */
	uint32_t fwd_cnt;            /* ... of which written to the unix socket */
	uint32_t fwd_cnt_sent;       /* fwd_cnt last advertised */
	uint8_t *buf;                /* guest bytes the socket could not take yet */
	uint32_t buf_len;            /* <= VVSOCK_BUF_ALLOC */
	uint64_t deadline;           /* CLOCK_MONOTONIC ns; 0: none */
	char line[VVSOCK_LINE_MAX];
	unsigned line_len;
	struct vvsock_conn *hnext;   /* hash chain, or free list */
	struct vvsock_conn *rxnext;  /* rx work list */
};

struct vvsock_stats {
	uint64_t tx_packets, tx_bytes;   /* guest -> host */
	uint64_t rx_packets, rx_bytes;   /* host -> guest */
	uint64_t rsts_sent, rsts_received;
	uint64_t credit_violations;
	uint64_t dropped;                /* wrong CIDs, data after shutdown */
	uint64_t orphans_lost;           /* RSTs not sent: orphan queue full */
	uint64_t conns_total, conns_refused;
};

struct vvsock_orphan {
	uint32_t lport, pport;
};

struct vvsock {
	struct virtio_dev *vd;
	struct evloop *loop;
	char id[VIRTIO_ID_MAX];
	char path[CONFIG_SOCKET_MAX];
	uint64_t cid;
	uint64_t timeout_ns;             /* VVSOCK_TIMEOUT_NS; tests shorten it */
	unsigned max_conns;              /* VVSOCK_MAX_CONNS; tests lower it */
	int listen_fd, timer_fd;
	dev_t sock_dev;
	ino_t sock_ino;
	bool timer_armed;
	bool active, failed;
	bool violation_logged, drop_logged;
	struct virtqueue_chain *rxc, *txc;
	uint8_t *bounce;                 /* VVSOCK_PKT_MAX bytes */
	struct vvsock_conn *conns;       /* VVSOCK_MAX_CONNS slots */
	struct vvsock_conn *free_list;
	struct vvsock_conn *hash[VVSOCK_HASH_SIZE];
	struct vvsock_conn *rx_head, *rx_tail;
	unsigned nconns;
	uint32_t next_port;
	struct vvsock_orphan orphans[VVSOCK_ORPHAN_MAX];
	unsigned orphan_head, norphans;
	struct vvsock_stats st;
};

/* ---- credit arithmetic ---- */

/* Payload bytes the guest can take now on c. */
static inline uint32_t vvsock_peer_credit(const struct vvsock_conn *c)
{
	uint32_t used = c->tx_cnt - c->peer_fwd_cnt;

	return used >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - used;
}

/* Payload bytes the guest may still send on c without breaking our credit. */
static inline uint32_t vvsock_own_credit(const struct vvsock_conn *c)
{
	return VVSOCK_BUF_ALLOC - c->buf_len;
}

/* Free space as the guest sees it (from the last fwd_cnt we sent). */
static inline uint32_t vvsock_guest_view(const struct vvsock_conn *c)
{
	uint32_t used = c->rx_cnt - c->fwd_cnt_sent;

	return used >= VVSOCK_BUF_ALLOC ? 0 : VVSOCK_BUF_ALLOC - used;
}

/* Host-to-guest data can still flow / guest-to-host data can still flow. */
static inline bool vvsock_h2g_open(const struct vvsock_conn *c)
{
	return !(c->local_shut & VVSOCK_SHUT_SEND) && !(c->peer_shut & VVSOCK_SHUT_RCV);
}

static inline bool vvsock_g2h_open(const struct vvsock_conn *c)
{
	return !(c->peer_shut & VVSOCK_SHUT_SEND) && !(c->local_shut & VVSOCK_SHUT_RCV);
}

/* ---- vvsock_conn.c ---- */

int vvsock_conn_init(struct vvsock *vs);          /* slots, listener, timer */
void vvsock_conn_fini(struct vvsock *vs);         /* closes everything, unlinks the socket */
void vvsock_conn_reset_all(struct vvsock *vs);    /* device reset: every connection closed */
struct vvsock_conn *vvsock_conn_find(struct vvsock *vs, uint32_t lport, uint32_t pport);
/* Guest REQUEST to host port lport from guest port pport: connect to
 * <socket>_<lport>. NULL when refused (caller sends RST). */
struct vvsock_conn *vvsock_conn_guest_connect(struct vvsock *vs, uint32_t lport, uint32_t pport);
/* The guest answered our REQUEST: "OK <port>\n" to the client, relay. */
void vvsock_conn_established(struct vvsock *vs, struct vvsock_conn *c);
/* Tear the connection down towards the guest: socket closed, RST owed. */
void vvsock_conn_abort(struct vvsock *vs, struct vvsock_conn *c);
/* Forget c (RST received, or our RST was sent). */
void vvsock_conn_free(struct vvsock *vs, struct vvsock_conn *c);
/* len payload bytes at vs->bounce for c; -ENOBUFS when they exceed the
 * credit we gave (the caller resets the connection). */
int vvsock_conn_deliver(struct vvsock *vs, struct vvsock_conn *c, uint32_t len);
/* The guest sent SHUTDOWN with flags. */
void vvsock_conn_guest_shutdown(struct vvsock *vs, struct vvsock_conn *c, uint32_t flags);
/* Read up to max bytes of client input into vs->bounce for an RW packet:
 * bytes read, or 0 (nothing now; EOF and errors update c's state). */
uint32_t vvsock_conn_read(struct vvsock *vs, struct vvsock_conn *c, uint32_t max);
/* Put c on the rx work list if it owes the guest a packet. */
void vvsock_conn_want_rx(struct vvsock *vs, struct vvsock_conn *c);
bool vvsock_conn_wants_rx(const struct vvsock_conn *c);
/* Re-register c's socket for the events its state needs. */
void vvsock_conn_watch(struct vvsock *vs, struct vvsock_conn *c);
/* Arm c's deadline (now + timeout). */
void vvsock_conn_set_deadline(struct vvsock *vs, struct vvsock_conn *c);
/* Event-loop callbacks (they take the device lock); exposed for tests. */
void vvsock_conn_on_event(void *opaque, uint32_t events);
void vvsock_conn_on_accept(void *opaque, uint32_t events);
void vvsock_conn_on_timer(void *opaque, uint32_t events);
/* Expire deadlines as of now_ns (the timer's work). Lock held. */
void vvsock_conn_expire(struct vvsock *vs, uint64_t now_ns);

/* ---- vvsock.c ---- */

/* Queue an RST for a connection the device does not know. */
void vvsock_orphan_rst(struct vvsock *vs, uint32_t lport, uint32_t pport);
/* Send what connections owe the guest as far as rx buffers allow. */
void vvsock_rx_run(struct vvsock *vs);

#endif
