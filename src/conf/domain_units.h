/* domain_units: the value syntaxes of domain XML: sizes with libvirt's
 * units, UUIDs and MAC addresses (parse, check, format, generate). */
#ifndef VMKIT_DOMAIN_UNITS_H
#define VMKIT_DOMAIN_UNITS_H

#include <stddef.h>
#include <stdint.h>

#define DOMAIN_UUID_STRLEN 37   /* 8-4-4-4-12 + NUL */
#define DOMAIN_MAC_STRLEN 18    /* xx:xx:xx:xx:xx:xx + NUL */

/* A whole number NUM scaled by UNIT (NULL or "" = default_scale):
 * b/byte/bytes = 1; k/KiB, M/MiB, G/GiB, T/TiB, P/PiB, E/EiB = powers of
 * 1024; KB, MB, GB, TB, PB, EB = powers of 1000 (case-insensitive).
 * 0, -EINVAL (not a number / unknown unit) or -ERANGE (over 2^64-1). */
int domain_units_scale(const char *num, const char *unit, uint64_t default_scale,
		       uint64_t *out);
/* 32 hex digits, '-' allowed between digit pairs, whitespace around.
 * 0 or -EINVAL; a UUID of 16 equal bytes (all zero, all ff) is -EINVAL. */
int domain_units_uuid_parse(const char *s, uint8_t uuid[16]);
void domain_units_uuid_format(const uint8_t uuid[16], char out[DOMAIN_UUID_STRLEN]);
/* Random bytes -> a version 4 (random) UUID. */
void domain_units_uuid_from_random(uint8_t uuid[16]);
/* Six components of 1-2 hex digits separated by ':'. 0 or -EINVAL;
 * a multicast or all-zero address is -EINVAL. */
int domain_units_mac_parse(const char *s, uint8_t mac[6]);
void domain_units_mac_format(const uint8_t mac[6], char out[DOMAIN_MAC_STRLEN]);
/* Random bytes -> 52:54:00:xx:xx:xx (the prefix libvirt uses for KVM). */
void domain_units_mac_from_random(uint8_t mac[6]);

#endif
