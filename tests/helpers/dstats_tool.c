/* dstats_tool: src/daemon/dstats.c and dmetrics.c from the command line for
 * the integration test (tests/integration/test_dstats.py):
 *   dstats_tool domain PID   stdin: {"query-cpus": RETURN, "query-balloon": ...,
 *                            "query-blockstats": ..., "query-netstats": ...}
 *                            (the "return" values); prints the DOMSTATS members
 *   dstats_tool host         prints HOST
 *   dstats_tool metrics      stdin: a /v1/stats object; prints the metrics text
 * Failures: a message on stderr and the exit status 1. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/dmetrics.h"
#include "daemon/dstats.h"

static int dstats_tool_domain(pid_t pid, json_t *in, json_t **out)
{
	*out = json_object();
	if (!*out)
		return -ENOMEM;
	return dstats_domain(pid, json_object_get(in, "query-cpus"),
			     json_object_get(in, "query-balloon"),
			     json_object_get(in, "query-blockstats"),
			     json_object_get(in, "query-netstats"), *out);
}

static int dstats_tool_run(int argc, char **argv, json_t *in)
{
	json_t *out = NULL;
	char *text = NULL;
	int ret;

	if (strcmp(argv[1], "domain") == 0 && argc == 3)
		ret = dstats_tool_domain((pid_t)atoi(argv[2]), in, &out);
	else if (strcmp(argv[1], "host") == 0)
		ret = dstats_host(&out);
	else
		ret = dmetrics_format(in, &text);
	if (ret == 0 && out)
		text = json_dumps(out, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (ret == 0 && text)
		printf("%s%s", text, out ? "\n" : "");
	else
		fprintf(stderr, "dstats_tool %s: %s\n", argv[1], strerror(ret ? -ret : ENOMEM));
	free(text);
	json_decref(out);
	return ret == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	json_error_t jerr;
	json_t *in = NULL;
	int ret;

	if (argc < 2 || (strcmp(argv[1], "domain") && strcmp(argv[1], "host") &&
			 strcmp(argv[1], "metrics"))) {
		fprintf(stderr, "usage: dstats_tool domain PID | host | metrics (JSON on stdin)\n");
		return 2;
	}
	if (strcmp(argv[1], "host") != 0) {
		in = json_loadf(stdin, 0, &jerr);
		if (!in) {
			fprintf(stderr, "dstats_tool: stdin: %s\n", jerr.text);
			return 1;
		}
	}
	ret = dstats_tool_run(argc, argv, in);
	json_decref(in);
	return ret;
}
