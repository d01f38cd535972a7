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

#define CONFIG_MAX_DISKS 24  /* with the nets: more than the 31 PCI slots */
#define CONFIG_MAX_NETS 8
#define CONFIG_MAX_CONSOLES 4
#define CONFIG_ID_MAX 32          /* device ids, NUL included */
#define CONFIG_IFNAME_MAX 16      /* IFNAMSIZ */

enum config_on_reboot { CONFIG_REBOOT_RESTART, CONFIG_REBOOT_EXIT };
enum config_disk_format { CONFIG_DISK_RAW, CONFIG_DISK_QCOW2 };
enum config_disk_cache { CONFIG_CACHE_WRITEBACK, CONFIG_CACHE_NONE };

/* --disk path=IMG,format=raw|qcow2[,readonly=on][,cache=none|writeback][,id=ID][,queues=N] */
struct config_disk {
	char path[PATH_MAX];
	enum config_disk_format format;
	bool readonly;
	enum config_disk_cache cache;
	unsigned queues;              /* 0: one per vCPU (capped by the device) */
	char id[CONFIG_ID_MAX];       /* given, or diskN assigned by validation */
};

/* --net tap=NAME|fd=N[,mac=MAC][,id=ID] */
struct config_net {
	char tap[CONFIG_IFNAME_MAX];  /* "" when fd= is used */
	int fd;                       /* -1 unless fd=N */
	uint8_t mac[6];
	bool mac_set;                 /* set by config_validate, which generates a locally
	                               * administered MAC for an interface without mac= */
	char id[CONFIG_ID_MAX];       /* given, or netN */
};

/* --console BACKEND[,id=ID]: virtio-console port 0 (hvc0) */
struct config_console {
	struct chardev_spec backend;
	char id[CONFIG_ID_MAX];       /* given, or consoleN */
};
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
	struct config_disk disks[CONFIG_MAX_DISKS];
	unsigned ndisks;
	struct config_net nets[CONFIG_MAX_NETS];
	unsigned nnets;
	struct config_console consoles[CONFIG_MAX_CONSOLES];
	unsigned nconsoles;
	bool rng;                     /* --rng: virtio-rng from getrandom() */
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
/* Cross-field checks: kernel given, memory within host limits, device ids
 * unique (and generated: diskN, netN, consoleN, the lowest N free), disk
 * images present, stdio used once, at most 31 virtio devices; fills in a
 * generated MAC (02:..., see config.c) for each interface without one. */
int config_validate(struct vm_config *cfg, uint64_t host_memory);
void config_usage(void);

#endif
