/* virtio_pci: the virtio 1.x modern PCI transport for one device model. It
 * owns the PCI function (IDs, class, one 64-bit memory BAR, the vendor
 * capabilities and the PCI configuration access capability), the common
 * configuration register file (feature negotiation, device status, queue
 * registers), ISR, the notify region (one doorbell per queue, each an
 * eventfd that is also a KVM ioeventfd while the BAR is mapped), MSI-X (one
 * vector per queue plus one for configuration changes), the device lock,
 * and the DEVICE_NEEDS_RESET state. The device->transport calls declared in
 * virtio.h are implemented here.
 *
 * BAR 0 (64-bit, 32 KiB) layout, each structure on a page of its own:
 *   0x0000 common configuration   0x1000 ISR status
 *   0x2000 device configuration   0x3000 notify (queue q at 4 * q)
 *   0x4000 MSI-X table            0x5000 MSI-X PBA
 *
 * Threads: register accesses come from vCPU threads through the PCI bus
 * (bus lock, then the device lock); queue work runs on the event-loop thread
 * under the device lock when a queue's eventfd fires (a KVM ioeventfd, a
 * doorbell write that reached the VMM, or virtio_queue_kick). */
#ifndef VMKIT_VIRTIO_PCI_H
#define VMKIT_VIRTIO_PCI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/virtio.h"

struct pci_bus;
struct virtio_dev;

#define VIRTIO_PCI_VENDOR_ID     0x1AF4
#define VIRTIO_PCI_DEVICE_BASE   0x1040    /* + virtio device id */
#define VIRTIO_PCI_SUBSYS_ID     0x0040    /* >= 0x40: a non-transitional device */
#define VIRTIO_PCI_REVISION      1
#define VIRTIO_PCI_BAR           0
#define VIRTIO_PCI_BAR_SIZE      0x8000u
#define VIRTIO_PCI_COMMON_OFF    0x0000u
#define VIRTIO_PCI_COMMON_LEN    0x38u
#define VIRTIO_PCI_ISR_OFF       0x1000u
#define VIRTIO_PCI_ISR_LEN       1u
#define VIRTIO_PCI_DEVICE_OFF    0x2000u
#define VIRTIO_PCI_NOTIFY_OFF    0x3000u
#define VIRTIO_PCI_NOTIFY_MULT   4u
#define VIRTIO_PCI_MSIX_TABLE    0x4000u
#define VIRTIO_PCI_MSIX_PBA      0x5000u

/* Vendor capability cfg_type values (virtio 1.x, 4.1.4). */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG    3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG    5
/* Field offsets inside a vendor capability. */
#define VIRTIO_PCI_CAP_CFG_TYPE   3
#define VIRTIO_PCI_CAP_BAR        4
#define VIRTIO_PCI_CAP_OFFSET     8
#define VIRTIO_PCI_CAP_LENGTH     12
#define VIRTIO_PCI_CAP_MULT       16       /* notify: notify_off_multiplier */
#define VIRTIO_PCI_CAP_DATA       16       /* PCI cfg: pci_cfg_data */
#define VIRTIO_PCI_CAP_LEN        16
#define VIRTIO_PCI_CAP_LEN_EXT    20       /* notify and PCI cfg */

/* Common configuration structure offsets (virtio 1.x, 4.1.4.3). */
#define VIRTIO_PCI_DFSELECT      0x00
#define VIRTIO_PCI_DF            0x04
#define VIRTIO_PCI_GFSELECT      0x08
#define VIRTIO_PCI_GF            0x0C
#define VIRTIO_PCI_MSIX_CONFIG   0x10
#define VIRTIO_PCI_NUM_QUEUES    0x12
#define VIRTIO_PCI_STATUS        0x14
#define VIRTIO_PCI_CFG_GEN       0x15
#define VIRTIO_PCI_Q_SELECT      0x16
#define VIRTIO_PCI_Q_SIZE        0x18
#define VIRTIO_PCI_Q_MSIX        0x1A
#define VIRTIO_PCI_Q_ENABLE      0x1C
#define VIRTIO_PCI_Q_NOFF        0x1E
#define VIRTIO_PCI_Q_DESC        0x20
#define VIRTIO_PCI_Q_AVAIL       0x28
#define VIRTIO_PCI_Q_USED        0x30

#define VIRTIO_MSI_NO_VECTOR     0xFFFF
#define VIRTIO_ISR_QUEUE         0x1
#define VIRTIO_ISR_CONFIG        0x2

/* Plug the device that info describes as function 0 of slot on bus, with
 * queue work on env->loop and interrupts/doorbells through env->host.
 * Sets *info->handle and *out before any op can run. On failure nothing
 * stays plugged or allocated except the device's own state (the caller
 * destroys it with info->ops->destroy). Before the guest runs. 0 or -errno. */
int virtio_pci_create(struct pci_bus *bus, unsigned slot, const struct virtio_env *env,
		      const struct virtio_dev_info *info, struct virtio_dev **out);
/* Unplug: after the bus stopped dispatching and with no event-loop callback
 * running (the VM is torn down). Calls ops->destroy. NULL is fine. */
void virtio_pci_destroy(struct virtio_dev *vd);

/* Run the queue work whose eventfds are signalled, as the event loop does
 * (tests and fuzzing drive the transport without running the loop). */
void virtio_pci_poll(struct virtio_dev *vd);

/* For the control socket (event-loop thread; take the device lock). */
uint16_t virtio_pci_device_id(const struct virtio_dev *vd);
const char *virtio_pci_kind(const struct virtio_dev *vd);   /* ops->name */
/* Add the transport's facts (id, kind, slot, status, features, needs-reset
 * reason) and then the device's (ops->query) to obj. */
void virtio_pci_query(struct virtio_dev *vd, json_t *obj);
/* Only the device's ops->query members, with "id". */
void virtio_pci_query_device(struct virtio_dev *vd, json_t *obj);
/* ops->set_link: 0, -ENOTSUP (the device has no link), or its error. */
int virtio_pci_set_link(struct virtio_dev *vd, bool up);
/* ops->set_rate_limit / ops->balloon_set, the same way. */
int virtio_pci_set_rate_limit(struct virtio_dev *vd, const struct config_ratelimit *limit);
int virtio_pci_balloon_set(struct virtio_dev *vd, uint64_t target);

#endif
