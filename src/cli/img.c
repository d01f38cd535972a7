/* img: `vmkit img`, qemu-img's verbs on vmkit's block layer: the verb table
 * and dispatch, helpers every verb shares (opening with probing, backing
 * paths, -o create options, JSON output), and the verbs create and resize.
 * The other verbs live in img_*.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/util.h"

struct img_verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *usage;
	bool hidden;
};

static const struct img_verb img_verbs[] = {
	{ "bench", img_cmd_bench, "bench [-c count] [-d depth] [-f fmt] [--flush-interval=N] "
	  "[-n] [-o offset] [--pattern=N] [-q] [-s buffer_size] [-S step_size] [-t cache] [-w] "
	  "[-U] "
	  "filename", true },
	{ "check", img_cmd_check, "check [-q] [-f fmt] [--output=ofmt] [-r [leaks | all]] [-U] "
	  "filename", false },
	{ "commit", img_cmd_commit, "commit [-q] [-f fmt] [-b base] [-d] [-p] filename", false },
	{ "compare", img_cmd_compare, "compare [-f fmt] [-F fmt] [-p] [-q] [-s] [-U] "
	  "filename1 filename2", false },
	{ "convert", img_cmd_convert, "convert [-U] [-c] [-p] [-q] [-n] [-f fmt] "
	  "[-O output_fmt] [-B backing_file [-F backing_fmt]] [-o options] [-S sparse_size] "
	  "filename [filename2 [...]] output_filename", false },
	{ "create", img_cmd_create, "create [-q] [-f fmt] [-b backing_file [-F backing_fmt]] "
	  "[-u] [-o options] filename [size]", false },
	{ "info", img_cmd_info, "info [-f fmt] [--output=ofmt] [--backing-chain] [-U] filename",
	  false },
	{ "map", img_cmd_map, "map [-f fmt] [--start-offset=offset] [--max-length=len] "
	  "[--output=ofmt] [-U] filename", false },
	{ "rebase", img_cmd_rebase, "rebase [-U] [-q] [-f fmt] [-p] [-u] -b backing_file "
	  "[-F backing_fmt] filename", false },
	{ "resize", img_cmd_resize, "resize [-f fmt] [--preallocation=off] [-q] [--shrink] "
	  "filename [+ | -]size", false },
	{ "snapshot", img_cmd_snapshot, "snapshot [-U] [-q] [-l | -a snapshot | -c snapshot | "
	  "-d snapshot] filename", false },
};

void img_print_help(void)
{
	printf("Verbs (qemu-img's spellings):\n");
	for (size_t i = 0; i < ARRAY_SIZE(img_verbs); i++) {
		if (!img_verbs[i].hidden)
			printf("  %s\n", img_verbs[i].usage);
	}
	printf("\nfilename is an image file; fmt a format: raw or qcow2 (probed when not\n"
	       "given; a backing file needs its format recorded in the image or -F).\n"
	       "size accepts the suffixes k, M, G, T, P, E (powers of 1024) and b (bytes).\n"
	       "-o takes name=value[,name=value] image options; '-o help' lists them.\n"
	       "-q prints nothing but errors, -p shows progress, -U opens images read-only\n"
	       "even while another process holds them, --output is human or json.\n"
	       "check exits 0 when clean, 2 on corruption, 3 on leaks only, 1 on errors;\n"
	       "compare exits 0 when identical, 1 when different, 2 on errors.\n");
}

static const struct img_verb *img_verb_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(img_verbs); i++) {
		if (strcmp(img_verbs[i].name, name) == 0)
			return &img_verbs[i];
	}
	return NULL;
}

/* "-h" inside a verb: its usage line. */
int img_verb_help(const char *verb)
{
	const struct img_verb *v = img_verb_find(verb);

	printf("usage: vmkit img %s\n", v ? v->usage : verb);
	return 0;
}

int img_main(int argc, char **argv)
{
	const struct img_verb *v;

	if (argc < 2)
		return cli_usage_error(IMG_PROG, "Not enough arguments");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		printf("usage: vmkit img VERB [options] ...\n\n");
		img_print_help();
		return 0;
	}
	v = img_verb_find(argv[1]);
	if (!v) {
		if (argv[1][0] == '-')
			return cli_usage_error(IMG_PROG, "unrecognized option '%s'", argv[1]);
		return cli_usage_error(IMG_PROG, "Command not found: %s", argv[1]);
	}
	return v->fn(argc - 1, argv + 1);
}

/* ---- shared helpers ----------------------------------------------------- */

int img_take_file(const char **file, const char *arg)
{
	if (*file) {
		cli_usage_error(IMG_PROG, "Expecting one image file name");
		return -EINVAL;
	}
	*file = arg;
	return 0;
}

int img_need_file(const char *file)
{
	if (file)
		return 0;
	cli_usage_error(IMG_PROG, "Expecting one image file name");
	return -EINVAL;
}

int img_open(const char *path, const struct img_open_args *a, struct blk **out)
{
	struct blk_open_opts o = {
		.readonly = !a->writable,
		.force_share = a->force_share,
		.no_backing = a->no_backing,
		.direct = a->direct,
		.backing_format = a->backing_fmt,
		.check = a->check,
	};
	const char *fmt = a->fmt;
	int ret;

	*out = NULL;
	if (a->writable && a->force_share) {
		cli_error(IMG_PROG, "%s: -U (force share) works only for read-only access", path);
		return -EINVAL;
	}
	/* The block layer logs why an open fails, naming the file. */
	if (!fmt) {
		ret = blk_probe(path, &fmt);
		if (ret < 0)
			return ret;
		if (a->writable && strcmp(fmt, "raw") == 0)
			cli_error(IMG_PROG, "warning: %s: no format given (-f), probing guessed raw",
				  path);
	} else if (!blk_driver_find(fmt)) {
		cli_error(IMG_PROG, "%s: Unknown file format '%s'", path, fmt);
		return -EINVAL;
	}
	o.format = fmt;
	return blk_open(path, &o, out);
}

char *img_backing_path(const char *image, const char *ref)
{
	const char *slash = strrchr(image, '/');
	size_t dirlen;
	char *p;

	if (ref[0] == '/' || !slash)
		return strdup(ref);
	dirlen = (size_t)(slash - image) + 1;
	p = malloc(dirlen + strlen(ref) + 1);
	if (!p)
		return NULL;
	memcpy(p, image, dirlen);
	strcpy(p + dirlen, ref);
	return p;
}

bool img_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

int img_parse_output(const char *arg, bool *json)
{
	if (strcmp(arg, "json") == 0) {
		*json = true;
		return 0;
	}
	if (strcmp(arg, "human") == 0) {
		*json = false;
		return 0;
	}
	cli_error(IMG_PROG, "--output must be used with human or json as argument.");
	return -EINVAL;
}

int64_t img_actual_size(struct blk *b)
{
	if (!b->file || !b->file->ops->allocated)
		return -1;
	return b->file->ops->allocated(b->file);
}

uint32_t img_cluster_size(struct blk *b)
{
	uint32_t v;

	if (!b->drv->cluster_size)
		return 0;
	pthread_mutex_lock(&b->lock);
	v = b->drv->cluster_size(b);
	pthread_mutex_unlock(&b->lock);
	return v;
}

bool img_is_dirty(struct blk *b)
{
	bool v;

	if (!b->drv->is_dirty)
		return false;
	pthread_mutex_lock(&b->lock);
	v = b->drv->is_dirty(b);
	pthread_mutex_unlock(&b->lock);
	return v;
}

int img_snapshot_list(struct blk *b, struct blk_snapshot **list, size_t *n)
{
	int ret;

	*list = NULL;
	*n = 0;
	if (!b->drv->snapshot_list)
		return 0;
	pthread_mutex_lock(&b->lock);
	ret = b->drv->snapshot_list(b, list, n);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

int img_read(struct blk *b, uint64_t off, void *buf, size_t len)
{
	uint64_t size = b->size;
	size_t inside = 0;

	if (off < size)
		inside = (size_t)MIN((uint64_t)len, size - off);
	memset((uint8_t *)buf + inside, 0, len - inside);
	return inside ? blk_pread(b, off, buf, inside) : 0;
}

bool img_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t head = MIN(len, (size_t)16);

	for (size_t i = 0; i < head; i++) {
		if (p[i])
			return false;
	}
	/* The first 16 bytes are zero: compare the rest with itself shifted. */
	return len <= 16 || memcmp(p, p + 16, len - 16) == 0;
}

int img_print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(4) | JSON_PRESERVE_ORDER);

	if (!s)
		return -ENOMEM;
	printf("%s\n", s);
	free(s);
	return 0;
}

/* ---- -o create options ------------------------------------------------- */

enum img_fmtmask { IMG_FMT_RAW = 1, IMG_FMT_QCOW2 = 2 };

struct img_create_opt {
	const char *name;
	unsigned formats;           /* enum img_fmtmask bits */
	const char *help;
	int (*set)(const char *file, const char *val, struct img_create_args *c);
};

static int img_opt_bool(const char *file, const char *name, const char *val, bool *out)
{
	if (strcmp(val, "on") == 0 || strcmp(val, "true") == 0 || strcmp(val, "yes") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(val, "off") == 0 || strcmp(val, "false") == 0 || strcmp(val, "no") == 0) {
		*out = false;
		return 0;
	}
	cli_error(IMG_PROG, "%s: Parameter '%s' expects 'on' or 'off', not '%s'", file, name, val);
	return -EINVAL;
}

static int img_set_size(const char *file, const char *val, struct img_create_args *c)
{
	if (cli_parse_size(val, &c->o.size) < 0) {
		cli_error(IMG_PROG, "%s: Invalid image size '%s'", file, val);
		return -EINVAL;
	}
	c->have_size = true;
	return 0;
}

static int img_set_cluster(const char *file, const char *val, struct img_create_args *c)
{
	uint64_t v;

	if (cli_parse_size(val, &v) < 0 || v < 512 || v > 2 * MiB || (v & (v - 1))) {
		cli_error(IMG_PROG, "%s: Cluster size must be a power of two between 512 and "
			  "2048k, not '%s'", file, val);
		return -EINVAL;
	}
	c->o.cluster_size = (uint32_t)v;
	return 0;
}

static int img_set_compat(const char *file, const char *val, struct img_create_args *c)
{
	if (strcmp(val, "0.10") == 0 || strcmp(val, "v2") == 0)
		c->o.compat = 2;
	else if (strcmp(val, "1.1") == 0 || strcmp(val, "v3") == 0)
		c->o.compat = 3;
	else {
		cli_error(IMG_PROG, "%s: Invalid compatibility level: '%s' (0.10/v2 or 1.1/v3)",
			  file, val);
		return -EINVAL;
	}
	return 0;
}

static int img_set_prealloc(const char *file, const char *val, struct img_create_args *c)
{
	if (strcmp(val, "off") == 0)
		c->o.prealloc = BLK_PREALLOC_OFF;
	else if (strcmp(val, "metadata") == 0 && strcmp(c->fmt, "qcow2") == 0)
		c->o.prealloc = BLK_PREALLOC_METADATA;
	else if (strcmp(val, "full") == 0 || strcmp(val, "falloc") == 0)
		c->o.prealloc = BLK_PREALLOC_FULL;
	else {
		cli_error(IMG_PROG, "%s: Invalid preallocation mode '%s' for format %s", file,
			  val, c->fmt);
		return -EINVAL;
	}
	return 0;
}

static int img_set_lazy(const char *file, const char *val, struct img_create_args *c)
{
	return img_opt_bool(file, "lazy_refcounts", val, &c->o.lazy_refcounts);
}

static int img_set_refbits(const char *file, const char *val, struct img_create_args *c)
{
	uint64_t v;

	if (util_parse_uint(val, 1, 64, &v) < 0 || (v & (v - 1))) {
		cli_error(IMG_PROG, "%s: Refcount width must be a power of two and may not "
			  "exceed 64 bits, not '%s'", file, val);
		return -EINVAL;
	}
	c->o.refcount_bits = (unsigned)v;
	return 0;
}

static int img_set_backing(const char *file, const char *val, struct img_create_args *c)
{
	c->o.backing_file = val;
	return 0;
}

static int img_set_backing_fmt(const char *file, const char *val, struct img_create_args *c)
{
	c->o.backing_format = val;
	return 0;
}

static int img_set_only(const char *file, const char *name, const char *val, const char *ok)
{
	if (strcmp(val, ok) == 0)
		return 0;
	cli_error(IMG_PROG, "%s: %s=%s is not supported (only %s)", file, name, val, ok);
	return -ENOTSUP;
}

static int img_set_compress(const char *file, const char *val, struct img_create_args *c)
{
	return img_set_only(file, "compression_type", val, "zlib");
}

static int img_set_extl2(const char *file, const char *val, struct img_create_args *c)
{
	return img_set_only(file, "extended_l2", val, "off");
}

static const struct img_create_opt img_create_opts[] = {
	{ "backing_file", IMG_FMT_QCOW2, "File name of a base image", img_set_backing },
	{ "backing_fmt", IMG_FMT_QCOW2, "Format of the base image", img_set_backing_fmt },
	{ "cluster_size", IMG_FMT_QCOW2, "qcow2 cluster size (512 to 2M)", img_set_cluster },
	{ "compat", IMG_FMT_QCOW2, "qcow2 version: v2 (0.10) or v3 (1.1)", img_set_compat },
	{ "compression_type", IMG_FMT_QCOW2, "zlib", img_set_compress },
	{ "extended_l2", IMG_FMT_QCOW2, "off", img_set_extl2 },
	{ "lazy_refcounts", IMG_FMT_QCOW2, "on/off: postpone refcount updates", img_set_lazy },
	{ "preallocation", IMG_FMT_RAW | IMG_FMT_QCOW2,
	  "off, metadata (qcow2), falloc or full", img_set_prealloc },
	{ "refcount_bits", IMG_FMT_QCOW2, "refcount width: 1, 2, 4, ... 64 bits",
	  img_set_refbits },
	{ "size", IMG_FMT_RAW | IMG_FMT_QCOW2, "virtual disk size", img_set_size },
};

static unsigned img_fmt_bit(const char *fmt)
{
	return strcmp(fmt, "qcow2") == 0 ? IMG_FMT_QCOW2 : IMG_FMT_RAW;
}

void img_create_opts_help(const char *fmt)
{
	printf("Supported %s options:\n", fmt);
	for (size_t i = 0; i < ARRAY_SIZE(img_create_opts); i++) {
		if (img_create_opts[i].formats & img_fmt_bit(fmt))
			printf("  %-18s - %s\n", img_create_opts[i].name, img_create_opts[i].help);
	}
}

static int img_create_opt_one(const char *file, char *item, struct img_create_args *c)
{
	char *eq = strchr(item, '=');

	if (strcmp(item, "help") == 0 || strcmp(item, "?") == 0) {
		c->help = true;
		return 0;
	}
	if (eq)
		*eq = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(img_create_opts); i++) {
		const struct img_create_opt *o = &img_create_opts[i];

		if (strcmp(o->name, item) != 0)
			continue;
		if (!(o->formats & img_fmt_bit(c->fmt)))
			break;
		if (!eq) {
			cli_error(IMG_PROG, "%s: Parameter '%s' needs a value", file, item);
			return -EINVAL;
		}
		return o->set(file, eq + 1, c);
	}
	cli_error(IMG_PROG, "%s: Invalid parameter '%s' for format %s", file, item, c->fmt);
	return -EINVAL;
}

/* Split at single commas; ",," is a literal comma. optstr is modified. */
int img_parse_create_options(const char *file, const char *optstr, struct img_create_args *c)
{
	char *copy, *item, *w, *r;
	int ret = 0;

	if (c->nstrings == ARRAY_SIZE(c->strings)) {
		cli_error(IMG_PROG, "%s: too many -o options", file);
		return -E2BIG;
	}
	copy = strdup(optstr);
	if (!copy)
		return -ENOMEM;
	item = w = r = copy;
	for (;; r++) {
		if (*r == ',' && r[1] == ',') {
			*w++ = ',';
			r++;
			continue;
		}
		if (*r == ',' || *r == '\0') {
			bool last = *r == '\0';

			*w = '\0';
			if (*item)
				ret = img_create_opt_one(file, item, c);
			if (ret < 0 || last)
				break;
			item = w = r + 1;
			continue;
		}
		*w++ = *r;
	}
	/* Option values point into copy: the args keep it until freed. */
	if (ret < 0)
		free(copy);
	else
		c->strings[c->nstrings++] = copy;
	return ret;
}

void img_create_args_free(struct img_create_args *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nstrings; i++)
		free(c->strings[i]);
	c->nstrings = 0;
}

int img_create_args_check(const char *file, const struct img_create_args *c)
{
	const struct blk_create_opts *o = &c->o;

	if (o->backing_file && strcmp(c->fmt, "raw") == 0) {
		cli_error(IMG_PROG, "%s: Backing file not supported for file format 'raw'", file);
		return -EINVAL;
	}
	if (o->size > BLK_MAX_SIZE) {
		cli_error(IMG_PROG, "%s: Image size %" PRIu64 " is too large (at most %llu)",
			  file, o->size, BLK_MAX_SIZE);
		return -EINVAL;
	}
	if (o->compat == 2 && o->lazy_refcounts) {
		cli_error(IMG_PROG, "%s: Lazy refcounts need compatibility level 1.1 (compat=v3)",
			  file);
		return -EINVAL;
	}
	if (o->compat == 2 && o->refcount_bits && o->refcount_bits != 16) {
		cli_error(IMG_PROG, "%s: Refcount widths other than 16 bits need compatibility "
			  "level 1.1 (compat=v3)", file);
		return -EINVAL;
	}
	return 0;
}

void img_print_formatting(const char *file, const struct img_create_args *c)
{
	const struct blk_create_opts *o = &c->o;
	const char *prealloc = o->prealloc == BLK_PREALLOC_FULL ? " preallocation=full" :
			       o->prealloc == BLK_PREALLOC_METADATA ?
			       " preallocation=metadata" : "";

	if (strcmp(c->fmt, "qcow2") != 0) {
		printf("Formatting '%s', fmt=%s size=%" PRIu64 "%s\n", file, c->fmt, o->size,
		       prealloc);
		return;
	}
	printf("Formatting '%s', fmt=qcow2 cluster_size=%u extended_l2=off%s "
	       "compression_type=zlib size=%" PRIu64, file,
	       o->cluster_size ? o->cluster_size : 65536, prealloc, o->size);
	if (o->backing_file)
		printf(" backing_file=%s backing_fmt=%s", o->backing_file, o->backing_format);
	if (o->compat)
		printf(" compat=%s", o->compat == 2 ? "0.10" : "1.1");
	printf(" lazy_refcounts=%s refcount_bits=%u\n", o->lazy_refcounts ? "on" : "off",
	       o->refcount_bits ? o->refcount_bits : 16);
}

/* A backing file named without its format: refuse, naming what it looks like. */
static int img_backing_needs_format(const char *file, const char *bpath)
{
	const char *guess = NULL;

	if (blk_probe(bpath, &guess) == 0)
		cli_error(IMG_PROG, "%s: Backing file specified without backing format (-F); "
			  "it looks like %s", file, guess);
	else
		cli_error(IMG_PROG, "%s: Backing file specified without backing format (-F)",
			  file);
	return -EINVAL;
}

/* Open the backing file a new image will name: it must work, and gives the
 * size when none was given. */
static int img_create_check_backing(const char *file, struct img_create_args *c)
{
	struct img_open_args a = { .fmt = c->o.backing_format, .force_share = true };
	char *bpath = img_backing_path(file, c->o.backing_file);
	struct blk *bb = NULL;
	int ret;

	if (!bpath)
		return -ENOMEM;
	if (img_same_file(bpath, file)) {
		cli_error(IMG_PROG, "%s: an image cannot be its own backing file", file);
		free(bpath);
		return -EINVAL;
	}
	ret = img_open(bpath, &a, &bb);
	if (ret < 0) {
		cli_error(IMG_PROG, "%s: Could not open backing image '%s'", file, bpath);
		goto out;
	}
	if (!c->have_size) {
		c->o.size = bb->size;
		c->have_size = true;
	}
out:
	blk_close(bb);
	free(bpath);
	return ret;
}

/* Does one of the -o strings ask for help? */
bool img_opts_ask_help(const char *const *optstrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(optstrs[i], "help") == 0 || strcmp(optstrs[i], "?") == 0)
			return true;
	}
	return false;
}

struct img_create_cmd {
	struct img_create_args c;
	const char *file;
	const char *size;
	const char *backing;
	const char *backing_fmt;
	const char *optstrs[8];
	size_t nopt;
	bool unsafe;
	bool quiet;
};

static int img_create_parse(int argc, char **argv, struct img_create_cmd *m)
{
	static const struct cliopt opts[] = {
		{ 'f', NULL, CLIOPT_ARG }, { 'b', NULL, CLIOPT_ARG }, { 'F', NULL, CLIOPT_ARG },
		{ 'o', NULL, CLIOPT_ARG }, { 'u', NULL, CLIOPT_NO_ARG },
		{ 'q', NULL, CLIOPT_NO_ARG }, { 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id, npos = 0;

	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		switch (id) {
		case CLIOPT_ERROR: return -EINVAL;
		case 'h': return 1;
		case 'f': m->c.fmt = s.arg; break;
		case 'b': m->backing = s.arg; break;
		case 'F': m->backing_fmt = s.arg; break;
		case 'u': m->unsafe = true; break;
		case 'q': m->quiet = true; break;
		case 'o':
			if (m->nopt == ARRAY_SIZE(m->optstrs))
				return cli_usage_error(IMG_PROG, "too many -o options"), -EINVAL;
			m->optstrs[m->nopt++] = s.arg;
			break;
		case CLIOPT_POSITIONAL:
			if (npos == 2)
				return cli_usage_error(IMG_PROG, "Unexpected argument '%s'", s.arg),
				       -EINVAL;
			*(npos++ ? &m->size : &m->file) = s.arg;
			break;
		}
	}
	if (!m->file && !(m->nopt && img_opts_ask_help(m->optstrs, m->nopt)))
		return cli_usage_error(IMG_PROG, "Expecting image file name"), -EINVAL;
	if (!m->file)
		m->file = "";
	return 0;
}

static int img_create_options(struct img_create_cmd *m)
{
	struct img_create_args *c = &m->c;

	if (!c->fmt)
		c->fmt = "raw";
	if (!blk_driver_find(c->fmt)) {
		cli_error(IMG_PROG, "%s: Unknown file format '%s'", m->file, c->fmt);
		return -EINVAL;
	}
	for (size_t i = 0; i < m->nopt; i++) {
		if (img_parse_create_options(m->file, m->optstrs[i], c) < 0)
			return -EINVAL;
	}
	if (c->help)
		return 0;
	if (m->backing)
		c->o.backing_file = m->backing;
	if (m->backing_fmt)
		c->o.backing_format = m->backing_fmt;
	if (m->size && cli_parse_size(m->size, &c->o.size) < 0) {
		cli_error(IMG_PROG, "%s: Invalid image size '%s': give bytes or a number with "
			  "one of the suffixes k, M, G, T, P, E", m->file, m->size);
		return -EINVAL;
	}
	if (m->size)
		c->have_size = true;
	return 0;
}

/* -b: the format must be known, and the file must open (unless -u). */
static int img_create_backing(struct img_create_cmd *m)
{
	struct img_create_args *c = &m->c;
	char *bpath;
	int ret;

	if (!c->o.backing_file)
		return 0;
	if (c->o.backing_format)
		return m->unsafe ? 0 : img_create_check_backing(m->file, c);
	bpath = img_backing_path(m->file, c->o.backing_file);
	ret = bpath ? img_backing_needs_format(m->file, bpath) : -ENOMEM;
	free(bpath);
	return ret;
}

int img_cmd_create(int argc, char **argv)
{
	struct img_create_cmd m = { 0 };
	struct img_create_args *c = &m.c;
	int ret;

	ret = img_create_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("create") : IMG_EXIT_ERR;
	ret = img_create_options(&m);
	if (ret < 0 || c->help)
		goto out;
	ret = img_create_args_check(m.file, c);
	if (ret == 0)
		ret = img_create_backing(&m);
	if (ret < 0)
		goto out;
	if (!c->have_size) {
		cli_error(IMG_PROG, "%s: Image creation needs a size parameter", m.file);
		ret = -EINVAL;
		goto out;
	}
	c->o.size = ALIGN_UP(c->o.size, BLK_SECTOR);
	ret = img_create_args_check(m.file, c);
	if (ret < 0)
		goto out;
	if (!m.quiet)
		img_print_formatting(m.file, c);
	fflush(stdout);
	ret = blk_create(m.file, c->fmt, &c->o);
	if (ret < 0)
		cli_error(IMG_PROG, "%s: cannot create: %s", m.file, strerror(-ret));
out:
	if (ret == 0 && c->help)
		img_create_opts_help(c->fmt);
	img_create_args_free(c);
	return ret < 0 ? IMG_EXIT_ERR : 0;
}

/* ---- resize ------------------------------------------------------------ */

/* "+N", "-N" or "N" against the current size. */
static int img_resize_target(const char *file, const char *arg, uint64_t cur, uint64_t *out)
{
	char sign = (arg[0] == '+' || arg[0] == '-') ? arg[0] : 0;
	uint64_t v;

	if (cli_parse_size(arg + (sign ? 1 : 0), &v) < 0) {
		cli_error(IMG_PROG, "%s: Invalid image size '%s'", file, arg);
		return -EINVAL;
	}
	if (sign == '-' && v > cur) {
		cli_error(IMG_PROG, "%s: New image size must be positive (%" PRIu64 " - %" PRIu64
			  ")", file, cur, v);
		return -EINVAL;
	}
	if (sign == '+' && v > BLK_MAX_SIZE - MIN(cur, BLK_MAX_SIZE)) {
		cli_error(IMG_PROG, "%s: Image size too large", file);
		return -EINVAL;
	}
	*out = sign == '+' ? cur + v : sign == '-' ? cur - v : v;
	return 0;
}

struct img_resize_cmd {
	const char *fmt;
	const char *file;
	const char *size;
	bool shrink;
	bool quiet;
};

static int img_resize_parse(int argc, char **argv, struct img_resize_cmd *m)
{
	enum { OPT_SHRINK = CLIOPT_LONG, OPT_PREALLOC };
	static const struct cliopt opts[] = {
		{ 'f', NULL, CLIOPT_ARG }, { 'q', NULL, CLIOPT_NO_ARG },
		{ OPT_SHRINK, "shrink", CLIOPT_NO_ARG }, { OPT_PREALLOC, "preallocation", CLIOPT_ARG },
		{ 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id;

	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
		return 1;
	if (argc < 3)
		return cli_usage_error(IMG_PROG, "Not enough arguments"), -EINVAL;
	/* The size is always the last word, so "-1G" is not taken for options. */
	m->size = argv[argc - 1];
	cliopt_init(&s, IMG_PROG, argc - 1, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		switch (id) {
		case CLIOPT_ERROR: return -EINVAL;
		case 'h': return 1;
		case 'f': m->fmt = s.arg; break;
		case 'q': m->quiet = true; break;
		case OPT_SHRINK: m->shrink = true; break;
		case OPT_PREALLOC:
			if (strcmp(s.arg, "off") != 0)
				return cli_usage_error(IMG_PROG, "--preallocation=%s is not supported "
						       "by resize (only off)", s.arg), -EINVAL;
			break;
		case CLIOPT_POSITIONAL:
			if (m->file)
				return cli_usage_error(IMG_PROG, "Unexpected argument '%s'", s.arg),
				       -EINVAL;
			m->file = s.arg;
			break;
		}
	}
	if (!m->file)
		return cli_usage_error(IMG_PROG, "Expecting image file name"), -EINVAL;
	return 0;
}

int img_cmd_resize(int argc, char **argv)
{
	struct img_resize_cmd m = { 0 };
	struct img_open_args a = { .writable = true, .no_backing = true };
	struct blk *b = NULL;
	uint64_t size;
	int ret;

	ret = img_resize_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("resize") : IMG_EXIT_ERR;
	a.fmt = m.fmt;
	ret = img_open(m.file, &a, &b);
	if (ret < 0)
		goto out;
	ret = img_resize_target(m.file, m.size, b->size, &size);
	if (ret < 0)
		goto out;
	if (size < b->size && !m.shrink) {
		cli_error(IMG_PROG, "%s: Use the --shrink option to shrink the image from %" PRIu64
			  " to %" PRIu64 " bytes; everything past the new end is lost", m.file,
			  b->size, size);
		ret = -EINVAL;
		goto out;
	}
	ret = blk_resize(b, size);
	if (ret == 0)
		ret = blk_flush(b);
	if (ret < 0) {
		cli_error(IMG_PROG, "%s: cannot resize to %" PRIu64 " bytes: %s", m.file, size,
			  ret == -ENOTSUP ? "not supported by this format or image" :
			  strerror(-ret));
		goto out;
	}
	if (!m.quiet)
		printf("Image resized.\n");
out:
	blk_close(b);
	return ret < 0 ? IMG_EXIT_ERR : 0;
}
