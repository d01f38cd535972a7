/* le_bytes: little-endian readers for tests that check guest-visible
 * structures byte by byte (ACPI tables, AML encodings). */
#ifndef VMKIT_TEST_LE_BYTES_H
#define VMKIT_TEST_LE_BYTES_H

#include <stdint.h>

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static inline uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

#endif
