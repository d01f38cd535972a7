/* drun: the VMM side of a domain: start (checks, the --config file, spawn,
 * pidfd watch, waiting for the control socket), the actions that go through
 * the control socket (shutdown, reboot, reset, suspend, resume), destroy,
 * what happens when a VMM ends (exit-reason file -> state, event, files
 * removed), and re-attaching to the VMMs that outlived a previous vmkitd.
 * Every function taking a ddom is called with the domain's op lock held
 * and the transition already checked (dapi.c), except drun_reattach_all and
 * drun_autostart_all, which run before the API serves anyone. */
#ifndef VMKIT_DRUN_H
#define VMKIT_DRUN_H

#include <stdbool.h>
#include <sys/types.h>

#include "derr.h"
#include "vmkitd.h"

int drun_start(struct ddom *dom, bool paused, bool autostart, struct derr *err);
/* Press the power button; *pid = the VMM that is to end. */
int drun_shutdown(struct ddom *dom, pid_t *pid, struct derr *err);
/* Wait (without the op lock, so that destroy can come in) up to timeout_s
 * seconds for the VMM pid to end: 0, or 504 timeout. left(opaque) is asked
 * every second whether the client is gone: the wait ends then. */
int drun_wait_stopped(struct ddom *dom, pid_t pid, int timeout_s,
		      bool (*left)(void *opaque), void *opaque, struct derr *err);
/* The VMM's system-reset: both reboot and reset (the route table tells
 * them apart by the states each allows); event rebooted/reset. */
int drun_system_reset(struct ddom *dom, struct derr *err);
int drun_suspend(struct ddom *dom, struct derr *err);
int drun_resume(struct ddom *dom, struct derr *err);
int drun_destroy(struct ddom *dom, bool graceful, struct derr *err);

/* At startup: RUNTIME/UUID.state files -> adopt the VMM (same start time,
 * same UUID in query-status) or report how it ended. */
int drun_reattach_all(struct vmkitd *d);
/* Start every inactive autostart domain (event started/autostart). */
void drun_autostart_all(struct vmkitd *d);
/* At exit: stop watching the VMMs (they keep running). */
void drun_detach_all(struct vmkitd *d);

#endif
