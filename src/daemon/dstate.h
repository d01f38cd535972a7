/* dstate: a domain's lifecycle as pure data: states and reasons (libvirt's
 * model, docs/api.md), THE table of legal transitions, and how a VMM's
 * exit-reason file maps onto a state and reason. No I/O. */
#ifndef VMKIT_DSTATE_H
#define VMKIT_DSTATE_H

#include <stdbool.h>
#include <stddef.h>

enum dstate_state {
	DSTATE_SHUTOFF,
	DSTATE_RUNNING,
	DSTATE_PAUSED,
	DSTATE_CRASHED,
};

enum dstate_reason {
	DREASON_UNKNOWN,          /* shutoff: never started */
	DREASON_BOOTED,           /* running */
	DREASON_UNPAUSED,         /* running */
	DREASON_USER,             /* paused */
	DREASON_SHUTDOWN,         /* shutoff: the guest powered off */
	DREASON_DESTROYED,        /* shutoff */
	DREASON_FAILED,           /* shutoff: start failed */
	DREASON_CRASHED,          /* crashed: killed, or gone without an exit file */
	DREASON_TRIPLE_FAULT,
	DREASON_INTERNAL_ERROR,
	DREASON_HOST_ERROR,
};

/* What a request does to a domain; DOP_QUERY is legal in every state. */
enum dstate_op {
	DOP_QUERY,
	DOP_START,
	DOP_SHUTDOWN,
	DOP_REBOOT,
	DOP_RESET,
	DOP_DESTROY,
	DOP_SUSPEND,
	DOP_RESUME,
	DOP_UNDEFINE,
	DOP_CONSOLE,
	DOP_COUNT_,
};

const char *dstate_state_name(enum dstate_state s);    /* "running" */
const char *dstate_reason_name(enum dstate_reason r);  /* "booted" */
/* Inverse lookups for the state file: 0 or -EINVAL. */
int dstate_state_parse(const char *name, enum dstate_state *out);
int dstate_reason_parse(const char *name, enum dstate_reason *out);
/* Running or paused: a VMM process exists. */
bool dstate_active(enum dstate_state s);

/* Is op legal in state s? When not, msg (always NUL-terminated) says why,
 * naming the domain: "domain 'web' is already running". */
bool dstate_allowed(enum dstate_op op, enum dstate_state s, const char *name,
		    char *msg, size_t msglen);

/* The state and reason after the VMM ended. reason = the "reason" of its
 * exit file, or NULL when there is none (killed by a signal, vanished);
 * destroying = vmkitd itself asked it to stop. */
void dstate_from_exit(const char *reason, bool destroying,
		      enum dstate_state *state, enum dstate_reason *why);
/* The detail of the "stopped" event for a stop with this reason:
 * "shutdown", "destroyed", "crashed" or "failed". */
const char *dstate_stop_detail(enum dstate_reason why);

#endif
