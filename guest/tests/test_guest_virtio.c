/* test_guest_virtio: host-side cmocka tests of the test guest's pure
 * virtio-pci driver code: PCI capability walk and BAR decoding over config
 * space images, virtio vendor capability parsing, the split virtqueue
 * (chains, indirect tables, free list, used-id checks, event-idx and flag
 * suppression, 16-bit index wrap-around) against a fake device on a
 * malloc'd ring, the block/frame patterns, the arena and TSC arithmetic. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dma.h"
#include "../glog.h"
#include "../lib.h"
#include "../pci.h"
#include "../tsc.h"
#include "../virtio.h"
#include "../virtq.h"
#include "../vpat.h"

static unsigned nlogs;

void glog(const char *fmt, ...)
{
	(void)fmt;
	nlogs++;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

/* ---- config space images ---- */

/* A vendor capability at pos: type, BAR, offset, length (+ extra u32). */
static void vcap(uint8_t *cfg, uint8_t pos, uint8_t next, uint8_t len, uint8_t type,
		 uint8_t bar, uint32_t off, uint32_t length, uint32_t extra)
{
	cfg[pos] = PCI_CAP_ID_VENDOR;
	cfg[pos + 1] = next;
	cfg[pos + 2] = len;
	cfg[pos + 3] = type;
	cfg[pos + 4] = bar;
	put32(cfg + pos + 8, off);
	put32(cfg + pos + 12, length);
	if (len >= 20)
		put32(cfg + pos + 16, extra);
}

/* Like QEMU's modern virtio-pci: MSI-X, then common/ISR/device/notify/pcicfg
 * in BAR 4 (64-bit). */
static void virtio_cfg(uint8_t *cfg)
{
	memset(cfg, 0, PCI_CFG_SIZE);
	put16(cfg + PCI_VENDOR_ID, 0x1af4);
	put16(cfg + PCI_DEVICE_ID, 0x1042);
	put16(cfg + PCI_STATUS, PCI_STATUS_CAPS);
	put32(cfg + PCI_BAR0 + 4, 0xfebd0000);          /* BAR1: 32-bit memory */
	put32(cfg + PCI_BAR0 + 16, 0xfe000004);         /* BAR4: 64-bit memory */
	put32(cfg + PCI_BAR0 + 20, 0);
	cfg[PCI_CAP_PTR] = 0x98;
	cfg[0x98] = PCI_CAP_ID_MSIX;
	cfg[0x99] = 0x84;
	vcap(cfg, 0x84, 0x70, 20, VIRTIO_CAP_PCI_CFG, 0, 0, 0, 0);
	vcap(cfg, 0x70, 0x60, 20, VIRTIO_CAP_NOTIFY, 4, 0x3000, 0x1000, 4);
	vcap(cfg, 0x60, 0x50, 16, VIRTIO_CAP_DEVICE, 4, 0x2000, 0x1000, 0);
	vcap(cfg, 0x50, 0x40, 16, VIRTIO_CAP_ISR, 4, 0x1000, 0x1000, 0);
	vcap(cfg, 0x40, 0x00, 16, VIRTIO_CAP_COMMON, 4, 0x0000, 0x1000, 0);
}

static void test_pci_caps(void **state)
{
	uint8_t cfg[PCI_CFG_SIZE], pos[PCI_CAPS_MAX];

	(void)state;
	virtio_cfg(cfg);
	assert_int_equal(pci_caps_list(cfg, pos, PCI_CAPS_MAX), 6);
	assert_int_equal(pos[0], 0x98);
	assert_int_equal(pos[5], 0x40);
	assert_int_equal(pci_caps_list(cfg, pos, 2), 2);
	assert_int_equal(pci_cap_find(cfg, PCI_CAP_ID_MSIX, 0), 0x98);
	assert_int_equal(pci_cap_find(cfg, PCI_CAP_ID_VENDOR, 0), 0x84);
	assert_int_equal(pci_cap_find(cfg, PCI_CAP_ID_VENDOR, 0x84), 0x70);
	assert_int_equal(pci_cap_find(cfg, PCI_CAP_ID_VENDOR, 0x40), 0);
	assert_int_equal(pci_cap_find(cfg, 0x05, 0), 0);
	/* the low two bits of pointers are reserved */
	cfg[PCI_CAP_PTR] = 0x9b;
	assert_int_equal(pci_caps_list(cfg, pos, PCI_CAPS_MAX), 6);
	/* no capability list */
	put16(cfg + PCI_STATUS, 0);
	assert_int_equal(pci_caps_list(cfg, pos, PCI_CAPS_MAX), 0);
}

static void test_pci_caps_hostile(void **state)
{
	uint8_t cfg[PCI_CFG_SIZE], pos[PCI_CAPS_MAX];

	(void)state;
	virtio_cfg(cfg);
	cfg[0x41] = 0x84;                       /* a loop back into the list */
	assert_int_equal(pci_caps_list(cfg, pos, PCI_CAPS_MAX), -EINVAL);
	assert_int_equal(pci_cap_find(cfg, PCI_CAP_ID_MSIX, 0), 0);
	virtio_cfg(cfg);
	cfg[0x41] = 0x3c;                       /* into the header */
	assert_int_equal(pci_caps_list(cfg, pos, PCI_CAPS_MAX), -EINVAL);
	virtio_cfg(cfg);
	cfg[0x41] = 0x40;                       /* points at itself */
	assert_int_equal(pci_caps_list(cfg, pos, PCI_CAPS_MAX), -EINVAL);
	/* 48 distinct capabilities are the most that fit */
	memset(cfg, 0, sizeof(cfg));
	put16(cfg + PCI_STATUS, PCI_STATUS_CAPS);
	cfg[PCI_CAP_PTR] = 0x40;
	for (unsigned p = 0x40; p < 0x100; p += 4)
		cfg[p + 1] = (uint8_t)(p + 4 < 0x100 ? p + 4 : 0);
	assert_int_equal(pci_caps_list(cfg, pos, PCI_CAPS_MAX), PCI_CAPS_MAX);
}

static void test_pci_bars(void **state)
{
	uint8_t cfg[PCI_CFG_SIZE];
	uint64_t a;
	bool is64;

	(void)state;
	virtio_cfg(cfg);
	assert_int_equal(pci_bar_decode(cfg, 1, &a, &is64), 0);
	assert_true(a == 0xfebd0000 && !is64);
	assert_int_equal(pci_bar_decode(cfg, 4, &a, &is64), 0);
	assert_true(a == 0xfe000000 && is64);
	put32(cfg + PCI_BAR0 + 20, 0x80);       /* high half: above 4 GiB */
	assert_int_equal(pci_bar_decode(cfg, 4, &a, &is64), 0);
	assert_true(a == 0x80fe000000ULL);
	assert_int_equal(pci_bar_decode(cfg, 0, &a, &is64), -ENOENT);
	put32(cfg + PCI_BAR0, 0xc001);          /* I/O */
	assert_int_equal(pci_bar_decode(cfg, 0, &a, &is64), -ENODEV);
	put32(cfg + PCI_BAR0 + 20, 0xfe000004); /* 64-bit in the last slot */
	assert_int_equal(pci_bar_decode(cfg, 5, &a, &is64), -EINVAL);
	assert_int_equal(pci_bar_decode(cfg, 6, &a, &is64), -EINVAL);
}

/* ---- virtio capabilities ---- */

static void test_virtio_caps(void **state)
{
	uint8_t cfg[PCI_CFG_SIZE];
	struct virtio_caps c;

	(void)state;
	virtio_cfg(cfg);
	assert_int_equal(virtio_caps_parse(cfg, &c), 0);
	assert_true(c.region[VIRTIO_CAP_COMMON].present);
	assert_int_equal(c.region[VIRTIO_CAP_COMMON].bar, 4);
	assert_int_equal(c.region[VIRTIO_CAP_ISR].offset, 0x1000);
	assert_int_equal(c.region[VIRTIO_CAP_DEVICE].offset, 0x2000);
	assert_int_equal(c.region[VIRTIO_CAP_NOTIFY].length, 0x1000);
	assert_int_equal(c.notify_mult, 4);
	assert_int_equal(c.pcicfg, 0x84);
	/* the first capability of a type wins, reserved BARs are ignored */
	vcap(cfg, 0xa0, 0, 16, VIRTIO_CAP_COMMON, 2, 0x8000, 0x100, 0);
	cfg[0x41] = 0xa0;
	vcap(cfg, 0x84, 0x70, 16, VIRTIO_CAP_ISR, 7, 0, 0x10, 0);
	assert_int_equal(virtio_caps_parse(cfg, &c), 0);
	assert_int_equal(c.region[VIRTIO_CAP_COMMON].offset, 0);
	assert_int_equal(c.region[VIRTIO_CAP_ISR].bar, 4);
	assert_int_equal(c.pcicfg, 0);
}

static void test_virtio_caps_bad(void **state)
{
	uint8_t cfg[PCI_CFG_SIZE];
	struct virtio_caps c;

	(void)state;
	virtio_cfg(cfg);
	cfg[0x72] = 16;                         /* notify without its multiplier */
	assert_int_equal(virtio_caps_parse(cfg, &c), -EINVAL);
	virtio_cfg(cfg);
	cfg[0x52] = 12;                         /* shorter than a capability */
	assert_int_equal(virtio_caps_parse(cfg, &c), -EINVAL);
	virtio_cfg(cfg);
	cfg[0x86] = 16;                         /* PCI cfg access cap too short */
	assert_int_equal(virtio_caps_parse(cfg, &c), -EINVAL);
	virtio_cfg(cfg);
	cfg[0x61] = 0;                          /* list ends before ISR, common */
	assert_int_equal(virtio_caps_parse(cfg, &c), -ENOENT);
	virtio_cfg(cfg);
	put32(cfg + 0x40 + 12, 40);             /* common config too short */
	assert_int_equal(virtio_caps_parse(cfg, &c), -EINVAL);
	virtio_cfg(cfg);
	vcap(cfg, 0xf0, 0, 16, VIRTIO_CAP_COMMON, 4, 0, 0x100, 0);
	cfg[0x41] = 0xf0;
	cfg[0xf2] = 20;                         /* runs past config space */
	assert_int_equal(virtio_caps_parse(cfg, &c), -EINVAL);
}

static void test_virtio_ids(void **state)
{
	struct pci_fn f = { .vendor = 0x1af4, .device = 0x1041 };

	(void)state;
	assert_int_equal(virtio_pci_id(&f), VIRTIO_ID_NET);
	f.device = 0x1001;                      /* transitional: subsystem ID */
	f.subsys_id = 2;
	assert_int_equal(virtio_pci_id(&f), VIRTIO_ID_BLK);
	f.device = 0x1100;
	assert_int_equal(virtio_pci_id(&f), 0);
	f.vendor = 0x8086;
	f.device = 0x1042;
	assert_int_equal(virtio_pci_id(&f), 0);
	assert_string_equal(virtio_id_name(VIRTIO_ID_CONSOLE), "console");
	assert_string_equal(virtio_id_name(99), "virtio");
}

/* ---- split virtqueue against a fake device ---- */

#define Q_PA 0x40000000ULL

struct ring {
	struct virtq vq;
	uint8_t *mem;
};

static int ring_setup(void **state)
{
	struct ring *r = calloc(1, sizeof(*r));

	if (!r)
		return -1;
	r->mem = aligned_alloc(4096, 65536);
	*state = r;
	return r->mem ? 0 : -1;
}

static int ring_teardown(void **state)
{
	struct ring *r = *state;

	free(r->mem);
	free(r);
	return 0;
}

/* Device side: the avail entry at position i. */
static uint16_t dev_avail(const struct virtq *vq, uint16_t i)
{
	return vq->avail[2 + (i & (vq->size - 1))];
}

/* Device side: publish (id, len) as used. */
static void dev_use(struct virtq *vq, uint32_t id, uint32_t len)
{
	uint16_t idx = vq->used[1];
	volatile struct virtq_used_elem *e = virtq_used_elem(vq, idx);

	e->id = id;
	e->len = len;
	vq->used[1] = (uint16_t)(idx + 1);
}

static void test_virtq_layout(void **state)
{
	struct ring *r = *state;
	struct virtq *vq = &r->vq;

	assert_int_equal(virtq_init(vq, 0, 0, false, r->mem, Q_PA), -EINVAL);
	assert_int_equal(virtq_init(vq, 0, 12, false, r->mem, Q_PA), -EINVAL);
	assert_int_equal(virtq_init(vq, 0, 2048, false, r->mem, Q_PA), -EINVAL);
	assert_int_equal(virtq_init(vq, 3, 256, true, r->mem, Q_PA), 0);
	assert_true(vq->desc_pa == Q_PA);
	assert_true(vq->avail_pa == Q_PA + 4096);
	assert_true(vq->used_pa == Q_PA + 4096 + 6 + 512 + 2);   /* 4-byte aligned */
	assert_int_equal(vq->used_pa % 4, 0);
	assert_true(virtq_mem_size(256) == 4096 + 520 + 6 + 2048 + 512);
	assert_int_equal(vq->nfree, 256);
	assert_int_equal(vq->index, 3);
	assert_int_equal(virtq_in_flight(vq), 0);
}

static void test_virtq_direct(void **state)
{
	struct ring *r = *state;
	struct virtq *vq = &r->vq;
	struct virtq_sg sg[3] = {
		{ 0x1000, 16, false }, { 0x2000, 512, true }, { 0x3000, 1, true },
	};
	uint32_t len;
	int h1, h2;

	assert_int_equal(virtq_init(vq, 0, 4, false, r->mem, Q_PA), 0);
	assert_int_equal(virtq_next_head(vq), 0);
	h1 = virtq_add(vq, sg, 3);
	assert_int_equal(h1, 0);
	assert_true(vq->desc[0].addr == 0x1000 && vq->desc[0].len == 16);
	assert_int_equal(vq->desc[0].flags, VIRTQ_DESC_F_NEXT);
	assert_int_equal(vq->desc[1].flags, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE);
	assert_int_equal(vq->desc[2].flags, VIRTQ_DESC_F_WRITE);
	assert_int_equal(vq->desc[vq->desc[0].next].len, 512);
	assert_int_equal(vq->avail[1], 1);
	assert_int_equal(dev_avail(vq, 0), 0);
	assert_int_equal(vq->nfree, 1);
	assert_int_equal(virtq_add(vq, sg, 3), -ENOSPC);
	assert_int_equal(virtq_add(vq, sg, 0), -EINVAL);
	assert_int_equal(virtq_add(vq, sg, 5), -EINVAL);
	h2 = virtq_add(vq, sg, 1);
	assert_int_equal(h2, 3);
	assert_int_equal(virtq_in_flight(vq), 2);
	/* completions out of order; lengths passed through */
	assert_int_equal(virtq_get_used(vq, &len), -ENOENT);
	dev_use(vq, (uint32_t)h2, 7);
	dev_use(vq, (uint32_t)h1, 513);
	assert_int_equal(virtq_get_used(vq, &len), h2);
	assert_int_equal(len, 7);
	assert_int_equal(virtq_get_used(vq, &len), h1);
	assert_int_equal(len, 513);
	assert_int_equal(vq->nfree, 4);
	assert_int_equal(virtq_in_flight(vq), 0);
	/* the whole ring is usable again */
	assert_true(virtq_add(vq, sg, 3) >= 0);
	assert_true(virtq_add(vq, sg, 1) >= 0);
	assert_int_equal(vq->nfree, 0);
}

static void test_virtq_bad_used(void **state)
{
	struct ring *r = *state;
	struct virtq *vq = &r->vq;
	struct virtq_sg sg = { 0x1000, 64, true };
	uint32_t len;
	int h;

	assert_int_equal(virtq_init(vq, 0, 8, false, r->mem, Q_PA), 0);
	h = virtq_add(vq, &sg, 1);
	dev_use(vq, 8, 1);                      /* out of range */
	dev_use(vq, 5, 1);                      /* not in flight */
	dev_use(vq, (uint32_t)h, 64);
	dev_use(vq, (uint32_t)h, 64);           /* twice */
	assert_int_equal(virtq_get_used(vq, &len), -EIO);
	assert_int_equal(virtq_get_used(vq, &len), -EIO);
	assert_int_equal(virtq_get_used(vq, &len), h);
	assert_int_equal(virtq_get_used(vq, &len), -EIO);
	assert_int_equal(virtq_get_used(vq, &len), -ENOENT);
	assert_int_equal(vq->nfree, 8);         /* the free list stayed intact */
}

static void test_virtq_indirect(void **state)
{
	struct ring *r = *state;
	struct virtq *vq = &r->vq;
	struct virtq_desc table[4];
	struct virtq_sg sg[3] = {
		{ 0x1000, 16, false }, { 0x2000, 4096, true }, { 0x3000, 1, true },
	};
	uint32_t len;
	int h;

	assert_int_equal(virtq_init(vq, 0, 4, true, r->mem, Q_PA), 0);
	h = virtq_add_indirect(vq, sg, 3, table, 0x9000);
	assert_int_equal(h, 0);
	assert_int_equal(vq->nfree, 3);
	assert_int_equal(vq->desc[0].flags, VIRTQ_DESC_F_INDIRECT);
	assert_true(vq->desc[0].addr == 0x9000);
	assert_int_equal(vq->desc[0].len, 3 * VIRTQ_DESC_SIZE);
	assert_int_equal(table[0].flags, VIRTQ_DESC_F_NEXT);
	assert_int_equal(table[0].next, 1);
	assert_int_equal(table[1].flags, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE);
	assert_int_equal(table[1].next, 2);
	assert_int_equal(table[2].flags, VIRTQ_DESC_F_WRITE);
	assert_int_equal(table[2].len, 1);
	/* a chain, indirect or not, is never longer than the queue */
	assert_int_equal(virtq_add_indirect(vq, sg, 5, table, 0x9000), -EINVAL);
	/* each indirect chain takes one descriptor of the queue */
	for (int i = 1; i < 4; i++)
		assert_int_equal(virtq_add_indirect(vq, sg, 3, table, 0x9000), i);
	assert_int_equal(virtq_add_indirect(vq, sg, 1, table, 0x9000), -ENOSPC);
	dev_use(vq, 2, 4097);
	assert_int_equal(virtq_get_used(vq, &len), 2);
	assert_int_equal(len, 4097);
	assert_int_equal(vq->nfree, 1);
	assert_int_equal(virtq_next_head(vq), 2);
}

static void test_virtq_event_idx(void **state)
{
	struct ring *r = *state;
	struct virtq *vq = &r->vq;
	struct virtq_sg sg = { 0x1000, 64, true };
	volatile uint16_t *avail_event;

	(void)state;
	assert_true(virtq_need_event(0, 1, 0));
	assert_false(virtq_need_event(1, 1, 0));
	assert_true(virtq_need_event(4, 10, 2));
	assert_false(virtq_need_event(10, 10, 2));
	assert_true(virtq_need_event(0xffff, 2, 0xfffe));       /* wrap */
	assert_false(virtq_need_event(2, 2, 0xfffe));
	assert_int_equal(virtq_init(vq, 0, 16, true, r->mem, Q_PA), 0);
	avail_event = vq->used + 2 + 4 * 16;
	*avail_event = 0;
	virtq_add(vq, &sg, 1);
	assert_true(virtq_kick_prepare(vq));    /* device waits for entry 0 */
	assert_false(virtq_kick_prepare(vq));   /* nothing new */
	virtq_add(vq, &sg, 1);
	virtq_add(vq, &sg, 1);
	assert_false(virtq_kick_prepare(vq));   /* device still busy with 0 */
	*avail_event = 5;
	virtq_add(vq, &sg, 1);
	assert_false(virtq_kick_prepare(vq));   /* 4 published, wants 6th */
	virtq_add(vq, &sg, 1);
	virtq_add(vq, &sg, 1);
	assert_true(virtq_kick_prepare(vq));    /* passed entry 5 */
	/* interrupts: used_event follows last_used, off = behind it */
	assert_false(virtq_intr(vq, true));
	assert_int_equal(vq->avail[2 + 16], 0);
	dev_use(vq, 0, 1);
	assert_true(virtq_intr(vq, true));      /* already something there */
	virtq_intr(vq, false);
	assert_int_equal(vq->avail[2 + 16], 0xffff);
	assert_int_equal(vq->avail[0], VIRTQ_AVAIL_F_NO_INTERRUPT);
}

static void test_virtq_flags(void **state)
{
	struct ring *r = *state;
	struct virtq *vq = &r->vq;
	struct virtq_sg sg = { 0x1000, 64, true };

	assert_int_equal(virtq_init(vq, 0, 16, false, r->mem, Q_PA), 0);
	virtq_add(vq, &sg, 1);
	vq->used[0] = VIRTQ_USED_F_NO_NOTIFY;
	assert_false(virtq_kick_prepare(vq));
	virtq_add(vq, &sg, 1);
	vq->used[0] = 0;
	assert_true(virtq_kick_prepare(vq));
	virtq_intr(vq, false);
	assert_int_equal(vq->avail[0], VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtq_intr(vq, true);
	assert_int_equal(vq->avail[0], 0);
}

/* 70000 requests through an 8-entry queue: the 16-bit indices wrap. */
static void test_virtq_wrap(void **state)
{
	struct ring *r = *state;
	struct virtq *vq = &r->vq;
	struct virtq_sg sg[2] = { { 0x1000, 16, false }, { 0x2000, 16, true } };
	uint16_t dev_last = 0;
	uint32_t len;

	assert_int_equal(virtq_init(vq, 0, 8, true, r->mem, Q_PA), 0);
	for (unsigned i = 0; i < 70000; i++) {
		int h = virtq_add(vq, sg, 1 + i % 2);

		assert_true(h >= 0);
		if (i % 3 == 2) {               /* the device catches up in bursts */
			while (dev_last != vq->avail[1])
				dev_use(vq, dev_avail(vq, dev_last++), 0);
			while (virtq_get_used(vq, &len) >= 0)
				;
		}
	}
	assert_int_equal(vq->avail_idx, (uint16_t)70000);
	assert_true(vq->nfree >= 8 - 2 * 2);
}

/* ---- patterns, arena, clock ---- */

static void test_vpat(void **state)
{
	uint8_t s[VPAT_SECTOR], t[VPAT_SECTOR], b[100];
	uint64_t st = 1;

	(void)state;
	vpat_sector(s, 100, 42);
	assert_memory_equal(s, "VMKT", 4);
	assert_int_equal(lib_get32(s + 4), 42);
	assert_true(lib_get64(s + 8) == 100);
	assert_int_equal(vpat_sector_check(s, 100, 42), 0);
	assert_int_equal(vpat_sector_check(s, 101, 42), 9);
	assert_int_equal(vpat_sector_check(s, 100, 43), 5);
	vpat_sector(t, 101, 42);
	assert_memory_not_equal(s + 16, t + 16, VPAT_SECTOR - 16);
	s[511] ^= 1;
	assert_int_equal(vpat_sector_check(s, 100, 42), 512);
	vpat_bytes(b, sizeof(b), 7);
	assert_true(vpat_bytes_ok(b, sizeof(b), 7));
	assert_false(vpat_bytes_ok(b, sizeof(b), 8));
	b[99] ^= 0x10;
	assert_false(vpat_bytes_ok(b, sizeof(b), 7));
	assert_false(vpat_is_zero(b, sizeof(b)));
	memset(b, 0, sizeof(b));
	assert_true(vpat_is_zero(b, sizeof(b)));
	assert_true(vpat_next(&st) != vpat_next(&st));
}

static void test_dma(void **state)
{
	static uint8_t arena[8192];
	struct dma d;
	uint8_t *a, *b;

	(void)state;
	memset(arena, 0xaa, sizeof(arena));
	dma_init(&d, arena, 0x1000000, sizeof(arena));
	a = dma_alloc(&d, 10, 0);
	b = dma_alloc(&d, 100, 64);
	assert_ptr_equal(a, arena);
	assert_int_equal((uintptr_t)(b - arena) % 64, 0);
	assert_true(vpat_is_zero(b, 100));
	assert_true(dma_pa(&d, b) == 0x1000000 + (uint64_t)(b - arena));
	assert_true(dma_contains(&d, 0x1000000, 8192));
	assert_false(dma_contains(&d, 0x1000000, 8193));
	assert_false(dma_contains(&d, 0xfff000, 16));
	assert_false(dma_contains(&d, 0x1002000, 1));
	assert_null(dma_alloc(&d, 8192, 0));
	assert_non_null(dma_alloc(&d, 4096, 4096));
	assert_null(dma_alloc(&d, 1, 4096));
	assert_null(dma_alloc(&d, UINT64_MAX, 0));
}

static void test_tsc_math(void **state)
{
	struct tsc t = { .hz = 2500000000ULL };

	(void)state;
	/* one second of a 3.579545 MHz PM timer against a 2.5 GHz TSC */
	assert_true(tsc_rate(2500000000ULL, 3579545, 3579545) == 2500000000ULL);
	/* 50 ms of it: within 0.01 % */
	assert_true(tsc_rate(125000000ULL, 178977, 3579545) / 100000 == 25000);
	assert_true(tsc_rate(1, 0, 3579545) == 0);
	/* no overflow for huge spans: 2^62 ticks over 100 s of PM timer */
	assert_true(tsc_rate(1ULL << 62, 357954500ULL, 3579545) == (1ULL << 62) / 100);
	assert_true(tsc_to_us(&t, 2500000000ULL) == 1000000);
	assert_true(tsc_to_us(&t, 2500) == 1);
	assert_true(tsc_to_us(&t, 3600ULL * 2500000000ULL) == 3600000000ULL);
	t.hz = 0;
	assert_true(tsc_to_us(&t, 5) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci_caps),
		cmocka_unit_test(test_pci_caps_hostile),
		cmocka_unit_test(test_pci_bars),
		cmocka_unit_test(test_virtio_caps),
		cmocka_unit_test(test_virtio_caps_bad),
		cmocka_unit_test(test_virtio_ids),
		cmocka_unit_test_setup_teardown(test_virtq_layout, ring_setup, ring_teardown),
		cmocka_unit_test_setup_teardown(test_virtq_direct, ring_setup, ring_teardown),
		cmocka_unit_test_setup_teardown(test_virtq_bad_used, ring_setup, ring_teardown),
		cmocka_unit_test_setup_teardown(test_virtq_indirect, ring_setup, ring_teardown),
		cmocka_unit_test_setup_teardown(test_virtq_event_idx, ring_setup, ring_teardown),
		cmocka_unit_test_setup_teardown(test_virtq_flags, ring_setup, ring_teardown),
		cmocka_unit_test_setup_teardown(test_virtq_wrap, ring_setup, ring_teardown),
		cmocka_unit_test(test_vpat),
		cmocka_unit_test(test_dma),
		cmocka_unit_test(test_tsc_math),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
