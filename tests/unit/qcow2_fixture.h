/* qcow2_fixture: what the qcow2 unit tests share (test_qcow2.c,
 * test_qcow2_images.c): a seeded random source, images on the in-memory
 * backend, reopen helpers, read/consistency expectations, a scratch
 * directory for files, and shell access to QEMU's tools. */
#ifndef VMKIT_QCOW2_FIXTURE_H
#define VMKIT_QCOW2_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "block/block.h"

#define MiB_ (1024u * 1024u)

extern uint64_t rng_state;   /* QCOW2_TEST_SEED=N sets it (setup_tmpdir) */
extern char tmpdir[64];      /* the group's scratch directory */

uint64_t rnd(void);
void fill_pattern(uint8_t *p, size_t n, uint64_t seed);
struct blk *mem_create(const struct blk_create_opts *co);
uint8_t *mem_bytes(struct blk *b, size_t *len);
int mem_open(const uint8_t *bytes, size_t len, bool ro, struct blk **b);
struct blk *mem_reopen(struct blk *b, bool ro);
struct blk *file_reopen(struct blk *b, const char *path, bool ro);
void expect_clean(struct blk *b);
void expect_read(struct blk *b, uint64_t off, const uint8_t *want, size_t n);

bool have_qemu(void);
int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int setup_tmpdir(void **state);
int teardown_tmpdir(void **state);
uint8_t *read_file(const char *path, size_t *len);
void write_file(const char *path, const uint8_t *d, size_t n);
/* Our reading of path (with its backing chain) must equal qemu-img's. */
void expect_same_as_qemu(const char *path, const char *opts);

#endif
