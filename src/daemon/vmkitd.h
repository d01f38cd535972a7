/* vmkitd: the daemon object. One struct vmkitd holds the configuration, the
 * domains (struct ddom, by UUID), the event ring, the event loop and the two
 * HTTP servers; nothing is global. Locking: vmkitd.lock guards the domain
 * table and every field of every ddom; a ddom's op lock serialises the
 * long actions on that domain (start, destroy; a shutdown waits without it) so
 * that one slow domain never blocks the others; vmkitd.store serialises
 * the durable (fsync'd) writes to the state dir (definitions, autostart
 * flags, lastid) so that they happen without vmkitd.lock: a list never
 * waits for the disk. Order: op, then store, then vmkitd.lock. See docs/architecture.md "vmkitd". */
#ifndef VMKIT_VMKITD_H
#define VMKIT_VMKITD_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "devent.h"
#include "dstate.h"
#include "dstatefile.h"

struct evloop;
struct domain_xml;
struct dapi;
struct dconsole;
struct dmon;

#define VMKITD_MAX_TAPS DSTATEFILE_MAX_TAPS   /* the state file records them all */
/* Directory paths stay well below PATH_MAX so that every file path built
 * from them (directory + UUID or name + suffix) fits a PATH_MAX buffer. */
#define VMKITD_DIR_MAX 3072

struct vmkitd_config {
	char state_dir[VMKITD_DIR_MAX];
	char runtime_dir[VMKITD_DIR_MAX];
	char log_dir[VMKITD_DIR_MAX];
	char vmm[PATH_MAX];
	bool foreground;
};

struct ddom {
	struct vmkitd *d;
	unsigned refs;                /* table + pidfd watch + requests in flight */
	pthread_mutex_t op;
	pthread_cond_t cond;          /* state changes (waited on with vmkitd.lock) */
	char uuid[37];
	char name[64];
	struct domain_xml *def;       /* the stored definition (persistent or transient) */
	struct domain_xml *run;       /* the definition the running VMM was started with */
	bool persistent, autostart;
	bool removed;                 /* no longer in the table */
	enum dstate_state state;
	enum dstate_reason reason;
	long long id;                 /* 0 = inactive */
	pid_t pid;                    /* 0 = no VMM */
	int pidfd;
	uint64_t starttime;
	bool starting, destroying;
	bool start_auto;              /* the start in progress is an autostart */
	char pty[64];                 /* serial port 0's pty, "" = none */
	char taps[VMKITD_MAX_TAPS][16];
	unsigned ntaps;
	uint32_t cid;
	struct dconsole *console;
	struct dmon *mon;             /* the VMM's events */
};

struct vmkitd {
	struct vmkitd_config cfg;
	pthread_mutex_t lock;
	pthread_mutex_t store;        /* state-dir writes (see above) */
	struct ddom **doms;
	size_t ndoms, cap;
	long long last_id;            /* persisted in STATE/lastid (store held) */
	struct devent_ring events;
	struct evloop *loop;
	struct dapi *api;
	int lock_fd;
	bool stopping;
};

#endif
