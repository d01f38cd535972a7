/* fake_ring_cmocka: the fake_ring failure hook for cmocka unit tests (it
 * owns nothing else). Include after <cmocka.h>; pass fake_ring_fail_test to
 * fake_ring_mem_init so that a guest-memory access the fake driver makes
 * that fails, or an exhausted allocator, fails the running test there. */
#ifndef VMKIT_FAKE_RING_CMOCKA_H
#define VMKIT_FAKE_RING_CMOCKA_H

#include "tests/fake/fake_ring.h"

static inline void fake_ring_fail_test(const char *what, uint64_t gpa, int err)
{
	fail_msg("fake ring: %s at 0x%llx failed (%d)", what, (unsigned long long)gpa, err);
}

#endif
