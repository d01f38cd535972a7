/* smp: brings up the application processors listed by the platform (MADT
 * or MP table) with INIT-SIPI-SIPI through the trampoline at TRAMP_ADDR,
 * and collects their check-ins (CPU index + LAPIC ID) in kshared. */
#ifndef TESTGUEST_SMP_H
#define TESTGUEST_SMP_H

#include <stdint.h>

#include "platform.h"

#define SMP_TIMEOUT_TICKS 2000  /* 20 s at APIC_TICK_HZ */

struct smp_result {
	uint32_t started;   /* APs sent INIT/SIPI */
	uint32_t checked_in;/* APs that checked in */
	uint32_t distinct;  /* distinct LAPIC IDs checked in, BSP included */
};

/* Start every listed CPU except the BSP and wait (LAPIC timer, up to
 * SMP_TIMEOUT_TICKS) until all have checked in. 0 or -errno (logged). */
int smp_bringup(const struct platform *p, uint32_t bsp_apic_id, struct smp_result *r);

/* Ring-3 entry of each AP (from entry.S): check in, then idle. */
__attribute__((noreturn)) void smp_ap_main(uint32_t index);

#endif
