/* main: the `vmkit` binary's entry point and its ONE table of top-level
 * commands: `img` and virsh's domain verbs. The table drives the global
 * options (-c URI, -r, --output json), each verb's option parsing and
 * operand check, dispatch, `vmkit --help`, `vmkit help CMD` (usage, summary,
 * options) and the bash completion (completion.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/dom.h"
#include "common/log.h"
#include "common/util.h"
#include "vmkit-config.h"

#define DOM_QUERY (DOPT_BIT(DOPT_OUTPUT))

const struct dopt_def dopt_defs[DOPT_COUNT_] = {
	[DOPT_HELP] = { "help", NULL, "show this verb's help and exit" },
	[DOPT_OUTPUT] = { "output", "FORMAT", "json: print the API's JSON (pretty, sorted keys)" },
	[DOPT_PAUSED] = { "paused", NULL, "leave the guest paused after starting" },
	[DOPT_CONSOLE] = { "console", NULL, "attach to the serial console once started" },
	[DOPT_TIMEOUT] = { "timeout", "S", "wait up to S seconds" },
	[DOPT_GRACEFUL] = { "graceful", NULL, "SIGTERM only, never SIGKILL (waits up to 60 s)" },
	[DOPT_ALL] = { "all", NULL, "active and inactive domains" },
	[DOPT_INACTIVE] = { "inactive", NULL, "inactive domains / the stored definition" },
	[DOPT_NAME] = { "name", NULL, "print only names" },
	[DOPT_UUID] = { "uuid", NULL, "print only UUIDs" },
	[DOPT_REASON] = { "reason", NULL, "also print the reason for the state" },
	[DOPT_DISABLE] = { "disable", NULL, "turn autostart off" },
	[DOPT_FORCE] = { "force", NULL, "take the console from a client already attached" },
	[DOPT_LOOP] = { "loop", NULL, "keep printing events (default: stop after one)" },
	[DOPT_SINCE] = { "since", "N", "first replay the retained events after seq N" },
};

static int cli_cmd_help(struct dom_ctx *ctx, const struct dargs *a);

static const struct cli_cmd cli_cmds[] = {
	{ "img", "create, inspect, check, convert and modify disk images (raw, qcow2)",
	  "img VERB [options] ...", 0, DARGS_RAW, NULL, img_main, img_print_help },
	{ "define", "define (or redefine) a persistent domain from an XML file",
	  "define FILE", 0, DARGS_FILE, dom_cmd_define, NULL, NULL },
	{ "undefine", "remove a domain's persistent definition",
	  "undefine DOMAIN", 0, DARGS_DOMAIN, dom_cmd_undefine, NULL, NULL },
	{ "create", "create a transient domain from an XML file and start it",
	  "create FILE [--paused] [--console]", DOPT_BIT(DOPT_PAUSED) | DOPT_BIT(DOPT_CONSOLE),
	  DARGS_FILE, dom_cmd_create, NULL, NULL },
	{ "start", "start an inactive domain",
	  "start DOMAIN [--console] [--paused]", DOPT_BIT(DOPT_PAUSED) | DOPT_BIT(DOPT_CONSOLE),
	  DARGS_DOMAIN, dom_cmd_start, NULL, NULL },
	{ "shutdown", "press the domain's ACPI power button",
	  "shutdown DOMAIN [--timeout S]", DOPT_BIT(DOPT_TIMEOUT), DARGS_DOMAIN,
	  dom_cmd_shutdown, NULL, NULL },
	{ "reboot", "ask the guest to reboot (ACPI reset request)",
	  "reboot DOMAIN", 0, DARGS_DOMAIN, dom_cmd_simple, NULL, NULL },
	{ "reset", "reset the domain at once, like the reset button",
	  "reset DOMAIN", 0, DARGS_DOMAIN, dom_cmd_simple, NULL, NULL },
	{ "destroy", "stop a domain at once (SIGTERM, then SIGKILL)",
	  "destroy DOMAIN [--graceful]", DOPT_BIT(DOPT_GRACEFUL), DARGS_DOMAIN,
	  dom_cmd_destroy, NULL, NULL },
	{ "suspend", "pause a running domain",
	  "suspend DOMAIN", 0, DARGS_DOMAIN, dom_cmd_simple, NULL, NULL },
	{ "resume", "resume a paused domain",
	  "resume DOMAIN", 0, DARGS_DOMAIN, dom_cmd_simple, NULL, NULL },
	{ "list", "list domains (active ones unless --all or --inactive)",
	  "list [--all] [--inactive] [--name|--uuid]",
	  DOM_QUERY | DOPT_BIT(DOPT_ALL) | DOPT_BIT(DOPT_INACTIVE) | DOPT_BIT(DOPT_NAME) |
	  DOPT_BIT(DOPT_UUID), DARGS_NONE, dom_cmd_list, NULL, NULL },
	{ "dominfo", "show a domain's basic information",
	  "dominfo DOMAIN", DOM_QUERY, DARGS_DOMAIN, dom_cmd_dominfo, NULL, NULL },
	{ "domstate", "show a domain's state",
	  "domstate DOMAIN [--reason]", DOM_QUERY | DOPT_BIT(DOPT_REASON), DARGS_DOMAIN,
	  dom_cmd_domstate, NULL, NULL },
	{ "dumpxml", "print a domain's XML (live when active)",
	  "dumpxml DOMAIN [--inactive]", DOM_QUERY | DOPT_BIT(DOPT_INACTIVE), DARGS_DOMAIN,
	  dom_cmd_dumpxml, NULL, NULL },
	{ "edit", "edit a domain's stored XML in $VISUAL/$EDITOR and redefine it",
	  "edit DOMAIN", 0, DARGS_DOMAIN, dom_cmd_edit, NULL, NULL },
	{ "autostart", "start the domain when vmkitd starts",
	  "autostart DOMAIN [--disable]", DOPT_BIT(DOPT_DISABLE), DARGS_DOMAIN,
	  dom_cmd_autostart, NULL, NULL },
	{ "console", "attach to a domain's serial console (Ctrl-] detaches)",
	  "console DOMAIN [--force]", DOPT_BIT(DOPT_FORCE), DARGS_DOMAIN,
	  dom_cmd_console, NULL, NULL },
	{ "domstats", "statistics of the given domains (all active ones without any)",
	  "domstats [DOMAIN...]", DOM_QUERY, DARGS_DOMAINS, dom_cmd_domstats, NULL, NULL },
	{ "dommemstat", "a domain's memory statistics (KiB)",
	  "dommemstat DOMAIN", DOM_QUERY, DARGS_DOMAIN, dom_cmd_dommemstat, NULL, NULL },
	{ "domblkstat", "a domain's disk counters (one disk, or all)",
	  "domblkstat DOMAIN [TARGET]", DOM_QUERY, DARGS_DOMAIN_TARGET, dom_cmd_domblkstat,
	  NULL, NULL },
	{ "domifstat", "a domain's network interface counters (one interface, or all)",
	  "domifstat DOMAIN [TARGET]", DOM_QUERY, DARGS_DOMAIN_TARGET, dom_cmd_domifstat,
	  NULL, NULL },
	{ "event", "print lifecycle events (of one domain, or all), one line each",
	  "event [DOMAIN] [--loop] [--timeout S] [--since N]",
	  DOM_QUERY | DOPT_BIT(DOPT_LOOP) | DOPT_BIT(DOPT_TIMEOUT) | DOPT_BIT(DOPT_SINCE),
	  DARGS_DOMAIN_OPT, dom_cmd_event, NULL, NULL },
	{ "version", "versions of vmkit, vmkitd and the VMM it runs",
	  "version", DOM_QUERY, DARGS_NONE, dom_cmd_version, NULL, NULL },
	{ "completion", "print a shell completion script (bash)",
	  "completion bash", 0, DARGS_SHELL, dom_cmd_completion, NULL, NULL },
	{ "help", "list the commands, or show one command's help",
	  "help [COMMAND]", 0, DARGS_COMMAND_OPT, cli_cmd_help, NULL, NULL },
};

const struct cli_cmd *cli_commands(size_t *n)
{
	*n = ARRAY_SIZE(cli_cmds);
	return cli_cmds;
}

static const struct cli_cmd *cli_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds); i++) {
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	}
	return NULL;
}

/* ---- help ---------------------------------------------------------------- */

static void cli_print_help(void)
{
	printf("vmkit %s: tools for the vmkit virtualization stack\n\n", VMKIT_VERSION);
	printf("usage: vmkit [-c URI] [-r] [--output json] COMMAND [options] ...\n"
	       "       vmkit help COMMAND\n\n"
	       "Commands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cli_cmds); i++)
		printf("  %-11s %s\n", cli_cmds[i].name, cli_cmds[i].summary);
	printf("\nOptions:\n"
	       "  -c, --connect URI  vmkitd to talk to: vmkit:///system (the default, or\n"
	       "                     $VMKIT_DEFAULT_URI) or unix:///path/to/vmkitd.sock\n"
	       "  -r, --readonly     use vmkitd's read-only socket (queries only)\n"
	       "      --output json  print query answers as JSON\n"
	       "  -h, --help         show this help and exit\n"
	       "  -V, --version      show the version and exit\n"
	       "\nExit status: 0 success, 1 refused or failed, 2 usage error, "
	       "3 cannot connect to vmkitd\n"
	       "(vmkit img: qemu-img's codes).\n");
}

static void cli_print_cmd_help(const struct cli_cmd *c)
{
	printf("usage: vmkit %s\n%s\n", c->usage, c->summary);
	if (c->kind != DARGS_RAW) {
		printf("\nOptions:\n");
		for (int o = 0; o < DOPT_COUNT_; o++) {
			char spelled[40];

			if (o != DOPT_HELP && !(c->opts & DOPT_BIT(o)))
				continue;
			snprintf(spelled, sizeof(spelled), "--%s%s%s", dopt_defs[o].long_name,
				 dopt_defs[o].arg_name ? " " : "",
				 dopt_defs[o].arg_name ? dopt_defs[o].arg_name : "");
			printf("  %-18s %s\n", spelled, dopt_defs[o].help);
		}
	}
	if (c->help) {
		printf("\n");
		c->help();
	}
}

static int cli_cmd_help(struct dom_ctx *ctx, const struct dargs *a)
{
	const struct cli_cmd *c;

	if (a->npos == 0) {
		cli_print_help();
		return 0;
	}
	c = cli_find(a->pos[0]);
	if (!c) {
		cli_usage_error(DOM_PROG, "unknown command '%s'", a->pos[0]);
		return DOM_EXIT_USAGE;
	}
	cli_print_cmd_help(c);
	return 0;
}

/* ---- argument parsing ---------------------------------------------------- */

static void cli_operand_range(enum dargs_kind k, size_t *min, size_t *max)
{
	switch (k) {
	case DARGS_NONE: *min = 0; *max = 0; break;
	case DARGS_DOMAIN: *min = 1; *max = 1; break;
	case DARGS_DOMAIN_OPT: *min = 0; *max = 1; break;
	case DARGS_DOMAINS: *min = 0; *max = DARGS_MAX; break;
	case DARGS_DOMAIN_TARGET: *min = 1; *max = 2; break;
	case DARGS_FILE: *min = 1; *max = 1; break;
	case DARGS_SHELL: *min = 1; *max = 1; break;
	case DARGS_COMMAND_OPT: *min = 0; *max = 1; break;
	case DARGS_RAW: *min = 0; *max = 0; break;
	}
}

static int cli_set_output(const char *prog, const char *v, bool *json)
{
	if (strcmp(v, "json") == 0 || strcmp(v, "human") == 0) {
		*json = strcmp(v, "json") == 0;
		return 0;
	}
	cli_usage_error(prog, "--output takes 'json' or 'human', not '%s'", v);
	return -EINVAL;
}

static int cli_take_option(const char *prog, int id, const char *arg, struct dargs *a)
{
	int o = id - CLIOPT_LONG;

	if (id == 'h')
		o = DOPT_HELP;
	a->set |= DOPT_BIT(o);
	a->val[o] = arg;
	if (o == DOPT_OUTPUT)
		return cli_set_output(prog, arg, &a->json);
	return 0;
}

/* Parse a verb's argv (argv[0] is the verb) by its table entry. */
static int cli_parse_verb(const struct cli_cmd *c, int argc, char **argv, struct dargs *a)
{
	struct cliopt opts[DOPT_COUNT_ + 1];
	struct cliopt_state s;
	char prog[64];
	size_t n = 0, min = 0, max = 0;
	int id;

	snprintf(prog, sizeof(prog), "vmkit %s", c->name);
	opts[n++] = (struct cliopt){ 'h', NULL, CLIOPT_NO_ARG };
	for (int o = 0; o < DOPT_COUNT_; o++) {
		if (o == DOPT_HELP || (c->opts & DOPT_BIT(o)))
			opts[n++] = (struct cliopt){ CLIOPT_LONG + o, dopt_defs[o].long_name,
						     dopt_defs[o].arg_name ? CLIOPT_ARG : CLIOPT_NO_ARG };
	}
	cli_operand_range(c->kind, &min, &max);
	cliopt_init(&s, prog, argc, argv, 1, opts, n);
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		if (id == CLIOPT_ERROR)
			return -EINVAL;
		if (id != CLIOPT_POSITIONAL) {
			if (cli_take_option(prog, id, s.arg, a) < 0)
				return -EINVAL;
			continue;
		}
		if (a->npos >= max) {
			cli_usage_error(prog, "unexpected argument '%s'", s.arg);
			return -EINVAL;
		}
		a->pos[a->npos++] = s.arg;
	}
	if (a->npos < min && !(a->set & DOPT_BIT(DOPT_HELP))) {
		cli_usage_error(prog, "missing operand (usage: vmkit %s)", c->usage);
		return -EINVAL;
	}
	return 0;
}

static int cli_run(struct dom_ctx *ctx, const struct cli_cmd *c, int argc, char **argv)
{
	struct dargs a = { .verb = c->name, .json = ctx->json };
	int rc;

	if (c->kind == DARGS_RAW)
		return c->raw(argc, argv);
	if (cli_parse_verb(c, argc, argv, &a) < 0)
		return DOM_EXIT_USAGE;
	if (a.set & DOPT_BIT(DOPT_HELP)) {
		cli_print_cmd_help(c);
		return 0;
	}
	rc = c->fn(ctx, &a);
	dclient_close(ctx->client);
	ctx->client = NULL;
	return rc;
}

/* Global options before the command. The index of the command word, or -1
 * with *exit_code set (help, version, usage error). */
static int cli_global(int argc, char **argv, struct dom_ctx *ctx, int *exit_code)
{
	static const struct cliopt opts[] = {
		{ 'c', "connect", CLIOPT_ARG }, { 'r', "readonly", CLIOPT_NO_ARG },
		{ CLIOPT_LONG, "output", CLIOPT_ARG }, { 'h', "help", CLIOPT_NO_ARG },
		{ 'V', "version", CLIOPT_NO_ARG },
	};
	int i = 1;

	*exit_code = 0;
	while (i < argc && argv[i][0] == '-' && argv[i][1] != '\0') {
		struct cliopt_state s;
		int id;

		cliopt_init(&s, DOM_PROG, i + 1, argv, i, opts, ARRAY_SIZE(opts));
		/* One word (plus its value) at a time: stop at the command. */
		s.argc = i + 2 <= argc ? i + 2 : argc;
		id = cliopt_next(&s);
		switch (id) {
		case 'c': ctx->uri = s.arg; break;
		case 'r': ctx->readonly = true; break;
		case CLIOPT_LONG:
			if (cli_set_output(DOM_PROG, s.arg, &ctx->json) < 0)
				goto usage;
			break;
		case 'h': cli_print_help(); return -1;
		case 'V': printf("vmkit version %s\n", VMKIT_VERSION); return -1;
		default: goto usage;
		}
		if (s.cluster) {
			cli_usage_error(DOM_PROG, "give global options one by one ('%s')", argv[i]);
			goto usage;
		}
		i = s.next;
	}
	if (i >= argc) {
		cli_usage_error(DOM_PROG, "no command given");
		goto usage;
	}
	return i;
usage:
	*exit_code = DOM_EXIT_USAGE;
	return -1;
}

int cli_main(int argc, char **argv)
{
	struct dom_ctx ctx = { 0 };
	const struct cli_cmd *c;
	int first, rc;

	ctx.uri = getenv("VMKIT_DEFAULT_URI");
	if (!ctx.uri || !*ctx.uri)
		ctx.uri = DOM_DEFAULT_URI;
	first = cli_global(argc, argv, &ctx, &rc);
	if (first < 0)
		return rc;
	c = cli_find(argv[first]);
	if (!c) {
		cli_usage_error(DOM_PROG, "unknown command '%s'", argv[first]);
		return DOM_EXIT_USAGE;
	}
	return cli_run(&ctx, c, argc - first, argv + first);
}

#ifndef CLI_NO_MAIN
int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
#endif
