/* blkfile: the byte-addressed files under image formats. Owns the POSIX file
 * backend (buffered or O_DIRECT; QEMU-compatible OFD image locks), the
 * in-memory file (unit tests, fuzzing) and the write-logging wrapper used by
 * the crash-consistency tests.
 *
 * Image locking follows QEMU's file-posix scheme so that QEMU and vmkit see
 * each other: for permission bit i (BLK_PERM_*, bit 0 = consistent read ..
 * bit 3 = resize) a user holds a shared (F_RDLCK) OFD lock on byte 100+i when
 * it uses the permission, and on byte 200+i when it does not allow others to
 * use it. A newcomer first takes its own bytes, then probes with F_OFD_GETLK
 * (exclusive) byte 200+i for every permission it wants and byte 100+i for
 * every permission it refuses to share. OFD locks belong to the open file
 * description, so two opens in one process conflict like two processes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/blkfile.h"
#include "common/log.h"
#include "common/util.h"

#define BLKFILE_LOCK_PERM_BASE 100
#define BLKFILE_LOCK_SHARED_BASE 200
#define BLKFILE_NPERM 4
#define BLKFILE_MEM_MAX (1ULL << 30)   /* memory files never grow beyond 1 GiB */
#define BLKFILE_DIRECT_ALIGN_MAX 4096u
#define BLKFILE_ALL_FLAGS (BLK_FILE_RDWR | BLK_FILE_CREATE | BLK_FILE_DIRECT | \
			   BLK_FILE_NOLOCK | BLK_FILE_SHARE)

/* QEMU's names for the permissions, used in its lock error messages. */
static const char *const blkfile_perm_names[BLKFILE_NPERM] = {
	"consistent read", "write", "write unchanged", "resize",
};

/* ---------------------------------------------------------------------- */
/* POSIX files                                                            */

struct blkfile_posix {
	struct blk_file f;   /* first: ops receive &f */
	int fd;
	unsigned flags;      /* BLK_FILE_* */
	unsigned perm;       /* lock bytes held: permissions used */
	unsigned shared;     /* ... and permissions shared with others */
	bool nolock;         /* locking disabled or unsupported here */
};

static struct blkfile_posix *posix_of(struct blk_file *f)
{
	return (struct blkfile_posix *)f;
}

/* Range and (in direct mode) alignment checks shared by every I/O call. */
static int posix_check_io(struct blk_file *f, const void *buf, size_t len, uint64_t off,
			  const char *what)
{
	uint64_t a = f->align;

	if (len > (uint64_t)INT64_MAX || off > (uint64_t)INT64_MAX - len) {
		log_error("%s: %s of %zu bytes at offset %" PRIu64 " is out of range",
			  f->name, what, len, off);
		return -EINVAL;
	}
	if (a > 1 && (((uintptr_t)buf | len | off) & (a - 1))) {
		log_error("%s: unaligned %s with cache=none (%zu bytes at %" PRIu64
			  ", buffer %p; alignment %" PRIu64 ")", f->name, what, len, off, buf, a);
		return -EINVAL;
	}
	return 0;
}

static int posix_pread(struct blk_file *f, void *buf, size_t len, uint64_t off)
{
	struct blkfile_posix *p = posix_of(f);
	uint8_t *d = buf;
	size_t done = 0;
	int ret = posix_check_io(f, buf, len, off, "read");

	while (!ret && done < len) {
		ssize_t n = pread(p->fd, d + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			log_error("%s: read of %zu bytes at offset %" PRIu64 " failed: %s",
				  f->name, len - done, off + done, strerror(errno));
			break;
		}
		done += (size_t)n;
		/* End of file (in direct mode a partial block also means EOF). */
		if (n == 0 || (f->align > 1 && (n & (f->align - 1)))) {
			memset(d + done, 0, len - done);
			break;
		}
	}
	return ret;
}

static int posix_check_writable(struct blk_file *f, const char *what)
{
	if (!f->readonly)
		return 0;
	log_error("%s: %s on a file opened read-only", f->name, what);
	return -EROFS;
}

static int posix_pwrite(struct blk_file *f, const void *buf, size_t len, uint64_t off)
{
	struct blkfile_posix *p = posix_of(f);
	const uint8_t *s = buf;
	size_t done = 0;
	int ret = posix_check_writable(f, "write");

	if (!ret)
		ret = posix_check_io(f, buf, len, off, "write");
	while (!ret && done < len) {
		ssize_t n = pwrite(p->fd, s + done, len - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? -errno : -EIO;
			log_error("%s: write of %zu bytes at offset %" PRIu64 " failed: %s",
				  f->name, len - done, off + done, strerror(-ret));
			break;
		}
		done += (size_t)n;
	}
	return ret;
}

static int posix_flush(struct blk_file *f)
{
	struct blkfile_posix *p = posix_of(f);

	if (fdatasync(p->fd) < 0) {
		int ret = -errno;

		log_error("%s: flush (fdatasync) failed: %s", f->name, strerror(errno));
		return ret;
	}
	return 0;
}

static int posix_truncate(struct blk_file *f, uint64_t size)
{
	struct blkfile_posix *p = posix_of(f);
	int ret = posix_check_writable(f, "truncate");

	if (ret)
		return ret;
	if (size > (uint64_t)INT64_MAX) {
		log_error("%s: cannot truncate to %" PRIu64 " bytes: too large", f->name, size);
		return -EFBIG;
	}
	if (ftruncate(p->fd, (off_t)size) < 0) {
		ret = -errno;
		log_error("%s: truncate to %" PRIu64 " bytes failed: %s", f->name, size,
			  strerror(errno));
	}
	return ret;
}

static int posix_falloc(struct blk_file *f, int mode, uint64_t off, uint64_t len,
			const char *what)
{
	struct blkfile_posix *p = posix_of(f);
	int ret = posix_check_writable(f, what);

	if (ret || len == 0)
		return ret;
	if (len > (uint64_t)INT64_MAX || off > (uint64_t)INT64_MAX - len) {
		log_error("%s: %s of %" PRIu64 " bytes at offset %" PRIu64 " is out of range",
			  f->name, what, len, off);
		return -EINVAL;
	}
	while (fallocate(p->fd, mode, (off_t)off, (off_t)len) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EOPNOTSUPP || errno == ENOSYS || errno == ENOTTY)
			return -EOPNOTSUPP;
		ret = -errno;
		log_error("%s: %s of %" PRIu64 " bytes at offset %" PRIu64 " failed: %s",
			  f->name, what, len, off, strerror(errno));
		return ret;
	}
	return 0;
}

static int posix_punch(struct blk_file *f, uint64_t off, uint64_t len)
{
	return posix_falloc(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len, "punch");
}

static int posix_allocate(struct blk_file *f, uint64_t off, uint64_t len)
{
	return posix_falloc(f, 0, off, len, "allocate");
}

static int64_t posix_size(struct blk_file *f)
{
	struct blkfile_posix *p = posix_of(f);
	struct stat st;
	uint64_t bytes;

	if (fstat(p->fd, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return st.st_size;
	if (ioctl(p->fd, BLKGETSIZE64, &bytes) < 0)
		return -errno;
	return bytes > (uint64_t)INT64_MAX ? -EFBIG : (int64_t)bytes;
}

static int64_t posix_allocated(struct blk_file *f)
{
	struct blkfile_posix *p = posix_of(f);
	struct stat st;

	if (fstat(p->fd, &st) < 0)
		return -errno;
	return (int64_t)st.st_blocks * 512;
}

static int posix_data_extent(struct blk_file *f, uint64_t off, uint64_t len, uint64_t *pnum,
			     bool *data)
{
	struct blkfile_posix *p = posix_of(f);
	off_t next;

	if (off > (uint64_t)INT64_MAX || len == 0)
		return -EINVAL;
	*data = true;
	*pnum = len;
	next = lseek(p->fd, (off_t)off, SEEK_DATA);
	if (next < 0) {
		/* ENXIO: no data at or after off; anything else: cannot tell. */
		*data = errno != ENXIO;
		return 0;
	}
	if ((uint64_t)next > off) {
		*data = false;
		*pnum = MIN(len, (uint64_t)next - off);
		return 0;
	}
	next = lseek(p->fd, (off_t)off, SEEK_HOLE);
	if (next > 0 && (uint64_t)next > off)
		*pnum = MIN(len, (uint64_t)next - off);
	return 0;
}

/* Set (F_RDLCK) or drop (F_UNLCK) this description's lock on one byte. */
static int posix_lock_byte(int fd, short type, off_t pos)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = pos, .l_len = 1 };

	while (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return 0;
}

/* -EAGAIN if another open file description holds a lock on byte pos. */
static int posix_lock_test(int fd, off_t pos)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = pos, .l_len = 1 };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	return fl.l_type == F_UNLCK ? 0 : -EAGAIN;
}

/* Make the held bytes exactly: 100+i for perm bits, 200+i for unshared bits. */
static int posix_lock_apply(int fd, unsigned perm, unsigned shared)
{
	int ret = 0;

	for (unsigned i = 0; i < BLKFILE_NPERM && !ret; i++) {
		unsigned bit = 1u << i;

		ret = posix_lock_byte(fd, (perm & bit) ? F_RDLCK : F_UNLCK,
				      BLKFILE_LOCK_PERM_BASE + i);
		if (!ret)
			ret = posix_lock_byte(fd, (shared & bit) ? F_UNLCK : F_RDLCK,
					      BLKFILE_LOCK_SHARED_BASE + i);
	}
	return ret;
}

static int posix_lock_check(struct blk_file *f, int fd, unsigned perm, unsigned shared)
{
	for (unsigned i = 0; i < BLKFILE_NPERM; i++) {
		unsigned bit = 1u << i;
		int ret = 0;
		const char *kind = "";

		if (perm & bit)
			ret = posix_lock_test(fd, BLKFILE_LOCK_SHARED_BASE + i);
		if (!ret && !(shared & bit)) {
			ret = posix_lock_test(fd, BLKFILE_LOCK_PERM_BASE + i);
			kind = "shared ";
		}
		if (ret == -EAGAIN) {
			log_error("%s: failed to get %s\"%s\" lock: the image is locked by another "
				  "process (QEMU?): use -U to inspect it read-only", f->name, kind,
				  blkfile_perm_names[i]);
			return ret;
		}
		if (ret) {
			log_error("%s: cannot test image lock: %s", f->name, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static bool posix_lock_unsupported(int err)
{
	return err == -EINVAL || err == -ENOLCK || err == -EOPNOTSUPP || err == -ENOSYS;
}

static int posix_lock(struct blk_file *f, unsigned perm, unsigned shared)
{
	struct blkfile_posix *p = posix_of(f);
	int ret;

	if ((perm | shared) & ~BLK_PERM_ALL)
		return -EINVAL;
	if (p->flags & BLK_FILE_SHARE)
		shared = BLK_PERM_ALL;
	if (p->nolock)
		return 0;
	/* Take the union first so that no window exists without our bytes. */
	ret = posix_lock_apply(p->fd, p->perm | perm, p->shared & shared);
	if (posix_lock_unsupported(ret)) {
		log_warn("%s: image locking is not supported here; continuing without it",
			 f->name);
		p->nolock = true;
		return 0;
	}
	if (ret) {
		log_error("%s: cannot take image lock: %s", f->name, strerror(-ret));
	} else {
		ret = posix_lock_check(f, p->fd, perm, shared);
	}
	if (ret) {
		posix_lock_apply(p->fd, p->perm, p->shared);
		return ret;
	}
	posix_lock_apply(p->fd, perm, shared);
	p->perm = perm;
	p->shared = shared;
	return 0;
}

static void posix_close(struct blk_file *f)
{
	struct blkfile_posix *p = posix_of(f);

	close(p->fd);   /* drops the OFD locks with the last reference */
	free(f->name);
	free(p);
}

static const struct blk_file_ops posix_ops = {
	.name = "file",
	.pread = posix_pread,
	.pwrite = posix_pwrite,
	.flush = posix_flush,
	.truncate = posix_truncate,
	.punch = posix_punch,
	.size = posix_size,
	.allocated = posix_allocated,
	.lock = posix_lock,
	.close = posix_close,
	.data_extent = posix_data_extent,
	.allocate = posix_allocate,
};

/* Alignment O_DIRECT needs: the device's logical block size for block
 * devices; for files, 512 if a 512-byte direct read works, else 4096. */
static uint32_t posix_direct_align(int fd, bool is_blk)
{
	void *buf = NULL;
	int sector = 0;
	ssize_t n;

	if (is_blk && ioctl(fd, BLKSSZGET, &sector) == 0 && sector > 0 &&
	    (unsigned)sector <= BLKFILE_DIRECT_ALIGN_MAX && !(sector & (sector - 1)))
		return (uint32_t)sector;
	if (posix_memalign(&buf, BLKFILE_DIRECT_ALIGN_MAX, BLKFILE_DIRECT_ALIGN_MAX))
		return BLKFILE_DIRECT_ALIGN_MAX;
	do {
		n = pread(fd, buf, 512, 0);
	} while (n < 0 && errno == EINTR);
	free(buf);
	return n > 0 ? 512 : BLKFILE_DIRECT_ALIGN_MAX;
}

static int posix_open_fd(const char *path, unsigned flags, int *fd, struct stat *st)
{
	int oflags = O_CLOEXEC | ((flags & BLK_FILE_RDWR) ? O_RDWR : O_RDONLY);
	int ret;

	if (flags & BLK_FILE_CREATE)
		oflags |= O_CREAT;   /* truncated only once the lock is ours */
	if (flags & BLK_FILE_DIRECT)
		oflags |= O_DIRECT;
	do {
		*fd = open(path, oflags, 0644);
	} while (*fd < 0 && errno == EINTR);
	if (*fd < 0) {
		ret = -errno;
		if (ret == -EINVAL && (flags & BLK_FILE_DIRECT))
			log_error("%s: cache=none (O_DIRECT) is not supported on this file system",
				  path);
		else
			log_error("%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(*fd, st) < 0) {
		ret = -errno;
		log_error("%s: cannot stat: %s", path, strerror(errno));
	} else if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
		ret = S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
		log_error("%s: not a regular file or block device", path);
	} else {
		return 0;
	}
	close(*fd);
	*fd = -1;
	return ret;
}

static int posix_check_flags(const char *path, unsigned flags)
{
	if (flags & ~BLKFILE_ALL_FLAGS) {
		log_error("%s: invalid open flags 0x%x", path, flags);
		return -EINVAL;
	}
	if ((flags & BLK_FILE_SHARE) && (flags & BLK_FILE_RDWR)) {
		log_error("%s: force share (-U) is only possible read-only", path);
		return -EINVAL;
	}
	if ((flags & BLK_FILE_CREATE) && !(flags & BLK_FILE_RDWR)) {
		log_error("%s: creating a file needs a read-write open", path);
		return -EINVAL;
	}
	return 0;
}

/* Creating: lock as a writer that shares nothing but reads, then truncate,
 * so that an image in use elsewhere is never truncated. */
static int posix_create_truncate(struct blk_file *f)
{
	int ret = 0;

	if (!posix_of(f)->nolock)
		ret = posix_lock(f, BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_RESIZE,
				 BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED);
	if (!ret)
		ret = posix_truncate(f, 0);
	return ret;
}

int blk_file_open_posix(const char *path, unsigned flags, struct blk_file **out)
{
	struct blkfile_posix *p = NULL;
	struct stat st;
	int fd = -1, ret;

	*out = NULL;
	ret = posix_check_flags(path, flags);
	if (!ret)
		ret = posix_open_fd(path, flags, &fd, &st);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p || !(p->f.name = strdup(path))) {
		free(p);
		close(fd);
		return -ENOMEM;
	}
	p->f.ops = &posix_ops;
	p->f.readonly = !(flags & BLK_FILE_RDWR);
	p->f.align = (flags & BLK_FILE_DIRECT) ? posix_direct_align(fd, S_ISBLK(st.st_mode)) : 1;
	p->fd = fd;
	p->flags = flags;
	p->shared = BLK_PERM_ALL;
	p->nolock = flags & BLK_FILE_NOLOCK;
	if (flags & BLK_FILE_CREATE)
		ret = posix_create_truncate(&p->f);
	if (ret) {
		posix_close(&p->f);
		return ret;
	}
	*out = &p->f;
	return 0;
}

int blk_file_fd(struct blk_file *f)
{
	return f && f->ops == &posix_ops ? posix_of(f)->fd : -1;
}

void blk_file_close(struct blk_file *f)
{
	if (f)
		f->ops->close(f);
}

/* ---------------------------------------------------------------------- */
/* Memory files                                                           */

struct blkfile_mem {
	struct blk_file f;
	pthread_mutex_t lock;
	uint8_t *data;
	size_t len, cap;
};

static struct blkfile_mem *mem_of(struct blk_file *f)
{
	return (struct blkfile_mem *)f;
}

static int mem_check_range(struct blk_file *f, size_t len, uint64_t off, const char *what)
{
	if (off > BLKFILE_MEM_MAX || len > BLKFILE_MEM_MAX - off) {
		log_error("%s: %s of %zu bytes at offset %" PRIu64 " is beyond the %llu MiB "
			  "limit of memory files", f->name, what, len, off, BLKFILE_MEM_MAX >> 20);
		return -EFBIG;
	}
	return 0;
}

/* Grow or shrink to size (<= BLKFILE_MEM_MAX); new bytes read as zeros. */
static int mem_set_len(struct blkfile_mem *m, size_t size)
{
	if (size > m->cap) {
		size_t cap = MAX(size, MIN(m->cap * 2, (size_t)BLKFILE_MEM_MAX));
		uint8_t *d = realloc(m->data, cap);

		if (!d)
			return -ENOMEM;
		m->data = d;
		m->cap = cap;
	}
	if (size > m->len)
		memset(m->data + m->len, 0, size - m->len);
	m->len = size;
	return 0;
}

static int mem_pread(struct blk_file *f, void *buf, size_t len, uint64_t off)
{
	struct blkfile_mem *m = mem_of(f);
	size_t n = 0;

	if (len > UINT64_MAX - off)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (off < m->len) {
		n = MIN(len, m->len - (size_t)off);
		memcpy(buf, m->data + off, n);
	}
	memset((uint8_t *)buf + n, 0, len - n);
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mem_pwrite(struct blk_file *f, const void *buf, size_t len, uint64_t off)
{
	struct blkfile_mem *m = mem_of(f);
	int ret = mem_check_range(f, len, off, "write");

	if (ret || len == 0)
		return ret;
	pthread_mutex_lock(&m->lock);
	if (off + len > m->len)
		ret = mem_set_len(m, (size_t)(off + len));
	if (!ret)
		memcpy(m->data + off, buf, len);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int mem_flush(struct blk_file *f)
{
	return 0;
}

static int mem_truncate(struct blk_file *f, uint64_t size)
{
	struct blkfile_mem *m = mem_of(f);
	int ret = 0;

	if (size > BLKFILE_MEM_MAX) {
		log_error("%s: cannot truncate to %" PRIu64 " bytes: beyond the %llu MiB limit "
			  "of memory files", f->name, size, BLKFILE_MEM_MAX >> 20);
		return -EFBIG;
	}
	pthread_mutex_lock(&m->lock);
	ret = mem_set_len(m, (size_t)size);
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int mem_punch(struct blk_file *f, uint64_t off, uint64_t len)
{
	struct blkfile_mem *m = mem_of(f);

	if (len > UINT64_MAX - off)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (off < m->len)
		memset(m->data + off, 0, (size_t)MIN(len, m->len - off));
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mem_allocate(struct blk_file *f, uint64_t off, uint64_t len)
{
	struct blkfile_mem *m = mem_of(f);
	int ret = mem_check_range(f, 0, len, "allocate");

	if (!ret)
		ret = mem_check_range(f, (size_t)len, off, "allocate");
	if (ret)
		return ret;
	pthread_mutex_lock(&m->lock);
	if (off + len > m->len)
		ret = mem_set_len(m, (size_t)(off + len));
	pthread_mutex_unlock(&m->lock);
	return ret;
}

static int64_t mem_size(struct blk_file *f)
{
	struct blkfile_mem *m = mem_of(f);
	int64_t n;

	pthread_mutex_lock(&m->lock);
	n = (int64_t)m->len;
	pthread_mutex_unlock(&m->lock);
	return n;
}

static void mem_close(struct blk_file *f)
{
	struct blkfile_mem *m = mem_of(f);

	pthread_mutex_destroy(&m->lock);
	free(m->data);
	free(f->name);
	free(m);
}

static const struct blk_file_ops mem_ops = {
	.name = "memory",
	.pread = mem_pread,
	.pwrite = mem_pwrite,
	.flush = mem_flush,
	.truncate = mem_truncate,
	.punch = mem_punch,
	.size = mem_size,
	.allocated = mem_size,
	.lock = NULL,
	.close = mem_close,
	.data_extent = NULL,
	.allocate = mem_allocate,
};

int blk_file_open_mem(const void *data, size_t len, struct blk_file **out)
{
	struct blkfile_mem *m;

	*out = NULL;
	if (len > BLKFILE_MEM_MAX || (len && !data)) {
		log_error("<memory>: invalid initial contents (%zu bytes)", len);
		return -EFBIG;
	}
	m = calloc(1, sizeof(*m));
	if (!m || !(m->f.name = strdup("<memory>")) || mem_set_len(m, len)) {
		if (m)
			free(m->f.name);
		free(m);
		return -ENOMEM;
	}
	if (len)
		memcpy(m->data, data, len);
	pthread_mutex_init(&m->lock, NULL);
	m->f.ops = &mem_ops;
	m->f.align = 1;
	*out = &m->f;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Write-logging wrapper                                                  */

struct blkfile_wlog {
	struct blk_file f;
	struct blk_file *under;
	struct blk_wlog *log;
	pthread_mutex_t lock;   /* log order == execution order */
};

static struct blkfile_wlog *wlog_of(struct blk_file *f)
{
	return (struct blkfile_wlog *)f;
}

static const struct blk_file_ops wlog_ops;

const uint8_t *blk_file_mem_data(struct blk_file *f, size_t *len)
{
	while (f && f->ops == &wlog_ops)
		f = wlog_of(f)->under;
	if (!f || f->ops != &mem_ops) {
		*len = 0;
		return NULL;
	}
	*len = mem_of(f)->len;
	return mem_of(f)->data;
}

/* Room for one more entry; the caller fills v[n] and then bumps n. */
static int wlog_reserve(struct blk_wlog *log)
{
	if (log->n == log->cap) {
		size_t cap = log->cap ? log->cap * 2 : 64;
		struct blk_wlog_entry *v = realloc(log->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		log->v = v;
		log->cap = cap;
	}
	return 0;
}

/* Run op under the wrapper's lock and, if it worked, append the entry. */
static int wlog_record(struct blkfile_wlog *w, struct blk_wlog_entry e, int ret_op)
{
	if (ret_op) {
		free(e.data);
		return ret_op;
	}
	w->log->v[w->log->n++] = e;
	return 0;
}

static int wlog_pread(struct blk_file *f, void *buf, size_t len, uint64_t off)
{
	return blk_file_pread(wlog_of(f)->under, buf, len, off);
}

static int wlog_pwrite(struct blk_file *f, const void *buf, size_t len, uint64_t off)
{
	struct blkfile_wlog *w = wlog_of(f);
	struct blk_wlog_entry e = { .kind = BLK_WLOG_WRITE, .off = off, .len = len };
	int ret;

	e.data = malloc(len ? len : 1);
	if (!e.data)
		return -ENOMEM;
	memcpy(e.data, buf, len);
	pthread_mutex_lock(&w->lock);
	ret = wlog_reserve(w->log);
	if (!ret)
		ret = wlog_record(w, e, blk_file_pwrite(w->under, buf, len, off));
	else
		free(e.data);
	pthread_mutex_unlock(&w->lock);
	return ret;
}

/* FLUSH, TRUNCATE and PUNCH entries carry no data. */
static int wlog_simple(struct blk_file *f, enum blk_wlog_kind kind, uint64_t off, uint64_t len)
{
	struct blkfile_wlog *w = wlog_of(f);
	struct blk_wlog_entry e = { .kind = kind, .off = off, .len = len };
	struct blk_file *u = w->under;
	int ret;

	pthread_mutex_lock(&w->lock);
	ret = wlog_reserve(w->log);
	switch (kind) {
	case BLK_WLOG_FLUSH:
		ret = ret ? ret : wlog_record(w, e, u->ops->flush(u));
		break;
	case BLK_WLOG_TRUNCATE:
		ret = ret ? ret : wlog_record(w, e, u->ops->truncate(u, len));
		break;
	case BLK_WLOG_PUNCH:
		ret = ret ? ret : wlog_record(w, e, u->ops->punch(u, off, len));
		break;
	case BLK_WLOG_WRITE:
		ret = -EINVAL;
		break;
	}
	pthread_mutex_unlock(&w->lock);
	return ret;
}

static int wlog_flush(struct blk_file *f)
{
	return wlog_simple(f, BLK_WLOG_FLUSH, 0, 0);
}

static int wlog_truncate(struct blk_file *f, uint64_t size)
{
	return wlog_simple(f, BLK_WLOG_TRUNCATE, 0, size);
}

static int wlog_punch(struct blk_file *f, uint64_t off, uint64_t len)
{
	return wlog_simple(f, BLK_WLOG_PUNCH, off, len);
}

static int64_t wlog_size(struct blk_file *f)
{
	return blk_file_size(wlog_of(f)->under);
}

static int64_t wlog_allocated(struct blk_file *f)
{
	struct blk_file *u = wlog_of(f)->under;

	return u->ops->allocated(u);
}

static int wlog_lock(struct blk_file *f, unsigned perm, unsigned shared)
{
	struct blk_file *u = wlog_of(f)->under;

	return u->ops->lock ? u->ops->lock(u, perm, shared) : 0;
}

static int wlog_data_extent(struct blk_file *f, uint64_t off, uint64_t len, uint64_t *pnum,
			    bool *data)
{
	struct blk_file *u = wlog_of(f)->under;

	if (u->ops->data_extent)
		return u->ops->data_extent(u, off, len, pnum, data);
	*pnum = len;
	*data = true;
	return 0;
}

/* Space reservation is not logged: callers fall back to writing zeros,
 * which the log records like any other write. */
static int wlog_allocate(struct blk_file *f, uint64_t off, uint64_t len)
{
	return -EOPNOTSUPP;
}

static void wlog_close(struct blk_file *f)
{
	struct blkfile_wlog *w = wlog_of(f);

	blk_file_close(w->under);
	pthread_mutex_destroy(&w->lock);
	free(f->name);
	free(w);
}

static const struct blk_file_ops wlog_ops = {
	.name = "wlog",
	.pread = wlog_pread,
	.pwrite = wlog_pwrite,
	.flush = wlog_flush,
	.truncate = wlog_truncate,
	.punch = wlog_punch,
	.size = wlog_size,
	.allocated = wlog_allocated,
	.lock = wlog_lock,
	.close = wlog_close,
	.data_extent = wlog_data_extent,
	.allocate = wlog_allocate,
};

int blk_file_open_wlog(struct blk_file *under, struct blk_wlog *log, struct blk_file **out)
{
	struct blkfile_wlog *w;

	*out = NULL;
	if (!under || !log)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->f.name = strdup(under->name))) {
		free(w);
		return -ENOMEM;
	}
	pthread_mutex_init(&w->lock, NULL);
	w->f.ops = &wlog_ops;
	w->f.readonly = under->readonly;
	w->f.align = under->align;
	w->under = under;
	w->log = log;
	*out = &w->f;
	return 0;
}

void blk_wlog_free(struct blk_wlog *log)
{
	if (!log)
		return;
	for (size_t i = 0; i < log->n; i++)
		free(log->v[i].data);
	free(log->v);
	log->v = NULL;
	log->n = log->cap = 0;
}
