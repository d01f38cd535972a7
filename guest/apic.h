/* apic: the local APIC (enable, ID, periodic timer, INIT/SIPI IPIs) and the
 * IOAPIC redirection entries, programmed from ring 3 through the identity
 * map. Ring-0 handlers only ever write the EOI register. */
#ifndef TESTGUEST_APIC_H
#define TESTGUEST_APIC_H

#include <stdint.h>

#include "platform.h"

/* KVM's emulated APIC timer counts at 1 GHz (divide by 1); timeouts built
 * on it are generous, never asserted precisely. */
#define APIC_TIMER_BUS_HZ 1000000000u
#define APIC_TICK_HZ      100u

/* Software-enable this CPU's LAPIC (SVR), TPR 0, mask LINT0/timer/error. */
void apic_lapic_init(void);
uint32_t apic_lapic_id(void);
void apic_timer_start(void);
void apic_timer_stop(void);
/* Masked one-shot count-down from count (for calibration), and the
 * current count. */
void apic_timer_oneshot(uint32_t count);
uint32_t apic_timer_count(void);
/* Sleep (wait-for-interrupt) for at least n ticks; the timer must run. */
void apic_sleep_ticks(uint64_t n);
/* INIT / STARTUP IPI to one APIC ID. 0 or -ETIMEDOUT (ICR stays busy). */
int apic_send_init(uint8_t apic_id);
int apic_send_sipi(uint8_t apic_id, uint8_t vector);
/* Route a GSI / an ISA IRQ (through the overrides) to vector on the CPU
 * with APIC ID dest, unmasked. 0 or -ENODEV (no IOAPIC has that GSI). */
int apic_route_gsi(const struct platform *p, uint32_t gsi, uint16_t flags,
		   uint8_t vector, uint8_t dest);
int apic_route_isa(const struct platform *p, uint8_t irq, uint16_t default_flags,
		   uint8_t vector, uint8_t dest);
void apic_mask_gsi(const struct platform *p, uint32_t gsi);

#endif
