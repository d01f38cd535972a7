/* dview: the statistics views of the API built from dstats (src/daemon/
 * dstats.c: /proc and the VMM's replies) and dmetrics (Prometheus text):
 * DOMSTATS of one domain, HOST, /v1/stats, /v1/metrics. The VMM is asked
 * (query-cpus, query-balloon, query-blockstats, query-netstats) without
 * holding vmkitd.lock. */
#ifndef VMKIT_DVIEW_H
#define VMKIT_DVIEW_H

#include <jansson.h>

#include "derr.h"
#include "vmkitd.h"

/* 0 and *out, or -errno with err. */
int dview_domain(struct ddom *dom, json_t **out, struct derr *err);
int dview_host(struct vmkitd *d, json_t **out, struct derr *err);
int dview_all(struct vmkitd *d, json_t **out, struct derr *err);
int dview_metrics(struct vmkitd *d, char **text, struct derr *err);

#endif
