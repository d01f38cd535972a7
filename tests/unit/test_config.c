/* test_config: command-line and JSON configuration, and validation: the
 * options, JSON and config files, the device options and their refusals,
 * the rate limits, the balloon, and --vsock / "vsock" (the keys, the CID
 * range, the socket path limit with room for "_<port>", one device only,
 * the generated id, the JSON object form); --name and --uuid. */
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
			       "--cmdline", "a=b c", "--serial-log", "/tmp/l", "--serial", "pty",
			       "--on-reboot", "exit",
			       "--on-triple-fault=exit", "--log-level", "debug",
			       "--api-socket", "/tmp/s", "--mem-prealloc"), CONFIG_RUN);
	assert_string_equal(cfg.kernel, "/k");
	assert_true(cfg.memory == 1 * GiB);
	assert_true(cfg.mem_prealloc);
	assert_int_equal(cfg.cpus, 4);
	assert_string_equal(cfg.cmdline, "a=b c");
	assert_int_equal(cfg.serial.kind, CHARDEV_PTY);
	assert_string_equal(cfg.serial.log, "/tmp/l");   /* --serial after it keeps it */
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
	  E "--disk: unknown key 'colour' (keys: path, format, readonly, cache, id, queues, poll_us, bps, "
	    "bps_burst, iops, iops_burst)\n" },
	{ { "--disk", "path=/dev/null,raw" },
	  E "--disk: 'raw' is not KEY=VALUE (keys: path, format, readonly, cache, id, queues, poll_us, bps, "
	    "bps_burst, iops, iops_burst)\n" },
	{ { "--disk", "path=/dev/null,format=raw,bps=1X" },
	  E "--disk: bps='1X' is not a byte count (a whole number up to 2^63-1, suffixes "
	    "K/M/G/T = powers of 1024; 0 = unlimited)\n" },
	{ { "--disk", "path=/dev/null,format=raw,iops=-5" },
	  E "--disk: iops='-5' is not an operation count (a whole number up to 2^63-1, suffixes "
	    "k/M/G = powers of 1000; 0 = unlimited)\n" },
	{ { "--disk", "path=/dev/null,format=raw,iops_burst=1.5k" },
	  E "--disk: iops_burst='1.5k' is not an operation count (a whole number up to 2^63-1, "
	    "suffixes k/M/G = powers of 1000; 0 = unlimited)\n" },
	{ { "--disk", "path=/dev/null,format=raw,bps_burst=8E" },
	  E "--disk: bps_burst='8E' is not a byte count (a whole number up to 2^63-1, suffixes "
	    "K/M/G/T = powers of 1024; 0 = unlimited)\n" },
	{ { "--disk", "path=/dev/null,format=raw,bps=9223372036854775808" },
	  E "--disk: bps='9223372036854775808' is not a byte count (a whole number up to 2^63-1, "
	    "suffixes K/M/G/T = powers of 1024; 0 = unlimited)\n" },
	{ { "--net", "tap=t0,pps=" },
	  E "--net: pps='' is not an operation count (a whole number up to 2^63-1, suffixes "
	    "k/M/G = powers of 1000; 0 = unlimited)\n" },
	{ { "--net", "tap=t0,pps_burst=20000000000G" },
	  E "--net: pps_burst='20000000000G' is not an operation count (a whole number up to "
	    "2^63-1, suffixes k/M/G = powers of 1000; 0 = unlimited)\n" },
	{ { "--net", "tap=t0,bps=K" },
	  E "--net: bps='K' is not a byte count (a whole number up to 2^63-1, suffixes "
	    "K/M/G/T = powers of 1024; 0 = unlimited)\n" },
	{ { "--net", "tap=t0,iops=5" },
	  E "--net: unknown key 'iops' (keys: tap, fd, mac, id, bps, bps_burst, pps, pps_burst)\n" },
	{ { "--disk", "path=/dev/null,,format=raw" },
	  E "--disk: empty item in 'path=/dev/null,,format=raw'\n" },
	{ { "--disk", "path=/dev/null,format=raw,readonly=yes" },
	  E "--disk: readonly='yes' is not on|off\n" },
	{ { "--disk", "path=/dev/null,format=raw,cache=directsync" },
	  E "--disk: cache='directsync' is not none|writeback\n" },
	{ { "--disk", "path=/dev/null,format=raw,queues=0" },
	  E "--disk: queues='0' is not a number from 1 to 16\n" },
	{ { "--disk", "path=/dev/null,format=raw,poll_us=1001" },
	  E "--disk: poll_us='1001' is not a number of microseconds from 0 to 1000\n" },
	{ { "--disk", "path=/dev/null,format=raw,poll_us=-1" },
	  E "--disk: poll_us='-1' is not a number of microseconds from 0 to 1000\n" },
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

/* Run each case (which must fail with exactly its text); the cases that
 * did not, each printed. */
static unsigned refused(struct vm_config *cfg, const struct refusal *cases, size_t n)
{
	char out[1024];
	unsigned bad = 0;

	for (size_t i = 0; i < n; i++) {
		int ret = run_captured(cfg, cases[i].args, out, sizeof(out));

		if (ret < 0 && strcmp(out, cases[i].text) == 0)
			continue;
		print_error("case %zu: rc %d, log:\n%s\nexpected:\n%s", i, ret, out,
			    cases[i].text);
		bad++;
	}
	return bad;
}

static void test_device_refusals(void **state)
{
	struct vm_config *cfg = malloc(sizeof(*cfg));
	unsigned bad;

	assert_non_null(cfg);
	bad = refused(cfg, refusals, ARRAY_SIZE(refusals));
	free(cfg);
	assert_int_equal(bad, 0);
}

/* --balloon and "balloon": the optional value, its keys, one clear line
 * for each bad value, and the generated id. */
static void test_balloon(void **state)
{
	static const struct {
		const char *args[3];
		const char *text;
	} bad[] = {
		{ { "--balloon=stats=x" }, E "--balloon: stats='x' is not a number of seconds in "
		  "0..86400 (0: no statistics requests)\n" },
		{ { "--balloon=on,stats=86401" }, E "--balloon: stats='86401' is not a number of "
		  "seconds in 0..86400 (0: no statistics requests)\n" },
		{ { "--balloon=free-page-reporting=yes" }, E "--balloon: free-page-reporting='yes' "
		  "is not on|off\n" },
		{ { "--balloon=maybe" }, E "--balloon: 'maybe' is not KEY=VALUE (keys: stats, "
		  "free-page-reporting, id)\n" },
		{ { "--balloon=on,size=1" }, E "--balloon: unknown key 'size' (keys: stats, "
		  "free-page-reporting, id)\n" },
		{ { "--balloon=on," }, E "--balloon: empty item in ''\n" },
		{ { "--balloon=id=9b" }, E "--balloon: id='9b' is not a letter followed by at most "
		  "30 letters, digits, '.', '_' or '-'\n" },
		{ { "--balloon=id=rng0", "--rng" }, E "--balloon: duplicate device id 'rng0' (also "
		  "--rng)\n" },
	};
	static const char json_good[] = "{\"kernel\": \"/k\", \"balloon\": {\"stats\": 5, "
		"\"free-page-reporting\": true, \"id\": \"bal\"}}";
	static const char *const json_bad[] = {
		"{\"balloon\": {\"stats\": -1}}", "{\"balloon\": {\"stats\": \"soon\"}}",
		"{\"balloon\": [1]}", "{\"balloon\": {\"free-page-reporting\": 2}}",
	};
	struct vm_config *cfg = malloc(sizeof(*cfg));
	char out[512];

	assert_non_null(cfg);
	assert_int_equal(run_captured(cfg, (const char *[]){ "--balloon", NULL }, out,
				      sizeof(out)), 0);
	assert_true(cfg->balloon.enabled);
	assert_int_equal(cfg->balloon.stats_period, 0);
	assert_false(cfg->balloon.free_page_reporting);
	assert_string_equal(cfg->balloon.id, "balloon0");
	assert_int_equal(run_captured(cfg, (const char *[]){
		"--balloon=on,stats=2,free-page-reporting=on,id=b1", NULL }, out, sizeof(out)), 0);
	assert_true(cfg->balloon.enabled && cfg->balloon.free_page_reporting);
	assert_int_equal(cfg->balloon.stats_period, 2);
	assert_string_equal(cfg->balloon.id, "b1");
	assert_int_equal(run_captured(cfg, (const char *[]){ "--balloon=stats=0", NULL }, out,
				      sizeof(out)), 0);
	assert_true(cfg->balloon.enabled);
	assert_int_equal(run_captured(cfg, (const char *[]){ "--balloon", "--balloon=off", NULL },
				      out, sizeof(out)), 0);
	assert_false(cfg->balloon.enabled);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_true(run_captured(cfg, bad[i].args, out, sizeof(out)) < 0);
		assert_string_equal(out, bad[i].text);
	}
	config_defaults(cfg);
	assert_int_equal(config_apply_json(cfg, json_good, strlen(json_good), "t.json"), 0);
	assert_true(cfg->balloon.enabled && cfg->balloon.free_page_reporting);
	assert_int_equal(cfg->balloon.stats_period, 5);
	assert_string_equal(cfg->balloon.id, "bal");
	assert_int_equal(config_apply_json(cfg, "{\"balloon\": false}", 18, "t.json"), 0);
	assert_false(cfg->balloon.enabled);
	assert_int_equal(config_apply_json(cfg, "{\"balloon\": true}", 17, "t.json"), 0);
	assert_true(cfg->balloon.enabled);
	for (size_t i = 0; i < ARRAY_SIZE(json_bad); i++) {
		config_defaults(cfg);
		assert_true(config_apply_json(cfg, json_bad[i], strlen(json_bad[i]), "b.json") < 0);
	}
	free(cfg);
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
		"--disk", "path=/dev/null,format=qcow2,readonly=on,cache=none,queues=4,poll_us=0",
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
	assert_int_equal(cfg->disks[0].poll_us, 0);
	assert_int_equal(cfg->disks[1].poll_us, CONFIG_DISK_POLL_US_DEFAULT);
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

/* bps=/iops=/pps= and their bursts: bytes in powers of 1024, counts in
 * powers of 1000, 0 = unlimited; absent = 0. */
static void test_rate_limit_options(void **state)
{
	struct vm_config *cfg = malloc(sizeof(*cfg));
	const char *args[] = {
		"--disk", "path=/dev/null,format=raw,bps=1M,bps_burst=512KiB,iops=2k,iops_burst=50",
		"--disk", "path=/dev/zero,format=raw,bps=0,iops=3G",
		"--net", "tap=t0,bps=9223372036854775807,pps=1500,pps_burst=1M,bps_burst=2G",
		"--net", "tap=t1", NULL,
	};
	static const char json[] =
		"{\"kernel\": \"/k\", \"serial\": \"none\","
		" \"disks\": [{\"path\": \"/dev/null\", \"format\": \"raw\", \"bps\": 1048576,"
		" \"iops\": \"4k\", \"bps_burst\": \"1M\", \"iops_burst\": 7}],"
		" \"nets\": [{\"tap\": \"t0\", \"pps\": 100, \"pps_burst\": 10, \"bps\": \"1G\"}]}";
	static const char *const bad_json[] = {
		"{\"disks\": [{\"path\": \"/dev/null\", \"format\": \"raw\", \"bps\": -1}]}",
		"{\"disks\": [{\"path\": \"/dev/null\", \"format\": \"raw\", \"iops\": 1.5}]}",
		"{\"nets\": [{\"tap\": \"t0\", \"pps\": true}]}",
		"{\"nets\": [{\"tap\": \"t0\", \"bps\": \"fast\"}]}",
	};
	char out[512];

	assert_non_null(cfg);
	assert_int_equal(run_captured(cfg, args, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(cfg->disks[0].limit.bps, 1 << 20);
	assert_int_equal(cfg->disks[0].limit.bps_burst, 512 << 10);
	assert_int_equal(cfg->disks[0].limit.ops, 2000);
	assert_int_equal(cfg->disks[0].limit.ops_burst, 50);
	assert_int_equal(cfg->disks[1].limit.bps, 0);
	assert_int_equal(cfg->disks[1].limit.bps_burst, 0);
	assert_int_equal(cfg->disks[1].limit.ops, 3000000000ull);
	assert_int_equal(cfg->nets[0].limit.bps, INT64_MAX);
	assert_int_equal(cfg->nets[0].limit.bps_burst, 2ull << 30);
	assert_int_equal(cfg->nets[0].limit.ops, 1500);
	assert_int_equal(cfg->nets[0].limit.ops_burst, 1000000);
	assert_int_equal(cfg->nets[1].limit.bps + cfg->nets[1].limit.ops +
			 cfg->nets[1].limit.bps_burst + cfg->nets[1].limit.ops_burst, 0);
	config_defaults(cfg);
	assert_int_equal(config_apply_json(cfg, json, strlen(json), "t.json"), 0);
	assert_int_equal(cfg->disks[0].limit.bps, 1 << 20);
	assert_int_equal(cfg->disks[0].limit.bps_burst, 1 << 20);
	assert_int_equal(cfg->disks[0].limit.ops, 4000);
	assert_int_equal(cfg->disks[0].limit.ops_burst, 7);
	assert_int_equal(cfg->nets[0].limit.ops, 100);
	assert_int_equal(cfg->nets[0].limit.ops_burst, 10);
	assert_int_equal(cfg->nets[0].limit.bps, 1ull << 30);
	for (size_t i = 0; i < ARRAY_SIZE(bad_json); i++) {
		config_defaults(cfg);
		if (config_apply_json(cfg, bad_json[i], strlen(bad_json[i]), "bad.json") >= 0)
			fail_msg("accepted: %s", bad_json[i]);
	}
	free(cfg);
}

static void test_device_json(void **state)
{
	struct vm_config *cfg = malloc(sizeof(*cfg));
	static const char good[] =
		"{\"kernel\": \"/k\", \"rng\": true, \"serial\": \"none\","
		" \"disks\": [{\"path\": \"/dev/null\", \"format\": \"raw\", \"readonly\": true,"
		" \"queues\": 2, \"poll_us\": 200}, \"path=/dev/zero,format=qcow2,id=d1\"],"
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
	assert_int_equal(cfg->disks[0].poll_us, 200);
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

/* ---- --vsock and "vsock" ---- */

static void test_vsock_good(void **state)
{
	struct vm_config *cfg = malloc(sizeof(*cfg));
	const char *a1[] = { "--vsock", "cid=3,socket=/tmp/v.sock", NULL };
	const char *a2[] = { "--vsock", "socket=/tmp/v.sock,cid=4294967294,id=vs", "--rng", NULL };
	char out[512];

	assert_non_null(cfg);
	assert_int_equal(run_captured(cfg, a1, out, sizeof(out)), 0);
	assert_true(cfg->vsock.enabled);
	assert_int_equal(cfg->vsock.cid, 3);
	assert_string_equal(cfg->vsock.socket, "/tmp/v.sock");
	assert_string_equal(cfg->vsock.id, "vsock0");
	assert_int_equal(run_captured(cfg, a2, out, sizeof(out)), 0);
	assert_int_equal(cfg->vsock.cid, 4294967294u);
	assert_string_equal(cfg->vsock.id, "vs");
	config_defaults(cfg);
	assert_false(cfg->vsock.enabled);
	free(cfg);
}

static void test_vsock_bad(void **state)
{
	static char longpath[128];
	static const struct refusal bad[] = {
		{ { "--vsock", "cid=2,socket=/s" }, E "--vsock: cid='2' is not a number in "
		  "3..4294967294\n" },
		{ { "--vsock", "cid=4294967295,socket=/s" }, E "--vsock: cid='4294967295' is not a "
		  "number in 3..4294967294\n" },
		{ { "--vsock", "cid=x,socket=/s" }, E "--vsock: cid='x' is not a number in "
		  "3..4294967294\n" },
		{ { "--vsock", "cid=3" }, E "--vsock cid=3: give both cid=N and socket=PATH\n" },
		{ { "--vsock", "socket=/s" }, E "--vsock socket=/s: give both cid=N and socket=PATH\n" },
		{ { "--vsock", "cid=3,socket=" }, E "--vsock: socket='' is empty or too long (at most "
		  "96 bytes, so that PATH_<port> fits a unix socket address)\n" },
		{ { "--vsock", "cid=3,socket=/s,port=1" }, E "--vsock: unknown key 'port' (keys: cid, "
		  "socket, id)\n" },
		{ { "--vsock", "cid=3,socket=/s", "--vsock", "cid=4,socket=/t" },
		  E "--vsock: only one vsock device per VM\n" },
		{ { "--vsock", "cid=3,socket=/s,id=rng0", "--rng" }, E "--vsock: duplicate device id "
		  "'rng0' (also --rng)\n" },
	};
	struct vm_config *cfg = malloc(sizeof(*cfg));
	char out[512], arg[200];
	unsigned nbad;

	assert_non_null(cfg);
	nbad = refused(cfg, bad, ARRAY_SIZE(bad));
	/* 96 bytes fit, 97 do not */
	memset(longpath, 'a', 96);
	longpath[0] = '/';
	snprintf(arg, sizeof(arg), "cid=3,socket=%s", longpath);
	assert_int_equal(run_captured(cfg, (const char *[]){ "--vsock", arg, NULL }, out,
				      sizeof(out)), 0);
	longpath[96] = 'a';
	snprintf(arg, sizeof(arg), "cid=3,socket=%s", longpath);
	assert_true(run_captured(cfg, (const char *[]){ "--vsock", arg, NULL }, out,
				 sizeof(out)) < 0);
	free(cfg);
	assert_int_equal(nbad, 0);
}

static void test_vsock_json(void **state)
{
	static const char good[] = "{\"kernel\": \"/k\", \"vsock\": {\"cid\": 7, \"socket\": "
				   "\"/tmp/x.sock\"}}";
	static const char good_str[] = "{\"kernel\": \"/k\", \"vsock\": \"cid=8,socket=/y\"}";
	static const char *const bad[] = {
		"{\"vsock\": {\"cid\": 2, \"socket\": \"/s\"}}",
		"{\"vsock\": {\"cid\": 3}}",
		"{\"vsock\": {\"cid\": 3, \"socket\": \"/s\", \"x\": 1}}",
		"{\"vsock\": {\"cid\": 3, \"socket\": [1]}}",
		"{\"vsock\": [{\"cid\": 3, \"socket\": \"/s\"}]}",
		"{\"vsock\": true}",
	};
	struct vm_config *cfg = malloc(sizeof(*cfg));

	assert_non_null(cfg);
	config_defaults(cfg);
	assert_int_equal(config_apply_json(cfg, good, strlen(good), "t.json"), 0);
	assert_int_equal(config_validate(cfg, 0), 0);
	assert_int_equal(cfg->vsock.cid, 7);
	assert_string_equal(cfg->vsock.socket, "/tmp/x.sock");
	assert_string_equal(cfg->vsock.id, "vsock0");
	config_defaults(cfg);
	assert_int_equal(config_apply_json(cfg, good_str, strlen(good_str), "t.json"), 0);
	assert_int_equal(cfg->vsock.cid, 8);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		config_defaults(cfg);
		if (config_apply_json(cfg, bad[i], strlen(bad[i]), "bad.json") >= 0)
			fail_msg("accepted: %s", bad[i]);
	}
	free(cfg);
}

/* --name / --uuid and "name" / "uuid": the accepted forms (the UUID stored
 * lower-case), and one exact line for each bad value. */
static void test_identity(void **state)
{
	static const struct refusal bad[] = {
		{ { "--name", "" }, E "--name: '' must be 1 to 63 characters long\n" },
		{ { "--name", "a/b" }, E "--name: character 2 (0x2f) is not allowed: printable ASCII "
		  "without '/' only\n" },
		{ { "--name", "tab\there" }, E "--name: character 4 (0x09) is not allowed: printable "
		  "ASCII without '/' only\n" },
		{ { "--name", "caf\xc3\xa9" }, E "--name: character 4 (0xc3) is not allowed: "
		  "printable ASCII without '/' only\n" },
		{ { "--name", "0123456789012345678901234567890123456789012345678901234567890123" },
		  E "--name: '0123456789012345678901234567890123456789012345678901234567890123' must "
		  "be 1 to 63 characters long\n" },
		{ { "--uuid", "" }, E "--uuid: '' is not a UUID in the form "
		  "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)\n" },
		{ { "--uuid", "c7a5fdbd-cdaf-9455-926a-d65c16db18090" }, E "--uuid: "
		  "'c7a5fdbd-cdaf-9455-926a-d65c16db18090' is not a UUID in the form "
		  "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)\n" },
		{ { "--uuid", "c7a5fdbdcdaf9455926ad65c16db1809" }, E "--uuid: "
		  "'c7a5fdbdcdaf9455926ad65c16db1809' is not a UUID in the form "
		  "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)\n" },
		{ { "--uuid", "g7a5fdbd-cdaf-9455-926a-d65c16db1809" }, E "--uuid: "
		  "'g7a5fdbd-cdaf-9455-926a-d65c16db1809' is not a UUID in the form "
		  "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)\n" },
		{ { "--uuid", "c7a5fdbd-cdaf-9455-926ad-65c16db1809" }, E "--uuid: "
		  "'c7a5fdbd-cdaf-9455-926ad-65c16db1809' is not a UUID in the form "
		  "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)\n" },
	};
	static const char json[] = "{\"kernel\": \"/k\", \"name\": \"web 1\", "
				   "\"uuid\": \"C7A5FDBD-CDAF-9455-926A-D65C16DB1809\"}";
	static const char *const json_bad[] = {
		"{\"name\": \"a/b\"}", "{\"name\": -1}", "{\"name\": \"\"}", "{\"uuid\": \"x\"}", "{\"uuid\": true}",
	};
	struct vm_config *cfg = malloc(sizeof(*cfg));
	char out[512];
	unsigned nbad;

	assert_non_null(cfg);
	nbad = refused(cfg, bad, ARRAY_SIZE(bad));
	assert_int_equal(run_captured(cfg, (const char *[]){ "--name", "web-1 (test)", "--uuid",
				      "c7a5fdbd-CDAF-9455-926a-d65c16db1809", NULL }, out,
				      sizeof(out)), 0);
	assert_string_equal(cfg->name, "web-1 (test)");
	assert_string_equal(cfg->uuid, "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
	assert_int_equal(run_captured(cfg, (const char *[]){ NULL }, out, sizeof(out)), 0);
	assert_string_equal(cfg->name, "");
	assert_string_equal(cfg->uuid, "");
	config_defaults(cfg);
	assert_int_equal(config_apply_json(cfg, json, strlen(json), "t.json"), 0);
	assert_string_equal(cfg->name, "web 1");
	assert_string_equal(cfg->uuid, "c7a5fdbd-cdaf-9455-926a-d65c16db1809");
	for (size_t i = 0; i < ARRAY_SIZE(json_bad); i++) {
		config_defaults(cfg);
		if (config_apply_json(cfg, json_bad[i], strlen(json_bad[i]), "bad.json") >= 0)
			fail_msg("accepted: %s", json_bad[i]);
	}
	free(cfg);
	assert_int_equal(nbad, 0);
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
		cmocka_unit_test(test_balloon),
		cmocka_unit_test(test_too_many_devices),
		cmocka_unit_test(test_device_options),
		cmocka_unit_test(test_rate_limit_options),
		cmocka_unit_test(test_device_json),
		cmocka_unit_test(test_device_json_bad),
		cmocka_unit_test(test_vsock_good),
		cmocka_unit_test(test_vsock_bad),
		cmocka_unit_test(test_vsock_json),
		cmocka_unit_test(test_identity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
