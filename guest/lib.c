/* lib: string helpers, number parsing, little-endian loads and a small
 * snprintf for the freestanding guest (see lib.h). */
#include "lib.h"

size_t lib_strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

size_t lib_strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

bool lib_streq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

void lib_strlcpy_n(char *dst, size_t size, const char *src, size_t n)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; i + 1 < size && i < n && src[i]; i++)
		dst[i] = src[i];
	dst[i] = '\0';
}

bool lib_memeq(const void *a, const void *b, size_t n)
{
	const uint8_t *x = a, *y = b;

	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return false;
	return true;
}

static int lib_digit(char c, unsigned base)
{
	int d;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	else
		return -1;
	return (unsigned)d < base ? d : -1;
}

int lib_parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;
	size_t i = 0;

	if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		i = 2;
	}
	if (i >= n)
		return -EINVAL;
	for (; i < n; i++) {
		int d = lib_digit(s[i], base);

		if (d < 0)
			return -EINVAL;
		if (v > (max - (uint64_t)d) / base)
			return -ERANGE;
		v = v * base + (uint64_t)d;
	}
	*out = v;
	return 0;
}

uint8_t lib_sum8(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s = (uint8_t)(s + p[i]);
	return s;
}

uint16_t lib_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

uint32_t lib_get32(const uint8_t *p)
{
	return (uint32_t)lib_get16(p) | (uint32_t)lib_get16(p + 2) << 16;
}

uint64_t lib_get64(const uint8_t *p)
{
	return (uint64_t)lib_get32(p) | (uint64_t)lib_get32(p + 4) << 32;
}

/* ---- snprintf ---- */

struct lib_out {
	char *buf;
	size_t size;
	size_t len;   /* would-be length, may exceed size */
};

static void lib_out_c(struct lib_out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void lib_out_num(struct lib_out *o, uint64_t v, unsigned base,
			unsigned width, bool neg)
{
	char tmp[24];
	unsigned n = 0;

	do {
		tmp[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (neg)
		lib_out_c(o, '-');
	while (width > n + neg) {
		lib_out_c(o, '0');
		width--;
	}
	while (n)
		lib_out_c(o, tmp[--n]);
}

static void lib_out_str(struct lib_out *o, const char *s)
{
	if (!s)
		s = "(null)";
	while (*s)
		lib_out_c(o, *s++);
}

static uint64_t lib_arg_u(va_list *ap, unsigned lcount)
{
	if (lcount >= 2)
		return va_arg(*ap, unsigned long long);
	if (lcount == 1)
		return va_arg(*ap, unsigned long);
	return va_arg(*ap, unsigned int);
}

static int64_t lib_arg_s(va_list *ap, unsigned lcount)
{
	if (lcount >= 2)
		return va_arg(*ap, long long);
	if (lcount == 1)
		return va_arg(*ap, long);
	return va_arg(*ap, int);
}

/* One conversion starting after '%'; returns the rest of fmt. */
static const char *lib_convert(struct lib_out *o, const char *f, va_list *ap)
{
	unsigned width = 0, lcount = 0;
	int64_t sv;

	while (*f >= '0' && *f <= '9')
		width = width * 10 + (unsigned)(*f++ - '0');
	while (*f == 'l') {
		lcount++;
		f++;
	}
	switch (*f) {
	case 'd':
		sv = lib_arg_s(ap, lcount);
		lib_out_num(o, sv < 0 ? (uint64_t)0 - (uint64_t)sv : (uint64_t)sv,
			    10, width, sv < 0);
		break;
	case 'u':
		lib_out_num(o, lib_arg_u(ap, lcount), 10, width, false);
		break;
	case 'x':
		lib_out_num(o, lib_arg_u(ap, lcount), 16, width, false);
		break;
	case 's':
		lib_out_str(o, va_arg(*ap, const char *));
		break;
	case 'c':
		lib_out_c(o, (char)va_arg(*ap, int));
		break;
	case '%':
		lib_out_c(o, '%');
		break;
	case '\0':
		return f;
	default:
		lib_out_c(o, '?');
		break;
	}
	return f + 1;
}

int lib_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct lib_out o = { buf, size, 0 };
	va_list aq;

	va_copy(aq, ap);
	while (*fmt) {
		if (*fmt == '%')
			fmt = lib_convert(&o, fmt + 1, &aq);
		else
			lib_out_c(&o, *fmt++);
	}
	va_end(aq);
	if (size)
		buf[o.len < size ? o.len : size - 1] = '\0';
	return (int)o.len;
}

int lib_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = lib_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}
