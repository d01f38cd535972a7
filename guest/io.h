/* io: port I/O and MMIO accessors, the TSC and memory barriers. Usable in
 * ring 3 (IOPL=3, MMIO is identity-mapped user-accessible) and in ring 0
 * alike. */
#ifndef TESTGUEST_IO_H
#define TESTGUEST_IO_H

#include <stdint.h>

static inline void io_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void io_outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline void io_outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port) : "memory");
}

static inline uint8_t io_inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint16_t io_inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint32_t io_inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint32_t io_mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)(uintptr_t)addr;
}

static inline void io_mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)addr = v;
}

static inline uint8_t io_mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)(uintptr_t)addr;
}

static inline void io_mmio_write8(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)(uintptr_t)addr = v;
}

static inline uint16_t io_mmio_read16(uint64_t addr)
{
	return *(volatile uint16_t *)(uintptr_t)addr;
}

static inline void io_mmio_write16(uint64_t addr, uint16_t v)
{
	*(volatile uint16_t *)(uintptr_t)addr = v;
}

/* 64-bit registers as two 32-bit accesses, low half first (virtio allows
 * this for its 64-bit fields; not every device decodes 8-byte accesses). */
static inline uint64_t io_mmio_read64(uint64_t addr)
{
	uint64_t lo = io_mmio_read32(addr);

	return lo | (uint64_t)io_mmio_read32(addr + 4) << 32;
}

static inline void io_mmio_write64(uint64_t addr, uint64_t v)
{
	io_mmio_write32(addr, (uint32_t)v);
	io_mmio_write32(addr + 4, (uint32_t)(v >> 32));
}

static inline uint64_t io_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return (uint64_t)hi << 32 | lo;
}

/* Full barrier (store-load ordering, e.g. before reading an event index
 * after publishing an avail index). */
static inline void io_mb(void)
{
	__asm__ volatile("mfence" : : : "memory");
}

/* Compiler barrier: x86 keeps store-store and load-load order. */
static inline void io_barrier(void)
{
	__asm__ volatile("" : : : "memory");
}

static inline void io_pause(void)
{
	__asm__ volatile("pause" : : : "memory");
}

#endif
