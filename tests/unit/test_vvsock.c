/* test_vvsock: the virtio-vsock device (src/vmm/virtio/vvsock.c and
 * vvsock_conn.c) on fake guest memory with real split rings and the fake
 * transport, over real unix sockets in a temporary directory. The test
 * plays the guest driver (posting rx buffers, sending packets on the tx
 * queue) and the host clients; it drives the device's socket callbacks
 * itself with poll() (fx_pump), so every step is deterministic. Covers the
 * header's wire layout, the credit arithmetic with wrapping counters, the
 * configuration, host-initiated connections (REQUEST, OK line, RST,
 * timeout, bad lines), guest-initiated ones (no listener: RST; listener:
 * RESPONSE), data both ways within credit, CREDIT_REQUEST/UPDATE, a guest
 * that ignores credit (RST, memory bounded), unknown connections, shutdown
 * in each direction, receive chains split in two, packets waiting for rx
 * buffers (bounded), malformed packets and rings, reset, the connection
 * cap, a live socket path refused, and query. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "config.h"
#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_ring_cmocka.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"
#include "virtio/vvsock.h"

#define RAM_SIZE  (4u << 20)
#define QSIZE     64u
#define RXBASE    0x20000ull
#define RXSZ      8192u
#define RXLEN     (4096u + VVSOCK_HDR_LEN)
#define TXHDR     0x200000ull
#define TXDATA    0x201000ull
#define GCID      3u
#define GPORT     5000u

#define F_RING ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX))

struct pkt {
	struct vvsock_hdr h;
	uint8_t data[4096];
};

struct fx {
	struct gmem gm;
	uint8_t *ram;
	struct virtio_dev vd;
	struct evloop *loop;
	struct virtio_dev_info info;
	struct vvsock *vs;
	struct fake_ring_mem mem;    /* the rings: tests/fake/fake_ring.c */
	struct fake_ring q[3];
	char dir[40], path[80];
};

/* ---- guest memory and rings ---- */

static void fx_notify(struct fx *f, unsigned q)
{
	fake_virtio_notify(&f->vd, &f->info, q);
}

/* Post n receive buffers of len bytes (descriptor i has a fixed area). */
static void fx_rxbufs(struct fx *f, unsigned n, uint32_t len)
{
	struct fake_ring *r = &f->q[VVSOCK_RXQ];

	for (unsigned k = 0; k < n; k++) {
		struct fake_ring_seg s = { RXBASE + (uint64_t)r->next_desc * RXSZ, len, true };

		fake_ring_post(r, &s, 1);
	}
	fx_notify(f, VVSOCK_RXQ);
}

/* The next packet the device put in an rx buffer: false when none. */
static bool fx_recv(struct fx *f, struct pkt *p)
{
	uint32_t id, len;
	uint8_t raw[VVSOCK_HDR_LEN];

	if (!fake_ring_pop(&f->q[VVSOCK_RXQ], &id, &len))
		return false;
	assert_true(id < QSIZE);
	assert_true(len >= VVSOCK_HDR_LEN && len <= RXLEN);
	assert_int_equal(gmem_read(&f->gm, RXBASE + (uint64_t)id * RXSZ, raw, sizeof(raw)), 0);
	vvsock_hdr_decode(raw, &p->h);
	assert_int_equal(p->h.len, len - VVSOCK_HDR_LEN);
	assert_int_equal(gmem_read(&f->gm, RXBASE + (uint64_t)id * RXSZ + VVSOCK_HDR_LEN,
				   p->data, p->h.len), 0);
	fx_rxbufs(f, 1, RXLEN); /* give it back, as a driver would */
	return true;
}

/* Send a raw tx chain: header bytes (hlen) and an optional payload
 * segment; wflags are the header descriptor's extra flags (0 or WRITE). */
static void fx_tx_raw(struct fx *f, const uint8_t *hdr, uint32_t hlen, uint16_t wflags,
		      const void *data, uint32_t dlen)
{
	struct fake_ring_seg s[2] = { { TXHDR, hlen, wflags & VIRTQUEUE_DESC_F_WRITE },
				      { TXDATA, dlen, false } };

	fake_ring_write(&f->mem, TXHDR, hdr, hlen);
	if (dlen)
		fake_ring_write(&f->mem, TXDATA, data, dlen);
	fake_ring_post(&f->q[VVSOCK_TXQ], s, dlen ? 2 : 1);
	fx_notify(f, VVSOCK_TXQ);
}

static void fx_send_hdr(struct fx *f, const struct vvsock_hdr *h, const void *data)
{
	uint8_t raw[VVSOCK_HDR_LEN];

	vvsock_hdr_encode(h, raw);
	fx_tx_raw(f, raw, sizeof(raw), 0, data, h->len);
}

/* A guest packet from GPORT to host port hport. */
static void fx_send(struct fx *f, enum vvsock_op op, uint32_t hport, uint32_t flags,
		    const void *data, uint32_t len, uint32_t buf_alloc, uint32_t fwd_cnt)
{
	struct vvsock_hdr h = { .src_cid = GCID, .dst_cid = VVSOCK_HOST_CID, .src_port = GPORT,
				.dst_port = hport, .len = len, .type = VVSOCK_TYPE_STREAM,
				.op = op, .flags = flags, .buf_alloc = buf_alloc,
				.fwd_cnt = fwd_cnt };

	fx_send_hdr(f, &h, data);
}

/* ---- the host side: sockets and the device's callbacks ---- */

/* Deliver the events the device's sockets have, a few rounds. */
static void fx_pump(struct fx *f)
{
	for (int round = 0; round < 8; round++) {
		bool any = false;
		struct pollfd pl = { .fd = f->vs->listen_fd, .events = POLLIN };

		if (poll(&pl, 1, 0) == 1) {
			vvsock_conn_on_accept(f->vs, EPOLLIN);
			any = true;
		}
		for (unsigned i = 0; i < VVSOCK_MAX_CONNS; i++) {
			struct vvsock_conn *c = &f->vs->conns[i];
			struct pollfd p = { .fd = c->fd, .events = (short)c->events };

			if (c->fd < 0 || !c->registered || poll(&p, 1, 0) != 1)
				continue;
			vvsock_conn_on_event(c, (uint32_t)p.revents);
			any = true;
		}
		if (!any)
			return;
	}
}

static int fx_client(struct fx *f, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path ? path : f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static int fx_listener(struct fx *f, uint32_t port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", f->path, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Read what is there within a short wait: bytes, 0 at EOF, -1 nothing
 * (errno ETIMEDOUT) or an error. */
static ssize_t fx_read(int fd, void *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	errno = ETIMEDOUT;
	if (poll(&p, 1, 200) != 1)
		return -1;
	return read(fd, buf, cap);
}

static void fx_write(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

/* ---- fixture ---- */

static struct fx *fx_new(void)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct config_vsock cfg = { .enabled = true, .cid = GCID, .id = "vsock0" };
	struct virtio_env env;

	assert_non_null(f);
	f->ram = fake_ring_ram(&f->mem, &f->gm, RAM_SIZE, RXBASE, fake_ring_fail_test);
	fake_virtio_init(&f->vd, "vsock0", F_RING);
	fake_ring_init_n(f->q, 3, &f->mem, QSIZE,
			 &(const struct fake_ring_layout){ 0x1000, 0x3000, 0x1000, 0x2000 });
	strcpy(f->dir, "/tmp/test_vvsock.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/v.sock", f->dir);
	snprintf(cfg.socket, sizeof(cfg.socket), "%s", f->path);
	assert_int_equal(evloop_create(&f->loop), 0);
	env = (struct virtio_env){ .loop = f->loop, .gm = &f->gm, .ncpus = 1 };
	assert_int_equal(vvsock_create(&env, &cfg, &f->info), 0);
	*f->info.handle = &f->vd;
	f->vs = f->info.dev;
	assert_int_equal(fake_virtio_activate(&f->vd, &f->info, f->q, 3, F_RING), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	char p[128];

	f->info.ops->destroy(f->info.dev);
	evloop_destroy(f->loop);
	for (unsigned port = 0; port < 10000; port += 1) {
		snprintf(p, sizeof(p), "%s_%u", f->path, port);
		if (port == 99 || port == 1234 || port == 5001 || port == 7000)
			unlink(p);
	}
	unlink(f->path);
	assert_int_equal(rmdir(f->dir), 0);
	fake_virtio_destroy(&f->vd);
	free(f->ram);
	free(f);
}

/* A host client connected to guest port gport and answered: the host
 * port in *hport, the client fd returned. */
static int fx_host_conn(struct fx *f, uint32_t gport, uint32_t *hport)
{
	char line[32], ok[32];
	struct pkt p;
	int fd = fx_client(f, NULL);
	ssize_t n;

	snprintf(line, sizeof(line), "CONNECT %u\n", gport);
	fx_write(fd, line, strlen(line));
	fx_pump(f);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_REQUEST);
	assert_int_equal(p.h.src_cid, VVSOCK_HOST_CID);
	assert_int_equal(p.h.dst_cid, GCID);
	assert_int_equal(p.h.dst_port, gport);
	assert_int_equal(p.h.type, VVSOCK_TYPE_STREAM);
	assert_int_equal(p.h.buf_alloc, VVSOCK_BUF_ALLOC);
	assert_true(p.h.src_port >= VVSOCK_PORT_FIRST);
	*hport = p.h.src_port;
	/* the guest answers, from gport */
	{
		struct vvsock_hdr h = { .src_cid = GCID, .dst_cid = 2, .src_port = gport,
					.dst_port = *hport, .type = 1, .op = VVSOCK_OP_RESPONSE,
					.buf_alloc = 65536 };

		fx_send_hdr(f, &h, NULL);
	}
	n = fx_read(fd, ok, sizeof(ok) - 1);
	assert_true(n > 0);
	ok[n] = '\0';
	snprintf(line, sizeof(line), "OK %u\n", *hport);
	assert_string_equal(ok, line);
	return fd;
}

/* A guest connection from GPORT to host port hport, accepted on a
 * listener: the accepted fd. */
static int fx_guest_conn(struct fx *f, uint32_t hport, int *lfd)
{
	struct pkt p;
	int fd;

	*lfd = fx_listener(f, hport);
	fx_send(f, VVSOCK_OP_REQUEST, hport, 0, NULL, 0, 65536, 0);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RESPONSE);
	assert_int_equal(p.h.src_port, hport);
	assert_int_equal(p.h.dst_port, GPORT);
	fd = accept(*lfd, NULL, NULL);
	assert_true(fd >= 0);
	return fd;
}

static int setup(void **state)
{
	*state = fx_new();
	fx_rxbufs(*state, QSIZE, RXLEN);
	return 0;
}

static int teardown(void **state)
{
	fx_free(*state);
	return 0;
}

/* ---- tests ---- */

static void test_config(void **state)
{
	struct fx *f = *state;
	uint8_t cfg[8];
	uint64_t cid;

	assert_int_equal(f->info.ops->device_id, VIRTIO_ID_VSOCK);
	assert_int_equal(f->info.nqueues, 3);
	assert_int_equal(f->info.cfg_size, 8);
	f->info.ops->cfg_read(f->info.dev, 0, cfg, 8);
	memcpy(&cid, cfg, 8);
	assert_int_equal(le64toh(cid), GCID);
	f->info.ops->cfg_read(f->info.dev, 4, cfg, 4);
	assert_int_equal(cfg[0], 0);
}

/* The header's wire layout (virtio 1.x 5.10.6, little endian). */
static void test_header_layout(void **state)
{
	static const uint8_t want[VVSOCK_HDR_LEN] = {
		0x03, 0, 0, 0, 0, 0, 0, 0,              /* src_cid */
		0x02, 0, 0, 0, 0, 0, 0, 0,              /* dst_cid */
		0x34, 0x12, 0, 0,                       /* src_port */
		0x00, 0x00, 0x00, 0x40,                 /* dst_port */
		0x10, 0, 0, 0,                          /* len */
		0x01, 0x00,                             /* type */
		0x05, 0x00,                             /* op */
		0x02, 0, 0, 0,                          /* flags */
		0x00, 0x00, 0x01, 0x00,                 /* buf_alloc */
		0xff, 0xff, 0xff, 0xff,                 /* fwd_cnt */
	};
	struct vvsock_hdr h = { .src_cid = 3, .dst_cid = 2, .src_port = 0x1234,
				.dst_port = 0x40000000, .len = 16, .type = 1, .op = 5,
				.flags = 2, .buf_alloc = 65536, .fwd_cnt = 0xffffffffu }, back;
	uint8_t raw[VVSOCK_HDR_LEN];

	vvsock_hdr_encode(&h, raw);
	assert_memory_equal(raw, want, sizeof(raw));
	vvsock_hdr_decode(raw, &back);
	assert_memory_equal(&back, &h, sizeof(h));
	(void)state;
}

/* Credit arithmetic with the 32-bit counters wrapping. */
static void test_credit_math(void **state)
{
	struct vvsock_conn c = { 0 };

	c.peer_buf_alloc = 1000;
	c.tx_cnt = 5;                   /* wrapped past 2^32 */
	c.peer_fwd_cnt = 0xfffffff0u;   /* 21 bytes in flight */
	assert_int_equal(vvsock_peer_credit(&c), 979);
	c.peer_fwd_cnt = 5;
	assert_int_equal(vvsock_peer_credit(&c), 1000);
	c.peer_fwd_cnt = 6;             /* the guest claims more than we sent */
	assert_int_equal(vvsock_peer_credit(&c), 0);
	c.peer_fwd_cnt = 5 - 1000u;     /* exactly full */
	assert_int_equal(vvsock_peer_credit(&c), 0);
	c.peer_buf_alloc = 0;
	c.peer_fwd_cnt = 5;
	assert_int_equal(vvsock_peer_credit(&c), 0);

	c.buf_len = 1000;
	assert_int_equal(vvsock_own_credit(&c), VVSOCK_BUF_ALLOC - 1000);
	c.rx_cnt = 10;
	c.fwd_cnt_sent = 0xfffffff6u;   /* 20 bytes not yet acknowledged to the guest */
	assert_int_equal(vvsock_guest_view(&c), VVSOCK_BUF_ALLOC - 20);
	c.fwd_cnt_sent = 10 - VVSOCK_BUF_ALLOC;
	assert_int_equal(vvsock_guest_view(&c), 0);
	(void)state;
}

static void test_host_connect_data(void **state)
{
	struct fx *f = *state;
	uint32_t hport;
	int fd = fx_host_conn(f, GPORT, &hport);
	struct pkt p;
	char buf[64];

	fx_write(fd, "hello", 5);
	fx_pump(f);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RW);
	assert_int_equal(p.h.len, 5);
	assert_memory_equal(p.data, "hello", 5);
	fx_send(f, VVSOCK_OP_RW, hport, 0, "world", 5, 65536, 5);
	assert_int_equal(fx_read(fd, buf, sizeof(buf)), 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(f->vs->nconns, 1);
	/* a second connection gets another host port */
	{
		uint32_t h2;
		int fd2 = fx_host_conn(f, 1234, &h2);

		assert_int_not_equal(h2, hport);
		close(fd2);
	}
	close(fd);
}

static void test_host_connect_rst(void **state)
{
	struct fx *f = *state;
	int fd = fx_client(f, NULL);
	struct pkt p;
	char buf[16];

	fx_write(fd, "CONNECT 77\r\n", 12);
	fx_pump(f);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_REQUEST);
	assert_int_equal(p.h.dst_port, 77);
	{
		struct vvsock_hdr h = { .src_cid = GCID, .dst_cid = 2, .src_port = 77,
					.dst_port = p.h.src_port, .type = 1, .op = VVSOCK_OP_RST };

		fx_send_hdr(f, &h, NULL);
	}
	assert_int_equal(fx_read(fd, buf, sizeof(buf)), 0); /* closed, no OK line */
	assert_int_equal(f->vs->nconns, 0);
	assert_false(fx_recv(f, &p)); /* never RST for RST */
	close(fd);
}

static void test_host_connect_timeout(void **state)
{
	struct fx *f = *state;
	int fd = fx_client(f, NULL);
	struct pkt p;
	char buf[16];

	fx_write(fd, "CONNECT 77\n", 11);
	fx_pump(f);
	assert_true(fx_recv(f, &p));
	pthread_mutex_lock(&f->vd.lock);
	vvsock_conn_expire(f->vs, util_now_ns() + VVSOCK_TIMEOUT_NS / 2); /* not yet */
	assert_int_equal(f->vs->nconns, 1);
	vvsock_conn_expire(f->vs, util_now_ns() + VVSOCK_TIMEOUT_NS + 1);
	vvsock_rx_run(f->vs);
	pthread_mutex_unlock(&f->vd.lock);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RST);
	assert_int_equal(p.h.dst_port, 77);
	assert_int_equal(fx_read(fd, buf, sizeof(buf)), 0);
	assert_int_equal(f->vs->nconns, 0);
	close(fd);
}

/* A CONNECT before the driver posted rx buffers: the REQUEST waits; a
 * client that gives up meanwhile leaves nothing for the guest to see. */
static void test_host_connect_before_buffers(void **state)
{
	struct fx *f = fx_new();
	int a = fx_client(f, NULL), b = fx_client(f, NULL);
	struct pkt p;

	fx_write(a, "CONNECT 10\n", 11);
	fx_write(b, "CONNECT 11\n", 11);
	fx_pump(f);
	assert_int_equal(f->vs->nconns, 2);
	close(b);
	fx_pump(f);
	assert_int_equal(f->vs->nconns, 1);
	fx_rxbufs(f, QSIZE, RXLEN);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_REQUEST);
	assert_int_equal(p.h.dst_port, 10);
	assert_false(fx_recv(f, &p)); /* no REQUEST, no RST for port 11 */
	close(a);
	fx_free(f);
	(void)state;
}

static void test_bad_lines(void **state)
{
	static const char *const lines[] = {
		"HELLO 5\n", "CONNECT\n", "CONNECT -1\n", "CONNECT 99999999999\n",
		"CONNECT 5x\n", "CONNECT 123456789012345678901234567890",
	};
	struct fx *f = *state;
	char buf[16];
	struct pkt p;
	ssize_t n;

	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		int fd = fx_client(f, NULL);

		fx_write(fd, lines[i], strlen(lines[i]));
		fx_pump(f);
		n = fx_read(fd, buf, sizeof(buf));
		if (n != 0 && !(n < 0 && errno == ECONNRESET)) /* reset: unread bytes were left */
			fail_msg("line %zu '%s' not refused", i, lines[i]);
		close(fd);
	}
	/* a client that never finishes its line is dropped by the deadline */
	{
		int fd = fx_client(f, NULL);

		fx_write(fd, "CONN", 4);
		fx_pump(f);
		assert_int_equal(f->vs->nconns, 1);
		pthread_mutex_lock(&f->vd.lock);
		vvsock_conn_expire(f->vs, util_now_ns() + VVSOCK_TIMEOUT_NS + 1);
		pthread_mutex_unlock(&f->vd.lock);
		assert_int_equal(fx_read(fd, buf, sizeof(buf)), 0);
		close(fd);
	}
	assert_int_equal(f->vs->nconns, 0);
	assert_false(fx_recv(f, &p));
}

static void test_guest_connect_refused(void **state)
{
	struct fx *f = *state;
	struct pkt p;

	fx_send(f, VVSOCK_OP_REQUEST, 99, 0, NULL, 0, 65536, 0);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RST);
	assert_int_equal(p.h.src_port, 99);
	assert_int_equal(p.h.dst_port, GPORT);
	assert_int_equal(p.h.dst_cid, GCID);
	assert_int_equal(f->vs->nconns, 0);
}

static void test_guest_connect_data(void **state)
{
	struct fx *f = *state;
	int lfd, fd = fx_guest_conn(f, 7000, &lfd);
	struct pkt p;
	char buf[16];

	fx_send(f, VVSOCK_OP_RW, 7000, 0, "ping", 4, 65536, 0);
	assert_int_equal(fx_read(fd, buf, sizeof(buf)), 4);
	assert_memory_equal(buf, "ping", 4);
	fx_write(fd, "pong", 4);
	fx_pump(f);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RW);
	assert_memory_equal(p.data, "pong", 4);
	assert_int_equal(p.h.fwd_cnt, 4); /* the 4 bytes written to the socket */
	close(fd);
	close(lfd);
}

static void test_unknown_connection(void **state)
{
	struct fx *f = *state;
	struct pkt p;

	fx_send(f, VVSOCK_OP_RW, 4321, 0, "x", 1, 65536, 0);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RST);
	assert_int_equal(p.h.src_port, 4321);
	fx_send(f, VVSOCK_OP_RST, 4321, 0, NULL, 0, 65536, 0);
	fx_send(f, VVSOCK_OP_SHUTDOWN, 4321, 3, NULL, 0, 65536, 0);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RST);
	assert_false(fx_recv(f, &p));
	assert_int_equal(f->vs->st.rsts_received, 1);
}

/* h2g within credit: the guest advertises 8 KiB; the device stops, asks
 * for credit, and resumes on CREDIT_UPDATE; checksums match. */
static void test_h2g_credit(void **state)
{
	struct fx *f = *state;
	uint32_t hport, got = 0, sum_in = 0, sum_out = 0, fwd = 0;
	int fd = fx_host_conn(f, GPORT, &hport);
	static uint8_t data[32768];
	bool asked = false;
	struct pkt p;

	for (size_t i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 7 + 3);
		sum_in += data[i];
	}
	fx_send(f, VVSOCK_OP_CREDIT_UPDATE, hport, 0, NULL, 0, 8192, 0);
	fx_write(fd, data, sizeof(data));
	for (int iter = 0; iter < 200 && got < sizeof(data); iter++) {
		fx_pump(f);
		while (fx_recv(f, &p)) {
			if (p.h.op == VVSOCK_OP_CREDIT_REQUEST) {
				asked = true;
				continue;
			}
			assert_int_equal(p.h.op, VVSOCK_OP_RW);
			for (uint32_t i = 0; i < p.h.len; i++)
				sum_out += p.data[i];
			got += p.h.len;
			assert_true(got - fwd <= 8192); /* never beyond the credit */
		}
		fwd = got; /* the guest consumed it all */
		fx_send(f, VVSOCK_OP_CREDIT_UPDATE, hport, 0, NULL, 0, 8192, fwd);
	}
	assert_int_equal(got, sizeof(data));
	assert_int_equal(sum_in, sum_out);
	assert_true(asked);
	close(fd);
}

/* g2h with the client not reading: the device buffers at most its
 * buf_alloc; a guest that sends beyond the credit gets RST. */
static void test_g2h_credit_violation(void **state)
{
	struct fx *f = *state;
	uint32_t hport;
	int fd = fx_host_conn(f, GPORT, &hport);
	static uint8_t chunk[4096];
	bool rst = false;
	struct pkt p;

	for (int i = 0; i < 400 && !rst; i++) {
		fx_send(f, VVSOCK_OP_RW, hport, 0, chunk, sizeof(chunk), 65536, 0);
		for (unsigned k = 0; k < VVSOCK_MAX_CONNS; k++)
			assert_true(f->vs->conns[k].buf_len <= VVSOCK_BUF_ALLOC);
		while (fx_recv(f, &p))
			rst |= p.h.op == VVSOCK_OP_RST;
	}
	assert_true(rst);
	assert_int_equal(f->vs->st.credit_violations, 1);
	assert_int_equal(f->vs->nconns, 0);
	close(fd);
}

/* A well-behaved guest over a slow client: credit updates keep it going. */
static void test_g2h_credit_updates(void **state)
{
	struct fx *f = *state;
	uint32_t hport, sent = 0, peer_fwd = 0, total = 512 * 1024, rcvd = 0;
	int fd = fx_host_conn(f, GPORT, &hport);
	static uint8_t chunk[4096], sink[65536];
	struct pkt p;
	ssize_t n;

	for (int iter = 0; iter < 100000 && rcvd < total; iter++) {
		while (sent < total && sent - peer_fwd + sizeof(chunk) <= VVSOCK_BUF_ALLOC) {
			fx_send(f, VVSOCK_OP_RW, hport, 0, chunk, sizeof(chunk), 65536, 0);
			sent += sizeof(chunk);
		}
		while (fx_recv(f, &p))
			peer_fwd = p.h.fwd_cnt;
		n = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
		rcvd += n > 0 ? (uint32_t)n : 0;
		fx_pump(f);
	}
	assert_int_equal(rcvd, total);
	assert_int_equal(f->vs->st.credit_violations, 0);
	close(fd);
}

static void test_credit_request(void **state)
{
	struct fx *f = *state;
	uint32_t hport;
	int fd = fx_host_conn(f, GPORT, &hport);
	char buf[8];
	struct pkt p;

	fx_send(f, VVSOCK_OP_RW, hport, 0, "abc", 3, 65536, 0);
	assert_int_equal(fx_read(fd, buf, sizeof(buf)), 3);
	fx_send(f, VVSOCK_OP_CREDIT_REQUEST, hport, 0, NULL, 0, 65536, 0);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_CREDIT_UPDATE);
	assert_int_equal(p.h.fwd_cnt, 3);
	assert_int_equal(p.h.buf_alloc, VVSOCK_BUF_ALLOC);
	close(fd);
}

/* Client half-close, guest half-close, then the closing handshake. */
static void test_shutdown_client_first(void **state)
{
	struct fx *f = *state;
	uint32_t hport;
	int fd = fx_host_conn(f, GPORT, &hport);
	char buf[8];
	struct pkt p;

	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	fx_pump(f);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_SHUTDOWN);
	assert_int_equal(p.h.flags, VVSOCK_SHUT_SEND);
	fx_send(f, VVSOCK_OP_RW, hport, 0, "late", 4, 65536, 0);
	assert_int_equal(fx_read(fd, buf, sizeof(buf)), 4); /* still flows g2h */
	fx_send(f, VVSOCK_OP_SHUTDOWN, hport, VVSOCK_SHUT_SEND, NULL, 0, 65536, 0);
	assert_int_equal(fx_read(fd, buf, sizeof(buf)), 0);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_SHUTDOWN);
	assert_int_equal(p.h.flags, VVSOCK_SHUT_BOTH);
	fx_send(f, VVSOCK_OP_RST, hport, 0, NULL, 0, 65536, 0);
	assert_int_equal(f->vs->nconns, 0);
	assert_false(fx_recv(f, &p));
	close(fd);
}

static void test_shutdown_guest_first(void **state)
{
	struct fx *f = *state;
	int lfd, fd = fx_guest_conn(f, 7000, &lfd);
	char buf[8];
	struct pkt p;

	fx_send(f, VVSOCK_OP_SHUTDOWN, 7000, VVSOCK_SHUT_SEND, NULL, 0, 65536, 0);
	assert_int_equal(fx_read(fd, buf, sizeof(buf)), 0); /* EOF for the host */
	fx_write(fd, "up", 2);                               /* the other way still works */
	fx_pump(f);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RW);
	assert_memory_equal(p.data, "up", 2);
	fx_send(f, VVSOCK_OP_SHUTDOWN, 7000, VVSOCK_SHUT_BOTH, NULL, 0, 65536, 0);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RST);
	assert_int_equal(f->vs->nconns, 0);
	close(fd);
	close(lfd);
}

/* Guest SHUTDOWN(RCV): no more data to the guest; the client's writes fail. */
static void test_shutdown_guest_rcv(void **state)
{
	struct fx *f = *state;
	uint32_t hport;
	int fd = fx_host_conn(f, GPORT, &hport);
	char buf[8];
	struct pkt p;

	fx_send(f, VVSOCK_OP_SHUTDOWN, hport, VVSOCK_SHUT_RCV, NULL, 0, 65536, 0);
	fx_pump(f);
	assert_int_equal(send(fd, "x", 1, MSG_NOSIGNAL), -1);
	assert_int_equal(errno, EPIPE);
	fx_pump(f);
	assert_false(fx_recv(f, &p));
	fx_send(f, VVSOCK_OP_RW, hport, 0, "still", 5, 65536, 0); /* the other way works */
	assert_int_equal(fx_read(fd, buf, sizeof(buf)), 5);
	close(fd);
}

/* Receive chains of two descriptors (header, payload), as drivers post them. */
static void test_rx_split_buffers(void **state)
{
	struct fx *f = fx_new();
	struct fake_ring *r = &f->q[VVSOCK_RXQ];
	uint32_t hport;
	struct pkt p;
	int fd;

	for (unsigned k = 0; k < QSIZE / 2; k++) {
		uint64_t gpa = RXBASE + (uint64_t)r->next_desc * RXSZ;
		struct fake_ring_seg s[2] = { { gpa, VVSOCK_HDR_LEN, true },
					      { gpa + VVSOCK_HDR_LEN, 4096, true } };

		fake_ring_post(r, s, 2);
	}
	fx_notify(f, VVSOCK_RXQ);
	fd = fx_host_conn(f, GPORT, &hport);
	fx_write(fd, "split across", 12);
	fx_pump(f);
	while (fx_recv(f, &p) && p.h.op != VVSOCK_OP_RW)
		;
	assert_int_equal(p.h.op, VVSOCK_OP_RW);
	assert_int_equal(p.h.len, 12);
	assert_memory_equal(p.data, "split across", 12);
	close(fd);
	fx_free(f);
	(void)state;
}

static void test_client_gone(void **state)
{
	struct fx *f = *state;
	uint32_t hport;
	int fd = fx_host_conn(f, GPORT, &hport);
	struct pkt p;

	close(fd);
	fx_pump(f);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_SHUTDOWN);
	assert_int_equal(p.h.flags, VVSOCK_SHUT_BOTH);
	assert_int_equal(f->vs->nconns, 1); /* waiting for the guest's RST */
	pthread_mutex_lock(&f->vd.lock);
	vvsock_conn_expire(f->vs, util_now_ns() + VVSOCK_TIMEOUT_NS + 1);
	vvsock_rx_run(f->vs);
	pthread_mutex_unlock(&f->vd.lock);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RST);
	assert_int_equal(f->vs->nconns, 0);
}

static void test_protocol_nonsense(void **state)
{
	struct fx *f = *state;
	struct vvsock_hdr h = { .src_cid = GCID, .dst_cid = 2, .src_port = 1, .dst_port = 2,
				.type = 2, .op = VVSOCK_OP_REQUEST };
	struct pkt p;

	fx_send_hdr(f, &h, NULL); /* SEQPACKET */
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RST);
	h.type = 1;
	h.op = 99;
	fx_send_hdr(f, &h, NULL);
	assert_true(fx_recv(f, &p));
	assert_int_equal(p.h.op, VVSOCK_OP_RST);
	h.op = VVSOCK_OP_RW;
	h.src_cid = 7; /* not the guest's */
	fx_send_hdr(f, &h, NULL);
	h.src_cid = GCID;
	h.dst_cid = 9;
	fx_send_hdr(f, &h, NULL);
	assert_false(fx_recv(f, &p));
	assert_int_equal(f->vs->st.dropped, 2);
	assert_int_equal(f->vd.fails, 0);
}

static void test_malformed_short(void **state)
{
	struct fx *f = *state;
	uint8_t raw[VVSOCK_HDR_LEN] = { 0 };

	fx_tx_raw(f, raw, 20, 0, NULL, 0);
	assert_int_equal(f->vd.fails, 1);
	assert_non_null(strstr(f->vd.reason, "tx queue"));
}

static void test_malformed_writable(void **state)
{
	struct fx *f = *state;
	uint8_t raw[VVSOCK_HDR_LEN] = { 0 };

	fx_tx_raw(f, raw, sizeof(raw), VIRTQUEUE_DESC_F_WRITE, NULL, 0);
	assert_int_equal(f->vd.fails, 1);
}

static void test_malformed_len(void **state)
{
	struct fx *f = *state;
	struct vvsock_hdr h = { .src_cid = GCID, .dst_cid = 2, .type = 1, .op = VVSOCK_OP_RW,
				.len = 100 };
	uint8_t raw[VVSOCK_HDR_LEN];

	vvsock_hdr_encode(&h, raw);
	fx_tx_raw(f, raw, sizeof(raw), 0, "abc", 3); /* 100 claimed, 3 there */
	assert_int_equal(f->vd.fails, 1);
}

static void test_malformed_huge(void **state)
{
	struct fx *f = *state;
	static uint8_t big[VVSOCK_PKT_MAX + 4];
	struct vvsock_hdr h = { .src_cid = GCID, .dst_cid = 2, .type = 1, .op = VVSOCK_OP_RW,
				.len = sizeof(big) };
	uint8_t raw[VVSOCK_HDR_LEN];

	vvsock_hdr_encode(&h, raw);
	fx_tx_raw(f, raw, sizeof(raw), 0, big, sizeof(big));
	assert_int_equal(f->vd.fails, 1);
}

static void test_malformed_rx(void **state)
{
	struct fx *f = fx_new();
	struct pkt p;

	fake_ring_post(&f->q[VVSOCK_RXQ], &(struct fake_ring_seg){ RXBASE, RXLEN, false },
		       1); /* device-readable */
	fx_send(f, VVSOCK_OP_REQUEST, 99, 0, NULL, 0, 65536, 0);
	assert_int_equal(f->vd.fails, 1);
	assert_non_null(strstr(f->vd.reason, "rx queue"));
	assert_false(fx_recv(f, &p));
	fx_free(f);
	(void)state;
}

/* With no rx buffers, packets wait (bounded) and go out once posted. */
static void test_rx_waits_for_buffers(void **state)
{
	struct fx *f = fx_new();
	struct pkt p;
	unsigned n = 0;

	for (uint32_t i = 0; i < VVSOCK_ORPHAN_MAX + 10; i++)
		fx_send(f, VVSOCK_OP_RW, 100 + i, 0, NULL, 0, 65536, 0);
	assert_int_equal(f->vs->st.orphans_lost, 10);
	fx_rxbufs(f, QSIZE, RXLEN);
	while (fx_recv(f, &p))
		n++;
	assert_int_equal(n, VVSOCK_ORPHAN_MAX);
	fx_free(f);
	(void)state;
}

static void test_reset_closes_all(void **state)
{
	struct fx *f = *state;
	uint32_t h1, h2;
	int a = fx_host_conn(f, 1234, &h1), b = fx_host_conn(f, 1235, &h2);
	int lfd, c = fx_guest_conn(f, 7000, &lfd);
	char buf[8];

	assert_int_equal(f->vs->nconns, 3);
	pthread_mutex_lock(&f->vd.lock);
	f->info.ops->reset(f->info.dev);
	pthread_mutex_unlock(&f->vd.lock);
	assert_int_equal(f->vs->nconns, 0);
	assert_int_equal(fx_read(a, buf, sizeof(buf)), 0);
	assert_int_equal(fx_read(b, buf, sizeof(buf)), 0);
	assert_int_equal(fx_read(c, buf, sizeof(buf)), 0);
	close(a);
	close(b);
	close(c);
	close(lfd);
}

static void test_conn_cap(void **state)
{
	struct fx *f = *state;
	int lfd, fds[4];
	struct pkt p;
	char buf[8];

	f->vs->max_conns = 2;
	lfd = fx_listener(f, 5001);
	for (uint32_t i = 0; i < 3; i++) {
		struct vvsock_hdr h = { .src_cid = GCID, .dst_cid = 2, .src_port = 100 + i,
					.dst_port = 5001, .type = 1, .op = VVSOCK_OP_REQUEST };

		fx_send_hdr(f, &h, NULL);
		assert_true(fx_recv(f, &p));
		assert_int_equal(p.h.op, i < 2 ? VVSOCK_OP_RESPONSE : VVSOCK_OP_RST);
	}
	assert_int_equal(f->vs->nconns, 2);
	fds[0] = fx_client(f, NULL); /* the host side is refused too */
	fx_pump(f);
	assert_int_equal(fx_read(fds[0], buf, sizeof(buf)), 0);
	close(fds[0]);
	assert_int_equal(f->vs->st.conns_refused, 2);
	close(lfd);
}

static void test_listener_in_use(void **state)
{
	struct fx *f = *state;
	struct config_vsock cfg = { .enabled = true, .cid = 4, .id = "vsock1" };
	struct virtio_env env = { .loop = f->loop, .gm = &f->gm, .ncpus = 1 };
	struct virtio_dev_info info;

	snprintf(cfg.socket, sizeof(cfg.socket), "%s", f->path);
	assert_int_equal(vvsock_create(&env, &cfg, &info), -EADDRINUSE);
}

static void test_query(void **state)
{
	struct fx *f = *state;
	json_t *obj = json_object();

	fx_send(f, VVSOCK_OP_RW, 1, 0, NULL, 0, 65536, 0);
	f->info.ops->query(f->info.dev, obj);
	assert_int_equal(json_integer_value(json_object_get(obj, "cid")), GCID);
	assert_string_equal(json_string_value(json_object_get(obj, "socket")), f->path);
	assert_int_equal(json_integer_value(json_object_get(obj, "connections")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(obj, "stats"),
							   "rsts-sent")), 1);
	json_decref(obj);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_credit_math),
		cmocka_unit_test_setup_teardown(test_host_connect_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_rst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connect_timeout, setup, teardown),
		cmocka_unit_test(test_host_connect_before_buffers),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connect_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_h2g_credit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_g2h_credit_violation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_g2h_credit_updates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_credit_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_client_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_guest_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_guest_rcv, setup, teardown),
		cmocka_unit_test(test_rx_split_buffers),
		cmocka_unit_test_setup_teardown(test_client_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_protocol_nonsense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_short, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_len, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_huge, setup, teardown),
		cmocka_unit_test(test_malformed_rx),
		cmocka_unit_test(test_rx_waits_for_buffers),
		cmocka_unit_test_setup_teardown(test_reset_closes_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conn_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listener_in_use, setup, teardown),
		cmocka_unit_test_setup_teardown(test_query, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
