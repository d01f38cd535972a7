/* droute: an HTTP request (method, path, query arguments, body) checked
 * against THE route table and turned into a struct droute_req, or refused
 * with the API's error (404 no-route, 405, 400 invalid-json /
 * invalid-argument, 413). A pure function of its input: no daemon state,
 * no I/O (the fuzz target fuzz/fuzz_dapi.c drives it). */
#ifndef VMKIT_DROUTE_H
#define VMKIT_DROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "derr.h"
#include "dstate.h"

#define DROUTE_BODY_MAX (1u << 20)
#define DROUTE_BODY_TOO_LARGE "the request body is larger than 1 MiB"

enum droute_id {
	DR_VERSION,
	DR_HOST,
	DR_LIST,
	DR_DEFINE,
	DR_CREATE,
	DR_INFO,
	DR_UNDEFINE,
	DR_XML,
	DR_START,
	DR_SHUTDOWN,
	DR_REBOOT,
	DR_RESET,
	DR_DESTROY,
	DR_SUSPEND,
	DR_RESUME,
	DR_AUTOSTART,
	DR_DOMSTATS,
	DR_CONSOLE,
	DR_STATS,
	DR_METRICS,
	DR_EVENTS,
	DR_COUNT_,
};

struct droute_req {
	enum droute_id id;
	enum dstate_op op;         /* what it does to the domain */
	bool write;                /* refused on the read-only socket */
	char dom[256];             /* {dom}, percent-decoded; "" when none */
	/* Body fields (defaults when absent). */
	char *xml;                 /* define/create: malloc'd */
	bool paused, graceful, autostart;
	int timeout;               /* shutdown: seconds, -1 = none */
	/* Query arguments. */
	bool all, inactive, force, follow;
	bool has_since;
	uint64_t since;
};

/* A query argument as the HTTP server decoded it (value NULL = "?key"). */
struct droute_arg {
	const char *key;
	const char *value;
};

/* 0 and *req filled (release with droute_req_free), or -EINVAL with err
 * set. path is the decoded-once path without the query; body may be NULL
 * (len 0); a len over DROUTE_BODY_MAX is 413 without looking at body. */
int droute_parse(const char *method, const char *path, const struct droute_arg *args,
		 size_t nargs, const char *body, size_t len, struct droute_req *req,
		 struct derr *err);
void droute_req_free(struct droute_req *req);

/* Only the route: 0 and req's id, op, write and dom (not checked), or
 * -EINVAL with err set (404 no-route, 405). Needs nothing but the request
 * line, so that a server can refuse a write before reading its body. */
int droute_match(const char *method, const char *path, struct droute_req *req,
		 struct derr *err);

/* A name (domain_name_valid, src/conf/domain_name.h) or a canonical UUID. */
bool droute_dom_valid(const char *s);

#endif
