/* virtio_devices: the virtio devices of one VM. Owns the table of device
 * kinds (one entry per kind: how many the configuration asks for and how to
 * build one), the order they are plugged in (disks, nets, consoles, rng, on
 * consecutive PCI slots from 1) and the list of plugged devices that the
 * control socket walks. Adding a kind: write its constructor (virtio.h),
 * then add one entry to the table in virtio_devices.c. */
#ifndef VMKIT_VIRTIO_DEVICES_H
#define VMKIT_VIRTIO_DEVICES_H

#include <string.h>

#include "pci/pci.h"
#include "virtio/virtio.h"

struct vm_config;

#define VIRTIO_DEVICES_FIRST_SLOT 1
#define VIRTIO_DEVICES_MAX (PCI_SLOTS - VIRTIO_DEVICES_FIRST_SLOT)

struct virtio_devices {
	struct virtio_env env;      /* every device's environment (stays put) */
	struct virtio_dev *devs[VIRTIO_DEVICES_MAX];
	unsigned n;
};

/* Build and plug every device cfg asks for. Each device's errors are logged
 * once; on failure the devices plugged so far stay in the list (unplug
 * them with virtio_devices_destroy). Before the guest runs. 0 or -errno. */
int virtio_devices_create(struct virtio_devices *list, struct pci_bus *bus,
			  const struct virtio_env *env, const struct vm_config *cfg);
/* After the bus stopped dispatching and the event loop stopped. */
void virtio_devices_destroy(struct virtio_devices *list);
/* The plugged device with this id, or NULL. */
static inline struct virtio_dev *virtio_devices_find(const struct virtio_devices *list,
						     const char *id)
{
	for (unsigned i = 0; i < list->n; i++) {
		if (strcmp(virtio_dev_id(list->devs[i]), id) == 0)
			return list->devs[i];
	}
	return NULL;
}

#endif
