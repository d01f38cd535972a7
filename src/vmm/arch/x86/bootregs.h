/* bootregs: the boot CPU's entry state for each boot mode (flat 32-bit PVH,
 * or 64-bit long mode with identity page tables and a boot GDT written into
 * guest low memory). */
#ifndef VMKIT_BOOTREGS_H
#define VMKIT_BOOTREGS_H

#include "hv/hv.h"
#include "loader.h"

struct gmem;

/* Write the boot GDT (and page tables for long mode) into guest memory and
 * fill regs/sregs (sregs holds the vCPU's current values on entry, so fields
 * not set here keep KVM's reset state). 0 or -EFAULT. */
int bootregs_setup(struct gmem *gm, const struct boot_entry *be,
		   struct hv_regs *regs, struct hv_sregs *sregs);

#endif
