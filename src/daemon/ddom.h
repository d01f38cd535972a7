/* ddom: the domains of a vmkitd: the table (lookup by name or UUID,
 * references), definitions (define, redefine, undefine, autostart, all
 * stored atomically in the state dir), the JSON views of the API
 * (DOMSUMMARY, DOMINFO, the list) and each domain's files. The VMM side of
 * a domain (start, stop, exit, re-attach) is drun.h. */
#ifndef VMKIT_DDOM_H
#define VMKIT_DDOM_H

#include <stddef.h>

#include <jansson.h>

#include "derr.h"
#include "vmkitd.h"

/* A domain's files (docs/api.md "Files"). */
enum ddom_file {
	DDOM_DEF,        /* STATE/domains/UUID.xml */
	DDOM_AUTOSTART,  /* STATE/autostart/UUID */
	DDOM_SOCK,       /* RUNTIME/UUID.sock */
	DDOM_EXIT,       /* RUNTIME/UUID.sock.exit */
	DDOM_PID,        /* RUNTIME/UUID.pid */
	DDOM_STATE,      /* RUNTIME/UUID.state */
	DDOM_TXML,       /* RUNTIME/UUID.xml (transient definitions) */
	DDOM_CONFIG,     /* RUNTIME/UUID.json (the VMM's --config) */
	DDOM_VSOCK,      /* RUNTIME/UUID.vsock */
	DDOM_LOG,        /* LOG/NAME.log */
};

void ddom_path(const struct ddom *dom, enum ddom_file f, char *buf, size_t len);

/* Look up {dom} (name or UUID) and take a reference; -ENOENT with err
 * no-domain. Release with ddom_put. */
int ddom_get(struct vmkitd *d, const char *ident, struct ddom **out, struct derr *err);
void ddom_put(struct ddom *dom);
/* Locked variants for code already holding vmkitd.lock. */
struct ddom *ddom_find_locked(struct vmkitd *d, const char *ident);
void ddom_remove_locked(struct ddom *dom);

/* Parse, complete and check a definition against the table; transient =
 * create (never replaces). 0 and *out (referenced), or -errno with err
 * (invalid-xml, domain-exists, internal). */
int ddom_define(struct vmkitd *d, const char *xml, bool transient, struct ddom **out,
		struct derr *err);
/* Undefine (called with op held, any state). */
int ddom_undefine(struct ddom *dom, struct derr *err);
int ddom_set_autostart(struct ddom *dom, bool on, struct derr *err);

/* A new ddom for a parsed definition (not in the table). */
struct ddom *ddom_new(struct vmkitd *d, struct domain_xml *dx, bool persistent);
int ddom_insert_locked(struct vmkitd *d, struct ddom *dom);
/* Free a ddom that is in no table and has no other reference. */
void ddom_free(struct ddom *dom);
/* Load the STATE/domains/UUID.xml files and the autostart flags. Bad files are logged
 * and left in place. 0 or -errno. */
int ddom_load_all(struct vmkitd *d);
void ddom_free_all(struct vmkitd *d);

/* Views (vmkitd.lock held). */
json_t *ddom_summary_locked(const struct ddom *dom);
json_t *ddom_info_locked(const struct ddom *dom);
/* DOMINFO with memory_bytes from the balloon and cpu_time_ns from /proc. */
json_t *ddom_info(struct ddom *dom);
/* {"domains": [...]}: active by id, then (all) inactive by name. */
json_t *ddom_list(struct vmkitd *d, bool all);
/* The live XML (active, !inactive) or the stored one. 0 or -errno. */
int ddom_xml(struct ddom *dom, bool inactive, char **out, struct derr *err);

/* The domain's name/uuid pair for events; emits under no lock. */
void ddom_event(struct ddom *dom, const char *event, const char *detail);

#endif
