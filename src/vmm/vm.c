/* vm: creation of a VM (RAM, buses, devices, event loop, control
 * socket), booting it (hypervisor VM, memory slots, firmware and kernel,
 * vCPU threads), and its lifecycle: requests from devices, vCPUs, signals
 * and the control socket are serialised onto the event-loop thread. A reset
 * tears the hypervisor VM down and boots a new one in place. */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "arch/x86/pc.h"
#include "chardev.h"
#include "common/evloop.h"
#include "common/log.h"
#include "common/util.h"
#include "control.h"
#include "hv/hv.h"
#include "hw/hw.h"
#include "symbols.h"
#include "vcpu.h"

static const char *const vm_reason_names[] = {
	[VM_REASON_NONE] = "none",
	[VM_REASON_GUEST_POWEROFF] = "guest-poweroff",
	[VM_REASON_GUEST_RESET] = "guest-reset",
	[VM_REASON_HOST_SIGNAL] = "host-signal",
	[VM_REASON_HOST_QUIT] = "host-qmp-quit",
	[VM_REASON_HOST_RESET] = "host-qmp-system-reset",
	[VM_REASON_TRIPLE_FAULT] = "triple-fault",
	[VM_REASON_INTERNAL_ERROR] = "internal-error",
	[VM_REASON_DEBUG_EXIT] = "guest-debug-exit",
	[VM_REASON_HOST_ERROR] = "host-error",
};

static const char *const vm_state_names[] = {
	[VM_STATE_RUNNING] = "running",
	[VM_STATE_PAUSED] = "paused",
	[VM_STATE_SHUTDOWN] = "shutdown",
};

const char *vm_reason_name(enum vm_reason reason)
{
	return vm_reason_names[reason];
}

const char *vm_state_name(enum vm_state state)
{
	return vm_state_names[state];
}

static bool vm_reason_is_guest(enum vm_reason r)
{
	return r == VM_REASON_GUEST_POWEROFF || r == VM_REASON_GUEST_RESET ||
	       r == VM_REASON_TRIPLE_FAULT || r == VM_REASON_DEBUG_EXIT;
}

static void vm_event(struct vm *vm, const char *name, json_t *data)
{
	if (vm->ctl)
		control_event(vm->ctl, name, data);
	else
		json_decref(data);
}

/* ---- devhost: what devices may ask of this VM ---- */

static void vm_dh_irq_set(void *ctx, unsigned gsi, int level)
{
	struct vm *vm = ctx;

	if (vm->hv)
		hv_irq_line(vm->hv, gsi, level);
}

static void vm_dh_event(void *ctx, enum devhost_event ev, int code)
{
	struct vm *vm = ctx;

	switch (ev) {
	case DEVHOST_EV_POWEROFF:
		vm_request(vm, VM_ACTION_STOP, VM_REASON_GUEST_POWEROFF, VM_EXIT_OK);
		break;
	case DEVHOST_EV_RESET:
		vm_request(vm, VM_ACTION_RESET, VM_REASON_GUEST_RESET, 0);
		break;
	case DEVHOST_EV_DEBUG_EXIT:
		vm_request(vm, VM_ACTION_STOP, VM_REASON_DEBUG_EXIT, code);
		break;
	}
}

static uint64_t vm_dh_clock(void *ctx)
{
	return util_now_ns();
}

static int64_t vm_dh_wallclock(void *ctx)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int vm_dh_gsi_alloc(void *ctx, unsigned *gsi)
{
	struct vm *vm = ctx;
	int ret = -ENOSPC;

	pthread_mutex_lock(&vm->hv_lock);
	if (!vm->hv)
		ret = -ENODEV;
	for (unsigned i = 0; ret == -ENOSPC && i < VM_MSI_GSIS; i++) {
		uint64_t *word = &vm->msi_gsis[i / 64], bit = 1ULL << (i % 64);

		if (!(*word & bit)) {
			*word |= bit;
			*gsi = X86_IOAPIC_PINS + i;
			ret = 0;
		}
	}
	pthread_mutex_unlock(&vm->hv_lock);
	return ret;
}

static void vm_dh_gsi_free(void *ctx, unsigned gsi)
{
	struct vm *vm = ctx;
	unsigned i = gsi - X86_IOAPIC_PINS;

	if (gsi < X86_IOAPIC_PINS || i >= VM_MSI_GSIS)
		return;
	pthread_mutex_lock(&vm->hv_lock);
	vm->msi_gsis[i / 64] &= ~(1ULL << (i % 64));
	pthread_mutex_unlock(&vm->hv_lock);
}

static int vm_dh_gsi_route_msi(void *ctx, unsigned gsi, uint64_t addr, uint32_t data)
{
	struct vm *vm = ctx;
	int ret;

	pthread_mutex_lock(&vm->hv_lock);
	ret = vm->hv ? hv_route_msi(vm->hv, gsi, addr, data) : -ENODEV;
	pthread_mutex_unlock(&vm->hv_lock);
	return ret;
}

static int vm_dh_irqfd(struct vm *vm, int fd, unsigned gsi, bool deassign)
{
	int ret;

	pthread_mutex_lock(&vm->hv_lock);
	ret = vm->hv ? hv_irqfd(vm->hv, fd, gsi, -1, deassign) : -ENODEV;
	pthread_mutex_unlock(&vm->hv_lock);
	return ret;
}

static int vm_dh_irqfd_bind(void *ctx, int fd, unsigned gsi)
{
	return vm_dh_irqfd(ctx, fd, gsi, false);
}

static int vm_dh_irqfd_unbind(void *ctx, int fd, unsigned gsi)
{
	return vm_dh_irqfd(ctx, fd, gsi, true);
}

static int vm_dh_msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	struct vm *vm = ctx;
	int ret;

	pthread_mutex_lock(&vm->hv_lock);
	ret = vm->hv ? hv_signal_msi(vm->hv, addr, data) : -ENODEV;
	pthread_mutex_unlock(&vm->hv_lock);
	return ret;
}

static int vm_dh_ioeventfd(struct vm *vm, const struct devhost_ioeventfd *io, bool deassign)
{
	int ret;

	pthread_mutex_lock(&vm->hv_lock);
	ret = vm->hv ? hv_ioeventfd(vm->hv, io->fd, io->addr, io->len, false, io->datamatch,
				    io->value, deassign) : -ENODEV;
	pthread_mutex_unlock(&vm->hv_lock);
	return ret;
}

static int vm_dh_ioeventfd_add(void *ctx, const struct devhost_ioeventfd *io)
{
	return vm_dh_ioeventfd(ctx, io, false);
}

static int vm_dh_ioeventfd_remove(void *ctx, const struct devhost_ioeventfd *io)
{
	return vm_dh_ioeventfd(ctx, io, true);
}

static void vm_dh_emit(void *ctx, const char *name, json_t *data)
{
	vm_event(ctx, name, data);
}

static const struct devhost_ops vm_devhost_ops = {
	.irq_set = vm_dh_irq_set,
	.event = vm_dh_event,
	.clock_ns = vm_dh_clock,
	.wallclock_ns = vm_dh_wallclock,
	.gsi_alloc = vm_dh_gsi_alloc,
	.gsi_free = vm_dh_gsi_free,
	.gsi_route_msi = vm_dh_gsi_route_msi,
	.irqfd_bind = vm_dh_irqfd_bind,
	.irqfd_unbind = vm_dh_irqfd_unbind,
	.msi_send = vm_dh_msi_send,
	.ioeventfd_add = vm_dh_ioeventfd_add,
	.ioeventfd_remove = vm_dh_ioeventfd_remove,
	.emit = vm_dh_emit,
};

/* ---- vCPU coordination ---- */

static void vm_kick_all(struct vm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
	}
}

static bool vm_may_run(const struct vm *vm, const struct vcpu *c)
{
	return (vm->state == VM_STATE_RUNNING && vm->action == VM_ACTION_NONE) ||
	       __atomic_load_n(&c->stop, __ATOMIC_ACQUIRE);
}

void vm_vcpu_wait_runnable(struct vm *vm, struct vcpu *c)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm_may_run(vm, c)) {
		vm->parked++;
		pthread_cond_signal(&vm->park_cond);
		while (!vm_may_run(vm, c))
			pthread_cond_wait(&vm->run_cond, &vm->lock);
		vm->parked--;
	}
	pthread_mutex_unlock(&vm->lock);
}

/* Wake parked vCPUs (they re-check whether they may run). */
static void vm_wake_vcpus(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->lock);
}

static void vm_do_action(void *opaque);

void vm_request(struct vm *vm, enum vm_action action, enum vm_reason reason, int status)
{
	bool queue;

	pthread_mutex_lock(&vm->lock);
	if (vm->action == VM_ACTION_STOP || (action == VM_ACTION_RESET && vm->action != VM_ACTION_NONE)) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	vm->action = action;
	vm->reason = reason;
	vm->exit_status = status;
	queue = !vm->action_queued;
	vm->action_queued = true;
	pthread_mutex_unlock(&vm->lock);
	if (queue && evloop_call(vm->loop, vm_do_action, vm) < 0) {
		log_error("cannot queue the VM's %s request: out of memory", vm_reason_name(reason));
		pthread_mutex_lock(&vm->lock);
		vm->action_queued = false;
		pthread_mutex_unlock(&vm->lock);
	}
	vm_kick_all(vm);
}

/* ---- booting and tearing down the hypervisor side ---- */

static void vm_teardown(struct vm *vm)
{
	struct hv *hv;

	/* Tell every vCPU first, then join: none keeps running guest code
	 * while the others are being joined. */
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i]) {
			__atomic_store_n(&vm->vcpus[i]->stop, 1, __ATOMIC_RELEASE);
			vcpu_kick(vm->vcpus[i]);
		}
	}
	vm_wake_vcpus(vm);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_stop(vm->vcpus[i]);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		if (vm->vcpus[i])
			log_info("vCPU %u: %llu exits (%llu pio, %llu mmio)", i,
				 (unsigned long long)vm->vcpus[i]->exits,
				 (unsigned long long)vm->vcpus[i]->pio_exits,
				 (unsigned long long)vm->vcpus[i]->mmio_exits);
		vcpu_destroy(vm->vcpus[i]);
		vm->vcpus[i] = NULL;
	}
	pthread_mutex_lock(&vm->hv_lock);
	hv = vm->hv;
	vm->hv = NULL;
	pthread_mutex_unlock(&vm->hv_lock);
	hv_destroy(hv);
}

static int vm_map_memory(struct vm *vm)
{
	int ret = hv_set_memory(vm->hv, 0, 0, vm->mm.ram_low_end, vm->ram);

	if (ret == 0 && vm->mm.ram_high_size)
		ret = hv_set_memory(vm->hv, 1, X86_HIGH_RAM_START, vm->mm.ram_high_size,
				    vm->ram + vm->mm.ram_low_end);
	if (ret == 0)
		ret = hv_set_tss_addr(vm->hv, X86_KVM_IDMAP_GPA, X86_KVM_TSS_GPA);
	return ret;
}

static int vm_boot(struct vm *vm)
{
	struct boot_entry be;
	struct hv *hv;
	int ret;

	ret = hv_create(vm->cfg->kvm_device, &hv);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&vm->hv_lock);
	vm->hv = hv;
	memset(vm->msi_gsis, 0, sizeof(vm->msi_gsis));  /* a new VM has no routes */
	pthread_mutex_unlock(&vm->hv_lock);
	ret = vm_map_memory(vm);
	if (ret == 0)
		ret = pc_load(vm, &be);
	for (unsigned i = 0; ret == 0 && i < vm->ncpus; i++)
		ret = vcpu_create(vm, i, &be, &vm->vcpus[i]);
	if (ret < 0)
		return ret;
	vm->boots++;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		ret = vcpu_start(vm->vcpus[i]);
		if (ret < 0) {
			log_error("cannot start vCPU %u: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

static void vm_stop_now(struct vm *vm, enum vm_reason reason, int status)
{
	pthread_mutex_lock(&vm->lock);
	vm->state = VM_STATE_SHUTDOWN;
	vm->action = VM_ACTION_STOP; /* later requests change nothing */
	vm->reason = reason;
	vm->exit_status = status;
	pthread_mutex_unlock(&vm->lock);
	vm_event(vm, "SHUTDOWN", json_pack("{s:b,s:s}", "guest", vm_reason_is_guest(reason),
					   "reason", vm_reason_name(reason)));
	evloop_stop(vm->loop);
}

static void vm_reset_now(struct vm *vm, enum vm_reason reason)
{
	bool stopping;
	int ret;

	log_info("resetting the VM (%s)", vm_reason_name(reason));
	vm_event(vm, "RESET", json_pack("{s:b,s:s}", "guest", vm_reason_is_guest(reason),
					"reason", vm_reason_name(reason)));
	vm_teardown(vm);
	pc_devices_reset(vm);
	pthread_mutex_lock(&vm->lock);
	stopping = vm->action == VM_ACTION_STOP; /* a stop came in meanwhile: it wins */
	if (!stopping)
		vm->action = VM_ACTION_NONE;
	pthread_mutex_unlock(&vm->lock);
	if (stopping)
		return; /* its queued call stops the VM */
	ret = vm_boot(vm);
	if (ret < 0)
		vm_stop_now(vm, VM_REASON_HOST_ERROR, VM_EXIT_HOST_ERROR);
}

static void vm_do_action(void *opaque)
{
	struct vm *vm = opaque;
	enum vm_action action;
	enum vm_reason reason;
	int status;

	pthread_mutex_lock(&vm->lock);
	action = vm->action;
	reason = vm->reason;
	status = vm->exit_status;
	vm->action_queued = false;
	if (vm->state == VM_STATE_SHUTDOWN) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	pthread_mutex_unlock(&vm->lock);
	if (action == VM_ACTION_RESET && reason == VM_REASON_GUEST_RESET &&
	    vm->cfg->on_reboot == CONFIG_REBOOT_EXIT)
		action = VM_ACTION_STOP;
	switch (action) {
	case VM_ACTION_NONE:
		break;
	case VM_ACTION_STOP:
		vm_stop_now(vm, reason, status);
		break;
	case VM_ACTION_RESET:
		vm_reset_now(vm, reason);
		break;
	}
}

/* ---- pause / resume / power button (event-loop thread) ---- */

int vm_pause(struct vm *vm)
{
	struct timespec deadline;
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_RUNNING) {
		pthread_mutex_unlock(&vm->lock);
		return vm->state == VM_STATE_PAUSED ? 0 : -EINVAL;
	}
	vm->state = VM_STATE_PAUSED;
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += 5;
	pthread_mutex_lock(&vm->lock);
	while (vm->parked < vm->ncpus && ret == 0)
		ret = pthread_cond_timedwait(&vm->park_cond, &vm->lock, &deadline);
	pthread_mutex_unlock(&vm->lock);
	if (ret) {
		log_warn("pause: not every vCPU stopped within 5 s");
		return -ETIMEDOUT;
	}
	vm_event(vm, "STOP", NULL);
	return 0;
}

int vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm->state != VM_STATE_PAUSED) {
		pthread_mutex_unlock(&vm->lock);
		return vm->state == VM_STATE_RUNNING ? 0 : -EINVAL;
	}
	vm->state = VM_STATE_RUNNING;
	pthread_cond_broadcast(&vm->run_cond);
	pthread_mutex_unlock(&vm->lock);
	vm_event(vm, "RESUME", NULL);
	return 0;
}

void vm_power_button(struct vm *vm)
{
	if (vm->acpipm)
		acpipm_power_button(vm->acpipm);
}

/* ---- creation ---- */

/* Guest RAM: one private anonymous mapping, as QEMU, Firecracker and Cloud
 * Hypervisor do by default. MADV_HUGEPAGE asks for transparent huge pages:
 * 2 MiB host pages let KVM map the guest with large pages, and an O_DIRECT
 * disk request over guest buffers is a few physically contiguous segments
 * instead of one per 4 KiB page (the host disk takes it whole). Without
 * THP (disabled on the host) RAM is simply 4 KiB pages. */
static int vm_alloc_ram(struct vm *vm)
{
	uint64_t size = vm->cfg->memory;
	int ret;

	vm->ram = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (vm->ram == MAP_FAILED) {
		ret = -errno;
		vm->ram = NULL;
		log_error("cannot map %llu MiB of guest RAM: %s",
			  (unsigned long long)(size >> 20), strerror(errno));
		return ret;
	}
	madvise(vm->ram, size, MADV_DONTDUMP);
	if (madvise(vm->ram, size, MADV_HUGEPAGE) < 0)
		log_debug("guest RAM: no transparent huge pages: %s", strerror(errno));
	if (vm->cfg->mem_prealloc && madvise(vm->ram, size, MADV_POPULATE_WRITE) < 0) {
		ret = -errno;
		log_error("--mem-prealloc: cannot allocate %llu MiB of guest RAM: %s",
			  (unsigned long long)(size >> 20), strerror(errno));
		return ret;
	}
	ret = gmem_add_ram(&vm->gm, 0, vm->mm.ram_low_end, vm->ram);
	if (ret == 0 && vm->mm.ram_high_size)
		ret = gmem_add_ram(&vm->gm, X86_HIGH_RAM_START, vm->mm.ram_high_size,
				   vm->ram + vm->mm.ram_low_end);
	return ret;
}

static void vm_on_signal(void *opaque, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	if (read(vm->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("received signal %u: stopping", si.ssi_signo);
	vm_request(vm, VM_ACTION_STOP, VM_REASON_HOST_SIGNAL, VM_EXIT_OK);
}

static int vm_signals(struct vm *vm)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	vm->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (vm->signal_fd < 0)
		return -errno;
	return evloop_add(vm->loop, vm->signal_fd, EPOLLIN, vm_on_signal, vm);
}

static void vm_quit_key(void *opaque)
{
	vm_request(opaque, VM_ACTION_STOP, VM_REASON_HOST_QUIT, VM_EXIT_OK);
}

static int vm_open_io(struct vm *vm)
{
	const struct chardev_hooks hooks = { .quit = vm_quit_key, .opaque = vm };
	int ret;

	ret = chardev_open(&vm->cfg->serial, vm->loop, &hooks, &vm->serial_cd);
	if (ret < 0)
		return ret;
	if (vm->cfg->symbols[0]) {
		ret = symbols_load(vm->cfg->symbols, &vm->syms);
		if (ret < 0) {
			log_error("--symbols %s: %s", vm->cfg->symbols, strerror(-ret));
			return ret;
		}
	}
	if (vm->cfg->api_socket[0])
		ret = control_open(vm->cfg->api_socket, vm->loop, vmctl_cmds, vm, &vm->ctl);
	return ret;
}

static int vm_setup(struct vm *vm)
{
	int ret = memmap_init(&vm->mm, vm->cfg->memory);

	if (ret == 0)
		ret = vm_alloc_ram(vm);
	if (ret == 0)
		ret = evloop_create(&vm->loop);
	if (ret == 0)
		ret = vm_signals(vm);
	if (ret == 0)
		ret = vm_open_io(vm);
	if (ret == 0)
		ret = pc_devices_create(vm);
	if (ret == 0)
		ret = vm_boot(vm);
	return ret;
}

static void vm_cond_init_monotonic(pthread_cond_t *cond)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &attr);
	pthread_condattr_destroy(&attr);
}

int vm_create(const struct vm_config *cfg, uint64_t start_ns, struct vm **out)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	int ret;

	if (!vm)
		return -ENOMEM;
	vm->cfg = cfg;
	vm->start_ns = start_ns;
	vm->signal_fd = -1;
	vm->ncpus = cfg->cpus;
	vm->devhost = (struct devhost){ &vm_devhost_ops, vm };
	vm->state = cfg->paused ? VM_STATE_PAUSED : VM_STATE_RUNNING;   /* --paused */
	pthread_mutex_init(&vm->hv_lock, NULL);
	pthread_mutex_init(&vm->lock, NULL);
	pthread_cond_init(&vm->run_cond, NULL);
	vm_cond_init_monotonic(&vm->park_cond);
	iobus_init(&vm->pio, "pio");
	iobus_init(&vm->mmio, "mmio");
	vm->vcpus = calloc(vm->ncpus, sizeof(*vm->vcpus));
	ret = vm->vcpus ? vm_setup(vm) : -ENOMEM;
	if (ret < 0) {
		vm_destroy(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

/* The exit-reason file beside the API socket: what a manager reads after
 * the VMM is gone. Written atomically. */
static void vm_write_exit_file(struct vm *vm)
{
	char path[sizeof(vm->cfg->api_socket) + 16], tmp[sizeof(path) + 8];
	json_t *j;
	int ret;

	if (!vm->cfg->api_socket[0])
		return;
	snprintf(path, sizeof(path), "%s.exit", vm->cfg->api_socket);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	j = json_pack("{s:s,s:i}", "reason", vm_reason_name(vm->reason),
		      "exit-status", vm->exit_status);
	ret = j ? json_dump_file(j, tmp, JSON_COMPACT) : -1;
	json_decref(j);
	if (ret == 0 && rename(tmp, path) == 0)
		return;
	log_warn("cannot write %s: %s", path, strerror(errno));
	unlink(tmp);
}

int vm_run(struct vm *vm)
{
	int ret = evloop_run(vm->loop);

	vm_teardown(vm);
	if (ret < 0 && vm->state != VM_STATE_SHUTDOWN) {
		vm->reason = VM_REASON_HOST_ERROR;
		vm->exit_status = VM_EXIT_HOST_ERROR;
	}
	log_info("VM stopped: %s, exit status %d", vm_reason_name(vm->reason), vm->exit_status);
	vm_write_exit_file(vm);
	return vm->exit_status;
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (vm->vcpus)
		vm_teardown(vm);
	/* Before the control socket: a virtio device's backend may still report
	 * an event until the device is gone. */
	virtio_devices_destroy(&vm->virtio);
	control_close(vm->ctl);
	chardev_close(vm->serial_cd); /* first: its front end is the serial device */
	pc_devices_destroy(vm);
	symbols_free(vm->syms);
	if (vm->signal_fd >= 0)
		close(vm->signal_fd);
	evloop_destroy(vm->loop);
	if (vm->ram)
		munmap(vm->ram, vm->cfg->memory);
	free(vm->vcpus);
	pthread_cond_destroy(&vm->run_cond);
	pthread_cond_destroy(&vm->park_cond);
	pthread_mutex_destroy(&vm->lock);
	pthread_mutex_destroy(&vm->hv_lock);
	free(vm);
}
