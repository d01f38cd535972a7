/* dmon: a standing connection to a running domain's control socket that
 * listens for the VMM's events on the event loop: a guest-initiated RESET
 * (the VMM restarts the guest itself) becomes the API event
 * rebooted/guest. Requests go through dvmm_call on their own connections.
 * Guarded by vmkitd.lock; freed on the loop thread, like dconsole. */
#ifndef VMKIT_DMON_H
#define VMKIT_DMON_H

#include <stdbool.h>

#include "vmkitd.h"

/* Connect to the domain's control socket (vmkitd.lock held). 0 or -errno
 * (the domain runs on without it: guest reboots then go unreported). */
int dmon_open_locked(struct ddom *dom);
/* Stop listening (vmkitd.lock held); the memory goes once no loop
 * callback can hold it (evloop_free_later). */
void dmon_close_locked(struct ddom *dom);

#endif
