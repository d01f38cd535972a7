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
#define CONFIG_NAME_MAX 64        /* --name: 1..63 printable ASCII chars, no '/' */
#define CONFIG_UUID_STRLEN 37     /* --uuid: 8-4-4-4-12 hex digits + NUL */

enum config_on_reboot { CONFIG_REBOOT_RESTART, CONFIG_REBOOT_EXIT };
enum config_disk_format { CONFIG_DISK_RAW, CONFIG_DISK_QCOW2 };
enum config_disk_cache { CONFIG_CACHE_WRITEBACK, CONFIG_CACHE_NONE };

/* A token-bucket limit on one device (issue 6): bytes/s and operations/s
 * (requests for a disk, packets for an interface), each with a burst
 * (bucket size; 0 = one second's worth). 0 = unlimited. Changed at run time
 * through the control socket (set-rate-limit). */
struct config_ratelimit {
	uint64_t bps, bps_burst;
	uint64_t ops, ops_burst;
};

/* Default and largest longest polling window of a disk (poll_us=); the
 * default is QEMU's IOThreads'. */
#define CONFIG_DISK_POLL_US_DEFAULT 32
#define CONFIG_DISK_MAX_POLL_US 1000

/* --disk path=IMG,format=raw|qcow2[,readonly=on][,cache=none|writeback][,id=ID][,queues=N]
 *        [,poll_us=N] */
struct config_disk {
	char path[PATH_MAX];
	enum config_disk_format format;
	bool readonly;
	enum config_disk_cache cache;
	unsigned queues;              /* 0: one per vCPU (capped by the device) */
	unsigned poll_us;             /* longest polling window after completions, 0: off */
	struct config_ratelimit limit; /* bps=,bps_burst=,iops=,iops_burst= */
	char id[CONFIG_ID_MAX];       /* given, or diskN assigned by validation */
};

/* --net tap=NAME|fd=N[,mac=MAC][,id=ID] */
struct config_net {
	char tap[CONFIG_IFNAME_MAX];  /* "" when fd= is used */
	int fd;                       /* -1 unless fd=N */
	uint8_t mac[6];
	bool mac_set;                 /* set by config_validate, which generates a locally
	                               * administered MAC for an interface without mac= */
	struct config_ratelimit limit; /* bps=,bps_burst=,pps=,pps_burst= */
	char id[CONFIG_ID_MAX];       /* given, or netN */
};

/* --console BACKEND[,id=ID]: virtio-console port 0 (hvc0) */
struct config_console {
	struct chardev_spec backend;
	char id[CONFIG_ID_MAX];       /* given, or consoleN */
};
/* --vsock cid=N,socket=PATH[,id=ID]: virtio-vsock, host side a unix socket
 * with Firecracker's protocol (CONNECT <port>; guest connections to port P
 * go to PATH_P). */
struct config_vsock {
	bool enabled;
	uint32_t cid;                 /* >= 3 */
	char socket[CONFIG_SOCKET_MAX];
	char id[CONFIG_ID_MAX];       /* given, or vsock0 */
};

/* --balloon[=on|off][,stats=SECONDS][,free-page-reporting=on|off][,id=ID] */
struct config_balloon {
	bool enabled;
	unsigned stats_period;        /* seconds between statistics requests, 0 = none */
	bool free_page_reporting;
	char id[CONFIG_ID_MAX];       /* given, or balloon0 */
};
enum config_on_triple_fault { CONFIG_TF_RESET, CONFIG_TF_EXIT };

struct vm_config {
	char name[CONFIG_NAME_MAX];   /* "" = not given; reported by query-status */
	char uuid[CONFIG_UUID_STRLEN]; /* "" or canonical lower-case 8-4-4-4-12 */
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
	bool paused;                  /* --paused: the vCPUs wait for "resume" */
	bool mem_prealloc;            /* --mem-prealloc: RAM allocated at start */
	struct config_vsock vsock;
	struct config_balloon balloon;
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
