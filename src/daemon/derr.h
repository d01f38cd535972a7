/* derr: the API's error codes (docs/api.md), each with its HTTP status in one
 * table, and the error a request handler fills in on failure. */
#ifndef VMKIT_DERR_H
#define VMKIT_DERR_H

enum derr_code {
	DERR_NONE,
	DERR_INVALID_JSON,
	DERR_INVALID_ARGUMENT,
	DERR_INVALID_XML,
	DERR_READ_ONLY,
	DERR_ACCESS_DENIED,
	DERR_NO_DOMAIN,
	DERR_NO_ROUTE,
	DERR_METHOD_NOT_ALLOWED,
	DERR_OPERATION_INVALID,
	DERR_DOMAIN_EXISTS,
	DERR_CONSOLE_BUSY,
	DERR_BODY_TOO_LARGE,
	DERR_INVALID_CONFIG,
	DERR_INTERNAL,
	DERR_VMM_FAILED,
	DERR_TIMEOUT,
};

struct derr {
	enum derr_code code;
	char msg[1280];
};

/* Set code and a printf-style message; returns -EINVAL so that handlers can
 * `return derr_set(...)`. */
int derr_set(struct derr *err, enum derr_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
const char *derr_name(enum derr_code code);   /* "invalid-json" */
unsigned derr_status(enum derr_code code);    /* 400 */

#endif
