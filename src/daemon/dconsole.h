/* dconsole: the serial console of a running domain (serial port 0 on a
 * pty). vmkitd opens the pty's slave end (raw mode) while the domain runs
 * and relays it on the event loop: to the one attached API client (an HTTP
 * Upgrade socket, handed over by libmicrohttpd), or, while nobody is
 * attached, read and dropped: the VMM itself appends all console output to
 * the domain log (--serial-log). Nothing is dropped while a client is
 * attached: each direction has a bounded buffer (64 KiB); a full one stops
 * reading its source (a client that does not read stops the pty being
 * read, so the guest's serial port waits; input faster than the guest
 * takes it stops reading the client). State is guarded by vmkitd.lock;
 * the loop callbacks take it; a console is freed on the loop thread. */
#ifndef VMKIT_DCONSOLE_H
#define VMKIT_DCONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmkitd.h"

struct MHD_UpgradeResponseHandle;

/* Open dom->pty and start relaying (vmkitd.lock held). 0 or -errno. */
int dconsole_open_locked(struct ddom *dom);
/* Stop relaying, disconnect the client (vmkitd.lock held); the memory goes
 * once no loop callback can hold it (evloop_free_later). */
void dconsole_close_locked(struct ddom *dom);

/* Reserve the console for a new client on connection fd (vmkitd.lock
 * held); *token names the reservation. -ENODEV (no pty console), -EBUSY (a
 * client is attached or reserved, and !force). A holder that has hung up
 * does not count; with force the attached client is disconnected and an
 * earlier reservation superseded. */
int dconsole_reserve_locked(struct ddom *dom, bool force, int fd, uint64_t *token);
/* Give up reservation token unused (vmkitd.lock held); a no-op once
 * another reservation replaced it. */
void dconsole_unreserve_locked(struct ddom *dom, uint64_t token);
/* The upgraded socket of reservation token (any thread; takes the lock);
 * closed at once if that reservation was superseded. extra: bytes that
 * came after the request, for the guest. */
void dconsole_attach(struct ddom *dom, uint64_t token, int sock,
		     struct MHD_UpgradeResponseHandle *urh, const char *extra, size_t extra_len);
/* Disconnect the attached client if any (vmkitd.lock held). */
void dconsole_detach_locked(struct ddom *dom);

#endif
