/* tsc: the workloads' clock. The TSC is read in ring 3 (rdtsc) and
 * calibrated once against the ACPI PM timer (3.579545 MHz, FADT PM_TMR_BLK)
 * over about 50 ms; without a PM timer, against the local APIC timer
 * counting down at KVM's 1 GHz APIC bus (a one-shot, masked count). */
#ifndef TESTGUEST_TSC_H
#define TESTGUEST_TSC_H

#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

struct tsc {
	uint64_t hz;            /* TSC ticks per second */
	const char *source;     /* what it was calibrated against */
};

/* Calibrate; 0 or -ENODEV (no usable reference, or a TSC that does not
 * move). Run it before the periodic LAPIC timer is started. */
int tsc_calibrate(struct tsc *t, const struct platform *p);
uint64_t tsc_now(void);
/* The TSC value ms milliseconds from now. */
uint64_t tsc_deadline(const struct tsc *t, uint64_t ms);
bool tsc_passed(uint64_t deadline);
/* Ticks -> microseconds (no overflow for spans below ~5 hours at 10 GHz). */
uint64_t tsc_to_us(const struct tsc *t, uint64_t ticks);
/* Pure: the TSC rate from a measured span against a reference clock. */
uint64_t tsc_rate(uint64_t tsc_ticks, uint64_t ref_ticks, uint64_t ref_hz);

#endif
