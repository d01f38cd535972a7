/* vctx: the context of a virtio workload. Owns the drivers' memory arena
 * (RAM from 16 MiB, bounded by the boot memory map), the calibrated TSC,
 * the PCI bus and its scan, and every virtio-pci function found on bus 0,
 * opened with two MSI-X counting vectors each (configuration, queues) to
 * the BSP. Also the waiting helpers: sleep on interrupts ('WAIT') with the
 * 100 Hz LAPIC timer bounding every sleep, or poll. And a workload's
 * start: the context plus its job state (vctx_job). */
#ifndef TESTGUEST_VCTX_H
#define TESTGUEST_VCTX_H

#include <stdbool.h>
#include <stdint.h>

#include "dma.h"
#include "guest.h"
#include "pci.h"
#include "tsc.h"
#include "virtio.h"

#define VCTX_MAX_DEVS  8
#define VCTX_HEAP_BASE 0x1000000UL     /* 16 MiB: above the image and stacks */
#define VCTX_HEAP_MIN  0x800000UL      /* 8 MiB */
#define VCTX_HEAP_MAX  0x6000000UL     /* 96 MiB */
#define VCTX_RAM_LIMIT 0xc0000000UL    /* the identity-mapped RAM part */

struct vctx {
	struct guest *g;
	struct dma dma;
	struct tsc tsc;
	struct pci_bus bus;
	unsigned nfns;
	struct pci_fn fns[PCI_MAX_FNS];
	unsigned ndevs;
	struct virtio_dev dev[VCTX_MAX_DEVS];
};

/* Set everything up (arena, clock, LAPIC timer, PCI scan, open every
 * virtio function). pci=cf8 on the command line forces configuration
 * mechanism 1 even with an MCFG. 0 or -errno with guest_fail() done. */
int vctx_create(struct guest *g, struct vctx **out);
/* The nth (0-based) virtio device of this type, or NULL. */
struct virtio_dev *vctx_dev(struct vctx *c, uint16_t id, unsigned nth);
/* Memory from the arena; NULL (logged) when exhausted. */
void *vctx_alloc(struct vctx *c, uint64_t size, uint64_t align);
/* A workload's start: the context (vctx_create) and size bytes of job
 * state from its arena, 64-byte aligned. The job with *c set; or NULL with
 * *err the failure, already reported through guest_fail(). */
void *vctx_job(struct guest *g, uint64_t size, struct vctx **c, int *err);
uint64_t vctx_pa(const struct vctx *c, const volatile void *p);

/* Sleep on interrupts until done(arg) holds: 0, or -ETIMEDOUT after ms. */
int vctx_wait(struct vctx *c, bool (*done)(void *), void *arg, uint64_t ms);
/* Wait for a used buffer on vq: by interrupt (asks for one first, then
 * sleeps) or by polling. 0 or -ETIMEDOUT. */
int vctx_wait_used(struct vctx *c, struct virtq *vq, bool by_irq, uint64_t ms);

#endif
