/* dom: vmkit's lifecycle verbs on vmkitd's API: define, undefine, create,
 * start, shutdown, reboot, reset, destroy, suspend, resume, autostart and
 * edit ($VISUAL/$EDITOR on the stored XML, redefined through the daemon
 * which validates it), with virsh's messages ("Domain 'web' started"). */
#include "cli/dom.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

int dom_connect(struct dom_ctx *ctx)
{
	if (ctx->client)
		return 0;
	return dclient_open(ctx->uri, ctx->readonly, &ctx->client);
}

int dom_get(struct dom_ctx *ctx, const char *dom, const char *suffix, json_t **out)
{
	char *path = NULL;
	int rc = dom_connect(ctx);

	if (rc < 0)
		return rc;
	if (dom) {
		path = dclient_dom_path(ctx->client, dom, suffix);
		if (!path)
			return -ENOMEM;
	}
	rc = dclient_call(ctx->client, "GET", path ? path : suffix, NULL, out);
	free(path);
	return rc;
}

void dom_print_json(FILE *f, json_t *v)
{
	json_dumpf(v, f, JSON_INDENT(2) | JSON_SORT_KEYS);
	fputc('\n', f);
}

/* Read a whole (XML) file as a NUL-terminated string. 0 or -errno (printed). */
static int dom_read_file(const char *path, char **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = util_read_file(path, 64u << 20, &buf, &len);

	if (rc < 0) {
		dclient_error("cannot read '%s': %s", path,
			  rc == -EFBIG ? "larger than 64 MiB" : strerror(-rc));
		return rc;
	}
	if (memchr(buf, '\0', len)) {
		dclient_error("'%s' contains a NUL byte: not an XML document", path);
		free(buf);
		return -EILSEQ;
	}
	*out = (char *)buf;   /* NUL-terminated by util_read_file */
	return 0;
}

/* {"xml": text, ...}: NULL (printed) when text is not UTF-8. */
static json_t *dom_xml_body(const char *path, const char *text)
{
	json_t *body = json_object();
	json_t *s = json_string(text);

	if (!s) {
		dclient_error("'%s' is not UTF-8 text", path);
		json_decref(body);
		return NULL;
	}
	json_object_set_new(body, "xml", s);
	return body;
}

static const char *dom_name(json_t *info, const char *fallback)
{
	const char *n = json_string_value(json_object_get(info, "name"));

	return n ? n : fallback;
}

/* Send body (stolen; NULL: none) as method to dom's suffix; print msg with
 * the domain's name, or the answer with --output json. *out keeps the
 * answer when wanted. 0 or -errno. */
static int dom_request(struct dom_ctx *ctx, const struct dargs *a, const char *method,
		       const char *suffix, json_t *body, const char *msg, json_t **out)
{
	json_t *ans = NULL;
	char *path = NULL;
	int rc = dom_connect(ctx);

	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	path = dclient_dom_path(ctx->client, a->pos[0], suffix);
	if (!path)
		goto out;
	rc = dclient_call(ctx->client, method, path, body, &ans);
	if (rc < 0)
		goto out;
	if (a->json)
		dom_print_json(stdout, ans);
	else
		printf("Domain '%s' %s\n", dom_name(ans, a->pos[0]), msg);
	if (out) {
		*out = ans;
		ans = NULL;
	}
out:
	json_decref(ans);
	json_decref(body);
	free(path);
	return rc;
}

static json_t *dom_bool_body(const char *key, bool v)
{
	return json_pack("{sb}", key, v);
}

/* A whole-number option value in [0, max]. 0 or -EINVAL (printed). */
int dom_opt_uint(const struct dargs *a, enum dopt o, uint64_t max, uint64_t *out)
{
	if (util_parse_uint(a->val[o], 0, max, out) == 0)
		return 0;
	fprintf(stderr, "%s: --%s takes a whole number from 0 to %" PRIu64 ", not '%s'\n",
		DOM_PROG, dopt_defs[o].long_name, max, a->val[o]);
	return -EINVAL;
}

/* Attach to the console of the domain in info (after start/create). */
static int dom_then_console(struct dom_ctx *ctx, json_t *info, const char *fallback)
{
	fflush(stdout);
	return cconsole_attach(ctx, dom_name(info, fallback), false);
}

/* ---- define, create, undefine ------------------------------------------ */

static int dom_post_xml(struct dom_ctx *ctx, const struct dargs *a, const char *path,
			bool create, json_t **out)
{
	char *text = NULL;
	json_t *body = NULL;
	int rc;

	rc = dom_read_file(a->pos[0], &text);
	if (rc < 0)
		return rc;
	rc = -EIO;
	body = dom_xml_body(a->pos[0], text);
	if (!body)
		goto out;
	if (create)
		json_object_set_new(body, "paused", json_boolean(a->set & DOPT_BIT(DOPT_PAUSED)));
	rc = dom_connect(ctx);
	if (rc == 0)
		rc = dclient_call(ctx->client, "POST", path, body, out);
out:
	json_decref(body);
	free(text);
	return rc;
}

int dom_cmd_define(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *ans = NULL;
	int rc = dom_post_xml(ctx, a, "/v1/domains", false, &ans);

	if (rc == 0 && a->json)
		dom_print_json(stdout, ans);
	else if (rc == 0)
		printf("Domain '%s' defined from %s\n", dom_name(ans, "?"), a->pos[0]);
	json_decref(ans);
	return dclient_exit_code(rc);
}

int dom_cmd_create(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *ans = NULL;
	int rc = dom_post_xml(ctx, a, "/v1/domains/create", true, &ans);

	if (rc == 0 && a->json)
		dom_print_json(stdout, ans);
	else if (rc == 0)
		printf("Domain '%s' created from %s\n", dom_name(ans, "?"), a->pos[0]);
	if (rc == 0 && (a->set & DOPT_BIT(DOPT_CONSOLE))) {
		rc = dom_then_console(ctx, ans, "?");
		json_decref(ans);
		return rc;
	}
	json_decref(ans);
	return dclient_exit_code(rc);
}

int dom_cmd_undefine(struct dom_ctx *ctx, const struct dargs *a)
{
	return dclient_exit_code(dom_request(ctx, a, "DELETE", "", NULL,
					 "has been undefined", NULL));
}

/* ---- lifecycle actions --------------------------------------------------- */

int dom_cmd_start(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *body = dom_bool_body("paused", a->set & DOPT_BIT(DOPT_PAUSED));
	json_t *info = NULL;
	int rc = dom_request(ctx, a, "POST", "/start", body, "started", &info);

	if (rc == 0 && (a->set & DOPT_BIT(DOPT_CONSOLE))) {
		rc = dom_then_console(ctx, info, a->pos[0]);
		json_decref(info);
		return rc;
	}
	json_decref(info);
	return dclient_exit_code(rc);
}

int dom_cmd_shutdown(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *body = NULL;
	uint64_t t;

	if (a->set & DOPT_BIT(DOPT_TIMEOUT)) {
		if (dom_opt_uint(a, DOPT_TIMEOUT, 3600, &t) < 0)
			return DOM_EXIT_USAGE;
		body = json_pack("{sI}", "timeout", (json_int_t)t);
		return dclient_exit_code(dom_request(ctx, a, "POST", "/shutdown", body,
						 "has been shut down", NULL));
	}
	return dclient_exit_code(dom_request(ctx, a, "POST", "/shutdown", NULL,
					 "is being shutdown", NULL));
}

/* The verbs that are one POST without a body, and what they say when done. */
static const struct dom_simple_verb {
	const char *verb;
	const char *path;
	const char *done;
} dom_simple_verbs[] = {
	{ "reboot", "/reboot", "is being rebooted" },
	{ "reset", "/reset", "was reset" },
	{ "suspend", "/suspend", "suspended" },
	{ "resume", "/resume", "resumed" },
};

int dom_cmd_simple(struct dom_ctx *ctx, const struct dargs *a)
{
	for (size_t i = 0; i < ARRAY_SIZE(dom_simple_verbs); i++) {
		const struct dom_simple_verb *v = &dom_simple_verbs[i];

		if (strcmp(v->verb, a->verb) == 0)
			return dclient_exit_code(dom_request(ctx, a, "POST", v->path, NULL,
							 v->done, NULL));
	}
	fprintf(stderr, "vmkit: error: '%s' has no entry in dom_simple_verbs\n", a->verb);
	return DOM_EXIT_FAILED;
}

int dom_cmd_destroy(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *body = dom_bool_body("graceful", a->set & DOPT_BIT(DOPT_GRACEFUL));

	return dclient_exit_code(dom_request(ctx, a, "POST", "/destroy", body,
					 "destroyed", NULL));
}

int dom_cmd_autostart(struct dom_ctx *ctx, const struct dargs *a)
{
	bool on = !(a->set & DOPT_BIT(DOPT_DISABLE));

	return dclient_exit_code(dom_request(ctx, a, "PUT", "/autostart",
					 dom_bool_body("autostart", on),
					 on ? "marked as autostarted"
					    : "unmarked as autostarted", NULL));
}

/* ---- edit ----------------------------------------------------------------- */

struct dom_edit {
	const char *dom;
	char path[PATH_MAX];     /* the temporary file */
	char *orig;              /* the stored XML as fetched */
};

static int dom_edit_fetch(struct dom_ctx *ctx, struct dom_edit *e)
{
	json_t *ans = NULL;
	int rc = dom_get(ctx, e->dom, "/xml?inactive=1", &ans);

	if (rc < 0)
		return rc;
	if (!json_is_string(json_object_get(ans, "xml"))) {
		dclient_error("vmkitd's answer has no 'xml'");
		rc = -EIO;
	} else {
		e->orig = strdup(json_string_value(json_object_get(ans, "xml")));
		rc = e->orig ? 0 : -ENOMEM;
	}
	json_decref(ans);
	return rc;
}

static int dom_edit_write(struct dom_edit *e)
{
	const char *tmp = getenv("TMPDIR");
	size_t len = strlen(e->orig);
	int fd, rc = 0;

	snprintf(e->path, sizeof(e->path), "%s/vmkit-edit-XXXXXX.xml",
		 tmp && *tmp ? tmp : "/tmp");
	fd = mkstemps(e->path, 4);
	if (fd < 0) {
		rc = -errno;
		dclient_error("cannot create a temporary file %s: %s", e->path, strerror(-rc));
		e->path[0] = '\0';
		return rc;
	}
	if ((rc = util_write_all(fd, e->orig, len)) < 0) {
		dclient_error("cannot write %s: %s", e->path, strerror(-rc));
	}
	close(fd);
	return rc;
}

/* Run $VISUAL / $EDITOR / vi on the file (through sh: EDITOR may have
 * arguments). 0, or -EIO when the editor failed (printed). */
static int dom_edit_run(const char *file)
{
	const char *ed = getenv("VISUAL");
	char cmd[PATH_MAX + 16];
	int status;
	pid_t pid;

	if (!ed || !*ed)
		ed = getenv("EDITOR");
	if (!ed || !*ed)
		ed = "vi";
	snprintf(cmd, sizeof(cmd), "%s \"$1\"", ed);
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, "sh", file, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	dclient_error("the editor '%s' failed (%s %d); nothing changed", ed,
		  WIFEXITED(status) ? "exit status" : "signal",
		  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	return -EIO;
}

/* Ask "try again?" on a terminal; false otherwise. */
static bool dom_edit_again(void)
{
	char line[16];

	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return false;
	printf("Failed. Try again? [y,n]: ");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	return line[0] == 'y' || line[0] == 'Y';
}

/* One round: edit, compare, redefine. 1 = unchanged, 0 = redefined. */
static int dom_edit_round(struct dom_ctx *ctx, struct dom_edit *e)
{
	char *text = NULL;
	json_t *body;
	int rc = dom_edit_run(e->path);

	if (rc < 0)
		return rc;
	rc = dom_read_file(e->path, &text);
	if (rc < 0)
		return rc;
	if (strcmp(text, e->orig) == 0) {
		free(text);
		return 1;
	}
	body = dom_xml_body(e->path, text);
	rc = body ? dclient_call(ctx->client, "POST", "/v1/domains", body, NULL) : -EPROTO;
	json_decref(body);
	free(text);
	return rc;
}

int dom_cmd_edit(struct dom_ctx *ctx, const struct dargs *a)
{
	struct dom_edit e = { .dom = a->pos[0] };
	int rc = dom_edit_fetch(ctx, &e);

	if (rc == 0)
		rc = dom_edit_write(&e);
	while (rc == 0) {
		rc = dom_edit_round(ctx, &e);
		if (rc == 1) {
			printf("Domain '%s' XML configuration not changed.\n", e.dom);
			rc = 0;
			break;
		}
		if (rc == 0) {
			printf("Domain '%s' XML configuration edited.\n", e.dom);
			break;
		}
		if (rc != -EPROTO || !dom_edit_again())
			break;
		rc = 0;
	}
	if (e.path[0])
		unlink(e.path);
	free(e.orig);
	return dclient_exit_code(rc);
}
