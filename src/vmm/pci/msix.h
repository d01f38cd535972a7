/* msix: MSI-X for one PCI function. Owns the MSI-X capability (message
 * control: table size, function mask, enable), the vector table and the
 * pending-bit array (both in a BAR of the function, at offsets the device
 * chooses) and delivery: each vector that can fire is backed by an eventfd
 * bound as an irqfd to a GSI routed to the vector's message, all through the
 * function's devhost. A vector that is masked (or the function masked, or
 * MSI-X disabled) never fires: msix_notify() sets its pending bit instead,
 * and the vector fires (bit cleared) as soon as it can. */
#ifndef VMKIT_MSIX_H
#define VMKIT_MSIX_H

#include <stdint.h>

struct devhost;
struct pci_func;
struct msix;

#define MSIX_MAX_VECTORS    2048
#define MSIX_CAP_LEN        12
#define MSIX_ENTRY_SIZE     16
#define MSIX_CTRL_ENABLE    0x8000u
#define MSIX_CTRL_FMASK     0x4000u
#define MSIX_CTRL_SIZE_MASK 0x07FFu    /* table size - 1 */
#define MSIX_VEC_MASKED     0x1u       /* vector control bit 0 */

/* Bytes the PBA of nvec vectors takes (whole qwords). */
#define MSIX_PBA_SIZE(nvec) ((((nvec) + 63u) / 64u) * 8u)

struct msix_stats {
	uint64_t delivered;  /* messages sent (irqfd or direct) */
	uint64_t pended;     /* notifies that only set a pending bit */
	uint64_t dropped;    /* could not be delivered (bad address, no VM) */
	uint64_t routes;     /* MSI routes installed (KVM_SET_GSI_ROUTING calls) */
};

/* Give fn an MSI-X capability with nvec (1..2048) vectors whose table and
 * PBA live at table_off / pba_off (8-byte aligned, inside BAR bar, not
 * overlapping) and take those BAR ranges over (dword and aligned qword
 * accesses; other sizes read all ones and are ignored). Before the guest
 * runs. 0, -EINVAL, -ENOSPC (no room in configuration space), -ENOMEM. */
int msix_create(struct pci_func *fn, const struct devhost *host, unsigned nvec,
		unsigned bar, uint32_t table_off, uint32_t pba_off, struct msix **out);
/* After the bus stopped dispatching (VM torn down). NULL is fine. */
void msix_destroy(struct msix *m);
unsigned msix_nvec(const struct msix *m);
unsigned msix_cap_offset(const struct msix *m);

/* The device signals vector (any thread, any lock of the device held).
 * Vectors >= nvec (e.g. virtio's NO_VECTOR) are ignored. */
void msix_notify(struct msix *m, unsigned vector);
void msix_get_stats(struct msix *m, struct msix_stats *out);

#endif
