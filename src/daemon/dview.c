/* dview: DOMSTATS, HOST, /v1/stats and /v1/metrics (dview.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ddom.h"
#include "domain_xml.h"
#include "dview.h"
#include "dvmm.h"

#include "dmetrics.h"
#include "dstats.h"

#define DVIEW_CALL_MS 5000

/* What is needed of a domain, copied under the lock. */
struct dview_snap {
	json_t *obj;             /* name, uuid, state, reason */
	pid_t pid;
	bool balloon;
	uint64_t max, current;
	char sock[PATH_MAX];
};

static int dview_snap(struct ddom *dom, struct dview_snap *s)
{
	const struct domain_def *def;

	pthread_mutex_lock(&dom->d->lock);
	def = domain_xml_def(dom->run ? dom->run : dom->def);
	s->obj = json_pack("{s:s,s:s,s:s,s:s}", "name", dom->name, "uuid", dom->uuid,
			   "state", dstate_state_name(dom->state),
			   "reason", dstate_reason_name(dom->reason));
	s->pid = dom->starting ? 0 : dom->pid;
	s->balloon = def->balloon;
	s->max = def->memory;
	s->current = def->current_memory;
	ddom_path(dom, DDOM_SOCK, s->sock, sizeof(s->sock));
	pthread_mutex_unlock(&dom->d->lock);
	return s->obj ? 0 : -ENOMEM;
}

static json_t *dview_ask(const char *sock, const char *cmd)
{
	char msg[256];
	json_t *ret = NULL;

	if (dvmm_call(sock, cmd, NULL, DVIEW_CALL_MS, &ret, msg, sizeof(msg)) < 0)
		return NULL;
	return ret;
}

/* The live part of DOMSTATS from /proc and the VMM. */
static int dview_live(struct dview_snap *s)
{
	json_t *cpus = dview_ask(s->sock, "query-cpus");
	json_t *bal = s->balloon ? dview_ask(s->sock, "query-balloon") : NULL;
	json_t *blk = dview_ask(s->sock, "query-blockstats");
	json_t *net = dview_ask(s->sock, "query-netstats");
	json_t *mem, *actual;
	int ret = dstats_domain(s->pid, cpus, bal, blk, net, s->obj);

	actual = json_object_get(bal, "actual");
	mem = json_object_get(s->obj, "memory");
	if (ret == 0 && json_is_object(mem)) {
		json_object_set_new(mem, "max_bytes", json_integer((json_int_t)s->max));
		json_object_set_new(mem, "current_bytes", json_is_integer(actual) ?
				    json_incref(actual) : json_integer((json_int_t)s->current));
	}
	json_decref(cpus);
	json_decref(bal);
	json_decref(blk);
	json_decref(net);
	return ret;
}

int dview_domain(struct ddom *dom, json_t **out, struct derr *err)
{
	struct dview_snap s;
	int ret = dview_snap(dom, &s);

	if (ret == 0 && s.pid)
		ret = dview_live(&s);
	if (ret < 0) {
		json_decref(s.obj);
		return derr_set(err, DERR_INTERNAL, "statistics of domain '%s': %s", dom->name,
				strerror(-ret));
	}
	*out = s.obj;
	return 0;
}

int dview_host(struct vmkitd *d, json_t **out, struct derr *err)
{
	size_t running = 0, defined = 0;
	int ret = dstats_host(out);

	if (ret < 0)
		return derr_set(err, DERR_INTERNAL, "host statistics: %s", strerror(-ret));
	pthread_mutex_lock(&d->lock);
	for (size_t i = 0; i < d->ndoms; i++) {
		running += dstate_active(d->doms[i]->state);
		defined += d->doms[i]->persistent;
	}
	pthread_mutex_unlock(&d->lock);
	json_object_set_new(*out, "domains_running", json_integer((json_int_t)running));
	json_object_set_new(*out, "domains_defined", json_integer((json_int_t)defined));
	return 0;
}

/* References to the active domains, by id. */
static struct ddom **dview_active(struct vmkitd *d, size_t *n)
{
	struct ddom **v;

	*n = 0;
	pthread_mutex_lock(&d->lock);
	v = calloc(d->ndoms + 1, sizeof(*v));
	for (size_t i = 0; v && i < d->ndoms; i++) {
		if (dstate_active(d->doms[i]->state)) {
			v[(*n)++] = d->doms[i];
			d->doms[i]->refs++;
		}
	}
	pthread_mutex_unlock(&d->lock);
	return v;
}

int dview_all(struct vmkitd *d, json_t **out, struct derr *err)
{
	json_t *host = NULL, *doms = json_array(), *one;
	struct ddom **v;
	size_t n;
	int ret = dview_host(d, &host, err);

	v = dview_active(d, &n);
	for (size_t i = 0; i < n; i++) {
		if (ret == 0 && dview_domain(v[i], &one, err) == 0)
			json_array_append_new(doms, one);
		ddom_put(v[i]);
	}
	free(v);
	if (ret == 0 && (!v || !doms))
		ret = derr_set(err, DERR_INTERNAL, "out of memory");
	if (ret < 0) {
		json_decref(host);
		json_decref(doms);
		return ret;
	}
	*out = json_pack("{s:o,s:o}", "host", host, "domains", doms);
	return *out ? 0 : derr_set(err, DERR_INTERNAL, "out of memory");
}

int dview_metrics(struct vmkitd *d, char **text, struct derr *err)
{
	json_t *all;
	int ret = dview_all(d, &all, err);

	if (ret < 0)
		return ret;
	ret = dmetrics_format(all, text);
	json_decref(all);
	if (ret < 0)
		return derr_set(err, DERR_INTERNAL, "metrics: %s", strerror(-ret));
	return 0;
}
