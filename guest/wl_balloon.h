/* wl_balloon: the balloon workload (see README.md), registered in
 * workloads.c's table. 0 for PASS or a -errno with guest_fail() done. */
#ifndef TESTGUEST_WL_BALLOON_H
#define TESTGUEST_WL_BALLOON_H

#include "guest.h"

int wl_balloon(struct guest *g);

#endif
