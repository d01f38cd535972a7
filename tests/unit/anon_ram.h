/* anon_ram: fake guest RAM for unit tests that give memory back (test_gmem,
 * test_vballoon): a private anonymous mapping, as vmkit-vmm's guest RAM is,
 * and how much of it is resident (mincore), so that a test can see pages
 * dropped. Failures fail the test. */
#ifndef VMKIT_TEST_ANON_RAM_H
#define VMKIT_TEST_ANON_RAM_H

#include <stddef.h>
#include <stdint.h>

/* size bytes, page-aligned, zeroed, not yet resident. */
uint8_t *anon_ram_map(size_t size);
/* Bytes of [p, p+size) resident in host memory. */
size_t anon_ram_resident(const uint8_t *p, size_t size);

#endif
