/* util: small helpers shared by every layer (sizes, numbers, alignment). */
#ifndef VMKIT_UTIL_H
#define VMKIT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((uint64_t)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))
#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* "512M", "2G", "4096" (bytes), "1T"; suffixes K M G T, optional "iB"/"B".
 * Returns 0 or -EINVAL (not a size) / -ERANGE (overflows 64 bits). */
int util_parse_size(const char *s, uint64_t *out);
/* Whole decimal number within [min, max]; 0, -EINVAL or -ERANGE. */
int util_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A spin-wait's pause between two looks (x86 PAUSE). */
static inline void util_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
#endif
}

/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t util_now_ns(void);
/* *ts = CLOCK_REALTIME now + ms: the absolute deadline that
 * pthread_cond_timedwait (default clock) takes. */
struct timespec;
void util_deadline(struct timespec *ts, unsigned ms);
/* write() all of buf, retrying on EINTR; 0 or -errno (EAGAIN included). */
int util_write_all(int fd, const void *buf, size_t len);
/* Read a whole file (at most max bytes) into a malloc'd buffer, with a NUL
 * after its *len bytes. 0 or -errno; -EFBIG when larger than max. */
int util_read_file(const char *path, size_t max, uint8_t **buf, size_t *len);
/* True for a UUID in canonical form: 8-4-4-4-12 hex digits, either case. */
bool util_uuid_canonical(const char *s);
/* True when the peer of connected socket fd has hung up (closed or shut
 * down its end, or reset); false for a live peer or fd < 0. Never blocks. */
bool util_peer_gone(int fd);

#endif
