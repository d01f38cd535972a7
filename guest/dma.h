/* dma: the drivers' memory arena. A bump allocator over one RAM range the
 * workloads own (above the image); everything a device may touch (rings,
 * request headers, data buffers) and the drivers' own bookkeeping comes
 * from it. The arena records its physical address, so the same code runs
 * on the guest's identity map and over a malloc'd buffer in host tests. */
#ifndef TESTGUEST_DMA_H
#define TESTGUEST_DMA_H

#include <stddef.h>
#include <stdint.h>

struct dma {
	uint8_t *base;          /* where the arena is addressable */
	uint64_t base_pa;       /* its guest-physical address */
	uint64_t size;
	uint64_t used;
};

void dma_init(struct dma *d, void *base, uint64_t base_pa, uint64_t size);
/* size bytes, zeroed, aligned to align (a power of two, or 0/1 for none);
 * NULL when the arena is exhausted. Never freed. */
void *dma_alloc(struct dma *d, uint64_t size, uint64_t align);
/* Physical address of a pointer into the arena. */
uint64_t dma_pa(const struct dma *d, const volatile void *p);
/* Is [pa, pa+len) inside the arena? */
int dma_contains(const struct dma *d, uint64_t pa, uint64_t len);

#endif
