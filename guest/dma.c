/* dma: the drivers' bump allocator (see dma.h). */
#include "dma.h"

void dma_init(struct dma *d, void *base, uint64_t base_pa, uint64_t size)
{
	d->base = base;
	d->base_pa = base_pa;
	d->size = size;
	d->used = 0;
}

void *dma_alloc(struct dma *d, uint64_t size, uint64_t align)
{
	uint64_t start = d->used;
	uint8_t *p;

	if (align > 1)
		start = (start + align - 1) & ~(align - 1);
	if (start > d->size || size > d->size - start)
		return (void *)0;
	d->used = start + size;
	p = d->base + start;
	__builtin_memset(p, 0, size);
	return p;
}

uint64_t dma_pa(const struct dma *d, const volatile void *p)
{
	return d->base_pa + (uint64_t)((const volatile uint8_t *)p - d->base);
}

int dma_contains(const struct dma *d, uint64_t pa, uint64_t len)
{
	return pa >= d->base_pa && pa - d->base_pa <= d->size &&
	       len <= d->size - (pa - d->base_pa);
}
