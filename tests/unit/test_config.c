/* test_config: command-line and JSON configuration, and validation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "common/util.h"
#include "config.h"

static int parse(struct vm_config *cfg, const char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	config_defaults(cfg);
	return config_parse_args(argc, (char **)argv, cfg);
}

#define PARSE(cfg, ...) parse(cfg, (const char *[]){ "vmkit-vmm", __VA_ARGS__, NULL })

static void test_defaults(void **state)
{
	struct vm_config cfg;

	config_defaults(&cfg);
	assert_true(cfg.memory == 512 * MiB);
	assert_int_equal(cfg.cpus, 1);
	assert_int_equal(cfg.serial.kind, CHARDEV_STDIO);
	assert_string_equal(cfg.kvm_device, "/dev/kvm");
	assert_int_equal(config_validate(&cfg, 0), -EINVAL); /* no kernel */
}

static void test_options(void **state)
{
	struct vm_config cfg;

	assert_int_equal(PARSE(&cfg, "--kernel", "/k", "--memory", "1G", "--cpus", "4",
			       "--cmdline", "a=b c", "--serial", "pty", "--on-reboot", "exit",
			       "--on-triple-fault=exit", "--log-level", "debug",
			       "--api-socket", "/tmp/s"), CONFIG_RUN);
	assert_string_equal(cfg.kernel, "/k");
	assert_true(cfg.memory == 1 * GiB);
	assert_int_equal(cfg.cpus, 4);
	assert_string_equal(cfg.cmdline, "a=b c");
	assert_int_equal(cfg.serial.kind, CHARDEV_PTY);
	assert_int_equal(cfg.on_reboot, CONFIG_REBOOT_EXIT);
	assert_int_equal(cfg.on_triple_fault, CONFIG_TF_EXIT);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_string_equal(cfg.api_socket, "/tmp/s");
	assert_int_equal(config_validate(&cfg, 0), 0);
}

static void test_bad_options(void **state)
{
	struct vm_config cfg;
	char longpath[200];

	assert_int_equal(PARSE(&cfg, "--bogus"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--kernel"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--memory", "lots"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--memory", "0"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--cpus", "0"), -ERANGE);
	assert_int_equal(PARSE(&cfg, "--cpus", "two"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--cpus", "255"), -ERANGE);
	assert_int_equal(PARSE(&cfg, "--on-reboot", "maybe"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--serial", "tcp:1234"), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--kernel", "/k", "extra"), -EINVAL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(PARSE(&cfg, "--api-socket", longpath), -ENAMETOOLONG);
}

static void test_help(void **state)
{
	struct vm_config cfg;

	assert_int_equal(PARSE(&cfg, "--help"), CONFIG_HELP);
	assert_int_equal(PARSE(&cfg, "--version"), CONFIG_HELP);
}

static void test_validate(void **state)
{
	struct vm_config cfg;

	assert_int_equal(PARSE(&cfg, "--kernel", "/k", "--memory", "100T"), CONFIG_RUN);
	assert_int_equal(config_validate(&cfg, 24 * GiB), -ENOMEM);
	assert_int_equal(PARSE(&cfg, "--kernel", "/k", "--memory", "1M"), CONFIG_RUN);
	assert_int_equal(config_validate(&cfg, 24 * GiB), -EINVAL);
	assert_int_equal(PARSE(&cfg, "--kernel", "/k", "--memory", "16777217"), CONFIG_RUN);
	assert_int_equal(config_validate(&cfg, 24 * GiB), -EINVAL);
}

static void test_json(void **state)
{
	struct vm_config cfg;
	static const char good[] = "{\"kernel\": \"/vmlinux\", \"memory\": 268435456, "
				   "\"cpus\": 2, \"serial\": \"none\", \"cmdline\": \"x\"}";

	config_defaults(&cfg);
	assert_int_equal(config_apply_json(&cfg, good, strlen(good), "t.json"), 0);
	assert_string_equal(cfg.kernel, "/vmlinux");
	assert_true(cfg.memory == 256 * MiB);
	assert_int_equal(cfg.cpus, 2);
	assert_int_equal(cfg.serial.kind, CHARDEV_NONE);
}

static void test_json_bad(void **state)
{
	static const char *const bad[] = {
		"{", "[]", "{\"kernel\": 1.5}", "{\"colour\": \"red\"}", "{\"cpus\": -1}",
		"{\"cpus\": 0}", "{\"kernel\": \"a\", \"kernel\": \"b\"}", "{\"memory\": true}",
		"\"text\"",
	};
	struct vm_config cfg;

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		config_defaults(&cfg);
		assert_true(config_apply_json(&cfg, bad[i], strlen(bad[i]), "bad.json") < 0);
	}
}

static void test_config_file_then_flags(void **state)
{
	struct vm_config cfg;

	assert_int_equal(PARSE(&cfg, "--config", "/nonexistent/vm.json"), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_validate),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_bad),
		cmocka_unit_test(test_config_file_then_flags),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
