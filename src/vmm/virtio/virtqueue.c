/* virtqueue: device side of a virtio 1.x split virtqueue (see virtqueue.h).
 * Owns the ring set-up checks, the descriptor-chain walker, the used-ring
 * publisher, notification suppression and the broken state.
 *
 * Memory ordering (driver and device run on different CPUs): the avail index
 * is loaded with acquire before the ring entry and descriptors it covers are
 * read; used elements are stored before the used index is published with
 * release; a full fence separates our used-index store from the load of the
 * driver's used_event/flags (need_interrupt) and our avail_event/flags store
 * from the re-load of the avail index (rearm). Guest fields are loaded once
 * (atomic loads for ring words, a copy plus compiler barrier for
 * descriptors), so what was checked is what is used. */
#include "virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct vq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct vq_desc) == VIRTQUEUE_DESC_SIZE, "descriptor layout");

/* Where the walker is: the table being read (the queue's or an indirect
 * one) and what the chain has collected so far. */
struct vq_walk {
	struct virtqueue_chain *chain;
	const uint8_t *table;
	unsigned entries;     /* descriptors in table */
	bool in_indirect;
	uint16_t parent;      /* descriptor that holds the indirect table */
	unsigned segs;        /* segments so far (zero-length ones included) */
	bool seen_write;
};

/* avail area in 16-bit words: flags, idx, ring[size], used_event */
#define VQ_AVAIL_FLAGS 0
#define VQ_AVAIL_IDX 1
#define VQ_AVAIL_RING 2
/* used area in 16-bit words: flags, idx; the ring starts at byte 4 */
#define VQ_USED_FLAGS 0
#define VQ_USED_IDX 1
#define VQ_USED_RING_OFFSET 4

static void *vq_offset(void *base, size_t off)
{
	return (char *)base + off;
}

static uint16_t vq_load16(const uint16_t *p, int order)
{
	return le16toh(__atomic_load_n(p, order));
}

static void vq_store16(uint16_t *p, uint16_t v, int order)
{
	__atomic_store_n(p, htole16(v), order);
}

/* avail_event: the 16-bit word after the used ring's elements. */
static uint16_t *vq_avail_event(struct virtqueue *vq)
{
	return &vq->used[2 + 4u * vq->size];
}

__attribute__((format(printf, 3, 4)))
static int vq_fail(struct virtqueue *vq, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->reason, sizeof(vq->reason), fmt, ap);
	va_end(ap);
	vq->broken = true;
	vq->error = err;
	return err;
}

/* vq_fail with the reason prefixed by the descriptor it concerns. */
__attribute__((format(printf, 5, 6)))
static int vq_fail_at(struct virtqueue *vq, const struct vq_walk *w, unsigned idx,
		      int err, const char *fmt, ...)
{
	char what[VIRTQUEUE_REASON_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (w->in_indirect)
		return vq_fail(vq, err, "indirect descriptor %u (table in descriptor %u): %.100s",
			       idx, w->parent, what);
	return vq_fail(vq, err, "descriptor %u: %.120s", idx, what);
}

void virtqueue_reset(struct virtqueue *vq)
{
	memset(vq, 0, sizeof(*vq));
	vq->notify_enabled = true;
}

bool virtqueue_ready(const struct virtqueue *vq)
{
	return vq->size != 0;
}

bool virtqueue_broken(const struct virtqueue *vq)
{
	return vq->broken;
}

const char *virtqueue_reason(const struct virtqueue *vq)
{
	return vq->reason;
}

/* Host pointer to one ring area after its alignment and RAM checks. */
static void *vq_map_area(struct virtqueue *vq, const char *what, uint64_t gpa,
			 uint64_t len, unsigned align, int *err)
{
	void *p;

	if (gpa % align) {
		*err = vq_fail(vq, -EINVAL, "%s address 0x%" PRIx64 " not %u-byte aligned",
			       what, gpa, align);
		return NULL;
	}
	p = gmem_ptr(vq->gm, gpa, len);
	if (!p) {
		*err = vq_fail(vq, -EFAULT, "%s at 0x%" PRIx64 " length 0x%" PRIx64
			       " outside guest RAM", what, gpa, len);
		return NULL;
	}
	/* ring words are accessed atomically: the host side must agree */
	if ((uintptr_t)p % align) {
		*err = vq_fail(vq, -EINVAL, "%s at 0x%" PRIx64 " is mapped at a host address"
			       " not %u-byte aligned", what, gpa, align);
		return NULL;
	}
	return p;
}

int virtqueue_init(struct virtqueue *vq, const struct gmem *gm, unsigned size,
		   uint64_t desc, uint64_t avail, uint64_t used, uint64_t features)
{
	void *d, *a, *u;
	int err = 0;

	virtqueue_reset(vq);
	vq->gm = gm;
	if (size == 0 || size > VIRTQUEUE_MAX_SIZE || (size & (size - 1)))
		return vq_fail(vq, -EINVAL, "queue size %u invalid (a power of two from 1 to %u)",
			       size, VIRTQUEUE_MAX_SIZE);
	d = vq_map_area(vq, "descriptor table", desc, VIRTQUEUE_DESC_BYTES(size),
			VIRTQUEUE_DESC_ALIGN, &err);
	a = d ? vq_map_area(vq, "avail ring", avail, VIRTQUEUE_AVAIL_BYTES(size),
			    VIRTQUEUE_AVAIL_ALIGN, &err) : NULL;
	u = a ? vq_map_area(vq, "used ring", used, VIRTQUEUE_USED_BYTES(size),
			    VIRTQUEUE_USED_ALIGN, &err) : NULL;
	if (!u)
		return err;
	vq->size = (uint16_t)size;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->used_ring = vq_offset(u, VQ_USED_RING_OFFSET);
	vq->indirect = (features >> VIRTQUEUE_F_INDIRECT_DESC) & 1;
	vq->event_idx = (features >> VIRTQUEUE_F_EVENT_IDX) & 1;
	return 0;
}

void virtqueue_chain_init(struct virtqueue_chain *chain, struct iovec *iov,
			  unsigned iov_max)
{
	memset(chain, 0, sizeof(*chain));
	chain->iov = iov;
	chain->iov_max = iov_max;
	chain->out = chain->in = iov;
}

struct virtqueue_chain *virtqueue_chain_new(unsigned iov_max)
{
	struct virtqueue_chain *chain;

	chain = malloc(sizeof(*chain) + (size_t)iov_max * sizeof(struct iovec));
	if (chain)
		virtqueue_chain_init(chain, vq_offset(chain, sizeof(*chain)), iov_max);
	return chain;
}

void virtqueue_chain_free(struct virtqueue_chain *chain)
{
	free(chain);
}

/* Copy descriptor i of table into *d, once: the compiler barrier makes the
 * local copy the only value used afterwards. */
static void vq_desc_load(const uint8_t *table, unsigned i, struct vq_desc *d)
{
	memcpy(d, table + (size_t)i * VIRTQUEUE_DESC_SIZE, sizeof(*d));
	__asm__ volatile("" : "+m"(*d));
	d->addr = le64toh(d->addr);
	d->len = le32toh(d->len);
	d->flags = le16toh(d->flags);
	d->next = le16toh(d->next);
}

/* Host pointer to [addr, addr + len) (len > 0), or the queue breaks. */
static void *vq_map_range(struct virtqueue *vq, const struct vq_walk *w, unsigned idx,
			  const struct vq_desc *d, int *err)
{
	void *p;

	if (d->addr + d->len < d->addr) {
		*err = vq_fail_at(vq, w, idx, -EOVERFLOW, "address 0x%" PRIx64
				  " length 0x%" PRIx32 " wraps around", d->addr, d->len);
		return NULL;
	}
	p = gmem_ptr(vq->gm, d->addr, d->len);
	if (!p)
		*err = vq_fail_at(vq, w, idx, -EFAULT, "address 0x%" PRIx64
				  " length 0x%" PRIx32 " outside guest RAM", d->addr, d->len);
	return p;
}

/* Descriptor idx of the current table points to an indirect table: check
 * it and make it the table the walk continues in (from its entry 0). */
static int vq_enter_indirect(struct virtqueue *vq, struct vq_walk *w, unsigned idx,
			     const struct vq_desc *d)
{
	void *table;
	int err = 0;

	if (w->in_indirect)
		return vq_fail_at(vq, w, idx, -EINVAL, "indirect table inside an indirect table");
	if (!vq->indirect)
		return vq_fail_at(vq, w, idx, -EINVAL,
				  "indirect table without VIRTIO_RING_F_INDIRECT_DESC");
	if (d->flags & VIRTQUEUE_DESC_F_NEXT)
		return vq_fail_at(vq, w, idx, -EINVAL, "INDIRECT combined with NEXT");
	if (d->len == 0 || d->len % VIRTQUEUE_DESC_SIZE)
		return vq_fail_at(vq, w, idx, -EINVAL, "indirect table length 0x%" PRIx32
				  " is not a non-zero multiple of 16", d->len);
	if (d->len / VIRTQUEUE_DESC_SIZE > vq->size)
		return vq_fail_at(vq, w, idx, -EINVAL, "indirect table of %" PRIu32
				  " entries exceeds the queue size %u",
				  d->len / VIRTQUEUE_DESC_SIZE, vq->size);
	table = vq_map_range(vq, w, idx, d, &err);
	if (!table)
		return err;
	w->table = table;
	w->entries = d->len / VIRTQUEUE_DESC_SIZE;
	w->in_indirect = true;
	w->parent = (uint16_t)idx;
	return 0;
}

/* Descriptor idx is a buffer segment: count it, check its direction and
 * range, and append it to the chain. */
static int vq_add_segment(struct virtqueue *vq, struct vq_walk *w, unsigned idx,
			  const struct vq_desc *d)
{
	struct virtqueue_chain *c = w->chain;
	bool writable = d->flags & VIRTQUEUE_DESC_F_WRITE;
	void *p;
	int err = 0;

	if (++w->segs > vq->size)
		return vq_fail_at(vq, w, idx, -ELOOP,
				  "chain longer than the queue size %u (loop?)", vq->size);
	if (!writable && w->seen_write)
		return vq_fail_at(vq, w, idx, -EINVAL,
				  "device-readable segment after a device-writable one");
	w->seen_write |= writable;
	if (d->len == 0)
		return 0;
	p = vq_map_range(vq, w, idx, d, &err);
	if (!p)
		return err;
	c->iov[c->nout + c->nin] = (struct iovec){ .iov_base = p, .iov_len = d->len };
	if (writable) {
		c->nin++;
		c->in_bytes += d->len;
	} else {
		c->nout++;
		c->out_bytes += d->len;
	}
	return 0;
}

/* Walk the chain starting at head (already < size) into chain. */
static int vq_walk_chain(struct virtqueue *vq, uint16_t head, struct virtqueue_chain *chain)
{
	struct vq_walk w = { .chain = chain, .table = vq->desc, .entries = vq->size };
	struct vq_desc d;
	unsigned idx = head;
	int ret;

	chain->head = head;
	chain->nout = chain->nin = 0;
	chain->out_bytes = chain->in_bytes = 0;
	for (;;) {
		vq_desc_load(w.table, idx, &d);
		if (d.flags & VIRTQUEUE_DESC_F_INDIRECT) {
			ret = vq_enter_indirect(vq, &w, idx, &d);
			if (ret < 0)
				return ret;
			idx = 0;
			continue;
		}
		ret = vq_add_segment(vq, &w, idx, &d);
		if (ret < 0)
			return ret;
		if (!(d.flags & VIRTQUEUE_DESC_F_NEXT))
			break;
		if (d.next >= w.entries)
			return vq_fail_at(vq, &w, idx, -EINVAL, "next index %u out of range (%u entries)",
					  d.next, w.entries);
		idx = d.next;
	}
	chain->out = chain->iov;
	chain->in = chain->iov + chain->nout;
	return 0;
}

int virtqueue_pop(struct virtqueue *vq, struct virtqueue_chain *chain)
{
	uint16_t avail_idx, slot, head;
	int ret;

	if (vq->broken)
		return vq->error;
	if (!vq->size)
		return -ENODEV;
	if (chain->iov_max < vq->size)
		return -ENOSPC;
	avail_idx = vq_load16(&vq->avail[VQ_AVAIL_IDX], __ATOMIC_ACQUIRE);
	if (avail_idx == vq->last_avail_idx)
		return 0;
	/* A driver never has more than size buffers outstanding (available
	 * and not yet used), hence never more than size ahead of last_avail. */
	if ((uint16_t)(avail_idx - vq->used_idx) > vq->size)
		return vq_fail(vq, -EINVAL, "bad avail index %u (last popped %u, last used %u,"
			       " queue size %u)", avail_idx, vq->last_avail_idx, vq->used_idx,
			       vq->size);
	slot = vq->last_avail_idx & (vq->size - 1);
	head = vq_load16(&vq->avail[VQ_AVAIL_RING + slot], __ATOMIC_RELAXED);
	if (head >= vq->size)
		return vq_fail(vq, -EINVAL, "avail ring slot %u: head index %u out of range"
			       " (queue size %u)", slot, head, vq->size);
	ret = vq_walk_chain(vq, head, chain);
	if (ret < 0)
		return ret;
	vq->last_avail_idx++;
	if (vq->event_idx && vq->notify_enabled)
		vq_store16(vq_avail_event(vq), vq->last_avail_idx, __ATOMIC_RELAXED);
	return 1;
}

int virtqueue_unpop(struct virtqueue *vq)
{
	if (!vq->size || vq->broken || vq->last_avail_idx == vq->used_idx)
		return -EINVAL;
	vq->last_avail_idx--;
	return 0;
}

bool virtqueue_has_avail(const struct virtqueue *vq)
{
	if (!vq->size || vq->broken)
		return false;
	return vq_load16(&vq->avail[VQ_AVAIL_IDX], __ATOMIC_ACQUIRE) != vq->last_avail_idx;
}

void virtqueue_watch(const struct virtqueue *vq, struct virtqueue_watch *w)
{
	bool live = vq->size && !vq->broken;

	w->idx = live ? &vq->avail[VQ_AVAIL_IDX] : NULL;
	w->seen = live ? vq_load16(w->idx, __ATOMIC_ACQUIRE) : 0;
}

bool virtqueue_watch_moved(const struct virtqueue_watch *w)
{
	return w->idx && vq_load16(w->idx, __ATOMIC_ACQUIRE) != w->seen;
}

int virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t written_len)
{
	const struct virtqueue_used elem = { .head = head, .len = written_len };

	return virtqueue_push_batch(vq, &elem, 1);
}

int virtqueue_push_batch(struct virtqueue *vq, const struct virtqueue_used *elems,
			 unsigned n)
{
	uint16_t in_flight = vq->last_avail_idx - vq->used_idx;

	if (vq->broken)
		return vq->error;
	if (!vq->size)
		return -ENODEV;
	if (n > in_flight)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (elems[i].head >= vq->size)
			return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t *e = vq->used_ring + 2 * ((vq->used_idx + i) & (vq->size - 1u));

		__atomic_store_n(&e[0], htole32(elems[i].head), __ATOMIC_RELAXED);
		__atomic_store_n(&e[1], htole32(elems[i].len), __ATOMIC_RELAXED);
	}
	vq->used_idx += (uint16_t)n;
	vq_store16(&vq->used[VQ_USED_IDX], vq->used_idx, __ATOMIC_RELEASE);
	return 0;
}

size_t virtqueue_chain_write(const struct virtqueue_chain *chain, uint64_t off,
			     const void *data, size_t len)
{
	const uint8_t *src = data;
	size_t done = 0;

	for (unsigned i = 0; i < chain->nin && done < len; i++) {
		size_t seg = chain->in[i].iov_len, n;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		n = MIN(seg - (size_t)off, len - done);
		memcpy((uint8_t *)chain->in[i].iov_base + off, src + done, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t virtqueue_chain_read(const struct virtqueue_chain *chain, uint64_t off,
			    void *dst, size_t len)
{
	uint8_t *out = dst;
	size_t done = 0;

	for (unsigned i = 0; i < chain->nout && done < len; i++) {
		size_t seg = chain->out[i].iov_len, n;

		if (off >= seg) {
			off -= seg;
			continue;
		}
		n = MIN(seg - (size_t)off, len - done);
		memcpy(out + done, (const uint8_t *)chain->out[i].iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

bool virtqueue_need_interrupt(struct virtqueue *vq)
{
	uint16_t old = vq->signalled_used, event;

	if (!vq->size || vq->broken || old == vq->used_idx)
		return false;
	vq->signalled_used = vq->used_idx;
	/* Our used index store must be visible before we read the driver's
	 * wish, or it could miss our update while we miss its request. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx)
		return !(vq_load16(&vq->avail[VQ_AVAIL_FLAGS], __ATOMIC_RELAXED) &
			 VIRTQUEUE_AVAIL_F_NO_INTERRUPT);
	event = vq_load16(&vq->avail[VQ_AVAIL_RING + vq->size], __ATOMIC_RELAXED);
	return virtqueue_need_event(event, vq->used_idx, old);
}

void virtqueue_set_notify(struct virtqueue *vq, bool enable)
{
	if (!vq->size)
		return;
	vq->notify_enabled = enable;
	if (!vq->event_idx) {
		vq_store16(&vq->used[VQ_USED_FLAGS], enable ? 0 : VIRTQUEUE_USED_F_NO_NOTIFY,
			   __ATOMIC_RELAXED);
		return;
	}
	/* Event idx: kick when avail idx passes last_avail_idx. Disabling
	 * leaves avail_event behind, so the driver sees no crossing. */
	if (enable)
		vq_store16(vq_avail_event(vq), vq->last_avail_idx, __ATOMIC_RELAXED);
}

void virtqueue_mute(struct virtqueue *vq)
{
	if (!vq->size)
		return;
	virtqueue_set_notify(vq, false);
	/* Event idx: one behind what pop has taken, which the driver's index
	 * has passed already: no crossing for any buffer from now on (until
	 * 65536 more, far beyond how long a queue stays muted). */
	if (vq->event_idx)
		vq_store16(vq_avail_event(vq), (uint16_t)(vq->last_avail_idx - 1),
			   __ATOMIC_RELAXED);
}

bool virtqueue_rearm(struct virtqueue *vq)
{
	virtqueue_set_notify(vq, true);
	/* The re-enable must be visible before we re-read the avail index. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtqueue_has_avail(vq);
}
