/* ctlproto: owns the control socket's wire format. Parses one untrusted
 * request line into a struct ctl_request (every rule of ctlproto.h checked,
 * each failure reported with a message naming the problem) and serialises
 * replies, errors, events and the greeting as compact JSON lines. */
#include "ctlproto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Keys a request may carry; anything else is refused. */
static const char *const ctlproto_request_keys[] = { "execute", "arguments", "id" };

/* Longest piece of a client-supplied key quoted back in an error message. */
#define CTLPROTO_QUOTE_MAX 32

static void ctlproto_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Format an error message and make it safe to quote anywhere: every byte
 * outside printable ASCII (control characters, bytes of raw UTF-8 or
 * invalid UTF-8 echoed by the JSON parser) becomes '?'. */
static void ctlproto_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	for (char *p = err; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e)
			*p = '?';
	}
}

static bool ctlproto_is_blank(const char *line, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '\n')
			return false;
	}
	return true;
}

/* Byte-level checks that come before the JSON parser sees the line. */
static int ctlproto_check_bytes(const char *line, size_t len, char *err, size_t errlen)
{
	const char *nul;

	if (len > CTLPROTO_MAX_LINE) {
		ctlproto_set_err(err, errlen, "request line too long (%zu bytes, limit %d)",
				 len, CTLPROTO_MAX_LINE);
		return -EINVAL;
	}
	nul = len ? memchr(line, '\0', len) : NULL;
	if (nul) {
		ctlproto_set_err(err, errlen, "request contains a NUL byte at offset %zu",
				 (size_t)(nul - line));
		return -EINVAL;
	}
	if (ctlproto_is_blank(line, len)) {
		ctlproto_set_err(err, errlen, "empty request");
		return -EINVAL;
	}
	return 0;
}

static bool ctlproto_name_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Validate "execute" and copy it into name. */
static int ctlproto_get_name(json_t *root, char name[CTLPROTO_MAX_NAME], char *err,
			     size_t errlen)
{
	json_t *exec = json_object_get(root, "execute");
	const char *s;
	size_t len;

	if (!exec) {
		ctlproto_set_err(err, errlen, "missing \"execute\"");
		return -EINVAL;
	}
	if (!json_is_string(exec)) {
		ctlproto_set_err(err, errlen, "\"execute\" must be a string");
		return -EINVAL;
	}
	s = json_string_value(exec);
	len = json_string_length(exec);
	if (len == 0) {
		ctlproto_set_err(err, errlen, "command name is empty");
		return -EINVAL;
	}
	if (len > CTLPROTO_MAX_NAME - 1) {
		ctlproto_set_err(err, errlen, "command name too long (%zu bytes, limit %d)",
				 len, CTLPROTO_MAX_NAME - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		if (!ctlproto_name_char_ok(s[i])) {
			ctlproto_set_err(err, errlen, "command name has an invalid character "
					 "at offset %zu (allowed: a-z 0-9 - _)", i);
			return -EINVAL;
		}
	}
	memcpy(name, s, len);
	name[len] = '\0';
	return 0;
}

static int ctlproto_check_keys(json_t *root, char *err, size_t errlen)
{
	const char *key;
	json_t *val;

	json_object_foreach(root, key, val) {
		bool known = false;

		for (size_t i = 0; i < ARRAY_SIZE(ctlproto_request_keys); i++)
			known = known || strcmp(key, ctlproto_request_keys[i]) == 0;
		if (!known) {
			ctlproto_set_err(err, errlen, "unknown key \"%.*s\" in request",
					 CTLPROTO_QUOTE_MAX, key);
			return -EINVAL;
		}
	}
	return 0;
}

/* Apply the request rules to a parsed JSON document. */
static int ctlproto_check_request(json_t *root, struct ctl_request *req, char *err,
				  size_t errlen)
{
	json_t *args;
	int ret;

	if (!json_is_object(root)) {
		ctlproto_set_err(err, errlen, "request must be a JSON object");
		return -EINVAL;
	}
	ret = ctlproto_get_name(root, req->name, err, errlen);
	if (ret < 0)
		return ret;
	args = json_object_get(root, "arguments");
	if (args && !json_is_object(args)) {
		ctlproto_set_err(err, errlen, "\"arguments\" must be an object");
		return -EINVAL;
	}
	return ctlproto_check_keys(root, err, errlen);
}

int ctlproto_parse(const char *line, size_t len, struct ctl_request *req,
		   char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root = NULL, *args;
	int ret;

	memset(req, 0, sizeof(*req));
	if (err && errlen)
		err[0] = '\0';
	ret = ctlproto_check_bytes(line, len, err, errlen);
	if (ret < 0)
		return ret;
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		ctlproto_set_err(err, errlen, "malformed JSON (column %d): %s",
				 jerr.column, jerr.text);
		return -EINVAL;
	}
	ret = ctlproto_check_request(root, req, err, errlen);
	if (ret < 0)
		goto out;
	args = json_object_get(root, "arguments");
	req->args = args ? json_incref(args) : json_object();
	req->id = json_incref(json_object_get(root, "id"));
	if (!req->args) {
		ctlproto_set_err(err, errlen, "out of memory");
		ctlproto_request_free(req);
		ret = -ENOMEM;
	}
out:
	if (ret < 0)
		req->name[0] = '\0';
	json_decref(root);
	return ret;
}

void ctlproto_request_free(struct ctl_request *req)
{
	if (!req)
		return;
	json_decref(req->args);
	json_decref(req->id);
	req->args = NULL;
	req->id = NULL;
	req->name[0] = '\0';
}

/* Serialise root (reference stolen) as compact JSON plus a newline. */
static char *ctlproto_dump_line(json_t *root)
{
	char *text, *line;
	size_t len;

	if (!root)
		return NULL;
	text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	json_decref(root);
	if (!text)
		return NULL;
	len = strlen(text);
	line = realloc(text, len + 2);
	if (!line) {
		free(text);
		return NULL;
	}
	line[len] = '\n';
	line[len + 1] = '\0';
	return line;
}

/* Attach "id" (borrowed) when present; false on allocation failure. */
static bool ctlproto_add_id(json_t *root, json_t *id)
{
	return !id || json_object_set(root, "id", id) == 0;
}

char *ctlproto_reply_ok(json_t *ret, json_t *id)
{
	json_t *root = json_object();

	if (!ret)
		ret = json_object();
	if (!root) {
		json_decref(ret);
		return NULL;
	}
	if (json_object_set_new(root, "return", ret) < 0 || !ctlproto_add_id(root, id)) {
		json_decref(root);
		return NULL;
	}
	return ctlproto_dump_line(root);
}

/* A JSON string for text that may not be valid UTF-8: replaced by a copy
 * with every non-printable-ASCII byte turned into '?'. */
static json_t *ctlproto_safe_string(const char *text)
{
	json_t *s;
	char *copy;

	if (!text)
		text = "";
	s = json_string(text);
	if (s)
		return s;
	copy = strdup(text);
	if (!copy)
		return NULL;
	for (char *p = copy; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
	s = json_string(copy);
	free(copy);
	return s;
}

char *ctlproto_reply_error(const char *cls, const char *desc, json_t *id)
{
	json_t *root = json_object(), *error = json_object();

	if (!root || !error) {
		json_decref(root);
		json_decref(error);
		return NULL;
	}
	if (json_object_set_new(root, "error", error) < 0 ||
	    json_object_set_new(error, "class", ctlproto_safe_string(cls)) < 0 ||
	    json_object_set_new(error, "desc", ctlproto_safe_string(desc)) < 0 ||
	    !ctlproto_add_id(root, id)) {
		json_decref(root);
		return NULL;
	}
	return ctlproto_dump_line(root);
}

char *ctlproto_event(const char *name, json_t *data, uint64_t realtime_ns)
{
	json_t *root, *ts;
	char *line = NULL;

	root = json_object();
	ts = json_pack("{sIsI}",
		       "seconds", (json_int_t)(realtime_ns / 1000000000ULL),
		       "microseconds", (json_int_t)(realtime_ns % 1000000000ULL / 1000ULL));
	if (!root || !ts || !name ||
	    json_object_set_new(root, "event", ctlproto_safe_string(name)) < 0)
		goto out;
	if (data) {
		json_t *d = data;

		data = NULL; /* set_new consumes it, even on failure */
		if (json_object_set_new(root, "data", d) < 0)
			goto out;
	}
	if (json_object_set_new(root, "timestamp", ts) < 0) {
		ts = NULL;
		goto out;
	}
	ts = NULL;
	line = ctlproto_dump_line(root);
	root = NULL;
out:
	json_decref(root);
	json_decref(ts);
	json_decref(data);
	return line;
}

char *ctlproto_greeting(const char *version)
{
	if (!version)
		return NULL;
	return ctlproto_dump_line(json_pack("{s{s{s:s}s[]}}", "QMP", "version", "vmkit",
					    version, "capabilities"));
}
