/* domain_def: a domain's configuration as plain data, filled in by
 * domain_xml_parse (domain_xml.c) from a libvirt-style <domain> document.
 * Strings point into storage owned by the struct domain_xml they came from
 * and live as long as it. Sizes are bytes; lists are in document order. */
#ifndef VMKIT_DOMAIN_DEF_H
#define VMKIT_DOMAIN_DEF_H

#include <stdbool.h>
#include <stdint.h>

/* The limits of vmkit-vmm (src/vmm/config.h), repeated here so that a
 * definition that cannot run is refused when it is defined. */
#define DOMAIN_MAX_DISKS 24
#define DOMAIN_MAX_NETS 8
#define DOMAIN_MAX_CONSOLES 4
#define DOMAIN_MAX_VCPUS 254
#define DOMAIN_MIN_MEMORY (16ULL << 20)
#define DOMAIN_MAX_MEMORY (1ULL << 46)   /* 64 TiB */
#define DOMAIN_PCI_SLOTS 31              /* virtio devices */
#define DOMAIN_NAME_MAX 64               /* NUL included */
#define DOMAIN_IFNAME_MAX 16             /* IFNAMSIZ, NUL included */

enum domain_lifecycle {
	DOMAIN_LIFECYCLE_DESTROY,
	DOMAIN_LIFECYCLE_RESTART,
};

enum domain_disk_format { DOMAIN_DISK_RAW, DOMAIN_DISK_QCOW2 };
enum domain_disk_cache { DOMAIN_CACHE_DEFAULT, DOMAIN_CACHE_NONE, DOMAIN_CACHE_WRITEBACK };

struct domain_disk {
	long line;                   /* of <disk>, for later error messages */
	const char *path;            /* <source file=> */
	const char *target;          /* <target dev=>: vda, vdb, ... (the device id) */
	enum domain_disk_format format;
	enum domain_disk_cache cache;
	bool readonly;
	uint64_t bytes_per_sec;      /* <iotune><total_bytes_sec>, 0 = unlimited */
	uint64_t iops;               /* <iotune><total_iops_sec>, 0 = unlimited */
};

enum domain_net_type { DOMAIN_NET_BRIDGE, DOMAIN_NET_ETHERNET };

struct domain_net {
	long line;
	enum domain_net_type type;
	const char *bridge;          /* BRIDGE: <source bridge=> */
	const char *target_dev;      /* <target dev=>: the TAP (ETHERNET), or NULL */
	uint8_t mac[6];
	bool mac_given;              /* false: none in the document yet */
};

enum domain_chardev_type {
	DOMAIN_CHR_NULL,             /* no backend: output dropped */
	DOMAIN_CHR_PTY,
	DOMAIN_CHR_FILE,
	DOMAIN_CHR_UNIX,             /* a listening socket (mode='bind') */
};

struct domain_chardev {
	long line;
	enum domain_chardev_type type;
	const char *path;            /* FILE, UNIX; NULL otherwise */
};

struct domain_def {
	const char *name;
	uint8_t uuid[16];
	bool uuid_given;             /* false: none in the document yet */
	const char *title;           /* NULL when absent */
	const char *description;
	uint64_t memory;             /* bytes, rounded up to 4 KiB */
	uint64_t current_memory;     /* bytes; = memory when absent (balloon target) */
	bool mem_prealloc;           /* <memoryBacking><allocation mode='immediate'/> */
	unsigned vcpus;
	const char *kernel;
	const char *initrd;          /* NULL = none */
	const char *cmdline;         /* NULL = none */
	enum domain_lifecycle on_poweroff, on_reboot, on_crash;

	struct domain_disk disks[DOMAIN_MAX_DISKS];
	unsigned ndisks;
	struct domain_net nets[DOMAIN_MAX_NETS];
	unsigned nnets;
	bool has_serial;             /* serial port 0 (COM1) has a backend */
	struct domain_chardev serial;
	struct domain_chardev consoles[DOMAIN_MAX_CONSOLES]; /* virtio-console */
	unsigned nconsoles;
	bool rng;                    /* virtio-rng */
	bool vsock;
	bool vsock_auto_cid;         /* cid auto='yes': the daemon picks it */
	uint32_t vsock_cid;
	bool balloon;                /* <memballoon model='virtio'> */
	unsigned balloon_stats;      /* <stats period=> seconds, 0 = none */
	bool balloon_free_page_reporting;
};

#endif
