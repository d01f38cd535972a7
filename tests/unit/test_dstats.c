/* test_dstats: src/daemon/dstats.c and dmetrics.c. The /proc parsers on
 * fabricated text (command names with spaces and ") (" in them, short and
 * malformed lines), the readers on this very process, a vCPU thread's time,
 * HOST, the Prometheus writer's escaping; and, with the argument "golden",
 * the golden set of tests/golden/dstats/ (VMKIT_GOLDEN_UPDATE=1 rewrites
 * the expected files):
 *   domain-NAME.in.json  {"proc": {"cpu_ns", "rss_bytes", "tasks": {TID: ns}},
 *                         "query-cpus": REPLY, "query-balloon": REPLY, ...}
 *                        (REPLY: the VMM's whole reply line, {"return": ...}
 *                        or {"error": ...}; a missing one is not asked)
 *   domain-NAME.json     the DOMSTATS members dstats_domain_build fills
 *   host-NAME.stat, host-NAME.meminfo  /proc/stat and /proc/meminfo texts
 *   host-NAME.json       HOST (hostname "testhost", 4 CPUs, 100 ticks/s,
 *                        daemon RSS 7340032)
 *   metrics-NAME.json    a /v1/stats object
 *   metrics-NAME.prom    its Prometheus text
 * and that docs/metrics.md lists every family. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/dmetrics.h"
#include "daemon/dstats.h"

#define GOLDEN_DIR TEST_SRCDIR "/tests/golden/dstats"
#define DOCS_METRICS TEST_SRCDIR "/docs/metrics.md"

/* "PID (COMM) S 4 5 ... 52": field n holds n, but utime (14), stime (15)
 * and starttime (22) hold the given values. */
static void stat_line(char *buf, size_t size, const char *comm, uint64_t ut, uint64_t st,
		      uint64_t start)
{
	int n = snprintf(buf, size, "4242 (%s) S", comm);

	for (unsigned f = 4; f <= 52; f++) {
		uint64_t v = f == 14 ? ut : f == 15 ? st : f == 22 ? start : f;

		n += snprintf(buf + n, size - (size_t)n, " %llu", (unsigned long long)v);
	}
	snprintf(buf + n, size - (size_t)n, "\n");
}

static void test_parse_stat(void **state)
{
	static const char *const comms[] = { "vmkit-vmm", "a b", ") (", "x) (y) S 1 2 3 (", "",
					     "((", ")" };
	struct dstats_stat st;
	char line[1024];

	for (size_t i = 0; i < ARRAY_SIZE(comms); i++) {
		stat_line(line, sizeof(line), comms[i], 111 + i, 222, 33333333333ULL);
		memset(&st, 0, sizeof(st));
		assert_int_equal(dstats_parse_stat(line, &st), 0);
		assert_true(st.utime == 111 + i);
		assert_true(st.stime == 222);
		assert_true(st.starttime == 33333333333ULL);
	}
	/* A kernel's field 52 is the last one; the parser needs only up to 22. */
	assert_int_equal(dstats_parse_stat("1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 -5 0 20 "
					   "21 22", &st), 0);
	assert_true(st.utime == 14 && st.stime == 15 && st.starttime == 22);
}

static void test_parse_stat_bad(void **state)
{
	static const char *const bad[] = {
		"", "4242 x S 1 2 3", "4242 (x S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22",
		"4242 x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22",
		"1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",     /* no field 22 */
		"1 (x) S 4 5 6 7 8 9 10 11 12 13 -14 15 16 17 18 19 20 21 22", /* negative utime */
		"1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 2x",
		"1 (x) S 4 5 6 7 8 9 10 11 12 13 99999999999999999999 15 16 17 18 19 20 21 22",
		"1 (x) S 4 5 6 7 8 9 10 11 12 13 14 15 16\n17 18 19 20 21 22",
	};
	struct dstats_stat st;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (dstats_parse_stat(bad[i], &st) != -EINVAL)
			fail_msg("accepted: '%s'", bad[i]);
	}
	assert_int_equal(dstats_parse_stat(NULL, &st), -EINVAL);
}

static void test_parse_small(void **state)
{
	static const char meminfo[] = "MemTotal:       16318480 kB\nMemFree:         1000 kB\n"
				      "MemAvailable:   12000000 kB\nBuffers: 1 kB\n";
	struct dstats_cpu_ticks t;
	uint64_t a, b;

	assert_int_equal(dstats_parse_schedstat("123456789 5555 77\n", &a), 0);
	assert_true(a == 123456789);
	assert_int_equal(dstats_parse_schedstat("x 1 2\n", &a), -EINVAL);
	assert_int_equal(dstats_parse_statm("5000 1234 300 1 0 900 0\n", &a), 0);
	assert_true(a == 1234);
	assert_int_equal(dstats_parse_statm("5000\n", &a), -EINVAL);
	assert_int_equal(dstats_parse_meminfo(meminfo, &a, &b), 0);
	assert_true(a == 16318480ULL * 1024 && b == 12000000ULL * 1024);
	assert_int_equal(dstats_parse_meminfo("MemTotal: 5 kB\nMemFree: 1 kB\n", &a, &b), -EINVAL);
	assert_int_equal(dstats_parse_meminfo("MemTotal: 5 MB\nMemAvailable: 1 kB\n", &a, &b),
			 -EINVAL);
	/* "MemTotal" inside another key's line does not count. */
	assert_int_equal(dstats_parse_meminfo("XMemTotal: 5 kB\nMemAvailable: 1 kB\n", &a, &b),
			 -EINVAL);
	assert_int_equal(dstats_parse_proc_stat("cpu  10 1 20 300 4 5 6 0 0 0\ncpu0 1 2\n", &t), 0);
	assert_true(t.user == 11 && t.system == 31 && t.idle == 300 && t.iowait == 4);
	assert_int_equal(dstats_parse_proc_stat("cpu0 10 1 20 300 4 5 6\n", &t), -EINVAL);
	assert_int_equal(dstats_parse_proc_stat("cpu  10 1 20 300 4 5\n", &t), -EINVAL);
}

/* ---- readers on this process ---- */

static void test_proc_self(void **state)
{
	FILE *f = fopen("/proc/self/stat", "r");
	char line[4096];
	struct dstats_stat st;
	uint64_t start, rss, cpu;

	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_int_equal(dstats_parse_stat(line, &st), 0);
	assert_int_equal(dstats_proc_starttime(getpid(), &start), 0);
	assert_true(start == st.starttime && start > 0);
	assert_int_equal(dstats_proc_rss(getpid(), &rss), 0);
	assert_true(rss > 4096);
	assert_int_equal(dstats_proc_starttime(0x7ffffff0, &start), -ENOENT);
	assert_int_equal(dstats_proc_rss(0x7ffffff0, &rss), -ENOENT);
	assert_int_equal(dstats_proc_cpu_ns(getpid(), &cpu), 0);
	assert_true(cpu % (1000000000ULL / (uint64_t)sysconf(_SC_CLK_TCK)) == 0);
	assert_int_equal(dstats_proc_cpu_ns(0x7ffffff0, &cpu), -ENOENT);
}

struct spinner {
	volatile bool stop;
	volatile pid_t tid;
};

static void *spin(void *arg)
{
	struct spinner *s = arg;

	s->tid = (pid_t)syscall(SYS_gettid);
	while (!s->stop)
		;
	return NULL;
}

/* A "vCPU" thread that spins has time; a thread id that is not ours has 0. */
static void test_domain_self(void **state)
{
	struct spinner s = { false, 0 };
	pthread_t th;
	json_t *obj = json_object(), *cpus, *v;

	assert_int_equal(pthread_create(&th, NULL, spin, &s), 0);
	while (!s.tid)
		;
	usleep(50000);
	cpus = json_pack("[{s:i,s:i},{s:i,s:i}]", "cpu-index", 0, "thread-id", (int)s.tid,
			 "cpu-index", 1, "thread-id", 1);
	assert_int_equal(dstats_domain(getpid(), cpus, NULL, NULL, NULL, obj), 0);
	s.stop = true;
	pthread_join(th, NULL);
	v = json_object_get(json_object_get(obj, "cpu"), "vcpus");
	assert_int_equal(json_array_size(v), 2);
	assert_true(json_integer_value(json_object_get(json_array_get(v, 0), "time_ns")) > 0);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 1), "time_ns")), 0);
	assert_true(json_integer_value(json_object_get(json_object_get(obj, "cpu"), "time_ns")) >=
		    json_integer_value(json_object_get(json_array_get(v, 0), "time_ns")));
	assert_true(json_integer_value(json_object_get(json_object_get(obj, "memory"),
						       "rss_bytes")) > 0);
	assert_true(json_is_null(json_object_get(json_object_get(obj, "memory"), "balloon")));
	assert_int_equal(json_array_size(json_object_get(obj, "block")), 0);
	assert_int_equal(json_array_size(json_object_get(obj, "net")), 0);
	assert_int_equal(dstats_domain(0x7ffffff0, cpus, NULL, NULL, NULL, obj), -ENOENT);
	json_decref(cpus);
	json_decref(obj);
}

/* The daemon's max_bytes/current_bytes in "memory" stay. */
static void test_domain_keeps_memory(void **state)
{
	struct dstats_proc proc = { 5, 6, NULL, 0 };
	json_t *obj = json_pack("{s:{s:i,s:i}}", "memory", "max_bytes", 100, "current_bytes", 90);
	json_t *mem;

	assert_int_equal(dstats_domain_build(&proc, NULL, NULL, NULL, NULL, obj), 0);
	mem = json_object_get(obj, "memory");
	assert_int_equal(json_integer_value(json_object_get(mem, "max_bytes")), 100);
	assert_int_equal(json_integer_value(json_object_get(mem, "current_bytes")), 90);
	assert_int_equal(json_integer_value(json_object_get(mem, "rss_bytes")), 6);
	assert_int_equal(dstats_domain_build(&proc, NULL, NULL, NULL, NULL, NULL), -EINVAL);
	json_decref(obj);
}

static void test_host(void **state)
{
	json_t *h = NULL;

	assert_int_equal(dstats_host(&h), 0);
	assert_true(json_integer_value(json_object_get(h, "cpus")) > 0);
	assert_true(json_integer_value(json_object_get(h, "memory_total_bytes")) >=
		    json_integer_value(json_object_get(h, "memory_available_bytes")));
	assert_true(json_integer_value(json_object_get(h, "daemon_rss_bytes")) > 0);
	assert_true(json_integer_value(json_object_get(json_object_get(h, "cpu_time_ns"),
						       "idle")) > 0);
	assert_true(strlen(json_string_value(json_object_get(h, "hostname"))) > 0);
	json_decref(h);
}

/* ---- dmetrics ---- */

static bool prom_well_formed(const char *text);

static void test_metrics_escape(void **state)
{
	json_t *stats = json_pack("{s:[{s:s,s:s,s:s}]}", "domains", "name", "a\\b\"c\nd",
				  "uuid", "u", "state", "running");
	char *text;

	assert_int_equal(dmetrics_format(stats, &text), 0);
	assert_string_equal(text, "# HELP vmkit_domain_state The domain's state (running, paused, "
			    "shutoff, crashed): 1 for the current one.\n"
			    "# TYPE vmkit_domain_state gauge\n"
			    "vmkit_domain_state{name=\"a\\\\b\\\"c\\nd\",uuid=\"u\",state=\"running\"}"
			    " 1\n");
	free(text);
	json_decref(stats);
	stats = json_array();
	assert_int_equal(dmetrics_format(stats, &text), -EINVAL);
	json_decref(stats);
	stats = json_object();
	assert_int_equal(dmetrics_format(stats, &text), 0);
	assert_string_equal(text, "");
	free(text);
	json_decref(stats);
	assert_true(prom_well_formed("# HELP a x\n# TYPE a gauge\na 1\na{b=\"c\"} 2\n"));
	assert_false(prom_well_formed("# HELP a x\n# TYPE a gauge\nb 1\n"));
	assert_false(prom_well_formed("# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n"
				      "# TYPE a gauge\na 2\n"));
	assert_false(prom_well_formed("# HELP a x\na 1\n"));
	assert_false(prom_well_formed("# HELP a x\n# TYPE a gauge\na 1"));
}

/* ---- golden set ---- */

static char *read_text(const char *dir, const char *name, const char *ext)
{
	char path[1024];
	uint8_t *buf;
	size_t len;
	char *s;

	snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext);
	if (util_read_file(path, 1 << 20, &buf, &len) < 0)
		return NULL;
	s = strndup((const char *)buf, len);
	free(buf);
	return s;
}

static bool golden_compare(const char *name, const char *ext, const char *got, bool update)
{
	char path[1024];
	char *want;
	bool same;

	if (update) {
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s%s", GOLDEN_DIR, name, ext);
		f = fopen(path, "w");
		assert_non_null(f);
		fputs(got, f);
		fclose(f);
		return true;
	}
	want = read_text(GOLDEN_DIR, name, ext);
	if (!want) {
		print_error("golden %s: missing %s%s\n", name, name, ext);
		return false;
	}
	same = strcmp(want, got) == 0;
	if (!same)
		print_error("golden %s%s:\n--- expected\n%s--- got\n%s", name, ext, want, got);
	free(want);
	return same;
}

static char *dump(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS), *out;

	assert_non_null(s);
	out = malloc(strlen(s) + 2);
	assert_non_null(out);
	sprintf(out, "%s\n", s);
	free(s);
	return out;
}

/* The "return" of one recorded reply, or NULL (missing, or an error). */
static json_t *reply(json_t *in, const char *cmd)
{
	return json_object_get(json_object_get(in, cmd), "return");
}

static bool golden_domain(const char *name, json_t *in, bool update)
{
	json_t *p = json_object_get(in, "proc"), *tasks = json_object_get(p, "tasks"), *v;
	struct dstats_task t[64];
	struct dstats_proc proc = { json_integer_value(json_object_get(p, "cpu_ns")),
				    json_integer_value(json_object_get(p, "rss_bytes")), t, 0 };
	json_t *obj = json_object();
	const char *tid;
	char *got;
	bool ok;

	json_object_foreach(tasks, tid, v) {
		assert_true(proc.ntasks < ARRAY_SIZE(t));
		t[proc.ntasks++] = (struct dstats_task){ atoi(tid), json_integer_value(v) };
	}
	assert_int_equal(dstats_domain_build(&proc, reply(in, "query-cpus"),
					     reply(in, "query-balloon"),
					     reply(in, "query-blockstats"),
					     reply(in, "query-netstats"), obj), 0);
	got = dump(obj);
	ok = golden_compare(name, ".json", got, update);
	free(got);
	json_decref(obj);
	return ok;
}

static bool golden_host(const char *name, bool update)
{
	char *stat = read_text(GOLDEN_DIR, name, ".stat"), *mem = read_text(GOLDEN_DIR, name,
									     ".meminfo");
	struct dstats_host_src src = { "testhost", 4, 100, stat, mem, 7340032 };
	json_t *h = NULL;
	char *got;
	bool ok;

	assert_non_null(stat);
	assert_non_null(mem);
	assert_int_equal(dstats_host_build(&src, &h), 0);
	got = dump(h);
	ok = golden_compare(name, ".json", got, update);
	free(got);
	free(stat);
	free(mem);
	json_decref(h);
	return ok;
}

/* The exposition rules a scraper relies on: each family's # HELP then
 * # TYPE once, its samples right after them, every line ended. */
static bool prom_well_formed(const char *text)
{
	char family[128] = "", seen[8192] = " ", key[130];
	const char *p = text, *nl;

	for (; *p; p = nl + 1) {
		size_t n = strcspn(p, "{ ");

		nl = strchr(p, '\n');
		if (!nl)
			return false;
		if (strncmp(p, "# TYPE ", 7) == 0) {
			if (strncmp(p + 7, family, strlen(family)) != 0 || p[7 + strlen(family)] != ' ')
				return false;  /* not right after its HELP */
			continue;
		}
		if (strncmp(p, "# HELP ", 7) == 0) {
			n = strcspn(p + 7, " ");
			snprintf(family, sizeof(family), "%.*s", (int)n, p + 7);
			snprintf(key, sizeof(key), " %s ", family);
			if (strstr(seen, key))
				return false;  /* a second HELP for the family */
			strncat(seen, key + 1, sizeof(seen) - strlen(seen) - 1);
			if (strncmp(nl + 1, "# TYPE ", 7) != 0)
				return false;
		} else if (n != strlen(family) || strncmp(p, family, n) != 0) {
			return false;  /* a sample outside its family */
		}
	}
	return true;
}

static bool golden_metrics(const char *name, json_t *in, bool update)
{
	char *got = NULL;
	bool ok;

	assert_int_equal(dmetrics_format(in, &got), 0);
	if (!prom_well_formed(got))
		fail_msg("%s: not well-formed exposition text:\n%s", name, got);
	ok = golden_compare(name, ".prom", got, update);
	free(got);
	return ok;
}

/* NAME of "NAME.suffix" when the file ends so. */
static bool golden_name(const char *file, const char *prefix, const char *suffix, char *name,
			size_t size)
{
	size_t len = strlen(file), sl = strlen(suffix);

	if (strncmp(file, prefix, strlen(prefix)) != 0 || len <= sl || len - sl >= size ||
	    strcmp(file + len - sl, suffix) != 0)
		return false;
	memcpy(name, file, len - sl);
	name[len - sl] = '\0';
	return true;
}

static json_t *load(const char *name, const char *ext)
{
	char *s = read_text(GOLDEN_DIR, name, ext);
	json_error_t jerr;
	json_t *j;

	assert_non_null(s);
	j = json_loads(s, 0, &jerr);
	if (!j)
		fail_msg("%s%s:%d: %s", name, ext, jerr.line, jerr.text);
	free(s);
	return j;
}

static bool golden_one(const char *file, bool update, unsigned *n)
{
	char name[256];
	json_t *in;
	bool ok = true;

	if (golden_name(file, "domain-", ".in.json", name, sizeof(name))) {
		in = load(name, ".in.json");
		ok = golden_domain(name, in, update);
		json_decref(in);
	} else if (golden_name(file, "host-", ".stat", name, sizeof(name))) {
		ok = golden_host(name, update);
	} else if (golden_name(file, "metrics-", ".json", name, sizeof(name))) {
		in = load(name, ".json");
		ok = golden_metrics(name, in, update);
		json_decref(in);
	} else {
		return true;
	}
	(*n)++;
	return ok;
}

/* docs/metrics.md lists every family of metrics-two.prom (which has them
 * all) with its type: "| `NAME` | TYPE". */
static void test_docs(void **state)
{
	char *doc = read_text(TEST_SRCDIR "/docs", "metrics", ".md");
	char *prom = read_text(GOLDEN_DIR, "metrics-two", ".prom");
	char row[256], name[128], type[16];
	unsigned n = 0;

	assert_non_null(doc);
	assert_non_null(prom);
	for (const char *p = strstr(prom, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
		assert_int_equal(sscanf(p, "# TYPE %127s %15s", name, type), 2);
		snprintf(row, sizeof(row), "| `%s` | %s", name, type);
		if (!strstr(doc, row))
			fail_msg("docs/metrics.md lacks the row \"%s\"", row);
		n++;
	}
	assert_int_equal(n, 27);
	free(doc);
	free(prom);
}

static void test_golden(void **state)
{
	const char *env = getenv("VMKIT_GOLDEN_UPDATE");
	bool update = env && strcmp(env, "1") == 0, ok = true;
	DIR *d = opendir(GOLDEN_DIR);
	struct dirent *e;
	unsigned n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		ok = golden_one(e->d_name, update, &n) && ok;
	closedir(d);
	assert_true(n >= 5);
	assert_true(ok);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest unit[] = {
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_parse_stat_bad),
		cmocka_unit_test(test_parse_small),
		cmocka_unit_test(test_proc_self),
		cmocka_unit_test(test_domain_self),
		cmocka_unit_test(test_domain_keeps_memory),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_metrics_escape),
	};
	const struct CMUnitTest golden[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_docs),
	};

	if (argc > 1 && strcmp(argv[1], "golden") == 0)
		return cmocka_run_group_tests(golden, NULL, NULL);
	return cmocka_run_group_tests(unit, NULL, NULL);
}
