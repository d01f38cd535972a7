/* cmdline: parses the guest command line: workload=NAME, cpus=N, exit=N,
 * acpi=on|off. Unknown keys are ignored (firmware may add its own); the
 * workloads look up their own keys (disk=, count=, ...) with the getters. */
#ifndef TESTGUEST_CMDLINE_H
#define TESTGUEST_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CMDLINE_MAX      4096   /* longest command line read from memory */
#define CMDLINE_NAME_MAX 32

struct cmdline {
	char workload[CMDLINE_NAME_MAX];
	bool have_cpus;
	uint32_t cpus;          /* 1..255 */
	bool have_exit;
	uint32_t exit_code;
	bool acpi_off;
	char raw[CMDLINE_MAX];  /* the whole line, for the getters below */
};

/* Fill c from s. Without workload=, "exit=N" selects the exit workload and
 * otherwise the workload is "hello". 0 or -EINVAL (bad value, logged). */
int cmdline_parse(const char *s, struct cmdline *c);

/* Value of the first key=VALUE token: a number in min..max (decimal or 0x),
 * def if the key is absent. 0, or -EINVAL (bad value, logged). */
int cmdline_u64(const struct cmdline *c, const char *key, uint64_t def, uint64_t min,
		uint64_t max, uint64_t *out);
/* The value as a string: 0, -ENOENT (absent; buf = ""), -E2BIG (too long,
 * logged). */
int cmdline_str(const struct cmdline *c, const char *key, char *buf, size_t size);
/* key=1|on|yes|true -> true; absent or anything else -> false. */
bool cmdline_flag(const struct cmdline *c, const char *key);
/* Is word one of the comma-separated items of list? An empty list
 * matches everything. */
bool cmdline_list_has(const char *list, const char *word);

#endif
