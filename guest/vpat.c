/* vpat: test patterns (see vpat.h). */
#include "lib.h"
#include "vpat.h"

#define VPAT_HDR 16

uint64_t vpat_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t vpat_seed(uint64_t sector, uint32_t seed)
{
	uint64_t s = (sector + 1) * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)seed << 17 | seed);

	return s ? s : 1;
}

static void vpat_put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void vpat_sector(uint8_t *buf, uint64_t sector, uint32_t seed)
{
	uint64_t st = vpat_seed(sector, seed);

	buf[0] = 'V';
	buf[1] = 'M';
	buf[2] = 'K';
	buf[3] = 'T';
	vpat_put(buf + 4, seed, 4);
	vpat_put(buf + 8, sector, 8);
	for (unsigned off = VPAT_HDR; off < VPAT_SECTOR; off += 8)
		vpat_put(buf + off, vpat_next(&st), 8);
}

uint32_t vpat_sector_check(const uint8_t *buf, uint64_t sector, uint32_t seed)
{
	uint8_t want[VPAT_SECTOR];

	vpat_sector(want, sector, seed);
	for (uint32_t i = 0; i < VPAT_SECTOR; i++)
		if (buf[i] != want[i])
			return i + 1;
	return 0;
}

static uint8_t vpat_byte(size_t i, uint32_t seq)
{
	return (uint8_t)(((seq * 31u + (uint32_t)i * 7u) & 0xff) ^ 0x5a);
}

void vpat_bytes(uint8_t *buf, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = vpat_byte(i, seq);
}

bool vpat_bytes_ok(const uint8_t *buf, size_t len, uint32_t seq)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != vpat_byte(i, seq))
			return false;
	return true;
}

bool vpat_is_zero(const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}
