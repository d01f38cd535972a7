/* dnet: the host side of <interface type='bridge'>: a persistent TAP
 * (vmkN, IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) created up and enslaved to an
 * existing Linux bridge before the VMM starts, and deleted after it stops.
 * vmkit-vmm attaches to the TAP by name (--net tap=vmkN); dnet keeps no fd
 * open. Needs CAP_NET_ADMIN. */
#ifndef VMKIT_DNET_H
#define VMKIT_DNET_H

#include <stddef.h>

#define DNET_IFNAME_MAX 16  /* IFNAMSIZ, NUL included */

/* 0 when BRIDGE exists and is a Linux bridge; else -ENODEV (no such
 * interface), -EINVAL (bad name, or not a bridge) with err saying which. */
int dnet_bridge_check(const char *bridge, char *err, size_t errlen);
/* Create a TAP named by the kernel from "vmk%d" into name, persistent, up,
 * with the bridge's MTU, enslaved to BRIDGE. 0 or -errno with err naming
 * the step that failed; on failure nothing is left behind. */
int dnet_tap_create(const char *bridge, char name[DNET_IFNAME_MAX], char *err, size_t errlen);
/* Delete a TAP dnet_tap_create made (re-attach, TUNSETPERSIST 0, close).
 * 0, -ENODEV when it is gone, -EINVAL when NAME is not a TAP, -EBUSY when a
 * process (a VMM still running) has it open, or another -errno. */
int dnet_tap_delete(const char *name);

#endif
