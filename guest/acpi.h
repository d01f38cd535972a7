/* acpi: finds the RSDP, walks the XSDT/RSDT and reads the FADT (PM blocks,
 * SCI, reset and sleep registers, DSDT), the MADT (CPUs, IOAPICs, interrupt
 * source overrides), the MCFG (PCI ECAM) and the DSDT (_S5_ sleep type, the HW-reduced GED).
 * Everything read is checked: lengths, checksums, addresses below 4 GiB. */
#ifndef TESTGUEST_ACPI_H
#define TESTGUEST_ACPI_H

#include <stdint.h>

#include "platform.h"

#define ACPI_HDR_LEN   36
#define ACPI_TABLE_MAX 0x1000000 /* refuse tables claiming more than 16 MiB */

/* Locate the RSDP: at hint if non-zero, else scan 0xE0000-0xFFFFF.
 * 0 / -ENOENT / -EINVAL (bad checksum at hint). */
int acpi_find_rsdp(uint64_t hint, uint64_t *rsdp);
/* Fill p from the tables under the RSDP. 0 or -errno (logged). */
int acpi_discover(struct platform *p, uint64_t rsdp);

/* Pure parsers over a whole table (header included), for unit tests too. */
int acpi_parse_fadt(const uint8_t *t, uint32_t len, struct platform_acpi *a);
int acpi_parse_madt(const uint8_t *t, uint32_t len, struct platform *p);
/* MCFG: the ECAM of segment 0 covering bus 0 (below 4 GiB) into p. 0 or
 * -EINVAL (bad table length; unusable entries are logged and skipped). */
int acpi_parse_mcfg(const uint8_t *t, uint32_t len, struct platform *p);
/* SLP_TYP of \_S5_ (first package element) in an AML block. 0 / -ENOENT. */
int acpi_find_s5(const uint8_t *aml, uint32_t len, uint8_t *slp_typ);
/* The GED (_HID "ACPI0013"): its interrupt and event-selector address.
 * 0 / -ENOENT. */
int acpi_find_ged(const uint8_t *aml, uint32_t len, struct platform_acpi *a);
/* Decode a 12-byte GAS. */
void acpi_parse_gas(const uint8_t *g, struct platform_gas *out);

#endif
