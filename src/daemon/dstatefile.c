/* dstatefile: the runtime state file <-> struct dstatefile (dstatefile.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dstatefile.h"

json_t *dstatefile_to_json(const struct dstatefile *sf)
{
	json_t *taps = json_array();

	for (unsigned i = 0; taps && i < sf->ntaps; i++)
		json_array_append_new(taps, json_string(sf->taps[i]));
	return json_pack("{s:i,s:I,s:I,s:s,s:s,s:s,s:o,s:I,s:b,s:b,s:s}",
			 "pid", (int)sf->pid, "starttime", (json_int_t)sf->starttime,
			 "id", (json_int_t)sf->id, "state", dstate_state_name(sf->state),
			 "reason", dstate_reason_name(sf->reason), "pty", sf->pty,
			 "taps", taps, "cid", (json_int_t)sf->cid, "transient", sf->transient,
			 "starting", sf->starting,
			 "xml", sf->xml ? sf->xml : "");
}

static int dstatefile_int(json_t *j, const char *key, long long min, long long max,
			  long long *out, char *err, size_t errlen)
{
	json_t *v = json_object_get(j, key);

	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, errlen, "\"%s\" is missing or not an integer in %lld..%lld", key,
			 min, max);
		return -EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

static int dstatefile_taps(json_t *j, struct dstatefile *sf, char *err, size_t errlen)
{
	json_t *taps = json_object_get(j, "taps"), *t;
	size_t i;

	if (!json_is_array(taps) || json_array_size(taps) > DSTATEFILE_MAX_TAPS) {
		snprintf(err, errlen, "\"taps\" is missing or not an array of at most %d names",
			 DSTATEFILE_MAX_TAPS);
		return -EINVAL;
	}
	json_array_foreach(taps, i, t) {
		if (!json_is_string(t) || json_string_length(t) >= sizeof(sf->taps[0])) {
			snprintf(err, errlen, "\"taps\"[%zu] is not an interface name", i);
			return -EINVAL;
		}
		strcpy(sf->taps[i], json_string_value(t));
	}
	sf->ntaps = (unsigned)i;
	return 0;
}

static int dstatefile_strings(json_t *j, struct dstatefile *sf, char *err, size_t errlen)
{
	const char *state = json_string_value(json_object_get(j, "state"));
	const char *reason = json_string_value(json_object_get(j, "reason"));
	const char *pty = json_string_value(json_object_get(j, "pty"));

	sf->xml = json_string_value(json_object_get(j, "xml"));
	if (!state || dstate_state_parse(state, &sf->state) < 0 || !reason ||
	    dstate_reason_parse(reason, &sf->reason) < 0) {
		snprintf(err, errlen, "\"state\" or \"reason\" is missing or unknown");
		return -EINVAL;
	}
	if (!pty || strlen(pty) >= sizeof(sf->pty) || !sf->xml ||
	    !json_is_boolean(json_object_get(j, "transient")) ||
	    (json_object_get(j, "starting") && !json_is_boolean(json_object_get(j, "starting")))) {
		snprintf(err, errlen, "\"pty\", \"xml\", \"transient\" or \"starting\" is "
			 "missing or bad");
		return -EINVAL;
	}
	strcpy(sf->pty, pty);
	sf->transient = json_is_true(json_object_get(j, "transient"));
	sf->starting = json_is_true(json_object_get(j, "starting"));
	return 0;
}

int dstatefile_from_json(json_t *j, struct dstatefile *sf, char *err, size_t errlen)
{
	long long pid, start, id, cid;

	memset(sf, 0, sizeof(*sf));
	if (dstatefile_int(j, "pid", 1, INT32_MAX, &pid, err, errlen) < 0 ||
	    dstatefile_int(j, "starttime", 0, INT64_MAX, &start, err, errlen) < 0 ||
	    dstatefile_int(j, "id", 1, INT64_MAX, &id, err, errlen) < 0 ||
	    dstatefile_int(j, "cid", 0, UINT32_MAX, &cid, err, errlen) < 0)
		return -EINVAL;
	sf->pid = (pid_t)pid;
	sf->starttime = (uint64_t)start;
	sf->id = id;
	sf->cid = (uint32_t)cid;
	if (dstatefile_taps(j, sf, err, errlen) < 0)
		return -EINVAL;
	return dstatefile_strings(j, sf, err, errlen);
}
