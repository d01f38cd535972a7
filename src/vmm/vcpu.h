/* vcpu: one vCPU thread: CPUID/MSR/register set-up, the KVM_RUN loop, and
 * dispatch of its exits to the buses on this thread. */
#ifndef VMKIT_VCPU_H
#define VMKIT_VCPU_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vm;
struct hv_vcpu;
struct boot_entry;

struct vcpu {
	struct vm *vm;
	unsigned index;
	struct hv_vcpu *hv;
	pthread_t thread;
	bool started;
	bool ran;               /* vCPU thread only */
	pid_t tid;              /* atomic: set by the thread */
	int stop;               /* atomic: thread must return */
	uint64_t exits;         /* atomic: exits handled in userspace */
	uint64_t pio_exits;
	uint64_t mmio_exits;
};

/* Create vCPU index with CPUID/MSRs/LAPIC set; the BSP (index 0) also gets
 * the boot entry state. */
int vcpu_create(struct vm *vm, unsigned index, const struct boot_entry *be, struct vcpu **out);
int vcpu_start(struct vcpu *vcpu);
/* Ask the thread to return, kick it, and join it. */
void vcpu_stop(struct vcpu *vcpu);
void vcpu_kick(struct vcpu *vcpu);
void vcpu_destroy(struct vcpu *vcpu);

#endif
