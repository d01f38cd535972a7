/* vcpu: vCPU threads. Each runs KVM_RUN in a loop and handles its own exits:
 * port I/O and MMIO go to the buses (device locks taken there), everything
 * that changes the machine's state becomes a request to the VM. */
#include "vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/x86/bootregs.h"
#include "arch/x86/cpuid.h"
#include "common/log.h"
#include "common/util.h"
#include "hv/hv.h"
#include "symbols.h"
#include "vm.h"

static int vcpu_setup_cpuid(struct vcpu *c)
{
	struct hv_cpuid_entry *e = calloc(HV_CPUID_MAX, sizeof(*e));
	unsigned n = HV_CPUID_MAX;
	int ret;

	if (!e)
		return -ENOMEM;
	ret = hv_supported_cpuid(c->vm->hv, e, &n);
	if (ret == 0)
		ret = cpuid_filter(e, &n, HV_CPUID_MAX, c->index, c->vm->ncpus);
	if (ret == 0)
		ret = hv_vcpu_set_cpuid(c->hv, e, n);
	free(e);
	return ret;
}

static int vcpu_setup_boot(struct vcpu *c, const struct boot_entry *be)
{
	struct hv_regs regs;
	struct hv_sregs sregs;
	int ret = hv_vcpu_get_sregs(c->hv, &sregs);

	if (ret == 0)
		ret = bootregs_setup(&c->vm->gm, be, &regs, &sregs);
	if (ret == 0)
		ret = hv_vcpu_set_sregs(c->hv, &sregs);
	if (ret == 0)
		ret = hv_vcpu_set_regs(c->hv, &regs);
	return ret;
}

int vcpu_create(struct vm *vm, unsigned index, const struct boot_entry *be, struct vcpu **out)
{
	struct vcpu *c = calloc(1, sizeof(*c));
	struct hv_msr msrs[16];
	unsigned nmsrs = cpuid_boot_msrs(msrs, ARRAY_SIZE(msrs));
	const char *step;
	int ret;

	if (!c)
		return -ENOMEM;
	c->vm = vm;
	c->index = index;
	ret = hv_vcpu_create(vm->hv, index, &c->hv);
	if (ret < 0)
		goto out;
	step = "CPUID";
	ret = vcpu_setup_cpuid(c);
	if (ret == 0 && (step = "MSRs"))
		ret = hv_vcpu_set_msrs(c->hv, msrs, nmsrs);
	if (ret == 0 && (step = "FPU state"))
		ret = hv_vcpu_set_fpu_default(c->hv);
	if (ret == 0 && (step = "local APIC"))
		ret = hv_vcpu_setup_lapic(c->hv);
	if (ret == 0 && index == 0 && (step = "boot registers"))
		ret = vcpu_setup_boot(c, be);
	if (ret < 0)
		log_error("vCPU %u: cannot set up its %s: %s", index, step, strerror(-ret));
out:
	if (ret < 0) {
		vcpu_destroy(c);
		return ret;
	}
	*out = c;
	return 0;
}

static void vcpu_dump(struct vcpu *c, const char *what)
{
	struct hv_regs r;
	struct hv_sregs s;
	const char *sym = NULL;
	uint64_t off = 0;

	if (hv_vcpu_get_regs(c->hv, &r) < 0 || hv_vcpu_get_sregs(c->hv, &s) < 0) {
		log_error("vCPU %u: %s (registers unavailable)", c->index, what);
		return;
	}
	sym = symbols_lookup(c->vm->syms, r.rip, &off);
	if (sym)
		log_error("vCPU %u: %s at RIP 0x%016llx (%s+0x%llx)", c->index, what,
			  (unsigned long long)r.rip, sym, (unsigned long long)off);
	else
		log_error("vCPU %u: %s at RIP 0x%016llx", c->index, what, (unsigned long long)r.rip);
	log_error("  RAX %016llx RBX %016llx RCX %016llx RDX %016llx",
		  (unsigned long long)r.rax, (unsigned long long)r.rbx,
		  (unsigned long long)r.rcx, (unsigned long long)r.rdx);
	log_error("  RSI %016llx RDI %016llx RSP %016llx RBP %016llx",
		  (unsigned long long)r.rsi, (unsigned long long)r.rdi,
		  (unsigned long long)r.rsp, (unsigned long long)r.rbp);
	log_error("  R8  %016llx R9  %016llx R10 %016llx R11 %016llx",
		  (unsigned long long)r.r8, (unsigned long long)r.r9,
		  (unsigned long long)r.r10, (unsigned long long)r.r11);
	log_error("  R12 %016llx R13 %016llx R14 %016llx R15 %016llx",
		  (unsigned long long)r.r12, (unsigned long long)r.r13,
		  (unsigned long long)r.r14, (unsigned long long)r.r15);
	log_error("  RFLAGS %016llx CS %04x (CPL %u) CR0 %llx CR3 %llx CR4 %llx EFER %llx",
		  (unsigned long long)r.rflags, s.cs.selector, s.cs.dpl,
		  (unsigned long long)s.cr0, (unsigned long long)s.cr3,
		  (unsigned long long)s.cr4, (unsigned long long)s.efer);
}

static void vcpu_pio(struct vcpu *c, const struct hv_exit *e)
{
	for (uint32_t i = 0; i < e->pio.count; i++)
		iobus_access(&c->vm->pio, e->pio.port, e->pio.is_write,
			     e->pio.data + (size_t)i * e->pio.size, e->pio.size);
	__atomic_add_fetch(&c->pio_exits, 1, __ATOMIC_RELAXED);
}

static void vcpu_mmio(struct vcpu *c, const struct hv_exit *e)
{
	if (e->mmio.len == 0 || e->mmio.len > 8)
		return;
	if (iobus_access(&c->vm->mmio, e->mmio.addr, e->mmio.is_write, e->mmio.data,
			 e->mmio.len) < 0)
		log_debug("vCPU %u: unclaimed MMIO %s at 0x%llx", c->index,
			  e->mmio.is_write ? "write" : "read", (unsigned long long)e->mmio.addr);
	__atomic_add_fetch(&c->mmio_exits, 1, __ATOMIC_RELAXED);
}

static void vcpu_internal_error(struct vcpu *c, const struct hv_exit *e)
{
	char what[96];

	snprintf(what, sizeof(what), "KVM internal error (suberror %u%s)", e->internal.suberror,
		 e->internal.suberror == 1 ? ": instruction emulation failed" : "");
	vcpu_dump(c, what);
	vm_request(c->vm, VM_ACTION_STOP, VM_REASON_INTERNAL_ERROR, VM_EXIT_INTERNAL_ERROR);
}

static void vcpu_system_event(struct vcpu *c, const struct hv_exit *e)
{
	switch (e->system_event.type) {
	case HV_SYSEV_SHUTDOWN:
		vm_request(c->vm, VM_ACTION_STOP, VM_REASON_GUEST_POWEROFF, VM_EXIT_OK);
		break;
	case HV_SYSEV_RESET:
		vm_request(c->vm, VM_ACTION_RESET, VM_REASON_GUEST_RESET, 0);
		break;
	case HV_SYSEV_CRASH:
	case HV_SYSEV_OTHER:
		vcpu_dump(c, "guest crash system event");
		vm_request(c->vm, VM_ACTION_STOP, VM_REASON_INTERNAL_ERROR, VM_EXIT_INTERNAL_ERROR);
		break;
	}
}

static void vcpu_triple_fault(struct vcpu *c)
{
	const struct vm_config *cfg = c->vm->cfg;

	vcpu_dump(c, "triple fault");
	if (cfg->on_triple_fault == CONFIG_TF_RESET)
		vm_request(c->vm, VM_ACTION_RESET, VM_REASON_TRIPLE_FAULT, 0);
	else
		vm_request(c->vm, VM_ACTION_STOP, VM_REASON_TRIPLE_FAULT, VM_EXIT_TRIPLE_FAULT);
}

static void vcpu_handle(struct vcpu *c, const struct hv_exit *e)
{
	switch (e->kind) {
	case HV_EXIT_PIO:
		vcpu_pio(c, e);
		break;
	case HV_EXIT_MMIO:
		vcpu_mmio(c, e);
		break;
	case HV_EXIT_HLT:
	case HV_EXIT_INTR:
		break;
	case HV_EXIT_SHUTDOWN:
		vcpu_triple_fault(c);
		break;
	case HV_EXIT_SYSTEM_EVENT:
		vcpu_system_event(c, e);
		break;
	case HV_EXIT_INTERNAL_ERROR:
		vcpu_internal_error(c, e);
		break;
	case HV_EXIT_FAIL_ENTRY:
		vcpu_dump(c, "VM entry failed");
		vm_request(c->vm, VM_ACTION_STOP, VM_REASON_INTERNAL_ERROR, VM_EXIT_INTERNAL_ERROR);
		break;
	case HV_EXIT_UNKNOWN:
		log_error("vCPU %u: unexpected KVM exit reason %u", c->index, e->raw_reason);
		vm_request(c->vm, VM_ACTION_STOP, VM_REASON_INTERNAL_ERROR, VM_EXIT_INTERNAL_ERROR);
		break;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	struct hv_exit e;

	__atomic_store_n(&c->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	if (hv_vcpu_thread_init(c->hv) < 0) {
		vm_request(c->vm, VM_ACTION_STOP, VM_REASON_HOST_ERROR, VM_EXIT_HOST_ERROR);
		return NULL;
	}
	while (!__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE)) {
		hv_vcpu_kick_clear(c->hv);
		vm_vcpu_wait_runnable(c->vm, c);
		if (__atomic_load_n(&c->stop, __ATOMIC_ACQUIRE))
			break;
		if (c->index == 0 && c->vm->boots == 1 && !c->ran)
			log_info("first KVM_RUN %.3f ms after start",
				 (double)(util_now_ns() - c->vm->start_ns) / 1e6);
		c->ran = true;
		if (hv_vcpu_run(c->hv, &e) < 0) {
			vm_request(c->vm, VM_ACTION_STOP, VM_REASON_HOST_ERROR, VM_EXIT_HOST_ERROR);
			break;
		}
		if (e.kind != HV_EXIT_INTR)
			__atomic_add_fetch(&c->exits, 1, __ATOMIC_RELAXED);
		vcpu_handle(c, &e);
	}
	hv_vcpu_thread_exit(c->hv);
	return NULL;
}

int vcpu_start(struct vcpu *c)
{
	sigset_t all, old;
	int ret;

	/* Threads start with host signals blocked (the kick is unblocked by the
	 * thread); faults stay deliverable so the fatal-signal handler that
	 * restores the terminal runs. */
	sigfillset(&all);
	sigdelset(&all, SIGSEGV);
	sigdelset(&all, SIGBUS);
	sigdelset(&all, SIGILL);
	sigdelset(&all, SIGFPE);
	sigdelset(&all, SIGABRT);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&c->thread, NULL, vcpu_thread, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret != 0)
		return -ret;
	c->started = true;
	return 0;
}

void vcpu_kick(struct vcpu *c)
{
	hv_vcpu_kick(c->hv);
}

void vcpu_stop(struct vcpu *c)
{
	if (!c || !c->started)
		return;
	__atomic_store_n(&c->stop, 1, __ATOMIC_RELEASE);
	hv_vcpu_kick(c->hv);
	pthread_join(c->thread, NULL);
	c->started = false;
}

void vcpu_destroy(struct vcpu *c)
{
	if (!c)
		return;
	vcpu_stop(c);
	hv_vcpu_destroy(c->hv);
	free(c);
}
