/* img_bench: the hidden `vmkit img bench` verb, qemu-img bench's options on
 * vmkit's block layer: COUNT requests of SIZE bytes, DEPTH in flight through
 * blk_aio_submit, starting at OFFSET and moving by STEP (wrapping at the end
 * of the image, so a large step gives a scattered pattern). Used by
 * bench/img to compare the drivers with qemu-img bench on the same image. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"

#define BENCH_MAX_DEPTH 1024
#define BENCH_MAX_BUF (64u << 20)

struct bench_cmd {
	struct img_open_args a;
	const char *file;
	uint64_t count, depth, offset, bufsize, step, flush_every, pattern;
	bool write;
	bool direct;                /* -t none: O_DIRECT */
	bool quiet;
};

struct bench_slot {
	struct blk_req req;
	struct iovec iov;
	struct bench *bn;
};

struct bench {
	const struct bench_cmd *m;
	struct blk *b;
	struct bench_slot *slots;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct bench_slot **done;   /* completed slots waiting for reuse */
	size_t ndone;
	int err;
	uint64_t next_off;
};

static void bench_done(struct blk_req *req, int ret)
{
	struct bench_slot *s = req->opaque;
	struct bench *bn = s->bn;

	pthread_mutex_lock(&bn->lock);
	if (ret < 0 && !bn->err)
		bn->err = ret;
	bn->done[bn->ndone++] = s;
	pthread_cond_signal(&bn->cond);
	pthread_mutex_unlock(&bn->lock);
}

static struct bench_slot *bench_wait(struct bench *bn)
{
	struct bench_slot *s;

	pthread_mutex_lock(&bn->lock);
	while (!bn->ndone)
		pthread_cond_wait(&bn->cond, &bn->lock);
	s = bn->done[--bn->ndone];
	pthread_mutex_unlock(&bn->lock);
	return s;
}

static int bench_submit(struct bench *bn, struct bench_slot *s)
{
	uint64_t size = bn->b->size, len = bn->m->bufsize;

	s->req.op = bn->m->write ? BLK_OP_WRITE : BLK_OP_READ;
	s->req.off = bn->next_off;
	s->req.iov = &s->iov;
	s->req.iovcnt = 1;
	s->req.done = bench_done;
	s->req.opaque = s;
	bn->next_off = (bn->next_off + bn->m->step) % size;
	if (bn->next_off + len > size)
		bn->next_off = 0;
	return blk_aio_submit(bn->b, &s->req);
}

struct bench_run {
	uint64_t submitted, completed, inflight, last_flush;
	struct bench_slot **free;   /* slots not in flight */
	size_t nfree;
};

/* One completion: its slot becomes free. 0 or the first error so far. */
static int bench_reap(struct bench *bn, struct bench_run *r)
{
	r->free[r->nfree++] = bench_wait(bn);
	r->inflight--;
	r->completed++;
	return bn->err;
}

static int bench_drain(struct bench *bn, struct bench_run *r)
{
	while (r->inflight)
		bench_reap(bn, r);
	return bn->err;
}

static int bench_loop(struct bench *bn, struct bench_run *r)
{
	const struct bench_cmd *m = bn->m;
	int ret = 0;

	while (r->completed < m->count) {
		while (r->inflight < m->depth && r->submitted < m->count) {
			ret = bench_submit(bn, r->free[--r->nfree]);
			if (ret < 0)
				return bench_drain(bn, r), ret;
			r->inflight++;
			r->submitted++;
		}
		ret = bench_reap(bn, r);
		if (ret < 0)
			return bench_drain(bn, r), ret;
		if (m->flush_every && r->completed - r->last_flush >= m->flush_every) {
			ret = bench_drain(bn, r);
			r->last_flush = r->completed;
			if (ret == 0)
				ret = blk_flush(bn->b);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

static int bench_parse_num(const char *opt, const char *arg, uint64_t min, uint64_t max,
			   bool size, uint64_t *out)
{
	int ret = size ? cli_parse_size(arg, out) : util_parse_uint(arg, min, max, out);

	if (ret == 0 && (*out < min || *out > max))
		ret = -ERANGE;
	if (ret < 0)
		return cli_usage_error(IMG_PROG, "Invalid %s '%s'", opt, arg), -EINVAL;
	return 0;
}

static int bench_opt(struct bench_cmd *m, int id, const char *arg)
{
	enum { OPT_FLUSH = CLIOPT_LONG, OPT_PATTERN, OPT_NODRAIN };

	switch (id) {
	case 'c': return bench_parse_num("request count", arg, 1, UINT32_MAX, false, &m->count);
	case 'd': return bench_parse_num("queue depth", arg, 1, BENCH_MAX_DEPTH, false,
					 &m->depth);
	case 'o': return bench_parse_num("offset", arg, 0, BLK_MAX_SIZE, true, &m->offset);
	case 's': return bench_parse_num("buffer size", arg, 1, BENCH_MAX_BUF, true,
					 &m->bufsize);
	case 'S': return bench_parse_num("step size", arg, 0, BLK_MAX_SIZE, true, &m->step);
	case OPT_FLUSH: return bench_parse_num("flush interval", arg, 0, UINT32_MAX, false,
					       &m->flush_every);
	case OPT_PATTERN: return bench_parse_num("pattern", arg, 0, 255, false, &m->pattern);
	case 'f': m->a.fmt = arg; break;
	case 'w': m->write = true; break;
	case 'n': break;   /* native AIO: the block layer has its own workers */
	case 't':
		if (strcmp(arg, "none") == 0 || strcmp(arg, "directsync") == 0)
			m->direct = true;
		else if (strcmp(arg, "writeback") && strcmp(arg, "unsafe") &&
			 strcmp(arg, "writethrough"))
			return cli_usage_error(IMG_PROG, "Invalid cache mode '%s'", arg), -EINVAL;
		break;
	case 'q': m->quiet = true; break;
	case 'U': m->a.force_share = true; break;
	case 'i': case OPT_NODRAIN: break;
	case CLIOPT_POSITIONAL:
		if (img_take_file(&m->file, arg) < 0)
			return -EINVAL;
		break;
	}
	return 0;
}

static int bench_parse(int argc, char **argv, struct bench_cmd *m)
{
	static const struct cliopt opts[] = {
		{ 'c', NULL, CLIOPT_ARG }, { 'd', NULL, CLIOPT_ARG }, { 'f', NULL, CLIOPT_ARG },
		{ 'o', NULL, CLIOPT_ARG }, { 's', NULL, CLIOPT_ARG }, { 'S', NULL, CLIOPT_ARG },
		{ 'i', NULL, CLIOPT_ARG }, { 't', NULL, CLIOPT_ARG },
		{ 'w', NULL, CLIOPT_NO_ARG }, { 'n', NULL, CLIOPT_NO_ARG },
		{ 'q', NULL, CLIOPT_NO_ARG }, { 'U', "force-share", CLIOPT_NO_ARG },
		{ CLIOPT_LONG, "flush-interval", CLIOPT_ARG },
		{ CLIOPT_LONG + 1, "pattern", CLIOPT_ARG },
		{ CLIOPT_LONG + 2, "no-drain", CLIOPT_NO_ARG },
		{ 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id;

	m->count = 75000;
	m->depth = 64;
	m->bufsize = 4096;
	m->step = UINT64_MAX;
	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		if (id == CLIOPT_ERROR)
			return -EINVAL;
		if (id == 'h')
			return 1;
		if (bench_opt(m, id, s.arg) < 0)
			return -EINVAL;
	}
	if (img_need_file(m->file) < 0)
		return -EINVAL;
	if (m->step == UINT64_MAX)
		m->step = m->bufsize;
	return 0;
}

static int bench_setup(struct bench *bn, struct bench_run *r)
{
	const struct bench_cmd *m = bn->m;

	if (m->bufsize > bn->b->size || m->offset > bn->b->size - m->bufsize) {
		cli_error(IMG_PROG, "%s: requests of %" PRIu64 " bytes at offset %" PRIu64
			  " do not fit the image (%" PRIu64 " bytes)", m->file, m->bufsize,
			  m->offset, bn->b->size);
		return -EINVAL;
	}
	bn->next_off = m->offset;
	bn->slots = calloc(m->depth, sizeof(*bn->slots));
	bn->done = calloc(m->depth, sizeof(*bn->done));
	r->free = calloc(m->depth, sizeof(*r->free));
	if (!bn->slots || !bn->done || !r->free)
		return -ENOMEM;
	for (uint64_t i = 0; i < m->depth; i++) {
		struct bench_slot *s = &bn->slots[i];

		if (posix_memalign(&s->iov.iov_base, 4096, m->bufsize))
			return -ENOMEM;
		memset(s->iov.iov_base, (int)m->pattern, m->bufsize);
		s->iov.iov_len = m->bufsize;
		s->bn = bn;
		r->free[r->nfree++] = s;
	}
	return 0;
}

static void bench_free(struct bench *bn, struct bench_run *r)
{
	for (uint64_t i = 0; bn->slots && i < bn->m->depth; i++)
		free(bn->slots[i].iov.iov_base);
	free(bn->slots);
	free(bn->done);
	free(r->free);
}

static int bench_go(struct bench *bn)
{
	const struct bench_cmd *m = bn->m;
	struct bench_run r = { 0 };
	uint64_t t0;
	int ret = bench_setup(bn, &r);

	if (ret == 0) {
		if (!m->quiet) {
			printf("Sending %" PRIu64 " %s requests, %" PRIu64 " bytes each, %" PRIu64
			       " in parallel (starting at offset %" PRIu64 ", step size %" PRIu64
			       ")\n", m->count, m->write ? "write" : "read", m->bufsize, m->depth,
			       m->offset, m->step);
			if (m->flush_every)
				printf("Sending flush every %" PRIu64 " requests\n", m->flush_every);
			fflush(stdout);
		}
		t0 = util_now_ns();
		ret = bench_loop(bn, &r);
		/* like qemu-img bench: the final flush (at close) is not timed */
		if (ret == 0 && !m->quiet)
			printf("Run completed in %3.3f seconds.\n",
			       (double)(util_now_ns() - t0) / 1e9);
		if (ret == 0 && m->write)
			ret = blk_flush(bn->b);
		if (ret < 0)
			cli_error(IMG_PROG, "%s: request failed: %s", m->file, strerror(-ret));
	}
	bench_free(bn, &r);
	return ret;
}

int img_cmd_bench(int argc, char **argv)
{
	struct bench_cmd m = { 0 };
	struct bench bn = { .m = &m };
	int ret;

	ret = bench_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("bench") : IMG_EXIT_ERR;
	m.a.writable = m.write;
	m.a.direct = m.direct;
	ret = img_open(m.file, &m.a, &bn.b);
	if (ret < 0)
		return IMG_EXIT_ERR;
	pthread_mutex_init(&bn.lock, NULL);
	pthread_cond_init(&bn.cond, NULL);
	ret = bench_go(&bn);
	blk_close(bn.b);
	pthread_cond_destroy(&bn.cond);
	pthread_mutex_destroy(&bn.lock);
	return ret < 0 ? IMG_EXIT_ERR : 0;
}
