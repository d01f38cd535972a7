/* guest: the state of one boot of the test guest, owned by guest_main()
 * on the BSP's ring-3 stack and handed to the workloads. */
#ifndef TESTGUEST_GUEST_H
#define TESTGUEST_GUEST_H

#include <stdint.h>

#include "cmdline.h"
#include "platform.h"

#define GUEST_REASON_MAX 128

struct guest {
	struct cmdline cmd;
	struct platform plat;
	uint32_t bsp_apic_id;
	int discover_err;           /* 0, or why ACPI/MP discovery failed */
	char reason[GUEST_REASON_MAX];
};

/* Record a FAIL reason; returns err (a -errno) for `return guest_fail(...)`. */
int guest_fail(struct guest *g, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Ring-3 entry of the BSP (from entry.S). */
__attribute__((noreturn)) void guest_main(uint64_t start_info);

#endif
