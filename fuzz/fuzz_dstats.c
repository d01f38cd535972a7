/* fuzz_dstats: libFuzzer harness for vmkitd's statistics (src/daemon/dstats.c,
 * dmetrics.c). Each input goes, NUL-terminated, through every /proc parser;
 * when it is a JSON object it is taken as recorded VMM replies
 * ({"query-cpus": ..., "query-balloon": ..., ...}, the golden set's form)
 * for dstats_domain_build, and both it (as a /v1/stats object) and a stats
 * object holding that result go through dmetrics_format, whose text must be
 * whole lines, each a comment or a vmkit_ sample; a broken invariant traps. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/dmetrics.h"
#include "daemon/dstats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void fuzz_parsers(const char *text)
{
	struct dstats_stat st;
	struct dstats_cpu_ticks t;
	uint64_t a, b;

	(void)dstats_parse_stat(text, &st);
	(void)dstats_parse_schedstat(text, &a);
	(void)dstats_parse_statm(text, &a);
	(void)dstats_parse_meminfo(text, &a, &b);
	(void)dstats_parse_proc_stat(text, &t);
}

static void fuzz_metrics(json_t *stats)
{
	char *text = NULL;
	const char *p;

	if (dmetrics_format(stats, &text) != 0)
		return;
	for (p = text; *p; p = strchr(p, '\n') + 1) {
		fuzz_check(strchr(p, '\n') != NULL);
		fuzz_check(strncmp(p, "# ", 2) == 0 || strncmp(p, "vmkit_", 6) == 0);
	}
	free(text);
}

static void fuzz_domain(json_t *in)
{
	static const struct dstats_task tasks[] = { { 1, 5 }, { 2, 7 }, { 10751, 1000 } };
	struct dstats_proc proc = { 100, 4096, tasks, 3 };
	json_t *obj = json_pack("{s:s,s:s,s:s}", "name", "fz\"\\\n", "uuid", "u",
				"state", "running");
	json_t *stats;

	if (!obj)
		return;
	if (dstats_domain_build(&proc, json_object_get(in, "query-cpus"),
				json_object_get(in, "query-balloon"),
				json_object_get(in, "query-blockstats"),
				json_object_get(in, "query-netstats"), obj) == 0) {
		fuzz_check(json_is_object(json_object_get(obj, "cpu")));
		fuzz_check(json_is_array(json_object_get(obj, "block")));
		fuzz_check(json_is_array(json_object_get(obj, "net")));
	}
	stats = json_pack("{s:O,s:[o]}", "host", json_object_get(in, "host") ?
			  json_object_get(in, "host") : json_null(), "domains", obj);
	if (stats)
		fuzz_metrics(stats);
	json_decref(stats);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	json_t *in;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	fuzz_parsers(text);
	in = json_loads(text, 0, NULL);
	if (json_is_object(in)) {
		fuzz_domain(in);
		fuzz_metrics(in);
	}
	json_decref(in);
	free(text);
	return 0;
}
