/* hv/kvm_vcpu: vCPUs on KVM: creation, register state, CPUID, MSRs, LAPIC
 * set-up, KVM_RUN and exit decoding, and kicks (a signal plus
 * kvm_run.immediate_exit) that pull a vCPU out of the guest. */
#include "hv/hv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "hv/kvm_priv.h"

#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_MODE_EXTINT 0x700
#define LAPIC_MODE_NMI 0x400

int hv_vcpu_create(struct hv *hv, unsigned id, struct hv_vcpu **out)
{
	struct hv_vcpu *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	v->hv = hv;
	v->id = id;
	v->run = MAP_FAILED;
	pthread_mutex_init(&v->kick_lock, NULL);
	v->fd = hv_ioctl(hv->vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)id);
	if (v->fd < 0) {
		ret = v->fd;
		log_error("KVM_CREATE_VCPU %u: %s", id, strerror(-ret));
		goto out;
	}
	v->run = mmap(NULL, (size_t)hv->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		log_error("vCPU %u: cannot map its kvm_run page: %s", id, strerror(-ret));
		goto out;
	}
	*out = v;
	return 0;
out:
	hv_vcpu_destroy(v);
	return ret;
}

void hv_vcpu_destroy(struct hv_vcpu *v)
{
	if (!v)
		return;
	if (v->run != MAP_FAILED)
		munmap(v->run, (size_t)v->hv->run_size);
	if (v->fd >= 0)
		close(v->fd);
	pthread_mutex_destroy(&v->kick_lock);
	free(v);
}

int hv_vcpu_get_regs(struct hv_vcpu *v, struct hv_regs *r)
{
	struct kvm_regs k;
	int ret = hv_ioctl(v->fd, KVM_GET_REGS, &k);

	if (ret < 0)
		return ret;
	*r = (struct hv_regs){
		k.rax, k.rbx, k.rcx, k.rdx, k.rsi, k.rdi, k.rsp, k.rbp,
		k.r8, k.r9, k.r10, k.r11, k.r12, k.r13, k.r14, k.r15, k.rip, k.rflags,
	};
	return 0;
}

int hv_vcpu_set_regs(struct hv_vcpu *v, const struct hv_regs *r)
{
	struct kvm_regs k = {
		r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rsp, r->rbp,
		r->r8, r->r9, r->r10, r->r11, r->r12, r->r13, r->r14, r->r15, r->rip, r->rflags,
	};
	int ret = hv_ioctl(v->fd, KVM_SET_REGS, &k);

	return ret < 0 ? ret : 0;
}

static void hv_seg_from_kvm(struct hv_segment *h, const struct kvm_segment *k)
{
	*h = (struct hv_segment){
		.base = k->base, .limit = k->limit, .selector = k->selector, .type = k->type,
		.present = k->present, .dpl = k->dpl, .db = k->db, .s = k->s, .l = k->l,
		.g = k->g, .avl = k->avl, .unusable = k->unusable,
	};
}

static void hv_seg_to_kvm(struct kvm_segment *k, const struct hv_segment *h)
{
	*k = (struct kvm_segment){
		.base = h->base, .limit = h->limit, .selector = h->selector, .type = h->type,
		.present = h->present, .dpl = h->dpl, .db = h->db, .s = h->s, .l = h->l,
		.g = h->g, .avl = h->avl, .unusable = h->unusable,
	};
}

int hv_vcpu_get_sregs(struct hv_vcpu *v, struct hv_sregs *s)
{
	struct kvm_sregs k;
	int ret = hv_ioctl(v->fd, KVM_GET_SREGS, &k);

	if (ret < 0)
		return ret;
	hv_seg_from_kvm(&s->cs, &k.cs);
	hv_seg_from_kvm(&s->ds, &k.ds);
	hv_seg_from_kvm(&s->es, &k.es);
	hv_seg_from_kvm(&s->fs, &k.fs);
	hv_seg_from_kvm(&s->gs, &k.gs);
	hv_seg_from_kvm(&s->ss, &k.ss);
	hv_seg_from_kvm(&s->tr, &k.tr);
	hv_seg_from_kvm(&s->ldt, &k.ldt);
	s->gdt = (struct hv_dtable){ k.gdt.base, k.gdt.limit };
	s->idt = (struct hv_dtable){ k.idt.base, k.idt.limit };
	s->cr0 = k.cr0, s->cr2 = k.cr2, s->cr3 = k.cr3, s->cr4 = k.cr4, s->cr8 = k.cr8;
	s->efer = k.efer, s->apic_base = k.apic_base;
	return 0;
}

int hv_vcpu_set_sregs(struct hv_vcpu *v, const struct hv_sregs *s)
{
	struct kvm_sregs k;
	int ret = hv_ioctl(v->fd, KVM_GET_SREGS, &k); /* keeps interrupt_bitmap */

	if (ret < 0)
		return ret;
	hv_seg_to_kvm(&k.cs, &s->cs);
	hv_seg_to_kvm(&k.ds, &s->ds);
	hv_seg_to_kvm(&k.es, &s->es);
	hv_seg_to_kvm(&k.fs, &s->fs);
	hv_seg_to_kvm(&k.gs, &s->gs);
	hv_seg_to_kvm(&k.ss, &s->ss);
	hv_seg_to_kvm(&k.tr, &s->tr);
	hv_seg_to_kvm(&k.ldt, &s->ldt);
	k.gdt.base = s->gdt.base, k.gdt.limit = s->gdt.limit;
	k.idt.base = s->idt.base, k.idt.limit = s->idt.limit;
	k.cr0 = s->cr0, k.cr2 = s->cr2, k.cr3 = s->cr3, k.cr4 = s->cr4, k.cr8 = s->cr8;
	k.efer = s->efer, k.apic_base = s->apic_base;
	ret = hv_ioctl(v->fd, KVM_SET_SREGS, &k);
	return ret < 0 ? ret : 0;
}

int hv_vcpu_set_cpuid(struct hv_vcpu *v, const struct hv_cpuid_entry *e, unsigned n)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
	int ret;

	if (!c)
		return -ENOMEM;
	c->nent = n;
	for (unsigned i = 0; i < n; i++) {
		c->entries[i] = (struct kvm_cpuid_entry2){
			.function = e[i].function, .index = e[i].index,
			.flags = (e[i].flags & HV_CPUID_FLAG_SIGNIFICANT_INDEX) ?
				 KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
			.eax = e[i].eax, .ebx = e[i].ebx, .ecx = e[i].ecx, .edx = e[i].edx,
		};
	}
	ret = hv_ioctl(v->fd, KVM_SET_CPUID2, c);
	free(c);
	if (ret < 0)
		log_error("KVM_SET_CPUID2 on vCPU %u: %s", v->id, strerror(-ret));
	return ret < 0 ? ret : 0;
}

int hv_vcpu_set_msrs(struct hv_vcpu *v, const struct hv_msr *msrs, unsigned n)
{
	struct kvm_msrs *m = calloc(1, sizeof(*m) + n * sizeof(m->entries[0]));
	int ret;

	if (!m)
		return -ENOMEM;
	m->nmsrs = n;
	for (unsigned i = 0; i < n; i++) {
		m->entries[i].index = msrs[i].index;
		m->entries[i].data = msrs[i].data;
	}
	ret = hv_ioctl(v->fd, KVM_SET_MSRS, m);
	if (ret < 0)
		log_error("vCPU %u: KVM_SET_MSRS: %s", v->id, strerror(-ret));
	if (ret >= 0 && (unsigned)ret < n) {
		log_error("vCPU %u: KVM refused MSR 0x%x", v->id, msrs[ret].index);
		ret = -EIO;
	}
	free(m);
	return ret < 0 ? ret : 0;
}

int hv_vcpu_set_fpu_default(struct hv_vcpu *v)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 };
	int ret = hv_ioctl(v->fd, KVM_SET_FPU, &fpu);

	return ret < 0 ? ret : 0;
}

#define LAPIC_LVT_MASKED (1u << 16)

/* Delivery mode of an LVT entry, unmasked (as a PC BIOS leaves LINT0/1). */
static void hv_lapic_set_mode(struct kvm_lapic_state *l, unsigned reg, uint32_t mode)
{
	uint32_t val;

	memcpy(&val, &l->regs[reg], 4);
	val = (val & ~(0x700u | LAPIC_LVT_MASKED)) | mode;
	memcpy(&l->regs[reg], &val, 4);
}

int hv_vcpu_setup_lapic(struct hv_vcpu *v)
{
	struct kvm_lapic_state l;
	int ret = hv_ioctl(v->fd, KVM_GET_LAPIC, &l);

	if (ret < 0)
		return ret;
	hv_lapic_set_mode(&l, LAPIC_LVT_LINT0, LAPIC_MODE_EXTINT);
	hv_lapic_set_mode(&l, LAPIC_LVT_LINT1, LAPIC_MODE_NMI);
	ret = hv_ioctl(v->fd, KVM_SET_LAPIC, &l);
	return ret < 0 ? ret : 0;
}

int hv_vcpu_set_ap_waiting(struct hv_vcpu *v)
{
	struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_UNINITIALIZED };
	int ret = hv_ioctl(v->fd, KVM_SET_MP_STATE, &mp);

	return ret < 0 ? ret : 0;
}

static void hv_kick_handler(int sig)
{
	(void)sig; /* only interrupts KVM_RUN */
}

int hv_vcpu_thread_init(struct hv_vcpu *v)
{
	struct sigaction sa = { .sa_handler = hv_kick_handler };
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	if (sigaction(HV_KICK_SIGNAL, &sa, NULL) < 0) {
		log_error("vCPU %u: cannot install the kick signal handler: %s", v->id,
			  strerror(errno));
		return -errno;
	}
	sigemptyset(&set);
	sigaddset(&set, HV_KICK_SIGNAL);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	pthread_mutex_lock(&v->kick_lock);
	v->thread = pthread_self();
	v->has_thread = 1;
	pthread_mutex_unlock(&v->kick_lock);
	return 0;
}

void hv_vcpu_thread_exit(struct hv_vcpu *v)
{
	pthread_mutex_lock(&v->kick_lock);
	v->has_thread = 0;
	pthread_mutex_unlock(&v->kick_lock);
}

void hv_vcpu_kick(struct hv_vcpu *v)
{
	__atomic_store_n(&v->kick_pending, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&v->kick_lock);
	if (v->has_thread)
		pthread_kill(v->thread, HV_KICK_SIGNAL);
	pthread_mutex_unlock(&v->kick_lock);
}

void hv_vcpu_kick_clear(struct hv_vcpu *v)
{
	__atomic_store_n(&v->kick_pending, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
}

static void hv_exit_decode_io(struct hv_vcpu *v, struct hv_exit *e)
{
	struct kvm_run *r = v->run;

	e->kind = HV_EXIT_PIO;
	e->pio.port = r->io.port;
	e->pio.size = r->io.size;
	e->pio.is_write = r->io.direction == KVM_EXIT_IO_OUT;
	e->pio.count = r->io.count;
	e->pio.data = (uint8_t *)r + r->io.data_offset;
}

static enum hv_system_event hv_sysev_kind(uint32_t type)
{
	switch (type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		return HV_SYSEV_SHUTDOWN;
	case KVM_SYSTEM_EVENT_RESET:
		return HV_SYSEV_RESET;
	case KVM_SYSTEM_EVENT_CRASH:
		return HV_SYSEV_CRASH;
	default:
		return HV_SYSEV_OTHER;
	}
}

static void hv_exit_decode(struct hv_vcpu *v, struct hv_exit *e)
{
	struct kvm_run *r = v->run;

	memset(e, 0, sizeof(*e));
	e->raw_reason = r->exit_reason;
	switch (r->exit_reason) {
	case KVM_EXIT_IO:
		hv_exit_decode_io(v, e);
		break;
	case KVM_EXIT_MMIO:
		e->kind = HV_EXIT_MMIO;
		e->mmio.addr = r->mmio.phys_addr;
		e->mmio.len = r->mmio.len;
		e->mmio.is_write = r->mmio.is_write;
		e->mmio.data = r->mmio.data;
		break;
	case KVM_EXIT_HLT:
		e->kind = HV_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		e->kind = HV_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		e->kind = HV_EXIT_SYSTEM_EVENT;
		e->system_event.type = hv_sysev_kind(r->system_event.type);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		e->kind = HV_EXIT_INTERNAL_ERROR;
		e->internal.suberror = r->internal.suberror;
		e->internal.ndata = MIN(r->internal.ndata, 16u);
		memcpy(e->internal.data, r->internal.data, e->internal.ndata * sizeof(uint64_t));
		break;
	case KVM_EXIT_FAIL_ENTRY:
		e->kind = HV_EXIT_FAIL_ENTRY;
		e->fail_entry.reason = r->fail_entry.hardware_entry_failure_reason;
		break;
	case KVM_EXIT_INTR:
		e->kind = HV_EXIT_INTR;
		break;
	default:
		e->kind = HV_EXIT_UNKNOWN;
		break;
	}
}

int hv_vcpu_run(struct hv_vcpu *v, struct hv_exit *e)
{
	int ret;

	for (;;) {
		if (ioctl(v->fd, KVM_RUN, 0) == 0)
			break;
		if (errno == EINTR) {
			if (__atomic_load_n(&v->kick_pending, __ATOMIC_SEQ_CST)) {
				memset(e, 0, sizeof(*e));
				e->kind = HV_EXIT_INTR;
				return 0;
			}
			continue;
		}
		if (errno == EAGAIN)
			continue;
		ret = -errno;
		log_error("KVM_RUN on vCPU %u: %s", v->id, strerror(-ret));
		return ret;
	}
	hv_exit_decode(v, e);
	return 0;
}
