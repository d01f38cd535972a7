/* virtq: the driver side of a virtio split virtqueue, on memory the caller
 * provides (one block: descriptor table, available ring, used ring, then
 * the driver's private chain bookkeeping). Free descriptors are chained
 * through their `next` fields; chains are direct or one indirect
 * descriptor; notification and interrupt suppression follow event-idx when
 * negotiated, the flags otherwise. Pure C over memory, unit-tested on the
 * host. Device-side results (used ids) are checked, never trusted. */
#ifndef TESTGUEST_VIRTQ_H
#define TESTGUEST_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VIRTQ_DESC_F_NEXT        1
#define VIRTQ_DESC_F_WRITE       2
#define VIRTQ_DESC_F_INDIRECT    4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY   1
#define VIRTQ_MAX_SIZE           1024  /* what this driver sets up at most */
#define VIRTQ_DESC_SIZE          16

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* One buffer of a chain: guest-physical address, length, direction. */
struct virtq_sg {
	uint64_t addr;
	uint32_t len;
	bool write;             /* device-writable */
};

struct virtq {
	uint16_t index;         /* queue number on the device */
	uint16_t size;          /* entries, a power of two */
	bool event_idx;         /* VIRTIO_F_EVENT_IDX negotiated */
	volatile struct virtq_desc *desc;
	volatile uint16_t *avail;       /* flags, idx, ring[size], used_event */
	volatile uint16_t *used;        /* flags, idx, then elems; avail_event */
	uint16_t *chain;        /* per head: descriptors in flight (0 = free) */
	uint64_t desc_pa, avail_pa, used_pa;
	uint16_t free_head;
	uint16_t nfree;
	uint16_t avail_idx;     /* our copy of avail->idx */
	uint16_t kicked_idx;    /* avail_idx when the device was last considered */
	uint16_t last_used;     /* next used index to consume */
};

/* Bytes of memory a queue of this size needs (16-byte aligned start). */
size_t virtq_mem_size(uint16_t size);
/* Lay out and reset a queue in mem (physical address mem_pa). size must be
 * a power of two in 1..VIRTQ_MAX_SIZE. 0 or -EINVAL. */
int virtq_init(struct virtq *vq, uint16_t index, uint16_t size, bool event_idx,
	       void *mem, uint64_t mem_pa);

/* The head index the next add will use, or -ENOSPC. */
int virtq_next_head(const struct virtq *vq);
/* Add and publish a direct chain of n buffers (device-readable ones first).
 * Returns the head index, -ENOSPC (not enough free descriptors) or
 * -EINVAL (n == 0 or n > size). */
int virtq_add(struct virtq *vq, const struct virtq_sg *sg, unsigned n);
/* Same as one indirect descriptor pointing at table (n entries, at
 * table_pa), which the caller keeps alive until the chain is used. */
int virtq_add_indirect(struct virtq *vq, const struct virtq_sg *sg, unsigned n,
		       volatile struct virtq_desc *table, uint64_t table_pa);
/* Publish head as the next available entry (raw; virtq_add does this). */
void virtq_publish(struct virtq *vq, uint16_t head);

/* Does the device want a notification for what was published since the
 * last call? (event-idx: avail_event; else the used flags.) */
bool virtq_kick_prepare(struct virtq *vq);
/* Pure: the event-idx rule - does moving from old to new_idx pass event? */
bool virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old);

bool virtq_has_used(const struct virtq *vq);
/* The used ring entry for used index i (modulo the size). */
volatile struct virtq_used_elem *virtq_used_elem(const struct virtq *vq, uint16_t i);
/* Take the next used element: its head (>= 0) and *len, with the chain's
 * descriptors freed. -ENOENT (nothing used), -EIO (the device returned an
 * id that is not a chain in flight; the element is skipped). */
int virtq_get_used(struct virtq *vq, uint32_t *len);
/* Ask for (on) or suppress (off) used-buffer interrupts. Turning them on
 * returns true if something is already used (so the caller does not sleep
 * on an interrupt that will not come). */
bool virtq_intr(struct virtq *vq, bool on);
/* Chains in flight. */
unsigned virtq_in_flight(const struct virtq *vq);

#endif
