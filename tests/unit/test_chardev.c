/* test_chardev: unit tests of the character backends (src/vmm/chardev.c)
 * and terminal helpers (src/vmm/term.c): spec parsing, none/file/stdio/pty/
 * unix backends, non-blocking output with the ring buffer and drop counter,
 * input flow control, escape keys, raw mode and its restoration.
 *
 * The event loop is driven on the test thread by pump(): a 1 ms timerfd
 * checks a condition each tick and stops the loop when it holds (or gives up
 * after many ticks, which fails the test instead of hanging it). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/log.h"
#include "chardev.h"
#include "term.h"

#define BIG (1024 * 1024)
#define ROOM_ANY SIZE_MAX
#define PUMP_MAX 5000 /* ticks before giving up on a condition */
#define PUMP_IDLE 30

struct ctx {
	struct evloop *loop;
	struct chardev *cd;
	char dir[64];
	/* front end */
	uint8_t *in;
	size_t in_len;
	size_t room;
	int can_recv_calls;
	bool echo;
	size_t want_in;
	/* quit hook */
	int quits;
	/* output reader */
	int rfd;
	uint8_t *out;
	size_t out_len;
	size_t want_out;
	size_t read_chunk;
	/* pipes owned by the test: in[0] in[1] out[0] out[1] */
	int pin[2], pout[2];
	void *user; /* per-test state */
};

/* ---- harness ---- */

static size_t fe_can_recv(void *opaque)
{
	struct ctx *c = opaque;

	c->can_recv_calls++;
	return c->room;
}

static void fe_recv(void *opaque, const uint8_t *buf, size_t len)
{
	struct ctx *c = opaque;

	assert_true(len > 0);
	assert_true(len <= c->room);
	assert_true(c->in_len + len <= BIG);
	memcpy(c->in + c->in_len, buf, len);
	c->in_len += len;
	if (c->room != ROOM_ANY)
		c->room -= len;
	if (c->echo)
		assert_int_equal(chardev_write(c->cd, buf, len), len);
}

static void hook_quit(void *opaque)
{
	struct ctx *c = opaque;

	c->quits++;
}

static void attach_frontend(struct ctx *c)
{
	struct chardev_frontend fe = { .can_recv = fe_can_recv, .recv = fe_recv, .opaque = c };

	chardev_set_frontend(c->cd, &fe);
}

struct pump {
	struct evloop *loop;
	bool (*pred)(struct ctx *c);
	struct ctx *c;
	int tfd;
	int ticks, max;
	bool ok;
};

static void pump_tick(void *opaque, uint32_t events)
{
	struct pump *p = opaque;
	uint64_t expirations;

	if (read(p->tfd, &expirations, sizeof(expirations)) < 0) {
		/* EAGAIN: spurious */
	}
	p->ticks++;
	if (p->pred && p->pred(p->c)) {
		p->ok = true;
		evloop_stop(p->loop);
	} else if (p->ticks >= p->max) {
		evloop_stop(p->loop);
	}
}

/* Run the loop until pred(c) holds (true) or max ticks passed (false). */
static bool pump(struct ctx *c, bool (*pred)(struct ctx *c), int max)
{
	struct itimerspec its = { .it_interval = { 0, 1000000 }, .it_value = { 0, 1000000 } };
	struct pump p = { .loop = c->loop, .pred = pred, .c = c, .max = max };

	p.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	assert_true(p.tfd >= 0);
	assert_int_equal(timerfd_settime(p.tfd, 0, &its, NULL), 0);
	assert_int_equal(evloop_add(c->loop, p.tfd, EPOLLIN, pump_tick, &p), 0);
	assert_int_equal(evloop_run(c->loop), 0);
	assert_int_equal(evloop_del(c->loop, p.tfd), 0);
	close(p.tfd);
	return p.ok;
}

static bool got_input(struct ctx *c)
{
	return c->in_len >= c->want_in;
}

/* Read what is available on c->rfd (at most read_chunk per tick if set). */
static bool got_output(struct ctx *c)
{
	size_t max = BIG - c->out_len;
	ssize_t n;

	if (c->read_chunk)
		max = c->read_chunk < max ? c->read_chunk : max;
	n = read(c->rfd, c->out + c->out_len, max);
	if (n > 0)
		c->out_len += (size_t)n;
	return c->out_len >= c->want_out;
}

static void expect_input(struct ctx *c, const void *data, size_t len)
{
	c->want_in = c->in_len + len;
	assert_true(pump(c, got_input, PUMP_MAX));
	assert_int_equal(c->in_len, c->want_in);
	assert_memory_equal(c->in + c->in_len - len, data, len);
}

static void expect_output(struct ctx *c, const void *data, size_t len)
{
	c->want_out = c->out_len + len;
	assert_true(pump(c, got_output, PUMP_MAX));
	assert_int_equal(c->out_len, c->want_out);
	assert_memory_equal(c->out + c->out_len - len, data, len);
}

static void send_bytes(int fd, const void *data, size_t len)
{
	assert_int_equal(write(fd, data, len), (ssize_t)len);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->in = malloc(BIG);
	c->out = malloc(BIG);
	assert_non_null(c->in);
	assert_non_null(c->out);
	c->room = ROOM_ANY;
	c->rfd = -1;
	c->pin[0] = c->pin[1] = c->pout[0] = c->pout[1] = -1;
	strcpy(c->dir, "/tmp/test_chardev.XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	assert_int_equal(evloop_create(&c->loop), 0);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];

	chardev_close(c->cd);
	evloop_destroy(c->loop);
	for (int i = 0; i < 2; i++) {
		if (c->pin[i] >= 0)
			close(c->pin[i]);
		if (c->pout[i] >= 0)
			close(c->pout[i]);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	assert_int_equal(system(cmd), 0);
	free(c->in);
	free(c->out);
	free(c);
	return 0;
}

/* stdio backend on pipes: test writes pin[1], reads pout[0]. */
static void open_pipes(struct ctx *c)
{
	struct chardev_hooks hooks = { .quit = hook_quit, .opaque = c };

	assert_int_equal(pipe2(c->pin, O_CLOEXEC), 0);
	assert_int_equal(pipe2(c->pout, O_CLOEXEC), 0);
	c->rfd = c->pout[0];
	assert_int_equal(fcntl(c->rfd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(chardev_open_fds(c->pin[0], c->pout[1], c->loop, &hooks, &c->cd), 0);
	attach_frontend(c);
}

static void path_in(struct ctx *c, char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", c->dir, name);
}

/* ---- parsing ---- */

static void test_parse_good(void **state)
{
	struct chardev_spec s;

	assert_int_equal(chardev_parse("stdio", &s), 0);
	assert_int_equal(s.kind, CHARDEV_STDIO);
	assert_int_equal(chardev_parse("none", &s), 0);
	assert_int_equal(s.kind, CHARDEV_NONE);
	assert_int_equal(chardev_parse("pty", &s), 0);
	assert_int_equal(s.kind, CHARDEV_PTY);
	assert_int_equal(chardev_parse("file:/tmp/a b:c", &s), 0);
	assert_int_equal(s.kind, CHARDEV_FILE);
	assert_string_equal(s.path, "/tmp/a b:c");
	assert_int_equal(chardev_parse("unix:rel/sock", &s), 0);
	assert_int_equal(s.kind, CHARDEV_UNIX);
	assert_string_equal(s.path, "rel/sock");
	assert_string_equal(chardev_kind_name(CHARDEV_NONE), "none");
	assert_string_equal(chardev_kind_name(CHARDEV_STDIO), "stdio");
	assert_string_equal(chardev_kind_name(CHARDEV_FILE), "file");
	assert_string_equal(chardev_kind_name(CHARDEV_PTY), "pty");
	assert_string_equal(chardev_kind_name(CHARDEV_UNIX), "unix");
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
		"", "STDIO", "stdio ", " stdio", "stdio:", "pty:", "none:x", "file",
		"file:", "unix:", "unix", "tcp:1234", "udp::1", "socket:/x", "-",
	};
	struct chardev_spec s;
	char *p = malloc(CHARDEV_PATH_MAX + 16);
	size_t sun_max = sizeof(((struct sockaddr_un *)0)->sun_path);

	assert_non_null(p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(chardev_parse(bad[i], &s), -EINVAL);
	assert_int_equal(chardev_parse(NULL, &s), -EINVAL);
	/* unix: sun_path holds sun_max - 1 characters plus the NUL. */
	strcpy(p, "unix:");
	memset(p + 5, 'a', sun_max - 1);
	p[5 + sun_max - 1] = 0;
	assert_int_equal(chardev_parse(p, &s), 0);
	assert_int_equal(strlen(s.path), sun_max - 1);
	p[5 + sun_max - 1] = 'a';
	p[5 + sun_max] = 0;
	assert_int_equal(chardev_parse(p, &s), -ENAMETOOLONG);
	/* file: up to CHARDEV_PATH_MAX - 1 characters. */
	strcpy(p, "file:");
	memset(p + 5, 'b', CHARDEV_PATH_MAX - 1);
	p[5 + CHARDEV_PATH_MAX - 1] = 0;
	assert_int_equal(chardev_parse(p, &s), 0);
	p[5 + CHARDEV_PATH_MAX - 1] = 'b';
	p[5 + CHARDEV_PATH_MAX] = 0;
	assert_int_equal(chardev_parse(p, &s), -ENAMETOOLONG);
	free(p);
}

/* ---- none / file ---- */

static void test_none(void **state)
{
	struct chardev_spec s = { .kind = CHARDEV_NONE };
	struct chardev *cd;

	assert_int_equal(chardev_open(&s, NULL, NULL, &cd), 0);
	assert_int_equal(chardev_kind_of(cd), CHARDEV_NONE);
	assert_string_equal(chardev_filename(cd), "");
	assert_int_equal(chardev_write(cd, "hello", 5), 0);
	assert_int_equal(chardev_write(cd, "xy", 2), 0);
	assert_int_equal(chardev_dropped(cd), 7);
	chardev_accept_input(cd);
	chardev_close(cd);
	chardev_close(NULL);
	/* Backends that need the loop refuse to open without one. */
	s.kind = CHARDEV_PTY;
	assert_int_equal(chardev_open(&s, NULL, NULL, &cd), -EINVAL);
}

static void test_file(void **state)
{
	struct ctx *c = *state;
	struct chardev_spec s = { .kind = CHARDEV_FILE };
	char buf[64];
	struct stat st;
	int fd;
	ssize_t n;
	mode_t old = umask(022);

	path_in(c, s.path, sizeof(s.path), "out.txt");
	fd = open(s.path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	send_bytes(fd, "old content that must go away", 29);
	close(fd);
	assert_int_equal(chardev_open(&s, c->loop, NULL, &c->cd), 0);
	assert_string_equal(chardev_filename(c->cd), s.path);
	assert_int_equal(chardev_kind_of(c->cd), CHARDEV_FILE);
	assert_int_equal(chardev_write(c->cd, "hello", 5), 5);
	assert_int_equal(chardev_write(c->cd, ", ", 2), 2);
	assert_int_equal(chardev_write(c->cd, "world\n", 6), 6);
	assert_int_equal(chardev_dropped(c->cd), 0);
	chardev_close(c->cd);
	c->cd = NULL;
	fd = open(s.path, O_RDONLY);
	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	assert_int_equal(n, 13);
	assert_memory_equal(buf, "hello, world\n", 13);
	assert_int_equal(stat(s.path, &st), 0);
	umask(old);
	/* A directory that does not exist. */
	path_in(c, s.path, sizeof(s.path), "nodir/out.txt");
	assert_int_equal(chardev_open(&s, c->loop, NULL, &c->cd), -ENOENT);
	assert_null(c->cd);
}

static void test_file_mode(void **state)
{
	struct ctx *c = *state;
	struct chardev_spec s = { .kind = CHARDEV_FILE };
	struct stat st;
	mode_t old = umask(0);

	path_in(c, s.path, sizeof(s.path), "new.txt");
	assert_int_equal(chardev_open(&s, c->loop, NULL, &c->cd), 0);
	umask(old);
	assert_int_equal(stat(s.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
}

/* ---- stdio on pipes ---- */

static void test_stdio_output_and_flags(void **state)
{
	struct ctx *c = *state;

	assert_int_equal(pipe2(c->pin, O_CLOEXEC), 0);
	assert_int_equal(pipe2(c->pout, O_CLOEXEC), 0);
	assert_false(fcntl(c->pout[1], F_GETFL) & O_NONBLOCK);
	assert_int_equal(chardev_open_fds(c->pin[0], c->pout[1], c->loop, NULL, &c->cd), 0);
	assert_int_equal(chardev_kind_of(c->cd), CHARDEV_STDIO);
	assert_true(fcntl(c->pout[1], F_GETFL) & O_NONBLOCK);
	assert_true(fcntl(c->pin[0], F_GETFL) & O_NONBLOCK);
	c->rfd = c->pout[0];
	assert_int_equal(fcntl(c->rfd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(chardev_write(c->cd, "hello ", 6), 6);
	assert_int_equal(chardev_write(c->cd, "world", 5), 5);
	expect_output(c, "hello world", 11);
	chardev_close(c->cd);
	c->cd = NULL;
	/* Original flags are back; the fds are still open. */
	assert_false(fcntl(c->pout[1], F_GETFL) & O_NONBLOCK);
	assert_false(fcntl(c->pin[0], F_GETFL) & O_NONBLOCK);
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

/* Nobody reads: chardev_write never blocks, accepts pipe + ring capacity and
 * drops and counts the rest; what was accepted then arrives intact. */
static void test_output_full_drops(void **state)
{
	struct ctx *c = *state;
	uint8_t *expect = malloc(BIG), chunk[4096];
	size_t accepted = 0, total = 0, n;

	assert_non_null(expect);
	open_pipes(c);
	assert_true(fcntl(c->pout[1], F_SETPIPE_SZ, 4096) >= 4096);
	for (unsigned i = 0; i < 40; i++) {
		fill_pattern(chunk, sizeof(chunk), i);
		n = chardev_write(c->cd, chunk, sizeof(chunk));
		assert_true(n <= sizeof(chunk));
		memcpy(expect + accepted, chunk, n);
		accepted += n;
		total += sizeof(chunk);
	}
	assert_true(accepted >= CHARDEV_OUTBUF);
	assert_true(accepted < total);
	assert_int_equal(chardev_dropped(c->cd), total - accepted);
	c->want_out = accepted;
	assert_true(pump(c, got_output, PUMP_MAX));
	assert_int_equal(c->out_len, accepted);
	assert_memory_equal(c->out, expect, accepted);
	free(expect);
}

/* A slow reader while output keeps coming: the ring wraps many times; the
 * reader sees exactly the accepted bytes, in order. */
struct trickle {
	uint8_t *expect;
	size_t accepted;
	unsigned round;
};

static bool trickle_tick(struct ctx *c)
{
	struct trickle *t = c->user;
	uint8_t chunk[3000];
	size_t n;

	if (t->round < 300) {
		fill_pattern(chunk, sizeof(chunk), t->round++);
		n = chardev_write(c->cd, chunk, sizeof(chunk));
		memcpy(t->expect + t->accepted, chunk, n);
		t->accepted += n;
	}
	c->want_out = t->accepted;
	return got_output(c) && t->round >= 300;
}

static void test_output_ring_wraps(void **state)
{
	struct ctx *c = *state;
	struct trickle tr = { .expect = malloc(BIG) }, *t = &tr;

	c->user = t;
	open_pipes(c);
	assert_true(fcntl(c->pout[1], F_SETPIPE_SZ, 4096) >= 4096);
	assert_non_null(t->expect);
	c->read_chunk = 2000;
	assert_true(pump(c, trickle_tick, 20000));
	assert_int_equal(c->out_len, t->accepted);
	assert_memory_equal(c->out, t->expect, t->accepted);
	assert_int_equal(chardev_dropped(c->cd), 300 * 3000 - t->accepted);
	assert_true(chardev_dropped(c->cd) > 0);
	free(t->expect);
}

static void test_output_reader_gone(void **state)
{
	struct ctx *c = *state;

	open_pipes(c);
	close(c->pout[0]);
	c->pout[0] = -1;
	c->rfd = -1;
	/* EPIPE (SIGPIPE is ignored by main()): dropped and counted. */
	assert_int_equal(chardev_write(c->cd, "abc", 3), 0);
	assert_int_equal(chardev_write(c->cd, "de", 2), 0);
	assert_int_equal(chardev_dropped(c->cd), 5);
	pump(c, NULL, PUMP_IDLE);
}

/* ---- input ---- */

static void test_input_flow_control(void **state)
{
	struct ctx *c = *state;
	int calls;

	open_pipes(c);
	c->room = 2;
	send_bytes(c->pin[1], "abcdefgh", 8);
	expect_input(c, "ab", 2);
	/* Front end full: the fd is no longer watched, nothing more is read
	 * and can_recv is not polled in a loop. */
	pump(c, NULL, PUMP_IDLE);
	calls = c->can_recv_calls;
	pump(c, NULL, PUMP_IDLE);
	assert_int_equal(c->in_len, 2);
	assert_int_equal(c->can_recv_calls, calls);
	c->room = 3;
	chardev_accept_input(c->cd);
	expect_input(c, "cde", 3);
	pump(c, NULL, PUMP_IDLE);
	assert_int_equal(c->in_len, 5);
	c->room = ROOM_ANY;
	chardev_accept_input(c->cd);
	expect_input(c, "fgh", 3);
	assert_memory_equal(c->in, "abcdefgh", 8);
}

/* accept_input from another thread while the loop runs. */
struct resume_arg {
	struct chardev *cd;
	bool done;
};

static void *resume_thread(void *opaque)
{
	struct resume_arg *a = opaque;

	/* The test thread runs the loop; this thread plays the device. */
	while (!__atomic_load_n(&a->done, __ATOMIC_ACQUIRE)) {
		usleep(100);
		chardev_accept_input(a->cd);
	}
	return NULL;
}

static size_t fe_can_recv_small(void *opaque)
{
	struct ctx *c = opaque;

	c->can_recv_calls++;
	/* Accept 1..7 bytes, then claim to be full every other time. */
	return (c->can_recv_calls & 1) ? (size_t)(c->can_recv_calls % 7) + 1 : 0;
}

static void fe_recv_plain(void *opaque, const uint8_t *buf, size_t len)
{
	struct ctx *c = opaque;

	assert_true(len <= 7);
	memcpy(c->in + c->in_len, buf, len);
	c->in_len += len;
}

static void test_input_no_loss_threaded(void **state)
{
	struct ctx *c = *state;
	struct chardev_frontend fe = { fe_can_recv_small, fe_recv_plain, c };
	struct resume_arg a = { 0 };
	uint8_t data[3000];
	pthread_t t;

	open_pipes(c);
	chardev_set_frontend(c->cd, &fe);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	/* Keep \x01 out: stdio input goes through the escape filter. */
	for (size_t i = 0; i < sizeof(data); i++)
		if (data[i] == 0x01)
			data[i] = 0x02;
	send_bytes(c->pin[1], data, sizeof(data));
	a.cd = c->cd;
	assert_int_equal(pthread_create(&t, NULL, resume_thread, &a), 0);
	c->want_in = sizeof(data);
	assert_true(pump(c, got_input, 100000) || (__atomic_store_n(&a.done, true, __ATOMIC_RELEASE), false));
	__atomic_store_n(&a.done, true, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	assert_memory_equal(c->in, data, sizeof(data));
}

static void test_stdin_eof(void **state)
{
	struct ctx *c = *state;

	open_pipes(c);
	send_bytes(c->pin[1], "last", 4);
	close(c->pin[1]);
	c->pin[1] = -1;
	expect_input(c, "last", 4);
	/* EOF: reading stops; EPOLLHUP does not make the loop spin. */
	pump(c, NULL, PUMP_IDLE);
	pump(c, NULL, PUMP_IDLE);
	assert_true(c->can_recv_calls <= 3);
	/* Output still works. */
	assert_int_equal(chardev_write(c->cd, "ok", 2), 2);
	expect_output(c, "ok", 2);
}

static void test_no_frontend_no_read(void **state)
{
	struct ctx *c = *state;

	open_pipes(c);
	chardev_set_frontend(c->cd, NULL);
	send_bytes(c->pin[1], "xyz", 3);
	pump(c, NULL, PUMP_IDLE);
	assert_int_equal(c->in_len, 0);
	assert_int_equal(c->can_recv_calls, 0);
	attach_frontend(c);
	expect_input(c, "xyz", 3);
}

static void test_echo_frontend(void **state)
{
	struct ctx *c = *state;

	open_pipes(c);
	c->echo = true; /* recv calls chardev_write: no lock may be held */
	send_bytes(c->pin[1], "echo me", 7);
	expect_input(c, "echo me", 7);
	expect_output(c, "echo me", 7);
}

/* ---- escape keys ---- */

static void test_escape_keys(void **state)
{
	struct ctx *c = *state;

	open_pipes(c);
	send_bytes(c->pin[1], "ab\x01\x01" "c", 5);
	expect_input(c, "ab\x01" "c", 4);
	/* Unknown escape: the pair is dropped. */
	send_bytes(c->pin[1], "\x01zq", 3);
	expect_input(c, "q", 1);
	send_bytes(c->pin[1], "\x01h", 2);
	expect_output(c, term_esc_help, strlen(term_esc_help));
	assert_int_equal(c->quits, 0);
	/* Ctrl-a at the end of one read, x at the start of the next. */
	send_bytes(c->pin[1], "d\x01", 2);
	expect_input(c, "d", 1);
	pump(c, NULL, PUMP_IDLE);
	assert_int_equal(c->quits, 0);
	send_bytes(c->pin[1], "xZ", 2); /* the rest of a read after quit is dropped */
	pump(c, NULL, PUMP_IDLE);
	assert_int_equal(c->quits, 1);
	/* Input keeps flowing (quitting is the hook's business). */
	send_bytes(c->pin[1], "e", 1);
	expect_input(c, "e", 1);
	assert_int_equal(c->quits, 1);
	assert_int_equal(c->in_len, 7);
	assert_memory_equal(c->in, "ab\x01" "cqde", 7);
}

static void test_esc_filter(void **state)
{
	struct term_esc st = { 0 };
	enum term_esc_action act;
	uint8_t out[32];
	size_t used, n;

	n = term_esc_filter(&st, (const uint8_t *)"plain", 5, out, &act, &used);
	assert_int_equal(n, 5);
	assert_int_equal(used, 5);
	assert_int_equal(act, TERM_ESC_NONE);
	assert_memory_equal(out, "plain", 5);
	/* Action stops processing right after the sequence. */
	n = term_esc_filter(&st, (const uint8_t *)"ab\x01xcd", 6, out, &act, &used);
	assert_int_equal(act, TERM_ESC_QUIT);
	assert_int_equal(n, 2);
	assert_int_equal(used, 4);
	assert_false(st.pending);
	n = term_esc_filter(&st, (const uint8_t *)"\x01H", 2, out, &act, &used);
	assert_int_equal(act, TERM_ESC_HELP);
	assert_int_equal(n, 0);
	assert_int_equal(used, 2);
	/* Split sequence. */
	n = term_esc_filter(&st, (const uint8_t *)"z\x01", 2, out, &act, &used);
	assert_int_equal(n, 1);
	assert_int_equal(used, 2);
	assert_true(st.pending);
	assert_int_equal(act, TERM_ESC_NONE);
	/* Pending Ctrl-a + Ctrl-a = one Ctrl-a; the next Ctrl-a starts anew. */
	n = term_esc_filter(&st, (const uint8_t *)"\x01\x01", 2, out, &act, &used);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 0x01);
	assert_int_equal(used, 2);
	assert_true(st.pending);
	n = term_esc_filter(&st, (const uint8_t *)"X", 1, out, &act, &used);
	assert_int_equal(act, TERM_ESC_QUIT);
	assert_int_equal(n, 0);
	/* Empty input. */
	n = term_esc_filter(&st, out, 0, out, &act, &used);
	assert_int_equal(n, 0);
	assert_int_equal(used, 0);
	assert_int_equal(act, TERM_ESC_NONE);
}

/* ---- concurrency: many vCPU threads writing while the loop flushes ---- */

#define WR_THREADS 4
#define WR_LINES 400

struct writer_arg {
	struct chardev *cd;
	int id;
};

static void *writer_thread(void *opaque)
{
	struct writer_arg *w = opaque;
	char line[32];

	for (int i = 0; i < WR_LINES; i++) {
		int n = snprintf(line, sizeof(line), "T%d:%05d\n", w->id, i);

		if (chardev_write(w->cd, line, (size_t)n) != (size_t)n)
			return (void *)1;
	}
	return NULL;
}

static void *run_loop(void *opaque)
{
	return (void *)(intptr_t)evloop_run(opaque);
}

static void check_lines(const char *buf, size_t len)
{
	int next[WR_THREADS] = { 0 };
	const char *p = buf, *end = buf + len;

	while (p < end) {
		int id, seq;

		assert_int_equal(sscanf(p, "T%d:%05d\n", &id, &seq), 2);
		assert_true(id >= 0 && id < WR_THREADS);
		assert_int_equal(seq, next[id]);
		next[id]++;
		p = memchr(p, '\n', (size_t)(end - p));
		assert_non_null(p);
		p++;
	}
	for (int i = 0; i < WR_THREADS; i++)
		assert_int_equal(next[i], WR_LINES);
}

static void test_concurrent_writers(void **state)
{
	struct ctx *c = *state;
	struct writer_arg w[WR_THREADS];
	pthread_t t[WR_THREADS], lt;
	size_t total = (size_t)WR_THREADS * WR_LINES * 9;
	ssize_t n;
	void *ret;

	open_pipes(c);
	assert_true(fcntl(c->pout[1], F_SETPIPE_SZ, 4096) >= 4096); /* use the ring */
	assert_int_equal(fcntl(c->rfd, F_SETFL, 0), 0); /* blocking reads */
	assert_int_equal(pthread_create(&lt, NULL, run_loop, c->loop), 0);
	for (int i = 0; i < WR_THREADS; i++) {
		w[i] = (struct writer_arg){ c->cd, i };
		assert_int_equal(pthread_create(&t[i], NULL, writer_thread, &w[i]), 0);
	}
	for (int i = 0; i < WR_THREADS; i++) {
		pthread_join(t[i], &ret);
		assert_null(ret); /* 14 KiB fits the ring: nothing dropped */
	}
	while (c->out_len < total) {
		n = read(c->rfd, c->out + c->out_len, total - c->out_len);
		assert_true(n > 0);
		c->out_len += (size_t)n;
	}
	evloop_stop(c->loop);
	pthread_join(lt, NULL);
	assert_int_equal(chardev_dropped(c->cd), 0);
	check_lines((const char *)c->out, c->out_len);
}

/* ---- stdio on the real fds 0/1 (in a child, they are the test's own) ---- */

static int stdio_child(int in_fd, int out_fd)
{
	struct chardev_spec s = { .kind = CHARDEV_STDIO };
	struct evloop *loop;
	struct chardev *cd;

	if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0)
		return 1;
	if (fcntl(1, F_GETFL) & O_NONBLOCK)
		return 2;
	if (evloop_create(&loop) < 0 || chardev_open(&s, loop, NULL, &cd) < 0)
		return 3;
	if (!(fcntl(1, F_GETFL) & O_NONBLOCK) || !(fcntl(0, F_GETFL) & O_NONBLOCK))
		return 4;
	if (chardev_write(cd, "stdio!", 6) != 6)
		return 5;
	chardev_close(cd);
	evloop_destroy(loop);
	if ((fcntl(1, F_GETFL) & O_NONBLOCK) || (fcntl(0, F_GETFL) & O_NONBLOCK))
		return 6;
	return 0;
}

static void test_stdio_real_fds(void **state)
{
	struct ctx *c = *state;
	char buf[16];
	int status;
	pid_t pid;

	assert_int_equal(pipe2(c->pin, O_CLOEXEC), 0);
	assert_int_equal(pipe2(c->pout, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(stdio_child(c->pin[0], c->pout[1]));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(c->pout[0], buf, sizeof(buf)), 6);
	assert_memory_equal(buf, "stdio!", 6);
}

/* ---- terminal ---- */

static int open_pty_pair(int *master, int *slave)
{
	char name[64];

	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0 || grantpt(*master) < 0 || unlockpt(*master) < 0 ||
	    ptsname_r(*master, name, sizeof(name)) != 0)
		return -1;
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	return *slave < 0 ? -1 : 0;
}

static void test_term_raw(void **state)
{
	struct termios tio;
	int m, s, fds[2];

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	assert_int_equal(term_raw(fds[0]), -ENOTTY);
	close(fds[0]);
	close(fds[1]);
	term_restore(); /* nothing saved: no-op */
	assert_int_equal(open_pty_pair(&m, &s), 0);
	assert_int_equal(tcgetattr(s, &tio), 0);
	tio.c_lflag |= ICANON | ECHO | ISIG;
	assert_int_equal(tcsetattr(s, TCSANOW, &tio), 0);
	assert_int_equal(term_raw(s), 0);
	assert_int_equal(term_raw(s), 0); /* must not save raw mode as the original */
	assert_int_equal(tcgetattr(s, &tio), 0);
	assert_false(tio.c_lflag & (ICANON | ECHO | ISIG));
	term_restore();
	assert_int_equal(tcgetattr(s, &tio), 0);
	assert_true(tio.c_lflag & ICANON);
	assert_true(tio.c_lflag & ECHO);
	/* Idempotent: a second restore does not re-apply stale state. */
	tio.c_lflag &= ~(tcflag_t)ECHO;
	assert_int_equal(tcsetattr(s, TCSANOW, &tio), 0);
	term_restore();
	assert_int_equal(tcgetattr(s, &tio), 0);
	assert_false(tio.c_lflag & ECHO);
	close(s);
	close(m);
}

/* The stdio backend on a tty: raw while open, restored by chardev_close. */
static void test_stdio_tty(void **state)
{
	struct ctx *c = *state;
	struct termios tio;
	int m, s;

	assert_int_equal(open_pty_pair(&m, &s), 0);
	assert_int_equal(tcgetattr(s, &tio), 0);
	tio.c_lflag |= ICANON | ECHO;
	assert_int_equal(tcsetattr(s, TCSANOW, &tio), 0);
	assert_int_equal(chardev_open_fds(s, s, c->loop, NULL, &c->cd), 0);
	attach_frontend(c);
	assert_int_equal(tcgetattr(s, &tio), 0);
	assert_false(tio.c_lflag & (ICANON | ECHO));
	/* Typed keys reach the front end at once (no line buffering). */
	send_bytes(m, "k", 1);
	expect_input(c, "k", 1);
	chardev_close(c->cd);
	c->cd = NULL;
	assert_int_equal(tcgetattr(s, &tio), 0);
	assert_true(tio.c_lflag & ICANON);
	assert_true(tio.c_lflag & ECHO);
	close(s);
	close(m);
}

/* ---- pty backend ---- */

static void open_pty_backend(struct ctx *c)
{
	struct chardev_spec s = { .kind = CHARDEV_PTY };

	assert_int_equal(chardev_open(&s, c->loop, NULL, &c->cd), 0);
	assert_int_equal(chardev_kind_of(c->cd), CHARDEV_PTY);
	assert_int_equal(strncmp(chardev_filename(c->cd), "/dev/pts/", 9), 0);
	attach_frontend(c);
}

static void test_pty(void **state)
{
	struct ctx *c = *state;
	int fd;

	open_pty_backend(c);
	/* Output before anyone opened the slave is queued, not an error. */
	assert_int_equal(chardev_write(c->cd, "early", 5), 5);
	pump(c, NULL, PUMP_IDLE);
	fd = open(chardev_filename(c->cd), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	c->rfd = fd;
	expect_output(c, "early", 5);
	/* Raw both ways: CR and LF pass unchanged, nothing is echoed. */
	send_bytes(fd, "ping\r\n\x03", 7);
	expect_input(c, "ping\r\n\x03", 7);
	assert_int_equal(chardev_write(c->cd, "po\rng\n", 6), 6);
	expect_output(c, "po\rng\n", 6);
	/* The user goes away and comes back. */
	close(fd);
	pump(c, NULL, PUMP_IDLE);
	assert_int_equal(chardev_write(c->cd, "again", 5), 5);
	fd = open(chardev_filename(c->cd), O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	assert_true(fd >= 0);
	c->rfd = fd;
	expect_output(c, "again", 5);
	send_bytes(fd, "back", 4);
	expect_input(c, "back", 4);
	close(fd);
	assert_int_equal(chardev_dropped(c->cd), 0);
}

static void test_pty_nobody_reads(void **state)
{
	struct ctx *c = *state;
	uint8_t chunk[4096] = { 'p' };
	size_t accepted = 0;

	open_pty_backend(c);
	for (int i = 0; i < 64; i++) {
		accepted += chardev_write(c->cd, chunk, sizeof(chunk));
		pump(c, NULL, 2);
	}
	assert_true(chardev_dropped(c->cd) > 0);
	assert_int_equal(chardev_dropped(c->cd) + accepted, 64 * sizeof(chunk));
}

/* ---- unix backend ---- */

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path));
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

static bool peer_closed(struct ctx *c)
{
	char b;

	return read(c->rfd, &b, 1) == 0;
}

static void open_unix_backend(struct ctx *c, struct chardev_spec *s)
{
	s->kind = CHARDEV_UNIX;
	path_in(c, s->path, sizeof(s->path), "console.sock");
	assert_int_equal(chardev_open(s, c->loop, NULL, &c->cd), 0);
	assert_string_equal(chardev_filename(c->cd), s->path);
	attach_frontend(c);
}

static void test_unix(void **state)
{
	struct ctx *c = *state;
	struct chardev_spec s = { 0 };
	struct stat st;
	int c1, c2, c3;

	open_unix_backend(c, &s);
	assert_int_equal(stat(s.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	/* No client yet: dropped and counted. */
	assert_int_equal(chardev_write(c->cd, "lost", 4), 0);
	assert_int_equal(chardev_dropped(c->cd), 4);
	c1 = unix_connect(s.path);
	send_bytes(c1, "hi", 2);
	expect_input(c, "hi", 2);
	assert_int_equal(chardev_write(c->cd, "out", 3), 3);
	c->rfd = c1;
	expect_output(c, "out", 3);
	/* A second client is turned away; the first one keeps working. */
	c2 = unix_connect(s.path);
	c->rfd = c2;
	assert_true(pump(c, peer_closed, PUMP_MAX));
	close(c2);
	send_bytes(c1, "more", 4);
	expect_input(c, "more", 4);
	c->rfd = c1;
	assert_int_equal(chardev_write(c->cd, "still", 5), 5);
	expect_output(c, "still", 5);
	/* Disconnect, then a new client is accepted. */
	close(c1);
	pump(c, NULL, PUMP_IDLE);
	c3 = unix_connect(s.path);
	send_bytes(c3, "again", 5);
	expect_input(c, "again", 5);
	c->rfd = c3;
	assert_int_equal(chardev_write(c->cd, "welcome", 7), 7);
	expect_output(c, "welcome", 7);
	close(c3);
	chardev_close(c->cd);
	c->cd = NULL;
	assert_int_equal(stat(s.path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_unix_paths(void **state)
{
	struct ctx *c = *state;
	struct chardev_spec s = { .kind = CHARDEV_UNIX };
	struct chardev *cd2 = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	/* Too long for sun_path, even though the spec can hold it. */
	memset(s.path, 'a', 200);
	assert_int_equal(chardev_open(&s, c->loop, NULL, &c->cd), -ENAMETOOLONG);
	/* Not a socket: left alone. */
	path_in(c, s.path, sizeof(s.path), "plain");
	fd = open(s.path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chardev_open(&s, c->loop, NULL, &c->cd), -EEXIST);
	/* A stale socket file (its listener died) is replaced. */
	path_in(c, s.path, sizeof(s.path), "stale.sock");
	assert_true(strlen(s.path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, s.path, strlen(s.path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(chardev_open(&s, c->loop, NULL, &c->cd), 0);
	/* A live one is not. */
	assert_int_equal(chardev_open(&s, c->loop, NULL, &cd2), -EADDRINUSE);
	assert_null(cd2);
	/* Directory missing. */
	path_in(c, s.path, sizeof(s.path), "nodir/x.sock");
	assert_int_equal(chardev_open(&s, c->loop, NULL, &cd2), -ENOENT);
}

/* Client output pending while the client hangs up: no spin, and the next
 * client starts with a clean slate. */
static void test_unix_hangup_with_pending_output(void **state)
{
	struct ctx *c = *state;
	struct chardev_spec s = { 0 };
	uint8_t chunk[4096] = { 'u' };
	int c1, c2;

	open_unix_backend(c, &s);
	c1 = unix_connect(s.path);
	send_bytes(c1, "1", 1);
	expect_input(c, "1", 1);
	for (int i = 0; i < 100; i++)
		(void)chardev_write(c->cd, chunk, sizeof(chunk));
	close(c1);
	pump(c, NULL, PUMP_IDLE);
	c2 = unix_connect(s.path);
	send_bytes(c2, "2", 1);
	expect_input(c, "2", 1);
	c->rfd = c2;
	assert_int_equal(chardev_write(c->cd, "fresh", 5), 5);
	expect_output(c, "fresh", 5);
	close(c2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_parse_good),
		T(test_parse_bad),
		T(test_none),
		T(test_file),
		T(test_file_mode),
		T(test_stdio_output_and_flags),
		T(test_output_full_drops),
		T(test_output_ring_wraps),
		T(test_output_reader_gone),
		T(test_input_flow_control),
		T(test_input_no_loss_threaded),
		T(test_stdin_eof),
		T(test_no_frontend_no_read),
		T(test_echo_frontend),
		T(test_escape_keys),
		T(test_esc_filter),
		T(test_concurrent_writers),
		T(test_stdio_real_fds),
		T(test_term_raw),
		T(test_stdio_tty),
		T(test_pty),
		T(test_pty_nobody_reads),
		T(test_unix),
		T(test_unix_paths),
		T(test_unix_hangup_with_pending_output),
	};

	/* As vmkit-vmm's main() does: a closed pipe is an EPIPE, not a death. */
	signal(SIGPIPE, SIG_IGN);
	log_set_level(getenv("TEST_VERBOSE") ? LOG_DEBUG : LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
