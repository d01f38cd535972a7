/* drivers: private declarations shared inside the block layer: the format
 * drivers registered in blk_drivers[], the worker pool's teardown and its
 * end-of-batch call.
 * Driver contract (beyond block.h): drv->open cleans up after itself when it
 * fails; drv->close is called only after a successful open. blk_open has
 * already validated every request against the virtual size before a driver
 * sees it. */
#ifndef VMKIT_BLOCK_DRIVERS_H
#define VMKIT_BLOCK_DRIVERS_H

#include "block/block.h"

extern const struct blk_driver raw_driver;    /* raw.c */
extern const struct blk_driver qcow2_driver;  /* qcow2.c */

/* Stop b's worker threads after they finish the queued requests (blkaio.c).
 * Called by blk_close; NULL pool is fine. */
void blk_aio_destroy(struct blk *b);
/* Does b's pool send reads/writes/flushes through io_uring (blkuring.c)?
 * False until the first blk_aio_submit(). */
bool blk_aio_uring(struct blk *b);
/* After a batch of done() calls on a completion thread: the device's hook
 * (blk_aio_set_batch_done), if it set one. */
void blk_aio_batch_end(struct blk *b);

#endif
