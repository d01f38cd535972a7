/* wl_virtio: the virtio workloads (rng, console, blk, blk-ro, blk-bench,
 * net, net-bench, hostile-ring, vsock, vsock-flood, vsock-bench),
 * registered in workloads.c's table. Each returns 0 for PASS or a -errno
 * with guest_fail() done. */
#ifndef TESTGUEST_WL_VIRTIO_H
#define TESTGUEST_WL_VIRTIO_H

#include "guest.h"

int wl_rng(struct guest *g);
int wl_console(struct guest *g);
int wl_blk(struct guest *g);
int wl_blk_ro(struct guest *g);
int wl_blk_bench(struct guest *g);
int wl_net(struct guest *g);
int wl_net_bench(struct guest *g);
int wl_hostile_ring(struct guest *g);
int wl_vsock(struct guest *g);
int wl_vsock_flood(struct guest *g);
int wl_vsock_bench(struct guest *g);

#endif
