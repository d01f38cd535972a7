/* cpuid: turns KVM's supported CPUID set into what one vCPU of an N-vCPU VM
 * sees (APIC IDs, topology leaves, hypervisor bit, features vmkit does not
 * offer removed), and the MSR values a vCPU starts with. */
#ifndef VMKIT_CPUID_H
#define VMKIT_CPUID_H

#include "hv/hv.h"

/* Filter entries[0..*n) in place for vCPU `vcpu` of `ncpus` (1..254);
 * topology leaves 0xB/0x1F are regenerated, which may add entries (max is
 * the capacity). 0, -EINVAL or -ENOSPC. */
int cpuid_filter(struct hv_cpuid_entry *entries, unsigned *n, unsigned max,
		 unsigned vcpu, unsigned ncpus);
/* Find (function, index); NULL when absent. */
struct hv_cpuid_entry *cpuid_find(struct hv_cpuid_entry *entries, unsigned n,
				  uint32_t function, uint32_t index);
/* Initial MSR values for a vCPU; returns the count written to out (max). */
unsigned cpuid_boot_msrs(struct hv_msr *out, unsigned max);

#endif
