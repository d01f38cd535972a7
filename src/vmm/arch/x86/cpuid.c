/* cpuid: CPUID filtering and topology for vCPUs, and boot MSRs. Works on
 * KVM's supported set as data, so it is unit-tested without /dev/kvm. */
#include "cpuid.h"

#include <errno.h>
#include <string.h>

#include "common/util.h"

#define CPUID1_ECX_VMX (1u << 5)
#define CPUID1_ECX_MONITOR (1u << 3)
#define CPUID1_ECX_HYPERVISOR (1u << 31)
#define CPUID1_EDX_HTT (1u << 28)
#define CPUID81_ECX_CMPLEGACY (1u << 1)
#define CPUID81_ECX_SVM (1u << 2)
#define CPUID_VENDOR_AMD 0x68747541u   /* "Auth" of AuthenticAMD */
#define CPUID_VENDOR_HYGON 0x6f677948u /* "Hygo" of HygonGenuine */
#define CPUID_LEVEL_SMT 1u
#define CPUID_LEVEL_CORE 2u

struct hv_cpuid_entry *cpuid_find(struct hv_cpuid_entry *e, unsigned n,
				  uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < n; i++) {
		if (e[i].function != function)
			continue;
		if ((e[i].flags & HV_CPUID_FLAG_SIGNIFICANT_INDEX) && e[i].index != index)
			continue;
		return &e[i];
	}
	return NULL;
}

static unsigned cpuid_order(unsigned ncpus)
{
	unsigned shift = 0;

	while ((1u << shift) < ncpus)
		shift++;
	return shift;
}

static void cpuid_leaf1(struct hv_cpuid_entry *e, unsigned vcpu, unsigned ncpus)
{
	e->ebx = (e->ebx & 0x0000ffffu) | (vcpu << 24) | ((1u << cpuid_order(ncpus)) << 16);
	e->ecx &= ~(CPUID1_ECX_VMX | CPUID1_ECX_MONITOR);
	e->ecx |= CPUID1_ECX_HYPERVISOR;
	if (ncpus > 1)
		e->edx |= CPUID1_EDX_HTT;
	else
		e->edx &= ~CPUID1_EDX_HTT;
}

/* Cache sharing (EAX[25:14], leaf 4 and AMD's 0x8000001D): L1/L2 per core,
 * L3 shared by the whole package. */
static void cpuid_cache_sharing(struct hv_cpuid_entry *e, unsigned ncpus)
{
	unsigned level = (e->eax >> 5) & 7;
	uint32_t sharing = level >= 3 ? (1u << cpuid_order(ncpus)) - 1 : 0;

	if ((e->eax & 0x1f) == 0)
		return; /* no more caches */
	e->eax = (e->eax & ~(0xfffu << 14)) | (sharing << 14);
}

/* Intel deterministic cache parameters: also cores per package. */
static void cpuid_leaf4(struct hv_cpuid_entry *e, unsigned ncpus)
{
	if ((e->eax & 0x1f) == 0)
		return;
	cpuid_cache_sharing(e, ncpus);
	e->eax = (e->eax & 0x03ffffffu) | (((1u << cpuid_order(ncpus)) - 1) << 26);
}

static int cpuid_remove(struct hv_cpuid_entry *e, unsigned *n, uint32_t function)
{
	unsigned j = 0;

	for (unsigned i = 0; i < *n; i++) {
		if (e[i].function != function)
			e[j++] = e[i];
	}
	*n = j;
	return 0;
}

/* x2APIC topology (0xB, and 0x1F when the host has it): SMT level of one
 * thread, core level of ncpus cores, then the terminating invalid level. */
static int cpuid_topology(struct hv_cpuid_entry *e, unsigned *n, unsigned max,
			  uint32_t leaf, unsigned vcpu, unsigned ncpus)
{
	const struct hv_cpuid_entry levels[] = {
		{ leaf, 0, HV_CPUID_FLAG_SIGNIFICANT_INDEX, 0, 1, (CPUID_LEVEL_SMT << 8) | 0, vcpu },
		{ leaf, 1, HV_CPUID_FLAG_SIGNIFICANT_INDEX, cpuid_order(ncpus), ncpus,
		  (CPUID_LEVEL_CORE << 8) | 1, vcpu },
		{ leaf, 2, HV_CPUID_FLAG_SIGNIFICANT_INDEX, 0, 0, 2, vcpu },
	};

	cpuid_remove(e, n, leaf);
	if (*n + ARRAY_SIZE(levels) > max)
		return -ENOSPC;
	memcpy(&e[*n], levels, sizeof(levels));
	*n += ARRAY_SIZE(levels);
	return 0;
}

static void cpuid_amd_leaves(struct hv_cpuid_entry *e, unsigned n, unsigned vcpu, unsigned ncpus)
{
	struct hv_cpuid_entry *x;

	x = cpuid_find(e, n, 0x80000001, 0);
	if (x) {
		x->ecx &= ~CPUID81_ECX_SVM;
		if (ncpus > 1)
			x->ecx |= CPUID81_ECX_CMPLEGACY;
		else
			x->ecx &= ~CPUID81_ECX_CMPLEGACY;
	}
	x = cpuid_find(e, n, 0x80000008, 0);
	if (x)
		x->ecx = (x->ecx & ~0xf0ffu) | (cpuid_order(ncpus) << 12) | (ncpus - 1);
	for (unsigned i = 0; i < n; i++) {
		if (e[i].function == 0x8000001d)
			cpuid_cache_sharing(&e[i], ncpus);
	}
	x = cpuid_find(e, n, 0x8000001e, 0);
	if (x) {
		x->eax = vcpu;
		x->ebx = vcpu & 0xff; /* core id; one thread per core */
		x->ecx = 0;
	}
}

int cpuid_filter(struct hv_cpuid_entry *e, unsigned *n, unsigned max,
		 unsigned vcpu, unsigned ncpus)
{
	struct hv_cpuid_entry *leaf0;
	int ret;

	if (ncpus == 0 || ncpus > 254 || vcpu >= ncpus || *n > max)
		return -EINVAL;
	for (unsigned i = 0; i < *n; i++) {
		if (e[i].function == 1)
			cpuid_leaf1(&e[i], vcpu, ncpus);
		else if (e[i].function == 4)
			cpuid_leaf4(&e[i], ncpus);
	}
	leaf0 = cpuid_find(e, *n, 0, 0);
	if (leaf0 && (leaf0->ebx == CPUID_VENDOR_AMD || leaf0->ebx == CPUID_VENDOR_HYGON))
		cpuid_amd_leaves(e, *n, vcpu, ncpus);
	if (leaf0 && leaf0->eax >= 0xb) {
		ret = cpuid_topology(e, n, max, 0xb, vcpu, ncpus);
		if (ret < 0)
			return ret;
	}
	leaf0 = cpuid_find(e, *n, 0, 0);
	if (leaf0 && leaf0->eax >= 0x1f && cpuid_find(e, *n, 0x1f, 0))
		return cpuid_topology(e, n, max, 0x1f, vcpu, ncpus);
	return 0;
}

unsigned cpuid_boot_msrs(struct hv_msr *out, unsigned max)
{
	static const struct hv_msr msrs[] = {
		{ 0x174, 0 },          /* IA32_SYSENTER_CS */
		{ 0x175, 0 },          /* IA32_SYSENTER_ESP */
		{ 0x176, 0 },          /* IA32_SYSENTER_EIP */
		{ 0xc0000081, 0 },     /* STAR */
		{ 0xc0000082, 0 },     /* LSTAR */
		{ 0xc0000083, 0 },     /* CSTAR */
		{ 0xc0000084, 0 },     /* SYSCALL_MASK */
		{ 0xc0000102, 0 },     /* KERNEL_GS_BASE */
		{ 0x1a0, 1 },          /* IA32_MISC_ENABLE: fast strings */
		{ 0x2ff, (1u << 11) | 6 }, /* MTRRdefType: enabled, write-back */
	};
	unsigned n = MIN(max, (unsigned)ARRAY_SIZE(msrs));

	memcpy(out, msrs, n * sizeof(msrs[0]));
	return n;
}
