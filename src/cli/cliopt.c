/* cliopt: the command-line option parser of the vmkit tool (short option
 * clusters, "-fqcow2", "--long=value", "--long value", "--", options mixed
 * with positional arguments), usage-error messages, and size parsing and
 * printing in qemu-img's conventions. All parser state is in the caller's
 * struct cliopt_state. */
#include "cli/cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void cli_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help' for more information\n", prog);
	return CLI_EXIT_USAGE;
}

void cliopt_init(struct cliopt_state *s, const char *prog, int argc, char **argv,
		 int first, const struct cliopt *opts, size_t nopts)
{
	memset(s, 0, sizeof(*s));
	s->prog = prog;
	s->argc = argc;
	s->argv = argv;
	s->next = first;
	s->opts = opts;
	s->nopts = nopts;
}

static const struct cliopt *cliopt_find_short(const struct cliopt_state *s, char c)
{
	for (size_t i = 0; i < s->nopts; i++) {
		if (s->opts[i].id == (unsigned char)c && s->opts[i].id < CLIOPT_LONG)
			return &s->opts[i];
	}
	return NULL;
}

static const struct cliopt *cliopt_find_long(const struct cliopt_state *s, const char *name,
					     size_t len)
{
	for (size_t i = 0; i < s->nopts; i++) {
		const char *ln = s->opts[i].long_name;

		if (ln && strlen(ln) == len && strncmp(ln, name, len) == 0)
			return &s->opts[i];
	}
	return NULL;
}

/* The value of an option that takes one: the rest of the word, or the next. */
static int cliopt_take_value(struct cliopt_state *s, const char *rest, const char *spelled)
{
	if (rest && *rest) {
		s->arg = rest;
		return 0;
	}
	if (s->next >= s->argc) {
		cli_usage_error(s->prog, "option '%s' requires an argument", spelled);
		return -EINVAL;
	}
	s->arg = s->argv[s->next++];
	return 0;
}

static int cliopt_short(struct cliopt_state *s)
{
	const struct cliopt *o;
	char c = *s->cluster++;

	o = cliopt_find_short(s, c);
	if (!o) {
		s->cluster = NULL;
		cli_usage_error(s->prog, "invalid option -- '%c'", c);
		return CLIOPT_ERROR;
	}
	s->arg = NULL;
	if (o->has_arg == CLIOPT_ARG) {
		const char *rest = s->cluster;
		char spelled[3] = { '-', c, '\0' };

		s->cluster = NULL;
		if (cliopt_take_value(s, rest, spelled) < 0)
			return CLIOPT_ERROR;
	} else if (*s->cluster == '\0') {
		s->cluster = NULL;
	}
	return o->id;
}

static int cliopt_long(struct cliopt_state *s, const char *word)
{
	const char *eq = strchr(word + 2, '=');
	size_t len = eq ? (size_t)(eq - word - 2) : strlen(word + 2);
	const struct cliopt *o = cliopt_find_long(s, word + 2, len);

	s->arg = NULL;
	if (!o) {
		cli_usage_error(s->prog, "unrecognized option '%.*s'", (int)(len + 2), word);
		return CLIOPT_ERROR;
	}
	if (o->has_arg == CLIOPT_NO_ARG) {
		if (eq) {
			cli_usage_error(s->prog, "option '--%s' doesn't allow an argument",
					o->long_name);
			return CLIOPT_ERROR;
		}
		return o->id;
	}
	if (eq)
		s->arg = eq + 1;   /* "--name=" is an empty value */
	else if (cliopt_take_value(s, NULL, word) < 0)
		return CLIOPT_ERROR;
	return o->id;
}

int cliopt_next(struct cliopt_state *s)
{
	const char *word;

	if (s->cluster)
		return cliopt_short(s);
	if (s->next >= s->argc)
		return CLIOPT_END;
	word = s->argv[s->next++];
	s->arg = word;
	if (s->only_positional || word[0] != '-' || word[1] == '\0')
		return CLIOPT_POSITIONAL;
	if (strcmp(word, "--") == 0) {
		s->only_positional = true;
		return cliopt_next(s);
	}
	if (word[1] == '-')
		return cliopt_long(s, word);
	s->cluster = word + 1;
	return cliopt_short(s);
}

static int cli_size_shift(const char *suffix, unsigned *shift)
{
	static const char units[] = "BKMGTPE";
	const char *p;

	if (*suffix == '\0') {
		*shift = 0;
		return 0;
	}
	if (suffix[1] != '\0')
		return -EINVAL;
	p = strchr(units, toupper((unsigned char)*suffix));
	if (!p)
		return -EINVAL;
	*shift = 10u * (unsigned)(p - units);
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	unsigned long long whole;
	double frac = 0;
	unsigned shift;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	whole = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end == '.') {
		const char *f = end;

		end++;
		if (!isdigit((unsigned char)*end))
			return -EINVAL;
		while (isdigit((unsigned char)*end))
			end++;
		frac = strtod(f, NULL);
	}
	if (cli_size_shift(end, &shift) < 0)
		return -EINVAL;
	if (frac != 0 && shift == 0)
		return -EINVAL;   /* fractions of a byte */
	if (whole > ((unsigned long long)INT64_MAX >> shift))
		return -ERANGE;
	whole <<= shift;
	frac = floor(frac * (double)(1ULL << shift));   /* < 2^63: shift <= 60 */
	if ((uint64_t)frac > (uint64_t)INT64_MAX - whole)
		return -ERANGE;
	*out = whole + (uint64_t)frac;
	return 0;
}

void cli_format_size(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	unsigned i = 0;

	/* Move to the next unit once the figure would need four digits. */
	while (i + 1 < ARRAY_SIZE(units) && (double)v >= 1000.0 * (double)(1ULL << (10 * i)))
		i++;
	snprintf(buf, len, "%0.3g %s", (double)v / (double)(1ULL << (10 * i)), units[i]);
}
