/* dom: private interface of vmkit's domain verbs (virsh's verbs against
 * vmkitd's REST API): the command table's entry type and the table-driven
 * argument parsing (main.c), the HTTP client (dclient.c), the lifecycle verbs
 * (dom.c), the query verbs (dom_query.c), the JSON → text printers
 * (dom_print.c), the console relay (cconsole.c) and the bash completion
 * generated from the table (completion.c). Nothing outside src/cli includes
 * this. */
#ifndef VMKIT_CLI_DOM_H
#define VMKIT_CLI_DOM_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Exit codes of the domain verbs (docs/cli.md). `vmkit img` keeps its own. */
enum dom_exit {
	DOM_EXIT_OK = 0,
	DOM_EXIT_FAILED = 1,     /* the daemon refused, or the operation failed */
	DOM_EXIT_USAGE = 2,      /* bad command line */
	DOM_EXIT_CONNECT = 3,    /* cannot connect to vmkitd */
};

#define DOM_PROG "vmkit"
#define DOM_DEFAULT_URI "vmkit:///system"

/* ---- options and the command table (main.c) ---------------------------- */

/* Every option a domain verb can take; each verb lists its own as a mask. */
enum dopt {
	DOPT_HELP,
	DOPT_OUTPUT,
	DOPT_PAUSED,
	DOPT_CONSOLE,
	DOPT_TIMEOUT,
	DOPT_GRACEFUL,
	DOPT_ALL,
	DOPT_INACTIVE,
	DOPT_NAME,
	DOPT_UUID,
	DOPT_REASON,
	DOPT_DISABLE,
	DOPT_FORCE,
	DOPT_LOOP,
	DOPT_SINCE,
	DOPT_COUNT_,
};

#define DOPT_BIT(o) (1u << (o))

struct dopt_def {
	const char *long_name;   /* without "--" */
	const char *arg_name;    /* NULL: a flag */
	const char *help;
};

/* What the positional operands of a verb are (for help and completion). */
enum dargs_kind {
	DARGS_NONE,
	DARGS_DOMAIN,            /* one domain name or UUID */
	DARGS_DOMAIN_OPT,        /* an optional domain */
	DARGS_DOMAINS,           /* any number of domains */
	DARGS_DOMAIN_TARGET,     /* a domain and an optional device target */
	DARGS_FILE,              /* one XML file */
	DARGS_SHELL,             /* `completion`: a shell name */
	DARGS_COMMAND_OPT,       /* `help`: an optional command name */
	DARGS_RAW,               /* the verb parses its own argv (img) */
};

#define DARGS_MAX 32             /* most operands a verb takes */

/* The parsed command line of one verb. */
struct dargs {
	const char *verb;        /* the command word ("reboot") */
	const char *pos[DARGS_MAX];   /* positional operands */
	size_t npos;
	unsigned set;            /* DOPT_BIT of every option given */
	const char *val[DOPT_COUNT_];   /* values of options that take one */
	bool json;               /* --output json */
};

/* Global state of one run: the connection and the global options. */
struct dom_ctx {
	const char *uri;         /* -c URI, $VMKIT_DEFAULT_URI or the default */
	bool readonly;           /* -r */
	bool json;               /* --output json before the verb */
	struct dclient *client;  /* opened on the first request */
};

struct cli_cmd {
	const char *name;
	const char *summary;
	const char *usage;        /* after "vmkit " */
	unsigned opts;            /* DOPT_BIT mask (--help always) */
	enum dargs_kind kind;
	int (*fn)(struct dom_ctx *ctx, const struct dargs *a);   /* domain verbs */
	int (*raw)(int argc, char **argv);                       /* DARGS_RAW */
	void (*help)(void);       /* extra help, or NULL */
};

extern const struct dopt_def dopt_defs[DOPT_COUNT_];
/* The command table (main.c). */
const struct cli_cmd *cli_commands(size_t *n);
/* The whole `vmkit` program (main() calls it; tests link main.c without
 * main() by defining CLI_NO_MAIN). */
int cli_main(int argc, char **argv);

/* ---- HTTP client (dclient.c) -------------------------------------------- */

/* The socket a connection URI names: "vmkit:///system" (VMKIT_RUNTIME_DIR),
 * "unix:///abs/path/vmkitd.sock"; readonly picks vmkitd-ro.sock in the same
 * directory. 0 or -EINVAL (why in *why). */
int dclient_uri_socket(const char *uri, bool readonly, char *buf, size_t len,
		       const char **why);

struct dclient;
/* 0, or -EINVAL (bad URI, message printed) / -ENOMEM. */
int dclient_open(const char *uri, bool readonly, struct dclient **out);
void dclient_close(struct dclient *c);

/* One request: method, path under http://localhost (e.g. "/v1/version"),
 * an optional JSON body. On success *out (may be NULL to ignore) holds the
 * answer's JSON. Errors are printed ("vmkit: error: MESSAGE"): -ECONNREFUSED
 * cannot connect; -EPROTO the daemon answered with an error; -EIO anything
 * else. Use dclient_exit_code() to turn the result into an exit code. */
int dclient_call(struct dclient *c, const char *method, const char *path, json_t *body,
		 json_t **out);
/* Stream a newline-delimited response: line() gets each line (without the
 * newline); a non-zero return from it ends the stream (a positive one as a
 * success, a negative one is returned). timeout_s > 0 ends it quietly after
 * that long (returns 0). */
int dclient_stream(struct dclient *c, const char *path, long timeout_s,
		   int (*line)(void *opaque, const char *s, size_t len), void *opaque);
/* "/v1/domains/" + the escaped domain + suffix (e.g. "/start"); malloc'd. */
char *dclient_dom_path(struct dclient *c, const char *dom, const char *suffix);
/* The libcurl handle of a connection (for the console's CONNECT_ONLY use). */
void *dclient_curl(struct dclient *c);
/* Connect only (libcurl's CONNECT_ONLY) for a raw exchange on *fd through
 * dclient_curl(c). 0, or -ECONNREFUSED (printed). */
int dclient_connect_only(struct dclient *c, int *fd);
/* Print an API error body (status, {"error":...}) the way dclient_call does. */
void dclient_api_error(long status, const char *body, size_t len);
/* 0 → 0; -ECONNREFUSED → 3; -EINVAL → 2; other → 1. */
int dclient_exit_code(int rc);
/* "vmkit: error: ..." on stderr. */
void dclient_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Open ctx->client if needed. 0 or -errno (printed). */
int dom_connect(struct dom_ctx *ctx);
/* GET path (for a domain: dom + suffix, else suffix alone) into *out. 0 or
 * -errno (printed). */
int dom_get(struct dom_ctx *ctx, const char *dom, const char *suffix, json_t **out);
/* A whole-number option value in [0, max]. 0 or -EINVAL (printed). */
int dom_opt_uint(const struct dargs *a, enum dopt o, uint64_t max, uint64_t *out);
/* Print JSON for --output json: pretty, sorted keys, newline. */
void dom_print_json(FILE *f, json_t *v);

/* ---- verbs (dom.c, dom_query.c, cconsole.c, completion.c) --------------- */

int dom_cmd_define(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_undefine(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_create(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_start(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_shutdown(struct dom_ctx *ctx, const struct dargs *a);
/* reboot, reset, suspend, resume: one POST without a body each
 * (dom_simple_verbs in dom.c). */
int dom_cmd_simple(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_destroy(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_autostart(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_edit(struct dom_ctx *ctx, const struct dargs *a);

int dom_cmd_list(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_dominfo(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_domstate(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_dumpxml(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_domstats(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_dommemstat(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_domblkstat(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_domifstat(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_event(struct dom_ctx *ctx, const struct dargs *a);
int dom_cmd_version(struct dom_ctx *ctx, const struct dargs *a);

/* Attach to dom's console (?force=1 with force) until Ctrl-], the daemon
 * closing, EOF on stdin or a signal; the terminal is restored on every path.
 * An exit code. */
int cconsole_attach(struct dom_ctx *ctx, const char *dom, bool force);
int dom_cmd_console(struct dom_ctx *ctx, const struct dargs *a);

/* The bash completion script for the table. 0 or -errno. */
int completion_bash(FILE *f, const struct cli_cmd *cmds, size_t n);
int dom_cmd_completion(struct dom_ctx *ctx, const struct dargs *a);

/* ---- printers (dom_print.c): API JSON → virsh's text -------------------- */

/* Printer flags. */
enum {
	DPRINT_NAME = 1u << 0,     /* list --name */
	DPRINT_UUID = 1u << 1,     /* list --uuid */
	DPRINT_INACTIVE = 1u << 2, /* list --inactive: only inactive domains */
	DPRINT_REASON = 1u << 3,   /* domstate --reason */
};

/* Each returns 0, or -ENOENT when a requested target is not in the stats or
 * the domain is not running (message printed), or -EBADMSG when the JSON
 * lacks what it needs. */
int dprint_list(FILE *f, json_t *v, unsigned flags);
int dprint_dominfo(FILE *f, json_t *v);
int dprint_domstate(FILE *f, json_t *v, unsigned flags);
int dprint_domstats(FILE *f, json_t *stats);      /* one DOMSTATS */
int dprint_dommemstat(FILE *f, json_t *stats);
int dprint_domblkstat(FILE *f, json_t *stats, const char *target);
int dprint_domifstat(FILE *f, json_t *stats, const char *target);
int dprint_version(FILE *f, json_t *v);
int dprint_event(FILE *f, json_t *ev);
/* "shut off" for "shutoff"; other states as they are. */
const char *dprint_state(const char *state);

#endif
