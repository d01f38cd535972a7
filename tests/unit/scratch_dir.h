/* scratch_dir: a temporary directory for unit tests that work on real files
 * (test_block, test_blkfile, test_blkuring, test_dcore): made from a prefix
 * with mkdtemp, removed with everything in it. Failures fail the test. */
#ifndef VMKIT_TEST_SCRATCH_DIR_H
#define VMKIT_TEST_SCRATCH_DIR_H

#include <stddef.h>

/* dir (size bytes) becomes "PREFIX" + a unique suffix, created 0700. */
void scratch_dir_make(char *dir, size_t size, const char *prefix);
/* rm -rf dir. */
void scratch_dir_remove(const char *dir);

#endif
