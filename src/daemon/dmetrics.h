/* dmetrics: GET /v1/metrics: the /v1/stats object ({"host": HOST,
 * "domains": [DOMSTATS...]}) in the Prometheus text exposition format
 * 0.0.4. One table lists the metric families (name, type, help, where the
 * value sits); each family appears once with its # HELP and # TYPE lines
 * and all its samples, a family without samples not at all. Domains are
 * labelled name and uuid; counters end in _total; nanoseconds are shown
 * as seconds. Label values are escaped (\\, \", \n). */
#ifndef VMKIT_DMETRICS_H
#define VMKIT_DMETRICS_H

#include <jansson.h>

/* 0 and *text (malloc'd, NUL-terminated), -EINVAL when stats is not an
 * object, or -ENOMEM. Members missing from stats give no sample. */
int dmetrics_format(json_t *stats, char **text);

#endif
