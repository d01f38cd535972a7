/* lib: the little freestanding C library the guest needs: errno values,
 * string helpers, number parsing and a small snprintf (%s %c %d %u %x with
 * optional l/ll and zero-padded width). Host-compilable (unit tests). */
#ifndef TESTGUEST_LIB_H
#define TESTGUEST_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef ENOENT
#define ENOENT    2
#define EIO       5
#define E2BIG     7
#define ENOMEM    12
#define EINVAL    22
#define ENODEV    19
#define EBUSY     16
#define ENOSPC    28
#define EROFS     30
#define ERANGE    34
#define EPROTO    71
#define ETIMEDOUT 110
#endif

size_t lib_strlen(const char *s);
size_t lib_strnlen(const char *s, size_t max);
bool lib_streq(const char *a, const char *b);
/* Copy at most size-1 bytes of src[0..n) (stops at NUL) and terminate. */
void lib_strlcpy_n(char *dst, size_t size, const char *src, size_t n);
bool lib_memeq(const void *a, const void *b, size_t n);
/* Parse s[0..n) as a decimal or 0x-prefixed hex number <= max:
 * 0, -EINVAL (empty, junk), -ERANGE (too big). */
int lib_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out);
/* 8-bit sum of n bytes (ACPI/MP checksums: 0 means valid). */
uint8_t lib_sum8(const uint8_t *p, size_t n);
uint16_t lib_get16(const uint8_t *p);
uint32_t lib_get32(const uint8_t *p);
uint64_t lib_get64(const uint8_t *p);

int lib_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int lib_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
