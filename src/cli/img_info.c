/* img_info: `vmkit img info [-f fmt] [--output=human|json] [--backing-chain]
 * [-U] FILE`: an image's facts with qemu-img's key names and layout, and the
 * human / JSON snapshot tables shared with `vmkit img snapshot -l`. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/util.h"

/* ---- snapshot tables ---------------------------------------------------- */

json_t *img_snapshot_json(const struct blk_snapshot *v, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_t *o = json_object();

		json_object_set_new(o, "icount", json_integer(0));
		json_object_set_new(o, "vm-clock-nsec",
				    json_integer((json_int_t)(v[i].vm_clock_nsec % 1000000000u)));
		json_object_set_new(o, "name", json_string(v[i].name));
		json_object_set_new(o, "date-sec", json_integer((json_int_t)v[i].date_sec));
		json_object_set_new(o, "date-nsec", json_integer(v[i].date_nsec));
		json_object_set_new(o, "vm-clock-sec",
				    json_integer((json_int_t)(v[i].vm_clock_nsec / 1000000000u)));
		json_object_set_new(o, "id", json_string(v[i].id));
		json_object_set_new(o, "vm-state-size",
				    json_integer((json_int_t)v[i].vm_state_size));
		json_array_append_new(arr, o);
	}
	return arr;
}

static void img_snapshot_row(const struct blk_snapshot *s)
{
	char vmsize[32], date[32], clock[48];
	time_t t = (time_t)s->date_sec;
	struct tm tm;
	uint64_t ms = s->vm_clock_nsec / 1000000u;

	cli_format_size(s->vm_state_size, vmsize, sizeof(vmsize));
	if (localtime_r(&t, &tm))
		strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	else
		snprintf(date, sizeof(date), "%" PRIu64, s->date_sec);
	snprintf(clock, sizeof(clock), "%02" PRIu64 ":%02u:%02u.%03u", ms / 3600000u,
		 (unsigned)(ms / 60000u % 60u), (unsigned)(ms / 1000u % 60u),
		 (unsigned)(ms % 1000u));
	printf("%-9s %-16s %8s %19s %12s %10u\n", s->id, s->name, vmsize, date, clock, 0u);
}

void img_snapshot_print_table(const struct blk_snapshot *v, size_t n)
{
	printf("Snapshot list:\n");
	printf("%-9s %-16s %8s %19s %12s %10s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK",
	       "ICOUNT");
	for (size_t i = 0; i < n; i++)
		img_snapshot_row(&v[i]);
}

/* ---- info --------------------------------------------------------------- */

static json_t *img_info_specific(struct blk *b)
{
	json_t *v, *wrapped;

	if (!b->drv->info_specific)
		return NULL;
	pthread_mutex_lock(&b->lock);
	v = b->drv->info_specific(b);
	pthread_mutex_unlock(&b->lock);
	if (!v || (json_object_get(v, "type") && json_object_get(v, "data")))
		return v;
	wrapped = json_object();
	json_object_set_new(wrapped, "type", json_string(b->drv->format));
	json_object_set_new(wrapped, "data", v);
	return wrapped;
}

static int img_info_backing(struct blk *b, json_t *o)
{
	char *full;

	if (!b->backing_name)
		return 0;
	full = img_backing_path(b->filename, b->backing_name);
	if (!full)
		return -ENOMEM;
	json_object_set_new(o, "full-backing-filename", json_string(full));
	json_object_set_new(o, "backing-filename", json_string(b->backing_name));
	free(full);
	return 0;
}

static json_t *img_info_json(struct blk *b)
{
	json_t *o = json_object();
	struct blk_snapshot *snaps = NULL;
	uint32_t cluster = img_cluster_size(b);
	int64_t actual = img_actual_size(b);
	size_t nsnaps = 0;
	json_t *spec;

	if (!o)
		return NULL;
	if (img_snapshot_list(b, &snaps, &nsnaps) == 0 && nsnaps)
		json_object_set_new(o, "snapshots", img_snapshot_json(snaps, nsnaps));
	free(snaps);
	if (b->backing_name && b->backing_fmt)
		json_object_set_new(o, "backing-filename-format", json_string(b->backing_fmt));
	json_object_set_new(o, "virtual-size", json_integer((json_int_t)b->size));
	json_object_set_new(o, "filename", json_string(b->filename));
	if (cluster)
		json_object_set_new(o, "cluster-size", json_integer(cluster));
	json_object_set_new(o, "format", json_string(b->drv->format));
	if (actual >= 0)
		json_object_set_new(o, "actual-size", json_integer(actual));
	spec = img_info_specific(b);
	if (spec)
		json_object_set_new(o, "format-specific", spec);
	if (img_info_backing(b, o) < 0) {
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "dirty-flag", json_boolean(img_is_dirty(b)));
	return o;
}

static void img_info_scalar(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING: printf("%s\n", json_string_value(v)); break;
	case JSON_INTEGER: printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v)); break;
	case JSON_REAL: printf("%g\n", json_real_value(v)); break;
	case JSON_TRUE: printf("true\n"); break;
	case JSON_FALSE: printf("false\n"); break;
	case JSON_NULL: printf("null\n"); break;
	case JSON_OBJECT:
	case JSON_ARRAY: printf("\n"); break;
	}
}

/* qemu-img's human dump of format-specific data: "key name: value". */
static void img_info_dump(json_t *v, int indent)
{
	const char *key;
	json_t *val;
	size_t i;

	if (json_is_array(v)) {
		json_array_foreach(v, i, val) {
			printf("%*s[%zu]:", indent, "", i);
			img_info_scalar(val);
			if (json_is_object(val) || json_is_array(val))
				img_info_dump(val, indent + 4);
		}
		return;
	}
	json_object_foreach(v, key, val) {
		char name[128];

		snprintf(name, sizeof(name), "%s", key);
		for (char *p = name; *p; p++)
			*p = *p == '-' ? ' ' : *p;
		printf("%*s%s: ", indent, "", name);
		img_info_scalar(val);
		if (json_is_object(val) || json_is_array(val))
			img_info_dump(val, indent + 4);
	}
}

static void img_info_human_backing(json_t *o)
{
	const char *name = json_string_value(json_object_get(o, "backing-filename"));
	const char *full = json_string_value(json_object_get(o, "full-backing-filename"));
	const char *fmt = json_string_value(json_object_get(o, "backing-filename-format"));

	if (!name)
		return;
	if (full && strcmp(full, name) != 0)
		printf("backing file: %s (actual path: %s)\n", name, full);
	else
		printf("backing file: %s\n", name);
	if (fmt)
		printf("backing file format: %s\n", fmt);
}

static void img_info_human(struct blk *b, json_t *o)
{
	char sz[32];
	int64_t actual = img_actual_size(b);
	json_t *spec = json_object_get(o, "format-specific");
	struct blk_snapshot *snaps = NULL;
	size_t nsnaps = 0;

	printf("image: %s\n", b->filename);
	printf("file format: %s\n", b->drv->format);
	cli_format_size(b->size, sz, sizeof(sz));
	printf("virtual size: %s (%" PRIu64 " bytes)\n", sz, b->size);
	if (actual >= 0) {
		cli_format_size((uint64_t)actual, sz, sizeof(sz));
		printf("disk size: %s\n", sz);
	} else {
		printf("disk size: unavailable\n");
	}
	if (json_object_get(o, "cluster-size"))
		printf("cluster_size: %" JSON_INTEGER_FORMAT "\n",
		       json_integer_value(json_object_get(o, "cluster-size")));
	if (json_is_true(json_object_get(o, "dirty-flag")))
		printf("cleanly shut down: no\n");
	img_info_human_backing(o);
	if (img_snapshot_list(b, &snaps, &nsnaps) == 0 && nsnaps)
		img_snapshot_print_table(snaps, nsnaps);
	free(snaps);
	if (spec && json_object_get(spec, "data")) {
		printf("Format specific information:\n");
		img_info_dump(json_object_get(spec, "data"), 4);
	}
}

struct img_info_cmd {
	struct img_open_args a;
	const char *file;
	bool json;
	bool chain;
};

static int img_info_parse(int argc, char **argv, struct img_info_cmd *m)
{
	enum { OPT_OUTPUT = CLIOPT_LONG, OPT_CHAIN };
	static const struct cliopt opts[] = {
		{ 'f', NULL, CLIOPT_ARG }, { 'U', "force-share", CLIOPT_NO_ARG },
		{ OPT_OUTPUT, "output", CLIOPT_ARG }, { OPT_CHAIN, "backing-chain", CLIOPT_NO_ARG },
		{ 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id;

	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END) {
		switch (id) {
		case CLIOPT_ERROR: return -EINVAL;
		case 'h': return 1;
		case 'f': m->a.fmt = s.arg; break;
		case 'U': m->a.force_share = true; break;
		case OPT_CHAIN: m->chain = true; break;
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

static int img_info_print(struct blk *top, bool json, bool chain)
{
	json_t *all = chain ? json_array() : NULL;
	int ret = 0;

	for (struct blk *b = top; b; b = chain ? b->backing : NULL) {
		json_t *o = img_info_json(b);

		if (!o) {
			ret = -ENOMEM;
			break;
		}
		if (!json) {
			if (b != top)
				printf("\n");
			img_info_human(b, o);
		}
		if (all)
			json_array_append_new(all, o);
		else if (json)
			ret = img_print_json(o);
		if (!all)
			json_decref(o);
	}
	if (all && json && ret == 0)
		ret = img_print_json(all);
	json_decref(all);
	return ret;
}

int img_cmd_info(int argc, char **argv)
{
	struct img_info_cmd m = { 0 };
	struct blk *b = NULL;
	int ret;

	ret = img_info_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("info") : IMG_EXIT_ERR;
	m.a.no_backing = !m.chain;
	ret = img_open(m.file, &m.a, &b);
	if (ret < 0)
		goto out;
	ret = img_info_print(b, m.json, m.chain);
	if (ret < 0)
		cli_error(IMG_PROG, "%s: %s", m.file, strerror(-ret));
out:
	blk_close(b);
	return ret < 0 ? IMG_EXIT_ERR : 0;
}
