/* pc: the x86 machine's device table and firmware set-up. */
#include "pc.h"

#include <errno.h>
#include <string.h>

#include "acpi.h"
#include "common/log.h"
#include "common/util.h"
#include "hw/hw.h"
#include "loader.h"
#include "memmap.h"
#include "mptable.h"
#include "pci/pci.h"
#include "virtio/virtio_devices.h"
#include "vm.h"

#define PC_BDA_EBDA_SEG 0x40E
#define PC_BDA_BASE_MEM 0x413

struct pc_slot {
	const struct hw_desc *desc;
	uint16_t port;
	uint16_t nports;
	unsigned irq;
	unsigned param;
};

/* The legacy devices, where they sit. */
static const struct pc_slot pc_slots[] = {
	{ &serial_desc, X86_PORT_COM1, 8, X86_IRQ_COM1, 0 },
	{ &i8042_desc, X86_PORT_I8042_DATA, 5, X86_IRQ_I8042, 0 },
	{ &rtc_desc, X86_PORT_RTC, 2, X86_IRQ_RTC, 0 },
	{ &post_desc, X86_PORT_POST, 1, 0, 0 },
	{ &debugexit_desc, X86_PORT_DEBUG_EXIT, 4, 0, 0 },
	{ &boottimer_desc, X86_PORT_BOOT_TIMER, 1, 0, 0 },
	{ &acpipm_desc, X86_PORT_ACPI_PM, X86_PORT_ACPI_PM_LEN, X86_IRQ_SCI, X86_ACPI_S5_SLP_TYP },
	{ &resetctl_desc, X86_PORT_RESET, 1, 0, 0 },
};

static int pc_slot_create(struct vm *vm, const struct pc_slot *s)
{
	struct hw_args args = {
		.host = &vm->devhost, .port = s->port, .irq = s->irq,
		.chardev = s->desc == &serial_desc ? vm->serial_cd : NULL,
		.start_ns = vm->start_ns, .param = s->param,
	};
	void *state;
	int ret = s->desc->create(&args, &state);

	if (ret < 0) {
		log_error("cannot create device %s: %s", s->desc->name, strerror(-ret));
		return ret;
	}
	vm->hw[vm->nhw++] = (struct vm_hw){ s->desc, state };
	ret = iobus_add(&vm->pio, s->port, s->nports, s->desc->ops, state, s->desc->lock(state));
	if (ret < 0)
		return ret;
	if (s->desc == &acpipm_desc)
		vm->acpipm = state;
	if (s->desc == &serial_desc)
		vm->serial = state;
	return 0;
}

/* The PCI root bus: host bridge at 00.0, windows from the MMIO hole, CF8/CFC
 * on the port bus and ECAM + BARs on the MMIO bus. PCI devices plug into
 * vm->pci after this, before the vCPUs start. */
static int pc_pci_create(struct vm *vm)
{
	int ret = pci_bus_create(&vm->mm, &vm->pci);

	if (ret == 0)
		ret = pci_bus_attach(vm->pci, &vm->pio, &vm->mmio);
	if (ret < 0)
		log_error("cannot create the PCI bus: %s", strerror(-ret));
	return ret;
}

/* Every configured virtio device, on the bus's slots from 1 (a device that
 * cannot be built stops the VM before it runs: missing image, no TAP...). */
static int pc_virtio_create(struct vm *vm)
{
	const struct virtio_env env = {
		.loop = vm->loop, .host = &vm->devhost, .gm = &vm->gm, .ncpus = vm->ncpus,
	};

	return virtio_devices_create(&vm->virtio, vm->pci, &env, vm->cfg);
}

int pc_devices_create(struct vm *vm)
{
	int ret;

	for (size_t i = 0; i < ARRAY_SIZE(pc_slots); i++) {
		ret = pc_slot_create(vm, &pc_slots[i]);
		if (ret < 0)
			return ret;
	}
	ret = pc_pci_create(vm);
	return ret < 0 ? ret : pc_virtio_create(vm);
}

void pc_devices_reset(struct vm *vm)
{
	/* reset() takes the device's own lock */
	for (unsigned i = 0; i < vm->nhw; i++)
		vm->hw[i].desc->reset(vm->hw[i].state);
	if (vm->pci)
		pci_bus_reset(vm->pci);
}

void pc_devices_destroy(struct vm *vm)
{
	iobus_remove_all(&vm->pio);
	iobus_remove_all(&vm->mmio);
	virtio_devices_destroy(&vm->virtio);  /* before the bus: they own functions' state */
	pci_bus_destroy(vm->pci);
	vm->pci = NULL;
	for (unsigned i = vm->nhw; i-- > 0;)
		vm->hw[i].desc->destroy(vm->hw[i].state);
	vm->nhw = 0;
	vm->acpipm = vm->serial = NULL;
}

static void pc_acpi_pci(const struct vm *vm, struct acpi_params *ap)
{
	if (!vm->pci)
		return;
	pci_bus_ecam_window(vm->pci, &ap->pci_ecam_base, &ap->pci_ecam_size);
	pci_bus_bar_window(vm->pci, &ap->pci_mem_base, &ap->pci_mem_size);
}

static int pc_firmware(struct vm *vm, uint64_t *rsdp)
{
	struct acpi_params ap = {
		.ncpus = vm->ncpus, .lapic_addr = X86_LAPIC_GPA, .ioapic_addr = X86_IOAPIC_GPA,
		.sci_irq = X86_IRQ_SCI, .pm1a_evt_port = X86_PORT_PM1A_EVT,
		.pm1a_cnt_port = X86_PORT_PM1A_CNT, .pm_tmr_port = X86_PORT_PM_TMR,
		.reset_port = X86_PORT_RESET, .reset_value = X86_RESET_VALUE,
		.s5_slp_typ = X86_ACPI_S5_SLP_TYP,
		.com1_port = X86_PORT_COM1, .com1_irq = X86_IRQ_COM1,
	};
	uint16_t ebda_seg = X86_EBDA_GPA >> 4, base_kib = X86_EBDA_GPA >> 10;
	int ret;

	pc_acpi_pci(vm, &ap);
	ret = gmem_write(&vm->gm, PC_BDA_EBDA_SEG, &ebda_seg, sizeof(ebda_seg));
	if (ret == 0)
		ret = gmem_write(&vm->gm, PC_BDA_BASE_MEM, &base_kib, sizeof(base_kib));
	/* The EBDA holds an MP table for up to 40 CPUs; ACPI's MADT describes more. */
	if (ret == 0 && mptable_size(vm->ncpus) <= X86_EBDA_SIZE)
		ret = mptable_build(&vm->gm, X86_EBDA_GPA, X86_EBDA_SIZE, vm->ncpus, X86_IOAPIC_GPA);
	else if (ret == 0)
		log_info("%u vCPUs do not fit in an MP table: ACPI's MADT only", vm->ncpus);
	if (ret == 0)
		ret = acpi_build(&vm->gm, X86_ACPI_GPA, X86_ACPI_SIZE, &ap, rsdp);
	if (ret < 0)
		log_error("cannot build the firmware tables: %s", strerror(-ret));
	return ret;
}

int pc_load(struct vm *vm, struct boot_entry *be)
{
	struct e820_entry e820[E820_MAX_ENTRIES];
	struct loader_args la = { 0 };
	uint64_t rsdp = 0;
	int n, ret;

	ret = pc_firmware(vm, &rsdp);
	if (ret < 0)
		return ret;
	n = memmap_e820(&vm->mm, e820, ARRAY_SIZE(e820));
	if (n < 0)
		return n;
	la.kernel_path = vm->cfg->kernel;
	la.initrd_path = vm->cfg->initrd[0] ? vm->cfg->initrd : NULL;
	la.cmdline = vm->cfg->cmdline;
	la.e820 = e820;
	la.ne820 = (unsigned)n;
	la.rsdp_gpa = rsdp;
	la.initrd_max = vm->mm.ram_low_end;
	return loader_load(&vm->gm, &la, be);
}
