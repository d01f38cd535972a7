/* test_cliopt: the vmkit tool's option parser (short clusters, attached and
 * separate values, long options with '=' or a separate value, '--', options
 * after positional arguments, errors), qemu-img's size syntax and its human
 * size printing. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/util.h"

enum { OPT_OUTPUT = CLIOPT_LONG, OPT_CHAIN };

static const struct cliopt opts[] = {
	{ 'f', NULL, CLIOPT_ARG }, { 'q', NULL, CLIOPT_NO_ARG }, { 'U', "force-share", CLIOPT_NO_ARG },
	{ 'o', NULL, CLIOPT_ARG }, { OPT_OUTPUT, "output", CLIOPT_ARG },
	{ OPT_CHAIN, "backing-chain", CLIOPT_NO_ARG },
};

/* Parse argv into a compact trace "f=qcow2 q P=file ..."; returns the last
 * cliopt_next() result (CLIOPT_END or CLIOPT_ERROR). */
static int parse(int argc, char **argv, char *trace, size_t len)
{
	struct cliopt_state s;
	int id;

	trace[0] = '\0';
	cliopt_init(&s, "test", argc, argv, 1, opts, ARRAY_SIZE(opts));
	while ((id = cliopt_next(&s)) != CLIOPT_END && id != CLIOPT_ERROR) {
		char item[128];

		if (id == CLIOPT_POSITIONAL)
			snprintf(item, sizeof(item), "P=%s ", s.arg);
		else if (id == OPT_OUTPUT)
			snprintf(item, sizeof(item), "output=%s ", s.arg);
		else if (id == OPT_CHAIN)
			snprintf(item, sizeof(item), "chain ");
		else if (s.arg)
			snprintf(item, sizeof(item), "%c=%s ", id, s.arg);
		else
			snprintf(item, sizeof(item), "%c ", id);
		strncat(trace, item, len - strlen(trace) - 1);
	}
	return id;
}

/* PARSE(trace, "arg", ...): argv[0] is the verb; at most 15 arguments. */
static int parsev(char *trace, size_t len, ...)
{
	char *av[16] = { "verb" };
	int ac = 1;
	va_list ap;
	const char *a;

	va_start(ap, len);
	while ((a = va_arg(ap, const char *)) != NULL && ac < 15)
		av[ac++] = (char *)a;
	va_end(ap);
	return parse(ac, av, trace, len);
}

#define PARSE(trace, ...) parsev(trace, sizeof(trace), __VA_ARGS__, (const char *)NULL)

static void test_short_options(void **state)
{
	char t[512];

	assert_int_equal(PARSE(t, "-f", "qcow2", "-q", "img"), CLIOPT_END);
	assert_string_equal(t, "f=qcow2 q P=img ");
	assert_int_equal(PARSE(t, "-fraw", "-qU", "img"), CLIOPT_END);
	assert_string_equal(t, "f=raw q U P=img ");
	/* a value-taking option ends a cluster and takes the rest */
	assert_int_equal(PARSE(t, "-qfqcow2", "img"), CLIOPT_END);
	assert_string_equal(t, "q f=qcow2 P=img ");
	assert_int_equal(PARSE(t, "-qf", "raw"), CLIOPT_END);
	assert_string_equal(t, "q f=raw ");
	/* options after positional arguments, and "-" is positional */
	assert_int_equal(PARSE(t, "a", "-q", "-", "b"), CLIOPT_END);
	assert_string_equal(t, "P=a q P=- P=b ");
	/* a value may start with '-' */
	assert_int_equal(PARSE(t, "-o", "-x"), CLIOPT_END);
	assert_string_equal(t, "o=-x ");
}

static void test_long_options(void **state)
{
	char t[512];

	assert_int_equal(PARSE(t, "--output=json", "--backing-chain", "img"), CLIOPT_END);
	assert_string_equal(t, "output=json chain P=img ");
	assert_int_equal(PARSE(t, "--output", "human", "--force-share"), CLIOPT_END);
	assert_string_equal(t, "output=human U ");
	assert_int_equal(PARSE(t, "--output="), CLIOPT_END);
	assert_string_equal(t, "output= ");
	/* after "--" everything is positional */
	assert_int_equal(PARSE(t, "-q", "--", "-f", "--output=json"), CLIOPT_END);
	assert_string_equal(t, "q P=-f P=--output=json ");
}

static void test_option_errors(void **state)
{
	char t[512];
	int saved = dup(STDERR_FILENO);
	FILE *null = fopen("/dev/null", "w");

	assert_non_null(null);
	dup2(fileno(null), STDERR_FILENO);   /* the messages are not the point here */
	assert_int_equal(PARSE(t, "-Z"), CLIOPT_ERROR);
	assert_int_equal(PARSE(t, "-qZ"), CLIOPT_ERROR);
	assert_string_equal(t, "q ");
	assert_int_equal(PARSE(t, "--frob"), CLIOPT_ERROR);
	assert_int_equal(PARSE(t, "--frob=1"), CLIOPT_ERROR);
	assert_int_equal(PARSE(t, "--out=json"), CLIOPT_ERROR);      /* no abbreviations */
	assert_int_equal(PARSE(t, "-f"), CLIOPT_ERROR);
	assert_int_equal(PARSE(t, "img", "--output"), CLIOPT_ERROR);
	assert_string_equal(t, "P=img ");
	assert_int_equal(PARSE(t, "--backing-chain=yes"), CLIOPT_ERROR);
	assert_int_equal(cli_usage_error("test", "x"), CLI_EXIT_USAGE);
	dup2(saved, STDERR_FILENO);
	close(saved);
	fclose(null);
}

static void test_parse_size(void **state)
{
	static const struct { const char *s; uint64_t v; } ok[] = {
		{ "0", 0 }, { "512", 512 }, { "1k", 1024 }, { "1K", 1024 }, { "2M", 2 << 20 },
		{ "2m", 2 << 20 }, { "3G", 3ULL << 30 }, { "1T", 1ULL << 40 }, { "1P", 1ULL << 50 },
		{ "7E", 7ULL << 60 }, { "1536b", 1536 }, { "1536B", 1536 }, { "1.5k", 1536 },
		{ "1.5G", 3ULL << 29 }, { "0.5M", 512 << 10 }, { "64k", 65536 },
		{ "9223372036854775807", INT64_MAX },
	};
	static const char *const bad[] = {
		"", "k", "-1", "+1", "1Q", "1kk", "1 k", "1.5", "1.k", ".5k", "1.5b", " 1", "0x10",
		"abc",
	};
	uint64_t v;

	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(cli_parse_size(ok[i].s, &v), 0);
		assert_true(v == ok[i].v);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(cli_parse_size(bad[i], &v), -EINVAL);
	assert_int_equal(cli_parse_size(NULL, &v), -EINVAL);
	assert_int_equal(cli_parse_size("8E", &v), -ERANGE);
	assert_int_equal(cli_parse_size("9223372036854775808", &v), -ERANGE);
	assert_int_equal(cli_parse_size("99999999999999999999", &v), -ERANGE);
	assert_int_equal(cli_parse_size("8388608T", &v), -ERANGE);
	assert_int_equal(cli_parse_size("7.9999E", &v), 0);
	assert_int_equal(cli_parse_size("7.99999999999999999999E", &v), -ERANGE);
}

static void test_format_size(void **state)
{
	static const struct { uint64_t v; const char *s; } cases[] = {
		{ 0, "0 B" }, { 999, "999 B" }, { 1000, "0.977 KiB" }, { 1024, "1 KiB" },
		{ 200704, "196 KiB" }, { 217088, "212 KiB" }, { 10485760, "10 MiB" },
		{ 1572864, "1.5 MiB" }, { 1023 * 1024, "0.999 MiB" }, { 2147483648ULL, "2 GiB" },
		{ 1ULL << 40, "1 TiB" }, { UINT64_MAX, "16 EiB" },
	};
	char buf[32];

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cli_format_size(cases[i].v, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].s);
	}
	cli_format_size(10485760, buf, 4);   /* truncated, still terminated */
	assert_int_equal(strlen(buf), 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_short_options),
		cmocka_unit_test(test_long_options),
		cmocka_unit_test(test_option_errors),
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_format_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
