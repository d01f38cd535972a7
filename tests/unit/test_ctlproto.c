/* test_ctlproto: unit tests of the control protocol (src/vmm/ctlproto.c):
 * table-driven good and bad request lines with their exact error texts, the
 * golden files under tests/golden/ctlproto/ (VMKIT_GOLDEN_UPDATE=1 rewrites
 * the .out files), and the exact bytes of replies, errors, events and the
 * greeting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ctlproto.h"

#define GOLDEN_DIR TEST_SRCDIR "/tests/golden/ctlproto"
#define GOLDEN_MAX_FILES 256
#define GOLDEN_MAX_OUT 4096

/* ---- helpers ---- */

static char *dump_sorted(json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

/* The golden text form of one parse: "ok\nname: N\nargs: A\nid: I\n" or
 * "error: TEXT\n" (args/id as compact JSON with sorted keys, "-" = no id). */
static void golden_format(const char *line, size_t len, char *out, size_t outlen)
{
	struct ctl_request req;
	char err[256];
	char *args, *id;

	if (ctlproto_parse(line, len, &req, err, sizeof(err)) < 0) {
		snprintf(out, outlen, "error: %s\n", err);
		return;
	}
	args = dump_sorted(req.args);
	id = req.id ? dump_sorted(req.id) : NULL;
	snprintf(out, outlen, "ok\nname: %s\nargs: %s\nid: %s\n", req.name,
		 args ? args : "?", id ? id : "-");
	free(args);
	free(id);
	ctlproto_request_free(&req);
}

static void expect_ok(const char *line, const char *name, const char *args,
		      const char *id)
{
	struct ctl_request req;
	char err[256] = "untouched";
	char *got;
	int ret = ctlproto_parse(line, strlen(line), &req, err, sizeof(err));

	if (ret != 0)
		print_error("line %s: unexpected error: %s\n", line, err);
	assert_int_equal(ret, 0);
	assert_string_equal(req.name, name);
	assert_non_null(req.args);
	assert_true(json_is_object(req.args));
	got = dump_sorted(req.args);
	assert_string_equal(got, args);
	free(got);
	if (!id) {
		assert_null(req.id);
	} else {
		assert_non_null(req.id);
		got = dump_sorted(req.id);
		assert_string_equal(got, id);
		free(got);
	}
	ctlproto_request_free(&req);
}

static void expect_err_len(const char *line, size_t len, const char *want)
{
	struct ctl_request req;
	char err[256] = "untouched";
	int ret = ctlproto_parse(line, len, &req, err, sizeof(err));

	if (ret != -EINVAL)
		print_error("line %.80s: expected error %s\n", line, want);
	assert_int_equal(ret, -EINVAL);
	assert_string_equal(err, want);
	/* A failed parse leaves nothing owned behind. */
	assert_null(req.args);
	assert_null(req.id);
	assert_string_equal(req.name, "");
	ctlproto_request_free(&req);
}

static void expect_err(const char *line, const char *want)
{
	expect_err_len(line, strlen(line), want);
}

/* ---- parsing: good requests ---- */

static const struct {
	const char *line, *name, *args, *id;
} good_requests[] = {
	{ "{\"execute\":\"ping\"}", "ping", "{}", NULL },
	{ "{\"execute\": \"ping\", \"id\": 7}", "ping", "{}", "7" },
	{ "  {\"execute\":\"query-status\"}  \r", "query-status", "{}", NULL },
	{ "{\"id\":\"abc\",\"execute\":\"a_b-9\"}", "a_b-9", "{}", "\"abc\"" },
	{ "{\"execute\":\"x\",\"arguments\":{}}", "x", "{}", NULL },
	{ "{\"execute\":\"set\",\"arguments\":{\"b\":[1,2],\"a\":{\"n\":null}}}", "set",
	  "{\"a\":{\"n\":null},\"b\":[1,2]}", NULL },
	{ "{\"execute\":\"x\",\"id\":{\"k\":[true,false]}}", "x", "{}",
	  "{\"k\":[true,false]}" },
	{ "{\"execute\":\"x\",\"id\":null}", "x", "{}", "null" },
	{ "{\"execute\":\"x\",\"id\":-1.5}", "x", "{}", "-1.5" },
	{ "{\"execute\":\"x\",\"arguments\":{\"s\":\"caf\\u00e9 \\u2603\"}}", "x",
	  "{\"s\":\"caf\xc3\xa9 \xe2\x98\x83\"}", NULL },
	{ "{\"execute\":\"0123456789-_abcdefghijklmnopqrstuvwxyz\"}",
	  "0123456789-_abcdefghijklmnopqrstuvwxyz", "{}", NULL },
};

static void test_parse_good(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good_requests); i++)
		expect_ok(good_requests[i].line, good_requests[i].name,
			  good_requests[i].args, good_requests[i].id);
}

/* ---- parsing: bad requests and their exact messages ---- */

static const struct {
	const char *line, *err;
} bad_requests[] = {
	{ "", "empty request" },
	{ "   \t\r", "empty request" },
	{ "[]", "request must be a JSON object" },
	{ "[{\"execute\":\"ping\"}]", "request must be a JSON object" },
	{ "\"ping\"", "request must be a JSON object" },
	{ "42", "request must be a JSON object" },
	{ "null", "request must be a JSON object" },
	{ "{}", "missing \"execute\"" },
	{ "{\"arguments\":{}}", "missing \"execute\"" },
	{ "{\"execute\":1}", "\"execute\" must be a string" },
	{ "{\"execute\":null}", "\"execute\" must be a string" },
	{ "{\"execute\":[\"ping\"]}", "\"execute\" must be a string" },
	{ "{\"execute\":\"\"}", "command name is empty" },
	{ "{\"execute\":\"Ping\"}",
	  "command name has an invalid character at offset 0 (allowed: a-z 0-9 - _)" },
	{ "{\"execute\":\"pi ng\"}",
	  "command name has an invalid character at offset 2 (allowed: a-z 0-9 - _)" },
	{ "{\"execute\":\"a.b\"}",
	  "command name has an invalid character at offset 1 (allowed: a-z 0-9 - _)" },
	{ "{\"execute\":\"ab\\n\"}",
	  "command name has an invalid character at offset 2 (allowed: a-z 0-9 - _)" },
	{ "{\"execute\":\"caf\\u00e9\"}",
	  "command name has an invalid character at offset 3 (allowed: a-z 0-9 - _)" },
	{ "{\"execute\":\"x\",\"arguments\":[]}", "\"arguments\" must be an object" },
	{ "{\"execute\":\"x\",\"arguments\":null}", "\"arguments\" must be an object" },
	{ "{\"execute\":\"x\",\"arguments\":\"a=b\"}", "\"arguments\" must be an object" },
	{ "{\"execute\":\"x\",\"foo\":1}", "unknown key \"foo\" in request" },
	{ "{\"execute\":\"x\",\"Execute\":\"y\"}", "unknown key \"Execute\" in request" },
	{ "{\"execute\":\"x\",\"\":1}", "unknown key \"\" in request" },
	{ "{\"execute\":\"x\",\"0123456789012345678901234567890123456789\":1}",
	  "unknown key \"01234567890123456789012345678901\" in request" },
	{ "{\"execute\":\"x\",\"k\\u00e9y\\n\":1}", "unknown key \"k??y?\" in request" },
	{ "{\"execute\":\"a\",\"execute\":\"b\"}",
	  "malformed JSON (column 24): duplicate object key near '\"execute\"'" },
	{ "{\"execute\":\"x\"", "malformed JSON (column 14): '}' expected near end of file" },
	{ "{\"execute\":\"x\"} {}",
	  "malformed JSON (column 17): end of file expected near '{'" },
	{ "{\"execute\":\"x\",}",
	  "malformed JSON (column 16): string or '}' expected near '}'" },
	{ "{'execute':'x'}", "malformed JSON (column 2): string or '}' expected near '''" },
	{ "{\"execute\":\"x\\u0000\"}",
	  "malformed JSON (column 20): \\u0000 is not allowed without JSON_ALLOW_NUL "
	  "near '\"x\\u0000\"'" },
	{ "{\"execute\":\"\xff\"}",
	  "malformed JSON (column 12): unable to decode byte 0xff near '\"'" },
	{ "{\"execute\":\"x\",\"id\":1e999}",
	  "malformed JSON (column 25): real number overflow near '1e999'" },
};

static void test_parse_bad(void **state)
{
	size_t failed = 0;

	(void)state;
	/* Check every entry and report all mismatches, not just the first. */
	for (size_t i = 0; i < ARRAY_SIZE(bad_requests); i++) {
		const char *line = bad_requests[i].line;
		struct ctl_request req;
		char err[256];
		int ret = ctlproto_parse(line, strlen(line), &req, err, sizeof(err));

		if (ret == -EINVAL && strcmp(err, bad_requests[i].err) == 0)
			continue;
		print_error("bad[%zu] %s:\n  want: %s\n  got:  %d %s\n", i, line,
			    bad_requests[i].err, ret, ret ? err : "(parsed)");
		if (ret == 0)
			ctlproto_request_free(&req);
		failed++;
	}
	assert_int_equal(failed, 0);
	/* And the failure contract once more through the full checker. */
	expect_err(bad_requests[0].line, bad_requests[0].err);
}

static void test_parse_nul_byte(void **state)
{
	static const char line[] = "{\"execute\":\"ping\"}\0garbage";

	(void)state;
	expect_err_len(line, sizeof(line) - 1, "request contains a NUL byte at offset 18");
	expect_err_len("\0", 1, "request contains a NUL byte at offset 0");
	/* The length given is what counts, not the C string. */
	expect_ok("{\"execute\":\"ping\"}", "ping", "{}", NULL);
}

/* A request padded with spaces up to exactly len bytes. */
static char *padded_request(size_t len)
{
	static const char req[] = "{\"execute\":\"ping\"}";
	char *line = malloc(len + 1);

	assert_non_null(line);
	assert_true(len >= sizeof(req) - 1);
	memset(line, ' ', len);
	memcpy(line, req, sizeof(req) - 1);
	line[len] = '\0';
	return line;
}

static void test_parse_line_limit(void **state)
{
	char *line = padded_request(CTLPROTO_MAX_LINE);
	char want[128];

	(void)state;
	expect_ok(line, "ping", "{}", NULL);
	free(line);
	line = padded_request(CTLPROTO_MAX_LINE + 1);
	snprintf(want, sizeof(want), "request line too long (%d bytes, limit %d)",
		 CTLPROTO_MAX_LINE + 1, CTLPROTO_MAX_LINE);
	expect_err(line, want);
	free(line);
	/* The length check comes first: nothing of the content is looked at. */
	expect_err_len("x", (size_t)CTLPROTO_MAX_LINE * 4,
		       "request line too long (262144 bytes, limit 65536)");
}

static void test_parse_name_limit(void **state)
{
	char name[CTLPROTO_MAX_NAME + 2];
	char line[256];

	(void)state;
	memset(name, 'a', sizeof(name));
	name[CTLPROTO_MAX_NAME - 1] = '\0';
	snprintf(line, sizeof(line), "{\"execute\":\"%s\"}", name);
	expect_ok(line, name, "{}", NULL);
	name[CTLPROTO_MAX_NAME - 1] = 'a';
	name[CTLPROTO_MAX_NAME] = '\0';
	snprintf(line, sizeof(line), "{\"execute\":\"%s\"}", name);
	expect_err(line, "command name too long (64 bytes, limit 63)");
}

static void test_parse_small_err_buffer(void **state)
{
	struct ctl_request req;
	char err[8];

	(void)state;
	memset(err, 'X', sizeof(err));
	assert_int_equal(ctlproto_parse("[]", 2, &req, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "request");
	memset(err, 'X', sizeof(err));
	assert_int_equal(ctlproto_parse("[]", 2, &req, err, 1), -EINVAL);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'X');
	/* No buffer at all is tolerated. */
	assert_int_equal(ctlproto_parse("[]", 2, &req, NULL, 0), -EINVAL);
}

/* Error texts only ever hold printable ASCII, whatever the input bytes. */
static void test_parse_err_is_printable(void **state)
{
	static const char *const lines[] = {
		"{\"execute\":\"\xc3\x28\"}", "\x80\x81{", "{\"a\x01\":1}",
		"{\"execute\":\"x\",\"\xe2\x98\x83\":1}", "{\"execute\":\"x\",\"id\":\x7f}",
	};
	struct ctl_request req;
	char err[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++) {
		assert_int_equal(ctlproto_parse(lines[i], strlen(lines[i]), &req, err,
						sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
		for (const char *p = err; *p; p++)
			assert_true(*p >= 0x20 && *p <= 0x7e);
	}
}

/* ---- golden files ---- */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of the NAME.in files in the golden directory (names w/o .in). */
static size_t golden_list(char **names, size_t max)
{
	DIR *dir = opendir(GOLDEN_DIR);
	struct dirent *de;
	size_t n = 0;

	if (!dir)
		fail_msg("cannot open %s: %s", GOLDEN_DIR, strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 4 || strcmp(de->d_name + len - 3, ".in") != 0)
			continue;
		assert_true(n < max);
		names[n] = strndup(de->d_name, len - 3);
		assert_non_null(names[n]);
		n++;
	}
	closedir(dir);
	qsort(names, n, sizeof(names[0]), cmp_names);
	return n;
}

static void golden_write(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Compare (or, in update mode, rewrite) NAME.out for NAME.in; true if equal. */
static bool golden_check_one(const char *name, bool update)
{
	char path[1024], got[GOLDEN_MAX_OUT];
	uint8_t *in = NULL, *want = NULL;
	size_t inlen, wantlen;
	bool same;

	snprintf(path, sizeof(path), "%s/%s.in", GOLDEN_DIR, name);
	assert_int_equal(util_read_file(path, 2 * CTLPROTO_MAX_LINE, &in, &inlen), 0);
	if (inlen > 0 && in[inlen - 1] == '\n')
		inlen--; /* the line's terminator is not part of the request */
	golden_format((const char *)in, inlen, got, sizeof(got));
	free(in);
	snprintf(path, sizeof(path), "%s/%s.out", GOLDEN_DIR, name);
	if (update) {
		golden_write(path, got);
		return true;
	}
	if (util_read_file(path, GOLDEN_MAX_OUT, &want, &wantlen) < 0) {
		print_error("golden %s: missing %s\n", name, path);
		return false;
	}
	same = wantlen == strlen(got) && memcmp(want, got, wantlen) == 0;
	if (!same)
		print_error("golden %s:\n--- expected\n%.*s--- got\n%s", name,
			    (int)wantlen, (const char *)want, got);
	free(want);
	return same;
}

static void test_golden(void **state)
{
	const char *env = getenv("VMKIT_GOLDEN_UPDATE");
	bool update = env && strcmp(env, "1") == 0;
	char *names[GOLDEN_MAX_FILES];
	size_t n = golden_list(names, ARRAY_SIZE(names)), failed = 0;

	(void)state;
	assert_true(n >= 20);
	for (size_t i = 0; i < n; i++) {
		if (!golden_check_one(names[i], update))
			failed++;
		free(names[i]);
	}
	if (update)
		print_message("updated %zu golden files in %s\n", n, GOLDEN_DIR);
	assert_int_equal(failed, 0);
}

/* ---- builders ---- */

static void expect_line(char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_reply_ok(void **state)
{
	json_t *id = json_integer(42), *sid = json_string("req-1");

	(void)state;
	expect_line(ctlproto_reply_ok(NULL, NULL), "{\"return\":{}}\n");
	expect_line(ctlproto_reply_ok(NULL, id), "{\"return\":{},\"id\":42}\n");
	expect_line(ctlproto_reply_ok(json_pack("{sb}", "pong", 1), id),
		    "{\"return\":{\"pong\":true},\"id\":42}\n");
	expect_line(ctlproto_reply_ok(json_pack("{sssi}", "status", "running", "n", 3), sid),
		    "{\"return\":{\"status\":\"running\",\"n\":3},\"id\":\"req-1\"}\n");
	expect_line(ctlproto_reply_ok(json_pack("[ii]", 1, 2), NULL), "{\"return\":[1,2]}\n");
	/* The id is borrowed: still ours. */
	assert_int_equal(id->refcount, 1);
	assert_int_equal(sid->refcount, 1);
	json_decref(id);
	json_decref(sid);
}

static void test_reply_error(void **state)
{
	json_t *id = json_pack("{si}", "seq", 5);

	(void)state;
	expect_line(ctlproto_reply_error("CommandNotFound", "The command foo has not been found",
					 NULL),
		    "{\"error\":{\"class\":\"CommandNotFound\","
		    "\"desc\":\"The command foo has not been found\"}}\n");
	expect_line(ctlproto_reply_error("GenericError", "bad \"quote\"\n\ttab", id),
		    "{\"error\":{\"class\":\"GenericError\","
		    "\"desc\":\"bad \\\"quote\\\"\\n\\ttab\"},\"id\":{\"seq\":5}}\n");
	/* Invalid UTF-8 in a message still gives a valid line. */
	expect_line(ctlproto_reply_error("GenericError", "bad \xff byte", NULL),
		    "{\"error\":{\"class\":\"GenericError\",\"desc\":\"bad ? byte\"}}\n");
	expect_line(ctlproto_reply_error("GenericError", NULL, NULL),
		    "{\"error\":{\"class\":\"GenericError\",\"desc\":\"\"}}\n");
	assert_int_equal(id->refcount, 1);
	json_decref(id);
}

static void test_event(void **state)
{
	(void)state;
	expect_line(ctlproto_event("SHUTDOWN", NULL, 1700000000123456789ULL),
		    "{\"event\":\"SHUTDOWN\",\"timestamp\":"
		    "{\"seconds\":1700000000,\"microseconds\":123456}}\n");
	expect_line(ctlproto_event("RESET", json_pack("{sb}", "guest", 1), 999),
		    "{\"event\":\"RESET\",\"data\":{\"guest\":true},\"timestamp\":"
		    "{\"seconds\":0,\"microseconds\":0}}\n");
	expect_line(ctlproto_event("X", json_object(), 1999999999ULL),
		    "{\"event\":\"X\",\"data\":{},\"timestamp\":"
		    "{\"seconds\":1,\"microseconds\":999999}}\n");
	expect_line(ctlproto_event("MAX", NULL, UINT64_MAX),
		    "{\"event\":\"MAX\",\"timestamp\":"
		    "{\"seconds\":18446744073,\"microseconds\":709551}}\n");
	/* No name: nothing built, data still released (ASan would see a leak). */
	assert_null(ctlproto_event(NULL, json_pack("{si}", "a", 1), 0));
}

static void test_greeting(void **state)
{
	(void)state;
	expect_line(ctlproto_greeting("1.2.3"),
		    "{\"QMP\":{\"version\":{\"vmkit\":\"1.2.3\"},\"capabilities\":[]}}\n");
	assert_null(ctlproto_greeting(NULL));
}

/* A built reply parses back into JSON with the fields we put in. */
static void test_builders_roundtrip(void **state)
{
	json_t *id = json_string("r\"1"), *back;
	json_error_t jerr;
	char *line;
	size_t len;

	(void)state;
	line = ctlproto_reply_ok(json_pack("{ss}", "k", "v\n"), id);
	assert_non_null(line);
	len = strlen(line);
	assert_int_equal(line[len - 1], '\n');
	assert_null(memchr(line, '\n', len - 1));
	back = json_loadb(line, len, 0, &jerr);
	assert_non_null(back);
	assert_true(json_equal(json_object_get(back, "id"), id));
	assert_string_equal(json_string_value(json_object_get(json_object_get(back, "return"),
							      "k")), "v\n");
	json_decref(back);
	json_decref(id);
	free(line);
}

static void test_request_free_null(void **state)
{
	struct ctl_request req;

	(void)state;
	ctlproto_request_free(NULL);
	memset(&req, 0, sizeof(req));
	ctlproto_request_free(&req);
	ctlproto_request_free(&req);
}

/* "golden" as the only argument runs the golden-file comparison alone (the
 * golden suite); without arguments everything else runs (the unit suite). */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_nul_byte),
		cmocka_unit_test(test_parse_line_limit),
		cmocka_unit_test(test_parse_name_limit),
		cmocka_unit_test(test_parse_small_err_buffer),
		cmocka_unit_test(test_parse_err_is_printable),
		cmocka_unit_test(test_reply_ok),
		cmocka_unit_test(test_reply_error),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_builders_roundtrip),
		cmocka_unit_test(test_request_free_null),
	};
	const struct CMUnitTest golden[] = {
		cmocka_unit_test(test_golden),
	};

	if (argc == 2 && strcmp(argv[1], "golden") == 0)
		return cmocka_run_group_tests_name("golden", golden, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
