/* dom_print: the text vmkit's query verbs print, as virsh prints it, from
 * the JSON vmkitd answers: the `list` table and its --name/--uuid forms,
 * dominfo's "Name:           web" lines, domstate, domstats' key=value
 * lines, dommemstat, domblkstat, domifstat, version and one line per event.
 * Pure functions of their JSON (golden tests in tests/golden/cli/); a field
 * the daemon left out prints as "-" or 0, never a crash. */
#include "cli/dom.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

static const char *dp_str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static uint64_t dp_u64(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return 0;
	return (uint64_t)json_integer_value(v);
}

static uint64_t dp_kib(json_t *o, const char *key)
{
	return dp_u64(o, key) / 1024;
}

/* The "Id" column: the number, or "-" when inactive (null). */
static void dp_id(json_t *o, char *buf, size_t len)
{
	json_t *id = json_object_get(o, "id");

	if (json_is_integer(id))
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
	else
		snprintf(buf, len, "-");
}

const char *dprint_state(const char *state)
{
	return strcmp(state, "shutoff") == 0 ? "shut off" : state;
}

/* ---- list --------------------------------------------------------------- */

static bool dp_list_wanted(json_t *d, unsigned flags)
{
	return !(flags & DPRINT_INACTIVE) || !json_is_integer(json_object_get(d, "id"));
}

static void dp_list_plain(FILE *f, json_t *doms, unsigned flags)
{
	size_t i;
	json_t *d;

	json_array_foreach(doms, i, d) {
		if (!dp_list_wanted(d, flags))
			continue;
		if ((flags & DPRINT_UUID) && (flags & DPRINT_NAME))
			fprintf(f, "%s %s\n", dp_str(d, "uuid"), dp_str(d, "name"));
		else
			fprintf(f, "%s\n", dp_str(d, flags & DPRINT_UUID ? "uuid" : "name"));
	}
}

int dprint_list(FILE *f, json_t *v, unsigned flags)
{
	json_t *doms = json_object_get(v, "domains"), *d;
	int wid = 2, wname = 4, wstate = 5;
	char id[32];
	size_t i;

	if (!json_is_array(doms))
		return -EBADMSG;
	if (flags & (DPRINT_NAME | DPRINT_UUID)) {
		dp_list_plain(f, doms, flags);
		return 0;
	}
	json_array_foreach(doms, i, d) {
		dp_id(d, id, sizeof(id));
		wid = MAX(wid, (int)strlen(id));
		wname = MAX(wname, (int)strlen(dp_str(d, "name")));
		wstate = MAX(wstate, (int)strlen(dprint_state(dp_str(d, "state"))));
	}
	fprintf(f, " %-*s   %-*s   %s\n", wid, "Id", wname, "Name", "State");
	for (int k = 0; k < wid + wname + wstate + 9; k++)
		fputc('-', f);
	fputc('\n', f);
	json_array_foreach(doms, i, d) {
		if (!dp_list_wanted(d, flags))
			continue;
		dp_id(d, id, sizeof(id));
		fprintf(f, " %-*s   %-*s   %s\n", wid, id, wname, dp_str(d, "name"),
			dprint_state(dp_str(d, "state")));
	}
	fputc('\n', f);
	return 0;
}

/* ---- dominfo, domstate -------------------------------------------------- */

static void dp_line(FILE *f, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void dp_line(FILE *f, const char *label, const char *fmt, ...)
{
	va_list ap;
	char lab[32];

	snprintf(lab, sizeof(lab), "%s:", label);
	fprintf(f, "%-16s", lab);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

static const char *dp_yes(json_t *o, const char *key, const char *yes, const char *no)
{
	return json_is_true(json_object_get(o, key)) ? yes : no;
}

int dprint_dominfo(FILE *f, json_t *v)
{
	const char *title = json_string_value(json_object_get(v, "title"));
	const char *console = json_string_value(json_object_get(v, "console"));
	json_t *pid = json_object_get(v, "pid");
	char id[32];

	if (!json_is_object(v))
		return -EBADMSG;
	dp_id(v, id, sizeof(id));
	dp_line(f, "Id", "%s", id);
	dp_line(f, "Name", "%s", dp_str(v, "name"));
	dp_line(f, "UUID", "%s", dp_str(v, "uuid"));
	if (title)
		dp_line(f, "Title", "%s", title);
	dp_line(f, "OS Type", "hvm");
	dp_line(f, "State", "%s", dprint_state(dp_str(v, "state")));
	dp_line(f, "CPU(s)", "%" PRIu64, dp_u64(v, "vcpus"));
	if (json_is_integer(json_object_get(v, "id")))
		dp_line(f, "CPU time", "%.1fs", (double)dp_u64(v, "cpu_time_ns") / 1e9);
	dp_line(f, "Max memory", "%" PRIu64 " KiB", dp_kib(v, "max_memory_bytes"));
	dp_line(f, "Used memory", "%" PRIu64 " KiB", dp_kib(v, "memory_bytes"));
	dp_line(f, "Persistent", "%s", dp_yes(v, "persistent", "yes", "no"));
	dp_line(f, "Autostart", "%s", dp_yes(v, "autostart", "enable", "disable"));
	if (json_is_integer(pid))
		dp_line(f, "PID", "%" JSON_INTEGER_FORMAT, json_integer_value(pid));
	if (console)
		dp_line(f, "Console", "%s", console);
	dp_line(f, "Log", "%s", dp_str(v, "log"));
	fputc('\n', f);
	return 0;
}

int dprint_domstate(FILE *f, json_t *v, unsigned flags)
{
	if (!json_is_string(json_object_get(v, "state")))
		return -EBADMSG;
	fprintf(f, "%s", dprint_state(dp_str(v, "state")));
	if (flags & DPRINT_REASON)
		fprintf(f, " (%s)", dp_str(v, "reason"));
	fputc('\n', f);
	return 0;
}

/* ---- domstats ----------------------------------------------------------- */

/* libvirt's numbers for states and reasons (virDomainState and the
 * per-state reason enums), as `virsh domstats` prints them. */
static const struct {
	const char *state;
	const char *reason;
	int state_no, reason_no;
} dp_state_nos[] = {
	{ "running", "booted", 1, 1 },  { "running", "unpaused", 1, 5 },
	{ "paused", "user", 3, 1 },     { "shutoff", "unknown", 5, 0 },
	{ "shutoff", "shutdown", 5, 1 }, { "shutoff", "destroyed", 5, 2 },
	{ "shutoff", "failed", 5, 6 },  { "crashed", "crashed", 6, 0 },
	{ "crashed", "triple-fault", 6, 0 }, { "crashed", "internal-error", 6, 0 },
	{ "crashed", "host-error", 6, 0 },
};

static void dp_state_numbers(json_t *v, int *state, int *reason)
{
	const char *s = dp_str(v, "state"), *r = dp_str(v, "reason");

	*state = 0;
	*reason = 0;
	for (size_t i = 0; i < ARRAY_SIZE(dp_state_nos); i++) {
		if (strcmp(dp_state_nos[i].state, s) != 0)
			continue;
		*state = dp_state_nos[i].state_no;
		if (strcmp(dp_state_nos[i].reason, r) == 0) {
			*reason = dp_state_nos[i].reason_no;
			return;
		}
	}
}

static void dp_kv(FILE *f, const char *key, uint64_t v)
{
	fprintf(f, "  %s=%" PRIu64 "\n", key, v);
}

/* The balloon's guest statistics under libvirt's names and units (memory
 * in KiB, faults as counts), in virsh's order; names vmkit does not know
 * follow as the daemon gave them. */
static const struct {
	const char *api;
	const char *virsh;
	bool kib;
} dp_memstats[] = {
	{ "swap-in", "swap_in", true },        { "swap-out", "swap_out", true },
	{ "major-faults", "major_fault", false }, { "minor-faults", "minor_fault", false },
	{ "free-memory", "unused", true },     { "total-memory", "available", true },
	{ "available-memory", "usable", true }, { "disk-caches", "disk_caches", true },
	{ "hugetlb-allocations", "hugetlb_pgalloc", false },
	{ "hugetlb-failures", "hugetlb_pgfail", false },
};

static bool dp_memstat_known(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(dp_memstats); i++) {
		if (strcmp(dp_memstats[i].api, name) == 0)
			return true;
	}
	return false;
}

/* "PREFIXname SEPvalue" lines (dommemstat: "", " "; domstats: "  balloon.", "="). */
static void dp_guest_stats(FILE *f, json_t *guest, const char *prefix, const char *sep)
{
	const char *name;
	json_t *val;

	for (size_t i = 0; i < ARRAY_SIZE(dp_memstats); i++) {
		val = json_object_get(guest, dp_memstats[i].api);
		if (json_is_integer(val))
			fprintf(f, "%s%s%s%" PRIu64 "\n", prefix, dp_memstats[i].virsh, sep,
				dp_u64(guest, dp_memstats[i].api) / (dp_memstats[i].kib ? 1024 : 1));
	}
	json_object_foreach(guest, name, val) {
		if (json_is_integer(val) && !dp_memstat_known(name))
			fprintf(f, "%s%s%s%" JSON_INTEGER_FORMAT "\n", prefix, name, sep,
				json_integer_value(val));
	}
}

static void dp_stats_memory(FILE *f, json_t *mem)
{
	json_t *balloon = json_object_get(mem, "balloon");

	dp_kv(f, "balloon.current", dp_kib(mem, "current_bytes"));
	dp_kv(f, "balloon.maximum", dp_kib(mem, "max_bytes"));
	dp_kv(f, "balloon.rss", dp_kib(mem, "rss_bytes"));
	if (!json_is_object(balloon))
		return;
	dp_kv(f, "balloon.target", dp_kib(balloon, "target_bytes"));
	dp_kv(f, "balloon.actual", dp_kib(balloon, "actual_bytes"));
	dp_guest_stats(f, json_object_get(balloon, "guest"), "  balloon.", "=");
}

static void dp_stats_vcpus(FILE *f, json_t *cpu)
{
	json_t *vcpus = json_object_get(cpu, "vcpus"), *vc;
	size_t i;

	dp_kv(f, "vcpu.current", json_array_size(vcpus));
	json_array_foreach(vcpus, i, vc) {
		fprintf(f, "  vcpu.%" PRIu64 ".state=1\n", dp_u64(vc, "id"));
		fprintf(f, "  vcpu.%" PRIu64 ".time=%" PRIu64 "\n", dp_u64(vc, "id"),
			dp_u64(vc, "time_ns"));
	}
}

/* Counters of one array entry as "PREFIX.N.NAME=value" lines. */
struct dp_counter {
	const char *libvirt;      /* virsh's name */
	const char *api;          /* the API's field */
};

static void dp_stats_devices(FILE *f, json_t *arr, const char *prefix, const char *namekey,
			     const struct dp_counter *ctr, size_t nctr)
{
	json_t *d;
	size_t i;

	fprintf(f, "  %s.count=%zu\n", prefix, json_array_size(arr));
	json_array_foreach(arr, i, d) {
		fprintf(f, "  %s.%zu.name=%s\n", prefix, i, dp_str(d, namekey));
		if (json_is_string(json_object_get(d, "path")))
			fprintf(f, "  %s.%zu.path=%s\n", prefix, i, dp_str(d, "path"));
		for (size_t k = 0; k < nctr; k++)
			fprintf(f, "  %s.%zu.%s=%" PRIu64 "\n", prefix, i, ctr[k].libvirt,
				dp_u64(d, ctr[k].api));
	}
}

static const struct dp_counter dp_net_stats[] = {
	{ "rx.bytes", "rx_bytes" }, { "rx.pkts", "rx_packets" }, { "rx.drop", "rx_dropped" },
	{ "tx.bytes", "tx_bytes" }, { "tx.pkts", "tx_packets" }, { "tx.drop", "tx_dropped" },
};

static const struct dp_counter dp_blk_stats[] = {
	{ "rd.reqs", "rd_operations" }, { "rd.bytes", "rd_bytes" },
	{ "wr.reqs", "wr_operations" }, { "wr.bytes", "wr_bytes" },
	{ "fl.reqs", "flush_operations" }, { "errors", "errors" },
};

int dprint_domstats(FILE *f, json_t *st)
{
	json_t *cpu = json_object_get(st, "cpu"), *mem = json_object_get(st, "memory");
	int state, reason;

	if (!json_is_object(st))
		return -EBADMSG;
	dp_state_numbers(st, &state, &reason);
	fprintf(f, "Domain: '%s'\n", dp_str(st, "name"));
	fprintf(f, "  state.state=%d\n  state.reason=%d\n", state, reason);
	if (json_is_object(cpu))
		dp_kv(f, "cpu.time", dp_u64(cpu, "time_ns"));
	if (json_is_object(mem))
		dp_stats_memory(f, mem);
	if (json_is_object(cpu))
		dp_stats_vcpus(f, cpu);
	if (json_is_array(json_object_get(st, "net")))
		dp_stats_devices(f, json_object_get(st, "net"), "net", "target", dp_net_stats,
				 ARRAY_SIZE(dp_net_stats));
	if (json_is_array(json_object_get(st, "block")))
		dp_stats_devices(f, json_object_get(st, "block"), "block", "target",
				 dp_blk_stats, ARRAY_SIZE(dp_blk_stats));
	fputc('\n', f);
	return 0;
}

/* ---- dommemstat, domblkstat, domifstat ---------------------------------- */

/* Statistics of an inactive domain carry its state only. */
static int dp_inactive(json_t *st, const char *what)
{
	if (!json_is_string(json_object_get(st, "state")))
		return -EBADMSG;
	dclient_error("domain '%s' is not running (%s): no %s statistics", dp_str(st, "name"),
		  dprint_state(dp_str(st, "state")), what);
	return -ENOENT;
}

int dprint_dommemstat(FILE *f, json_t *st)
{
	json_t *mem = json_object_get(st, "memory");
	json_t *balloon = json_object_get(mem, "balloon");

	if (!json_is_object(mem))
		return dp_inactive(st, "memory");
	if (json_is_object(balloon))
		fprintf(f, "actual %" PRIu64 "\n", dp_kib(balloon, "actual_bytes"));
	else
		fprintf(f, "actual %" PRIu64 "\n", dp_kib(mem, "current_bytes"));
	dp_guest_stats(f, json_object_get(balloon, "guest"), "", " ");
	fprintf(f, "rss %" PRIu64 "\n", dp_kib(mem, "rss_bytes"));
	return 0;
}

static bool dp_matches(json_t *d, const char *target, const char *alt_key)
{
	if (!target)
		return true;
	return strcmp(dp_str(d, "target"), target) == 0 ||
	       (alt_key && strcmp(dp_str(d, alt_key), target) == 0);
}

/* "TARGET NAME VALUE" lines of each matching device; -ENOENT if none. */
static int dp_devstat(FILE *f, json_t *st, const char *arr_key, const char *alt_key,
		      const char *target, const struct dp_counter *ctr, size_t nctr)
{
	json_t *arr = json_object_get(st, arr_key), *d;
	bool found = false;
	size_t i;

	if (!json_is_array(arr))
		return dp_inactive(st, alt_key ? "interface" : "disk");
	json_array_foreach(arr, i, d) {
		if (!dp_matches(d, target, alt_key))
			continue;
		found = true;
		for (size_t k = 0; k < nctr; k++)
			fprintf(f, "%s %s %" PRIu64 "\n", dp_str(d, "target"), ctr[k].libvirt,
				dp_u64(d, ctr[k].api));
	}
	if (found || (!target && json_array_size(arr) == 0))
		return 0;
	if (target)
		dclient_error("domain '%s' has no %s '%s'", dp_str(st, "name"),
			  alt_key ? "interface" : "disk", target);
	return -ENOENT;
}

int dprint_domblkstat(FILE *f, json_t *st, const char *target)
{
	static const struct dp_counter ctr[] = {
		{ "rd_req", "rd_operations" }, { "rd_bytes", "rd_bytes" },
		{ "wr_req", "wr_operations" }, { "wr_bytes", "wr_bytes" },
		{ "flush_operations", "flush_operations" }, { "errs", "errors" },
	};

	return dp_devstat(f, st, "block", NULL, target, ctr, ARRAY_SIZE(ctr));
}

int dprint_domifstat(FILE *f, json_t *st, const char *target)
{
	static const struct dp_counter ctr[] = {
		{ "rx_bytes", "rx_bytes" }, { "rx_packets", "rx_packets" },
		{ "rx_drop", "rx_dropped" }, { "tx_bytes", "tx_bytes" },
		{ "tx_packets", "tx_packets" }, { "tx_drop", "tx_dropped" },
	};

	return dp_devstat(f, st, "net", "mac", target, ctr, ARRAY_SIZE(ctr));
}

/* ---- version, events ---------------------------------------------------- */

int dprint_version(FILE *f, json_t *v)
{
	if (!json_is_object(v))
		return -EBADMSG;
	fprintf(f, "Daemon: vmkitd %s (API %" PRIu64 ")\n", dp_str(v, "version"),
		dp_u64(v, "api"));
	fprintf(f, "VMM: %s\n", dp_str(v, "vmm"));
	return 0;
}

/* "started" → "Started" (ASCII only). */
static void dp_capital(FILE *f, const char *s)
{
	if (*s >= 'a' && *s <= 'z') {
		fputc(*s - 'a' + 'A', f);
		s++;
	}
	fputs(s, f);
}

int dprint_event(FILE *f, json_t *ev)
{
	json_t *dom = json_object_get(ev, "domain");
	time_t secs = (time_t)(dp_u64(ev, "time_ms") / 1000);
	char when[64];
	struct tm tm;

	if (!json_is_string(json_object_get(ev, "event")))
		return -EBADMSG;
	if (!gmtime_r(&secs, &tm) || !strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(when, sizeof(when), "?");
	fprintf(f, "%s.%03u+0000: seq %" PRIu64 ": event ", when,
		(unsigned)(dp_u64(ev, "time_ms") % 1000), dp_u64(ev, "seq"));
	if (json_is_object(dom) && *dp_str(dom, "name") && strcmp(dp_str(dom, "name"), "-") != 0)
		fprintf(f, "'lifecycle' for domain '%s': ", dp_str(dom, "name"));
	else
		fprintf(f, "'lifecycle': ");
	dp_capital(f, dp_str(ev, "event"));
	fputc(' ', f);
	dp_capital(f, dp_str(ev, "detail"));
	fputc('\n', f);
	return 0;
}
