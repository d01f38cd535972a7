/* blkfile: the byte-addressed files under an image format: a POSIX file
 * (buffered or O_DIRECT, with QEMU-compatible OFD image locks), an in-memory
 * file (unit tests, fuzzing), and a write-logging wrapper that records every
 * write and flush for crash-consistency tests. Formats (raw, qcow2) reach
 * storage only through this interface.
 * Additive changes by block-core: blk_file.align, the optional ops
 * data_extent and allocate, and the blk_file_truncate/punch helpers.
 * Additive change by uring: blk_file_fd (io_uring submits on the fd). */
#ifndef VMKIT_BLKFILE_H
#define VMKIT_BLKFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct blk_file;

struct blk_file_ops {
	const char *name;
	/* Whole-range read; bytes past EOF read as zeros. 0 or -errno. */
	int (*pread)(struct blk_file *f, void *buf, size_t len, uint64_t off);
	/* Whole-range write (extends the file). 0 or -errno. */
	int (*pwrite)(struct blk_file *f, const void *buf, size_t len, uint64_t off);
	int (*flush)(struct blk_file *f);
	int (*truncate)(struct blk_file *f, uint64_t size);
	/* Deallocate [off, off+len) so it reads as zeros. -EOPNOTSUPP if it can't. */
	int (*punch)(struct blk_file *f, uint64_t off, uint64_t len);
	/* Current size in bytes, or -errno. */
	int64_t (*size)(struct blk_file *f);
	/* Bytes allocated on the host (st_blocks * 512), or -errno. */
	int64_t (*allocated)(struct blk_file *f);
	/* Take the image locks for perm/shared (BLK_PERM_*); -EAGAIN when another
	 * process holds a conflicting lock. NULL = no locking (memory files). */
	int (*lock)(struct blk_file *f, unsigned perm, unsigned shared);
	void (*close)(struct blk_file *f);
	/* Optional (NULL = everything is data). *pnum = length (<= len, > 0 when
	 * off < size) of the run at off that is all data (*data true) or all
	 * hole (*data false). 0 or -errno. */
	int (*data_extent)(struct blk_file *f, uint64_t off, uint64_t len, uint64_t *pnum,
			   bool *data);
	/* Optional: reserve host space for [off, off+len), growing the file if
	 * needed; reads stay zero. -EOPNOTSUPP if it can't (callers write zeros). */
	int (*allocate)(struct blk_file *f, uint64_t off, uint64_t len);
};

struct blk_file {
	const struct blk_file_ops *ops;
	char *name;       /* for messages: the path, or "<memory>" */
	bool readonly;
	/* Alignment of buffers, offsets and lengths that pread/pwrite require:
	 * 1, or the device's block size with BLK_FILE_DIRECT (-EINVAL otherwise). */
	uint32_t align;
};

/* Permissions, as QEMU's image locking names them. */
#define BLK_PERM_CONSISTENT_READ 0x01u
#define BLK_PERM_WRITE           0x02u
#define BLK_PERM_WRITE_UNCHANGED 0x04u
#define BLK_PERM_RESIZE          0x08u
#define BLK_PERM_ALL             0x0fu

enum blk_file_flags {
	BLK_FILE_RDWR = 1 << 0,
	BLK_FILE_CREATE = 1 << 1,   /* create or truncate */
	BLK_FILE_DIRECT = 1 << 2,   /* O_DIRECT (cache=none) */
	BLK_FILE_NOLOCK = 1 << 3,   /* skip image locking */
	BLK_FILE_SHARE = 1 << 4,    /* force share (-U): read-only, share everything */
};

int blk_file_open_posix(const char *path, unsigned flags, struct blk_file **out);
/* In-memory file holding a copy of data[0..len). */
int blk_file_open_mem(const void *data, size_t len, struct blk_file **out);
/* For memory files: the current contents (valid until the next write). */
const uint8_t *blk_file_mem_data(struct blk_file *f, size_t *len);
void blk_file_close(struct blk_file *f); /* NULL is fine */
/* The descriptor of a POSIX file (for io_uring); -1 for any other file. */
int blk_file_fd(struct blk_file *f);

/* Write log: every pwrite/truncate/punch/flush on the wrapped file in order. */
enum blk_wlog_kind { BLK_WLOG_WRITE, BLK_WLOG_FLUSH, BLK_WLOG_TRUNCATE, BLK_WLOG_PUNCH };

struct blk_wlog_entry {
	enum blk_wlog_kind kind;
	uint64_t off;
	uint64_t len;     /* WRITE/PUNCH length; TRUNCATE: new size */
	uint8_t *data;    /* WRITE: a copy of the data */
};

struct blk_wlog {
	struct blk_wlog_entry *v;
	size_t n, cap;
};

/* Wrap under (which the wrapper owns and closes) and log into log. */
int blk_file_open_wlog(struct blk_file *under, struct blk_wlog *log, struct blk_file **out);
void blk_wlog_free(struct blk_wlog *log);

static inline int blk_file_pread(struct blk_file *f, void *buf, size_t len, uint64_t off)
{
	return f->ops->pread(f, buf, len, off);
}

static inline int blk_file_pwrite(struct blk_file *f, const void *buf, size_t len, uint64_t off)
{
	return f->ops->pwrite(f, buf, len, off);
}

static inline int blk_file_flush(struct blk_file *f)
{
	return f->ops->flush(f);
}

static inline int64_t blk_file_size(struct blk_file *f)
{
	return f->ops->size(f);
}

static inline int blk_file_truncate(struct blk_file *f, uint64_t size)
{
	return f->ops->truncate(f, size);
}

static inline int blk_file_punch(struct blk_file *f, uint64_t off, uint64_t len)
{
	return f->ops->punch(f, off, len);
}

#endif
