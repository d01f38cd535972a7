/* fuzz_qcow2: libFuzzer harness for the qcow2 driver (src/block/qcow2*.c).
 * Each input is the bytes of an image file, opened read-write on the
 * in-memory backend (format qcow2, backing chain not opened). A valid open
 * is followed by reads of a few ranges, one cluster-sized write, a discard,
 * a write-zeroes, a compressed write, a check, and close. Everything must be
 * ASan/UBSan clean, bounded in memory and time; results are not checked
 * beyond the driver's contract (0 or a negative errno). Inputs whose tables
 * would make the check walk huge amounts of metadata are not checked, and
 * inputs whose refcounts claim clusters far past the end are not written
 * (a hostile image can make any qcow2 checker slow, and allocation goes
 * past all used clusters). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "block/block.h"
#include "block/qcow2.h"
#include "common/log.h"

#define FUZZ_MAX_INPUT (4u << 20)
#define FUZZ_BUF (128u << 10)
#define FUZZ_MAX_FILE (64u << 20)  /* writes may not grow the memory file beyond */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static void fuzz_ret(int ret)
{
	fuzz_check(ret <= 0 && ret > -4096);
}

static uint64_t fuzz_u64(const uint8_t *data, size_t size, size_t at)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 8 && at + i < size; i++)
		v = (v << 8) | data[at + i];
	return v;
}

static void fuzz_reads(struct blk *b, uint8_t *buf)
{
	uint64_t size = b->size;
	uint64_t offs[3] = { 0, size / 2, size > 4096 ? size - 4096 : 0 };

	for (size_t i = 0; i < 3; i++) {
		uint64_t n = size - offs[i] < FUZZ_BUF ? size - offs[i] : FUZZ_BUF;

		if (n)
			fuzz_ret(blk_pread(b, offs[i], buf, n));
	}
}

static void fuzz_writes(struct blk *b, uint8_t *buf, const uint8_t *data, size_t size)
{
	uint32_t cs = b->drv->cluster_size(b);
	uint64_t off, n;

	if (b->size == 0)
		return;
	off = fuzz_u64(data, size, size / 3) % b->size;
	n = b->size - off < cs ? b->size - off : cs;
	memset(buf, 0x5a, FUZZ_BUF);
	if (n <= FUZZ_BUF)
		fuzz_ret(blk_pwrite(b, off, buf, n));
	off = fuzz_u64(data, size, size / 5) % b->size;
	fuzz_ret(blk_discard(b, off, b->size - off < 2 * cs ? b->size - off : 2 * cs));
	off = fuzz_u64(data, size, size / 7) % b->size;
	fuzz_ret(blk_write_zeroes(b, off, b->size - off < 3 * cs ? b->size - off : 3 * cs, true));
	off = (fuzz_u64(data, size, size / 2) % b->size) & ~(uint64_t)(cs - 1);
	if (off + cs <= b->size && cs <= FUZZ_BUF)
		fuzz_ret(b->drv->write_compressed(b, off, buf, cs));
	fuzz_ret(blk_flush(b));
}

/* Allocation goes past every cluster the refcounts call used, which a
 * hostile image can put far away: only write when that stays small. */
static bool fuzz_write_is_cheap(struct blk *b)
{
	struct qcow2 *s = blk_state(b);

	if (qcow2_alloc_prepare(s) < 0)
		return false;
	return s->end_cluster < (FUZZ_MAX_FILE >> s->cluster_bits);
}

/* The check walks every L2 table of every L1 table: skip absurd inputs. */
static bool fuzz_check_is_cheap(struct blk *b)
{
	const struct qcow2 *s = blk_state(b);
	uint64_t l1 = s->l1_size;

	for (uint32_t i = 0; i < s->nb_snapshots; i++)
		l1 += s->snaps[i].l1_size;
	return l1 <= 4096 && s->nb_snapshots <= 16;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct blk_open_opts o = { .format = "qcow2", .no_backing = true };
	struct blk_file *f;
	struct blk_check r;
	struct blk *b;
	uint8_t *buf;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	log_set_level(LOG_ERROR);
	if (blk_file_open_mem(data, size, &f) < 0)
		return 0;
	if (blk_open_file(f, &o, &b) < 0)
		return 0;
	buf = malloc(FUZZ_BUF);
	fuzz_check(buf != NULL);
	fuzz_reads(b, buf);
	if (fuzz_write_is_cheap(b)) {
		fuzz_writes(b, buf, data, size);
		fuzz_reads(b, buf);
	}
	if (fuzz_check_is_cheap(b))
		fuzz_ret(b->drv->check(b, &r, 0));
	blk_close(b);
	free(buf);
	return 0;
}
