/* domain_json: domain_def -> vmkit-vmm's --config JSON (see domain_json.h).
 * Keys and value syntax follow src/vmm/config.c: "name", "uuid" (the
 * VMM reports them in query-status), "kernel", "initrd",
 * "cmdline", "memory" (bytes), "cpus", "serial" (pty | file:PATH |
 * unix:PATH | none), "on-reboot", "api-socket", "disks", "nets",
 * "consoles", "rng", "vsock", "balloon", and "paused" from the
 * environment (start --paused). */
#include "domain_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "domain_units.h"
#include "domain_xml.h"

/* Collects allocation failures of json_object_set_new and friends. */
struct dj {
	json_t *root;
	bool nomem;
	struct domain_xml_error *err;
};

static void dj_set(struct dj *j, json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		j->nomem = true;
}

static void dj_append(struct dj *j, json_t *arr, json_t *v)
{
	if (!v || json_array_append_new(arr, v) < 0)
		j->nomem = true;
}

static int dj_fail(struct dj *j, long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int dj_fail(struct dj *j, long line, const char *fmt, ...)
{
	struct domain_xml_error *err = j->err;
	int n = line > 0 ? snprintf(err->msg, sizeof(err->msg), "line %ld: ", line) : 0;
	va_list ap;

	err->line = line;
	va_start(ap, fmt);
	vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* "pty", "file:PATH", "unix:PATH", "none" (chardev_parse's syntax). */
static json_t *dj_chardev(const struct domain_chardev *c)
{
	char buf[4200];

	switch (c->type) {
	case DOMAIN_CHR_NULL:
		return json_string("none");
	case DOMAIN_CHR_PTY:
		return json_string("pty");
	case DOMAIN_CHR_FILE:
		snprintf(buf, sizeof(buf), "file:%s", c->path);
		return json_string(buf);
	case DOMAIN_CHR_UNIX:
		snprintf(buf, sizeof(buf), "unix:%s", c->path);
		return json_string(buf);
	}
	return NULL;
}

/* Disk order: by target, vda < vdb < ... < vdz < vdaa (the guest's names). */
static int dj_disk_cmp(const void *a, const void *b)
{
	const struct domain_disk *x = *(const struct domain_disk *const *)a;
	const struct domain_disk *y = *(const struct domain_disk *const *)b;
	size_t lx = strlen(x->target), ly = strlen(y->target);

	return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->target, y->target);
}

static json_t *dj_disk(struct dj *j, const struct domain_disk *d)
{
	static const char *const caches[] = { [DOMAIN_CACHE_DEFAULT] = NULL,
					      [DOMAIN_CACHE_NONE] = "none",
					      [DOMAIN_CACHE_WRITEBACK] = "writeback" };
	json_t *o = json_object();

	if (!o)
		return NULL;
	dj_set(j, o, "id", json_string(d->target));
	dj_set(j, o, "path", json_string(d->path));
	dj_set(j, o, "format", json_string(d->format == DOMAIN_DISK_QCOW2 ? "qcow2" : "raw"));
	if (d->readonly)
		dj_set(j, o, "readonly", json_true());
	if (caches[d->cache])
		dj_set(j, o, "cache", json_string(caches[d->cache]));
	if (d->bytes_per_sec)
		dj_set(j, o, "bps", json_integer((json_int_t)d->bytes_per_sec));
	if (d->iops)
		dj_set(j, o, "iops", json_integer((json_int_t)d->iops));
	return o;
}

static void dj_disks(struct dj *j, const struct domain_def *def)
{
	const struct domain_disk *order[DOMAIN_MAX_DISKS];
	json_t *arr = json_array();

	for (unsigned i = 0; i < def->ndisks; i++)
		order[i] = &def->disks[i];
	qsort(order, def->ndisks, sizeof(order[0]), dj_disk_cmp);
	for (unsigned i = 0; arr && i < def->ndisks; i++)
		dj_append(j, arr, dj_disk(j, order[i]));
	dj_set(j, j->root, "disks", arr);
}

static const char *dj_tap(const struct domain_net *n, const struct domain_vmm_env *env,
			  size_t i)
{
	const char *tap = env && i < env->ntaps && env->taps ? env->taps[i] : NULL;

	return tap ? tap : n->type == DOMAIN_NET_ETHERNET ? n->target_dev : NULL;
}

static int dj_nets(struct dj *j, const struct domain_def *def, const struct domain_vmm_env *env)
{
	json_t *arr = json_array();
	char mac[DOMAIN_MAC_STRLEN], id[16];

	for (unsigned i = 0; arr && i < def->nnets; i++) {
		const struct domain_net *n = &def->nets[i];
		const char *tap = dj_tap(n, env, i);
		json_t *o;

		if (!tap || !tap[0] || strlen(tap) >= DOMAIN_IFNAME_MAX || strpbrk(tap, ",/")) {
			json_decref(arr);
			return dj_fail(j, n->line, "<interface>: no usable TAP device for "
				       "bridge '%s' (the daemon passes one)", n->bridge ? n->bridge : "");
		}
		o = json_object();
		snprintf(id, sizeof(id), "net%u", i);
		dj_set(j, o, "id", o ? json_string(id) : NULL);
		dj_set(j, o, "tap", o ? json_string(tap) : NULL);
		domain_units_mac_format(n->mac, mac);
		if (n->mac_given)
			dj_set(j, o, "mac", o ? json_string(mac) : NULL);
		dj_append(j, arr, o);
	}
	dj_set(j, j->root, "nets", arr);
	return 0;
}

static void dj_consoles(struct dj *j, const struct domain_def *def)
{
	json_t *arr = json_array();

	for (unsigned i = 0; arr && i < def->nconsoles; i++) {
		json_t *o = json_object();

		dj_set(j, o, "backend", o ? dj_chardev(&def->consoles[i]) : NULL);
		dj_append(j, arr, o);
	}
	dj_set(j, j->root, "consoles", arr);
}

static int dj_vsock(struct dj *j, const struct domain_def *def, const struct domain_vmm_env *env)
{
	uint32_t cid = def->vsock_auto_cid ? (env ? env->vsock_cid : 0) : def->vsock_cid;
	const char *sock = env ? env->vsock_socket : NULL;
	json_t *o;

	if (cid < 3 || cid == 0xFFFFFFFFu)
		return dj_fail(j, 0, "<vsock>: cid auto='yes' needs a CID from the daemon");
	if (!sock || !sock[0] || strchr(sock, ','))
		return dj_fail(j, 0, "<vsock>: no usable host socket path from the daemon");
	o = json_object();
	dj_set(j, o, "cid", o ? json_integer(cid) : NULL);
	dj_set(j, o, "socket", o ? json_string(sock) : NULL);
	dj_set(j, j->root, "vsock", o);
	return 0;
}

static void dj_balloon(struct dj *j, const struct domain_def *def)
{
	json_t *o;

	if (!def->balloon_stats && !def->balloon_free_page_reporting) {
		dj_set(j, j->root, "balloon", json_true());
		return;
	}
	o = json_object();
	if (o && def->balloon_stats)
		dj_set(j, o, "stats", json_integer(def->balloon_stats));
	if (o && def->balloon_free_page_reporting)
		dj_set(j, o, "free-page-reporting", json_true());
	dj_set(j, j->root, "balloon", o);
}

static void dj_machine(struct dj *j, const struct domain_def *def, const struct domain_vmm_env *env)
{
	char uuid[DOMAIN_UUID_STRLEN];

	dj_set(j, j->root, "name", json_string(def->name));
	if (def->uuid_given) { /* always, once domain_xml_complete() ran */
		domain_units_uuid_format(def->uuid, uuid);
		dj_set(j, j->root, "uuid", json_string(uuid));
	}
	dj_set(j, j->root, "kernel", json_string(def->kernel));
	if (def->initrd)
		dj_set(j, j->root, "initrd", json_string(def->initrd));
	if (def->cmdline)
		dj_set(j, j->root, "cmdline", json_string(def->cmdline));
	dj_set(j, j->root, "memory", json_integer((json_int_t)def->memory));
	if (def->mem_prealloc)
		dj_set(j, j->root, "mem-prealloc", json_true());
	dj_set(j, j->root, "cpus", json_integer(def->vcpus));
	dj_set(j, j->root, "serial", def->has_serial ? dj_chardev(&def->serial) :
	       json_string("none"));
	dj_set(j, j->root, "on-reboot", json_string(def->on_reboot == DOMAIN_LIFECYCLE_DESTROY ?
						    "exit" : "restart"));
	if (env && env->api_socket)
		dj_set(j, j->root, "api-socket", json_string(env->api_socket));
	if (env && env->serial_log && def->has_serial && def->serial.type == DOMAIN_CHR_PTY)
		dj_set(j, j->root, "serial-log", json_string(env->serial_log));
}

int domain_to_vmm_json(const struct domain_def *def, const struct domain_vmm_env *env,
		       json_t **out, struct domain_xml_error *err)
{
	struct dj j = { json_object(), false, err };
	int ret = 0;

	*err = (struct domain_xml_error){ 0 };
	if (!j.root)
		return -ENOMEM;
	dj_machine(&j, def, env);
	if (def->ndisks)
		dj_disks(&j, def);
	if (def->nnets)
		ret = dj_nets(&j, def, env);
	if (ret == 0 && def->nconsoles)
		dj_consoles(&j, def);
	if (ret == 0 && def->rng)
		dj_set(&j, j.root, "rng", json_true());
	if (ret == 0 && def->vsock)
		ret = dj_vsock(&j, def, env);
	if (ret == 0 && def->balloon)
		dj_balloon(&j, def);
	if (ret == 0 && env->paused)
		dj_set(&j, j.root, "paused", json_true());
	if (ret == 0 && j.nomem)
		ret = -ENOMEM;
	if (ret < 0) {
		json_decref(j.root);
		return ret;
	}
	*out = j.root;
	return 0;
}
