/* raw: the raw image driver. Owns the mapping of a raw file (no metadata;
 * virtual size = file size) onto the driver interface: creation with
 * preallocation, vectored I/O, discard and write-zeroes by hole punching,
 * resize by truncation, and allocation status from the file's holes.
 * Change by virtio-blk: the zero buffer is page-aligned (cache=none). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "block/drivers.h"
#include "common/log.h"
#include "common/util.h"

#define RAW_ZERO_CHUNK (1u << 20)

static int raw_probe(const uint8_t *buf, size_t len)
{
	return 1;   /* anything is a raw image, as a last resort */
}

/* Write zeros over [off, off+len) of f. */
static int raw_write_zero_data(struct blk_file *f, uint64_t off, uint64_t len)
{
	size_t chunk = (size_t)MIN(len, (uint64_t)RAW_ZERO_CHUNK);
	void *zero;
	int ret = 0;

	if (len == 0)
		return 0;
	/* page-aligned: a cache=none (O_DIRECT) file takes it as it is */
	if (posix_memalign(&zero, 4096, chunk))
		return -ENOMEM;
	memset(zero, 0, chunk);
	while (!ret && len) {
		size_t n = (size_t)MIN(len, (uint64_t)chunk);

		ret = blk_file_pwrite(f, zero, n, off);
		off += n;
		len -= n;
	}
	free(zero);
	return ret;
}

/* Grow f from its current size to size, allocating host space (full). */
static int raw_prealloc_full(struct blk_file *f, uint64_t from, uint64_t size)
{
	int ret = -EOPNOTSUPP;

	if (size <= from)
		return 0;
	if (f->ops->allocate)
		ret = f->ops->allocate(f, from, size - from);
	if (ret == -EOPNOTSUPP)
		ret = raw_write_zero_data(f, from, size - from);
	return ret;
}

static int raw_create(struct blk_file *f, const struct blk_create_opts *o)
{
	int ret;

	if (o->backing_file) {
		log_error("%s: raw images cannot have a backing file", f->name);
		return -EINVAL;
	}
	ret = blk_file_truncate(f, 0);
	if (ret)
		return ret;
	switch (o->prealloc) {
	case BLK_PREALLOC_OFF:
	case BLK_PREALLOC_METADATA:
		return blk_file_truncate(f, o->size);
	case BLK_PREALLOC_FULL:
		ret = raw_prealloc_full(f, 0, o->size);
		return ret ? ret : blk_file_truncate(f, o->size);
	}
	log_error("%s: invalid preallocation mode", f->name);
	return -EINVAL;
}

static int raw_open(struct blk *b, const struct blk_open_opts *o)
{
	int64_t size = blk_file_size(b->file);

	if (size < 0) {
		log_error("%s: cannot get the file size: %s", b->filename, strerror((int)-size));
		return (int)size;
	}
	b->size = (uint64_t)size;
	return 0;
}

static void raw_close(struct blk *b)
{
}

static int raw_readv(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt)
{
	int ret = 0;

	for (int i = 0; i < iovcnt && !ret; i++) {
		ret = blk_file_pread(b->file, iov[i].iov_base, iov[i].iov_len, off);
		off += iov[i].iov_len;
	}
	return ret;
}

static int raw_writev(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt)
{
	int ret = 0;

	for (int i = 0; i < iovcnt && !ret; i++) {
		ret = blk_file_pwrite(b->file, iov[i].iov_base, iov[i].iov_len, off);
		off += iov[i].iov_len;
	}
	return ret;
}

static int raw_flush(struct blk *b)
{
	return blk_file_flush(b->file);
}

/* Discard is a hint: a file that cannot punch holes keeps its data. */
static int raw_discard(struct blk *b, uint64_t off, uint64_t len)
{
	int ret = blk_file_punch(b->file, off, len);

	return ret == -EOPNOTSUPP ? 0 : ret;
}

static int raw_write_zeroes(struct blk *b, uint64_t off, uint64_t len, bool may_unmap)
{
	int ret = -EOPNOTSUPP;

	if (may_unmap)
		ret = blk_file_punch(b->file, off, len);
	if (ret == -EOPNOTSUPP)
		ret = raw_write_zero_data(b->file, off, len);
	return ret;
}

static int raw_resize(struct blk *b, uint64_t size)
{
	return blk_file_truncate(b->file, size);   /* blk_resize records the size */
}

/* Holes read as zeros; everything is decided here (no backing file). */
static int raw_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
			    unsigned *status, uint64_t *host_off)
{
	struct blk_file *f = b->file;
	bool data = true;
	int ret = 0;

	*pnum = len;
	if (f->ops->data_extent)
		ret = f->ops->data_extent(f, off, len, pnum, &data);
	if (ret)
		return ret;
	*status = BLK_STATUS_ALLOCATED | BLK_STATUS_OFFSET |
		  (data ? BLK_STATUS_DATA : BLK_STATUS_ZERO);
	*host_off = off;
	return 0;
}

const struct blk_driver raw_driver = {
	.format = "raw",
	.parallel = true,
	.state_size = 0,
	.probe = raw_probe,
	.create = raw_create,
	.open = raw_open,
	.close = raw_close,
	.readv = raw_readv,
	.writev = raw_writev,
	.flush = raw_flush,
	.discard = raw_discard,
	.write_zeroes = raw_write_zeroes,
	.resize = raw_resize,
	.block_status = raw_block_status,
};
