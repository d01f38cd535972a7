/* scratch_dir: temporary directories for unit tests (scratch_dir.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "scratch_dir.h"

void scratch_dir_make(char *dir, size_t size, const char *prefix)
{
	int n = snprintf(dir, size, "%sXXXXXX", prefix);

	assert_true(n > 0 && (size_t)n < size);
	assert_non_null(mkdtemp(dir));
}

void scratch_dir_remove(const char *dir)
{
	char cmd[4200];
	int n = snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);

	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}
