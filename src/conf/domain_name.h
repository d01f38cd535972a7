/* domain_name: THE rule for a domain name, shared by the XML parser
 * (src/conf) and vmkitd's request checks (src/daemon/droute.c), so that a
 * name that can be defined can always be addressed. No libxml2, no state. */
#ifndef VMKIT_DOMAIN_NAME_H
#define VMKIT_DOMAIN_NAME_H

#include <stdbool.h>

/* 1 to 63 of [A-Za-z0-9_.+-], not starting with '-', not all digits. (A
 * name shaped like a UUID passes this rule; the XML parser refuses it
 * separately with its own message.) */
bool domain_name_valid(const char *s);

/* The rule in words, for error messages. */
#define DOMAIN_NAME_RULE "1 to 63 letters, digits, '.', '_', '+' or '-', not starting with " \
	"'-', not all digits"

#endif
