/* test_virtqueue: the split-virtqueue walker (src/vmm/virtio/virtqueue.c) on
 * fake guest memory: three malloc'd regions, A and B adjacent in guest
 * physical space (separate host buffers) and C after a gap. Healthy chains
 * (direct, indirect, mixed, zero-length, 16-bit wrap-around), used-ring
 * publishing, bounded copies in and out of a chain, notification
 * suppression both ways, and one table-driven test per malformed ring or
 * ring set-up, each checking the error, the broken flag, the reason and
 * that the queue stays broken until it is reset. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fake/fake_ring.h"
#include "tests/fake/fake_ring_cmocka.h"
#include "virtio/virtqueue.h"

#define RAM_A_GPA 0x0ull
#define RAM_A_SIZE 0x10000ull
#define RAM_B_GPA 0x10000ull /* adjacent to A */
#define RAM_B_SIZE 0x2000ull
#define RAM_C_GPA 0x20000ull /* after a gap */
#define RAM_C_SIZE 0x1000ull
#define GAP_GPA 0x18000ull

#define QSIZE 16u
#define QMAX 64u
#define DESC_GPA 0x1000ull
#define AVAIL_GPA 0x2000ull
#define USED_GPA 0x3000ull
#define DATA_GPA 0x8000ull
#define ITABLE_GPA 0x10100ull /* indirect tables live in B */
#define ITABLE2_GPA 0x10800ull

#define F_INDIRECT (1ull << VIRTQUEUE_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ull << VIRTQUEUE_F_EVENT_IDX)
#define F_ALL (F_INDIRECT | F_EVENT_IDX)

#define D_NEXT VIRTQUEUE_DESC_F_NEXT
#define D_WRITE VIRTQUEUE_DESC_F_WRITE
#define D_INDIRECT VIRTQUEUE_DESC_F_INDIRECT

struct fx {
	struct gmem gm;
	uint8_t *ram[3];
	unsigned size;
	struct virtqueue vq;
	struct iovec iov[QMAX];
	struct virtqueue_chain chain;
	struct fake_ring_mem mem;   /* the fake driver: tests/fake/fake_ring.c */
	struct fake_ring ring;
};

/* --- fake guest memory and a fake driver --- */

static void fx_w16(struct fx *f, uint64_t gpa, uint16_t v)
{
	fake_ring_w16(&f->mem, gpa, v);
}

static uint16_t fx_r16(struct fx *f, uint64_t gpa)
{
	return fake_ring_r16(&f->mem, gpa);
}

static void *fx_host(struct fx *f, uint64_t gpa)
{
	void *p = gmem_ptr(&f->gm, gpa, 1);

	assert_non_null(p);
	return p;
}

static void fx_desc(struct fx *f, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	fake_ring_put_desc(&f->mem, table, i, addr, len, flags, next);
}

static void fx_set_avail_idx(struct fx *f, uint16_t idx)
{
	f->ring.avail_idx = idx;
	fx_w16(f, AVAIL_GPA + 2, idx);
}

/* Make chain `head` available. */
static void fx_post(struct fx *f, uint16_t head)
{
	fake_ring_publish(&f->ring, head);
}

static struct fx *fx_new(unsigned size, uint64_t features)
{
	static const uint64_t gpa[3] = { RAM_A_GPA, RAM_B_GPA, RAM_C_GPA };
	static const uint64_t len[3] = { RAM_A_SIZE, RAM_B_SIZE, RAM_C_SIZE };
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	for (unsigned i = 0; i < 3; i++) {
		f->ram[i] = calloc(1, len[i]);
		assert_non_null(f->ram[i]);
		assert_int_equal(gmem_add_region(&f->gm, gpa[i], len[i], f->ram[i]), 0);
	}
	f->size = size;
	virtqueue_chain_init(&f->chain, f->iov, QMAX);
	fake_ring_mem_init(&f->mem, &f->gm, DATA_GPA, RAM_A_SIZE, fake_ring_fail_test);
	fake_ring_init(&f->ring, &f->mem, size, DESC_GPA, AVAIL_GPA, USED_GPA);
	assert_int_equal(fake_ring_attach(&f->ring, &f->vq, features), 0);
	return f;
}

static void fx_free(struct fx *f)
{
	for (unsigned i = 0; i < 3; i++)
		free(f->ram[i]);
	free(f);
}

static uint16_t fx_used_idx(struct fx *f)
{
	return fake_ring_used_idx(&f->ring);
}

static void fx_check_used(struct fx *f, uint16_t slot, uint32_t want_id, uint32_t want_len)
{
	uint32_t id, len;

	fake_ring_used(&f->ring, slot, &id, &len);
	assert_int_equal(id, want_id);
	assert_int_equal(len, want_len);
}

/* --- set-up --- */

static void test_init_ok(void **state)
{
	struct fx *f = fx_new(QSIZE, F_ALL);

	assert_true(virtqueue_ready(&f->vq));
	assert_false(virtqueue_broken(&f->vq));
	assert_int_equal(f->vq.size, QSIZE);
	assert_true(f->vq.indirect);
	assert_true(f->vq.event_idx);
	assert_ptr_equal(f->vq.desc, fx_host(f, DESC_GPA));
	assert_ptr_equal(f->vq.avail, fx_host(f, AVAIL_GPA));
	assert_ptr_equal(f->vq.used, fx_host(f, USED_GPA));
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), 0);
	assert_false(virtqueue_has_avail(&f->vq));
	/* a larger queue, features off */
	assert_int_equal(virtqueue_init(&f->vq, &f->gm, 1024, 0, 0x4000, 0x5000, 0), 0);
	assert_false(f->vq.indirect);
	virtqueue_reset(&f->vq);
	assert_false(virtqueue_ready(&f->vq));
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), -ENODEV);
	assert_int_equal(virtqueue_push(&f->vq, 0, 0), -ENODEV);
	fx_free(f);
}

struct init_case {
	const char *name;
	unsigned size;
	uint64_t desc, avail, used;
	int err;
	const char *reason;
};

static const struct init_case init_cases[] = {
	{ "size 0", 0, DESC_GPA, AVAIL_GPA, USED_GPA, -EINVAL, "queue size 0" },
	{ "size 3", 3, DESC_GPA, AVAIL_GPA, USED_GPA, -EINVAL, "queue size 3 invalid" },
	{ "size 65536", 65536, DESC_GPA, AVAIL_GPA, USED_GPA, -EINVAL, "queue size 65536" },
	{ "desc misaligned", QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA, -EINVAL,
	  "descriptor table address 0x1008 not 16-byte aligned" },
	{ "avail misaligned", QSIZE, DESC_GPA, AVAIL_GPA + 1, USED_GPA, -EINVAL,
	  "avail ring address 0x2001 not 2-byte aligned" },
	{ "used misaligned", QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA + 2, -EINVAL,
	  "used ring address 0x3002 not 4-byte aligned" },
	{ "desc across A/B", QSIZE, RAM_B_GPA - 0x80, AVAIL_GPA, USED_GPA, -EFAULT,
	  "descriptor table at 0xff80 length 0x100 outside guest RAM" },
	{ "avail in the gap", QSIZE, DESC_GPA, GAP_GPA, USED_GPA, -EFAULT,
	  "avail ring at 0x18000" },
	{ "used past the end of RAM", QSIZE, DESC_GPA, AVAIL_GPA, RAM_C_GPA + RAM_C_SIZE - 0x40,
	  -EFAULT, "used ring at 0x20fc0 length 0x86 outside guest RAM" },
	{ "used wraps", QSIZE, DESC_GPA, AVAIL_GPA, 0xfffffffffffffff0ull, -EFAULT, "used ring" },
	{ "desc too big for RAM", 32768, DESC_GPA, AVAIL_GPA, USED_GPA, -EFAULT,
	  "descriptor table at 0x1000 length 0x80000" },
};

static void test_init_bad(void **state)
{
	const struct init_case *c = *state;
	struct fx *f = fx_new(QSIZE, F_ALL);
	int ret;

	ret = virtqueue_init(&f->vq, &f->gm, c->size, c->desc, c->avail, c->used, F_ALL);
	assert_int_equal(ret, c->err);
	assert_true(virtqueue_broken(&f->vq));
	assert_false(virtqueue_ready(&f->vq));
	if (!strstr(virtqueue_reason(&f->vq), c->reason))
		fail_msg("%s: reason \"%s\" lacks \"%s\"", c->name, virtqueue_reason(&f->vq),
			 c->reason);
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), c->err);
	assert_int_equal(virtqueue_push(&f->vq, 0, 0), c->err);
	fx_free(f);
}

/* --- healthy chains --- */

static void test_direct_chain(void **state)
{
	struct fx *f = fx_new(QSIZE, 0);
	struct virtqueue_chain *c = &f->chain;

	fx_desc(f, DESC_GPA, 3, DATA_GPA, 16, D_NEXT, 7);
	fx_desc(f, DESC_GPA, 7, DATA_GPA + 0x100, 512, D_NEXT, 1);
	fx_desc(f, DESC_GPA, 1, DATA_GPA + 0x400, 512, D_WRITE | D_NEXT, 2);
	fx_desc(f, DESC_GPA, 2, RAM_C_GPA + RAM_C_SIZE - 1, 1, D_WRITE, 0);
	fx_post(f, 3);
	assert_true(virtqueue_has_avail(&f->vq));
	assert_int_equal(virtqueue_pop(&f->vq, c), 1);
	assert_int_equal(c->head, 3);
	assert_int_equal(c->nout, 2);
	assert_int_equal(c->nin, 2);
	assert_int_equal(c->out_bytes, 528);
	assert_int_equal(c->in_bytes, 513);
	assert_ptr_equal(c->out, c->iov);
	assert_ptr_equal(c->in, c->iov + 2);
	assert_ptr_equal(c->out[0].iov_base, fx_host(f, DATA_GPA));
	assert_int_equal(c->out[0].iov_len, 16);
	assert_ptr_equal(c->out[1].iov_base, fx_host(f, DATA_GPA + 0x100));
	assert_ptr_equal(c->in[0].iov_base, fx_host(f, DATA_GPA + 0x400));
	assert_ptr_equal(c->in[1].iov_base, fx_host(f, RAM_C_GPA + RAM_C_SIZE - 1));
	assert_int_equal(c->in[1].iov_len, 1);
	assert_int_equal(virtqueue_pop(&f->vq, c), 0);
	assert_int_equal(fx_used_idx(f), 0);
	assert_int_equal(virtqueue_push(&f->vq, 3, 513), 0);
	assert_int_equal(fx_used_idx(f), 1);
	fx_check_used(f, 0, 3, 513);
	fx_free(f);
}

static void test_indirect_chain(void **state)
{
	struct fx *f = fx_new(QSIZE, F_INDIRECT);
	struct virtqueue_chain *c = &f->chain;

	/* table entries in any order; the WRITE flag on the pointer is ignored */
	fx_desc(f, ITABLE_GPA, 0, DATA_GPA, 16, D_NEXT, 2);
	fx_desc(f, ITABLE_GPA, 2, DATA_GPA + 0x100, 4096, D_NEXT | D_WRITE, 1);
	fx_desc(f, ITABLE_GPA, 1, RAM_C_GPA, 1, D_WRITE, 0);
	fx_desc(f, DESC_GPA, 5, ITABLE_GPA, 48, D_INDIRECT | D_WRITE, 0);
	fx_post(f, 5);
	assert_int_equal(virtqueue_pop(&f->vq, c), 1);
	assert_int_equal(c->head, 5);
	assert_int_equal(c->nout, 1);
	assert_int_equal(c->nin, 2);
	assert_int_equal(c->out_bytes, 16);
	assert_int_equal(c->in_bytes, 4097);
	assert_ptr_equal(c->in[0].iov_base, fx_host(f, DATA_GPA + 0x100));
	assert_ptr_equal(c->in[1].iov_base, fx_host(f, RAM_C_GPA));
	assert_int_equal(virtqueue_push(&f->vq, 5, 1), 0);
	fx_check_used(f, 0, 5, 1);
	fx_free(f);
}

/* Direct out-segments, then an indirect table of QSIZE - 2 entries: the
 * longest chain allowed is exactly the queue size in segments. */
static void test_mixed_chain_at_cap(void **state)
{
	struct fx *f = fx_new(QSIZE, F_INDIRECT);
	struct virtqueue_chain *c = &f->chain;
	unsigned n = QSIZE - 2;

	fx_desc(f, DESC_GPA, 0, DATA_GPA, 8, D_NEXT, 1);
	fx_desc(f, DESC_GPA, 1, DATA_GPA + 8, 8, D_NEXT, 2);
	fx_desc(f, DESC_GPA, 2, ITABLE_GPA, 16 * n, D_INDIRECT, 0);
	for (unsigned i = 0; i < n; i++)
		fx_desc(f, ITABLE_GPA, i, DATA_GPA + 0x1000 + 0x10 * i, 0x10,
			(i + 1 < n ? D_NEXT : 0) | (i >= 4 ? D_WRITE : 0), (uint16_t)(i + 1));
	fx_post(f, 0);
	assert_int_equal(virtqueue_pop(&f->vq, c), 1);
	assert_int_equal(c->nout, 6);
	assert_int_equal(c->nin, n - 4);
	assert_int_equal(c->out_bytes, 16 + 4 * 0x10);
	assert_int_equal(c->in_bytes, (n - 4) * 0x10);
	assert_ptr_equal(c->in[0].iov_base, fx_host(f, DATA_GPA + 0x1040));
	fx_free(f);
}

/* Zero-length segments count toward the cap but are not mapped, wherever
 * they point. */
static void test_zero_length_segment(void **state)
{
	struct fx *f = fx_new(QSIZE, 0);
	struct virtqueue_chain *c = &f->chain;

	fx_desc(f, DESC_GPA, 0, 0xdead00000000ull, 0, D_NEXT, 1);
	fx_desc(f, DESC_GPA, 1, DATA_GPA, 4, D_NEXT, 2);
	fx_desc(f, DESC_GPA, 2, UINT64_MAX, 0, D_WRITE, 0);
	fx_post(f, 0);
	assert_int_equal(virtqueue_pop(&f->vq, c), 1);
	assert_int_equal(c->nout, 1);
	assert_int_equal(c->nin, 0);
	assert_int_equal(c->out_bytes, 4);
	assert_int_equal(c->in_bytes, 0);
	fx_free(f);
}

/* 70000 requests through a 4-entry queue: every 16-bit index wraps. */
static void test_index_wrap(void **state)
{
	struct fx *f = fx_new(4, F_EVENT_IDX);
	struct virtqueue_chain *c = &f->chain;

	for (unsigned i = 0; i < 4; i++)
		fx_desc(f, DESC_GPA, i, DATA_GPA + 0x100 * i, 0x100, D_WRITE, 0);
	for (uint32_t i = 0; i < 70000; i++) {
		uint16_t head = (uint16_t)((i * 3) % 4);

		fx_post(f, head);
		if (i % 2 == 0)
			fx_post(f, (uint16_t)((head + 1) % 4));
		while (virtqueue_pop(&f->vq, c) == 1) {
			assert_int_equal(virtqueue_push(&f->vq, c->head, c->head), 0);
			fx_check_used(f, (uint16_t)(f->vq.used_idx - 1), c->head, c->head);
		}
		assert_false(virtqueue_broken(&f->vq));
		assert_int_equal(fx_used_idx(f), f->ring.avail_idx);
		assert_int_equal(fx_r16(f, USED_GPA + 4 + 8 * 4),
				 f->ring.avail_idx); /* avail_event */
	}
	assert_true(f->vq.last_avail_idx == f->ring.avail_idx);
	fx_free(f);
}

static void test_unpop(void **state)
{
	struct fx *f = fx_new(QSIZE, 0);
	struct virtqueue_chain *c = &f->chain;

	fx_desc(f, DESC_GPA, 0, DATA_GPA, 4, 0, 0);
	fx_desc(f, DESC_GPA, 1, DATA_GPA, 4, D_WRITE, 0);
	fx_post(f, 0);
	fx_post(f, 1);
	assert_int_equal(virtqueue_unpop(&f->vq), -EINVAL);
	assert_int_equal(virtqueue_pop(&f->vq, c), 1);
	assert_int_equal(virtqueue_pop(&f->vq, c), 1);
	assert_int_equal(c->head, 1);
	assert_int_equal(virtqueue_unpop(&f->vq), 0);
	assert_int_equal(virtqueue_pop(&f->vq, c), 1);
	assert_int_equal(c->head, 1);
	assert_int_equal(virtqueue_pop(&f->vq, c), 0);
	fx_free(f);
}

static void test_push_batch(void **state)
{
	struct fx *f = fx_new(QSIZE, 0);
	const struct virtqueue_used done[3] = { { 2, 20 }, { 0, 0 }, { 1, 10 } };
	const struct virtqueue_used bad = { QSIZE, 1 };

	for (uint16_t i = 0; i < 3; i++) {
		fx_desc(f, DESC_GPA, i, DATA_GPA, 4, D_WRITE, 0);
		fx_post(f, i);
		assert_int_equal(virtqueue_pop(&f->vq, &f->chain), 1);
	}
	assert_int_equal(virtqueue_push_batch(&f->vq, &bad, 1), -EINVAL);
	assert_int_equal(virtqueue_push_batch(&f->vq, done, 3), 0);
	assert_int_equal(fx_used_idx(f), 3);
	fx_check_used(f, 0, 2, 20);
	fx_check_used(f, 1, 0, 0);
	fx_check_used(f, 2, 1, 10);
	/* never more pushes than pops */
	assert_int_equal(virtqueue_push(&f->vq, 0, 0), -EINVAL);
	assert_int_equal(fx_used_idx(f), 3);
	assert_false(virtqueue_broken(&f->vq));
	fx_free(f);
}

static void test_chain_small_storage(void **state)
{
	struct fx *f = fx_new(QSIZE, 0);
	struct virtqueue_chain small;
	struct virtqueue_chain *big = virtqueue_chain_new(QSIZE);
	struct iovec iov[QSIZE - 1];

	assert_non_null(big);
	virtqueue_chain_init(&small, iov, QSIZE - 1);
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 4, 0, 0);
	fx_post(f, 0);
	assert_int_equal(virtqueue_pop(&f->vq, &small), -ENOSPC);
	assert_false(virtqueue_broken(&f->vq));
	assert_int_equal(virtqueue_pop(&f->vq, big), 1);
	assert_int_equal(big->nout, 1);
	assert_ptr_equal(big->out[0].iov_base, fx_host(f, DATA_GPA));
	virtqueue_chain_free(big);
	fx_free(f);
}

/* chain_write fills only in-segments, chain_read reads only out-segments,
 * both from an offset and bounded by the chain. */
static void test_chain_copy(void **state)
{
	struct fx *f = fx_new(QSIZE, 0);
	struct virtqueue_chain *c = &f->chain;
	uint8_t buf[64], out[64];
	uint8_t *ram = fx_host(f, DATA_GPA);

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i + 1);
	memset(ram, 0xee, 0x100);
	memcpy(ram, "abcde", 5);
	memcpy(ram + 0x10, "fgh", 3);
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 5, D_NEXT, 1);        /* out "abcde" */
	fx_desc(f, DESC_GPA, 1, DATA_GPA + 0x10, 3, D_NEXT, 2); /* out "fgh" */
	fx_desc(f, DESC_GPA, 2, DATA_GPA + 0x20, 3, D_WRITE | D_NEXT, 3);
	fx_desc(f, DESC_GPA, 3, DATA_GPA + 0x40, 4, D_WRITE, 0);
	fx_post(f, 0);
	assert_int_equal(virtqueue_pop(&f->vq, c), 1);

	assert_int_equal(virtqueue_chain_read(c, 0, out, sizeof(out)), 8);
	assert_memory_equal(out, "abcdefgh", 8);
	assert_int_equal(virtqueue_chain_read(c, 3, out, 4), 4);
	assert_memory_equal(out, "defg", 4);
	assert_int_equal(virtqueue_chain_read(c, 6, out, 10), 2);
	assert_memory_equal(out, "gh", 2);
	assert_int_equal(virtqueue_chain_read(c, 8, out, 1), 0);
	assert_int_equal(virtqueue_chain_read(c, UINT64_MAX, out, 1), 0);

	assert_int_equal(virtqueue_chain_write(c, 0, buf, sizeof(buf)), 7);
	assert_memory_equal(ram + 0x20, buf, 3);
	assert_memory_equal(ram + 0x40, buf + 3, 4);
	assert_int_equal(ram[0x23], 0xee);
	assert_int_equal(ram[0x44], 0xee);
	assert_int_equal(virtqueue_chain_write(c, 1, "WXYZ", 4), 4);
	assert_memory_equal(ram + 0x21, "WX", 2);
	assert_int_equal(ram[0x23], 0xee);
	assert_memory_equal(ram + 0x40, "YZ", 2);
	assert_int_equal(virtqueue_chain_write(c, 6, "Z", 1), 1);
	assert_int_equal(ram[0x43], 'Z');
	assert_int_equal(virtqueue_chain_write(c, 7, "Y", 1), 0);
	assert_int_equal(virtqueue_chain_write(c, UINT64_MAX, "Y", 1), 0);
	/* the device-readable buffers are untouched */
	assert_memory_equal(ram, "abcde", 5);
	assert_memory_equal(ram + 0x10, "fgh", 3);
	assert_int_equal(ram[5], 0xee);
	assert_int_equal(ram[0x13], 0xee);
	fx_free(f);
}

/* --- notification suppression --- */

static void test_need_event_math(void **state)
{
	static const struct {
		uint16_t event, new_idx, old;
		bool need;
	} cases[] = {
		{ 0, 1, 0, true },          /* crossed event 0 */
		{ 0, 2, 1, false },         /* already past it */
		{ 5, 5, 3, false },         /* reached, not passed */
		{ 5, 6, 3, true },
		{ 5, 6, 6, false },         /* nothing moved */
		{ 0xffff, 0, 0xfffe, true },/* crossing at the wrap */
		{ 0xfffe, 2, 0xfff0, true },
		{ 3, 2, 0xfff0, false },    /* event ahead of new */
		{ 0xfff0, 2, 0xfff8, false },/* event behind old */
		{ 7, 100, 7, true },        /* old == event */
	};

	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (virtqueue_need_event(cases[i].event, cases[i].new_idx, cases[i].old) !=
		    cases[i].need)
			fail_msg("case %u: event %u new %u old %u", i, cases[i].event,
				 cases[i].new_idx, cases[i].old);
}

/* Pop and push one single-segment chain on descriptor 0. */
static void fx_roundtrip(struct fx *f)
{
	fx_post(f, 0);
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), 1);
	assert_int_equal(virtqueue_push(&f->vq, 0, 0), 0);
}

static void test_interrupt_flags(void **state)
{
	struct fx *f = fx_new(QSIZE, 0);

	fx_desc(f, DESC_GPA, 0, DATA_GPA, 4, D_WRITE, 0);
	assert_false(virtqueue_need_interrupt(&f->vq)); /* nothing used yet */
	fx_roundtrip(f);
	assert_true(virtqueue_need_interrupt(&f->vq));
	assert_false(virtqueue_need_interrupt(&f->vq)); /* nothing new */
	fx_w16(f, AVAIL_GPA, VIRTQUEUE_AVAIL_F_NO_INTERRUPT);
	fx_roundtrip(f);
	assert_false(virtqueue_need_interrupt(&f->vq));
	fx_w16(f, AVAIL_GPA, 0);
	fx_roundtrip(f);
	fx_roundtrip(f);
	assert_true(virtqueue_need_interrupt(&f->vq));
	/* used_event is ignored without event idx */
	fx_w16(f, AVAIL_GPA + 4 + 2 * QSIZE, 100);
	fx_roundtrip(f);
	assert_true(virtqueue_need_interrupt(&f->vq));
	fx_free(f);
}

static void test_interrupt_event_idx(void **state)
{
	struct fx *f = fx_new(QSIZE, F_EVENT_IDX);
	uint64_t used_event = AVAIL_GPA + 4 + 2 * QSIZE;

	fx_desc(f, DESC_GPA, 0, DATA_GPA, 4, D_WRITE, 0);
	fx_w16(f, AVAIL_GPA, VIRTQUEUE_AVAIL_F_NO_INTERRUPT); /* ignored with event idx */
	fx_roundtrip(f);                                       /* used 0 -> 1 */
	assert_true(virtqueue_need_interrupt(&f->vq));         /* used_event 0 */
	fx_roundtrip(f);                                       /* 1 -> 2 */
	assert_false(virtqueue_need_interrupt(&f->vq));
	fx_w16(f, used_event, 4);                              /* after the 5th */
	fx_roundtrip(f);
	fx_roundtrip(f);                                       /* 2 -> 4 */
	assert_false(virtqueue_need_interrupt(&f->vq));
	fx_roundtrip(f);
	fx_roundtrip(f);                                       /* 4 -> 6 crosses 4 */
	assert_true(virtqueue_need_interrupt(&f->vq));
	fx_roundtrip(f);
	assert_false(virtqueue_need_interrupt(&f->vq));
	fx_free(f);
}

static void test_notify_flags(void **state)
{
	struct fx *f = fx_new(QSIZE, 0);

	fx_desc(f, DESC_GPA, 0, DATA_GPA, 4, D_WRITE, 0);
	virtqueue_set_notify(&f->vq, false);
	assert_int_equal(fx_r16(f, USED_GPA), VIRTQUEUE_USED_F_NO_NOTIFY);
	assert_false(virtqueue_rearm(&f->vq));
	assert_int_equal(fx_r16(f, USED_GPA), 0);
	virtqueue_set_notify(&f->vq, false);
	fx_post(f, 0); /* arrives while kicks are off */
	assert_true(virtqueue_rearm(&f->vq));
	assert_int_equal(fx_r16(f, USED_GPA), 0);
	assert_int_equal(fx_r16(f, USED_GPA + 4 + 8 * QSIZE), 0); /* avail_event untouched */
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), 1);
	assert_false(virtqueue_rearm(&f->vq));
	fx_free(f);
}

static void test_notify_event_idx(void **state)
{
	struct fx *f = fx_new(QSIZE, F_EVENT_IDX);
	uint64_t avail_event = USED_GPA + 4 + 8 * QSIZE;

	fx_desc(f, DESC_GPA, 0, DATA_GPA, 4, D_WRITE, 0);
	fx_roundtrip(f);
	assert_int_equal(fx_r16(f, avail_event), 1); /* pop advances it while enabled */
	virtqueue_set_notify(&f->vq, false);
	fx_roundtrip(f);
	fx_roundtrip(f);
	assert_int_equal(fx_r16(f, avail_event), 1); /* left behind while disabled */
	assert_int_equal(fx_r16(f, USED_GPA), 0);    /* flags not used with event idx */
	fx_post(f, 0);
	assert_true(virtqueue_rearm(&f->vq));
	assert_int_equal(fx_r16(f, avail_event), 3);
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), 1);
	assert_int_equal(fx_r16(f, avail_event), 4);
	assert_false(virtqueue_rearm(&f->vq));
	fx_free(f);
}

/* mute: with event idx, avail_event one behind what pop took, so that
 * whatever the driver adds from now on crosses nothing; the flag without
 * it; rearm undoes both. */
static void test_mute(void **state)
{
	uint64_t avail_event = USED_GPA + 4 + 8 * QSIZE;
	struct fx *f = fx_new(QSIZE, F_EVENT_IDX);

	fx_desc(f, DESC_GPA, 0, DATA_GPA, 4, D_WRITE, 0);
	fx_roundtrip(f);
	assert_int_equal(fx_r16(f, avail_event), 1);
	virtqueue_mute(&f->vq);
	assert_int_equal(fx_r16(f, avail_event), 0);
	for (uint16_t n = 1; n <= QSIZE; n++)   /* any batch from index 1 */
		assert_false(virtqueue_need_event(fx_r16(f, avail_event), (uint16_t)(1 + n), 1));
	fx_post(f, 0);
	assert_true(virtqueue_rearm(&f->vq));
	assert_int_equal(fx_r16(f, avail_event), 1);
	fx_free(f);
	f = fx_new(QSIZE, 0);
	virtqueue_mute(&f->vq);
	assert_int_equal(fx_r16(f, USED_GPA), VIRTQUEUE_USED_F_NO_NOTIFY);
	assert_false(virtqueue_rearm(&f->vq));
	assert_int_equal(fx_r16(f, USED_GPA), 0);
	fx_free(f);
}

/* --- malformed rings --- */

struct bad_case {
	const char *name;
	uint64_t features;
	void (*build)(struct fx *f);
	int err;
	const char *reason;
};

static void one_out(struct fx *f, uint64_t addr, uint32_t len)
{
	fx_desc(f, DESC_GPA, 0, addr, len, 0, 0);
	fx_post(f, 0);
}

static void bad_addr(struct fx *f)
{
	one_out(f, 0x50000000, 16);
}

static void bad_len_overflow(struct fx *f)
{
	one_out(f, 0xfffffffffffff000ull, 0x2000);
}

static void bad_end_of_ram(struct fx *f)
{
	one_out(f, RAM_C_GPA + RAM_C_SIZE - 0x100, 0x101);
}

static void bad_span_regions(struct fx *f)
{
	one_out(f, RAM_B_GPA - 0x100, 0x200);
}

static void bad_span_gap(struct fx *f)
{
	one_out(f, RAM_B_GPA + RAM_B_SIZE - 0x10, 0x20);
}

static void bad_second_segment(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 16, D_NEXT, 1);
	fx_desc(f, DESC_GPA, 1, GAP_GPA, 16, D_WRITE, 0);
	fx_post(f, 0);
}

static void bad_too_long(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 16, D_NEXT, 1);
	fx_desc(f, DESC_GPA, 1, ITABLE_GPA, 16 * QSIZE, D_INDIRECT, 0);
	for (unsigned i = 0; i < QSIZE; i++)
		fx_desc(f, ITABLE_GPA, i, DATA_GPA, 16, i + 1 < QSIZE ? D_NEXT : 0,
			(uint16_t)(i + 1));
	fx_post(f, 0);
}

static void bad_loop(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 16, D_NEXT, 1);
	fx_desc(f, DESC_GPA, 1, DATA_GPA, 16, D_NEXT, 2);
	fx_desc(f, DESC_GPA, 2, DATA_GPA, 16, D_NEXT, 0);
	fx_post(f, 0);
}

static void bad_self_loop(struct fx *f)
{
	fx_desc(f, DESC_GPA, 5, DATA_GPA, 0, D_NEXT | D_WRITE, 5);
	fx_post(f, 5);
}

static void bad_indirect_loop(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, ITABLE_GPA, 32, D_INDIRECT, 0);
	fx_desc(f, ITABLE_GPA, 0, DATA_GPA, 16, D_NEXT, 1);
	fx_desc(f, ITABLE_GPA, 1, DATA_GPA, 16, D_NEXT, 0);
	fx_post(f, 0);
}

static void bad_nested_indirect(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, ITABLE_GPA, 32, D_INDIRECT, 0);
	fx_desc(f, ITABLE_GPA, 0, DATA_GPA, 16, D_NEXT, 1);
	fx_desc(f, ITABLE_GPA, 1, ITABLE2_GPA, 16, D_INDIRECT, 0);
	fx_desc(f, ITABLE2_GPA, 0, DATA_GPA, 16, D_WRITE, 0);
	fx_post(f, 0);
}

static void indirect_at_head(struct fx *f, uint64_t addr, uint32_t len, uint16_t flags)
{
	fx_desc(f, DESC_GPA, 0, addr, len, D_INDIRECT | flags, 1);
	fx_desc(f, DESC_GPA, 1, DATA_GPA, 16, 0, 0);
	for (unsigned i = 0; i < QMAX; i++)
		fx_desc(f, ITABLE_GPA, i, DATA_GPA, 16, 0, 0);
	fx_post(f, 0);
}

static void bad_indirect_table(struct fx *f)
{
	indirect_at_head(f, ITABLE_GPA, 32, 0);
}

static void bad_indirect_next(struct fx *f)
{
	indirect_at_head(f, ITABLE_GPA, 32, D_NEXT);
}

static void bad_indirect_len0(struct fx *f)
{
	indirect_at_head(f, ITABLE_GPA, 0, 0);
}

static void bad_indirect_len24(struct fx *f)
{
	indirect_at_head(f, ITABLE_GPA, 24, 0);
}

static void bad_indirect_too_big(struct fx *f)
{
	indirect_at_head(f, ITABLE_GPA, 16 * (QSIZE + 1), 0);
}

static void bad_indirect_outside(struct fx *f)
{
	indirect_at_head(f, RAM_B_GPA + RAM_B_SIZE - 16, 32, 0);
}

static void bad_indirect_wraps(struct fx *f)
{
	indirect_at_head(f, UINT64_MAX - 15, 32, 0);
}

static void bad_read_after_write(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 16, D_NEXT, 1);
	fx_desc(f, DESC_GPA, 1, DATA_GPA, 16, D_NEXT | D_WRITE, 2);
	fx_desc(f, DESC_GPA, 2, DATA_GPA, 16, 0, 0);
	fx_post(f, 0);
}

static void bad_read_after_write_indirect(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 16, D_NEXT | D_WRITE, 1);
	fx_desc(f, DESC_GPA, 1, ITABLE_GPA, 16, D_INDIRECT, 0);
	fx_desc(f, ITABLE_GPA, 0, DATA_GPA, 16, 0, 0);
	fx_post(f, 0);
}

static void bad_avail_idx(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 16, 0, 0);
	fx_set_avail_idx(f, QSIZE + 1);
}

static void bad_avail_idx_behind(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 16, 0, 0);
	fx_set_avail_idx(f, 0xffff);
}

/* Four chains in flight (popped, not used): the driver cannot have more
 * than QSIZE - 4 new ones. */
static void bad_avail_idx_in_flight(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 16, 0, 0);
	for (unsigned i = 0; i < 4; i++) {
		fx_post(f, 0);
		assert_int_equal(virtqueue_pop(&f->vq, &f->chain), 1);
	}
	fx_set_avail_idx(f, QSIZE + 1);
}

static void bad_head(struct fx *f)
{
	fx_post(f, QSIZE);
}

static void bad_next(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, DATA_GPA, 16, D_NEXT, QSIZE);
	fx_post(f, 0);
}

static void bad_indirect_next_range(struct fx *f)
{
	fx_desc(f, DESC_GPA, 0, ITABLE_GPA, 32, D_INDIRECT, 0);
	fx_desc(f, ITABLE_GPA, 0, DATA_GPA, 16, D_NEXT, 2);
	fx_desc(f, ITABLE_GPA, 2, DATA_GPA, 16, 0, 0); /* beyond the table */
	fx_post(f, 0);
}

static const struct bad_case bad_cases[] = {
	{ "address outside RAM", 0, bad_addr, -EFAULT,
	  "descriptor 0: address 0x50000000 length 0x10 outside guest RAM" },
	{ "address + length wraps", 0, bad_len_overflow, -EOVERFLOW,
	  "descriptor 0: address 0xfffffffffffff000 length 0x2000 wraps around" },
	{ "segment past the end of RAM", 0, bad_end_of_ram, -EFAULT,
	  "address 0x20f00 length 0x101 outside guest RAM" },
	{ "segment across two regions", 0, bad_span_regions, -EFAULT,
	  "address 0xff00 length 0x200 outside guest RAM" },
	{ "segment into the gap", 0, bad_span_gap, -EFAULT,
	  "address 0x11ff0 length 0x20 outside guest RAM" },
	{ "second segment bad", 0, bad_second_segment, -EFAULT,
	  "descriptor 1: address 0x18000" },
	{ "chain longer than the queue", F_INDIRECT, bad_too_long, -ELOOP,
	  "indirect descriptor 15 (table in descriptor 1): chain longer than the queue size 16" },
	{ "loop", 0, bad_loop, -ELOOP, "chain longer than the queue size 16 (loop?)" },
	{ "self loop", 0, bad_self_loop, -ELOOP, "descriptor 5: chain longer" },
	{ "loop in an indirect table", F_INDIRECT, bad_indirect_loop, -ELOOP,
	  "(table in descriptor 0): chain longer" },
	{ "indirect inside indirect", F_INDIRECT, bad_nested_indirect, -EINVAL,
	  "indirect descriptor 1 (table in descriptor 0): indirect table inside an indirect table" },
	{ "indirect without the feature", F_EVENT_IDX, bad_indirect_table, -EINVAL,
	  "descriptor 0: indirect table without VIRTIO_RING_F_INDIRECT_DESC" },
	{ "indirect with NEXT", F_INDIRECT, bad_indirect_next, -EINVAL,
	  "descriptor 0: INDIRECT combined with NEXT" },
	{ "indirect length 0", F_INDIRECT, bad_indirect_len0, -EINVAL,
	  "indirect table length 0x0 is not a non-zero multiple of 16" },
	{ "indirect length 24", F_INDIRECT, bad_indirect_len24, -EINVAL,
	  "indirect table length 0x18" },
	{ "indirect table larger than the queue", F_INDIRECT, bad_indirect_too_big, -EINVAL,
	  "indirect table of 17 entries exceeds the queue size 16" },
	{ "indirect table outside RAM", F_INDIRECT, bad_indirect_outside, -EFAULT,
	  "descriptor 0: address 0x11ff0 length 0x20 outside guest RAM" },
	{ "indirect table wraps", F_INDIRECT, bad_indirect_wraps, -EOVERFLOW, "wraps around" },
	{ "readable after writable", 0, bad_read_after_write, -EINVAL,
	  "descriptor 2: device-readable segment after a device-writable one" },
	{ "readable after writable, indirect", F_INDIRECT, bad_read_after_write_indirect,
	  -EINVAL, "indirect descriptor 0 (table in descriptor 1): device-readable" },
	{ "avail index too far ahead", 0, bad_avail_idx, -EINVAL,
	  "bad avail index 17 (last popped 0, last used 0, queue size 16)" },
	{ "avail index behind", 0, bad_avail_idx_behind, -EINVAL, "bad avail index 65535" },
	{ "avail index past chains in flight", 0, bad_avail_idx_in_flight, -EINVAL,
	  "bad avail index 17 (last popped 4, last used 0" },
	{ "head index >= size", 0, bad_head, -EINVAL,
	  "avail ring slot 0: head index 16 out of range (queue size 16)" },
	{ "next index >= size", 0, bad_next, -EINVAL,
	  "descriptor 0: next index 16 out of range (16 entries)" },
	{ "next index >= indirect entries", F_INDIRECT, bad_indirect_next_range, -EINVAL,
	  "indirect descriptor 0 (table in descriptor 0): next index 2 out of range (2 entries)" },
};

static void test_malformed(void **state)
{
	const struct bad_case *c = *state;
	struct fx *f = fx_new(QSIZE, c->features);
	uint16_t used_before;
	int ret;

	c->build(f);
	used_before = fx_used_idx(f);
	ret = virtqueue_pop(&f->vq, &f->chain);
	if (ret != c->err)
		fail_msg("%s: pop returned %d, want %d (%s)", c->name, ret, c->err,
			 virtqueue_reason(&f->vq));
	assert_true(virtqueue_broken(&f->vq));
	if (!strstr(virtqueue_reason(&f->vq), c->reason))
		fail_msg("%s: reason \"%s\" lacks \"%s\"", c->name, virtqueue_reason(&f->vq),
			 c->reason);
	/* stays broken: nothing more is popped, pushed or signalled */
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), c->err);
	assert_int_equal(virtqueue_push(&f->vq, 0, 0), c->err);
	assert_false(virtqueue_has_avail(&f->vq));
	assert_false(virtqueue_need_interrupt(&f->vq));
	assert_int_equal(virtqueue_unpop(&f->vq), -EINVAL);
	assert_int_equal(fx_used_idx(f), used_before);
	fx_free(f);
}

/* A broken queue stays broken even once the ring is fixed, until reset. */
static void test_broken_until_reset(void **state)
{
	struct fx *f = fx_new(QSIZE, 0);

	bad_loop(f);
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), -ELOOP);
	fx_desc(f, DESC_GPA, 2, DATA_GPA, 16, 0, 0); /* the driver "fixes" it */
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), -ELOOP);
	assert_true(virtqueue_broken(&f->vq));
	virtqueue_reset(&f->vq);
	assert_false(virtqueue_broken(&f->vq));
	assert_string_equal(virtqueue_reason(&f->vq), "");
	assert_int_equal(virtqueue_init(&f->vq, &f->gm, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, 0),
			 0);
	assert_int_equal(virtqueue_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.nout, 3);
	fx_free(f);
}

/* Every table case runs as its own named test. */
static void add_case(struct CMUnitTest *t, unsigned *n, const char *name,
		     CMUnitTestFunction fn, const void *arg)
{
	t[(*n)++] = (struct CMUnitTest){ .name = name, .test_func = fn,
					 .initial_state = (void *)arg };
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_init_ok),
		cmocka_unit_test(test_direct_chain),
		cmocka_unit_test(test_indirect_chain),
		cmocka_unit_test(test_mixed_chain_at_cap),
		cmocka_unit_test(test_zero_length_segment),
		cmocka_unit_test(test_index_wrap),
		cmocka_unit_test(test_unpop),
		cmocka_unit_test(test_push_batch),
		cmocka_unit_test(test_chain_small_storage),
		cmocka_unit_test(test_chain_copy),
		cmocka_unit_test(test_need_event_math),
		cmocka_unit_test(test_interrupt_flags),
		cmocka_unit_test(test_interrupt_event_idx),
		cmocka_unit_test(test_notify_flags),
		cmocka_unit_test(test_notify_event_idx),
		cmocka_unit_test(test_mute),
		cmocka_unit_test(test_broken_until_reset),
	};
	enum {
		NFIXED = sizeof(fixed) / sizeof(fixed[0]),
		NINIT = sizeof(init_cases) / sizeof(init_cases[0]),
		NBAD = sizeof(bad_cases) / sizeof(bad_cases[0]),
	};
	struct CMUnitTest tests[NFIXED + NINIT + NBAD];
	unsigned n = 0;

	for (unsigned i = 0; i < NFIXED; i++)
		tests[n++] = fixed[i];
	for (unsigned i = 0; i < NINIT; i++)
		add_case(tests, &n, init_cases[i].name, test_init_bad, &init_cases[i]);
	for (unsigned i = 0; i < NBAD; i++)
		add_case(tests, &n, bad_cases[i].name, test_malformed, &bad_cases[i]);
	return _cmocka_run_group_tests("test_virtqueue", tests, n, NULL, NULL);
}
