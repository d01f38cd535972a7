/* block: the generic block layer. Owns the driver table, format probing,
 * opening an image with its backing chain (format rules, relative backing
 * names, depth limit, loop detection), image-lock permissions, image
 * creation, and the synchronous API that checks every request against the
 * virtual size and serialises driver calls per image. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "block/block.h"
#include "block/drivers.h"
#include "common/log.h"
#include "common/util.h"

#define BLOCK_PROBE_LEN 512u
#define BLOCK_ZERO_CHUNK (1u << 20)

const struct blk_driver *const blk_drivers[] = { &raw_driver, &qcow2_driver, NULL };

/* Identities (st_dev, st_ino) of the images opened so far in one chain. */
struct block_chain {
	dev_t dev[BLK_MAX_CHAIN + 1];
	ino_t ino[BLK_MAX_CHAIN + 1];
	unsigned n;
};

const struct blk_driver *blk_driver_find(const char *format)
{
	for (size_t i = 0; format && blk_drivers[i]; i++) {
		if (!strcmp(blk_drivers[i]->format, format))
			return blk_drivers[i];
	}
	return NULL;
}

static int block_find_driver(const char *name, const char *format,
			     const struct blk_driver **drv)
{
	*drv = blk_driver_find(format);
	if (*drv)
		return 0;
	log_error("%s: unknown image format '%s'", name, format ? format : "(none)");
	return -EINVAL;
}

/* The best-scoring driver for the first bytes of f. */
static int block_probe_file(struct blk_file *f, const char **format)
{
	uint8_t buf[BLOCK_PROBE_LEN];
	int64_t size = blk_file_size(f);
	int best = 0, ret;
	size_t len;

	*format = NULL;
	if (size < 0)
		return (int)size;
	len = (size_t)MIN((uint64_t)size, sizeof(buf));
	ret = blk_file_pread(f, buf, sizeof(buf), 0);
	if (ret)
		return ret;
	for (size_t i = 0; blk_drivers[i]; i++) {
		int score = blk_drivers[i]->probe ? blk_drivers[i]->probe(buf, len) : 0;

		if (score > best) {
			best = score;
			*format = blk_drivers[i]->format;
		}
	}
	if (!*format) {
		log_error("%s: cannot determine the image format", f->name);
		return -EINVAL;
	}
	return 0;
}

int blk_probe(const char *path, const char **format)
{
	struct blk_file *f;
	int ret;

	*format = NULL;
	ret = blk_file_open_posix(path, BLK_FILE_NOLOCK, &f);
	if (ret)
		return ret;
	ret = block_probe_file(f, format);
	blk_file_close(f);
	return ret;
}

/* QEMU's choices: a format with metadata (qcow2) lets others only read;
 * raw, like a guest disk, refuses other writers when writable and shares
 * everything when read-only; a backing file is read by us and must not be
 * written or resized by others; -U shares everything. */
static void block_perms(const struct blk *b, const struct blk_open_opts *o,
			unsigned *perm, unsigned *shared)
{
	const unsigned keep = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;

	*perm = BLK_PERM_CONSISTENT_READ;
	*shared = keep;
	if (o->force_share) {
		*shared = BLK_PERM_ALL;
	} else if (b->drv == &raw_driver && b->depth == 0) {
		if (b->readonly)
			*shared = BLK_PERM_ALL;
		else
			*shared = keep | BLK_PERM_RESIZE;
	}
	if (!b->readonly)
		*perm |= BLK_PERM_WRITE | (b->drv == &raw_driver ? 0 : BLK_PERM_RESIZE);
}

static int block_take_locks(struct blk *b, const struct blk_open_opts *o)
{
	unsigned perm, shared;

	if (!b->file->ops->lock)
		return 0;
	block_perms(b, o, &perm, &shared);
	return b->file->ops->lock(b->file, perm, shared);
}

static void block_free(struct blk *b)
{
	if (!b)
		return;
	blk_file_close(b->file);
	pthread_mutex_destroy(&b->lock);
	free(b->filename);
	free(b->backing_name);
	free(b->backing_fmt);
	free(b->state);
	free(b);
}

/* A struct blk on file (owned from here on, closed on failure). */
static int block_alloc(struct blk_file *file, const struct blk_driver *drv,
		       const struct blk_open_opts *o, unsigned depth, struct blk **out)
{
	struct blk *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (!b) {
		blk_file_close(file);
		return -ENOMEM;
	}
	pthread_mutex_init(&b->lock, NULL);
	b->drv = drv;
	b->file = file;
	b->depth = depth;
	b->readonly = o->readonly || o->force_share || file->readonly;
	b->filename = strdup(file->name);
	if (drv->state_size)
		b->state = calloc(1, drv->state_size);
	if (!b->filename || (drv->state_size && !b->state)) {
		block_free(b);
		return -ENOMEM;
	}
	*out = b;
	return 0;
}

/* QEMU's rule: a relative backing name is relative to the image's directory. */
static int block_backing_path(const char *image, const char *backing, char **out)
{
	const char *slash = strrchr(image, '/');
	size_t dirlen;

	if (backing[0] == '/' || !slash) {
		*out = strdup(backing);
		return *out ? 0 : -ENOMEM;
	}
	dirlen = (size_t)(slash - image) + 1;
	*out = malloc(dirlen + strlen(backing) + 1);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, image, dirlen);
	strcpy(*out + dirlen, backing);
	return 0;
}

/* Record path's identity; -ELOOP if it is already in the chain. A path that
 * cannot be stat'ed is left for the open to report. */
static int block_chain_add(struct block_chain *c, const char *path, const char *referrer)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return 0;
	for (unsigned i = 0; i < c->n; i++) {
		if (c->dev[i] == st.st_dev && c->ino[i] == st.st_ino) {
			log_error("backing chain loop: %s refers back to %s", referrer, path);
			return -ELOOP;
		}
	}
	if (c->n >= ARRAY_SIZE(c->dev))
		return -ELOOP;
	c->dev[c->n] = st.st_dev;
	c->ino[c->n] = st.st_ino;
	c->n++;
	return 0;
}

static int block_open_chain(struct blk_file *file, const struct blk_open_opts *o,
			    unsigned depth, struct block_chain *chain, struct blk **out);

static unsigned block_file_flags(const struct blk_open_opts *o)
{
	unsigned flags = 0;

	if (!o->readonly && !o->force_share)
		flags |= BLK_FILE_RDWR;
	if (o->direct)
		flags |= BLK_FILE_DIRECT;
	if (o->force_share)
		flags |= BLK_FILE_SHARE;
	return flags;
}

static int block_open_backing(struct blk *b, const struct blk_open_opts *o,
			      struct block_chain *chain)
{
	struct blk_open_opts bo = { .readonly = true, .force_share = o->force_share,
				    .direct = o->direct };
	struct blk_file *f;
	char *path = NULL;
	int ret;

	bo.format = b->backing_fmt ? b->backing_fmt : (b->depth == 0 ? o->backing_format : NULL);
	if (!bo.format) {
		log_error("%s: backing file '%s' has no backing format; give it with -F",
			  b->filename, b->backing_name);
		return -EINVAL;
	}
	if (b->depth + 1 >= BLK_MAX_CHAIN) {
		log_error("%s: backing chain is deeper than %u images", b->filename,
			  BLK_MAX_CHAIN);
		return -ELOOP;
	}
	ret = block_backing_path(b->filename, b->backing_name, &path);
	if (!ret)
		ret = block_chain_add(chain, path, b->filename);
	if (!ret)
		ret = blk_file_open_posix(path, block_file_flags(&bo), &f);
	if (!ret)
		ret = block_open_chain(f, &bo, b->depth + 1, chain, &b->backing);
	free(path);
	return ret;
}

static int block_open_driver(struct blk *b, const struct blk_open_opts *o)
{
	int ret = block_take_locks(b, o);

	if (ret)
		return ret;
	ret = b->drv->open(b, o);
	if (ret)
		return ret;
	if (b->size > BLK_MAX_SIZE) {
		log_error("%s: virtual size %" PRIu64 " is absurd", b->filename, b->size);
		b->drv->close(b);
		return -EFBIG;
	}
	return 0;
}

static int block_open_chain(struct blk_file *file, const struct blk_open_opts *o,
			    unsigned depth, struct block_chain *chain, struct blk **out)
{
	const struct blk_driver *drv;
	const char *format = o->format;
	struct blk *b;
	int ret = 0;

	*out = NULL;
	if (!format)
		ret = block_probe_file(file, &format);
	if (!ret)
		ret = block_find_driver(file->name, format, &drv);
	if (ret) {
		blk_file_close(file);
		return ret;
	}
	ret = block_alloc(file, drv, o, depth, &b);
	if (ret)
		return ret;
	ret = block_open_driver(b, o);
	if (ret) {
		block_free(b);
		return ret;
	}
	if (b->backing_name && !o->no_backing) {
		ret = block_open_backing(b, o, chain);
		if (ret) {
			blk_close(b);
			return ret;
		}
	}
	*out = b;
	return 0;
}

int blk_open_file(struct blk_file *file, const struct blk_open_opts *o, struct blk **out)
{
	struct block_chain chain = { .n = 0 };
	int ret;

	*out = NULL;
	if (!file)
		return -EINVAL;
	ret = block_chain_add(&chain, file->name, file->name);
	if (ret) {
		blk_file_close(file);
		return ret;
	}
	return block_open_chain(file, o, 0, &chain, out);
}

int blk_open(const char *path, const struct blk_open_opts *o, struct blk **out)
{
	struct blk_file *f;
	int ret;

	*out = NULL;
	if (o->force_share && !o->readonly) {
		log_error("%s: force share (-U) is only possible read-only", path);
		return -EINVAL;
	}
	ret = blk_file_open_posix(path, block_file_flags(o), &f);
	if (ret)
		return ret;
	return blk_open_file(f, o, out);
}

void blk_close(struct blk *b)
{
	if (!b)
		return;
	blk_aio_destroy(b);
	if (b->drv->close)
		b->drv->close(b);
	blk_close(b->backing);
	b->backing = NULL;
	block_free(b);
}

/* Checks of a new image's backing file: a format is required, the file may
 * not be the image itself, and a size of 0 takes the backing file's size. */
static int block_create_backing(const char *path, const struct blk_create_opts *o,
				uint64_t *size)
{
	struct blk_open_opts bo = { .format = o->backing_format, .readonly = true,
				    .no_backing = true };
	struct stat st_img, st_back;
	struct blk *b;
	char *bpath;
	int ret;

	if (!o->backing_format) {
		log_error("%s: backing file '%s' needs a backing format (-F)", path,
			  o->backing_file);
		return -EINVAL;
	}
	ret = block_backing_path(path, o->backing_file, &bpath);
	if (ret)
		return ret;
	if (stat(path, &st_img) == 0 && stat(bpath, &st_back) == 0 &&
	    st_img.st_dev == st_back.st_dev && st_img.st_ino == st_back.st_ino) {
		log_error("%s: an image cannot be its own backing file", path);
		ret = -EINVAL;
	} else if (o->size == 0) {
		ret = blk_open(bpath, &bo, &b);
		if (!ret) {
			*size = b->size;
			blk_close(b);
		}
	}
	free(bpath);
	return ret;
}

int blk_create(const char *path, const char *format, const struct blk_create_opts *o)
{
	struct blk_create_opts co = *o;
	const struct blk_driver *drv;
	struct blk_file *f;
	int ret = block_find_driver(path, format, &drv);

	if (!ret && o->backing_file && drv == &raw_driver) {
		log_error("%s: raw images cannot have a backing file", path);
		ret = -EINVAL;
	}
	if (!ret && o->backing_file)
		ret = block_create_backing(path, o, &co.size);
	if (ret)
		return ret;
	if (!drv->create) {
		log_error("%s: format '%s' cannot create images", path, format);
		return -ENOTSUP;
	}
	if (co.size > BLK_MAX_SIZE) {
		log_error("%s: image size %" PRIu64 " is too large", path, co.size);
		return -EINVAL;
	}
	ret = blk_file_open_posix(path, BLK_FILE_RDWR | BLK_FILE_CREATE, &f);
	if (ret)
		return ret;
	ret = drv->create(f, &co);
	if (!ret)
		ret = blk_file_flush(f);
	blk_file_close(f);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Synchronous requests                                                   */

static uint64_t block_size(struct blk *b)
{
	return __atomic_load_n(&b->size, __ATOMIC_ACQUIRE);
}

static int block_check(struct blk *b, uint64_t off, uint64_t len, bool write,
		       const char *what)
{
	uint64_t size = block_size(b);

	if (write && b->readonly) {
		log_error("%s: %s on a read-only image", b->filename, what);
		return -EROFS;
	}
	if (len > size || off > size - len) {
		log_error("%s: %s of %" PRIu64 " bytes at offset %" PRIu64
			  " is beyond the end of the image (%" PRIu64 " bytes)",
			  b->filename, what, len, off, size);
		return -EINVAL;
	}
	return 0;
}

static int block_iov_len(struct blk *b, const struct iovec *iov, int iovcnt, uint64_t *len)
{
	*len = 0;
	if (iovcnt < 0 || (iovcnt > 0 && !iov)) {
		log_error("%s: invalid I/O vector", b->filename);
		return -EINVAL;
	}
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > UINT64_MAX - *len || (iov[i].iov_len && !iov[i].iov_base)) {
			log_error("%s: invalid I/O vector", b->filename);
			return -EINVAL;
		}
		*len += iov[i].iov_len;
	}
	return 0;
}

static void block_lock(struct blk *b)
{
	if (!b->drv->parallel)
		pthread_mutex_lock(&b->lock);
}

static void block_unlock(struct blk *b)
{
	if (!b->drv->parallel)
		pthread_mutex_unlock(&b->lock);
}

static int block_rw(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt,
		    bool write)
{
	uint64_t len;
	int ret = block_iov_len(b, iov, iovcnt, &len);

	if (!ret)
		ret = block_check(b, off, len, write, write ? "write" : "read");
	if (ret || len == 0)
		return ret;
	block_lock(b);
	if (write)
		ret = b->drv->writev(b, off, iov, iovcnt);
	else
		ret = b->drv->readv(b, off, iov, iovcnt);
	block_unlock(b);
	return ret;
}

int blk_readv(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt)
{
	return block_rw(b, off, iov, iovcnt, false);
}

int blk_writev(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt)
{
	return block_rw(b, off, iov, iovcnt, true);
}

int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return block_rw(b, off, &iov, 1, false);
}

int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return block_rw(b, off, &iov, 1, true);
}

int blk_flush(struct blk *b)
{
	int ret = 0;

	if (b->readonly || !b->drv->flush)
		return 0;
	block_lock(b);
	ret = b->drv->flush(b);
	block_unlock(b);
	return ret;
}

int blk_discard(struct blk *b, uint64_t off, uint64_t len)
{
	int ret = block_check(b, off, len, true, "discard");

	if (ret || len == 0 || !b->drv->discard)
		return ret;   /* discard is a hint: no driver support is fine */
	block_lock(b);
	ret = b->drv->discard(b, off, len);
	block_unlock(b);
	return ret;
}

/* Drivers without write_zeroes: write zeros through writev (lock held). */
static int block_write_zero_data(struct blk *b, uint64_t off, uint64_t len)
{
	size_t chunk = (size_t)MIN(len, (uint64_t)BLOCK_ZERO_CHUNK);
	void *zero = calloc(1, chunk);
	int ret = 0;

	if (!zero)
		return -ENOMEM;
	while (!ret && len) {
		struct iovec iov = { .iov_base = zero, .iov_len = (size_t)MIN(len, chunk) };

		ret = b->drv->writev(b, off, &iov, 1);
		off += iov.iov_len;
		len -= iov.iov_len;
	}
	free(zero);
	return ret;
}

int blk_write_zeroes(struct blk *b, uint64_t off, uint64_t len, bool may_unmap)
{
	int ret = block_check(b, off, len, true, "write-zeroes");

	if (ret || len == 0)
		return ret;
	block_lock(b);
	if (b->drv->write_zeroes)
		ret = b->drv->write_zeroes(b, off, len, may_unmap);
	else
		ret = block_write_zero_data(b, off, len);
	block_unlock(b);
	return ret;
}

int blk_resize(struct blk *b, uint64_t size)
{
	int ret;

	if (b->readonly) {
		log_error("%s: cannot resize a read-only image", b->filename);
		return -EROFS;
	}
	if (size > BLK_MAX_SIZE) {
		log_error("%s: new size %" PRIu64 " is too large", b->filename, size);
		return -EINVAL;
	}
	if (!b->drv->resize) {
		log_error("%s: format '%s' cannot be resized", b->filename, b->drv->format);
		return -ENOTSUP;
	}
	block_lock(b);
	ret = b->drv->resize(b, size);
	if (!ret)
		__atomic_store_n(&b->size, size, __ATOMIC_RELEASE);
	block_unlock(b);
	return ret;
}

int64_t blk_length(struct blk *b)
{
	return (int64_t)block_size(b);
}

int blk_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
		     unsigned *status, uint64_t *host_off)
{
	uint64_t size = block_size(b), hoff = 0;
	int ret;

	*pnum = 0;
	*status = 0;
	if (len == 0) {
		log_error("%s: block status of an empty range", b->filename);
		return -EINVAL;
	}
	if (off >= size) {
		log_error("%s: block status at offset %" PRIu64 " is beyond the end of the "
			  "image (%" PRIu64 " bytes)", b->filename, off, size);
		return -EINVAL;
	}
	len = MIN(len, size - off);
	if (!b->drv->block_status) {
		*pnum = len;
		*status = BLK_STATUS_DATA | BLK_STATUS_ALLOCATED;
		return 0;
	}
	block_lock(b);
	ret = b->drv->block_status(b, off, len, pnum, status, &hoff);
	block_unlock(b);
	if (!ret && (*pnum == 0 || *pnum > len)) {
		log_error("%s: driver returned a bad block status length", b->filename);
		ret = -EIO;
	}
	if (host_off)
		*host_off = hoff;
	return ret;
}
