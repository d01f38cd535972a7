/* config: option table shared by the command line and the JSON config file,
 * each option with one setter; validation of the whole configuration. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "vmkit-config.h"

struct config_opt {
	const char *name;
	const char *arg;   /* metavar for --help; NULL: a flag without value */
	const char *help;
	int (*set)(struct vm_config *cfg, const char *name, const char *val);
	/* Repeatable device options: the JSON key (an array of items, each a
	 * string in the option's syntax or an object of its keys) and the key
	 * of the item's leading positional value, if it has one. */
	const char *json_list;
	const char *positional;
	/* The value may be left out (--balloon or --balloon=VALUE; JSON also
	 * true/false). */
	bool optional;
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

/* --name: the manager's name for the VM, only reported (query-status). */
static int config_set_name(struct vm_config *cfg, const char *name, const char *val)
{
	size_t len = strlen(val);

	if (len == 0 || len >= sizeof(cfg->name)) {
		log_error("--%s: '%s' must be 1 to %zu characters long", name, val,
			  sizeof(cfg->name) - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)val[i];

		if (c < 0x20 || c > 0x7e || c == '/') {
			log_error("--%s: character %zu (0x%02x) is not allowed: printable ASCII "
				  "without '/' only", name, i + 1, c);
			return -EINVAL;
		}
	}
	memcpy(cfg->name, val, len + 1);
	return 0;
}

/* --uuid: canonical 8-4-4-4-12 hex digits (either case), stored lower-case. */
static int config_set_uuid(struct vm_config *cfg, const char *name, const char *val)
{
	if (!util_uuid_canonical(val)) {
		log_error("--%s: '%s' is not a UUID in the form "
			  "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits)", name, val);
		return -EINVAL;
	}
	for (size_t i = 0; i < CONFIG_UUID_STRLEN; i++)   /* the NUL included */
		cfg->uuid[i] = (char)tolower((unsigned char)val[i]);
	return 0;
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
	/* logs what is wrong; keeps serial.log (--serial-log may come first) */
	return chardev_parse(val, &cfg->serial);
}

/* --serial-log: a copy of everything the guest writes to COM1. */
static int config_set_serial_log(struct vm_config *cfg, const char *name, const char *val)
{
	if (!val[0]) {
		log_error("--%s: the path is empty", name);
		return -EINVAL;
	}
	return config_copy(cfg->serial.log, sizeof(cfg->serial.log), name, val);
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

/* ---- virtio device options: comma-separated KEY=VALUE items ---- */

#define CONFIG_PCI_SLOTS 31          /* PCI slots 1..31 take the virtio devices */
#define CONFIG_DISK_MAX_QUEUES 16

/* One key of a device option, with its setter on the item being built. */
struct config_key {
	const char *key;
	int (*set)(void *item, const char *opt, const char *val);
};

/* How one device option's value is cut up: keys[0] takes the leading
 * value whole when positional (--console BACKEND,id=ID). */
struct config_item_spec {
	const char *opt;
	const struct config_key *keys;
	size_t nkeys;
	bool positional;
};

static int config_onoff(const char *opt, const char *key, const char *val, bool *out)
{
	if (strcmp(val, "on") == 0 || strcmp(val, "off") == 0) {
		*out = val[1] == 'n';
		return 0;
	}
	log_error("--%s: %s='%s' is not on|off", opt, key, val);
	return -EINVAL;
}

static bool config_id_char(char c)
{
	return isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-';
}

static int config_id(const char *opt, const char *val, char *out)
{
	size_t len = strlen(val);
	bool ok = len > 0 && len < CONFIG_ID_MAX && isalpha((unsigned char)val[0]);

	for (size_t i = 0; ok && i < len; i++)
		ok = config_id_char(val[i]);
	if (!ok) {
		log_error("--%s: id='%s' is not a letter followed by at most %d letters, digits, "
			  "'.', '_' or '-'", opt, val, CONFIG_ID_MAX - 2);
		return -EINVAL;
	}
	memcpy(out, val, len + 1);
	return 0;
}

static void config_key_names(const struct config_item_spec *spec, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = spec->positional ? 1 : 0; i < spec->nkeys && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "",
					 spec->keys[i].key);
}

static int config_item_kv(const struct config_item_spec *spec, char *tok, void *item)
{
	char *eq = strchr(tok, '='), names[128];

	if (eq) {
		*eq = '\0';
		for (size_t i = spec->positional ? 1 : 0; i < spec->nkeys; i++) {
			if (strcmp(spec->keys[i].key, tok) == 0)
				return spec->keys[i].set(item, spec->opt, eq + 1);
		}
	}
	config_key_names(spec, names, sizeof(names));
	if (eq)
		log_error("--%s: unknown key '%s' (keys: %s)", spec->opt, tok, names);
	else
		log_error("--%s: '%s' is not KEY=VALUE (keys: %s)", spec->opt, tok, names);
	return -EINVAL;
}

static int config_parse_item(const struct config_item_spec *spec, const char *val, void *item)
{
	char *copy = strdup(val), *rest = copy, *tok;
	bool first = true;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	while (ret == 0 && (tok = strsep(&rest, ",")) != NULL) {
		if (tok[0] == '\0') {
			log_error("--%s: empty item in '%s'", spec->opt, val);
			ret = -EINVAL;
		} else if (first && spec->positional) {
			ret = spec->keys[0].set(item, spec->opt, tok);
		} else {
			ret = config_item_kv(spec, tok, item);
		}
		first = false;
	}
	free(copy);
	return ret;
}

/* Rate limits (bps=, iops=, pps= and their bursts): a whole number up to
 * 2^63-1 with an optional suffix: bytes take K/M/G/T as powers of 1024
 * (an "iB"/"B" may follow), operation counts k/K/M/G as powers of 1000. */
static int config_parse_count(const char *val, uint64_t *out)
{
	static const char units[] = "kKMG";
	static const uint64_t mult[] = { 1000, 1000, 1000000, 1000000000 };
	char digits[32];
	size_t len = strlen(val);
	const char *u = len ? strchr(units, val[len - 1]) : NULL;
	uint64_t v, m = u && *u ? mult[u - units] : 1;

	if (len >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, val, len + 1);
	if (m > 1)
		digits[len - 1] = '\0';
	if (util_parse_uint(digits, 0, UINT64_MAX, &v) < 0 || v > UINT64_MAX / m)
		return -EINVAL;
	*out = v * m;
	return 0;
}

static int config_limit(const char *opt, const char *key, const char *val, bool bytes,
			uint64_t *out)
{
	uint64_t v;
	int ret = bytes ? util_parse_size(val, &v) : config_parse_count(val, &v);

	if (ret == 0 && v <= INT64_MAX) {
		*out = v;
		return 0;
	}
	log_error("--%s: %s='%s' is not %s (a whole number up to 2^63-1, suffixes %s; "
		  "0 = unlimited)", opt, key, val, bytes ? "a byte count" : "an operation count",
		  bytes ? "K/M/G/T = powers of 1024" : "k/M/G = powers of 1000");
	return -EINVAL;
}

/* --disk */

struct config_disk_item {
	struct config_disk *d;
	bool has_path, has_format;
};

static int config_disk_path(void *item, const char *opt, const char *val)
{
	struct config_disk_item *it = item;

	if (val[0] == '\0') {
		log_error("--%s: path= is empty", opt);
		return -EINVAL;
	}
	it->has_path = true;
	return config_copy(it->d->path, sizeof(it->d->path), opt, val);
}

static int config_disk_format(void *item, const char *opt, const char *val)
{
	struct config_disk_item *it = item;
	static const char *const names[] = { [CONFIG_DISK_RAW] = "raw",
					     [CONFIG_DISK_QCOW2] = "qcow2" };

	for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(val, names[i]) == 0) {
			it->d->format = (enum config_disk_format)i;
			it->has_format = true;
			return 0;
		}
	}
	log_error("--%s: format='%s' is not raw|qcow2", opt, val);
	return -EINVAL;
}

static int config_disk_readonly(void *item, const char *opt, const char *val)
{
	return config_onoff(opt, "readonly", val, &((struct config_disk_item *)item)->d->readonly);
}

static int config_disk_cache(void *item, const char *opt, const char *val)
{
	struct config_disk *d = ((struct config_disk_item *)item)->d;

	if (strcmp(val, "none") == 0 || strcmp(val, "writeback") == 0) {
		d->cache = val[0] == 'n' ? CONFIG_CACHE_NONE : CONFIG_CACHE_WRITEBACK;
		return 0;
	}
	log_error("--%s: cache='%s' is not none|writeback", opt, val);
	return -EINVAL;
}

static int config_disk_id(void *item, const char *opt, const char *val)
{
	return config_id(opt, val, ((struct config_disk_item *)item)->d->id);
}

static int config_disk_queues(void *item, const char *opt, const char *val)
{
	uint64_t n;

	if (util_parse_uint(val, 1, CONFIG_DISK_MAX_QUEUES, &n) < 0) {
		log_error("--%s: queues='%s' is not a number from 1 to %d", opt, val,
			  CONFIG_DISK_MAX_QUEUES);
		return -EINVAL;
	}
	((struct config_disk_item *)item)->d->queues = (unsigned)n;
	return 0;
}

static int config_disk_poll_us(void *item, const char *opt, const char *val)
{
	uint64_t n;

	if (util_parse_uint(val, 0, CONFIG_DISK_MAX_POLL_US, &n) < 0) {
		log_error("--%s: poll_us='%s' is not a number of microseconds from 0 to %d", opt,
			  val, CONFIG_DISK_MAX_POLL_US);
		return -EINVAL;
	}
	((struct config_disk_item *)item)->d->poll_us = (unsigned)n;
	return 0;
}

static int config_disk_bps(void *item, const char *opt, const char *val)
{
	return config_limit(opt, "bps", val, true, &((struct config_disk_item *)item)->d->limit.bps);
}

static int config_disk_bps_burst(void *item, const char *opt, const char *val)
{
	return config_limit(opt, "bps_burst", val, true,
			    &((struct config_disk_item *)item)->d->limit.bps_burst);
}

static int config_disk_iops(void *item, const char *opt, const char *val)
{
	return config_limit(opt, "iops", val, false,
			    &((struct config_disk_item *)item)->d->limit.ops);
}

static int config_disk_iops_burst(void *item, const char *opt, const char *val)
{
	return config_limit(opt, "iops_burst", val, false,
			    &((struct config_disk_item *)item)->d->limit.ops_burst);
}

static const struct config_key config_disk_keys[] = {
	{ "path", config_disk_path }, { "format", config_disk_format },
	{ "readonly", config_disk_readonly }, { "cache", config_disk_cache },
	{ "id", config_disk_id }, { "queues", config_disk_queues },
	{ "poll_us", config_disk_poll_us },
	{ "bps", config_disk_bps }, { "bps_burst", config_disk_bps_burst },
	{ "iops", config_disk_iops }, { "iops_burst", config_disk_iops_burst },
};

static int config_set_disk(struct vm_config *cfg, const char *name, const char *val)
{
	const struct config_item_spec spec = { name, config_disk_keys,
					       ARRAY_SIZE(config_disk_keys), false };
	struct config_disk_item it = { &cfg->disks[cfg->ndisks], false, false };
	int ret;

	if (cfg->ndisks >= CONFIG_MAX_DISKS) {
		log_error("--%s: more than %d disks", name, CONFIG_MAX_DISKS);
		return -E2BIG;
	}
	*it.d = (struct config_disk){ .format = CONFIG_DISK_RAW,
				      .poll_us = CONFIG_DISK_POLL_US_DEFAULT };
	ret = config_parse_item(&spec, val, &it);
	if (ret == 0 && !it.has_path) {
		log_error("--%s %s: path= is missing", name, val);
		ret = -EINVAL;
	}
	if (ret == 0 && !it.has_format) {
		log_error("--%s %s: format= is missing (raw or qcow2)", name, val);
		ret = -EINVAL;
	}
	if (ret == 0)
		cfg->ndisks++;
	return ret;
}

/* --net */

struct config_net_item {
	struct config_net *n;
	bool has_tap, has_fd;
};

static int config_net_tap(void *item, const char *opt, const char *val)
{
	struct config_net_item *it = item;
	size_t len = strlen(val);

	if (len == 0 || len >= sizeof(it->n->tap) || strchr(val, '/')) {
		log_error("--%s: tap='%s' is not an interface name (1 to %zu characters, no '/')",
			  opt, val, sizeof(it->n->tap) - 1);
		return -EINVAL;
	}
	memcpy(it->n->tap, val, len + 1);
	it->has_tap = true;
	return 0;
}

static int config_net_fd(void *item, const char *opt, const char *val)
{
	struct config_net_item *it = item;
	uint64_t fd;

	if (util_parse_uint(val, 0, INT32_MAX, &fd) < 0) {
		log_error("--%s: fd='%s' is not a file descriptor number", opt, val);
		return -EINVAL;
	}
	it->n->fd = (int)fd;
	it->has_fd = true;
	return 0;
}

static int config_parse_mac(const char *val, uint8_t mac[6])
{
	int end = -1;

	if (strlen(val) != 17 ||
	    sscanf(val, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%n", &mac[0], &mac[1], &mac[2],
		   &mac[3], &mac[4], &mac[5], &end) != 6 || end != 17)
		return -EINVAL;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? val[i] != ':' : !isxdigit((unsigned char)val[i]))
			return -EINVAL;
	}
	return 0;
}

static int config_net_mac(void *item, const char *opt, const char *val)
{
	struct config_net *n = ((struct config_net_item *)item)->n;
	static const uint8_t zero[6];

	if (config_parse_mac(val, n->mac) < 0) {
		log_error("--%s: mac='%s' is not a MAC address (XX:XX:XX:XX:XX:XX)", opt, val);
		return -EINVAL;
	}
	if (n->mac[0] & 1) {
		log_error("--%s: mac='%s' is a multicast address", opt, val);
		return -EINVAL;
	}
	if (memcmp(n->mac, zero, sizeof(zero)) == 0) {
		log_error("--%s: mac='%s' is all zeroes", opt, val);
		return -EINVAL;
	}
	n->mac_set = true;
	return 0;
}

static int config_net_id(void *item, const char *opt, const char *val)
{
	return config_id(opt, val, ((struct config_net_item *)item)->n->id);
}

static int config_net_bps(void *item, const char *opt, const char *val)
{
	return config_limit(opt, "bps", val, true, &((struct config_net_item *)item)->n->limit.bps);
}

static int config_net_bps_burst(void *item, const char *opt, const char *val)
{
	return config_limit(opt, "bps_burst", val, true,
			    &((struct config_net_item *)item)->n->limit.bps_burst);
}

static int config_net_pps(void *item, const char *opt, const char *val)
{
	return config_limit(opt, "pps", val, false, &((struct config_net_item *)item)->n->limit.ops);
}

static int config_net_pps_burst(void *item, const char *opt, const char *val)
{
	return config_limit(opt, "pps_burst", val, false,
			    &((struct config_net_item *)item)->n->limit.ops_burst);
}

static const struct config_key config_net_keys[] = {
	{ "tap", config_net_tap }, { "fd", config_net_fd }, { "mac", config_net_mac },
	{ "id", config_net_id },
	{ "bps", config_net_bps }, { "bps_burst", config_net_bps_burst },
	{ "pps", config_net_pps }, { "pps_burst", config_net_pps_burst },
};

static int config_set_net(struct vm_config *cfg, const char *name, const char *val)
{
	const struct config_item_spec spec = { name, config_net_keys,
					       ARRAY_SIZE(config_net_keys), false };
	struct config_net_item it = { &cfg->nets[cfg->nnets], false, false };
	int ret;

	if (cfg->nnets >= CONFIG_MAX_NETS) {
		log_error("--%s: more than %d network interfaces", name, CONFIG_MAX_NETS);
		return -E2BIG;
	}
	*it.n = (struct config_net){ .fd = -1 };
	ret = config_parse_item(&spec, val, &it);
	if (ret == 0 && it.has_tap == it.has_fd) {
		log_error("--%s %s: give exactly one of tap=NAME and fd=N", name, val);
		ret = -EINVAL;
	}
	if (ret == 0)
		cfg->nnets++;
	return ret;
}

/* --console */

static int config_console_backend(void *item, const char *opt, const char *val)
{
	return chardev_parse(val, &((struct config_console *)item)->backend);
}

static int config_console_id(void *item, const char *opt, const char *val)
{
	return config_id(opt, val, ((struct config_console *)item)->id);
}

static const struct config_key config_console_keys[] = {
	{ "backend", config_console_backend }, { "id", config_console_id },
};

static int config_set_console(struct vm_config *cfg, const char *name, const char *val)
{
	const struct config_item_spec spec = { name, config_console_keys,
					       ARRAY_SIZE(config_console_keys), true };
	struct config_console *c = &cfg->consoles[cfg->nconsoles];
	int ret;

	if (cfg->nconsoles >= CONFIG_MAX_CONSOLES) {
		log_error("--%s: more than %d consoles", name, CONFIG_MAX_CONSOLES);
		return -E2BIG;
	}
	memset(c, 0, sizeof(*c));
	if (val[0] == '\0') {
		log_error("--%s: no backend (stdio, pty, file:PATH, unix:PATH or none)", name);
		return -EINVAL;
	}
	ret = config_parse_item(&spec, val, c);
	if (ret == 0)
		cfg->nconsoles++;
	return ret;
}

/* --paused */

static int config_set_paused(struct vm_config *cfg, const char *name, const char *val)
{
	return config_onoff(name, "value", val, &cfg->paused);
}

/* --mem-prealloc */

static int config_set_mem_prealloc(struct vm_config *cfg, const char *name, const char *val)
{
	return config_onoff(name, "value", val, &cfg->mem_prealloc);
}

/* --rng */

static int config_set_rng(struct vm_config *cfg, const char *name, const char *val)
{
	return config_onoff(name, "value", val, &cfg->rng);
}

/* --vsock cid=N,socket=PATH[,id=ID] */

#define CONFIG_VSOCK_SUFFIX 11  /* "_<port>" the device appends for guest connections */

static int config_vsock_cid(void *item, const char *opt, const char *val)
{
	uint64_t v;

	if (util_parse_uint(val, 3, 0xFFFFFFFEu, &v) < 0) {
		log_error("--%s: cid='%s' is not a number in 3..4294967294", opt, val);
		return -EINVAL;
	}
	((struct config_vsock *)item)->cid = (uint32_t)v;
	return 0;
}

static int config_vsock_socket(void *item, const char *opt, const char *val)
{
	struct config_vsock *v = item;

	if (val[0] == '\0' || strlen(val) + CONFIG_VSOCK_SUFFIX >= sizeof(v->socket)) {
		log_error("--%s: socket='%s' is empty or too long (at most %zu bytes, so that "
			  "PATH_<port> fits a unix socket address)", opt, val,
			  sizeof(v->socket) - 1 - CONFIG_VSOCK_SUFFIX);
		return -ENAMETOOLONG;
	}
	memcpy(v->socket, val, strlen(val) + 1);
	return 0;
}

static int config_vsock_id(void *item, const char *opt, const char *val)
{
	return config_id(opt, val, ((struct config_vsock *)item)->id);
}

static const struct config_key config_vsock_keys[] = {
	{ "cid", config_vsock_cid }, { "socket", config_vsock_socket }, { "id", config_vsock_id },
};

static int config_set_vsock(struct vm_config *cfg, const char *name, const char *val)
{
	const struct config_item_spec spec = { name, config_vsock_keys,
					       ARRAY_SIZE(config_vsock_keys), false };
	struct config_vsock v = { 0 };
	int ret;

	if (cfg->vsock.enabled) {
		log_error("--%s: only one vsock device per VM", name);
		return -EINVAL;
	}
	ret = config_parse_item(&spec, val, &v);
	if (ret == 0 && (!v.cid || !v.socket[0])) {
		log_error("--%s %s: give both cid=N and socket=PATH", name, val);
		ret = -EINVAL;
	}
	if (ret == 0) {
		v.enabled = true;
		cfg->vsock = v;
	}
	return ret;
}

/* --balloon[=on|off][,stats=SECONDS][,free-page-reporting=on|off][,id=ID] */

#define CONFIG_BALLOON_STATS_MAX 86400

static int config_balloon_stats(void *item, const char *opt, const char *val)
{
	uint64_t v;

	if (util_parse_uint(val, 0, CONFIG_BALLOON_STATS_MAX, &v) < 0) {
		log_error("--%s: stats='%s' is not a number of seconds in 0..%d (0: no "
			  "statistics requests)", opt, val, CONFIG_BALLOON_STATS_MAX);
		return -EINVAL;
	}
	((struct config_balloon *)item)->stats_period = (unsigned)v;
	return 0;
}

static int config_balloon_fpr(void *item, const char *opt, const char *val)
{
	return config_onoff(opt, "free-page-reporting", val,
			    &((struct config_balloon *)item)->free_page_reporting);
}

static int config_balloon_id(void *item, const char *opt, const char *val)
{
	return config_id(opt, val, ((struct config_balloon *)item)->id);
}

static const struct config_key config_balloon_keys[] = {
	{ "stats", config_balloon_stats }, { "free-page-reporting", config_balloon_fpr },
	{ "id", config_balloon_id },
};

/* A leading on|off, then KEY=VALUE items; the last --balloon wins. */
static int config_set_balloon(struct vm_config *cfg, const char *name, const char *val)
{
	const struct config_item_spec spec = { name, config_balloon_keys,
					       ARRAY_SIZE(config_balloon_keys), false };
	struct config_balloon b = { .enabled = true };
	size_t first = strcspn(val, ",");
	const char *rest = val;
	int ret = 0;

	if (first == 2 && strncmp(val, "on", 2) == 0) {
		rest = val + 2;
	} else if (first == 3 && strncmp(val, "off", 3) == 0) {
		rest = val + 3;
		b.enabled = false;
	}
	if (rest != val)  /* after on|off: the items behind its comma, if any */
		rest = *rest ? rest + 1 : NULL;
	if (rest)
		ret = config_parse_item(&spec, rest, &b);
	if (ret == 0)
		cfg->balloon = b;
	return ret;
}

/* ---- validation of the devices as a whole ---- */

/* Every device's id buffer, with the prefix of its generated ids. */
struct config_dev_ref {
	char *id;
	const char *prefix;
	const char *opt;
};

#define CONFIG_MAX_DEVS (CONFIG_MAX_DISKS + CONFIG_MAX_NETS + CONFIG_MAX_CONSOLES + 1 + 1 + 1)

static unsigned config_dev_refs(struct vm_config *cfg, char *rng_id,
				struct config_dev_ref refs[CONFIG_MAX_DEVS])
{
	unsigned n = 0;

	for (unsigned i = 0; i < cfg->ndisks; i++)
		refs[n++] = (struct config_dev_ref){ cfg->disks[i].id, "disk", "--disk" };
	for (unsigned i = 0; i < cfg->nnets; i++)
		refs[n++] = (struct config_dev_ref){ cfg->nets[i].id, "net", "--net" };
	for (unsigned i = 0; i < cfg->nconsoles; i++)
		refs[n++] = (struct config_dev_ref){ cfg->consoles[i].id, "console", "--console" };
	if (cfg->rng)
		refs[n++] = (struct config_dev_ref){ rng_id, "rng", "--rng" };
	if (cfg->vsock.enabled)
		refs[n++] = (struct config_dev_ref){ cfg->vsock.id, "vsock", "--vsock" };
	if (cfg->balloon.enabled)
		refs[n++] = (struct config_dev_ref){ cfg->balloon.id, "balloon", "--balloon" };
	return n;
}

static bool config_id_taken(const struct config_dev_ref *refs, unsigned n, const char *id)
{
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(refs[i].id, id) == 0)
			return true;
	}
	return false;
}

/* Devices without an id get PREFIXk, the lowest k no device has. */
static void config_assign_ids(struct config_dev_ref *refs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		char cand[CONFIG_ID_MAX];

		for (unsigned k = 0; refs[i].id[0] == '\0'; k++) {
			snprintf(cand, sizeof(cand), "%s%u", refs[i].prefix, k);
			if (!config_id_taken(refs, n, cand))
				memcpy(refs[i].id, cand, strlen(cand) + 1);
		}
	}
}

static int config_check_ids(const struct config_dev_ref *refs, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		for (unsigned j = 0; j < i; j++) {
			if (strcmp(refs[i].id, refs[j].id) == 0) {
				log_error("%s: duplicate device id '%s' (also %s)", refs[i].opt,
					  refs[i].id, refs[j].opt);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int config_check_disks(const struct vm_config *cfg)
{
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		const struct config_disk *d = &cfg->disks[i];
		struct stat st;

		if (stat(d->path, &st) < 0) {
			log_error("--disk %s: %s: %s", d->id, d->path, strerror(errno));
			return -errno;
		}
		if (S_ISDIR(st.st_mode)) {
			log_error("--disk %s: %s: is a directory", d->id, d->path);
			return -EISDIR;
		}
	}
	return 0;
}

/* One terminal, one user: --serial stdio and console stdio exclude each other. */
static int config_check_stdio(const struct vm_config *cfg)
{
	const char *user = cfg->serial.kind == CHARDEV_STDIO ? "--serial" : NULL;
	char who[CONFIG_ID_MAX + 16];

	for (unsigned i = 0; i < cfg->nconsoles; i++) {
		const struct config_console *c = &cfg->consoles[i];

		if (c->backend.kind != CHARDEV_STDIO)
			continue;
		if (user) {
			log_error("--console %s: stdio is already used by %s (give one of them "
				  "another backend, e.g. --serial none)", c->id, user);
			return -EINVAL;
		}
		snprintf(who, sizeof(who), "console %s", c->id);
		user = who;
	}
	return 0;
}

/* A MAC for each interface without one: 02:xx:xx:xx:xx:xx (locally
 * administered, unicast), the rest a hash of the interface id and this
 * VMM process (pid and start time): stable for the VM's life, resets
 * included, and different for two VMs on the host. */
static void config_assign_macs(struct vm_config *cfg)
{
	struct timespec ts;
	uint64_t seed;

	clock_gettime(CLOCK_REALTIME, &ts);
	seed = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_sec ^ ((uint64_t)ts.tv_nsec << 20);
	for (unsigned i = 0; i < cfg->nnets; i++) {
		struct config_net *n = &cfg->nets[i];
		uint64_t h = 0xcbf29ce484222325ULL ^ seed;  /* FNV-1a */

		if (n->mac_set)
			continue;
		for (const char *p = n->id; *p; p++)
			h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
		n->mac[0] = 0x02;
		for (unsigned b = 1; b < 6; b++)
			n->mac[b] = (uint8_t)(h >> (8 * b));
		n->mac_set = true;
	}
}

static int config_validate_devices(struct vm_config *cfg)
{
	struct config_dev_ref refs[CONFIG_MAX_DEVS];
	char rng_id[CONFIG_ID_MAX] = "rng0";
	unsigned n = config_dev_refs(cfg, rng_id, refs);
	int ret;

	if (n > CONFIG_PCI_SLOTS) {
		log_error("%u virtio devices do not fit the %d PCI slots", n, CONFIG_PCI_SLOTS);
		return -ENOSPC;
	}
	config_assign_ids(refs, n);
	ret = config_check_ids(refs, n);
	if (ret == 0)
		ret = config_check_disks(cfg);
	if (ret == 0)
		ret = config_check_stdio(cfg);
	if (ret == 0)
		config_assign_macs(cfg);
	return ret;
}

static const struct config_opt config_opts[] = {
	{ "name", "NAME", "VM name for managers, 1-63 printable ASCII chars without '/' "
	  "(query-status \"name\"; the key is absent there when not given)", config_set_name },
	{ "uuid", "UUID", "VM UUID xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, reported lower-case "
	  "(query-status \"uuid\"; absent there when not given)", config_set_uuid },
	{ "kernel", "PATH", "kernel to boot: bzImage or ELF (PVH or 64-bit entry)", config_set_kernel },
	{ "initrd", "PATH", "initial ramdisk", config_set_initrd },
	{ "cmdline", "STRING", "kernel command line", config_set_cmdline },
	{ "memory", "SIZE", "guest RAM, with suffix K/M/G/T (default 512M)", config_set_memory },
	{ "mem-prealloc", NULL, "allocate all guest RAM on the host before the guest starts "
	  "(fails then, not later, when the host lacks memory; JSON \"mem-prealloc\": true)",
	  config_set_mem_prealloc },
	{ "cpus", "N", "number of vCPUs, 1-254 (default 1)", config_set_cpus },
	{ "serial", "BACKEND", "COM1 backend: stdio|pty|file:PATH|unix:PATH|none (default stdio)",
	  config_set_serial },
	{ "serial-log", "PATH", "append a copy of all COM1 output to PATH (whatever the backend; "
	  "a manager's console log)", config_set_serial_log },
	{ "on-reboot", "ACTION", "guest reset: restart|exit (default restart)", config_set_on_reboot },
	{ "on-triple-fault", "ACTION", "triple fault: reset|exit (default reset)", config_set_on_tf },
	{ "symbols", "PATH", "System.map, to name the symbol at RIP on a fatal exit",
	  config_set_symbols },
	{ "log-level", "LEVEL", "error|warn|info|debug (default warn)", config_set_log_level },
	{ "api-socket", "PATH", "control socket (line-delimited JSON, QMP-like)",
	  config_set_api_socket },
	{ "kvm-device", "PATH", "KVM device node (default /dev/kvm)", config_set_kvm_device },
	{ "disk", "path=IMG,format=raw|qcow2[,readonly=on|off][,cache=none|writeback][,id=ID]"
	  "[,queues=N][,poll_us=N][,bps=B][,bps_burst=B][,iops=N][,iops_burst=N]",
	  "virtio-blk disk (repeatable; JSON \"disks\": [...]); poll_us: longest window "
	  "for which a thread that completed requests polls the queues for the guest's next "
	  "ones (adaptive, default 32, 0 = never); rate limit in bytes/s "
	  "(K/M/G = 1024^n) and requests/s (k/M/G = 1000^n), bursts default to 1 s worth",
	  config_set_disk, "disks", NULL },
	{ "net", "tap=NAME|fd=N[,mac=XX:XX:XX:XX:XX:XX][,id=ID][,bps=B][,bps_burst=B][,pps=N]"
	  "[,pps_burst=N]",
	  "virtio-net on an existing TAP (repeatable; JSON \"nets\"); default MAC "
	  "02:xx:..: from the id and this process; rate limit on both directions together "
	  "in bytes/s and packets/s, as for --disk", config_set_net, "nets", NULL },
	{ "console", "BACKEND[,id=ID]", "virtio-console (hvc0): stdio|pty|file:PATH|unix:PATH|none "
	  "(repeatable; JSON \"consoles\")", config_set_console, "consoles", "backend" },
	{ "rng", NULL, "virtio-rng, entropy from getrandom() (JSON \"rng\": true)", config_set_rng },
	{ "paused", NULL, "start paused: the vCPUs are created but run no guest code until the "
	  "control socket's \"resume\" (query-status says \"paused\"; JSON \"paused\": true)",
	  config_set_paused },
	{ "vsock", "cid=N,socket=PATH[,id=ID]", "virtio-vsock, guest CID N (3..4294967294); host "
	  "side on unix socket PATH (CONNECT <port>), guest connections to PATH_<port> (JSON "
	  "\"vsock\": {\"cid\": N, \"socket\": PATH})", config_set_vsock },
	{ "balloon", "[=on|off][,stats=SECONDS][,free-page-reporting=on|off][,id=ID]",
	  "virtio-balloon: memory back to the host (control socket balloon-set); stats: "
	  "seconds between guest statistics requests (default 0: none) (JSON \"balloon\": "
	  "true or {\"stats\": N, ...})", config_set_balloon, NULL, NULL, true },
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
		const struct config_opt *o = &config_opts[i];
		char lhs[160];

		snprintf(lhs, sizeof(lhs), "--%s%s%s", o->name, o->arg && !o->optional ? " " : "",
			 o->arg ? o->arg : "");
		if (strlen(lhs) > 26)  /* a long value syntax: the help goes below */
			printf("  %s\n  %-26s %s\n", lhs, "", o->help);
		else
			printf("  %-26s %s\n", lhs, o->help);
	}
	printf("  %-26s %s\n  %-26s %s\n  %-26s %s\n",
	       "--config PATH", "whole configuration as JSON (keys = option names, device lists "
	       "as arrays)",
	       "--help", "this text", "--version", "print the version");
	printf("\nexit status: 0 guest poweroff/quit/SIGTERM, (N<<1)|1 debug-exit port value N,\n"
	       "2 bad configuration or start-up failure, 4 triple fault (--on-triple-fault exit),\n"
	       "6 KVM internal error, 8 VMM failure while running\n");
}

/* The option a JSON key names: an option's name, or a device list's key. */
static const struct config_opt *config_find_json(const char *key)
{
	for (size_t i = 0; i < ARRAY_SIZE(config_opts); i++) {
		const struct config_opt *o = &config_opts[i];

		if (strcmp(o->json_list ? o->json_list : o->name, key) == 0)
			return o;
	}
	return NULL;
}

/* A scalar as option text: strings as they are, non-negative integers in
 * decimal, booleans as on/off. */
static int config_json_scalar(json_t *v, char *buf, size_t size)
{
	if (json_is_string(v))
		return strlen(json_string_value(v)) < size ?
		       (snprintf(buf, size, "%s", json_string_value(v)), 0) : -ENAMETOOLONG;
	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		snprintf(buf, size, "%lld", (long long)json_integer_value(v));
		return 0;
	}
	if (json_is_boolean(v)) {
		snprintf(buf, size, "%s", json_is_true(v) ? "on" : "off");
		return 0;
	}
	return -EINVAL;
}

static int config_json_value(json_t *v, char *buf, size_t size, const char *key)
{
	if (!json_is_boolean(v) && config_json_scalar(v, buf, size) == 0)
		return 0;
	log_error("config key \"%s\": expected a string or a non-negative integer", key);
	return -EINVAL;
}

/* Append one member of a device item object to buf: KEY=VALUE, or the value
 * alone for the positional key (written first). */
static int config_json_member(const struct config_opt *opt, const char *k, json_t *v,
			      char *buf, size_t size, size_t *used)
{
	bool pos = opt->positional && strcmp(k, opt->positional) == 0;
	char val[PATH_MAX + 64];
	int n;

	if (config_json_scalar(v, val, sizeof(val)) < 0 || strchr(val, ',')) {
		log_error("config key \"%s\": \"%s\" must be a string without ',', a number or "
			  "a boolean", opt->json_list ? opt->json_list : opt->name, k);
		return -EINVAL;
	}
	n = snprintf(buf + *used, size - *used, "%s%s%s%s", *used ? "," : "", pos ? "" : k,
		     pos ? "" : "=", val);
	if (n < 0 || (size_t)n >= size - *used)
		return -ENAMETOOLONG;
	*used += (size_t)n;
	return 0;
}

/* A device item object as the option's text: the positional member (if the
 * option has one) first, then the others. */
static int config_json_object(const struct config_opt *opt, json_t *obj, char *buf,
			      size_t size)
{
	json_t *pv = opt->positional ? json_object_get(obj, opt->positional) : NULL;
	size_t used = 0;
	const char *k;
	json_t *v;
	int ret = 0;

	buf[0] = '\0';
	if (opt->positional && !pv) {
		log_error("config key \"%s\": an item without \"%s\"", opt->json_list,
			  opt->positional);
		return -EINVAL;
	}
	if (pv)
		ret = config_json_member(opt, opt->positional, pv, buf, size, &used);
	json_object_foreach(obj, k, v) {
		if (ret == 0 && v != pv)
			ret = config_json_member(opt, k, v, buf, size, &used);
	}
	return ret;
}

/* "disks": [ "path=a.img,format=raw", {"path": "b.img", "format": "qcow2"} ] */
static int config_json_list(struct vm_config *cfg, const struct config_opt *opt, json_t *list,
			    char *buf, size_t size)
{
	size_t i;
	json_t *item;
	int ret = 0;

	if (!json_is_array(list)) {
		log_error("config key \"%s\": expected an array", opt->json_list);
		return -EINVAL;
	}
	json_array_foreach(list, i, item) {
		if (json_is_object(item))
			ret = config_json_object(opt, item, buf, size);
		else if (json_is_string(item))
			ret = config_json_scalar(item, buf, size);
		else
			ret = -EINVAL;
		if (ret < 0) {
			if (ret == -EINVAL && !json_is_object(item))
				log_error("config key \"%s\": item %zu is not a string or an object",
					  opt->json_list, i);
			return ret;
		}
		ret = opt->set(cfg, opt->name, buf);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* One top-level key. */
static int config_json_key(struct vm_config *cfg, const char *origin, const char *key,
			   json_t *val, char *buf, size_t size)
{
	const struct config_opt *opt = config_find_json(key);

	if (!opt) {
		log_error("%s: unknown key \"%s\"", origin, key);
		return -EINVAL;
	}
	if (opt->json_list)
		return config_json_list(cfg, opt, val, buf, size);
	if (!opt->arg) {
		if (!json_is_boolean(val)) {
			log_error("config key \"%s\": expected true or false", key);
			return -EINVAL;
		}
		return opt->set(cfg, key, json_is_true(val) ? "on" : "off");
	}
	if (opt->optional && json_is_boolean(val)) /* "balloon": true */
		return opt->set(cfg, key, json_is_true(val) ? "on" : "off");
	if (json_is_object(val)) /* "vsock": {"cid": 3, ...}: its members as KEY=VALUE */
		return config_json_object(opt, val, buf, size) < 0 ? -EINVAL :
		       opt->set(cfg, key, buf);
	if (config_json_value(val, buf, size, key) < 0)
		return -EINVAL;
	return opt->set(cfg, key, buf);
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
		char *buf = malloc(CONFIG_CMDLINE_MAX + 1);

		if (!buf) {
			ret = -ENOMEM;
			goto out;
		}
		ret = config_json_key(cfg, origin, key, val, buf, CONFIG_CMDLINE_MAX + 1);
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
		lo[i] = (struct option){ config_opts[i].name,
					 !config_opts[i].arg ? no_argument :
					 config_opts[i].optional ? optional_argument :
					 required_argument,
					 NULL, (int)i };
	lo[i++] = (struct option){ "config", required_argument, NULL, CONFIG_OPT_CONFIG };
	lo[i++] = (struct option){ "help", no_argument, NULL, CONFIG_OPT_HELP };
	lo[i++] = (struct option){ "version", no_argument, NULL, CONFIG_OPT_VERSION };
	lo[i] = (struct option){ 0 };
}

/* The flag (an option without value) that "--NAME=..." names, if any. */
static const struct config_opt *config_flag_given_value(const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (strncmp(arg, "--", 2) != 0 || !eq)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(config_opts); i++) {
		const struct config_opt *o = &config_opts[i];

		if (!o->arg && strlen(o->name) == (size_t)(eq - arg - 2) &&
		    strncmp(o->name, arg + 2, strlen(o->name)) == 0)
			return o;
	}
	return NULL;
}

static int config_bad_option(int c, char **argv)
{
	const char *arg = argv[optind - 1];
	const struct config_opt *flag = config_flag_given_value(arg);

	if (c == ':')
		log_error("option %s needs a value", arg);
	else if (flag)
		log_error("option --%s takes no value (got '%s')", flag->name, arg);
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
		ret = config_opts[c].set(cfg, config_opts[c].name, optarg ? optarg : "on");
		if (ret < 0)
			return ret;
	}
	return CONFIG_RUN;
}

int config_validate(struct vm_config *cfg, uint64_t host_memory)
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
	return config_validate_devices(cfg);
}
