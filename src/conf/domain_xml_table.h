/* domain_xml_table: the one table of every element and attribute vmkit's
 * domain XML knows, each in one of three classes (honoured, accepted and
 * preserved, refused), and the walk that holds a document to it. The same
 * table generates the reference table of docs/xml.md. */
#ifndef VMKIT_DOMAIN_XML_TABLE_H
#define VMKIT_DOMAIN_XML_TABLE_H

#include <stddef.h>

#include <libxml/tree.h>

struct domain_xml_error;

enum domain_xml_class {
	DOMAIN_XML_HONOURED,   /* vmkit acts on it */
	DOMAIN_XML_PRESERVED,  /* accepted and kept; changes nothing in vmkit */
	DOMAIN_XML_REFUSED,    /* would need hardware or features vmkit lacks */
};

#define DOMAIN_XML_SUBTREE 1u  /* everything inside the element is accepted too */
#define DOMAIN_XML_ONCE 2u     /* at most one such element under its parent */

struct domain_xml_rule {
	const char *path;      /* element path from the root: "domain/devices/disk" */
	const char *attr;      /* NULL: the element itself */
	enum domain_xml_class cls;
	unsigned flags;        /* DOMAIN_XML_SUBTREE, DOMAIN_XML_ONCE (elements) */
	const char *values;    /* "a|b": the values accepted; others are refused with
	                        * the note. NULL: any value */
	const char *note;      /* what vmkit does with it; for a refusal, the reason */
	const char *why;       /* values outside the list: why they are refused
	                        * (NULL: "not supported (vmkit accepts: ...)") */
};

const struct domain_xml_rule *domain_xml_table_rules(size_t *n);
/* Hold the tree under root to the table: the first element or attribute
 * that is refused, unknown, repeated (ONCE) or has a value outside its
 * list fails with -EINVAL and err naming it and its line. */
int domain_xml_table_check(xmlNodePtr root, struct domain_xml_error *err);
/* The table as the Markdown of docs/xml.md (malloc'd; NULL on ENOMEM). */
char *domain_xml_table_markdown(void);

#endif
