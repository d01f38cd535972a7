/* gmem: guest physical memory regions and the one bounds-checked accessor. */
#include "gmem.h"

#include <errno.h>
#include <string.h>

int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva)
{
	if (size == 0 || !hva || gpa + size < gpa)
		return -EINVAL;
	if (gm->nregions >= GMEM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gmem_region *r = &gm->regions[i];

		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EINVAL;
	}
	gm->regions[gm->nregions++] = (struct gmem_region){ gpa, size, hva };
	return 0;
}

void *gmem_ptr(const struct gmem *gm, uint64_t gpa, uint64_t len)
{
	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gmem_region *r = &gm->regions[i];

		if (gpa < r->gpa || gpa - r->gpa >= r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_read(const struct gmem *gm, uint64_t gpa, void *dst, size_t len)
{
	const void *p = gmem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gmem_write(const struct gmem *gm, uint64_t gpa, const void *src, size_t len)
{
	void *p = gmem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int gmem_zero(const struct gmem *gm, uint64_t gpa, size_t len)
{
	void *p = gmem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memset(p, 0, len);
	return 0;
}

uint64_t gmem_size(const struct gmem *gm)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < gm->nregions; i++)
		total += gm->regions[i].size;
	return total;
}
