/* dstats: statistics for vmkitd's API: a VMM process from /proc (start
 * time for identity checks, RSS, CPU time per vCPU thread) combined with
 * the VMM's control-socket replies into DOMSTATS' "cpu", "memory",
 * "block" and "net" members, and the host's figures (HOST) from /proc/stat,
 * /proc/meminfo and sysconf. See docs/api.md for the shapes.
 *
 * Every /proc parser takes the file's text, so the tests feed fabricated
 * lines; the readers around them only open files. Functions return 0 or
 * -errno (-EINVAL: the text is not what the kernel writes). */
#ifndef VMKIT_DSTATS_H
#define VMKIT_DSTATS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The fields of /proc/PID/stat vmkitd uses (clock ticks, 1/USER_HZ s). */
struct dstats_stat {
	uint64_t utime;      /* field 14 */
	uint64_t stime;      /* field 15 */
	uint64_t starttime;  /* field 22: since boot; with the pid, the process' identity */
};

/* One line of /proc/PID/stat or /proc/PID/task/TID/stat. The command name
 * (field 2) may hold spaces and ')': the fields are counted from the last
 * ')'. */
int dstats_parse_stat(const char *text, struct dstats_stat *out);
/* /proc/PID/task/TID/schedstat: the first number, nanoseconds on a CPU. */
int dstats_parse_schedstat(const char *text, uint64_t *run_ns);
/* /proc/PID/statm: the second number, resident pages. */
int dstats_parse_statm(const char *text, uint64_t *resident_pages);
/* /proc/meminfo: MemTotal and MemAvailable in bytes. */
int dstats_parse_meminfo(const char *text, uint64_t *total, uint64_t *available);

/* The first line of /proc/stat, in clock ticks, folded into HOST's four
 * modes: user (user + nice), system (system + irq + softirq), idle, iowait. */
struct dstats_cpu_ticks {
	uint64_t user, system, idle, iowait;
};
int dstats_parse_proc_stat(const char *text, struct dstats_cpu_ticks *out);

/* Readers of /proc/PID: -ENOENT when there is no such process. */
int dstats_proc_starttime(pid_t pid, uint64_t *ticks);
int dstats_proc_cpu_ns(pid_t pid, uint64_t *ns);       /* utime + stime */
int dstats_proc_rss(pid_t pid, uint64_t *bytes);

/* What dstats_domain reads from /proc for one VMM: the process' CPU time
 * and RSS, and the time of each vCPU thread. */
struct dstats_task {
	pid_t tid;
	uint64_t ns;
};
struct dstats_proc {
	uint64_t cpu_ns;             /* utime + stime of the whole process */
	uint64_t rss_bytes;
	const struct dstats_task *tasks;
	size_t ntasks;
};

/* Fill obj's "cpu", "memory" ({"rss_bytes", "balloon"}; the daemon adds
 * max_bytes/current_bytes), "block" and "net" from /proc/PID and the VMM's
 * replies (the "return" values): cpus of query-cpus, balloon of
 * query-balloon (NULL: no balloon, "balloon": null), blockstats of
 * query-blockstats, netstats of query-netstats. A NULL or malformed reply
 * gives an empty list; a counter it lacks is 0. rx/tx are from the
 * domain's side, as virsh domifstat: rx = bytes the guest received.
 * -ENOENT: the VMM process is gone; -EINVAL: obj is not an object. */
int dstats_domain(pid_t pid, json_t *cpus, json_t *balloon, json_t *blockstats,
		  json_t *netstats, json_t *obj);
/* The same from figures already read (the golden tests). */
int dstats_domain_build(const struct dstats_proc *proc, json_t *cpus, json_t *balloon,
			json_t *blockstats, json_t *netstats, json_t *obj);

/* HOST: {"hostname", "cpus", "memory_total_bytes", "memory_available_bytes",
 * "cpu_time_ns": {"user", "system", "idle", "iowait"}, "domains_running": 0,
 * "domains_defined": 0 (the daemon sets both), "daemon_rss_bytes"}. */
int dstats_host(json_t **out);

/* The inputs of HOST, for dstats_host_build (the golden tests). */
struct dstats_host_src {
	const char *hostname;
	long cpus;
	long clk_tck;                 /* sysconf(_SC_CLK_TCK) */
	const char *proc_stat;        /* text of /proc/stat */
	const char *meminfo;          /* text of /proc/meminfo */
	uint64_t rss_bytes;           /* the daemon's own */
};
int dstats_host_build(const struct dstats_host_src *src, json_t **out);

#endif
