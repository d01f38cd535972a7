/* ddom: the domain table, definitions and their files, the API's views of a
 * domain (ddom.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "ddom.h"
#include "domain_units.h"
#include "domain_xml.h"
#include "dstats.h"
#include "dstore.h"
#include "dvmm.h"

enum ddom_dir { DIR_STATE, DIR_RUNTIME, DIR_LOG };

static const struct {
	enum ddom_dir dir;
	const char *sub, *suffix;
	bool by_name;
} ddom_files[] = {
	[DDOM_DEF] = { DIR_STATE, "domains/", ".xml", false },
	[DDOM_AUTOSTART] = { DIR_STATE, "autostart/", "", false },
	[DDOM_SOCK] = { DIR_RUNTIME, "", ".sock", false },
	[DDOM_EXIT] = { DIR_RUNTIME, "", ".sock.exit", false },
	[DDOM_PID] = { DIR_RUNTIME, "", ".pid", false },
	[DDOM_STATE] = { DIR_RUNTIME, "", ".state", false },
	[DDOM_TXML] = { DIR_RUNTIME, "", ".xml", false },
	[DDOM_CONFIG] = { DIR_RUNTIME, "", ".json", false },
	[DDOM_VSOCK] = { DIR_RUNTIME, "", ".vsock", false },
	[DDOM_LOG] = { DIR_LOG, "", ".log", true },
};

void ddom_path(const struct ddom *dom, enum ddom_file f, char *buf, size_t len)
{
	const struct vmkitd_config *c = &dom->d->cfg;
	const char *dirs[] = { [DIR_STATE] = c->state_dir, [DIR_RUNTIME] = c->runtime_dir,
			       [DIR_LOG] = c->log_dir };

	snprintf(buf, len, "%s/%s%s%s", dirs[ddom_files[f].dir], ddom_files[f].sub,
		 ddom_files[f].by_name ? dom->name : dom->uuid, ddom_files[f].suffix);
}

struct ddom *ddom_find_locked(struct vmkitd *d, const char *ident)
{
	for (size_t i = 0; i < d->ndoms; i++) {
		struct ddom *dom = d->doms[i];

		if (strcmp(dom->name, ident) == 0 || strcasecmp(dom->uuid, ident) == 0)
			return dom;
	}
	return NULL;
}

int ddom_get(struct vmkitd *d, const char *ident, struct ddom **out, struct derr *err)
{
	struct ddom *dom;

	pthread_mutex_lock(&d->lock);
	dom = ddom_find_locked(d, ident);
	if (dom)
		dom->refs++;
	pthread_mutex_unlock(&d->lock);
	*out = dom;
	if (!dom)
		return derr_set(err, DERR_NO_DOMAIN, "no domain with name or UUID '%s'", ident);
	return 0;
}

void ddom_free(struct ddom *dom)
{
	if (dom->run != dom->def)
		domain_xml_free(dom->run);
	domain_xml_free(dom->def);
	pthread_mutex_destroy(&dom->op);
	pthread_cond_destroy(&dom->cond);
	free(dom);
}

void ddom_put(struct ddom *dom)
{
	struct vmkitd *d = dom->d;
	bool last;

	pthread_mutex_lock(&d->lock);
	last = --dom->refs == 0;
	pthread_mutex_unlock(&d->lock);
	if (last)
		ddom_free(dom);
}

void ddom_remove_locked(struct ddom *dom)
{
	struct vmkitd *d = dom->d;

	for (size_t i = 0; i < d->ndoms; i++) {
		if (d->doms[i] != dom)
			continue;
		d->doms[i] = d->doms[--d->ndoms];
		dom->removed = true;
		dom->refs--;   /* the table's; a request still holds one */
		return;
	}
}

struct ddom *ddom_new(struct vmkitd *d, struct domain_xml *dx, bool persistent)
{
	const struct domain_def *def = domain_xml_def(dx);
	struct ddom *dom = calloc(1, sizeof(*dom));

	if (!dom)
		return NULL;
	dom->d = d;
	dom->refs = 1;
	pthread_mutex_init(&dom->op, NULL);
	pthread_cond_init(&dom->cond, NULL);
	domain_units_uuid_format(def->uuid, dom->uuid);
	snprintf(dom->name, sizeof(dom->name), "%s", def->name);
	dom->def = dx;
	dom->persistent = persistent;
	dom->state = DSTATE_SHUTOFF;
	dom->reason = DREASON_UNKNOWN;
	dom->pidfd = -1;
	return dom;
}

int ddom_insert_locked(struct vmkitd *d, struct ddom *dom)
{
	if (d->ndoms == d->cap) {
		size_t cap = d->cap * 2 + 16;
		struct ddom **p = realloc(d->doms, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		d->doms = p;
		d->cap = cap;
	}
	d->doms[d->ndoms++] = dom;
	return 0;
}

void ddom_event(struct ddom *dom, const char *event, const char *detail)
{
	if (devent_emit(&dom->d->events, dom->name, dom->uuid, event, detail) < 0)
		log_warn("cannot record the sequence number of event %s/%s of '%s'", event,
			 detail, dom->name);
}

/* Parse and complete; err invalid-xml. */
static int ddom_parse(const char *xml, struct domain_xml **dx, struct derr *err)
{
	struct domain_xml_error xerr = { 0 };
	int ret = domain_xml_parse(xml, strlen(xml), dx, &xerr);

	if (ret == -ENOMEM)
		return derr_set(err, DERR_INTERNAL, "out of memory parsing the XML");
	if (ret < 0)
		return derr_set(err, DERR_INVALID_XML, "%s", xerr.msg[0] ? xerr.msg :
				"the XML is larger than 1 MiB");
	ret = domain_xml_complete(*dx, NULL, NULL);
	if (ret < 0) {
		domain_xml_free(*dx);
		return derr_set(err, DERR_INTERNAL, "cannot complete the definition: %s",
				strerror(-ret));
	}
	return 0;
}

/* Store the definition text of dx in STATE/domains/UUID.xml or, for a
 * transient domain, RUNTIME/UUID.xml. */
static int ddom_store(struct ddom *dom, struct domain_xml *dx, bool persistent, struct derr *err)
{
	char path[PATH_MAX];
	size_t len;
	const char *text = domain_xml_text(dx, &len);
	int ret;

	ddom_path(dom, persistent ? DDOM_DEF : DDOM_TXML, path, sizeof(path));
	ret = persistent ? dstore_write_file(path, text, len) : dstore_write_runtime(path, text, len);
	if (ret < 0)
		return derr_set(err, DERR_INTERNAL, "cannot write %s: %s", path, strerror(-ret));
	return 0;
}

/* Another domain holding the name or the UUID: 409 domain-exists. */
static int ddom_conflict_locked(struct vmkitd *d, struct ddom *tmp, bool transient,
				struct ddom **same, struct derr *err)
{
	struct ddom *by_name = ddom_find_locked(d, tmp->name);
	struct ddom *by_uuid = ddom_find_locked(d, tmp->uuid);

	*same = NULL;
	if (by_name && by_name != by_uuid)
		return derr_set(err, DERR_DOMAIN_EXISTS, "domain '%s' already exists with UUID %s",
				tmp->name, by_name->uuid);
	if (by_uuid && by_uuid != by_name)
		return derr_set(err, DERR_DOMAIN_EXISTS, "UUID %s already belongs to domain '%s'",
				tmp->uuid, by_uuid->name);
	if (by_name && transient)
		return derr_set(err, DERR_DOMAIN_EXISTS, "domain '%s' already exists", tmp->name);
	*same = by_name;
	return 0;
}

/* Replace the definition of dom (same name, same UUID; stored already). */
static void ddom_redefine_locked(struct ddom *dom, struct domain_xml *dx)
{
	if (dom->def != dom->run)
		domain_xml_free(dom->def);
	dom->def = dx;
	if (!dom->persistent) {
		char path[PATH_MAX];

		ddom_path(dom, DDOM_TXML, path, sizeof(path));
		unlink(path);
		dom->persistent = true;
	}
	ddom_event(dom, "defined", "updated");
}

/* Into the table: dx replaces same's definition (same = NULL, or one that
 * left the table meanwhile: dom is inserted). dx is then owned. */
static int ddom_define_locked(struct ddom *dom, struct ddom *same, struct domain_xml *dx,
			      bool transient, struct derr *err)
{
	if (same && !same->removed) {
		ddom_redefine_locked(same, dx);
		return 0;
	}
	if (ddom_insert_locked(dom->d, dom) < 0)
		return derr_set(err, DERR_INTERNAL, "out of memory");
	if (!transient)
		ddom_event(dom, "defined", "added");
	return 0;
}

/* Checked against the table under vmkitd.lock, stored under store only
 * (the fsync does not hold up the API), then put in the table. */
int ddom_define(struct vmkitd *d, const char *xml, bool transient, struct ddom **out,
		struct derr *err)
{
	struct domain_xml *dx;
	struct ddom *dom, *same = NULL;
	int ret;

	ret = ddom_parse(xml, &dx, err);
	if (ret < 0)
		return ret;
	dom = ddom_new(d, dx, !transient);
	if (!dom) {
		domain_xml_free(dx);
		return derr_set(err, DERR_INTERNAL, "out of memory");
	}
	pthread_mutex_lock(&d->store);
	pthread_mutex_lock(&d->lock);
	ret = ddom_conflict_locked(d, dom, transient, &same, err);
	if (same)
		same->refs++;
	pthread_mutex_unlock(&d->lock);
	if (ret == 0)
		ret = ddom_store(dom, dx, !transient, err);
	pthread_mutex_lock(&d->lock);
	if (ret == 0)
		ret = ddom_define_locked(dom, same, dx, transient, err);
	if (ret == 0 && same && !same->removed) {
		dom->def = NULL;   /* dx went to same */
		ddom_free(dom);
		dom = same;        /* with the reference taken above, now the caller's */
		same = NULL;
	} else if (ret < 0) {
		ddom_free(dom);
		dom = NULL;
	} else {
		dom->refs++;       /* the caller's */
	}
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_unlock(&d->store);
	if (same)
		ddom_put(same);
	*out = dom;
	return ret;
}

/* Called with op held: the flag file changes under store only. */
int ddom_set_autostart(struct ddom *dom, bool on, struct derr *err)
{
	char path[PATH_MAX];
	bool transient;
	int ret;

	pthread_mutex_lock(&dom->d->lock);
	transient = !dom->persistent;
	pthread_mutex_unlock(&dom->d->lock);
	if (transient)
		return derr_set(err, DERR_OPERATION_INVALID, "domain '%s' is transient: only "
				"persistent domains can autostart", dom->name);
	ddom_path(dom, DDOM_AUTOSTART, path, sizeof(path));
	pthread_mutex_lock(&dom->d->store);
	ret = on ? dstore_write_file(path, "", 0) : dstore_unlink(path);
	pthread_mutex_unlock(&dom->d->store);
	if (ret < 0)
		return derr_set(err, DERR_INTERNAL, "cannot %s %s: %s", on ? "write" : "remove",
				path, strerror(-ret));
	pthread_mutex_lock(&dom->d->lock);
	dom->autostart = on;
	pthread_mutex_unlock(&dom->d->lock);
	return 0;
}

/* The stored definition leaves (store held, not vmkitd.lock); a running
 * domain's text moves to RUNTIME/UUID.xml first (it becomes transient). */
static int ddom_unstore(struct ddom *dom, bool active, struct derr *err)
{
	char path[PATH_MAX];
	int ret = active ? ddom_store(dom, dom->def, false, err) : 0;

	ddom_path(dom, DDOM_DEF, path, sizeof(path));
	if (ret == 0 && (ret = dstore_unlink(path)) < 0)
		return derr_set(err, DERR_INTERNAL, "cannot remove %s: %s", path, strerror(-ret));
	ddom_path(dom, DDOM_AUTOSTART, path, sizeof(path));
	if (ret == 0 && dstore_unlink(path) < 0)
		log_warn("cannot remove %s (domain '%s' is undefined)", path, dom->name);
	return ret;
}

/* Called with op held (no start or redefinition meanwhile; the domain may
 * stop on its own). */
int ddom_undefine(struct ddom *dom, struct derr *err)
{
	struct vmkitd *d = dom->d;
	char path[PATH_MAX];
	bool persistent, active;
	int ret;

	pthread_mutex_lock(&d->store);
	pthread_mutex_lock(&d->lock);
	persistent = dom->persistent;
	active = dstate_active(dom->state);
	pthread_mutex_unlock(&d->lock);
	if (!persistent) {
		pthread_mutex_unlock(&d->store);
		return derr_set(err, DERR_OPERATION_INVALID, "domain '%s' is transient: it goes "
				"away when it stops", dom->name);
	}
	ret = ddom_unstore(dom, active, err);
	pthread_mutex_lock(&d->lock);
	if (ret == 0) {
		dom->autostart = false;
		ddom_event(dom, "undefined", "removed");
		dom->persistent = false;
		if (!dstate_active(dom->state)) {
			ddom_path(dom, DDOM_TXML, path, sizeof(path));
			unlink(path);   /* it stopped meanwhile */
			ddom_remove_locked(dom);
		}
	}
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_unlock(&d->store);
	return ret;
}

/* ---- views ---- */

json_t *ddom_summary_locked(const struct ddom *dom)
{
	return json_pack("{s:o,s:s,s:s,s:s,s:s,s:b,s:b}",
			 "id", dom->id ? json_integer(dom->id) : json_null(),
			 "name", dom->name, "uuid", dom->uuid,
			 "state", dstate_state_name(dom->state),
			 "reason", dstate_reason_name(dom->reason),
			 "persistent", dom->persistent, "autostart", dom->autostart);
}

json_t *ddom_info_locked(const struct ddom *dom)
{
	const struct domain_def *def = domain_xml_def(dom->run ? dom->run : dom->def);
	json_t *j = ddom_summary_locked(dom);
	char log[PATH_MAX];

	ddom_path(dom, DDOM_LOG, log, sizeof(log));
	if (j && json_object_update_new(j, json_pack(
		"{s:o,s:i,s:I,s:I,s:I,s:o,s:o,s:s}",
		"title", def->title ? json_string(def->title) : json_null(),
		"vcpus", (int)def->vcpus, "max_memory_bytes", (json_int_t)def->memory,
		"memory_bytes", (json_int_t)def->current_memory, "cpu_time_ns", (json_int_t)0,
		"pid", dom->pid ? json_integer(dom->pid) : json_null(),
		"console", dom->pty[0] ? json_string(dom->pty) : json_null(),
		"log", log)) < 0) {
		json_decref(j);
		return NULL;
	}
	return j;
}

json_t *ddom_info(struct ddom *dom)
{
	char sock[PATH_MAX], err[256];
	json_t *j, *bal = NULL;
	uint64_t ns;
	bool balloon;
	pid_t pid;

	pthread_mutex_lock(&dom->d->lock);
	j = ddom_info_locked(dom);
	pid = dom->pid;
	balloon = dom->run && domain_xml_def(dom->run)->balloon && !dom->starting;
	ddom_path(dom, DDOM_SOCK, sock, sizeof(sock));
	pthread_mutex_unlock(&dom->d->lock);
	if (!j || !pid)
		return j;
	if (dstats_proc_cpu_ns(pid, &ns) == 0)
		json_object_set_new(j, "cpu_time_ns", json_integer((json_int_t)ns));
	if (balloon && dvmm_call(sock, "query-balloon", NULL, 2000, &bal, err, sizeof(err)) == 0 &&
	    json_is_integer(json_object_get(bal, "actual")))
		json_object_set(j, "memory_bytes", json_object_get(bal, "actual"));
	json_decref(bal);
	return j;
}

static int ddom_list_cmp(const void *pa, const void *pb)
{
	const struct ddom *a = *(struct ddom *const *)pa, *b = *(struct ddom *const *)pb;

	if ((a->id != 0) != (b->id != 0))
		return a->id ? -1 : 1;
	if (a->id)
		return a->id < b->id ? -1 : 1;
	return strcmp(a->name, b->name);
}

json_t *ddom_list(struct vmkitd *d, bool all)
{
	json_t *arr = json_array();
	struct ddom **v;
	size_t n = 0;

	pthread_mutex_lock(&d->lock);
	v = calloc(d->ndoms + 1, sizeof(*v));
	for (size_t i = 0; v && i < d->ndoms; i++)
		if (all || dstate_active(d->doms[i]->state))
			v[n++] = d->doms[i];
	if (v && n)
		qsort(v, n, sizeof(*v), ddom_list_cmp);
	for (size_t i = 0; arr && v && i < n; i++)
		json_array_append_new(arr, ddom_summary_locked(v[i]));
	pthread_mutex_unlock(&d->lock);
	free(v);
	if (!v) {
		json_decref(arr);
		return NULL;
	}
	return json_pack("{s:o}", "domains", arr);
}

int ddom_xml(struct ddom *dom, bool inactive, char **out, struct derr *err)
{
	struct domain_xml_runtime rt = { 0 };
	size_t len;
	int ret = 0;

	pthread_mutex_lock(&dom->d->lock);
	if (inactive || !dom->run) {
		*out = strdup(domain_xml_text(dom->def, &len));
		ret = *out ? 0 : -ENOMEM;
	} else {
		rt.serial_pty = dom->pty[0] ? dom->pty : NULL;
		ret = domain_xml_format_live(dom->run, &rt, out, &len);
	}
	pthread_mutex_unlock(&dom->d->lock);
	if (ret < 0)
		return derr_set(err, DERR_INTERNAL, "cannot format the XML: %s", strerror(-ret));
	return 0;
}

/* ---- loading the state dir ---- */

static int ddom_load_one(void *opaque, const char *dir, const char *name)
{
	struct vmkitd *d = opaque;
	char path[PATH_MAX];
	struct domain_xml *dx;
	struct derr err;
	struct ddom *dom;
	uint8_t *text;
	size_t len;
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ret = util_read_file(path, DOMAIN_XML_MAX, &text, &len);
	if (ret < 0) {
		log_error("%s: %s (skipped, left in place)", path, strerror(-ret));
		return 0;
	}
	ret = ddom_parse((char *)text, &dx, &err);
	free(text);
	if (ret < 0) {
		log_error("%s: %s (skipped, left in place)", path, err.msg);
		return 0;
	}
	dom = ddom_new(d, dx, true);
	if (!dom || ddom_find_locked(d, dom->name) || ddom_find_locked(d, dom->uuid) ||
	    strncmp(name, dom->uuid, 36) != 0) {
		log_error("%s: %s (skipped, left in place)", path, dom ? "its name or UUID is "
			  "taken, or the file is not named after its UUID" : "out of memory");
		if (dom)
			ddom_free(dom);
		else
			domain_xml_free(dx);
		return 0;
	}
	ddom_path(dom, DDOM_AUTOSTART, path, sizeof(path));
	dom->autostart = access(path, F_OK) == 0;
	return ddom_insert_locked(d, dom);
}

int ddom_load_all(struct vmkitd *d)
{
	char dir[PATH_MAX];
	int ret;

	snprintf(dir, sizeof(dir), "%s/domains", d->cfg.state_dir);
	pthread_mutex_lock(&d->lock);
	ret = dstore_scan(dir, ".xml", ddom_load_one, d);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

void ddom_free_all(struct vmkitd *d)
{
	for (size_t i = 0; i < d->ndoms; i++)
		ddom_free(d->doms[i]);
	free(d->doms);
	d->doms = NULL;
	d->ndoms = d->cap = 0;
}
