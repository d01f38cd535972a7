/* test_cli_dom: the vmkit tool's domain verbs without a daemon: connection
 * URIs → socket paths, the command table (every entry complete, every verb
 * and option in the generated bash completion), the table-driven argument
 * checks and exit codes of cli_main (usage 2, cannot connect 3), and with the
 * argument "golden" the JSON → text printers against tests/golden/cli/
 * (NAME.json → NAME.out; VMKIT_GOLDEN_UPDATE=1 rewrites the .out files). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/dom.h"
#include "common/util.h"

#define GOLDEN_DIR TEST_SRCDIR "/tests/golden/cli"

/* ---- URIs ---------------------------------------------------------------- */

static void uri_ok(const char *uri, bool ro, const char *want)
{
	const char *why = "unset";
	char buf[108];

	assert_int_equal(dclient_uri_socket(uri, ro, buf, sizeof(buf), &why), 0);
	assert_null(why);
	assert_string_equal(buf, want);
}

static void uri_bad(const char *uri, bool ro, const char *why_part)
{
	const char *why = NULL;
	char buf[108];

	assert_int_equal(dclient_uri_socket(uri, ro, buf, sizeof(buf), &why), -EINVAL);
	assert_non_null(why);
	assert_non_null(strstr(why, why_part));
}

static void test_uri(void **state)
{
	char longuri[200];

	uri_ok("vmkit:///system", false, "/run/vmkit/vmkitd.sock");
	uri_ok("vmkit:///system", true, "/run/vmkit/vmkitd-ro.sock");
	uri_ok("unix:///tmp/x/vmkitd.sock", false, "/tmp/x/vmkitd.sock");
	uri_ok("unix:///tmp/x/vmkitd.sock", true, "/tmp/x/vmkitd-ro.sock");
	uri_ok("unix:///other.sock", true, "/vmkitd-ro.sock");
	uri_bad("", false, "unsupported");
	uri_bad("vmkit:///session", false, "unsupported");
	uri_bad("qemu:///system", false, "unsupported");
	uri_bad("unix://relative/x.sock", false, "absolute");
	uri_bad("unix:///tmp/dir/", false, "absolute");
	uri_bad("unix://", false, "absolute");
	snprintf(longuri, sizeof(longuri), "unix:///%0150d/vmkitd.sock", 0);
	uri_bad(longuri, false, "too long");
	uri_bad(longuri, true, "too long");
}

static void test_exit_codes(void **state)
{
	assert_int_equal(dclient_exit_code(0), DOM_EXIT_OK);
	assert_int_equal(dclient_exit_code(-ECONNREFUSED), 3);
	assert_int_equal(dclient_exit_code(-EINVAL), 2);
	assert_int_equal(dclient_exit_code(-EPROTO), 1);
	assert_int_equal(dclient_exit_code(-EIO), 1);
	assert_int_equal(dclient_exit_code(-ENOENT), 1);
}

/* ---- the command table and the completion -------------------------------- */

static char *completion_text(void)
{
	const struct cli_cmd *cmds;
	char *buf = NULL;
	size_t len = 0, n;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	cmds = cli_commands(&n);
	assert_int_equal(completion_bash(f, cmds, n), 0);
	fclose(f);
	return buf;
}

/* The line of the completion's case for verb: "\tNAME)\n\t\topts=\"...\"". */
static const char *completion_verb_line(const char *text, const char *verb)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\n\t%s)\n\t\topts=\"", verb);
	p = strstr(text, key);
	return p ? p + strlen(key) : NULL;
}

static void test_table_complete(void **state)
{
	const struct cli_cmd *cmds = NULL;
	size_t n = 0;
	char *text = completion_text();

	cmds = cli_commands(&n);
	assert_true(n >= 25);
	for (size_t i = 0; i < n; i++) {
		const struct cli_cmd *c = &cmds[i];
		const char *line = completion_verb_line(text, c->name);
		const char *end;

		assert_non_null(c->name);
		assert_true(c->summary && *c->summary);
		assert_true(c->usage && strncmp(c->usage, c->name, strlen(c->name)) == 0);
		assert_true(c->kind == DARGS_RAW ? c->raw != NULL : c->fn != NULL);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(cmds[k].name, c->name);
		if (!line)
			fail_msg("verb '%s' is not in the completion", c->name);
		end = strchr(line, '"');
		assert_non_null(end);
		for (int o = 0; o < DOPT_COUNT_ && c->kind != DARGS_RAW; o++) {
			char opt[40];
			bool listed, want = o == DOPT_HELP || (c->opts & DOPT_BIT(o));

			snprintf(opt, sizeof(opt), "--%s", dopt_defs[o].long_name);
			listed = memmem(line, (size_t)(end - line), opt, strlen(opt)) != NULL;
			if (listed != want)
				fail_msg("verb '%s': option %s %s in the completion", c->name, opt,
					 want ? "missing" : "wrongly");
		}
	}
	assert_non_null(strstr(text, "list --all --name"));
	assert_non_null(strstr(text, "complete -F _vmkit_complete vmkit"));
	free(text);
}

static void test_options_documented(void **state)
{
	for (int o = 0; o < DOPT_COUNT_; o++) {
		assert_non_null(dopt_defs[o].long_name);
		assert_true(dopt_defs[o].help && *dopt_defs[o].help);
	}
}

/* ---- cli_main: usage errors and connection failures ----------------------- */

/* Run cli_main on argv (NULL-terminated, argv[0] included) with stdout and
 * stderr to /dev/null; its exit code. */
static int run_argv(char **argv)
{
	int out = dup(STDOUT_FILENO), err = dup(STDERR_FILENO);
	int null = open("/dev/null", O_WRONLY);
	int argc = 0, rc;

	while (argv[argc])
		argc++;
	fflush(NULL);
	dup2(null, STDOUT_FILENO);
	dup2(null, STDERR_FILENO);
	rc = cli_main(argc, argv);
	fflush(NULL);
	dup2(out, STDOUT_FILENO);
	dup2(err, STDERR_FILENO);
	close(out);
	close(err);
	close(null);
	return rc;
}

#define RUN(...) run_argv((char *[]){ (char *)"vmkit", __VA_ARGS__, NULL })

#define NOSOCK "unix:///nonexistent-vmkit-test/vmkitd.sock"

static void test_main_usage(void **state)
{
	assert_int_equal(run_argv((char *[]){ (char *)"vmkit", NULL }), 2);
	assert_int_equal(RUN("frobnicate"), 2);
	assert_int_equal(RUN("--bogus"), 2);
	assert_int_equal(RUN("start"), 2); /* missing DOMAIN */
	assert_int_equal(RUN("start", "a", "b"), 2); /* one too many */
	assert_int_equal(RUN("start", "--all"), 2); /* not start's */
	assert_int_equal(RUN("list", "--output", "xml"), 2);
	assert_int_equal(RUN("--output", "yaml", "list"), 2);
	assert_int_equal(RUN("-c", "qemu:///system", "list"), 2);
	assert_int_equal(RUN("-c"), 2);
	assert_int_equal(RUN("-r"), 2); /* no command */
	assert_int_equal(RUN("-c", NOSOCK, "shutdown", "x", "--timeout", "3601"), 2);
	assert_int_equal(RUN("-c", NOSOCK, "event", "--loop", "--since", "-1"), 2);
	assert_int_equal(RUN("completion", "zsh"), 2);
	assert_int_equal(RUN("help", "frobnicate"), 2);
	assert_int_equal(RUN("help", "dominfo"), 0);
	assert_int_equal(RUN("dominfo", "--help"), 0);
	assert_int_equal(RUN("--help"), 0);
	assert_int_equal(RUN("completion", "bash"), 0);
}

static void test_main_no_daemon(void **state)
{
	assert_int_equal(RUN("-c", NOSOCK, "list"), 3);
	assert_int_equal(RUN("-r", "-c", NOSOCK, "dominfo", "web"), 3);
	assert_int_equal(RUN("--connect", NOSOCK, "start", "web"), 3);
	assert_int_equal(RUN("-c", NOSOCK, "version"), 3);
	assert_int_equal(RUN("-c", NOSOCK, "console", "web"), 3);
	/* A missing file is the client's own failure (1), before connecting. */
	assert_int_equal(RUN("-c", NOSOCK, "define", "/nonexistent/dom.xml"), 1);
	setenv("VMKIT_DEFAULT_URI", NOSOCK, 1);
	assert_int_equal(RUN("list"), 3);
	setenv("VMKIT_DEFAULT_URI", "bogus:", 1);
	assert_int_equal(RUN("list"), 2);
	unsetenv("VMKIT_DEFAULT_URI");
}

/* ---- golden printers -------------------------------------------------------- */

/* NAME = PRINTER.CASE; the printer variant decides function and flags. */
static int golden_print(const char *printer, json_t *v, FILE *f)
{
	static const struct {
		const char *name;
		int kind;
		unsigned flags;
		const char *target;
	} variants[] = {
		{ "list", 0, 0, NULL }, { "list-name", 0, DPRINT_NAME, NULL },
		{ "list-uuid", 0, DPRINT_UUID, NULL },
		{ "list-name-uuid", 0, DPRINT_NAME | DPRINT_UUID, NULL },
		{ "list-inactive", 0, DPRINT_INACTIVE, NULL },
		{ "dominfo", 1, 0, NULL }, { "domstate", 2, 0, NULL },
		{ "domstate-reason", 2, DPRINT_REASON, NULL }, { "domstats", 3, 0, NULL },
		{ "dommemstat", 4, 0, NULL }, { "domblkstat", 5, 0, NULL },
		{ "domblkstat-vda", 5, 0, "vda" }, { "domblkstat-vdz", 5, 0, "vdz" },
		{ "domifstat", 6, 0, NULL }, { "domifstat-tap1", 6, 0, "vmkit-tap1" },
		{ "domifstat-mac", 6, 0, "52:54:00:12:34:56" }, { "version", 7, 0, NULL },
		{ "event", 8, 0, NULL },
	};

	for (size_t i = 0; i < ARRAY_SIZE(variants); i++) {
		if (strcmp(variants[i].name, printer) != 0)
			continue;
		switch (variants[i].kind) {
		case 0: return dprint_list(f, v, variants[i].flags);
		case 1: return dprint_dominfo(f, v);
		case 2: return dprint_domstate(f, v, variants[i].flags);
		case 3: return dprint_domstats(f, v);
		case 4: return dprint_dommemstat(f, v);
		case 5: return dprint_domblkstat(f, v, variants[i].target);
		case 6: return dprint_domifstat(f, v, variants[i].target);
		case 7: return dprint_version(f, v);
		default: return dprint_event(f, v);
		}
	}
	fail_msg("golden: no printer '%s'", printer);
	return -EINVAL;
}

/* The text of one case: every JSON value of the input (one per line for
 * events, else one document) printed, and a "(rc -N)" line on failure. */
static char *golden_run(const char *name)
{
	char path[512], printer[64], *buf = NULL, *line = NULL;
	size_t len = 0, cap = 0;
	FILE *in, *out = open_memstream(&buf, &len);
	json_error_t jerr;

	snprintf(printer, sizeof(printer), "%.*s", (int)strcspn(name, "."), name);
	snprintf(path, sizeof(path), "%s/%s.json", GOLDEN_DIR, name);
	in = fopen(path, "r");
	assert_non_null(in);
	if (strcmp(printer, "event") == 0) {
		while (getline(&line, &cap, in) > 0) {
			json_t *v = json_loads(line, 0, &jerr);
			int rc = golden_print(printer, v, out);

			if (rc < 0)
				fprintf(out, "(rc %d)\n", rc);
			json_decref(v);
		}
	} else {
		json_t *v = json_loadf(in, 0, &jerr);
		int rc;

		if (!v)
			fail_msg("%s: %s line %d", path, jerr.text, jerr.line);
		rc = golden_print(printer, v, out);
		if (rc < 0)
			fprintf(out, "(rc %d)\n", rc);
		json_decref(v);
	}
	free(line);
	fclose(in);
	fclose(out);
	return buf;
}

static bool golden_check(const char *name, bool update)
{
	char path[512];
	char *got = golden_run(name);
	uint8_t *want = NULL;
	size_t wlen = 0;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s.out", GOLDEN_DIR, name);
	if (update) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(got, f);
		fclose(f);
	}
	ok = util_read_file(path, 1 << 20, &want, &wlen) == 0 && wlen == strlen(got) &&
	     memcmp(want, got, wlen) == 0;
	if (!ok)
		print_error("golden %s:\n--- expected\n%.*s--- got\n%s", name, (int)wlen,
			    want ? (const char *)want : "", got);
	free(want);
	free(got);
	return ok;
}

static void test_golden(void **state)
{
	bool update = getenv("VMKIT_GOLDEN_UPDATE") != NULL;
	DIR *d = opendir(GOLDEN_DIR);
	struct dirent *e;
	size_t n = 0, failed = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		char name[256];

		if (l < 6 || strcmp(e->d_name + l - 5, ".json") != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(l - 5), e->d_name);
		n++;
		if (!golden_check(name, update))
			failed++;
	}
	closedir(d);
	assert_true(n >= 15);
	assert_int_equal(failed, 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_table_complete),
		cmocka_unit_test(test_options_documented),
		cmocka_unit_test(test_main_usage),
		cmocka_unit_test(test_main_no_daemon),
	};
	const struct CMUnitTest golden[] = {
		cmocka_unit_test(test_golden),
	};

	if (argc == 2 && strcmp(argv[1], "golden") == 0)
		return cmocka_run_group_tests_name("golden", golden, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
