/* cli: private interface of the `vmkit` command-line tool: the option
 * parser (cliopt.c), the top-level command entry points, the `vmkit img`
 * verbs and the helpers they share (img.c), and the progress bar
 * (progress.c). Nothing outside src/cli includes this. */
#ifndef VMKIT_CLI_H
#define VMKIT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/block.h"

/* Exit status of a usage error (what qemu-img uses). */
#define CLI_EXIT_USAGE 1

/* ---- option parser (cliopt.c) ----------------------------------------- */

enum cliopt_has_arg { CLIOPT_NO_ARG, CLIOPT_ARG };

/* One option: id is the short option character ('f'), or a value >=
 * CLIOPT_LONG for long-only options. long_name is without "--". */
struct cliopt {
	int id;
	const char *long_name;
	enum cliopt_has_arg has_arg;
};

#define CLIOPT_LONG 256
#define CLIOPT_END 0         /* cliopt_next: no more arguments */
#define CLIOPT_POSITIONAL 1  /* cliopt_next: a non-option argument in ->arg */
#define CLIOPT_ERROR (-1)    /* cliopt_next: bad usage, message printed */

struct cliopt_state {
	const char *prog;           /* "vmkit img" (for messages) */
	int argc;
	char **argv;
	int next;                   /* next argv index to look at */
	const char *cluster;        /* rest of a "-abc" cluster being parsed */
	bool only_positional;       /* seen "--" */
	const struct cliopt *opts;
	size_t nopts;
	const char *arg;            /* argument of the last option / positional */
};

/* Parse argv[first..argc). Options and positional arguments may mix. */
void cliopt_init(struct cliopt_state *s, const char *prog, int argc, char **argv,
		 int first, const struct cliopt *opts, size_t nopts);
/* Option id, CLIOPT_POSITIONAL, CLIOPT_END, or CLIOPT_ERROR. */
int cliopt_next(struct cliopt_state *s);

/* "prog: message\n" on stderr. */
void cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A usage error: the message, then a hint to --help. Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Sizes the way qemu-img takes them: a number with an optional fraction and
 * one of the suffixes b/B (bytes), k/K, M, G, T, P, E (powers of 1024).
 * 0, -EINVAL (not a size) or -ERANGE (over 2^63). */
int cli_parse_size(const char *s, uint64_t *out);
/* qemu's human size: three significant digits and B, KiB, MiB... */
void cli_format_size(uint64_t v, char *buf, size_t len);

/* ---- top-level commands ------------------------------------------------- */

int img_main(int argc, char **argv);   /* `vmkit img ...`: argv[0] == "img" */
void img_print_help(void);

/* ---- img verbs and shared helpers --------------------------------------- */

#define IMG_PROG "vmkit img"
/* Exit status of a failed img verb (qemu-img's). */
#define IMG_EXIT_ERR 1

struct img_open_args {
	const char *fmt;            /* NULL: probe */
	bool writable;
	bool force_share;
	bool no_backing;
	bool direct;                /* O_DIRECT */
	const char *backing_fmt;
	bool check;                 /* opened by `check`: no repair on open */
};

/* Open path for an img verb (probing without a->fmt). 0 or -errno; the
 * block layer has logged why it failed. */
int img_open(const char *path, const struct img_open_args *a, struct blk **out);
/* The one image-file operand of a verb: take it, refusing a second one. */
int img_take_file(const char **file, const char *arg);
/* After option parsing: the operand was given. 0 or -EINVAL (usage printed). */
int img_need_file(const char *file);
/* Resolve a backing reference relative to the directory of the image that
 * names it (absolute references are returned as is). malloc'd, or NULL. */
char *img_backing_path(const char *image, const char *ref);
/* Do both paths name the same existing file? */
bool img_same_file(const char *a, const char *b);
/* "human" or "json" into *json; prints the error. 0 or -EINVAL. */
int img_parse_output(const char *arg, bool *json);
/* Allocated bytes of the image file, or -1 when unknown. */
int64_t img_actual_size(struct blk *b);
/* Calls of driver operations the block layer does not wrap, under b->lock. */
uint32_t img_cluster_size(struct blk *b);
bool img_is_dirty(struct blk *b);
int img_snapshot_list(struct blk *b, struct blk_snapshot **list, size_t *n);
/* Reading through the whole chain: beyond a (shorter) backing file reads are
 * zeros; beyond b's own end is refused by the block layer. */
int img_read(struct blk *b, uint64_t off, void *buf, size_t len);
/* What [off, off+len) of b reads as, looking down the backing chain: the
 * first run of bytes decided by one layer (img_convert.c). */
struct img_extent {
	uint64_t len;               /* bytes in this run (> 0) */
	unsigned status;            /* BLK_STATUS_* of the deciding layer */
	unsigned depth;             /* its depth below b */
	struct blk *layer;          /* the deciding layer; NULL past a short backing */
	uint64_t host_off;          /* with BLK_STATUS_OFFSET */
	bool zero;                  /* reads as zeros */
};
int img_extent(struct blk *b, uint64_t off, uint64_t len, struct img_extent *e);
/* True when len bytes at buf are all zero. */
bool img_is_zero(const void *buf, size_t len);
/* Print a json value the way qemu-img does (4-space indent) + newline. */
int img_print_json(json_t *v);

/* -o name=value[,name=value] options of create and convert. */
struct img_create_args {
	const char *fmt;
	struct blk_create_opts o;
	bool have_size;
	bool help;                  /* "-o help" */
	char *strings[8];           /* copies of -o strings the options point into */
	size_t nstrings;
};
/* Parse one -o string into c (c->fmt must be set). 0 or -errno, printed. */
int img_parse_create_options(const char *file, const char *optstr, struct img_create_args *c);
void img_create_args_free(struct img_create_args *c);
/* Does one of the -o strings ask for help? */
bool img_opts_ask_help(const char *const *optstrs, size_t n);
/* Print the -o options of a format ("-o help"). */
void img_create_opts_help(const char *fmt);
/* Check the combination of options for c->fmt; 0 or -EINVAL, printed. */
int img_create_args_check(const char *file, const struct img_create_args *c);
/* "-h" inside a verb: print its usage line; returns 0. */
int img_verb_help(const char *verb);
/* "Formatting 'file', fmt=... size=..." line of create / convert. */
void img_print_formatting(const char *file, const struct img_create_args *c);

/* Snapshot tables of info and snapshot -l (img_info.c). */
void img_snapshot_print_table(const struct blk_snapshot *v, size_t n);
json_t *img_snapshot_json(const struct blk_snapshot *v, size_t n);

int img_cmd_create(int argc, char **argv);
int img_cmd_info(int argc, char **argv);
int img_cmd_check(int argc, char **argv);
int img_cmd_convert(int argc, char **argv);
int img_cmd_resize(int argc, char **argv);
int img_cmd_snapshot(int argc, char **argv);
int img_cmd_rebase(int argc, char **argv);
int img_cmd_commit(int argc, char **argv);
int img_cmd_map(int argc, char **argv);
int img_cmd_compare(int argc, char **argv);
int img_cmd_bench(int argc, char **argv);

/* ---- progress bar (progress.c) ------------------------------------------ */

struct progress {
	bool enabled;
	int fd;                     /* where the bar goes (stdout) */
	double shown;               /* last percentage printed, -1 before any */
	uint64_t total;
};

void progress_init(struct progress *p, bool enabled, uint64_t total);
/* done bytes of total: reprints when the figure moved by 1% or more. */
void progress_update(struct progress *p, uint64_t done);
/* Show 100% and end the line. */
void progress_finish(struct progress *p);

#endif
