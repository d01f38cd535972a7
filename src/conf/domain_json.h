/* domain_json: a domain definition as the JSON configuration vmkit-vmm
 * takes with --config FILE (keys of src/vmm/config.c). A pure function of
 * the definition and the run-time facts the daemon supplies (TAP names,
 * socket paths, an automatic vsock CID); nothing is read or created. */
#ifndef VMKIT_DOMAIN_JSON_H
#define VMKIT_DOMAIN_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "domain_def.h"

struct domain_xml_error;

struct domain_vmm_env {
	const char *api_socket;        /* "api-socket", or NULL for none */
	/* The TAP of each <interface>, in document order (taps[i] for
	 * def->nets[i]; ntaps may be less than nnets). For type='bridge' the
	 * daemon creates the TAP, adds it to the bridge and passes its name
	 * here; it is required. For type='ethernet' NULL means <target dev>. */
	const char *const *taps;
	size_t ntaps;
	const char *vsock_socket;      /* host side of the vsock device (required
	                                * when the domain has one) */
	uint32_t vsock_cid;            /* for <cid auto='yes'>: the CID picked */
	/* A pty serial port's output is also appended here ("serial-log"):
	 * the console log, complete even for output nobody read from the pty
	 * before the VMM ended. NULL = none; ignored for other serial types. */
	const char *serial_log;
	bool paused;                   /* "paused": true (start --paused) */
};

/* 0 and *out (a new JSON object), or -EINVAL with err naming the element
 * the environment lacks something for, or -ENOMEM. */
int domain_to_vmm_json(const struct domain_def *def, const struct domain_vmm_env *env,
		       json_t **out, struct domain_xml_error *err);

#endif
