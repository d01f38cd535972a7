/* fuzz_vnet: libFuzzer harness for the virtio-net device
 * (src/vmm/virtio/vnet.c): the transmit path (chain walking, header checks,
 * writev to the backend) and receive placement (windows of receive chains,
 * direct reads, bounce and pending packets, mergeable and single buffers)
 * on fake guest memory whose rings and buffers come from the input, with a
 * socketpair as the backend, a fake transport and a fake event loop in this
 * file. Guest RAM is one exactly-sized heap buffer, so ASan sees any access
 * outside it.
 *
 * Input layout (little-endian):
 *   [0]   features: bit 0 MRG_RXBUF, 1 GUEST_CSUM, 2 CSUM, 3 HOST_TSO4/6,
 *         4 HOST_ECN, 5 HOST_UFO, 6 INDIRECT_DESC, 7 EVENT_IDX
 *   [1]   bits 0-2: queue size 1 << n (1..64, 7 -> 64); bit 3: link down
 *         first; bit 4: reset and re-activate half-way
 *   [2,3] M: bytes of guest memory image that follow (capped at RAM size)
 *   [4..4+M) guest RAM from address 0: receive ring desc 0x0, avail 0x400,
 *         used 0x800; transmit ring desc 0x1000, avail 0x1400, used 0x1800;
 *         buffers anywhere (RAM is 128 KiB)
 *   rest: packets the host sends: u16 length L (L >= 0xfff0 means 65562 +
 *         L - 0xfff0 bytes: oversize), then up to L bytes (zero-padded) */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/evloop.h"
#include "config.h"
#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/virtqueue.h"
#include "virtio/vnet.h"

#define FUZZ_RAM 0x20000u
#define FUZZ_HDR 4
#define FUZZ_PKT_MAX (VNET_HDR_LEN + VNET_FRAME_MAX + 16)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The transport: tests/fake/fake_virtio.c; rings and input conventions:
 * tests/fake/fake_ring.c. */

/* ---- fake event loop ---- */

struct evloop {
	bool reg;
	uint32_t events;
	evloop_fn fn;
	void *opaque;
};

int evloop_add(struct evloop *loop, int fd, uint32_t events, evloop_fn fn, void *opaque)
{
	if (loop->reg)
		__builtin_trap(); /* one registration per fd */
	*loop = (struct evloop){ .reg = true, .events = events, .fn = fn, .opaque = opaque };
	return 0;
}

int evloop_mod(struct evloop *loop, int fd, uint32_t events)
{
	if (!loop->reg)
		__builtin_trap();
	loop->events = events;
	return 0;
}

int evloop_del(struct evloop *loop, int fd)
{
	if (!loop->reg)
		__builtin_trap();
	loop->reg = false;
	return 0;
}

/* ---- harness ---- */

struct fuzz {
	struct gmem gm;
	uint8_t *ram;
	struct fake_ring_mem mem;
	struct fake_ring ring[2];
	struct virtio_dev vd;
	struct evloop loop;
	struct virtio_dev_info info;
	int peer;
	uint64_t features;
	unsigned qsize;
};

static const uint64_t fuzz_feature_bits[8] = {
	1ull << VNET_F_MRG_RXBUF, 1ull << VNET_F_GUEST_CSUM, 1ull << VNET_F_CSUM,
	(1ull << VNET_F_HOST_TSO4) | (1ull << VNET_F_HOST_TSO6), 1ull << VNET_F_HOST_ECN,
	1ull << VNET_F_HOST_UFO, 1ull << VIRTIO_F_INDIRECT_DESC, 1ull << VIRTIO_F_EVENT_IDX,
};

static void fuzz_set_link(struct fuzz *z, bool up)
{
	pthread_mutex_lock(&z->vd.lock);
	(void)z->info.ops->set_link(z->info.dev, up);
	pthread_mutex_unlock(&z->vd.lock);
}

static void fuzz_event(struct fuzz *z, uint32_t events)
{
	if (z->loop.reg)
		z->loop.fn(z->loop.opaque, events & (z->loop.events | EPOLLHUP));
}

/* Drain what the device transmitted. */
static void fuzz_drain(struct fuzz *z, uint8_t *buf)
{
	while (recv(z->peer, buf, FUZZ_PKT_MAX, MSG_DONTWAIT) >= 0)
		;
}

/* Send the input's packets (until the socket is full). */
static void fuzz_send(struct fuzz *z, const uint8_t *p, size_t n, uint8_t *buf)
{
	while (n >= 2) {
		size_t len = (size_t)(p[0] | p[1] << 8), have;

		p += 2;
		n -= 2;
		if (len >= 0xfff0)
			len = VNET_HDR_LEN + VNET_FRAME_MAX + (len - 0xfff0);
		have = len < n ? len : n;
		memset(buf, 0, len);
		memcpy(buf, p, have);
		p += have;
		n -= have;
		if (send(z->peer, buf, len, MSG_DONTWAIT) < 0)
			break;
	}
}

static int fuzz_setup(struct fuzz *z, const uint8_t *data, size_t size, size_t *used)
{
	struct config_net cfg = { .fd = -1, .mac_set = true, .id = "net0" };
	struct vnet_backend be = { .tun_offloads = 0x1f, .name = "fuzz" };
	struct virtio_env env = { .loop = &z->loop, .gm = &z->gm, .ncpus = 1 };
	int sv[2];

	z->qsize = fake_ring_fuzz_qsize(data[1]);
	z->features = 1ull << VIRTIO_F_VERSION_1;
	for (unsigned i = 0; i < 8; i++)
		if (data[0] & (1u << i))
			z->features |= fuzz_feature_bits[i];
	z->ram = fake_ring_ram(&z->mem, &z->gm, FUZZ_RAM, 0, NULL);
	if (!z->ram)
		return -1;
	fake_ring_fuzz_rings(z->ring, 2, &z->mem, z->qsize);
	*used = FUZZ_HDR + fake_ring_fuzz_image(z->ram, FUZZ_RAM, data, size, FUZZ_HDR);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	be.fd = sv[0];
	z->peer = sv[1];
	pthread_mutex_init(&z->vd.lock, NULL);
	if (vnet_create_backend(&env, &cfg, &be, &z->info) < 0)
		__builtin_trap();
	*z->info.handle = &z->vd;
	return 0;
}

static void fuzz_run(struct fuzz *z, uint8_t flags, const uint8_t *pkts, size_t npkts,
		     uint8_t *buf)
{
	json_t *obj = json_object();

	(void)fake_virtio_activate(&z->vd, &z->info, z->ring, 2, z->features);
	if (flags & 8)
		fuzz_set_link(z, false);
	fake_virtio_notify(&z->vd, &z->info, VNET_TXQ);
	fuzz_drain(z, buf);
	fuzz_send(z, pkts, npkts, buf);
	fuzz_event(z, EPOLLIN | EPOLLOUT);
	fake_virtio_notify(&z->vd, &z->info, VNET_RXQ);
	fuzz_set_link(z, true);
	if (flags & 16) {
		fake_virtio_reset(&z->vd, &z->info, 2);
		(void)fake_virtio_activate(&z->vd, &z->info, z->ring, 2, z->features);
	}
	fuzz_event(z, EPOLLIN);
	fake_virtio_notify(&z->vd, &z->info, VNET_TXQ);
	fuzz_drain(z, buf);
	fuzz_event(z, EPOLLOUT);
	fake_virtio_notify(&z->vd, &z->info, VNET_TXQ);
	fake_virtio_notify(&z->vd, &z->info, VNET_RXQ);
	pthread_mutex_lock(&z->vd.lock);
	z->info.ops->query(z->info.dev, obj);
	pthread_mutex_unlock(&z->vd.lock);
	json_decref(obj);
	fake_virtio_reset(&z->vd, &z->info, 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;
	struct fuzz z;
	size_t used = 0;

	if (size < FUZZ_HDR)
		return 0;
	buf = malloc(FUZZ_PKT_MAX);
	memset(&z, 0, sizeof(z));
	z.peer = -1;
	if (buf && fuzz_setup(&z, data, size, &used) == 0)
		fuzz_run(&z, data[1], data + used, size - used, buf);
	if (z.info.ops)
		z.info.ops->destroy(z.info.dev);
	if (z.peer >= 0)
		close(z.peer);
	pthread_mutex_destroy(&z.vd.lock);
	free(z.ram);
	free(buf);
	return 0;
}
