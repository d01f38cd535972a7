/* hv/kvm_priv: KVM-side state shared by kvm.c (VM) and kvm_vcpu.c (vCPUs).
 * Private to src/hv. */
#ifndef VMKIT_KVM_PRIV_H
#define VMKIT_KVM_PRIV_H

#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>

#define HV_KICK_SIGNAL (SIGRTMIN + 1)
#define HV_MAX_ROUTES 1024
#define HV_IOAPIC_PINS 24

struct hv {
	int sys_fd;
	int vm_fd;
	int run_size;
	struct kvm_cpuid2 *supported_cpuid; /* fetched once */
	pthread_mutex_t route_lock;
	unsigned nroutes;
	struct kvm_irq_routing_entry routes[HV_MAX_ROUTES];
};

struct hv_vcpu {
	struct hv *hv;
	unsigned id;
	int fd;
	struct kvm_run *run;
	int kick_pending; /* atomic */
	pthread_mutex_t kick_lock; /* protects thread/has_thread */
	pthread_t thread;
	int has_thread;
};

int hv_ioctl(int fd, unsigned long req, void *arg);

#endif
