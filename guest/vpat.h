/* vpat: deterministic test data for the virtio workloads, pure and
 * host-testable. Block sectors (512 bytes): "VMKT", the seed (u32 LE), the
 * sector number (u64 LE), then 496 bytes of an xorshift stream seeded by
 * both, so a sector read back proves which write it came from. Frame
 * payloads: a byte pattern derived from a sequence number. */
#ifndef TESTGUEST_VPAT_H
#define TESTGUEST_VPAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VPAT_SECTOR 512

/* xorshift64* step; *state must not be 0. */
uint64_t vpat_next(uint64_t *state);
void vpat_sector(uint8_t *buf, uint64_t sector, uint32_t seed);
/* 0 if buf holds the pattern of (sector, seed), else 1 + the offset of
 * the first wrong byte. */
uint32_t vpat_sector_check(const uint8_t *buf, uint64_t sector, uint32_t seed);
/* Payload bytes of frame seq: byte i = (seq * 31 + i * 7) & 0xff ^ 0x5a. */
void vpat_bytes(uint8_t *buf, size_t len, uint32_t seq);
bool vpat_bytes_ok(const uint8_t *buf, size_t len, uint32_t seq);
bool vpat_is_zero(const uint8_t *buf, size_t len);

#endif
