/* virtio: the virtio 1.x modern PCI transport, driver side. Finds the
 * vendor capabilities (common, notify + multiplier, ISR, device config, PCI
 * configuration access), maps them through assigned BARs, programs MSI-X
 * (entry 0: configuration changes, entries 1..: queues) to two counted IDT
 * vectors, and runs the initialisation sequence: reset, ACKNOWLEDGE,
 * DRIVER, 64-bit feature negotiation (VERSION_1 required), FEATURES_OK
 * check, queue setup, DRIVER_OK. Device config reads use the generation
 * counter; the PCI configuration access capability can read any region. */
#ifndef TESTGUEST_VIRTIO_H
#define TESTGUEST_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "dma.h"
#include "pci.h"
#include "tsc.h"
#include "virtq.h"

#define VIRTIO_PCI_VENDOR        0x1af4
#define VIRTIO_PCI_MODERN_BASE   0x1040  /* device ID = 0x1040 + virtio ID */

enum virtio_id {
	VIRTIO_ID_NET = 1,
	VIRTIO_ID_BLK = 2,
	VIRTIO_ID_CONSOLE = 3,
	VIRTIO_ID_RNG = 4,
	VIRTIO_ID_VSOCK = 19,
};

/* Device status bits. */
#define VIRTIO_S_ACKNOWLEDGE     0x01
#define VIRTIO_S_DRIVER          0x02
#define VIRTIO_S_DRIVER_OK       0x04
#define VIRTIO_S_FEATURES_OK     0x08
#define VIRTIO_S_NEEDS_RESET     0x40
#define VIRTIO_S_FAILED          0x80

/* Transport feature bits. */
#define VIRTIO_F_INDIRECT_DESC   28
#define VIRTIO_F_EVENT_IDX       29
#define VIRTIO_F_VERSION_1       32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED     34
#define VIRTIO_BIT(n)            (1ULL << (n))

/* Vendor capability types. */
#define VIRTIO_CAP_COMMON        1
#define VIRTIO_CAP_NOTIFY        2
#define VIRTIO_CAP_ISR           3
#define VIRTIO_CAP_DEVICE        4
#define VIRTIO_CAP_PCI_CFG       5
#define VIRTIO_CAP_TYPES         6

#define VIRTIO_NO_VECTOR         0xffff
#define VIRTIO_MAX_QUEUES        4
#define VIRTIO_COMMON_MIN_LEN    56      /* through queue_device */

/* One capability-described region: BAR, offset, length. */
struct virtio_region {
	bool present;
	uint8_t bar;
	uint32_t offset;
	uint32_t length;
};

/* What the vendor capabilities say (pure parse of a config snapshot). */
struct virtio_caps {
	struct virtio_region region[VIRTIO_CAP_TYPES];  /* by VIRTIO_CAP_* */
	uint32_t notify_mult;
	uint8_t pcicfg;         /* offset of the PCI config access cap, 0 = none */
};

struct virtio_dev {
	struct pci_fn pci;
	uint8_t cfg[PCI_CFG_SIZE];      /* config space snapshot at open */
	struct virtio_caps caps;
	uint16_t id;                    /* enum virtio_id */
	char name[16];                  /* e.g. "blk0" */
	uint64_t common, notify, isr, device;   /* mapped region addresses */
	uint32_t device_len;
	struct pci_msix msix;
	uint8_t apic_id;                /* where MSI-X messages go */
	uint8_t vec_cfg, vec_queue;     /* kshared.msix[] slots */
	uint64_t offered;               /* device features */
	uint64_t features;              /* negotiated */
	uint16_t num_queues;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	uint64_t vq_notify[VIRTIO_MAX_QUEUES];  /* doorbell addresses */
	void *vq_mem[VIRTIO_MAX_QUEUES];        /* kept across resets */
	uint16_t vq_mem_entries[VIRTIO_MAX_QUEUES];
};

/* Pure: parse the vendor capabilities of a config snapshot. 0, -ENOENT
 * (a required one is missing: common, notify, ISR) or -EINVAL (malformed:
 * short capability, BAR > 5, notify without its multiplier). */
int virtio_caps_parse(const uint8_t *cfg, struct virtio_caps *c);
/* The virtio device ID of a PCI function, 0 if it is not virtio. */
uint16_t virtio_pci_id(const struct pci_fn *f);
const char *virtio_id_name(uint16_t id);

/* Bind to a function: parse and map the capabilities, check that each
 * region fits its BAR, enable the function, set up MSI-X to vec_cfg /
 * vec_queue on apic_id, cross-check a read through the PCI configuration
 * access capability. 0 or -errno (logged). */
int virtio_open(struct virtio_dev *d, const struct pci_fn *f, uint8_t apic_id,
		uint8_t vec_cfg, uint8_t vec_queue);
/* Write 0 to device_status and wait (up to 1 s) until it reads 0. */
int virtio_reset(struct virtio_dev *d, const struct tsc *t);
/* Reset, ACKNOWLEDGE, DRIVER, negotiate offered & wanted (VERSION_1 must be
 * offered and is always taken; so must everything in `required`),
 * FEATURES_OK and check it stuck; configuration vector to MSI-X entry 0.
 * 0, -ENODEV (feature missing, FEATURES_OK refused) or -errno. */
int virtio_begin(struct virtio_dev *d, const struct tsc *t, uint64_t wanted,
		 uint64_t required);
/* Set up queue q with at most max entries (rounded down to a power of
 * two), memory from dma (allocated once per queue and reused), MSI-X entry
 * 1 + q (the last one if the table is smaller). */
int virtio_queue_setup(struct virtio_dev *d, struct dma *dma, uint16_t q, uint16_t max);
/* DRIVER_OK. */
void virtio_ready(struct virtio_dev *d);
uint8_t virtio_status(const struct virtio_dev *d);
/* Mark FAILED (a driver-side error). */
void virtio_fail(struct virtio_dev *d);
bool virtio_has(const struct virtio_dev *d, unsigned feature);

/* Notify the device about queue vq (always / if it asked for it). */
void virtio_notify(const struct virtio_dev *d, const struct virtq *vq);
void virtio_kick(const struct virtio_dev *d, struct virtq *vq);
/* Read and clear the ISR status (bit 0 queue, bit 1 config change). */
uint8_t virtio_isr(const struct virtio_dev *d);

/* Device config space, consistent across the generation counter; fields
 * outside the device config region read as 0 (check virtio_cfg_has). */
bool virtio_cfg_has(const struct virtio_dev *d, uint32_t off, uint32_t width);
uint8_t virtio_cfg8(const struct virtio_dev *d, uint32_t off);
uint16_t virtio_cfg16(const struct virtio_dev *d, uint32_t off);
uint32_t virtio_cfg32(const struct virtio_dev *d, uint32_t off);
uint64_t virtio_cfg64(const struct virtio_dev *d, uint32_t off);
/* Read width (1, 2, 4) bytes at off in region `type` through the PCI
 * configuration access capability. 0, -ENOENT (no such capability or
 * region) or -EINVAL. */
int virtio_pcicfg_read(const struct virtio_dev *d, unsigned type, uint32_t off,
		       unsigned width, uint32_t *out);

/* Interrupt counts of this device's configuration / queue vectors. */
uint64_t virtio_cfg_irqs(const struct virtio_dev *d);
uint64_t virtio_queue_irqs(const struct virtio_dev *d);

#endif
