/* iobus: sorted range table for port I/O and MMIO dispatch. Ranges are
 * registered before vCPUs start and only read afterwards. */
#include "iobus.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"

void iobus_init(struct iobus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
}

int iobus_add(struct iobus *bus, uint64_t base, uint64_t len,
	      const struct vdev_ops *ops, void *dev, pthread_mutex_t *lock)
{
	unsigned i;

	if (len == 0 || base + len < base || !ops)
		return -EINVAL;
	if (bus->nranges >= IOBUS_MAX_RANGES)
		return -ENOSPC;
	for (i = 0; i < bus->nranges; i++) {
		const struct iobus_range *r = &bus->ranges[i];

		if (base < r->base + r->len && r->base < base + len) {
			log_error("%s: %s at 0x%llx overlaps %s at 0x%llx", bus->name,
				  ops->name, (unsigned long long)base, r->ops->name,
				  (unsigned long long)r->base);
			return -EEXIST;
		}
		if (r->base > base)
			break;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i],
		(bus->nranges - i) * sizeof(bus->ranges[0]));
	bus->ranges[i] = (struct iobus_range){ base, len, ops, dev, lock };
	bus->nranges++;
	return 0;
}

void iobus_remove_all(struct iobus *bus)
{
	bus->nranges = 0;
}

static const struct iobus_range *iobus_find(const struct iobus *bus, uint64_t addr)
{
	unsigned lo = 0, hi = bus->nranges;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		const struct iobus_range *r = &bus->ranges[mid];

		if (addr < r->base)
			hi = mid;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int iobus_access(struct iobus *bus, uint64_t addr, bool is_write, void *data, unsigned size)
{
	const struct iobus_range *r = iobus_find(bus, addr);

	if (!r) {
		__atomic_add_fetch(&bus->unhandled, 1, __ATOMIC_RELAXED);
		if (!is_write)
			memset(data, 0xff, size);
		return -ENOENT;
	}
	if (r->lock)
		pthread_mutex_lock(r->lock);
	if (is_write) {
		if (r->ops->write)
			r->ops->write(r->dev, addr - r->base, data, size);
	} else if (r->ops->read) {
		r->ops->read(r->dev, addr - r->base, data, size);
	} else {
		memset(data, 0xff, size);
	}
	if (r->lock)
		pthread_mutex_unlock(r->lock);
	return 0;
}
