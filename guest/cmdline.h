/* cmdline: parses the guest command line: workload=NAME, cpus=N, exit=N,
 * acpi=on|off. Unknown keys are ignored (firmware may add its own). */
#ifndef TESTGUEST_CMDLINE_H
#define TESTGUEST_CMDLINE_H

#include <stdbool.h>
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
};

/* Fill c from s. Without workload=, "exit=N" selects the exit workload and
 * otherwise the workload is "hello". 0 or -EINVAL (bad value, logged). */
int cmdline_parse(const char *s, struct cmdline *c);

#endif
