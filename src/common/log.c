/* log: leveled diagnostics to stderr, one write() per message so lines from
 * different threads never interleave. */
#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

/* The level is configuration written once by main() before any thread starts. */
static enum log_level log_level_current = LOG_WARN;

static const char *const log_level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

int log_parse_level(const char *s, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(log_level_names); i++) {
		if (strcmp(s, log_level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_set_level(enum log_level level)
{
	log_level_current = level;
}

enum log_level log_get_level(void)
{
	return log_level_current;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n, m;

	if (level > log_level_current)
		return;
	n = snprintf(buf, sizeof(buf), "vmkit: %s%s", level == LOG_ERROR ? "error: " :
		     level == LOG_WARN ? "warning: " : "", "");
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += MIN(m, (int)sizeof(buf) - n - 2);
	buf[n++] = '\n';
	(void)util_write_all(STDERR_FILENO, buf, (size_t)n);
}
