/* img_check: `vmkit img check [-q] [-f fmt] [--output=human|json]
 * [-r leaks|all] [-U] FILE`: the format driver's consistency check and
 * repair, reported like qemu-img with its exit codes: 0 clean, 1 check
 * failed, 2 corruptions, 3 leaked clusters only, 63 format has no check. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"

#define IMG_CHECK_EXIT_CORRUPT 2
#define IMG_CHECK_EXIT_LEAKS 3
#define IMG_CHECK_EXIT_UNSUPPORTED 63

struct img_check_cmd {
	struct img_open_args a;
	const char *file;
	unsigned fix;
	bool json;
	bool quiet;
};

static int img_check_parse(int argc, char **argv, struct img_check_cmd *m)
{
	enum { OPT_OUTPUT = CLIOPT_LONG };
	static const struct cliopt opts[] = {
		{ 'f', NULL, CLIOPT_ARG }, { 'q', NULL, CLIOPT_NO_ARG },
		{ 'U', "force-share", CLIOPT_NO_ARG }, { 'r', "repair", CLIOPT_ARG },
		{ OPT_OUTPUT, "output", CLIOPT_ARG }, { 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id;

	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		switch (id) {
		case CLIOPT_ERROR: return -EINVAL;
		case 'h': return 1;
		case 'f': m->a.fmt = s.arg; break;
		case 'q': m->quiet = true; break;
		case 'U': m->a.force_share = true; break;
		case 'r':
			if (strcmp(s.arg, "leaks") == 0)
				m->fix = BLK_FIX_LEAKS;
			else if (strcmp(s.arg, "all") == 0)
				m->fix = BLK_FIX_LEAKS | BLK_FIX_ERRORS;
			else
				return cli_usage_error(IMG_PROG, "Unknown option for -r: '%s' "
						       "(leaks or all)", s.arg), -EINVAL;
			break;
		case OPT_OUTPUT:
			if (img_parse_output(s.arg, &m->json) < 0)
				return -EINVAL;
			break;
		case CLIOPT_POSITIONAL:
			if (img_take_file(&m->file, s.arg) < 0)
				return -EINVAL;
			break;
		}
	}
	return img_need_file(m->file);
}

static int img_check_run(struct blk *b, struct blk_check *res, unsigned fix)
{
	int ret;

	memset(res, 0, sizeof(*res));
	pthread_mutex_lock(&b->lock);
	ret = b->drv->check(b, res, fix);
	pthread_mutex_unlock(&b->lock);
	return ret;
}

static void img_check_human(const struct blk_check *r)
{
	if (!r->corruptions && !r->leaks && !r->check_errors) {
		printf("No errors were found on the image.\n");
	} else {
		if (r->corruptions)
			printf("\n%" PRIu64 " errors were found on the image.\n"
			       "Data may be corrupted; further writes to the image may corrupt it.\n",
			       r->corruptions);
		if (r->leaks)
			printf("\n%" PRIu64 " leaked clusters were found on the image.\n"
			       "They waste disk space but do no harm to data.\n", r->leaks);
		if (r->check_errors)
			printf("\n%" PRIu64 " internal errors have occurred during the check.\n",
			       r->check_errors);
	}
	if (r->total_clusters && r->allocated_clusters)
		printf("%" PRIu64 "/%" PRIu64 " = %0.2f%% allocated, %0.2f%% fragmented, "
		       "%0.2f%% compressed clusters\n", r->allocated_clusters, r->total_clusters,
		       100.0 * (double)r->allocated_clusters / (double)r->total_clusters,
		       100.0 * (double)r->fragmented_clusters / (double)r->allocated_clusters,
		       100.0 * (double)r->compressed_clusters / (double)r->allocated_clusters);
	if (r->image_end_offset)
		printf("Image end offset: %" PRIu64 "\n", r->image_end_offset);
}

static void img_check_set(json_t *o, const char *key, uint64_t v, bool always)
{
	if (v || always)
		json_object_set_new(o, key, json_integer((json_int_t)v));
}

static int img_check_json(struct blk *b, const struct blk_check *r)
{
	json_t *o = json_object();
	int ret;

	if (!o)
		return -ENOMEM;
	img_check_set(o, "image-end-offset", r->image_end_offset, false);
	img_check_set(o, "compressed-clusters", r->compressed_clusters, false);
	img_check_set(o, "total-clusters", r->total_clusters, false);
	img_check_set(o, "check-errors", r->check_errors, true);
	img_check_set(o, "leaks", r->leaks, false);
	img_check_set(o, "corruptions", r->corruptions, false);
	img_check_set(o, "leaks-fixed", r->leaks_fixed, false);
	img_check_set(o, "corruptions-fixed", r->corruptions_fixed, false);
	img_check_set(o, "allocated-clusters", r->allocated_clusters, false);
	json_object_set_new(o, "filename", json_string(b->filename));
	json_object_set_new(o, "format", json_string(b->drv->format));
	img_check_set(o, "fragmented-clusters", r->fragmented_clusters, false);
	ret = img_print_json(o);
	json_decref(o);
	return ret;
}

/* Check (and repair); after a repair, check again to report what is left. */
static int img_check_image(struct blk *b, const struct img_check_cmd *m, struct blk_check *r)
{
	uint64_t leaks_fixed, corruptions_fixed;
	int ret = img_check_run(b, r, m->fix);

	if (ret < 0 || !(r->leaks_fixed || r->corruptions_fixed))
		return ret;
	leaks_fixed = r->leaks_fixed;
	corruptions_fixed = r->corruptions_fixed;
	if (!m->quiet && !m->json)
		printf("The following inconsistencies were found and repaired:\n\n"
		       "    %" PRIu64 " leaked clusters\n    %" PRIu64 " corruptions\n\n"
		       "Double checking the fixed image now...\n", leaks_fixed, corruptions_fixed);
	ret = img_check_run(b, r, 0);
	r->leaks_fixed = leaks_fixed;
	r->corruptions_fixed = corruptions_fixed;
	return ret;
}

int img_cmd_check(int argc, char **argv)
{
	struct img_check_cmd m = { 0 };
	struct blk_check r;
	struct blk *b = NULL;
	int ret;

	ret = img_check_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("check") : IMG_EXIT_ERR;
	m.a.writable = m.fix != 0;
	m.a.no_backing = true;
	m.a.check = true;
	if (img_open(m.file, &m.a, &b) < 0)
		return IMG_EXIT_ERR;
	if (!b->drv->check) {
		cli_error(IMG_PROG, "%s: This image format (%s) does not support checks", m.file,
			  b->drv->format);
		blk_close(b);
		return IMG_CHECK_EXIT_UNSUPPORTED;
	}
	ret = img_check_image(b, &m, &r);
	if (ret == 0 && m.fix)
		ret = blk_flush(b);
	if (ret == 0 && !m.quiet)
		ret = m.json ? img_check_json(b, &r) : (img_check_human(&r), 0);
	blk_close(b);
	if (ret < 0 || r.check_errors) {
		cli_error(IMG_PROG, "%s: Check failed: %s", m.file,
			  ret < 0 ? strerror(-ret) : "internal errors during the check");
		return IMG_EXIT_ERR;
	}
	if (r.corruptions)
		return IMG_CHECK_EXIT_CORRUPT;
	return r.leaks ? IMG_CHECK_EXIT_LEAKS : 0;
}
