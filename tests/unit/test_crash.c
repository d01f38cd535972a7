/* test_crash: crash consistency of the qcow2 driver. A seeded random
 * workload (allocating writes, COW from a raw backing file, zero writes,
 * discard, internal snapshots, resize, flushes) runs on a qcow2 image whose
 * file is wrapped by the write-logging backend. The log is then replayed
 * onto the freshly created image, cut at every flush and at random points
 * after a flush with the un-flushed writes dropped and reordered. Every
 * replayed image must open, pass the driver's check with leaks at most (and
 * `qemu-img check` for a sample, exit 0 or 3), and hold every write that was
 * acknowledged before the last completed flush. A self-test shows the
 * verifier catches a lost write. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "block/block.h"
#include "common/log.h"
#include "common/util.h"

#define CR_MAX_SIZE (8u << 20)      /* virtual size bound of the workload */
#define CR_MAX_FILE (96u << 20)     /* image file bound while replaying */
#define CR_SECTORS (CR_MAX_SIZE / BLK_SECTOR)
#define CR_MAX_SNAPS 4
#define CR_QEMU_CHECKS 10

struct cr_cfg {
	uint64_t seed;
	uint32_t cluster;
	unsigned compat;
	uint64_t size;              /* initial virtual size = backing file size */
	unsigned nops;
	unsigned random_cuts;       /* random-tail cuts per flush cut (average x100) */
};

struct cr_state {                    /* guest-visible content of the image */
	uint8_t *data;
	uint8_t *known;             /* per sector: content known (not discarded) */
	uint64_t size;
	uint64_t cap;               /* bytes allocated at data */
};

struct cr_ckpt {                     /* a completed guest flush */
	size_t logpos;              /* log entries written when it returned */
	size_t next_op;             /* first guest op after it */
	struct cr_state st;
};

struct cr_op {                       /* what a guest op may change */
	size_t logstart;
	uint64_t off, len;          /* dirty range; len 0: none */
	bool all;                   /* everything (snapshot apply) */
	uint64_t new_size;          /* resize: the size it sets */
};

struct cr_snap {
	char name[16];
	struct cr_state st;
};

struct cr {
	struct cr_cfg cfg;
	char dir[64], top[96], base[96], replay[96];
	struct blk_wlog log;
	struct blk *b;
	struct cr_state cur;
	uint8_t *init;
	size_t init_len;
	struct cr_ckpt *ck;
	size_t nck;
	struct cr_op *ops;
	size_t nops;
	struct cr_snap snaps[CR_MAX_SNAPS];
	unsigned nsnaps, snap_seq;
	uint64_t rng;
	unsigned qemu_checks, verified, qemu_every;
	bool qemu_now;              /* qemu-img check the next verified image */
	unsigned n_snap_create, n_snap_apply, n_snap_delete, n_resize, n_discard;
	bool have_qemu;
	uint8_t *dirty;             /* scratch: per sector */
	uint8_t *rbuf;              /* scratch: reads */
};

struct cr_fbuf {                     /* an image file being rebuilt in memory */
	uint8_t *d;
	size_t len, cap;
};

/* ---- helpers ------------------------------------------------------------ */

static uint64_t cr_rand(struct cr *c)
{
	c->rng ^= c->rng << 13;
	c->rng ^= c->rng >> 7;
	c->rng ^= c->rng << 17;
	return c->rng;
}

static uint64_t cr_below(struct cr *c, uint64_t n)
{
	return n ? cr_rand(c) % n : 0;
}

static void cr_fill(struct cr *c, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(cr_rand(c) >> 24);
}

static void cr_state_alloc(struct cr_state *s, uint64_t cap)
{
	s->data = realloc(s->data, (size_t)cap);
	s->known = realloc(s->known, (size_t)(cap / BLK_SECTOR));
	assert_non_null(s->data);
	assert_non_null(s->known);
	s->cap = cap;
}

/* Copies keep only src->size bytes: checkpoints are many. */
static void cr_state_copy(struct cr_state *dst, const struct cr_state *src)
{
	if (dst->cap < src->size)
		cr_state_alloc(dst, src->size);
	memcpy(dst->data, src->data, (size_t)src->size);
	memcpy(dst->known, src->known, (size_t)(src->size / BLK_SECTOR));
	dst->size = src->size;
}

static void cr_state_free(struct cr_state *s)
{
	free(s->data);
	free(s->known);
	s->data = s->known = NULL;
}

static void cr_write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(util_write_all(fd, buf, len), 0);
	close(fd);
}

static bool cr_qemu_img_present(void)
{
	return system("qemu-img --version >/dev/null 2>&1") == 0;
}

/* `qemu-img check`: its exit status (0 clean, 3 leaks only), or -1. */
static int cr_qemu_check(const char *path)
{
	pid_t pid = fork();
	int st;

	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		execlp("qemu-img", "qemu-img", "check", "-f", "qcow2", path, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- set-up --------------------------------------------------------------- */

static void cr_setup(struct cr *c, const struct cr_cfg *cfg)
{
	struct blk_create_opts co = {
		.size = cfg->size, .backing_file = "base.raw", .backing_format = "raw",
		.cluster_size = cfg->cluster, .compat = cfg->compat,
	};
	struct blk_open_opts oo = { .format = "qcow2" };
	struct blk_file *f, *w;
	uint8_t *base;

	memset(c, 0, sizeof(*c));
	c->cfg = *cfg;
	c->rng = cfg->seed * 0x9e3779b97f4a7c15ULL + 1;
	strcpy(c->dir, "/var/tmp/vmkit-test-crash-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->top, sizeof(c->top), "%s/top.qcow2", c->dir);
	snprintf(c->base, sizeof(c->base), "%s/base.raw", c->dir);
	snprintf(c->replay, sizeof(c->replay), "%s/replay.qcow2", c->dir);
	c->have_qemu = cr_qemu_img_present();
	c->dirty = calloc(1, CR_SECTORS);
	c->rbuf = malloc(CR_MAX_SIZE);
	assert_non_null(c->dirty);
	assert_non_null(c->rbuf);

	/* the backing file: random data with a hole, the model starts from it */
	cr_state_alloc(&c->cur, CR_MAX_SIZE);
	base = c->cur.data;
	cr_fill(c, base, (size_t)cfg->size);
	memset(base + cfg->size / 4, 0, (size_t)cfg->size / 8);
	memset(c->cur.known, 1, CR_SECTORS);
	c->cur.size = cfg->size;
	cr_write_file(c->base, base, (size_t)cfg->size);

	assert_int_equal(blk_create(c->top, "qcow2", &co), 0);
	assert_int_equal(util_read_file(c->top, CR_MAX_FILE, &c->init, &c->init_len), 0);
	assert_int_equal(blk_file_open_posix(c->top, BLK_FILE_RDWR | BLK_FILE_NOLOCK, &f), 0);
	assert_int_equal(blk_file_open_wlog(f, &c->log, &w), 0);
	assert_int_equal(blk_open_file(w, &oo, &c->b), 0);
}

static void cr_teardown(struct cr *c)
{
	char cmd[128];

	blk_close(c->b);
	blk_wlog_free(&c->log);
	for (size_t i = 0; i < c->nck; i++)
		cr_state_free(&c->ck[i].st);
	for (unsigned i = 0; i < c->nsnaps; i++)
		cr_state_free(&c->snaps[i].st);
	cr_state_free(&c->cur);
	free(c->ck);
	free(c->ops);
	free(c->init);
	free(c->dirty);
	free(c->rbuf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- the workload --------------------------------------------------------- */

static void cr_checkpoint(struct cr *c)
{
	struct cr_ckpt *k;

	c->ck = realloc(c->ck, (c->nck + 1) * sizeof(*c->ck));
	assert_non_null(c->ck);
	k = &c->ck[c->nck++];
	memset(k, 0, sizeof(*k));
	k->logpos = c->log.n;
	k->next_op = c->nops;
	/* a flush that returned has nothing left un-flushed behind it */
	if (c->nck > 1)
		assert_true(c->log.n > 0 && c->log.v[c->log.n - 1].kind == BLK_WLOG_FLUSH);
	cr_state_copy(&k->st, &c->cur);
}

static struct cr_op *cr_op_begin(struct cr *c)
{
	struct cr_op *o;

	c->ops = realloc(c->ops, (c->nops + 1) * sizeof(*c->ops));
	assert_non_null(c->ops);
	o = &c->ops[c->nops++];
	memset(o, 0, sizeof(*o));
	o->logstart = c->log.n;
	return o;
}

static void cr_mark(struct cr_state *s, uint64_t off, uint64_t len, uint8_t known)
{
	memset(s->known + off / BLK_SECTOR, known, len / BLK_SECTOR);
}

/* A sector-aligned range, often cluster-sized and cluster-aligned. */
static void cr_range(struct cr *c, uint64_t *off, uint64_t *len)
{
	uint64_t size = c->cur.size, cl = c->cfg.cluster;

	if (cr_below(c, 2)) {
		*off = cr_below(c, size / cl) * cl;
		*len = MIN((1 + cr_below(c, 3)) * cl, size - *off);
	} else {
		*off = cr_below(c, size / BLK_SECTOR) * BLK_SECTOR;
		*len = MIN((1 + cr_below(c, 2 * cl / BLK_SECTOR)) * BLK_SECTOR, size - *off);
	}
}

static void cr_do_write(struct cr *c)
{
	struct cr_op *o = cr_op_begin(c);

	cr_range(c, &o->off, &o->len);
	cr_fill(c, c->rbuf, (size_t)o->len);
	assert_int_equal(blk_pwrite(c->b, o->off, c->rbuf, (size_t)o->len), 0);
	memcpy(c->cur.data + o->off, c->rbuf, (size_t)o->len);
	cr_mark(&c->cur, o->off, o->len, 1);
}

static void cr_do_zero_or_discard(struct cr *c, bool discard)
{
	struct cr_op *o = cr_op_begin(c);

	cr_range(c, &o->off, &o->len);
	if (discard) {
		assert_int_equal(blk_discard(c->b, o->off, o->len), 0);
		c->n_discard++;
		cr_mark(&c->cur, o->off, o->len, 0);   /* may read anything now */
		return;
	}
	assert_int_equal(blk_write_zeroes(c->b, o->off, o->len, cr_below(c, 2)), 0);
	memset(c->cur.data + o->off, 0, (size_t)o->len);
	cr_mark(&c->cur, o->off, o->len, 1);
}

static int cr_snap_call(struct cr *c, int (*fn)(struct blk *, const char *), const char *n)
{
	int ret;

	pthread_mutex_lock(&c->b->lock);
	ret = fn(c->b, n);
	pthread_mutex_unlock(&c->b->lock);
	return ret;
}

static void cr_do_snapshot(struct cr *c)
{
	const struct blk_driver *d = c->b->drv;
	unsigned pick = (unsigned)cr_below(c, 3);
	struct cr_op *o = cr_op_begin(c);
	struct cr_snap *s;

	if (pick == 0 && c->nsnaps < CR_MAX_SNAPS) {          /* create */
		s = &c->snaps[c->nsnaps];
		snprintf(s->name, sizeof(s->name), "s%u", c->snap_seq++);
		assert_int_equal(cr_snap_call(c, d->snapshot_create, s->name), 0);
		cr_state_copy(&s->st, &c->cur);
		c->nsnaps++;
		c->n_snap_create++;
	} else if (pick == 1 && c->nsnaps) {                   /* apply */
		s = &c->snaps[cr_below(c, c->nsnaps)];
		assert_int_equal(cr_snap_call(c, d->snapshot_apply, s->name), 0);
		cr_state_copy(&c->cur, &s->st);
		assert_int_equal(c->b->size, c->cur.size);
		o->all = true;
		c->n_snap_apply++;
	} else if (c->nsnaps) {                                /* delete */
		unsigned i = (unsigned)cr_below(c, c->nsnaps);

		assert_int_equal(cr_snap_call(c, d->snapshot_delete, c->snaps[i].name), 0);
		c->n_snap_delete++;
		cr_state_free(&c->snaps[i].st);
		c->snaps[i] = c->snaps[--c->nsnaps];
		memset(&c->snaps[c->nsnaps], 0, sizeof(c->snaps[0]));
	}
}

static void cr_do_resize(struct cr *c)
{
	uint64_t grow = (1 + cr_below(c, 4)) * c->cfg.cluster;
	struct cr_op *o;
	int ret;

	if (c->cur.size + grow > CR_MAX_SIZE)
		return;
	o = cr_op_begin(c);
	o->new_size = c->cur.size + grow;
	ret = blk_resize(c->b, o->new_size);
	if (ret == -ENOTSUP) {   /* e.g. not with snapshots: nothing changed */
		o->new_size = 0;
		return;
	}
	assert_int_equal(ret, 0);
	c->n_resize++;
	/* the new part reads zeros: past the backing file's end */
	memset(c->cur.data + c->cur.size, 0, (size_t)grow);
	cr_mark(&c->cur, c->cur.size, grow, 1);
	c->cur.size = o->new_size;
}

static void cr_workload(struct cr *c)
{
	cr_checkpoint(c);   /* the created image: reads as the backing file */
	c->ck[0].logpos = 0;
	for (unsigned i = 0; i < c->cfg.nops; i++) {
		unsigned r = (unsigned)cr_below(c, 100);

		if (r < 50)
			cr_do_write(c);
		else if (r < 58)
			cr_do_zero_or_discard(c, false);
		else if (r < 66)
			cr_do_zero_or_discard(c, true);
		else if (r < 72)
			cr_do_snapshot(c);
		else if (r < 75)
			cr_do_resize(c);
		else if (r < 90)
			continue;
		else {
			assert_int_equal(blk_flush(c->b), 0);
			cr_checkpoint(c);
		}
	}
	assert_int_equal(blk_flush(c->b), 0);
	cr_checkpoint(c);
	blk_close(c->b);   /* a clean close may still write: all of it is logged */
	c->b = NULL;
}

/* ---- replay ---------------------------------------------------------------- */

static void cr_fbuf_size(struct cr_fbuf *f, uint64_t len)
{
	assert_true(len <= CR_MAX_FILE);
	if (len > f->cap) {
		size_t cap = (size_t)MAX(len, (uint64_t)f->cap * 2);

		f->d = realloc(f->d, cap);
		assert_non_null(f->d);
		f->cap = cap;
	}
	if (len > f->len)
		memset(f->d + f->len, 0, (size_t)len - f->len);
	f->len = (size_t)len;
}

static void cr_apply(struct cr_fbuf *f, const struct blk_wlog_entry *e)
{
	switch (e->kind) {
	case BLK_WLOG_WRITE:
		assert_true(e->off + e->len <= CR_MAX_FILE);
		if (e->off + e->len > f->len)
			cr_fbuf_size(f, e->off + e->len);
		memcpy(f->d + e->off, e->data, (size_t)e->len);
		break;
	case BLK_WLOG_TRUNCATE:
		cr_fbuf_size(f, e->len);
		break;
	case BLK_WLOG_PUNCH:
		if (e->off < f->len)
			memset(f->d + e->off, 0, (size_t)MIN(e->len, f->len - e->off));
		break;
	case BLK_WLOG_FLUSH:
		break;
	}
}

/* The latest guest checkpoint made durable by log entries [0, applied). */
static const struct cr_ckpt *cr_durable(const struct cr *c, size_t applied)
{
	const struct cr_ckpt *k = &c->ck[0];

	for (size_t i = 1; i < c->nck; i++) {
		if (c->ck[i].logpos <= applied)
			k = &c->ck[i];
	}
	return k;
}

/* Sectors that guest ops after k (up to log position end) may have changed;
 * and whether one of them was a resize to *sizes. Returns true for "all". */
static bool cr_dirty(struct cr *c, const struct cr_ckpt *k, size_t end, uint64_t *sizes,
		     size_t *nsizes)
{
	bool all = false;

	memset(c->dirty, 0, CR_SECTORS);
	*nsizes = 0;
	for (size_t i = k->next_op; i < c->nops && c->ops[i].logstart < end; i++) {
		const struct cr_op *o = &c->ops[i];

		all |= o->all;
		if (o->len)
			memset(c->dirty + o->off / BLK_SECTOR, 1, o->len / BLK_SECTOR);
		if (o->new_size && *nsizes < 64)
			sizes[(*nsizes)++] = o->new_size;
	}
	return all;
}

static unsigned cr_compare(struct cr *c, struct blk *b, const struct cr_ckpt *k, bool all)
{
	uint64_t n = MIN(b->size, k->st.size);
	unsigned bad = 0;

	if (all || n == 0)
		return 0;
	assert_int_equal(blk_pread(b, 0, c->rbuf, (size_t)n), 0);
	for (uint64_t s = 0; s < n / BLK_SECTOR; s++) {
		if (c->dirty[s] || !k->st.known[s])
			continue;
		if (memcmp(c->rbuf + s * BLK_SECTOR, k->st.data + s * BLK_SECTOR, BLK_SECTOR)) {
			if (!bad)
				print_message("    sector %" PRIu64 " lost an acknowledged write\n", s);
			bad++;
		}
	}
	return bad;
}

/* `qemu-img check` on a spread sample of the replayed images: leaks at most. */
static unsigned cr_maybe_qemu_check(struct cr *c, size_t applied, size_t end)
{
	int st;

	if (!c->have_qemu || !(c->qemu_now || (c->qemu_checks < CR_QEMU_CHECKS &&
					       c->verified % c->qemu_every == c->qemu_every / 2)))
		return 0;
	st = cr_qemu_check(c->replay);
	c->qemu_checks++;
	if (st == 0 || st == 3)
		return 0;
	print_message("    qemu-img check: exit %d at cut %zu..%zu\n", st, applied, end);
	return 1;
}

/* Open the replayed file, check it, compare: number of problems found. */
static unsigned cr_verify(struct cr *c, const struct cr_fbuf *f, size_t applied, size_t end)
{
	struct blk_open_opts oo = { .format = "qcow2", .readonly = true };
	const struct cr_ckpt *k = cr_durable(c, applied);
	uint64_t sizes[64];
	size_t nsizes;
	bool all = cr_dirty(c, k, end, sizes, &nsizes), size_ok;
	struct blk_check res = { 0 };
	struct blk *b;
	unsigned bad = 0;

	cr_write_file(c->replay, f->d, f->len);
	if (blk_open(c->replay, &oo, &b) < 0) {
		print_message("    replay cut at %zu..%zu does not open\n", applied, end);
		return 1;
	}
	pthread_mutex_lock(&b->lock);
	assert_int_equal(b->drv->check(b, &res, 0), 0);
	pthread_mutex_unlock(&b->lock);
	if (res.corruptions || res.check_errors) {
		print_message("    replay cut at %zu..%zu: %" PRIu64 " corruptions, %" PRIu64
			      " check errors\n", applied, end, res.corruptions, res.check_errors);
		bad++;
	}
	size_ok = b->size == k->st.size;
	for (size_t i = 0; i < nsizes; i++)
		size_ok |= b->size == sizes[i];
	if (!size_ok && !all) {
		print_message("    replay cut at %zu..%zu: size %" PRIu64 ", expected %" PRIu64
			      "\n", applied, end, b->size, k->st.size);
		bad++;
	}
	bad += cr_compare(c, b, k, all);
	blk_close(b);
	bad += cr_maybe_qemu_check(c, applied, end);
	c->verified++;
	return bad;
}

/* After the durable prefix: a random part of the entries up to the next
 * flush, applied in a random order. */
static unsigned cr_random_tail(struct cr *c, const struct cr_fbuf *prefix, size_t from,
			       size_t to, struct cr_fbuf *tmp)
{
	size_t n = to - from, *idx;
	unsigned bad;

	if (!n)
		return 0;
	idx = malloc(n * sizeof(*idx));
	assert_non_null(idx);
	cr_fbuf_size(tmp, 0);
	cr_fbuf_size(tmp, prefix->len);
	memcpy(tmp->d, prefix->d, prefix->len);
	for (size_t i = 0; i < n; i++)
		idx[i] = from + i;
	for (size_t i = n; i > 1; i--) {    /* shuffle */
		size_t j = (size_t)cr_below(c, i), t = idx[i - 1];

		idx[i - 1] = idx[j];
		idx[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		if (cr_below(c, 3))               /* keep about two thirds */
			cr_apply(tmp, &c->log.v[idx[i]]);
	}
	bad = cr_verify(c, tmp, from, to);
	free(idx);
	return bad;
}

static size_t cr_next_flush(const struct cr *c, size_t from)
{
	while (from < c->log.n && c->log.v[from].kind != BLK_WLOG_FLUSH)
		from++;
	return from;
}

/* Cut at every flush (and before the first), with random tails. */
static unsigned cr_replay_all(struct cr *c, size_t drop)
{
	struct cr_fbuf prefix = { 0 }, tmp = { 0 };
	size_t applied = 0, nflush = 0;
	unsigned bad = 0;

	for (size_t i = 0; i < c->log.n; i++)
		nflush += c->log.v[i].kind == BLK_WLOG_FLUSH;
	/* spread the qemu-img checks over the whole replay */
	c->qemu_every = (unsigned)MAX(1u, (nflush + nflush * c->cfg.random_cuts / 100) /
				      CR_QEMU_CHECKS);
	cr_fbuf_size(&prefix, c->init_len);
	memcpy(prefix.d, c->init, c->init_len);
	for (;;) {
		size_t fl = cr_next_flush(c, applied);

		if (cr_below(c, 100) < c->cfg.random_cuts && fl > applied)
			bad += cr_random_tail(c, &prefix, applied,
					      applied + 1 + (size_t)cr_below(c, fl - applied), &tmp);
		if (fl == c->log.n)
			break;
		for (; applied <= fl; applied++) {
			if (applied != drop)
				cr_apply(&prefix, &c->log.v[applied]);
		}
		bad += cr_verify(c, &prefix, applied, applied);
		if (drop != SIZE_MAX && bad)
			break;
	}
	/* everything: the image as the clean close left it */
	for (; applied < c->log.n; applied++)
		cr_apply(&prefix, &c->log.v[applied]);
	c->qemu_now = true;
	bad += cr_verify(c, &prefix, applied, applied);
	c->qemu_now = false;
	free(prefix.d);
	free(tmp.d);
	return bad;
}

/* ---- tests ---------------------------------------------------------------- */

static bool cr_qcow2_ready(void)
{
	const struct blk_driver *d = blk_driver_find("qcow2");

	return d && d->create && d->open && d->writev && d->check && d->snapshot_create &&
	       d->snapshot_apply && d->snapshot_delete && d->discard && d->resize;
}

static void cr_run(const struct cr_cfg *cfg)
{
	struct cr c;
	unsigned bad;

	if (!cr_qcow2_ready()) {
		print_message("qcow2 driver incomplete: skipped\n");
		skip();
	}
	cr_setup(&c, cfg);
	cr_workload(&c);
	print_message("    seed %" PRIu64 ": %zu guest ops (snapshots: %u created, %u applied, "
		      "%u deleted; %u resizes, %u discards), %zu flush checkpoints, %zu log "
		      "entries\n", cfg->seed, c.nops, c.n_snap_create, c.n_snap_apply,
		      c.n_snap_delete, c.n_resize, c.n_discard, c.nck, c.log.n);
	assert_true(c.n_snap_create && c.n_snap_apply && c.n_snap_delete && c.n_resize &&
		    c.n_discard);
	bad = cr_replay_all(&c, SIZE_MAX);
	print_message("    %u replayed images verified (%u by qemu-img), %u problems\n",
		      c.verified, c.qemu_checks, bad);
	assert_int_equal(bad, 0);
	assert_true(c.verified > c.nck);
	cr_teardown(&c);
}

static void test_crash_4k_v3(void **state)
{
	const struct cr_cfg cfg = { .seed = 1, .cluster = 4096, .compat = 3, .size = 2u << 20,
				    .nops = 500, .random_cuts = 60 };

	cr_run(&cfg);
}

static void test_crash_64k_v3(void **state)
{
	const struct cr_cfg cfg = { .seed = 2, .cluster = 65536, .compat = 3,
				    .size = 4u << 20, .nops = 400, .random_cuts = 60 };

	cr_run(&cfg);
}

static void test_crash_512_v2(void **state)
{
	const struct cr_cfg cfg = { .seed = 3, .cluster = 512, .compat = 2, .size = 1u << 20,
				    .nops = 400, .random_cuts = 40 };

	cr_run(&cfg);
}

/* The verifier itself: dropping a data write that a completed flush made
 * durable must be caught. */
static void test_crash_verifier_catches_lost_write(void **state)
{
	const struct cr_cfg cfg = { .seed = 4, .cluster = 4096, .compat = 3, .size = 1u << 20,
				    .nops = 60, .random_cuts = 0 };
	struct cr c;
	size_t drop = SIZE_MAX;

	if (!cr_qcow2_ready())
		skip();
	cr_setup(&c, &cfg);
	/* one known write, flushed */
	memset(c.rbuf, 0xa5, 4096);
	cr_checkpoint(&c);
	c.ck[0].logpos = 0;
	cr_op_begin(&c);
	assert_int_equal(blk_pwrite(c.b, 8192, c.rbuf, 4096), 0);
	memset(c.cur.data + 8192, 0xa5, 4096);
	assert_int_equal(blk_flush(c.b), 0);
	cr_checkpoint(&c);
	blk_close(c.b);
	c.b = NULL;
	for (size_t i = 0; i < c.log.n && drop == SIZE_MAX; i++) {
		const struct blk_wlog_entry *e = &c.log.v[i];

		if (e->kind == BLK_WLOG_WRITE && e->len >= 4096 && e->data[0] == 0xa5 &&
		    e->data[4095] == 0xa5)
			drop = i;
	}
	assert_int_not_equal(drop, SIZE_MAX);
	assert_true(cr_replay_all(&c, drop) > 0);
	cr_teardown(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_verifier_catches_lost_write),
		cmocka_unit_test(test_crash_4k_v3),
		cmocka_unit_test(test_crash_64k_v3),
		cmocka_unit_test(test_crash_512_v2),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
