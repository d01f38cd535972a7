/* img_snapshot: `vmkit img snapshot [-U] [-q] [-f fmt] [-l | -a NAME |
 * -c NAME | -d NAME] FILE`: list, apply, create and delete internal
 * snapshots through the format driver (qcow2). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"

enum img_snap_action { IMG_SNAP_NONE, IMG_SNAP_LIST, IMG_SNAP_APPLY, IMG_SNAP_CREATE,
		       IMG_SNAP_DELETE };

struct img_snap_cmd {
	struct img_open_args a;
	enum img_snap_action action;
	const char *name;
	const char *file;
	bool quiet;
};

static int img_snap_set(struct img_snap_cmd *m, enum img_snap_action act, const char *name)
{
	if (m->action != IMG_SNAP_NONE) {
		cli_usage_error(IMG_PROG, "Cannot mix '-l', '-a', '-c', '-d'");
		return -EINVAL;
	}
	m->action = act;
	m->name = name;
	return 0;
}

static int img_snap_parse(int argc, char **argv, struct img_snap_cmd *m)
{
	static const struct cliopt opts[] = {
		{ 'l', NULL, CLIOPT_NO_ARG }, { 'a', NULL, CLIOPT_ARG }, { 'c', NULL, CLIOPT_ARG },
		{ 'd', NULL, CLIOPT_ARG }, { 'f', NULL, CLIOPT_ARG }, { 'q', NULL, CLIOPT_NO_ARG },
		{ 'U', "force-share", CLIOPT_NO_ARG }, { 'h', "help", CLIOPT_NO_ARG },
	};
	struct cliopt_state s;
	int id, ret = 0;

	cliopt_init(&s, IMG_PROG, argc, argv, 1, opts, ARRAY_SIZE(opts));
	while (ret == 0 && (id = cliopt_next(&s)) != CLIOPT_END) {
		switch (id) {
		case CLIOPT_ERROR: return -EINVAL;
		case 'h': return 1;
		case 'l': ret = img_snap_set(m, IMG_SNAP_LIST, NULL); break;
		case 'a': ret = img_snap_set(m, IMG_SNAP_APPLY, s.arg); break;
		case 'c': ret = img_snap_set(m, IMG_SNAP_CREATE, s.arg); break;
		case 'd': ret = img_snap_set(m, IMG_SNAP_DELETE, s.arg); break;
		case 'f': m->a.fmt = s.arg; break;
		case 'q': m->quiet = true; break;
		case 'U': m->a.force_share = true; break;
		case CLIOPT_POSITIONAL:
			if (img_take_file(&m->file, s.arg) < 0)
				return -EINVAL;
			break;
		}
	}
	if (ret < 0)
		return ret;
	if (img_need_file(m->file) < 0)
		return -EINVAL;
	if (m->action == IMG_SNAP_NONE)
		m->action = IMG_SNAP_LIST;
	return 0;
}

static int img_snap_list(struct blk *b, const char *file)
{
	struct blk_snapshot *v = NULL;
	size_t n = 0;
	int ret = img_snapshot_list(b, &v, &n);

	if (ret < 0)
		cli_error(IMG_PROG, "%s: Could not list snapshots: %s", file, strerror(-ret));
	else if (n)
		img_snapshot_print_table(v, n);
	free(v);
	return ret;
}

static int img_snap_modify(struct blk *b, const struct img_snap_cmd *m)
{
	int (*op)(struct blk *, const char *) = NULL;
	const char *what = "";
	int ret;

	switch (m->action) {
	case IMG_SNAP_APPLY: op = b->drv->snapshot_apply; what = "apply"; break;
	case IMG_SNAP_CREATE: op = b->drv->snapshot_create; what = "create"; break;
	case IMG_SNAP_DELETE: op = b->drv->snapshot_delete; what = "delete"; break;
	case IMG_SNAP_NONE:
	case IMG_SNAP_LIST: return -EINVAL;
	}
	if (!op) {
		cli_error(IMG_PROG, "%s: Could not %s snapshot '%s': format %s has no snapshots",
			  m->file, what, m->name, b->drv->format);
		return -ENOTSUP;
	}
	pthread_mutex_lock(&b->lock);
	ret = op(b, m->name);
	pthread_mutex_unlock(&b->lock);
	if (ret == 0)
		ret = blk_flush(b);
	if (ret < 0)
		cli_error(IMG_PROG, "%s: Could not %s snapshot '%s': %s", m->file, what, m->name,
			  ret == -ENOENT ? "no snapshot with that ID or name" : strerror(-ret));
	return ret;
}

int img_cmd_snapshot(int argc, char **argv)
{
	struct img_snap_cmd m = { 0 };
	struct blk *b = NULL;
	int ret;

	ret = img_snap_parse(argc, argv, &m);
	if (ret)
		return ret > 0 ? img_verb_help("snapshot") : IMG_EXIT_ERR;
	m.a.writable = m.action != IMG_SNAP_LIST;
	m.a.no_backing = true;
	ret = img_open(m.file, &m.a, &b);
	if (ret < 0)
		return IMG_EXIT_ERR;
	if (m.action == IMG_SNAP_LIST)
		ret = img_snap_list(b, m.file);
	else
		ret = img_snap_modify(b, &m);
	blk_close(b);
	return ret < 0 ? IMG_EXIT_ERR : 0;
}
