/* config: the VM configuration as plain data, from command-line options or a
 * JSON file (--config), validated before anything is created. Parsing never
 * touches KVM; errors are one line naming the option and the problem. */
#ifndef VMKIT_CONFIG_H
#define VMKIT_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

#include "chardev.h"
#include "common/log.h"

#define CONFIG_MAX_CPUS 254
#define CONFIG_DEFAULT_MEMORY (512ULL << 20)
#define CONFIG_SOCKET_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))
#define CONFIG_CMDLINE_MAX 65536

enum config_on_reboot { CONFIG_REBOOT_RESTART, CONFIG_REBOOT_EXIT };
enum config_on_triple_fault { CONFIG_TF_RESET, CONFIG_TF_EXIT };

struct vm_config {
	char kernel[PATH_MAX];
	char initrd[PATH_MAX];        /* "" = none */
	char cmdline[CONFIG_CMDLINE_MAX];
	char symbols[PATH_MAX];       /* System.map, "" = none */
	char api_socket[CONFIG_SOCKET_MAX]; /* "" = no control socket */
	char kvm_device[PATH_MAX];
	uint64_t memory;
	unsigned cpus;
	struct chardev_spec serial;
	enum config_on_reboot on_reboot;
	enum config_on_triple_fault on_triple_fault;
	enum log_level log_level;
};

enum config_result {
	CONFIG_RUN,     /* start the VM */
	CONFIG_HELP,    /* --help or --version printed; exit 0 */
};

void config_defaults(struct vm_config *cfg);
/* Parse argv (options, and --config FILE merged under later options).
 * Returns CONFIG_RUN/CONFIG_HELP or -errno after logging the problem. */
int config_parse_args(int argc, char **argv, struct vm_config *cfg);
/* Apply a JSON document (the --config file's content). */
int config_apply_json(struct vm_config *cfg, const char *text, size_t len, const char *origin);
/* Cross-field checks: kernel given, memory within host limits, etc. */
int config_validate(const struct vm_config *cfg, uint64_t host_memory);
void config_usage(void);

#endif
