/* test_config: command-line and JSON configuration, and validation. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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


/* ---- virtio device options ---- */

/* Parse argv (after "--kernel /k") and validate if that passed, with the
 * log captured: returns the result, *out the log text. */
static int run_captured(struct vm_config *cfg, const char *const *args, char *out,
			size_t size)
{
	const char *argv[96] = { "vmkit-vmm", "--kernel", "/k" };
	FILE *f = tmpfile();
	int argc = 3, saved, ret;
	ssize_t n;

	while (*args && argc < 95)
		argv[argc++] = *args++;
	argv[argc] = NULL;
	assert_non_null(f);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
	config_defaults(cfg);
	ret = config_parse_args(argc, (char **)argv, cfg);
	if (ret == CONFIG_RUN)
		ret = config_validate(cfg, 0);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(f);
	n = (ssize_t)fread(out, 1, size - 1, f);
	out[n > 0 ? n : 0] = '\0';
	fclose(f);
	return ret;
}

#define E "vmkit: error: "

struct refusal {
	const char *args[8];
	const char *text;
};

static const struct refusal refusals[] = {
	{ { "--disk", "path=/nonexistent/a.img,format=raw" },
	  E "--disk disk0: /nonexistent/a.img: No such file or directory\n" },
	{ { "--disk", "path=/dev/null" },
	  E "--disk path=/dev/null: format= is missing (raw or qcow2)\n" },
	{ { "--disk", "format=qcow2" }, E "--disk format=qcow2: path= is missing\n" },
	{ { "--disk", "path=/dev/null,format=vmdk" }, E "--disk: format='vmdk' is not raw|qcow2\n" },
	{ { "--disk", "path=/dev/null,format=raw,colour=red" },
	  E "--disk: unknown key 'colour' (keys: path, format, readonly, cache, id, queues)\n" },
	{ { "--disk", "path=/dev/null,raw" },
	  E "--disk: 'raw' is not KEY=VALUE (keys: path, format, readonly, cache, id, queues)\n" },
	{ { "--disk", "path=/dev/null,,format=raw" },
	  E "--disk: empty item in 'path=/dev/null,,format=raw'\n" },
	{ { "--disk", "path=/dev/null,format=raw,readonly=yes" },
	  E "--disk: readonly='yes' is not on|off\n" },
	{ { "--disk", "path=/dev/null,format=raw,cache=directsync" },
	  E "--disk: cache='directsync' is not none|writeback\n" },
	{ { "--disk", "path=/dev/null,format=raw,queues=0" },
	  E "--disk: queues='0' is not a number from 1 to 16\n" },
	{ { "--disk", "path=/,format=raw" }, E "--disk disk0: /: is a directory\n" },
	{ { "--disk", "path=/dev/null,format=raw,id=9lives" },
	  E "--disk: id='9lives' is not a letter followed by at most 30 letters, digits, '.', "
	    "'_' or '-'\n" },
	{ { "--net", "tap=t0,mac=01:00:5e:00:00:01" },
	  E "--net: mac='01:00:5e:00:00:01' is a multicast address\n" },
	{ { "--net", "tap=t0,mac=02:00:00:00:00" },
	  E "--net: mac='02:00:00:00:00' is not a MAC address (XX:XX:XX:XX:XX:XX)\n" },
	{ { "--net", "tap=t0,mac=02:00:00:00:00:0g" },
	  E "--net: mac='02:00:00:00:00:0g' is not a MAC address (XX:XX:XX:XX:XX:XX)\n" },
	{ { "--net", "tap=t0,mac=00:00:00:00:00:00" },
	  E "--net: mac='00:00:00:00:00:00' is all zeroes\n" },
	{ { "--net", "tap=t0,fd=3" }, E "--net tap=t0,fd=3: give exactly one of tap=NAME and fd=N\n" },
	{ { "--net", "mac=02:00:00:00:00:01" },
	  E "--net mac=02:00:00:00:00:01: give exactly one of tap=NAME and fd=N\n" },
	{ { "--net", "tap=a/b" },
	  E "--net: tap='a/b' is not an interface name (1 to 15 characters, no '/')\n" },
	{ { "--net", "fd=-1" }, E "--net: fd='-1' is not a file descriptor number\n" },
	{ { "--disk", "path=/dev/null,format=raw,id=a", "--net", "tap=t0,id=a" },
	  E "--net: duplicate device id 'a' (also --disk)\n" },
	{ { "--disk", "path=/dev/null,format=raw,id=rng0", "--rng" },
	  E "--rng: duplicate device id 'rng0' (also --disk)\n" },
	{ { "--console", "stdio" },
	  E "--console console0: stdio is already used by --serial (give one of them another "
	    "backend, e.g. --serial none)\n" },
	{ { "--serial", "none", "--console", "stdio,id=c1", "--console", "stdio" },
	  E "--console console0: stdio is already used by console c1 (give one of them another "
	    "backend, e.g. --serial none)\n" },
	{ { "--console", "" }, E "--console: no backend (stdio, pty, file:PATH, unix:PATH or none)\n" },
	{ { "--console", "pty,speed=9600" }, E "--console: unknown key 'speed' (keys: id)\n" },
	{ { "--rng=on" }, E "option --rng takes no value (got '--rng=on')\n" },
	{ { "--frobnicate=1" }, E "unknown option '--frobnicate=1' (see --help)\n" },
};

static void test_device_refusals(void **state)
{
	char out[1024];
	struct vm_config *cfg = malloc(sizeof(*cfg));
	unsigned bad = 0;

	assert_non_null(cfg);
	for (size_t i = 0; i < ARRAY_SIZE(refusals); i++) {
		int ret = run_captured(cfg, refusals[i].args, out, sizeof(out));

		if (ret < 0 && strcmp(out, refusals[i].text) == 0)
			continue;
		print_error("case %zu: rc %d, log:\n%s\nexpected:\n%s", i, ret, out,
			    refusals[i].text);
		bad++;
	}
	free(cfg);
	assert_int_equal(bad, 0);
}

/* args: n disks and m nets (--net tap=tI), NULL-terminated. */
static void device_args(const char **args, unsigned ndisks, unsigned nnets,
			char taps[][16])
{
	unsigned n = 0;

	for (unsigned i = 0; i < ndisks; i++) {
		args[n++] = "--disk";
		args[n++] = "path=/dev/null,format=raw";
	}
	for (unsigned i = 0; i < nnets; i++) {
		snprintf(taps[i], 16, "tap=t%u", i);
		args[n++] = "--net";
		args[n++] = taps[i];
	}
	args[n] = NULL;
}

static void test_too_many_devices(void **state)
{
	struct vm_config *cfg = malloc(sizeof(*cfg));
	const char *args[2 * (CONFIG_MAX_DISKS + CONFIG_MAX_NETS + 1) + 1];
	char out[512], taps[CONFIG_MAX_NETS][16];

	assert_non_null(cfg);
	device_args(args, CONFIG_MAX_DISKS, CONFIG_MAX_NETS, taps);
	assert_int_equal(run_captured(cfg, args, out, sizeof(out)), -ENOSPC);
	assert_string_equal(out, E "32 virtio devices do not fit the 31 PCI slots\n");
	device_args(args, CONFIG_MAX_DISKS, CONFIG_MAX_NETS - 1, taps);  /* one fewer fits */
	assert_int_equal(run_captured(cfg, args, out, sizeof(out)), 0);
	assert_int_equal(cfg->ndisks + cfg->nnets, 31);
	device_args(args, CONFIG_MAX_DISKS + 1, 0, taps);
	assert_int_equal(run_captured(cfg, args, out, sizeof(out)), -E2BIG);
	assert_string_equal(out, E "--disk: more than 24 disks\n");
	free(cfg);
}

static void test_device_options(void **state)
{
	struct vm_config *cfg = malloc(sizeof(*cfg));
	const char *args[] = {
		"--disk", "path=/dev/null,format=qcow2,readonly=on,cache=none,queues=4",
		"--disk", "path=/dev/zero,format=raw,id=disk0,readonly=off,cache=writeback",
		"--net", "fd=7,mac=52:54:00:12:34:56", "--net", "tap=vmkt0", "--net", "tap=vmkt1",
		"--console", "unix:/tmp/c.sock,id=con", "--console", "file:/tmp/out",
		"--rng", NULL,
	};
	char out[512];

	assert_non_null(cfg);
	assert_int_equal(run_captured(cfg, args, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(cfg->ndisks, 2);
	assert_string_equal(cfg->disks[0].path, "/dev/null");
	assert_int_equal(cfg->disks[0].format, CONFIG_DISK_QCOW2);
	assert_true(cfg->disks[0].readonly);
	assert_int_equal(cfg->disks[0].cache, CONFIG_CACHE_NONE);
	assert_int_equal(cfg->disks[0].queues, 4);
	assert_string_equal(cfg->disks[0].id, "disk1");  /* disk0 is the second's */
	assert_string_equal(cfg->disks[1].id, "disk0");
	assert_false(cfg->disks[1].readonly);
	assert_int_equal(cfg->disks[1].cache, CONFIG_CACHE_WRITEBACK);
	assert_int_equal(cfg->disks[1].queues, 0);
	assert_int_equal(cfg->nnets, 3);
	assert_int_equal(cfg->nets[0].fd, 7);
	assert_string_equal(cfg->nets[0].tap, "");
	assert_memory_equal(cfg->nets[0].mac, "\x52\x54\x00\x12\x34\x56", 6);
	assert_string_equal(cfg->nets[1].tap, "vmkt0");
	assert_int_equal(cfg->nets[1].fd, -1);
	assert_string_equal(cfg->nets[1].id, "net1");
	/* generated MACs: locally administered, unicast, one per interface */
	for (unsigned i = 1; i < 3; i++) {
		assert_true(cfg->nets[i].mac_set);
		assert_int_equal(cfg->nets[i].mac[0], 0x02);
	}
	assert_memory_not_equal(cfg->nets[1].mac, cfg->nets[2].mac, 6);
	assert_int_equal(cfg->nconsoles, 2);
	assert_int_equal(cfg->consoles[0].backend.kind, CHARDEV_UNIX);
	assert_string_equal(cfg->consoles[0].backend.path, "/tmp/c.sock");
	assert_string_equal(cfg->consoles[0].id, "con");
	assert_int_equal(cfg->consoles[1].backend.kind, CHARDEV_FILE);
	assert_string_equal(cfg->consoles[1].id, "console0");
	assert_true(cfg->rng);
	free(cfg);
}

static void test_device_json(void **state)
{
	struct vm_config *cfg = malloc(sizeof(*cfg));
	static const char good[] =
		"{\"kernel\": \"/k\", \"rng\": true, \"serial\": \"none\","
		" \"disks\": [{\"path\": \"/dev/null\", \"format\": \"raw\", \"readonly\": true,"
		" \"queues\": 2}, \"path=/dev/zero,format=qcow2,id=d1\"],"
		" \"nets\": [{\"tap\": \"vmkt0\", \"mac\": \"02:aa:bb:cc:dd:ee\"}],"
		" \"consoles\": [{\"id\": \"c0\", \"backend\": \"stdio\"}]}";

	assert_non_null(cfg);
	config_defaults(cfg);
	assert_int_equal(config_apply_json(cfg, good, strlen(good), "t.json"), 0);
	assert_int_equal(config_validate(cfg, 0), 0);
	assert_true(cfg->rng);
	assert_int_equal(cfg->ndisks, 2);
	assert_true(cfg->disks[0].readonly);
	assert_int_equal(cfg->disks[0].queues, 2);
	assert_string_equal(cfg->disks[0].id, "disk0");
	assert_int_equal(cfg->disks[1].format, CONFIG_DISK_QCOW2);
	assert_string_equal(cfg->disks[1].id, "d1");
	assert_memory_equal(cfg->nets[0].mac, "\x02\xaa\xbb\xcc\xdd\xee", 6);
	assert_int_equal(cfg->consoles[0].backend.kind, CHARDEV_STDIO);
	assert_string_equal(cfg->consoles[0].id, "c0");
	free(cfg);
}

static void test_device_json_bad(void **state)
{
	static const char *const bad[] = {
		"{\"disks\": {\"path\": \"/dev/null\"}}", "{\"disks\": [5]}",
		"{\"disks\": [{\"path\": \"/dev/null\"}]}", "{\"disk\": [\"path=/dev/null\"]}",
		"{\"disks\": [{\"path\": \"a,b\", \"format\": \"raw\"}]}",
		"{\"disks\": [{\"path\": [1], \"format\": \"raw\"}]}",
		"{\"rng\": \"yes\"}", "{\"rng\": 1}", "{\"nets\": [{\"tap\": \"t\", \"fd\": 3}]}",
		"{\"consoles\": [{\"id\": \"x\"}]}", "{\"kernel\": true}",
	};
	struct vm_config *cfg = malloc(sizeof(*cfg));

	assert_non_null(cfg);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		config_defaults(cfg);
		if (config_apply_json(cfg, bad[i], strlen(bad[i]), "bad.json") >= 0)
			fail_msg("accepted: %s", bad[i]);
	}
	free(cfg);
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
		cmocka_unit_test(test_device_refusals),
		cmocka_unit_test(test_too_many_devices),
		cmocka_unit_test(test_device_options),
		cmocka_unit_test(test_device_json),
		cmocka_unit_test(test_device_json_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
