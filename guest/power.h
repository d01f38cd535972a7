/* power: ending the guest. ACPI S5 power-off (PM1a_CNT or the HW-reduced
 * sleep control register), reset (FADT reset register, then 0xCF9, then
 * the keyboard controller), and the isa-debug-exit port fallbacks. */
#ifndef TESTGUEST_POWER_H
#define TESTGUEST_POWER_H

#include <stdint.h>

#include "platform.h"

#define POWER_DEBUG_EXIT_PORT 0xf4
#define POWER_EXIT_FAIL       0x7e  /* VMM exit status (0x7e << 1) | 1 = 253 */
#define POWER_EXIT_PASS       0x00  /* fallback after PASS: exit status 1 */

/* Power off through ACPI S5; if the machine is still running, debug-exit
 * with POWER_EXIT_PASS and halt. */
__attribute__((noreturn)) void power_off(const struct platform *p);
/* Debug-exit with code, then halt this CPU for good. */
__attribute__((noreturn)) void power_debug_exit(uint32_t code);
/* Reset the machine. Returns -EIO only if every method failed. */
int power_reset(const struct platform *p);
/* Write v to a GAS register (system memory or system I/O). -EINVAL if the
 * address space or width is unsupported. */
int power_gas_write(const struct platform_gas *g, uint32_t v);

#endif
