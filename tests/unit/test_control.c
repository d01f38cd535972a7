/* test_control: unit tests of the control socket server (src/vmm/control.c):
 * a real server on an evloop thread with a small command table, driven by
 * plain unix-socket clients: greeting, replies with ids, errors, malformed and
 * over-long lines, clients hanging up, a client that never reads, events from
 * other threads and from handlers, the client cap, and the socket file's
 * life cycle (path length, stale/live/foreign files, mode, unlink). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/evloop.h"
#include "common/util.h"
#include "control.h"
#include "ctlproto.h"
#include "vmkit-config.h"

/* Guard against a hung test, not a measurement: a read that sees nothing
 * for this long fails the test instead of blocking forever. */
#define CLIENT_TIMEOUT_S 20
#define MAX_TEST_CLIENTS 64

struct fixture {
	char dir[64];
	char path[128];
	struct evloop *loop;
	struct control *ctl;
	pthread_t thread;
	bool running;
	int handler_calls;
};

struct tclient {
	int fd;
	size_t len;
	char buf[CTLPROTO_MAX_LINE * 2];
};

/* ---- the command table ---- */

static int cmd_ping(void *vm, json_t *args, json_t **ret, char **err)
{
	struct fixture *f = vm;

	f->handler_calls++;
	*ret = json_pack("{sb}", "pong", 1);
	return 0;
}

static int cmd_fail(void *vm, json_t *args, json_t **ret, char **err)
{
	*err = strdup("it failed on purpose");
	return -EIO;
}

static int cmd_fail_quiet(void *vm, json_t *args, json_t **ret, char **err)
{
	return -ENOENT;
}

static int cmd_echo(void *vm, json_t *args, json_t **ret, char **err)
{
	*ret = json_deep_copy(args);
	return 0;
}

/* Emits an event from the loop thread, inside a handler. */
static int cmd_emit(void *vm, json_t *args, json_t **ret, char **err)
{
	struct fixture *f = vm;

	control_event(f->ctl, "FROM_HANDLER", json_pack("{si}", "n", 7));
	return 0;
}

static const struct control_cmd test_cmds[] = {
	{ "ping", cmd_ping },
	{ "fail", cmd_fail },
	{ "fail-quiet", cmd_fail_quiet },
	{ "echo", cmd_echo },
	{ "emit", cmd_emit },
	{ NULL, NULL },
};

/* ---- server fixture ---- */

static void *loop_thread(void *opaque)
{
	struct fixture *f = opaque;

	assert_int_equal(evloop_run(f->loop), 0);
	return NULL;
}

static void fixture_stop(struct fixture *f)
{
	if (!f->running)
		return;
	evloop_stop(f->loop);
	assert_int_equal(pthread_join(f->thread, NULL), 0);
	f->running = false;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/vmkit-test-control-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/ctl.sock", f->dir);
	assert_int_equal(evloop_create(&f->loop), 0);
	assert_int_equal(control_open(f->path, f->loop, test_cmds, f, &f->ctl), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
	f->running = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	fixture_stop(f);
	control_close(f->ctl);
	/* control_close() removes the socket file. */
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	evloop_destroy(f->loop);
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

/* ---- plain socket clients ---- */

static int connect_fd(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(addr.sun_path));
	strcpy(addr.sun_path, path);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	return fd;
}

static struct tclient *tclient_connect_raw(const char *path)
{
	struct tclient *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->fd = connect_fd(path);
	return c;
}

static void tclient_close(struct tclient *c)
{
	if (!c)
		return;
	close(c->fd);
	free(c);
}

/* Next line without its newline (malloc'd), or NULL at EOF/reset with errno
 * set (0 for a clean EOF). Fails the test on a timeout. */
static char *tclient_read_line(struct tclient *c)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		ssize_t n;

		if (nl) {
			size_t llen = (size_t)(nl - c->buf);
			char *line = strndup(c->buf, llen);

			assert_non_null(line);
			c->len -= llen + 1;
			memmove(c->buf, nl + 1, c->len);
			return line;
		}
		assert_true(c->len < sizeof(c->buf));
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			fail_msg("no reply from the server within %d s", CLIENT_TIMEOUT_S);
		if (n <= 0) {
			errno = n == 0 ? 0 : errno;
			return NULL;
		}
		c->len += (size_t)n;
	}
}

static void tclient_expect(struct tclient *c, const char *want)
{
	char *line = tclient_read_line(c);

	if (!line)
		fail_msg("expected %s, got end of stream (%s)", want, strerror(errno));
	assert_string_equal(line, want);
	free(line);
}

/* The server closed the connection (EOF, or a reset when it discarded
 * unread input). */
static void tclient_expect_closed(struct tclient *c)
{
	char *line = tclient_read_line(c);

	if (line)
		fail_msg("expected the connection to be closed, got %s", line);
	assert_true(errno == 0 || errno == ECONNRESET);
}

static void tclient_send(struct tclient *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail_msg("send: %s", strerror(errno));
		data += n;
		len -= (size_t)n;
	}
}

static void tclient_sends(struct tclient *c, const char *s)
{
	tclient_send(c, s, strlen(s));
}

static char *greeting_line(void)
{
	char *g = ctlproto_greeting(VMKIT_VERSION);

	assert_non_null(g);
	g[strlen(g) - 1] = '\0';
	return g;
}

/* Connect and consume the greeting: the server has registered us once
 * this returns, so events broadcast afterwards reach us. */
static struct tclient *tclient_connect(const char *path)
{
	struct tclient *c = tclient_connect_raw(path);
	char *g = greeting_line();

	tclient_expect(c, g);
	free(g);
	return c;
}

/* Connect until the server greets us rather than refusing (a slot is freed
 * once the loop thread has noticed a client is gone). */
static struct tclient *tclient_connect_when_free(const char *path)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct tclient *c = tclient_connect_raw(path);
		char *line = tclient_read_line(c);
		bool greeted = line && strncmp(line, "{\"QMP\"", 6) == 0;

		free(line);
		if (greeted)
			return c;
		tclient_close(c);
		usleep(10000);
	}
	fail_msg("the server never freed a client slot");
	return NULL;
}

static void expect_ping(struct tclient *c, int id)
{
	char req[64], want[64];

	snprintf(req, sizeof(req), "{\"execute\":\"ping\",\"id\":%d}\n", id);
	snprintf(want, sizeof(want), "{\"return\":{\"pong\":true},\"id\":%d}", id);
	tclient_sends(c, req);
	tclient_expect(c, want);
}

/* ---- tests: protocol ---- */

static void test_greeting(void **state)
{
	struct fixture *f = *state;
	struct tclient *c = tclient_connect_raw(f->path);
	char want[128];

	snprintf(want, sizeof(want),
		 "{\"QMP\":{\"version\":{\"vmkit\":\"%s\"},\"capabilities\":[]}}", VMKIT_VERSION);
	tclient_expect(c, want);
	tclient_close(c);
}

static void test_commands(void **state)
{
	struct fixture *f = *state;
	struct tclient *c = tclient_connect(f->path);

	tclient_sends(c, "{\"execute\":\"qmp_capabilities\"}\n");
	tclient_expect(c, "{\"return\":{}}");
	expect_ping(c, 1);
	tclient_sends(c, "{\"execute\":\"ping\",\"id\":{\"tag\":\"a\",\"n\":[1]}}\n");
	tclient_expect(c, "{\"return\":{\"pong\":true},\"id\":{\"tag\":\"a\",\"n\":[1]}}");
	tclient_sends(c, "{\"execute\":\"ping\"}\r\n");
	tclient_expect(c, "{\"return\":{\"pong\":true}}");
	tclient_sends(c, "{\"execute\":\"echo\",\"arguments\":{\"k\":\"v\"},\"id\":\"e\"}\n");
	tclient_expect(c, "{\"return\":{\"k\":\"v\"},\"id\":\"e\"}");
	assert_int_equal(f->handler_calls, 3);
	tclient_close(c);
}

static void test_pipelined_and_split(void **state)
{
	struct fixture *f = *state;
	struct tclient *c = tclient_connect(f->path);

	/* Three requests in one send, plus blank lines that are skipped. */
	tclient_sends(c, "{\"execute\":\"ping\",\"id\":1}\n\n  \r\n{\"execute\":\"ping\",\"id\":2}\n"
			 "{\"execute\":\"nope\",\"id\":3}\n");
	tclient_expect(c, "{\"return\":{\"pong\":true},\"id\":1}");
	tclient_expect(c, "{\"return\":{\"pong\":true},\"id\":2}");
	tclient_expect(c, "{\"error\":{\"class\":\"CommandNotFound\","
			  "\"desc\":\"The command nope has not been found\"},\"id\":3}");
	/* One request in three pieces. */
	tclient_sends(c, "{\"exec");
	tclient_sends(c, "ute\":\"ping\",");
	tclient_sends(c, "\"id\":4}\n");
	tclient_expect(c, "{\"return\":{\"pong\":true},\"id\":4}");
	tclient_close(c);
}

static void test_unknown_command(void **state)
{
	struct fixture *f = *state;
	struct tclient *c = tclient_connect(f->path);

	tclient_sends(c, "{\"execute\":\"no-such-thing\",\"id\":\"x\"}\n");
	tclient_expect(c, "{\"error\":{\"class\":\"CommandNotFound\","
			  "\"desc\":\"The command no-such-thing has not been found\"},\"id\":\"x\"}");
	tclient_sends(c, "{\"execute\":\"no-id\"}\n");
	tclient_expect(c, "{\"error\":{\"class\":\"CommandNotFound\","
			  "\"desc\":\"The command no-id has not been found\"}}");
	assert_int_equal(f->handler_calls, 0);
	tclient_close(c);
}

static void test_handler_errors(void **state)
{
	struct fixture *f = *state;
	struct tclient *c = tclient_connect(f->path);
	char want[128];

	tclient_sends(c, "{\"execute\":\"fail\",\"id\":5}\n");
	tclient_expect(c, "{\"error\":{\"class\":\"GenericError\","
			  "\"desc\":\"it failed on purpose\"},\"id\":5}");
	/* No message from the handler: the errno's text. */
	tclient_sends(c, "{\"execute\":\"fail-quiet\"}\n");
	snprintf(want, sizeof(want), "{\"error\":{\"class\":\"GenericError\",\"desc\":\"%s\"}}",
		 strerror(ENOENT));
	tclient_expect(c, want);
	expect_ping(c, 6);
	tclient_close(c);
}

static void test_malformed_keeps_connection(void **state)
{
	struct fixture *f = *state;
	struct tclient *c = tclient_connect(f->path);

	tclient_sends(c, "{bad json\n");
	tclient_expect(c, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
			  "\"malformed JSON (column 4): string or '}' expected near 'bad'\"}}");
	tclient_sends(c, "[1,2]\n");
	tclient_expect(c, "{\"error\":{\"class\":\"GenericError\","
			  "\"desc\":\"request must be a JSON object\"}}");
	tclient_sends(c, "{\"execute\":\"ping\",\"arguments\":3,\"id\":1}\n");
	tclient_expect(c, "{\"error\":{\"class\":\"GenericError\","
			  "\"desc\":\"\\\"arguments\\\" must be an object\"}}");
	/* Raw invalid UTF-8 and a NUL byte inside a line. */
	tclient_send(c, "{\"execute\":\"\xff\"}\n", 16);
	tclient_expect(c, "{\"error\":{\"class\":\"GenericError\",\"desc\":"
			  "\"malformed JSON (column 12): unable to decode byte 0xff near '\\\"'\"}}");
	tclient_send(c, "{\"exec\0ute\"}\n", 13);
	tclient_expect(c, "{\"error\":{\"class\":\"GenericError\","
			  "\"desc\":\"request contains a NUL byte at offset 6\"}}");
	expect_ping(c, 2);
	tclient_close(c);
}

/* A request padded with spaces to exactly len bytes, plus the newline. */
static char *padded_ping(size_t len)
{
	static const char req[] = "{\"execute\":\"ping\",\"id\":99}";
	char *line = malloc(len + 1);

	assert_non_null(line);
	memset(line, ' ', len);
	memcpy(line, req, sizeof(req) - 1);
	line[len] = '\n';
	return line;
}

static void test_line_limit(void **state)
{
	struct fixture *f = *state;
	struct tclient *other = tclient_connect(f->path);
	struct tclient *c = tclient_connect(f->path);
	char *line = padded_ping(CTLPROTO_MAX_LINE);
	char want[128];

	/* Exactly at the limit: served. */
	tclient_send(c, line, CTLPROTO_MAX_LINE + 1);
	tclient_expect(c, "{\"return\":{\"pong\":true},\"id\":99}");
	free(line);
	/* One byte more (no newline in sight): error, then disconnected. */
	line = padded_ping(CTLPROTO_MAX_LINE + 1);
	tclient_send(c, line, CTLPROTO_MAX_LINE + 1);
	snprintf(want, sizeof(want), "{\"error\":{\"class\":\"GenericError\","
		 "\"desc\":\"request line longer than %d bytes\"}}", CTLPROTO_MAX_LINE);
	tclient_expect(c, want);
	tclient_expect_closed(c);
	free(line);
	tclient_close(c);
	/* Everybody else is still served, and new clients are welcome. */
	expect_ping(other, 1);
	c = tclient_connect(f->path);
	expect_ping(c, 2);
	tclient_close(c);
	tclient_close(other);
}

static void test_hangup_mid_command(void **state)
{
	struct fixture *f = *state;
	struct tclient *other = tclient_connect(f->path);

	for (int i = 0; i < 20; i++) {
		struct tclient *c = tclient_connect_raw(f->path);

		/* Half a line, or a full command whose reply nobody reads. */
		if (i % 2)
			tclient_sends(c, "{\"execute\":\"pi");
		else
			tclient_sends(c, "{\"execute\":\"ping\",\"id\":1}\n{\"execute\":\"ping\"}\n");
		if (i % 4 == 3)
			shutdown(c->fd, SHUT_WR);
		tclient_close(c);
		expect_ping(other, i);
	}
	tclient_close(other);
}

/* A client that sends its request and shuts down its sending side still
 * gets its reply before the server closes. */
static void test_half_close_gets_reply(void **state)
{
	struct fixture *f = *state;
	struct tclient *c = tclient_connect(f->path);

	tclient_sends(c, "{\"execute\":\"ping\",\"id\":1}\n{\"execute\":\"ping\",\"id\":2}\n"
			 "{\"execute\":\"ping\",\"id\":3}");
	assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
	tclient_expect(c, "{\"return\":{\"pong\":true},\"id\":1}");
	tclient_expect(c, "{\"return\":{\"pong\":true},\"id\":2}");
	/* The unterminated third request is dropped with the connection. */
	tclient_expect_closed(c);
	tclient_close(c);
}

/* ---- tests: events ---- */

/* Read everything available without blocking; returns the newlines seen
 * and records the last complete line's "seq". */
static size_t drain_events(struct tclient *c, long *last_seq)
{
	size_t lines = 0;

	for (;;) {
		char *nl;
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return lines;
		if (n <= 0)
			fail_msg("reading client lost its connection: %s", strerror(errno));
		c->len += (size_t)n;
		while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
			const char *seq = memmem(c->buf, (size_t)(nl - c->buf), "\"seq\":", 6);
			long v;

			assert_non_null(seq);
			v = strtol(seq + 6, NULL, 10);
			assert_int_equal(v, *last_seq + 1);
			*last_seq = v;
			lines++;
			c->len -= (size_t)(nl + 1 - c->buf);
			memmove(c->buf, nl + 1, c->len);
		}
	}
}

static void wait_readable(struct tclient *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int n;

	do {
		n = poll(&pfd, 1, CLIENT_TIMEOUT_S * 1000);
	} while (n < 0 && errno == EINTR);
	if (n == 0)
		fail_msg("no data from the server within %d s", CLIENT_TIMEOUT_S);
	assert_int_equal(n, 1);
}

/* Total bytes a client can still read before the server's close. */
static size_t read_until_closed(struct tclient *c)
{
	size_t total = c->len;
	char buf[65536];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			fail_msg("a client that never read was not disconnected");
		if (n <= 0) {
			assert_true(n == 0 || errno == ECONNRESET);
			return total;
		}
		total += (size_t)n;
	}
}

static void test_slow_reader_dropped(void **state)
{
	enum { EVENTS = 25000, PAD = 160 };
	struct fixture *f = *state;
	struct tclient *reader = tclient_connect(f->path);
	struct tclient *stuck = tclient_connect(f->path);
	struct tclient *others[MAX_TEST_CLIENTS - 1];
	char pad[PAD + 1];
	size_t got = 0, stuck_bytes;
	long last = -1;

	memset(pad, 'p', PAD);
	pad[PAD] = '\0';
	for (long i = 0; i < EVENTS; i++) {
		control_event(f->ctl, "TICK", json_pack("{sIss}", "seq", (json_int_t)i, "pad", pad));
		if (i % 64 == 63)
			got += drain_events(reader, &last);
	}
	/* The stuck client was dropped with far less than everything queued:
	 * its backlog stayed bounded. Its socket holds at most what the kernel
	 * buffered before the server gave up. */
	stuck_bytes = read_until_closed(stuck);
	assert_true(stuck_bytes < (size_t)EVENTS * PAD / 2);
	tclient_close(stuck);
	/* The reading client saw every event, in order, and is still served. */
	while (last < EVENTS - 1) {
		wait_readable(reader);
		got += drain_events(reader, &last);
	}
	assert_int_equal(got, EVENTS);
	assert_int_equal(reader->len, 0);
	expect_ping(reader, 1);
	/* The dropped client was reaped: all other slots can be filled. */
	for (int i = 0; i < MAX_TEST_CLIENTS - 1; i++)
		others[i] = tclient_connect_when_free(f->path);
	for (int i = 0; i < MAX_TEST_CLIENTS - 1; i++)
		tclient_close(others[i]);
	tclient_close(reader);
}

struct event_thread_arg {
	struct control *ctl;
	int count;
};

static void *event_thread(void *opaque)
{
	struct event_thread_arg *a = opaque;

	for (int i = 0; i < a->count; i++)
		control_event(a->ctl, "FROM_THREAD", json_pack("{si}", "n", i));
	return NULL;
}

/* Check an event line's shape and return its data.n. */
static int check_event(const char *line, const char *name)
{
	json_error_t jerr;
	json_t *ev = json_loads(line, 0, &jerr), *ts;
	int n;

	assert_non_null(ev);
	assert_string_equal(json_string_value(json_object_get(ev, "event")), name);
	ts = json_object_get(ev, "timestamp");
	assert_true(json_integer_value(json_object_get(ts, "seconds")) > 1600000000);
	assert_true(json_integer_value(json_object_get(ts, "microseconds")) >= 0);
	assert_true(json_integer_value(json_object_get(ts, "microseconds")) < 1000000);
	n = (int)json_integer_value(json_object_get(json_object_get(ev, "data"), "n"));
	json_decref(ev);
	return n;
}

static void test_event_from_thread(void **state)
{
	struct fixture *f = *state;
	struct event_thread_arg arg = { .ctl = f->ctl, .count = 1 };
	struct tclient *a, *b;
	pthread_t t;
	char *line;

	/* Nobody connected: the event goes nowhere. */
	control_event(f->ctl, "LOST", NULL);
	a = tclient_connect(f->path);
	b = tclient_connect(f->path);
	assert_int_equal(pthread_create(&t, NULL, event_thread, &arg), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	/* The first line after the greeting is the thread's event, not LOST. */
	line = tclient_read_line(a);
	assert_non_null(line);
	assert_int_equal(check_event(line, "FROM_THREAD"), 0);
	free(line);
	line = tclient_read_line(b);
	assert_non_null(line);
	assert_int_equal(check_event(line, "FROM_THREAD"), 0);
	free(line);
	tclient_close(a);
	tclient_close(b);
}

/* Several threads broadcast while a client is also running commands. */
static void test_events_concurrent(void **state)
{
	enum { THREADS = 3, PER_THREAD = 200 };
	struct fixture *f = *state;
	struct event_thread_arg arg = { .ctl = f->ctl, .count = PER_THREAD };
	struct tclient *a = tclient_connect(f->path), *b = tclient_connect(f->path);
	pthread_t ts[THREADS];
	char *line;

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&ts[i], NULL, event_thread, &arg), 0);
	/* b's reply may come between events. */
	tclient_sends(b, "{\"execute\":\"ping\",\"id\":1}\n");
	while ((line = tclient_read_line(b)) != NULL &&
	       strcmp(line, "{\"return\":{\"pong\":true},\"id\":1}") != 0) {
		check_event(line, "FROM_THREAD");
		free(line);
	}
	assert_non_null(line);
	free(line);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(ts[i], NULL), 0);
	/* a saw every event, each whole. */
	for (int seen = 0; seen < THREADS * PER_THREAD; seen++) {
		line = tclient_read_line(a);
		assert_non_null(line);
		check_event(line, "FROM_THREAD");
		free(line);
	}
	tclient_close(a);
	tclient_close(b);
}

/* ping replies read while events may be interleaved. */
static void test_event_from_handler(void **state)
{
	struct fixture *f = *state;
	struct tclient *c = tclient_connect(f->path);
	struct tclient *other = tclient_connect(f->path);
	char *line;

	tclient_sends(c, "{\"execute\":\"emit\",\"id\":1}\n");
	line = tclient_read_line(c);
	assert_non_null(line);
	assert_int_equal(check_event(line, "FROM_HANDLER"), 7);
	free(line);
	tclient_expect(c, "{\"return\":{},\"id\":1}");
	line = tclient_read_line(other);
	assert_non_null(line);
	assert_int_equal(check_event(line, "FROM_HANDLER"), 7);
	free(line);
	tclient_close(c);
	tclient_close(other);
}

static void test_event_null(void **state)
{
	(void)state;
	/* No server: data is released, nothing happens. */
	control_event(NULL, "X", json_pack("{si}", "a", 1));
	control_close(NULL);
}

/* ---- tests: limits ---- */

static void test_client_cap(void **state)
{
	struct fixture *f = *state;
	struct tclient *cs[MAX_TEST_CLIENTS], *extra;

	for (int i = 0; i < MAX_TEST_CLIENTS; i++)
		cs[i] = tclient_connect(f->path);
	extra = tclient_connect_raw(f->path);
	tclient_expect(extra, "{\"error\":{\"class\":\"GenericError\","
			      "\"desc\":\"too many clients (limit 64)\"}}");
	tclient_expect_closed(extra);
	tclient_close(extra);
	expect_ping(cs[MAX_TEST_CLIENTS - 1], 1);
	/* A slot freed is a slot reusable. */
	tclient_close(cs[0]);
	cs[0] = tclient_connect_when_free(f->path);
	expect_ping(cs[0], 2);
	for (int i = 0; i < MAX_TEST_CLIENTS; i++)
		tclient_close(cs[i]);
}

/* ---- tests: the socket file ---- */

static void test_socket_mode(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_path_too_long(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un addr;
	struct control *ctl = NULL;
	char path[sizeof(addr.sun_path) + 16];
	struct stat st;

	memset(path, 0, sizeof(path));
	snprintf(path, sizeof(path), "%s/", f->dir);
	memset(path + strlen(path), 'a', sizeof(addr.sun_path) - strlen(path));
	assert_int_equal(strlen(path), sizeof(addr.sun_path));
	assert_int_equal(control_open(path, f->loop, test_cmds, f, &ctl), -ENAMETOOLONG);
	assert_null(ctl);
	assert_int_equal(lstat(path, &st), -1);
	/* One byte shorter fits exactly. */
	path[strlen(path) - 1] = '\0';
	fixture_stop(f);
	assert_int_equal(control_open(path, f->loop, test_cmds, f, &ctl), 0);
	assert_int_equal(lstat(path, &st), 0);
	control_close(ctl);
	assert_int_equal(lstat(path, &st), -1);
}

static void make_stale_socket(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	strcpy(addr.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
}

static void test_stale_socket_replaced(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct control *ctl = NULL;
	struct tclient *c;
	struct stat st;

	snprintf(path, sizeof(path), "%s/stale.sock", f->dir);
	make_stale_socket(path);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(control_open(path, f->loop, test_cmds, f, &ctl), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	c = tclient_connect(path);
	expect_ping(c, 1);
	tclient_close(c);
	fixture_stop(f);
	control_close(ctl);
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_live_socket_kept(void **state)
{
	struct fixture *f = *state;
	struct control *ctl = NULL;
	struct tclient *c;

	/* The fixture's server is alive at f->path: a second one must not
	 * steal its socket. */
	assert_int_equal(control_open(f->path, f->loop, test_cmds, f, &ctl), -EADDRINUSE);
	assert_null(ctl);
	c = tclient_connect(f->path);
	expect_ping(c, 1);
	tclient_close(c);
}

static void test_not_a_socket(void **state)
{
	struct fixture *f = *state;
	struct control *ctl = NULL;
	char path[160];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/regular", f->dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "data", 4), 4);
	close(fd);
	assert_int_equal(control_open(path, f->loop, test_cmds, f, &ctl), -EEXIST);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4);
	assert_int_equal(unlink(path), 0);
}

static void test_close_with_clients(void **state)
{
	struct fixture *f = *state;
	struct tclient *a = tclient_connect(f->path), *b = tclient_connect(f->path);
	struct stat st;

	tclient_sends(b, "{\"execute\":\"pi");
	expect_ping(a, 1);
	fixture_stop(f);
	control_close(f->ctl);
	f->ctl = NULL;
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	tclient_expect_closed(a);
	tclient_expect_closed(b);
	tclient_close(a);
	tclient_close(b);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_greeting),
		T(test_commands),
		T(test_pipelined_and_split),
		T(test_unknown_command),
		T(test_handler_errors),
		T(test_malformed_keeps_connection),
		T(test_line_limit),
		T(test_hangup_mid_command),
		T(test_half_close_gets_reply),
		T(test_slow_reader_dropped),
		T(test_event_from_thread),
		T(test_events_concurrent),
		T(test_event_from_handler),
		cmocka_unit_test(test_event_null),
		T(test_client_cap),
		T(test_socket_mode),
		T(test_path_too_long),
		T(test_stale_socket_replaced),
		T(test_live_socket_kept),
		T(test_not_a_socket),
		T(test_close_with_clients),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
