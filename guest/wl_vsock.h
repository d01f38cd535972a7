/* wl_vsock: what the vsock workloads (wl_vsock.c: vsock, vsock-flood;
 * wl_vsockbench.c: vsock-bench) share: the device + connection table of a
 * run, opening it, moving packets between the rings and the table, and
 * sleeping until the device has something for us. */
#ifndef TESTGUEST_WL_VSOCK_H
#define TESTGUEST_WL_VSOCK_H

#include <stdint.h>

#include "guest.h"
#include "vctx.h"
#include "vdev_vsock.h"
#include "vsconn.h"

struct vsk_io {
	struct guest *g;
	struct vctx *c;
	struct vvsock v;
	struct vsconn_tab t;
	struct vsconn *conn;
	uint64_t rx_pkts;
};

/* Open the first virtio-vsock with a table of nconn connections whose
 * receive rings hold buf bytes (a power of two); rxbuf / pkt: receive
 * buffer and largest transmit payload. 0 or -errno (guest_fail done). */
int vsk_io_open(struct vsk_io *io, struct guest *g, struct vctx *c, unsigned nconn,
		uint32_t buf, uint32_t rxbuf, uint32_t pkt);
/* Hand every received packet to the table (at most max): how many, or
 * -errno (guest_fail done: a bad packet or a protocol violation). */
int vsk_io_rx(struct vsk_io *io, unsigned max);
/* Send the owed control packets while the ring has room, reap completed
 * transmissions, check events: how many things happened, or -errno. */
int vsk_io_tx(struct vsk_io *io);
/* Sleep until an interrupt (unless one of the queues has something). */
void vsk_io_sleep(struct vsk_io *io, uint64_t seen);
/* Send an RW packet of len bytes on conn, payload already in slot. */
int vsk_io_send_data(struct vsk_io *io, struct vsconn *conn, uint32_t len);

#endif
