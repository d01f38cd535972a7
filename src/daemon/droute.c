/* droute: THE route table and the checks every request passes before a
 * handler sees it (see droute.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "conf/domain_name.h"
#include "droute.h"

enum droute_field { F_XML, F_PAUSED, F_TIMEOUT, F_GRACEFUL, F_AUTOSTART, F_COUNT_ };
enum droute_query { Q_ALL, Q_INACTIVE, Q_FORCE, Q_SINCE, Q_FOLLOW, Q_COUNT_ };
#define B(x) (1u << (x))

struct droute_route {
	const char *method;
	const char *pattern;       /* "*" segment = {dom} */
	enum droute_id id;
	enum dstate_op op;
	bool write;
	unsigned fields, required; /* body fields (B(F_...)) */
	unsigned query;            /* query arguments (B(Q_...)) */
};

/* THE route table. A literal segment is preferred over {dom}: the first
 * entry whose path and method match wins. */
static const struct droute_route droute_table[] = {
	{ "GET", "/v1/version", DR_VERSION, DOP_QUERY, false, 0, 0, 0 },
	{ "GET", "/v1/host", DR_HOST, DOP_QUERY, false, 0, 0, 0 },
	{ "GET", "/v1/stats", DR_STATS, DOP_QUERY, false, 0, 0, 0 },
	{ "GET", "/v1/metrics", DR_METRICS, DOP_QUERY, false, 0, 0, 0 },
	{ "GET", "/v1/events", DR_EVENTS, DOP_QUERY, false, 0, 0, B(Q_SINCE) | B(Q_FOLLOW) },
	{ "GET", "/v1/domains", DR_LIST, DOP_QUERY, false, 0, 0, B(Q_ALL) },
	{ "POST", "/v1/domains", DR_DEFINE, DOP_QUERY, true, B(F_XML), B(F_XML), 0 },
	{ "POST", "/v1/domains/create", DR_CREATE, DOP_QUERY, true, B(F_XML) | B(F_PAUSED),
	  B(F_XML), 0 },
	{ "GET", "/v1/domains/*", DR_INFO, DOP_QUERY, false, 0, 0, 0 },
	{ "DELETE", "/v1/domains/*", DR_UNDEFINE, DOP_UNDEFINE, true, 0, 0, 0 },
	{ "GET", "/v1/domains/*/xml", DR_XML, DOP_QUERY, false, 0, 0, B(Q_INACTIVE) },
	{ "POST", "/v1/domains/*/start", DR_START, DOP_START, true, B(F_PAUSED), 0, 0 },
	{ "POST", "/v1/domains/*/shutdown", DR_SHUTDOWN, DOP_SHUTDOWN, true, B(F_TIMEOUT), 0, 0 },
	{ "POST", "/v1/domains/*/reboot", DR_REBOOT, DOP_REBOOT, true, 0, 0, 0 },
	{ "POST", "/v1/domains/*/reset", DR_RESET, DOP_RESET, true, 0, 0, 0 },
	{ "POST", "/v1/domains/*/destroy", DR_DESTROY, DOP_DESTROY, true, B(F_GRACEFUL), 0, 0 },
	{ "POST", "/v1/domains/*/suspend", DR_SUSPEND, DOP_SUSPEND, true, 0, 0, 0 },
	{ "POST", "/v1/domains/*/resume", DR_RESUME, DOP_RESUME, true, 0, 0, 0 },
	{ "PUT", "/v1/domains/*/autostart", DR_AUTOSTART, DOP_QUERY, true, B(F_AUTOSTART),
	  B(F_AUTOSTART), 0 },
	{ "GET", "/v1/domains/*/stats", DR_DOMSTATS, DOP_QUERY, false, 0, 0, 0 },
	{ "GET", "/v1/domains/*/console", DR_CONSOLE, DOP_CONSOLE, true, 0, 0, B(Q_FORCE) },
};

enum droute_type { T_STRING, T_BOOL, T_INT };

static const struct {
	const char *name;
	enum droute_type type;
	long long min, max;
} droute_fields[F_COUNT_] = {
	[F_XML] = { "xml", T_STRING, 0, 0 },
	[F_PAUSED] = { "paused", T_BOOL, 0, 0 },
	[F_TIMEOUT] = { "timeout", T_INT, 0, 3600 },
	[F_GRACEFUL] = { "graceful", T_BOOL, 0, 0 },
	[F_AUTOSTART] = { "autostart", T_BOOL, 0, 0 },
};

static const char *const droute_queries[Q_COUNT_] = {
	[Q_ALL] = "all", [Q_INACTIVE] = "inactive", [Q_FORCE] = "force",
	[Q_SINCE] = "since", [Q_FOLLOW] = "follow",
};

bool droute_dom_valid(const char *s)
{
	return util_uuid_canonical(s) || domain_name_valid(s);
}

/* Does path match pattern? The {dom} segment goes to dom (if it fits). */
static bool droute_path_match(const char *pattern, const char *path, char *dom, size_t domlen)
{
	while (*pattern && *path) {
		if (*pattern == '*') {
			size_t n = strcspn(path, "/");

			if (n == 0 || n >= domlen)
				return false;
			memcpy(dom, path, n);
			dom[n] = 0;
			path += n;
			pattern++;
			continue;
		}
		if (*pattern++ != *path++)
			return false;
	}
	return *pattern == 0 && *path == 0;
}

/* The route for method + path, or an error: 404 no-route, 405. */
static const struct droute_route *droute_find(const char *method, const char *path,
					      char *dom, size_t domlen, struct derr *err)
{
	bool path_known = false;
	char tmp[256];

	for (size_t i = 0; i < ARRAY_SIZE(droute_table); i++) {
		const struct droute_route *r = &droute_table[i];

		tmp[0] = 0;
		if (!droute_path_match(r->pattern, path, tmp, sizeof(tmp)))
			continue;
		path_known = true;
		if (strcmp(r->method, method) == 0) {
			memcpy(dom, tmp, sizeof(tmp));
			return r;
		}
	}
	if (path_known)
		derr_set(err, DERR_METHOD_NOT_ALLOWED, "method %.16s is not allowed on %.200s",
			 method, path);
	else
		derr_set(err, DERR_NO_ROUTE, "no route %.16s %.200s (paths start with /v1/, "
			 "see docs/api.md)", method, path);
	return NULL;
}

static int droute_bool(const char *key, const char *v, bool *out, struct derr *err)
{
	static const char *const yes[] = { "", "1", "true", "yes" }, *const no[] = { "0", "false", "no" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (!v || strcmp(v, yes[i]) == 0)
			return *out = true, 0;
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (strcmp(v, no[i]) == 0)
			return *out = false, 0;
	return derr_set(err, DERR_INVALID_ARGUMENT, "query argument '%s' must be 1 or 0, "
			"not '%.64s'", key, v);
}

static int droute_query_one(const struct droute_route *r, const struct droute_arg *a,
			    struct droute_req *req, struct derr *err)
{
	bool *flags[Q_COUNT_] = { [Q_ALL] = &req->all, [Q_INACTIVE] = &req->inactive,
				  [Q_FORCE] = &req->force, [Q_FOLLOW] = &req->follow };
	size_t q;

	for (q = 0; q < Q_COUNT_; q++)
		if ((r->query & B(q)) && strcmp(a->key, droute_queries[q]) == 0)
			break;
	if (q == Q_COUNT_)
		return derr_set(err, DERR_INVALID_ARGUMENT, "unknown query argument '%.64s' for "
				"%s", a->key, r->pattern);
	if (q != Q_SINCE)
		return droute_bool(a->key, a->value, flags[q], err);
	if (!a->value || util_parse_uint(a->value, 0, INT64_MAX, &req->since) < 0)
		return derr_set(err, DERR_INVALID_ARGUMENT, "query argument 'since' must be a "
				"sequence number, not '%.64s'", a->value ? a->value : "");
	req->has_since = true;
	return 0;
}

static int droute_field(enum droute_field f, json_t *v, struct droute_req *req,
			struct derr *err)
{
	bool *flags[F_COUNT_] = { [F_PAUSED] = &req->paused, [F_GRACEFUL] = &req->graceful,
				  [F_AUTOSTART] = &req->autostart };
	const char *name = droute_fields[f].name;

	switch (droute_fields[f].type) {
	case T_STRING:
		if (!json_is_string(v))
			return derr_set(err, DERR_INVALID_ARGUMENT, "'%s' must be a string", name);
		req->xml = strndup(json_string_value(v), json_string_length(v));
		if (!req->xml || strlen(req->xml) != json_string_length(v))
			return derr_set(err, DERR_INVALID_ARGUMENT, "'%s' must not contain NUL "
					"characters", name);
		return 0;
	case T_BOOL:
		if (!json_is_boolean(v))
			return derr_set(err, DERR_INVALID_ARGUMENT, "'%s' must be true or false", name);
		*flags[f] = json_is_true(v);
		return 0;
	case T_INT:
		if (!json_is_integer(v) || json_integer_value(v) < droute_fields[f].min ||
		    json_integer_value(v) > droute_fields[f].max)
			return derr_set(err, DERR_INVALID_ARGUMENT, "'%s' must be an integer "
					"%lld..%lld", name, droute_fields[f].min, droute_fields[f].max);
		req->timeout = (int)json_integer_value(v);
		return 0;
	}
	return derr_set(err, DERR_INTERNAL, "field type");
}

static size_t droute_field_find(const char *key, unsigned allowed)
{
	for (size_t f = 0; f < F_COUNT_; f++)
		if ((allowed & B(f)) && strcmp(key, droute_fields[f].name) == 0)
			return f;
	return F_COUNT_;
}

static int droute_body(const struct droute_route *r, const char *body, size_t len,
		       struct droute_req *req, struct derr *err)
{
	json_error_t jerr;
	json_t *obj = NULL, *v;
	const char *key;
	unsigned seen = 0;
	int ret = 0;

	if (len) {
		obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
		if (!obj)
			return derr_set(err, DERR_INVALID_JSON, "the body is not JSON: %s "
					"(line %d column %d)", jerr.text, jerr.line, jerr.column);
		if (!json_is_object(obj)) {
			json_decref(obj);
			return derr_set(err, DERR_INVALID_JSON, "the body must be a JSON object");
		}
	}
	json_object_foreach(obj, key, v) {
		size_t f = droute_field_find(key, r->fields);

		ret = f == F_COUNT_ ? derr_set(err, DERR_INVALID_ARGUMENT, "unknown field "
					       "'%.64s' for %s %s", key, r->method, r->pattern)
				    : droute_field((enum droute_field)f, v, req, err);
		if (ret < 0)
			break;
		seen |= B(f);
	}
	json_decref(obj);
	for (size_t f = 0; ret == 0 && f < F_COUNT_; f++)
		if ((r->required & B(f)) && !(seen & B(f)))
			ret = derr_set(err, DERR_INVALID_ARGUMENT, "the body needs '%s'",
				       droute_fields[f].name);
	return ret;
}

/* The route of method + path with req's defaults, id, op, write and dom. */
static const struct droute_route *droute_route(const char *method, const char *path,
					       struct droute_req *req, struct derr *err)
{
	const struct droute_route *r;

	memset(req, 0, sizeof(*req));
	req->timeout = -1;
	req->follow = true;
	r = droute_find(method, path, req->dom, sizeof(req->dom), err);
	if (r) {
		req->id = r->id;
		req->op = r->op;
		req->write = r->write;
	}
	return r;
}

int droute_match(const char *method, const char *path, struct droute_req *req,
		 struct derr *err)
{
	return droute_route(method, path, req, err) ? 0 : -EINVAL;
}

int droute_parse(const char *method, const char *path, const struct droute_arg *args,
		 size_t nargs, const char *body, size_t len, struct droute_req *req,
		 struct derr *err)
{
	const struct droute_route *r = droute_route(method, path, req, err);
	int ret;

	if (!r)
		return -EINVAL;
	if (strchr(r->pattern, '*') && !droute_dom_valid(req->dom))
		return derr_set(err, DERR_INVALID_ARGUMENT, "'%.64s' is neither a domain name "
				"(" DOMAIN_NAME_RULE ") nor a UUID", req->dom);
	if (len > DROUTE_BODY_MAX)
		return derr_set(err, DERR_BODY_TOO_LARGE, "%s", DROUTE_BODY_TOO_LARGE);
	for (size_t i = 0; i < nargs; i++) {
		ret = droute_query_one(r, &args[i], req, err);
		if (ret < 0)
			return ret;
	}
	ret = droute_body(r, body, len, req, err);
	if (ret < 0)
		droute_req_free(req);
	return ret;
}

void droute_req_free(struct droute_req *req)
{
	free(req->xml);
	req->xml = NULL;
}
