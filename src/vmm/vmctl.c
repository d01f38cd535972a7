/* vmctl: the VMM's control-socket commands, one handler each, in one table.
 * The device queries walk the VM's virtio devices (vm->virtio); each device
 * is asked under its lock. A device's ops->query puts its configuration
 * facts at the top level and its counters in a "stats" object; the stats
 * queries show the id, the facts that name the backend ("path" of a disk,
 * "tap" of a NIC) and the counters. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "chardev.h"
#include "common/util.h"
#include "config.h"
#include "control.h"
#include "vcpu.h"
#include "virtio/virtio_pci.h"
#include "vm.h"

static int vmctl_query_status(void *opaque, json_t *args, json_t **ret, char **err)
{
	struct vm *vm = opaque;
	enum vm_state st;

	pthread_mutex_lock(&vm->lock);
	st = vm->state;
	pthread_mutex_unlock(&vm->lock);
	*ret = json_pack("{s:s,s:b,s:i}", "status", vm_state_name(st),
			 "running", st == VM_STATE_RUNNING, "boots", vm->boots);
	if (*ret && vm->cfg->name[0])
		json_object_set_new(*ret, "name", json_string(vm->cfg->name));
	if (*ret && vm->cfg->uuid[0])
		json_object_set_new(*ret, "uuid", json_string(vm->cfg->uuid));
	return 0;
}

static int vmctl_query_cpus(void *opaque, json_t *args, json_t **ret, char **err)
{
	struct vm *vm = opaque;
	json_t *list = json_array();

	for (unsigned i = 0; i < vm->ncpus; i++) {
		const struct vcpu *c = vm->vcpus[i];

		if (!c)
			continue;
		json_array_append_new(list, json_pack("{s:i,s:i,s:I,s:I,s:I}", "cpu-index", i,
			"thread-id", (int)__atomic_load_n(&c->tid, __ATOMIC_ACQUIRE),
			"exits", (json_int_t)__atomic_load_n(&c->exits, __ATOMIC_RELAXED),
			"pio-exits", (json_int_t)__atomic_load_n(&c->pio_exits, __ATOMIC_RELAXED),
			"mmio-exits", (json_int_t)__atomic_load_n(&c->mmio_exits, __ATOMIC_RELAXED)));
	}
	*ret = list;
	return 0;
}

static int vmctl_query_chardev(void *opaque, json_t *args, json_t **ret, char **err)
{
	struct vm *vm = opaque;
	const char *kind = chardev_kind_name(chardev_kind_of(vm->serial_cd));
	const char *file = chardev_filename(vm->serial_cd);
	char name[CHARDEV_PATH_MAX + 16];

	snprintf(name, sizeof(name), "%s%s%s", kind, file[0] ? ":" : "", file);
	*ret = json_pack("[{s:s,s:s,s:I}]", "label", "serial0", "filename", name,
			 "dropped", (json_int_t)chardev_dropped(vm->serial_cd));
	return 0;
}

static int vmctl_state_error(int ret, const char *what, char **err)
{
	if (ret < 0)
		*err = strdup(what);
	return ret;
}

static int vmctl_pause(void *opaque, json_t *args, json_t **ret, char **err)
{
	int rc = vm_pause(opaque);

	return vmctl_state_error(rc, rc == -ETIMEDOUT ? "not every vCPU stopped within 5 s" :
				 "the VM is shut down", err);
}

static int vmctl_resume(void *opaque, json_t *args, json_t **ret, char **err)
{
	return vmctl_state_error(vm_resume(opaque), "the VM is shut down", err);
}

static int vmctl_powerdown(void *opaque, json_t *args, json_t **ret, char **err)
{
	vm_power_button(opaque);
	return 0;
}

static int vmctl_reset(void *opaque, json_t *args, json_t **ret, char **err)
{
	vm_request(opaque, VM_ACTION_RESET, VM_REASON_HOST_RESET, 0);
	return 0;
}

static int vmctl_quit(void *opaque, json_t *args, json_t **ret, char **err)
{
	vm_request(opaque, VM_ACTION_STOP, VM_REASON_HOST_QUIT, VM_EXIT_OK);
	return 0;
}

/* ---- virtio devices ---- */

enum vmctl_view {
	VMCTL_VIEW_CONFIG,  /* the device's facts without its counters */
	VMCTL_VIEW_STATS,   /* id, backend ("path"/"tap") + counters */
};

/* The facts a stats view keeps: what the device's backend is. */
static const char *const vmctl_backend_keys[] = { "path", "tap" };

static json_t *vmctl_device_view(struct virtio_dev *vd, enum vmctl_view view)
{
	json_t *obj = json_object(), *stats;

	if (!obj)
		return NULL;
	virtio_pci_query_device(vd, obj);
	switch (view) {
	case VMCTL_VIEW_CONFIG:
		json_object_del(obj, "stats");
		return obj;
	case VMCTL_VIEW_STATS:
		stats = json_object_get(obj, "stats");
		stats = json_pack("{s:O,s:o}", "id", json_object_get(obj, "id"),
				  "stats", stats ? json_incref(stats) : json_object());
		for (size_t i = 0; stats && i < ARRAY_SIZE(vmctl_backend_keys); i++) {
			json_t *v = json_object_get(obj, vmctl_backend_keys[i]);

			if (v)
				json_object_set(stats, vmctl_backend_keys[i], v);
		}
		json_decref(obj);
		return stats;
	}
	return obj;
}

/* Every device of one virtio kind, seen one way. */
static int vmctl_devices(struct vm *vm, uint16_t device_id, enum vmctl_view view,
			 json_t **ret)
{
	json_t *list = json_array();

	for (unsigned i = 0; list && i < vm->virtio.n; i++) {
		struct virtio_dev *vd = vm->virtio.devs[i];

		if (virtio_pci_device_id(vd) == device_id)
			json_array_append_new(list, vmctl_device_view(vd, view));
	}
	*ret = list;
	return list ? 0 : -ENOMEM;
}

static int vmctl_query_block(void *opaque, json_t *args, json_t **ret, char **err)
{
	return vmctl_devices(opaque, VIRTIO_ID_BLOCK, VMCTL_VIEW_CONFIG, ret);
}

static int vmctl_query_blockstats(void *opaque, json_t *args, json_t **ret, char **err)
{
	return vmctl_devices(opaque, VIRTIO_ID_BLOCK, VMCTL_VIEW_STATS, ret);
}

static int vmctl_query_netstats(void *opaque, json_t *args, json_t **ret, char **err)
{
	return vmctl_devices(opaque, VIRTIO_ID_NET, VMCTL_VIEW_STATS, ret);
}

static int vmctl_query_virtio(void *opaque, json_t *args, json_t **ret, char **err)
{
	struct vm *vm = opaque;
	json_t *list = json_array();

	for (unsigned i = 0; list && i < vm->virtio.n; i++) {
		json_t *obj = json_object();

		if (obj)
			virtio_pci_query(vm->virtio.devs[i], obj);
		json_array_append_new(list, obj);
	}
	*ret = list;
	return list ? 0 : -ENOMEM;
}

static int vmctl_fail(int ret, char **err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int vmctl_fail(int ret, char **err, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	*err = strdup(msg);
	return ret;
}

static int vmctl_set_link(void *opaque, json_t *args, json_t **ret, char **err)
{
	struct vm *vm = opaque;
	json_t *jid = json_object_get(args, "id"), *jup = json_object_get(args, "up");
	struct virtio_dev *vd;
	int rc;

	if (!json_is_string(jid) || !json_is_boolean(jup))
		return vmctl_fail(-EINVAL, err, "%s", "set-link needs {\"id\": string, \"up\": bool}");
	vd = virtio_devices_find(&vm->virtio, json_string_value(jid));
	if (!vd)
		return vmctl_fail(-ENODEV, err, "no device '%s'", json_string_value(jid));
	rc = virtio_pci_set_link(vd, json_is_true(jup));
	if (rc == -ENOTSUP)
		return vmctl_fail(rc, err, "device '%s' has no link", json_string_value(jid));
	if (rc < 0)
		return vmctl_fail(rc, err, "set-link: %s", strerror(-rc));
	return 0;
}

/* set-rate-limit {"id", "bps", "bps_burst", "ops", "ops_burst"}: the
 * device's limits are replaced; an omitted key is 0 (unlimited, or one
 * second's worth for a burst). */
static const char *const vmctl_limit_keys[] = { "bps", "bps_burst", "ops", "ops_burst" };

static int vmctl_limit_args(json_t *args, struct config_ratelimit *lim, char **err)
{
	uint64_t *field[] = { &lim->bps, &lim->bps_burst, &lim->ops, &lim->ops_burst };
	const char *k;
	json_t *v;

	json_object_foreach(args, k, v) {
		size_t i = 0;

		while (i < ARRAY_SIZE(vmctl_limit_keys) && strcmp(k, vmctl_limit_keys[i]))
			i++;
		if (i == ARRAY_SIZE(vmctl_limit_keys)) {
			if (strcmp(k, "id") == 0)
				continue;
			return vmctl_fail(-EINVAL, err, "set-rate-limit: unknown key '%s' (keys: id, "
					  "bps, bps_burst, ops, ops_burst)", k);
		}
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return vmctl_fail(-EINVAL, err, "set-rate-limit: '%s' must be a non-negative "
					  "integer (0 = unlimited)", k);
		*field[i] = (uint64_t)json_integer_value(v);
	}
	return 0;
}

static int vmctl_set_rate_limit(void *opaque, json_t *args, json_t **ret, char **err)
{
	struct vm *vm = opaque;
	json_t *jid = json_object_get(args, "id");
	struct config_ratelimit lim = { 0 };
	struct virtio_dev *vd;
	int rc;

	if (!json_is_string(jid))
		return vmctl_fail(-EINVAL, err, "%s", "set-rate-limit needs {\"id\": string, "
				  "\"bps\", \"bps_burst\", \"ops\", \"ops_burst\": integers}");
	rc = vmctl_limit_args(args, &lim, err);
	if (rc < 0)
		return rc;
	vd = virtio_devices_find(&vm->virtio, json_string_value(jid));
	if (!vd)
		return vmctl_fail(-ENODEV, err, "no device '%s'", json_string_value(jid));
	rc = virtio_pci_set_rate_limit(vd, &lim);
	if (rc == -ENOTSUP)
		return vmctl_fail(rc, err, "device '%s' has no rate limit", json_string_value(jid));
	if (rc < 0)
		return vmctl_fail(rc, err, "set-rate-limit: %s", strerror(-rc));
	return 0;
}

/* ---- the balloon ---- */

#define VMCTL_BALLOON_MIN (16ull << 20)  /* the smallest target: --memory's minimum */

static struct virtio_dev *vmctl_balloon(struct vm *vm)
{
	for (unsigned i = 0; i < vm->virtio.n; i++) {
		if (virtio_pci_device_id(vm->virtio.devs[i]) == VIRTIO_ID_BALLOON)
			return vm->virtio.devs[i];
	}
	return NULL;
}

/* balloon-set {"target": BYTES}: the guest should keep target bytes of RAM. */
static int vmctl_balloon_set(void *opaque, json_t *args, json_t **ret, char **err)
{
	struct vm *vm = opaque;
	struct virtio_dev *vd = vmctl_balloon(vm);
	json_t *jt = json_object_get(args, "target");
	uint64_t ram = gmem_size(&vm->gm), min = ram < VMCTL_BALLOON_MIN ? ram : VMCTL_BALLOON_MIN;
	uint64_t target;
	int rc;

	if (!vd)
		return vmctl_fail(-ENODEV, err, "%s", "no balloon device (start the VM with --balloon)");
	if (!json_is_integer(jt) || json_integer_value(jt) < 0)
		return vmctl_fail(-EINVAL, err, "%s", "balloon-set needs {\"target\": bytes}");
	target = (uint64_t)json_integer_value(jt);
	if (target > ram || target < min)
		return vmctl_fail(-ERANGE, err, "balloon-set: target %llu is outside %llu..%llu "
				  "(16 MiB up to the guest's RAM)", (unsigned long long)target,
				  (unsigned long long)min, (unsigned long long)ram);
	rc = virtio_pci_balloon_set(vd, target);
	if (rc < 0)
		return vmctl_fail(rc, err, "balloon-set: %s", strerror(-rc));
	return 0;
}

/* query-balloon: {"id", "target", "actual" (bytes the guest keeps), the
 * device's counters, "stats": the guest's last statistics by name,
 * "stats-age": seconds since they came (null: never)}. */
static int vmctl_query_balloon(void *opaque, json_t *args, json_t **ret, char **err)
{
	struct virtio_dev *vd = vmctl_balloon(opaque);
	json_t *obj, *guest;

	if (!vd)
		return vmctl_fail(-ENODEV, err, "%s", "no balloon device (start the VM with --balloon)");
	obj = json_object();
	if (!obj)
		return -ENOMEM;
	virtio_pci_query_device(vd, obj);
	if (json_is_object(json_object_get(obj, "stats")))
		json_object_update(obj, json_object_get(obj, "stats"));
	guest = json_incref(json_object_get(obj, "guest-stats"));
	json_object_set_new(obj, "stats", guest ? guest : json_object());
	json_object_del(obj, "guest-stats");
	*ret = obj;
	return 0;
}

const struct control_cmd vmctl_cmds[] = {
	{ "query-status", vmctl_query_status },
	{ "query-cpus", vmctl_query_cpus },
	{ "query-chardev", vmctl_query_chardev },
	{ "pause", vmctl_pause },
	{ "resume", vmctl_resume },
	{ "system-powerdown", vmctl_powerdown },
	{ "system-reset", vmctl_reset },
	{ "quit", vmctl_quit },
	{ "query-block", vmctl_query_block },
	{ "query-blockstats", vmctl_query_blockstats },
	{ "query-netstats", vmctl_query_netstats },
	{ "query-virtio", vmctl_query_virtio },
	{ "set-link", vmctl_set_link },
	{ "balloon-set", vmctl_balloon_set },
	{ "query-balloon", vmctl_query_balloon },
	{ "set-rate-limit", vmctl_set_rate_limit },
	{ NULL, NULL },
};
