/* domain_xml: libvirt-style domain XML (<domain type='kvm'>) with libxml2.
 * The document text is the source of truth: parsing checks it (well-formed,
 * every element and attribute in the table of domain_xml_table.c, values
 * valid) and derives a struct domain_def from it; vmkit's additions (a
 * generated uuid, MAC addresses) are inserted into the text as minimal
 * splices, so the user's units, order, quoting and comments stay byte for
 * byte; the live XML is the stored text plus runtime facts (pty paths).
 * Errors name the line and the element: "line 23: <graphics>: graphical
 * consoles are not supported". See docs/xml.md. */
#ifndef VMKIT_DOMAIN_XML_H
#define VMKIT_DOMAIN_XML_H

#include <stddef.h>
#include <stdint.h>

#include "domain_def.h"

#define DOMAIN_XML_MAX (1 << 20)   /* largest document accepted, bytes */

struct domain_xml_error {
	long line;                 /* 0 when the error is about no line */
	char msg[1024];            /* "line N: <element>: what is wrong" */
};

struct domain_xml;

/* Parse and validate a document. 0 and *out, or -EINVAL (err says why),
 * -EFBIG (larger than DOMAIN_XML_MAX) or -ENOMEM. Nothing outside the text
 * is read: no network, no DTD, no external entity. Thread-safe once
 * libxml2 is initialised: a threaded caller (vmkitd) parses its first
 * document, or calls xmlInitParser(), before starting threads. */
int domain_xml_parse(const char *text, size_t len, struct domain_xml **out,
		     struct domain_xml_error *err);
void domain_xml_free(struct domain_xml *dx);   /* NULL is fine */
const struct domain_def *domain_xml_def(const struct domain_xml *dx);
/* The stored document: the text as given plus vmkit's additions. */
const char *domain_xml_text(const struct domain_xml *dx, size_t *len);

/* Where vmkit's additions take their randomness: fill buf with len random
 * bytes, 0 or -errno. NULL: getrandom(). Tests pass a fixed sequence. */
struct domain_xml_random {
	int (*fill)(void *opaque, void *buf, size_t len);
	void *opaque;
};

/* Insert what the definition lacks: a <uuid> after <name>, a <mac> as the
 * first child of each <interface> without one. Every other byte stays.
 * *added (may be NULL) = the number of insertions. 0 or -errno. */
int domain_xml_complete(struct domain_xml *dx, const struct domain_xml_random *rnd,
			unsigned *added);

/* Runtime facts of a running domain, for the live XML. */
struct domain_xml_runtime {
	const char *serial_pty;              /* serial port 0's pty, or NULL */
	const char *const *console_ptys;     /* per virtio console (document order), */
	size_t nconsole_ptys;                /*   an entry NULL when not a pty */
};

/* The live XML: the stored text with <source path='PTY'/> in each pty
 * <serial>/<console> (replacing a <source> already there). malloc'd text,
 * NUL-terminated, in *out; 0 or -errno. */
int domain_xml_format_live(const struct domain_xml *dx, const struct domain_xml_runtime *rt,
			   char **out, size_t *len);

#endif
