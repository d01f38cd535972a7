/* virtio_devices: the table of virtio device kinds a VM can have, and
 * plugging and unplugging a VM's devices. Each kind's entry says how
 * many entries of its kind the configuration holds and builds the i-th one
 * with the kind's constructor; the table's order is the plug order, on
 * consecutive slots from VIRTIO_DEVICES_FIRST_SLOT, so a configuration always
 * yields the same PCI addresses. */
#include "virtio/virtio_devices.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "config.h"
#include "virtio/virtio_pci.h"

struct virtio_kind {
	const char *name;
	unsigned (*count)(const struct vm_config *cfg);
	int (*create)(const struct virtio_env *env, const struct vm_config *cfg, unsigned i,
		      struct virtio_dev_info *info);
};

static unsigned virtio_devices_ndisks(const struct vm_config *cfg)
{
	return cfg->ndisks;
}

static int virtio_devices_disk(const struct virtio_env *env, const struct vm_config *cfg,
			       unsigned i, struct virtio_dev_info *info)
{
	return vblk_create(env, &cfg->disks[i], info);
}

static unsigned virtio_devices_nnets(const struct vm_config *cfg)
{
	return cfg->nnets;
}

static int virtio_devices_net(const struct virtio_env *env, const struct vm_config *cfg,
			      unsigned i, struct virtio_dev_info *info)
{
	return vnet_create(env, &cfg->nets[i], info);
}

static unsigned virtio_devices_nconsoles(const struct vm_config *cfg)
{
	return cfg->nconsoles;
}

static int virtio_devices_console(const struct virtio_env *env, const struct vm_config *cfg,
				  unsigned i, struct virtio_dev_info *info)
{
	return vconsole_create(env, &cfg->consoles[i], info);
}

static unsigned virtio_devices_nrng(const struct vm_config *cfg)
{
	return cfg->rng ? 1 : 0;
}

static int virtio_devices_rng(const struct virtio_env *env, const struct vm_config *cfg,
			      unsigned i, struct virtio_dev_info *info)
{
	return vrng_create(env, info);
}

static unsigned virtio_devices_nvsock(const struct vm_config *cfg)
{
	return cfg->vsock.enabled ? 1 : 0;
}

static int virtio_devices_vsock(const struct virtio_env *env, const struct vm_config *cfg,
				unsigned i, struct virtio_dev_info *info)
{
	return vvsock_create(env, &cfg->vsock, info);
}

static unsigned virtio_devices_nballoon(const struct vm_config *cfg)
{
	return cfg->balloon.enabled ? 1 : 0;
}

static int virtio_devices_balloon(const struct virtio_env *env, const struct vm_config *cfg,
				  unsigned i, struct virtio_dev_info *info)
{
	return vballoon_create(env, &cfg->balloon, info);
}

/* The plug order. */
static const struct virtio_kind virtio_kinds[] = {
	{ "disk", virtio_devices_ndisks, virtio_devices_disk },
	{ "net", virtio_devices_nnets, virtio_devices_net },
	{ "console", virtio_devices_nconsoles, virtio_devices_console },
	{ "rng", virtio_devices_nrng, virtio_devices_rng },
	{ "vsock", virtio_devices_nvsock, virtio_devices_vsock },
	{ "balloon", virtio_devices_nballoon, virtio_devices_balloon },
};

static int virtio_devices_plug(struct virtio_devices *list, struct pci_bus *bus,
			       const struct virtio_kind *k, unsigned i, const struct vm_config *cfg)
{
	struct virtio_dev_info info;
	struct virtio_dev *vd;
	int ret;

	if (list->n >= VIRTIO_DEVICES_MAX) {
		log_error("virtio: more devices than the %u PCI slots", VIRTIO_DEVICES_MAX);
		return -ENOSPC;
	}
	memset(&info, 0, sizeof(info));
	ret = k->create(&list->env, cfg, i, &info);
	if (ret < 0)
		return ret;  /* the constructor said why */
	ret = virtio_pci_create(bus, VIRTIO_DEVICES_FIRST_SLOT + list->n, &list->env, &info, &vd);
	if (ret < 0) {
		info.ops->destroy(info.dev);
		return ret;
	}
	list->devs[list->n++] = vd;
	log_debug("virtio: %s (%s #%u) in PCI slot %u", virtio_dev_id(vd), k->name, i,
		  VIRTIO_DEVICES_FIRST_SLOT + list->n - 1);
	return 0;
}

int virtio_devices_create(struct virtio_devices *list, struct pci_bus *bus,
			  const struct virtio_env *env, const struct vm_config *cfg)
{
	int ret = 0;

	list->env = *env;
	list->n = 0;
	for (size_t k = 0; ret == 0 && k < ARRAY_SIZE(virtio_kinds); k++) {
		unsigned n = virtio_kinds[k].count(cfg);

		for (unsigned i = 0; ret == 0 && i < n; i++)
			ret = virtio_devices_plug(list, bus, &virtio_kinds[k], i, cfg);
	}
	return ret;
}

void virtio_devices_destroy(struct virtio_devices *list)
{
	for (unsigned i = list->n; i-- > 0;)
		virtio_pci_destroy(list->devs[i]);
	list->n = 0;
}
