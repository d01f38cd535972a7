/* dstats: /proc parsing and reading, DOMSTATS' per-VMM members and HOST
 * (see dstats.h). Tables map the VMM's counter names to the API's, so a
 * renamed or added counter is one line. */
#include "dstats.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

#define DSTATS_NS_PER_S 1000000000ULL
#define DSTATS_TEXT_MAX 4096   /* one /proc line, or the head of /proc/stat */
#define DSTATS_MEMINFO_MAX 16384

/* ---- parsers ---- */

/* The decimal number of len bytes at p (digits only, no overflow). */
static int dstats_num(const char *p, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* The number starting *pp after blanks; *pp moves past it. */
static int dstats_next_num(const char **pp, uint64_t *out)
{
	const char *p = *pp + strspn(*pp, " \t");
	size_t len = strspn(p, "0123456789");
	int ret = dstats_num(p, len, out);

	*pp = p + len;
	return ret;
}

int dstats_parse_stat(const char *text, struct dstats_stat *out)
{
	static const unsigned fields[] = { 14, 15, 22 };
	uint64_t *const dst[] = { &out->utime, &out->stime, &out->starttime };
	const char *p = text ? strrchr(text, ')') : NULL;
	unsigned field = 2, w = 0;

	if (!p || !memchr(text, '(', (size_t)(p - text)))
		return -EINVAL;
	for (p++; w < ARRAY_SIZE(fields); p += strcspn(p, " \n")) {
		p += strspn(p, " ");
		if (*p == '\0' || *p == '\n')
			return -EINVAL;
		if (++field == fields[w] && dstats_num(p, strcspn(p, " \n"), dst[w++]) < 0)
			return -EINVAL;
	}
	return 0;
}

int dstats_parse_schedstat(const char *text, uint64_t *run_ns)
{
	const char *p = text;

	return text ? dstats_next_num(&p, run_ns) : -EINVAL;
}

int dstats_parse_statm(const char *text, uint64_t *resident_pages)
{
	const char *p = text;
	uint64_t size;

	if (!text || dstats_next_num(&p, &size) < 0)
		return -EINVAL;
	return dstats_next_num(&p, resident_pages);
}

/* "KEY:   N kB" anywhere in meminfo, in bytes. */
static int dstats_meminfo_key(const char *text, const char *key, uint64_t *bytes)
{
	size_t klen = strlen(key);
	const char *p = text;
	uint64_t kib;

	while (p && strncmp(p, key, klen) != 0) {
		p = strchr(p, '\n');
		p = p ? p + 1 : NULL;
	}
	if (!p)
		return -EINVAL;
	p += klen;
	if (dstats_next_num(&p, &kib) < 0 || strncmp(p, " kB", 3) != 0 || kib > UINT64_MAX / 1024)
		return -EINVAL;
	*bytes = kib * 1024;
	return 0;
}

int dstats_parse_meminfo(const char *text, uint64_t *total, uint64_t *available)
{
	if (!text || dstats_meminfo_key(text, "MemTotal:", total) < 0)
		return -EINVAL;
	return dstats_meminfo_key(text, "MemAvailable:", available);
}

int dstats_parse_proc_stat(const char *text, struct dstats_cpu_ticks *out)
{
	uint64_t v[7];  /* user nice system idle iowait irq softirq */
	const char *p = text;

	if (!text || strncmp(text, "cpu ", 4) != 0)
		return -EINVAL;
	p += 4;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		if (dstats_next_num(&p, &v[i]) < 0)
			return -EINVAL;
	}
	*out = (struct dstats_cpu_ticks){ .user = v[0] + v[1], .system = v[2] + v[5] + v[6],
					  .idle = v[3], .iowait = v[4] };
	return 0;
}

/* ---- readers ---- */

/* The first size-1 bytes of a /proc file, NUL-terminated. */
static int dstats_read_text(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n = 1;
	int ret = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len < size - 1 && n > 0) {
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno != EINTR)
			ret = -errno;
		len += n > 0 ? (size_t)n : 0;
		n = n < 0 && errno == EINTR ? 1 : n;
	}
	close(fd);
	buf[len] = '\0';
	return ret;
}

static int dstats_read_stat(const char *path, struct dstats_stat *st)
{
	char buf[DSTATS_TEXT_MAX];
	int ret = dstats_read_text(path, buf, sizeof(buf));

	return ret < 0 ? ret : dstats_parse_stat(buf, st);
}

static uint64_t dstats_ticks_ns(uint64_t ticks)
{
	long hz = sysconf(_SC_CLK_TCK);

	return ticks * (DSTATS_NS_PER_S / (uint64_t)(hz > 0 ? hz : 100));
}

static int dstats_proc_stat(pid_t pid, struct dstats_stat *st)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	return dstats_read_stat(path, st);
}

int dstats_proc_starttime(pid_t pid, uint64_t *ticks)
{
	struct dstats_stat st;
	int ret = dstats_proc_stat(pid, &st);

	if (ret == 0)
		*ticks = st.starttime;
	return ret;
}

int dstats_proc_cpu_ns(pid_t pid, uint64_t *ns)
{
	struct dstats_stat st;
	int ret = dstats_proc_stat(pid, &st);

	if (ret == 0)
		*ns = dstats_ticks_ns(st.utime + st.stime);
	return ret;
}

int dstats_proc_rss(pid_t pid, uint64_t *bytes)
{
	char path[64], buf[256];
	uint64_t pages;
	long psz = sysconf(_SC_PAGESIZE);
	int ret;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	ret = dstats_read_text(path, buf, sizeof(buf));
	if (ret == 0)
		ret = dstats_parse_statm(buf, &pages);
	if (ret == 0)
		*bytes = pages * (uint64_t)(psz > 0 ? psz : 4096);
	return ret;
}

/* A thread's CPU time: schedstat (ns) when the kernel has it, else its
 * stat's utime + stime. 0 when the thread is not PID's (or is gone). */
static uint64_t dstats_task_ns(pid_t pid, pid_t tid)
{
	char path[80], buf[256];
	struct dstats_stat st;
	uint64_t ns;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	if (dstats_read_text(path, buf, sizeof(buf)) == 0 && dstats_parse_schedstat(buf, &ns) == 0)
		return ns;
	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	if (dstats_read_stat(path, &st) == 0)
		return dstats_ticks_ns(st.utime + st.stime);
	return 0;
}

/* ---- DOMSTATS members ---- */

/* Collects allocation failures of json_object_set_new and friends. */
struct dstats_b {
	bool nomem;
};

static void dstats_set(struct dstats_b *b, json_t *obj, const char *key, json_t *v)
{
	if (!obj || !v || json_object_set_new(obj, key, v) < 0)
		b->nomem = true;
}

static void dstats_append(struct dstats_b *b, json_t *arr, json_t *v)
{
	if (!arr || !v || json_array_append_new(arr, v) < 0)
		b->nomem = true;
}

/* a + b, at most UINT64_MAX. */
static uint64_t dstats_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* A non-negative integer member, or 0. */
static uint64_t dstats_uint(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

static json_t *dstats_jint(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* A string member, or null. */
static json_t *dstats_jstr(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string(json_string_value(v)) : json_null();
}

static uint64_t dstats_task_lookup(const struct dstats_proc *proc, json_int_t tid)
{
	for (size_t i = 0; i < proc->ntasks; i++) {
		if (proc->tasks[i].tid == tid)
			return proc->tasks[i].ns;
	}
	return 0;
}

static void dstats_cpu(struct dstats_b *b, const struct dstats_proc *proc, json_t *cpus,
		       json_t *obj)
{
	json_t *list = json_array(), *c, *cpu;
	uint64_t sum = 0;
	size_t i;

	json_array_foreach(cpus, i, c) {
		json_t *idx = json_object_get(c, "cpu-index"), *tid = json_object_get(c, "thread-id");
		uint64_t ns;

		if (!json_is_integer(idx) || !json_is_integer(tid))
			continue;
		ns = dstats_task_lookup(proc, json_integer_value(tid));
		sum = dstats_add(sum, ns);
		dstats_append(b, list, json_pack("{s:O,s:O,s:o}", "id", idx, "tid", tid,
						 "time_ns", dstats_jint(ns)));
	}
	/* The process' ticks are coarse: never less than its vCPUs' sum. */
	cpu = json_pack("{s:o,s:o}", "time_ns", dstats_jint(MAX(proc->cpu_ns, sum)),
			"vcpus", list ? list : json_array());
	dstats_set(b, obj, "cpu", cpu);
}

static json_t *dstats_balloon(struct dstats_b *b, json_t *balloon)
{
	json_t *out, *guest = json_object_get(balloon, "stats");

	if (!json_is_object(balloon))
		return json_null();
	/* "stats-age" null: the guest never sent any, its zeroes mean nothing. */
	if (!json_is_object(guest) || json_is_null(json_object_get(balloon, "stats-age")))
		guest = NULL;
	out = json_pack("{s:o,s:o,s:o}", "target_bytes", dstats_jint(dstats_uint(balloon, "target")),
			"actual_bytes", dstats_jint(dstats_uint(balloon, "actual")),
			"guest", guest ? json_deep_copy(guest) : json_object());
	if (!out)
		b->nomem = true;
	return out ? out : json_null();
}

static void dstats_memory(struct dstats_b *b, const struct dstats_proc *proc, json_t *balloon,
			  json_t *obj)
{
	json_t *mem = json_object_get(obj, "memory");

	if (!json_is_object(mem)) {  /* the daemon may have put max/current there */
		mem = json_object();
		dstats_set(b, obj, "memory", mem);
	}
	dstats_set(b, mem, "rss_bytes", dstats_jint(proc->rss_bytes));
	dstats_set(b, mem, "balloon", dstats_balloon(b, balloon));
}

/* An API counter: the sum of the VMM's counters in a device's "stats". */
struct dstats_counter {
	const char *name;
	const char *from[4];
};

static const struct dstats_counter dstats_block_counters[] = {
	{ "rd_bytes", { "rd_bytes" } },
	{ "wr_bytes", { "wr_bytes" } },
	{ "rd_operations", { "rd_operations" } },
	{ "wr_operations", { "wr_operations" } },
	{ "flush_operations", { "flush_operations" } },
	{ "errors", { "failed_rd_operations", "failed_wr_operations", "failed_flush_operations",
		      "failed_unmap_operations" } },
};

/* vnet's rx is its receive queue (TAP -> guest): already the guest's side. */
static const struct dstats_counter dstats_net_counters[] = {
	{ "rx_bytes", { "rx-bytes" } },
	{ "rx_packets", { "rx-packets" } },
	{ "tx_bytes", { "tx-bytes" } },
	{ "tx_packets", { "tx-packets" } },
	{ "rx_dropped", { "rx-dropped" } },
	{ "tx_dropped", { "tx-dropped" } },
};

static void dstats_counters(struct dstats_b *b, const struct dstats_counter *tab, size_t n,
			    json_t *stats, json_t *out)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t sum = 0;

		for (size_t k = 0; k < ARRAY_SIZE(tab[i].from) && tab[i].from[k]; k++)
			sum = dstats_add(sum, dstats_uint(stats, tab[i].from[k]));
		dstats_set(b, out, tab[i].name, dstats_jint(sum));
	}
}

/* "block": {"target": the disk's id (vda), "path", counters}. */
static json_t *dstats_block(struct dstats_b *b, json_t *item, json_t *stats)
{
	json_t *o = json_object();

	dstats_set(b, o, "target", dstats_jstr(item, "id"));
	dstats_set(b, o, "path", dstats_jstr(item, "path"));
	dstats_counters(b, dstats_block_counters, ARRAY_SIZE(dstats_block_counters), stats, o);
	return o;
}

/* "net": {"target": the TAP (virsh domifstat's; the id without one), "mac",
 * counters}. */
static json_t *dstats_net(struct dstats_b *b, json_t *item, json_t *stats)
{
	json_t *o = json_object();
	bool tap = json_is_string(json_object_get(item, "tap"));

	dstats_set(b, o, "target", dstats_jstr(item, tap ? "tap" : "id"));
	dstats_set(b, o, "mac", dstats_jstr(stats, "mac"));
	dstats_counters(b, dstats_net_counters, ARRAY_SIZE(dstats_net_counters), stats, o);
	return o;
}

/* One entry per device item of the reply that has an id. */
static void dstats_devices(struct dstats_b *b, json_t *reply, const char *key,
			   json_t *(*one)(struct dstats_b *, json_t *, json_t *), json_t *obj)
{
	json_t *list = json_array(), *item;
	size_t i;

	json_array_foreach(reply, i, item) {
		if (json_is_string(json_object_get(item, "id")))
			dstats_append(b, list, one(b, item, json_object_get(item, "stats")));
	}
	dstats_set(b, obj, key, list);
}

int dstats_domain_build(const struct dstats_proc *proc, json_t *cpus, json_t *balloon,
			json_t *blockstats, json_t *netstats, json_t *obj)
{
	struct dstats_b b = { false };

	if (!json_is_object(obj))
		return -EINVAL;
	dstats_cpu(&b, proc, cpus, obj);
	dstats_memory(&b, proc, balloon, obj);
	dstats_devices(&b, blockstats, "block", dstats_block, obj);
	dstats_devices(&b, netstats, "net", dstats_net, obj);
	return b.nomem ? -ENOMEM : 0;
}

int dstats_domain(pid_t pid, json_t *cpus, json_t *balloon, json_t *blockstats,
		  json_t *netstats, json_t *obj)
{
	size_t n = json_is_array(cpus) ? json_array_size(cpus) : 0, ntasks = 0, i;
	struct dstats_task *tasks = calloc(n ? n : 1, sizeof(*tasks));
	struct dstats_proc proc = { 0 };
	json_t *c;
	int ret;

	if (!tasks)
		return -ENOMEM;
	ret = dstats_proc_cpu_ns(pid, &proc.cpu_ns);
	if (ret == 0)
		ret = dstats_proc_rss(pid, &proc.rss_bytes);
	if (ret < 0)
		goto out;
	json_array_foreach(cpus, i, c) {
		json_t *tid = json_object_get(c, "thread-id");

		if (json_is_integer(tid) && json_integer_value(tid) > 0 && ntasks < n) {
			tasks[ntasks].tid = (pid_t)json_integer_value(tid);
			tasks[ntasks].ns = dstats_task_ns(pid, tasks[ntasks].tid);
			ntasks++;
		}
	}
	proc.tasks = tasks;
	proc.ntasks = ntasks;
	ret = dstats_domain_build(&proc, cpus, balloon, blockstats, netstats, obj);
out:
	free(tasks);
	return ret;
}

/* ---- HOST ---- */

int dstats_host_build(const struct dstats_host_src *src, json_t **out)
{
	struct dstats_cpu_ticks t;
	uint64_t total, avail, tick_ns;
	json_t *o;

	if (dstats_parse_proc_stat(src->proc_stat, &t) < 0 ||
	    dstats_parse_meminfo(src->meminfo, &total, &avail) < 0 || src->clk_tck <= 0)
		return -EINVAL;
	tick_ns = DSTATS_NS_PER_S / (uint64_t)src->clk_tck;
	o = json_pack("{s:s,s:I,s:o,s:o,s:{s:o,s:o,s:o,s:o},s:i,s:i,s:o}",
		      "hostname", src->hostname, "cpus", (json_int_t)src->cpus,
		      "memory_total_bytes", dstats_jint(total),
		      "memory_available_bytes", dstats_jint(avail),
		      "cpu_time_ns", "user", dstats_jint(t.user * tick_ns),
		      "system", dstats_jint(t.system * tick_ns), "idle", dstats_jint(t.idle * tick_ns),
		      "iowait", dstats_jint(t.iowait * tick_ns),
		      "domains_running", 0, "domains_defined", 0,
		      "daemon_rss_bytes", dstats_jint(src->rss_bytes));
	if (!o)
		return -ENOMEM;
	*out = o;
	return 0;
}

int dstats_host(json_t **out)
{
	char host[256] = "", *stat = malloc(DSTATS_TEXT_MAX), *mem = malloc(DSTATS_MEMINFO_MAX);
	struct dstats_host_src src = { host, sysconf(_SC_NPROCESSORS_ONLN), sysconf(_SC_CLK_TCK),
				       stat, mem, 0 };
	int ret = stat && mem ? 0 : -ENOMEM;

	if (ret == 0)
		ret = dstats_read_text("/proc/stat", stat, DSTATS_TEXT_MAX);
	if (ret == 0)
		ret = dstats_read_text("/proc/meminfo", mem, DSTATS_MEMINFO_MAX);
	if (ret == 0)
		ret = dstats_proc_rss(getpid(), &src.rss_bytes);
	if (ret == 0 && gethostname(host, sizeof(host) - 1) < 0)
		ret = -errno;
	if (ret == 0)
		ret = dstats_host_build(&src, out);
	free(stat);
	free(mem);
	return ret;
}
