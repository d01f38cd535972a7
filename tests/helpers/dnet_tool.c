/* dnet_tool: a command-line front to src/daemon/dnet.c for the integration
 * test (tests/integration/test_dnet.py), run inside a network namespace:
 *   dnet_tool check BRIDGE | create BRIDGE | delete TAP
 * create prints the TAP's name. Failures: the error text on stderr, and
 * the exit status 1. */
#include <stdio.h>
#include <string.h>

#include "daemon/dnet.h"

static int dnet_tool_run(const char *verb, const char *arg)
{
	char err[256] = "", name[DNET_IFNAME_MAX];
	int ret;

	if (strcmp(verb, "check") == 0) {
		ret = dnet_bridge_check(arg, err, sizeof(err));
	} else if (strcmp(verb, "create") == 0) {
		ret = dnet_tap_create(arg, name, err, sizeof(err));
		if (ret == 0)
			printf("%s\n", name);
	} else if (strcmp(verb, "delete") == 0) {
		ret = dnet_tap_delete(arg);
		if (ret < 0)
			snprintf(err, sizeof(err), "cannot delete TAP %s: %s", arg, strerror(-ret));
	} else {
		fprintf(stderr, "dnet_tool: unknown verb '%s' (check, create, delete)\n", verb);
		return 2;
	}
	if (ret < 0)
		fprintf(stderr, "dnet_tool: %s (errno %d)\n", err, -ret);
	return ret < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: dnet_tool check BRIDGE | create BRIDGE | delete TAP\n");
		return 2;
	}
	return dnet_tool_run(argv[1], argv[2]);
}
