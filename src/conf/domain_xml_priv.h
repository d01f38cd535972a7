/* domain_xml_priv: what the files of src/conf share inside struct
 * domain_xml: the document, its element byte ranges, the string pool, and
 * the helpers that read elements and report errors with their line. */
#ifndef VMKIT_DOMAIN_XML_PRIV_H
#define VMKIT_DOMAIN_XML_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include <libxml/tree.h>

#include "domain_xml.h"

/* Byte offsets of one element in the text: its '<', just past its start
 * tag's '>', just past its end tag (= start_end for <empty/>). */
struct domain_xml_span {
	size_t start, start_end, end;
};

struct domain_xml {
	char *text;                     /* NUL-terminated */
	size_t len;
	xmlDocPtr doc;
	struct domain_xml_span *spans;  /* per element, in document order; an
	                                 * element's _private is its index + 1 */
	size_t nspans;
	xmlChar **strs;                 /* strings def points to */
	size_t nstrs, capstrs;
	bool nomem;                     /* a string could not be kept */
	struct domain_def def;
};

/* Fill err with "line N: <name[ attr='value']>: " + the message and return
 * -EINVAL. node NULL: no line, no element. */
int dx_fail(struct domain_xml_error *err, xmlNodePtr node, const char *attr,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* An attribute's value, or NULL when absent. */
const char *dx_attr(struct domain_xml *dx, xmlNodePtr node, const char *name);
/* An element's text content; trimmed of surrounding whitespace if asked. */
const char *dx_text(struct domain_xml *dx, xmlNodePtr node, bool trim);
bool dx_is(xmlNodePtr node, const char *name);
/* The first child element called name, or NULL. */
xmlNodePtr dx_child(xmlNodePtr node, const char *name);
const struct domain_xml_span *dx_span(const struct domain_xml *dx, xmlNodePtr node);
/* A whole decimal number in [min, max]; 0 or -EINVAL. */
int dx_number(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* Byte ranges of every element of a well-formed text (domain_xml_edit.c). */
int dx_scan_spans(const char *text, size_t len, struct domain_xml_span **out, size_t *n);

/* <devices> into dx->def (domain_xml_devices.c). */
int dx_parse_devices(struct domain_xml *dx, xmlNodePtr devices, struct domain_xml_error *err);

#endif
