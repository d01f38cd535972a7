/* fuzz_ctlproto: libFuzzer harness for the control protocol parser
 * (src/vmm/ctlproto.c). Each input is parsed once as a whole line and then
 * split at newlines the way the control server splits its input. Every
 * parse result is checked against the parser's contract and turned into
 * the replies the server would send, which must be single valid JSON lines
 * carrying the request's id; a broken invariant traps. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctlproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* line must be one JSON object ending in its only newline; its "id" must
 * equal id (absent when id is NULL). Frees line. */
static void fuzz_check_line(char *line, json_t *id)
{
	json_error_t jerr;
	json_t *back;
	size_t len;

	fuzz_check(line != NULL);
	len = strlen(line);
	fuzz_check(len >= 2 && line[len - 1] == '\n');
	fuzz_check(memchr(line, '\n', len - 1) == NULL);
	back = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	fuzz_check(json_is_object(back));
	if (id)
		fuzz_check(json_equal(json_object_get(back, "id"), id));
	else
		fuzz_check(json_object_get(back, "id") == NULL);
	json_decref(back);
	free(line);
}

static void fuzz_check_error_text(const char *err)
{
	fuzz_check(err[0] != '\0');
	for (const char *p = err; *p; p++)
		fuzz_check(*p >= 0x20 && *p <= 0x7e);
}

static void fuzz_check_name(const char *name)
{
	size_t len = strlen(name);

	fuzz_check(len >= 1 && len < CTLPROTO_MAX_NAME);
	for (size_t i = 0; i < len; i++)
		fuzz_check((name[i] >= 'a' && name[i] <= 'z') ||
			   (name[i] >= '0' && name[i] <= '9') || name[i] == '-' ||
			   name[i] == '_');
}

static void fuzz_one_line(const char *line, size_t len, uint64_t stamp)
{
	struct ctl_request req;
	char err[256];
	int ret;

	ret = ctlproto_parse(line, len, &req, err, sizeof(err));
	if (ret < 0) {
		fuzz_check(ret == -EINVAL);
		fuzz_check(req.args == NULL && req.id == NULL && req.name[0] == '\0');
		fuzz_check_error_text(err);
		fuzz_check_line(ctlproto_reply_error("GenericError", err, NULL), NULL);
		return;
	}
	fuzz_check(ret == 0);
	fuzz_check_name(req.name);
	fuzz_check(json_is_object(req.args));
	fuzz_check_line(ctlproto_reply_ok(json_deep_copy(req.args), req.id), req.id);
	fuzz_check_line(ctlproto_reply_error("CommandNotFound", req.name, req.id), req.id);
	fuzz_check_line(ctlproto_event(req.name, json_incref(req.args), stamp), NULL);
	ctlproto_request_free(&req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;

	fuzz_one_line(p, size, size * 1000003ULL);
	if (!memchr(p, '\n', size))
		return 0;
	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		fuzz_one_line(p, (size_t)(nl - p), (uint64_t)(nl - p));
		p = nl + 1;
	}
	/* The server keeps an unterminated tail until more input comes; parse
	 * it anyway, it is just another line. */
	if (p < end)
		fuzz_one_line(p, (size_t)(end - p), 0);
	return 0;
}
