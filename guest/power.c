/* power: ACPI S5 power-off, machine reset and debug-exit (see power.h). */
#include "glog.h"
#include "io.h"
#include "kshared.h"
#include "lib.h"
#include "phys.h"
#include "power.h"

#define PM1_CNT_SCI_EN     0x0001
#define PM1_CNT_SLP_TYP    0x1c00
#define PM1_CNT_SLP_EN     0x2000
#define SLEEP_CTL_SLP_EN   0x20
#define POWER_SETTLE_SPINS 2000000  /* ring-3 pause loop: a few ms */
#define RESET_PORT_CF9     0xcf9
#define RESET_CF9_VALUE    0x06
#define RESET_PORT_I8042   0x64
#define RESET_I8042_PULSE  0xfe

static void power_settle(void)
{
	for (unsigned i = 0; i < POWER_SETTLE_SPINS; i++)
		io_pause();
}

int power_gas_write(const struct platform_gas *g, uint32_t v)
{
	unsigned width = g->bit_width ? g->bit_width : 8;

	if (g->space == GAS_SPACE_IO && g->addr <= 0xffff) {
		if (width == 8)
			io_outb((uint16_t)g->addr, (uint8_t)v);
		else if (width == 16)
			io_outw((uint16_t)g->addr, (uint16_t)v);
		else
			io_outl((uint16_t)g->addr, v);
		return 0;
	}
	if (g->space == GAS_SPACE_MEMORY && phys_map(g->addr, 4)) {
		if (width == 8)
			io_mmio_write8(g->addr, (uint8_t)v);
		else
			io_mmio_write32(g->addr, v);
		return 0;
	}
	glog("power: unsupported register (space %u, address 0x%lx)", g->space, g->addr);
	return -EINVAL;
}

static void power_pm1_cnt_sleep(uint32_t port, uint8_t slp_typ)
{
	uint16_t v;

	if (!port || port > 0xffff)
		return;
	v = io_inw((uint16_t)port) & PM1_CNT_SCI_EN;
	io_outw((uint16_t)port, v | (uint16_t)(slp_typ << 10) | PM1_CNT_SLP_EN);
}

/* Try ACPI S5; returns if the machine is still running. */
static void power_acpi_s5(const struct platform_acpi *a)
{
	if (!a->have_fadt || !a->have_s5) {
		glog("power: no FADT or no \\_S5_ package: no ACPI power-off");
		return;
	}
	if (a->flags & FADT_FLAG_HW_REDUCED_ACPI) {
		if (a->sleep_ctl.space == 0xff || !a->sleep_ctl.addr) {
			glog("power: HW-reduced ACPI without a sleep control register");
			return;
		}
		power_gas_write(&a->sleep_ctl, (uint32_t)(a->s5_slp_typ << 2) | SLEEP_CTL_SLP_EN);
	} else {
		power_pm1_cnt_sleep(a->pm1a_cnt, a->s5_slp_typ);
		power_pm1_cnt_sleep(a->pm1b_cnt, a->s5_slp_typ);
	}
	power_settle();
	glog("power: ACPI S5 did not power off");
}

void power_debug_exit(uint32_t code)
{
	io_outl(POWER_DEBUG_EXIT_PORT, code);
	kcall_halt();
}

void power_off(const struct platform *p)
{
	power_acpi_s5(&p->acpi);
	power_debug_exit(POWER_EXIT_PASS);
}

int power_reset(const struct platform *p)
{
	const struct platform_acpi *a = &p->acpi;

	if (a->have_reset && power_gas_write(&a->reset_reg, a->reset_value) == 0) {
		power_settle();
		glog("power: FADT reset register did not reset");
	}
	io_outb(RESET_PORT_CF9, RESET_CF9_VALUE);
	power_settle();
	io_outb(RESET_PORT_I8042, RESET_I8042_PULSE);
	power_settle();
	glog("power: no reset method worked");
	return -EIO;
}
