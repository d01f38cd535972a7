/* hv: the hypervisor layer. The only code that includes <linux/kvm.h>; the
 * VMM above sees neutral structures and exit kinds. Owns the /dev/kvm, VM and
 * vCPU file descriptors and each vCPU's shared kvm_run page. */
#ifndef VMKIT_HV_H
#define VMKIT_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hv;
struct hv_vcpu;

/* ---- registers (x86-64) ---- */
struct hv_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
};

struct hv_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type, present, dpl, db, s, l, g, avl, unusable;
};

struct hv_dtable {
	uint64_t base;
	uint16_t limit;
};

struct hv_sregs {
	struct hv_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct hv_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer, apic_base;
};

struct hv_msr {
	uint32_t index;
	uint64_t data;
};

struct hv_cpuid_entry {
	uint32_t function, index, flags; /* flags: HV_CPUID_FLAG_* */
	uint32_t eax, ebx, ecx, edx;
};
#define HV_CPUID_FLAG_SIGNIFICANT_INDEX 1u
#define HV_CPUID_MAX 256

/* ---- exits ---- */
enum hv_exit_kind {
	HV_EXIT_PIO,       /* port I/O: pio */
	HV_EXIT_MMIO,      /* MMIO outside RAM: mmio */
	HV_EXIT_HLT,       /* only without in-kernel irqchip */
	HV_EXIT_SHUTDOWN,  /* triple fault */
	HV_EXIT_SYSTEM_EVENT, /* system_event: shutdown/reset/crash */
	HV_EXIT_INTERNAL_ERROR, /* emulation failure etc.: internal */
	HV_EXIT_FAIL_ENTRY,
	HV_EXIT_INTR,      /* KVM_RUN interrupted by a kick (signal/immediate_exit) */
	HV_EXIT_UNKNOWN,   /* anything else: raw_reason */
};

enum hv_system_event { HV_SYSEV_SHUTDOWN, HV_SYSEV_RESET, HV_SYSEV_CRASH, HV_SYSEV_OTHER };

struct hv_exit {
	enum hv_exit_kind kind;
	uint32_t raw_reason;
	union {
		struct {
			uint16_t port;
			uint8_t size;      /* 1, 2, 4 */
			bool is_write;
			uint32_t count;    /* string I/O repeat count */
			uint8_t *data;     /* count * size bytes, inside kvm_run */
		} pio;
		struct {
			uint64_t addr;
			uint32_t len;
			bool is_write;
			uint8_t *data;     /* 8 bytes inside kvm_run */
		} mmio;
		struct {
			enum hv_system_event type;
		} system_event;
		struct {
			uint32_t suberror;
			uint32_t ndata;
			uint64_t data[16];
		} internal;
		struct {
			uint64_t reason;
		} fail_entry;
	};
};

/* ---- system / VM ---- */
/* Open dev_path (normally /dev/kvm), check the API version and the
 * capabilities vmkit needs, create a VM with in-kernel irqchip (PIC, IOAPIC,
 * LAPIC) and PIT, and default GSI routing. 0 or -errno (message logged). */
int hv_create(const char *dev_path, struct hv **out);
void hv_destroy(struct hv *hv);
/* Where KVM keeps its identity-map page and TSS (3 pages) on Intel VMX
 * without unrestricted guest; both inside the MMIO hole. Before vCPUs. */
int hv_set_tss_addr(struct hv *hv, uint64_t identity_map_gpa, uint64_t tss_gpa);
/* Supported CPUID (KVM_GET_SUPPORTED_CPUID). *n in: capacity, out: count. */
int hv_supported_cpuid(struct hv *hv, struct hv_cpuid_entry *entries, unsigned *n);
/* Map [gpa, gpa+size) to host memory hva; slot numbers are the caller's. */
int hv_set_memory(struct hv *hv, uint32_t slot, uint64_t gpa, uint64_t size, void *hva);
/* Drive an irqchip input (GSI) to level. */
int hv_irq_line(struct hv *hv, uint32_t gsi, int level);
/* Install a GSI route to an MSI message (for irqfd); replaces the table
 * entry for gsi, keeping the default irqchip routes. */
int hv_route_msi(struct hv *hv, uint32_t gsi, uint64_t addr, uint32_t data);
int hv_signal_msi(struct hv *hv, uint64_t addr, uint32_t data);
/* eventfd fd is signalled when the guest writes to addr (pio or mmio),
 * optionally only when the value equals datamatch (len 1/2/4/8, 0 = any). */
int hv_ioeventfd(struct hv *hv, int fd, uint64_t addr, unsigned len, bool pio,
		 bool has_datamatch, uint64_t datamatch, bool deassign);
/* Writing to eventfd fd injects gsi (resample_fd >= 0: level-triggered). */
int hv_irqfd(struct hv *hv, int fd, uint32_t gsi, int resample_fd, bool deassign);

/* ---- vCPU ---- */
int hv_vcpu_create(struct hv *hv, unsigned id, struct hv_vcpu **out);
void hv_vcpu_destroy(struct hv_vcpu *vcpu);
int hv_vcpu_get_regs(struct hv_vcpu *vcpu, struct hv_regs *regs);
int hv_vcpu_set_regs(struct hv_vcpu *vcpu, const struct hv_regs *regs);
int hv_vcpu_get_sregs(struct hv_vcpu *vcpu, struct hv_sregs *sregs);
int hv_vcpu_set_sregs(struct hv_vcpu *vcpu, const struct hv_sregs *sregs);
int hv_vcpu_set_cpuid(struct hv_vcpu *vcpu, const struct hv_cpuid_entry *e, unsigned n);
/* Set MSRs; -EIO names the first one KVM refused. */
int hv_vcpu_set_msrs(struct hv_vcpu *vcpu, const struct hv_msr *msrs, unsigned n);
int hv_vcpu_set_fpu_default(struct hv_vcpu *vcpu);
/* LAPIC LVT LINT0 = ExtINT, LINT1 = NMI (as a BIOS leaves it). */
int hv_vcpu_setup_lapic(struct hv_vcpu *vcpu);
/* Mark the vCPU as an AP waiting for INIT/SIPI (KVM_MP_STATE_UNINITIALIZED). */
int hv_vcpu_set_ap_waiting(struct hv_vcpu *vcpu);
/* Enter the guest until an exit the VMM must handle; EINTR/EAGAIN from
 * KVM_RUN are retried here except when a kick is pending (HV_EXIT_INTR).
 * 0 or -errno. exit->pio.data / mmio.data point into the vCPU's run page and
 * stay valid until the next hv_vcpu_run(). */
int hv_vcpu_run(struct hv_vcpu *vcpu, struct hv_exit *exit);
/* Make a running or about-to-run hv_vcpu_run() return HV_EXIT_INTR soon.
 * Any thread. The vCPU thread must have called hv_vcpu_thread_init(). */
void hv_vcpu_kick(struct hv_vcpu *vcpu);
/* Per-thread setup for kicks (signal handler for the kick signal). */
int hv_vcpu_thread_init(struct hv_vcpu *vcpu);
/* The vCPU thread is about to return: kicks stop signalling it. */
void hv_vcpu_thread_exit(struct hv_vcpu *vcpu);
/* Clear a pending kick (called by the vCPU thread once it has acted on it). */
void hv_vcpu_kick_clear(struct hv_vcpu *vcpu);

#endif
