/* symbols: a System.map loaded for diagnostics, so a fatal exit can name the
 * guest function at RIP. */
#ifndef VMKIT_SYMBOLS_H
#define VMKIT_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

struct symbols;

/* Parse "ADDR TYPE NAME" lines; malformed lines are skipped. 0 or -errno. */
int symbols_load(const char *path, struct symbols **out);
int symbols_parse(const char *text, size_t len, struct symbols **out);
void symbols_free(struct symbols *s);
/* Name of the symbol containing addr (greatest address <= addr), offset in
 * *off; NULL when none. */
const char *symbols_lookup(const struct symbols *s, uint64_t addr, uint64_t *off);

#endif
