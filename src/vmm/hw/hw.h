/* hw: the shape every legacy platform device has. A device file defines one
 * `const struct hw_desc` (name, register ops, create/reset/destroy, lock); the
 * platform's table (vm.c) places it at ports and an IRQ. Devices reach the
 * machine only through the devhost they are given. */
#ifndef VMKIT_HW_H
#define VMKIT_HW_H

#include <pthread.h>
#include <stdint.h>

#include "devhost.h"
#include "iobus.h"

struct chardev;

struct hw_args {
	const struct devhost *host;
	uint16_t port;            /* first port of its range */
	unsigned irq;             /* ISA IRQ / GSI, 0 when it has none */
	struct chardev *chardev;  /* serial backend, NULL for others */
	uint64_t start_ns;        /* process start, CLOCK_MONOTONIC (boot timer) */
	unsigned param;           /* device-specific: acpipm = S5 SLP_TYP value */
};

struct hw_desc {
	const char *name;
	const struct vdev_ops *ops;
	int (*create)(const struct hw_args *args, void **state);
	/* Platform reset: back to power-on state (the RTC keeps its NVRAM). */
	void (*reset)(void *state);
	void (*destroy)(void *state);  /* NULL state is fine */
	pthread_mutex_t *(*lock)(void *state);
};

extern const struct hw_desc serial_desc;
extern const struct hw_desc i8042_desc;
extern const struct hw_desc rtc_desc;
extern const struct hw_desc debugexit_desc;
extern const struct hw_desc boottimer_desc;
extern const struct hw_desc post_desc;     /* port 0x80, absorbs writes (boottimer.c) */
extern const struct hw_desc acpipm_desc;
extern const struct hw_desc resetctl_desc;

/* Device-specific entry points the VM calls. */
void acpipm_power_button(void *acpipm_state);   /* press the fixed power button */
uint64_t serial_dropped(void *serial_state);     /* output bytes dropped */

#endif
