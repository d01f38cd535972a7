/* domain_xml: loading a domain document (libxml2 without network, DTDs or
 * entity expansion), the helpers every part of the parse shares, and the
 * top-level elements (name, uuid, title, memory, vcpu, os, on_*). Devices are
 * in domain_xml_devices.c, the element table in domain_xml_table.c, text
 * splices (additions, live XML) in domain_xml_edit.c. */
#include "domain_xml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/SAX2.h>

#include "common/util.h"
#include "domain_name.h"
#include "domain_units.h"
#include "domain_xml_priv.h"
#include "domain_xml_table.h"

/* ---- helpers shared by the parse ---- */

int dx_fail(struct domain_xml_error *err, xmlNodePtr node, const char *attr,
	    const char *fmt, ...)
{
	size_t used = 0, size = sizeof(err->msg);
	char name[128];
	va_list ap;

	err->line = node ? xmlGetLineNo(node) : 0;
	if (node && err->line > 0)
		used += (size_t)snprintf(err->msg, size, "line %ld: ", err->line);
	if (node && node->ns && node->ns->prefix)
		snprintf(name, sizeof(name), "%.60s:%.60s", (const char *)node->ns->prefix,
			 (const char *)node->name);
	else if (node)
		snprintf(name, sizeof(name), "%.120s", (const char *)node->name);
	if (node && attr) {
		xmlChar *v = xmlGetProp(node, (const xmlChar *)attr);

		used += (size_t)snprintf(err->msg + used, size - used, "<%s %s='%.64s'>: ",
					 name, attr, v ? (char *)v : "");
		xmlFree(v);
	} else if (node) {
		used += (size_t)snprintf(err->msg + used, size - used, "<%s>: ", name);
	}
	va_start(ap, fmt);
	if (used < size)
		vsnprintf(err->msg + used, size - used, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static const char *dx_keep(struct domain_xml *dx, xmlChar *s)
{
	if (!s)
		return NULL;
	if (dx->nstrs == dx->capstrs) {
		size_t cap = dx->capstrs ? dx->capstrs * 2 : 32;
		xmlChar **n = realloc(dx->strs, cap * sizeof(*n));

		if (!n) {
			xmlFree(s);
			dx->nomem = true;
			return NULL;
		}
		dx->strs = n;
		dx->capstrs = cap;
	}
	dx->strs[dx->nstrs++] = s;
	return (const char *)s;
}

const char *dx_attr(struct domain_xml *dx, xmlNodePtr node, const char *name)
{
	if (!xmlHasProp(node, (const xmlChar *)name))
		return NULL;
	return dx_keep(dx, xmlGetProp(node, (const xmlChar *)name));
}

const char *dx_text(struct domain_xml *dx, xmlNodePtr node, bool trim)
{
	xmlChar *s = xmlNodeGetContent(node);
	size_t len, lead = 0;

	if (!s)
		s = xmlStrdup((const xmlChar *)"");
	if (s && trim) {
		len = strlen((char *)s);
		while (len && strchr(" \t\r\n", s[len - 1]))
			s[--len] = '\0';
		while (s[lead] && strchr(" \t\r\n", s[lead]))
			lead++;
		memmove(s, s + lead, len - lead + 1);
	}
	if (!s)
		dx->nomem = true;
	return dx_keep(dx, s);
}

bool dx_is(xmlNodePtr node, const char *name)
{
	return node->type == XML_ELEMENT_NODE && !node->ns &&
	       strcmp((const char *)node->name, name) == 0;
}

xmlNodePtr dx_child(xmlNodePtr node, const char *name)
{
	for (xmlNodePtr c = node->children; c; c = c->next) {
		if (dx_is(c, name))
			return c;
	}
	return NULL;
}

const struct domain_xml_span *dx_span(const struct domain_xml *dx, xmlNodePtr node)
{
	uintptr_t i = (uintptr_t)node->_private;

	return i >= 1 && i <= dx->nspans ? &dx->spans[i - 1] : NULL;
}

int dx_number(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v;

	if (domain_units_scale(s, NULL, 1, &v) < 0 || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* ---- loading ---- */

/* Parser state seen by the SAX hooks through ctxt->_private. */
struct dx_load {
	struct domain_xml_error *err;
	bool failed;
};

static void dx_load_error(void *user, xmlErrorPtr e)
{
	xmlParserCtxtPtr ctxt = user;
	struct dx_load *ld = ctxt->_private;
	size_t n;

	if (ld->failed || e->level < XML_ERR_ERROR)
		return;
	ld->failed = true;
	ld->err->line = e->line;
	snprintf(ld->err->msg, sizeof(ld->err->msg), "line %d: malformed XML: %s", e->line,
		 e->message ? e->message : "error");
	n = strlen(ld->err->msg);
	while (n && ld->err->msg[n - 1] == '\n')
		ld->err->msg[--n] = '\0';
}

/* <!DOCTYPE ...>: stop before any declaration is read. */
static void dx_load_no_dtd(void *user, const xmlChar *name, const xmlChar *ext,
			   const xmlChar *sys)
{
	xmlParserCtxtPtr ctxt = user;
	struct dx_load *ld = ctxt->_private;

	if (!ld->failed) {
		ld->failed = true;
		ld->err->line = xmlSAX2GetLineNumber(ctxt);
		snprintf(ld->err->msg, sizeof(ld->err->msg),
			 "line %ld: <!DOCTYPE>: document type declarations are not accepted",
			 ld->err->line);
	}
	xmlStopParser(ctxt);
}

static int dx_load_doc(struct domain_xml *dx, struct domain_xml_error *err)
{
	struct dx_load ld = { err, false };
	xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt(dx->text, (int)dx->len);
	int ret = 0;

	if (!ctxt)
		return -ENOMEM;
	xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_BIG_LINES | XML_PARSE_NOERROR |
			  XML_PARSE_NOWARNING);
	ctxt->_private = &ld;
	ctxt->sax->serror = dx_load_error;
	ctxt->sax->internalSubset = dx_load_no_dtd;
	ctxt->sax->externalSubset = dx_load_no_dtd;
	xmlParseDocument(ctxt);
	dx->doc = ctxt->myDoc;
	ctxt->myDoc = NULL;
	if (ld.failed || !ctxt->wellFormed || !dx->doc) {
		if (!ld.failed)
			snprintf(err->msg, sizeof(err->msg), "malformed XML");
		ret = -EINVAL;
	}
	xmlFreeParserCtxt(ctxt);
	return ret;
}

static size_t dx_count_elements(xmlNodePtr n)
{
	size_t count = 0;

	for (; n; n = n->next) {
		if (n->type == XML_ELEMENT_NODE)
			count += 1 + dx_count_elements(n->children);
	}
	return count;
}

/* Number the elements in document order (their _private) to match spans. */
static void dx_number_elements(xmlNodePtr n, uintptr_t *next)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		n->_private = (void *)++*next;
		dx_number_elements(n->children, next);
	}
}

/* UTF-8 only: byte offsets into the text must be offsets into the parse. */
static int dx_check_encoding(struct domain_xml *dx, struct domain_xml_error *err)
{
	const char *enc = (const char *)dx->doc->encoding;
	uintptr_t next = 0;
	xmlNodePtr root = xmlDocGetRootElement(dx->doc);

	if (enc && strcasecmp(enc, "UTF-8") != 0 && strcasecmp(enc, "UTF8") != 0)
		return dx_fail(err, root, NULL, "encoding '%s': only UTF-8 documents are accepted",
			       enc);
	if (dx_scan_spans(dx->text, dx->len, &dx->spans, &dx->nspans) < 0 ||
	    dx->nspans != dx_count_elements(root))
		return dx_fail(err, root, NULL, "the document's elements could not be located");
	dx_number_elements(root, &next);
	return 0;
}

static int dx_load(const char *text, size_t len, struct domain_xml *dx,
		   struct domain_xml_error *err)
{
	if (len > DOMAIN_XML_MAX) {
		snprintf(err->msg, sizeof(err->msg), "the document is %zu bytes; the limit is %d",
			 len, DOMAIN_XML_MAX);
		return -EFBIG;
	}
	if (len == 0) {
		snprintf(err->msg, sizeof(err->msg), "malformed XML: the document is empty");
		return -EINVAL;
	}
	if (memchr(text, '\0', len) ||
	    (len >= 2 && ((uint8_t)text[0] == 0xfe || (uint8_t)text[0] == 0xff))) {
		snprintf(err->msg, sizeof(err->msg),
			 "malformed XML: NUL bytes or UTF-16: only UTF-8 documents are accepted");
		return -EINVAL;
	}
	dx->text = malloc(len + 1);
	if (!dx->text)
		return -ENOMEM;
	memcpy(dx->text, text, len);
	dx->text[len] = '\0';
	dx->len = len;
	xmlInitParser();
	if (dx_load_doc(dx, err) < 0)
		return -EINVAL;
	return dx_check_encoding(dx, err);
}

/* ---- top-level elements ---- */

static int dx_parse_name(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	const char *s = dx_text(dx, n, false);
	uint8_t uuid[16];

	if (!domain_name_valid(s))
		return dx_fail(err, n, NULL, "'%.80s' is not a domain name (" DOMAIN_NAME_RULE ")",
			       s ? s : "");
	if (domain_units_uuid_parse(s, uuid) == 0)
		return dx_fail(err, n, NULL, "'%s' is a UUID; a name must not look like one", s);
	dx->def.name = s;
	return 0;
}

static int dx_parse_uuid(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	const char *s = dx_text(dx, n, false);

	if (!s || domain_units_uuid_parse(s, dx->def.uuid) < 0)
		return dx_fail(err, n, NULL, "'%.80s' is not a UUID "
			       "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, not all digits equal)",
			       s ? s : "");
	dx->def.uuid_given = true;
	return 0;
}

static int dx_parse_title(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	const char *s = dx_text(dx, n, false);

	if (s && strchr(s, '\n'))
		return dx_fail(err, n, NULL, "a title is one line");
	dx->def.title = s;
	return 0;
}

static int dx_parse_description(struct domain_xml *dx, xmlNodePtr n,
				struct domain_xml_error *err)
{
	dx->def.description = dx_text(dx, n, false);
	return 0;
}

static int dx_memory(struct domain_xml *dx, xmlNodePtr n, uint64_t *out,
		     struct domain_xml_error *err)
{
	const char *s = dx_text(dx, n, true), *unit = dx_attr(dx, n, "unit");
	uint64_t v = 0;
	int ret = s ? domain_units_scale(s, unit, 1024, &v) : -EINVAL;

	if (ret == -ERANGE || (ret == 0 && v > DOMAIN_MAX_MEMORY))
		return dx_fail(err, n, NULL, "%s %s is more than vmkit supports (64 TiB)",
			       s, unit ? unit : "KiB");
	if (ret < 0 && s && domain_units_scale(s, NULL, 1, &v) == 0)
		return dx_fail(err, n, "unit", "not a unit (b, KB, KiB, MB, MiB, GB, GiB, TB, TiB, "
			       "...; default KiB)");
	if (ret < 0)
		return dx_fail(err, n, NULL, "'%.80s' is not a whole number", s ? s : "");
	if (v < DOMAIN_MIN_MEMORY)
		return dx_fail(err, n, NULL, "%s %s is less than vmkit's minimum of 16 MiB",
			       s, unit ? unit : "KiB");
	*out = ALIGN_UP(v, 4096);
	return 0;
}

static int dx_parse_memory(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	return dx_memory(dx, n, &dx->def.memory, err);
}

static int dx_parse_current_memory(struct domain_xml *dx, xmlNodePtr n,
				   struct domain_xml_error *err)
{
	return dx_memory(dx, n, &dx->def.current_memory, err);
}

/* <memoryBacking>: the table allows only what vmkit's guest RAM is (private
 * anonymous memory); what is left to act on is the allocation mode. */
static int dx_parse_memory_backing(struct domain_xml *dx, xmlNodePtr n,
				   struct domain_xml_error *err)
{
	xmlNodePtr a = dx_child(n, "allocation");
	const char *mode = a ? dx_attr(dx, a, "mode") : NULL;

	(void)err;
	dx->def.mem_prealloc = mode && strcmp(mode, "immediate") == 0;
	return 0;
}

static int dx_parse_vcpu(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	const char *s = dx_text(dx, n, true), *cur = dx_attr(dx, n, "current");
	uint64_t v, c;

	if (!s || dx_number(s, 1, DOMAIN_MAX_VCPUS, &v) < 0)
		return dx_fail(err, n, NULL, "'%.80s' is not a number of vCPUs from 1 to %d",
			       s ? s : "", DOMAIN_MAX_VCPUS);
	if (cur && (dx_number(cur, 1, DOMAIN_MAX_VCPUS, &c) < 0 || c != v))
		return dx_fail(err, n, "current", "vCPU hot-plug is not supported "
			       "(current must equal the vCPU count)");
	dx->def.vcpus = (unsigned)v;
	return 0;
}

static int dx_lifecycle(struct domain_xml *dx, xmlNodePtr n, enum domain_lifecycle *out,
			struct domain_xml_error *err)
{
	const char *s = dx_text(dx, n, true);

	if (s && strcmp(s, "destroy") == 0)
		*out = DOMAIN_LIFECYCLE_DESTROY;
	else if (s && strcmp(s, "restart") == 0)
		*out = DOMAIN_LIFECYCLE_RESTART;
	else
		return dx_fail(err, n, NULL, "'%.80s' is not supported (destroy or restart)",
			       s ? s : "");
	return 0;
}

static int dx_parse_on_poweroff(struct domain_xml *dx, xmlNodePtr n,
				struct domain_xml_error *err)
{
	return dx_lifecycle(dx, n, &dx->def.on_poweroff, err);
}

static int dx_parse_on_reboot(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	return dx_lifecycle(dx, n, &dx->def.on_reboot, err);
}

static int dx_parse_on_crash(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err)
{
	return dx_lifecycle(dx, n, &dx->def.on_crash, err);
}

/* A path-like text: not empty, one line. */
static int dx_path_text(struct domain_xml *dx, xmlNodePtr n, const char **out,
			struct domain_xml_error *err)
{
	const char *s = dx_text(dx, n, true);

	if (!s || !s[0] || strchr(s, '\n'))
		return dx_fail(err, n, NULL, "expected a path");
	*out = s;
	return 0;
}

static int dx_parse_os(struct domain_xml *dx, xmlNodePtr os, struct domain_xml_error *err)
{
	xmlNodePtr type = dx_child(os, "type"), k = dx_child(os, "kernel");
	xmlNodePtr i = dx_child(os, "initrd"), c = dx_child(os, "cmdline");
	const char *t = type ? dx_text(dx, type, true) : NULL;
	int ret = 0;

	if (type && (!t || strcmp(t, "hvm") != 0))
		return dx_fail(err, type, NULL, "'%.80s' is not supported: only hvm guests",
			       t ? t : "");
	if (!k)
		return dx_fail(err, os, NULL, "firmware boot is not supported: give a <kernel> "
			       "to boot directly");
	ret = dx_path_text(dx, k, &dx->def.kernel, err);
	if (ret == 0 && i)
		ret = dx_path_text(dx, i, &dx->def.initrd, err);
	if (ret == 0 && c)
		dx->def.cmdline = dx_text(dx, c, false);
	if (ret == 0 && dx->def.cmdline && strlen(dx->def.cmdline) >= 65536)
		return dx_fail(err, c, NULL, "the command line is longer than 65535 bytes");
	return ret;
}

struct dx_top {
	const char *name;
	int (*parse)(struct domain_xml *dx, xmlNodePtr n, struct domain_xml_error *err);
	bool required;
};

static const struct dx_top dx_tops[] = {
	{ "name", dx_parse_name, true },
	{ "uuid", dx_parse_uuid, false },
	{ "title", dx_parse_title, false },
	{ "description", dx_parse_description, false },
	{ "memory", dx_parse_memory, true },
	{ "currentMemory", dx_parse_current_memory, false },
	{ "memoryBacking", dx_parse_memory_backing, false },
	{ "vcpu", dx_parse_vcpu, false },
	{ "os", dx_parse_os, true },
	{ "on_poweroff", dx_parse_on_poweroff, false },
	{ "on_reboot", dx_parse_on_reboot, false },
	{ "on_crash", dx_parse_on_crash, false },
	{ "devices", dx_parse_devices, false },
};

static int dx_parse_def(struct domain_xml *dx, xmlNodePtr root, struct domain_xml_error *err)
{
	struct domain_def *d = &dx->def;
	int ret = 0;

	*d = (struct domain_def){ .vcpus = 1, .on_poweroff = DOMAIN_LIFECYCLE_DESTROY,
				  .on_reboot = DOMAIN_LIFECYCLE_RESTART,
				  .on_crash = DOMAIN_LIFECYCLE_DESTROY };
	if (!xmlHasProp(root, (const xmlChar *)"type"))
		ret = dx_fail(err, root, NULL, "type='kvm' is missing");
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(dx_tops); i++) {
		xmlNodePtr n = dx_child(root, dx_tops[i].name);

		if (n)
			ret = dx_tops[i].parse(dx, n, err);
		else if (dx_tops[i].required)
			ret = dx_fail(err, root, NULL, "<%s> is missing%s", dx_tops[i].name,
				      strcmp(dx_tops[i].name, "os") == 0 ?
				      " (vmkit boots a <kernel> given in <os>)" : "");
	}
	if (ret == 0 && !dx_child(root, "currentMemory"))
		d->current_memory = d->memory;
	if (ret == 0 && d->current_memory > d->memory)
		ret = dx_fail(err, dx_child(root, "currentMemory"), NULL,
			      "more than <memory> (%llu KiB)", (unsigned long long)(d->memory >> 10));
	if (ret == 0 && dx->nomem)
		ret = -ENOMEM;
	return ret;
}

int domain_xml_parse(const char *text, size_t len, struct domain_xml **out,
		     struct domain_xml_error *err)
{
	struct domain_xml *dx = calloc(1, sizeof(*dx));
	xmlNodePtr root;
	int ret;

	*err = (struct domain_xml_error){ 0 };
	if (!dx)
		return -ENOMEM;
	ret = dx_load(text, len, dx, err);
	root = ret == 0 ? xmlDocGetRootElement(dx->doc) : NULL;
	if (ret == 0 && !dx_is(root, "domain"))
		ret = dx_fail(err, root, NULL, "the root element must be <domain>");
	if (ret == 0)
		ret = domain_xml_table_check(root, err);
	if (ret == 0)
		ret = dx_parse_def(dx, root, err);
	if (ret < 0) {
		if (ret == -ENOMEM && !err->msg[0])
			snprintf(err->msg, sizeof(err->msg), "out of memory");
		domain_xml_free(dx);
		return ret;
	}
	*out = dx;
	return 0;
}

void domain_xml_free(struct domain_xml *dx)
{
	if (!dx)
		return;
	for (size_t i = 0; i < dx->nstrs; i++)
		xmlFree(dx->strs[i]);
	free(dx->strs);
	xmlFreeDoc(dx->doc);
	free(dx->spans);
	free(dx->text);
	free(dx);
}

const struct domain_def *domain_xml_def(const struct domain_xml *dx)
{
	return &dx->def;
}

const char *domain_xml_text(const struct domain_xml *dx, size_t *len)
{
	if (len)
		*len = dx->len;
	return dx->text;
}
