/* derr: the API's error codes and their HTTP statuses (one table). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "derr.h"

static const struct {
	unsigned status;
	const char *name;
} derr_table[] = {
	[DERR_NONE] = { 200, "none" },
	[DERR_INVALID_JSON] = { 400, "invalid-json" },
	[DERR_INVALID_ARGUMENT] = { 400, "invalid-argument" },
	[DERR_INVALID_XML] = { 400, "invalid-xml" },
	[DERR_READ_ONLY] = { 403, "read-only" },
	[DERR_ACCESS_DENIED] = { 403, "access-denied" },
	[DERR_NO_DOMAIN] = { 404, "no-domain" },
	[DERR_NO_ROUTE] = { 404, "no-route" },
	[DERR_METHOD_NOT_ALLOWED] = { 405, "method-not-allowed" },
	[DERR_OPERATION_INVALID] = { 409, "operation-invalid" },
	[DERR_DOMAIN_EXISTS] = { 409, "domain-exists" },
	[DERR_CONSOLE_BUSY] = { 409, "console-busy" },
	[DERR_BODY_TOO_LARGE] = { 413, "body-too-large" },
	[DERR_INVALID_CONFIG] = { 422, "invalid-config" },
	[DERR_INTERNAL] = { 500, "internal" },
	[DERR_VMM_FAILED] = { 502, "vmm-failed" },
	[DERR_TIMEOUT] = { 504, "timeout" },
};

int derr_set(struct derr *err, enum derr_code code, const char *fmt, ...)
{
	va_list ap;

	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

const char *derr_name(enum derr_code code)
{
	return derr_table[code].name;
}

unsigned derr_status(enum derr_code code)
{
	return derr_table[code].status;
}
