/* gmem: guest physical memory regions and the one bounds-checked accessor. */
#include "gmem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define GMEM_DROP_MIN (64 * 1024)
#define GMEM_PAGE 4096ULL

static int gmem_add(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva, bool anon)
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
	gm->regions[gm->nregions++] = (struct gmem_region){ gpa, size, hva, anon };
	return 0;
}

int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva)
{
	return gmem_add(gm, gpa, size, hva, false);
}

int gmem_add_ram(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva)
{
	if (((uintptr_t)hva | gpa) & (GMEM_PAGE - 1))
		return -EINVAL;
	return gmem_add(gm, gpa, size, hva, true);
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

static const struct gmem_region *gmem_region_of(const struct gmem *gm, uint64_t gpa)
{
	for (unsigned i = 0; i < gm->nregions; i++) {
		if (gpa >= gm->regions[i].gpa && gpa - gm->regions[i].gpa < gm->regions[i].size)
			return &gm->regions[i];
	}
	return NULL;
}

/* Zero the page-aligned middle of a large range by dropping its pages;
 * returns how many bytes of [gpa, gpa+len) stay to be memset at the head
 * (*head) and where the tail starts (*tail). */
static void gmem_drop(const struct gmem_region *r, uint64_t gpa, size_t len,
		      uint64_t *head, uint64_t *tail)
{
	uint64_t start = (gpa + GMEM_PAGE - 1) & ~(GMEM_PAGE - 1);
	uint64_t end = (gpa + len) & ~(GMEM_PAGE - 1);

	*head = len;
	*tail = gpa + len;
	if (!r->anon || len < GMEM_DROP_MIN || end <= start)
		return;
	if (madvise(r->hva + (start - r->gpa), end - start, MADV_DONTNEED) < 0)
		return;
	*head = start - gpa;
	*tail = end;
}

int gmem_zero(const struct gmem *gm, uint64_t gpa, size_t len)
{
	uint8_t *p = gmem_ptr(gm, gpa, len);
	uint64_t head, tail;

	if (!p)
		return -EFAULT;
	gmem_drop(gmem_region_of(gm, gpa), gpa, len, &head, &tail);
	memset(p, 0, head);
	memset(p + (tail - gpa), 0, gpa + len - tail);
	return 0;
}

int gmem_discard(const struct gmem *gm, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r;
	uint8_t *p;

	if (len == 0 || (gpa | len) & (GMEM_PAGE - 1))
		return -EINVAL;
	p = gmem_ptr(gm, gpa, len);
	if (!p)
		return -EFAULT;
	r = gmem_region_of(gm, gpa);
	if (!r->anon) {
		memset(p, 0, len);
		return 0;
	}
	return madvise(p, len, MADV_DONTNEED) < 0 ? -errno : 0;
}

int gmem_gpa(const struct gmem *gm, const void *hva, uint64_t len, uint64_t *gpa)
{
	uintptr_t h = (uintptr_t)hva;

	for (unsigned i = 0; i < gm->nregions; i++) {
		const struct gmem_region *r = &gm->regions[i];
		uintptr_t base = (uintptr_t)r->hva;

		if (h < base || h - base >= r->size)
			continue;
		if (len > r->size - (h - base))
			return -EFAULT;
		*gpa = r->gpa + (h - base);
		return 0;
	}
	return -EFAULT;
}

uint64_t gmem_size(const struct gmem *gm)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < gm->nregions; i++)
		total += gm->regions[i].size;
	return total;
}
