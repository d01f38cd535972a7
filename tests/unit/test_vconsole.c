/* test_vconsole: the virtio-console device (src/vmm/virtio/vconsole.c) on
 * fake guest memory with real split rings and a fake transport (the
 * device->transport calls of virtio.h, implemented here), over the real
 * chardev backends (file and unix socket) and the real event loop, which
 * the test thread drives with pump(): a 1 ms timerfd checks a condition
 * each tick and stops the loop when it holds (or gives up, failing the
 * test instead of hanging it). Covers the configuration, output to a file
 * and to a socket client, the emergency-write register, input spread over
 * several receive buffers, input held back (not lost) while the driver has
 * posted no buffers, malformed rings failing the device, and reset. */
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
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/evloop.h"
#include "config.h"
#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_ring_cmocka.h"
#include "tests/fake/fake_virtio.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define RAM_SIZE   (1u << 20)
#define QSIZE      32u
#define DATA_START 0x10000ull
#define RXQ 0
#define TXQ 1
#define PUMP_MAX 5000
#define BIG 65536

#define F_RING ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_EVENT_IDX))

/* The transport: tests/fake/fake_virtio.c; the driver's rings:
 * tests/fake/fake_ring.c. */

/* ---- fixture ---- */

struct fx {
	struct gmem gm;
	uint8_t *ram;
	struct virtio_dev vd;
	struct evloop *loop;
	struct virtio_dev_info info;
	struct fake_ring_mem mem;
	struct fake_ring q[2];
	uint64_t rxgpa[QSIZE];      /* receive buffer of each descriptor */
	uint8_t in[BIG];            /* what the guest received, in order */
	size_t in_len, want_in;
	char dir[40], path[64];
	int client;
};

/* One transmit chain of the given strings (one segment each). */
static void fx_tx(struct fx *f, const char *const *parts, unsigned n)
{
	struct fake_ring_seg s[QSIZE];

	assert_true(n <= QSIZE);
	for (unsigned i = 0; i < n; i++) {
		s[i] = (struct fake_ring_seg){ fake_ring_alloc(&f->mem, strlen(parts[i])),
					       (uint32_t)strlen(parts[i]), false };
		fake_ring_write(&f->mem, s[i].gpa, parts[i], strlen(parts[i]));
	}
	fake_ring_post(&f->q[TXQ], s, n);
}

/* One receive buffer of len bytes. */
static void fx_rxbuf(struct fx *f, uint32_t len)
{
	struct fake_ring_seg s = { fake_ring_alloc(&f->mem, len), len, true };

	f->rxgpa[f->q[RXQ].next_desc] = s.gpa;
	fake_ring_post(&f->q[RXQ], &s, 1);
}

/* Append what the device put in receive buffers since the last call. */
static void fx_collect(struct fx *f)
{
	uint32_t id, len;

	while (fake_ring_pop(&f->q[RXQ], &id, &len)) {
		assert_true(id < QSIZE);
		assert_true(f->in_len + len <= BIG);
		assert_int_equal(gmem_read(&f->gm, f->rxgpa[id], f->in + f->in_len, len), 0);
		f->in_len += len;
	}
}

static void fx_notify(struct fx *f, unsigned q)
{
	fake_virtio_notify(&f->vd, &f->info, q);
}

static void fx_activate(struct fx *f)
{
	assert_int_equal(fake_virtio_activate(&f->vd, &f->info, f->q, 2, F_RING), 0);
}

/* A device on backend spec ("file:..." or "unix:..." under the test's
 * directory, or "none"). */
static struct fx *fx_new(const char *kind, bool activate)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct config_console cfg = { .id = "console0" };
	struct virtio_env env;
	char spec[200];

	assert_non_null(f);
	f->client = -1;
	f->ram = fake_ring_ram(&f->mem, &f->gm, RAM_SIZE, DATA_START, fake_ring_fail_test);
	fake_virtio_init(&f->vd, "console0", F_RING);
	fake_ring_init_n(f->q, 2, &f->mem, QSIZE,
			 &(const struct fake_ring_layout){ 0x1000, 0x3000, 0x1000, 0x2000 });
	strcpy(f->dir, "/tmp/test_vconsole.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, kind);
	snprintf(spec, sizeof(spec), "%s:%s", kind, f->path);
	assert_int_equal(chardev_parse(strcmp(kind, "none") ? spec : "none", &cfg.backend), 0);
	assert_int_equal(evloop_create(&f->loop), 0);
	env = (struct virtio_env){ .loop = f->loop, .gm = &f->gm, .ncpus = 1 };
	assert_int_equal(vconsole_create(&env, &cfg, &f->info), 0);
	*f->info.handle = &f->vd;
	if (activate)
		fx_activate(f);
	return f;
}

static void fx_free(struct fx *f)
{
	f->info.ops->destroy(f->info.dev);
	if (f->client >= 0)
		close(f->client);
	evloop_destroy(f->loop);
	unlink(f->path);
	rmdir(f->dir);
	fake_virtio_destroy(&f->vd);
	free(f->ram);
	free(f);
}

/* ---- pumping the event loop ---- */

struct pump {
	struct fx *f;
	bool (*pred)(struct fx *f);
	int tfd, ticks, max;
	bool ok;
};

static void pump_tick(void *opaque, uint32_t events)
{
	struct pump *p = opaque;
	uint64_t n;

	if (read(p->tfd, &n, sizeof(n)) < 0) {
		/* spurious */
	}
	p->ticks++;
	if (p->pred && p->pred(p->f)) {
		p->ok = true;
		evloop_stop(p->f->loop);
	} else if (p->ticks >= p->max) {
		evloop_stop(p->f->loop);
	}
}

static bool pump(struct fx *f, bool (*pred)(struct fx *f), int max)
{
	struct itimerspec its = { .it_interval = { 0, 1000000 }, .it_value = { 0, 1000000 } };
	struct pump p = { .f = f, .pred = pred, .max = max };

	p.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	assert_true(p.tfd >= 0);
	assert_int_equal(timerfd_settime(p.tfd, 0, &its, NULL), 0);
	assert_int_equal(evloop_add(f->loop, p.tfd, EPOLLIN, pump_tick, &p), 0);
	assert_int_equal(evloop_run(f->loop), 0);
	assert_int_equal(evloop_del(f->loop, p.tfd), 0);
	close(p.tfd);
	return p.ok;
}

static bool got_input(struct fx *f)
{
	fx_collect(f);
	return f->in_len >= f->want_in;
}

static bool got_fail(struct fx *f)
{
	return f->vd.fails > 0;
}

static void fx_connect(struct fx *f)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	f->client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->client >= 0);
	assert_int_equal(connect(f->client, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static void client_send(struct fx *f, const void *data, size_t len)
{
	assert_int_equal(write(f->client, data, len), (ssize_t)len);
}

static void expect_input(struct fx *f, const void *data, size_t len)
{
	f->want_in = f->in_len + len;
	assert_true(pump(f, got_input, PUMP_MAX));
	assert_int_equal(f->in_len, f->want_in);
	assert_memory_equal(f->in + f->in_len - len, data, len);
}

static size_t file_read(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	close(fd);
	assert_true(n >= 0);
	return (size_t)n;
}

/* ---- tests ---- */

static void test_cfg(void **state)
{
	struct fx *f = fx_new("none", false);
	uint8_t cfg[12];

	f->info.ops->cfg_read(f->info.dev, 0, cfg, sizeof(cfg));
	assert_int_equal(cfg[0] | cfg[1] | cfg[2] | cfg[3], 0);     /* cols, rows */
	assert_int_equal(cfg[4], 1);                              /* max_nr_ports */
	assert_int_equal(f->info.nqueues, 2);
	assert_false(f->info.features & 2);                       /* no MULTIPORT */
	assert_true(f->info.features & 4);                        /* EMERG_WRITE */
	assert_string_equal(f->info.id, "console0");
	fx_free(f);
}

static void test_output_to_file(void **state)
{
	static const char *const a[] = { "hello ", "world\n" };
	static const char *const b[] = { "bye\n" };
	struct fx *f = fx_new("file", true);
	char buf[64];
	uint32_t id, len;
	json_t *obj = json_object();

	fx_tx(f, a, 2);
	fx_tx(f, b, 1);
	fx_notify(f, TXQ);
	assert_int_equal(fake_ring_used_idx(&f->q[TXQ]), 2);
	fake_ring_used(&f->q[TXQ], 1, &id, &len);
	assert_int_equal(id, 2);
	assert_int_equal(len, 0);
	assert_int_equal(f->vd.irqs[TXQ], 1);
	assert_int_equal(file_read(f->path, buf, sizeof(buf)), 16);
	assert_memory_equal(buf, "hello world\nbye\n", 16);
	f->info.ops->query(f->info.dev, obj);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(obj, "stats"),
							    "tx-bytes")), 16);
	assert_non_null(strstr(json_string_value(json_object_get(obj, "backend")), "file:"));
	json_decref(obj);
	fx_free(f);
}

static void test_emergency_write(void **state)
{
	struct fx *f = fx_new("file", false);
	const uint32_t v = htole32('X');
	char buf[8];

	f->info.ops->cfg_write(f->info.dev, 8, &v, 4);
	f->info.ops->cfg_write(f->info.dev, 4, &v, 4); /* max_nr_ports: read-only */
	assert_int_equal(file_read(f->path, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], 'X');
	fx_free(f);
}

static void test_input_over_several_buffers(void **state)
{
	struct fx *f = fx_new("unix", true);
	uint32_t id, len;

	for (unsigned i = 0; i < 3; i++)
		fx_rxbuf(f, 8);
	fx_notify(f, RXQ);
	fx_connect(f);
	client_send(f, "0123456789abcdefghij", 20);
	expect_input(f, "0123456789abcdefghij", 20);
	assert_int_equal(fake_ring_used_idx(&f->q[RXQ]), 3);
	fake_ring_used(&f->q[RXQ], 2, &id, &len);
	assert_int_equal(id, 2);
	assert_int_equal(len, 4);
	assert_true(f->vd.irqs[RXQ] >= 1);
	fx_free(f);
}

static bool ticks_only(struct fx *f)
{
	return false;
}

static void test_input_held_without_buffers(void **state)
{
	enum { N = 10000 };
	struct fx *f = fx_new("unix", true);
	uint8_t *data = malloc(N);
	json_t *obj = json_object();

	assert_non_null(data);
	for (unsigned i = 0; i < N; i++)
		data[i] = (uint8_t)(i * 13 + i / 251);
	fx_connect(f);
	client_send(f, data, N);
	assert_false(pump(f, ticks_only, 50)); /* no buffers: nothing is taken */
	assert_int_equal(fake_ring_used_idx(&f->q[RXQ]), 0);
	for (unsigned i = 0; i < 3; i++)
		fx_rxbuf(f, 1000);
	fx_notify(f, RXQ);
	f->want_in = 3000;
	assert_true(pump(f, got_input, PUMP_MAX));
	assert_false(pump(f, ticks_only, 20)); /* the 3 buffers are full: input waits */
	fx_collect(f);
	assert_int_equal(f->in_len, 3000);
	for (unsigned i = 0; i < 8; i++)
		fx_rxbuf(f, 1000);
	fx_notify(f, RXQ);
	f->want_in = N;
	assert_true(pump(f, got_input, PUMP_MAX));
	assert_int_equal(f->in_len, N);
	assert_memory_equal(f->in, data, N); /* nothing lost, nothing reordered */
	f->info.ops->query(f->info.dev, obj);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(obj, "stats"),
							    "rx-lost")), 0);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(obj, "stats"),
							    "rx-bytes")), N);
	json_decref(obj);
	free(data);
	fx_free(f);
}

static void test_output_to_socket(void **state)
{
	static const char *const a[] = { "abc", "def\n" };
	struct fx *f = fx_new("unix", true);
	char buf[16];

	fx_rxbuf(f, 16);
	fx_connect(f);
	client_send(f, "x", 1);
	expect_input(f, "x", 1); /* the client is attached now */
	fx_tx(f, a, 2);
	fx_notify(f, TXQ);
	assert_int_equal(read(f->client, buf, sizeof(buf)), 7);
	assert_memory_equal(buf, "abcdef\n", 7);
	fx_free(f);
}

static void test_tx_writable_segment_fails(void **state)
{
	struct fx *f = fx_new("file", true);
	uint64_t gpa = fake_ring_alloc(&f->mem, 16);

	fake_ring_desc(&f->q[TXQ], 0, gpa, 16, VIRTQUEUE_DESC_F_WRITE, 0);
	fake_ring_publish(&f->q[TXQ], 0);
	fx_notify(f, TXQ);
	assert_int_equal(f->vd.fails, 1);
	assert_non_null(strstr(f->vd.reason, "device-writable"));
	assert_int_equal(fake_ring_used_idx(&f->q[TXQ]), 0);
	fx_free(f);
}

static void test_tx_bad_ring_fails(void **state)
{
	struct fx *f = fx_new("file", true);

	fake_ring_desc(&f->q[TXQ], 0, 0x1000, 16, VIRTQUEUE_DESC_F_NEXT, 0); /* loops to itself */
	fake_ring_publish(&f->q[TXQ], 0);
	fx_notify(f, TXQ);
	assert_int_equal(f->vd.fails, 1);
	assert_non_null(strstr(f->vd.reason, "transmit queue"));
	fx_free(f);
}

static void test_rx_readable_segment_fails(void **state)
{
	struct fx *f = fx_new("unix", true);
	uint64_t gpa = fake_ring_alloc(&f->mem, 16);

	fake_ring_desc(&f->q[RXQ], 0, gpa, 16, 0, 0); /* device-readable receive buffer */
	fake_ring_publish(&f->q[RXQ], 0);
	fx_connect(f);
	client_send(f, "y", 1);
	assert_true(pump(f, got_fail, PUMP_MAX));
	assert_non_null(strstr(f->vd.reason, "receive queue"));
	assert_int_equal(fake_ring_used_idx(&f->q[RXQ]), 0);
	fx_free(f);
}

static void test_reset_stops_input(void **state)
{
	struct fx *f = fx_new("unix", true);

	fake_virtio_reset(&f->vd, &f->info, 2);
	fx_rxbuf(f, 16);
	fx_connect(f);
	client_send(f, "zz", 2);
	assert_false(pump(f, ticks_only, 30));
	assert_int_equal(fake_ring_used_idx(&f->q[RXQ]), 0);
	fx_activate(f); /* the input waited and arrives now */
	expect_input(f, "zz", 2);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfg),
		cmocka_unit_test(test_output_to_file),
		cmocka_unit_test(test_emergency_write),
		cmocka_unit_test(test_input_over_several_buffers),
		cmocka_unit_test(test_input_held_without_buffers),
		cmocka_unit_test(test_output_to_socket),
		cmocka_unit_test(test_tx_writable_segment_fails),
		cmocka_unit_test(test_tx_bad_ring_fails),
		cmocka_unit_test(test_rx_readable_segment_fails),
		cmocka_unit_test(test_reset_stops_input),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
