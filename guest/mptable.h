/* mptable: the Intel MultiProcessor table, used for CPUs, IOAPICs and ISA
 * interrupt routing when the machine has no ACPI. */
#ifndef TESTGUEST_MPTABLE_H
#define TESTGUEST_MPTABLE_H

#include <stdint.h>

#include "platform.h"

#define MPTABLE_HDR_LEN 44

/* Find the "_MP_" floating pointer (EBDA first KiB, 639-640 KiB,
 * 0xF0000-0xFFFFF) and read its configuration table into p.
 * 0, -ENOENT (none), -EINVAL (corrupt, logged). */
int mptable_discover(struct platform *p);
/* Parse a whole "PCMP" configuration table (for unit tests too). */
int mptable_parse(const uint8_t *t, uint32_t len, struct platform *p);

#endif
