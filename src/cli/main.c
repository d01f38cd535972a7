/* main: the `vmkit` binary's entry point and its table of top-level
 * commands ({name, summary, usage, fn}): dispatch, `vmkit --help`,
 * `vmkit help CMD`, `--version` and usage errors. `img` is the only command
 * for now; the daemon's verbs join the same table later. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"
#include "vmkit-config.h"

#define CLI_PROG "vmkit"

struct cli_cmd {
	const char *name;
	const char *summary;
	const char *usage;
	int (*fn)(int argc, char **argv);   /* argv[0] is the command name */
	void (*help)(void);                 /* detailed help, or NULL */
};

static const struct cli_cmd cli_cmds[] = {
	{ "img", "create, inspect, check, convert and modify disk images (raw, qcow2)",
	  "vmkit img VERB [options] ...", img_main, img_print_help },
};

static const struct cli_cmd *cli_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds); i++) {
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	}
	return NULL;
}

static void cli_print_help(void)
{
	printf("vmkit %s: tools for the vmkit virtualization stack\n\n", VMKIT_VERSION);
	printf("usage: vmkit COMMAND [options] ...\n"
	       "       vmkit help COMMAND\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds); i++)
		printf("  %-8s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
	printf("\nOptions:\n"
	       "  -h, --help     show this help and exit\n"
	       "  -V, --version  show the version and exit\n");
}

static int cli_help_cmd(const char *name)
{
	const struct cli_cmd *c = cli_find(name);

	if (!c)
		return cli_usage_error(CLI_PROG, "unknown command '%s'", name);
	printf("usage: %s\n%s\n", c->usage, c->summary);
	if (c->help) {
		printf("\n");
		c->help();
	}
	return 0;
}

int main(int argc, char **argv)
{
	const struct cli_cmd *c;

	if (argc < 2)
		return cli_usage_error(CLI_PROG, "no command given");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		cli_print_help();
		return 0;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("vmkit version %s\n", VMKIT_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "help") == 0) {
		if (argc == 2) {
			cli_print_help();
			return 0;
		}
		if (argc > 3)
			return cli_usage_error(CLI_PROG, "help takes one command name");
		return cli_help_cmd(argv[2]);
	}
	if (argv[1][0] == '-')
		return cli_usage_error(CLI_PROG, "unrecognized option '%s'", argv[1]);
	c = cli_find(argv[1]);
	if (!c)
		return cli_usage_error(CLI_PROG, "unknown command '%s'", argv[1]);
	return c->fn(argc - 1, argv + 1);
}
