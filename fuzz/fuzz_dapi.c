/* fuzz_dapi: libFuzzer harness for vmkitd's request checks
 * (src/daemon/droute.c): route matching, {dom} identifiers, query arguments
 * and JSON bodies, all hostile. Input layout: byte 0 picks the method; then
 * the path up to the first newline, the query string ("k=v&k2") up to the
 * next newline, and the rest is the body. Invariants: a success names a
 * route whose {dom} is a valid identifier and whose fields are in range; a
 * failure carries an error code with a 4xx status and a message. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/droute.h"

#define FUZZ_MAX_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* Split "a=b&c&d=" in place into args; returns the count. */
static size_t fuzz_query(char *q, struct droute_arg *args)
{
	size_t n = 0;

	for (char *tok = strtok(q, "&"); tok && n < FUZZ_MAX_ARGS; tok = strtok(NULL, "&")) {
		char *eq = strchr(tok, '=');

		if (eq)
			*eq++ = 0;
		args[n++] = (struct droute_arg){ tok, eq };
	}
	return n;
}

static void fuzz_check_result(int ret, const struct droute_req *req, const struct derr *err)
{
	if (ret == 0) {
		fuzz_check(req->id < DR_COUNT_ && req->op < DOP_COUNT_);
		fuzz_check(req->dom[0] == 0 || droute_dom_valid(req->dom));
		fuzz_check(req->timeout >= -1 && req->timeout <= 3600);
		fuzz_check((req->id == DR_DEFINE || req->id == DR_CREATE) == (req->xml != NULL));
		return;
	}
	fuzz_check(err->code != DERR_NONE);
	fuzz_check(derr_status(err->code) >= 400 && derr_status(err->code) < 500);
	fuzz_check(err->msg[0] != 0 && memchr(err->msg, 0, sizeof(err->msg)) != NULL);
	fuzz_check(req->xml == NULL);
}

/* The route alone (what the read-only socket decides on before the body)
 * agrees with the full parse: a request that parses has that route. */
static void fuzz_check_match(const char *method, const char *path, int ret,
			     const struct droute_req *full)
{
	struct droute_req req;
	struct derr err = { 0 };
	int mret = droute_match(method, path, &req, &err);

	fuzz_check(mret == 0 || err.code == DERR_NO_ROUTE || err.code == DERR_METHOD_NOT_ALLOWED);
	fuzz_check(mret == 0 || ret < 0);
	if (ret == 0)
		fuzz_check(req.id == full->id && req.write == full->write &&
			   strcmp(req.dom, full->dom) == 0);
	fuzz_check(req.xml == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE", "PATCH", "" };
	struct droute_arg args[FUZZ_MAX_ARGS];
	struct droute_req req;
	struct derr err = { 0 };
	char *buf, *path, *query, *body, *nl;
	size_t nargs = 0, blen;
	int ret;

	if (size < 1)
		return 0;
	buf = malloc(size);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = 0;
	path = buf;
	body = buf + size - 1;
	query = body;
	nl = memchr(path, '\n', size - 1);
	if (nl) {
		*nl = 0;
		query = nl + 1;
		nl = memchr(query, '\n', (size_t)(buf + size - 1 - query));
		if (nl) {
			*nl = 0;
			body = nl + 1;
		}
		nargs = fuzz_query(query, args);
	}
	blen = (size_t)(buf + size - 1 - body);
	ret = droute_parse(methods[data[0] % 6], path, args, nargs, blen ? body : NULL, blen,
			   &req, &err);
	fuzz_check_result(ret, &req, &err);
	fuzz_check_match(methods[data[0] % 6], path, ret, &req);
	if (ret == 0)
		droute_req_free(&req);
	free(buf);
	return 0;
}
