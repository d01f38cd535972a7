/* img_convert: `vmkit img convert [-U] [-c] [-p] [-q] [-n] [-f fmt]
 * [-O fmt] [-B backing [-F fmt]] [-o options] [-S sparse] SRC... DST`:
 * copy one or more images (concatenated) into a new image of any format.
 * Holes and zero runs found through block status and by scanning data in
 * -S granules are skipped, so sparse images stay sparse; -c writes whole
 * clusters compressed; -B copies only what the source's top image holds. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/util.h"

#define CONV_BUF (2u * 1024 * 1024)
#define CONV_MAX_SRC 64
#define CONV_SLOTS 4

struct conv_slot {
	uint8_t *buf;              /* CONV_BUF bytes */
	uint64_t doff;             /* where they go in the destination */
	size_t len;
};

struct conv_cmd {
	struct img_create_args c;
	const char *src_fmt;
	const char *files[CONV_MAX_SRC + 1];
	int nfiles;
	const char *optstrs[8];
	size_t nopt;
	const char *backing;
	const char *backing_fmt;
	uint64_t sparse;
	bool force_share;
	bool compress;
	bool progress;
	bool quiet;
	bool no_create;
	const char *cache;         /* -t: target cache mode; NULL = "unsafe" */
};

struct conv {
	struct blk *src[CONV_MAX_SRC];
	int nsrc;
	struct blk *dst;
	const char *dst_name;
	uint64_t total;
	bool target_zero;          /* destination reads zeros: zeros need no write */
	bool top_only;             /* -B: copy only what the source's top holds */
	bool compress;
	uint64_t sparse;           /* zero-detection granule; 0 = write everything */
	uint32_t cluster;          /* compression unit */
	uint8_t *zbuf;             /* CONV_BUF zero bytes (-S 0) */
	struct progress prog;
	uint64_t done;
	/* the writer thread and its ring of buffers */
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct conv_slot slots[CONV_SLOTS];
	unsigned head, queued;     /* queued buffers start at slots[head] */
	bool stop;
	int err;                   /* the writer's first error */
};

/* ---- extents ------------------------------------------------------------ */

int img_extent(struct blk *b, uint64_t off, uint64_t len, struct img_extent *e)
{
	struct blk *layer = b;
	unsigned depth = 0;

	memset(e, 0, sizeof(*e));
	for (;;) {
		uint64_t pnum, host = 0;
		unsigned st;
		int ret = blk_block_status(layer, off, len, &pnum, &st, &host);

		if (ret < 0)
			return ret;
		len = MIN(len, pnum);
		if ((st & BLK_STATUS_ALLOCATED) || !layer->backing) {
			e->len = len;
			e->status = st;
			e->layer = layer;
			e->depth = depth;
			e->host_off = host;
			e->zero = (st & BLK_STATUS_ZERO) || !(st & BLK_STATUS_ALLOCATED);
			return 0;
		}
		if (off >= layer->backing->size) {   /* past a shorter backing file */
			e->len = len;
			e->depth = depth + 1;
			e->zero = true;
			return 0;
		}
		len = MIN(len, layer->backing->size - off);
		layer = layer->backing;
		depth++;
	}
}

/* ---- the writer thread ---------------------------------------------------
 * The main thread reads the sources into a ring of buffers; a writer thread
 * writes them out (leaving out zero granules, or compressing clusters), so
 * reading and writing overlap. */

static int conv_err(struct conv *v, const char *what, uint64_t off, int ret)
{
	cli_error(IMG_PROG, "%s: error while %s at offset %" PRIu64 ": %s", v->dst_name, what,
		  off, strerror(-ret));
	return ret;
}

/* Zeros at [doff, doff+n) of the destination. */
static int conv_zero(struct conv *v, uint64_t doff, uint64_t n)
{
	int ret = 0;

	if (v->target_zero && v->sparse)
		return 0;
	if (v->sparse)
		ret = blk_write_zeroes(v->dst, doff, n, true);
	while (!v->sparse && ret == 0 && n) {
		size_t k = (size_t)MIN(n, (uint64_t)CONV_BUF);

		ret = blk_pwrite(v->dst, doff, v->zbuf, k);
		doff += k;
		n -= k;
	}
	return ret < 0 ? conv_err(v, "writing zeros", doff, ret) : 0;
}

/* Write buf to doff, leaving out granules that are all zero. */
static int conv_write_sparse(struct conv *v, const uint8_t *buf, uint64_t doff, size_t n)
{
	size_t i = 0;

	if (!v->sparse) {
		int ret = blk_pwrite(v->dst, doff, buf, n);

		return ret < 0 ? conv_err(v, "writing", doff, ret) : 0;
	}
	while (i < n) {
		size_t start = i;
		bool zero = false;
		int ret;

		/* Extend a run of granules that are all zero, or all not. */
		while (i < n) {
			size_t g = (size_t)MIN((uint64_t)(n - i),
					       v->sparse - (doff + i) % v->sparse);
			bool z = img_is_zero(buf + i, g);

			if (i != start && z != zero)
				break;
			zero = z;
			i += g;
		}
		if (zero)
			ret = conv_zero(v, doff + start, i - start);
		else
			ret = blk_pwrite(v->dst, doff + start, buf + start, i - start);
		if (ret < 0)
			return zero ? ret : conv_err(v, "writing", doff + start, ret);
	}
	return 0;
}

/* Whole clusters (the last one may be partial): zero ones are left out. */
static int conv_write_compressed(struct conv *v, const uint8_t *buf, uint64_t doff, size_t n)
{
	for (size_t i = 0; i < n; i += v->cluster) {
		size_t k = MIN((size_t)v->cluster, n - i);
		int ret;

		if (img_is_zero(buf + i, k)) {
			ret = conv_zero(v, doff + i, k);
		} else {
			pthread_mutex_lock(&v->dst->lock);
			ret = v->dst->drv->write_compressed(v->dst, doff + i, buf + i, k);
			pthread_mutex_unlock(&v->dst->lock);
			if (ret < 0)
				conv_err(v, "writing compressed data", doff + i, ret);
		}
		if (ret < 0)
			return ret;
	}
	return 0;
}

static void *conv_writer(void *arg)
{
	struct conv *v = arg;
	struct conv_slot *s;

	pthread_mutex_lock(&v->lock);
	for (;;) {
		bool failed;
		int ret = 0;

		while (!v->queued && !v->stop)
			pthread_cond_wait(&v->cond, &v->lock);
		if (!v->queued)
			break;
		s = &v->slots[v->head];
		failed = v->err != 0;
		pthread_mutex_unlock(&v->lock);
		if (!failed)   /* after an error, queued buffers are only dropped */
			ret = v->compress ? conv_write_compressed(v, s->buf, s->doff, s->len) :
					    conv_write_sparse(v, s->buf, s->doff, s->len);
		pthread_mutex_lock(&v->lock);
		if (ret < 0 && !v->err)
			v->err = ret;
		v->head = (v->head + 1) % CONV_SLOTS;
		v->queued--;
		pthread_cond_broadcast(&v->cond);
	}
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

/* The next free buffer (waits for the writer); the writer's error if it
 * failed. */
static int conv_slot_get(struct conv *v, struct conv_slot **out)
{
	int ret;

	pthread_mutex_lock(&v->lock);
	while (v->queued == CONV_SLOTS && !v->err)
		pthread_cond_wait(&v->cond, &v->lock);
	ret = v->err;
	*out = &v->slots[(v->head + v->queued) % CONV_SLOTS];
	pthread_mutex_unlock(&v->lock);
	return ret;
}

static void conv_slot_put(struct conv *v, uint64_t doff, size_t len)
{
	pthread_mutex_lock(&v->lock);
	v->slots[(v->head + v->queued) % CONV_SLOTS].doff = doff;
	v->slots[(v->head + v->queued) % CONV_SLOTS].len = len;
	v->queued++;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
}

/* Wait until the writer has written everything queued; its error, if any. */
static int conv_drain(struct conv *v)
{
	int ret;

	pthread_mutex_lock(&v->lock);
	while (v->queued)
		pthread_cond_wait(&v->cond, &v->lock);
	ret = v->err;
	pthread_mutex_unlock(&v->lock);
	return ret;
}

static void conv_stop_writer(struct conv *v)
{
	if (!v->writer_started)
		return;
	pthread_mutex_lock(&v->lock);
	v->stop = true;
	pthread_cond_broadcast(&v->cond);
	pthread_mutex_unlock(&v->lock);
	pthread_join(v->writer, NULL);
	v->writer_started = false;
}

/* ---- reading ---------------------------------------------------------------- */

/* Read [soff, soff+n) of src and queue it for doff. */
static int conv_data(struct conv *v, struct blk *src, uint64_t soff, uint64_t doff,
		     uint64_t n)
{
	while (n) {
		size_t k = (size_t)MIN(n, (uint64_t)CONV_BUF);
		struct conv_slot *s;
		int ret = conv_slot_get(v, &s);

		if (ret < 0)
			return ret;
		ret = blk_pread(src, soff, s->buf, k);
		if (ret < 0) {
			cli_error(IMG_PROG, "%s: error while reading at offset %" PRIu64 ": %s",
				  src->filename, soff, strerror(-ret));
			return ret;
		}
		conv_slot_put(v, doff, k);
		soff += k;
		doff += k;
		n -= k;
		v->done += k;
		progress_update(&v->prog, v->done);
	}
	return 0;
}

/* The next extent of src at off: *copy false means "leave it out" (-B and
 * not allocated in the source's top image). */
static int conv_next(struct conv *v, struct blk *src, uint64_t off, uint64_t *len,
		     bool *zero, bool *copy)
{
	struct img_extent e;
	int ret;

	if (v->top_only) {
		uint64_t pnum;
		unsigned st;

		ret = blk_block_status(src, off, *len, &pnum, &st, NULL);
		*len = pnum;
		*copy = (st & BLK_STATUS_ALLOCATED) != 0;
		*zero = (st & BLK_STATUS_ZERO) != 0;
	} else {
		ret = img_extent(src, off, *len, &e);
		*len = e.len;
		*copy = true;
		*zero = e.zero;
	}
	if (ret < 0)
		cli_error(IMG_PROG, "%s: cannot get the allocation status at offset %" PRIu64
			  ": %s", src->filename, off, strerror(-ret));
	return ret;
}

static int conv_plain(struct conv *v, struct blk *src, uint64_t base)
{
	uint64_t off = 0;
	int ret = 0;

	while (ret == 0 && off < src->size) {
		uint64_t len = src->size - off;
		bool zero, copy;

		ret = conv_next(v, src, off, &len, &zero, &copy);
		if (ret < 0)
			break;
		if (copy && !zero) {
			ret = conv_data(v, src, off, base + off, len);
		} else {
			if (copy)
				ret = conv_zero(v, base + off, len);
			v->done += len;
		}
		progress_update(&v->prog, v->done);
		off += len;
	}
	return ret;
}

/* Compressed output: whole destination clusters. Runs of whole clusters that
 * read as zeros (or are left out) are skipped; the rest is read in
 * cluster-aligned chunks. */
static int conv_compressed(struct conv *v, struct blk *src, uint64_t base)
{
	uint64_t off = 0;
	int ret = 0;

	while (ret == 0 && off < src->size) {
		uint64_t len = src->size - off, left = src->size - off;
		bool zero, copy;

		ret = conv_next(v, src, off, &len, &zero, &copy);
		if (ret < 0)
			break;
		if ((zero || !copy) && len >= v->cluster) {
			len = ALIGN_DOWN(len, v->cluster);
			if (copy)
				ret = conv_zero(v, base + off, len);
			v->done += len;
		} else {
			len = MIN(MIN(ALIGN_UP(len, v->cluster), (uint64_t)CONV_BUF), left);
			ret = conv_data(v, src, off, base + off, len);
		}
		progress_update(&v->prog, v->done);
		off += len;
	}
	return ret;
}

/* ---- set-up ------------------------------------------------------------- */

static int conv_parse_opt(struct conv_cmd *m, int id, const char *arg)
{
	switch (id) {
	case 'f': m->src_fmt = arg; break;
	case 'O': m->c.fmt = arg; break;
	case 'B': m->backing = arg; break;
	case 'F': m->backing_fmt = arg; break;
	case 'U': m->force_share = true; break;
	case 'c': m->compress = true; break;
	case 'p': m->progress = true; break;
	case 'q': m->quiet = true; break;
	case 'n': m->no_create = true; break;
	case 'W': case 'm': case 'T': break;  /* accepted; no effect here */
	case 't':
		if (strcmp(arg, "unsafe") && strcmp(arg, "writeback") && strcmp(arg, "none") &&
		    strcmp(arg, "writethrough") && strcmp(arg, "directsync"))
			return cli_usage_error(IMG_PROG, "Invalid cache option: %s", arg), -EINVAL;
		m->cache = arg;
		break;
	case 'S':
		if (cli_parse_size(arg, &m->sparse) < 0 || m->sparse % BLK_SECTOR ||
		    m->sparse > CONV_BUF)
			return cli_usage_error(IMG_PROG, "Invalid buffer size for sparse output "
					       "specified: '%s' (a multiple of 512 up to 2M)",
					       arg), -EINVAL;
		break;
	case 'o':
		if (m->nopt == ARRAY_SIZE(m->optstrs))
			return cli_usage_error(IMG_PROG, "too many -o options"), -EINVAL;
		m->optstrs[m->nopt++] = arg;
		break;
	case CLIOPT_POSITIONAL:
		if (m->nfiles == CONV_MAX_SRC + 1)
			return cli_usage_error(IMG_PROG, "too many images (at most %d sources)",
					       CONV_MAX_SRC), -EINVAL;
		m->files[m->nfiles++] = arg;
		break;
	}
	return 0;
}

static int conv_parse(int argc, char **argv, struct conv_cmd *m)
{
	static const struct cliopt opts[] = {
		{ 'f', NULL, CLIOPT_ARG }, { 'O', NULL, CLIOPT_ARG }, { 'B', NULL, CLIOPT_ARG },
		{ 'F', NULL, CLIOPT_ARG }, { 'o', NULL, CLIOPT_ARG }, { 'S', NULL, CLIOPT_ARG },
		{ 'm', NULL, CLIOPT_ARG }, { 't', NULL, CLIOPT_ARG }, { 'T', NULL, CLIOPT_ARG },
		{ 'U', "force-share", CLIOPT_NO_ARG }, { 'c', NULL, CLIOPT_NO_ARG },
		{ 'p', NULL, CLIOPT_NO_ARG }, { 'q', NULL, CLIOPT_NO_ARG },
		{ 'n', NULL, CLIOPT_NO_ARG }, { 'W', NULL, CLIOPT_NO_ARG },
		{ 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id;

	m->sparse = 4096;
	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		if (id == CLIOPT_ERROR)
			return -EINVAL;
		if (id == 'h')
			return 1;
		if (conv_parse_opt(m, id, s.arg) < 0)
			return -EINVAL;
	}
	if (!m->c.fmt)
		m->c.fmt = "raw";
	if (m->nfiles == 0)
		return cli_usage_error(IMG_PROG, "Must specify image file name"), -EINVAL;
	if (m->nfiles == 1)
		return cli_usage_error(IMG_PROG, "Expecting a source and an output image"),
		       -EINVAL;
	if (m->backing && m->no_create)
		return cli_usage_error(IMG_PROG, "-B makes no sense with -n (the target exists)"),
		       -EINVAL;
	return 0;
}

static int conv_open_sources(struct conv *v, const struct conv_cmd *m)
{
	struct img_open_args a = { .fmt = m->src_fmt, .force_share = m->force_share };

	for (int i = 0; i < m->nfiles - 1; i++) {
		int ret = img_open(m->files[i], &a, &v->src[i]);

		if (ret < 0)
			return ret;
		v->nsrc++;
		v->total += v->src[i]->size;
	}
	return 0;
}

/* Options of the new image: -o, -B/-F, the size of all sources. */
static int conv_create_args(struct conv_cmd *m, struct conv *v)
{
	struct img_create_args *c = &m->c;
	const char *out = v->dst_name;

	if (!blk_driver_find(c->fmt)) {
		cli_error(IMG_PROG, "%s: Unknown file format '%s'", out, c->fmt);
		return -EINVAL;
	}
	for (size_t i = 0; i < m->nopt; i++) {
		if (img_parse_create_options(out, m->optstrs[i], c) < 0)
			return -EINVAL;
	}
	if (c->help)
		return 0;
	if (c->have_size) {
		cli_error(IMG_PROG, "%s: the size of the new image is the source's; no -o size",
			  out);
		return -EINVAL;
	}
	if (m->backing)
		c->o.backing_file = m->backing;
	if (m->backing_fmt)
		c->o.backing_format = m->backing_fmt;
	if (c->o.backing_file && !c->o.backing_format) {
		cli_error(IMG_PROG, "%s: Backing file specified without backing format (-F)", out);
		return -EINVAL;
	}
	c->o.size = ALIGN_UP(v->total, BLK_SECTOR);
	return img_create_args_check(out, c);
}

/* ---- the target file in qemu-img convert's default cache mode ("unsafe"):
 * flushes are skipped (the kernel writes the data back later); metadata is
 * still written in the driver's order. */

struct conv_file {
	struct blk_file f;
	struct blk_file *under;
};

static struct blk_file *cf_under(struct blk_file *f)
{
	return ((struct conv_file *)f)->under;
}

static int cf_pread(struct blk_file *f, void *buf, size_t len, uint64_t off)
{
	return blk_file_pread(cf_under(f), buf, len, off);
}

static int cf_pwrite(struct blk_file *f, const void *buf, size_t len, uint64_t off)
{
	return blk_file_pwrite(cf_under(f), buf, len, off);
}

static int cf_flush(struct blk_file *f)
{
	return 0;
}

static int cf_truncate(struct blk_file *f, uint64_t size)
{
	return cf_under(f)->ops->truncate(cf_under(f), size);
}

static int cf_punch(struct blk_file *f, uint64_t off, uint64_t len)
{
	return cf_under(f)->ops->punch(cf_under(f), off, len);
}

static int64_t cf_size(struct blk_file *f)
{
	return blk_file_size(cf_under(f));
}

static int64_t cf_allocated(struct blk_file *f)
{
	return cf_under(f)->ops->allocated(cf_under(f));
}

static int cf_lock(struct blk_file *f, unsigned perm, unsigned shared)
{
	struct blk_file *u = cf_under(f);

	return u->ops->lock ? u->ops->lock(u, perm, shared) : 0;
}

static int cf_data_extent(struct blk_file *f, uint64_t off, uint64_t len, uint64_t *pnum,
			  bool *data)
{
	struct blk_file *u = cf_under(f);

	if (u->ops->data_extent)
		return u->ops->data_extent(u, off, len, pnum, data);
	*pnum = len;
	*data = true;
	return 0;
}

static int cf_allocate(struct blk_file *f, uint64_t off, uint64_t len)
{
	struct blk_file *u = cf_under(f);

	return u->ops->allocate ? u->ops->allocate(u, off, len) : -EOPNOTSUPP;
}

static void cf_close(struct blk_file *f)
{
	blk_file_close(cf_under(f));
	free(f->name);
	free(f);
}

static const struct blk_file_ops conv_file_ops = {
	.name = "convert-unsafe",
	.pread = cf_pread, .pwrite = cf_pwrite, .flush = cf_flush, .truncate = cf_truncate,
	.punch = cf_punch, .size = cf_size, .allocated = cf_allocated, .lock = cf_lock,
	.close = cf_close, .data_extent = cf_data_extent, .allocate = cf_allocate,
};

/* Open the target with flushes skipped: 0 or -errno (logged). */
static int conv_open_unsafe(const char *path, const struct blk_open_opts *o,
			    struct blk **out)
{
	struct conv_file *w = calloc(1, sizeof(*w));
	struct blk_file *under;
	int ret;

	if (!w || !(w->f.name = strdup(path))) {
		free(w);
		return -ENOMEM;
	}
	ret = blk_file_open_posix(path, BLK_FILE_RDWR, &under);
	if (ret < 0) {
		free(w->f.name);
		free(w);
		return ret;
	}
	w->f.ops = &conv_file_ops;
	w->f.align = under->align;
	w->under = under;
	return blk_open_file(&w->f, o, out);
}

/* Creating (truncating) or writing an image that is being read loses it:
 * refuse an output that is one of the inputs or in their backing chains. */
static int conv_check_output(struct conv *v)
{
	struct stat out, in;

	if (stat(v->dst_name, &out) < 0)
		return 0;
	for (int i = 0; i < v->nsrc; i++) {
		for (struct blk *b = v->src[i]; b; b = b->backing) {
			if (stat(b->filename, &in) == 0 && in.st_dev == out.st_dev &&
			    in.st_ino == out.st_ino) {
				cli_error(IMG_PROG, "%s: the output image is also an input (%s); "
					  "refusing to overwrite it", v->dst_name, b->filename);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int conv_open_target(struct conv_cmd *m, struct conv *v)
{
	struct img_open_args a = {
		.fmt = m->c.fmt, .writable = true, .backing_fmt = m->c.o.backing_format,
		.no_backing = !m->c.o.backing_file,
	};
	int ret;

	ret = conv_check_output(v);
	if (ret < 0)
		return ret;
	if (!m->no_create) {
		ret = blk_create(v->dst_name, m->c.fmt, &m->c.o);
		if (ret < 0) {
			cli_error(IMG_PROG, "%s: cannot create: %s", v->dst_name, strerror(-ret));
			return ret;
		}
	}
	if (m->cache && strcmp(m->cache, "unsafe") != 0) {
		a.direct = !strcmp(m->cache, "none") || !strcmp(m->cache, "directsync");
		ret = img_open(v->dst_name, &a, &v->dst);
	} else {
		struct blk_open_opts o = { .format = a.fmt, .no_backing = a.no_backing,
					   .backing_format = a.backing_fmt };

		ret = conv_open_unsafe(v->dst_name, &o, &v->dst);
	}
	if (ret < 0)
		return ret;
	if (v->dst->size < v->total) {
		cli_error(IMG_PROG, "%s: Output image is too small (%" PRIu64 " bytes for %" PRIu64
			  ")", v->dst_name, v->dst->size, v->total);
		return -ENOSPC;
	}
	return 0;
}

static int conv_prepare(struct conv_cmd *m, struct conv *v)
{
	v->target_zero = !m->no_create && !m->c.o.backing_file;
	v->top_only = m->c.o.backing_file != NULL;
	v->sparse = m->sparse;
	v->compress = m->compress;
	v->zbuf = calloc(1, CONV_BUF);
	if (!v->zbuf)
		return -ENOMEM;
	for (unsigned i = 0; i < CONV_SLOTS; i++) {
		v->slots[i].buf = malloc(CONV_BUF);
		if (!v->slots[i].buf)
			return -ENOMEM;
	}
	if (!v->compress)
		return 0;
	if (!v->dst->drv->write_compressed) {
		cli_error(IMG_PROG, "%s: Compression not supported for format %s", v->dst_name,
			  v->dst->drv->format);
		return -ENOTSUP;
	}
	v->cluster = img_cluster_size(v->dst);
	if (!v->cluster || v->cluster > CONV_BUF)
		return -EINVAL;
	for (int i = 0; i + 1 < v->nsrc; i++) {
		if (v->src[i]->size % v->cluster) {
			cli_error(IMG_PROG, "%s: -c with several sources needs each one a whole "
				  "number of %u-byte clusters", v->src[i]->filename, v->cluster);
			return -EINVAL;
		}
	}
	return 0;
}

static int conv_run(struct conv *v, bool progress)
{
	uint64_t base = 0;
	int drained, ret = -pthread_create(&v->writer, NULL, conv_writer, v);

	if (ret < 0)
		return ret;
	v->writer_started = true;
	progress_init(&v->prog, progress, v->total);
	for (int i = 0; ret == 0 && i < v->nsrc; i++) {
		ret = v->compress ? conv_compressed(v, v->src[i], base) :
				    conv_plain(v, v->src[i], base);
		base += v->src[i]->size;
	}
	drained = conv_drain(v);
	if (ret == 0)
		ret = drained;
	if (ret == 0) {
		ret = blk_flush(v->dst);
		if (ret < 0)
			cli_error(IMG_PROG, "%s: flush failed: %s", v->dst_name, strerror(-ret));
	}
	if (ret == 0)
		progress_finish(&v->prog);
	return ret;
}

int img_cmd_convert(int argc, char **argv)
{
	struct conv_cmd m = { 0 };
	struct conv v = { 0 };
	int ret;

	pthread_mutex_init(&v.lock, NULL);
	pthread_cond_init(&v.cond, NULL);
	ret = conv_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("convert") : IMG_EXIT_ERR;
	v.dst_name = m.files[m.nfiles - 1];
	ret = conv_open_sources(&v, &m);
	if (ret == 0)
		ret = conv_create_args(&m, &v);
	if (ret == 0 && m.c.help) {
		img_create_opts_help(m.c.fmt);
		goto out;
	}
	if (ret == 0)
		ret = conv_open_target(&m, &v);
	if (ret == 0)
		ret = conv_prepare(&m, &v);
	if (ret == 0)
		ret = conv_run(&v, m.progress && !m.quiet);
out:
	conv_stop_writer(&v);
	blk_close(v.dst);
	for (int i = 0; i < v.nsrc; i++)
		blk_close(v.src[i]);
	for (unsigned i = 0; i < CONV_SLOTS; i++)
		free(v.slots[i].buf);
	free(v.zbuf);
	pthread_cond_destroy(&v.cond);
	pthread_mutex_destroy(&v.lock);
	img_create_args_free(&m.c);
	return ret < 0 ? IMG_EXIT_ERR : 0;
}
