/* workloads: hello, info, idle, smp, echo, exit, reset and fault (see
 * README.md for what each one proves), and the table of every workload,
 * the virtio ones (wl_virtio.h) included. They run in ring 3 on the BSP and
 * talk to devices directly (port I/O at IOPL 3, identity-mapped MMIO). */
#include "apic.h"
#include "glog.h"
#include "io.h"
#include "kshared.h"
#include "lib.h"
#include "power.h"
#include "smp.h"
#include "uart.h"
#include "wl_balloon.h"
#include "wl_virtio.h"
#include "workloads.h"

#define PM1_STS_PWRBTN   0x0100
#define PM1_EN_PWRBTN    0x0100
#define GED_EVT_PWR_DOWN 0x2
#define SCI_DEFAULT_FLAGS (PLATFORM_TRIG_LEVEL | PLATFORM_POL_HIGH)
#define ISA_DEFAULT_FLAGS (PLATFORM_TRIG_EDGE | PLATFORM_POL_HIGH)
#define ACPI_ENABLE_SPINS 100000
#define ASCII_EOT 0x04

/* CMOS NVRAM boot counter for the reset workload. */
#define CMOS_INDEX_PORT  0x70
#define CMOS_DATA_PORT   0x71
#define CMOS_RESET_COUNT 0x40
#define CMOS_RESET_MAGIC 0x41
#define RESET_MAGIC      0xa5
#define RESET_BOOTS      4

static int wl_hello(struct guest *g)
{
	(void)g;
	return 0;
}

static int wl_info(struct guest *g)
{
	const struct platform *p = &g->plat;
	const struct platform_acpi *a = &p->acpi;

	glog("info: bsp apic %u, %u cpus from %s (%u skipped), %u ioapics, %u overrides",
	     g->bsp_apic_id, p->ncpus, p->cpu_source, p->ncpus_skipped, p->nioapics,
	     p->noverrides);
	for (uint32_t i = 0; i < p->noverrides; i++)
		glog("info: irq %u -> gsi %u flags 0x%x", p->override[i].source,
		     p->override[i].gsi, p->override[i].flags);
	glog("info: rsdp 0x%lx fadt rev %u flags 0x%x sci %u pm1a_evt 0x%x pm1a_cnt 0x%x",
	     p->rsdp, a->fadt_rev, a->flags, a->sci_int, a->pm1a_evt, a->pm1a_cnt);
	glog("info: reset %u:0x%lx=0x%x sleep_ctl %u:0x%lx s5 %d:%u ged 0x%lx irq %u/0x%x",
	     a->reset_reg.space, a->reset_reg.addr, a->reset_value, a->sleep_ctl.space,
	     a->sleep_ctl.addr, a->have_s5, a->s5_slp_typ, a->ged_evt_addr, a->ged_irq,
	     a->ged_irq_flags);
	glog("info: ecam 0x%lx buses %u-%u, %u RAM ranges, RAM top 0x%lx", p->ecam_base,
	     p->ecam_bus_start, p->ecam_bus_end, p->nram, platform_ram_top(p));
	return g->discover_err ? guest_fail(g, g->discover_err, "platform discovery failed") : 0;
}

/* Legacy ACPI: switch to ACPI mode through SMI_CMD if SCI_EN is clear. */
static void wl_acpi_enable(const struct platform_acpi *a)
{
	if (!a->smi_cmd || !a->acpi_enable || !a->pm1a_cnt || (io_inw(a->pm1a_cnt) & 1))
		return;
	io_outb((uint16_t)a->smi_cmd, a->acpi_enable);
	for (unsigned i = 0; i < ACPI_ENABLE_SPINS && !(io_inw(a->pm1a_cnt) & 1); i++)
		io_pause();
}

/* Arm the power button: PM1 PWRBTN_EN + SCI, or the HW-reduced GED. */
static int wl_arm_power_button(struct guest *g)
{
	const struct platform_acpi *a = &g->plat.acpi;
	uint32_t gsi;
	uint16_t flags;

	apic_lapic_init();
	if ((a->flags & FADT_FLAG_HW_REDUCED_ACPI) && a->ged_evt_addr) {
		kshared.ged_addr = a->ged_evt_addr;
		return apic_route_gsi(&g->plat, a->ged_irq, a->ged_irq_flags, VEC_ACPI,
				      (uint8_t)g->bsp_apic_id);
	}
	if (!a->pm1a_evt || a->pm1a_evt > 0xffff || a->pm1_evt_len < 4)
		return guest_fail(g, -ENODEV, "no ACPI power button (no PM1a_EVT_BLK, no GED)");
	wl_acpi_enable(a);
	kshared.pm1_sts_port = a->pm1a_evt;
	io_outw((uint16_t)a->pm1a_evt, PM1_STS_PWRBTN);
	io_outw((uint16_t)(a->pm1a_evt + a->pm1_evt_len / 2), PM1_EN_PWRBTN);
	if (a->sci_int < 16) {
		platform_isa_irq(&g->plat, (uint8_t)a->sci_int, SCI_DEFAULT_FLAGS, &gsi, &flags);
	} else {
		gsi = a->sci_int;
		flags = SCI_DEFAULT_FLAGS;
	}
	return apic_route_gsi(&g->plat, gsi, flags, VEC_ACPI, (uint8_t)g->bsp_apic_id);
}

static int wl_idle(struct guest *g)
{
	int ret = wl_arm_power_button(g);

	if (ret)
		return g->reason[0] ? ret : guest_fail(g, ret, "cannot route the ACPI interrupt");
	glog("idle: waiting for the ACPI power button");
	for (;;) {
		uint64_t seen = kshared.events;

		if ((kshared.pm1_seen & PM1_STS_PWRBTN) || (kshared.ged_seen & GED_EVT_PWR_DOWN))
			return 0;
		kcall_wait(seen);
	}
}

static int wl_smp(struct guest *g)
{
	uint32_t want = g->cmd.have_cpus ? g->cmd.cpus : g->plat.ncpus;
	struct smp_result r;
	int ret = smp_bringup(&g->plat, g->bsp_apic_id, &r);

	glog("smp: %u cpus listed (%s), %u of %u APs checked in, %u distinct LAPIC IDs",
	     g->plat.ncpus, g->plat.cpu_source, r.checked_in, r.started, r.distinct);
	if (ret)
		return guest_fail(g, ret, "AP start-up failed");
	if (r.distinct != want)
		return guest_fail(g, -ETIMEDOUT, "expected %u cpus, %u checked in", want,
				  r.distinct);
	return 0;
}

/* Echo every received byte; returns when Ctrl-D arrives. */
static void wl_echo_loop(void)
{
	for (;;) {
		uint64_t seen = kshared.events;

		while (uart_rx_ready()) {
			uint8_t c = uart_getc();

			if (c == ASCII_EOT)
				return;
			uart_putc((char)c);
			if (c == '\r')
				uart_putc('\n');
		}
		kcall_wait(seen);
	}
}

static int wl_echo(struct guest *g)
{
	int ret;

	apic_lapic_init();
	ret = apic_route_isa(&g->plat, UART_COM1_IRQ, ISA_DEFAULT_FLAGS, VEC_COM1,
			     (uint8_t)g->bsp_apic_id);
	if (ret)
		return guest_fail(g, ret, "cannot route the COM1 interrupt");
	glog("echo: ready, echoing input (Ctrl-D ends)");
	uart_enable_rx_irq();
	wl_echo_loop();
	uart_disable_irqs();
	uart_puts("\n");
	return 0;
}

static int wl_exit(struct guest *g)
{
	uart_printf("testguest: %s: PASS\n", g->cmd.workload);
	io_outl(POWER_DEBUG_EXIT_PORT, g->cmd.exit_code);
	uart_printf("testguest: %s: FAIL debug-exit port 0x%x did not stop the machine\n",
		    g->cmd.workload, POWER_DEBUG_EXIT_PORT);
	kcall_halt();
}

static void wl_cmos_write(uint8_t index, uint8_t v)
{
	io_outb(CMOS_INDEX_PORT, index);
	io_outb(CMOS_DATA_PORT, v);
}

static uint8_t wl_cmos_read(uint8_t index)
{
	io_outb(CMOS_INDEX_PORT, index);
	return io_inb(CMOS_DATA_PORT);
}

static int wl_reset_fail(struct guest *g, int err, const char *why)
{
	wl_cmos_write(CMOS_RESET_MAGIC, 0);
	wl_cmos_write(CMOS_RESET_COUNT, 0);
	return guest_fail(g, err, "%s", why);
}

static int wl_reset(struct guest *g)
{
	uint32_t count = wl_cmos_read(CMOS_RESET_COUNT);
	struct smp_result r;
	int ret;

	if (wl_cmos_read(CMOS_RESET_MAGIC) != RESET_MAGIC || count >= RESET_BOOTS)
		count = 0;
	ret = smp_bringup(&g->plat, g->bsp_apic_id, &r);
	glog("reset: boot %u cpus %u", count + 1, r.distinct);
	if (ret || r.distinct != g->plat.ncpus)
		return wl_reset_fail(g, ret ? ret : -ETIMEDOUT, "not every cpu checked in");
	if (count + 1 >= RESET_BOOTS)
		return wl_reset_fail(g, 0, "");
	wl_cmos_write(CMOS_RESET_COUNT, (uint8_t)(count + 1));
	wl_cmos_write(CMOS_RESET_MAGIC, RESET_MAGIC);
	if (wl_cmos_read(CMOS_RESET_COUNT) != count + 1 ||
	    wl_cmos_read(CMOS_RESET_MAGIC) != RESET_MAGIC)
		return wl_reset_fail(g, -EIO, "no CMOS NVRAM at ports 0x70/0x71 to count boots");
	ret = power_reset(&g->plat);
	return wl_reset_fail(g, ret, "the machine did not reset");
}

static int wl_fault(struct guest *g)
{
	uart_printf("testguest: %s: PASS\n", g->cmd.workload);
	kcall_triple_fault();
	return guest_fail(g, -EIO, "still running after the triple fault");
}

static const struct workload workloads[] = {
	{ "hello", wl_hello },
	{ "info", wl_info },
	{ "idle", wl_idle },
	{ "smp", wl_smp },
	{ "echo", wl_echo },
	{ "exit", wl_exit },
	{ "reset", wl_reset },
	{ "fault", wl_fault },
	{ "rng", wl_rng },
	{ "console", wl_console },
	{ "blk", wl_blk },
	{ "blk-ro", wl_blk_ro },
	{ "blk-bench", wl_blk_bench },
	{ "net", wl_net },
	{ "net-bench", wl_net_bench },
	{ "hostile-ring", wl_hostile_ring },
	{ "balloon", wl_balloon },
	{ "vsock", wl_vsock },
	{ "vsock-flood", wl_vsock_flood },
	{ "vsock-bench", wl_vsock_bench },
};

const struct workload *workloads_find(const char *name)
{
	for (unsigned i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (lib_streq(workloads[i].name, name))
			return &workloads[i];
	return (const struct workload *)0;
}
