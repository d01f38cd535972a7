/* virtqueue: the device side of a virtio 1.x split virtqueue, on guest memory
 * reached only through gmem. It owns the ring state (size, the three areas
 * resolved once to host pointers, last_avail_idx, used_idx, notification
 * state), the descriptor-chain walker that turns one available chain into
 * host iovecs, the used-ring publisher, notification suppression in both
 * directions (flags and event-idx), and the "broken" state a malformed ring
 * leaves behind. No KVM, no threads, no PCI: the transport configures it and
 * the devices pop and push; the caller serialises all calls on one queue.
 *
 * Everything the guest wrote is hostile. A chain is accepted only if every
 * descriptor index is in range, every non-empty segment lies wholly in one
 * guest RAM region, the chain has at most `size` segments (indirect entries
 * included; the descriptor that points to an indirect table is not a
 * segment), device-readable segments all come before device-writable ones,
 * and indirect tables follow the spec (feature negotiated, length a non-zero
 * multiple of 16 holding at most `size` entries, inside RAM, no NEXT on the
 * descriptor that points to one, never nested). Each guest field is read
 * once into a local before it is checked and used. The first violation
 * marks the queue broken (error code + reason) and every later pop or push
 * returns that error until virtqueue_reset.
 *
 * A device's queue handler: pop and handle until pop returns 0, push each
 * chain when done, send an interrupt when virtqueue_need_interrupt says so,
 * and go back to sleep only once virtqueue_rearm returns false (otherwise
 * pop again): that re-check is what keeps a kick from being lost. While
 * kicks are enabled with event idx, each pop advances avail_event.
 *
 * The host pointers stay valid as long as the guest RAM mapping that gmem
 * describes; the transport resets its queues before that mapping goes. */
#ifndef VMKIT_VIRTQUEUE_H
#define VMKIT_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "gmem.h"

/* Largest queue size the split layout allows (sizes are powers of two). */
#define VIRTQUEUE_MAX_SIZE 32768u

/* Feature bit numbers (in the negotiated 64-bit feature word) the ring
 * walker cares about. */
#define VIRTQUEUE_F_INDIRECT_DESC 28
#define VIRTQUEUE_F_EVENT_IDX 29

/* Ring layout (virtio 1.x, little-endian): descriptor flags, ring flags,
 * required alignment and the byte sizes of the three areas. */
#define VIRTQUEUE_DESC_F_NEXT 1u
#define VIRTQUEUE_DESC_F_WRITE 2u
#define VIRTQUEUE_DESC_F_INDIRECT 4u
#define VIRTQUEUE_AVAIL_F_NO_INTERRUPT 1u
#define VIRTQUEUE_USED_F_NO_NOTIFY 1u
#define VIRTQUEUE_DESC_ALIGN 16u
#define VIRTQUEUE_AVAIL_ALIGN 2u
#define VIRTQUEUE_USED_ALIGN 4u
#define VIRTQUEUE_DESC_SIZE 16u
#define VIRTQUEUE_DESC_BYTES(n) (16ull * (n))
#define VIRTQUEUE_AVAIL_BYTES(n) (6ull + 2ull * (n))
#define VIRTQUEUE_USED_BYTES(n) (6ull + 8ull * (n))

/* Longest reason string kept for a broken queue (with its NUL). */
#define VIRTQUEUE_REASON_MAX 160

struct virtqueue {
	const struct gmem *gm;
	uint16_t size;           /* 0 while the queue is not set up */
	bool indirect;           /* VIRTQUEUE_F_INDIRECT_DESC negotiated */
	bool event_idx;          /* VIRTQUEUE_F_EVENT_IDX negotiated */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint8_t *desc;           /* host pointers to the three areas */
	uint16_t *avail;         /* flags, idx, ring[size], used_event */
	uint16_t *used;          /* flags, idx, (ring), avail_event at [2+4*size] */
	uint32_t *used_ring;     /* {id, len}[size] inside the used area */
	uint16_t last_avail_idx; /* next avail ring slot to pop */
	uint16_t used_idx;       /* next used ring slot to fill (published) */
	uint16_t signalled_used; /* used_idx at the last interrupt decision */
	bool notify_enabled;     /* driver kicks wanted (set_notify) */
	bool broken;
	int error;               /* -errno when broken, else 0 */
	char reason[VIRTQUEUE_REASON_MAX];
};

/* One popped chain. The caller owns the chain and its iovec storage (give
 * it with virtqueue_chain_init, or use virtqueue_chain_new); iov_max must be
 * at least the queue size, so any legal chain fits. A device keeps as many
 * chains as it has requests in flight; nothing is allocated per pop.
 * iov[0, nout) are the device-readable ("out") segments in chain order,
 * iov[nout, nout + nin) the device-writable ("in") ones; `out` and `in`
 * point at those two parts. Zero-length segments are not listed. */
struct virtqueue_chain {
	uint16_t head;           /* descriptor index to hand back to push */
	unsigned nout, nin;
	uint64_t out_bytes, in_bytes;
	struct iovec *out, *in;
	struct iovec *iov;
	unsigned iov_max;
};

/* One used-ring element for virtqueue_push_batch. */
struct virtqueue_used {
	uint16_t head;
	uint32_t len;
};

/* Set up vq on gm: size a power of two in [1, 32768]; desc 16-aligned,
 * avail 2-aligned, used 4-aligned, each area wholly inside one guest RAM
 * region; features is the negotiated feature word. Resets all ring state
 * (indices start at 0). 0, or -EINVAL (size, alignment) / -EFAULT (area not
 * RAM), in which case the queue is also marked broken with the reason. */
int virtqueue_init(struct virtqueue *vq, const struct gmem *gm, unsigned size,
		   uint64_t desc, uint64_t avail, uint64_t used, uint64_t features);
/* Forget everything: not set up, not broken, indices 0. */
void virtqueue_reset(struct virtqueue *vq);
/* True once virtqueue_init succeeded (and until reset). */
bool virtqueue_ready(const struct virtqueue *vq);
/* True when a malformed ring stopped the queue; reason says why. */
bool virtqueue_broken(const struct virtqueue *vq);
const char *virtqueue_reason(const struct virtqueue *vq);

/* Point chain at caller storage of iov_max iovecs. */
void virtqueue_chain_init(struct virtqueue_chain *chain, struct iovec *iov,
			  unsigned iov_max);
/* A chain with its own storage of iov_max iovecs in one allocation (for
 * request slots set up once); NULL on ENOMEM. Free with virtqueue_chain_free. */
struct virtqueue_chain *virtqueue_chain_new(unsigned iov_max);
void virtqueue_chain_free(struct virtqueue_chain *chain);

/* Take the next available chain: 1 with *chain filled, 0 when the ring is
 * empty, or -errno: the queue is broken (-EINVAL malformed ring, -EFAULT
 * segment or table outside RAM, -EOVERFLOW address + length wraps, -ELOOP
 * chain longer than the queue, e.g. a loop), -ENODEV when the queue is not
 * set up, -ENOSPC when chain->iov_max < queue size (neither breaks the
 * queue nor consumes anything). */
int virtqueue_pop(struct virtqueue *vq, struct virtqueue_chain *chain);
/* Give back the most recently popped chain (the device could not use it
 * yet); the next pop returns it again. Repeated calls give back earlier
 * chains, as long as more chains were popped than pushed. 0, or -EINVAL
 * when there is nothing to give back. Every popped chain must end up
 * pushed or given back: the in-flight count bounds what the driver may
 * make available. */
int virtqueue_unpop(struct virtqueue *vq);
/* True when the driver made buffers available that pop has not taken. */
bool virtqueue_has_avail(const struct virtqueue *vq);

/* A view of the driver's avail index that another thread can poll without
 * the queue's lock (vpoll.h): taken under the lock, it remembers where the
 * index lies in guest RAM and its value then, so that it tells when the
 * driver made more buffers available (not those pop had not taken yet).
 * It stays valid as long as the guest RAM mapping; it says nothing about
 * the queue's state after the lock was dropped (take the lock and pop to
 * find out). */
struct virtqueue_watch {
	const uint16_t *idx;     /* NULL: the queue was not set up or broken */
	uint16_t seen;
};

void virtqueue_watch(const struct virtqueue *vq, struct virtqueue_watch *w);
/* True when the driver's avail index moved since the watch was taken. */
bool virtqueue_watch_moved(const struct virtqueue_watch *w);

/* Return chain `head` to the driver with written_len bytes written to its
 * in-segments, and publish the used index (release). 0, -EINVAL (head out
 * of range, or more chains pushed than popped), or the broken (vq->error) /
 * not-set-up (-ENODEV) error; nothing is written then. */
int virtqueue_push(struct virtqueue *vq, uint16_t head, uint32_t written_len);
/* The same for n elements, published with one used index update. */
int virtqueue_push_batch(struct virtqueue *vq, const struct virtqueue_used *elems,
			 unsigned n);

/* Copy len bytes of device output into the chain's in-segments starting at
 * byte offset off of the in part; returns the bytes copied (less than len
 * when the in part is shorter). Never touches out-segments. */
size_t virtqueue_chain_write(const struct virtqueue_chain *chain, uint64_t off,
			     const void *data, size_t len);
/* Copy up to len bytes of the out-segments from byte offset off into dst;
 * returns the bytes copied. */
size_t virtqueue_chain_read(const struct virtqueue_chain *chain, uint64_t off,
			    void *dst, size_t len);

/* After pushes: should the driver be interrupted now? Event idx: when the
 * used index crossed used_event since the last call; otherwise unless the
 * driver set VIRTQUEUE_AVAIL_F_NO_INTERRUPT. False when nothing was pushed
 * since the last call. Call once per batch and send the interrupt if true. */
bool virtqueue_need_interrupt(struct virtqueue *vq);
/* Ask the driver for kicks (enable) or tell it not to bother (event idx:
 * avail_event; otherwise VIRTQUEUE_USED_F_NO_NOTIFY). With event idx a
 * disable leaves avail_event where it is: a buffer that crosses it still
 * kicks once. */
void virtqueue_set_notify(struct virtqueue *vq, bool enable);
/* No kicks at all, from the driver's next buffer on, until kicks are
 * enabled again (set_notify, rearm): event idx puts avail_event one behind
 * what pop has taken. For a device that watches the ring itself (vpoll.h). */
void virtqueue_mute(struct virtqueue *vq);
/* Re-enable kicks and re-check the ring: true when buffers arrived before
 * the driver could see the re-enable (process them; no kick will come). */
bool virtqueue_rearm(struct virtqueue *vq);

/* The event-idx test: true when moving an index from old to new_idx passed
 * event (all modulo 2^16). */
static inline bool virtqueue_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

#endif
