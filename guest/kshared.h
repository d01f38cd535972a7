/* kshared: the state ring 0 and ring 3 share. Ring-0 interrupt handlers
 * (traps.S) bump the counters (all events, timer ticks, each MSI-X vector)
 * and record ACPI event bits; ring-3 code reads them and waits for changes
 * with kcall_wait(). Also the AP check-in table.
 * Field offsets are fixed in layout.h for the assembly side. */
#ifndef TESTGUEST_KSHARED_H
#define TESTGUEST_KSHARED_H

#include <stdint.h>

#include "layout.h"

struct kshared {
	volatile uint64_t events;        /* KS_EVENTS */
	volatile uint64_t ticks;         /* KS_TICKS */
	volatile uint32_t pm1_sts_port;  /* KS_PM1_STS_PORT */
	volatile uint32_t pm1_seen;      /* KS_PM1_SEEN */
	volatile uint64_t ged_addr;      /* KS_GED_ADDR */
	volatile uint32_t ged_seen;      /* KS_GED_SEEN */
	volatile uint32_t ap_next;       /* KS_AP_NEXT */
	/* Interrupts seen on vector VEC_MSIX_BASE + i. */
	volatile uint64_t msix[VEC_MSIX_COUNT]; /* KS_MSIX */
	/* AP check-in, written by each AP in ring 3. */
	volatile uint32_t checked_in;
	volatile uint32_t apic_id[GUEST_MAX_CPUS];
	volatile uint8_t present[GUEST_MAX_CPUS];
	/* Name of the running workload, for ring-0 fault reports. */
	const char *workload;
};

extern struct kshared kshared;

/* Sleep in ring 0 until an interrupt arrives, unless kshared.events already
 * differs from seen (checked with interrupts off, so no wake-up is lost). */
static inline void kcall_wait(uint64_t seen)
{
	__asm__ volatile("hlt" : : "a"((uint64_t)KOP_WAIT), "d"(seen) : "memory");
}

/* Stop this CPU for good (cli; hlt in ring 0). */
static inline __attribute__((noreturn)) void kcall_halt(void)
{
	for (;;)
		__asm__ volatile("hlt" : : "a"((uint64_t)KOP_HALT) : "memory");
}

/* Load an empty IDT in ring 0 and fault again: a triple fault. */
static inline void kcall_triple_fault(void)
{
	__asm__ volatile("ud2" : : "a"((uint64_t)KOP_TRIPLE_FAULT) : "memory");
}

#endif
