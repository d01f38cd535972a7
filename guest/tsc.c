/* tsc: TSC calibration and time arithmetic for the workloads (see tsc.h). */
#include "apic.h"
#include "glog.h"
#include "io.h"
#include "lib.h"
#include "tsc.h"

#define PM_TIMER_HZ         3579545ULL
#define PM_CALIB_TICKS      (PM_TIMER_HZ / 20)      /* 50 ms */
#define FADT_FLAG_TMR_EXT   (1u << 8)
#define APIC_CALIB_COUNT    50000000u               /* 50 ms at 1 GHz */
#define CALIB_SPIN_MAX      100000000u

uint64_t tsc_now(void)
{
	return io_rdtsc();
}

uint64_t tsc_rate(uint64_t tsc_ticks, uint64_t ref_ticks, uint64_t ref_hz)
{
	if (!ref_ticks)
		return 0;
	/* 128-bit free: split to avoid overflow of tsc_ticks * ref_hz. */
	return tsc_ticks / ref_ticks * ref_hz + tsc_ticks % ref_ticks * ref_hz / ref_ticks;
}

uint64_t tsc_deadline(const struct tsc *t, uint64_t ms)
{
	return tsc_now() + t->hz / 1000 * ms;
}

bool tsc_passed(uint64_t deadline)
{
	return (int64_t)(tsc_now() - deadline) >= 0;
}

uint64_t tsc_to_us(const struct tsc *t, uint64_t ticks)
{
	return t->hz ? ticks / t->hz * 1000000 + ticks % t->hz * 1000000 / t->hz : 0;
}

static int tsc_by_pm_timer(struct tsc *t, const struct platform *p)
{
	uint32_t mask = p->acpi.flags & FADT_FLAG_TMR_EXT ? 0xffffffffu : 0xffffffu;
	uint16_t port = (uint16_t)p->acpi.pm_tmr;
	uint32_t pm0 = io_inl(port) & mask, dpm = 0;
	uint64_t tsc0 = tsc_now(), tsc1 = tsc0;

	for (uint32_t i = 0; i < CALIB_SPIN_MAX && dpm < PM_CALIB_TICKS; i++) {
		dpm = ((io_inl(port) & mask) - pm0) & mask;
		tsc1 = tsc_now();
	}
	t->hz = tsc_rate(tsc1 - tsc0, dpm, PM_TIMER_HZ);
	t->source = "ACPI PM timer";
	return dpm >= PM_CALIB_TICKS ? 0 : -ENODEV;
}

static int tsc_by_apic(struct tsc *t)
{
	uint32_t elapsed = 0;
	uint64_t tsc0, tsc1;

	apic_timer_oneshot(0xffffffffu);
	tsc0 = tsc_now();
	tsc1 = tsc0;
	for (uint32_t i = 0; i < CALIB_SPIN_MAX && elapsed < APIC_CALIB_COUNT; i++) {
		elapsed = 0xffffffffu - apic_timer_count();
		tsc1 = tsc_now();
	}
	apic_timer_stop();
	t->hz = tsc_rate(tsc1 - tsc0, elapsed, APIC_TIMER_BUS_HZ);
	t->source = "LAPIC timer (1 GHz assumed)";
	return elapsed >= APIC_CALIB_COUNT ? 0 : -ENODEV;
}

int tsc_calibrate(struct tsc *t, const struct platform *p)
{
	int ret;

	if (p->acpi.pm_tmr && p->acpi.pm_tmr < 0xffff)
		ret = tsc_by_pm_timer(t, p);
	else
		ret = tsc_by_apic(t);
	if (!ret && t->hz < 1000000)
		ret = -ENODEV;
	if (ret)
		glog("tsc: calibration against the %s failed", t->source);
	return ret;
}
