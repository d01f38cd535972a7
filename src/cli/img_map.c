/* img_map: `vmkit img map` (the allocation map of an image and its backing
 * chain, human or qemu-img's JSON lines) and `vmkit img compare` (content
 * comparison of two images through their chains; exit 0 identical,
 * 1 different, 2 error). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"

#define MAP_CHUNK (1ULL << 30)     /* block status queries ask for at most this */
#define CMP_BUF (1u << 20)
#define CMP_EXIT_DIFFERENT 1
#define CMP_EXIT_ERR 2

/* ---- map ---------------------------------------------------------------- */

struct map_entry {
	uint64_t start, length, offset;
	unsigned depth;
	bool present, zero, data, has_offset;
	const char *file;
};

struct map_cmd {
	struct img_open_args a;
	const char *file;
	uint64_t start;
	uint64_t max_len;
	bool json;
};

static void map_entry_from(struct map_entry *m, uint64_t off, const struct img_extent *e)
{
	memset(m, 0, sizeof(*m));
	m->start = off;
	m->length = e->len;
	m->depth = e->depth;
	m->present = e->layer && (e->status & BLK_STATUS_ALLOCATED);
	m->zero = e->zero;
	m->data = e->layer && (e->status & BLK_STATUS_DATA) && !e->zero;
	m->has_offset = e->layer && (e->status & BLK_STATUS_OFFSET);
	m->offset = e->host_off;
	m->file = e->layer ? e->layer->filename : NULL;
}

/* Can next be folded into cur (same kind, contiguous on the host too)? */
static bool map_mergeable(const struct map_entry *cur, const struct map_entry *next)
{
	if (cur->depth != next->depth || cur->present != next->present ||
	    cur->zero != next->zero || cur->data != next->data ||
	    cur->has_offset != next->has_offset || cur->file != next->file)
		return false;
	return !cur->has_offset || cur->offset + cur->length == next->offset;
}

/* One entry; -EINVAL for data the human form cannot show (compressed). */
static int map_print(const struct map_entry *m, bool json, bool first)
{
	if (json) {
		printf("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": %u, "
		       "\"present\": %s, \"zero\": %s, \"data\": %s", first ? "[" : ",\n",
		       m->start, m->length, m->depth, m->present ? "true" : "false",
		       m->zero ? "true" : "false", m->data ? "true" : "false");
		if (m->has_offset)
			printf(", \"offset\": %" PRIu64, m->offset);
		printf("}");
		return 0;
	}
	if (m->data && !m->has_offset) {
		fflush(stdout);
		cli_error(IMG_PROG, "%s: the image has compressed clusters, which have no offset "
			  "to show (use --output=json)", m->file);
		return -EINVAL;
	}
	if (m->data)
		printf("%#-16" PRIx64 "%#-16" PRIx64 "%#-16" PRIx64 "%s\n", m->start, m->length,
		       m->offset, m->file);
	return 0;
}

static int map_parse(int argc, char **argv, struct map_cmd *m)
{
	enum { OPT_OUTPUT = CLIOPT_LONG, OPT_START, OPT_MAXLEN };
	static const struct cliopt opts[] = {
		{ 'f', NULL, CLIOPT_ARG }, { 'U', "force-share", CLIOPT_NO_ARG },
		{ OPT_OUTPUT, "output", CLIOPT_ARG }, { OPT_START, "start-offset", CLIOPT_ARG },
		{ OPT_MAXLEN, "max-length", CLIOPT_ARG }, { 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id;

	m->max_len = UINT64_MAX;
	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		switch (id) {
		case CLIOPT_ERROR: return -EINVAL;
		case 'h': return 1;
		case 'f': m->a.fmt = s.arg; break;
		case 'U': m->a.force_share = true; break;
		case OPT_OUTPUT:
			if (img_parse_output(s.arg, &m->json) < 0)
				return -EINVAL;
			break;
		case OPT_START:
		case OPT_MAXLEN:
			if (cli_parse_size(s.arg, id == OPT_START ? &m->start : &m->max_len) < 0)
				return cli_usage_error(IMG_PROG, "Invalid %s '%s'", id == OPT_START ?
						       "start offset" : "length", s.arg), -EINVAL;
			break;
		case CLIOPT_POSITIONAL:
			if (img_take_file(&m->file, s.arg) < 0)
				return -EINVAL;
			break;
		}
	}
	return img_need_file(m->file);
}

static int map_run(struct blk *b, const struct map_cmd *m)
{
	uint64_t end = m->max_len > b->size - MIN(m->start, b->size) ? b->size :
		       m->start + m->max_len;
	struct map_entry cur = { 0 }, next;
	bool have = false, first = true;
	int ret = 0;

	if (!m->json)
		printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
	for (uint64_t off = m->start; off < end; off += next.length) {
		struct img_extent e;

		ret = img_extent(b, off, MIN(end - off, MAP_CHUNK), &e);
		if (ret < 0) {
			cli_error(IMG_PROG, "%s: cannot get the allocation status at offset %"
				  PRIu64 ": %s", m->file, off, strerror(-ret));
			return ret;
		}
		map_entry_from(&next, off, &e);
		if (have && map_mergeable(&cur, &next)) {
			cur.length += next.length;
			continue;
		}
		if (have && (ret = map_print(&cur, m->json, first)) < 0)
			return ret;
		first = !have;
		cur = next;
		have = true;
	}
	if (have)
		ret = map_print(&cur, m->json, first);
	if (m->json)
		printf(have ? "]\n" : "[]\n");
	return ret;
}

int img_cmd_map(int argc, char **argv)
{
	struct map_cmd m = { 0 };
	struct blk *b = NULL;
	int ret;

	ret = map_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("map") : IMG_EXIT_ERR;
	ret = img_open(m.file, &m.a, &b);
	if (ret == 0)
		ret = map_run(b, &m);
	blk_close(b);
	return ret < 0 ? IMG_EXIT_ERR : 0;
}

/* ---- compare ------------------------------------------------------------ */

struct cmp_cmd {
	struct img_open_args a1, a2;
	const char *files[2];
	int nfiles;
	bool strict;
	bool quiet;
	bool progress;
};

struct cmp {
	struct blk *b[2];
	uint8_t *buf[2];
	struct progress prog;
	const struct cmp_cmd *m;
};

static int cmp_parse(int argc, char **argv, struct cmp_cmd *m)
{
	static const struct cliopt opts[] = {
		{ 'f', NULL, CLIOPT_ARG }, { 'F', NULL, CLIOPT_ARG }, { 'T', NULL, CLIOPT_ARG },
		{ 'U', "force-share", CLIOPT_NO_ARG }, { 'p', NULL, CLIOPT_NO_ARG },
		{ 'q', NULL, CLIOPT_NO_ARG }, { 's', NULL, CLIOPT_NO_ARG },
		{ 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id;

	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		switch (id) {
		case CLIOPT_ERROR: return -EINVAL;
		case 'h': return 1;
		case 'f': m->a1.fmt = s.arg; break;
		case 'F': m->a2.fmt = s.arg; break;
		case 'T': break;
		case 'U': m->a1.force_share = m->a2.force_share = true; break;
		case 'p': m->progress = true; break;
		case 'q': m->quiet = true; break;
		case 's': m->strict = true; break;
		case CLIOPT_POSITIONAL:
			if (m->nfiles == 2)
				return cli_usage_error(IMG_PROG, "Expecting two image file names"),
				       -EINVAL;
			m->files[m->nfiles++] = s.arg;
			break;
		}
	}
	if (m->nfiles != 2)
		return cli_usage_error(IMG_PROG, "Expecting two image file names"), -EINVAL;
	if (m->a1.fmt && !m->a2.fmt)
		m->a2.fmt = m->a1.fmt;
	return 0;
}

static int cmp_read(struct cmp *c, int i, uint64_t off, size_t n)
{
	int ret = img_read(c->b[i], off, c->buf[i], n);

	if (ret < 0)
		cli_error(IMG_PROG, "%s: error while reading offset %" PRIu64 ": %s",
			  c->m->files[i], off, strerror(-ret));
	return ret;
}

static int cmp_mismatch(struct cmp *c, uint64_t off)
{
	progress_finish(&c->prog);
	if (!c->m->quiet)
		printf("Content mismatch at offset %" PRIu64 "!\n", ALIGN_DOWN(off, BLK_SECTOR));
	return 1;
}

/* Compare [off, off+n) byte by byte: 0 equal, 1 different, -errno. */
static int cmp_bytes(struct cmp *c, uint64_t off, uint64_t n)
{
	while (n) {
		size_t k = (size_t)MIN(n, (uint64_t)CMP_BUF);
		int ret = cmp_read(c, 0, off, k);

		if (ret == 0)
			ret = cmp_read(c, 1, off, k);
		if (ret < 0)
			return ret;
		if (memcmp(c->buf[0], c->buf[1], k) != 0) {
			size_t i = 0;

			while (c->buf[0][i] == c->buf[1][i])
				i++;
			return cmp_mismatch(c, off + i);
		}
		off += k;
		n -= k;
		progress_update(&c->prog, off);
	}
	return 0;
}

static int cmp_extent(struct cmp *c, int i, uint64_t off, uint64_t len, struct img_extent *e)
{
	int ret = img_extent(c->b[i], off, len, e);

	if (ret < 0)
		cli_error(IMG_PROG, "%s: cannot get the allocation status at offset %" PRIu64
			  ": %s", c->m->files[i], off, strerror(-ret));
	return ret;
}

/* The common part: runs where both read as zeros are skipped. */
static int cmp_common(struct cmp *c, uint64_t end)
{
	uint64_t off = 0;

	while (off < end) {
		struct img_extent e0, e1;
		int ret = cmp_extent(c, 0, off, MIN(end - off, MAP_CHUNK), &e0);

		if (ret == 0)
			ret = cmp_extent(c, 1, off, e0.len, &e1);
		if (ret < 0)
			return ret;
		if (c->m->strict && (e0.layer && (e0.status & BLK_STATUS_ALLOCATED)) !=
				    (e1.layer && (e1.status & BLK_STATUS_ALLOCATED))) {
			progress_finish(&c->prog);
			if (!c->m->quiet)
				printf("Strict mode: Offset %" PRIu64 " block status mismatch!\n", off);
			return 1;
		}
		if (!(e0.zero && e1.zero)) {
			ret = cmp_bytes(c, off, e1.len);
			if (ret)
				return ret;
		}
		off += e1.len;
		progress_update(&c->prog, off);
	}
	return 0;
}

/* The part of the larger image past the smaller one's end must read zeros. */
static int cmp_tail(struct cmp *c, int big, uint64_t off)
{
	uint64_t end = c->b[big]->size;

	while (off < end) {
		struct img_extent e;
		int ret = cmp_extent(c, big, off, MIN(end - off, MAP_CHUNK), &e);

		if (ret < 0)
			return ret;
		for (uint64_t o = off; !e.zero && o < off + e.len; ) {
			size_t k = (size_t)MIN(off + e.len - o, (uint64_t)CMP_BUF);

			ret = cmp_read(c, big, o, k);
			if (ret < 0)
				return ret;
			if (!img_is_zero(c->buf[big], k)) {
				size_t i = 0;

				while (c->buf[big][i] == 0)
					i++;
				return cmp_mismatch(c, o + i);
			}
			o += k;
		}
		off += e.len;
	}
	return 0;
}

static int cmp_run(struct cmp *c)
{
	uint64_t s0 = c->b[0]->size, s1 = c->b[1]->size;
	int ret;

	if (c->m->strict && s0 != s1) {
		if (!c->m->quiet)
			printf("Strict mode: Image size mismatch!\n");
		return 1;
	}
	progress_init(&c->prog, c->m->progress && !c->m->quiet, MAX(s0, s1));
	ret = cmp_common(c, MIN(s0, s1));
	if (ret == 0 && s0 != s1) {
		if (!c->m->quiet)
			printf("Warning: Image size mismatch!\n");
		ret = cmp_tail(c, s0 > s1 ? 0 : 1, MIN(s0, s1));
	}
	if (ret == 0) {
		progress_finish(&c->prog);
		if (!c->m->quiet)
			printf("Images are identical.\n");
	}
	return ret;
}

int img_cmd_compare(int argc, char **argv)
{
	struct cmp_cmd m = { 0 };
	struct cmp c = { .m = &m };
	int ret;

	ret = cmp_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("compare") : IMG_EXIT_ERR;
	ret = img_open(m.files[0], &m.a1, &c.b[0]);
	if (ret == 0)
		ret = img_open(m.files[1], &m.a2, &c.b[1]);
	if (ret == 0) {
		c.buf[0] = malloc(CMP_BUF);
		c.buf[1] = malloc(CMP_BUF);
		ret = c.buf[0] && c.buf[1] ? cmp_run(&c) : -ENOMEM;
	}
	blk_close(c.b[0]);
	blk_close(c.b[1]);
	free(c.buf[0]);
	free(c.buf[1]);
	if (ret < 0)
		return CMP_EXIT_ERR;
	return ret ? CMP_EXIT_DIFFERENT : 0;
}
