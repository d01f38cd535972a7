/* vdev_balloon: virtio-balloon driver for the balloon workload: inflateq and
 * deflateq take buffers of le32 page frame numbers (4 KiB pages, at most
 * VBAL_BATCH per buffer, as Linux sends them), the configuration holds the
 * device's num_pages (read) and our actual (written), and with
 * VIRTIO_BALLOON_F_STATS_VQ one statistics buffer lives in statsq: posted
 * at open, refilled and posted again whenever the device hands it back. */
#ifndef TESTGUEST_VDEV_BALLOON_H
#define TESTGUEST_VDEV_BALLOON_H

#include <stdbool.h>
#include <stdint.h>

#include "vctx.h"

#define VIRTIO_ID_BALLOON        5
#define VBAL_F_STATS_VQ          1
#define VBAL_BATCH               256   /* PFNs per inflate/deflate buffer */
#define VBAL_PAGE                4096u
#define VBAL_NSTATS              7     /* tags 0-6 */

struct vbal {
	struct vctx *c;
	struct virtio_dev *d;
	struct virtq *inflate, *deflate, *stats;   /* stats: NULL if not negotiated */
	uint32_t *pfns;                 /* arena: one buffer of VBAL_BATCH PFNs */
	uint8_t *stats_buf;             /* arena: VBAL_NSTATS entries of 10 bytes */
	uint64_t stats_vals[VBAL_NSTATS];
	uint64_t stats_sent;            /* buffers posted (the first at open) */
	bool poll;                      /* spin on used rings instead of sleeping
	                                 * on interrupts (set by the caller) */
};

/* Initialise (statistics and event idx taken when offered), post the first
 * statistics buffer. 0 or -errno. */
int vbal_open(struct vctx *c, struct virtio_dev *d, struct vbal *b);
uint32_t vbal_num_pages(const struct vbal *b);
uint32_t vbal_actual(const struct vbal *b);
void vbal_set_actual(struct vbal *b, uint32_t pages);
/* Give (inflate) or take back (deflate) n <= VBAL_BATCH pages: one buffer,
 * waited for (by interrupt, or spinning when b->poll). 0 or -errno (logged). */
int vbal_send(struct vbal *b, bool inflate, const uint32_t *pfn, unsigned n);
/* Statistics values for the next buffer (tag -> value); tag 3
 * (minor-faults) always carries the buffer's number (1, 2, ...), so the
 * host can see the refills. */
void vbal_stats_set(struct vbal *b, unsigned tag, uint64_t val);
/* If the device handed the statistics buffer back, refill and post it.
 * Returns true when it did. */
bool vbal_stats_service(struct vbal *b);

#endif
