/* fuzz_domain_xml: libFuzzer harness for domain XML (src/conf): parse +
 * validate arbitrary bytes; for a document that is accepted, vmkit's
 * additions, the live XML and the conversion to vmkit-vmm JSON, with the
 * contracts checked: the completed and the live text parse again to the
 * same definition, a second completion adds nothing, and vmkit-vmm's own
 * config_apply_json takes the JSON. A broken contract traps. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/domain_json.h"
#include "conf/domain_xml.h"
#include "config.h"

#define FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

static int fuzz_fill(void *opaque, void *buf, size_t len)
{
	unsigned *next = opaque;

	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = (uint8_t)(0x21 + (*next)++ * 7);
	return 0;
}

static void fuzz_same_def(const struct domain_def *a, const char *text, size_t len)
{
	struct domain_xml_error err;
	struct domain_xml *dx;
	const struct domain_def *b;

	fuzz_check(domain_xml_parse(text, len, &dx, &err) == 0);
	b = domain_xml_def(dx);
	fuzz_check(strcmp(a->name, b->name) == 0 && a->memory == b->memory &&
		   a->vcpus == b->vcpus && a->ndisks == b->ndisks && a->nnets == b->nnets &&
		   a->nconsoles == b->nconsoles && a->has_serial == b->has_serial);
	domain_xml_free(dx);
}

static void fuzz_json(const struct domain_def *d)
{
	const char *taps[DOMAIN_MAX_NETS] = { "tap0", "tap1", "tap2", "tap3",
					      "tap4", "tap5", "tap6", "tap7" };
	struct domain_vmm_env env = { "/run/f.sock", taps, d->nnets, "/run/f.vsock", 9 };
	struct domain_xml_error err;
	struct vm_config *cfg;
	json_t *j;
	char *s;

	fuzz_check(domain_to_vmm_json(d, &env, &j, &err) == 0);
	s = json_dumps(j, JSON_COMPACT);
	cfg = malloc(sizeof(*cfg));
	fuzz_check(s && cfg);
	config_defaults(cfg);
	fuzz_check(config_apply_json(cfg, s, strlen(s), "fuzz") == 0);
	free(cfg);
	free(s);
	json_decref(j);
}

static void fuzz_accepted(struct domain_xml *dx)
{
	static const char *const ptys[] = { "/dev/pts/1", "/dev/pts/2", NULL, "/dev/pts/'&" };
	struct domain_xml_runtime rt = { "/dev/pts/0", ptys, 4 };
	unsigned next = 0, added;
	struct domain_xml_random rnd = { fuzz_fill, &next };
	const struct domain_def *d;
	const char *text;
	char *live;
	size_t len, livelen;

	fuzz_check(domain_xml_complete(dx, &rnd, &added) == 0);
	d = domain_xml_def(dx);
	fuzz_check(d->uuid_given && d->vcpus >= 1 && d->memory >= DOMAIN_MIN_MEMORY);
	for (unsigned i = 0; i < d->nnets; i++)
		fuzz_check(d->nets[i].mac_given);
	fuzz_check(domain_xml_complete(dx, &rnd, &added) == 0 && added == 0);
	text = domain_xml_text(dx, &len);
	fuzz_same_def(d, text, len);
	fuzz_check(domain_xml_format_live(dx, &rt, &live, &livelen) == 0);
	fuzz_same_def(d, live, livelen);
	free(live);
	fuzz_json(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct domain_xml_error err;
	struct domain_xml *dx;
	int ret;

	if (size > FUZZ_MAX_INPUT)
		return 0;
	ret = domain_xml_parse((const char *)data, size, &dx, &err);
	if (ret < 0) {
		fuzz_check(ret == -EINVAL && memchr(err.msg, '\0', sizeof(err.msg)) && err.msg[0]);
		return 0;
	}
	fuzz_accepted(dx);
	domain_xml_free(dx);
	return 0;
}
