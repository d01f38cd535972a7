/* vmctl: the VMM's control-socket commands, one handler each, in one table. */
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "chardev.h"
#include "control.h"
#include "vcpu.h"
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

const struct control_cmd vmctl_cmds[] = {
	{ "query-status", vmctl_query_status },
	{ "query-cpus", vmctl_query_cpus },
	{ "query-chardev", vmctl_query_chardev },
	{ "pause", vmctl_pause },
	{ "resume", vmctl_resume },
	{ "system-powerdown", vmctl_powerdown },
	{ "system-reset", vmctl_reset },
	{ "quit", vmctl_quit },
	{ NULL, NULL },
};
