/* hv/kvm: the hypervisor layer on Linux KVM. Owns /dev/kvm, the VM fd, the
 * GSI routing table, and each vCPU's fd and kvm_run page; translates between
 * KVM's structures and the neutral ones in hv.h. */
#include "hv/hv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "hv/kvm_priv.h"

static const struct {
	int cap;
	const char *name;
} hv_required_caps[] = {
	{ KVM_CAP_IRQCHIP, "in-kernel irqchip" },
	{ KVM_CAP_USER_MEMORY, "user memory" },
	{ KVM_CAP_IOEVENTFD, "ioeventfd" },
	{ KVM_CAP_IRQFD, "irqfd" },
	{ KVM_CAP_IRQ_ROUTING, "GSI routing" },
	{ KVM_CAP_PIT2, "in-kernel PIT" },
	{ KVM_CAP_IMMEDIATE_EXIT, "immediate exit" },
	{ KVM_CAP_EXT_CPUID, "CPUID2" },
};

int hv_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

static void hv_route_add(struct hv *hv, uint32_t gsi, uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry *e = &hv->routes[hv->nroutes++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

/* ISA IRQs on the PICs and the IOAPIC; GSI 0 (the PIT) lands on IOAPIC pin 2,
 * which the MADT and MP table announce as the IRQ0 -> GSI 2 override. */
static void hv_routes_default(struct hv *hv)
{
	hv->nroutes = 0;
	for (uint32_t i = 0; i < 16; i++) {
		if (i == 2)
			continue;
		hv_route_add(hv, i, i < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, i % 8);
	}
	for (uint32_t i = 0; i < HV_IOAPIC_PINS; i++) {
		if (i == 2)
			continue;
		hv_route_add(hv, i, KVM_IRQCHIP_IOAPIC, i == 0 ? 2 : i);
	}
}

static int hv_routes_commit(struct hv *hv)
{
	size_t sz = sizeof(struct kvm_irq_routing) + hv->nroutes * sizeof(hv->routes[0]);
	struct kvm_irq_routing *r = calloc(1, sz);
	int ret;

	if (!r)
		return -ENOMEM;
	r->nr = hv->nroutes;
	memcpy(r->entries, hv->routes, hv->nroutes * sizeof(hv->routes[0]));
	ret = hv_ioctl(hv->vm_fd, KVM_SET_GSI_ROUTING, r);
	free(r);
	if (ret < 0)
		log_error("KVM_SET_GSI_ROUTING: %s", strerror(-ret));
	return ret < 0 ? ret : 0;
}

static int hv_open_dev(const char *path, int *fd)
{
	int err;

	*fd = open(path, O_RDWR | O_CLOEXEC);
	if (*fd >= 0)
		return 0;
	err = errno;
	if (err == ENOENT)
		log_error("%s does not exist: this host has no KVM (is the kvm module loaded?)", path);
	else if (err == EACCES || err == EPERM)
		log_error("%s is not accessible: permission denied (add the user to group kvm)", path);
	else
		log_error("cannot open %s: %s", path, strerror(err));
	return -err;
}

static int hv_check(struct hv *hv, const char *path)
{
	int v = ioctl(hv->sys_fd, KVM_GET_API_VERSION, 0);

	if (v < 0) {
		log_error("%s is not a KVM device: %s", path, strerror(errno));
		return -ENOTTY;
	}
	if (v != KVM_API_VERSION) {
		log_error("%s: KVM API version %d, expected %d", path, v, KVM_API_VERSION);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < ARRAY_SIZE(hv_required_caps); i++) {
		if (ioctl(hv->sys_fd, KVM_CHECK_EXTENSION, hv_required_caps[i].cap) <= 0) {
			log_error("%s: KVM lacks %s", path, hv_required_caps[i].name);
			return -ENOTSUP;
		}
	}
	hv->run_size = ioctl(hv->sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (hv->run_size < (int)sizeof(struct kvm_run)) {
		log_error("%s: bad vCPU mmap size %d", path, hv->run_size);
		return -EINVAL;
	}
	return 0;
}

static int hv_setup_vm(struct hv *hv)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int ret;

	hv->vm_fd = hv_ioctl(hv->sys_fd, KVM_CREATE_VM, 0);
	if (hv->vm_fd < 0) {
		ret = hv->vm_fd;
		hv->vm_fd = -1;
		log_error("KVM_CREATE_VM: %s", strerror(-ret));
		return ret;
	}
	ret = hv_ioctl(hv->vm_fd, KVM_CREATE_IRQCHIP, 0);
	if (ret < 0) {
		log_error("KVM_CREATE_IRQCHIP: %s", strerror(-ret));
		return ret;
	}
	ret = hv_ioctl(hv->vm_fd, KVM_CREATE_PIT2, &pit);
	if (ret < 0) {
		log_error("KVM_CREATE_PIT2: %s", strerror(-ret));
		return ret;
	}
	hv_routes_default(hv);
	return hv_routes_commit(hv);
}

int hv_create(const char *dev_path, struct hv **out)
{
	struct hv *hv = calloc(1, sizeof(*hv));
	int ret;

	if (!hv)
		return -ENOMEM;
	hv->vm_fd = -1;
	pthread_mutex_init(&hv->route_lock, NULL);
	ret = hv_open_dev(dev_path, &hv->sys_fd);
	if (ret < 0)
		goto out;
	ret = hv_check(hv, dev_path);
	if (ret < 0)
		goto out;
	ret = hv_setup_vm(hv);
out:
	if (ret < 0) {
		hv_destroy(hv);
		return ret;
	}
	*out = hv;
	return 0;
}

void hv_destroy(struct hv *hv)
{
	if (!hv)
		return;
	if (hv->vm_fd >= 0)
		close(hv->vm_fd);
	if (hv->sys_fd >= 0)
		close(hv->sys_fd);
	pthread_mutex_destroy(&hv->route_lock);
	free(hv->supported_cpuid);
	free(hv);
}

int hv_set_tss_addr(struct hv *hv, uint64_t identity_map_gpa, uint64_t tss_gpa)
{
	uint64_t ident = identity_map_gpa;
	int ret = hv_ioctl(hv->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident);

	if (ret < 0) {
		log_error("KVM_SET_IDENTITY_MAP_ADDR 0x%llx: %s", (unsigned long long)ident,
			  strerror(-ret));
		return ret;
	}
	ret = hv_ioctl(hv->vm_fd, KVM_SET_TSS_ADDR, (void *)(uintptr_t)tss_gpa);
	if (ret < 0)
		log_error("KVM_SET_TSS_ADDR 0x%llx: %s", (unsigned long long)tss_gpa, strerror(-ret));
	return ret < 0 ? ret : 0;
}

/* KVM_GET_SUPPORTED_CPUID, retried with a larger buffer on E2BIG. */
static int hv_fetch_cpuid(struct hv *hv)
{
	for (unsigned cap = 128; cap <= 4096; cap *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + cap * sizeof(c->entries[0]));
		int ret;

		if (!c)
			return -ENOMEM;
		c->nent = cap;
		ret = hv_ioctl(hv->sys_fd, KVM_GET_SUPPORTED_CPUID, c);
		if (ret == 0) {
			hv->supported_cpuid = c;
			return 0;
		}
		free(c);
		if (ret != -E2BIG) {
			log_error("KVM_GET_SUPPORTED_CPUID: %s", strerror(-ret));
			return ret;
		}
	}
	return -E2BIG;
}

int hv_supported_cpuid(struct hv *hv, struct hv_cpuid_entry *entries, unsigned *n)
{
	const struct kvm_cpuid2 *c;

	if (!hv->supported_cpuid) {
		int ret = hv_fetch_cpuid(hv);

		if (ret < 0)
			return ret;
	}
	c = hv->supported_cpuid;
	if (c->nent > *n) {
		log_error("KVM reports %u CPUID entries, more than %u", c->nent, *n);
		return -ENOSPC;
	}
	for (unsigned i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *k = &c->entries[i];

		entries[i] = (struct hv_cpuid_entry){
			.function = k->function, .index = k->index,
			.flags = (k->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ?
				 HV_CPUID_FLAG_SIGNIFICANT_INDEX : 0,
			.eax = k->eax, .ebx = k->ebx, .ecx = k->ecx, .edx = k->edx,
		};
	}
	*n = c->nent;
	return 0;
}

int hv_set_memory(struct hv *hv, uint32_t slot, uint64_t gpa, uint64_t size, void *hva)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};
	int ret = hv_ioctl(hv->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);

	if (ret < 0)
		log_error("KVM_SET_USER_MEMORY_REGION slot %u at 0x%llx (%llu bytes): %s", slot,
			  (unsigned long long)gpa, (unsigned long long)size, strerror(-ret));
	return ret < 0 ? ret : 0;
}

int hv_irq_line(struct hv *hv, uint32_t gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };
	int ret = hv_ioctl(hv->vm_fd, KVM_IRQ_LINE, &l);

	return ret < 0 ? ret : 0;
}

int hv_route_msi(struct hv *hv, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing_entry *e = NULL;
	int ret;

	pthread_mutex_lock(&hv->route_lock);
	for (unsigned i = 0; i < hv->nroutes; i++) {
		if (hv->routes[i].gsi == gsi && hv->routes[i].type == KVM_IRQ_ROUTING_MSI)
			e = &hv->routes[i];
	}
	if (!e && hv->nroutes >= HV_MAX_ROUTES) {
		ret = -ENOSPC;
		goto out;
	}
	if (!e)
		e = &hv->routes[hv->nroutes++];
	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = data;
	ret = hv_routes_commit(hv);
out:
	pthread_mutex_unlock(&hv->route_lock);
	return ret;
}

int hv_signal_msi(struct hv *hv, uint64_t addr, uint32_t data)
{
	struct kvm_msi m = {
		.address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32), .data = data,
	};
	int ret = hv_ioctl(hv->vm_fd, KVM_SIGNAL_MSI, &m);

	return ret < 0 ? ret : 0;
}

int hv_ioeventfd(struct hv *hv, int fd, uint64_t addr, unsigned len, bool pio,
		 bool has_datamatch, uint64_t datamatch, bool deassign)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch, .addr = addr, .len = len, .fd = fd,
		.flags = (pio ? KVM_IOEVENTFD_FLAG_PIO : 0) |
			 (has_datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) |
			 (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0),
	};
	int ret = hv_ioctl(hv->vm_fd, KVM_IOEVENTFD, &io);

	return ret < 0 ? ret : 0;
}

int hv_irqfd(struct hv *hv, int fd, uint32_t gsi, int resample_fd, bool deassign)
{
	struct kvm_irqfd irqfd = {
		.fd = (uint32_t)fd, .gsi = gsi,
		.flags = (deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0) |
			 (resample_fd >= 0 ? KVM_IRQFD_FLAG_RESAMPLE : 0),
		.resamplefd = resample_fd >= 0 ? (uint32_t)resample_fd : 0,
	};
	int ret = hv_ioctl(hv->vm_fd, KVM_IRQFD, &irqfd);

	return ret < 0 ? ret : 0;
}
