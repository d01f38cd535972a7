/* block: the block layer's public interface and the driver interface.
 * An open image (`struct blk`) is a format driver (raw, qcow2) on a blk_file,
 * with its backing chain (each backing image is itself a `struct blk`).
 * Synchronous calls are the driver interface; blk_aio_submit() runs requests
 * on worker threads and reports completion through a callback, which is what
 * devices use. The block layer knows nothing about virtio or KVM.
 * Additive change by block-core: struct blk.aio (the worker pool).
 * Additive change by img: driver ops write_compressed (convert -c) and
 * make_empty (commit); NULL where a driver lacks them.
 * Additive change by qcow2: blk_open_opts.check (open for `check -r`).
 * Additive change by virtio-blk: blk_req.may_unmap (WRITE_ZEROES may punch).
 * Additive change by uring: blk_aio_plug/unplug (batched io_uring submits).
 * Additive change by virtio-blk: blk_aio_set_batch_done (publish a batch).
 * Additive change by virtio-blk polling: blk_aio_has_work. */
#ifndef VMKIT_BLOCK_H
#define VMKIT_BLOCK_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "blkfile.h"

#define BLK_SECTOR 512u
#define BLK_MAX_CHAIN 64            /* deeper backing chains are refused */
#define BLK_MAX_SIZE (1ULL << 60)  /* virtual sizes beyond this are absurd */

struct blk;
struct blk_driver;
struct blk_aio;

struct blk_open_opts {
	const char *format;          /* "raw", "qcow2"; NULL = probe (vmkit img only) */
	bool readonly;
	bool force_share;            /* -U: read-only, ignore other users' locks */
	bool direct;                 /* cache=none: O_DIRECT */
	bool no_backing;             /* do not open the backing chain */
	const char *backing_format;  /* for a backing reference that has no format */
	bool check;                  /* for `img check -r`: a corrupt image may be
	                              * opened read-write; no repair on open */
};

enum blk_prealloc { BLK_PREALLOC_OFF, BLK_PREALLOC_METADATA, BLK_PREALLOC_FULL };

struct blk_create_opts {
	uint64_t size;               /* 0 with a backing file: take the backing size */
	const char *backing_file;    /* NULL: none */
	const char *backing_format;  /* required with backing_file */
	uint32_t cluster_size;       /* 0: default (64 KiB) */
	unsigned compat;             /* qcow2 version: 2 ("0.10") or 3 ("1.1"); 0 = 3 */
	enum blk_prealloc prealloc;
	bool lazy_refcounts;
	unsigned refcount_bits;      /* 0: default (16) */
};

/* block_status flags */
#define BLK_STATUS_DATA       0x1u  /* reads return data (not known zero) */
#define BLK_STATUS_ZERO       0x2u  /* reads return zeros */
#define BLK_STATUS_ALLOCATED  0x4u  /* decided by this layer, not the backing file */
#define BLK_STATUS_OFFSET     0x8u  /* *host_off is valid (uncompressed data) */
#define BLK_STATUS_COMPRESSED 0x10u

struct blk_snapshot {
	char id[32];
	char name[256];
	uint64_t vm_state_size;
	uint64_t date_sec;
	uint32_t date_nsec;
	uint64_t vm_clock_nsec;
	uint64_t disk_size;
};

#define BLK_FIX_LEAKS 0x1u
#define BLK_FIX_ERRORS 0x2u

struct blk_check {
	uint64_t corruptions;
	uint64_t leaks;
	uint64_t check_errors;
	uint64_t corruptions_fixed;
	uint64_t leaks_fixed;
	uint64_t image_end_offset;
	uint64_t total_clusters;
	uint64_t allocated_clusters;
	uint64_t fragmented_clusters;
	uint64_t compressed_clusters;
};

/* A format driver. All calls for one struct blk are serialised by the block
 * layer unless the driver sets `parallel`. Offsets are guest (virtual) bytes. */
struct blk_driver {
	const char *format;
	bool parallel;
	size_t state_size;   /* bytes of driver state at blk_state(b) */
	/* Likelihood (0-100) that buf (the first bytes of a file) is this format. */
	int (*probe)(const uint8_t *buf, size_t len);
	int (*create)(struct blk_file *file, const struct blk_create_opts *o);
	/* Read metadata, check it; may set b->backing_name/backing_fmt. */
	int (*open)(struct blk *b, const struct blk_open_opts *o);
	void (*close)(struct blk *b);
	int (*readv)(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt);
	int (*writev)(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt);
	int (*flush)(struct blk *b);
	int (*discard)(struct blk *b, uint64_t off, uint64_t len);
	int (*write_zeroes)(struct blk *b, uint64_t off, uint64_t len, bool may_unmap);
	int (*resize)(struct blk *b, uint64_t size);
	int (*block_status)(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
			    unsigned *status, uint64_t *host_off);
	int (*check)(struct blk *b, struct blk_check *res, unsigned fix);
	/* Format-specific facts for `info` (qemu-img's "format-specific" data). */
	json_t *(*info_specific)(struct blk *b);
	uint32_t (*cluster_size)(struct blk *b);
	bool (*is_dirty)(struct blk *b);
	/* Point the image at a new backing file without touching data (rebase -u). */
	int (*set_backing)(struct blk *b, const char *name, const char *fmt);
	int (*snapshot_create)(struct blk *b, const char *name);
	int (*snapshot_list)(struct blk *b, struct blk_snapshot **list, size_t *n);
	int (*snapshot_apply)(struct blk *b, const char *id_or_name);
	int (*snapshot_delete)(struct blk *b, const char *id_or_name);
	/* Write one whole cluster compressed (the image's last cluster may be
	 * partial): off cluster-aligned, len = cluster size or up to the end. */
	int (*write_compressed)(struct blk *b, uint64_t off, const void *buf, size_t len);
	/* Drop every cluster of the active image so all of it reads from the
	 * backing file again (qemu-img commit empties the top image this way). */
	int (*make_empty)(struct blk *b);
};

struct blk {
	const struct blk_driver *drv;
	struct blk_file *file;
	struct blk *backing;       /* NULL: none (or not opened) */
	char *filename;
	char *backing_name;        /* as recorded in the image */
	char *backing_fmt;
	uint64_t size;             /* virtual size */
	bool readonly;
	unsigned depth;            /* 0 for the top image */
	pthread_mutex_t lock;      /* serialises driver calls (!drv->parallel) */
	void *state;               /* drv->state_size bytes */
	struct blk_aio *aio;       /* worker threads (blkaio.c); NULL until first submit */
	void (*batch_done)(void *opaque);   /* blk_aio_set_batch_done */
	void *batch_opaque;
};

/* Registered drivers (raw, qcow2), NULL-terminated. */
extern const struct blk_driver *const blk_drivers[];
const struct blk_driver *blk_driver_find(const char *format);

/* Probe a file's format (vmkit img only). 0 with *format, or -errno. */
int blk_probe(const char *path, const char **format);
/* Open path; o->format is required unless the caller probes first. Opens the
 * backing chain (backing formats from the image; refused without one unless
 * o->backing_format). On error logs one line naming the file and problem. */
int blk_open(const char *path, const struct blk_open_opts *o, struct blk **out);
/* Open on an already open file (the blk takes ownership of file, which is
 * closed on failure too). */
int blk_open_file(struct blk_file *file, const struct blk_open_opts *o, struct blk **out);
void blk_close(struct blk *b); /* NULL is fine; closes the backing chain */
int blk_create(const char *path, const char *format, const struct blk_create_opts *o);

int blk_readv(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt);
int blk_writev(struct blk *b, uint64_t off, const struct iovec *iov, int iovcnt);
int blk_pread(struct blk *b, uint64_t off, void *buf, size_t len);
int blk_pwrite(struct blk *b, uint64_t off, const void *buf, size_t len);
int blk_flush(struct blk *b);
int blk_discard(struct blk *b, uint64_t off, uint64_t len);
int blk_write_zeroes(struct blk *b, uint64_t off, uint64_t len, bool may_unmap);
int blk_resize(struct blk *b, uint64_t size);
int64_t blk_length(struct blk *b);
int blk_block_status(struct blk *b, uint64_t off, uint64_t len, uint64_t *pnum,
		     unsigned *status, uint64_t *host_off);
static inline void *blk_state(struct blk *b)
{
	return b->state;
}

/* Asynchronous requests, run on the block layer's worker threads. */
enum blk_op { BLK_OP_READ, BLK_OP_WRITE, BLK_OP_FLUSH, BLK_OP_DISCARD, BLK_OP_WRITE_ZEROES };

struct blk_req {
	enum blk_op op;
	uint64_t off;
	uint64_t len;              /* DISCARD / WRITE_ZEROES */
	bool may_unmap;            /* WRITE_ZEROES: the range may be deallocated */
	const struct iovec *iov;   /* READ / WRITE */
	int iovcnt;
	/* Called once, on a worker or completion thread, with 0 or -errno. */
	void (*done)(struct blk_req *req, int ret);
	void *opaque;
};

/* Worker threads per image: enough for a guest queue depth of 16 on
 * O_DIRECT (cache=none), where every request blocks its worker until the
 * device answers. */
#define BLK_AIO_THREADS 16

int blk_aio_submit(struct blk *b, struct blk_req *req);
/* Requests that were run as part of another's call (merged with the
 * request before them), since b was opened. */
uint64_t blk_aio_merged(struct blk *b);
/* Around a batch of submissions (a device's queue): on io_uring the
 * kernel hears of the batch at the last unplug (or when completions make
 * room on the ring meanwhile), and adjacent reads or writes in it merge.
 * Calls nest, from any thread; no effect on the worker pool. */
void blk_aio_plug(struct blk *b);
void blk_aio_unplug(struct blk *b);
/* Have fn(opaque) called on the thread that ran them after each batch of
 * done() calls (a worker's call, a batch of ring completions), so that a
 * device can hand the whole batch to its guest at once. Set it before the
 * first submission; NULL: none. */
void blk_aio_set_batch_done(struct blk *b, void (*fn)(void *opaque), void *opaque);
/* True when b's own I/O needs a thread now: completions on the io_uring
 * that its thread has not taken yet, or requests queued or running on the
 * worker pool (copying through the page cache takes a CPU; the worker that
 * asks, in its batch hook, no longer counts as running). Any thread; a
 * hint, for a device that would spin in its batch hook: it must not hold
 * them up nor take their CPU. */
bool blk_aio_has_work(struct blk *b);

#endif
