/* fuzz_cli_print: the vmkit CLI's handling of what vmkitd answers: any
 * bytes as an API error body (dclient_api_error), and, when they parse as
 * JSON, every printer of dom_print.c (list in all its forms, dominfo,
 * domstate, domstats, dommemstat, domblkstat, domifstat, version, event).
 * Missing, mistyped or hostile fields must never crash or overrun. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/dom.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *out;
	json_error_t jerr;
	json_t *v;

	if (!out)
		out = fopen("/dev/null", "w");
	dclient_api_error(500, (const char *)data, size);
	v = json_loadb((const char *)data, size, 0, &jerr);
	if (!v)
		return 0;
	for (unsigned flags = 0; flags < 8; flags++)
		dprint_list(out, v, flags);
	dprint_dominfo(out, v);
	dprint_domstate(out, v, DPRINT_REASON);
	dprint_domstats(out, v);
	dprint_dommemstat(out, v);
	dprint_domblkstat(out, v, NULL);
	dprint_domblkstat(out, v, "vda");
	dprint_domifstat(out, v, NULL);
	dprint_domifstat(out, v, "52:54:00:12:34:56");
	dprint_version(out, v);
	dprint_event(out, v);
	json_decref(v);
	return 0;
}
