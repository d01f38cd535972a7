/* loader: puts a kernel (bzImage via the 64-bit boot protocol, or ELF: PVH
 * entry when the Xen PHYS32_ENTRY note is present, else the 64-bit ELF entry)
 * and its initrd and command line into guest memory, and says how to enter it.
 * Everything read from the kernel file is untrusted and bounds-checked. */
#ifndef VMKIT_LOADER_H
#define VMKIT_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "memmap.h"

struct gmem;

enum boot_mode {
	BOOT_MODE_LONG64, /* 64-bit long mode, paging on (identity map), RSI = boot_params */
	BOOT_MODE_PVH32,  /* 32-bit flat protected mode, paging off, EBX = hvm_start_info */
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rsi; /* LONG64: boot_params gpa */
	uint64_t rbx; /* PVH32: hvm_start_info gpa */
};

struct loader_args {
	const char *kernel_path;
	const char *initrd_path;   /* NULL: none */
	const char *cmdline;       /* NULL: empty */
	const struct e820_entry *e820;
	unsigned ne820;
	uint64_t rsdp_gpa;         /* 0: none */
	uint64_t initrd_max;       /* highest end address an initrd may use (e.g. RAM below the hole) */
};

enum kernel_format { KERNEL_FMT_UNKNOWN, KERNEL_FMT_BZIMAGE, KERNEL_FMT_ELF };

/* Which format is this file? buf holds its start (at least 0x300 bytes, or the
 * whole file if shorter). */
enum kernel_format loader_probe(const uint8_t *buf, size_t len);

/* Load everything; on error log one line naming the file and the problem and
 * return -errno (-ENOENT missing, -ENOEXEC not a kernel / truncated / corrupt,
 * -E2BIG cmdline too long or initrd does not fit, -ENOMEM kernel does not fit). */
int loader_load(struct gmem *gm, const struct loader_args *args, struct boot_entry *out);

/* Lower-level pieces (unit-tested on their own). kernel/klen is the whole file. */
int bzimage_load(struct gmem *gm, const uint8_t *kernel, size_t klen,
		 const struct loader_args *args, const uint8_t *initrd, size_t ilen,
		 struct boot_entry *out);
int elfload_load(struct gmem *gm, const uint8_t *kernel, size_t klen,
		 const struct loader_args *args, const uint8_t *initrd, size_t ilen,
		 struct boot_entry *out);

#endif
