/* dstate: states, reasons, the transition table and the exit-reason mapping
 * (see dstate.h and docs/api.md "Legal transitions"). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "dstate.h"

static const char *const dstate_state_names[] = {
	[DSTATE_SHUTOFF] = "shutoff",
	[DSTATE_RUNNING] = "running",
	[DSTATE_PAUSED] = "paused",
	[DSTATE_CRASHED] = "crashed",
};

/* How a state reads in a sentence. */
static const char *const dstate_state_words[] = {
	[DSTATE_SHUTOFF] = "shut off",
	[DSTATE_RUNNING] = "running",
	[DSTATE_PAUSED] = "paused",
	[DSTATE_CRASHED] = "crashed",
};

static const char *const dstate_reason_names[] = {
	[DREASON_UNKNOWN] = "unknown",
	[DREASON_BOOTED] = "booted",
	[DREASON_UNPAUSED] = "unpaused",
	[DREASON_USER] = "user",
	[DREASON_SHUTDOWN] = "shutdown",
	[DREASON_DESTROYED] = "destroyed",
	[DREASON_FAILED] = "failed",
	[DREASON_CRASHED] = "crashed",
	[DREASON_TRIPLE_FAULT] = "triple-fault",
	[DREASON_INTERNAL_ERROR] = "internal-error",
	[DREASON_HOST_ERROR] = "host-error",
};

#define S(x) (1u << (x))
#define ACTIVE (S(DSTATE_RUNNING) | S(DSTATE_PAUSED))
#define INACTIVE (S(DSTATE_SHUTOFF) | S(DSTATE_CRASHED))

/* THE table of legal transitions. already: the refusal reads "domain 'x'
 * is already STATE" (start) rather than "cannot VERB domain 'x': it is STATE". */
static const struct {
	const char *verb;
	unsigned allowed;
	bool already;
} dstate_ops[DOP_COUNT_] = {
	[DOP_QUERY] = { "query", ACTIVE | INACTIVE, false },
	[DOP_START] = { "start", INACTIVE, true },
	[DOP_SHUTDOWN] = { "shut down", S(DSTATE_RUNNING), false },
	[DOP_REBOOT] = { "reboot", S(DSTATE_RUNNING), false },
	[DOP_RESET] = { "reset", ACTIVE, false },
	[DOP_DESTROY] = { "destroy", ACTIVE, false },
	[DOP_SUSPEND] = { "suspend", S(DSTATE_RUNNING), false },
	[DOP_RESUME] = { "resume", S(DSTATE_PAUSED), false },
	[DOP_UNDEFINE] = { "undefine", ACTIVE | INACTIVE, false },
	[DOP_CONSOLE] = { "connect to the console of", ACTIVE, false },
};

/* The VMM's exit reasons (vm_reason_names in src/vmm/vm.c). */
static const struct {
	const char *vmm;
	enum dstate_state state;
	enum dstate_reason why;
} dstate_exits[] = {
	{ "guest-poweroff", DSTATE_SHUTOFF, DREASON_SHUTDOWN },
	{ "guest-reset", DSTATE_SHUTOFF, DREASON_SHUTDOWN },      /* on_reboot=destroy */
	{ "guest-debug-exit", DSTATE_SHUTOFF, DREASON_SHUTDOWN },
	{ "host-qmp-system-reset", DSTATE_SHUTOFF, DREASON_SHUTDOWN },
	{ "host-signal", DSTATE_SHUTOFF, DREASON_DESTROYED },
	{ "host-qmp-quit", DSTATE_SHUTOFF, DREASON_DESTROYED },
	{ "triple-fault", DSTATE_CRASHED, DREASON_TRIPLE_FAULT },
	{ "internal-error", DSTATE_CRASHED, DREASON_INTERNAL_ERROR },
	{ "host-error", DSTATE_CRASHED, DREASON_HOST_ERROR },
	{ "none", DSTATE_CRASHED, DREASON_CRASHED },
};

const char *dstate_state_name(enum dstate_state s)
{
	return dstate_state_names[s];
}

const char *dstate_reason_name(enum dstate_reason r)
{
	return dstate_reason_names[r];
}

int dstate_state_parse(const char *name, enum dstate_state *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(dstate_state_names); i++) {
		if (strcmp(name, dstate_state_names[i]) == 0) {
			*out = (enum dstate_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

int dstate_reason_parse(const char *name, enum dstate_reason *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(dstate_reason_names); i++) {
		if (strcmp(name, dstate_reason_names[i]) == 0) {
			*out = (enum dstate_reason)i;
			return 0;
		}
	}
	return -EINVAL;
}

bool dstate_active(enum dstate_state s)
{
	return (ACTIVE & S(s)) != 0;
}

bool dstate_allowed(enum dstate_op op, enum dstate_state s, const char *name,
		    char *msg, size_t msglen)
{
	if (dstate_ops[op].allowed & S(s)) {
		msg[0] = 0;
		return true;
	}
	if (dstate_ops[op].already)
		snprintf(msg, msglen, "domain '%s' is already %s", name,
			 s == DSTATE_PAUSED ? "active (paused)" : dstate_state_words[s]);
	else
		snprintf(msg, msglen, "cannot %s domain '%s': it is %s", dstate_ops[op].verb,
			 name, dstate_state_words[s]);
	return false;
}

void dstate_from_exit(const char *reason, bool destroying,
		      enum dstate_state *state, enum dstate_reason *why)
{
	*state = destroying ? DSTATE_SHUTOFF : DSTATE_CRASHED;
	*why = destroying ? DREASON_DESTROYED : DREASON_CRASHED;
	if (destroying || !reason)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(dstate_exits); i++) {
		if (strcmp(reason, dstate_exits[i].vmm) == 0) {
			*state = dstate_exits[i].state;
			*why = dstate_exits[i].why;
			return;
		}
	}
}

const char *dstate_stop_detail(enum dstate_reason why)
{
	switch (why) {
	case DREASON_SHUTDOWN:
		return "shutdown";
	case DREASON_DESTROYED:
		return "destroyed";
	case DREASON_FAILED:
		return "failed";
	case DREASON_UNKNOWN:
	case DREASON_BOOTED:
	case DREASON_UNPAUSED:
	case DREASON_USER:
	case DREASON_CRASHED:
	case DREASON_TRIPLE_FAULT:
	case DREASON_INTERNAL_ERROR:
	case DREASON_HOST_ERROR:
		return "crashed";
	}
	return "crashed";
}
