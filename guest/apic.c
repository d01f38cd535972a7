/* apic: LAPIC and IOAPIC programming (see apic.h). */
#include "apic.h"
#include "glog.h"
#include "io.h"
#include "kshared.h"
#include "lib.h"

#define LAPIC_ID        0x020
#define LAPIC_TPR       0x080
#define LAPIC_SVR       0x0f0
#define LAPIC_ICR_LO    0x300
#define LAPIC_ICR_HI    0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_ICR 0x380
#define LAPIC_TIMER_CCR 0x390
#define LAPIC_TIMER_DCR 0x3e0

#define LAPIC_SVR_ENABLE     0x100
#define LAPIC_LVT_MASKED     0x10000
#define LAPIC_TIMER_PERIODIC 0x20000
#define LAPIC_DCR_DIV1       0xb
#define LAPIC_ICR_BUSY       0x1000
#define LAPIC_ICR_INIT       0x4500  /* INIT, level assert */
#define LAPIC_ICR_SIPI       0x4600  /* STARTUP, level assert */
#define LAPIC_ICR_SPIN_MAX   100000

#define IOAPIC_REGSEL   0x00
#define IOAPIC_WIN      0x10
#define IOAPIC_VER      0x01
#define IOAPIC_REDIR    0x10
#define IOAPIC_POL_LOW  (1u << 13)
#define IOAPIC_LEVEL    (1u << 15)
#define IOAPIC_MASKED   (1u << 16)

static uint32_t apic_lapic_read(uint32_t reg)
{
	return io_mmio_read32(LAPIC_BASE + reg);
}

static void apic_lapic_write(uint32_t reg, uint32_t v)
{
	io_mmio_write32(LAPIC_BASE + reg, v);
}

void apic_lapic_init(void)
{
	apic_lapic_write(LAPIC_SVR, LAPIC_SVR_ENABLE | VEC_SPURIOUS);
	apic_lapic_write(LAPIC_TPR, 0);
	apic_lapic_write(LAPIC_LVT_LINT0, LAPIC_LVT_MASKED);
	apic_lapic_write(LAPIC_LVT_ERROR, LAPIC_LVT_MASKED);
	apic_lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | VEC_TIMER);
}

uint32_t apic_lapic_id(void)
{
	return apic_lapic_read(LAPIC_ID) >> 24;
}

void apic_timer_start(void)
{
	apic_lapic_write(LAPIC_TIMER_DCR, LAPIC_DCR_DIV1);
	apic_lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_PERIODIC | VEC_TIMER);
	apic_lapic_write(LAPIC_TIMER_ICR, APIC_TIMER_BUS_HZ / APIC_TICK_HZ);
}

void apic_timer_oneshot(uint32_t count)
{
	apic_lapic_write(LAPIC_TIMER_DCR, LAPIC_DCR_DIV1);
	apic_lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | VEC_TIMER);
	apic_lapic_write(LAPIC_TIMER_ICR, count);
}

uint32_t apic_timer_count(void)
{
	return apic_lapic_read(LAPIC_TIMER_CCR);
}

void apic_timer_stop(void)
{
	apic_lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED | VEC_TIMER);
	apic_lapic_write(LAPIC_TIMER_ICR, 0);
}

void apic_sleep_ticks(uint64_t n)
{
	uint64_t end = kshared.ticks + n;

	for (;;) {
		uint64_t seen = kshared.events;

		if (kshared.ticks >= end)
			return;
		kcall_wait(seen);
	}
}

static int apic_icr_idle(void)
{
	for (unsigned i = 0; i < LAPIC_ICR_SPIN_MAX; i++) {
		if (!(apic_lapic_read(LAPIC_ICR_LO) & LAPIC_ICR_BUSY))
			return 0;
		io_pause();
	}
	glog("apic: ICR stays busy, IPI not delivered");
	return -ETIMEDOUT;
}

static int apic_send_ipi(uint8_t apic_id, uint32_t icr_lo)
{
	int ret = apic_icr_idle();

	if (ret)
		return ret;
	apic_lapic_write(LAPIC_ICR_HI, (uint32_t)apic_id << 24);
	apic_lapic_write(LAPIC_ICR_LO, icr_lo);
	return apic_icr_idle();
}

int apic_send_init(uint8_t apic_id)
{
	return apic_send_ipi(apic_id, LAPIC_ICR_INIT);
}

int apic_send_sipi(uint8_t apic_id, uint8_t vector)
{
	return apic_send_ipi(apic_id, LAPIC_ICR_SIPI | vector);
}

static uint32_t apic_ioapic_read(uint32_t base, uint32_t reg)
{
	io_mmio_write32(base + IOAPIC_REGSEL, reg);
	return io_mmio_read32(base + IOAPIC_WIN);
}

static void apic_ioapic_write(uint32_t base, uint32_t reg, uint32_t v)
{
	io_mmio_write32(base + IOAPIC_REGSEL, reg);
	io_mmio_write32(base + IOAPIC_WIN, v);
}

/* The IOAPIC serving gsi, and the pin on it; NULL if none. */
static const struct platform_ioapic *apic_ioapic_for(const struct platform *p,
						     uint32_t gsi, uint32_t *pin)
{
	for (uint32_t i = 0; i < p->nioapics; i++) {
		const struct platform_ioapic *io = &p->ioapic[i];
		uint32_t pins = ((apic_ioapic_read(io->addr, IOAPIC_VER) >> 16) & 0xff) + 1;

		if (gsi >= io->gsi_base && gsi - io->gsi_base < pins) {
			*pin = gsi - io->gsi_base;
			return io;
		}
	}
	return (const struct platform_ioapic *)0;
}

int apic_route_gsi(const struct platform *p, uint32_t gsi, uint16_t flags,
		   uint8_t vector, uint8_t dest)
{
	uint32_t pin, lo = vector;
	const struct platform_ioapic *io = apic_ioapic_for(p, gsi, &pin);

	if (!io) {
		glog("apic: no IOAPIC serves GSI %u", gsi);
		return -ENODEV;
	}
	if ((flags & PLATFORM_POL_MASK) == PLATFORM_POL_LOW)
		lo |= IOAPIC_POL_LOW;
	if ((flags & PLATFORM_TRIG_MASK) == PLATFORM_TRIG_LEVEL)
		lo |= IOAPIC_LEVEL;
	apic_ioapic_write(io->addr, IOAPIC_REDIR + 2 * pin, lo | IOAPIC_MASKED);
	apic_ioapic_write(io->addr, IOAPIC_REDIR + 2 * pin + 1, (uint32_t)dest << 24);
	apic_ioapic_write(io->addr, IOAPIC_REDIR + 2 * pin, lo);
	return 0;
}

int apic_route_isa(const struct platform *p, uint8_t irq, uint16_t default_flags,
		   uint8_t vector, uint8_t dest)
{
	uint32_t gsi;
	uint16_t flags;

	platform_isa_irq(p, irq, default_flags, &gsi, &flags);
	return apic_route_gsi(p, gsi, flags, vector, dest);
}

void apic_mask_gsi(const struct platform *p, uint32_t gsi)
{
	uint32_t pin;
	const struct platform_ioapic *io = apic_ioapic_for(p, gsi, &pin);

	if (io)
		apic_ioapic_write(io->addr, IOAPIC_REDIR + 2 * pin, IOAPIC_MASKED);
}
