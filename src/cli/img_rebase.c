/* img_rebase: `vmkit img rebase [-u] -b NEW [-F fmt] FILE` (safe mode
 * copies into FILE every cluster it does not hold whose content differs
 * between the old and the new backing file, then points the header at NEW;
 * -u only rewrites the header) and `vmkit img commit [-b base] [-d] FILE`
 * (writes what FILE and the images down to base hold into base, then
 * empties FILE unless -d or -b). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"

#define RB_BUF (1u << 20)
#define RB_CHUNK (1ULL << 30)
#define COMMIT_MAX_LAYERS BLK_MAX_CHAIN

/* ---- rebase ------------------------------------------------------------- */

struct rb_cmd {
	const char *fmt;
	const char *file;
	const char *backing;        /* NULL: remove the backing reference */
	const char *backing_fmt;
	bool have_b;
	bool unsafe;
	bool force_share;
	bool progress;
	bool quiet;
};

struct rb {
	const struct rb_cmd *m;
	struct blk *top;
	struct blk *newb;           /* NULL: no new backing (reads zeros) */
	uint8_t *old_buf, *new_buf;
	uint32_t cluster;
	struct progress prog;
};

static int rb_parse(int argc, char **argv, struct rb_cmd *m)
{
	static const struct cliopt opts[] = {
		{ 'f', NULL, CLIOPT_ARG }, { 'b', NULL, CLIOPT_ARG }, { 'F', NULL, CLIOPT_ARG },
		{ 't', NULL, CLIOPT_ARG }, { 'T', NULL, CLIOPT_ARG },
		{ 'u', NULL, CLIOPT_NO_ARG }, { 'U', "force-share", CLIOPT_NO_ARG },
		{ 'p', NULL, CLIOPT_NO_ARG }, { 'q', NULL, CLIOPT_NO_ARG },
		{ 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id;

	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		switch (id) {
		case CLIOPT_ERROR: return -EINVAL;
		case 'h': return 1;
		case 'f': m->fmt = s.arg; break;
		case 'b': m->backing = s.arg[0] ? s.arg : NULL; m->have_b = true; break;
		case 'F': m->backing_fmt = s.arg; break;
		case 't': case 'T': break;
		case 'u': m->unsafe = true; break;
		case 'U': m->force_share = true; break;
		case 'p': m->progress = true; break;
		case 'q': m->quiet = true; break;
		case CLIOPT_POSITIONAL:
			if (img_take_file(&m->file, s.arg) < 0)
				return -EINVAL;
			break;
		}
	}
	if (img_need_file(m->file) < 0)
		return -EINVAL;
	if (!m->have_b && !m->unsafe)
		return cli_usage_error(IMG_PROG, "Must specify backing file (-b) or use unsafe "
				       "mode (-u)"), -EINVAL;
	return 0;
}

static int rb_set_backing(struct blk *b, const struct rb_cmd *m)
{
	int ret = -ENOTSUP;

	if (b->drv->set_backing) {
		pthread_mutex_lock(&b->lock);
		ret = b->drv->set_backing(b, m->backing, m->backing ? m->backing_fmt : NULL);
		pthread_mutex_unlock(&b->lock);
	}
	if (ret == 0)
		ret = blk_flush(b);
	if (ret < 0)
		cli_error(IMG_PROG, "%s: Could not change the backing file to '%s': %s", m->file,
			  m->backing ? m->backing : "", ret == -ENOTSUP ?
			  "format has no backing files" : strerror(-ret));
	return ret;
}

/* Clusters of [off, off+n) (not held by the top) that differ between the
 * old and new backing are copied into the top from the old one. */
static int rb_copy_run(struct rb *r, uint64_t off, uint64_t n)
{
	while (n) {
		size_t k = (size_t)MIN(n, (uint64_t)RB_BUF);
		int ret = blk_pread(r->top, off, r->old_buf, k);

		if (ret == 0)
			ret = r->newb ? img_read(r->newb, off, r->new_buf, k) :
					(memset(r->new_buf, 0, k), 0);
		for (size_t i = 0; ret == 0 && i < k; i += r->cluster) {
			size_t c = MIN((size_t)r->cluster, k - i);

			if (memcmp(r->old_buf + i, r->new_buf + i, c) != 0)
				ret = blk_pwrite(r->top, off + i, r->old_buf + i, c);
		}
		if (ret < 0) {
			cli_error(IMG_PROG, "%s: error while rebasing at offset %" PRIu64 ": %s",
				  r->m->file, off, strerror(-ret));
			return ret;
		}
		off += k;
		n -= k;
		progress_update(&r->prog, off);
	}
	return 0;
}

static int rb_copy(struct rb *r)
{
	uint64_t off = 0, size = r->top->size;

	progress_init(&r->prog, r->m->progress && !r->m->quiet, size);
	while (off < size) {
		uint64_t pnum;
		unsigned st;
		int ret = blk_block_status(r->top, off, MIN(size - off, RB_CHUNK), &pnum, &st,
					   NULL);

		if (ret < 0) {
			cli_error(IMG_PROG, "%s: cannot get the allocation status at offset %"
				  PRIu64 ": %s", r->m->file, off, strerror(-ret));
			return ret;
		}
		/* Runs are cluster aligned except at the image's end. */
		if (!(st & BLK_STATUS_ALLOCATED)) {
			ret = rb_copy_run(r, off, pnum);
			if (ret < 0)
				return ret;
		}
		off += pnum;
		progress_update(&r->prog, off);
	}
	progress_finish(&r->prog);
	return 0;
}

static int rb_open_new(struct rb *r)
{
	struct img_open_args a = { .fmt = r->m->backing_fmt, .force_share = r->m->force_share };
	char *path;
	int ret;

	if (!r->m->backing)
		return 0;
	path = img_backing_path(r->m->file, r->m->backing);
	if (!path)
		return -ENOMEM;
	ret = img_open(path, &a, &r->newb);
	if (ret < 0)
		cli_error(IMG_PROG, "%s: Could not open new backing file '%s'", r->m->file, path);
	for (struct blk *b = r->newb; ret == 0 && b; b = b->backing) {
		if (img_same_file(b->filename, r->m->file)) {
			cli_error(IMG_PROG, "%s: the new backing chain (%s) contains the image "
				  "itself", r->m->file, path);
			ret = -ELOOP;
		}
	}
	free(path);
	return ret;
}

static int rb_safe(struct rb_cmd *m)
{
	struct img_open_args a = { .fmt = m->fmt, .writable = true };
	struct rb r = { .m = m };
	int ret;

	ret = img_open(m->file, &a, &r.top);
	if (ret < 0)
		return ret;
	ret = rb_open_new(&r);
	if (ret < 0)
		goto out;
	r.cluster = img_cluster_size(r.top);
	if (!r.cluster || r.cluster > RB_BUF || !r.top->drv->set_backing) {
		ret = rb_set_backing(r.top, m);   /* reports the missing support */
		goto out;
	}
	r.old_buf = malloc(RB_BUF);
	r.new_buf = malloc(RB_BUF);
	ret = r.old_buf && r.new_buf ? rb_copy(&r) : -ENOMEM;
	if (ret == 0)
		ret = rb_set_backing(r.top, m);
out:
	free(r.old_buf);
	free(r.new_buf);
	blk_close(r.newb);
	blk_close(r.top);
	return ret;
}

/* -u cannot look down the new chain, but it can refuse the image itself. */
static int rb_not_self(const struct rb_cmd *m)
{
	char *path;
	bool self;

	if (!m->backing)
		return 0;
	path = img_backing_path(m->file, m->backing);
	if (!path)
		return -ENOMEM;
	self = img_same_file(path, m->file);
	free(path);
	if (self)
		cli_error(IMG_PROG, "%s: an image cannot be its own backing file", m->file);
	return self ? -ELOOP : 0;
}

int img_cmd_rebase(int argc, char **argv)
{
	struct rb_cmd m = { 0 };
	struct img_open_args a = { .writable = true, .no_backing = true };
	struct blk *b = NULL;
	int ret;

	ret = rb_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("rebase") : IMG_EXIT_ERR;
	if (m.backing && !m.backing_fmt) {
		cli_error(IMG_PROG, "%s: Could not change the backing file to '%s': the backing "
			  "format must be given (-F)", m.file, m.backing);
		return IMG_EXIT_ERR;
	}
	if (!m.unsafe)
		return rb_safe(&m) < 0 ? IMG_EXIT_ERR : 0;
	a.fmt = m.fmt;
	ret = rb_not_self(&m);
	if (ret == 0)
		ret = img_open(m.file, &a, &b);
	if (ret == 0)
		ret = rb_set_backing(b, &m);
	blk_close(b);
	return ret < 0 ? IMG_EXIT_ERR : 0;
}

/* ---- commit ------------------------------------------------------------- */

struct commit_cmd {
	const char *fmt;
	const char *file;
	const char *base;           /* -b: commit down to this image */
	bool drop;                  /* -d: keep the top's data */
	bool progress;
	bool quiet;
};

struct commit {
	const struct commit_cmd *m;
	struct blk *layer[COMMIT_MAX_LAYERS];   /* top first, above base */
	int nlayers;
	struct blk *base;
	uint8_t *buf;
	struct progress prog;
};

static int commit_parse(int argc, char **argv, struct commit_cmd *m)
{
	static const struct cliopt opts[] = {
		{ 'f', NULL, CLIOPT_ARG }, { 'b', NULL, CLIOPT_ARG }, { 't', NULL, CLIOPT_ARG },
		{ 'r', NULL, CLIOPT_ARG }, { 'd', NULL, CLIOPT_NO_ARG },
		{ 'p', NULL, CLIOPT_NO_ARG }, { 'q', NULL, CLIOPT_NO_ARG },
		{ 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id;

	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		switch (id) {
		case CLIOPT_ERROR: return -EINVAL;
		case 'h': return 1;
		case 'f': m->fmt = s.arg; break;
		case 'b': m->base = s.arg; break;
		case 't': case 'r': break;
		case 'd': m->drop = true; break;
		case 'p': m->progress = true; break;
		case 'q': m->quiet = true; break;
		case CLIOPT_POSITIONAL:
			if (img_take_file(&m->file, s.arg) < 0)
				return -EINVAL;
			break;
		}
	}
	return img_need_file(m->file);
}

/* Is path the same file as the image b's backing reference points at? */
static bool commit_is_base(const char *want, const char *path)
{
	char *a = realpath(want, NULL), *b = realpath(path, NULL);
	bool same = a && b && strcmp(a, b) == 0;

	free(a);
	free(b);
	return same;
}

/* Open the next layer below cur: base (read-write, with its own chain,
 * which commit leaves alone) or one more layer above it (read-only, alone). */
static int commit_open_next(struct commit *c, struct blk *cur, bool *done)
{
	struct img_open_args n = { .fmt = cur->backing_fmt, .no_backing = true };
	char *path;
	int ret;

	if (!cur->backing_name) {
		cli_error(IMG_PROG, "%s: %s", c->m->file, cur == c->layer[0] ?
			  "Image does not have a backing file" :
			  "-b names no image of the backing chain");
		return -EINVAL;
	}
	if (!cur->backing_fmt) {
		cli_error(IMG_PROG, "%s: the format of backing file '%s' is not recorded",
			  cur->filename, cur->backing_name);
		return -EINVAL;
	}
	path = img_backing_path(cur->filename, cur->backing_name);
	if (!path)
		return -ENOMEM;
	*done = !c->m->base || commit_is_base(c->m->base, path);
	if (*done) {
		n.writable = true;
		n.no_backing = false;
		ret = img_open(path, &n, &c->base);
	} else if (c->nlayers == COMMIT_MAX_LAYERS) {
		cli_error(IMG_PROG, "%s: backing chain deeper than %d images", c->m->file,
			  COMMIT_MAX_LAYERS);
		ret = -ELOOP;
	} else {
		ret = img_open(path, &n, &c->layer[c->nlayers]);
		if (ret == 0)
			c->nlayers++;
	}
	free(path);
	return ret;
}

static int commit_open(struct commit *c)
{
	struct img_open_args a = { .fmt = c->m->fmt, .writable = !c->m->drop && !c->m->base,
				   .no_backing = true };
	bool done = false;
	int ret = img_open(c->m->file, &a, &c->layer[0]);

	if (ret < 0)
		return ret;
	c->nlayers = 1;
	while (ret == 0 && !done)
		ret = commit_open_next(c, c->layer[c->nlayers - 1], &done);
	return ret;
}

/* *who: the topmost layer above base that decides [off, off+*len), or -1
 * when none does (base has it). *len shrinks to the run. */
static int commit_owner(struct commit *c, uint64_t off, uint64_t *len, int *who, bool *zero)
{
	*who = -1;
	for (int i = 0; i < c->nlayers; i++) {
		struct blk *l = c->layer[i];
		uint64_t pnum;
		unsigned st;
		int ret;

		if (off >= l->size) {   /* past a shorter layer: reads zeros */
			*zero = true;
			*who = i;
			return 0;
		}
		ret = blk_block_status(l, off, MIN(*len, l->size - off), &pnum, &st, NULL);
		if (ret < 0)
			return ret;
		*len = pnum;
		if (st & BLK_STATUS_ALLOCATED) {
			*zero = (st & BLK_STATUS_ZERO) != 0;
			*who = i;
			return 0;
		}
	}
	return 0;
}

static int commit_copy(struct commit *c, struct blk *from, uint64_t off, uint64_t n)
{
	while (n) {
		size_t k = (size_t)MIN(n, (uint64_t)RB_BUF);
		int ret = blk_pread(from, off, c->buf, k);

		if (ret < 0) {
			cli_error(IMG_PROG, "%s: error while reading at offset %" PRIu64 ": %s",
				  from->filename, off, strerror(-ret));
			return ret;
		}
		ret = blk_pwrite(c->base, off, c->buf, k);
		if (ret < 0) {
			cli_error(IMG_PROG, "%s: error while writing at offset %" PRIu64 ": %s",
				  c->base->filename, off, strerror(-ret));
			return ret;
		}
		off += k;
		n -= k;
	}
	return 0;
}

static int commit_run(struct commit *c)
{
	uint64_t size = c->layer[0]->size, off = 0;

	progress_init(&c->prog, c->m->progress && !c->m->quiet, size);
	while (off < size) {
		uint64_t len = MIN(size - off, RB_CHUNK);
		bool zero = false;
		int who, ret = commit_owner(c, off, &len, &who, &zero);

		if (ret < 0) {
			cli_error(IMG_PROG, "%s: cannot get the allocation status at offset %"
				  PRIu64 ": %s", c->m->file, off, strerror(-ret));
			return ret;
		}
		if (who >= 0 && zero)
			ret = blk_write_zeroes(c->base, off, len, false);
		else if (who >= 0)
			ret = commit_copy(c, c->layer[who], off, len);
		if (ret < 0)
			return ret;
		off += len;
		progress_update(&c->prog, off);
	}
	progress_finish(&c->prog);
	return blk_flush(c->base);
}

static int commit_empty_top(struct commit *c)
{
	struct blk *top = c->layer[0];
	int ret = 0;

	if (c->m->drop || c->m->base || !top->drv->make_empty)
		return 0;
	pthread_mutex_lock(&top->lock);
	ret = top->drv->make_empty(top);
	pthread_mutex_unlock(&top->lock);
	if (ret == 0)
		ret = blk_flush(top);
	if (ret < 0)
		cli_error(IMG_PROG, "%s: committed, but could not empty the image: %s",
			  c->m->file, strerror(-ret));
	return ret;
}

int img_cmd_commit(int argc, char **argv)
{
	struct commit_cmd m = { 0 };
	struct commit c = { .m = &m };
	int ret;

	ret = commit_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("commit") : IMG_EXIT_ERR;
	ret = commit_open(&c);
	if (ret == 0 && c.base->size < c.layer[0]->size) {
		ret = blk_resize(c.base, c.layer[0]->size);
		if (ret < 0)
			cli_error(IMG_PROG, "%s: cannot grow the base image to %" PRIu64 " bytes: %s",
				  c.base->filename, c.layer[0]->size, strerror(-ret));
	}
	if (ret == 0) {
		c.buf = malloc(RB_BUF);
		ret = c.buf ? commit_run(&c) : -ENOMEM;
	}
	if (ret == 0)
		ret = commit_empty_top(&c);
	if (ret == 0 && !m.quiet)
		printf("Image committed.\n");
	free(c.buf);
	blk_close(c.base);
	for (int i = 0; i < c.nlayers; i++)
		blk_close(c.layer[i]);
	return ret < 0 ? IMG_EXIT_ERR : 0;
}
