/* vctx: set-up and waiting for the virtio workloads (see vctx.h). */
#include "apic.h"
#include "glog.h"
#include "io.h"
#include "kshared.h"
#include "lib.h"
#include "vctx.h"

#define POLL_CHECK_EVERY 256

void *vctx_alloc(struct vctx *c, uint64_t size, uint64_t align)
{
	void *p = dma_alloc(&c->dma, size, align);

	if (!p)
		glog("vctx: arena exhausted (0x%lx of 0x%lx used, 0x%lx wanted)", c->dma.used,
		     c->dma.size, size);
	return p;
}

void *vctx_job(struct guest *g, uint64_t size, struct vctx **c, int *err)
{
	void *job;

	*err = vctx_create(g, c);
	if (*err)
		return NULL;
	job = vctx_alloc(*c, size, 64);
	if (!job)
		*err = guest_fail(g, -ENOMEM, "out of memory");
	return job;
}

uint64_t vctx_pa(const struct vctx *c, const volatile void *p)
{
	return dma_pa(&c->dma, p);
}

/* The arena: RAM from VCTX_HEAP_BASE as far as the memory map allows. */
static int vctx_arena(struct guest *g, struct dma *arena)
{
	uint64_t end = platform_ram_end(&g->plat, VCTX_HEAP_BASE);

	if (end > VCTX_RAM_LIMIT)
		end = VCTX_RAM_LIMIT;
	if (end > VCTX_HEAP_BASE + VCTX_HEAP_MAX)
		end = VCTX_HEAP_BASE + VCTX_HEAP_MAX;
	if (end < VCTX_HEAP_BASE + VCTX_HEAP_MIN)
		return guest_fail(g, -ENOMEM, "need RAM 0x%lx-0x%lx in the boot memory map "
				  "(%u RAM ranges listed)", VCTX_HEAP_BASE,
				  VCTX_HEAP_BASE + VCTX_HEAP_MIN, g->plat.nram);
	dma_init(arena, (void *)(uintptr_t)VCTX_HEAP_BASE, VCTX_HEAP_BASE,
		 end - VCTX_HEAP_BASE);
	return 0;
}

/* Open every virtio function of the scan. */
static int vctx_open_devices(struct vctx *c)
{
	unsigned count[VIRTIO_ID_VSOCK + 1] = { 0 };
	int ret;

	for (unsigned i = 0; i < c->nfns && c->ndevs < VCTX_MAX_DEVS; i++) {
		uint16_t id = virtio_pci_id(&c->fns[i]);
		struct virtio_dev *d = &c->dev[c->ndevs];

		if (!id)
			continue;
		lib_snprintf(d->name, sizeof(d->name), "%s%u", virtio_id_name(id),
			     id <= VIRTIO_ID_VSOCK ? count[id]++ : c->ndevs);
		ret = virtio_open(d, &c->fns[i], (uint8_t)c->g->bsp_apic_id,
				  (uint8_t)(2 * c->ndevs), (uint8_t)(2 * c->ndevs + 1));
		if (ret)
			return guest_fail(c->g, ret, "cannot open %s at 00:%02x.%u", d->name,
					  c->fns[i].dev, c->fns[i].fn);
		glog("virtio: %s at 00:%02x.%u (%04x:%04x), %u MSI-X vectors, %u queues",
		     d->name, c->fns[i].dev, c->fns[i].fn, c->fns[i].vendor,
		     c->fns[i].device, d->msix.nvec, d->num_queues);
		c->ndevs++;
	}
	return 0;
}

int vctx_create(struct guest *g, struct vctx **out)
{
	struct dma arena;
	struct vctx *c;
	char mode[8];
	int ret = vctx_arena(g, &arena);

	if (ret)
		return ret;
	c = dma_alloc(&arena, sizeof(*c), 64);
	if (!c)
		return guest_fail(g, -ENOMEM, "arena too small for the context");
	c->dma = arena;
	c->g = g;
	apic_lapic_init();
	if (tsc_calibrate(&c->tsc, &g->plat))
		return guest_fail(g, -ENODEV, "cannot calibrate the TSC");
	apic_timer_start();
	pci_bus_init(&c->bus, &g->plat);
	if (cmdline_str(&g->cmd, "pci", mode, sizeof(mode)) == 0 && lib_streq(mode, "cf8"))
		c->bus.ecam = 0;
	c->nfns = pci_scan(&c->bus, c->fns, PCI_MAX_FNS);
	glog("vctx: TSC %lu kHz (%s), PCI config %s, %u functions on bus 0, arena 0x%lx+0x%lx",
	     c->tsc.hz / 1000, c->tsc.source, pci_bus_method(&c->bus), c->nfns,
	     c->dma.base_pa, c->dma.size);
	ret = vctx_open_devices(c);
	*out = c;
	return ret;
}

struct virtio_dev *vctx_dev(struct vctx *c, uint16_t id, unsigned nth)
{
	for (unsigned i = 0; i < c->ndevs; i++)
		if (c->dev[i].id == id && nth-- == 0)
			return &c->dev[i];
	return (struct virtio_dev *)0;
}

int vctx_wait(struct vctx *c, bool (*done)(void *), void *arg, uint64_t ms)
{
	uint64_t end = tsc_deadline(&c->tsc, ms);

	for (;;) {
		uint64_t seen = kshared.events;

		if (done(arg))
			return 0;
		if (tsc_passed(end))
			return -ETIMEDOUT;
		kcall_wait(seen);
	}
}

static bool vctx_vq_used(void *arg)
{
	return virtq_has_used(arg);
}

int vctx_wait_used(struct vctx *c, struct virtq *vq, bool by_irq, uint64_t ms)
{
	uint64_t end;

	if (by_irq) {
		virtq_intr(vq, true);
		return vctx_wait(c, vctx_vq_used, vq, ms);
	}
	end = tsc_deadline(&c->tsc, ms);
	for (unsigned i = 0; !virtq_has_used(vq); i++) {
		if (i % POLL_CHECK_EVERY == 0 && tsc_passed(end))
			return virtq_has_used(vq) ? 0 : -ETIMEDOUT;
		io_pause();
	}
	return 0;
}
