/* fake_ring: a fake virtio driver's split rings on fake guest memory, for
 * unit tests and fuzz targets (see fake_ring.h). Free of cmocka: failures
 * are returned, remembered in the fake_ring_mem and reported to its hook. */
#include "tests/fake/fake_ring.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

static int ring_failed(struct fake_ring_mem *m, const char *what, uint64_t gpa, int err)
{
	if (!m->err)
		m->err = err;
	if (m->fail)
		m->fail(what, gpa, err);
	return err;
}

void fake_ring_mem_init(struct fake_ring_mem *m, const struct gmem *gm, uint64_t heap,
			uint64_t end, fake_ring_fail_fn fail)
{
	*m = (struct fake_ring_mem){ .gm = gm, .next = heap, .end = end, .fail = fail };
}

uint8_t *fake_ring_ram(struct fake_ring_mem *m, struct gmem *gm, uint64_t size, uint64_t heap,
		       fake_ring_fail_fn fail)
{
	uint8_t *ram = calloc(1, size);

	fake_ring_mem_init(m, gm, heap, size, fail);
	if (!ram) {
		ring_failed(m, "guest RAM allocation", 0, -ENOMEM);
		return NULL;
	}
	if (gmem_add_region(gm, 0, size, ram) < 0) {
		free(ram);
		ring_failed(m, "guest RAM region", 0, -EINVAL);
		return NULL;
	}
	return ram;
}

uint64_t fake_ring_alloc_aligned(struct fake_ring_mem *m, uint64_t len, uint64_t align,
				 uint64_t skew)
{
	uint64_t gpa = ((m->next + align - 1) & ~(align - 1)) + skew;

	if (gpa < m->next || gpa + len < gpa || gpa + len > m->end) {
		ring_failed(m, "guest memory allocator exhausted", m->next, -ENOSPC);
		return m->end;
	}
	m->next = gpa + len;
	return gpa;
}

uint64_t fake_ring_alloc(struct fake_ring_mem *m, uint64_t len)
{
	return fake_ring_alloc_aligned(m, len, 16, 0);
}

int fake_ring_write(struct fake_ring_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
	if (gmem_write(m->gm, gpa, src, len) < 0)
		return ring_failed(m, "guest memory write", gpa, -EFAULT);
	return 0;
}

int fake_ring_read(struct fake_ring_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
	if (gmem_read(m->gm, gpa, dst, len) < 0)
		return ring_failed(m, "guest memory read", gpa, -EFAULT);
	return 0;
}

int fake_ring_w16(struct fake_ring_mem *m, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	return fake_ring_write(m, gpa, &v, 2);
}

int fake_ring_w32(struct fake_ring_mem *m, uint64_t gpa, uint32_t v)
{
	v = htole32(v);
	return fake_ring_write(m, gpa, &v, 4);
}

int fake_ring_w64(struct fake_ring_mem *m, uint64_t gpa, uint64_t v)
{
	v = htole64(v);
	return fake_ring_write(m, gpa, &v, 8);
}

uint16_t fake_ring_r16(struct fake_ring_mem *m, uint64_t gpa)
{
	uint16_t v = 0;

	return fake_ring_read(m, gpa, &v, 2) ? 0 : le16toh(v);
}

uint32_t fake_ring_r32(struct fake_ring_mem *m, uint64_t gpa)
{
	uint32_t v = 0;

	return fake_ring_read(m, gpa, &v, 4) ? 0 : le32toh(v);
}

uint64_t fake_ring_r64(struct fake_ring_mem *m, uint64_t gpa)
{
	uint64_t v = 0;

	return fake_ring_read(m, gpa, &v, 8) ? 0 : le64toh(v);
}

void fake_ring_init(struct fake_ring *r, struct fake_ring_mem *m, unsigned size,
		    uint64_t desc, uint64_t avail, uint64_t used)
{
	*r = (struct fake_ring){ .mem = m, .desc = desc, .avail = avail, .used = used,
				 .size = size };
}

void fake_ring_init_n(struct fake_ring *r, unsigned n, struct fake_ring_mem *m, unsigned size,
		      const struct fake_ring_layout *l)
{
	for (unsigned q = 0; q < n; q++) {
		uint64_t desc = l->base + l->stride * q;

		fake_ring_init(&r[q], m, size, desc, desc + l->avail, desc + l->used);
	}
}

void fake_ring_rewind(struct fake_ring *r)
{
	r->next_desc = r->avail_idx = r->used_seen = 0;
}

int fake_ring_attach(const struct fake_ring *r, struct virtqueue *vq, uint64_t features)
{
	return virtqueue_init(vq, r->mem->gm, r->size, r->desc, r->avail, r->used, features);
}

int fake_ring_put_desc(struct fake_ring_mem *m, uint64_t table, unsigned i, uint64_t gpa,
		       uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t d[16];
	uint64_t a = htole64(gpa);
	uint32_t l = htole32(len);
	uint16_t fl = htole16(flags), nx = htole16(next);

	memcpy(d, &a, 8);
	memcpy(d + 8, &l, 4);
	memcpy(d + 12, &fl, 2);
	memcpy(d + 14, &nx, 2);
	return fake_ring_write(m, table + 16ull * i, d, 16);
}

int fake_ring_desc(struct fake_ring *r, unsigned i, uint64_t gpa, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	return fake_ring_put_desc(r->mem, r->desc, i, gpa, len, flags, next);
}

int fake_ring_publish(struct fake_ring *r, uint16_t head)
{
	int ret = fake_ring_w16(r->mem, r->avail + 4 + 2ull * (r->avail_idx % r->size), head);

	r->avail_idx++;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return ret ? ret : fake_ring_w16(r->mem, r->avail + 2, r->avail_idx);
}

uint16_t fake_ring_post(struct fake_ring *r, const struct fake_ring_seg *s, unsigned n)
{
	uint16_t head = (uint16_t)(r->next_desc % r->size);

	for (unsigned i = 0; i < n; i++) {
		uint16_t cur = (uint16_t)((head + i) % r->size);
		uint16_t fl = (uint16_t)((i + 1 < n ? VIRTQUEUE_DESC_F_NEXT : 0) |
					 (s[i].write ? VIRTQUEUE_DESC_F_WRITE : 0));

		fake_ring_desc(r, cur, s[i].gpa, s[i].len, fl, (uint16_t)((cur + 1) % r->size));
	}
	r->next_desc = (uint16_t)((head + n) % r->size);
	fake_ring_publish(r, head);
	return head;
}

bool fake_ring_kick_needed(struct fake_ring *r, uint16_t old, bool event_idx)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);   /* avail index out, then read the device's */
	if (event_idx)
		return virtqueue_need_event(fake_ring_r16(r->mem, r->used + 4 + 8ull * r->size),
					    r->avail_idx, old);
	return !(fake_ring_r16(r->mem, r->used) & VIRTQUEUE_USED_F_NO_NOTIFY);
}

uint16_t fake_ring_used_idx(struct fake_ring *r)
{
	const uint16_t *p = gmem_ptr(r->mem->gm, r->used + 2, 2);

	if (!p) {
		ring_failed(r->mem, "used index read", r->used + 2, -EFAULT);
		return 0;
	}
	return le16toh(__atomic_load_n(p, __ATOMIC_ACQUIRE));
}

int fake_ring_used(struct fake_ring *r, unsigned i, uint32_t *id, uint32_t *len)
{
	uint64_t e = r->used + 4 + 8ull * (i % r->size);
	uint32_t v[2] = { 0, 0 };
	int ret = fake_ring_read(r->mem, e, v, 8);

	*id = le32toh(v[0]);
	*len = le32toh(v[1]);
	return ret;
}

bool fake_ring_pop(struct fake_ring *r, uint32_t *id, uint32_t *len)
{
	if (r->used_seen == fake_ring_used_idx(r))
		return false;
	fake_ring_used(r, r->used_seen++, id, len);
	return true;
}

unsigned fake_ring_fuzz_qsize(uint8_t b)
{
	return 1u << ((b & 7) == 7 ? 6 : (b & 7));
}

uint64_t fake_ring_fuzz_features(uint8_t b)
{
	return (1ull << VIRTIO_F_VERSION_1) | (b & 1 ? 1ull << VIRTIO_F_EVENT_IDX : 0) |
	       (b & 2 ? 1ull << VIRTIO_F_INDIRECT_DESC : 0);
}

void fake_ring_fuzz_rings(struct fake_ring *r, unsigned n, struct fake_ring_mem *m,
			  unsigned size)
{
	static const struct fake_ring_layout l = { 0, 0x1000, 0x400, 0x800 };

	fake_ring_init_n(r, n, m, size, &l);
}

size_t fake_ring_fuzz_image(void *ram, size_t ram_size, const uint8_t *data, size_t size,
			    size_t hdr)
{
	size_t m = (size_t)(data[2] | data[3] << 8);

	m = m < size - hdr ? m : size - hdr;
	m = m < ram_size ? m : ram_size;
	memcpy(ram, data + hdr, m);
	return m;
}
