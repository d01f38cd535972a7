/* test_dcore: vmkitd's pure parts besides the routes: the transition table
 * and exit-reason mapping (dstate.c), the event ring (devent.c: wrap-around,
 * `lost`, sequence numbers across restarts), the runtime state file
 * (dstatefile.c round trip and refusals) and the files (dstore.c: atomic
 * writes, the lock, scans). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/devent.h"
#include "daemon/dstate.h"
#include "daemon/dstatefile.h"
#include "daemon/dstore.h"
#include "scratch_dir.h"

#define R (1u << DSTATE_RUNNING)
#define P (1u << DSTATE_PAUSED)
#define O (1u << DSTATE_SHUTOFF)
#define C (1u << DSTATE_CRASHED)

static void test_transitions(void **state)
{
	static const unsigned legal[DOP_COUNT_] = {
		[DOP_QUERY] = R | P | O | C, [DOP_START] = O | C, [DOP_SHUTDOWN] = R,
		[DOP_REBOOT] = R, [DOP_RESET] = R | P, [DOP_DESTROY] = R | P,
		[DOP_SUSPEND] = R, [DOP_RESUME] = P, [DOP_UNDEFINE] = R | P | O | C,
		[DOP_CONSOLE] = R | P,
	};
	char msg[256];

	for (int op = 0; op < DOP_COUNT_; op++) {
		for (int s = DSTATE_SHUTOFF; s <= DSTATE_CRASHED; s++) {
			bool ok = dstate_allowed(op, s, "web", msg, sizeof(msg));

			assert_int_equal(ok, (legal[op] >> s) & 1);
			if (!ok)
				assert_non_null(strstr(msg, "'web'"));
		}
	}
	dstate_allowed(DOP_START, DSTATE_RUNNING, "web", msg, sizeof(msg));
	assert_string_equal(msg, "domain 'web' is already running");
	dstate_allowed(DOP_SUSPEND, DSTATE_SHUTOFF, "web", msg, sizeof(msg));
	assert_string_equal(msg, "cannot suspend domain 'web': it is shut off");
	assert_true(dstate_active(DSTATE_PAUSED) && !dstate_active(DSTATE_CRASHED));
}

static void test_exit_mapping(void **state)
{
	static const struct {
		const char *reason;
		bool destroying;
		enum dstate_state s;
		enum dstate_reason r;
		const char *detail;
	} cases[] = {
		{ "guest-poweroff", false, DSTATE_SHUTOFF, DREASON_SHUTDOWN, "shutdown" },
		{ "guest-reset", false, DSTATE_SHUTOFF, DREASON_SHUTDOWN, "shutdown" },
		{ "host-signal", false, DSTATE_SHUTOFF, DREASON_DESTROYED, "destroyed" },
		{ "host-qmp-quit", false, DSTATE_SHUTOFF, DREASON_DESTROYED, "destroyed" },
		{ "triple-fault", false, DSTATE_CRASHED, DREASON_TRIPLE_FAULT, "crashed" },
		{ "internal-error", false, DSTATE_CRASHED, DREASON_INTERNAL_ERROR, "crashed" },
		{ "host-error", false, DSTATE_CRASHED, DREASON_HOST_ERROR, "crashed" },
		{ "something-new", false, DSTATE_CRASHED, DREASON_CRASHED, "crashed" },
		{ NULL, false, DSTATE_CRASHED, DREASON_CRASHED, "crashed" },
		{ NULL, true, DSTATE_SHUTOFF, DREASON_DESTROYED, "destroyed" },
		{ "guest-poweroff", true, DSTATE_SHUTOFF, DREASON_DESTROYED, "destroyed" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum dstate_state s;
		enum dstate_reason r;

		dstate_from_exit(cases[i].reason, cases[i].destroying, &s, &r);
		assert_int_equal(s, cases[i].s);
		assert_int_equal(r, cases[i].r);
		assert_string_equal(dstate_stop_detail(r), cases[i].detail);
	}
	assert_string_equal(dstate_stop_detail(DREASON_FAILED), "failed");
}

static void test_names(void **state)
{
	enum dstate_state s;
	enum dstate_reason r;

	for (int i = DSTATE_SHUTOFF; i <= DSTATE_CRASHED; i++) {
		assert_int_equal(dstate_state_parse(dstate_state_name(i), &s), 0);
		assert_int_equal(s, i);
	}
	for (int i = DREASON_UNKNOWN; i <= DREASON_HOST_ERROR; i++) {
		assert_int_equal(dstate_reason_parse(dstate_reason_name(i), &r), 0);
		assert_int_equal(r, i);
	}
	assert_int_equal(dstate_state_parse("shut off", &s), -EINVAL);
	assert_int_equal(dstate_reason_parse("", &r), -EINVAL);
}

/* The seqs of the lines in text, in order; the number of lines. */
static size_t seqs_of(const char *text, uint64_t *out, size_t max, size_t *lost)
{
	size_t n = 0;

	*lost = 0;
	for (const char *p = text; p && *p && n < max; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		out[n++] = strtoull(strstr(p, "\"seq\":") + 6, NULL, 10);
		if (strncmp(strstr(p, "\"event\":"), "\"event\":\"lost\"", 14) == 0)
			*lost = n;
	}
	return n;
}

static void test_ring(void **state)
{
	struct devent_ring ring;
	uint64_t after = 0, seqs[16];
	size_t len, n, lost;
	char *text;

	assert_int_equal(devent_init(&ring, 4, NULL), 0);
	assert_int_equal(devent_last(&ring), 0);
	assert_int_equal(devent_read(&ring, &after, 1 << 20, &text, &len), 0);
	assert_null(text);
	for (int i = 0; i < 6; i++)
		assert_int_equal(devent_emit(&ring, "web", "u", "started", "booted"), 0);
	assert_int_equal(devent_last(&ring), 6);
	/* wrapped: 3..6 kept; since=0 starts with lost "2 events" */
	assert_int_equal(devent_read(&ring, &after, 1 << 20, &text, &len), 0);
	n = seqs_of(text, seqs, 16, &lost);
	assert_int_equal(n, 5);
	assert_int_equal(lost, 1);
	assert_non_null(strstr(text, "\"detail\":\"2 events\""));
	assert_true(seqs[1] == 3 && seqs[4] == 6 && after == 6);
	free(text);
	/* since inside the ring: no lost line */
	after = 4;
	assert_int_equal(devent_read(&ring, &after, 1 << 20, &text, &len), 0);
	n = seqs_of(text, seqs, 16, &lost);
	assert_true(n == 2 && lost == 0 && seqs[0] == 5 && seqs[1] == 6);
	free(text);
	/* max_bytes splits the replay, one line at least */
	after = 2;
	assert_int_equal(devent_read(&ring, &after, 1, &text, &len), 0);
	assert_int_equal(seqs_of(text, seqs, 16, &lost), 1);
	assert_int_equal(after, 3);
	free(text);
	assert_false(devent_wait(&ring, 6, 1) && false);
	assert_true(devent_wait(&ring, 5, 1000));   /* newer exists: returns at once */
	devent_stop(&ring);
	assert_false(devent_wait(&ring, 6, 1000));
	devent_fini(&ring);
}

static unsigned long long seq_file(const char *path)
{
	uint8_t *buf;
	size_t len;
	unsigned long long v;

	assert_int_equal(util_read_file(path, 64, &buf, &len), 0);
	v = strtoull((char *)buf, NULL, 10);
	free(buf);
	return v;
}

static void test_seq_persisted(void **state)
{
	char dir[] = "/tmp/test_dcoreXXXXXX", path[64], last[64], *text;
	struct devent_ring ring;
	uint64_t after;
	uint8_t *buf;
	size_t len;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/seq", dir);
	assert_int_equal(devent_init(&ring, 8, path), 0);
	devent_emit(&ring, "a", "u", "defined", "added");
	devent_emit(&ring, "a", "u", "started", "booted");
	/* a crash now: the file holds the reservation */
	assert_int_equal(util_read_file(path, 64, &buf, &len), 0);
	assert_int_equal(strtoull((char *)buf, NULL, 10), DEVENT_RESERVE);
	free(buf);
	devent_fini(&ring);   /* a clean stop records the last one */
	assert_int_equal(devent_init(&ring, 8, path), 0);
	assert_int_equal(devent_last(&ring), 2);
	devent_emit(&ring, "a", "u", "stopped", "shutdown");
	assert_int_equal(devent_last(&ring), 3);
	devent_fini(&ring);
	/* reserve-ahead (outside vmkitd.lock) keeps the file ahead, so that
	 * devent_emit rarely writes it; the file never goes back */
	assert_int_equal(devent_init(&ring, 8, path), 0);   /* next = 4 */
	devent_reserve_ahead(&ring);                          /* 4 + 32 > 3: write */
	assert_int_equal(seq_file(path), 4 + DEVENT_RESERVE - 1);
	for (int i = 0; i < DEVENT_RESERVE / 2; i++)
		devent_emit(&ring, "a", "u", "suspended", "paused");
	assert_int_equal(seq_file(path), 4 + DEVENT_RESERVE - 1);   /* emit did not write */
	devent_reserve_ahead(&ring);
	assert_int_equal(seq_file(path), 4 + DEVENT_RESERVE / 2 + DEVENT_RESERVE - 1);
	for (int i = 0; i < DEVENT_RESERVE * 2; i++)               /* a burst: emit's own */
		devent_emit(&ring, "a", "u", "resumed", "unpaused");
	assert_true(seq_file(path) >= devent_last(&ring));
	devent_fini(&ring);
	/* after a crash: seq holds the reservation, seq.last the newest used */
	snprintf(last, sizeof(last), "%s/seq.last", dir);
	assert_int_equal(dstore_write_file(path, "64\n", 3), 0);
	assert_int_equal(dstore_write_file(last, "2\n", 2), 0);
	assert_int_equal(devent_init(&ring, 8, path), 0);
	assert_int_equal(devent_track_last(&ring, last), 0);
	after = 2;   /* a client that saw everything: nothing lost */
	assert_int_equal(devent_read(&ring, &after, 1 << 20, &text, &len), 0);
	assert_null(text);
	after = 1;   /* one that missed event 2: one lost, not 63 */
	assert_int_equal(devent_read(&ring, &after, 1 << 20, &text, &len), 0);
	assert_non_null(strstr(text, "\"lost\"")) ;
	assert_non_null(strstr(text, "\"1 events\""));
	free(text);
	devent_emit(&ring, "a", "u", "started", "booted");
	assert_int_equal(devent_last(&ring), 65);
	assert_int_equal(seq_file(last), 65);
	devent_fini(&ring);
	assert_int_equal(access(last, F_OK), -1);   /* a clean stop: seq is exact */
	assert_int_equal(dstore_write_file(path, "junk\n", 5), 0);
	assert_int_equal(devent_init(&ring, 8, path), -EINVAL);
	unlink(path);
	rmdir(dir);
}

static void test_statefile(void **state)
{
	struct dstatefile in = { .pid = 42, .starttime = 123456789, .id = 7,
				 .state = DSTATE_PAUSED, .reason = DREASON_USER, .pty = "/dev/pts/3",
				 .taps = { "vmk0", "vmk1" }, .ntaps = 2, .cid = 9, .transient = true,
				 .starting = true, .xml = "<domain/>" }, out;
	static const char *const bad[] = {
		"{}",
		"{\"pid\":0,\"starttime\":1,\"id\":1,\"cid\":3,\"taps\":[],\"state\":\"running\","
		"\"reason\":\"booted\",\"pty\":\"\",\"xml\":\"x\",\"transient\":false}",
		"{\"pid\":1,\"starttime\":1,\"id\":1,\"cid\":3,\"taps\":[1],\"state\":\"running\","
		"\"reason\":\"booted\",\"pty\":\"\",\"xml\":\"x\",\"transient\":false}",
		"{\"pid\":1,\"starttime\":1,\"id\":1,\"cid\":3,\"taps\":[],\"state\":\"dancing\","
		"\"reason\":\"booted\",\"pty\":\"\",\"xml\":\"x\",\"transient\":false}",
		"{\"pid\":1,\"starttime\":1,\"id\":1,\"cid\":3,\"taps\":[],\"state\":\"running\","
		"\"reason\":\"booted\",\"pty\":\"\",\"transient\":false}",
		"{\"pid\":1,\"starttime\":-1,\"id\":1,\"cid\":3,\"taps\":[],\"state\":\"running\","
		"\"reason\":\"booted\",\"pty\":\"\",\"xml\":\"x\",\"transient\":false}",
		"{\"pid\":1,\"starttime\":1,\"id\":1,\"cid\":3,\"taps\":[],\"state\":\"running\","
		"\"reason\":\"booted\",\"pty\":\"\",\"xml\":\"x\",\"transient\":false,"
		"\"starting\":1}",
	};
	char err[256];
	json_t *j = dstatefile_to_json(&in);

	assert_non_null(j);
	assert_int_equal(dstatefile_from_json(j, &out, err, sizeof(err)), 0);
	assert_true(out.pid == 42 && out.starttime == 123456789 && out.id == 7 && out.cid == 9);
	assert_true(out.state == DSTATE_PAUSED && out.reason == DREASON_USER && out.transient);
	assert_true(out.starting);
	assert_true(out.ntaps == 2 && strcmp(out.taps[1], "vmk1") == 0);
	assert_string_equal(out.pty, "/dev/pts/3");
	assert_string_equal(out.xml, "<domain/>");
	json_decref(j);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		j = json_loads(bad[i], 0, NULL);
		assert_non_null(j);
		err[0] = 0;
		assert_int_equal(dstatefile_from_json(j, &out, err, sizeof(err)), -EINVAL);
		assert_true(err[0] != 0);
		json_decref(j);
	}
}

static int scan_cb(void *opaque, const char *dir, const char *name)
{
	strcat(opaque, name);
	strcat(opaque, ";");
	return 0;
}

static void test_store(void **state)
{
	char dir[] = "/tmp/test_dcoreXXXXXX", path[128], err[256], names[256] = "";
	int fd, fd2;
	uint8_t *buf;
	size_t len;
	struct stat st;

	scratch_dir_make(dir, sizeof(dir), "/tmp/test_dcore");
	snprintf(path, sizeof(path), "%s/a/b/c", dir);
	assert_int_equal(dstore_mkdirs(path, 0700), 0);
	assert_int_equal(dstore_mkdirs(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/b.xml", dir);
	assert_int_equal(dstore_write_file(path, "one", 3), 0);
	assert_int_equal(dstore_write_file(path, "two!", 4), 0);
	assert_int_equal(util_read_file(path, 64, &buf, &len), 0);
	assert_true(len == 4 && memcmp(buf, "two!", 4) == 0);
	free(buf);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(path, sizeof(path), "%s/a.xml", dir);
	assert_int_equal(dstore_write_file(path, "", 0), 0);
	assert_int_equal(dstore_scan(dir, ".xml", scan_cb, names), 0);
	assert_string_equal(names, "a.xml;b.xml;");
	/* the lock: a second taker is told who holds it */
	assert_int_equal(dstore_lock(dir, &fd, err, sizeof(err)), 0);
	assert_int_equal(dstore_lock(dir, &fd2, err, sizeof(err)), -EBUSY);
	snprintf(path, sizeof(path), "another vmkitd (pid %d) holds %s/lock", (int)getpid(), dir);
	assert_string_equal(err, path);
	close(fd);
	assert_int_equal(dstore_lock(dir, &fd2, err, sizeof(err)), 0);
	close(fd2);
	scratch_dir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transitions),
		cmocka_unit_test(test_exit_mapping),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ring),
		cmocka_unit_test(test_seq_persisted),
		cmocka_unit_test(test_statefile),
		cmocka_unit_test(test_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
