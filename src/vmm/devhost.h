/* devhost: what a device may ask of the machine it is plugged into (raise an
 * interrupt line, request poweroff/reset/exit, read the clocks, report an
 * event to the control socket, and for PCI devices: MSI routes on GSIs,
 * irqfds and ioeventfds). The VM implements it; unit tests pass a fake one,
 * so devices never see the VM. */
#ifndef VMKIT_DEVHOST_H
#define VMKIT_DEVHOST_H

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

enum devhost_event {
	DEVHOST_EV_POWEROFF,   /* guest asked for S5 */
	DEVHOST_EV_RESET,      /* guest asked for a platform reset */
	DEVHOST_EV_DEBUG_EXIT, /* debug-exit port: code is the process exit status */
};

/* A doorbell: a guest write to [addr, addr+len) of MMIO space signals fd
 * (an eventfd) instead of exiting to the VMM. */
struct devhost_ioeventfd {
	int fd;
	uint64_t addr;       /* guest-physical MMIO address */
	unsigned len;        /* 1, 2, 4 or 8 bytes; 0: any length */
	bool datamatch;      /* only writes of value signal fd */
	uint64_t value;
};

struct devhost_ops {
	/* Set interrupt line gsi to level (0 or 1). Edge-triggered users raise
	 * and lower; level-triggered users keep it up while the cause lasts. */
	void (*irq_set)(void *ctx, unsigned gsi, int level);
	/* Ask the machine to stop or reset after the current exit returns. */
	void (*event)(void *ctx, enum devhost_event ev, int code);
	/* CLOCK_MONOTONIC nanoseconds (injectable in tests). */
	uint64_t (*clock_ns)(void *ctx);
	/* Wall-clock time, nanoseconds since the Unix epoch. */
	int64_t (*wallclock_ns)(void *ctx);

	/* ---- message-signalled interrupts and doorbells (PCI) ----
	 * All return 0 or -errno; -ENODEV while the machine has no hypervisor
	 * VM (a reset drops every route, irqfd and ioeventfd: devices register
	 * them again when the guest programs them again). Any thread. */
	/* Allocate a GSI for an MSI route (never one of the IOAPIC's pins). */
	int (*gsi_alloc)(void *ctx, unsigned *gsi);
	void (*gsi_free)(void *ctx, unsigned gsi);
	/* Route gsi to the MSI message (addr, data). */
	int (*gsi_route_msi)(void *ctx, unsigned gsi, uint64_t addr, uint32_t data);
	/* Writing to eventfd fd injects gsi (edge). */
	int (*irqfd_bind)(void *ctx, int fd, unsigned gsi);
	int (*irqfd_unbind)(void *ctx, int fd, unsigned gsi);
	/* Inject one MSI message directly (when no irqfd route is available). */
	int (*msi_send)(void *ctx, uint64_t addr, uint32_t data);
	int (*ioeventfd_add)(void *ctx, const struct devhost_ioeventfd *io);
	int (*ioeventfd_remove)(void *ctx, const struct devhost_ioeventfd *io);

	/* Report an event to the VM's management (the control socket's event
	 * `name`, e.g. "DEVICE_NEEDS_RESET"). data is stolen (NULL: none).
	 * Any thread, any device lock held. May be NULL. */
	void (*emit)(void *ctx, const char *name, json_t *data);
};

struct devhost {
	const struct devhost_ops *ops;
	void *ctx;
};

static inline void devhost_irq_set(const struct devhost *h, unsigned gsi, int level)
{
	h->ops->irq_set(h->ctx, gsi, level);
}

static inline void devhost_event(const struct devhost *h, enum devhost_event ev, int code)
{
	h->ops->event(h->ctx, ev, code);
}

static inline uint64_t devhost_clock_ns(const struct devhost *h)
{
	return h->ops->clock_ns(h->ctx);
}

static inline int64_t devhost_wallclock_ns(const struct devhost *h)
{
	return h->ops->wallclock_ns(h->ctx);
}

/* The MSI and doorbell ops may be absent (hosts of legacy devices only):
 * the wrappers then return -ENOSYS. */
static inline int devhost_gsi_alloc(const struct devhost *h, unsigned *gsi)
{
	return h->ops->gsi_alloc ? h->ops->gsi_alloc(h->ctx, gsi) : -ENOSYS;
}

static inline void devhost_gsi_free(const struct devhost *h, unsigned gsi)
{
	if (h->ops->gsi_free)
		h->ops->gsi_free(h->ctx, gsi);
}

static inline int devhost_gsi_route_msi(const struct devhost *h, unsigned gsi, uint64_t addr,
					uint32_t data)
{
	return h->ops->gsi_route_msi ? h->ops->gsi_route_msi(h->ctx, gsi, addr, data) : -ENOSYS;
}

static inline int devhost_irqfd_bind(const struct devhost *h, int fd, unsigned gsi)
{
	return h->ops->irqfd_bind ? h->ops->irqfd_bind(h->ctx, fd, gsi) : -ENOSYS;
}

static inline int devhost_irqfd_unbind(const struct devhost *h, int fd, unsigned gsi)
{
	return h->ops->irqfd_unbind ? h->ops->irqfd_unbind(h->ctx, fd, gsi) : -ENOSYS;
}

static inline int devhost_msi_send(const struct devhost *h, uint64_t addr, uint32_t data)
{
	return h->ops->msi_send ? h->ops->msi_send(h->ctx, addr, data) : -ENOSYS;
}

static inline int devhost_ioeventfd_add(const struct devhost *h, const struct devhost_ioeventfd *io)
{
	return h->ops->ioeventfd_add ? h->ops->ioeventfd_add(h->ctx, io) : -ENOSYS;
}

static inline void devhost_emit(const struct devhost *h, const char *name, json_t *data)
{
	if (h->ops->emit)
		h->ops->emit(h->ctx, name, data);
	else
		json_decref(data);
}

static inline int devhost_ioeventfd_remove(const struct devhost *h,
					   const struct devhost_ioeventfd *io)
{
	return h->ops->ioeventfd_remove ? h->ops->ioeventfd_remove(h->ctx, io) : -ENOSYS;
}

#endif
