/* ctlproto: the control socket's wire format, parsed from untrusted bytes.
 * Line-delimited JSON, QMP-like:
 *   request  {"execute": "NAME", "arguments": {...}?, "id": ANY?}
 *   reply    {"return": {...}, "id": ...}  or
 *            {"error": {"class": "GenericError"|"CommandNotFound", "desc": "..."}, "id": ...}
 *   event    {"event": "NAME", "data": {...}, "timestamp": {"seconds": S, "microseconds": U}}
 * A greeting {"QMP": {"version": {...}, "capabilities": []}} is sent on connect. */
#ifndef VMKIT_CTLPROTO_H
#define VMKIT_CTLPROTO_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define CTLPROTO_MAX_LINE (64 * 1024)
#define CTLPROTO_MAX_NAME 64

struct ctl_request {
	char name[CTLPROTO_MAX_NAME]; /* "execute" value */
	json_t *args;                 /* object (owned; empty object when absent) */
	json_t *id;                   /* owned, NULL when absent */
};

/* Parse one line (without the newline). 0 with *req filled (free with
 * ctlproto_request_free), or -EINVAL with a message naming the problem in
 * err (always NUL-terminated). */
int ctlproto_parse(const char *line, size_t len, struct ctl_request *req,
		   char *err, size_t errlen);
void ctlproto_request_free(struct ctl_request *req);

/* Serialise replies/events into a newline-terminated malloc'd string. */
char *ctlproto_reply_ok(json_t *ret /* stolen, NULL = {} */, json_t *id /* borrowed */);
char *ctlproto_reply_error(const char *cls, const char *desc, json_t *id /* borrowed */);
char *ctlproto_event(const char *name, json_t *data /* stolen, NULL = none */,
		     uint64_t realtime_ns);
char *ctlproto_greeting(const char *version);

#endif
