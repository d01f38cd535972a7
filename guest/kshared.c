/* kshared: defines the one ring-0/ring-3 shared state object and checks at
 * compile time that its layout matches the offsets the assembly uses. */
#include <stddef.h>

#include "kshared.h"

struct kshared kshared;

_Static_assert(offsetof(struct kshared, events) == KS_EVENTS, "KS_EVENTS");
_Static_assert(offsetof(struct kshared, ticks) == KS_TICKS, "KS_TICKS");
_Static_assert(offsetof(struct kshared, pm1_sts_port) == KS_PM1_STS_PORT, "KS_PM1_STS_PORT");
_Static_assert(offsetof(struct kshared, pm1_seen) == KS_PM1_SEEN, "KS_PM1_SEEN");
_Static_assert(offsetof(struct kshared, ged_addr) == KS_GED_ADDR, "KS_GED_ADDR");
_Static_assert(offsetof(struct kshared, ged_seen) == KS_GED_SEEN, "KS_GED_SEEN");
_Static_assert(offsetof(struct kshared, ap_next) == KS_AP_NEXT, "KS_AP_NEXT");
_Static_assert(offsetof(struct kshared, msix) == KS_MSIX, "KS_MSIX");
