/* aml: the AML byte-code writer behind the DSDT (encodings from ACPI 6.x
 * section 20 "ACPI Machine Language Specification" and 6.4 "Resource Data
 * Types"). Owns name, integer, string, scope/PkgLength and resource
 * descriptor encoding; the table layout around it belongs to acpi.c. */
#include "aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

enum {
	AML_OP_ZERO = 0x00,
	AML_OP_ONE = 0x01,
	AML_OP_NAME = 0x08,
	AML_OP_BYTE = 0x0A,
	AML_OP_WORD = 0x0B,
	AML_OP_DWORD = 0x0C,
	AML_OP_STRING = 0x0D,
	AML_OP_QWORD = 0x0E,
	AML_OP_SCOPE = 0x10,
	AML_OP_BUFFER = 0x11,
	AML_OP_PACKAGE = 0x12,
	AML_OP_METHOD = 0x14,
	AML_OP_DUAL_NAME = 0x2E,
	AML_OP_MULTI_NAME = 0x2F,
	AML_OP_EXT = 0x5B,
	AML_OP_EXT_DEVICE = 0x82,
	AML_OP_RETURN = 0xA4,
	AML_OP_ONES = 0xFF,
};

enum {
	AML_RES_IRQ_NOFLAGS = 0x22,
	AML_RES_IO = 0x47,
	AML_RES_END_TAG = 0x79,
	AML_RES_MEMORY32_FIXED = 0x86,
	AML_RES_DWORD = 0x87,
	AML_RES_WORD = 0x88,
	AML_RES_EXT_IRQ = 0x89,
	AML_RES_QWORD = 0x8A,
};

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	if (!a)
		return;
	free(a->buf);
	a->buf = NULL;
	a->len = 0;
	a->cap = 0;
}

static void aml_fail(struct aml *a, int err)
{
	if (a->err == 0)
		a->err = err;
}

int aml_finish(const struct aml *a)
{
	if (a->err)
		return a->err;
	if (a->depth != 0) {
		log_error("aml: %u scope(s) left open", a->depth);
		return -EINVAL;
	}
	return 0;
}

/* Make room for n more bytes; 0 or -1 (error recorded). */
static int aml_reserve(struct aml *a, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (a->err)
		return -1;
	if (n > AML_MAX_SIZE || a->len > AML_MAX_SIZE - n) {
		log_error("aml: byte code grows past %u bytes", AML_MAX_SIZE);
		aml_fail(a, -E2BIG);
		return -1;
	}
	if (a->len + n <= a->cap)
		return 0;
	cap = a->cap ? a->cap : 256;
	while (cap < a->len + n)
		cap *= 2;
	p = realloc(a->buf, cap);
	if (!p) {
		aml_fail(a, -ENOMEM);
		return -1;
	}
	a->buf = p;
	a->cap = cap;
	return 0;
}

void aml_bytes(struct aml *a, const void *data, size_t len)
{
	if (aml_reserve(a, len) < 0)
		return;
	memcpy(a->buf + a->len, data, len);
	a->len += len;
}

void aml_byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

/* Insert n bytes at offset pos, shifting what follows. */
static void aml_insert(struct aml *a, size_t pos, const uint8_t *data, size_t n)
{
	if (aml_reserve(a, n) < 0)
		return;
	memmove(a->buf + pos + n, a->buf + pos, a->len - pos);
	memcpy(a->buf + pos, data, n);
	a->len += n;
}

static void aml_put_le(struct aml *a, uint64_t v, unsigned nbytes)
{
	uint8_t b[8];

	for (unsigned i = 0; i < nbytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, nbytes);
}

int aml_pkglen_encode(size_t body_len, uint8_t out[4])
{
	size_t total = 0;
	unsigned n;

	if (body_len > AML_MAX_SIZE)
		return -E2BIG;
	if (body_len + 1 <= 0x3F) {
		out[0] = (uint8_t)(body_len + 1);
		return 1;
	}
	/* n bytes hold 4 + 8 * (n - 1) bits of length, which counts itself. */
	for (n = 2; n <= 4; n++) {
		total = body_len + n;
		if (total < (1ULL << (4 + 8 * (n - 1))))
			break;
	}
	if (n > 4)
		return -E2BIG;
	out[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0F));
	for (unsigned i = 1; i < n; i++)
		out[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	return (int)n;
}

/* Smallest integer encoding of v into out (up to 9 bytes); returns length. */
static size_t aml_integer_encode(uint64_t v, uint8_t out[9])
{
	unsigned nbytes;
	uint8_t prefix;

	if (v == 0 || v == 1 || v == UINT64_MAX) {
		out[0] = v == 0 ? AML_OP_ZERO : v == 1 ? AML_OP_ONE : AML_OP_ONES;
		return 1;
	}
	if (v <= 0xFF) {
		prefix = AML_OP_BYTE;
		nbytes = 1;
	} else if (v <= 0xFFFF) {
		prefix = AML_OP_WORD;
		nbytes = 2;
	} else if (v <= 0xFFFFFFFFu) {
		prefix = AML_OP_DWORD;
		nbytes = 4;
	} else {
		prefix = AML_OP_QWORD;
		nbytes = 8;
	}
	out[0] = prefix;
	for (unsigned i = 0; i < nbytes; i++)
		out[1 + i] = (uint8_t)(v >> (8 * i));
	return 1 + nbytes;
}

void aml_integer(struct aml *a, uint64_t v)
{
	uint8_t enc[9];

	aml_bytes(a, enc, aml_integer_encode(v, enc));
}

void aml_string(struct aml *a, const char *s)
{
	size_t n = strlen(s);

	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] > 0x7F) {
			log_error("aml: string \"%s\" is not ASCII", s);
			aml_fail(a, -EINVAL);
			return;
		}
	}
	aml_byte(a, AML_OP_STRING);
	aml_bytes(a, s, n + 1);
}

static int aml_lead_char(char c)
{
	return (c >= 'A' && c <= 'Z') || c == '_';
}

/* One NameSeg of n (1..4) characters, padded with '_'. */
static void aml_nameseg(struct aml *a, const char *s, size_t n, const char *whole)
{
	char seg[4] = { '_', '_', '_', '_' };

	if (n < 1 || n > 4 || !aml_lead_char(s[0]))
		goto bad;
	for (size_t i = 0; i < n; i++) {
		if (!aml_lead_char(s[i]) && !(s[i] >= '0' && s[i] <= '9'))
			goto bad;
		seg[i] = s[i];
	}
	aml_bytes(a, seg, 4);
	return;
bad:
	log_error("aml: invalid name \"%s\"", whole);
	aml_fail(a, -EINVAL);
}

void aml_namestring(struct aml *a, const char *name)
{
	const char *p = name;
	size_t nseg = 1;

	if (*p == '\\')
		aml_byte(a, (uint8_t)*p++);
	else
		while (*p == '^')
			aml_byte(a, (uint8_t)*p++);
	if (*p == '\0' && p != name) {
		aml_byte(a, AML_OP_ZERO); /* NullName after a prefix */
		return;
	}
	for (const char *q = p; *q; q++)
		nseg += *q == '.';
	if (nseg == 2) {
		aml_byte(a, AML_OP_DUAL_NAME);
	} else if (nseg > 2 && nseg <= 255) {
		aml_byte(a, AML_OP_MULTI_NAME);
		aml_byte(a, (uint8_t)nseg);
	} else if (nseg > 255) {
		log_error("aml: name \"%s\" has too many segments", name);
		aml_fail(a, -EINVAL);
		return;
	}
	while (nseg--) {
		size_t n = strcspn(p, ".");

		aml_nameseg(a, p, n, name);
		p += n + (p[n] == '.');
	}
}

static int aml_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;

	if (strlen(id) != 7)
		goto bad;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			goto bad;
		v |= (uint32_t)(id[i] - 0x40) << (26 - 5 * i);
	}
	for (int i = 3; i < 7; i++) {
		int d = aml_hex_digit(id[i]);

		if (d < 0)
			goto bad;
		v |= (uint32_t)d << (4 * (6 - i));
	}
	/* The compressed ID is stored most significant byte first. */
	aml_integer(a, __builtin_bswap32(v));
	return;
bad:
	log_error("aml: invalid EISA ID \"%s\"", id);
	aml_fail(a, -EINVAL);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_OP_NAME);
	aml_namestring(a, name);
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_OP_RETURN);
}

static void aml_open(struct aml *a, enum aml_scope_kind kind)
{
	if (a->err)
		return;
	if (a->depth >= AML_MAX_DEPTH) {
		log_error("aml: scopes nested deeper than %d", AML_MAX_DEPTH);
		aml_fail(a, -E2BIG);
		return;
	}
	a->scopes[a->depth].start = a->len;
	a->scopes[a->depth].kind = kind;
	a->depth++;
}

void aml_scope_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_OP_SCOPE);
	aml_open(a, AML_SCOPE_PKGLEN);
	aml_namestring(a, name);
}

void aml_device_begin(struct aml *a, const char *name)
{
	aml_byte(a, AML_OP_EXT);
	aml_byte(a, AML_OP_EXT_DEVICE);
	aml_open(a, AML_SCOPE_PKGLEN);
	aml_namestring(a, name);
}

void aml_method_begin(struct aml *a, const char *name, unsigned nargs, int serialized)
{
	if (nargs > 7) {
		log_error("aml: method %s with %u arguments (maximum 7)", name, nargs);
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_OP_METHOD);
	aml_open(a, AML_SCOPE_PKGLEN);
	aml_namestring(a, name);
	aml_byte(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

void aml_package_begin(struct aml *a, unsigned nelems)
{
	if (nelems > 255) {
		log_error("aml: package of %u elements (maximum 255)", nelems);
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_OP_PACKAGE);
	aml_open(a, AML_SCOPE_PKGLEN);
	aml_byte(a, (uint8_t)nelems);
}

void aml_buffer_begin(struct aml *a)
{
	aml_byte(a, AML_OP_BUFFER);
	aml_open(a, AML_SCOPE_BUFFER);
}

void aml_restemplate_begin(struct aml *a)
{
	aml_byte(a, AML_OP_BUFFER);
	aml_open(a, AML_SCOPE_RESTEMPLATE);
}

void aml_end(struct aml *a)
{
	uint8_t hdr[4 + 9];
	size_t body, hlen = 0;
	struct aml_open_scope *s;
	int n;

	if (a->err)
		return;
	if (a->depth == 0) {
		log_error("aml: end without an open scope");
		aml_fail(a, -EINVAL);
		return;
	}
	s = &a->scopes[a->depth - 1];
	if (s->kind == AML_SCOPE_RESTEMPLATE) {
		aml_byte(a, AML_RES_END_TAG);
		aml_byte(a, 0); /* checksum 0: treated as valid */
	}
	body = a->len - s->start;
	if (s->kind != AML_SCOPE_PKGLEN) {
		uint8_t sz[9];
		size_t szlen = aml_integer_encode(body, sz);

		memcpy(hdr + 4, sz, szlen);
		hlen = szlen;
	}
	n = aml_pkglen_encode(body + hlen, hdr);
	if (n < 0) {
		aml_fail(a, n);
		return;
	}
	memmove(hdr + n, hdr + 4, hlen);
	a->depth--;
	aml_insert(a, s->start, hdr, (size_t)n + hlen);
}

void aml_buffer(struct aml *a, const void *data, size_t len)
{
	aml_buffer_begin(a);
	aml_bytes(a, data, len);
	aml_end(a);
}

/* Resource descriptors may only be appended inside a ResourceTemplate. */
static int aml_in_restemplate(struct aml *a)
{
	if (a->err)
		return 0;
	if (a->depth == 0 || a->scopes[a->depth - 1].kind != AML_SCOPE_RESTEMPLATE) {
		log_error("aml: resource descriptor outside a ResourceTemplate");
		aml_fail(a, -EINVAL);
		return 0;
	}
	return 1;
}

void aml_res_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	if (!aml_in_restemplate(a))
		return;
	aml_byte(a, AML_RES_IO);
	aml_byte(a, 0x01); /* Decode16 */
	aml_put_le(a, min, 2);
	aml_put_le(a, max, 2);
	aml_byte(a, align);
	aml_byte(a, len);
}

void aml_res_irq_noflags(struct aml *a, unsigned irq)
{
	if (!aml_in_restemplate(a))
		return;
	if (irq > 15) {
		log_error("aml: IRQNoFlags IRQ %u out of range 0-15", irq);
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, AML_RES_IRQ_NOFLAGS);
	aml_put_le(a, 1u << irq, 2);
}

void aml_res_interrupt(struct aml *a, uint8_t flags, uint32_t gsi)
{
	if (!aml_in_restemplate(a))
		return;
	aml_byte(a, AML_RES_EXT_IRQ);
	aml_put_le(a, 6, 2); /* flags, count, one DWORD */
	aml_byte(a, flags);
	aml_byte(a, 1);
	aml_put_le(a, gsi, 4);
}

void aml_res_memory32_fixed(struct aml *a, int rw, uint32_t base, uint32_t len)
{
	if (!aml_in_restemplate(a))
		return;
	aml_byte(a, AML_RES_MEMORY32_FIXED);
	aml_put_le(a, 9, 2);
	aml_byte(a, rw ? 1 : 0);
	aml_put_le(a, base, 4);
	aml_put_le(a, len, 4);
}

/* Shared body of the Word/DWord/QWord address space descriptors. */
static void aml_res_addr(struct aml *a, uint8_t tag, unsigned width,
			 const struct aml_addr_space *s)
{
	uint64_t limit = width == 8 ? UINT64_MAX : (1ULL << (8 * width)) - 1;

	if (!aml_in_restemplate(a))
		return;
	if (s->granularity > limit || s->min > limit || s->max > limit ||
	    s->translation > limit || s->length > limit) {
		log_error("aml: address space value does not fit %u bytes", width);
		aml_fail(a, -EINVAL);
		return;
	}
	aml_byte(a, tag);
	aml_put_le(a, 3 + 5 * width, 2);
	aml_byte(a, (uint8_t)s->type);
	aml_byte(a, s->general_flags);
	aml_byte(a, s->type_flags);
	aml_put_le(a, s->granularity, width);
	aml_put_le(a, s->min, width);
	aml_put_le(a, s->max, width);
	aml_put_le(a, s->translation, width);
	aml_put_le(a, s->length, width);
}

void aml_res_word(struct aml *a, const struct aml_addr_space *s)
{
	aml_res_addr(a, AML_RES_WORD, 2, s);
}

void aml_res_dword(struct aml *a, const struct aml_addr_space *s)
{
	aml_res_addr(a, AML_RES_DWORD, 4, s);
}

void aml_res_qword(struct aml *a, const struct aml_addr_space *s)
{
	aml_res_addr(a, AML_RES_QWORD, 8, s);
}
