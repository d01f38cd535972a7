/* vnet: the parts of the virtio-net device (vnet.c) that its unit tests and
 * fuzz target need beyond virtio.h: the queue numbers and limits, and a
 * constructor on an already prepared packet fd (a socketpair in tests, a
 * TAP in vnet_create). Nothing else includes this. */
#ifndef VMKIT_VNET_H
#define VMKIT_VNET_H

#include <stdbool.h>

#include "virtio/virtio.h"

#define VNET_RXQ        0
#define VNET_TXQ        1
#define VNET_HDR_LEN    12     /* struct virtio_net_hdr_v1, num_buffers included */
#define VNET_FRAME_MAX  65550  /* largest frame (after the header) either way */
#define VNET_QUEUE_MAX  256    /* queue size offered */
#define VNET_CFG_SIZE   10     /* mac[6], status, max_virtqueue_pairs */

/* Feature bits of the device (virtio 1.x, 5.1.3). */
#define VNET_F_CSUM        0
#define VNET_F_GUEST_CSUM  1
#define VNET_F_MAC         5
#define VNET_F_GUEST_TSO4  7
#define VNET_F_GUEST_TSO6  8
#define VNET_F_GUEST_ECN   9
#define VNET_F_GUEST_UFO   10
#define VNET_F_HOST_TSO4   11
#define VNET_F_HOST_TSO6   12
#define VNET_F_HOST_ECN    13
#define VNET_F_HOST_UFO    14
#define VNET_F_MRG_RXBUF   15
#define VNET_F_STATUS      16

#define VNET_S_LINK_UP     1

/* Where packets go and come from. fd: non-blocking, one frame per read or
 * write, each with a VNET_HDR_LEN-byte header first. */
struct vnet_backend {
	int fd;                /* taken over by vnet_create_backend, even on failure */
	unsigned tun_offloads; /* TUN_F_* the backend may be asked to deliver */
	bool tap;              /* a TAP: TUNSETOFFLOAD at activate */
	char name[64];         /* "tap vmkt0": messages and query-virtio's "backend" */
	char ifname[16];       /* the TAP's interface name ("" unknown): "tap" in the
	                        * queries (query-netstats too) */
};

/* vnet_create on a prepared backend (cfg's tap/fd fields are ignored). */
int vnet_create_backend(const struct virtio_env *env, const struct config_net *cfg,
			const struct vnet_backend *be, struct virtio_dev_info *info);

#endif
