/* dmetrics: the metric families table and the text writer (see dmetrics.h).
 * A family says which objects of the stats tree it walks (its scope) and
 * the keys from such an object to the value. */
#include "dmetrics.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

enum dmetrics_type { DMETRICS_GAUGE, DMETRICS_COUNTER };

enum dmetrics_scope {
	DMETRICS_HOST,       /* stats.host */
	DMETRICS_HOST_CPU,   /* stats.host.cpu_time_ns, label mode */
	DMETRICS_DOMAIN,     /* each domain */
	DMETRICS_STATE,      /* each domain, label state, value 1 */
	DMETRICS_VCPU,       /* each domain's cpu.vcpus[], label vcpu */
	DMETRICS_BLOCK,      /* each domain's block[], label target */
	DMETRICS_NET,        /* each domain's net[], label target */
};

struct dmetrics_family {
	const char *name;
	enum dmetrics_type type;
	enum dmetrics_scope scope;
	const char *path[3];   /* keys from the scope's object to the value */
	bool ns;               /* nanoseconds, shown as seconds */
	const char *help;
};

#define G DMETRICS_GAUGE
#define C DMETRICS_COUNTER

static const struct dmetrics_family dmetrics_families[] = {
	{ "vmkit_host_cpus", G, DMETRICS_HOST, { "cpus" }, false, "Online CPUs of the host." },
	{ "vmkit_host_cpu_seconds_total", C, DMETRICS_HOST_CPU, { 0 }, true,
	  "Host CPU time by mode (user includes nice, system includes irq and softirq)." },
	{ "vmkit_host_memory_total_bytes", G, DMETRICS_HOST, { "memory_total_bytes" }, false,
	  "Host RAM (MemTotal)." },
	{ "vmkit_host_memory_available_bytes", G, DMETRICS_HOST, { "memory_available_bytes" },
	  false, "Host RAM available for new allocations (MemAvailable)." },
	{ "vmkit_host_domains_running", G, DMETRICS_HOST, { "domains_running" }, false,
	  "Active domains (running or paused)." },
	{ "vmkit_host_domains_defined", G, DMETRICS_HOST, { "domains_defined" }, false,
	  "Domains known to vmkitd, active and inactive (vmkit list --all)." },
	{ "vmkit_daemon_rss_bytes", G, DMETRICS_HOST, { "daemon_rss_bytes" }, false,
	  "Resident memory of vmkitd itself." },
	{ "vmkit_domain_state", G, DMETRICS_STATE, { 0 }, false,
	  "The domain's state (running, paused, shutoff, crashed): 1 for the current one." },
	{ "vmkit_domain_cpu_seconds_total", C, DMETRICS_DOMAIN, { "cpu", "time_ns" }, true,
	  "CPU time of the domain's VMM process, all threads." },
	{ "vmkit_domain_vcpu_seconds_total", C, DMETRICS_VCPU, { "time_ns" }, true,
	  "CPU time of one vCPU thread." },
	{ "vmkit_domain_memory_max_bytes", G, DMETRICS_DOMAIN, { "memory", "max_bytes" }, false,
	  "Guest RAM the domain was given (<memory>)." },
	{ "vmkit_domain_memory_current_bytes", G, DMETRICS_DOMAIN, { "memory", "current_bytes" },
	  false, "Guest RAM the domain may use now (the balloon's actual, or <currentMemory>)." },
	{ "vmkit_domain_memory_rss_bytes", G, DMETRICS_DOMAIN, { "memory", "rss_bytes" }, false,
	  "Resident memory of the domain's VMM process (guest RAM it touched included)." },
	{ "vmkit_domain_balloon_target_bytes", G, DMETRICS_DOMAIN,
	  { "memory", "balloon", "target_bytes" }, false,
	  "RAM the balloon asks the guest to keep." },
	{ "vmkit_domain_balloon_actual_bytes", G, DMETRICS_DOMAIN,
	  { "memory", "balloon", "actual_bytes" }, false, "RAM the guest keeps (not ballooned)." },
	{ "vmkit_domain_block_read_bytes_total", C, DMETRICS_BLOCK, { "rd_bytes" }, false,
	  "Bytes read by the guest from the disk." },
	{ "vmkit_domain_block_write_bytes_total", C, DMETRICS_BLOCK, { "wr_bytes" }, false,
	  "Bytes written by the guest to the disk." },
	{ "vmkit_domain_block_read_requests_total", C, DMETRICS_BLOCK, { "rd_operations" }, false,
	  "Read requests completed." },
	{ "vmkit_domain_block_write_requests_total", C, DMETRICS_BLOCK, { "wr_operations" }, false,
	  "Write requests completed." },
	{ "vmkit_domain_block_flush_requests_total", C, DMETRICS_BLOCK, { "flush_operations" },
	  false, "Flush requests completed." },
	{ "vmkit_domain_block_errors_total", C, DMETRICS_BLOCK, { "errors" }, false,
	  "Requests that failed on the host." },
	{ "vmkit_domain_net_receive_bytes_total", C, DMETRICS_NET, { "rx_bytes" }, false,
	  "Bytes the guest received." },
	{ "vmkit_domain_net_receive_packets_total", C, DMETRICS_NET, { "rx_packets" }, false,
	  "Packets the guest received." },
	{ "vmkit_domain_net_receive_dropped_total", C, DMETRICS_NET, { "rx_dropped" }, false,
	  "Packets for the guest dropped (no buffers, link down)." },
	{ "vmkit_domain_net_transmit_bytes_total", C, DMETRICS_NET, { "tx_bytes" }, false,
	  "Bytes the guest sent." },
	{ "vmkit_domain_net_transmit_packets_total", C, DMETRICS_NET, { "tx_packets" }, false,
	  "Packets the guest sent." },
	{ "vmkit_domain_net_transmit_dropped_total", C, DMETRICS_NET, { "tx_dropped" }, false,
	  "Packets the guest sent that were dropped." },
};

#undef G
#undef C

static const char *const dmetrics_cpu_modes[] = { "user", "system", "idle", "iowait" };

/* The value at path under obj (NULL: missing). */
static json_t *dmetrics_get(json_t *obj, const char *const path[3])
{
	for (size_t i = 0; i < 3 && path[i] && obj; i++)
		obj = json_object_get(obj, path[i]);
	return obj;
}

static void dmetrics_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '\\':
			fputs("\\\\", f);
			break;
		case '"':
			fputs("\\\"", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

static const char *dmetrics_str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* One sample line; dom (name, uuid) and one extra label are optional. A
 * value that is not a number gives no line. */
static void dmetrics_sample(FILE *f, const struct dmetrics_family *fam, json_t *dom,
			    const char *lkey, const char *lval, json_t *value)
{
	json_int_t v = json_integer_value(value);

	if (!json_is_number(value) || (json_is_integer(value) && v < 0))
		return;
	fputs(fam->name, f);
	if (dom || lkey)
		fputc('{', f);
	if (dom) {
		fputs("name=\"", f);
		dmetrics_escape(f, dmetrics_str(dom, "name"));
		fputs("\",uuid=\"", f);
		dmetrics_escape(f, dmetrics_str(dom, "uuid"));
		fputs(lkey ? "\"," : "\"", f);
	}
	if (lkey) {
		fprintf(f, "%s=\"", lkey);
		dmetrics_escape(f, lval);
		fputc('"', f);
	}
	fputs(dom || lkey ? "} " : " ", f);
	if (json_is_real(value))
		fprintf(f, "%.17g\n", fam->ns ? json_real_value(value) / 1e9 : json_real_value(value));
	else if (fam->ns)
		fprintf(f, "%lld.%09lld\n", (long long)(v / 1000000000), (long long)(v % 1000000000));
	else
		fprintf(f, "%lld\n", (long long)v);
}

/* The samples of a family over one domain's list (vcpus, block, net). */
static void dmetrics_list(FILE *f, const struct dmetrics_family *fam, json_t *dom,
			  json_t *list, const char *lkey, const char *idkey)
{
	char num[24];
	json_t *item;
	size_t i;

	json_array_foreach(list, i, item) {
		json_t *id = json_object_get(item, idkey);
		const char *lval = json_string_value(id);

		if (json_is_integer(id)) {
			snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(id));
			lval = num;
		}
		if (lval)
			dmetrics_sample(f, fam, dom, lkey, lval, dmetrics_get(item, fam->path));
	}
}

static void dmetrics_domain(FILE *f, const struct dmetrics_family *fam, json_t *dom)
{
	const char *state = json_string_value(json_object_get(dom, "state"));
	json_t *one;

	switch (fam->scope) {
	case DMETRICS_HOST:
	case DMETRICS_HOST_CPU:
		break;
	case DMETRICS_DOMAIN:
		dmetrics_sample(f, fam, dom, NULL, NULL, dmetrics_get(dom, fam->path));
		break;
	case DMETRICS_STATE:
		one = state ? json_integer(1) : NULL;
		if (one)
			dmetrics_sample(f, fam, dom, "state", state, one);
		json_decref(one);
		break;
	case DMETRICS_VCPU:
		dmetrics_list(f, fam, dom, json_object_get(json_object_get(dom, "cpu"), "vcpus"),
			      "vcpu", "id");
		break;
	case DMETRICS_BLOCK:
		dmetrics_list(f, fam, dom, json_object_get(dom, "block"), "target", "target");
		break;
	case DMETRICS_NET:
		dmetrics_list(f, fam, dom, json_object_get(dom, "net"), "target", "target");
		break;
	}
}

/* All samples of one family. */
static void dmetrics_samples(FILE *f, const struct dmetrics_family *fam, json_t *stats)
{
	json_t *host = json_object_get(stats, "host"), *dom;
	size_t i;

	if (fam->scope == DMETRICS_HOST) {
		dmetrics_sample(f, fam, NULL, NULL, NULL, dmetrics_get(host, fam->path));
		return;
	}
	if (fam->scope == DMETRICS_HOST_CPU) {
		for (i = 0; i < ARRAY_SIZE(dmetrics_cpu_modes); i++)
			dmetrics_sample(f, fam, NULL, "mode", dmetrics_cpu_modes[i],
					json_object_get(json_object_get(host, "cpu_time_ns"),
							dmetrics_cpu_modes[i]));
		return;
	}
	json_array_foreach(json_object_get(stats, "domains"), i, dom)
		dmetrics_domain(f, fam, dom);
}

/* A family: its header and samples, or nothing when it has no sample. */
static int dmetrics_family(FILE *out, const struct dmetrics_family *fam, json_t *stats)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return -ENOMEM;
	dmetrics_samples(f, fam, stats);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	if (len)
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n%s", fam->name, fam->help, fam->name,
			fam->type == DMETRICS_COUNTER ? "counter" : "gauge", buf);
	free(buf);
	return 0;
}

int dmetrics_format(json_t *stats, char **text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int ret = 0;

	if (!json_is_object(stats))
		return -EINVAL;
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(dmetrics_families); i++)
		ret = dmetrics_family(f, &dmetrics_families[i], stats);
	if (fclose(f) != 0 && ret == 0)
		ret = -ENOMEM;
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*text = buf;
	return 0;
}
