/* dapi: the REST API over HTTP (libmicrohttpd) on the two unix sockets:
 * vmkitd.sock (read-write, 0600) and vmkitd-ro.sock (queries only, 0666).
 * One thread per connection; every request goes through one skeleton
 * (dapi.c: dapi_dispatch): route + arguments (droute), domain lookup,
 * the transition table (dstate), the action, the answer. */
#ifndef VMKIT_DAPI_H
#define VMKIT_DAPI_H

#include "vmkitd.h"

/* Bind both sockets and start serving. 0 or -errno (logged). */
int dapi_start(struct vmkitd *d);
/* Stop serving (waits for the connection threads), remove the sockets. */
void dapi_stop(struct vmkitd *d);

#endif
