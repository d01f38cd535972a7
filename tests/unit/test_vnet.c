/* test_vnet: the virtio-net device (src/vmm/virtio/vnet.c) on fake guest
 * memory with real split rings, a fake transport (the device->transport
 * calls of virtio.h, implemented here) and a fake event loop (evloop_add/
 * mod/del recorded here, callbacks run by the test), with one end of an
 * AF_UNIX SOCK_SEQPACKET socketpair standing in for the TAP (one frame per
 * read/write, header first, as a TAP with IFF_VNET_HDR) and the other end
 * playing the host network. Covers configuration and offered features,
 * transmit (header + frame reach the backend, segments split anywhere,
 * malformed headers and oversize frames dropped and counted, EAGAIN ->
 * EPOLLOUT -> kick), receive (mergeable buffers read directly, bounce and
 * waiting for buffers, without mergeable buffers, flags sanitised, oversize
 * dropped), no buffers -> the backend unwatched, link down, a dead
 * backend, malformed rings -> device failure, reset, query, the rate
 * limit (transmit chains held in the ring, the TAP unwatched while receive
 * is throttled, the timer's registration and kicks, set-rate-limit), and
 * the TAP attach checks that need no privileges. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/evloop.h"
#include "config.h"
#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_ring_cmocka.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/virtqueue.h"
#include "virtio/vnet.h"

#define RAM_SIZE   (4u << 20)
#define QSIZE      128u
#define DATA_START 0x10000ull
#define HDR        VNET_HDR_LEN

#define F(b) (1ull << (b))
#define F_RING (F(VIRTIO_F_VERSION_1) | F(VIRTIO_F_EVENT_IDX) | F(VIRTIO_F_INDIRECT_DESC))
#define F_BASE (F_RING | F(VNET_F_MAC) | F(VNET_F_STATUS) | F(VNET_F_CSUM) | \
		F(VNET_F_HOST_TSO4) | F(VNET_F_HOST_TSO6))
#define F_MRG (F_BASE | F(VNET_F_MRG_RXBUF))

/* The transport: tests/fake/fake_virtio.c; the driver's rings:
 * tests/fake/fake_ring.c. */

/* ---- fake event loop: the backend's registration, and the rate-limit
 * timer's (any fd that is not a socket) ---- */

struct evloop_timer {
	bool reg;
	int fd;
	evloop_fn fn;
	void *opaque;
};

struct evloop {
	bool reg;
	int fd;
	uint32_t events;
	evloop_fn fn;
	void *opaque;
	struct evloop_timer timer;
};

static bool fake_is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	if (!fake_is_socket(fd)) {
		assert_false(loop->timer.reg);
		assert_int_equal(events, EPOLLIN);
		loop->timer = (struct evloop_timer){ .reg = true, .fd = fd, .fn = fn,
						     .opaque = opaque };
		return 0;
	}
	assert_false(loop->reg);
	loop->reg = true;
	loop->fd = fd;
	loop->events = events;
	loop->fn = fn;
	loop->opaque = opaque;
	return 0;
}

int evloop_mod(struct evloop *loop, int fd, uint32_t events)
{
	assert_true(loop->reg);
	assert_int_equal(fd, loop->fd);
	loop->events = events;
	return 0;
}

int evloop_del(struct evloop *loop, int fd)
{
	if (loop->timer.reg && fd == loop->timer.fd) {
		loop->timer.reg = false;
		return 0;
	}
	assert_true(loop->reg);
	assert_int_equal(fd, loop->fd);
	loop->reg = false;
	loop->events = 0;
	return 0;
}

/* ---- fixture: guest memory, a fake driver, the host end ---- */

struct fx {
	struct gmem gm;
	uint8_t *ram;
	struct virtio_dev vd;
	struct evloop loop;
	struct virtio_dev_info info;
	int dev_fd;                 /* the device's end (for peeking) */
	int peer;                   /* the host network's end */
	struct fake_ring_mem mem;
	struct fake_ring q[2];
	uint64_t features;
};

static const uint8_t test_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

/* Post one receive buffer of len bytes (one segment); returns its gpa. */
static uint64_t fx_rxbuf(struct fx *f, uint32_t len)
{
	struct fake_ring_seg s = { fake_ring_alloc(&f->mem, len), len, true };

	fake_ring_post(&f->q[VNET_RXQ], &s, 1);
	return s.gpa;
}

static void fx_lock(struct fx *f)
{
	pthread_mutex_lock(&f->vd.lock);
}

static void fx_unlock(struct fx *f)
{
	pthread_mutex_unlock(&f->vd.lock);
}

static void fx_notify(struct fx *f, unsigned q)
{
	fake_virtio_notify(&f->vd, &f->info, q);
}

static void fx_fd_event(struct fx *f, uint32_t events)
{
	assert_true(f->loop.reg);
	f->loop.fn(f->loop.opaque, events);
}

static int fx_activate(struct fx *f, uint64_t features)
{
	f->features = features;
	f->vd.features = features;
	f->vd.id = "net0";
	for (unsigned q = 0; q < 2; q++)
		fake_ring_rewind(&f->q[q]);
	return fake_virtio_activate(&f->vd, &f->info, f->q, 2, features);
}

static struct fx *fx_new_limited(uint64_t features, unsigned tun_offloads,
				 const struct config_ratelimit *limit)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct config_net cfg = { .fd = -1, .mac_set = true, .id = "net0",
				  .limit = limit ? *limit : (struct config_ratelimit){ 0 } };
	struct vnet_backend be = { .tun_offloads = tun_offloads, .tap = false,
				   .name = "socketpair" };
	struct virtio_env env;
	int sv[2];

	assert_non_null(f);
	memcpy(cfg.mac, test_mac, 6);
	f->ram = fake_ring_ram(&f->mem, &f->gm, RAM_SIZE, DATA_START, fake_ring_fail_test);
	fake_virtio_init(&f->vd, "net0", 0);
	fake_ring_init_n(f->q, 2, &f->mem, QSIZE,
			 &(const struct fake_ring_layout){ 0x1000, 0x3000, 0x1000, 0x2000 });
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
				    sv), 0);
	be.fd = f->dev_fd = sv[0];
	f->peer = sv[1];
	env = (struct virtio_env){ .loop = &f->loop, .gm = &f->gm, .ncpus = 1 };
	assert_int_equal(vnet_create_backend(&env, &cfg, &be, &f->info), 0);
	*f->info.handle = &f->vd;
	if (features)
		assert_int_equal(fx_activate(f, features), 0);
	return f;
}

static struct fx *fx_new_offloads(uint64_t features, unsigned tun_offloads)
{
	return fx_new_limited(features, tun_offloads, NULL);
}

static struct fx *fx_new(uint64_t features)
{
	return fx_new_offloads(features, 0);
}

static void fx_free(struct fx *f)
{
	f->info.ops->destroy(f->info.dev);
	close(f->peer);
	fake_virtio_destroy(&f->vd);
	free(f->ram);
	free(f);
}

static json_int_t fx_stat(struct fx *f, const char *name)
{
	json_t *obj = json_object();
	json_int_t v;

	fx_lock(f);
	f->info.ops->query(f->info.dev, obj);
	fx_unlock(f);
	assert_non_null(json_object_get(json_object_get(obj, "stats"), name));
	v = json_integer_value(json_object_get(json_object_get(obj, "stats"), name));
	json_decref(obj);
	return v;
}

static void fx_query_false(struct fx *f, const char *name)
{
	json_t *obj = json_object();

	f->info.ops->query(f->info.dev, obj);
	assert_true(json_is_false(json_object_get(obj, name)));
	json_decref(obj);
}

/* A frame: header (flags, gso_type given) + len bytes of pattern seed. */
static uint8_t *mkpkt(size_t len, uint8_t flags, uint8_t gso, unsigned seed)
{
	uint8_t *p = calloc(1, HDR + len);

	assert_non_null(p);
	p[0] = flags;
	p[1] = gso;
	for (size_t i = 0; i < len; i++)
		p[HDR + i] = (uint8_t)(i * 7 + seed);
	return p;
}

/* The host sends one packet (header + frame) to the device. */
static void peer_send(struct fx *f, const uint8_t *pkt, size_t len)
{
	assert_int_equal(send(f->peer, pkt, len, 0), (ssize_t)len);
}

static ssize_t peer_recv(struct fx *f, uint8_t *buf, size_t cap)
{
	return recv(f->peer, buf, cap, MSG_DONTWAIT);
}

/* Copy of guest memory. */
static void fx_rd(struct fx *f, uint64_t gpa, void *dst, size_t len)
{
	assert_int_equal(gmem_read(&f->gm, gpa, dst, len), 0);
}

/* ---- configuration ---- */

static void test_cfg_and_features(void **state)
{
	struct fx *f = fx_new(0);
	uint8_t cfg[VNET_CFG_SIZE];
	uint64_t off;

	fx_lock(f);
	f->info.ops->cfg_read(f->info.dev, 0, cfg, sizeof(cfg));
	fx_unlock(f);
	assert_memory_equal(cfg, test_mac, 6);
	assert_int_equal(cfg[6] | cfg[7] << 8, VNET_S_LINK_UP);
	assert_int_equal(cfg[8] | cfg[9] << 8, 1);
	off = f->info.features;
	assert_true(off & F(VNET_F_MRG_RXBUF));
	assert_true(off & F(VNET_F_MAC));
	assert_true(off & F(VNET_F_STATUS));
	assert_true(off & F(VNET_F_CSUM));
	assert_true(off & F(VNET_F_HOST_TSO4));
	assert_false(off & F(VNET_F_GUEST_CSUM)); /* the backend delivers no offloads */
	assert_false(off & F(VNET_F_GUEST_TSO4));
	assert_int_equal(f->info.nqueues, 2);
	assert_int_equal(f->info.queue_max, VNET_QUEUE_MAX);
	assert_string_equal(f->info.id, "net0");
	assert_false(f->loop.reg); /* nothing watched before activate */
	fx_free(f);

	f = fx_new_offloads(0, 0x1f); /* TUN_F_CSUM | TSO4 | TSO6 | TSO_ECN | UFO */
	off = f->info.features;
	assert_true(off & F(VNET_F_GUEST_CSUM));
	assert_true(off & F(VNET_F_GUEST_TSO4));
	assert_true(off & F(VNET_F_GUEST_TSO6));
	assert_true(off & F(VNET_F_GUEST_ECN));
	assert_true(off & F(VNET_F_GUEST_UFO));
	assert_true(off & F(VNET_F_HOST_UFO));
	fx_free(f);
}

static void test_generated_mac(void **state)
{
	struct config_net cfg = { .fd = -1, .id = "net1" };
	struct vnet_backend be = { .name = "x" };
	struct virtio_dev_info info;
	struct evloop loop = { 0 };
	struct gmem gm = { 0 };
	struct virtio_env env = { .loop = &loop, .gm = &gm };
	uint8_t cfgb[6];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	be.fd = sv[0];
	assert_int_equal(vnet_create_backend(&env, &cfg, &be, &info), 0);
	info.ops->cfg_read(info.dev, 0, cfgb, 6);
	assert_int_equal(cfgb[0] & 3, 2); /* locally administered unicast */
	info.ops->destroy(info.dev);
	close(sv[1]);
}

/* ---- transmit ---- */

static void test_tx_frame_reaches_backend(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(100, 0, 0, 3), got[256];
	uint64_t buf = fake_ring_alloc(&f->mem, HDR + 100);
	/* header split from the frame, the frame itself in two */
	struct fake_ring_seg s[3] = { { buf, 5, false }, { buf + 5, 50, false },
				      { buf + 55, HDR + 45, false } };
	uint32_t id, len;

	pkt[10] = 0x77; /* num_buffers from the driver: not passed on */
	fake_ring_write(&f->mem, buf, pkt, HDR + 100);
	assert_true(f->loop.reg);
	assert_int_equal(f->loop.events, EPOLLIN);
	assert_int_equal(fake_ring_post(&f->q[VNET_TXQ], s, 3), 0);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(peer_recv(f, got, sizeof(got)), HDR + 100);
	assert_int_equal(got[10], 0);
	pkt[10] = 0;
	assert_memory_equal(got, pkt, HDR + 100); /* the header goes to the TAP too */
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_TXQ]), 1);
	fake_ring_used(&f->q[VNET_TXQ], 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 0);
	assert_int_equal(f->vd.irqs[VNET_TXQ], 1);
	assert_int_equal(fx_stat(f, "tx-packets"), 1);
	assert_int_equal(fx_stat(f, "tx-bytes"), 100);
	assert_int_equal(f->vd.fails, 0);
	free(pkt);
	fx_free(f);
}

struct tx_bad {
	const char *what;
	size_t frame;        /* frame bytes after the header */
	uint8_t flags, gso;
	uint16_t hdr_len, gso_size, csum_start, csum_offset;
	bool short_hdr;      /* only 8 bytes in the chain */
	const char *counter;
};

static const struct tx_bad tx_bads[] = {
	{ "header shorter than 12 bytes", 0, 0, 0, 0, 0, 0, 0, true, "tx-malformed" },
	{ "frame shorter than an Ethernet header", 10, 0, 0, 0, 0, 0, 0, false, "tx-malformed" },
	{ "unknown header flag", 60, 0x80, 0, 0, 0, 0, 0, false, "tx-malformed" },
	{ "DATA_VALID on transmit", 60, 2, 0, 0, 0, 0, 0, false, "tx-malformed" },
	{ "checksum field past the frame", 60, 1, 0, 0, 0, 50, 9, false, "tx-malformed" },
	{ "gso type unknown", 60, 0, 2, 0, 10, 0, 0, false, "tx-malformed" },
	{ "UFO not negotiated", 60, 0, 3, 0, 10, 0, 0, false, "tx-malformed" },
	{ "ECN not negotiated", 60, 0, 0x81, 0, 10, 0, 0, false, "tx-malformed" },
	{ "ECN without GSO", 60, 0, 0x80, 0, 0, 0, 0, false, "tx-malformed" },
	{ "gso_size 0", 60, 0, 1, 0, 0, 0, 0, false, "tx-malformed" },
	{ "hdr_len past the frame", 60, 0, 0, 61, 0, 0, 0, false, "tx-malformed" },
	{ "frame of 65551 bytes", VNET_FRAME_MAX + 1, 0, 0, 0, 0, 0, 0, false, "tx-oversize" },
};

static void tx_bad_one(const struct tx_bad *t)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(t->frame, t->flags, t->gso, 1), got[64];
	uint64_t buf = fake_ring_alloc(&f->mem, HDR + t->frame);
	struct fake_ring_seg s = { buf, t->short_hdr ? 8 : (uint32_t)(HDR + t->frame), false };
	uint16_t v[4] = { htole16(t->hdr_len), htole16(t->gso_size), htole16(t->csum_start),
			  htole16(t->csum_offset) };

	print_message("  %s\n", t->what);
	memcpy(pkt + 2, v, sizeof(v));
	fake_ring_write(&f->mem, buf, pkt, HDR + t->frame);
	fake_ring_post(&f->q[VNET_TXQ], &s, 1);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(peer_recv(f, got, sizeof(got)), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_TXQ]), 1); /* completed all the same */
	assert_int_equal(fx_stat(f, t->counter), 1);
	assert_int_equal(fx_stat(f, "tx-packets"), 0);
	assert_int_equal(f->vd.fails, 0);
	free(pkt);
	fx_free(f);
}

static void test_tx_malformed_dropped(void **state)
{
	for (size_t i = 0; i < sizeof(tx_bads) / sizeof(tx_bads[0]); i++)
		tx_bad_one(&tx_bads[i]);
}

/* Good offload headers pass when the features are negotiated. */
static void test_tx_offload_headers(void **state)
{
	struct fx *f = fx_new(F_MRG | F(VNET_F_HOST_ECN));
	uint8_t *pkt = mkpkt(200, 1, 0x81, 2), got[512];
	uint64_t buf = fake_ring_alloc(&f->mem, HDR + 200);
	struct fake_ring_seg s = { buf, HDR + 200, false };
	uint16_t v[4] = { htole16(54), htole16(1448), htole16(34), htole16(16) };

	memcpy(pkt + 2, v, sizeof(v));
	fake_ring_write(&f->mem, buf, pkt, HDR + 200);
	fake_ring_post(&f->q[VNET_TXQ], &s, 1);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(peer_recv(f, got, sizeof(got)), HDR + 200);
	assert_memory_equal(got, pkt, HDR + 200);
	assert_int_equal(fx_stat(f, "tx-malformed"), 0);
	free(pkt);
	fx_free(f);
}

static void test_tx_eagain_waits_for_epollout(void **state)
{
	enum { FRAME = 60000, N = 16 };
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(FRAME, 0, 0, 0), *got = malloc(HDR + FRAME);
	unsigned sent;

	assert_non_null(got);
	for (unsigned i = 0; i < N; i++) {
		struct fake_ring_seg s = { fake_ring_alloc(&f->mem, HDR + FRAME), HDR + FRAME,
					   false };

		pkt[HDR] = (uint8_t)i;
		fake_ring_write(&f->mem, s.gpa, pkt, HDR + FRAME);
		fake_ring_post(&f->q[VNET_TXQ], &s, 1);
	}
	fx_notify(f, VNET_TXQ);
	sent = fake_ring_used_idx(&f->q[VNET_TXQ]);
	assert_true(sent < N); /* the socket filled up */
	assert_true(f->loop.events & EPOLLOUT);
	fx_notify(f, VNET_TXQ); /* a kick while blocked changes nothing */
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_TXQ]), sent);
	for (unsigned i = 0; i < sent; i++) {
		assert_int_equal(peer_recv(f, got, HDR + FRAME), HDR + FRAME);
		assert_int_equal(got[HDR], i);
	}
	fx_fd_event(f, EPOLLOUT);
	assert_int_equal(f->vd.kicks[VNET_TXQ], 1);
	assert_false(f->loop.events & EPOLLOUT);
	while (fake_ring_used_idx(&f->q[VNET_TXQ]) < N) {
		unsigned before = fake_ring_used_idx(&f->q[VNET_TXQ]);

		fx_notify(f, VNET_TXQ); /* the kick's queue_notify */
		for (unsigned i = before; i < fake_ring_used_idx(&f->q[VNET_TXQ]); i++) {
			assert_int_equal(peer_recv(f, got, HDR + FRAME), HDR + FRAME);
			assert_int_equal(got[HDR], i); /* in order, none lost */
		}
		if (f->loop.events & EPOLLOUT)
			fx_fd_event(f, EPOLLOUT);
	}
	assert_int_equal(fx_stat(f, "tx-packets"), N);
	free(pkt);
	free(got);
	fx_free(f);
}

static void test_tx_wrong_direction_fails(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint64_t buf = fake_ring_alloc(&f->mem, 128);
	struct fake_ring_seg s[2] = { { buf, HDR + 60, false }, { buf + 100, 16, true } };

	fake_ring_post(&f->q[VNET_TXQ], s, 2);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(f->vd.fails, 1);
	assert_non_null(strstr(f->vd.reason, "device-writable"));
	assert_false(f->loop.reg); /* a failed device stops watching the backend */
	fx_free(f);
}

static void test_tx_bad_ring_fails(void **state)
{
	struct fx *f = fx_new(F_MRG);
	struct fake_ring_seg s = { RAM_SIZE - 8, 64, false }; /* runs past guest RAM */

	fake_ring_post(&f->q[VNET_TXQ], &s, 1);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(f->vd.fails, 1);
	assert_non_null(strstr(f->vd.reason, "transmit queue"));
	assert_non_null(strstr(f->vd.reason, "outside guest RAM"));
	fx_free(f);

	f = fx_new(F_MRG);
	fake_ring_w16(&f->mem, f->q[VNET_TXQ].avail + 2, QSIZE + 5); /* avail index far ahead */
	fx_notify(f, VNET_TXQ);
	assert_int_equal(f->vd.fails, 1);
	assert_non_null(strstr(f->vd.reason, "avail index"));
	fx_free(f);
}

/* ---- receive ---- */

static void test_rx_mergeable_direct(void **state)
{
	enum { BUF = 2048, NBUF = 48, FRAME = 5000 };
	struct fx *f = fx_new(F_MRG);
	uint64_t gpa[NBUF];
	uint8_t *pkt = mkpkt(FRAME, 2, 0, 9), *got = malloc(HDR + FRAME);
	uint32_t id, len;
	uint16_t nb;

	assert_non_null(got);
	for (unsigned i = 0; i < NBUF; i++)
		gpa[i] = fx_rxbuf(f, BUF);
	fx_notify(f, VNET_RXQ);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 0);
	assert_int_equal(f->loop.events, EPOLLIN);
	pkt[10] = 0x55; /* whatever the TAP leaves there */
	peer_send(f, pkt, HDR + FRAME);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 3);
	for (unsigned i = 0; i < 3; i++) {
		fake_ring_used(&f->q[VNET_RXQ], i, &id, &len);
		assert_int_equal(id, i);
		assert_int_equal(len, i < 2 ? BUF : HDR + FRAME - 2 * BUF);
		fx_rd(f, gpa[i], got + i * BUF, len);
	}
	memcpy(&nb, got + 10, 2);
	assert_int_equal(le16toh(nb), 3);
	assert_int_equal(got[0], 0); /* DATA_VALID cleared: GUEST_CSUM not negotiated */
	assert_memory_equal(got + HDR, pkt + HDR, FRAME);
	assert_int_equal(f->vd.irqs[VNET_RXQ], 1);
	assert_int_equal(fx_stat(f, "rx-packets"), 1);
	assert_int_equal(fx_stat(f, "rx-bytes"), FRAME);
	/* the remaining 45 buffers went back: the next packet starts at buffer 3 */
	peer_send(f, pkt, HDR + 60);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 4);
	fake_ring_used(&f->q[VNET_RXQ], 3, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, HDR + 60);
	free(pkt);
	free(got);
	fx_free(f);
}

static void test_rx_guest_csum_keeps_flags(void **state)
{
	struct fx *f = fx_new_offloads(F_MRG | F(VNET_F_GUEST_CSUM), 1);
	uint8_t *pkt = mkpkt(100, 2, 0, 1), got[HDR];
	uint64_t gpa = fx_rxbuf(f, 70000); /* one buffer that holds any packet */

	peer_send(f, pkt, HDR + 100);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 1);
	fx_rd(f, gpa, got, HDR);
	assert_int_equal(got[0], 2);
	assert_int_equal(got[10], 1);
	free(pkt);
	fx_free(f);
}

/* Few small buffers: the packet goes through the bounce buffer and waits
 * for more buffers when it does not fit yet. */
static void test_rx_mergeable_bounce_waits(void **state)
{
	enum { BUF = 512 };
	struct fx *f = fx_new(F_MRG);
	uint8_t *p1 = mkpkt(1000, 0, 0, 1), *p2 = mkpkt(3000, 0, 0, 2);
	uint8_t *got = calloc(1, 4096);
	uint64_t gpa[10];
	uint32_t id, len, off = 0;

	assert_non_null(got);
	for (unsigned i = 0; i < 4; i++)
		gpa[i] = fx_rxbuf(f, BUF);
	peer_send(f, p1, HDR + 1000);
	peer_send(f, p2, HDR + 3000);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 2); /* p1 in 2 buffers */
	assert_int_equal(fx_stat(f, "rx-packets"), 1);
	/* p2 (3012 bytes) waits: 2 buffers left; the backend is not watched */
	assert_false(f->loop.reg && (f->loop.events & EPOLLIN));
	for (unsigned i = 4; i < 10; i++)
		gpa[i] = fx_rxbuf(f, BUF);
	fx_notify(f, VNET_RXQ);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 2 + 6);
	for (unsigned i = 2; i < 8; i++) {
		fake_ring_used(&f->q[VNET_RXQ], i, &id, &len);
		assert_int_equal(id, i);
		assert_int_equal(len, i < 7 ? BUF : HDR + 3000 - 5 * BUF);
		fx_rd(f, gpa[i], got + off, len);
		off += len;
	}
	assert_int_equal(got[10], 6);
	assert_memory_equal(got + HDR, p2 + HDR, 3000);
	assert_int_equal(fx_stat(f, "rx-packets"), 2);
	assert_int_equal(f->loop.events, EPOLLIN);
	free(p1);
	free(p2);
	free(got);
	fx_free(f);
}

/* A pending packet larger than every buffer the driver can ever give. */
static void test_rx_mergeable_never_fits(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *big = mkpkt(QSIZE * 64 + 100, 0, 0, 1), *small = mkpkt(50, 0, 0, 2);

	for (unsigned i = 0; i < QSIZE; i++)
		fx_rxbuf(f, 64);
	peer_send(f, big, HDR + QSIZE * 64 + 100);
	peer_send(f, small, HDR + 50);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fx_stat(f, "rx-dropped"), 1);
	assert_int_equal(fx_stat(f, "rx-packets"), 1); /* the small one */
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 1);
	free(big);
	free(small);
	fx_free(f);
}

static void test_rx_no_buffers_unwatched(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(100, 0, 0, 4), peek[8];

	peer_send(f, pkt, HDR + 100);
	fx_fd_event(f, EPOLLIN);
	assert_false(f->loop.reg); /* no receive buffers: EPOLLIN off */
	assert_int_equal(recv(f->dev_fd, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT),
			 sizeof(peek)); /* the packet stays in the backend */
	fx_rxbuf(f, 2048);
	fx_rxbuf(f, 2048);
	fx_notify(f, VNET_RXQ); /* the driver's kick */
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 1);
	assert_true(f->loop.reg); /* one buffer left: watched again */
	assert_int_equal(f->loop.events, EPOLLIN);
	free(pkt);
	fx_free(f);
}

static void test_rx_without_mergeable(void **state)
{
	struct fx *f = fx_new(F_BASE);
	uint8_t *a = mkpkt(1514, 0, 0, 1), *b = mkpkt(2000, 0, 0, 2), *c = mkpkt(100, 0, 0, 3);
	uint8_t *got = malloc(HDR + 1514);
	uint64_t g1 = fx_rxbuf(f, HDR + 1514), g2 = fx_rxbuf(f, HDR + 1514);
	uint32_t id, len;

	assert_non_null(got);
	peer_send(f, a, HDR + 1514);
	peer_send(f, b, HDR + 2000); /* larger than the buffers: dropped */
	peer_send(f, c, HDR + 100);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 2);
	fake_ring_used(&f->q[VNET_RXQ], 0, &id, &len);
	assert_int_equal(len, HDR + 1514);
	fx_rd(f, g1, got, len);
	assert_int_equal(got[10], 1);
	assert_memory_equal(got + HDR, a + HDR, 1514);
	fake_ring_used(&f->q[VNET_RXQ], 1, &id, &len);
	assert_int_equal(id, 1);
	assert_int_equal(len, HDR + 100);
	fx_rd(f, g2, got, len);
	assert_memory_equal(got + HDR, c + HDR, 100);
	assert_int_equal(fx_stat(f, "rx-dropped"), 1);
	free(a);
	free(b);
	free(c);
	free(got);
	fx_free(f);
}

/* Without mergeable buffers, a chain that holds any packet is read into
 * directly, here one of 17 pages. */
static void test_rx_without_mergeable_big_chain(void **state)
{
	enum { PAGES = 17, FRAME = 65000 };
	struct fx *f = fx_new(F_BASE);
	struct fake_ring_seg s[PAGES + 1];
	uint8_t *pkt = mkpkt(FRAME, 0, 0, 5), *got = malloc(HDR + FRAME);
	uint32_t id, len, off = 0;

	assert_non_null(got);
	s[0] = (struct fake_ring_seg){ fake_ring_alloc(&f->mem, HDR), HDR, true };
	for (unsigned i = 1; i <= PAGES; i++)
		s[i] = (struct fake_ring_seg){ fake_ring_alloc(&f->mem, 4096), 4096, true };
	fake_ring_post(&f->q[VNET_RXQ], s, PAGES + 1);
	peer_send(f, pkt, HDR + FRAME);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 1);
	fake_ring_used(&f->q[VNET_RXQ], 0, &id, &len);
	assert_int_equal(len, HDR + FRAME);
	for (unsigned i = 0; off < len; i++) {
		uint32_t n = len - off < s[i].len ? len - off : s[i].len;

		fx_rd(f, s[i].gpa, got + off, n);
		off += n;
	}
	assert_memory_equal(got + HDR, pkt + HDR, FRAME);
	assert_int_equal(got[10], 1);
	free(pkt);
	free(got);
	fx_free(f);
}

static void test_rx_oversize_dropped(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *big = mkpkt(VNET_FRAME_MAX + 1, 0, 0, 1), *max = mkpkt(VNET_FRAME_MAX, 0, 0, 2);
	uint64_t gpa = fx_rxbuf(f, 200000);
	uint8_t *got = malloc(HDR + VNET_FRAME_MAX);
	uint32_t id, len;

	assert_non_null(got);
	peer_send(f, big, HDR + VNET_FRAME_MAX + 1);
	peer_send(f, max, HDR + VNET_FRAME_MAX);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fx_stat(f, "rx-errors"), 1);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 1);
	fake_ring_used(&f->q[VNET_RXQ], 0, &id, &len);
	assert_int_equal(len, HDR + VNET_FRAME_MAX);
	fx_rd(f, gpa, got, len);
	assert_memory_equal(got + HDR, max + HDR, VNET_FRAME_MAX);
	free(big);
	free(max);
	free(got);
	fx_free(f);
}

static void test_rx_budget_bounded(void **state)
{
	enum { N = 100 };
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(60, 0, 0, 1);
	unsigned passes = 1;

	for (unsigned i = 0; i < N; i++)
		fx_rxbuf(f, 1024);
	for (unsigned i = 0; i < N; i++)
		peer_send(f, pkt, HDR + 60);
	fx_fd_event(f, EPOLLIN);
	assert_true(fake_ring_used_idx(&f->q[VNET_RXQ]) < N); /* one pass does not take all */
	assert_true(fake_ring_used_idx(&f->q[VNET_RXQ]) > 0);
	assert_int_equal(f->loop.events, EPOLLIN); /* the loop calls again */
	for (; fake_ring_used_idx(&f->q[VNET_RXQ]) < N && passes < 10; passes++)
		fx_fd_event(f, EPOLLIN);
	assert_int_equal(fx_stat(f, "rx-packets"), N);
	free(pkt);
	fx_free(f);
}

static void test_rx_readable_segment_fails(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint64_t buf = fake_ring_alloc(&f->mem, 4096);
	struct fake_ring_seg s[2] = { { buf, 64, false }, { buf + 64, 2048, true } };
	uint8_t *pkt = mkpkt(60, 0, 0, 1);

	fake_ring_post(&f->q[VNET_RXQ], s, 2);
	peer_send(f, pkt, HDR + 60);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(f->vd.fails, 1);
	assert_non_null(strstr(f->vd.reason, "receive queue"));
	assert_false(f->loop.reg);
	free(pkt);
	fx_free(f);
}

static void test_rx_tiny_buffer_fails(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(60, 0, 0, 1);

	fx_rxbuf(f, 8);
	peer_send(f, pkt, HDR + 60);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(f->vd.fails, 1);
	free(pkt);
	fx_free(f);
}

/* ---- link, backend, reset, query ---- */

static void test_link_down_and_up(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(60, 0, 0, 1), cfg[8], got[128];
	struct fake_ring_seg s = { fake_ring_alloc(&f->mem, HDR + 60), HDR + 60, false };

	fx_rxbuf(f, 2048);
	fx_lock(f);
	assert_int_equal(f->info.ops->set_link(f->info.dev, false), 0);
	f->info.ops->cfg_read(f->info.dev, 0, cfg, 8);
	fx_unlock(f);
	assert_int_equal(cfg[6], 0);
	assert_int_equal(f->vd.cfg_changes, 1);
	assert_false(f->loop.reg); /* link down: the TAP is not read */
	fake_ring_write(&f->mem, s.gpa, pkt, HDR + 60);
	fake_ring_post(&f->q[VNET_TXQ], &s, 1);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_TXQ]), 1); /* completed, dropped */
	assert_int_equal(peer_recv(f, got, sizeof(got)), -1);
	assert_int_equal(fx_stat(f, "tx-dropped"), 1);
	peer_send(f, pkt, HDR + 60);
	fx_notify(f, VNET_RXQ); /* even a kick does not receive while down */
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 0);
	fx_lock(f);
	assert_int_equal(f->info.ops->set_link(f->info.dev, true), 0);
	f->info.ops->cfg_read(f->info.dev, 0, cfg, 8);
	fx_unlock(f);
	assert_int_equal(cfg[6], VNET_S_LINK_UP);
	assert_int_equal(f->vd.cfg_changes, 2);
	assert_int_equal(f->loop.events, EPOLLIN);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 1);
	free(pkt);
	fx_free(f);
}

static void test_backend_gone(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(60, 0, 0, 1);
	struct fake_ring_seg s = { fake_ring_alloc(&f->mem, HDR + 60), HDR + 60, false };

	fx_rxbuf(f, 2048);
	close(f->peer);
	f->peer = socket(AF_UNIX, SOCK_SEQPACKET, 0); /* something for fx_free to close */
	fx_fd_event(f, EPOLLIN | EPOLLHUP);
	assert_false(f->loop.reg);
	fx_query_false(f, "backend-ok");
	fake_ring_write(&f->mem, s.gpa, pkt, HDR + 60);
	fake_ring_post(&f->q[VNET_TXQ], &s, 1);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_TXQ]), 1);
	assert_int_equal(fx_stat(f, "tx-dropped"), 1);
	assert_int_equal(f->vd.fails, 0); /* the guest's device is fine */
	free(pkt);
	fx_free(f);

	/* A TAP whose interface was deleted polls as EPOLLERR alone. */
	f = fx_new(F_MRG);
	fx_rxbuf(f, 2048);
	fx_fd_event(f, EPOLLERR);
	assert_false(f->loop.reg); /* no spinning on the error */
	fx_query_false(f, "backend-ok");
	fx_free(f);
}

static void test_reset_and_reactivate(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(60, 0, 0, 1);

	assert_true(f->loop.reg);
	fx_lock(f);
	f->info.ops->reset(f->info.dev);
	fx_unlock(f);
	assert_false(f->loop.reg);
	for (unsigned q = 0; q < 2; q++)
		virtqueue_reset(&f->vd.vq[q]);
	memset(f->ram, 0, 0x10000);
	assert_int_equal(fx_activate(f, F_BASE), 0);
	assert_true(f->loop.reg);
	fx_rxbuf(f, 2048);
	peer_send(f, pkt, HDR + 60);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 1);
	free(pkt);
	fx_free(f);
}

static void test_query(void **state)
{
	struct fx *f = fx_new(F_MRG);
	json_t *obj = json_object();

	f->info.ops->query(f->info.dev, obj);
	assert_string_equal(json_string_value(json_object_get(obj, "mac")), "52:54:00:12:34:56");
	assert_string_equal(json_string_value(json_object_get(obj, "link")), "up");
	assert_string_equal(json_string_value(json_object_get(obj, "backend")), "socketpair");
	assert_true(json_is_integer(json_object_get(json_object_get(obj, "stats"), "rx-errors")));
	assert_true(json_is_integer(json_object_get(json_object_get(obj, "stats"), "tx-bytes")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(obj, "stats"),
							      "link")), "up");
	json_decref(obj);
	fx_free(f);
}

/* ---- rate limit ---- */

static void fx_set_limit(struct fx *f, uint64_t bps, uint64_t bps_burst, uint64_t pps,
			 uint64_t pps_burst)
{
	struct config_ratelimit lim = { bps, bps_burst, pps, pps_burst };

	fx_lock(f);
	assert_int_equal(f->info.ops->set_rate_limit(f->info.dev, &lim), 0);
	fx_unlock(f);
}

static unsigned fx_kicks(struct fx *f, unsigned q)
{
	return __atomic_load_n(&f->vd.kicks[q], __ATOMIC_SEQ_CST);
}

/* Post n transmit chains of 100-byte frames. */
static void fx_tx_frames(struct fx *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t *pkt = mkpkt(100, 0, 0, i);
		struct fake_ring_seg s = { fake_ring_alloc(&f->mem, HDR + 100), HDR + 100, false };

		fake_ring_write(&f->mem, s.gpa, pkt, HDR + 100);
		fake_ring_post(&f->q[VNET_TXQ], &s, 1);
		free(pkt);
	}
}

static unsigned peer_drain(struct fx *f)
{
	uint8_t buf[256];
	unsigned n = 0;

	while (peer_recv(f, buf, sizeof(buf)) > 0)
		n++;
	return n;
}

/* pps=1, burst 2 (from the start): two frames go out, the third chain is
 * given back and the queue waits for the timer; a kick meanwhile sends
 * nothing; the timer's callback kicks the queue; lifting the limit sends the
 * rest. No timer without a limit. */
static void test_rate_limit_tx(void **state)
{
	struct config_ratelimit lim = { .ops = 1, .ops_burst = 2 };
	struct fx *f = fx_new(F_MRG);
	unsigned k;

	assert_false(f->loop.timer.reg);
	fx_free(f);
	f = fx_new_limited(F_MRG, 0, &lim);
	assert_true(f->loop.timer.reg);
	fx_tx_frames(f, 4);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(peer_drain(f), 2);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_TXQ]), 2);
	assert_int_equal(f->vd.vq[VNET_TXQ].last_avail_idx, 2);
	assert_int_equal(fx_stat(f, "throttled"), 1);
	assert_int_equal(fx_stat(f, "tx-packets"), 2);
	assert_int_equal(f->loop.events, EPOLLIN);   /* not EPOLLOUT: the timer resumes */
	fx_notify(f, VNET_TXQ);
	assert_int_equal(peer_drain(f), 0);
	k = fx_kicks(f, VNET_TXQ);
	f->loop.timer.fn(f->loop.timer.opaque, EPOLLIN);
	assert_int_equal(fx_kicks(f, VNET_TXQ), k + 1);
	assert_int_equal(fx_kicks(f, VNET_RXQ), 0);
	fx_set_limit(f, 0, 0, 0, 0);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(peer_drain(f), 2);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_TXQ]), 4);
	/* bytes: 150-byte bucket, 100-byte frames: one passes, then 50 short */
	fx_set_limit(f, 1000, 150, 0, 0);
	fx_tx_frames(f, 2);
	fx_notify(f, VNET_TXQ);
	assert_int_equal(peer_drain(f), 1);
	assert_int_equal(fx_stat(f, "throttled"), 2);
	fx_free(f);
}

/* Receive: pps=1, burst 2 set at run time: two packets are read, then the
 * TAP leaves the epoll set with packets still in it; lifting the limit
 * kicks the receive queue, which reads the rest and watches again. Bytes
 * are charged after the read: a 200-byte packet into a 100-byte bucket
 * passes and leaves a debt that holds the next one back. */
static void test_rate_limit_rx(void **state)
{
	struct fx *f = fx_new(F_MRG);
	uint8_t *pkt = mkpkt(200, 0, 0, 5);
	unsigned k;

	fx_set_limit(f, 0, 0, 1, 2);
	assert_true(f->loop.timer.reg);
	for (unsigned i = 0; i < 8; i++)
		fx_rxbuf(f, 2048);
	fx_notify(f, VNET_RXQ);
	for (unsigned i = 0; i < 4; i++)
		peer_send(f, pkt, HDR + 200);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 2);
	assert_true(!f->loop.reg || !(f->loop.events & EPOLLIN));
	assert_int_equal(fx_stat(f, "throttled"), 1);
	k = fx_kicks(f, VNET_RXQ);
	fx_set_limit(f, 0, 0, 0, 0);
	assert_int_equal(fx_kicks(f, VNET_RXQ), k + 1);
	fx_notify(f, VNET_RXQ);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 4);
	assert_true(f->loop.reg && (f->loop.events & EPOLLIN));
	fx_set_limit(f, 100, 100, 0, 0);
	peer_send(f, pkt, HDR + 200);
	peer_send(f, pkt, HDR + 200);
	fx_fd_event(f, EPOLLIN);
	assert_int_equal(fake_ring_used_idx(&f->q[VNET_RXQ]), 5);
	assert_int_equal(fx_stat(f, "rx-packets"), 5);
	assert_int_equal(fx_stat(f, "throttled"), 2);
	/* reset ends the wait and watches nothing; destroy unregisters the timer */
	fx_lock(f);
	f->info.ops->reset(f->info.dev);
	fx_unlock(f);
	assert_false(f->loop.reg);
	f->info.ops->destroy(f->info.dev);
	assert_false(f->loop.timer.reg);
	close(f->peer);   /* the rest of fx_free */
	pthread_mutex_destroy(&f->vd.lock);
	free(f->ram);
	free(f);
	free(pkt);
}

/* ---- the TAP attach checks that need no privileges ---- */

static void test_tap_missing(void **state)
{
	struct config_net cfg = { .tap = "vmkt-nosuch9", .fd = -1, .id = "net0" };
	struct virtio_dev_info info;
	struct evloop loop = { 0 };
	struct virtio_env env = { .loop = &loop };
	struct stat st;

	assert_int_equal(vnet_create(&env, &cfg, &info), -ENODEV);
	assert_int_equal(stat("/sys/class/net/vmkt-nosuch9", &st), -1); /* none created */
	snprintf(cfg.tap, sizeof(cfg.tap), "lo"); /* exists, not a TAP */
	assert_int_equal(vnet_create(&env, &cfg, &info), -ENODEV);
	snprintf(cfg.tap, sizeof(cfg.tap), "../x");
	assert_int_equal(vnet_create(&env, &cfg, &info), -EINVAL);
}

static void test_fd_not_a_tap(void **state)
{
	struct config_net cfg = { .fd = -1, .id = "net0" };
	struct virtio_dev_info info;
	struct evloop loop = { 0 };
	struct virtio_env env = { .loop = &loop };
	int p[2];

	assert_int_equal(pipe(p), 0);
	cfg.fd = p[0];
	assert_int_equal(vnet_create(&env, &cfg, &info), -ENODEV);
	assert_true(fcntl(p[0], F_GETFD) >= 0); /* the caller's fd stays open */
	close(p[0]);
	close(p[1]);
	cfg.fd = 1000;
	assert_int_equal(vnet_create(&env, &cfg, &info), -EBADF);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfg_and_features),
		cmocka_unit_test(test_generated_mac),
		cmocka_unit_test(test_tx_frame_reaches_backend),
		cmocka_unit_test(test_tx_malformed_dropped),
		cmocka_unit_test(test_tx_offload_headers),
		cmocka_unit_test(test_tx_eagain_waits_for_epollout),
		cmocka_unit_test(test_tx_wrong_direction_fails),
		cmocka_unit_test(test_tx_bad_ring_fails),
		cmocka_unit_test(test_rx_mergeable_direct),
		cmocka_unit_test(test_rx_guest_csum_keeps_flags),
		cmocka_unit_test(test_rx_mergeable_bounce_waits),
		cmocka_unit_test(test_rx_mergeable_never_fits),
		cmocka_unit_test(test_rx_no_buffers_unwatched),
		cmocka_unit_test(test_rx_without_mergeable),
		cmocka_unit_test(test_rx_without_mergeable_big_chain),
		cmocka_unit_test(test_rx_oversize_dropped),
		cmocka_unit_test(test_rx_budget_bounded),
		cmocka_unit_test(test_rx_readable_segment_fails),
		cmocka_unit_test(test_rx_tiny_buffer_fails),
		cmocka_unit_test(test_link_down_and_up),
		cmocka_unit_test(test_backend_gone),
		cmocka_unit_test(test_reset_and_reactivate),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_rate_limit_tx),
		cmocka_unit_test(test_rate_limit_rx),
		cmocka_unit_test(test_tap_missing),
		cmocka_unit_test(test_fd_not_a_tap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
