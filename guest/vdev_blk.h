/* vdev_blk: virtio-blk driver for the workloads: configuration (capacity,
 * blk_size, seg_max, size_max, discard and write-zeroes limits), requests
 * of every type built as header (device-readable) + data segments +
 * status byte (device-writable), direct or through an indirect table, on
 * request queue 0. Per-request state lives in an arena array indexed by
 * the chain's head, so requests can be in flight by the hundred. */
#ifndef TESTGUEST_VDEV_BLK_H
#define TESTGUEST_VDEV_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "vctx.h"

#define VBLK_SECTOR        512
#define VBLK_T_IN          0
#define VBLK_T_OUT         1
#define VBLK_T_FLUSH       4
#define VBLK_T_GET_ID      8
#define VBLK_T_DISCARD     11
#define VBLK_T_WRITE_ZEROES 13
#define VBLK_S_OK          0
#define VBLK_S_IOERR       1
#define VBLK_S_UNSUPP      2
#define VBLK_S_NONE        0xff   /* not written by the device */
#define VBLK_F_SIZE_MAX    1
#define VBLK_F_SEG_MAX     2
#define VBLK_F_RO          5
#define VBLK_F_BLK_SIZE    6
#define VBLK_F_FLUSH       9
#define VBLK_F_DISCARD     13
#define VBLK_F_WRITE_ZEROES 14
#define VBLK_MAX_SEGS      64     /* data segments this driver puts in one request */
#define VBLK_ID_LEN        20

struct vblk_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* DISCARD / WRITE_ZEROES segment. */
struct vblk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

struct vblk_req {
	struct vblk_hdr hdr;
	volatile uint8_t status;
	uint8_t pad[7];
	uint32_t writable;              /* device-writable bytes (status included) */
	uint32_t pad2;
	struct virtq_desc table[VBLK_MAX_SEGS + 2];
};

struct vblk {
	struct vctx *c;
	struct virtio_dev *d;
	struct virtq *vq;
	uint64_t capacity;              /* 512-byte sectors */
	uint32_t blk_size, seg_max, size_max;
	uint32_t max_discard_sectors, max_discard_seg, discard_align;
	uint32_t max_wz_sectors, max_wz_seg;
	bool ro, flush, discard, wzeroes, indirect;
	struct vblk_req *req;           /* [req_entries], by chain head */
	uint16_t req_entries;
};

/* Initialise (queue of at most qmax entries) and read the configuration. */
int vblk_open(struct vctx *c, struct virtio_dev *d, struct vblk *b, uint16_t qmax);
/* Queue a request (no notification): data segments in order, all readable
 * (OUT, DISCARD, WRITE_ZEROES) or all writable (IN, GET_ID). Returns the
 * head (the request's tag), -ENOSPC (ring full) or -EINVAL. */
int vblk_submit(struct vblk *b, uint32_t type, uint64_t sector,
		const struct virtq_sg *data, unsigned nseg, bool indirect);
/* One completion: its tag, status and used length. -ENOENT if none, -EIO
 * for a bad used element (logged). */
int vblk_reap(struct vblk *b, int *tag, uint8_t *status, uint32_t *len);
/* Submit, notify, wait (interrupt or poll), reap: the request's status. */
int vblk_sync(struct vblk *b, uint32_t type, uint64_t sector,
	      const struct virtq_sg *data, unsigned nseg, bool indirect, bool by_irq,
	      uint8_t *status);
/* Segments a request may carry (seg_max, our table), and their size cap. */
unsigned vblk_max_segs(const struct vblk *b);
uint32_t vblk_max_seg_bytes(const struct vblk *b);
const char *vblk_status_name(uint8_t status);

#endif
