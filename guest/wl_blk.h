/* wl_blk: what the blk workloads (wl_blk.c) and blk-bench (wl_blkbench.c)
 * share: the job (context, disk, parameters, data buffer) and the request
 * helpers. */
#ifndef TESTGUEST_WL_BLK_H
#define TESTGUEST_WL_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "guest.h"
#include "vctx.h"
#include "vdev_blk.h"

#define BLK_TIMEOUT_MS 10000

struct blk_job {
	struct guest *g;
	struct vctx *c;
	struct vblk b;
	uint64_t disk, seed, sectors;   /* disk=, seed=, sectors= */
	bool ro, verify_only;           /* ro=1 (or blk-ro), verify-only=1 */
	uint8_t *buf;                   /* request data, batch slots */
	uint64_t nreq;                  /* requests completed */
};

/* Parse the common parameters, set up the context and open the disk. */
int blk_job_open(struct guest *g, struct blk_job *j, bool ro_workload);
/* Write the pattern over (or read and verify) [first, first+count). */
int blk_pass(struct blk_job *j, uint64_t first, uint64_t count, uint32_t seed,
	     bool write, unsigned phase);
/* One synchronous request on the first len bytes of j->buf. */
int blk_simple(struct blk_job *j, uint32_t type, uint64_t sector, uint32_t len,
	       bool write_buf, uint8_t *status);

#endif
