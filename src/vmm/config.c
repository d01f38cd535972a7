/* config: option table shared by the command line and the JSON config file,
 * each option with one setter; validation of the whole configuration. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vmkit-config.h"

struct config_opt {
	const char *name;
	const char *arg;   /* metavar for --help */
	const char *help;
	int (*set)(struct vm_config *cfg, const char *name, const char *val);
};

static int config_copy(char *dst, size_t size, const char *name, const char *val)
{
	size_t len = strlen(val);

	if (len >= size) {
		log_error("--%s: value is %zu bytes long, the limit is %zu", name, len, size - 1);
		return -ENAMETOOLONG;
	}
	memcpy(dst, val, len + 1);
	return 0;
}

static int config_set_kernel(struct vm_config *cfg, const char *name, const char *val)
{
	return config_copy(cfg->kernel, sizeof(cfg->kernel), name, val);
}

static int config_set_initrd(struct vm_config *cfg, const char *name, const char *val)
{
	return config_copy(cfg->initrd, sizeof(cfg->initrd), name, val);
}

static int config_set_cmdline(struct vm_config *cfg, const char *name, const char *val)
{
	return config_copy(cfg->cmdline, sizeof(cfg->cmdline), name, val);
}

static int config_set_symbols(struct vm_config *cfg, const char *name, const char *val)
{
	return config_copy(cfg->symbols, sizeof(cfg->symbols), name, val);
}

static int config_set_kvm_device(struct vm_config *cfg, const char *name, const char *val)
{
	return config_copy(cfg->kvm_device, sizeof(cfg->kvm_device), name, val);
}

static int config_set_api_socket(struct vm_config *cfg, const char *name, const char *val)
{
	if (strlen(val) >= sizeof(cfg->api_socket)) {
		log_error("--%s: socket path is %zu bytes long, a unix socket path holds at most %zu",
			  name, strlen(val), sizeof(cfg->api_socket) - 1);
		return -ENAMETOOLONG;
	}
	if (val[0] == '\0') {
		log_error("--%s: empty path", name);
		return -EINVAL;
	}
	return config_copy(cfg->api_socket, sizeof(cfg->api_socket), name, val);
}

static int config_set_memory(struct vm_config *cfg, const char *name, const char *val)
{
	int ret = util_parse_size(val, &cfg->memory);

	if (ret < 0) {
		log_error("--%s: '%s' is not a size (examples: 512M, 2G, 1073741824)", name, val);
		return ret;
	}
	if (cfg->memory == 0) {
		log_error("--%s: memory size must not be zero", name);
		return -EINVAL;
	}
	return 0;
}

static int config_set_cpus(struct vm_config *cfg, const char *name, const char *val)
{
	uint64_t n;
	int ret = util_parse_uint(val, 1, CONFIG_MAX_CPUS, &n);

	if (ret < 0) {
		log_error("--%s: '%s' is not a number of vCPUs from 1 to %d", name, val,
			  CONFIG_MAX_CPUS);
		return ret;
	}
	cfg->cpus = (unsigned)n;
	return 0;
}

static int config_set_serial(struct vm_config *cfg, const char *name, const char *val)
{
	return chardev_parse(val, &cfg->serial); /* logs what is wrong */
}

static int config_set_choice(const char *name, const char *val, const char *const *names,
			     unsigned n, unsigned *out)
{
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(val, names[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	log_error("--%s: '%s' is not one of %s|%s", name, val, names[0], names[1]);
	return -EINVAL;
}

static int config_set_on_reboot(struct vm_config *cfg, const char *name, const char *val)
{
	static const char *const names[] = { [CONFIG_REBOOT_RESTART] = "restart",
					     [CONFIG_REBOOT_EXIT] = "exit" };
	unsigned v;
	int ret = config_set_choice(name, val, names, ARRAY_SIZE(names), &v);

	cfg->on_reboot = ret == 0 ? (enum config_on_reboot)v : cfg->on_reboot;
	return ret;
}

static int config_set_on_tf(struct vm_config *cfg, const char *name, const char *val)
{
	static const char *const names[] = { [CONFIG_TF_RESET] = "reset", [CONFIG_TF_EXIT] = "exit" };
	unsigned v;
	int ret = config_set_choice(name, val, names, ARRAY_SIZE(names), &v);

	cfg->on_triple_fault = ret == 0 ? (enum config_on_triple_fault)v : cfg->on_triple_fault;
	return ret;
}

static int config_set_log_level(struct vm_config *cfg, const char *name, const char *val)
{
	if (log_parse_level(val, &cfg->log_level) == 0)
		return 0;
	log_error("--%s: '%s' is not one of error|warn|info|debug", name, val);
	return -EINVAL;
}

static const struct config_opt config_opts[] = {
	{ "kernel", "PATH", "kernel to boot: bzImage or ELF (PVH or 64-bit entry)", config_set_kernel },
	{ "initrd", "PATH", "initial ramdisk", config_set_initrd },
	{ "cmdline", "STRING", "kernel command line", config_set_cmdline },
	{ "memory", "SIZE", "guest RAM, with suffix K/M/G/T (default 512M)", config_set_memory },
	{ "cpus", "N", "number of vCPUs, 1-254 (default 1)", config_set_cpus },
	{ "serial", "BACKEND", "COM1 backend: stdio|pty|file:PATH|unix:PATH|none (default stdio)",
	  config_set_serial },
	{ "on-reboot", "ACTION", "guest reset: restart|exit (default restart)", config_set_on_reboot },
	{ "on-triple-fault", "ACTION", "triple fault: reset|exit (default reset)", config_set_on_tf },
	{ "symbols", "PATH", "System.map, to name the symbol at RIP on a fatal exit",
	  config_set_symbols },
	{ "log-level", "LEVEL", "error|warn|info|debug (default warn)", config_set_log_level },
	{ "api-socket", "PATH", "control socket (line-delimited JSON, QMP-like)",
	  config_set_api_socket },
	{ "kvm-device", "PATH", "KVM device node (default /dev/kvm)", config_set_kvm_device },
};

void config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->memory = CONFIG_DEFAULT_MEMORY;
	cfg->cpus = 1;
	cfg->serial.kind = CHARDEV_STDIO;
	cfg->on_reboot = CONFIG_REBOOT_RESTART;
	cfg->on_triple_fault = CONFIG_TF_RESET;
	cfg->log_level = LOG_WARN;
	strcpy(cfg->kvm_device, "/dev/kvm");
}

void config_usage(void)
{
	printf("usage: vmkit-vmm --kernel PATH [options]\n"
	       "       vmkit-vmm --config vm.json [options]\n\noptions:\n");
	for (size_t i = 0; i < ARRAY_SIZE(config_opts); i++) {
		char lhs[64];

		snprintf(lhs, sizeof(lhs), "--%s %s", config_opts[i].name, config_opts[i].arg);
		printf("  %-26s %s\n", lhs, config_opts[i].help);
	}
	printf("  %-26s %s\n  %-26s %s\n  %-26s %s\n",
	       "--config PATH", "whole configuration as JSON (keys = option names)",
	       "--help", "this text", "--version", "print the version");
	printf("\nexit status: 0 guest poweroff/quit/SIGTERM, (N<<1)|1 debug-exit port value N,\n"
	       "2 bad configuration or start-up failure, 4 triple fault (--on-triple-fault exit),\n"
	       "6 KVM internal error, 8 VMM failure while running\n");
}

static const struct config_opt *config_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(config_opts); i++) {
		if (strcmp(config_opts[i].name, name) == 0)
			return &config_opts[i];
	}
	return NULL;
}

static int config_json_value(json_t *v, char *buf, size_t size, const char *key)
{
	if (json_is_string(v)) {
		snprintf(buf, size, "%s", json_string_value(v));
		return 0;
	}
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	log_error("config key \"%s\": expected a string or a non-negative integer", key);
	return -EINVAL;
}

int config_apply_json(struct vm_config *cfg, const char *text, size_t len, const char *origin)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	const char *key;
	json_t *val;
	int ret = 0;

	if (!root) {
		log_error("%s:%d:%d: malformed JSON: %s", origin, jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		log_error("%s: the configuration must be a JSON object", origin);
		ret = -EINVAL;
		goto out;
	}
	json_object_foreach(root, key, val) {
		const struct config_opt *opt = config_find(key);
		char *buf = malloc(CONFIG_CMDLINE_MAX + 1);

		if (!buf) {
			ret = -ENOMEM;
			goto out;
		}
		if (!opt) {
			log_error("%s: unknown key \"%s\"", origin, key);
			ret = -EINVAL;
		} else {
			ret = config_json_value(val, buf, CONFIG_CMDLINE_MAX + 1, key);
			if (ret == 0)
				ret = opt->set(cfg, key, buf);
		}
		free(buf);
		if (ret < 0)
			goto out;
	}
out:
	json_decref(root);
	return ret;
}

static int config_load_file(struct vm_config *cfg, const char *path)
{
	uint8_t *buf;
	size_t len;
	int ret = util_read_file(path, 1 << 20, &buf, &len);

	if (ret < 0) {
		log_error("--config %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = config_apply_json(cfg, (const char *)buf, len, path);
	free(buf);
	return ret;
}

enum { CONFIG_OPT_CONFIG = 1000, CONFIG_OPT_HELP, CONFIG_OPT_VERSION };

static void config_long_options(struct option *lo)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(config_opts); i++)
		lo[i] = (struct option){ config_opts[i].name, required_argument, NULL, (int)i };
	lo[i++] = (struct option){ "config", required_argument, NULL, CONFIG_OPT_CONFIG };
	lo[i++] = (struct option){ "help", no_argument, NULL, CONFIG_OPT_HELP };
	lo[i++] = (struct option){ "version", no_argument, NULL, CONFIG_OPT_VERSION };
	lo[i] = (struct option){ 0 };
}

static int config_bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		log_error("option %s needs a value", arg);
	else
		log_error("unknown option '%s' (see --help)", arg);
	return -EINVAL;
}

/* First pass: --help, --version, --config, and unknown options. */
static int config_first_pass(int argc, char **argv, const struct option *lo, struct vm_config *cfg)
{
	int c, ret;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (c == '?' || c == ':')
			return config_bad_option(c, argv);
		if (c == CONFIG_OPT_HELP) {
			config_usage();
			return CONFIG_HELP;
		}
		if (c == CONFIG_OPT_VERSION) {
			printf("vmkit-vmm %s\n", VMKIT_VERSION);
			return CONFIG_HELP;
		}
		if (c == CONFIG_OPT_CONFIG) {
			ret = config_load_file(cfg, optarg);
			if (ret < 0)
				return ret;
		}
	}
	if (optind < argc) {
		log_error("unexpected argument '%s' (see --help)", argv[optind]);
		return -EINVAL;
	}
	return CONFIG_RUN;
}

int config_parse_args(int argc, char **argv, struct vm_config *cfg)
{
	struct option lo[ARRAY_SIZE(config_opts) + 4];
	int c, ret;

	config_long_options(lo);
	ret = config_first_pass(argc, argv, lo, cfg);
	if (ret != CONFIG_RUN)
		return ret;
	optind = 0;
	while ((c = getopt_long(argc, argv, ":", lo, NULL)) != -1) {
		if (c < 0 || c >= (int)ARRAY_SIZE(config_opts))
			continue;
		ret = config_opts[c].set(cfg, config_opts[c].name, optarg);
		if (ret < 0)
			return ret;
	}
	return CONFIG_RUN;
}

int config_validate(const struct vm_config *cfg, uint64_t host_memory)
{
	if (cfg->kernel[0] == '\0') {
		log_error("no kernel given: use --kernel PATH (or \"kernel\" in --config)");
		return -EINVAL;
	}
	if (cfg->memory % 4096) {
		log_error("--memory: %llu bytes is not a multiple of 4 KiB",
			  (unsigned long long)cfg->memory);
		return -EINVAL;
	}
	if (cfg->memory < 16 * MiB) {
		log_error("--memory: %llu bytes is too small (minimum 16M)",
			  (unsigned long long)cfg->memory);
		return -EINVAL;
	}
	if (host_memory && cfg->memory > host_memory) {
		log_error("--memory: %llu MiB is more than this host can map (%llu MiB of RAM and swap)",
			  (unsigned long long)(cfg->memory >> 20),
			  (unsigned long long)(host_memory >> 20));
		return -ENOMEM;
	}
	return 0;
}
