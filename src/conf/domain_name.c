/* domain_name: the domain name rule (see domain_name.h). */
#include "domain_name.h"

#include <string.h>

#include "domain_def.h"

static bool domain_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '+';
}

bool domain_name_valid(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	bool digits = true;

	if (len == 0 || len >= DOMAIN_NAME_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!domain_name_char(s[i]))
			return false;
		digits = digits && s[i] >= '0' && s[i] <= '9';
	}
	return !digits;
}
