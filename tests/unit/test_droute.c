/* test_droute: the API's route table and request checks (src/daemon/droute.c):
 * every route reachable, literal segments before {dom}, 404/405, domain
 * identifiers, query arguments, body fields, the body limit, error codes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/droute.h"

static int parse(const char *method, const char *path, const char *body,
		 struct droute_req *req, struct derr *err)
{
	memset(err, 0, sizeof(*err));
	return droute_parse(method, path, NULL, 0, body, body ? strlen(body) : 0, req, err);
}

static void test_routes(void **state)
{
	static const struct {
		const char *method, *path;
		enum droute_id id;
		enum dstate_op op;
		bool write;
		const char *dom;
	} cases[] = {
		{ "GET", "/v1/version", DR_VERSION, DOP_QUERY, false, "" },
		{ "GET", "/v1/host", DR_HOST, DOP_QUERY, false, "" },
		{ "GET", "/v1/domains", DR_LIST, DOP_QUERY, false, "" },
		{ "GET", "/v1/domains/create", DR_INFO, DOP_QUERY, false, "create" },
		{ "DELETE", "/v1/domains/web", DR_UNDEFINE, DOP_UNDEFINE, true, "web" },
		{ "GET", "/v1/domains/web/xml", DR_XML, DOP_QUERY, false, "web" },
		{ "POST", "/v1/domains/web/start", DR_START, DOP_START, true, "web" },
		{ "POST", "/v1/domains/web/shutdown", DR_SHUTDOWN, DOP_SHUTDOWN, true, "web" },
		{ "POST", "/v1/domains/web/reboot", DR_REBOOT, DOP_REBOOT, true, "web" },
		{ "POST", "/v1/domains/web/reset", DR_RESET, DOP_RESET, true, "web" },
		{ "POST", "/v1/domains/web/destroy", DR_DESTROY, DOP_DESTROY, true, "web" },
		{ "POST", "/v1/domains/web/suspend", DR_SUSPEND, DOP_SUSPEND, true, "web" },
		{ "POST", "/v1/domains/web/resume", DR_RESUME, DOP_RESUME, true, "web" },
		{ "GET", "/v1/domains/web/stats", DR_DOMSTATS, DOP_QUERY, false, "web" },
		{ "GET", "/v1/domains/web/console", DR_CONSOLE, DOP_CONSOLE, true, "web" },
		{ "GET", "/v1/stats", DR_STATS, DOP_QUERY, false, "" },
		{ "GET", "/v1/metrics", DR_METRICS, DOP_QUERY, false, "" },
		{ "GET", "/v1/events", DR_EVENTS, DOP_QUERY, false, "" },
		{ "GET", "/v1/domains/6D1F0B5E-1b1a-4c51-9a59-2f4a2b0c9d11", DR_INFO, DOP_QUERY, false,
		  "6D1F0B5E-1b1a-4c51-9a59-2f4a2b0c9d11" },
	};
	struct droute_req req;
	struct derr err;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(parse(cases[i].method, cases[i].path, NULL, &req, &err), 0);
		assert_int_equal(req.id, cases[i].id);
		assert_int_equal(req.op, cases[i].op);
		assert_int_equal(req.write, cases[i].write);
		assert_string_equal(req.dom, cases[i].dom);
		droute_req_free(&req);
	}
	assert_int_equal(parse("POST", "/v1/domains", "{\"xml\":\"<domain/>\"}", &req, &err), 0);
	assert_int_equal(req.id, DR_DEFINE);
	assert_string_equal(req.xml, "<domain/>");
	droute_req_free(&req);
	assert_int_equal(parse("POST", "/v1/domains/create", "{\"xml\":\"x\",\"paused\":true}",
			       &req, &err), 0);
	assert_true(req.id == DR_CREATE && req.paused && req.write);
	droute_req_free(&req);
	assert_int_equal(parse("PUT", "/v1/domains/a/autostart", "{\"autostart\":false}",
			       &req, &err), 0);
	assert_true(req.id == DR_AUTOSTART && !req.autostart);
	droute_req_free(&req);
}

static void test_not_found(void **state)
{
	static const struct { const char *method, *path; enum derr_code code; } cases[] = {
		{ "GET", "/", DERR_NO_ROUTE }, { "GET", "/v1", DERR_NO_ROUTE },
		{ "GET", "/v1/", DERR_NO_ROUTE }, { "GET", "/v2/version", DERR_NO_ROUTE },
		{ "GET", "/v1/version/", DERR_NO_ROUTE }, { "GET", "/v1/domains/", DERR_NO_ROUTE },
		{ "GET", "/v1/domains//xml", DERR_NO_ROUTE },
		{ "GET", "/v1/domains/a/b/c", DERR_NO_ROUTE },
		{ "POST", "/v1/version", DERR_METHOD_NOT_ALLOWED },
		{ "GET", "/v1/domains/a/start", DERR_METHOD_NOT_ALLOWED },
		{ "PATCH", "/v1/domains/a", DERR_METHOD_NOT_ALLOWED },
		{ "POST", "/v1/domains/a/autostart", DERR_METHOD_NOT_ALLOWED },
	};
	struct droute_req req;
	struct derr err;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(parse(cases[i].method, cases[i].path, NULL, &req, &err), -EINVAL);
		assert_int_equal(err.code, cases[i].code);
		assert_non_null(strstr(err.msg, cases[i].path));
	}
	assert_int_equal(derr_status(DERR_NO_ROUTE), 404);
	assert_int_equal(derr_status(DERR_ACCESS_DENIED), 403);
	assert_string_equal(derr_name(DERR_ACCESS_DENIED), "access-denied");
	/* the route alone, before any body: what the read-only socket needs */
	assert_int_equal(droute_match("POST", "/v1/domains/a b/start", &req, &err), 0);
	assert_true(req.write);
	assert_int_equal(req.id, DR_START);
	assert_int_equal(droute_match("GET", "/v1/domains/x", &req, &err), 0);
	assert_false(req.write);
	assert_int_equal(droute_match("PATCH", "/v1/domains/x", &req, &err), -EINVAL);
	assert_int_equal(err.code, DERR_METHOD_NOT_ALLOWED);
	assert_int_equal(derr_status(DERR_METHOD_NOT_ALLOWED), 405);
	assert_string_equal(derr_name(DERR_METHOD_NOT_ALLOWED), "method-not-allowed");
}

static void test_dom_identifiers(void **state)
{
	static const char *const good[] = { "a", "web-1", "x.y_z+1", "0a", "a0",
		"6d1f0b5e-1b1a-4c51-9a59-2f4a2b0c9d11", "123456789012345678901234567890123456789012"
		"345678901234567890a" };
	static const char *const bad[] = { "", "123", "0", "-a", "-1", "a b", "a%20b", "é", "a\"b", "..'",
		"1234567890123456789012345678901234567890123456789012345678901234",
		"6d1f0b5e 1b1a-4c51-9a59-2f4a2b0c9d11" };
	struct droute_req req;
	struct derr err;
	char path[512];

	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_true(droute_dom_valid(good[i]));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_false(droute_dom_valid(bad[i]));
	assert_int_equal(parse("GET", "/v1/domains/a b", NULL, &req, &err), -EINVAL);
	assert_int_equal(err.code, DERR_INVALID_ARGUMENT);
	memset(path, 0, sizeof(path));
	strcpy(path, "/v1/domains/");
	memset(path + 12, 'a', 300);
	assert_int_equal(parse("GET", path, NULL, &req, &err), -EINVAL);
	assert_int_equal(err.code, DERR_NO_ROUTE);
}

static void test_query(void **state)
{
	struct droute_arg all = { "all", "1" }, bare = { "all", NULL }, no = { "all", "0" };
	struct droute_arg since[] = { { "since", "42" }, { "follow", "false" } };
	struct droute_arg bad[][1] = { { { "all", "maybe" } }, { { "since", "-1" } },
				       { { "since", NULL } }, { { "bogus", "1" } } };
	struct droute_req req;
	struct derr err;

	assert_int_equal(droute_parse("GET", "/v1/domains", &all, 1, NULL, 0, &req, &err), 0);
	assert_true(req.all);
	assert_int_equal(droute_parse("GET", "/v1/domains", &bare, 1, NULL, 0, &req, &err), 0);
	assert_true(req.all);
	assert_int_equal(droute_parse("GET", "/v1/domains", &no, 1, NULL, 0, &req, &err), 0);
	assert_false(req.all);
	assert_int_equal(droute_parse("GET", "/v1/events", since, 2, NULL, 0, &req, &err), 0);
	assert_true(req.has_since && req.since == 42 && !req.follow);
	assert_int_equal(droute_parse("GET", "/v1/events", NULL, 0, NULL, 0, &req, &err), 0);
	assert_true(!req.has_since && req.follow);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(droute_parse("GET", i < 1 ? "/v1/domains" : "/v1/events", bad[i],
					      1, NULL, 0, &req, &err), -EINVAL);
		assert_int_equal(err.code, DERR_INVALID_ARGUMENT);
	}
	/* a known argument on a route that does not take it */
	assert_int_equal(droute_parse("GET", "/v1/version", &all, 1, NULL, 0, &req, &err), -EINVAL);
}

static void test_bodies(void **state)
{
	static const struct { const char *method, *path, *body; enum derr_code code; } cases[] = {
		{ "POST", "/v1/domains", "", DERR_INVALID_ARGUMENT },        /* xml required */
		{ "POST", "/v1/domains", "{}", DERR_INVALID_ARGUMENT },
		{ "POST", "/v1/domains", "{\"xml\":1}", DERR_INVALID_ARGUMENT },
		{ "POST", "/v1/domains", "{\"xml\":\"a\\u0000b\"}", DERR_INVALID_JSON },
		{ "POST", "/v1/domains", "{\"xml\":\"a\",\"xml\":\"b\"}", DERR_INVALID_JSON },
		{ "POST", "/v1/domains", "not json", DERR_INVALID_JSON },
		{ "POST", "/v1/domains", "[]", DERR_INVALID_JSON },
		{ "POST", "/v1/domains", "\"x\"", DERR_INVALID_JSON },
		{ "POST", "/v1/domains", "{\"xml\":\"a\"} x", DERR_INVALID_JSON },
		{ "POST", "/v1/domains/a/start", "{\"paused\":1}", DERR_INVALID_ARGUMENT },
		{ "POST", "/v1/domains/a/start", "{\"timeout\":1}", DERR_INVALID_ARGUMENT },
		{ "POST", "/v1/domains/a/shutdown", "{\"timeout\":-1}", DERR_INVALID_ARGUMENT },
		{ "POST", "/v1/domains/a/shutdown", "{\"timeout\":3601}", DERR_INVALID_ARGUMENT },
		{ "POST", "/v1/domains/a/shutdown", "{\"timeout\":1.5}", DERR_INVALID_ARGUMENT },
		{ "POST", "/v1/domains/a/destroy", "{\"graceful\":\"yes\"}", DERR_INVALID_ARGUMENT },
		{ "PUT", "/v1/domains/a/autostart", "{}", DERR_INVALID_ARGUMENT },
		{ "POST", "/v1/domains/a/suspend", "{\"x\":1}", DERR_INVALID_ARGUMENT },
	};
	struct droute_req req;
	struct derr err;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int ret = droute_parse(cases[i].method, cases[i].path, NULL, 0, cases[i].body,
				       strlen(cases[i].body), &req, &err);

		assert_int_equal(ret, -EINVAL);
		assert_int_equal(err.code, cases[i].code);
		assert_null(req.xml);
	}
	assert_int_equal(parse("POST", "/v1/domains/a/shutdown", "{\"timeout\":3600}", &req, &err), 0);
	assert_int_equal(req.timeout, 3600);
	assert_int_equal(parse("POST", "/v1/domains/a/shutdown", NULL, &req, &err), 0);
	assert_int_equal(req.timeout, -1);
	assert_int_equal(parse("POST", "/v1/domains/a/suspend", "{}", &req, &err), 0);
	assert_int_equal(droute_parse("POST", "/v1/domains", NULL, 0, "{}", DROUTE_BODY_MAX + 1,
				      &req, &err), -EINVAL);
	assert_int_equal(err.code, DERR_BODY_TOO_LARGE);
	assert_int_equal(derr_status(err.code), 413);
	assert_string_equal(err.msg, "the request body is larger than 1 MiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_dom_identifiers),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_bodies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
