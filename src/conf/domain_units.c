/* domain_units: sizes with units, UUIDs, MAC addresses (see domain_units.h). */
#include "domain_units.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Unit prefixes in powers of their base: k = 1, m = 2, ... e = 6. */
static const char domain_units_prefixes[] = "kmgtpe";

static int domain_units_mul(uint64_t v, uint64_t base, unsigned power, uint64_t *out)
{
	for (unsigned i = 0; i < power; i++) {
		if (v > UINT64_MAX / base)
			return -ERANGE;
		v *= base;
	}
	*out = v;
	return 0;
}

/* The scale of a unit name; 0 when it is not one. */
static int domain_units_unit(const char *unit, uint64_t *base, unsigned *power)
{
	const char *p;

	if (strcasecmp(unit, "b") == 0 || strcasecmp(unit, "byte") == 0 ||
	    strcasecmp(unit, "bytes") == 0) {
		*base = 1;
		*power = 0;
		return 0;
	}
	p = strchr(domain_units_prefixes, tolower((unsigned char)unit[0]));
	if (!unit[0] || !p)
		return -EINVAL;
	*power = (unsigned)(p - domain_units_prefixes) + 1;
	if (unit[1] == '\0' || strcasecmp(unit + 1, "iB") == 0)
		*base = 1024;
	else if (strcasecmp(unit + 1, "B") == 0)
		*base = 1000;
	else
		return -EINVAL;
	return 0;
}

int domain_units_scale(const char *num, const char *unit, uint64_t default_scale,
		       uint64_t *out)
{
	uint64_t v = 0, base = default_scale;
	unsigned power = 1;
	int ret = 0;

	if (!num[0])
		return -EINVAL;
	for (const char *p = num; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (unit && unit[0])
		ret = domain_units_unit(unit, &base, &power);
	if (ret == 0)
		ret = domain_units_mul(v, base, power, out);
	return ret;
}

static int domain_units_hex(char c)
{
	return isdigit((unsigned char)c) ? c - '0' :
	       isxdigit((unsigned char)c) ? tolower((unsigned char)c) - 'a' + 10 : -1;
}

int domain_units_uuid_parse(const char *s, uint8_t uuid[16])
{
	bool same = true;
	unsigned n = 0;

	while (isspace((unsigned char)*s))
		s++;
	while (n < 16) {
		int hi, lo;

		if (n > 0 && *s == '-')
			s++;
		hi = domain_units_hex(s[0]);
		lo = hi < 0 ? -1 : domain_units_hex(s[1]);
		if (lo < 0)
			return -EINVAL;
		uuid[n++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	while (isspace((unsigned char)*s))
		s++;
	for (unsigned i = 1; i < 16; i++)
		same = same && uuid[i] == uuid[0];
	return *s || same ? -EINVAL : 0;
}

void domain_units_uuid_format(const uint8_t u[16], char out[DOMAIN_UUID_STRLEN])
{
	snprintf(out, DOMAIN_UUID_STRLEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
		 u[12], u[13], u[14], u[15]);
}

void domain_units_uuid_from_random(uint8_t uuid[16])
{
	uuid[6] = (uint8_t)((uuid[6] & 0x0f) | 0x40);  /* version 4 */
	uuid[8] = (uint8_t)((uuid[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
}

int domain_units_mac_parse(const char *s, uint8_t mac[6])
{
	for (unsigned i = 0; i < 6; i++) {
		int hi = domain_units_hex(s[0]), lo = hi < 0 ? -1 : domain_units_hex(s[1]);

		if (hi < 0)
			return -EINVAL;
		mac[i] = (uint8_t)(lo < 0 ? hi : hi << 4 | lo);
		s += lo < 0 ? 1 : 2;
		if (*s != (i < 5 ? ':' : '\0'))
			return -EINVAL;
		s += i < 5;
	}
	if (mac[0] & 1)
		return -EINVAL;
	return (mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]) ? 0 : -EINVAL;
}

void domain_units_mac_format(const uint8_t m[6], char out[DOMAIN_MAC_STRLEN])
{
	snprintf(out, DOMAIN_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x",
		 m[0], m[1], m[2], m[3], m[4], m[5]);
}

void domain_units_mac_from_random(uint8_t mac[6])
{
	mac[0] = 0x52;
	mac[1] = 0x54;
	mac[2] = 0x00;
}
