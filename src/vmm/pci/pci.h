/* pci: the PCI root bus (one segment, bus 0). Owns the host bridge at 00.0,
 * every function's configuration space (value image, writable-bit mask,
 * write-1-to-clear bits, the power-on image restored at platform reset),
 * capability lists, BAR sizing/assignment/decode, configuration mechanism 1
 * (0xCF8/0xCFC) and the ECAM window, and dispatch of accesses to the BAR
 * window. Devices are functions 0 of slots 1..31; they never see the VM.
 *
 * Locking: the bus has a read-write lock. Configuration writes and platform
 * reset take it exclusively (they change what BARs decode); configuration
 * reads and BAR accesses take it shared. Every call into a device (BAR
 * handlers, configuration hooks, bar_map, reset) is made with the bus lock
 * held and the lock the device registered taken around it, so the lock order
 * is bus -> device: a device must never call back into this file's locked
 * entry points (those taking a struct pci_bus) while it holds its own lock. */
#ifndef VMKIT_PCI_H
#define VMKIT_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct iobus;
struct memmap;
struct vdev_ops;
struct pci_bus;
struct pci_func;

#define PCI_SLOTS            32
#define PCI_NUM_BARS         6
#define PCI_CFG_SPACE_SIZE   256
#define PCI_ECAM_SIZE        0x100000ULL    /* bus 0 only: 32 slots x 8 functions x 4 KiB */
#define PCI_BAR_WINDOW_SIZE  0x10000000ULL  /* 256 MiB for every BAR on the bus */
#define PCI_BAR_UNMAPPED     UINT64_MAX     /* bar_map: the BAR decodes nothing */
#define PCI_MAX_CFG_HOOKS    4
#define PCI_MAX_BAR_HOOKS    4

/* Configuration space header (type 0) offsets. */
#define PCI_CFG_VENDOR_ID    0x00
#define PCI_CFG_DEVICE_ID    0x02
#define PCI_CFG_COMMAND      0x04
#define PCI_CFG_STATUS       0x06
#define PCI_CFG_REVISION     0x08
#define PCI_CFG_CLASS_PROG   0x09
#define PCI_CFG_CACHE_LINE   0x0C
#define PCI_CFG_HEADER_TYPE  0x0E
#define PCI_CFG_BAR0         0x10
#define PCI_CFG_SUBSYS_VID   0x2C
#define PCI_CFG_SUBSYS_ID    0x2E
#define PCI_CFG_ROM          0x30
#define PCI_CFG_CAP_PTR      0x34
#define PCI_CFG_INT_LINE     0x3C
#define PCI_CFG_INT_PIN      0x3D
#define PCI_CFG_CAP_START    0x40           /* capabilities live in [0x40, 0x100) */

#define PCI_CMD_MEMORY       0x0002
#define PCI_CMD_MASTER       0x0004
#define PCI_STATUS_CAP_LIST  0x0010

#define PCI_CAP_ID_VNDR      0x09           /* vendor-specific: byte 2 = length */
#define PCI_CAP_ID_MSIX      0x11

#define PCI_HOST_VENDOR_ID   0x8086
#define PCI_HOST_DEVICE_ID   0x0D57
#define PCI_CLASS_HOST_BRIDGE 0x060000

enum pci_bar_type {
	PCI_BAR_UNUSED = 0,
	PCI_BAR_MEM32,
	PCI_BAR_MEM64, /* also takes the next BAR register: bars[i + 1] must be unused */
};

struct pci_bar_info {
	enum pci_bar_type type;
	bool prefetchable;
	uint64_t size;               /* power of two, >= 16 bytes */
	/* Accesses that fall in this BAR outside any hook: dev = the function's
	 * dev, off = offset within the BAR, size 1/2/4/8. NULL: reads all ones. */
	const struct vdev_ops *ops;
};

struct pci_func_ops {
	/* The BAR now decodes at new_addr (was old_addr); either may be
	 * PCI_BAR_UNMAPPED. Called on the configuration write that changed
	 * it (command register or BAR) and at platform reset. May be NULL. */
	void (*bar_map)(void *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr);
	/* Platform reset, after the configuration space is back to its
	 * power-on image and the hooks' reset ran. May be NULL. */
	void (*reset)(void *dev);
};

struct pci_func_info {
	const char *name;            /* for messages; static storage */
	uint16_t vendor_id, device_id;
	uint16_t subsys_vendor_id, subsys_id;
	uint8_t revision;
	uint32_t class_code;         /* base << 16 | subclass << 8 | prog-if */
	struct pci_bar_info bars[PCI_NUM_BARS];
	const struct pci_func_ops *ops; /* may be NULL */
	void *dev;
	pthread_mutex_t *lock;       /* taken around every call into dev; may be NULL */
};

/* A device-owned range of configuration space (e.g. a capability whose
 * fields have side effects). read: data already holds the image's bytes and
 * may be overwritten; write: the image has already taken the write (through
 * the writable mask), data is what the guest wrote. off/size describe the
 * whole access, which overlaps the hooked range. reset: platform reset,
 * before the function's reset callback. Any member may be NULL. */
struct pci_cfg_hook_ops {
	void (*read)(void *opaque, unsigned off, void *data, unsigned size);
	void (*write)(void *opaque, unsigned off, const void *data, unsigned size);
	void (*reset)(void *opaque);
};

/* ---- the bus (the machine) ---- */

/* Create the bus with its host bridge; takes the BAR window (256 MiB, left
 * out of the e820 reservation) and the ECAM window from mm's MMIO hole. */
int pci_bus_create(struct memmap *mm, struct pci_bus **out);
void pci_bus_destroy(struct pci_bus *bus);
/* Register 0xCF8 and 0xCFC-0xCFF on pio and the ECAM and BAR windows on
 * mmio (the iobus ranges never change afterwards). */
int pci_bus_attach(struct pci_bus *bus, struct iobus *pio, struct iobus *mmio);
/* Platform reset: every function back to its power-on configuration space
 * (the VMM's BAR assignments, memory decode off), hooks reset, then each
 * device's reset callback. */
void pci_bus_reset(struct pci_bus *bus);
void pci_bus_ecam_window(const struct pci_bus *bus, uint64_t *base, uint64_t *size);
void pci_bus_bar_window(const struct pci_bus *bus, uint64_t *base, uint64_t *size);

/* ---- plugging a function (before the guest runs) ---- */

/* Plug info as function 0 of slot (1..31) and assign its BARs from the
 * window. 0, -EINVAL (bad slot or BAR layout), -EEXIST, -ENOSPC, -ENOMEM. */
int pci_bus_add_function(struct pci_bus *bus, unsigned slot,
			 const struct pci_func_info *info, struct pci_func **out);
unsigned pci_func_slot(const struct pci_func *fn);
/* The address the VMM assigned to a BAR (0 for an unused BAR). */
uint64_t pci_func_bar_addr(const struct pci_func *fn, unsigned bar);
uint64_t pci_func_bar_size(const struct pci_func *fn, unsigned bar);

/* Capability list builder: append a capability of len bytes (>= 2, header
 * included) with the given ID and return its offset; the bus fills the ID
 * and next-pointer bytes, the rest reads 0 until set below. Vendor-specific
 * capabilities (len >= 3) also get their length byte. 0, -ENOSPC, -EINVAL. */
int pci_func_add_cap(struct pci_func *fn, uint8_t id, unsigned len, unsigned *off);
int pci_func_add_vendor_cap(struct pci_func *fn, unsigned len, unsigned *off);

/* Device-side access to the device-specific part of configuration space,
 * [0x40, 0x100). set: power-on value of size (1, 2, 4) bytes at off (also
 * becomes the current value). mask: bits the guest may write, and bits a
 * guest write of 1 clears. 0 or -EINVAL (outside the device's part). */
int pci_func_cfg_set(struct pci_func *fn, unsigned off, unsigned size, uint32_t val);
int pci_func_cfg_mask(struct pci_func *fn, unsigned off, unsigned size,
		      uint32_t wmask, uint32_t w1c);
/* Current value of any configuration register (size 1, 2, 4; all ones when
 * out of range). Only before the guest runs or inside a hook: the bus lock
 * is what makes the read consistent. */
uint32_t pci_func_cfg_get(const struct pci_func *fn, unsigned off, unsigned size);

/* Hook [off, off+len) of configuration space ([0x40, 0x100)), or a range of
 * a BAR (accesses inside it go to ops with opaque instead of the BAR's
 * handler; lock, when not NULL, is taken around each call). Hooks must not
 * overlap. 0, -EINVAL, -EEXIST (overlap), -ENOSPC. */
int pci_func_hook_cfg(struct pci_func *fn, unsigned off, unsigned len,
		      const struct pci_cfg_hook_ops *ops, void *opaque, pthread_mutex_t *lock);
int pci_func_hook_bar(struct pci_func *fn, unsigned bar, uint64_t off, uint64_t len,
		      const struct vdev_ops *ops, void *opaque, pthread_mutex_t *lock);

#endif
