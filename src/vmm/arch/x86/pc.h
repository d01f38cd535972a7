/* pc: the x86 machine vmkit builds: which legacy devices sit at which ports
 * and IRQs (one table), and the firmware a kernel expects in low memory
 * (e820 via the loader, ACPI tables, MP table, BIOS data area). */
#ifndef VMKIT_PC_H
#define VMKIT_PC_H

struct vm;
struct boot_entry;

int pc_devices_create(struct vm *vm);
void pc_devices_reset(struct vm *vm);
void pc_devices_destroy(struct vm *vm);
/* Write firmware tables and load kernel/initrd/cmdline; fills *be. */
int pc_load(struct vm *vm, struct boot_entry *be);

#endif
