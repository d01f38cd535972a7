/* dstatefile: RUNTIME/UUID.state, what a restarted vmkitd needs to find and
 * trust a running VMM again: pid, process start time, id, state, reason,
 * console pty, TAPs, vsock CID, transient, whether its start was still
 * in progress ("starting", absent = false), and the definition it runs. Pure
 * conversion to and from JSON (the file is written by dstore). */
#ifndef VMKIT_DSTATEFILE_H
#define VMKIT_DSTATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "dstate.h"

#define DSTATEFILE_MAX_TAPS 8

struct dstatefile {
	pid_t pid;
	uint64_t starttime;
	long long id;
	enum dstate_state state;
	enum dstate_reason reason;
	char pty[64];
	char taps[DSTATEFILE_MAX_TAPS][16];
	unsigned ntaps;
	uint32_t cid;
	bool transient;
	bool starting;     /* written right after the spawn: not yet ready */
	const char *xml;   /* to_json: borrowed; from_json: points into the json_t */
};

json_t *dstatefile_to_json(const struct dstatefile *sf);
/* 0, or -EINVAL with err naming the bad or missing member. */
int dstatefile_from_json(json_t *j, struct dstatefile *sf, char *err, size_t errlen);

#endif
