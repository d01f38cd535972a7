/* workloads: the test programs the guest can run (workload=NAME). Each
 * returns 0 for PASS (main prints it and powers off) or a -errno with
 * guest_fail() reason; some end the machine themselves (exit, reset,
 * fault). */
#ifndef TESTGUEST_WORKLOADS_H
#define TESTGUEST_WORKLOADS_H

#include "guest.h"

struct workload {
	const char *name;
	int (*run)(struct guest *g);
};

/* The workload called name, or NULL. */
const struct workload *workloads_find(const char *name);

#endif
