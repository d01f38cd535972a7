/* dom_query: vmkit's query verbs: list, dominfo, domstate, dumpxml,
 * domstats, dommemstat, domblkstat, domifstat, event and version. Each
 * fetches the API's JSON and prints it through dom_print.c, or as JSON with
 * --output json. */
#include "cli/dom.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit-config.h"

/* Print v with a printer's result turned into an exit code. */
static int dq_done(int rc, json_t *v)
{
	if (rc == -EBADMSG)
		dclient_error("vmkitd's answer lacks fields this command needs");
	json_decref(v);
	return dclient_exit_code(rc == -EBADMSG ? -EIO : rc);
}

/* ---- list, dominfo, domstate, dumpxml ----------------------------------- */

/* --inactive in JSON: drop the active domains from the answer. */
static void dq_only_inactive(json_t *v)
{
	json_t *doms = json_object_get(v, "domains");
	size_t i = 0;

	while (i < json_array_size(doms)) {
		if (json_is_integer(json_object_get(json_array_get(doms, i), "id")))
			json_array_remove(doms, i);
		else
			i++;
	}
}

int dom_cmd_list(struct dom_ctx *ctx, const struct dargs *a)
{
	bool all = a->set & (DOPT_BIT(DOPT_ALL) | DOPT_BIT(DOPT_INACTIVE));
	bool inactive_only = (a->set & DOPT_BIT(DOPT_INACTIVE)) && !(a->set & DOPT_BIT(DOPT_ALL));
	unsigned flags = 0;
	json_t *v = NULL;
	int rc;

	rc = dom_get(ctx, NULL, all ? "/v1/domains?all=1" : "/v1/domains", &v);
	if (rc < 0)
		return dclient_exit_code(rc);
	if (inactive_only)
		flags |= DPRINT_INACTIVE;
	if (a->set & DOPT_BIT(DOPT_NAME))
		flags |= DPRINT_NAME;
	if (a->set & DOPT_BIT(DOPT_UUID))
		flags |= DPRINT_UUID;
	if (a->json) {
		if (inactive_only)
			dq_only_inactive(v);
		dom_print_json(stdout, v);
	} else {
		rc = dprint_list(stdout, v, flags);
	}
	return dq_done(rc, v);
}

int dom_cmd_dominfo(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *v = NULL;
	int rc = dom_get(ctx, a->pos[0], "", &v);

	if (rc < 0)
		return dclient_exit_code(rc);
	if (a->json)
		dom_print_json(stdout, v);
	else
		rc = dprint_dominfo(stdout, v);
	return dq_done(rc, v);
}

int dom_cmd_domstate(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *v = NULL;
	int rc = dom_get(ctx, a->pos[0], "", &v);

	if (rc < 0)
		return dclient_exit_code(rc);
	if (a->json) {
		json_t *o = json_pack("{sOsO}", "state", json_object_get(v, "state"),
				      "reason", json_object_get(v, "reason"));

		if (o)
			dom_print_json(stdout, o);
		rc = o ? 0 : -EBADMSG;
		json_decref(o);
	} else {
		rc = dprint_domstate(stdout, v, a->set & DOPT_BIT(DOPT_REASON) ? DPRINT_REASON : 0);
	}
	return dq_done(rc, v);
}

int dom_cmd_dumpxml(struct dom_ctx *ctx, const struct dargs *a)
{
	bool inactive = a->set & DOPT_BIT(DOPT_INACTIVE);
	json_t *v = NULL;
	const char *xml;
	size_t len;
	int rc = dom_get(ctx, a->pos[0], inactive ? "/xml?inactive=1" : "/xml", &v);

	if (rc < 0)
		return dclient_exit_code(rc);
	xml = json_string_value(json_object_get(v, "xml"));
	if (a->json) {
		dom_print_json(stdout, v);
	} else if (!xml) {
		rc = -EBADMSG;
	} else {
		len = strlen(xml);
		fwrite(xml, 1, len, stdout);
		if (len == 0 || xml[len - 1] != '\n')
			fputc('\n', stdout);
	}
	return dq_done(rc, v);
}

/* ---- statistics ---------------------------------------------------------- */

/* domstats with no domain: everything active, from /v1/stats. */
static int dq_stats_all(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *v = NULL, *d;
	size_t i;
	int rc = dom_get(ctx, NULL, "/v1/stats", &v);

	if (rc < 0)
		return dclient_exit_code(rc);
	if (a->json) {
		dom_print_json(stdout, v);
		return dq_done(0, v);
	}
	if (!json_is_array(json_object_get(v, "domains")))
		return dq_done(-EBADMSG, v);
	json_array_foreach(json_object_get(v, "domains"), i, d) {
		rc = dprint_domstats(stdout, d);
		if (rc < 0)
			break;
	}
	return dq_done(rc, v);
}

int dom_cmd_domstats(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *all = json_array(), *v;
	int rc = 0;

	if (a->npos == 0) {
		json_decref(all);
		return dq_stats_all(ctx, a);
	}
	for (size_t i = 0; i < a->npos && rc == 0; i++) {
		v = NULL;
		rc = dom_get(ctx, a->pos[i], "/stats", &v);
		if (rc == 0 && !a->json)
			rc = dprint_domstats(stdout, v);
		if (rc == 0)
			json_array_append(all, v);
		json_decref(v);
	}
	if (rc == 0 && a->json) {
		v = json_pack("{sO}", "domains", all);
		dom_print_json(stdout, v);
		json_decref(v);
	}
	return dq_done(rc, all);
}

int dom_cmd_dommemstat(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *v = NULL;
	int rc = dom_get(ctx, a->pos[0], "/stats", &v);

	if (rc < 0)
		return dclient_exit_code(rc);
	if (a->json && json_is_object(json_object_get(v, "memory")))
		dom_print_json(stdout, json_object_get(v, "memory"));
	else
		rc = a->json ? -EBADMSG : dprint_dommemstat(stdout, v);
	return dq_done(rc, v);
}

/* The entries of DOMSTATS' array key matching target (all without one). */
static json_t *dq_devices(json_t *st, const char *key, const char *alt, const char *target)
{
	json_t *out = json_array(), *d;
	size_t i;

	json_array_foreach(json_object_get(st, key), i, d) {
		const char *t = json_string_value(json_object_get(d, "target"));
		const char *t2 = alt ? json_string_value(json_object_get(d, alt)) : NULL;

		if (!target || (t && strcmp(t, target) == 0) || (t2 && strcmp(t2, target) == 0))
			json_array_append(out, d);
	}
	return out;
}

static int dq_devstat(struct dom_ctx *ctx, const struct dargs *a, bool net)
{
	const char *target = a->npos > 1 ? a->pos[1] : NULL;
	json_t *v = NULL, *devs;
	int rc = dom_get(ctx, a->pos[0], "/stats", &v);

	if (rc < 0)
		return dclient_exit_code(rc);
	if (!a->json) {
		rc = net ? dprint_domifstat(stdout, v, target)
			 : dprint_domblkstat(stdout, v, target);
		return dq_done(rc, v);
	}
	devs = dq_devices(v, net ? "net" : "block", net ? "mac" : NULL, target);
	if (target && json_array_size(devs) == 0) {
		dclient_error("domain '%s' has no %s '%s'", a->pos[0], net ? "interface" : "disk",
			  target);
		rc = -ENOENT;
	} else {
		dom_print_json(stdout, devs);
	}
	json_decref(devs);
	return dq_done(rc, v);
}

int dom_cmd_domblkstat(struct dom_ctx *ctx, const struct dargs *a)
{
	return dq_devstat(ctx, a, false);
}

int dom_cmd_domifstat(struct dom_ctx *ctx, const struct dargs *a)
{
	return dq_devstat(ctx, a, true);
}

/* ---- event, version ------------------------------------------------------ */

struct dq_events {
	const char *dom;         /* filter: name or UUID, or NULL */
	bool loop;
	bool json;
	int bad;                 /* lines that were not events */
};

static bool dq_event_matches(const struct dq_events *q, json_t *ev)
{
	json_t *d = json_object_get(ev, "domain");
	const char *name = json_string_value(json_object_get(d, "name"));
	const char *uuid = json_string_value(json_object_get(d, "uuid"));

	if (!q->dom || !json_is_object(d) || ((!name || !*name) && (!uuid || !*uuid)))
		return true;   /* not about one domain ("lost") */
	return (name && strcmp(name, q->dom) == 0) || (uuid && strcasecmp(uuid, q->dom) == 0);
}

static int dq_event_line(void *opaque, const char *s, size_t len)
{
	struct dq_events *q = opaque;
	json_error_t jerr;
	json_t *ev = json_loadb(s, len, 0, &jerr);
	int rc = 0;

	if (!ev || !json_is_string(json_object_get(ev, "event"))) {
		dclient_error("vmkitd sent an event line that is not an event: %.*s",
			  (int)(len > 200 ? 200 : len), s);
		q->bad++;
	} else if (dq_event_matches(q, ev)) {
		if (q->json) {
			json_dumpf(ev, stdout, JSON_COMPACT | JSON_SORT_KEYS);
			fputc('\n', stdout);
		} else {
			dprint_event(stdout, ev);
		}
		fflush(stdout);
		rc = q->loop ? 0 : 1;
	}
	json_decref(ev);
	return rc;
}

int dom_cmd_event(struct dom_ctx *ctx, const struct dargs *a)
{
	struct dq_events q = { .dom = a->npos ? a->pos[0] : NULL, .json = a->json,
			       .loop = a->set & DOPT_BIT(DOPT_LOOP) };
	uint64_t timeout = 0, since = 0;
	char path[64] = "/v1/events";
	int rc;

	if ((a->set & DOPT_BIT(DOPT_TIMEOUT)) &&
	    dom_opt_uint(a, DOPT_TIMEOUT, 365 * 86400, &timeout) < 0)
		return DOM_EXIT_USAGE;
	if ((a->set & DOPT_BIT(DOPT_SINCE)) && dom_opt_uint(a, DOPT_SINCE, INT64_MAX, &since) < 0)
		return DOM_EXIT_USAGE;
	if (a->set & DOPT_BIT(DOPT_SINCE))
		snprintf(path, sizeof(path), "/v1/events?since=%" PRIu64, since);
	rc = dom_connect(ctx);
	if (rc == 0)
		rc = dclient_stream(ctx->client, path, (long)timeout, dq_event_line, &q);
	if (rc == 0 && q.bad)
		rc = -EIO;
	return dclient_exit_code(rc);
}

int dom_cmd_version(struct dom_ctx *ctx, const struct dargs *a)
{
	json_t *v = NULL;
	int rc;

	if (!a->json)
		printf("Client: vmkit %s\n", VMKIT_VERSION);
	fflush(stdout);
	rc = dom_get(ctx, NULL, "/v1/version", &v);
	if (rc < 0)
		return dclient_exit_code(rc);
	if (a->json)
		dom_print_json(stdout, v);
	else
		rc = dprint_version(stdout, v);
	return dq_done(rc, v);
}
