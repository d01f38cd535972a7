/* pci: the guest's PCI layer for bus 0. Configuration space through the
 * ECAM window of the ACPI MCFG when there is one, else configuration
 * mechanism 1 (ports 0xCF8/0xCFC); the bus-0 scan; the capability list
 * walk and memory BAR decoding over a snapshot of a function's config
 * space (pure, unit-tested on the host); BAR sizing; MSI-X table
 * programming (messages to a local APIC, per-entry mask, pending bits). */
#ifndef TESTGUEST_PCI_H
#define TESTGUEST_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

#define PCI_CFG_SIZE        256   /* the conventional header + capabilities */
#define PCI_MAX_FNS         64    /* functions remembered by a scan */

/* Config space registers and bits. */
#define PCI_VENDOR_ID       0x00
#define PCI_DEVICE_ID       0x02
#define PCI_COMMAND         0x04
#define PCI_STATUS          0x06
#define PCI_REVISION        0x08
#define PCI_HEADER_TYPE     0x0e
#define PCI_BAR0            0x10
#define PCI_SUBSYS_VENDOR   0x2c
#define PCI_SUBSYS_ID       0x2e
#define PCI_CAP_PTR         0x34
#define PCI_CMD_MEM         0x0002
#define PCI_CMD_MASTER      0x0004
#define PCI_CMD_INTX_OFF    0x0400
#define PCI_STATUS_CAPS     0x0010
#define PCI_NUM_BARS        6
#define PCI_CAP_ID_MSIX     0x11
#define PCI_CAP_ID_VENDOR   0x09
#define PCI_CAPS_MAX        48    /* (256 - 64) / 4: more means a loop */

/* How configuration space is reached (bus 0 only). */
struct pci_bus {
	uint64_t ecam;          /* ECAM base of bus 0; 0 = mechanism 1 */
};

struct pci_fn {
	const struct pci_bus *bus;
	uint8_t dev, fn;
	uint16_t vendor, device;
	uint16_t subsys_vendor, subsys_id;
	uint8_t revision, header_type;
	uint8_t class_code, subclass, prog_if;
};

struct pci_msix {
	uint8_t cap;            /* capability offset in config space */
	uint16_t nvec;          /* table entries */
	uint64_t table;         /* physical address of entry 0 */
	uint64_t pba;           /* physical address of the pending-bit array */
};

/* ECAM if the platform has one for bus 0, else mechanism 1. */
void pci_bus_init(struct pci_bus *b, const struct platform *p);
const char *pci_bus_method(const struct pci_bus *b);

uint8_t pci_read8(const struct pci_fn *f, uint16_t off);
uint16_t pci_read16(const struct pci_fn *f, uint16_t off);
uint32_t pci_read32(const struct pci_fn *f, uint16_t off);
void pci_write8(const struct pci_fn *f, uint16_t off, uint8_t v);
void pci_write16(const struct pci_fn *f, uint16_t off, uint16_t v);
void pci_write32(const struct pci_fn *f, uint16_t off, uint32_t v);

/* Every present function of bus 0 (functions 1-7 of multi-function
 * devices too), up to max. Returns how many were stored. */
unsigned pci_scan(const struct pci_bus *b, struct pci_fn *out, unsigned max);
/* Copy the first PCI_CFG_SIZE bytes of config space. */
void pci_snapshot(const struct pci_fn *f, uint8_t *cfg);
/* Memory space + bus master on, INTx off. */
void pci_enable(const struct pci_fn *f);

/* ---- pure, over a config space snapshot ---- */

/* Offsets of the capabilities in list order (at most max). Returns the
 * count, or -EINVAL for a malformed list (pointer into the header, a loop,
 * more than PCI_CAPS_MAX entries); 0 when the status bit says none. */
int pci_caps_list(const uint8_t *cfg, uint8_t *pos, unsigned max);
/* The first capability with this ID after offset `after` (0: from the
 * start) in list order; 0 if there is none or the list is malformed. */
uint8_t pci_cap_find(const uint8_t *cfg, uint8_t id, uint8_t after);
/* Address of memory BAR `bar` (64-bit BARs take two slots). 0, -ENODEV
 * (I/O BAR), -ENOENT (unassigned: address 0), -EINVAL (bad index, a
 * 64-bit BAR in the last slot). */
int pci_bar_decode(const uint8_t *cfg, unsigned bar, uint64_t *addr, bool *is64);

/* ---- on the device ---- */

/* Size of memory BAR `bar` (decoding is off while probing). 0 if none. */
uint64_t pci_bar_size(const struct pci_fn *f, unsigned bar);
/* Address of an assigned memory BAR the guest can reach (below 4 GiB).
 * 0 or -errno with a reason logged. */
int pci_bar_addr(const struct pci_fn *f, const uint8_t *cfg, unsigned bar,
		 uint64_t *addr);

/* Find and decode the MSI-X capability (table and PBA in assigned BARs).
 * 0, -ENOENT (no MSI-X) or -errno. */
int pci_msix_init(const struct pci_fn *f, const uint8_t *cfg, struct pci_msix *m);
/* Enable MSI-X (function mask off) or disable it. */
void pci_msix_enable(const struct pci_fn *f, const struct pci_msix *m, bool on);
/* Entry -> fixed delivery of vector to the local APIC apic_id, unmasked. */
void pci_msix_route(const struct pci_msix *m, uint16_t entry, uint8_t apic_id,
		    uint8_t vector);
void pci_msix_mask(const struct pci_msix *m, uint16_t entry, bool masked);
bool pci_msix_pending(const struct pci_msix *m, uint16_t entry);

#endif
