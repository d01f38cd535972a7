/* loader: the kernel loader's front door. Reads the kernel and initrd files,
 * recognises the kernel format and hands over to bzimage.c or elfload.c; also
 * owns the pieces both share: command line, initrd placement and the common
 * boot_params fields. */
#include "loader.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "gmem.h"
#include "loader_priv.h"

#define LOADER_PROBE_BZ_MIN   0x206u  /* through the "HdrS" magic */

enum kernel_format loader_probe(const uint8_t *buf, size_t len)
{
	static const uint8_t elf_magic[4] = { 0x7F, 'E', 'L', 'F' };
	static const uint8_t hdrs[4] = { 'H', 'd', 'r', 'S' };

	if (!buf)
		return KERNEL_FMT_UNKNOWN;
	if (len >= LOADER_PROBE_BZ_MIN && buf[0x1FE] == 0x55 && buf[0x1FF] == 0xAA &&
	    memcmp(buf + 0x202, hdrs, sizeof(hdrs)) == 0)
		return KERNEL_FMT_BZIMAGE;
	if (len >= sizeof(elf_magic) && memcmp(buf, elf_magic, sizeof(elf_magic)) == 0)
		return KERNEL_FMT_ELF;
	return KERNEL_FMT_UNKNOWN;
}

const char *loader_kernel_name(const struct loader_args *args)
{
	return args->kernel_path ? args->kernel_path : "(kernel)";
}

const char *loader_initrd_name(const struct loader_args *args)
{
	return args->initrd_path ? args->initrd_path : "(initrd)";
}

int loader_args_check(const struct loader_args *args)
{
	if (!args->e820 || args->ne820 == 0 || args->ne820 > BOOT_E820_MAX) {
		log_error("kernel %s: e820 map has %u entries, need 1..%u",
			  loader_kernel_name(args), args->e820 ? args->ne820 : 0, BOOT_E820_MAX);
		return -EINVAL;
	}
	return 0;
}

int loader_cmdline_check(const struct loader_args *args, uint32_t max, size_t *len)
{
	size_t n = args->cmdline ? strlen(args->cmdline) : 0;

	if (n > max || n >= X86_CMDLINE_MAX) {
		log_error("kernel %s: command line is %zu bytes, the kernel accepts at most %u",
			  loader_kernel_name(args), n,
			  (unsigned)MIN((uint64_t)max, X86_CMDLINE_MAX - 1));
		return -E2BIG;
	}
	*len = n;
	return 0;
}

int loader_cmdline_write(struct gmem *gm, const struct loader_args *args)
{
	const char *s = args->cmdline ? args->cmdline : "";
	size_t n = strlen(s) + 1;

	if (n > X86_CMDLINE_MAX || gmem_write(gm, X86_CMDLINE_GPA, s, n) < 0) {
		log_error("kernel %s: no guest RAM for the command line at 0x%llx",
			  loader_kernel_name(args), (unsigned long long)X86_CMDLINE_GPA);
		return -EFAULT;
	}
	return 0;
}

/* Highest page-aligned start for len bytes inside [lo, hi), or 0 if none. */
static uint64_t loader_fit_top(uint64_t lo, uint64_t hi, uint64_t len)
{
	uint64_t start;

	if (hi <= lo || hi - lo < len)
		return 0;
	start = ALIGN_DOWN(hi - len, LOADER_PAGE_SIZE);
	return start >= lo ? start : 0;
}

int loader_initrd_place(const struct gmem *gm, const struct loader_args *args,
			size_t ilen, uint64_t floor, uint64_t limit, uint64_t *gpa)
{
	uint64_t best = 0;

	floor = ALIGN_UP(floor, LOADER_PAGE_SIZE);
	for (unsigned i = 0; i < args->ne820 && ilen > 0; i++) {
		const struct e820_entry *e = &args->e820[i];
		uint64_t end = e->addr + e->size, start;

		if (e->type != E820_RAM || end < e->addr)
			continue;
		start = loader_fit_top(MAX(e->addr, floor), MIN(end, limit), ilen);
		if (start > best && gmem_ptr(gm, start, ilen))
			best = start;
	}
	if (best == 0) {
		log_error("initrd %s: %zu bytes do not fit in guest RAM between 0x%llx and 0x%llx",
			  loader_initrd_name(args), ilen, (unsigned long long)floor,
			  (unsigned long long)limit);
		return -E2BIG;
	}
	*gpa = best;
	return 0;
}

void loader_bp_fill(struct boot_params *bp, const struct loader_args *args,
		    uint64_t initrd_gpa, size_t ilen)
{
	for (unsigned i = 0; i < args->ne820 && i < BOOT_E820_MAX; i++) {
		bp->e820_table[i].addr = args->e820[i].addr;
		bp->e820_table[i].size = args->e820[i].size;
		bp->e820_table[i].type = args->e820[i].type;
	}
	bp->e820_entries = (uint8_t)MIN(args->ne820, BOOT_E820_MAX);
	bp->acpi_rsdp_addr = args->rsdp_gpa;
	bp->hdr.type_of_loader = BOOT_LOADER_UNDEFINED;
	bp->hdr.cmd_line_ptr = (uint32_t)X86_CMDLINE_GPA;
	bp->hdr.ramdisk_image = ilen ? (uint32_t)initrd_gpa : 0;
	bp->hdr.ramdisk_size = (uint32_t)ilen;
}

/* Read a whole file; empty_err is returned (and logged) for an empty one. */
static int loader_read(const char *what, const char *path, size_t max,
		       int empty_err, uint8_t **buf, size_t *len)
{
	int ret = util_read_file(path, max, buf, len);

	if (ret == -ENOENT)
		log_error("%s %s: no such file", what, path);
	else if (ret == -EFBIG)
		log_error("%s %s: larger than %zu MiB", what, path, max >> 20);
	else if (ret < 0)
		log_error("%s %s: cannot read: %s", what, path, strerror(-ret));
	if (ret < 0)
		return ret;
	if (*len == 0) {
		log_error("%s %s: file is empty", what, path);
		free(*buf);
		*buf = NULL;
		return empty_err;
	}
	return 0;
}

static int loader_dispatch(struct gmem *gm, const struct loader_args *args,
			   const uint8_t *k, size_t klen, const uint8_t *initrd,
			   size_t ilen, struct boot_entry *out)
{
	enum kernel_format fmt = loader_probe(k, klen);

	switch (fmt) {
	case KERNEL_FMT_BZIMAGE:
		return bzimage_load(gm, k, klen, args, initrd, ilen, out);
	case KERNEL_FMT_ELF:
		return elfload_load(gm, k, klen, args, initrd, ilen, out);
	case KERNEL_FMT_UNKNOWN:
		break;
	}
	log_error("kernel %s: neither a bzImage nor an ELF file", loader_kernel_name(args));
	return -ENOEXEC;
}

int loader_load(struct gmem *gm, const struct loader_args *args, struct boot_entry *out)
{
	uint8_t *kernel = NULL, *initrd = NULL;
	size_t klen = 0, ilen = 0;
	int ret;

	if (!gm || !args || !out || !args->kernel_path) {
		log_error("loader: no kernel given");
		return -EINVAL;
	}
	ret = loader_read("kernel", args->kernel_path, LOADER_KERNEL_MAX, -ENOEXEC,
			  &kernel, &klen);
	if (ret < 0)
		goto out;
	if (args->initrd_path) {
		ret = loader_read("initrd", args->initrd_path, X86_RAM_LOW_MAX, -EINVAL,
				  &initrd, &ilen);
		if (ret < 0)
			goto out;
	}
	ret = loader_dispatch(gm, args, kernel, klen, initrd, ilen, out);
	if (ret == 0)
		log_debug("kernel %s: entry 0x%llx (%s)", args->kernel_path,
			  (unsigned long long)out->rip,
			  out->mode == BOOT_MODE_PVH32 ? "PVH" : "64-bit");
out:
	free(kernel);
	free(initrd);
	return ret;
}
