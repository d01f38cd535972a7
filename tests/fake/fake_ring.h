/* fake_ring: the driver's side of virtio split rings on fake guest memory
 * (struct gmem), for the device unit tests and the fuzz targets. It owns
 * the guest-memory helpers those files share: zeroed guest RAM at address
 * 0, little-endian loads and stores, a bump allocator of guest addresses,
 * writing descriptors (16 bytes: le64 addr, le32 len, le16 flags, le16
 * next), chaining them, publishing heads in the avail ring, reading used
 * entries, handing a ring to virtqueue_init, and the fuzz targets' shared
 * input conventions (queue size and feature bytes, ring layout, guest
 * memory image).
 *
 * Errors: nothing here asserts. Calls that return an int return 0 or a
 * negative errno; those that return a value (readers: 0, the allocator,
 * fake_ring_post, fake_ring_used_idx) carry on. Either way the first
 * failure is kept in mem->err, and mem->fail, when set, is called at each.
 * cmocka tests set it to fake_ring_fail_test (fake_ring_cmocka.h), which
 * fails the running test; fuzz targets leave it NULL. */
#ifndef VMKIT_FAKE_RING_H
#define VMKIT_FAKE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmem.h"

struct virtqueue;

/* What went wrong (a short phrase), where, and the negative errno. */
typedef void (*fake_ring_fail_fn)(const char *what, uint64_t gpa, int err);

/* Guest memory as the fake driver uses it. */
struct fake_ring_mem {
	const struct gmem *gm;
	uint64_t next;          /* bump allocator: the next free address */
	uint64_t end;           /* ... and the end of the allocatable range */
	int err;                /* the first failure (negative errno), or 0 */
	fake_ring_fail_fn fail; /* called at every failure, or NULL */
};

/* One split ring as the driver sees it. */
struct fake_ring {
	struct fake_ring_mem *mem;
	uint64_t desc, avail, used; /* guest addresses of the three parts */
	unsigned size;              /* entries: a power of two */
	uint16_t next_desc;         /* where fake_ring_post starts the next chain */
	uint16_t avail_idx;         /* the driver's avail index */
	uint16_t used_seen;         /* used entries fake_ring_pop has taken */
};

/* Where a set of rings lies: ring q's descriptor table at base + stride * q,
 * its avail and used rings avail and used bytes after that. */
struct fake_ring_layout {
	uint64_t base, stride, avail, used;
};

/* One buffer of a chain: its guest address, length, and whether the device
 * writes it. */
struct fake_ring_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* ---- guest memory ---- */

/* Allocation starts at heap and must end at or below end. */
void fake_ring_mem_init(struct fake_ring_mem *m, const struct gmem *gm, uint64_t heap,
			uint64_t end, fake_ring_fail_fn fail);
/* size bytes of zeroed guest RAM at address 0 (calloc'd: the caller frees
 * it) added to gm, and m set up on gm with the allocator from heap to size.
 * The RAM, or NULL after a failure (reported as any other). */
uint8_t *fake_ring_ram(struct fake_ring_mem *m, struct gmem *gm, uint64_t size, uint64_t heap,
		       fake_ring_fail_fn fail);
/* len bytes at the next 16-byte boundary. On exhaustion: fail, and the
 * address returned lies past end (where accesses fail too). */
uint64_t fake_ring_alloc(struct fake_ring_mem *m, uint64_t len);
/* Same, at the next multiple of align (a power of two) plus skew bytes. */
uint64_t fake_ring_alloc_aligned(struct fake_ring_mem *m, uint64_t len, uint64_t align,
				 uint64_t skew);
int fake_ring_write(struct fake_ring_mem *m, uint64_t gpa, const void *src, uint64_t len);
int fake_ring_read(struct fake_ring_mem *m, uint64_t gpa, void *dst, uint64_t len);
int fake_ring_w16(struct fake_ring_mem *m, uint64_t gpa, uint16_t v);
int fake_ring_w32(struct fake_ring_mem *m, uint64_t gpa, uint32_t v);
int fake_ring_w64(struct fake_ring_mem *m, uint64_t gpa, uint64_t v);
uint16_t fake_ring_r16(struct fake_ring_mem *m, uint64_t gpa);
uint32_t fake_ring_r32(struct fake_ring_mem *m, uint64_t gpa);
uint64_t fake_ring_r64(struct fake_ring_mem *m, uint64_t gpa);

/* ---- rings ---- */

/* A ring of size entries at desc/avail/used, indices at zero. */
void fake_ring_init(struct fake_ring *r, struct fake_ring_mem *m, unsigned size,
		    uint64_t desc, uint64_t avail, uint64_t used);
/* r[0..n), each of size entries, where l puts them. */
void fake_ring_init_n(struct fake_ring *r, unsigned n, struct fake_ring_mem *m, unsigned size,
		      const struct fake_ring_layout *l);
/* Back to the driver's start: indices at zero (the memory is left alone). */
void fake_ring_rewind(struct fake_ring *r);
/* virtqueue_init(vq) on this ring's memory and addresses: its result. */
int fake_ring_attach(const struct fake_ring *r, struct virtqueue *vq, uint64_t features);
/* Write descriptor i of the table at guest address table (a ring's own or
 * an indirect one). */
int fake_ring_put_desc(struct fake_ring_mem *m, uint64_t table, unsigned i, uint64_t gpa,
		       uint32_t len, uint16_t flags, uint16_t next);
/* Write descriptor i of the ring's table. */
int fake_ring_desc(struct fake_ring *r, unsigned i, uint64_t gpa, uint32_t len,
		   uint16_t flags, uint16_t next);
/* Make head available: the avail entry, a full fence, the avail index. */
int fake_ring_publish(struct fake_ring *r, uint16_t head);
/* Lay s[0..n) out as one chain from next_desc on (each descriptor's next
 * is the following slot, NEXT on all but the last, WRITE per segment),
 * advance next_desc by n and publish the head, which is returned. */
uint16_t fake_ring_post(struct fake_ring *r, const struct fake_ring_seg *s, unsigned n);
/* The driver's kick decision after it made entries available, moving its
 * avail index from old: with event idx, whether that passed the device's
 * avail_event; without, whether the device left NO_NOTIFY clear. */
bool fake_ring_kick_needed(struct fake_ring *r, uint16_t old, bool event_idx);
/* The device's used index (an acquire load: device threads write it). */
uint16_t fake_ring_used_idx(struct fake_ring *r);
/* Used entry i (taken modulo the size): its id and length. */
int fake_ring_used(struct fake_ring *r, unsigned i, uint32_t *id, uint32_t *len);
/* The next used entry not taken yet: true with *id and *len, or false. */
bool fake_ring_pop(struct fake_ring *r, uint32_t *id, uint32_t *len);

/* ---- the fuzz targets' input conventions ---- */

/* Queue size from an input byte: 1 << (bits 0-2), 7 meaning 64. */
unsigned fake_ring_fuzz_qsize(uint8_t b);
/* Ring features from an input byte: VERSION_1, plus EVENT_IDX for bit 0
 * and INDIRECT_DESC for bit 1. */
uint64_t fake_ring_fuzz_features(uint8_t b);
/* Ring q < n of size entries at 0x1000 * q: desc +0x0, avail +0x400,
 * used +0x800. */
void fake_ring_fuzz_rings(struct fake_ring *r, unsigned n, struct fake_ring_mem *m,
			  unsigned size);
/* The guest memory image of an input: M = le16 at data[2], capped at what
 * follows the hdr-byte header and at ram_size, copied to ram; returns M. */
size_t fake_ring_fuzz_image(void *ram, size_t ram_size, const uint8_t *data, size_t size,
			    size_t hdr);

#endif
