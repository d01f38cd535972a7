/* fuzz_vvsock: libFuzzer harness for the virtio-vsock device
 * (src/vmm/virtio/vvsock.c, vvsock_conn.c): guest packets on the tx queue
 * and rx buffers from the input, on fake guest memory (one exactly-sized
 * heap buffer, so ASan sees any access outside it), with the fake
 * transport and real unix sockets in a temporary directory made once per
 * process: the device's listener, a host client that sends a CONNECT line
 * (optional), and a listener at <socket>_1 so that guest REQUESTs to host
 * port 1 connect. The harness calls the device's socket callbacks itself
 * (the event loop is created but never run) and expires every deadline at
 * the end. Checks beyond ASan/UBSan: no connection buffers more than
 * VVSOCK_BUF_ALLOC, and the connection count stays within the cap.
 *
 * Input layout (little-endian):
 *   [0]   bit 0 EVENT_IDX, bit 1 INDIRECT_DESC, bit 2 reset and re-activate
 *         half-way, bit 3 a host client sends "CONNECT <[4]>\n" first,
 *         bit 4 the host client writes the tail of the input after that
 *   [1]   bits 0-2: queue size 1 << n (1..64, 7 -> 64)
 *   [2,3] M: bytes of guest memory image that follow (capped at RAM size)
 *   [4]   guest port the host client connects to
 *   [5..5+M) guest RAM from address 0: rx ring desc 0x0, avail 0x400,
 *         used 0x800; tx ring desc 0x1000, avail 0x1400, used 0x1800;
 *         event ring desc 0x2000, avail 0x2400, used 0x2800
 *   rest: bytes the host client writes (bit 4) */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"
#include "virtio/vvsock.h"

#define FUZZ_RAM 0x10000u
#define FUZZ_HDR 5

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz {
	struct gmem gm;
	uint8_t *ram;
	struct fake_ring_mem mem;   /* rings and input conventions: tests/fake/fake_ring.c */
	struct fake_ring ring[3];
	struct virtio_dev vd;       /* the transport: tests/fake/fake_virtio.c */
	struct evloop *loop;
	struct virtio_dev_info info;
	struct vvsock *vs;
	uint64_t features;
	unsigned qsize;
	int client, listener;
};

static char fuzz_tmpdir[64];

/* At exit: the sockets and the directory go. */
static void fuzz_cleanup(void)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/v_1", fuzz_tmpdir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/v", fuzz_tmpdir);
	unlink(p);
	rmdir(fuzz_tmpdir);
}

/* One directory per process; the paths are reused by every input. */
static const char *fuzz_dir(void)
{
	if (!fuzz_tmpdir[0]) {
		snprintf(fuzz_tmpdir, sizeof(fuzz_tmpdir), "/tmp/fuzz_vvsock.XXXXXX");
		if (!mkdtemp(fuzz_tmpdir))
			abort();
		atexit(fuzz_cleanup);
		log_set_level(LOG_ERROR);
	}
	return fuzz_tmpdir;
}

static void fuzz_check(const struct fuzz *z)
{
	if (z->vs->nconns > VVSOCK_MAX_CONNS)
		__builtin_trap();
	for (unsigned i = 0; i < VVSOCK_MAX_CONNS; i++) {
		if (z->vs->conns[i].buf_len > VVSOCK_BUF_ALLOC)
			__builtin_trap();
	}
}

/* What an event loop would do: accept, then every ready socket. */
static void fuzz_pump(struct fuzz *z)
{
	struct pollfd pl = { .fd = z->vs->listen_fd, .events = POLLIN };
	int fd;

	if (poll(&pl, 1, 0) == 1)
		vvsock_conn_on_accept(z->vs, EPOLLIN);
	for (unsigned i = 0; i < VVSOCK_MAX_CONNS; i++) {
		struct vvsock_conn *c = &z->vs->conns[i];
		struct pollfd p = { .fd = c->fd, .events = (short)c->events };

		if (c->fd >= 0 && c->registered && poll(&p, 1, 0) == 1)
			vvsock_conn_on_event(c, (uint32_t)p.revents);
	}
	while ((fd = accept4(z->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
		close(fd); /* guest connections to port 1: accepted and hung up */
	fuzz_check(z);
}

static int fuzz_unix(const char *path, bool listen_on)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return -1;
	if (listen_on) {
		unlink(path);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 64) == 0)
			return fd;
	} else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		return fd;
	}
	close(fd);
	return -1;
}

static void fuzz_client(struct fuzz *z, uint8_t port)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);

	z->client = fuzz_unix(z->vs->path, false);
	if (z->client >= 0 && send(z->client, line, (size_t)n, MSG_NOSIGNAL) < 0) {
		/* the pump sees what the device got */
	}
	fuzz_pump(z);
}

static void fuzz_run(struct fuzz *z, const uint8_t *hdr, const uint8_t *tail, size_t n)
{
	json_t *obj = json_object();
	uint8_t cfg[8];

	z->info.ops->cfg_read(z->info.dev, 0, cfg, sizeof(cfg));
	(void)fake_virtio_activate(&z->vd, &z->info, z->ring, 3, z->features);
	if (hdr[0] & 8)
		fuzz_client(z, hdr[4]);
	fake_virtio_notify(&z->vd, &z->info, VVSOCK_RXQ);
	fake_virtio_notify(&z->vd, &z->info, VVSOCK_TXQ);
	fuzz_pump(z);
	if ((hdr[0] & 16) && z->client >= 0 && n && send(z->client, tail, n, MSG_NOSIGNAL) < 0) {
		/* full or closed: fine */
	}
	fuzz_pump(z);
	if (hdr[0] & 4) {
		fake_virtio_reset(&z->vd, &z->info, 3);
		(void)fake_virtio_activate(&z->vd, &z->info, z->ring, 3, z->features);
	}
	fake_virtio_notify(&z->vd, &z->info, VVSOCK_TXQ);
	fake_virtio_notify(&z->vd, &z->info, VVSOCK_EVQ);
	fuzz_pump(z);
	pthread_mutex_lock(&z->vd.lock);
	vvsock_conn_expire(z->vs, UINT64_MAX - 1);
	vvsock_rx_run(z->vs);
	z->info.ops->query(z->info.dev, obj);
	pthread_mutex_unlock(&z->vd.lock);
	fake_virtio_notify(&z->vd, &z->info, VVSOCK_RXQ);
	json_decref(obj);
	fake_virtio_reset(&z->vd, &z->info, 3);
}

static int fuzz_setup(struct fuzz *z, const uint8_t *data)
{
	struct config_vsock cfg = { .enabled = true, .cid = 3, .id = "vsock0" };
	struct virtio_env env;
	char path[128];

	snprintf(cfg.socket, sizeof(cfg.socket), "%s/v", fuzz_dir());
	snprintf(path, sizeof(path), "%s_1", cfg.socket);
	z->listener = fuzz_unix(path, true);
	z->qsize = fake_ring_fuzz_qsize(data[1]);
	z->features = fake_ring_fuzz_features(data[0]);
	z->ram = fake_ring_ram(&z->mem, &z->gm, FUZZ_RAM, 0, NULL);
	if (!z->ram || evloop_create(&z->loop) < 0)
		return -1;
	env = (struct virtio_env){ .loop = z->loop, .gm = &z->gm, .ncpus = 1 };
	if (vvsock_create(&env, &cfg, &z->info) < 0)
		return -1;
	*z->info.handle = &z->vd;
	z->vs = z->info.dev;
	fake_ring_fuzz_rings(z->ring, 3, &z->mem, z->qsize);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz z;
	size_t m;

	if (size < FUZZ_HDR)
		return 0;
	memset(&z, 0, sizeof(z));
	z.client = z.listener = -1;
	pthread_mutex_init(&z.vd.lock, NULL);
	if (fuzz_setup(&z, data) == 0) {
		m = fake_ring_fuzz_image(z.ram, FUZZ_RAM, data, size, FUZZ_HDR);
		fuzz_run(&z, data, data + FUZZ_HDR + m, size - FUZZ_HDR - m);
		z.info.ops->destroy(z.info.dev);
	}
	if (z.client >= 0)
		close(z.client);
	if (z.listener >= 0)
		close(z.listener);
	if (z.loop)
		evloop_destroy(z.loop);
	pthread_mutex_destroy(&z.vd.lock);
	free(z.ram);
	return 0;
}
