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

#include "derr.h"
#include "vmkitd.h"

int drun_start(struct ddom *dom, bool paused, bool autostart, struct derr *err);
/* timeout < 0: press the power button and return; else wait up to timeout
 * seconds for the domain to be shut off (-ETIMEDOUT, 504). */
int drun_shutdown(struct ddom *dom, int timeout, struct derr *err);
int drun_reboot(struct ddom *dom, struct derr *err);
int drun_reset(struct ddom *dom, struct derr *err);
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
