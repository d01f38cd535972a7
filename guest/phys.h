/* phys: turn a guest-physical range into a pointer. The guest identity-maps
 * the first 4 GiB, so this is a range check; host unit tests supply their
 * own implementation over a buffer. */
#ifndef TESTGUEST_PHYS_H
#define TESTGUEST_PHYS_H

#include <stdint.h>

#define PHYS_LIMIT 0x100000000ULL

/* Pointer to [addr, addr+len) or NULL if the range is empty, starts at 0,
 * wraps, or is not mapped (at or above 4 GiB). */
const void *phys_map(uint64_t addr, uint64_t len);

#endif
