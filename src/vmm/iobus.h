/* iobus: dispatch of port I/O and MMIO accesses to device register handlers.
 * A device sees offsets into its own range; the bus takes the device's lock
 * around each access, so handlers run on the exiting vCPU thread, serialised
 * with the device's event-loop work. */
#ifndef VMKIT_IOBUS_H
#define VMKIT_IOBUS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vdev_ops {
	const char *name;
	/* size is 1, 2, 4 or 8; data is little-endian, size bytes. An access
	 * the device does not implement reads as all ones and is ignored on write. */
	void (*read)(void *dev, uint64_t off, void *data, unsigned size);
	void (*write)(void *dev, uint64_t off, const void *data, unsigned size);
};

#define IOBUS_MAX_RANGES 64

struct iobus_range {
	uint64_t base;
	uint64_t len;
	const struct vdev_ops *ops;
	void *dev;
	pthread_mutex_t *lock; /* may be NULL for lock-free devices */
};

struct iobus {
	const char *name; /* "pio" or "mmio", for messages */
	struct iobus_range ranges[IOBUS_MAX_RANGES]; /* sorted by base */
	unsigned nranges;
	uint64_t unhandled; /* accesses that hit no device */
};

void iobus_init(struct iobus *bus, const char *name);
/* Register [base, base+len); -EEXIST on overlap, -ENOSPC when full. */
int iobus_add(struct iobus *bus, uint64_t base, uint64_t len,
	      const struct vdev_ops *ops, void *dev, pthread_mutex_t *lock);
void iobus_remove_all(struct iobus *bus);
/* Perform one access. Returns 0, or -ENOENT when no device claims addr
 * (reads then return all ones). Thread-safe once registration is done. */
int iobus_access(struct iobus *bus, uint64_t addr, bool is_write, void *data, unsigned size);

#endif
