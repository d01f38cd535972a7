/* domain_xml_edit: changes to a stored document as byte splices of its text,
 * so that everything else (units, order, quoting, comments, whitespace)
 * stays as the user wrote it: vmkit's additions (uuid, MAC addresses) and
 * the live XML (pty paths). Also the scan that finds each element's bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/util.h"
#include "domain_units.h"
#include "domain_xml_priv.h"

/* ---- element byte ranges ---- */

/* Past the end of str at or after p, or NULL. */
static const char *dx_skip_to(const char *p, const char *end, const char *str)
{
	size_t n = strlen(str);

	for (; p + n <= end; p++) {
		if (memcmp(p, str, n) == 0)
			return p + n;
	}
	return NULL;
}

/* Past the '>' of the tag starting at p (quotes skipped), or NULL. */
static const char *dx_tag_end(const char *p, const char *end)
{
	char quote = 0;

	for (; p < end; p++) {
		if (quote)
			quote = *p == quote ? 0 : quote;
		else if (*p == '"' || *p == '\'')
			quote = *p;
		else if (*p == '>')
			return p + 1;
	}
	return NULL;
}

struct dx_scan {
	struct domain_xml_span *spans;
	size_t n, cap;
	size_t *stack;       /* indexes of the open elements */
	size_t depth;
};

static int dx_scan_open(struct dx_scan *s, size_t start, size_t start_end, bool empty)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct domain_xml_span *sp = realloc(s->spans, cap * sizeof(*sp));
		size_t *st = sp ? realloc(s->stack, cap * sizeof(*st)) : NULL;

		if (sp)
			s->spans = sp;
		if (!st)
			return -ENOMEM;
		s->stack = st;
		s->cap = cap;
	}
	s->spans[s->n] = (struct domain_xml_span){ start, start_end, start_end };
	if (!empty)
		s->stack[s->depth++] = s->n;
	s->n++;
	return 0;
}

/* One markup construct at p ('<'); returns past it, or NULL when malformed. */
static const char *dx_scan_markup(struct dx_scan *s, const char *base, const char *p,
				  const char *end, int *ret)
{
	const char *q;

	if (p + 4 <= end && memcmp(p, "<!--", 4) == 0)
		return dx_skip_to(p + 4, end, "-->");
	if (p + 9 <= end && memcmp(p, "<![CDATA[", 9) == 0)
		return dx_skip_to(p + 9, end, "]]>");
	if (p + 2 <= end && (p[1] == '?' || p[1] == '!'))
		return p[1] == '?' ? dx_skip_to(p + 2, end, "?>") : NULL;
	q = dx_tag_end(p, end);
	if (!q)
		return NULL;
	if (p[1] == '/') {
		if (s->depth == 0)
			return NULL;
		s->spans[s->stack[--s->depth]].end = (size_t)(q - base);
		return q;
	}
	*ret = dx_scan_open(s, (size_t)(p - base), (size_t)(q - base), q[-2] == '/');
	return *ret == 0 ? q : NULL;
}

int dx_scan_spans(const char *text, size_t len, struct domain_xml_span **out, size_t *n)
{
	struct dx_scan s = { 0 };
	const char *p = text, *end = text + len;
	int ret = 0;

	while (p && (p = memchr(p, '<', (size_t)(end - p))) != NULL)
		p = dx_scan_markup(&s, text, p, end, &ret);
	free(s.stack);
	if (ret == 0 && (s.depth || !s.n))
		ret = -EINVAL;
	if (ret < 0) {
		free(s.spans);
		return ret;
	}
	*out = s.spans;
	*n = s.n;
	return 0;
}

/* ---- splices ---- */

#define DX_MAX_SPLICES (DOMAIN_MAX_NETS + DOMAIN_MAX_CONSOLES + 4)

struct dx_splice {
	size_t at, del;        /* replace text[at, at + del) */
	char text[600];
};

struct dx_edit {
	struct dx_splice s[DX_MAX_SPLICES];
	size_t n;
};

static int dx_edit_add(struct dx_edit *e, size_t at, size_t del, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int dx_edit_add(struct dx_edit *e, size_t at, size_t del, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->n >= DX_MAX_SPLICES)
		return -E2BIG;
	va_start(ap, fmt);
	n = vsnprintf(e->s[e->n].text, sizeof(e->s[e->n].text), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(e->s[e->n].text))
		return -ENAMETOOLONG;
	e->s[e->n].at = at;
	e->s[e->n].del = del;
	e->n++;
	return 0;
}

static int dx_splice_cmp(const void *a, const void *b)
{
	const struct dx_splice *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

/* The text with every splice applied (malloc'd, NUL-terminated). */
static int dx_edit_apply(struct dx_edit *e, const char *text, size_t len, char **out,
			 size_t *outlen)
{
	size_t size = len + 1, pos = 0, used = 0;
	char *buf;

	qsort(e->s, e->n, sizeof(e->s[0]), dx_splice_cmp);
	for (size_t i = 0; i < e->n; i++)
		size += strlen(e->s[i].text);
	buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < e->n; i++) {
		size_t t = strlen(e->s[i].text);

		memcpy(buf + used, text + pos, e->s[i].at - pos);
		used += e->s[i].at - pos;
		memcpy(buf + used, e->s[i].text, t);
		used += t;
		pos = e->s[i].at + e->s[i].del;
	}
	memcpy(buf + used, text + pos, len - pos);
	used += len - pos;
	buf[used] = '\0';
	*out = buf;
	*outlen = used;
	return 0;
}

/* The whitespace before an element on its line into out; false (and "")
 * when something other than whitespace precedes it on the line. */
static bool dx_indent(const struct domain_xml *dx, size_t start, char *out, size_t size)
{
	size_t b = start;

	while (b > 0 && (dx->text[b - 1] == ' ' || dx->text[b - 1] == '\t'))
		b--;
	out[0] = '\0';
	if ((b > 0 && dx->text[b - 1] != '\n') || start - b >= size)
		return false;
	memcpy(out, dx->text + b, start - b);
	out[start - b] = '\0';
	return true;
}

/* The line ending of the line before the one pos is on: "\r\n" or "\n". */
static const char *dx_eol_before(const struct domain_xml *dx, size_t pos)
{
	const char *nl = NULL;

	for (size_t i = pos; i > 0 && !nl; i--)
		nl = dx->text[i - 1] == '\n' ? dx->text + i - 1 : NULL;
	return nl && nl > dx->text && nl[-1] == '\r' ? "\r\n" : "\n";
}

/* Where the line of an element ending at end ends, when only whitespace and
 * comments follow it there: the offset after its "\n", and its line ending.
 * 0 when something else follows on the line. */
static size_t dx_line_rest(const struct domain_xml *dx, size_t end, const char **eol)
{
	const char *p = dx->text + end, *stop = dx->text + dx->len;

	while (p < stop) {
		if (*p == ' ' || *p == '\t' || *p == '\r') {
			p++;
		} else if (*p == '\n') {
			*eol = p > dx->text && p[-1] == '\r' ? "\r\n" : "\n";
			return (size_t)(p + 1 - dx->text);
		} else if (stop - p >= 4 && memcmp(p, "<!--", 4) == 0) {
			const char *e = strstr(p + 4, "-->");

			if (!e || memchr(p, '\n', (size_t)(e - p)))
				return 0;
			p = e + 3;
		} else {
			return 0;
		}
	}
	return 0;
}

/* text with the five XML special characters escaped, for an attribute. */
static void dx_escape(const char *s, char *out, size_t size)
{
	size_t used = 0;

	for (; *s && used + 7 < size; s++) {
		const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" :
				*s == '\'' ? "&apos;" : *s == '"' ? "&quot;" : NULL;

		used += (size_t)snprintf(out + used, size - used, "%s", e ? e : (char[]){ *s, 0 });
	}
	out[used] = '\0';
}

/* Put markup in as the first child of element n: before its first child
 * element (with that child's indentation), or into a childless element. */
static int dx_edit_first_child(const struct domain_xml *dx, struct dx_edit *e, xmlNodePtr n,
			       const char *markup)
{
	const struct domain_xml_span *sp = dx_span(dx, n), *csp;
	xmlNodePtr c = n->children;
	char ind[128], cind[128];
	const char *eol;
	bool own;

	while (c && c->type != XML_ELEMENT_NODE)
		c = c->next;
	if (!sp)
		return -EINVAL;
	csp = c ? dx_span(dx, c) : NULL;
	if (csp) {
		own = dx_indent(dx, csp->start, cind, sizeof(cind));
		return dx_edit_add(e, csp->start, 0, "%s%s%s", markup,
				   own ? dx_eol_before(dx, csp->start) : "", cind);
	}
	own = dx_indent(dx, sp->start, ind, sizeof(ind));
	eol = own ? dx_eol_before(dx, sp->start) : "";
	if (sp->end == sp->start_end && dx->text[sp->start_end - 2] == '/')  /* <x .../> */
		return dx_edit_add(e, sp->start_end - 2, 2, ">%s%s%s%s%s%s</%s>", eol, ind,
				   own ? "  " : "", markup, eol, ind, (const char *)n->name);
	return dx_edit_add(e, sp->start_end, 0, "%s", markup);
}

/* ---- vmkit's additions ---- */

static int dx_random(const struct domain_xml_random *rnd, void *buf, size_t len)
{
	if (rnd && rnd->fill)
		return rnd->fill(rnd->opaque, buf, len);
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -EIO;
}

static int dx_add_uuid(struct domain_xml *dx, struct dx_edit *e,
		       const struct domain_xml_random *rnd)
{
	xmlNodePtr name = dx_child(xmlDocGetRootElement(dx->doc), "name");
	const struct domain_xml_span *sp = name ? dx_span(dx, name) : NULL;
	char ind[128], s[DOMAIN_UUID_STRLEN];
	const char *eol = "\n";
	uint8_t u[16];
	size_t next;
	int ret;

	if (!sp)
		return -EINVAL;
	ret = dx_random(rnd, u, sizeof(u));
	if (ret < 0)
		return ret;
	domain_units_uuid_from_random(u);
	domain_units_uuid_format(u, s);
	if (!dx_indent(dx, sp->start, ind, sizeof(ind)))
		return dx_edit_add(e, sp->end, 0, "<uuid>%s</uuid>", s);
	next = dx_line_rest(dx, sp->end, &eol);
	if (next)   /* a line of its own after <name>'s (and its comments) */
		return dx_edit_add(e, next, 0, "%s<uuid>%s</uuid>%s", ind, s, eol);
	return dx_edit_add(e, sp->end, 0, "%s%s<uuid>%s</uuid>", dx_eol_before(dx, sp->start),
			   ind, s);
}

static int dx_add_mac(struct domain_xml *dx, struct dx_edit *e, xmlNodePtr n,
		      const struct domain_xml_random *rnd)
{
	char s[DOMAIN_MAC_STRLEN], markup[64];
	const struct domain_def *d = &dx->def;
	uint8_t mac[6];
	bool clash;
	int ret, tries = 0;

	do {   /* unlike any MAC already in the document */
		ret = dx_random(rnd, mac, sizeof(mac));
		domain_units_mac_from_random(mac);
		clash = false;
		for (unsigned i = 0; i < d->nnets; i++)
			clash = clash || (d->nets[i].mac_given && memcmp(d->nets[i].mac, mac, 6) == 0);
	} while (ret == 0 && clash && ++tries < 16);
	if (ret < 0)
		return ret;
	domain_units_mac_format(mac, s);
	snprintf(markup, sizeof(markup), "<mac address='%s'/>", s);
	return dx_edit_first_child(dx, e, n, markup);
}

static int dx_collect_additions(struct domain_xml *dx, struct dx_edit *e,
				const struct domain_xml_random *rnd)
{
	xmlNodePtr devs = dx_child(xmlDocGetRootElement(dx->doc), "devices");
	int ret = dx->def.uuid_given ? 0 : dx_add_uuid(dx, e, rnd);

	for (xmlNodePtr n = devs ? devs->children : NULL; ret == 0 && n; n = n->next) {
		if (dx_is(n, "interface") && !dx_child(n, "mac"))
			ret = dx_add_mac(dx, e, n, rnd);
	}
	return ret;
}

/* Replace dx's contents with a parse of text (which must be valid). */
static int dx_reload(struct domain_xml *dx, const char *text, size_t len)
{
	struct domain_xml_error err;
	struct domain_xml *nx;
	int ret = domain_xml_parse(text, len, &nx, &err);

	if (ret < 0)
		return ret == -EINVAL ? -EPROTO : ret;   /* an addition broke it: a bug */
	for (size_t i = 0; i < dx->nstrs; i++)
		xmlFree(dx->strs[i]);
	free(dx->strs);
	xmlFreeDoc(dx->doc);
	free(dx->spans);
	free(dx->text);
	*dx = *nx;
	free(nx);
	return 0;
}

int domain_xml_complete(struct domain_xml *dx, const struct domain_xml_random *rnd,
			unsigned *added)
{
	struct dx_edit *e = calloc(1, sizeof(*e));
	char *text = NULL;
	size_t len;
	int ret;

	if (!e)
		return -ENOMEM;
	ret = dx_collect_additions(dx, e, rnd);
	if (added)
		*added = ret == 0 ? (unsigned)e->n : 0;
	if (ret == 0 && e->n)
		ret = dx_edit_apply(e, dx->text, dx->len, &text, &len);
	if (ret == 0 && text)
		ret = dx_reload(dx, text, len);
	free(text);
	free(e);
	return ret;
}

/* ---- live XML ---- */

/* <source path='PTY'/> into a pty chardev element (replacing a <source>). */
static int dx_live_pty(const struct domain_xml *dx, struct dx_edit *e, xmlNodePtr n,
		       const char *pty)
{
	xmlNodePtr src = dx_child(n, "source");
	const struct domain_xml_span *sp = src ? dx_span(dx, src) : NULL;
	char esc[256], markup[300];
	xmlChar *type = xmlGetProp(n, (const xmlChar *)"type");
	bool is_pty = type && strcmp((const char *)type, "pty") == 0;

	xmlFree(type);
	if (!pty || !is_pty)
		return 0;
	dx_escape(pty, esc, sizeof(esc));
	snprintf(markup, sizeof(markup), "<source path='%s'/>", esc);
	if (sp)
		return dx_edit_add(e, sp->start, sp->end - sp->start, "%s", markup);
	return dx_edit_first_child(dx, e, n, markup);
}

static bool dx_live_serial_console(xmlNodePtr n)
{
	xmlNodePtr t = dx_child(n, "target");
	xmlChar *type = t ? xmlGetProp(t, (const xmlChar *)"type") : NULL;
	bool serial = !type || strcmp((const char *)type, "serial") == 0;

	xmlFree(type);
	return serial;
}

static int dx_live_edits(const struct domain_xml *dx, const struct domain_xml_runtime *rt,
			 struct dx_edit *e)
{
	xmlNodePtr devs = dx_child(xmlDocGetRootElement(dx->doc), "devices");
	size_t con = 0;
	int ret = 0;

	for (xmlNodePtr n = devs ? devs->children : NULL; ret == 0 && n; n = n->next) {
		if (dx_is(n, "serial")) {
			ret = dx_live_pty(dx, e, n, rt->serial_pty);
		} else if (dx_is(n, "console") && dx_live_serial_console(n)) {
			ret = dx_live_pty(dx, e, n, rt->serial_pty);
		} else if (dx_is(n, "console")) {
			ret = dx_live_pty(dx, e, n, con < rt->nconsole_ptys ?
					  rt->console_ptys[con] : NULL);
			con++;
		}
	}
	return ret;
}

int domain_xml_format_live(const struct domain_xml *dx, const struct domain_xml_runtime *rt,
			   char **out, size_t *len)
{
	struct dx_edit *e = calloc(1, sizeof(*e));
	int ret;

	if (!e)
		return -ENOMEM;
	ret = dx_live_edits(dx, rt, e);
	if (ret == 0)
		ret = dx_edit_apply(e, dx->text, dx->len, out, len);
	free(e);
	return ret;
}
