/* symbols: System.map parsing and address lookup (sorted array, binary search). */
#include "symbols.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct symbol {
	uint64_t addr;
	char *name;
};

struct symbols {
	struct symbol *v;
	size_t n, cap;
};

static int symbols_cmp(const void *a, const void *b)
{
	const struct symbol *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int symbols_add_line(struct symbols *s, const char *line, size_t len)
{
	char name[256], type;
	unsigned long long addr;
	char buf[320];

	if (len >= sizeof(buf))
		return 0;
	memcpy(buf, line, len);
	buf[len] = 0;
	if (sscanf(buf, "%llx %c %255s", &addr, &type, name) != 3)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 1024;
		struct symbol *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n].addr = addr;
	s->v[s->n].name = strdup(name);
	if (!s->v[s->n].name)
		return -ENOMEM;
	s->n++;
	return 0;
}

int symbols_parse(const char *text, size_t len, struct symbols **out)
{
	struct symbols *s = calloc(1, sizeof(*s));
	size_t pos = 0;
	int ret = 0;

	if (!s)
		return -ENOMEM;
	while (pos < len && ret == 0) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;

		ret = symbols_add_line(s, text + pos, end - pos);
		pos = end + 1;
	}
	if (ret < 0) {
		symbols_free(s);
		return ret;
	}
	if (s->n)
		qsort(s->v, s->n, sizeof(s->v[0]), symbols_cmp);
	*out = s;
	return 0;
}

int symbols_load(const char *path, struct symbols **out)
{
	uint8_t *buf;
	size_t len;
	int ret = util_read_file(path, 256 << 20, &buf, &len);

	if (ret < 0)
		return ret;
	ret = symbols_parse((const char *)buf, len, out);
	free(buf);
	return ret;
}

void symbols_free(struct symbols *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].name);
	free(s->v);
	free(s);
}

const char *symbols_lookup(const struct symbols *s, uint64_t addr, uint64_t *off)
{
	size_t lo = 0, hi;

	if (!s || s->n == 0 || addr < s->v[0].addr)
		return NULL;
	hi = s->n;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->v[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	*off = addr - s->v[lo].addr;
	return s->v[lo].name;
}
