/* vm: one virtual machine: configuration, guest RAM (private anonymous
 * memory, transparent huge pages where the host has them), the address
 * map, buses and devices, vCPUs, the event loop, the control socket, and the
 * lifecycle state machine (running, paused, resetting, shut down). */
#ifndef VMKIT_VM_H
#define VMKIT_VM_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "control.h"
#include "devhost.h"
#include "gmem.h"
#include "iobus.h"
#include "loader.h"
#include "memmap.h"
#include "virtio/virtio_devices.h"

struct evloop;
struct hv;
struct pci_bus;
struct control;
struct chardev;
struct symbols;
struct vcpu;

/* Process exit statuses. Odd values belong to the debug-exit port. */
enum vm_exit_status {
	VM_EXIT_OK = 0,
	VM_EXIT_CONFIG = 2,
	VM_EXIT_TRIPLE_FAULT = 4,
	VM_EXIT_INTERNAL_ERROR = 6,
	VM_EXIT_HOST_ERROR = 8,
};

enum vm_state { VM_STATE_RUNNING, VM_STATE_PAUSED, VM_STATE_SHUTDOWN };

enum vm_reason {
	VM_REASON_NONE,
	VM_REASON_GUEST_POWEROFF,
	VM_REASON_GUEST_RESET,
	VM_REASON_HOST_SIGNAL,
	VM_REASON_HOST_QUIT,
	VM_REASON_HOST_RESET,
	VM_REASON_TRIPLE_FAULT,
	VM_REASON_INTERNAL_ERROR,
	VM_REASON_DEBUG_EXIT,
	VM_REASON_HOST_ERROR,
};

/* What the VM is asked to do next (by a device, a vCPU, a signal or a
 * control command); handled on the event-loop thread. */
enum vm_action { VM_ACTION_NONE, VM_ACTION_RESET, VM_ACTION_STOP };

#define VM_MAX_HW 16
#define VM_MSI_GSIS 512  /* GSIs for MSI routes, from X86_IOAPIC_PINS up */

struct vm_hw {
	const struct hw_desc *desc;
	void *state;
};

struct vm {
	const struct vm_config *cfg;
	uint64_t start_ns;
	struct evloop *loop;
	struct hv *hv;
	uint8_t *ram;
	struct memmap mm;
	struct gmem gm;
	struct iobus pio;
	struct iobus mmio;
	struct devhost devhost;
	struct pci_bus *pci;  /* the PCI root bus (pc.c) */
	struct virtio_devices virtio; /* plugged virtio devices (pc.c), for vmctl */
	struct vm_hw hw[VM_MAX_HW];
	unsigned nhw;
	void *acpipm;        /* the ACPI PM device (power button) */
	void *serial;
	struct chardev *serial_cd;
	struct control *ctl;
	struct symbols *syms;
	struct vcpu **vcpus;
	unsigned ncpus;
	unsigned boots;      /* times the guest was (re)started */
	int signal_fd;

	/* Devices reach vm->hv from any thread (MSI routes, irqfds, doorbells):
	 * hv_lock orders that against the reset's teardown, and guards the
	 * GSI bitmap (cleared for every new hypervisor VM). */
	pthread_mutex_t hv_lock;
	uint64_t msi_gsis[VM_MSI_GSIS / 64];

	pthread_mutex_t lock; /* protects what follows */
	pthread_cond_t run_cond;  /* vCPUs wait here while they may not run */
	pthread_cond_t park_cond; /* vm_pause waits here for vCPUs to park */
	enum vm_state state;
	unsigned parked;      /* vCPUs waiting while paused */
	enum vm_action action;
	enum vm_reason reason;
	int exit_status;
	bool action_queued;
};

int vm_create(const struct vm_config *cfg, uint64_t start_ns, struct vm **out);
/* Run until the VM stops; returns the process exit status. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Requests (any thread). The first stop wins; a reset never overrides a stop. */
void vm_request(struct vm *vm, enum vm_action action, enum vm_reason reason, int status);
int vm_pause(struct vm *vm);
int vm_resume(struct vm *vm);
void vm_power_button(struct vm *vm);
const char *vm_reason_name(enum vm_reason reason);
const char *vm_state_name(enum vm_state state);

/* Called by vCPU threads (vcpu.c). */
void vm_vcpu_wait_runnable(struct vm *vm, struct vcpu *vcpu);

/* Control-socket command table (vmctl.c). */
extern const struct control_cmd vmctl_cmds[];

#endif
