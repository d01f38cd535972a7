/* virtq: split virtqueue, driver side (see virtq.h). Memory layout of one
 * queue block: descriptor table (16 * size), available ring (6 + 2 * size),
 * used ring at the next 4-byte boundary (6 + 8 * size), then 2 * size bytes
 * of chain lengths that only the driver uses. */
#include "io.h"
#include "lib.h"
#include "virtq.h"

#define AVAIL_FLAGS 0
#define AVAIL_IDX   1
#define AVAIL_RING  2
#define USED_FLAGS  0
#define USED_IDX    1

static size_t virtq_avail_off(uint16_t size)
{
	return (size_t)VIRTQ_DESC_SIZE * size;
}

static size_t virtq_used_off(uint16_t size)
{
	return (virtq_avail_off(size) + 6 + 2 * (size_t)size + 3) & ~(size_t)3;
}

static size_t virtq_chain_off(uint16_t size)
{
	return virtq_used_off(size) + 6 + 8 * (size_t)size;
}

size_t virtq_mem_size(uint16_t size)
{
	return virtq_chain_off(size) + 2 * (size_t)size;
}

int virtq_init(struct virtq *vq, uint16_t index, uint16_t size, bool event_idx,
	       void *mem, uint64_t mem_pa)
{
	uint8_t *m = mem;

	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	__builtin_memset(m, 0, virtq_mem_size(size));
	*vq = (struct virtq){ .index = index, .size = size, .event_idx = event_idx };
	vq->desc = (volatile struct virtq_desc *)(void *)m;
	vq->avail = (volatile uint16_t *)(void *)(m + virtq_avail_off(size));
	vq->used = (volatile uint16_t *)(void *)(m + virtq_used_off(size));
	vq->chain = (uint16_t *)(void *)(m + virtq_chain_off(size));
	vq->desc_pa = mem_pa;
	vq->avail_pa = mem_pa + virtq_avail_off(size);
	vq->used_pa = mem_pa + virtq_used_off(size);
	for (uint16_t i = 0; i < size; i++)
		vq->desc[i].next = (uint16_t)(i + 1 < size ? i + 1 : 0);
	vq->nfree = size;
	return 0;
}

int virtq_next_head(const struct virtq *vq)
{
	return vq->nfree ? vq->free_head : -ENOSPC;
}

/* Take n descriptors off the free list (n <= nfree): the first one. */
static uint16_t virtq_take(struct virtq *vq, unsigned n)
{
	uint16_t head = vq->free_head, last = head;

	for (unsigned i = 1; i < n; i++)
		last = vq->desc[last].next;
	vq->free_head = vq->desc[last].next;
	vq->nfree = (uint16_t)(vq->nfree - n);
	vq->chain[head] = (uint16_t)n;
	return head;
}

/* Fill the n linked descriptors starting at d[first] (next links given
 * by the free list, or consecutive when table is true). */
static void virtq_fill(volatile struct virtq_desc *d, uint16_t first,
		       const struct virtq_sg *sg, unsigned n, bool table)
{
	uint16_t i = first;

	for (unsigned k = 0; k < n; k++) {
		uint16_t next = table ? (uint16_t)(k + 1) : d[i].next;

		d[i].addr = sg[k].addr;
		d[i].len = sg[k].len;
		d[i].flags = (uint16_t)((sg[k].write ? VIRTQ_DESC_F_WRITE : 0) |
					(k + 1 < n ? VIRTQ_DESC_F_NEXT : 0));
		if (table)
			d[i].next = k + 1 < n ? next : 0;
		i = next;
	}
}

void virtq_publish(struct virtq *vq, uint16_t head)
{
	vq->avail[AVAIL_RING + (vq->avail_idx & (vq->size - 1))] = head;
	io_barrier();
	vq->avail_idx++;
	vq->avail[AVAIL_IDX] = vq->avail_idx;
}

int virtq_add(struct virtq *vq, const struct virtq_sg *sg, unsigned n)
{
	uint16_t head;

	if (n == 0 || n > vq->size)
		return -EINVAL;
	if (n > vq->nfree)
		return -ENOSPC;
	head = vq->free_head;
	virtq_fill(vq->desc, head, sg, n, false);
	virtq_take(vq, n);
	virtq_publish(vq, head);
	return head;
}

int virtq_add_indirect(struct virtq *vq, const struct virtq_sg *sg, unsigned n,
		       volatile struct virtq_desc *table, uint64_t table_pa)
{
	uint16_t head;

	if (n == 0 || n > vq->size)
		return -EINVAL;
	if (!vq->nfree)
		return -ENOSPC;
	virtq_fill(table, 0, sg, n, true);
	head = virtq_take(vq, 1);
	vq->desc[head].addr = table_pa;
	vq->desc[head].len = (uint32_t)(n * VIRTQ_DESC_SIZE);
	vq->desc[head].flags = VIRTQ_DESC_F_INDIRECT;
	virtq_publish(vq, head);
	return head;
}

bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

bool virtq_kick_prepare(struct virtq *vq)
{
	uint16_t old = vq->kicked_idx;
	bool need;

	io_mb();
	if (vq->event_idx)
		need = virtq_need_event(vq->used[2 + 4 * (size_t)vq->size], vq->avail_idx, old);
	else
		need = !(vq->used[USED_FLAGS] & VIRTQ_USED_F_NO_NOTIFY);
	vq->kicked_idx = vq->avail_idx;
	return need && old != vq->avail_idx;
}

volatile struct virtq_used_elem *virtq_used_elem(const struct virtq *vq, uint16_t i)
{
	volatile struct virtq_used_elem *ring = (volatile void *)(vq->used + 2);

	return &ring[i & (vq->size - 1)];
}

bool virtq_has_used(const struct virtq *vq)
{
	return vq->used[USED_IDX] != vq->last_used;
}

/* Put the chain starting at head back on the free list. */
static void virtq_free_chain(struct virtq *vq, uint16_t head)
{
	uint16_t n = vq->chain[head], last = head;

	for (uint16_t i = 1; i < n; i++)
		last = vq->desc[last].next;
	vq->desc[last].next = vq->free_head;
	vq->free_head = head;
	vq->nfree = (uint16_t)(vq->nfree + n);
	vq->chain[head] = 0;
}

int virtq_get_used(struct virtq *vq, uint32_t *len)
{
	const volatile struct virtq_used_elem *e;
	uint32_t id;

	if (!virtq_has_used(vq))
		return -ENOENT;
	io_barrier();
	e = virtq_used_elem(vq, vq->last_used);
	id = e->id;
	*len = e->len;
	vq->last_used++;
	if (id >= vq->size || vq->chain[id] == 0)
		return -EIO;
	virtq_free_chain(vq, (uint16_t)id);
	return (int)id;
}

bool virtq_intr(struct virtq *vq, bool on)
{
	volatile uint16_t *used_event = &vq->avail[AVAIL_RING + vq->size];

	if (!on) {
		vq->avail[AVAIL_FLAGS] = VIRTQ_AVAIL_F_NO_INTERRUPT;
		*used_event = (uint16_t)(vq->last_used - 1);
		return false;
	}
	vq->avail[AVAIL_FLAGS] = 0;
	*used_event = vq->last_used;
	io_mb();
	return virtq_has_used(vq);
}

unsigned virtq_in_flight(const struct virtq *vq)
{
	unsigned n = 0;

	for (uint16_t i = 0; i < vq->size; i++)
		n += vq->chain[i] != 0;
	return n;
}
