/* fuzz_virtqueue: libFuzzer harness for the split-virtqueue walker
 * (src/vmm/virtio/virtqueue.c). The input is a small header plus the
 * content of fake guest memory holding the descriptor table, the avail ring
 * and any indirect tables; the harness pops until the ring is empty or
 * broken, reads every out-segment, writes every in-segment (through the
 * chain helpers and directly), pushes, and exercises notification
 * suppression. Guest RAM is two exactly-sized heap buffers (A at 0, B after
 * a gap, B starting as a copy of A's first bytes), so ASan sees any access
 * outside them; a broken contract traps.
 *
 * Input layout (little-endian):
 *   [0]    queue size = 1 << (byte % 9)                  (1..256)
 *   [1]    bit 0 INDIRECT_DESC, bit 1 EVENT_IDX, bit 2 ring addresses from
 *          [2..7], bit 3 unpop and re-pop each chain once, bit 4 kicks off
 *   [2..7] desc, avail, used guest addresses (u16 each) when bit 2 is set;
 *          otherwise desc at 0, avail right after it, used after that
 *          (4-aligned) = VQFUZZ layout
 *   [8..]  region A content (zero-filled to its size) */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define FUZZ_HDR 8
#define FUZZ_A_GPA 0x0ull
#define FUZZ_A_SIZE 0x2000u
#define FUZZ_B_GPA 0x3000ull
#define FUZZ_B_SIZE 0x1000u
#define FUZZ_MAX_QSIZE 256u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_ram {
	struct gmem gm;
	uint8_t *a, *b;
};

static void fuzz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static bool fuzz_in_buf(const uint8_t *buf, size_t buf_len, const void *p, size_t len)
{
	const uint8_t *q = p;

	return q >= buf && q <= buf + buf_len && len <= (size_t)(buf + buf_len - q);
}

static uint16_t fuzz_u16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Every segment lies in one RAM buffer and the totals add up. */
static void fuzz_check_chain(const struct fuzz_ram *r, const struct virtqueue *vq,
			     const struct virtqueue_chain *c)
{
	uint64_t out = 0, in = 0;

	fuzz_check(c->head < vq->size);
	fuzz_check(c->nout + c->nin <= vq->size);
	fuzz_check(c->out == c->iov && c->in == c->iov + c->nout);
	for (unsigned i = 0; i < c->nout + c->nin; i++) {
		const struct iovec *v = &c->iov[i];

		fuzz_check(v->iov_len > 0);
		fuzz_check(fuzz_in_buf(r->a, FUZZ_A_SIZE, v->iov_base, v->iov_len) ||
			   fuzz_in_buf(r->b, FUZZ_B_SIZE, v->iov_base, v->iov_len));
		if (i < c->nout)
			out += v->iov_len;
		else
			in += v->iov_len;
	}
	fuzz_check(out == c->out_bytes && in == c->in_bytes);
}

/* Use the chain the way a device would: read the request, write a reply. */
static void fuzz_use_chain(const struct virtqueue_chain *c)
{
	static const uint8_t reply[32] = "fuzz reply: device output bytes";
	uint8_t buf[64];
	size_t n;

	n = virtqueue_chain_read(c, 0, buf, sizeof(buf));
	fuzz_check(n == (c->out_bytes < sizeof(buf) ? c->out_bytes : sizeof(buf)));
	if (c->out_bytes)
		fuzz_check(virtqueue_chain_read(c, c->out_bytes - 1, buf, sizeof(buf)) == 1);
	fuzz_check(virtqueue_chain_read(c, c->out_bytes, buf, 1) == 0);
	for (unsigned i = 0; i < c->nin; i++)
		memset(c->in[i].iov_base, 0xa5, c->in[i].iov_len);
	n = virtqueue_chain_write(c, c->in_bytes / 2, reply, sizeof(reply));
	fuzz_check(n == (c->in_bytes - c->in_bytes / 2 < sizeof(reply) ?
			 c->in_bytes - c->in_bytes / 2 : sizeof(reply)));
	fuzz_check(virtqueue_chain_write(c, c->in_bytes, reply, 1) == 0);
}

/* Pop once; with unpop set, give the chain back and pop it again. Pop
 * writes nothing but avail_event (event idx), which lies in the used area:
 * unless the ring areas were placed by the input (and may overlap), the
 * avail ring is unchanged and the same head comes back. */
static int fuzz_pop(struct virtqueue *vq, struct virtqueue_chain *c, uint8_t flags)
{
	int ret = virtqueue_pop(vq, c);
	uint16_t head = c->head;

	if (ret != 1 || !(flags & 8))
		return ret;
	fuzz_check(virtqueue_unpop(vq) == 0);
	ret = virtqueue_pop(vq, c);
	fuzz_check(ret != 0);
	if (!(flags & 4))
		fuzz_check(c->head == head);
	return ret;
}

static void fuzz_run_queue(const struct fuzz_ram *r, struct virtqueue *vq, uint8_t flags)
{
	struct iovec iov[FUZZ_MAX_QSIZE];
	struct virtqueue_chain c;
	int ret = 0;

	virtqueue_chain_init(&c, iov, FUZZ_MAX_QSIZE);
	if (flags & 16)
		virtqueue_set_notify(vq, false);
	for (unsigned i = 0; i < 2u * vq->size + 4; i++) {
		ret = fuzz_pop(vq, &c, flags);
		if (ret == 0 && virtqueue_rearm(vq))
			continue;
		if (ret <= 0)
			break;
		fuzz_check_chain(r, vq, &c);
		fuzz_use_chain(&c);
		fuzz_check(virtqueue_push(vq, c.head,
					  c.in_bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)c.in_bytes) == 0);
		(void)virtqueue_need_interrupt(vq);
	}
	if (ret < 0) {
		fuzz_check(virtqueue_broken(vq) && virtqueue_reason(vq)[0] != '\0');
		fuzz_check(virtqueue_pop(vq, &c) == ret);
		fuzz_check(virtqueue_push(vq, 0, 0) == ret);
		fuzz_check(!virtqueue_need_interrupt(vq));
	} else {
		fuzz_check(!virtqueue_broken(vq));
	}
}

static void fuzz_layout(const uint8_t *hdr, unsigned qsize, uint64_t *desc, uint64_t *avail,
			uint64_t *used)
{
	if (hdr[1] & 4) {
		*desc = fuzz_u16(hdr + 2);
		*avail = fuzz_u16(hdr + 4);
		*used = fuzz_u16(hdr + 6);
		return;
	}
	*desc = 0;
	*avail = VIRTQUEUE_DESC_BYTES(qsize);
	*used = (*avail + VIRTQUEUE_AVAIL_BYTES(qsize) + 3) & ~3ull;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ram r = { 0 };
	struct virtqueue vq;
	uint64_t desc, avail, used, features = 0;
	unsigned qsize;
	int ret;

	if (size < FUZZ_HDR)
		return 0;
	r.a = calloc(1, FUZZ_A_SIZE);
	r.b = malloc(FUZZ_B_SIZE);
	fuzz_check(r.a && r.b);
	memcpy(r.a, data + FUZZ_HDR, size - FUZZ_HDR < FUZZ_A_SIZE ? size - FUZZ_HDR : FUZZ_A_SIZE);
	memcpy(r.b, r.a, FUZZ_B_SIZE);
	fuzz_check(gmem_add_region(&r.gm, FUZZ_A_GPA, FUZZ_A_SIZE, r.a) == 0);
	fuzz_check(gmem_add_region(&r.gm, FUZZ_B_GPA, FUZZ_B_SIZE, r.b) == 0);
	qsize = 1u << (data[0] % 9);
	if (data[1] & 1)
		features |= 1ull << VIRTQUEUE_F_INDIRECT_DESC;
	if (data[1] & 2)
		features |= 1ull << VIRTQUEUE_F_EVENT_IDX;
	fuzz_layout(data, qsize, &desc, &avail, &used);
	ret = virtqueue_init(&vq, &r.gm, qsize, desc, avail, used, features);
	if (ret == 0)
		fuzz_run_queue(&r, &vq, data[1]);
	else
		fuzz_check(virtqueue_broken(&vq) && !virtqueue_ready(&vq) &&
			   (ret == -EINVAL || ret == -EFAULT));
	free(r.a);
	free(r.b);
	return 0;
}
