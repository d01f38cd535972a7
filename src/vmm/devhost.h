/* devhost: what a device may ask of the machine it is plugged into (raise an
 * interrupt line, request poweroff/reset/exit, read the clocks). The VM
 * implements it; unit tests pass a fake one, so devices never see the VM. */
#ifndef VMKIT_DEVHOST_H
#define VMKIT_DEVHOST_H

#include <stdint.h>

enum devhost_event {
	DEVHOST_EV_POWEROFF,   /* guest asked for S5 */
	DEVHOST_EV_RESET,      /* guest asked for a platform reset */
	DEVHOST_EV_DEBUG_EXIT, /* debug-exit port: code is the process exit status */
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

#endif
