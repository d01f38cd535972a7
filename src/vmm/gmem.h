/* gmem: guest physical memory as the host sees it. The one bounds-checked
 * accessor for guest addresses: every range is checked whole, with overflow,
 * and never spans two regions. Unit tests back it with plain malloc'd buffers. */
#ifndef VMKIT_GMEM_H
#define VMKIT_GMEM_H

#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 4

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	int fd;              /* backing memfd, or -1 */
	uint64_t fd_offset;  /* where the region starts in fd */
};

struct gmem {
	struct gmem_region regions[GMEM_MAX_REGIONS];
	unsigned nregions;
};

/* Add a region; regions must not overlap. 0, -ENOSPC or -EINVAL. */
int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva);
/* Same, for RAM backed by a shared memfd: large zeroed ranges are then
 * punched out of the file instead of written (no page is touched). */
int gmem_add_region_fd(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva,
		       int fd, uint64_t fd_offset);
/* Host pointer to [gpa, gpa+len), or NULL unless the whole range is RAM. */
void *gmem_ptr(const struct gmem *gm, uint64_t gpa, uint64_t len);
/* Copy in/out of guest memory; 0 or -EFAULT. */
int gmem_read(const struct gmem *gm, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct gmem *gm, uint64_t gpa, const void *src, size_t len);
int gmem_zero(const struct gmem *gm, uint64_t gpa, size_t len);
/* Total bytes of RAM over all regions. */
uint64_t gmem_size(const struct gmem *gm);

#endif
