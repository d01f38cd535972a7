/* gmem: guest physical memory as the host sees it. The one bounds-checked
 * accessor for guest addresses: every range is checked whole, with overflow,
 * and never spans two regions. Unit tests back it with plain malloc'd buffers. */
#ifndef VMKIT_GMEM_H
#define VMKIT_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 4

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	bool anon;           /* a private anonymous mapping (MADV_DONTNEED zeroes) */
};

struct gmem {
	struct gmem_region regions[GMEM_MAX_REGIONS];
	unsigned nregions;
};

/* Add a region; regions must not overlap. 0, -ENOSPC or -EINVAL. */
int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva);
/* Same, for RAM in a private anonymous mapping (gpa and hva page-aligned,
 * else -EINVAL): large zeroed ranges and discards are then given back to
 * the host with madvise(MADV_DONTNEED) instead of written (they read as
 * zero after). */
int gmem_add_ram(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva);
/* Host pointer to [gpa, gpa+len), or NULL unless the whole range is RAM. */
void *gmem_ptr(const struct gmem *gm, uint64_t gpa, uint64_t len);
/* Copy in/out of guest memory; 0 or -EFAULT. */
int gmem_read(const struct gmem *gm, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct gmem *gm, uint64_t gpa, const void *src, size_t len);
int gmem_zero(const struct gmem *gm, uint64_t gpa, size_t len);
/* Give the host back the memory of [gpa, gpa+len) (the balloon): in RAM
 * added with gmem_add_ram() the pages are dropped (MADV_DONTNEED: the host
 * frees them, KVM's MMU notifier unmaps them from the guest), elsewhere
 * they are zeroed; either way the range reads as zero afterwards.
 * gpa and len must be 4 KiB multiples (-EINVAL), len > 0, and the range
 * wholly inside one region (-EFAULT). 0, or madvise's -errno. */
int gmem_discard(const struct gmem *gm, uint64_t gpa, uint64_t len);
/* The guest address of host pointer hva when [hva, hva+len) lies inside
 * one region: 0 with *gpa set, else -EFAULT. */
int gmem_gpa(const struct gmem *gm, const void *hva, uint64_t len, uint64_t *gpa);
/* Total bytes of RAM over all regions. */
uint64_t gmem_size(const struct gmem *gm);

#endif
